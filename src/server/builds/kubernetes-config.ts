// `hoist server` flags of the kubernetes provider (--provider kubernetes). Each is also read from
// its HOIST_* variable. Validated here, at start, so a typo stops the server with a reason
// instead of failing every builder launch later.
import { ConfigurationError } from '../../lib/errors.js';
import {
  CLONE_MODES,
  parseNodeSelector,
  parseResources,
  type KubernetesCloneMode,
  type KubernetesSecurity,
  type KubernetesSettings,
} from '../../providers/kubernetes-manifests.js';
import { isByteQuantity } from '../../providers/kubernetes-quantity.js';
import {
  DEFAULT_RUN_DENY,
  DEFAULT_RUN_SUBNET,
  parseCidrList,
  parseRunSubnet,
  type RunNetworkSettings,
} from '../../providers/kubernetes-network.js';
import { nativePlatform, parsePlatform } from '../../providers/provider.js';
import type { PluginOption } from '../http/plugin.js';

export type ProviderName = 'local' | 'kubernetes';

/** The provider's settings as the flags give them (the namespace may be left to the cluster). */
export interface KubernetesConfig extends Omit<KubernetesSettings, 'namespace' | 'runNetwork'> {
  /** undefined = in-cluster service account, else KUBECONFIG / ~/.kube/config. */
  kubeconfig?: string;
  /** undefined = the service account's namespace, else the kubeconfig context's. */
  namespace?: string;
  platforms: string[];
  readyTimeoutMs: number;
  /** Where RUN steps run; `dns` is filled from --builder-dns by the caller. */
  runNetwork: Omit<RunNetworkSettings, 'dns'>;
}

/** BuildKit's own image at the version Hoist is tested with. */
export const DEFAULT_KUBERNETES_IMAGE = 'moby/buildkit:v0.18.2';
export const DEFAULT_KUBERNETES_RESOURCES = 'requests.cpu=500m,requests.memory=1Gi,limits.memory=8Gi';

export const KUBERNETES_OPTIONS: PluginOption[] = [
  {
    name: 'provider',
    env: 'HOIST_PROVIDER',
    description:
      '"local" (default): buildkitd processes on this host; "kubernetes": builder pods in a cluster',
  },
  {
    name: 'kubeconfig',
    env: 'HOIST_KUBECONFIG',
    description: 'kubeconfig file of the cluster (default: the in-cluster service account, else KUBECONFIG)',
  },
  {
    name: 'kubernetes-namespace',
    env: 'HOIST_KUBERNETES_NAMESPACE',
    description: "namespace of the builder pods (default: the service account's, else the kubeconfig's)",
  },
  {
    name: 'kubernetes-instance',
    env: 'HOIST_KUBERNETES_INSTANCE',
    description: 'label value that separates two Hoist installations sharing a namespace (default hoist)',
  },
  {
    name: 'kubernetes-image',
    env: 'HOIST_KUBERNETES_IMAGE',
    description: `builder image with buildkitd and runc (default ${DEFAULT_KUBERNETES_IMAGE})`,
  },
  {
    name: 'kubernetes-image-pull-policy',
    env: 'HOIST_KUBERNETES_IMAGE_PULL_POLICY',
    description: 'IfNotPresent (default), Always or Never',
  },
  {
    name: 'kubernetes-storage-class',
    env: 'HOIST_KUBERNETES_STORAGE_CLASS',
    description: "StorageClass of the builders' cache volumes (default: the cluster's default class)",
  },
  {
    name: 'kubernetes-volume-size',
    env: 'HOIST_KUBERNETES_VOLUME_SIZE',
    description: 'size of each cache volume (default twice --builder-max-used-space, e.g. 20Gi)',
  },
  {
    name: 'kubernetes-resources',
    env: 'HOIST_KUBERNETES_RESOURCES',
    description: `requests and limits of a builder pod (default ${DEFAULT_KUBERNETES_RESOURCES})`,
  },
  {
    name: 'kubernetes-security',
    env: 'HOIST_KUBERNETES_SECURITY',
    description:
      '"privileged" (default, works everywhere) or "rootless" (an image with rootlesskit; nodes with user namespaces)',
  },
  {
    name: 'kubernetes-node-selector',
    env: 'HOIST_KUBERNETES_NODE_SELECTOR',
    description: 'extra node labels for builder pods, e.g. pool=builders (kubernetes.io/arch is always set)',
  },
  {
    name: 'kubernetes-clone-mode',
    env: 'HOIST_KUBERNETES_CLONE_MODE',
    description:
      'how clone volumes are made: copy-pod (default, any StorageClass), pvc-clone (CSI drivers with volume cloning), csi-snapshot (VolumeSnapshot CRDs and controller installed), none',
  },
  {
    name: 'kubernetes-snapshot-class',
    env: 'HOIST_KUBERNETES_SNAPSHOT_CLASS',
    description: "VolumeSnapshotClass for csi-snapshot (default: the driver's default class)",
  },
  {
    name: 'kubernetes-platforms',
    env: 'HOIST_KUBERNETES_PLATFORMS',
    description: `comma-separated platforms the cluster has nodes for (default ${nativePlatform()})`,
  },
  {
    name: 'kubernetes-run-network',
    env: 'HOIST_KUBERNETES_RUN_NETWORK',
    description:
      '"isolated" (default): each RUN step on a bridge inside the builder pod, behind a firewall that keeps it off private and link-local ranges and the pod itself; "pod": RUN steps share the pod\'s network (the only choice with rootless)',
  },
  {
    name: 'kubernetes-run-allow',
    env: 'HOIST_KUBERNETES_RUN_ALLOW',
    description:
      'comma-separated IPv4 CIDRs RUN steps may reach although the deny list holds them, e.g. a package mirror at 10.0.5.0/24',
  },
  {
    name: 'kubernetes-run-deny',
    env: 'HOIST_KUBERNETES_RUN_DENY',
    description: `comma-separated IPv4 CIDRs RUN steps may never reach, besides ${DEFAULT_RUN_DENY.join(', ')}: the cluster's pod, Service and node ranges when they are public addresses`,
  },
  {
    name: 'kubernetes-run-subnet',
    env: 'HOIST_KUBERNETES_RUN_SUBNET',
    description: `private subnet of the bridge inside each builder pod (default ${DEFAULT_RUN_SUBNET}); pick one nothing in the cluster uses`,
  },
  {
    name: 'kubernetes-ready-timeout',
    env: 'HOIST_KUBERNETES_READY_TIMEOUT',
    description: 'longest time from a pod created to buildkitd answering, image pull included (default 180s)',
  },
];

