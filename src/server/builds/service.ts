// The build lifecycle: create → acquire a builder per platform (pending while busy or
// starting) → heartbeats → finish, plus the sweep that expires silent builds, fails builds
// that waited too long, stops idle builders and replaces crashed ones.
//
// Several replicas (PostgreSQL): only the leader provisions. Any replica serves the API; the
// leader alone holds a Provisioner with claims and builders and calls the provider's launch,
// stop, snapshot and destroy (every such call is counted in hoist_provider_calls_total by role).
// - Demand is durable: a build is a queued row, and each of its platforms a build_builders row
//   that a poll marks waiting (waiting_since). Those rows are the demand, whichever replica wrote them.
// - The leader's demand loop (DEMAND_POLL_MS, after each provisioning pass, and at once on the
//   `demand` signal a follower sends with LISTEN/NOTIFY) reads every active platform row,
//   registers the waiting ones its provisioner does not know, releases claims of builds that
//   ended anywhere, and writes each claim's standing into build_builders.placement (waiting with
//   its reason, assigned to a builder, failed), then signals `placement`.
// - A follower answers polls from the database alone (./placements.ts): an assigned placement whose
//   builder row is running (address, server name and CA written by the leader) gets a client
//   certificate from the provider's key store (no launch) and the same slot checks in one
//   transaction as on the leader; otherwise pending with the leader's reason, after waiting up to
//   FOLLOWER_WAIT_MS for a `placement` signal.
// - The leader answers its own polls from its provisioner, as a single process does. SQLite is one
//   process, always the leader: none of the above runs there.
// - Each election gets a new provisioner, rebuilt from the builder rows, the builds holding them
//   and the provider's list (a running builder is adopted, never launched twice; one of a live
//   replica that this provider cannot see is left to it), then the demand loop adds the waiting
//   platforms. A demoted replica closes its provisioner and keeps an idle one.
import { X509Certificate } from 'node:crypto';
import type { Logger } from 'pino';
import {
  BUILD_ERROR_MAX_BYTES,
  BUILD_OPTIONS_MAX_BYTES,
  type BuildInfo,
  type BuilderAnswer,
  type BuildStatus,
  type CreateBuildRequest,
  type CreateBuildResponse,
  type FinishBuildRequest,
  type HeartbeatResponse,
  type Project,
  type RenewedCert,
} from '../../lib/api-types.js';
import { errorMessage } from '../../lib/errors.js';
import type { CertKeyPem } from '../../lib/pki.js';
import { truncateUtf8 } from '../../lib/text.js';
import { parsePlatform, type ConnectionVerdict, type Provider } from '../../providers/provider.js';
import { serverClock } from '../provisioning/clock.js';
import type { ScalingSettings } from '../provisioning/placement.js';
import type { PoolSpec } from '../provisioning/pool.js';
import {
  Provisioner,
  type AdoptedBuilder,
  type BuilderEvent,
  type ClaimRequest,
  type FleetBuilder,
  type ProvisioningLimits,
} from '../provisioning/provisioner.js';
import type { AuditLog } from '../audit/log.js';
import type { Db } from '../db/index.js';
import { ApiError, badRequest, conflict, notFound, tooLarge, tooMany } from '../http/errors.js';
import type { ProjectStore } from '../projects/store.js';
import { takeSharedToken } from '../http/rate-limit.js';
import { SingleLeader, type Leader } from '../cluster/leader.js';
import type { AuthContext, TokenService } from '../auth/tokens.js';
import { type Clock, iso, newId } from '../util.js';
import type { BuildsConfig } from './config.js';
import type { BuildMetrics } from './metrics.js';
import { ACTIVE_STATUSES, type BuilderRow, type BuildRow, BuildStore, toBuildInfo } from './store.js';
import { createSignals, type Signals, type SignalTopic } from '../cluster/signals.js';
import {
  demandDiff,
  followerView,
  parsePlacement,
  placementOf,
  placementTarget,
  type FollowerView,
} from './placements.js';

const MAX_PLATFORMS = 8;
const HEALTH_INTERVAL_MS = 5000;
/** A builder another replica marked starting this recently may still be about to spawn. */
const STARTING_GRACE_MS = 60_000;
const RECONCILE_INTERVAL_MS = 60_000;
const MAX_LAUNCH_FAILURES = 3;
const POLL_RETRY_MS = 1000;
/** What a project at its active-build cap is told to wait before trying again. */
const CAP_RETRY_AFTER_SEC = 30;
/** Finished builds deleted per transaction by the retention purge. */
const PURGE_BATCH = 500;
/** A certificate past this fraction of its life is renewed by the next heartbeat. */
const RENEW_FRACTION = 0.5;
/** How long the gateway trusts one database answer about a serial. */
const VERDICT_CACHE_MS = 1000;
/** The leader reads the demand at least this often (signals make it sooner). */
const DEMAND_POLL_MS = 1000;
/** A takeover that failed (provider or database unreachable) is tried again after this. */
const TAKEOVER_RETRY_MS = 5000;
/** How long a follower's poll waits for the leader's placement before answering pending. */
const FOLLOWER_WAIT_MS = 2000;
/** A follower re-reads its placement at least this often while it waits (signals may be lost). */
const FOLLOWER_RECHECK_MS = 250;
/** Provider calls that change builders: the leader's alone. */
const MUTATIONS = new Set(['launch', 'launchBatch', 'stop', 'destroy', 'snapshot', 'deleteSnapshot']);

/** A builder a build may be sent to, from the leader's provisioner or from the database. */
type Placed = Omit<Extract<FollowerView, { kind: 'assigned' }>, 'kind'>;

/** Who ended a build, for the audit trail. */
type Actor = { subject: string; token_id: string | null };
const SERVER: Actor = { subject: 'hoist server', token_id: null };

function actorOf(who: AuthContext): Actor {
  return { subject: `${who.kind} token ${who.token_id}`, token_id: who.token_id };
}

/** A chain of promises per key: one acquire at a time per (project, platform). */
class KeyedMutex {
  private readonly tails = new Map<string, Promise<void>>();
  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const next = new Promise<void>((r) => (release = r));
    const tail = prev.then(() => next);
    this.tails.set(key, tail);
    await prev;
    try {
      return await fn();
    } finally {
      release();
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }
}

/** A client certificate being signed, and the end of validity it was asked for. */
interface Issued {
  cert: Promise<CertKeyPem>;
  notAfter: Date;
}

export interface BuildServiceDeps {
  db: Db;
  tokens: TokenService;
  projects: ProjectStore;
  clock: Clock;
  logger: Logger;
  provider: Provider;
  config: BuildsConfig;
  audit: AuditLog;
  metrics?: BuildMetrics;
  /**
   * Provider pools in order of preference; by default one pool named after `provider`. The
   * first pool's provider is `provider` (platforms, the gateway's connections).
   */
  pools?: PoolSpec[];
  /** Who runs the background work; absent = this process alone (always the leader). */
  leader?: Leader;
}

/** A project's autoscaling settings as the provisioning layer reads them. */
export function scalingOf(p: Project): ScalingSettings {
  return {
    autoscaling: p.autoscaling === true,
    buildsPerBuilder: p.max_concurrent_builds,
    maxBuildersPerPlatform: p.autoscaling === true ? (p.max_builders_per_platform ?? 1) : 1,
  };
}

