// Leader-only provisioning, its pure pieces: the placement the leader writes for each waiting
// platform, what a replica that is not the leader answers from it, and which rows the leader's
// demand loop turns into claims or releases. Then the loop itself on a fake clock with the
// simulated provider: demand written by "a follower", placed by the leader's provisioner, read
// back by the follower; a new leader rebuilds from the rows without launching twice.
import { describe, expect, it } from '@jest/globals';
import { SimulatedProvider } from '../../src/providers/simulated.js';
import {
  claimKey,
  demandDiff,
  followerView,
  parsePlacement,
  placementOf,
  placementTarget,
  type Placement,
} from '../../src/server/builds/placements.js';
import type { BuilderRow, DemandRow } from '../../src/server/builds/store.js';
import { FakeClock } from '../../src/server/provisioning/clock.js';
import type { ScalingSettings } from '../../src/server/provisioning/placement.js';
import { Provisioner, type FleetBuilder } from '../../src/server/provisioning/provisioner.js';
import { seeded } from '../helpers/fleet-sim.js';

const row = (over: Partial<BuilderRow> = {}): BuilderRow => ({
  id: 'bkr_1',
  project_id: 'prj_1',
  platform: 'linux/amd64',
  role: 'primary',
  provider: 'local',
  pool: 'local',
  snapshot_id: null,
  state: 'running',
  endpoint: 'tcp://gw:1234',
  pid: 1,
  started_at: '2026-01-01T00:00:00.000Z',
  stopped_at: null,
  last_used_at: null,
  restarts: 0,
  launch_failures: 0,
  last_error: null,
  created_at: '2026-01-01T00:00:00.000Z',
  updated_at: '2026-01-01T00:00:00.000Z',
  owner: 'a',
  server_name: 'bkr-1.builders.hoist',
  ca_pem: 'CA',
  ...over,
});

const assigned: Placement = {
  state: 'assigned',
  builder_id: 'bkr_1',
  pool: 'local',
  role: 'primary',
  shared: true,
  cold_cache: false,
};

describe('placementOf / parsePlacement', () => {
  const fb = { id: 'bkr_1', role: 'clone' } as FleetBuilder;
  it.each([
    ['unknown', { state: 'unknown' } as const, null],
    [
      'waiting, its reason kept',
      { state: 'waiting', reason: 'busy', retryAfterMs: 1000 } as const,
      { state: 'waiting', reason: 'busy' },
    ],
    [
      'waiting without a reason yet',
      { state: 'waiting', reason: '', retryAfterMs: 1000 } as const,
      { state: 'waiting', reason: 'waiting for the provisioner' },
    ],
    [
      'failed',
      { state: 'failed', code: 'launch_failed', reason: 'no' } as const,
      { state: 'failed', code: 'launch_failed', reason: 'no' },
    ],
  ])('%s', (_n, st, want) => {
    expect(placementOf(st)).toEqual(want);
    if (want) expect(parsePlacement(JSON.stringify(placementOf(st)))).toEqual(want);
  });

  it('assigned: builder, pool, role and flags', () => {
    const p = placementOf({
      state: 'assigned',
      builder: fb,
      running: {} as never,
      pool: 'east',
      coldCache: true,
      shared: false,
    });
    expect(p).toEqual({
      state: 'assigned',
      builder_id: 'bkr_1',
      pool: 'east',
      role: 'clone',
      shared: false,
      cold_cache: true,
    });
    expect(parsePlacement(JSON.stringify(p))).toEqual(p);
  });

  it.each([null, undefined, '', 'not json', '{"state":"assigned"}', '{"state":"other"}', '7'])(
    'a stored %j is no placement',
    (raw) => expect(parsePlacement(raw)).toBeNull(),
  );
});

