import { chmodSync, closeSync, existsSync, mkdirSync, openSync, statSync } from 'node:fs';
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
  /** Told about database files whose permissions were too wide (and were narrowed). */
  onWarning?: (message: string) => void;
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
  let db: SqliteDb;
  try {
    // Created 0600 before SQLite opens it: SQLite gives its -wal and -shm files the mode of the
    // database file, so they are private too whatever the umask (0077, in effect).
    if (!existsSync(file)) closeSync(openSync(file, 'wx', 0o600));
    db = new SqliteDb(file);
  } catch (err) {
    throw new ConfigurationError(
      `cannot open the SQLite database ${file}: ${(err as Error).message}; check --data-dir (HOIST_DATA_DIR) or --database-url`,
    );
  }
  narrowSqliteModes(file, opts.onWarning);
  return db;
}

/**
 * Takes group and other permissions off the database file and its -wal and -shm files (an
 * older Hoist, or a copy, may have left them readable), saying so when it changes anything.
 */
export function narrowSqliteModes(file: string, warn: (message: string) => void = () => undefined): void {
  for (const f of [file, `${file}-wal`, `${file}-shm`]) {
    let mode: number;
    try {
      mode = statSync(f).mode & 0o7777;
    } catch {
      continue; // no such file (yet)
    }
    if ((mode & 0o077) === 0) continue;
    try {
      chmodSync(f, mode & ~0o077);
      warn(
        `the database file ${f} was readable by group or others (mode ${octal(mode)}); it is now ${octal(mode & ~0o077)}`,
      );
    } catch (err) {
      warn(
        `the database file ${f} is readable by group or others (mode ${octal(mode)}) and cannot be changed: ${(err as Error).message}; run chmod 600 ${f}`,
      );
    }
  }
}

/**
 * A warning when an existing data directory can be read or entered by group or others: it
 * holds the database and the builders' keys. Undefined when it is private or does not exist.
 */
export function dataDirWarning(dir: string): string | undefined {
  let mode: number;
  try {
    const st = statSync(dir);
    if (!st.isDirectory()) return undefined;
    mode = st.mode & 0o7777;
  } catch {
    return undefined;
  }
  if ((mode & 0o077) === 0) return undefined;
  return `the data directory ${dir} is accessible to group or others (mode ${octal(mode)}); it holds the database and builder keys: run chmod 700 ${dir}`;
}

const octal = (mode: number): string => `0${mode.toString(8).padStart(3, '0')}`;

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
