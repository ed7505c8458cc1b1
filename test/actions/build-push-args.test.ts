import { afterAll, describe, expect, it } from '@jest/globals';
import { getInputs } from '../../src/actions/build-push/inputs.js';
import { getArgs, planBuild, toHoistArgs, type ArgsContext } from '../../src/actions/build-push/args.js';
import { ConfigurationError } from '../../src/lib/errors.js';
import { setInputs } from './env.js';

const T = '/tmp/hoist-test';
const IID = `${T}/iidfile.txt`;
const META = `${T}/metadata.json`;
const RUN = 'https://github.com/octo-org/octo-repo/actions/runs/123456789/attempts/1';
const DEF = 'https://github.com/octo-org/octo-repo.git#0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c';
const PMAX = `type=provenance,mode=max,builder-id=${RUN}`;
const PMIN = `type=provenance,mode=min,inline-only=true,builder-id=${RUN}`;

const baseCtx: ArgsContext = {
  defaultContext: DEF,
  tmpDir: T,
  serverUrl: 'https://github.com',
  runUrl: RUN,
  repoPrivate: false,
  noDefaultAttestations: false,
  buildkitAttestations: true,
  fileExists: (f) => f === './secret.txt' || f === '/etc/hoist/npmrc',
};

// The runner sets every input that has a default in action.yml.
const DEFAULTS: Record<string, string> = {
  load: 'false',
  'no-cache': 'false',
  pull: 'false',
  push: 'false',
  fallback: 'auto',
  summary: 'true',
};

function argsFor(inputs: Record<string, string>, ctx: Partial<ArgsContext> = {}): string[] {
  setInputs({ ...DEFAULTS, ...inputs });
  return getArgs(getInputs(), { ...baseCtx, ...ctx });
}

afterAll(() => setInputs({}));

type Case = [string, Record<string, string>, Partial<ArgsContext>, string[]];