describe('followerView', () => {
  it.each<[string, Placement | null, string | null, BuilderRow | undefined, string | null, object]>([
    [
      'assigned and running: sent there, with the row address and the placement flags',
      assigned,
      null,
      row(),
      'a',
      {
        kind: 'assigned',
        builderId: 'bkr_1',
        pool: 'local',
        role: 'primary',
        shared: true,
        coldCache: false,
        endpoint: 'tcp://gw:1234',
        serverName: 'bkr-1.builders.hoist',
        caPem: 'CA',
      },
    ],
    [
      'assigned, row still starting',
      assigned,
      null,
      row({ state: 'starting' }),
      'a',
      { kind: 'waiting', reason: 'builder bkr_1 is starting' },
    ],
    [
      'assigned, row running but written by a server before server names were recorded',
      assigned,
      null,
      row({ server_name: null }),
      'a',
      { kind: 'waiting', reason: 'builder bkr_1 is starting' },
    ],
    ['assigned, no row', assigned, null, undefined, 'a', { kind: 'waiting' }],
    [
      'assigned to another builder than the row read',
      assigned,
      null,
      row({ id: 'bkr_2' }),
      'a',
      { kind: 'waiting', reason: 'builder bkr_1 is starting' },
    ],
    [
      'the leader says waiting even though the build holds a builder (being replaced)',
      { state: 'waiting', reason: 'builder linux/amd64 is being replaced (gone)' },
      'bkr_1',
      row(),
      'a',
      { kind: 'waiting', reason: 'builder linux/amd64 is being replaced (gone)' },
    ],
    [
      'failed',
      { state: 'failed', code: 'wait_exceeded', reason: 'no builder within 30 s' },
      null,
      undefined,
      'a',
      { kind: 'failed', code: 'wait_exceeded', reason: 'no builder within 30 s' },
    ],
    [
      'no placement yet, a leader',
      null,
      null,
      undefined,
      'replica-a',
      { kind: 'waiting', reason: 'waiting for the leader replica (replica-a) to place this build' },
    ],
    [
      'no placement, no leader',
      null,
      null,
      undefined,
      null,
      { kind: 'waiting', reason: expect.stringMatching(/none holds the lease right now/) },
    ],
    [
      'no placement but a held builder (a poll again while no replica leads): the held one, flags off',
      null,
      'bkr_1',
      row({ role: 'clone', pool: 'east' }),
      null,
      { kind: 'assigned', builderId: 'bkr_1', pool: 'east', role: 'clone', shared: false, coldCache: false },
    ],
  ])('%s', (_n, placement, held, builder, leader, want) => {
    expect(followerView(placement, held, builder, leader)).toMatchObject(want);
  });

  it.each<[Placement | null, string | null, string | null]>([
    [assigned, null, 'bkr_1'],
    [assigned, 'bkr_9', 'bkr_1'],
    [null, 'bkr_9', 'bkr_9'],
    [null, null, null],
    [{ state: 'waiting', reason: 'x' }, 'bkr_9', null],
  ])('placementTarget(%j, %j) = %j', (p, held, want) => expect(placementTarget(p, held)).toBe(want));
});

const demand = (build: string, over: Partial<DemandRow> = {}): DemandRow => ({
  build_id: build,
  platform: 'linux/amd64',
  project_id: 'prj_1',
  queued_at: '2026-01-01T00:00:00.000Z',
  builder_id: null,
  placement: null,
  ...over,
});

describe('demandDiff', () => {
  it.each<[string, string[], DemandRow[], string[], string[]]>([
    ['nothing', [], [], [], []],
    ['a new waiting row becomes a claim', [], [demand('b1')], ['b1'], []],
    ['a known one does not again', [claimKey('b1', 'linux/amd64')], [demand('b1')], [], []],
    [
      'a row holding a builder is never requested (adoption covers it)',
      [],
      [demand('b1', { builder_id: 'x' })],
      [],
      [],
    ],
    ['a build that ended anywhere is released', [claimKey('b1', 'linux/amd64')], [], [], ['b1']],
    [
      'one platform still active keeps the build',
      [claimKey('b1', 'linux/amd64'), claimKey('b1', 'linux/arm64')],
      [demand('b1', { platform: 'linux/arm64' })],
      [],
      [],
    ],
    [
      'a second platform of a known build is requested',
      [claimKey('b1', 'linux/amd64')],
      [demand('b1'), demand('b1', { platform: 'linux/arm64' })],
      ['b1|linux/arm64'],
      [],
    ],
  ])('%s', (_n, known, rows, request, release) => {
    const d = demandDiff(new Set(known), rows);
    expect(
      d.request.map((r) => (r.platform === 'linux/amd64' ? r.build_id : claimKey(r.build_id, r.platform))),
    ).toEqual(request);
    expect(d.release).toEqual(release);
  });
});

