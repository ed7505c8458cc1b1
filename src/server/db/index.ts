import { chmodSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigurationError } from '../../lib/errors.js';
import { PostgresDb } from './postgres.js';
import { SqliteDb } from './sqlite.js';
import type { Db, Migration } from './types.js';

export type { Db, Dialect, Migration, RunResult, SqlValue } from './types.js';

/** Opens the database named by `databaseUrl` (postgres:// or sqlite:PATH), or the SQLite file in dataDir. */
export async function openDatabase(opts: {
  databaseUrl?: string;
  dataDir: string;
  /** Told about errors of idle PostgreSQL connections (they are replaced). */
  onIdleError?: (err: Error) => void;
}): Promise<Db> {
  const url = opts.databaseUrl;
  if (url && /^postgres(ql)?:\/\//i.test(url)) {
    const db = new PostgresDb(url, opts.onIdleError);
    try {
      await db.get('SELECT 1 AS ok');
    } catch (err) {
      await db.close().catch(() => undefined);
      throw new ConfigurationError(
        `cannot connect to the PostgreSQL database ${redactUrl(url)}: ${(err as Error).message}. Check --database-url (HOIST_DATABASE_URL) and that the database is running.`,
      );
    }
    return db;
  }
  let file: string;
  if (!url) {
    file = join(opts.dataDir, 'hoist.db');
    try {
      mkdirSync(opts.dataDir, { recursive: true, mode: 0o700 });
    } catch (err) {
      throw new ConfigurationError(
        `cannot create the data directory ${opts.dataDir}: ${(err as Error).message}; pass a writable --data-dir (HOIST_DATA_DIR)`,
      );
    }
  } else if (url.startsWith('sqlite:')) {
    file = url.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, '');
  } else {
    throw new ConfigurationError(
      `unsupported database URL ${redactUrl(url)}: use postgres://user:pass@host:port/db, sqlite:/path/to/file.db, or leave it empty for SQLite in the data directory`,
    );
  }
  const fresh = !existsSync(file);
  let db: SqliteDb;
  try {
    db = new SqliteDb(file);
  } catch (err) {
    throw new ConfigurationError(
      `cannot open the SQLite database ${file}: ${(err as Error).message}; check --data-dir (HOIST_DATA_DIR) or --database-url`,
    );
  }
  if (fresh) chmodSync(file, 0o600);
  return db;
}

/** Applies, in order, each migration not applied yet; each one in its own transaction. */
export async function migrate(db: Db, migrations: Migration[]): Promise<string[]> {
  const seen = new Set<string>();
  for (const m of migrations) {
    if (seen.has(m.id)) throw new Error(`duplicate migration id ${m.id}`);
    seen.add(m.id);
  }
  await db.exec(
    'CREATE TABLE IF NOT EXISTS schema_migrations (id TEXT PRIMARY KEY, applied_at TEXT NOT NULL)',
  );
  const applied: string[] = [];
  for (const m of migrations) {
    await db.transaction(async (tx) => {
      // Several replicas may start at once on one PostgreSQL database.
      if (tx.dialect === 'postgres') await tx.get('SELECT pg_advisory_xact_lock(7152001) AS l');
      const done = await tx.get('SELECT id FROM schema_migrations WHERE id = ?', [m.id]);
      if (done) return;
      const sql = typeof m.sql === 'string' ? m.sql : m.sql[tx.dialect];
      await tx.exec(sql);
      await tx.run('INSERT INTO schema_migrations (id, applied_at) VALUES (?, ?)', [
        m.id,
        new Date().toISOString(),
      ]);
      applied.push(m.id);
    });
  }
  return applied;
}

/** A database URL fit for logs and messages: the password (in the userinfo or the query) hidden. */
export function redactUrl(url: string): string {
  return url.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@').replace(/([?&]password=)[^&#]*/gi, '$1***');
}
