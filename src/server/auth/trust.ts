// Trust-policy matching: a pure function from verified GitHub OIDC claims and the stored
// policies to a decision with a reason the caller can act on. No I/O here.
import picomatch from 'picomatch';
import type { TrustPolicy } from '../../lib/api-types.js';

/** The claims of a GitHub Actions ID token that Hoist reads (all strings in GitHub's tokens). */
export interface GithubClaims {
  sub: string;
  jti: string;
  repository: string;
  repository_id: string;
  repository_owner: string;
  repository_owner_id: string;
  ref: string;
  event_name: string;
  job_workflow_ref: string;
  environment?: string;
  run_id?: string;
  workflow_ref?: string;
  [claim: string]: unknown;
}

export interface PolicyWithProject {
  policy: TrustPolicy;
  project: { id: string; name: string };
}

export type TrustDecision =
  | {
      granted: true;
      project_id: string;
      policy_id: string;
      /** Ids to record on allowing policies that had none pinned yet (pinning on first use). */
      pins: PolicyPin[];
      reason: string;
    }
  | {
      granted: false;
      code: 'not_trusted' | 'ambiguous_project';
      project_id: string | null;
      reason: string;
    };

export interface PolicyPin {
  policy_id: string;
  repository_id?: string;
  repository_owner_id?: string;
}

const lc = (s: string): string => s.toLowerCase();

/** `owner/repo/.github/workflows/x.yml@ref` → { repo: "owner/repo", path: ".github/workflows/x.yml" }. */
export function parseJobWorkflowRef(ref: string): { repo: string; path: string } | null {
  const at = ref.indexOf('@');
  const full = at >= 0 ? ref.slice(0, at) : ref;
  const parts = full.split('/');
  if (parts.length < 3) return null;
  return { repo: `${parts[0]}/${parts[1]}`, path: parts.slice(2).join('/') };
}

/**
 * A policy's `workflow` is a file name ("release.yml"), a path in the repository
 * (".github/workflows/release.yml"), or a reusable workflow in another repository
 * ("org/shared/.github/workflows/build.yml").
 */
export function workflowMatches(policyWorkflow: string, claims: GithubClaims): boolean {
  const jw = parseJobWorkflowRef(claims.job_workflow_ref);
  if (!jw) return false;
  const want = policyWorkflow.replace(/^\/+/, '');
  const segs = want.split('/');
  if (segs.length >= 3 && !want.startsWith('.github/')) {
    const repo = `${segs[0]}/${segs[1]}`;
    return lc(repo) === lc(jw.repo) && segs.slice(2).join('/') === jw.path;
  }
  if (lc(jw.repo) !== lc(claims.repository)) return false;
  if (want.includes('/')) return want === jw.path;
  return jw.path.split('/').pop() === want;
}

const matchers = new Map<string, (s: string) => boolean>();
function globMatcher(glob: string): (s: string) => boolean {
  let m = matchers.get(glob);
  if (!m) {
    if (matchers.size > 1000) matchers.clear();
    m = picomatch(glob, { dot: true });
    matchers.set(glob, m);
  }
  return m;
}

export function refMatches(globs: string[], ref: string): boolean {
  if (!globs.length) return true;
  return globs.some((g) => globMatcher(g)(ref));
}

/** Why one policy refuses these claims, or null when it allows them. */
export function policyRefusal(p: TrustPolicy, c: GithubClaims): string | null {
  if (p.repository_owner_id && p.repository_owner_id !== String(c.repository_owner_id)) {
    return `it is pinned to repository_owner_id ${p.repository_owner_id} but the token's owner ${c.repository_owner} has repository_owner_id ${c.repository_owner_id} (the owner was renamed or re-created; an admin must add a new trust policy to trust it)`;
  }
  if (p.repository_id && p.repository_id !== String(c.repository_id)) {
    return `it is pinned to repository_id ${p.repository_id} but the token's repository ${c.repository} has repository_id ${c.repository_id} (the repository was renamed or re-created; an admin must add a new trust policy to trust it)`;
  }
  if (c.event_name === 'pull_request_target' && !p.allow_pull_request_target) {
    return 'it does not allow the pull_request_target event (it runs with secrets on code from forks); set allow_pull_request_target on the policy only if that is intended';
  }
  if (!refMatches(p.refs, c.ref)) {
    return `ref ${c.ref} is not allowed (the policy allows ${p.refs.join(', ')})`;
  }
  if (p.environment && lc(p.environment) !== lc(String(c.environment ?? ''))) {
    return c.environment
      ? `environment ${c.environment} is not allowed (the policy requires environment ${p.environment})`
      : `the job has no environment (the policy requires environment ${p.environment}; add "environment: ${p.environment}" to the job)`;
  }
  if (p.workflow && !workflowMatches(p.workflow, c)) {
    return `workflow ${c.job_workflow_ref} is not allowed (the policy requires workflow ${p.workflow})`;
  }
  return null;
}

