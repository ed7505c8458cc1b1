// Limits and audit aggregates that several replicas share, on a real PostgreSQL (and the
// aggregates on SQLite too). Time is injected wherever an answer depends on it, so nothing here
// relies on how fast this machine runs: "two replicas" are two independent connection pools,
// limiters and refusal audits on one database, used concurrently.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { AuditLog, type AuditInput } from '../../src/server/audit/log.js';
import { RefusalAudit } from '../../src/server/audit/refusals.js';
import { migrate, openDatabase, type Db } from '../../src/server/db/index.js';
import { coreMigrations } from '../../src/server/db/migrations/index.js';
import { PostgresDb } from '../../src/server/db/postgres.js';
import {
  LocalClientLimiter,
  SharedClientLimiter,
  TAKE_SHARED_TOKEN_PG,
  type ClientLimiter,
} from '../../src/server/http/rate-limit.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { startBalancer, type Balancer } from '../helpers/tcp-balancer.js';

let pgs: TestPostgres;
let url: string;
const opened: Db[] = [];

async function pool(u = url): Promise<Db> {
  const db = new PostgresDb(u, () => undefined);
  opened.push(db);
  return db;
}

beforeAll(async () => {
  pgs = await startPostgres();
  url = await pgs.createDatabase('limits');
  const db = await pool();
  await migrate(db, coreMigrations);
}, 60_000);

afterAll(async () => {
  for (const db of opened) await db.close().catch(() => undefined);
  await pgs?.stop();
}, 30_000);

describe('the shared token bucket statement', () => {
  // 2 tokens a second, bursts of 3; [time in ms, takes at that time, expected grants]
  it.each([
    [
      'a new client gets the burst, then one token per half second, capped at the burst',
      [
        [0, 4, [true, true, true, false]],
        [400, 1, [false]],
        [500, 2, [true, false]],
        [1500, 3, [true, true, false]],
        [100_000, 4, [true, true, true, false]],
      ],
    ],
    [
      'a clock that goes back neither refills nor breaks the bucket',
      [
        [10_000, 3, [true, true, true]],
        [9_000, 1, [false]],
        [10_500, 1, [true]],
      ],
    ],
  ] as [string, [number, number, boolean[]][]][])('%s', async (_what, steps) => {
    const db = opened[0]!;
    const key = `t:${Math.random()}`;
    for (const [at, n, want] of steps) {
      const got: boolean[] = [];
      for (let i = 0; i < n; i++) {
        const rows = await db.all(TAKE_SHARED_TOKEN_PG, [key, 3, at, 3, 2, 3, 2]);
        got.push(rows.length > 0);
      }
      expect([at, got]).toEqual([at, want]);
    }
  });

  it('uses the database clock when no time is given', async () => {
    const db = opened[0]!;
    await db.all(TAKE_SHARED_TOKEN_PG, ['t:dbclock', 3, null, 3, 2, 3, 2]);
    const row = await db.get<{ at_ms: string; now_ms: string }>(
      `SELECT at_ms, floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint AS now_ms FROM rate_buckets WHERE key = 't:dbclock'`,
    );
    expect(Number(row!.now_ms) - Number(row!.at_ms)).toBeGreaterThanOrEqual(0);
    expect(Number(row!.now_ms) - Number(row!.at_ms)).toBeLessThan(60_000);
  });
});

