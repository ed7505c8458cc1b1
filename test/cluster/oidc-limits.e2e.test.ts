// Two `hoist server` replicas (child processes running the bundle) on one PostgreSQL, with the
// local GitHub issuer: one client hammering both alternately gets the OIDC rate limit once in
// total, not once per replica; its refusals are audited in one row per client, reason and
// minute with the exact total; when PostgreSQL goes away, exchanges fail closed with a 503 that
// says why, logged once, without a stack trace.
// Needs the bundle: `node .ci/build.mjs cli` (or npm run build).
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { request } from 'node:http';
import pg from 'pg';
import { startOidcIssuer, type OidcIssuer } from '../helpers/oidc-issuer.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

jest.setTimeout(120_000);

const RATE = 2;
const BURST = 4;

interface Answer {
  status: number;
  retryAfter: string | undefined;
  body: { error?: { code: string; message: string } };
}

/** POST an exchange from a chosen loopback address (each address is one client). */
function post(base: string, token: string, from: string): Promise<Answer> {
  const u = new URL('/v1/auth/github-oidc', base);
  const data = JSON.stringify({ token });
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: u.hostname,
        port: u.port,
        path: u.pathname,
        method: 'POST',
        localAddress: from,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) },
      },
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () =>
          resolve({
            status: res.statusCode!,
            retryAfter: res.headers['retry-after'] as string | undefined,
            body: JSON.parse(text) as Answer['body'],
          }),
        );
      },
    );
    req.on('error', reject);
    req.end(data);
  });
}

let pgs: TestPostgres;
let dbUrl: string;
let issuer: OidcIssuer;
const replicas: TestServer[] = [];

beforeAll(async () => {
  pgs = await startPostgres();
  dbUrl = await pgs.createDatabase('oidc_replicas');
  issuer = await startOidcIssuer({ defaults: { repository: 'acme/app' } });
  for (const name of ['replica-a', 'replica-b']) {
    replicas.push(
      await startTestServer({
        mode: 'process',
        databaseUrl: dbUrl,
        oidcIssuer: issuer.url,
        oidcAudience: 'https://hoist.example.test',
        env: { HOIST_REPLICA_ID: name },
        flags: { 'oidc-rate-limit': String(RATE), 'oidc-rate-burst': String(BURST) },
      }),
    );
  }
  issuer.setDefaultAudience('https://hoist.example.test');
}, 120_000);

afterAll(async () => {
  for (const r of replicas) await r.stop().catch(() => undefined);
  await issuer?.close();
  await pgs?.stop();
}, 60_000);

