// The `kubernetes` provider: every builder is a pod running the pinned buildkitd with its root
// on a PersistentVolumeClaim, in one namespace, and Hoist is the controller (no operator, no
// StatefulSet, no buildx kubernetes driver). Per builder:
//   - a Secret `<name>-tls`: the builder's own CA (its key is never mounted), its server
//     certificate and key, and buildkitd.toml;
//   - a PVC `<name>-root`: the cache, kept when the builder stops;
//   - a Pod `<name>`: buildkitd on TCP with mutual TLS under the builder's CA.
// Each object carries the labels managed-by/instance/project/platform/role/builder-id, so a
// restarted control plane adopts what it finds and never touches objects it did not make.
// Clients reach builders only through the server's gateway (./gateway.ts): one port, routed
// on the TLS server name, every connection checked with the control plane, then piped over a
// second mutual-TLS connection to the pod. No builder is exposed on its own.
import * as fs from 'node:fs';
import { X509Certificate } from 'node:crypto';
import * as k8s from '@kubernetes/client-node';
import type { V1PersistentVolumeClaim, V1Pod, V1Secret } from '@kubernetes/client-node';
import { ConfigurationError, errorMessage } from '../lib/errors.js';
import { createCa, issueClientCert, issueServerCert, renewClientCert, type CertKeyPem } from '../lib/pki.js';
import { probeTls } from './buildkitd-probe.js';
import { PodWatch } from './kubernetes-pod-watch.js';
import {
  BuilderGateway,
  type ConnectionAuthorizer,
  type GatewayRoute,
  type OpenConnection,
} from './gateway.js';
import {
  DEFAULT_RETRY,
  podFailure,
  podRunning,
  statusOf,
  toProvisionError,
  withRetry,
  type RetryOptions,
} from './kubernetes-errors.js';
import {
  ANNOTATIONS,
  BUILDKITD_PORT,
  LABELS,
  builderPod,
  builderPvc,
  builderSecret,
  cloneDataSource,
  copyPod,
  identityOf,
  isOwned,
  labelValue,
  names,
  nodeArch,
  objectNameFromServerName,
  ownedSelector,
  ownerReferenceTo,
  podSpecHash,
  runNetworkOf,
  secretContents,
  snapshotObjectName,
  snapshotPvc,
  volumeSnapshot,
  type BuilderIdentity,
  type KubernetesSettings,
  type SecretContents,
  type VolumeSnapshotObject,
} from './kubernetes-manifests.js';
import { renderBuildkitdConfig } from './buildkitd-config.js';
import {
  DEFAULT_MAX_USED_SPACE_BYTES,
  gatewayHosts,
  nullLogger,
  type BuildkitdProviderOptions,
  type ProviderLogger,
} from './provider-options.js';
import { POD_MODE_WARNING, podCniPaths } from './kubernetes-network.js';
import {
  ProvisionError,
  type BuilderHealth,
  type BuilderSpec,
  type LaunchResult,
  type ListedBuilder,
  type Provider,
  type ProviderCapabilities,
  type RunningBuilder,
  type SnapshotInfo,
} from './provider.js';

export interface KubernetesProviderOptions extends BuildkitdProviderOptions {
  settings: KubernetesSettings;
  /** A kubeconfig file; undefined = the in-cluster service account, else KUBECONFIG / ~/.kube/config. */
  kubeconfig?: string;
  /** Platforms builders may be asked for (nodes of each architecture must exist). */
  platforms: string[];
  /** Host clients dial (the Service's address when the server runs in the cluster). */
  advertiseHost?: string;
  /** How long a pod may take from creation to buildkitd answering TLS (image pull included). Default 180 s. */
  readyTimeoutMs?: number;
  /** How long a copy pod may take. Default 30 min. */
  copyTimeoutMs?: number;
  retry?: Partial<Omit<RetryOptions, 'sleep'>>;
}

const POLL_MS = 250;
const SNAPSHOT_GROUP = { group: 'snapshot.storage.k8s.io', version: 'v1', plural: 'volumesnapshots' };
/** The gateway's own client certificate per builder: renewed when less than this is left. */
const GATEWAY_CERT_LIFE_MS = 30 * 86_400_000;
const GATEWAY_CERT_RENEW_MS = 7 * 86_400_000;
const IN_CLUSTER_NS = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface BuilderKeys {
  secret: SecretContents;
  /** The gateway's client certificate for the pod's buildkitd. */
  gateway: CertKeyPem & { notAfter: number };
}

/** Loads the cluster credentials: a kubeconfig file, the in-cluster service account, or the default. */
export function loadKubeConfig(
  file: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  try {
    if (file) kc.loadFromFile(file);
    else if (env.KUBERNETES_SERVICE_HOST) kc.loadFromCluster();
    else kc.loadFromDefault();
  } catch (err) {
    throw new ConfigurationError(
      `cannot load the Kubernetes credentials${file ? ` from ${file}` : ''} (${errorMessage(err)}); pass --kubeconfig FILE, or run the server in the cluster with a service account`,
    );
  }
  if (!kc.getCurrentCluster()) {
    throw new ConfigurationError(
      `no Kubernetes cluster is configured${file ? ` in ${file}` : ' (no --kubeconfig, no KUBECONFIG, not in a cluster)'}; pass --kubeconfig FILE`,
    );
  }
  return kc;
}

/** The namespace: the setting, else the service account's, else the kubeconfig context's, else "default". */
export function resolveNamespace(setting: string | undefined, kc: k8s.KubeConfig): string {
  if (setting) return setting;
  try {
    const ns = fs.readFileSync(IN_CLUSTER_NS, 'utf8').trim();
    if (ns) return ns;
  } catch {
    /* not in a cluster */
  }
  const ctx = kc.getContextObject(kc.getCurrentContext());
  return ctx?.namespace || 'default';
}

