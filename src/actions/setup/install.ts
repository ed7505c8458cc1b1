import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import semver from 'semver';
import type { CliRelease } from '../../lib/api-types.js';
import { errorMessage } from '../../lib/errors.js';

export const TOOL_NAME = 'hoist';

/** The tool-cache calls the install uses (the real ones are @actions/tool-cache's). */
export interface ToolCache {
  find(tool: string, version: string, arch?: string): string;
  downloadTool(url: string, dest?: string): Promise<string>;
  extractTar(file: string, dest?: string, flags?: string | string[]): Promise<string>;
  cacheDir(source: string, tool: string, version: string, arch?: string): Promise<string>;
}

export interface ReleaseSource {
  readonly apiUrl: string;
  cliRelease(spec: string, target?: { os: string; arch: string }): Promise<CliRelease>;
}

export interface InstallResult {
  version: string;
  /** The cached tool directory. */
  toolDir: string;
  /** The directory holding the `hoist` executable; it goes on the PATH. */
  binDir: string;
  cacheHit: boolean;
}

export interface InstallDeps {
  releases: ReleaseSource;
  toolCache: ToolCache;
  log: (message: string) => void;
}

/**
 * Installs the hoist CLI: an exact version is looked up in the tool cache
 * first; otherwise the server resolves the spec. A download is verified
 * against the release's sha256 before anything is extracted or cached, so a
 * mismatch installs nothing.
 */
export async function installHoist(spec: string, deps: InstallDeps): Promise<InstallResult> {
  const { toolCache, log } = deps;
  const exact = semver.valid(spec);
  if (exact) {
    const hit = toolCache.find(TOOL_NAME, exact);
    if (hit) return cached(exact, hit, log);
  }
  // The tarball for this runner's OS and architecture (Node's names, as the server expects).
  const release = await deps.releases.cliRelease(spec, { os: process.platform, arch: process.arch });
  validateRelease(release, spec);
  const version = semver.clean(release.version) ?? release.version;
  const hit = toolCache.find(TOOL_NAME, version);
  if (hit) return cached(version, hit, log);

  const url = new URL(release.url, `${deps.releases.apiUrl}/`).toString();
  log(`Downloading hoist ${version} from ${url}`);
  let archive: string;
  try {
    archive = await toolCache.downloadTool(url);
  } catch (err) {
    // The tool cache says only "Unexpected HTTP response: 404": name what and from where.
    throw new Error(
      `could not download hoist ${version} from ${url}: ${errorMessage(err)}. Nothing was installed. Check that the Hoist server serves its CLI releases (GET /v1/cli/releases/${spec} pointed here).`,
    );
  }
  try {
    const actual = await sha256File(archive);
    if (actual !== release.sha256.toLowerCase()) {
      throw new Error(
        `checksum mismatch for hoist ${version} (${url}): the server announced sha256 ${release.sha256.toLowerCase()} but the download has ${actual}. Nothing was installed. The download was corrupted or the release on the server was replaced; try again, and if it persists ask the Hoist administrator to check the release files.`,
      );
    }
    const extracted = await toolCache.extractTar(archive, undefined, 'xz');
    try {
      const root = findToolRoot(extracted);
      fs.chmodSync(path.join(root, 'bin', 'hoist'), 0o755);
      const toolDir = await toolCache.cacheDir(root, TOOL_NAME, version);
      log(`Installed hoist ${version} into ${toolDir}`);
      return { version, toolDir, binDir: path.join(toolDir, 'bin'), cacheHit: false };
    } finally {
      fs.rmSync(extracted, { recursive: true, force: true });
    }
  } finally {
    fs.rmSync(archive, { force: true });
  }
}

function cached(version: string, toolDir: string, log: (m: string) => void): InstallResult {
  log(`Found hoist ${version} in the tool cache: ${toolDir}`);
  return { version, toolDir, binDir: path.join(toolDir, 'bin'), cacheHit: true };
}

function validateRelease(r: CliRelease, spec: string): void {
  const problems: string[] = [];
  if (!r || typeof r !== 'object') problems.push('not a JSON object');
  else {
    if (typeof r.version !== 'string' || !semver.valid(r.version))
      problems.push(`version ${JSON.stringify(r.version)} is not a semver version`);
    if (typeof r.url !== 'string' || !r.url) problems.push('url is missing');
    if (typeof r.sha256 !== 'string' || !/^[0-9a-fA-F]{64}$/.test(r.sha256))
      problems.push('sha256 is not 64 hex digits');
  }
  if (problems.length) {
    throw new Error(
      `the Hoist server answered GET /v1/cli/releases/${spec} with an unusable release: ${problems.join('; ')}`,
    );
  }
}

/** The tarball holds bin/hoist at its root or under one top-level folder. */
export function findToolRoot(extracted: string): string {
  if (fs.existsSync(path.join(extracted, 'bin', 'hoist'))) return extracted;
  const entries = fs.readdirSync(extracted, { withFileTypes: true }).filter((e) => e.isDirectory());
  for (const e of entries) {
    const candidate = path.join(extracted, e.name);
    if (fs.existsSync(path.join(candidate, 'bin', 'hoist'))) return candidate;
  }
  throw new Error('the hoist release tarball holds no bin/hoist; nothing was installed');
}

export async function sha256File(file: string): Promise<string> {
  const hash = crypto.createHash('sha256');
  try {
    for await (const chunk of fs.createReadStream(file)) hash.update(chunk as Buffer);
  } catch (err) {
    throw new Error(`cannot read the downloaded hoist archive ${file}: ${errorMessage(err)}`);
  }
  return hash.digest('hex');
}
