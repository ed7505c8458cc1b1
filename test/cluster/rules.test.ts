// The pure rules behind several replicas: who may reap a builder, the token bucket shared through
// the database, and which buildx failures `hoist build` answers by getting its builder again.
import { describe, expect, it } from '@jest/globals';
import { lostBuilderConnection } from '../../src/cli/build-run.js';
import { reapVerdict } from '../../src/server/builds/service.js';
import { takeToken } from '../../src/server/http/rate-limit.js';

describe('reapVerdict', () => {
  const base = { me: 'b', visible: false, startingRecently: false };
  it.each([
    ['no owner yet', true, { owner: null, ownerAlive: true }],
    ['its own', true, { owner: 'b', ownerAlive: true }],
    ['another live replica, not visible here (another host)', false, { owner: 'a', ownerAlive: true }],
    [
      'another live replica, visible here (one data dir)',
      true,
      { owner: 'a', ownerAlive: true, visible: true },
    ],
    [
      'another live replica starting it right now, even if visible',
      false,
      { owner: 'a', ownerAlive: true, visible: true, startingRecently: true },
    ],
    ['a replica that is gone, not visible', true, { owner: 'a', ownerAlive: false }],
    [
      'a replica that is gone, starting it when it died',
      true,
      { owner: 'a', ownerAlive: false, startingRecently: true },
    ],
  ] as [
    string,
    boolean,
    { owner: string | null; ownerAlive: boolean; visible?: boolean; startingRecently?: boolean },
  ][])('%s → %p', async (_what, want, r) => {
    expect(await reapVerdict({ ...base, ...r, ownerAlive: Promise.resolve(r.ownerAlive) })).toBe(want);
  });
});

describe('takeToken', () => {
  it.each([
    ['a missing bucket is full', undefined, 1000, { ok: true }, { tokens: 2, at: 1000 }],
    ['the last token', { tokens: 1, at: 1000 }, 1000, { ok: true }, { tokens: 0, at: 1000 }],
    [
      'empty: retry when one token has refilled',
      { tokens: 0, at: 1000 },
      1000,
      { ok: false, retryAfterSec: 1 },
      { tokens: 0, at: 1000 },
    ],
    [
      'refills with time, up to the burst',
      { tokens: 0, at: 0 },
      10_000,
      { ok: true },
      { tokens: 2, at: 10_000 },
    ],
    // Another replica's clock is 5 s ahead and wrote last: no refill, and time does not go back.
    [
      'a bucket written by a clock ahead of ours',
      { tokens: 1.5, at: 6000 },
      1000,
      { ok: true },
      { tokens: 0.5, at: 6000 },
    ],
  ] as [string, { tokens: number; at: number } | undefined, number, unknown, unknown][])(
    '%s',
    (_what, bucket, now, decision, after) => {
      // 1 token a second, bursts of 3
      const r = takeToken(bucket, now, 1, 3);
      expect(r.decision).toEqual(decision);
      expect(r.bucket).toEqual(after);
    },
  );
});

describe('lostBuilderConnection', () => {
  it.each([
    [
      'gRPC unavailable after the gateway went away',
      '#7 [3/3] RUN sleep 15\nERROR: failed to solve: Unavailable: error reading from server: EOF\n',
      'error reading from server: EOF',
    ],
    [
      'a reset connection',
      'ERROR: failed to receive status: rpc error: code = Unavailable desc = error reading from server: read tcp 127.0.0.1:1->127.0.0.1:2: read: connection reset by peer\n',
      'code = Unavailable',
    ],
    [
      'a step that failed',
      'ERROR: failed to solve: process "/bin/sh -c exit 3" did not complete successfully: exit code: 3\n',
      null,
    ],
    [
      'a Dockerfile error',
      'ERROR: failed to solve: dockerfile parse error on line 2: unknown instruction: RUNN\n',
      null,
    ],
    [
      'an earlier transport warning, then a failed step',
      'WARN: connection reset by peer\nERROR: failed to solve: process "x" did not complete successfully: exit code: 1\n',
      null,
    ],
    ['nothing at all', '', null],
  ] as [string, string, string | null][])('%s', (_what, tail, want) => {
    expect(lostBuilderConnection(tail)).toBe(want);
  });
});
