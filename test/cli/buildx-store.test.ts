import { afterAll, describe, expect, it } from '@jest/globals';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  builderDefinition,
  builderFiles,
  buildxConfigDir,
  findBuildx,
  pluginDirs,
  storedPlatform,
} from '../../src/cli/buildx.js';

describe('buildxConfigDir', () => {
  it.each([
    [{ BUILDX_CONFIG: '/bx', DOCKER_CONFIG: '/dc', HOME: '/h' }, '/bx'],
    [{ DOCKER_CONFIG: '/dc', HOME: '/h' }, '/dc/buildx'],
    [{ HOME: '/h' }, '/h/.docker/buildx'],
    [{ BUILDX_CONFIG: '', DOCKER_CONFIG: '', HOME: '/h' }, '/h/.docker/buildx'],
  ])('%j → %s', (env, dir) => expect(buildxConfigDir(env)).toBe(dir));
});

describe('storedPlatform', () => {
  it.each([
    ['linux/amd64', { architecture: 'amd64', os: 'linux' }],
    ['linux/arm64', { architecture: 'arm64', os: 'linux' }],
    ['linux/arm/v7', { architecture: 'arm', os: 'linux', variant: 'v7' }],
  ])('%s', (p, stored) => expect(storedPlatform(p)).toEqual(stored));
});

describe('builderDefinition', () => {
  it('is what buildx v0.38 create (then create --append) stores for remote nodes', () => {
    // written by `buildx create --name hx --node hx-0 --driver remote --driver-opt ... tcp://127.0.0.1:1234`
    // then `buildx create --name hx --node hx-1 ... --platform linux/arm/v7 --append tcp://127.0.0.1:1235`
    const byBuildx =
      '{"Name":"hx","Driver":"remote","Nodes":[{"Name":"hx-0","Endpoint":"tcp://127.0.0.1:1234","Platforms":[],"DriverOpts":{"cacert":"/a/ca.pem","cert":"/a/cert.pem","key":"/a/key.pem","servername":"bk"},"Flags":null,"Files":null},{"Name":"hx-1","Endpoint":"tcp://127.0.0.1:1235","Platforms":[{"architecture":"arm","os":"linux","variant":"v7"}],"DriverOpts":{"cacert":"/b/ca.pem","cert":"/b/cert.pem","key":"/b/key.pem","servername":"bk2"},"Flags":null,"Files":null}],"Dynamic":false}';
    const ours = builderDefinition('hx', [
      {
        node: 'hx-0',
        endpoint: 'tcp://127.0.0.1:1234',
        cacert: '/a/ca.pem',
        cert: '/a/cert.pem',
        key: '/a/key.pem',
        serverName: 'bk',
      },
      {
        node: 'hx-1',
        endpoint: 'tcp://127.0.0.1:1235',
        platform: 'linux/arm/v7',
        cacert: '/b/ca.pem',
        cert: '/b/cert.pem',
        key: '/b/key.pem',
        serverName: 'bk2',
      },
    ]);
    expect(ours).toBe(byBuildx);
  });
});

describe('builderFiles', () => {
  it('are the definition, the activity stamp and the refs of that builder only', () => {
    expect(builderFiles('/c', 'hoist-bld_1')).toEqual([
      '/c/instances/hoist-bld_1',
      '/c/activity/hoist-bld_1',
      '/c/refs/hoist-bld_1',
    ]);
  });
});

describe('pluginDirs and findBuildx (the plugin run standalone)', () => {
  const made: string[] = [];
  afterAll(() => made.forEach((d) => rmSync(d, { recursive: true, force: true })));
  const tmp = (): string => {
    const d = mkdtempSync(join(tmpdir(), 'hoist-plugins-'));
    made.push(d);
    return d;
  };
  const plugin = (dir: string, name = 'docker-buildx'): string => {
    mkdirSync(dir, { recursive: true });
    const f = join(dir, name);
    writeFileSync(f, '#!/bin/sh\necho "github.com/docker/buildx v0.0.0 fake"\n', { mode: 0o755 });
    return f;
  };

  it('looks where the docker CLI does: config dir, then cliPluginsExtraDirs, then the system dirs', () => {
    const cfg = tmp();
    writeFileSync(
      join(cfg, 'config.json'),
      JSON.stringify({ cliPluginsExtraDirs: ['/opt/a', '', 7, '/opt/b'] }),
    );
    const dirs = pluginDirs({ DOCKER_CONFIG: cfg, HOME: '/h' });
    expect(dirs.slice(0, 3)).toEqual([join(cfg, 'cli-plugins'), '/opt/a', '/opt/b']);
    expect(dirs.slice(3)).toContain('/usr/libexec/docker/cli-plugins');
  });

  it('ignores a config file that is absent or not JSON (the docker CLI reports that itself)', () => {
    const cfg = tmp();
    expect(pluginDirs({ DOCKER_CONFIG: cfg })[1]).toBe('/usr/local/lib/docker/cli-plugins');
    writeFileSync(join(cfg, 'config.json'), '{not json');
    expect(pluginDirs({ DOCKER_CONFIG: cfg })[1]).toBe('/usr/local/lib/docker/cli-plugins');
  });

  it('with docker on PATH, runs the plugin docker would pick directly, starting nothing to find it', async () => {
    const cfg = tmp();
    const bin = tmp();
    plugin(bin, 'docker');
    const extra = join(cfg, 'extra');
    const picked = plugin(extra);
    writeFileSync(join(cfg, 'config.json'), JSON.stringify({ cliPluginsExtraDirs: [extra] }));
    const bx = await findBuildx({ DOCKER_CONFIG: cfg, HOME: cfg, PATH: bin });
    expect(bx).toMatchObject({ file: join(bin, 'docker'), prefix: ['buildx'], display: 'docker buildx' });
    expect(bx.direct).toEqual({ file: picked, prefix: [] });
    // the config dir's own plugin comes first, as in the docker CLI
    const own = plugin(join(cfg, 'cli-plugins'));
    expect((await findBuildx({ DOCKER_CONFIG: cfg, HOME: cfg, PATH: bin })).direct?.file).toBe(own);
  });

  it('HOIST_BUILDX wins, and is run as given', async () => {
    const f = plugin(tmp(), 'buildx');
    const bx = await findBuildx({ HOIST_BUILDX: f, PATH: '' });
    expect(bx).toMatchObject({ file: f, prefix: [] });
    expect(bx.direct).toBeUndefined();
  });
});