describe('two replicas hammering one client concurrently', () => {
  async function hammer(limiters: ClientLimiter[], key: string, n: number): Promise<number> {
    const answers = await Promise.all(
      Array.from({ length: n }, (_, i) => Promise.resolve(limiters[i % limiters.length]!.take(key))),
    );
    return answers.filter((a) => a.ok).length;
  }

  it('grant the burst and the refill once in total, not once per replica', async () => {
    let t = 5_000_000;
    const replicas = [await pool(), await pool()].map(
      (db) =>
        new SharedClientLimiter(db, 3, 7, {
          prefix: 'oidc:',
          now: () => t,
          bucketNow: () => t,
        }),
    );
    expect(await hammer(replicas, '192.0.2.1', 60)).toBe(7);
    t += 1000;
    expect(await hammer(replicas, '192.0.2.1', 60)).toBe(3);
    // Another client has its own bucket.
    expect(await hammer(replicas, '192.0.2.2', 20)).toBe(7);
    // The control: limits kept in each replica's memory give twice as much.
    const local = [new LocalClientLimiter(3, 7, () => t), new LocalClientLimiter(3, 7, () => t)];
    expect(await hammer(local, '192.0.2.1', 60)).toBe(14);
  });

  it('answer a refused client from memory until a token can have refilled', async () => {
    let t = 9_000_000;
    let queries = 0;
    const db = await pool();
    const counted = Object.assign(Object.create(db) as Db, {
      all: (sql: string, params?: (string | number | null)[]) => {
        queries++;
        return db.all(sql, params);
      },
    });
    const l = new SharedClientLimiter(counted, 4, 2, { prefix: 'oidc:', now: () => t, bucketNow: () => t });
    const answers = [];
    for (let i = 0; i < 100; i++) answers.push(await l.take('192.0.2.9'));
    expect(answers.filter((a) => a.ok)).toHaveLength(2);
    expect(answers[2]).toEqual({ ok: false, retryAfterSec: 1, cause: 'limited' });
    // Two grants and one refusal reached the database; 97 refusals were answered from memory.
    expect(queries).toBe(3);
    t += 250;
    expect((await l.take('192.0.2.9')).ok).toBe(true);
    expect(queries).toBe(4);
  });

  it('purges the rows of clients whose bucket has refilled', async () => {
    const db = await pool();
    const l = new SharedClientLimiter(db, 10, 10, { prefix: 'purge:' });
    await l.take('192.0.2.50');
    await db.run(`UPDATE rate_buckets SET at_ms = at_ms - 5000 WHERE key = 'purge:192.0.2.50'`);
    await l.take('192.0.2.51');
    expect(await l.purge()).toBe(1);
    const left = await db.all<{ key: string }>(`SELECT key FROM rate_buckets WHERE key LIKE 'purge:%'`);
    expect(left.map((r) => r.key)).toEqual(['purge:192.0.2.51']);
  });
});

