// Build insights through the real HTTP server and database: context at create, steps and
// Dockerfile from the build token, phases at finish, the JSON API, and the dashboard's
// sign-in, CSRF and Origin checks, CSP and escaping (no browser: see dashboard.e2e.test.ts).
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import {
  BUILD_STEPS_MAX,
  type BuildInfo,
  type BuildStep,
  type CreateBuildResponse,
  type PostStepsRequest,
} from '../../src/lib/api-types.js';
import { startOidcIssuer, type OidcIssuer } from '../helpers/oidc-issuer.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

jest.setTimeout(60_000);

let server: TestServer;
let projectToken: string;
let issuer: OidcIssuer;
let pg: TestPostgres | undefined;

const XSS = '<img src=x onerror="alert(1)"><script>alert(2)</script>';

async function setUp(databaseUrl?: string): Promise<void> {
  server = await startTestServer({ oidcIssuer: issuer.url, databaseUrl });
  issuer.setDefaultAudience(server.url);
  const p = await server.createProject('insights');
  projectToken = (await server.createProjectToken(p.id)).token;
}

beforeAll(async () => {
  issuer = await startOidcIssuer({
    defaults: { repository: 'acme/app', repository_id: '42', ref: 'refs/heads/main' },
  });
});
afterAll(async () => {
  await server?.stop();
  await issuer?.close();
  await pg?.stop();
});

async function createBuild(github: Record<string, string>): Promise<CreateBuildResponse> {
  const r = await server.api<CreateBuildResponse>(
    'POST',
    '/v1/builds',
    { platforms: [], options: {}, context: { source: 'action', github } },
    projectToken,
  );
  expect(r.status).toBe(201);
  return r.body;
}

function steps(cachedFirst: boolean, extra: Partial<PostStepsRequest['steps'][0]> = {}): PostStepsRequest {
  const t = (s: number): string => new Date(Date.UTC(2026, 0, 1, 0, 0, s)).toISOString();
  return {
    steps: [
      {
        platform: 'linux/amd64',
        digest: 'sha256:a',
        name: '[internal] load build definition from Dockerfile',
        stage: null,
        instruction: null,
        started_at: t(0),
        completed_at: t(1),
        cached: false,
        error: null,
        log_tail: '',
      },
      {
        platform: 'linux/amd64',
        digest: 'sha256:b',
        name: '[1/2] RUN echo one',
        stage: null,
        instruction: 'RUN echo one',
        started_at: t(1),
        completed_at: t(2),
        cached: cachedFirst,
        error: null,
        log_tail: 'one\n',
      },
      {
        platform: 'linux/amd64',
        digest: 'sha256:c',
        name: '[2/2] RUN echo two',
        stage: null,
        instruction: 'RUN echo two',
        started_at: t(2),
        completed_at: t(4),
        cached: false,
        error: null,
        log_tail: 'two\n',
        ...extra,
      },
    ],
    warnings: [
      {
        platform: 'linux/amd64',
        rule: 'JSONArgsRecommended',
        message: 'JSONArgsRecommended: use JSON',
        line: 3,
        end_line: 3,
      },
    ],
    dockerfile: {
      path: '/src/Dockerfile',
      sha256: 'ab'.repeat(32),
      contents: 'FROM scratch\nRUN echo one\nCMD run\n',
    },
  };
}

async function runBuild(github: Record<string, string>, req: PostStepsRequest): Promise<string> {
  const b = await createBuild(github);
  const posted = await server.api('POST', `/v1/builds/${b.build_id}/steps`, req, b.build_token);
  expect(posted.status).toBe(200);
  const fin = await server.api(
    'POST',
    `/v1/builds/${b.build_id}/finish`,
    { status: 'success', phases: { queued_ms: 10, setup_ms: 20, build_ms: 300, cleanup_ms: 5 } },
    b.build_token,
  );
  expect(fin.status).toBe(200);
  return b.build_id;
}

const GH = {
  repository: 'acme/app',
  repository_id: '42',
  ref: 'refs/heads/main',
  sha: 'deadbeefcafe0000',
  workflow: 'ci',
  run_id: '7',
  run_attempt: '2',
  job: 'build',
  actor: 'octocat',
  run_url: 'https://github.com/acme/app/actions/runs/7/attempts/2',
};

