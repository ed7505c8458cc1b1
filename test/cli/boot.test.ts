// The CLI's boot (src/cli/boot.cjs, lib/boot.js of the release): it runs the bundle next to it as
// Node would run it as a CommonJS main script, and keeps V8's compiled code for it in a cache that
// a build writes once and later starts read. A cache that V8 rejects (another V8, flags, a damaged
// file) is compiled around and written again; one made for another bundle is never read.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const HERE = import.meta.dirname ?? new URL('.', import.meta.url).pathname;
const BOOT = readFileSync(join(HERE, '..', '..', 'src', 'cli', 'boot.cjs'), 'utf8');
const MARKER = "const BUNDLE_SHA256 = '';";

// A bundle as ncc writes it: a hashbang, CommonJS, its exit code from its arguments.
const bundleSource = (tag: string): string =>
  [
    '#!/usr/bin/env node',
    `'use strict';`,
    `const tag = ${JSON.stringify(tag)};`,
    'function report() {',
    '  return {',
    '    tag,',
    '    argv: process.argv.slice(2),',
    '    filename: __filename,',
    '    dirname: __dirname,',
    '    moduleExports: module.exports === exports,',
    "    requires: typeof require('node:path').join,",
    "    resolvesNext: require.resolve('./next.js'),",
    "    codeCache: globalThis[Symbol.for('hoist.codeCache')],",
    '  };',
    '}',
    'process.stdout.write(JSON.stringify(report()));',
    "process.exitCode = process.argv[2] === 'fail' ? 3 : 0;",
    '',
  ].join('\n');

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'hoist-boot-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** lib/ of a release: boot.js (with its bundle's hash, as the build writes it) and index.js. */
function release(tag: string, opts: { hash?: boolean } = {}): string {
  const lib = mkdtempSync(join(dir, 'lib-'));
  const source = bundleSource(tag);
  writeFileSync(join(lib, 'index.js'), source);
  writeFileSync(join(lib, 'next.js'), '');
  writeFileSync(join(lib, 'package.json'), '{"type":"commonjs"}\n');
  const sha = createHash('sha256').update(source).digest('hex');
  writeFileSync(
    join(lib, 'boot.js'),
    opts.hash === false ? BOOT : BOOT.replace(MARKER, `const BUNDLE_SHA256 = '${sha}';`),
  );
  return lib;
}

function boot(lib: string, args: string[], env: Record<string, string>) {
  const r = spawnSync(process.execPath, [join(lib, 'boot.js'), ...args], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env },
    encoding: 'utf8',
  });
  return { code: r.status, out: r.stdout ? JSON.parse(r.stdout) : undefined, stderr: r.stderr };
}

const cacheFiles = (cacheHome: string): string[] => {
  const d = join(cacheHome, 'hoist');
  return existsSync(d) ? readdirSync(d).map((f) => join(d, f)) : [];
};

