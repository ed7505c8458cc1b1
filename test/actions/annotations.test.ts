import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import {
  buildCheckAnnotations,
  buildxRefsDir,
  dockerfileOf,
  fixLocalState,
  localStateFor,
  metadataRef,
  metadataWarnings,
  readLocalState,
  type DockerfileFacts,
  type VertexWarning,
} from '../../src/actions/build-push/annotations.js';

const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');
const DOCKERFILE = 'FROM busybox as base\nRUN true\n';

/** A FromAsCasing warning as buildx writes it to the metadata file. */
function warning(over: Partial<VertexWarning> = {}): VertexWarning {
  return {
    short: b64("FromAsCasing: 'as' and 'FROM' keywords' casing do not match (line 1)"),
    detail: [b64("The 'as' keyword should match the case of the 'from' keyword")],
    url: 'https://docs.docker.com/go/dockerfile/rule/from-as-casing/',
    sourceInfo: { filename: 'Dockerfile', data: b64(DOCKERFILE) },
    range: [{ start: { line: 1 } }],
    ...over,
  };
}

describe('buildCheckAnnotations', () => {
  const local = { path: 'app/Dockerfile', content: b64(DOCKERFILE) };
  it('makes the detail the title and the short text, without "(line N)", plus the link the message', () => {
    expect(buildCheckAnnotations([warning()], [local])).toEqual([
      {
        title: "The 'as' keyword should match the case of the 'from' keyword",
        message:
          "FromAsCasing: 'as' and 'FROM' keywords' casing do not match\nMore info: https://docs.docker.com/go/dockerfile/rule/from-as-casing/",
        file: 'app/Dockerfile',
        startLine: 1,
      },
    ]);
  });
  it('without a url the message has no link; without a range no line', () => {
    const [noUrl] = buildCheckAnnotations([warning({ url: undefined })], [local]);
    expect(noUrl?.message).toBe("FromAsCasing: 'as' and 'FROM' keywords' casing do not match");
    const [noRange] = buildCheckAnnotations([warning({ range: [] })], [local]);
    expect(noRange?.file).toBe('app/Dockerfile');
    expect(noRange?.startLine).toBeUndefined();
  });
  it.each<[string, VertexWarning]>([
    ['no detail', warning({ detail: undefined })],
    ['no short', warning({ short: undefined })],
    ['no source', warning({ sourceInfo: undefined })],
    ['another file name', warning({ sourceInfo: { filename: 'Other', data: b64(DOCKERFILE) } })],
    [
      'other content (the file changed)',
      warning({ sourceInfo: { filename: 'Dockerfile', data: b64('FROM x') } }),
    ],
  ])('skips a warning with %s', (_name, w) => {
    expect(buildCheckAnnotations([w], [local])).toEqual([]);
  });
  it('a Git context of this repository takes any warning, named by the Dockerfile path', () => {
    const w = warning({ sourceInfo: { filename: 'Dockerfile', data: b64('unknowable') } });
    expect(buildCheckAnnotations([w], [{ path: 'Dockerfile', remote: true }])[0]?.file).toBe('Dockerfile');
  });
  it('no Dockerfile: no annotations', () => {
    expect(buildCheckAnnotations([warning()], [])).toEqual([]);
  });
});

