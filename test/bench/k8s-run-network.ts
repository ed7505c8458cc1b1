// What isolating RUN steps inside the builder pod costs at start: a builder pod restarted on its
// volume (pod created → scheduled → [init container: bridge config and firewall] → buildkitd
// answering mutual TLS), with --kubernetes-run-network pod and isolated, interleaved, on the test
// cluster (test/engine/k8s.sh). The image is on the node before the first measured start.
//   npm run bench:k8s-run-network          (BENCH_RUNS=7 for more repetitions; root)
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { KubernetesProvider } from '../../src/providers/kubernetes.js';
import { type KubernetesSettings } from '../../src/providers/kubernetes-manifests.js';
import { defaultRunNetwork, type RunNetworkMode } from '../../src/providers/kubernetes-network.js';
import { nativePlatform } from '../../src/providers/provider.js';
import {
  createNamespace,
  deleteNamespace,
  releaseCluster,
  useCluster,
  type TestCluster,
} from '../helpers/kube.js';

const RUNS = Number(process.env.BENCH_RUNS || 5);
const native = nativePlatform();
const quiet = { info() {}, warn() {}, error() {} };

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const fmt = (xs: number[]): string =>
  `median ${median(xs).toFixed(0)} ms (min ${Math.min(...xs).toFixed(0)}, max ${Math.max(...xs).toFixed(0)}, n=${xs.length})`;

async function main(): Promise<void> {
  const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'hoist-bench-runnet-'));
  let cluster: TestCluster | undefined;
  let ns: string | undefined;
  const providers = new Map<RunNetworkMode, KubernetesProvider>();
  try {
    cluster = await useCluster();
    ns = await createNamespace(cluster, 'hoist-bench-runnet');
    for (const mode of ['pod', 'isolated'] as const) {
      const settings: KubernetesSettings = {
        namespace: ns,
        instance: `bench-${mode}`,
        image: cluster.builderImage,
        imagePullPolicy: 'IfNotPresent',
        storageClass: cluster.storageClass,
        volumeSize: '1Gi',
        resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '4Gi' } },
        security: 'privileged',
        nodeSelector: {},
        cloneMode: 'none',
        runNetwork: { ...defaultRunNetwork('privileged'), mode },
      };
      const p = await KubernetesProvider.create({
        settings,
        kubeconfig: cluster.kubeconfig,
        platforms: [native],
        logger: quiet,
      });
      providers.set(mode, p);
      // The volume and the image pull are paid here, outside the figures.
      await p.launch({ id: `b-${mode}`, projectId: `prj-${mode}`, platform: native });
    }
    const ms: Record<RunNetworkMode, number[]> = { pod: [], isolated: [] };
    for (let i = 0; i < RUNS; i++) {
      // Alternate which goes first, so a load change hits both alike.
      const order: RunNetworkMode[] = i % 2 ? ['isolated', 'pod'] : ['pod', 'isolated'];
      for (const mode of order) {
        const p = providers.get(mode)!;
        const spec = { id: `b-${mode}`, projectId: `prj-${mode}`, platform: native };
        await p.stop(spec.id);
        const t0 = performance.now();
        await p.launch(spec);
        ms[mode].push(performance.now() - t0);
      }
    }
    console.log(
      `builder pod restart on its volume, pod created → buildkitd answering TLS, ${RUNS} runs each:`,
    );
    console.log(`  --kubernetes-run-network pod:      ${fmt(ms.pod)}`);
    console.log(`  --kubernetes-run-network isolated: ${fmt(ms.isolated)}`);
    console.log(`  isolated - pod (medians): ${(median(ms.isolated) - median(ms.pod)).toFixed(0)} ms`);
  } finally {
    for (const [mode, p] of providers) {
      await p.destroy(`b-${mode}`).catch(() => undefined);
      await p.close({ stopBuilders: true }).catch(() => undefined);
    }
    if (cluster && ns) await deleteNamespace(cluster, ns).catch(() => undefined);
    await releaseCluster(cluster).catch(() => undefined);
    await fs.rm(tmp, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
