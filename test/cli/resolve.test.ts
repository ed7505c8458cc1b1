import { describe, expect, it } from '@jest/globals';
import {
  type ConfigSource,
  type ProjectSources,
  type TokenSources,
  resolveApiUrl,
  resolveProject,
  resolveToken,
} from '../../src/cli/resolve.js';

const P = '/home/u/.config/hoist/config.json';
const absent: ConfigSource = { state: 'absent', path: P };
const cfg = (api_url?: string, token?: string): ConfigSource => ({
  state: 'ok',
  path: P,
  config: { api_url, token },
});
const broken: ConfigSource = {
  state: 'error',
  path: P,
  problem: `${P} holds a token but has mode 644; run "chmod 600 ${P}"`,
};

describe('resolveApiUrl', () => {
  it.each([
    [
      'flag wins',
      { flag: 'http://flag', env: 'http://env', config: cfg('http://cfg') },
      'http://flag',
      '--api-url',
    ],
    ['env next', { env: 'http://env', config: cfg('http://cfg') }, 'http://env', 'HOIST_API_URL'],
    ['config last', { config: cfg('http://cfg') }, 'http://cfg', P],
    ['blank flag ignored', { flag: '  ', env: 'http://env', config: absent }, 'http://env', 'HOIST_API_URL'],
  ])('%s', (_n, sources, value, source) => {
    expect(resolveApiUrl(sources)).toEqual({ ok: true, value, source });
  });

  it.each([
    [
      'nothing',
      { config: absent },
      /no Hoist API URL: pass --api-url, set HOIST_API_URL, or run "hoist login/,
    ],
    ['broken config says why', { config: broken }, /chmod 600/],
  ])('%s', (_n, sources, re) => {
    const r = resolveApiUrl(sources);
    expect(r.ok).toBe(false);
    expect(!r.ok && r.message).toMatch(re);
  });
});

describe('resolveToken', () => {
  const base: TokenSources = { config: absent, apiUrl: 'http://h', githubOidc: false, allowOidc: true };
  it.each<[string, Partial<TokenSources>, unknown, string]>([
    [
      '--token over everything',
      { flag: 'f', env: 'e', config: cfg('http://h', 'c'), githubOidc: true },
      { kind: 'token', token: 'f' },
      '--token',
    ],
    [
      'HOIST_TOKEN over config and OIDC',
      { env: 'e', config: cfg('http://h', 'c'), githubOidc: true },
      { kind: 'token', token: 'e' },
      'HOIST_TOKEN',
    ],
    [
      'config over OIDC',
      { config: cfg('http://h', 'c'), githubOidc: true },
      { kind: 'token', token: 'c' },
      P,
    ],
    [
      'config matches with a trailing slash',
      { config: cfg('http://h/', 'c') },
      { kind: 'token', token: 'c' },
      P,
    ],
    ['config without api_url applies', { config: cfg(undefined, 'c') }, { kind: 'token', token: 'c' }, P],
    [
      'config for another server is skipped for OIDC',
      { config: cfg('http://other', 'c'), githubOidc: true },
      { kind: 'github-oidc' },
      'GitHub Actions OIDC',
    ],
    [
      'broken config is skipped for OIDC',
      { config: broken, githubOidc: true },
      { kind: 'github-oidc' },
      'GitHub Actions OIDC',
    ],
    ['OIDC last', { githubOidc: true }, { kind: 'github-oidc' }, 'GitHub Actions OIDC'],
  ])('%s', (_n, over, value, source) => {
    expect(resolveToken({ ...base, ...over })).toEqual({ ok: true, value, source });
  });

  it.each<[string, Partial<TokenSources>, RegExp]>([
    [
      'nothing at all',
      {},
      /no Hoist token: pass --token, set HOIST_TOKEN, run "hoist login", or run inside GitHub Actions/,
    ],
    [
      'config for another server, says so',
      { config: cfg('http://other', 'c') },
      /the token in .* is for http:\/\/other, not http:\/\/h/,
    ],
    ['config with bad mode, says chmod', { config: broken }, /chmod 600/],
    ['in Actions without id-token permission', { inGithubActions: true }, /permissions: id-token: write/],
    [
      'admin commands never use OIDC',
      { githubOidc: true, allowOidc: false },
      /no Hoist token: pass --token, set HOIST_TOKEN, or run "hoist login"\.$/,
    ],
  ])('refuses: %s', (_n, over, re) => {
    const r = resolveToken({ ...base, ...over });
    expect(r.ok).toBe(false);
    expect(!r.ok && r.message).toMatch(re);
  });
});

describe('resolveProject', () => {
  const ctx = { path: '/src/app/hoist.json', project: 'from-ctx' };
  const df = { path: '/src/docker/hoist.json', project: 'from-df' };
  it.each<[string, ProjectSources, string | undefined, string | undefined, RegExp[]]>([
    ['flag only', { flag: 'p' }, 'p', '--project', []],
    ['env only', { env: 'e' }, 'e', 'HOIST_PROJECT_ID', []],
    ['context hoist.json', { fromContext: ctx }, 'from-ctx', ctx.path, []],
    ['Dockerfile hoist.json', { fromDockerfile: df }, 'from-df', df.path, []],
    ['none: the server decides', {}, undefined, undefined, []],
    [
      'flag over env, warns',
      { flag: 'p', env: 'e' },
      'p',
      '--project',
      [/project "p" from --project differs from "e" in HOIST_PROJECT_ID/],
    ],
    [
      'env over hoist.json, warns',
      { env: 'e', fromContext: ctx },
      'e',
      'HOIST_PROJECT_ID',
      [/differs from "from-ctx" in \/src\/app\/hoist.json/],
    ],
    [
      'context over Dockerfile dir, warns',
      { fromContext: ctx, fromDockerfile: df },
      'from-ctx',
      ctx.path,
      [/differs from "from-df" in \/src\/docker\/hoist.json/],
    ],
    [
      'agreeing sources do not warn',
      { flag: 'x', env: 'x', fromContext: { path: '/a/hoist.json', project: 'x' } },
      'x',
      '--project',
      [],
    ],
    [
      'same file found twice counts once',
      { fromContext: ctx, fromDockerfile: ctx },
      'from-ctx',
      ctx.path,
      [],
    ],
    [
      'a broken hoist.json is skipped with a warning',
      { fromContext: { path: '/a/hoist.json', problem: 'not valid JSON' }, fromDockerfile: df },
      'from-df',
      df.path,
      [/ignoring \/a\/hoist.json: not valid JSON/],
    ],
    [
      'all four disagree: three warnings',
      { flag: 'a', env: 'b', fromContext: ctx, fromDockerfile: df },
      'a',
      '--project',
      [/"b"/, /"from-ctx"/, /"from-df"/],
    ],
  ])('%s', (_n, sources, project, source, warnings) => {
    const r = resolveProject(sources);
    expect(r.project).toBe(project);
    expect(r.source).toBe(source);
    expect(r.warnings).toHaveLength(warnings.length);
    warnings.forEach((re, i) => expect(r.warnings[i]).toMatch(re));
  });
});
