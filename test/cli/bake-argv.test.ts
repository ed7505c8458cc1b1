import { describe, expect, it } from '@jest/globals';
import {
  BUILDX_BAKE_FLAGS,
  fitBakeRecord,
  type BakeRecordOptions,
  parseBakeArgv,
  parseBakeDefinition,
  planBake,
  type BakeDefinition,
} from '../../src/cli/bake-argv.js';

type Expect = { hoist?: Record<string, string>; buildx: string[]; facts?: Record<string, unknown> };

// `hoist bake` argv in → Hoist's options + the buildx bake argv out, which must be the user's, unchanged.
const cases: [string, string[], Expect][] = [
  [
    'no arguments: the default group',
    [],
    { buildx: [], facts: { targets: [], files: [], printOnly: false } },
  ],
  ['targets', ['app', 'worker'], { buildx: ['app', 'worker'], facts: { targets: ['app', 'worker'] } }],
  [
    '-f, --file and --file= repeated, in order',
    ['-f', 'a.hcl', '--file', 'b.json', '--file=c.hcl', '-fd.hcl', 'app'],
    {
      buildx: ['-f', 'a.hcl', '--file', 'b.json', '--file=c.hcl', '-fd.hcl', 'app'],
      facts: { files: ['a.hcl', 'b.json', 'c.hcl', 'd.hcl'], targets: ['app'] },
    },
  ],
  [
    '--set with a glob and = inside the value',
    ['--set', '*.platform=linux/amd64,linux/arm64', '--set=app.args.X=a=b'],
    {
      buildx: ['--set', '*.platform=linux/amd64,linux/arm64', '--set=app.args.X=a=b'],
      facts: { targets: [] },
    },
  ],
  ['--push', ['--push', 'app'], { buildx: ['--push', 'app'], facts: { push: true, load: false } }],
  ['--load=true', ['--load=true'], { buildx: ['--load=true'], facts: { load: true } }],
  ['--push=false', ['--push=false'], { buildx: ['--push=false'], facts: { push: false } }],
  ['--print', ['--print', 'app'], { buildx: ['--print', 'app'], facts: { printOnly: true } }],
  ['--print=false builds', ['--print=false'], { buildx: ['--print=false'], facts: { printOnly: false } }],
  ['--list targets', ['--list', 'targets'], { buildx: ['--list', 'targets'], facts: { printOnly: true } }],
  ['--list=variables', ['--list=variables'], { buildx: ['--list=variables'], facts: { printOnly: true } }],
  [
    'deprecated --list-targets',
    ['--list-targets'],
    { buildx: ['--list-targets'], facts: { printOnly: true } },
  ],
  [
    '--call check and --check (no value taken from the next word)',
    ['--call', 'check', '--check', 'app'],
    { buildx: ['--call', 'check', '--check', 'app'], facts: { targets: ['app'] } },
  ],
  [
    '--metadata-file',
    ['--metadata-file', '/tmp/m.json'],
    { buildx: ['--metadata-file', '/tmp/m.json'], facts: { metadataFile: '/tmp/m.json' } },
  ],
  [
    'every value flag of bake',
    [
      '--allow',
      'fs=*',
      '--provenance',
      'mode=max',
      '--sbom=true',
      '--var',
      'TAG=1',
      '--policy',
      'disabled=true',
      '--progress',
      'plain',
      '-j',
      '2',
      '--no-cache',
      '--pull',
      '-D',
    ],
    {
      buildx: [
        '--allow',
        'fs=*',
        '--provenance',
        'mode=max',
        '--sbom=true',
        '--var',
        'TAG=1',
        '--policy',
        'disabled=true',
        '--progress',
        'plain',
        '-j',
        '2',
        '--no-cache',
        '--pull',
        '-D',
      ],
      facts: { targets: [] },
    },
  ],
  [
    'a remote definition, then targets',
    ['https://github.com/o/r.git#main', 'app'],
    {
      buildx: ['https://github.com/o/r.git#main', 'app'],
      facts: { remote: 'https://github.com/o/r.git#main', targets: ['app'] },
    },
  ],
  [
    'a remote definition and a remote context',
    ['git@github.com:o/r.git', 'https://github.com/o/ctx.git', 'app'],
    {
      buildx: ['git@github.com:o/r.git', 'https://github.com/o/ctx.git', 'app'],
      facts: { remote: 'git@github.com:o/r.git', targets: ['app'] },
    },
  ],
  [
    "Hoist's flags are taken out, --builder too",
    [
      '--project',
      'web',
      '--api-url=https://h',
      '--wait',
      '30s',
      '--builder',
      'mine',
      '--build-platform',
      'linux/amd64',
      'app',
    ],
    {
      hoist: { project: 'web', apiUrl: 'https://h', wait: '30s', buildPlatform: 'linux/amd64' },
      buildx: ['app'],
      facts: { builder: 'mine', targets: ['app'] },
    },
  ],
  [
    'after --, everything is positional',
    ['--', '--push'],
    { buildx: ['--', '--push'], facts: { targets: ['--push'], push: false } },
  ],
  ['-f - reads standard input', ['-f', '-'], { buildx: ['-f', '-'], facts: { files: ['-'] } }],
];

