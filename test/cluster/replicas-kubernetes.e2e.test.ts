// Issue 12's HA test on the real test cluster: two `hoist server --provider kubernetes` replicas
// (child processes) on one PostgreSQL, behind a TCP balancer for the API and one for the gateways.
// A real `hoist build` runs a slow RUN step in a builder pod; the leader is SIGKILLed in the
// middle of it. The build finishes, the other replica takes over (its /healthz says leader) and
// adopts the pod, and every pod, volume and Secret with Hoist's labels in the namespace belongs to
// a builder row; once the builders are destroyed none is left. Only a leader ever calls the
// provider to launch or stop. Needs the CLI bundle (`node .ci/build.mjs cli`) and the cluster lock
// (one Kubernetes suite at a time on the machine): kept short.
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import pg from 'pg';
import type { BuildInfo, Project } from '../../src/lib/api-types.js';
import { KubernetesProvider } from '../../src/providers/kubernetes.js';
import { ANNOTATIONS, ownedSelector } from '../../src/providers/kubernetes-manifests.js';
import { nativePlatform } from '../../src/providers/provider.js';
import { makeDockerConfig, type DockerConfig } from '../helpers/engine.js';
import { waitForFinishers } from '../helpers/finisher.js';
import {
  createNamespace,
  deleteNamespace,
  releaseCluster,
  useCluster,
  type TestCluster,
} from '../helpers/kube.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';
import {
  clusterState,
  followerCalls,
  hoistBuild,
  killReplica,
  leaderLaunches,
  providerCalls,
  startReplica,
  waitFor,
  type Replica,
} from '../helpers/replicas.js';
import { startBalancer, type Balancer } from '../helpers/tcp-balancer.js';

jest.setTimeout(900_000);

let cluster: TestCluster | undefined;
let ns = '';
let pgs: TestPostgres | undefined;
let dbUrl: string;
let db: pg.Client | undefined;
let docker: DockerConfig | undefined;
let tmp = '';
let apiLb: Balancer | undefined;
let gwLb: Balancer | undefined;
const replicas: Replica[] = [];
const dead: Replica[] = [];
let project: Project;
let token: string;
const takeovers: number[] = [];

async function replica(name: string): Promise<Replica> {
  const c = cluster!;
  const r = await startReplica({
    name,
    databaseUrl: dbUrl,
    gatewayLbPort: gwLb!.port,
    flags: {
      provider: 'kubernetes',
      kubeconfig: c.kubeconfig,
      'kubernetes-namespace': ns,
      'kubernetes-image': c.builderImage,
      'kubernetes-storage-class': c.storageClass,
      'kubernetes-volume-size': '1Gi',
      'kubernetes-resources': 'requests.cpu=50m,requests.memory=64Mi,limits.memory=2Gi',
      'builder-insecure-registries': c.registry,
      'builder-idle-timeout': '10m',
    },
  });
  replicas.push(r);
  return r;
}

async function kill(r: Replica): Promise<void> {
  await killReplica(r);
  replicas.splice(replicas.indexOf(r), 1);
  dead.push(r);
}

/** Builder ids of the pods, volumes and Secrets with this installation's labels in the namespace. */
async function labelledObjects(): Promise<{ kind: string; name: string; builder: string | undefined }[]> {
  const core = cluster!.core;
  const labelSelector = ownedSelector('hoist');
  const [pods, pvcs, secrets] = await Promise.all([
    core.listNamespacedPod({ namespace: ns, labelSelector }),
    core.listNamespacedPersistentVolumeClaim({ namespace: ns, labelSelector }),
    core.listNamespacedSecret({ namespace: ns, labelSelector }),
  ]);
  return [
    ...pods.items.map((o) => ({ kind: 'pod', meta: o.metadata })),
    ...pvcs.items.map((o) => ({ kind: 'pvc', meta: o.metadata })),
    ...secrets.items.map((o) => ({ kind: 'secret', meta: o.metadata })),
  ].map(({ kind, meta }) => ({
    kind,
    name: meta!.name!,
    builder: meta!.annotations?.[ANNOTATIONS.builderId],
  }));
}

