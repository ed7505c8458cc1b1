// `hoist build`: the "One CI build" flow of ARCHITECTURE.md around a real `docker buildx build`.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import {
  type BuilderActive,
  type BuilderAnswer,
  type CreateBuildRequest,
  type CreateBuildResponse,
  type FinishBuildRequest,
  type RenewedCert,
} from '../lib/api-types.js';
import { HoistClient } from '../lib/client.js';
import { ConfigurationError, HoistApiError, errorMessage } from '../lib/errors.js';
import { escapeControls } from '../lib/text.js';
import {
  type BuildxCommand,
  type NodeSpec,
  builderName,
  buildxConfigDir,
  capture,
  distinctEndpoints,
  findBuildx,
  removeBuilder,
  signalNumber,
  writeBuilder,
} from './buildx.js';
import {
  type FlagSpec,
  type HoistBuildOptions,
  flagSpecFromHelp,
  isRemoteContext,
  parseBuildArgv,
  parseDuration,
} from './build-argv.js';
import { buildxHelp } from './build-help.js';
import {
  type FinishState,
  OWNER_FILE,
  backgroundFinishEnabled,
  endBuild,
  handOffFinish,
} from './build-finish.js';
import { configPath, fetchGithubIdToken, findHoistJson, readUserConfig } from './config.js';
import { type HoistJsonFound, resolveApiUrl, resolveProject, resolveToken } from './resolve.js';
import { type LiveSteps, liveStepsEnabled, startLiveSteps } from './live-steps.js';
import { buildContext, reportSteps } from './steps.js';
import { VERSION } from './version.js';

type Env = Record<string, string | undefined>;

export interface BuildIo {
  env: Env;
  cwd: string;
  stderr: { write(s: string): unknown };
  stdout: { write(s: string): unknown };
  /**
   * A successful build's end (steps, clean-up, finish) may go to a background process (`hoist
   * __finish-build`, the same script): only when this is the CLI process itself.
   */
  finishInBackground?: boolean;
}

const DEFAULT_WAIT_MS = 10 * 60_000;

