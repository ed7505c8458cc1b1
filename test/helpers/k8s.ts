// The shared single-node Kubernetes test cluster (test/engine/k8s.sh) for the suites that need one.
//
//   const cluster = await acquireCluster();   // in beforeAll (allow ~3 min: a lock wait plus a cold up)
//   ... cluster.kubectl(['get', 'pods', '-A']), cluster.env.HOIST_K8S_BUILDER_IMAGE ...
//   await cluster.release();                  // in afterAll, even when beforeAll failed half-way
//
// One suite at a time: `acquireCluster` takes an exclusive flock on $CACHE/k8s-<version>/suite.lock
// (held by a child `flock` process, so a crashed jest worker releases it) before it looks at the
// cluster. A cluster that was already up (someone ran `k8s.sh up` by hand, or another suite left
// it for reuse) is reused and left up; a cluster this suite started is torn down by `release`.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { engineCacheDir } from './engine.js';

const execFileAsync = promisify(execFile);

export const K8S_VERSION = 'v1.37.2';
export const K8S_SCRIPT = join(dirname(fileURLToPath(import.meta.url)), '..', 'engine', 'k8s.sh');
export const K8S_ENV_FILE = '/run/hoist-k8s/env';
export const K8S_KUBECONFIG = '/run/hoist-k8s/kubeconfig';

/** What `k8s.sh up` writes to /run/hoist-k8s/env. */
export interface ClusterEnv {
  KUBECONFIG: string;
  HOIST_K8S_KUBECTL: string;
  HOIST_K8S_REGISTRY: string;
  HOIST_K8S_BUILDER_IMAGE: string;
  HOIST_K8S_BASE_IMAGE: string;
  HOIST_K8S_NODE_IP: string;
  HOIST_K8S_NODE_NAME: string;
  HOIST_K8S_POD_CIDR: string;
  HOIST_K8S_SERVICE_CIDR: string;
  HOIST_K8S_STORAGE_CLASS: string;
  HOIST_K8S_CA: string;
}

/** Parses the `export NAME=value` lines of the env file (values never contain spaces). */
export function parseClusterEnv(text: string): ClusterEnv {
  const env: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^export ([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (m) env[m[1]] = m[2];
  }
  for (const key of ['KUBECONFIG', 'HOIST_K8S_KUBECTL', 'HOIST_K8S_REGISTRY', 'HOIST_K8S_BUILDER_IMAGE']) {
    if (!env[key])
      throw new Error(`${K8S_ENV_FILE} lacks ${key}; bring the cluster up again (bash ${K8S_SCRIPT} up)`);
  }
  return env as unknown as ClusterEnv;
}

export interface Cluster {
  env: ClusterEnv;
  /** True when this suite brought the cluster up (and `release` will tear it down). */
  startedHere: boolean;
  /** Runs kubectl against the cluster; rejects with its stderr on a non-zero exit. */
  kubectl(args: string[], opts?: { input?: string; timeoutMs?: number }): Promise<string>;
  /** Tears the cluster down when this suite started it, then releases the suite lock. */
  release(): Promise<void>;
}

export async function runK8sScript(cmd: 'up' | 'down' | 'status', timeoutMs = 15 * 60_000): Promise<string> {
  const { stdout } = await execFileAsync('bash', [K8S_SCRIPT, cmd], {
    timeout: timeoutMs,
    maxBuffer: 16 << 20,
  });
  return stdout;
}

async function isUp(): Promise<boolean> {
  try {
    await runK8sScript('status', 30_000);
    return true;
  } catch {
    return false;
  }
}

/** Holds an exclusive flock on `path` until `release()`; waits up to `timeoutSec`. */
export async function lockFile(path: string, timeoutSec: number): Promise<{ release(): Promise<void> }> {
  const child: ChildProcess = spawn(
    'flock',
    ['--exclusive', '--timeout', String(timeoutSec), path, 'sh', '-c', 'echo locked; exec cat >/dev/null'],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  await new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('locked')) resolve();
    });
    child.on('error', reject);
    child.on('exit', (code) =>
      reject(
        new Error(
          `another suite has held the Kubernetes test cluster (${path}) for ${timeoutSec}s (flock exit ${code}); ` +
            'wait for it, or find the holder with: fuser -v ' +
            path,
        ),
      ),
    );
  });
  return {
    release: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.stdin!.end();
      await exited;
    },
  };
}

/** The lock every suite using the cluster holds from before it looks at it until after `down`. */
export async function lockSuite(timeoutSec = 1200): Promise<{ release(): Promise<void> }> {
  return lockFile(join(engineCacheDir(), `k8s-${K8S_VERSION}`, 'suite.lock'), timeoutSec);
}

/**
 * Takes the suite lock, then reuses the cluster that is up or brings one up. Call `release()`
 * in afterAll whatever happened.
 */
export async function acquireCluster(opts: { lockTimeoutSec?: number } = {}): Promise<Cluster> {
  const lock = await lockFile(
    join(engineCacheDir(), `k8s-${K8S_VERSION}`, 'suite.lock'),
    opts.lockTimeoutSec ?? 1200,
  );
  let startedHere = false;
  try {
    if (!(await isUp())) {
      startedHere = true;
      await runK8sScript('up');
    }
    const env = parseClusterEnv(readFileSync(K8S_ENV_FILE, 'utf8'));
    const kubectl = async (
      args: string[],
      o: { input?: string; timeoutMs?: number } = {},
    ): Promise<string> => {
      const child = spawn(env.HOIST_K8S_KUBECTL, ['--kubeconfig', env.KUBECONFIG, ...args], {
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      let out = '';
      let err = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      child.stdin.end(o.input ?? '');
      const timer = setTimeout(() => child.kill('SIGKILL'), o.timeoutMs ?? 120_000);
      const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
      clearTimeout(timer);
      if (code !== 0) throw new Error(`kubectl ${args.join(' ')} exited ${code}: ${err.trim()}`);
      return out;
    };
    return {
      env,
      startedHere,
      kubectl,
      release: async () => {
        try {
          if (startedHere) await runK8sScript('down');
        } finally {
          await lock.release();
        }
      },
    };
  } catch (err) {
    try {
      if (startedHere) await runK8sScript('down').catch(() => undefined);
    } finally {
      await lock.release();
    }
    throw err;
  }
}
