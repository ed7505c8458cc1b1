// The real engine for test suites: a docker-registry holding the Debian base image,
// buildkitd with mutual TLS, a private dockerd, and a private docker/buildx config, each
// started per suite on a free loopback port or a private unix socket, in its own temp dir,
// and stopped (every process it started, and the dir) by `stop()` in afterAll.
//
// The binaries come from `npm run engine` (test/engine/engine.sh), which builds them into
// $HOIST_ENGINE_CACHE (default ~/.cache/hoist-engine) together with the base image.
//
// buildkitd flags that work in this sandbox (cgroup v1, rootful runc, overlayfs on ext4) for
// the engine's own test daemon — see `buildkitdArgs()`:
//   buildkitd --root <own dir> --addr tcp://127.0.0.1:<port>
//             --tlscacert ca.pem --tlscert server.pem --tlskey server-key.pem
//             --config <own dir>/buildkitd.toml       never the host's /etc/buildkit/buildkitd.toml
//             --otel-socket-path <own dir>/otel.sock  otherwise every buildkitd fights over
//                                                    /run/buildkit/otel-grpc.sock
//             --oci-worker-net host                   this test daemon runs only the suite's own
//                                                    builds; Hoist's builders isolate RUN steps
//                                                    with CNI (src/providers/local-network.ts)
//             --oci-worker-snapshotter auto           picks overlayfs here; `native` works too (tested)
// With --tlscacert set, buildkitd requires and verifies a client certificate signed by that CA.
// A refused client certificate (other CA, expired) is not named by buildx: over TLS 1.3 the
// build just fails after ~20 s with "waiting for connection ... context deadline exceeded"
// (buildctl sometimes shows "remote error: tls: expired certificate", sometimes "broken pipe").
// To assert the reason, do a TLS 1.2 handshake (node:tls, maxVersion 'TLSv1.2'): it fails with
// ERR_SSL_TLSV1_ALERT_UNKNOWN_CA or ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED (test/chain.itg.test.ts).
// buildkitd.toml marks the loopback registries plain HTTP:
//   [registry."127.0.0.1:PORT"]
//     http = true
//     insecure = true
// (BuildKit v0.18 also pulls from a registry on 127.0.0.1 over plain HTTP without it — see
// test/engine/engine.itg.test.ts — but the explicit entry keeps pulls and pushes deterministic.)
// Clients: `buildctl --addr tcp://127.0.0.1:PORT --tlscacert ca.pem --tlscert client.pem
// --tlskey client-key.pem --tlsservername <a SAN of the server cert> debug workers`, or
// `docker buildx create --driver remote --driver-opt cacert=..,cert=..,key=..,servername=.. tcp://..`.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import {
  accessSync,
  constants,
  cpSync,
  createWriteStream,
  existsSync,
  readdirSync,
  readFileSync,
  symlinkSync,
} from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, connect } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

export const BASE_IMAGE_REPOSITORY = 'hoist-test/debian';
export const BASE_IMAGE_TAG = 'bookworm';

const ENGINE_HINT = 'run `npm run engine` (test/engine/engine.sh) to install and build the test engine';

/** The directory engine.sh caches binaries and the base image in. */
export function engineCacheDir(): string {
  return process.env.HOIST_ENGINE_CACHE || join(homedir(), '.cache', 'hoist-engine');
}

