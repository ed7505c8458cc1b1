// RUN-step network isolation inside kubernetes builder pods, end to end: the release CLI against a
// real `hoist server --provider kubernetes` on the test cluster (test/engine/k8s.sh), whose builder
// pods run real buildkitd. A RUN step probes, with bash's /dev/tcp, the Hoist server's address as
// the pod sees it, another project's builder pod on 1234, the kube API's Service, its own pod's
// buildkitd, and an address the operator allowed (a Service in front of a listener on the node).
// Under `isolated` (the default) only the allowed one answers, while buildkitd itself still pulls
// from and pushes to a registry on the node; under `pod` the same probe reaches them all, which
// proves the probe can succeed.
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import type { V1Pod } from '@kubernetes/client-node';
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
import { REPO_ROOT, freePort, startTestServer, type TestServer } from '../helpers/server.js';

const run = promisify(execFile);
jest.setTimeout(900_000);

let tmp: string;
let hoistBin: string;
let cluster: TestCluster;
let ns: string;
let registry: Registry;
let docker: DockerConfig;
let listener: net.Server;
let allowedTarget: string;
let kubeApiTarget: string;
let isolatedServer: TestServer | undefined;
let podServer: TestServer | undefined;
/** The first project's builder pod (isolated): the "other project" both probes aim at. */
let victimPodIp: string;

function hoist(server: TestServer, args: string[], token: string, cwd: string) {
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
  return new Promise<{ code: number | null; out: string }>((resolve) => {
    const child = spawn(hoistBin, args, { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.on('close', (code) => resolve({ code, out }));
  });
}

async function k8sServer(flags: Record<string, string>): Promise<TestServer> {
  const port = await freePort();
  return startTestServer({
    captureLogs: true,
    flags: {
      // On the cluster's bridge: the address a RUN step would use to reach the control plane.
      listen: `${cluster.nodeIp}:${port}`,
      'public-url': `http://${cluster.nodeIp}:${port}`,
      provider: 'kubernetes',
      kubeconfig: cluster.kubeconfig,
      'kubernetes-namespace': ns,
      'kubernetes-image': cluster.builderImage,
      'kubernetes-storage-class': cluster.storageClass,
      'kubernetes-volume-size': '1Gi',
      'kubernetes-resources': 'requests.cpu=50m,requests.memory=64Mi,limits.memory=4Gi',
      'builder-insecure-registries': registry.host,
      ...flags,
    },
  });
}

async function project(server: TestServer, name: string): Promise<{ id: string; token: string }> {
  const p = await server.createProject(name);
  return { id: p.id, token: (await server.createProjectToken(p.id, 'e2e')).token };
}

async function builderPod(projectId: string): Promise<V1Pod> {
  const pod = await eventually(`the builder pod of ${projectId}`, async () => {
    const pods = await cluster.core.listNamespacedPod({
      namespace: ns,
      labelSelector: `hoist/project=${projectId},hoist/component=builder`,
    });
    return pods.items.find((p) => p.status?.podIP);
  });
  return pod!;
}

/** Pod scheduled → buildkitd answering TLS (the provider's "builder pod started" log line). */
function coldStart(server: TestServer, pod: V1Pod): number {
  const scheduled = pod.status!.conditions!.find((c) => c.type === 'PodScheduled')!.lastTransitionTime!;
  const line = server.logs().find((l) => l.msg === 'builder pod started' && l.pod === pod.metadata!.name);
  if (!line) throw new Error(`no "builder pod started" log line for ${pod.metadata!.name}`);
  return (line.time as number) - new Date(scheduled).getTime();
}

async function probe(
  server: TestServer,
  token: string,
  targets: Record<string, string>,
): Promise<Record<string, string>> {
  const dir = path.join(tmp, `probe-${randomBytes(3).toString('hex')}`);
  await fs.mkdir(dir);
  await fs.writeFile(
    path.join(dir, 'Dockerfile'),
    [
      `FROM ${registry.baseImage}`,
      'ARG TARGETS NONCE',
      // Each target: name=host:port. A connection that opens within 3 s counts as reached.
      'RUN for t in $TARGETS; do n=${t%%=*}; a=${t#*=}; ' +
        'if timeout 3 bash -c "exec 3<>/dev/tcp/${a%:*}/${a##*:}" 2>/dev/null; ' +
        'then echo "PROBE $n open"; else echo "PROBE $n closed"; fi; done',
      '',
    ].join('\n'),
  );
  const r = await hoist(
    server,
    [
      'build',
      '--progress=plain',
      '--build-arg',
      `TARGETS=${Object.entries(targets)
        .map(([k, v]) => `${k}=${v}`)
        .join(' ')}`,
      '--build-arg',
      `NONCE=${randomBytes(4).toString('hex')}`,
      '.',
    ],
    token,
    dir,
  );
  if (r.code !== 0) throw new Error(`the probe build failed (${r.code}):\n${r.out.slice(-3000)}`);
  const seen: Record<string, string> = {};
  for (const m of r.out.matchAll(/PROBE ([a-z]+) (open|closed)/g)) seen[m[1]!] = m[2]!;
  expect(Object.keys(seen).sort()).toEqual(Object.keys(targets).sort());
  return seen;
}

beforeAll(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'hoist-k8s-runnet-'));
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
  engineBinaries();

  cluster = await useCluster();
  ns = await createNamespace(cluster, 'hoist-runnet');
  registry = await startRegistry({ ip: cluster.nodeIp });
  docker = await makeDockerConfig();
  // What an operator allows: a listener on the node, reached through a Service of its own, whose
  // ClusterIP (in a denied range) goes on the allow list.
  // A probe that gives up (timeout kills it) may reset the connection: that is no test failure.
  listener = net.createServer((s) => {
    s.on('error', () => undefined);
    s.end('allowed\n');
  });
  await new Promise<void>((r) => listener.listen(0, cluster.nodeIp, r));
  const port = (listener.address() as net.AddressInfo).port;
  const svc = await cluster.core.createNamespacedService({
    namespace: ns,
    body: { metadata: { name: 'allowed' }, spec: { ports: [{ port: 80, targetPort: port }] } },
  });
  await cluster.core.createNamespacedEndpoints({
    namespace: ns,
    body: {
      metadata: { name: 'allowed' },
      subsets: [{ addresses: [{ ip: cluster.nodeIp }], ports: [{ port }] }],
    },
  });
  allowedTarget = `${svc.spec!.clusterIP}:80`;
  const api = await cluster.core.readNamespacedService({ name: 'kubernetes', namespace: 'default' });
  kubeApiTarget = `${api.spec!.clusterIP}:443`;
});

