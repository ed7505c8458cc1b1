// Pure builders of the Kubernetes objects the kubernetes provider owns: names, labels, the
// builder's Secret, PersistentVolumeClaim and Pod, the copy pod that makes a clone's cache, and
// the snapshot objects. No I/O: kubernetes.ts sends what these return, and the tests read them.
import { createHash } from 'node:crypto';
import type {
  V1ObjectMeta,
  V1OwnerReference,
  V1PersistentVolumeClaim,
  V1Pod,
  V1ResourceRequirements,
  V1Secret,
  V1TypedObjectReference,
} from '@kubernetes/client-node';
import { cpuMillis, isQuantity, quantityBytes } from './kubernetes-quantity.js';
import {
  defaultRunNetwork,
  runNetworkCommand,
  runNetworkEnv,
  type RunNetworkSettings,
} from './kubernetes-network.js';
import type { BuilderRole } from './provider.js';

/** Label and annotation keys. Every object Hoist creates carries MANAGED_BY and INSTANCE. */
export const LABELS = {
  managedBy: 'app.kubernetes.io/managed-by',
  instance: 'hoist/instance',
  builderId: 'hoist/builder-id',
  project: 'hoist/project',
  platform: 'hoist/platform',
  role: 'hoist/role',
  /** "builder" (pod, PVC, Secret of a builder), "copy" (a copy pod), "snapshot" (a snapshot's volume). */
  component: 'hoist/component',
  snapshotId: 'hoist/snapshot-id',
} as const;

export const ANNOTATIONS = {
  /** Label values cannot hold every id or "linux/amd64": the exact values live here. */
  builderId: 'hoist/builder-id',
  projectId: 'hoist/project-id',
  platform: 'hoist/platform',
  snapshotId: 'hoist/snapshot-id',
  /** What the pod was made from (image, config, resources): a pod whose hash differs is replaced. */
  specHash: 'hoist/spec-hash',
  createdAt: 'hoist/created-at',
  downtimeMs: 'hoist/downtime-ms',
  sourceBuilder: 'hoist/source-builder',
} as const;

export const MANAGED_BY = 'hoist';
/** Where buildkitd listens inside the pod (TLS, client certificates of the builder's CA only). */
export const BUILDKITD_PORT = 1234;
export const BUILDKIT_ROOT = '/var/lib/buildkit';
const CERTS_DIR = '/etc/hoist/tls';

/** How a clone's cache is made from a snapshot (a setting: it depends on the StorageClass's CSI driver). */
export type KubernetesCloneMode = 'copy-pod' | 'pvc-clone' | 'csi-snapshot' | 'none';
export const CLONE_MODES: KubernetesCloneMode[] = ['copy-pod', 'pvc-clone', 'csi-snapshot', 'none'];

/** Privileged pods work everywhere; rootless needs user namespaces and unconfined seccomp/AppArmor. */
export type KubernetesSecurity = 'privileged' | 'rootless';

export interface BuilderResources {
  requests: Record<string, string>;
  limits: Record<string, string>;
}

/** Everything the manifests depend on besides the builder itself. */
export interface KubernetesSettings {
  namespace: string;
  /** Value of the hoist/instance label: two Hoist installations in one namespace never touch each other. */
  instance: string;
  image: string;
  imagePullPolicy: 'Always' | 'IfNotPresent' | 'Never';
  /** StorageClass of the primaries' volumes; undefined = the cluster's default class. */
  storageClass?: string;
  /** Size asked for a builder's volume, e.g. "20Gi". */
  volumeSize: string;
  resources: BuilderResources;
  security: KubernetesSecurity;
  /** Extra node selector terms (kubernetes.io/arch is always set from the platform). */
  nodeSelector: Record<string, string>;
  cloneMode: KubernetesCloneMode;
  /** VolumeSnapshotClass for csi-snapshot; undefined = the driver's default class. */
  snapshotClass?: string;
  /** Where RUN steps run (kubernetes-network.ts); undefined = isolated (privileged) or pod (rootless). */
  runNetwork?: RunNetworkSettings;
}

