// The admin API, tokens, auth helpers, the plugin mechanism, bad input, and CLI releases, on a
// real server over HTTP, against SQLite and PostgreSQL.
import { createHash } from 'node:crypto';
import { connect } from 'node:net';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type {
  AuditEvent,
  CliRelease,
  CreateTokenResponse,
  Project,
  TokenInfo,
  TrustPolicy,
} from '../../src/lib/api-types.js';
import { parseJsonBody } from '../../src/server/http/app.js';
import { ApiError } from '../../src/server/http/errors.js';
import type { HoistPlugin } from '../../src/server/http/plugin.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

type ErrorBody = { error: { code: string; message: string } };
const sha256 = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');

/** A plugin shaped like the builds plugin: a migration, guarded routes, build tokens, lifecycle hooks. */
function probePlugin(events: string[]): HoistPlugin {
  return {
    name: 'probe',
    migrations: [
      {
        id: 'probe-001',
        sql: {
          sqlite:
            'CREATE TABLE probe_builds (id TEXT PRIMARY KEY, project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE)',
          postgres:
            'CREATE TABLE probe_builds (id TEXT PRIMARY KEY, project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE)',
        },
      },
    ],
    options: [{ name: 'probe-flag', env: 'HOIST_PROBE_FLAG', description: 'a plugin flag' }],
    register(app, deps) {
      deps.lifecycle.onStart(
        () => void events.push(`start:${deps.config.pluginOptions['probe-flag'] ?? ''}`),
      );
      deps.lifecycle.onShutdown(() => void events.push('shutdown'));
      app.post<{ Body: { project: string } }>('/v1/probe/builds', async (req, reply) => {
        const who = await deps.auth.authenticate(req, 'project', 'oidc', 'admin');
        const project = await deps.projects.require(req.body.project);
        deps.auth.requireProject(who, project.id);
        const id = `b${Date.now()}${Math.random().toString(36).slice(2)}`;
        const minted = await deps.db.transaction(async (tx) => {
          await tx.run('INSERT INTO probe_builds (id, project_id) VALUES (?, ?)', [id, project.id]);
          return deps.tokens.mintBuildToken(
            { project_id: project.id, build_id: id, expires_at: new Date(Date.now() + 60_000) },
            tx,
          );
        });
        return reply.code(201).send({ build_id: id, build_token: minted.token });
      });
      app.post<{ Params: { id: string } }>(
        '/v1/probe/builds/:id/finish',
        { preHandler: deps.auth.require('build', 'project') },
        async (req) => {
          const row = await deps.db.get<{ id: string; project_id: string }>(
            'SELECT id, project_id FROM probe_builds WHERE id = ?',
            [req.params.id],
          );
          if (!row) throw new ApiError(404, 'build_not_found', `no build ${req.params.id}`);
          deps.auth.requireBuild(req.hoistAuth!, row);
          return { revoked: await deps.tokens.revokeForBuild(row.id) };
        },
      );
    },
  };
}

