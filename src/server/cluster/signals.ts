// Wake-ups between replicas: a follower tells the leader "a build asked for a builder / ended"
// (topic demand), the leader tells every replica "placements changed" (topic placement). On
// PostgreSQL they are NOTIFY on channels every replica LISTENs on, over one connection of its own
// that reconnects when it drops; on SQLite (one process) they are calls in this process. A signal
// is only a hint to read the database now: every reader also polls, so a lost one costs latency,
// never correctness.
import { EventEmitter } from 'node:events';
import pg from 'pg';
import type { Logger } from 'pino';
import type { Db } from '../db/index.js';
import { PostgresDb } from '../db/postgres.js';

export type SignalTopic = 'demand' | 'placement';
const CHANNEL: Record<SignalTopic, string> = { demand: 'hoist_demand', placement: 'hoist_placement' };
const RECONNECT_MS = 1000;

export interface Signals {
  /** Wakes the listeners of `topic` in every replica (this one included). Never throws. */
  notify(topic: SignalTopic): Promise<void>;
  /** Calls fn on each signal of `topic`; returns an unsubscribe. */
  on(topic: SignalTopic, fn: () => void): () => void;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** One process: a signal is an event. */
export class LocalSignals implements Signals {
  private readonly events = new EventEmitter().setMaxListeners(0);
  async notify(topic: SignalTopic): Promise<void> {
    this.events.emit(topic);
  }
  on(topic: SignalTopic, fn: () => void): () => void {
    this.events.on(topic, fn);
    return () => this.events.off(topic, fn);
  }
  async start(): Promise<void> {}
  async stop(): Promise<void> {}
}

/** PostgreSQL LISTEN/NOTIFY. */
export class PgSignals extends LocalSignals {
  private client: pg.Client | null = null;
  private stopped = false;
  private retry: NodeJS.Timeout | null = null;
  private warned = false;

  constructor(
    private readonly db: PostgresDb,
    private readonly log: Logger,
  ) {
    super();
  }

  override async notify(topic: SignalTopic): Promise<void> {
    await this.db.run('SELECT pg_notify(?, ?)', [CHANNEL[topic], '']).catch(() => undefined);
  }

  override async start(): Promise<void> {
    await this.connect();
  }

  override async stop(): Promise<void> {
    this.stopped = true;
    if (this.retry) clearTimeout(this.retry);
    const c = this.client;
    this.client = null;
    if (c) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        c.end().catch(() => undefined),
        new Promise<void>((r) => (timer = setTimeout(r, 1000))),
      ]);
      clearTimeout(timer);
    }
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    const c = new pg.Client({
      connectionString: this.db.url,
      application_name: 'hoist-signals',
      keepAlive: true,
      connectionTimeoutMillis: 5000,
    });
    let dead = false;
    const again = (): void => {
      if (dead) return;
      dead = true;
      if (this.client === c) this.client = null;
      c.removeAllListeners('notification');
      void c.end().catch(() => undefined);
      if (!this.stopped && !this.retry) {
        this.retry = setTimeout(() => {
          this.retry = null;
          void this.connect();
        }, RECONNECT_MS);
        this.retry.unref();
      }
    };
    c.on('error', again);
    c.on('end', again);
    c.on('notification', (n) => {
      const topic = (Object.keys(CHANNEL) as SignalTopic[]).find((t) => CHANNEL[t] === n.channel);
      if (topic) void super.notify(topic);
    });
    try {
      await c.connect();
      for (const ch of Object.values(CHANNEL)) await c.query(`LISTEN ${ch}`);
      this.client = c;
      if (this.warned) this.log.info('replica signals (LISTEN) reconnected');
      this.warned = false;
      // What was signalled while disconnected is read now.
      for (const t of Object.keys(CHANNEL) as SignalTopic[]) void super.notify(t);
    } catch (err) {
      if (!this.warned) {
        this.log.warn(
          { err: (err as Error).message },
          'replica signals (LISTEN) cannot connect; polling only, retrying',
        );
      }
      this.warned = true;
      again();
    }
  }
}

export function createSignals(db: Db, log: Logger): Signals {
  return db instanceof PostgresDb ? new PgSignals(db, log) : new LocalSignals();
}
