// Rate limits keyed by the real client: with --trust-proxy, X-Forwarded-For from the named proxy
// picks the OIDC exchange bucket (and the audited client_ip); from any other peer, and without
// the flag, the header is ignored, so a client cannot pick or escape its own bucket. A real
// server on SQLite, real HTTP from two loopback addresses (127.0.0.1 is the "proxy"); the
// forwarded addresses are documentation ranges that appear only in headers.
import { request } from 'node:http';
import { afterEach, describe, expect, it } from '@jest/globals';
import type { AuditEvent } from '../../src/lib/api-types.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

interface Answer {
  status: number;
  body: { error?: { code: string; message: string } };
}

function post(base: string, opts: { from?: string; forwardedFor?: string } = {}): Promise<Answer> {
  const u = new URL('/v1/auth/github-oidc', base);
  const data = JSON.stringify({ token: 'not.a-jwt.x' });
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: u.hostname,
        port: u.port,
        path: u.pathname,
        method: 'POST',
        localAddress: opts.from ?? '127.0.0.1',
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(data),
          ...(opts.forwardedFor ? { 'x-forwarded-for': opts.forwardedFor } : {}),
        },
      },
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(text) as Answer['body'] }));
      },
    );
    req.on('error', reject);
    req.end(data);
  });
}

describe('--trust-proxy', () => {
  let server: TestServer | undefined;
  afterEach(async () => {
    await server?.stop();
    server = undefined;
  });
  const start = async (flags: Record<string, string>): Promise<TestServer> =>
    (server = await startTestServer({
      plugins: [],
      flags: { 'oidc-rate-limit': '1', 'oidc-rate-burst': '1', ...flags },
    }));

  it('keys the rate limit and the audit on the client a trusted proxy forwards for', async () => {
    const s = await start({ 'trust-proxy': '127.0.0.1' });
    const a = '203.0.113.7';
    expect((await post(s.url, { forwardedFor: a })).status).toBe(401);
    const limited = await post(s.url, { forwardedFor: a });
    expect(limited.status).toBe(429);
    expect(limited.body.error!.message).toContain(`from ${a}`);
    // Another client behind the same proxy has its own bucket.
    expect((await post(s.url, { forwardedFor: '203.0.113.8' })).status).toBe(401);
    // A client that prepends a made-up address is still keyed on the address the proxy saw.
    expect((await post(s.url, { forwardedFor: `198.51.100.1, ${a}` })).status).toBe(429);

    // A peer that is not a trusted proxy is keyed on itself, whatever it forwards.
    expect((await post(s.url, { from: '127.0.0.2', forwardedFor: '203.0.113.9' })).status).toBe(401);
    expect((await post(s.url, { from: '127.0.0.2', forwardedFor: '203.0.113.10' })).status).toBe(429);

    await s.running!.flushRefusals();
    const { events } = (
      await s.api<{ events: AuditEvent[] }>('GET', '/v1/audit?action=auth.github_oidc&limit=100')
    ).body;
    expect(events.map((e) => e.details.client_ip).sort()).toEqual(['127.0.0.2', a, '203.0.113.8']);
  });

  it('ignores X-Forwarded-For without the flag, so a client cannot escape its bucket', async () => {
    const s = await start({});
    expect((await post(s.url, { forwardedFor: '203.0.113.7' })).status).toBe(401);
    const limited = await post(s.url, { forwardedFor: '203.0.113.8' });
    expect(limited.status).toBe(429);
    expect(limited.body.error!.message).toContain('from 127.0.0.1');
  });
});
