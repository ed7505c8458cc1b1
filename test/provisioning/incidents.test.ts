// The two outages of a hosted service, replayed against the provisioning layer with the
// simulated provider on a fake clock: an hour of provisioning in seconds of wall time.
import { describe, expect, it } from '@jest/globals';
import { SimulatedProvider } from '../../src/providers/simulated.js';
import { FakeClock } from '../../src/server/provisioning/clock.js';
import type { ScalingSettings } from '../../src/server/provisioning/placement.js';
import { Provisioner, type ProvisionerLog } from '../../src/server/provisioning/provisioner.js';
import { driveBuilds, seeded, type SimBuild } from '../helpers/fleet-sim.js';

function captureLog(): ProvisionerLog & { lines: { level: string; msg: string; obj: object }[] } {
  const lines: { level: string; msg: string; obj: object }[] = [];
  return {
    lines,
    info: (obj, msg) => lines.push({ level: 'info', msg, obj }),
    warn: (obj, msg) => lines.push({ level: 'warn', msg, obj }),
    error: (obj, msg) => lines.push({ level: 'error', msg, obj }),
  };
}

/** Most calls in any window of `w` whole seconds. */
function maxInWindow(perSecond: Map<number, number>, w: number): number {
  const secs = [...perSecond.keys()].sort((a, b) => a - b);
  let best = 0;
  for (const s of secs) {
    let n = 0;
    for (let t = s; t < s + w; t++) n += perSecond.get(t) ?? 0;
    best = Math.max(best, n);
  }
  return best;
}

describe('incident 1 replayed: a noisy neighbour uses most of the launch quota, 300 builds in a minute', () => {
  const scaling: ScalingSettings = { autoscaling: false, buildsPerBuilder: null, maxBuildersPerPlatform: 1 };
  // 150 projects, two builds each, none with a running builder: 150 launches needed.
  const rnd = seeded(11);
  const builds: SimBuild[] = Array.from({ length: 300 }, (_, i) => ({
    id: `b${i}`,
    projectId: `p${i % 150}`,
    arriveMs: Math.floor(rnd() * 60_000),
    durationMs: 5 * 60_000,
  }));

  async function region(clock: FakeClock, name: string, neighbour: boolean, seed: number) {
    return SimulatedProvider.create({
      clock,
      name,
      random: seeded(seed),
      // The neighbour calls 1.8 times a second for 10 instances: it takes most request tokens
      // and keeps the instance bucket near empty.
      ...(neighbour
        ? { neighbour: { callsPerSecond: 1.8, instancesPerCall: 10 }, initialResources: 30 }
        : {}),
    });
  }

  it('one pool: the rate holds, no retry storm, every build served or told why, the 5-minute alert fires', async () => {
    const clock = new FakeClock();
    const sim = await region(clock, 'us-east-1', true, 1);
    const log = captureLog();
    const prov = new Provisioner({
      pools: [{ name: 'us-east-1', provider: sim }],
      clock,
      log,
      random: seeded(2),
      limits: { buildWaitMs: 10 * 60_000 },
    });
    prov.start();
    const { outcomes } = await driveBuilds(clock, prov, builds, () => scaling, { maxMs: 20 * 60_000 });
    prov.close();
    await sim.close({ stopBuilders: true });
    const pool = prov.pools[0]!;

    // Launch calls a second never exceed the pool's share of the limit, in any window.
    const share = pool.requests.spec;
    expect(share.burst).toBeLessThan(5);
    expect(Math.max(...pool.stats.callsPerSecond.values())).toBeLessThanOrEqual(share.burst);
    for (const w of [1, 5, 10, 60]) {
      expect(maxInWindow(pool.stats.callsPerSecond, w)).toBeLessThanOrEqual(
        share.burst + Math.ceil(share.perSecond * w),
      );
    }
    // The account as a whole (neighbour included) never got more than its bucket allows.
    expect(maxInWindow(sim.stats.acceptedPerSecond, 10)).toBeLessThanOrEqual(5 + 2 * 10);

    // No retry storm: at most one provider call per failed launch, and few throttled calls.
    const failedLaunches = pool.stats.failed;
    expect(failedLaunches).toBeGreaterThan(0);
    const callsPerFailedLaunch = pool.stats.retryCalls / failedLaunches;
    expect(callsPerFailedLaunch).toBeLessThanOrEqual(1);
    expect(sim.stats.throttledCalls).toBeLessThanOrEqual(Math.max(3, sim.stats.calls * 0.25));
    expect(sim.stats.calls).toBe(pool.stats.providerCalls);

    // Every build is served or fails with the "no builder in time" message; none lost or queued.
    expect(outcomes.size).toBe(300);
    const failed = [...outcomes.values()].filter((o) => o.outcome === 'failed');
    const served = [...outcomes.values()].filter((o) => o.outcome === 'served');
    expect(served.length + failed.length).toBe(300);
    for (const f of failed) {
      expect(f.reason).toMatch(/^no linux\/amd64 builder within 600 s \(--build-wait\): pool us-east-1: /);
    }
    expect(prov.queue().waiting).toBe(0);
    expect(served.length).toBeGreaterThan(0);

    // Some build waited past five minutes: the alert fired, as a metric count and a log line.
    expect(prov.stats.waitAlerts).toBeGreaterThan(0);
    expect(
      log.lines.some((l) => l.level === 'error' && /waited more than 5 minutes for a builder/.test(l.msg)),
    ).toBe(true);
    console.log(
      `incident 1, one pool: served ${served.length}, failed ${failed.length}, provider calls ${pool.stats.providerCalls}, throttled ${sim.stats.throttledCalls}, retries ${pool.stats.retryCalls} for ${failedLaunches} failed launches, alerts ${prov.stats.waitAlerts}`,
    );
  }, 120_000);

  it('two pools: the breaker opens and builds are served from the second pool, which the answer names with a cold cache', async () => {
    const clock = new FakeClock();
    const east = await region(clock, 'us-east-1', true, 3);
    const west = await region(clock, 'us-west-2', false, 4);
    const prov = new Provisioner({
      pools: [
        { name: 'us-east-1', provider: east },
        { name: 'us-west-2', provider: west },
      ],
      clock,
      random: seeded(5),
      limits: { buildWaitMs: 10 * 60_000 },
    });
    prov.start();
    const { outcomes } = await driveBuilds(clock, prov, builds, () => scaling, { maxMs: 20 * 60_000 });
    prov.close();
    await east.close({ stopBuilders: true });
    await west.close({ stopBuilders: true });

    expect(prov.pools[0]!.breaker.opened).toBeGreaterThan(0);
    const all = [...outcomes.values()];
    expect(all.filter((o) => o.outcome === 'served')).toHaveLength(300);
    const fromWest = all.filter((o) => o.pool === 'us-west-2');
    expect(fromWest.length).toBeGreaterThan(100);
    for (const o of fromWest) expect(o.coldCache).toBe(true);
    for (const o of all.filter((x) => x.pool === 'us-east-1')) expect(o.coldCache).toBe(false);
    // Both pools kept to their rates.
    for (const p of prov.pools) {
      expect(Math.max(0, ...p.stats.callsPerSecond.values())).toBeLessThanOrEqual(p.requests.spec.burst);
    }
    // Nobody waited anywhere near five minutes.
    expect(prov.stats.waitAlerts).toBe(0);
    console.log(
      `incident 1, two pools: from us-west-2 ${fromWest.length}, max wait ${Math.round(prov.stats.maxWaitMs / 1000)} s`,
    );
  }, 120_000);
});

