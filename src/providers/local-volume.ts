// Where local builders keep their roots, and what stops a RUN step from filling the disk.
//
//   xfs-image:SIZE  the server makes <dataDir>/builders.xfs (preallocated, XFS with reflink=1 so
//                   caches can later be cloned), loop-mounts it on <dataDir>/builders and unmounts
//                   it at shutdown. Builders can fill at most that volume, never the data dir's
//                   filesystem (the database). With XFS quota support in the kernel it is mounted
//                   with prjquota and each builder directory is an XFS project with a hard limit.
//                   Without it (a kernel built without CONFIG_XFS_QUOTA), each builder's root is
//                   its own sparse XFS image of the disk limit in builders/.images/, loop-mounted
//                   while the builder runs: the same hard cap per builder, and an image file can
//                   still be cloned with reflink on the volume.
//   auto            builders stay on the data dir's filesystem; when that is XFS mounted with
//                   prjquota, each builder directory gets a project quota, else a warning says
//                   nothing caps builder disk use.
//   none            no cap, with the same warning.
import { execFile } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { ConfigurationError, errorMessage } from '../lib/errors.js';

const run = promisify(execFile);

export type VolumeSpec = { kind: 'auto' } | { kind: 'none' } | { kind: 'xfs-image'; sizeBytes: number };

/** mkfs.xfs refuses smaller filesystems. */
export const MIN_IMAGE_BYTES = 300 * 1024 ** 2;

export interface VolumeLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

/** How builder disk use is bounded, for the start-up log and tests. */
export type DiskCap =
  | { kind: 'project-quota'; mount: string; limitBytes: number }
  | { kind: 'builder-image'; mount: string; volumeBytes: number; limitBytes: number; reason: string }
  | { kind: 'none'; reason: string };

export interface MountEntry {
  dir: string;
  type: string;
  source: string;
  options: string[];
}

/** Parses /proc/self/mounts. */
export function parseMounts(text: string): MountEntry[] {
  const unescape = (s: string) =>
    s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
  return text
    .split('\n')
    .map((l) => l.split(' '))
    .filter((f) => f.length >= 4)
    .map((f) => ({ source: unescape(f[0]!), dir: unescape(f[1]!), type: f[2]!, options: f[3]!.split(',') }));
}

/** The mount a path lives on: the longest mount point that is the path or one of its parents (last one wins). */
export function mountOf(mounts: MountEntry[], p: string): MountEntry | undefined {
  let best: MountEntry | undefined;
  for (const m of mounts) {
    const inside = p === m.dir || m.dir === '/' || p.startsWith(m.dir.endsWith('/') ? m.dir : `${m.dir}/`);
    if (inside && (!best || m.dir.length >= best.dir.length)) best = m;
  }
  return best;
}

/** Does this mount enforce XFS project quotas? */
export function hasProjectQuota(m: MountEntry | undefined): boolean {
  return !!m && m.type === 'xfs' && m.options.some((o) => o === 'prjquota' || o === 'pquota');
}

/** "auto", "none" or "xfs-image:SIZE"; `parseSize` turns "20GiB" into bytes or null. */
export function parseVolumeSpec(
  raw: string | undefined,
  parseSize: (s: string) => number | null,
  label = '--builder-volume (HOIST_BUILDER_VOLUME)',
): VolumeSpec {
  const v = (raw ?? '').trim();
  if (v === '' || v === 'auto') return { kind: 'auto' };
  if (v === 'none') return { kind: 'none' };
  const m = /^xfs-image:(.*)$/.exec(v);
  if (m) {
    const size = parseSize(m[1]!);
    if (size === null || size < MIN_IMAGE_BYTES) {
      throw new ConfigurationError(
        `${label}: the image size must be at least 300MiB, such as xfs-image:50GiB; got "${m[1]}"`,
      );
    }
    return { kind: 'xfs-image', sizeBytes: size };
  }
  throw new ConfigurationError(
    `${label} must be auto, none or xfs-image:SIZE (e.g. xfs-image:50GiB), got "${v}"`,
  );
}

