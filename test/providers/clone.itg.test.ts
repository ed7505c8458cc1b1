// Cache clones of the local provider against real buildkitd daemons, on three storage set-ups:
//   xfs        the data directory on a loop-mounted XFS (reflink=1): trees copied by reflink;
//   xfs-image  --builder-volume xfs-image: each builder root is its own XFS image, and a snapshot
//              or clone is a reflink of that one file (mounted nouuid);
//   ext4       the data directory on a loop-mounted ext4: full copies.
// (copyTree alone also on btrfs, whose reflinks the probe finds too.)
// Each: a primary builds an image; a snapshot stops it cleanly (no buildkitd serves the root while
// the copy runs), restarts and adopts it; a clone from the snapshot keeps workerid, has its own
// CA, hits the cache (CACHED steps from rawjson), never writes back, and is gone after destroy.
// Every loop device and mount the suite makes is removed in afterAll.
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { copyTree, probeCloneMethod } from '../../src/providers/local-clone.js';
import { findBuildkitd, LocalProvider } from '../../src/providers/local.js';
import type { ProviderLogger } from '../../src/providers/provider-options.js';
import type { RunningBuilder } from '../../src/providers/provider.js';
import { parseRawjson, type VertexSummary } from '../builds/buildx.js';
import { startRegistry, type Registry } from '../helpers/engine.js';

const run = promisify(execFile);
jest.setTimeout(300_000);

let tmp: string;
let buildctl: string;
let registry: Registry;
const mounts: string[] = [];
const providers: LocalProvider[] = [];

async function loopMount(kind: 'xfs' | 'ext4' | 'btrfs', name: string, bytes: number): Promise<string> {
  const image = path.join(tmp, `${name}.img`);
  const dir = path.join(tmp, name);
  await fs.mkdir(dir, { recursive: true });
  const fh = await fs.open(image, 'w');
  await fh.truncate(bytes);
  await fh.close();
  if (kind === 'xfs') await run('mkfs.xfs', ['-q', '-m', 'reflink=1', image]);
  else if (kind === 'btrfs') await run('mkfs.btrfs', ['-q', image]);
  else await run('mkfs.ext4', ['-q', '-F', image]);
  await run('mount', ['-o', 'loop', image, dir]);
  mounts.push(dir);
  await fs.chmod(dir, 0o700);
  return dir;
}

function mountsUnder(dir: string): string[] {
  return readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[1] ?? '')
    .filter((m) => m === dir || m.startsWith(`${dir}/`));
}

async function loopsOf(file: string): Promise<string[]> {
  const { stdout } = await run('losetup', ['-j', file]);
  return stdout.split('\n').filter(Boolean);
}

/** Pids of buildkitd processes whose --root is this directory. */
function buildkitdsOn(root: string): number[] {
  const out: number[] = [];
  for (const e of readdirSafe('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const argv = readFileSync(`/proc/${e}/cmdline`, 'utf8').split('\0');
      const i = argv.indexOf('--root');
      if (path.basename(argv[0] ?? '') === 'buildkitd' && argv[i + 1] === root) out.push(Number(e));
    } catch {
      /* gone */
    }
  }
  return out;
}

function readdirSafe(d: string): string[] {
  try {
    return readdirSync(d);
  } catch {
    return [];
  }
}

/** `buildctl build --progress rawjson` of a Dockerfile on a builder, with a client cert of its CA. */
async function build(p: LocalProvider, b: RunningBuilder, dockerfile: string): Promise<VertexSummary[]> {
  const dir = await fs.mkdtemp(path.join(tmp, 'ctx-'));
  try {
    const cert = await p.issueClientCert(b.id, {
      commonName: 'clone test',
      notAfter: new Date(Date.now() + 600_000),
    });
    await fs.writeFile(path.join(dir, 'Dockerfile'), dockerfile);
    await fs.writeFile(path.join(dir, 'ca.pem'), b.caPem);
    await fs.writeFile(path.join(dir, 'cert.pem'), cert.certPem);
    await fs.writeFile(path.join(dir, 'key.pem'), cert.keyPem, { mode: 0o600 });
    const { stderr } = await run(
      buildctl,
      [
        '--addr',
        b.endpoint,
        '--tlsservername',
        b.serverName,
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
        'rawjson',
      ],
      { timeout: 240_000, maxBuffer: 64 * 1024 * 1024 },
    );
    return parseRawjson(stderr);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

const runSteps = (v: VertexSummary[]): VertexSummary[] => v.filter((x) => / RUN /.test(x.name));

/** Names, sizes and mtimes of every entry under a directory: changes when anything is written there. */
async function listing(dir: string): Promise<string> {
  const { stdout } = await run('find', [dir, '-printf', '%P %s %T@ %y\\n'], { maxBuffer: 64 * 1024 * 1024 });
  return stdout.split('\n').sort().join('\n');
}

async function usedBytes(dir: string): Promise<number> {
  const st = await fs.statfs(dir);
  return (st.blocks - st.bfree) * st.bsize;
}

beforeAll(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'hoist-clone-'));
  buildctl = path.join(path.dirname(await findBuildkitd()), 'buildctl');
  registry = await startRegistry();
});