describe.each(['sqlite', 'postgres'] as const)('the JSON API on %s', (backend) => {
  let first: string;
  let second: string;
  beforeAll(async () => {
    await server?.stop();
    if (backend === 'postgres') {
      pg = await startPostgres();
      await setUp(await pg.createDatabase('hoist_insights'));
    } else {
      await setUp();
    }
    first = await runBuild(GH, steps(false));
    second = await runBuild(GH, steps(true));
  });

  it('returns the context, creator, phases, steps, Dockerfile and cache break of a build', async () => {
    const r = await server.api<BuildInfo>('GET', `/v1/builds/${second}`);
    expect(r.status).toBe(200);
    const ins = r.body.insights!;
    expect(ins.context).toEqual({ source: 'action', github: GH });
    expect(ins.created_by?.kind).toBe('project');
    expect(ins.phases).toEqual({ queued_ms: 10, setup_ms: 20, build_ms: 300, cleanup_ms: 5 });
    expect(ins.steps.map((s) => s.name)).toHaveLength(3);
    expect(ins.steps_total).toBe(2);
    expect(ins.steps_cached).toBe(1);
    expect(ins.cache_break).toEqual({
      previous_build_id: first,
      platform: 'linux/amd64',
      step: '[2/2] RUN echo two',
    });
    expect(ins.dockerfile?.contents).toContain('RUN echo one');
    expect(ins.warnings[0]).toMatchObject({ rule: 'JSONArgsRecommended', line: 3 });
    const one = await server.api<BuildInfo>('GET', `/v1/builds/${first}`);
    expect(one.body.insights!.cache_break).toEqual({
      previous_build_id: null,
      platform: 'linux/amd64',
      step: '[1/2] RUN echo one',
    });
  });

  it('refuses a malformed context, steps after finish, and steps from another build', async () => {
    const bad = await server.api(
      'POST',
      '/v1/builds',
      { platforms: [], context: { source: 'desk' } },
      projectToken,
    );
    expect(bad.status).toBe(400);
    const late = await server.api('POST', `/v1/builds/${first}/steps`, steps(false), projectToken);
    expect(late.status).toBe(409);
    expect(JSON.stringify(late.body)).toContain('already finished');
    const a = await createBuild(GH);
    const b = await createBuild(GH);
    const cross = await server.api('POST', `/v1/builds/${a.build_id}/steps`, steps(false), b.build_token);
    expect(cross.status).toBe(404);
    for (const x of [a, b]) await server.api('POST', `/v1/builds/${x.build_id}/cancel`, {}, projectToken);
  });

  it('records the trust policy and the claims that admitted an OIDC build', async () => {
    const projectId = (await server.api<{ id: string }>('GET', '/v1/projects/insights')).body.id;
    const policy = await server.addTrustPolicy(projectId, {
      repository: 'acme/app',
      refs: ['refs/heads/main'],
    });
    const ex = await server.api<{ token: string }>(
      'POST',
      '/v1/auth/github-oidc',
      { token: await issuer.sign() },
      null,
    );
    expect(ex.status).toBe(200);
    const created = await server.api<CreateBuildResponse>(
      'POST',
      '/v1/builds',
      { platforms: [] },
      ex.body.token,
    );
    expect(created.status).toBe(201);
    const r = await server.api<BuildInfo>('GET', `/v1/builds/${created.body.build_id}`);
    expect(r.body.insights!.created_by?.kind).toBe('oidc');
    expect(r.body.insights!.trust?.policy_id).toBe(policy.id);
    expect(r.body.insights!.trust?.claims).toMatchObject({
      repository: 'acme/app',
      ref: 'refs/heads/main',
      repository_id: '42',
    });
    await server.api('POST', `/v1/builds/${created.body.build_id}/cancel`, {}, projectToken);
  });

  it("counts time saved from each cached step's last uncached run, and marks the critical path", async () => {
    const two = (await server.api<BuildInfo>('GET', `/v1/builds/${second}`)).body.insights!;
    // "RUN echo one" took 1 s uncached in the first build and was cached in the second
    expect(two.time_saved_ms).toBe(1000);
    expect((await server.api<BuildInfo>('GET', `/v1/builds/${first}`)).body.insights!.time_saved_ms).toBe(0);
    // no inputs sent: by time, the last step and the steps that ended before each start
    expect(two.critical_path).toEqual({ 'linux/amd64': ['sha256:c', 'sha256:b', 'sha256:a'] });
    const rows = await server.running!.deps.db.all<{ id: string; saved_ms: number | null }>(
      'SELECT build_id AS id, saved_ms FROM build_insights WHERE build_id IN (?, ?)',
      [first, second],
    );
    expect(Object.fromEntries(rows.map((r) => [r.id, Number(r.saved_ms)]))).toEqual({
      [first]: 0,
      [second]: 1000,
    });
  });

  it('retention removes steps and logs of all but the newest builds, and keeps the summary for charts', async () => {
    const third = await runBuild(GH, steps(true));
    const { InsightsStore } = await import('../../src/server/insights/store.js');
    const store = new InsightsStore(server.running!.deps.db);
    const before = await store.chartBuilds(
      null,
      Date.parse('2000-01-01T00:00:00Z'),
      Date.parse('2100-01-01T00:00:00Z'),
      7 * 86400_000,
    );
    const n = await store.pruneSteps({ days: null, keep: 1, now: new Date() });
    expect(n).toBeGreaterThanOrEqual(2);
    const kept = (await server.api<BuildInfo>('GET', `/v1/builds/${third}`)).body.insights!;
    expect(kept.steps).toHaveLength(3);
    expect(kept.steps_pruned_at).toBeNull();
    const pruned = (await server.api<BuildInfo>('GET', `/v1/builds/${second}`)).body.insights!;
    expect(pruned.steps).toHaveLength(0);
    expect(pruned.steps_pruned_at).toEqual(expect.any(String));
    expect(pruned.dockerfile?.contents).toBeNull();
    expect(pruned).toMatchObject({ steps_total: 2, steps_cached: 1, time_saved_ms: 1000 });
    // the charts read summary rows only: the same builds before and after
    expect(
      await store.chartBuilds(
        null,
        Date.parse('2000-01-01T00:00:00Z'),
        Date.parse('2100-01-01T00:00:00Z'),
        7 * 86400_000,
      ),
    ).toEqual(before);
    // by age: nothing finished 1 day ago
    expect(await store.pruneSteps({ days: 1, keep: null, now: new Date() })).toBe(0);
  });

  it('serves the builders, the charts and the claims preview as JSON to admins only', async () => {
    const fleet = await server.api<{ builders: unknown[]; queue: unknown[] }>('GET', '/v1/builders');
    expect(fleet.status).toBe(200);
    expect(fleet.body).toEqual({ builders: [], queue: [] });
    expect((await server.api('GET', '/v1/builders', undefined, projectToken)).status).toBe(403);
    const charts = await server.api<{ range: string; points: { builds: number; p50_ms: number | null }[] }>(
      'GET',
      '/v1/insights/charts?project=insights&range=24h',
    );
    expect(charts.status).toBe(200);
    expect(charts.body.points.length).toBeGreaterThanOrEqual(24);
    expect(charts.body.points.reduce((n, p) => n + p.builds, 0)).toBeGreaterThanOrEqual(3);
    // the builds of this suite ran just now: all in the last bucket, with a duration from the database's arithmetic
    expect(charts.body.points.at(-1)!.builds).toBe(charts.body.points.reduce((n, p) => n + p.builds, 0));
    expect(charts.body.points.at(-1)!.p50_ms).toBeGreaterThanOrEqual(0);
    expect(charts.body.points.at(-1)!.p50_ms).toBeLessThan(60_000);
    const bad = await server.api<{ error: { message: string } }>('GET', '/v1/insights/charts?range=1y');
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.body)).toContain('range must be one of 24h, 7d, 30d, 90d');
    expect((await server.api('GET', '/v1/insights/charts?project=nope')).status).toBe(404);
    const pv = await server.api<{ granted: boolean; policy_id: string | null; policies: { why: string }[] }>(
      'POST',
      '/v1/projects/insights/trust-policies/preview',
      {
        claims: {
          repository: 'acme/app',
          repository_id: '42',
          repository_owner_id: '65',
          ref: 'refs/heads/dev',
          event_name: 'push',
        },
      },
    );
    expect(pv.status).toBe(200);
    expect(pv.body.granted).toBe(false);
    expect(pv.body.policies[0]!.why).toContain('ref refs/heads/dev is not allowed');
    const nope = await server.api('POST', '/v1/projects/insights/trust-policies/preview', {
      claims: { ref: 'x' },
    });
    expect(nope.status).toBe(400);
  });

  it('drops a run URL that is not https', async () => {
    const id = await runBuild({ ...GH, run_url: 'javascript:alert(1)' }, steps(false));
    const r = await server.api<BuildInfo>('GET', `/v1/builds/${id}`);
    expect(r.body.insights!.context!.github!.run_url).toBeUndefined();
  });

  it('merges batches sent while a build runs with the full set of its end: one row per vertex digest', async () => {
    const b = await createBuild({ ...GH, ref: 'refs/heads/live' });
    const post = (req: PostStepsRequest) =>
      server.api<{ steps: number }>('POST', `/v1/builds/${b.build_id}/steps`, req, b.build_token);
    const get = async () => (await server.api<BuildInfo>('GET', `/v1/builds/${b.build_id}`)).body.insights!;
    const full = steps(false);
    const [a, one, two] = full.steps as [BuildStep, BuildStep, BuildStep];
    const running = { ...two, completed_at: null, log_tail: 'tw' };

    expect((await post({ partial: true, steps: [a, running] })).body).toEqual({ steps: 2 });
    let ins = await get();
    expect(ins.steps_live).toBe(true);
    expect(ins.steps.map((s) => [s.digest, s.completed_at])).toEqual([
      ['sha256:a', a.completed_at],
      ['sha256:c', null],
    ]);
    // the running step again, finished, and a new one: still one row per digest, first seen first
    await post({ partial: true, steps: [two, one], warnings: full.warnings });
    // the same batch twice changes nothing; a batch without warnings keeps the ones sent
    await post({ partial: true, steps: [two, one] });
    ins = await get();
    expect(ins.steps.map((s) => s.digest)).toEqual(['sha256:a', 'sha256:c', 'sha256:b']);
    expect(ins.steps.find((s) => s.digest === 'sha256:c')).toMatchObject({
      completed_at: two.completed_at,
      log_tail: 'two\n',
    });
    expect(ins.warnings).toHaveLength(1);
    expect(ins.steps_total).toBe(2);

    // the full set of the end replaces them, in its own order
    expect((await post(full)).body).toEqual({ steps: 3 });
    ins = await get();
    expect(ins.steps_live).toBe(false);
    expect(ins.steps.map((s) => s.digest)).toEqual(['sha256:a', 'sha256:b', 'sha256:c']);
    expect(ins.dockerfile?.sha256).toBe('ab'.repeat(32));
    // a batch that arrives after it (it was in flight) is dropped
    expect((await post({ partial: true, steps: [{ ...running, log_tail: 'stale' }] })).body).toEqual({
      steps: 0,
    });
    expect((await get()).steps.find((s) => s.digest === 'sha256:c')!.log_tail).toBe('two\n');
    await server.api('POST', `/v1/builds/${b.build_id}/finish`, { status: 'success' }, b.build_token);
    // the build token died with the build: the CLI stops sending at the first refusal
    expect((await post({ partial: true, steps: [a] })).status).toBe(401);
  });

  it('caps the steps of a build across batches', async () => {
    const b = await createBuild({ ...GH, ref: 'refs/heads/many' });
    const many = (from: number): BuildStep[] =>
      Array.from({ length: 1500 }, (_, i) => ({ ...steps(false).steps[0]!, digest: `sha256:${from + i}` }));
    for (const from of [0, 1000]) {
      const r = await server.api(
        'POST',
        `/v1/builds/${b.build_id}/steps`,
        { partial: true, steps: many(from) },
        b.build_token,
      );
      expect(r.status).toBe(200);
    }
    const ins = (await server.api<BuildInfo>('GET', `/v1/builds/${b.build_id}`)).body.insights!;
    // 2500 distinct digests sent, 500 of them twice
    expect(ins.steps).toHaveLength(BUILD_STEPS_MAX);
    expect(new Set(ins.steps.map((s) => s.digest)).size).toBe(BUILD_STEPS_MAX);
    await server.api('POST', `/v1/builds/${b.build_id}/cancel`, {}, projectToken);
  });

  it('keeps the steps a build sent before the server canceled it, the unfinished one not completed', async () => {
    const b = await createBuild({ ...GH, ref: 'refs/heads/canceled' });
    const [a, , two] = steps(false).steps as [BuildStep, BuildStep, BuildStep];
    const r = await server.api(
      'POST',
      `/v1/builds/${b.build_id}/steps`,
      { partial: true, steps: [a, { ...two, completed_at: null }] },
      b.build_token,
    );
    expect(r.status).toBe(200);
    expect((await server.api('POST', `/v1/builds/${b.build_id}/cancel`, {}, projectToken)).status).toBe(200);
    const after = (await server.api<BuildInfo>('GET', `/v1/builds/${b.build_id}`)).body;
    expect(after.status).toBe('canceled');
    expect(after.insights!.steps_live).toBe(true);
    expect(after.insights!.steps.map((s) => [s.digest, s.completed_at])).toEqual([
      ['sha256:a', a.completed_at],
      ['sha256:c', null],
    ]);
  });
});