export class BuildService {
  readonly store: BuildStore;
  private prov: Provisioner;
  /** Has `prov` been started (it is replaced, not restarted, at the next election)? */
  private provStarted = false;
  /** True between a completed takeover and the next demotion. */
  private leading = false;
  /** Bumped at each election and demotion: a takeover that was overtaken stops there. */
  private term = 0;
  /** Several replicas share the database (PostgreSQL): placements go through it. */
  private readonly shared: boolean;
  private readonly signals: Signals;
  private demandTimer: NodeJS.Timeout | null = null;
  private syncing: Promise<void> | null = null;
  private syncAgain = false;
  private syncSoon: NodeJS.Timeout | null = null;
  private readonly pools: PoolSpec[];
  /** Database writes about one builder, in the order the provisioner made them. */
  private readonly rowWrites = new Map<string, Promise<void>>();
  private readonly mutex = new KeyedMutex();
  private timer: NodeJS.Timeout | null = null;
  private sweeping: Promise<void> | null = null;
  private lastReconcile = 0;
  private lastPurge = 0;
  private closed = false;
  /** Runs the sweep's build work and reconciliation; every replica serves the API. */
  readonly leader: Leader;
  private readonly verdicts = new Map<string, { verdict: ConnectionVerdict; until: number }>();
  metrics?: BuildMetrics;
  /** Told of each build that ends, whoever ended it (the dashboard's live updates). */
  onEnded?: (buildId: string) => void;

  constructor(private readonly deps: BuildServiceDeps) {
    this.store = new BuildStore(deps.db);
    this.metrics = deps.metrics;
    this.leader = deps.leader ?? new SingleLeader('local', deps.clock, deps.logger);
    this.shared = deps.db.dialect === 'postgres';
    this.signals = createSignals(deps.db, deps.logger);
    const guardedOf = new Map<Provider, Provider>();
    this.pools = (deps.pools ?? [{ name: deps.provider.name, provider: deps.provider }]).map((p) => {
      if (!guardedOf.has(p.provider)) {
        guardedOf.set(
          p.provider,
          guardProvider(p.provider, (op) => this.providerCalled(op)),
        );
      }
      return { ...p, provider: guardedOf.get(p.provider)! };
    });
    this.prov = this.newProvisioner();
  }

  /** Where builders come from: demand, placement, launches, snapshots, idle stops (the leader's). */
  get provisioner(): Provisioner {
    return this.prov;
  }

  private providerCalled(op: string): void {
    const leader = this.leader.isLeader();
    this.metrics?.providerCalls?.inc({ op, role: leader ? 'leader' : 'follower' });
    if (!leader) {
      this.log.warn(
        { op, replica_id: this.leader.replicaId },
        'provider call on a replica that is not the leader (a launch or stop begun before losing the lease)',
      );
    }
  }

  private newProvisioner(): Provisioner {
    const deps = this.deps;
    const cfg = deps.config;
    const limits: Partial<ProvisioningLimits> = {
      ...cfg.provisioning,
      buildWaitMs: cfg.builderWaitMs,
      primaryIdleMs: cfg.idleTimeoutMs,
      healthIntervalMs: HEALTH_INTERVAL_MS,
      maxLaunchTries: MAX_LAUNCH_FAILURES,
      maxUsedSpaceBytes: cfg.maxUsedSpaceBytes,
      tickMs: cfg.sweepIntervalMs,
    };
    return new Provisioner({
      pools: this.pools,
      clock: serverClock(deps.clock),
      limits,
      log: deps.logger,
      hooks: {
        primaryId: (projectId, platform, pool) => this.primaryId(projectId, platform, pool),
        newBuilderId: () => newId('bkr'),
        newSnapshotId: () => newId('snap'),
        builderChanged: (b, event) => this.persistBuilder(b, event),
        claimFailed: async (buildId, _platform, reason) => {
          await this.finishInternal(buildId, 'failed', reason);
        },
        waitAlert: () => this.metrics?.waitAlerts?.inc(),
        // Another replica's provisioner may have placed a build here; the database has every build.
        retireVeto: async (builderId) => {
          const n = await this.store.activeOnBuilder(builderId);
          return n > 0 ? `${n} active build(s) on it, placed by this or another replica` : null;
        },
        reconciled: () => this.syncLater(),
      },
    });
  }

  /** Every provider of every pool (the first is deps.provider). */
  private get providers(): Provider[] {
    return [...new Set(this.pools.map((p) => p.provider))];
  }

  private providerOfPool(pool: string): Provider {
    return (this.pools.find((p) => p.name === pool) ?? this.pools[0]!).provider;
  }

  private now(): Date {
    return this.deps.clock.now();
  }

  private get log(): Logger {
    return this.deps.logger;
  }

  // ---- API operations ----

  async create(
    who: AuthContext,
    req: CreateBuildRequest,
    buildUrl: (id: string) => string,
  ): Promise<CreateBuildResponse> {
    if (who.kind === 'build') {
      throw new ApiError(
        403,
        'wrong_token_kind',
        'a build token cannot create builds; use a project, OIDC or admin token',
      );
    }
    const project = await this.resolveProject(who, req.project);
    const platforms = this.validatePlatforms(req.platforms);
    const options = JSON.stringify(req.options ?? {});
    const optionsBytes = Buffer.byteLength(options);
    if (optionsBytes > BUILD_OPTIONS_MAX_BYTES) {
      throw tooLarge(
        'options_too_large',
        `body.options is ${optionsBytes} bytes as JSON; at most ${BUILD_OPTIONS_MAX_BYTES} are accepted. Options describe a build for the record (tags, target, platforms): leave large data such as build args or files out of them`,
      );
    }
    const cap = this.deps.config.maxActiveBuildsPerProject;
    const now = this.now();
    // A build lives no longer than the token that created it: a short OIDC token gives a short build.
    const parent = await this.deps.tokens.get(who.token_id);
    let expiresAt = new Date(now.getTime() + this.deps.config.maxBuildDurationMs);
    const cappedByToken = parent?.expires_at != null && Date.parse(parent.expires_at) < expiresAt.getTime();
    if (cappedByToken) expiresAt = new Date(parent.expires_at!);
    const id = newId('bld');
    const row: BuildRow = {
      id,
      project_id: project.id,
      status: 'queued',
      platforms: JSON.stringify(platforms),
      options,
      created_by_token: who.token_id,
      queued_at: iso(now),
      acquired_at: null,
      finished_at: null,
      last_heartbeat_at: iso(now),
      expires_at: iso(expiresAt),
      cancel_requested: 0,
      error: null,
    };
    const token = await this.deps.db.transaction(async (tx) => {
      // Creations of one project queue on its row, so the count below cannot be raced past the
      // cap (SQLite transactions are serial already).
      if (tx.dialect === 'postgres') {
        await tx.get('SELECT id FROM projects WHERE id = ? FOR UPDATE', [project.id]);
      }
      await this.takeCreateToken(project, tx);
      const active = await this.store.countActive(project.id, tx);
      if (active >= cap) {
        throw tooMany(
          'too_many_active_builds',
          `project ${project.name} has ${active} queued or running builds, the most this server allows per project; retry after ${CAP_RETRY_AFTER_SEC} s, once some have finished. Stale ones can be canceled (list them with: hoist builds list --project ${project.name}; POST /v1/builds/ID/cancel), or the operator can raise --project-max-active-builds (HOIST_PROJECT_MAX_ACTIVE_BUILDS, now ${cap}).`,
          CAP_RETRY_AFTER_SEC,
        );
      }
      await this.store.insertBuild(row, platforms, tx);
      await this.deps.audit.record(
        {
          action: 'build.create',
          outcome: 'ok',
          project_id: project.id,
          subject: actorOf(who).subject,
          reason: `build ${id} created for ${platforms.join(', ')}${cappedByToken ? `; it ends when the token that created it expires (${iso(expiresAt)})` : ''}`,
          details: { build_id: id, platforms, created_by_token: who.token_id, expires_at: iso(expiresAt) },
        },
        tx,
      );
      return this.deps.tokens.mintBuildToken(
        { project_id: project.id, build_id: id, expires_at: expiresAt },
        tx,
      );
    });
    this.log.info({ build_id: id, project_id: project.id, platforms }, 'build created');
    return { build_id: id, build_token: token.token, build_url: buildUrl(id), platforms };
  }

