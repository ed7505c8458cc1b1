// Benchmark of the kubernetes provider on the test cluster (test/engine/k8s.sh), in one run:
//   cold start    launch of a new builder (volume provisioned, pod scheduled, image present,
//                 buildkitd answering mutual TLS), and a restart on its existing volume, for
//                 the kubernetes provider and for the local provider on this host
//   warm acquire  POST /v1/builds + GET …/builders/{platform} answering `active` with the
//                 project's builder pod running (a real `hoist server --provider kubernetes`)
//   gateway       upload of a fresh 500 MB build context (buildctl, COPY into scratch) through
//                 the server's gateway and straight to the pod, interleaved; the ratio of times
//   npm run bench:k8s                     (BENCH_RUNS=5 for more repetitions; root)
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { HoistClient } from '../../src/lib/client.js';
import type { CertKeyPem } from '../../src/lib/pki.js';
import { KubernetesProvider } from '../../src/providers/kubernetes.js';
import { names, type KubernetesSettings } from '../../src/providers/kubernetes-manifests.js';
import { LocalProvider } from '../../src/providers/local.js';
import { nativePlatform, type Provider } from '../../src/providers/provider.js';
import { engineBinaries } from '../helpers/engine.js';
import {
  createNamespace,
  deleteNamespace,
  releaseCluster,
  useCluster,
  type TestCluster,
} from '../helpers/kube.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const run = promisify(execFile);
const RUNS = Number(process.env.BENCH_RUNS || 3);
const WARM = Number(process.env.BENCH_WARM || 20);
const CONTEXT_MB = Number(process.env.BENCH_CONTEXT_MB || 500);
const native = nativePlatform();
const quiet = { info() {}, warn() {}, error() {} };

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const fmt = (xs: number[]): string =>
  `median ${median(xs).toFixed(0)} ms (min ${Math.min(...xs).toFixed(0)}, max ${Math.max(...xs).toFixed(0)}, n=${xs.length})`;

async function time<T>(fn: () => Promise<T>): Promise<[number, T]> {
  const t0 = performance.now();
  const v = await fn();
  return [performance.now() - t0, v];
}

/** New builders and restarts on their cache, `RUNS` of each. */
async function coldStarts(p: Provider, prefix: string): Promise<{ fresh: number[]; restart: number[] }> {
  const fresh: number[] = [];
  const restart: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const spec = { id: `${prefix}-${i}`, projectId: `prj-${prefix}-${i}`, platform: native };
    const [ms] = await time(() => p.launch(spec));
    fresh.push(ms);
    await p.stop(spec.id);
    const [ms2] = await time(() => p.launch(spec));
    restart.push(ms2);
  }
  for (let i = 0; i < RUNS; i++) await p.destroy(`${prefix}-${i}`);
  return { fresh, restart };
}

async function writeContext(dir: string, mb: number): Promise<void> {
  await fs.mkdir(dir, { recursive: true });
  await fs.writeFile(path.join(dir, 'Dockerfile'), 'FROM scratch\nCOPY big /big\n');
  // Fresh bytes every run: BuildKit would otherwise send only what changed since the last upload.
  const block = randomBytes(1024 * 1024);
  const fh = await fs.open(path.join(dir, 'big'), 'w');
  try {
    for (let i = 0; i < mb; i++) {
      randomBytes(16).copy(block, 0);
      await fh.write(block);
    }
  } finally {
    await fh.close();
  }
}

