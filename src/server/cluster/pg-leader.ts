// Leader election on PostgreSQL: a session-level advisory lock held on a connection of its own.
// PostgreSQL releases it the moment that session ends, so when the leader's process dies (SIGKILL,
// OOM, node loss with the socket reset) the next replica to poll takes over within one poll
// interval. A leader confirms it still holds the lock at every poll and counts itself the leader
// only for one lease period after the last confirmation it sent, so a leader cut off from the
// database stops its loops before the server gives the lock away (the server notices a silent
// client only after its TCP keepalives, set longer than the lease).
import pg from 'pg';
import type { Logger } from 'pino';
import type { Clock } from '../util.js';
import { LeaderBase, leaseHeld } from './leader.js';

/** pg_try_advisory_lock(int4, int4): Hoist's number, then "control-plane leader". */
const LOCK_KEY: [number, number] = [7152, 2];

const HOLDER_SQL = `SELECT a.application_name AS name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
  WHERE l.locktype = 'advisory' AND l.classid = $1 AND l.objid = $2 AND l.objsubid = 2 AND l.granted`;
const MINE_SQL = `SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND classid = $1
  AND objid = $2 AND objsubid = 2 AND granted AND pid = pg_backend_pid()`;
const DB_MS = `(extract(epoch from clock_timestamp()) * 1000)::bigint`;
const APP_PREFIX = 'hoist:';

export interface PgLeaderOptions {
  url: string;
  replicaId: string;
  clock: Clock;
  logger: Logger;
  /** How often a follower tries the lock and a leader confirms it. Default 1 s. */
  pollMs?: number;
  /** How long a confirmation keeps this replica the leader. Default 5 s. */
  leaseMs?: number;
  /** Waits between polls; replaced in tests. */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  /** Told each time this replica takes the lease (for metrics). */
  onTakeover?: (info: { previousLeader: string | null; vacantMs: number | null }) => void;
}

function defaultSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done);
  });
}

export class PgLeader extends LeaderBase {
  readonly mode = 'postgres-advisory-lock' as const;
  readonly pollMs: number;
  readonly leaseMs: number;
  private client: pg.Client | null = null;
  private confirmedAt: number | null = null;
  private holder: string | null = null;
  /** When this replica last saw another replica hold the lock (to measure the vacancy). */
  private holderSeenAt: number | null = null;
  private lastHolder: string | null = null;
  private readonly stopping = new AbortController();
  private loop: Promise<void> | null = null;
  private readonly sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  private lastError: string | null = null;

  constructor(private readonly opts: PgLeaderOptions) {
    super(opts.replicaId, opts.clock, opts.logger);
    this.pollMs = opts.pollMs ?? 1000;
    this.leaseMs = opts.leaseMs ?? 5000;
    if (this.leaseMs <= this.pollMs) throw new Error('the lease must be longer than the poll interval');
    this.sleep = opts.sleep ?? defaultSleep;
  }

  override isLeader(): boolean {
    return this.elected && leaseHeld(this.confirmedAt, this.now(), this.leaseMs);
  }

  protected override knownLeader(): string | null {
    return this.holder;
  }

  private now(): number {
    return this.opts.clock.now().getTime();
  }

  async start(): Promise<void> {
    await this.tick();
    this.loop = (async () => {
      while (!this.stopping.signal.aborted) {
        await this.sleep(this.pollMs, this.stopping.signal);
        if (this.stopping.signal.aborted) break;
        await this.tick();
      }
    })();
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    await this.loop;
    if (this.client) {
      // Leaving the member list and closing the session frees the lock for the next replica now.
      await this.client
        .query('DELETE FROM cluster_members WHERE id = $1', [this.replicaId])
        .catch(() => undefined);
    }
    await this.dropClient();
    if (this.elected) this.log.info({ replica_id: this.replicaId }, 'leader lease released');
    await this.becomeFollower();
  }

  async otherReplicas(): Promise<string[]> {
    if (this.stopping.signal.aborted && !this.client) return [];
    // Before the first poll (a plugin's start hook asks) the session is opened here.
    const c = this.client ?? (await this.connect());
    const rows = await c.query<{ id: string }>(
      `SELECT id FROM cluster_members WHERE id <> $1 AND seen_ms > ${DB_MS} - $2`,
      [this.replicaId, this.leaseMs],
    );
    return rows.rows.map((r) => r.id);
  }