describe('the dashboard over HTTP', () => {
  let cookie = '';
  let csrf = '';
  const origin = (): string => new URL(server.url).origin;
  const get = (path: string, c = cookie): Promise<Response> =>
    fetch(`${server.url}${path}`, { headers: c ? { cookie: c } : {}, redirect: 'manual' });
  const post = (
    path: string,
    form: Record<string, string>,
    headers: Record<string, string> = {},
  ): Promise<Response> =>
    fetch(`${server.url}${path}`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: origin(), cookie, ...headers },
      body: new URLSearchParams(form).toString(),
    });

  it('sends a signed-out visitor to the sign-in page, with a strict CSP', async () => {
    const r = await get('/ui/builds', '');
    expect(r.status).toBe(303);
    expect(r.headers.get('location')).toBe('/ui/login');
    const login = await get('/ui/login', '');
    expect(login.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(login.headers.get('content-security-policy')).not.toContain('unsafe-inline');
  });

  it('refuses a project token and a sign-in from another origin', async () => {
    const prj = await post('/ui/login', { token: projectToken });
    expect(prj.status).toBe(403);
    const cross = await post('/ui/login', { token: server.adminToken }, { origin: 'https://evil.example' });
    expect(cross.status).toBe(403);
    expect(cross.headers.get('set-cookie')).toBeNull();
  });

  it('signs in with an admin token into an HttpOnly SameSite=Strict cookie', async () => {
    const r = await post('/ui/login', { token: server.adminToken });
    expect(r.status).toBe(303);
    const set = r.headers.get('set-cookie')!;
    expect(set).toMatch(/hoist_session=[\w-]+; Path=\/ui; HttpOnly; SameSite=Strict/);
    cookie = set.split(';')[0]!;
    const page = await get('/ui/builds');
    expect(page.status).toBe(200);
    const text = await page.text();
    csrf = /name="csrf" value="([^"]+)"/.exec(text)![1]!;
    expect(text).toContain('acme/app');
    expect(text).toContain('cached 1 of 2');
  });

  it('filters the list by repository, branch and status', async () => {
    const other = await get('/ui/builds/rows?repository=other%2Frepo');
    expect(await other.text()).toContain('No builds match');
    const main = await (await get('/ui/builds/rows?repository=acme%2Fapp&branch=main&status=success')).text();
    expect(main).toContain('data-status="success"');
    expect(main).not.toContain('data-status="canceled"');
  });

  it('shows step names, logs and errors a build wrote as text', async () => {
    const id = await runBuild(
      GH,
      steps(false, { name: `[2/2] RUN ${XSS}`, instruction: `RUN ${XSS}`, error: XSS, log_tail: XSS }),
    );
    const text = await (await get(`/ui/builds/${id}`)).text();
    expect(text).not.toContain('<script>alert');
    expect(text).not.toContain('<img src=x');
    expect(text).toContain('&lt;script&gt;alert(2)&lt;/script&gt;');
  });

  it('refuses sign-out without the CSRF token or from another origin, and signs out with both', async () => {
    expect((await post('/ui/logout', {})).status).toBe(403);
    expect((await post('/ui/logout', { csrf: 'x'.repeat(csrf.length) })).status).toBe(403);
    expect((await post('/ui/logout', { csrf }, { origin: 'http://127.0.0.1:1' })).status).toBe(403);
    expect((await get('/ui/builds')).status).toBe(200);
    const out = await post('/ui/logout', { csrf });
    expect(out.status).toBe(303);
    expect((await get('/ui/builds')).status).toBe(303);
  });
});