export const NO_CAP_FIX =
  'pass --builder-volume xfs-image:SIZE (HOIST_BUILDER_VOLUME) to keep builders on a loop-mounted XFS volume of that size';

async function readMounts(): Promise<MountEntry[]> {
  return parseMounts(await fs.readFile('/proc/self/mounts', 'utf8'));
}

const DEBIAN_PACKAGE: Record<string, string> = {
  'mkfs.xfs': 'xfsprogs',
  xfs_quota: 'xfsprogs',
  xfs_growfs: 'xfsprogs',
  mount: 'mount',
  umount: 'mount',
};

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Loop devices backed by this file. */
async function loopsOf(file: string): Promise<string[]> {
  const out = await tool('losetup', ['-j', file], 'losetup -j').catch(() => '');
  return out
    .split('\n')
    .map((l) => /^(\/dev\/loop\d+):/.exec(l)?.[1])
    .filter((d): d is string => !!d);
}

/**
 * After an unmount, waits for autoclear to detach the image's loop device (the kernel does it
 * asynchronously), then detaches whatever still names the image.
 */
async function releaseLoop(file: string): Promise<void> {
  for (let i = 0; i < 50 && (await loopsOf(file)).length; i++) await sleep(100);
  for (const dev of await loopsOf(file))
    await tool('losetup', ['-d', dev], `losetup -d ${dev}`).catch(() => undefined);
}

async function tool(cmd: string, args: string[], what: string): Promise<string> {
  try {
    const { stdout } = await run(cmd, args, {
      timeout: 120_000,
      env: { ...process.env, PATH: `${process.env.PATH ?? ''}:/usr/local/sbin:/usr/sbin:/sbin` },
    });
    return stdout;
  } catch (err) {
    const e = err as { code?: string; stderr?: string; message: string };
    if (e.code === 'ENOENT') {
      throw new Error(
        `${cmd} is not installed (${what}); install Debian's ${DEBIAN_PACKAGE[cmd] ?? 'util-linux'} package`,
      );
    }
    // The first line says what went wrong (mkfs follows it with its whole usage text).
    const lines = (e.stderr || e.message).trim().split('\n');
    throw new Error(`${what} failed: ${lines[0]}${lines.length > 1 ? ` … ${lines[lines.length - 1]}` : ''}`);
  }
}

/** The builders directory's volume: set-up at start, a quota per builder, tear-down at shutdown. */
export class BuilderVolume {
  private mountedHere = false;
  private projects: Record<string, number> = {};

  private constructor(
    readonly spec: VolumeSpec,
    readonly buildersDir: string,
    readonly imagePath: string,
    readonly diskLimitBytes: number,
    private readonly log: VolumeLogger,
    public cap: DiskCap = { kind: 'none', reason: 'not set up' },
  ) {}

  private get projectsFile(): string {
    return path.join(this.buildersDir, '.hoist-projects.json');
  }

  /** Per-builder images; a dot name, so it is never taken for a builder directory. */
  private get imagesDir(): string {
    return path.join(this.buildersDir, '.images');
  }

  private builderImage(id: string): string {
    return path.join(this.imagesDir, `${id}.xfs`);
  }

  /**
   * The disk image a builder's root lives in, when each builder has one (no XFS quotas): then
   * a snapshot or a clone copies that one file, not the tree inside it. Null otherwise.
   */
  imageOf(id: string): string | null {
    return this.cap.kind === 'builder-image' ? this.builderImage(id) : null;
  }

