"use strict";
exports.id = 596;
exports.ids = [596];
exports.modules = {

/***/ 46596:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {

// ESM COMPAT FLAG
__webpack_require__.r(__webpack_exports__);

// EXPORTS
__webpack_require__.d(__webpack_exports__, {
  BAKE_HELP: () => (/* binding */ BAKE_HELP),
  runBake: () => (/* binding */ runBake)
});

// EXTERNAL MODULE: external "node:child_process"
var external_node_child_process_ = __webpack_require__(31421);
// EXTERNAL MODULE: external "node:path"
var external_node_path_ = __webpack_require__(76760);
// EXTERNAL MODULE: ./src/lib/errors.ts
var errors = __webpack_require__(97268);
// EXTERNAL MODULE: ./src/lib/api-types.ts
var api_types = __webpack_require__(96575);
// EXTERNAL MODULE: ./src/cli/build-argv.ts
var build_argv = __webpack_require__(25321);
;// CONCATENATED MODULE: ./src/cli/bake-argv.ts
// `hoist bake` argv → Hoist's own options + the argv handed to `docker buildx bake`, and the bake
// definition (`buildx bake --print`) → what the build needs: its platforms and its record.
// Pure: no I/O, tested by tables (test/cli/bake-argv.test.ts).

/**
 * Every flag `docker buildx bake` accepts (docker/buildx commands/bake.go, its common build flags
 * and the root's persistent flags), hidden deprecated ones included so that buildx decides.
 */
const BUILDX_BAKE_FLAGS = {
    allow: { kind: 'value' },
    call: { kind: 'value' },
    check: { kind: 'optional' },
    file: { kind: 'value', short: 'f' },
    jobs: { kind: 'value', short: 'j' },
    list: { kind: 'value' },
    load: { kind: 'bool' },
    'metadata-file': { kind: 'value' },
    'no-cache': { kind: 'bool' },
    policy: { kind: 'value' },
    print: { kind: 'bool' },
    progress: { kind: 'value' },
    provenance: { kind: 'value' },
    pull: { kind: 'bool' },
    push: { kind: 'bool' },
    sbom: { kind: 'value' },
    set: { kind: 'value' },
    var: { kind: 'value' },
    // hidden, deprecated
    'list-targets': { kind: 'bool' },
    'list-variables': { kind: 'bool' },
    // persistent flags of the buildx root command
    debug: { kind: 'bool', short: 'D' },
};
/** Parses `hoist bake` argv the way pflag parses `docker buildx bake` argv. */
function parseBakeArgv(argv, extraFlags = {}) {
    const flags = { ...BUILDX_BAKE_FLAGS, ...extraFlags };
    const hoist = {};
    const facts = { files: [], targets: [], printOnly: false, push: false, load: false };
    let print = false;
    let list = false;
    const record = (0,build_argv/* flagRecorder */.Lr)(hoist, (name, b) => {
        if (name === 'push')
            facts.push = b;
        if (name === 'load')
            facts.load = b;
        if (name === 'print')
            print = b;
        if (name === 'list-targets' || name === 'list-variables')
            list ||= b;
    }, (name, value) => {
        switch (name) {
            case 'file':
                facts.files.push(value);
                break;
            case 'list':
                list = value !== '';
                break;
            case 'metadata-file':
                facts.metadataFile = value;
                break;
            case 'builder':
                facts.builder = value;
                break;
        }
    });
    const scanned = (0,build_argv/* scanArgv */.A8)(argv, flags, record);
    if (scanned.kind !== 'ok')
        return scanned;
    // buildx's bakeArgs: a remote URL first is the definition, a second remote URL is the context
    const positionals = [...scanned.positionals];
    if (positionals[0] !== undefined && (0,build_argv/* isRemoteContext */.uN)(positionals[0]))
        facts.remote = positionals.shift();
    if (facts.remote && positionals[0] !== undefined && (0,build_argv/* isRemoteContext */.uN)(positionals[0]))
        positionals.shift();
    facts.targets = positionals;
    facts.printOnly = print || list;
    return { kind: 'bake', hoist, buildxArgs: scanned.buildxArgs, facts };
}
/** Parses the stdout of `buildx bake --print`; throws with what was wrong. */
function parseBakeDefinition(stdout) {
    let parsed;
    try {
        parsed = JSON.parse(stdout);
    }
    catch {
        throw new Error('buildx bake --print did not print a JSON bake definition');
    }
    const def = parsed;
    if (!def || typeof def !== 'object' || !def.target || typeof def.target !== 'object') {
        throw new Error('buildx bake --print printed no "target" object');
    }
    return def;
}
/** The attributes of one output entry, from either form buildx prints. */
function outputAttrs(entry) {
    if (typeof entry !== 'string')
        return entry;
    const attrs = {};
    for (const field of entry.split(',')) {
        const eq = field.indexOf('=');
        if (eq === -1) {
            // a bare destination is a local export ("-" a tar on stdout), as buildx reads it
            attrs.type = field.trim() === '-' ? 'tar' : 'local';
            continue;
        }
        attrs[field.slice(0, eq).trim()] = field.slice(eq + 1).trim();
    }
    return attrs;
}
const truthy = (v) => v === true || (typeof v === 'string' && (0,build_argv/* parseBool */.q6)(v) === true);
/**
 * The platforms to acquire and the record of each target, from the definition buildx printed
 * (every --set, --push, --load and variable already applied). `localPlatform` stands for the
 * "local" platform name bake accepts.
 */
function planBake(def, localPlatform) {
    const targets = [];
    const platforms = [];
    for (const [name, t] of Object.entries(def.target)) {
        const own = (t.platforms ?? []).map((p) => (p === 'local' ? localPlatform : p));
        for (const p of own)
            if (!platforms.includes(p))
                platforms.push(p);
        const outputs = (t.output ?? []).map(outputAttrs);
        targets.push({
            name,
            platforms: own,
            tags: t.tags ?? [],
            push: truthy(t.push) || outputs.some((o) => o.type === 'registry' || truthy(o.push)),
            load: truthy(t.load) || outputs.some((o) => o.type === 'docker' || truthy(o.load)),
        });
    }
    return {
        platforms,
        targets,
        push: targets.some((t) => t.push),
        load: targets.some((t) => t.load),
    };
}
/**
 * The record's options within `maxBytes` of JSON (the server refuses larger ones): a bake of
 * many targets first loses the tags, then the last targets, which it counts instead. Pure.
 */
function fitBakeRecord(options, maxBytes) {
    // room for cli_version, which the CLI adds
    const fits = (o) => Buffer.byteLength(JSON.stringify(o)) + 64 <= maxBytes;
    if (fits(options))
        return options;
    const slim = options.targets.map((t) => ({ name: t.name, platforms: t.platforms }));
    let fitted = { ...options, targets: slim };
    for (let keep = slim.length; !fits(fitted) && keep > 0; keep = Math.floor(keep / 2)) {
        fitted = { ...options, targets: slim.slice(0, keep), targets_omitted: slim.length - keep };
    }
    if (!fits(fitted))
        fitted = { ...fitted, targets: [], targets_omitted: slim.length, files: [] };
    return fitted;
}

// EXTERNAL MODULE: ./src/cli/build-run.ts + 2 modules
var build_run = __webpack_require__(82993);
// EXTERNAL MODULE: ./src/cli/buildx.ts
var buildx = __webpack_require__(43796);
// EXTERNAL MODULE: ./src/cli/config.ts
var config = __webpack_require__(74114);
;// CONCATENATED MODULE: ./src/cli/bake-run.ts
// `hoist bake`: `docker buildx bake` on the project's Hoist builders. The definition is evaluated
// first (`buildx bake --print`, on this machine) to learn every platform any target needs; then
// the same flow as `hoist build` (runOnHoist) runs the user's bake argv, unchanged, on one
// temporary builder with a node per platform, so stages the targets share are built once.








const BAKE_HELP = `Usage:  hoist bake [OPTIONS] [TARGET...]

Runs "docker buildx bake" on your project's Hoist builders. Every "docker buildx bake"
flag and argument (files, --set, --push, --load, --print, --call, --metadata-file,
targets, a remote definition) is passed to buildx unchanged. All targets run on one
builder with a node for every platform any target needs, so shared stages build once.

Hoist options:
      --project string          Project id or name (default: $HOIST_PROJECT_ID, else "project" in the
                                nearest hoist.json above the first bake file or the working directory)
      --token string            Hoist token (default: $HOIST_TOKEN, the "hoist login" config file,
                                else GitHub Actions OIDC). Prefer HOIST_TOKEN: other users of
                                the machine can read a flag in the process list
      --api-url string          Hoist server URL (default: $HOIST_API_URL, else the config file)
      --build-platform string   Run every target on the native builder of this platform
      --wait duration           Longest wait for the server to take the build and for a builder,
                                e.g. 90s or 10m (default 10m)

--print and --list only evaluate the definition: they run on this machine, with no Hoist build.
A remote definition (a Git or HTTP URL) is read with your current buildx builder to learn its
platforms, as "docker buildx bake --print" does.

Environment: as for "hoist build" (hoist build --help).
`;
/** Runs a program with optional standard input, capturing its output. */
function captureWithInput(file, args, env, cwd, input) {
    return new Promise((res) => {
        let stdout = '';
        let stderr = '';
        const child = (0,external_node_child_process_.spawn)(file, args, {
            env: env,
            cwd,
            stdio: [input ? 'pipe' : 'ignore', 'pipe', 'pipe'],
        });
        child.stdout.setEncoding('utf8').on('data', (d) => (stdout += d));
        child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
        child.on('error', (err) => res({ code: 127, stdout, stderr, spawnError: err }));
        child.on('close', (code, signal) => res({ code: code ?? 128 + (0,buildx/* signalNumber */.Al)(signal), stdout, stderr }));
        if (input)
            child.stdin?.on('error', () => undefined).end(input);
    });
}
/** Runs buildx itself for --print and --list: nothing is built, so no Hoist builder is needed. */
function passThrough(bx, args, io, input) {
    return new Promise((res) => {
        const { HOIST_TOKEN: _token, ...env } = io.env;
        const child = (0,external_node_child_process_.spawn)(bx.file, [...bx.prefix, 'bake', ...args], {
            env: env,
            cwd: io.cwd,
            stdio: [input ? 'pipe' : 'inherit', 'inherit', 'inherit'],
        });
        child.on('error', (err) => {
            io.stderr.write(`hoist: cannot run ${bx.display}: ${err.message}\n`);
            res(127);
        });
        child.on('close', (code, signal) => res(code ?? 128 + (0,buildx/* signalNumber */.Al)(signal)));
        if (input)
            child.stdin?.on('error', () => undefined).end(input);
    });
}
async function readAll(stream) {
    const chunks = [];
    for await (const chunk of stream)
        chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
    return Buffer.concat(chunks);
}
/** Where hoist.json is looked for: above the first local bake file, then above the working directory. */
function projectDirs(facts, cwd) {
    const file = facts.remote ? undefined : facts.files.find((f) => f !== '-' && !f.startsWith('cwd://'));
    return [file ? (0,external_node_path_.dirname)((0,external_node_path_.resolve)(cwd, file)) : undefined, cwd];
}
/** Runs `hoist bake`; returns the exit code (buildx's, when buildx ran). */
async function runBake(argv, io) {
    const timings = new build_run/* Timings */.Mv();
    let buildxPromise;
    const getBuildx = () => (buildxPromise ??= (0,buildx/* findBuildx */.ah)(io.env));
    const parsed = await (0,build_run/* parseWithBuildx */.wz)(argv, io, getBuildx, {
        name: 'bake',
        help: BAKE_HELP,
        parse: parseBakeArgv,
    });
    if (typeof parsed === 'number')
        return parsed;
    const { hoist, buildxArgs, facts } = parsed;
    // A definition on standard input is read once and handed to both buildx runs.
    let input;
    if (facts.files.includes('-')) {
        if (!io.stdin)
            throw new errors/* ConfigurationError */.j1('hoist bake: -f - needs a definition on standard input');
        input = await readAll(io.stdin);
    }
    const bx = await getBuildx();
    // nothing is built, so the user's own --builder (which reads a remote definition) stays
    if (facts.printOnly) {
        return passThrough(bx, [...(facts.builder ? ['--builder', facts.builder] : []), ...buildxArgs], io, input);
    }
    // The definition with every --set, --push, --load and variable applied, as buildx will build it.
    const { HOIST_TOKEN: _token, ...printEnv } = io.env;
    const via = bx.direct ?? bx;
    const printArgs = [
        ...via.prefix,
        'bake',
        ...(facts.builder && facts.remote ? ['--builder', facts.builder] : []),
        ...buildxArgs,
        '--print',
    ];
    const printed = await captureWithInput(via.file, printArgs, printEnv, io.cwd, input);
    if (printed.code !== 0) {
        io.stderr.write(printed.stderr || printed.stdout);
        io.stderr.write(`hoist bake: buildx could not evaluate the bake definition (exit code ${printed.code})\n`);
        return printed.code;
    }
    let plan;
    try {
        plan = planBake(parseBakeDefinition(printed.stdout), (0,build_run/* platformOfThisMachine */.AT)());
    }
    catch (err) {
        throw new errors/* ConfigurationError */.j1(`hoist bake: ${err.message}`);
    }
    timings.mark('definition');
    const [nearFile, cwd] = projectDirs(facts, io.cwd);
    return (0,build_run/* runOnHoist */.IK)(io, getBuildx, {
        command: 'bake',
        hoist,
        buildxArgs,
        builder: facts.builder,
        platforms: plan.platforms,
        options: {
            ...fitBakeRecord({
                command: 'bake',
                definition: facts.remote ? 'remote' : input ? 'stdin' : 'local',
                files: facts.files,
                targets: plan.targets,
                target_platforms: plan.platforms,
                push: plan.push,
                load: plan.load,
            }, api_types/* BUILD_OPTIONS_MAX_BYTES */.r8),
        },
        projectFiles: () => Promise.all([nearFile ? (0,config/* findHoistJson */.P2)(nearFile) : Promise.resolve(undefined), (0,config/* findHoistJson */.P2)(cwd)]),
        stdin: input,
        timings,
    });
}


/***/ })

};
;