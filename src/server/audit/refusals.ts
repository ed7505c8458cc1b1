import type { AuditInput, AuditLog } from './log.js';
import { type Clock, iso } from '../util.js';

/** Open aggregation windows at most; past it, every window is closed (written) at once. */
const MAX_WINDOWS = 10_000;

interface Window {
  /** The audit row of this window, once inserted. */
  id: Promise<string | null>;
  startMs: number;
  firstAt: string;
  lastAt: string;
  count: number;
  details: Record<string, unknown>;
}

/**
 * Audits refusals of tokens that did not verify without one database write each: the first
 * refusal for a (client, reason) pair writes its row at once with `count: 1`; later ones in
 * the same window (a minute by default) only count, and the row's `count` and `last_at` are
 * brought up to date when the window closes. So junk costs at most one insert and one update
 * per client, reason and minute. Verified tokens are audited one by one elsewhere.
 *
 * Windows live in each replica's memory: with several replicas a (client, reason, minute) gets
 * up to one row per replica that saw it, each naming its `replica` and counting only what that
 * replica refused, so the counts of the rows add up to the exact total and no write waits on
 * another replica.
 */
export class RefusalAudit {
  private readonly windows = new Map<string, Window>();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly audit: AuditLog,
    private readonly clock: Clock,
    private readonly windowMs = 60_000,
    private readonly onError: (err: unknown) => void = () => undefined,
    /** Named in each row's details when several replicas write windows of their own. */
    private readonly replicaId?: string,
  ) {}

  /** Records one refusal of `client` for `code`; `event` is the row to write if none is open. */
  async record(client: string, code: string, event: AuditInput): Promise<void> {
    const key = `${client}\u0000${code}`;
    const nowMs = this.clock.now().getTime();
    const open = this.windows.get(key);
    if (open && nowMs - open.startMs < this.windowMs) {
      open.count++;
      open.lastAt = iso(this.clock.now());
      return;
    }
    if (open) void this.close(key, open);
    if (this.windows.size >= MAX_WINDOWS) void this.flush();
    const at = iso(this.clock.now());
    const details = {
      ...event.details,
      client_ip: client,
      count: 1,
      first_at: at,
      last_at: at,
      ...(this.replicaId ? { replica: this.replicaId } : {}),
    };
    const w: Window = {
      id: Promise.resolve(null),
      startMs: nowMs,
      firstAt: at,
      lastAt: at,
      count: 1,
      details,
    };
    // In the map before the insert is awaited, so concurrent refusals join this window.
    this.windows.set(key, w);
    const inserted = this.audit.record({ ...event, details }).then((ev) => ev.id);
    w.id = inserted.catch(() => null);
    await inserted;
  }

  /** Closes windows older than the window length (all of them with `all`). */
  async flush(all = true): Promise<void> {
    const nowMs = this.clock.now().getTime();
    const due = [...this.windows].filter(([, w]) => all || nowMs - w.startMs >= this.windowMs);
    await Promise.all(due.map(([k, w]) => this.close(k, w)));
  }

  private async close(key: string, w: Window): Promise<void> {
    if (this.windows.get(key) === w) this.windows.delete(key);
    if (w.count <= 1) return;
    const id = await w.id;
    if (!id) return;
    try {
      await this.audit.updateDetails(id, {
        ...w.details,
        count: w.count,
        first_at: w.firstAt,
        last_at: w.lastAt,
      });
    } catch (err) {
      this.onError(err);
    }
  }

  /** Closes due windows every few seconds, until stop(). */
  start(): void {
    this.timer ??= setInterval(
      () => void this.flush(false).catch(this.onError),
      Math.min(this.windowMs, 5000),
    );
    this.timer.unref();
  }

  /** Stops the timer and writes every open window. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.flush(true);
  }
}
