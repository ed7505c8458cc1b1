// Several `hoist server` replicas as child processes on one PostgreSQL, for the HA suites
// (test/cluster/replicas*.e2e.test.ts): start one with its own API and gateway ports, read its
// /healthz cluster state and its provider-call counters, SIGKILL it, and run the real
// `hoist build` (the CLI bundle) against any API URL.
import { spawn } from 'node:child_process';
import { CLI_BUNDLE, freePort, startTestServer, type TestServer } from './server.js';

export interface ClusterState {
  mode: string;
  replica_id: string;
  leader: boolean;
  leader_id: string | null;
}

export interface Replica {
  name: string;
  apiPort: number;
  gatewayPort: number;
  server: TestServer;
}

/** One replica process (HOIST_REPLICA_ID = name); `gatewayLbPort` is advertised to clients. */
export async function startReplica(o: {
  name: string;
  databaseUrl: string;
  dataDir?: string;
  gatewayLbPort: number;
  flags?: Record<string, string>;
}): Promise<Replica> {
  const apiPort = await freePort();
  const gatewayPort = await freePort();
  const server = await startTestServer({
    mode: 'process',
    databaseUrl: o.databaseUrl,
    ...(o.dataDir ? { dataDir: o.dataDir } : {}),
    port: apiPort,
    logLevel: 'info',
    env: { HOIST_REPLICA_ID: o.name },
    flags: {
      'builder-gateway-port': String(gatewayPort),
      'builder-advertise-port': String(o.gatewayLbPort),
      ...o.flags,
    },
  });
  return { name: o.name, apiPort, gatewayPort, server };
}

export async function clusterState(r: Replica): Promise<ClusterState> {
  const res = await fetch(`${r.server.url}/healthz`, { signal: AbortSignal.timeout(2000) });
  return ((await res.json()) as { cluster: ClusterState }).cluster;
}

export async function waitFor(
  what: string,
  check: () => Promise<boolean> | boolean,
  ms = 30_000,
): Promise<number> {
  const t0 = Date.now();
  for (;;) {
    if (
      await Promise.resolve()
        .then(check)
        .catch(() => false)
    )
      return Date.now() - t0;
    if (Date.now() - t0 > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** SIGKILL of a replica's process; resolves once it is gone. */
export async function killReplica(r: Replica): Promise<void> {
  const child = r.server.child!;
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise<void>((res) => child.once('exit', () => res()));
  child.kill('SIGKILL');
  await gone;
}

/** hoist_provider_calls_total of a replica, as "op/role" → count. */
export async function providerCalls(r: Replica): Promise<Map<string, number>> {
  const res = await fetch(`${r.server.url}/metrics`, { signal: AbortSignal.timeout(5000) });
  const out = new Map<string, number>();
  for (const m of (await res.text()).matchAll(
    /^hoist_provider_calls_total\{op="(\w+)",role="(\w+)"\} (\d+)/gm,
  )) {
    out.set(`${m[1]}/${m[2]}`, Number(m[3]));
  }
  return out;
}

/** Calls a replica made while it was not the leader (must stay empty). */
export const followerCalls = (calls: Map<string, number>): [string, number][] =>
  [...calls].filter(([k, n]) => k.endsWith('/follower') && n > 0);

/** Launch calls (launch or launchBatch) a replica made as the leader. */
export const leaderLaunches = (calls: Map<string, number>): number =>
  [...calls].filter(([k]) => /^launch\w*\/leader$/.test(k)).reduce((n, [, v]) => n + v, 0);

/** `hoist build ARGS` from the CLI bundle; onStderr sees all stderr so far at each chunk. */
export function hoistBuild(o: {
  args: string[];
  env: NodeJS.ProcessEnv;
  cwd: string;
  onStderr?: (all: string) => void;
}): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI_BUNDLE, 'build', ...o.args], {
      env: { ...process.env, HOIST_HEARTBEAT_MS: '1000', ...o.env },
      cwd: o.cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stdout.resume();
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
      o.onStderr?.(stderr);
    });
    child.on('close', (code) => resolve({ code, stderr }));
  });
}
