// The one data-access layer of the server: an async interface with two implementations,
// SQLite (better-sqlite3, the embedded default) and PostgreSQL (pg). SQL uses `?`
// placeholders; the PostgreSQL driver rewrites them to $1, $2, ... Write SQL that both
// dialects accept (TEXT ids and ISO timestamps, INTEGER 0/1 booleans, ON CONFLICT,
// RETURNING), or give per-dialect variants in a migration.

export type Dialect = 'sqlite' | 'postgres';

export type SqlValue = string | number | null;

export interface RunResult {
  /** Rows inserted, updated or deleted. */
  changes: number;
}

export interface Db {
  readonly dialect: Dialect;
  /** All rows of a query. */
  all<T = Record<string, unknown>>(sql: string, params?: SqlValue[]): Promise<T[]>;
  /** The first row, or undefined. */
  get<T = Record<string, unknown>>(sql: string, params?: SqlValue[]): Promise<T | undefined>;
  /** INSERT/UPDATE/DELETE. */
  run(sql: string, params?: SqlValue[]): Promise<RunResult>;
  /** Several statements without parameters (migrations). */
  exec(sql: string): Promise<void>;
  /**
   * Runs fn in one transaction: committed when fn resolves, rolled back when it throws,
   * so a failed request leaves nothing half-written. Use only the `tx` handle inside, and keep
   * it short: no network or process I/O inside (on SQLite every other query waits for it).
   */
  transaction<T>(fn: (tx: Db) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** One schema step. `id` is recorded once applied; keep ids unique and never edit an applied step. */
export interface Migration {
  id: string;
  /** SQL for both dialects, or one per dialect. Statements separated by `;`. */
  sql: string | { sqlite: string; postgres: string };
}