afterAll(async () => {
  for (const p of providers) await p.close({ stopBuilders: true }).catch(() => undefined);
  await registry?.stop();
  for (const m of mounts.reverse()) await run('umount', ['-R', m]).catch(() => undefined);
  for (const img of readdirSafe(tmp).filter((f) => f.endsWith('.img'))) {
    for (const l of await loopsOf(path.join(tmp, img)).catch(() => [])) {
      await run('losetup', ['-d', l.split(':')[0]!]).catch(() => undefined);
    }
  }
  await fs.rm(tmp, { recursive: true, force: true });
});

describe('copyTree keeps what an overlay snapshot needs', () => {
  it.each(['xfs', 'btrfs', 'ext4'] as const)(
    'on %s: devices, trusted.overlay xattrs, owners, hard links',
    async (kind) => {
      const dir = await loopMount(kind, `tree-${kind}`, 320 * 1024 ** 2);
      const probe = await probeCloneMethod(dir);
      expect(probe).toMatchObject({ method: kind === 'ext4' ? 'full-copy' : 'reflink', fsType: kind });
      const src = path.join(dir, 'src');
      await fs.mkdir(path.join(src, 'upper'), { recursive: true });
      await run('mknod', [path.join(src, 'upper', 'whiteout'), 'c', '0', '0']);
      await run('python3', [
        '-c',
        `import os; os.setxattr(${JSON.stringify(path.join(src, 'upper'))}, 'trusted.overlay.opaque', b'y')`,
      ]);
      await fs.writeFile(path.join(src, 'upper', 'file'), 'x'.repeat(100_000));
      await fs.chown(path.join(src, 'upper', 'file'), 1234, 5678);
      await fs.link(path.join(src, 'upper', 'file'), path.join(src, 'upper', 'link'));
      await fs.symlink('file', path.join(src, 'upper', 'sym'));
      await copyTree(src, path.join(dir, 'dst'), probe.method);
      const up = path.join(dir, 'dst', 'upper');
      const wh = await fs.lstat(path.join(up, 'whiteout'));
      expect([wh.isCharacterDevice(), wh.rdev]).toEqual([true, 0]);
      const { stdout } = await run('python3', [
        '-c',
        `import os; print(os.getxattr(${JSON.stringify(up)}, 'trusted.overlay.opaque'))`,
      ]);
      expect(stdout.trim()).toBe("b'y'");
      const f = await fs.stat(path.join(up, 'file'));
      expect([f.uid, f.gid, f.nlink]).toEqual([1234, 5678, 2]);
      expect(f.ino).toBe((await fs.stat(path.join(up, 'link'))).ino);
      // A copy, never a hard link to the source: writing the copy leaves the source as it was.
      expect(f.ino).not.toBe((await fs.stat(path.join(src, 'upper', 'file'))).ino);
      await fs.writeFile(path.join(up, 'file'), 'changed');
      expect(await fs.readFile(path.join(src, 'upper', 'file'), 'utf8')).toBe('x'.repeat(100_000));
      expect(await fs.readlink(path.join(up, 'sym'))).toBe('file');
      expect(existsSync(path.join(dir, 'dst.partial'))).toBe(false);
    },
  );
});

