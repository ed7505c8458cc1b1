import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import {
  decidePrune,
  parseRegistryRef,
  readDockerCredential,
  runCache,
  type CacheTag,
} from '../../src/cli/cache.js';

const DAY = 86_400_000;
const NOW = new Date('2026-06-30T12:00:00Z');
const ago = (days: number): Date => new Date(NOW.getTime() - days * DAY);
const opts = { keep: ['release'], defaultBranch: 'main', olderThanMs: 14 * DAY, now: NOW };

describe('decidePrune', () => {
  const cases: [string, CacheTag, string, string][] = [
    [
      'the default branch stays however old',
      { tag: 'main', digest: 'sha256:m', created: ago(90) },
      'keep',
      'the default branch',
    ],
    ['a --keep tag stays', { tag: 'release', digest: 'sha256:r', created: ago(90) }, 'keep', '--keep'],
    [
      'a fresh branch cache stays',
      { tag: 'dev', digest: 'sha256:d', created: ago(3) },
      'keep',
      'fresh (3d old)',
    ],
    [
      'a stale branch cache goes',
      { tag: 'old', digest: 'sha256:o', created: ago(20) },
      'delete',
      'stale (20d old)',
    ],
    [
      'a cache of unknown age stays, saying why',
      { tag: 'odd', digest: 'sha256:x', unknownAge: 'no created annotation' },
      'keep',
      'age unknown: no created annotation',
    ],
    [
      'a stale tag sharing its manifest with a kept one stays (deleting by digest would remove both)',
      { tag: 'copy-of-main', digest: 'sha256:m', created: ago(90) },
      'keep',
      'same manifest as kept tag main',
    ],
  ];
  it.each(cases)('%s', (_name, tag, action, reason) => {
    const all: CacheTag[] = [{ tag: 'main', digest: 'sha256:m', created: ago(90) }, tag];
    const decision = decidePrune(all, opts).find((d) => d.tag === tag.tag);
    expect(decision).toMatchObject({ action, reason });
  });

  it('the default branch is matched by its sanitized tag', () => {
    const [d] = decidePrune([{ tag: 'main', digest: 'sha256:a', created: ago(90) }], {
      ...opts,
      defaultBranch: 'Main',
    });
    expect(d).toMatchObject({ action: 'delete' });
  });
});

describe('parseRegistryRef', () => {
  it.each([
    ['ghcr.io/acme/app-cache', { host: 'ghcr.io', repository: 'acme/app-cache' }],
    ['127.0.0.1:5000/cache', { host: '127.0.0.1:5000', repository: 'cache' }],
    ['localhost/a/b', { host: 'localhost', repository: 'a/b' }],
  ])('%s', (ref, parsed) => {
    expect(parseRegistryRef(ref)).toEqual(parsed);
  });
  it.each([
    'acme/app-cache',
    'ghcr.io/acme/app:main',
    'ghcr.io/acme/app@sha256:ab',
    'ghcr.io',
    'ghcr.io/Acme',
  ])('refuses %s', (ref) => {
    expect(() => parseRegistryRef(ref)).toThrow(/--ref/);
  });
});

describe('readDockerCredential', () => {
  it('reads auths entries by host, in both forms, and nothing for another host', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'hoist-cache-cred-'));
    try {
      await writeFile(
        join(dir, 'config.json'),
        JSON.stringify({
          auths: {
            'https://ghcr.io': { auth: Buffer.from('bot:p:a:ss').toString('base64') },
            'registry.example.com': { username: 'u', password: 'pw' },
          },
        }),
        { mode: 0o600 },
      );
      await expect(readDockerCredential(dir, 'ghcr.io')).resolves.toEqual({
        username: 'bot',
        password: 'p:a:ss',
      });
      await expect(readDockerCredential(dir, 'registry.example.com')).resolves.toEqual({
        username: 'u',
        password: 'pw',
      });
      await expect(readDockerCredential(dir, 'quay.io')).resolves.toBeUndefined();
      await expect(readDockerCredential(join(dir, 'missing'), 'ghcr.io')).resolves.toBeUndefined();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('runCache flags', () => {
  const io = () => {
    let out = '';
    const sink = { write: (s: string) => (out += s) };
    return { io: { env: {}, stdout: sink, stderr: sink }, out: () => out };
  };
  it.each([
    [['prune'], /--ref is required/],
    [
      ['prune', '--ref', 'ghcr.io/a/b', '--older-than', 'two weeks'],
      /--older-than takes a duration.*"two weeks"/,
    ],
    [['prune', '--ref', 'ghcr.io/a/b', '--bogus'], /unknown flag --bogus/],
    [['sweep'], /unknown subcommand "sweep"/],
  ])('%j is refused with a clear message', async (argv, message) => {
    await expect(runCache(argv, io().io)).rejects.toThrow(message);
  });
  it('prints its usage', async () => {
    const c = io();
    await expect(runCache(['prune', '--help'], c.io)).resolves.toBe(0);
    expect(c.out()).toContain('hoist cache prune --ref');
  });
});
