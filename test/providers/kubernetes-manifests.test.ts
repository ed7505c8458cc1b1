import { describe, expect, it } from '@jest/globals';
import {
  ANNOTATIONS,
  LABELS,
  builderPod,
  builderPvc,
  builderSecret,
  builderSelector,
  cloneDataSource,
  copyPod,
  dnsLabel,
  identityOf,
  isOwned,
  labelValue,
  names,
  nodeArch,
  objectNameFromServerName,
  ownedSelector,
  ownerReferenceTo,
  parseNodeSelector,
  parseResources,
  podSpecHash,
  secretContents,
  snapshotObjectName,
  snapshotPvc,
  volumeSnapshot,
  type BuilderIdentity,
  type KubernetesSettings,
} from '../../src/providers/kubernetes-manifests.js';

const settings: KubernetesSettings = {
  namespace: 'builds',
  instance: 'hoist',
  image: '127.0.0.1:5000/hoist/buildkit:v0.18.2',
  imagePullPolicy: 'IfNotPresent',
  storageClass: 'local-path',
  volumeSize: '20Gi',
  resources: { requests: { cpu: '500m', memory: '1Gi' }, limits: { memory: '8Gi' } },
  security: 'privileged',
  nodeSelector: { pool: 'builders' },
  cloneMode: 'copy-pod',
};
const primary: BuilderIdentity = {
  id: 'bkr_0abcdefghijklmnopqrstuvw',
  projectId: 'prj_0abcdefghijklmnopqrstuvw',
  platform: 'linux/arm64',
  role: 'primary',
};
const clone: BuilderIdentity = { ...primary, id: 'bkr_1clone', role: 'clone', snapshotId: 'snp_1' };
const DNS_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

describe('names', () => {
  it.each([
    ['bkr_0abcdefghijklmnopqrstuvw', 'hoist-bkr-0abcdefghijklmnopqrstuvw-'],
    ['simple-id', 'hoist-simple-id'],
    ['A', 'hoist-a-'],
    ['___', 'hoist-x-'],
  ])('builder %j → a DNS label starting %j', (id, start) => {
    const n = names(id);
    expect(n.pod.startsWith(start)).toBe(true);
    for (const name of [n.pod, n.pvc, n.secret, n.copyPod]) expect(name).toMatch(DNS_LABEL);
  });
  it('never gives two ids the same name when cleaning them up changed them', () => {
    expect(names('A').pod).not.toBe(names('a').pod);
    expect(names('a_b').pod).not.toBe(names('a-b').pod);
    expect(names('a-b').pod).toBe('hoist-a-b');
  });
  it('shortens long ids and keeps them apart', () => {
    const a = 'x'.repeat(200) + '1';
    const b = 'x'.repeat(200) + '2';
    expect(names(a).pod.length).toBeLessThanOrEqual(52);
    expect(names(a).pvc).toMatch(DNS_LABEL);
    expect(names(a).pod).not.toBe(names(b).pod);
  });
  it('maps server names back to object names and refuses others', () => {
    const n = names(primary.id);
    expect(objectNameFromServerName(n.serverName)).toBe(n.pod);
    expect(objectNameFromServerName(n.serverName.toUpperCase())).toBe(n.pod);
    expect(objectNameFromServerName('evil.example.com')).toBeNull();
    expect(objectNameFromServerName('hoist-x.builders.hoist.internal.evil.com')).toBeNull();
    expect(objectNameFromServerName('kube-dns.builders.hoist.internal')).toBeNull();
  });
  it('snapshot names are DNS labels', () => {
    expect(snapshotObjectName('snp_ABC')).toMatch(DNS_LABEL);
    expect(snapshotObjectName('snp-1')).toBe('hoist-snap-snp-1');
  });
  it.each([
    ['', 'hoist-', 10],
    ['abc', 'p-', 5],
  ])('dnsLabel(%j, %j) fits %d characters', (id, prefix, max) => {
    const n = dnsLabel(prefix, id, max + 9);
    expect(n.length).toBeLessThanOrEqual(max + 9);
    expect(n).toMatch(DNS_LABEL);
  });
});