describe('dockerfileOf', () => {
  const ws = '/home/runner/work/r/r';
  const files: Record<string, string> = {
    [`${ws}/Dockerfile`]: DOCKERFILE,
    [`${ws}/app/Dockerfile.prod`]: DOCKERFILE,
    '/tmp/elsewhere/Dockerfile': DOCKERFILE,
  };
  const facts: DockerfileFacts = {
    workspace: ws,
    repository: 'octo-org/octo-repo',
    cwd: ws,
    readFile: (f) => files[f],
  };
  it.each([
    [
      'a local file in the workspace, relative to it',
      { LocalPath: `${ws}/app`, DockerfilePath: `${ws}/app/Dockerfile.prod` },
      { path: 'app/Dockerfile.prod', content: b64(DOCKERFILE) },
    ],
    [
      'no --file: ./Dockerfile of the working directory, as docker reads it',
      { LocalPath: `${ws}/app`, DockerfilePath: '' },
      { path: 'Dockerfile', content: b64(DOCKERFILE) },
    ],
    [
      'outside the workspace: none',
      { LocalPath: '/tmp/elsewhere', DockerfilePath: '/tmp/elsewhere/Dockerfile' },
      undefined,
    ],
    ['missing file: none', { LocalPath: ws, DockerfilePath: `${ws}/nope` }, undefined],
    ['stdin: none', { LocalPath: ws, DockerfilePath: '-' }, undefined],
    [
      'this repository on GitHub',
      { LocalPath: 'https://github.com/octo-org/octo-repo.git#abc', DockerfilePath: 'docker/Dockerfile' },
      { path: 'docker/Dockerfile', remote: true },
    ],
    [
      'this repository on GHE.com',
      { LocalPath: 'https://acme.ghe.com/octo-org/octo-repo.git#abc', DockerfilePath: '' },
      { path: 'Dockerfile', remote: true },
    ],
    [
      'another repository: none',
      { LocalPath: 'https://github.com/other/repo.git#abc', DockerfilePath: '' },
      undefined,
    ],
    [
      'another Git host: none',
      { LocalPath: 'https://gitlab.com/octo-org/octo-repo.git', DockerfilePath: '' },
      undefined,
    ],
  ])('%s', (_name, ls, expected) => {
    expect(dockerfileOf(ls, facts)).toEqual(expected);
  });
});

describe('local state', () => {
  it.each([
    ['.', '', '/w', { LocalPath: '/w', DockerfilePath: '' }],
    ['app', 'app/Dockerfile.x', '/w', { LocalPath: '/w/app', DockerfilePath: '/w/app/Dockerfile.x' }],
    [
      'https://github.com/o/r.git#main',
      'sub/Dockerfile',
      '/w',
      { LocalPath: 'https://github.com/o/r.git#main', DockerfilePath: 'sub/Dockerfile' },
    ],
    ['-', 'Dockerfile', '/w', { LocalPath: '-', DockerfilePath: 'Dockerfile' }],
  ])('localStateFor(%j, %j) as buildx saves it', (context, file, cwd, expected) => {
    expect(localStateFor(context, file, cwd)).toEqual(expected);
  });
  it('fixLocalState takes a URL back out of an absolute path', () => {
    expect(
      fixLocalState({ LocalPath: '/w/https:/github.com/o/r.git', DockerfilePath: '/w/Dockerfile' }),
    ).toEqual({
      LocalPath: 'https://github.com/o/r.git',
      DockerfilePath: 'Dockerfile',
    });
    expect(fixLocalState({ LocalPath: '/w/-', DockerfilePath: '/w/-' })).toEqual({
      LocalPath: '-',
      DockerfilePath: '-',
    });
  });

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hoist-annotations-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  it('readLocalState reads the saved state of a ref, undefined for none', () => {
    fs.mkdirSync(path.join(dir, 'b', 'b0'), { recursive: true });
    fs.writeFileSync(
      path.join(dir, 'b', 'b0', 'ref1'),
      JSON.stringify({ Target: 'default', LocalPath: '/w', DockerfilePath: '/w/Dockerfile' }),
    );
    expect(readLocalState('b/b0/ref1', dir)).toEqual({ LocalPath: '/w', DockerfilePath: '/w/Dockerfile' });
    expect(readLocalState('b/b0/nope', dir)).toBeUndefined();
    expect(readLocalState('not-a-ref', dir)).toBeUndefined();
  });
  it('buildxRefsDir: BUILDX_CONFIG, else DOCKER_CONFIG/buildx, else ~/.docker/buildx', () => {
    expect(buildxRefsDir({ BUILDX_CONFIG: '/bx', DOCKER_CONFIG: '/dc' }, '/h')).toBe('/bx/refs');
    expect(buildxRefsDir({ DOCKER_CONFIG: '/dc' }, '/h')).toBe('/dc/buildx/refs');
    expect(buildxRefsDir({}, '/h')).toBe('/h/.docker/buildx/refs');
  });
});

describe('metadata', () => {
  it('reads the warnings and the ref buildx wrote', () => {
    const m = { 'buildx.build.ref': 'b/b0/x', 'buildx.build.warnings': [warning()] };
    expect(metadataWarnings(m)).toHaveLength(1);
    expect(metadataRef(m)).toBe('b/b0/x');
    expect(metadataWarnings({})).toEqual([]);
    expect(metadataWarnings(undefined)).toEqual([]);
    expect(metadataRef({ 'buildx.build.ref': 3 })).toBeUndefined();
  });
});
