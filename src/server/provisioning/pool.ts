// One provider pool ("region"): its share of the provider's launch limits, its batcher, its
// circuit breaker, and the one place where launch calls, throttling answers, backoff and the
// retry budget meet. Nothing else calls the provider's launch.
import {
  ProvisionError,
  type BuilderSpec,
  type LaunchResult,
  type Provider,
} from '../../providers/provider.js';
import { errorMessage } from '../../lib/errors.js';
import { fullJitter, RetryBudget, type BackoffSpec, type RetryBudgetSpec } from './backoff.js';
import { Batcher } from './batcher.js';
import { PoolBreaker, type BreakerSpec } from './breaker.js';
import type { ProvisioningClock } from './clock.js';
import { allowance, belowLimit, TokenBucket, type BucketSpec } from './token-bucket.js';

/** Our own buckets or budget said no: the provider was not asked, and nothing failed. */
export class LocalRefusal extends ProvisionError {
  constructor(message: string, retryAfterMs: number) {
    super('rate-limited', message, { retryAfterMs });
    this.name = 'LocalRefusal';
  }
}

export interface PoolSpec {
  name: string;
  provider: Provider;
}

export interface PoolLimits {
  /** Share of the provider's declared launch limits this server takes (0 < share ≤ 1). */
  limitShare: number;
  batchIdleMs: number;
  batchMaxMs: number;
  backoff: BackoffSpec;
  retryBudget: RetryBudgetSpec;
  breaker: BreakerSpec;
  /** A launch call with no answer after this long counts as failed; what it started is destroyed. */
  launchTimeoutMs: number;
}

export interface SharedBuckets {
  globalRequests: TokenBucket;
  globalResources: TokenBucket;
  project(projectId: string): TokenBucket;
}

export interface PoolStats {
  /** launchBatch calls made to the provider. */
  providerCalls: number;
  /** Builders asked for in those calls. */
  launchesAsked: number;
  launched: number;
  /** Builders the provider answered with an error (throttled ones included). */
  failed: number;
  throttled: number;
  /** Calls made while earlier ones had failed: retries, each paid from the budget. */
  retryCalls: number;
  /** Builders our own buckets or budget held back (no provider call). */
  heldBack: number;
  /** Provider launch calls per whole second of the clock, for rate assertions. */
  callsPerSecond: Map<number, number>;
}

/** With no declared limits (a local provider), the pool's own buckets never bind. */
const UNBOUNDED: BucketSpec = { burst: 1_000_000, perSecond: 1_000_000 };

export class Pool {
  readonly breaker: PoolBreaker;
  readonly budget: RetryBudget;
  readonly requests: TokenBucket;
  readonly resources: TokenBucket;
  pausedUntil = 0;
  pauseReason = '';
  private throttledInARow = 0;
  private failedInARow = 0;
  private lastFailureThrottled = false;
  private readonly batcher: Batcher<BuilderSpec, LaunchResult>;
  readonly stats: PoolStats = {
    providerCalls: 0,
    launchesAsked: 0,
    launched: 0,
    failed: 0,
    throttled: 0,
    retryCalls: 0,
    heldBack: 0,
    callsPerSecond: new Map(),
  };

  constructor(
    readonly spec: PoolSpec,
    readonly index: number,
    private readonly limits: PoolLimits,
    private readonly shared: SharedBuckets,
    private readonly clock: ProvisioningClock,
    private readonly random: () => number,
    private readonly onLeak: (spec: BuilderSpec) => void,
  ) {
    const declared = spec.provider.capabilities().launchLimits;
    const now = clock.nowMs();
    this.requests = new TokenBucket(
      declared
        ? belowLimit(
            { burst: declared.requestBurst, perSecond: declared.requestsPerSecond },
            limits.limitShare,
          )
        : UNBOUNDED,
      now,
    );
    this.resources = new TokenBucket(
      declared
        ? belowLimit(
            { burst: declared.resourceBurst, perSecond: declared.resourcesPerSecond },
            limits.limitShare,
          )
        : UNBOUNDED,
      now,
    );
    this.breaker = new PoolBreaker(limits.breaker);
    this.budget = new RetryBudget(limits.retryBudget);
    // A provider without launch limits (a local one) gains nothing from waiting for a batch.
    this.batcher = new Batcher({
      idleMs: declared ? limits.batchIdleMs : 0,
      maxMs: declared ? limits.batchMaxMs : 0,
      maxItems: Math.max(1, spec.provider.capabilities().maxBatchSize),
      clock,
      exec: (specs) => this.exec(specs),
    });
  }

