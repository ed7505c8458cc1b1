#!/usr/bin/env node
import { createRequire as __WEBPACK_EXTERNAL_createRequire } from "module";
/******/ var __webpack_modules__ = ({

/***/ 70486:
/***/ ((module, __unused_webpack___webpack_exports__, __nccwpck_require__) => {

__nccwpck_require__.a(module, async (__webpack_handle_async_dependencies__, __webpack_async_result__) => { try {
/* harmony import */ var _main_js__WEBPACK_IMPORTED_MODULE_0__ = __nccwpck_require__(62220);

process.exitCode = await (0,_main_js__WEBPACK_IMPORTED_MODULE_0__/* .main */ .i)(process.argv.slice(2));

__webpack_async_result__();
} catch(e) { __webpack_async_result__(e); } }, 1);

/***/ }),

/***/ 62220:
/***/ ((__unused_webpack_module, __webpack_exports__, __nccwpck_require__) => {


// EXPORTS
__nccwpck_require__.d(__webpack_exports__, {
  i: () => (/* binding */ main)
});

// EXTERNAL MODULE: ./src/lib/errors.ts
var errors = __nccwpck_require__(97268);
;// CONCATENATED MODULE: external "node:readline"
const external_node_readline_namespaceObject = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:readline");
// EXTERNAL MODULE: external "node:stream"
var external_node_stream_ = __nccwpck_require__(57075);
;// CONCATENATED MODULE: ./src/lib/client.ts

/** A small typed client of the Hoist API; every failure becomes a HoistApiError with an actionable message. */
class HoistClient {
    apiUrl;
    token;
    timeoutMs;
    userAgent;
    constructor(opts) {
        this.apiUrl = normalizeApiUrl(opts.apiUrl);
        this.token = opts.token;
        this.timeoutMs = opts.timeoutMs ?? 30_000;
        this.userAgent = opts.userAgent ?? 'hoist-client';
    }
    withToken(token) {
        return new HoistClient({
            apiUrl: this.apiUrl,
            token,
            timeoutMs: this.timeoutMs,
            userAgent: this.userAgent,
        });
    }
    async request(method, path, body) {
        const url = `${this.apiUrl}${path}`;
        const headers = { 'user-agent': this.userAgent, accept: 'application/json' };
        if (this.token)
            headers.authorization = `Bearer ${this.token}`;
        if (body !== undefined)
            headers['content-type'] = 'application/json';
        let res;
        try {
            res = await fetch(url, {
                method,
                headers,
                body: body === undefined ? undefined : JSON.stringify(body),
                signal: AbortSignal.timeout(this.timeoutMs),
            });
        }
        catch (err) {
            const cause = err instanceof Error && err.cause ? `: ${(0,errors/* errorMessage */.gJ)(err.cause)}` : `: ${(0,errors/* errorMessage */.gJ)(err)}`;
            throw new errors/* HoistApiError */.Yg(0, 'unreachable', `cannot reach the Hoist server at ${this.apiUrl}${cause}. Check the API URL (--api-url or HOIST_API_URL) and that the server is running.`);
        }
        const text = await res.text();
        let parsed = undefined;
        if (text) {
            try {
                parsed = JSON.parse(text);
            }
            catch {
                parsed = undefined;
            }
        }
        if (!res.ok) {
            const e = parsed?.error;
            throw new errors/* HoistApiError */.Yg(res.status, e?.code ?? `http_${res.status}`, e?.message ?? `${method} ${path} answered HTTP ${res.status}${text ? `: ${text.slice(0, 200)}` : ''}`);
        }
        return parsed;
    }
    exchangeGithubOidc(req) {
        return this.request('POST', '/v1/auth/github-oidc', req);
    }
    /** Resolves a version spec; `target` picks the tarball for another OS/arch than the server's own. */
    cliRelease(spec, target) {
        const query = target
            ? `?os=${encodeURIComponent(target.os)}&arch=${encodeURIComponent(target.arch)}`
            : '';
        return this.request('GET', `/v1/cli/releases/${encodeURIComponent(spec)}${query}`);
    }
    createBuild(req) {
        return this.request('POST', '/v1/builds', req);
    }
    builder(buildId, platform) {
        return this.request('GET', `/v1/builds/${encodeURIComponent(buildId)}/builders/${encodeURIComponent(platform)}`);
    }
    heartbeat(buildId) {
        return this.request('POST', `/v1/builds/${encodeURIComponent(buildId)}/heartbeat`, {});
    }
    finishBuild(buildId, req) {
        return this.request('POST', `/v1/builds/${encodeURIComponent(buildId)}/finish`, req);
    }
    getBuild(buildId) {
        return this.request('GET', `/v1/builds/${encodeURIComponent(buildId)}`);
    }
    /** What the client's token is; any valid token may ask. */
    whoami() {
        return this.request('GET', '/v1/auth/whoami');
    }
    // ---- admin (used by the CLI's admin commands) ----
    listProjects() {
        return this.request('GET', '/v1/projects');
    }
    createProject(req) {
        return this.request('POST', '/v1/projects', req);
    }
    /** By id or name. */
    getProject(project) {
        return this.request('GET', `/v1/projects/${encodeURIComponent(project)}`);
    }
    deleteProject(project) {
        return this.request('DELETE', `/v1/projects/${encodeURIComponent(project)}`);
    }
    createProjectToken(project, req) {
        return this.request('POST', `/v1/projects/${encodeURIComponent(project)}/tokens`, req);
    }
    listProjectTokens(project) {
        return this.request('GET', `/v1/projects/${encodeURIComponent(project)}/tokens`);
    }
    revokeProjectToken(project, tokenId) {
        return this.request('DELETE', `/v1/projects/${encodeURIComponent(project)}/tokens/${encodeURIComponent(tokenId)}`);
    }
    addTrustPolicy(project, req) {
        return this.request('POST', `/v1/projects/${encodeURIComponent(project)}/trust-policies`, req);
    }
    listTrustPolicies(project) {
        return this.request('GET', `/v1/projects/${encodeURIComponent(project)}/trust-policies`);
    }
    removeTrustPolicy(project, policyId) {
        return this.request('DELETE', `/v1/projects/${encodeURIComponent(project)}/trust-policies/${encodeURIComponent(policyId)}`);
    }
    listBuilds(query = {}) {
        const qs = new URLSearchParams();
        if (query.project)
            qs.set('project', query.project);
        if (query.limit)
            qs.set('limit', String(query.limit));
        const q = qs.toString();
        return this.request('GET', `/v1/builds${q ? `?${q}` : ''}`);
    }
}
function normalizeApiUrl(raw) {
    const trimmed = raw.trim().replace(/\/+$/, '');
    let u;
    try {
        u = new URL(trimmed);
    }
    catch {
        throw new errors/* HoistApiError */.Yg(0, 'bad_api_url', `"${raw}" is not a valid Hoist API URL; expected e.g. https://hoist.example.com`);
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') {
        throw new errors/* HoistApiError */.Yg(0, 'bad_api_url', `the Hoist API URL must be http(s), got "${raw}"`);
    }
    return trimmed;
}

// EXTERNAL MODULE: external "node:fs/promises"
var promises_ = __nccwpck_require__(51455);
// EXTERNAL MODULE: external "node:os"
var external_node_os_ = __nccwpck_require__(48161);
// EXTERNAL MODULE: external "node:path"
var external_node_path_ = __nccwpck_require__(76760);
;// CONCATENATED MODULE: ./src/cli/config.ts
// The I/O that feeds resolve.ts: the user config file, hoist.json files, GitHub Actions' ID token.




/** HOIST_CONFIG, else $XDG_CONFIG_HOME/hoist/config.json, else ~/.config/hoist/config.json. */
function configPath(env) {
    if (env.HOIST_CONFIG)
        return (0,external_node_path_.resolve)(env.HOIST_CONFIG);
    const base = env.XDG_CONFIG_HOME || (0,external_node_path_.join)(env.HOME || (0,external_node_os_.homedir)(), '.config');
    return (0,external_node_path_.join)(base, 'hoist', 'config.json');
}
/** Reads the config file; a file others can read is refused, since it holds a token. */
async function readUserConfig(path) {
    let mode;
    try {
        mode = (await (0,promises_.stat)(path)).mode;
    }
    catch (err) {
        if (err.code === 'ENOENT')
            return { state: 'absent', path };
        return { state: 'error', path, problem: `cannot read ${path}: ${(0,errors/* errorMessage */.gJ)(err)}` };
    }
    if (mode & 0o077) {
        return {
            state: 'error',
            path,
            problem: `${path} holds a token but has mode ${(mode & 0o777).toString(8)}; run "chmod 600 ${path}"`,
        };
    }
    try {
        const parsed = JSON.parse(await (0,promises_.readFile)(path, 'utf8'));
        if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) {
            return { state: 'error', path, problem: `${path} is not a JSON object; run "hoist login" again` };
        }
        const o = parsed;
        const config = {};
        if (typeof o.api_url === 'string')
            config.api_url = o.api_url;
        if (typeof o.token === 'string')
            config.token = o.token;
        return { state: 'ok', path, config };
    }
    catch (err) {
        return {
            state: 'error',
            path,
            problem: `${path} is not valid JSON (${(0,errors/* errorMessage */.gJ)(err)}); run "hoist login" again`,
        };
    }
}
/** Writes the config file with mode 0600 (atomically, via a 0600 temp file) in a 0700 directory. */
async function writeUserConfig(path, config) {
    await (0,promises_.mkdir)((0,external_node_path_.dirname)(path), { recursive: true, mode: 0o700 });
    const tmp = `${path}.${process.pid}.tmp`;
    // a new file (wx), so the token is never written into a leftover file with looser permissions
    await (0,promises_.rm)(tmp, { force: true });
    try {
        await (0,promises_.writeFile)(tmp, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
        await (0,promises_.chmod)(tmp, 0o600); // the umask may have taken bits off, never added any
        await (0,promises_.rename)(tmp, path);
    }
    catch (err) {
        await (0,promises_.rm)(tmp, { force: true });
        throw err;
    }
}
/** The nearest hoist.json at or above `startDir`, with the project it names. */
async function findHoistJson(startDir) {
    let dir = (0,external_node_path_.resolve)(startDir);
    const root = (0,external_node_path_.parse)(dir).root;
    for (;;) {
        const path = (0,external_node_path_.join)(dir, 'hoist.json');
        let text;
        try {
            text = await (0,promises_.readFile)(path, 'utf8');
        }
        catch (err) {
            const code = err.code;
            if (code !== 'ENOENT' && code !== 'ENOTDIR')
                return { path, problem: (0,errors/* errorMessage */.gJ)(err) };
        }
        if (text !== undefined) {
            try {
                const o = JSON.parse(text);
                if (typeof o?.project === 'string' && o.project.trim())
                    return { path, project: o.project.trim() };
                return { path, problem: 'it has no "project" string, e.g. {"project": "my-app"}' };
            }
            catch (err) {
                return { path, problem: `not valid JSON (${(0,errors/* errorMessage */.gJ)(err)})` };
            }
        }
        if (dir === root)
            return undefined;
        dir = (0,external_node_path_.dirname)(dir);
    }
}
/**
 * Asks the Actions runtime for an ID token, the way @actions/core's getIDToken does:
 * GET $ACTIONS_ID_TOKEN_REQUEST_URL&audience=AUD with the request token as a bearer.
 */
async function fetchGithubIdToken(env, audience, timeoutMs = 15_000) {
    const url = env.ACTIONS_ID_TOKEN_REQUEST_URL;
    const bearer = env.ACTIONS_ID_TOKEN_REQUEST_TOKEN;
    if (!url || !bearer) {
        throw new errors/* ConfigurationError */.j1('GitHub Actions OIDC is not available: add `permissions: id-token: write` to the workflow or job');
    }
    const full = `${url}${url.includes('?') ? '&' : '?'}audience=${encodeURIComponent(audience)}`;
    let lastError = '';
    for (let attempt = 0; attempt < 3; attempt++) {
        try {
            const res = await fetch(full, {
                headers: { authorization: `Bearer ${bearer}`, accept: 'application/json; api-version=2.0' },
                signal: AbortSignal.timeout(timeoutMs),
            });
            const text = await res.text();
            if (res.ok) {
                const value = JSON.parse(text).value;
                if (typeof value === 'string' && value)
                    return value;
                lastError = 'the answer has no "value"';
            }
            else {
                lastError = `HTTP ${res.status}`;
                if (res.status < 500 && res.status !== 429)
                    break;
            }
        }
        catch (err) {
            lastError = (0,errors/* errorMessage */.gJ)(err);
        }
        await new Promise((r) => setTimeout(r, 200 * 2 ** attempt));
    }
    throw new errors/* ConfigurationError */.j1(`cannot get a GitHub Actions ID token: ${lastError}`);
}

;// CONCATENATED MODULE: ./src/lib/duration.ts
const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
/**
 * A duration as Go (and so buildx) writes it, plus days: "250ms", "90s", "10m", "1h30m", "30d".
 * A plain number is seconds. Returns milliseconds, or undefined for anything else (negative,
 * trailing words, unknown units).
 */
function parseDurationMs(raw) {
    const s = raw.trim();
    if (/^\d+(\.\d+)?$/.test(s))
        return Math.round(Number(s) * 1000);
    const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/gy;
    let total = 0;
    let matched = 0;
    for (let m = re.exec(s); m; m = re.exec(s)) {
        total += Number(m[1]) * UNIT_MS[m[2]];
        matched = re.lastIndex;
    }
    if (matched === 0 || matched !== s.length)
        return undefined;
    return Math.round(total);
}

;// CONCATENATED MODULE: ./src/cli/flags.ts
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
                throw new errors/* ConfigurationError */.j1(`${command}: unknown flag ${arg}; see "${command} --help"`);
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
            throw new errors/* ConfigurationError */.j1(`${command}: unknown flag --${name}${known ? ` (known: ${known})` : ''}`);
        }
        if (type === 'bool') {
            const raw = eq === -1 ? 'true' : arg.slice(eq + 1);
            if (raw !== 'true' && raw !== 'false') {
                throw new errors/* ConfigurationError */.j1(`${command}: --${name} takes true or false, got "${raw}"`);
            }
            values[name] = raw === 'true';
            continue;
        }
        let value;
        if (eq !== -1)
            value = arg.slice(eq + 1);
        else {
            if (i + 1 >= argv.length)
                throw new errors/* ConfigurationError */.j1(`${command}: --${name} needs a value`);
            value = argv[++i];
        }
        if (type === 'list')
            values[name] = [...(values[name] ?? []), value];
        else
            values[name] = value;
    }
    return { values, positionals };
}
/** Renders rows as an aligned text table. Pure. */
function renderTable(headers, rows) {
    const cells = [
        headers,
        ...rows.map((r) => r.map((c) => (c === null || c === undefined || c === '' ? '-' : String(c)))),
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
    const ms = parseDurationMs(raw);
    return ms === undefined ? undefined : Math.round(ms / 1000);
}

;// CONCATENATED MODULE: ./src/cli/resolve.ts
// Where the API URL, the token and the project come from. Pure functions over the sources,
// table-tested in test/cli/resolve.test.ts; the I/O that gathers the sources lives in config.ts.
const nonEmpty = (s) => {
    const t = s?.trim();
    return t ? t : undefined;
};
function sameApiUrl(a, b) {
    const norm = (u) => u.trim().replace(/\/+$/, '').toLowerCase();
    return norm(a) === norm(b);
}
/** --api-url > HOIST_API_URL > the config file's api_url. */
function resolveApiUrl(s) {
    const flag = nonEmpty(s.flag);
    if (flag)
        return { ok: true, value: flag, source: '--api-url' };
    const env = nonEmpty(s.env);
    if (env)
        return { ok: true, value: env, source: 'HOIST_API_URL' };
    if (s.config.state === 'ok') {
        const fromConfig = nonEmpty(s.config.config.api_url);
        if (fromConfig)
            return { ok: true, value: fromConfig, source: s.config.path };
    }
    const why = s.config.state === 'error' ? ` (${s.config.problem})` : '';
    return {
        ok: false,
        message: `no Hoist API URL: pass --api-url, set HOIST_API_URL, or run "hoist login --api-url URL"${why}.`,
    };
}
/** --token > HOIST_TOKEN > the config file (when saved for this API URL) > GitHub Actions OIDC. */
function resolveToken(s) {
    const flag = nonEmpty(s.flag);
    if (flag)
        return { ok: true, value: { kind: 'token', token: flag }, source: '--token' };
    const env = nonEmpty(s.env);
    if (env)
        return { ok: true, value: { kind: 'token', token: env }, source: 'HOIST_TOKEN' };
    const notes = [];
    if (s.config.state === 'ok') {
        const token = nonEmpty(s.config.config.token);
        const savedFor = nonEmpty(s.config.config.api_url);
        if (token && (!savedFor || sameApiUrl(savedFor, s.apiUrl))) {
            return { ok: true, value: { kind: 'token', token }, source: s.config.path };
        }
        if (token && savedFor) {
            notes.push(`the token in ${s.config.path} is for ${savedFor}, not ${s.apiUrl}`);
        }
    }
    else if (s.config.state === 'error') {
        notes.push(s.config.problem);
    }
    if (s.allowOidc && s.githubOidc) {
        return { ok: true, value: { kind: 'github-oidc' }, source: 'GitHub Actions OIDC' };
    }
    if (s.allowOidc && s.inGithubActions) {
        notes.push('this GitHub Actions job cannot request an OIDC token: add `permissions: id-token: write` to the workflow or job');
    }
    const how = s.allowOidc
        ? 'pass --token, set HOIST_TOKEN, run "hoist login", or run inside GitHub Actions with `permissions: id-token: write`'
        : 'pass --token, set HOIST_TOKEN, or run "hoist login"';
    return {
        ok: false,
        message: `no Hoist token: ${how}${notes.length ? ` (${notes.join('; ')})` : ''}.`,
    };
}
/** --project > HOIST_PROJECT_ID > hoist.json (context dir, then Dockerfile dir); warns on disagreement. */
function resolveProject(s) {
    const candidates = [];
    const warnings = [];
    const flag = nonEmpty(s.flag);
    if (flag)
        candidates.push({ value: flag, source: '--project' });
    const env = nonEmpty(s.env);
    if (env)
        candidates.push({ value: env, source: 'HOIST_PROJECT_ID' });
    const files = [s.fromContext, s.fromDockerfile].filter((f) => f !== undefined);
    const seen = new Set();
    for (const f of files) {
        if (seen.has(f.path))
            continue;
        seen.add(f.path);
        if (f.problem) {
            warnings.push(`ignoring ${f.path}: ${f.problem}`);
            continue;
        }
        const p = nonEmpty(f.project);
        if (p)
            candidates.push({ value: p, source: f.path });
    }
    const chosen = candidates[0];
    if (!chosen)
        return { warnings };
    for (const other of candidates.slice(1)) {
        if (other.value !== chosen.value) {
            warnings.push(`project "${chosen.value}" from ${chosen.source} differs from "${other.value}" in ${other.source}; using "${chosen.value}"`);
        }
    }
    return { project: chosen.value, source: chosen.source, warnings };
}

;// CONCATENATED MODULE: ./package.json
const package_namespaceObject = {"rE":"0.1.0"};
;// CONCATENATED MODULE: ./src/cli/version.ts

/** The CLI's version: package.json's, bundled at build time. */
const VERSION = package_namespaceObject.rE;

;// CONCATENATED MODULE: ./src/cli/admin.ts
// Admin commands: login, projects, tokens, trust, builds. Table output by default, --json for scripts.








const COMMON = { 'api-url': 'string', token: 'string', json: 'bool' };
const ADMIN_HELP = `Admin commands (an admin token, from --token, HOIST_TOKEN or "hoist login"):
  hoist login [--api-url URL] [--token TOKEN]     save the API URL and a token (read from stdin if omitted)
  hoist projects create NAME [--max-concurrent-builds N]
  hoist projects list | show PROJECT | delete PROJECT
  hoist tokens create --project P [--name NAME] [--expires-in 30d]
  hoist tokens list --project P | revoke TOKEN_ID --project P
  hoist trust add --project P --repo OWNER/NAME [--repository-id ID] [--owner-id ID]
                  [--ref GLOB]... [--environment ENV] [--workflow FILE] [--allow-pull-request-target]
  hoist trust list --project P | remove POLICY_ID --project P
  hoist builds list [--project P] [--limit N] | show BUILD_ID
Every admin command takes --api-url, --token and --json (prefer HOIST_TOKEN or "hoist login" to
--token: other users of the machine can read a flag in the process list).
`;
async function clientFor(values, env) {
    const config = await readUserConfig(configPath(env));
    const api = resolveApiUrl({
        flag: values['api-url'],
        env: env.HOIST_API_URL,
        config,
    });
    if (!api.ok)
        throw new errors/* ConfigurationError */.j1(api.message);
    const tok = resolveToken({
        flag: values.token,
        env: env.HOIST_TOKEN,
        config,
        apiUrl: api.value,
        githubOidc: false,
        allowOidc: false,
    });
    if (!tok.ok)
        throw new errors/* ConfigurationError */.j1(tok.message);
    if (tok.value.kind !== 'token')
        throw new errors/* ConfigurationError */.j1('admin commands need a token');
    return new HoistClient({ apiUrl: api.value, token: tok.value.token, userAgent: `hoist-cli/${VERSION}` });
}
function projectOf(values, env, command) {
    const p = values.project ?? env.HOIST_PROJECT_ID;
    if (!p)
        throw new errors/* ConfigurationError */.j1(`${command}: --project is required (a project id or name), or set HOIST_PROJECT_ID`);
    return p;
}
function one(positionals, what, command) {
    if (positionals.length !== 1) {
        throw new errors/* ConfigurationError */.j1(`${command}: expected exactly one ${what}, got ${positionals.length}`);
    }
    return positionals[0];
}
/**
 * One line from stdin: piped, or typed at a terminal without echo (readline in terminal mode
 * echoes into a stream that drops it), so the token stays off the screen and the scrollback.
 */
async function readSecretLine(io, prompt) {
    const tty = Boolean(io.stdin.isTTY);
    if (tty)
        io.stderr.write(prompt);
    const muted = new external_node_stream_.Writable({ write: (_chunk, _enc, done) => done() });
    const rl = (0,external_node_readline_namespaceObject.createInterface)({ input: io.stdin, output: muted, terminal: tty });
    try {
        return await new Promise((resolveLine, reject) => {
            rl.once('line', (line) => resolveLine(line.trim()));
            rl.once('close', () => resolveLine(''));
            rl.once('SIGINT', () => reject(new errors/* ConfigurationError */.j1('hoist login: canceled')));
        });
    }
    finally {
        rl.close();
        if (tty)
            io.stderr.write('\n');
    }
}
const projectRow = (p) => [
    p.id,
    p.name,
    p.max_concurrent_builds ?? 'unlimited',
    p.created_at,
];
const tokenRow = (t) => [
    t.id,
    t.name,
    t.kind,
    t.created_at,
    t.expires_at,
    t.last_used_at,
    t.revoked_at ? `revoked ${t.revoked_at}` : 'active',
];
const policyRow = (p) => [
    p.id,
    p.repository,
    p.repository_id,
    p.repository_owner_id,
    p.refs.length ? p.refs.join(',') : '*',
    p.environment,
    p.workflow,
    p.allow_pull_request_target ? 'yes' : 'no',
];
const buildRow = (b) => [
    b.id,
    b.project_id,
    b.status,
    b.platforms.join(','),
    b.queued_at,
    b.acquired_at,
    b.finished_at,
    b.error,
];
const HEAD = {
    project: ['ID', 'NAME', 'MAX BUILDS/BUILDER', 'CREATED'],
    token: ['ID', 'NAME', 'KIND', 'CREATED', 'EXPIRES', 'LAST USED', 'STATE'],
    policy: ['ID', 'REPOSITORY', 'REPO ID', 'OWNER ID', 'REFS', 'ENVIRONMENT', 'WORKFLOW', 'PR TARGET'],
    build: ['ID', 'PROJECT', 'STATUS', 'PLATFORMS', 'QUEUED', 'ACQUIRED', 'FINISHED', 'ERROR'],
};
/** Runs one admin command; returns the exit code. `group` is e.g. "projects". */
async function runAdmin(group, argv, io) {
    const { env } = io;
    const [sub, ...rest] = argv;
    const out = (json, data, table) => {
        io.stdout.write(json ? `${JSON.stringify(data, null, 2)}\n` : table());
    };
    const cmd = `hoist ${group}${sub && group !== 'login' ? ` ${sub}` : ''}`;
    if (sub === '--help' || sub === '-h' || sub === 'help') {
        io.stdout.write(ADMIN_HELP);
        return 0;
    }
    if (group === 'login') {
        const { values, positionals } = parseFlags('hoist login', argv, { 'api-url': 'string', token: 'string' });
        if (positionals.length)
            throw new errors/* ConfigurationError */.j1(`hoist login: unexpected argument "${positionals[0]}"`);
        const path = configPath(env);
        const current = await readUserConfig(path);
        const api = resolveApiUrl({
            flag: values['api-url'],
            env: env.HOIST_API_URL,
            config: current,
        });
        if (!api.ok)
            throw new errors/* ConfigurationError */.j1('hoist login: --api-url is required, e.g. --api-url https://hoist.example.com');
        const apiUrl = normalizeApiUrl(api.value);
        const token = values.token ?? (await readSecretLine(io, 'Hoist token: '));
        if (!token)
            throw new errors/* ConfigurationError */.j1('hoist login: no token given; pass --token or pipe it on stdin');
        const client = new HoistClient({ apiUrl, token, userAgent: `hoist-cli/${VERSION}` });
        try {
            await client.whoami();
        }
        catch (err) {
            throw new errors/* ConfigurationError */.j1(`hoist login: the server did not accept this token: ${(0,errors/* errorMessage */.gJ)(err)}`);
        }
        await writeUserConfig(path, { api_url: apiUrl, token });
        io.stderr.write(`hoist: saved the API URL and token for ${apiUrl} to ${path} (mode 0600)\n`);
        return 0;
    }
    switch (`${group} ${sub ?? ''}`) {
        case 'projects create': {
            const { values, positionals } = parseFlags(cmd, rest, { ...COMMON, 'max-concurrent-builds': 'string' });
            const name = one(positionals, 'project name', cmd);
            const max = values['max-concurrent-builds'];
            if (max !== undefined && !/^\d+$/.test(max)) {
                throw new errors/* ConfigurationError */.j1(`${cmd}: --max-concurrent-builds takes a whole number, got "${max}"`);
            }
            const client = await clientFor(values, env);
            const p = await client.createProject({
                name,
                ...(max !== undefined ? { max_concurrent_builds: Number(max) } : {}),
            });
            out(Boolean(values.json), p, () => renderTable(HEAD.project, [projectRow(p)]));
            return 0;
        }
        case 'projects list': {
            const { values, positionals } = parseFlags(cmd, rest, COMMON);
            if (positionals.length)
                throw new errors/* ConfigurationError */.j1(`${cmd}: unexpected argument "${positionals[0]}"`);
            const { projects } = await (await clientFor(values, env)).listProjects();
            out(Boolean(values.json), projects, () => renderTable(HEAD.project, projects.map(projectRow)));
            return 0;
        }
        case 'projects show': {
            const { values, positionals } = parseFlags(cmd, rest, COMMON);
            const id = one(positionals, 'project id or name', cmd);
            const p = await (await clientFor(values, env)).getProject(id);
            out(Boolean(values.json), p, () => renderTable(HEAD.project, [projectRow(p)]));
            return 0;
        }
        case 'projects delete': {
            const { values, positionals } = parseFlags(cmd, rest, COMMON);
            const id = one(positionals, 'project id or name', cmd);
            await (await clientFor(values, env)).deleteProject(id);
            out(Boolean(values.json), { deleted: id }, () => `deleted project ${id}\n`);
            return 0;
        }
        case 'tokens create': {
            const { values, positionals } = parseFlags(cmd, rest, {
                ...COMMON,
                project: 'string',
                name: 'string',
                'expires-in': 'string',
            });
            if (positionals.length)
                throw new errors/* ConfigurationError */.j1(`${cmd}: unexpected argument "${positionals[0]}"`);
            const project = projectOf(values, env, cmd);
            const rawExp = values['expires-in'];
            const expiresIn = rawExp === undefined ? undefined : parseExpiresIn(rawExp);
            if (rawExp !== undefined && expiresIn === undefined) {
                throw new errors/* ConfigurationError */.j1(`${cmd}: --expires-in takes e.g. 3600, 90m, 12h or 30d, got "${rawExp}"`);
            }
            const client = await clientFor(values, env);
            const t = await client.createProjectToken(project, {
                name: values.name ?? `cli-${new Date().toISOString().slice(0, 10)}`,
                ...(expiresIn !== undefined ? { expires_in: expiresIn } : {}),
            });
            if (values.json)
                out(true, t, () => '');
            else {
                io.stdout.write(renderTable(HEAD.token, [tokenRow(t)]));
                io.stderr.write('The token is shown once; store it as a secret:\n');
                io.stdout.write(`${t.token}\n`);
            }
            return 0;
        }
        case 'tokens list': {
            const { values, positionals } = parseFlags(cmd, rest, { ...COMMON, project: 'string' });
            if (positionals.length)
                throw new errors/* ConfigurationError */.j1(`${cmd}: unexpected argument "${positionals[0]}"`);
            const project = projectOf(values, env, cmd);
            const { tokens } = await (await clientFor(values, env)).listProjectTokens(project);
            out(Boolean(values.json), tokens, () => renderTable(HEAD.token, tokens.map(tokenRow)));
            return 0;
        }
        case 'tokens revoke': {
            const { values, positionals } = parseFlags(cmd, rest, { ...COMMON, project: 'string' });
            const id = one(positionals, 'token id', cmd);
            const project = projectOf(values, env, cmd);
            await (await clientFor(values, env)).revokeProjectToken(project, id);
            out(Boolean(values.json), { revoked: id }, () => `revoked token ${id}\n`);
            return 0;
        }
        case 'trust add': {
            const { values, positionals } = parseFlags(cmd, rest, {
                ...COMMON,
                project: 'string',
                repo: 'string',
                'repository-id': 'string',
                'owner-id': 'string',
                ref: 'list',
                environment: 'string',
                workflow: 'string',
                'allow-pull-request-target': 'bool',
            });
            if (positionals.length)
                throw new errors/* ConfigurationError */.j1(`${cmd}: unexpected argument "${positionals[0]}"`);
            const project = projectOf(values, env, cmd);
            const repo = values.repo;
            if (!repo || !/^[^/\s]+\/[^/\s]+$/.test(repo)) {
                throw new errors/* ConfigurationError */.j1(`${cmd}: --repo OWNER/NAME is required, e.g. --repo octo-org/app${repo ? ` (got "${repo}")` : ''}`);
            }
            for (const f of ['repository-id', 'owner-id']) {
                const v = values[f];
                if (v !== undefined && !/^\d+$/.test(v)) {
                    throw new errors/* ConfigurationError */.j1(`${cmd}: --${f} takes GitHub's numeric id, got "${v}"`);
                }
            }
            const req = { provider: 'github', repository: repo };
            if (values['repository-id'])
                req.repository_id = values['repository-id'];
            if (values['owner-id'])
                req.repository_owner_id = values['owner-id'];
            if (values.ref)
                req.refs = values.ref;
            if (values.environment)
                req.environment = values.environment;
            if (values.workflow)
                req.workflow = values.workflow;
            if (values['allow-pull-request-target'])
                req.allow_pull_request_target = true;
            const p = await (await clientFor(values, env)).addTrustPolicy(project, req);
            out(Boolean(values.json), p, () => renderTable(HEAD.policy, [policyRow(p)]));
            return 0;
        }
        case 'trust list': {
            const { values, positionals } = parseFlags(cmd, rest, { ...COMMON, project: 'string' });
            if (positionals.length)
                throw new errors/* ConfigurationError */.j1(`${cmd}: unexpected argument "${positionals[0]}"`);
            const project = projectOf(values, env, cmd);
            const { trust_policies } = await (await clientFor(values, env)).listTrustPolicies(project);
            out(Boolean(values.json), trust_policies, () => renderTable(HEAD.policy, trust_policies.map(policyRow)));
            return 0;
        }
        case 'trust remove': {
            const { values, positionals } = parseFlags(cmd, rest, { ...COMMON, project: 'string' });
            const id = one(positionals, 'trust policy id', cmd);
            const project = projectOf(values, env, cmd);
            await (await clientFor(values, env)).removeTrustPolicy(project, id);
            out(Boolean(values.json), { removed: id }, () => `removed trust policy ${id}\n`);
            return 0;
        }
        case 'builds list': {
            const { values, positionals } = parseFlags(cmd, rest, {
                ...COMMON,
                project: 'string',
                limit: 'string',
            });
            if (positionals.length)
                throw new errors/* ConfigurationError */.j1(`${cmd}: unexpected argument "${positionals[0]}"`);
            const limit = values.limit;
            if (limit !== undefined && !/^[1-9]\d*$/.test(limit)) {
                throw new errors/* ConfigurationError */.j1(`${cmd}: --limit takes a positive whole number, got "${limit}"`);
            }
            const project = values.project ?? env.HOIST_PROJECT_ID;
            const { builds } = await (await clientFor(values, env)).listBuilds({
                project,
                limit: limit ? Number(limit) : undefined,
            });
            out(Boolean(values.json), builds, () => renderTable(HEAD.build, builds.map(buildRow)));
            return 0;
        }
        case 'builds show': {
            const { values, positionals } = parseFlags(cmd, rest, COMMON);
            const id = one(positionals, 'build id', cmd);
            const b = await (await clientFor(values, env)).getBuild(id);
            out(Boolean(values.json), b, () => renderTable(HEAD.build, [buildRow(b)]));
            return 0;
        }
    }
    const subs = {
        projects: 'create, list, show, delete',
        tokens: 'create, list, revoke',
        trust: 'add, list, remove',
        builds: 'list, show',
    };
    io.stderr.write(sub === undefined
        ? `hoist ${group}: a subcommand is needed, one of: ${subs[group]}\n\n${ADMIN_HELP}`
        : `hoist ${group}: unknown subcommand "${sub}"; expected one of: ${subs[group]}\n`);
    return 2;
}

// EXTERNAL MODULE: external "node:child_process"
var external_node_child_process_ = __nccwpck_require__(31421);
// EXTERNAL MODULE: external "node:fs"
var external_node_fs_ = __nccwpck_require__(73024);
;// CONCATENATED MODULE: ./src/cli/buildx.ts
// Running buildx: as `docker buildx` (the plugin) or as a standalone `buildx` binary.





/** Where the docker CLI looks for plugins (docker/cli's defaults), user dir first. */
function pluginDirs(env) {
    const home = env.HOME || (0,external_node_os_.homedir)();
    return [
        (0,external_node_path_.join)(env.DOCKER_CONFIG || (0,external_node_path_.join)(home, '.docker'), 'cli-plugins'),
        '/usr/local/lib/docker/cli-plugins',
        '/usr/local/libexec/docker/cli-plugins',
        '/usr/lib/docker/cli-plugins',
        '/usr/libexec/docker/cli-plugins',
    ];
}
function executable(path) {
    try {
        (0,external_node_fs_.accessSync)(path, external_node_fs_.constants.X_OK);
        return (0,external_node_fs_.statSync)(path).isFile();
    }
    catch {
        return false;
    }
}
/** The first executable `name` on PATH, without spawning anything. */
function onPath(name, env) {
    for (const dir of (env.PATH ?? '').split(external_node_path_.delimiter)) {
        if (!dir)
            continue;
        const candidate = (0,external_node_path_.join)(dir, name);
        if (executable(candidate))
            return candidate;
    }
    return undefined;
}
/** Runs a program to completion, capturing its output. */
function capture(file, args, env) {
    return new Promise((resolveP) => {
        let stdout = '';
        let stderr = '';
        let child;
        try {
            child = (0,external_node_child_process_.spawn)(file, args, { env: env, stdio: ['ignore', 'pipe', 'pipe'] });
        }
        catch (err) {
            resolveP({ code: 127, stdout, stderr, spawnError: err });
            return;
        }
        child.stdout.setEncoding('utf8').on('data', (d) => (stdout += d));
        child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
        child.on('error', (err) => resolveP({ code: 127, stdout, stderr, spawnError: err }));
        child.on('close', (code, signal) => resolveP({ code: code ?? 128 + signalNumber(signal), stdout, stderr }));
    });
}
function signalNumber(signal) {
    return ({ SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGTERM: 15 }[signal ?? ''] ??
        1);
}
const BUILDX_INSTALL_HINT = 'Install Docker Buildx: the "docker-buildx-plugin" package from Docker\'s repository (or Debian\'s "docker-buildx"), ' +
    'or download a release binary from https://github.com/docker/buildx/releases to ~/.docker/cli-plugins/docker-buildx ' +
    'and chmod +x it. Or set HOIST_BUILDX to the path of a buildx binary.';
/**
 * Finds buildx: HOIST_BUILDX (a standalone binary), else `docker buildx`, else `docker-buildx` or
 * `buildx` on PATH. Throws a ConfigurationError saying how to install it.
 */
async function findBuildx(env) {
    const candidates = [];
    if (env.HOIST_BUILDX)
        candidates.push({ file: env.HOIST_BUILDX, prefix: [], display: env.HOIST_BUILDX });
    else {
        // fast path: docker on PATH and the buildx plugin where docker looks for it; no process started
        const docker = onPath('docker', env);
        const plugin = pluginDirs(env)
            .map((d) => (0,external_node_path_.join)(d, 'docker-buildx'))
            .find(executable);
        if (docker && plugin) {
            return {
                file: docker,
                prefix: ['buildx'],
                display: 'docker buildx',
                direct: { file: plugin, prefix: [] },
            };
        }
        candidates.push({ file: 'docker', prefix: ['buildx'], display: 'docker buildx' });
        candidates.push({ file: 'docker-buildx', prefix: [], display: 'docker-buildx' });
        candidates.push({ file: 'buildx', prefix: [], display: 'buildx' });
    }
    const problems = [];
    for (const c of candidates) {
        const r = await capture(c.file, [...c.prefix, 'version'], env);
        if (r.code === 0 && /buildx/i.test(r.stdout))
            return c;
        if (r.spawnError?.code === 'ENOENT')
            problems.push(`${c.file}: not found`);
        else
            problems.push(`${c.display} version: ${(r.stderr || r.stdout).trim().split('\n')[0] ?? `exit ${r.code}`}`);
    }
    throw new errors/* ConfigurationError */.j1(`docker buildx is not available (${problems.join('; ')}). ${BUILDX_INSTALL_HINT}`);
}
/** argv (after the buildx prefix) creating or appending one remote-driver node. Pure. */
function createBuilderArgs(builder, n, append) {
    const args = ['create', '--name', builder, '--node', n.node, '--driver', 'remote'];
    args.push('--driver-opt', `cacert=${n.cacert},cert=${n.cert},key=${n.key},servername=${n.serverName}`);
    if (n.platform)
        args.push('--platform', n.platform);
    if (append)
        args.push('--append');
    args.push(n.endpoint);
    return args;
}
/** A buildx builder name for a build id: `hoist-<id>`, restricted to what buildx accepts. */
function builderName(buildId) {
    return `hoist-${buildId.replace(/[^a-zA-Z0-9_.-]/g, '-')}`.slice(0, 63);
}

;// CONCATENATED MODULE: ./src/cli/build-argv.ts
// `hoist build` argv → Hoist's own options + the argv handed to `docker buildx build`.
// Pure: no I/O, so the whole mapping is tested by a table (test/cli/build-argv.test.ts).

/**
 * Every flag `docker buildx build` accepts (docker/buildx commands/build.go and the root's persistent
 * flags), which covers everything docker/build-push-action can produce. Hidden legacy flags are
 * included so that buildx, not Hoist, decides what they do.
 */
const BUILDX_BUILD_FLAGS = {
    'add-host': { kind: 'value' },
    allow: { kind: 'value' },
    annotation: { kind: 'value' },
    attest: { kind: 'value' },
    'build-arg': { kind: 'value' },
    'build-context': { kind: 'value' },
    'cache-from': { kind: 'value' },
    'cache-to': { kind: 'value' },
    call: { kind: 'value' },
    'cgroup-parent': { kind: 'value' },
    check: { kind: 'optional' },
    file: { kind: 'value', short: 'f' },
    iidfile: { kind: 'value' },
    label: { kind: 'value' },
    load: { kind: 'bool' },
    'metadata-file': { kind: 'value' },
    network: { kind: 'value' },
    'no-cache': { kind: 'bool' },
    'no-cache-filter': { kind: 'value' },
    output: { kind: 'value', short: 'o' },
    platform: { kind: 'value' },
    policy: { kind: 'value' },
    progress: { kind: 'value' },
    provenance: { kind: 'value' },
    pull: { kind: 'bool' },
    push: { kind: 'bool' },
    quiet: { kind: 'bool', short: 'q' },
    resource: { kind: 'value' },
    sbom: { kind: 'value' },
    secret: { kind: 'value' },
    'shm-size': { kind: 'value' },
    ssh: { kind: 'value' },
    tag: { kind: 'value', short: 't' },
    target: { kind: 'value' },
    ulimit: { kind: 'value' },
    // hidden / legacy, still accepted by buildx
    print: { kind: 'value' },
    memory: { kind: 'value', short: 'm' },
    'memory-swap': { kind: 'value' },
    'cpu-shares': { kind: 'value', short: 'c' },
    'cpu-period': { kind: 'value' },
    'cpu-quota': { kind: 'value' },
    'cpuset-cpus': { kind: 'value' },
    'cpuset-mems': { kind: 'value' },
    compress: { kind: 'bool' },
    isolation: { kind: 'value' },
    'security-opt': { kind: 'value' },
    squash: { kind: 'bool' },
    rm: { kind: 'bool' },
    'force-rm': { kind: 'bool' },
    // persistent flags of the buildx root command
    debug: { kind: 'bool', short: 'D' },
    timeout: { kind: 'value' },
};
/** Hoist's own flags; they are never passed to buildx. */
const HOIST_BUILD_FLAGS = ['project', 'token', 'api-url', 'build-platform', 'wait'];
function lookupLong(name, flags) {
    if (HOIST_BUILD_FLAGS.includes(name)) {
        return { name, hoist: true, spec: { kind: 'value' } };
    }
    if (name === 'builder')
        return { name, hoist: false, spec: { kind: 'value' } };
    const spec = flags[name];
    return spec ? { name, hoist: false, spec } : undefined;
}
function lookupShort(ch, flags) {
    for (const [name, spec] of Object.entries(flags)) {
        if (spec.short === ch)
            return { name, hoist: false, spec };
    }
    return undefined;
}
function parseBool(raw) {
    // strconv.ParseBool, which pflag uses
    if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(raw))
        return true;
    if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(raw))
        return false;
    return undefined;
}
/**
 * Parses `hoist build` argv the way pflag would parse `docker buildx build` argv, so that the context
 * positional is found exactly where buildx would find it. `extraFlags` extends the table with flags a
 * newer buildx reported (see the unknown-flag path in run.ts).
 */
