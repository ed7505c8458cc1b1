// Autoscaling with cache clones, end to end: a real server with the local provider and real
// buildkitd daemons, its data directory on a loop-mounted XFS (reflink clones) and on ext4 (full
// copies). A project with autoscaling on, 2 builds per builder and at most 3 builders:
//   - a first build warms the primary's cache; the primary, once quiesced, is snapshotted;
//   - six concurrent builds get three builders (the primary and two clones), two builds each;
//   - the server restarts in the middle (builders kept): it adopts the primary, the clones and
//     the snapshot, every build keeps its builder, and all six finish: none is lost;
//   - the clones hit the primary's cache (CACHED steps, from rawjson);
//   - no snapshot was taken while a build held the primary;
//   - once idle, the clones are destroyed and their directories are gone.
// Every loop device and mount the suite makes is removed in afterAll.
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import type { BuilderActive, BuildInfo } from '../../src/lib/api-types.js';
import { HoistClient } from '../../src/lib/client.js';
import { findBuildkitd, LocalProvider } from '../../src/providers/local.js';
import { startRegistry, type Registry } from '../helpers/engine.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { parseRawjson, type VertexSummary } from './buildx.js';

const run = promisify(execFile);
jest.setTimeout(600_000);

let tmp: string;
let buildctl: string;
let registry: Registry;
const mounts: string[] = [];
const servers: TestServer[] = [];
const dataDirs: string[] = [];
/** With limits, the clean-up provider also removes the builders' cgroups (the values do not matter). */
const CLEANUP_LIMITS = { pids: 4096, memoryBytes: 1024 ** 3, cpus: 1 };

async function loopMount(kind: 'xfs' | 'ext4', name: string, bytes: number): Promise<string> {
  const image = path.join(tmp, `${name}.img`);
  const dir = path.join(tmp, name);
  await fs.mkdir(dir, { recursive: true });
  const fh = await fs.open(image, 'w');
  await fh.truncate(bytes);
  await fh.close();
  if (kind === 'xfs') await run('mkfs.xfs', ['-q', '-m', 'reflink=1', image]);
  else await run('mkfs.ext4', ['-q', '-F', image]);
  await run('mount', ['-o', 'loop', image, dir]);
  mounts.push(dir);
  await fs.chmod(dir, 0o700);
  return dir;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(
  what: string,
  ms: number,
  fn: () => Promise<T | undefined | null | false>,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(250);
  }
}

async function activeOf(client: HoistClient, buildId: string): Promise<BuilderActive> {
  return until(`a builder for ${buildId}`, 240_000, async () => {
    const a = await client.builder(buildId, 'linux/amd64');
    return a.status === 'active' ? a : null;
  });
}

/** `buildctl build --progress rawjson` with the build's own client certificate. */
async function build(a: BuilderActive, dockerfile: string): Promise<VertexSummary[]> {
  const dir = await fs.mkdtemp(path.join(tmp, 'ctx-'));
  try {
    await fs.writeFile(path.join(dir, 'Dockerfile'), dockerfile);
    await fs.writeFile(path.join(dir, 'ca.pem'), a.ca_pem);
    await fs.writeFile(path.join(dir, 'cert.pem'), a.cert_pem);
    await fs.writeFile(path.join(dir, 'key.pem'), a.key_pem, { mode: 0o600 });
    const { stderr } = await run(
      buildctl,
      [
        ...['--addr', a.endpoint, '--tlsservername', a.server_name, '--tlscacert', path.join(dir, 'ca.pem')],
        ...['--tlscert', path.join(dir, 'cert.pem'), '--tlskey', path.join(dir, 'key.pem'), 'build'],
        ...['--frontend', 'dockerfile.v0', '--local', `context=${dir}`, '--local', `dockerfile=${dir}`],
        ...['--progress', 'rawjson'],
      ],
      { timeout: 300_000, maxBuffer: 64 * 1024 * 1024 },
    );
    return parseRawjson(stderr);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

const runSteps = (v: VertexSummary[]) => v.filter((x) => / RUN /.test(x.name));

beforeAll(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'hoist-autoscale-'));
  buildctl = path.join(path.dirname(await findBuildkitd()), 'buildctl');
  registry = await startRegistry();
});

afterAll(async () => {
  for (const s of servers) await s.stop().catch(() => undefined);
  // Builders a failed test left running (--builders-on-exit keep), their networks and cgroups.
  for (const d of dataDirs)
    await LocalProvider.create({ dataDir: d, limits: CLEANUP_LIMITS })
      .then((p) => p.close({ stopBuilders: true }))
      .catch(() => undefined);
  await registry?.stop().catch(() => undefined);
  for (const m of mounts.reverse()) await run('umount', ['-R', m]).catch(() => undefined);
  await fs.rm(tmp, { recursive: true, force: true });
});

