import { execFileSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import * as tc from '@actions/tool-cache';
import { installHoist, type ReleaseSource, type ToolCache } from '../../src/actions/setup/install.js';
import type { CliRelease } from '../../src/lib/api-types.js';

// The real tool cache on a temp RUNNER_TOOL_CACHE; only the download is local
// (a copy of a tarball built here), so no network is needed.
let root: string;
let saved: Record<string, string | undefined>;

beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'hoist-setup-'));
  saved = { RUNNER_TOOL_CACHE: process.env.RUNNER_TOOL_CACHE, RUNNER_TEMP: process.env.RUNNER_TEMP };
  process.env.RUNNER_TOOL_CACHE = path.join(root, 'tool-cache');
  process.env.RUNNER_TEMP = path.join(root, 'temp');
  fs.mkdirSync(process.env.RUNNER_TEMP, { recursive: true });
});

afterEach(() => {
  for (const [k, v] of Object.entries(saved)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  fs.rmSync(root, { recursive: true, force: true });
});

function makeTarball(version: string, topFolder?: string): { file: string; sha256: string } {
  const src = path.join(root, `src-${version}-${topFolder ?? 'flat'}`);
  const base = topFolder ? path.join(src, topFolder) : src;
  fs.mkdirSync(path.join(base, 'bin'), { recursive: true });
  fs.writeFileSync(path.join(base, 'bin', 'hoist'), `#!/bin/sh\necho hoist ${version}\n`, { mode: 0o644 });
  const file = path.join(root, `hoist-${version}-linux-x64.tar.gz`);
  execFileSync('tar', ['czf', file, '-C', src, topFolder ?? 'bin']);
  const sha256 = crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
  return { file, sha256 };
}

interface Harness {
  releases: ReleaseSource & { calls: string[] };
  toolCache: ToolCache & { downloads: string[] };
  logs: string[];
}

function harness(release: CliRelease, tarball: string): Harness {
  const calls: string[] = [];
  const downloads: string[] = [];
  return {
    releases: {
      apiUrl: 'http://127.0.0.1:9',
      calls,
      async cliRelease(spec: string) {
        calls.push(spec);
        return release;
      },
    },
    toolCache: {
      find: tc.find,
      extractTar: tc.extractTar,
      cacheDir: tc.cacheDir,
      downloads,
      async downloadTool(url: string) {
        downloads.push(url);
        const dest = path.join(process.env.RUNNER_TEMP!, crypto.randomUUID());
        fs.copyFileSync(tarball, dest);
        return dest;
      },
    },
    logs: [],
  };
}

const run = (spec: string, h: Harness) =>
  installHoist(spec, { releases: h.releases, toolCache: h.toolCache, log: (m) => h.logs.push(m) });

describe('installHoist', () => {
  it('downloads, verifies, extracts and caches; then an exact version hits the cache without asking the server', async () => {
    const { file, sha256 } = makeTarball('1.2.3');
    const h = harness({ version: '1.2.3', url: '/v1/cli/releases/1.2.3/download', sha256, size: 1 }, file);
    const first = await run('latest', h);
    expect(first.cacheHit).toBe(false);
    expect(first.version).toBe('1.2.3');
    expect(h.toolCache.downloads).toEqual(['http://127.0.0.1:9/v1/cli/releases/1.2.3/download']);
    const exe = path.join(first.binDir, 'hoist');
    expect(execFileSync(exe).toString()).toBe('hoist 1.2.3\n');
    expect(fs.statSync(exe).mode & 0o777).toBe(0o755);
    expect(fs.existsSync(`${first.toolDir}.complete`)).toBe(true);
    // Nothing left behind in the runner temp dir.
    expect(fs.readdirSync(process.env.RUNNER_TEMP!)).toEqual([]);

    const second = await run('1.2.3', h);
    expect(second).toEqual({ ...first, cacheHit: true });
    expect(h.releases.calls).toEqual(['latest']);
    expect(h.toolCache.downloads).toHaveLength(1);
  });

  it('a range resolves on the server, then hits the cache', async () => {
    const { file, sha256 } = makeTarball('2.0.1');
    const h = harness({ version: '2.0.1', url: 'http://127.0.0.1:9/files/hoist.tgz', sha256, size: 1 }, file);
    await run('2.0.1', h);
    const again = await run('^2', h);
    expect(again.cacheHit).toBe(true);
    expect(h.releases.calls).toEqual(['2.0.1', '^2']);
    expect(h.toolCache.downloads).toHaveLength(1);
  });

  it('accepts a tarball with one top-level folder', async () => {
    const { file, sha256 } = makeTarball('0.3.0', 'hoist-0.3.0');
    const h = harness({ version: '0.3.0', url: '/dl', sha256, size: 1 }, file);
    const r = await run('0.3.0', h);
    expect(execFileSync(path.join(r.binDir, 'hoist')).toString()).toBe('hoist 0.3.0\n');
  });

  it('a checksum mismatch fails clearly and installs nothing', async () => {
    const { file } = makeTarball('1.0.0');
    const wrong = 'f'.repeat(64);
    const h = harness({ version: '1.0.0', url: '/dl', sha256: wrong, size: 1 }, file);
    await expect(run('1.0.0', h)).rejects.toThrow(
      /checksum mismatch for hoist 1\.0\.0.*sha256 f{64} but the download has [0-9a-f]{64}\. Nothing was installed/,
    );
    expect(tc.find('hoist', '1.0.0')).toBe('');
    expect(fs.existsSync(path.join(process.env.RUNNER_TOOL_CACHE!, 'hoist'))).toBe(false);
    expect(fs.readdirSync(process.env.RUNNER_TEMP!)).toEqual([]);
  });

  it('refuses a tarball without bin/hoist and caches nothing', async () => {
    const src = path.join(root, 'empty');
    fs.mkdirSync(path.join(src, 'doc'), { recursive: true });
    fs.writeFileSync(path.join(src, 'doc', 'README'), 'x');
    const file = path.join(root, 'bad.tar.gz');
    execFileSync('tar', ['czf', file, '-C', src, 'doc']);
    const sha256 = crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
    const h = harness({ version: '1.0.1', url: '/dl', sha256, size: 1 }, file);
    await expect(run('1.0.1', h)).rejects.toThrow(/holds no bin\/hoist; nothing was installed/);
    expect(tc.find('hoist', '1.0.1')).toBe('');
  });

  it.each<[string, Partial<CliRelease>, RegExp]>([
    ['a bad version', { version: 'soon' }, /version "soon" is not a semver version/],
    ['a short sha256', { sha256: 'abc' }, /sha256 is not 64 hex digits/],
    ['no url', { url: '' }, /url is missing/],
  ])('refuses a release answer with %s', async (_n, over, message) => {
    const h = harness(
      { version: '1.0.0', url: '/dl', sha256: 'a'.repeat(64), size: 1, ...over },
      '/nonexistent',
    );
    await expect(run('latest', h)).rejects.toThrow(message);
    expect(h.toolCache.downloads).toEqual([]);
  });
});
