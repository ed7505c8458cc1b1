/** Most clients tracked at once; past it, idle ones are forgotten first, then the oldest. */
const MAX_CLIENTS = 100_000;

export type RateDecision = { ok: true } | { ok: false; retryAfterSec: number };

/**
 * One token bucket per client key (the peer IP): `ratePerSec` tokens a second, at most `burst`
 * held. Memory stays bounded: a bucket that has refilled is the same as no bucket, so those are
 * dropped when the map grows, and the oldest go if that is not enough.
 */
export class TokenBuckets {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    readonly ratePerSec: number,
    readonly burst: number,
    private readonly now: () => number = () => Date.now(),
  ) {}

  /** Takes one token for `key`; when none is left, says in how many whole seconds one will be. */
  take(key: string): RateDecision {
    const now = this.now();
    let b = this.buckets.get(key);
    if (!b) {
      if (this.buckets.size >= MAX_CLIENTS) this.sweep(now);
      b = { tokens: this.burst, at: now };
      this.buckets.set(key, b);
    } else {
      b.tokens = Math.min(this.burst, b.tokens + ((now - b.at) / 1000) * this.ratePerSec);
      b.at = now;
    }
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return { ok: true };
    }
    return { ok: false, retryAfterSec: Math.max(1, Math.ceil((1 - b.tokens) / this.ratePerSec)) };
  }

  get size(): number {
    return this.buckets.size;
  }

  private sweep(now: number): void {
    const full = (this.burst / this.ratePerSec) * 1000;
    for (const [k, b] of this.buckets) if (now - b.at >= full) this.buckets.delete(k);
    // Still full (many clients at once): forget the least recently inserted tenth.
    let drop = this.buckets.size >= MAX_CLIENTS ? Math.ceil(MAX_CLIENTS / 10) : 0;
    for (const k of this.buckets.keys()) {
      if (drop-- <= 0) break;
      this.buckets.delete(k);
    }
  }
}
