// The pure parts of the limits and aggregates shared by replicas: what a replica answers from
// memory (sharedStep), the per-process limiter used on SQLite, the aggregated-audit key and the
// batches of refusal counts.
import { describe, expect, it } from '@jest/globals';
import type { AggregateDelta, AuditInput } from '../../src/server/audit/log.js';
import { addRefusal, aggregateKey, mergeBack } from '../../src/server/audit/refusals.js';
import {
  clientKey,
  LocalClientLimiter,
  refillSec,
  sharedStep,
  type SharedMemory,
} from '../../src/server/http/rate-limit.js';

const mem = (m: Partial<SharedMemory> & { denied?: [string, number][] } = {}): SharedMemory => ({
  deniedUntil: new Map(m.denied ?? []),
  downUntil: m.downUntil ?? 0,
  probing: m.probing ?? false,
});

describe('sharedStep', () => {
  it.each([
    ['nothing remembered: ask the database', mem(), 1000, { kind: 'ask' }],
    [
      'refused a moment ago: refused from memory',
      mem({ denied: [['a', 1500]] }),
      1000,
      { kind: 'denied', retryAfterSec: 1 },
    ],
    [
      'a long refill is rounded up to whole seconds',
      mem({ denied: [['a', 3500]] }),
      1000,
      { kind: 'denied', retryAfterSec: 3 },
    ],
    ['the remembered refusal has expired', mem({ denied: [['a', 1000]] }), 1000, { kind: 'ask' }],
    ["another client's refusal does not count", mem({ denied: [['b', 5000]] }), 1000, { kind: 'ask' }],
    [
      'database down: 503 from memory until the cooldown ends',
      mem({ downUntil: 4200 }),
      1000,
      { kind: 'down', retryAfterSec: 4 },
    ],
    ['cooldown over: this take probes', mem({ downUntil: 900 }), 1000, { kind: 'ask' }],
    [
      'cooldown over but a probe is out: no second probe',
      mem({ downUntil: 900, probing: true }),
      1000,
      { kind: 'down', retryAfterSec: 1 },
    ],
    // A refused client stays refused while the database is down: 429, not 503.
    [
      'refused and down',
      mem({ denied: [['a', 1500]], downUntil: 9000 }),
      1000,
      { kind: 'denied', retryAfterSec: 1 },
    ],
  ] as [string, SharedMemory, number, unknown][])('%s', (_what, m, now, step) => {
    expect(sharedStep(m, 'a', now)).toEqual(step);
  });

  it.each([
    [20, 1],
    [1, 1],
    [0.5, 2],
    [0.1, 10],
  ])('a refused client at %d/s waits %d s', (rate, sec) => {
    expect(refillSec(rate)).toBe(sec);
  });
});

describe('LocalClientLimiter (one replica: SQLite)', () => {
  it('grants the burst, then the rate, per client, and says when to retry', () => {
    let t = 0;
    const l = new LocalClientLimiter(2, 3, () => t);
    const takes = (k: string, n: number): boolean[] => Array.from({ length: n }, () => l.take(k).ok);
    expect(takes('a', 4)).toEqual([true, true, true, false]);
    expect(l.take('a')).toEqual({ ok: false, retryAfterSec: 1, cause: 'limited' });
    expect(takes('b', 1)).toEqual([true]);
    t = 499;
    expect(takes('a', 1)).toEqual([false]);
    t = 500;
    expect(takes('a', 2)).toEqual([true, false]);
    t = 60_000;
    expect(takes('a', 4)).toEqual([true, true, true, false]);
    expect(l.scope).toBe('replica');
  });
});

const ev = (code: string): AuditInput => ({
  action: 'auth.github_oidc',
  outcome: 'refused',
  project_id: null,
  subject: null,
  reason: `invalid: ${code}`,
  details: { verification: code },
});

