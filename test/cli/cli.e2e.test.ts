// `hoist build` end to end, the way users run it: the release tarball from `npm run build`
// (bin/hoist → the bundle, on the Node on PATH) against a real `hoist server` with the local
// buildkitd provider, real `docker buildx` (remote driver) and a real registry.
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { execFile, spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import type { BuildInfo, Project } from '../../src/lib/api-types.js';
import { makeDockerConfig, startRegistry, type DockerConfig, type Registry } from '../helpers/engine.js';
import { startOidcIssuer } from '../helpers/oidc-issuer.js';
import { REPO_ROOT, startTestServer, type TestServer } from '../helpers/server.js';
import { waitForFinishersOf } from '../helpers/finisher.js';

const run = promisify(execFile);
jest.setTimeout(300_000);

let tmp: string;
let hoistBin: string;
let registry: Registry;
let docker: DockerConfig;
let server: TestServer;
let project: Project;
let projectToken: string;
let pemParent: string;

interface HoistRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function baseEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    ...docker.env,
    HOIST_API_URL: server.url,
    HOIST_TOKEN: projectToken,
    HOIST_CONFIG: path.join(tmp, 'no-config.json'),
    HOIST_TMPDIR: pemParent,
    HOIST_HEARTBEAT_MS: '1000',
    // the CLI's V8 code cache (lib/boot.js): this suite's own, empty at its first build
    XDG_CACHE_HOME: path.join(tmp, 'xdg-cache'),
    ...extra,
  };
  for (const k of [
    'HOIST_PROJECT_ID',
    'HOIST_BUILDX',
    'ACTIONS_ID_TOKEN_REQUEST_URL',
    'ACTIONS_ID_TOKEN_REQUEST_TOKEN',
  ]) {
    if (!(k in extra)) delete env[k];
  }
  return env;
}

function hoist(
  args: string[],
  opts: {
    env?: NodeJS.ProcessEnv;
    cwd?: string;
    onStderr?: (all: string, child: ReturnType<typeof spawn>) => void;
  } = {},
): Promise<HoistRun> {
  return new Promise((resolve) => {
    const child = spawn(hoistBin, args, {
      env: opts.env ?? baseEnv(),
      cwd: opts.cwd ?? tmp,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
      opts.onStderr?.(stderr, child);
    });
    // a successful build's end runs in a background process after the CLI exits: wait for it
    child.on(
      'close',
      (code, signal) => void waitForFinishersOf(stderr).then(() => resolve({ code, signal, stdout, stderr })),
    );
  });
}

const buildIdOf = (stderr: string): string => {
  const m = /hoist: build (bld_\w+): /.exec(stderr);
  if (!m) throw new Error(`no build id in:\n${stderr}`);
  return m[1]!;
};

async function buildRow(id: string): Promise<BuildInfo> {
  const r = await server.api<BuildInfo>('GET', `/v1/builds/${id}`);
  expect(r.status).toBe(200);
  return r.body;
}

async function hoistBuilders(): Promise<string[]> {
  const r = await run('docker', ['buildx', 'ls'], { env: baseEnv() }).catch((err: { stdout?: string }) => ({
    stdout: err.stdout ?? '',
  }));
  return r.stdout.split('\n').filter((l) => /^hoist-/.test(l.trim()));
}

/** Everything left under the PEM parent dir: must stay empty between builds. */
const leftovers = (): string[] => readdirSync(pemParent);

/** Vertex names BuildKit reported cached, from --progress=rawjson. */
function cachedVertexes(text: string): { cached: string[]; all: string[] } {
  const byDigest = new Map<string, { name: string; cached: boolean }>();
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const s = JSON.parse(line) as { vertexes?: { digest: string; name?: string; cached?: boolean }[] };
      for (const v of s.vertexes ?? []) {
        const cur = byDigest.get(v.digest) ?? { name: '', cached: false };
        if (v.name) cur.name = v.name;
        if (v.cached) cur.cached = true;
        byDigest.set(v.digest, cur);
      }
    } catch {
      // buildx's own non-JSON lines
    }
  }
  const all = [...byDigest.values()];
  return { cached: all.filter((v) => v.cached).map((v) => v.name), all: all.map((v) => v.name) };
}

/** pids of a RUN step's processes inside the builder: they carry the build arg NONCE=`nonce`. */
function stepProcesses(nonce: string): number[] {
  const pids: number[] = [];
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const environ = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
      if (environ.includes(`NONCE=${nonce}`)) pids.push(Number(pid));
    } catch {
      // gone
    }
  }
  return pids;
}

