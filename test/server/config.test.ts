// `hoist server` settings added against a hostile network: --public-url, --trust-proxy,
// --database-url-file and the warning for a password on the command line. Pure, plus temp files.
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { ConfigurationError } from '../../src/lib/errors.js';
import { hasPassword, isLoopbackHost, loadConfig, parseTrustProxy } from '../../src/server/config.js';

const dir = mkdtempSync(join(tmpdir(), 'hoist-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const base = { 'data-dir': '/x' };

describe('--public-url', () => {
  it.each(['127.0.0.1:8080', '127.0.0.2:1', '[::1]:8080', 'localhost:8080'])(
    'may be left out on the loopback address %s',
    (listen) => expect(loadConfig({ ...base, listen }, {}).publicUrl).toBeUndefined(),
  );
  it.each(['0.0.0.0:8080', ':8080', '10.1.2.3:8080', '[::]:8080', 'hoist.internal:8080'])(
    'is required when listening on %s, with a message that says why and how',
    (listen) => {
      expect(() => loadConfig({ ...base, listen }, {})).toThrow(ConfigurationError);
      expect(() => loadConfig({ ...base, listen }, {})).toThrow(
        /--public-url \(HOIST_PUBLIC_URL\) is required .* never taken from a request's Host header.*--public-url https:\/\/hoist.example.com/,
      );
    },
  );
  it('is accepted from the variable for a wildcard listener', () => {
    const c = loadConfig({ ...base, listen: '0.0.0.0:8080' }, { HOIST_PUBLIC_URL: 'https://h.example/' });
    expect(c.publicUrl).toBe('https://h.example');
  });
  it.each([
    ['127.0.0.1', true],
    ['127.255.0.9', true],
    ['::1', true],
    ['localhost', true],
    ['0.0.0.0', false],
    ['128.0.0.1', false],
    ['::', false],
  ])('isLoopbackHost(%j) = %j', (host, want) => expect(isLoopbackHost(host)).toBe(want));
});

describe('--trust-proxy', () => {
  it.each([
    ['loopback', ['loopback']],
    ['127.0.0.1', ['127.0.0.1']],
    [' 127.0.0.1, ::1 ', ['127.0.0.1', '::1']],
    ['10.0.0.0/8,fd00::/8,uniquelocal', ['10.0.0.0/8', 'fd00::/8', 'uniquelocal']],
  ])('takes %j', (raw, want) => expect(parseTrustProxy('--trust-proxy', raw)).toEqual(want));
  it.each(['true', '*', '10.0.0.0/33', '::1/129', 'proxy.example.com', '1.2.3.4/8/9', ','])(
    'refuses %j, naming what it takes',
    (raw) => expect(() => parseTrustProxy('--trust-proxy', raw)).toThrow(ConfigurationError),
  );
  it('is unset by default and read from HOIST_TRUST_PROXY', () => {
    expect(loadConfig(base, {}).trustProxy).toBeUndefined();
    expect(loadConfig(base, { HOIST_TRUST_PROXY: 'loopback' }).trustProxy).toEqual(['loopback']);
    expect(() => loadConfig(base, { HOIST_TRUST_PROXY: 'everyone' })).toThrow(/^HOIST_TRUST_PROXY takes/);
  });
});

describe('the database URL', () => {
  const pgUrl = 'postgres://hoist:s3cret@127.0.0.1:5432/hoist';

  it.each([
    [pgUrl, true],
    ['postgres://hoist@127.0.0.1/hoist?password=s3cret', true],
    ['postgres://hoist@127.0.0.1/hoist', false],
    ['postgres://hoist:@127.0.0.1/hoist', false],
    ['sqlite:/var/lib/hoist/hoist.db', false],
  ])('hasPassword(%j) = %j', (url, want) => expect(hasPassword(url)).toBe(want));

  it('warns when a password comes on the command line, and not from the variable', () => {
    const argv = loadConfig({ ...base, 'database-url': pgUrl }, {});
    expect(argv.databaseUrl).toBe(pgUrl);
    expect(argv.warnings).toEqual([
      expect.stringMatching(
        /--database-url holds a password.*process list.*HOIST_DATABASE_URL.*--database-url-file/,
      ),
    ]);
    const fromEnv = loadConfig(base, { HOIST_DATABASE_URL: pgUrl });
    expect(fromEnv.databaseUrl).toBe(pgUrl);
    expect(fromEnv.warnings).toEqual([]);
    expect(loadConfig({ ...base, 'database-url': 'postgres://hoist@db/hoist' }, {}).warnings).toEqual([]);
  });

  it('reads --database-url-file (first line), and warns when the file is readable by others', () => {
    const file = join(dir, 'db-url');
    writeFileSync(file, `${pgUrl}\n`, { mode: 0o600 });
    chmodSync(file, 0o600);
    const c = loadConfig({ ...base, 'database-url-file': file }, {});
    expect(c.databaseUrl).toBe(pgUrl);
    expect(c.warnings).toEqual([]);
    chmodSync(file, 0o644);
    const loose = loadConfig(base, { HOIST_DATABASE_URL_FILE: file });
    expect(loose.databaseUrl).toBe(pgUrl);
    expect(loose.warnings).toEqual([expect.stringMatching(/readable by group or others.*chmod 600/)]);
  });

  it.each([
    [{ 'database-url-file': join(dir, 'missing') }, /--database-url-file: cannot read .*missing/],
    [{ 'database-url-file': 'EMPTY' }, /--database-url-file: .* is empty/],
    [
      { 'database-url-file': 'EMPTY', 'database-url': pgUrl },
      /--database-url and --database-url-file are both set/,
    ],
  ])('refuses %j', (flags, msg) => {
    const empty = join(dir, 'empty');
    writeFileSync(empty, '\n');
    const f = { ...base, ...flags } as Record<string, string>;
    if (f['database-url-file'] === 'EMPTY') f['database-url-file'] = empty;
    expect(() => loadConfig(f, {})).toThrow(ConfigurationError);
    expect(() => loadConfig(f, {})).toThrow(msg);
  });
});