describe('the OIDC exchange behind two replicas on one PostgreSQL', () => {
  it('limits a client hammering both replicas to the rate and burst in total, and audits its refusals in one row per minute', async () => {
    // Start well inside a minute, so the hammering's refusals belong to one minute's row.
    const intoMinute = Date.now() % 60_000;
    if (intoMinute > 50_000) await new Promise((r) => setTimeout(r, 60_000 - intoMinute + 200));

    const clients = ['127.0.0.5', '127.0.0.6'];
    const seconds = 4;
    const answers = new Map<string, { replica: number; a: Answer }[]>(clients.map((c) => [c, []]));
    const t0 = Date.now();
    // Each client alternates between the replicas, as a round-robin balancer would send it, for
    // 4 s and at least 40 requests (however slow this machine is, the bound below follows).
    await Promise.all(
      clients.map(async (client) => {
        for (let i = 0; i < 40 || Date.now() - t0 < seconds * 1000; i++) {
          const replica = i % 2;
          answers.get(client)!.push({ replica, a: await post(replicas[replica]!.url, 'not.a-jwt', client) });
        }
      }),
    );
    const elapsedSec = (Date.now() - t0) / 1000;
    // Every take happened between t0 and now (in the database's clock, on this same host), so a
    // shared bucket can have granted at most BURST + RATE * elapsed; one bucket per replica
    // would have granted about twice that.
    const most = Math.floor(BURST + RATE * elapsedSec);

    const conn = new pg.Client({ connectionString: dbUrl });
    await conn.connect();
    try {
      for (const client of clients) {
        const all = answers.get(client)!;
        const passed = all.filter((x) => x.a.status !== 429);
        const limited = all.filter((x) => x.a.status === 429);
        expect(passed.every((x) => x.a.status === 401)).toBe(true);
        expect([client, passed.length >= BURST, passed.length <= most]).toEqual([client, true, true]);
        // Both replicas granted some and refused some: the bucket is one, not one each.
        for (const r of [0, 1]) {
          expect(passed.some((x) => x.replica === r)).toBe(true);
          expect(limited.some((x) => x.replica === r)).toBe(true);
        }
        process.stdout.write(
          `${client}: ${all.length} requests over ${elapsedSec.toFixed(2)} s to two replicas, ${passed.length} passed the limit (at most ${most} allowed, burst ${BURST} + ${RATE}/s), ${limited.length} answered 429\n`,
        );
        for (const { a } of limited.slice(0, 5)) {
          expect(a.retryAfter).toBe('1');
          expect(a.body.error!.code).toBe('rate_limited');
          expect(a.body.error!.message).toMatch(
            new RegExp(
              `from ${client.replace(/\./g, '\\.')}: this server accepts ${RATE} a second per client, counted across all replicas \\(bursts of ${BURST}\\); retry after 1 s\\. One exchange per job is enough.*--oidc-rate-limit`,
              's',
            ),
          );
        }

        // The refusals of this client's junk that got through: one row for the minute, from
        // both replicas' counts (the first write of each at once, the rest in their 5 s flush).
        let rows: { agg_count: string; details: string; at: string; agg_last_at: string }[] = [];
        const deadline = Date.now() + 20_000;
        do {
          rows = (
            await conn.query(
              `SELECT agg_count, details, at, agg_last_at FROM audit_events
               WHERE agg_key IS NOT NULL AND details LIKE $1`,
              [`%"client_ip":"${client}"%`],
            )
          ).rows as typeof rows;
          if (rows.length === 1 && Number(rows[0]!.agg_count) === passed.length) break;
          await new Promise((r) => setTimeout(r, 250));
        } while (Date.now() < deadline);
        expect(rows).toHaveLength(1);
        expect(Number(rows[0]!.agg_count)).toBe(passed.length);
        expect(JSON.parse(rows[0]!.details)).toMatchObject({ verification: 'malformed', client_ip: client });
        expect(rows[0]!.at <= rows[0]!.agg_last_at).toBe(true);
      }
      // The limit's rows are in the shared table, one per client.
      const buckets = await conn.query(`SELECT key FROM rate_buckets WHERE key LIKE 'oidc:%' ORDER BY key`);
      expect(buckets.rows.map((r: { key: string }) => r.key)).toEqual(clients.map((c) => `oidc:${c}`));
    } finally {
      await conn.end();
    }
    // The API shows the same row, with its count, on either replica.
    const viaApi = await replicas[1]!.api<{ events: { details: Record<string, unknown> }[] }>(
      'GET',
      '/v1/audit?action=auth.github_oidc&limit=1000',
    );
    const row = viaApi.body.events.filter((e) => e.details.client_ip === clients[0]);
    expect(row).toHaveLength(1);
    expect(row[0]!.details.count).toBe(answers.get(clients[0]!)!.filter((x) => x.a.status !== 429).length);
  });

  it('fails closed with a 503 that says why when PostgreSQL is gone, logging it once and without a stack', async () => {
    await pgs.stop();
    const got: Answer[] = [];
    for (let i = 0; i < 10; i++) got.push(await post(replicas[i % 2]!.url, 'not.a-jwt', '127.0.0.8'));
    for (const a of got) {
      expect(a.status).toBe(503);
      expect(a.body.error!.code).toBe('rate_limit_unavailable');
      expect(a.body.error!.message).toMatch(/cannot be reached.*retry after \d+ s.*PostgreSQL is up/s);
      expect(Number(a.retryAfter)).toBeGreaterThanOrEqual(1);
    }
    for (const r of replicas) {
      const lines = r
        .output()
        .split('\n')
        .filter((l) => l.includes('shared OIDC rate limit cannot reach'));
      expect(lines).toHaveLength(1);
      expect(r.output()).not.toMatch(/\n\s+at .*rate-limit/);
    }
  });
});