// prettier-ignore
const cases: Case[] = [
  ['path context, public repository: provenance mode=max',
    { context: '.' }, {},
    ['build', '--iidfile', IID, '--attest', PMAX, '--metadata-file', META, '.']],
  ['path context, private repository: provenance mode=min,inline-only',
    { context: '.' }, { repoPrivate: true },
    ['build', '--iidfile', IID, '--attest', PMIN, '--metadata-file', META, '.']],
  ['load: no default provenance',
    { context: '.', load: 'true' }, {},
    ['build', '--iidfile', IID, '--load', '--metadata-file', META, '.']],
  ['load in a private repository: still no default provenance',
    { context: '.', load: 'True' }, { repoPrivate: true },
    ['build', '--iidfile', IID, '--load', '--metadata-file', META, '.']],
  ['docker exporter output: no default provenance',
    { context: '.', outputs: 'type=docker' }, {},
    ['build', '--iidfile', IID, '--output', 'type=docker', '--metadata-file', META, '.']],
  ['local exporter: no iidfile',
    { context: '.', outputs: 'type=local,dest=./out' }, {},
    ['build', '--output', 'type=local,dest=./out', '--attest', PMAX, '--metadata-file', META, '.']],
  ['tar exporter: no iidfile',
    { context: '.', outputs: 'type=tar,dest=/tmp/image.tar' }, {},
    ['build', '--output', 'type=tar,dest=/tmp/image.tar', '--attest', PMAX, '--metadata-file', META, '.']],
  ['output without type= is a local export',
    { context: '.', outputs: './out-dir' }, {},
    ['build', '--output', './out-dir', '--attest', PMAX, '--metadata-file', META, '.']],
  ['quoted outputs keep their quotes',
    { context: '.', outputs: 'type=image,"name=localhost:5000/app:1,localhost:5000/app:2",push-by-digest=true,push=true' }, {},
    ['build', '--iidfile', IID, '--output', 'type=image,"name=localhost:5000/app:1,localhost:5000/app:2",push-by-digest=true,push=true', '--attest', PMAX, '--metadata-file', META, '.']],
  ['two outputs, one per line',
    { context: '.', outputs: 'type=registry,name=r/app:1\ntype=local,dest=out' }, {},
    ['build', '--output', 'type=registry,name=r/app:1', '--output', 'type=local,dest=out', '--attest', PMAX, '--metadata-file', META, '.']],
  ['provenance: true',
    { context: '.', provenance: 'true' }, {},
    ['build', '--iidfile', IID, '--attest', `type=provenance,builder-id=${RUN}`, '--metadata-file', META, '.']],
  ['provenance: false disables it',
    { context: '.', provenance: 'false' }, {},
    ['build', '--iidfile', IID, '--attest', 'type=provenance,disabled=true', '--metadata-file', META, '.']],
  ['provenance: mode=max in a private repository adds the builder-id',
    { context: '.', provenance: 'mode=max' }, { repoPrivate: true },
    ['build', '--iidfile', IID, '--attest', `type=provenance,mode=max,builder-id=${RUN}`, '--metadata-file', META, '.']],
  ['provenance with its own builder-id keeps it',
    { context: '.', provenance: 'mode=min,builder-id=https://ci.example/1' }, {},
    ['build', '--iidfile', IID, '--attest', 'type=provenance,mode=min,builder-id=https://ci.example/1', '--metadata-file', META, '.']],
  ['explicit provenance is kept when loading',
    { context: '.', load: 'true', provenance: 'mode=max' }, {},
    ['build', '--iidfile', IID, '--attest', `type=provenance,mode=max,builder-id=${RUN}`, '--load', '--metadata-file', META, '.']],
  ['provenance in attests replaces the default',
    { context: '.', attests: 'type=provenance,mode=min' }, {},
    ['build', '--iidfile', IID, '--attest', `type=provenance,mode=min,builder-id=${RUN}`, '--metadata-file', META, '.']],
  ['the provenance input wins over attests',
    { context: '.', provenance: 'false', attests: 'type=provenance,mode=max' }, {},
    ['build', '--iidfile', IID, '--attest', 'type=provenance,disabled=true', '--metadata-file', META, '.']],
  ['sbom: true, and the sbom of attests is dropped',
    { context: '.', sbom: 'true', attests: 'type=sbom,generator=other' }, {},
    ['build', '--iidfile', IID, '--attest', PMAX, '--attest', 'type=sbom,disabled=false', '--metadata-file', META, '.']],
  ['sbom attributes',
    { context: '.', sbom: 'generator=docker/scout-sbom-indexer:1' }, {},
    ['build', '--iidfile', IID, '--attest', PMAX, '--attest', 'type=sbom,generator=docker/scout-sbom-indexer:1', '--metadata-file', META, '.']],
  ['attests: sbom and provenance, one per line',
    { context: '.', attests: 'type=sbom,generator=image\ntype=provenance,mode=max' }, {},
    ['build', '--iidfile', IID, '--attest', 'type=sbom,generator=image', '--attest', `type=provenance,mode=max,builder-id=${RUN}`, '--metadata-file', META, '.']],
  ['BUILDX_NO_DEFAULT_ATTESTATIONS: no default provenance',
    { context: '.' }, { noDefaultAttestations: true },
    ['build', '--iidfile', IID, '--metadata-file', META, '.']],
  ['builder older than BuildKit 0.11 (e.g. the docker driver of dockerd 20.10): no default provenance',
    { context: '.' }, { buildkitAttestations: false },
    ['build', '--iidfile', IID, '--metadata-file', META, '.']],
  ['old builder, private repository: no default provenance either',
    { context: '.', tags: 'a/b:1' }, { buildkitAttestations: false, repoPrivate: true },
    ['build', '--iidfile', IID, '--tag', 'a/b:1', '--metadata-file', META, '.']],
  ['old builder: the provenance input is still passed, as docker does',
    { context: '.', provenance: 'mode=max' }, { buildkitAttestations: false },
    ['build', '--iidfile', IID, '--attest', `type=provenance,mode=max,builder-id=${RUN}`, '--metadata-file', META, '.']],
  ['old builder: attests are still passed',
    { context: '.', attests: 'type=provenance,mode=min' }, { buildkitAttestations: false },
    ['build', '--iidfile', IID, '--attest', `type=provenance,mode=min,builder-id=${RUN}`, '--metadata-file', META, '.']],
  ['old builder: sbom is still passed, without default provenance',
    { context: '.', sbom: 'true' }, { buildkitAttestations: false },
    ['build', '--iidfile', IID, '--attest', 'type=sbom,disabled=false', '--metadata-file', META, '.']],
  ['multi-line build-args keep commas and newlines',
    { context: '.', 'build-args': 'MY_ARG=val1,val2,val3\nARG=val\n"MULTILINE=aaaa\nbbbb\nccc"' }, {},
    ['build', '--build-arg', 'MY_ARG=val1,val2,val3', '--build-arg', 'ARG=val', '--build-arg', 'MULTILINE=aaaa\nbbbb\nccc', '--iidfile', IID, '--attest', PMAX, '--metadata-file', META, '.']],
  ['tags split on commas and newlines, trimmed',
    { context: '.', tags: 'name/app:7.4, name/app:latest\nname/app:v1\n' }, {},
    ['build', '--iidfile', IID, '--attest', PMAX, '--tag', 'name/app:7.4', '--tag', 'name/app:latest', '--tag', 'name/app:v1', '--metadata-file', META, '.']],
  ['platforms joined into one flag',
    { context: '.', platforms: 'linux/amd64\nlinux/arm64,linux/arm/v7' }, {},
    ['build', '--iidfile', IID, '--platform', 'linux/amd64,linux/arm64,linux/arm/v7', '--attest', PMAX, '--metadata-file', META, '.']],
  ['add-hosts split on commas',
    { context: '.', 'add-hosts': 'docker:10.180.0.1,foo:10.0.0.2' }, {},
    ['build', '--add-host', 'docker:10.180.0.1', '--add-host', 'foo:10.0.0.2', '--iidfile', IID, '--attest', PMAX, '--metadata-file', META, '.']],
  ['allow split on commas',
    { context: '.', allow: 'network.host,security.insecure' }, {},
    ['build', '--allow', 'network.host', '--allow', 'security.insecure', '--iidfile', IID, '--attest', PMAX, '--metadata-file', META, '.']],
  ['annotations one per line, commas kept',
    { context: '.', annotations: 'index:org.opencontainers.image.title=a,b\nmanifest:foo=bar' }, {},
    ['build', '--annotation', 'index:org.opencontainers.image.title=a,b', '--annotation', 'manifest:foo=bar', '--iidfile', IID, '--attest', PMAX, '--metadata-file', META, '.']],
  ['build-contexts with {{defaultContext}}',
    { context: '.', 'build-contexts': 'alpine=docker-image://alpine:3.20\nsrc={{defaultContext}}:src' }, {},
    ['build', '--build-context', 'alpine=docker-image://alpine:3.20', '--build-context', `src=${DEF}:src`, '--iidfile', IID, '--attest', PMAX, '--metadata-file', META, '.']],
  ['builder comes with the common flags',
    { context: '.', builder: 'mybuilder' }, {},
    ['build', '--iidfile', IID, '--attest', PMAX, '--builder', 'mybuilder', '--metadata-file', META, '.']],
  ['cache-from and cache-to, one per line',
    { context: '.', 'cache-from': 'type=gha\nuser/app:cache', 'cache-to': 'type=gha,mode=max' }, {},
    ['build', '--cache-from', 'type=gha', '--cache-from', 'user/app:cache', '--cache-to', 'type=gha,mode=max', '--iidfile', IID, '--attest', PMAX, '--metadata-file', META, '.']],
  ['call and cgroup-parent',
    { context: '.', call: 'check', 'cgroup-parent': 'hoist.slice' }, {},
    ['build', '--call', 'check', '--cgroup-parent', 'hoist.slice', '--iidfile', IID, '--attest', PMAX, '--metadata-file', META, '.']],
  ['default context is the pinned Git context, with GIT_AUTH_TOKEN for the server host',
    { 'github-token': 'ghs_abc' }, {},
    ['build', '--iidfile', IID, '--attest', PMAX, '--secret', `id=GIT_AUTH_TOKEN.github.com,src=${T}/secret-1`, '--metadata-file', META, DEF]],
  ['{{defaultContext}}:subdir is templated and keeps GIT_AUTH_TOKEN',
    { context: '{{defaultContext}}:subdir', 'github-token': 'ghs_abc' }, {},
    ['build', '--iidfile', IID, '--attest', PMAX, '--secret', `id=GIT_AUTH_TOKEN.github.com,src=${T}/secret-1`, '--metadata-file', META, `${DEF}:subdir`]],
  ['a path context gets no GIT_AUTH_TOKEN',
    { context: '.', 'github-token': 'ghs_abc' }, {},
    ['build', '--iidfile', IID, '--attest', PMAX, '--metadata-file', META, '.']],
  ['another Git URL gets no GIT_AUTH_TOKEN',
    { context: 'https://github.com/other/repo.git#main', 'github-token': 'ghs_abc' }, {},
    ['build', '--iidfile', IID, '--attest', PMAX, '--metadata-file', META, 'https://github.com/other/repo.git#main']],
  ['a user GIT_AUTH_TOKEN secret replaces the automatic one',
    { 'github-token': 'ghs_abc', secrets: 'GIT_AUTH_TOKEN=mine' }, {},
    ['build', '--iidfile', IID, '--attest', PMAX, '--secret', `id=GIT_AUTH_TOKEN,src=${T}/secret-1`, '--metadata-file', META, DEF]],
  ['GitHub Enterprise: the token is scoped to its host and port',
    { 'github-token': 'ghs_abc' }, { serverUrl: 'https://ghe.example.com:8443', defaultContext: 'https://ghe.example.com:8443/o/r.git#abc' },
    ['build', '--iidfile', IID, '--attest', PMAX, '--secret', `id=GIT_AUTH_TOKEN.ghe.example.com:8443,src=${T}/secret-1`, '--metadata-file', META, 'https://ghe.example.com:8443/o/r.git#abc']],
  ['file',
    { context: './app', file: './app/Dockerfile.dev' }, {},
    ['build', '--file', './app/Dockerfile.dev', '--iidfile', IID, '--attest', PMAX, '--metadata-file', META, './app']],
  ['labels one per line, commas kept',
    { context: '.', labels: 'org.opencontainers.image.title=a,b\nfoo=bar' }, {},
    ['build', '--iidfile', IID, '--label', 'org.opencontainers.image.title=a,b', '--label', 'foo=bar', '--attest', PMAX, '--metadata-file', META, '.']],
  ['network, no-cache, pull and push come after the metadata file',
    { context: '.', network: 'host', 'no-cache': 'true', pull: 'true', push: 'true' }, {},
    ['build', '--iidfile', IID, '--attest', PMAX, '--metadata-file', META, '--network', 'host', '--no-cache', '--pull', '--push', '.']],
  ['no-cache-filters split on commas',
    { context: '.', 'no-cache-filters': 'stage1,stage2' }, {},
    ['build', '--iidfile', IID, '--no-cache-filter', 'stage1', '--no-cache-filter', 'stage2', '--attest', PMAX, '--metadata-file', META, '.']],
  ['secrets: one file each, multi-line values kept',
    { context: '.', secrets: 'NPM_TOKEN=abcd\n"MYSECRET=aaa\nbbb"\nFOO=bar,baz' }, {},
    ['build', '--iidfile', IID, '--attest', PMAX, '--secret', `id=NPM_TOKEN,src=${T}/secret-1`, '--secret', `id=MYSECRET,src=${T}/secret-2`, '--secret', `id=FOO,src=${T}/secret-3`, '--metadata-file', META, '.']],
  ['a secret with a trailing newline',
    { context: '.', secrets: '"PRIVATE_SSH_KEY=test\n\n"' }, {},
    ['build', '--iidfile', IID, '--attest', PMAX, '--secret', `id=PRIVATE_SSH_KEY,src=${T}/secret-1`, '--metadata-file', META, '.']],
  ['an invalid secret is skipped',
    { context: '.', secrets: 'NOT_A_PAIR\nOK=1' }, {},
    ['build', '--iidfile', IID, '--attest', PMAX, '--secret', `id=OK,src=${T}/secret-1`, '--metadata-file', META, '.']],
  ['secret-envs split on commas, before the file flag',
    { context: '.', file: 'Dockerfile', 'secret-envs': 'MY_SECRET=MY_ENV_VAR,OTHER=ENV2' }, {},
    ['build', '--secret', 'id=MY_SECRET,env=MY_ENV_VAR', '--secret', 'id=OTHER,env=ENV2', '--file', 'Dockerfile', '--iidfile', IID, '--attest', PMAX, '--metadata-file', META, '.']],
  ['secret-files: present ones only',
    { context: '.', 'secret-files': 'MY_SECRET=./secret.txt\nMISSING=./nope.txt\nNPMRC=/etc/hoist/npmrc' }, {},
    ['build', '--iidfile', IID, '--attest', PMAX, '--secret', 'id=MY_SECRET,src=./secret.txt', '--secret', 'id=NPMRC,src=/etc/hoist/npmrc', '--metadata-file', META, '.']],
  ['shm-size, ssh, target and ulimit',
    { context: '.', 'shm-size': '2g', ssh: 'default,key=/home/u/.ssh/id', target: 'release', ulimit: 'nofile=1024:1024\nnproc=3' }, {},
    ['build', '--iidfile', IID, '--attest', PMAX, '--shm-size', '2g', '--ssh', 'default', '--ssh', 'key=/home/u/.ssh/id', '--target', 'release', '--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=3', '--metadata-file', META, '.']],
  ['Hoist inputs never reach the buildx argv',
    { context: '.', project: 'web', token: 'hoist_prj_x', 'api-url': 'https://hoist.example.com', 'build-platform': 'linux/amd64', fallback: 'never', audience: 'aud', summary: 'false' }, {},
    ['build', '--iidfile', IID, '--attest', PMAX, '--metadata-file', META, '.']],
  ['everything at once, in docker order',
    {
      context: '{{defaultContext}}:docker', 'add-hosts': 'h:1.2.3.4', allow: 'network.host', annotations: 'a=1',
      'build-args': 'A=1', 'build-contexts': 'c=./c', 'cache-from': 'type=gha', 'cache-to': 'type=gha,mode=max',
      call: 'build', 'cgroup-parent': 'p', 'secret-envs': 'E=ENV', file: 'Dockerfile', labels: 'l=1',
      'no-cache-filters': 'base', outputs: 'type=registry', platforms: 'linux/amd64', sbom: 'true',
      attests: 'type=foo,x=1', secrets: 'S=1', 'secret-files': 'F=./secret.txt', 'github-token': 'ghs_t',
      'shm-size': '1g', ssh: 'default', tags: 't:1', target: 'final', ulimit: 'nofile=1:1', builder: 'b',
      load: 'false', network: 'none', 'no-cache': 'true', pull: 'true', push: 'true',
    }, { repoPrivate: true },
    ['build', '--add-host', 'h:1.2.3.4', '--allow', 'network.host', '--annotation', 'a=1', '--build-arg', 'A=1',
      '--build-context', 'c=./c', '--cache-from', 'type=gha', '--cache-to', 'type=gha,mode=max', '--call', 'build',
      '--cgroup-parent', 'p', '--secret', 'id=E,env=ENV', '--file', 'Dockerfile', '--iidfile', IID, '--label', 'l=1',
      '--no-cache-filter', 'base', '--output', 'type=registry', '--platform', 'linux/amd64',
      '--attest', PMIN, '--attest', 'type=sbom,disabled=false', '--attest', 'type=foo,x=1',
      '--secret', `id=S,src=${T}/secret-1`, '--secret', 'id=F,src=./secret.txt',
      '--secret', `id=GIT_AUTH_TOKEN.github.com,src=${T}/secret-2`, '--shm-size', '1g', '--ssh', 'default',
      '--tag', 't:1', '--target', 'final', '--ulimit', 'nofile=1:1', '--builder', 'b', '--metadata-file', META,
      '--network', 'none', '--no-cache', '--pull', '--push', `${DEF}:docker`]],
];