function parseBuildArgv(argv, extraFlags = {}) {
    const flags = { ...BUILDX_BUILD_FLAGS, ...extraFlags };
    const hoist = {};
    const buildxArgs = [];
    const positionals = [];
    const facts = { platforms: [], tags: [], push: false, load: false };
    const record = (t, value) => {
        if (t.hoist) {
            const key = {
                project: 'project',
                token: 'token',
                'api-url': 'apiUrl',
                'build-platform': 'buildPlatform',
                wait: 'wait',
            }[t.name];
            hoist[key] = value;
            return undefined;
        }
        if (t.spec.kind === 'bool') {
            const b = parseBool(value);
            if (b === undefined) {
                return `invalid argument "${value}" for "--${t.name}" flag: strconv.ParseBool: parsing "${value}": invalid syntax`;
            }
            if (t.name === 'push')
                facts.push = b;
            if (t.name === 'load')
                facts.load = b;
            return undefined;
        }
        switch (t.name) {
            case 'platform':
                for (const p of value.split(',')) {
                    const trimmed = p.trim();
                    if (trimmed && !facts.platforms.includes(trimmed))
                        facts.platforms.push(trimmed);
                }
                break;
            case 'tag':
                facts.tags.push(value);
                break;
            case 'file':
                facts.file = value;
                break;
            case 'iidfile':
                facts.iidfile = value;
                break;
            case 'metadata-file':
                facts.metadataFile = value;
                break;
            case 'target':
                facts.target = value;
                break;
            case 'builder':
                facts.builder = value;
                break;
            case 'output':
                // `-o type=registry` / `type=image,push=true` push like --push does
                if (/(^|,)type=registry(,|$)/.test(value) || /(^|,)push=true(,|$)/.test(value))
                    facts.push = true;
                if (/(^|,)type=docker(,|$)/.test(value))
                    facts.load = true;
                break;
        }
        return undefined;
    };
    for (let i = 0; i < argv.length; i++) {
        const arg = argv[i];
        if (arg === '--') {
            buildxArgs.push(...argv.slice(i));
            positionals.push(...argv.slice(i + 1));
            break;
        }
        if (arg === '--help' || arg === '-h')
            return { kind: 'help' };
        if (arg.startsWith('--')) {
            const eq = arg.indexOf('=');
            const name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
            const t = lookupLong(name, flags);
            if (!t)
                return { kind: 'unknown-flag', flag: `--${name}`, token: arg };
            const tokens = [arg];
            let value;
            if (eq !== -1) {
                value = arg.slice(eq + 1);
            }
            else if (t.spec.kind === 'value') {
                if (i + 1 >= argv.length)
                    return { kind: 'usage-error', message: `flag needs an argument: --${name}` };
                value = argv[++i];
                tokens.push(value);
            }
            else {
                value = 'true';
            }
            const err = record(t, value);
            if (err)
                return { kind: 'usage-error', message: err };
            if (!t.hoist && t.name !== 'builder')
                buildxArgs.push(...tokens);
            continue;
        }
        if (arg.startsWith('-') && arg !== '-') {
            // a shorthand group: -q, -qt tag, -ttag, -t=tag, -qttag
            const tokens = [arg];
            let j = 1;
            while (j < arg.length) {
                const ch = arg[j];
                const t = lookupShort(ch, flags);
                if (!t) {
                    return { kind: 'unknown-flag', flag: `-${ch}`, token: arg };
                }
                if (t.spec.kind === 'value') {
                    let value = arg.slice(j + 1);
                    if (value.startsWith('='))
                        value = value.slice(1);
                    else if (value === '') {
                        if (i + 1 >= argv.length) {
                            return { kind: 'usage-error', message: `flag needs an argument: '${ch}' in -${ch}` };
                        }
                        value = argv[++i];
                        tokens.push(value);
                    }
                    const err = record(t, value);
                    if (err)
                        return { kind: 'usage-error', message: err };
                    break;
                }
                // a bool shorthand, possibly `-q=false`
                if (arg[j + 1] === '=') {
                    const err = record(t, arg.slice(j + 2));
                    if (err)
                        return { kind: 'usage-error', message: err };
                    break;
                }
                record(t, 'true');
                j++;
            }
            buildxArgs.push(...tokens);
            continue;
        }
        positionals.push(arg);
        buildxArgs.push(arg);
    }
    if (positionals.length !== 1) {
        return {
            kind: 'usage-error',
            message: `"hoist build" requires exactly 1 argument (PATH | URL | -), got ${positionals.length}.\nUsage:  hoist build [OPTIONS] PATH | URL | -`,
        };
    }
    return { kind: 'build', hoist, buildxArgs, facts: { ...facts, context: positionals[0] } };
}
/** True when buildx would treat the context as remote (Git or HTTP(S)), not a local directory. */
function isRemoteContext(context) {
    return (/^[a-z][a-z0-9+.-]*:\/\//i.test(context) || context.startsWith('git@') || /^github\.com\//.test(context));
}
/** Parses a --wait value: "90s", "5m", "1h30m", "250ms" or plain seconds. Returns ms, or undefined. */
const parseDuration = parseDurationMs;
/**
 * Reads a flag's kind from `buildx build --help` output, for a flag a newer buildx knows and this
 * table does not. A line looks like `  -t, --tag stringArray   Image identifier` (value) or
 * `      --push   Shorthand ...` (bool).
 */
function flagSpecFromHelp(help, name) {
    const re = new RegExp(`^\\s+(?:-(\\w), )?--${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?: (\\w+))?(?:\\s{2,}|$)`, 'm');
    const m = re.exec(help);
    if (!m)
        return undefined;
    const short = m[1];
    const type = m[2];
    const kind = type ? 'value' : 'bool';
    return short ? { kind, short } : { kind };
}

;// CONCATENATED MODULE: ./src/cli/build-run.ts
// `hoist build`: the "One CI build" flow of ARCHITECTURE.md around a real `docker buildx build`.











const DEFAULT_WAIT_MS = 10 * 60_000;
const BUILD_HELP = `Usage:  hoist build [OPTIONS] PATH | URL | -

Builds on your project's Hoist builder with "docker buildx build". Every
"docker buildx build" flag is accepted and passed to buildx unchanged.

Hoist options:
      --project string          Project id or name (default: $HOIST_PROJECT_ID, else "project" in the
                                nearest hoist.json above the context or the Dockerfile)
      --token string            Hoist token (default: $HOIST_TOKEN, the "hoist login" config file,
                                else GitHub Actions OIDC). Prefer HOIST_TOKEN: other users of
                                the machine can read a flag in the process list
      --api-url string          Hoist server URL (default: $HOIST_API_URL, else the config file)
      --build-platform string   Run the whole build on the native builder of this platform
      --wait duration           Longest wait for a builder, e.g. 90s or 10m (default 10m)

Environment: HOIST_BUILDX (a standalone buildx binary to use instead of "docker buildx"),
HOIST_OIDC_AUDIENCE (audience of the GitHub ID token; default: the API URL), HOIST_CONFIG
(the "hoist login" file), HOIST_TMPDIR (parent of the private dir for the build's certificates).
`;
function platformOfThisMachine() {
    const arch = { x64: 'amd64', arm64: 'arm64', arm: 'arm/v7', ppc64: 'ppc64le', s390x: 's390x' }[process.arch];
    return `linux/${arch ?? process.arch}`;
}
/** Time stamps (ms since the process started) for the overhead breakdown, in HOIST_TIMINGS_FILE. */
class Timings {
    marks = {};
    constructor() {
        this.mark('start');
    }
    mark(name) {
        this.marks[name] = Math.round(performance.now() * 10) / 10;
    }
}
const sleep = (ms, signal) => new Promise((res) => {
    if (signal.aborted)
        return res();
    const t = setTimeout(done, ms);
    function done() {
        clearTimeout(t);
        signal.removeEventListener('abort', done);
        res();
    }
    signal.addEventListener('abort', done);
});
/** Parses argv, consulting buildx itself about flags Hoist's table does not know. */
async function parseWithBuildx(argv, io, getBuildx) {
    const extra = {};
    for (let round = 0; round < 20; round++) {
        const parsed = parseBuildArgv(argv, extra);
        switch (parsed.kind) {
            case 'help':
                io.stdout.write(BUILD_HELP);
                return 0;
            case 'usage-error':
                io.stderr.write(`hoist build: ${parsed.message}\n`);
                return 1;
            case 'build':
                return parsed;
            case 'unknown-flag': {
                // buildx decides: its own error message if it does not know the flag either,
                // else the flag's kind from its help text. `--help` keeps buildx from building anything.
                const bx = await getBuildx();
                const r = await capture(bx.file, [...bx.prefix, 'build', '--help', parsed.token, 'x'], io.env);
                if (r.code !== 0) {
                    io.stderr.write(r.stderr || r.stdout);
                    return r.code;
                }
                const name = parsed.flag.replace(/^-+/, '');
                const spec = parsed.flag.startsWith('--')
                    ? flagSpecFromHelp(r.stdout, name)
                    : undefined;
                if (parsed.flag.startsWith('--')) {
                    extra[name] = spec ?? { kind: parsed.token.includes('=') ? 'value' : 'bool' };
                }
                else {
                    const m = new RegExp(`^\\s+-${name}, --([\\w-]+)(?: (\\w+))?`, 'm').exec(r.stdout);
                    if (!m) {
                        io.stderr.write(`hoist build: cannot tell how buildx parses ${parsed.flag}; use its long form\n`);
                        return 1;
                    }
                    extra[m[1]] = { kind: m[2] ? 'value' : 'bool', short: name };
                }
                break;
            }
        }
    }
    io.stderr.write('hoist build: too many flags unknown to Hoist\n');
    return 1;
}
/** Runs `hoist build`; returns the exit code (buildx's, when buildx ran). */
async function runBuild(argv, io) {
    const { env } = io;
    const timings = new Timings();
    const warn = (m) => void io.stderr.write(`hoist: warning: ${m}\n`);
    const info = (m) => void io.stderr.write(`hoist: ${m}\n`);
    // Inside GitHub Actions, the runner hides every value it was told to mask from the job log;
    // tokens this process obtains itself are masked the moment it has them (stderr, so that
    // stdout stays buildx's own, e.g. with --quiet).
    const mask = (secret) => {
        if (env.GITHUB_ACTIONS === 'true' && secret)
            void io.stderr.write(`::add-mask::${secret}\n`);
    };
    let buildxPromise;
    const getBuildx = () => (buildxPromise ??= findBuildx(env));
    const parsed = await parseWithBuildx(argv, io, getBuildx);
    if (typeof parsed === 'number')
        return parsed;
    const { hoist, buildxArgs, facts } = parsed;
    if (facts.builder)
        warn(`ignoring --builder ${facts.builder}: the build runs on the project's Hoist builder`);
    const waitMs = hoist.wait === undefined ? DEFAULT_WAIT_MS : parseDuration(hoist.wait);
    if (waitMs === undefined) {
        throw new errors/* ConfigurationError */.j1(`--wait "${hoist.wait}" is not a duration; use e.g. 90s, 10m or 1h`);
    }
    // Find buildx while the server is being asked: its absence must stop us before a build exists,
    // but it need not cost a round trip of its own.
    const buildxReady = getBuildx();
    buildxReady.catch(() => undefined);
    const config = await readUserConfig(configPath(env));
    const api = resolveApiUrl({ flag: hoist.apiUrl, env: env.HOIST_API_URL, config });
    if (!api.ok)
        throw new errors/* ConfigurationError */.j1(api.message);
    const tokenChoice = resolveToken({
        flag: hoist.token,
        env: env.HOIST_TOKEN,
        config,
        apiUrl: api.value,
        githubOidc: Boolean(env.ACTIONS_ID_TOKEN_REQUEST_URL && env.ACTIONS_ID_TOKEN_REQUEST_TOKEN),
        inGithubActions: env.GITHUB_ACTIONS === 'true',
        allowOidc: true,
    });
    if (!tokenChoice.ok)
        throw new errors/* ConfigurationError */.j1(tokenChoice.message);
    const local = !isRemoteContext(facts.context) && facts.context !== '-';
    const [fromContext, fromDockerfile] = await Promise.all([
        local ? findHoistJson((0,external_node_path_.resolve)(io.cwd, facts.context)) : Promise.resolve(undefined),
        facts.file && facts.file !== '-' && !isRemoteContext(facts.context)
            ? findHoistJson((0,external_node_path_.dirname)((0,external_node_path_.resolve)(io.cwd, facts.file)))
            : Promise.resolve(undefined),
    ]);
    const project = resolveProject({
        flag: hoist.project,
        env: env.HOIST_PROJECT_ID,
        fromContext,
        fromDockerfile,
    });
    for (const w of project.warnings)
        warn(w);
    let client = new HoistClient({ apiUrl: api.value, userAgent: `hoist-cli/${VERSION}` });
    if (tokenChoice.value.kind === 'token') {
        client = client.withToken(tokenChoice.value.token);
    }
    else {
        const audience = env.HOIST_OIDC_AUDIENCE || api.value;
        const idToken = await fetchGithubIdToken(env, audience);
        mask(idToken);
        const exchanged = await client.exchangeGithubOidc({ token: idToken, project: project.project });
        mask(exchanged.token);
        client = client.withToken(exchanged.token);
    }
    timings.mark('token');
    await buildxReady; // throws the install hint
    timings.mark('buildx_found');
    const tmpParent = env.HOIST_TMPDIR || (0,external_node_os_.tmpdir)();
    // builders and PEMs of hoist processes that were killed outright (SIGKILL, power loss)
    const swept = sweepStale(tmpParent, await buildxReady, env, warn);
    // From here on, a signal cancels the build and still cleans up.
    const cancel = new AbortController();
    let cancelReason;
    let exitSignal;
    let child;
    let killTimer;
    const requestCancel = (reason, signal) => {
        if (cancelReason === undefined) {
            cancelReason = reason;
            exitSignal = signal;
            info(`${reason}: canceling the build`);
        }
        cancel.abort();
        if (child && child.exitCode === null && child.signalCode === null) {
            child.kill(signal ?? 'SIGTERM');
            killTimer ??= setTimeout(() => child?.kill('SIGKILL'), 15_000);
        }
    };
    const onSignal = (sig) => requestCancel(`received ${sig}`, sig);
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    let buildId;
    let buildClient;
    let tmp;
    let builder;
    let heartbeat;
    let result = { status: 'failed', error: 'hoist build stopped before buildx ran' };
    let exitCode = 1;
    try {
        const platformsToAcquire = hoist.buildPlatform ? [hoist.buildPlatform] : facts.platforms;
        const created = await client.createBuild({
            project: project.project,
            platforms: platformsToAcquire,
            options: {
                cli_version: VERSION,
                target_platforms: facts.platforms,
                tags: facts.tags,
                push: facts.push,
                load: facts.load,
                target: facts.target ?? null,
                context: local ? 'local' : facts.context === '-' ? 'stdin' : 'remote',
            },
        });
        buildId = created.build_id;
        mask(created.build_token);
        buildClient = client.withToken(created.build_token);
        timings.mark('created');
        info(`build ${created.build_id}: ${created.build_url}`);
        const hbMs = Number(env.HOIST_HEARTBEAT_MS) || 5_000;
        const bc = buildClient;
        const id = buildId;
        heartbeat = setInterval(() => {
            bc.heartbeat(id).then((r) => {
                if (r.cancel)
                    requestCancel('the Hoist server canceled this build');
            }, (err) => {
                // the server ended the build (expired, canceled, finished): its certificate is dead too
                if (err instanceof errors/* HoistApiError */.Yg && err.status === 409) {
                    requestCancel(`the Hoist server ended this build (${err.message})`);
                }
                else
                    warn(`heartbeat failed: ${(0,errors/* errorMessage */.gJ)(err)}`);
            });
        }, hbMs);
        heartbeat.unref();
        let platforms = platformsToAcquire;
        if (platforms.length === 0) {
            const b = await buildClient.getBuild(buildId).catch(() => undefined);
            platforms = b?.platforms.length ? b.platforms : [platformOfThisMachine()];
        }
        if (cancel.signal.aborted)
            throw new Error(cancelReason);
        const deadline = Date.now() + waitMs;
        const nodes = await Promise.all(platforms.map((p) => acquire(bc, id, p, deadline, waitMs, cancel.signal, info)));
        if (cancel.signal.aborted)
            throw new Error(cancelReason);
        timings.mark('acquired');
        tmp = await (0,promises_.mkdtemp)((0,external_node_path_.join)(tmpParent, 'hoist-build-'));
        builder = builderName(buildId);
        // lets a later run remove this builder and these files should this process be killed outright
        await (0,promises_.writeFile)((0,external_node_path_.join)(tmp, OWNER_FILE), JSON.stringify({ pid: process.pid, builder }), { mode: 0o600 });
        const bx = await buildxReady;
        for (const [i, n] of nodes.entries()) {
            const dir = (0,external_node_path_.join)(tmp, String(i));
            await (0,promises_.mkdir)(dir, { mode: 0o700 });
            const files = { cacert: (0,external_node_path_.join)(dir, 'ca.pem'), cert: (0,external_node_path_.join)(dir, 'cert.pem'), key: (0,external_node_path_.join)(dir, 'key.pem') };
            await (0,promises_.writeFile)(files.cacert, n.ca_pem, { mode: 0o600, flag: 'wx' });
            await (0,promises_.writeFile)(files.cert, n.cert_pem, { mode: 0o600, flag: 'wx' });
            await (0,promises_.writeFile)(files.key, n.key_pem, { mode: 0o600, flag: 'wx' });
            const args = createBuilderArgs(builder, {
                node: `${builder}-${i}`,
                endpoint: n.endpoint,
                // with --build-platform one native node takes every target platform
                platform: hoist.buildPlatform ? undefined : platforms[i],
                serverName: n.server_name,
                ...files,
            }, i > 0);
            const via = bx.direct ?? bx;
            const r = await capture(via.file, [...via.prefix, ...args], env);
            if (r.code !== 0) {
                throw new Error(`${bx.display} create failed: ${(r.stderr || r.stdout).trim()}`);
            }
        }
        timings.mark('builder_created');
        if (cancel.signal.aborted)
            throw new Error(cancelReason);
        const buildArgs = [...bx.prefix, 'build', '--builder', builder, ...buildxArgs];
        // buildx needs none of Hoist's credentials: the builder's certificate is all it uses
        const { HOIST_TOKEN: _token, ...buildxEnv } = env;
        child = (0,external_node_child_process_.spawn)(bx.file, buildArgs, { env: buildxEnv, stdio: 'inherit', cwd: io.cwd });
        const spawned = child;
        exitCode = await new Promise((res) => {
            spawned.on('error', (err) => {
                io.stderr.write(`hoist: cannot run ${bx.display}: ${(0,errors/* errorMessage */.gJ)(err)}\n`);
                res(127);
            });
            spawned.on('close', (code, signal) => res(code ?? 128 + signalNumber(signal)));
        });
        child = undefined;
        timings.mark('built');
        if (cancelReason !== undefined) {
            result = { status: 'canceled', error: cancelReason };
            if (exitCode === 0)
                exitCode = 1;
        }
        else if (exitCode === 0) {
            result = { status: 'success' };
        }
        else {
            result = { status: 'failed', error: `docker buildx build exited with code ${exitCode}` };
        }
    }
    catch (err) {
        if (err instanceof errors/* HoistApiError */.Yg && err.code === 'build_canceled' && cancelReason === undefined) {
            cancelReason = 'the Hoist server canceled this build';
            info(cancelReason);
        }
        if (cancelReason !== undefined) {
            result = { status: 'canceled', error: cancelReason };
        }
        else {
            result = { status: 'failed', error: (0,errors/* errorMessage */.gJ)(err) };
            if (!buildId)
                throw err;
            io.stderr.write(`hoist: ${(0,errors/* errorMessage */.gJ)(err)}\n`);
        }
        exitCode = exitCode === 0 ? 1 : exitCode;
    }
    finally {
        if (heartbeat)
            clearInterval(heartbeat);
        if (killTimer)
            clearTimeout(killTimer);
        if (builder) {
            const bx = await buildxReady;
            const via = bx.direct ?? bx;
            const r = await capture(via.file, [...via.prefix, 'rm', '--force', builder], env);
            if (r.code !== 0 && !/no builder|not found/i.test(r.stderr)) {
                warn(`could not remove buildx builder ${builder}: ${r.stderr.trim()}; run "${bx.display} rm ${builder}"`);
            }
        }
        if (tmp)
            await (0,promises_.rm)(tmp, { recursive: true, force: true });
        await swept;
        timings.mark('cleaned');
        if (buildClient && buildId) {
            try {
                await buildClient.finishBuild(buildId, result);
            }
            catch (err) {
                // a build the server already canceled or expired refuses a finish; that is not the user's error
                if (!(err instanceof errors/* HoistApiError */.Yg) || result.status !== 'canceled') {
                    warn(`could not report the build's end (${result.status}): ${(0,errors/* errorMessage */.gJ)(err)}`);
                }
            }
        }
        timings.mark('finished');
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        if (env.HOIST_TIMINGS_FILE) {
            await (0,promises_.writeFile)(env.HOIST_TIMINGS_FILE, JSON.stringify({ build_id: buildId, ...timings.marks }));
        }
    }
    if (exitSignal)
        return 128 + signalNumber(exitSignal);
    return exitCode;
}
const OWNER_FILE = 'owner.json';
/**
 * Removes what a killed `hoist build` left behind: each `hoist-build-*` dir of ours whose owner
 * process is gone, and the buildx builder it names. Never throws; costs a readdir when all is clean.
 */
async function sweepStale(parent, bx, env, warn) {
    try {
        const uid = process.getuid?.();
        for (const name of await (0,promises_.readdir)(parent)) {
            if (!name.startsWith('hoist-build-'))
                continue;
            const dir = (0,external_node_path_.join)(parent, name);
            let owner;
            try {
                if (uid !== undefined && (await (0,promises_.stat)(dir)).uid !== uid)
                    continue;
                owner = JSON.parse(await (0,promises_.readFile)((0,external_node_path_.join)(dir, OWNER_FILE), 'utf8'));
            }
            catch {
                continue; // being set up right now, or not ours
            }
            if (typeof owner.pid !== 'number' || processAlive(owner.pid))
                continue;
            if (typeof owner.builder === 'string' && /^hoist-[\w.-]+$/.test(owner.builder)) {
                const via = bx.direct ?? bx;
                await capture(via.file, [...via.prefix, 'rm', '--force', owner.builder], env);
            }
            await (0,promises_.rm)(dir, { recursive: true, force: true });
            warn(`removed ${typeof owner.builder === 'string' ? owner.builder : name}, left behind by a killed hoist build`);
        }
    }
    catch {
        // a sweep that cannot run changes nothing for this build
    }
}
function processAlive(pid) {
    try {
        process.kill(pid, 0);
        return true;
    }
    catch (err) {
        return err.code === 'EPERM';
    }
}
/** Polls one platform's builder until it is active, honouring retry_after_ms, up to the deadline. */
async function acquire(client, buildId, platform, deadline, waitMs, signal, info) {
    let lastReason = '';
    let told = false;
    for (;;) {
        if (signal.aborted)
            throw new Error('canceled');
        let answer;
        try {
            answer = await client.builder(buildId, platform);
        }
        catch (err) {
            // an unreachable or overloaded server is waited out like a pending answer, up to --wait
            const transient = err instanceof errors/* HoistApiError */.Yg && (err.status === 0 || err.status === 429 || err.status >= 500);
            if (!transient || Date.now() >= deadline)
                throw err;
            answer = { status: 'pending', retry_after_ms: 1000, reason: (0,errors/* errorMessage */.gJ)(err) };
        }
        if (answer.status === 'active')
            return answer;
        lastReason = answer.reason;
        const left = deadline - Date.now();
        if (left <= 0) {
            throw new Error(`no ${platform} builder became available within --wait ${Math.round(waitMs / 1000)}s` +
                `${lastReason ? ` (the server said: ${lastReason})` : ''}. ` +
                'Try again later, raise --wait, or ask your Hoist admin about builder capacity.');
        }
        if (!told) {
            info(`waiting for a ${platform} builder: ${lastReason}`);
            told = true;
        }
        await sleep(Math.min(Math.max(answer.retry_after_ms, 50), left), signal);
    }
}

// EXTERNAL MODULE: external "node:crypto"
var external_node_crypto_ = __nccwpck_require__(77598);
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
        : renderTable(['TAG', 'DIGEST', 'CREATED', 'ACTION'], decisions.map((d) => [
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
    const { values, positionals } = parseFlags('hoist cache prune', rest, {
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
    const olderThanMs = parseDurationMs(olderThanRaw);
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

;// CONCATENATED MODULE: ./src/cli/main.ts





const USAGE = `Usage:  hoist COMMAND

Remote BuildKit builds on your project's persistent Hoist builder.

Commands:
  build      Build with "docker buildx build" on a Hoist builder (hoist build --help)
  login      Save the Hoist API URL and a token
  projects   Manage projects
  tokens     Manage project tokens
  trust      Manage GitHub OIDC trust policies
  builds     List and show builds
  cache      Prune stale branch caches of the fallback build (hoist cache prune --help)
  server     Run the Hoist control plane (hoist server --help)
  version    Print the version

${ADMIN_HELP}`;
/** Dispatches `hoist <command>`; returns the process exit code. */
async function main(argv) {
    const [command, ...rest] = argv;
    const io = {
        env: process.env,
        cwd: process.cwd(),
        stdout: process.stdout,
        stderr: process.stderr,
        stdin: process.stdin,
    };
    try {
        switch (command) {
            case 'server': {
                // Loaded only for `hoist server`: the control plane's modules (fastify, SQLite, pg, pino…)
                // would otherwise add hundreds of ms to every `hoist build`.
                const { runServerCommand } = await Promise.all(/* import() */[__nccwpck_require__.e(868), __nccwpck_require__.e(751)]).then(__nccwpck_require__.bind(__nccwpck_require__, 97751));
                return await runServerCommand(rest);
            }
            case 'build':
                return await runBuild(rest, io);
            case 'login':
            case 'projects':
            case 'tokens':
            case 'trust':
            case 'builds':
                return await runAdmin(command, rest, io);
            case 'cache':
                return await runCache(rest, io);
            case 'version':
            case '--version':
            case '-v':
                process.stdout.write(`hoist ${VERSION}\n`);
                return 0;
            case undefined:
            case 'help':
            case '--help':
            case '-h':
                process.stdout.write(USAGE);
                return command === undefined ? 2 : 0;
        }
        process.stderr.write(`hoist: unknown command "${command}"; run "hoist --help"\n`);
        return 2;
    }
    catch (err) {
        if (err instanceof errors/* HoistApiError */.Yg && (err.status === 401 || err.status === 403)) {
            process.stderr.write(`hoist: the Hoist server refused the token: ${err.message}\n`);
        }
        else {
            const message = (0,errors/* errorMessage */.gJ)(err);
            // messages of admin commands already name theirs ("hoist tokens create: ...")
            process.stderr.write(`${message.startsWith('hoist ') ? '' : 'hoist: '}${message}\n`);
        }
        return err instanceof errors/* ConfigurationError */.j1 ? 2 : 1;
    }
}


/***/ }),

/***/ 97268:
/***/ ((__unused_webpack_module, __webpack_exports__, __nccwpck_require__) => {

/* harmony export */ __nccwpck_require__.d(__webpack_exports__, {
/* harmony export */   Yg: () => (/* binding */ HoistApiError),
/* harmony export */   gJ: () => (/* binding */ errorMessage),
/* harmony export */   j1: () => (/* binding */ ConfigurationError)
/* harmony export */ });
/** A mistake the user can fix (a wrong input, flag or setting), as opposed to a bug. */
class ConfigurationError extends Error {
    name = 'ConfigurationError';
}
/** An error answer from the Hoist API: `{error: {code, message}}` with its HTTP status. */
class HoistApiError extends Error {
    status;
    code;
    name = 'HoistApiError';
    constructor(status, code, message) {
        super(message);
        this.status = status;
        this.code = code;
    }
}
/** The message of anything thrown, without a stack. */
function errorMessage(err) {
    if (err instanceof Error)
        return err.message;
    return String(err);
}


/***/ }),

/***/ 42613:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("assert");

/***/ }),

/***/ 20181:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("buffer");

/***/ }),

