// The build lifecycle: create → acquire a builder per platform (pending while busy or
// starting) → heartbeats → finish, plus the sweep that expires silent builds, fails builds
// that waited too long, stops idle builders and replaces crashed ones.
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
import { truncateUtf8 } from '../../lib/text.js';
import {
  parsePlatform,
  processAlive,
  type ConnectionVerdict,
  type Provider,
  type RunningBuilder,
} from '../../providers/provider.js';
import type { AuditLog } from '../audit/log.js';
import type { Db } from '../db/index.js';
import { ApiError, badRequest, conflict, notFound, tooLarge, tooMany } from '../http/errors.js';
import type { ProjectStore } from '../projects/store.js';
import { TokenBuckets } from '../http/rate-limit.js';
import type { AuthContext, TokenService } from '../auth/tokens.js';
import { type Clock, iso, newId } from '../util.js';
import type { BuildsConfig } from './config.js';
import type { BuildMetrics } from './metrics.js';
import { ACTIVE_STATUSES, type BuilderRow, type BuildRow, BuildStore, toBuildInfo } from './store.js';

const MAX_PLATFORMS = 8;
/** A healthy check this recent lets an acquire skip its own. */
const HEALTH_FRESH_MS = 2000;
const HEALTH_INTERVAL_MS = 5000;
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

/** Who ended a build, for the audit trail. */
type Actor = { subject: string; token_id: string | null };
const SERVER: Actor = { subject: 'hoist server', token_id: null };

function actorOf(who: AuthContext): Actor {
  return { subject: `${who.kind} token ${who.token_id}`, token_id: who.token_id };
}

interface Cached {
  running: RunningBuilder;
  checkedAt: number;
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
}

export class BuildService {
  readonly store: BuildStore;
  private readonly cache = new Map<string, Cached>();
  private readonly starting = new Map<string, Promise<RunningBuilder>>();
  private readonly mutex = new KeyedMutex();
  private timer: NodeJS.Timeout | null = null;
  private sweeping: Promise<void> | null = null;
  private lastHealthSweep = 0;
  private lastReconcile = 0;
  private lastPurge = 0;
  private closed = false;
  /** Build creations per project (in memory: each replica counts its own). */
  private readonly createLimiter: TokenBuckets | null;
  private readonly verdicts = new Map<string, { verdict: ConnectionVerdict; until: number }>();
  metrics?: BuildMetrics;

