// Pure parts of the end-to-end benchmark: its options, the statistics and the results table.
// Tested by tables in report.test.ts; main.ts does the I/O.

export const MODES = ['a', 'b', 'hoist-cli', 'hoist-action', 'a-bake', 'hoist-bake'] as const;
export type Mode = (typeof MODES)[number];
export const MODE_LABELS: Record<Mode, string> = {
  a: '(a) fresh builder + registry cache',
  b: '(b) fresh builder, no cache',
  'hoist-cli': '(c) hoist build',
  'hoist-action': '(c) build-push-action on Hoist',
  'a-bake': '(a) bake: fresh builder, docker buildx bake, a registry cache per target',
  'hoist-bake': '(c) hoist bake',
};
/** The modes of the build table (one build per target); the bake shape has its own table. */
const BUILD_MODES = ['a', 'b', 'hoist-cli', 'hoist-action'] as const satisfies readonly Mode[];

export const SCENARIOS = ['cold', 'nochange', 'source', 'deps', 'concurrent'] as const;
export type Scenario = (typeof SCENARIOS)[number];
export const SCENARIO_LABELS: Record<Scenario, string> = {
  cold: 'cold',
  nochange: 'no change',
  source: 'one-line change',
  deps: 'dependency change',
  concurrent: '4 concurrent (same commit)',
};

export const WORKLOADS = ['python-api', 'c-lua', 'monorepo'] as const;
export type Workload = (typeof WORKLOADS)[number];

export const NETWORKS = ['loopback', 'shaped'] as const;
export type Network = (typeof NETWORKS)[number];

export interface Options {
  reps: number;
  workloads: Workload[];
  modes: Mode[];
  scenarios: Scenario[];
  networks: Network[];
  /** Repetitions behind the shaped link (the first ones); the rest run on loopback only. */
  shapedReps: number;
  /** The shaped link: bandwidth (tc tbf rate, each direction) and round-trip time added per request. */
  link: Link;
  /** Where results.json and results.md go. */
  out: string | undefined;
}

export interface Link {
  /** tc rate, e.g. 200mbit */
  rate: string;
  rttMs: number;
}

export const DEFAULT_LINK = '200mbit,20ms';

/** `RATE,RTT`, e.g. `200mbit,20ms` or `1gbit,5ms`. */
export function parseLink(v: string): Link {
  const m = /^(\d+(?:\.\d+)?(?:kbit|mbit|gbit))\s*,\s*(\d+(?:\.\d+)?)ms$/i.exec(v.trim());
  if (!m)
    throw new Error(
      `--link: '${v}' is not RATE,RTT like ${DEFAULT_LINK} (rate in kbit, mbit or gbit; RTT in ms)`,
    );
  return { rate: (m[1] as string).toLowerCase(), rttMs: Number(m[2]) };
}

const USAGE = `usage: npm run bench:e2e -- [--quick] [--reps N] [--workloads ${WORKLOADS.join(',')}]
       [--modes ${MODES.join(',')}] [--scenarios ${SCENARIOS.join(',')}]
       [--network loopback|shaped|both] [--shaped-reps N] [--link ${DEFAULT_LINK}] [--out DIR]`;

function list<T extends string>(flag: string, value: string, allowed: readonly T[]): T[] {
  const items = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const bad = items.filter((s) => !(allowed as readonly string[]).includes(s));
  if (items.length === 0 || bad.length > 0) {
    throw new Error(
      `${flag}: unknown ${bad.join(', ') || '(empty)'}; use a comma-separated subset of ${allowed.join(',')}\n${USAGE}`,
    );
  }
  return [...new Set(items)] as T[];
}

/**
 * Options from argv (after the script name) and the environment (BENCH_REPS). `--quick` is one
 * repetition of everything on loopback; the full run is five repetitions on loopback and one
 * (`--shaped-reps`) behind the shaped link.
 */
