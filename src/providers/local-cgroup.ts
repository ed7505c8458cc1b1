// Resource limits of local builders: one cgroup per builder, on cgroup v1 or v2.
//
// Layout under every hierarchy (v1: each controller's mount; v2: the unified mount):
//   /hoist/<server>/<builder>            the whole builder: steps' limits plus the daemon's allowance
//   /hoist/<server>/<builder>/daemon     buildkitd itself (v2 forbids processes in a parent)
//   /hoist/<server>/<builder>/buildkit   RUN steps: runc puts each container in buildkit/<id> below
//                                        it, because buildkitd.toml sets defaultCgroupParent
// <server> is a hash of the builders directory, so two servers on one host never touch each
// other's groups. Without defaultCgroupParent runc would put containers in /buildkit/<id> at
// the root of each hierarchy: outside every limit of the builder.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { ConfigurationError, errorMessage } from '../lib/errors.js';

/** Limits of one builder's RUN steps, all concurrent steps together. */
export interface BuilderLimits {
  /** Most tasks (processes and threads). */
  pids: number;
  /** Most memory in bytes (no swap beyond it). */
  memoryBytes: number;
  /** CPU time as a number of CPUs, e.g. 1.5. */
  cpus: number;
}

/** What buildkitd itself may use on top of its steps' limits (threads, runc, layer export). */
export const DAEMON_ALLOWANCE = { pids: 512, memoryBytes: 1024 ** 3 };

/**
 * What all builders of one server may use together: half the host's process ids (pid_max is
 * only 32768 on many hosts, eight builders' worth of default limits) and 80% of its memory, so
 * that fork loops or memory hogs in several projects at once still leave the host and the
 * control plane room to run.
 */
export function serverTotals(
  pidMax: number,
  threadsMax: number,
  totalMemBytes: number,
): { pids: number; memoryBytes: number } {
  return { pids: Math.floor(Math.min(pidMax, threadsMax) / 2), memoryBytes: Math.floor(totalMemBytes * 0.8) };
}

export const CONTROLLERS = ['pids', 'memory', 'cpu'] as const;
type Controller = (typeof CONTROLLERS)[number];

export type CgroupLayout =
  | { version: 2; root: string; all: string[] }
  /** `controllers`: where each limited controller is mounted; `all`: every hierarchy (runc creates groups in each). */
  | { version: 1; controllers: Record<Controller, string>; all: string[] };

const CPU_PERIOD_US = 100_000;

/**
 * The cgroup layout from /proc/self/mounts, as runc sees it: v2 when the unified hierarchy is
 * mounted at /sys/fs/cgroup itself, else v1 (a hybrid host's extra cgroup2 mount holds no
 * controllers runc uses). Throws a message naming what is missing.
 */
export function parseCgroupLayout(mounts: string, root = '/sys/fs/cgroup'): CgroupLayout {
  const entries = mounts
    .split('\n')
    .map((l) => l.split(' '))
    .filter((f) => f.length >= 4)
    .map((f) => ({ dir: unescapeMount(f[1]!), type: f[2]!, opts: f[3]!.split(',') }));
  const v2 = entries.find((e) => e.type === 'cgroup2' && e.dir === root);
  if (v2) return { version: 2, root: v2.dir, all: [v2.dir] };
  const v1 = entries.filter((e) => e.type === 'cgroup');
  const controllers = {} as Record<Controller, string>;
  const missing: string[] = [];
  for (const c of CONTROLLERS) {
    const m = v1.find((e) => e.opts.includes(c));
    if (m) controllers[c] = m.dir;
    else missing.push(c);
  }
  if (v1.length === 0) {
    throw new ConfigurationError(
      `no cgroup filesystem is mounted at ${root} (neither cgroup2 nor v1 controllers); builders cannot get pids, memory and CPU limits. Mount cgroups (a normal systemd or container host has them), or pass --builder-cgroups off to run builders without limits`,
    );
  }
  if (missing.length) {
    throw new ConfigurationError(
      `the cgroup v1 controller(s) ${missing.join(', ')} are not mounted; builders need pids, memory and cpu for their limits. Mount them (e.g. mount -t cgroup -o ${missing[0]} cgroup ${root}/${missing[0]}), or pass --builder-cgroups off to run builders without limits`,
    );
  }
  const all = [
    ...new Set([...v1.map((e) => e.dir), ...entries.filter((e) => e.type === 'cgroup2').map((e) => e.dir)]),
  ];
  return { version: 1, controllers, all };
}

