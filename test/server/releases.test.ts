import { describe, expect, it } from '@jest/globals';
import {
  classifySpec,
  normalizeArch,
  normalizeOs,
  resolveVersion,
} from '../../src/server/releases/catalog.js';
import { loadConfig, parseListen } from '../../src/server/config.js';
import { ConfigurationError } from '../../src/lib/errors.js';

const versions = ['0.1.0', '0.2.0', '1.0.0', '1.2.3', '1.3.0-rc.1', '2.0.0-beta.1'];

describe('resolveVersion', () => {
  const table: [string, string[], string | null][] = [
    ['latest', versions, '1.2.3'],
    ['latest', ['2.0.0-beta.1'], '2.0.0-beta.1'],
    ['latest', [], null],
    ['1.0.0', versions, '1.0.0'],
    ['v1.0.0', versions, '1.0.0'],
    ['1.0.1', versions, null],
    ['^1', versions, '1.2.3'],
    ['~1.2', versions, '1.2.3'],
    ['1.x', versions, '1.2.3'],
    ['>=0.1 <1', versions, '0.2.0'],
    ['^3', versions, null],
    ['not a spec!', versions, null],
  ];
  it.each(table)('%s among %j → %s', (spec, vs, want) => {
    expect(resolveVersion(spec, vs)).toBe(want);
  });
  it('classifies specs', () => {
    expect(classifySpec('latest')).toBe('latest');
    expect(classifySpec('1.2.3')).toBe('exact');
    expect(classifySpec('^1.2')).toBe('range');
    expect(classifySpec('../../etc/passwd')).toBeNull();
  });
  it('normalizes os and arch names', () => {
    expect([
      normalizeOs('Linux'),
      normalizeArch('amd64'),
      normalizeArch('aarch64'),
      normalizeOs('plan9'),
    ]).toEqual(['linux', 'x64', 'arm64', null]);
  });
});

describe('config', () => {
  it('reads flags first, then HOIST_* variables', () => {
    const c = loadConfig(
      { listen: '127.0.0.1:9000' },
      { HOIST_DATA_DIR: '/tmp/x', HOIST_LISTEN: '0.0.0.0:1', HOIST_OIDC_AUDIENCE: 'aud' },
    );
    expect([c.host, c.port, c.dataDir, c.oidc.audience, c.oidc.issuer]).toEqual([
      '127.0.0.1',
      9000,
      '/tmp/x',
      'aud',
      'https://token.actions.githubusercontent.com',
    ]);
  });
  const bad: [Record<string, string>, RegExp][] = [
    [{}, /--data-dir DIR or set HOIST_DATA_DIR/],
    [{ 'data-dir': '/x', listen: 'nope' }, /--listen must be HOST:PORT/],
    [{ 'data-dir': '/x', 'oidc-leeway': '61' }, /--oidc-leeway must be between 0 and 60/],
    [{ 'data-dir': '/x', 'oidc-token-ttl': '7200' }, /--oidc-token-ttl must be between 60 and 3600/],
    [{ 'data-dir': '/x', 'oidc-issuer': 'ftp://x' }, /--oidc-issuer must be an http\(s\) URL/],
    [{ 'data-dir': '/x', 'log-level': 'loud' }, /--log-level must be/],
  ];
  it.each(bad)('refuses %j', (flags, msg) => {
    expect(() => loadConfig(flags, {})).toThrow(ConfigurationError);
    expect(() => loadConfig(flags, {})).toThrow(msg);
  });
  const badEnv: [NodeJS.ProcessEnv, RegExp][] = [
    [{ HOIST_LISTEN: 'nope' }, /^HOIST_LISTEN must be HOST:PORT/],
    [{ HOIST_OIDC_LEEWAY: '120' }, /^HOIST_OIDC_LEEWAY must be between 0 and 60, got 120$/],
    [{ HOIST_OIDC_MAX_AGE: 'ten' }, /^HOIST_OIDC_MAX_AGE must be a whole number/],
    [{ HOIST_PUBLIC_URL: 'hoist.example.com' }, /^HOIST_PUBLIC_URL must be a URL/],
    [{ HOIST_LOG_LEVEL: 'loud' }, /^HOIST_LOG_LEVEL must be fatal/],
  ];
  it.each(badEnv)('names the variable a bad value came from: %j', (env, msg) => {
    expect(() => loadConfig({}, { HOIST_DATA_DIR: '/x', ...env })).toThrow(msg);
  });
  it('parses IPv6 listen addresses', () => {
    expect(parseListen('[::1]:8080')).toEqual({ host: '::1', port: 8080 });
  });
});