export const BUILD_HELP = `Usage:  hoist build [OPTIONS] PATH | URL | -

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

export function platformOfThisMachine(): string {
  const arch = (
    { x64: 'amd64', arm64: 'arm64', arm: 'arm/v7', ppc64: 'ppc64le', s390x: 's390x' } as Record<
      string,
      string
    >
  )[process.arch];
  return `linux/${arch ?? process.arch}`;
}

/** Time stamps (ms since the process started) for the overhead breakdown, in HOIST_TIMINGS_FILE. */
export class Timings {
  readonly marks: Record<string, number> = {};
  constructor() {
    this.mark('start');
  }
  mark(name: string): void {
    // process.uptime(), not performance.now(): the first call of the latter loads perf_hooks, about
    // a millisecond of every build
    this.marks[name] = Math.round(process.uptime() * 10_000) / 10;
  }
}

const sleep = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((res) => {
    if (signal.aborted) return res();
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      res();
    }
    signal.addEventListener('abort', done);
  });

/** A buildx subcommand's argv parser, as `hoist build` and `hoist bake` each have one. */
export interface ArgvCommand<T> {
  /** The buildx subcommand: build or bake. */
  name: string;
  help: string;
  parse: (
    argv: readonly string[],
    extra: Readonly<Record<string, FlagSpec>>,
  ) =>
    | T
    | { kind: 'help' }
    | { kind: 'usage-error'; message: string }
    | { kind: 'unknown-flag'; flag: string; token: string };
}

/** Parses argv, consulting buildx itself about flags Hoist's table does not know. */
export async function parseWithBuildx<T extends { kind: string }>(
  argv: string[],
  io: BuildIo,
  getBuildx: () => Promise<BuildxCommand>,
  command: ArgvCommand<T>,
): Promise<T | number> {
  const extra: Record<string, FlagSpec> = {};
  for (let round = 0; round < 20; round++) {
    const parsed = command.parse(argv, extra);
    switch (parsed.kind) {
      case 'help':
        io.stdout.write(`${command.help}\n${await buildxHelp(getBuildx, io.env, command.name)}`);
        return 0;
      case 'usage-error':
        io.stderr.write(`hoist ${command.name}: ${(parsed as { message: string }).message}\n`);
        return 1;
      case 'unknown-flag': {
        const unknown = parsed as { flag: string; token: string };
        // buildx decides: its own error message if it does not know the flag either,
        // else the flag's kind from its help text. `--help` keeps buildx from building anything.
        const bx = await getBuildx();
        const r = await capture(bx.file, [...bx.prefix, command.name, '--help', unknown.token, 'x'], io.env);
        if (r.code !== 0) {
          io.stderr.write(r.stderr || r.stdout);
          return r.code;
        }
        const name = unknown.flag.replace(/^-+/, '');
        const spec: FlagSpec | undefined = unknown.flag.startsWith('--')
          ? flagSpecFromHelp(r.stdout, name)
          : undefined;
        if (unknown.flag.startsWith('--')) {
          extra[name] = spec ?? { kind: unknown.token.includes('=') ? 'value' : 'bool' };
        } else {
          const m = new RegExp(`^\\s+-${name}, --([\\w-]+)(?: (\\w+))?`, 'm').exec(r.stdout);
          if (!m) {
            io.stderr.write(
              `hoist ${command.name}: cannot tell how buildx parses ${unknown.flag}; use its long form\n`,
            );
            return 1;
          }
          extra[m[1]!] = { kind: m[2] ? 'value' : 'bool', short: name };
        }
        break;
      }
      default:
        return parsed as T;
    }
  }
  io.stderr.write(`hoist ${command.name}: too many flags unknown to Hoist\n`);
  return 1;
}

/**
 * What `hoist build` and `hoist bake` hand to {@link runOnHoist}: one buildx run on the project's
 * Hoist builders, with the build record to create for it.
 */
export interface HoistRun {
  /** The buildx subcommand (build or bake), also named in messages. */
  command: 'build' | 'bake';
  hoist: HoistBuildOptions;
  /** The user's argv after `buildx <command> --builder <hoist builder>`, unchanged. */
  buildxArgs: string[];
  /** --builder the user gave: ignored. */
  builder?: string;
  /** Platforms to get a builder node for; empty: the server's default platform. */
  platforms: string[];
  /** The build record's options (what is being built), besides cli_version. */
  options: Record<string, unknown>;
  /** The hoist.json files near what is built, nearest first (see resolveProject). */
  projectFiles: () => Promise<[HoistJsonFound | undefined, HoistJsonFound | undefined]>;
  /** Standard input already read by Hoist (a definition on `-f -`), handed to buildx again. */
  stdin?: Buffer;
  timings?: Timings;
  /** The local Dockerfile, for the build record (path, hash, contents). */
  dockerfile?: string;
}

/** Runs `hoist build`; returns the exit code (buildx's, when buildx ran). */
export async function runBuild(argv: string[], io: BuildIo): Promise<number> {
  const timings = new Timings();
  let buildxPromise: Promise<BuildxCommand> | undefined;
  const getBuildx = (): Promise<BuildxCommand> => (buildxPromise ??= findBuildx(io.env));
  const parsed = await parseWithBuildx(argv, io, getBuildx, {
    name: 'build',
    help: BUILD_HELP,
    parse: parseBuildArgv,
  });
  if (typeof parsed === 'number') return parsed;
  const { hoist, buildxArgs, facts } = parsed;
  const local = !isRemoteContext(facts.context) && facts.context !== '-';
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
    projectFiles: () =>
      Promise.all([
        local ? findHoistJson(resolve(io.cwd, facts.context)) : Promise.resolve(undefined),
        facts.file && facts.file !== '-' && !isRemoteContext(facts.context)
          ? findHoistJson(dirname(resolve(io.cwd, facts.file)))
          : Promise.resolve(undefined),
      ]),
    timings,
    dockerfile:
      local && facts.file !== '-'
        ? resolve(io.cwd, facts.file ?? join(facts.context, 'Dockerfile'))
        : undefined,
  });
}

/**
 * Runs one buildx command on the project's Hoist builders: the build record, the builder nodes
 * for its platforms, a temporary buildx builder with private certificates, cancel on
 * SIGINT/SIGTERM, and clean-up. Returns buildx's exit code when buildx ran.
 */
export async function runOnHoist(
  io: BuildIo,
  getBuildx: () => Promise<BuildxCommand>,
  run: HoistRun,
): Promise<number> {
  const { env } = io;
  const timings = run.timings ?? new Timings();
  const warn = (m: string): void => void io.stderr.write(`hoist: warning: ${m}\n`);
  const info = (m: string): void => void io.stderr.write(`hoist: ${m}\n`);
  // Inside GitHub Actions, the runner hides every value it was told to mask from the job log;
  // tokens this process obtains itself are masked the moment it has them (stderr, so that
  // stdout stays buildx's own, e.g. with --quiet).
  const mask = (secret: string): void => {
    if (env.GITHUB_ACTIONS === 'true' && secret) void io.stderr.write(`::add-mask::${secret}\n`);
  };

  const { hoist, buildxArgs } = run;
  if (run.builder) warn(`ignoring --builder ${run.builder}: the build runs on the project's Hoist builder`);

  const waitMs = hoist.wait === undefined ? DEFAULT_WAIT_MS : parseDuration(hoist.wait);
  if (waitMs === undefined) {
    throw new ConfigurationError(`--wait "${hoist.wait}" is not a duration; use e.g. 90s, 10m or 1h`);
  }

  // Find buildx while the server is being asked: its absence must stop us before a build exists,
  // but it need not cost a round trip of its own.
  const buildxReady = getBuildx();
  buildxReady.catch(() => undefined);

  // the files that say where and as what to build are read at once, not one after the other
  const projectFiles = run.projectFiles();
  const caCert = readCaCert(env);
  for (const p of [projectFiles, caCert]) p.catch(() => undefined); // awaited below
  const config = await readUserConfig(configPath(env));
  const api = resolveApiUrl({ flag: hoist.apiUrl, env: env.HOIST_API_URL, config });
  if (!api.ok) throw new ConfigurationError(api.message);
  const tokenChoice = resolveToken({
    flag: hoist.token,
    env: env.HOIST_TOKEN,
    config,
    apiUrl: api.value,
    githubOidc: Boolean(env.ACTIONS_ID_TOKEN_REQUEST_URL && env.ACTIONS_ID_TOKEN_REQUEST_TOKEN),
    inGithubActions: env.GITHUB_ACTIONS === 'true',
    allowOidc: true,
  });
  if (!tokenChoice.ok) throw new ConfigurationError(tokenChoice.message);

  const [fromContext, fromDockerfile] = await projectFiles;
  const project = resolveProject({
    flag: hoist.project,
    env: env.HOIST_PROJECT_ID,
    fromContext,
    fromDockerfile,
  });
  for (const w of project.warnings) warn(w);

  const caPem = await caCert;
  let client = new HoistClient({ apiUrl: api.value, userAgent: USER_AGENT, caPem });
  if (tokenChoice.value.kind === 'token') {
    client = client.withToken(tokenChoice.value.token);
  } else {
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
  const tmpParent = env.HOIST_TMPDIR || tmpdir();
  // builders and PEMs of hoist processes that were killed outright (SIGKILL, power loss)
  const bxConfig = buildxConfigDir(env);
  const swept = sweepStale(tmpParent, bxConfig, warn);

  // From here on, a signal cancels the build and still cleans up.
  const cancel = new AbortController();
  let cancelReason: string | undefined;
  let exitSignal: NodeJS.Signals | undefined;
  let child: ChildProcess | undefined;
  let killTimer: NodeJS.Timeout | undefined;
  const requestCancel = (reason: string, signal?: NodeJS.Signals): void => {
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
  const onSignal = (sig: NodeJS.Signals): void => requestCancel(`received ${sig}`, sig);
  /** The server ended the build (canceled, expired, its token revoked): its certificates are dead too. */
  const serverEnded = (err: HoistApiError): void => {
    if (cancelReason !== undefined) return;
    const status = /finished with status (\w+)/.exec(err.message)?.[1];
    info(err.message);
    requestCancel(
      status === 'canceled'
        ? 'the Hoist server canceled this build'
        : `the Hoist server ended this build${status ? ` (status ${status})` : ''}`,
    );
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  let buildId: string | undefined;
  let buildClient: HoistClient | undefined;
  let tmp: string | undefined;
  let builder: string | undefined;
  let heartbeat: NodeJS.Timeout | undefined;
  let preparing: Promise<unknown> | undefined;
  const renewed = new CertFiles();
  let result: FinishBuildRequest = {
    status: 'failed',
    error: `hoist ${run.command} stopped before buildx ran`,
  };
  let exitCode = 1;
  let finisherPid: number | undefined;
  let live: LiveSteps | undefined;
  try {
    const platformsToAcquire = hoist.buildPlatform ? [hoist.buildPlatform] : run.platforms;
    // One --wait budget for the server to take the build and for its builders.
    const deadline = Date.now() + waitMs;
    const created = await createBuild(
      client,
      {
        project: project.project,
        platforms: platformsToAcquire,
        options: { cli_version: VERSION, ...run.options },
        context: buildContext(env),
      },
      deadline,
      cancel.signal,
      info,
    );
    buildId = created.build_id;
    mask(created.build_token);
    buildClient = client.withToken(created.build_token);
    timings.mark('created');
    info(`build ${escapeControls(created.build_id)}: ${escapeControls(created.build_url)}`);

    let hbMs = Number(env.HOIST_HEARTBEAT_MS) || 5_000;
    const bc = buildClient;
    const id = buildId;
    const beat = (): void => {
      heartbeat = setTimeout(() => {
        bc.heartbeat(id).then(
          async (r) => {
            if (r.cancel) requestCancel('the Hoist server canceled this build');
            for (const c of r.certs ?? []) await renewed.set(c);
            if (!cancel.signal.aborted) beat();
          },
          (err: unknown) => {
            // the server ended the build (expired, canceled, finished): its certificate is dead too
            if (err instanceof HoistApiError && err.status === 409) {
              serverEnded(err);
            } else {
              warn(`heartbeat failed: ${errorMessage(err)}`);
              if (!cancel.signal.aborted) beat();
            }
          },
        );
      }, hbMs);
      heartbeat.unref();
    };
    beat();

    // The private dir (and the note that lets a later run clean up after a killed one) is made
    // while the builders are being acquired.
    builder = builderName(buildId);
    const owner = { pid: process.pid, builder, buildx_config: bxConfig };
    // (small local writes, synchronous: a thread pool round trip each would cost more)
    const prepared = Promise.resolve().then(() => {
      const dir = mkdtempSync(join(tmpParent, 'hoist-build-'));
      tmp = dir;
      writeFileSync(join(dir, OWNER_FILE), JSON.stringify(owner), { mode: 0o600 });
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
      if (platforms.length === 0) platforms = [platformOfThisMachine()];
    }
    if (cancel.signal.aborted) throw new Error(cancelReason);
    const nodes = await Promise.all(
      platforms.map((p) => {
        const ready = created.builders?.[created.platforms?.indexOf(p) ?? -1];
        if (ready?.status === 'active') {
          announcePlacement(p, ready, info);
          return ready;
        }
        return acquire(bc, id, p, deadline, waitMs, cancel.signal, info);
      }),
    );
    // renewals must come before the shortest certificate expires
    for (const n of nodes) if (n.heartbeat_ms > 0) hbMs = Math.min(hbMs, n.heartbeat_ms);
    if (cancel.signal.aborted) throw new Error(cancelReason);
    timings.mark('acquired');

    const dir0 = await prepared;
    /** Writes each node's PEMs (first time: new files) and the buildx builder that uses them. */
    const writeNodes = async (answers: BuilderActive[], first: boolean): Promise<void> => {
      const endpoints = distinctEndpoints(answers.map((n) => n.endpoint));
      const specs: NodeSpec[] = await Promise.all(
        answers.map(async (n, i) => {
          const dir = join(dir0, String(i));
          if (first) mkdirSync(dir, { mode: 0o700 });
          const files = {
            cacert: join(dir, 'ca.pem'),
            cert: join(dir, 'cert.pem'),
            key: join(dir, 'key.pem'),
          };
          const write = async (f: string, pem: string): Promise<void> =>
            first ? writeFileSync(f, pem, { mode: 0o600, flag: 'wx' }) : replaceFile(f, pem);
          await Promise.all([
            write(files.cacert, n.ca_pem),
            write(files.cert, n.cert_pem),
            write(files.key, n.key_pem),
          ]);
          if (first) await renewed.attach(n.platform, files.cert);
          else await renewed.set({ platform: n.platform, cert_pem: n.cert_pem, expires_at: n.expires_at });
          return {
            node: `${builder}-${i}`,
            endpoint: endpoints[i]!,
            // with --build-platform one native node takes every target platform
            platform: hoist.buildPlatform ? undefined : platforms[i],
            serverName: n.server_name,
            ...files,
          };
        }),
      );
      // the remote-driver builder buildx create would store, written directly (no buildx process)
      await writeBuilder(bxConfig, builder!, specs);
    };
    await writeNodes(nodes, true);
    timings.mark('builder_created');
    const bx = await buildxReady;
    if (cancel.signal.aborted) throw new Error(cancelReason);

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
    for (let attempt = 0; ; attempt++) {
      let tail = '';
      child = spawn(via.file, buildArgs, {
        env: buildxEnv as NodeJS.ProcessEnv,
        stdio: [run.stdin ? 'pipe' : 'inherit', 'inherit', teeStderr ? 'pipe' : 'inherit'],
        cwd: io.cwd,
      });
      const spawned = child;
      if (run.stdin) spawned.stdin?.on('error', () => undefined).end(run.stdin);
      spawned.stderr?.setEncoding('utf8').on('data', (d: string) => {
        io.stderr.write(d);
        tail = (tail + d).slice(-4096);
      });
      // should this process be killed outright, the next run stops this buildx too
      if (spawned.pid !== undefined) {
        await writeFile(join(dir0, OWNER_FILE), JSON.stringify({ ...owner, buildx_pid: spawned.pid }), {
          mode: 0o600,
        }).catch(() => undefined);
      }
      exitCode = await new Promise<number>((res) => {
        spawned.on('error', (err) => {
          // name what was run: the plugin binary itself when it ran standalone
          const what = via === bx ? bx.display : via.file;
          io.stderr.write(
            `hoist: cannot run ${what}: ${errorMessage(err)}; check that it is an executable buildx, or set HOIST_BUILDX to one\n`,
          );
          res(127);
        });
        spawned.on('close', (code, signal) => res(code ?? 128 + signalNumber(signal)));
      });
      child = undefined;
      if (exitCode === 0 || cancelReason !== undefined || attempt >= MAX_RECONNECTS) break;
      const lost = lostBuilderConnection(tail);
      if (!lost) break;
      // The build must still be on: a server that ended it closed the connection on purpose.
      const on = await bc.heartbeat(id).then(
        () => true,
        (err: unknown) => {
          if (err instanceof HoistApiError && err.status === 409) serverEnded(err);
          return false;
        },
      );
      if (!on || cancel.signal.aborted) break;
      info(
        `the connection to the builder was lost (${lost}); a control-plane replica may have gone away. Getting the builder again and rerunning buildx: finished steps are cached (attempt ${attempt + 2} of ${MAX_RECONNECTS + 1})`,
      );
      const again = await Promise.all(
        platforms.map((p) => acquire(bc, id, p, Date.now() + waitMs, waitMs, cancel.signal, info)),
      );
      if (cancel.signal.aborted) break;
      await writeNodes(again, false);
    }
    // the full set follows at the end, from the build's record
    live?.stop();
    timings.mark('built');
    // Success: what is left changes nothing for the exit status (steps, clean-up, the finish
    // report), so a background process of our own does it and this one exits now.
    if (
      exitCode === 0 &&
      cancelReason === undefined &&
      io.finishInBackground &&
      backgroundFinishEnabled(env)
    ) {
      const state: FinishState = {
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
      finisherPid = await handOffFinish(state, buildxEnv, (pid) =>
        writeFile(join(dir0, OWNER_FILE), JSON.stringify({ ...owner, pid }), { mode: 0o600 }),
      ).catch((err: unknown) => {
        warn(`finishing the build here (no background process: ${errorMessage(err)})`);
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
      await bc.heartbeat(id).then(
        () => undefined,
        (err: unknown) => {
          if (err instanceof HoistApiError && err.status === 409) serverEnded(err);
        },
      );
    }
    // A build the server ended takes no steps any more (its token and certificates are dead);
    // one canceled here by a signal is still open on the server: send what it did so far.
    if (cancelReason === undefined || exitSignal !== undefined) {
      await reportSteps({
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
      if (exitCode === 0) exitCode = 1;
    } else if (exitCode === 0) {
      result = { status: 'success' };
    } else {
      result = { status: 'failed', error: `docker buildx ${run.command} exited with code ${exitCode}` };
    }
  } catch (err) {
    if (err instanceof HoistApiError && err.code === 'build_canceled' && cancelReason === undefined) {
      cancelReason = 'the Hoist server canceled this build';
      info(cancelReason);
    }
    if (cancelReason !== undefined) {
      result = { status: 'canceled', error: cancelReason };
    } else {
      result = { status: 'failed', error: errorMessage(err) };
      if (!buildId) throw err;
      io.stderr.write(`hoist: ${errorMessage(err)}\n`);
    }
    exitCode = exitCode === 0 ? 1 : exitCode;
  } finally {
    live?.stop();
    if (heartbeat) clearTimeout(heartbeat);
    if (killTimer) clearTimeout(killTimer);
    await preparing?.catch(() => undefined);
    // Handed off: the background process removes the builder and the private dir and reports
    // the end. Otherwise the builder definition and the private dir go while the server is told
    // the build's end (which ends its certificates there); neither waits on the other.
    const ended =
      finisherPid === undefined
        ? endBuild({
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
      await writeFile(
        env.HOIST_TIMINGS_FILE,
        JSON.stringify({
          build_id: buildId,
          ...timings.marks,
          finisher_pid: finisherPid,
          // what the boot (boot.cjs) made of the V8 code cache: accepted, rejected, none or off
          code_cache: (globalThis as Record<symbol, unknown>)[Symbol.for('hoist.codeCache')],
          live_batches: live?.sent.batches,
          live_steps: live?.sent.steps,
        }),
      );
    }
  }
  if (exitSignal) return 128 + signalNumber(exitSignal);
  return exitCode;
}

const USER_AGENT = `hoist-cli/${VERSION}`;
/** Times buildx is run again after its builder connection was lost (not after a failed build). */
const MAX_RECONNECTS = 2;

/**
 * What in buildx's last output says the connection to the builder broke (gRPC "Unavailable",
 * a reset or closed socket) rather than the build failing; null when nothing does. A step that
 * exits non-zero or a Dockerfile error never matches, so a broken build is never run twice.
 */
export function lostBuilderConnection(stderrTail: string): string | null {
  const lines = stderrTail.split('\n').filter((l) => /\bERROR\b|error:|rpc error/i.test(l));
  const last = lines.at(-1) ?? '';
  if (
    /did not complete successfully|exit code: \d+|failed to compute cache key|dockerfile parse error/i.test(
      last,
    )
  )
    return null;
  const m =
    /code = Unavailable|error reading from server[^\n]*|connection reset by peer|broken pipe|transport is closing|use of closed network connection|connection refused|unexpected EOF/i.exec(
      last,
    );
  return m ? m[0] : null;
}

/** HOIST_CA_CERT: the PEM of the CA that signed the server's certificate, added to the system's. */
export async function readCaCert(env: Env): Promise<string | undefined> {
  const file = env.HOIST_CA_CERT;
  if (!file) return undefined;
  let pem: string;
  try {
    pem = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigurationError(
      `HOIST_CA_CERT=${file} cannot be read (${errorMessage(err)}); set it to the PEM file of the CA that signed the Hoist server's certificate`,
    );
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) {
    throw new ConfigurationError(
      `HOIST_CA_CERT=${file} holds no PEM certificate ("-----BEGIN CERTIFICATE-----"); give the CA certificate in PEM form`,
    );
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
  private readonly latest = new Map<string, string>();
  private readonly paths = new Map<string, string>();

  async set(c: RenewedCert): Promise<void> {
    this.latest.set(c.platform, c.cert_pem);
    const file = this.paths.get(c.platform);
    if (file) await replaceFile(file, c.cert_pem);
  }

  /** The cert file of a platform now exists: bring it up to date with a renewal that came first. */
  async attach(platform: string, file: string): Promise<void> {
    this.paths.set(platform, file);
    const pem = this.latest.get(platform);
    if (pem) await replaceFile(file, pem);
  }
}

async function replaceFile(file: string, content: string): Promise<void> {
  const tmpFile = `${file}.${process.pid}.tmp`;
  await rm(tmpFile, { force: true });
  await writeFile(tmpFile, content, { mode: 0o600, flag: 'wx' });
  await rename(tmpFile, file);
}

/**
 * Removes what a killed `hoist build` left behind: each `hoist-build-*` dir of ours whose owner
 * process is gone, and the buildx builder it names. Never throws; costs a readdir when all is clean.
 */
async function sweepStale(parent: string, bxConfig: string, warn: (m: string) => void): Promise<void> {
  try {
    const uid = process.getuid?.();
    for (const name of await readdir(parent)) {
      if (!name.startsWith('hoist-build-')) continue;
      const dir = join(parent, name);
      let owner: { pid?: unknown; builder?: unknown; buildx_pid?: unknown; buildx_config?: unknown };
      try {
        if (uid !== undefined && (await stat(dir)).uid !== uid) continue;
        owner = JSON.parse(await readFile(join(dir, OWNER_FILE), 'utf8')) as typeof owner;
      } catch {
        continue; // being set up right now, or not ours
      }
      if (typeof owner.pid !== 'number' || processAlive(owner.pid)) continue;
      if (typeof owner.buildx_pid === 'number' && typeof owner.builder === 'string') {
        await stopOrphanBuildx(owner.buildx_pid, owner.builder);
      }
      if (typeof owner.builder === 'string' && /^hoist-[\w.-]+$/.test(owner.builder)) {
        await removeBuilder(
          typeof owner.buildx_config === 'string' ? owner.buildx_config : bxConfig,
          owner.builder,
        );
      }
      await rm(dir, { recursive: true, force: true });
      warn(
        `removed ${typeof owner.builder === 'string' ? owner.builder : name}, left behind by a killed hoist build`,
      );
    }
  } catch {
    // a sweep that cannot run changes nothing for this build
  }
}

/**
 * A buildx that outlived its killed `hoist build` still uses the builder: stop it, but only when
 * the pid still runs a build on that very builder (a pid can be reused).
 */
async function stopOrphanBuildx(pid: number, builder: string): Promise<void> {
  let argv: string[];
  try {
    argv = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0');
  } catch {
    return; // gone, or not Linux
  }
  const i = argv.indexOf('--builder');
  if (i < 0 || argv[i + 1] !== builder) return;
  // `docker buildx` runs the plugin as its child: stop both
  const pids = [pid, ...(await childrenOf(pid))];
  const signal = (sig: NodeJS.Signals): void => {
    for (const p of pids) {
      try {
        process.kill(p, sig);
      } catch {
        /* gone */
      }
    }
  };
  signal('SIGTERM');
  for (let n = 0; n < 50 && pids.some(processAlive); n++) await new Promise((r) => setTimeout(r, 100));
  if (pids.some(processAlive)) signal('SIGKILL');
}

async function childrenOf(pid: number): Promise<number[]> {
  const out: number[] = [];
  for (const e of await readdir('/proc').catch(() => [] as string[])) {
    if (!/^\d+$/.test(e)) continue;
    const stat = await readFile(`/proc/${e}/stat`, 'utf8').catch(() => '');
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (ppid === pid) out.push(Number(e));
  }
  return out;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Creates the build. A 429 (the project is at its cap of active builds, or creating builds
 * faster than the server allows) is waited out as its Retry-After says, while the deadline allows.
 */
export async function createBuild(
  client: HoistClient,
  req: CreateBuildRequest,
  deadline: number,
  signal: AbortSignal,
  info: (m: string) => void,
): Promise<CreateBuildResponse> {
  let told = false;
  for (;;) {
    if (signal.aborted) throw new Error('canceled');
    try {
      // the builders that are ready at once come with the answer: no round trip of their own
      return await client.createBuild(req, { acquire: true });
    } catch (err) {
      if (!(err instanceof HoistApiError) || err.status !== 429) throw err;
      const wait = Math.max(err.retryAfterMs ?? 1000, 100);
      if (Date.now() + wait > deadline) throw err;
      if (!told) {
        info(`the server cannot take the build yet; retrying within --wait: ${err.message}`);
        told = true;
      }
      await sleep(wait, signal);
    }
  }
}

/** Polls one platform's builder until it is active, honouring retry_after_ms, up to the deadline. */
async function acquire(
  client: HoistClient,
  buildId: string,
  platform: string,
  deadline: number,
  waitMs: number,
  signal: AbortSignal,
  info: (m: string) => void,
): Promise<BuilderActive> {
  let lastReason = '';
  let told = false;
  for (;;) {
    if (signal.aborted) throw new Error('canceled');
    let answer: BuilderAnswer;
    try {
      answer = await client.builder(buildId, platform);
    } catch (err) {
      // an unreachable or overloaded server is waited out like a pending answer, up to --wait
      const transient =
        err instanceof HoistApiError && (err.status === 0 || err.status === 429 || err.status >= 500);
      if (!transient || Date.now() >= deadline) throw err;
      answer = { status: 'pending', retry_after_ms: 1000, reason: errorMessage(err) };
    }
    if (answer.status === 'active') {
      announcePlacement(platform, answer, info);
      return answer;
    }
    lastReason = answer.reason;
    const left = deadline - Date.now();
    if (left <= 0) {
      throw new Error(
        `no ${platform} builder became available within --wait ${Math.round(waitMs / 1000)}s` +
          `${lastReason ? ` (the server said: ${lastReason})` : ''}. ` +
          'Try again later, raise --wait, or ask your Hoist admin about builder capacity.',
      );
    }
    if (!told) {
      info(`waiting for a ${platform} builder: ${escapeControls(lastReason)}`);
      told = true;
    }
    await sleep(Math.min(Math.max(answer.retry_after_ms, 50), left), signal);
  }
}

/** Says where a platform's builder is, when the server tells (pools). */
function announcePlacement(platform: string, a: BuilderActive, info: (m: string) => void): void {
  const where = describeBuilderPlacement(a);
  if (where) info(`builder ${platform}: ${escapeControls(where)}`);
}

/**
 * Which pool served a platform and how, from a server that says so: "pool us-east-1, clone".
 * A fallback pool's cache starts empty, and the line says so (the action's summary reads it).
 */
export function describeBuilderPlacement(a: BuilderActive): string {
  if (!a.pool) return '';
  const parts = [`pool ${a.pool}`];
  if (a.role === 'clone') parts.push('a clone of the project cache');
  if (a.shared) parts.push('shared with other builds (no clone in time)');
  if (a.cold_cache) parts.push('cold cache (a fallback pool served this build)');
  return parts.join(', ');
}
