// Pure functions of build insights and the dashboard, by tables.
import { describe, expect, it } from '@jest/globals';
import type { BuildStep } from '../../src/lib/api-types.js';
import { buildContext, parseRawJson, phasesOf, splitStepName, tailUtf8 } from '../../src/cli/steps.js';
import { renderStepSummary } from '../../src/cli/steps-summary.js';
import { branchRef, firstUncached } from '../../src/server/insights/store.js';
import { escapeHtml, html, safeHref } from '../../src/server/ui/html.js';
import { cookieValue, originAllowed } from '../../src/server/ui/session.js';
import { formatDuration } from '../../src/server/ui/pages.js';

const b64 = (s: string): string => Buffer.from(s).toString('base64');

describe('splitStepName', () => {
  it.each([
    ['[build 3/5] RUN make', { stage: 'build', instruction: 'RUN make' }],
    ['[2/3] COPY . .', { stage: null, instruction: 'COPY . .' }],
    ['[internal] load build definition from Dockerfile', { stage: null, instruction: null }],
    ['exporting to image', { stage: null, instruction: null }],
  ])('%s', (name, want) => expect(splitStepName(name)).toEqual(want));
});

describe('parseRawJson', () => {
  const lines = [
    JSON.stringify({ vertexes: [{ digest: 'd1', name: '[1/2] RUN a', started: '2026-01-01T00:00:00Z' }] }),
    'not json',
    JSON.stringify({
      vertexes: [
        {
          digest: 'd1',
          name: '[1/2] RUN a',
          started: '2026-01-01T00:00:00Z',
          completed: '2026-01-01T00:00:02Z',
        },
      ],
      logs: [
        { vertex: 'd1', data: b64('hello ') },
        { vertex: 'd1', data: b64('world\n') },
      ],
    }),
    JSON.stringify({ vertexes: [{ digest: 'd2', name: '[2/2] RUN b', cached: true, error: '' }] }),
    JSON.stringify({
      warnings: [
        {
          vertex: 'd1',
          short: b64('FromAsCasing: casing'),
          detail: [b64('match it')],
          range: [{ start: { line: 1 }, end: { line: 1 } }],
        },
        {
          vertex: 'd2',
          short: b64('FromAsCasing: casing'),
          detail: [b64('match it')],
          range: [{ start: { line: 1 }, end: { line: 1 } }],
        },
      ],
    }),
  ].join('\n');
  const { steps, warnings } = parseRawJson(lines, 'linux/amd64');

  it('merges a vertex seen several times, with its logs in order', () => {
    expect(steps).toHaveLength(2);
    expect(steps[0]).toMatchObject({
      digest: 'd1',
      instruction: 'RUN a',
      completed_at: '2026-01-01T00:00:02Z',
      cached: false,
      error: null,
      log_tail: 'hello world\n',
      platform: 'linux/amd64',
    });
    expect(steps[1]).toMatchObject({ cached: true, started_at: null, error: null });
  });

  it('keeps one copy of a warning with its rule and line', () => {
    expect(warnings).toEqual([
      {
        platform: 'linux/amd64',
        rule: 'FromAsCasing',
        message: 'FromAsCasing: casing\nmatch it',
        line: 1,
        end_line: 1,
      },
    ]);
  });
});

describe('tailUtf8', () => {
  it.each([
    ['abc', 5, 'abc'],
    ['abcdef', 3, 'def'],
    ['aé', 1, ''], // never half a character
    ['xéy', 3, 'éy'],
  ])('%s max %i', (text, max, want) => expect(tailUtf8(text, max)).toBe(want));
});

