// The benchmark's registry side: a docker-registry on loopback or in a network namespace behind
// a shaped link (tc tbf for the bandwidth, the proxy's delay for the latency), a byte-counting HTTP proxy in front of it on 127.0.0.1 (every client, baseline
// and Hoist alike, talks to the proxy), and the seed storage holding the workloads' base image and
// the BuildKit image of the docker-container baseline, built once and cached.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import {
  closeSync,
  cpSync,
  existsSync,
  openSync,
  readFileSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer, request, Agent, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  engineBinaries,
  engineCacheDir,
  freePort,
  makeDockerConfig,
  startDockerd,
} from '../../helpers/engine.js';

const execFileP = promisify(execFile);

export const BUILDKIT_IMAGE = 'bench/buildkit:v0.18.2';
export const BASE_IMAGE = 'bench/base:bookworm';
/** Repositories of the baseline's registry cache start with this. */
export const CACHE_REPO_PREFIX = 'bench-cache/';

export interface Counters {
  /** Response bytes of requests under /v2/bench-cache/ (cache imported). */
  cacheIn: number;
  /** Request bytes of requests under /v2/bench-cache/ (cache exported). */
  cacheOut: number;
  /** Every byte through the proxy, both ways. */
  total: number;
}

export interface CountingProxy {
  /** 127.0.0.1:PORT */
  host: string;
  counters(): Counters;
  /** Where requests go from now on (host:port of a registry), and the one-way delay to add. */
  setUpstream(host: string, oneWayMs?: number): void;
  stop(): Promise<void>;
}

/**
 * An HTTP reverse proxy that counts body bytes, to report what the baseline's cache moves. With
 * a one-way delay set, each request waits that long before it is forwarded and its response that
 * long before it is returned: one round trip per request, the latency half of the shaped link
 * (this kernel has no sch_netem).
 */
export async function startCountingProxy(): Promise<CountingProxy> {
  const c: Counters = { cacheIn: 0, cacheOut: 0, total: 0 };
  let upstream = '';
  let oneWayMs = 0;
  const agent = new Agent({ keepAlive: true, maxSockets: 256 });
  const later = (f: () => void): void => void (oneWayMs > 0 ? setTimeout(f, oneWayMs) : f());
  const server: Server = createServer((req, res) => {
    const isCache = (req.url ?? '').startsWith(`/v2/${CACHE_REPO_PREFIX}`);
    const [host, port] = upstream.split(':');
    req.pause();
    later(() => {
      const up = request(
        { host, port: Number(port), method: req.method, path: req.url, headers: req.headers, agent },
        (upRes) => {
          upRes.pause();
          later(() => {
            res.writeHead(upRes.statusCode ?? 502, upRes.headers);
            upRes.on('data', (d: Buffer) => {
              c.total += d.length;
              if (isCache) c.cacheIn += d.length;
            });
            upRes.pipe(res);
          });
        },
      );
      up.on('error', (err) => {
        if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
        res.end(`proxy: ${err.message}`);
      });
      req.on('data', (d: Buffer) => {
        c.total += d.length;
        if (isCache) c.cacheOut += d.length;
      });
      req.pipe(up);
    });
  });
  server.keepAliveTimeout = 30_000;
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    host: `127.0.0.1:${port}`,
    counters: () => ({ ...c }),
    setUpstream: (h, delayMs = 0) => {
      upstream = h;
      oneWayMs = delayMs;
      agent.destroy();
    },
    stop: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      agent.destroy();
    },
  };
}

export interface BenchRegistry {
  /** host:port the registry listens on (loopback, or the namespace's address). */
  host: string;
  stop(): Promise<void>;
}

