#!/usr/bin/env node
/******/ (() => { // webpackBootstrap
/******/ 	"use strict";
/******/ 	var __webpack_modules__ = ({

/***/ 25321:
/***/ ((__unused_webpack_module, __webpack_exports__, __nccwpck_require__) => {

/* harmony export */ __nccwpck_require__.d(__webpack_exports__, {
/* harmony export */   A8: () => (/* binding */ scanArgv),
/* harmony export */   E9: () => (/* binding */ parseDuration),
/* harmony export */   GT: () => (/* binding */ parseBuildArgv),
/* harmony export */   Lr: () => (/* binding */ flagRecorder),
/* harmony export */   j: () => (/* binding */ flagSpecFromHelp),
/* harmony export */   q6: () => (/* binding */ parseBool),
/* harmony export */   uN: () => (/* binding */ isRemoteContext)
/* harmony export */ });
/* unused harmony exports BUILDX_BUILD_FLAGS, HOIST_BUILD_FLAGS, recordHoistFlag */
/* harmony import */ var _lib_duration_js__WEBPACK_IMPORTED_MODULE_0__ = __nccwpck_require__(82543);
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
/** strconv.ParseBool, which pflag uses. */
function parseBool(raw) {
    if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(raw))
        return true;
    if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(raw))
        return false;
    return undefined;
}
/**
 * The scanArgv recorder of a command: Hoist's own flags go into `hoist`, a bool flag's value is
 * parsed as pflag parses it (a bad one is refused with pflag's own message), and the command
 * reads what it needs of the rest in `onBool` and `onValue`.
 */
function flagRecorder(hoist, onBool, onValue) {
    return (t, value) => {
        if (t.hoist) {
            recordHoistFlag(hoist, t.name, value);
            return undefined;
        }
        if (t.spec.kind === 'bool') {
            const b = parseBool(value);
            if (b === undefined) {
                return `invalid argument "${value}" for "--${t.name}" flag: strconv.ParseBool: parsing "${value}": invalid syntax`;
            }
            onBool(t.name, b);
            return undefined;
        }
        onValue(t.name, value);
        return undefined;
    };
}
/** Hoist's own options from a flag the scanner reported as Hoist's. */
function recordHoistFlag(hoist, name, value) {
    const key = {
        project: 'project',
        token: 'token',
        'api-url': 'apiUrl',
        'build-platform': 'buildPlatform',
        wait: 'wait',
    }[name];
    hoist[key] = value;
}
/**
 * Walks argv the way pflag (cobra) walks a buildx command's argv, so that positionals are found
 * exactly where buildx finds them. `record` sees every flag with its value and may refuse it with
 * a usage error. Shared by `hoist build` and `hoist bake`; pure.
 */
function scanArgv(argv, flags, record) {
    const buildxArgs = [];
    const positionals = [];
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
                const err = record(t, 'true');
                if (err)
                    return { kind: 'usage-error', message: err };
                j++;
            }
            buildxArgs.push(...tokens);
            continue;
        }
        positionals.push(arg);
        buildxArgs.push(arg);
    }
    return { kind: 'ok', buildxArgs, positionals };
}
/**
 * Parses `hoist build` argv the way pflag would parse `docker buildx build` argv, so that the context
 * positional is found exactly where buildx would find it. `extraFlags` extends the table with flags a
 * newer buildx reported (see the unknown-flag path in run.ts).
 */
function parseBuildArgv(argv, extraFlags = {}) {
    const flags = { ...BUILDX_BUILD_FLAGS, ...extraFlags };
    const hoist = {};
    const facts = { platforms: [], tags: [], push: false, load: false };
    const record = flagRecorder(hoist, (name, b) => {
        if (name === 'push')
            facts.push = b;
        if (name === 'load')
            facts.load = b;
    }, (name, value) => {
        switch (name) {
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
    });
    const scanned = scanArgv(argv, flags, record);
    if (scanned.kind !== 'ok')
        return scanned;
    const { buildxArgs, positionals } = scanned;
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
const parseDuration = _lib_duration_js__WEBPACK_IMPORTED_MODULE_0__/* .parseDurationMs */ .y;
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


/***/ }),

/***/ 37952:
/***/ ((__unused_webpack_module, __webpack_exports__, __nccwpck_require__) => {

/* harmony export */ __nccwpck_require__.d(__webpack_exports__, {
/* harmony export */   $W: () => (/* binding */ backgroundFinishEnabled),
/* harmony export */   Em: () => (/* binding */ endBuild),
/* harmony export */   IW: () => (/* binding */ runFinisher),
/* harmony export */   Q7: () => (/* binding */ FINISH_COMMAND),
/* harmony export */   Zl: () => (/* binding */ OWNER_FILE),
/* harmony export */   cM: () => (/* binding */ handOffFinish)
/* harmony export */ });
/* harmony import */ var node_child_process__WEBPACK_IMPORTED_MODULE_0__ = __nccwpck_require__(31421);
/* harmony import */ var node_child_process__WEBPACK_IMPORTED_MODULE_0___default = /*#__PURE__*/__nccwpck_require__.n(node_child_process__WEBPACK_IMPORTED_MODULE_0__);
/* harmony import */ var node_fs_promises__WEBPACK_IMPORTED_MODULE_1__ = __nccwpck_require__(51455);
/* harmony import */ var node_fs_promises__WEBPACK_IMPORTED_MODULE_1___default = /*#__PURE__*/__nccwpck_require__.n(node_fs_promises__WEBPACK_IMPORTED_MODULE_1__);
/* harmony import */ var _lib_client_js__WEBPACK_IMPORTED_MODULE_2__ = __nccwpck_require__(47072);
/* harmony import */ var _lib_errors_js__WEBPACK_IMPORTED_MODULE_3__ = __nccwpck_require__(97268);
/* harmony import */ var _lib_extra_ca_js__WEBPACK_IMPORTED_MODULE_8__ = __nccwpck_require__(18966);
/* harmony import */ var _lib_text_js__WEBPACK_IMPORTED_MODULE_4__ = __nccwpck_require__(79112);
/* harmony import */ var _lib_api_types_js__WEBPACK_IMPORTED_MODULE_5__ = __nccwpck_require__(96575);
/* harmony import */ var _buildx_js__WEBPACK_IMPORTED_MODULE_6__ = __nccwpck_require__(43796);
/* harmony import */ var _steps_js__WEBPACK_IMPORTED_MODULE_7__ = __nccwpck_require__(81713);
// The end of a successful `hoist build` after buildx has exited: capture the steps, remove the
// builder definition and the private dir, report the build's end (which ends its certificates).
// None of it changes the exit status, so `hoist build` hands it to a background process of its
// own (`hoist __finish-build`) and exits at once: a fully cached build no longer waits for a
// `buildx history logs` process and two round trips (see README, "Hoist's own overhead").









/** Hidden command that runs {@link runFinisher}; never typed by users. */
const FINISH_COMMAND = '__finish-build';
/** Name of the note in the private dir that tells a later run who owns it (see sweepStale). */
const OWNER_FILE = 'owner.json';
/** HOIST_FINISH_IN_BACKGROUND=false keeps the whole end of the build before `hoist build` exits. */
function backgroundFinishEnabled(env) {
    return !/^(0|false|no|off)$/i.test(env.HOIST_FINISH_IN_BACKGROUND ?? '');
}
/**
 * Removes the builder definition and the private dir while the server is told the build's end;
 * neither waits on the other. Warns (never throws).
 */
async function endBuild(opts) {
    const { client, buildId, builder, tmp, result, warn } = opts;
    const removed = (async () => {
        if (builder) {
            await (0,_buildx_js__WEBPACK_IMPORTED_MODULE_6__/* .removeBuilder */ .iq)(opts.bxConfig, builder).catch((err) => warn(`could not remove buildx builder ${builder} (${(0,_lib_errors_js__WEBPACK_IMPORTED_MODULE_3__/* .errorMessage */ .gJ)(err)}); run "docker buildx rm ${builder}"`));
        }
        if (tmp)
            await (0,node_fs_promises__WEBPACK_IMPORTED_MODULE_1__.rm)(tmp, { recursive: true, force: true });
        opts.onCleaned?.();
    })();
    const reported = (async () => {
        if (!client || !buildId)
            return;
        try {
            // The server refuses a longer error (413): send its start rather than lose the finish.
            const error = result.error && (0,_lib_text_js__WEBPACK_IMPORTED_MODULE_4__/* .truncateUtf8 */ .C)(result.error, _lib_api_types_js__WEBPACK_IMPORTED_MODULE_5__/* .BUILD_ERROR_MAX_BYTES */ .fI);
            const phases = (0,_steps_js__WEBPACK_IMPORTED_MODULE_7__/* .phasesOf */ .I$)(opts.marks);
            await client.finishBuild(buildId, error ? { ...result, error, phases } : { ...result, phases });
        }
        catch (err) {
            // a build the server already canceled or expired refuses a finish; that is not the user's error
            if (!(err instanceof _lib_errors_js__WEBPACK_IMPORTED_MODULE_3__/* .HoistApiError */ .Yg) || result.status !== 'canceled') {
                warn(`could not report the build's end (${result.status}): ${(0,_lib_errors_js__WEBPACK_IMPORTED_MODULE_3__/* .errorMessage */ .gJ)(err)}`);
            }
        }
    })();
    await Promise.all([removed, reported]);
}
/**
 * Starts the background process and hands it the state. Resolves with its pid once it holds the
 * state; rejects if it could not be started or took nothing (the caller then ends the build itself).
 * `beforeState` runs once the pid is known and before the state is sent: the caller records the
 * new owner of the private dir there, so that no other run sweeps it while the finisher works.
 */
function handOffFinish(state, env, beforeState) {
    return new Promise((resolve, reject) => {
        const script = process.argv[1];
        if (!script) {
            reject(new Error('no CLI script to start'));
            return;
        }
        const child = (0,node_child_process__WEBPACK_IMPORTED_MODULE_0__.spawn)(process.execPath, [...process.execArgv, script, FINISH_COMMAND], {
            detached: true,
            // no stdout/stderr: a CI runner (or a caller) waiting for the step's output to end would wait
            // for this process too
            stdio: ['pipe', 'ignore', 'ignore'],
            // names the build it ends, for `ps e` and for tests that wait for it
            env: { ...(0,_lib_extra_ca_js__WEBPACK_IMPORTED_MODULE_8__/* .withDeferredExtraCa */ .Mf)(env), HOIST_FINISHING_BUILD: state.build_id },
        });
        child.once('error', reject);
        child.stdin.once('error', reject);
        const pid = child.pid;
        if (pid === undefined)
            return; // 'error' follows
        beforeState(pid).then(() => child.stdin.end(JSON.stringify(state), () => {
            child.unref();
            resolve(pid);
        }), (err) => {
            child.kill('SIGKILL');
            reject(err instanceof Error ? err : new Error(String(err)));
        });
    });
}
async function readAll(stream) {
    const chunks = [];
    for await (const c of stream)
        chunks.push(typeof c === 'string' ? Buffer.from(c) : c);
    return Buffer.concat(chunks).toString('utf8');
}
/**
 * `hoist __finish-build`: ends a successful build handed off by `hoist build` (steps, clean-up,
 * finish). Its stdout and stderr go nowhere, so warnings are kept only in the timings file when
 * one was asked for. Without a complete state (the parent died first) there is nothing it may
 * touch: a later run sweeps the private dir, and the server expires the build.
 */
async function runFinisher(stdin, env) {
    const t0 = performance.now();
    let s;
    try {
        s = JSON.parse(await readAll(stdin));
    }
    catch {
        return 1;
    }
    const received = performance.now();
    const warnings = [];
    const warn = (m) => void warnings.push(m);
    const client = new _lib_client_js__WEBPACK_IMPORTED_MODULE_2__/* .HoistClient */ .Ls({
        apiUrl: s.api_url,
        userAgent: s.user_agent,
        caPem: s.ca_pem,
        token: s.build_token,
    });
    // the build stays alive (and its certificate renewed by the server) while the steps are read
    const hb = setInterval(() => void client.heartbeat(s.build_id).catch(() => undefined), Math.max(s.heartbeat_ms, 200));
    hb.unref();
    const marks = {};
    try {
        await (0,_steps_js__WEBPACK_IMPORTED_MODULE_7__/* .reportSteps */ .Ek)({
            bx: s.bx,
            builder: s.builder,
            platforms: s.platforms,
            env,
            dockerfile: s.dockerfile,
            warn,
            send: (r) => client.postSteps(s.build_id, r),
        });
        marks.steps_sent = performance.now();
    }
    finally {
        clearInterval(hb);
    }
    await endBuild({
        client,
        buildId: s.build_id,
        builder: s.builder,
        bxConfig: s.buildx_config,
        tmp: s.tmp,
        result: { status: 'success' },
        marks: s.marks,
        warn,
    });
    marks.finished = performance.now();
    if (s.timings_file) {
        const rel = (v) => Math.round((v - received) * 10) / 10;
        await (0,node_fs_promises__WEBPACK_IMPORTED_MODULE_1__.writeFile)(s.timings_file, JSON.stringify({
            start: Math.round(t0 * 10) / 10,
            received: Math.round(received * 10) / 10,
            steps_sent_ms: marks.steps_sent === undefined ? undefined : rel(marks.steps_sent),
            finished_ms: rel(marks.finished),
            warnings,
        })).catch(() => undefined);
    }
    return warnings.length ? 1 : 0;
}


/***/ }),

/***/ 82993:
/***/ ((__unused_webpack_module, __webpack_exports__, __nccwpck_require__) => {


// EXPORTS
__nccwpck_require__.d(__webpack_exports__, {
  Mv: () => (/* binding */ Timings),
  wz: () => (/* binding */ parseWithBuildx),
  AT: () => (/* binding */ platformOfThisMachine),
  cM: () => (/* binding */ runBuild),
  IK: () => (/* binding */ runOnHoist)
});

// UNUSED EXPORTS: BUILD_HELP, createBuild, describeBuilderPlacement, lostBuilderConnection, readCaCert

// EXTERNAL MODULE: external "node:child_process"
var external_node_child_process_ = __nccwpck_require__(31421);
// EXTERNAL MODULE: external "node:fs"
var external_node_fs_ = __nccwpck_require__(73024);
// EXTERNAL MODULE: external "node:fs/promises"
var promises_ = __nccwpck_require__(51455);
// EXTERNAL MODULE: external "node:os"
var external_node_os_ = __nccwpck_require__(48161);
// EXTERNAL MODULE: external "node:path"
var external_node_path_ = __nccwpck_require__(76760);
// EXTERNAL MODULE: ./src/lib/client.ts
var lib_client = __nccwpck_require__(47072);
// EXTERNAL MODULE: ./src/lib/errors.ts
var errors = __nccwpck_require__(97268);
// EXTERNAL MODULE: ./src/lib/text.ts
var lib_text = __nccwpck_require__(79112);
// EXTERNAL MODULE: ./src/cli/buildx.ts
var buildx = __nccwpck_require__(43796);
// EXTERNAL MODULE: ./src/cli/build-argv.ts
var build_argv = __nccwpck_require__(25321);
;// CONCATENATED MODULE: ./src/cli/build-help.ts
// `hoist build --help` (and `hoist bake --help`): Hoist's own flags, then the flags of the
// buildx subcommand it will run, which it passes through unchanged, so that one help shows
// every flag it accepts.


/**
 * The flag sections of `buildx build --help`: from "Options:" (docker's plugin help) or
 * "Flags:" (a standalone buildx) to the end, "Global Flags:" included. Undefined when the text
 * has neither. Pure.
 */
function buildxFlagSections(help) {
    const lines = help.replace(/\r\n/g, '\n').split('\n');
    const start = lines.findIndex((l) => /^(Options|Flags):\s*$/.test(l));
    if (start < 0)
        return undefined;
    return lines.slice(start).join('\n').trimEnd();
}
/** The text appended to Hoist's help: buildx's flags, or where to get buildx when it is missing. Pure. */
function buildxHelpSection(found, sub = 'build') {
    if ('problem' in found) {
        return [
            `docker buildx ${sub} options: not shown, because buildx could not be run`,
            `(${found.problem}).`,
            `Every "docker buildx ${sub}" flag is accepted. ${buildx/* BUILDX_INSTALL_HINT */.FD}`,
            '',
        ].join('\n');
    }
    const flags = buildxFlagSections(found.help);
    if (!flags) {
        return `docker buildx ${sub} options: "${found.display} ${sub} --help" printed no flag list; run it to see them.\n`;
    }
    return `docker buildx ${sub} options (from "${found.display} ${sub} --help", passed to buildx unchanged):\n\n${flags}\n`;
}
/** Asks the buildx `hoist <sub>` will run for the flags of `buildx <sub>`; never throws. */
async function buildxHelp(getBuildx, env, sub = 'build') {
    let bx;
    try {
        bx = await getBuildx();
    }
    catch (err) {
        return buildxHelpSection({ problem: (0,errors/* errorMessage */.gJ)(err).replace(/\.? Install Docker Buildx[\s\S]*$/, '') }, sub);
    }
    const r = await (0,buildx/* capture */.Fg)(bx.file, [...bx.prefix, sub, '--help'], env);
    if (r.code !== 0) {
        const why = (r.stderr || r.stdout).trim().split('\n')[0] || `exit code ${r.code}`;
        return buildxHelpSection({ problem: `${bx.display} ${sub} --help: ${why}` }, sub);
    }
    return buildxHelpSection({ display: bx.display, help: r.stdout }, sub);
}

// EXTERNAL MODULE: ./src/cli/build-finish.ts
var build_finish = __nccwpck_require__(37952);
// EXTERNAL MODULE: ./src/cli/config.ts
var cli_config = __nccwpck_require__(74114);
// EXTERNAL MODULE: ./src/cli/resolve.ts
var resolve = __nccwpck_require__(68558);
// EXTERNAL MODULE: ./src/cli/steps.ts
var steps = __nccwpck_require__(81713);
;// CONCATENATED MODULE: ./src/cli/live-steps.ts
// Steps while the build runs. buildx takes one --progress mode, and it is the user's: instead
// of a second renderer, a second client of the same buildkitd follows this build's progress.
// buildx writes each build's ref into its local state (refs/BUILDER/NODE/REF) before the solve
// starts; `buildx history logs --progress rawjson REF` on an active build asks BuildKit's
// Status API for that ref, which replays what was sent so far and then follows the build live
// until it ends, over the build's own certificate. Nothing of it reaches the user's terminal,
// and a failure here (an old buildkitd, a record not there yet, a refused batch) only costs
// the live view: the full set is still sent at finish (steps.ts).






/** Nothing starts before this: a build shorter than it sends its steps at finish only. */
const LIVE_DELAY_MS = 1000;
/** At most one batch per this interval. */
const LIVE_BATCH_MS = 1000;
/** Bounds of one batch: steps, and bytes of their JSON (log tails are capped per step already). */
const BATCH_MAX_STEPS = 100;
const BATCH_MAX_BYTES = 256 * 1024;
/** Records followed at once (a bake has one per target and node); the rest arrive at finish. */
const MAX_FOLLOWERS = 8;
/** How often buildx's local state is read for new refs. */
const SCAN_MS = 250;
/** A record may not exist yet when its ref file does (the solve request is still on its way). */
const FOLLOW_TRIES = 10;
/** HOIST_STEPS=false sends no steps at all; HOIST_STEPS_LIVE=false sends them at finish only. */
function liveStepsEnabled(env) {
    const off = (v) => /^(0|false|no|off)$/i.test(v ?? '');
    return !off(env.HOIST_STEPS) && !off(env.HOIST_STEPS_LIVE);
}
/**
 * Splits changed steps into batches of at most `maxSteps` steps and about `maxBytes` of JSON
 * (a single larger step still goes, alone). Pure.
 */
function chunkSteps(steps, maxSteps, maxBytes) {
    const out = [];
    let cur = [];
    let bytes = 0;
    for (const s of steps) {
        const n = Buffer.byteLength(JSON.stringify(s));
        if (cur.length && (cur.length >= maxSteps || bytes + n > maxBytes)) {
            out.push(cur);
            cur = [];
            bytes = 0;
        }
        cur.push(s);
        bytes += n;
    }
    if (cur.length)
        out.push(cur);
    return out;
}
/**
 * Follows the records buildx starts on `builder` and sends their steps as they change, marked
 * partial, until stop(). Never throws and never writes to the terminal.
 */
function startLiveSteps(o) {
    const via = o.bx.direct ?? o.bx;
    const refsDir = (0,external_node_path_.join)((0,buildx/* buildxConfigDir */.iL)(o.env), 'refs', o.builder);
    const batchMs = o.batchMs ?? LIVE_BATCH_MS;
    const followers = new Map();
    const pending = new Map();
    const timers = new Set();
    const sent = { batches: 0, steps: 0 };
    const aborted = new AbortController();
    let stopped = false;
    let sending = false;
    let again = false;
    let warningsChanged = false;
    let flushTimer;
    let lastFlush = 0;
    const later = (ms, fn) => {
        const t = setTimeout(() => {
            timers.delete(t);
            if (!stopped)
                fn();
        }, ms);
        t.unref();
        timers.add(t);
        return t;
    };
    const scan = async () => {
        try {
            for (const node of await (0,promises_.readdir)(refsDir)) {
                const platform = (0,steps/* platformOfNode */.f2)(node, o.platforms);
                for (const ref of (await (0,promises_.readdir)((0,external_node_path_.join)(refsDir, node)).catch(() => [])).filter(steps/* isRefName */.pA)) {
                    if (stopped || followers.has(ref) || followers.size >= MAX_FOLLOWERS)
                        continue;
                    const f = { ref, collector: new steps/* StepCollector */.yr(platform), tries: 0 };
                    followers.set(ref, f);
                    follow(f);
                }
            }
        }
        catch {
            // not written yet
        }
        if (!stopped && followers.size < MAX_FOLLOWERS)
            later(SCAN_MS, () => void scan());
    };
    const follow = (f) => {
        f.tries++;
        let got = false;
        let said = '';
        let child;
        try {
            child = (0,external_node_child_process_.spawn)(via.file, [...via.prefix, 'history', 'logs', '--builder', o.builder, '--progress', 'rawjson', f.ref], { env: o.env, stdio: ['ignore', 'pipe', 'pipe'] });
        }
        catch {
            return;
        }
        f.child = child;
        const onLines = () => {
            let rest = '';
            return (d) => {
                const lines = (rest + d).split('\n');
                rest = lines.pop();
                for (const line of lines) {
                    if (!line.startsWith('{')) {
                        if (said.length < 1024)
                            said += `${line}\n`;
                        continue;
                    }
                    got = true;
                    f.collector.feed(line);
                }
                if (got)
                    changed();
            };
        };
        // rawjson goes to stderr, like a build's progress
        child.stdout.setEncoding('utf8').on('data', onLines());
        child.stderr.setEncoding('utf8').on('data', onLines());
        child.on('error', () => undefined);
        child.on('close', (code) => {
            f.child = undefined;
            if (stopped)
                return;
            // "no record found": the solve has not reached buildkitd yet. Anything else (a buildx
            // without `history logs`, a refused connection) would say the same again.
            if (code !== 0 && !got && /no record found/i.test(said) && f.tries < FOLLOW_TRIES) {
                later(300, () => follow(f));
                return;
            }
            changed();
        });
    };
    const changed = () => {
        if (stopped || flushTimer)
            return;
        flushTimer = later(Math.max(100, lastFlush + batchMs - Date.now()), () => {
            flushTimer = undefined;
            void flush();
        });
    };
    const flush = async () => {
        if (stopped)
            return;
        if (sending) {
            again = true;
            return;
        }
        for (const f of followers.values()) {
            for (const s of f.collector.takeChanged())
                pending.set(`${s.platform}\u0000${s.digest}`, s);
            if (f.collector.takeWarningsChanged())
                warningsChanged = true;
        }
        if (pending.size === 0 && !warningsChanged)
            return;
        const batches = chunkSteps([...pending.values()], BATCH_MAX_STEPS, BATCH_MAX_BYTES);
        pending.clear();
        const withWarnings = warningsChanged;
        warningsChanged = false;
        sending = true;
        lastFlush = Date.now();
        try {
            for (let i = 0; i < Math.max(1, batches.length); i++) {
                const steps = batches[i] ?? [];
                const req = { steps, partial: true };
                if (i === 0 && withWarnings) {
                    req.warnings = [...followers.values()].flatMap((f) => f.collector.warnings()).slice(0, 500);
                }
                try {
                    await o.send(req, aborted.signal);
                    sent.batches++;
                    sent.steps += steps.length;
                }
                catch (err) {
                    if (stopped)
                        return;
                    // the build ended (409), its token died (401), or the request is refused: nothing
                    // later would be taken either
                    if (err instanceof errors/* HoistApiError */.Yg && err.status >= 400 && err.status < 500 && err.status !== 429) {
                        stop();
                        return;
                    }
                    // unreachable or busy: these steps go again with the next batch, unless newer
                    for (const s of batches.slice(i).flat()) {
                        const k = `${s.platform}\u0000${s.digest}`;
                        if (!pending.has(k))
                            pending.set(k, s);
                    }
                    if (i === 0 && withWarnings)
                        warningsChanged = true;
                    break;
                }
            }
        }
        finally {
            sending = false;
        }
        if (again || pending.size) {
            again = false;
            changed();
        }
    };
    const stop = () => {
        if (stopped)
            return;
        stopped = true;
        // a batch in flight must not hold `hoist build` back: the full set follows anyway
        aborted.abort();
        for (const t of timers)
            clearTimeout(t);
        timers.clear();
        for (const f of followers.values()) {
            const c = f.child;
            if (!c)
                continue;
            c.kill('SIGTERM');
            // nothing of it may keep `hoist build` from exiting
            c.unref();
            c.stdout?.destroy();
            c.stderr?.destroy();
        }
    };
    later(o.delayMs ?? LIVE_DELAY_MS, () => void scan());
    return { stop, sent };
}

// EXTERNAL MODULE: ./src/cli/version.ts + 1 modules
var version = __nccwpck_require__(3985);
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
      --wait duration           Longest wait for the server to take the build and for a builder,
                                e.g. 90s or 10m (default 10m)

Environment: HOIST_BUILDX (a standalone buildx binary to use instead of "docker buildx"),
HOIST_OIDC_AUDIENCE (audience of the GitHub ID token; default: the API URL), HOIST_CONFIG
(the "hoist login" file), HOIST_TMPDIR (parent of the private dir for the build's certificates),
HOIST_CA_CERT (PEM file of the CA of an https:// server's certificate, trusted besides the system's),
HOIST_FINISH_IN_BACKGROUND=false (report a successful build's end before exiting, not just after).
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
        // process.uptime(), not performance.now(): the first call of the latter loads perf_hooks, about
        // a millisecond of every build
        this.marks[name] = Math.round(process.uptime() * 10_000) / 10;
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
async function parseWithBuildx(argv, io, getBuildx, command) {
    const extra = {};
    for (let round = 0; round < 20; round++) {
        const parsed = command.parse(argv, extra);
        switch (parsed.kind) {
            case 'help':
                io.stdout.write(`${command.help}\n${await buildxHelp(getBuildx, io.env, command.name)}`);
                return 0;
            case 'usage-error':
                io.stderr.write(`hoist ${command.name}: ${parsed.message}\n`);
                return 1;
            case 'unknown-flag': {
                const unknown = parsed;
                // buildx decides: its own error message if it does not know the flag either,
                // else the flag's kind from its help text. `--help` keeps buildx from building anything.
                const bx = await getBuildx();
                const r = await (0,buildx/* capture */.Fg)(bx.file, [...bx.prefix, command.name, '--help', unknown.token, 'x'], io.env);
                if (r.code !== 0) {
                    io.stderr.write(r.stderr || r.stdout);
                    return r.code;
                }
                const name = unknown.flag.replace(/^-+/, '');
                const spec = unknown.flag.startsWith('--')
                    ? (0,build_argv/* flagSpecFromHelp */.j)(r.stdout, name)
                    : undefined;
                if (unknown.flag.startsWith('--')) {
                    extra[name] = spec ?? { kind: unknown.token.includes('=') ? 'value' : 'bool' };
                }
                else {
                    const m = new RegExp(`^\\s+-${name}, --([\\w-]+)(?: (\\w+))?`, 'm').exec(r.stdout);
                    if (!m) {
                        io.stderr.write(`hoist ${command.name}: cannot tell how buildx parses ${unknown.flag}; use its long form\n`);
                        return 1;
                    }
                    extra[m[1]] = { kind: m[2] ? 'value' : 'bool', short: name };
                }
                break;
            }
            default:
                return parsed;
        }
    }
    io.stderr.write(`hoist ${command.name}: too many flags unknown to Hoist\n`);
    return 1;
}
/** Runs `hoist build`; returns the exit code (buildx's, when buildx ran). */
async function runBuild(argv, io) {
    const timings = new Timings();
    let buildxPromise;
    const getBuildx = () => (buildxPromise ??= (0,buildx/* findBuildx */.ah)(io.env));
    const parsed = await parseWithBuildx(argv, io, getBuildx, {
        name: 'build',
        help: BUILD_HELP,
        parse: build_argv/* parseBuildArgv */.GT,
    });
    if (typeof parsed === 'number')
        return parsed;
    const { hoist, buildxArgs, facts } = parsed;
    const local = !(0,build_argv/* isRemoteContext */.uN)(facts.context) && facts.context !== '-';
    return runOnHoist(io, getBuildx, {
        command: 'build',
        hoist,
        buildxArgs,
        builder: facts.builder,
        platforms: facts.platforms,
        options: {
            target_platforms: facts.platforms,
            tags: facts.tags,
            push: facts.push,
            load: facts.load,
            target: facts.target ?? null,
            context: local ? 'local' : facts.context === '-' ? 'stdin' : 'remote',
        },
        projectFiles: () => Promise.all([
            local ? (0,cli_config/* findHoistJson */.P2)((0,external_node_path_.resolve)(io.cwd, facts.context)) : Promise.resolve(undefined),
            facts.file && facts.file !== '-' && !(0,build_argv/* isRemoteContext */.uN)(facts.context)
                ? (0,cli_config/* findHoistJson */.P2)((0,external_node_path_.dirname)((0,external_node_path_.resolve)(io.cwd, facts.file)))
                : Promise.resolve(undefined),
        ]),
        timings,
        dockerfile: local && facts.file !== '-'
            ? (0,external_node_path_.resolve)(io.cwd, facts.file ?? (0,external_node_path_.join)(facts.context, 'Dockerfile'))
            : undefined,
    });
}
/**
 * Runs one buildx command on the project's Hoist builders: the build record, the builder nodes
 * for its platforms, a temporary buildx builder with private certificates, cancel on
 * SIGINT/SIGTERM, and clean-up. Returns buildx's exit code when buildx ran.
 */
async function runOnHoist(io, getBuildx, run) {
    const { env } = io;
    const timings = run.timings ?? new Timings();
    const warn = (m) => void io.stderr.write(`hoist: warning: ${m}\n`);
    const info = (m) => void io.stderr.write(`hoist: ${m}\n`);
    // Inside GitHub Actions, the runner hides every value it was told to mask from the job log;
    // tokens this process obtains itself are masked the moment it has them (stderr, so that
    // stdout stays buildx's own, e.g. with --quiet).
    const mask = (secret) => {
        if (env.GITHUB_ACTIONS === 'true' && secret)
            void io.stderr.write(`::add-mask::${secret}\n`);
    };
    const { hoist, buildxArgs } = run;
    if (run.builder)
        warn(`ignoring --builder ${run.builder}: the build runs on the project's Hoist builder`);
    const waitMs = hoist.wait === undefined ? DEFAULT_WAIT_MS : (0,build_argv/* parseDuration */.E9)(hoist.wait);
    if (waitMs === undefined) {
        throw new errors/* ConfigurationError */.j1(`--wait "${hoist.wait}" is not a duration; use e.g. 90s, 10m or 1h`);
    }
    // Find buildx while the server is being asked: its absence must stop us before a build exists,
    // but it need not cost a round trip of its own.
    const buildxReady = getBuildx();
    buildxReady.catch(() => undefined);
    // the files that say where and as what to build are read at once, not one after the other
    const projectFiles = run.projectFiles();
    const caCert = readCaCert(env);
    for (const p of [projectFiles, caCert])
        p.catch(() => undefined); // awaited below
    const config = await (0,cli_config/* readUserConfig */.AV)((0,cli_config/* configPath */.eQ)(env));
    const api = (0,resolve/* resolveApiUrl */.c_)({ flag: hoist.apiUrl, env: env.HOIST_API_URL, config });
    if (!api.ok)
        throw new errors/* ConfigurationError */.j1(api.message);
    const tokenChoice = (0,resolve/* resolveToken */.E7)({
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
    const [fromContext, fromDockerfile] = await projectFiles;
    const project = (0,resolve/* resolveProject */.KI)({
        flag: hoist.project,
        env: env.HOIST_PROJECT_ID,
        fromContext,
        fromDockerfile,
    });
    for (const w of project.warnings)
        warn(w);
    const caPem = await caCert;
    let client = new lib_client/* HoistClient */.Ls({ apiUrl: api.value, userAgent: USER_AGENT, caPem });
    if (tokenChoice.value.kind === 'token') {
        client = client.withToken(tokenChoice.value.token);
    }
    else {
        const audience = env.HOIST_OIDC_AUDIENCE || api.value;
        const idToken = await (0,cli_config/* fetchGithubIdToken */.oe)(env, audience);
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
    const bxConfig = (0,buildx/* buildxConfigDir */.iL)(env);
    const swept = sweepStale(tmpParent, bxConfig, warn);
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
            killTimer ??= setTimeout(() => child?.kill('SIGKILL'), 10_000);
        }
    };
    const onSignal = (sig) => requestCancel(`received ${sig}`, sig);
    /** The server ended the build (canceled, expired, its token revoked): its certificates are dead too. */
    const serverEnded = (err) => {
        if (cancelReason !== undefined)
            return;
        const status = /finished with status (\w+)/.exec(err.message)?.[1];
        info(err.message);
        requestCancel(status === 'canceled'
            ? 'the Hoist server canceled this build'
            : `the Hoist server ended this build${status ? ` (status ${status})` : ''}`);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    let buildId;
    let buildClient;
    let tmp;
    let builder;
    let heartbeat;
    let preparing;
    const renewed = new CertFiles();
    let result = {
        status: 'failed',
        error: `hoist ${run.command} stopped before buildx ran`,
    };
    let exitCode = 1;
    let finisherPid;
    let live;
    try {
        const platformsToAcquire = hoist.buildPlatform ? [hoist.buildPlatform] : run.platforms;
        // One --wait budget for the server to take the build and for its builders.
        const deadline = Date.now() + waitMs;
        const created = await createBuild(client, {
            project: project.project,
            platforms: platformsToAcquire,
            options: { cli_version: version/* VERSION */.x, ...run.options },
            context: (0,steps/* buildContext */.gC)(env),
        }, deadline, cancel.signal, info);
        buildId = created.build_id;
        mask(created.build_token);
        buildClient = client.withToken(created.build_token);
        timings.mark('created');
        info(`build ${(0,lib_text/* escapeControls */.U)(created.build_id)}: ${(0,lib_text/* escapeControls */.U)(created.build_url)}`);
        let hbMs = Number(env.HOIST_HEARTBEAT_MS) || 5_000;
        const bc = buildClient;
        const id = buildId;
        const beat = () => {
            heartbeat = setTimeout(() => {
                bc.heartbeat(id).then(async (r) => {
                    if (r.cancel)
                        requestCancel('the Hoist server canceled this build');
                    for (const c of r.certs ?? [])
                        await renewed.set(c);
                    if (!cancel.signal.aborted)
                        beat();
                }, (err) => {
                    // the server ended the build (expired, canceled, finished): its certificate is dead too
                    if (err instanceof errors/* HoistApiError */.Yg && err.status === 409) {
                        serverEnded(err);
                    }
                    else {
                        warn(`heartbeat failed: ${(0,errors/* errorMessage */.gJ)(err)}`);
                        if (!cancel.signal.aborted)
                            beat();
                    }
                });
            }, hbMs);
            heartbeat.unref();
        };
        beat();
        // The private dir (and the note that lets a later run clean up after a killed one) is made
        // while the builders are being acquired.
        builder = (0,buildx/* builderName */.b8)(buildId);
        const owner = { pid: process.pid, builder, buildx_config: bxConfig };
        // (small local writes, synchronous: a thread pool round trip each would cost more)
        const prepared = Promise.resolve().then(() => {
            const dir = (0,external_node_fs_.mkdtempSync)((0,external_node_path_.join)(tmpParent, 'hoist-build-'));
            tmp = dir;
            (0,external_node_fs_.writeFileSync)((0,external_node_path_.join)(dir, build_finish/* OWNER_FILE */.Zl), JSON.stringify(owner), { mode: 0o600 });
            return dir;
        });
        preparing = prepared;
        prepared.catch(() => undefined);
        let platforms = platformsToAcquire;
        if (platforms.length === 0) {
            // the server's default platform: in the creation answer, or (older servers) in the build
            platforms = created.platforms?.length
                ? created.platforms
                : ((await buildClient.getBuild(buildId).catch(() => undefined))?.platforms ?? []);
            if (platforms.length === 0)
                platforms = [platformOfThisMachine()];
        }
        if (cancel.signal.aborted)
            throw new Error(cancelReason);
        const nodes = await Promise.all(platforms.map((p) => {
            const ready = created.builders?.[created.platforms?.indexOf(p) ?? -1];
            if (ready?.status === 'active') {
                announcePlacement(p, ready, info);
                return ready;
            }
            return acquire(bc, id, p, deadline, waitMs, cancel.signal, info);
        }));
        // renewals must come before the shortest certificate expires
        for (const n of nodes)
            if (n.heartbeat_ms > 0)
                hbMs = Math.min(hbMs, n.heartbeat_ms);
        if (cancel.signal.aborted)
            throw new Error(cancelReason);
        timings.mark('acquired');
        const dir0 = await prepared;
        /** Writes each node's PEMs (first time: new files) and the buildx builder that uses them. */
        const writeNodes = async (answers, first) => {
            const endpoints = (0,buildx/* distinctEndpoints */.TB)(answers.map((n) => n.endpoint));
            const specs = await Promise.all(answers.map(async (n, i) => {
                const dir = (0,external_node_path_.join)(dir0, String(i));
                if (first)
                    (0,external_node_fs_.mkdirSync)(dir, { mode: 0o700 });
                const files = {
                    cacert: (0,external_node_path_.join)(dir, 'ca.pem'),
                    cert: (0,external_node_path_.join)(dir, 'cert.pem'),
                    key: (0,external_node_path_.join)(dir, 'key.pem'),
                };
                const write = async (f, pem) => first ? (0,external_node_fs_.writeFileSync)(f, pem, { mode: 0o600, flag: 'wx' }) : replaceFile(f, pem);
                await Promise.all([
                    write(files.cacert, n.ca_pem),
                    write(files.cert, n.cert_pem),
                    write(files.key, n.key_pem),
                ]);
                if (first)
                    await renewed.attach(n.platform, files.cert);
                else
                    await renewed.set({ platform: n.platform, cert_pem: n.cert_pem, expires_at: n.expires_at });
                return {
                    node: `${builder}-${i}`,
                    endpoint: endpoints[i],
                    // with --build-platform one native node takes every target platform
                    platform: hoist.buildPlatform ? undefined : platforms[i],
                    serverName: n.server_name,
                    ...files,
                };
            }));
            // the remote-driver builder buildx create would store, written directly (no buildx process)
            await (0,buildx/* writeBuilder */.Vl)(bxConfig, builder, specs);
        };
        await writeNodes(nodes, true);
        timings.mark('builder_created');
        const bx = await buildxReady;
        if (cancel.signal.aborted)
            throw new Error(cancelReason);
        // the plugin run standalone where there is one (buildx.ts): the docker CLI in front of it
        // would add two program starts to every build
        const via = bx.direct ?? bx;
        const buildArgs = [...via.prefix, run.command, '--builder', builder, ...buildxArgs];
        // buildx needs none of Hoist's credentials: the builder's certificate is all it uses
        const { HOIST_TOKEN: _token, ...buildxEnv } = env;
        // Not on a terminal (CI), buildx's stderr passes through this process so that a lost builder
        // connection can be told from a failed build; on a terminal it keeps the terminal.
        const teeStderr = !process.stderr.isTTY;
        // The steps so far go to the server in batches while buildx runs, read by a second client of
        // the builder (live-steps.ts); the user's --progress output is buildx's own, untouched.
        if (liveStepsEnabled(env)) {
            const delay = Number(env.HOIST_STEPS_LIVE_DELAY_MS);
            live = startLiveSteps({
                bx,
                builder,
                platforms,
                env: buildxEnv,
                send: (r, signal) => bc.postSteps(id, r, signal),
                delayMs: env.HOIST_STEPS_LIVE_DELAY_MS && delay >= 0 ? delay : undefined,
            });
        }
        for (let attempt = 0;; attempt++) {
            let tail = '';
            child = (0,external_node_child_process_.spawn)(via.file, buildArgs, {
                env: buildxEnv,
                stdio: [run.stdin ? 'pipe' : 'inherit', 'inherit', teeStderr ? 'pipe' : 'inherit'],
                cwd: io.cwd,
            });
            const spawned = child;
            if (run.stdin)
                spawned.stdin?.on('error', () => undefined).end(run.stdin);
            spawned.stderr?.setEncoding('utf8').on('data', (d) => {
                io.stderr.write(d);
                tail = (tail + d).slice(-4096);
            });
            // should this process be killed outright, the next run stops this buildx too
            if (spawned.pid !== undefined) {
                await (0,promises_.writeFile)((0,external_node_path_.join)(dir0, build_finish/* OWNER_FILE */.Zl), JSON.stringify({ ...owner, buildx_pid: spawned.pid }), {
                    mode: 0o600,
                }).catch(() => undefined);
            }
            exitCode = await new Promise((res) => {
                spawned.on('error', (err) => {
                    // name what was run: the plugin binary itself when it ran standalone
                    const what = via === bx ? bx.display : via.file;
                    io.stderr.write(`hoist: cannot run ${what}: ${(0,errors/* errorMessage */.gJ)(err)}; check that it is an executable buildx, or set HOIST_BUILDX to one\n`);
                    res(127);
                });
                spawned.on('close', (code, signal) => res(code ?? 128 + (0,buildx/* signalNumber */.Al)(signal)));
            });
            child = undefined;
            if (exitCode === 0 || cancelReason !== undefined || attempt >= MAX_RECONNECTS)
                break;
            const lost = lostBuilderConnection(tail);
            if (!lost)
                break;
            // The build must still be on: a server that ended it closed the connection on purpose.
            const on = await bc.heartbeat(id).then(() => true, (err) => {
                if (err instanceof errors/* HoistApiError */.Yg && err.status === 409)
                    serverEnded(err);
                return false;
            });
            if (!on || cancel.signal.aborted)
                break;
            info(`the connection to the builder was lost (${lost}); a control-plane replica may have gone away. Getting the builder again and rerunning buildx: finished steps are cached (attempt ${attempt + 2} of ${MAX_RECONNECTS + 1})`);
            const again = await Promise.all(platforms.map((p) => acquire(bc, id, p, Date.now() + waitMs, waitMs, cancel.signal, info)));
            if (cancel.signal.aborted)
                break;
            await writeNodes(again, false);
        }
        // the full set follows at the end, from the build's record
        live?.stop();
        timings.mark('built');
        // Success: what is left changes nothing for the exit status (steps, clean-up, the finish
        // report), so a background process of our own does it and this one exits now.
        if (exitCode === 0 &&
            cancelReason === undefined &&
            io.finishInBackground &&
            (0,build_finish/* backgroundFinishEnabled */.$W)(env)) {
            const state = {
                api_url: bc.apiUrl,
                user_agent: USER_AGENT,
                ca_pem: caPem,
                build_id: id,
                build_token: created.build_token,
                builder,
                buildx_config: bxConfig,
                tmp: dir0,
                platforms,
                dockerfile: run.dockerfile,
                bx,
                heartbeat_ms: hbMs,
                marks: { ...timings.marks },
                timings_file: env.HOIST_TIMINGS_FILE ? `${env.HOIST_TIMINGS_FILE}.finisher.json` : undefined,
            };
            // from now on the finisher owns the private dir: a later run sweeps it only once that is gone
            finisherPid = await (0,build_finish/* handOffFinish */.cM)(state, buildxEnv, (pid) => (0,promises_.writeFile)((0,external_node_path_.join)(dir0, build_finish/* OWNER_FILE */.Zl), JSON.stringify({ ...owner, pid }), { mode: 0o600 })).catch((err) => {
                warn(`finishing the build here (no background process: ${(0,errors/* errorMessage */.gJ)(err)})`);
                return undefined;
            });
            if (finisherPid !== undefined) {
                timings.mark('handed_off');
                result = { status: 'success' };
                return exitCode;
            }
        }
        // The server closes an ended build's builder connections at once, so buildx may fail
        // before a heartbeat tells us why: ask.
        if (exitCode !== 0 && cancelReason === undefined) {
            await bc.heartbeat(id).then(() => undefined, (err) => {
                if (err instanceof errors/* HoistApiError */.Yg && err.status === 409)
                    serverEnded(err);
            });
        }
        // A build the server ended takes no steps any more (its token and certificates are dead);
        // one canceled here by a signal is still open on the server: send what it did so far.
        if (cancelReason === undefined || exitSignal !== undefined) {
            await (0,steps/* reportSteps */.Ek)({
                bx,
                builder,
                platforms,
                env,
                dockerfile: run.dockerfile,
                warn,
                send: (r) => bc.postSteps(id, r),
            });
            timings.mark('steps_sent');
        }
        if (cancelReason !== undefined) {
            result = { status: 'canceled', error: cancelReason };
            if (exitCode === 0)
                exitCode = 1;
        }
        else if (exitCode === 0) {
            result = { status: 'success' };
        }
        else {
            result = { status: 'failed', error: `docker buildx ${run.command} exited with code ${exitCode}` };
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
        live?.stop();
        if (heartbeat)
            clearTimeout(heartbeat);
        if (killTimer)
            clearTimeout(killTimer);
        await preparing?.catch(() => undefined);
        // Handed off: the background process removes the builder and the private dir and reports
        // the end. Otherwise the builder definition and the private dir go while the server is told
        // the build's end (which ends its certificates there); neither waits on the other.
        const ended = finisherPid === undefined
            ? (0,build_finish/* endBuild */.Em)({
                client: buildClient,
                buildId,
                builder,
                bxConfig,
                tmp,
                result,
                marks: timings.marks,
                warn,
                onCleaned: () => timings.mark('cleaned'),
            })
            : undefined;
        await Promise.all([ended, swept]);
        timings.mark('finished');
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        if (env.HOIST_TIMINGS_FILE) {
            await (0,promises_.writeFile)(env.HOIST_TIMINGS_FILE, JSON.stringify({
                build_id: buildId,
                ...timings.marks,
                finisher_pid: finisherPid,
                // what the boot (boot.cjs) made of the V8 code cache: accepted, rejected, none or off
                code_cache: globalThis[Symbol.for('hoist.codeCache')],
                live_batches: live?.sent.batches,
                live_steps: live?.sent.steps,
            }));
        }
    }
    if (exitSignal)
        return 128 + (0,buildx/* signalNumber */.Al)(exitSignal);
    return exitCode;
}
const USER_AGENT = `hoist-cli/${version/* VERSION */.x}`;
/** Times buildx is run again after its builder connection was lost (not after a failed build). */
const MAX_RECONNECTS = 2;
/**
 * What in buildx's last output says the connection to the builder broke (gRPC "Unavailable",
 * a reset or closed socket) rather than the build failing; null when nothing does. A step that
 * exits non-zero or a Dockerfile error never matches, so a broken build is never run twice.
 */
function lostBuilderConnection(stderrTail) {
    const lines = stderrTail.split('\n').filter((l) => /\bERROR\b|error:|rpc error/i.test(l));
    const last = lines.at(-1) ?? '';
    if (/did not complete successfully|exit code: \d+|failed to compute cache key|dockerfile parse error/i.test(last))
        return null;
    const m = /code = Unavailable|error reading from server[^\n]*|connection reset by peer|broken pipe|transport is closing|use of closed network connection|connection refused|unexpected EOF/i.exec(last);
    return m ? m[0] : null;
}
/** HOIST_CA_CERT: the PEM of the CA that signed the server's certificate, added to the system's. */
async function readCaCert(env) {
    const file = env.HOIST_CA_CERT;
    if (!file)
        return undefined;
    let pem;
    try {
        pem = (0,external_node_fs_.readFileSync)(file, 'utf8');
    }
    catch (err) {
        throw new errors/* ConfigurationError */.j1(`HOIST_CA_CERT=${file} cannot be read (${(0,errors/* errorMessage */.gJ)(err)}); set it to the PEM file of the CA that signed the Hoist server's certificate`);
    }
    if (!pem.includes('-----BEGIN CERTIFICATE-----')) {
        throw new errors/* ConfigurationError */.j1(`HOIST_CA_CERT=${file} holds no PEM certificate ("-----BEGIN CERTIFICATE-----"); give the CA certificate in PEM form`);
    }
    return pem;
}
/**
 * The client certificate of each platform: renewals that arrive before its files exist are kept
 * for the first write; later ones replace cert.pem in place (same path, 0600, by rename, so buildx,
 * which reads the file at every connection, never sees half a certificate). The key stays: a
 * renewal certifies the same key.
 */
class CertFiles {
    latest = new Map();
    paths = new Map();
    async set(c) {
        this.latest.set(c.platform, c.cert_pem);
        const file = this.paths.get(c.platform);
        if (file)
            await replaceFile(file, c.cert_pem);
    }
    /** The cert file of a platform now exists: bring it up to date with a renewal that came first. */
    async attach(platform, file) {
        this.paths.set(platform, file);
        const pem = this.latest.get(platform);
        if (pem)
            await replaceFile(file, pem);
    }
}
async function replaceFile(file, content) {
    const tmpFile = `${file}.${process.pid}.tmp`;
    await (0,promises_.rm)(tmpFile, { force: true });
    await (0,promises_.writeFile)(tmpFile, content, { mode: 0o600, flag: 'wx' });
    await (0,promises_.rename)(tmpFile, file);
}
/**
 * Removes what a killed `hoist build` left behind: each `hoist-build-*` dir of ours whose owner
 * process is gone, and the buildx builder it names. Never throws; costs a readdir when all is clean.
 */
async function sweepStale(parent, bxConfig, warn) {
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
                owner = JSON.parse(await (0,promises_.readFile)((0,external_node_path_.join)(dir, build_finish/* OWNER_FILE */.Zl), 'utf8'));
            }
            catch {
                continue; // being set up right now, or not ours
            }
            if (typeof owner.pid !== 'number' || processAlive(owner.pid))
                continue;
            if (typeof owner.buildx_pid === 'number' && typeof owner.builder === 'string') {
                await stopOrphanBuildx(owner.buildx_pid, owner.builder);
            }
            if (typeof owner.builder === 'string' && /^hoist-[\w.-]+$/.test(owner.builder)) {
                await (0,buildx/* removeBuilder */.iq)(typeof owner.buildx_config === 'string' ? owner.buildx_config : bxConfig, owner.builder);
            }
            await (0,promises_.rm)(dir, { recursive: true, force: true });
            warn(`removed ${typeof owner.builder === 'string' ? owner.builder : name}, left behind by a killed hoist build`);
        }
    }
    catch {
        // a sweep that cannot run changes nothing for this build
    }
}
/**
 * A buildx that outlived its killed `hoist build` still uses the builder: stop it, but only when
 * the pid still runs a build on that very builder (a pid can be reused).
 */
async function stopOrphanBuildx(pid, builder) {
    let argv;
    try {
        argv = (await (0,promises_.readFile)(`/proc/${pid}/cmdline`, 'utf8')).split('\0');
    }
    catch {
        return; // gone, or not Linux
    }
    const i = argv.indexOf('--builder');
    if (i < 0 || argv[i + 1] !== builder)
        return;
    // `docker buildx` runs the plugin as its child: stop both
    const pids = [pid, ...(await childrenOf(pid))];
    const signal = (sig) => {
        for (const p of pids) {
            try {
                process.kill(p, sig);
            }
            catch {
                /* gone */
            }
        }
    };
    signal('SIGTERM');
    for (let n = 0; n < 50 && pids.some(processAlive); n++)
        await new Promise((r) => setTimeout(r, 100));
    if (pids.some(processAlive))
        signal('SIGKILL');
}
async function childrenOf(pid) {
    const out = [];
    for (const e of await (0,promises_.readdir)('/proc').catch(() => [])) {
        if (!/^\d+$/.test(e))
            continue;
        const stat = await (0,promises_.readFile)(`/proc/${e}/stat`, 'utf8').catch(() => '');
        const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
        if (ppid === pid)
            out.push(Number(e));
    }
    return out;
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
/**
 * Creates the build. A 429 (the project is at its cap of active builds, or creating builds
 * faster than the server allows) is waited out as its Retry-After says, while the deadline allows.
 */
async function createBuild(client, req, deadline, signal, info) {
    let told = false;
    for (;;) {
        if (signal.aborted)
            throw new Error('canceled');
        try {
            // the builders that are ready at once come with the answer: no round trip of their own
            return await client.createBuild(req, { acquire: true });
        }
        catch (err) {
            if (!(err instanceof errors/* HoistApiError */.Yg) || err.status !== 429)
                throw err;
            const wait = Math.max(err.retryAfterMs ?? 1000, 100);
            if (Date.now() + wait > deadline)
                throw err;
            if (!told) {
                info(`the server cannot take the build yet; retrying within --wait: ${err.message}`);
                told = true;
            }
            await sleep(wait, signal);
        }
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
        if (answer.status === 'active') {
            announcePlacement(platform, answer, info);
            return answer;
        }
        lastReason = answer.reason;
        const left = deadline - Date.now();
        if (left <= 0) {
            throw new Error(`no ${platform} builder became available within --wait ${Math.round(waitMs / 1000)}s` +
                `${lastReason ? ` (the server said: ${lastReason})` : ''}. ` +
                'Try again later, raise --wait, or ask your Hoist admin about builder capacity.');
        }
        if (!told) {
            info(`waiting for a ${platform} builder: ${(0,lib_text/* escapeControls */.U)(lastReason)}`);
            told = true;
        }
        await sleep(Math.min(Math.max(answer.retry_after_ms, 50), left), signal);
    }
}
/** Says where a platform's builder is, when the server tells (pools). */
function announcePlacement(platform, a, info) {
    const where = describeBuilderPlacement(a);
    if (where)
        info(`builder ${platform}: ${(0,lib_text/* escapeControls */.U)(where)}`);
}
/**
 * Which pool served a platform and how, from a server that says so: "pool us-east-1, clone".
 * A fallback pool's cache starts empty, and the line says so (the action's summary reads it).
 */
function describeBuilderPlacement(a) {
    if (!a.pool)
        return '';
    const parts = [`pool ${a.pool}`];
    if (a.role === 'clone')
        parts.push('a clone of the project cache');
    if (a.shared)
        parts.push('shared with other builds (no clone in time)');
    if (a.cold_cache)
        parts.push('cold cache (a fallback pool served this build)');
    return parts.join(', ');
}


/***/ }),

/***/ 43796:
/***/ ((__unused_webpack_module, __webpack_exports__, __nccwpck_require__) => {

/* harmony export */ __nccwpck_require__.d(__webpack_exports__, {
/* harmony export */   Al: () => (/* binding */ signalNumber),
/* harmony export */   FD: () => (/* binding */ BUILDX_INSTALL_HINT),
/* harmony export */   Fg: () => (/* binding */ capture),
/* harmony export */   TB: () => (/* binding */ distinctEndpoints),
/* harmony export */   Vl: () => (/* binding */ writeBuilder),
/* harmony export */   ah: () => (/* binding */ findBuildx),
/* harmony export */   b8: () => (/* binding */ builderName),
/* harmony export */   iL: () => (/* binding */ buildxConfigDir),
/* harmony export */   iq: () => (/* binding */ removeBuilder)
/* harmony export */ });
/* unused harmony exports pluginDirs, onPath, createBuilderArgs, storedPlatform, builderDefinition, builderFiles */
/* harmony import */ var node_child_process__WEBPACK_IMPORTED_MODULE_0__ = __nccwpck_require__(31421);
/* harmony import */ var node_child_process__WEBPACK_IMPORTED_MODULE_0___default = /*#__PURE__*/__nccwpck_require__.n(node_child_process__WEBPACK_IMPORTED_MODULE_0__);
/* harmony import */ var node_fs__WEBPACK_IMPORTED_MODULE_1__ = __nccwpck_require__(73024);
/* harmony import */ var node_fs__WEBPACK_IMPORTED_MODULE_1___default = /*#__PURE__*/__nccwpck_require__.n(node_fs__WEBPACK_IMPORTED_MODULE_1__);
/* harmony import */ var node_fs_promises__WEBPACK_IMPORTED_MODULE_2__ = __nccwpck_require__(51455);
/* harmony import */ var node_fs_promises__WEBPACK_IMPORTED_MODULE_2___default = /*#__PURE__*/__nccwpck_require__.n(node_fs_promises__WEBPACK_IMPORTED_MODULE_2__);
/* harmony import */ var node_os__WEBPACK_IMPORTED_MODULE_3__ = __nccwpck_require__(48161);
/* harmony import */ var node_os__WEBPACK_IMPORTED_MODULE_3___default = /*#__PURE__*/__nccwpck_require__.n(node_os__WEBPACK_IMPORTED_MODULE_3__);
/* harmony import */ var node_path__WEBPACK_IMPORTED_MODULE_4__ = __nccwpck_require__(76760);
/* harmony import */ var node_path__WEBPACK_IMPORTED_MODULE_4___default = /*#__PURE__*/__nccwpck_require__.n(node_path__WEBPACK_IMPORTED_MODULE_4__);
/* harmony import */ var _lib_errors_js__WEBPACK_IMPORTED_MODULE_5__ = __nccwpck_require__(97268);
// Running buildx: as `docker buildx` (the plugin) or as a standalone `buildx` binary.






/**
 * Where the docker CLI looks for plugins, in its order: the config dir's cli-plugins, the
 * config file's `cliPluginsExtraDirs`, then the system dirs (docker/cli's defaults).
 */
function pluginDirs(env) {
    const home = env.HOME || (0,node_os__WEBPACK_IMPORTED_MODULE_3__.homedir)();
    const configDir = env.DOCKER_CONFIG || (0,node_path__WEBPACK_IMPORTED_MODULE_4__.join)(home, '.docker');
    return [
        (0,node_path__WEBPACK_IMPORTED_MODULE_4__.join)(configDir, 'cli-plugins'),
        ...extraPluginDirs(configDir),
        '/usr/local/lib/docker/cli-plugins',
        '/usr/local/libexec/docker/cli-plugins',
        '/usr/lib/docker/cli-plugins',
        '/usr/libexec/docker/cli-plugins',
    ];
}
/** `cliPluginsExtraDirs` of the docker config file; none when it is absent or unreadable. */
function extraPluginDirs(configDir) {
    let raw;
    try {
        raw = (0,node_fs__WEBPACK_IMPORTED_MODULE_1__.readFileSync)((0,node_path__WEBPACK_IMPORTED_MODULE_4__.join)(configDir, 'config.json'), 'utf8');
    }
    catch {
        return [];
    }
    try {
        const dirs = JSON.parse(raw).cliPluginsExtraDirs;
        return Array.isArray(dirs) ? dirs.filter((d) => typeof d === 'string' && d !== '') : [];
    }
    catch {
        return []; // the docker CLI reports a broken config file itself when it runs
    }
}
function executable(path) {
    try {
        (0,node_fs__WEBPACK_IMPORTED_MODULE_1__.accessSync)(path, node_fs__WEBPACK_IMPORTED_MODULE_1__.constants.X_OK);
        return (0,node_fs__WEBPACK_IMPORTED_MODULE_1__.statSync)(path).isFile();
    }
    catch {
        return false;
    }
}
/** The first executable `name` on PATH, without spawning anything. */
function onPath(name, env) {
    for (const dir of (env.PATH ?? '').split(node_path__WEBPACK_IMPORTED_MODULE_4__.delimiter)) {
        if (!dir)
            continue;
        const candidate = (0,node_path__WEBPACK_IMPORTED_MODULE_4__.join)(dir, name);
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
            child = (0,node_child_process__WEBPACK_IMPORTED_MODULE_0__.spawn)(file, args, { env: env, stdio: ['ignore', 'pipe', 'pipe'] });
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
            .map((d) => (0,node_path__WEBPACK_IMPORTED_MODULE_4__.join)(d, 'docker-buildx'))
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
    throw new _lib_errors_js__WEBPACK_IMPORTED_MODULE_5__/* .ConfigurationError */ .j1(`docker buildx is not available (${problems.join('; ')}). ${BUILDX_INSTALL_HINT}`);
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
/**
 * The endpoints of a builder's nodes, made distinct: every builder sits behind the server's one
 * gateway address (SNI, from each node's servername, picks the builder), but buildx refuses two
 * nodes with the same endpoint string. A repeated `tcp://host:port` gets leading zeros on its
 * port (`:09`, `:009`): the same port to Go's dialer, a different string to buildx. Pure.
 */
function distinctEndpoints(endpoints) {
    const seen = new Map();
    return endpoints.map((ep) => {
        const n = seen.get(ep) ?? 0;
        seen.set(ep, n + 1);
        const m = /^(tcp:\/\/.+:)(\d+)$/.exec(ep);
        return n > 0 && m ? `${m[1]}${'0'.repeat(n)}${m[2]}` : ep;
    });
}
/**
 * buildx's own config dir, where it keeps its builders: $BUILDX_CONFIG, else
 * $DOCKER_CONFIG/buildx, else ~/.docker/buildx (docker/buildx confutil).
 */
function buildxConfigDir(env) {
    if (env.BUILDX_CONFIG)
        return env.BUILDX_CONFIG;
    return (0,node_path__WEBPACK_IMPORTED_MODULE_4__.join)(env.DOCKER_CONFIG || (0,node_path__WEBPACK_IMPORTED_MODULE_4__.join)(env.HOME || (0,node_os__WEBPACK_IMPORTED_MODULE_3__.homedir)(), '.docker'), 'buildx');
}
/** An OCI platform as buildx stores it: `linux/arm/v7` → {architecture: arm, os: linux, variant: v7}. Pure. */
function storedPlatform(platform) {
    const [os = '', architecture = '', variant] = platform.split('/');
    return variant ? { architecture, os, variant } : { architecture, os };
}
/**
 * The builder instance `buildx create --driver remote` (then `--append` per further node) stores
 * in <config>/instances/<name>, as JSON. Hoist writes it itself: two buildx processes fewer per
 * build (create, rm), each 40–250 ms. Pure.
 */
function builderDefinition(name, nodes) {
    return JSON.stringify({
        Name: name,
        Driver: 'remote',
        Nodes: nodes.map((n) => ({
            Name: n.node,
            Endpoint: n.endpoint,
            Platforms: n.platform ? [storedPlatform(n.platform)] : [],
            DriverOpts: { cacert: n.cacert, cert: n.cert, key: n.key, servername: n.serverName },
            Flags: null,
            Files: null,
        })),
        Dynamic: false,
    });
}
/** What buildx keeps of builder `name`: its definition, last-activity stamp and build refs. */
function builderFiles(configDir, name) {
    return [
        (0,node_path__WEBPACK_IMPORTED_MODULE_4__.join)(configDir, 'instances', name),
        (0,node_path__WEBPACK_IMPORTED_MODULE_4__.join)(configDir, 'activity', name),
        (0,node_path__WEBPACK_IMPORTED_MODULE_4__.join)(configDir, 'refs', name),
    ];
}
/** Stores the builder as buildx would (0600 file, written whole then renamed into place). */
async function writeBuilder(configDir, name, nodes) {
    // a few small local writes on every build's path: synchronous, without a thread pool round trip each
    const dir = (0,node_path__WEBPACK_IMPORTED_MODULE_4__.join)(configDir, 'instances');
    (0,node_fs__WEBPACK_IMPORTED_MODULE_1__.mkdirSync)(dir, { recursive: true, mode: 0o700 });
    const tmp = (0,node_path__WEBPACK_IMPORTED_MODULE_4__.join)(dir, `.${name}.${process.pid}.tmp`);
    (0,node_fs__WEBPACK_IMPORTED_MODULE_1__.writeFileSync)(tmp, builderDefinition(name, nodes), { mode: 0o600 });
    (0,node_fs__WEBPACK_IMPORTED_MODULE_1__.renameSync)(tmp, (0,node_path__WEBPACK_IMPORTED_MODULE_4__.join)(dir, name));
}
/** Forgets builder `name` as `buildx rm` does for a remote driver (which has nothing to stop). */
async function removeBuilder(configDir, name) {
    await Promise.all(builderFiles(configDir, name).map((f) => (0,node_fs_promises__WEBPACK_IMPORTED_MODULE_2__.rm)(f, { recursive: true, force: true })));
}


/***/ }),

/***/ 74114:
/***/ ((__unused_webpack_module, __webpack_exports__, __nccwpck_require__) => {

/* harmony export */ __nccwpck_require__.d(__webpack_exports__, {
/* harmony export */   AV: () => (/* binding */ readUserConfig),
/* harmony export */   P2: () => (/* binding */ findHoistJson),
/* harmony export */   Z_: () => (/* binding */ writeUserConfig),
/* harmony export */   eQ: () => (/* binding */ configPath),
/* harmony export */   oe: () => (/* binding */ fetchGithubIdToken)
/* harmony export */ });
/* harmony import */ var node_fs__WEBPACK_IMPORTED_MODULE_0__ = __nccwpck_require__(73024);
/* harmony import */ var node_fs__WEBPACK_IMPORTED_MODULE_0___default = /*#__PURE__*/__nccwpck_require__.n(node_fs__WEBPACK_IMPORTED_MODULE_0__);
/* harmony import */ var node_fs_promises__WEBPACK_IMPORTED_MODULE_1__ = __nccwpck_require__(51455);
/* harmony import */ var node_fs_promises__WEBPACK_IMPORTED_MODULE_1___default = /*#__PURE__*/__nccwpck_require__.n(node_fs_promises__WEBPACK_IMPORTED_MODULE_1__);
/* harmony import */ var node_os__WEBPACK_IMPORTED_MODULE_2__ = __nccwpck_require__(48161);
/* harmony import */ var node_os__WEBPACK_IMPORTED_MODULE_2___default = /*#__PURE__*/__nccwpck_require__.n(node_os__WEBPACK_IMPORTED_MODULE_2__);
/* harmony import */ var node_path__WEBPACK_IMPORTED_MODULE_3__ = __nccwpck_require__(76760);
/* harmony import */ var node_path__WEBPACK_IMPORTED_MODULE_3___default = /*#__PURE__*/__nccwpck_require__.n(node_path__WEBPACK_IMPORTED_MODULE_3__);
/* harmony import */ var _lib_errors_js__WEBPACK_IMPORTED_MODULE_4__ = __nccwpck_require__(97268);
/* harmony import */ var _lib_client_js__WEBPACK_IMPORTED_MODULE_5__ = __nccwpck_require__(47072);
// The I/O that feeds resolve.ts: the user config file, hoist.json files, GitHub Actions' ID token.






/** HOIST_CONFIG, else $XDG_CONFIG_HOME/hoist/config.json, else ~/.config/hoist/config.json. */
function configPath(env) {
    if (env.HOIST_CONFIG)
        return (0,node_path__WEBPACK_IMPORTED_MODULE_3__.resolve)(env.HOIST_CONFIG);
    const base = env.XDG_CONFIG_HOME || (0,node_path__WEBPACK_IMPORTED_MODULE_3__.join)(env.HOME || (0,node_os__WEBPACK_IMPORTED_MODULE_2__.homedir)(), '.config');
    return (0,node_path__WEBPACK_IMPORTED_MODULE_3__.join)(base, 'hoist', 'config.json');
}
/** Reads the config file; a file others can read is refused, since it holds a token. */
async function readUserConfig(path) {
    let mode;
    try {
        mode = (0,node_fs__WEBPACK_IMPORTED_MODULE_0__.statSync)(path).mode;
    }
    catch (err) {
        if (err.code === 'ENOENT')
            return { state: 'absent', path };
        return { state: 'error', path, problem: `cannot read ${path}: ${(0,_lib_errors_js__WEBPACK_IMPORTED_MODULE_4__/* .errorMessage */ .gJ)(err)}` };
    }
    if (mode & 0o077) {
        return {
            state: 'error',
            path,
            problem: `${path} holds a token but has mode ${(mode & 0o777).toString(8)}; run "chmod 600 ${path}"`,
        };
    }
    try {
        const parsed = JSON.parse((0,node_fs__WEBPACK_IMPORTED_MODULE_0__.readFileSync)(path, 'utf8'));
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
            problem: `${path} is not valid JSON (${(0,_lib_errors_js__WEBPACK_IMPORTED_MODULE_4__/* .errorMessage */ .gJ)(err)}); run "hoist login" again`,
        };
    }
}
/** Writes the config file with mode 0600 (atomically, via a 0600 temp file) in a 0700 directory. */
async function writeUserConfig(path, config) {
    await (0,node_fs_promises__WEBPACK_IMPORTED_MODULE_1__.mkdir)((0,node_path__WEBPACK_IMPORTED_MODULE_3__.dirname)(path), { recursive: true, mode: 0o700 });
    const tmp = `${path}.${process.pid}.tmp`;
    // a new file (wx), so the token is never written into a leftover file with looser permissions
    await (0,node_fs_promises__WEBPACK_IMPORTED_MODULE_1__.rm)(tmp, { force: true });
    try {
        await (0,node_fs_promises__WEBPACK_IMPORTED_MODULE_1__.writeFile)(tmp, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
        await (0,node_fs_promises__WEBPACK_IMPORTED_MODULE_1__.chmod)(tmp, 0o600); // the umask may have taken bits off, never added any
        await (0,node_fs_promises__WEBPACK_IMPORTED_MODULE_1__.rename)(tmp, path);
    }
    catch (err) {
        await (0,node_fs_promises__WEBPACK_IMPORTED_MODULE_1__.rm)(tmp, { force: true });
        throw err;
    }
}
/** The nearest hoist.json at or above `startDir`, with the project it names. */
async function findHoistJson(startDir) {
    let dir = (0,node_path__WEBPACK_IMPORTED_MODULE_3__.resolve)(startDir);
    const root = (0,node_path__WEBPACK_IMPORTED_MODULE_3__.parse)(dir).root;
    for (;;) {
        const path = (0,node_path__WEBPACK_IMPORTED_MODULE_3__.join)(dir, 'hoist.json');
        let text;
        try {
            // read synchronously: one attempt per directory up to the root, on every build's path
            text = (0,node_fs__WEBPACK_IMPORTED_MODULE_0__.readFileSync)(path, 'utf8');
        }
        catch (err) {
            const code = err.code;
            if (code !== 'ENOENT' && code !== 'ENOTDIR')
                return { path, problem: (0,_lib_errors_js__WEBPACK_IMPORTED_MODULE_4__/* .errorMessage */ .gJ)(err) };
        }
        if (text !== undefined) {
            try {
                const o = JSON.parse(text);
                if (typeof o?.project === 'string' && o.project.trim())
                    return { path, project: o.project.trim() };
                return { path, problem: 'it has no "project" string, e.g. {"project": "my-app"}' };
            }
            catch (err) {
                return { path, problem: `not valid JSON (${(0,_lib_errors_js__WEBPACK_IMPORTED_MODULE_4__/* .errorMessage */ .gJ)(err)})` };
            }
        }
        if (dir === root)
            return undefined;
        dir = (0,node_path__WEBPACK_IMPORTED_MODULE_3__.dirname)(dir);
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
        throw new _lib_errors_js__WEBPACK_IMPORTED_MODULE_4__/* .ConfigurationError */ .j1('GitHub Actions OIDC is not available: add `permissions: id-token: write` to the workflow or job');
    }
    const full = `${url}${url.includes('?') ? '&' : '?'}audience=${encodeURIComponent(audience)}`;
    let lastError = '';
    for (let attempt = 0; attempt < 3; attempt++) {
        try {
            // node:http(s) with Hoist's trust (trust.ts), not fetch: a deferred NODE_EXTRA_CA_CERTS
            // (a GitHub Enterprise Server behind a private CA) is trusted here too
            const res = await (0,_lib_client_js__WEBPACK_IMPORTED_MODULE_5__/* .send */ .tN)(new URL(full), {
                method: 'GET',
                headers: { authorization: `Bearer ${bearer}`, accept: 'application/json; api-version=2.0' },
                timeoutMs,
            });
            const text = res.text;
            if (res.status >= 200 && res.status < 300) {
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
            lastError = (0,_lib_errors_js__WEBPACK_IMPORTED_MODULE_4__/* .errorMessage */ .gJ)(err);
        }
        await new Promise((r) => setTimeout(r, 200 * 2 ** attempt));
    }
    throw new _lib_errors_js__WEBPACK_IMPORTED_MODULE_4__/* .ConfigurationError */ .j1(`cannot get a GitHub Actions ID token: ${lastError}`);
}


/***/ }),

/***/ 70486:
/***/ ((module, __webpack_exports__, __nccwpck_require__) => {

__nccwpck_require__.a(module, async (__webpack_handle_async_dependencies__, __webpack_async_result__) => { try {
__nccwpck_require__.r(__webpack_exports__);
/* harmony import */ var _main_js__WEBPACK_IMPORTED_MODULE_0__ = __nccwpck_require__(12957);

const argv = process.argv.slice(2);
const code = await (0,_main_js__WEBPACK_IMPORTED_MODULE_0__/* .main */ .i)(argv);
if ((argv[0] === 'build' || argv[0] === 'bake') && process.platform === 'linux') {
    // Everything of a build is done (or handed to its background finisher) when main returns: exit
    // now instead of after Node has closed every handle (a stopped follower's pipes among them).
    // Linux is where stdout and stderr are written synchronously to pipes too, so nothing is lost.
    process.exit(code);
}
process.exitCode = code;

__webpack_async_result__();
} catch(e) { __webpack_async_result__(e); } }, 1);

/***/ }),

/***/ 12957:
/***/ ((__unused_webpack_module, __webpack_exports__, __nccwpck_require__) => {

/* harmony export */ __nccwpck_require__.d(__webpack_exports__, {
/* harmony export */   i: () => (/* binding */ main)
/* harmony export */ });
/* harmony import */ var _lib_errors_js__WEBPACK_IMPORTED_MODULE_0__ = __nccwpck_require__(97268);
/* harmony import */ var _build_finish_js__WEBPACK_IMPORTED_MODULE_1__ = __nccwpck_require__(37952);
/* harmony import */ var _build_run_js__WEBPACK_IMPORTED_MODULE_2__ = __nccwpck_require__(82993);
/* harmony import */ var _version_js__WEBPACK_IMPORTED_MODULE_3__ = __nccwpck_require__(3985);
/* harmony import */ var _lib_extra_ca_js__WEBPACK_IMPORTED_MODULE_4__ = __nccwpck_require__(18966);





// Only `hoist build`'s modules load at start: the other commands' (and what they pull in, such as
// node:readline and node:crypto) are imported when used, as each costs start-up time on every build.
const usage = (adminHelp) => `Usage:  hoist COMMAND

Remote BuildKit builds on your project's persistent Hoist builder.

Commands:
  build      Build with "docker buildx build" on a Hoist builder (hoist build --help)
  bake       Build a bake file's targets with "docker buildx bake" on Hoist builders (hoist bake --help)
  login      Save the Hoist API URL and a token
  projects   Manage projects
  tokens     Manage project tokens
  trust      Manage GitHub OIDC trust policies
  builds     List and show builds
  cache      Prune stale branch caches of the fallback build (hoist cache prune --help)
  server     Run the Hoist control plane (hoist server --help)
  version    Print the version

${adminHelp}`;
/** Dispatches `hoist <command>`; returns the process exit code. */
async function main(argv) {
    const [command, ...rest] = argv;
    // the launcher's deferred NODE_EXTRA_CA_CERTS, taken back (extra-ca.ts)
    (0,_lib_extra_ca_js__WEBPACK_IMPORTED_MODULE_4__/* .adoptDeferredExtraCa */ .cF)(process.env);
    const io = {
        env: process.env,
        cwd: process.cwd(),
        stdout: process.stdout,
        stderr: process.stderr,
        stdin: process.stdin,
        finishInBackground: true,
    };
    try {
        switch (command) {
            case 'server': {
                // Loaded only for `hoist server`: the control plane's modules (fastify, SQLite, pg, pino…)
                // would otherwise add hundreds of ms to every `hoist build`.
                const { runServerCommand } = await Promise.all(/* import() */[__nccwpck_require__.e(868), __nccwpck_require__.e(136)]).then(__nccwpck_require__.bind(__nccwpck_require__, 99136));
                return await runServerCommand(rest);
            }
            case 'build':
                return await (0,_build_run_js__WEBPACK_IMPORTED_MODULE_2__/* .runBuild */ .cM)(rest, io);
            case _build_finish_js__WEBPACK_IMPORTED_MODULE_1__/* .FINISH_COMMAND */ .Q7:
                // the background end of a successful `hoist build`, started by that build (build-finish.ts)
                return await (0,_build_finish_js__WEBPACK_IMPORTED_MODULE_1__/* .runFinisher */ .IW)(process.stdin, process.env);
            case 'bake':
                return await (await __nccwpck_require__.e(/* import() */ 596).then(__nccwpck_require__.bind(__nccwpck_require__, 46596))).runBake(rest, io);
            case 'login':
            case 'projects':
            case 'tokens':
            case 'trust':
            case 'builds':
                return await (await __nccwpck_require__.e(/* import() */ 263).then(__nccwpck_require__.bind(__nccwpck_require__, 52263))).runAdmin(command, rest, io);
            case 'cache':
                return await (await __nccwpck_require__.e(/* import() */ 394).then(__nccwpck_require__.bind(__nccwpck_require__, 26394))).runCache(rest, io);
            case 'version':
            case '--version':
            case '-v':
                process.stdout.write(`hoist ${_version_js__WEBPACK_IMPORTED_MODULE_3__/* .VERSION */ .x}\n`);
                return 0;
            case undefined:
            case 'help':
            case '--help':
            case '-h':
                process.stdout.write(usage((await __nccwpck_require__.e(/* import() */ 263).then(__nccwpck_require__.bind(__nccwpck_require__, 52263))).ADMIN_HELP));
                return command === undefined ? 2 : 0;
        }
        process.stderr.write(`hoist: unknown command "${command}"; run "hoist --help"\n`);
        return 2;
    }
    catch (err) {
        if (err instanceof _lib_errors_js__WEBPACK_IMPORTED_MODULE_0__/* .HoistApiError */ .Yg && (err.status === 401 || err.status === 403)) {
            process.stderr.write(`hoist: the Hoist server refused the token: ${err.message}\n`);
        }
        else {
            const message = (0,_lib_errors_js__WEBPACK_IMPORTED_MODULE_0__/* .errorMessage */ .gJ)(err);
            // messages of admin commands already name theirs ("hoist tokens create: ...")
            process.stderr.write(`${message.startsWith('hoist ') ? '' : 'hoist: '}${message}\n`);
        }
        return err instanceof _lib_errors_js__WEBPACK_IMPORTED_MODULE_0__/* .ConfigurationError */ .j1 ? 2 : 1;
    }
}


/***/ }),

/***/ 68558:
/***/ ((__unused_webpack_module, __webpack_exports__, __nccwpck_require__) => {

/* harmony export */ __nccwpck_require__.d(__webpack_exports__, {
/* harmony export */   E7: () => (/* binding */ resolveToken),
/* harmony export */   KI: () => (/* binding */ resolveProject),
/* harmony export */   c_: () => (/* binding */ resolveApiUrl)
/* harmony export */ });
/* unused harmony export sameApiUrl */
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


/***/ }),

/***/ 81713:
/***/ ((__unused_webpack_module, __webpack_exports__, __nccwpck_require__) => {

/* harmony export */ __nccwpck_require__.d(__webpack_exports__, {
/* harmony export */   Ek: () => (/* binding */ reportSteps),
/* harmony export */   I$: () => (/* binding */ phasesOf),
/* harmony export */   f2: () => (/* binding */ platformOfNode),
/* harmony export */   gC: () => (/* binding */ buildContext),
/* harmony export */   pA: () => (/* binding */ isRefName),
/* harmony export */   yr: () => (/* binding */ StepCollector)
/* harmony export */ });
/* unused harmony exports DOCKERFILE_MAX_BYTES, splitStepName, tailUtf8, parseRawJson, captureSteps, mergeSteps, dockerfileInfo */
/* harmony import */ var node_fs_promises__WEBPACK_IMPORTED_MODULE_0__ = __nccwpck_require__(51455);
/* harmony import */ var node_fs_promises__WEBPACK_IMPORTED_MODULE_0___default = /*#__PURE__*/__nccwpck_require__.n(node_fs_promises__WEBPACK_IMPORTED_MODULE_0__);
/* harmony import */ var node_path__WEBPACK_IMPORTED_MODULE_1__ = __nccwpck_require__(76760);
/* harmony import */ var node_path__WEBPACK_IMPORTED_MODULE_1___default = /*#__PURE__*/__nccwpck_require__.n(node_path__WEBPACK_IMPORTED_MODULE_1__);
/* harmony import */ var _lib_api_types_js__WEBPACK_IMPORTED_MODULE_2__ = __nccwpck_require__(96575);
/* harmony import */ var _buildx_js__WEBPACK_IMPORTED_MODULE_3__ = __nccwpck_require__(43796);
// What `hoist build` tells the server beyond the build's lifecycle: where it came from (the
// terminal or a GitHub Actions run), its steps, and its Dockerfile.
//
// Steps come from BuildKit's own build record, replayed after the build with
// `buildx history logs --progress rawjson REF`: the user's chosen --progress output is left
// exactly as it was (no second renderer, no extra pipe), and the record carries every vertex,
// its logs and the build-check warnings with their Dockerfile lines.




/** Largest Dockerfile sent with its contents; a bigger one is sent as path and hash only. */
const DOCKERFILE_MAX_BYTES = 256 * 1024;
/** The build's origin from the GITHUB_* variables a runner sets (none: a terminal). */
function buildContext(env) {
    const source = env.HOIST_BUILD_SOURCE === 'action' ? 'action' : 'cli';
    if (!env.GITHUB_REPOSITORY)
        return { source };
    const pick = (v) => (v ? v.slice(0, 512) : undefined);
    const server = (env.GITHUB_SERVER_URL || 'https://github.com').replace(/\/+$/, '');
    const runUrl = env.GITHUB_RUN_ID && /^\d+$/.test(env.GITHUB_RUN_ID)
        ? `${server}/${env.GITHUB_REPOSITORY}/actions/runs/${env.GITHUB_RUN_ID}${env.GITHUB_RUN_ATTEMPT && /^\d+$/.test(env.GITHUB_RUN_ATTEMPT)
            ? `/attempts/${env.GITHUB_RUN_ATTEMPT}`
            : ''}`
        : undefined;
    const github = {
        repository: pick(env.GITHUB_REPOSITORY),
        repository_id: pick(env.GITHUB_REPOSITORY_ID),
        ref: pick(env.GITHUB_REF),
        sha: pick(env.GITHUB_SHA),
        workflow: pick(env.GITHUB_WORKFLOW),
        run_id: pick(env.GITHUB_RUN_ID),
        run_attempt: pick(env.GITHUB_RUN_ATTEMPT),
        job: pick(env.GITHUB_JOB),
        actor: pick(env.GITHUB_ACTOR),
        run_url: runUrl,
    };
    return {
        source,
        github: Object.fromEntries(Object.entries(github).filter(([, v]) => v !== undefined)),
    };
}
/** Phase durations from `hoist build`'s timing marks (ms since its process started). */
function phasesOf(marks) {
    const span = (a, b) => marks[a] !== undefined && marks[b] !== undefined ? Math.round(marks[b] - marks[a]) : undefined;
    const p = {
        queued_ms: span('created', 'acquired'),
        setup_ms: span('acquired', 'builder_created'),
        build_ms: span('builder_created', 'built'),
        cleanup_ms: span('built', 'cleaned'),
    };
    return Object.fromEntries(Object.entries(p).filter(([, v]) => v !== undefined));
}
const b64 = (s) => (s ? Buffer.from(s, 'base64').toString('utf8') : '');
/** "[build 3/5] RUN make" → stage "build", instruction "RUN make"; "[2/3] COPY . ." → stage null. */
function splitStepName(name) {
    const m = /^\[(?:([^\]\s]+)\s+)?\d+\/\d+\]\s+(.*)$/s.exec(name);
    if (!m)
        return { stage: null, instruction: null };
    return { stage: m[1] ?? null, instruction: m[2] };
}
/** Keeps the last `max` bytes of a UTF-8 text, cut at a character boundary. */
function tailUtf8(text, max) {
    const buf = Buffer.from(text, 'utf8');
    if (buf.length <= max)
        return text;
    let start = buf.length - max;
    while (start < buf.length && (buf[start] & 0xc0) === 0x80)
        start++;
    return buf.subarray(start).toString('utf8');
}
/**
 * Folds buildx's rawjson progress (one SolveStatus JSON object per line; a vertex appears
 * several times as it progresses) into the steps and build-check warnings of one platform, a
 * line at a time, so the same code reads a finished build's record and a running build's stream.
 * Memory stays bounded: each step keeps only the tail of its log.
 */
class StepCollector {
    platform;
    order = [];
    vertexes = new Map();
    logs = new Map();
    warned = new Map();
    dirty = new Set();
    warningsChanged = false;
    constructor(platform) {
        this.platform = platform;
    }
    /** One line of rawjson; anything else is ignored. */
    feed(line) {
        if (!line.startsWith('{'))
            return;
        let s;
        try {
            s = JSON.parse(line);
        }
        catch {
            return;
        }
        for (const v of s.vertexes ?? []) {
            if (!v?.digest)
                continue;
            const cur = this.vertexes.get(v.digest);
            if (!cur)
                this.order.push(v.digest);
            const known = Object.fromEntries(Object.entries(v).filter(([, x]) => x != null));
            this.vertexes.set(v.digest, { ...cur, ...known, digest: v.digest });
            this.dirty.add(v.digest);
        }
        for (const l of s.logs ?? []) {
            if (!l?.vertex || !l.data)
                continue;
            const cur = this.logs.get(l.vertex);
            const chunk = Buffer.from(l.data, 'base64');
            let next = cur ? Buffer.concat([cur, chunk]) : chunk;
            // a little over the tail is kept, so the cut can land on a character boundary later
            if (next.length > 2 * _lib_api_types_js__WEBPACK_IMPORTED_MODULE_2__/* .STEP_LOG_TAIL_BYTES */ .zT)
                next = next.subarray(next.length - _lib_api_types_js__WEBPACK_IMPORTED_MODULE_2__/* .STEP_LOG_TAIL_BYTES */ .zT - 4);
            this.logs.set(l.vertex, next);
            if (this.vertexes.has(l.vertex))
                this.dirty.add(l.vertex);
        }
        for (const w of s.warnings ?? []) {
            const short = b64(w.short);
            const detail = (w.detail ?? []).map(b64).join('\n');
            const rule = /^(\w+):/.exec(short)?.[1] ?? null;
            const r = w.range?.[0];
            const warning = {
                platform: this.platform,
                rule,
                message: detail ? `${short}\n${detail}` : short,
                line: r?.start?.line ?? null,
                end_line: r?.end?.line ?? r?.start?.line ?? null,
            };
            // the same warning is reported once per vertex that saw it
            const k = `${warning.rule}|${warning.line}|${warning.message}`;
            if (this.warned.has(k))
                continue;
            this.warned.set(k, warning);
            this.warningsChanged = true;
        }
    }
    /** Every step so far, in the order BuildKit first named them (at most BUILD_STEPS_MAX). */
    steps() {
        return this.order.slice(0, _lib_api_types_js__WEBPACK_IMPORTED_MODULE_2__/* .BUILD_STEPS_MAX */ .m9).map((d) => this.step(d));
    }
    /** The steps that changed since the last call (first named first); each is reported once per change. */
    takeChanged() {
        const allowed = new Set(this.order.slice(0, _lib_api_types_js__WEBPACK_IMPORTED_MODULE_2__/* .BUILD_STEPS_MAX */ .m9));
        const out = this.order.filter((d) => this.dirty.has(d) && allowed.has(d)).map((d) => this.step(d));
        this.dirty.clear();
        return out;
    }
    warnings() {
        return [...this.warned.values()];
    }
    /** True once after new warnings arrived. */
    takeWarningsChanged() {
        const c = this.warningsChanged;
        this.warningsChanged = false;
        return c;
    }
    step(digest) {
        const v = this.vertexes.get(digest);
        const name = v.name ?? digest;
        return {
            platform: this.platform,
            digest,
            name,
            ...splitStepName(name),
            started_at: v.started ?? null,
            completed_at: v.completed ?? null,
            cached: v.cached === true,
            error: v.error || null,
            log_tail: tailBytes(this.logs.get(digest), _lib_api_types_js__WEBPACK_IMPORTED_MODULE_2__/* .STEP_LOG_TAIL_BYTES */ .zT),
            ...(v.inputs?.length ? { inputs: v.inputs.filter((d) => typeof d === 'string').slice(0, 64) } : {}),
        };
    }
}
/** The last `max` bytes of a UTF-8 buffer as text, starting on a character boundary. */
function tailBytes(buf, max) {
    if (!buf)
        return '';
    let start = Math.max(0, buf.length - max);
    while (start < buf.length && (buf[start] & 0xc0) === 0x80)
        start++;
    return buf.subarray(start).toString('utf8');
}
/** The steps and build-check warnings of one platform from a whole rawjson text. */
function parseRawJson(text, platform) {
    const c = new StepCollector(platform);
    for (const line of text.split('\n'))
        c.feed(line);
    return { steps: c.steps(), warnings: c.warnings() };
}
/**
 * The steps of the build(s) buildx just ran on `builder`: buildx keeps a local ref file per
 * build under refs/BUILDER/NODE/, so only this run's records are read (the project's builders
 * hold other builds' records too). Node i served platforms[i]. Never throws: a failure costs
 * the dashboard its steps, never the build.
 */
async function captureSteps(bx, builder, platforms, env) {
    const out = { steps: [], warnings: [] };
    const refsDir = (0,node_path__WEBPACK_IMPORTED_MODULE_1__.join)((0,_buildx_js__WEBPACK_IMPORTED_MODULE_3__/* .buildxConfigDir */ .iL)(env), 'refs', builder);
    let nodes;
    try {
        nodes = (await (0,node_fs_promises__WEBPACK_IMPORTED_MODULE_0__.readdir)(refsDir)).sort();
    }
    catch (err) {
        return { ...out, error: `no build records under ${refsDir}: ${err.message}` };
    }
    const via = bx.direct ?? bx;
    for (const node of nodes) {
        const platform = platformOfNode(node, platforms);
        const refs = (await (0,node_fs_promises__WEBPACK_IMPORTED_MODULE_0__.readdir)((0,node_path__WEBPACK_IMPORTED_MODULE_1__.join)(refsDir, node)).catch(() => [])).filter(isRefName);
        for (const ref of refs) {
            const r = await (0,_buildx_js__WEBPACK_IMPORTED_MODULE_3__/* .capture */ .Fg)(via.file, [...via.prefix, 'history', 'logs', '--builder', builder, '--progress', 'rawjson', ref], env);
            if (r.code !== 0) {
                out.error = `buildx history logs ${ref} failed: ${r.stderr.trim().slice(0, 300)}`;
                continue;
            }
            // rawjson goes to stderr, like a build's progress
            const parsed = parseRawJson(`${r.stdout}\n${r.stderr}`, platform);
            out.steps.push(...parsed.steps);
            out.warnings.push(...parsed.warnings);
        }
    }
    out.steps = mergeSteps(out.steps).slice(0, _lib_api_types_js__WEBPACK_IMPORTED_MODULE_2__/* .BUILD_STEPS_MAX */ .m9);
    return out;
}
/**
 * One step per platform and vertex digest, where it first appeared: a vertex that several
 * records share (a bake's targets with a common stage) is one step, ran if any record ran it.
 */
function mergeSteps(steps) {
    const at = new Map();
    const out = [];
    for (const s of steps) {
        const k = `${s.platform}\u0000${s.digest}`;
        const i = at.get(k);
        if (i === undefined) {
            at.set(k, out.length);
            out.push(s);
            continue;
        }
        const a = out[i];
        out[i] = {
            ...a,
            started_at: a.started_at ?? s.started_at,
            completed_at: a.completed_at && s.completed_at
                ? maxIso(a.completed_at, s.completed_at)
                : (a.completed_at ?? s.completed_at),
            cached: a.cached && s.cached,
            error: a.error ?? s.error,
            log_tail: s.log_tail.length > a.log_tail.length ? s.log_tail : a.log_tail,
            ...(a.inputs || s.inputs ? { inputs: a.inputs ?? s.inputs } : {}),
        };
    }
    return out;
}
const maxIso = (a, b) => (Date.parse(b) > Date.parse(a) ? b : a);
/** Node i of Hoist's buildx builder (named BUILDER-i) served platforms[i]. */
function platformOfNode(node, platforms) {
    const i = Number(/-(\d+)$/.exec(node)?.[1] ?? 0);
    return platforms[i] ?? platforms[0] ?? 'default';
}
/** A ref file of buildx's local state; it writes each under a ".tmp-" name first, then renames it. */
const isRefName = (name) => /^[a-z0-9]+$/i.test(name);
/** The Dockerfile's path, SHA-256 and (unless HOIST_DOCKERFILE_CONTENTS=false) contents. */
async function dockerfileInfo(path, env) {
    if (!path)
        return undefined;
    let buf;
    try {
        buf = await (0,node_fs_promises__WEBPACK_IMPORTED_MODULE_0__.readFile)(path);
    }
    catch {
        return undefined;
    }
    const send = !/^(0|false|no|off)$/i.test(env.HOIST_DOCKERFILE_CONTENTS ?? '');
    // loaded here, not at start: node:crypto costs every `hoist build` start-up time
    const { createHash } = await Promise.resolve(/* import() */).then(__nccwpck_require__.t.bind(__nccwpck_require__, 77598, 23));
    return {
        path,
        sha256: createHash('sha256').update(buf).digest('hex'),
        contents: send && buf.length <= DOCKERFILE_MAX_BYTES ? buf.toString('utf8') : null,
    };
}
/** Captures this run's steps and sends them with the Dockerfile; warns (never throws) on failure. */
async function reportSteps(opts) {
    if (/^(0|false|no|off)$/i.test(opts.env.HOIST_STEPS ?? ''))
        return;
    try {
        const { error, ...req } = await captureSteps(opts.bx, opts.builder, opts.platforms, opts.env);
        const dockerfile = await dockerfileInfo(opts.dockerfile, opts.env);
        if (dockerfile)
            req.dockerfile = dockerfile;
        if (error && req.steps.length === 0)
            opts.warn(`build steps not recorded: ${error}`);
        if (req.steps.length || dockerfile)
            await opts.send(req);
    }
    catch (err) {
        opts.warn(`build steps not recorded: ${err.message}`);
    }
}


/***/ }),

/***/ 3985:
/***/ ((__unused_webpack_module, __webpack_exports__, __nccwpck_require__) => {


// EXPORTS
__nccwpck_require__.d(__webpack_exports__, {
  x: () => (/* binding */ VERSION)
});

;// CONCATENATED MODULE: ./package.json
const package_namespaceObject = {"rE":"0.1.0"};
;// CONCATENATED MODULE: ./src/cli/version.ts

/** The CLI's version: package.json's, bundled at build time. */
const VERSION = package_namespaceObject.rE;


/***/ }),

/***/ 96575:
/***/ ((__unused_webpack_module, __webpack_exports__, __nccwpck_require__) => {

/* harmony export */ __nccwpck_require__.d(__webpack_exports__, {
/* harmony export */   $Q: () => (/* binding */ TOKEN_PREFIXES),
/* harmony export */   fI: () => (/* binding */ BUILD_ERROR_MAX_BYTES),
/* harmony export */   m9: () => (/* binding */ BUILD_STEPS_MAX),
/* harmony export */   r8: () => (/* binding */ BUILD_OPTIONS_MAX_BYTES),
/* harmony export */   zT: () => (/* binding */ STEP_LOG_TAIL_BYTES)
/* harmony export */ });
// Wire types of the Hoist HTTP API, shared by the server, the CLI and the actions.
// All timestamps are ISO 8601 strings in UTC. Field names are snake_case on the wire.
const TOKEN_PREFIXES = {
    admin: 'hoist_adm_',
    project: 'hoist_prj_',
    oidc: 'hoist_oidc_',
    build: 'hoist_bld_',
};
/** Largest `options` of a build, as JSON in UTF-8; larger ones get a 413. */
const BUILD_OPTIONS_MAX_BYTES = 16 * 1024;
/** Largest `error` of a finished build, in UTF-8; longer ones get a 413 (hoist build truncates). */
const BUILD_ERROR_MAX_BYTES = 4096;
/** Largest log tail kept per step, in bytes. */
const STEP_LOG_TAIL_BYTES = 8 * 1024;
/** Most steps one build may report. */
const BUILD_STEPS_MAX = 2000;


/***/ }),

/***/ 47072:
/***/ ((__unused_webpack_module, __webpack_exports__, __nccwpck_require__) => {

/* harmony export */ __nccwpck_require__.d(__webpack_exports__, {
/* harmony export */   Ls: () => (/* binding */ HoistClient),
/* harmony export */   Xz: () => (/* binding */ normalizeApiUrl),
/* harmony export */   cV: () => (/* binding */ caPemFromEnv),
/* harmony export */   tN: () => (/* binding */ send)
/* harmony export */ });
/* harmony import */ var node_fs__WEBPACK_IMPORTED_MODULE_0__ = __nccwpck_require__(73024);
/* harmony import */ var node_fs__WEBPACK_IMPORTED_MODULE_0___default = /*#__PURE__*/__nccwpck_require__.n(node_fs__WEBPACK_IMPORTED_MODULE_0__);
/* harmony import */ var node_http__WEBPACK_IMPORTED_MODULE_1__ = __nccwpck_require__(37067);
/* harmony import */ var node_http__WEBPACK_IMPORTED_MODULE_1___default = /*#__PURE__*/__nccwpck_require__.n(node_http__WEBPACK_IMPORTED_MODULE_1__);
/* harmony import */ var _errors_js__WEBPACK_IMPORTED_MODULE_2__ = __nccwpck_require__(97268);
/* harmony import */ var _text_js__WEBPACK_IMPORTED_MODULE_3__ = __nccwpck_require__(79112);




/** The CA named by HOIST_CA_CERT, for clients not given one (admin commands, the actions). */
function caPemFromEnv(env = process.env) {
    const file = env.HOIST_CA_CERT;
    if (!file)
        return undefined;
    try {
        return (0,node_fs__WEBPACK_IMPORTED_MODULE_0__.readFileSync)(file, 'utf8');
    }
    catch (err) {
        throw new _errors_js__WEBPACK_IMPORTED_MODULE_2__/* .HoistApiError */ .Yg(0, 'bad_ca_cert', `HOIST_CA_CERT=${file} cannot be read (${(0,_errors_js__WEBPACK_IMPORTED_MODULE_2__/* .errorMessage */ .gJ)(err)}); set it to the PEM file of the CA that signed the Hoist server's certificate`);
    }
}
/**
 * One HTTP(S) request with a total timeout; https trusts the system store and `caPem`. TLS is
 * loaded only for an https URL: node:https and node:tls cost tens of ms at start-up, which
 * every `hoist build` against a plain-HTTP (loopback, in-cluster) server would pay.
 */
async function send(url, opts) {
    const tls = url.protocol === 'https:'
        ? { https: await Promise.resolve(/* import() */).then(__nccwpck_require__.t.bind(__nccwpck_require__, 44708, 23)), cas: (await __nccwpck_require__.e(/* import() */ 745).then(__nccwpck_require__.bind(__nccwpck_require__, 86745))).trustedCas() }
        : undefined;
    return new Promise((resolve, reject) => {
        const mod = tls ? tls.https : node_http__WEBPACK_IMPORTED_MODULE_1__;
        const req = mod.request(url, {
            method: opts.method,
            headers: {
                ...opts.headers,
                ...(opts.body !== undefined ? { 'content-length': String(Buffer.byteLength(opts.body)) } : {}),
            },
            ...(tls ? { ca: opts.caPem ? [...tls.cas, opts.caPem] : tls.cas } : {}),
        }, (res) => {
            const chunks = [];
            res.on('data', (c) => chunks.push(c));
            res.on('end', () => resolve({
                status: res.statusCode ?? 0,
                text: Buffer.concat(chunks).toString('utf8'),
                headers: {
                    get: (name) => {
                        const v = res.headers[name.toLowerCase()];
                        return v === undefined ? null : Array.isArray(v) ? v.join(', ') : v;
                    },
                },
            }));
            res.on('error', reject);
        });
        const timer = setTimeout(() => req.destroy(new Error(`no answer within ${Math.round(opts.timeoutMs / 1000)} s`)), opts.timeoutMs);
        // an aborted request lets go of its socket at once: nothing of it keeps the process alive
        const abort = () => void req.destroy(new Error('aborted'));
        opts.signal?.addEventListener('abort', abort, { once: true });
        req.on('close', () => {
            clearTimeout(timer);
            opts.signal?.removeEventListener('abort', abort);
        });
        req.on('error', reject);
        if (opts.signal?.aborted)
            abort();
        else
            req.end(opts.body);
    });
}
/** A small typed client of the Hoist API; every failure becomes a HoistApiError with an actionable message. */
class HoistClient {
    apiUrl;
    token;
    timeoutMs;
    userAgent;
    caPem;
    constructor(opts) {
        this.apiUrl = normalizeApiUrl(opts.apiUrl);
        this.token = opts.token;
        this.timeoutMs = opts.timeoutMs ?? 30_000;
        this.userAgent = opts.userAgent ?? 'hoist-client';
        this.caPem = opts.caPem ?? caPemFromEnv();
    }
    withToken(token) {
        return new HoistClient({
            apiUrl: this.apiUrl,
            token,
            timeoutMs: this.timeoutMs,
            userAgent: this.userAgent,
            caPem: this.caPem,
        });
    }
    async request(method, path, body, signal) {
        const url = `${this.apiUrl}${path}`;
        const headers = { 'user-agent': this.userAgent, accept: 'application/json' };
        if (this.token)
            headers.authorization = `Bearer ${this.token}`;
        if (body !== undefined)
            headers['content-type'] = 'application/json';
        let res;
        try {
            res = await send(new URL(url), {
                method,
                headers,
                body: body === undefined ? undefined : JSON.stringify(body),
                timeoutMs: this.timeoutMs,
                caPem: this.caPem,
                signal,
            });
        }
        catch (err) {
            const code = err.code ?? '';
            const tlsHint = /CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|ERR_TLS/.test(code) || /certificate/i.test((0,_errors_js__WEBPACK_IMPORTED_MODULE_2__/* .errorMessage */ .gJ)(err))
                ? " The server's TLS certificate is not trusted: set HOIST_CA_CERT to the PEM file of the CA that signed it."
                : ' Check the API URL (--api-url or HOIST_API_URL) and that the server is running.';
            throw new _errors_js__WEBPACK_IMPORTED_MODULE_2__/* .HoistApiError */ .Yg(0, 'unreachable', `cannot reach the Hoist server at ${this.apiUrl}: ${(0,_errors_js__WEBPACK_IMPORTED_MODULE_2__/* .errorMessage */ .gJ)(err)}.${tlsHint}`);
        }
        const text = res.text;
        let parsed = undefined;
        if (text) {
            try {
                parsed = JSON.parse(text);
            }
            catch {
                parsed = undefined;
            }
        }
        if (res.status < 200 || res.status >= 300) {
            const e = parsed?.error;
            const retryAfter = /^\d{1,6}$/.test(res.headers.get('retry-after') ?? '')
                ? Number(res.headers.get('retry-after')) * 1000
                : undefined;
            // The server's words are printed to terminals and logs: no control character gets through
            // (a build's error, which any build token can set, is quoted in some answers).
            throw new _errors_js__WEBPACK_IMPORTED_MODULE_2__/* .HoistApiError */ .Yg(res.status, e?.code ?? `http_${res.status}`, (0,_text_js__WEBPACK_IMPORTED_MODULE_3__/* .escapeControls */ .U)(e?.message ??
                `${method} ${path} answered HTTP ${res.status}${text ? `: ${text.slice(0, 200)}` : ''}`), retryAfter);
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
    /** With `acquire`, the answer carries the builders that are ready at once (see CreateBuildResponse). */
    createBuild(req, opts = {}) {
        return this.request('POST', opts.acquire ? '/v1/builds?acquire=true' : '/v1/builds', req);
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
    /** Sends steps, warnings and the Dockerfile of a running build (its build token). */
    /** `signal` aborts the request (a batch of live steps that no longer matters). */
    postSteps(buildId, req, signal) {
        return this.request('POST', `/v1/builds/${encodeURIComponent(buildId)}/steps`, req, signal);
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
    updateProject(project, req) {
        return this.request('PATCH', `/v1/projects/${encodeURIComponent(project)}`, req);
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
        throw new _errors_js__WEBPACK_IMPORTED_MODULE_2__/* .HoistApiError */ .Yg(0, 'bad_api_url', `"${raw}" is not a valid Hoist API URL; expected e.g. https://hoist.example.com`);
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') {
        throw new _errors_js__WEBPACK_IMPORTED_MODULE_2__/* .HoistApiError */ .Yg(0, 'bad_api_url', `the Hoist API URL must be http(s), got "${raw}"`);
    }
    return trimmed;
}


/***/ }),

/***/ 82543:
/***/ ((__unused_webpack_module, __webpack_exports__, __nccwpck_require__) => {

/* harmony export */ __nccwpck_require__.d(__webpack_exports__, {
/* harmony export */   y: () => (/* binding */ parseDurationMs)
/* harmony export */ });
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
    retryAfterMs;
    name = 'HoistApiError';
    constructor(status, code, message, 
    /** From a Retry-After header in seconds (a 429 or 503), when the server sent one. */
    retryAfterMs) {
        super(message);
        this.status = status;
        this.code = code;
        this.retryAfterMs = retryAfterMs;
    }
}
/** The message of anything thrown, without a stack. */
function errorMessage(err) {
    if (err instanceof Error)
        return err.message;
    return String(err);
}


/***/ }),

/***/ 18966:
/***/ ((__unused_webpack_module, __webpack_exports__, __nccwpck_require__) => {

/* harmony export */ __nccwpck_require__.d(__webpack_exports__, {
/* harmony export */   Mf: () => (/* binding */ withDeferredExtraCa),
/* harmony export */   cF: () => (/* binding */ adoptDeferredExtraCa),
/* harmony export */   sO: () => (/* binding */ deferredExtraCaFile)
/* harmony export */ });
/* unused harmony exports DEFERRED_EXTRA_CA_VAR, resetDeferredExtraCa */
// NODE_EXTRA_CA_CERTS, read when Hoist opens an https connection rather than at every start.
//
// Node parses every certificate of that file before it runs any JavaScript: with a system bundle
// there (as on runners behind a TLS-inspecting proxy) that is tens of ms on every `hoist build`,
// most of which never opens an https connection (a plain-HTTP server, loopback or in-cluster). The
// release's launcher (bin/hoist) moves the variable to HOIST_NODE_EXTRA_CA_CERTS for build and
// bake; the CLI takes it back here: the file is added to what https requests trust (trust.ts),
// and the variable is set again for the programs Hoist runs.
/** The variable the launcher moves NODE_EXTRA_CA_CERTS to. */
const DEFERRED_EXTRA_CA_VAR = 'HOIST_NODE_EXTRA_CA_CERTS';
let deferredFile;
/**
 * At start: a NODE_EXTRA_CA_CERTS the launcher deferred is remembered for https requests and put
 * back into `env` (for child processes), as if Node had read it.
 */
function adoptDeferredExtraCa(env) {
    const file = env[DEFERRED_EXTRA_CA_VAR];
    if (file === undefined)
        return;
    delete env[DEFERRED_EXTRA_CA_VAR];
    if (!file)
        return;
    deferredFile = file;
    env.NODE_EXTRA_CA_CERTS = file;
}
/** The NODE_EXTRA_CA_CERTS file Node did not load at start, if the launcher deferred one. */
function deferredExtraCaFile() {
    return deferredFile;
}
/**
 * The environment for another Hoist CLI process: the deferral passed on, so that it too reads the
 * file only if it opens an https connection.
 */
function withDeferredExtraCa(env) {
    if (!deferredFile)
        return env;
    return { ...env, NODE_EXTRA_CA_CERTS: undefined, [DEFERRED_EXTRA_CA_VAR]: deferredFile };
}
/** For tests: forget what was adopted. */
function resetDeferredExtraCa() {
    deferredFile = undefined;
}


/***/ }),

/***/ 79112:
/***/ ((__unused_webpack_module, __webpack_exports__, __nccwpck_require__) => {

/* harmony export */ __nccwpck_require__.d(__webpack_exports__, {
/* harmony export */   C: () => (/* binding */ truncateUtf8),
/* harmony export */   U: () => (/* binding */ escapeControls)
/* harmony export */ });
// Text that came from elsewhere (a server, a build's error), made safe to print or store.
// C0 controls, DEL, C1 controls, and the bidirectional overrides and isolates that reorder what
// a terminal shows ("Trojan Source"); the backslash too, so an escape in the output is unambiguous.
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069\\]/g;
const NAMED = { '\n': '\\n', '\r': '\\r', '\t': '\\t', '\\': '\\\\' };
/**
 * Shows every control character as a visible escape (`\x1b`, `\n`, `\u202e`), so text from a
 * server or a build cannot move the cursor, recolour, retitle or rewrite a terminal. Pure.
 */
function escapeControls(s) {
    return s.replace(UNSAFE, (c) => {
        const named = NAMED[c];
        if (named)
            return named;
        const code = c.charCodeAt(0);
        return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16)}`;
    });
}
/** The longest prefix of `s` that fits in `maxBytes` of UTF-8, never splitting a character. Pure. */
function truncateUtf8(s, maxBytes, marker = '…') {
    if (Buffer.byteLength(s) <= maxBytes)
        return s;
    const room = maxBytes - Buffer.byteLength(marker);
    let out = '';
    let used = 0;
    for (const ch of s) {
        const n = Buffer.byteLength(ch);
        if (used + n > room)
            break;
        out += ch;
        used += n;
    }
    return out + marker;
}


/***/ }),

/***/ 42613:
/***/ ((module) => {

module.exports = require("assert");

/***/ }),

/***/ 20181:
/***/ ((module) => {

module.exports = require("buffer");

/***/ }),

/***/ 29907:
/***/ ((module) => {

module.exports = require("cluster");

/***/ }),

/***/ 76982:
/***/ ((module) => {

module.exports = require("crypto");

/***/ }),

/***/ 72250:
/***/ ((module) => {

module.exports = require("dns");

/***/ }),

/***/ 24434:
/***/ ((module) => {

module.exports = require("events");

/***/ }),

/***/ 79896:
/***/ ((module) => {

module.exports = require("fs");

/***/ }),

/***/ 58611:
/***/ ((module) => {

module.exports = require("http");

/***/ }),

/***/ 65692:
/***/ ((module) => {

module.exports = require("https");

/***/ }),

/***/ 73339:
/***/ ((module) => {

module.exports = require("module");

/***/ }),

/***/ 69278:
/***/ ((module) => {

module.exports = require("net");

/***/ }),

/***/ 34589:
/***/ ((module) => {

module.exports = require("node:assert");

/***/ }),

/***/ 16698:
/***/ ((module) => {

module.exports = require("node:async_hooks");

/***/ }),

/***/ 31421:
/***/ ((module) => {

module.exports = require("node:child_process");

/***/ }),

/***/ 77598:
/***/ ((module) => {

module.exports = require("node:crypto");

/***/ }),

/***/ 53053:
/***/ ((module) => {

module.exports = require("node:diagnostics_channel");

/***/ }),

/***/ 40610:
/***/ ((module) => {

module.exports = require("node:dns");

/***/ }),

/***/ 78474:
/***/ ((module) => {

module.exports = require("node:events");

/***/ }),

/***/ 73024:
/***/ ((module) => {

module.exports = require("node:fs");

/***/ }),

/***/ 51455:
/***/ ((module) => {

module.exports = require("node:fs/promises");

/***/ }),

/***/ 37067:
/***/ ((module) => {

module.exports = require("node:http");

/***/ }),

/***/ 32467:
/***/ ((module) => {

module.exports = require("node:http2");

/***/ }),

/***/ 44708:
/***/ ((module) => {

module.exports = require("node:https");

/***/ }),

/***/ 77030:
/***/ ((module) => {

module.exports = require("node:net");

/***/ }),

/***/ 48161:
/***/ ((module) => {

module.exports = require("node:os");

/***/ }),

/***/ 76760:
/***/ ((module) => {

module.exports = require("node:path");

/***/ }),

/***/ 643:
/***/ ((module) => {

module.exports = require("node:perf_hooks");

/***/ }),

/***/ 41792:
/***/ ((module) => {

module.exports = require("node:querystring");

/***/ }),

/***/ 80481:
/***/ ((module) => {

module.exports = require("node:readline");

/***/ }),

/***/ 57075:
/***/ ((module) => {

module.exports = require("node:stream");

/***/ }),

/***/ 41692:
/***/ ((module) => {

module.exports = require("node:tls");

/***/ }),

/***/ 73136:
/***/ ((module) => {

module.exports = require("node:url");

/***/ }),

/***/ 57975:
/***/ ((module) => {

module.exports = require("node:util");

/***/ }),

/***/ 70857:
/***/ ((module) => {

module.exports = require("os");

/***/ }),

/***/ 16928:
/***/ ((module) => {

module.exports = require("path");

/***/ }),

/***/ 82987:
/***/ ((module) => {

module.exports = require("perf_hooks");

/***/ }),

/***/ 932:
/***/ ((module) => {

module.exports = require("process");

/***/ }),

/***/ 24876:
/***/ ((module) => {

module.exports = require("punycode");

/***/ }),

/***/ 83480:
/***/ ((module) => {

module.exports = require("querystring");

/***/ }),

/***/ 2203:
/***/ ((module) => {

module.exports = require("stream");

/***/ }),

/***/ 13193:
/***/ ((module) => {

module.exports = require("string_decoder");

/***/ }),

/***/ 64756:
/***/ ((module) => {

module.exports = require("tls");

/***/ }),

/***/ 52018:
/***/ ((module) => {

module.exports = require("tty");

/***/ }),

/***/ 87016:
/***/ ((module) => {

module.exports = require("url");

/***/ }),

/***/ 39023:
/***/ ((module) => {

module.exports = require("util");

/***/ }),

/***/ 98253:
/***/ ((module) => {

module.exports = require("util/types");

/***/ }),

/***/ 11493:
/***/ ((module) => {

module.exports = require("v8");

/***/ }),

/***/ 69154:
/***/ ((module) => {

module.exports = require("vm");

/***/ }),

/***/ 28167:
/***/ ((module) => {

module.exports = require("worker_threads");

/***/ }),

/***/ 43106:
/***/ ((module) => {

module.exports = require("zlib");

/***/ })

/******/ 	});
/************************************************************************/
/******/ 	// The module cache
/******/ 	var __webpack_module_cache__ = {};
/******/ 	
/******/ 	// The require function
/******/ 	function __nccwpck_require__(moduleId) {
/******/ 		// Check if module is in cache
/******/ 		var cachedModule = __webpack_module_cache__[moduleId];
/******/ 		if (cachedModule !== undefined) {
/******/ 			return cachedModule.exports;
/******/ 		}
/******/ 		// Create a new module (and put it into the cache)
/******/ 		var module = __webpack_module_cache__[moduleId] = {
/******/ 			id: moduleId,
/******/ 			loaded: false,
/******/ 			exports: {}
/******/ 		};
/******/ 	
/******/ 		// Execute the module function
/******/ 		var threw = true;
/******/ 		try {
/******/ 			__webpack_modules__[moduleId].call(module.exports, module, module.exports, __nccwpck_require__);
/******/ 			threw = false;
/******/ 		} finally {
/******/ 			if(threw) delete __webpack_module_cache__[moduleId];
/******/ 		}
/******/ 	
/******/ 		// Flag the module as loaded
/******/ 		module.loaded = true;
/******/ 	
/******/ 		// Return the exports of the module
/******/ 		return module.exports;
/******/ 	}
/******/ 	
/******/ 	// expose the modules object (__webpack_modules__)
/******/ 	__nccwpck_require__.m = __webpack_modules__;
/******/ 	
/************************************************************************/
/******/ 	/* webpack/runtime/async module */
/******/ 	(() => {
/******/ 		var webpackQueues = typeof Symbol === "function" ? Symbol("webpack queues") : "__webpack_queues__";
/******/ 		var webpackExports = typeof Symbol === "function" ? Symbol("webpack exports") : "__webpack_exports__";
/******/ 		var webpackError = typeof Symbol === "function" ? Symbol("webpack error") : "__webpack_error__";
/******/ 		var resolveQueue = (queue) => {
/******/ 			if(queue && queue.d < 1) {
/******/ 				queue.d = 1;
/******/ 				queue.forEach((fn) => (fn.r--));
/******/ 				queue.forEach((fn) => (fn.r-- ? fn.r++ : fn()));
/******/ 			}
/******/ 		}
/******/ 		var wrapDeps = (deps) => (deps.map((dep) => {
/******/ 			if(dep !== null && typeof dep === "object") {
/******/ 				if(dep[webpackQueues]) return dep;
/******/ 				if(dep.then) {
/******/ 					var queue = [];
/******/ 					queue.d = 0;
/******/ 					dep.then((r) => {
/******/ 						obj[webpackExports] = r;
/******/ 						resolveQueue(queue);
/******/ 					}, (e) => {
/******/ 						obj[webpackError] = e;
/******/ 						resolveQueue(queue);
/******/ 					});
/******/ 					var obj = {};
/******/ 					obj[webpackQueues] = (fn) => (fn(queue));
/******/ 					return obj;
/******/ 				}
/******/ 			}
/******/ 			var ret = {};
/******/ 			ret[webpackQueues] = x => {};
/******/ 			ret[webpackExports] = dep;
/******/ 			return ret;
/******/ 		}));
/******/ 		__nccwpck_require__.a = (module, body, hasAwait) => {
/******/ 			var queue;
/******/ 			hasAwait && ((queue = []).d = -1);
/******/ 			var depQueues = new Set();
/******/ 			var exports = module.exports;
/******/ 			var currentDeps;
/******/ 			var outerResolve;
/******/ 			var reject;
/******/ 			var promise = new Promise((resolve, rej) => {
/******/ 				reject = rej;
/******/ 				outerResolve = resolve;
/******/ 			});
/******/ 			promise[webpackExports] = exports;
/******/ 			promise[webpackQueues] = (fn) => (queue && fn(queue), depQueues.forEach(fn), promise["catch"](x => {}));
/******/ 			module.exports = promise;
/******/ 			body((deps) => {
/******/ 				currentDeps = wrapDeps(deps);
/******/ 				var fn;
/******/ 				var getResult = () => (currentDeps.map((d) => {
/******/ 					if(d[webpackError]) throw d[webpackError];
/******/ 					return d[webpackExports];
/******/ 				}))
/******/ 				var promise = new Promise((resolve) => {
/******/ 					fn = () => (resolve(getResult));
/******/ 					fn.r = 0;
/******/ 					var fnQueue = (q) => (q !== queue && !depQueues.has(q) && (depQueues.add(q), q && !q.d && (fn.r++, q.push(fn))));
/******/ 					currentDeps.map((dep) => (dep[webpackQueues](fnQueue)));
/******/ 				});
/******/ 				return fn.r ? promise : getResult();
/******/ 			}, (err) => ((err ? reject(promise[webpackError] = err) : outerResolve(exports)), resolveQueue(queue)));
/******/ 			queue && queue.d < 0 && (queue.d = 0);
/******/ 		};
/******/ 	})();
/******/ 	
/******/ 	/* webpack/runtime/compat get default export */
/******/ 	(() => {
/******/ 		// getDefaultExport function for compatibility with non-harmony modules
/******/ 		__nccwpck_require__.n = (module) => {
/******/ 			var getter = module && module.__esModule ?
/******/ 				() => (module['default']) :
/******/ 				() => (module);
/******/ 			__nccwpck_require__.d(getter, { a: getter });
/******/ 			return getter;
/******/ 		};
/******/ 	})();
/******/ 	
/******/ 	/* webpack/runtime/create fake namespace object */
/******/ 	(() => {
/******/ 		var getProto = Object.getPrototypeOf ? (obj) => (Object.getPrototypeOf(obj)) : (obj) => (obj.__proto__);
/******/ 		var leafPrototypes;
/******/ 		// create a fake namespace object
/******/ 		// mode & 1: value is a module id, require it
/******/ 		// mode & 2: merge all properties of value into the ns
/******/ 		// mode & 4: return value when already ns object
/******/ 		// mode & 16: return value when it's Promise-like
/******/ 		// mode & 8|1: behave like require
/******/ 		__nccwpck_require__.t = function(value, mode) {
/******/ 			if(mode & 1) value = this(value);
/******/ 			if(mode & 8) return value;
/******/ 			if(typeof value === 'object' && value) {
/******/ 				if((mode & 4) && value.__esModule) return value;
/******/ 				if((mode & 16) && typeof value.then === 'function') return value;
/******/ 			}
/******/ 			var ns = Object.create(null);
/******/ 			__nccwpck_require__.r(ns);
/******/ 			var def = {};
/******/ 			leafPrototypes = leafPrototypes || [null, getProto({}), getProto([]), getProto(getProto)];
/******/ 			for(var current = mode & 2 && value; typeof current == 'object' && !~leafPrototypes.indexOf(current); current = getProto(current)) {
/******/ 				Object.getOwnPropertyNames(current).forEach((key) => (def[key] = () => (value[key])));
/******/ 			}
/******/ 			def['default'] = () => (value);
/******/ 			__nccwpck_require__.d(ns, def);
/******/ 			return ns;
/******/ 		};
/******/ 	})();
/******/ 	
/******/ 	/* webpack/runtime/define property getters */
/******/ 	(() => {
/******/ 		// define getter functions for harmony exports
/******/ 		__nccwpck_require__.d = (exports, definition) => {
/******/ 			for(var key in definition) {
/******/ 				if(__nccwpck_require__.o(definition, key) && !__nccwpck_require__.o(exports, key)) {
/******/ 					Object.defineProperty(exports, key, { enumerable: true, get: definition[key] });
/******/ 				}
/******/ 			}
/******/ 		};
/******/ 	})();
/******/ 	
/******/ 	/* webpack/runtime/ensure chunk */
/******/ 	(() => {
/******/ 		__nccwpck_require__.f = {};
/******/ 		// This file contains only the entry chunk.
/******/ 		// The chunk loading function for additional chunks
/******/ 		__nccwpck_require__.e = (chunkId) => {
/******/ 			return Promise.all(Object.keys(__nccwpck_require__.f).reduce((promises, key) => {
/******/ 				__nccwpck_require__.f[key](chunkId, promises);
/******/ 				return promises;
/******/ 			}, []));
/******/ 		};
/******/ 	})();
/******/ 	
/******/ 	/* webpack/runtime/get javascript chunk filename */
/******/ 	(() => {
/******/ 		// This function allow to reference async chunks
/******/ 		__nccwpck_require__.u = (chunkId) => {
/******/ 			// return url for filenames based on template
/******/ 			return "" + chunkId + ".index.js";
/******/ 		};
/******/ 	})();
/******/ 	
/******/ 	/* webpack/runtime/hasOwnProperty shorthand */
/******/ 	(() => {
/******/ 		__nccwpck_require__.o = (obj, prop) => (Object.prototype.hasOwnProperty.call(obj, prop))
/******/ 	})();
/******/ 	
/******/ 	/* webpack/runtime/make namespace object */
/******/ 	(() => {
/******/ 		// define __esModule on exports
/******/ 		__nccwpck_require__.r = (exports) => {
/******/ 			if(typeof Symbol !== 'undefined' && Symbol.toStringTag) {
/******/ 				Object.defineProperty(exports, Symbol.toStringTag, { value: 'Module' });
/******/ 			}
/******/ 			Object.defineProperty(exports, '__esModule', { value: true });
/******/ 		};
/******/ 	})();
/******/ 	
/******/ 	/* webpack/runtime/node module decorator */
/******/ 	(() => {
/******/ 		__nccwpck_require__.nmd = (module) => {
/******/ 			module.paths = [];
/******/ 			if (!module.children) module.children = [];
/******/ 			return module;
/******/ 		};
/******/ 	})();
/******/ 	
/******/ 	/* webpack/runtime/compat */
/******/ 	
/******/ 	if (typeof __nccwpck_require__ !== 'undefined') __nccwpck_require__.ab = __dirname + "/";
/******/ 	
/******/ 	/* webpack/runtime/require chunk loading */
/******/ 	(() => {
/******/ 		// no baseURI
/******/ 		
/******/ 		// object to store loaded chunks
/******/ 		// "1" means "loaded", otherwise not loaded yet
/******/ 		var installedChunks = {
/******/ 			792: 1
/******/ 		};
/******/ 		
/******/ 		// no on chunks loaded
/******/ 		
/******/ 		var installChunk = (chunk) => {
/******/ 			var moreModules = chunk.modules, chunkIds = chunk.ids, runtime = chunk.runtime;
/******/ 			for(var moduleId in moreModules) {
/******/ 				if(__nccwpck_require__.o(moreModules, moduleId)) {
/******/ 					__nccwpck_require__.m[moduleId] = moreModules[moduleId];
/******/ 				}
/******/ 			}
/******/ 			if(runtime) runtime(__nccwpck_require__);
/******/ 			for(var i = 0; i < chunkIds.length; i++)
/******/ 				installedChunks[chunkIds[i]] = 1;
/******/ 		
/******/ 		};
/******/ 		
/******/ 		// require() chunk loading for javascript
/******/ 		__nccwpck_require__.f.require = (chunkId, promises) => {
/******/ 			// "1" is the signal for "already loaded"
/******/ 			if(!installedChunks[chunkId]) {
/******/ 				if(true) { // all chunks have JS
/******/ 					installChunk(require("./" + __nccwpck_require__.u(chunkId)));
/******/ 				} else installedChunks[chunkId] = 1;
/******/ 			}
/******/ 		};
/******/ 		
/******/ 		// no external install chunk
/******/ 		
/******/ 		// no HMR
/******/ 		
/******/ 		// no HMR manifest
/******/ 	})();
/******/ 	
/************************************************************************/
/******/ 	
/******/ 	// startup
/******/ 	// Load entry module and return exports
/******/ 	// This entry module used 'module' so it can't be inlined
/******/ 	var __webpack_exports__ = __nccwpck_require__(70486);
/******/ 	module.exports = __webpack_exports__;
/******/ 	
/******/ })()
;