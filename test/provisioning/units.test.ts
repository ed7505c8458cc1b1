// Tables for the pure parts of the provisioning layer: buckets, batcher, backoff and retry
// budget, circuit breaker and pool choice, clone permits, placement, snapshot decisions.
import { describe, expect, it } from '@jest/globals';
import { fullJitter, RetryBudget } from '../../src/server/provisioning/backoff.js';
import { Batcher } from '../../src/server/provisioning/batcher.js';
import { choosePool, PoolBreaker } from '../../src/server/provisioning/breaker.js';
import { FakeClock } from '../../src/server/provisioning/clock.js';
import { ClonePermits } from '../../src/server/provisioning/permits.js';
import {
  launchPlan,
  placeBuild,
  type BuilderView,
  type ScalingSettings,
} from '../../src/server/provisioning/placement.js';
import { deletableSnapshots, snapshotDecision } from '../../src/server/provisioning/snapshots.js';
import { allowance, belowLimit, takeAll, TokenBucket } from '../../src/server/provisioning/token-bucket.js';

describe('TokenBucket (EC2 RunInstances: burst 5, 2 a second)', () => {
  // [take at ms, n, expected ok]
  const steps: [number, number, boolean][] = [
    [0, 5, true],
    [0, 1, false],
    [499, 1, false],
    [500, 1, true],
    [1000, 1, true],
    [1000, 1, false],
    [10_000, 6, false], // never more than the burst
    [10_000, 5, true],
  ];
  it('takes and refills as the table says', () => {
    const b = new TokenBucket({ burst: 5, perSecond: 2 }, 0);
    for (const [at, n, ok] of steps) expect([at, n, b.take(n, at)]).toEqual([at, n, ok]);
  });

  it.each([
    [0, 1, 500],
    [0, 2, 1000],
    [250, 1, 250],
    [0, 6, Infinity],
  ])('after emptying, at %d ms, %d token(s) come in %d ms', (at, n, wait) => {
    const b = new TokenBucket({ burst: 5, perSecond: 2 }, 0);
    b.take(5, 0);
    expect(b.waitMs(n, at)).toBe(wait);
  });

  it('takeAll is all or nothing; allowance is the smallest bucket', () => {
    const a = new TokenBucket({ burst: 5, perSecond: 1 }, 0);
    const b = new TokenBucket({ burst: 2, perSecond: 1 }, 0);
    expect(allowance([a, b], 10, 0)).toBe(2);
    expect(takeAll([a, b], 3, 0)).toBe(false);
    expect(a.available(0)).toBe(5);
    expect(takeAll([a, b], 2, 0)).toBe(true);
    expect([a.available(0), b.available(0)]).toEqual([3, 0]);
  });

  it.each([
    [{ burst: 5, perSecond: 2 }, 0.6, { burst: 3, perSecond: 1.2 }],
    [{ burst: 1000, perSecond: 2 }, 0.5, { burst: 500, perSecond: 1 }],
    [{ burst: 1, perSecond: 0.01 }, 0.1, { burst: 1, perSecond: 0.01 }],
  ])('belowLimit(%j, %d) = %j', (limit, share, want) => {
    const got = belowLimit(limit, share);
    expect(got.burst).toBe(want.burst);
    expect(got.perSecond).toBeCloseTo(want.perSecond);
  });
});

describe('Batcher', () => {
  async function run(arrivals: number[], opts: { idleMs: number; maxMs: number; maxItems: number }) {
    const clock = new FakeClock(0);
    const calls: { at: number; items: number[] }[] = [];
    const b = new Batcher<number, string>({
      ...opts,
      clock,
      exec: async (items) => {
        calls.push({ at: clock.nowMs(), items });
        return items.map((i) => `r${i}`);
      },
    });
    const answers: Promise<string>[] = [];
    arrivals.forEach((at, i) => clock.after(at, () => answers.push(b.add(i))));
    await clock.advance(10_000);
    return { calls, answers: await Promise.all(answers) };
  }

  it.each([
    // arrivals (ms) → batches [closing time, items]
    ['one item closes after the idle window', [0], [[35, [0]]]],
    ['items within the idle window share a call', [0, 20, 40], [[75, [0, 1, 2]]]],
    [
      'a gap longer than the idle window splits',
      [0, 100],
      [
        [35, [0]],
        [135, [1]],
      ],
    ],
    [
      'a steady trickle closes at the max window',
      [0, 30, 60, 90, 120, 150],
      [
        [100, [0, 1, 2, 3]],
        [185, [4, 5]],
      ],
    ],
  ])('%s', async (_name, arrivals, want) => {
    const { calls, answers } = await run(arrivals as number[], { idleMs: 35, maxMs: 100, maxItems: 100 });
    expect(calls.map((c) => [c.at, c.items])).toEqual(want);
    expect(answers).toEqual((arrivals as number[]).map((_, i) => `r${i}`));
  });

  it('a full window closes at once', async () => {
    const { calls } = await run([0, 0, 0, 0, 0], { idleMs: 35, maxMs: 1000, maxItems: 2 });
    expect(calls.map((c) => c.items)).toEqual([[0, 1], [2, 3], [4]]);
    expect(calls[0]!.at).toBe(0);
  });

  it('a failed call rejects every caller of its window', async () => {
    const clock = new FakeClock(0);
    const b = new Batcher<number, number>({
      idleMs: 10,
      maxMs: 100,
      maxItems: 10,
      clock,
      exec: () => Promise.reject(new Error('boom')),
    });
    const p = Promise.allSettled([b.add(1), b.add(2)]);
    await clock.advance(20);
    expect((await p).map((r) => r.status)).toEqual(['rejected', 'rejected']);
  });
});