export class KubernetesProvider implements Provider {
  readonly name = 'kubernetes';
  private readonly core: k8s.CoreV1Api;
  private readonly custom: k8s.CustomObjectsApi;
  private readonly s: KubernetesSettings;
  private readonly log: ProviderLogger;
  private readonly launching = new Map<string, Promise<RunningBuilder>>();
  private readonly keys = new Map<string, BuilderKeys>();
  /** uid of the pod each builder is routed to: what the pod watch's evidence must be about. */
  private readonly podUids = new Map<string, string>();
  /** Set by create(): the builder pods as the API server last said they are. */
  private watch: PodWatch | null = null;
  private readonly retry: RetryOptions;
  private readonly readyTimeoutMs: number;
  private readonly copyTimeoutMs: number;
  private gateway!: BuilderGateway;
  private closed = false;

  private constructor(
    kc: k8s.KubeConfig,
    private readonly opts: KubernetesProviderOptions,
  ) {
    this.core = kc.makeApiClient(k8s.CoreV1Api);
    this.custom = kc.makeApiClient(k8s.CustomObjectsApi);
    this.s = opts.settings;
    this.log = opts.logger ?? nullLogger;
    this.retry = { ...DEFAULT_RETRY, ...opts.retry, sleep };
    this.readyTimeoutMs = opts.readyTimeoutMs ?? 180_000;
    this.copyTimeoutMs = opts.copyTimeoutMs ?? 30 * 60_000;
  }

  static async create(opts: KubernetesProviderOptions): Promise<KubernetesProvider> {
    const kc = loadKubeConfig(opts.kubeconfig);
    const settings = { ...opts.settings, namespace: resolveNamespace(opts.settings.namespace, kc) };
    const p = new KubernetesProvider(kc, { ...opts, settings });
    // One call that needs the credentials, the namespace and the RBAC to list pods.
    try {
      await p.call('list pods', () =>
        p.core.listNamespacedPod({ namespace: settings.namespace, labelSelector: p.selector(), limit: 1 }),
      );
    } catch (err) {
      throw new ConfigurationError(
        `the kubernetes provider cannot use namespace "${settings.namespace}": ${errorMessage(err)}`,
      );
    }
    const { listenHost, advertiseHost } = gatewayHosts(opts);
    try {
      p.gateway = await BuilderGateway.listen({
        host: listenHost,
        port: opts.gatewayPort ?? 0,
        advertiseHost,
        advertisePort: opts.advertisePort,
        logger: p.log,
      });
    } catch (err) {
      throw new ConfigurationError(
        `the builders' gateway cannot listen on ${listenHost}:${opts.gatewayPort ?? 0} (${errorMessage(err)}); pick another --builder-gateway-port or --builder-listen-host`,
      );
    }
    // Builders another replica launched are routed by looking their pod up.
    p.gateway.setResolver((name) => p.resolveRoute(name));
    // One watch of the builder pods instead of a read per health check; when it cannot run
    // (no "watch" in the RBAC, the API server away) health checks read each pod, as before.
    p.watch = new PodWatch(kc, p.core, settings.namespace, p.selector(`${LABELS.component}=builder`), p.log);
    await p.watch.start();
    p.log.info(
      {
        namespace: settings.namespace,
        instance: settings.instance,
        image: settings.image,
        storage_class: settings.storageClass ?? '(cluster default)',
        clone_mode: settings.cloneMode,
        security: settings.security,
        run_network: runNetworkOf(settings).mode,
        gateway: p.gateway.endpoint,
      },
      'kubernetes provider ready',
    );
    if (runNetworkOf(settings).mode === 'pod') p.log.warn({ run_network: 'pod' }, POD_MODE_WARNING);
    return p;
  }

  get namespace(): string {
    return this.s.namespace;
  }

  get gatewayEndpoint(): string {
    return this.gateway.endpoint;
  }

  get settings(): KubernetesSettings {
    return this.s;
  }

  platforms(): string[] {
    return this.opts.platforms;
  }

  capabilities(): ProviderCapabilities {
    // The API has no batch create: a batch is that many launches at once. The API server's own
    // priority and fairness throttles with 429s, which every call retries and reports typed.
    return { cloneMethod: this.s.cloneMode, maxBatchSize: 16 };
  }

  authorizeConnections(fn: ConnectionAuthorizer): void {
    this.gateway.setAuthorizer(fn);
  }

  closeConnections(owners: string[]): number {
    return this.gateway.closeOwners(owners);
  }

  closeSerials(serials: string[]): number {
    return this.gateway.closeSerials(serials);
  }

  openConnections(): OpenConnection[] {
    return this.gateway.connections();
  }

  // ---- API plumbing ----

  private selector(extra = ''): string {
    return `${ownedSelector(this.s.instance)}${extra ? `,${extra}` : ''}`;
  }

