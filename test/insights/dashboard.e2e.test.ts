// The dashboard in a real headless Chromium (Debian's chromium driven by playwright-core)
// against a real `hoist server` whose builds run on the real engine through the CLI bundle
// (run `node .ci/build.mjs cli` first): sign-in, the list updating live, the build page's
// waterfall and cache break after two builds, Dockerfile warnings, CSRF and XSS.
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import type { BuildInfo } from '../../src/lib/api-types.js';
import { makeDockerConfig, startRegistry, type DockerConfig, type Registry } from '../helpers/engine.js';
import { startOidcIssuer, type OidcIssuer } from '../helpers/oidc-issuer.js';
import { CLI_BUNDLE, REPO_ROOT, startTestServer, type TestServer } from '../helpers/server.js';
import { waitForFinishersOf } from '../helpers/finisher.js';

jest.setTimeout(300_000);

const SHOTS = path.join(REPO_ROOT, 'test-results', 'dashboard');
const CHROMIUM = '/usr/bin/chromium';
const MARKUP = `<script>window.__xss=1</script><img src=x onerror="window.__xss=2">`;

let tmp: string;
let registry: Registry;
let docker: DockerConfig;
let server: TestServer;
let projectToken: string;
let browser: BrowserContext;
let page: Page;
let evil: Server | undefined;
let issuer: OidcIssuer;
let projectId: string;

const GH = {
  GITHUB_REPOSITORY: 'acme/app',
  GITHUB_REPOSITORY_ID: '4242',
  GITHUB_REF: 'refs/heads/main',
  GITHUB_SHA: '0123456789abcdef0123456789abcdef01234567',
  GITHUB_WORKFLOW: 'ci',
  GITHUB_RUN_ID: '99',
  GITHUB_RUN_ATTEMPT: '1',
  GITHUB_JOB: 'build',
  GITHUB_ACTOR: 'octocat',
  GITHUB_SERVER_URL: 'https://github.com',
};

function hoistBuild(
  args: string[],
  extra: Record<string, string> = {},
): Promise<{ code: number | null; stderr: string; id: string }> {
  return new Promise((resolve) => {
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      ...docker.env,
      ...GH,
      HOIST_API_URL: server.url,
      HOIST_TOKEN: projectToken,
      HOIST_CONFIG: path.join(tmp, 'no-config.json'),
      HOIST_TMPDIR: tmp,
      ...extra,
    };
    for (const k of [
      'HOIST_PROJECT_ID',
      'HOIST_BUILDX',
      'ACTIONS_ID_TOKEN_REQUEST_URL',
      'ACTIONS_ID_TOKEN_REQUEST_TOKEN',
    ]) {
      delete env[k];
    }
    // `hoist bake ...` when args start with bake, else `hoist build ...`
    const child = spawn(process.execPath, [CLI_BUNDLE, ...(args[0] === 'bake' ? args : ['build', ...args])], {
      env,
      cwd: tmp,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stdout.resume();
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    // a successful build's end (its steps, its finish) runs in a background process after the
    // CLI exits: wait for it
    child.on(
      'close',
      (code) =>
        void waitForFinishersOf(stderr).then(() =>
          resolve({ code, stderr, id: /hoist: build (bld_\w+): /.exec(stderr)?.[1] ?? '' }),
        ),
    );
  });
}

const shot = (name: string): Promise<Buffer> =>
  page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });

