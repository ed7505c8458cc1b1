// Steps while the build runs, by tables: the incremental rawjson collector, merging a vertex
// several records share, batch bounds, buildx's ref names, the switches, and how the build
// page draws steps that have not completed.
import { describe, expect, it } from '@jest/globals';
import { STEP_LOG_TAIL_BYTES, type BuildStep } from '../../src/lib/api-types.js';
import { chunkSteps, liveStepsEnabled } from '../../src/cli/live-steps.js';
import { StepCollector, isRefName, mergeSteps, parseRawJson, platformOfNode } from '../../src/cli/steps.js';
import { waterfall } from '../../src/server/ui/pages.js';

const b64 = (s: string | Buffer): string => Buffer.from(s).toString('base64');
const line = (o: unknown): string => JSON.stringify(o);

describe('StepCollector', () => {
  it('reports each step once per change, in the order BuildKit first named them', () => {
    const c = new StepCollector('linux/amd64');
    c.feed(
      line({
        vertexes: [
          { digest: 'a', name: '[1/2] RUN a' },
          { digest: 'b', name: '[2/2] RUN b' },
        ],
      }),
    );
    expect(c.takeChanged().map((s) => s.digest)).toEqual(['a', 'b']);
    expect(c.takeChanged()).toEqual([]);
    c.feed(line({ vertexes: [{ digest: 'b', name: '[2/2] RUN b', started: '2026-01-01T00:00:01Z' }] }));
    c.feed('not json');
    c.feed(line({ logs: [{ vertex: 'b', data: b64('hi\n') }] }));
    const changed = c.takeChanged();
    expect(changed).toHaveLength(1);
    expect(changed[0]).toMatchObject({
      digest: 'b',
      started_at: '2026-01-01T00:00:01Z',
      completed_at: null,
      log_tail: 'hi\n',
      instruction: 'RUN b',
    });
    // the whole set still holds both, a finished record reads the same
    expect(c.steps().map((s) => s.digest)).toEqual(['a', 'b']);
  });

  it('keeps a bounded log tail, cut on a character boundary even across chunks', () => {
    const c = new StepCollector('p');
    c.feed(line({ vertexes: [{ digest: 'a', name: 'x' }] }));
    const euro = Buffer.from('€'); // 3 bytes, split over two chunks
    c.feed(line({ logs: [{ vertex: 'a', data: b64(euro.subarray(0, 1)) }] }));
    c.feed(line({ logs: [{ vertex: 'a', data: b64(euro.subarray(1)) }] }));
    expect(c.steps()[0]!.log_tail).toBe('€');
    for (let i = 0; i < 50; i++) c.feed(line({ logs: [{ vertex: 'a', data: b64('é'.repeat(1000)) }] }));
    const tail = c.steps()[0]!.log_tail;
    expect(Buffer.byteLength(tail)).toBeLessThanOrEqual(STEP_LOG_TAIL_BYTES);
    expect(Buffer.byteLength(tail)).toBeGreaterThan(STEP_LOG_TAIL_BYTES - 4);
    expect(tail).toMatch(/^é+$/);
  });

  it('says once that warnings changed, and keeps one copy of each', () => {
    const c = new StepCollector('p');
    const w = { short: b64('RuleA: msg'), range: [{ start: { line: 2 } }] };
    expect(c.takeWarningsChanged()).toBe(false);
    c.feed(line({ warnings: [w, { ...w, vertex: 'other' }] }));
    expect(c.takeWarningsChanged()).toBe(true);
    expect(c.takeWarningsChanged()).toBe(false);
    c.feed(line({ warnings: [w] }));
    expect(c.takeWarningsChanged()).toBe(false);
    expect(c.warnings()).toEqual([
      { platform: 'p', rule: 'RuleA', message: 'RuleA: msg', line: 2, end_line: 2 },
    ]);
  });

  it('reads a whole record the same as parseRawJson', () => {
    const text = [
      line({ vertexes: [{ digest: 'a', name: '[1/1] RUN a', started: '2026-01-01T00:00:00Z' }] }),
      line({ vertexes: [{ digest: 'a', name: '[1/1] RUN a', completed: '2026-01-01T00:00:02Z' }] }),
    ].join('\n');
    const c = new StepCollector('p');
    for (const l of text.split('\n')) c.feed(l);
    expect(parseRawJson(text, 'p').steps).toEqual(c.steps());
    expect(c.steps()[0]).toMatchObject({
      started_at: '2026-01-01T00:00:00Z',
      completed_at: '2026-01-01T00:00:02Z',
    });
  });
});

const step = (digest: string, o: Partial<BuildStep> = {}): BuildStep => ({
  platform: 'linux/amd64',
  digest,
  name: digest,
  stage: null,
  instruction: null,
  started_at: null,
  completed_at: null,
  cached: false,
  error: null,
  log_tail: '',
  ...o,
});