/** pids whose command line holds `word` as one argument (e.g. a builder name). */
function processesWith(word: string): number[] {
  const pids: number[] = [];
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes(word)) pids.push(Number(pid));
    } catch {
      // gone
    }
  }
  return pids;
}

/** Running (a zombie left for a parent that does not reap is not). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !'ZX'.includes(stat[stat.lastIndexOf(')') + 2]!);
  } catch {
    return false;
  }
}

/** Names of the vertexes that have started, from --progress=rawjson. */
function startedVertexes(text: string): string[] {
  const names: string[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const s = JSON.parse(line) as { vertexes?: { name?: string; started?: string }[] };
      for (const v of s.vertexes ?? []) if (v.started && v.name) names.push(v.name);
    } catch {
      // a partial line
    }
  }
  return names;
}

/** Digest of the image manifest for this machine's platform (inside an index, if pushed as one). */
async function imageManifestDigest(repo: string, tag: string): Promise<string> {
  const r = await fetch(`${registry.url}/v2/${repo}/manifests/${tag}`, {
    headers: {
      accept: [
        'application/vnd.oci.image.index.v1+json',
        'application/vnd.oci.image.manifest.v1+json',
        'application/vnd.docker.distribution.manifest.v2+json',
      ].join(', '),
    },
  });
  expect(r.status).toBe(200);
  const m = (await r.json()) as {
    manifests?: { digest: string; platform?: { os: string; architecture: string } }[];
  };
  if (!m.manifests) return r.headers.get('docker-content-digest')!;
  const arch = process.arch === 'x64' ? 'amd64' : process.arch;
  const image = m.manifests.find((d) => d.platform?.os === 'linux' && d.platform.architecture === arch);
  if (!image) throw new Error(`no linux/${arch} image in ${JSON.stringify(m)}`);
  return image.digest;
}

async function manifestDigest(repo: string, tag: string): Promise<string | null> {
  const r = await fetch(`${registry.url}/v2/${repo}/manifests/${tag}`, {
    method: 'HEAD',
    headers: {
      accept: [
        'application/vnd.oci.image.index.v1+json',
        'application/vnd.oci.image.manifest.v1+json',
        'application/vnd.docker.distribution.manifest.v2+json',
        'application/vnd.docker.distribution.manifest.list.v2+json',
      ].join(', '),
    },
  });
  return r.ok ? r.headers.get('docker-content-digest') : null;
}

beforeAll(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'hoist-cli-e2e-'));
  pemParent = path.join(tmp, 'pem-parent');
  await fs.mkdir(pemParent);
  // the release tarball, as setup-action installs it
  const version = (
    JSON.parse(await fs.readFile(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }
  ).version;
  const tarball = path.join(
    REPO_ROOT,
    'dist/releases',
    `hoist-${version}-${process.platform}-${process.arch}.tar.gz`,
  );
  if (!existsSync(tarball)) throw new Error(`${tarball} is missing: run "npm run build" first`);
  const install = path.join(tmp, 'install');
  await fs.mkdir(install);
  await run('tar', ['xzf', tarball, '-C', install]);
  hoistBin = path.join(install, 'bin', 'hoist');

  registry = await startRegistry();
  docker = await makeDockerConfig();
  server = await startTestServer({ flags: { 'builder-insecure-registries': registry.host } });
  const p = await server.createProject('cli-e2e');
  project = p;
  projectToken = (await server.createProjectToken(p.id, 'e2e')).token;

  const ctx = path.join(tmp, 'ctx');
  await fs.mkdir(ctx);
  await fs.writeFile(
    path.join(ctx, 'Dockerfile'),
    [
      `FROM ${registry.baseImage}`,
      'RUN echo "expensive step" > /step1 && date +%s%N >> /step1',
      'COPY app.txt /app.txt',
      'RUN cat /app.txt > /out',
      '',
    ].join('\n'),
  );
  await fs.writeFile(path.join(ctx, 'app.txt'), 'hello from hoist\n');
});

afterAll(async () => {
  await server?.stop().catch(() => undefined);
  await docker?.cleanup().catch(() => undefined);
  await registry?.stop().catch(() => undefined);
  if (tmp) await fs.rm(tmp, { recursive: true, force: true });
});

