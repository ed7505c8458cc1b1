// Steps while a build runs, on the real engine through the CLI bundle (run `node .ci/build.mjs cli`
// first): batches reach the JSON API before `hoist build` exits, the full set of the end equals
// what `buildx history logs` reports for the build's record, the user's plain progress keeps plain
// buildx's structure, the build page in Chromium shows a running step live, a build the server
// cancels keeps the steps it sent (the unfinished one marked not completed), and a follower that
// dies changes nothing for the build.
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { execFile, spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import type { BuildInfo, BuildStep, CreateBuildResponse } from '../../src/lib/api-types.js';
import { isRefName, mergeSteps, parseRawJson } from '../../src/cli/steps.js';
import {
  engineBinaries,
  makeDockerConfig,
  startRegistry,
  type DockerConfig,
  type Registry,
} from '../helpers/engine.js';
import { waitForFinishersOf } from '../helpers/finisher.js';
import { CLI_BUNDLE, REPO_ROOT, startTestServer, type TestServer } from '../helpers/server.js';

jest.setTimeout(300_000);

const execFileAsync = promisify(execFile);
const SHOTS = path.join(REPO_ROOT, 'test-results', 'dashboard');
const CHROMIUM = '/usr/bin/chromium';

let tmp: string;
let registry: Registry;
let docker: DockerConfig;
let server: TestServer;
let projectToken: string;
let browser: BrowserContext;
let page: Page;
/** A plain buildx builder on the project's buildkitd, with the certificate of a held build. */
let plainBuilder: string;
let held: CreateBuildResponse;
let heldBeat: NodeJS.Timeout | undefined;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Run {
  code: number | null;
  out: string;
  stderr: string;
  id: string;
  /** ms from spawn to exit */
  exitedAt: number;
  /** the build's ref in buildx's local state, seen while it ran */
  ref?: string;
  /** API answers polled while the CLI ran, with when (ms from spawn) */
  polled: { at: number; status: string; steps: BuildStep[]; live: boolean }[];
}

/**
 * Runs `hoist build ARGS` in tmp and, while it runs, polls GET /v1/builds/{id} and buildx's local
 * state for the build's ref; `during` runs once the build id is known.
 */
async function hoistBuild(
  args: string[],
  opts: { env?: Record<string, string>; poll?: boolean; during?: (id: string) => Promise<void> } = {},
): Promise<Run> {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    ...docker.env,
    HOIST_API_URL: server.url,
    HOIST_TOKEN: projectToken,
    HOIST_CONFIG: path.join(tmp, 'no-config.json'),
    HOIST_TMPDIR: tmp,
    ...opts.env,
  };
  for (const k of ['HOIST_PROJECT_ID', 'HOIST_BUILDX', 'HOIST_STEPS', 'HOIST_STEPS_LIVE', 'GITHUB_ACTIONS']) {
    if (!opts.env?.[k]) delete env[k];
  }
  const t0 = Date.now();
  const child = spawn(process.execPath, [CLI_BUNDLE, 'build', ...args], {
    env,
    cwd: tmp,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    out += d;
    stderr += d;
  });
  let exited: number | undefined;
  const closed = new Promise<number | null>((r) =>
    child.on('close', (code) => {
      exited = Date.now() - t0;
      r(code);
    }),
  );
  const run: Run = { code: null, out: '', stderr: '', id: '', exitedAt: 0, polled: [] };
  let during: Promise<void> | undefined;
  while (exited === undefined) {
    const id = /hoist: build (bld_\w+): /.exec(stderr)?.[1];
    if (id && !run.id) {
      run.id = id;
      if (opts.during) during = opts.during(id);
    }
    if (id && !run.ref) {
      const dir = path.join(docker.env.BUILDX_CONFIG, 'refs', `hoist-${id}`);
      try {
        for (const node of readdirSync(dir)) {
          run.ref ??= readdirSync(path.join(dir, node)).find(isRefName);
        }
      } catch {
        // not written yet
      }
    }
    if (id && opts.poll !== false) {
      const r = await server.api<BuildInfo>('GET', `/v1/builds/${id}`);
      if (exited === undefined) {
        run.polled.push({
          at: Date.now() - t0,
          status: r.body.status,
          steps: r.body.insights?.steps ?? [],
          live: r.body.insights?.steps_live === true,
        });
      }
    }
    await Promise.race([closed, sleep(150)]);
  }
  run.code = await closed;
  run.exitedAt = exited;
  await during;
  await waitForFinishersOf(stderr);
  return { ...run, out, stderr };
}