export function runNetworkOf(s: KubernetesSettings): RunNetworkSettings {
  const net = s.runNetwork ?? defaultRunNetwork(s.security);
  // Rootless BuildKit cannot set up the pod's bridge and firewall (the config refuses the pair).
  return s.security === 'rootless' ? { ...net, mode: 'pod' } : net;
}

export interface BuilderIdentity {
  id: string;
  projectId: string;
  platform: string;
  role: BuilderRole;
  snapshotId?: string;
}

const DNS_LABEL_MAX = 63;

function shortHash(s: string, n = 8): string {
  return createHash('sha256').update(s).digest('hex').slice(0, n);
}

/**
 * A DNS-1123 label made from an arbitrary id: lower-case, [a-z0-9-], at most `max` characters.
 * When that changed the id (case, other characters, length), a hash of the exact id is added
 * so "A" and "a" never share a name.
 */
export function dnsLabel(prefix: string, id: string, max = DNS_LABEL_MAX): string {
  const clean = id
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '');
  if (clean !== '' && clean === id && prefix.length + clean.length <= max) return `${prefix}${clean}`;
  // Lossy (case, characters, length): a hash of the exact id keeps two ids apart.
  const room = max - prefix.length - 9;
  const body = (clean || 'x').slice(0, room).replace(/-+$/, '') || 'x';
  return `${prefix}${body}-${shortHash(id)}`;
}

/** The builder's pod, volume and Secret share this name (the volume and Secret add a suffix). */
export function builderObjectName(id: string): string {
  return dnsLabel('hoist-', id, 52);
}

export function names(id: string) {
  const base = builderObjectName(id);
  return {
    pod: base,
    pvc: `${base}-root`,
    secret: `${base}-tls`,
    copyPod: `${base}-copy`,
    /** SNI name clients send; one per builder, a SAN of its server certificate. */
    serverName: `${base}.builders.hoist.internal`,
  };
}

export function snapshotObjectName(snapshotId: string): string {
  return dnsLabel('hoist-snap-', snapshotId, 63);
}

/** The builder's object name from an SNI server name, or null when it is not one of ours. */
export function objectNameFromServerName(serverName: string): string | null {
  const m = /^(hoist-[a-z0-9-]+)\.builders\.hoist\.internal$/.exec(serverName.toLowerCase());
  return m ? m[1]! : null;
}

/** A label value (≤ 63, [A-Za-z0-9_.-], alphanumeric at both ends); lossy ids get a hash. */
export function labelValue(raw: string): string {
  if (/^[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?$/.test(raw)) return raw;
  const clean = raw.replace(/[^A-Za-z0-9_.-]+/g, '-').replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, '');
  return `${clean.slice(0, 54).replace(/[^A-Za-z0-9]+$/, '') || 'x'}-${shortHash(raw)}`;
}

/** "linux/arm64/v8" → "arm64": the value of the node label kubernetes.io/arch. */
export function nodeArch(platform: string): string {
  const arch = platform.split('/')[1];
  if (!arch) throw new Error(`platform "${platform}" has no architecture`);
  return arch;
}

/** The labels every object of this Hoist installation carries. */
export function ownedSelector(instance: string): string {
  return `${LABELS.managedBy}=${MANAGED_BY},${LABELS.instance}=${labelValue(instance)}`;
}

/** Selects one builder's objects (and only this installation's). */
export function builderSelector(instance: string, id: string): string {
  return `${ownedSelector(instance)},${LABELS.builderId}=${labelValue(id)}`;
}

/** Is this object one Hoist made, in this installation? Never touch anything else. */
export function isOwned(meta: V1ObjectMeta | undefined, instance: string): boolean {
  const l = meta?.labels ?? {};
  return l[LABELS.managedBy] === MANAGED_BY && l[LABELS.instance] === labelValue(instance);
}

