// The provisioning layer: builds claim builders, and a level-triggered reconciler reads the
// demand (claims) and the fleet (builders), places waiting builds, launches only the difference
// through the pools, takes and deletes snapshots, stops idle builders, and fails builds that
// waited past --build-wait with what was busy. Every run reads the whole state again, so it is
// safe to run at any time; no event is trusted to arrive once, and there is no retry loop per
// builder: a failed launch only changes the state the next run reads.
import { errorMessage } from '../../lib/errors.js';
import {
  ProvisionError,
  type BuilderRole,
  type BuilderSpec,
  type LaunchResult,
  type RunningBuilder,
} from '../../providers/provider.js';
import type { BackoffSpec, RetryBudgetSpec } from './backoff.js';
import { fullJitter } from './backoff.js';
import { choosePool, type BreakerSpec } from './breaker.js';
import type { ProvisioningClock } from './clock.js';
import { ClonePermits, type ClonePermit, type PermitSpec } from './permits.js';
import {
  idleClones,
  launchPlan,
  placeBuild,
  type BuilderView,
  type FleetState,
  type ScalingSettings,
} from './placement.js';
import { LocalRefusal, Pool, type PoolSpec } from './pool.js';
import { deletableSnapshots, snapshotDecision, type SnapshotPolicy } from './snapshots.js';
import { TokenBucket, type BucketSpec } from './token-bucket.js';

export interface ProvisioningLimits {
  globalRequests: BucketSpec;
  globalResources: BucketSpec;
  /** Builders one project may launch (burst, then per second). */
  projectResources: BucketSpec;
  limitShare: number;
  batchIdleMs: number;
  batchMaxMs: number;
  backoff: BackoffSpec;
  retryBudget: RetryBudgetSpec;
  breaker: BreakerSpec;
  /** A project that moved to a later pool returns to its preferred one only after this. */
  dwellMs: number;
  permits: PermitSpec;
  /** --build-wait: a build with no builder after this fails, naming what was busy. */
  buildWaitMs: number;
  /** A build waiting longer than this raises the alert (metric and log), once per build. */
  alertWaitMs: number;
  /** A build that got no clone within this shares a builder of its project. */
  shareAfterMs: number;
  /** Failed starts one build sees before it fails. */
  maxLaunchTries: number;
  launchTimeoutMs: number;
  /** Most builds waiting for a builder on this server; past it, new requests are refused. */
  maxQueued: number;
  /** Interval of the reconciler when nothing else wakes it. */
  tickMs: number;
  /** An idle clone is destroyed after this; clones go before primaries. */
  cloneIdleMs: number;
  /** An idle primary is stopped (cache kept) after this. */
  primaryIdleMs: number;
  snapshot: SnapshotPolicy;
  /** Interval of the health checks of running builders; 0 = none. */
  healthIntervalMs: number;
  /** GC cap passed to launches. */
  maxUsedSpaceBytes?: number;
}

export const DEFAULT_LIMITS: ProvisioningLimits = {
  globalRequests: { burst: 20, perSecond: 10 },
  globalResources: { burst: 2000, perSecond: 20 },
  projectResources: { burst: 200, perSecond: 5 },
  limitShare: 0.6,
  batchIdleMs: 500,
  batchMaxMs: 2000,
  backoff: { baseMs: 1000, capMs: 30_000 },
  retryBudget: { capacity: 500, retryCost: 5, throttledRetryCost: 10, successRefund: 1 },
  breaker: { failureThreshold: 3, openMs: 3 * 60_000, launchDeadlineMs: 60_000 },
  dwellMs: 10 * 60_000,
  permits: { globalMax: 24, perSnapshotMax: 16, min: 1, slowMs: 45_000, decreaseEveryMs: 5000 },
  buildWaitMs: 30 * 60_000,
  alertWaitMs: 5 * 60_000,
  shareAfterMs: 60_000,
  maxLaunchTries: 3,
  launchTimeoutMs: 5 * 60_000,
  maxQueued: 10_000,
  tickMs: 1000,
  cloneIdleMs: 2 * 60_000,
  primaryIdleMs: 15 * 60_000,
  snapshot: { minIntervalMs: 10 * 60_000, maxAgeMs: 60 * 60_000, drainAfterMs: 30 * 60_000 },
  healthIntervalMs: 5000,
};

export interface ClaimRequest {
  buildId: string;
  projectId: string;
  platform: string;
  scaling: ScalingSettings;
  /** For messages: the project's name. */
  projectName?: string;
  /** When the build was created; its wait counts from here. Now when absent. */
  queuedAtMs?: number;
}

export interface FleetBuilder {
  id: string;
  projectId: string;
  platform: string;
  pool: string;
  role: BuilderRole;
  snapshotId?: string;
  state: FleetState;
  running?: RunningBuilder;
  /** Builds holding a slot on it (claim keys). */
  claims: Set<string>;
  idleSinceMs: number;
  busySinceMs: number | null;
  /** Builds finished on it since its current snapshot. */
  dirty: boolean;
  launchedAtMs: number;
  lastError?: string;
}

export type ClaimStatus =
  | {
      state: 'assigned';
      builder: FleetBuilder;
      running: RunningBuilder;
      pool: string;
      /** Served by a later pool than the project's preferred one: a fresh cache. */
      coldCache: boolean;
      shared: boolean;
    }
  | { state: 'waiting'; reason: string; retryAfterMs: number }
  | { state: 'failed'; reason: string; code: 'wait_exceeded' | 'launch_failed' | 'queue_full' }
  | { state: 'unknown' };