describe('hoist build', () => {
  let firstDigest: string;
  let firstImage: string;

  it('builds and pushes; the registry holds the image; metadata and iidfile hold what buildx wrote', async () => {
    const meta = path.join(tmp, 'meta.json');
    const iid = path.join(tmp, 'iid.txt');
    const tag = `${registry.host}/cli/app:1`;
    const timings = path.join(tmp, 'timings-1.json');
    const r = await hoist(
      ['build', '--push', '-t', tag, '--metadata-file', meta, '--iidfile', iid, '--progress=plain', '.'],
      { cwd: path.join(tmp, 'ctx'), env: baseEnv({ HOIST_TIMINGS_FILE: timings }) },
    );
    expect(r.stderr).toContain(`building with "hoist-`);
    expect(r.code).toBe(0);
    const metadata = JSON.parse(await fs.readFile(meta, 'utf8')) as Record<string, string>;
    firstDigest = metadata['containerimage.digest']!;
    firstImage = await imageManifestDigest('cli/app', '1');
    expect(firstImage).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(firstDigest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(metadata['image.name']).toBe(tag);
    expect(await manifestDigest('cli/app', '1')).toBe(firstDigest);
    const iidText = (await fs.readFile(iid, 'utf8')).trim();
    expect(iidText).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect([metadata['containerimage.digest'], metadata['containerimage.config.digest']]).toContain(iidText);

    // The CLI exited once buildx had: a background process of its own (which hoist() waited for)
    // captured the steps, removed the builder and the PEMs and reported the end.
    const marks = JSON.parse(await fs.readFile(timings, 'utf8')) as Record<string, number>;
    expect(marks.handed_off).toBeGreaterThanOrEqual(marks.built!);
    // the first build of this suite compiled the CLI and left V8's code for the next (private)
    expect(marks.code_cache).toBe('none');
    const cacheDir = path.join(tmp, 'xdg-cache', 'hoist');
    const cached = readdirSync(cacheDir);
    expect(cached).toEqual([expect.stringMatching(/^cli-[0-9a-f]{16}-v\d+\.\d+\.\d+-\w+\.v8$/)]);
    expect((await fs.stat(path.join(cacheDir, cached[0]!))).mode & 0o777).toBe(0o600);
    expect(marks.finisher_pid).toBeGreaterThan(0);
    expect(marks.steps_sent).toBeUndefined();
    const finisher = JSON.parse(await fs.readFile(`${timings}.finisher.json`, 'utf8')) as {
      warnings: string[];
    };
    expect(finisher.warnings).toEqual([]);
    const row = await buildRow(buildIdOf(r.stderr));
    expect(row.status).toBe('success');
    expect(row.project_id).toBe(project.id);
    expect(row.insights?.steps.some((st) => st.name.includes('RUN cat /app.txt'))).toBe(true);
    expect(await hoistBuilders()).toEqual([]);
    expect(leftovers()).toEqual([]);
  });

  it('HOIST_FINISH_IN_BACKGROUND=false: the build is reported and cleaned up before the CLI exits', async () => {
    const timings = path.join(tmp, 'timings-inline.json');
    const r = await hoist(['build', '--progress=plain', path.join(tmp, 'ctx')], {
      env: baseEnv({ HOIST_TIMINGS_FILE: timings, HOIST_FINISH_IN_BACKGROUND: 'false' }),
    });
    expect(r.code).toBe(0);
    const marks = JSON.parse(await fs.readFile(timings, 'utf8')) as Record<string, number>;
    // the code the first build left is what V8 ran this one from
    expect(marks.code_cache).toBe('accepted');
    expect(marks.finisher_pid).toBeUndefined();
    expect(marks.steps_sent).toBeGreaterThan(marks.built!);
    expect(marks.finished).toBeGreaterThan(marks.steps_sent!);
    expect((await buildRow(buildIdOf(r.stderr))).status).toBe('success');
    expect(await hoistBuilders()).toEqual([]);
    expect(leftovers()).toEqual([]);
  });

  it('a second build of the same project shows cached steps', async () => {
    const meta = path.join(tmp, 'meta2.json');
    const r = await hoist([
      'build',
      '--push',
      '-t',
      `${registry.host}/cli/app:2`,
      '--metadata-file',
      meta,
      '--progress=rawjson',
      path.join(tmp, 'ctx'),
    ]);
    expect(r.code).toBe(0);
    const { cached, all } = cachedVertexes(r.stderr);
    expect(all.some((n) => n.includes('RUN echo "expensive step"'))).toBe(true);
    expect(cached.some((n) => n.includes('RUN echo "expensive step"'))).toBe(true);
    expect(cached.some((n) => n.includes('RUN cat /app.txt'))).toBe(true);
    // every step cached: the very same image (platform manifest) as the first build
    const metadata = JSON.parse(await fs.readFile(meta, 'utf8')) as Record<string, string>;
    expect(await imageManifestDigest('cli/app', '2')).toBe(firstImage);
    expect(await manifestDigest('cli/app', '2')).toBe(metadata['containerimage.digest']);
  });

  it.each([
    ['SIGTERM', 143],
    ['SIGINT', 130],
  ] as const)(
    '%s mid-build cancels: the step stops, no buildx builder, no PEM file, the build row is canceled',
    async (signal, code) => {
      const ctx = path.join(tmp, `slow-${signal}`);
      await fs.mkdir(ctx);
      await fs.writeFile(
        path.join(ctx, 'Dockerfile'),
        `FROM ${registry.baseImage}\nARG NONCE\nRUN echo "start $NONCE" && sleep 120\n`,
      );
      const nonce = `${signal}-${Date.now()}`;
      let sent = false;
      let pemsWhileRunning = -1;
      let stepRunning = false;
      const r = await hoist(['build', '--progress=rawjson', '--build-arg', `NONCE=${nonce}`, ctx], {
        onStderr: (all, child) => {
          // rawjson streams every vertex as it starts: wait for the sleeping step to be running
          if (!sent && startedVertexes(all).some((n) => n.includes('sleep 120'))) {
            sent = true;
            setTimeout(() => {
              pemsWhileRunning = leftovers().length;
              stepRunning = stepProcesses(nonce).length > 0;
              child.kill(signal);
            }, 1500);
          }
        },
      });
      if (!sent) throw new Error(`the slow step never started:\n${r.stderr}`);
      expect(pemsWhileRunning).toBe(1);
      expect(stepRunning).toBe(true);
      expect(r.code).toBe(code);
      expect(r.stderr).toMatch(new RegExp(`received ${signal}: canceling the build`));
      const row = await buildRow(buildIdOf(r.stderr));
      expect(row.status).toBe('canceled');
      expect(await hoistBuilders()).toEqual([]);
      expect(leftovers()).toEqual([]);
      // the solve was canceled on the builder too: the RUN step's process is gone
      const deadline = Date.now() + 15_000;
      while (stepProcesses(nonce).length && Date.now() < deadline)
        await new Promise((res) => setTimeout(res, 250));
      expect(stepProcesses(nonce)).toEqual([]);
    },
  );

  it('after a SIGKILL, the next hoist build removes the builder and the PEMs left behind', async () => {
    const ctx = path.join(tmp, 'slow-kill');
    await fs.mkdir(ctx);
    await fs.writeFile(
      path.join(ctx, 'Dockerfile'),
      `FROM ${registry.baseImage}\nARG NONCE\nRUN echo "killed $NONCE" && sleep 120\n`,
    );
    const nonce = `kill-${Date.now()}`;
    const child = spawn(hoistBin, ['build', '--progress=rawjson', '--build-arg', `NONCE=${nonce}`, ctx], {
      env: baseEnv(),
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    const exited = new Promise<void>((res) => child.on('exit', () => res()));
    await new Promise<void>((res, rej) => {
      const timer = setTimeout(() => rej(new Error(`the slow step never started:\n${stderr}`)), 120_000);
      child.stderr.setEncoding('utf8').on('data', (d: string) => {
        stderr += d;
        if (startedVertexes(stderr).some((n) => n.includes('sleep 120'))) {
          clearTimeout(timer);
          res();
        }
      });
    });
    child.kill('SIGKILL');
    await exited;
    const id = buildIdOf(stderr);
    // the orphaned `docker buildx build` keeps running; what the killed process made is still there
    const orphans = processesWith(`hoist-${id}`);
    try {
      expect(await hoistBuilders()).toHaveLength(1);
      expect(leftovers()).toHaveLength(1);

      const next = await hoist(['build', path.join(tmp, 'ctx')]);
      expect(next.code).toBe(0);
      expect(next.stderr).toContain(`removed hoist-${id}, left behind by a killed hoist build`);
      expect(await hoistBuilders()).toEqual([]);
      expect(leftovers()).toEqual([]);
      // ...and the buildx it had started no longer runs, nor does its step on the builder
      expect(orphans.filter(alive)).toEqual([]);
      const deadline = Date.now() + 15_000;
      while (stepProcesses(nonce).length && Date.now() < deadline)
        await new Promise((res) => setTimeout(res, 250));
      expect(stepProcesses(nonce)).toEqual([]);
    } finally {
      for (const pid of orphans) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }
  });

  it('after a SIGKILL and no further run, the build expires and the server closes what the orphaned buildx holds', async () => {
    const short = await startTestServer({
      flags: { 'builder-insecure-registries': registry.host, 'build-heartbeat-grace': '3s' },
    });
    const orphans: number[] = [];
    try {
      const p = await short.createProject('kill-expiry');
      const { token } = await short.createProjectToken(p.id);
      const ctx = path.join(tmp, 'slow-kill-expiry');
      await fs.mkdir(ctx);
      await fs.writeFile(
        path.join(ctx, 'Dockerfile'),
        `FROM ${registry.baseImage}\nARG NONCE\nRUN echo "expire $NONCE" && sleep 120\n`,
      );
      const nonce = `expire-${Date.now()}`;
      const child = spawn(hoistBin, ['build', '--progress=rawjson', '--build-arg', `NONCE=${nonce}`, ctx], {
        env: baseEnv({ HOIST_API_URL: short.url, HOIST_TOKEN: token }),
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      const exited = new Promise<void>((res) => child.on('exit', () => res()));
      await new Promise<void>((res, rej) => {
        const timer = setTimeout(() => rej(new Error(`the slow step never started:\n${stderr}`)), 120_000);
        child.stderr.setEncoding('utf8').on('data', (d: string) => {
          stderr += d;
          if (startedVertexes(stderr).some((n) => n.includes('sleep 120'))) {
            clearTimeout(timer);
            res();
          }
        });
      });
      child.kill('SIGKILL');
      await exited;
      const id = buildIdOf(stderr);
      orphans.push(...processesWith(`hoist-${id}`));
      expect(orphans.filter(alive).length).toBeGreaterThan(0);
      // No heartbeat: the build expires after the 3 s grace, its connections close, buildx fails
      // and the step is canceled on the builder; nothing of the killed run uses the builder.
      // (buildx may also die on its own when its parent's pipes close; the build still expires.)
      const deadline = Date.now() + 30_000;
      const status = async () => (await short.api<BuildInfo>('GET', `/v1/builds/${id}`)).body.status;
      while (
        (orphans.some(alive) || stepProcesses(nonce).length || (await status()) !== 'expired') &&
        Date.now() < deadline
      )
        await new Promise((res) => setTimeout(res, 250));
      const row = (await short.api<BuildInfo>('GET', `/v1/builds/${id}`)).body;
      expect(row.status).toBe('expired');
      expect(row.error).toMatch(/no heartbeat/);
      expect(orphans.filter(alive)).toEqual([]);
      expect(stepProcesses(nonce)).toEqual([]);
    } finally {
      for (const pid of orphans.filter(alive)) process.kill(pid, 'SIGKILL');
      await short.stop();
      // the killed run's builder definition and PEMs are the next run's to remove
      for (const d of leftovers()) {
        const owner = JSON.parse(readFileSync(path.join(pemParent, d, 'owner.json'), 'utf8')) as {
          builder: string;
        };
        await run('docker', ['buildx', 'rm', '--force', owner.builder], { env: baseEnv() }).catch(
          () => undefined,
        );
        await fs.rm(path.join(pemParent, d), { recursive: true, force: true });
      }
    }
  });

  it('a failing Dockerfile exits with buildx code and the build row is failed', async () => {
    const ctx = path.join(tmp, 'broken');
    await fs.mkdir(ctx);
    await fs.writeFile(path.join(ctx, 'Dockerfile'), `FROM ${registry.baseImage}\nRUN exit 3\n`);
    const r = await hoist(['build', '--progress=plain', ctx]);
    expect(r.code).toBe(1);
    const row = await buildRow(buildIdOf(r.stderr));
    expect(row.status).toBe('failed');
    expect(row.error).toMatch(/docker buildx build exited with code 1/);
    expect(await hoistBuilders()).toEqual([]);
    expect(leftovers()).toEqual([]);
  });

  it('gives up after --wait with a clear message when no builder frees up', async () => {
    const s2 = await server.api<Project>('POST', '/v1/projects', {
      name: 'cli-e2e-busy',
      max_concurrent_builds: 1,
    });
    expect(s2.status).toBe(201);
    const tok = (await server.createProjectToken(s2.body.id, 'busy')).token;
    // another build holds the only slot
    const held = await server.api<{ build_id: string; build_token: string }>(
      'POST',
      '/v1/builds',
      { platforms: [] },
      tok,
    );
    const platform = (await buildRow(held.body.build_id)).platforms[0]!;
    for (;;) {
      const a = await server.api<{ status: string; retry_after_ms?: number }>(
        'GET',
        `/v1/builds/${held.body.build_id}/builders/${encodeURIComponent(platform)}`,
        undefined,
        held.body.build_token,
      );
      if (a.body.status === 'active') break;
      await new Promise((res) => setTimeout(res, a.body.retry_after_ms ?? 200));
    }
    const r = await hoist(['build', '--wait', '3s', path.join(tmp, 'ctx')], {
      env: baseEnv({ HOIST_TOKEN: tok }),
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      new RegExp(`no ${platform} builder became available within --wait 3s \\(the server said: .*busy`),
    );
    const row = await buildRow(buildIdOf(r.stderr));
    expect(row.status).toBe('failed');
    await server.api(
      'POST',
      `/v1/builds/${held.body.build_id}/finish`,
      { status: 'success' },
      held.body.build_token,
    );
    expect(leftovers()).toEqual([]);
  });
});

describe('hoist build: cancel, project and token sources', () => {
  it('a cancel from the server (heartbeat answer) stops buildx and reports canceled', async () => {
    const ctx = path.join(tmp, 'slow-cancel');
    await fs.mkdir(ctx);
    await fs.writeFile(
      path.join(ctx, 'Dockerfile'),
      `FROM ${registry.baseImage}\nARG NONCE\nRUN echo "cancel me $NONCE" && sleep 120\n`,
    );
    let canceled = false;
    const started = Date.now();
    const nonce = `cancel-${Date.now()}`;
    const r = await hoist(['build', '--progress=rawjson', '--build-arg', `NONCE=${nonce}`, ctx], {
      onStderr: (all) => {
        if (!canceled && startedVertexes(all).some((n) => n.includes('sleep 120'))) {
          canceled = true;
          void server.api('POST', `/v1/builds/${buildIdOf(all)}/cancel`);
        }
      },
    });
    if (!canceled) throw new Error(`the slow step never started:\n${r.stderr}`);
    expect(Date.now() - started).toBeLessThan(60_000);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/the Hoist server canceled this build: canceling the build/);
    expect((await buildRow(buildIdOf(r.stderr))).status).toBe('canceled');
    expect(await hoistBuilders()).toEqual([]);
    expect(leftovers()).toEqual([]);
    const deadline = Date.now() + 15_000;
    while (stepProcesses(nonce).length && Date.now() < deadline)
      await new Promise((res) => setTimeout(res, 250));
    expect(stepProcesses(nonce)).toEqual([]);
  });

  it('--build-platform pins one native builder; an unsupported platform is refused before any build', async () => {
    const native = process.arch === 'x64' ? 'linux/amd64' : `linux/${process.arch}`;
    const r = await hoist(['build', '--build-platform', native, '--platform', native, path.join(tmp, 'ctx')]);
    expect(r.code).toBe(0);
    const row = await buildRow(buildIdOf(r.stderr));
    expect(row.platforms).toEqual([native]);
    expect(row.status).toBe('success');

    const bad = await hoist(['build', '--platform', 'linux/s390x', path.join(tmp, 'ctx')]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/linux\/s390x/);
    expect(bad.stderr).not.toMatch(/hoist: build bld_/);
    expect(await hoistBuilders()).toEqual([]);
    expect(leftovers()).toEqual([]);
  });

  it('takes the project from hoist.json above the context, and warns when --project disagrees', async () => {
    const repo = path.join(tmp, 'repo-with-hoist-json');
    await fs.mkdir(path.join(repo, 'svc'), { recursive: true });
    await fs.writeFile(path.join(repo, 'hoist.json'), JSON.stringify({ project: 'cli-e2e' }));
    await fs.writeFile(path.join(repo, 'svc', 'Dockerfile'), 'FROM scratch\nCOPY x.txt /x.txt\n');
    await fs.writeFile(path.join(repo, 'svc', 'x.txt'), 'x\n');
    // an admin token names no project: hoist.json must supply it
    const env = baseEnv({ HOIST_TOKEN: server.adminToken });
    const r = await hoist(['build', path.join(repo, 'svc')], { env });
    expect(r.code).toBe(0);
    expect((await buildRow(buildIdOf(r.stderr))).project_id).toBe(project.id);

    const other = await server.createProject('cli-e2e-other');
    const r2 = await hoist(['build', '--project', other.id, path.join(repo, 'svc')], { env });
    expect(r2.code).toBe(0);
    expect(r2.stderr).toMatch(
      new RegExp(
        `warning: project "${other.id}" from --project differs from "cli-e2e" in ${repo}/hoist.json`,
      ),
    );
    expect((await buildRow(buildIdOf(r2.stderr))).project_id).toBe(other.id);
  });

  it('inside GitHub Actions, exchanges the job ID token at the server (OIDC)', async () => {
    const issuer = await startOidcIssuer();
    const s = await startTestServer({
      oidcIssuer: issuer.url,
      flags: { 'builder-insecure-registries': registry.host },
    });
    try {
      const p = await s.createProject('oidc-app');
      await s.addTrustPolicy(p.id, { repository: 'octo-org/octo-repo', refs: ['refs/heads/main'] });
      const env = baseEnv({ HOIST_API_URL: s.url, GITHUB_ACTIONS: 'true', ...issuer.actionsEnv() });
      delete env.HOIST_TOKEN;
      const ok = await hoist(['build', path.join(tmp, 'ctx')], { env });
      expect(ok.code).toBe(0);
      expect(issuer.stats.idTokenRequests).toBe(1);
      const id = buildIdOf(ok.stderr);
      const row = await s.api<BuildInfo>('GET', `/v1/builds/${id}`);
      expect(row.body.project_id).toBe(p.id);
      expect(row.body.status).toBe('success');
      // every token it obtained itself is masked first; the runner never shows `::add-mask::` lines
      for (const kind of ['eyJ', 'hoist_oidc_', 'hoist_bld_'])
        expect(ok.stderr).toContain(`::add-mask::${kind}`);
      expect(ok.stderr.replace(/^::add-mask::.*$/gm, '')).not.toMatch(/hoist_oidc_|hoist_bld_|eyJ/);

      // a workflow of another repository is refused, with the server's reason
      issuer.setNextClaims({ repository: 'evil-org/app', repository_id: '999', repository_owner_id: '998' });
      const refused = await hoist(['build', path.join(tmp, 'ctx')], { env });
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(/the Hoist server refused the token: .*evil-org\/app/);

      // in Actions without `permissions: id-token: write`
      const noPerm = baseEnv({ HOIST_API_URL: s.url, GITHUB_ACTIONS: 'true' });
      delete noPerm.HOIST_TOKEN;
      const np = await hoist(['build', path.join(tmp, 'ctx')], { env: noPerm });
      expect(np.code).toBe(2);
      expect(np.stderr).toMatch(/permissions: id-token: write/);
    } finally {
      await s.stop();
      await issuer.close();
    }
  });
});

describe('errors a user can act on', () => {
  it('an unknown flag gets buildx own message, and no build is created', async () => {
    const before = (await server.api<{ builds: BuildInfo[] }>('GET', '/v1/builds?limit=500')).body.builds
      .length;
    const r = await hoist(['build', '--frobnicate', '.']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/unknown flag: --frobnicate/);
    expect(
      (await server.api<{ builds: BuildInfo[] }>('GET', '/v1/builds?limit=500')).body.builds.length,
    ).toBe(before);
  });

  it('buildx missing: says how to install it', async () => {
    const nodeOnly = path.join(tmp, 'node-only');
    await fs.mkdir(nodeOnly, { recursive: true });
    await fs.symlink(process.execPath, path.join(nodeOnly, 'node')).catch(() => undefined);
    const r = await hoist(['build', '.'], { env: baseEnv({ PATH: nodeOnly }) });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/docker buildx is not available.*Install Docker Buildx/);
  });

  it('hoist build --help | grep -- --cache-to finds buildx own flag (the help shows every flag)', async () => {
    const r = await run('sh', ['-c', `"${hoistBin}" build --help | grep -- --cache-to`], { env: baseEnv() });
    expect(r.stdout).toMatch(/^ +--cache-to stringArray +Cache export destinations/m);
    // Without buildx the help still answers, with where to get it.
    const nodeOnly = path.join(tmp, 'node-only');
    await fs.mkdir(nodeOnly, { recursive: true });
    await fs.symlink(process.execPath, path.join(nodeOnly, 'node')).catch(() => undefined);
    const bare = await hoist(['build', '--help'], { env: baseEnv({ PATH: nodeOnly }) });
    expect(bare.code).toBe(0);
    expect(bare.stdout).toContain('--build-platform string');
    expect(bare.stdout).toMatch(/not shown, because buildx could not be run[\s\S]*Install Docker Buildx/);
  });

  it('an unreachable server', async () => {
    const r = await hoist(['build', '.'], { env: baseEnv({ HOIST_API_URL: 'http://127.0.0.1:9' }) });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/cannot reach the Hoist server at http:\/\/127\.0\.0\.1:9/);
  });

  it('a refused token, with the server reason', async () => {
    const r = await hoist(['build', '.'], { env: baseEnv({ HOIST_TOKEN: 'hoist_prj_notarealtoken' }) });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/the Hoist server refused the token: \S+/);
  });
});

describe('admin commands', () => {
  it('login, projects, tokens, trust and builds, with table and JSON output', async () => {
    const env = baseEnv({
      HOIST_TOKEN: undefined,
      HOIST_API_URL: undefined,
      HOIST_CONFIG: path.join(tmp, 'cfg', 'config.json'),
    });
    delete env.HOIST_TOKEN;
    delete env.HOIST_API_URL;
    const login = await hoist(['login', '--api-url', server.url, '--token', server.adminToken], { env });
    expect(login.code).toBe(0);
    expect((await fs.stat(path.join(tmp, 'cfg', 'config.json'))).mode & 0o777).toBe(0o600);

    const created = await hoist(['projects', 'create', 'admin-e2e', '--json'], { env });
    expect(created.code).toBe(0);
    const p = JSON.parse(created.stdout) as Project;
    expect(p.name).toBe('admin-e2e');
    const list = await hoist(['projects', 'list'], { env });
    expect(list.stdout).toMatch(new RegExp(`^${p.id}\\s+admin-e2e\\s`, 'm'));

    const tok = await hoist(
      ['tokens', 'create', '--project', 'admin-e2e', '--name', 'ci', '--expires-in', '1d'],
      { env },
    );
    expect(tok.code).toBe(0);
    expect(tok.stdout.trim().split('\n').pop()).toMatch(/^hoist_prj_/);
    const tokens = JSON.parse(
      (await hoist(['tokens', 'list', '--project', p.id, '--json'], { env })).stdout,
    ) as { id: string; name: string }[];
    expect(tokens.map((t) => t.name)).toEqual(['ci']);
    expect((await hoist(['tokens', 'revoke', tokens[0]!.id, '--project', p.id], { env })).code).toBe(0);
    const revoked = JSON.parse(
      (await hoist(['tokens', 'list', '--project', p.id, '--json'], { env })).stdout,
    ) as { revoked_at: string | null }[];
    expect(revoked[0]!.revoked_at).not.toBeNull();

    const trust = await hoist(
      [
        'trust',
        'add',
        '--project',
        p.id,
        '--repo',
        'octo-org/app',
        '--repository-id',
        '42',
        '--owner-id',
        '7',
        '--ref',
        'refs/heads/main',
        '--ref',
        'refs/tags/v*',
        '--environment',
        'prod',
        '--workflow',
        'build.yml',
        '--json',
      ],
      { env },
    );
    expect(trust.code).toBe(0);
    const policy = JSON.parse(trust.stdout) as { id: string; refs: string[]; repository_id: string };
    expect(policy.refs).toEqual(['refs/heads/main', 'refs/tags/v*']);
    expect(policy.repository_id).toBe('42');
    expect((await hoist(['trust', 'list', '--project', p.id], { env })).stdout).toContain('octo-org/app');
    expect((await hoist(['trust', 'remove', policy.id, '--project', p.id], { env })).code).toBe(0);
    expect(JSON.parse((await hoist(['trust', 'list', '--project', p.id, '--json'], { env })).stdout)).toEqual(
      [],
    );

    const bad = await hoist(['trust', 'add', '--project', p.id, '--repo', 'not-a-repo'], { env });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--repo OWNER\/NAME is required/);

    const builds = await hoist(['builds', 'list', '--project', project.id, '--json'], { env });
    expect(builds.code).toBe(0);
    const rows = JSON.parse(builds.stdout) as BuildInfo[];
    expect(rows.map((b) => b.status)).toEqual(expect.arrayContaining(['success', 'canceled', 'failed']));
    const show = await hoist(['builds', 'show', rows[0]!.id], { env });
    expect(show.stdout).toContain(rows[0]!.id);

    expect((await hoist(['projects', 'delete', p.id], { env })).code).toBe(0);
    const gone = await hoist(['projects', 'show', p.id], { env });
    expect(gone.code).toBe(1);
  });
});
