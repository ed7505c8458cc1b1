// How the local provider copies a builder's cache: into a snapshot of a stopped primary, and
// from a snapshot into a clone's root. A buildkitd root holds overlay snapshots with whiteout
// device nodes, trusted.overlay.* xattrs, files of other owners and hard links, and bolt files
// that BuildKit rewrites in place. So the copy keeps all of that (cp -a semantics, as root), and
// never shares data blocks by hard link: a write through one link would change the other copy.
//   reflink    FICLONE on XFS (reflink=1) or btrfs: every file shares its blocks copy-on-write,
//              so a clone costs metadata only and the snapshot is never written through it.
//   full-copy  any other filesystem (ext4): every byte copied; slower and as big as the cache.
// A btrfs subvolume snapshot would be O(1), but builder roots are plain directories, not
// subvolumes; on btrfs, reflinks do the job per file.
import { execFile } from 'node:child_process';
import { constants as fsConstants } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { ProvisionError } from './provider.js';

const run = promisify(execFile);

export type LocalCloneMethod = 'reflink' | 'full-copy';

/** statfs(2) f_type magic numbers of the filesystems the probe names. */
const FS_MAGIC: Record<number, string> = {
  0x58465342: 'xfs',
  0x9123683e: 'btrfs',
  0xef53: 'ext4',
  0x01021994: 'tmpfs',
  0x794c7630: 'overlayfs',
  0x6969: 'nfs',
  0x65735546: 'fuse',
  0x2fc12fc1: 'zfs',
};

export function fsTypeName(magic: number): string {
  return FS_MAGIC[magic] ?? `0x${magic.toString(16)}`;
}

export interface CloneProbe {
  method: LocalCloneMethod;
  /** The filesystem the data lives on, e.g. "xfs". */
  fsType: string;
  /** Why the method was chosen, for the start-up log. */
  reason: string;
}

/**
 * Which copy the directory's filesystem allows: tries a real FICLONE of a scratch file there
 * (the filesystem type alone does not tell: XFS made with reflink=0 refuses it).
 */
export async function probeCloneMethod(dir: string): Promise<CloneProbe> {
  const fsType = fsTypeName(Number((await fs.statfs(dir)).type));
  const a = path.join(dir, `.clone-probe-${process.pid}`);
  const b = `${a}.copy`;
  try {
    await fs.writeFile(a, 'probe', { mode: 0o600 });
    await fs.copyFile(a, b, fsConstants.COPYFILE_FICLONE_FORCE);
    return { method: 'reflink', fsType, reason: `${fsType} supports FICLONE reflinks` };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    return {
      method: 'full-copy',
      fsType,
      reason: `${fsType} refused FICLONE (${code}); put the data directory on XFS with reflink=1 or btrfs, or use --builder-volume xfs-image:SIZE, for copy-on-write clones`,
    };
  } finally {
    await fs.rm(a, { force: true });
    await fs.rm(b, { force: true });
  }
}

const SBIN_PATH = `${process.env.PATH ?? ''}:/usr/local/sbin:/usr/sbin:/sbin`;

/** Turns a failed copy into a typed provisioning error: a full disk is capacity, the rest transient. */
function copyError(what: string, err: unknown): ProvisionError {
  const e = err as { stderr?: string; message: string; code?: string };
  const text = (e.stderr || e.message).trim().split('\n').slice(-2).join(' … ');
  const full = /No space left on device|ENOSPC/i.test(text) || e.code === 'ENOSPC';
  return new ProvisionError(
    full ? 'capacity' : 'transient',
    `${what} failed: ${text}${full ? '; the builders volume is full: free space or grow it' : ''}`,
    { cause: err },
  );
}

/**
 * Copies the directory tree `src` to `dst` (which must not exist), keeping devices, xattrs
 * (trusted.* included, as root), owners, modes, times and hard links within the tree. Written
 * to `dst.partial` first and renamed, so a copy cut short never looks like a finished one.
 */
export async function copyTree(src: string, dst: string, method: LocalCloneMethod): Promise<void> {
  const partial = `${dst}.partial`;
  await fs.rm(partial, { recursive: true, force: true });
  try {
    const mode = method === 'reflink' ? ['--reflink=always'] : ['--reflink=never', '--sparse=always'];
    await run('cp', ['-a', '-T', ...mode, src, partial], {
      env: { ...process.env, PATH: SBIN_PATH },
      maxBuffer: 4 * 1024 * 1024,
    });
    await syncFs(partial);
    await fs.rename(partial, dst);
  } catch (err) {
    await fs.rm(partial, { recursive: true, force: true });
    throw copyError(`copying ${src} to ${dst} (${method})`, err);
  }
}

/** Copies one (disk image) file, sparse, by reflink or in full; same partial-then-rename rule. */
export async function copyImage(src: string, dst: string, method: LocalCloneMethod): Promise<void> {
  const partial = `${dst}.partial`;
  await fs.rm(partial, { force: true });
  try {
    const args =
      method === 'reflink'
        ? ['--reflink=always', src, partial]
        : ['--reflink=never', '--sparse=always', src, partial];
    await run('cp', args, { env: { ...process.env, PATH: SBIN_PATH } });
    await fs.chmod(partial, 0o600);
    await syncFs(partial);
    await fs.rename(partial, dst);
  } catch (err) {
    await fs.rm(partial, { force: true });
    throw copyError(`copying ${src} to ${dst} (${method})`, err);
  }
}

/**
 * Flushes the filesystem the copy is on (syncfs) before the copy counts as done: a snapshot whose
 * data is still only in the page cache is lost by a host crash, and on ext4 the next fsync of
 * any file there (buildkitd opening its bolt files at start) would otherwise pay for it.
 */
async function syncFs(p: string): Promise<void> {
  await run('sync', ['-f', p]);
}

/** Bytes a tree takes on disk (`du`), or null when it cannot be read. Shared reflink blocks count in full. */
export async function diskUsage(p: string): Promise<number | null> {
  try {
    const { stdout } = await run('du', ['-sx', '--block-size=1', p], { maxBuffer: 1024 * 1024 });
    const n = Number(stdout.split(/\s/)[0]);
    return Number.isFinite(n) ? n : null;
  } catch {
    return null;
  }
}
