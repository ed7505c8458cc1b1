// `hoist build --push` through the kubernetes provider, end to end: the release CLI (bin/hoist,
// real docker buildx with its remote driver) against a real `hoist server --provider kubernetes`
// whose builders are buildkitd pods on the test cluster (test/engine/k8s.sh), and a real registry
// on the cluster's bridge that the pods push to.
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { HoistClient } from '../../src/lib/client.js';
import type { BuilderActive } from '../../src/lib/api-types.js';
import { names } from '../../src/providers/kubernetes-manifests.js';
import { nativePlatform } from '../../src/providers/provider.js';
import {
  engineBinaries,
  makeDockerConfig,
  startRegistry,
  type DockerConfig,
  type Registry,
} from '../helpers/engine.js';
import {
  createNamespace,
  deleteNamespace,
  eventually,
  releaseCluster,
  useCluster,
  type TestCluster,
} from '../helpers/kube.js';
import { REPO_ROOT, startTestServer, type TestServer } from '../helpers/server.js';
import { buildctlWorkers } from '../providers/buildctl.js';
import { parseRawjson } from './buildx.js';

const run = promisify(execFile);
jest.setTimeout(900_000);

let tmp: string;
let hoistBin: string;
let cluster: TestCluster;
let ns: string;
let registry: Registry;
let docker: DockerConfig;
let server: TestServer;
let projectA: { id: string; token: string };
let projectB: { id: string; token: string };

interface HoistRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

