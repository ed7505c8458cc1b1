// Two `hoist server` replicas (child processes) on one PostgreSQL and one data directory, behind a
// TCP balancer for the API and one for the builders' gateways, with real buildkitd builders,
// buildx and a registry: the creation rate limit holds across replicas; a build created and polled
// on the follower is provisioned by the leader alone (provider calls counted per replica and
// role); SIGKILL of the leader in the middle of a build loses neither the build nor its builder,
// the other replica takes over within seconds and adopts the builder; takeover times over several kills.
// Needs the bundle: `node .ci/build.mjs cli` (or npm run build).
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { readdirSync, readFileSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import pg from 'pg';
import type { BuildInfo, Project } from '../../src/lib/api-types.js';
import { makeDockerConfig, startRegistry, type DockerConfig, type Registry } from '../helpers/engine.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';
import {
  clusterState as cluster,
  followerCalls,
  hoistBuild as runHoistBuild,
  killReplica,
  leaderLaunches,
  providerCalls,
  startReplica as startReplicaProcess,
  waitFor,
  type Replica,
} from '../helpers/replicas.js';
import { startBalancer, type Balancer } from '../helpers/tcp-balancer.js';
import { waitForFinishers } from '../helpers/finisher.js';

jest.setTimeout(600_000);

let pgs: TestPostgres;
let dbUrl: string;
let db: pg.Client;
let registry: Registry;
let docker: DockerConfig;
let tmp: string;
let dataDir: string;
let apiLb: Balancer;
let gwLb: Balancer;
/** Live replicas, in the order the balancers try them. */
const replicas: Replica[] = [];
const stopped: Replica[] = [];
let project: Project;
let projectToken: string;
const takeovers: number[] = [];

async function startReplica(name: string): Promise<Replica> {
  const r = await startReplicaProcess({
    name,
    databaseUrl: dbUrl,
    dataDir,
    gatewayLbPort: gwLb.port,
    flags: {
      'builder-insecure-registries': registry.host,
      'builder-idle-timeout': '10m',
      'build-create-rate': '6',
      'build-create-burst': '3',
    },
  });
  replicas.push(r);
  return r;
}

/** SIGKILL of a replica's process; returns when it is gone. */
async function kill(r: Replica): Promise<void> {
  await killReplica(r);
  replicas.splice(replicas.indexOf(r), 1);
  stopped.push(r);
}

/** buildkitd processes running from a builder root of the shared data dir, by builder id. */
function builderProcesses(): Map<string, number> {
  const out = new Map<string, number>();
  const prefix = path.join(dataDir, 'builders') + path.sep;
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      const root = argv[argv.indexOf('--root') + 1] ?? '';
      if (path.basename(argv[0] ?? '') === 'buildkitd' && root.startsWith(prefix)) {
        out.set(path.basename(path.dirname(root)), Number(pid));
      }
    } catch {
      // gone
    }
  }
  return out;
}

function hoistBuild(
  args: string[],
  onStderr: (all: string) => void,
  apiUrl = `http://127.0.0.1:${apiLb.port}`,
): Promise<{ code: number | null; stderr: string }> {
  return runHoistBuild({
    args,
    onStderr,
    cwd: tmp,
    env: {
      ...docker.env,
      HOIST_API_URL: apiUrl,
      HOIST_TOKEN: projectToken,
      HOIST_CONFIG: path.join(tmp, 'no-config.json'),
      HOIST_TMPDIR: tmp,
    },
  });
}

beforeAll(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'hoist-replicas-'));
  dataDir = path.join(tmp, 'data');
  await fs.mkdir(dataDir, { mode: 0o700 });
  pgs = await startPostgres();
  dbUrl = await pgs.createDatabase('replicas');
  registry = await startRegistry();
  docker = await makeDockerConfig();
  apiLb = await startBalancer(() => replicas.map((r) => r.apiPort));
  gwLb = await startBalancer(() => replicas.map((r) => r.gatewayPort));
  const a = await startReplica('replica-a');
  await waitFor('replica-a to lead', async () => (await cluster(a)).leader);
  const b = await startReplica('replica-b');
  await waitFor('replica-b to follow replica-a', async () => (await cluster(b)).leader_id === 'replica-a');
  project = await a.server.createProject('ha');
  projectToken = (await a.server.createProjectToken(project.id, 'ha')).token;
  db = new pg.Client({ connectionString: dbUrl });
  await db.connect();
  const ctx = path.join(tmp, 'ctx');
  await fs.mkdir(ctx);
  await fs.writeFile(
    path.join(ctx, 'Dockerfile'),
    [
      `FROM ${registry.baseImage}`,
      'RUN echo first > /first',
      'ARG NONCE',
      'RUN echo "$NONCE" > /nonce && sleep 15 && echo slow-step-done > /slow',
      '',
    ].join('\n'),
  );
}, 180_000);

