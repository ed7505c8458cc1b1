// docker/bake-action's behaviour as a table: inputs (as the runner sets them, INPUT_*), the
// definition buildx printed and the buildx version in; the argv out, for the definition read
// (`--print`), the bake itself, and the `hoist bake` it becomes on Hoist.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import {
  definitionArgs,
  exporterType,
  getArgs,
  isRemoteRef,
  parseBuildxVersion,
  resolveProvenance,
  resolveSource,
  toHoistArgs,
  type BakeArgsContext,
  type BuildxVersion,
  type Definition,
} from '../../src/actions/bake/args.js';
import { bakeRefs, definitionLocalStates } from '../../src/actions/bake/checks.js';
import { getInputs, type Inputs } from '../../src/actions/bake/inputs.js';
import { checkFailure } from '../../src/actions/bake/main.js';
import { cachedStepsByTarget, renderBakeSummary, summaryInputs } from '../../src/actions/bake/summary.js';
import { ConfigurationError } from '../../src/lib/errors.js';
import { setInputs } from './env.js';
import { actionDefaults, REPO_ROOT } from './runner.js';

const META = '/tmp/hoist-bake-test/bake-metadata.json';
const RUN = 'https://github.com/octo-org/octo-repo/actions/runs/4242/attempts/1';
const GIT = 'https://github.com/octo-org/octo-repo.git#0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c';
const PMIN = `type=provenance,mode=min,inline-only=true,builder-id=${RUN}`;
const PMAX = `type=provenance,mode=max,builder-id=${RUN}`;

const ACTION_YML = path.join(REPO_ROOT, 'bake-action', 'action.yml');
const DEFAULTS = actionDefaults(ACTION_YML, 'ghs_test');

/** Two image targets and a cache-only lint target, as `buildx bake --print` shows them. */
const DEF: Definition = {
  target: {
    app: { context: '.', tags: ['r/app:1'] },
    lint: { context: '.', output: ['type=cacheonly'] },
    worker: { context: '.', tags: ['r/worker:1'], output: [{ type: 'image', push: 'true' }] },
  },
};

function inputsFor(values: Record<string, string>): Inputs {
  setInputs({ ...DEFAULTS, ...values });
  const raw = getInputs();
  return { ...raw, provenance: resolveProvenance(raw.provenance, RUN) };
}

function ctxFor(inputs: Inputs, over: Partial<BakeArgsContext> = {}): BakeArgsContext {
  return {
    source: resolveSource(inputs.source, GIT, (p) => p === '.' || p === './bake'),
    metadataFile: META,
    runUrl: RUN,
    repoPrivate: false,
    noDefaultAttestations: false,
    buildxVersion: [0, 38, 2],
    buildkitAttestations: true,
    ...over,
  };
}

afterAll(() => setInputs({}));

type Case = [string, Record<string, string>, Partial<BakeArgsContext>, Definition, string[]];
const v = (s: string): BuildxVersion => parseBuildxVersion(`github.com/docker/buildx v${s} 0123abc`);

