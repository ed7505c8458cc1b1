// The ID-token request with retries, against a loopback stand-in for the Actions runtime's
// token service that fails on demand (same request format: GET <url>&audience=…, Bearer token,
// answer {"value": "<jwt>"}), and the preflight that names the permission.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { exchangeGithubOidc, getIdTokenWithRetries, preflightIdToken } from '../../src/actions/lib/oidc.js';
import { ConfigurationError, HoistApiError } from '../../src/lib/errors.js';
import { withEnvAsync } from './env.js';

let server: Server;
let url: string;
let failures = 0;
let status = 500;
const seen: { audience: string | null; auth: string | undefined }[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://x');
    seen.push({ audience: u.searchParams.get('audience'), auth: req.headers.authorization });
    if (failures > 0) {
      failures--;
      res.writeHead(status, { 'content-type': 'application/json' }).end('{"message":"try later"}');
      return;
    }
    res
      .writeHead(200, { 'content-type': 'application/json' })
      .end(JSON.stringify({ count: 1, value: 'eyJ.fake.jwt' }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/_apis/idtoken?api-version=2.0`;
});

afterAll(() => new Promise<void>((r) => server.close(() => r())));

beforeEach(() => {
  seen.length = 0;
  failures = 0;
});

const env = () => ({ ACTIONS_ID_TOKEN_REQUEST_URL: url, ACTIONS_ID_TOKEN_REQUEST_TOKEN: 'runtime-token' });

describe('getIdTokenWithRetries', () => {
  it('asks for the audience with the runtime bearer token', async () => {
    const token = await withEnvAsync(env(), () => getIdTokenWithRetries('https://hoist.example.com', 3, 1));
    expect(token).toBe('eyJ.fake.jwt');
    expect(seen).toEqual([{ audience: 'https://hoist.example.com', auth: 'Bearer runtime-token' }]);
  });

  it('retries a failing token service', async () => {
    failures = 2;
    status = 500;
    const token = await withEnvAsync(env(), () => getIdTokenWithRetries('aud', 3, 1));
    expect(token).toBe('eyJ.fake.jwt');
    expect(seen).toHaveLength(3);
  });

  it('gives up after the attempts with a message naming the audience', async () => {
    failures = 10;
    status = 401;
    await expect(withEnvAsync(env(), () => getIdTokenWithRetries('aud-x', 2, 1))).rejects.toThrow(
      /could not get a GitHub OIDC ID token for audience "aud-x" after 2 attempts/,
    );
    expect(seen).toHaveLength(2);
  });
});

describe('preflightIdToken', () => {
  it.each([[{}], [{ ACTIONS_ID_TOKEN_REQUEST_URL: 'http://x' }], [{ ACTIONS_ID_TOKEN_REQUEST_TOKEN: 't' }]])(
    'refuses %j, naming permissions: id-token: write',
    (vars) => {
      expect(() => preflightIdToken(vars)).toThrow(ConfigurationError);
      expect(() => preflightIdToken(vars)).toThrow(/permissions: id-token: write/);
    },
  );

  it('passes with both variables', () => {
    expect(() => preflightIdToken(env())).not.toThrow();
  });
});

describe('exchangeGithubOidc', () => {
  it('says the Hoist server cannot be reached (not that it refused) when nothing listens', async () => {
    // A port that was free a moment ago: connecting is refused at the TCP level.
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const apiUrl = `http://127.0.0.1:${(probe.address() as AddressInfo).port}`;
    await new Promise<void>((r) => probe.close(() => r()));
    const err = await withEnvAsync(env(), () =>
      exchangeGithubOidc({ apiUrl, audience: apiUrl, attempts: 1 }).then(
        () => null,
        (e: unknown) => e,
      ),
    );
    expect(err).toBeInstanceOf(HoistApiError);
    expect((err as HoistApiError).code).toBe('unreachable');
    expect((err as Error).message).toMatch(new RegExp(`^cannot reach the Hoist server at ${apiUrl}`));
    expect((err as Error).message).not.toMatch(/refused the GitHub OIDC exchange/);
    // The ID token was asked for once, for the audience.
    expect(seen.map((s) => s.audience)).toEqual([apiUrl]);
  });
});
