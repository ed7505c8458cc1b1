import { createRequire } from 'node:module';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from '@jest/globals';
import {
  defaultGitContext,
  isForkPullRequest,
  isPrivateRepository,
  readGitHubRun,
  workflowRunUrl,
  type GitHubRun,
  type WebhookPayload,
} from '../../src/actions/lib/github.js';
import { ConfigurationError } from '../../src/lib/errors.js';

// Real webhook payloads from @octokit/webhooks-examples (api.github.com).
interface ExampleGroup {
  name: string;
  examples: Record<string, unknown>[];
}
const require = createRequire(import.meta.url);
const examples = require('@octokit/webhooks-examples/api.github.com/index.json') as ExampleGroup[];

function example(name: string, pick: (p: Record<string, unknown>) => boolean = () => true): WebhookPayload {
  const group = examples.find((g) => g.name === name);
  const found = group?.examples.find(pick);
  if (!found) throw new Error(`no ${name} example`);
  return structuredClone(found) as WebhookPayload;
}

const samePr = example('pull_request', (p) => p.action === 'opened');
const review = example('pull_request_review', (p) => p.action === 'submitted');
const reviewComment = example('pull_request_review_comment');
// The package has no fork pull request, so the fork is built from two real
// payloads: the head repository becomes the `forkee` of the real `fork` event.
const forkee = (example('fork') as { forkee: { full_name: string } }).forkee;
function forkOf(p: WebhookPayload): WebhookPayload {
  const copy = structuredClone(p);
  copy.pull_request!.head!.repo = structuredClone(forkee);
  return copy;
}
function deletedHead(p: WebhookPayload): WebhookPayload {
  const copy = structuredClone(p);
  copy.pull_request!.head!.repo = null;
  return copy;
}
const pushBranch = example('push', (p) => p.ref === 'refs/heads/master');
const pushTag = example('push', (p) => String(p.ref).startsWith('refs/tags/'));
const mergeGroup = example('merge_group');

describe('isForkPullRequest (real webhook payloads)', () => {
  it('the forkee really is another repository', () => {
    expect(forkee.full_name).not.toBe(samePr.repository!.full_name);
  });

  it.each<[string, string, WebhookPayload, boolean]>([
    ['same-repository pull_request', 'pull_request', samePr, false],
    ['fork pull_request', 'pull_request', forkOf(samePr), true],
    ['pull_request with the head repository deleted', 'pull_request', deletedHead(samePr), true],
    ['same-repository pull_request_review', 'pull_request_review', review, false],
    ['fork pull_request_review', 'pull_request_review', forkOf(review), true],
    [
      'pull_request_review with the head repository deleted',
      'pull_request_review',
      deletedHead(review),
      true,
    ],
    ['fork pull_request_review_comment', 'pull_request_review_comment', forkOf(reviewComment), true],
    ['same-repository pull_request_review_comment', 'pull_request_review_comment', reviewComment, false],
    ['push to a branch', 'push', pushBranch, false],
    ['push of a tag', 'push', pushTag, false],
    [
      'pull_request_target from a fork runs in the base repository',
      'pull_request_target',
      forkOf(samePr),
      false,
    ],
    ['pull_request_target from the same repository', 'pull_request_target', samePr, false],
    ['merge_group', 'merge_group', mergeGroup, false],
    ['workflow_dispatch with an empty payload', 'workflow_dispatch', {}, false],
    [
      'a pull_request event without a pull_request object',
      'pull_request',
      { repository: samePr.repository },
      false,
    ],
  ])('%s → %s', (_name, eventName, payload, expected) => {
    expect(isForkPullRequest(eventName, payload)).toBe(expected);
  });

  it('compares repository names case-insensitively', () => {
    const p = structuredClone(samePr);
    p.pull_request!.head!.repo!.full_name = p.repository!.full_name!.toUpperCase();
    expect(isForkPullRequest('pull_request', p)).toBe(false);
  });
});

describe('isPrivateRepository', () => {
  it.each<[string, WebhookPayload, boolean]>([
    ['public repository (push example)', pushBranch, false],
    ['private repository (merge_group example)', mergeGroup, true],
    ['no repository in the payload', {}, false],
  ])('%s', (_n, payload, expected) => {
    expect(isPrivateRepository(payload)).toBe(expected);
  });
});