// prettier-ignore
const cases: Case[] = [
  ['source . , public repository: fs=* allowed, max provenance for every target',
    { source: '.' }, {}, DEF,
    ['bake', '--allow', 'fs=*', '--metadata-file', META,
      '--set', `app.attest=${PMAX}`, '--set', `lint.attest=${PMAX}`, '--set', `worker.attest=${PMAX}`]],
  ['private repository: min and inline-only',
    { source: '.' }, { repoPrivate: true }, { target: { app: {} } },
    ['bake', '--allow', 'fs=*', '--metadata-file', META, '--set', `app.attest=${PMIN}`]],
  ['no source: the Git context of the commit is the remote definition',
    { files: 'docker-bake.hcl' }, {}, { target: { app: {} } },
    ['bake', GIT, '--allow', 'fs=*', '--file', 'docker-bake.hcl', '--metadata-file', META, '--set', `app.attest=${PMAX}`]],
  ['{{defaultContext}}:subdir',
    { source: '{{defaultContext}}:sub' }, {}, { target: { app: {} } },
    ['bake', `${GIT}:sub`, '--allow', 'fs=*', '--metadata-file', META, '--set', `app.attest=${PMAX}`]],
  ['targets, files and sets (quotes kept in sets), in docker’s order',
    {
      source: '.', targets: 'app,worker', files: './a.hcl\n./b.json',
      set: '*.platform=linux/amd64,linux/arm64\n*.output=type=image,"name=r/a:1,r/a:2",push=true',
    }, {}, { target: { app: {}, worker: {} } },
    ['bake', '--allow', 'fs=*', '--file', './a.hcl', '--file', './b.json',
      '--set', '*.platform=linux/amd64,linux/arm64', '--set', '*.output=type=image,"name=r/a:1,r/a:2",push=true',
      '--metadata-file', META, '--set', `app.attest=${PMAX}`, '--set', `worker.attest=${PMAX}`, 'app', 'worker']],
  ['a set with # and = in its value',
    { source: '.', set: '*.labels.foo=bar=#baz' }, {}, { target: { app: {} } },
    ['bake', '--allow', 'fs=*', '--set', '*.labels.foo=bar=#baz', '--metadata-file', META, '--set', `app.attest=${PMAX}`]],
  ['allow list: the user’s first, fs=* last',
    { source: '.', allow: 'network.host,security.insecure' }, {}, { target: { app: {} } },
    ['bake', '--allow', 'network.host', '--allow', 'security.insecure', '--allow', 'fs=*', '--metadata-file', META, '--set', `app.attest=${PMAX}`]],
  ['buildx 0.17: allow without fs=*',
    { source: '.', allow: 'network.host' }, { buildxVersion: v('0.17.1') }, { target: { app: {} } },
    ['bake', '--allow', 'network.host', '--metadata-file', META, '--set', `app.attest=${PMAX}`]],
  ['buildx 0.16: no --allow at all',
    { source: '.', allow: 'network.host' }, { buildxVersion: v('0.16.2') }, { target: { app: {} } },
    ['bake', '--metadata-file', META, '--set', `app.attest=${PMAX}`]],
  ['buildx 0.9: no attestations',
    { source: '.' }, { buildxVersion: v('0.9.1') }, DEF,
    ['bake', '--metadata-file', META]],
  ['buildx 0.5: no metadata file either',
    { source: '.' }, { buildxVersion: v('0.5.1') }, DEF,
    ['bake']],
  ['a development buildx (a commit) counts as new',
    { source: '.' }, { buildxVersion: undefined }, { target: { app: {} } },
    ['bake', '--allow', 'fs=*', '--metadata-file', META, '--set', `app.attest=${PMAX}`]],
  ['call check',
    { source: '.', call: 'check' }, {}, { target: { app: {} } },
    ['bake', '--allow', 'fs=*', '--call', 'check', '--metadata-file', META, '--set', `app.attest=${PMAX}`]],
  ['vars, quotes kept',
    { source: '.', vars: 'TAG=1\nLIST="a,b"' }, {}, { target: { app: {} } },
    ['bake', '--allow', 'fs=*', '--var', 'TAG=1', '--var', 'LIST="a,b"', '--metadata-file', META, '--set', `app.attest=${PMAX}`]],
  ['provenance true: the run URL as builder-id',
    { source: '.', provenance: 'true' }, {}, DEF,
    ['bake', '--allow', 'fs=*', '--metadata-file', META, '--provenance', `builder-id=${RUN}`]],
  ['provenance mode=max',
    { source: '.', provenance: 'mode=max' }, {}, DEF,
    ['bake', '--allow', 'fs=*', '--metadata-file', META, '--provenance', `mode=max,builder-id=${RUN}`]],
  ['provenance false',
    { source: '.', provenance: 'false' }, {}, DEF,
    ['bake', '--allow', 'fs=*', '--metadata-file', META, '--provenance', 'false']],
  ['provenance with its own builder-id',
    { source: '.', provenance: 'builder-id=foo' }, {}, DEF,
    ['bake', '--allow', 'fs=*', '--metadata-file', META, '--provenance', 'builder-id=foo']],
  ['a target with its own provenance keeps it; the others get the default',
    { source: '.' }, {},
    { target: { a: { attest: ['type=provenance,mode=max'] }, b: { attest: [{ type: 'sbom' }] }, c: { attest: [{ type: 'provenance', disabled: 'true' }] } } },
    ['bake', '--allow', 'fs=*', '--metadata-file', META, '--set', `b.attest=${PMAX}`]],
  ['load: no default provenance',
    { source: '.', load: 'true' }, {}, DEF,
    ['bake', '--allow', 'fs=*', '--metadata-file', META, '--load']],
  ['a target loading into docker: no default provenance for any',
    { source: '.' }, {}, { target: { a: { output: ['type=docker'] }, b: {} } },
    ['bake', '--allow', 'fs=*', '--metadata-file', META]],
  ['BUILDX_NO_DEFAULT_ATTESTATIONS',
    { source: '.' }, { noDefaultAttestations: true }, DEF,
    ['bake', '--allow', 'fs=*', '--metadata-file', META]],
  ['a builder with an old BuildKit: no default provenance',
    { source: '.' }, { buildkitAttestations: false }, DEF,
    ['bake', '--allow', 'fs=*', '--metadata-file', META]],
  ['sbom',
    { source: '.', sbom: 'true', provenance: 'false' }, {}, DEF,
    ['bake', '--allow', 'fs=*', '--metadata-file', META, '--provenance', 'false', '--sbom', 'true']],
  ['the common flags after, in docker’s order, then the targets',
    { source: '.', 'no-cache': 'true', builder: 'mine', pull: 'true', push: 'true', targets: 'default' }, {}, { target: { app: {} } },
    ['bake', '--allow', 'fs=*', '--metadata-file', META, '--set', `app.attest=${PMAX}`,
      '--no-cache', '--builder', 'mine', '--pull', '--push', 'default']],
  ['a remote source URL',
    { source: 'https://github.com/o/defs.git#v1', targets: 'app' }, {}, { target: { app: {} } },
    ['bake', 'https://github.com/o/defs.git#v1', '--allow', 'fs=*', '--metadata-file', META, '--set', `app.attest=${PMAX}`, 'app']],
];