describe('getArgs: inputs (INPUT_* variables) → docker buildx argv', () => {
  it('has at least 40 cases', () => {
    expect(cases.length).toBeGreaterThanOrEqual(40);
  });
  it.each(cases)('%s', (_name, inputs, ctx, expected) => {
    expect(argsFor(inputs, ctx)).toEqual(expected);
  });
});

describe('planBuild: secret files and warnings', () => {
  function plan(inputs: Record<string, string>, ctx: Partial<ArgsContext> = {}) {
    setInputs({ ...DEFAULTS, ...inputs });
    return planBuild(getInputs(), { ...baseCtx, ...ctx });
  }

  it('keeps a trailing newline of a secret in its file', () => {
    const p = plan({ context: '.', secrets: '"PRIVATE_SSH_KEY=test\n\n"' });
    expect(p.secretFiles).toEqual([{ path: `${T}/secret-1`, content: 'test\n\n' }]);
  });

  it('writes multi-line and comma-holding secrets whole, and masks every value', () => {
    const p = plan({ context: '.', secrets: 'A=abcd\n"B=aaa\nbbb"\nC=bar,baz' });
    expect(p.secretFiles.map((f) => f.content)).toEqual(['abcd', 'aaa\nbbb', 'bar,baz']);
    expect(p.masks).toEqual(['abcd', 'aaa\nbbb', 'bar,baz']);
  });

  it('puts the github-token in a file and masks it, never in the argv', () => {
    const p = plan({ 'github-token': 'ghs_secretvalue' });
    expect(p.args.join(' ')).not.toContain('ghs_secretvalue');
    expect(p.secretFiles).toEqual([{ path: `${T}/secret-1`, content: 'ghs_secretvalue' }]);
    expect(p.masks).toContain('ghs_secretvalue');
  });

  it('warns about an invalid secret without echoing it', () => {
    const p = plan({ context: '.', secrets: 'supersecretwithoutkey' });
    expect(p.warnings).toHaveLength(1);
    expect(p.warnings[0]).not.toContain('supersecretwithoutkey');
  });

  it('warns about a missing secret file', () => {
    const p = plan({ context: '.', 'secret-files': 'X=./nope.txt' });
    expect(p.warnings).toEqual(['secret file ./nope.txt not found; skipped']);
  });

  it('reports no iidfile for a local export', () => {
    expect(plan({ context: '.', outputs: 'type=local,dest=out' }).iidFile).toBeUndefined();
    expect(plan({ context: '.' }).iidFile).toBe(IID);
  });

  it('refuses unparsable outputs with a ConfigurationError naming the input', () => {
    expect(() => plan({ context: '.', outputs: 'type=local,dest="./a b"' })).toThrow(ConfigurationError);
    expect(() => plan({ context: '.', outputs: 'type=local,dest="./a b"' })).toThrow(/input 'outputs'/);
  });

  it.each([
    [
      'provenance',
      { provenance: 'mode="max"x' },
      /as comma-separated attributes .*Quote.*; quote a whole attribute/,
    ],
    ['sbom', { sbom: 'generator="a"b' }, /as comma-separated attributes .*Quote.*; quote a whole attribute/],
    ['attests', { attests: 'type=provenance\ntype=sbom,a"b' }, /as comma-separated attributes .*Quote/],
    // An unclosed quote already breaks the list itself.
    [
      'attests',
      { attests: 'type=sbom,"generator=a' },
      /as a list .*Quote Not Closed.*close every double quote/,
    ],
    ['tags', { tags: 'a/b:1,"a/b:2' }, /as a list .*Quote Not Closed/],
  ])('refuses an unparsable %s input with a ConfigurationError naming it', (name, input, why) => {
    const run = () => plan({ context: '.', ...input });
    expect(run).toThrow(ConfigurationError);
    expect(run).toThrow(new RegExp(`^input '${name}' could not be parsed`));
    expect(run).toThrow(why);
  });
});

