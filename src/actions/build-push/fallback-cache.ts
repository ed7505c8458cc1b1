import { ConfigurationError } from '../../lib/errors.js';
import { branchCacheTag } from '../../lib/cache-tag.js';
import type { GitHubRun } from '../lib/github.js';

export { branchCacheTag };

/**
 * The registry cache of the fallback build (input `fallback-cache`), managed by branch:
 * the default branch imports and exports its own tag; another branch imports the default
 * branch's tag and its own, and exports its own; a fork's pull request (no credential to
 * push with) and anything that is not a branch import the default branch's tag only.
 */
export interface FallbackCacheFacts {
  /** The `fallback-cache` input: a registry repository without tag, e.g. ghcr.io/acme/app-cache. */
  ref: string;
  /** `repository.default_branch` of the event payload. */
  defaultBranch: string;
  /** The branch this run builds: the head branch of a pull request, else the pushed branch; '' if none. */
  branch: string;
  /** The code comes from another repository: it must not write the cache. */
  fromFork: boolean;
}

export interface FallbackCachePlan {
  cacheFrom: string[];
  cacheTo: string[];
  /** One line for the log: which tags are read and written, and why. */
  note: string;
}

export function planFallbackCache(f: FallbackCacheFacts): FallbackCachePlan {
  const registry = (tag: string): string => `type=registry,ref=${f.ref}:${tag}`;
  const main = branchCacheTag(f.defaultBranch);
  const from = registry(main);
  if (f.fromFork) {
    return {
      cacheFrom: [from],
      cacheTo: [],
      note: `imports ${f.ref}:${main} (the default branch); exports nothing, a fork's pull request has no credential to push with`,
    };
  }
  if (!f.branch) {
    return {
      cacheFrom: [from],
      cacheTo: [],
      note: `imports ${f.ref}:${main} (the default branch); exports nothing, this run builds no branch`,
    };
  }
  if (f.branch === f.defaultBranch) {
    return {
      cacheFrom: [from],
      cacheTo: [`${from},mode=max`],
      note: `imports and exports ${f.ref}:${main} (the default branch)`,
    };
  }
  const own = branchCacheTag(f.branch);
  return {
    cacheFrom: [from, registry(own)],
    cacheTo: [`${registry(own)},mode=max`],
    note: `imports ${f.ref}:${main} (the default branch) and ${f.ref}:${own}; exports ${f.ref}:${own}`,
  };
}

/**
 * The same cache on a Hoist build: Hoist builders keep their own cache, so nothing is imported,
 * but a build of the default branch also exports `<ref>:<default branch>`, the tag every fork
 * pull request imports when it falls back; without it that tag would only ever be written by
 * fallback builds of the default branch, which a repository building on Hoist never runs.
 * `ignore-error=true`: a registry hiccup costs the forks a warm cache, never this build.
 */
export function planHoistCacheExport(f: FallbackCacheFacts): FallbackCachePlan {
  const main = branchCacheTag(f.defaultBranch);
  if (f.fromFork) {
    return {
      cacheFrom: [],
      cacheTo: [],
      note: `exports nothing: the code comes from a fork, which must not write ${f.ref}:${main}`,
    };
  }
  if (f.branch !== f.defaultBranch) {
    return {
      cacheFrom: [],
      cacheTo: [],
      note: `exports nothing: only a build of the default branch (${f.defaultBranch}) writes ${f.ref}:${main}, and this run builds ${f.branch ? `branch ${f.branch}` : 'no branch'}`,
    };
  }
  return {
    cacheFrom: [],
    cacheTo: [`type=registry,ref=${f.ref}:${main},mode=max,ignore-error=true`],
    note: `exports ${f.ref}:${main} (the default branch), which fork pull requests import when they fall back; an export error does not fail the build`,
  };
}

