// The test cluster as the kubernetes provider's suites use it: test/engine/k8s.sh brings it up
// (or finds it up) and writes /run/hoist-k8s/env; each suite works in a namespace of its own,
// deleted in afterAll with everything in it. A cluster the suite started is torn down by it.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import { lockSuite } from './k8s.js';
import { REPO_ROOT } from './server.js';

const run = promisify(execFile);
const ENV_FILE = '/run/hoist-k8s/env';
const SCRIPT = join(REPO_ROOT, 'test/engine/k8s.sh');

export interface TestCluster {
  kubeconfig: string;
  kubectl: string;
  /** host:port of the cluster's plain-HTTP registry on its bridge (pods and the host reach it). */
  registry: string;
  builderImage: string;
  baseImage: string;
  nodeIp: string;
  storageClass: string;
  core: k8s.CoreV1Api;
  /** Did this suite start the cluster (then it stops it)? */
  startedHere: boolean;
  /** Releases the suite lock (helpers/k8s.ts) this suite holds while it uses the cluster. */
  unlock(): Promise<void>;
}

function readEnv(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of readFileSync(ENV_FILE, 'utf8').split('\n')) {
    const m = /^export ([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (m) out[m[1]!] = m[2]!.replace(/^"(.*)"$/, '$1');
  }
  return out;
}

async function isUp(): Promise<boolean> {
  try {
    await run('bash', [SCRIPT, 'status'], { timeout: 30_000 });
    return existsSync(ENV_FILE);
  } catch {
    return false;
  }
}

/** The cluster, brought up when it is not (cached binaries: about 30 s; cold: see k8s.sh). */
export async function useCluster(): Promise<TestCluster> {
  // One suite at a time on the cluster (across jest workers and worktrees): a suite that started
  // it tears it down, which must not happen under another suite's feet.
  const lock = await lockSuite();
  let startedHere = false;
  try {
    if (!(await isUp())) {
      startedHere = true;
      await run('bash', [SCRIPT, 'up'], { timeout: 90 * 60_000, maxBuffer: 64 * 1024 * 1024 });
    }
    const e = readEnv();
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(e.KUBECONFIG!);
    return {
      kubeconfig: e.KUBECONFIG!,
      kubectl: e.HOIST_K8S_KUBECTL!,
      registry: e.HOIST_K8S_REGISTRY!,
      builderImage: e.HOIST_K8S_BUILDER_IMAGE!,
      baseImage: e.HOIST_K8S_BASE_IMAGE!,
      nodeIp: e.HOIST_K8S_NODE_IP!,
      storageClass: e.HOIST_K8S_STORAGE_CLASS!,
      core: kc.makeApiClient(k8s.CoreV1Api),
      startedHere,
      unlock: () => lock.release(),
    };
  } catch (err) {
    if (startedHere) await run('bash', [SCRIPT, 'down'], { timeout: 10 * 60_000 }).catch(() => undefined);
    await lock.release();
    throw err;
  }
}

/** Tears the cluster down when this suite brought it up, then releases the suite lock. */
export async function releaseCluster(c: TestCluster | undefined): Promise<void> {
  if (!c) return;
  try {
    if (c.startedHere)
      await run('bash', [SCRIPT, 'down'], { timeout: 10 * 60_000, maxBuffer: 64 * 1024 * 1024 });
  } finally {
    await c.unlock();
  }
}

export async function createNamespace(c: TestCluster, prefix: string): Promise<string> {
  const name = `${prefix}-${randomBytes(3).toString('hex')}`;
  await c.core.createNamespace({ body: { metadata: { name, labels: { 'hoist-test': 'true' } } } });
  return name;
}

/** Deletes the namespace and waits until it and everything in it are gone. */
export async function deleteNamespace(c: TestCluster, name: string, timeoutMs = 180_000): Promise<void> {
  try {
    await c.core.deleteNamespace({ name });
  } catch (err) {
    if ((err as { code?: number }).code === 404) return;
    throw err;
  }
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      await c.core.readNamespace({ name });
    } catch (err) {
      if ((err as { code?: number }).code === 404) return;
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
  throw new Error(`namespace ${name} was not gone ${timeoutMs / 1000} s after its deletion`);
}

/** Polls until `fn` is truthy; fails with `what` after the timeout. */
export async function eventually<T>(what: string, fn: () => Promise<T>, timeoutMs = 90_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `${what} did not happen within ${timeoutMs / 1000} s${last ? ` (${String(last)})` : ''}`,
      );
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}

export function isNotFound(err: unknown): boolean {
  return (err as { code?: number }).code === 404;
}