export function parseOptions(argv: string[], env: Record<string, string | undefined>): Options {
  const o: Options = {
    reps: 5,
    workloads: [...WORKLOADS],
    modes: [...MODES],
    scenarios: [...SCENARIOS],
    networks: ['loopback', 'shaped'],
    shapedReps: 1,
    link: parseLink(DEFAULT_LINK),
    out: undefined,
  };
  if (env.BENCH_REPS) o.reps = reps('BENCH_REPS', env.BENCH_REPS);
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    const eq = arg.indexOf('=');
    const flag = eq > 0 ? arg.slice(0, eq) : arg;
    const value = (): string => {
      if (eq > 0) return arg.slice(eq + 1);
      const v = argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value\n${USAGE}`);
      return v;
    };
    switch (flag) {
      case '--quick':
        o.reps = 1;
        o.networks = ['loopback'];
        break;
      case '--reps':
        o.reps = reps(flag, value());
        break;
      case '--workloads':
        o.workloads = list(flag, value(), WORKLOADS);
        break;
      case '--modes':
        o.modes = list(flag, value(), MODES);
        break;
      case '--scenarios':
        o.scenarios = list(flag, value(), SCENARIOS);
        break;
      case '--network': {
        const v = value();
        if (v === 'both') o.networks = ['loopback', 'shaped'];
        else o.networks = list(flag, v, NETWORKS);
        break;
      }
      case '--shaped-reps':
        o.shapedReps = reps(flag, value());
        break;
      case '--link':
        o.link = parseLink(value());
        break;
      case '--out':
        o.out = value();
        break;
      case '-h':
      case '--help':
        throw new Error(USAGE);
      default:
        throw new Error(`unknown argument ${arg}\n${USAGE}`);
    }
  }
  return o;
}

function reps(flag: string, v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 50)
    throw new Error(`${flag}: '${v}' is not a repetition count from 1 to 50`);
  return n;
}

/** Modes in a different order each repetition, so no mode always runs first (interleaving). */
export function rotation<T>(items: readonly T[], rep: number): T[] {
  const k = items.length === 0 ? 0 : rep % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
}

export interface Summary {
  n: number;
  median: number;
  min: number;
  max: number;
}

export function summarize(xs: number[]): Summary | undefined {
  if (xs.length === 0) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  const median = s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
  return { n: s.length, median, min: s[0] as number, max: s[s.length - 1] as number };
}

/** One CI step (or, for `concurrent`, four at once) as measured. */
export interface Sample {
  network: Network;
  workload: Workload;
  scenario: Scenario;
  mode: Mode;
  rep: number;
  /** Wall time of the whole step, start to pushed image; for `concurrent`, until the last of the four. */
  ms: number;
  /** Builder creation and boot (baselines), or Hoist's acquire phase when known. */
  bootMs?: number;
  /** Bytes of the registry cache (a) read and written, through the counting proxy. */
  cacheIn?: number;
  cacheOut?: number;
  /** All bytes through the registry proxy during the step, both ways. */
  registryBytes?: number;
}

export function seconds(ms: number): string {
  return (ms / 1000).toFixed(ms >= 100_000 ? 0 : 1);
}

export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(0)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

function cell(s: Summary | undefined): string {
  if (!s) return '–';
  return s.n === 1 ? `${seconds(s.median)}` : `${seconds(s.median)} (${seconds(s.min)}–${seconds(s.max)})`;
}

function ratio(base: Summary | undefined, hoist: Summary | undefined): string {
  if (!base || !hoist || hoist.median <= 0) return '–';
  return `${(base.median / hoist.median).toFixed(1)}×`;
}

/**
 * The results as Markdown: per network, one row per workload and scenario with the median
 * (min–max) seconds of each mode, the ratios baseline ÷ Hoist (hoist build), and the bytes of
 * registry cache the baseline (a) imported and exported (medians).
 */
export function resultsTable(samples: Sample[]): string {
  const out: string[] = [];
  const networks = NETWORKS.filter((n) => samples.some((s) => s.network === n));
  for (const network of networks) {
    const mine = samples.filter((s) => s.network === network);
    const reps = new Set(mine.map((s) => s.rep)).size;
    // The build table, when any build-mode step ran (a bake-only run has only the bake table).
    const build: string[] = [];
    build.push(
      `**${network === 'loopback' ? 'Loopback registry' : 'Registry behind the shaped link'}** (${reps} repetition${reps === 1 ? '' : 's'}; seconds, median (min–max))`,
    );
    build.push('');
    build.push(
      '| workload | scenario | (a) fresh + registry cache | (b) fresh, no cache | hoist build | build-push-action on Hoist | (a) ÷ hoist | (b) ÷ hoist | (a) ÷ action | cache in / out (a) |',
    );
    build.push('| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
    for (const workload of WORKLOADS) {
      for (const scenario of SCENARIOS) {
        const pick = (mode: Mode): Sample[] =>
          mine.filter((s) => s.workload === workload && s.scenario === scenario && s.mode === mode);
        if (BUILD_MODES.every((m) => pick(m).length === 0)) continue;
        const sum = (mode: Mode): Summary | undefined => summarize(pick(mode).map((s) => s.ms));
        const [a, bHere, cli, action] = BUILD_MODES.map(sum);
        // (b) builds everything every time; measured cold, it stands for every scenario but the
        // concurrent one (four builds at once).
        const bCold = summarize(
          mine
            .filter((s) => s.workload === workload && s.scenario === 'cold' && s.mode === 'b')
            .map((s) => s.ms),
        );
        const b = bHere ?? (scenario === 'concurrent' ? undefined : bCold);
        build.push(
          `| ${workload} | ${SCENARIO_LABELS[scenario]} | ${cell(a)} | ${cell(b)} | ${cell(cli)} | ${cell(action)} | ${ratio(a, cli)} | ${ratio(b, cli)} | ${ratio(a, action)} | ${cacheCell(pick('a'))} |`,
        );
      }
    }
    build.push('');
    if (mine.some((s) => (BUILD_MODES as readonly Mode[]).includes(s.mode))) out.push(...build);
    const bake = mine.filter((s) => s.mode === 'a-bake' || s.mode === 'hoist-bake');
    if (bake.length === 0) continue;
    out.push(
      `**${network === 'loopback' ? 'Loopback registry' : 'Registry behind the shaped link'}, bake shape** (every target in one \`bake\`; seconds, median (min–max))`,
    );
    out.push('');
    out.push(
      '| workload | scenario | (a) fresh + `docker buildx bake`, registry cache per target | `hoist bake` | (a) ÷ hoist bake | per repetition | cache in / out (a) |',
    );
    out.push('| --- | --- | ---: | ---: | ---: | ---: | ---: |');
    for (const workload of WORKLOADS) {
      for (const scenario of SCENARIOS) {
        const pick = (mode: Mode): Sample[] =>
          bake.filter((s) => s.workload === workload && s.scenario === scenario && s.mode === mode);
        if (pick('a-bake').length === 0 && pick('hoist-bake').length === 0) continue;
        const a = summarize(pick('a-bake').map((s) => s.ms));
        const h = summarize(pick('hoist-bake').map((s) => s.ms));
        const per = repRatios(pick('a-bake'), pick('hoist-bake'));
        const perCell = per ? `${per.min.toFixed(1)}–${per.max.toFixed(1)}×` : '–';
        out.push(
          `| ${workload} | ${SCENARIO_LABELS[scenario]} | ${cell(a)} | ${cell(h)} | ${ratio(a, h)} | ${perCell} | ${cacheCell(pick('a-bake'))} |`,
        );
      }
    }
    out.push('');
  }
  return out.join('\n');
}

