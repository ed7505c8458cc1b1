import { describe, expect, it } from '@jest/globals';
import type { TrustPolicy } from '../../src/lib/api-types.js';
import {
  decideTrust,
  parseJobWorkflowRef,
  workflowMatches,
  type GithubClaims,
  type PolicyWithProject,
} from '../../src/server/auth/trust.js';

const claims = (o: Partial<GithubClaims> = {}): GithubClaims => ({
  sub: 'repo:acme/app:ref:refs/heads/main',
  jti: 'j1',
  repository: 'acme/app',
  repository_id: '100',
  repository_owner: 'acme',
  repository_owner_id: '7',
  ref: 'refs/heads/main',
  event_name: 'push',
  job_workflow_ref: 'acme/app/.github/workflows/ci.yml@refs/heads/main',
  ...o,
});

let n = 0;
const policy = (o: Partial<TrustPolicy> = {}, project = { id: 'prj_a', name: 'a' }): PolicyWithProject => ({
  project,
  policy: {
    id: `tp_${++n}`,
    project_id: project.id,
    provider: 'github',
    repository: 'acme/app',
    repository_id: null,
    repository_owner_id: null,
    refs: [],
    environment: null,
    workflow: null,
    allow_pull_request_target: false,
    created_at: '2026-01-01T00:00:00.000Z',
    ...o,
  },
});

