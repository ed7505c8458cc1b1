// Pure functions of the project, builders and charts pages, by tables: form checks, the claims
// preview, the critical path, chart series, cache totals, and escaping of every new field.
import { describe, expect, it } from '@jest/globals';
import type { BuildStep, TrustPolicy } from '../../src/lib/api-types.js';
import { parseCacheUsage } from '../../src/providers/local.js';
import {
  bucketMs,
  chartSeries,
  criticalPath,
  percentile,
  stepKey,
  type ChartBuild,
} from '../../src/server/insights/analysis.js';
import { cacheKind, cacheTotals, type CacheSnapshot } from '../../src/server/insights/cache.js';
import { loadInsightsConfig } from '../../src/server/insights/config.js';
import {
  parseClaims,
  policyInput,
  previewClaims,
  settingsPatch,
  tokenRequest,
} from '../../src/server/ui/forms.js';
import { buildersPage, chartsPage, formatBytes, type BuilderView } from '../../src/server/ui/fleet-pages.js';
import { projectPage, type ProjectPageData } from '../../src/server/ui/project-pages.js';
import { claimsOfEvent } from '../../src/server/ui/projects.js';

const MARKUP = `<script>x()</script><img src=x onerror=y()>`;

describe('settingsPatch', () => {
  const cur = { max_concurrent_builds: 2, autoscaling: false, max_builders_per_platform: 10 };
  it.each([
    [
      { max_concurrent_builds: '' },
      { max_concurrent_builds: null, autoscaling: false, max_builders_per_platform: 10 },
    ],
    [
      { max_concurrent_builds: ' 4 ', autoscaling: 'on', max_builders_per_platform: '3' },
      { max_concurrent_builds: 4, autoscaling: true, max_builders_per_platform: 3 },
    ],
    [{}, { max_concurrent_builds: null, autoscaling: false, max_builders_per_platform: 10 }],
  ])('%j', (f, want) => expect(settingsPatch(f, cur)).toEqual({ ok: true, value: want }));
  it.each([
    [{ max_concurrent_builds: '0' }, /Builds per builder must be a whole number from 1 to 10000/],
    [{ max_concurrent_builds: '-1' }, /Builds per builder must be/],
    [{ max_concurrent_builds: '2.5' }, /Builds per builder must be/],
    [{ max_concurrent_builds: '1e3' }, /Builds per builder must be/],
    [{ max_concurrent_builds: '10001' }, /Builds per builder must be/],
    [
      { max_concurrent_builds: '2', max_builders_per_platform: '0' },
      /Most builders per platform must be a whole number from 1 to 1000/,
    ],
    // the API's own rule: autoscaling needs a builds-per-builder limit
    [{ max_concurrent_builds: '', autoscaling: 'on' }, /autoscaling needs a builds-per-builder limit/],
  ])('refuses %j, naming the field and what it accepts', (f, re) => {
    const r = settingsPatch(f, cur);
    expect(!r.ok && r.error).toMatch(re);
  });
});

describe('tokenRequest', () => {
  it.each([
    [{ name: 'ci' }, { ok: true, value: { name: 'ci', expires_in: null } }],
    [
      { name: ' ci ', expires_days: '2' },
      { ok: true, value: { name: 'ci', expires_in: 172800 } },
    ],
  ])('%j', (f, want) => expect(tokenRequest(f)).toEqual(want));
  it.each([
    [{ name: '' }, /needs a name/],
    [{ name: 'x'.repeat(201) }, /over 200/],
    [{ name: 'ci', expires_days: '0' }, /Expires in \(days\) must be a whole number from 1 to 3650/],
  ])('%j is refused', (f, re) => {
    const r = tokenRequest(f);
    expect(!r.ok && r.error).toMatch(re);
  });
});