/***/ 29907:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("cluster");

/***/ }),

/***/ 76982:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("crypto");

/***/ }),

/***/ 72250:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("dns");

/***/ }),

/***/ 24434:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("events");

/***/ }),

/***/ 79896:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("fs");

/***/ }),

/***/ 58611:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("http");

/***/ }),

/***/ 65692:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("https");

/***/ }),

/***/ 73339:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("module");

/***/ }),

/***/ 69278:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("net");

/***/ }),

/***/ 34589:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:assert");

/***/ }),

/***/ 16698:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:async_hooks");

/***/ }),

/***/ 31421:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:child_process");

/***/ }),

/***/ 77598:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:crypto");

/***/ }),

/***/ 53053:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:diagnostics_channel");

/***/ }),

/***/ 40610:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:dns");

/***/ }),

/***/ 78474:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:events");

/***/ }),

/***/ 73024:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:fs");

/***/ }),

/***/ 51455:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:fs/promises");

/***/ }),

/***/ 37067:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:http");

/***/ }),

/***/ 32467:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:http2");

/***/ }),

/***/ 44708:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:https");

/***/ }),

/***/ 77030:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:net");

/***/ }),

/***/ 48161:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:os");

/***/ }),

/***/ 76760:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:path");

/***/ }),

/***/ 643:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:perf_hooks");

