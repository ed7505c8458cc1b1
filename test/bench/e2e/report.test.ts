import { describe, expect, it } from '@jest/globals';
import { missingCapabilities } from './infra.js';
import {
  bakeDefinition,
  parseOptions,
  repRatios,
  resultsTable,
  rotation,
  summarize,
  type Sample,
} from './report.js';

describe('parseOptions', () => {
  it.each([
    [[], {}, { reps: 5, networks: ['loopback', 'shaped'], shapedReps: 1 }],
    [['--shaped-reps', '2'], {}, { shapedReps: 2 }],
    [['--quick'], {}, { reps: 1, networks: ['loopback'] }],
    [[], { BENCH_REPS: '3' }, { reps: 3 }],
    [['--reps', '7'], { BENCH_REPS: '3' }, { reps: 7 }],
    [['--reps=2', '--network', 'shaped'], {}, { reps: 2, networks: ['shaped'] }],
    [['--network=both'], {}, { networks: ['loopback', 'shaped'] }],
    [['--workloads', 'c-lua,python-api,c-lua'], {}, { workloads: ['c-lua', 'python-api'] }],
    [
      ['--modes', 'a,hoist-cli', '--scenarios', 'nochange'],
      {},
      { modes: ['a', 'hoist-cli'], scenarios: ['nochange'] },
    ],
    [['--link', '1gbit,5ms'], {}, { link: { rate: '1gbit', rttMs: 5 } }],
    [['--modes', 'a-bake,hoist-bake'], {}, { modes: ['a-bake', 'hoist-bake'] }],
    [[], {}, { link: { rate: '200mbit', rttMs: 20 } }],
  ])('%j with env %j', (argv, env, expected) => {
    expect(parseOptions(argv as string[], env as Record<string, string>)).toMatchObject(expected);
  });

  it.each([
    [['--reps', '0'], /--reps: '0' is not a repetition count from 1 to 50/],
    [['--reps'], /--reps needs a value/],
    [
      ['--workloads', 'java'],
      /--workloads: unknown java; use a comma-separated subset of python-api,c-lua,monorepo/,
    ],
    [['--modes', ''], /--modes: unknown \(empty\)/],
    [['--network', 'wifi'], /--network: unknown wifi/],
    [['--link', '1gbit; rm -rf /,5ms'], /--link: '1gbit; rm -rf \/,5ms' is not RATE,RTT/],
    [['--link', '100mbit'], /--link: '100mbit' is not RATE,RTT like 200mbit,20ms/],
    [['--fast'], /unknown argument --fast\nusage: npm run bench:e2e/],
  ])('%j is refused', (argv, message) => {
    expect(() => parseOptions(argv as string[], {})).toThrow(message);
  });

  it('refuses a bad BENCH_REPS', () => {
    expect(() => parseOptions([], { BENCH_REPS: 'lots' })).toThrow(/BENCH_REPS: 'lots'/);
  });
});

describe('rotation', () => {
  it.each([
    [0, ['a', 'b', 'c']],
    [1, ['b', 'c', 'a']],
    [2, ['c', 'a', 'b']],
    [4, ['b', 'c', 'a']],
  ])('rep %i', (rep, expected) => {
    expect(rotation(['a', 'b', 'c'], rep)).toEqual(expected);
  });
  it('of nothing is nothing', () => expect(rotation([], 3)).toEqual([]));
});

describe('summarize', () => {
  it.each([
    [[], undefined],
    [[5], { n: 1, median: 5, min: 5, max: 5 }],
    [[9, 1, 5], { n: 3, median: 5, min: 1, max: 9 }],
    [[4, 1, 3, 2], { n: 4, median: 2.5, min: 1, max: 4 }],
  ])('%j', (xs, expected) => expect(summarize(xs)).toEqual(expected));
});