async function buildx(args: string[]): Promise<{ stdout: string; stderr: string }> {
  return execFileAsync(engineBinaries().buildx, args, {
    env: { ...process.env, ...docker.env },
    cwd: tmp,
    maxBuffer: 64 * 1024 * 1024,
  });
}

/** The parts of a step both ends must agree on. */
const shape = (s: BuildStep) => ({
  digest: s.digest,
  name: s.name,
  cached: s.cached,
  started_at: s.started_at,
  completed_at: s.completed_at,
  error: s.error,
  log_tail: s.log_tail,
});

/**
 * The structure of buildx's plain progress: per step its title, how it ended (DONE, CACHED,
 * ERROR) and its output lines, without timings, digests, the builder's name and Hoist's own lines.
 */
function plainStructure(text: string, bust: string): string[] {
  const steps = new Map<string, { title: string; end: string; logs: string[] }>();
  const other: string[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replaceAll(bust, 'BUST').replace(/sha256:[0-9a-f]{64}/g, 'sha256:D');
    if (!line.trim() || line.startsWith('hoist:')) continue;
    const m = /^#(\d+) (.*)$/.exec(line);
    if (!m) {
      other.push(line);
      continue;
    }
    const [, n, rest] = m as unknown as [string, string, string];
    if (n === '0') {
      other.push(rest.replace(/"[^"]+" instance/, '"B" instance'));
      continue;
    }
    let s = steps.get(n);
    if (!s) {
      steps.set(n, (s = { title: rest, end: '', logs: [] }));
      continue;
    }
    if (/^(DONE|CACHED|ERROR)\b/.test(rest)) s.end = rest.split(' ')[0]!;
    else if (/^\d+\.\d+ /.test(rest)) s.logs.push(rest.replace(/^\d+\.\d+ /, ''));
  }
  return [
    ...other,
    ...[...steps.values()].map((s) => `${s.title} => ${s.end} ${JSON.stringify(s.logs)}`).sort(),
  ];
}

beforeAll(async () => {
  if (!existsSync(CLI_BUNDLE))
    throw new Error(`${CLI_BUNDLE} is missing: run "node .ci/build.mjs cli" first`);
  if (!existsSync(CHROMIUM))
    throw new Error(`${CHROMIUM} is missing: apt-get install chromium (test/engine/engine.sh installs it)`);
  await fs.mkdir(SHOTS, { recursive: true });
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'hoist-live-e2e-'));
  registry = await startRegistry();
  docker = await makeDockerConfig();
  server = await startTestServer({ flags: { 'builder-insecure-registries': registry.host } });
  const p = await server.createProject('live');
  projectToken = (await server.createProjectToken(p.id, 'e2e')).token;
  await fs.mkdir(path.join(tmp, 'ctx'));
  await fs.writeFile(
    path.join(tmp, 'ctx', 'Dockerfile'),
    [
      `FROM ${registry.baseImage}`,
      'ARG BUST',
      'RUN echo "live step $BUST" && sleep 6 && echo "slept"',
      'RUN echo "after the sleep"',
      '',
    ].join('\n'),
  );
  await fs.writeFile(
    path.join(tmp, 'ctx', 'Dockerfile.long'),
    `FROM ${registry.baseImage}\nARG BUST\nRUN echo "long step $BUST" && sleep 120\n`,
  );

  // warm the builder (base image in its cache), then a plain buildx builder on the same buildkitd
  // with the certificates of a build held open for the suite
  const warm = await hoistBuild(['--progress=quiet', '--build-arg', 'BUST=warm', 'ctx'], { poll: false });
  if (warm.code !== 0) throw new Error(`warm-up build failed:\n${warm.out}`);
  held = (await server.api<CreateBuildResponse>('POST', '/v1/builds', { platforms: [] }, projectToken)).body;
  const platform = (
    await server.api<BuildInfo>('GET', `/v1/builds/${held.build_id}`, undefined, held.build_token)
  ).body.platforms[0]!;
  let active: { status: string; retry_after_ms: number; [k: string]: unknown };
  for (;;) {
    active = (
      await server.api<typeof active>(
        'GET',
        `/v1/builds/${held.build_id}/builders/${encodeURIComponent(platform)}`,
        undefined,
        held.build_token,
      )
    ).body;
    if (active.status === 'active') break;
    await sleep(active.retry_after_ms);
  }
  const pem = path.join(tmp, 'pem');
  await fs.mkdir(pem, { mode: 0o700 });
  for (const k of ['ca', 'cert', 'key']) {
    await fs.writeFile(path.join(pem, `${k}.pem`), active[`${k}_pem`] as string, { mode: 0o600 });
  }
  heldBeat = setInterval(
    () =>
      void server
        .api('POST', `/v1/builds/${held.build_id}/heartbeat`, {}, held.build_token)
        .catch(() => undefined),
    3000,
  );
  plainBuilder = `plain-${process.pid}`;
  await buildx([
    'create',
    '--name',
    plainBuilder,
    '--driver',
    'remote',
    '--driver-opt',
    `cacert=${pem}/ca.pem,cert=${pem}/cert.pem,key=${pem}/key.pem,servername=${active.server_name as string}`,
    active.endpoint as string,
  ]);

  const userData = await fs.mkdtemp(path.join(tmp, 'chromium-'));
  browser = await chromium.launchPersistentContext(userData, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--no-first-run',
      '--disable-background-networking',
    ],
  });
  page = browser.pages()[0] ?? (await browser.newPage());
  await page.goto(`${server.url}/ui/login`);
  await page.fill('#token', server.adminToken);
  await Promise.all([page.waitForURL('**/ui/builds'), page.click('button[type=submit]')]);
});

