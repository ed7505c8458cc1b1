// The verifier against an issuer that is down: it asks again after a short pause, not once per
// exchange (a flood of exchanges must not become a flood of requests to the issuer).
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ApiError } from '../../src/server/http/errors.js';
import { GithubOidcVerifier } from '../../src/server/auth/oidc.js';
import { systemClock } from '../../src/server/util.js';

let server: Server;
let url = '';
let hits = 0;

beforeAll(async () => {
  server = createServer((_req, res) => {
    hits++;
    res.writeHead(502).end('bad gateway');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((r) => server.close(r));
});

const b64 = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url');
const token = `${b64({ alg: 'RS256', kid: 'k1', typ: 'JWT' })}.${b64({ iss: 'x' })}.c2ln`;

function verifier(jwksCooldownMs: number): GithubOidcVerifier {
  return new GithubOidcVerifier(
    { issuer: url, audience: 'aud', leewaySec: 30, maxAgeSec: 600, jwksCooldownMs, jwksTimeoutMs: 2000 },
    systemClock,
  );
}

async function refusal(v: GithubOidcVerifier): Promise<ApiError> {
  const err = await v.verify(token).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ApiError);
  return err as ApiError;
}

describe('OIDC discovery while the issuer is down', () => {
  it('answers 503 and asks the issuer again only after a pause', async () => {
    hits = 0;
    const v = verifier(300);
    for (let i = 0; i < 5; i++) {
      const e = await refusal(v);
      expect([e.status, e.code]).toEqual([503, 'issuer_unavailable']);
      expect(e.message).toContain(`${url}/.well-known/openid-configuration: HTTP 502`);
    }
    expect(hits).toBe(1);
    await new Promise((r) => setTimeout(r, 400));
    await refusal(v);
    expect(hits).toBe(2);
  });

  it('with no cooldown configured, asks again every time', async () => {
    hits = 0;
    const v = verifier(0);
    for (let i = 0; i < 3; i++) await refusal(v);
    expect(hits).toBe(3);
  });
});