/** Median bytes of registry cache a baseline imported / exported. */
function cacheCell(samples: Sample[]): string {
  const cin = summarize(samples.filter((s) => s.cacheIn !== undefined).map((s) => s.cacheIn as number));
  const cout = summarize(samples.filter((s) => s.cacheOut !== undefined).map((s) => s.cacheOut as number));
  return cin && cout ? `${bytes(cin.median)} / ${bytes(cout.median)}` : '–';
}

/** Baseline ÷ Hoist within each repetition both ran (min, median, max), or undefined. */
export function repRatios(base: Sample[], hoist: Sample[]): Summary | undefined {
  const ratios: number[] = [];
  for (const b of base) {
    const h = hoist.find((s) => s.rep === b.rep);
    if (h && h.ms > 0) ratios.push(b.ms / h.ms);
  }
  return summarize(ratios);
}

/**
 * A bake definition (JSON, as `docker buildx bake -f` reads it) of `targets` built from `context`,
 * each tagged `repo(target):tag`, with build args. Stage `undefined` is the last stage, named `image`.
 */
export function bakeDefinition(
  context: string,
  targets: (string | undefined)[],
  repo: (target: string | undefined) => string,
  tag: string,
  args: Record<string, string>,
): { group: Record<string, { targets: string[] }>; target: Record<string, Record<string, unknown>> } {
  const target: Record<string, Record<string, unknown>> = {};
  for (const t of targets) {
    target[t ?? 'image'] = {
      context,
      dockerfile: 'Dockerfile',
      ...(t ? { target: t } : {}),
      tags: [`${repo(t)}:${tag}`],
      args,
    };
  }
  return { group: { default: { targets: Object.keys(target) } }, target };
}
