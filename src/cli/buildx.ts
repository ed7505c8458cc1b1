// Running buildx: as `docker buildx` (the plugin) or as a standalone `buildx` binary.
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import { ConfigurationError } from '../lib/errors.js';

type Env = Record<string, string | undefined>;

/** How to invoke buildx: `file ...prefix <args>`. */
export interface BuildxCommand {
  file: string;
  prefix: string[];
  /** How a user would type it, for messages. */
  display: string;
  /**
   * The docker CLI's buildx plugin run standalone, as docker/actions-toolkit runs buildx where there
   * is no docker CLI: the same binary, builder store and docker config, without the docker CLI in
   * front of it. `docker buildx X` starts three programs (docker, the plugin for its metadata, then
   * the plugin); this starts one, about 40 ms less per call. The build and everything Hoist runs
   * besides it use this; help and flag questions go through `file`, as typed, for their wording.
   */
  direct?: { file: string; prefix: string[] };
}

/**
 * Where the docker CLI looks for plugins, in its order: the config dir's cli-plugins, the
 * config file's `cliPluginsExtraDirs`, then the system dirs (docker/cli's defaults).
 */
export function pluginDirs(env: Env): string[] {
  const home = env.HOME || homedir();
  const configDir = env.DOCKER_CONFIG || join(home, '.docker');
  return [
    join(configDir, 'cli-plugins'),
    ...extraPluginDirs(configDir),
    '/usr/local/lib/docker/cli-plugins',
    '/usr/local/libexec/docker/cli-plugins',
    '/usr/lib/docker/cli-plugins',
    '/usr/libexec/docker/cli-plugins',
  ];
}

/** `cliPluginsExtraDirs` of the docker config file; none when it is absent or unreadable. */
function extraPluginDirs(configDir: string): string[] {
  let raw: string;
  try {
    raw = readFileSync(join(configDir, 'config.json'), 'utf8');
  } catch {
    return [];
  }
  try {
    const dirs = (JSON.parse(raw) as { cliPluginsExtraDirs?: unknown }).cliPluginsExtraDirs;
    return Array.isArray(dirs) ? dirs.filter((d): d is string => typeof d === 'string' && d !== '') : [];
  } catch {
    return []; // the docker CLI reports a broken config file itself when it runs
  }
}

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** The first executable `name` on PATH, without spawning anything. */
export function onPath(name: string, env: Env): string | undefined {
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    if (executable(candidate)) return candidate;
  }
  return undefined;
}

export interface Captured {
  code: number;
  stdout: string;
  stderr: string;
  /** Set when the program could not be started at all. */
  spawnError?: NodeJS.ErrnoException;
}