afterAll(async () => {
  if (heldBeat) clearInterval(heldBeat);
  await browser?.close().catch(() => undefined);
  if (plainBuilder) await buildx(['rm', '--force', plainBuilder]).catch(() => undefined);
  if (held) {
    await server
      ?.api('POST', `/v1/builds/${held.build_id}/finish`, { status: 'success' }, held.build_token)
      .catch(() => undefined);
  }
  await server?.stop();
  await registry?.stop();
  await docker?.cleanup();
  if (tmp) await fs.rm(tmp, { recursive: true, force: true });
});

describe('steps while the build runs', () => {
  let plainRun: Run;
  const bust = `b${Date.now()}`;

  it('reach the API before hoist build exits; the full set of the end equals buildx history', async () => {
    const timings = path.join(tmp, 'timings.json');
    plainRun = await hoistBuild(['--progress=plain', '--build-arg', `BUST=${bust}`, 'ctx'], {
      env: { HOIST_TIMINGS_FILE: timings },
    });
    expect(plainRun.code).toBe(0);
    expect(plainRun.ref).toBeDefined();
    const withSteps = plainRun.polled.filter((p) => p.steps.length > 0);
    // steps arrived while the CLI still ran, marked as the live set of a running build
    expect(withSteps.length).toBeGreaterThan(0);
    expect(withSteps[0]!.at).toBeLessThan(plainRun.exitedAt);
    expect(withSteps[0]!.live).toBe(true);
    expect(withSteps[0]!.status).toBe('running');
    // the sleeping step was seen running (started, not completed) before the exit (its end may
    // come after the last batch: the build exits a moment later)
    const sleepStep = (p: Run['polled'][number]) => p.steps.find((s) => s.name.includes('sleep 6'));
    const seen = withSteps.map((p) => ({
      at: p.at,
      started: !!sleepStep(p)?.started_at,
      done: !!sleepStep(p)?.completed_at,
    }));
    expect(seen.some((p) => p.started && !p.done)).toBe(true);
    const marks = JSON.parse(readFileSync(timings, 'utf8')) as { live_batches: number; live_steps: number };
    expect(marks.live_batches).toBeGreaterThan(0);
    expect(marks.live_steps).toBeGreaterThan(0);

    const final = (await server.api<BuildInfo>('GET', `/v1/builds/${plainRun.id}`)).body;
    expect(final.status).toBe('success');
    expect(final.insights!.steps_live).toBe(false);
    // the record BuildKit kept of this build, read by plain buildx on the same buildkitd
    const history = await buildx([
      'history',
      'logs',
      '--builder',
      plainBuilder,
      '--progress',
      'rawjson',
      plainRun.ref!,
    ]);
    const fromHistory = mergeSteps(
      parseRawJson(`${history.stdout}\n${history.stderr}`, final.platforms[0]!).steps,
    );
    expect(fromHistory.length).toBeGreaterThanOrEqual(5);
    expect(final.insights!.steps.map(shape)).toEqual(fromHistory.map(shape));
    // what the live batches said of each step is what the end says, for the steps that had ended
    const lastPoll = withSteps.at(-1)!;
    for (const s of lastPoll.steps.filter((x) => x.completed_at)) {
      expect(shape(final.insights!.steps.find((f) => f.digest === s.digest)!)).toEqual(shape(s));
    }
  });

  it("leaves the user's plain progress as plain buildx writes it", async () => {
    const bust2 = `p${Date.now()}`;
    const plain = await new Promise<{ code: number | null; out: string }>((resolve) => {
      const c = spawn(
        engineBinaries().buildx,
        ['build', '--builder', plainBuilder, '--progress=plain', '--build-arg', `BUST=${bust2}`, 'ctx'],
        { env: { ...process.env, ...docker.env }, cwd: tmp, stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let out = '';
      c.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
      c.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
      c.on('close', (code) => resolve({ code, out }));
    });
    expect(plain.code).toBe(0);
    const ours = plainStructure(plainRun.out, bust);
    expect(ours).toEqual(plainStructure(plain.out, bust2));
    expect(ours.some((l) => l.includes('RUN echo "live step BUST" && sleep 6') && l.includes('DONE'))).toBe(
      true,
    );
    expect(ours.some((l) => l.includes('["live step BUST","slept"]'))).toBe(true);
    // nothing of the side channel reached the terminal
    expect(plainRun.out).not.toContain('"vertexes"');
    expect(plainRun.out).not.toContain('hoist: warning');
  });

  it('the build page in Chromium shows a running step live, then the build ending, without a reload', async () => {
    let shown: Promise<void> | undefined;
    const r = await hoistBuild(['--progress=quiet', '--build-arg', `BUST=ui${Date.now()}`, 'ctx'], {
      poll: false,
      during: async (id) => {
        await page.goto(`${server.url}/ui/builds/${id}`);
        await page.evaluate('window.__marker = 1');
        const running = page.locator('tr.step[data-state="running"]', { hasText: 'sleep 6' });
        await running.waitFor({ timeout: 60_000 });
        expect(await running.locator('.badge.st-running').textContent()).toBe('running');
        expect(await page.textContent('.livesteps')).toContain('Steps so far');
        expect(await page.locator('h1 .badge').textContent()).toBe('running');
        await page.screenshot({ path: path.join(SHOTS, 'build-live-running.png'), fullPage: true });
        shown = page
          .locator('h1 .badge.st-success')
          .waitFor({ timeout: 60_000 })
          .then(() => undefined);
      },
    });
    expect(r.code).toBe(0);
    await shown;
    expect(await page.evaluate('window.__marker')).toBe(1);
    const done = page.locator('tr.step', { hasText: 'sleep 6' });
    expect(await done.getAttribute('data-state')).toBe('done');
    expect(await page.locator('tr.step[data-state="running"]').count()).toBe(0);
    expect(await page.locator('.livesteps').count()).toBe(0);
    await page.screenshot({ path: path.join(SHOTS, 'build-live-done.png'), fullPage: true });
  });

  it('a build the server cancels keeps the steps it sent, its unfinished step not completed', async () => {
    let canceledAt = 0;
    const r = await hoistBuild(
      ['--progress=plain', '--build-arg', `BUST=c${Date.now()}`, '-f', 'ctx/Dockerfile.long', 'ctx'],
      {
        during: async (id) => {
          for (let i = 0; i < 400; i++) {
            const b = (await server.api<BuildInfo>('GET', `/v1/builds/${id}`)).body;
            const s = b.insights?.steps.find((x) => x.name.includes('sleep 120'));
            if (s?.started_at && !s.completed_at) break;
            await sleep(150);
          }
          const c = await server.api('POST', `/v1/builds/${id}/cancel`, {});
          expect(c.status).toBe(200);
          canceledAt = Date.now();
        },
      },
    );
    expect(canceledAt).toBeGreaterThan(0);
    expect(r.code).not.toBe(0);
    expect(r.out).toContain('the Hoist server canceled this build');
    const b = (await server.api<BuildInfo>('GET', `/v1/builds/${r.id}`)).body;
    expect(b.status).toBe('canceled');
    expect(b.insights!.steps_live).toBe(true);
    const long = b.insights!.steps.find((s) => s.name.includes('sleep 120'))!;
    expect(long.started_at).not.toBeNull();
    expect(long.completed_at).toBeNull();
    expect(b.insights!.steps.some((s) => s.completed_at && s.name.includes('FROM'))).toBe(true);
    await page.goto(`${server.url}/ui/builds/${r.id}`);
    const row = page.locator('tr.step[data-state="not-completed"]', { hasText: 'sleep 120' });
    expect(await row.count()).toBe(1);
    expect(await row.locator('.badge.notdone').textContent()).toBe('not completed');
    expect(await page.textContent('.livesteps')).toContain('ended before it sent its full set');
    await page.screenshot({ path: path.join(SHOTS, 'build-server-canceled.png'), fullPage: true });
  });

  it('a follower that dies leaves the build as it was, and the full set still arrives at its end', async () => {
    let killed = 0;
    const r = await hoistBuild(['--progress=plain', '--build-arg', `BUST=k${Date.now()}`, 'ctx'], {
      poll: false,
      during: async (id) => {
        // the `buildx history logs` process that follows this build
        for (let i = 0; i < 200 && killed === 0; i++) {
          for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
            try {
              const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
              if (argv.includes('history') && argv.includes(`hoist-${id}`)) {
                process.kill(Number(pid), 'SIGKILL');
                killed++;
              }
            } catch {
              // gone
            }
          }
          await sleep(50);
        }
      },
    });
    expect(killed).toBeGreaterThan(0);
    expect(r.code).toBe(0);
    expect(r.out).not.toContain('hoist: warning');
    expect(r.out).toMatch(/#\d+ DONE/);
    const b = (await server.api<BuildInfo>('GET', `/v1/builds/${r.id}`)).body;
    expect(b.status).toBe('success');
    expect(b.insights!.steps_live).toBe(false);
    const s = b.insights!.steps.find((x) => x.name.includes('sleep 6'))!;
    expect(s.completed_at).not.toBeNull();
    expect(s.log_tail).toContain('slept');
  });
});
