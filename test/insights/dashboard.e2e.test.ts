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
    const child = spawn(process.execPath, [CLI_BUNDLE, 'build', ...args], {
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
  server = await startTestServer({ flags: { 'builder-insecure-registries': registry.host } });
  const p = await server.createProject('dash');
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
