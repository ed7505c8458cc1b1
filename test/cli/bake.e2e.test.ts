// `hoist bake --push` end to end: the bundled CLI against a real `hoist server` (local provider,
// real buildkitd), real `docker buildx bake` and a real registry. A bake file with targets that
// share a base stage: both images land in the registry with the digests of the metadata file, the
// shared stage runs once, and a second bake after a one-line change reuses the cache. A third
// target names two platforms, so the temporary builder needs a node for each.
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { gunzipSync } from 'node:zlib';
import { Parser } from 'tar';
import type { BuildInfo } from '../../src/lib/api-types.js';
import { emulatedPlatforms } from '../../src/providers/local.js';
import { nativePlatform } from '../../src/providers/provider.js';
import { makeDockerConfig, startRegistry, type DockerConfig, type Registry } from '../helpers/engine.js';
import { CLI_BUNDLE, startTestServer, type TestServer } from '../helpers/server.js';
import { waitForFinishersOf } from '../helpers/finisher.js';

const run = promisify(execFile);
jest.setTimeout(600_000);

const NATIVE = nativePlatform();
const EMULATED = NATIVE === 'linux/arm64' ? 'linux/amd64' : 'linux/arm64';
// `static` has no RUN step, so its second platform needs no emulator, only a server that offers it.
const canEmulate = emulatedPlatforms('/proc/sys/fs/binfmt_misc').includes(EMULATED);
const STATIC_PLATFORMS = canEmulate ? [NATIVE, EMULATED] : [NATIVE];

const MANIFEST_TYPES = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.docker.distribution.manifest.v2+json',
];

let tmp: string;
let ctx: string;
let pemParent: string;
let registry: Registry;
let docker: DockerConfig;
let server: TestServer;
let projectId: string;
let projectToken: string;

function env(): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = {
    ...process.env,
    ...docker.env,
    HOIST_API_URL: server.url,
    HOIST_TOKEN: projectToken,
    HOIST_CONFIG: path.join(tmp, 'no-config.json'),
    HOIST_TMPDIR: pemParent,
  };
  for (const k of [
    'HOIST_PROJECT_ID',
    'HOIST_BUILDX',
    'ACTIONS_ID_TOKEN_REQUEST_URL',
    'ACTIONS_ID_TOKEN_REQUEST_TOKEN',
    'GITHUB_ACTIONS',
  ])
    delete e[k];
  return e;
}

function hoist(
  args: string[],
  onStderr?: (all: string, child: ChildProcess) => void,
  stdin?: string,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI_BUNDLE, ...args], {
      env: env(),
      cwd: ctx,
      stdio: [stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    if (stdin !== undefined) child.stdin!.end(stdin);
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
      onStderr?.(stderr, child);
    });
    // a successful bake's end runs in a background process after the CLI exits: wait for it
    child.on(
      'close',
      (code, signal) =>
        void waitForFinishersOf(stderr).then(() =>
          resolve({ code: code ?? (signal ? -1 : null), stdout, stderr }),
        ),
    );
  });
}

/** pids of processes whose environment holds NONCE=<nonce>: the RUN steps of one bake. */
function stepProcesses(nonce: string): number[] {
  const pids: number[] = [];
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      if (readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').includes(`NONCE=${nonce}`))
        pids.push(Number(pid));
    } catch {
      // gone
    }
  }
  return pids;
}

async function builds(): Promise<BuildInfo[]> {
  const r = await server.api<{ builds: BuildInfo[] }>('GET', `/v1/builds?project=${projectId}`);
  expect(r.status).toBe(200);
  return r.body.builds;
}

async function hoistBuilders(): Promise<string[]> {
  const r = await run('docker', ['buildx', 'ls'], { env: env() }).catch((err: { stdout?: string }) => ({
    stdout: err.stdout ?? '',
  }));
  return r.stdout.split('\n').filter((l) => /^hoist-/.test(l.trim()));
}