describe('labels and selectors', () => {
  it.each([
    ['bkr_0abc', 'bkr_0abc'],
    ['linux-amd64', 'linux-amd64'],
    ['linux/amd64', /^linux-amd64-[0-9a-f]{8}$/],
    ['-x-', /^x-[0-9a-f]{8}$/],
    ['a'.repeat(80), /^a{54}-[0-9a-f]{8}$/],
  ])('label value of %j', (raw, want) => {
    const v = labelValue(raw);
    if (typeof want === 'string') expect(v).toBe(want);
    else expect(v).toMatch(want);
    expect(v.length).toBeLessThanOrEqual(63);
  });
  it('selects only this installation, and one builder', () => {
    expect(ownedSelector('hoist')).toBe('app.kubernetes.io/managed-by=hoist,hoist/instance=hoist');
    expect(builderSelector('staging', 'bkr_1')).toBe(
      'app.kubernetes.io/managed-by=hoist,hoist/instance=staging,hoist/builder-id=bkr_1',
    );
  });
  it('owns only objects with both labels of this installation', () => {
    const pod = builderPod(settings, primary, 'cfg');
    expect(isOwned(pod.metadata, 'hoist')).toBe(true);
    expect(isOwned(pod.metadata, 'other')).toBe(false);
    expect(isOwned({ labels: { [LABELS.instance]: 'hoist' } }, 'hoist')).toBe(false);
    expect(isOwned({ labels: { [LABELS.managedBy]: 'hoist' } }, 'hoist')).toBe(false);
    expect(isOwned(undefined, 'hoist')).toBe(false);
  });
});

describe('builderPod', () => {
  const pod = builderPod(settings, primary, 'cfg');
  const c = pod.spec!.containers[0]!;
  it('labels project, platform, role and builder id, exact values in annotations', () => {
    expect(pod.metadata!.labels).toEqual({
      'app.kubernetes.io/managed-by': 'hoist',
      'hoist/instance': 'hoist',
      'hoist/component': 'builder',
      'hoist/builder-id': primary.id,
      'hoist/project': primary.projectId,
      'hoist/platform': 'linux-arm64',
      'hoist/role': 'primary',
    });
    expect(identityOf(pod.metadata)).toEqual({ ...primary, snapshotId: undefined });
  });
  it('selects nodes of the platform architecture, plus the configured labels', () => {
    expect(pod.spec!.nodeSelector).toEqual({
      pool: 'builders',
      'kubernetes.io/os': 'linux',
      'kubernetes.io/arch': 'arm64',
    });
  });
  it('runs the pinned buildkitd privileged, with requests, limits, TLS and its root on the PVC', () => {
    expect(c.image).toBe(settings.image);
    expect(c.command!.at(-1)).toBe('buildkitd');
    expect(c.securityContext).toEqual({ privileged: true });
    expect(c.resources).toEqual({ requests: { cpu: '500m', memory: '1Gi' }, limits: { memory: '8Gi' } });
    expect(c.args).toEqual(
      expect.arrayContaining(['--root', '/var/lib/buildkit', '--addr', 'tcp://0.0.0.0:1234']),
    );
    expect(c.args!.join(' ')).toContain('--tlscacert /etc/hoist/tls/ca.pem');
    expect(c.args!.join(' ')).toContain('--oci-worker-platform linux/arm64');
    expect(pod.spec!.volumes![0]!.persistentVolumeClaim!.claimName).toBe(names(primary.id).pvc);
  });
  it('never mounts the CA key, nor an API token', () => {
    const keys = pod.spec!.volumes![1]!.secret!.items!.map((i) => i.key);
    expect(keys).not.toContain('ca-key.pem');
    expect(keys).toEqual(['ca.pem', 'cert.pem', 'key.pem', 'buildkitd.toml']);
    expect(pod.spec!.automountServiceAccountToken).toBe(false);
  });
  it('isolated by default: buildkitd on CNI, its entrypoint sets up the pod firewall first', () => {
    expect(c.args!.join(' ')).toContain('--oci-worker-net cni');
    // sh -c SCRIPT hoist-net buildkitd, then buildkitd's own arguments.
    expect(c.command!.slice(0, 2)).toEqual(['sh', '-c']);
    expect(c.command!.slice(3)).toEqual(['hoist-net', 'buildkitd']);
    expect(c.command![2]).toContain('iptables-restore -w 5 --noflush');
    const env = Object.fromEntries(c.env!.map((e) => [e.name, e.value]));
    expect(env.HOIST_RULES).toContain('-A HOIST-RUN-FW -i hoist0 -d 10.0.0.0/8 -j DROP');
    expect(env.HOIST_BRIDGE).toBe('hoist0');
    // No second container to start: no init container, no shared volume.
    expect(pod.spec!.initContainers).toBeUndefined();
    expect(pod.spec!.volumes!.map((v) => v.name)).toEqual(['root', 'tls']);
  });
  it('pod mode: RUN steps in the pod network, buildkitd started as it is', () => {
    const p = builderPod(
      {
        ...settings,
        runNetwork: { mode: 'pod', subnet: '10.213.0.0/24', allow: [], deny: [], dns: [] },
      },
      primary,
      'cfg',
    );
    expect(p.spec!.containers[0]!.command).toEqual(['buildkitd']);
    expect(p.spec!.containers[0]!.env).toBeUndefined();
    expect(p.spec!.containers[0]!.args!.join(' ')).toContain('--oci-worker-net host');
  });
  it('rootless runs under rootlesskit, unprivileged', () => {
    const p = builderPod({ ...settings, security: 'rootless' }, primary, 'cfg');
    const rc = p.spec!.containers[0]!;
    expect(rc.command).toEqual(['rootlesskit', 'buildkitd']);
    expect(rc.securityContext!.privileged).toBeUndefined();
    expect(rc.securityContext!.runAsUser).toBe(1000);
    expect(rc.args).toContain('--oci-worker-no-process-sandbox');
    // Rootless BuildKit cannot make the pod's bridge: its RUN steps share the pod's network,
    // whatever the settings ask.
    expect(rc.args!.join(' ')).toContain('--oci-worker-net host');
    const asked = builderPod(
      {
        ...settings,
        security: 'rootless',
        runNetwork: { mode: 'isolated', subnet: '10.213.0.0/24', allow: [], deny: [], dns: [] },
      },
      primary,
      'cfg',
    ).spec!.containers[0]!;
    expect(asked.command).toEqual(['rootlesskit', 'buildkitd']);
    expect(asked.args!.join(' ')).toContain('--oci-worker-net host');
  });
  it('changes its spec hash when the image, resources or config change, not otherwise', () => {
    const h = podSpecHash(settings, primary, 'cfg');
    const isolated = { mode: 'isolated' as const, subnet: '10.213.0.0/24', allow: [], deny: [], dns: [] };
    expect(
      podSpecHash({ ...settings, runNetwork: { ...isolated, deny: ['10.0.0.0/8'] } }, primary, 'cfg'),
    ).not.toBe(podSpecHash({ ...settings, runNetwork: isolated }, primary, 'cfg'));
    expect(podSpecHash({ ...settings, runNetwork: { ...isolated, mode: 'pod' } }, primary, 'cfg')).not.toBe(
      h,
    );
    expect(
      podSpecHash({ ...settings, runNetwork: { ...isolated, allow: ['10.0.5.0/24'] } }, primary, 'cfg'),
    ).not.toBe(podSpecHash({ ...settings, runNetwork: isolated }, primary, 'cfg'));
    expect(pod.metadata!.annotations![ANNOTATIONS.specHash]).toBe(h);
    expect(podSpecHash(settings, primary, 'cfg')).toBe(h);
    expect(podSpecHash({ ...settings, image: 'other' }, primary, 'cfg')).not.toBe(h);
    expect(podSpecHash(settings, primary, 'cfg2')).not.toBe(h);
    expect(
      podSpecHash({ ...settings, resources: { requests: {}, limits: { cpu: '1' } } }, primary, 'cfg'),
    ).not.toBe(h);
  });
  it('a clone carries its role and snapshot', () => {
    const p = builderPod(settings, clone, 'cfg');
    expect(p.metadata!.labels![LABELS.role]).toBe('clone');
    expect(identityOf(p.metadata)).toEqual(clone);
  });
});

