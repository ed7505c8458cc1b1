"use strict";
exports.id = 263;
exports.ids = [263];
exports.modules = {

/***/ 52263:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {

// ESM COMPAT FLAG
__webpack_require__.r(__webpack_exports__);

// EXPORTS
__webpack_require__.d(__webpack_exports__, {
  ADMIN_HELP: () => (/* binding */ ADMIN_HELP),
  projectSettingsFromFlags: () => (/* binding */ projectSettingsFromFlags),
  readSecretLine: () => (/* binding */ readSecretLine),
  runAdmin: () => (/* binding */ runAdmin)
});

// EXTERNAL MODULE: external "node:readline"
var external_node_readline_ = __webpack_require__(80481);
// EXTERNAL MODULE: external "node:stream"
var external_node_stream_ = __webpack_require__(57075);
// EXTERNAL MODULE: ./src/lib/client.ts
var lib_client = __webpack_require__(47072);
// EXTERNAL MODULE: ./src/lib/errors.ts
var errors = __webpack_require__(97268);
// EXTERNAL MODULE: ./src/cli/config.ts
var cli_config = __webpack_require__(74114);
// EXTERNAL MODULE: ./src/cli/flags.ts
var flags = __webpack_require__(95377);
// EXTERNAL MODULE: ./src/cli/resolve.ts
var resolve = __webpack_require__(68558);
// EXTERNAL MODULE: ./src/lib/text.ts
var lib_text = __webpack_require__(79112);
;// CONCATENATED MODULE: ./src/cli/steps-summary.ts


const duration = (s) => {
    if (!s.started_at || !s.completed_at)
        return '';
    const ms = Date.parse(s.completed_at) - Date.parse(s.started_at);
    return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`;
};
/** The insights part of `hoist builds show` (empty when the build has none). Pure. */
function renderStepSummary(b) {
    const ins = b.insights;
    if (!ins)
        return '';
    const out = [];
    const g = ins.context?.github;
    if (g?.repository) {
        out.push(`source: ${(0,lib_text/* escapeControls */.U)(`${ins.context.source} ${g.repository} ${g.ref ?? ''} ${g.sha?.slice(0, 12) ?? ''}`.trim())}${g.run_url ? `\nrun: ${(0,lib_text/* escapeControls */.U)(g.run_url)}` : ''}\n`);
    }
    if (ins.trust)
        out.push(`trust policy: ${(0,lib_text/* escapeControls */.U)(ins.trust.policy_id ?? '-')}\n`);
    if (ins.steps.length === 0)
        return out.join('');
    const active = b.status === 'queued' || b.status === 'running';
    out.push(`steps: cached ${ins.steps_cached} of ${ins.steps_total}${ins.steps_live ? (active ? ' (so far: the build is running)' : ' (only those sent while it ran)') : ''}\n`);
    const at = (s) => (s.started_at ? Date.parse(s.started_at) : Number.MAX_SAFE_INTEGER);
    const brk = ins.cache_break;
    const rows = [...ins.steps]
        .filter((s) => s.instruction !== null || s.error)
        .sort((a, b) => a.platform.localeCompare(b.platform) || at(a) - at(b))
        .map((s) => [
        s.platform,
        s.error
            ? 'ERROR'
            : s.started_at && !s.completed_at
                ? active
                    ? 'RUNNING'
                    : 'NOT DONE'
                : s.cached
                    ? 'CACHED'
                    : brk && brk.platform === s.platform && brk.step === s.name
                        ? 'BROKE'
                        : 'ran',
        duration(s),
        s.name,
    ]);
    out.push((0,flags/* renderTable */.bo)(['PLATFORM', 'CACHE', 'TIME', 'STEP'], rows));
    if (brk) {
        out.push(`cache broke at: ${(0,lib_text/* escapeControls */.U)(brk.step)} (${(0,lib_text/* escapeControls */.U)(brk.platform)})${brk.previous_build_id ? `, compared with ${(0,lib_text/* escapeControls */.U)(brk.previous_build_id)}` : ''}\n`);
    }
    else {
        out.push(ins.steps_live ? 'cache: no step missed it so far\n' : 'cache: every step cached\n');
    }
    const failed = ins.steps.find((s) => s.error);
    if (failed) {
        const tail = failed.log_tail.split('\n').slice(-10).join('\n');
        out.push(`failed: ${(0,lib_text/* escapeControls */.U)(failed.name)}: ${(0,lib_text/* escapeControls */.U)(failed.error)}\n${(0,lib_text/* escapeControls */.U)(tail)}\n`);
    }
    for (const w of ins.warnings) {
        out.push(`warning: ${w.line ? `line ${w.line}: ` : ''}${(0,lib_text/* escapeControls */.U)(w.message.split('\n')[0])}\n`);
    }
    return out.join('');
}

// EXTERNAL MODULE: ./src/cli/version.ts + 1 modules
var version = __webpack_require__(3985);
;// CONCATENATED MODULE: ./src/cli/admin.ts
// Admin commands: login, projects, tokens, trust, builds. Table output by default, --json for scripts.









const COMMON = { 'api-url': 'string', token: 'string', json: 'bool' };
const ADMIN_HELP = `Admin commands (an admin token, from --token, HOIST_TOKEN or "hoist login"):
  hoist login [--api-url URL] [--token TOKEN]     save the API URL and a token (read from stdin if omitted)
  hoist projects create NAME [SETTINGS]
  hoist projects update PROJECT [--name NAME] [SETTINGS]
  hoist projects list | show PROJECT | delete PROJECT
     SETTINGS: --max-concurrent-builds N|unlimited   builds one builder takes at once
               --autoscaling on|off                  past that, start builders from clones of its cache
               --max-builders-per-platform N         most builders of one platform, the primary included
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
    const config = await (0,cli_config/* readUserConfig */.AV)((0,cli_config/* configPath */.eQ)(env));
    const api = (0,resolve/* resolveApiUrl */.c_)({
        flag: values['api-url'],
        env: env.HOIST_API_URL,
        config,
    });
    if (!api.ok)
        throw new errors/* ConfigurationError */.j1(api.message);
    const tok = (0,resolve/* resolveToken */.E7)({
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
    return new lib_client/* HoistClient */.Ls({ apiUrl: api.value, token: tok.value.token, userAgent: `hoist-cli/${version/* VERSION */.x}` });
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
    const rl = (0,external_node_readline_.createInterface)({ input: io.stdin, output: muted, terminal: tty });
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
const SETTING_FLAGS = {
    'max-concurrent-builds': 'string',
    autoscaling: 'string',
    'max-builders-per-platform': 'string',
};
/**
 * The settings flags given, in API terms. Only their form is checked here (whole numbers,
 * on/off); ranges and combinations are the server's, so its message names the rule once.
 */
function projectSettingsFromFlags(values, cmd) {
    const out = {};
    const whole = (flag, raw) => {
        if (!/^\d+$/.test(raw))
            throw new errors/* ConfigurationError */.j1(`${cmd}: --${flag} takes a whole number, got "${raw}"`);
        return Number(raw);
    };
    const max = values['max-concurrent-builds'];
    if (max !== undefined)
        out.max_concurrent_builds = max === 'unlimited' ? null : whole('max-concurrent-builds', max);
    const auto = values.autoscaling;
    if (auto !== undefined) {
        const v = auto.toLowerCase();
        if (!['on', 'off', 'true', 'false'].includes(v))
            throw new errors/* ConfigurationError */.j1(`${cmd}: --autoscaling takes on or off, got "${auto}"`);
        out.autoscaling = v === 'on' || v === 'true';
    }
    const builders = values['max-builders-per-platform'];
    if (builders !== undefined)
        out.max_builders_per_platform = whole('max-builders-per-platform', builders);
    return out;
}
const projectRow = (p) => [
    p.id,
    p.name,
    p.max_concurrent_builds ?? 'unlimited',
    p.autoscaling ? 'on' : 'off',
    p.max_builders_per_platform,
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
    project: ['ID', 'NAME', 'MAX BUILDS/BUILDER', 'AUTOSCALING', 'MAX BUILDERS/PLATFORM', 'CREATED'],
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
        const { values, positionals } = (0,flags/* parseFlags */.bQ)('hoist login', argv, { 'api-url': 'string', token: 'string' });
        if (positionals.length)
            throw new errors/* ConfigurationError */.j1(`hoist login: unexpected argument "${positionals[0]}"`);
        const path = (0,cli_config/* configPath */.eQ)(env);
        const current = await (0,cli_config/* readUserConfig */.AV)(path);
        const api = (0,resolve/* resolveApiUrl */.c_)({
            flag: values['api-url'],
            env: env.HOIST_API_URL,
            config: current,
        });
        if (!api.ok)
            throw new errors/* ConfigurationError */.j1('hoist login: --api-url is required, e.g. --api-url https://hoist.example.com');
        const apiUrl = (0,lib_client/* normalizeApiUrl */.Xz)(api.value);
        const token = values.token ?? (await readSecretLine(io, 'Hoist token: '));
        if (!token)
            throw new errors/* ConfigurationError */.j1('hoist login: no token given; pass --token or pipe it on stdin');
        const client = new lib_client/* HoistClient */.Ls({ apiUrl, token, userAgent: `hoist-cli/${version/* VERSION */.x}` });
        try {
            await client.whoami();
        }
        catch (err) {
            throw new errors/* ConfigurationError */.j1(`hoist login: the server did not accept this token: ${(0,errors/* errorMessage */.gJ)(err)}`);
        }
        await (0,cli_config/* writeUserConfig */.Z_)(path, { api_url: apiUrl, token });
        io.stderr.write(`hoist: saved the API URL and token for ${apiUrl} to ${path} (mode 0600)\n`);
        return 0;
    }
    switch (`${group} ${sub ?? ''}`) {
        case 'projects create': {
            const { values, positionals } = (0,flags/* parseFlags */.bQ)(cmd, rest, { ...COMMON, ...SETTING_FLAGS });
            const name = one(positionals, 'project name', cmd);
            const settings = projectSettingsFromFlags(values, cmd);
            const client = await clientFor(values, env);
            const p = await client.createProject({ name, ...settings });
            out(Boolean(values.json), p, () => (0,flags/* renderTable */.bo)(HEAD.project, [projectRow(p)]));
            return 0;
        }
        case 'projects update': {
            const { values, positionals } = (0,flags/* parseFlags */.bQ)(cmd, rest, { ...COMMON, ...SETTING_FLAGS, name: 'string' });
            const id = one(positionals, 'project id or name', cmd);
            const patch = {
                ...(values.name !== undefined ? { name: values.name } : {}),
                ...projectSettingsFromFlags(values, cmd),
            };
            if (Object.keys(patch).length === 0) {
                throw new errors/* ConfigurationError */.j1(`${cmd}: nothing to change; pass --name, --max-concurrent-builds, --autoscaling or --max-builders-per-platform`);
            }
            const p = await (await clientFor(values, env)).updateProject(id, patch);
            out(Boolean(values.json), p, () => (0,flags/* renderTable */.bo)(HEAD.project, [projectRow(p)]));
            return 0;
        }
        case 'projects list': {
            const { values, positionals } = (0,flags/* parseFlags */.bQ)(cmd, rest, COMMON);
            if (positionals.length)
                throw new errors/* ConfigurationError */.j1(`${cmd}: unexpected argument "${positionals[0]}"`);
            const { projects } = await (await clientFor(values, env)).listProjects();
            out(Boolean(values.json), projects, () => (0,flags/* renderTable */.bo)(HEAD.project, projects.map(projectRow)));
            return 0;
        }
        case 'projects show': {
            const { values, positionals } = (0,flags/* parseFlags */.bQ)(cmd, rest, COMMON);
            const id = one(positionals, 'project id or name', cmd);
            const p = await (await clientFor(values, env)).getProject(id);
            out(Boolean(values.json), p, () => (0,flags/* renderTable */.bo)(HEAD.project, [projectRow(p)]));
            return 0;
        }
        case 'projects delete': {
            const { values, positionals } = (0,flags/* parseFlags */.bQ)(cmd, rest, COMMON);
            const id = one(positionals, 'project id or name', cmd);
            await (await clientFor(values, env)).deleteProject(id);
            out(Boolean(values.json), { deleted: id }, () => `deleted project ${id}\n`);
            return 0;
        }
        case 'tokens create': {
            const { values, positionals } = (0,flags/* parseFlags */.bQ)(cmd, rest, {
                ...COMMON,
                project: 'string',
                name: 'string',
                'expires-in': 'string',
            });
            if (positionals.length)
                throw new errors/* ConfigurationError */.j1(`${cmd}: unexpected argument "${positionals[0]}"`);
            const project = projectOf(values, env, cmd);
            const rawExp = values['expires-in'];
            const expiresIn = rawExp === undefined ? undefined : (0,flags/* parseExpiresIn */.bE)(rawExp);
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
                io.stdout.write((0,flags/* renderTable */.bo)(HEAD.token, [tokenRow(t)]));
                io.stderr.write('The token is shown once; store it as a secret:\n');
                io.stdout.write(`${t.token}\n`);
            }
            return 0;
        }
        case 'tokens list': {
            const { values, positionals } = (0,flags/* parseFlags */.bQ)(cmd, rest, { ...COMMON, project: 'string' });
            if (positionals.length)
                throw new errors/* ConfigurationError */.j1(`${cmd}: unexpected argument "${positionals[0]}"`);
            const project = projectOf(values, env, cmd);
            const { tokens } = await (await clientFor(values, env)).listProjectTokens(project);
            out(Boolean(values.json), tokens, () => (0,flags/* renderTable */.bo)(HEAD.token, tokens.map(tokenRow)));
            return 0;
        }
        case 'tokens revoke': {
            const { values, positionals } = (0,flags/* parseFlags */.bQ)(cmd, rest, { ...COMMON, project: 'string' });
            const id = one(positionals, 'token id', cmd);
            const project = projectOf(values, env, cmd);
            await (await clientFor(values, env)).revokeProjectToken(project, id);
            out(Boolean(values.json), { revoked: id }, () => `revoked token ${id}\n`);
            return 0;
        }
        case 'trust add': {
            const { values, positionals } = (0,flags/* parseFlags */.bQ)(cmd, rest, {
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
            out(Boolean(values.json), p, () => (0,flags/* renderTable */.bo)(HEAD.policy, [policyRow(p)]));
            return 0;
        }
        case 'trust list': {
            const { values, positionals } = (0,flags/* parseFlags */.bQ)(cmd, rest, { ...COMMON, project: 'string' });
            if (positionals.length)
                throw new errors/* ConfigurationError */.j1(`${cmd}: unexpected argument "${positionals[0]}"`);
            const project = projectOf(values, env, cmd);
            const { trust_policies } = await (await clientFor(values, env)).listTrustPolicies(project);
            out(Boolean(values.json), trust_policies, () => (0,flags/* renderTable */.bo)(HEAD.policy, trust_policies.map(policyRow)));
            return 0;
        }
        case 'trust remove': {
            const { values, positionals } = (0,flags/* parseFlags */.bQ)(cmd, rest, { ...COMMON, project: 'string' });
            const id = one(positionals, 'trust policy id', cmd);
            const project = projectOf(values, env, cmd);
            await (await clientFor(values, env)).removeTrustPolicy(project, id);
            out(Boolean(values.json), { removed: id }, () => `removed trust policy ${id}\n`);
            return 0;
        }
        case 'builds list': {
            const { values, positionals } = (0,flags/* parseFlags */.bQ)(cmd, rest, {
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
            out(Boolean(values.json), builds, () => (0,flags/* renderTable */.bo)(HEAD.build, builds.map(buildRow)));
            return 0;
        }
        case 'builds show': {
            const { values, positionals } = (0,flags/* parseFlags */.bQ)(cmd, rest, COMMON);
            const id = one(positionals, 'build id', cmd);
            const b = await (await clientFor(values, env)).getBuild(id);
            out(Boolean(values.json), b, () => {
                const table = (0,flags/* renderTable */.bo)(HEAD.build, [buildRow(b)]);
                const steps = renderStepSummary(b);
                const tail = steps ? `\n${steps}` : '';
                if (!b.targets?.length)
                    return `${table}${tail}`;
                const rows = b.targets.map((t) => [t.name, t.platforms.join(',') || 'default']);
                return `${table}\n${(0,flags/* renderTable */.bo)(['TARGET', 'PLATFORMS'], rows)}${tail}`;
            });
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