beforeAll(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'hoist-ha-k8s-'));
  cluster = await useCluster();
  ns = await createNamespace(cluster, 'hoist-ha');
  pgs = await startPostgres();
  dbUrl = await pgs.createDatabase('ha_k8s');
  docker = await makeDockerConfig();
  apiLb = await startBalancer(() => replicas.map((r) => r.apiPort));
  gwLb = await startBalancer(() => replicas.map((r) => r.gatewayPort));
  const a = await replica('k8s-a');
  await waitFor('k8s-a to lead', async () => (await clusterState(a)).leader);
  const b = await replica('k8s-b');
  await waitFor('k8s-b to follow k8s-a', async () => (await clusterState(b)).leader_id === 'k8s-a');
  project = await a.server.createProject('ha-k8s');
  token = (await a.server.createProjectToken(project.id, 'ha')).token;
  db = new pg.Client({ connectionString: dbUrl });
  await db.connect();
  const ctx = path.join(tmp, 'ctx');
  await fs.mkdir(ctx);
  await fs.writeFile(
    path.join(ctx, 'Dockerfile'),
    [
      `FROM ${cluster.baseImage}`,
      'RUN echo first > /first',
      'ARG NONCE',
      'RUN echo "$NONCE" > /nonce && sleep 15 && echo slow-step-done > /slow',
      '',
    ].join('\n'),
  );
}, 20 * 60_000);

afterAll(async () => {
  await db?.end().catch(() => undefined);
  for (const r of [...replicas, ...dead]) await r.server.stop().catch(() => undefined);
  await apiLb?.close();
  await gwLb?.close();
  await docker?.cleanup().catch(() => undefined);
  await pgs?.stop();
  if (cluster && ns) await deleteNamespace(cluster, ns).catch(() => undefined);
  await releaseCluster(cluster).catch(() => undefined);
  if (tmp) await fs.rm(tmp, { recursive: true, force: true });
}, 10 * 60_000);

