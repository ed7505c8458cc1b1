import pg from 'pg';
import type { Db, RunResult, SqlValue } from './types.js';

/** `?` → `$n`; our SQL never contains a literal question mark. */
function toPg(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}

interface Queryable {
  query(text: string, values?: unknown[]): Promise<pg.QueryResult>;
}

class PgHandle implements Db {
  readonly dialect = 'postgres' as const;
  constructor(protected readonly q: Queryable) {}
  async all<T>(sql: string, params: SqlValue[] = []): Promise<T[]> {
    return (await this.q.query(toPg(sql), params)).rows as T[];
  }
  async get<T>(sql: string, params: SqlValue[] = []): Promise<T | undefined> {
    return (await this.q.query(toPg(sql), params)).rows[0] as T | undefined;
  }
  async run(sql: string, params: SqlValue[] = []): Promise<RunResult> {
    return { changes: (await this.q.query(toPg(sql), params)).rowCount ?? 0 };
  }
  async exec(sql: string): Promise<void> {
    await this.q.query(sql);
  }
  transaction<T>(fn: (tx: Db) => Promise<T>): Promise<T> {
    void fn;
    return Promise.reject(new Error('nested transactions are not supported'));
  }
  async close(): Promise<void> {
    throw new Error('cannot close inside a transaction');
  }
}

export class PostgresDb extends PgHandle {
  private readonly pool: pg.Pool;
  constructor(
    /** The connection URL (with its password): for connections of their own, such as the leader lock's. */
    readonly url: string,
    onIdleError: (err: Error) => void = () => undefined,
  ) {
    const pool = new pg.Pool({ connectionString: url, max: 10 });
    // An idle client's error (a database restart) must not crash the process; the pool reconnects.
    pool.on('error', onIdleError);
    super(pool);
    this.pool = pool;
  }

  override async transaction<T>(fn: (tx: Db) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      try {
        const result = await fn(new PgHandle(client));
        await client.query('COMMIT');
        return result;
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw err;
      }
    } finally {
      client.release();
    }
  }

  override async close(): Promise<void> {
    await this.pool.end();
  }
}