async function registryGet(url: string, accept: string[]): Promise<Response> {
  const r = await fetch(`${registry.url}${url}`, { headers: { accept: accept.join(', ') } });
  if (r.status !== 200) throw new Error(`GET ${url}: ${r.status} ${await r.text()}`);
  return r;
}

async function registryDigest(repo: string, tag: string): Promise<string | null> {
  const r = await fetch(`${registry.url}/v2/${repo}/manifests/${tag}`, {
    method: 'HEAD',
    headers: { accept: MANIFEST_TYPES.join(', ') },
  });
  return r.ok ? r.headers.get('docker-content-digest') : null;
}

/** The regular files of a (gzip-compressed or plain) tar layer, by path. */
async function layerFiles(blob: Buffer): Promise<Map<string, string>> {
  const raw = blob[0] === 0x1f && blob[1] === 0x8b ? gunzipSync(blob) : blob;
  const files = new Map<string, string>();
  await new Promise<void>((resolve, reject) => {
    const p = new Parser({
      onReadEntry: (entry) => {
        const chunks: Buffer[] = [];
        entry.on('data', (c: Buffer) => chunks.push(c));
        entry.on('end', () => {
          if (entry.type === 'File')
            files.set(entry.path.replace(/^\.?\//, ''), Buffer.concat(chunks).toString());
        });
      },
    });
    p.on('error', reject);
    p.on('end', () => resolve());
    p.end(raw);
  });
  return files;
}

/** Files of the native-platform image of repo:tag, with the digest of the layer each came from. */
async function imageFiles(repo: string, tag: string): Promise<Map<string, { text: string; layer: string }>> {
  let manifest = (await (await registryGet(`/v2/${repo}/manifests/${tag}`, MANIFEST_TYPES)).json()) as {
    manifests?: { digest: string; platform?: { os: string; architecture: string } }[];
    layers?: { digest: string }[];
  };
  if (manifest.manifests) {
    const d = manifest.manifests.find((m) => `${m.platform?.os}/${m.platform?.architecture}` === NATIVE);
    if (!d) throw new Error(`${repo}:${tag} has no ${NATIVE} image`);
    manifest = (await (await registryGet(`/v2/${repo}/manifests/${d.digest}`, MANIFEST_TYPES)).json()) as {
      layers?: { digest: string }[];
    };
  }
  const out = new Map<string, { text: string; layer: string }>();
  for (const layer of manifest.layers ?? []) {
    const blob = Buffer.from(
      await (await registryGet(`/v2/${repo}/blobs/${layer.digest}`, ['*/*'])).arrayBuffer(),
    );
    for (const [k, v] of await layerFiles(blob)) out.set(k, { text: v, layer: layer.digest });
  }
  return out;
}

interface Vertex {
  digest: string;
  name: string;
  started: boolean;
  completed: boolean;
  cached: boolean;
}

/** The vertexes of a `--progress rawjson` stream, merged by digest. */
function vertexes(stderr: string): Vertex[] {
  const byDigest = new Map<string, Vertex>();
  for (const line of stderr.split('\n')) {
    if (!line.startsWith('{')) continue;
    let status: {
      vertexes?: { digest: string; name?: string; started?: string; completed?: string; cached?: boolean }[];
    };
    try {
      status = JSON.parse(line) as typeof status;
    } catch {
      continue;
    }
    for (const v of status.vertexes ?? []) {
      const seen = byDigest.get(v.digest) ?? {
        digest: v.digest,
        name: '',
        started: false,
        completed: false,
        cached: false,
      };
      if (v.name) seen.name = v.name;
      seen.started ||= Boolean(v.started);
      seen.completed ||= Boolean(v.completed);
      seen.cached ||= Boolean(v.cached);
      byDigest.set(v.digest, seen);
    }
  }
  return [...byDigest.values()];
}

function dockerfile(appLine: string): string {
  return [
    `FROM ${registry.baseImage} AS base`,
    // unique per run: an image holding the same value as another got it from the same execution
    'RUN echo "shared $(date +%s%N) $(cat /proc/sys/kernel/random/uuid)" > /base-id',
    'FROM base AS app',
    appLine,
    'FROM base AS worker',
    'RUN echo worker > /worker.txt',
    'FROM scratch AS static',
    'COPY hello.txt /hello.txt',
    '',
  ].join('\n');
}

beforeAll(async () => {
  if (!existsSync(CLI_BUNDLE))
    throw new Error(`${CLI_BUNDLE} is missing: run "node .ci/build.mjs cli" first`);
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'hoist-bake-e2e-'));
  pemParent = path.join(tmp, 'pem-parent');
  await fs.mkdir(pemParent);
  registry = await startRegistry();
  docker = await makeDockerConfig();
  server = await startTestServer({ flags: { 'builder-insecure-registries': registry.host } });
  projectId = (await server.createProject('bake-e2e')).id;
  projectToken = (await server.createProjectToken(projectId, 'e2e')).token;

  ctx = path.join(tmp, 'ctx');
  await fs.mkdir(ctx);
  await fs.writeFile(path.join(ctx, 'hello.txt'), 'hello from bake\n');
  await fs.writeFile(path.join(ctx, 'Dockerfile'), dockerfile('RUN echo app > /app.txt'));
  const list = (ps: string[]): string => `[${ps.map((p) => `"${p}"`).join(', ')}]`;
  await fs.writeFile(
    path.join(ctx, 'docker-bake.hcl'),
    [
      'group "default" {',
      '  targets = ["app", "worker", "static"]',
      '}',
      'target "app" {',
      '  target = "app"',
      `  tags = ["${registry.host}/bake/app:1"]`,
      `  platforms = ${list([NATIVE])}`,
      '}',
      '# no platforms: the first node, the native one',
      'target "worker" {',
      '  target = "worker"',
      `  tags = ["${registry.host}/bake/worker:1"]`,
      '}',
      'target "static" {',
      '  target = "static"',
      `  tags = ["${registry.host}/bake/static:1"]`,
      `  platforms = ${list(STATIC_PLATFORMS)}`,
      '}',
      '',
    ].join('\n'),
  );
});