  get name(): string {
    return this.spec.name;
  }

  get provider(): Provider {
    return this.spec.provider;
  }

  /** May the reconciler queue launches here now? */
  canLaunch(nowMs: number): boolean {
    return nowMs >= this.pausedUntil && this.breaker.allowsLaunch(nowMs);
  }

  /** How many launches the buckets would let through now (the reconciler asks for no more). */
  launchRoom(nowMs: number): number {
    if (this.requests.available(nowMs) < 1 || this.shared.globalRequests.available(nowMs) < 1) return 0;
    // What waits in the open window takes its tokens when the window closes.
    const room =
      allowance([this.resources, this.shared.globalResources], 1_000_000, nowMs) - this.batcher.size;
    return Math.max(0, Math.min(room, this.spec.provider.capabilities().maxBatchSize - this.batcher.size));
  }

  /** Why new launches wait here, or '' when they do not. */
  describe(nowMs: number): string {
    const parts: string[] = [];
    if (nowMs < this.pausedUntil) {
      parts.push(
        `${this.pauseReason}; launches paused for ${Math.ceil((this.pausedUntil - nowMs) / 1000)} s`,
      );
    }
    const st = this.breaker.state(nowMs);
    if (st !== 'closed') parts.push(`circuit breaker ${st} (${this.breaker.reason})`);
    if (parts.length === 0 && this.launchRoom(nowMs) === 0) parts.push('launch rate limit reached');
    return parts.join('; ');
  }

  launch(spec: BuilderSpec): Promise<LaunchResult> {
    this.breaker.onLaunchStart(this.clock.nowMs());
    return this.batcher.add(spec);
  }

  private refuse(specs: BuilderSpec[], why: string, retryAfterMs: number): LaunchResult[] {
    this.stats.heldBack += specs.length;
    return specs.map(() => ({ ok: false, error: new LocalRefusal(why, retryAfterMs) }));
  }

  /** One window of the batcher: at most one provider call, for as many as the buckets allow. */
  private async exec(specs: BuilderSpec[]): Promise<LaunchResult[]> {
    const now = this.clock.nowMs();
    if (now < this.pausedUntil) return this.refuse(specs, this.pauseReason, this.pausedUntil - now);
    const reqBuckets = [this.requests, this.shared.globalRequests];
    if (reqBuckets.some((b) => b.available(now) < 1)) {
      const wait = Math.max(...reqBuckets.map((b) => b.waitMs(1, now)));
      return this.refuse(specs, 'launch call rate limit of this server reached', wait);
    }
    // A call right after failed ones is a retry: the budget pays for it or it does not happen.
    if (this.failedInARow > 0 && !this.budget.tryRetry(this.lastFailureThrottled)) {
      const wait = fullJitter(this.failedInARow, this.limits.backoff, this.random);
      this.pause(now, wait, 'retry budget spent after repeated launch failures');
      return this.refuse(specs, 'retry budget spent after repeated launch failures', wait);
    }
    // Per project first, then the pool and global resource buckets, in order.
    const taken: number[] = [];
    const out: (LaunchResult | null)[] = specs.map(() => null);
    let room = allowance([this.resources, this.shared.globalResources], specs.length, now);
    specs.forEach((s, i) => {
      if (room <= 0) return;
      if (!this.shared.project(s.projectId).take(1, now)) return;
      taken.push(i);
      room--;
    });
    for (let i = 0; i < specs.length; i++) {
      if (!taken.includes(i)) {
        this.stats.heldBack++;
        out[i] = {
          ok: false,
          error: new LocalRefusal('launch rate limit of this server reached (instances a second)', 1000),
        };
      }
    }
    if (taken.length === 0) return out as LaunchResult[];
    for (const b of reqBuckets) b.take(1, now);
    this.resources.take(taken.length, now);
    this.shared.globalResources.take(taken.length, now);
    const batch = taken.map((i) => specs[i]!);
    this.stats.providerCalls++;
    if (this.failedInARow > 0) this.stats.retryCalls++;
    this.stats.launchesAsked += batch.length;
    const sec = Math.floor(now / 1000);
    this.stats.callsPerSecond.set(sec, (this.stats.callsPerSecond.get(sec) ?? 0) + 1);
    // An hour of history is enough to check a rate; a server runs for months.
    if (this.stats.callsPerSecond.size > 3600) {
      for (const k of this.stats.callsPerSecond.keys())
        if (k < sec - 3600) this.stats.callsPerSecond.delete(k);
    }
    const results = await this.callWithTimeout(batch);
    this.account(results);
    taken.forEach((i, k) => (out[i] = results[k]!));
    return out as LaunchResult[];
  }

