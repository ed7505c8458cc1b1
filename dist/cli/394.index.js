"use strict";
exports.id = 394;
exports.ids = [394];
exports.modules = {

/***/ 26394:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {

// ESM COMPAT FLAG
__webpack_require__.r(__webpack_exports__);

// EXPORTS
__webpack_require__.d(__webpack_exports__, {
  CACHE_HELP: () => (/* binding */ CACHE_HELP),
  decidePrune: () => (/* binding */ decidePrune),
  parseRegistryRef: () => (/* binding */ parseRegistryRef),
  pruneCache: () => (/* binding */ pruneCache),
  readDockerCredential: () => (/* binding */ readDockerCredential),
  runCache: () => (/* binding */ runCache)
});

// EXTERNAL MODULE: external "node:crypto"
var external_node_crypto_ = __webpack_require__(77598);
// EXTERNAL MODULE: external "node:fs/promises"
var promises_ = __webpack_require__(51455);
// EXTERNAL MODULE: external "node:os"
var external_node_os_ = __webpack_require__(48161);
// EXTERNAL MODULE: external "node:path"
var external_node_path_ = __webpack_require__(76760);
;// CONCATENATED MODULE: ./src/lib/cache-tag.ts

// Shared by the build-push action (fallback-cache) and `hoist cache prune`: both must name a
// branch's registry cache tag the same way.
/** OCI distribution-spec tag grammar. */
const TAG = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;
const MAX_TAG = 128;
/**
 * A branch name as a valid OCI tag: lowercased, every character outside [a-z0-9_.-] as `-`,
 * at most 128 characters. When that changed the name, a hash of the original is appended
 * so that `feature/a` and `feature-a` (or `Main` and `main`) never share a cache.
 */
function branchCacheTag(branch) {
    if (branch === '')
        throw new Error('branchCacheTag: empty branch name');
    if (TAG.test(branch) && branch === branch.toLowerCase())
        return branch;
    const hash = (0,external_node_crypto_.createHash)('sha256').update(branch).digest('hex').slice(0, 8);
    let base = branch.toLowerCase().replace(/[^a-z0-9_.-]/g, '-');
    base = base.replace(/^[.-]+/, '');
    base = base.slice(0, MAX_TAG - hash.length - 1).replace(/[.-]+$/, '');
    return base ? `${base}-${hash}` : hash;
}

// EXTERNAL MODULE: ./src/lib/duration.ts
var duration = __webpack_require__(82543);
// EXTERNAL MODULE: ./src/lib/errors.ts
var errors = __webpack_require__(97268);
// EXTERNAL MODULE: ./src/cli/flags.ts
var flags = __webpack_require__(95377);
;// CONCATENATED MODULE: ./src/cli/cache.ts
// `hoist cache prune`: deletes stale branch caches of the fallback build's registry cache
// (the build-push input `fallback-cache`) through the registry's HTTP API.








const CACHE_HELP = `Usage:  hoist cache prune --ref REGISTRY/REPOSITORY [--keep TAG]... [--default-branch main]
                         [--older-than 14d] [--dry-run] [--insecure]

Deletes the branch caches of a fallback-cache repository (the build-push input
\`fallback-cache\`) that are older than --older-than. The default branch's tag and every
--keep tag are kept, and so is a cache whose age cannot be told. Credentials come from
the docker config (DOCKER_CONFIG or ~/.docker/config.json, "auths" entries); the
registry must allow deletes. --insecure talks plain HTTP to the registry.
`;
const MANIFEST_ACCEPT = [
    'application/vnd.oci.image.index.v1+json',
    'application/vnd.oci.image.manifest.v1+json',
    'application/vnd.docker.distribution.manifest.list.v2+json',
    'application/vnd.docker.distribution.manifest.v2+json',
].join(', ');
const CREATED_ANNOTATION = 'org.opencontainers.image.created';
/** BuildKit stamps every layer of an exported cache with this annotation. */
const BUILDKIT_CREATED_ANNOTATION = 'buildkit/createdat';
/**
 * Which tags go. Pure. A manifest is deleted by digest, which removes every tag that points
 * to it, so a digest shared with a tag that stays is kept too.
 */
function decidePrune(tags, opts) {
    const defaultTag = branchCacheTag(opts.defaultBranch);
    const first = tags.map((t) => {
        if (t.tag === defaultTag)
            return { ...t, action: 'keep', reason: 'the default branch' };
        if (opts.keep.includes(t.tag))
            return { ...t, action: 'keep', reason: '--keep' };
        if (!t.created)
            return { ...t, action: 'keep', reason: `age unknown: ${t.unknownAge ?? 'no date'}` };
        const age = opts.now.getTime() - t.created.getTime();
        if (age <= opts.olderThanMs)
            return { ...t, action: 'keep', reason: `fresh (${formatAge(age)} old)` };
        return { ...t, action: 'delete', reason: `stale (${formatAge(age)} old)` };
    });
    const kept = new Map();
    for (const d of first)
        if (d.action === 'keep' && !kept.has(d.digest))
            kept.set(d.digest, d.tag);
    return first.map((d) => {
        const shared = kept.get(d.digest);
        return d.action === 'delete' && shared
            ? { ...d, action: 'keep', reason: `same manifest as kept tag ${shared}` }
            : d;
    });
}
function formatAge(ms) {
    const m = Math.max(0, ms);
    if (m >= 86_400_000)
        return `${Math.floor(m / 86_400_000)}d`;
    if (m >= 3_600_000)
        return `${Math.floor(m / 3_600_000)}h`;
    if (m >= 60_000)
        return `${Math.floor(m / 60_000)}m`;
    return `${Math.floor(m / 1000)}s`;
}
/** `host[:port]/path` of the --ref flag. */
function parseRegistryRef(raw) {
    const ref = raw.trim();
    const slash = ref.indexOf('/');
    const host = slash > 0 ? ref.slice(0, slash) : '';
    const repository = slash > 0 ? ref.slice(slash + 1) : '';
    const looksLikeHost = host.includes('.') || host.includes(':') || host === 'localhost';
    const component = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
    const lastPart = repository.split('/').pop() ?? '';
    if (!looksLikeHost || !repository || ref.includes('@') || lastPart.includes(':')) {
        throw new errors/* ConfigurationError */.j1(`hoist cache prune: --ref must be a registry host and repository without a tag, e.g. ghcr.io/acme/app-cache (the value of the build-push input fallback-cache); got "${raw}"`);
    }
    if (!repository.split('/').every((c) => component.test(c))) {
        throw new errors/* ConfigurationError */.j1(`hoist cache prune: --ref "${raw}": the repository path may hold lowercase letters and digits, separated by . _ - or /`);
    }
    return { host, repository };
}
/** The `auths` entry of the docker config for this registry host, if any. */
async function readDockerCredential(dir, host) {
    let text;
    try {
        text = await (0,promises_.readFile)((0,external_node_path_.join)(dir, 'config.json'), 'utf8');
    }
    catch {
        return undefined;
    }
    let config;
    try {
        config = JSON.parse(text);
    }
    catch (err) {
        throw new errors/* ConfigurationError */.j1(`hoist cache prune: ${(0,external_node_path_.join)(dir, 'config.json')} is not valid JSON (${(0,errors/* errorMessage */.gJ)(err)}); fix it or point DOCKER_CONFIG elsewhere`);
    }
    for (const [key, entry] of Object.entries(config.auths ?? {})) {
        const keyHost = key.replace(/^https?:\/\//, '').split('/')[0];
        if (keyHost !== host)
            continue;
        if (entry.username && entry.password)
            return { username: entry.username, password: entry.password };
        if (entry.auth) {
            const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
            const colon = decoded.indexOf(':');
            if (colon > 0)
                return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
        }
    }
    return undefined;
}
/** Key="value" pairs of a WWW-Authenticate challenge. */
function parseChallenge(header) {
    const space = header.indexOf(' ');
    const scheme = (space < 0 ? header : header.slice(0, space)).toLowerCase();
    const params = {};
    for (const m of header.slice(space + 1).matchAll(/([a-zA-Z_]+)="([^"]*)"/g))
        params[m[1]] = m[2];
    return { scheme, params };
}
/** A registry API client for one repository: anonymous, basic, or bearer tokens by challenge. */
class RegistryClient {
    repository;
    credential;
    base;
    authorization;
    constructor(host, repository, insecure, credential) {
        this.repository = repository;
        this.credential = credential;
        this.base = `${insecure ? 'http' : 'https'}://${host}`;
    }
    async request(method, path, headers = {}) {
        const url = path.startsWith('http') ? path : `${this.base}${path}`;
        const send = () => fetch(url, {
            method,
            headers: { ...headers, ...(this.authorization ? { authorization: this.authorization } : {}) },
            redirect: 'follow',
        }).catch((err) => {
            const cause = err.cause;
            throw new errors/* ConfigurationError */.j1(`hoist cache prune: cannot reach the registry at ${this.base} (${(0,errors/* errorMessage */.gJ)(cause ?? err)}); check --ref${this.base.startsWith('https') ? ', and add --insecure for a plain-HTTP registry' : ''}`);
        });
        let res = await send();
        if (res.status === 401) {
            const challenge = res.headers.get('www-authenticate');
            if (challenge && (await this.authenticate(challenge))) {
                await res.arrayBuffer();
                res = await send();
            }
        }
        return res;
    }
    async authenticate(header) {
        const { scheme, params } = parseChallenge(header);
        const basic = this.credential
            ? `Basic ${Buffer.from(`${this.credential.username}:${this.credential.password}`).toString('base64')}`
            : undefined;
        if (scheme === 'basic') {
            if (!basic || this.authorization === basic)
                return false;
            this.authorization = basic;
            return true;
        }
        if (scheme !== 'bearer' || !params.realm)
            return false;
        const tokenUrl = new URL(params.realm);
        if (params.service)
            tokenUrl.searchParams.set('service', params.service);
        // Ask for delete up front so one token serves the whole run.
        tokenUrl.searchParams.append('scope', `repository:${this.repository}:pull,delete`);
        if (params.scope && !params.scope.startsWith(`repository:${this.repository}:`)) {
            tokenUrl.searchParams.append('scope', params.scope);
        }
        const res = await fetch(tokenUrl, { headers: basic ? { authorization: basic } : {} });
        if (!res.ok) {
            throw new errors/* ConfigurationError */.j1(`hoist cache prune: the registry's token service ${tokenUrl.origin}${tokenUrl.pathname} refused ${this.credential ? `the credential of ${this.credential.username}` : 'an anonymous token'} (HTTP ${res.status}); log in with "docker login" for this registry`);
        }
        const body = (await res.json());
        const token = body.token ?? body.access_token;
        if (!token)
            return false;
        const next = `Bearer ${token}`;
        if (this.authorization === next)
            return false;
        this.authorization = next;
        return true;
    }
    /** Every tag, following `Link: <…>; rel="next"` pagination. */
    async listTags() {
        const tags = [];
        let next = `/v2/${this.repository}/tags/list?n=100`;
        for (let page = 0; next && page < 10_000; page++) {
            const res = await this.request('GET', next, { accept: 'application/json' });
            if (res.status === 404) {
                await res.arrayBuffer();
                return tags;
            }
            await this.expectOk(res, `list the tags of ${this.repository}`);
            const body = (await res.json());
            tags.push(...(body.tags ?? []));
            const link = res.headers.get('link');
            const m = link ? /<([^>]+)>\s*;\s*rel="?next"?/.exec(link) : null;
            next = m ? new URL(m[1], `${this.base}/`).toString() : undefined;
        }
        return tags;
    }
    async expectOk(res, what) {
        if (res.ok)
            return;
        const text = (await res.text()).slice(0, 300).trim();
        const hint = res.status === 401 || res.status === 403
            ? ': the registry refused the credential; run "docker login" for it (or set DOCKER_CONFIG)'
            : res.status === 405 && what.startsWith('delete')
                ? ': the registry does not allow deletes (for docker-registry set storage.delete.enabled: true)'
                : '';
        throw new errors/* ConfigurationError */.j1(`hoist cache prune: could not ${what} (HTTP ${res.status}${text ? `: ${text}` : ''})${hint}`);
    }
    /** The digest a tag points to: HEAD with every manifest type accepted. */
    async manifestDigest(tag) {
        const res = await this.request('HEAD', `/v2/${this.repository}/manifests/${tag}`, {
            accept: MANIFEST_ACCEPT,
        });
        await this.expectOk(res, `read the manifest of ${this.repository}:${tag}`);
        const digest = res.headers.get('docker-content-digest');
        if (digest)
            return digest;
        // Some registries answer HEAD without the header: hash the manifest itself.
        const get = await this.request('GET', `/v2/${this.repository}/manifests/${tag}`, {
            accept: MANIFEST_ACCEPT,
        });
        await this.expectOk(get, `read the manifest of ${this.repository}:${tag}`);
        return `sha256:${(0,external_node_crypto_.createHash)('sha256')
            .update(Buffer.from(await get.arrayBuffer()))
            .digest('hex')}`;
    }
    async getJson(path, accept, what) {
        const res = await this.request('GET', path, { accept });
        await this.expectOk(res, what);
        return res.json();
    }
    async deleteManifest(digest) {
        const res = await this.request('DELETE', `/v2/${this.repository}/manifests/${digest}`);
        await this.expectOk(res, `delete ${this.repository}@${digest}`);
        await res.arrayBuffer();
    }
}
function validDate(raw) {
    if (!raw)
        return undefined;
    const d = new Date(raw);
    return Number.isNaN(d.getTime()) ? undefined : d;
}
/**
 * When a cache was written: the manifest's (or its config descriptor's) created annotation,
 * else the newest `buildkit/createdat` of its layers, else the image config's `created`.
 */
async function cacheAge(client, digest) {
    const path = `/v2/${client.repository}/manifests/${digest}`;
    const manifest = (await client.getJson(path, MANIFEST_ACCEPT, `read ${client.repository}@${digest}`));
    const annotated = validDate(manifest.annotations?.[CREATED_ANNOTATION]) ??
        validDate(manifest.config?.annotations?.[CREATED_ANNOTATION]);
    if (annotated)
        return { created: annotated, createdFrom: 'annotation' };
    const stamps = [...(manifest.layers ?? []), ...(manifest.manifests ?? [])]
        .map((d) => validDate(d.annotations?.[BUILDKIT_CREATED_ANNOTATION]))
        .filter((d) => d !== undefined);
    if (stamps.length > 0) {
        return {
            created: new Date(Math.max(...stamps.map((d) => d.getTime()))),
            createdFrom: 'buildkit/createdat',
        };
    }
    let config = manifest.config;
    if (!config && manifest.manifests?.length) {
        // An image index: the first image's config tells its age.
        const inner = manifest.manifests.find((m) => m.mediaType?.includes('manifest'));
        if (inner?.digest) {
            const child = (await client.getJson(`/v2/${client.repository}/manifests/${inner.digest}`, MANIFEST_ACCEPT, `read ${client.repository}@${inner.digest}`));
            config = child.config;
        }
    }
    if (config?.digest && /image\.config|container\.image/.test(config.mediaType ?? '')) {
        const blob = (await client.getJson(`/v2/${client.repository}/blobs/${config.digest}`, '*/*', `read the image config ${config.digest}`));
        const created = validDate(blob.created);
        if (created)
            return { created, createdFrom: 'image config' };
        return { unknownAge: 'the image config has no created date' };
    }
    return { unknownAge: 'no created annotation, no buildkit/createdat and no image config' };
}
/** Lists, judges and (unless dry-run) deletes; prints one table. */
async function pruneCache(opts, io) {
    const { host, repository } = parseRegistryRef(opts.ref);
    const credential = await readDockerCredential(opts.dockerConfigDir ?? (0,external_node_path_.join)((0,external_node_os_.homedir)(), '.docker'), host);
    const client = new RegistryClient(host, repository, opts.insecure, credential);
    const tags = [];
    for (const tag of await client.listTags()) {
        const digest = await client.manifestDigest(tag);
        tags.push({ tag, digest, ...(await cacheAge(client, digest)) });
    }
    const decisions = decidePrune(tags, opts);
    const deleted = [];
    const doneDigests = new Set();
    for (const d of decisions) {
        if (d.action !== 'delete' || opts.dryRun)
            continue;
        if (!doneDigests.has(d.digest))
            await client.deleteManifest(d.digest);
        doneDigests.add(d.digest);
        deleted.push(d.tag);
    }
    const verb = opts.dryRun ? 'would delete' : 'deleted';
    io.stdout.write(decisions.length === 0
        ? `${opts.ref} has no tags\n`
        : (0,flags/* renderTable */.bo)(['TAG', 'DIGEST', 'CREATED', 'ACTION'], decisions.map((d) => [
            d.tag,
            d.digest.slice(0, 19),
            d.created?.toISOString(),
            d.action === 'delete' ? `${verb}: ${d.reason}` : `keep: ${d.reason}`,
        ])));
    const count = decisions.filter((d) => d.action === 'delete').length;
    io.stdout.write(`${opts.dryRun ? `dry run: would delete ${count}` : `deleted ${deleted.length}`} of ${decisions.length} tags\n`);
    return { decisions, deleted };
}
/** `hoist cache SUBCOMMAND`; returns the exit code. */
async function runCache(argv, io) {
    const [sub, ...rest] = argv;
    if (sub === undefined || sub === '--help' || sub === '-h' || sub === 'help') {
        io.stdout.write(CACHE_HELP);
        return sub === undefined ? 2 : 0;
    }
    if (sub !== 'prune') {
        throw new errors/* ConfigurationError */.j1(`hoist cache: unknown subcommand "${sub}"; expected: prune`);
    }
    if (rest.includes('--help') || rest.includes('-h')) {
        io.stdout.write(CACHE_HELP);
        return 0;
    }
    const { values, positionals } = (0,flags/* parseFlags */.bQ)('hoist cache prune', rest, {
        ref: 'string',
        keep: 'list',
        'default-branch': 'string',
        'older-than': 'string',
        'dry-run': 'bool',
        insecure: 'bool',
    });
    if (positionals.length)
        throw new errors/* ConfigurationError */.j1(`hoist cache prune: unexpected argument "${positionals[0]}"`);
    const ref = values.ref;
    if (!ref) {
        throw new errors/* ConfigurationError */.j1('hoist cache prune: --ref is required: the registry repository of the cache, as given to the build-push input fallback-cache (e.g. --ref ghcr.io/acme/app-cache)');
    }
    const olderThanRaw = values['older-than'] ?? '14d';
    const olderThanMs = (0,duration/* parseDurationMs */.y)(olderThanRaw);
    if (olderThanMs === undefined) {
        throw new errors/* ConfigurationError */.j1(`hoist cache prune: --older-than takes a duration such as 14d, 36h or 90m; got "${olderThanRaw}"`);
    }
    const defaultBranch = values['default-branch'] ?? 'main';
    if (!defaultBranch)
        throw new errors/* ConfigurationError */.j1('hoist cache prune: --default-branch must not be empty');
    await pruneCache({
        ref,
        keep: values.keep ?? [],
        defaultBranch,
        olderThanMs,
        dryRun: values['dry-run'] === true,
        insecure: values.insecure === true,
        now: new Date(),
        dockerConfigDir: io.env.DOCKER_CONFIG || (0,external_node_path_.join)((0,external_node_os_.homedir)(), '.docker'),
    }, io);
    return 0;
}


/***/ }),

/***/ 95377:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {

/* harmony export */ __webpack_require__.d(__webpack_exports__, {
/* harmony export */   bE: () => (/* binding */ parseExpiresIn),
/* harmony export */   bQ: () => (/* binding */ parseFlags),
/* harmony export */   bo: () => (/* binding */ renderTable)
/* harmony export */ });
/* harmony import */ var _lib_duration_js__WEBPACK_IMPORTED_MODULE_0__ = __webpack_require__(82543);
/* harmony import */ var _lib_errors_js__WEBPACK_IMPORTED_MODULE_1__ = __webpack_require__(97268);
/* harmony import */ var _lib_text_js__WEBPACK_IMPORTED_MODULE_2__ = __webpack_require__(79112);
// A small strict flag parser for the admin commands (`hoist build` has its own, buildx-compatible one).



/** Parses `--name value`, `--name=value`, bool `--name`, repeatable list flags. Pure. */
function parseFlags(command, argv, spec) {
    const values = {};
    const positionals = [];
    for (let i = 0; i < argv.length; i++) {
        const arg = argv[i];
        if (arg === '--') {
            positionals.push(...argv.slice(i + 1));
            break;
        }
        if (!arg.startsWith('--') || arg === '--') {
            if (arg.startsWith('-') && arg.length > 1) {
                throw new _lib_errors_js__WEBPACK_IMPORTED_MODULE_1__/* .ConfigurationError */ .j1(`${command}: unknown flag ${arg}; see "${command} --help"`);
            }
            positionals.push(arg);
            continue;
        }
        const eq = arg.indexOf('=');
        const name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
        const type = spec[name];
        if (!type) {
            const known = Object.keys(spec)
                .map((k) => `--${k}`)
                .join(', ');
            throw new _lib_errors_js__WEBPACK_IMPORTED_MODULE_1__/* .ConfigurationError */ .j1(`${command}: unknown flag --${name}${known ? ` (known: ${known})` : ''}`);
        }
        if (type === 'bool') {
            const raw = eq === -1 ? 'true' : arg.slice(eq + 1);
            if (raw !== 'true' && raw !== 'false') {
                throw new _lib_errors_js__WEBPACK_IMPORTED_MODULE_1__/* .ConfigurationError */ .j1(`${command}: --${name} takes true or false, got "${raw}"`);
            }
            values[name] = raw === 'true';
            continue;
        }
        let value;
        if (eq !== -1)
            value = arg.slice(eq + 1);
        else {
            if (i + 1 >= argv.length)
                throw new _lib_errors_js__WEBPACK_IMPORTED_MODULE_1__/* .ConfigurationError */ .j1(`${command}: --${name} needs a value`);
            value = argv[++i];
        }
        if (type === 'list')
            values[name] = [...(values[name] ?? []), value];
        else
            values[name] = value;
    }
    return { values, positionals };
}
/**
 * Renders rows as an aligned text table. Pure. Every cell has its control characters escaped:
 * cells hold what servers and builds wrote (a build's error), which must not drive the terminal.
 */
function renderTable(headers, rows) {
    const cells = [
        headers,
        ...rows.map((r) => r.map((c) => (c === null || c === undefined || c === '' ? '-' : (0,_lib_text_js__WEBPACK_IMPORTED_MODULE_2__/* .escapeControls */ .U)(String(c))))),
    ];
    const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
    return (cells
        .map((r) => r
        .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i])))
        .join('  ')
        .trimEnd())
        .join('\n') + '\n');
}
/** Parses "30d", "12h", "90m", "3600s" or plain seconds into whole seconds. */
function parseExpiresIn(raw) {
    const ms = (0,_lib_duration_js__WEBPACK_IMPORTED_MODULE_0__/* .parseDurationMs */ .y)(raw);
    return ms === undefined ? undefined : Math.round(ms / 1000);
}


/***/ })

};
;