describe('parseBakeArgv', () => {
  it.each(cases)('%s', (_name, argv, expected) => {
    const r = parseBakeArgv(argv);
    if (r.kind !== 'bake') throw new Error(`unexpected ${JSON.stringify(r)}`);
    expect(r.buildxArgs).toEqual(expected.buildx);
    expect(r.hoist).toEqual(expected.hoist ?? {});
    if (expected.facts) expect(r.facts).toMatchObject(expected.facts);
  });

  it('knows every flag of buildx bake --help', () => {
    for (const f of [
      'allow',
      'builder',
      'call',
      'check',
      'debug',
      'file',
      'jobs',
      'list',
      'load',
      'metadata-file',
      'no-cache',
      'policy',
      'print',
      'progress',
      'provenance',
      'pull',
      'push',
      'sbom',
      'set',
      'var',
    ]) {
      const r = parseBakeArgv([`--${f}=x`]);
      expect(r.kind === 'unknown-flag').toBe(false);
      if (f !== 'builder') expect(BUILDX_BAKE_FLAGS[f]).toBeDefined();
    }
  });

  it('help, unknown flags, usage errors', () => {
    expect(parseBakeArgv(['--help'])).toEqual({ kind: 'help' });
    expect(parseBakeArgv(['app', '-h'])).toEqual({ kind: 'help' });
    expect(parseBakeArgv(['--newthing', 'app'])).toEqual({
      kind: 'unknown-flag',
      flag: '--newthing',
      token: '--newthing',
    });
    expect(parseBakeArgv(['--set'])).toEqual({
      kind: 'usage-error',
      message: 'flag needs an argument: --set',
    });
    expect(parseBakeArgv(['--push=maybe'])).toEqual({
      kind: 'usage-error',
      message:
        'invalid argument "maybe" for "--push" flag: strconv.ParseBool: parsing "maybe": invalid syntax',
    });
  });

  it('a flag buildx reported is then parsed with its kind', () => {
    const r = parseBakeArgv(['--newthing', 'v', 'app'], { newthing: { kind: 'value' } });
    expect(r).toMatchObject({
      kind: 'bake',
      buildxArgs: ['--newthing', 'v', 'app'],
      facts: { targets: ['app'] },
    });
  });
});

