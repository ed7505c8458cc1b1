// The kubernetes provider against the real single-node test cluster (test/engine/k8s.sh): real
// buildkitd pods, real PVCs from the local-path provisioner, the server's gateway in front.
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import type { CoreV1Api } from '@kubernetes/client-node';
import { KubernetesProvider } from '../../src/providers/kubernetes.js';
import {
  LABELS,
  names,
  snapshotObjectName,
  type KubernetesSettings,
} from '../../src/providers/kubernetes-manifests.js';
import {
  nativePlatform,
  ProvisionError,
  type BuilderSpec,
  type RunningBuilder,
} from '../../src/providers/provider.js';
import type { CertKeyPem } from '../../src/lib/pki.js';
import { engineBinaries } from '../helpers/engine.js';
import {
  createNamespace,
  deleteNamespace,
  eventually,
  isNotFound,
  releaseCluster,
  useCluster,
  type TestCluster,
} from '../helpers/kube.js';
import { buildctlWorkers } from './buildctl.js';

jest.setTimeout(600_000);

const native = nativePlatform();
let cluster: TestCluster;
let ns: string;
let tmp: string;
let provider: KubernetesProvider;
const quiet = { info() {}, warn() {}, error() {} };

function settings(extra: Partial<KubernetesSettings> = {}): KubernetesSettings {
  return {
    namespace: ns,
    instance: 'itg',
    image: cluster.builderImage,
    imagePullPolicy: 'IfNotPresent',
    storageClass: cluster.storageClass,
    volumeSize: '1Gi',
    resources: { requests: { cpu: '50m', memory: '64Mi' }, limits: { memory: '2Gi' } },
    security: 'privileged',
    nodeSelector: {},
    cloneMode: 'copy-pod',
    ...extra,
  };
}

function create(extra: Partial<KubernetesSettings> = {}): Promise<KubernetesProvider> {
  return KubernetesProvider.create({
    settings: settings(extra),
    kubeconfig: cluster.kubeconfig,
    platforms: [native],
    insecureRegistries: [cluster.registry],
    readyTimeoutMs: 120_000,
    logger: quiet,
  });
}

const specA: BuilderSpec = { id: 'bkr_a', projectId: 'prj_a', platform: native };
const specB: BuilderSpec = { id: 'bkr_b', projectId: 'prj_b', platform: native };

async function client(p: KubernetesProvider, id: string): Promise<CertKeyPem> {
  return p.issueClientCert(id, { commonName: 'itg', notAfter: new Date(Date.now() + 600_000) });
}

async function workers(b: RunningBuilder, cert: CertKeyPem | null) {
  return buildctlWorkers(engineBinaries().buildctl, tmp, b, cert);
}

function workerId(out: string): string {
  const m = /^ID:\s+(\S+)/m.exec(out);
  if (!m) throw new Error(`no worker ID in:\n${out}`);
  return m[1]!;
}

/** A TLS 1.2 handshake straight to a pod's buildkitd (1.2 names a refused certificate). */
function handshake(ip: string, serverName: string, caPem: string, cert: CertKeyPem): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({
      host: ip,
      port: 1234,
      servername: serverName,
      ca: caPem,
      cert: cert.certPem,
      key: cert.keyPem,
      minVersion: 'TLSv1.2',
      maxVersion: 'TLSv1.2',
      ALPNProtocols: ['h2'],
    });
    s.once('secureConnect', () => {
      s.destroy();
      resolve('ok');
    });
    s.once('error', (err) => reject(err));
  });
}

async function pod(name: string) {
  try {
    return await cluster.core.readNamespacedPod({ name, namespace: ns });
  } catch (err) {
    if (isNotFound(err)) return null;
    throw err;
  }
}

async function pvc(name: string) {
  try {
    return await cluster.core.readNamespacedPersistentVolumeClaim({ name, namespace: ns });
  } catch (err) {
    if (isNotFound(err)) return null;
    throw err;
  }
}

beforeAll(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'hoist-kprov-'));
  cluster = await useCluster();
  ns = await createNamespace(cluster, 'hoist-kprov');
  provider = await create();
});

afterAll(async () => {
  await provider?.close({ stopBuilders: false }).catch(() => undefined);
  if (cluster && ns) await deleteNamespace(cluster, ns).catch(() => undefined);
  await releaseCluster(cluster).catch(() => undefined);
  if (tmp) await fs.rm(tmp, { recursive: true, force: true });
});