describe('getArgs: inputs → buildx bake argv, as docker/bake-action builds it', () => {
  it.each(cases)('%s', (_name, values, over, def, expected) => {
    const inputs = inputsFor(values);
    expect(getArgs(inputs, def, ctxFor(inputs, over))).toEqual(expected);
  });

  it('vars and call need a recent buildx, and say which', () => {
    const withVars = inputsFor({ source: '.', vars: 'A=1' });
    expect(() => getArgs(withVars, DEF, ctxFor(withVars, { buildxVersion: v('0.30.0') }))).toThrow(
      /input 'vars' needs buildx 0\.31\.0 or later/,
    );
    const withCall = inputsFor({ source: '.', call: 'check' });
    expect(() => getArgs(withCall, DEF, ctxFor(withCall, { buildxVersion: v('0.15.0') }))).toThrow(
      ConfigurationError,
    );
  });
});

// prettier-ignore
const printCases: [string, Record<string, string>, string[]][] = [
  ['local', { source: '.' }, ['bake', '--print']],
  ['everything that changes targets, and no --call',
    { source: '.', files: 'a.hcl', set: 'app.tags=x', vars: 'V=1', allow: 'network.host', call: 'check',
      load: 'true', 'no-cache': 'true', provenance: 'mode=max', push: 'true', sbom: 'true', targets: 'app,worker' },
    ['bake', '--file', 'a.hcl', '--set', 'app.tags=x', '--var', 'V=1', '--allow', 'network.host', '--load',
      '--no-cache', '--provenance', `mode=max,builder-id=${RUN}`, '--push', '--sbom', 'true', '--print', 'app', 'worker']],
  ['the remote definition first', { files: 'x.hcl' }, ['bake', GIT, '--file', 'x.hcl', '--print']],
];

describe('definitionArgs: how docker’s toolkit reads the definition', () => {
  it.each(printCases)('%s', (_name, values, expected) => {
    const inputs = inputsFor(values);
    expect(definitionArgs(inputs, ctxFor(inputs).source)).toEqual(expected);
  });

  it('refuses two remote definitions', () => {
    const inputs = inputsFor({ files: 'https://example.com/other.hcl' });
    expect(() => definitionArgs(inputs, ctxFor(inputs).source)).toThrow(/only one remote bake definition/);
  });
});