function builderLabels(s: KubernetesSettings, b: BuilderIdentity): Record<string, string> {
  return {
    [LABELS.managedBy]: MANAGED_BY,
    [LABELS.instance]: labelValue(s.instance),
    [LABELS.component]: 'builder',
    [LABELS.builderId]: labelValue(b.id),
    [LABELS.project]: labelValue(b.projectId),
    [LABELS.platform]: labelValue(b.platform.replace(/\//g, '-')),
    [LABELS.role]: b.role,
  };
}

function builderAnnotations(b: BuilderIdentity): Record<string, string> {
  return {
    [ANNOTATIONS.builderId]: b.id,
    [ANNOTATIONS.projectId]: b.projectId,
    [ANNOTATIONS.platform]: b.platform,
    ...(b.snapshotId ? { [ANNOTATIONS.snapshotId]: b.snapshotId } : {}),
  };
}

function meta(name: string, s: KubernetesSettings, b: BuilderIdentity): V1ObjectMeta {
  return {
    name,
    namespace: s.namespace,
    labels: builderLabels(s, b),
    annotations: builderAnnotations(b),
  };
}

/** The builder's identity read back from an object's labels and annotations (adoption). */
export function identityOf(m: V1ObjectMeta | undefined): BuilderIdentity | null {
  const a = m?.annotations ?? {};
  const l = m?.labels ?? {};
  const id = a[ANNOTATIONS.builderId];
  const projectId = a[ANNOTATIONS.projectId];
  const platform = a[ANNOTATIONS.platform];
  if (!id || !projectId || !platform) return null;
  const role: BuilderRole = l[LABELS.role] === 'clone' ? 'clone' : 'primary';
  return { id, projectId, platform, role, snapshotId: a[ANNOTATIONS.snapshotId] };
}

export interface SecretContents {
  caPem: string;
  caKeyPem: string;
  certPem: string;
  keyPem: string;
  config: string;
}

/** Keys in the Secret; the CA key is never mounted into the pod. */
export const SECRET_KEYS = {
  ca: 'ca.pem',
  caKey: 'ca-key.pem',
  cert: 'cert.pem',
  key: 'key.pem',
  config: 'buildkitd.toml',
} as const;

export function builderSecret(s: KubernetesSettings, b: BuilderIdentity, c: SecretContents): V1Secret {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: meta(names(b.id).secret, s, b),
    type: 'Opaque',
    stringData: {
      [SECRET_KEYS.ca]: c.caPem,
      [SECRET_KEYS.caKey]: c.caKeyPem,
      [SECRET_KEYS.cert]: c.certPem,
      [SECRET_KEYS.key]: c.keyPem,
      [SECRET_KEYS.config]: c.config,
    },
  };
}

/** Reads the Secret's data (base64, as the API returns it) back into PEMs; null when incomplete. */
export function secretContents(secret: V1Secret): SecretContents | null {
  const d = secret.data ?? {};
  const get = (k: string): string | undefined =>
    d[k] === undefined ? secret.stringData?.[k] : Buffer.from(d[k], 'base64').toString('utf8');
  const caPem = get(SECRET_KEYS.ca);
  const caKeyPem = get(SECRET_KEYS.caKey);
  const certPem = get(SECRET_KEYS.cert);
  const keyPem = get(SECRET_KEYS.key);
  const config = get(SECRET_KEYS.config) ?? '';
  if (!caPem || !caKeyPem || !certPem || !keyPem) return null;
  return { caPem, caKeyPem, certPem, keyPem, config };
}

/**
 * The builder's cache volume. A clone's volume starts from the snapshot by `dataSourceRef`
 * (pvc-clone, csi-snapshot) or empty, to be filled by a copy pod (copy-pod).
 */
export function builderPvc(
  s: KubernetesSettings,
  b: BuilderIdentity,
  opts: { size?: string; dataSourceRef?: V1TypedObjectReference } = {},
): V1PersistentVolumeClaim {
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: meta(names(b.id).pvc, s, b),
    spec: {
      accessModes: ['ReadWriteOnce'],
      ...(s.storageClass ? { storageClassName: s.storageClass } : {}),
      resources: { requests: { storage: opts.size ?? s.volumeSize } },
      ...(opts.dataSourceRef ? { dataSourceRef: opts.dataSourceRef } : {}),
    },
  };
}

