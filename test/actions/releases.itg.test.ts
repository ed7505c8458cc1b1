// setup-action's release lookup (node:http) against a real `hoist server` serving a releases dir.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as tc from '@actions/tool-cache';
import { installHoist } from '../../src/actions/setup/install.js';
import { HttpReleaseSource } from '../../src/actions/setup/releases.js';
import { HoistApiError } from '../../src/lib/errors.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

let server: TestServer;
let dir: string;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hoist-releases-'));
  for (const v of ['1.0.0', '1.2.0', '2.0.0-rc.1']) {
    fs.writeFileSync(path.join(dir, `hoist-${v}-${process.platform}-${process.arch}.tar.gz`), `tarball ${v}`);
  }
  server = await startTestServer({ flags: { 'releases-dir': dir } });
});

afterAll(async () => {
  await server?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('HttpReleaseSource', () => {
  const target = { os: process.platform, arch: process.arch };

  it.each([
    ['latest', '1.2.0'],
    ['1.0.0', '1.0.0'],
    ['^1', '1.2.0'],
    ['~1.0', '1.0.0'],
  ])('resolves %s to %s with the sha256 of the file', async (spec, version) => {
    const r = await new HttpReleaseSource(`${server.url}/`).cliRelease(spec, target);
    expect(r.version).toBe(version);
    expect(r.url).toMatch(new RegExp(`/hoist-${version.replace(/\./g, '\\.')}-`));
    const bytes = fs.readFileSync(
      path.join(dir, `hoist-${version}-${process.platform}-${process.arch}.tar.gz`),
    );
    expect(r.sha256).toBe((await import('node:crypto')).createHash('sha256').update(bytes).digest('hex'));
    expect(r.size).toBe(bytes.length);
  });

  it('reports the server reason for a version it does not have', async () => {
    const err = await new HttpReleaseSource(server.url).cliRelease('9.9.9', target).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HoistApiError);
    expect((err as HoistApiError).status).toBe(404);
    expect((err as HoistApiError).message).toMatch(/9\.9\.9.*available: /);
  });

  it('says the server is unreachable, naming the URL', async () => {
    await expect(new HttpReleaseSource('http://127.0.0.1:1').cliRelease('latest', target)).rejects.toThrow(
      /cannot reach the Hoist server at http:\/\/127\.0\.0\.1:1: .*api-url/,
    );
  });

  it('a download the server cannot serve fails naming the version and URL, and installs nothing', async () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hoist-download-'));
    const saved = { RUNNER_TEMP: process.env.RUNNER_TEMP, RUNNER_TOOL_CACHE: process.env.RUNNER_TOOL_CACHE };
    process.env.RUNNER_TEMP = path.join(tmp, 'temp');
    process.env.RUNNER_TOOL_CACHE = path.join(tmp, 'tool-cache');
    try {
      const real = new HttpReleaseSource(server.url);
      // The server announces 1.2.0 but its file is gone by the time the runner downloads it.
      const releases = {
        apiUrl: real.apiUrl,
        cliRelease: async (spec: string, t?: { os: string; arch: string }) => {
          const r = await real.cliRelease(spec, t);
          return { ...r, url: r.url.replace('hoist-1.2.0-', 'hoist-1.2.0-gone-') };
        },
      };
      const err = await installHoist('latest', { releases, toolCache: tc, log: () => undefined }).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(Error);
      expect((err as Error).message).toMatch(
        /^could not download hoist 1\.2\.0 from http:\/\/\S+hoist-1\.2\.0-gone-\S+: .*404.*Nothing was installed/,
      );
      expect(tc.find('hoist', '1.2.0')).toBe('');
    } finally {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });
});