describe('the CLI boot', () => {
  it('runs the bundle as Node runs a CommonJS main: arguments, __filename, require, exit code', () => {
    const lib = release('a');
    const home = mkdtempSync(join(dir, 'home-'));
    const r = boot(lib, ['build', '--tag', 'x', '.'], { XDG_CACHE_HOME: home });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toEqual({
      tag: 'a',
      argv: ['build', '--tag', 'x', '.'],
      filename: join(lib, 'index.js'),
      dirname: lib,
      moduleExports: true,
      requires: 'function',
      resolvesNext: join(lib, 'next.js'),
      codeCache: 'none',
    });
    expect(boot(lib, ['fail'], { XDG_CACHE_HOME: home }).code).toBe(3);
  });

  it('writes the cache after a build, private, and reads it without writing it again', () => {
    const lib = release('b');
    const home = mkdtempSync(join(dir, 'home-'));
    // not after other commands: what a build starts with is what the cache is for
    boot(lib, ['version'], { XDG_CACHE_HOME: home });
    expect(cacheFiles(home)).toEqual([]);

    expect(boot(lib, ['build', '.'], { XDG_CACHE_HOME: home })).toMatchObject({
      code: 0,
      out: { codeCache: 'none' },
    });
    const [file, ...others] = cacheFiles(home);
    expect(others).toEqual([]);
    expect(file).toMatch(new RegExp(`/hoist/cli-[0-9a-f]{16}-${process.version}-${process.arch}\\.v8$`));
    expect(statSync(file!).mode & 0o777).toBe(0o600);
    expect(statSync(join(home, 'hoist')).mode & 0o777).toBe(0o700);
    const written = statSync(file!);
    expect(written.size).toBeGreaterThan(0);

    // accepted by V8: not written again (a rejected one would be), and the bundle runs the same
    for (const cmd of ['build', 'bake', 'version']) {
      const r = boot(lib, [cmd], { XDG_CACHE_HOME: home });
      expect(r).toMatchObject({ code: 0, out: { tag: 'b', argv: [cmd], codeCache: 'accepted' } });
    }
    const after = statSync(file!);
    expect([after.ino, after.mtimeMs]).toEqual([written.ino, written.mtimeMs]);
  });

  it('compiles around a cache V8 rejects and writes it again', () => {
    const lib = release('c');
    const home = mkdtempSync(join(dir, 'home-'));
    boot(lib, ['build'], { XDG_CACHE_HOME: home });
    const [file] = cacheFiles(home);
    const good = readFileSync(file!);
    writeFileSync(file!, Buffer.from('not a V8 code cache at all'));
    const r = boot(lib, ['build'], { XDG_CACHE_HOME: home });
    expect(r).toMatchObject({ code: 0, out: { tag: 'c', codeCache: 'rejected' } });
    expect(r.stderr).toBe('');
    expect(boot(lib, ['build'], { XDG_CACHE_HOME: home }).out).toMatchObject({ codeCache: 'accepted' });
    // a V8 code cache again: its header (magic number, V8 version, source and flag hashes) as before
    expect(readFileSync(file!).subarray(0, 16)).toEqual(good.subarray(0, 16));
  });

  it("never reads another bundle's cache", () => {
    const home = mkdtempSync(join(dir, 'home-'));
    const one = release('d1');
    const two = release('d2'); // same length, other code: V8's own check would not tell them apart
    expect(readFileSync(join(one, 'index.js')).length).toBe(readFileSync(join(two, 'index.js')).length);
    boot(one, ['build'], { XDG_CACHE_HOME: home });
    expect(boot(two, ['build'], { XDG_CACHE_HOME: home }).out).toMatchObject({
      tag: 'd2',
      codeCache: 'none',
    });
    expect(cacheFiles(home)).toHaveLength(2);
    for (const [lib, tag] of [
      [one, 'd1'],
      [two, 'd2'],
    ] as const) {
      expect(boot(lib, ['build'], { XDG_CACHE_HOME: home }).out).toMatchObject({
        tag,
        codeCache: 'accepted',
      });
    }
  });

  it('runs without a cache when it cannot have one, or is told not to', () => {
    const lib = release('e');
    const notADir = join(dir, 'a-file');
    writeFileSync(notADir, '');
    const r = boot(lib, ['build'], { XDG_CACHE_HOME: notADir });
    expect(r).toMatchObject({ code: 0, out: { tag: 'e' }, stderr: '' });
    // neither HOME nor XDG_CACHE_HOME, or a relative one
    expect(boot(lib, ['build'], {})).toMatchObject({ code: 0, out: { tag: 'e' } });
    expect(boot(lib, ['build'], { XDG_CACHE_HOME: 'relative' })).toMatchObject({ code: 0 });
    expect(existsSync(join(process.cwd(), 'relative'))).toBe(false);

    const home = mkdtempSync(join(dir, 'home-'));
    expect(boot(lib, ['build'], { XDG_CACHE_HOME: home, HOIST_CODE_CACHE: 'false' }).out).toMatchObject({
      codeCache: 'off',
    });
    for (const off of ['0', 'no', 'OFF']) {
      expect(boot(lib, ['build'], { XDG_CACHE_HOME: home, HOIST_CODE_CACHE: off }).out).toMatchObject({
        codeCache: 'off',
      });
    }
    expect(cacheFiles(home)).toEqual([]);
    boot(lib, ['build'], { HOME: home });
    expect(cacheFiles(join(home, '.cache'))).toHaveLength(1);
  });

  it('never reads nor writes a cache that others could have written (file or directory)', () => {
    const lib = release('h');
    const home = mkdtempSync(join(dir, 'home-'));
    boot(lib, ['build'], { XDG_CACHE_HOME: home });
    const [file] = cacheFiles(home);
    const before = readFileSync(file!);
    chmodSync(file!, 0o666);
    expect(boot(lib, ['build'], { XDG_CACHE_HOME: home }).out).toMatchObject({ tag: 'h', codeCache: 'off' });
    expect(readFileSync(file!).equals(before)).toBe(true); // and not replaced either
    chmodSync(file!, 0o600);
    expect(boot(lib, ['build'], { XDG_CACHE_HOME: home }).out).toMatchObject({ codeCache: 'accepted' });
    chmodSync(join(home, 'hoist'), 0o777);
    expect(boot(lib, ['build'], { XDG_CACHE_HOME: home }).out).toMatchObject({ codeCache: 'off' });
    chmodSync(join(home, 'hoist'), 0o700);
  });

  it('uses no cache when it does not know its bundle (the source file, not a build of it)', () => {
    const lib = release('f', { hash: false });
    const home = mkdtempSync(join(dir, 'home-'));
    expect(boot(lib, ['build'], { XDG_CACHE_HOME: home })).toMatchObject({
      code: 0,
      out: { tag: 'f', codeCache: 'off' },
    });
    expect(cacheFiles(home)).toEqual([]);
  });

  it('says what to do when its bundle is missing (a broken install), without a stack trace', () => {
    const lib = release('i');
    rmSync(join(lib, 'index.js'));
    const r = spawnSync(process.execPath, [join(lib, 'boot.js'), 'build'], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(
      `hoist: cannot read ${join(lib, 'index.js')} (ENOENT): this installation is incomplete; install the hoist release again (setup-action, or its tarball)\n`,
    );
  });

  it('leaves no temporary file next to the cache', () => {
    const lib = release('g');
    const home = mkdtempSync(join(dir, 'home-'));
    mkdirSync(join(home, 'hoist'));
    for (let i = 0; i < 3; i++) boot(lib, ['build'], { XDG_CACHE_HOME: home });
    expect(readdirSync(join(home, 'hoist')).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });
});