describe.each([
  { setup: 'xfs', method: 'reflink' },
  { setup: 'xfs-image', method: 'reflink' },
  { setup: 'ext4', method: 'full-copy' },
] as const)('local clones on $setup', ({ setup, method }) => {
  let provider: LocalProvider;
  let dataDir: string;
  const logs: { level: string; msg: string; obj: Record<string, unknown> }[] = [];
  /** buildkitd processes on the primary's root when the snapshot copy began. */
  let liveAtCopy: number[] | null = null;
  const primaryRoot = (): string => path.join(dataDir, 'builders', 'bkr_p', 'root');

  const logger: ProviderLogger = {
    info: (obj, msg) => {
      logs.push({ level: 'info', msg, obj: obj as Record<string, unknown> });
      if (msg.startsWith('snapshot: copying')) liveAtCopy = buildkitdsOn(primaryRoot());
    },
    warn: (obj, msg) => logs.push({ level: 'warn', msg, obj: obj as Record<string, unknown> }),
    error: (obj, msg) => logs.push({ level: 'error', msg, obj: obj as Record<string, unknown> }),
  };

  const newProvider = async (): Promise<LocalProvider> => {
    const p = await LocalProvider.create({
      dataDir,
      maxUsedSpaceBytes: 512 * 1024 ** 2,
      insecureRegistries: [registry.host],
      logger,
      ...(setup === 'xfs-image'
        ? { volume: { kind: 'xfs-image', sizeBytes: 1200 * 1024 ** 2 }, diskLimitBytes: 400 * 1024 ** 2 }
        : {}),
    });
    providers.push(p);
    return p;
  };

  beforeAll(async () => {
    dataDir =
      setup === 'xfs-image'
        ? path.join(tmp, 'xfs-image-data')
        : await loopMount(setup, `data-${setup}`, 1536 * 1024 ** 2);
    provider = await newProvider();
  });

  const dockerfile = (): string =>
    `FROM ${registry.baseImage}\nRUN head -c 20000000 /dev/urandom > /blob && echo made-blob\nRUN echo second > /second\n`;

  it('probes the filesystem at start, logs the clone method and reports it', () => {
    expect(provider.capabilities().cloneMethod).toBe(method);
    const line = logs.find((l) => l.msg.startsWith('builder caches are cloned by'));
    expect(line?.obj).toMatchObject({ clone_method: method });
    expect(line?.level).toBe(method === 'reflink' ? 'info' : 'warn');
  });

  let primary: RunningBuilder;
  let snapListing: string;

  it('snapshots a primary only once its buildkitd stopped, then restarts and adopts it', async () => {
    primary = await provider.launch({ id: 'bkr_p', projectId: 'prj_c', platform: 'linux/amd64' });
    const first = runSteps(await build(provider, primary, dockerfile()));
    expect(first.length).toBe(2);
    expect(first.every((v) => !v.cached && !v.error)).toBe(true);
    const oldPid = primary.pid!;
    const snap = await provider.snapshot('bkr_p', 'snap1');
    // At the moment the copy began, no buildkitd served the primary's root.
    expect(liveAtCopy).toEqual([]);
    expect(existsSync(`/proc/${oldPid}`)).toBe(false);
    const order = logs
      .map((l) => l.msg)
      .filter((m) => /^(builder stopped|snapshot: copying|builder started|snapshot taken)/.test(m));
    expect(order.slice(-4)).toEqual([
      'builder stopped',
      'snapshot: copying the stopped builder',
      'builder started',
      'snapshot taken',
    ]);
    expect(snap).toMatchObject({ id: 'snap1', builderId: 'bkr_p' });
    expect(snap.downtimeMs).toBeGreaterThan(0);
    expect(snap.sizeBytes).toBeGreaterThan(20_000_000);
    expect((await provider.health('bkr_p')).healthy).toBe(true);
    // The snapshot reports the restarted buildkitd: its pid replaces the one recorded at launch.
    expect(snap.restarted?.pid).toBe(buildkitdsOn(primaryRoot())[0]);
    expect(snap.restarted?.pid).not.toBe(oldPid);
    // The restarted primary still has its cache.
    const again = await provider.launch({ id: 'bkr_p', projectId: 'prj_c', platform: 'linux/amd64' });
    expect(again.adopted).toBe(true);
    expect(runSteps(await build(provider, again, dockerfile())).every((v) => v.cached)).toBe(true);
    expect((await provider.listSnapshots()).map((s) => s.id)).toEqual(['snap1']);
    snapListing = await listing(path.join(dataDir, 'builders', '.snapshots', 'snap1'));
    await expect(provider.snapshot('bkr_p', 'snap1')).rejects.toThrow(/snapshot snap1 already exists/);
  });

  it('starts a clone from the snapshot: same workerid, its own CA, the primary cache hit, copy-on-write', async () => {
    const usedBefore = await usedBytes(path.join(dataDir, 'builders'));
    const clone = await provider.launch({
      id: 'bkr_c1',
      projectId: 'prj_c',
      platform: 'linux/amd64',
      role: 'clone',
      snapshotId: 'snap1',
    });
    const grew = (await usedBytes(path.join(dataDir, 'builders'))) - usedBefore;
    if (method === 'reflink') expect(grew).toBeLessThan(15_000_000);
    else expect(grew).toBeGreaterThan(20_000_000);
    const seeded = logs.find((l) => l.msg === 'clone seeded from snapshot' && l.obj.builder_id === 'bkr_c1');
    expect(seeded?.obj).toMatchObject({ snapshot_id: 'snap1', primary_id: 'bkr_p', method });
    expect(clone.caPem).not.toBe(primary.caPem);
    const serverCert = new X509Certificate(
      await fs.readFile(path.join(dataDir, 'builders', 'bkr_c1', 'server.pem')),
    );
    expect(serverCert.checkIssued(new X509Certificate(clone.caPem))).toBe(true);
    expect(serverCert.checkIssued(new X509Certificate(primary.caPem))).toBe(false);
    const wid = (id: string) =>
      fs.readFile(path.join(dataDir, 'builders', id, 'root', 'runc-overlayfs', 'workerid'), 'utf8');
    expect(await wid('bkr_c1')).toBe(await wid('bkr_p'));
    // The primary's cache, hit on the clone.
    const steps = runSteps(await build(provider, clone, dockerfile()));
    expect(steps.map((s) => s.cached)).toEqual([true, true]);
    // New work on the clone is never written back: the snapshot and the primary are unchanged.
    const extra = await build(provider, clone, `${dockerfile()}RUN echo only-on-the-clone > /c\n`);
    expect(runSteps(extra).filter((v) => !v.cached).length).toBe(1);
    expect(await listing(path.join(dataDir, 'builders', '.snapshots', 'snap1'))).toBe(snapListing);
    const onPrimary = runSteps(
      await build(provider, primary, `${dockerfile()}RUN echo only-on-the-clone > /c\n`),
    );
    expect(onPrimary.filter((v) => !v.cached).map((v) => v.name)).toEqual([
      expect.stringMatching(/only-on-the-clone/),
    ]);
    const roles = Object.fromEntries((await provider.list()).map((b) => [b.id, b.role]));
    expect(roles).toEqual({ bkr_p: 'primary', bkr_c1: 'clone' });
    await expect(provider.snapshot('bkr_c1', 'snap-of-clone')).rejects.toThrow(
      /is a clone; only a primary is snapshotted/,
    );
  });

  it('a restarted provider finds the clone and the snapshot; destroy and deleteSnapshot leave nothing', async () => {
    await provider.close({ stopBuilders: false });
    provider = await newProvider();
    const listed = await provider.list();
    expect(listed.find((b) => b.id === 'bkr_c1')).toMatchObject({ role: 'clone', state: 'running' });
    expect((await provider.listSnapshots()).map((s) => s.id)).toEqual(['snap1']);
    const adopted = await provider.launch({
      id: 'bkr_c1',
      projectId: 'prj_c',
      platform: 'linux/amd64',
      role: 'clone',
      snapshotId: 'snap1',
    });
    expect(adopted.adopted).toBe(true);
    const cloneDir = path.join(dataDir, 'builders', 'bkr_c1');
    await provider.destroy('bkr_c1');
    expect(existsSync(cloneDir)).toBe(false);
    expect(mountsUnder(cloneDir)).toEqual([]);
    expect(buildkitdsOn(path.join(cloneDir, 'root'))).toEqual([]);
    if (setup === 'xfs-image') {
      expect(existsSync(path.join(dataDir, 'builders', '.images', 'bkr_c1.xfs'))).toBe(false);
    }
    await provider.deleteSnapshot('snap1');
    expect(await provider.listSnapshots()).toEqual([]);
    expect(existsSync(path.join(dataDir, 'builders', '.snapshots', 'snap1'))).toBe(false);
    await expect(
      provider.launch({
        id: 'bkr_c2',
        projectId: 'prj_c',
        platform: 'linux/amd64',
        role: 'clone',
        snapshotId: 'snap1',
      }),
    ).rejects.toThrow(/snapshot snap1 does not exist/);
    await provider.destroy('bkr_c2');
    await provider.close({ stopBuilders: true });
    expect(buildkitdsOn(primaryRoot())).toEqual([]);
    if (setup === 'xfs-image') {
      expect(mountsUnder(path.join(dataDir, 'builders'))).toEqual([]);
      expect(await loopsOf(path.join(dataDir, 'builders.xfs'))).toEqual([]);
    }
  });
});
