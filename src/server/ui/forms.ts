// The project page's forms as pure functions: a posted form (strings) to a checked request, or
// an error saying which field was wrong and how to fix it; and the claims preview, which runs
// the same matcher as the OIDC exchange (auth/trust.ts) over pasted or recorded claims.
import type { ProjectSettings, TrustPolicy, TrustPolicyInput } from '../../lib/api-types.js';
import { decideTrust, policyRefusal, type GithubClaims } from '../auth/trust.js';
import { type EffectiveSettings, SETTING_LIMITS, applySettings } from '../projects/settings.js';

export type Form = Record<string, unknown>;
export type Checked<T> = { ok: true; value: T } | { ok: false; error: string };

const text = (f: Form, k: string): string => (typeof f[k] === 'string' ? (f[k] as string).trim() : '');

/** A whole number in [min, max] from a form field; blank is `blank`. */
export function intField(
  f: Form,
  k: string,
  label: string,
  min: number,
  max: number,
  blank: number | null,
): Checked<number | null> {
  const v = text(f, k);
  if (!v) return { ok: true, value: blank };
  if (!/^[0-9]{1,9}$/.test(v) || Number(v) < min || Number(v) > max) {
    return {
      ok: false,
      error: `${label} must be a whole number from ${min} to ${max} (got "${v.slice(0, 40)}")`,
    };
  }
  return { ok: true, value: Number(v) };
}

/**
 * The settings form: builds per builder (blank means unlimited), autoscaling (a checkbox: absent
 * means off) and most builders per platform, checked by the same rules as the API.
 */
export function settingsPatch(f: Form, current: EffectiveSettings): Checked<Required<ProjectSettings>> {
  const { max_concurrent_builds: c, max_builders_per_platform: b } = SETTING_LIMITS;
  const max = intField(f, 'max_concurrent_builds', 'Builds per builder', c.min, c.max, null);
  if (!max.ok) return max;
  const builders = intField(
    f,
    'max_builders_per_platform',
    'Most builders per platform',
    b.min,
    b.max,
    current.max_builders_per_platform,
  );
  if (!builders.ok) return builders;
  const patch = {
    max_concurrent_builds: max.value,
    autoscaling: f.autoscaling === 'on',
    max_builders_per_platform: builders.value!,
  };
  const r = applySettings(current, patch);
  return r.ok ? { ok: true, value: patch } : { ok: false, error: r.message };
}

/** The new-token form: a name and an optional lifetime in days. */
export function tokenRequest(f: Form): Checked<{ name: string; expires_in: number | null }> {
  const name = text(f, 'name');
  if (!name) return { ok: false, error: 'a token needs a name (say who or what uses it, e.g. "ci")' };
  if (name.length > 200) return { ok: false, error: 'the token name is over 200 characters; shorten it' };
  const days = intField(f, 'expires_days', 'Expires in (days)', 1, 3650, null);
  if (!days.ok) return days;
  return { ok: true, value: { name, expires_in: days.value === null ? null : days.value * 86400 } };
}

/** The new-trust-policy form: the same rules as POST /v1/projects/{id}/trust-policies. */
export function policyInput(f: Form): Checked<TrustPolicyInput> {
  const repository = text(f, 'repository');
  if (!/^[A-Za-z0-9-]+\/[A-Za-z0-9._-]+$/.test(repository) || repository.length > 200) {
    return {
      ok: false,
      error: `Repository must be "owner/name" as in GitHub (got "${repository.slice(0, 80)}")`,
    };
  }
  const refs = text(f, 'refs')
    .split(/[\s,]+/)
    .filter(Boolean);
  if (refs.length > 50) return { ok: false, error: 'at most 50 ref patterns per policy' };
  const bad = refs.find((r) => !r.startsWith('refs/') || r.length > 256);
  if (bad) {
    return {
      ok: false,
      error: `ref pattern "${bad.slice(0, 80)}" must start with refs/ (e.g. refs/heads/main or refs/tags/v*)`,
    };
  }
  const input: TrustPolicyInput = { provider: 'github', repository };
  if (refs.length) input.refs = refs;
  const environment = text(f, 'environment');
  if (environment.length > 255) return { ok: false, error: 'Environment is over 255 characters' };
  if (environment) input.environment = environment;
  const workflow = text(f, 'workflow');
  if (workflow.length > 512) return { ok: false, error: 'Workflow is over 512 characters' };
  if (workflow) input.workflow = workflow;
  if (f.allow_pull_request_target === 'on') input.allow_pull_request_target = true;
  return { ok: true, value: input };
}

/** Claims the matcher reads; a preview names the ones that were missing. */
const MATCHED_CLAIMS = [
  'repository',
  'repository_id',
  'repository_owner',
  'repository_owner_id',
  'ref',
  'event_name',
  'job_workflow_ref',
  'environment',
] as const;

/**
 * Claims from pasted JSON (a decoded ID token's payload, or an audit event's details).
 * repository_owner is taken from repository when absent (audit events do not record it).
 */
export function parseClaims(raw: string): Checked<{ claims: GithubClaims; missing: string[] }> {
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    return { ok: false, error: 'the claims are not valid JSON; paste the JSON payload of a GitHub ID token' };
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) {
    return {
      ok: false,
      error: 'the claims must be a JSON object such as {"repository":"acme/app","ref":"refs/heads/main"}',
    };
  }
  const c: Record<string, unknown> = {};
  for (const [k, val] of Object.entries(v as Record<string, unknown>)) {
    if (val === null || val === undefined) continue;
    c[k] = typeof val === 'string' ? val : typeof val === 'number' ? String(val) : val;
  }
  if (typeof c.repository !== 'string' || !c.repository.includes('/')) {
    return { ok: false, error: 'the claims need "repository" as "owner/name"' };
  }
  if (typeof c.repository_owner !== 'string') c.repository_owner = c.repository.split('/')[0];
  const missing = MATCHED_CLAIMS.filter((k) => k !== 'environment' && typeof c[k] !== 'string');
  for (const k of missing) c[k] = '';
  return { ok: true, value: { claims: c as GithubClaims, missing } };
}

export interface PolicyVerdict {
  policy: TrustPolicy;
  allows: boolean;
  why: string;
}

export interface Preview {
  granted: boolean;
  /** The exchange's own reason, as the caller would read it. */
  reason: string;
  policy_id: string | null;
  policies: PolicyVerdict[];
  missing: string[];
}

/** What the exchange would decide for these claims against one project's policies, and why per policy. */
export function previewClaims(
  claims: GithubClaims,
  missing: string[],
  project: { id: string; name: string },
  policies: TrustPolicy[],
): Preview {
  const lc = (s: string): string => s.toLowerCase();
  const verdicts = policies.map((policy): PolicyVerdict => {
    if (lc(policy.repository) !== lc(claims.repository)) {
      return {
        policy,
        allows: false,
        why: `it names repository ${policy.repository}, not ${claims.repository}`,
      };
    }
    const why = policyRefusal(policy, claims);
    return why === null
      ? { policy, allows: true, why: 'every condition holds' }
      : { policy, allows: false, why };
  });
  const d = decideTrust(
    claims,
    policies.map((policy) => ({ policy, project })),
    project,
  );
  return {
    granted: d.granted,
    reason: d.reason,
    policy_id: d.granted ? d.policy_id : null,
    policies: verdicts,
    missing,
  };
}