describe('toHoistArgs: the same argv for hoist build', () => {
  it('drops --builder and adds Hoist flags before the context', () => {
    const args = argsFor({ context: '.', builder: 'b', tags: 'r/app:1', push: 'true' });
    expect(
      toHoistArgs(args, { project: 'web', apiUrl: 'https://h.example', buildPlatform: 'linux/amd64' }),
    ).toEqual([
      'build',
      '--iidfile',
      IID,
      '--attest',
      PMAX,
      '--tag',
      'r/app:1',
      '--metadata-file',
      META,
      '--push',
      '--project',
      'web',
      '--api-url',
      'https://h.example',
      '--build-platform',
      'linux/amd64',
      '.',
    ]);
  });
  it('drops only the builder flag, with --load, and never a value that reads --builder', () => {
    const args = argsFor({
      context: '.',
      builder: 'b',
      load: 'true',
      'build-args': 'X=1\n--builder',
      tags: '--builder',
    });
    const out = toHoistArgs(args, {});
    expect(out.filter((a) => a === '--builder')).toEqual(['--builder', '--builder']);
    expect(out).not.toContain('b');
    expect(out.slice(out.indexOf('--tag'), out.indexOf('--tag') + 4)).toEqual([
      '--tag',
      '--builder',
      '--load',
      '--metadata-file',
    ]);
    // Without a builder input nothing is dropped, whatever the values.
    const plain = argsFor({ context: '.', tags: '--builder' });
    expect(toHoistArgs(plain, {})).toEqual(plain);
  });

  it('adds nothing for empty Hoist flags', () => {
    const args = argsFor({ context: '.' });
    expect(toHoistArgs(args, {})).toEqual(args);
  });
});