beforeAll(async () => {
  if (!existsSync(CLI_BUNDLE))
    throw new Error(`${CLI_BUNDLE} is missing: run "node .ci/build.mjs cli" first`);
  if (!existsSync(CHROMIUM))
    throw new Error(`${CHROMIUM} is missing: apt-get install chromium (test/engine/engine.sh installs it)`);
  await fs.mkdir(SHOTS, { recursive: true });
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'hoist-dash-e2e-'));
  registry = await startRegistry();
  docker = await makeDockerConfig();
  issuer = await startOidcIssuer({
    defaults: {
      repository: 'acme/app',
      repository_id: '4242',
      repository_owner_id: '77',
      ref: 'refs/heads/main',
    },
  });
  server = await startTestServer({
    oidcIssuer: issuer.url,
    flags: { 'builder-insecure-registries': registry.host },
  });
  issuer.setDefaultAudience(server.url);
  const p = await server.createProject('dash');
  projectId = p.id;
  projectToken = (await server.createProjectToken(p.id, 'e2e')).token;
  await fs.mkdir(path.join(tmp, 'ctx'));
  // "as" against "FROM" and a shell-form CMD: two build-check warnings at known lines
  await fs.writeFile(
    path.join(tmp, 'ctx', 'Dockerfile'),
    [
      `FROM ${registry.baseImage} as base`,
      'RUN echo "first step"',
      'ARG BUST',
      'RUN echo "second $BUST" && sleep 3',
      `RUN echo '${MARKUP}'`,
      'CMD echo done',
      '',
    ].join('\n'),
  );
  const userData = await fs.mkdtemp(path.join(tmp, 'chromium-'));
  browser = await chromium.launchPersistentContext(userData, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  page = browser.pages()[0] ?? (await browser.newPage());
});

afterAll(async () => {
  await browser?.close().catch(() => undefined);
  await new Promise<void>((r) => (evil ? evil.close(() => r()) : r()));
  await server?.stop();
  await issuer?.close();
  await registry?.stop();
  await docker?.cleanup();
  if (tmp) await fs.rm(tmp, { recursive: true, force: true });
});