  private async callWithTimeout(batch: BuilderSpec[]): Promise<LaunchResult[]> {
    let timedOut = false;
    let cancel = (): void => undefined;
    const call = this.provider.launchBatch(batch).then(
      (r) => {
        if (timedOut) for (const [i, x] of r.entries()) if (x.ok) this.onLeak(batch[i]!);
        return r;
      },
      (err: unknown): LaunchResult[] =>
        batch.map(() => ({
          ok: false,
          error:
            err instanceof ProvisionError
              ? err
              : new ProvisionError('transient', errorMessage(err), { cause: err }),
        })),
    );
    const timeout = new Promise<LaunchResult[]>((resolve) => {
      cancel = this.clock.after(this.limits.launchTimeoutMs, () => {
        timedOut = true;
        const msg = `${this.name}: the provider did not answer a launch within ${Math.round(this.limits.launchTimeoutMs / 1000)} s`;
        resolve(batch.map(() => ({ ok: false, error: new ProvisionError('transient', msg) })));
      });
    });
    try {
      return await Promise.race([call, timeout]);
    } finally {
      cancel();
    }
  }

  /** Throttling pauses the whole pool with jittered backoff; any success resets it. */
  private account(results: LaunchResult[]): void {
    const now = this.clock.nowMs();
    let throttle: ProvisionError | null = null;
    let unavailable: ProvisionError | null = null;
    let ok = 0;
    for (const r of results) {
      if (r.ok) {
        ok++;
        continue;
      }
      this.stats.failed++;
      if (r.error.kind === 'rate-limited') {
        this.stats.throttled++;
        throttle ??= r.error;
      } else if (r.error.kind === 'capacity' || r.error.kind === 'quota') {
        unavailable ??= r.error;
      }
    }
    this.stats.launched += ok;
    if (ok > 0) {
      this.budget.onSuccess();
      this.breaker.onSuccess();
      this.failedInARow = 0;
    }
    if (throttle) {
      this.throttledInARow++;
      this.failedInARow++;
      this.lastFailureThrottled = true;
      const wait = Math.max(
        throttle.retryAfterMs ?? 0,
        fullJitter(this.throttledInARow, this.limits.backoff, this.random),
      );
      this.pause(now, wait, `${this.name}: launches throttled by the provider (${throttle.message})`);
      this.breaker.onUnavailable(now, `throttled: ${throttle.message}`);
    } else if (unavailable) {
      this.failedInARow++;
      this.lastFailureThrottled = false;
      const wait = fullJitter(this.failedInARow, this.limits.backoff, this.random);
      this.pause(now, wait, `${this.name}: ${unavailable.kind} (${unavailable.message})`);
      this.breaker.onUnavailable(now, `${unavailable.kind}: ${unavailable.message}`);
    } else if (ok === 0 && results.length > 0) {
      this.failedInARow++;
      this.lastFailureThrottled = false;
    } else {
      this.throttledInARow = 0;
    }
  }

  private pause(nowMs: number, ms: number, why: string): void {
    if (nowMs + ms > this.pausedUntil) {
      this.pausedUntil = nowMs + ms;
      this.pauseReason = why;
    }
  }
}
