import { describe, expect, it } from '@jest/globals';
import { ConfigurationError } from '../../src/lib/errors.js';
import { loadBuildsConfig } from '../../src/server/builds/config.js';
import { nativePlatform } from '../../src/providers/provider.js';

const k8s = (extra: Record<string, string> = {}) => loadBuildsConfig({ provider: 'kubernetes', ...extra });

describe('--provider kubernetes', () => {
  it('defaults: local provider, no kubernetes settings, builders stop with the server', () => {
    const c = loadBuildsConfig({});
    expect(c.provider).toBe('local');
    expect(c.kubernetes).toBeNull();
    expect(c.buildersOnExit).toBe('stop');
  });
  it('kubernetes defaults: pinned image, copy-pod clones, privileged, volume twice the GC cap, pods kept on exit', () => {
    const c = k8s({ 'builder-max-used-space': '5GiB' });
    expect(c.provider).toBe('kubernetes');
    expect(c.buildersOnExit).toBe('keep');
    expect(c.kubernetes).toEqual({
      kubeconfig: undefined,
      namespace: undefined,
      instance: 'hoist',
      image: 'moby/buildkit:v0.18.2',
      imagePullPolicy: 'IfNotPresent',
      storageClass: undefined,
      volumeSize: '10Gi',
      resources: { requests: { cpu: '500m', memory: '1Gi' }, limits: { memory: '8Gi' } },
      security: 'privileged',
      nodeSelector: {},
      cloneMode: 'copy-pod',
      snapshotClass: undefined,
      platforms: [nativePlatform()],
      readyTimeoutMs: 180_000,
    });
  });
  it('takes every setting', () => {
    const c = k8s({
      kubeconfig: '/etc/hoist/kubeconfig',
      'kubernetes-namespace': 'hoist-builders',
      'kubernetes-instance': 'staging',
      'kubernetes-image': '127.0.0.1:5000/hoist/buildkit:v0.18.2',
      'kubernetes-image-pull-policy': 'Always',
      'kubernetes-storage-class': 'csi-rbd',
      'kubernetes-volume-size': '50Gi',
      'kubernetes-resources': 'requests.cpu=2,limits.cpu=4',
      'kubernetes-security': 'rootless',
      'kubernetes-node-selector': 'pool=builders',
      'kubernetes-clone-mode': 'csi-snapshot',
      'kubernetes-snapshot-class': 'rbd-snap',
      'kubernetes-platforms': 'linux/amd64, linux/arm64/v8',
      'kubernetes-ready-timeout': '5m',
      'builders-on-exit': 'stop',
    });
    expect(c.buildersOnExit).toBe('stop');
    expect(c.kubernetes).toMatchObject({
      kubeconfig: '/etc/hoist/kubeconfig',
      namespace: 'hoist-builders',
      instance: 'staging',
      imagePullPolicy: 'Always',
      storageClass: 'csi-rbd',
      volumeSize: '50Gi',
      resources: { requests: { cpu: '2' }, limits: { cpu: '4' } },
      security: 'rootless',
      nodeSelector: { pool: 'builders' },
      cloneMode: 'csi-snapshot',
      snapshotClass: 'rbd-snap',
      platforms: ['linux/amd64', 'linux/arm64'],
      readyTimeoutMs: 300_000,
    });
  });
  it.each([
    [{ provider: 'docker' }, /--provider \(HOIST_PROVIDER\) must be "local" or "kubernetes"/],
    [{ 'kubernetes-namespace': 'x' }, /only apply with --provider kubernetes/],
    [{ provider: 'kubernetes', 'kubernetes-namespace': 'Builds_1' }, /must be a namespace name/],
    [{ provider: 'kubernetes', 'kubernetes-instance': '-x' }, /must be a label value/],
    [{ provider: 'kubernetes', 'kubernetes-image': 'a b' }, /image reference/],
    [{ provider: 'kubernetes', 'kubernetes-image-pull-policy': 'always' }, /IfNotPresent, Always or Never/],
    [{ provider: 'kubernetes', 'kubernetes-storage-class': 'Fast SSD' }, /StorageClass name/],
    [{ provider: 'kubernetes', 'kubernetes-volume-size': '20GB!' }, /size such as 20Gi/],
    [
      { provider: 'kubernetes', 'kubernetes-resources': 'cpu=1' },
      /--kubernetes-resources \(HOIST_KUBERNETES_RESOURCES\) takes entries like/,
    ],
    [{ provider: 'kubernetes', 'kubernetes-security': 'none' }, /"privileged" or "rootless"/],
    [{ provider: 'kubernetes', 'kubernetes-node-selector': 'pool' }, /key=value/],
    [{ provider: 'kubernetes', 'kubernetes-clone-mode': 'rsync' }, /copy-pod, pvc-clone, csi-snapshot, none/],
    [
      { provider: 'kubernetes', 'kubernetes-snapshot-class': 'x' },
      /only applies with --kubernetes-clone-mode csi-snapshot/,
    ],
    [{ provider: 'kubernetes', 'kubernetes-platforms': 'windows/amd64' }, /not supported/],
    [{ provider: 'kubernetes', 'kubernetes-ready-timeout': '1s' }, /at least 5s/],
  ])('%#: refuses %j', (opts, msg) => {
    expect(() => loadBuildsConfig(opts)).toThrow(ConfigurationError);
    expect(() => loadBuildsConfig(opts)).toThrow(msg);
  });
});
