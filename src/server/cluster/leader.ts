// Which replica runs the control plane's background work. Any replica serves the API; exactly one
// at a time (the leader) reconciles builders with the provider, stops idle ones, expires builds
// and runs the provisioning loops. On PostgreSQL the leader is whoever holds a session-level
// advisory lock (./pg-leader.ts); on SQLite there is one replica and it is always the leader.
import type { Logger } from 'pino';
import type { Clock } from '../util.js';

export type LeaderMode = 'single' | 'postgres-advisory-lock';

export interface LeaderStatus {
  mode: LeaderMode;
  /** This replica's id (hostname, pid and a random suffix unless --replica-id names it). */
  replica_id: string;
  leader: boolean;
  /** When this replica last became the leader; null while it follows. */
  leader_since: string | null;
  /** The replica that holds the lease as this one last saw it; null when none or unknown. */
  leader_id: string | null;
  /** Times this replica became the leader since it started. */
  elections: number;
}

export type LeaderHandler = () => void | Promise<void>;

/**
 * The seam every loop that must run on one replica only codes against. Gate a loop with
 * `isLeader()` at each tick, start its work in `onElected` and drop in-memory state in
 * `onDemoted` (another replica owns the work from then on).
 */
export interface Leader {
  readonly replicaId: string;
  readonly mode: LeaderMode;
  /** True while this replica holds a lease it confirmed less than a lease period ago. */
  isLeader(): boolean;
  /** Runs fn each time this replica becomes the leader (at once if it already is); returns an unsubscribe. */
  onElected(fn: LeaderHandler): () => void;
  /** Runs fn each time this replica stops being the leader (lost the lock, database gone, stop()). */
  onDemoted(fn: LeaderHandler): () => void;
  status(): LeaderStatus;
  /** Other replicas that reported in within the lease period (empty on SQLite). */
  otherReplicas(): Promise<string[]>;
  /** Tries to become the leader once, then keeps trying in the background. */
  start(): Promise<void>;
  /** Gives the lease up at once (another replica takes over within one poll) and stops trying. */
  stop(): Promise<void>;
}

/** Handler lists and the elected/demoted transitions shared by both kinds of leader. */
export abstract class LeaderBase implements Leader {
  abstract readonly mode: LeaderMode;
  protected elected = false;
  protected since: Date | null = null;
  protected elections = 0;
  private readonly electedFns = new Set<LeaderHandler>();
  private readonly demotedFns = new Set<LeaderHandler>();

  constructor(
    readonly replicaId: string,
    protected readonly clock: Clock,
    protected readonly log: Logger,
  ) {}

  isLeader(): boolean {
    return this.elected;
  }

  onElected(fn: LeaderHandler): () => void {
    this.electedFns.add(fn);
    if (this.elected) void this.call(fn, 'elected');
    return () => this.electedFns.delete(fn);
  }

  onDemoted(fn: LeaderHandler): () => void {
    this.demotedFns.add(fn);
    return () => this.demotedFns.delete(fn);
  }

  status(): LeaderStatus {
    return {
      mode: this.mode,
      replica_id: this.replicaId,
      leader: this.isLeader(),
      leader_since: this.elected && this.since ? this.since.toISOString() : null,
      leader_id: this.isLeader() ? this.replicaId : this.knownLeader(),
      elections: this.elections,
    };
  }

  protected knownLeader(): string | null {
    return null;
  }

  abstract otherReplicas(): Promise<string[]>;
  abstract start(): Promise<void>;
  abstract stop(): Promise<void>;

  /** Marks this replica the leader and runs the elected handlers (awaited, in order). */
  protected async becomeLeader(): Promise<void> {
    if (this.elected) return;
    this.elected = true;
    this.since = this.clock.now();
    this.elections++;
    for (const fn of [...this.electedFns]) await this.call(fn, 'elected');
  }

  protected async becomeFollower(): Promise<void> {
    if (!this.elected) return;
    this.elected = false;
    this.since = null;
    for (const fn of [...this.demotedFns]) await this.call(fn, 'demoted');
  }

  private async call(fn: LeaderHandler, what: string): Promise<void> {
    try {
      await fn();
    } catch (err) {
      this.log.error({ err, replica_id: this.replicaId }, `a leader ${what} handler failed`);
    }
  }
}

/** SQLite: one replica, always the leader from start() to stop(). */
export class SingleLeader extends LeaderBase {
  readonly mode = 'single' as const;

  async otherReplicas(): Promise<string[]> {
    return [];
  }

  async start(): Promise<void> {
    await this.becomeLeader();
  }

  async stop(): Promise<void> {
    await this.becomeFollower();
  }
}

/**
 * Is a lease confirmed at `confirmedAtMs` still ours at `nowMs`? The confirmation time is when
 * the confirming query was sent, so a slow answer never stretches the lease.
 */
export function leaseHeld(confirmedAtMs: number | null, nowMs: number, leaseMs: number): boolean {
  return confirmedAtMs !== null && nowMs >= confirmedAtMs && nowMs - confirmedAtMs < leaseMs;
}

/** A replica id: the one given, else host, pid and a random suffix (a restarted pod is a new replica). */
export function replicaIdOf(given: string | undefined, host: string, pid: number, random: string): string {
  const id = given?.trim() || `${host}-${pid}-${random}`;
  // application_name of the lock's session carries it: PostgreSQL keeps 63 bytes of it.
  return id.replace(/[^A-Za-z0-9_.-]/g, '-').slice(0, 48);
}
