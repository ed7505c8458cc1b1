import type { AggregateDelta, AuditInput, AuditLog } from './log.js';
import { type Clock, iso } from '../util.js';

/** Rows waiting for the next flush at most; past it they are flushed at once. */
const MAX_PENDING = 10_000;
/**
 * Rows remembered as written at most. Forgetting one only costs an extra immediate write of
 * its next refusal (an increment of the same row), so memory stays bounded however many
 * addresses send junk.
 */
const MAX_WRITTEN = 100_000;

/** The aggregated row a refusal belongs to: its client, reason and window (start ms). */
export function aggregateKey(action: string, client: string, code: string, atMs: number, windowMs: number) {
  const windowStart = Math.floor(atMs / windowMs) * windowMs;
  return { key: `${action}|${code}|${iso(new Date(windowStart))}|${client}`, windowStart };
}

/** Adds one refusal to a batch of deltas (pure: the same refusals give the same batch). */
export function addRefusal(
  batch: Map<string, AggregateDelta>,
  key: string,
  at: string,
  event: AuditInput,
): void {
  const d = batch.get(key);
  if (d) {
    d.count++;
    if (at < d.firstAt) d.firstAt = at;
    if (at > d.lastAt) d.lastAt = at;
  } else {
    batch.set(key, { key, count: 1, firstAt: at, lastAt: at, event });
  }
}

/** Puts a batch that could not be written back in front of newer refusals, keeping at most `max` rows. */
export function mergeBack(
  pending: Map<string, AggregateDelta>,
  failed: AggregateDelta[],
  max: number,
): { pending: Map<string, AggregateDelta>; dropped: number } {
  const out = new Map<string, AggregateDelta>();
  let dropped = 0;
  for (const d of failed) {
    if (out.size >= max) {
      dropped += d.count;
      continue;
    }
    out.set(d.key, { ...d });
  }
  for (const d of pending.values()) {
    const o = out.get(d.key);
    if (o) {
      o.count += d.count;
      if (d.firstAt < o.firstAt) o.firstAt = d.firstAt;
      if (d.lastAt > o.lastAt) o.lastAt = d.lastAt;
    } else if (out.size >= max) {
      dropped += d.count;
    } else {
      out.set(d.key, d);
    }
  }
  return { pending: out, dropped };
}

/**
 * Audits refusals of tokens that did not verify without one database write each. Every
 * (client, reason, minute window) has exactly one audit row, whichever replicas refused: its
 * unique `agg_key` turns each replica's write into an atomic increment of its count
 * (AuditLog.addToAggregates). The first refusal a replica sees for a row is written at once, so
 * it shows in the audit immediately; later ones are counted in memory and added in one batch
 * every few seconds. So junk costs each replica at most one write per client, reason and minute
 * plus one batched statement per flush, however much of it arrives.
 *
 * Windows follow each replica's clock: with clocks a little apart, a refusal near a minute's
 * edge may be counted in the neighbouring minute's row, never twice and never in a second row
 * of its own minute.
 */
export class RefusalAudit {
  private pending = new Map<string, AggregateDelta>();
  /** Rows this replica has written at least once, by key, with their window start. */
  private readonly written = new Map<string, number>();
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> | null = null;

  constructor(
    private readonly audit: AuditLog,
    private readonly clock: Clock,
    private readonly windowMs = 60_000,
    private readonly onError: (err: unknown) => void = () => undefined,
    private readonly flushEveryMs = Math.min(windowMs, 5000),
  ) {}

  /** Records one refusal of `client` for `code`; `event` is the row to create if none exists. */
  async record(client: string, code: string, event: AuditInput): Promise<void> {
    const now = this.clock.now();
    const { key, windowStart } = aggregateKey(event.action, client, code, now.getTime(), this.windowMs);
    const at = iso(now);
    const row: AuditInput = {
      ...event,
      details: { ...event.details, client_ip: client, window_start: iso(new Date(windowStart)) },
    };
    if (this.written.has(key)) {
      addRefusal(this.pending, key, at, row);
      if (this.pending.size >= MAX_PENDING) void this.flush();
      return;
    }
    // Marked before the write is awaited, so concurrent refusals are batched, not written too.
    if (this.written.size >= MAX_WRITTEN) this.written.clear();
    this.written.set(key, windowStart);
    try {
      await this.audit.addToAggregates([{ key, count: 1, firstAt: at, lastAt: at, event: row }]);
    } catch (err) {
      this.onError(err);
      addRefusal(this.pending, key, at, row);
    }
  }

  /** Writes every pending count now (one batch), and forgets rows whose window has ended. */
  async flush(): Promise<void> {
    // One flush at a time: a second caller waits for the running one, then writes what is left.
    while (this.flushing) await this.flushing;
    this.flushing = this.writePending();
    try {
      await this.flushing;
    } finally {
      this.flushing = null;
    }
  }

  private async writePending(): Promise<void> {
    const nowMs = this.clock.now().getTime();
    for (const [k, start] of this.written) if (start + this.windowMs <= nowMs) this.written.delete(k);
    if (!this.pending.size) return;
    const batch = [...this.pending.values()];
    this.pending = new Map();
    try {
      await this.audit.addToAggregates(batch);
    } catch (err) {
      // Kept for the next flush (the timer's, a few seconds on): one attempt per interval.
      const merged = mergeBack(this.pending, batch, MAX_PENDING);
      this.pending = merged.pending;
      this.onError(err);
      if (merged.dropped) {
        this.onError(new Error(`${merged.dropped} refusals could not be audited (too many waiting)`));
      }
    }
  }

  /** Flushes every few seconds, until stop(). */
  start(): void {
    this.timer ??= setInterval(() => void this.flush().catch(this.onError), this.flushEveryMs);
    this.timer.unref();
  }

  /** Stops the timer and writes what is pending. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.flush();
  }
}