describe('buildContext', () => {
  it.each([
    [{}, { source: 'cli' }],
    [{ HOIST_BUILD_SOURCE: 'action' }, { source: 'action' }],
    [
      { GITHUB_REPOSITORY: 'a/b', GITHUB_RUN_ID: '5', GITHUB_RUN_ATTEMPT: '2', GITHUB_REF: 'refs/heads/x' },
      {
        source: 'cli',
        github: {
          repository: 'a/b',
          run_id: '5',
          run_attempt: '2',
          ref: 'refs/heads/x',
          run_url: 'https://github.com/a/b/actions/runs/5/attempts/2',
        },
      },
    ],
    // a run id that is no number makes no link
    [
      { GITHUB_REPOSITORY: 'a/b', GITHUB_RUN_ID: '5/../../x' },
      { source: 'cli', github: { repository: 'a/b', run_id: '5/../../x' } },
    ],
  ])('%j', (env, want) => expect(buildContext(env)).toEqual(want));
});

describe('phasesOf', () => {
  it('measures the spans between marks present', () => {
    expect(phasesOf({ created: 10, acquired: 30, builder_created: 35, built: 135, cleaned: 140 })).toEqual({
      queued_ms: 20,
      setup_ms: 5,
      build_ms: 100,
      cleanup_ms: 5,
    });
    expect(phasesOf({ created: 10, built: 20 })).toEqual({});
  });
});

describe('firstUncached', () => {
  const step = (name: string, started: number, cached: boolean): BuildStep => ({
    platform: 'p',
    digest: name,
    name,
    ...splitStepName(name),
    started_at: started >= 0 ? new Date(started * 1000).toISOString() : null,
    completed_at: null,
    cached,
    error: null,
    log_tail: '',
  });
  const steps = [
    step('[internal] load build definition', 0, false),
    step('[1/3] FROM img@sha256:1', 1, false),
    step('[3/3] RUN b', 3, false),
    step('[2/3] RUN a', 2, false),
  ];
  it.each([
    ['no previous build: FROM is skipped, earliest RUN wins', steps, undefined, '[2/3] RUN a'],
    ['same base as before', steps, new Set(['[1/3] FROM img@sha256:1']), '[2/3] RUN a'],
    ['a new base image', steps, new Set(['[1/3] FROM img@sha256:0']), '[1/3] FROM img@sha256:1'],
    ['all cached', [step('[1/1] RUN a', 1, true)], undefined, undefined],
    ['never started', [step('[1/1] RUN a', -1, false)], undefined, undefined],
  ])('%s', (_t, s, prev, want) => expect(firstUncached(s, prev)?.name).toBe(want));
});

describe('html', () => {
  it('escapes every interpolated value, not nested html', () => {
    const name = `<script>alert("x")</script>'&\``;
    expect(html`<td>${name}</td>`.value).toBe(
      '<td>&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&#39;&amp;&#96;</td>',
    );
    expect(html`<p>${html`<b>${'<i>'}</b>`}</p>`.value).toBe('<p><b>&lt;i&gt;</b></p>');
    expect(html`${[1, null, undefined, false, 'a']}`.value).toBe('1a');
    expect(escapeHtml('a"b')).toBe('a&quot;b');
  });
  it.each([
    ['https://github.com/a/b/actions/runs/1', 'https://github.com/a/b/actions/runs/1'],
    ['javascript:alert(1)', null],
    ['http://github.com', null],
    ['https://x.test/"onmouseover=1', null],
    ['/ui/builds/bld_1', '/ui/builds/bld_1'],
    ['//evil.test/ui/', null],
    [null, null],
  ])('safeHref(%s)', (url, want) => expect(safeHref(url)).toBe(want));
});

describe('session helpers', () => {
  it.each([
    ['http://127.0.0.1:8080', 'http://127.0.0.1:8080', true],
    ['http://127.0.0.1:8080', 'http://127.0.0.1:8080/', true],
    ['http://localhost:8080', 'http://127.0.0.1:8080', false],
    ['null', 'http://127.0.0.1:8080', false],
    [undefined, 'http://127.0.0.1:8080', false],
    ['https://hoist.example', 'https://hoist.example/base', true],
  ])('origin %s against %s', (origin, pub, want) => expect(originAllowed(origin, pub)).toBe(want));
  it.each([
    ['a=1; hoist_session=xyz; b=2', 'xyz'],
    ['hoist_session_x=1', undefined],
    [undefined, undefined],
  ])('cookie %s', (h, want) => expect(cookieValue(h, 'hoist_session')).toBe(want));
});