describe('backoff and retry budget', () => {
  it.each([
    [0, 1, 1000],
    [1, 1, 2000],
    [3, 0.5, 4000],
    [10, 0.999, 29_970],
    [40, 0.5, 15_000],
    [5, 0, 0],
  ])('full jitter: attempt %d with random %d waits %d ms', (attempt, r, want) => {
    expect(fullJitter(attempt, { baseMs: 1000, capMs: 30_000 }, () => r)).toBe(want);
  });

  it('a retry costs 5, a throttled retry 10, a success gives 1 back; an empty budget refuses', () => {
    const b = new RetryBudget({ capacity: 20, retryCost: 5, throttledRetryCost: 10, successRefund: 1 });
    const steps: [string, boolean | null, number][] = [
      ['throttled', true, 10],
      ['retry', true, 5],
      ['retry', true, 0],
      ['retry', false, 0],
      ['success', null, 1],
      ['success', null, 2],
      ['retry', false, 2],
    ];
    for (const [what, ok, left] of steps) {
      const got = what === 'success' ? (b.onSuccess(), null) : b.tryRetry(what === 'throttled');
      expect([what, got, b.available]).toEqual([what, ok, left]);
    }
  });
});

describe('PoolBreaker and choosePool', () => {
  const spec = { failureThreshold: 3, openMs: 60_000, launchDeadlineMs: 30_000 };
  it('opens after three unavailable answers in a row, probes once after openMs, closes on success', () => {
    const b = new PoolBreaker(spec);
    b.onUnavailable(0, 'throttled');
    b.onUnavailable(1, 'throttled');
    expect(b.state(1)).toBe('closed');
    b.onUnavailable(2, 'throttled');
    expect([b.state(2), b.acceptsBuilds(2), b.allowsLaunch(2)]).toEqual(['open', false, false]);
    expect(b.state(60_002)).toBe('half-open');
    expect(b.allowsLaunch(60_002)).toBe(true);
    b.onLaunchStart(60_002);
    expect(b.allowsLaunch(60_003)).toBe(false);
    b.onUnavailable(60_004, 'throttled again');
    expect(b.state(60_005)).toBe('open');
    expect(b.reason).toBe('throttled again');
    b.onSuccess();
    expect(b.state(60_006)).toBe('closed');
  });

  it('a success between failures resets the count', () => {
    const b = new PoolBreaker(spec);
    b.onUnavailable(0, 'x');
    b.onUnavailable(0, 'x');
    b.onSuccess();
    b.onUnavailable(0, 'x');
    expect(b.state(0)).toBe('closed');
  });

  it('opens when the oldest queued build got no launch in time', () => {
    const b = new PoolBreaker(spec);
    b.onOldestWait(29_999, 0);
    expect(b.state(0)).toBe('closed');
    b.onOldestWait(30_000, 0);
    expect(b.state(0)).toBe('open');
    expect(b.reason).toMatch(/no builder launched within 30 s/);
  });

  it.each([
    ['first pool when nothing is known', [true, true], undefined, 0, { index: 0, since: 0 }],
    ['next pool when the first is open', [false, true], { index: 0, since: 0 }, 5, { index: 1, since: 5 }],
    [
      'stays on the fallback during the dwell',
      [true, true],
      { index: 1, since: 5 },
      100,
      { index: 1, since: 5 },
    ],
    ['returns after the dwell', [true, true], { index: 1, since: 5 }, 1005, { index: 0, since: 1005 }],
    [
      'moves up at once when the fallback fails too',
      [true, false],
      { index: 1, since: 5 },
      6,
      { index: 0, since: 6 },
    ],
    ['none when every pool is open', [false, false], { index: 0, since: 0 }, 6, null],
  ])('%s', (_n, accepting, current, now, want) => {
    expect(choosePool(accepting as boolean[], current, now as number, 1000)).toEqual(want);
  });
});