async function upload(
  buildctl: string,
  dir: string,
  tmp: string,
  addr: string,
  serverName: string,
  caPem: string,
  cert: CertKeyPem,
): Promise<number> {
  const pem = await fs.mkdtemp(path.join(tmp, 'pem-'));
  await fs.writeFile(path.join(pem, 'ca.pem'), caPem);
  await fs.writeFile(path.join(pem, 'cert.pem'), cert.certPem);
  await fs.writeFile(path.join(pem, 'key.pem'), cert.keyPem, { mode: 0o600 });
  try {
    const [ms] = await time(() =>
      run(
        buildctl,
        [
          '--addr',
          addr,
          '--tlsservername',
          serverName,
          '--tlscacert',
          path.join(pem, 'ca.pem'),
          '--tlscert',
          path.join(pem, 'cert.pem'),
          '--tlskey',
          path.join(pem, 'key.pem'),
          'build',
          '--frontend',
          'dockerfile.v0',
          '--local',
          `context=${dir}`,
          '--local',
          `dockerfile=${dir}`,
        ],
        { maxBuffer: 64 * 1024 * 1024 },
      ),
    );
    return ms;
  } finally {
    await fs.rm(pem, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'hoist-bench-k8s-'));
  let cluster: TestCluster | undefined;
  let ns: string | undefined;
  let k: KubernetesProvider | undefined;
  let local: LocalProvider | undefined;
  let server: TestServer | undefined;
  try {
    cluster = await useCluster();
    ns = await createNamespace(cluster, 'hoist-bench');
    const settings: KubernetesSettings = {
      namespace: ns,
      instance: 'bench',
      image: cluster.builderImage,
      imagePullPolicy: 'IfNotPresent',
      storageClass: cluster.storageClass,
      volumeSize: `${Math.ceil((CONTEXT_MB * 3) / 1024) + 1}Gi`,
      resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '4Gi' } },
      security: 'privileged',
      nodeSelector: {},
      cloneMode: 'copy-pod',
    };
    k = await KubernetesProvider.create({
      settings,
      kubeconfig: cluster.kubeconfig,
      platforms: [native],
      logger: quiet,
    });
    // The image pull is a one-time cost per node; the first launch pays it outside the figures.
    await k.launch({ id: 'warmup', projectId: 'warmup', platform: native });
    await k.destroy('warmup');

    console.log(`cold start, ${RUNS} runs each (2-core machine shared with other work):`);
    const kc = await coldStarts(k, 'cold');
    console.log(`  kubernetes new builder (PVC + pod + buildkitd TLS): ${fmt(kc.fresh)}`);
    console.log(`  kubernetes restart on its volume:                   ${fmt(kc.restart)}`);
    local = await LocalProvider.create({ dataDir: path.join(tmp, 'local'), logger: quiet });
    const lc = await coldStarts(local, 'cold');
    console.log(`  local new builder:                                  ${fmt(lc.fresh)}`);
    console.log(`  local restart on its root:                          ${fmt(lc.restart)}`);
    console.log(
      `  kubernetes/local: new ${(median(kc.fresh) / median(lc.fresh)).toFixed(1)}x, restart ${(median(kc.restart) / median(lc.restart)).toFixed(1)}x`,
    );
    await local.close({ stopBuilders: true });
    local = undefined;

    // Warm acquire through a real server on the kubernetes provider.
    await k.close({ stopBuilders: false });
    k = undefined;
    server = await startTestServer({
      flags: {
        provider: 'kubernetes',
        kubeconfig: cluster.kubeconfig,
        'kubernetes-namespace': ns,
        'kubernetes-instance': 'bench-server',
        'kubernetes-image': cluster.builderImage,
        'kubernetes-storage-class': cluster.storageClass,
        'kubernetes-volume-size': settings.volumeSize,
        'kubernetes-resources': 'requests.cpu=100m,requests.memory=128Mi,limits.memory=4Gi',
      },
    });
    const project = await server.createProject('bench-k8s');
    const { token } = await server.createProjectToken(project.id, 'bench');
    const api = new HoistClient({ apiUrl: server.url, token });
    const acquire = async (): Promise<{
      ms: number;
      active: Awaited<ReturnType<HoistClient['builder']>>;
    }> => {
      const t0 = performance.now();
      const b = await api.createBuild({ platforms: [native] });
      const bc = new HoistClient({ apiUrl: server!.url, token: b.build_token });
      for (;;) {
        const a = await bc.builder(b.build_id, native);
        if (a.status === 'active') {
          const ms = performance.now() - t0;
          await bc.finishBuild(b.build_id, { status: 'success' });
          return { ms, active: a };
        }
        await new Promise((r) => setTimeout(r, Math.min(a.retry_after_ms, 250)));
      }
    };
    const first = await acquire();
    console.log(`first acquire (builder pod created): ${first.ms.toFixed(0)} ms`);
    const warm: number[] = [];
    for (let i = 0; i < WARM; i++) warm.push((await acquire()).ms);
    console.log(`warm acquire (builder pod running): ${fmt(warm)}`);

    // Gateway against a direct connection for a large build context.
    if (first.active.status !== 'active') throw new Error('no active builder');
    const builderId = first.active.builder_id;
    const pod = await cluster.core.readNamespacedPod({ name: names(builderId).pod, namespace: ns });
    const podIp = pod.status!.podIP!;
    const buildctl = engineBinaries().buildctl;
    const b = await api.createBuild({ platforms: [native] });
    const bc = new HoistClient({ apiUrl: server.url, token: b.build_token });
    let active = await bc.builder(b.build_id, native);
    while (active.status !== 'active') active = await bc.builder(b.build_id, native);
    const cert = { certPem: active.cert_pem, keyPem: active.key_pem };
    const beat = setInterval(() => void bc.heartbeat(b.build_id).catch(() => undefined), 2000);
    const via: number[] = [];
    const direct: number[] = [];
    try {
      const ctx = path.join(tmp, 'ctx');
      for (let i = 0; i < RUNS; i++) {
        for (const mode of i % 2 ? ['direct', 'gateway'] : ['gateway', 'direct']) {
          await writeContext(ctx, CONTEXT_MB);
          const addr = mode === 'gateway' ? active.endpoint : `tcp://${podIp}:1234`;
          const ms = await upload(buildctl, ctx, tmp, addr, active.server_name, active.ca_pem, cert);
          (mode === 'gateway' ? via : direct).push(ms);
        }
      }
    } finally {
      clearInterval(beat);
      await bc.finishBuild(b.build_id, { status: 'success' }).catch(() => undefined);
    }
    const mbps = (ms: number): string => ((CONTEXT_MB / ms) * 1000).toFixed(0);
    console.log(
      `${CONTEXT_MB} MB context upload (buildctl build, COPY into scratch), ${RUNS} runs interleaved:`,
    );
    console.log(`  through the gateway: ${fmt(via)} = ${mbps(median(via))} MB/s`);
    console.log(`  direct to the pod:   ${fmt(direct)} = ${mbps(median(direct))} MB/s`);
    console.log(`gateway throughput / direct ${(median(direct) / median(via)).toFixed(2)}`);
  } finally {
    await server?.stop().catch(() => undefined);
    await k?.close({ stopBuilders: false }).catch(() => undefined);
    await local?.close({ stopBuilders: true }).catch(() => undefined);
    if (cluster && ns) await deleteNamespace(cluster, ns).catch((err: unknown) => console.error(String(err)));
    await releaseCluster(cluster).catch(() => undefined);
    await fs.rm(tmp, { recursive: true, force: true });
  }
}

await main();
