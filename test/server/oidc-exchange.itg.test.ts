// The GitHub OIDC exchange end to end: a real server (SQLite, then PostgreSQL), a local
// GitHub-like issuer over HTTP, real jose verification against its JWKS.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { AuditEvent, OidcExchangeResponse, Project, TrustPolicy } from '../../src/lib/api-types.js';
import { startOidcIssuer, type ClaimOverrides, type OidcIssuer } from '../helpers/oidc-issuer.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

type ErrorBody = { error: { code: string; message: string } };
const now = (): number => Math.floor(Date.now() / 1000);

describe.each(['sqlite', 'postgres'] as const)('POST /v1/auth/github-oidc on %s', (backend) => {
  let pg: TestPostgres | undefined;
  let issuer: OidcIssuer;
  let server: TestServer;
  const projects: Record<string, Project> = {};
  const policies: Record<string, TrustPolicy> = {};
  let exchanges = 0;

  const exchange = async (body: unknown, contentType = 'application/json') => {
    exchanges++;
    const res = await fetch(`${server.url}/v1/auth/github-oidc`, {
      method: 'POST',
      headers: { 'content-type': contentType },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: JSON.parse(text) as OidcExchangeResponse & ErrorBody };
  };
  const exchangeClaims = async (o: ClaimOverrides = {}, project?: string) =>
    exchange({ token: await issuer.sign(o), ...(project ? { project } : {}) });

  beforeAll(async () => {
    issuer = await startOidcIssuer({
      defaults: { repository: 'acme/app', repository_id: '100', repository_owner_id: '7' },
    });
    let databaseUrl: string | undefined;
    if (backend === 'postgres') {
      pg = await startPostgres();
      databaseUrl = await pg.createDatabase('hoist_oidc');
    }
    server = await startTestServer({ oidcIssuer: issuer.url, databaseUrl, plugins: [] });
    issuer.setDefaultAudience(server.url);
    for (const name of ['alpha', 'beta', 'gamma', 'delta', 'pins', 'prt'])
      projects[name] = await server.createProject(name);
    policies.alpha = await server.addTrustPolicy(projects.alpha!.id, {
      repository: 'Acme/App',
      refs: ['refs/heads/main', 'refs/tags/v*'],
    });
    policies.beta = await server.addTrustPolicy(projects.beta!.id, {
      repository: 'acme/deploy',
      repository_id: '200',
      repository_owner_id: '7',
      refs: ['refs/heads/main'],
      environment: 'production',
      workflow: 'deploy.yml',
    });
    policies.gamma = await server.addTrustPolicy(projects.gamma!.id, { repository: 'acme/shared' });
    policies.delta = await server.addTrustPolicy(projects.delta!.id, { repository: 'acme/shared' });
    policies.pins = await server.addTrustPolicy(projects.pins!.id, { repository: 'acme/pinme' });
    policies.prt = await server.addTrustPolicy(projects.prt!.id, {
      repository: 'acme/prt',
      allow_pull_request_target: true,
    });
  }, 60_000);

  afterAll(async () => {
    await server?.stop();
    await issuer?.close();
    await pg?.stop();
  }, 30_000);

  const deploy = {
    repository: 'acme/deploy',
    repository_id: '200',
    environment: 'production',
    job_workflow_ref: 'acme/deploy/.github/workflows/deploy.yml@refs/heads/main',
  };

  it('grants a trusted repository an OIDC token of one hour at most for its one project', async () => {
    const r = await exchangeClaims();
    expect(r.status).toBe(200);
    expect(r.body.project_id).toBe(projects.alpha!.id);
    expect(r.body.token).toMatch(/^hoist_oidc_[A-Za-z0-9_-]{43}$/);
    const ttl = Date.parse(r.body.expires_at) - Date.now();
    expect(ttl).toBeGreaterThan(3500_000);
    expect(ttl).toBeLessThanOrEqual(3600_000);
    const who = await server.api<{ kind: string; project_id: string }>(
      'GET',
      '/v1/auth/whoami',
      undefined,
      r.body.token,
    );
    expect(who.body).toMatchObject({ kind: 'oidc', project_id: projects.alpha!.id });
    // An OIDC token is no admin token.
    const listed = await server.api<{ tokens: { kind: string; expires_at: string }[] }>(
      'GET',
      `/v1/projects/${projects.alpha!.id}/tokens?kind=oidc`,
    );
    expect(listed.body.tokens.map((t) => t.kind)).toEqual(['oidc']);
    expect(listed.body.tokens[0]!.expires_at).toBe(r.body.expires_at);
    const admin = await server.api<ErrorBody>(
      'GET',
      `/v1/projects/${projects.alpha!.id}`,
      undefined,
      r.body.token,
    );
    expect(admin.status).toBe(403);
    expect(admin.body.error.code).toBe('wrong_token_kind');
  });

  it('accepts tags by glob, pull_request_target where allowed, and exp within the leeway', async () => {
    expect((await exchangeClaims({ ref: 'refs/tags/v1.2.0', ref_type: 'tag' })).status).toBe(200);
    expect(
      (
        await exchangeClaims({
          repository: 'acme/prt',
          repository_id: '500',
          event_name: 'pull_request_target',
        })
      ).status,
    ).toBe(200);
    expect((await exchangeClaims({ exp: now() - 10 })).status).toBe(200);
    expect((await exchangeClaims(deploy)).body.project_id).toBe(projects.beta!.id);
  });

  const tampered = async (): Promise<string> => {
    const [h, , s] = (await issuer.sign()).split('.');
    const forged = Buffer.from(JSON.stringify(issuer.claims({ repository: 'acme/deploy' }))).toString(
      'base64url',
    );
    return `${h}.${forged}.${s}`;
  };
  const forgedKid = async (): Promise<string> =>
    issuer.sign({}, { unpublishedKey: true, header: { kid: issuer.currentKid } });

  // [name, request body (or raw string), content type, expected status, expected code, message pattern, verification failure?]
  type Case = [string, () => Promise<unknown>, string, number, string, RegExp, boolean];
  const table: Case[] = [
    [
      'wrong issuer',
      async () => ({ token: await issuer.sign({ iss: 'https://token.actions.githubusercontent.com' }) }),
      'application/json',
      401,
      'invalid_token',
      /wrong issuer/,
      true,
    ],
    [
      'wrong audience',
      async () => ({ token: await issuer.sign({ aud: 'https://github.com/acme' }) }),
      'application/json',
      401,
      'invalid_token',
      /wrong audience.*request the token with audience http:\/\/127\.0\.0\.1/,
      true,
    ],
    [
      'several audiences',
      async () => ({ token: await issuer.sign({ aud: [server.url, 'https://other.example'] }) }),
      'application/json',
      401,
      'invalid_token',
      /2 audiences/,
      true,
    ],
    [
      'expired',
      async () => ({ token: await issuer.sign({ iat: now() - 400, exp: now() - 100 }) }),
      'application/json',
      401,
      'invalid_token',
      /expired/,
      true,
    ],
    [
      'not yet valid',
      async () => ({ token: await issuer.sign({ nbf: now() + 300 }) }),
      'application/json',
      401,
      'invalid_token',
      /not valid yet/,
      true,
    ],
    [
      'too old',
      async () => ({ token: await issuer.sign({ iat: now() - 3600, nbf: now() - 4000, exp: now() + 300 }) }),
      'application/json',
      401,
      'invalid_token',
      /too old/,
      true,
    ],
    [
      'issued in the future',
      async () => ({ token: await issuer.sign({ iat: now() + 600, exp: now() + 900 }) }),
      'application/json',
      401,
      'invalid_token',
      /future|not valid yet|too old/,
      true,
    ],
    [
      'alg none',
      async () => ({ token: issuer.signNone() }),
      'application/json',
      401,
      'invalid_token',
      /algorithm none/,
      true,
    ],
    [
      'HS256 signed with the public key',
      async () => ({ token: issuer.signHs256WithPublicKey() }),
      'application/json',
      401,
      'invalid_token',
      /algorithm HS256/,
      true,
    ],
    [
      'unknown kid',
      async () => ({ token: await issuer.sign({}, { unpublishedKey: true }) }),
      'application/json',
      401,
      'invalid_token',
      /unknown kid/,
      true,
    ],
    [
      'another key under a known kid',
      async () => ({ token: await forgedKid() }),
      'application/json',
      401,
      'invalid_token',
      /signature/,
      true,
    ],
    [
      'tampered payload',
      async () => ({ token: await tampered() }),
      'application/json',
      401,
      'invalid_token',
      /signature/,
      true,
    ],
    [
      'missing repository_id claim',
      async () => ({ token: await issuer.sign({ repository_id: undefined }) }),
      'application/json',
      401,
      'invalid_token',
      /repository_id/,
      true,
    ],
    [
      'missing jti claim',
      async () => ({ token: await issuer.sign({ jti: undefined }) }),
      'application/json',
      401,
      'invalid_token',
      /jti/,
      true,
    ],
    [
      'numeric repository_id claim',
      async () => ({ token: await issuer.sign({ repository_id: 100 }) }),
      'application/json',
      401,
      'invalid_token',
      /repository_id must be a non-empty string/,
      true,
    ],
    [
      'malformed JWT',
      async () => ({ token: 'not-a-jwt' }),
      'application/json',
      401,
      'invalid_token',
      /not a JWT/,
      true,
    ],
    [
      'JWT with a broken header',
      async () => ({ token: 'eyJub3Q.eyJ4IjoxfQ.c2ln' }),
      'application/json',
      401,
      'invalid_token',
      /header/,
      true,
    ],
    [
      'untrusted repository',
      async () => ({ token: await issuer.sign({ repository: 'evil/app', repository_id: '666' }) }),
      'application/json',
      403,
      'not_trusted',
      /no project trusts repository evil\/app/,
      false,
    ],
    [
      'same name, another repository_id (re-created)',
      async () => ({ token: await issuer.sign({ ...deploy, repository_id: '201' }) }),
      'application/json',
      403,
      'not_trusted',
      /pinned to repository_id 200 .*201.*re-created/,
      false,
    ],
    [
      'pull_request_target',
      async () => ({ token: await issuer.sign({ event_name: 'pull_request_target' }) }),
      'application/json',
      403,
      'not_trusted',
      /pull_request_target/,
      false,
    ],
    [
      'wrong environment',
      async () => ({ token: await issuer.sign({ ...deploy, environment: 'staging' }) }),
      'application/json',
      403,
      'not_trusted',
      /environment staging is not allowed \(the policy requires environment production\)/,
      false,
    ],
    [
      'wrong ref',
      async () => ({ token: await issuer.sign({ ref: 'refs/heads/feature' }) }),
      'application/json',
      403,
      'not_trusted',
      /project alpha.*ref refs\/heads\/feature is not allowed \(the policy allows refs\/heads\/main, refs\/tags\/v\*\)/,
      false,
    ],
    [
      'wrong workflow',
      async () => ({
        token: await issuer.sign({
          ...deploy,
          job_workflow_ref: 'acme/deploy/.github/workflows/ci.yml@refs/heads/main',
        }),
      }),
      'application/json',
      403,
      'not_trusted',
      /requires workflow deploy\.yml/,
      false,
    ],
    [
      'a named project that does not trust the repository',
      async () => ({ token: await issuer.sign(), project: 'beta' }),
      'application/json',
      403,
      'not_trusted',
      /no project "beta" trusts repository acme\/app/,
      false,
    ],
    [
      'several projects trust the repository',
      async () => ({ token: await issuer.sign({ repository: 'acme/shared', repository_id: '300' }) }),
      'application/json',
      400,
      'ambiguous_project',
      /several projects trust acme\/shared: (gamma|delta) .*, (gamma|delta) /,
      false,
    ],
    ['empty body', async () => '', 'application/json', 400, 'invalid_body', /empty/, false],
    [
      'body too large',
      async () => ({ token: 'x'.repeat(100_000) }),
      'application/json',
      413,
      'body_too_large',
      /larger than the limit/,
      false,
    ],
    [
      'non-JSON body',
      async () => 'token=abc',
      'application/x-www-form-urlencoded',
      400,
      'invalid_body',
      /not valid JSON/,
      false,
    ],
    ['text body', async () => 'hello', 'text/plain', 400, 'invalid_body', /not valid JSON/, false],
    [
      'broken JSON',
      async () => '{"token": ',
      'application/json',
      400,
      'invalid_body',
      /not valid JSON/,
      false,
    ],
    [
      'no token field',
      async () => ({}),
      'application/json',
      400,
      'invalid_request',
      /body\.token is required/,
      false,
    ],
    [
      'token is not a string',
      async () => ({ token: 123 }),
      'application/json',
      400,
      'invalid_request',
      /body\.token must be string/,
      false,
    ],
    [
      'unknown field',
      async () => ({ token: 'a.b.c', admin: true }),
      'application/json',
      400,
      'invalid_request',
      /body\.admin is not a known field/,
      false,
    ],
    [
      'a JSON array',
      async () => '[1,2]',
      'application/json',
      400,
      'invalid_request',
      /body must be object/,
      false,
    ],
  ];

  it(`refuses every bad token or body of a ${table.length}-case table with a 4xx that says why`, async () => {
    expect(table.length).toBeGreaterThanOrEqual(25);
    const secrets = Object.values(projects).flatMap((p) => [p.id, p.name]);
    const failures: string[] = [];
    for (const [name, make, ct, status, code, message, verification] of table) {
      const r = await exchange((await make()) as object, ct);
      if (
        r.status !== status ||
        r.body?.error?.code !== code ||
        !message.test(r.body?.error?.message ?? '')
      ) {
        failures.push(`${name}: got ${r.status} ${JSON.stringify(r.body)}`);
      }
      if (r.status >= 500 || 'token' in r.body)
        failures.push(`${name}: must never be 5xx or grant (${r.status})`);
      if (verification) {
        // A caller that proved nothing learns nothing about projects.
        for (const s of secrets) {
          if (new RegExp(`\\b${s}\\b`).test(r.body.error.message)) failures.push(`${name}: reveals ${s}`);
        }
      }
    }
    expect(failures).toEqual([]);
  });

  it('accepts each jti once', async () => {
    const token = await issuer.sign();
    expect((await exchange({ token })).status).toBe(200);
    const again = await exchange({ token });
    expect(again.status).toBe(401);
    expect(again.body.error.code).toBe('token_replayed');
    expect(again.body.error.message).toMatch(/already exchanged/);
  });

  it('picks up a key rotation at the issuer, and refuses keys the issuer retired', async () => {
    const oldToken = await issuer.sign();
    const fetchesBefore = issuer.stats.jwks;
    const kid = await issuer.rotate();
    const r = await exchangeClaims();
    expect(r.status).toBe(200);
    expect(issuer.stats.jwks).toBeGreaterThan(fetchesBefore);
    expect(issuer.currentKid).toBe(kid);
    // The old key is still published: its tokens still verify.
    expect((await exchange({ token: oldToken })).status).toBe(200);
    const stale = await issuer.sign({}, { unpublishedKey: true });
    await issuer.rotate({ retireOld: true });
    expect((await exchangeClaims()).status).toBe(200);
    expect((await exchange({ token: stale })).body.error.message).toMatch(/unknown kid/);
  });

  it('pins repository ids on first use and refuses a re-created repository afterwards', async () => {
    const pin = { repository: 'acme/pinme', repository_id: '700', repository_owner_id: '7' };
    const first = await exchangeClaims(pin);
    expect(first.status).toBe(200);
    expect(first.body.project_id).toBe(projects.pins!.id);
    const listed = await server.api<{ trust_policies: TrustPolicy[] }>(
      'GET',
      `/v1/projects/${projects.pins!.id}/trust-policies`,
    );
    expect(listed.body.trust_policies[0]).toMatchObject({ repository_id: '700', repository_owner_id: '7' });
    const recreated = await exchangeClaims({ ...pin, repository_id: '701' });
    expect(recreated.status).toBe(403);
    expect(recreated.body.error.message).toMatch(
      /pinned to repository_id 700 but the token's repository acme\/pinme has repository_id 701/,
    );
    const otherOwner = await exchangeClaims({ ...pin, repository_owner_id: '8' });
    expect(otherOwner.body.error.message).toMatch(/pinned to repository_owner_id 7/);
    expect((await exchangeClaims(pin)).status).toBe(200);
  });

  it('uses the named project when several trust the repository, by name or id', async () => {
    const shared = { repository: 'acme/shared', repository_id: '300' };
    expect((await exchangeClaims(shared, 'gamma')).body.project_id).toBe(projects.gamma!.id);
    expect((await exchangeClaims(shared, projects.delta!.id)).body.project_id).toBe(projects.delta!.id);
    const missing = await exchangeClaims(shared, 'no-such-project');
    expect(missing.status).toBe(403);
    expect(missing.body.error.message).toMatch(/no project "no-such-project" trusts repository acme\/shared/);
  });

  it('audits every exchange, granted or refused, with the reason', async () => {
    await server.running!.flushRefusals();
    const res = await server.api<{ events: AuditEvent[] }>(
      'GET',
      '/v1/audit?action=auth.github_oidc&limit=1000',
    );
    expect(res.status).toBe(200);
    const events = res.body.events;
    // Only bodies that reach the handler are exchanges: schema and body errors (9 in the table) are not.
    // Tokens that do not verify are aggregated per client and reason, with a count.
    const counted = events.reduce(
      (n, e) => n + (typeof e.details.count === 'number' ? e.details.count : 1),
      0,
    );
    expect(counted).toBe(exchanges - 9);
    const unverified = events.filter((e) => e.details.verification !== undefined);
    const reasons = unverified.map((e) => `${String(e.details.client_ip)} ${String(e.details.verification)}`);
    expect(new Set(reasons).size).toBe(reasons.length);
    expect(unverified.some((e) => (e.details.count as number) > 1)).toBe(true);
    const granted = events.filter((e) => e.outcome === 'granted');
    expect(granted.length).toBeGreaterThan(5);
    expect(granted[0]!.details).toMatchObject({
      token_id: expect.stringMatching(/^tok_/),
      policy_id: expect.stringMatching(/^tp_/),
    });
    const refused = events.filter((e) => e.outcome === 'refused');
    expect(refused.map((e) => e.reason)).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/wrong audience/),
        expect.stringMatching(/already exchanged/),
        expect.stringMatching(/pull_request_target/),
      ]),
    );
    for (const e of events) expect(JSON.stringify(e)).not.toMatch(/hoist_oidc_|eyJ/);
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toMatch(/hoist_oidc_exchanges_total\{outcome="granted",reason="granted"\} \d+/);
    expect(metrics).toMatch(/hoist_oidc_exchanges_total\{outcome="refused",reason="replay"\} [1-9]/);
  });

  it('purges expired jtis and long-expired OIDC tokens, and nothing else', async () => {
    const { db, tokens } = server.running!.deps;
    const day = 86400_000;
    const old = await tokens.mint({
      kind: 'oidc',
      name: 'old',
      project_id: projects.alpha!.id,
      expires_at: new Date(Date.now() - 8 * day),
    });
    const recent = await tokens.mint({
      kind: 'oidc',
      name: 'recent',
      project_id: projects.alpha!.id,
      expires_at: new Date(Date.now() - day),
    });
    const project = await tokens.mint({
      kind: 'project',
      name: 'kept',
      project_id: projects.alpha!.id,
      expires_at: new Date(Date.now() - 30 * day),
    });
    await db.run('INSERT INTO oidc_jtis (jti, expires_at, seen_at) VALUES (?, ?, ?)', [
      'old-jti',
      '2020-01-01T00:00:00.000Z',
      '2020-01-01T00:00:00.000Z',
    ]);
    const live = await issuer.sign();
    expect((await exchange({ token: live })).status).toBe(200);
    const purged = await server.running!.purgeExpired();
    expect(purged.jtis).toBeGreaterThanOrEqual(1);
    expect(await tokens.get(old.info.id)).toBeUndefined();
    expect(await tokens.get(recent.info.id)).toBeDefined();
    expect(await tokens.get(project.info.id)).toBeDefined();
    expect(await db.get('SELECT jti FROM oidc_jtis WHERE jti = ?', ['old-jti'])).toBeUndefined();
    // A jti whose token could still verify is kept: the replay stays refused.
    expect((await exchange({ token: live })).body.error.code).toBe('token_replayed');
  });

  it('remembers used jtis across a restart', async () => {
    const token = await issuer.sign();
    expect((await exchange({ token })).status).toBe(200);
    await server.restart();
    const again = await exchange({ token });
    expect(again.status).toBe(401);
    expect(again.body.error.code).toBe('token_replayed');
    expect((await exchangeClaims()).status).toBe(200);
  });
});

