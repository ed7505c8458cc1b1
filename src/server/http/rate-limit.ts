import type { Db } from '../db/index.js';

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
    if (!b && this.buckets.size >= MAX_CLIENTS) this.sweep(now);
    const r = takeToken(b, now, this.ratePerSec, this.burst);
    if (b) Object.assign(b, r.bucket);
    else this.buckets.set(key, (b = r.bucket));
    return r.decision;
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

export interface Bucket {
  tokens: number;
  /** ms of the last refill. */
  at: number;
}

/**
 * One token from a bucket (a missing bucket is a full one): the decision and the bucket after it.
 * Time never runs backwards for a bucket: replicas whose clocks differ a little refill it from
 * the latest time any of them wrote, never twice for the same interval.
 */
export function takeToken(
  b: Bucket | undefined,
  nowMs: number,
  ratePerSec: number,
  burst: number,
): { decision: RateDecision; bucket: Bucket } {
  const at = Math.max(b?.at ?? nowMs, nowMs);
  const tokens = b ? Math.min(burst, b.tokens + (Math.max(0, nowMs - b.at) / 1000) * ratePerSec) : burst;
  if (tokens >= 1) return { decision: { ok: true }, bucket: { tokens: tokens - 1, at } };
  return {
    decision: { ok: false, retryAfterSec: Math.max(1, Math.ceil((1 - tokens) / ratePerSec)) },
    bucket: { tokens, at },
  };
}

/**
 * takeToken() on a bucket in the database (table rate_buckets), shared by every replica. Call it
 * inside a transaction: the row is locked from the read to the write, so concurrent takes on
 * several replicas queue on it and the limit holds across them. Cost: three short statements
 * (insert-if-absent, locked read, write) in the caller's transaction.
 */
export async function takeSharedToken(
  tx: Db,
  key: string,
  nowMs: number,
  ratePerSec: number,
  burst: number,
): Promise<RateDecision> {
  await tx.run(
    'INSERT INTO rate_buckets (key, tokens, at_ms) VALUES (?, ?, ?) ON CONFLICT (key) DO NOTHING',
    [key, burst, nowMs],
  );
  const row = await tx.get<{ tokens: number | string; at_ms: number | string }>(
    `SELECT tokens, at_ms FROM rate_buckets WHERE key = ?${tx.dialect === 'postgres' ? ' FOR UPDATE' : ''}`,
    [key],
  );
  const r = takeToken(
    row ? { tokens: Number(row.tokens), at: Number(row.at_ms) } : undefined,
    nowMs,
    ratePerSec,
    burst,
  );
  await tx.run('UPDATE rate_buckets SET tokens = ?, at_ms = ? WHERE key = ?', [
    r.bucket.tokens,
    r.bucket.at,
    key,
  ]);
  return r.decision;
}
