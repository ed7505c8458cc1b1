// Leader election on a real PostgreSQL: one leader at a time, a follower takes over within a
// poll of the leader's session ending, a leader that cannot confirm its lease stops counting
// itself the leader, and the pure lease rule.
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import pg from 'pg';
import { leaseHeld, replicaIdOf } from '../../src/server/cluster/leader.js';
import { PgLeader } from '../../src/server/cluster/pg-leader.js';
import { migrate, openDatabase, type Db } from '../../src/server/db/index.js';
import { coreMigrations } from '../../src/server/db/migrations/index.js';
import { createLogger } from '../../src/server/server.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';

jest.setTimeout(60_000);

describe('leaseHeld', () => {
  it.each([
    [null, 1000, 500, false, 'never confirmed'],
    [1000, 1000, 500, true, 'just confirmed'],
    [1000, 1499, 500, true, 'inside the lease'],
    [1000, 1500, 500, false, 'the lease ran out'],
    [1000, 999, 500, false, 'a clock that went backwards is not trusted'],
  ] as [number | null, number, number, boolean, string][])(
    'confirmed %p, now %p, lease %p → %p (%s)',
    (confirmed, now, lease, held) => {
      expect(leaseHeld(confirmed, now, lease)).toBe(held);
    },
  );
});

describe('replicaIdOf', () => {
  it.each([
    [undefined, 'host-a', 42, 'abc', 'host-a-42-abc'],
    ['  pod-7 ', 'h', 1, 'x', 'pod-7'],
    ['a b/c', 'h', 1, 'x', 'a-b-c'],
    ['', 'h', 1, 'x', 'h-1-x'],
  ])('given %p, host %p, pid %p, suffix %p → %p', (given, host, pid, rnd, want) => {
    expect(replicaIdOf(given, host, pid, rnd)).toBe(want);
  });
  it('keeps ids short enough for application_name', () => {
    expect(replicaIdOf('x'.repeat(100), 'h', 1, 'r')).toHaveLength(48);
  });
});

describe('PgLeader on PostgreSQL', () => {
  let pgs: TestPostgres;
  let url: string;
  let db: Db;
  const leaders: PgLeader[] = [];
  const logger = createLogger('silent');

  beforeAll(async () => {
    pgs = await startPostgres();
    url = await pgs.createDatabase('leader');
    db = await openDatabase({ databaseUrl: url, dataDir: '/nonexistent' });
    await migrate(db, coreMigrations);
  });

  afterAll(async () => {
    for (const l of leaders) await l.stop().catch(() => undefined);
    await db?.close();
    await pgs?.stop();
  });

  function leader(id: string, clock = { now: () => new Date() }): PgLeader {
    const l = new PgLeader({ url, replicaId: id, clock, logger, pollMs: 100, leaseMs: 1000 });
    leaders.push(l);
    return l;
  }

  async function waitFor(what: string, check: () => boolean, ms = 5000): Promise<number> {
    const t0 = Date.now();
    while (!check()) {
      if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 10));
    }
    return Date.now() - t0;
  }

  it('elects one leader, and a follower takes over within a poll when its session ends', async () => {
    const a = leader('replica-a');
    const b = leader('replica-b');
    const events: string[] = [];
    a.onElected(() => void events.push('a elected'));
    a.onDemoted(() => void events.push('a demoted'));
    b.onElected(() => void events.push('b elected'));
    await a.start();
    await b.start();
    expect(a.isLeader()).toBe(true);
    expect(b.isLeader()).toBe(false);
    await waitFor('b to see a as the leader', () => b.status().leader_id === 'replica-a');
    expect(a.status()).toMatchObject({ leader: true, replica_id: 'replica-a', leader_id: 'replica-a' });
    expect(await a.otherReplicas()).toEqual(['replica-b']);
    expect(await b.otherReplicas()).toEqual(['replica-a']);

    // What a SIGKILL of a's process does to its session: the server ends it, the lock goes.
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    await admin.query(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'hoist:replica-a'`,
    );
    await admin.end();
    const took = await waitFor('b to take over', () => b.isLeader());
    expect(took).toBeLessThan(1000);
    await waitFor('a to step down', () => events.includes('a demoted'));
    expect(a.isLeader()).toBe(false);
    await waitFor('a to follow b', () => a.status().leader_id === 'replica-b');
    // a may notice before b takes the lock, or after: both orders are fine.
    expect([...events].sort()).toEqual(['a demoted', 'a elected', 'b elected']);
    expect(b.status().elections).toBe(1);

    // A graceful stop hands over at once and leaves the member list.
    await b.stop();
    await waitFor('a to take over again', () => a.isLeader(), 2000);
    expect(await a.otherReplicas()).toEqual([]);
    await a.stop();
  });

  it('stops counting itself the leader one lease after its last confirmation', async () => {
    let now = Date.now();
    const clock = { now: () => new Date(now) };
    const l = new PgLeader({
      url,
      replicaId: 'replica-c',
      clock,
      logger,
      pollMs: 100,
      leaseMs: 1000,
      // No background polls: the test drives tick() itself.
      sleep: (_ms, signal) => new Promise((r) => signal.addEventListener('abort', () => r())),
    });
    leaders.push(l);
    await l.start();
    expect(l.isLeader()).toBe(true);
    now += 999;
    expect(l.isLeader()).toBe(true);
    now += 1;
    // Nothing confirmed it for a whole lease (a stalled process, a hung connection).
    expect(l.isLeader()).toBe(false);
    await l.tick();
    expect(l.isLeader()).toBe(true);
    await l.stop();
    expect(l.isLeader()).toBe(false);
  });

  it('says what is wrong when the database cannot be reached, and keeps trying', async () => {
    const lines: string[] = [];
    const l = new PgLeader({
      url: url.replace(/:\d+\//, ':1/'),
      replicaId: 'replica-d',
      clock: { now: () => new Date() },
      logger: createLogger('info', { write: (s: string) => void lines.push(s) }),
      pollMs: 100,
      leaseMs: 1000,
    });
    leaders.push(l);
    await l.start();
    expect(l.isLeader()).toBe(false);
    const warn = lines.map((s) => JSON.parse(s) as { msg: string }).find((x) => /cannot reach/.test(x.msg));
    expect(warn?.msg).toBe('leader election cannot reach the database; retrying');
    await l.stop();
  });
});