describe('incident 2 replayed: 500 concurrent builds of one project, 4 per builder, 200 builders allowed', () => {
  it('clones stay under the cap, the clone service never saturates, every build starts, some shared', async () => {
    const clock = new FakeClock();
    const sim = await SimulatedProvider.create({
      clock,
      name: 'us-east-1',
      random: seeded(21),
      clone: { baseMs: 3000, perConcurrentMs: 400, saturation: 48 },
    });
    const prov = new Provisioner({
      pools: [{ name: 'us-east-1', provider: sim }],
      clock,
      random: seeded(22),
    });
    prov.start();
    const scaling: ScalingSettings = { autoscaling: true, buildsPerBuilder: 4, maxBuildersPerPlatform: 200 };
    // A first build warms the primary; once it is quiesced its cache is snapshotted.
    const warm = await driveBuilds(
      clock,
      prov,
      [{ id: 'warm', projectId: 'big', arriveMs: 0, durationMs: 60_000 }],
      () => scaling,
      {
        maxMs: 5 * 60_000,
      },
    );
    expect(warm.outcomes.get('warm')?.outcome).toBe('served');
    await clock.runUntil(() => prov.stats.snapshotsTaken > 0, 60_000);
    expect(prov.stats.snapshotsTaken).toBe(1);

    const builds: SimBuild[] = Array.from({ length: 500 }, (_, i) => ({
      id: `b${i}`,
      projectId: 'big',
      arriveMs: 0,
      durationMs: 10 * 60_000,
    }));
    let inFlightMax = 0;
    const watch = (): void => {
      inFlightMax = Math.max(inFlightMax, prov.permits.used);
      clock.after(100, watch);
    };
    watch();
    const { outcomes } = await driveBuilds(clock, prov, builds, () => scaling, { maxMs: 60 * 60_000 });
    prov.close();
    await sim.close({ stopBuilders: true });

    // Clones in flight never exceed the cap, on our side and as the clone service saw them.
    const cap = prov.limits.permits.globalMax;
    expect(inFlightMax).toBeGreaterThan(0);
    expect(inFlightMax).toBeLessThanOrEqual(cap);
    expect(prov.permits.peak).toBeLessThanOrEqual(cap);
    expect(sim.stats.clonePeak).toBeLessThanOrEqual(cap);
    // The clone service never saturated and answered every clone.
    expect(sim.stats.cloneSaturated).toBe(false);
    expect(sim.stats.clonesDone).toBeGreaterThan(0);
    // Every build started; some on shared builders; never more builders than allowed.
    const all = [...outcomes.values()];
    expect(all.filter((o) => o.outcome === 'served')).toHaveLength(500);
    expect(all.filter((o) => o.shared).length).toBeGreaterThan(0);
    const builders = new Set(all.map((o) => o.builderId));
    expect(builders.size).toBeGreaterThan(1);
    expect(builders.size).toBeLessThanOrEqual(200);
    console.log(
      `incident 2: ${builders.size} builders, ${prov.stats.clonesStarted} clones, clone peak ${sim.stats.clonePeak}/${cap}, shared ${all.filter((o) => o.shared).length}, max wait ${Math.round(prov.stats.maxWaitMs / 1000)} s`,
    );
  }, 120_000);
});