interface Claim {
  key: string;
  req: ClaimRequest;
  queuedMs: number;
  builderId?: string;
  shared: boolean;
  pool?: string;
  reason: string;
  tries: number;
  lastError?: string;
  failed?: { reason: string; code: 'wait_exceeded' | 'launch_failed' | 'queue_full' };
  alerted: boolean;
  waiters: (() => void)[];
}

interface SnapshotRecord {
  id: string;
  group: string;
  builderId: string;
  createdMs: number;
  current: boolean;
}

export interface AdoptedBuilder {
  id: string;
  projectId: string;
  platform: string;
  pool: string;
  role: BuilderRole;
  snapshotId?: string;
  /** Does its daemon still run (the provider lists it running)? */
  running: boolean;
  /** The builds on it when the server stopped. */
  claims: ClaimRequest[];
}

/**
 * What happened to a builder. `restarted`: the same builder runs again under a new process or pod
 * (a snapshot stopped and restarted it), so its pid and start time change but it is no restart
 * of the kind a crash is.
 */
export type BuilderEvent = 'starting' | 'running' | 'restarted' | 'failed' | 'stopped' | 'destroyed';

export interface ProvisionerHooks {
  /** The stable id of the primary of (project, platform, pool); its cache is keyed by it. */
  primaryId(projectId: string, platform: string, pool: string): Promise<string>;
  newBuilderId(): string;
  newSnapshotId(): string;
  builderChanged(b: FleetBuilder, event: BuilderEvent): Promise<void> | void;
  claimFailed(buildId: string, platform: string, reason: string): Promise<void> | void;
  waitAlert(buildId: string, platform: string, waitedMs: number): void;
  /**
   * Asked before an idle builder is stopped or destroyed: a reason to keep it, or null. This
   * provisioner only knows its own claims; with several replicas another one may have placed a
   * build on the builder, and the database knows.
   */
  retireVeto(builderId: string): Promise<string | null> | string | null;
  /** After each reconcile pass: claims may have been placed (the leader publishes placements). */
  reconciled(): void;
}

export interface ProvisionerLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

const silent: ProvisionerLog = { info() {}, warn() {}, error() {} };

let seq = 0;
const defaultHooks: ProvisionerHooks = {
  primaryId: (p, plat, pool) => Promise.resolve(`bkr_${p}_${plat.replace(/\W/g, '')}_${pool}`),
  newBuilderId: () => `bkr_c${(seq++).toString(36)}`,
  newSnapshotId: () => `snap_${(seq++).toString(36)}`,
  builderChanged: () => undefined,
  claimFailed: () => undefined,
  waitAlert: () => undefined,
  retireVeto: () => null,
  reconciled: () => undefined,
};

export interface ProvisionerOptions {
  pools: PoolSpec[];
  clock: ProvisioningClock;
  limits?: Partial<ProvisioningLimits>;
  hooks?: Partial<ProvisionerHooks>;
  log?: ProvisionerLog;
  random?: () => number;
}

export interface ProvisionerStats {
  waitAlerts: number;
  failedWaits: number;
  failedLaunchTries: number;
  /** Builders the provider answered with a failure (any kind). */
  failedLaunches: number;
  snapshotsTaken: number;
  snapshotsDeleted: number;
  drains: number;
  sharedPlacements: number;
  clonesStarted: number;
  /** Longest a build waited for a builder. */
  maxWaitMs: number;
}

const groupKey = (projectId: string, platform: string, pool: string): string =>
  `${projectId}|${platform}|${pool}`;

export class Provisioner {
  readonly limits: ProvisioningLimits;
  readonly pools: Pool[];
  readonly permits: ClonePermits;
  readonly builders = new Map<string, FleetBuilder>();
  private readonly claims = new Map<string, Claim>();
  private readonly snapshots = new Map<string, SnapshotRecord>();
  private readonly projectPool = new Map<string, { index: number; since: number }>();
  private readonly groupBackoff = new Map<string, { failures: number; until: number }>();
  private readonly snapshotting = new Set<string>();
  private readonly projectBuckets = new Map<string, TokenBucket>();
  private readonly hooks: ProvisionerHooks;
  private readonly log: ProvisionerLog;
  private readonly random: () => number;
  private running: Promise<void> | null = null;
  private again = false;
  private cancelTick: (() => void) | null = null;
  private lastHealth = 0;
  private checkingHealth = false;
  private closed = false;
  readonly stats: ProvisionerStats = {
    waitAlerts: 0,
    failedWaits: 0,
    failedLaunchTries: 0,
    failedLaunches: 0,
    snapshotsTaken: 0,
    snapshotsDeleted: 0,
    drains: 0,
    sharedPlacements: 0,
    clonesStarted: 0,
    maxWaitMs: 0,
  };