describe('ClonePermits', () => {
  const spec = { globalMax: 4, perSnapshotMax: 2, min: 1, slowMs: 1000, decreaseEveryMs: 100 };
  it('bounds clones globally and per snapshot', () => {
    const p = new ClonePermits(spec);
    const a1 = p.tryAcquire('a');
    const a2 = p.tryAcquire('a');
    expect([!!a1, !!a2, !!p.tryAcquire('a')]).toEqual([true, true, false]);
    const b1 = p.tryAcquire('b');
    const b2 = p.tryAcquire('b');
    expect([!!b1, !!b2, !!p.tryAcquire('c')]).toEqual([true, true, false]);
    expect(p.used).toBe(4);
    a1!.done(true, 10, 0);
    a1!.done(true, 10, 0); // idempotent
    expect(p.used).toBe(3);
    expect(p.usedBy('a')).toBe(1);
  });

  it.each([
    ['a slow clone halves the limit', [[true, 2000, 0]], 2],
    ['a failed clone halves the limit', [[false, 10, 0]], 2],
    [
      'two slow clones in one period halve once',
      [
        [true, 2000, 0],
        [true, 2000, 50],
      ],
      2,
    ],
    [
      'two periods apart halve twice, never below min',
      [
        [false, 0, 0],
        [false, 0, 200],
        [false, 0, 400],
      ],
      1,
    ],
    [
      'a quick clone after a halving adds one',
      [
        [false, 0, 0],
        [true, 100, 10],
      ],
      3,
    ],
    [
      'a middling clone changes nothing',
      [
        [false, 0, 0],
        [true, 800, 10],
      ],
      2,
    ],
  ])('%s', (_n, events, limit) => {
    const p = new ClonePermits(spec);
    for (const [ok, ms, at] of events as [boolean, number, number][])
      p.tryAcquire(`s${at}`)!.done(ok, ms, at);
    expect(p.limit).toBe(limit);
  });

  it('a tightened limit refuses new clones until clones finish', () => {
    const p = new ClonePermits(spec);
    const held = [p.tryAcquire('a')!, p.tryAcquire('b')!, p.tryAcquire('c')!];
    p.tryAcquire('d')!.done(false, 0, 0); // limit 4 → 2, three still in flight
    expect(p.tryAcquire('e')).toBeNull();
    held.forEach((h) => h.done(true, 800, 1));
    expect(p.tryAcquire('e')).not.toBeNull();
  });
});