function label(name: string): string {
  return `--${name} (${KUBERNETES_OPTIONS.find((o) => o.name === name)?.env})`;
}

const DNS_1123_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const DNS_1123_SUBDOMAIN = /^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$/;

export function loadProviderName(opts: Record<string, string | undefined>): ProviderName {
  const raw = (opts.provider ?? '').trim() || 'local';
  if (raw !== 'local' && raw !== 'kubernetes') {
    throw new ConfigurationError(`${label('provider')} must be "local" or "kubernetes", got "${raw}"`);
  }
  return raw;
}

/**
 * The kubernetes provider's settings, or null with the local provider (then any kubernetes-*
 * flag is a mistake worth saying).
 */
export function loadKubernetesConfig(
  opts: Record<string, string | undefined>,
  parse: { durationMs: (raw: string) => number | null; maxUsedSpaceBytes: number },
): KubernetesConfig | null {
  const get = (name: string): string | undefined => opts[name]?.trim() || undefined;
  if (loadProviderName(opts) !== 'kubernetes') {
    const stray = KUBERNETES_OPTIONS.filter((o) => o.name !== 'provider' && get(o.name) !== undefined);
    if (stray.length) {
      throw new ConfigurationError(
        `${stray.map((o) => label(o.name)).join(', ')} only apply with --provider kubernetes; add --provider kubernetes or remove them`,
      );
    }
    return null;
  }
  const namespace = get('kubernetes-namespace');
  if (namespace !== undefined && !DNS_1123_LABEL.test(namespace)) {
    throw new ConfigurationError(
      `${label('kubernetes-namespace')} must be a namespace name (lower-case letters, digits and "-", at most 63), got "${namespace}"`,
    );
  }
  const instance = get('kubernetes-instance') ?? 'hoist';
  if (!/^[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?$/.test(instance)) {
    throw new ConfigurationError(
      `${label('kubernetes-instance')} must be a label value (letters, digits, "-", "_", ".", at most 63), got "${instance}"`,
    );
  }
  const image = get('kubernetes-image') ?? DEFAULT_KUBERNETES_IMAGE;
  if (/\s/.test(image) || !/^[A-Za-z0-9]/.test(image)) {
    throw new ConfigurationError(
      `${label('kubernetes-image')} must be an image reference such as ${DEFAULT_KUBERNETES_IMAGE}, got "${image}"`,
    );
  }
  const pull = get('kubernetes-image-pull-policy') ?? 'IfNotPresent';
  if (pull !== 'IfNotPresent' && pull !== 'Always' && pull !== 'Never') {
    throw new ConfigurationError(
      `${label('kubernetes-image-pull-policy')} must be IfNotPresent, Always or Never, got "${pull}"`,
    );
  }
  const storageClass = get('kubernetes-storage-class');
  if (storageClass !== undefined && !DNS_1123_SUBDOMAIN.test(storageClass)) {
    throw new ConfigurationError(
      `${label('kubernetes-storage-class')} must be a StorageClass name, got "${storageClass}"`,
    );
  }
  const defaultSize = `${Math.max(1, Math.ceil((2 * parse.maxUsedSpaceBytes) / 1024 ** 3))}Gi`;
  const volumeSize = get('kubernetes-volume-size') ?? defaultSize;
  if (!isByteQuantity(volumeSize)) {
    throw new ConfigurationError(
      `${label('kubernetes-volume-size')} must be a size such as 20Gi or 500Mi, got "${volumeSize}"`,
    );
  }
  const resources = parseResources(get('kubernetes-resources') ?? DEFAULT_KUBERNETES_RESOURCES);
  if (typeof resources === 'string')
    throw new ConfigurationError(`${label('kubernetes-resources')} ${resources}`);
  const security = get('kubernetes-security') ?? 'privileged';
  if (security !== 'privileged' && security !== 'rootless') {
    throw new ConfigurationError(
      `${label('kubernetes-security')} must be "privileged" or "rootless", got "${security}"`,
    );
  }
  const nodeSelector = parseNodeSelector(get('kubernetes-node-selector') ?? '');
  if (typeof nodeSelector === 'string')
    throw new ConfigurationError(`${label('kubernetes-node-selector')} ${nodeSelector}`);
  const cloneMode = (get('kubernetes-clone-mode') ?? 'copy-pod') as KubernetesCloneMode;
  if (!CLONE_MODES.includes(cloneMode)) {
    throw new ConfigurationError(
      `${label('kubernetes-clone-mode')} must be one of ${CLONE_MODES.join(', ')}, got "${cloneMode}"`,
    );
  }
  const snapshotClass = get('kubernetes-snapshot-class');
  if (snapshotClass !== undefined && cloneMode !== 'csi-snapshot') {
    throw new ConfigurationError(
      `${label('kubernetes-snapshot-class')} only applies with --kubernetes-clone-mode csi-snapshot`,
    );
  }
  const all = [
    'linux/amd64',
    'linux/arm64',
    'linux/arm/v7',
    'linux/riscv64',
    'linux/ppc64le',
    'linux/s390x',
    'linux/386',
  ];
  const platforms: string[] = [];
  for (const raw of (get('kubernetes-platforms') ?? nativePlatform())
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)) {
    const p = parsePlatform(raw, all);
    if (!p.ok) throw new ConfigurationError(`${label('kubernetes-platforms')}: ${p.message}`);
    if (!platforms.includes(p.platform)) platforms.push(p.platform);
  }
  const rawTimeout = get('kubernetes-ready-timeout');
  const readyTimeoutMs = rawTimeout === undefined ? 180_000 : parse.durationMs(rawTimeout);
  if (readyTimeoutMs === null || readyTimeoutMs < 5000) {
    throw new ConfigurationError(
      `${label('kubernetes-ready-timeout')} must be a duration of at least 5s such as 180s or 5m, got "${rawTimeout}"`,
    );
  }
  const runNetwork = loadRunNetwork(get, security);
  return {
    kubeconfig: get('kubeconfig'),
    namespace,
    instance,
    image,
    imagePullPolicy: pull,
    storageClass,
    volumeSize,
    resources,
    security,
    nodeSelector,
    cloneMode,
    snapshotClass,
    platforms,
    readyTimeoutMs,
    runNetwork,
  };
}

