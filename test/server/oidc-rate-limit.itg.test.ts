// Junk tokens cannot flood the database: POST /v1/auth/github-oidc has a per-client-IP token
// bucket (429 + Retry-After; in PostgreSQL, shared by replicas), and refusals of tokens that do
// not verify are audited once per client, reason and minute with a count. Verified refusals and grants stay one row each.
// A real server (SQLite, then PostgreSQL), the local issuer, real HTTP from two loopback IPs.
import { request } from 'node:http';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import type { AuditEvent } from '../../src/lib/api-types.js';
import { ConfigurationError } from '../../src/lib/errors.js';
import { loadConfig } from '../../src/server/config.js';
import { startOidcIssuer, type OidcIssuer } from '../helpers/oidc-issuer.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: { error?: { code: string; message: string }; token?: string };
}

/** POST an exchange from a chosen loopback address (127.0.0.1 and 127.0.0.2 are two clients). */
function post(
  base: string,
  token: string,
  from = '127.0.0.1',
  headers: Record<string, string> = {},
): Promise<Answer> {
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
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(data),
          ...headers,
        },
      },
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () =>
          resolve({
            status: res.statusCode!,
            headers: res.headers,
            body: JSON.parse(text) as Answer['body'],
          }),
        );
      },
    );
    req.on('error', reject);
    req.end(data);
  });
}