describe('when PostgreSQL cannot be reached', () => {
  let lb: Balancer;
  let up = true;
  let pgPort: number;
  beforeAll(async () => {
    pgPort = Number(new URL(url).port);
    lb = await startBalancer(() => (up ? [pgPort] : []));
  });
  afterAll(async () => {
    await lb?.close();
  });

  it('fails closed with a 503 decision at once, probes once per cooldown, and recovers', async () => {
    let t = 0;
    let queries = 0;
    const downs: string[] = [];
    let ups = 0;
    const db = await pool(url.replace(`:${pgPort}/`, `:${lb.port}/`));
    const counted = Object.assign(Object.create(db) as Db, {
      all: (sql: string, params?: (string | number | null)[]) => {
        queries++;
        return db.all(sql, params);
      },
    });
    const l = new SharedClientLimiter(counted, 5, 5, {
      prefix: 'down:',
      now: () => t,
      cooldownMs: 5000,
      timeoutMs: 2000,
      onDown: (err) => downs.push((err as Error).message),
      onUp: () => ups++,
    });
    expect((await l.take('192.0.2.7')).ok).toBe(true);

    // The database goes away: new connections fail and the existing ones are cut, as in a restart.
    up = false;
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    await admin.query(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = 'limits' AND pid <> pg_backend_pid() AND client_port IS NOT NULL`,
    );
    await admin.end();

    const t0 = Date.now();
    const first = await l.take('192.0.2.7');
    expect(Date.now() - t0).toBeLessThan(2500);
    expect(first).toMatchObject({ ok: false, cause: 'unavailable', retryAfterSec: 5 });
    expect(downs).toHaveLength(1);
    expect(downs[0]).not.toMatch(/\n\s+at /); // a message, not a stack
    const before = queries;
    const during = await Promise.all(Array.from({ length: 50 }, (_, i) => l.take(`192.0.2.${i}`)));
    expect(during.every((d) => !d.ok && d.cause === 'unavailable')).toBe(true);
    expect(queries).toBe(before); // no retry storm: nothing reached for the database

    t += 5000; // the cooldown is over: one take probes, and the database is still down
    const probes = await Promise.all(Array.from({ length: 20 }, () => l.take('192.0.2.7')));
    expect(queries).toBe(before + 1);
    expect(probes.every((d) => !d.ok && d.cause === 'unavailable')).toBe(true);
    expect(downs).toHaveLength(1); // told once per outage

    up = true;
    t += 5000;
    expect((await l.take('192.0.2.7')).ok).toBe(true);
    expect(ups).toBe(1);
  }, 30_000);
});

const junk = (code: string): AuditInput => ({
  action: 'auth.github_oidc',
  outcome: 'refused',
  project_id: null,
  subject: null,
  reason: `invalid GitHub OIDC token (${code})`,
  details: { verification: code },
});

describe.each(['sqlite', 'postgres'] as const)('aggregated refusals from two replicas on %s', (backend) => {
  let dbs: Db[];
  let dir: string | undefined;
  beforeAll(async () => {
    if (backend === 'postgres') {
      const u = await pgs.createDatabase('refusals');
      dbs = [await pool(u), await pool(u)];
      await migrate(dbs[0]!, coreMigrations);
    } else {
      dir = mkdtempSync(join(tmpdir(), 'hoist-refusals-'));
      const db = await openDatabase({ dataDir: dir });
      opened.push(db);
      await migrate(db, coreMigrations);
      dbs = [db, db];
    }
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('writes exactly one row per client, reason and minute, with the total count', async () => {
    const minute = Date.parse('2026-11-29T20:00:00.000Z');
    let t = minute + 10_000;
    const clock = { now: () => new Date(t) };
    const audits = dbs.map((db) => new AuditLog(db, clock));
    const replicas = audits.map((a) => new RefusalAudit(a, clock, 60_000));
    const clients = ['192.0.2.1', '192.0.2.2', '2001:db8::1'];
    const codes = ['malformed', 'alg'];
    const want = new Map<string, number>();
    const work: Promise<void>[] = [];
    for (let i = 0; i < 600; i++) {
      const client = clients[i % 3]!;
      const code = codes[(i >> 2) % 2]!;
      want.set(`${client} ${code}`, (want.get(`${client} ${code}`) ?? 0) + 1);
      work.push(replicas[(i * 7) % 2]!.record(client, code, junk(code)));
      // Flushes race with records and with the other replica's flushes.
      if (i % 37 === 0) work.push(replicas[i % 2]!.flush());
    }
    await Promise.all(work);
    await Promise.all(replicas.map((r) => r.flush()));

    const rows = (await audits[0]!.list({ action: 'auth.github_oidc', limit: 1000 })).filter(
      (e) => e.details.window_start === new Date(minute).toISOString(),
    );
    expect(rows).toHaveLength(6);
    const got = new Map(
      rows.map((e) => [`${String(e.details.client_ip)} ${String(e.details.verification)}`, e]),
    );
    for (const [k, n] of want) {
      const e = got.get(k)!;
      expect([k, e.details.count]).toEqual([k, n]);
      expect(e.details.first_at).toBe(new Date(minute + 10_000).toISOString());
    }
    expect(rows.reduce((s, e) => s + Number(e.details.count), 0)).toBe(600);

    // The next minute is a row of its own; the last one is left as it was.
    t = minute + 61_000;
    await replicas[1]!.record('192.0.2.1', 'malformed', junk('malformed'));
    t = minute + 62_500;
    await replicas[0]!.record('192.0.2.1', 'malformed', junk('malformed'));
    await replicas[0]!.record('192.0.2.1', 'malformed', junk('malformed'));
    await Promise.all(replicas.map((r) => r.stop()));
    const all = await audits[1]!.list({ action: 'auth.github_oidc', limit: 1000 });
    const next = all.filter((e) => e.details.window_start === new Date(minute + 60_000).toISOString());
    expect(next).toHaveLength(1);
    expect(next[0]!.details).toMatchObject({
      client_ip: '192.0.2.1',
      count: 3,
      first_at: new Date(minute + 61_000).toISOString(),
      last_at: new Date(minute + 62_500).toISOString(),
    });
    expect(all).toHaveLength(7);
  });

  it('adds two large batches over the same rows at once, in several statements, without a deadlock', async () => {
    const minute = Date.parse('2026-11-29T21:00:00.000Z');
    const clock = { now: () => new Date(minute + 1000) };
    const audits = dbs.map((db) => new AuditLog(db, clock));
    const replicas = audits.map((a) => new RefusalAudit(a, clock, 60_000));
    const clients = Array.from({ length: 1200 }, (_, i) => `198.51.${i >> 8}.${i & 255}`);
    // Each replica: its first refusal of a client is written at once, two more wait in its batch.
    // The replicas meet the clients in opposite orders, so their batches overlap completely.
    for (const [r, order] of [
      [0, clients],
      [1, [...clients].reverse()],
    ] as const) {
      for (const c of order) await replicas[r]!.record(c, 'malformed', junk('malformed'));
      for (const c of order) void replicas[r]!.record(c, 'malformed', junk('malformed'));
      for (const c of order) void replicas[r]!.record(c, 'malformed', junk('malformed'));
    }
    await Promise.all(replicas.map((r) => r.flush()));
    const rows = (await audits[0]!.list({ action: 'auth.github_oidc', limit: 1000 })).filter(
      (e) => e.details.window_start === new Date(minute).toISOString(),
    );
    expect(rows).toHaveLength(1000); // the API's page size; the table holds the rest
    const [{ n, total }] = await dbs[0]!.all<{ n: number | string; total: number | string }>(
      `SELECT COUNT(*) AS n, SUM(agg_count) AS total FROM audit_events WHERE agg_key LIKE ?`,
      [`auth.github_oidc|malformed|${new Date(minute).toISOString()}|%`],
    );
    expect([Number(n), Number(total)]).toEqual([1200, 1200 * 6]);
    expect(rows.every((e) => e.details.count === 6)).toBe(true);
  }, 60_000);
});