/** Runs a program to completion, capturing its output. */
export function capture(file: string, args: string[], env?: Env): Promise<Captured> {
  return new Promise((resolveP) => {
    let stdout = '';
    let stderr = '';
    let child: ChildProcess;
    try {
      child = spawn(file, args, { env: env as NodeJS.ProcessEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (err) {
      resolveP({ code: 127, stdout, stderr, spawnError: err as NodeJS.ErrnoException });
      return;
    }
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', (err) => resolveP({ code: 127, stdout, stderr, spawnError: err }));
    child.on('close', (code, signal) =>
      resolveP({ code: code ?? 128 + signalNumber(signal), stdout, stderr }),
    );
  });
}

export function signalNumber(signal: NodeJS.Signals | null): number {
  return (
    ({ SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGTERM: 15 } as Record<string, number>)[signal ?? ''] ??
    1
  );
}

export const BUILDX_INSTALL_HINT =
  'Install Docker Buildx: the "docker-buildx-plugin" package from Docker\'s repository (or Debian\'s "docker-buildx"), ' +
  'or download a release binary from https://github.com/docker/buildx/releases to ~/.docker/cli-plugins/docker-buildx ' +
  'and chmod +x it. Or set HOIST_BUILDX to the path of a buildx binary.';

/**
 * Finds buildx: HOIST_BUILDX (a standalone binary), else `docker buildx`, else `docker-buildx` or
 * `buildx` on PATH. Throws a ConfigurationError saying how to install it.
 */
export async function findBuildx(env: Env): Promise<BuildxCommand> {
  const candidates: BuildxCommand[] = [];
  if (env.HOIST_BUILDX) candidates.push({ file: env.HOIST_BUILDX, prefix: [], display: env.HOIST_BUILDX });
  else {
    // fast path: docker on PATH and the buildx plugin where docker looks for it; no process started
    const docker = onPath('docker', env);
    const plugin = pluginDirs(env)
      .map((d) => join(d, 'docker-buildx'))
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
  const problems: string[] = [];
  for (const c of candidates) {
    const r = await capture(c.file, [...c.prefix, 'version'], env);
    if (r.code === 0 && /buildx/i.test(r.stdout)) return c;
    if (r.spawnError?.code === 'ENOENT') problems.push(`${c.file}: not found`);
    else
      problems.push(
        `${c.display} version: ${(r.stderr || r.stdout).trim().split('\n')[0] ?? `exit ${r.code}`}`,
      );
  }
  throw new ConfigurationError(
    `docker buildx is not available (${problems.join('; ')}). ${BUILDX_INSTALL_HINT}`,
  );
}

export interface NodeSpec {
  /** buildx node name. */
  node: string;
  endpoint: string;
  platform?: string;
  cacert: string;
  cert: string;
  key: string;
  serverName: string;
}

/** argv (after the buildx prefix) creating or appending one remote-driver node. Pure. */
export function createBuilderArgs(builder: string, n: NodeSpec, append: boolean): string[] {
  const args = ['create', '--name', builder, '--node', n.node, '--driver', 'remote'];
  args.push('--driver-opt', `cacert=${n.cacert},cert=${n.cert},key=${n.key},servername=${n.serverName}`);
  if (n.platform) args.push('--platform', n.platform);
  if (append) args.push('--append');
  args.push(n.endpoint);
  return args;
}

/** A buildx builder name for a build id: `hoist-<id>`, restricted to what buildx accepts. */
export function builderName(buildId: string): string {
  return `hoist-${buildId.replace(/[^a-zA-Z0-9_.-]/g, '-')}`.slice(0, 63);
}

/**
 * The endpoints of a builder's nodes, made distinct: every builder sits behind the server's one
 * gateway address (SNI, from each node's servername, picks the builder), but buildx refuses two
 * nodes with the same endpoint string. A repeated `tcp://host:port` gets leading zeros on its
 * port (`:09`, `:009`): the same port to Go's dialer, a different string to buildx. Pure.
 */
export function distinctEndpoints(endpoints: readonly string[]): string[] {
  const seen = new Map<string, number>();
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
export function buildxConfigDir(env: Env): string {
  if (env.BUILDX_CONFIG) return env.BUILDX_CONFIG;
  return join(env.DOCKER_CONFIG || join(env.HOME || homedir(), '.docker'), 'buildx');
}

/** An OCI platform as buildx stores it: `linux/arm/v7` → {architecture: arm, os: linux, variant: v7}. Pure. */
export function storedPlatform(platform: string): { architecture: string; os: string; variant?: string } {
  const [os = '', architecture = '', variant] = platform.split('/');
  return variant ? { architecture, os, variant } : { architecture, os };
}

/**
 * The builder instance `buildx create --driver remote` (then `--append` per further node) stores
 * in <config>/instances/<name>, as JSON. Hoist writes it itself: two buildx processes fewer per
 * build (create, rm), each 40–250 ms. Pure.
 */
export function builderDefinition(name: string, nodes: NodeSpec[]): string {
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
export function builderFiles(configDir: string, name: string): string[] {
  return [
    join(configDir, 'instances', name),
    join(configDir, 'activity', name),
    join(configDir, 'refs', name),
  ];
}

/** Stores the builder as buildx would (0600 file, written whole then renamed into place). */
export async function writeBuilder(configDir: string, name: string, nodes: NodeSpec[]): Promise<void> {
  // a few small local writes on every build's path: synchronous, without a thread pool round trip each
  const dir = join(configDir, 'instances');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const tmp = join(dir, `.${name}.${process.pid}.tmp`);
  writeFileSync(tmp, builderDefinition(name, nodes), { mode: 0o600 });
  renameSync(tmp, join(dir, name));
}

/** Forgets builder `name` as `buildx rm` does for a remote driver (which has nothing to stop). */
export async function removeBuilder(configDir: string, name: string): Promise<void> {
  await Promise.all(builderFiles(configDir, name).map((f) => rm(f, { recursive: true, force: true })));
}
