import { createHash } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import {
  branchCacheTag,
  dropCacheExport,
  fallbackCacheFacts,
  parseFallbackCacheRef,
  planFallbackCache,
  planHoistCacheExport,
  withCacheArgs,
  type FallbackCacheFacts,
} from '../../src/actions/build-push/fallback-cache.js';
import type { GitHubRun, WebhookPayload } from '../../src/actions/lib/github.js';

const REF = 'registry.example.com/acme/app-cache';
const R = (tag: string): string => `type=registry,ref=${REF}:${tag}`;
const hash8 = (s: string): string => createHash('sha256').update(s).digest('hex').slice(0, 8);

describe('planFallbackCache', () => {
  const cases: [string, FallbackCacheFacts, string[], string[]][] = [
    [
      'the default branch imports and exports its own tag',
      { ref: REF, defaultBranch: 'main', branch: 'main', fromFork: false },
      [R('main')],
      [`${R('main')},mode=max`],
    ],
    [
      'a default branch that is not "main" keeps its name',
      { ref: REF, defaultBranch: 'trunk', branch: 'trunk', fromFork: false },
      [R('trunk')],
      [`${R('trunk')},mode=max`],
    ],
    [
      'another branch imports the default branch and its own, exports its own',
      { ref: REF, defaultBranch: 'main', branch: 'feature-x', fromFork: false },
      [R('main'), R('feature-x')],
      [`${R('feature-x')},mode=max`],
    ],
    [
      'a branch with a slash gets a sanitized tag with a hash',
      { ref: REF, defaultBranch: 'main', branch: 'feature/x', fromFork: false },
      [R('main'), R(`feature-x-${hash8('feature/x')}`)],
      [`${R(`feature-x-${hash8('feature/x')}`)},mode=max`],
    ],
    [
      'a fork pull request imports the default branch only and exports nothing',
      { ref: REF, defaultBranch: 'main', branch: 'main', fromFork: true },
      [R('main')],
      [],
    ],
    [
      'a run that builds no branch (a tag push) imports the default branch only',
      { ref: REF, defaultBranch: 'main', branch: '', fromFork: false },
      [R('main')],
      [],
    ],
    [
      'a default branch name that is not a valid tag is sanitized the same way',
      { ref: REF, defaultBranch: 'Release/2.x', branch: 'Release/2.x', fromFork: false },
      [R(`release-2.x-${hash8('Release/2.x')}`)],
      [`${R(`release-2.x-${hash8('Release/2.x')}`)},mode=max`],
    ],
  ];
  it.each(cases)('%s', (_name, facts, cacheFrom, cacheTo) => {
    const plan = planFallbackCache(facts);
    expect(plan.cacheFrom).toEqual(cacheFrom);
    expect(plan.cacheTo).toEqual(cacheTo);
  });
});

describe('branchCacheTag', () => {
  const cases: [string, string][] = [
    ['main', 'main'],
    ['release-1.2_x', 'release-1.2_x'],
    ['Main', `main-${hash8('Main')}`],
    ['feature/a', `feature-a-${hash8('feature/a')}`],
    ['.hidden', `hidden-${hash8('.hidden')}`],
    [
      'dependabot/npm_and_yarn/@types/node-20',
      `dependabot-npm_and_yarn--types-node-20-${hash8('dependabot/npm_and_yarn/@types/node-20')}`,
    ],
    ['/', hash8('/')],
  ];
  it.each(cases)('%s → %s', (branch, tag) => {
    expect(branchCacheTag(branch)).toBe(tag);
  });

  it('always yields a valid OCI tag of at most 128 characters, stable and collision-free for look-alikes', () => {
    const names = [
      'a'.repeat(128),
      'a'.repeat(129),
      'b'.repeat(300),
      'ü-branch',
      'x y',
      'feature/a',
      'feature-a',
      'FEATURE-A',
      '-x',
    ];
    const tags = names.map(branchCacheTag);
    for (const t of tags) expect(t).toMatch(/^[a-z0-9_][a-z0-9._-]{0,127}$/);
    expect(new Set(tags).size).toBe(names.length);
    expect(tags.map((t) => t.length)).toContain(128);
    expect(names.map(branchCacheTag)).toEqual(tags);
    expect(branchCacheTag('a'.repeat(128))).toBe('a'.repeat(128));
    expect(branchCacheTag('a'.repeat(129))).toBe(`${'a'.repeat(119)}-${hash8('a'.repeat(129))}`);
  });
});

function run(eventName: string, ref: string, payload: WebhookPayload): GitHubRun {
  return {
    serverUrl: 'https://github.com',
    repository: 'acme/app',
    ref,
    sha: 'abc',
    runId: '1',
    runAttempt: '1',
    eventName,
    payload,
  };
}

const repo = { full_name: 'acme/app', default_branch: 'main' };
const pr = (headRef: string, headRepo: string | null) => ({
  repository: repo,
  pull_request: { head: { ref: headRef, repo: headRepo === null ? null : { full_name: headRepo } } },
});