  /**
   * Prepares the builders directory (mounting the image when asked) and says at start what
   * bounds builder disk use; a missing bound is a warning that names the flag that fixes it.
   */
  static async open(opts: {
    spec: VolumeSpec;
    buildersDir: string;
    diskLimitBytes: number;
    logger: VolumeLogger;
  }): Promise<BuilderVolume> {
    const image = path.join(path.dirname(opts.buildersDir), 'builders.xfs');
    const v = new BuilderVolume(opts.spec, opts.buildersDir, image, opts.diskLimitBytes, opts.logger);
    await fs.mkdir(opts.buildersDir, { recursive: true, mode: 0o700 });
    if (opts.spec.kind === 'xfs-image') await v.mountImage(opts.spec.sizeBytes);
    const mount = mountOf(await readMounts(), opts.buildersDir);
    if (hasProjectQuota(mount)) {
      v.cap = { kind: 'project-quota', mount: mount!.dir, limitBytes: opts.diskLimitBytes };
      await v.loadProjects();
    } else if (opts.spec.kind === 'xfs-image') {
      v.cap = {
        kind: 'builder-image',
        mount: opts.buildersDir,
        volumeBytes: opts.spec.sizeBytes,
        limitBytes: opts.diskLimitBytes,
        reason: 'this kernel refused the XFS prjquota mount option (built without XFS quota support)',
      };
      await fs.mkdir(v.imagesDir, { recursive: true, mode: 0o700 });
    } else {
      v.cap = {
        kind: 'none',
        reason:
          opts.spec.kind === 'none'
            ? '--builder-volume none'
            : `${opts.buildersDir} is on ${mount?.type ?? 'an unknown filesystem'} (${mount?.dir ?? '?'}) without XFS project quotas`,
      };
    }
    v.report();
    return v;
  }

  private report(): void {
    const c = this.cap;
    if (c.kind === 'project-quota') {
      this.log.info(
        { mount: c.mount, builder_disk_limit_bytes: c.limitBytes },
        'builder disk use capped by XFS project quotas',
      );
    } else if (c.kind === 'builder-image') {
      this.log.info(
        {
          mount: c.mount,
          volume_bytes: c.volumeBytes,
          builder_disk_limit_bytes: c.limitBytes,
          why: c.reason,
        },
        'builder disk use capped by the XFS volume and an XFS image per builder root',
      );
      if (c.limitBytes >= c.volumeBytes) {
        this.log.warn(
          { volume_bytes: c.volumeBytes, builder_disk_limit_bytes: c.limitBytes },
          'the builder disk limit is not smaller than the builder volume, so one builder can fill the volume for the others; lower --builder-disk-limit (HOIST_BUILDER_DISK_LIMIT) or grow the volume',
        );
      }
    } else {
      this.log.warn(
        { builders_dir: this.buildersDir },
        `builder disk use is not capped (${c.reason}): a RUN step can fill the filesystem that also holds the data directory; ${NO_CAP_FIX}`,
      );
    }
  }