describe('resultsTable', () => {
  const s = (
    mode: Sample['mode'],
    scenario: Sample['scenario'],
    ms: number,
    rep = 1,
    extra: Partial<Sample> = {},
  ): Sample => ({
    network: 'loopback',
    workload: 'c-lua',
    scenario,
    mode,
    rep,
    ms,
    ...extra,
  });

  it('shows medians with ranges, ratios to hoist build, and the cache bytes of (a)', () => {
    const table = resultsTable([
      s('a', 'source', 50_000, 1, { cacheIn: 2 * 1024 * 1024, cacheOut: 3 * 1024 * 1024 }),
      s('a', 'source', 70_000, 2, { cacheIn: 4 * 1024 * 1024, cacheOut: 5 * 1024 * 1024 }),
      s('a', 'source', 60_000, 3, { cacheIn: 6 * 1024 * 1024, cacheOut: 1024 }),
      s('hoist-cli', 'source', 10_000, 1),
      s('hoist-cli', 'source', 12_000, 2),
      s('hoist-cli', 'source', 11_000, 3),
      s('b', 'cold', 99_000, 1),
      s('a', 'concurrent', 200_000, 1),
      s('hoist-cli', 'concurrent', 20_000, 1),
    ]);
    expect(table).toContain('**Loopback registry** (3 repetitions; seconds, median (min–max))');
    expect(table).toContain(
      '| c-lua | one-line change | 60.0 (50.0–70.0) | 99.0 | 11.0 (10.0–12.0) | – | 5.5× | 9.0× | – | 4.0 MiB / 3.0 MiB |',
    );
    // (b) measured cold stands for every scenario
    expect(table).toContain('| c-lua | cold | – | 99.0 | – | – | – | – | – | – |');
    // ...but not for four builds at once
    expect(table).toContain(
      '| c-lua | 4 concurrent (same commit) | 200 | – | 20.0 | – | 10.0× | – | – | – |',
    );
    expect(table).not.toContain('Registry behind the shaped link');
  });

  it('has one section per network', () => {
    const table = resultsTable([
      s('a', 'nochange', 3000),
      { ...s('a', 'nochange', 9000), network: 'shaped' },
      { ...s('hoist-cli', 'nochange', 1000), network: 'shaped' },
    ]);
    expect(table).toContain('**Loopback registry** (1 repetition;');
    expect(table).toContain('**Registry behind the shaped link** (1 repetition;');
    expect(table).toContain('| c-lua | no change | 9.0 | – | 1.0 | – | 9.0× | – | – | – |');
  });

  it('puts the bake shape in its own table, with the ratio per repetition', () => {
    const m = (mode: Sample['mode'], ms: number, rep: number, extra: Partial<Sample> = {}): Sample => ({
      ...s(mode, 'source', ms, rep, extra),
      workload: 'monorepo',
    });
    const table = resultsTable([
      m('a-bake', 30_000, 1, { cacheIn: 1024 * 1024, cacheOut: 2048 }),
      m('a-bake', 20_000, 2, { cacheIn: 3 * 1024 * 1024, cacheOut: 4096 }),
      m('hoist-bake', 5_000, 1),
      m('hoist-bake', 2_000, 2),
    ]);
    expect(table).toContain('**Loopback registry, bake shape**');
    expect(table).toContain(
      '| monorepo | one-line change | 25.0 (20.0–30.0) | 3.5 (2.0–5.0) | 7.1× | 6.0–10.0× | 2.0 MiB / 3 KiB |',
    );
    // a bake-only run has no build table
    expect(table).not.toContain('hoist build |');
    expect(table).not.toContain('**Loopback registry** (');
  });
});

describe('repRatios', () => {
  const r = (mode: Sample['mode'], rep: number, ms: number): Sample => ({
    network: 'loopback',
    workload: 'monorepo',
    scenario: 'source',
    mode,
    rep,
    ms,
  });
  it.each([
    [[r('a-bake', 1, 10_000)], [r('hoist-bake', 1, 2_000)], { n: 1, median: 5, min: 5, max: 5 }],
    // a repetition only one side ran is left out
    [
      [r('a-bake', 1, 10_000), r('a-bake', 2, 9_000)],
      [r('hoist-bake', 2, 3_000)],
      { n: 1, median: 3, min: 3, max: 3 },
    ],
    [[r('a-bake', 1, 10_000)], [], undefined],
  ])('%#', (base, hoist, want) => expect(repRatios(base, hoist)).toEqual(want));
});

describe('bakeDefinition', () => {
  it('names every target, tags it and passes the build args; the last stage is "image"', () => {
    const repo = (t: string | undefined): string => `reg/app${t ? `-${t}` : ''}`;
    expect(bakeDefinition('.', ['api', 'worker'], repo, 'source', { BASE: 'reg/base' })).toEqual({
      group: { default: { targets: ['api', 'worker'] } },
      target: {
        api: {
          context: '.',
          dockerfile: 'Dockerfile',
          target: 'api',
          tags: ['reg/app-api:source'],
          args: { BASE: 'reg/base' },
        },
        worker: {
          context: '.',
          dockerfile: 'Dockerfile',
          target: 'worker',
          tags: ['reg/app-worker:source'],
          args: { BASE: 'reg/base' },
        },
      },
    });
    expect(bakeDefinition('.', [undefined], repo, 'cold', {}).target).toEqual({
      image: { context: '.', dockerfile: 'Dockerfile', tags: ['reg/app:cold'], args: {} },
    });
  });
});

describe('missingCapabilities', () => {
  it.each([
    ['CapBnd:\t000001ffffffffff\n', []],
    ['CapBnd:\t000001fffeffffff\n', ['CAP_SYS_RESOURCE']],
    ['CapBnd:\t000000fffeffffdf\n', ['CAP_KILL', 'CAP_SYS_RESOURCE', 'CAP_CHECKPOINT_RESTORE']],
    ['no such line', []],
  ])('%j', (status, expected) => expect(missingCapabilities(status)).toEqual(expected));
});