/** Where a clone's volume starts from, for the clone modes that let the storage driver copy. */
export function cloneDataSource(
  mode: KubernetesCloneMode,
  snapshotId: string,
): V1TypedObjectReference | undefined {
  if (mode === 'pvc-clone') return { kind: 'PersistentVolumeClaim', name: snapshotObjectName(snapshotId) };
  if (mode === 'csi-snapshot') {
    return {
      apiGroup: 'snapshot.storage.k8s.io',
      kind: 'VolumeSnapshot',
      name: snapshotObjectName(snapshotId),
    };
  }
  return undefined;
}

function securityContext(s: KubernetesSettings) {
  if (s.security === 'privileged') return { privileged: true };
  // BuildKit's rootless mode: user namespaces need unconfined seccomp and AppArmor.
  return {
    runAsUser: 1000,
    runAsGroup: 1000,
    seccompProfile: { type: 'Unconfined' as const },
    appArmorProfile: { type: 'Unconfined' as const },
  };
}

/** The buildkitd command line inside the pod. */
export function buildkitdArgs(
  platform: string,
  security: KubernetesSecurity,
  runNetwork: RunNetworkSettings['mode'] = 'pod',
): string[] {
  return [
    '--root',
    BUILDKIT_ROOT,
    '--addr',
    `tcp://0.0.0.0:${BUILDKITD_PORT}`,
    '--tlscacert',
    `${CERTS_DIR}/${SECRET_KEYS.ca}`,
    '--tlscert',
    `${CERTS_DIR}/${SECRET_KEYS.cert}`,
    '--tlskey',
    `${CERTS_DIR}/${SECRET_KEYS.key}`,
    '--config',
    `${CERTS_DIR}/${SECRET_KEYS.config}`,
    // isolated: each RUN step in its own namespace on the pod's bridge, behind the firewall
    // the entrypoint sets up; pod: RUN steps share the pod's namespace.
    '--oci-worker-net',
    runNetwork === 'isolated' ? 'cni' : 'host',
    '--oci-worker-platform',
    platform,
    ...(security === 'rootless' ? ['--oci-worker-no-process-sandbox'] : []),
  ];
}

/** A hash of everything that shapes the pod, so a changed image or setting replaces the pod. */
export function podSpecHash(s: KubernetesSettings, b: BuilderIdentity, config: string): string {
  return shortHash(
    JSON.stringify([
      s.image,
      s.resources,
      s.security,
      s.nodeSelector,
      buildkitdArgs(b.platform, s.security, runNetworkOf(s).mode),
      config,
      runNetworkOf(s).mode === 'isolated' ? [runNetworkCommand(), runNetworkEnv(runNetworkOf(s))] : null,
    ]),
    16,
  );
}

/** buildkitd's command; `isolated` first sets up the RUN steps' bridge network and firewall. */
function buildkitdCommand(s: KubernetesSettings): string[] {
  // Rootless BuildKit runs under rootlesskit, which the image must ship.
  if (s.security === 'rootless') return ['rootlesskit', 'buildkitd'];
  return runNetworkOf(s).mode === 'isolated' ? runNetworkCommand() : ['buildkitd'];
}

export function builderPod(s: KubernetesSettings, b: BuilderIdentity, config: string): V1Pod {
  const n = names(b.id);
  const m = meta(n.pod, s, b);
  m.annotations![ANNOTATIONS.specHash] = podSpecHash(s, b, config);
  const resources: V1ResourceRequirements = { requests: s.resources.requests, limits: s.resources.limits };
  const net = runNetworkOf(s);
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: m,
    spec: {
      // Hoist is the controller: a lost pod is replaced by the next launch, on the same volume.
      restartPolicy: 'Always',
      // A builder runs other people's code: no API token, no service environment variables.
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      // buildkitd flushes its bolt databases on SIGTERM; a clean stop keeps the cache intact.
      terminationGracePeriodSeconds: 30,
      nodeSelector: {
        ...s.nodeSelector,
        'kubernetes.io/os': 'linux',
        'kubernetes.io/arch': nodeArch(b.platform),
      },
      containers: [
        {
          name: 'buildkitd',
          image: s.image,
          imagePullPolicy: s.imagePullPolicy,
          command: buildkitdCommand(s),
          args: buildkitdArgs(b.platform, s.security, net.mode),
          ...(net.mode === 'isolated' ? { env: runNetworkEnv(net) } : {}),
          ports: [{ name: 'buildkitd', containerPort: BUILDKITD_PORT, protocol: 'TCP' }],
          securityContext: securityContext(s),
          resources,
          volumeMounts: [
            { name: 'root', mountPath: BUILDKIT_ROOT },
            { name: 'tls', mountPath: CERTS_DIR, readOnly: true },
          ],
        },
      ],
      volumes: [
        { name: 'root', persistentVolumeClaim: { claimName: n.pvc } },
        {
          name: 'tls',
          secret: {
            secretName: n.secret,
            defaultMode: 0o400,
            // The CA key stays in the API: a builder could otherwise sign certificates for itself.
            items: [SECRET_KEYS.ca, SECRET_KEYS.cert, SECRET_KEYS.key, SECRET_KEYS.config].map((k) => ({
              key: k,
              path: k,
            })),
          },
        },
      ],
    },
  };
}