afterAll(async () => {
  await server?.stop().catch(() => undefined);
  await docker?.cleanup().catch(() => undefined);
  await registry?.stop().catch(() => undefined);
  if (tmp) await fs.rm(tmp, { recursive: true, force: true });
});

describe('hoist bake --push', () => {
  let baseId: string;

  it('builds every target on one Hoist build; the shared stage runs once; the registry holds the metadata digests', async () => {
    const before = (await builds()).length;
    const meta = path.join(tmp, 'meta-1.json');
    const r = await hoist(['bake', '--push', '--metadata-file', meta, '--progress', 'rawjson']);
    if (r.code !== 0) throw new Error(`hoist bake failed (${r.code}):\n${r.stderr}`);

    // one build record, with every platform and each target's own
    const all = await builds();
    expect(all.length).toBe(before + 1);
    const m = /hoist: build (bld_\w+): /.exec(r.stderr);
    expect(m).not.toBeNull();
    const row = (await server.api<BuildInfo>('GET', `/v1/builds/${m![1]}`)).body;
    expect(row.status).toBe('success');
    expect([...row.platforms].sort()).toEqual([...STATIC_PLATFORMS].sort());
    expect(row.builders.map((b) => b.platform).sort()).toEqual([...STATIC_PLATFORMS].sort());
    expect(row.builders.every((b) => typeof b.builder_id === 'string')).toBe(true);
    expect(row.targets).toEqual([
      { name: 'app', platforms: [NATIVE] },
      { name: 'static', platforms: STATIC_PLATFORMS },
      { name: 'worker', platforms: [] },
    ]);

    // `hoist builds show` lists the targets with their platforms
    const show = await hoist(['builds', 'show', m![1]!]);
    expect(show.code).toBe(0);
    expect(show.stdout).toMatch(
      new RegExp(
        `^TARGET\\s+PLATFORMS\\napp\\s+${NATIVE}\\nstatic\\s+${STATIC_PLATFORMS.join(',')}\\nworker\\s+default\\n$`,
        'm',
      ),
    );

    // the registry holds each target under the digest the metadata file names
    const metadata = JSON.parse(await fs.readFile(meta, 'utf8')) as Record<string, Record<string, unknown>>;
    for (const t of ['app', 'worker', 'static']) {
      const digest = metadata[t]?.['containerimage.digest'];
      expect(digest).toMatch(/^sha256:[0-9a-f]{64}$/);
      expect(await registryDigest(`bake/${t}`, '1')).toBe(digest);
    }
    if (canEmulate) {
      const index = (await (await registryGet('/v2/bake/static/manifests/1', MANIFEST_TYPES)).json()) as {
        manifests: { platform?: { os: string; architecture: string } }[];
      };
      const ps = index.manifests.map((d) => `${d.platform?.os}/${d.platform?.architecture}`);
      expect(ps).toEqual(expect.arrayContaining(STATIC_PLATFORMS));
    }

    // the shared stage ran once: one execution of its RUN, whose output both images carry
    const shared = vertexes(r.stderr).filter((v) => v.name.includes('RUN echo "shared'));
    expect(shared).toHaveLength(1);
    // (both targets' progress streams report it, a fraction of a millisecond apart, under one digest)
    expect(shared[0]).toMatchObject({ completed: true, cached: false });
    const app = await imageFiles('bake/app', '1');
    const worker = await imageFiles('bake/worker', '1');
    expect(app.get('base-id')?.text).toMatch(/^shared \d+ [0-9a-f-]{36}\n$/);
    expect(worker.get('base-id')).toEqual(app.get('base-id'));
    expect(app.get('app.txt')?.text).toBe('app\n');
    expect(worker.get('worker.txt')?.text).toBe('worker\n');
    baseId = app.get('base-id')!.text;

    // nothing left behind
    expect(await hoistBuilders()).toEqual([]);
    expect(readdirSync(pemParent)).toEqual([]);
  });

  it('a second bake after a one-line change rebuilds only that line; the shared stage comes from the cache', async () => {
    await fs.writeFile(path.join(ctx, 'Dockerfile'), dockerfile('RUN echo app v2 > /app.txt'));
    const meta = path.join(tmp, 'meta-2.json');
    const r = await hoist(['bake', '--push', '--metadata-file', meta, '--progress', 'rawjson']);
    if (r.code !== 0) throw new Error(`hoist bake failed (${r.code}):\n${r.stderr}`);
    const vs = vertexes(r.stderr);
    const named = (s: string): Vertex[] => vs.filter((v) => v.name.includes(s));
    expect(named('RUN echo "shared')).toEqual([expect.objectContaining({ cached: true })]);
    expect(named('RUN echo worker')).toEqual([expect.objectContaining({ cached: true })]);
    expect(named('RUN echo app v2')).toEqual([expect.objectContaining({ cached: false, completed: true })]);
    const app = await imageFiles('bake/app', '1');
    expect(app.get('app.txt')?.text).toBe('app v2\n');
    expect(app.get('base-id')?.text).toBe(baseId);
    const metadata = JSON.parse(await fs.readFile(meta, 'utf8')) as Record<string, Record<string, unknown>>;
    expect(await registryDigest('bake/app', '1')).toBe(metadata.app?.['containerimage.digest']);
  });

  it('--print only evaluates the definition, on this machine, with no Hoist build', async () => {
    const before = (await builds()).length;
    const r = await hoist(['bake', '--print', 'app']);
    expect(r.code).toBe(0);
    const def = JSON.parse(r.stdout) as { target: Record<string, { platforms?: string[] }> };
    expect(Object.keys(def.target)).toEqual(['app']);
    expect(def.target.app?.platforms).toEqual([NATIVE]);
    expect((await builds()).length).toBe(before);
  });

  it('-f - reads the definition from standard input once, for the platforms and for the bake', async () => {
    const meta = path.join(tmp, 'meta-stdin.json');
    const def = `target "fromstdin" {\n  target = "static"\n  platforms = ["${NATIVE}"]\n  output = ["type=cacheonly"]\n}\n`;
    const r = await hoist(['bake', '-f', '-', '--metadata-file', meta, 'fromstdin'], undefined, def);
    if (r.code !== 0) throw new Error(`hoist bake -f - failed (${r.code}):\n${r.stderr}`);
    const id = /hoist: build (bld_\w+): /.exec(r.stderr)![1];
    const row = (await server.api<BuildInfo>('GET', `/v1/builds/${id}`)).body;
    expect(row.status).toBe('success');
    expect(row.targets).toEqual([{ name: 'fromstdin', platforms: [NATIVE] }]);
    const metadata = JSON.parse(await fs.readFile(meta, 'utf8')) as Record<string, unknown>;
    expect(Object.keys(metadata)).toContain('fromstdin');
  });

  it("a bake definition error stops before any build, with buildx's own message", async () => {
    const before = (await builds()).length;
    const r = await hoist(['bake', '-f', 'missing.hcl']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/missing\.hcl/);
    expect(r.stderr).toContain('hoist bake: buildx could not evaluate the bake definition');
    expect((await builds()).length).toBe(before);
  });

  it("buildx's exit code and a failed record when a target fails; nothing left behind", async () => {
    await fs.writeFile(
      path.join(ctx, 'bad.hcl'),
      'target "bad" {\n  dockerfile-inline = "FROM scratch\\nRUN exit 7\\n"\n}\n',
    );
    const r = await hoist(['bake', '-f', 'bad.hcl', '--progress', 'plain', 'bad']);
    expect(r.code).toBe(1);
    const id = /hoist: build (bld_\w+): /.exec(r.stderr)![1];
    const row = (await server.api<BuildInfo>('GET', `/v1/builds/${id}`)).body;
    expect(row.status).toBe('failed');
    expect(row.error).toBe('docker buildx bake exited with code 1');
    expect(await hoistBuilders()).toEqual([]);
    expect(readdirSync(pemParent)).toEqual([]);
  });
  it('SIGINT mid-bake cancels every target: exit 130, the record canceled, the steps gone, nothing left behind', async () => {
    await fs.writeFile(
      path.join(ctx, 'slow.hcl'),
      [
        'group "default" {',
        '  targets = ["one", "two"]',
        '}',
        ...['one', 'two'].flatMap((t) => [
          `target "${t}" {`,
          `  dockerfile-inline = "FROM ${registry.baseImage}\\nARG NONCE\\nRUN echo ${t} $NONCE && sleep 120\\n"`,
          '  output = ["type=cacheonly"]',
          '}',
        ]),
        '',
      ].join('\n'),
    );
    const nonce = `sigint-${Date.now()}`;
    let sent = false;
    let running = 0;
    const r = await hoist(
      ['bake', '-f', 'slow.hcl', '--progress', 'rawjson', '--set', `*.args.NONCE=${nonce}`],
      (all, child) => {
        const sleeping = vertexes(all).filter((v) => v.started && v.name.includes('sleep 120'));
        if (!sent && sleeping.length === 2) {
          sent = true;
          setTimeout(() => {
            running = stepProcesses(nonce).length;
            child.kill('SIGINT');
          }, 1500);
        }
      },
    );
    if (!sent) throw new Error(`the slow steps never started:\n${r.stderr}`);
    expect(running).toBeGreaterThanOrEqual(2);
    expect(r.code).toBe(130);
    expect(r.stderr).toContain('received SIGINT: canceling the build');
    const id = /hoist: build (bld_\w+): /.exec(r.stderr)![1];
    expect((await server.api<BuildInfo>('GET', `/v1/builds/${id}`)).body.status).toBe('canceled');
    expect(await hoistBuilders()).toEqual([]);
    expect(readdirSync(pemParent)).toEqual([]);
    const deadline = Date.now() + 15_000;
    while (stepProcesses(nonce).length && Date.now() < deadline)
      await new Promise((res) => setTimeout(res, 250));
    expect(stepProcesses(nonce)).toEqual([]);
  });
});