  constructor(private readonly deps: BuildServiceDeps) {
    this.store = new BuildStore(deps.db);
    this.metrics = deps.metrics;
    const cfg = deps.config;
    this.createLimiter =
      cfg.createRatePerMin > 0
        ? new TokenBuckets(cfg.createRatePerMin / 60, cfg.createBurst, () => deps.clock.now().getTime())
        : null;
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
    this.takeCreateToken(project);
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

  /** One token of the project's creation bucket, or a 429 that says when to retry. */
  private takeCreateToken(project: Project): void {
    const limiter = this.createLimiter;
    if (!limiter) return;
    const d = limiter.take(project.id);
    if (d.ok) return;
    const cfg = this.deps.config;
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
    return this.mutex.run(`${project.id}|${parsed.platform}`, () =>
      this.acquireLocked(build, project, parsed.platform),
    );
  }

  private async acquireLocked(build: BuildRow, project: Project, platform: string): Promise<BuilderAnswer> {
    const nowD = this.now();
    const now = iso(nowD);
    const builder = await this.primaryBuilder(project.id, platform);
    const bb = (await this.store.getBuildBuilder(build.id, platform))!;
    if (bb.builder_id !== builder.id) {
      const limit = project.max_concurrent_builds;
      if (limit !== null) {
        const active = await this.store.activeOnBuilder(builder.id);
        const mine = await this.store.markWaiting(build.id, platform, now);
        const recent = iso(new Date(nowD.getTime() - 3 * POLL_RETRY_MS - 2000));
        const ahead = await this.store.waitersBefore(
          project.id,
          platform,
          build.id,
          mine.waiting_since!,
          recent,
        );
        if (active + ahead >= limit) {
          return {
            status: 'pending',
            retry_after_ms: POLL_RETRY_MS,
            reason: `builder ${platform} of project ${project.name} is busy: ${active} of ${limit} concurrent builds running, ${ahead} build(s) ahead in the queue`,
          };
        }
      }
    }
    const blocked = this.launchBlocked(builder);
    if (blocked) return blocked;
    const running = await this.ensureRunning(builder, this.deps.config.acquireWaitMs);
    if (!running) {
      await this.store.markWaiting(build.id, platform, now);
      const fresh = await this.store.getBuilder(builder.id);
      if (fresh && fresh.launch_failures >= MAX_LAUNCH_FAILURES) return this.failForBuilder(build, fresh);
      return {
        status: 'pending',
        retry_after_ms: 250,
        reason:
          fresh?.state === 'failed'
            ? `builder ${platform} failed to start (${fresh.last_error ?? 'unknown error'}); retrying`
            : `builder ${platform} is starting`,
      };
    }
    const notAfter = this.certNotAfter(build);
    const cert = await this.deps.provider.issueClientCert(builder.id, {
      commonName: `build ${build.id}`,
      organization: project.id,
      notAfter,
    });
    const serial = serialOf(cert.certPem);
    const after = iso(this.now());
    const ok = await this.deps.db.transaction(async (tx) => {
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
    if (!ok) {
      const b = (await this.store.getBuild(build.id))!;
      throw this.finishedError(b, 'start a new build to get a builder');
    }
    if (ok.length) {
      this.verdicts.clear();
      this.deps.provider.closeSerials(ok);
    }
    if (!build.acquired_at) {
      this.metrics?.acquireSeconds.observe(
        { platform },
        (Date.parse(after) - Date.parse(build.queued_at)) / 1000,
      );
    }
    this.log.info(
      { build_id: build.id, builder_id: builder.id, platform, cert_serial: serial },
      'builder acquired',
    );
    return {
      status: 'active',
      builder_id: builder.id,
      platform,
      endpoint: running.endpoint,
      server_name: running.serverName,
      ca_pem: running.caPem,
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
        const certPem = await this.deps.provider.renewClientCert(c.builder_id, {
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
    const open = this.deps.provider.openConnections();
    if (open.length === 0) return 0;
    const serials = [...new Set(open.map((c) => c.serial))];
    const live = new Set((await this.store.liveCerts(serials, iso(this.now()), false)).map((r) => r.serial));
    const dead = serials.filter((s) => !live.has(s));
    if (dead.length === 0) return 0;
    this.verdicts.clear();
    const n = this.deps.provider.closeSerials(dead);
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

  /** After repeated failed launches, the build fails with the reason instead of retrying forever. */
  private async failForBuilder(build: BuildRow, builder: BuilderRow): Promise<never> {
    const msg = `builder ${builder.platform} could not start after ${builder.launch_failures} attempts: ${builder.last_error ?? 'unknown error'}`;
    await this.finishInternal(build.id, 'failed', msg);
    throw new ApiError(
      503,
      'builder_unavailable',
      `${msg}; build ${build.id} was marked failed. Check the server log and the buildkitd log in the data directory.`,
    );
  }

  /** While a failed builder backs off, answer pending instead of launching again. */
  private launchBlocked(builder: BuilderRow): BuilderAnswer | null {
    if (builder.state !== 'failed' || builder.launch_failures === 0) return null;
    const backoff = Math.min(1000 * 2 ** (builder.launch_failures - 1), 30_000);
    const wait = Date.parse(builder.updated_at) + backoff - this.now().getTime();
    if (wait <= 0) return null;
    return {
      status: 'pending',
      retry_after_ms: Math.max(100, Math.min(wait, 5000)),
      reason: `builder ${builder.platform} failed to start (${builder.last_error ?? 'unknown error'}); retrying in ${Math.ceil(wait / 1000)} s`,
    };
  }

  private async primaryBuilder(projectId: string, platform: string): Promise<BuilderRow> {
    const found = await this.store.findPrimary(projectId, platform);
    if (found) return found;
    const now = iso(this.now());
    return this.store.insertBuilderIfAbsent({
      id: newId('bkr'),
      project_id: projectId,
      platform,
      role: 'primary',
      provider: this.deps.provider.name,
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
    });
  }

  /**
   * A running, healthy builder: the cached one when checked recently, else checked now, else
   * (re)launched. Resolves null when a launch takes longer than `waitMs` (it goes on).
   */
  private async ensureRunning(builder: BuilderRow, waitMs: number): Promise<RunningBuilder | null> {
    const cached = this.cache.get(builder.id);
    if (
      cached &&
      Date.now() - cached.checkedAt < HEALTH_FRESH_MS &&
      (cached.running.pid === null || processAlive(cached.running.pid))
    ) {
      return cached.running;
    }
    if (cached) {
      const h = await this.deps.provider.health(builder.id);
      if (h.healthy) {
        cached.checkedAt = Date.now();
        return cached.running;
      }
      this.cache.delete(builder.id);
      this.metrics?.builderCrashes.inc();
      this.log.warn(
        { builder_id: builder.id, reason: h.reason },
        'builder unhealthy; replacing it with the same cache',
      );
    }
    const launch = this.launch(builder, cached !== undefined || builder.state === 'running');
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<null>((r) => (timer = setTimeout(() => r(null), waitMs)));
    try {
      return await Promise.race([launch, timeout]);
    } catch {
      return null;
    } finally {
      clearTimeout(timer);
    }
  }

  private launch(builder: BuilderRow, replacing: boolean): Promise<RunningBuilder> {
    const inflight = this.starting.get(builder.id);
    if (inflight) return inflight;
    const p = (async () => {
      await this.store.updateBuilder(builder.id, { state: 'starting' }, iso(this.now()));
      try {
        const running = await this.deps.provider.launch({
          id: builder.id,
          projectId: builder.project_id,
          platform: builder.platform,
          maxUsedSpaceBytes: this.deps.config.maxUsedSpaceBytes,
        });
        const now = iso(this.now());
        await this.store.updateBuilder(
          builder.id,
          {
            state: 'running',
            endpoint: running.endpoint,
            pid: running.pid,
            started_at: iso(running.startedAt),
            stopped_at: null,
            launch_failures: 0,
            last_error: null,
            ...(replacing && !running.adopted ? { restarts: builder.restarts + 1 } : {}),
            ...(running.adopted ? {} : { last_used_at: now }),
          },
          now,
        );
        this.cache.set(builder.id, { running, checkedAt: Date.now() });
        this.metrics?.builderStarts.inc({ result: running.adopted ? 'adopted' : 'started' });
        return running;
      } catch (err) {
        const fresh = await this.store.getBuilder(builder.id);
        await this.store.updateBuilder(
          builder.id,
          {
            state: 'failed',
            pid: null,
            launch_failures: (fresh?.launch_failures ?? 0) + 1,
            last_error: errorMessage(err).slice(0, 1000),
          },
          iso(this.now()),
        );
        this.metrics?.builderStarts.inc({ result: 'failed' });
        this.log.error({ builder_id: builder.id, err: errorMessage(err) }, 'builder failed to start');
        throw err;
      }
    })().finally(() => this.starting.delete(builder.id));
    this.starting.set(builder.id, p);
    p.catch(() => undefined);
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
      // Its certificates open nothing from now on, and what they opened closes now.
      this.verdicts.clear();
      const closed = this.deps.provider.closeConnections([buildId]);
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

  /** Reconciles rows with processes, then starts the sweep. */
  async start(): Promise<void> {
    this.deps.provider.authorizeConnections((peer) => this.authorizeConnection(peer));
    await this.reconcile({ adopt: true });
    this.lastReconcile = Date.now();
    await this.purgeFinished();
    this.lastPurge = Date.now();
    this.timer = setInterval(() => void this.sweep(), this.deps.config.sweepIntervalMs);
    this.timer.unref();
  }

  /**
   * Makes rows and processes agree: a builder process without a row is destroyed; a row
   * whose process runs is adopted (or replaced when unhealthy); a row marked running
   * whose process is gone becomes stopped.
   */
  async reconcile(opts: { adopt: boolean }): Promise<void> {
    const listed = await this.deps.provider.list();
    const rows = await this.store.listBuilders(this.deps.provider.name);
    const byId = new Map(rows.map((r) => [r.id, r]));
    for (const l of listed) {
      if (!byId.has(l.id) && !this.starting.has(l.id)) {
        this.log.warn({ builder_id: l.id, pid: l.pid }, 'removing builder that has no row (stray)');
        await this.deps.provider
          .destroy(l.id)
          .catch((err) => this.log.error({ err: errorMessage(err) }, 'destroy failed'));
      }
    }
    const now = iso(this.now());
    for (const row of rows) {
      if (this.starting.has(row.id)) continue;
      const l = listed.find((x) => x.id === row.id);
      if (l?.state === 'running') {
        if (!opts.adopt || this.cache.has(row.id)) continue;
        try {
          await this.launch(row, true);
        } catch {
          await this.deps.provider.stop(row.id).catch(() => undefined);
        }
      } else if (row.state === 'running' || row.state === 'starting') {
        this.cache.delete(row.id);
        await this.store.updateBuilder(row.id, { state: 'stopped', pid: null, stopped_at: now }, now);
      }
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
    const rows = await this.store.listBuilders(this.deps.provider.name);
    const doHealth = Date.now() - this.lastHealthSweep >= HEALTH_INTERVAL_MS;
    if (doHealth) this.lastHealthSweep = Date.now();
    for (const row of rows) {
      if (row.state !== 'running' || this.starting.has(row.id) || this.closed) continue;
      const active = await this.store.activeOnBuilder(row.id);
      const idleSince = Date.parse(row.last_used_at ?? row.started_at ?? row.created_at);
      if (active === 0 && nowD.getTime() - idleSince >= cfg.idleTimeoutMs) {
        await this.stopBuilder(row, 'idle');
        continue;
      }
      if (doHealth) {
        const h = await this.deps.provider.health(row.id);
        if (h.healthy) {
          const c = this.cache.get(row.id);
          if (c) c.checkedAt = Date.now();
          continue;
        }
        this.cache.delete(row.id);
        this.metrics?.builderCrashes.inc();
        this.log.warn(
          { builder_id: row.id, reason: h.reason },
          'builder unhealthy; replacing it with the same cache',
        );
        await this.launch(row, true).catch(() => undefined);
      }
    }
    if (Date.now() - this.lastReconcile >= RECONCILE_INTERVAL_MS) {
      this.lastReconcile = Date.now();
      await this.reconcile({ adopt: false });
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
    if (total > 0) {
      this.log.info(
        { purged: total, finished_before: before },
        'purged finished builds past the retention period',
      );
    }
    return total;
  }

  private async stopBuilder(row: BuilderRow, why: string): Promise<void> {
    this.cache.delete(row.id);
    await this.deps.provider.stop(row.id);
    const now = iso(this.now());
    await this.store.updateBuilder(row.id, { state: 'stopped', pid: null, stopped_at: now }, now);
    this.log.info({ builder_id: row.id, why }, 'builder stopped; cache kept');
  }

  /** Server stop: end the sweep, then stop builders (cache kept) or leave them to be adopted. */
  async shutdown(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    await this.sweeping;
    await Promise.allSettled([...this.starting.values()]);
    const stop = this.deps.config.buildersOnExit === 'stop';
    await this.deps.provider.close({ stopBuilders: stop });
    if (stop) {
      const now = iso(this.now());
      for (const row of await this.store.listBuilders(this.deps.provider.name)) {
        if (row.state !== 'stopped') {
          await this.store.updateBuilder(row.id, { state: 'stopped', pid: null, stopped_at: now }, now);
        }
      }
    }
    this.cache.clear();
  }
}

/** The serial as the gateway sees it (node:crypto's upper-case hex). */
function serialOf(certPem: string): string {
  return new X509Certificate(certPem).serialNumber.toUpperCase();
}
