// The Kubernetes test cluster (test/engine/k8s.sh) is real and leaves nothing behind: a PVC of the
// dynamic provisioner binds, a privileged buildkitd pod with --root on it becomes ready, buildctl on
// the host builds and pushes through it (by pod IP and through a NodePort Service, so kube-proxy
// routes), kubectl exec reaches it, and `down` removes every process, mount, veth, netns, cgroup,
// iptables chain and sysctl change the cluster made.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { engineBinaries } from '../helpers/engine.js';
import { acquireCluster, type Cluster } from '../helpers/k8s.js';

const execFileAsync = promisify(execFile);
const sh = async (cmd: string): Promise<string> =>
  (await execFileAsync('bash', ['-c', cmd], { maxBuffer: 64 << 20 })).stdout;

const SYSCTLS = [
  'vm.overcommit_memory',
  'vm.panic_on_oom',
  'kernel.panic',
  'kernel.panic_on_oops',
  'kernel.keys.root_maxkeys',
  'kernel.keys.root_maxbytes',
  'net.ipv4.ip_forward',
  'net.ipv4.conf.all.route_localnet',
];
const HOST_PATHS = [
  '/var/lib/kubelet',
  '/var/log/pods',
  '/var/log/containers',
  '/usr/libexec/kubernetes',
  '/var/lib/cni',
];

async function sysctls(): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const s of SYSCTLS) out[s] = (await sh(`sysctl -n ${s} 2>/dev/null || echo absent`)).trim();
  return out;
}

/** Pids whose command line names the cluster's state or cached binaries. */
function clusterProcesses(): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
      if (/\/run\/hoist-k8s|\/var\/lib\/hoist-k8s|hoist-engine\/k8s-v/.test(cmd))
        found.push(`${pid}: ${cmd.slice(0, 160)}`);
    } catch {
      // exited meanwhile
    }
  }
  return found;
}

const manifest = (builderImage: string, registry: string, storageClass: string): string => `
apiVersion: v1
kind: ConfigMap
metadata: { name: bk-config }
data:
  buildkitd.toml: |
    [registry."${registry}"]
      http = true
      insecure = true
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: { name: bk-state }
spec:
  accessModes: [ReadWriteOnce]
  storageClassName: ${storageClass}
  resources: { requests: { storage: 2Gi } }
---
apiVersion: v1
kind: Pod
metadata: { name: bk, labels: { app: bk } }
spec:
  terminationGracePeriodSeconds: 2
  containers:
    - name: buildkitd
      image: ${builderImage}
      args: [--root, /var/lib/buildkit, --addr, "tcp://0.0.0.0:1234", --addr, "unix:///run/buildkit/buildkitd.sock",
             --config, /etc/buildkit/buildkitd.toml, --oci-worker-net, host]
      securityContext: { privileged: true }
      ports: [{ containerPort: 1234 }]
      readinessProbe:
        exec: { command: [buildctl, --addr, "unix:///run/buildkit/buildkitd.sock", debug, workers] }
        periodSeconds: 1
      volumeMounts:
        - { name: state, mountPath: /var/lib/buildkit }
        - { name: config, mountPath: /etc/buildkit }
  volumes:
    - { name: state, persistentVolumeClaim: { claimName: bk-state } }
    - { name: config, configMap: { name: bk-config } }
---
apiVersion: v1
kind: Service
metadata: { name: bk }
spec:
  type: NodePort
  selector: { app: bk }
  ports: [{ port: 1234, targetPort: 1234 }]
`;

