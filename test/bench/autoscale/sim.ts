// bench:autoscale, simulated part: 200 builds of one project at 4 builds per builder on the
// simulated provider (EC2's launch limits, launch latency, random failures, a clone service),
// through the real provisioning layer on a fake clock. A build that shares a builder past its
// limit runs longer in proportion, so sharing is not free in these figures.
import { SimulatedProvider } from '../../../src/providers/simulated.js';
import { FakeClock } from '../../../src/server/provisioning/clock.js';
import type { ScalingSettings } from '../../../src/server/provisioning/placement.js';
import { Provisioner } from '../../../src/server/provisioning/provisioner.js';
import { driveBuilds, percentile, seeded, type SimBuild } from '../../helpers/fleet-sim.js';

export interface SimResult {
  builds: number;
  served: number;
  builders: number;
  shared: number;
  makespanMs: number;
  idealMs: number;
  ratio: number;
  ttbP50Ms: number;
  ttbP95Ms: number;
  ttbP99Ms: number;
  providerCalls: number;
  clonePeak: number;
  wallMs: number;
}

export async function runSimulated(
  opts: { builds?: number; perBuilder?: number; seed?: number } = {},
): Promise<SimResult> {
  const n = opts.builds ?? 200;
  const perBuilder = opts.perBuilder ?? 4;
  const rnd = seeded(opts.seed ?? 7);
  const started = Date.now();
  const clock = new FakeClock();
  const sim = await SimulatedProvider.create({ clock, name: 'sim-1', random: seeded((opts.seed ?? 7) + 1) });
  const prov = new Provisioner({
    pools: [{ name: 'sim-1', provider: sim }],
    clock,
    random: seeded((opts.seed ?? 7) + 2),
  });
  prov.start();
  const scaling: ScalingSettings = {
    autoscaling: true,
    buildsPerBuilder: perBuilder,
    maxBuildersPerPlatform: 200,
  };
  // The project has built before: its primary ran once and its cache was snapshotted.
  await driveBuilds(
    clock,
    prov,
    [{ id: 'warm', projectId: 'app', arriveMs: 0, durationMs: 60_000 }],
    () => scaling,
    {
      maxMs: 10 * 60_000,
    },
  );
  await clock.runUntil(() => prov.stats.snapshotsTaken > 0, 60_000);
  await clock.advance(60_000);

  // 200 builds arrive within 30 s and run 4 to 8 minutes each.
  const builds: SimBuild[] = Array.from({ length: n }, (_, i) => ({
    id: `b${i}`,
    projectId: 'app',
    arriveMs: Math.floor(rnd() * 30_000),
    durationMs: 240_000 + Math.floor(rnd() * 240_000),
  }));
  const { outcomes } = await driveBuilds(clock, prov, builds, () => scaling, {
    maxMs: 4 * 3_600_000,
    contention: true,
    stepMs: 500,
  });
  prov.close();
  await sim.close({ stopBuilders: true });
  const all = [...outcomes.values()];
  const waits = all
    .filter((o) => o.outcome === 'served')
    .map((o) => o.waitMs)
    .sort((a, b) => a - b);
  const makespan = Math.max(...all.map((o) => o.finishedMs ?? 0));
  // Unlimited instant builders: every build starts when it arrives.
  const ideal = Math.max(...builds.map((b) => b.arriveMs + b.durationMs));
  return {
    builds: n,
    served: waits.length,
    builders: new Set(all.map((o) => o.builderId)).size,
    shared: all.filter((o) => o.shared).length,
    makespanMs: makespan,
    idealMs: ideal,
    ratio: makespan / ideal,
    ttbP50Ms: percentile(waits, 50),
    ttbP95Ms: percentile(waits, 95),
    ttbP99Ms: percentile(waits, 99),
    providerCalls: prov.pools[0]!.stats.providerCalls,
    clonePeak: sim.stats.clonePeak,
    wallMs: Date.now() - started,
  };
}
