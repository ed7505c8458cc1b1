// The issuer's discovery document: it must name the configured issuer (OpenID Connect Discovery
// 1.0 §4.3), and it is read again on a schedule and when a token's key is not found, at most once
// per JWKS cooldown. A real server (SQLite, then PostgreSQL) and the local issuer over HTTP.
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { ApiError } from '../../src/server/http/errors.js';
import { GithubOidcVerifier } from '../../src/server/auth/oidc.js';
import { systemClock } from '../../src/server/util.js';
import { startOidcIssuer, type OidcIssuer } from '../helpers/oidc-issuer.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

type ErrorBody = { error: { code: string; message: string } };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.each(['sqlite', 'postgres'] as const)('OIDC discovery on %s', (backend) => {
  let pg: TestPostgres | undefined;
  let issuer: OidcIssuer;
  let server: TestServer | undefined;
  let n = 0;

  beforeAll(async () => {
    if (backend === 'postgres') pg = await startPostgres();
  }, 60_000);
  afterEach(async () => {
    await server?.stop();
    server = undefined;
    await issuer?.close();
  });
  afterAll(async () => {
    await pg?.stop();
  }, 30_000);

  async function start(flags: Record<string, string> = {}): Promise<TestServer> {
    issuer = await startOidcIssuer({ defaults: { repository: 'acme/secret-app' } });
    const databaseUrl = pg ? await pg.createDatabase(`hoist_disc_${++n}`) : undefined;
    server = await startTestServer({
      oidcIssuer: issuer.url,
      databaseUrl,
      plugins: [],
      captureLogs: true,
      flags,
    });
    issuer.setDefaultAudience(server.url);
    const p = await server.createProject('confidential-project');
    await server.addTrustPolicy(p.id, { repository: 'acme/secret-app' });
    return server;
  }

  const exchange = async (token: string) => {
    const r = await server!.api<ErrorBody & { token?: string }>(
      'POST',
      '/v1/auth/github-oidc',
      { token },
      null,
    );
    return r;
  };

  it('refuses a discovery document naming another issuer: 503 that says nothing, an error in the log', async () => {
    await start();
    issuer.setDiscovery({ issuer: 'https://evil.example' });
    const r = await exchange(await issuer.sign());
    expect(r.status).toBe(503);
    expect(r.body.error.code).toBe('issuer_unavailable');
    expect(r.body.error.message).not.toMatch(/confidential|prj_|secret-app|evil/);
    const logged = server!.logs().filter((l) => l.level === 50 && l.discovery_issuer !== undefined);
    expect(logged[0]).toMatchObject({
      configured_issuer: issuer.url,
      discovery_issuer: 'https://evil.example',
    });
    expect(logged[0]!.msg).toMatch(/--oidc-issuer/);

    // No issuer at all, or one with a trailing slash, is not equal either.
    issuer.setDiscovery({ issuer: undefined });
    expect((await exchange(await issuer.sign())).status).toBe(503);
    issuer.setDiscovery({ issuer: `${issuer.url}/` });
    expect((await exchange(await issuer.sign())).status).toBe(503);

    // Once the issuer publishes the right document, exchanges work (cooldown 0 here: no pause).
    issuer.setDiscovery({});
    const ok = await exchange(await issuer.sign());
    expect(ok.status).toBe(200);
    expect(ok.body.token).toMatch(/^hoist_oidc_/);
  });

  it('follows a moved jwks_uri when a kid is unknown, at most once per cooldown', async () => {
    await start({ 'oidc-jwks-cooldown-ms': '1000' });
    expect((await exchange(await issuer.sign())).status).toBe(200);
    expect(issuer.stats.discovery).toBe(1);

    issuer.moveJwks('/keys/v2');
    await issuer.rotate({ retireOld: true });
    // Within the cooldown neither the JWKS nor the discovery document is read again.
    const early = await exchange(await issuer.sign());
    expect(early.status).toBe(401);
    expect(issuer.stats.discovery).toBe(1);

    await sleep(1100);
    const moved = await exchange(await issuer.sign());
    expect(moved.status).toBe(200);
    expect(issuer.stats.discovery).toBe(2);

    // A flood of tokens with unknown kids does not become a flood of requests to the issuer.
    const before = { ...issuer.stats };
    for (let i = 0; i < 15; i++) {
      const r = await exchange(await issuer.sign({}, { unpublishedKey: true }));
      expect(r.status).toBe(401);
      expect(r.body.error.message).toMatch(/unknown kid/);
    }
    expect(issuer.stats.discovery - before.discovery).toBeLessThanOrEqual(1);
    expect(issuer.stats.jwks - before.jwks).toBeLessThanOrEqual(1);
  });
});

describe('the discovery document schedule', () => {
  let issuer: OidcIssuer;
  beforeAll(async () => {
    issuer = await startOidcIssuer();
  });
  afterAll(async () => {
    await issuer.close();
  });

  it('is read again once its age passes, and a mismatch found then drops the old keys', async () => {
    const errors: object[] = [];
    const v = new GithubOidcVerifier(
      {
        issuer: issuer.url,
        audience: 'https://hoist.example',
        leewaySec: 30,
        maxAgeSec: 600,
        jwksCooldownMs: 0,
        jwksTimeoutMs: 2000,
        discoveryMaxAgeMs: 300,
      },
      systemClock,
      { warn: () => undefined, error: (o) => void errors.push(o) },
    );
    const sign = () => issuer.sign({ aud: 'https://hoist.example' });
    await v.verify(await sign());
    await v.verify(await sign());
    expect(issuer.stats.discovery).toBe(1);
    await sleep(350);
    await v.verify(await sign());
    expect(issuer.stats.discovery).toBe(2);

    issuer.setDiscovery({ issuer: 'https://token.actions.githubusercontent.com' });
    await sleep(350);
    const err = await v.verify(await sign()).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).status).toBe(503);
    expect(errors).toHaveLength(1);
  });
});