describe('fallbackCacheFacts', () => {
  const cases: [string, GitHubRun, boolean, FallbackCacheFacts | string][] = [
    [
      'push to the default branch',
      run('push', 'refs/heads/main', { repository: repo }),
      false,
      { ref: REF, defaultBranch: 'main', branch: 'main', fromFork: false },
    ],
    [
      'push to a branch',
      run('push', 'refs/heads/feature/x', { repository: repo }),
      false,
      { ref: REF, defaultBranch: 'main', branch: 'feature/x', fromFork: false },
    ],
    [
      'push of a tag',
      run('push', 'refs/tags/v1', { repository: repo }),
      false,
      { ref: REF, defaultBranch: 'main', branch: '', fromFork: false },
    ],
    [
      'same-repo pull request: its head branch',
      run('pull_request', 'refs/pull/3/merge', pr('feature/x', 'acme/app')),
      false,
      { ref: REF, defaultBranch: 'main', branch: 'feature/x', fromFork: false },
    ],
    [
      'fork pull request',
      run('pull_request', 'refs/pull/3/merge', pr('main', 'mallory/app')),
      true,
      { ref: REF, defaultBranch: 'main', branch: 'main', fromFork: true },
    ],
    [
      'pull_request_target from a fork never writes',
      run('pull_request_target', 'refs/heads/main', pr('main', 'mallory/app')),
      false,
      { ref: REF, defaultBranch: 'main', branch: 'main', fromFork: true },
    ],
    [
      'pull request whose head repository was deleted',
      run('pull_request', 'refs/pull/3/merge', pr('x', null)),
      true,
      { ref: REF, defaultBranch: 'main', branch: 'x', fromFork: true },
    ],
    [
      'no default branch in the payload',
      run('workflow_dispatch', 'refs/heads/main', {}),
      false,
      'names no repository.default_branch',
    ],
  ];
  it.each(cases)('%s', (_name, r, isFork, expected) => {
    const found = fallbackCacheFacts(REF, r, isFork);
    if (typeof expected === 'string') {
      expect('skip' in found && found.skip).toContain(expected);
    } else {
      expect(found).toEqual({ facts: expected });
    }
  });
});

describe('withCacheArgs', () => {
  it('adds the cache flags after the user’s, right before the context', () => {
    const args = ['build', '--cache-from', 'type=gha', '--metadata-file', '/t/m.json', '.'];
    const plan = planFallbackCache({ ref: REF, defaultBranch: 'main', branch: 'dev', fromFork: false });
    expect(withCacheArgs(args, plan)).toEqual([
      'build',
      '--cache-from',
      'type=gha',
      '--metadata-file',
      '/t/m.json',
      '--cache-from',
      R('main'),
      '--cache-from',
      R('dev'),
      '--cache-to',
      `${R('dev')},mode=max`,
      '.',
    ]);
  });
});

describe('parseFallbackCacheRef', () => {
  it.each([
    '',
    'ghcr.io/acme/app-cache',
    'localhost:5000/cache',
    '127.0.0.1:5000/hoist/cache',
    'acme/app_cache',
    'cache',
  ])('accepts "%s"', (ref) => {
    expect(parseFallbackCacheRef(ref)).toBe(ref);
  });
  it.each([
    ['ghcr.io/acme/app:cache', 'has a tag'],
    ['ghcr.io/acme/app@sha256:abc', 'has a digest'],
    ['ghcr.io/Acme/App', 'cannot hold'],
    ['ghcr.io/acme/app cache', 'cannot hold'],
    ['https://ghcr.io/acme/app', 'a tag'],
  ])('refuses "%s"', (ref, why) => {
    expect(() => parseFallbackCacheRef(ref)).toThrow(/input 'fallback-cache' must be a registry repository/);
    expect(() => parseFallbackCacheRef(ref)).toThrow(why);
  });
});

describe('dropCacheExport', () => {
  it('keeps the imports of a plan and drops its export', () => {
    const plan = planFallbackCache({ ref: REF, defaultBranch: 'main', branch: 'dev', fromFork: false });
    expect(dropCacheExport(plan)).toMatchObject({ cacheFrom: [R('main'), R('dev')], cacheTo: [] });
    expect(dropCacheExport(plan).note).toContain('exports nothing');
  });
});

describe('planHoistCacheExport', () => {
  it.each([
    [
      'the default branch exports its tag, mode=max, ignoring export errors',
      { branch: 'main', fromFork: false },
      [`${R('main')},mode=max,ignore-error=true`],
      /^exports .*:main \(the default branch\), which fork pull requests import/,
    ],
    ['another branch exports nothing', { branch: 'dev', fromFork: false }, [], /this run builds branch dev/],
    ['a run without a branch exports nothing', { branch: '', fromFork: false }, [], /builds no branch/],
    ["a fork's code never writes the cache", { branch: 'main', fromFork: true }, [], /comes from a fork/],
  ])('%s', (_name, facts, cacheTo, note) => {
    const plan = planHoistCacheExport({ ref: REF, defaultBranch: 'main', ...facts });
    // Hoist builders keep their own cache: a Hoist build never imports the registry one.
    expect(plan.cacheFrom).toEqual([]);
    expect(plan.cacheTo).toEqual(cacheTo);
    expect(plan.note).toMatch(note);
  });
  it('names the tag of a default branch with a slash as the fallback reads it', () => {
    const plan = planHoistCacheExport({
      ref: REF,
      defaultBranch: 'release/v1',
      branch: 'release/v1',
      fromFork: false,
    });
    const fork = planFallbackCache({ ref: REF, defaultBranch: 'release/v1', branch: 'x', fromFork: true });
    expect(plan.cacheTo[0]).toBe(`${fork.cacheFrom[0]},mode=max,ignore-error=true`);
  });
});
