// Builder limits against the real engine, through a real server: each builder in its own
// cgroup with pids, memory and CPU limits (read back from the cgroup files), RUN steps inside
// it, a bounded fork loop and a memory hog in one project's build that hit the limits while
// another project's build and the API keep working, a RUN step that cannot fill the data
// directory's filesystem (builders on a loop-mounted XFS volume), and nothing left behind:
// no mount, no loop device, no cgroup.
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statfsSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import type { BuilderActive, Project } from '../../src/lib/api-types.js';
import { HoistClient } from '../../src/lib/client.js';
import { parseCgroupLayout, serverTotals } from '../../src/providers/local-cgroup.js';
import { LocalProvider, findBuildkitd } from '../../src/providers/local.js';
import { startRegistry, type Registry } from '../helpers/engine.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

jest.setTimeout(300_000);

const run = promisify(execFile);
const PIDS = 64;
const MEMORY_MIB = 160;
const VOLUME_MIB = 1500;
const DISK_LIMIT_MIB = 500;
const layout = parseCgroupLayout(readFileSync('/proc/self/mounts', 'utf8'));
const root = (c: 'pids' | 'memory' | 'cpu'): string =>
  layout.version === 2 ? layout.root : layout.controllers[c];
const read = (file: string): string => readFileSync(file, 'utf8').trim();

let tmp: string;
let buildctl: string;
let registry: Registry;
let s: TestServer;
let base: string;
const projects: Record<string, { client: HoistClient; project: Project }> = {};

/** The cgroup base of a server's builders, as the provider names it. */
function cgroupBase(dataDir: string): string {
  return `hoist/${createHash('sha256').update(path.join(dataDir, 'builders')).digest('hex').slice(0, 12)}`;
}

/** A new build of the project and its builder, once active. */
async function acquire(name: string): Promise<{ buildId: string; active: BuilderActive }> {
  const { client } = projects[name]!;
  const { build_id } = await client.createBuild({ platforms: ['linux/amd64'] });
  for (let i = 0; i < 300; i++) {
    const a = await client.builder(build_id, 'linux/amd64');
    if (a.status === 'active') return { buildId: build_id, active: a };
    await new Promise((r) => setTimeout(r, a.retry_after_ms));
  }
  throw new Error('builder never became active');
}

/** `buildctl build` of a one-off Dockerfile on the builder; `out` holds the plain progress (step output). */
async function build(active: BuilderActive, dockerfile: string): Promise<{ ok: boolean; out: string }> {
  const dir = await fs.mkdtemp(path.join(tmp, 'ctx-'));
  try {
    await fs.writeFile(path.join(dir, 'Dockerfile'), dockerfile);
    await fs.writeFile(path.join(dir, 'ca.pem'), active.ca_pem);
    await fs.writeFile(path.join(dir, 'cert.pem'), active.cert_pem);
    await fs.writeFile(path.join(dir, 'key.pem'), active.key_pem, { mode: 0o600 });
    const { stderr } = await run(
      buildctl,
      [
        '--addr',
        active.endpoint,
        '--tlsservername',
        active.server_name,
        '--tlscacert',
        path.join(dir, 'ca.pem'),
        '--tlscert',
        path.join(dir, 'cert.pem'),
        '--tlskey',
        path.join(dir, 'key.pem'),
        'build',
        '--frontend',
        'dockerfile.v0',
        '--local',
        `context=${dir}`,
        '--local',
        `dockerfile=${dir}`,
        '--progress',
        'plain',
        '--no-cache',
      ],
      { timeout: 240_000, maxBuffer: 16 * 1024 * 1024 },
    );
    return { ok: true, out: stderr };
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    return { ok: false, out: e.stderr || e.message };
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

async function finish(name: string, buildId: string): Promise<void> {
  await projects[name]!.client.finishBuild(buildId, { status: 'success' });
}

function mountsUnder(dir: string): string[] {
  return read('/proc/self/mounts')
    .split('\n')
    .filter((l) => l.split(' ')[1]?.startsWith(dir));
}

async function loopDevicesOf(file: string): Promise<string> {
  return (await run('losetup', ['-a'])).stdout
    .split('\n')
    .filter((l) => l.includes(file))
    .join('\n');
}

function cgroupDirsOf(b: string): string[] {
  return layout.all.map((r) => path.join(r, b)).filter((d) => existsSync(d));
}

beforeAll(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'hoist-limits-'));
  buildctl = path.join(path.dirname(await findBuildkitd()), 'buildctl');
  registry = await startRegistry();
  s = await startTestServer({
    captureLogs: true,
    flags: {
      'builder-insecure-registries': registry.host,
      'builder-pids-limit': String(PIDS),
      'builder-memory': `${MEMORY_MIB}MiB`,
      'builder-cpus': '0.5',
      'builder-volume': `xfs-image:${VOLUME_MIB}MiB`,
      'builder-disk-limit': `${DISK_LIMIT_MIB}MiB`,
      'build-heartbeat-grace': '10m',
    },
  });
  base = cgroupBase(s.dataDir);
  for (const name of ['alpha', 'beta']) {
    const project = await s.createProject(name);
    projects[name] = {
      project,
      client: new HoistClient({ apiUrl: s.url, token: (await s.createProjectToken(project.id)).token }),
    };
  }
});