describe('kubernetes provider on a real cluster', () => {
  let a: RunningBuilder;
  let b: RunningBuilder;
  let aWorker: string;

  it('launches a builder pod with its Secret, PVC, labels, node selector and resources; buildkitd answers through the gateway', async () => {
    const t0 = Date.now();
    a = await provider.launch(specA);
    const coldMs = Date.now() - t0;
    expect(a.adopted).toBe(false);
    expect(a.endpoint).toBe(provider.gatewayEndpoint);
    expect(a.serverName).toBe(names('bkr_a').serverName);
    const p = (await pod(names('bkr_a').pod))!;
    expect(p.metadata!.labels).toMatchObject({
      [LABELS.managedBy]: 'hoist',
      [LABELS.instance]: 'itg',
      [LABELS.project]: 'prj_a',
      [LABELS.role]: 'primary',
      [LABELS.builderId]: 'bkr_a',
      [LABELS.platform]: native.replace('/', '-'),
    });
    expect(p.spec!.nodeSelector!['kubernetes.io/arch']).toBe(native.split('/')[1]);
    expect(p.spec!.containers[0]!.resources!.limits).toEqual({ memory: '2Gi' });
    expect(p.spec!.containers[0]!.securityContext!.privileged).toBe(true);
    const v = (await pvc(names('bkr_a').pvc))!;
    expect(v.status!.phase).toBe('Bound');
    expect(v.spec!.storageClassName).toBe(cluster.storageClass);
    const secret = await cluster.core.readNamespacedSecret({ name: names('bkr_a').secret, namespace: ns });
    expect(Object.keys(secret.data!).sort()).toEqual([
      'buildkitd.toml',
      'ca-key.pem',
      'ca.pem',
      'cert.pem',
      'key.pem',
    ]);
    expect(await provider.health('bkr_a')).toEqual({ healthy: true });
    const w = await workers(a, await client(provider, 'bkr_a'));
    expect(w.out).toContain(native);
    expect(w.ok).toBe(true);
    aWorker = workerId(w.out);
    // Without a certificate the gateway lets nobody in.
    expect((await workers(a, null)).ok).toBe(false);
    console.log(`cold builder pod start: ${coldMs} ms`);
  });

  it("gives another project its own pod and volume, and A's certificate does not open B's builder", async () => {
    b = await provider.launch(specB);
    expect(names('bkr_b').pod).not.toBe(names('bkr_a').pod);
    const pa = (await pod(names('bkr_a').pod))!;
    const pb = (await pod(names('bkr_b').pod))!;
    expect(pb.spec!.volumes![0]!.persistentVolumeClaim!.claimName).toBe(names('bkr_b').pvc);
    expect((await pvc(names('bkr_b').pvc))!.spec!.volumeName).not.toBe(
      (await pvc(names('bkr_a').pvc))!.spec!.volumeName,
    );
    expect(b.caPem).not.toBe(a.caPem);
    const certA = await client(provider, 'bkr_a');
    // Through the gateway: B's server name with A's certificate.
    const refused = await workers(b, certA);
    expect(refused.ok).toBe(false);
    expect((await workers(b, await client(provider, 'bkr_b'))).ok).toBe(true);
    // Straight at B's pod (from inside the cluster network): B's buildkitd refuses A's CA.
    await expect(handshake(pb.status!.podIP!, b.serverName, b.caPem, certA)).rejects.toMatchObject({
      code: expect.stringMatching(/ERR_SSL_(TLSV1_ALERT_UNKNOWN_CA|SSLV3_ALERT_BAD_CERTIFICATE)/),
    });
    await expect(handshake(pa.status!.podIP!, a.serverName, a.caPem, certA)).resolves.toBe('ok');
  });

  it('stop deletes the pod and keeps the volume; the next launch uses the same volume and cache', async () => {
    const volumeBefore = (await pvc(names('bkr_a').pvc))!.metadata!.uid;
    await provider.stop('bkr_a');
    expect(await pod(names('bkr_a').pod)).toBeNull();
    expect((await pvc(names('bkr_a').pvc))!.metadata!.uid).toBe(volumeBefore);
    expect((await provider.list()).find((x) => x.id === 'bkr_a')).toMatchObject({
      state: 'stopped',
      role: 'primary',
    });
    expect((await provider.health('bkr_a')).healthy).toBe(false);
    a = await provider.launch(specA);
    expect(a.adopted).toBe(false);
    expect((await pvc(names('bkr_a').pvc))!.metadata!.uid).toBe(volumeBefore);
    // Same root, same worker id: the solver cache still resolves.
    expect(workerId((await workers(a, await client(provider, 'bkr_a'))).out)).toBe(aWorker);
  });

  it('a restarted control plane adopts the running pods by label', async () => {
    const uid = (await pod(names('bkr_a').pod))!.metadata!.uid;
    const second = await create();
    try {
      expect(
        (await second.list())
          .filter((x) => x.state === 'running')
          .map((x) => x.id)
          .sort(),
      ).toEqual(['bkr_a', 'bkr_b']);
      // Another replica routes a builder it never launched: its gateway looks the pod up.
      const viaSecond = { endpoint: second.gatewayEndpoint, serverName: a.serverName, caPem: a.caPem };
      expect((await workers(viaSecond as RunningBuilder, await client(second, 'bkr_a'))).ok).toBe(true);
      const again = await second.launch(specA);
      expect(again.adopted).toBe(true);
      expect(again.caPem).toBe(a.caPem);
      expect((await pod(names('bkr_a').pod))!.metadata!.uid).toBe(uid);
      // Its certificates open the builder through its own gateway.
      expect((await workers(again, await client(second, 'bkr_a'))).ok).toBe(true);
    } finally {
      await second.close({ stopBuilders: false });
    }
  });

  it("never lists or touches objects without this installation's labels", async () => {
    await cluster.core.createNamespacedPersistentVolumeClaim({
      namespace: ns,
      body: {
        metadata: {
          name: 'stranger',
          labels: { [LABELS.builderId]: 'bkr_x', [LABELS.component]: 'builder' },
        },
        spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Mi' } } },
      },
    });
    await cluster.core.createNamespacedSecret({
      namespace: ns,
      body: {
        metadata: {
          name: names('bkr_other').secret,
          labels: {
            [LABELS.managedBy]: 'hoist',
            [LABELS.instance]: 'another-install',
            [LABELS.component]: 'builder',
          },
          annotations: { 'hoist/builder-id': 'bkr_other', 'hoist/project-id': 'p', 'hoist/platform': native },
        },
        stringData: { x: 'y' },
      },
    });
    const ids = (await provider.list()).map((x) => x.id);
    expect(ids).not.toContain('bkr_x');
    expect(ids).not.toContain('bkr_other');
    await provider.destroy('bkr_other');
    expect(
      await cluster.core.readNamespacedSecret({ name: names('bkr_other').secret, namespace: ns }),
    ).toBeTruthy();
    // A builder whose name is taken by an object Hoist did not make is refused, not overwritten.
    await expect(
      provider.launch({ id: 'bkr_other', projectId: 'p', platform: native }),
    ).rejects.toMatchObject({
      kind: 'permanent',
      message: expect.stringMatching(/Hoist did not make it/),
    });
    expect(await pvc('stranger')).not.toBeNull();
  });

  it('health reads the pod watch: no request per check, a deleted pod unhealthy at once, a new pod healthy', async () => {
    await provider.launch({ id: 'bkr_h', projectId: 'prj_h', platform: native });
    const core = (provider as unknown as { core: CoreV1Api }).core;
    const reads = jest.spyOn(core, 'readNamespacedPod');
    try {
      for (let i = 0; i < 10; i++) expect(await provider.health('bkr_h')).toEqual({ healthy: true });
      // The provisioner checks every running builder every few seconds: none of that reaches the API server.
      expect(reads).not.toHaveBeenCalled();

      // Deleted behind Hoist's back (kubectl, an eviction, a drained node).
      const t0 = Date.now();
      await cluster.core.deleteNamespacedPod({ name: names('bkr_h').pod, namespace: ns });
      let h = await provider.health('bkr_h');
      while (h.healthy && Date.now() - t0 < 10_000) {
        await new Promise((r) => setTimeout(r, 20));
        h = await provider.health('bkr_h');
      }
      const ms = Date.now() - t0;
      console.log(`deleted pod reported unhealthy after ${ms} ms, ${reads.mock.calls.length} pod reads`);
      expect(h).toEqual({
        healthy: false,
        reason: expect.stringMatching(/^pod hoist-bkr-h-\w+ (is not running|does not exist)/),
      });
      expect(ms).toBeLessThan(2000);
      expect(reads).not.toHaveBeenCalled();

      // Its replacement is healthy at once, though the watch may not have seen it yet.
      await provider.launch({ id: 'bkr_h', projectId: 'prj_h', platform: native });
      expect(await provider.health('bkr_h')).toEqual({ healthy: true });
    } finally {
      reads.mockRestore();
    }
    await provider.destroy('bkr_h');
  });

  it('clones: a snapshot of the stopped primary, a clone pod with the same worker id, its volume gone with its pod', async () => {
    const before = Date.now();
    const info = await provider.snapshot('bkr_a', 'snp_1');
    expect(info.builderId).toBe('bkr_a');
    // The primary runs in a new pod: what was recorded at its launch is replaced by this.
    expect(info.restarted).toMatchObject({ id: 'bkr_a', adopted: false, endpoint: a.endpoint });
    expect(info.restarted!.startedAt.getTime()).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000);
    expect(info.downtimeMs).toBeGreaterThan(0);
    expect(await pvc(snapshotObjectName('snp_1'))).not.toBeNull();
    expect(await provider.health('bkr_a')).toEqual({ healthy: true });
    expect((await provider.listSnapshots()).map((s) => s.id)).toEqual(['snp_1']);
    console.log(`snapshot (copy pod): primary down ${info.downtimeMs} ms, ${info.sizeBytes} bytes`);

    const t0 = Date.now();
    const c = await provider.launch({
      id: 'bkr_c',
      projectId: 'prj_a',
      platform: native,
      role: 'clone',
      snapshotId: 'snp_1',
    });
    console.log(`clone launch (copy pod + pod start): ${Date.now() - t0} ms`);
    const cp = (await pod(names('bkr_c').pod))!;
    expect(cp.metadata!.labels![LABELS.role]).toBe('clone');
    const cv = (await pvc(names('bkr_c').pvc))!;
    expect(cv.metadata!.ownerReferences).toEqual([
      expect.objectContaining({ kind: 'Pod', uid: cp.metadata!.uid }),
    ]);
    expect(workerId((await workers(c, await client(provider, 'bkr_c'))).out)).toBe(aWorker);
    expect(c.caPem).not.toBe(a.caPem);
    // No copy pod is left behind.
    const copies = await cluster.core.listNamespacedPod({
      namespace: ns,
      labelSelector: `${LABELS.component}=copy`,
    });
    expect(copies.items).toEqual([]);

    await provider.stop('bkr_c');
    await eventually('the clone volume and secret collected with their pod', async () => {
      return (await pvc(names('bkr_c').pvc)) === null;
    });
    await provider.deleteSnapshot('snp_1');
    // Deleted at once, gone once the pvc-protection finalizer lets go (no pod uses it).
    await eventually('the snapshot volume deleted', async () => {
      return (await pvc(snapshotObjectName('snp_1'))) === null;
    });
  });

  it('fails fast with a typed error when the image cannot be pulled or no node has the architecture', async () => {
    const bad = await create({ image: `${cluster.registry}/hoist-test/does-not-exist:1` });
    try {
      const t0 = Date.now();
      const err = await bad
        .launch({ id: 'bkr_badimg', projectId: 'p', platform: native })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ProvisionError);
      expect(err).toMatchObject({
        kind: 'permanent',
        message: expect.stringMatching(/cannot pull its image/),
      });
      expect(Date.now() - t0).toBeLessThan(90_000);
      expect(await pod(names('bkr_badimg').pod)).toBeNull();
      await bad.destroy('bkr_badimg');
    } finally {
      await bad.close({ stopBuilders: false });
    }
    const foreign = native === 'linux/amd64' ? 'linux/s390x' : 'linux/amd64';
    const err = await provider
      .launch({ id: 'bkr_arch', projectId: 'p', platform: foreign })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ kind: 'permanent', message: expect.stringMatching(/no node matches/) });
    await provider.destroy('bkr_arch');
  });

  it('destroy removes pod, volume and keys of every builder; nothing of ours is left', async () => {
    for (const id of (await provider.list()).map((x) => x.id)) await provider.destroy(id);
    expect(await provider.list()).toEqual([]);
    const owned = 'app.kubernetes.io/managed-by=hoist,hoist/instance=itg';
    await eventually('every object of the installation gone', async () => {
      const [pods, pvcs, secrets] = await Promise.all([
        cluster.core.listNamespacedPod({ namespace: ns, labelSelector: owned }),
        cluster.core.listNamespacedPersistentVolumeClaim({ namespace: ns, labelSelector: owned }),
        cluster.core.listNamespacedSecret({ namespace: ns, labelSelector: owned }),
      ]);
      return pods.items.length + pvcs.items.length + secrets.items.length === 0;
    });
  });
});