describe('two replicas with the kubernetes provider on one PostgreSQL', () => {
  it('finishes a build whose leader is SIGKILLed mid-build; the other replica takes over; nothing is orphaned', async () => {
    const [a, b] = replicas as [Replica, Replica];
    expect((await clusterState(a)).leader).toBe(true);
    let killed: Promise<void> | null = null;
    const t0 = Date.now();
    const run = await hoistBuild({
      args: ['--progress=plain', '--build-arg', `NONCE=${Date.now()}`, path.join(tmp, 'ctx')],
      cwd: tmp,
      env: {
        ...docker!.env,
        HOIST_API_URL: `http://127.0.0.1:${apiLb!.port}`,
        HOIST_TOKEN: token,
        HOIST_CONFIG: path.join(tmp, 'no-config.json'),
        HOIST_TMPDIR: tmp,
      },
      onStderr: (all) => {
        // The slow step runs in the builder pod: kill the leader in the middle of it.
        if (killed || !/sleep 15/.test(all)) return;
        killed = (async () => {
          await new Promise((r) => setTimeout(r, 2000));
          const k0 = Date.now();
          await kill(a);
          await waitFor('k8s-b to take over', async () => (await clusterState(b)).leader, 30_000);
          takeovers.push(Date.now() - k0);
        })();
      },
    });
    await killed;
    expect(killed).not.toBeNull();
    if (run.code !== 0) {
      // What the CLI and the surviving replica said, for the failure report.
      process.stdout.write(`hoist build stderr (tail):\n${run.stderr.slice(-6000)}\n`);
      const lines = b.server.output().split('\n');
      process.stdout.write(
        `${b.name} log (builds, cluster):\n${lines
          .filter((l) => /"component":"(builds|cluster)"|"status":(4|5)\d\d/.test(l))
          .slice(-80)
          .join('\n')}\n`,
      );
    }
    expect({ code: run.code, tail: run.stderr.slice(-2000) }).toMatchObject({ code: 0 });
    const id = /hoist: build (bld_\w+)/.exec(run.stderr)![1]!;
    await waitForFinishers([id]);
    const build = (await b.server.api<BuildInfo>('GET', `/v1/builds/${id}`)).body;
    expect(build.status).toBe('success');
    process.stdout.write(
      `k8s build with the leader killed mid-build: ${Date.now() - t0} ms; takeover ${takeovers[0]} ms; ${
        /hoist: the connection to the builder was lost/.test(run.stderr)
          ? 'reconnected'
          : 'no reconnect needed'
      }\n`,
    );
    expect(takeovers[0]).toBeLessThan(10_000);
    const state = await clusterState(b);
    expect(state).toMatchObject({ leader: true, replica_id: 'k8s-b' });
    expect(b.server.output()).toMatch(/"previous_leader":"k8s-a"[^\n]*"msg":"took over as leader"/);

    // The new leader adopted the builder pod; every labelled object belongs to a builder row.
    await waitFor(
      'k8s-b to adopt the builder',
      async () => {
        const rows = (
          await db!.query<{ owner: string }>(`SELECT owner FROM builders WHERE state = 'running'`)
        ).rows;
        return rows.length === 1 && rows[0]!.owner === 'k8s-b';
      },
      60_000,
    );
    const rows = (
      await db!.query<{ id: string; state: string }>(
        `SELECT id, state FROM builders WHERE state <> 'destroyed'`,
      )
    ).rows;
    const objects = await labelledObjects();
    expect(objects.map((o) => o.kind).sort()).toEqual(['pod', 'pvc', 'secret']);
    for (const o of objects) expect(rows.map((r) => r.id)).toContain(o.builder);
    const pod = (
      await cluster!.core.listNamespacedPod({ namespace: ns, labelSelector: ownedSelector('hoist') })
    ).items[0]!;
    expect(pod.status?.phase).toBe('Running');
    expect((await db!.query(`SELECT id FROM builds WHERE status IN ('queued', 'running')`)).rows).toEqual([]);

    // The follower never called the provider; as the leader it did (adopting the pod).
    const calls = await providerCalls(b);
    expect(followerCalls(calls)).toEqual([]);
    expect(leaderLaunches(calls)).toBeGreaterThan(0);
  });

  it('takes over again within seconds when the new leader is killed, and adopts the same pod', async () => {
    const podUid = async () =>
      (
        await cluster!.core.listNamespacedPod({ namespace: ns, labelSelector: ownedSelector('hoist') })
      ).items.map((p) => p.metadata!.uid);
    const before = await podUid();
    expect(before).toHaveLength(1);
    for (let i = 0; i < 2; i++) {
      const next = await replica(`k8s-${i + 3}`);
      const leader = replicas.find((r) => r !== next)!;
      await waitFor(
        'the new replica to follow',
        async () => (await clusterState(next)).leader_id === leader.name,
      );
      const t0 = Date.now();
      await kill(leader);
      await waitFor('the new replica to take over', async () => (await clusterState(next)).leader, 30_000);
      takeovers.push(Date.now() - t0);
      await waitFor(
        'the pod to be adopted',
        async () => {
          const rows = (
            await db!.query<{ owner: string }>(`SELECT owner FROM builders WHERE state = 'running'`)
          ).rows;
          return rows.length === 1 && rows[0]!.owner === next.name;
        },
        60_000,
      );
      expect(followerCalls(await providerCalls(next))).toEqual([]);
    }
    // Adopted, never relaunched: the same pod all along.
    expect(await podUid()).toEqual(before);
    const sorted = [...takeovers].sort((x, y) => x - y);
    process.stdout.write(
      `k8s takeover ms after SIGKILL of the leader: ${takeovers.join(', ')} (median ${sorted[Math.floor(sorted.length / 2)]})\n`,
    );
    for (const ms of takeovers) expect(ms).toBeLessThan(10_000);
  });

  it('leaves nothing labelled in the namespace once the builders are destroyed', async () => {
    for (const r of [...replicas]) {
      await r.server.stop();
      replicas.splice(replicas.indexOf(r), 1);
    }
    const ids = (
      await db!.query<{ id: string }>(`SELECT id FROM builders WHERE state <> 'destroyed'`)
    ).rows.map((r) => r.id);
    expect(ids).toHaveLength(1);
    const c = cluster!;
    const provider = await KubernetesProvider.create({
      settings: {
        namespace: ns,
        instance: 'hoist',
        image: c.builderImage,
        imagePullPolicy: 'IfNotPresent',
        storageClass: c.storageClass,
        volumeSize: '1Gi',
        resources: { requests: {}, limits: {} },
        security: 'privileged',
        nodeSelector: {},
        cloneMode: 'copy-pod',
      },
      kubeconfig: c.kubeconfig,
      platforms: [nativePlatform()],
      logger: { info() {}, warn() {}, error() {} },
    });
    try {
      for (const id of ids) await provider.destroy(id);
    } finally {
      await provider.close({ stopBuilders: false });
    }
    expect(await labelledObjects()).toEqual([]);
  });
});