describe('the source input', () => {
  it.each([
    ['', { remoteRef: GIT }],
    ['.', { workdir: '.' }],
    ['./bake', { workdir: './bake' }],
    ['git@github.com:o/r.git', { remoteRef: 'git@github.com:o/r.git' }],
    ['github.com/o/r', { remoteRef: 'github.com/o/r' }],
    ['git://example.com/r.git', { remoteRef: 'git://example.com/r.git' }],
  ])('%j', (input, expected) => {
    expect(resolveSource(input, GIT, (p) => p === '.' || p === './bake')).toEqual(expected);
  });

  it('a missing directory is an error that says what to give', () => {
    expect(() => resolveSource('./nope', GIT, () => false)).toThrow(
      /input 'source': \.\/nope does not exist or is not a directory; give the directory/,
    );
  });

  it('tells remote references as docker does', () => {
    expect(isRemoteRef('https://x/y')).toBe(true);
    expect(isRemoteRef('ftp://x/y')).toBe(false);
    expect(isRemoteRef('./x')).toBe(false);
  });
});

describe('outputs of a definition', () => {
  it.each([
    ['type=docker', 'docker'],
    ['type=image,push=true', 'image'],
    ['./out', 'local'],
    ['-', 'tar'],
    ['type=local,dest=out', 'local'],
  ])('%s is %s', (entry, type) => expect(exporterType(entry)).toBe(type));
  it('reads the attribute form too', () => expect(exporterType({ type: 'registry' })).toBe('registry'));
});

describe('toHoistArgs', () => {
  it('docker’s argv without --builder, with Hoist’s flags after bake', () => {
    const inputs = inputsFor({ source: '.', builder: 'mine', push: 'true', targets: 'app' });
    expect(
      toHoistArgs(inputs, { target: { app: {} } }, ctxFor(inputs), {
        project: 'web',
        apiUrl: 'https://h',
        buildPlatform: 'linux/amd64',
      }),
    ).toEqual([
      'bake',
      '--project',
      'web',
      '--api-url',
      'https://h',
      '--build-platform',
      'linux/amd64',
      '--allow',
      'fs=*',
      '--metadata-file',
      META,
      '--set',
      `app.attest=${PMAX}`,
      '--push',
      'app',
    ]);
  });
});

describe('buildx version', () => {
  it.each([
    ['github.com/docker/buildx v0.38.2 a1b2c3d', [0, 38, 2]],
    ['github.com/docker/buildx 0.12.1 a1b2c3d', [0, 12, 1]],
    ['github.com/docker/buildx v0.13.0-desktop.1 abc', [0, 13, 0]],
    ['github.com/docker/buildx 5e1bd63 5e1bd63', undefined],
  ])('%s', (out, expected) => expect(parseBuildxVersion(out)).toEqual(expected));
});

describe('summary', () => {
  const plain = [
    '#1 [internal] load local bake definitions',
    '#5 [app base 1/2] FROM r/debian',
    '#5 CACHED',
    '#6 [app base 2/2] RUN echo shared',
    '#6 DONE 0.2s',
    '#7 [app app 1/1] RUN echo app',
    '#7 CACHED',
    '#8 [worker worker 1/1] RUN echo worker',
    '#8 DONE 0.1s',
    '#9 [worker internal] load .dockerignore',
  ].join('\n');

  it('counts cached steps per target; a shared step once, under the first target', () => {
    expect(cachedStepsByTarget(plain, ['app', 'worker'])).toEqual({
      app: { cached: 2, total: 3 },
      worker: { cached: 0, total: 1 },
    });
    expect(cachedStepsByTarget('#5 [2/2] RUN x\n#5 CACHED', ['only'])).toEqual({
      only: { cached: 1, total: 1 },
    });
  });

  it('shows the source first and leaves tokens and empty inputs out', () => {
    const inputs = inputsFor({ source: '.', token: 'hoist_prj_secret', targets: 'app', push: 'true' });
    const shown = summaryInputs(inputs, { workdir: '.' });
    expect(Object.keys(shown)[0]).toBe('source');
    expect(shown).toEqual({ source: '.', push: true, targets: ['app'], fallback: 'auto', summary: true });
    expect(JSON.stringify(shown)).not.toContain('secret');
  });

  it('renders one row per target; an input cannot break out of its code block', () => {
    const md = renderBakeSummary({
      builder: 'hoist',
      where: 'Hoist at https://h (project web)',
      ok: true,
      durationMs: 12_300,
      targets: [
        {
          name: 'app',
          platforms: ['linux/amd64'],
          tags: ['r/app:1'],
          digest: 'sha256:ab',
          steps: { cached: 2, total: 3 },
        },
        { name: 'worker', platforms: [], tags: [], digest: undefined, steps: undefined },
      ],
      buildId: 'bld_1',
      buildUrl: 'https://h/builds/bld_1',
      inputs: { set: ['```</details><script>'] },
      definition: { target: {} },
    });
    expect(md).toContain('## Hoist bake summary');
    expect(md).toContain(
      '<tr><td><code>app</code></td><td><code>linux/amd64</code></td><td><code>r/app:1</code></td><td><code>sha256:ab</code></td><td>2 of 3</td></tr>',
    );
    expect(md).toContain(
      '<tr><td><code>worker</code></td><td>default</td><td>none</td><td>none</td><td>unknown</td></tr>',
    );
    expect(md).toContain('<a href="https://h/builds/bld_1">bld_1</a>');
    expect(md).toContain('````json');
  });

  it('words a failed check as docker does', () => {
    expect(
      checkFailure(
        'Check complete, 1 warning has been found!\nCheck complete, 2 warnings have been found!\n',
      ),
    ).toBe('Check complete, 3 warnings have been found!');
    expect(checkFailure('Check complete, 1 warning has been found!\n')).toBe(
      'Check complete, 1 warning has been found!',
    );
    expect(checkFailure('ERROR: bad\nmore')).toBe('ERROR: bad');
  });
});