describe.each([
  { fs: 'xfs' as const, method: 'reflink' },
  { fs: 'ext4' as const, method: 'full-copy' },
])('autoscaling on a loop-mounted $fs', ({ fs: kind, method }) => {
  it('six builds at two per builder get three builders; clones hit the cache; a restart loses nothing; idle clones go', async () => {
    const dataDir = await loopMount(kind, `data-${kind}`, 2 * 1024 ** 3);
    const server = await startTestServer({
      dataDir,
      captureLogs: true,
      flags: {
        'builder-insecure-registries': registry.host,
        'builders-on-exit': 'keep',
        'clone-idle-timeout': '5s',
        'build-share-after': '5m',
        'build-heartbeat-grace': '10m',
        'builder-max-used-space': '600MB',
      },
    });
    servers.push(server);
    dataDirs.push(dataDir);
    const probe = server.logs().find((l) => l.msg.startsWith('builder caches are cloned by'));
    expect(probe?.clone_method).toBe(method);

    const project = await server.createProject(`auto-${kind}`);
    const patched = await server.api('PATCH', `/v1/projects/${project.id}`, {
      autoscaling: true,
      max_concurrent_builds: 2,
      max_builders_per_platform: 3,
    });
    expect(patched.status).toBe(200);
    const client = new HoistClient({
      apiUrl: server.url,
      token: (await server.createProjectToken(project.id)).token,
    });
    const common = `FROM ${registry.baseImage}\nRUN head -c 5000000 /dev/urandom > /warm && echo warmed\nRUN echo common-2 > /c2\n`;

    // 1. Warm the primary's cache, then let the provisioner snapshot the quiesced primary.
    const warm = await client.createBuild({ platforms: ['linux/amd64'] });
    const warmActive = await activeOf(client, warm.build_id);
    expect(warmActive.role).toBe('primary');
    const primaryId = warmActive.builder_id;
    expect(runSteps(await build(warmActive, common)).every((v) => !v.cached)).toBe(true);
    await client.finishBuild(warm.build_id, { status: 'success' });
    await until(
      'the first snapshot',
      120_000,
      async () =>
        existsSync(path.join(dataDir, 'builders', '.snapshots')) &&
        (await fs.readdir(path.join(dataDir, 'builders', '.snapshots'))).some((n) => !n.endsWith('.partial')),
    );

    // 2. Six builds at once.
    const builds = await Promise.all(
      Array.from({ length: 6 }, () => client.createBuild({ platforms: ['linux/amd64'] })),
    );
    const actives = await Promise.all(builds.map((b) => activeOf(client, b.build_id)));
    const perBuilder = new Map<string, number>();
    for (const a of actives) perBuilder.set(a.builder_id, (perBuilder.get(a.builder_id) ?? 0) + 1);
    expect([...perBuilder.values()].sort()).toEqual([2, 2, 2]);
    expect(perBuilder.get(primaryId)).toBe(2);
    const roles = actives.map((a) => a.role).sort();
    expect(roles).toEqual(['clone', 'clone', 'clone', 'clone', 'primary', 'primary']);
    const cloneIds = [...perBuilder.keys()].filter((id) => id !== primaryId);
    for (const id of cloneIds) expect(existsSync(path.join(dataDir, 'builders', id, 'root'))).toBe(true);

    // 3. The server restarts in the middle; builders keep running and are adopted. A copy that a
    // crash cut short is removed; the snapshot the clones came from stays.
    const snapsDir = path.join(dataDir, 'builders', '.snapshots');
    const snapsBefore = (await fs.readdir(snapsDir)).filter((n) => !n.endsWith('.partial'));
    await fs.mkdir(path.join(snapsDir, 'cut-short.partial', 'root'), { recursive: true });
    await server.restart();
    expect(existsSync(path.join(snapsDir, 'cut-short.partial'))).toBe(false);
    for (const n of snapsBefore) expect(existsSync(path.join(snapsDir, n, 'snapshot.json'))).toBe(true);
    const after = await Promise.all(builds.map((b) => activeOf(client, b.build_id)));
    expect(after.map((a) => a.builder_id)).toEqual(actives.map((a) => a.builder_id));

    // 4. All six run at once, each with a step of its own after the common ones.
    const results = await Promise.all(
      after.map((a, i) => build(a, `${common}RUN echo only-build-${i}-${Date.now()} > /mine\n`)),
    );
    results.forEach((steps, i) => {
      const step = (text: string) => runSteps(steps).find((v) => v.name.includes(text));
      // The common steps: from the primary's own cache, or from the clone's copy of it.
      expect({
        i,
        role: after[i]!.role,
        warmed: step('echo warmed')?.cached,
        c2: step('common-2')?.cached,
      }).toEqual({
        i,
        role: after[i]!.role,
        warmed: true,
        c2: true,
      });
      expect(step(`only-build-${i}-`)?.cached).toBe(false);
    });
    for (const b of builds) await client.finishBuild(b.build_id, { status: 'success' });
    const infos = await Promise.all(
      [warm, ...builds].map(
        async (b) => (await server.api<BuildInfo>('GET', `/v1/builds/${b.build_id}`)).body,
      ),
    );
    expect(infos.map((b) => b.status)).toEqual(Array(7).fill('success'));

    // 5. No snapshot copy began while a build held the primary.
    const copies = server
      .logs()
      .filter((l) => l.msg === 'snapshot: copying the stopped builder' && l.builder_id === primaryId)
      .map((l) => Number(l.time));
    expect(copies.length).toBeGreaterThan(0);
    const onPrimary = infos.filter((_, i) => (i === 0 ? warmActive : after[i - 1]!).builder_id === primaryId);
    for (const b of onPrimary) {
      const from = Date.parse(b.acquired_at!);
      const to = Date.parse(b.finished_at!);
      for (const t of copies)
        expect({ build: b.id, during: t > from && t < to }).toEqual({ build: b.id, during: false });
    }

    // 6. Idle clones are destroyed; their directories go with them. The primary stays.
    await until('idle clones destroyed', 120_000, async () =>
      cloneIds.every((id) => !existsSync(path.join(dataDir, 'builders', id))),
    );
    expect(existsSync(path.join(dataDir, 'builders', primaryId, 'root'))).toBe(true);
    await server.stop();
    // --builders-on-exit keep left the primary running: stop it as the next server would.
    await (await LocalProvider.create({ dataDir, limits: CLEANUP_LIMITS })).close({ stopBuilders: true });
    expect(
      readFileSync('/proc/self/mounts', 'utf8')
        .split('\n')
        .filter((l) => l.split(' ')[1]?.startsWith(`${dataDir}/`)),
    ).toEqual([]);
  });
});
