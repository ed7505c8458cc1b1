import { isIP } from 'node:net';
import { ipBytes } from '../../lib/der.js';
import type { Db } from '../db/index.js';

/**
 * The client a per-client limit counts: an IPv4 address, or the /64 of an IPv6 one (an IPv6
 * client is handed at least a /64 and can pick any address in it; a limit per address would be a
 * limit per request). An IPv4-mapped IPv6 address is its IPv4 address.
 */
export function clientKey(ip: string): string {
  if (isIP(ip) !== 6) return ip;
  const b = ipBytes(ip);
  if (b.subarray(0, 12).equals(Buffer.from('00000000000000000000ffff', 'hex'))) {
    return [...b.subarray(12)].join('.');
  }
  const groups = [0, 2, 4, 6].map((i) => b.readUInt16BE(i).toString(16));
  return `${groups.join(':')}::/64`;
}

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

/** A limiter's answer: a token, too many (429), or the shared state cannot be read (503). */
export type LimitDecision =
  | { ok: true }
  | { ok: false; retryAfterSec: number; cause: 'limited' }
  | { ok: false; retryAfterSec: number; cause: 'unavailable'; detail: string };

/** A per-client limit, in this process or shared by every replica. */
export interface ClientLimiter {
  readonly ratePerSec: number;
  readonly burst: number;
  /** 'replica': each replica counts on its own; 'shared': one bucket per client for them all. */
  readonly scope: 'replica' | 'shared';
  take(key: string): LimitDecision | Promise<LimitDecision>;
}

/** TokenBuckets as a ClientLimiter: SQLite runs one replica, so its memory is the whole truth. */
export class LocalClientLimiter implements ClientLimiter {
  readonly scope = 'replica' as const;
  private readonly buckets: TokenBuckets;
  constructor(
    readonly ratePerSec: number,
    readonly burst: number,
    now?: () => number,
  ) {
    this.buckets = new TokenBuckets(ratePerSec, burst, now);
  }
  take(key: string): LimitDecision {
    const d = this.buckets.take(key);
    return d.ok ? d : { ...d, cause: 'limited' };
  }
}

/**
 * One token of a shared bucket in one PostgreSQL statement: the row is created full (minus the
 * token) or refilled and drawn under the row lock that ON CONFLICT takes, so concurrent takes on
 * any number of replicas queue on it. The time is the database's (one clock for every replica),
 * unless the caller passes one (tests). A refusal changes nothing and returns no row.
 */
export const TAKE_SHARED_TOKEN_PG = `
INSERT INTO rate_buckets AS b (key, tokens, at_ms)
VALUES (?, ?::float8 - 1, COALESCE(?::bigint, floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint))
ON CONFLICT (key) DO UPDATE SET
  tokens = LEAST(?::float8, b.tokens + GREATEST(0, excluded.at_ms - b.at_ms) / 1000.0 * ?::float8) - 1,
  at_ms = GREATEST(b.at_ms, excluded.at_ms)
WHERE LEAST(?::float8, b.tokens + GREATEST(0, excluded.at_ms - b.at_ms) / 1000.0 * ?::float8) >= 1
RETURNING tokens`;

/**
 * What a replica does with the shared bucket's state, as a pure function of what it remembers.
 * - A client refused a moment ago is refused again from memory until one token can have
 *   refilled (1/rate s): a flood from one address costs the database at most `rate` refusals a
 *   second per replica, not one per request. It can only refuse a little longer than needed,
 *   never grant more than the bucket holds.
 * - After the database failed, every take is refused (503) from memory for `cooldownMs`, then one
 *   take at a time probes it: no retry storm, and no request waits on a dead connection.
 */
export type SharedStep =
  { kind: 'denied'; retryAfterSec: number } | { kind: 'down'; retryAfterSec: number } | { kind: 'ask' };

export interface SharedMemory {
  /** Until when (ms) each recently refused client is refused from memory. */
  deniedUntil: Map<string, number>;
  /** Until when (ms) the database counts as unreachable; 0 when it answered last. */
  downUntil: number;
  /** A take is probing the database after an outage. */
  probing: boolean;
}

export function sharedStep(m: SharedMemory, key: string, nowMs: number): SharedStep {
  const until = m.deniedUntil.get(key);
  if (until !== undefined && until > nowMs) {
    return { kind: 'denied', retryAfterSec: Math.max(1, Math.ceil((until - nowMs) / 1000)) };
  }
  if (m.downUntil > nowMs || (m.downUntil > 0 && m.probing)) {
    return { kind: 'down', retryAfterSec: Math.max(1, Math.ceil((m.downUntil - nowMs) / 1000)) };
  }
  return { kind: 'ask' };
}

