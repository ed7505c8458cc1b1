// Pure analysis of steps and builds for the dashboard: the critical path of a waterfall, the
// key that finds a cached step's last uncached run, and chart series (percentiles per bucket).
import { createHash } from 'node:crypto';
import type { BuildStep } from '../../lib/api-types.js';

const t = (s: string | null): number | null => (s ? Date.parse(s) : null);

/**
 * The same Dockerfile step across builds of a project: its stage and instruction (the "[2/5]"
 * position in its name changes when lines are added above it). Null for BuildKit's own vertexes.
 */
export function stepKey(s: Pick<BuildStep, 'stage' | 'instruction'>): string | null {
  if (!s.instruction) return null;
  return createHash('sha256')
    .update(`${s.stage ?? ''}\u0000${s.instruction}`)
    .digest('hex')
    .slice(0, 32);
}

/**
 * The steps on the critical path of one platform's solve: start from the step that completed
 * last and walk back, each time to the input that completed last (the one it waited for).
 * Steps without recorded inputs (older clients) fall back to time: the latest step that
 * completed before this one started.
 */
export function criticalPath(steps: BuildStep[]): Set<string> {
  const done = steps.filter((s) => t(s.completed_at) !== null);
  const path = new Set<string>();
  if (!done.length) return path;
  const byDigest = new Map(done.map((s) => [s.digest, s]));
  let cur: BuildStep | undefined = done.reduce((a, b) => (t(b.completed_at)! > t(a.completed_at)! ? b : a));
  while (cur && !path.has(cur.digest)) {
    path.add(cur.digest);
    const start = t(cur.started_at) ?? t(cur.completed_at)!;
    let pool: BuildStep[];
    if (cur.inputs && cur.inputs.length) {
      pool = cur.inputs.map((d) => byDigest.get(d)).filter((s): s is BuildStep => s !== undefined);
    } else {
      pool = done.filter((s) => s !== cur && t(s.completed_at)! <= start);
    }
    cur = pool.length ? pool.reduce((a, b) => (t(b.completed_at)! > t(a.completed_at)! ? b : a)) : undefined;
  }
  return path;
}

/** The p-th percentile (0..100) of values by nearest rank; null for none. */
export function percentile(values: number[], p: number): number | null {
  if (!values.length) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

/**
 * A finished build as the charts see it: numbers the database computed from its timestamps
 * (parsing 10,000 ISO strings three times in JavaScript cost more than the query).
 */
export interface ChartBuild {
  /** index of its bucket from the range's start */
  bucket: number;
  duration_ms: number;
  /** queued to builder acquired; null when it never got one */
  wait_ms: number | null;
  steps_total: number | null;
  steps_cached: number | null;
  saved_ms: number | null;
}

export interface ChartPoint {
  /** bucket start, ISO */
  at: string;
  builds: number;
  p50_ms: number | null;
  p95_ms: number | null;
  /** cached steps / steps, over the bucket's builds that reported steps */
  hit_ratio: number | null;
  queue_p50_ms: number | null;
  queue_p95_ms: number | null;
  saved_ms: number;
}

/** Buckets of [from, to): an hour up to two days, a day up to 90 days, else a week. */
export function bucketMs(fromMs: number, toMs: number): number {
  const span = toMs - fromMs;
  if (span <= 2 * 86400_000) return 3600_000;
  if (span <= 90 * 86400_000) return 86400_000;
  return 7 * 86400_000;
}

/** One point per bucket of the range, empty buckets included (the x axis is time). */
export function chartSeries(builds: ChartBuild[], fromMs: number, toMs: number): ChartPoint[] {
  const size = bucketMs(fromMs, toMs);
  const n = Math.max(1, Math.ceil((toMs - fromMs) / size));
  const buckets: ChartBuild[][] = Array.from({ length: n }, () => []);
  for (const b of builds) {
    const i = Number(b.bucket);
    if (i >= 0 && i < n) buckets[i]!.push(b);
  }
  return buckets.map((bs, i) => {
    const durations = bs.map((b) => Number(b.duration_ms));
    const waits = bs.filter((b) => b.wait_ms !== null).map((b) => Number(b.wait_ms));
    const stepped = bs.filter((b) => Number(b.steps_total ?? 0) > 0);
    const total = stepped.reduce((t, b) => t + Number(b.steps_total ?? 0), 0);
    const cached = stepped.reduce((t, b) => t + Number(b.steps_cached ?? 0), 0);
    return {
      at: new Date(fromMs + i * size).toISOString(),
      builds: bs.length,
      p50_ms: percentile(durations, 50),
      p95_ms: percentile(durations, 95),
      hit_ratio: total ? cached / total : null,
      queue_p50_ms: percentile(waits, 50),
      queue_p95_ms: percentile(waits, 95),
      saved_ms: bs.reduce((t, b) => t + Number(b.saved_ms ?? 0), 0),
    };
  });
}

/** Named chart ranges of the charts page. */
export const RANGES: Record<string, number> = {
  '24h': 86400_000,
  '7d': 7 * 86400_000,
  '30d': 30 * 86400_000,
  '90d': 90 * 86400_000,
};