describe('the dashboard in Chromium', () => {
  let first: string;
  let second: string;

  it('signs in with an admin token; a wrong token is refused', async () => {
    await page.goto(`${server.url}/ui/builds`);
    expect(new URL(page.url()).pathname).toBe('/ui/login');
    await page.fill('#token', projectToken);
    await page.click('button[type=submit]');
    expect(await page.textContent('[role=alert]')).toContain('cannot sign in');
    await page.fill('#token', server.adminToken);
    await Promise.all([page.waitForURL('**/ui/builds'), page.click('button[type=submit]')]);
    expect(await page.textContent('h1')).toBe('Builds');
    const cookies = await browser.cookies();
    const session = cookies.find((c) => c.name === 'hoist_session')!;
    expect(session.httpOnly).toBe(true);
    expect(session.sameSite).toBe('Strict');
  });

  it('shows a real build live: running, then success, without reloading the page', async () => {
    await page.evaluate('window.__marker = 1');
    const build = hoistBuild(['--progress=plain', '--build-arg', 'BUST=1', 'ctx']);
    await page.waitForSelector('tr[data-status="running"]', { timeout: 120_000 });
    await shot('builds-running');
    const r = await build;
    expect(r.code).toBe(0);
    first = r.id;
    await page.waitForSelector(`tr[data-build="${first}"][data-status="success"]`, { timeout: 30_000 });
    expect(await page.evaluate('window.__marker')).toBe(1);
    const row = await page.textContent(`tr[data-build="${first}"]`);
    expect(row).toContain('acme/app');
    expect(row).toContain('main');
    expect(row).toContain('0123456');
    expect(row).toMatch(/cached 0 of 4/);
    expect(await page.getAttribute(`tr[data-build="${first}"] a[rel~=noopener]`, 'href')).toBe(
      'https://github.com/acme/app/actions/runs/99/attempts/1',
    );
    await shot('builds-done');
  });

  it('the second build of the ref marks where the cache broke, with warnings in the Dockerfile', async () => {
    const timingsFile = path.join(tmp, 'timings.json');
    const r = await hoistBuild(['--progress=quiet', '--build-arg', 'BUST=2', 'ctx'], {
      HOIST_TIMINGS_FILE: timingsFile,
    });
    expect(r.code).toBe(0);
    second = r.id;
    // Capturing and sending the steps happens after the CLI exits, in its background finisher:
    // what this warm build waited for is the hand-off (one run: a ratio, not a verdict).
    const marks = JSON.parse(await fs.readFile(timingsFile, 'utf8')) as Record<string, number>;
    expect(marks.handed_off).toBeGreaterThan(marks.built!);
    expect(marks.steps_sent).toBeUndefined();
    const finisher = JSON.parse(await fs.readFile(`${timingsFile}.finisher.json`, 'utf8')) as {
      steps_sent_ms?: number;
      finished_ms: number;
      warnings: string[];
    };
    expect(finisher.warnings).toEqual([]);
    expect(finisher.steps_sent_ms).toBeGreaterThan(0);
    const overhead = {
      handoff_ms: Math.round(marks.handed_off! - marks.built!),
      wall_ms: Math.round(marks.handed_off! - marks.start!),
      ratio: (marks.handed_off! - marks.built!) / (marks.handed_off! - marks.start!),
      steps_ms_after_exit: Math.round(finisher.steps_sent_ms!),
    };
    await fs.writeFile(path.join(SHOTS, 'steps-overhead.json'), JSON.stringify(overhead));
    const api = await server.api<BuildInfo>('GET', `/v1/builds/${second}`);
    const ins = api.body.insights!;
    expect(ins.cache_break).toMatchObject({ previous_build_id: first });
    expect(ins.cache_break!.step).toContain('RUN echo "second 2"');
    expect(ins.steps.find((s) => s.name.includes('RUN echo "first step"'))?.cached).toBe(true);
    expect(ins.phases?.build_ms).toBeGreaterThan(0);

    // the same in the terminal
    const show = await new Promise<string>((resolve, reject) =>
      execFile(
        process.execPath,
        [CLI_BUNDLE, 'builds', 'show', second],
        {
          env: {
            ...process.env,
            HOIST_API_URL: server.url,
            HOIST_TOKEN: projectToken,
            HOIST_CONFIG: path.join(tmp, 'none.json'),
          },
        },
        (err, stdout) => (err ? reject(err) : resolve(stdout)),
      ),
    );
    expect(show).toContain(`cache broke at: ${ins.cache_break!.step} (linux/amd64), compared with ${first}`);
    expect(show).toMatch(/CACHED .*RUN echo "first step"/);
    expect(show).toContain('warning: line 1: FromAsCasing');

    await page.goto(`${server.url}/ui/builds/${second}`);
    const broke = await page.textContent('tr.step.break');
    expect(broke).toContain('RUN echo "second 2"');
    expect(broke).toContain('cache broke here');
    expect(await page.getAttribute(`.cachebreak a`, 'href')).toBe(`/ui/builds/${first}`);
    expect(await page.locator('tr.step .badge.cached').count()).toBeGreaterThan(0);
    expect(await page.locator('.waterfall svg rect').count()).toBe(ins.steps.length);
    // build checks at their lines
    const warned = page.locator('.dockerfile li.warned');
    expect(await warned.count()).toBeGreaterThanOrEqual(1);
    expect(await page.textContent('#L1')).toContain('FromAsCasing');
    expect(await page.textContent('#L6')).toContain('JSONArgsRecommended');
    await shot('build-cache-break');
  });

  it('renders markup a build wrote (step name, log, Dockerfile) as text, running none of it', async () => {
    await page.goto(`${server.url}/ui/builds/${second}`);
    const step = page.locator('tr.step', { hasText: 'window.__xss' }).first();
    expect(await step.textContent()).toContain(MARKUP);
    expect(await page.evaluate('window.__xss')).toBeUndefined();
    expect(await page.locator('main script, main img').count()).toBe(0);
    expect(await page.textContent('.dockerfile')).toContain(MARKUP);
    // the build whose RUN step fails: its log tail open on the page
    await fs.writeFile(
      path.join(tmp, 'ctx', 'Dockerfile.fail'),
      `FROM ${registry.baseImage}\nRUN echo '${MARKUP}' && echo "boom <b>bold</b>" && exit 3\n`,
    );
    const r = await hoistBuild(['--progress=quiet', '-f', 'ctx/Dockerfile.fail', 'ctx']);
    expect(r.code).not.toBe(0);
    await page.goto(`${server.url}/ui/builds/${r.id}`);
    const failed = page.locator('tr.step.failed');
    expect(await failed.count()).toBe(1);
    const log = await page.textContent('details[open] pre.log');
    expect(log).toContain('boom <b>bold</b>');
    expect(await page.locator('main b, main script, main img').count()).toBe(0);
    expect(await page.evaluate('window.__xss')).toBeUndefined();
    await shot('build-failed');
  });

  it('marks the critical path on the waterfall and shows time saved on the list and the build', async () => {
    const api = (await server.api<BuildInfo>('GET', `/v1/builds/${second}`)).body.insights!;
    // "RUN echo first step" was cached: its uncached run in the first build counts as saved
    expect(api.time_saved_ms).toBeGreaterThan(0);
    const crit = api.critical_path!['linux/amd64']!;
    expect(crit.length).toBeGreaterThanOrEqual(2);
    // the CLI sent each vertex's inputs, so the path follows the graph
    expect(api.steps.some((s) => (s.inputs ?? []).length > 0)).toBe(true);
    await page.goto(`${server.url}/ui/builds/${second}`);
    expect(await page.locator('tr.step.critical').count()).toBe(crit.length);
    expect(await page.locator('.waterfall rect.crit').count()).toBe(crit.length);
    // the slow step (sleep 3) sets the build's length
    expect(await page.textContent('tr.step.critical >> nth=-1')).toBeTruthy();
    const slow = page.locator('tr.step', { hasText: 'sleep 3' });
    expect(await slow.getAttribute('class')).toContain('critical');
    expect(await page.textContent('.card')).toContain('Time saved');
    await shot('build-critical-path');
    await page.goto(`${server.url}/ui/builds`);
    const saved = await page.textContent(`tr[data-build="${second}"] td.saved`);
    expect(saved?.trim()).toMatch(/\d/);
  });

  it('project page: settings saved through the form, refused with a bad value or a forged CSRF token', async () => {
    await page.goto(`${server.url}/ui/projects`);
    await Promise.all([
      page.waitForURL(`**/ui/projects/${projectId}`),
      page.click(`tr[data-project="${projectId}"] a`),
    ]);
    await page.fill('input[name=max_concurrent_builds]', 'lots');
    await page.click('#settings button[type=submit]');
    expect(await page.textContent('#settings [role=alert]')).toContain(
      'Builds per builder must be a whole number',
    );
    // autoscaling without a builds-per-builder limit: the API's own rule, shown on the form
    await page.fill('input[name=max_concurrent_builds]', '');
    await page.check('input[name=autoscaling]');
    await page.click('#settings button[type=submit]');
    expect(await page.textContent('#settings [role=alert]')).toContain(
      'autoscaling needs a builds-per-builder limit',
    );
    await page.fill('input[name=max_concurrent_builds]', '3');
    await page.fill('input[name=max_builders_per_platform]', '4');
    await page.click('#settings button[type=submit]');
    expect(await page.textContent('[role=status]')).toContain('settings saved');
    const p = (
      await server.api<{
        max_concurrent_builds: number;
        autoscaling: boolean;
        max_builders_per_platform: number;
      }>('GET', `/v1/projects/${projectId}`)
    ).body;
    expect(p).toMatchObject({ max_concurrent_builds: 3, autoscaling: true, max_builders_per_platform: 4 });
    const audit = await server.api<{ events: { action: string; subject: string; reason: string }[] }>(
      'GET',
      `/v1/audit?project=${projectId}&action=project.update`,
    );
    expect(audit.body.events[0]!.reason).toContain('from the dashboard');
    // a forged CSRF token changes nothing
    await page.fill('input[name=max_concurrent_builds]', '9');
    await page.evaluate(`document.querySelector('#settings input[name=csrf]').value = 'forged'`);
    await page.click('#settings button[type=submit]');
    expect(await page.textContent('[role=alert]')).toContain('CSRF');
    expect(
      (await server.api<{ max_concurrent_builds: number }>('GET', `/v1/projects/${projectId}`)).body
        .max_concurrent_builds,
    ).toBe(3);
    // autoscaling off again, so the later builds of this suite keep one builder
    await page.goto(`${server.url}/ui/projects/${projectId}`);
    await page.uncheck('input[name=autoscaling]');
    await page.fill('input[name=max_concurrent_builds]', '');
    await page.click('#settings button[type=submit]');
    expect(await page.textContent('[role=status]')).toContain('settings saved');
    await shot('project-settings');
  });

  it('creates a token shown once, which works until it is revoked from the page', async () => {
    await page.goto(`${server.url}/ui/projects/${projectId}`);
    await page.fill('#tokens input[name=name]', `ci ${MARKUP}`);
    await page.fill('#tokens input[name=expires_days]', '2');
    await page.click('#tokens button[type=submit]:text("Create token")');
    const secret = await page.inputValue('#new-token');
    expect(secret).toMatch(/^hoist_prj_/);
    expect(await page.evaluate('window.__xss')).toBeUndefined();
    const row = page.locator('tr[data-token]', { hasText: 'ci <script>' });
    expect(await row.count()).toBe(1);
    const tokenId = await row.getAttribute('data-token');
    const who = await server.api<{ kind: string; project_id: string }>(
      'GET',
      '/v1/auth/whoami',
      undefined,
      secret,
    );
    expect(who.body).toMatchObject({ kind: 'project', project_id: projectId });
    await shot('project-token-created');
    // shown once: the page does not carry it again
    await page.goto(`${server.url}/ui/projects/${projectId}`);
    expect(await page.content()).not.toContain(secret);
    // last used: the whoami above
    expect(await page.textContent(`tr[data-token="${tokenId}"] td >> nth=4`)).toMatch(/^\s*\d{4}-\d\d-\d\dT/);
    await page.click(`tr[data-token="${tokenId}"] button:text("Revoke")`);
    expect(await page.textContent('[role=status]')).toContain('token revoked');
    expect(await page.textContent(`tr[data-token="${tokenId}"]`)).toContain('revoked');
    expect((await server.api('GET', '/v1/auth/whoami', undefined, secret)).status).toBe(401);
  });

  it('trust policies with a claims preview of pasted and recent claims, and the refusal log', async () => {
    await page.goto(`${server.url}/ui/projects/${projectId}`);
    await page.fill('#trust input[name=repository]', 'acme/app');
    await page.fill('#trust input[name=refs]', 'refs/heads/main');
    await page.click('#trust button:text("Add policy")');
    expect(await page.textContent('[role=status]')).toContain('trust policy added');
    await page.fill('#trust input[name=repository]', 'acme/app');
    await page.fill('#trust input[name=environment]', MARKUP);
    await page.click('#trust button:text("Add policy")');
    await page.fill('#trust input[name=repository]', 'not a repo');
    await page.click('#trust button:text("Add policy")');
    expect(await page.textContent('#trust [role=alert]')).toContain('Repository must be "owner/name"');
    const policies = page.locator('table.policies tr[data-policy]');
    expect(await policies.count()).toBe(2);
    const mainPolicy = await policies.nth(0).getAttribute('data-policy');

    // two real exchanges: one refused (a branch no policy allows), one granted
    const refused = await server.api(
      'POST',
      '/v1/auth/github-oidc',
      { token: await issuer.sign({ ref: 'refs/heads/dev' }) },
      null,
    );
    expect(refused.status).toBe(403);
    const granted = await server.api('POST', '/v1/auth/github-oidc', { token: await issuer.sign() }, null);
    expect(granted.status).toBe(200);

    // pasted claims of a tag: refused, and each policy says why
    await page.goto(`${server.url}/ui/projects/${projectId}`);
    await page.fill(
      'textarea[name=claims]',
      JSON.stringify({
        repository: 'acme/app',
        // the granted exchange pinned the ids: claims without them would be refused for that
        repository_id: '4242',
        repository_owner_id: '77',
        ref: 'refs/tags/v1',
        event_name: 'push',
        job_workflow_ref: 'acme/app/.github/workflows/ci.yml@refs/tags/v1',
      }),
    );
    await page.click('button:text("Preview")');
    expect(await page.textContent('#preview-result')).toContain('Refused');
    expect(await page.textContent(`#preview-result tr[data-policy="${mainPolicy}"]`)).toContain(
      'ref refs/tags/v1 is not allowed',
    );
    expect(await page.textContent('#preview-result')).toContain('the job has no environment');
    // recent claims: the refused dev exchange, picked from the list
    const options = await page.locator('select[name=event] option').allTextContents();
    expect(options.some((o) => o.includes('refs/heads/dev') && o.includes('refused'))).toBe(true);
    expect(options.some((o) => o.includes('refs/heads/main') && o.includes('granted'))).toBe(true);
    const main = await page
      .locator('select[name=event] option', { hasText: 'granted' })
      .first()
      .getAttribute('value');
    await page.selectOption('select[name=event]', main!);
    await page.click('button:text("Preview")');
    expect(await page.textContent('#preview-result')).toContain('Granted');
    expect(await page.textContent(`#preview-result tr[data-policy="${mainPolicy}"]`)).toContain('chosen');
    expect(await page.inputValue('textarea[name=claims]')).toContain('"ref": "refs/heads/main"');
    // markup in claims is text
    await page.fill(
      'textarea[name=claims]',
      JSON.stringify({ repository: 'acme/app', ref: `refs/heads/${MARKUP}`, environment: MARKUP }),
    );
    await page.click('button:text("Preview")');
    expect(await page.textContent('#preview-result')).toContain('<script>');
    expect(await page.textContent('#preview-result')).toContain('Claims missing from the input');
    expect(await page.locator('main script, main img').count()).toBe(0);
    expect(await page.evaluate('window.__xss')).toBeUndefined();
    // the refusal log holds the dev exchange, with its reason
    expect(await page.textContent('#refusals')).toContain('refs/heads/dev');
    await shot('project-trust-preview');
    // removing a policy
    await page.click(`tr[data-policy] >> nth=1 >> button:text("Remove")`);
    expect(await page.textContent('[role=status]')).toContain('trust policy removed');
    expect(await page.locator('table.policies tr[data-policy]').count()).toBe(1);
  });

  it('a build canceled with a signal still sends the steps it ran, and its page shows them', async () => {
    await fs.writeFile(
      path.join(tmp, 'ctx', 'Dockerfile.slow'),
      `FROM ${registry.baseImage}\nRUN echo "slow step started" && sleep 60\n`,
    );
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      ...docker.env,
      ...GH,
      HOIST_API_URL: server.url,
      HOIST_TOKEN: projectToken,
      HOIST_CONFIG: path.join(tmp, 'no-config.json'),
      HOIST_TMPDIR: tmp,
    };
    delete env.HOIST_PROJECT_ID;
    const child = spawn(
      process.execPath,
      [CLI_BUNDLE, 'build', '--progress=plain', '-f', 'ctx/Dockerfile.slow', 'ctx'],
      {
        env,
        cwd: tmp,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
    const closed = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
    for (let i = 0; i < 240 && !out.includes('slow step started'); i++)
      await new Promise((r) => setTimeout(r, 250));
    expect(out).toContain('slow step started');
    child.kill('SIGTERM');
    expect(await closed).toBe(143);
    const id = /hoist: build (bld_\w+): /.exec(out)![1]!;
    const b = (await server.api<BuildInfo>('GET', `/v1/builds/${id}`)).body;
    expect(b.status).toBe('canceled');
    expect(b.insights!.steps.some((st) => st.name.includes('sleep 60'))).toBe(true);
    await page.goto(`${server.url}/ui/builds/${id}`);
    expect(await page.textContent('.waterfall')).toContain('sleep 60');
    await shot('build-canceled');
  });

  it('a bake records the steps of each of its targets', async () => {
    await fs.writeFile(
      path.join(tmp, 'ctx', 'Dockerfile.a'),
      `FROM ${registry.baseImage}\nRUN echo "bake target a"\n`,
    );
    await fs.writeFile(
      path.join(tmp, 'ctx', 'Dockerfile.b'),
      `FROM ${registry.baseImage}\nRUN echo "bake target b"\n`,
    );
    await fs.writeFile(
      path.join(tmp, 'docker-bake.hcl'),
      'group "default" { targets = ["a", "b"] }\n' +
        'target "a" {\n  context = "ctx"\n  dockerfile = "Dockerfile.a"\n}\n' +
        'target "b" {\n  context = "ctx"\n  dockerfile = "Dockerfile.b"\n}\n',
    );
    const r = await hoistBuild(['bake', '-f', 'docker-bake.hcl', '--progress=quiet']);
    expect(r.code).toBe(0);
    const ins = (await server.api<BuildInfo>('GET', `/v1/builds/${r.id}`)).body.insights!;
    const names = ins.steps.map((st) => st.name).join('\n');
    expect(names).toContain('RUN echo "bake target a"');
    expect(names).toContain('RUN echo "bake target b"');
    await page.goto(`${server.url}/ui/builds/${r.id}`);
    expect(await page.textContent('.waterfall')).toContain('bake target b');
  });

  it('builders page: the running builder, its slots and its cache by kind against the GC limit', async () => {
    // snapshots are taken after each build, in the background
    let body = '';
    for (let i = 0; i < 40; i++) {
      await page.goto(`${server.url}/ui/builders`);
      body = (await page.textContent('table.builders')) ?? '';
      if (body.includes('GC limit')) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    const row = page.locator('tr[data-builder]').first();
    expect(await row.getAttribute('data-state')).toBe('running');
    expect(body).toContain('dash');
    expect(body).toMatch(/layers \d/);
    expect(body).toMatch(/GC limit/);
    expect(await row.locator('td.inuse').textContent()).toMatch(/0 of (unlimited|\d+)/);
    const snap = await server.running!.deps.db.get<{
      layers_bytes: number;
      gc_limit_bytes: number;
      records: number;
    }>('SELECT layers_bytes, gc_limit_bytes, records FROM builder_cache_snapshots ORDER BY at DESC LIMIT 1');
    expect(Number(snap!.records)).toBeGreaterThan(0);
    expect(Number(snap!.layers_bytes)).toBeGreaterThan(0);
    expect(Number(snap!.gc_limit_bytes)).toBeGreaterThan(0);
    await shot('builders');
  });

  it('charts page: duration, cache hit ratio, queue wait and time saved for the project', async () => {
    await page.goto(`${server.url}/ui/charts?project=dash&range=24h`);
    expect(Number(await page.textContent('#chart-builds'))).toBeGreaterThanOrEqual(3);
    for (const title of ['Build duration', 'Cache hit ratio', 'Queue wait', 'Time saved']) {
      expect(await page.locator(`figure[data-chart="${title}"] circle`).count()).toBeGreaterThan(0);
    }
    expect(await page.textContent('#chart-saved')).toMatch(/\d/);
    await shot('charts');
    await page.goto(`${server.url}/ui/charts?project=${encodeURIComponent(MARKUP)}`);
    expect(await page.textContent('[role=alert]')).toContain('no project');
    expect(await page.evaluate('window.__xss')).toBeUndefined();
  });

  it('refuses a sign-out form without its CSRF token, and one posted from another origin', async () => {
    await page.goto(`${server.url}/ui/builds`);
    await page.evaluate(`document.querySelector('form.logout input[name=csrf]').value = 'forged'`);
    await page.click('form.logout button');
    expect(await page.textContent('[role=alert]')).toContain('CSRF');
    // a page on another origin posting to the dashboard
    evil = createServer((_req, res) => {
      res.setHeader('content-type', 'text/html');
      res.end(
        `<form id="f" method="post" action="${server.url}/ui/logout"><input name="csrf" value="x"></form><script>document.getElementById('f').submit()</script>`,
      );
    });
    await new Promise<void>((r) => evil!.listen(0, '127.0.0.1', () => r()));
    const port = (evil.address() as { port: number }).port;
    // "localhost" is another origin than the server's 127.0.0.1
    const resp = page.waitForResponse((r) => r.url().endsWith('/ui/logout'));
    await page.goto(`http://localhost:${port}/`);
    expect((await resp).status()).toBe(403);
    // still signed in
    await page.goto(`${server.url}/ui/builds`);
    expect(await page.textContent('h1')).toBe('Builds');
    await page.click('form.logout button');
    await page.waitForURL('**/ui/login');
    await page.goto(`${server.url}/ui/builds`);
    expect(new URL(page.url()).pathname).toBe('/ui/login');
  });
});
