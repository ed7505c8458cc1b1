// The pure parts of builder limits: cgroup layout detection, the limit files per cgroup
// version, the volume flag, mount lookup, and the server flags with their defaults.
import { describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { ConfigurationError } from '../../src/lib/errors.js';
import {
  BuilderCgroups,
  DAEMON_ALLOWANCE,
  limitFiles,
  parseCgroupLayout,
  serverTotals,
} from '../../src/providers/local-cgroup.js';
import { hasProjectQuota, mountOf, parseMounts, parseVolumeSpec } from '../../src/providers/local-volume.js';
import { renderBuildkitdConfig } from '../../src/providers/buildkitd-config.js';
import { parseByteSize } from '../../src/providers/local.js';
import { defaultBuilderLimits, loadBuildsConfig } from '../../src/server/builds/config.js';

// This machine's /proc/self/mounts: v1 controllers plus a controller-less cgroup2 (hybrid).
const HYBRID = `tmpfs /sys/fs/cgroup tmpfs rw,relatime,mode=755 0 0
cgroup /sys/fs/cgroup/cpu cgroup rw,relatime,cpu 0 0
cgroup /sys/fs/cgroup/cpuacct cgroup rw,relatime,cpuacct 0 0
cgroup /sys/fs/cgroup/memory cgroup rw,relatime,memory 0 0
cgroup /sys/fs/cgroup/pids cgroup rw,relatime,pids 0 0
cgroup /sys/fs/cgroup/systemd cgroup rw,relatime,name=systemd 0 0
cgroup2 /sys/fs/cgroup/unified cgroup2 rw,relatime 0 0`;
const UNIFIED = `/dev/vda / ext4 rw 0 0
cgroup2 /sys/fs/cgroup cgroup2 rw,nosuid,nodev,noexec,relatime,nsdelegate 0 0`;
const COMBINED = `cgroup /sys/fs/cgroup/cpu,cpuacct cgroup rw,cpu,cpuacct 0 0
cgroup /sys/fs/cgroup/memory cgroup rw,memory 0 0
cgroup /sys/fs/cgroup/pids cgroup rw,pids 0 0`;

describe('parseCgroupLayout', () => {
  it.each([
    [
      'hybrid v1 (this machine)',
      HYBRID,
      {
        version: 1,
        controllers: {
          pids: '/sys/fs/cgroup/pids',
          memory: '/sys/fs/cgroup/memory',
          cpu: '/sys/fs/cgroup/cpu',
        },
      },
    ],
    ['unified v2', UNIFIED, { version: 2, root: '/sys/fs/cgroup' }],
    [
      'cpu and cpuacct on one mount',
      COMBINED,
      {
        version: 1,
        controllers: {
          pids: '/sys/fs/cgroup/pids',
          memory: '/sys/fs/cgroup/memory',
          cpu: '/sys/fs/cgroup/cpu,cpuacct',
        },
      },
    ],
  ])('%s', (_name, mounts, want) => {
    expect(parseCgroupLayout(mounts)).toMatchObject(want);
  });

  it('lists every hierarchy runc creates groups in, the named and unified ones too', () => {
    const l = parseCgroupLayout(HYBRID);
    expect(l.all).toEqual(expect.arrayContaining(['/sys/fs/cgroup/systemd', '/sys/fs/cgroup/unified']));
    expect(l.all).toHaveLength(6);
  });

  it.each([
    ['no cgroups at all', '/dev/vda / ext4 rw 0 0', /no cgroup filesystem.*--builder-cgroups off/],
    [
      'no pids controller',
      COMBINED.split('\n').slice(0, 2).join('\n'),
      /controller\(s\) pids are not mounted/,
    ],
  ])('refuses %s with a way out', (_name, mounts, msg) => {
    expect(() => parseCgroupLayout(mounts)).toThrow(ConfigurationError);
    expect(() => parseCgroupLayout(mounts)).toThrow(msg);
  });
});

describe('limitFiles', () => {
  const limits = { pids: 100, memoryBytes: 256 * 1024 ** 2, cpus: 1.5 };
  const asMap = (v: 1 | 2) =>
    Object.fromEntries(limitFiles(v, limits).map((l) => [`${l.group || '.'}/${l.file}`, l.value]));

  it('v1: steps get the limits, the builder adds the daemon allowance, CFS quota for CPUs', () => {
    expect(asMap(1)).toEqual({
      './pids.max': String(100 + DAEMON_ALLOWANCE.pids),
      './memory.limit_in_bytes': String(256 * 1024 ** 2 + DAEMON_ALLOWANCE.memoryBytes),
      './cpu.cfs_period_us': '100000',
      './cpu.cfs_quota_us': '150000',
      'buildkit/pids.max': '100',
      'buildkit/memory.limit_in_bytes': String(256 * 1024 ** 2),
    });
  });

  it('v2: the same limits in the unified files, and no swap', () => {
    expect(asMap(2)).toEqual({
      './pids.max': String(100 + DAEMON_ALLOWANCE.pids),
      './memory.max': String(256 * 1024 ** 2 + DAEMON_ALLOWANCE.memoryBytes),
      './memory.swap.max': '0',
      './cpu.max': '150000 100000',
      'buildkit/pids.max': '100',
      'buildkit/memory.max': String(256 * 1024 ** 2),
      'buildkit/memory.swap.max': '0',
    });
  });
});

describe('serverTotals', () => {
  it.each([
    // pid_max, threads-max, memory → all builders of the server together
    [32768, 192729, 24 * 1024 ** 3, { pids: 16384, memoryBytes: Math.floor(24 * 1024 ** 3 * 0.8) }],
    [4194304, 63000, 8 * 1024 ** 3, { pids: 31500, memoryBytes: Math.floor(8 * 1024 ** 3 * 0.8) }],
  ])('pid_max %d, threads-max %d, %d bytes', (pidMax, threads, mem, want) => {
    expect(serverTotals(pidMax, threads, mem)).toEqual(want);
  });
});

describe('renderBuildkitdConfig', () => {
  it('puts RUN-step containers below the builder cgroup when one is given', () => {
    const base = { maxUsedSpaceBytes: 1024 ** 3, insecureRegistries: [] };
    expect(renderBuildkitdConfig({ ...base, cgroupParent: '/hoist/abc/bkr_1' })).toContain(
      '  defaultCgroupParent = "/hoist/abc/bkr_1"\n',
    );
    expect(renderBuildkitdConfig(base)).not.toContain('defaultCgroupParent');
  });
});

describe('parseVolumeSpec', () => {
  it.each([
    [undefined, { kind: 'auto' }],
    ['', { kind: 'auto' }],
    ['auto', { kind: 'auto' }],
    ['none', { kind: 'none' }],
    ['xfs-image:2GiB', { kind: 'xfs-image', sizeBytes: 2 * 1024 ** 3 }],
    [' xfs-image:512M ', { kind: 'xfs-image', sizeBytes: 512 * 1024 ** 2 }],
  ])('%j', (raw, want) => {
    expect(parseVolumeSpec(raw, parseByteSize)).toEqual(want);
  });

  it.each([
    ['xfs-image:100MB', /at least 300MiB/],
    ['xfs-image:', /at least 300MiB/],
    ['xfs-image:lots', /at least 300MiB/],
    ['ext4-image:1G', /must be auto, none or xfs-image:SIZE/],
    ['/mnt/xfs', /must be auto, none or xfs-image:SIZE/],
  ])('refuses %j', (raw, msg) => {
    expect(() => parseVolumeSpec(raw, parseByteSize)).toThrow(msg);
  });
});

describe('mountOf and hasProjectQuota', () => {
  const mounts = parseMounts(`/dev/vda / ext4 rw,relatime 0 0
/dev/loop0 /data/builders xfs rw,relatime,inode64,prjquota 0 0
/dev/loop1 /data/other\\040dir xfs rw,noquota 0 0
/dev/vdb /srv xfs rw,pquota 0 0`);
  it.each([
    ['/data/builders', '/data/builders', true],
    ['/data/builders/bkr_1/root', '/data/builders', true],
    ['/data/buildersX', '/', false],
    ['/data/other dir/x', '/data/other dir', false],
    ['/srv/hoist/builders', '/srv', true],
    ['/tmp', '/', false],
  ])('%s is on %s (project quota: %s)', (p, dir, quota) => {
    const m = mountOf(mounts, p);
    expect(m?.dir).toBe(dir);
    expect(hasProjectQuota(m)).toBe(quota);
  });
});

describe('builder limit flags', () => {
  it('defaults: 4096 pids, half the memory, every CPU, cgroups on, volume auto, disk cap twice the GC cap', () => {
    const c = loadBuildsConfig({});
    expect(c.builderLimits).toEqual(defaultBuilderLimits());
    expect(defaultBuilderLimits(16 * 1024 ** 3, 8)).toEqual({
      pids: 4096,
      memoryBytes: 8 * 1024 ** 3,
      cpus: 8,
    });
    expect(c.builderVolume).toEqual({ kind: 'auto' });
    expect(c.builderDiskLimitBytes).toBe(2 * c.maxUsedSpaceBytes);
  });

  it('reads each flag', () => {
    const c = loadBuildsConfig({
      'builder-pids-limit': '256',
      'builder-memory': '1GiB',
      'builder-cpus': '0.5',
      'builder-volume': 'xfs-image:1GiB',
      'builder-disk-limit': '300MiB',
    });
    expect(c.builderLimits).toEqual({ pids: 256, memoryBytes: 1024 ** 3, cpus: 0.5 });
    expect(c.builderVolume).toEqual({ kind: 'xfs-image', sizeBytes: 1024 ** 3 });
    expect(c.builderDiskLimitBytes).toBe(300 * 1024 ** 2);
    expect(loadBuildsConfig({ 'builder-cgroups': 'off' }).builderLimits).toBeNull();
  });

  it.each([
    [
      'builder-pids-limit',
      '0',
      /--builder-pids-limit \(HOIST_BUILDER_PIDS_LIMIT\) must be a whole number from 16/,
    ],
    ['builder-pids-limit', '1e3', /whole number/],
    ['builder-memory', '10MB', /--builder-memory \(HOIST_BUILDER_MEMORY\) must be a size of at least 64MiB/],
    ['builder-cpus', '0', /--builder-cpus \(HOIST_BUILDER_CPUS\) must be a number of CPUs/],
    ['builder-cpus', 'two', /number of CPUs/],
    ['builder-cgroups', 'yes', /must be "on" or "off"/],
    ['builder-volume', 'xfs:1G', /--builder-volume \(HOIST_BUILDER_VOLUME\) must be auto, none or xfs-image/],
    ['builder-disk-limit', 'big', /--builder-disk-limit \(HOIST_BUILDER_DISK_LIMIT\)/],
  ])('refuses --%s %j', (flag, value, msg) => {
    expect(() => loadBuildsConfig({ [flag]: value })).toThrow(ConfigurationError);
    expect(() => loadBuildsConfig({ [flag]: value })).toThrow(msg);
  });
});

describe('BuilderCgroups on a v2 layout (a directory standing in for the unified hierarchy)', () => {
  it('enables the controllers down the path, writes the unified limit files and starts buildkitd through a joining shell', async () => {
    const root = await fs.mkdtemp(path.join(os.tmpdir(), 'hoist-cg2-'));
    try {
      await fs.writeFile(
        path.join(root, 'cgroup.controllers'),
        'cpuset cpu io memory hugetlb pids rdma misc\n',
      );
      const limits = { pids: 300, memoryBytes: 512 * 1024 ** 2, cpus: 0.25 };
      const cg = new BuilderCgroups({ version: 2, root, all: [root] }, limits, '/data/builders');
      await cg.prepare('bkr_1');
      const g = path.join(root, cg.group('bkr_1'));
      const readIn = (...p: string[]) => fs.readFile(path.join(...p), 'utf8');
      // Every level from the root to the builder passes pids, memory and cpu down.
      for (const dir of [root, path.join(root, 'hoist'), path.join(root, cg.base), g]) {
        expect(await readIn(dir, 'cgroup.subtree_control')).toBe('+pids +memory +cpu');
      }
      expect(await readIn(g, 'pids.max')).toBe(String(300 + DAEMON_ALLOWANCE.pids));
      expect(await readIn(g, 'cpu.max')).toBe('25000 100000');
      expect(await readIn(g, 'buildkit', 'memory.max')).toBe(String(512 * 1024 ** 2));
      expect(await readIn(g, 'buildkit', 'memory.swap.max')).toBe('0');
      // buildkitd never lives in a group that passes controllers down (v2's no-internal-process rule).
      expect(cg.procsFiles('bkr_1')).toEqual([path.join(g, 'daemon', 'cgroup.procs')]);
      expect(cg.cgroupParent('bkr_1')).toBe(`/${cg.group('bkr_1')}`);
      const w = cg.wrap('/usr/bin/buildkitd', ['--root', '/r'], 'bkr_1');
      expect(w.command).toBe('/bin/sh');
      expect(w.args.slice(3)).toEqual([
        path.join(g, 'daemon', 'cgroup.procs'),
        '--',
        '/usr/bin/buildkitd',
        '--root',
        '/r',
      ]);
    } finally {
      await fs.rm(root, { recursive: true, force: true });
    }
  });

  it('the joining shell writes its pid to every group, then is buildkitd with the same pid', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'hoist-cgwrap-'));
    try {
      const cg = new BuilderCgroups(
        { version: 2, root: dir, all: [dir] },
        { pids: 100, memoryBytes: 1024 ** 3, cpus: 1 },
        '/x',
      );
      await fs.mkdir(path.join(dir, cg.group('b'), 'daemon'), { recursive: true });
      const w = cg.wrap('/bin/sh', ['-c', 'echo $$'], 'b');
      const { stdout } = await promisify(execFile)(w.command, w.args);
      expect(await fs.readFile(path.join(dir, cg.group('b'), 'daemon', 'cgroup.procs'), 'utf8')).toBe(stdout);
      // A group it cannot join stops it before the daemon runs, with a line for the builder log.
      const bad = cg.wrap('/bin/echo', ['ran'], 'missing');
      const err = await promisify(execFile)(bad.command, bad.args).catch(
        (e: { code: number; stderr: string; stdout: string }) => e,
      );
      expect(err).toMatchObject({ code: 111, stdout: '' });
      expect((err as { stderr: string }).stderr).toContain('hoist: cannot join cgroup');
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});
