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
      runNetwork: {
        mode: 'isolated',
        subnet: '10.213.0.0/24',
        allow: [],
        deny: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10', '169.254.0.0/16'],
      },
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
      // Rootless BuildKit cannot set up the pod's bridge: RUN steps share the pod's network.
      runNetwork: { mode: 'pod' },
    });
  });
  it.each([
    [{}, { mode: 'isolated', allow: [], subnet: '10.213.0.0/24' }],
    [{ 'kubernetes-run-network': 'pod' }, { mode: 'pod' }],
    [
      { 'kubernetes-run-allow': '10.0.5.0/24, 192.168.1.7,10.0.5.0/24' },
      { mode: 'isolated', allow: ['10.0.5.0/24', '192.168.1.7/32'] },
    ],
    [
      { 'kubernetes-run-deny': '203.0.113.0/24,10.0.0.0/8' },
      {
        deny: [
          '10.0.0.0/8',
          '172.16.0.0/12',
          '192.168.0.0/16',
          '100.64.0.0/10',
          '169.254.0.0/16',
          '203.0.113.0/24',
        ],
      },
    ],
    [{ 'kubernetes-run-subnet': '172.30.9.0/26' }, { subnet: '172.30.9.0/26' }],
  ])('%#: run network from %j', (extra, want) => {
    expect(k8s(extra).kubernetes!.runNetwork).toMatchObject(want);
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
    [{ provider: 'kubernetes', 'kubernetes-run-network': 'host' }, /"isolated" or "pod", got "host"/],
    [
      { provider: 'kubernetes', 'kubernetes-security': 'rootless', 'kubernetes-run-network': 'isolated' },
      /isolated needs privileged builder pods.*--kubernetes-run-network pod/,
    ],
    [
      { provider: 'kubernetes', 'kubernetes-run-network': 'pod', 'kubernetes-run-allow': '10.0.0.1' },
      /--kubernetes-run-allow \(HOIST_KUBERNETES_RUN_ALLOW\) only applies with --kubernetes-run-network isolated/,
    ],
    [
      { provider: 'kubernetes', 'kubernetes-run-allow': '10.0.5.1/24' },
      /takes IPv4 CIDRs separated by commas: "10.0.5.1\/24" is not a network address; did you mean 10.0.5.0\/24\?/,
    ],
    [
      { provider: 'kubernetes', 'kubernetes-run-deny': 'fd00::/8' },
      /"fd00::\/8" is not an IPv4 address or CIDR/,
    ],
    [{ provider: 'kubernetes', 'kubernetes-run-allow': '10.0.0.300' }, /not an IPv4 address or CIDR/],
    [{ provider: 'kubernetes', 'kubernetes-run-subnet': '10.0.0.0/8' }, /prefix between \/16 and \/28/],
    [{ provider: 'kubernetes', 'kubernetes-run-subnet': '8.8.8.0/24' }, /must be a private range/],
    [{ 'kubernetes-run-network': 'isolated' }, /only apply with --provider kubernetes/],
  ])('%#: refuses %j', (opts, msg) => {
    expect(() => loadBuildsConfig(opts)).toThrow(ConfigurationError);
    expect(() => loadBuildsConfig(opts)).toThrow(msg);
  });
});
