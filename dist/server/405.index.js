export const id = 405;
export const ids = [405];
export const modules = {

/***/ 80405:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {


// EXPORTS
__webpack_require__.d(__webpack_exports__, {
  KubernetesProvider: () => (/* binding */ KubernetesProvider)
});

// UNUSED EXPORTS: loadKubeConfig, resolveNamespace

// EXTERNAL MODULE: external "node:fs"
var external_node_fs_ = __webpack_require__(73024);
// EXTERNAL MODULE: external "node:crypto"
var external_node_crypto_ = __webpack_require__(77598);
// EXTERNAL MODULE: ./node_modules/@kubernetes/client-node/dist/index.js + 827 modules
var dist = __webpack_require__(41476);
// EXTERNAL MODULE: ./src/lib/errors.ts
var errors = __webpack_require__(97268);
// EXTERNAL MODULE: ./src/lib/pki.ts
var pki = __webpack_require__(58027);
// EXTERNAL MODULE: ./src/providers/buildkitd-probe.ts
var buildkitd_probe = __webpack_require__(71321);
;// CONCATENATED MODULE: ./src/providers/kubernetes-pod-watch.ts
// What the kubernetes provider knows of its builder pods between its own API calls: one list and
// watch of the pods with its labels (one long-lived request, kept current by the API server's
// events), so a health check needs no request of its own, and a pod being deleted (its
// deletionTimestamp) or no longer running is known as soon as the API server says so. The watch
// speaks only about the pod the provider routes to (the same uid). A pod gone from the watch is
// not taken as gone: another replica may have replaced it under the same name, not yet watched;
// that one rare case, like everything while the watch is down, is asked of the API server.


/** Pure: what the watch's entry for a pod name tells about the pod with uid `uid`. */
function sighting(cached, uid, connected) {
    if (connected && uid && cached?.metadata?.uid === uid)
        return { kind: 'present', pod: cached };
    return { kind: 'unknown' };
}
const RESTART_MIN_MS = 1000;
const RESTART_MAX_MS = 30_000;
class PodWatch {
    namespace;
    log;
    informer;
    connected = false;
    stopped = false;
    failures = 0;
    /** Errors reported since the watch was made (the informer reports them; its start() never throws). */
    errors = 0;
    restartTimer = null;
    constructor(kc, core, namespace, labelSelector, log) {
        this.namespace = namespace;
        this.log = log;
        this.informer = dist/* makeInformer */.JsE(kc, `/api/v1/namespaces/${namespace}/pods`, () => core.listNamespacedPod({ namespace, labelSelector }), labelSelector);
        this.informer.on('error', (err) => this.failed(err));
    }
    /** The list or watch failed: no evidence until it runs again, retried with backoff. */
    failed(err) {
        this.connected = false;
        this.errors++;
        if (this.stopped || this.restartTimer)
            return;
        this.failures++;
        // Forbidden (an RBAC without "watch" on pods) or an unreachable API server: every health
        // check asks the API server meanwhile, as it did before there was a watch.
        const delay = Math.min(RESTART_MAX_MS, RESTART_MIN_MS * 2 ** Math.min(this.failures - 1, 5));
        if (this.failures === 1 || this.failures % 20 === 0) {
            this.log.warn({ namespace: this.namespace, err: (0,errors/* errorMessage */.gJ)(err), retry_ms: delay, failures: this.failures }, 'watch of builder pods failed; health checks read each pod meanwhile');
        }
        this.restartTimer = setTimeout(() => {
            this.restartTimer = null;
            void this.start();
        }, delay);
        this.restartTimer.unref();
    }
    /** Lists and starts watching; resolves once the first list is in (failures retry in the background). */
    async start() {
        if (this.stopped)
            return;
        const errorsBefore = this.errors;
        try {
            await this.informer.start();
        }
        catch (err) {
            this.failed(err);
            return;
        }
        // A failed list or watch was reported to the error handler, which schedules the retry.
        if (this.stopped || this.errors !== errorsBefore)
            return;
        this.connected = true;
        if (this.failures > 0)
            this.log.info({ namespace: this.namespace }, 'watch of builder pods resumed');
        this.failures = 0;
    }
    /** What the watch knows of pod `name` whose uid is `uid` (the pod the provider routes to). */
    lookup(name, uid) {
        return sighting(this.informer.get(name, this.namespace), uid, this.connected);
    }
    async stop() {
        this.stopped = true;
        this.connected = false;
        if (this.restartTimer)
            clearTimeout(this.restartTimer);
        await this.informer.stop();
    }
}

// EXTERNAL MODULE: ./src/providers/gateway.ts
var gateway = __webpack_require__(98628);
// EXTERNAL MODULE: ./src/providers/provider.ts
var provider = __webpack_require__(49545);
;// CONCATENATED MODULE: ./src/providers/kubernetes-errors.ts

function isApiError(err) {
    return (typeof err === 'object' &&
        err !== null &&
        typeof err.code === 'number' &&
        err.code >= 100);
}
function statusOf(err) {
    return isApiError(err) ? err.code : null;
}
/** The Status object the API server answers with: its message and reason, when there is one. */
function apiStatus(err) {
    let body = err.body;
    if (typeof body === 'string') {
        const text = body;
        try {
            body = JSON.parse(text);
        }
        catch {
            return { message: text.slice(0, 300) };
        }
    }
    if (typeof body === 'object' && body !== null) {
        const b = body;
        return {
            message: typeof b.message === 'string' ? b.message : undefined,
            reason: typeof b.reason === 'string' ? b.reason : undefined,
        };
    }
    return {};
}
/** Retry-After in ms: delta seconds or an HTTP date; undefined when absent or malformed. */
function retryAfterMs(headers, now = Date.now()) {
    if (!headers)
        return undefined;
    const raw = Object.entries(headers).find(([k]) => k.toLowerCase() === 'retry-after')?.[1];
    if (raw === undefined)
        return undefined;
    const v = raw.trim();
    if (/^\d+$/.test(v))
        return Number(v) * 1000;
    const at = Date.parse(v);
    if (Number.isNaN(at))
        return undefined;
    return Math.max(0, at - now);
}
const NETWORK_CODES = new Set([
    'ECONNREFUSED',
    'ECONNRESET',
    'ETIMEDOUT',
    'EPIPE',
    'EHOSTUNREACH',
    'ENETUNREACH',
    'EAI_AGAIN',
    'UND_ERR_SOCKET',
    'UND_ERR_CONNECT_TIMEOUT',
]);
/** A connection that failed or dropped before an answer (node-fetch's FetchError, undici's). */
function isNetworkError(err) {
    if (typeof err !== 'object' || err === null)
        return false;
    const e = err;
    if (typeof e.code === 'string' && NETWORK_CODES.has(e.code))
        return true;
    if (typeof e.errno === 'string' && NETWORK_CODES.has(e.errno))
        return true;
    if (e.type === 'system' || e.type === 'request-timeout')
        return true;
    return e.cause !== undefined && e.cause !== err && isNetworkError(e.cause);
}
/** Worth asking again: throttled, the server's fault, or no answer at all. */
function isRetryable(err) {
    const code = statusOf(err);
    if (code !== null)
        return code === 429 || (code >= 500 && code !== 501);
    return isNetworkError(err);
}
/**
 * The typed error for a failed API call. `what` says what was being done ("create pod hoist-x"),
 * so the message names the call, the answer and what to do about it.
 */
function toProvisionError(err, what) {
    if (err instanceof provider/* ProvisionError */.uv)
        return err;
    if (isApiError(err)) {
        const { message, reason } = apiStatus(err);
        const said = message ? `: ${message}` : '';
        const kind = kindOfStatus(err.code, message ?? '', reason);
        let hint = '';
        if (err.code === 401)
            hint = '; the kubeconfig or service-account token is not accepted (expired or wrong cluster)';
        else if (err.code === 403 && kind === 'permanent')
            hint =
                "; give Hoist's service account a Role in this namespace for pods, persistentvolumeclaims and secrets (see the README's Running on Kubernetes)";
        else if (err.code === 404 && /namespaces? "/.test(message ?? ''))
            hint = '; create the namespace or set --kubernetes-namespace';
        else if (kind === 'quota')
            hint = "; raise the namespace's ResourceQuota or lower the builders' requests";
        return new provider/* ProvisionError */.uv(kind, `Kubernetes API ${what} failed (HTTP ${err.code}${said})${hint}`, {
            retryAfterMs: err.code === 429 || err.code === 503 ? retryAfterMs(err.headers) : undefined,
            cause: err,
        });
    }
    if (isNetworkError(err)) {
        const e = err;
        return new provider/* ProvisionError */.uv('transient', `Kubernetes API ${what} failed: cannot reach the API server (${e.message ?? String(err)})`, { cause: err });
    }
    const message = err instanceof Error ? err.message : String(err);
    return new provider/* ProvisionError */.uv('transient', `Kubernetes API ${what} failed: ${message}`, { cause: err });
}
function kindOfStatus(code, message, reason) {
    if (code === 429)
        return 'rate-limited';
    // A ResourceQuota refuses with 403 "exceeded quota"; a LimitRange with 403 too.
    if (code === 403 && /exceeded quota|forbidden: (maximum|minimum)/i.test(message))
        return 'quota';
    if (code >= 500)
        return 'transient';
    if (code === 409 || reason === 'Conflict' || reason === 'AlreadyExists')
        return 'transient';
    return 'permanent';
}
const DEFAULT_RETRY = { attempts: 4, baseMs: 200, maxMs: 5000 };
/** The wait before try `attempt + 1`: the server's Retry-After when it said, else full jitter. */
function backoffMs(attempt, err, opts) {
    const asked = isApiError(err) ? retryAfterMs(err.headers) : undefined;
    if (asked !== undefined)
        return Math.min(asked, opts.maxMs * 6);
    const ceiling = Math.min(opts.maxMs, opts.baseMs * 2 ** attempt);
    return Math.floor((opts.random ?? Math.random)() * ceiling);
}
/**
 * Runs `fn`, asking again on 429, 5xx and dropped connections a bounded number of times; any
 * other answer, or the last one, becomes a ProvisionError.
 */
async function withRetry(what, fn, opts) {
    for (let attempt = 0;; attempt++) {
        try {
            return await fn();
        }
        catch (err) {
            if (!isRetryable(err) || attempt + 1 >= opts.attempts)
                throw toProvisionError(err, what);
            await opts.sleep(backoffMs(attempt, err, opts));
        }
    }
}
/**
 * Why a builder pod cannot become ready, when that is already certain: a failed scheduling for
 * lack of room (capacity), no node for its architecture, an image that cannot be pulled, a
 * container that keeps crashing. null while it may still come up.
 */
function podFailure(pod) {
    const status = pod.status;
    if (!status)
        return null;
    if (status.phase === 'Failed' || status.phase === 'Succeeded') {
        return {
            kind: 'transient',
            message: `pod ${pod.metadata?.name} ended (${status.phase}${status.reason ? `, ${status.reason}` : ''}${status.message ? `: ${status.message}` : ''})`,
        };
    }
    const scheduled = status.conditions?.find((c) => c.type === 'PodScheduled');
    if (scheduled?.status === 'False' && scheduled.reason === 'Unschedulable') {
        const msg = scheduled.message ?? '';
        if (/Insufficient (cpu|memory|ephemeral-storage|pods)|Too many pods/i.test(msg)) {
            return { kind: 'capacity', message: `no node has room for builder pod ${pod.metadata?.name}: ${msg}` };
        }
        if (/node affinity|node selector|didn't match Pod's node/i.test(msg)) {
            const arch = pod.spec?.nodeSelector?.['kubernetes.io/arch'];
            return {
                kind: 'permanent',
                message: `no node matches builder pod ${pod.metadata?.name}'s node selector${arch ? ` (kubernetes.io/arch=${arch})` : ''}: ${msg}; add such nodes or change --kubernetes-node-selector`,
            };
        }
    }
    for (const cs of [...(status.initContainerStatuses ?? []), ...(status.containerStatuses ?? [])]) {
        const w = cs.state?.waiting;
        if (!w?.reason)
            continue;
        if (['ErrImagePull', 'ImagePullBackOff', 'InvalidImageName', 'ErrImageNeverPull'].includes(w.reason)) {
            return {
                kind: 'permanent',
                message: `builder pod ${pod.metadata?.name} cannot pull its image ${cs.image} (${w.reason}${w.message ? `: ${w.message}` : ''}); check --kubernetes-image and the registry`,
            };
        }
        if (['CreateContainerConfigError', 'CreateContainerError', 'RunContainerError'].includes(w.reason)) {
            return {
                kind: 'permanent',
                message: `builder pod ${pod.metadata?.name} cannot start its container (${w.reason}${w.message ? `: ${w.message}` : ''})`,
            };
        }
        if (w.reason === 'CrashLoopBackOff') {
            const last = cs.lastState?.terminated;
            return {
                kind: 'transient',
                message: `buildkitd in pod ${pod.metadata?.name} keeps exiting${last ? ` (exit code ${last.exitCode}${last.reason ? `, ${last.reason}` : ''}${last.message ? `: ${last.message.slice(-300)}` : ''})` : ''}`,
            };
        }
    }
    return null;
}
/** Is the pod running with its container started and an IP to reach it at? */
function podRunning(pod) {
    if (pod.metadata?.deletionTimestamp)
        return false;
    if (pod.status?.phase !== 'Running' || !pod.status.podIP)
        return false;
    const cs = pod.status.containerStatuses?.find((c) => c.name === 'buildkitd');
    return cs?.state?.running !== undefined;
}

// EXTERNAL MODULE: ./src/providers/kubernetes-manifests.ts
var kubernetes_manifests = __webpack_require__(5911);
// EXTERNAL MODULE: ./src/providers/buildkitd-config.ts
var buildkitd_config = __webpack_require__(92737);
// EXTERNAL MODULE: ./src/providers/provider-options.ts
var provider_options = __webpack_require__(93474);
// EXTERNAL MODULE: ./src/providers/kubernetes-network.ts
var kubernetes_network = __webpack_require__(27323);
;// CONCATENATED MODULE: ./src/providers/kubernetes.ts
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














const POLL_MS = 250;
const SNAPSHOT_GROUP = { group: 'snapshot.storage.k8s.io', version: 'v1', plural: 'volumesnapshots' };
/** The gateway's own client certificate per builder: renewed when less than this is left. */
const GATEWAY_CERT_LIFE_MS = 30 * 86_400_000;
const GATEWAY_CERT_RENEW_MS = 7 * 86_400_000;
const IN_CLUSTER_NS = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
/** Loads the cluster credentials: a kubeconfig file, the in-cluster service account, or the default. */
function loadKubeConfig(file, env = process.env) {
    const kc = new dist/* KubeConfig */.ypW();
    try {
        if (file)
            kc.loadFromFile(file);
        else if (env.KUBERNETES_SERVICE_HOST)
            kc.loadFromCluster();
        else
            kc.loadFromDefault();
    }
    catch (err) {
        throw new errors/* ConfigurationError */.j1(`cannot load the Kubernetes credentials${file ? ` from ${file}` : ''} (${(0,errors/* errorMessage */.gJ)(err)}); pass --kubeconfig FILE, or run the server in the cluster with a service account`);
    }
    if (!kc.getCurrentCluster()) {
        throw new errors/* ConfigurationError */.j1(`no Kubernetes cluster is configured${file ? ` in ${file}` : ' (no --kubeconfig, no KUBECONFIG, not in a cluster)'}; pass --kubeconfig FILE`);
    }
    return kc;
}
/** The namespace: the setting, else the service account's, else the kubeconfig context's, else "default". */
function resolveNamespace(setting, kc) {
    if (setting)
        return setting;
    try {
        const ns = external_node_fs_.readFileSync(IN_CLUSTER_NS, 'utf8').trim();
        if (ns)
            return ns;
    }
    catch {
        /* not in a cluster */
    }
    const ctx = kc.getContextObject(kc.getCurrentContext());
    return ctx?.namespace || 'default';
}
class KubernetesProvider {
    opts;
    name = 'kubernetes';
    core;
    custom;
    s;
    log;
    launching = new Map();
    keys = new Map();
    /** uid of the pod each builder is routed to: what the pod watch's evidence must be about. */
    podUids = new Map();
    /** Set by create(): the builder pods as the API server last said they are. */
    watch = null;
    retry;
    readyTimeoutMs;
    copyTimeoutMs;
    gateway;
    closed = false;
    constructor(kc, opts) {
        this.opts = opts;
        this.core = kc.makeApiClient(dist/* CoreV1Api */.f5Y);
        this.custom = kc.makeApiClient(dist/* CustomObjectsApi */.aVm);
        this.s = opts.settings;
        this.log = opts.logger ?? provider_options/* nullLogger */.Gi;
        this.retry = { ...DEFAULT_RETRY, ...opts.retry, sleep };
        this.readyTimeoutMs = opts.readyTimeoutMs ?? 180_000;
        this.copyTimeoutMs = opts.copyTimeoutMs ?? 30 * 60_000;
    }
    static async create(opts) {
        const kc = loadKubeConfig(opts.kubeconfig);
        const settings = { ...opts.settings, namespace: resolveNamespace(opts.settings.namespace, kc) };
        const p = new KubernetesProvider(kc, { ...opts, settings });
        // One call that needs the credentials, the namespace and the RBAC to list pods.
        try {
            await p.call('list pods', () => p.core.listNamespacedPod({ namespace: settings.namespace, labelSelector: p.selector(), limit: 1 }));
        }
        catch (err) {
            throw new errors/* ConfigurationError */.j1(`the kubernetes provider cannot use namespace "${settings.namespace}": ${(0,errors/* errorMessage */.gJ)(err)}`);
        }
        const { listenHost, advertiseHost } = (0,provider_options/* gatewayHosts */.KY)(opts);
        try {
            p.gateway = await gateway/* BuilderGateway */._.listen({
                host: listenHost,
                port: opts.gatewayPort ?? 0,
                advertiseHost,
                advertisePort: opts.advertisePort,
                logger: p.log,
            });
        }
        catch (err) {
            throw new errors/* ConfigurationError */.j1(`the builders' gateway cannot listen on ${listenHost}:${opts.gatewayPort ?? 0} (${(0,errors/* errorMessage */.gJ)(err)}); pick another --builder-gateway-port or --builder-listen-host`);
        }
        // Builders another replica launched are routed by looking their pod up.
        p.gateway.setResolver((name) => p.resolveRoute(name));
        // One watch of the builder pods instead of a read per health check; when it cannot run
        // (no "watch" in the RBAC, the API server away) health checks read each pod, as before.
        p.watch = new PodWatch(kc, p.core, settings.namespace, p.selector(`${kubernetes_manifests/* LABELS */.kg.component}=builder`), p.log);
        await p.watch.start();
        p.log.info({
            namespace: settings.namespace,
            instance: settings.instance,
            image: settings.image,
            storage_class: settings.storageClass ?? '(cluster default)',
            clone_mode: settings.cloneMode,
            security: settings.security,
            run_network: (0,kubernetes_manifests/* runNetworkOf */.pA)(settings).mode,
            gateway: p.gateway.endpoint,
        }, 'kubernetes provider ready');
        if ((0,kubernetes_manifests/* runNetworkOf */.pA)(settings).mode === 'pod')
            p.log.warn({ run_network: 'pod' }, kubernetes_network/* POD_MODE_WARNING */.TV);
        return p;
    }
    get namespace() {
        return this.s.namespace;
    }
    get gatewayEndpoint() {
        return this.gateway.endpoint;
    }
    get settings() {
        return this.s;
    }
    platforms() {
        return this.opts.platforms;
    }
    capabilities() {
        // The API has no batch create: a batch is that many launches at once. The API server's own
        // priority and fairness throttles with 429s, which every call retries and reports typed.
        return { cloneMethod: this.s.cloneMode, maxBatchSize: 16 };
    }
    authorizeConnections(fn) {
        this.gateway.setAuthorizer(fn);
    }
    closeConnections(owners) {
        return this.gateway.closeOwners(owners);
    }
    closeSerials(serials) {
        return this.gateway.closeSerials(serials);
    }
    openConnections() {
        return this.gateway.connections();
    }
    // ---- API plumbing ----
    selector(extra = '') {
        return `${(0,kubernetes_manifests/* ownedSelector */.jC)(this.s.instance)}${extra ? `,${extra}` : ''}`;
    }
    call(what, fn) {
        return withRetry(what, fn, this.retry);
    }
    /** The object, or null when the API answers 404. */
    async getOrNull(what, fn) {
        try {
            return await this.call(what, fn);
        }
        catch (err) {
            if (statusOf(err.cause) === 404)
                return null;
            throw err;
        }
    }
    /** Deletes; a 404 (already gone) is success. */
    async deleteIgnoringMissing(what, fn) {
        try {
            await this.call(what, fn);
        }
        catch (err) {
            if (statusOf(err.cause) !== 404)
                throw err;
        }
    }
    readPod(name) {
        return this.getOrNull(`read pod ${name}`, () => this.core.readNamespacedPod({ name, namespace: this.s.namespace }));
    }
    readPvc(name) {
        return this.getOrNull(`read persistentvolumeclaim ${name}`, () => this.core.readNamespacedPersistentVolumeClaim({ name, namespace: this.s.namespace }));
    }
    readSecret(name) {
        return this.getOrNull(`read secret ${name}`, () => this.core.readNamespacedSecret({ name, namespace: this.s.namespace }));
    }
    /** Creates; when it already exists (another replica, an earlier try) reads it instead. */
    async createOrRead(what, create, read) {
        try {
            return await this.call(`create ${what}`, create);
        }
        catch (err) {
            if (statusOf(err.cause) !== 409)
                throw err;
            const found = await read();
            if (!found)
                throw err;
            return found;
        }
    }
    // ---- keys ----
    config(spec) {
        return (0,buildkitd_config/* renderBuildkitdConfig */.x)({
            maxUsedSpaceBytes: spec.maxUsedSpaceBytes ?? this.opts.maxUsedSpaceBytes ?? provider_options/* DEFAULT_MAX_USED_SPACE_BYTES */.gN,
            insecureRegistries: this.opts.insecureRegistries ?? [],
            dns: this.opts.dns,
            cni: (0,kubernetes_network/* podCniPaths */.Qx)((0,kubernetes_manifests/* runNetworkOf */.pA)(this.s)),
        });
    }
    /** The builder's Secret: made with a new CA on first launch; its config refreshed when settings changed. */
    async ensureSecret(b, config) {
        const n = (0,kubernetes_manifests/* names */.Dy)(b.id);
        const found = await this.readSecret(n.secret);
        if (found && !(0,kubernetes_manifests/* isOwned */.go)(found.metadata, this.s.instance)) {
            throw new provider/* ProvisionError */.uv('permanent', `secret ${n.secret} exists in namespace ${this.s.namespace} but Hoist did not make it (no ${kubernetes_manifests/* LABELS */.kg.managedBy}=hoist label); remove it or pick another namespace`);
        }
        const have = found ? (0,kubernetes_manifests/* secretContents */.Rl)(found) : null;
        if (have && have.config === config && serverCertFresh(have, n.serverName))
            return have;
        let contents;
        if (have) {
            const ca = { certPem: have.caPem, keyPem: have.caKeyPem };
            const server = serverCertFresh(have, n.serverName)
                ? { certPem: have.certPem, keyPem: have.keyPem }
                : await (0,pki/* issueServerCert */.fD)(ca, { commonName: n.serverName, dnsNames: [n.serverName] });
            contents = { ...have, certPem: server.certPem, keyPem: server.keyPem, config };
            const body = (0,kubernetes_manifests/* builderSecret */.is)(this.s, b, contents);
            body.metadata.resourceVersion = found.metadata?.resourceVersion;
            body.metadata.ownerReferences = found.metadata?.ownerReferences;
            await this.call(`replace secret ${n.secret}`, () => this.core.replaceNamespacedSecret({ name: n.secret, namespace: this.s.namespace, body }));
        }
        else {
            const ca = await (0,pki/* createCa */.xs)({ commonName: `hoist builder ${b.id} CA` });
            const server = await (0,pki/* issueServerCert */.fD)(ca, { commonName: n.serverName, dnsNames: [n.serverName] });
            contents = {
                caPem: ca.certPem,
                caKeyPem: ca.keyPem,
                certPem: server.certPem,
                keyPem: server.keyPem,
                config,
            };
            const created = await this.createOrRead(`secret ${n.secret}`, () => this.core.createNamespacedSecret({
                namespace: this.s.namespace,
                body: (0,kubernetes_manifests/* builderSecret */.is)(this.s, b, contents),
            }), () => this.readSecret(n.secret));
            // Another replica made it first: its CA is the builder's CA.
            contents = (0,kubernetes_manifests/* secretContents */.Rl)(created) ?? contents;
        }
        this.keys.delete(b.id);
        return contents;
    }
    /** The builder's CA and the gateway's client certificate for it, from memory or its Secret. */
    async builderKeys(id) {
        const cached = this.keys.get(id);
        if (cached && cached.gateway.notAfter - Date.now() > GATEWAY_CERT_RENEW_MS)
            return cached;
        const secret = cached?.secret ?? (await this.loadSecret(id));
        if (!secret)
            return null;
        const notAfter = Date.now() + GATEWAY_CERT_LIFE_MS;
        const cert = await (0,pki/* issueClientCert */.lw)({ certPem: secret.caPem, keyPem: secret.caKeyPem }, { commonName: 'hoist gateway', notAfter: new Date(notAfter) });
        const keys = { secret, gateway: { ...cert, notAfter } };
        this.keys.set(id, keys);
        return keys;
    }
    async loadSecret(id) {
        const found = await this.readSecret((0,kubernetes_manifests/* names */.Dy)(id).secret);
        if (!found || !(0,kubernetes_manifests/* isOwned */.go)(found.metadata, this.s.instance))
            return null;
        return (0,kubernetes_manifests/* secretContents */.Rl)(found);
    }
    async issueClientCert(id, opts) {
        const keys = await this.builderKeys(id);
        if (!keys)
            throw new Error(`builder ${id} has no CA yet; launch it first`);
        return (0,pki/* issueClientCert */.lw)({ certPem: keys.secret.caPem, keyPem: keys.secret.caKeyPem }, opts);
    }
    async renewClientCert(id, opts) {
        const keys = await this.builderKeys(id);
        if (!keys)
            throw new Error(`builder ${id} has no CA; it cannot renew a certificate`);
        return (0,pki/* renewClientCert */.z8)({ certPem: keys.secret.caPem, keyPem: keys.secret.caKeyPem }, opts);
    }
    // ---- launch ----
    launch(spec) {
        const pending = this.launching.get(spec.id);
        if (pending)
            return pending;
        const p = this.doLaunch(spec).finally(() => this.launching.delete(spec.id));
        this.launching.set(spec.id, p);
        return p;
    }
    async launchBatch(specs) {
        return Promise.all(specs.map(async (spec) => {
            try {
                return { ok: true, builder: await this.launch(spec) };
            }
            catch (err) {
                return { ok: false, error: toProvisionError(err, `launch builder ${spec.id}`) };
            }
        }));
    }
    async doLaunch(spec) {
        if (this.closed)
            throw new provider/* ProvisionError */.uv('transient', 'the kubernetes provider is closing');
        const b = {
            id: spec.id,
            projectId: spec.projectId,
            platform: spec.platform,
            role: spec.role ?? 'primary',
            snapshotId: spec.snapshotId,
        };
        if (b.role === 'clone' && !b.snapshotId) {
            throw new provider/* ProvisionError */.uv('permanent', `clone ${b.id} has no snapshot to start from`);
        }
        if (b.role === 'clone' && this.s.cloneMode === 'none') {
            throw new provider/* ProvisionError */.uv('permanent', 'clones are off (--kubernetes-clone-mode none); builds share the primary instead');
        }
        const n = (0,kubernetes_manifests/* names */.Dy)(b.id);
        const started = Date.now();
        const config = this.config(spec);
        const hash = (0,kubernetes_manifests/* podSpecHash */.fS)(this.s, b, config);
        // The pod first: whether it is adopted or replaced decides what happens to a clone's volume.
        let pod = await this.readPod(n.pod);
        let adopted = false;
        if (pod && !(0,kubernetes_manifests/* isOwned */.go)(pod.metadata, this.s.instance)) {
            throw new provider/* ProvisionError */.uv('permanent', `pod ${n.pod} exists in namespace ${this.s.namespace} but Hoist did not make it; remove it or pick another namespace`);
        }
        const replace = pod !== null &&
            (pod.metadata?.deletionTimestamp !== undefined ||
                pod.metadata?.annotations?.[kubernetes_manifests/* ANNOTATIONS */.BC.specHash] !== hash ||
                pod.status?.phase === 'Failed' ||
                pod.status?.phase === 'Succeeded');
        if (b.role === 'clone' && (pod === null || replace)) {
            // A clone's volume and keys belong to its pod: with the pod gone they are being collected.
            // It starts over from the snapshot.
            await this.destroy(b.id);
            await this.waitGone(`persistentvolumeclaim ${n.pvc}`, () => this.readPvc(n.pvc), 120_000);
            await this.waitGone(`secret ${n.secret}`, () => this.readSecret(n.secret), 60_000);
            pod = null;
        }
        else if (pod && replace) {
            if (!pod.metadata?.deletionTimestamp) {
                this.log.info({ builder_id: b.id, pod: n.pod }, 'replacing builder pod (settings changed or it ended)');
            }
            await this.deletePodAndWait(n.pod);
            pod = null;
        }
        else if (pod) {
            adopted = podRunning(pod);
        }
        const secret = await this.ensureSecret(b, config);
        const pvc = await this.ensureVolume(b);
        if (!pod) {
            pod = await this.createOrRead(`pod ${n.pod}`, () => this.core.createNamespacedPod({ namespace: this.s.namespace, body: (0,kubernetes_manifests/* builderPod */.RH)(this.s, b, config) }), () => this.readPod(n.pod));
        }
        try {
            if (b.role === 'clone')
                await this.ownByPod(b, pod, pvc);
            pod = await this.waitReady(b.id, secret);
        }
        catch (err) {
            // Nothing is left running; a clone's volume goes with it, a primary's stays.
            await this.deletePodAndWait(n.pod).catch(() => undefined);
            if (b.role === 'clone')
                await this.destroyVolumes(b.id).catch(() => undefined);
            this.keys.delete(b.id);
            const e = toProvisionError(err, `launch builder ${b.id}`);
            this.log.error({ builder_id: b.id, kind: e.kind, err: e.message }, 'builder pod did not start');
            throw e;
        }
        const route = await this.routeFor(b.id, pod);
        if (!route)
            throw new provider/* ProvisionError */.uv('transient', `builder ${b.id} lost its pod while starting`);
        this.gateway.setRoute(route);
        this.trackPod(b.id, pod);
        this.log.info({
            builder_id: b.id,
            role: b.role,
            pod: n.pod,
            pod_ip: pod.status?.podIP,
            node: pod.spec?.nodeName,
            adopted,
            ms: Date.now() - started,
        }, adopted ? 'adopted running builder pod' : 'builder pod started');
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
    async ensureVolume(b) {
        const n = (0,kubernetes_manifests/* names */.Dy)(b.id);
        const found = await this.readPvc(n.pvc);
        if (found) {
            if (!(0,kubernetes_manifests/* isOwned */.go)(found.metadata, this.s.instance)) {
                throw new provider/* ProvisionError */.uv('permanent', `persistentvolumeclaim ${n.pvc} exists in namespace ${this.s.namespace} but Hoist did not make it; remove it or pick another namespace`);
            }
            if (!found.metadata?.deletionTimestamp)
                return found;
            await this.waitGone(`persistentvolumeclaim ${n.pvc}`, () => this.readPvc(n.pvc), 60_000);
        }
        if (b.role === 'primary') {
            return this.createOrRead(`persistentvolumeclaim ${n.pvc}`, () => this.core.createNamespacedPersistentVolumeClaim({
                namespace: this.s.namespace,
                body: (0,kubernetes_manifests/* builderPvc */.Lw)(this.s, b),
            }), () => this.readPvc(n.pvc));
        }
        return this.makeCloneVolume(b);
    }
    async makeCloneVolume(b) {
        const n = (0,kubernetes_manifests/* names */.Dy)(b.id);
        const snapName = (0,kubernetes_manifests/* snapshotObjectName */.xM)(b.snapshotId);
        const source = await this.snapshotSource(b.snapshotId);
        if (!source) {
            throw new provider/* ProvisionError */.uv('permanent', `snapshot ${b.snapshotId} does not exist (deleted, or taken by another Hoist installation); take a new one`);
        }
        const dataSourceRef = (0,kubernetes_manifests/* cloneDataSource */.pn)(this.s.cloneMode, b.snapshotId);
        const body = (0,kubernetes_manifests/* builderPvc */.Lw)(this.s, b, { size: source.size, dataSourceRef });
        if (source.storageClass)
            body.spec.storageClassName = source.storageClass;
        const pvc = await this.createOrRead(`persistentvolumeclaim ${n.pvc}`, () => this.core.createNamespacedPersistentVolumeClaim({ namespace: this.s.namespace, body }), () => this.readPvc(n.pvc));
        if (this.s.cloneMode === 'copy-pod') {
            // The snapshot's volume is never a live daemon's: clones copy from it at any time.
            const started = Date.now();
            try {
                await this.runCopy(n.copyPod, snapName, n.pvc, (0,kubernetes_manifests/* nodeArch */.h6)(b.platform), {
                    [kubernetes_manifests/* LABELS */.kg.builderId]: pvc.metadata.labels[kubernetes_manifests/* LABELS */.kg.builderId],
                    [kubernetes_manifests/* LABELS */.kg.role]: 'clone',
                });
            }
            catch (err) {
                await this.deleteIgnoringMissing(`delete persistentvolumeclaim ${n.pvc}`, () => this.core.deleteNamespacedPersistentVolumeClaim({ name: n.pvc, namespace: this.s.namespace }));
                throw err;
            }
            this.log.info({ builder_id: b.id, snapshot_id: b.snapshotId, ms: Date.now() - started }, 'clone volume copied from its snapshot');
        }
        return pvc;
    }
    /** Size and class of a snapshot, to size a clone's volume; null when it does not exist. */
    async snapshotSource(snapshotId) {
        const name = (0,kubernetes_manifests/* snapshotObjectName */.xM)(snapshotId);
        if (this.s.cloneMode === 'csi-snapshot') {
            const vs = await this.readVolumeSnapshot(name);
            if (!vs || !(0,kubernetes_manifests/* isOwned */.go)(vs.metadata, this.s.instance))
                return null;
            return { size: vs.status?.restoreSize ?? this.s.volumeSize };
        }
        const pvc = await this.readPvc(name);
        if (!pvc || !(0,kubernetes_manifests/* isOwned */.go)(pvc.metadata, this.s.instance))
            return null;
        return {
            size: pvc.spec?.resources?.requests?.storage ?? this.s.volumeSize,
            storageClass: pvc.spec?.storageClassName,
        };
    }
    /** A clone's PVC and Secret belong to its pod: deleting the pod deletes them (garbage collector). */
    async ownByPod(b, pod, pvc) {
        const n = (0,kubernetes_manifests/* names */.Dy)(b.id);
        const ref = (0,kubernetes_manifests/* ownerReferenceTo */.Qf)(pod);
        const patch = [{ op: 'add', path: '/metadata/ownerReferences', value: [ref] }];
        if (pvc.metadata?.ownerReferences?.[0]?.uid !== ref.uid) {
            await this.call(`patch persistentvolumeclaim ${n.pvc}`, () => this.core.patchNamespacedPersistentVolumeClaim({
                name: n.pvc,
                namespace: this.s.namespace,
                body: patch,
            }));
        }
        await this.call(`patch secret ${n.secret}`, () => this.core.patchNamespacedSecret({ name: n.secret, namespace: this.s.namespace, body: patch }));
    }
    /** Waits for the pod to run and its buildkitd to answer TLS; fails early when it cannot. */
    async waitReady(id, secret) {
        const { pod: name, serverName } = (0,kubernetes_manifests/* names */.Dy)(id);
        const deadline = Date.now() + this.readyTimeoutMs;
        let last = 'the pod was not scheduled';
        for (;;) {
            if (this.closed)
                throw new provider/* ProvisionError */.uv('transient', 'the kubernetes provider is closing');
            const pod = await this.readPod(name);
            if (!pod)
                throw new provider/* ProvisionError */.uv('transient', `pod ${name} was deleted while starting`);
            const failure = podFailure(pod);
            if (failure)
                throw new provider/* ProvisionError */.uv(failure.kind, failure.message);
            if (podRunning(pod)) {
                const client = await this.gatewayCertFor(id, secret);
                const h = await (0,buildkitd_probe/* probeTls */.SL)(pod.status.podIP, kubernetes_manifests/* BUILDKITD_PORT */.T4, secret, client, serverName);
                if (h.healthy)
                    return pod;
                last = h.reason;
            }
            else {
                last = `pod is ${pod.status?.phase ?? 'Pending'}${podWaiting(pod)}`;
            }
            if (Date.now() > deadline) {
                throw new provider/* ProvisionError */.uv('transient', `builder pod ${name} was not ready after ${Math.round(this.readyTimeoutMs / 1000)} s (${last})`);
            }
            await sleep(POLL_MS);
        }
    }
    /** The gateway's client certificate for this builder, issued under the CA just read. */
    async gatewayCertFor(id, secret) {
        const cached = this.keys.get(id);
        if (!cached || cached.secret.caPem !== secret.caPem) {
            // An expired placeholder: builderKeys() issues a certificate from this secret.
            this.keys.set(id, { secret, gateway: { certPem: '', keyPem: '', notAfter: 0 } });
        }
        return (await this.builderKeys(id)).gateway;
    }
    /** The gateway's route to a builder's pod. */
    async routeFor(id, pod) {
        const keys = await this.builderKeys(id);
        const ip = pod.status?.podIP;
        if (!keys || !ip)
            return null;
        const n = (0,kubernetes_manifests/* names */.Dy)(id);
        return {
            builderId: id,
            serverName: n.serverName,
            caPem: keys.secret.caPem,
            certPem: keys.secret.certPem,
            keyPem: keys.secret.keyPem,
            upstream: {
                host: ip,
                port: kubernetes_manifests/* BUILDKITD_PORT */.T4,
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
    async resolveRoute(serverName) {
        const objectName = (0,kubernetes_manifests/* objectNameFromServerName */.ZM)(serverName);
        if (!objectName)
            return null;
        const pod = await this.readPod(objectName);
        if (!pod || !(0,kubernetes_manifests/* isOwned */.go)(pod.metadata, this.s.instance) || !podRunning(pod))
            return null;
        const id = (0,kubernetes_manifests/* identityOf */.cu)(pod.metadata)?.id;
        if (!id || (0,kubernetes_manifests/* names */.Dy)(id).pod !== objectName)
            return null;
        this.trackPod(id, pod);
        return this.routeFor(id, pod);
    }
    /** The builder is routed to this pod: the watch's evidence counts for it (same uid) only. */
    trackPod(id, pod) {
        const uid = pod.metadata?.uid;
        if (uid)
            this.podUids.set(id, uid);
    }
    // ---- copy pods ----
    /** Runs a copy pod to completion and removes it; returns the bytes copied when it said. */
    async runCopy(name, sourceClaim, targetClaim, arch, labels) {
        await this.deletePodAndWait(name);
        await this.call(`create pod ${name}`, () => this.core.createNamespacedPod({
            namespace: this.s.namespace,
            body: (0,kubernetes_manifests/* copyPod */.rU)(this.s, { name, labels, sourceClaim, targetClaim, arch }),
        }));
        const deadline = Date.now() + this.copyTimeoutMs;
        try {
            for (;;) {
                const pod = await this.readPod(name);
                if (!pod)
                    throw new provider/* ProvisionError */.uv('transient', `copy pod ${name} was deleted before it finished`);
                const cs = pod.status?.containerStatuses?.[0];
                if (pod.status?.phase === 'Succeeded') {
                    const said = Number(cs?.state?.terminated?.message?.trim());
                    return Number.isFinite(said) && said > 0 ? said : null;
                }
                if (pod.status?.phase === 'Failed') {
                    const t = cs?.state?.terminated;
                    throw new provider/* ProvisionError */.uv('transient', `copy pod ${name} failed (exit code ${t?.exitCode ?? '?'}${t?.message ? `: ${t.message.slice(-300)}` : ''})`);
                }
                const failure = podFailure(pod);
                if (failure)
                    throw new provider/* ProvisionError */.uv(failure.kind, failure.message);
                if (Date.now() > deadline) {
                    throw new provider/* ProvisionError */.uv('transient', `copy pod ${name} did not finish within ${Math.round(this.copyTimeoutMs / 1000)} s`);
                }
                await sleep(POLL_MS * 2);
            }
        }
        finally {
            await this.deletePodAndWait(name).catch((err) => this.log.warn({ pod: name, err: (0,errors/* errorMessage */.gJ)(err) }, 'could not delete copy pod'));
        }
    }
    // ---- stop, destroy ----
    async deletePodAndWait(name) {
        const pod = await this.readPod(name);
        if (!pod)
            return;
        if (!(0,kubernetes_manifests/* isOwned */.go)(pod.metadata, this.s.instance))
            return;
        if (!pod.metadata?.deletionTimestamp) {
            await this.deleteIgnoringMissing(`delete pod ${name}`, () => this.core.deleteNamespacedPod({ name, namespace: this.s.namespace }));
        }
        const grace = (pod.spec?.terminationGracePeriodSeconds ?? 30) * 1000;
        await this.waitGone(`pod ${name}`, () => this.readPod(name), grace + 60_000, pod.metadata?.uid);
    }
    async waitGone(what, read, timeoutMs, uid) {
        const deadline = Date.now() + timeoutMs;
        for (;;) {
            const o = await read();
            if (!o || (uid !== undefined && o.metadata?.uid !== uid))
                return;
            if (Date.now() > deadline) {
                throw new provider/* ProvisionError */.uv('transient', `${what} is still there ${Math.round(timeoutMs / 1000)} s after its deletion`);
            }
            await sleep(POLL_MS);
        }
    }
    async stop(id) {
        this.gateway.removeRoute(id);
        this.podUids.delete(id);
        const n = (0,kubernetes_manifests/* names */.Dy)(id);
        const pod = await this.readPod(n.pod);
        if (!pod)
            return;
        await this.deletePodAndWait(n.pod);
        this.log.info({ builder_id: id, pod: n.pod }, 'builder pod deleted; volume kept');
    }
    async destroyVolumes(id) {
        const n = (0,kubernetes_manifests/* names */.Dy)(id);
        const pvc = await this.readPvc(n.pvc);
        if (pvc && (0,kubernetes_manifests/* isOwned */.go)(pvc.metadata, this.s.instance)) {
            await this.deleteIgnoringMissing(`delete persistentvolumeclaim ${n.pvc}`, () => this.core.deleteNamespacedPersistentVolumeClaim({ name: n.pvc, namespace: this.s.namespace }));
        }
        const secret = await this.readSecret(n.secret);
        if (secret && (0,kubernetes_manifests/* isOwned */.go)(secret.metadata, this.s.instance)) {
            await this.deleteIgnoringMissing(`delete secret ${n.secret}`, () => this.core.deleteNamespacedSecret({ name: n.secret, namespace: this.s.namespace }));
        }
    }
    async destroy(id) {
        await this.stop(id);
        await this.deletePodAndWait((0,kubernetes_manifests/* names */.Dy)(id).copyPod);
        await this.destroyVolumes(id);
        this.keys.delete(id);
        this.log.info({ builder_id: id }, 'builder destroyed (pod, volume and keys)');
    }
    // ---- list, health ----
    async list() {
        const ns = this.s.namespace;
        const sel = this.selector(`${kubernetes_manifests/* LABELS */.kg.component}=builder`);
        const [pods, pvcs] = await Promise.all([
            this.call('list pods', () => this.core.listNamespacedPod({ namespace: ns, labelSelector: sel })),
            this.call('list persistentvolumeclaims', () => this.core.listNamespacedPersistentVolumeClaim({ namespace: ns, labelSelector: sel })),
        ]);
        await this.sweepCopyPods();
        const out = new Map();
        for (const pvc of pvcs.items) {
            const b = (0,kubernetes_manifests/* identityOf */.cu)(pvc.metadata);
            if (!b || !(0,kubernetes_manifests/* isOwned */.go)(pvc.metadata, this.s.instance))
                continue;
            out.set(b.id, { id: b.id, role: b.role, state: 'stopped', pid: null, endpoint: null });
        }
        for (const pod of pods.items) {
            const b = (0,kubernetes_manifests/* identityOf */.cu)(pod.metadata);
            if (!b || !(0,kubernetes_manifests/* isOwned */.go)(pod.metadata, this.s.instance))
                continue;
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
    async sweepCopyPods() {
        const pods = await this.call('list copy pods', () => this.core.listNamespacedPod({
            namespace: this.s.namespace,
            labelSelector: this.selector(`${kubernetes_manifests/* LABELS */.kg.component}=copy`),
        }));
        for (const pod of pods.items) {
            const age = Date.now() - new Date(pod.metadata?.creationTimestamp ?? Date.now()).getTime();
            const ended = pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed';
            if (!(0,kubernetes_manifests/* isOwned */.go)(pod.metadata, this.s.instance) || (!ended && age < this.copyTimeoutMs + 60_000))
                continue;
            const name = pod.metadata.name;
            const inFlight = [...this.launching.keys()].some((id) => (0,kubernetes_manifests/* names */.Dy)(id).copyPod === name);
            if (inFlight)
                continue;
            await this.deleteIgnoringMissing(`delete pod ${name}`, () => this.core.deleteNamespacedPod({ name, namespace: this.s.namespace }));
            this.log.info({ pod: name }, 'removed a leftover copy pod');
        }
    }
    async health(id) {
        const n = (0,kubernetes_manifests/* names */.Dy)(id);
        // The watch's word on the pod the builder is routed to needs no request: being deleted or
        // not running is reported now, and a running one still has to answer the TLS probe below.
        const seen = this.watch?.lookup(n.pod, this.podUids.get(id)) ?? { kind: 'unknown' };
        let pod;
        if (seen.kind === 'present') {
            pod = seen.pod;
        }
        else {
            try {
                pod = await this.readPod(n.pod);
            }
            catch (err) {
                return { healthy: false, reason: (0,errors/* errorMessage */.gJ)(err) };
            }
        }
        if (!pod)
            return { healthy: false, reason: `pod ${n.pod} does not exist` };
        if (!podRunning(pod)) {
            return {
                healthy: false,
                reason: `pod ${n.pod} is not running (${pod.status?.phase ?? 'unknown'}${podWaiting(pod)})`,
            };
        }
        const keys = await this.builderKeys(id);
        if (!keys)
            return { healthy: false, reason: `secret ${n.secret} is missing or incomplete` };
        const h = await (0,buildkitd_probe/* probeTls */.SL)(pod.status.podIP, kubernetes_manifests/* BUILDKITD_PORT */.T4, keys.secret, keys.gateway, n.serverName);
        // The pod may have a new address (replaced by another replica): keep the gateway's route current.
        if (h.healthy) {
            const route = await this.routeFor(id, pod);
            if (route)
                this.gateway.setRoute(route);
            this.trackPod(id, pod);
        }
        return h;
    }
    // ---- snapshots ----
    async snapshot(builderId, snapshotId) {
        if (this.s.cloneMode === 'none') {
            throw new provider/* ProvisionError */.uv('permanent', 'clones are off (--kubernetes-clone-mode none): no snapshots are taken');
        }
        const n = (0,kubernetes_manifests/* names */.Dy)(builderId);
        const pvc = await this.readPvc(n.pvc);
        const b = (0,kubernetes_manifests/* identityOf */.cu)(pvc?.metadata);
        if (!pvc || !b || !(0,kubernetes_manifests/* isOwned */.go)(pvc.metadata, this.s.instance)) {
            throw new provider/* ProvisionError */.uv('permanent', `builder ${builderId} has no volume to snapshot`);
        }
        if (b.role !== 'primary') {
            throw new provider/* ProvisionError */.uv('permanent', `builder ${builderId} is a clone; only primaries are snapshotted`);
        }
        const createdAt = new Date();
        const stoppedAt = Date.now();
        const snapName = (0,kubernetes_manifests/* snapshotObjectName */.xM)(snapshotId);
        const size = pvc.spec?.resources?.requests?.storage ?? this.s.volumeSize;
        let sizeBytes = null;
        let failure = null;
        // Stopped cleanly first (SIGTERM, bolt files flushed): a copy never reads a live daemon.
        await this.stop(builderId);
        try {
            if (this.s.cloneMode === 'csi-snapshot') {
                await this.takeVolumeSnapshot(b, snapshotId, createdAt);
            }
            else {
                await this.createOrRead(`persistentvolumeclaim ${snapName}`, () => this.core.createNamespacedPersistentVolumeClaim({
                    namespace: this.s.namespace,
                    body: (0,kubernetes_manifests/* snapshotPvc */._6)(this.s, b, snapshotId, createdAt, size, pvc.spec?.storageClassName),
                }), () => this.readPvc(snapName));
                const labels = { [kubernetes_manifests/* LABELS */.kg.snapshotId]: (0,kubernetes_manifests/* labelValue */.w)(snapshotId) };
                // copy-pod: the copy itself. pvc-clone: a pod that mounts the clone, so a class that binds
                // on first use clones now, while the primary is stopped, and not once it runs again.
                sizeBytes = await this.runCopy(`${snapName}-copy`.slice(0, 63), this.s.cloneMode === 'copy-pod' ? n.pvc : snapName, snapName, (0,kubernetes_manifests/* nodeArch */.h6)(b.platform), labels);
            }
        }
        catch (err) {
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
        await this.annotateSnapshot(snapName, { [kubernetes_manifests/* ANNOTATIONS */.BC.downtimeMs]: String(downtimeMs) });
        this.log.info({
            builder_id: builderId,
            snapshot_id: snapshotId,
            method: this.s.cloneMode,
            downtime_ms: downtimeMs,
            bytes: sizeBytes,
        }, 'snapshot taken from the stopped primary');
        return { id: snapshotId, builderId, createdAt, sizeBytes, downtimeMs, restarted };
    }
    async takeVolumeSnapshot(b, snapshotId, createdAt) {
        const name = (0,kubernetes_manifests/* snapshotObjectName */.xM)(snapshotId);
        const body = (0,kubernetes_manifests/* volumeSnapshot */.bg)(this.s, b, snapshotId, createdAt);
        await this.createOrRead(`volumesnapshot ${name}`, () => this.custom.createNamespacedCustomObject({ ...SNAPSHOT_GROUP, namespace: this.s.namespace, body }), () => this.readVolumeSnapshot(name));
        const deadline = Date.now() + this.copyTimeoutMs;
        for (;;) {
            const vs = await this.readVolumeSnapshot(name);
            if (!vs)
                throw new provider/* ProvisionError */.uv('transient', `volumesnapshot ${name} disappeared`);
            if (vs.status?.readyToUse)
                return;
            if (vs.status?.error?.message) {
                throw new provider/* ProvisionError */.uv('transient', `volumesnapshot ${name} failed: ${vs.status.error.message}`);
            }
            if (Date.now() > deadline)
                throw new provider/* ProvisionError */.uv('transient', `volumesnapshot ${name} was not ready in time`);
            await sleep(POLL_MS * 2);
        }
    }
    readVolumeSnapshot(name) {
        return this.getOrNull(`read volumesnapshot ${name}`, () => this.custom.getNamespacedCustomObject({
            ...SNAPSHOT_GROUP,
            namespace: this.s.namespace,
            name,
        }));
    }
    async annotateSnapshot(name, annotations) {
        const body = Object.entries(annotations).map(([k, v]) => ({
            op: 'add',
            path: `/metadata/annotations/${k.replace(/~/g, '~0').replace(/\//g, '~1')}`,
            value: v,
        }));
        if (this.s.cloneMode === 'csi-snapshot') {
            await this.call(`patch volumesnapshot ${name}`, () => this.custom.patchNamespacedCustomObject({
                ...SNAPSHOT_GROUP,
                namespace: this.s.namespace,
                name,
                body,
            }));
        }
        else {
            await this.call(`patch persistentvolumeclaim ${name}`, () => this.core.patchNamespacedPersistentVolumeClaim({ name, namespace: this.s.namespace, body }));
        }
    }
    async deleteSnapshot(snapshotId) {
        const name = (0,kubernetes_manifests/* snapshotObjectName */.xM)(snapshotId);
        const pvc = await this.readPvc(name);
        if (pvc && (0,kubernetes_manifests/* isOwned */.go)(pvc.metadata, this.s.instance)) {
            await this.deleteIgnoringMissing(`delete persistentvolumeclaim ${name}`, () => this.core.deleteNamespacedPersistentVolumeClaim({ name, namespace: this.s.namespace }));
        }
        if (this.s.cloneMode === 'csi-snapshot') {
            const vs = await this.readVolumeSnapshot(name);
            if (vs && (0,kubernetes_manifests/* isOwned */.go)(vs.metadata, this.s.instance)) {
                await this.deleteIgnoringMissing(`delete volumesnapshot ${name}`, () => this.custom.deleteNamespacedCustomObject({ ...SNAPSHOT_GROUP, namespace: this.s.namespace, name }));
            }
        }
    }
    async listSnapshots() {
        const sel = this.selector(`${kubernetes_manifests/* LABELS */.kg.component}=snapshot`);
        const metas = [];
        const pvcs = await this.call('list snapshot volumes', () => this.core.listNamespacedPersistentVolumeClaim({ namespace: this.s.namespace, labelSelector: sel }));
        metas.push(...pvcs.items);
        if (this.s.cloneMode === 'csi-snapshot') {
            const vss = (await this.call('list volumesnapshots', () => this.custom.listNamespacedCustomObject({
                ...SNAPSHOT_GROUP,
                namespace: this.s.namespace,
                labelSelector: sel,
            })));
            metas.push(...(vss.items ?? []));
        }
        const out = [];
        for (const m of metas) {
            if (!(0,kubernetes_manifests/* isOwned */.go)(m.metadata, this.s.instance))
                continue;
            const a = m.metadata?.annotations ?? {};
            const id = a[kubernetes_manifests/* ANNOTATIONS */.BC.snapshotId];
            const builderId = a[kubernetes_manifests/* ANNOTATIONS */.BC.sourceBuilder];
            if (!id || !builderId)
                continue;
            out.push({
                id,
                builderId,
                createdAt: new Date(a[kubernetes_manifests/* ANNOTATIONS */.BC.createdAt] ?? m.metadata?.creationTimestamp ?? 0),
                sizeBytes: null,
                downtimeMs: Number(a[kubernetes_manifests/* ANNOTATIONS */.BC.downtimeMs] ?? 0),
            });
        }
        return out;
    }
    async close(opts) {
        this.closed = true;
        await Promise.allSettled([...this.launching.values()]);
        await this.watch?.stop();
        await this.gateway.close();
        if (!opts.stopBuilders)
            return;
        const running = (await this.list()).filter((b) => b.state === 'running');
        await Promise.allSettled(running.map((b) => this.stop(b.id)));
    }
}
function podWaiting(pod) {
    const w = pod.status?.containerStatuses?.[0]?.state?.waiting;
    if (w?.reason)
        return `, ${w.reason}`;
    const c = pod.status?.conditions?.find((x) => x.status === 'False' && x.message);
    return c ? `, ${c.message}` : '';
}
function serverCertFresh(c, serverName) {
    try {
        const cert = new external_node_crypto_.X509Certificate(c.certPem);
        return (new Date(cert.validTo).getTime() > Date.now() + 30 * 86_400_000 &&
            cert.checkHost(serverName) !== undefined &&
            cert.checkIssued(new external_node_crypto_.X509Certificate(c.caPem)));
    }
    catch {
        return false;
    }
}


/***/ })

};