export interface EngineBinaries {
  buildkitd: string;
  buildctl: string;
  /** The buildx binary; `makeDockerConfig()` installs it as the docker CLI plugin. */
  buildx: string;
  docker: string;
  dockerd: string;
  registry: string;
  runc: string;
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function onPath(name: string): string | undefined {
  const dirs = (process.env.PATH ?? '').split(delimiter).concat(['/usr/sbin', '/sbin', '/usr/local/sbin']);
  for (const dir of dirs) {
    if (dir && isExecutable(join(dir, name))) return join(dir, name);
  }
  return undefined;
}

/** Paths of the engine's binaries; throws an error that says to run `npm run engine` when one is missing. */
export function engineBinaries(): EngineBinaries {
  const bin = join(engineCacheDir(), 'bin');
  const missing: string[] = [];
  const cached = (name: string): string => {
    const path = join(bin, name);
    if (!isExecutable(path)) missing.push(path);
    return path;
  };
  const system = (name: string, pkg: string): string => {
    const path = onPath(name);
    if (!path) missing.push(`${name} (Debian package ${pkg})`);
    return path ?? name;
  };
  const found: EngineBinaries = {
    buildkitd: cached('buildkitd'),
    buildctl: cached('buildctl'),
    buildx: cached('buildx'),
    docker: system('docker', 'docker.io'),
    dockerd: system('dockerd', 'docker.io'),
    registry: system('docker-registry', 'docker-registry'),
    runc: system('runc', 'runc'),
  };
  if (missing.length > 0) {
    throw new Error(`the test engine is not installed: missing ${missing.join(', ')}; ${ENGINE_HINT}`);
  }
  return found;
}

/** A free TCP port on 127.0.0.1 (bound to port 0, then released). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        if (address && typeof address === 'object') resolve(address.port);
        else reject(new Error('could not read the port of a listening socket'));
      });
    });
  });
}

async function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function waitFor(
  what: string,
  timeoutMs: number,
  check: () => Promise<boolean>,
  logFile?: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) {
      let tail = '';
      if (logFile && existsSync(logFile)) {
        tail = `\n--- last lines of ${logFile} ---\n${readFileSync(logFile, 'utf8').split('\n').slice(-30).join('\n')}`;
      }
      throw new Error(`${what} was not ready after ${timeoutMs / 1000}s${tail}`);
    }
    await sleep(200);
  }
}

// Every process started here, so that even a suite that forgets `stop()` leaves none behind.
const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) killGroup(child, 'SIGKILL');
});

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
}

/** Starts a daemon in its own process group with stdout and stderr appended to `logFile`. */
async function startDaemon(command: string, args: string[], logFile: string): Promise<ChildProcess> {
  const out = createWriteStream(logFile, { flags: 'a' });
  await new Promise<void>((resolve, reject) => {
    out.once('open', () => resolve());
    out.once('error', reject);
  });
  const child = spawn(command, args, { detached: true, stdio: ['ignore', out, out] });
  live.add(child);
  child.once('exit', () => {
    live.delete(child);
    out.end();
  });
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', () => resolve());
    child.once('error', (err) => reject(new Error(`could not start ${command}: ${err.message}`)));
  });
  return child;
}

function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

/** SIGTERM the process group, SIGKILL it after `graceMs`; resolves when the leader has exited. */
async function stopDaemon(child: ChildProcess, graceMs = 15_000): Promise<void> {
  if (exited(child)) return;
  const done = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  killGroup(child, 'SIGTERM');
  const timer = setTimeout(() => killGroup(child, 'SIGKILL'), graceMs);
  await done;
  clearTimeout(timer);
  // Whatever else of the group is left (a runc child, a containerd) goes too.
  killGroup(child, 'SIGKILL');
}

/**
 * Kills every process whose command line mentions `dir` (a temp dir unique to one daemon):
 * containerd shims and runc run in their own sessions, out of reach of the group kill.
 */
async function killProcessesUsing(dir: string): Promise<void> {
  const victims: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (cmdline.includes(dir)) victims.push(Number(entry));
    } catch {
      // exited meanwhile
    }
  }
  for (const pid of victims) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // exited meanwhile
    }
  }
  if (victims.length > 0) await sleep(200);
}