/**
 * Decides an exchange. `requested` is the project the caller named (already resolved; null when
 * it names none; `{missing: name}` when no such project exists). Policies of other repositories
 * are never mentioned: a caller only learns about policies that name its own repository.
 */
export function decideTrust(
  claims: GithubClaims,
  candidates: PolicyWithProject[],
  requested: { id: string; name: string } | { missing: string } | null,
): TrustDecision {
  const repo = claims.repository;
  const mine = candidates.filter(
    (c) =>
      lc(c.policy.repository) === lc(repo) &&
      lc(c.policy.repository.split('/')[0] ?? '') === lc(claims.repository_owner),
  );
  const scoped =
    requested && 'id' in requested
      ? mine.filter((c) => c.project.id === requested.id)
      : requested
        ? []
        : mine;
  const allowed: PolicyWithProject[] = [];
  const refusals: string[] = [];
  for (const c of scoped) {
    const why = policyRefusal(c.policy, claims);
    if (why === null) allowed.push(c);
    else refusals.push(`policy ${c.policy.id} of project ${c.project.name}: ${why}`);
  }
  const where = `repository ${repo} on ref ${claims.ref} (event ${claims.event_name}, workflow ${claims.job_workflow_ref})`;
  if (requested) {
    const name = 'id' in requested ? requested.name : requested.missing;
    if (!scoped.length) {
      return {
        granted: false,
        code: 'not_trusted',
        project_id: null,
        reason: `no project "${name}" trusts repository ${repo}; an admin can add a trust policy with POST /v1/projects/{id}/trust-policies {"provider":"github","repository":"${repo}"}`,
      };
    }
  } else if (!scoped.length) {
    return {
      granted: false,
      code: 'not_trusted',
      project_id: null,
      reason: `no project trusts repository ${repo}; an admin can add a trust policy with POST /v1/projects/{id}/trust-policies {"provider":"github","repository":"${repo}"}`,
    };
  }
  if (!allowed.length) {
    const projectIds = [...new Set(scoped.map((c) => c.project.id))];
    return {
      granted: false,
      code: 'not_trusted',
      project_id: projectIds.length === 1 ? projectIds[0]! : null,
      reason: `no trust policy allows ${where}: ${refusals.join('; ')}`,
    };
  }
  const projects = new Map(allowed.map((c) => [c.project.id, c.project]));
  if (projects.size > 1) {
    const list = [...projects.values()].map((p) => `${p.name} (${p.id})`).join(', ');
    return {
      granted: false,
      code: 'ambiguous_project',
      project_id: null,
      reason: `several projects trust ${repo}: ${list}; name one in the request ("project": "<name or id>", or the action's project input)`,
    };
  }
  // Prefer a policy that is already pinned: it is the most specific statement of trust.
  const chosen = allowed.find((c) => c.policy.repository_id && c.policy.repository_owner_id) ?? allowed[0]!;
  const pins: PolicyPin[] = [];
  for (const { policy } of allowed) {
    const pin: PolicyPin = { policy_id: policy.id };
    if (!policy.repository_id) pin.repository_id = String(claims.repository_id);
    if (!policy.repository_owner_id) pin.repository_owner_id = String(claims.repository_owner_id);
    if (pin.repository_id || pin.repository_owner_id) pins.push(pin);
  }
  return {
    granted: true,
    project_id: chosen.project.id,
    policy_id: chosen.policy.id,
    pins,
    reason: `trust policy ${chosen.policy.id} of project ${chosen.project.name} allows ${where}`,
  };
}