/***/ }),

/***/ 57075:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:stream");

/***/ }),

/***/ 41692:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:tls");

/***/ }),

/***/ 73136:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:url");

/***/ }),

/***/ 57975:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:util");

/***/ }),

/***/ 16928:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("path");

/***/ }),

/***/ 82987:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("perf_hooks");

/***/ }),

/***/ 932:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("process");

/***/ }),

/***/ 2203:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("stream");

/***/ }),

/***/ 13193:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("string_decoder");

/***/ }),

/***/ 64756:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("tls");

/***/ }),

/***/ 87016:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("url");

/***/ }),

/***/ 39023:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("util");

/***/ }),

/***/ 98253:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("util/types");

/***/ }),

/***/ 11493:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("v8");

/***/ }),

/***/ 28167:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("worker_threads");

/***/ }),

/***/ 43106:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("zlib");

/***/ })

/******/ });
/************************************************************************/
/******/ // The module cache
/******/ var __webpack_module_cache__ = {};
/******/ 
/******/ // The require function
/******/ function __nccwpck_require__(moduleId) {
/******/ 	// Check if module is in cache
/******/ 	var cachedModule = __webpack_module_cache__[moduleId];
/******/ 	if (cachedModule !== undefined) {
/******/ 		return cachedModule.exports;
/******/ 	}
/******/ 	// Create a new module (and put it into the cache)
/******/ 	var module = __webpack_module_cache__[moduleId] = {
/******/ 		id: moduleId,
/******/ 		loaded: false,
/******/ 		exports: {}
/******/ 	};
/******/ 
/******/ 	// Execute the module function
/******/ 	var threw = true;
/******/ 	try {
/******/ 		__webpack_modules__[moduleId].call(module.exports, module, module.exports, __nccwpck_require__);
/******/ 		threw = false;
/******/ 	} finally {
/******/ 		if(threw) delete __webpack_module_cache__[moduleId];
/******/ 	}
/******/ 
/******/ 	// Flag the module as loaded
/******/ 	module.loaded = true;
/******/ 
/******/ 	// Return the exports of the module
/******/ 	return module.exports;
/******/ }
/******/ 
/******/ // expose the modules object (__webpack_modules__)
/******/ __nccwpck_require__.m = __webpack_modules__;
/******/ 
/************************************************************************/
/******/ /* webpack/runtime/async module */
/******/ (() => {
/******/ 	var webpackQueues = typeof Symbol === "function" ? Symbol("webpack queues") : "__webpack_queues__";
/******/ 	var webpackExports = typeof Symbol === "function" ? Symbol("webpack exports") : "__webpack_exports__";
/******/ 	var webpackError = typeof Symbol === "function" ? Symbol("webpack error") : "__webpack_error__";
/******/ 	var resolveQueue = (queue) => {
/******/ 		if(queue && queue.d < 1) {
/******/ 			queue.d = 1;
/******/ 			queue.forEach((fn) => (fn.r--));
/******/ 			queue.forEach((fn) => (fn.r-- ? fn.r++ : fn()));
/******/ 		}
/******/ 	}
/******/ 	var wrapDeps = (deps) => (deps.map((dep) => {
/******/ 		if(dep !== null && typeof dep === "object") {
/******/ 			if(dep[webpackQueues]) return dep;
/******/ 			if(dep.then) {
/******/ 				var queue = [];
/******/ 				queue.d = 0;
/******/ 				dep.then((r) => {
/******/ 					obj[webpackExports] = r;
/******/ 					resolveQueue(queue);
/******/ 				}, (e) => {
/******/ 					obj[webpackError] = e;
/******/ 					resolveQueue(queue);
/******/ 				});
/******/ 				var obj = {};
/******/ 				obj[webpackQueues] = (fn) => (fn(queue));
/******/ 				return obj;
/******/ 			}
/******/ 		}
/******/ 		var ret = {};
/******/ 		ret[webpackQueues] = x => {};
/******/ 		ret[webpackExports] = dep;
/******/ 		return ret;
/******/ 	}));
/******/ 	__nccwpck_require__.a = (module, body, hasAwait) => {
/******/ 		var queue;
/******/ 		hasAwait && ((queue = []).d = -1);
/******/ 		var depQueues = new Set();
/******/ 		var exports = module.exports;
/******/ 		var currentDeps;
/******/ 		var outerResolve;
/******/ 		var reject;
/******/ 		var promise = new Promise((resolve, rej) => {
/******/ 			reject = rej;
/******/ 			outerResolve = resolve;
/******/ 		});
/******/ 		promise[webpackExports] = exports;
/******/ 		promise[webpackQueues] = (fn) => (queue && fn(queue), depQueues.forEach(fn), promise["catch"](x => {}));
/******/ 		module.exports = promise;
/******/ 		body((deps) => {
/******/ 			currentDeps = wrapDeps(deps);
/******/ 			var fn;
/******/ 			var getResult = () => (currentDeps.map((d) => {
/******/ 				if(d[webpackError]) throw d[webpackError];
/******/ 				return d[webpackExports];
/******/ 			}))
/******/ 			var promise = new Promise((resolve) => {
/******/ 				fn = () => (resolve(getResult));
/******/ 				fn.r = 0;
/******/ 				var fnQueue = (q) => (q !== queue && !depQueues.has(q) && (depQueues.add(q), q && !q.d && (fn.r++, q.push(fn))));
/******/ 				currentDeps.map((dep) => (dep[webpackQueues](fnQueue)));
/******/ 			});
/******/ 			return fn.r ? promise : getResult();
/******/ 		}, (err) => ((err ? reject(promise[webpackError] = err) : outerResolve(exports)), resolveQueue(queue)));
/******/ 		queue && queue.d < 0 && (queue.d = 0);
/******/ 	};
/******/ })();
/******/ 
/******/ /* webpack/runtime/compat get default export */
/******/ (() => {
/******/ 	// getDefaultExport function for compatibility with non-harmony modules
/******/ 	__nccwpck_require__.n = (module) => {
/******/ 		var getter = module && module.__esModule ?
/******/ 			() => (module['default']) :
/******/ 			() => (module);
/******/ 		__nccwpck_require__.d(getter, { a: getter });
/******/ 		return getter;
/******/ 	};
/******/ })();
/******/ 
/******/ /* webpack/runtime/define property getters */
/******/ (() => {
/******/ 	// define getter functions for harmony exports
/******/ 	__nccwpck_require__.d = (exports, definition) => {
/******/ 		for(var key in definition) {
/******/ 			if(__nccwpck_require__.o(definition, key) && !__nccwpck_require__.o(exports, key)) {
/******/ 				Object.defineProperty(exports, key, { enumerable: true, get: definition[key] });
/******/ 			}
/******/ 		}
/******/ 	};
/******/ })();
/******/ 
/******/ /* webpack/runtime/ensure chunk */
/******/ (() => {
/******/ 	__nccwpck_require__.f = {};
/******/ 	// This file contains only the entry chunk.
/******/ 	// The chunk loading function for additional chunks
/******/ 	__nccwpck_require__.e = (chunkId) => {
/******/ 		return Promise.all(Object.keys(__nccwpck_require__.f).reduce((promises, key) => {
/******/ 			__nccwpck_require__.f[key](chunkId, promises);
/******/ 			return promises;
/******/ 		}, []));
/******/ 	};
/******/ })();
/******/ 
/******/ /* webpack/runtime/get javascript chunk filename */
/******/ (() => {
/******/ 	// This function allow to reference async chunks
/******/ 	__nccwpck_require__.u = (chunkId) => {
/******/ 		// return url for filenames based on template
/******/ 		return "" + chunkId + ".index.js";
/******/ 	};
/******/ })();
/******/ 
/******/ /* webpack/runtime/hasOwnProperty shorthand */
/******/ (() => {
/******/ 	__nccwpck_require__.o = (obj, prop) => (Object.prototype.hasOwnProperty.call(obj, prop))
/******/ })();
/******/ 
/******/ /* webpack/runtime/make namespace object */
/******/ (() => {
/******/ 	// define __esModule on exports
/******/ 	__nccwpck_require__.r = (exports) => {
/******/ 		if(typeof Symbol !== 'undefined' && Symbol.toStringTag) {
/******/ 			Object.defineProperty(exports, Symbol.toStringTag, { value: 'Module' });
/******/ 		}
/******/ 		Object.defineProperty(exports, '__esModule', { value: true });
/******/ 	};
/******/ })();
/******/ 
/******/ /* webpack/runtime/node module decorator */
/******/ (() => {
/******/ 	__nccwpck_require__.nmd = (module) => {
/******/ 		module.paths = [];
/******/ 		if (!module.children) module.children = [];
/******/ 		return module;
/******/ 	};
/******/ })();
/******/ 
/******/ /* webpack/runtime/compat */
/******/ 
/******/ if (typeof __nccwpck_require__ !== 'undefined') __nccwpck_require__.ab = new URL('.', import.meta.url).pathname.slice(import.meta.url.match(/^file:\/\/\/\w:/) ? 1 : 0, -1) + "/";
/******/ 
/******/ /* webpack/runtime/import chunk loading */
/******/ (() => {
/******/ 	// no baseURI
/******/ 	
/******/ 	// object to store loaded and loading chunks
/******/ 	// undefined = chunk not loaded, null = chunk preloaded/prefetched
/******/ 	// [resolve, Promise] = chunk loading, 0 = chunk loaded
/******/ 	var installedChunks = {
/******/ 		792: 0
/******/ 	};
/******/ 	
/******/ 	var installChunk = (data) => {
/******/ 		var {ids, modules, runtime} = data;
/******/ 		// add "modules" to the modules object,
/******/ 		// then flag all "ids" as loaded and fire callback
/******/ 		var moduleId, chunkId, i = 0;
/******/ 		for(moduleId in modules) {
/******/ 			if(__nccwpck_require__.o(modules, moduleId)) {
/******/ 				__nccwpck_require__.m[moduleId] = modules[moduleId];
/******/ 			}
/******/ 		}
/******/ 		if(runtime) runtime(__nccwpck_require__);
/******/ 		for(;i < ids.length; i++) {
/******/ 			chunkId = ids[i];
/******/ 			if(__nccwpck_require__.o(installedChunks, chunkId) && installedChunks[chunkId]) {
/******/ 				installedChunks[chunkId][0]();
/******/ 			}
/******/ 			installedChunks[ids[i]] = 0;
/******/ 		}
/******/ 	
/******/ 	}
/******/ 	
/******/ 	__nccwpck_require__.f.j = (chunkId, promises) => {
/******/ 			// import() chunk loading for javascript
/******/ 			var installedChunkData = __nccwpck_require__.o(installedChunks, chunkId) ? installedChunks[chunkId] : undefined;
/******/ 			if(installedChunkData !== 0) { // 0 means "already installed".
/******/ 	
/******/ 				// a Promise means "currently loading".
/******/ 				if(installedChunkData) {
/******/ 					promises.push(installedChunkData[1]);
/******/ 				} else {
/******/ 					if(true) { // all chunks have JS
/******/ 						// setup Promise in chunk cache
/******/ 						var promise = import("./" + __nccwpck_require__.u(chunkId)).then(installChunk, (e) => {
/******/ 							if(installedChunks[chunkId] !== 0) installedChunks[chunkId] = undefined;
/******/ 							throw e;
/******/ 						});
/******/ 						var promise = Promise.race([promise, new Promise((resolve) => (installedChunkData = installedChunks[chunkId] = [resolve]))])
/******/ 						promises.push(installedChunkData[1] = promise);
/******/ 					}
/******/ 				}
/******/ 			}
/******/ 	};
/******/ 	
/******/ 	// no prefetching
/******/ 	
/******/ 	// no preloaded
/******/ 	
/******/ 	// no external install chunk
/******/ 	
/******/ 	// no on chunks loaded
/******/ })();
/******/ 
/************************************************************************/
/******/ 
/******/ // startup
/******/ // Load entry module and return exports
/******/ // This entry module used 'module' so it can't be inlined
/******/ var __webpack_exports__ = __nccwpck_require__(70486);
/******/ __webpack_exports__ = await __webpack_exports__;
/******/ 