describe('an unreachable OIDC issuer', () => {
  it('answers 503 for a well-formed token, still 401 for a malformed one, and audits both', async () => {
    const issuer = await startOidcIssuer();
    const token = await issuer.sign({ aud: 'https://hoist.example' });
    const gone = issuer.url;
    await issuer.close();
    const server = await startTestServer({
      oidcIssuer: gone,
      oidcAudience: 'https://hoist.example',
      plugins: [],
    });
    try {
      const p = await server.createProject('lonely');
      await server.addTrustPolicy(p.id, { repository: 'octo-org/octo-repo' });
      const r = await server.api<ErrorBody>('POST', '/v1/auth/github-oidc', { token }, null);
      expect(r.status).toBe(503);
      expect(r.body.error.code).toBe('issuer_unavailable');
      expect(r.body.error.message).toContain(`${gone}/.well-known/openid-configuration`);
      expect(r.body.error.message).not.toMatch(/lonely|prj_/);
      const bad = await server.api<ErrorBody>('POST', '/v1/auth/github-oidc', { token: 'x.y' }, null);
      expect(bad.status).toBe(401);
      const audit = await server.api<{ events: AuditEvent[] }>('GET', '/v1/audit?action=auth.github_oidc');
      expect(audit.body.events.map((e) => e.details.verification)).toEqual([
        'malformed',
        'issuer_unavailable',
      ]);
    } finally {
      await server.stop();
    }
  });
});
