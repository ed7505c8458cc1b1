// When the pod watch's word counts for a builder's health: only about the pod the builder is
// routed to (same uid) and only while the watch runs; anything else is asked of the API server.
import { describe, expect, it } from '@jest/globals';
import type { V1Pod } from '@kubernetes/client-node';
import { sighting } from '../../src/providers/kubernetes-pod-watch.js';

const pod = (uid: string): V1Pod => ({ metadata: { name: 'hoist-bkr-a', uid } });

describe('sighting', () => {
  it.each([
    ['the routed pod, watched', pod('u1'), 'u1', true, 'present'],
    [
      'an older pod of that name still in the watch (a replacement not watched yet)',
      pod('u0'),
      'u1',
      true,
      'unknown',
    ],
    ['a newer pod of that name (another replica replaced it)', pod('u2'), 'u1', true, 'unknown'],
    ['not in the watch (deleted, or replaced and not watched yet)', undefined, 'u1', true, 'unknown'],
    ['the watch is down', pod('u1'), 'u1', false, 'unknown'],
    ['no pod routed yet (another replica launched it)', pod('u1'), undefined, true, 'unknown'],
  ] as const)('%s', (_what, cached, uid, connected, kind) => {
    const s = sighting(cached, uid, connected);
    expect(s.kind).toBe(kind);
    if (s.kind === 'present') expect(s.pod).toBe(cached);
  });
});