/** Seconds a refused client waits: one token's refill, an upper bound of the real wait. */
export const refillSec = (ratePerSec: number): number => Math.max(1, Math.ceil(1 / ratePerSec));

/** Most refused clients remembered; past it the expired go, then the oldest. */
const MAX_DENIED = 100_000;

/**
 * The per-client limit in PostgreSQL, shared by every replica: one bucket row per client
 * (`rate_buckets`, key `<prefix><client>`), one statement per take. See sharedStep() for what a
 * replica answers from memory.
 *
 * When the database cannot be reached (or does not answer within `timeoutMs`) the limiter fails
 * closed, with a 503 that says so: the exchange it guards cannot succeed without the database
 * anyway (the jti and the new token are written there), so refusing costs no exchange that
 * could have worked, and it never lets a flood through to signature checks and JWKS fetches
 * while the shared count is unknown.
 */
export class SharedClientLimiter implements ClientLimiter {
  readonly scope = 'shared' as const;
  private readonly memory: SharedMemory = { deniedUntil: new Map(), downUntil: 0, probing: false };

  constructor(
    private readonly db: Db,
    readonly ratePerSec: number,
    readonly burst: number,
    private readonly opts: {
      /** Key prefix of this limit's rows, e.g. "oidc:". */
      prefix: string;
      /** ms; the local clock, only for what this replica remembers. */
      now?: () => number;
      /** Told once per outage (not per request), with the database's message. */
      onDown?: (err: unknown) => void;
      /** Told when the database answers again after an outage. */
      onUp?: () => void;
      cooldownMs?: number;
      timeoutMs?: number;
      /** Tests: the bucket's time in ms instead of the database clock. */
      bucketNow?: () => number;
    },
  ) {}

  async take(client: string): Promise<LimitDecision> {
    const now = this.opts.now?.() ?? Date.now();
    const step = sharedStep(this.memory, client, now);
    if (step.kind === 'denied') return { ok: false, retryAfterSec: step.retryAfterSec, cause: 'limited' };
    if (step.kind === 'down') return this.unavailable(step.retryAfterSec);
    const probe = this.memory.downUntil > 0;
    if (probe) this.memory.probing = true;
    let granted: boolean;
    try {
      granted = await this.ask(client);
    } catch (err) {
      const cooldown = this.opts.cooldownMs ?? 5000;
      if (this.memory.downUntil === 0) this.opts.onDown?.(err);
      this.memory.downUntil = (this.opts.now?.() ?? Date.now()) + cooldown;
      return this.unavailable(Math.ceil(cooldown / 1000));
    } finally {
      if (probe) this.memory.probing = false;
    }
    if (this.memory.downUntil > 0) {
      this.memory.downUntil = 0;
      this.opts.onUp?.();
    }
    if (granted) {
      this.memory.deniedUntil.delete(client);
      return { ok: true };
    }
    this.remember(client, now + 1000 / this.ratePerSec, now);
    return { ok: false, retryAfterSec: refillSec(this.ratePerSec), cause: 'limited' };
  }

  /** Deletes the rows of clients whose bucket has refilled (the same as no row). */
  async purge(): Promise<number> {
    const fullMs = Math.ceil((this.burst / this.ratePerSec) * 1000);
    const r = await this.db.run(
      `DELETE FROM rate_buckets WHERE key LIKE ? AND at_ms < floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint - ?`,
      [`${this.opts.prefix.replace(/[\\%_]/g, '\\$&')}%`, fullMs],
    );
    return r.changes;
  }

  private async ask(client: string): Promise<boolean> {
    const timeoutMs = this.opts.timeoutMs ?? 2000;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`the database did not answer within ${timeoutMs} ms`)),
        timeoutMs,
      );
    });
    try {
      const rows = await Promise.race([
        this.db.all(TAKE_SHARED_TOKEN_PG, [
          this.opts.prefix + client,
          this.burst,
          this.opts.bucketNow?.() ?? null,
          this.burst,
          this.ratePerSec,
          this.burst,
          this.ratePerSec,
        ]),
        timeout,
      ]);
      return rows.length > 0;
    } finally {
      clearTimeout(timer);
    }
  }

  private unavailable(retryAfterSec: number): LimitDecision {
    return {
      ok: false,
      retryAfterSec,
      cause: 'unavailable',
      detail: 'the database that holds the rate limit shared by every replica cannot be reached',
    };
  }

  private remember(client: string, until: number, now: number): void {
    const d = this.memory.deniedUntil;
    if (!d.has(client) && d.size >= MAX_DENIED) {
      for (const [k, t] of d) if (t <= now) d.delete(k);
      let drop = d.size >= MAX_DENIED ? Math.ceil(MAX_DENIED / 10) : 0;
      for (const k of d.keys()) {
        if (drop-- <= 0) break;
        d.delete(k);
      }
    }
    d.set(client, until);
  }
}
