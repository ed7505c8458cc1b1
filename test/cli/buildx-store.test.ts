import { describe, expect, it } from '@jest/globals';
import { builderDefinition, builderFiles, buildxConfigDir, storedPlatform } from '../../src/cli/buildx.js';

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