/** /proc/mounts escapes spaces and such as \040. */
function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** The files and values that set a builder's limits, per group (relative to the builder group). */
export function limitFiles(
  version: 1 | 2,
  limits: BuilderLimits,
): { group: '' | 'buildkit'; controller: Controller; file: string; value: string }[] {
  const steps = limits;
  const whole = {
    pids: limits.pids + DAEMON_ALLOWANCE.pids,
    memoryBytes: limits.memoryBytes + DAEMON_ALLOWANCE.memoryBytes,
  };
  const quota = String(Math.max(1000, Math.round(limits.cpus * CPU_PERIOD_US)));
  if (version === 1) {
    return [
      { group: '', controller: 'pids', file: 'pids.max', value: String(whole.pids) },
      { group: '', controller: 'memory', file: 'memory.limit_in_bytes', value: String(whole.memoryBytes) },
      { group: '', controller: 'cpu', file: 'cpu.cfs_period_us', value: String(CPU_PERIOD_US) },
      { group: '', controller: 'cpu', file: 'cpu.cfs_quota_us', value: quota },
      { group: 'buildkit', controller: 'pids', file: 'pids.max', value: String(steps.pids) },
      {
        group: 'buildkit',
        controller: 'memory',
        file: 'memory.limit_in_bytes',
        value: String(steps.memoryBytes),
      },
    ];
  }
  return [
    { group: '', controller: 'pids', file: 'pids.max', value: String(whole.pids) },
    { group: '', controller: 'memory', file: 'memory.max', value: String(whole.memoryBytes) },
    { group: '', controller: 'memory', file: 'memory.swap.max', value: '0' },
    { group: '', controller: 'cpu', file: 'cpu.max', value: `${quota} ${CPU_PERIOD_US}` },
    { group: 'buildkit', controller: 'pids', file: 'pids.max', value: String(steps.pids) },
    { group: 'buildkit', controller: 'memory', file: 'memory.max', value: String(steps.memoryBytes) },
    { group: 'buildkit', controller: 'memory', file: 'memory.swap.max', value: '0' },
  ];
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Creates, fills with limits, kills and removes the cgroups of one server's builders. */
export class BuilderCgroups {
  /** The server's group, e.g. "hoist/3f2a…", relative to each hierarchy's root. */
  readonly base: string;

  constructor(
    readonly layout: CgroupLayout,
    readonly limits: BuilderLimits,
    buildersDir: string,
  ) {
    this.base = path.posix.join('hoist', createHash('sha256').update(buildersDir).digest('hex').slice(0, 12));
  }

  /** Detects the host's layout and checks that this process may create groups in it. */
  static async create(limits: BuilderLimits, buildersDir: string): Promise<BuilderCgroups> {
    const layout = parseCgroupLayout(readFileSync('/proc/self/mounts', 'utf8'));
    const cg = new BuilderCgroups(layout, limits, buildersDir);
    try {
      for (const dir of cg.limitedRoots()) await fs.mkdir(path.join(dir, cg.base), { recursive: true });
      if (layout.version === 2) await cg.enableControllers(cg.base);
      await cg.writeTotals();
    } catch (err) {
      throw new ConfigurationError(
        `cannot create builder cgroups under ${cg.limitedRoots().join(', ')}: ${errorMessage(err)}. Run the server as root on a host whose cgroup filesystem is writable, or pass --builder-cgroups off to run builders without limits`,
      );
    }
    return cg;
  }

  /** Relative path of a builder's group, e.g. "hoist/3f2a…/bkr_x". */
  group(id: string): string {
    return path.posix.join(this.base, id);
  }

  /** The value of buildkitd.toml's defaultCgroupParent: runc then uses <it>/buildkit/<container>. */
  cgroupParent(id: string): string {
    return `/${this.group(id)}`;
  }

  /** The roots of the hierarchies that carry limits (v1: pids, memory, cpu mounts; v2: the unified root). */
  private limitedRoots(): string[] {
    return this.layout.version === 2
      ? [this.layout.root]
      : [...new Set(Object.values(this.layout.controllers))];
  }

  private controllerRoot(c: Controller): string {
    return this.layout.version === 2 ? this.layout.root : this.layout.controllers[c];
  }

  /** v2: a parent passes controllers down only when its cgroup.subtree_control names them. */
  private async enableControllers(rel: string): Promise<void> {
    if (this.layout.version !== 2) return;
    const root = this.layout.root;
    const available = (await fs.readFile(path.join(root, 'cgroup.controllers'), 'utf8')).split(/\s+/);
    const missing = CONTROLLERS.filter((c) => !available.includes(c));
    if (missing.length) {
      throw new Error(`the unified hierarchy does not offer the ${missing.join(', ')} controller(s)`);
    }
    const parts = rel.split('/');
    for (let i = 0; i <= parts.length; i++) {
      const dir = path.join(root, ...parts.slice(0, i));
      await fs.writeFile(path.join(dir, 'cgroup.subtree_control'), CONTROLLERS.map((c) => `+${c}`).join(' '));
    }
  }

  /** The limits of all builders together, on the server's group. */
  private async writeTotals(): Promise<void> {
    const sysctl = (name: string) => Number(readFileSync(`/proc/sys/kernel/${name}`, 'utf8').trim());
    const totals = serverTotals(sysctl('pid_max'), sysctl('threads-max'), os.totalmem());
    await writeLimit(path.join(this.controllerRoot('pids'), this.base), 'pids.max', String(totals.pids));
    const memFile = this.layout.version === 2 ? 'memory.max' : 'memory.limit_in_bytes';
    await writeLimit(
      path.join(this.controllerRoot('memory'), this.base),
      memFile,
      String(totals.memoryBytes),
    );
  }

  /** Creates (or updates) a builder's groups and limits; idempotent, so an adopted builder gets current flags. */
  async prepare(id: string): Promise<void> {
    const g = this.group(id);
    try {
      for (const root of this.limitedRoots()) {
        await fs.mkdir(path.join(root, g, 'daemon'), { recursive: true });
        await fs.mkdir(path.join(root, g, 'buildkit'), { recursive: true });
      }
      if (this.layout.version === 2) await this.enableControllers(g);
      // Again here: another server's sweep may have removed this server's empty group meanwhile.
      await this.writeTotals();
      for (const l of limitFiles(this.layout.version, this.limits)) {
        const dir = path.join(this.controllerRoot(l.controller), g, l.group);
        await writeLimit(dir, l.file, l.value);
      }
    } catch (err) {
      throw new Error(`cannot set up the cgroup of builder ${id}: ${errorMessage(err)}`);
    }
  }

  /** The cgroup.procs files buildkitd must join before it runs (one per limited hierarchy). */
  procsFiles(id: string): string[] {
    return this.limitedRoots().map((r) => path.join(r, this.group(id), 'daemon', 'cgroup.procs'));
  }

  /**
   * The command that starts buildkitd inside the builder's daemon group: a shell joins each
   * group and then execs buildkitd, so buildkitd (same pid, same argv) never runs outside it.
   */
  wrap(command: string, args: string[], id: string): { command: string; args: string[] } {
    const script =
      'while [ "$1" != -- ]; do echo $$ > "$1" || { echo "hoist: cannot join cgroup $1" >&2; exit 111; }; shift; done; shift; exec "$@"';
    return {
      command: '/bin/sh',
      args: ['-c', script, 'hoist-cgroup', ...this.procsFiles(id), '--', command, ...args],
    };
  }

  /** Is this process in the builder's daemon group (in every limited hierarchy)? */
  async contains(id: string, pid: number): Promise<boolean> {
    let text: string;
    try {
      text = await fs.readFile(`/proc/${pid}/cgroup`, 'utf8');
    } catch {
      return false;
    }
    const want = `/${this.group(id)}/daemon`;
    const lines = text
      .trim()
      .split('\n')
      .map((l) => l.split(':'));
    if (this.layout.version === 2) return lines.some((f) => f[0] === '0' && f[2] === want);
    return CONTROLLERS.every((c) => lines.some((f) => f[1]!.split(',').includes(c) && f[2] === want));
  }

  /** Every process left in the builder's groups, in any hierarchy. */
  async pids(id: string): Promise<number[]> {
    const out = new Set<number>();
    for (const root of this.layout.all) {
      for (const dir of await subtree(path.join(root, this.group(id)))) {
        try {
          for (const p of (await fs.readFile(path.join(dir, 'cgroup.procs'), 'utf8')).split('\n')) {
            if (/^\d+$/.test(p)) out.add(Number(p));
          }
        } catch {
          /* removed meanwhile */
        }
      }
    }
    return [...out];
  }

  /**
   * Kills whatever still runs in the builder's groups (steps a killed buildkitd left behind, a
   * fork loop), then removes the groups in every hierarchy. Returns what it could not remove.
   */
  async release(id: string): Promise<string[]> {
    const g = this.group(id);
    const killFile = this.layout.version === 2 ? path.join(this.layout.root, g, 'cgroup.kill') : null;
    for (let round = 0; round < 100; round++) {
      const left = await this.pids(id);
      if (left.length === 0) break;
      if (killFile) await fs.writeFile(killFile, '1').catch(() => undefined);
      for (const pid of left) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
      await sleep(20);
    }
    const failed: string[] = [];
    for (const root of this.layout.all) {
      const dirs = await subtree(path.join(root, g));
      // Deepest first: a group with children cannot be removed.
      dirs.sort((a, b) => b.length - a.length);
      for (const dir of dirs) {
        if (!(await rmdirRetry(dir))) failed.push(dir);
      }
    }
    return failed;
  }

  /** Builder ids that have a group under this server's base in any hierarchy. */
  async listGroups(): Promise<string[]> {
    const ids = new Set<string>();
    for (const root of this.layout.all) {
      try {
        for (const e of await fs.readdir(path.join(root, this.base), { withFileTypes: true })) {
          if (e.isDirectory()) ids.add(e.name);
        }
      } catch {
        /* no group here */
      }
    }
    return [...ids];
  }

  /** Removes the groups of builders that no longer run (a crashed server, a killed buildkitd). */
  async removeStale(running: Set<string>): Promise<string[]> {
    const removed: string[] = [];
    for (const id of await this.listGroups()) {
      if (running.has(id)) continue;
      await this.release(id);
      removed.push(id);
    }
    return removed;
  }

  /**
   * Removes what servers that are gone left behind (killed, their data dir deleted): another
   * server's groups with no process in any hierarchy and none made or changed for `minAgeMs`.
   * The age keeps a group that another server just made for a starting builder.
   */
  async sweepAbandoned(minAgeMs: number, now = Date.now()): Promise<string[]> {
    const ownHash = path.posix.basename(this.base);
    const bases = new Set<string>();
    for (const root of this.layout.all) {
      try {
        for (const e of await fs.readdir(path.join(root, 'hoist'), { withFileTypes: true })) {
          if (e.isDirectory() && e.name !== ownHash) bases.add(e.name);
        }
      } catch {
        /* no hoist group in this hierarchy */
      }
    }
    const removed: string[] = [];
    for (const hash of bases) {
      const dirs = (
        await Promise.all(this.layout.all.map((r) => subtree(path.join(r, 'hoist', hash))))
      ).flat();
      let busy = false;
      for (const dir of dirs) {
        const st = await fs.stat(dir).catch(() => null);
        const procs = await fs.readFile(path.join(dir, 'cgroup.procs'), 'utf8').catch(() => '');
        if (!st || now - st.mtimeMs < minAgeMs || procs.trim() !== '') {
          busy = true;
          break;
        }
      }
      if (busy) continue;
      dirs.sort((a, b) => b.length - a.length);
      for (const dir of dirs) await rmdirRetry(dir);
      removed.push(hash);
    }
    return removed;
  }

  /** Removes the server's (empty) base groups and the shared "hoist" parent when nobody else uses it. */
  async close(): Promise<void> {
    for (const root of this.layout.all) {
      await fs.rmdir(path.join(root, this.base)).catch(() => undefined);
      await fs.rmdir(path.join(root, 'hoist')).catch(() => undefined);
    }
  }
}

/** v1 memory: with swap accounting, memsw must stay ≥ limit, so the write order depends on the direction. */
async function writeLimit(dir: string, file: string, value: string): Promise<void> {
  if (file === 'memory.limit_in_bytes') {
    const memsw = path.join(dir, 'memory.memsw.limit_in_bytes');
    const hasMemsw = await fs.access(memsw).then(
      () => true,
      () => false,
    );
    if (hasMemsw) {
      try {
        await fs.writeFile(memsw, value);
        await fs.writeFile(path.join(dir, file), value);
      } catch {
        await fs.writeFile(path.join(dir, file), value);
        await fs.writeFile(memsw, value);
      }
      return;
    }
  }
  if (file === 'memory.swap.max') {
    // Absent without swap accounting: nothing to cap.
    await fs.writeFile(path.join(dir, file), value).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
    return;
  }
  await fs.writeFile(path.join(dir, file), value);
}

/** A directory and every directory below it (cgroup directories only hold groups and control files). */
async function subtree(dir: string): Promise<string[]> {
  let entries;
  try {
    entries = await fs.readdir(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  const out = [dir];
  for (const e of entries) if (e.isDirectory()) out.push(...(await subtree(path.join(dir, e.name))));
  return out;
}

/** rmdir of a cgroup; EBUSY while the kernel still tears down the last task, so retry briefly. */
async function rmdirRetry(dir: string): Promise<boolean> {
  for (let i = 0; i < 50; i++) {
    try {
      await fs.rmdir(dir);
      return true;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return true;
      if (code !== 'EBUSY') return false;
      await sleep(20);
    }
  }
  return false;
}