describe('branchRef', () => {
  it.each([
    ['main', 'refs/heads/main'],
    ['refs/tags/v1', 'refs/tags/v1'],
  ])('%s', (b, want) => expect(branchRef(b)).toBe(want));
});

describe('formatDuration', () => {
  it.each([
    [null, '—'],
    [950, '950 ms'],
    [1500, '1.5 s'],
    [61_000, '1m 1s'],
  ])('%s', (v, want) => expect(formatDuration(v)).toBe(want));
});

describe('renderStepSummary', () => {
  const base = {
    id: 'bld_1',
    project_id: 'prj_1',
    status: 'failed' as const,
    platforms: ['linux/amd64'],
    builders: [],
    queued_at: '',
    acquired_at: null,
    finished_at: null,
    error: null,
    build_url: '',
  };
  const step = (name: string, s: number, cached: boolean, error: string | null = null): BuildStep => ({
    platform: 'linux/amd64',
    digest: name,
    name,
    ...splitStepName(name),
    started_at: new Date(s * 1000).toISOString(),
    completed_at: new Date(s * 1000 + 1500).toISOString(),
    cached,
    error,
    log_tail: error ? 'line1\n\x1b[31mred\n' : '',
  });
  it('prints nothing without insights, and steps, the cache break, the failure and warnings with them', () => {
    expect(renderStepSummary(base)).toBe('');
    const text = renderStepSummary({
      ...base,
      insights: {
        context: {
          source: 'action',
          github: { repository: 'a/b', ref: 'refs/heads/main', sha: 'abcdef1234567890' },
        },
        created_by: null,
        trust: null,
        phases: null,
        dockerfile: null,
        steps: [
          step('[internal] load', 0, false),
          step('[2/2] RUN b', 2, false, 'exit 1'),
          step('[1/2] RUN a', 1, true),
        ],
        warnings: [{ platform: 'linux/amd64', rule: 'X', message: 'X: bad\nmore', line: 3, end_line: 3 }],
        steps_total: 2,
        steps_cached: 1,
        cache_break: { previous_build_id: 'bld_0', platform: 'linux/amd64', step: '[2/2] RUN b' },
      },
    });
    expect(text).toContain('source: action a/b refs/heads/main abcdef123456');
    expect(text).toContain('steps: cached 1 of 2');
    expect(text).toMatch(/linux\/amd64 +CACHED +1\.5 s +\[1\/2\] RUN a\n.*ERROR +1\.5 s +\[2\/2\] RUN b/s);
    expect(text).not.toContain('[internal] load');
    expect(text).toContain('cache broke at: [2/2] RUN b (linux/amd64), compared with bld_0');
    expect(text).toContain('failed: [2/2] RUN b: exit 1');
    expect(text).not.toContain('\x1b');
    expect(text).toContain('warning: line 3: X: bad\n');
  });

  it.each([
    ['running', 'RUNNING', 'steps: cached 0 of 1 (so far: the build is running)'],
    ['canceled', 'NOT DONE', 'steps: cached 0 of 1 (only those sent while it ran)'],
  ] as const)('a %s build with only its live steps: %s', (status, mark, head) => {
    const open = { ...step('[1/1] RUN slow', 0, false), completed_at: null };
    const text = renderStepSummary({
      ...base,
      status,
      insights: {
        context: null,
        created_by: null,
        trust: null,
        phases: null,
        dockerfile: null,
        steps: [open],
        warnings: [],
        steps_total: 1,
        steps_cached: 0,
        cache_break: null,
        steps_live: true,
      },
    });
    expect(text).toContain(head);
    expect(text).toMatch(new RegExp(`linux/amd64 +${mark} +- +\\[1/1\\] RUN slow`));
    expect(text).toContain('cache: no step missed it so far');
  });
});