function loadRunNetwork(
  get: (name: string) => string | undefined,
  security: KubernetesSecurity,
): Omit<RunNetworkSettings, 'dns'> {
  const raw = get('kubernetes-run-network');
  if (raw !== undefined && raw !== 'isolated' && raw !== 'pod') {
    throw new ConfigurationError(
      `${label('kubernetes-run-network')} must be "isolated" or "pod", got "${raw}"`,
    );
  }
  if (raw === 'isolated' && security === 'rootless') {
    throw new ConfigurationError(
      `${label('kubernetes-run-network')} isolated needs privileged builder pods (it sets up a bridge and a firewall in the pod); rootless BuildKit runs RUN steps in the pod's network: use --kubernetes-run-network pod, or --kubernetes-security privileged`,
    );
  }
  const mode = raw ?? (security === 'rootless' ? 'pod' : 'isolated');
  const lists: Record<string, string[]> = {};
  for (const name of ['kubernetes-run-allow', 'kubernetes-run-deny', 'kubernetes-run-subnet']) {
    if (mode === 'pod' && get(name) !== undefined) {
      throw new ConfigurationError(
        `${label(name)} only applies with --kubernetes-run-network isolated (RUN steps share the pod's network in "pod" mode); remove it, or use isolated`,
      );
    }
    if (name === 'kubernetes-run-subnet') continue;
    const parsed = parseCidrList(get(name) ?? '');
    if (!Array.isArray(parsed)) {
      throw new ConfigurationError(`${label(name)} takes IPv4 CIDRs separated by commas: ${parsed.error}`);
    }
    lists[name] = parsed;
  }
  const subnet = parseRunSubnet(get('kubernetes-run-subnet') ?? DEFAULT_RUN_SUBNET);
  if ('error' in subnet) throw new ConfigurationError(`${label('kubernetes-run-subnet')} ${subnet.error}`);
  return {
    mode,
    subnet: subnet.cidr,
    allow: lists['kubernetes-run-allow']!,
    deny: [
      ...DEFAULT_RUN_DENY,
      ...lists['kubernetes-run-deny']!.filter((c) => !DEFAULT_RUN_DENY.includes(c)),
    ],
  };
}
