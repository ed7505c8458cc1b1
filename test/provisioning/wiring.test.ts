// The edges of the provisioning layer: --pools parsing, the build answer's placement line in
// `hoist build` output, and how the action reads it back for the job summary.
import { describe, expect, it } from '@jest/globals';
import { parseBuildInfoFromOutput } from '../../src/actions/build-push/result.js';
import { describeBuilderPlacement } from '../../src/cli/build-run.js';
import type { BuilderActive } from '../../src/lib/api-types.js';
import { loadBuildsConfig, parsePools } from '../../src/server/builds/config.js';
import { scalingOf } from '../../src/server/builds/service.js';

describe('--pools', () => {
  it.each([
    [undefined, [{ name: 'local', kind: 'provider' }]],
    ['', [{ name: 'local', kind: 'provider' }]],
    ['main', [{ name: 'main', kind: 'provider' }]],
    [
      'us-east-1, us-west-2=simulated',
      [
        { name: 'us-east-1', kind: 'provider' },
        { name: 'us-west-2', kind: 'simulated' },
      ],
    ],
    ['main=local', [{ name: 'main', kind: 'provider' }]],
  ])('%j', (raw, want) => expect(parsePools(raw, 'local')).toEqual(want));

  it.each([
    ['Main', /not a pool name/],
    ['a,a=simulated', /named twice/],
    ['a,b', /must be NAME=simulated/],
    ['a=kubernetes', /the first pool runs the --provider \(local\)/],
  ])('refuses %j', (raw, msg) => expect(() => parsePools(raw, 'local')).toThrow(msg));

  it('provisioning flags land in the limits, and bad ones name the flag', () => {
    const cfg = loadBuildsConfig({
      'clone-permits': '8',
      'build-share-after': '30s',
      'launch-limit-share': '0.5',
    });
    expect(cfg.provisioning).toMatchObject({
      limitShare: 0.5,
      shareAfterMs: 30_000,
      permits: { globalMax: 8 },
    });
    expect(() => loadBuildsConfig({ 'launch-limit-share': '2' })).toThrow(
      /--launch-limit-share \(HOIST_LAUNCH_LIMIT_SHARE\)/,
    );
    expect(() => loadBuildsConfig({ 'clone-permits': '0' })).toThrow(/--clone-permits .* from 1 to 10000/);
  });
});

describe('project settings as the provisioner reads them', () => {
  const base = { id: 'p', name: 'p', created_at: '', updated_at: '' };
  it.each([
    [
      { autoscaling: false, max_concurrent_builds: 2, max_builders_per_platform: 10 },
      { autoscaling: false, buildsPerBuilder: 2, maxBuildersPerPlatform: 1 },
    ],
    [
      { autoscaling: true, max_concurrent_builds: 4, max_builders_per_platform: 10 },
      { autoscaling: true, buildsPerBuilder: 4, maxBuildersPerPlatform: 10 },
    ],
    [
      { autoscaling: false, max_concurrent_builds: null, max_builders_per_platform: 3 },
      { autoscaling: false, buildsPerBuilder: null, maxBuildersPerPlatform: 1 },
    ],
  ])('%j', (p, want) => expect(scalingOf({ ...base, ...p })).toEqual(want));
});

describe('which pool served a build', () => {
  const active = (extra: Partial<BuilderActive>): BuilderActive => ({
    status: 'active',
    builder_id: 'bkr_1',
    platform: 'linux/amd64',
    endpoint: 'tcp://127.0.0.1:1',
    server_name: 'x',
    ca_pem: '',
    cert_pem: '',
    key_pem: '',
    expires_at: '',
    build_expires_at: '',
    heartbeat_ms: 1000,
    ...extra,
  });
  it.each([
    [{}, ''],
    [{ pool: 'local', role: 'primary' as const }, 'pool local'],
    [{ pool: 'us-east-1', role: 'clone' as const }, 'pool us-east-1, a clone of the project cache'],
    [
      { pool: 'us-west-2', role: 'primary' as const, cold_cache: true, shared: true },
      'pool us-west-2, shared with other builds (no clone in time), cold cache (a fallback pool served this build)',
    ],
  ])('%j → %j', (extra, want) => expect(describeBuilderPlacement(active(extra))).toBe(want));

  it('the action reads the lines back for its summary', () => {
    const out = [
      'hoist: build bld_1: https://hoist.example/ui/builds/bld_1',
      'hoist: builder linux/amd64: pool us-west-2, cold cache (a fallback pool served this build)',
      'hoist: builder linux/arm64: pool us-east-1',
      '#1 [internal] load build definition',
    ].join('\n');
    expect(parseBuildInfoFromOutput(out)).toEqual({
      buildId: 'bld_1',
      buildUrl: 'https://hoist.example/ui/builds/bld_1',
      placement: [
        'linux/amd64: pool us-west-2, cold cache (a fallback pool served this build)',
        'linux/arm64: pool us-east-1',
      ],
    });
    expect(parseBuildInfoFromOutput('hoist: build bld_2: http://h/x')).toEqual({
      buildId: 'bld_2',
      buildUrl: 'http://h/x',
    });
  });
});