describe('planBake', () => {
  const def = (target: BakeDefinition['target']): BakeDefinition => ({ target });

  const cases: [string, BakeDefinition, ReturnType<typeof planBake>][] = [
    [
      'no platforms anywhere: the server default',
      def({ app: { tags: ['r/app:1'] }, worker: {} }),
      {
        platforms: [],
        push: false,
        load: false,
        targets: [
          { name: 'app', platforms: [], tags: ['r/app:1'], push: false, load: false },
          { name: 'worker', platforms: [], tags: [], push: false, load: false },
        ],
      },
    ],
    [
      'every platform any target needs, once, in order',
      def({
        a: { platforms: ['linux/amd64'] },
        b: { platforms: ['linux/arm64', 'linux/amd64'] },
        c: {},
      }),
      {
        platforms: ['linux/amd64', 'linux/arm64'],
        push: false,
        load: false,
        targets: [
          { name: 'a', platforms: ['linux/amd64'], tags: [], push: false, load: false },
          { name: 'b', platforms: ['linux/arm64', 'linux/amd64'], tags: [], push: false, load: false },
          { name: 'c', platforms: [], tags: [], push: false, load: false },
        ],
      },
    ],
    [
      '"local" is this machine',
      def({ a: { platforms: ['local', 'linux/s390x'] } }),
      {
        platforms: ['linux/ppc64le', 'linux/s390x'],
        push: false,
        load: false,
        targets: [
          { name: 'a', platforms: ['linux/ppc64le', 'linux/s390x'], tags: [], push: false, load: false },
        ],
      },
    ],
    [
      'push and load from outputs, in both forms buildx prints',
      def({
        obj: { output: [{ type: 'image', push: 'true' }] },
        str: { output: ['type=registry'] },
        load: { output: [{ type: 'docker' }] },
        local: { output: ['./out'] },
      }),
      {
        platforms: [],
        push: true,
        load: true,
        targets: [
          { name: 'obj', platforms: [], tags: [], push: true, load: false },
          { name: 'str', platforms: [], tags: [], push: true, load: false },
          { name: 'load', platforms: [], tags: [], push: false, load: true },
          { name: 'local', platforms: [], tags: [], push: false, load: false },
        ],
      },
    ],
  ];
  it.each(cases)('%s', (_name, d, expected) => {
    expect(planBake(d, 'linux/ppc64le')).toEqual(expected);
  });

  it('parses what buildx prints, and says what is wrong otherwise', () => {
    expect(parseBakeDefinition('{"group":{},"target":{"a":{}}}')).toEqual({ group: {}, target: { a: {} } });
    expect(() => parseBakeDefinition('#1 loading')).toThrow('did not print a JSON bake definition');
    expect(() => parseBakeDefinition('{"group":{}}')).toThrow('no "target" object');
  });
});

describe('fitBakeRecord', () => {
  const record = (n: number, tags = 3): BakeRecordOptions => ({
    command: 'bake',
    definition: 'local',
    files: ['docker-bake.hcl'],
    targets: Array.from({ length: n }, (_, i) => ({
      name: `target-${i}`,
      platforms: ['linux/amd64', 'linux/arm64'],
      tags: Array.from({ length: tags }, (_, j) => `ghcr.io/acme/monorepo/service-${i}:tag-${j}`),
      push: true,
      load: false,
    })),
    target_platforms: ['linux/amd64', 'linux/arm64'],
    push: true,
    load: false,
  });
  const size = (o: BakeRecordOptions): number => Buffer.byteLength(JSON.stringify(o));

  it('keeps a record that fits as it is', () => {
    expect(fitBakeRecord(record(3), 16 * 1024)).toEqual(record(3));
  });

  it('drops the tags first, keeping every target and its platforms', () => {
    const fitted = fitBakeRecord(record(100), 16 * 1024);
    expect(size(record(100))).toBeGreaterThan(16 * 1024);
    expect(fitted.targets).toHaveLength(100);
    expect(fitted.targets[99]).toEqual({ name: 'target-99', platforms: ['linux/amd64', 'linux/arm64'] });
    expect(fitted.targets_omitted).toBeUndefined();
    expect(size(fitted) + 64).toBeLessThanOrEqual(16 * 1024);
  });

  it('then counts the targets it leaves out', () => {
    const fitted = fitBakeRecord(record(1000, 0), 16 * 1024);
    expect(fitted.targets.length).toBeGreaterThan(0);
    expect(fitted.targets.length + fitted.targets_omitted!).toBe(1000);
    expect(size(fitted) + 64).toBeLessThanOrEqual(16 * 1024);
  });
});
