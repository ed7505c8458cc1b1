// When the pod watch's word counts for a builder's health: only about the pod the builder is
// routed to (same uid) and only while the watch runs; anything else is asked of the API server.
import { describe, expect, it } from '@jest/globals';
import type { V1Pod } from '@kubernetes/client-node';
import { sighting } from '../../src/providers/kubernetes-pod-watch.js';

const pod = (uid: string): V1Pod => ({ metadata: { name: 'hoist-bkr-a', uid } });

describe('sighting', () => {
  it.each([
    ['the routed pod, watched', pod('u1'), undefined, 'u1', true, 'present'],
    ['the routed pod seen deleted', undefined, 'u1', 'u1', true, 'deleted'],
    [
      'an older pod of that name seen deleted (a replacement not watched yet)',
      undefined,
      'u0',
      'u1',
      true,
      'unknown',
    ],
    ['an older pod still in the cache', pod('u0'), undefined, 'u1', true, 'unknown'],
    ['the replacement cached, the old one deleted', pod('u1'), 'u0', 'u1', true, 'present'],
    ['the watch is down', pod('u1'), undefined, 'u1', false, 'unknown'],
    ['the watch is down, deletion seen before', undefined, 'u1', 'u1', false, 'unknown'],
    ['no pod routed yet (another replica launched it)', pod('u1'), undefined, undefined, true, 'unknown'],
    ['never seen', undefined, undefined, 'u1', true, 'unknown'],
  ] as const)('%s', (_what, cached, deletedUid, uid, connected, kind) => {
    const s = sighting(cached, deletedUid, uid, connected);
    expect(s.kind).toBe(kind);
    if (s.kind === 'present') expect(s.pod).toBe(cached);
  });
});