describe('decideTrust', () => {
  it('grants the one project that trusts the repository and pins its ids on first use', () => {
    const p = policy();
    const d = decideTrust(claims(), [p], null);
    expect(d).toMatchObject({ granted: true, project_id: 'prj_a', policy_id: p.policy.id });
    expect(d.granted && d.pins).toEqual([
      { policy_id: p.policy.id, repository_id: '100', repository_owner_id: '7' },
    ]);
  });

  it('compares owner and name case-insensitively', () => {
    const d = decideTrust(
      claims({ repository: 'ACME/App', repository_owner: 'ACME' }),
      [policy({ repository: 'acme/APP' })],
      null,
    );
    expect(d.granted).toBe(true);
  });

  it('does not pin again once pinned', () => {
    const d = decideTrust(claims(), [policy({ repository_id: '100', repository_owner_id: '7' })], null);
    expect(d.granted && d.pins).toEqual([]);
  });

  const refusals: [string, Partial<GithubClaims>, Partial<TrustPolicy>, RegExp][] = [
    [
      're-created repository (other repository_id)',
      { repository_id: '999' },
      { repository_id: '100' },
      /pinned to repository_id 100 .* has repository_id 999.*renamed or re-created/,
    ],
    [
      'other owner id',
      { repository_owner_id: '8' },
      { repository_owner_id: '7' },
      /pinned to repository_owner_id 7/,
    ],
    ['pull_request_target', { event_name: 'pull_request_target' }, {}, /pull_request_target/],
    [
      'wrong ref',
      { ref: 'refs/heads/feature' },
      { refs: ['refs/heads/main'] },
      /ref refs\/heads\/feature is not allowed \(the policy allows refs\/heads\/main\)/,
    ],
    [
      'ref glob does not cross slashes',
      { ref: 'refs/heads/feat/x' },
      { refs: ['refs/heads/*'] },
      /ref refs\/heads\/feat\/x is not allowed/,
    ],
    [
      'wrong environment',
      { environment: 'staging' },
      { environment: 'production' },
      /environment staging is not allowed \(the policy requires environment production\)/,
    ],
    [
      'missing environment',
      {},
      { environment: 'production' },
      /has no environment .*environment: production/,
    ],
    [
      'wrong workflow',
      { job_workflow_ref: 'acme/app/.github/workflows/other.yml@refs/heads/main' },
      { workflow: 'release.yml' },
      /workflow .*other\.yml.* is not allowed \(the policy requires workflow release\.yml\)/,
    ],
  ];
  it.each(refusals)('refuses %s with an actionable reason', (_name, c, p, reason) => {
    const d = decideTrust(claims(c), [policy(p)], null);
    expect(d.granted).toBe(false);
    expect(!d.granted && d.code).toBe('not_trusted');
    expect(!d.granted && d.reason).toMatch(reason);
    expect(!d.granted && d.reason).toContain('project a');
  });

  it('allows pull_request_target when the policy says so, and ref globs', () => {
    expect(
      decideTrust(
        claims({ event_name: 'pull_request_target' }),
        [policy({ allow_pull_request_target: true })],
        null,
      ).granted,
    ).toBe(true);
    expect(
      decideTrust(
        claims({ ref: 'refs/tags/v1.2.3' }),
        [policy({ refs: ['refs/heads/main', 'refs/tags/v*'] })],
        null,
      ).granted,
    ).toBe(true);
    expect(
      decideTrust(claims({ ref: 'refs/heads/feat/x' }), [policy({ refs: ['refs/heads/**'] })], null).granted,
    ).toBe(true);
  });

  it('refuses an untrusted repository without naming any project', () => {
    const d = decideTrust(claims({ repository: 'evil/app', repository_owner: 'evil' }), [policy()], null);
    expect(d).toMatchObject({ granted: false, code: 'not_trusted', project_id: null });
    expect(!d.granted && d.reason).toMatch(/no project trusts repository evil\/app/);
    expect(!d.granted && d.reason).not.toContain('prj_a');
  });

  it('never matches by sub: a policy repository must equal the repository claim', () => {
    const d = decideTrust(
      claims({ sub: 'repo:acme/app:ref:refs/heads/main', repository: 'acme/app2' }),
      [policy()],
      null,
    );
    expect(d.granted).toBe(false);
  });

  it('lists the projects when several trust the repository and none is named', () => {
    const d = decideTrust(claims(), [policy(), policy({}, { id: 'prj_b', name: 'b' })], null);
    expect(d).toMatchObject({ granted: false, code: 'ambiguous_project' });
    expect(!d.granted && d.reason).toMatch(/a \(prj_a\), b \(prj_b\)/);
    expect(
      decideTrust(claims(), [policy(), policy({}, { id: 'prj_b', name: 'b' })], { id: 'prj_b', name: 'b' }),
    ).toMatchObject({
      granted: true,
      project_id: 'prj_b',
    });
  });

  it('refuses a named project that does not trust the repository, same answer whether it exists or not', () => {
    const exists = decideTrust(claims(), [policy()], { id: 'prj_z', name: 'z' });
    const missing = decideTrust(claims(), [policy()], { missing: 'z' });
    expect(exists).toEqual(missing);
    expect(!exists.granted && exists.reason).toMatch(/no project "z" trusts repository acme\/app/);
  });

  it('grants when one of several policies of the project matches', () => {
    const d = decideTrust(
      claims({ ref: 'refs/heads/release' }),
      [policy({ refs: ['refs/heads/main'] }), policy({ refs: ['refs/heads/release'] })],
      null,
    );
    expect(d.granted).toBe(true);
  });
});

describe('workflows', () => {
  it('parses job_workflow_ref', () => {
    expect(parseJobWorkflowRef('org/shared/.github/workflows/build.yml@refs/tags/v1')).toEqual({
      repo: 'org/shared',
      path: '.github/workflows/build.yml',
    });
  });
  const table: [string, string, boolean][] = [
    ['ci.yml', 'acme/app/.github/workflows/ci.yml@refs/heads/main', true],
    ['.github/workflows/ci.yml', 'acme/app/.github/workflows/ci.yml@refs/heads/main', true],
    ['release.yml', 'acme/app/.github/workflows/ci.yml@refs/heads/main', false],
    ['ci.yml', 'other/shared/.github/workflows/ci.yml@refs/heads/main', false],
    ['other/shared/.github/workflows/ci.yml', 'other/shared/.github/workflows/ci.yml@refs/tags/v1', true],
  ];
  it.each(table)('policy workflow %s vs %s → %s', (want, ref, ok) => {
    expect(workflowMatches(want, claims({ job_workflow_ref: ref }))).toBe(ok);
  });
});