/** The fallback argv with the cache flags before the context, so the user's own come first. */
export function withCacheArgs(args: string[], plan: FallbackCachePlan): string[] {
  const flags: string[] = [];
  for (const v of plan.cacheFrom) flags.push('--cache-from', v);
  for (const v of plan.cacheTo) flags.push('--cache-to', v);
  return [...args.slice(0, -1), ...flags, ...args.slice(-1)];
}

/** The same plan without its export, e.g. for a builder that cannot export a registry cache. */
export function dropCacheExport(plan: FallbackCachePlan): FallbackCachePlan {
  if (plan.cacheTo.length === 0) return plan;
  const reads = plan.cacheFrom.map((c) => c.replace(/^type=registry,ref=/, '')).join(' and ');
  return {
    cacheFrom: plan.cacheFrom,
    cacheTo: [],
    note: `imports ${reads}; exports nothing, the builder cannot export a registry cache`,
  };
}

/** pull_request_target runs untrusted head code too; like a fork it must not write the cache. */
const PULL_REQUEST_EVENTS = new Set([
  'pull_request',
  'pull_request_target',
  'pull_request_review',
  'pull_request_review_comment',
]);

interface PullRequestPayload {
  head?: { ref?: unknown; repo?: { full_name?: unknown } | null } | null;
}

/**
 * The facts of this run, read from the run's data only. `undefined` (with the reason) when
 * the payload names no default branch: without it no tag can be shared across branches.
 */
export function fallbackCacheFacts(
  ref: string,
  run: GitHubRun,
  isFork: boolean,
): { facts: FallbackCacheFacts } | { skip: string } {
  const repository = run.payload.repository as { default_branch?: unknown; full_name?: unknown } | null;
  const defaultBranch = repository?.default_branch;
  if (typeof defaultBranch !== 'string' || defaultBranch === '') {
    return {
      skip: `the event payload names no repository.default_branch (event "${run.eventName || 'unknown'}"), so there is no default-branch cache to share`,
    };
  }
  let branch = '';
  let fromFork = isFork;
  if (PULL_REQUEST_EVENTS.has(run.eventName)) {
    const pr = run.payload.pull_request as PullRequestPayload | null | undefined;
    const headRef = pr?.head?.ref;
    branch = typeof headRef === 'string' ? headRef : '';
    const headRepo = pr?.head?.repo?.full_name;
    const baseRepo = run.payload.repository?.full_name ?? run.repository;
    if (typeof headRepo !== 'string' || headRepo.toLowerCase() !== String(baseRepo).toLowerCase()) {
      fromFork = true;
    }
  } else if (run.ref.startsWith('refs/heads/')) {
    branch = run.ref.slice('refs/heads/'.length);
  }
  return { facts: { ref, defaultBranch, branch, fromFork } };
}

/**
 * Validates the `fallback-cache` input: a registry repository without tag or digest (the
 * tags are the branches'). Returns '' for an empty input (the cache is off).
 */
export function parseFallbackCacheRef(raw: string): string {
  const ref = raw.trim();
  if (ref === '') return '';
  const parts = ref.split('/');
  // The first component is a registry host when it looks like one (docker's rule).
  const first = parts[0] ?? '';
  const hasHost = parts.length > 1 && (first.includes('.') || first.includes(':') || first === 'localhost');
  const path = hasHost ? parts.slice(1) : parts;
  const component = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
  let problem = '';
  if (ref.includes('@')) problem = 'a digest';
  else if ((parts[parts.length - 1] ?? '').includes(':')) problem = 'a tag';
  else if (hasHost && !/^[A-Za-z0-9.-]+(?::[0-9]+)?$/.test(first))
    problem = `an invalid registry host "${first}"`;
  else if (!path.every((c) => component.test(c))) {
    problem =
      'characters a repository path cannot hold (lowercase letters and digits, separated by . _ - or /)';
  }
  if (problem) {
    throw new ConfigurationError(
      `input 'fallback-cache' must be a registry repository without a tag, e.g. ghcr.io/acme/app-cache (the tags are the branches'); "${raw}" has ${problem}`,
    );
  }
  return ref;
}
