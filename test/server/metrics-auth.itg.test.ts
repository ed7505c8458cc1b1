// /metrics is open by default (the Prometheus convention, logged once at start) and needs a
// bearer token when the server is started with --metrics-token / HOIST_METRICS_TOKEN.
// /healthz stays open. A real server over real HTTP.
import { afterEach, describe, expect, it } from '@jest/globals';
import { ConfigurationError } from '../../src/lib/errors.js';
import { loadConfig } from '../../src/server/config.js';
import { bearerMatches } from '../../src/server/http/routes/system.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const TOKEN = 'metrics-0123456789abcdef-secret';

describe('GET /metrics', () => {
  let server: TestServer | undefined;
  afterEach(async () => {
    await server?.stop();
    server = undefined;
  });

  const get = (path: string, authorization?: string) =>
    fetch(`${server!.url}${path}`, { headers: authorization ? { authorization } : {} });

  it('with a metrics token, answers 401 without it or with another one, 200 with it; /healthz stays open', async () => {
    server = await startTestServer({ plugins: [], env: { HOIST_METRICS_TOKEN: TOKEN }, captureLogs: true });
    for (const auth of [
      undefined,
      `Bearer ${TOKEN.slice(0, -1)}x`,
      `Bearer ${TOKEN}x`,
      `Basic ${Buffer.from(`x:${TOKEN}`).toString('base64')}`,
      'Bearer',
      TOKEN,
    ]) {
      const r = await get('/metrics', auth);
      expect([auth, r.status]).toEqual([auth, 401]);
      expect(r.headers.get('www-authenticate')).toBe('Bearer realm="hoist metrics"');
      const body = (await r.json()) as { error: { code: string; message: string } };
      expect(body.error.code).toBe(auth ? 'invalid_token' : 'missing_token');
      expect(body.error.message).toMatch(/--metrics-token or HOIST_METRICS_TOKEN/);
      expect(JSON.stringify(body)).not.toContain(TOKEN.slice(8));
    }
    const ok = await get('/metrics', `Bearer ${TOKEN}`);
    expect(ok.status).toBe(200);
    expect(await ok.text()).toMatch(
      /hoist_http_request_duration_seconds_bucket\{.*route="\/metrics".*status="401"/,
    );
    expect((await get('/healthz')).status).toBe(200);
    expect(server.logs().filter((l) => /metrics is open/.test(l.msg))).toHaveLength(0);
    expect(JSON.stringify(server.logs())).not.toContain(TOKEN);
  });

  it('without a metrics token, is open and the server says so once at start', async () => {
    server = await startTestServer({ plugins: [], captureLogs: true });
    expect((await get('/metrics')).status).toBe(200);
    expect((await get('/metrics', 'Bearer anything')).status).toBe(200);
    const open = server.logs().filter((l) => /\/metrics is open/.test(l.msg));
    expect(open).toHaveLength(1);
    expect(open[0]!.msg).toMatch(/--metrics-token \(HOIST_METRICS_TOKEN\)/);
  });
});

describe('metrics token', () => {
  it('is compared whole: a prefix, a longer token or another scheme does not match', () => {
    expect(bearerMatches(`Bearer ${TOKEN}`, TOKEN)).toBe(true);
    expect(bearerMatches(`bearer  ${TOKEN} `, TOKEN)).toBe(true);
    expect(bearerMatches(`Bearer ${TOKEN.slice(0, 10)}`, TOKEN)).toBe(false);
    expect(bearerMatches(`Bearer ${TOKEN}${TOKEN}`, TOKEN)).toBe(false);
    expect(bearerMatches(`Token ${TOKEN}`, TOKEN)).toBe(false);
    expect(bearerMatches(undefined, TOKEN)).toBe(false);
  });

  it('must be 16 printable characters or more, and the message names where it came from', () => {
    const base = { 'data-dir': '/tmp/x' };
    expect(loadConfig({ ...base, 'metrics-token': TOKEN }, {}).metricsToken).toBe(TOKEN);
    expect(loadConfig(base, { HOIST_METRICS_TOKEN: TOKEN }).metricsToken).toBe(TOKEN);
    expect(loadConfig(base, {}).metricsToken).toBeUndefined();
    expect(() => loadConfig({ ...base, 'metrics-token': 'short' }, {})).toThrow(ConfigurationError);
    expect(() => loadConfig(base, { HOIST_METRICS_TOKEN: 'has a space in it!!' })).toThrow(
      /HOIST_METRICS_TOKEN must be at least 16 printable characters/,
    );
  });
});