  /**
   * One token of the project's creation bucket, or a 429 that says when to retry. The bucket is a
   * database row, so the limit holds however many replicas serve the project's requests.
   */
  private async takeCreateToken(project: Project, tx: Db): Promise<void> {
    const cfg = this.deps.config;
    if (cfg.createRatePerMin <= 0) return;
    const d = await takeSharedToken(
      tx,
      `build-create:${project.id}`,
      this.now().getTime(),
      cfg.createRatePerMin / 60,
      cfg.createBurst,
    );
    if (d.ok) return;
    throw tooMany(
      'build_rate_limited',
      `project ${project.name} is creating builds faster than this server allows: ${cfg.createRatePerMin} a minute per project (bursts of ${cfg.createBurst}); retry after ${d.retryAfterSec} s. The operator can raise the limit with --build-create-rate and --build-create-burst (HOIST_BUILD_CREATE_RATE, HOIST_BUILD_CREATE_BURST).`,
      d.retryAfterSec,
    );
  }

  private async resolveProject(who: AuthContext, requested: string | undefined): Promise<Project> {
    if (requested === undefined || requested === '') {
      if (!who.project_id) {
        throw badRequest(
          'project_required',
          'body.project is required with an admin token: name the project id or name',
        );
      }
      return this.deps.projects.require(who.project_id);
    }
    const project = await this.deps.projects.find(requested);
    if (!project || (who.kind !== 'admin' && project.id !== who.project_id)) {
      throw notFound(
        'project_not_found',
        `no project "${requested}" is visible to this token${who.kind === 'admin' ? '' : '; a token can only create builds in its own project'}`,
      );
    }
    return project;
  }

  private validatePlatforms(raw: unknown): string[] {
    const supported = this.deps.provider.platforms();
    if (raw === undefined || raw === null) return [supported[0]!];
    if (!Array.isArray(raw))
      throw badRequest('invalid_platforms', `body.platforms must be an array such as ["${supported[0]}"]`);
    if (raw.length === 0) return [supported[0]!];
    if (raw.length > MAX_PLATFORMS) {
      throw badRequest(
        'invalid_platforms',
        `body.platforms has ${raw.length} entries; at most ${MAX_PLATFORMS} are accepted`,
      );
    }
    const out: string[] = [];
    raw.forEach((p: unknown, i: number) => {
      const r = parsePlatform(p, supported);
      if (!r.ok) throw badRequest('invalid_platform', `body.platforms[${i}]: ${r.message}`);
      if (!out.includes(r.platform)) out.push(r.platform);
    });
    return out;
  }

  /** The build, if this token may see it; 404 otherwise (nothing learned about other projects). */
  async visibleBuild(who: AuthContext, id: string): Promise<BuildRow> {
    const build = await this.store.getBuild(id);
    if (
      !build ||
      (who.kind !== 'admin' && build.project_id !== who.project_id) ||
      (who.kind === 'build' && who.build_id !== build.id)
    ) {
      throw notFound('build_not_found', `no build ${id} is visible to this token`);
    }
    return build;
  }

  private finishedError(b: BuildRow, what: string): ApiError {
    return conflict(
      'build_finished',
      `build ${b.id} already finished with status ${b.status} at ${b.finished_at}${b.error ? ` (${b.error})` : ''}; ${what}`,
    );
  }

  async acquire(who: AuthContext, buildId: string, rawPlatform: string): Promise<BuilderAnswer> {
    const build = await this.visibleBuild(who, buildId);
    if (!ACTIVE_STATUSES.includes(build.status)) {
      throw this.finishedError(build, 'start a new build to get a builder');
    }
    const platforms = JSON.parse(build.platforms) as string[];
    const parsed = parsePlatform(rawPlatform, this.deps.provider.platforms());
    if (!parsed.ok) throw badRequest('invalid_platform', parsed.message);
    if (!platforms.includes(parsed.platform)) {
      throw badRequest(
        'platform_not_in_build',
        `platform ${parsed.platform} is not part of build ${build.id}; it was created for ${platforms.join(', ')}`,
      );
    }
    if (build.cancel_requested)
      throw conflict('build_canceled', `build ${build.id} was canceled; finish it with status canceled`);
    const project = await this.deps.projects.require(build.project_id);
    return this.place(build, project, parsed.platform);
  }

  /**
   * The builders of a build just created, answered in the creation's own response when they are
   * ready at once (POST /v1/builds?acquire=true): one round trip less per build. Never waits for a
   * launch: a platform whose builder is not ready, or whose answer is an error, is `pending` here,
   * and the client's poll (GET .../builders/PLATFORM) waits for it or reports the error.
   */
  async acquireAtCreate(buildId: string): Promise<BuilderAnswer[]> {
    const build = await this.store.getBuild(buildId);
    if (!build) return [];
    const project = await this.deps.projects.require(build.project_id);
    const platforms = JSON.parse(build.platforms) as string[];
    return Promise.all(
      platforms.map((platform) =>
        this.place(build, project, platform, 0).catch((err: unknown): BuilderAnswer => {
          // the client's poll meets the same answer again, and reports it; an unexpected one is logged here
          if (!(err instanceof ApiError)) {
            this.log.error(
              { build_id: buildId, platform, err: errorMessage(err) },
              'acquire at create failed',
            );
          }
          return {
            status: 'pending',
            retry_after_ms: 0,
            reason: err instanceof ApiError ? err.message : 'ask again',
          };
        }),
      ),
    );
  }

  /** One platform's builder for a build already checked: from the provisioner, or on a follower from the database. */
  private place(
    build: BuildRow,
    project: Project,
    platform: string,
    waitMs?: number,
  ): Promise<BuilderAnswer> {
    if (!this.answersFromProvisioner()) return this.acquireFromDb(build, project, platform, waitMs);
    return this.mutex.run(`${project.id}|${platform}`, () =>
      this.acquireLocked(build, project, platform, waitMs),
    );
  }

  /** The leader (and a single process) place builds in memory; other replicas read the database. */
  private answersFromProvisioner(): boolean {
    return !this.shared || (this.leading && this.leader.isLeader());
  }

  /**
   * A replica that is not the leader: the leader's placement, read from the database (waiting up
   * to FOLLOWER_WAIT_MS for it), then the same certificate and slot checks as on the leader.
   */
  private async acquireFromDb(
    build: BuildRow,
    project: Project,
    platform: string,
    maxWaitMs?: number,
  ): Promise<BuilderAnswer> {
    const t0 = Date.now();
    const waitMs = Math.min(
      maxWaitMs ?? FOLLOWER_WAIT_MS,
      FOLLOWER_WAIT_MS,
      this.deps.config.acquireWaitMs,
      Math.floor(this.deps.config.heartbeatGraceMs / 2),
    );
    let asked = false;
    // The poll is the demand (and counts as a heartbeat), recorded before the leader is asked.
    const first = await this.store.getBuildBuilder(build.id, platform);
    if (!first?.builder_id) await this.store.markWaiting(build.id, platform, iso(this.now()));
    for (;;) {
      const bb = await this.store.getBuildBuilder(build.id, platform);
      const fresh = await this.store.getBuild(build.id);
      if (!fresh || !ACTIVE_STATUSES.includes(fresh.status)) {
        // The leader failed it (no builder in time, launches failing) or it ended meanwhile.
        throw new ApiError(
          503,
          'builder_unavailable',
          `${fresh?.error ?? 'the build is no longer waiting for a builder'}; build ${build.id} was marked ${fresh?.status ?? 'gone'}. Check the server log${this.deps.provider.name === 'local' ? ' and the buildkitd log in the data directory' : ''}.`,
        );
      }
      const placement = parsePlacement(bb?.placement);
      const target = placementTarget(placement, bb?.builder_id ?? null);
      const row = target ? await this.store.getBuilder(target) : undefined;
      let view = followerView(placement, bb?.builder_id ?? null, row, this.leader.status().leader_id);
      if (view.kind === 'assigned') {
        // A builder that died since the leader's last check is not handed out; the leader replaces it.
        // its certificate is signed while its health is checked (dropped unused if it failed)
        const issued = this.issueFor(build, project, view.pool, view.builderId);
        issued.cert.catch(() => undefined);
        const h = await this.providerOfPool(view.pool).health(view.builderId);
        // Through this replica's own gateway (it routes any builder): the one that launched it may be gone.
        const endpoint = this.providerOfPool(view.pool).gatewayEndpoint ?? view.endpoint;
        if (h.healthy) return this.grant(build, project, platform, { ...view, endpoint }, issued);
        view = {
          kind: 'waiting',
          reason: `builder ${view.builderId} is not healthy (${h.reason}); the leader replaces it`,
        };
      }
      if (view.kind === 'failed') {
        if (view.code === 'queue_full') {
          throw tooMany(
            'build_queue_full',
            `${view.reason}; retry after ${CAP_RETRY_AFTER_SEC} s`,
            CAP_RETRY_AFTER_SEC,
          );
        }
        await this.finishInternal(build.id, 'failed', view.reason);
        throw new ApiError(
          503,
          'builder_unavailable',
          `${view.reason}; build ${build.id} was marked failed.`,
        );
      }
      if (!asked && placement === null) {
        asked = true;
        await this.signals.notify('demand');
      }
      const left = waitMs - (Date.now() - t0);
      if (left <= 0) {
        await this.store.markWaiting(build.id, platform, iso(this.now()));
        return { status: 'pending', retry_after_ms: POLL_RETRY_MS, reason: view.reason };
      }
      await this.nextSignal('placement', Math.min(left, FOLLOWER_RECHECK_MS));
    }
  }