async function removeDir(dir: string): Promise<void> {
  // Unmount whatever a daemon left mounted below dir (overlay snapshots, containerd state).
  const mounts = readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[1] ?? '')
    .filter((mountPoint) => mountPoint === dir || mountPoint.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
  for (const mountPoint of mounts) {
    await execFileAsync('umount', ['-l', mountPoint]).catch(() => undefined);
  }
  await rm(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
}

/** Content of a buildkitd.toml that marks `registries` (host:port) as plain-HTTP and insecure. */
export function buildkitdConfigToml(opts: { registries?: string[] } = {}): string {
  return (opts.registries ?? [])
    .map((host) => `[registry."${host}"]\n  http = true\n  insecure = true\n`)
    .join('\n');
}

export interface BuildkitdPaths {
  /** Persistent state (the layer cache). */
  rootDir: string;
  configFile: string;
  otelSocket: string;
  caFile: string;
  certFile: string;
  keyFile: string;
}

/** The buildkitd argv that works here (see the top of this file). */
export function buildkitdArgs(opts: {
  address: string;
  paths: BuildkitdPaths;
  snapshotter?: 'auto' | 'overlayfs' | 'native';
  platforms?: string[];
}): string[] {
  const { paths } = opts;
  const args = [
    '--root',
    paths.rootDir,
    '--addr',
    opts.address,
    '--tlscacert',
    paths.caFile,
    '--tlscert',
    paths.certFile,
    '--tlskey',
    paths.keyFile,
    '--config',
    paths.configFile,
    '--otel-socket-path',
    paths.otelSocket,
    '--oci-worker-net',
    'host',
    '--oci-worker-snapshotter',
    opts.snapshotter ?? 'auto',
  ];
  for (const platform of opts.platforms ?? []) args.push('--oci-worker-platform', platform);
  return args;
}

/** buildctl's TLS flags for a client certificate. */
export function buildctlTlsArgs(opts: {
  caFile: string;
  certFile: string;
  keyFile: string;
  serverName: string;
}): string[] {
  return [
    '--tlscacert',
    opts.caFile,
    '--tlscert',
    opts.certFile,
    '--tlskey',
    opts.keyFile,
    '--tlsservername',
    opts.serverName,
  ];
}

export interface Registry {
  /** `127.0.0.1:PORT`, for image references. */
  host: string;
  /** `http://127.0.0.1:PORT`, for the registry HTTP API. */
  url: string;
  /** `127.0.0.1:PORT/hoist-test/debian:bookworm` (present when seeded). */
  baseImage: string;
  dir: string;
  stop(): Promise<void>;
}

/**
 * Starts docker-registry on a free loopback port with plain HTTP and deletes enabled. Its
 * storage starts as a copy of the cached one that holds the Debian base image, unless
 * `seed: false`.
 */
export async function startRegistry(opts: { seed?: boolean; ip?: string } = {}): Promise<Registry> {
  const bins = engineBinaries();
  const seedDir = join(engineCacheDir(), 'base', BASE_IMAGE_TAG, 'registry');
  if (opts.seed !== false && !existsSync(join(engineCacheDir(), 'base', BASE_IMAGE_TAG, 'registry.done'))) {
    throw new Error(`the base image is not cached in ${seedDir}; ${ENGINE_HINT}`);
  }
  const dir = await mkdtemp(join(tmpdir(), 'hoist-registry-'));
  const storage = join(dir, 'storage');
  if (opts.seed === false) await mkdir(storage);
  else cpSync(seedDir, storage, { recursive: true });
  const port = await freePort();
  // `ip`: an address of a bridge the test made (e.g. the test cluster's), for pods to push to.
  const host = `${opts.ip ?? '127.0.0.1'}:${port}`;
  const configFile = join(dir, 'config.yml');
  await writeFile(
    configFile,
    [
      'version: 0.1',
      'log:',
      '  level: warn',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${storage}`,
      '  delete:',
      '    enabled: true',
      'http:',
      `  addr: ${host}`,
      '',
    ].join('\n'),
  );
  const logFile = join(dir, 'registry.log');
  const child = await startDaemon(bins.registry, ['serve', configFile], logFile);
  const stop = async (): Promise<void> => {
    await stopDaemon(child);
    await removeDir(dir);
  };
  try {
    await waitFor(
      `docker-registry on ${host}`,
      30_000,
      async () => !exited(child) && (await fetch(`http://${host}/v2/`)).ok,
      logFile,
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    host,
    url: `http://${host}`,
    baseImage: `${host}/${BASE_IMAGE_REPOSITORY}:${BASE_IMAGE_TAG}`,
    dir,
    stop,
  };
}

export interface StartBuildkitdOptions {
  caPem: string;
  /** Server certificate; its SANs must include 127.0.0.1 or `serverName`. */
  certPem: string;
  keyPem: string;
  /** A client certificate of the same CA, used to check readiness with `buildctl debug workers`. */
  client?: { certPem: string; keyPem: string };
  /** The name clients verify the server certificate against (default 127.0.0.1). */
  serverName?: string;
  /** Registries (host:port) to reach over plain HTTP. */
  registries?: string[];
  /** Reuse this root dir (a persistent cache) instead of a fresh one; it is kept on stop. */
  rootDir?: string;
  snapshotter?: 'auto' | 'overlayfs' | 'native';
  platforms?: string[];
}

export interface Buildkitd {
  /** `tcp://127.0.0.1:PORT` */
  address: string;
  port: number;
  /** The temp dir with the PEM files, config and log. */
  dir: string;
  rootDir: string;
  logFile: string;
  pid: number;
  caFile: string;
  serverName: string;
  stop(): Promise<void>;
}

/**
 * Starts buildkitd on a free loopback port with mutual TLS, in its own temp dir, and waits
 * until it serves (with `client`: until `buildctl debug workers` answers over mTLS).
 */
export async function startBuildkitd(opts: StartBuildkitdOptions): Promise<Buildkitd> {
  const bins = engineBinaries();
  const dir = await mkdtemp(join(tmpdir(), 'hoist-buildkitd-'));
  const paths: BuildkitdPaths = {
    rootDir: opts.rootDir ?? join(dir, 'root'),
    configFile: join(dir, 'buildkitd.toml'),
    otelSocket: join(dir, 'otel.sock'),
    caFile: join(dir, 'ca.pem'),
    certFile: join(dir, 'server.pem'),
    keyFile: join(dir, 'server-key.pem'),
  };
  await writeFile(paths.caFile, opts.caPem, { mode: 0o600 });
  await writeFile(paths.certFile, opts.certPem, { mode: 0o600 });
  await writeFile(paths.keyFile, opts.keyPem, { mode: 0o600 });
  await writeFile(paths.configFile, buildkitdConfigToml({ registries: opts.registries }));
  const port = await freePort();
  const address = `tcp://127.0.0.1:${port}`;
  const serverName = opts.serverName ?? '127.0.0.1';
  const logFile = join(dir, 'buildkitd.log');
  const child = await startDaemon(
    bins.buildkitd,
    buildkitdArgs({ address, paths, snapshotter: opts.snapshotter, platforms: opts.platforms }),
    logFile,
  );
  const stop = async (): Promise<void> => {
    await stopDaemon(child);
    await killProcessesUsing(paths.rootDir);
    await removeDir(dir);
  };
  try {
    let clientArgs: string[] | undefined;
    if (opts.client) {
      await writeFile(join(dir, 'client.pem'), opts.client.certPem, { mode: 0o600 });
      await writeFile(join(dir, 'client-key.pem'), opts.client.keyPem, { mode: 0o600 });
      clientArgs = buildctlTlsArgs({
        caFile: paths.caFile,
        certFile: join(dir, 'client.pem'),
        keyFile: join(dir, 'client-key.pem'),
        serverName,
      });
    }
    await waitFor(
      `buildkitd on ${address}`,
      60_000,
      async () => {
        if (exited(child)) throw new Error('buildkitd exited');
        if (clientArgs) {
          await execFileAsync(bins.buildctl, [
            '--addr',
            address,
            ...clientArgs,
            '--timeout',
            '5',
            'debug',
            'workers',
          ]);
          return true;
        }
        const log = await readFile(logFile, 'utf8');
        return log.includes('running server on') && (await canConnect(port));
      },
      logFile,
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    address,
    port,
    dir,
    rootDir: paths.rootDir,
    logFile,
    pid: child.pid ?? -1,
    caFile: paths.caFile,
    serverName,
    stop,
  };
}

async function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

export interface Dockerd {
  /** `unix:///tmp/hoist-dockerd-XXXX/docker.sock`, for DOCKER_HOST. */
  host: string;
  /** The dockerd's own bridge (deleted on stop). */
  bridge: string;
  socket: string;
  dir: string;
  logFile: string;
  stop(): Promise<void>;
}

/**
 * A bridge of its own for one dockerd, on a free 10.x/24: RUN steps of dockerd's builder (the
 * buildx `docker` driver) need the default `bridge` network, and two dockerds must not share
 * docker0 and its subnet.
 */
async function createBridge(): Promise<{ name: string; cidr: string }> {
  const name = `hoist${randomBytes(4).toString('hex')}`; // 13 of the 15 characters allowed
  const { stdout } = await execFileAsync('ip', ['-4', '-o', 'addr', 'show']);
  const used = new Set(
    [...stdout.matchAll(/inet (\d+)\.(\d+)\.(\d+)\.\d+/g)].map((m) => `${m[1]}.${m[2]}.${m[3]}`),
  );
  let prefix = '';
  for (let attempt = 0; attempt < 100 && !prefix; attempt++) {
    const candidate = `10.${200 + randomInt(50)}.${randomInt(256)}`;
    if (!used.has(candidate)) prefix = candidate;
  }
  if (!prefix) throw new Error('no free 10.200-249.x.0/24 subnet for a dockerd bridge');
  const cidr = `${prefix}.1/24`;
  await execFileAsync('ip', ['link', 'add', name, 'type', 'bridge']);
  try {
    await execFileAsync('ip', ['addr', 'add', cidr, 'dev', name]);
  } catch (err) {
    await execFileAsync('ip', ['link', 'del', name]).catch(() => undefined);
    throw err;
  }
  return { name, cidr };
}

/**
 * Starts a private dockerd (Debian's docker.io) on a unix socket, with its own data-root,
 * exec-root and bridge, and no iptables rules. `registries` (host:port) are allowed over plain
 * HTTP; `args` are more dockerd flags (e.g. `--add-runtime`).
 */
export async function startDockerd(opts: { registries?: string[]; args?: string[] } = {}): Promise<Dockerd> {
  const bins = engineBinaries();
  // A short path: containerd's sockets live below exec-root and unix paths are limited to 108 bytes.
  const dir = await mkdtemp(join('/tmp', 'hoist-dockerd-'));
  const socket = join(dir, 'docker.sock');
  const host = `unix://${socket}`;
  const logFile = join(dir, 'dockerd.log');
  const bridge = await createBridge();
  const args = [
    '--host',
    host,
    '--data-root',
    join(dir, 'data'),
    '--exec-root',
    join(dir, 'exec'),
    '--pidfile',
    join(dir, 'dockerd.pid'),
    '--config-file',
    join(dir, 'daemon.json'),
    '--bridge',
    bridge.name,
    '--iptables=false',
    '--ip6tables=false',
    '--ip-masq=false',
  ];
  for (const registry of opts.registries ?? []) args.push('--insecure-registry', registry);
  args.push(...(opts.args ?? []));
  await writeFile(join(dir, 'daemon.json'), '{}\n');
  let child: ChildProcess;
  try {
    child = await startDaemon(bins.dockerd, args, logFile);
  } catch (err) {
    await execFileAsync('ip', ['link', 'del', bridge.name]).catch(() => undefined);
    throw err;
  }
  const stop = async (): Promise<void> => {
    await stopDaemon(child, 30_000);
    await killProcessesUsing(dir);
    await execFileAsync('ip', ['link', 'del', bridge.name]).catch(() => undefined);
    await removeDir(dir);
  };
  try {
    await waitFor(
      `dockerd on ${host}`,
      60_000,
      async () => {
        if (exited(child)) throw new Error('dockerd exited');
        await execFileAsync(bins.docker, ['--host', host, 'version'], {
          env: { ...process.env, DOCKER_CONFIG: dir },
        });
        return true;
      },
      logFile,
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return { host, bridge: bridge.name, socket, dir, logFile, stop };
}

export interface DockerConfig {
  dir: string;
  /** DOCKER_CONFIG and BUILDX_CONFIG pointing into `dir`; merge into a child's env. */
  env: { DOCKER_CONFIG: string; BUILDX_CONFIG: string };
  /** Removes the dir (and with it every builder created under it). */
  cleanup(): Promise<void>;
}

/**
 * A private DOCKER_CONFIG and BUILDX_CONFIG with buildx installed as the CLI plugin, so builders
 * a test creates never reach ~/.docker. With a private DOCKER_CONFIG the docker CLI no longer
 * looks in ~/.docker/cli-plugins, hence the plugin link.
 */
export async function makeDockerConfig(): Promise<DockerConfig> {
  const bins = engineBinaries();
  const dir = await mkdtemp(join(tmpdir(), 'hoist-docker-config-'));
  const dockerConfig = join(dir, 'docker');
  await mkdir(join(dockerConfig, 'cli-plugins'), { recursive: true });
  symlinkSync(bins.buildx, join(dockerConfig, 'cli-plugins', 'docker-buildx'));
  return {
    dir,
    env: { DOCKER_CONFIG: dockerConfig, BUILDX_CONFIG: join(dir, 'buildx') },
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}
