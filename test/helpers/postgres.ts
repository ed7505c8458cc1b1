// A throwaway PostgreSQL 15 (Debian's /usr/lib/postgresql/15/bin) on a loopback port in a temp
// dir, for running the server's suite against PostgreSQL. As root, initdb and postgres run as
// the `postgres` user (spawned with its uid/gid, so signals reach the postmaster itself).
// stop() shuts it down ("fast" shutdown) and removes the directory.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, chownSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { freePort } from './server.js';

export const PG_BIN = '/usr/lib/postgresql/15/bin';

export interface TestPostgres {
  /** postgres://hoist@HOST:PORT/postgres */
  url: string;
  /** A fresh empty database; returns its URL. */
  createDatabase(name: string): Promise<string>;
  stop(): Promise<void>;
}

/** `host`: the address to listen on (default 127.0.0.1), e.g. a bridge pods reach. */
export async function startPostgres(opts: { host?: string } = {}): Promise<TestPostgres> {
  const host = opts.host ?? '127.0.0.1';
  if (!existsSync(join(PG_BIN, 'postgres'))) throw new Error(`PostgreSQL 15 is not installed in ${PG_BIN}`);
  const dir = mkdtempSync(join(tmpdir(), 'hoist-pg-'));
  const data = join(dir, 'data');
  const root = process.getuid?.() === 0;
  // As root, run as the postgres user: initdb and postgres refuse to run as root.
  const as = root
    ? {
        uid: Number(execFileSync('id', ['-u', 'postgres']).toString().trim()),
        gid: Number(execFileSync('id', ['-g', 'postgres']).toString().trim()),
        env: { ...process.env, HOME: dir, USER: 'postgres', LOGNAME: 'postgres' },
      }
    : {};
  if (root) chownSync(dir, as.uid!, as.gid!);
  execFileSync(
    join(PG_BIN, 'initdb'),
    ['-D', data, '-U', 'hoist', '-A', 'trust', '--no-sync', '-E', 'UTF8'],
    {
      stdio: 'pipe',
      cwd: dir,
      ...as,
    },
  );
  // initdb trusts loopback only; on another address trust the subnets of this host's interfaces.
  if (host !== '127.0.0.1') appendFileSync(join(data, 'pg_hba.conf'), 'host all all samenet trust\n');
  const port = await freePort();
  const args = ['-D', data, '-p', String(port), '-h', host, '-k', dir];
  for (const c of ['fsync=off', 'synchronous_commit=off', 'full_page_writes=off', 'max_connections=100']) {
    args.push('-c', c);
  }
  let out = '';
  const child: ChildProcess = spawn(join(PG_BIN, 'postgres'), args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    cwd: dir,
    ...as,
  });
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const url = `postgres://hoist@${host}:${port}/postgres`;
  const deadline = Date.now() + 20_000;
  for (;;) {
    const c = new pg.Client({ connectionString: url });
    try {
      await c.connect();
      await c.query('SELECT 1');
      await c.end();
      break;
    } catch {
      await c.end().catch(() => undefined);
      if (child.exitCode !== null || Date.now() > deadline) {
        child.kill('SIGKILL');
        rmSync(dir, { recursive: true, force: true });
        throw new Error(`PostgreSQL did not start:\n${out}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return {
    url,
    createDatabase: async (name) => {
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      try {
        await c.query(`CREATE DATABASE "${name.replace(/"/g, '')}"`);
      } finally {
        await c.end();
      }
      return `postgres://hoist@${host}:${port}/${encodeURIComponent(name)}`;
    },
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise<void>((r) => child.once('exit', () => r()));
        // SIGINT: PostgreSQL's "fast" shutdown.
        child.kill('SIGINT');
        const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(t);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