  /** Resolves at the next signal of `topic`, or after `ms`. */
  private nextSignal(topic: SignalTopic, ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        off();
        resolve();
      };
      const timer = setTimeout(done, ms);
      const off = this.signals.on(topic, done);
    });
  }

  private async acquireLocked(
    build: BuildRow,
    project: Project,
    platform: string,
    maxWaitMs?: number,
  ): Promise<BuilderAnswer> {
    const now = iso(this.now());
    const req: ClaimRequest = {
      buildId: build.id,
      projectId: project.id,
      platform,
      scaling: scalingOf(project),
      projectName: project.name,
      queuedAtMs: Date.parse(build.queued_at),
    };
    // A waiting build's polls count as heartbeats, also while this request waits for a launch.
    const bb = await this.store.getBuildBuilder(build.id, platform);
    if (!bb?.builder_id) await this.store.markWaiting(build.id, platform, now);
    // One request never waits so long that its own build would expire for silence meanwhile.
    const waitMs = Math.min(
      maxWaitMs ?? Infinity,
      this.deps.config.acquireWaitMs,
      Math.floor(this.deps.config.heartbeatGraceMs / 2),
    );
    let st = await this.provisioner.acquire(req, waitMs);
    // A builder that died since its last check is replaced before anyone is sent to it. Its
    // client certificate is signed meanwhile, and dropped unused if the check fails.
    let issued: Issued | undefined;
    if (st.state === 'assigned') {
      const first = st;
      issued = this.issueFor(build, project, first.pool, first.builder.id);
      issued.cert.catch(() => undefined); // reported by grant(), or dropped with the builder
      const h = await this.providerOfPool(first.pool).health(first.builder.id);
      if (!h.healthy) {
        issued = undefined;
        this.metrics?.builderCrashes.inc();
        this.provisioner.builderLost(first.builder.id, h.reason);
        st = await this.provisioner.acquire(req, waitMs);
      }
    }
    if (st.state === 'failed' && st.code === 'queue_full') {
      // The bounded queue is full: this build is not failed, it is told to come back.
      throw tooMany(
        'build_queue_full',
        `${st.reason}; retry after ${CAP_RETRY_AFTER_SEC} s`,
        CAP_RETRY_AFTER_SEC,
      );
    }
    if (st.state === 'failed' || st.state === 'unknown') {
      const reason = st.state === 'failed' ? st.reason : 'the build is no longer waiting for a builder';
      await this.finishInternal(build.id, 'failed', reason);
      throw new ApiError(
        503,
        'builder_unavailable',
        `${reason}; build ${build.id} was marked failed. Check the server log${this.deps.provider.name === 'local' ? ' and the buildkitd log in the data directory' : ''}.`,
      );
    }
    if (st.state === 'waiting') {
      await this.store.markWaiting(build.id, platform, iso(this.now()));
      return { status: 'pending', retry_after_ms: POLL_RETRY_MS, reason: st.reason };
    }
    return this.grant(
      build,
      project,
      platform,
      {
        builderId: st.builder.id,
        role: st.builder.role,
        pool: st.pool,
        shared: st.shared,
        coldCache: st.coldCache,
        endpoint: st.running.endpoint,
        serverName: st.running.serverName,
        caPem: st.running.caPem,
      },
      issued,
    );
  }

  /** The client certificate of a build on a builder: its builder's CA, the build's lifetime. */
  private issueFor(build: BuildRow, project: Project, pool: string, builderId: string): Issued {
    const notAfter = this.certNotAfter(build);
    const cert = this.providerOfPool(pool).issueClientCert(builderId, {
      commonName: `build ${build.id}`,
      organization: project.id,
      notAfter,
    });
    return { cert, notAfter };
  }

  /** A client certificate for the placed builder, and the slot taken in one transaction. */
  private async grant(
    build: BuildRow,
    project: Project,
    platform: string,
    st: Placed,
    /** Its certificate, if already being signed for this very builder (see acquireLocked). */
    issued?: Issued,
  ): Promise<BuilderAnswer> {
    const builder = { id: st.builderId, role: st.role };
    const { cert: signing, notAfter } = issued ?? this.issueFor(build, project, st.pool, builder.id);
    const cert = await signing;
    const serial = serialOf(cert.certPem);
    const after = iso(this.now());
    const limit = project.max_concurrent_builds;
    const held = (await this.store.getBuildBuilder(build.id, platform))?.builder_id === builder.id;
    const ok = await this.deps.db.transaction(async (tx) => {
      // Another replica may have given this builder's last slot away meanwhile: count again,
      // queued on a per-builder lock, before taking it.
      if (limit !== null && !held) {
        if (tx.dialect === 'postgres') {
          await tx.get('SELECT pg_advisory_xact_lock(7153, hashtext(?)) AS l', [builder.id]);
        }
        if ((await this.store.activeOnBuilder(builder.id, tx)) >= limit) return 'busy' as const;
      }
      const acquired = await this.store.recordAcquired(
        {
          buildId: build.id,
          platform,
          builderId: builder.id,
          now: after,
          certSerial: serial,
          certExpiresAt: iso(notAfter),
        },
        tx,
      );
      if (!acquired) return null;
      // One current key per (build, platform): an acquire again (a retry) retires the earlier one.
      const retired = await this.store.revokeCerts(
        build.id,
        'replaced by a new acquire',
        after,
        platform,
        tx,
      );
      await this.store.insertCert(
        {
          serial,
          build_id: build.id,
          platform,
          builder_id: builder.id,
          cert_pem: cert.certPem,
          issued_at: after,
          not_after: iso(notAfter),
        },
        tx,
      );
      await this.auditCert(build, platform, builder.id, serial, notAfter, 'acquire', tx);
      return retired;
    });
    if (ok === 'busy') {
      await this.store.markWaiting(build.id, platform, iso(this.now()));
      return {
        status: 'pending',
        retry_after_ms: POLL_RETRY_MS,
        reason: `builder ${platform} of project ${project.name} is busy: ${limit} of ${limit} concurrent builds running`,
      };
    }
    if (!ok) {
      const b = (await this.store.getBuild(build.id))!;
      throw this.finishedError(b, 'start a new build to get a builder');
    }
    if (ok.length) {
      this.verdicts.clear();
      for (const p of this.providers) p.closeSerials(ok);
    }
    if (!build.acquired_at) {
      this.metrics?.acquireSeconds.observe(
        { platform },
        (Date.parse(after) - Date.parse(build.queued_at)) / 1000,
      );
    }
    this.log.info(
      {
        build_id: build.id,
        builder_id: builder.id,
        platform,
        cert_serial: serial,
        pool: st.pool,
        role: builder.role,
        cold_cache: st.coldCache,
        shared: st.shared,
      },
      'builder acquired',
    );
    return {
      status: 'active',
      builder_id: builder.id,
      platform,
      pool: st.pool,
      role: builder.role,
      cold_cache: st.coldCache,
      shared: st.shared,
      endpoint: st.endpoint,
      server_name: st.serverName,
      ca_pem: st.caPem,
      cert_pem: cert.certPem,
      key_pem: cert.keyPem,
      expires_at: iso(notAfter),
      build_expires_at: build.expires_at,
      heartbeat_ms: this.heartbeatMs(),
    };
  }

  /** A new certificate ends after one lifetime, or with its build when that comes first. */
  private certNotAfter(build: BuildRow): Date {
    const byLife = this.now().getTime() + this.deps.config.certLifetimeMs;
    return new Date(Math.min(byLife, Date.parse(build.expires_at)));
  }

  /** Often enough that a renewal at half life arrives with time to spare. */
  private heartbeatMs(): number {
    return Math.max(250, Math.min(5000, Math.floor(this.deps.config.certLifetimeMs / 4)));
  }

  private async auditCert(
    build: BuildRow,
    platform: string,
    builderId: string,
    serial: string,
    notAfter: Date,
    kind: 'acquire' | 'renewal',
    db?: Db,
  ): Promise<void> {
    await this.deps.audit.record(
      {
        action: 'build.cert_issue',
        outcome: 'ok',
        project_id: build.project_id,
        subject: `build ${build.id}`,
        reason: `client certificate ${serial} for builder ${builderId} (${platform}) issued on ${kind}, valid until ${iso(notAfter)}`,
        details: {
          build_id: build.id,
          platform,
          builder_id: builderId,
          serial,
          not_after: iso(notAfter),
          kind,
        },
      },
      db,
    );
  }

  /** Renews the certificates past RENEW_FRACTION of their life, for the same keys. */
  private renewCerts(build: BuildRow): Promise<RenewedCert[]> {
    return this.mutex.run(`renew|${build.id}`, async () => {
      const out: RenewedCert[] = [];
      const nowMs = this.now().getTime();
      for (const c of await this.store.currentCerts(build.id)) {
        const issued = Date.parse(c.issued_at);
        const end = Date.parse(c.not_after);
        if (nowMs < issued + (end - issued) * RENEW_FRACTION) continue;
        if (end >= Date.parse(build.expires_at)) continue; // it already lasts as long as the build
        const notAfter = this.certNotAfter(build);
        const pool = (await this.store.getBuilder(c.builder_id))?.pool ?? this.pools[0]!.name;
        const certPem = await this.providerOfPool(pool).renewClientCert(c.builder_id, {
          certPem: c.cert_pem,
          notAfter,
        });
        const serial = serialOf(certPem);
        const now = iso(this.now());
        const stored = await this.deps.db.transaction(async (tx) => {
          // a build that ended meanwhile gets nothing
          const fresh = await this.store.getBuild(build.id, tx);
          if (!fresh || !ACTIVE_STATUSES.includes(fresh.status)) return false;
          await this.store.insertCert(
            {
              serial,
              build_id: build.id,
              platform: c.platform,
              builder_id: c.builder_id,
              cert_pem: certPem,
              issued_at: now,
              not_after: iso(notAfter),
            },
            tx,
          );
          await this.auditCert(build, c.platform, c.builder_id, serial, notAfter, 'renewal', tx);
          return true;
        });
        if (!stored) break;
        out.push({ platform: c.platform, cert_pem: certPem, expires_at: iso(notAfter) });
      }
      return out;
    });
  }

  /**
   * The gateway's question for every new builder connection: is this serial, issued for this
   * builder, unrevoked, unexpired, and of an active build? Answers are kept for a second.
   */
  async authorizeConnection(peer: { builderId: string; serial: string }): Promise<ConnectionVerdict> {
    const cached = this.verdicts.get(peer.serial);
    if (cached && cached.until > Date.now()) return cached.verdict;
    const [row] = await this.store.liveCerts([peer.serial], iso(this.now()), true);
    const verdict: ConnectionVerdict =
      row && row.builder_id === peer.builderId
        ? { ok: true, owner: row.build_id }
        : {
            ok: false,
            reason: row
              ? `certificate was issued for builder ${row.builder_id}`
              : 'no active build holds this certificate (finished, canceled, expired, revoked or unknown)',
          };
    this.verdicts.set(peer.serial, { verdict, until: Date.now() + VERDICT_CACHE_MS });
    if (this.verdicts.size > 10_000) this.verdicts.clear();
    return verdict;
  }

  /**
   * Level-triggered: closes every open builder connection whose certificate no longer belongs
   * to an active build (ended here, on another replica, or with its project). Expiry of a
   * certificate alone does not close a connection: it only gates new ones.
   */
  async recheckConnections(): Promise<number> {
    const open = this.providers.flatMap((p) => p.openConnections());
    if (open.length === 0) return 0;
    const serials = [...new Set(open.map((c) => c.serial))];
    const live = new Set((await this.store.liveCerts(serials, iso(this.now()), false)).map((r) => r.serial));
    const dead = serials.filter((s) => !live.has(s));
    if (dead.length === 0) return 0;
    this.verdicts.clear();
    let n = 0;
    for (const p of this.providers) n += p.closeSerials(dead);
    if (n) this.log.info({ connections: n }, 'closed builder connections of builds that ended');
    return n;
  }

  /** Ends the active builds whose creating token was revoked, then drops dead connections. */
  async endOrphans(): Promise<void> {
    for (const b of await this.store.orphanedByToken()) {
      const why = b.token_revoked_at
        ? `the token that created this build was revoked at ${b.token_revoked_at}`
        : 'the token that created this build no longer exists';
      await this.finishInternal(b.id, 'canceled', why, SERVER);
    }
    await this.recheckConnections();
  }

  /** The stable id of a project's primary in a pool: its cache is keyed by it. */
  private async primaryId(projectId: string, platform: string, pool: string): Promise<string> {
    const found = await this.store.findPrimary(projectId, platform, pool);
    if (found) return found.id;
    const now = iso(this.now());
    const row = await this.store.insertBuilderIfAbsent(
      this.newRow(newId('bkr'), projectId, platform, pool, 'primary', null, now),
    );
    return row.id;
  }

  private newRow(
    id: string,
    projectId: string,
    platform: string,
    pool: string,
    role: 'primary' | 'clone',
    snapshotId: string | null,
    now: string,
  ): BuilderRow {
    return {
      id,
      project_id: projectId,
      platform,
      role,
      provider: this.providerOfPool(pool).name,
      pool,
      snapshot_id: snapshotId,
      state: 'stopped',
      endpoint: null,
      pid: null,
      started_at: null,
      stopped_at: null,
      last_used_at: now,
      restarts: 0,
      launch_failures: 0,
      last_error: null,
      created_at: now,
      updated_at: now,
    };
  }

  /** Records what the provisioner did to a builder, one write after another per builder. */
  private persistBuilder(b: FleetBuilder, event: BuilderEvent): Promise<void> {
    const snapshot = {
      running: b.running,
      lastError: b.lastError,
    };
    const write = async (): Promise<void> => {
      const now = iso(this.now());
      let row = await this.store.getBuilder(b.id);
      if (!row) {
        if (event === 'destroyed') return;
        row = await this.store.insertBuilderIfAbsent(
          this.newRow(b.id, b.projectId, b.platform, b.pool, b.role, b.snapshotId ?? null, now),
        );
      }
      switch (event) {
        case 'starting':
          await this.store.updateBuilder(b.id, { state: 'starting', owner: this.leader.replicaId }, now);
          break;
        case 'running': {
          const r = snapshot.running!;
          const replacing = row.state === 'running' || row.state === 'failed' || row.started_at !== null;
          await this.store.updateBuilder(
            b.id,
            {
              state: 'running',
              owner: this.leader.replicaId,
              endpoint: r.endpoint,
              pid: r.pid,
              started_at: iso(r.startedAt),
              stopped_at: null,
              server_name: r.serverName,
              ca_pem: r.caPem,
              launch_failures: 0,
              last_error: null,
              ...(replacing && !r.adopted && row.state !== 'stopped' ? { restarts: row.restarts + 1 } : {}),
              ...(r.adopted ? {} : { last_used_at: now }),
            },
            now,
          );
          this.metrics?.builderStarts.inc({ result: r.adopted ? 'adopted' : 'started' });
          break;
        }
        case 'restarted': {
          // The same builder under a new buildkitd (a snapshot stopped it): where it runs now.
          const r = snapshot.running!;
          await this.store.updateBuilder(
            b.id,
            {
              endpoint: r.endpoint,
              pid: r.pid,
              started_at: iso(r.startedAt),
              server_name: r.serverName,
              ca_pem: r.caPem,
            },
            now,
          );
          break;
        }
        case 'failed':
          await this.store.updateBuilder(
            b.id,
            {
              state: 'failed',
              pid: null,
              launch_failures: row.launch_failures + 1,
              last_error: (snapshot.lastError ?? 'unknown error').slice(0, 1000),
            },
            now,
          );
          this.metrics?.builderStarts.inc({ result: 'failed' });
          break;
        case 'stopped':
          await this.store.updateBuilder(b.id, { state: 'stopped', pid: null, stopped_at: now }, now);
          break;
        case 'destroyed':
          await this.store.updateBuilder(
            b.id,
            { state: 'destroyed', pid: null, endpoint: null, stopped_at: now },
            now,
          );
          break;
      }
    };
    const p = (this.rowWrites.get(b.id) ?? Promise.resolve()).then(write).catch((err: unknown) => {
      this.log.error(
        { builder_id: b.id, event, err: errorMessage(err) },
        'recording a builder change failed',
      );
    });
    this.rowWrites.set(b.id, p);
    void p.finally(() => {
      if (this.rowWrites.get(b.id) === p) this.rowWrites.delete(b.id);
    });
    return p;
  }

  async heartbeat(who: AuthContext, buildId: string): Promise<HeartbeatResponse> {
    const build = await this.visibleBuild(who, buildId);
    if (!ACTIVE_STATUSES.includes(build.status)) throw this.finishedError(build, 'stop the build');
    await this.store.heartbeat(build.id, iso(this.now()));
    const certs = who.kind === 'build' ? await this.renewCerts(build) : [];
    return { cancel: build.cancel_requested === 1, ...(certs.length ? { certs } : {}) };
  }

  /**
   * Ends the build on the server at once: status canceled, token and certificates revoked, its
   * builder connections closed. The client learns it from its next heartbeat (409).
   */
  async cancel(who: AuthContext, buildId: string): Promise<BuildInfo> {
    const build = await this.visibleBuild(who, buildId);
    if (!ACTIVE_STATUSES.includes(build.status))
      throw this.finishedError(build, 'there is nothing to cancel');
    await this.store.requestCancel(build.id);
    await this.finishInternal(
      build.id,
      'canceled',
      build.acquired_at ? `canceled by ${actorOf(who).subject}` : 'canceled before it got a builder',
      actorOf(who),
    );
    return (await this.info([(await this.store.getBuild(build.id))!], () => ''))[0]!;
  }

  async finish(who: AuthContext, buildId: string, req: FinishBuildRequest): Promise<BuildRow> {
    const build = await this.visibleBuild(who, buildId);
    if (!ACTIVE_STATUSES.includes(build.status)) {
      throw this.finishedError(build, 'finish is accepted once per build');
    }
    const error = req.status === 'success' ? null : (req.error ?? null);
    const errorBytes = error === null ? 0 : Buffer.byteLength(error);
    if (errorBytes > BUILD_ERROR_MAX_BYTES) {
      throw tooLarge(
        'error_too_large',
        `body.error is ${errorBytes} bytes; at most ${BUILD_ERROR_MAX_BYTES} are accepted. Send the gist of the failure (hoist build truncates its own); build ${build.id} is still ${build.status}, so finish it again with a shorter error`,
      );
    }
    const ok = await this.finishInternal(build.id, req.status, error, actorOf(who));
    const after = (await this.store.getBuild(build.id))!;
    if (!ok) throw this.finishedError(after, 'finish is accepted once per build');
    return after;
  }

  /**
   * Final status, token and certificates revoked, builder connections closed, slots freed,
   * audited; false when the build had already finished.
   */
  private async finishInternal(
    buildId: string,
    status: BuildStatus,
    rawError: string | null,
    actor: Actor = SERVER,
  ): Promise<boolean> {
    const now = iso(this.now());
    // The server's own reasons quote builder errors: bounded like a client's.
    const error = rawError === null ? null : truncateUtf8(rawError, BUILD_ERROR_MAX_BYTES);
    const ok = await this.deps.db.transaction(async (tx) => {
      const changed = await this.store.finish(buildId, status, error, now, tx);
      if (!changed) return false;
      await this.deps.tokens.revokeForBuild(buildId, tx);
      const serials = await this.store.revokeCerts(buildId, `build ${status}`, now, undefined, tx);
      const b = (await this.store.getBuild(buildId, tx))!;
      await this.deps.audit.record(
        {
          action:
            status === 'canceled' ? 'build.cancel' : status === 'expired' ? 'build.expire' : 'build.finish',
          outcome: 'ok',
          project_id: b.project_id,
          subject: actor.subject,
          reason: `build ${buildId} ended with status ${status}${error ? `: ${error.slice(0, 500)}` : ''}`,
          details: { build_id: buildId, status, revoked_serials: serials },
        },
        tx,
      );
      return true;
    });
    if (ok) {
      // the dashboard hears of every end, the server's own (expiry, a failed launch) included
      this.onEnded?.(buildId);
      // Its certificates open nothing from now on, and what they opened closes now.
      this.verdicts.clear();
      this.provisioner.release(buildId);
      // The leader frees the slot now rather than at its next read of the demand.
      if (this.shared && !this.leading) void this.signals.notify('demand');
      let closed = 0;
      for (const p of this.providers) closed += p.closeConnections([buildId]);
      this.metrics?.buildsFinished.inc({ status });
      this.log.info({ build_id: buildId, status, error, connections_closed: closed }, 'build finished');
    }
    return ok;
  }

  async info(rows: BuildRow[], buildUrl: (id: string) => string): Promise<BuildInfo[]> {
    const bbs = await this.store.buildBuilders(rows.map((r) => r.id));
    return rows.map((r) => toBuildInfo(r, bbs, buildUrl(r.id)));
  }

  async list(
    who: AuthContext,
    q: { project?: string; status?: BuildStatus; limit?: number; before?: string },
  ): Promise<BuildRow[]> {
    let projectId: string | undefined;
    if (q.project) {
      const p = await this.deps.projects.find(q.project);
      if (!p || (who.kind !== 'admin' && p.id !== who.project_id)) {
        throw notFound('project_not_found', `no project "${q.project}" is visible to this token`);
      }
      projectId = p.id;
    } else if (who.kind !== 'admin') {
      projectId = who.project_id ?? undefined;
    }
    return this.store.listBuilds({
      project_id: projectId,
      status: q.status,
      build_id: who.kind === 'build' ? (who.build_id ?? '') : undefined,
      limit: q.limit ?? 50,
      before: q.before,
    });
  }

  // ---- background work ----

  /**
   * Starts the sweep; the provisioner starts when this replica is elected (at once on SQLite),
   * after adopting what the providers still hold.
   */
  async start(): Promise<void> {
    for (const p of this.providers) p.authorizeConnections((peer) => this.authorizeConnection(peer));
    this.lastReconcile = Date.now();
    this.lastPurge = Date.now();
    this.timer = setInterval(() => void this.sweep(), this.deps.config.sweepIntervalMs);
    this.timer.unref();
    if (this.shared) {
      await this.signals.start();
      this.signals.on('demand', () => {
        if (this.leading) this.syncLater(0);
      });
      this.demandTimer = setInterval(() => void this.syncDemand(), DEMAND_POLL_MS);
      this.demandTimer.unref();
    }
    this.leader.onElected(() => this.takeOver());
    this.leader.onDemoted(() => this.stepDown());
    // Without a leader of the server's (a service built on its own), this process is the only one.
    if (!this.deps.leader) await this.leader.start();
  }

  /**
   * This replica became the leader (at start, or the previous one died or left): a provisioner of
   * its own rebuilt from the database and the providers (builders that run are adopted, and
   * routed here on demand), strays go, old builds are purged, then the waiting demand is read.
   */
  private async takeOver(): Promise<void> {
    if (this.closed) return;
    const term = ++this.term;
    try {
      await this.takeOverOnce(term);
    } catch (err) {
      // A provider or the database failing now must not leave a leader that never provisions.
      this.log.error(
        { err: errorMessage(err), retry_ms: TAKEOVER_RETRY_MS },
        'taking over as leader failed; trying again',
      );
      const t = setTimeout(() => {
        if (term === this.term && !this.closed && this.leader.isLeader()) void this.takeOver();
      }, TAKEOVER_RETRY_MS);
      t.unref();
    }
  }

  private async takeOverOnce(term: number): Promise<void> {
    const t0 = Date.now();
    this.leading = false;
    if (this.provStarted) {
      this.prov.close();
      this.prov = this.newProvisioner();
      this.provStarted = false;
    }
    await this.adoptFleet();
    if (term !== this.term || this.closed) return;
    this.prov.start();
    this.provStarted = true;
    const now = iso(this.now());
    for (const pool of this.pools) {
      for (const l of await pool.provider.list()) {
        if (l.state !== 'running') continue;
        await this.deps.db.run(
          `UPDATE builders SET owner = ?, updated_at = ? WHERE id = ? AND state IN ('running', 'starting')`,
          [this.leader.replicaId, now, l.id],
        );
      }
    }
    await this.reconcile();
    this.lastReconcile = Date.now();
    await this.purgeFinished();
    this.lastPurge = Date.now();
    if (term !== this.term || this.closed) return;
    this.leading = true;
    this.log.info(
      { replica_id: this.leader.replicaId, ms: Date.now() - t0, builders: this.prov.builders.size },
      'leader: builders adopted',
    );
    if (this.shared) await this.syncDemand();
  }

  /** Lost the lease or stopping: the provisioner stops deciding; another replica's takes over. */
  private stepDown(): void {
    this.term++;
    const was = this.leading;
    this.leading = false;
    if (this.provStarted) {
      this.prov.close();
      this.prov = this.newProvisioner();
      this.provStarted = false;
    }
    if (was) {
      this.log.info(
        { replica_id: this.leader.replicaId },
        'no longer the leader: provisioning and build sweeps stop here',
      );
    }
  }

  /** Reads the demand soon (coalesced): after a provisioning pass or a follower's signal. */
  private syncLater(ms = 100): void {
    if (!this.shared || !this.leading || this.closed || this.syncSoon) return;
    this.syncSoon = setTimeout(() => {
      this.syncSoon = null;
      void this.syncDemand();
    }, ms);
    this.syncSoon.unref();
  }

  /** The leader's demand loop, one pass at a time (a call during a pass runs one more after it). */
  syncDemand(): Promise<void> {
    if (this.syncing) {
      this.syncAgain = true;
      return this.syncing;
    }
    this.syncing = (async () => {
      do {
        this.syncAgain = false;
        try {
          await this.syncOnce();
        } catch (err) {
          this.log.error({ err: errorMessage(err) }, 'reading the build demand failed');
        }
      } while (this.syncAgain && !this.closed);
    })().finally(() => (this.syncing = null));
    return this.syncing;
  }

  private async syncOnce(): Promise<void> {
    if (!this.shared || !this.leading || !this.leader.isLeader() || this.closed) return;
    const prov = this.prov;
    const known = prov.claimKeys();
    const rows = await this.store.demand();
    if (prov !== this.prov || !this.leading) return;
    const { request, release } = demandDiff(known, rows);
    for (const id of release) prov.release(id);
    const projects = new Map<string, Project | undefined>();
    for (const r of request) {
      if (!projects.has(r.project_id))
        projects.set(r.project_id, await this.deps.projects.find(r.project_id));
      const project = projects.get(r.project_id);
      if (!project) continue;
      prov.request({
        buildId: r.build_id,
        projectId: project.id,
        platform: r.platform,
        scaling: scalingOf(project),
        projectName: project.name,
        queuedAtMs: Date.parse(r.queued_at),
      });
    }
    if (request.length > 0) await prov.reconcile();
    let changed = 0;
    for (const r of rows) {
      const placement = placementOf(prov.status(r.build_id, r.platform));
      if (!placement) continue;
      const json = JSON.stringify(placement);
      if (json === r.placement) continue;
      await this.store.setPlacement(r.build_id, r.platform, json);
      changed++;
    }
    if (changed > 0) await this.signals.notify('placement');
  }

  /**
   * After a start: every builder row is handed to the provisioner with the builds that held it;
   * one whose daemon still runs is adopted, a clone with neither daemon nor builds is destroyed,
   * a provider builder with no row is a stray and is destroyed; snapshots are adopted or deleted.
   */
  private async adoptFleet(): Promise<void> {
    const holders = await this.store.activeHolders();
    const projects = new Map<string, Project | undefined>();
    const scaling = async (projectId: string): Promise<ScalingSettings> => {
      if (!projects.has(projectId)) projects.set(projectId, await this.deps.projects.find(projectId));
      const p = projects.get(projectId);
      return p ? scalingOf(p) : { autoscaling: false, buildsPerBuilder: null, maxBuildersPerPlatform: 1 };
    };
    const now = iso(this.now());
    for (const pool of this.pools) {
      const listed = await pool.provider.list();
      const rows = (await this.store.listBuilders(pool.provider.name)).filter(
        (r) => r.pool === pool.name && r.state !== 'destroyed',
      );
      await this.destroyStrays(pool.provider, listed, rows);
      const adopted: AdoptedBuilder[] = [];
      for (const row of rows) {
        const running = listed.some((l) => l.id === row.id && l.state === 'running');
        const claims: ClaimRequest[] = [];
        for (const h of holders.filter((x) => x.builder_id === row.id)) {
          claims.push({
            buildId: h.build_id,
            projectId: h.project_id,
            platform: h.platform,
            scaling: await scaling(h.project_id),
            queuedAtMs: Date.parse(h.queued_at),
          });
        }
        if (row.role === 'clone' && !running && claims.length === 0) {
          await pool.provider.destroy(row.id).catch(() => undefined);
          await this.store.updateBuilder(
            row.id,
            { state: 'destroyed', pid: null, endpoint: null, stopped_at: now },
            now,
          );
          continue;
        }
        if (!running && (row.state === 'running' || row.state === 'starting')) {
          // Never undo another live replica's start (its process may not exist yet), nor touch a
          // builder of a live replica that this provider cannot see.
          const mine = await reapVerdict({
            owner: row.owner ?? null,
            me: this.leader.replicaId,
            visible: listed.some((l) => l.id === row.id),
            ownerAlive: row.owner
              ? this.leader.otherReplicas().then(
                  (o) => o.includes(row.owner!),
                  () => true,
                )
              : Promise.resolve(false),
            startingRecently:
              row.state === 'starting' &&
              this.now().getTime() - Date.parse(row.updated_at) < STARTING_GRACE_MS,
          });
          if (mine) await this.store.markStoppedIfUnchanged(row.id, row.updated_at, now);
          // Another live replica's builder on a host this provider cannot see: never launched here.
          else if (!listed.some((l) => l.id === row.id)) continue;
        }
        adopted.push({
          id: row.id,
          projectId: row.project_id,
          platform: row.platform,
          pool: pool.name,
          role: row.role === 'clone' ? 'clone' : 'primary',
          ...(row.snapshot_id ? { snapshotId: row.snapshot_id } : {}),
          running,
          claims,
        });
      }
      this.provisioner.adopt(adopted);
      for (const snap of await pool.provider.listSnapshots().catch(() => [])) {
        if (rows.some((r) => r.id === snap.builderId && r.role === 'primary')) {
          this.provisioner.adoptSnapshot({
            id: snap.id,
            builderId: snap.builderId,
            createdMs: snap.createdAt.getTime(),
          });
        } else {
          this.log.warn({ snapshot_id: snap.id }, 'deleting a snapshot of a builder that has no row');
          await pool.provider.deleteSnapshot(snap.id).catch(() => undefined);
        }
      }
    }
  }

  /** Builders a provider holds that no row and no launch knows: left over, destroyed. */
  private async destroyStrays(
    provider: Provider,
    listed: { id: string; pid: number | null }[],
    rows: BuilderRow[],
  ): Promise<void> {
    const known = new Set(rows.filter((r) => r.state !== 'destroyed').map((r) => r.id));
    for (const l of listed) {
      if (known.has(l.id) || this.provisioner.builders.has(l.id)) continue;
      this.log.warn({ builder_id: l.id, pid: l.pid }, 'removing builder that has no row (stray)');
      await provider
        .destroy(l.id)
        .catch((err: unknown) => this.log.error({ err: errorMessage(err) }, 'destroy failed'));
    }
  }

  /** Level-triggered: strays of every provider go (rows and running builders are the provisioner's). */
  async reconcile(): Promise<void> {
    if (!this.leader.isLeader()) return;
    for (const pool of this.pools) {
      const listed = await pool.provider.list();
      const rows = await this.store.listBuilders(pool.provider.name);
      await this.destroyStrays(pool.provider, listed, rows);
    }
  }

  sweep(): Promise<void> {
    if (this.sweeping || this.closed) return this.sweeping ?? Promise.resolve();
    this.sweeping = this.sweepOnce()
      .catch((err) => this.log.error({ err: errorMessage(err) }, 'builds sweep failed'))
      .finally(() => (this.sweeping = null));
    return this.sweeping;
  }

  private async sweepOnce(): Promise<void> {
    if (!this.leader.isLeader()) {
      // Builds ended by the leader (or on another replica) lose their connections here too.
      await this.recheckConnections();
      return;
    }
    const cfg = this.deps.config;
    const nowD = this.now();
    const now = iso(nowD);
    // Silent builds expire and free their slots.
    for (const b of await this.store.overdue(iso(new Date(nowD.getTime() - cfg.heartbeatGraceMs)), now)) {
      const why =
        b.expires_at <= now
          ? `exceeded the maximum build duration of ${Math.round(cfg.maxBuildDurationMs / 1000)} s`
          : `no heartbeat for more than ${Math.round(cfg.heartbeatGraceMs / 1000)} s (last at ${b.last_heartbeat_at})`;
      await this.finishInternal(b.id, 'expired', why);
    }
    // Builds whose creating token was revoked end; connections of ended builds close.
    await this.endOrphans();
    // Builds that waited too long for a builder fail and say so.
    for (const b of await this.store.waitedTooLong(iso(new Date(nowD.getTime() - cfg.builderWaitMs)))) {
      await this.finishInternal(
        b.id,
        'failed',
        `no ${b.wait_platform} builder became available within ${Math.round(cfg.builderWaitMs / 1000)} s; raise the project's max_concurrent_builds or retry later`,
      );
    }
    if (this.closed) return;
    if (Date.now() - this.lastReconcile >= RECONCILE_INTERVAL_MS) {
      this.lastReconcile = Date.now();
      await this.reconcile();
    }
    if (Date.now() - this.lastPurge >= cfg.purgeIntervalMs) {
      this.lastPurge = Date.now();
      await this.purgeFinished();
    }
  }

  /**
   * Deletes builds that finished more than the retention period ago, with their platform rows
   * and their (revoked) build tokens, a batch per transaction so no lock is held for long.
   */
  async purgeFinished(): Promise<number> {
    const before = iso(new Date(this.now().getTime() - this.deps.config.retentionMs));
    let total = 0;
    for (;;) {
      const n = await this.deps.db.transaction((tx) => this.store.purgeFinished(before, PURGE_BATCH, tx));
      total += n;
      if (n < PURGE_BATCH || this.closed) break;
    }
    // Rows of destroyed clones stay while a kept build names them.
    await this.deps.db.run(
      `DELETE FROM builders WHERE state = 'destroyed' AND id NOT IN
         (SELECT builder_id FROM build_builders WHERE builder_id IS NOT NULL)
         AND id NOT IN (SELECT builder_id FROM build_certs)`,
    );
    // A creation bucket that has refilled is the same as none.
    const cfg = this.deps.config;
    if (cfg.createRatePerMin > 0) {
      const fullMs = (cfg.createBurst / (cfg.createRatePerMin / 60)) * 1000;
      await this.deps.db.run(`DELETE FROM rate_buckets WHERE key LIKE 'build-create:%' AND at_ms < ?`, [
        Math.floor(this.now().getTime() - fullMs),
      ]);
    }
    if (total > 0) {
      this.log.info(
        { purged: total, finished_before: before },
        'purged finished builds past the retention period',
      );
    }
    return total;
  }

  /** Server stop: end the sweep and the provisioner, then stop builders (cache kept) or leave them to be adopted. */
  async shutdown(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    if (this.demandTimer) clearInterval(this.demandTimer);
    if (this.syncSoon) clearTimeout(this.syncSoon);
    await this.sweeping;
    await this.syncing;
    await this.signals.stop();
    this.provisioner.close();
    await this.provisioner.idle();
    await Promise.allSettled([...this.rowWrites.values()]);
    // Builders serve every replica's builds: while another replica runs, they stay up for it.
    const others = await this.leader.otherReplicas().catch(() => []);
    const stop = this.deps.config.buildersOnExit === 'stop' && others.length === 0;
    if (this.deps.config.buildersOnExit === 'stop' && others.length > 0) {
      this.log.info(
        { other_replicas: others },
        'other replicas are running: builders are left running for them',
      );
    }
    for (const p of this.providers) await p.close({ stopBuilders: stop });
    if (stop) {
      const now = iso(this.now());
      for (const p of this.providers) {
        for (const row of await this.store.listBuilders(p.name)) {
          if (row.state !== 'stopped' && row.state !== 'destroyed') {
            await this.store.updateBuilder(row.id, { state: 'stopped', pid: null, stopped_at: now }, now);
          }
        }
      }
    }
    if (!this.deps.leader) await this.leader.stop();
  }
}

