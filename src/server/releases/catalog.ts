import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import semver from 'semver';

export const RELEASE_FILE = /^hoist-(.+)-([a-z0-9]+)-([a-z0-9]+)\.tar\.gz$/;

export interface ReleaseFile {
  version: string;
  os: string;
  arch: string;
  file: string;
}

/** Node's names: linux/darwin/win32 and x64/arm64; common aliases accepted. */
export function normalizeOs(os: string): string | null {
  const o = os.toLowerCase();
  const map: Record<string, string> = {
    linux: 'linux',
    darwin: 'darwin',
    macos: 'darwin',
    win32: 'win32',
    windows: 'win32',
  };
  return map[o] ?? null;
}
export function normalizeArch(arch: string): string | null {
  const a = arch.toLowerCase();
  const map: Record<string, string> = {
    x64: 'x64',
    amd64: 'x64',
    x86_64: 'x64',
    arm64: 'arm64',
    aarch64: 'arm64',
    arm: 'arm',
  };
  return map[a] ?? null;
}

export type SpecKind = 'latest' | 'exact' | 'range';

/** Classifies a version spec, or null when it is none of latest, a version, a semver range. */
export function classifySpec(spec: string): SpecKind | null {
  const s = spec.trim();
  if (s === 'latest') return 'latest';
  if (semver.valid(semver.clean(s) ?? '')) return 'exact';
  if (semver.validRange(s)) return 'range';
  return null;
}

/**
 * Picks the version a spec means among the available ones: `latest` = the highest stable
 * version (a prerelease only when there is nothing else), exact = that version, a range =
 * the highest version satisfying it.
 */
export function resolveVersion(spec: string, versions: string[]): string | null {
  const valid = versions.filter((v) => semver.valid(v));
  const kind = classifySpec(spec);
  if (kind === 'latest') {
    const stable = valid.filter((v) => !semver.prerelease(v));
    return semver.rsort([...(stable.length ? stable : valid)])[0] ?? null;
  }
  if (kind === 'exact') {
    const want = semver.clean(spec.trim())!;
    return valid.find((v) => semver.eq(v, want)) ?? null;
  }
  if (kind === 'range') return semver.maxSatisfying(valid, spec.trim());
  return null;
}

export async function scanReleases(dir: string): Promise<ReleaseFile[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  const out: ReleaseFile[] = [];
  for (const file of names) {
    const m = RELEASE_FILE.exec(file);
    if (m && semver.valid(m[1]!)) out.push({ version: m[1]!, os: m[2]!, arch: m[3]!, file });
  }
  return out;
}

const digestCache = new Map<string, { key: string; sha256: string }>();

/** sha256 of a file, cached by size and mtime. */
export async function fileDigest(path: string): Promise<{ sha256: string; size: number }> {
  const st = await stat(path);
  const key = `${st.size}:${st.mtimeMs}`;
  const hit = digestCache.get(path);
  if (hit && hit.key === key) return { sha256: hit.sha256, size: st.size };
  const hash = createHash('sha256');
  await new Promise<void>((resolve, reject) => {
    createReadStream(path)
      .on('data', (chunk) => hash.update(chunk))
      .on('end', resolve)
      .on('error', reject);
  });
  const sha256 = hash.digest('hex');
  digestCache.set(path, { key, sha256 });
  return { sha256, size: st.size };
}

export function releasePath(dir: string, file: string): string {
  return join(dir, file);
}
