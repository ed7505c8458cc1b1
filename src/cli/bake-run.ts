// `hoist bake`: `docker buildx bake` on the project's Hoist builders. The definition is evaluated
// first (`buildx bake --print`, on this machine) to learn every platform any target needs; then
// the same flow as `hoist build` (runOnHoist) runs the user's bake argv, unchanged, on one
// temporary builder with a node per platform, so stages the targets share are built once.
import { spawn } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { ConfigurationError } from '../lib/errors.js';
import { BUILD_OPTIONS_MAX_BYTES } from '../lib/api-types.js';
import { fitBakeRecord, parseBakeArgv, parseBakeDefinition, planBake, type BakeFacts } from './bake-argv.js';
import { type BuildIo, Timings, parseWithBuildx, platformOfThisMachine, runOnHoist } from './build-run.js';
import { type BuildxCommand, type Captured, findBuildx, signalNumber } from './buildx.js';
import { findHoistJson } from './config.js';

export const BAKE_HELP = `Usage:  hoist bake [OPTIONS] [TARGET...]

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
function captureWithInput(
  file: string,
  args: string[],
  env: Record<string, string | undefined>,
  cwd: string,
  input: Buffer | undefined,
): Promise<Captured> {
  return new Promise((res) => {
    let stdout = '';
    let stderr = '';
    const child = spawn(file, args, {
      env: env as NodeJS.ProcessEnv,
      cwd,
      stdio: [input ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    });
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', (err) => res({ code: 127, stdout, stderr, spawnError: err }));
    child.on('close', (code, signal) => res({ code: code ?? 128 + signalNumber(signal), stdout, stderr }));
    if (input) child.stdin?.on('error', () => undefined).end(input);
  });
}

/** Runs buildx itself for --print and --list: nothing is built, so no Hoist builder is needed. */
function passThrough(
  bx: BuildxCommand,
  args: string[],
  io: BuildIo,
  input: Buffer | undefined,
): Promise<number> {
  return new Promise((res) => {
    const { HOIST_TOKEN: _token, ...env } = io.env;
    const child = spawn(bx.file, [...bx.prefix, 'bake', ...args], {
      env: env as NodeJS.ProcessEnv,
      cwd: io.cwd,
      stdio: [input ? 'pipe' : 'inherit', 'inherit', 'inherit'],
    });
    child.on('error', (err) => {
      io.stderr.write(`hoist: cannot run ${bx.display}: ${err.message}\n`);
      res(127);
    });
    child.on('close', (code, signal) => res(code ?? 128 + signalNumber(signal)));
    if (input) child.stdin?.on('error', () => undefined).end(input);
  });
}

async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
  return Buffer.concat(chunks);
}

/** Where hoist.json is looked for: above the first local bake file, then above the working directory. */
function projectDirs(facts: BakeFacts, cwd: string): [string | undefined, string] {
  const file = facts.remote ? undefined : facts.files.find((f) => f !== '-' && !f.startsWith('cwd://'));
  return [file ? dirname(resolve(cwd, file)) : undefined, cwd];
}

/** Runs `hoist bake`; returns the exit code (buildx's, when buildx ran). */
export async function runBake(
  argv: string[],
  io: BuildIo & { stdin?: NodeJS.ReadableStream },
): Promise<number> {
  const timings = new Timings();
  let buildxPromise: Promise<BuildxCommand> | undefined;
  const getBuildx = (): Promise<BuildxCommand> => (buildxPromise ??= findBuildx(io.env));
  const parsed = await parseWithBuildx(argv, io, getBuildx, {
    name: 'bake',
    help: BAKE_HELP,
    parse: parseBakeArgv,
  });
  if (typeof parsed === 'number') return parsed;
  const { hoist, buildxArgs, facts } = parsed;

  // A definition on standard input is read once and handed to both buildx runs.
  let input: Buffer | undefined;
  if (facts.files.includes('-')) {
    if (!io.stdin) throw new ConfigurationError('hoist bake: -f - needs a definition on standard input');
    input = await readAll(io.stdin);
  }
  const bx = await getBuildx();
  // nothing is built, so the user's own --builder (which reads a remote definition) stays
  if (facts.printOnly) {
    return passThrough(
      bx,
      [...(facts.builder ? ['--builder', facts.builder] : []), ...buildxArgs],
      io,
      input,
    );
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
    io.stderr.write(
      `hoist bake: buildx could not evaluate the bake definition (exit code ${printed.code})\n`,
    );
    return printed.code;
  }
  let plan;
  try {
    plan = planBake(parseBakeDefinition(printed.stdout), platformOfThisMachine());
  } catch (err) {
    throw new ConfigurationError(`hoist bake: ${(err as Error).message}`);
  }
  timings.mark('definition');

  const [nearFile, cwd] = projectDirs(facts, io.cwd);
  return runOnHoist(io, getBuildx, {
    command: 'bake',
    hoist,
    buildxArgs,
    builder: facts.builder,
    platforms: plan.platforms,
    options: {
      ...fitBakeRecord(
        {
          command: 'bake',
          definition: facts.remote ? 'remote' : input ? 'stdin' : 'local',
          files: facts.files,
          targets: plan.targets,
          target_platforms: plan.platforms,
          push: plan.push,
          load: plan.load,
        },
        BUILD_OPTIONS_MAX_BYTES,
      ),
    },
    projectFiles: () =>
      Promise.all([nearFile ? findHoistJson(nearFile) : Promise.resolve(undefined), findHoistJson(cwd)]),
    stdin: input,
    timings,
  });
}