  constructor(private readonly opts: ProvisionerOptions) {
    if (opts.pools.length === 0) throw new Error('the provisioner needs at least one pool');
    this.limits = { ...DEFAULT_LIMITS, ...opts.limits };
    this.hooks = { ...defaultHooks, ...opts.hooks };
    this.log = opts.log ?? silent;
    this.random = opts.random ?? Math.random;
    const now = opts.clock.nowMs();
    const globalRequests = new TokenBucket(this.limits.globalRequests, now);
    const globalResources = new TokenBucket(this.limits.globalResources, now);
    const shared = {
      globalRequests,
      globalResources,
      project: (id: string) => {
        let b = this.projectBuckets.get(id);
        if (!b) {
          b = new TokenBucket(this.limits.projectResources, opts.clock.nowMs());
          this.projectBuckets.set(id, b);
        }
        return b;
      },
    };
    this.pools = opts.pools.map(
      (p, i) =>
        new Pool(p, i, this.limits, shared, opts.clock, this.random, (spec) => {
          // A launch answered after its timeout: nothing may keep running unaccounted for.
          void p.provider.destroy(spec.id).catch(() => undefined);
        }),
    );
    this.permits = new ClonePermits(this.limits.permits);
  }

  private get clock(): ProvisioningClock {
    return this.opts.clock;
  }

  pool(name: string): Pool {
    const p = this.pools.find((x) => x.name === name);
    if (!p) throw new Error(`no pool named ${name}`);
    return p;
  }

  /** Starts the periodic reconcile. */
  start(): void {
    this.schedule();
  }

  private schedule(): void {
    if (this.closed) return;
    this.cancelTick?.();
    this.cancelTick = this.clock.after(this.limits.tickMs, () => {
      this.cancelTick = null;
      void this.reconcile().finally(() => this.schedule());
    });
  }

  close(): void {
    this.closed = true;
    this.cancelTick?.();
    for (const c of this.claims.values()) this.wake(c);
  }

  // ---- claims ----

  /**
   * Registers a build's need for a builder of one platform (idempotent: a poll again refreshes
   * its settings) and answers where it stands now.
   */
  request(req: ClaimRequest): ClaimStatus {
    const key = `${req.buildId}|${req.platform}`;
    this.noteScaling(req.projectId, req.platform, req.scaling);
    let c = this.claims.get(key);
    if (!c) {
      const waiting = [...this.claims.values()].filter((x) => !x.builderId && !x.failed).length;
      if (waiting >= this.limits.maxQueued) {
        return {
          state: 'failed',
          code: 'queue_full',
          reason: `the build queue of this server is full (${waiting} builds wait for a builder, at most ${this.limits.maxQueued})`,
        };
      }
      c = {
        key,
        req,
        queuedMs: req.queuedAtMs ?? this.clock.nowMs(),
        shared: false,
        reason: 'waiting for the provisioner',
        tries: 0,
        alerted: false,
        waiters: [],
      };
      this.claims.set(key, c);
      this.kick();
    } else {
      c.req = { ...req, queuedAtMs: c.queuedMs };
    }
    return this.statusOf(c);
  }

  /** Registers the claim and waits up to `waitMs` for it to be placed (or to fail). */
  async acquire(req: ClaimRequest, waitMs: number): Promise<ClaimStatus> {
    const first = this.request(req);
    if (first.state !== 'waiting') return first;
    const c = this.claims.get(`${req.buildId}|${req.platform}`)!;
    await this.reconcile();
    if (c.builderId || c.failed || waitMs <= 0 || !this.changeComing(c)) return this.statusOf(c);
    await new Promise<void>((resolve) => {
      const cancel = this.clock.after(waitMs, done);
      function done(): void {
        cancel();
        resolve();
      }
      c.waiters.push(done);
    });
    return this.statusOf(c);
  }

  /** Is a builder of the claim's group on its way (starting, snapshotting, or about to launch)? */
  private changeComing(c: Claim): boolean {
    if (!c.pool) return false;
    const group = [...this.builders.values()].filter(
      (b) => b.projectId === c.req.projectId && b.platform === c.req.platform && b.pool === c.pool,
    );
    if (!group.some((b) => b.state === 'running')) return true;
    return group.some((b) => b.state === 'starting' || b.state === 'snapshotting');
  }

  /** Keys (build|platform) of every claim this provisioner holds. */
  claimKeys(): Set<string> {
    return new Set(this.claims.keys());
  }

  status(buildId: string, platform: string): ClaimStatus {
    const c = this.claims.get(`${buildId}|${platform}`);
    return c ? this.statusOf(c) : { state: 'unknown' };
  }

  private statusOf(c: Claim): ClaimStatus {
    if (c.failed) return { state: 'failed', ...c.failed };
    if (c.builderId) {
      const b = this.builders.get(c.builderId);
      if (b?.running && b.state !== 'stopped') {
        return {
          state: 'assigned',
          builder: b,
          running: b.running,
          pool: b.pool,
          coldCache: this.pool(b.pool).index > 0,
          shared: c.shared,
        };
      }
    }
    return { state: 'waiting', reason: c.reason, retryAfterMs: 1000 };
  }

  /** The build ended (or gave this platform up): its slots free now. */
  release(buildId: string): void {
    let any = false;
    for (const [key, c] of this.claims) {
      if (c.req.buildId !== buildId) continue;
      this.claims.delete(key);
      any = true;
      if (!c.builderId) continue;
      const b = this.builders.get(c.builderId);
      if (!b) continue;
      b.claims.delete(key);
      b.dirty = true;
      if (b.claims.size === 0) {
        b.idleSinceMs = this.clock.nowMs();
        b.busySinceMs = null;
      }
    }
    if (any) this.kick();
  }

