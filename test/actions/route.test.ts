import { describe, expect, it } from '@jest/globals';
import {
  decideRoute,
  FORK_REASON,
  NO_CREDENTIAL_REASON,
  type RouteFacts,
} from '../../src/actions/build-push/route.js';

const none: RouteFacts = {
  tokenInput: '',
  envToken: '',
  isFork: false,
  idTokenAvailable: false,
  fallback: 'auto',
};

describe('decideRoute', () => {
  it.each<[string, Partial<RouteFacts>, ReturnType<typeof decideRoute>]>([
    [
      'token input first',
      { tokenInput: 't', envToken: 'e', idTokenAvailable: true },
      { kind: 'hoist', source: 'input' },
    ],
    ['then HOIST_TOKEN', { envToken: 'e', idTokenAvailable: true }, { kind: 'hoist', source: 'env' }],
    ['then the OIDC exchange', { idTokenAvailable: true }, { kind: 'hoist', source: 'oidc' }],
    ['a fork falls back', { isFork: true }, { kind: 'fallback', reason: FORK_REASON }],
    [
      'a fork falls back even if the runtime offered an ID token',
      { isFork: true, idTokenAvailable: true },
      { kind: 'fallback', reason: FORK_REASON },
    ],
    [
      'a fork with an explicit token still uses Hoist',
      { isFork: true, tokenInput: 't' },
      { kind: 'hoist', source: 'input' },
    ],
    ['no credential falls back', {}, { kind: 'fallback', reason: NO_CREDENTIAL_REASON }],
  ])('%s', (_n, facts, expected) => {
    expect(decideRoute({ ...none, ...facts })).toEqual(expected);
  });

  it('fallback: never turns a missing credential into a failure naming the permission', () => {
    const r = decideRoute({ ...none, fallback: 'never' });
    expect(r.kind).toBe('fail');
    expect(r.kind === 'fail' && r.message).toMatch(/permissions: id-token: write/);
  });

  it('fallback: never fails a fork pull request and says how to allow it', () => {
    const r = decideRoute({ ...none, isFork: true, fallback: 'never' });
    expect(r.kind === 'fail' && r.message).toMatch(/fork.*fallback: auto/s);
  });

  it('the no-credential notice names the permission', () => {
    expect(NO_CREDENTIAL_REASON).toMatch(/permissions: id-token: write/);
  });
});