afterAll(async () => {
  await isolatedServer?.stop().catch(() => undefined);
  await podServer?.stop().catch(() => undefined);
  if (cluster && ns) await deleteNamespace(cluster, ns).catch(() => undefined);
  await new Promise((r) => (listener ? listener.close(r) : r(undefined)));
  await docker?.cleanup().catch(() => undefined);
  await registry?.stop().catch(() => undefined);
  await releaseCluster(cluster).catch(() => undefined);
  if (tmp) await fs.rm(tmp, { recursive: true, force: true });
});

describe('RUN steps in kubernetes builder pods', () => {
  it('isolated (default): a normal build still pulls and pushes; the pod runs buildkitd on CNI', async () => {
    isolatedServer = await k8sServer({ 'kubernetes-run-allow': `${allowedTarget.split(':')[0]}/32` });
    const a = await project(isolatedServer, 'victim');
    const dir = path.join(tmp, 'app');
    await fs.mkdir(dir);
    await fs.writeFile(path.join(dir, 'Dockerfile'), `FROM ${registry.baseImage}\nRUN echo built > /built\n`);
    const meta = path.join(tmp, 'meta.json');
    const r = await hoist(
      isolatedServer,
      ['build', '--push', '-t', `${registry.host}/runnet/app:1`, '--metadata-file', meta, '.'],
      a.token,
      dir,
    );
    expect(r.code).toBe(0);
    const digest = (JSON.parse(await fs.readFile(meta, 'utf8')) as Record<string, string>)[
      'containerimage.digest'
    ];
    const head = await fetch(`${registry.url}/v2/runnet/app/manifests/1`, {
      method: 'HEAD',
      headers: {
        accept: 'application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json',
      },
    });
    expect(head.headers.get('docker-content-digest')).toBe(digest);
    const pod = await builderPod(a.id);
    victimPodIp = pod.status!.podIP!;
    expect(pod.spec!.containers[0]!.command!.slice(3)).toEqual(['hoist-net', 'buildkitd']);
    expect(pod.spec!.containers[0]!.args!.join(' ')).toContain('--oci-worker-net cni');
    // The entrypoint set the firewall up before it became buildkitd.
    const log = await cluster.core.readNamespacedPodLog({
      name: pod.metadata!.name!,
      namespace: ns,
      container: 'buildkitd',
    });
    expect(log).toContain('hoist-net: RUN steps on hoist0, isolated');
    console.log(`isolated: pod scheduled → buildkitd ready ${coldStart(isolatedServer, pod)} ms`);
  });

  it('isolated: the server, another builder, the kube API and its own buildkitd are out of reach; the allow list is not', async () => {
    const b = await project(isolatedServer!, 'attacker');
    const seen = await probe(isolatedServer!, b.token, {
      server: new URL(isolatedServer!.url).host,
      builder: `${victimPodIp}:1234`,
      kubeapi: kubeApiTarget,
      // The in-pod bridge's gateway: an address of the pod, where buildkitd listens on 0.0.0.0.
      own: '10.213.0.1:1234',
      allowed: allowedTarget,
    });
    console.log(`isolated probe: ${JSON.stringify(seen)}`);
    expect(seen).toEqual({
      server: 'closed',
      builder: 'closed',
      kubeapi: 'closed',
      own: 'closed',
      allowed: 'open',
    });
    console.log(
      `isolated: pod scheduled → buildkitd ready ${coldStart(isolatedServer!, await builderPod(b.id))} ms`,
    );
  });

  it('pod mode: the same probe reaches them all (the probe can succeed)', async () => {
    await isolatedServer!.stop();
    isolatedServer = undefined;
    // Another installation label: this server leaves the first one's pods (the victim) alone.
    podServer = await k8sServer({ 'kubernetes-run-network': 'pod', 'kubernetes-instance': 'podmode' });
    expect(
      podServer.logs().some((l) => l.level === 40 && /share the builder pod's network/.test(l.msg)),
    ).toBe(true);
    const c = await project(podServer, 'trusting');
    const seen = await probe(podServer, c.token, {
      server: new URL(podServer.url).host,
      builder: `${victimPodIp}:1234`,
      kubeapi: kubeApiTarget,
      own: '127.0.0.1:1234',
      allowed: allowedTarget,
    });
    console.log(`pod-mode probe: ${JSON.stringify(seen)}`);
    expect(seen).toEqual({ server: 'open', builder: 'open', kubeapi: 'open', own: 'open', allowed: 'open' });
    const pod = await builderPod(c.id);
    expect(pod.spec!.containers[0]!.command).toEqual(['buildkitd']);
    console.log(`pod mode: pod scheduled → buildkitd ready ${coldStart(podServer, pod)} ms`);
  });
});