afterAll(async () => {
  await s?.stop().catch(() => undefined);
  await registry?.stop().catch(() => undefined);
  for (const p of providers) await p.close({ stopBuilders: true }).catch(() => undefined);
  // Even after a failed assertion: no mount (and so no loop device) of this suite stays behind.
  for (const m of mountsUnder(tmp).reverse())
    await run('umount', ['-R', m.split(' ')[1]!]).catch(() => undefined);
  await fs.rm(tmp, { recursive: true, force: true });
});

const providers: LocalProvider[] = [];
const LIMITS = { pids: 100, memoryBytes: 256 * 1024 ** 2, cpus: 1 };

async function provider(opts: Partial<Parameters<typeof LocalProvider.create>[0]>): Promise<LocalProvider> {
  const p = await LocalProvider.create({ dataDir: path.join(tmp, 'restart'), ...opts });
  providers.push(p);
  return p;
}

describe('builder cgroups', () => {
  it('each builder runs in its own cgroup with the configured limits, and its RUN steps inside it', async () => {
    const { buildId, active } = await acquire('alpha');
    const id = active.builder_id;
    const g = (c: 'pids' | 'memory' | 'cpu', ...rest: string[]) => path.join(root(c), base, id, ...rest);
    const pid = Number(read(path.join(s.dataDir, 'builders', id, 'buildkitd.pid')));
    // buildkitd itself is in the builder's daemon group, in every limited hierarchy.
    const own = read(`/proc/${pid}/cgroup`);
    if (layout.version === 1) {
      for (const c of ['pids', 'memory', 'cpu']) {
        expect(own).toMatch(new RegExp(`^\\d+:([a-z_,]*,)?${c}(,[a-z_,]*)?:/${base}/${id}/daemon$`, 'm'));
      }
      expect(read(g('pids', 'buildkit', 'pids.max'))).toBe(String(PIDS));
      expect(Number(read(g('pids', 'pids.max')))).toBeGreaterThan(PIDS);
      expect(read(g('memory', 'buildkit', 'memory.limit_in_bytes'))).toBe(String(MEMORY_MIB * 1024 ** 2));
      expect(read(g('cpu', 'cpu.cfs_quota_us'))).toBe('50000');
      expect(read(g('cpu', 'cpu.cfs_period_us'))).toBe('100000');
    } else {
      expect(own).toContain(`0::/${base}/${id}/daemon`);
      expect(read(g('pids', 'buildkit', 'pids.max'))).toBe(String(PIDS));
      expect(read(g('memory', 'buildkit', 'memory.max'))).toBe(String(MEMORY_MIB * 1024 ** 2));
      expect(read(g('cpu', 'cpu.max'))).toBe('50000 100000');
    }
    // All builders of the server together leave the host half its pids and a fifth of its memory.
    const totals = serverTotals(
      Number(read('/proc/sys/kernel/pid_max')),
      Number(read('/proc/sys/kernel/threads-max')),
      os.totalmem(),
    );
    expect(read(path.join(root('pids'), base, 'pids.max'))).toBe(String(totals.pids));
    const memFile = layout.version === 2 ? 'memory.max' : 'memory.limit_in_bytes';
    // The kernel rounds memory limits down to whole pages.
    expect(read(path.join(root('memory'), base, memFile))).toBe(
      String(totals.memoryBytes - (totals.memoryBytes % 4096)),
    );
    // A RUN step sees its own cgroup: below the builder's, not runc's default /buildkit at the root.
    const r = await build(
      active,
      `FROM ${registry.baseImage}\nRUN echo "cg=$(grep pids /proc/self/cgroup || cat /proc/self/cgroup)"\n`,
    );
    expect(r.out).toMatch(new RegExp(`cg=.*/${base}/${id}/buildkit/[a-z0-9]+`));
    expect(r.ok).toBe(true);
    await finish('alpha', buildId);
  });

  it('a fork loop hits the pids limit while another project builds and the API answers', async () => {
    const alpha = await acquire('alpha');
    const beta = await acquire('beta');
    expect(beta.active.builder_id).not.toBe(alpha.active.builder_id);
    // Bounded: at most 400 forks within 20 s; children sleep 20 s at most; the parent holds
    // them for 8 s (while the other build runs), then kills and reaps them.
    const forkLoop = `FROM ${registry.baseImage}
RUN perl -e 'my ($ok, $fail, @kids) = (0, 0); my $t = time; \\
  for (1..400) { last if time - $t > 20; my $p = fork; if (!defined $p) { $fail++; next } \\
  if ($p == 0) { sleep 20; exit 0 } $ok++; push @kids, $p } \\
  print "forked=$ok failed=$fail\\n"; sleep 8; kill "KILL", @kids; waitpid($_, 0) for @kids'
`;
    const stepsGroup = path.join(root('pids'), base, alpha.active.builder_id, 'buildkit');
    let peak = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        try {
          peak = Math.max(peak, Number(read(path.join(stepsGroup, 'pids.current'))));
        } catch {
          /* between steps */
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    const forking = build(alpha.active, forkLoop);
    await new Promise((r) => setTimeout(r, 3000));
    const t0 = Date.now();
    const other = build(beta.active, `FROM ${registry.baseImage}\nRUN echo beta-ok-$((6*7))\n`);
    const api: number[] = [];
    for (let i = 0; i < 5; i++) {
      api.push((await s.api('GET', `/v1/projects/${projects.beta!.project.id}`)).status);
      await new Promise((r) => setTimeout(r, 200));
    }
    const b = await other;
    const betaMs = Date.now() - t0;
    const a = await forking;
    sampling = false;
    await sampler;
    expect(api).toEqual([200, 200, 200, 200, 200]);
    expect(b.out).toContain('beta-ok-42');
    expect(b.ok).toBe(true);
    const m = /forked=(\d+) failed=(\d+)/.exec(a.out);
    expect(m).not.toBeNull();
    expect(Number(m![1])).toBeLessThan(PIDS);
    expect(Number(m![2])).toBeGreaterThan(0);
    expect(peak).toBeLessThanOrEqual(PIDS);
    expect(peak).toBeGreaterThan(PIDS / 2);
    expect(a.ok).toBe(true);
    // The builder itself survived its step's fork loop.
    const again = await build(alpha.active, `FROM ${registry.baseImage}\nRUN echo still-ok\n`);
    expect(again.out).toContain('still-ok');
    console.log(
      `fork loop: ${m![0]}, peak pids ${peak}/${PIDS}; other project's build took ${betaMs} ms meanwhile`,
    );
    await finish('alpha', alpha.buildId);
    await finish('beta', beta.buildId);
  });

  it('a RUN step that allocates past the memory limit is OOM-killed and the builder lives on', async () => {
    const { buildId, active } = await acquire('alpha');
    const r = await build(
      active,
      `FROM ${registry.baseImage}\nRUN perl -e 'my $x = "a" x (${MEMORY_MIB * 3} * 1024 * 1024); print "alloc" . "ated-it\\n"'\n`,
    );
    expect(r.ok).toBe(false);
    // The command line echoes `"alloc" . "ated-it"`, never the joined word.
    expect(r.out).not.toContain('allocated-it');
    expect(r.out).toMatch(/exit code: 137|signal: killed/);
    const again = await build(active, `FROM ${registry.baseImage}\nRUN echo alive-after-oom\n`);
    expect(again.out).toContain('alive-after-oom');
    await finish('alpha', buildId);
  });
});

describe('builder disk cap', () => {
  it('a RUN step fills only its own builder: ENOSPC at the disk limit while another builder writes and the data dir keeps its space', async () => {
    const builders = path.join(s.dataDir, 'builders');
    const mount = mountsUnder(builders).find((l) => l.split(' ')[1] === builders);
    expect(mount?.split(' ')[2]).toBe('xfs');
    expect(await loopDevicesOf(path.join(s.dataDir, 'builders.xfs'))).toMatch(/\/dev\/loop\d+/);
    expect((await fs.stat(path.join(s.dataDir, 'builders.xfs'))).size).toBe(VOLUME_MIB * 1024 ** 2);
    // What the data dir holds on its own filesystem (-x: not the volume's contents), and the
    // image's allocated bytes: other processes share that filesystem, so not its free space.
    const onHostFs = async () => Number((await run('du', ['-sxB1', s.dataDir])).stdout.split('\t')[0]);
    const allocated = async () => (await fs.stat(path.join(s.dataDir, 'builders.xfs'))).blocks * 512;
    const before = { du: await onHostFs(), image: await allocated() };
    expect(before.image).toBeGreaterThanOrEqual(VOLUME_MIB * 1024 ** 2);
    const alpha = await acquire('alpha');
    const beta = await acquire('beta');
    // The builder's root sees its own cap (an image per builder, or an XFS project quota).
    const alphaRoot = path.join(builders, alpha.active.builder_id, 'root');
    const size = statfsSync(alphaRoot);
    expect(size.blocks * size.bsize).toBeLessThanOrEqual(DISK_LIMIT_MIB * 1024 ** 2);
    const avail = () => {
      const st = statfsSync(alphaRoot);
      return st.bavail * st.bsize;
    };
    // alpha writes past its limit and then holds what it wrote for a while.
    const filling = build(
      alpha.active,
      `FROM ${registry.baseImage}\nRUN dd if=/dev/zero of=/fill bs=1M count=${DISK_LIMIT_MIB + 200}; echo "dd-exit=$?"; sleep 8; exit 1\n`,
    );
    const deadline = Date.now() + 60_000;
    let full = false;
    while (!full && Date.now() < deadline) {
      full = avail() < 16 * 1024 ** 2;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(full).toBe(true);
    // Meanwhile beta still has room on the shared volume.
    const other = await build(
      beta.active,
      `FROM ${registry.baseImage}\nRUN dd if=/dev/zero of=/b bs=1M count=100 && echo beta-wrote-$((6*7))\n`,
    );
    const r = await filling;
    expect(r.ok).toBe(false);
    expect(r.out).toMatch(/No space left on device|Disk quota exceeded/);
    expect(r.out).toContain('dd-exit=1');
    const copied = Number(/(\d+) bytes .* copied/.exec(r.out)?.[1]);
    expect(copied).toBeLessThan(DISK_LIMIT_MIB * 1024 ** 2);
    expect(copied).toBeGreaterThan(0);
    expect(other.out).toContain('beta-wrote-42');
    expect(other.ok).toBe(true);
    // The data dir's filesystem lost (next to) nothing: the volume was reserved up front.
    expect((await onHostFs()) - before.du).toBeLessThan(16 * 1024 ** 2);
    expect(await allocated()).toBe(before.image);
    // buildkitd drops the failed step's layer, so alpha gets its room back: asynchronously
    // (10-60 s here under load), hence the generous bound.
    const failedAt = Date.now();
    while (avail() < 64 * 1024 ** 2 && Date.now() < failedAt + 120_000)
      await new Promise((r) => setTimeout(r, 200));
    const recoveryMs = Date.now() - failedAt;
    const again = await build(alpha.active, `FROM ${registry.baseImage}\nRUN echo room-again\n`);
    expect(again.out).toContain('room-again');
    console.log(
      `disk: alpha wrote ${copied} bytes before ENOSPC (limit ${DISK_LIMIT_MIB} MiB); beta wrote 100 MiB meanwhile; alpha had room again after ${recoveryMs} ms`,
    );
    await finish('alpha', alpha.buildId);
    await finish('beta', beta.buildId);
  });

  it('says at start when it cannot cap builder disk use, naming the flag that fixes it', async () => {
    const plain = await startTestServer({ captureLogs: true });
    try {
      const warn = plain.logs().find((l) => l.level === 40 && /builder disk use is not capped/.test(l.msg));
      expect(warn?.msg).toContain('--builder-volume xfs-image:SIZE');
      expect(warn?.msg).toContain(`${plain.dataDir}/builders is on`);
    } finally {
      await plain.stop();
    }
    expect(cgroupDirsOf(cgroupBase(plain.dataDir))).toEqual([]);
    // The volume server said what it enforces instead.
    const msgs = s.logs().map((l) => l.msg);
    expect(msgs).toContain('builders run in their own cgroups');
    expect(msgs.some((m) => /^builder disk use capped by/.test(m))).toBe(true);
  });
});

describe('cleanup', () => {
  it('removes the cgroups of builders that no longer run when a provider starts', async () => {
    const dataDir = path.join(tmp, 'stale');
    const b = cgroupBase(dataDir);
    for (const r of layout.all)
      await fs.mkdir(path.join(r, b, 'bkr_gone', 'buildkit', 'c1'), { recursive: true });
    const p = await LocalProvider.create({
      dataDir,
      limits: { pids: 100, memoryBytes: 256 * 1024 ** 2, cpus: 1 },
    });
    try {
      expect(cgroupDirsOf(path.join(b, 'bkr_gone'))).toEqual([]);
    } finally {
      await p.close({ stopBuilders: true });
    }
    expect(cgroupDirsOf(b)).toEqual([]);
  });

  it('removes what servers that are gone left behind, but not a fresh group of another server', async () => {
    const old = 'hoist/00dead00beef';
    const fresh = 'hoist/00fresh00bee';
    for (const r of layout.all) {
      await fs.mkdir(path.join(r, old, 'bkr_1', 'buildkit'), { recursive: true });
      await fs.mkdir(path.join(r, fresh, 'bkr_2'), { recursive: true });
      const hourAgo = new Date(Date.now() - 3600_000);
      for (const d of [old, `${old}/bkr_1`, `${old}/bkr_1/buildkit`])
        await fs.utimes(path.join(r, d), hourAgo, hourAgo);
    }
    try {
      const p = await provider({ dataDir: path.join(tmp, 'sweep'), limits: LIMITS });
      await p.close({ stopBuilders: true });
      expect(cgroupDirsOf(old)).toEqual([]);
      expect(cgroupDirsOf(fresh)).toHaveLength(layout.all.length);
    } finally {
      for (const r of layout.all) {
        for (const d of [`${fresh}/bkr_2`, fresh]) await fs.rmdir(path.join(r, d)).catch(() => undefined);
      }
    }
  });

  it('a kept builder is adopted inside its cgroup; one started without limits is replaced', async () => {
    const dataDir = path.join(tmp, 'restart');
    const spec = { id: 'bkr_k', projectId: 'prj_k', platform: 'linux/amd64' };
    const p1 = await provider({ limits: LIMITS });
    const first = await p1.launch(spec);
    await p1.close({ stopBuilders: false });
    const p2 = await provider({ limits: LIMITS });
    const adopted = await p2.launch(spec);
    expect(adopted).toMatchObject({ adopted: true, pid: first.pid });
    expect(await p2.builderCgroups!.contains('bkr_k', first.pid!)).toBe(true);
    await p2.close({ stopBuilders: true });
    expect(cgroupDirsOf(cgroupBase(dataDir))).toEqual([]);

    // A builder of a server without limits (an upgrade) is not adopted as it is.
    const p3 = await provider({});
    const unlimited = await p3.launch(spec);
    await p3.close({ stopBuilders: false });
    const p4 = await provider({ limits: LIMITS });
    const replaced = await p4.launch(spec);
    expect(replaced.adopted).toBe(false);
    expect(replaced.pid).not.toBe(unlimited.pid);
    expect(await p4.builderCgroups!.contains('bkr_k', replaced.pid!)).toBe(true);
    await p4.close({ stopBuilders: true });
    expect(cgroupDirsOf(cgroupBase(dataDir))).toEqual([]);
  });

  it("a builder killed behind the provider's back leaves no cgroup once the provider closes", async () => {
    const dataDir = path.join(tmp, 'killed');
    const p = await provider({ dataDir, limits: LIMITS });
    const b = await p.launch({ id: 'bkr_x', projectId: 'prj_x', platform: 'linux/amd64' });
    process.kill(b.pid!, 'SIGKILL');
    for (let i = 0; i < 200 && existsSync(`/proc/${b.pid}/cmdline`); i++)
      await new Promise((r) => setTimeout(r, 20));
    expect(cgroupDirsOf(path.join(cgroupBase(dataDir), 'bkr_x')).length).toBeGreaterThan(0);
    await p.close({ stopBuilders: true });
    expect(cgroupDirsOf(cgroupBase(dataDir))).toEqual([]);
  });

  it('a builder that cannot start leaves no cgroup and no mounted disk image behind', async () => {
    const dataDir = path.join(tmp, 'crash');
    const crashing = path.join(tmp, 'crashing-buildkitd');
    await fs.writeFile(crashing, '#!/bin/sh\necho "fake buildkitd: cannot start" >&2\nexit 3\n', {
      mode: 0o755,
    });
    const p = await provider({
      dataDir,
      buildkitdPath: crashing,
      limits: LIMITS,
      volume: { kind: 'xfs-image', sizeBytes: 400 * 1024 ** 2 },
      diskLimitBytes: 300 * 1024 ** 2,
    });
    await expect(p.launch({ id: 'bkr_c', projectId: 'prj_c', platform: 'linux/amd64' })).rejects.toThrow(
      /did not start: .*fake buildkitd: cannot start/,
    );
    expect(cgroupDirsOf(path.join(cgroupBase(dataDir), 'bkr_c'))).toEqual([]);
    expect(mountsUnder(path.join(dataDir, 'builders', 'bkr_c'))).toEqual([]);
    await p.close({ stopBuilders: true });
    expect(mountsUnder(dataDir)).toEqual([]);
  });

  it("a raised disk limit grows a builder's image, keeping its cache", async () => {
    const dataDir = path.join(tmp, 'grow');
    const volume = { kind: 'xfs-image' as const, sizeBytes: 1024 ** 3 };
    const spec = { id: 'bkr_g', projectId: 'prj_g', platform: 'linux/amd64' };
    const root = path.join(dataDir, 'builders', 'bkr_g', 'root');
    const total = () => {
      const st = statfsSync(root);
      return st.blocks * st.bsize;
    };
    const p1 = await provider({ dataDir, volume, diskLimitBytes: 300 * 1024 ** 2 });
    await p1.launch(spec);
    const small = total();
    await fs.writeFile(path.join(root, 'hoist-test-marker'), 'kept');
    await p1.close({ stopBuilders: true });
    const p2 = await provider({ dataDir, volume, diskLimitBytes: 600 * 1024 ** 2 });
    await p2.launch(spec);
    expect(total()).toBeGreaterThan(small + 250 * 1024 ** 2);
    expect(total()).toBeLessThanOrEqual(600 * 1024 ** 2);
    expect(await fs.readFile(path.join(root, 'hoist-test-marker'), 'utf8')).toBe('kept');
    await p2.close({ stopBuilders: true });
    expect(mountsUnder(dataDir)).toEqual([]);
  });

  it('a volume left mounted for kept builders is reused by the next server, then unmounted', async () => {
    const dataDir = path.join(tmp, 'vol');
    const builders = path.join(dataDir, 'builders');
    const image = path.join(dataDir, 'builders.xfs');
    const volume = { kind: 'xfs-image' as const, sizeBytes: 320 * 1024 ** 2 };
    const p1 = await provider({ dataDir, volume });
    expect(p1.diskCap?.kind).toMatch(/^(builder-image|project-quota)$/);
    await fs.writeFile(path.join(builders, 'on-the-volume'), 'x');
    await p1.close({ stopBuilders: false });
    expect(mountsUnder(builders)).toHaveLength(1);
    const p2 = await provider({ dataDir, volume });
    expect(await fs.readFile(path.join(builders, 'on-the-volume'), 'utf8')).toBe('x');
    await p2.close({ stopBuilders: true });
    expect(mountsUnder(dataDir)).toEqual([]);
    expect(await loopDevicesOf(image)).toBe('');
    // Mounting over builder directories on the data dir's filesystem would hide them: refused.
    await fs.writeFile(path.join(builders, 'hidden'), 'y');
    await expect(provider({ dataDir, volume })).rejects.toThrow(/already holds 1 entry .* move or delete/);
    expect(mountsUnder(dataDir)).toEqual([]);
  });

  it('a stopped server leaves no builder, mount, loop device or cgroup behind', async () => {
    const dataDir = s.dataDir;
    const image = path.join(dataDir, 'builders.xfs');
    expect(cgroupDirsOf(base).length).toBeGreaterThan(0);
    await s.stop();
    expect(mountsUnder(dataDir)).toEqual([]);
    expect(await loopDevicesOf(image)).toBe('');
    expect(cgroupDirsOf(base)).toEqual([]);
    const { stdout } = await run('ps', ['-eo', 'args']);
    expect(stdout.split('\n').filter((l) => l.includes(dataDir))).toEqual([]);
  });
});