  /** Creates the image on first use, then mounts it on the builders directory (unless already). */
  private async mountImage(sizeBytes: number): Promise<void> {
    const mounts = await readMounts();
    const here = mounts.find((m) => m.dir === this.buildersDir);
    if (here) {
      if (here.type !== 'xfs') {
        throw new ConfigurationError(
          `${this.buildersDir} is already a ${here.type} mount, not the XFS volume --builder-volume asks for; unmount it or use --builder-volume auto`,
        );
      }
      // A previous server left it mounted (builders kept running): use it, and own it from now on.
      this.mountedHere = true;
      this.log.info({ mount: this.buildersDir }, 'builder volume already mounted; reusing it');
      return;
    }
    const present = await fs.readdir(this.buildersDir);
    if (present.length > 0) {
      throw new ConfigurationError(
        `${this.buildersDir} already holds ${present.length} entr${present.length === 1 ? 'y' : 'ies'} on the data directory's filesystem; mounting the builder volume over it would hide them. Stop the server's builders and move or delete that directory's contents (the builder caches), then start again`,
      );
    }
    let existing: number | null = null;
    try {
      existing = (await fs.stat(this.imagePath)).size;
    } catch {
      /* first use */
    }
    if (existing === null) {
      const tmp = `${this.imagePath}.tmp`;
      await fs.rm(tmp, { force: true });
      try {
        // Preallocated, not sparse: the space is the volume's from the start, so filling the
        // volume can never run the data directory's filesystem out of space.
        await tool(
          'fallocate',
          ['-l', String(sizeBytes), tmp],
          `reserving ${sizeBytes} bytes for ${this.imagePath}`,
        );
        await fs.chmod(tmp, 0o600);
        await tool('mkfs.xfs', ['-q', '-m', 'reflink=1', '-L', 'hoist', tmp], `mkfs.xfs on ${tmp}`);
        await fs.rename(tmp, this.imagePath);
      } catch (err) {
        await fs.rm(tmp, { force: true });
        throw new ConfigurationError(
          `cannot create the builder volume ${this.imagePath}: ${errorMessage(err)}`,
        );
      }
      this.log.info({ image: this.imagePath, bytes: sizeBytes }, 'builder volume created');
    } else if (existing !== sizeBytes) {
      this.log.warn(
        { image: this.imagePath, bytes: existing, requested_bytes: sizeBytes },
        'the builder volume keeps its size; to change it, stop the server, delete the image (the builder caches go with it) and start again',
      );
    }
    // `-o loop` sets autoclear: the loop device goes away with the unmount.
    try {
      await tool('mount', ['-t', 'xfs', '-o', 'loop,prjquota', this.imagePath, this.buildersDir], 'mount');
    } catch {
      try {
        await tool('mount', ['-t', 'xfs', '-o', 'loop', this.imagePath, this.buildersDir], 'mount');
      } catch (err) {
        throw new ConfigurationError(
          `cannot mount the builder volume ${this.imagePath} on ${this.buildersDir}: ${errorMessage(err)}`,
        );
      }
    }
    this.mountedHere = true;
    await fs.chmod(this.buildersDir, 0o700);
  }

  private async loadProjects(): Promise<void> {
    try {
      this.projects = JSON.parse(await fs.readFile(this.projectsFile, 'utf8')) as Record<string, number>;
    } catch {
      this.projects = {};
    }
  }

  private async saveProjects(): Promise<void> {
    const tmp = `${this.projectsFile}.tmp`;
    await fs.writeFile(tmp, JSON.stringify(this.projects), { mode: 0o600 });
    await fs.rename(tmp, this.projectsFile);
  }

  /**
   * Caps a builder before it starts: its directory becomes an XFS project with a hard block and
   * inode limit, or its root is mounted from its own image; no-op without a cap.
   */
  async assign(id: string, dir: string): Promise<void> {
    const c = this.cap;
    if (c.kind === 'builder-image') return this.mountBuilderImage(id, path.join(dir, 'root'), c.limitBytes);
    if (c.kind !== 'project-quota') return;
    let projid = this.projects[id];
    if (projid === undefined) {
      projid = Math.max(999, ...Object.values(this.projects)) + 1;
      // Marks the directory (and what it holds) with the project id, inherited by new files.
      await tool(
        'xfs_quota',
        ['-x', '-c', `project -s -p ${dir} ${projid}`, c.mount],
        `xfs_quota project for ${dir}`,
      );
      this.projects[id] = projid;
      await this.saveProjects();
    }
    const kib = Math.ceil(this.diskLimitBytes / 1024);
    const inodes = Math.max(10_000, Math.ceil(this.diskLimitBytes / 4096));
    await tool(
      'xfs_quota',
      ['-x', '-c', `limit -p bhard=${kib}k ihard=${inodes} ${projid}`, c.mount],
      `xfs_quota limit for ${dir}`,
    );
  }