describe('policyInput', () => {
  it('takes refs separated by spaces or commas, optional fields only when set', () => {
    expect(
      policyInput({
        repository: 'acme/app',
        refs: 'refs/heads/main, refs/tags/v*',
        environment: '',
        workflow: 'ci.yml',
      }),
    ).toEqual({
      ok: true,
      value: {
        provider: 'github',
        repository: 'acme/app',
        refs: ['refs/heads/main', 'refs/tags/v*'],
        workflow: 'ci.yml',
      },
    });
    expect(policyInput({ repository: 'acme/app', allow_pull_request_target: 'on' })).toMatchObject({
      ok: true,
      value: { allow_pull_request_target: true },
    });
  });
  it.each([
    [{ repository: 'acme' }, /owner\/name/],
    [{ repository: `a/${MARKUP}` }, /owner\/name/],
    [{ repository: 'acme/app', refs: 'main' }, /must start with refs\//],
  ])('%j is refused', (f, re) => {
    const r = policyInput(f);
    expect(!r.ok && r.error).toMatch(re);
  });
});

const policy = (p: Partial<TrustPolicy>): TrustPolicy => ({
  id: 'tp_1',
  project_id: 'prj_1',
  provider: 'github',
  repository: 'acme/app',
  repository_id: null,
  repository_owner_id: null,
  refs: [],
  environment: null,
  workflow: null,
  allow_pull_request_target: false,
  created_at: '2026-01-01T00:00:00Z',
  ...p,
});

describe('parseClaims and previewClaims', () => {
  const claims = {
    repository: 'acme/app',
    repository_id: 42,
    repository_owner_id: '7',
    ref: 'refs/heads/main',
    event_name: 'push',
    job_workflow_ref: 'acme/app/.github/workflows/ci.yml@refs/heads/main',
  };
  const project = { id: 'prj_1', name: 'app' };

  it('fills repository_owner from repository, numbers become strings, and names what is missing', () => {
    const r = parseClaims(JSON.stringify({ repository: 'acme/app', ref: 'refs/heads/x' }));
    expect(r.ok && r.value.claims.repository_owner).toBe('acme');
    expect(r.ok && r.value.missing).toEqual([
      'repository_id',
      'repository_owner_id',
      'event_name',
      'job_workflow_ref',
    ]);
    const full = parseClaims(JSON.stringify(claims));
    expect(full.ok && full.value.claims.repository_id).toBe('42');
    expect(full.ok && full.value.missing).toEqual([]);
  });

  it.each([
    ['{', /not valid JSON/],
    ['[1]', /JSON object/],
    ['{"ref":"refs/heads/main"}', /"repository"/],
  ])('refuses %s', (raw, re) => {
    const r = parseClaims(raw);
    expect(!r.ok && r.error).toMatch(re);
  });

  it.each([
    [
      'the main-only policy is chosen; the tag policy says why not',
      [
        policy({ id: 'tp_tags', refs: ['refs/tags/*'] }),
        policy({ id: 'tp_main', refs: ['refs/heads/main'] }),
      ],
      { granted: true, policy_id: 'tp_main' },
      { tp_tags: /ref refs\/heads\/main is not allowed/, tp_main: /every condition holds/ },
    ],
    [
      'an environment the job lacks',
      [policy({ id: 'tp_env', environment: 'prod' })],
      { granted: false, policy_id: null },
      { tp_env: /the job has no environment/ },
    ],
    [
      'a policy of another repository',
      [policy({ id: 'tp_other', repository: 'acme/other' })],
      { granted: false, policy_id: null },
      { tp_other: /names repository acme\/other, not acme\/app/ },
    ],
    [
      'a pinned id that differs (renamed repository)',
      [policy({ id: 'tp_pin', repository_id: '41' })],
      { granted: false, policy_id: null },
      { tp_pin: /pinned to repository_id 41/ },
    ],
  ])('%s', (_name, policies, want, why) => {
    const parsed = parseClaims(JSON.stringify(claims));
    if (!parsed.ok) throw new Error(parsed.error);
    const pv = previewClaims(parsed.value.claims, parsed.value.missing, project, policies);
    expect(pv).toMatchObject(want);
    for (const [id, re] of Object.entries(why)) {
      expect(pv.policies.find((v) => v.policy.id === id)!.why).toMatch(re);
    }
    expect(pv.reason.length).toBeGreaterThan(10);
  });

  it('claimsOfEvent drops the fields Hoist added to an exchange audit', () => {
    expect(
      claimsOfEvent({
        id: 'aud_1',
        at: '',
        action: 'auth.github_oidc',
        outcome: 'granted',
        project_id: 'prj_1',
        subject: null,
        reason: '',
        details: {
          repository: 'acme/app',
          ref: 'refs/heads/main',
          policy_id: 'tp',
          token_id: 'tok',
          pinned: true,
        },
      }),
    ).toEqual({ repository: 'acme/app', ref: 'refs/heads/main' });
  });
});

const step = (digest: string, start: number, end: number, inputs?: string[], name = digest): BuildStep => ({
  platform: 'linux/amd64',
  digest,
  name,
  stage: null,
  instruction: `RUN ${name}`,
  started_at: new Date(1_000_000 + start * 1000).toISOString(),
  completed_at: new Date(1_000_000 + end * 1000).toISOString(),
  cached: false,
  error: null,
  log_tail: '',
  ...(inputs ? { inputs } : {}),
});

describe('criticalPath', () => {
  it.each([
    [
      'a diamond: the slow branch is critical, the fast one is not',
      [
        step('base', 0, 1),
        step('slow', 1, 9, ['base']),
        step('fast', 1, 2, ['base']),
        step('join', 9, 10, ['slow', 'fast']),
      ],
      ['join', 'slow', 'base'],
    ],
    [
      'without inputs (an older client): by time, the latest step done before each start',
      [step('a', 0, 2), step('b', 0, 5), step('c', 5, 6)],
      ['c', 'b'],
    ],
    ['nothing completed', [{ ...step('a', 0, 1), completed_at: null }], []],
  ])('%s', (_n, steps, want) => expect([...criticalPath(steps)]).toEqual(want));
});

describe('stepKey', () => {
  it('is the same for the same stage and instruction, whatever the position in the name', () => {
    expect(stepKey({ stage: 'build', instruction: 'RUN make' })).toBe(
      stepKey({ stage: 'build', instruction: 'RUN make' }),
    );
    expect(stepKey({ stage: null, instruction: 'RUN make' })).not.toBe(
      stepKey({ stage: 'build', instruction: 'RUN make' }),
    );
    expect(stepKey({ stage: null, instruction: null })).toBeNull();
  });
});

describe('percentile and chartSeries', () => {
  it.each([
    [[], 50, null],
    [[5], 95, 5],
    [[1, 2, 3, 4], 50, 2],
    [[1, 2, 3, 4, 5, 6, 7, 8, 9, 100], 95, 100],
  ])('%j p%d = %s', (v, p, want) => expect(percentile(v, p)).toBe(want));

  it('buckets by hour for a day, by day for a week, by week past 90 days', () => {
    expect(bucketMs(0, 86400_000)).toBe(3600_000);
    expect(bucketMs(0, 7 * 86400_000)).toBe(86400_000);
    expect(bucketMs(0, 100 * 86400_000)).toBe(7 * 86400_000);
  });

  it('computes each bucket from its own builds and leaves empty buckets empty', () => {
    const b = (
      bucket: number,
      durMin: number,
      waitMin: number | null,
      total: number,
      cached: number,
      saved: number,
    ): ChartBuild => ({
      bucket,
      duration_ms: durMin * 60_000,
      wait_ms: waitMin === null ? null : waitMin * 60_000,
      steps_total: total,
      steps_cached: cached,
      saved_ms: saved,
    });
    const from = Date.UTC(2026, 0, 1, 0);
    const pts = chartSeries(
      [b(0, 10, 1, 4, 1, 1000), b(0, 20, 3, 4, 3, 2000), b(2, 5, null, 0, 0, 0), b(7, 1, 1, 1, 1, 1)],
      from,
      from + 3 * 3600_000,
    );
    expect(pts.map((p) => p.at)).toEqual([0, 1, 2].map((h) => new Date(from + h * 3600_000).toISOString()));
    expect(pts[0]).toMatchObject({
      builds: 2,
      p50_ms: 600_000,
      p95_ms: 1_200_000,
      hit_ratio: 0.5,
      queue_p95_ms: 180_000,
      saved_ms: 3000,
    });
    expect(pts[1]).toMatchObject({ builds: 0, p50_ms: null, hit_ratio: null });
    // a build that never got a builder has no queue wait; one outside the range is not counted
    expect(pts[2]).toMatchObject({ builds: 1, hit_ratio: null, p50_ms: 300_000, queue_p50_ms: null });
  });
});

describe('cache snapshots', () => {
  const du = [
    { recordType: 'regular', size: 100, inUse: false },
    { recordType: 'regular', size: 50, inUse: true },
    { recordType: 'exec.cachemount', size: 30, inUse: false, shared: true },
    { recordType: 'source.local', size: 8 },
    { recordType: 'source.git.checkout', size: 2 },
    { recordType: 'frontend', size: 1 },
  ];
  const workers = [{ gcPolicy: [{ maxUsedSpace: 500 }, { maxUsedSpace: 1000 }, { keepBytes: 0 }] }];

  it.each([
    ['regular', 'layers'],
    ['exec.cachemount', 'cache_mounts'],
    ['source.local', 'source'],
    ['source.git.checkout', 'source'],
    ['internal', 'other'],
  ])('%s counts as %s', (t, k) => expect(cacheKind(t)).toBe(k));

  it('totals buildctl du by kind, reclaimable = not in use, the GC limit = the largest policy', () => {
    const u = parseCacheUsage(du, workers, { blocks: 100, bfree: 40, bsize: 4096 });
    expect(u.gcLimitBytes).toBe(1000);
    expect(u.fsUsedBytes).toBe(60 * 4096);
    expect(cacheTotals(u)).toEqual({
      records: 6,
      layers_bytes: 150,
      cache_mounts_bytes: 30,
      source_bytes: 10,
      other_bytes: 1,
      reclaimable_bytes: 141,
      fs_used_bytes: 245760,
      fs_total_bytes: 409600,
      gc_limit_bytes: 1000,
    });
    // an empty builder: buildctl prints null
    expect(cacheTotals(parseCacheUsage(null, [], null))).toMatchObject({
      records: 0,
      gc_limit_bytes: null,
      fs_used_bytes: null,
    });
  });

  it.each([
    [0, '0 B'],
    [1536, '1.5 KiB'],
    [10 * 1024 ** 3, '10.0 GiB'],
    [null, '—'],
  ])('formatBytes(%s) = %s', (n, want) => expect(formatBytes(n)).toBe(want));
});

describe('loadInsightsConfig', () => {
  it('defaults, zeros mean off, and bad values are named', () => {
    expect(loadInsightsConfig({})).toEqual({
      stepsRetentionDays: 14,
      stepsRetentionBuilds: 1000,
      cacheSnapshotIntervalMs: 60_000,
    });
    expect(
      loadInsightsConfig({
        'steps-retention-days': '0',
        'steps-retention-builds': '0',
        'cache-snapshot-interval': '0',
      }),
    ).toEqual({ stepsRetentionDays: null, stepsRetentionBuilds: null, cacheSnapshotIntervalMs: 0 });
    expect(() => loadInsightsConfig({ 'steps-retention-days': 'two' })).toThrow(
      /--steps-retention-days \(HOIST_STEPS_RETENTION_DAYS\) must be a whole number/,
    );
    expect(() => loadInsightsConfig({ 'cache-snapshot-interval': '1s' })).toThrow(/at least 5s/);
  });
});

describe('new pages render what users and builds wrote as text', () => {
  const noMarkup = (page: string): void => {
    expect(page).not.toContain('<script>x()');
    expect(page).not.toContain('<img src=x');
    expect(page).toContain('&lt;script&gt;x()&lt;/script&gt;');
  };

  it('project page: token and policy fields, refusal reasons, recent claims, the preview and the new token', () => {
    const pol = policy({ id: 'tp_1', environment: MARKUP, workflow: MARKUP });
    const d: ProjectPageData = {
      project: {
        id: 'prj_1',
        name: 'app',
        max_concurrent_builds: 2,
        autoscaling: true,
        max_builders_per_platform: 4,
        created_at: '',
        updated_at: '',
      },
      tokens: [
        {
          id: 'tok_1',
          kind: 'project',
          name: MARKUP,
          project_id: 'prj_1',
          created_at: 'c',
          expires_at: null,
          last_used_at: null,
          revoked_at: null,
        },
      ],
      policies: [pol],
      refusals: [
        {
          id: 'aud_1',
          at: 'a',
          action: 'auth.github_oidc',
          outcome: 'refused',
          project_id: 'prj_1',
          subject: MARKUP,
          reason: MARKUP,
          details: { count: 3 },
        },
      ],
      recentClaims: [{ event_id: 'aud_2', at: 'a', outcome: 'refused', label: MARKUP }],
      newToken: { id: 'tok_2', name: MARKUP, token: 'hoist_prj_secret' },
      claimsText: `{"repository":"${MARKUP}"}</textarea><script>x()</script>`,
      values: { name: MARKUP },
      preview: {
        granted: false,
        reason: MARKUP,
        policy_id: null,
        policies: [{ policy: pol, allows: false, why: MARKUP }],
        missing: [],
      },
      error: { form: 'token', message: MARKUP },
    };
    const page = projectPage(d, 'csrf-value', '2026-01-01T00:00:00Z');
    noMarkup(page);
    expect(page).not.toContain('</textarea><script>');
    // every form carries the CSRF token
    const forms = page.match(/<form method="post"/g)!.length;
    expect(page.match(/name="csrf" value="csrf-value"/g)!.length).toBe(forms);
    expect(page).toContain('value="hoist_prj_secret"');
  });

  it('builders page: last error and names; charts page: project names', () => {
    const b: BuilderView = {
      id: 'bldr_1',
      project_id: 'prj_1',
      project_name: MARKUP,
      platform: 'linux/amd64',
      role: 'primary',
      state: 'running',
      started_at: '2026-01-01T00:00:00Z',
      restarts: 1,
      launch_failures: 0,
      last_error: MARKUP,
      in_use: 1,
      limit: 2,
      cache: {
        builder_id: 'bldr_1',
        project_id: 'prj_1',
        platform: 'linux/amd64',
        at: 'now',
        reason: 'build',
        records: 3,
        layers_bytes: 1024,
        cache_mounts_bytes: 0,
        source_bytes: 10,
        other_bytes: 0,
        reclaimable_bytes: 10,
        fs_used_bytes: 1,
        fs_total_bytes: 2,
        gc_limit_bytes: 4096,
      } satisfies CacheSnapshot,
    };
    const page = buildersPage(
      [b],
      [{ project_name: MARKUP, platform: 'linux/amd64', waiting: 2, oldest: null }],
      'c',
      new Date('2026-01-01T01:00:00Z'),
    );
    noMarkup(page);
    const text = page.replace(/\s+/g, ' ');
    expect(text).toContain('1 of 2');
    expect(text).toContain('1.0 KiB of 4.0 KiB GC limit');
    noMarkup(
      chartsPage({ points: [], projects: [MARKUP], project: MARKUP, range: '7d', ranges: ['7d'], csrf: 'c' }),
    );
  });
});
