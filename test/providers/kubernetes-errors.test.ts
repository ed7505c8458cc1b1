import { describe, expect, it } from '@jest/globals';
import { ApiException, type V1Pod } from '@kubernetes/client-node';
import {
  backoffMs,
  isRetryable,
  podFailure,
  podRunning,
  retryAfterMs,
  toProvisionError,
  withRetry,
} from '../../src/providers/kubernetes-errors.js';
import { ProvisionError } from '../../src/providers/provider.js';

function api(code: number, message?: string, headers: Record<string, string> = {}, reason?: string) {
  const body = message === undefined ? undefined : JSON.stringify({ kind: 'Status', message, reason, code });
  return new ApiException<unknown>(code, 'Unknown API Status Code!', body, headers);
}

describe('retryAfterMs', () => {
  const now = Date.parse('2026-01-01T00:00:00Z');
  it.each([
    [{ 'retry-after': '3' }, 3000],
    [{ 'Retry-After': ' 0 ' }, 0],
    [{ 'retry-after': 'Thu, 01 Jan 2026 00:00:05 GMT' }, 5000],
    [{ 'retry-after': 'Wed, 31 Dec 2025 00:00:05 GMT' }, 0],
    [{ 'retry-after': 'soon' }, undefined],
    [{}, undefined],
    [undefined, undefined],
  ])('%j → %s', (headers, want) => expect(retryAfterMs(headers, now)).toBe(want));
});

describe('toProvisionError', () => {
  it.each([
    [api(429, 'Too many requests', { 'retry-after': '2' }), 'rate-limited', /HTTP 429/],
    [api(500, 'etcdserver: request timed out'), 'transient', /etcdserver/],
    [api(503, 'unavailable'), 'transient', /HTTP 503/],
    [api(409, 'pods "x" already exists', {}, 'AlreadyExists'), 'transient', /already exists/],
    [
      api(403, 'pods "x" is forbidden: exceeded quota: builders, requested: requests.cpu=1'),
      'quota',
      /ResourceQuota/,
    ],
    [
      api(403, 'pods is forbidden: User "system:serviceaccount:hoist:hoist" cannot create resource "pods"'),
      'permanent',
      /Role in this namespace/,
    ],
    [api(401), 'permanent', /kubeconfig or service-account token/],
    [api(404, 'namespaces "nope" not found'), 'permanent', /create the namespace/],
    [api(422, 'Pod "x" is invalid: spec.containers[0].image: Required value'), 'permanent', /is invalid/],
  ] as const)('%#: HTTP answer → %s', (err, kind, msg) => {
    const e = toProvisionError(err, 'create pod x');
    expect(e).toBeInstanceOf(ProvisionError);
    expect(e.kind).toBe(kind);
    expect(e.message).toMatch(msg);
    expect(e.message).toMatch(/^Kubernetes API create pod x failed/);
  });
  it('keeps the Retry-After of a 429', () => {
    expect(toProvisionError(api(429, 'slow down', { 'Retry-After': '7' }), 'x').retryAfterMs).toBe(7000);
    expect(toProvisionError(api(500, 'x', { 'Retry-After': '7' }), 'x').retryAfterMs).toBeUndefined();
  });
  it('a refused connection is transient and says the API server is unreachable', () => {
    const err = Object.assign(new Error('connect ECONNREFUSED 10.0.0.1:6443'), { code: 'ECONNREFUSED' });
    const e = toProvisionError(err, 'list pods');
    expect(e.kind).toBe('transient');
    expect(e.message).toMatch(/cannot reach the API server/);
  });
  it('passes a ProvisionError through', () => {
    const pe = new ProvisionError('capacity', 'full');
    expect(toProvisionError(pe, 'x')).toBe(pe);
  });
});

describe('isRetryable', () => {
  it.each([
    [api(429), true],
    [api(500), true],
    [api(502), true],
    [api(504), true],
    [api(501), false],
    [api(400), false],
    [api(403), false],
    [api(404), false],
    [api(409), false],
    [Object.assign(new Error('reset'), { code: 'ECONNRESET' }), true],
    [Object.assign(new Error('x'), { cause: { code: 'ETIMEDOUT' } }), true],
    [new Error('bug'), false],
  ])('%#', (err, want) => expect(isRetryable(err)).toBe(want));
});

describe('backoffMs', () => {
  it('honours Retry-After, capped', () => {
    expect(backoffMs(0, api(429, 'x', { 'retry-after': '2' }), { baseMs: 100, maxMs: 1000 })).toBe(2000);
    expect(backoffMs(0, api(429, 'x', { 'retry-after': '3600' }), { baseMs: 100, maxMs: 1000 })).toBe(6000);
  });
  it('else full jitter under an exponential ceiling', () => {
    const opts = { baseMs: 100, maxMs: 1000, random: () => 0.999 };
    expect(backoffMs(0, api(500), opts)).toBe(99);
    expect(backoffMs(2, api(500), opts)).toBe(399);
    expect(backoffMs(10, api(500), opts)).toBe(999);
    expect(backoffMs(3, api(500), { ...opts, random: () => 0 })).toBe(0);
  });
});