  private call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    return withRetry(what, fn, this.retry);
  }

  /** The object, or null when the API answers 404. */
  private async getOrNull<T>(what: string, fn: () => Promise<T>): Promise<T | null> {
    try {
      return await this.call(what, fn);
    } catch (err) {
      if (statusOf((err as { cause?: unknown }).cause) === 404) return null;
      throw err;
    }
  }

  /** Deletes; a 404 (already gone) is success. */
  private async deleteIgnoringMissing(what: string, fn: () => Promise<unknown>): Promise<void> {
    try {
      await this.call(what, fn);
    } catch (err) {
      if (statusOf((err as { cause?: unknown }).cause) !== 404) throw err;
    }
  }

  private readPod(name: string): Promise<V1Pod | null> {
    return this.getOrNull(`read pod ${name}`, () =>
      this.core.readNamespacedPod({ name, namespace: this.s.namespace }),
    );
  }

  private readPvc(name: string): Promise<V1PersistentVolumeClaim | null> {
    return this.getOrNull(`read persistentvolumeclaim ${name}`, () =>
      this.core.readNamespacedPersistentVolumeClaim({ name, namespace: this.s.namespace }),
    );
  }

  private readSecret(name: string): Promise<V1Secret | null> {
    return this.getOrNull(`read secret ${name}`, () =>
      this.core.readNamespacedSecret({ name, namespace: this.s.namespace }),
    );
  }

  /** Creates; when it already exists (another replica, an earlier try) reads it instead. */
  private async createOrRead<T>(
    what: string,
    create: () => Promise<T>,
    read: () => Promise<T | null>,
  ): Promise<T> {
    try {
      return await this.call(`create ${what}`, create);
    } catch (err) {
      if (statusOf((err as { cause?: unknown }).cause) !== 409) throw err;
      const found = await read();
      if (!found) throw err;
      return found;
    }
  }

  // ---- keys ----

  private config(spec: { maxUsedSpaceBytes?: number }): string {
    return renderBuildkitdConfig({
      maxUsedSpaceBytes:
        spec.maxUsedSpaceBytes ?? this.opts.maxUsedSpaceBytes ?? DEFAULT_MAX_USED_SPACE_BYTES,
      insecureRegistries: this.opts.insecureRegistries ?? [],
      dns: this.opts.dns,
      cni: podCniPaths(runNetworkOf(this.s)),
    });
  }

  /** The builder's Secret: made with a new CA on first launch; its config refreshed when settings changed. */
  private async ensureSecret(b: BuilderIdentity, config: string): Promise<SecretContents> {
    const n = names(b.id);
    const found = await this.readSecret(n.secret);
    if (found && !isOwned(found.metadata, this.s.instance)) {
      throw new ProvisionError(
        'permanent',
        `secret ${n.secret} exists in namespace ${this.s.namespace} but Hoist did not make it (no ${LABELS.managedBy}=hoist label); remove it or pick another namespace`,
      );
    }
    const have = found ? secretContents(found) : null;
    if (have && have.config === config && serverCertFresh(have, n.serverName)) return have;
    let contents: SecretContents;
    if (have) {
      const ca = { certPem: have.caPem, keyPem: have.caKeyPem };
      const server = serverCertFresh(have, n.serverName)
        ? { certPem: have.certPem, keyPem: have.keyPem }
        : await issueServerCert(ca, { commonName: n.serverName, dnsNames: [n.serverName] });
      contents = { ...have, certPem: server.certPem, keyPem: server.keyPem, config };
      const body = builderSecret(this.s, b, contents);
      body.metadata!.resourceVersion = found!.metadata?.resourceVersion;
      body.metadata!.ownerReferences = found!.metadata?.ownerReferences;
      await this.call(`replace secret ${n.secret}`, () =>
        this.core.replaceNamespacedSecret({ name: n.secret, namespace: this.s.namespace, body }),
      );
    } else {
      const ca = await createCa({ commonName: `hoist builder ${b.id} CA` });
      const server = await issueServerCert(ca, { commonName: n.serverName, dnsNames: [n.serverName] });
      contents = {
        caPem: ca.certPem,
        caKeyPem: ca.keyPem,
        certPem: server.certPem,
        keyPem: server.keyPem,
        config,
      };
      const created = await this.createOrRead(
        `secret ${n.secret}`,
        () =>
          this.core.createNamespacedSecret({
            namespace: this.s.namespace,
            body: builderSecret(this.s, b, contents),
          }),
        () => this.readSecret(n.secret),
      );
      // Another replica made it first: its CA is the builder's CA.
      contents = secretContents(created) ?? contents;
    }
    this.keys.delete(b.id);
    return contents;
  }

  /** The builder's CA and the gateway's client certificate for it, from memory or its Secret. */
  private async builderKeys(id: string): Promise<BuilderKeys | null> {
    const cached = this.keys.get(id);
    if (cached && cached.gateway.notAfter - Date.now() > GATEWAY_CERT_RENEW_MS) return cached;
    const secret = cached?.secret ?? (await this.loadSecret(id));
    if (!secret) return null;
    const notAfter = Date.now() + GATEWAY_CERT_LIFE_MS;
    const cert = await issueClientCert(
      { certPem: secret.caPem, keyPem: secret.caKeyPem },
      { commonName: 'hoist gateway', notAfter: new Date(notAfter) },
    );
    const keys = { secret, gateway: { ...cert, notAfter } };
    this.keys.set(id, keys);
    return keys;
  }

  private async loadSecret(id: string): Promise<SecretContents | null> {
    const found = await this.readSecret(names(id).secret);
    if (!found || !isOwned(found.metadata, this.s.instance)) return null;
    return secretContents(found);
  }

  async issueClientCert(
    id: string,
    opts: { commonName: string; organization?: string; notAfter: Date },
  ): Promise<CertKeyPem> {
    const keys = await this.builderKeys(id);
    if (!keys) throw new Error(`builder ${id} has no CA yet; launch it first`);
    return issueClientCert({ certPem: keys.secret.caPem, keyPem: keys.secret.caKeyPem }, opts);
  }

  async renewClientCert(id: string, opts: { certPem: string; notAfter: Date }): Promise<string> {
    const keys = await this.builderKeys(id);
    if (!keys) throw new Error(`builder ${id} has no CA; it cannot renew a certificate`);
    return renewClientCert({ certPem: keys.secret.caPem, keyPem: keys.secret.caKeyPem }, opts);
  }

  // ---- launch ----

  launch(spec: BuilderSpec): Promise<RunningBuilder> {
    const pending = this.launching.get(spec.id);
    if (pending) return pending;
    const p = this.doLaunch(spec).finally(() => this.launching.delete(spec.id));
    this.launching.set(spec.id, p);
    return p;
  }

  async launchBatch(specs: BuilderSpec[]): Promise<LaunchResult[]> {
    return Promise.all(
      specs.map(async (spec): Promise<LaunchResult> => {
        try {
          return { ok: true, builder: await this.launch(spec) };
        } catch (err) {
          return { ok: false, error: toProvisionError(err, `launch builder ${spec.id}`) };
        }
      }),
    );
  }

  private async doLaunch(spec: BuilderSpec): Promise<RunningBuilder> {
    if (this.closed) throw new ProvisionError('transient', 'the kubernetes provider is closing');
    const b: BuilderIdentity = {
      id: spec.id,
      projectId: spec.projectId,
      platform: spec.platform,
      role: spec.role ?? 'primary',
      snapshotId: spec.snapshotId,
    };
    if (b.role === 'clone' && !b.snapshotId) {
      throw new ProvisionError('permanent', `clone ${b.id} has no snapshot to start from`);
    }
    if (b.role === 'clone' && this.s.cloneMode === 'none') {
      throw new ProvisionError(
        'permanent',
        'clones are off (--kubernetes-clone-mode none); builds share the primary instead',
      );
    }
    const n = names(b.id);
    const started = Date.now();
    const config = this.config(spec);
    const hash = podSpecHash(this.s, b, config);

    // The pod first: whether it is adopted or replaced decides what happens to a clone's volume.
    let pod = await this.readPod(n.pod);
    let adopted = false;
    if (pod && !isOwned(pod.metadata, this.s.instance)) {
      throw new ProvisionError(
        'permanent',
        `pod ${n.pod} exists in namespace ${this.s.namespace} but Hoist did not make it; remove it or pick another namespace`,
      );
    }
    const replace =
      pod !== null &&
      (pod.metadata?.deletionTimestamp !== undefined ||
        pod.metadata?.annotations?.[ANNOTATIONS.specHash] !== hash ||
        pod.status?.phase === 'Failed' ||
        pod.status?.phase === 'Succeeded');
    if (b.role === 'clone' && (pod === null || replace)) {
      // A clone's volume and keys belong to its pod: with the pod gone they are being collected.
      // It starts over from the snapshot.
      await this.destroy(b.id);
      await this.waitGone(`persistentvolumeclaim ${n.pvc}`, () => this.readPvc(n.pvc), 120_000);
      await this.waitGone(`secret ${n.secret}`, () => this.readSecret(n.secret), 60_000);
      pod = null;
    } else if (pod && replace) {
      if (!pod.metadata?.deletionTimestamp) {
        this.log.info(
          { builder_id: b.id, pod: n.pod },
          'replacing builder pod (settings changed or it ended)',
        );
      }
      await this.deletePodAndWait(n.pod);
      pod = null;
    } else if (pod) {
      adopted = podRunning(pod);
    }
    const secret = await this.ensureSecret(b, config);
    const pvc = await this.ensureVolume(b);
    if (!pod) {
      pod = await this.createOrRead(
        `pod ${n.pod}`,
        () =>
          this.core.createNamespacedPod({ namespace: this.s.namespace, body: builderPod(this.s, b, config) }),
        () => this.readPod(n.pod),
      );
    }
    try {
      if (b.role === 'clone') await this.ownByPod(b, pod, pvc);
      pod = await this.waitReady(b.id, secret);
    } catch (err) {
      // Nothing is left running; a clone's volume goes with it, a primary's stays.
      await this.deletePodAndWait(n.pod).catch(() => undefined);
      if (b.role === 'clone') await this.destroyVolumes(b.id).catch(() => undefined);
      this.keys.delete(b.id);
      const e = toProvisionError(err, `launch builder ${b.id}`);
      this.log.error({ builder_id: b.id, kind: e.kind, err: e.message }, 'builder pod did not start');
      throw e;
    }
    const route = await this.routeFor(b.id, pod);
    if (!route) throw new ProvisionError('transient', `builder ${b.id} lost its pod while starting`);
    this.gateway.setRoute(route);
    this.trackPod(b.id, pod);
    this.log.info(
      {
        builder_id: b.id,
        role: b.role,
        pod: n.pod,
        pod_ip: pod.status?.podIP,
        node: pod.spec?.nodeName,
        adopted,
        ms: Date.now() - started,
      },
      adopted ? 'adopted running builder pod' : 'builder pod started',
    );
    return {
      id: b.id,
      endpoint: this.gateway.endpoint,
      serverName: n.serverName,
      caPem: secret.caPem,
      pid: null,
      startedAt: pod.status?.startTime ? new Date(pod.status.startTime) : new Date(),
      adopted,
    };
  }

  /** The builder's PVC: kept for a primary; made from the snapshot for a clone. */
  private async ensureVolume(b: BuilderIdentity): Promise<V1PersistentVolumeClaim> {
    const n = names(b.id);
    const found = await this.readPvc(n.pvc);
    if (found) {
      if (!isOwned(found.metadata, this.s.instance)) {
        throw new ProvisionError(
          'permanent',
          `persistentvolumeclaim ${n.pvc} exists in namespace ${this.s.namespace} but Hoist did not make it; remove it or pick another namespace`,
        );
      }
      if (!found.metadata?.deletionTimestamp) return found;
      await this.waitGone(`persistentvolumeclaim ${n.pvc}`, () => this.readPvc(n.pvc), 60_000);
    }
    if (b.role === 'primary') {
      return this.createOrRead(
        `persistentvolumeclaim ${n.pvc}`,
        () =>
          this.core.createNamespacedPersistentVolumeClaim({
            namespace: this.s.namespace,
            body: builderPvc(this.s, b),
          }),
        () => this.readPvc(n.pvc),
      );
    }
    return this.makeCloneVolume(b);
  }

  private async makeCloneVolume(b: BuilderIdentity): Promise<V1PersistentVolumeClaim> {
    const n = names(b.id);
    const snapName = snapshotObjectName(b.snapshotId!);
    const source = await this.snapshotSource(b.snapshotId!);
    if (!source) {
      throw new ProvisionError(
        'permanent',
        `snapshot ${b.snapshotId} does not exist (deleted, or taken by another Hoist installation); take a new one`,
      );
    }
    const dataSourceRef = cloneDataSource(this.s.cloneMode, b.snapshotId!);
    const body = builderPvc(this.s, b, { size: source.size, dataSourceRef });
    if (source.storageClass) body.spec!.storageClassName = source.storageClass;
    const pvc = await this.createOrRead(
      `persistentvolumeclaim ${n.pvc}`,
      () => this.core.createNamespacedPersistentVolumeClaim({ namespace: this.s.namespace, body }),
      () => this.readPvc(n.pvc),
    );
    if (this.s.cloneMode === 'copy-pod') {
      // The snapshot's volume is never a live daemon's: clones copy from it at any time.
      const started = Date.now();
      try {
        await this.runCopy(n.copyPod, snapName, n.pvc, nodeArch(b.platform), {
          [LABELS.builderId]: pvc.metadata!.labels![LABELS.builderId]!,
          [LABELS.role]: 'clone',
        });
      } catch (err) {
        await this.deleteIgnoringMissing(`delete persistentvolumeclaim ${n.pvc}`, () =>
          this.core.deleteNamespacedPersistentVolumeClaim({ name: n.pvc, namespace: this.s.namespace }),
        );
        throw err;
      }
      this.log.info(
        { builder_id: b.id, snapshot_id: b.snapshotId, ms: Date.now() - started },
        'clone volume copied from its snapshot',
      );
    }
    return pvc;
  }

  /** Size and class of a snapshot, to size a clone's volume; null when it does not exist. */
  private async snapshotSource(snapshotId: string): Promise<{ size: string; storageClass?: string } | null> {
    const name = snapshotObjectName(snapshotId);
    if (this.s.cloneMode === 'csi-snapshot') {
      const vs = await this.readVolumeSnapshot(name);
      if (!vs || !isOwned(vs.metadata, this.s.instance)) return null;
      return { size: vs.status?.restoreSize ?? this.s.volumeSize };
    }
    const pvc = await this.readPvc(name);
    if (!pvc || !isOwned(pvc.metadata, this.s.instance)) return null;
    return {
      size: pvc.spec?.resources?.requests?.storage ?? this.s.volumeSize,
      storageClass: pvc.spec?.storageClassName,
    };
  }

  /** A clone's PVC and Secret belong to its pod: deleting the pod deletes them (garbage collector). */
  private async ownByPod(b: BuilderIdentity, pod: V1Pod, pvc: V1PersistentVolumeClaim): Promise<void> {
    const n = names(b.id);
    const ref = ownerReferenceTo(pod);
    const patch = [{ op: 'add', path: '/metadata/ownerReferences', value: [ref] }];
    if (pvc.metadata?.ownerReferences?.[0]?.uid !== ref.uid) {
      await this.call(`patch persistentvolumeclaim ${n.pvc}`, () =>
        this.core.patchNamespacedPersistentVolumeClaim({
          name: n.pvc,
          namespace: this.s.namespace,
          body: patch,
        }),
      );
    }
    await this.call(`patch secret ${n.secret}`, () =>
      this.core.patchNamespacedSecret({ name: n.secret, namespace: this.s.namespace, body: patch }),
    );
  }

  /** Waits for the pod to run and its buildkitd to answer TLS; fails early when it cannot. */
  private async waitReady(id: string, secret: SecretContents): Promise<V1Pod> {
    const { pod: name, serverName } = names(id);
    const deadline = Date.now() + this.readyTimeoutMs;
    let last = 'the pod was not scheduled';
    for (;;) {
      if (this.closed) throw new ProvisionError('transient', 'the kubernetes provider is closing');
      const pod = await this.readPod(name);
      if (!pod) throw new ProvisionError('transient', `pod ${name} was deleted while starting`);
      const failure = podFailure(pod);
      if (failure) throw new ProvisionError(failure.kind, failure.message);
      if (podRunning(pod)) {
        const client = await this.gatewayCertFor(id, secret);
        const h = await probeTls(pod.status!.podIP!, BUILDKITD_PORT, secret, client, serverName);
        if (h.healthy) return pod;
        last = h.reason;
      } else {
        last = `pod is ${pod.status?.phase ?? 'Pending'}${podWaiting(pod)}`;
      }
      if (Date.now() > deadline) {
        throw new ProvisionError(
          'transient',
          `builder pod ${name} was not ready after ${Math.round(this.readyTimeoutMs / 1000)} s (${last})`,
        );
      }
      await sleep(POLL_MS);
    }
  }

  /** The gateway's client certificate for this builder, issued under the CA just read. */
  private async gatewayCertFor(id: string, secret: SecretContents): Promise<CertKeyPem> {
    const cached = this.keys.get(id);
    if (!cached || cached.secret.caPem !== secret.caPem) {
      // An expired placeholder: builderKeys() issues a certificate from this secret.
      this.keys.set(id, { secret, gateway: { certPem: '', keyPem: '', notAfter: 0 } });
    }
    return (await this.builderKeys(id))!.gateway;
  }

  /** The gateway's route to a builder's pod. */
  private async routeFor(id: string, pod: V1Pod): Promise<GatewayRoute | null> {
    const keys = await this.builderKeys(id);
    const ip = pod.status?.podIP;
    if (!keys || !ip) return null;
    const n = names(id);
    return {
      builderId: id,
      serverName: n.serverName,
      caPem: keys.secret.caPem,
      certPem: keys.secret.certPem,
      keyPem: keys.secret.keyPem,
      upstream: {
        host: ip,
        port: BUILDKITD_PORT,
        tls: {
          caPem: keys.secret.caPem,
          certPem: keys.gateway.certPem,
          keyPem: keys.gateway.keyPem,
          serverName: n.serverName,
        },
      },
    };
  }

  /** A route for a server name this replica has not launched: the pod it names, when running. */
  private async resolveRoute(serverName: string): Promise<GatewayRoute | null> {
    const objectName = objectNameFromServerName(serverName);
    if (!objectName) return null;
    const pod = await this.readPod(objectName);
    if (!pod || !isOwned(pod.metadata, this.s.instance) || !podRunning(pod)) return null;
    const id = identityOf(pod.metadata)?.id;
    if (!id || names(id).pod !== objectName) return null;
    this.trackPod(id, pod);
    return this.routeFor(id, pod);
  }

  /** The builder is routed to this pod: the watch's evidence counts for it (same uid) only. */
  private trackPod(id: string, pod: V1Pod): void {
    const uid = pod.metadata?.uid;
    if (uid) this.podUids.set(id, uid);
  }

  // ---- copy pods ----

  /** Runs a copy pod to completion and removes it; returns the bytes copied when it said. */
  private async runCopy(
    name: string,
    sourceClaim: string,
    targetClaim: string,
    arch: string,
    labels: Record<string, string>,
  ): Promise<number | null> {
    await this.deletePodAndWait(name);
    await this.call(`create pod ${name}`, () =>
      this.core.createNamespacedPod({
        namespace: this.s.namespace,
        body: copyPod(this.s, { name, labels, sourceClaim, targetClaim, arch }),
      }),
    );
    const deadline = Date.now() + this.copyTimeoutMs;
    try {
      for (;;) {
        const pod = await this.readPod(name);
        if (!pod) throw new ProvisionError('transient', `copy pod ${name} was deleted before it finished`);
        const cs = pod.status?.containerStatuses?.[0];
        if (pod.status?.phase === 'Succeeded') {
          const said = Number(cs?.state?.terminated?.message?.trim());
          return Number.isFinite(said) && said > 0 ? said : null;
        }
        if (pod.status?.phase === 'Failed') {
          const t = cs?.state?.terminated;
          throw new ProvisionError(
            'transient',
            `copy pod ${name} failed (exit code ${t?.exitCode ?? '?'}${t?.message ? `: ${t.message.slice(-300)}` : ''})`,
          );
        }
        const failure = podFailure(pod);
        if (failure) throw new ProvisionError(failure.kind, failure.message);
        if (Date.now() > deadline) {
          throw new ProvisionError(
            'transient',
            `copy pod ${name} did not finish within ${Math.round(this.copyTimeoutMs / 1000)} s`,
          );
        }
        await sleep(POLL_MS * 2);
      }
    } finally {
      await this.deletePodAndWait(name).catch((err: unknown) =>
        this.log.warn({ pod: name, err: errorMessage(err) }, 'could not delete copy pod'),
      );
    }
  }

  // ---- stop, destroy ----

  private async deletePodAndWait(name: string): Promise<void> {
    const pod = await this.readPod(name);
    if (!pod) return;
    if (!isOwned(pod.metadata, this.s.instance)) return;
    if (!pod.metadata?.deletionTimestamp) {
      await this.deleteIgnoringMissing(`delete pod ${name}`, () =>
        this.core.deleteNamespacedPod({ name, namespace: this.s.namespace }),
      );
    }
    const grace = (pod.spec?.terminationGracePeriodSeconds ?? 30) * 1000;
    await this.waitGone(`pod ${name}`, () => this.readPod(name), grace + 60_000, pod.metadata?.uid);
  }

  private async waitGone(
    what: string,
    read: () => Promise<{ metadata?: { uid?: string } } | null>,
    timeoutMs: number,
    uid?: string,
  ): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const o = await read();
      if (!o || (uid !== undefined && o.metadata?.uid !== uid)) return;
      if (Date.now() > deadline) {
        throw new ProvisionError(
          'transient',
          `${what} is still there ${Math.round(timeoutMs / 1000)} s after its deletion`,
        );
      }
      await sleep(POLL_MS);
    }
  }

  async stop(id: string): Promise<void> {
    this.gateway.removeRoute(id);
    this.podUids.delete(id);
    const n = names(id);
    const pod = await this.readPod(n.pod);
    if (!pod) return;
    await this.deletePodAndWait(n.pod);
    this.log.info({ builder_id: id, pod: n.pod }, 'builder pod deleted; volume kept');
  }

  private async destroyVolumes(id: string): Promise<void> {
    const n = names(id);
    const pvc = await this.readPvc(n.pvc);
    if (pvc && isOwned(pvc.metadata, this.s.instance)) {
      await this.deleteIgnoringMissing(`delete persistentvolumeclaim ${n.pvc}`, () =>
        this.core.deleteNamespacedPersistentVolumeClaim({ name: n.pvc, namespace: this.s.namespace }),
      );
    }
    const secret = await this.readSecret(n.secret);
    if (secret && isOwned(secret.metadata, this.s.instance)) {
      await this.deleteIgnoringMissing(`delete secret ${n.secret}`, () =>
        this.core.deleteNamespacedSecret({ name: n.secret, namespace: this.s.namespace }),
      );
    }
  }

  async destroy(id: string): Promise<void> {
    await this.stop(id);
    await this.deletePodAndWait(names(id).copyPod);
    await this.destroyVolumes(id);
    this.keys.delete(id);
    this.log.info({ builder_id: id }, 'builder destroyed (pod, volume and keys)');
  }

  // ---- list, health ----

  async list(): Promise<ListedBuilder[]> {
    const ns = this.s.namespace;
    const sel = this.selector(`${LABELS.component}=builder`);
    const [pods, pvcs] = await Promise.all([
      this.call('list pods', () => this.core.listNamespacedPod({ namespace: ns, labelSelector: sel })),
      this.call('list persistentvolumeclaims', () =>
        this.core.listNamespacedPersistentVolumeClaim({ namespace: ns, labelSelector: sel }),
      ),
    ]);
    await this.sweepCopyPods();
    const out = new Map<string, ListedBuilder>();
    for (const pvc of pvcs.items) {
      const b = identityOf(pvc.metadata);
      if (!b || !isOwned(pvc.metadata, this.s.instance)) continue;
      out.set(b.id, { id: b.id, role: b.role, state: 'stopped', pid: null, endpoint: null });
    }
    for (const pod of pods.items) {
      const b = identityOf(pod.metadata);
      if (!b || !isOwned(pod.metadata, this.s.instance)) continue;
      const running = podRunning(pod);
      out.set(b.id, {
        id: b.id,
        role: b.role,
        state: running ? 'running' : 'stopped',
        pid: null,
        endpoint: running ? this.gateway.endpoint : null,
      });
    }
    return [...out.values()];
  }

  /** Copy pods that ended, or that outlived any copy (their launcher died), are removed. */
  private async sweepCopyPods(): Promise<void> {
    const pods = await this.call('list copy pods', () =>
      this.core.listNamespacedPod({
        namespace: this.s.namespace,
        labelSelector: this.selector(`${LABELS.component}=copy`),
      }),
    );
    for (const pod of pods.items) {
      const age = Date.now() - new Date(pod.metadata?.creationTimestamp ?? Date.now()).getTime();
      const ended = pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed';
      if (!isOwned(pod.metadata, this.s.instance) || (!ended && age < this.copyTimeoutMs + 60_000)) continue;
      const name = pod.metadata!.name!;
      const inFlight = [...this.launching.keys()].some((id) => names(id).copyPod === name);
      if (inFlight) continue;
      await this.deleteIgnoringMissing(`delete pod ${name}`, () =>
        this.core.deleteNamespacedPod({ name, namespace: this.s.namespace }),
      );
      this.log.info({ pod: name }, 'removed a leftover copy pod');
    }
  }

  async health(id: string): Promise<BuilderHealth> {
    const n = names(id);
    // The watch's word on the pod the builder is routed to needs no request: being deleted or
    // not running is reported now, and a running one still has to answer the TLS probe below.
    const seen = this.watch?.lookup(n.pod, this.podUids.get(id)) ?? { kind: 'unknown' };
    let pod: V1Pod | null;
    if (seen.kind === 'present') {
      pod = seen.pod;
    } else {
      try {
        pod = await this.readPod(n.pod);
      } catch (err) {
        return { healthy: false, reason: errorMessage(err) };
      }
    }
    if (!pod) return { healthy: false, reason: `pod ${n.pod} does not exist` };
    if (!podRunning(pod)) {
      return {
        healthy: false,
        reason: `pod ${n.pod} is not running (${pod.status?.phase ?? 'unknown'}${podWaiting(pod)})`,
      };
    }
    const keys = await this.builderKeys(id);
    if (!keys) return { healthy: false, reason: `secret ${n.secret} is missing or incomplete` };
    const h = await probeTls(pod.status!.podIP!, BUILDKITD_PORT, keys.secret, keys.gateway, n.serverName);
    // The pod may have a new address (replaced by another replica): keep the gateway's route current.
    if (h.healthy) {
      const route = await this.routeFor(id, pod);
      if (route) this.gateway.setRoute(route);
      this.trackPod(id, pod);
    }
    return h;
  }

  // ---- snapshots ----

  async snapshot(builderId: string, snapshotId: string): Promise<SnapshotInfo> {
    if (this.s.cloneMode === 'none') {
      throw new ProvisionError(
        'permanent',
        'clones are off (--kubernetes-clone-mode none): no snapshots are taken',
      );
    }
    const n = names(builderId);
    const pvc = await this.readPvc(n.pvc);
    const b = identityOf(pvc?.metadata);
    if (!pvc || !b || !isOwned(pvc.metadata, this.s.instance)) {
      throw new ProvisionError('permanent', `builder ${builderId} has no volume to snapshot`);
    }
    if (b.role !== 'primary') {
      throw new ProvisionError(
        'permanent',
        `builder ${builderId} is a clone; only primaries are snapshotted`,
      );
    }
    const createdAt = new Date();
    const stoppedAt = Date.now();
    const snapName = snapshotObjectName(snapshotId);
    const size = pvc.spec?.resources?.requests?.storage ?? this.s.volumeSize;
    let sizeBytes: number | null = null;
    let failure: unknown = null;
    // Stopped cleanly first (SIGTERM, bolt files flushed): a copy never reads a live daemon.
    await this.stop(builderId);
    try {
      if (this.s.cloneMode === 'csi-snapshot') {
        await this.takeVolumeSnapshot(b, snapshotId, createdAt);
      } else {
        await this.createOrRead(
          `persistentvolumeclaim ${snapName}`,
          () =>
            this.core.createNamespacedPersistentVolumeClaim({
              namespace: this.s.namespace,
              body: snapshotPvc(this.s, b, snapshotId, createdAt, size, pvc.spec?.storageClassName),
            }),
          () => this.readPvc(snapName),
        );
        const labels = { [LABELS.snapshotId]: labelValue(snapshotId) };
        // copy-pod: the copy itself. pvc-clone: a pod that mounts the clone, so a class that binds
        // on first use clones now, while the primary is stopped, and not once it runs again.
        sizeBytes = await this.runCopy(
          `${snapName}-copy`.slice(0, 63),
          this.s.cloneMode === 'copy-pod' ? n.pvc : snapName,
          snapName,
          nodeArch(b.platform),
          labels,
        );
      }
    } catch (err) {
      failure = err;
    }
    // The primary runs again whatever happened to the copy (a new pod: new start time and address).
    const restarted = await this.launch({
      id: b.id,
      projectId: b.projectId,
      platform: b.platform,
      role: 'primary',
    });
    const downtimeMs = Date.now() - stoppedAt;
    if (failure) {
      await this.deleteSnapshot(snapshotId).catch(() => undefined);
      throw toProvisionError(failure, `snapshot builder ${builderId}`);
    }
    await this.annotateSnapshot(snapName, { [ANNOTATIONS.downtimeMs]: String(downtimeMs) });
    this.log.info(
      {
        builder_id: builderId,
        snapshot_id: snapshotId,
        method: this.s.cloneMode,
        downtime_ms: downtimeMs,
        bytes: sizeBytes,
      },
      'snapshot taken from the stopped primary',
    );
    return { id: snapshotId, builderId, createdAt, sizeBytes, downtimeMs, restarted };
  }

  private async takeVolumeSnapshot(b: BuilderIdentity, snapshotId: string, createdAt: Date): Promise<void> {
    const name = snapshotObjectName(snapshotId);
    const body = volumeSnapshot(this.s, b, snapshotId, createdAt);
    await this.createOrRead(
      `volumesnapshot ${name}`,
      () =>
        this.custom.createNamespacedCustomObject({ ...SNAPSHOT_GROUP, namespace: this.s.namespace, body }),
      () => this.readVolumeSnapshot(name),
    );
    const deadline = Date.now() + this.copyTimeoutMs;
    for (;;) {
      const vs = await this.readVolumeSnapshot(name);
      if (!vs) throw new ProvisionError('transient', `volumesnapshot ${name} disappeared`);
      if (vs.status?.readyToUse) return;
      if (vs.status?.error?.message) {
        throw new ProvisionError('transient', `volumesnapshot ${name} failed: ${vs.status.error.message}`);
      }
      if (Date.now() > deadline)
        throw new ProvisionError('transient', `volumesnapshot ${name} was not ready in time`);
      await sleep(POLL_MS * 2);
    }
  }

  private readVolumeSnapshot(name: string): Promise<VolumeSnapshotObject | null> {
    return this.getOrNull(
      `read volumesnapshot ${name}`,
      () =>
        this.custom.getNamespacedCustomObject({
          ...SNAPSHOT_GROUP,
          namespace: this.s.namespace,
          name,
        }) as Promise<VolumeSnapshotObject>,
    );
  }

  private async annotateSnapshot(name: string, annotations: Record<string, string>): Promise<void> {
    const body = Object.entries(annotations).map(([k, v]) => ({
      op: 'add',
      path: `/metadata/annotations/${k.replace(/~/g, '~0').replace(/\//g, '~1')}`,
      value: v,
    }));
    if (this.s.cloneMode === 'csi-snapshot') {
      await this.call(`patch volumesnapshot ${name}`, () =>
        this.custom.patchNamespacedCustomObject({
          ...SNAPSHOT_GROUP,
          namespace: this.s.namespace,
          name,
          body,
        }),
      );
    } else {
      await this.call(`patch persistentvolumeclaim ${name}`, () =>
        this.core.patchNamespacedPersistentVolumeClaim({ name, namespace: this.s.namespace, body }),
      );
    }
  }

  async deleteSnapshot(snapshotId: string): Promise<void> {
    const name = snapshotObjectName(snapshotId);
    const pvc = await this.readPvc(name);
    if (pvc && isOwned(pvc.metadata, this.s.instance)) {
      await this.deleteIgnoringMissing(`delete persistentvolumeclaim ${name}`, () =>
        this.core.deleteNamespacedPersistentVolumeClaim({ name, namespace: this.s.namespace }),
      );
    }
    if (this.s.cloneMode === 'csi-snapshot') {
      const vs = await this.readVolumeSnapshot(name);
      if (vs && isOwned(vs.metadata, this.s.instance)) {
        await this.deleteIgnoringMissing(`delete volumesnapshot ${name}`, () =>
          this.custom.deleteNamespacedCustomObject({ ...SNAPSHOT_GROUP, namespace: this.s.namespace, name }),
        );
      }
    }
  }

  async listSnapshots(): Promise<SnapshotInfo[]> {
    const sel = this.selector(`${LABELS.component}=snapshot`);
    const metas: { metadata?: k8s.V1ObjectMeta }[] = [];
    const pvcs = await this.call('list snapshot volumes', () =>
      this.core.listNamespacedPersistentVolumeClaim({ namespace: this.s.namespace, labelSelector: sel }),
    );
    metas.push(...pvcs.items);
    if (this.s.cloneMode === 'csi-snapshot') {
      const vss = (await this.call('list volumesnapshots', () =>
        this.custom.listNamespacedCustomObject({
          ...SNAPSHOT_GROUP,
          namespace: this.s.namespace,
          labelSelector: sel,
        }),
      )) as { items?: VolumeSnapshotObject[] };
      metas.push(...(vss.items ?? []));
    }
    const out: SnapshotInfo[] = [];
    for (const m of metas) {
      if (!isOwned(m.metadata, this.s.instance)) continue;
      const a = m.metadata?.annotations ?? {};
      const id = a[ANNOTATIONS.snapshotId];
      const builderId = a[ANNOTATIONS.sourceBuilder];
      if (!id || !builderId) continue;
      out.push({
        id,
        builderId,
        createdAt: new Date(a[ANNOTATIONS.createdAt] ?? m.metadata?.creationTimestamp ?? 0),
        sizeBytes: null,
        downtimeMs: Number(a[ANNOTATIONS.downtimeMs] ?? 0),
      });
    }
    return out;
  }

  async close(opts: { stopBuilders: boolean }): Promise<void> {
    this.closed = true;
    await Promise.allSettled([...this.launching.values()]);
    await this.watch?.stop();
    await this.gateway.close();
    if (!opts.stopBuilders) return;
    const running = (await this.list()).filter((b) => b.state === 'running');
    await Promise.allSettled(running.map((b) => this.stop(b.id)));
  }
}

function podWaiting(pod: V1Pod): string {
  const w = pod.status?.containerStatuses?.[0]?.state?.waiting;
  if (w?.reason) return `, ${w.reason}`;
  const c = pod.status?.conditions?.find((x) => x.status === 'False' && x.message);
  return c ? `, ${c.message}` : '';
}

function serverCertFresh(c: SecretContents, serverName: string): boolean {
  try {
    const cert = new X509Certificate(c.certPem);
    return (
      new Date(cert.validTo).getTime() > Date.now() + 30 * 86_400_000 &&
      cert.checkHost(serverName) !== undefined &&
      cert.checkIssued(new X509Certificate(c.caPem))
    );
  } catch {
    return false;
  }
}
