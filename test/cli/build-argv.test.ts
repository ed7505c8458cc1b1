import { describe, expect, it } from '@jest/globals';
import {
  BUILDX_BUILD_FLAGS,
  type BuildArgvResult,
  flagSpecFromHelp,
  isRemoteContext,
  parseBuildArgv,
  parseDuration,
} from '../../src/cli/build-argv.js';

type Expect = {
  hoist?: Record<string, string>;
  buildx: string[];
  facts?: Record<string, unknown>;
};

// CLI argv in → Hoist's options + buildx argv out. The buildx argv must be the user's, unchanged.
const cases: [string, string[], Expect][] = [
  ['context only', ['.'], { buildx: ['.'], facts: { context: '.', platforms: [], tags: [], push: false } }],
  ['-t short form', ['-t', 'r/app:1', '.'], { buildx: ['-t', 'r/app:1', '.'], facts: { tags: ['r/app:1'] } }],
  ['-tVALUE attached', ['-tr/app:1', '.'], { buildx: ['-tr/app:1', '.'], facts: { tags: ['r/app:1'] } }],
  ['-t=VALUE', ['-t=r/app:1', '.'], { buildx: ['-t=r/app:1', '.'], facts: { tags: ['r/app:1'] } }],
  [
    '--tag repeated, long and = forms',
    ['--tag', 'a:1', '--tag=a:2', '-t', 'a:3', 'ctx'],
    {
      buildx: ['--tag', 'a:1', '--tag=a:2', '-t', 'a:3', 'ctx'],
      facts: { tags: ['a:1', 'a:2', 'a:3'], context: 'ctx' },
    },
  ],
  [
    'combined bool+value shorthand -qt',
    ['-qt', 'x:1', '.'],
    { buildx: ['-qt', 'x:1', '.'], facts: { tags: ['x:1'] } },
  ],
  [
    '-f and --file',
    ['-f', 'docker/Dockerfile.prod', '.'],
    { buildx: ['-f', 'docker/Dockerfile.prod', '.'], facts: { file: 'docker/Dockerfile.prod' } },
  ],
  [
    '--file=',
    ['--file=Dockerfile.x', '.'],
    { buildx: ['--file=Dockerfile.x', '.'], facts: { file: 'Dockerfile.x' } },
  ],
  [
    '-o short output, type=registry implies push',
    ['-o', 'type=registry', '.'],
    { buildx: ['-o', 'type=registry', '.'], facts: { push: true } },
  ],
  [
    '--output type=image,push=true implies push',
    ['--output', 'type=image,name=r/a,push=true', '.'],
    { buildx: ['--output', 'type=image,name=r/a,push=true', '.'], facts: { push: true } },
  ],
  [
    '--output type=docker implies load',
    ['--output=type=docker', '.'],
    { buildx: ['--output=type=docker', '.'], facts: { load: true } },
  ],
  ['--push bool', ['--push', '.'], { buildx: ['--push', '.'], facts: { push: true } }],
  ['--push=false', ['--push=false', '.'], { buildx: ['--push=false', '.'], facts: { push: false } }],
  ['--load', ['--load', '.'], { buildx: ['--load', '.'], facts: { load: true } }],
  [
    'platforms: comma list and repeats, deduplicated',
    ['--platform', 'linux/amd64,linux/arm64', '--platform=linux/amd64', '.'],
    {
      buildx: ['--platform', 'linux/amd64,linux/arm64', '--platform=linux/amd64', '.'],
      facts: { platforms: ['linux/amd64', 'linux/arm64'] },
    },
  ],
  [
    'hoist flags are taken out, both forms',
    [
      '--project',
      'app',
      '--token=hoist_prj_x',
      '--api-url',
      'http://h:1',
      '--build-platform=linux/amd64',
      '--wait',
      '90s',
      '--push',
      '.',
    ],
    {
      hoist: {
        project: 'app',
        token: 'hoist_prj_x',
        apiUrl: 'http://h:1',
        buildPlatform: 'linux/amd64',
        wait: '90s',
      },
      buildx: ['--push', '.'],
    },
  ],
  [
    '--builder is dropped (the build runs on Hoist)',
    ['--builder', 'mine', '--builder=other', '.'],
    { buildx: ['.'], facts: { builder: 'other' } },
  ],
  [
    'iidfile and metadata-file',
    ['--iidfile', '/tmp/iid', '--metadata-file=/tmp/meta.json', '.'],
    {
      buildx: ['--iidfile', '/tmp/iid', '--metadata-file=/tmp/meta.json', '.'],
      facts: { iidfile: '/tmp/iid', metadataFile: '/tmp/meta.json' },
    },
  ],
  [
    '--check takes no next word as its value',
    ['--check', '.'],
    { buildx: ['--check', '.'], facts: { context: '.' } },
  ],
  ['--check=true', ['--check=true', '.'], { buildx: ['--check=true', '.'] }],
  [
    'a value starting with a dash is still the value',
    ['--build-arg', '-x=1', '.'],
    { buildx: ['--build-arg', '-x=1', '.'], facts: { context: '.' } },
  ],
  ['stdin context', ['-f', '-', '-'], { buildx: ['-f', '-', '-'], facts: { context: '-', file: '-' } }],
  [
    'git URL context',
    ['https://github.com/o/r.git#main:sub'],
    {
      buildx: ['https://github.com/o/r.git#main:sub'],
      facts: { context: 'https://github.com/o/r.git#main:sub' },
    },
  ],
  ['context before flags', ['.', '--push'], { buildx: ['.', '--push'], facts: { context: '.', push: true } }],
  [
    '-- ends the flags',
    ['--push', '--', '-weird-dir'],
    { buildx: ['--push', '--', '-weird-dir'], facts: { context: '-weird-dir' } },
  ],
  ['-D debug (root flag)', ['-D', '.'], { buildx: ['-D', '.'] }],
  [
    '--target, --progress, --no-cache, --pull, -q',
    ['--target', 'prod', '--progress=plain', '--no-cache', '--pull', '-q', '.'],
    {
      buildx: ['--target', 'prod', '--progress=plain', '--no-cache', '--pull', '-q', '.'],
      facts: { target: 'prod' },
    },
  ],
];

