import * as fs from 'node:fs';
import { ConfigurationError, errorMessage } from '../../lib/errors.js';
import { envToggle } from './input-util.js';

/** The parts of a workflow run the actions need, read once from the runner's environment. */
export interface GitHubRun {
  /** e.g. https://github.com (GITHUB_SERVER_URL). */
  serverUrl: string;
  /** owner/name (GITHUB_REPOSITORY). */
  repository: string;
  /** GITHUB_REF, e.g. refs/heads/main or refs/pull/1/merge. */
  ref: string;
  /** GITHUB_SHA. */
  sha: string;
  runId: string;
  runAttempt: string;
  /** GITHUB_EVENT_NAME. */
  eventName: string;
  /** The webhook payload from GITHUB_EVENT_PATH ({} when absent). */
  payload: WebhookPayload;
}

/** Only the fields of a webhook payload that matter here. */
export interface WebhookPayload {
  repository?: { full_name?: string; private?: boolean } | null;
  pull_request?: {
    head?: { sha?: string; repo?: { full_name?: string } | null } | null;
    base?: { repo?: { full_name?: string } | null } | null;
  } | null;
  [key: string]: unknown;
}

type Env = Record<string, string | undefined>;

export function readGitHubRun(env: Env = process.env): GitHubRun {
  let payload: WebhookPayload = {};
  const eventPath = env.GITHUB_EVENT_PATH;
  if (eventPath && fs.existsSync(eventPath)) {
    // An unreadable payload must not pass for an empty one: it would make a private
    // repository look public (max provenance) and a fork's pull request look like a push.
    try {
      payload = JSON.parse(fs.readFileSync(eventPath, 'utf8')) as WebhookPayload;
    } catch (err) {
      throw new ConfigurationError(
        `the event payload GITHUB_EVENT_PATH=${eventPath} could not be read as JSON (${errorMessage(err)}); the runner writes it, so do not override GITHUB_EVENT_PATH in the workflow`,
      );
    }
    if (!payload || typeof payload !== 'object') {
      throw new ConfigurationError(
        `the event payload GITHUB_EVENT_PATH=${eventPath} is not a JSON object; do not override GITHUB_EVENT_PATH in the workflow`,
      );
    }
  }
  return {
    serverUrl: (env.GITHUB_SERVER_URL || 'https://github.com').replace(/\/+$/, ''),
    repository: env.GITHUB_REPOSITORY || payload.repository?.full_name || '',
    ref: env.GITHUB_REF || '',
    sha: env.GITHUB_SHA || '',
    runId: env.GITHUB_RUN_ID || '',
    runAttempt: env.GITHUB_RUN_ATTEMPT || '1',
    eventName: env.GITHUB_EVENT_NAME || '',
    payload,
  };
}

/** Events on which GitHub withholds secrets and the id-token permission from a fork's pull request. */
const PULL_REQUEST_EVENTS = new Set(['pull_request', 'pull_request_review', 'pull_request_review_comment']);

/**
 * True for a pull request whose head lives in another repository (a fork), or
 * whose head repository was deleted. Such a run has no secrets and cannot get
 * an OIDC token, so it cannot reach Hoist. `pull_request_target` runs in the
 * base repository's context and is not a fork run in this sense.
 */
export function isForkPullRequest(eventName: string, payload: WebhookPayload): boolean {
  if (!PULL_REQUEST_EVENTS.has(eventName)) return false;
  const pr = payload.pull_request;
  if (!pr) return false;
  const headRepo = pr.head?.repo;
  if (!headRepo || !headRepo.full_name) return true;
  const base = payload.repository?.full_name ?? pr.base?.repo?.full_name;
  if (!base) return false;
  return headRepo.full_name.toLowerCase() !== base.toLowerCase();
}

/** Docker decides provenance defaults from `repository.private` of the event; absent means public. */
export function isPrivateRepository(payload: WebhookPayload): boolean {
  return payload.repository?.private ?? false;
}

/** The run URL used as the provenance `builder-id`, with the attempt, as docker's toolkit writes it. */
export function workflowRunUrl(run: GitHubRun): string {
  return `${run.serverUrl}/${run.repository}/actions/runs/${run.runId}/attempts/${run.runAttempt}`;
}

/**
 * The default build context: the repository's Git URL pinned to the event's
 * commit, `<server>/<owner>/<repo>.git#<sha>`, falling back to the ref when no
 * sha is known. With DOCKER_DEFAULT_GIT_CONTEXT_PR_HEAD_REF a pull request
 * builds its head commit instead of the merge commit, as docker's toolkit does.
 */
export function defaultGitContext(run: GitHubRun, env: Env = {}): string {
  let ref = run.ref;
  if (!ref.startsWith('refs/')) {
    ref = `refs/heads/${ref}`;
  } else if (ref.startsWith('refs/pull/') && envToggle(env.DOCKER_DEFAULT_GIT_CONTEXT_PR_HEAD_REF, false)) {
    ref = ref.replace(/\/merge$/g, '/head');
  }
  let pinned = run.sha || ref;
  if (ref.startsWith('refs/pull/') && ref.endsWith('/head')) {
    const headSha = run.payload.pull_request?.head?.sha;
    pinned = typeof headSha === 'string' ? headSha : ref;
  }
  return `${run.serverUrl}/${run.repository}.git#${pinned}`;
}