describe('withRetry', () => {
  it('retries 429 and 5xx, waiting what the server asked, then succeeds', async () => {
    const waits: number[] = [];
    const answers = [api(429, 'x', { 'retry-after': '1' }), api(503, 'x'), 'ok'];
    const out = await withRetry(
      'read pod p',
      async () => {
        const a = answers.shift();
        if (a instanceof Error) throw a;
        return a;
      },
      { attempts: 4, baseMs: 100, maxMs: 1000, random: () => 0.5, sleep: async (ms) => void waits.push(ms) },
    );
    expect(out).toBe('ok');
    expect(waits).toEqual([1000, 100]);
  });
  it('gives up after the attempts with the typed error of the last answer', async () => {
    let calls = 0;
    const p = withRetry(
      'create pod p',
      async () => {
        calls++;
        throw api(429, 'throttled', { 'retry-after': '4' });
      },
      { attempts: 3, baseMs: 1, maxMs: 1, sleep: async () => undefined },
    );
    await expect(p).rejects.toMatchObject({ kind: 'rate-limited', retryAfterMs: 4000 });
    expect(calls).toBe(3);
  });
  it('does not retry a refusal', async () => {
    let calls = 0;
    const p = withRetry(
      'create pod p',
      async () => {
        calls++;
        throw api(403, 'forbidden');
      },
      { attempts: 5, baseMs: 1, maxMs: 1, sleep: async () => undefined },
    );
    await expect(p).rejects.toMatchObject({ kind: 'permanent' });
    expect(calls).toBe(1);
  });
});

describe('podFailure', () => {
  const base = (status: V1Pod['status'], spec: Partial<V1Pod['spec']> = {}): V1Pod => ({
    metadata: { name: 'hoist-b' },
    spec: { containers: [], ...spec },
    status,
  });
  it('is null while the pod may still start', () => {
    expect(podFailure(base({ phase: 'Pending' }))).toBeNull();
    expect(
      podFailure(
        base({
          phase: 'Pending',
          containerStatuses: [
            {
              name: 'buildkitd',
              image: 'i',
              imageID: '',
              ready: false,
              restartCount: 0,
              state: { waiting: { reason: 'ContainerCreating' } },
            },
          ],
        }),
      ),
    ).toBeNull();
    // A volume still being provisioned is not a scheduling failure.
    expect(
      podFailure(
        base({
          phase: 'Pending',
          conditions: [
            {
              type: 'PodScheduled',
              status: 'False',
              reason: 'Unschedulable',
              message: '0/1 nodes are available: pod has unbound immediate PersistentVolumeClaims.',
            },
          ],
        }),
      ),
    ).toBeNull();
  });
  it.each([
    ['0/3 nodes are available: 3 Insufficient memory.', 'capacity', /no node has room/],
    ['0/1 nodes are available: 1 Too many pods.', 'capacity', /no node has room/],
    [
      "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector.",
      'permanent',
      /kubernetes.io\/arch=arm64/,
    ],
  ])('unschedulable: %s → %s', (message, kind, msg) => {
    const f = podFailure(
      base(
        {
          phase: 'Pending',
          conditions: [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message }],
        },
        { nodeSelector: { 'kubernetes.io/arch': 'arm64' } },
      ),
    );
    expect(f?.kind).toBe(kind);
    expect(f?.message).toMatch(msg);
  });
  it.each([
    ['ImagePullBackOff', 'permanent', /cannot pull its image reg\/bk:1.*--kubernetes-image/],
    ['ErrImagePull', 'permanent', /cannot pull/],
    ['CreateContainerConfigError', 'permanent', /cannot start its container/],
    ['CrashLoopBackOff', 'transient', /keeps exiting \(exit code 1, Error: flag provided but not defined/],
  ])('container waiting %s → %s', (reason, kind, msg) => {
    const f = podFailure(
      base({
        phase: 'Pending',
        containerStatuses: [
          {
            name: 'buildkitd',
            image: 'reg/bk:1',
            imageID: '',
            ready: false,
            restartCount: 3,
            state: { waiting: { reason, message: 'back-off' } },
            lastState: {
              terminated: { exitCode: 1, reason: 'Error', message: 'flag provided but not defined: -x' },
            },
          },
        ],
      }),
    );
    expect(f?.kind).toBe(kind);
    expect(f?.message).toMatch(msg);
  });
  it('an ended pod is a failure', () => {
    expect(
      podFailure(base({ phase: 'Failed', reason: 'Evicted', message: 'disk pressure' }))?.message,
    ).toMatch(/Evicted: disk pressure/);
  });
});

describe('podRunning', () => {
  const running: V1Pod = {
    metadata: { name: 'p' },
    status: {
      phase: 'Running',
      podIP: '10.244.77.5',
      containerStatuses: [
        { name: 'buildkitd', image: 'i', imageID: '', ready: true, restartCount: 0, state: { running: {} } },
      ],
    },
  };
  it('needs Running, an IP, a running container and no deletion', () => {
    expect(podRunning(running)).toBe(true);
    expect(podRunning({ ...running, metadata: { deletionTimestamp: new Date() } })).toBe(false);
    expect(podRunning({ ...running, status: { ...running.status, podIP: undefined } })).toBe(false);
    expect(podRunning({ ...running, status: { ...running.status, phase: 'Pending' } })).toBe(false);
    expect(
      podRunning({
        ...running,
        status: {
          ...running.status,
          containerStatuses: [
            {
              name: 'buildkitd',
              image: 'i',
              imageID: '',
              ready: false,
              restartCount: 1,
              state: { waiting: {} },
            },
          ],
        },
      }),
    ).toBe(false);
  });
});
