// The builder definition hoist build writes itself is one the real buildx reads, and removing its
// files leaves buildx without it, as `buildx rm` would.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from '@jest/globals';
import { removeBuilder, writeBuilder } from '../../src/cli/buildx.js';
import { engineBinaries } from '../helpers/engine.js';

const execFileP = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'hoist-buildx-store-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const buildx = (...args: string[]): Promise<{ stdout: string; stderr: string }> =>
  execFileP(engineBinaries().buildx, args, { env: { ...process.env, BUILDX_CONFIG: dir } });

describe('a builder written without buildx create', () => {
  it('is inspected by buildx with its nodes, endpoints and platforms, and gone once removed', async () => {
    await writeBuilder(dir, 'hoist-bld_store', [
      {
        node: 'hoist-bld_store-0',
        endpoint: 'tcp://127.0.0.1:9',
        platform: 'linux/amd64',
        cacert: '/nonexistent/ca.pem',
        cert: '/nonexistent/cert.pem',
        key: '/nonexistent/key.pem',
        serverName: 'builder.hoist',
      },
      {
        node: 'hoist-bld_store-1',
        endpoint: 'tcp://127.0.0.1:10',
        platform: 'linux/arm64',
        cacert: '/nonexistent/ca.pem',
        cert: '/nonexistent/cert.pem',
        key: '/nonexistent/key.pem',
        serverName: 'builder.hoist',
      },
    ]);
    const { stdout: ls } = await buildx('ls', '--format', '{{.Name}} {{.DriverEndpoint}}');
    expect(ls).toContain('hoist-bld_store remote');
    expect(ls).toContain('hoist-bld_store-0 tcp://127.0.0.1:9');
    expect(ls).toContain('hoist-bld_store-1 tcp://127.0.0.1:10');
    const { stdout: inspect } = await buildx('inspect', 'hoist-bld_store');
    expect(inspect).toMatch(/Driver:\s+remote/);
    expect(inspect).toMatch(/Name:\s+hoist-bld_store-1[\s\S]*Endpoint:\s+tcp:\/\/127\.0\.0\.1:10/);

    await removeBuilder(dir, 'hoist-bld_store');
    expect(existsSync(join(dir, 'instances', 'hoist-bld_store'))).toBe(false);
    await expect(buildx('inspect', 'hoist-bld_store')).rejects.toThrow(/no builder "hoist-bld_store" found/);
  });
});