  /** The builder crashed or was found unhealthy: its builds lose it and are placed again. */
  builderLost(id: string, why: string): void {
    const b = this.builders.get(id);
    if (!b) return;
    this.log.warn({ builder_id: id, reason: why }, 'builder lost; its builds get another');
    for (const key of b.claims) {
      const c = this.claims.get(key);
      if (c) {
        c.builderId = undefined;
        c.reason = `builder ${b.platform} is being replaced (${why})`;
      }
    }
    b.claims.clear();
    if (b.role === 'clone') {
      this.builders.delete(id);
      void this.providerOf(b)
        .destroy(id)
        .catch(() => undefined);
      void this.hooks.builderChanged(b, 'destroyed');
    } else {
      b.state = 'stopped';
      b.running = undefined;
      void this.hooks.builderChanged(b, 'stopped');
    }
    this.kick();
  }

  /** After a server restart: builders with state (running or not) and the builds on them. */
  adopt(list: AdoptedBuilder[]): void {
    const now = this.clock.nowMs();
    for (const a of list) {
      if (this.builders.has(a.id)) continue;
      const b: FleetBuilder = {
        id: a.id,
        projectId: a.projectId,
        platform: a.platform,
        pool: a.pool,
        role: a.role,
        snapshotId: a.snapshotId,
        state: 'stopped',
        claims: new Set(),
        idleSinceMs: now,
        busySinceMs: null,
        dirty: false,
        launchedAtMs: now,
      };
      this.builders.set(a.id, b);
      for (const r of a.claims) {
        const key = `${r.buildId}|${r.platform}`;
        this.claims.set(key, {
          key,
          req: r,
          queuedMs: r.queuedAtMs ?? now,
          builderId: a.id,
          shared: false,
          reason: '',
          tries: 0,
          alerted: true,
          waiters: [],
        });
        b.claims.add(key);
      }
      if (b.claims.size) b.busySinceMs = now;
      // Launching adopts a builder that still runs, or starts one its builds need again.
      if (a.running || b.claims.size > 0) this.launchBuilder(this.pool(a.pool), b);
    }
  }

  adoptSnapshot(s: { id: string; builderId: string; createdMs: number }): void {
    const b = this.builders.get(s.builderId);
    if (!b) return;
    const group = groupKey(b.projectId, b.platform, b.pool);
    const newer = [...this.snapshots.values()].some((x) => x.group === group && x.createdMs > s.createdMs);
    if (!newer) for (const x of this.snapshots.values()) if (x.group === group) x.current = false;
    this.snapshots.set(s.id, { ...s, group, current: !newer });
  }

  // ---- the reconciler ----

  /** Wakes the reconciler soon (coalesced). */
  private kick(): void {
    void this.reconcile();
  }