describe('mergeSteps', () => {
  const T1 = '2026-01-01T00:00:01Z';
  const T2 = '2026-01-01T00:00:02Z';
  it.each<[string, BuildStep[], BuildStep[]]>([
    ['distinct digests stay', [step('a'), step('b')], [step('a'), step('b')]],
    [
      'the same digest on two platforms is two steps',
      [step('a'), step('a', { platform: 'linux/arm64' })],
      [step('a'), step('a', { platform: 'linux/arm64' })],
    ],
    [
      'a vertex two records share is one step: ran if either ran it, the later end, the longer log',
      [
        step('a', { cached: true, started_at: T1, completed_at: T1 }),
        step('b'),
        step('a', { cached: false, started_at: T1, completed_at: T2, log_tail: 'out' }),
      ],
      [step('a', { cached: false, started_at: T1, completed_at: T2, log_tail: 'out' }), step('b')],
    ],
    [
      'completed in either record is completed; an error in either is kept',
      [step('a', { started_at: T1 }), step('a', { started_at: T1, completed_at: T2, error: 'boom' })],
      [step('a', { started_at: T1, completed_at: T2, error: 'boom' })],
    ],
  ])('%s', (_, input, want) => expect(mergeSteps(input)).toEqual(want));
});

describe('chunkSteps', () => {
  const big = step('big', { log_tail: 'x'.repeat(5000) });
  it.each<[string, BuildStep[], number, number, string[][]]>([
    ['nothing', [], 2, 1000, []],
    ['by count', [step('a'), step('b'), step('c')], 2, 100_000, [['a', 'b'], ['c']]],
    ['by bytes', [step('a'), big, step('c')], 10, 3000, [['a'], ['big'], ['c']]],
    ['a step over the byte bound goes alone', [big], 10, 100, [['big']]],
  ])('%s', (_, steps, n, bytes, want) =>
    expect(chunkSteps(steps, n, bytes).map((b) => b.map((s) => s.digest))).toEqual(want),
  );
});

describe('buildx local state', () => {
  it.each([
    ['nf2kd72413p13nk3b2p4i7u6b', true],
    ['.tmp-cff3xspmv9h1sdt8gj8cx5uhx2209957340', false],
    ['', false],
  ])('ref file %j: %s', (name, want) => expect(isRefName(name)).toBe(want));
  it.each([
    ['hoist-bld_1-0', ['linux/amd64', 'linux/arm64'], 'linux/amd64'],
    ['hoist-bld_1-1', ['linux/amd64', 'linux/arm64'], 'linux/arm64'],
    ['hoist-bld_1-5', ['linux/amd64'], 'linux/amd64'],
    ['hoist-bld_1-0', [], 'default'],
  ])('node %s of %j serves %s', (node, platforms, want) =>
    expect(platformOfNode(node, platforms)).toBe(want),
  );
});

describe('liveStepsEnabled', () => {
  it.each([
    [{}, true],
    [{ HOIST_STEPS_LIVE: 'false' }, false],
    [{ HOIST_STEPS_LIVE: '0' }, false],
    [{ HOIST_STEPS: 'off' }, false],
    [{ HOIST_STEPS_LIVE: 'true' }, true],
  ])('%j: %s', (env, want) => expect(liveStepsEnabled(env)).toBe(want));
});

describe('waterfall with steps that have not completed', () => {
  const steps = [
    step('done', {
      name: 'RUN done',
      started_at: '2026-01-01T00:00:00Z',
      completed_at: '2026-01-01T00:00:02Z',
    }),
    step('open', { name: 'RUN open', started_at: '2026-01-01T00:00:02Z' }),
    step('later', { name: 'RUN later' }),
  ];
  it.each([
    [{ until: '2026-01-01T00:00:10Z', running: true }, 'running', 'st-running">running'],
    [{ until: '2026-01-01T00:00:10Z', running: false }, 'not-completed', 'notdone'],
  ])('%j', (open, state, badge) => {
    const out = waterfall(steps, null, new Set(), 100, open).value;
    expect(out).toContain(`data-state="${state}"`);
    expect(out).toContain(badge);
    expect(out).toContain('data-state="done"');
    expect(out).toContain('data-state="waiting"');
    // the open step's bar reaches `until`: 8 of the 10 s axis
    expect(out).toMatch(/class="(running|open)"\s+x="20\.0"\s+y="1"\s+width="80\.0"/);
  });
  it('without a build end, an open step is drawn as before', () => {
    const out = waterfall(steps, null).value;
    expect(out).not.toContain('not completed');
    expect(out).not.toContain('>running<');
  });
});