/** Makes a clone's objects go with its pod: the garbage collector deletes them when it is deleted. */
export function ownerReferenceTo(pod: V1Pod): V1OwnerReference {
  if (!pod.metadata?.uid || !pod.metadata.name) throw new Error('the pod has no uid yet');
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    name: pod.metadata.name,
    uid: pod.metadata.uid,
    blockOwnerDeletion: false,
  };
}

/**
 * A run-once pod that copies one volume into another with `cp -a` semantics (devices, xattrs,
 * owners, hard links: overlay whiteouts and trusted.* xattrs must survive). The source is
 * mounted read-only, and it is never a live builder's: callers stop the primary first, or
 * copy from a snapshot volume no daemon uses.
 */
export function copyPod(
  s: KubernetesSettings,
  opts: {
    name: string;
    labels: Record<string, string>;
    sourceClaim: string;
    targetClaim: string;
    arch: string;
  },
): V1Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: opts.name,
      namespace: s.namespace,
      labels: {
        ...opts.labels,
        [LABELS.managedBy]: MANAGED_BY,
        [LABELS.instance]: labelValue(s.instance),
        [LABELS.component]: 'copy',
      },
    },
    spec: {
      restartPolicy: 'Never',
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      nodeSelector: { ...s.nodeSelector, 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': opts.arch },
      containers: [
        {
          name: 'copy',
          image: s.image,
          imagePullPolicy: s.imagePullPolicy,
          // GNU cp: --preserve=all fails loudly where a cp cannot keep xattrs (busybox) instead
          // of silently dropping the overlay whiteouts' trusted.* attributes.
          command: ['sh', '-c', COPY_SCRIPT],
          securityContext: { privileged: true },
          volumeMounts: [
            { name: 'src', mountPath: '/src', readOnly: true },
            { name: 'dst', mountPath: '/dst' },
          ],
        },
      ],
      volumes: [
        { name: 'src', persistentVolumeClaim: { claimName: opts.sourceClaim, readOnly: true } },
        { name: 'dst', persistentVolumeClaim: { claimName: opts.targetClaim } },
      ],
    },
  };
}

const COPY_SCRIPT =
  'set -e; cp -a --preserve=all /src/. /dst/; sync; echo $(( $(du -sk /dst | cut -f1) * 1024 )) > /dev/termination-log';