  reconcile(): Promise<void> {
    if (this.closed) return Promise.resolve();
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      do {
        this.again = false;
        try {
          await this.reconcileOnce();
        } catch (err) {
          this.log.error({ err: errorMessage(err) }, 'provisioning reconcile failed');
        }
        this.hooks.reconciled();
      } while (this.again && !this.closed);
    })().finally(() => (this.running = null));
    return this.running;
  }

  private providerOf(b: FleetBuilder) {
    return this.pool(b.pool).provider;
  }

  private view(b: FleetBuilder): BuilderView {
    return { id: b.id, role: b.role, state: b.state, load: b.claims.size };
  }

  private groupBuilders(projectId: string, platform: string, pool: string): FleetBuilder[] {
    return [...this.builders.values()].filter(
      (b) => b.projectId === projectId && b.platform === platform && b.pool === pool,
    );
  }

  private currentSnapshot(group: string): SnapshotRecord | undefined {
    return [...this.snapshots.values()].find((s) => s.group === group && s.current);
  }

  /** The pool new builds of this project go to: the first that accepts builds, with dwell. */
  private poolFor(projectId: string, now: number): Pool | null {
    const accepting = this.pools.map((p) => p.breaker.acceptsBuilds(now));
    const next = choosePool(accepting, this.projectPool.get(projectId), now, this.limits.dwellMs);
    if (!next) return null;
    const prev = this.projectPool.get(projectId);
    if (!prev || prev.index !== next.index) {
      if (prev) {
        this.log.warn(
          { project_id: projectId, from: this.pools[prev.index]!.name, to: this.pools[next.index]!.name },
          next.index > prev.index
            ? 'project moved to the next pool: new builds start there with a fresh cache'
            : 'project returned to its preferred pool after the dwell time',
        );
      }
      this.projectPool.set(projectId, next);
    }
    return this.pools[next.index]!;
  }

  private async reconcileOnce(): Promise<void> {
    const now = this.clock.nowMs();
    const waiting = [...this.claims.values()]
      .filter((c) => !c.builderId && !c.failed)
      .sort((a, b) => a.queuedMs - b.queuedMs || (a.key < b.key ? -1 : 1));

    // 1. Bounded wait: alert at five minutes, fail at --build-wait, saying what was busy.
    for (const c of waiting) {
      const waited = now - c.queuedMs;
      if (waited >= this.limits.alertWaitMs && !c.alerted) {
        c.alerted = true;
        this.stats.waitAlerts++;
        this.log.error(
          {
            build_id: c.req.buildId,
            platform: c.req.platform,
            waited_ms: waited,
            why: this.describeBusy(c, now),
          },
          `build ${c.req.buildId} has waited more than ${Math.round(this.limits.alertWaitMs / 60_000)} minutes for a builder`,
        );
        this.hooks.waitAlert(c.req.buildId, c.req.platform, waited);
      }
      if (waited >= this.limits.buildWaitMs) {
        this.fail(
          c,
          'wait_exceeded',
          `no ${c.req.platform} builder within ${Math.round(this.limits.buildWaitMs / 1000)} s (--build-wait): ${this.describeBusy(c, now)}`,
        );
      }
    }

    // 2. Placement, oldest first, each waiting build on the pool its project uses now.
    const byGroup = new Map<string, FleetBuilder[]>();
    for (const b of this.builders.values()) {
      const k = groupKey(b.projectId, b.platform, b.pool);
      const list = byGroup.get(k);
      if (list) list.push(b);
      else byGroup.set(k, [b]);
    }
    const ahead = new Map<string, number>();
    for (const c of waiting) {
      if (c.failed) continue;
      const pool = this.poolFor(c.req.projectId, now);
      if (!pool) {
        c.reason = `every pool is unavailable: ${this.pools.map((p) => `${p.name}: ${p.describe(now)}`).join('; ')}`;
        continue;
      }
      c.pool = pool.name;
      const k = groupKey(c.req.projectId, c.req.platform, pool.name);
      const builders = byGroup.get(k) ?? [];
      const s = c.req.scaling;
      const canClone = this.canClone(pool, s);
      const up = builders.filter((b) => b.state !== 'stopped').length;
      // A clone may come only from a snapshot (current or being taken) and below the maximum.
      const cloneMayCome =
        canClone &&
        (builders.some((b) => b.state === 'starting' && b.role === 'clone') ||
          (up < s.maxBuildersPerPlatform && (!!this.currentSnapshot(k) || this.snapshotting.has(k))));
      const d = placeBuild(
        builders.map((b) => this.view(b)),
        s,
        now - c.queuedMs,
        this.limits.shareAfterMs,
        cloneMayCome,
      );
      if (d.kind === 'use') {
        this.assign(c, this.builders.get(d.builderId)!, d.shared, now);
        continue;
      }
      const n = ahead.get(k) ?? 0;
      ahead.set(k, n + 1);
      const poolNote = pool.describe(now);
      c.reason =
        `builder ${c.req.platform}${c.req.projectName ? ` of project ${c.req.projectName}` : ''} is ${d.reason}` +
        (d.reason.startsWith('busy') ? `, ${n} build(s) ahead in the queue` : '') +
        (c.lastError ? `; the builder failed to start (${c.lastError})` : '') +
        (poolNote ? `; pool ${pool.name}: ${poolNote}` : '');
    }

    // 3. Launch the difference between demand and builders up, per (project, platform, pool).
    const groups = new Map<
      string,
      {
        projectId: string;
        platform: string;
        pool: Pool;
        scaling: ScalingSettings;
        demand: number;
        total: number;
        oldestWait: number;
      }
    >();
    for (const c of this.claims.values()) {
      if (c.failed) continue;
      const poolName = c.builderId ? this.builders.get(c.builderId)?.pool : c.pool;
      if (!poolName) continue;
      const k = groupKey(c.req.projectId, c.req.platform, poolName);
      const g = groups.get(k) ?? {
        projectId: c.req.projectId,
        platform: c.req.platform,
        pool: this.pool(poolName),
        scaling: c.req.scaling,
        demand: 0,
        total: 0,
        oldestWait: 0,
      };
      // Builds already sharing a builder stay there (running builds never move): more builders
      // would not help them, so they are not demand for launches; they do show clones are wanted.
      if (!c.shared) g.demand++;
      g.total++;
      if (!c.builderId) g.oldestWait = Math.max(g.oldestWait, now - c.queuedMs);
      groups.set(k, g);
    }
    for (const [k, g] of groups) await this.launchFor(k, g, now);

    // 4. A pool whose oldest waiting build has no running builder in time opens its breaker.
    for (const p of this.pools) {
      let oldest = 0;
      for (const [k, g] of groups) {
        if (g.pool !== p || g.oldestWait === 0) continue;
        const running = this.groupBuilders(g.projectId, g.platform, p.name).some(
          (b) => b.state === 'running',
        );
        if (!running && !this.snapshotting.has(k)) oldest = Math.max(oldest, g.oldestWait);
      }
      if (oldest > 0) p.breaker.onOldestWait(oldest, now);
    }

    // 5. Snapshots, idle builders, superseded snapshots.
    await this.snapshotsAndIdle(groups, now);

    // 6. Health of running builders, now and then.
    if (this.limits.healthIntervalMs > 0 && now - this.lastHealth >= this.limits.healthIntervalMs) {
      this.lastHealth = now;
      if (!this.checkingHealth) {
        this.checkingHealth = true;
        void this.checkHealth().finally(() => (this.checkingHealth = false));
      }
    }
  }

  private canClone(pool: Pool, s: ScalingSettings): boolean {
    return (
      s.autoscaling &&
      s.buildsPerBuilder !== null &&
      s.maxBuildersPerPlatform > 1 &&
      pool.provider.capabilities().cloneMethod !== 'none'
    );
  }

  private assign(c: Claim, b: FleetBuilder, shared: boolean, now: number): void {
    c.builderId = b.id;
    c.shared = shared;
    c.reason = '';
    if (shared) this.stats.sharedPlacements++;
    if (b.claims.size === 0) b.busySinceMs = now;
    b.claims.add(c.key);
    const waited = now - c.queuedMs;
    this.stats.maxWaitMs = Math.max(this.stats.maxWaitMs, waited);
    this.wake(c);
  }

  private fail(c: Claim, code: 'wait_exceeded' | 'launch_failed', reason: string): void {
    c.failed = { code, reason };
    if (code === 'wait_exceeded') this.stats.failedWaits++;
    else this.stats.failedLaunchTries++;
    this.log.warn({ build_id: c.req.buildId, platform: c.req.platform, reason }, 'build gets no builder');
    void Promise.resolve(this.hooks.claimFailed(c.req.buildId, c.req.platform, reason)).catch(
      () => undefined,
    );
    this.wake(c);
  }

  private wake(c: Claim): void {
    const w = c.waiters;
    c.waiters = [];
    for (const f of w) f();
  }

  /** What kept a build waiting, for its failure message. */
  private describeBusy(c: Claim, now: number): string {
    const parts: string[] = [];
    for (const p of this.pools) {
      const d = p.describe(now);
      if (d) parts.push(`pool ${p.name}: ${d}`);
    }
    const builders = [...this.builders.values()].filter(
      (b) => b.projectId === c.req.projectId && b.platform === c.req.platform,
    );
    const busy = builders.filter((b) => b.state === 'running').map((b) => b.claims.size);
    if (busy.length)
      parts.push(`${busy.length} builder(s) of the project busy with ${busy.join('+')} build(s)`);
    const starting = builders.filter((b) => b.state === 'starting').length;
    if (starting) parts.push(`${starting} builder(s) still starting`);
    if (c.lastError) parts.push(`last start failed: ${c.lastError}`);
    if (parts.length === 0) parts.push(c.reason || 'no builder could be started');
    return parts.join('; ');
  }

  private async launchFor(
    k: string,
    g: { projectId: string; platform: string; pool: Pool; scaling: ScalingSettings; demand: number },
    now: number,
  ): Promise<void> {
    const builders = this.groupBuilders(g.projectId, g.platform, g.pool.name);
    const snap = this.currentSnapshot(k);
    const canClone = this.canClone(g.pool, g.scaling);
    const plan = launchPlan(
      builders.map((b) => this.view(b)),
      g.scaling,
      g.demand,
      canClone && snap !== undefined,
    );
    if (!plan.primary && plan.clones === 0) return;
    const back = this.groupBackoff.get(k);
    if (back && now < back.until) return;
    if (!g.pool.canLaunch(now)) return;
    let room = g.pool.launchRoom(now);
    if (plan.primary && room > 0) {
      room--;
      let b = builders.find((x) => x.role === 'primary');
      if (!b) {
        const id = await this.hooks.primaryId(g.projectId, g.platform, g.pool.name);
        b = this.builders.get(id);
        if (!b) {
          b = this.newBuilder(id, g, 'primary', undefined, now);
          this.builders.set(id, b);
        }
      }
      if (b.state === 'stopped') this.launchBuilder(g.pool, b);
    }
    for (let i = 0; i < plan.clones && room > 0 && snap; i++) {
      const permit = this.permits.tryAcquire(snap.id);
      if (!permit) break;
      room--;
      const b = this.newBuilder(this.hooks.newBuilderId(), g, 'clone', snap.id, now);
      this.builders.set(b.id, b);
      this.stats.clonesStarted++;
      this.launchBuilder(g.pool, b, permit);
    }
  }

  private newBuilder(
    id: string,
    g: { projectId: string; platform: string; pool: Pool },
    role: BuilderRole,
    snapshotId: string | undefined,
    now: number,
  ): FleetBuilder {
    return {
      id,
      projectId: g.projectId,
      platform: g.platform,
      pool: g.pool.name,
      role,
      snapshotId,
      state: 'stopped',
      claims: new Set(),
      idleSinceMs: now,
      busySinceMs: null,
      dirty: false,
      launchedAtMs: now,
    };
  }

  private launchBuilder(pool: Pool, b: FleetBuilder, permit?: ClonePermit): void {
    const started = this.clock.nowMs();
    b.state = 'starting';
    b.launchedAtMs = started;
    void this.hooks.builderChanged(b, 'starting');
    const spec: BuilderSpec = {
      id: b.id,
      projectId: b.projectId,
      platform: b.platform,
      role: b.role,
      ...(b.snapshotId ? { snapshotId: b.snapshotId } : {}),
      ...(this.limits.maxUsedSpaceBytes ? { maxUsedSpaceBytes: this.limits.maxUsedSpaceBytes } : {}),
    };
    const flight = (this.ops.get(b.id) ?? Promise.resolve())
      .then(() => pool.launch(spec))
      .catch((err: unknown): LaunchResult => ({
        ok: false,
        error: err instanceof ProvisionError ? err : new ProvisionError('transient', errorMessage(err)),
      }))
      .then((r) => this.launched(pool, b, r, started, permit))
      .finally(() => this.inflight.delete(flight));
    this.inflight.add(flight);
  }

  /** Launches not answered yet. */
  private readonly inflight = new Set<Promise<void>>();

  private async launched(
    pool: Pool,
    b: FleetBuilder,
    r: LaunchResult,
    started: number,
    permit?: ClonePermit,
  ): Promise<void> {
    const now = this.clock.nowMs();
    const k = groupKey(b.projectId, b.platform, b.pool);
    if (r.ok) {
      permit?.done(true, now - started, now);
      this.groupBackoff.delete(k);
      b.state = 'running';
      b.running = r.builder;
      b.lastError = undefined;
      if (b.claims.size === 0) b.idleSinceMs = now;
      this.log.info(
        { builder_id: b.id, pool: b.pool, role: b.role, adopted: r.builder.adopted, ms: now - started },
        r.builder.adopted ? 'builder adopted' : 'builder started',
      );
      await this.hooks.builderChanged(b, 'running');
      for (const key of b.claims) {
        const c = this.claims.get(key);
        if (c) this.wake(c);
      }
    } else {
      const err = r.error;
      const local = err instanceof LocalRefusal;
      if (permit) {
        if (local) permit.done(true, this.limits.permits.slowMs / 2 + 1, now);
        else permit.done(false, now - started, now);
      }
      b.lastError = err.message;
      if (!local) this.stats.failedLaunches++;
      // A builder that failed to start is not retried in place: a clone is destroyed, a primary
      // (whose cache must survive) goes back to stopped; demand decides what comes next.
      const held = [...b.claims];
      b.claims.clear();
      for (const key of held) {
        const c = this.claims.get(key);
        if (c) c.builderId = undefined;
      }
      if (b.role === 'clone') {
        this.builders.delete(b.id);
        if (!local) await pool.provider.destroy(b.id).catch(() => undefined);
        await this.hooks.builderChanged(b, 'destroyed');
      } else {
        b.state = 'stopped';
        b.running = undefined;
        await this.hooks.builderChanged(b, local ? 'stopped' : 'failed');
      }
      if (!local) {
        this.log.warn(
          { builder_id: b.id, pool: b.pool, kind: err.kind, err: err.message },
          'builder failed to start',
        );
        if (err.kind === 'transient' || err.kind === 'permanent') {
          const back = this.groupBackoff.get(k) ?? { failures: 0, until: 0 };
          back.failures++;
          back.until = now + Math.max(500, fullJitter(back.failures, this.limits.backoff, this.random));
          this.groupBackoff.set(k, back);
          // The oldest waiting build of the group pays one try; past the bound it fails.
          const victim = [...this.claims.values()]
            .filter(
              (c) =>
                !c.builderId &&
                !c.failed &&
                c.pool === b.pool &&
                c.req.projectId === b.projectId &&
                c.req.platform === b.platform,
            )
            .sort((x, y) => x.queuedMs - y.queuedMs)[0];
          if (victim) {
            victim.tries++;
            victim.lastError = err.message;
            if (victim.tries >= this.limits.maxLaunchTries) {
              this.fail(
                victim,
                'launch_failed',
                `builder ${b.platform} could not start after ${victim.tries} attempts: ${err.message}`,
              );
            }
          }
        }
      }
    }
    this.kick();
  }

  private async snapshotsAndIdle(
    groups: Map<
      string,
      {
        projectId: string;
        platform: string;
        pool: Pool;
        scaling: ScalingSettings;
        demand: number;
        total: number;
      }
    >,
    now: number,
  ): Promise<void> {
    // Snapshot or drain primaries of autoscaled groups.
    const seen = new Set<string>();
    for (const b of this.builders.values()) {
      if (b.role !== 'primary') continue;
      const k = groupKey(b.projectId, b.platform, b.pool);
      seen.add(k);
      const g = groups.get(k);
      const scaling = g?.scaling ?? this.lastScaling(b);
      if (!scaling || !this.canClone(this.pool(b.pool), scaling) || this.snapshotting.has(k)) continue;
      const wantClones = !!g && g.total > (scaling.buildsPerBuilder ?? Infinity);
      const d = snapshotDecision(
        {
          state: b.state === 'running' ? 'running' : b.state === 'draining' ? 'draining' : 'other',
          load: b.claims.size,
          dirty: b.dirty,
          busySinceMs: b.busySinceMs,
        },
        this.currentSnapshot(k),
        wantClones,
        now,
        this.limits.snapshot,
      );
      if (d === 'drain') {
        b.state = 'draining';
        this.stats.drains++;
        this.log.info({ builder_id: b.id }, 'primary drained: no new builds until its snapshot is taken');
      } else if (d === 'snapshot') {
        void this.takeSnapshot(k, b);
      }
    }
    // Superseded snapshots no clone uses go.
    const usedBy = (id: string) => [...this.builders.values()].filter((b) => b.snapshotId === id).length;
    for (const id of deletableSnapshots(
      [...this.snapshots.values()].map((s) => ({ id: s.id, current: s.current, usedBy: usedBy(s.id) })),
    )) {
      const s = this.snapshots.get(id)!;
      const owner = this.builders.get(s.builderId);
      this.snapshots.delete(id);
      this.stats.snapshotsDeleted++;
      const provider = owner ? this.providerOf(owner) : this.pools[0]!.provider;
      await provider
        .deleteSnapshot(id)
        .catch((err: unknown) =>
          this.log.warn({ snapshot_id: id, err: errorMessage(err) }, 'snapshot delete failed'),
        );
    }
    // Idle clones stop (and go) first; an idle primary stops, cache kept, once no clone of it runs.
    const clones = [...this.builders.values()].filter((b) => b.role === 'clone' && b.state === 'running');
    for (const id of idleClones(
      clones.map((b) => ({ id: b.id, load: b.claims.size, idleSinceMs: b.idleSinceMs })),
      now,
      this.limits.cloneIdleMs,
    )) {
      const b = this.builders.get(id);
      if (!b || !(await this.mayRetire(b, now))) continue;
      this.builders.delete(id);
      this.log.info({ builder_id: id }, 'idle clone destroyed');
      this.serialize(id, async () => {
        await this.providerOf(b)
          .destroy(id)
          .catch(() => undefined);
        await this.hooks.builderChanged(b, 'destroyed');
      });
    }
    for (const b of [...this.builders.values()]) {
      if (b.role !== 'primary' || b.state !== 'running' || b.claims.size > 0) continue;
      if (now - b.idleSinceMs < this.limits.primaryIdleMs) continue;
      const clonesUp = [...this.builders.values()].some(
        (x) =>
          x.role === 'clone' && x.projectId === b.projectId && x.platform === b.platform && x.pool === b.pool,
      );
      if (clonesUp || !(await this.mayRetire(b, now))) continue;
      b.state = 'stopped';
      b.running = undefined;
      this.log.info({ builder_id: b.id, why: 'idle' }, 'builder stopped; cache kept');
      this.serialize(b.id, async () => {
        await this.providerOf(b)
          .stop(b.id)
          .catch(() => undefined);
        await this.hooks.builderChanged(b, 'stopped');
      });
    }
  }

  /**
   * Still idle after asking the hooks (an await: a claim may have come meanwhile)? A vetoed builder
   * counts as busy now, so it is asked again only after another idle period.
   */
  private async mayRetire(b: FleetBuilder, now: number): Promise<boolean> {
    let veto: string | null;
    try {
      veto = await this.hooks.retireVeto(b.id);
    } catch (err) {
      veto = `cannot check its builds: ${errorMessage(err)}`;
    }
    if (veto) {
      b.idleSinceMs = now;
      this.log.info({ builder_id: b.id, why: veto }, 'idle builder kept');
      return false;
    }
    return this.builders.get(b.id) === b && b.state === 'running' && b.claims.size === 0;
  }

  /** Provider calls on one builder run one after another (a launch waits for its stop). */
  private readonly ops = new Map<string, Promise<void>>();
  private serialize(id: string, fn: () => Promise<void>): Promise<void> {
    const p = (this.ops.get(id) ?? Promise.resolve()).then(fn).catch((err: unknown) => {
      this.log.error({ builder_id: id, err: errorMessage(err) }, 'builder operation failed');
    });
    this.ops.set(id, p);
    void p.finally(() => {
      if (this.ops.get(id) === p) this.ops.delete(id);
    });
    return p;
  }

  /** Resolves once no provider call on any builder is in flight (for a clean shutdown). */
  async idle(): Promise<void> {
    while (this.ops.size > 0 || this.inflight.size > 0) {
      await Promise.allSettled([...this.ops.values(), ...this.inflight]);
    }
  }

  private readonly scalingSeen = new Map<string, ScalingSettings>();
  private lastScaling(b: FleetBuilder): ScalingSettings | undefined {
    return this.scalingSeen.get(`${b.projectId}|${b.platform}`);
  }

  private async takeSnapshot(k: string, primary: FleetBuilder): Promise<void> {
    if (primary.claims.size > 0) return;
    this.snapshotting.add(k);
    primary.state = 'snapshotting';
    const id = this.hooks.newSnapshotId();
    const started = this.clock.nowMs();
    try {
      const info = await this.providerOf(primary).snapshot(primary.id, id);
      for (const s of this.snapshots.values()) if (s.group === k) s.current = false;
      this.snapshots.set(id, {
        id,
        group: k,
        builderId: primary.id,
        createdMs: this.clock.nowMs(),
        current: true,
      });
      primary.dirty = false;
      if (info.restarted) {
        primary.running = info.restarted;
        await this.hooks.builderChanged(primary, 'restarted');
      }
      this.stats.snapshotsTaken++;
      this.log.info(
        {
          builder_id: primary.id,
          snapshot_id: id,
          downtime_ms: info.downtimeMs,
          ms: this.clock.nowMs() - started,
        },
        'snapshot taken from the quiesced primary',
      );
    } catch (err) {
      this.log.error(
        { builder_id: primary.id, err: errorMessage(err) },
        'snapshot failed; clones wait for the next one',
      );
      this.groupBackoff.set(k, { failures: 1, until: this.clock.nowMs() + this.limits.backoff.capMs });
    } finally {
      this.snapshotting.delete(k);
      if (primary.state === 'snapshotting') primary.state = primary.running ? 'running' : 'stopped';
      primary.idleSinceMs = this.clock.nowMs();
      this.kick();
    }
  }

  private async checkHealth(): Promise<void> {
    for (const b of [...this.builders.values()]) {
      if (b.state !== 'running' && b.state !== 'draining') continue;
      const h = await this.providerOf(b)
        .health(b.id)
        .catch((err: unknown) => ({ healthy: false as const, reason: errorMessage(err) }));
      if (!h.healthy && this.builders.get(b.id) === b && (b.state === 'running' || b.state === 'draining')) {
        this.builderLost(b.id, h.reason);
      }
    }
  }

  /** Remembers a project's settings for decisions made while no build of it waits. */
  noteScaling(projectId: string, platform: string, s: ScalingSettings): void {
    this.scalingSeen.set(`${projectId}|${platform}`, s);
  }

  /** Builds waiting for a builder and how long the oldest has waited. */
  queue(): { waiting: number; oldestWaitMs: number } {
    const now = this.clock.nowMs();
    const w = [...this.claims.values()].filter((c) => !c.builderId && !c.failed);
    return { waiting: w.length, oldestWaitMs: w.reduce((m, c) => Math.max(m, now - c.queuedMs), 0) };
  }
}