// One case per build-push-action flag: each is passed through verbatim and does not eat the context.
const bpaFlags: [string, string][] = [
  ['add-host', 'docker:10.180.0.1'],
  ['allow', 'network.host'],
  ['annotation', 'index:org.opencontainers.image.description=x'],
  ['attest', 'type=provenance,mode=max,builder-id=https://github.com/o/r/actions/runs/1'],
  ['build-arg', 'A=multi\nline'],
  ['build-context', 'alpine=docker-image://alpine:3'],
  ['cache-from', 'type=gha'],
  ['cache-to', 'type=gha,mode=max'],
  ['call', 'check'],
  ['cgroup-parent', '/actions_job'],
  ['file', './Dockerfile'],
  ['iidfile', '/tmp/iid'],
  ['label', 'org.opencontainers.image.source=x'],
  ['metadata-file', '/tmp/m.json'],
  ['network', 'host'],
  ['no-cache-filter', 'stage1'],
  ['output', '"type=local,dest=./out dir"'],
  ['platform', 'linux/amd64'],
  ['progress', 'rawjson'],
  ['provenance', 'mode=min,inline-only=true'],
  ['sbom', 'true'],
  ['secret', 'id=GIT_AUTH_TOKEN.github.com,src=/tmp/secret'],
  ['shm-size', '2g'],
  ['ssh', 'default'],
  ['tag', 'user/app:latest'],
  ['target', 'release'],
  ['ulimit', 'nofile=1024:1024'],
];
const bpaBools = ['load', 'no-cache', 'pull', 'push', 'quiet'];