describe('Kubernetes test cluster (test/engine/k8s.sh)', () => {
  let cluster: Cluster | undefined;
  let released = false;
  let sysctlsBefore: Record<string, string> = {};
  const pathsBefore = new Map<string, boolean>();
  const ns = `k8s-itg-${randomBytes(3).toString('hex')}`;
  let work = '';
  // Seen while the cluster ran; each must be gone after `down`.
  const podVeths: string[] = [];
  const podNetns: string[] = [];

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'hoist-k8s-itg-'));
    // Taken before the cluster exists (a cluster someone else left up fails the last test below).
    sysctlsBefore = await sysctls();
    for (const p of HOST_PATHS) pathsBefore.set(p, existsSync(p));
    cluster = await acquireCluster();
    if (!cluster.startedHere) {
      // The host state above was taken with the cluster up; a fresh `before` is not possible.
      sysctlsBefore = {};
    }
  }, 20 * 60_000);

  afterAll(async () => {
    if (cluster && !released) {
      await cluster.kubectl(['delete', 'namespace', ns, '--wait=false']).catch(() => undefined);
      await cluster.release();
    }
    if (work) await rm(work, { recursive: true, force: true });
  }, 5 * 60_000);

  it(
    'binds a dynamically provisioned PVC to a privileged buildkitd pod that builds and pushes for buildctl on the host',
    async () => {
      const c = cluster!;
      const {
        HOIST_K8S_BUILDER_IMAGE: builder,
        HOIST_K8S_REGISTRY: registry,
        HOIST_K8S_NODE_IP: nodeIp,
      } = c.env;
      await c.kubectl(['create', 'namespace', ns]);
      await c.kubectl(['apply', '-n', ns, '-f', '-'], {
        input: manifest(builder, registry, c.env.HOIST_K8S_STORAGE_CLASS),
      });
      await c.kubectl(['wait', '-n', ns, '--for=condition=Ready', 'pod/bk', '--timeout=180s'], {
        timeoutMs: 200_000,
      });

      // The provisioner made a real volume on the host and buildkitd keeps its state there.
      expect(
        (await c.kubectl(['get', '-n', ns, 'pvc/bk-state', '-o', 'jsonpath={.status.phase}'])).trim(),
      ).toBe('Bound');
      const pv = (
        await c.kubectl(['get', '-n', ns, 'pvc/bk-state', '-o', 'jsonpath={.spec.volumeName}'])
      ).trim();
      const pvPath = (
        await c.kubectl(['get', `pv/${pv}`, '-o', 'jsonpath={.spec.hostPath.path}{.spec.local.path}'])
      ).trim();
      expect(pvPath).toMatch(/^\/var\/lib\/hoist-k8s\/volumes\//);
      expect(readdirSync(pvPath)).toEqual(expect.arrayContaining(['runc-overlayfs']));

      // kubectl exec goes API server -> kubelet on the bridge.
      const workers = await c.kubectl([
        'exec',
        '-n',
        ns,
        'bk',
        '--',
        'buildctl',
        '--addr',
        'unix:///run/buildkit/buildkitd.sock',
        'debug',
        'workers',
      ]);
      expect(workers).toMatch(/linux\/amd64/);

      const podIp = (await c.kubectl(['get', '-n', ns, 'pod/bk', '-o', 'jsonpath={.status.podIP}'])).trim();
      expect(podIp.startsWith(c.env.HOIST_K8S_POD_CIDR.replace(/\.0\/24$/, '.'))).toBe(true);
      const nodePort = (
        await c.kubectl(['get', '-n', ns, 'svc/bk', '-o', 'jsonpath={.spec.ports[0].nodePort}'])
      ).trim();
      expect(Number(nodePort)).toBeGreaterThan(0);

      // Build on the pod from the host: by pod IP, and a second build through the NodePort (kube-proxy).
      const ctx = join(work, 'ctx');
      await sh(`mkdir -p ${ctx}`);
      const marker = randomBytes(8).toString('hex');
      await writeFile(
        join(ctx, 'Dockerfile'),
        `FROM ${c.env.HOIST_K8S_BASE_IMAGE}\nRUN echo ${marker} > /marker\n`,
      );
      const { buildctl } = engineBinaries();
      const image = `${registry}/k8s-itg/${ns}:latest`;
      const meta = join(work, 'meta.json');
      await execFileAsync(
        buildctl,
        [
          '--addr',
          `tcp://${podIp}:1234`,
          'build',
          '--frontend',
          'dockerfile.v0',
          '--local',
          `context=${ctx}`,
          '--local',
          `dockerfile=${ctx}`,
          '--output',
          `type=image,name=${image},push=true,registry.insecure=true`,
          '--metadata-file',
          meta,
        ],
        { timeout: 300_000, maxBuffer: 64 << 20 },
      );
      const digest = JSON.parse(readFileSync(meta, 'utf8'))['containerimage.digest'] as string;
      expect(digest).toMatch(/^sha256:[0-9a-f]{64}$/);
      const head = await sh(
        `curl -fsSI -H 'Accept: application/vnd.oci.image.manifest.v1+json' -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' ` +
          `http://${registry}/v2/k8s-itg/${ns}/manifests/latest`,
      );
      expect(head.toLowerCase()).toContain(`docker-content-digest: ${digest}`);

      // Through the Service: the same build is fully cached on the same buildkitd (state on the PVC).
      const again = await execFileAsync(
        buildctl,
        [
          '--addr',
          `tcp://${nodeIp}:${nodePort}`,
          'build',
          '--progress',
          'plain',
          '--frontend',
          'dockerfile.v0',
          '--local',
          `context=${ctx}`,
          '--local',
          `dockerfile=${ctx}`,
        ],
        { timeout: 300_000, maxBuffer: 64 << 20 },
      );
      expect(again.stderr).toMatch(/RUN echo [0-9a-f]{16} > \/marker[\s\S]*CACHED/);

      for (const v of (
        await sh(`ip -o link show master hoistk8s0 | awk -F': ' '{print $2}' | cut -d@ -f1`)
      ).split('\n')) {
        if (v.trim()) podVeths.push(v.trim());
      }
      expect(podVeths.length).toBeGreaterThan(0);
      for (const f of (
        await sh(
          `ls -d /run/hoist-k8s/containerd/io.containerd.grpc.v1.cri/netns/* /run/netns/cni-* 2>/dev/null || true`,
        )
      ).split('\n')) {
        if (f.trim()) podNetns.push(f.trim());
      }
      expect(podNetns.length).toBeGreaterThan(0);
    },
    10 * 60_000,
  );

  it(
    '`down` leaves no process, mount, veth, netns, cgroup, iptables chain or sysctl change behind',
    async () => {
      const c = cluster!;
      if (!c.startedHere) {
        throw new Error(
          'the cluster was already up before this suite; run `bash test/engine/k8s.sh down` and run the suite again to check teardown',
        );
      }
      const t0 = Date.now();
      released = true;
      await c.release();
      const took = Date.now() - t0;
      process.stderr.write(`k8s.sh down took ${(took / 1000).toFixed(1)} s\n`);

      expect(clusterProcesses()).toEqual([]);
      const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
        .split('\n')
        .filter((l) => /hoist-k8s/.test(l));
      expect(mounts).toEqual([]);
      expect(existsSync('/sys/class/net/hoistk8s0')).toBe(false);
      for (const v of podVeths) expect(existsSync(`/sys/class/net/${v}`)).toBe(false);
      for (const n of podNetns) expect(existsSync(n)).toBe(false);
      expect(existsSync('/run/hoist-k8s')).toBe(false);
      expect(existsSync('/var/lib/hoist-k8s')).toBe(false);
      for (const ipt of ['iptables-save', 'ip6tables-save']) {
        const rules = await sh(`${ipt} 2>/dev/null || true`);
        expect(rules.split('\n').filter((l) => /KUBE-|10\.177\.77\.|10\.178\.0\.|hoistk8s0/.test(l))).toEqual(
          [],
        );
      }
      const cgroups = (
        await sh('ls -d /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/kubepods 2>/dev/null || true')
      ).trim();
      expect(cgroups).toBe('');
      expect(await sysctls()).toEqual(sysctlsBefore);
      for (const [p, existed] of pathsBefore) expect(`${p}: ${existsSync(p)}`).toBe(`${p}: ${existed}`);
    },
    5 * 60_000,
  );
});