// docker/bake-action's action.yml: its inputs and defaults.
const DOCKER_INPUTS = [
  'builder',
  'allow',
  'call',
  'files',
  'no-cache',
  'pull',
  'load',
  'provenance',
  'push',
  'sbom',
  'set',
  'source',
  'targets',
  'vars',
  'github-token',
];

describe('bake-action/action.yml', () => {
  const text = fs.readFileSync(ACTION_YML, 'utf8');
  const names = (section: string): string[] => {
    const rest = text.slice(text.indexOf(`\n${section}:\n`) + section.length + 3);
    return [...rest.slice(0, rest.search(/\n\S/)).matchAll(/^ {2}([a-z0-9-]+):/gm)].map((m) => m[1]!);
  };

  it('has every docker/bake-action input, in docker’s order, with docker’s defaults, then Hoist’s', () => {
    expect(names('inputs').slice(0, DOCKER_INPUTS.length)).toEqual(DOCKER_INPUTS);
    expect(DEFAULTS).toEqual({
      'no-cache': 'false',
      pull: 'false',
      load: 'false',
      push: 'false',
      'github-token': 'ghs_test',
      fallback: 'auto',
      summary: 'true',
    });
  });

  it('declares exactly the inputs getInputs reads, and docker’s output plus Hoist’s', () => {
    setInputs(DEFAULTS);
    expect(Object.keys(getInputs()).sort()).toEqual(names('inputs').sort());
    expect(names('outputs')).toEqual(['metadata', 'build-id', 'build-url', 'builder']);
  });

  it('points a node24 main and post into dist/bake', () => {
    expect(text).toMatch(
      /using: 'node24'\n {2}main: '\.\.\/dist\/bake\/index\.js'\n {2}post: '\.\.\/dist\/bake\/index\.js'/,
    );
  });
});

describe('build checks of a bake', () => {
  it('reads each target’s build ref from the metadata file', () => {
    expect(
      bakeRefs({
        app: { 'buildx.build.ref': 'b/b0/abc', 'containerimage.digest': 'sha256:1' },
        worker: { 'buildx.build.ref': 'b/b0/def' },
        'buildx.build.warnings': [],
      }),
    ).toEqual(['b/b0/abc', 'b/b0/def']);
    expect(bakeRefs(undefined)).toEqual([]);
  });

  it('finds each target’s Dockerfile relative to its context, as bake reads it', () => {
    expect(
      definitionLocalStates(
        {
          target: {
            a: {},
            b: { context: 'svc', dockerfile: 'build/Dockerfile.b' },
            c: { context: 'https://github.com/o/r.git#main', dockerfile: 'x.Dockerfile' },
            d: { context: '.', 'dockerfile-inline': 'FROM scratch' },
            e: { context: 'svc', dockerfile: '/abs/Dockerfile' },
          },
        },
        '/ws',
      ),
    ).toEqual([
      { LocalPath: '/ws', DockerfilePath: '/ws/Dockerfile' },
      { LocalPath: '/ws/svc', DockerfilePath: '/ws/svc/build/Dockerfile.b' },
      { LocalPath: 'https://github.com/o/r.git#main', DockerfilePath: 'x.Dockerfile' },
      { LocalPath: '/ws/svc', DockerfilePath: '/abs/Dockerfile' },
    ]);
  });
});