describe('parseBuildArgv', () => {
  it.each(cases)('%s', (_name, argv, expected) => {
    const r = parseBuildArgv(argv);
    if (r.kind !== 'build') throw new Error(`expected a build, got ${JSON.stringify(r)}`);
    expect(r.buildxArgs).toEqual(expected.buildx);
    expect(r.hoist).toEqual(expected.hoist ?? {});
    if (expected.facts) expect(r.facts).toMatchObject(expected.facts);
  });

  it.each(bpaFlags)('passes --%s VALUE through unchanged', (flag, value) => {
    for (const argv of [
      [`--${flag}`, value, 'ctx'],
      [`--${flag}=${value}`, 'ctx'],
    ]) {
      const r = parseBuildArgv(argv);
      expect(r).toMatchObject({ kind: 'build', buildxArgs: argv, facts: { context: 'ctx' } });
    }
  });

  it.each(bpaBools)('passes bool --%s through unchanged', (flag) => {
    const r = parseBuildArgv([`--${flag}`, 'ctx']);
    expect(r).toMatchObject({ kind: 'build', buildxArgs: [`--${flag}`, 'ctx'], facts: { context: 'ctx' } });
  });

  it('knows every flag build-push-action can produce', () => {
    for (const [flag] of bpaFlags) expect(BUILDX_BUILD_FLAGS[flag]).toBeDefined();
    for (const flag of bpaBools) expect(BUILDX_BUILD_FLAGS[flag]?.kind).toBe('bool');
  });

  const errors: [string, string[], BuildArgvResult][] = [
    [
      'unknown long flag',
      ['--frobnicate', '.'],
      { kind: 'unknown-flag', flag: '--frobnicate', token: '--frobnicate' },
    ],
    [
      'unknown long flag with =',
      ['--frob=1', '.'],
      { kind: 'unknown-flag', flag: '--frob', token: '--frob=1' },
    ],
    ['unknown shorthand', ['-x', '.'], { kind: 'unknown-flag', flag: '-x', token: '-x' }],
    ['unknown shorthand in a group', ['-qz', '.'], { kind: 'unknown-flag', flag: '-z', token: '-qz' }],
  ];
  it.each(errors)('%s is left to buildx', (_n, argv, expected) => {
    expect(parseBuildArgv(argv)).toEqual(expected);
  });

  it.each([
    ['no context', ['--push'], /requires exactly 1 argument.*got 0/],
    ['two contexts', ['a', 'b'], /requires exactly 1 argument.*got 2/],
    ['missing value', ['.', '--tag'], /flag needs an argument: --tag/],
    ['missing short value', ['.', '-t'], /flag needs an argument: 't' in -t/],
    ['bad bool', ['--push=maybe', '.'], /invalid argument "maybe" for "--push" flag/],
  ])('usage error: %s', (_n, argv, re) => {
    const r = parseBuildArgv(argv);
    expect(r.kind).toBe('usage-error');
    expect(r.kind === 'usage-error' && r.message).toMatch(re);
  });

  it('answers --help and -h', () => {
    expect(parseBuildArgv(['--help'])).toEqual({ kind: 'help' });
    expect(parseBuildArgv(['-t', 'a', '-h'])).toEqual({ kind: 'help' });
  });

  it('uses flags a newer buildx reported', () => {
    const r = parseBuildArgv(['--newthing', 'v', '.'], { newthing: { kind: 'value' } });
    expect(r).toMatchObject({ kind: 'build', buildxArgs: ['--newthing', 'v', '.'], facts: { context: '.' } });
  });
});

describe('flagSpecFromHelp', () => {
  const help = `Options:
      --add-host strings              Add a custom host-to-IP mapping
      --policy stringArray            Policy configuration
      --push                          Shorthand for "--output=type=registry,unpack=false"
  -q, --quiet                         Suppress the build output
  -t, --tag stringArray               Image identifier
`;
  it.each([
    ['policy', { kind: 'value' }],
    ['push', { kind: 'bool' }],
    ['quiet', { kind: 'bool', short: 'q' }],
    ['tag', { kind: 'value', short: 't' }],
    ['add-host', { kind: 'value' }],
    ['absent', undefined],
  ])('%s', (name, expected) => {
    expect(flagSpecFromHelp(help, name)).toEqual(expected);
  });
});

describe('isRemoteContext', () => {
  it.each([
    ['.', false],
    ['./app', false],
    ['/abs/dir', false],
    ['-', false],
    ['https://github.com/o/r.git', true],
    ['git@github.com:o/r.git', true],
    ['github.com/o/r', true],
    ['git://example.com/r', true],
  ])('%s → %s', (ctx, remote) => expect(isRemoteContext(ctx)).toBe(remote));
});

describe('parseDuration', () => {
  it.each([
    ['90s', 90_000],
    ['10m', 600_000],
    ['1h30m', 5_400_000],
    ['250ms', 250],
    ['30', 30_000],
    ['1.5s', 1500],
    ['', undefined],
    ['10x', undefined],
    ['5m garbage', undefined],
    ['-5s', undefined],
  ])('%j → %s', (raw, ms) => expect(parseDuration(raw)).toBe(ms));
});
