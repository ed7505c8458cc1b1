import Database from 'better-sqlite3';
import type { Db, RunResult, SqlValue } from './types.js';

const CHECKPOINT_EVERY_MS = 1000;

/**
 * better-sqlite3 is synchronous and has one connection, so an async transaction must keep
 * every other caller out until it ends: calls outside the transaction wait on `gate`.
 */
export class SqliteDb implements Db {
  readonly dialect = 'sqlite' as const;
  private readonly db: Database.Database;
  private gate: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private readonly stmts = new Map<string, Database.Statement>();

  constructor(file: string) {
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('foreign_keys = ON');
    this.db.pragma('busy_timeout = 5000');
    this.db.pragma('cache_size = -16000');
    // SQLite's automatic checkpoint runs inside a COMMIT every 1000 WAL pages (about 110 OIDC
    // exchanges) and fsyncs twice, stalling the event loop each time. One checkpoint a second,
    // between transactions, does the same work with a tenth of the stalls (bench:oidc p99).
    this.db.pragma('wal_autocheckpoint = 0');
    this.timer = setInterval(() => this.checkpoint(), CHECKPOINT_EVERY_MS);
    this.timer.unref();
  }

  /** Copies committed WAL pages into the database file; skipped while a transaction is open. */
  checkpoint(): void {
    if (this.gate || !this.db.open) return;
    try {
      this.db.pragma('wal_checkpoint(PASSIVE)');
    } catch {
      // SQLITE_BUSY from another process: the next tick retries.
    }
  }

  private stmt(sql: string): Database.Statement {
    let s = this.stmts.get(sql);
    if (!s) {
      s = this.db.prepare(sql);
      if (this.stmts.size > 500) this.stmts.clear();
      this.stmts.set(sql, s);
    }
    return s;
  }

  /** Resolves once no transaction is open (for close(); statements check the gate inline). */
  private async waitGate(): Promise<void> {
    while (this.gate) await this.gate;
  }

  private allNow<T>(sql: string, params: SqlValue[]): T[] {
    return this.stmt(sql).all(...params) as T[];
  }
  private getNow<T>(sql: string, params: SqlValue[]): T | undefined {
    return this.stmt(sql).get(...params) as T | undefined;
  }
  private runNow(sql: string, params: SqlValue[]): RunResult {
    return { changes: this.stmt(sql).run(...params).changes };
  }

  // Each statement checks the gate and runs with no await in between, so it can never slip
  // into a transaction that another caller opened meanwhile.
  async all<T>(sql: string, params: SqlValue[] = []): Promise<T[]> {
    while (this.gate) await this.gate;
    return this.allNow<T>(sql, params);
  }
  async get<T>(sql: string, params: SqlValue[] = []): Promise<T | undefined> {
    while (this.gate) await this.gate;
    return this.getNow<T>(sql, params);
  }
  async run(sql: string, params: SqlValue[] = []): Promise<RunResult> {
    while (this.gate) await this.gate;
    return this.runNow(sql, params);
  }
  async exec(sql: string): Promise<void> {
    while (this.gate) await this.gate;
    this.db.exec(sql);
  }

  async transaction<T>(fn: (tx: Db) => Promise<T>): Promise<T> {
    // Checked and claimed with no await in between: waking from an awaited helper would let
    // two waiters both see the gate open and BEGIN on the one connection (the second fails and
    // its ROLLBACK undoes the first's work).
    while (this.gate) await this.gate;
    let release!: () => void;
    this.gate = new Promise<void>((r) => (release = r));
    const tx: Db = {
      dialect: 'sqlite',
      all: async <R>(sql: string, params: SqlValue[] = []) => this.allNow<R>(sql, params),
      get: async <R>(sql: string, params: SqlValue[] = []) => this.getNow<R>(sql, params),
      run: async (sql: string, params: SqlValue[] = []) => this.runNow(sql, params),
      exec: async (sql: string) => void this.db.exec(sql),
      transaction: () => Promise.reject(new Error('nested transactions are not supported')),
      close: () => Promise.reject(new Error('cannot close inside a transaction')),
    };
    try {
      this.stmt('BEGIN IMMEDIATE').run();
      try {
        const result = await fn(tx);
        this.stmt('COMMIT').run();
        return result;
      } catch (err) {
        if (this.db.inTransaction) this.stmt('ROLLBACK').run();
        throw err;
      }
    } finally {
      this.gate = null;
      release();
    }
  }

  async close(): Promise<void> {
    await this.waitGate();
    if (this.timer) clearInterval(this.timer);
    if (this.db.open) this.db.close();
  }
}
