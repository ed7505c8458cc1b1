// The provisioner's own rules on a fake clock with the simulated provider: failed starts are
// bounded per build, a never-idle primary is drained at a bounded age before its snapshot, and
// the bounded queue refuses past its size.
import { describe, expect, it } from '@jest/globals';
import { SimulatedProvider } from '../../src/providers/simulated.js';
import { FakeClock } from '../../src/server/provisioning/clock.js';
import type { ScalingSettings } from '../../src/server/provisioning/placement.js';
import { Provisioner } from '../../src/server/provisioning/provisioner.js';
import { driveBuilds, seeded } from '../helpers/fleet-sim.js';

const off: ScalingSettings = { autoscaling: false, buildsPerBuilder: 1, maxBuildersPerPlatform: 1 };
const auto: ScalingSettings = { autoscaling: true, buildsPerBuilder: 2, maxBuildersPerPlatform: 3 };

describe('Provisioner', () => {
  it('a builder that never starts fails the oldest build after three tries, with the reason; no loop', async () => {
    const clock = new FakeClock();
    const sim = await SimulatedProvider.create({ clock, failureRate: 1, random: seeded(1) });
    const prov = new Provisioner({ pools: [{ name: 'a', provider: sim }], clock, random: seeded(2) });
    prov.start();
    const { outcomes } = await driveBuilds(
      clock,
      prov,
      [{ id: 'b1', projectId: 'p', arriveMs: 0, durationMs: 1000 }],
      () => off,
      { maxMs: 10 * 60_000 },
    );
    prov.close();
    const o = outcomes.get('b1')!;
    expect(o.outcome).toBe('failed');
    expect(o.reason).toBe(
      'builder linux/amd64 could not start after 3 attempts: instance failed its status checks',
    );
    expect(
      [...o.reasons].some((r) => /the builder failed to start \(instance failed its status checks\)/.test(r)),
    ).toBe(true);
    // One provider call per start, and no start after the build gave up.
    expect(sim.stats.calls).toBe(3);
    expect(prov.stats.failedLaunches).toBe(3);
  });

  it('a primary that is never idle is drained at the bounded age, then snapshotted once its builds end', async () => {
    const clock = new FakeClock();
    const sim = await SimulatedProvider.create({ clock, failureRate: 0, random: seeded(3) });
    const prov = new Provisioner({
      pools: [{ name: 'a', provider: sim }],
      clock,
      random: seeded(4),
      limits: { snapshot: { minIntervalMs: 600_000, maxAgeMs: 3_600_000, drainAfterMs: 5 * 60_000 } },
    });
    prov.start();
    // Six long builds keep the primary busy from the start: no quiesced moment, no snapshot.
    // Four more arrive; with no snapshot no clone can come, so they share at once.
    const long = [0, 1, 2, 3, 4, 5].map((i) => ({
      id: `long${i}`,
      projectId: 'p',
      arriveMs: 0,
      durationMs: 20 * 60_000,
    }));
    const run = driveBuilds(clock, prov, long, () => auto, { maxMs: 60 * 60_000 });
    await clock.runUntil(() => prov.stats.drains > 0, 10 * 60_000, 1000);
    expect(prov.stats.snapshotsTaken).toBe(0);
    expect(prov.stats.drains).toBe(1);
    const primary = [...prov.builders.values()].find((b) => b.role === 'primary')!;
    expect(primary.state).toBe('draining');
    // Drained at the bounded age: five minutes after it became busy (plus its start).
    expect(clock.nowMs() - primary.launchedAtMs).toBeLessThan(5 * 60_000 + 30_000);
    // A build arriving now is not placed on the draining primary; it waits.
    const late = driveBuilds(
      clock,
      prov,
      [{ id: 'late', projectId: 'p', arriveMs: 0, durationMs: 60_000 }],
      () => auto,
      {
        maxMs: 60 * 60_000,
      },
    );
    await clock.advance(5000);
    expect(prov.status('late', 'linux/amd64')).toMatchObject({ state: 'waiting' });
    await run;
    const { outcomes } = await late;
    prov.close();
    // Once its builds finished the primary was snapshotted (no build on it) and served again.
    expect(prov.stats.snapshotsTaken).toBeGreaterThanOrEqual(1);
    expect(outcomes.get('late')).toMatchObject({ outcome: 'served', shared: false });
  });

  it('a snapshot that restarted the primary records its new process, as a restart of the same builder', async () => {
    const clock = new FakeClock();
    const sim = await SimulatedProvider.create({ clock, failureRate: 0, random: seeded(7) });
    // Like the local and kubernetes providers: the snapshot stopped buildkitd and started it again.
    const snapshot = sim.snapshot.bind(sim);
    sim.snapshot = async (builderId, snapshotId) => {
      const info = await snapshot(builderId, snapshotId);
      const before = prov.builders.get(builderId)!.running!;
      return { ...info, restarted: { ...before, pid: 424242, startedAt: new Date(clock.nowMs()) } };
    };
    const events: { id: string; event: string; pid?: number | null }[] = [];
    const prov = new Provisioner({
      pools: [{ name: 'a', provider: sim }],
      clock,
      random: seeded(8),
      hooks: { builderChanged: (b, event) => void events.push({ id: b.id, event, pid: b.running?.pid }) },
    });
    prov.start();
    await driveBuilds(
      clock,
      prov,
      [{ id: 'b1', projectId: 'p', arriveMs: 0, durationMs: 60_000 }],
      () => auto,
      {
        maxMs: 30 * 60_000,
      },
    );
    await clock.runUntil(() => prov.stats.snapshotsTaken > 0, 30 * 60_000, 1000);
    prov.close();
    const primary = [...prov.builders.values()].find((b) => b.role === 'primary')!;
    expect(primary.running!.pid).toBe(424242);
    const mine = events.filter((e) => e.id === primary.id).map((e) => e.event);
    // Started once, then the restart is told as such (not as a second start, which counts a crash).
    expect(mine.filter((e) => e === 'running')).toHaveLength(1);
    expect(events).toContainEqual({ id: primary.id, event: 'restarted', pid: 424242 });
  });

  it('the queue is bounded: past its size a new build is refused, not queued', async () => {
    const clock = new FakeClock();
    const sim = await SimulatedProvider.create({ clock, random: seeded(5) });
    const prov = new Provisioner({ pools: [{ name: 'a', provider: sim }], clock, limits: { maxQueued: 2 } });
    const req = (id: string) => ({ buildId: id, projectId: 'p', platform: 'linux/amd64', scaling: off });
    expect(prov.request(req('a')).state).toBe('waiting');
    expect(prov.request(req('b')).state).toBe('waiting');
    expect(prov.request(req('c'))).toMatchObject({
      state: 'failed',
      code: 'queue_full',
      reason: expect.stringMatching(/build queue of this server is full \(2 builds wait/),
    });
    // The refused build left nothing behind; one that waits can still poll.
    expect(prov.status('c', 'linux/amd64')).toEqual({ state: 'unknown' });
    expect(prov.request(req('a')).state).toBe('waiting');
    prov.close();
  });

  it('an idle builder another replica still uses (the veto hook says so) is kept, and stops once the veto lifts', async () => {
    const clock = new FakeClock();
    const sim = await SimulatedProvider.create({ clock, failureRate: 0, random: seeded(6) });
    let inUse: string | null = '1 active build(s) on it, placed by another replica';
    const asked: string[] = [];
    const prov = new Provisioner({
      pools: [{ name: 'a', provider: sim }],
      clock,
      random: seeded(7),
      limits: { primaryIdleMs: 60_000 },
      hooks: {
        retireVeto: (id) => {
          asked.push(id);
          return inUse;
        },
      },
    });
    prov.start();
    await driveBuilds(clock, prov, [{ id: 'b1', projectId: 'p', arriveMs: 0, durationMs: 1000 }], () => off, {
      maxMs: 10 * 60_000,
    });
    const primary = [...prov.builders.values()].find((b) => b.role === 'primary')!;
    // Long past the idle time: this replica has no claim on it, but the veto keeps it running.
    await clock.advance(5 * 60_000);
    expect(asked.length).toBeGreaterThan(0);
    expect(asked.every((id) => id === primary.id)).toBe(true);
    expect(primary.state).toBe('running');
    // The other replica's build ended: after one more idle period it stops, cache kept.
    inUse = null;
    await clock.advance(3 * 60_000);
    expect(primary.state).toBe('stopped');
    prov.close();
  });
});