afterAll(async () => {
  await db?.end().catch(() => undefined);
  // Killed replicas count as alive for one lease (5 s) after their last report: wait it out, so
  // the last replica knows it is alone and stops the builders.
  await new Promise((r) => setTimeout(r, 5500));
  // The last replica alone stops the builders (the others are gone from the member list).
  for (const r of [...replicas].reverse()) await r.server.stop().catch(() => undefined);
  for (const r of stopped) await r.server.stop().catch(() => undefined);
  await apiLb?.close();
  await gwLb?.close();
  await docker?.cleanup().catch(() => undefined);
  await registry?.stop().catch(() => undefined);
  await pgs?.stop();
  const left = tmp ? builderProcesses() : new Map();
  for (const pid of left.values()) process.kill(pid, 'SIGKILL');
  if (tmp) await fs.rm(tmp, { recursive: true, force: true });
  expect([...left.keys()]).toEqual([]);
}, 120_000);

describe('two replicas on one PostgreSQL', () => {
  it('holds the build creation rate limit across replicas', async () => {
    const p = await replicas[0]!.server.createProject('rate');
    const token = (await replicas[0]!.server.createProjectToken(p.id, 'rate')).token;
    const answers: number[] = [];
    // Alternating replicas: each would allow a burst of 3 if it counted alone.
    for (let i = 0; i < 6; i++) {
      const r = replicas[i % 2]!;
      const res = await r.server.api<{ build_id?: string; error?: { message: string } }>(
        'POST',
        '/v1/builds',
        { platforms: [] },
        token,
      );
      answers.push(res.status);
      if (res.status === 429)
        expect(res.body.error!.message).toMatch(/creating builds faster than this server allows/);
      if (res.body.build_id) await r.server.api('POST', `/v1/builds/${res.body.build_id}/cancel`, {}, token);
    }
    expect(answers).toEqual([201, 201, 201, 429, 429, 429]);
  });

  it('provisions only on the leader while a build is created and polled on the follower', async () => {
    const [a, b] = replicas as [Replica, Replica];
    expect((await cluster(a)).leader).toBe(true);
    expect((await cluster(b)).leader).toBe(false);
    const ctx = path.join(tmp, 'ctx-follower');
    await fs.mkdir(ctx, { recursive: true });
    await fs.writeFile(path.join(ctx, 'Dockerfile'), `FROM ${registry.baseImage}\nRUN echo follower > /f\n`);
    // Every API call of this build (create, polls, heartbeats, finish) goes to the follower.
    const t0 = Date.now();
    const run = await hoistBuild(['--progress=plain', ctx], () => undefined, b.server.url);
    expect({ code: run.code, tail: run.stderr.slice(-1500) }).toMatchObject({ code: 0 });
    const id = /hoist: build (bld_\w+)/.exec(run.stderr)![1]!;
    await waitForFinishers([id]);
    const build = (await a.server.api<BuildInfo>('GET', `/v1/builds/${id}`)).body;
    expect(build.status).toBe('success');
    // The leader launched the builder (its provisioner read the follower's demand from the
    // database) and wrote the placement the follower answered from.
    const [callsA, callsB] = await Promise.all([providerCalls(a), providerCalls(b)]);
    process.stdout.write(
      `build on the follower: ${Date.now() - t0} ms; provider calls leader ${JSON.stringify([...callsA])}, follower ${JSON.stringify([...callsB])}\n`,
    );
    expect(
      [...callsA].filter(([k]) => k.startsWith('launch')).reduce((n, [, v]) => n + v, 0),
    ).toBeGreaterThan(0);
    expect([...callsB]).toEqual([]);
    expect(followerCalls(callsA)).toEqual([]);
    const placement = (
      await db.query<{ placement: string }>('SELECT placement FROM build_builders WHERE build_id = $1', [id])
    ).rows[0]!.placement;
    expect(JSON.parse(placement)).toMatchObject({ state: 'assigned', role: 'primary' });
    const bLog = b.server.output();
    expect(bLog).not.toMatch(/"msg":"builder (started|adopted)"/);
    expect(bLog).not.toMatch(/provider call on a replica that is not the leader/);
    expect(a.server.output()).toMatch(/"msg":"builder started"/);
  });

  it('finishes a build whose leader is SIGKILLed mid-build; the other replica takes over and adopts the builder', async () => {
    const [a, b] = replicas as [Replica, Replica];
    expect((await cluster(a)).leader).toBe(true);
    let killed: Promise<void> | null = null;
    let takeoverMs = -1;
    const tag = `${registry.host}/replicas/app:1`;
    const run = await hoistBuild(
      ['--push', '-t', tag, '--progress=plain', '--build-arg', `NONCE=${Date.now()}`, '.'].map((x) =>
        x === '.' ? path.join(tmp, 'ctx') : x,
      ),
      (all) => {
        // The slow step runs (its builder reached through replica-a's gateway): kill the leader.
        if (killed || !/sleep 15/.test(all)) return;
        killed = (async () => {
          await new Promise((r) => setTimeout(r, 2000));
          const t0 = Date.now();
          await kill(a);
          await waitFor('replica-b to take over', async () => (await cluster(b)).leader, 30_000);
          takeoverMs = Date.now() - t0;
        })();
      },
    );
    await killed;
    // buildx's connection ran through replica-a's gateway: it broke, and hoist build got the
    // builder again through replica-b and ran buildx again, the finished steps cached.
    const reconnect = /hoist: the connection to the builder was lost \(([^)]*)\)/.exec(run.stderr);
    expect(reconnect).not.toBeNull();
    process.stdout.write(
      `hoist build after the SIGKILL: lost connection "${reconnect![1]}", rerun succeeded\n`,
    );
    expect(run.stderr).toMatch(/CACHED/);
    expect({ code: run.code, tail: run.stderr.slice(-1500) }).toMatchObject({ code: 0 });
    takeovers.push(takeoverMs);
    expect(takeoverMs).toBeGreaterThan(0);
    expect(takeoverMs).toBeLessThan(10_000);

    const id = /hoist: build (bld_\w+)/.exec(run.stderr)![1]!;
    // The finish report comes from the background finisher, through the balancer (replica-b).
    await waitForFinishers([id]);
    const build = (await b.server.api<BuildInfo>('GET', `/v1/builds/${id}`)).body;
    expect(build.status).toBe('success');
    // Pushed: the registry has the tag.
    const m = await fetch(`${registry.url}/v2/replicas/app/manifests/1`, {
      method: 'HEAD',
      headers: {
        accept: 'application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json',
      },
    });
    expect(m.status).toBe(200);

    // Nothing orphaned: every builder process has a running row owned by the live replica, and
    // no build is left queued or running.
    await waitFor('replica-b to adopt the builder', async () => {
      const rows = (await db.query<{ owner: string }>(`SELECT owner FROM builders WHERE state = 'running'`))
        .rows;
      return rows.length > 0 && rows.every((r) => r.owner === 'replica-b');
    });
    const procs = builderProcesses();
    expect(procs.size).toBe(1);
    const rows = (
      await db.query<{ id: string; state: string; owner: string }>('SELECT id, state, owner FROM builders')
    ).rows;
    expect(rows.map((r) => [r.id, r.state, r.owner])).toEqual([
      [[...procs.keys()][0], 'running', 'replica-b'],
    ]);
    const active = (await db.query(`SELECT id FROM builds WHERE status IN ('queued', 'running')`)).rows;
    expect(active).toEqual([]);
    // The follower never marked the leader's builder stopped; it logged the takeover.
    const bLog = b.server.output();
    expect(bLog).not.toMatch(/marked stopped/);
    expect(bLog).toMatch(/"msg":"took over as leader"/);
    expect(bLog).toMatch(/"previous_leader":"replica-a"/);
    // As the follower it called the provider never; as the leader it adopted the builder.
    const callsB = await providerCalls(b);
    expect(followerCalls(callsB)).toEqual([]);
    expect(leaderLaunches(callsB)).toBeGreaterThan(0);
  });

  it('takes over within seconds each time the leader is killed', async () => {
    for (let i = 0; i < 3; i++) {
      const next = await startReplica(`replica-${i + 3}`);
      const leader = replicas.find((r) => r !== next)!;
      await waitFor('the new replica to follow', async () => (await cluster(next)).leader_id === leader.name);
      const t0 = Date.now();
      await kill(leader);
      await waitFor('the new replica to take over', async () => (await cluster(next)).leader, 30_000);
      takeovers.push(Date.now() - t0);
      // It adopted the builder that kept running.
      await waitFor('the builder to be adopted', async () => {
        const rows = (await db.query<{ owner: string }>(`SELECT owner FROM builders WHERE state = 'running'`))
          .rows;
        return rows.length === 1 && rows[0]!.owner === next.name;
      });
    }
    process.stdout.write(`takeover ms after SIGKILL of the leader: ${takeovers.join(', ')}\n`);
    for (const ms of takeovers) expect(ms).toBeLessThan(10_000);
    expect(builderProcesses().size).toBe(1);
  });
});