describe('volumes', () => {
  it('a primary PVC from the configured StorageClass and size', () => {
    const pvc = builderPvc(settings, primary);
    expect(pvc.metadata!.name).toBe(names(primary.id).pvc);
    expect(pvc.spec).toEqual({
      accessModes: ['ReadWriteOnce'],
      storageClassName: 'local-path',
      resources: { requests: { storage: '20Gi' } },
    });
  });
  it('no storageClassName when none is set (the cluster default)', () => {
    expect(
      builderPvc({ ...settings, storageClass: undefined }, primary).spec!.storageClassName,
    ).toBeUndefined();
  });
  it.each([
    ['copy-pod', undefined],
    ['none', undefined],
    ['pvc-clone', { kind: 'PersistentVolumeClaim', name: 'hoist-snap-snp_1-' }],
    [
      'csi-snapshot',
      { apiGroup: 'snapshot.storage.k8s.io', kind: 'VolumeSnapshot', name: 'hoist-snap-snp_1-' },
    ],
  ] as const)('clone data source for %s', (mode, want) => {
    const ref = cloneDataSource(mode, 'snp_1');
    if (!want) return expect(ref).toBeUndefined();
    expect(ref).toMatchObject({ ...want, name: expect.stringMatching(/^hoist-snap-snp-1-[0-9a-f]{8}$/) });
    expect(ref!.name).toBe(snapshotObjectName('snp_1'));
  });
  it('a snapshot PVC of pvc-clone mode clones the primary volume', () => {
    const at = new Date('2026-01-02T03:04:05Z');
    const pvc = snapshotPvc({ ...settings, cloneMode: 'pvc-clone' }, primary, 'snp_1', at, '20Gi', 'csi-rbd');
    expect(pvc.spec!.dataSourceRef).toEqual({ kind: 'PersistentVolumeClaim', name: names(primary.id).pvc });
    expect(pvc.spec!.storageClassName).toBe('csi-rbd');
    expect(pvc.metadata!.labels![LABELS.component]).toBe('snapshot');
    expect(pvc.metadata!.annotations![ANNOTATIONS.createdAt]).toBe(at.toISOString());
    expect(snapshotPvc(settings, primary, 'snp_1', at, '1Gi', undefined).spec!.dataSourceRef).toBeUndefined();
  });
  it('a VolumeSnapshot of the primary volume', () => {
    const vs = volumeSnapshot({ ...settings, snapshotClass: 'csi-snap' }, primary, 'snp_2', new Date());
    expect(vs.spec).toEqual({
      volumeSnapshotClassName: 'csi-snap',
      source: { persistentVolumeClaimName: names(primary.id).pvc },
    });
    expect(vs.metadata!.annotations![ANNOTATIONS.sourceBuilder]).toBe(primary.id);
  });
});