describe('placement', () => {
  const auto: ScalingSettings = { autoscaling: true, buildsPerBuilder: 2, maxBuildersPerPlatform: 3 };
  const off: ScalingSettings = { autoscaling: false, buildsPerBuilder: 2, maxBuildersPerPlatform: 1 };
  const P = (load: number, state: BuilderView['state'] = 'running'): BuilderView => ({
    id: 'p',
    role: 'primary',
    state,
    load,
  });
  const C = (id: string, load: number, state: BuilderView['state'] = 'running'): BuilderView => ({
    id,
    role: 'clone',
    state,
    load,
  });

  it.each([
    [
      'primary below its limit',
      [P(1), C('c1', 0)],
      auto,
      0,
      true,
      { kind: 'use', builderId: 'p', shared: false },
    ],
    [
      'a clone with room once the primary is full',
      [P(2), C('c1', 2), C('c2', 1)],
      auto,
      0,
      true,
      { kind: 'use', builderId: 'c2', shared: false },
    ],
    ['waits while a clone may come', [P(2)], auto, 1000, true, { kind: 'wait' }],
    [
      'shares after the short wait, primary first',
      [P(2), C('c1', 2)],
      auto,
      20_000,
      true,
      { kind: 'use', builderId: 'p', shared: true },
    ],
    [
      'shares the least loaded',
      [P(3), C('c1', 2)],
      auto,
      20_000,
      true,
      { kind: 'use', builderId: 'c1', shared: true },
    ],
    [
      'shares at once when no clone can come',
      [P(2)],
      auto,
      0,
      false,
      { kind: 'use', builderId: 'p', shared: true },
    ],
    ['sharing stops at twice the limit while clones come', [P(4)], auto, 60_000, true, { kind: 'wait' }],
    [
      'without bound when no clone can come',
      [P(9)],
      auto,
      0,
      false,
      { kind: 'use', builderId: 'p', shared: true },
    ],
    ['autoscaling off: busy primary means wait', [P(2)], off, 60_000, false, { kind: 'wait' }],
    ['autoscaling off: a starting primary means wait', [P(0, 'starting')], off, 0, false, { kind: 'wait' }],
    [
      'a draining primary takes nothing',
      [P(0, 'draining'), C('c1', 2)],
      auto,
      20_000,
      true,
      { kind: 'use', builderId: 'c1', shared: true },
    ],
    [
      'no limit: everything on the primary',
      [P(50)],
      { ...off, buildsPerBuilder: null },
      0,
      false,
      { kind: 'use', builderId: 'p', shared: false },
    ],
  ])('%s', (_n, builders, s, waited, mayCome, want) => {
    const d = placeBuild(
      builders as BuilderView[],
      s as ScalingSettings,
      waited as number,
      20_000,
      mayCome as boolean,
    );
    expect(d).toMatchObject(want);
  });

  it('the busy reason names the load and the limit', () => {
    expect(placeBuild([P(2)], off, 0, 20_000, false)).toEqual({
      kind: 'wait',
      reason: 'busy: 2 of 2 concurrent builds running',
    });
  });

  it.each([
    ['nothing without demand', [], auto, 0, true, { primary: false, clones: 0 }],
    ['the primary first', [], auto, 1, true, { primary: true, clones: 0 }],
    ['primary and clones for the rest, within the max', [], auto, 9, true, { primary: true, clones: 2 }],
    ['only the difference', [P(2), C('c1', 1, 'starting')], auto, 5, true, { primary: false, clones: 1 }],
    ['no clones without a snapshot or clone method', [P(2)], auto, 6, false, { primary: false, clones: 0 }],
    ['autoscaling off: only the primary', [], off, 6, true, { primary: true, clones: 0 }],
    ['a stopped primary is launched again', [P(0, 'stopped')], off, 1, true, { primary: true, clones: 0 }],
  ])('launchPlan: %s', (_n, builders, s, demand, canClone, want) => {
    expect(
      launchPlan(builders as BuilderView[], s as ScalingSettings, demand as number, canClone as boolean),
    ).toEqual(want);
  });
});

describe('snapshot decisions', () => {
  const policy = { minIntervalMs: 600_000, maxAgeMs: 3_600_000, drainAfterMs: 1_800_000 };
  const idle = { state: 'running' as const, load: 0, dirty: true, busySinceMs: null };
  const busy = (since: number) => ({ state: 'running' as const, load: 3, dirty: true, busySinceMs: since });
  it.each([
    ['a quiesced dirty primary with no snapshot', idle, undefined, false, 'snapshot'],
    [
      'a quiesced clean primary with no demand for clones',
      { ...idle, dirty: false },
      undefined,
      false,
      'none',
    ],
    ['a quiesced primary when clones are wanted', { ...idle, dirty: false }, undefined, true, 'snapshot'],
    ['not again too soon', idle, { createdMs: 3_300_000 }, true, 'none'],
    ['again once the interval passed', idle, { createdMs: 0 }, false, 'snapshot'],
    ['never from a busy primary: drain it once busy long enough', busy(0), undefined, true, 'drain'],
    ['a busy primary not busy long enough is left alone', busy(3_000_000), undefined, true, 'none'],
    ['a busy primary with a fresh snapshot is left alone', busy(0), { createdMs: 3_000_000 }, true, 'none'],
    ['a busy primary with an old snapshot is drained', busy(0), { createdMs: 0 }, true, 'drain'],
    [
      'a draining primary waits for its builds',
      { ...busy(0), state: 'draining' as const },
      undefined,
      true,
      'none',
    ],
    [
      'a drained primary is snapshotted',
      { ...idle, state: 'draining' as const },
      undefined,
      true,
      'snapshot',
    ],
    ['a stopped primary is not', { ...idle, state: 'other' as const }, undefined, true, 'none'],
  ])('%s', (_n, primary, current, want, decision) => {
    expect(snapshotDecision(primary, current, want as boolean, 3_600_000, policy)).toBe(decision);
  });

  it('deletes superseded snapshots no clone uses', () => {
    expect(
      deletableSnapshots([
        { id: 'cur', current: true, usedBy: 0 },
        { id: 'old-used', current: false, usedBy: 2 },
        { id: 'old', current: false, usedBy: 0 },
      ]),
    ).toEqual(['old']);
  });
});