describe('aggregateKey', () => {
  const min = Date.parse('2026-11-29T20:00:00.000Z');
  it.each([
    ['the start of a minute', min, min],
    ['inside it', min + 59_999, min],
    ['the next minute', min + 60_000, min + 60_000],
  ])('%s', (_what, at, start) => {
    const k = aggregateKey('auth.github_oidc', '10.0.0.1', 'malformed', at, 60_000);
    expect(k.windowStart).toBe(start);
    expect(k.key).toBe(`auth.github_oidc|malformed|${new Date(start).toISOString()}|10.0.0.1`);
  });
  it('differs by client, reason and window, never by replica or order', () => {
    const keys = new Set(
      [
        ['10.0.0.1', 'malformed', 0],
        ['10.0.0.2', 'malformed', 0],
        ['10.0.0.1', 'alg', 0],
        ['10.0.0.1', 'malformed', 60_000],
      ].map(([c, r, t]) => aggregateKey('a', c as string, r as string, min + (t as number), 60_000).key),
    );
    expect(keys.size).toBe(4);
    // IPv6 clients: the separators cannot make two clients one key.
    expect(aggregateKey('a', '::1', 'x', min, 60_000).key).not.toBe(
      aggregateKey('a', ':1', 'x', min, 60_000).key,
    );
  });
});

describe('refusal batches', () => {
  it('counts refusals per key with their first and last times, whatever their order', () => {
    const b = new Map<string, AggregateDelta>();
    addRefusal(b, 'k1', '2026-11-29T20:00:05.000Z', ev('malformed'));
    addRefusal(b, 'k1', '2026-11-29T20:00:01.000Z', ev('malformed'));
    addRefusal(b, 'k2', '2026-11-29T20:00:02.000Z', ev('alg'));
    addRefusal(b, 'k1', '2026-11-29T20:00:09.000Z', ev('malformed'));
    expect(
      [...b.values()].map(({ key, count, firstAt, lastAt }) => ({ key, count, firstAt, lastAt })),
    ).toEqual([
      { key: 'k1', count: 3, firstAt: '2026-11-29T20:00:01.000Z', lastAt: '2026-11-29T20:00:09.000Z' },
      { key: 'k2', count: 1, firstAt: '2026-11-29T20:00:02.000Z', lastAt: '2026-11-29T20:00:02.000Z' },
    ]);
  });

  const d = (key: string, count: number, firstAt = 'a', lastAt = 'b'): AggregateDelta => ({
    key,
    count,
    firstAt,
    lastAt,
    event: ev('x'),
  });
  it.each([
    ['nothing newer', [d('k1', 5)], [], 10, [['k1', 5]], 0],
    [
      'adds newer counts of the same row',
      [d('k1', 5, 'b', 'c')],
      [d('k1', 2, 'a', 'd'), d('k2', 1)],
      10,
      [
        ['k1', 7],
        ['k2', 1],
      ],
      0,
    ],
    [
      'keeps at most max rows, and counts what it drops',
      [d('k1', 5), d('k2', 4)],
      [d('k3', 3), d('k1', 1)],
      2,
      [
        ['k1', 6],
        ['k2', 4],
      ],
      3,
    ],
  ] as [string, AggregateDelta[], AggregateDelta[], number, [string, number][], number][])(
    'a failed batch merged back: %s',
    (_what, failed, newer, max, rows, dropped) => {
      const r = mergeBack(new Map(newer.map((x) => [x.key, x])), failed, max);
      expect([...r.pending.values()].map((x) => [x.key, x.count])).toEqual(rows);
      expect(r.dropped).toBe(dropped);
    },
  );
  it('merging widens the first and last times', () => {
    const r = mergeBack(new Map([['k1', d('k1', 2, 'a', 'd')]]), [d('k1', 5, 'b', 'c')], 10);
    expect(r.pending.get('k1')).toMatchObject({ count: 7, firstAt: 'a', lastAt: 'd' });
  });
});

describe('clientKey', () => {
  it('is the IPv4 address, the /64 of an IPv6 one, and the IPv4 of an IPv4-mapped one', () => {
    expect(clientKey('203.0.113.9')).toBe('203.0.113.9');
    expect(clientKey('2001:db8:1:2::a')).toBe('2001:db8:1:2::/64');
    expect(clientKey('2001:0DB8:0001:0002:ffff:1:2:3')).toBe('2001:db8:1:2::/64');
    expect(clientKey('::1')).toBe('0:0:0:0::/64');
    expect(clientKey('::ffff:203.0.113.9')).toBe('203.0.113.9');
    expect(clientKey('fe80::1')).toBe('fe80:0:0:0::/64');
    // what is not an address (a unix socket peer, a test's fake) is its own key
    expect(clientKey('unknown')).toBe('unknown');
  });
});
