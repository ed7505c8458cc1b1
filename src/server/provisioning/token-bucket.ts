// Token buckets for launch calls, as a cloud API meters them: a request bucket (one token per
// call) and a resource bucket (one token per instance). Time comes from the caller.

export interface BucketSpec {
  /** Most tokens held. */
  burst: number;
  /** Tokens added a second. */
  perSecond: number;
}

export class TokenBucket {
  private tokens: number;
  private at: number;

  constructor(
    readonly spec: BucketSpec,
    nowMs: number,
    initial: number = spec.burst,
  ) {
    this.tokens = Math.min(spec.burst, initial);
    this.at = nowMs;
  }

  private refill(nowMs: number): void {
    if (nowMs > this.at) {
      this.tokens = Math.min(this.spec.burst, this.tokens + ((nowMs - this.at) / 1000) * this.spec.perSecond);
      this.at = nowMs;
    }
  }

  /** Whole tokens available now. */
  available(nowMs: number): number {
    this.refill(nowMs);
    return Math.floor(this.tokens + 1e-9);
  }

  /** Takes `n` tokens, or none when fewer are left. */
  take(n: number, nowMs: number): boolean {
    this.refill(nowMs);
    if (this.tokens + 1e-9 < n) return false;
    this.tokens -= n;
    return true;
  }

  /** Gives back tokens taken for work that did not happen. */
  refund(n: number, nowMs: number): void {
    this.refill(nowMs);
    this.tokens = Math.min(this.spec.burst, this.tokens + n);
  }

  /** Milliseconds until `n` tokens are available (0 when they are); Infinity past the burst. */
  waitMs(n: number, nowMs: number): number {
    this.refill(nowMs);
    if (n > this.spec.burst) return Infinity;
    const missing = n - this.tokens;
    if (missing <= 1e-9) return 0;
    if (this.spec.perSecond <= 0) return Infinity;
    return Math.ceil((missing / this.spec.perSecond) * 1000);
  }
}

/** Takes `n` from every bucket, or from none when one of them is short. */
export function takeAll(buckets: TokenBucket[], n: number, nowMs: number): boolean {
  if (buckets.some((b) => b.available(nowMs) < n)) return false;
  for (const b of buckets) b.take(n, nowMs);
  return true;
}

/** How many of `want` all the buckets allow together now. */
export function allowance(buckets: TokenBucket[], want: number, nowMs: number): number {
  return buckets.reduce((n, b) => Math.min(n, b.available(nowMs)), want);
}

/**
 * The share of a provider's declared limit this server takes: below it, so other users of the
 * same account (a noisy neighbour, a person at the console) keep room.
 */
export function belowLimit(limit: BucketSpec, share: number): BucketSpec {
  return {
    burst: Math.max(1, Math.floor(limit.burst * share)),
    perSecond: Math.max(0.01, limit.perSecond * share),
  };
}