  /** One poll: connect when needed, take or confirm the lock, report in. Never throws. */
  async tick(): Promise<void> {
    const sentAt = this.now();
    try {
      const c = this.client ?? (await this.connect());
      if (this.elected) {
        const mine = (await c.query<{ n: number }>(MINE_SQL, LOCK_KEY)).rows[0]!.n === 1;
        if (!mine) throw new Error('the advisory lock is no longer held by this session');
        this.confirmedAt = sentAt;
        if (!leaseHeld(this.confirmedAt, this.now(), this.leaseMs)) {
          throw new Error(`confirming the lease took longer than the lease (${this.leaseMs} ms)`);
        }
      } else {
        const got = (await c.query<{ got: boolean }>('SELECT pg_try_advisory_lock($1, $2) AS got', LOCK_KEY))
          .rows[0]!.got;
        if (got) {
          this.confirmedAt = sentAt;
          const vacantMs = this.holderSeenAt === null ? null : sentAt - this.holderSeenAt;
          this.holder = this.replicaId;
          this.log.info(
            {
              replica_id: this.replicaId,
              previous_leader: this.lastHolder,
              vacant_ms: vacantMs,
              lease_ms: this.leaseMs,
            },
            this.lastHolder ? 'took over as leader' : 'elected leader',
          );
          this.opts.onTakeover?.({ previousLeader: this.lastHolder, vacantMs });
          await this.becomeLeader();
        } else {
          const row = (await c.query<{ name: string }>(HOLDER_SQL, LOCK_KEY)).rows[0];
          const name = row?.name.startsWith(APP_PREFIX) ? row.name.slice(APP_PREFIX.length) : null;
          if (name) {
            this.holderSeenAt = sentAt;
            this.lastHolder = name;
          }
          if (name !== this.holder) {
            this.log.info({ replica_id: this.replicaId, leader_id: name }, 'following');
          }
          this.holder = name;
        }
      }
      await c.query(
        `INSERT INTO cluster_members (id, started_at, seen_ms) VALUES ($1, $2, ${DB_MS})
         ON CONFLICT (id) DO UPDATE SET seen_ms = EXCLUDED.seen_ms`,
        [this.replicaId, new Date(sentAt).toISOString()],
      );
      if (this.isLeader()) {
        // Replicas gone for a day: each restart is a new id, so the list would only grow.
        await c.query(`DELETE FROM cluster_members WHERE seen_ms < ${DB_MS} - 86400000`);
      }
      if (this.lastError) {
        this.log.info({ replica_id: this.replicaId }, 'leader election reaches the database again');
        this.lastError = null;
      }
    } catch (err) {
      const message = (err as Error).message;
      if (message !== this.lastError) {
        this.log.warn(
          { replica_id: this.replicaId, err: message, was_leader: this.elected },
          this.elected
            ? 'lost the leader lease; background work stops here and another replica takes over'
            : 'leader election cannot reach the database; retrying',
        );
      }
      this.lastError = message;
      this.holder = null;
      // A broken or slow session may still hold the lock on the server: end it so it is freed.
      await this.dropClient();
      await this.becomeFollower();
    }
  }

  private async connect(): Promise<pg.Client> {
    const timeout = Math.max(this.leaseMs - this.pollMs, 500);
    const c = new pg.Client({
      connectionString: this.opts.url,
      application_name: `${APP_PREFIX}${this.replicaId}`,
      connectionTimeoutMillis: timeout,
      query_timeout: timeout,
      keepAlive: true,
      keepAliveInitialDelayMillis: 1000,
      // The server gives a silent leader's lock away only after these (about 16 s), well after
      // the leader stopped counting itself the leader (one lease).
      options: '-c tcp_keepalives_idle=10 -c tcp_keepalives_interval=2 -c tcp_keepalives_count=3',
    });
    c.on('error', () => undefined); // a dropped session surfaces in the next query
    try {
      await c.connect();
    } catch (err) {
      await c.end().catch(() => undefined);
      throw err;
    }
    this.client = c;
    return c;
  }

  private async dropClient(): Promise<void> {
    const c = this.client;
    this.client = null;
    this.confirmedAt = null;
    if (!c) return;
    // end() waits for the server's goodbye, which a dead connection never sends.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      c.end().catch(() => undefined),
      new Promise<void>((r) => (timer = setTimeout(r, 1000))),
    ]);
    clearTimeout(timer);
  }
}