describe.each(['sqlite', 'postgres'] as const)('hoist server API on %s', (backend) => {
  let pg: TestPostgres | undefined;
  let server: TestServer;
  let releases: string;
  const events: string[] = [];

  beforeAll(async () => {
    releases = mkdtempSync(join(tmpdir(), 'hoist-releases-'));
    for (const f of [
      'hoist-0.1.0-linux-x64.tar.gz',
      'hoist-0.2.0-linux-x64.tar.gz',
      'hoist-0.2.0-linux-arm64.tar.gz',
      'hoist-1.0.0-rc.1-linux-x64.tar.gz',
    ]) {
      writeFileSync(join(releases, f), `tarball ${f}`);
    }
    mkdirSync(join(releases, 'not-a-release'));
    writeFileSync(join(releases, 'README.txt'), 'x');
    let databaseUrl: string | undefined;
    if (backend === 'postgres') {
      pg = await startPostgres();
      databaseUrl = await pg.createDatabase('hoist_api');
    }
    server = await startTestServer({
      databaseUrl,
      plugins: [probePlugin(events)],
      flags: { 'releases-dir': releases },
      env: { HOIST_PROBE_FLAG: 'on' },
    });
  }, 60_000);

  afterAll(async () => {
    await server?.stop();
    await pg?.stop();
    rmSync(releases, { recursive: true, force: true });
  }, 30_000);

  it('serves /healthz and Prometheus /metrics', async () => {
    const h = await server.api<{ status: string; database: string }>('GET', '/healthz', undefined, null);
    expect(h.body).toEqual({
      status: 'ok',
      database: backend,
      // One replica: the leader, whichever the database.
      cluster: {
        mode: backend === 'postgres' ? 'postgres-advisory-lock' : 'single',
        replica_id: expect.any(String),
        leader: true,
        leader_since: expect.any(String),
        leader_id: expect.any(String),
        elections: 1,
      },
    });
    expect(
      (h.body as unknown as { cluster: { leader_id: string; replica_id: string } }).cluster.leader_id,
    ).toBe((h.body as unknown as { cluster: { replica_id: string } }).cluster.replica_id);
    const m = await fetch(`${server.url}/metrics`);
    expect(m.headers.get('content-type')).toMatch(/text\/plain/);
    const text = await m.text();
    expect(text).toMatch(/# TYPE hoist_http_request_duration_seconds histogram/);
    expect(text).toMatch(
      /hoist_http_request_duration_seconds_count\{method="GET",route="\/healthz",status="200"\} [1-9]/,
    );
    expect(text).toMatch(/process_cpu_user_seconds_total/);
  });

  it('runs plugin migrations, flags and start hooks', async () => {
    expect(events).toEqual(['start:on']);
    const rows = await server.running!.deps.db.all<{ id: string }>(
      'SELECT id FROM schema_migrations ORDER BY id',
    );
    expect(rows.map((r) => r.id)).toEqual([
      '001-core',
      '002-project-autoscaling',
      '003-cluster',
      '004-shared-aggregates',
      'probe-001',
    ]);
  });

  it('creates, lists, reads, updates and deletes projects', async () => {
    const created = await server.api<Project>('POST', '/v1/projects', {
      name: 'web',
      max_concurrent_builds: 4,
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      id: expect.stringMatching(/^prj_/),
      name: 'web',
      max_concurrent_builds: 4,
    });
    const dup = await server.api<ErrorBody>('POST', '/v1/projects', { name: 'web' });
    expect(dup.status).toBe(409);
    expect(dup.body.error.message).toMatch(/already exists/);
    expect((await server.api<Project>('GET', '/v1/projects/web')).body.id).toBe(created.body.id);
    expect(
      (await server.api<{ projects: Project[] }>('GET', '/v1/projects')).body.projects.map((p) => p.name),
    ).toContain('web');
    const patched = await server.api<Project>('PATCH', `/v1/projects/${created.body.id}`, {
      name: 'web2',
      max_concurrent_builds: null,
    });
    expect(patched.body).toMatchObject({ name: 'web2', max_concurrent_builds: null });
    await server.createProject('other');
    const clash = await server.api<ErrorBody>('PATCH', `/v1/projects/${created.body.id}`, { name: 'other' });
    expect(clash.status).toBe(409);
    expect((await server.api<Project>('GET', `/v1/projects/${created.body.id}`)).body.name).toBe('web2');
    const tok = await server.createProjectToken(created.body.id);
    await server.addTrustPolicy(created.body.id, { repository: 'acme/web' });
    expect((await server.api('DELETE', `/v1/projects/${created.body.id}`)).status).toBe(204);
    expect((await server.api<ErrorBody>('GET', `/v1/projects/${created.body.id}`)).body.error.code).toBe(
      'project_not_found',
    );
    // Deleting a project deletes its tokens and policies.
    expect((await server.api('GET', '/v1/auth/whoami', undefined, tok.token)).status).toBe(401);
    const left = await server.running!.deps.db.get<{ n: number | string }>(
      'SELECT COUNT(*) AS n FROM trust_policies WHERE project_id = ?',
      [created.body.id],
    );
    expect(Number(left!.n)).toBe(0);
  });

  it('issues project tokens stored only as hashes, records last use, revokes them', async () => {
    const p = await server.createProject('tokens');
    const t = await server.createProjectToken(p.id, 'ci', 3600);
    expect(t.token).toMatch(/^hoist_prj_/);
    expect(Date.parse(t.expires_at!) - Date.now()).toBeGreaterThan(3500_000);
    const db = server.running!.deps.db;
    const row = await db.get<Record<string, unknown>>('SELECT * FROM tokens WHERE id = ?', [t.id]);
    expect(row!.hash).toBe(sha256(t.token));
    expect(JSON.stringify(row)).not.toContain(t.token);
    const before = (await server.api<{ tokens: TokenInfo[] }>('GET', `/v1/projects/${p.id}/tokens`)).body
      .tokens;
    expect(before).toHaveLength(1);
    expect(before[0]!.last_used_at).toBeNull();
    expect(JSON.stringify(before)).not.toContain(t.token);
    const who = await server.api<{ kind: string; project_id: string }>(
      'GET',
      '/v1/auth/whoami',
      undefined,
      t.token,
    );
    expect(who.body).toMatchObject({ kind: 'project', project_id: p.id });
    const after = (await server.api<{ tokens: TokenInfo[] }>('GET', `/v1/projects/${p.id}/tokens`)).body
      .tokens;
    expect(after[0]!.last_used_at).not.toBeNull();
    const revoked = await server.api<TokenInfo>('DELETE', `/v1/projects/${p.id}/tokens/${t.id}`);
    expect(revoked.body.revoked_at).not.toBeNull();
    const refused = await server.api<ErrorBody>('GET', '/v1/auth/whoami', undefined, t.token);
    expect(refused.status).toBe(401);
    expect(refused.body.error.code).toBe('token_revoked');
    const expired = await server.running!.deps.tokens.mint({
      kind: 'project',
      name: 'old',
      project_id: p.id,
      expires_at: new Date(Date.now() - 1000),
    });
    expect(
      (await server.api<ErrorBody>('GET', '/v1/auth/whoami', undefined, expired.token)).body.error.code,
    ).toBe('token_expired');
    // Another project's token id is not found under this project.
    const q = await server.createProject('tokens-q');
    const tq = await server.createProjectToken(q.id);
    expect((await server.api('DELETE', `/v1/projects/${p.id}/tokens/${tq.id}`)).status).toBe(404);
  });

  it('refuses missing, malformed, unknown and wrong-kind tokens', async () => {
    const p = await server.createProject('authz');
    const t = await server.createProjectToken(p.id);
    const cases: [string | null, number, string][] = [
      [null, 401, 'missing_token'],
      ['hoist_adm_doesnotexist', 401, 'invalid_token'],
      ['ghp_notahoisttoken', 401, 'invalid_token'],
      [t.token, 403, 'wrong_token_kind'],
    ];
    for (const [token, status, code] of cases) {
      const r = await server.api<ErrorBody>('GET', '/v1/projects', undefined, token);
      expect([r.status, r.body.error.code]).toEqual([status, code]);
    }
    const raw = await fetch(`${server.url}/v1/projects`, {
      headers: { authorization: 'Basic Zm9vOmJhcg==' },
    });
    expect(raw.status).toBe(401);
  });

  it('keeps each token inside its project, and a build token inside its build', async () => {
    const a = await server.createProject('iso-a');
    const b = await server.createProject('iso-b');
    const ta = await server.createProjectToken(a.id);
    const cross = await server.api<ErrorBody>('POST', '/v1/probe/builds', { project: b.id }, ta.token);
    expect(cross.status).toBe(404);
    expect(cross.body.error.message).not.toContain('iso-b');
    const own = await server.api<{ build_id: string; build_token: string }>(
      'POST',
      '/v1/probe/builds',
      { project: a.id },
      ta.token,
    );
    expect(own.status).toBe(201);
    expect(own.body.build_token).toMatch(/^hoist_bld_/);
    const other = await server.api<{ build_id: string }>(
      'POST',
      '/v1/probe/builds',
      { project: a.id },
      ta.token,
    );
    // A build token drives its own build only, and cannot create builds.
    expect(
      (await server.api('POST', `/v1/probe/builds/${other.body.build_id}/finish`, {}, own.body.build_token))
        .status,
    ).toBe(404);
    expect(
      (await server.api('POST', '/v1/probe/builds', { project: a.id }, own.body.build_token)).status,
    ).toBe(403);
    const who = await server.api<{ kind: string; build_id: string }>(
      'GET',
      '/v1/auth/whoami',
      undefined,
      own.body.build_token,
    );
    expect(who.body).toMatchObject({ kind: 'build', build_id: own.body.build_id, project_id: a.id });
    const fin = await server.api<{ revoked: number }>(
      'POST',
      `/v1/probe/builds/${own.body.build_id}/finish`,
      {},
      own.body.build_token,
    );
    expect(fin.body.revoked).toBe(1);
    expect(
      (await server.api<ErrorBody>('GET', '/v1/auth/whoami', undefined, own.body.build_token)).body.error
        .code,
    ).toBe('token_revoked');
  });

  it('validates trust policies and names the field', async () => {
    const p = await server.createProject('policies');
    const bad: [unknown, RegExp][] = [
      [{ provider: 'github', repository: 'nope' }, /body\.repository must be "owner\/name"/],
      [{ provider: 'gitlab', repository: 'a/b' }, /body\.provider must be one of "github"/],
      [
        { provider: 'github', repository: 'a/b', refs: ['main'] },
        /body\.refs\[0\] must match pattern .*e\.g\. refs\/heads\/main/,
      ],
      [{ provider: 'github', repository: 'a/b', repository_id: 12 }, /body\.repository_id must be string/],
      [
        { provider: 'github', repository: 'a/b', repository_id: 'abc' },
        /body\.repository_id must match pattern .*GitHub's numeric id/,
      ],
      [
        { provider: 'github', repository: 'a/b', allow_pull_request_target: 'yes' },
        /body\.allow_pull_request_target must be boolean/,
      ],
      [{ provider: 'github' }, /body\.repository is required/],
      [{ provider: 'github', repository: 'a/b', sub: 'repo:a/b:*' }, /body\.sub is not a known field/],
    ];
    for (const [body, msg] of bad) {
      const r = await server.api<ErrorBody>('POST', `/v1/projects/${p.id}/trust-policies`, body);
      expect(r.status).toBe(400);
      expect(r.body.error.message).toMatch(msg);
    }
    const ok = await server.addTrustPolicy(p.id, {
      repository: 'acme/x',
      refs: ['refs/heads/main'],
      environment: 'prod',
      workflow: 'ci.yml',
    });
    expect(ok).toMatchObject({
      repository: 'acme/x',
      refs: ['refs/heads/main'],
      environment: 'prod',
      workflow: 'ci.yml',
      allow_pull_request_target: false,
    });
    const list = await server.api<{ trust_policies: TrustPolicy[] }>(
      'GET',
      `/v1/projects/${p.id}/trust-policies`,
    );
    expect(list.body.trust_policies.map((x) => x.id)).toEqual([ok.id]);
    expect((await server.api('DELETE', `/v1/projects/${p.id}/trust-policies/${ok.id}`)).status).toBe(204);
    expect((await server.api('DELETE', `/v1/projects/${p.id}/trust-policies/${ok.id}`)).status).toBe(404);
  });

  it('answers bad input with 4xx naming the field, 413 for large bodies, never 5xx, and writes nothing', async () => {
    const db = server.running!.deps.db;
    const count = async (): Promise<number[]> => {
      const out: number[] = [];
      for (const t of ['projects', 'tokens', 'trust_policies', 'audit_events', 'oidc_jtis']) {
        out.push(Number((await db.get<{ n: number | string }>(`SELECT COUNT(*) AS n FROM ${t}`))!.n));
      }
      return out;
    };
    const before = await count();
    const big = { name: 'x'.repeat(300 * 1024) };
    const requests: [string, string, unknown, number, RegExp][] = [
      ['POST', '/v1/projects', big, 413, /larger than the limit of 262144 bytes/],
      [
        'POST',
        '/v1/projects',
        { name: 'Bad Name!' },
        400,
        /body\.name must match pattern .*lowercase letters, digits/,
      ],
      [
        'POST',
        '/v1/projects',
        { name: 'ok', max_concurrent_builds: 0 },
        400,
        /max_concurrent_builds must be a whole number from 1 to 10000, got 0/,
      ],
      [
        'POST',
        '/v1/projects',
        { name: 'ok', max_concurrent_builds: '3' },
        400,
        /body\.max_concurrent_builds must be number or null/,
      ],
      ['POST', '/v1/projects', '{"name":', 400, /not valid JSON/],
      ['POST', '/v1/projects', '', 400, /empty/],
      ['POST', '/v1/projects/nope/tokens', { name: 't' }, 404, /no project with id or name "nope"/],
      [
        'POST',
        '/v1/projects/nope/trust-policies',
        { provider: 'github', repository: 'a/b' },
        404,
        /no project/,
      ],
      [
        'POST',
        '/v1/projects/nope/tokens',
        { name: 't', expires_in: 5 },
        400,
        /body\.expires_in must be >= 60/,
      ],
      ['PATCH', '/v1/projects/nope', {}, 400, /body must NOT have fewer than 1 properties/],
      ['DELETE', '/v1/projects/nope', undefined, 404, /no project/],
      ['GET', '/v1/audit?limit=abc', undefined, 400, /querystring\.limit must match pattern/],
      ['GET', '/v1/audit?limit=0', undefined, 400, /querystring\.limit must be between 1 and 1000/],
      ['GET', '/v1/audit?foo=1', undefined, 400, /querystring\.foo is not a known field/],
      ['GET', '/v1/nothing-here', undefined, 404, /no route GET \/v1\/nothing-here/],
      ['PUT', '/v1/projects', {}, 404, /no route PUT/],
    ];
    for (const [method, path, body, status, msg] of requests) {
      const r = await server.api<ErrorBody>(method, path, body);
      expect([method, path, r.status]).toEqual([method, path, status]);
      expect(r.body.error.message).toMatch(msg);
      expect(JSON.stringify(r.body)).not.toMatch(/ at .*\.(ts|js):\d+/);
    }
    expect(await count()).toEqual(before);
  });

  it('refuses prototype-poisoning keys with any content type, saying which keys', async () => {
    const bodies = [
      '{"name":"p1","__proto__":{"admin":true}}',
      '{"name":"p2","constructor":{"prototype":{"admin":true}}}',
      '{"project":"x","options":{"a":{"__proto__":{"admin":true}}}}',
    ];
    for (const contentType of ['application/json', 'text/plain', 'application/x-www-form-urlencoded']) {
      for (const body of bodies) {
        const r = await fetch(`${server.url}/v1/projects`, {
          method: 'POST',
          headers: { authorization: `Bearer ${server.adminToken}`, 'content-type': contentType },
          body,
        });
        const answer = (await r.json()) as ErrorBody;
        expect([contentType, body, r.status, answer.error.code]).toEqual([
          contentType,
          body,
          400,
          'invalid_body',
        ]);
        expect(answer.error.message).toMatch(/"__proto__" or "constructor": \{"prototype"\} key/);
      }
    }
    // A key merely named constructor is data like any other.
    expect(parseJsonBody('{"constructor":"x","a":{"constructor":{"name":"y"}}}')).toEqual({
      constructor: 'x',
      a: { constructor: { name: 'y' } },
    });
  });

  it('answers malformed URLs and malformed HTTP in the same error shape', async () => {
    const badUrl = await server.api<ErrorBody>('GET', '/v1/projects/%E0%A4%A');
    expect([badUrl.status, badUrl.body.error.code]).toEqual([400, 'bad_url']);
    const long = await server.api<ErrorBody>('GET', `/v1/projects/${'a'.repeat(3000)}`);
    expect([long.status, long.body.error.code]).toEqual([414, 'uri_too_long']);
    const raw = await new Promise<string>((resolve, reject) => {
      const { port } = new URL(server.url);
      const sock = connect(Number(port), '127.0.0.1', () => {
        sock.write('POST /v1/projects HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n{}');
      });
      let data = '';
      sock.on('data', (d: Buffer) => (data += d.toString()));
      sock.on('close', () => resolve(data));
      sock.on('error', reject);
    });
    expect(raw).toMatch(/^HTTP\/1\.1 400 /);
    expect(JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4))).toEqual({
      error: { code: 'bad_http_request', message: expect.stringMatching(/not valid HTTP/) },
    });
  });

  it('rolls a failed transaction back completely', async () => {
    const db = server.running!.deps.db;
    const projects = server.running!.deps.projects;
    await expect(
      db.transaction(async (tx) => {
        await projects.create({ name: 'half-written' }, tx);
        await tx.run(
          'INSERT INTO audit_events (id, at, action, outcome, reason, details) VALUES (?, ?, ?, ?, ?, ?)',
          ['aud_x', 'now', 'x', 'ok', 'r', '{}'],
        );
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(await projects.find('half-written')).toBeUndefined();
    expect(await db.get('SELECT id FROM audit_events WHERE id = ?', ['aud_x'])).toBeUndefined();
    // A statement that fails inside a transaction also undoes the earlier ones.
    const failed = await db
      .transaction(async (tx) => {
        await projects.create({ name: 'half-2' }, tx);
        await tx.run('INSERT INTO projects (id, name, created_at, updated_at) VALUES (?, ?, ?, ?)', [
          'p1',
          'half-2',
          'x',
          'x',
        ]);
        return 'committed';
      })
      .catch((err: unknown) => String((err as Error).message));
    expect(failed).toMatch(/unique|duplicate/i);
    expect(await projects.find('half-2')).toBeUndefined();
  });

  it('audits admin changes', async () => {
    const p = await server.createProject('audited');
    await server.addTrustPolicy(p.id, { repository: 'acme/audited' });
    const r = await server.api<{ events: AuditEvent[] }>('GET', `/v1/audit?project=audited&limit=10`);
    expect(r.body.events.map((e) => e.action)).toEqual(['trust_policy.create', 'project.create']);
  });

  it('resolves CLI releases by spec for the requested os/arch and serves the tarball', async () => {
    const get = (path: string) => server.api<CliRelease & ErrorBody>('GET', path, undefined, null);
    const latest = await get('/v1/cli/releases/latest?os=linux&arch=x64');
    expect(latest.status).toBe(200);
    const content = Buffer.from('tarball hoist-0.2.0-linux-x64.tar.gz');
    expect(latest.body).toEqual({
      version: '0.2.0',
      url: `${server.url}/v1/cli/downloads/hoist-0.2.0-linux-x64.tar.gz`,
      sha256: sha256(content),
      size: content.length,
    });
    expect((await get('/v1/cli/releases/latest?os=linux&arch=arm64')).body.url).toMatch(
      /hoist-0\.2\.0-linux-arm64\.tar\.gz$/,
    );
    expect((await get('/v1/cli/releases/latest?os=Linux&arch=amd64')).body.version).toBe('0.2.0');
    expect((await get('/v1/cli/releases/0.1.0?os=linux&arch=x64')).body.version).toBe('0.1.0');
    expect((await get(`/v1/cli/releases/${encodeURIComponent('^0.1')}?os=linux&arch=x64`)).body.version).toBe(
      '0.1.0',
    );
    expect(
      (await get(`/v1/cli/releases/${encodeURIComponent('>=1.0.0-rc.0')}?os=linux&arch=x64`)).body.version,
    ).toBe('1.0.0-rc.1');
    const none = await get('/v1/cli/releases/9.9.9?os=linux&arch=x64');
    expect([none.status, none.body.error.message]).toEqual([
      404,
      'no CLI release for linux-x64 matches "9.9.9"; available: 0.1.0, 0.2.0, 1.0.0-rc.1',
    ]);
    expect((await get('/v1/cli/releases/latest?os=darwin&arch=arm64')).status).toBe(404);
    expect((await get('/v1/cli/releases/not%20a%20version')).body.error.code).toBe('invalid_version_spec');
    expect((await get('/v1/cli/releases/latest?os=plan9')).body.error.message).toMatch(
      /querystring\.os "plan9"/,
    );
    const dl = await fetch(latest.body.url);
    expect(dl.status).toBe(200);
    expect(dl.headers.get('content-type')).toBe('application/gzip');
    expect(Buffer.from(await dl.arrayBuffer())).toEqual(content);
    for (const evil of ['..%2F..%2Fetc%2Fpasswd', 'README.txt', 'hoist-9.9.9-linux-x64.tar.gz']) {
      expect((await fetch(`${server.url}/v1/cli/downloads/${evil}`)).status).toBe(404);
    }
  });

  it('runs shutdown hooks on restart', async () => {
    await server.restart();
    expect(events).toEqual(['start:on', 'shutdown', 'start:on']);
    expect((await server.api('GET', '/v1/projects')).status).toBe(200);
  });
});

describe('admin tokens', () => {
  it('creates more admin tokens, lists them without secrets, and revokes them', async () => {
    const server = await startTestServer({ plugins: [] });
    try {
      const t = await server.api<CreateTokenResponse>('POST', '/v1/admin/tokens', { name: 'second' });
      expect(t.body.token).toMatch(/^hoist_adm_/);
      const list = await server.api<{ tokens: TokenInfo[] }>('GET', '/v1/admin/tokens');
      expect(list.body.tokens.map((x) => x.name).sort()).toEqual(['second', 'test admin']);
      expect(JSON.stringify(list.body)).not.toContain(t.body.token);
      expect((await server.api('GET', '/v1/projects', undefined, t.body.token)).status).toBe(200);
      const self = list.body.tokens.find((x) => x.name === 'test admin')!;
      expect((await server.api<ErrorBody>('DELETE', `/v1/admin/tokens/${self.id}`)).body.error.code).toBe(
        'revoke_self',
      );
      expect((await server.api('DELETE', `/v1/admin/tokens/${t.body.id}`)).status).toBe(200);
      expect((await server.api('GET', '/v1/projects', undefined, t.body.token)).status).toBe(401);
      // Creating and revoking an admin token are both audited, with who did it.
      const audit = await server.api<{ events: { action: string; subject: string; details: unknown }[] }>(
        'GET',
        '/v1/audit?limit=10',
      );
      const mine = audit.body.events.filter(
        (e) => (e.details as { token_id?: string }).token_id === t.body.id,
      );
      expect(mine.map((e) => [e.action, e.subject])).toEqual([
        ['token.revoke', self.id],
        ['token.create', self.id],
      ]);
    } finally {
      await server.stop();
    }
  });
});
