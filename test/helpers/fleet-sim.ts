// Drives builds through the provisioning layer on a fake clock, as clients do: each build asks
// for a builder when it arrives, polls as told until it is placed or failed, runs for its
// duration, and releases its builder. Shared by the incident replays and bench:autoscale.
import type { FakeClock } from '../../src/server/provisioning/clock.js';
import type { ScalingSettings } from '../../src/server/provisioning/placement.js';
import type { Provisioner } from '../../src/server/provisioning/provisioner.js';

export interface SimBuild {
  id: string;
  projectId: string;
  arriveMs: number;
  durationMs: number;
}

export interface SimOutcome {
  id: string;
  outcome: 'served' | 'failed';
  reason?: string;
  /** From arrival to a builder. */
  waitMs: number;
  pool?: string;
  coldCache?: boolean;
  shared?: boolean;
  builderId?: string;
  finishedMs?: number;
  /** Every `pending` reason the client was told. */
  reasons: Set<string>;
}

/** A small seeded generator (mulberry32), so replays are the same every run. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export async function driveBuilds(
  clock: FakeClock,
  prov: Provisioner,
  builds: SimBuild[],
  scaling: (projectId: string) => ScalingSettings,
  opts: {
    maxMs: number;
    platform?: string;
    stepMs?: number;
    /** A build on a builder past its limit runs longer, in proportion (CPU contention). */
    contention?: boolean;
  },
): Promise<{ outcomes: Map<string, SimOutcome>; elapsedMs: number }> {
  const platform = opts.platform ?? 'linux/amd64';
  const start = clock.nowMs();
  const outcomes = new Map<string, SimOutcome>();
  let ended = 0;
  for (const b of builds) {
    const poll = (): void => {
      const st = prov.request({
        buildId: b.id,
        projectId: b.projectId,
        platform,
        scaling: scaling(b.projectId),
        queuedAtMs: start + b.arriveMs,
      });
      const o =
        outcomes.get(b.id) ??
        ({ id: b.id, outcome: 'failed', waitMs: 0, reasons: new Set<string>() } satisfies SimOutcome);
      outcomes.set(b.id, o);
      if (st.state === 'assigned') {
        o.outcome = 'served';
        o.waitMs = clock.nowMs() - (start + b.arriveMs);
        o.pool = st.pool;
        o.coldCache = st.coldCache;
        o.shared = st.shared;
        o.builderId = st.builder.id;
        const limit = scaling(b.projectId).buildsPerBuilder;
        const factor = opts.contention && limit ? Math.max(1, st.builder.claims.size / limit) : 1;
        clock.after(b.durationMs * factor, () => {
          prov.release(b.id);
          o.finishedMs = clock.nowMs() - start;
          ended++;
        });
      } else if (st.state === 'failed') {
        o.outcome = 'failed';
        o.reason = st.reason;
        o.waitMs = clock.nowMs() - (start + b.arriveMs);
        prov.release(b.id);
        ended++;
      } else if (st.state === 'waiting') {
        o.reasons.add(st.reason);
        clock.after(st.retryAfterMs, poll);
      } else {
        o.reason = 'claim lost';
        ended++;
      }
    };
    clock.after(b.arriveMs, poll);
  }
  const elapsedMs = await clock.runUntil(() => ended === builds.length, opts.maxMs, opts.stepMs ?? 1000);
  return { outcomes, elapsedMs };
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}
