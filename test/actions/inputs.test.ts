import { afterAll, describe, expect, it } from '@jest/globals';
import { getInputs as getBuildPushInputs } from '../../src/actions/build-push/inputs.js';
import { getInputs as getSetupInputs, isVersionSpec } from '../../src/actions/setup/inputs.js';
import { envBool, envToggle, parseList } from '../../src/actions/lib/input-util.js';
import { ConfigurationError } from '../../src/lib/errors.js';
import { setInputs } from './env.js';

afterAll(() => setInputs({}));

describe('parseList: the list rules of docker/build-push-action', () => {
  it.each<[string, string, Parameters<typeof parseList>[1], string[]]>([
    ['empty input', '', {}, []],
    ['commas split', 'a,b, c', {}, ['a', 'b', 'c']],
    ['newlines split', 'a\nb\n\nc\n', {}, ['a', 'b', 'c']],
    ['commas and newlines together', 'a,b\nc', {}, ['a', 'b', 'c']],
    ['ignoreComma keeps one item per line', 'a=1,2\nb=3', { ignoreComma: true }, ['a=1,2', 'b=3']],
    ['a quoted value holds newlines', '"A=x\ny"\nB=z', { ignoreComma: true }, ['A=x\ny', 'B=z']],
    ['a quoted value holds commas when splitting', '"a,b",c', {}, ['a,b', 'c']],
    [
      'quote:false keeps quotes (outputs)',
      'type=image,"name=r/a:1,r/a:2",push=true',
      { ignoreComma: true, quote: false },
      ['type=image,"name=r/a:1,r/a:2",push=true'],
    ],
    [
      'trimWhitespace:false keeps whitespace (secrets)',
      '"K=v\n\n"',
      { ignoreComma: true, trimWhitespace: false },
      ['K=v\n\n'],
    ],
    ['items are trimmed by default', '  a  \n  b=c  ', { ignoreComma: true }, ['a', 'b=c']],
  ])('%s', (_n, input, opts, expected) => {
    expect(parseList(input, opts)).toEqual(expected);
  });
});

describe('build-push getInputs', () => {
  it('reads defaults when the runner set them', () => {
    setInputs({
      load: 'false',
      push: 'false',
      pull: 'false',
      'no-cache': 'false',
      fallback: 'auto',
      summary: 'true',
    });
    const i = getBuildPushInputs();
    expect(i.fallback).toBe('auto');
    expect(i.summary).toBe(true);
    expect(i.tags).toEqual([]);
    expect(i.context).toBe('');
  });

  it('uses the action.yml defaults when run outside a runner', () => {
    setInputs({});
    const i = getBuildPushInputs();
    expect([i.load, i.push, i.fallback, i.summary]).toEqual([false, false, 'auto', true]);
  });

  it('strips a trailing slash from api-url', () => {
    setInputs({ 'api-url': 'https://hoist.example.com/' });
    expect(getBuildPushInputs()['api-url']).toBe('https://hoist.example.com');
  });

  it.each<[Record<string, string>, RegExp]>([
    [{ fallback: 'sometimes' }, /input 'fallback' must be "auto".*or "never".*got "sometimes"/],
    [{ push: 'yes' }, /input 'push' must be true or false.*got "yes"/],
    [{ load: '1' }, /input 'load' must be true or false/],
    [{ summary: 'off' }, /input 'summary' must be true or false/],
    [{ 'api-url': 'hoist.example.com' }, /input 'api-url' must be the http\(s\) URL/],
    [{ 'api-url': 'ftp://hoist.example.com' }, /input 'api-url' must be an http or https URL/],
    [{ 'build-platform': 'amd64' }, /input 'build-platform' must be one platform in os\/arch/],
    [{ 'build-platform': 'linux/amd64,linux/arm64' }, /input 'build-platform' must be one platform/],
  ])('refuses %j', (inputs, message) => {
    setInputs(inputs);
    expect(() => getBuildPushInputs()).toThrow(ConfigurationError);
    expect(() => getBuildPushInputs()).toThrow(message);
  });
});

describe('setup getInputs', () => {
  it('defaults version to latest and api-url to HOIST_API_URL', () => {
    setInputs({});
    const i = getSetupInputs({ HOIST_API_URL: 'http://127.0.0.1:8080/' });
    expect(i).toEqual({
      version: 'latest',
      'api-url': 'http://127.0.0.1:8080',
      oidc: false,
      project: '',
      audience: '',
    });
  });

  it.each(['latest', '1.2.3', 'v1.2.3', '^1.2', '1.x', '>=1.0.0 <2', '~0.1.0'])('accepts version %s', (v) => {
    expect(isVersionSpec(v)).toBe(true);
  });

  it.each<[Record<string, string>, Record<string, string>, RegExp]>([
    [
      { version: 'newest' },
      { HOIST_API_URL: 'http://h' },
      /input 'version' must be "latest", an exact version.*got "newest"/,
    ],
    [{}, {}, /input 'api-url' is empty and HOIST_API_URL is not set/],
    [{ 'api-url': 'not a url' }, {}, /input 'api-url' must be an http\(s\) URL/],
    [
      {},
      { HOIST_API_URL: 'hoist.example.com' },
      /^HOIST_API_URL must be an http\(s\) URL.*got "hoist\.example\.com"/,
    ],
    [{}, { HOIST_API_URL: 'ftp://h' }, /^HOIST_API_URL must be an http or https URL/],
    [{ 'api-url': 'http://h', oidc: 'maybe' }, {}, /input 'oidc' must be true or false/],
  ])('refuses %j', (inputs, env, message) => {
    setInputs(inputs);
    expect(() => getSetupInputs(env)).toThrow(ConfigurationError);
    expect(() => getSetupInputs(env)).toThrow(message);
  });
});

describe('environment booleans', () => {
  it.each([
    [undefined, true],
    ['', true],
    ['false', false],
    ['0', false],
    ['F', false],
    ['TRUE', true],
    ['t', true],
  ])('envBool reads DOCKER_BUILD_SUMMARY=%j as %s (default true)', (value, want) => {
    expect(envBool('DOCKER_BUILD_SUMMARY', true, { DOCKER_BUILD_SUMMARY: value })).toBe(want);
  });

  it('envBool fails on a non-boolean, naming the variable, as docker fails', () => {
    const read = () =>
      envBool('BUILDX_NO_DEFAULT_ATTESTATIONS', false, { BUILDX_NO_DEFAULT_ATTESTATIONS: 'yes' });
    expect(read).toThrow(ConfigurationError);
    expect(read).toThrow(/^BUILDX_NO_DEFAULT_ATTESTATIONS must be a boolean .*got "yes"$/);
  });

  it('envToggle stays lenient (DOCKER_DEFAULT_GIT_CONTEXT_PR_HEAD_REF, like parseBoolOrDefault)', () => {
    expect(envToggle('yes', false)).toBe(false);
    expect(envToggle('1', false)).toBe(true);
  });
});