describe.each(['sqlite', 'postgres'] as const)('OIDC exchange flood control on %s', (backend) => {
  let pg: TestPostgres | undefined;
  let issuer: OidcIssuer;
  let server: TestServer | undefined;
  let n = 0;

  beforeAll(async () => {
    if (backend === 'postgres') pg = await startPostgres();
    issuer = await startOidcIssuer({ defaults: { repository: 'acme/app' } });
  }, 60_000);
  afterEach(async () => {
    await server?.stop();
    server = undefined;
  });
  afterAll(async () => {
    await issuer?.close();
    await pg?.stop();
  }, 30_000);

  async function start(flags: Record<string, string> = {}): Promise<TestServer> {
    const databaseUrl = pg ? await pg.createDatabase(`hoist_flood_${++n}`) : undefined;
    server = await startTestServer({ oidcIssuer: issuer.url, databaseUrl, plugins: [], flags });
    issuer.setDefaultAudience(server.url);
    const p = await server.createProject('app');
    await server.addTrustPolicy(p.id, { repository: 'acme/app' });
    return server;
  }
  const oidcEvents = async (): Promise<AuditEvent[]> =>
    (await server!.api<{ events: AuditEvent[] }>('GET', '/v1/audit?action=auth.github_oidc&limit=1000')).body
      .events;

  it('answers 429 with Retry-After past the per-client burst, for good tokens too, and audits none of them', async () => {
    const s = await start({ 'oidc-rate-limit': '5', 'oidc-rate-burst': '10' });
    const answers: Answer[] = [];
    // No tight wall-clock bound: however slowly this machine sends the 20 requests, at most the
    // burst plus what refilled meanwhile get through, and at least the burst (a fresh client).
    const t0 = Date.now();
    for (let i = 0; i < 20; i++) answers.push(await post(s.url, 'not.a-jwt.x'));
    const elapsedSec = (Date.now() - t0) / 1000;
    const refused = answers.filter((a) => a.status === 401).length;
    const limited = answers.filter((a) => a.status === 429);
    expect(refused).toBeGreaterThanOrEqual(10);
    expect(refused).toBeLessThanOrEqual(10 + Math.floor(5 * elapsedSec));
    expect(limited.length).toBe(20 - refused);
    expect(limited.length).toBeGreaterThan(0);
    const l = limited[0]!;
    expect(Number(l.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(l.body.error!.code).toBe('rate_limited');
    expect(l.body.error!.message).toMatch(/5 a second per client.*retry after \d+ s.*--oidc-rate-limit/s);

    // Valid tokens from the same client are limited too (a slow machine may let a refilled one
    // through first: each is then a grant); another client is not affected.
    let validGrants = 0;
    let valid: Answer | undefined;
    for (let i = 0; i < 20 && valid?.status !== 429; i++) {
      valid = await post(s.url, await issuer.sign());
      if (valid.status === 200) validGrants++;
    }
    expect(valid!.status).toBe(429);
    const good = await issuer.sign();
    const other = await post(s.url, await issuer.sign(), '127.0.0.2');
    expect(other.status).toBe(200);
    expect(other.body.token).toMatch(/^hoist_oidc_/);

    await new Promise((r) => setTimeout(r, Number(l.headers['retry-after']) * 1000));
    expect((await post(s.url, good)).status).toBe(200);

    await s.running!.flushRefusals();
    const events = await oidcEvents();
    const counted = events.reduce(
      (sum, e) => sum + (typeof e.details.count === 'number' ? e.details.count : 1),
      0,
    );
    expect(counted).toBe(refused + validGrants + 2);
    const metrics = await (await fetch(`${s.url}/metrics`)).text();
    const m = /hoist_oidc_exchanges_total\{outcome="refused",reason="rate_limited"\} (\d+)/.exec(metrics);
    expect(Number(m?.[1])).toBe(limited.length + 1);
  });

  it('counts an IPv6 client by its /64 (any address in it is the same client), an IPv4-mapped one by its IPv4', async () => {
    // the clients' addresses as a trusted proxy names them
    const s = await start({ 'oidc-rate-limit': '1', 'oidc-rate-burst': '2', 'trust-proxy': '127.0.0.1' });
    const from = (ip: string): Promise<Answer> =>
      post(s.url, 'not.a-jwt.x', '127.0.0.1', { 'x-forwarded-for': ip });
    expect((await from('2001:db8:1:2::a')).status).toBe(401);
    expect((await from('2001:db8:1:2:ffff:1:2:3')).status).toBe(401);
    const limited = await from('2001:db8:1:2::b');
    expect(limited.status).toBe(429);
    expect(limited.body.error!.message).toMatch(
      /too many GitHub OIDC exchanges from 2001:db8:1:2::b \(counted as 2001:db8:1:2::\/64\)/,
    );
    // the next /64 is another client
    expect((await from('2001:db8:1:3::a')).status).toBe(401);
    // an IPv4 client is the same client however its address is written
    expect((await from('198.51.100.7')).status).toBe(401);
    expect((await from('::ffff:198.51.100.7')).status).toBe(401);
    const v4 = await from('198.51.100.7');
    expect(v4.status).toBe(429);
    expect(v4.body.error!.message).toMatch(/too many GitHub OIDC exchanges from 198\.51\.100\.7:/);
  });

  it('audits unverifiable tokens once per client, reason and window with a count; verified refusals one by one', async () => {
    const s = await start();
    // The first refusal is in the audit at once; the next ones are counted, then flushed.
    expect((await post(s.url, 'x.y')).status).toBe(401);
    let events = await oidcEvents();
    expect(events).toHaveLength(1);
    expect(events[0]!.details).toMatchObject({ verification: 'malformed', client_ip: '127.0.0.1', count: 1 });
    for (let i = 1; i < 30; i++) expect((await post(s.url, 'x.y')).status).toBe(401);

    for (let i = 0; i < 5; i++) expect((await post(s.url, 'x.y', '127.0.0.2')).status).toBe(401);
    for (let i = 0; i < 3; i++) expect((await post(s.url, issuer.signNone())).status).toBe(401);
    const untrusted = [];
    for (let i = 0; i < 3; i++)
      untrusted.push(await post(s.url, await issuer.sign({ repository: 'acme/other' })));
    expect(untrusted.map((a) => a.status)).toEqual([403, 403, 403]);
    const token = await issuer.sign();
    expect((await post(s.url, token)).status).toBe(200);
    expect((await post(s.url, token)).body.error!.code).toBe('token_replayed');

    await s.running!.flushRefusals();
    events = await oidcEvents();
    const agg = (ip: string, reason: string) =>
      events.filter((e) => e.details.client_ip === ip && e.details.verification === reason);
    // Summed over rows: a minute may have ended in the middle of the 30 (one row per minute).
    const total = (ip: string, reason: string) =>
      agg(ip, reason).reduce((n, e) => n + Number(e.details.count), 0);
    expect(agg('127.0.0.1', 'malformed').length).toBeLessThanOrEqual(2);
    expect(total('127.0.0.1', 'malformed')).toBe(30);
    expect(total('127.0.0.2', 'malformed')).toBe(5);
    expect(total('127.0.0.1', 'alg')).toBe(3);
    const first = agg('127.0.0.1', 'malformed')[0]!.details;
    expect(Date.parse(String(first.last_at))).toBeGreaterThanOrEqual(Date.parse(String(first.first_at)));
    // Verified tokens: one row per exchange, without an aggregate count.
    const verified = events.filter((e) => e.details.verification === undefined);
    expect(verified).toHaveLength(5);
    expect(verified.filter((e) => e.outcome === 'granted')).toHaveLength(1);
    for (const e of verified) expect(e.details.count).toBeUndefined();

    // More junk after a flush adds to the row of its minute (a new row only if the minute
    // changed meanwhile): one row per client, reason and minute, never one per flush.
    expect((await post(s.url, 'x.y')).status).toBe(401);
    await s.running!.flushRefusals();
    events = await oidcEvents();
    const rows = events.filter(
      (e) => e.details.client_ip === '127.0.0.1' && e.details.verification === 'malformed',
    );
    const windows = rows.map((e) => String(e.details.window_start));
    expect(new Set(windows).size).toBe(rows.length);
    expect(rows.length).toBeLessThanOrEqual(2);
    expect(rows.reduce((n, e) => n + Number(e.details.count), 0)).toBe(31);
  });
});

describe('rate limit configuration', () => {
  const base = { 'data-dir': '/tmp/x' };
  it('defaults to 20/s with bursts of 40, and the burst follows the rate', () => {
    expect(loadConfig(base, {}).oidc).toMatchObject({ rateLimitPerSec: 20, rateBurst: 40 });
    expect(loadConfig(base, { HOIST_OIDC_RATE_LIMIT: '100' }).oidc).toMatchObject({
      rateLimitPerSec: 100,
      rateBurst: 200,
    });
    expect(loadConfig({ ...base, 'oidc-rate-limit': '0' }, {}).oidc.rateLimitPerSec).toBe(0);
    expect(loadConfig({ ...base, 'oidc-rate-burst': '7' }, {}).oidc.rateBurst).toBe(7);
  });
  it('refuses values that are not whole numbers, naming the flag or variable', () => {
    expect(() => loadConfig({ ...base, 'oidc-rate-limit': 'fast' }, {})).toThrow(ConfigurationError);
    expect(() => loadConfig({ ...base, 'oidc-rate-limit': 'fast' }, {})).toThrow(
      /--oidc-rate-limit must be a whole number/,
    );
    expect(() => loadConfig(base, { HOIST_OIDC_RATE_BURST: '0' })).toThrow(
      /HOIST_OIDC_RATE_BURST must be between 1/,
    );
  });
});