const run = (over: Partial<GitHubRun>): GitHubRun => ({
  serverUrl: 'https://github.com',
  repository: 'octo-org/octo-repo',
  ref: 'refs/heads/main',
  sha: 'a1b2c3',
  runId: '42',
  runAttempt: '2',
  eventName: 'push',
  payload: {},
  ...over,
});

describe('defaultGitContext', () => {
  it.each<[string, Partial<GitHubRun>, Record<string, string>, string]>([
    ['pins a branch push to its commit', {}, {}, 'https://github.com/octo-org/octo-repo.git#a1b2c3'],
    [
      'pins a tag to its commit',
      { ref: 'refs/tags/v1.0.0' },
      {},
      'https://github.com/octo-org/octo-repo.git#a1b2c3',
    ],
    [
      'uses the ref when no sha is known',
      { sha: '' },
      {},
      'https://github.com/octo-org/octo-repo.git#refs/heads/main',
    ],
    [
      'prefixes a bare branch name',
      { sha: '', ref: 'main' },
      {},
      'https://github.com/octo-org/octo-repo.git#refs/heads/main',
    ],
    [
      'pins a pull request to the merge commit',
      { ref: 'refs/pull/7/merge', sha: 'merge1' },
      {},
      'https://github.com/octo-org/octo-repo.git#merge1',
    ],
    [
      'pins a pull request to its head with DOCKER_DEFAULT_GIT_CONTEXT_PR_HEAD_REF',
      { ref: 'refs/pull/7/merge', sha: 'merge1', payload: { pull_request: { head: { sha: 'head9' } } } },
      { DOCKER_DEFAULT_GIT_CONTEXT_PR_HEAD_REF: 'true' },
      'https://github.com/octo-org/octo-repo.git#head9',
    ],
    [
      'GitHub Enterprise server URL',
      { serverUrl: 'https://ghe.example.com' },
      {},
      'https://ghe.example.com/octo-org/octo-repo.git#a1b2c3',
    ],
  ])('%s', (_n, over, env, expected) => {
    expect(defaultGitContext(run(over), env)).toBe(expected);
  });
});

describe('readGitHubRun and workflowRunUrl', () => {
  it('reads the runner variables and the event file', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hoist-gh-'));
    const eventPath = path.join(dir, 'event.json');
    fs.writeFileSync(eventPath, JSON.stringify(mergeGroup));
    const r = readGitHubRun({
      GITHUB_SERVER_URL: 'https://github.com/',
      GITHUB_REPOSITORY: 'octo-org/octo-repo',
      GITHUB_REF: 'refs/heads/gh-readonly-queue/main/pr-1',
      GITHUB_SHA: 'abc',
      GITHUB_RUN_ID: '99',
      GITHUB_RUN_ATTEMPT: '3',
      GITHUB_EVENT_NAME: 'merge_group',
      GITHUB_EVENT_PATH: eventPath,
    });
    fs.rmSync(dir, { recursive: true });
    expect(r.serverUrl).toBe('https://github.com');
    expect(r.eventName).toBe('merge_group');
    expect(isPrivateRepository(r.payload)).toBe(true);
    expect(workflowRunUrl(r)).toBe('https://github.com/octo-org/octo-repo/actions/runs/99/attempts/3');
  });

  it.each([['{"repository": '], ['null']])(
    'refuses an event file that is not a JSON object (%j) instead of taking it for an empty payload',
    (text) => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hoist-gh-'));
      const eventPath = path.join(dir, 'event.json');
      fs.writeFileSync(eventPath, text);
      try {
        const read = () => readGitHubRun({ GITHUB_EVENT_PATH: eventPath, GITHUB_REPOSITORY: 'o/r' });
        expect(read).toThrow(ConfigurationError);
        expect(read).toThrow(new RegExp(`GITHUB_EVENT_PATH=${eventPath}`));
      } finally {
        fs.rmSync(dir, { recursive: true });
      }
    },
  );

  it('survives a missing event file', () => {
    const r = readGitHubRun({ GITHUB_EVENT_PATH: '/nonexistent/event.json', GITHUB_REPOSITORY: 'o/r' });
    expect(r.payload).toEqual({});
    expect(r.runAttempt).toBe('1');
  });
});