describe('copyPod', () => {
  const pod = copyPod(settings, {
    name: 'hoist-x-copy',
    labels: { [LABELS.builderId]: 'x' },
    sourceClaim: 'src',
    targetClaim: 'dst',
    arch: 'amd64',
  });
  it('mounts the source read-only and runs once', () => {
    expect(pod.spec!.restartPolicy).toBe('Never');
    expect(pod.spec!.volumes).toEqual([
      { name: 'src', persistentVolumeClaim: { claimName: 'src', readOnly: true } },
      { name: 'dst', persistentVolumeClaim: { claimName: 'dst' } },
    ]);
    expect(pod.spec!.containers[0]!.volumeMounts![0]).toMatchObject({ mountPath: '/src', readOnly: true });
    expect(pod.metadata!.labels![LABELS.component]).toBe('copy');
    expect(isOwned(pod.metadata, 'hoist')).toBe(true);
  });
  it('copies with devices, xattrs, owners and hard links, refusing a cp that cannot', () => {
    expect(pod.spec!.containers[0]!.command!.join(' ')).toContain('cp -a --preserve=all /src/. /dst/');
  });
});

describe('secrets', () => {
  it('round-trips the PEMs through base64 data as the API returns them', () => {
    const c = { caPem: 'CA', caKeyPem: 'CAKEY', certPem: 'CERT', keyPem: 'KEY', config: 'TOML' };
    const secret = builderSecret(settings, primary, c);
    expect(secret.metadata!.name).toBe(names(primary.id).secret);
    const data: Record<string, string> = {};
    for (const [k, v] of Object.entries(secret.stringData!)) data[k] = Buffer.from(v).toString('base64');
    expect(secretContents({ data })).toEqual(c);
    expect(secretContents({ data: { 'ca.pem': 'Q0E=' } })).toBeNull();
  });
});

describe('ownerReferenceTo', () => {
  it('refers to the pod by uid', () => {
    expect(ownerReferenceTo({ metadata: { name: 'p', uid: 'u-1' } })).toEqual({
      apiVersion: 'v1',
      kind: 'Pod',
      name: 'p',
      uid: 'u-1',
      blockOwnerDeletion: false,
    });
    expect(() => ownerReferenceTo({ metadata: { name: 'p' } })).toThrow(/uid/);
  });
});

describe('parseResources', () => {
  it.each([
    ['requests.cpu=1,limits.memory=4Gi', { requests: { cpu: '1' }, limits: { memory: '4Gi' } }],
    [
      ' requests.cpu=500m , requests.memory=512Mi ',
      { requests: { cpu: '500m', memory: '512Mi' }, limits: {} },
    ],
    ['limits.ephemeral-storage=50Gi', { requests: {}, limits: { 'ephemeral-storage': '50Gi' } }],
    ['', { requests: {}, limits: {} }],
  ])('%j', (raw, want) => expect(parseResources(raw)).toEqual(want));
  it.each([
    ['cpu=1', /requests.cpu=1,limits.memory=4Gi/],
    ['requests.cpu=lots', /not a Kubernetes quantity/],
    ['requests.memory=8Gi,limits.memory=4Gi', /more than limits.memory/],
    ['requests.cpu=2,limits.cpu=1500m', /more than limits.cpu/],
  ])('refuses %j', (raw, msg) => expect(parseResources(raw)).toMatch(msg));
});

describe('parseNodeSelector and nodeArch', () => {
  it('parses key=value pairs', () => {
    expect(parseNodeSelector('pool=builders, topology.kubernetes.io/zone=a')).toEqual({
      pool: 'builders',
      'topology.kubernetes.io/zone': 'a',
    });
    expect(parseNodeSelector('pool')).toMatch(/key=value/);
  });
  it.each([
    ['linux/amd64', 'amd64'],
    ['linux/arm64', 'arm64'],
    ['linux/arm/v7', 'arm'],
  ])('%s runs on nodes labelled %s', (p, arch) => expect(nodeArch(p)).toBe(arch));
});