/** Labels and annotations of a snapshot object (a PVC for copy-pod/pvc-clone, a VolumeSnapshot for csi-snapshot). */
export function snapshotMeta(
  s: KubernetesSettings,
  b: BuilderIdentity,
  snapshotId: string,
  createdAt: Date,
): V1ObjectMeta {
  return {
    name: snapshotObjectName(snapshotId),
    namespace: s.namespace,
    labels: {
      [LABELS.managedBy]: MANAGED_BY,
      [LABELS.instance]: labelValue(s.instance),
      [LABELS.component]: 'snapshot',
      [LABELS.snapshotId]: labelValue(snapshotId),
      [LABELS.builderId]: labelValue(b.id),
      [LABELS.project]: labelValue(b.projectId),
      [LABELS.platform]: labelValue(b.platform.replace(/\//g, '-')),
    },
    annotations: {
      [ANNOTATIONS.snapshotId]: snapshotId,
      [ANNOTATIONS.sourceBuilder]: b.id,
      [ANNOTATIONS.projectId]: b.projectId,
      [ANNOTATIONS.platform]: b.platform,
      [ANNOTATIONS.createdAt]: createdAt.toISOString(),
    },
  };
}

/** The snapshot's volume (copy-pod: filled by a copy pod; pvc-clone: a CSI clone of the stopped primary). */
export function snapshotPvc(
  s: KubernetesSettings,
  b: BuilderIdentity,
  snapshotId: string,
  createdAt: Date,
  size: string,
  storageClass: string | undefined,
): V1PersistentVolumeClaim {
  const viaClone = s.cloneMode === 'pvc-clone';
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: snapshotMeta(s, b, snapshotId, createdAt),
    spec: {
      accessModes: ['ReadWriteOnce'],
      ...(storageClass ? { storageClassName: storageClass } : {}),
      resources: { requests: { storage: size } },
      ...(viaClone ? { dataSourceRef: { kind: 'PersistentVolumeClaim', name: names(b.id).pvc } } : {}),
    },
  };
}

export interface VolumeSnapshotObject {
  apiVersion: 'snapshot.storage.k8s.io/v1';
  kind: 'VolumeSnapshot';
  metadata: V1ObjectMeta;
  spec: { volumeSnapshotClassName?: string; source: { persistentVolumeClaimName: string } };
  status?: { readyToUse?: boolean; restoreSize?: string; error?: { message?: string } };
}

export function volumeSnapshot(
  s: KubernetesSettings,
  b: BuilderIdentity,
  snapshotId: string,
  createdAt: Date,
): VolumeSnapshotObject {
  return {
    apiVersion: 'snapshot.storage.k8s.io/v1',
    kind: 'VolumeSnapshot',
    metadata: snapshotMeta(s, b, snapshotId, createdAt),
    spec: {
      ...(s.snapshotClass ? { volumeSnapshotClassName: s.snapshotClass } : {}),
      source: { persistentVolumeClaimName: names(b.id).pvc },
    },
  };
}

/**
 * "requests.cpu=1,requests.memory=2Gi,limits.memory=4Gi" → requests and limits, or an error
 * message naming the bad entry and the accepted form.
 */
export function parseResources(raw: string): BuilderResources | string {
  const out: BuilderResources = { requests: {}, limits: {} };
  for (const entry of raw
    .split(',')
    .map((e) => e.trim())
    .filter(Boolean)) {
    const m = /^(requests|limits)\.([a-z0-9.-]+(?:\/[a-z0-9.-]+)?)=(.+)$/.exec(entry);
    if (!m) {
      return `takes entries like requests.cpu=1,limits.memory=4Gi separated by commas; "${entry}" is not one`;
    }
    const value = m[3]!.trim();
    if (!isQuantity(value)) {
      return `"${entry}": ${value} is not a Kubernetes quantity such as 500m, 2, 512Mi or 4Gi`;
    }
    out[m[1] as 'requests' | 'limits'][m[2]!] = value;
  }
  for (const [k, v] of Object.entries(out.requests)) {
    const limit = out.limits[k];
    if (limit === undefined) continue;
    const a = k === 'cpu' ? cpuMillis(v) : quantityBytes(v);
    const b = k === 'cpu' ? cpuMillis(limit) : quantityBytes(limit);
    if (a !== null && b !== null && a > b) return `requests.${k}=${v} is more than limits.${k}=${limit}`;
  }
  return out;
}

/** "disktype=ssd,pool=builders" → a node selector, or an error message. */
export function parseNodeSelector(raw: string): Record<string, string> | string {
  const out: Record<string, string> = {};
  for (const entry of raw
    .split(',')
    .map((e) => e.trim())
    .filter(Boolean)) {
    const m = /^([A-Za-z0-9][A-Za-z0-9_./-]*)=([A-Za-z0-9_.-]*)$/.exec(entry);
    if (!m) return `takes key=value node labels separated by commas, such as pool=builders; got "${entry}"`;
    out[m[1]!] = m[2]!;
  }
  return out;
}