/**
 * May the leader stop, replace or mark stopped this builder? Yes when nobody or this replica
 * started it, when its provider sees it (one data directory or one cluster for every replica),
 * or when the replica that started it is gone. Never a builder another live replica is starting
 * right now (its process may not exist yet), nor one of a live replica that this provider cannot
 * see (another host's local builders are that replica's to look after).
 */
export async function reapVerdict(r: {
  owner: string | null;
  me: string;
  visible: boolean;
  ownerAlive: Promise<boolean>;
  startingRecently: boolean;
}): Promise<boolean> {
  if (r.owner === null || r.owner === r.me) return true;
  if (!r.startingRecently && r.visible) return true;
  return !(await r.ownerAlive);
}

/** The serial as the gateway sees it (node:crypto's upper-case hex). */
function serialOf(certPem: string): string {
  return new X509Certificate(certPem).serialNumber.toUpperCase();
}

/**
 * The provider as the provisioning layer sees it: every call that changes builders is reported
 * first (counted by the replica's role; a follower's is logged as a warning).
 */
function guardProvider(p: Provider, called: (op: string) => void): Provider {
  return new Proxy(p, {
    get(target, prop) {
      const v: unknown = Reflect.get(target, prop, target);
      if (typeof v !== 'function') return v;
      const f = (v as (...a: unknown[]) => unknown).bind(target);
      if (typeof prop !== 'string' || !MUTATIONS.has(prop)) return f;
      return (...args: unknown[]) => {
        called(prop);
        return f(...args);
      };
    },
  });
}