  private async mountBuilderImage(id: string, root: string, bytes: number): Promise<void> {
    if ((await readMounts()).some((m) => m.dir === root)) return;
    const image = this.builderImage(id);
    const size = await fs.stat(image).then(
      (st) => st.size,
      () => null,
    );
    if (size === null) {
      // A root from before the volume had images is only cache: it would be hidden under the mount.
      await fs.rm(root, { recursive: true, force: true });
      const tmp = `${image}.tmp`;
      try {
        // Sparse: it takes volume space only as the builder writes, up to its size.
        const fh = await fs.open(tmp, 'w', 0o600);
        await fh.truncate(bytes);
        await fh.close();
        await tool('mkfs.xfs', ['-q', '-m', 'reflink=1', '-L', 'hoist-b', tmp], `mkfs.xfs on ${tmp}`);
        await fs.rename(tmp, image);
      } catch (err) {
        await fs.rm(tmp, { force: true });
        throw new Error(`cannot create the disk image of builder ${id}: ${errorMessage(err)}`);
      }
    }
    // A raised --builder-disk-limit grows the image (XFS grows online); a lowered one cannot shrink it.
    const grow = size !== null && size < bytes;
    if (grow) await fs.truncate(image, bytes);
    if (size !== null && size > bytes) {
      this.log.warn(
        { builder_id: id, image_bytes: size, builder_disk_limit_bytes: bytes },
        'a builder disk image keeps its larger size (XFS cannot shrink); destroy the builder to apply the lower limit',
      );
    }
    await fs.mkdir(root, { recursive: true, mode: 0o700 });
    // nouuid: a clone's image is a reflink copy of its primary's, with the same XFS UUID, and XFS
    // refuses a second mount of a UUID. A new UUID (xfs_admin -U) would rewrite the whole log,
    // tens of MiB per clone; skipping the check costs nothing, each image is its own filesystem.
    await tool(
      'mount',
      ['-t', 'xfs', '-o', 'loop,nouuid', image, root],
      `mount of builder ${id}'s disk image`,
    );
    if (grow) await tool('xfs_growfs', ['-d', root], `xfs_growfs of builder ${id}'s disk image`);
  }

  /** Unmounts a stopped builder's root image (its loop device goes with it); no-op otherwise. */
  async detach(id: string): Promise<void> {
    if (this.cap.kind !== 'builder-image') return;
    const root = path.join(this.buildersDir, id, 'root');
    if (!(await readMounts()).some((m) => m.dir === root)) return;
    try {
      await tool('umount', ['-R', root], `umount ${root}`);
      await releaseLoop(this.builderImage(id));
    } catch (err) {
      this.log.warn({ builder_id: id, err: errorMessage(err) }, 'could not unmount a builder disk image');
    }
  }

  /** Drops a destroyed builder's project limit or disk image. */
  async release(id: string): Promise<void> {
    const c = this.cap;
    if (c.kind === 'builder-image') {
      await fs.rm(this.builderImage(id), { force: true });
      return;
    }
    const projid = this.projects[id];
    if (c.kind !== 'project-quota' || projid === undefined) return;
    await tool(
      'xfs_quota',
      ['-x', '-c', `limit -p bhard=0 ihard=0 ${projid}`, c.mount],
      'xfs_quota limit',
    ).catch((err: unknown) =>
      this.log.warn({ builder_id: id, err: errorMessage(err) }, 'could not drop a project quota'),
    );
    delete this.projects[id];
    await this.saveProjects();
  }

  /** Unmounts the image (its loop device goes with it); only once no builder runs from it. */
  async close(): Promise<void> {
    if (!this.mountedHere) return;
    // Builder images unmounted just before may still hold their loop devices (the kernel
    // detaches them asynchronously), and those keep files of the volume open: retry a while.
    for (let attempt = 1; ; attempt++) {
      try {
        // -R: a killed buildkitd can leave snapshot mounts below the volume.
        await tool('umount', ['-R', this.buildersDir], `umount ${this.buildersDir}`);
        break;
      } catch (err) {
        if (attempt < 25 && /busy/i.test(errorMessage(err))) {
          await sleep(200);
          continue;
        }
        this.log.warn(
          { mount: this.buildersDir, err: errorMessage(err) },
          'could not unmount the builder volume',
        );
        return;
      }
    }
    this.mountedHere = false;
    await releaseLoop(this.imagePath);
    this.log.info({ mount: this.buildersDir }, 'builder volume unmounted');
  }
}