function hoist(args: string[], token: string, cwd: string): Promise<HoistRun> {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    ...docker.env,
    HOIST_API_URL: server.url,
    HOIST_TOKEN: token,
    HOIST_CONFIG: path.join(tmp, 'no-config.json'),
    HOIST_TMPDIR: tmp,
    HOIST_HEARTBEAT_MS: '1000',
  };
  delete env.HOIST_PROJECT_ID;
  return new Promise((resolve) => {
    const child = spawn(hoistBin, args, { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

async function manifestDigest(repo: string, tag: string): Promise<string | null> {
  const r = await fetch(`${registry.url}/v2/${repo}/manifests/${tag}`, {
    method: 'HEAD',
    headers: {
      accept: [
        'application/vnd.oci.image.index.v1+json',
        'application/vnd.oci.image.manifest.v1+json',
        'application/vnd.docker.distribution.manifest.v2+json',
        'application/vnd.docker.distribution.manifest.list.v2+json',
      ].join(', '),
    },
  });
  return r.ok ? r.headers.get('docker-content-digest') : null;
}

async function writeContext(dir: string, app: string, last = 'RUN cat /app.txt > /out'): Promise<void> {
  await fs.mkdir(dir, { recursive: true });
  await fs.writeFile(
    path.join(dir, 'Dockerfile'),
    [
      `FROM ${registry.baseImage}`,
      'RUN echo "expensive step" > /step1 && date +%s%N >> /step1',
      'RUN echo "second step" > /step2 && date +%s%N >> /step2',
      'COPY app.txt /app.txt',
      last,
      '',
    ].join('\n'),
  );
  await fs.writeFile(path.join(dir, 'app.txt'), app);
}

/** Cached flags of the steps before COPY, from rawjson progress. */
function earlierSteps(stdoutAndErr: string) {
  const v = parseRawjson(stdoutAndErr).filter((x) => /RUN echo|FROM /.test(x.name));
  return v;
}

async function builderPodOf(projectId: string) {
  const pods = await cluster.core.listNamespacedPod({
    namespace: ns,
    labelSelector: `hoist/project=${projectId},hoist/component=builder`,
  });
  return pods.items;
}

async function pvcUid(builderId: string): Promise<string | undefined> {
  const v = await cluster.core.readNamespacedPersistentVolumeClaim({
    name: names(builderId).pvc,
    namespace: ns,
  });
  return v.metadata?.uid;
}

async function acquire(c: HoistClient, buildId: string): Promise<BuilderActive> {
  for (let i = 0; i < 600; i++) {
    const a = await c.builder(buildId, nativePlatform());
    if (a.status === 'active') return a;
    await new Promise((r) => setTimeout(r, Math.min(a.retry_after_ms, 1000)));
  }
  throw new Error('builder never became active');
}

beforeAll(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'hoist-k8s-e2e-'));
  const version = (
    JSON.parse(await fs.readFile(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }
  ).version;
  const tarball = path.join(
    REPO_ROOT,
    'dist/releases',
    `hoist-${version}-${process.platform}-${process.arch}.tar.gz`,
  );
  if (!existsSync(tarball)) throw new Error(`${tarball} is missing: run "npm run build" first`);
  await fs.mkdir(path.join(tmp, 'install'));
  await run('tar', ['xzf', tarball, '-C', path.join(tmp, 'install')]);
  hoistBin = path.join(tmp, 'install', 'bin', 'hoist');

  cluster = await useCluster();
  ns = await createNamespace(cluster, 'hoist-k8s-e2e');
  // On the cluster's bridge: the builder pods push here, the test reads it from the host.
  registry = await startRegistry({ ip: cluster.nodeIp });
  docker = await makeDockerConfig();
  server = await startTestServer({
    flags: {
      provider: 'kubernetes',
      kubeconfig: cluster.kubeconfig,
      'kubernetes-namespace': ns,
      'kubernetes-image': cluster.builderImage,
      'kubernetes-storage-class': cluster.storageClass,
      'kubernetes-volume-size': '2Gi',
      'kubernetes-resources': 'requests.cpu=50m,requests.memory=64Mi,limits.memory=4Gi',
      'builder-insecure-registries': registry.host,
      // Autoscaling: a clone with no build for 5 s is destroyed (pod, volume, keys).
      'clone-idle-timeout': '5s',
    },
  });
  for (const name of ['k8s-a', 'k8s-b']) {
    const p = await server.createProject(name);
    const { token } = await server.createProjectToken(p.id, 'e2e');
    if (name === 'k8s-a') projectA = { id: p.id, token };
    else projectB = { id: p.id, token };
  }
});

afterAll(async () => {
  await server?.stop().catch(() => undefined);
  if (cluster && ns) await deleteNamespace(cluster, ns).catch(() => undefined);
  await docker?.cleanup().catch(() => undefined);
  await registry?.stop().catch(() => undefined);
  await releaseCluster(cluster).catch(() => undefined);
  if (tmp) await fs.rm(tmp, { recursive: true, force: true });
});

describe('hoist build on the kubernetes provider', () => {
  const ctx = () => path.join(tmp, 'ctx');
  let builderId: string;

  it('builds and pushes from a builder pod; the registry holds the digest buildx reported', async () => {
    await writeContext(ctx(), 'one\n');
    const meta = path.join(tmp, 'meta1.json');
    const tag = `${registry.host}/k8s/app:1`;
    const t0 = Date.now();
    const r = await hoist(
      ['build', '--push', '-t', tag, '--metadata-file', meta, '--progress=plain', '.'],
      projectA.token,
      ctx(),
    );
    expect(r.stderr).toContain('building with "hoist-');
    expect(r.code).toBe(0);
    console.log(`first build (cold builder pod): ${Date.now() - t0} ms`);
    const metadata = JSON.parse(await fs.readFile(meta, 'utf8')) as Record<string, string>;
    expect(metadata['containerimage.digest']).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(await manifestDigest('k8s/app', '1')).toBe(metadata['containerimage.digest']);
    const pods = await builderPodOf(projectA.id);
    expect(pods).toHaveLength(1);
    builderId = pods[0]!.metadata!.annotations!['hoist/builder-id']!;
  });

  it('a second build with one changed file reuses every earlier step', async () => {
    await fs.writeFile(path.join(ctx(), 'app.txt'), 'two\n');
    const meta = path.join(tmp, 'meta2.json');
    const r = await hoist(
      [
        'build',
        '--push',
        '-t',
        `${registry.host}/k8s/app:2`,
        '--metadata-file',
        meta,
        '--progress=rawjson',
        '.',
      ],
      projectA.token,
      ctx(),
    );
    expect(r.code).toBe(0);
    const steps = parseRawjson(r.stderr + r.stdout);
    const earlier = earlierSteps(r.stderr + r.stdout).filter((x) => /RUN echo/.test(x.name));
    expect(earlier).toHaveLength(2);
    expect(earlier.every((x) => x.cached)).toBe(true);
    expect(steps.find((x) => /RUN cat/.test(x.name))?.cached).toBe(false);
    const metadata = JSON.parse(await fs.readFile(meta, 'utf8')) as Record<string, string>;
    expect(await manifestDigest('k8s/app', '2')).toBe(metadata['containerimage.digest']);
  });

  it('a deleted builder pod (as a lost node) is replaced on the same volume, and the cache still hits', async () => {
    const before = (await builderPodOf(projectA.id))[0]!;
    const volume = await pvcUid(builderId);
    await cluster.core.deleteNamespacedPod({
      name: before.metadata!.name!,
      namespace: ns,
      gracePeriodSeconds: 0,
    });
    // The server trusts a health check for 2 s; a build in flight on a lost node fails anyway.
    await eventually('the old pod gone', async () => {
      const pods = await builderPodOf(projectA.id);
      return !pods.some((p) => p.metadata!.uid === before.metadata!.uid);
    });
    await new Promise((r) => setTimeout(r, 2500));
    await fs.writeFile(path.join(ctx(), 'app.txt'), 'three\n');
    const r = await hoist(['build', '--progress=rawjson', '.'], projectA.token, ctx());
    expect(r.code).toBe(0);
    const after = (await builderPodOf(projectA.id))[0]!;
    expect(after.metadata!.uid).not.toBe(before.metadata!.uid);
    expect(await pvcUid(builderId)).toBe(volume);
    const earlier = earlierSteps(r.stderr + r.stdout).filter((x) => /RUN echo/.test(x.name));
    expect(earlier).toHaveLength(2);
    expect(earlier.every((x) => x.cached)).toBe(true);
  });

  it("gives another project its own pod and volume; A's build certificate does not open B's builder", async () => {
    const a = new HoistClient({ apiUrl: server.url, token: projectA.token });
    const b = new HoistClient({ apiUrl: server.url, token: projectB.token });
    const ba = await a.createBuild({ platforms: [nativePlatform()] });
    const bb = await b.createBuild({ platforms: [nativePlatform()] });
    const ca = new HoistClient({ apiUrl: server.url, token: ba.build_token });
    const cb = new HoistClient({ apiUrl: server.url, token: bb.build_token });
    try {
      const activeA = await acquire(ca, ba.build_id);
      const activeB = await acquire(cb, bb.build_id);
      expect(activeB.builder_id).not.toBe(activeA.builder_id);
      const podsB = await builderPodOf(projectB.id);
      expect(podsB).toHaveLength(1);
      expect(podsB[0]!.spec!.volumes![0]!.persistentVolumeClaim!.claimName).toBe(
        names(activeB.builder_id).pvc,
      );
      expect(await pvcUid(activeB.builder_id)).not.toBe(await pvcUid(activeA.builder_id));
      const target = { endpoint: activeB.endpoint, serverName: activeB.server_name, caPem: activeB.ca_pem };
      const buildctl = engineBinaries().buildctl;
      const refused = await buildctlWorkers(buildctl, tmp, target, {
        certPem: activeA.cert_pem,
        keyPem: activeA.key_pem,
      });
      expect(refused.ok).toBe(false);
      const own = await buildctlWorkers(buildctl, tmp, target, {
        certPem: activeB.cert_pem,
        keyPem: activeB.key_pem,
      });
      expect(own.ok).toBe(true);
    } finally {
      await ca.finishBuild(ba.build_id, { status: 'canceled' }).catch(() => undefined);
      await cb.finishBuild(bb.build_id, { status: 'canceled' }).catch(() => undefined);
    }
  });
  it('autoscaling: builds past the per-builder limit get clone pods whose cache hits; clone volumes go after idle', async () => {
    const p = await server.createProject('k8s-scale');
    const { token } = await server.createProjectToken(p.id, 'e2e');
    const patched = await server.api('PATCH', `/v1/projects/${p.id}`, {
      autoscaling: true,
      max_concurrent_builds: 1,
      max_builders_per_platform: 3,
    });
    expect(patched.status).toBe(200);
    const dir = path.join(tmp, 'scale');
    // The last step runs long enough for the second build to need a builder of its own.
    await writeContext(dir, 'scale one\n', 'RUN sleep 45 && cat /app.txt > /out');
    // The primary's cache, then (quiesced) its snapshot.
    const first = await hoist(['build', '--progress=plain', '.'], token, dir);
    expect(first.code).toBe(0);
    const snapshots = async () =>
      (
        await cluster.core.listNamespacedPersistentVolumeClaim({
          namespace: ns,
          labelSelector: `hoist/component=snapshot,hoist/project=${p.id}`,
        })
      ).items;
    await eventually(
      'a snapshot of the quiesced primary',
      async () => (await snapshots()).length === 1,
      180_000,
    );

    await fs.writeFile(path.join(dir, 'app.txt'), 'scale two\n');
    const clonePods = new Set<string>();
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        const pods = await cluster.core.listNamespacedPod({
          namespace: ns,
          labelSelector: `hoist/role=clone,hoist/project=${p.id}`,
        });
        for (const x of pods.items) clonePods.add(x.metadata!.annotations!['hoist/builder-id']!);
        await new Promise((r) => setTimeout(r, 500));
      }
    })();
    const runs = await Promise.all([0, 1].map(() => hoist(['build', '--progress=rawjson', '.'], token, dir)));
    watching = false;
    await watcher;
    for (const r of runs) expect(r.code).toBe(0);
    // Each build's builder: one of them is a clone pod, and both reused the earlier steps.
    const used: string[] = [];
    for (const r of runs) {
      const id = /hoist: build (bld_\w+)/.exec(r.stderr)?.[1];
      expect(id).toBeDefined();
      const b = await server.api<{ builders: { builder_id: string | null }[] }>('GET', `/v1/builds/${id}`);
      used.push(b.body.builders[0]!.builder_id!);
      const earlier = earlierSteps(r.stderr + r.stdout).filter((x) => /RUN echo/.test(x.name));
      expect(earlier).toHaveLength(2);
      expect(earlier.every((x) => x.cached)).toBe(true);
    }
    expect(new Set(used).size).toBe(2);
    expect(used.filter((id) => clonePods.has(id))).toHaveLength(1);
    // Idle clones are destroyed: pod, and with it (ownerReference) its volume.
    await eventually(
      'the idle clone pod and volume gone',
      async () => {
        const [pods, pvcs] = await Promise.all([
          cluster.core.listNamespacedPod({
            namespace: ns,
            labelSelector: `hoist/role=clone,hoist/project=${p.id}`,
          }),
          cluster.core.listNamespacedPersistentVolumeClaim({
            namespace: ns,
            labelSelector: `hoist/role=clone,hoist/project=${p.id}`,
          }),
        ]);
        return pods.items.length === 0 && pvcs.items.length === 0;
      },
      120_000,
    );
  });
});