describe('the demand loop on a fake clock', () => {
  const off: ScalingSettings = { autoscaling: false, buildsPerBuilder: 1, maxBuildersPerPlatform: 1 };

  /** The database, as far as this loop reads and writes it. */
  interface Db {
    demand: DemandRow[];
    builders: Map<string, BuilderRow>;
  }

  function leaderPass(prov: Provisioner, db: Db): Promise<void> {
    const { request, release } = demandDiff(prov.claimKeys(), db.demand);
    for (const id of release) prov.release(id);
    for (const r of request) {
      prov.request({ buildId: r.build_id, projectId: r.project_id, platform: r.platform, scaling: off });
    }
    return prov.reconcile().then(() => {
      for (const r of db.demand) {
        const p = placementOf(prov.status(r.build_id, r.platform));
        if (p) r.placement = JSON.stringify(p);
      }
    });
  }

  function newLeader(clock: FakeClock, sim: SimulatedProvider, db: Db): Provisioner {
    return new Provisioner({
      pools: [{ name: 'sim', provider: sim }],
      clock,
      random: seeded(7),
      hooks: {
        primaryId: () => Promise.resolve('bkr_p'),
        builderChanged: (b, event) => {
          const r = db.builders.get(b.id) ?? row({ id: b.id, provider: 'simulated', pool: 'sim' });
          r.state = event === 'running' ? 'running' : event === 'starting' ? 'starting' : 'stopped';
          r.endpoint = b.running?.endpoint ?? null;
          r.server_name = b.running?.serverName ?? null;
          r.ca_pem = b.running ? 'CA' : null;
          db.builders.set(b.id, r);
        },
      },
    });
  }

  it("places a follower's build, frees its slot when it ends there, and a new leader adopts without a second launch", async () => {
    const clock = new FakeClock();
    const sim = await SimulatedProvider.create({
      clock,
      failureRate: 0,
      random: seeded(5),
      launchLatencyMs: { min: 3000, max: 3000 },
    });
    const db: Db = { demand: [], builders: new Map() };
    const view = (r: DemandRow) => {
      const p = parsePlacement(r.placement);
      const target = placementTarget(p, r.builder_id);
      return followerView(p, r.builder_id, target ? db.builders.get(target) : undefined, 'leader');
    };
    let leader = newLeader(clock, sim, db);
    leader.start();

    // The follower records the demand; before the leader read it, it answers "waiting for the leader".
    db.demand.push(demand('b1', { project_id: 'p' }));
    expect(view(db.demand[0]!)).toMatchObject({ kind: 'waiting', reason: /waiting for the leader replica/ });
    await leaderPass(leader, db);
    expect(view(db.demand[0]!)).toMatchObject({ kind: 'waiting' });
    await clock.runUntil(() => sim.stats.instancesStarted === 1, 10_000, 100);
    await leaderPass(leader, db);
    const v = view(db.demand[0]!);
    expect(v).toMatchObject({
      kind: 'assigned',
      builderId: 'bkr_p',
      serverName: 'bkr_p.builders.simulated.invalid',
    });

    // A second build waits behind the first (one build per builder)...
    db.demand.push(demand('b2', { project_id: 'p', queued_at: '2026-01-01T00:00:01.000Z' }));
    await leaderPass(leader, db);
    expect(view(db.demand[1]!)).toMatchObject({ kind: 'waiting', reason: /busy/ });
    // ...until b1 ends on the follower: its rows are no longer active, the leader releases it.
    db.demand[0]!.builder_id = 'bkr_p';
    db.demand.shift();
    await leaderPass(leader, db);
    expect(view(db.demand[0]!)).toMatchObject({ kind: 'assigned', builderId: 'bkr_p' });
    db.demand[0]!.builder_id = 'bkr_p';

    // The leader dies; a new one adopts the running builder with b2 on it (rows only).
    leader.close();
    const launchesBefore = sim.stats.instancesStarted;
    leader = newLeader(clock, sim, db);
    leader.adopt([
      {
        id: 'bkr_p',
        projectId: 'p',
        platform: 'linux/amd64',
        pool: 'sim',
        role: 'primary',
        running: true,
        claims: [{ buildId: 'b2', projectId: 'p', platform: 'linux/amd64', scaling: off }],
      },
    ]);
    leader.start();
    await clock.advance(2000);
    await leaderPass(leader, db);
    expect(view(db.demand[0]!)).toMatchObject({ kind: 'assigned', builderId: 'bkr_p' });
    expect(sim.stats.instancesStarted).toBe(launchesBefore);
    expect(await sim.list()).toEqual([expect.objectContaining({ id: 'bkr_p', state: 'running' })]);
    leader.close();
  });
});