function registryConfig(storage: string, addr: string): string {
  return [
    'version: 0.1',
    'log:',
    '  level: error',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${storage}`,
    '  delete:',
    '    enabled: true',
    'http:',
    `  addr: ${addr}`,
    '',
  ].join('\n');
}

async function waitHttp(url: string, child: ChildProcess, what: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${what} exited with ${child.exitCode}`);
    try {
      if ((await fetch(url, { signal: AbortSignal.timeout(1000) })).ok) return;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error(`${what} did not answer ${url} within 30 s`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function spawnGroup(cmd: string, args: string[], log: string): ChildProcess {
  const fd = openSync(log, 'a');
  try {
    return spawn(cmd, args, { detached: true, stdio: ['ignore', fd, fd] });
  } finally {
    closeSync(fd);
  }
}

async function killGroup(child: ChildProcess): Promise<void> {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const done = new Promise<void>((r) => child.once('exit', () => r()));
  try {
    process.kill(-child.pid, 'SIGTERM');
  } catch {
    return;
  }
  const timer = setTimeout(() => {
    try {
      process.kill(-(child.pid as number), 'SIGKILL');
    } catch {
      // gone
    }
  }, 10_000);
  await done;
  clearTimeout(timer);
}

/** A docker-registry on a free loopback port serving a copy of `seed`. */
export async function startLoopbackRegistry(seed: string): Promise<BenchRegistry> {
  const dir = mkdtempSync(join(tmpdir(), 'hoist-bench-registry-'));
  const storage = join(dir, 'storage');
  cpSync(seed, storage, { recursive: true });
  const host = `127.0.0.1:${await freePort()}`;
  writeFileSync(join(dir, 'config.yml'), registryConfig(storage, host));
  const child = spawnGroup(engineBinaries().registry, ['serve', join(dir, 'config.yml')], join(dir, 'log'));
  const stop = async (): Promise<void> => {
    await killGroup(child);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitHttp(`http://${host}/v2/`, child, 'docker-registry');
  } catch (err) {
    await stop();
    throw err;
  }
  return { host, stop };
}

async function ip(...args: string[]): Promise<void> {
  await execFileP('ip', args);
}

/** A free 10.250-254.x.0/30 for the veth pair (no interface of this machine uses the /24). */
async function freeSubnet(): Promise<string> {
  const { stdout } = await execFileP('ip', ['-4', '-o', 'addr', 'show']);
  const used = new Set(
    [...stdout.matchAll(/inet (\d+)\.(\d+)\.(\d+)\.\d+/g)].map((m) => `${m[1]}.${m[2]}.${m[3]}`),
  );
  for (let i = 0; i < 100; i++) {
    const prefix = `10.${250 + randomInt(5)}.${randomInt(256)}`;
    if (!used.has(prefix)) return prefix;
  }
  throw new Error('no free 10.250-254.x.0/24 for the shaped link');
}

/**
 * A docker-registry inside a network namespace of its own, reached over a veth pair whose two
 * ends both run a token bucket (`tc qdisc ... tbf rate <rate>`), so each direction gets the
 * bandwidth; the latency is the proxy's (startCountingProxy). stop() kills the registry and
 * deletes the namespace and the veth pair.
 */
export async function startShapedRegistry(seed: string, rate: string): Promise<BenchRegistry> {
  const id = randomBytes(3).toString('hex');
  const ns = `hoistbench${id}`;
  const hostIf = `hb${id}h`;
  const nsIf = `hb${id}n`;
  const prefix = await freeSubnet();
  const dir = mkdtempSync(join(tmpdir(), 'hoist-bench-registry-'));
  const storage = join(dir, 'storage');
  let child: ChildProcess | undefined;
  const stop = async (): Promise<void> => {
    if (child) await killGroup(child);
    await execFileP('ip', ['netns', 'del', ns]).catch(() => undefined);
    await execFileP('ip', ['link', 'del', hostIf]).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    cpSync(seed, storage, { recursive: true });
    await ip('netns', 'add', ns);
    await ip('link', 'add', hostIf, 'type', 'veth', 'peer', 'name', nsIf);
    await ip('link', 'set', nsIf, 'netns', ns);
    await ip('addr', 'add', `${prefix}.1/30`, 'dev', hostIf);
    await ip('link', 'set', hostIf, 'up');
    await ip('netns', 'exec', ns, 'ip', 'addr', 'add', `${prefix}.2/30`, 'dev', nsIf);
    await ip('netns', 'exec', ns, 'ip', 'link', 'set', nsIf, 'up');
    await ip('netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up');
    const shape = ['root', 'tbf', 'rate', rate, 'burst', '256kb', 'latency', '100ms'];
    await execFileP('tc', ['qdisc', 'add', 'dev', hostIf, ...shape]);
    await ip('netns', 'exec', ns, 'tc', 'qdisc', 'add', 'dev', nsIf, ...shape);
    const host = `${prefix}.2:5000`;
    writeFileSync(join(dir, 'config.yml'), registryConfig(storage, host));
    child = spawnGroup(
      'ip',
      ['netns', 'exec', ns, engineBinaries().registry, 'serve', join(dir, 'config.yml')],
      join(dir, 'log'),
    );
    await waitHttp(`http://${host}/v2/`, child, 'docker-registry in the namespace');
    return { host, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

async function run(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<void> {
  try {
    await execFileP(cmd, args, { env, maxBuffer: 64 * 1024 * 1024 });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')} failed: ${e.stderr || e.message}`);
  }
}

/**
 * Registry storage holding bench/base:bookworm (prepare.sh's richer Debian) and
 * bench/buildkit:v0.18.2 (the engine's minbase Debian with buildkitd, buildctl and runc: what the
 * docker-container driver runs), made once with `docker import` + `docker push` through a
 * private dockerd and cached in <cache>/registry.
 */
export async function seedStorage(cache: string, log: (msg: string) => void): Promise<string> {
  const seed = join(cache, 'registry');
  if (existsSync(join(cache, 'registry.done'))) return seed;
  const baseTar = join(cache, 'base', 'rootfs.tar');
  const engineTar = join(engineCacheDir(), 'base', 'bookworm', 'rootfs.tar');
  for (const f of [baseTar, engineTar]) {
    if (!existsSync(f))
      throw new Error(`${f} is missing: run npm run engine and bash test/bench/e2e/prepare.sh`);
  }
  log('seeding the registry storage with the base and BuildKit images (once)');
  rmSync(seed, { recursive: true, force: true });
  mkdirSync(seed, { recursive: true });
  const bins = engineBinaries();
  const work = mkdtempSync(join(tmpdir(), 'hoist-bench-seed-'));
  const host = `127.0.0.1:${await freePort()}`;
  writeFileSync(join(work, 'config.yml'), registryConfig(seed, host));
  const registry = spawnGroup(bins.registry, ['serve', join(work, 'config.yml')], join(work, 'registry.log'));
  const dockerd = await startDockerd({ registries: [host] }).catch(async (err) => {
    await killGroup(registry);
    throw err;
  });
  const dockerConfig = await makeDockerConfig();
  const env = { ...process.env, DOCKER_HOST: dockerd.host, ...dockerConfig.env };
  try {
    await waitHttp(`http://${host}/v2/`, registry, 'docker-registry');
    const root = join(work, 'buildkit-root');
    mkdirSync(join(root, 'usr', 'bin'), { recursive: true });
    await run('tar', ['-C', root, '-xf', engineTar], env);
    for (const [from, name] of [
      [bins.buildkitd, 'buildkitd'],
      [bins.buildctl, 'buildctl'],
      [bins.runc, 'runc'],
    ] as const) {
      cpSync(from, join(root, 'usr', 'bin', name));
    }
    mkdirSync(join(root, 'var', 'lib', 'buildkit'), { recursive: true });
    await run('tar', ['-C', root, '--numeric-owner', '-cf', join(work, 'buildkit.tar'), '.'], env);
    rmSync(root, { recursive: true, force: true });
    await run(
      'docker',
      [
        'import',
        '--change',
        'ENTRYPOINT ["buildkitd"]',
        '--change',
        'VOLUME /var/lib/buildkit',
        join(work, 'buildkit.tar'),
        `${host}/${BUILDKIT_IMAGE}`,
      ],
      env,
    );
    await run('docker', ['import', '--change', 'CMD ["bash"]', baseTar, `${host}/${BASE_IMAGE}`], env);
    await run('docker', ['push', '-q', `${host}/${BUILDKIT_IMAGE}`], env);
    await run('docker', ['push', '-q', `${host}/${BASE_IMAGE}`], env);
  } finally {
    await dockerd.stop();
    await dockerConfig.cleanup();
    await killGroup(registry);
    rmSync(work, { recursive: true, force: true });
  }
  writeFileSync(join(cache, 'registry.done'), '');
  return seed;
}

// Linux capability numbers (capability.h), for reading the bounding set.
const CAPS = [
  'CHOWN',
  'DAC_OVERRIDE',
  'DAC_READ_SEARCH',
  'FOWNER',
  'FSETID',
  'KILL',
  'SETGID',
  'SETUID',
  'SETPCAP',
  'LINUX_IMMUTABLE',
  'NET_BIND_SERVICE',
  'NET_BROADCAST',
  'NET_ADMIN',
  'NET_RAW',
  'IPC_LOCK',
  'IPC_OWNER',
  'SYS_MODULE',
  'SYS_RAWIO',
  'SYS_CHROOT',
  'SYS_PTRACE',
  'SYS_PACCT',
  'SYS_ADMIN',
  'SYS_BOOT',
  'SYS_NICE',
  'SYS_RESOURCE',
  'SYS_TIME',
  'SYS_TTY_CONFIG',
  'MKNOD',
  'LEASE',
  'AUDIT_WRITE',
  'AUDIT_CONTROL',
  'SETFCAP',
  'MAC_OVERRIDE',
  'MAC_ADMIN',
  'SYSLOG',
  'WAKE_ALARM',
  'BLOCK_SUSPEND',
  'AUDIT_READ',
  'PERFMON',
  'BPF',
  'CHECKPOINT_RESTORE',
];

/** Capabilities (CAP_*) this process may not grant: outside its bounding set. */
export function missingCapabilities(status: string): string[] {
  const m = /^CapBnd:\s*([0-9a-f]+)$/m.exec(status);
  if (!m) return [];
  const bounding = BigInt(`0x${m[1]}`);
  return CAPS.filter((_, i) => ((bounding >> BigInt(i)) & 1n) === 0n).map((c) => `CAP_${c}`);
}

/**
 * dockerd flags for a runc wrapper that drops the capabilities this sandbox lacks from a
 * container's spec before runc sees it. The docker-container driver runs BuildKit privileged,
 * which asks for every capability; where the machine's bounding set lacks one (CAP_SYS_RESOURCE
 * here), runc refuses with "unable to apply caps" (at create, and at the exec of buildctl
 * dial-stdio). Nothing else in the spec changes. No flags when nothing is missing.
 */
export function runcWrapperArgs(dir: string): string[] {
  const missing = missingCapabilities(readFileSync('/proc/self/status', 'utf8'));
  if (missing.length === 0) return [];
  const wrapper = join(dir, 'runc-wrapper.mjs');
  writeFileSync(
    wrapper,
    `#!${process.execPath}
import { readFileSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
const drop = new Set(${JSON.stringify(missing)});
const args = process.argv.slice(2);
const strip = (file, get) => {
  const spec = JSON.parse(readFileSync(file, 'utf8'));
  const caps = get(spec) && get(spec).capabilities;
  if (caps) for (const k of Object.keys(caps)) caps[k] = (caps[k] || []).filter((c) => !drop.has(c));
  writeFileSync(file, JSON.stringify(spec));
};
const at = (flag) => { const i = args.indexOf(flag); return i >= 0 ? args[i + 1] : undefined; };
const bundle = at('--bundle') || at('-b');
if (bundle && (args.includes('create') || args.includes('run'))) strip(bundle + '/config.json', (s) => s.process);
const proc = at('--process') || at('-p');
if (proc && args.includes('exec')) strip(proc, (s) => s);
const r = spawnSync(${JSON.stringify(engineBinaries().runc)}, args, { stdio: 'inherit' });
process.exit(r.status === null ? 1 : r.status);
`,
    { mode: 0o755 },
  );
  return ['--add-runtime', `benchrunc=${wrapper}`, '--default-runtime', 'benchrunc'];
}
