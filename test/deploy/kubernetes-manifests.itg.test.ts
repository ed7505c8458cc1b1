// deploy/kubernetes/ on the test cluster: an image of the server built from the release tarball
// (dist/releases, so run `npm run build` first), two replicas on a real PostgreSQL, the API and
// the builders' gateway reached from the host through their Services, and a `hoist build --push`
// whose builder is a pod the deployed servers launched (the kubernetes provider).
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { acquireCluster, K8S_SCRIPT, type Cluster } from '../helpers/k8s.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { makeDockerConfig, type DockerConfig } from '../helpers/engine.js';
import { REPO_ROOT } from '../helpers/server.js';

const execFileAsync = promisify(execFile);
const DEPLOY = join(REPO_ROOT, 'deploy', 'kubernetes');
const NS = 'hoist';

/** The YAML documents of a manifest file, minus those of `dropKind`. */
function documents(file: string, dropKind?: string): string[] {
  return readFileSync(join(DEPLOY, file), 'utf8')
    .split(/^---$/m)
    .filter((d) => /\bkind:/.test(d))
    .filter((d) => !dropKind || !new RegExp(`^kind: ${dropKind}$`, 'm').test(d));
}

describe('deploy/kubernetes on the test cluster', () => {
  let cluster: Cluster | undefined;
  let pg: TestPostgres | undefined;
  let docker: DockerConfig | undefined;
  let work = '';

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'hoist-deploy-itg-'));
    cluster = await acquireCluster();
  }, 20 * 60_000);

  afterAll(async () => {
    if (cluster) {
      await cluster
        .kubectl(['delete', 'namespace', NS, '--wait=true', '--timeout=180s'], { timeoutMs: 200_000 })
        .catch(() => undefined);
      await cluster.release();
    }
    await pg?.stop();
    await docker?.cleanup().catch(() => undefined);
    if (work) await rm(work, { recursive: true, force: true });
  }, 10 * 60_000);

  it(
    'two replicas on PostgreSQL serve the API through the Service, and a build runs through the gateway Service',
    async () => {
      const c = cluster!;
      const { HOIST_K8S_NODE_IP: nodeIp, HOIST_K8S_REGISTRY: registry } = c.env;

      // PostgreSQL on the cluster's bridge, where the pods reach it.
      pg = await startPostgres({ host: nodeIp });
      const dbUrl = await pg.createDatabase('hoist');

      // The server image: base + Node + the release tarball.
      const releases = join(REPO_ROOT, 'dist', 'releases');
      const tarball = readdirSync(releases).find((f) => /^hoist-.*-linux-x64\.tar\.gz$/.test(f));
      expect(tarball).toBeDefined();
      const ctx = join(work, 'image');
      await mkdir(join(ctx, 'hoist'), { recursive: true });
      await execFileAsync('tar', ['xzf', join(releases, tarball!), '-C', join(ctx, 'hoist')]);
      copyFileSync(process.execPath, join(ctx, 'node'));
      await writeFile(
        join(ctx, 'Dockerfile'),
        [
          `FROM ${c.env.HOIST_K8S_BASE_IMAGE}`,
          'COPY node /usr/local/bin/node',
          'COPY hoist /opt/hoist',
          'ENV PATH=/opt/hoist/bin:/usr/local/bin:/usr/bin:/bin',
          'ENTRYPOINT ["/opt/hoist/bin/hoist"]',
          '',
        ].join('\n'),
      );
      const tag = randomBytes(4).toString('hex');
      const image = (
        await execFileAsync('bash', [K8S_SCRIPT, 'image', `hoist/server:${tag}`, ctx], { timeout: 600_000 })
      ).stdout.trim();
      expect(image).toMatch(new RegExp(`^${registry}/hoist/server@sha256:[0-9a-f]{64}$`));

      // The manifests as shipped, with this cluster's values: the Services first (their ClusterIPs
      // are the public URL and the gateway address runners dial).
      await c.kubectl([
        'apply',
        '-f',
        join(DEPLOY, 'namespace.yaml'),
        '-f',
        join(DEPLOY, 'rbac.yaml'),
        '-f',
        join(DEPLOY, 'service.yaml'),
      ]);
      const apiIp = (
        await c.kubectl(['get', '-n', NS, 'svc/hoist', '-o', 'jsonpath={.spec.clusterIP}'])
      ).trim();
      const gatewayIp = (
        await c.kubectl(['get', '-n', NS, 'svc/hoist-gateway', '-o', 'jsonpath={.spec.clusterIP}'])
      ).trim();
      await c.kubectl([
        'create',
        'secret',
        'generic',
        'hoist-database',
        '-n',
        NS,
        `--from-literal=url=${dbUrl}`,
      ]);
      const config = documents('config.yaml', 'Secret')
        .join('\n---\n')
        .replace(/HOIST_PUBLIC_URL: .*/, `HOIST_PUBLIC_URL: http://${apiIp}`)
        .replace(/HOIST_BUILDER_ADVERTISE_HOST: .*/, `HOIST_BUILDER_ADVERTISE_HOST: ${gatewayIp}`)
        .replace(
          /HOIST_KUBERNETES_STORAGE_CLASS: .*/,
          `HOIST_KUBERNETES_STORAGE_CLASS: ${c.env.HOIST_K8S_STORAGE_CLASS}`,
        )
        .replace(
          /(HOIST_LOG_LEVEL: .*)/,
          `$1\n  HOIST_KUBERNETES_IMAGE: ${c.env.HOIST_K8S_BUILDER_IMAGE}\n  HOIST_BUILDER_INSECURE_REGISTRIES: ${registry}`,
        );
      await c.kubectl(['apply', '-f', '-'], { input: config });
      const server = documents('server.yaml')
        .join('\n---\n')
        .replace(/image: hoist\/server:.*/, `image: ${image}`);
      expect(server).toContain(image);
      await c.kubectl(['apply', '-f', '-'], { input: server });
      await c.kubectl(['rollout', 'status', '-n', NS, 'deploy/hoist', '--timeout=300s'], {
        timeoutMs: 320_000,
      });
      const ready = (
        await c.kubectl(['get', '-n', NS, 'deploy/hoist', '-o', 'jsonpath={.status.readyReplicas}'])
      ).trim();
      expect(ready).toBe('2');

      // The API through the Service (kube-proxy), backed by PostgreSQL. Ready pods reach the
      // Service's rules a moment later (EndpointSlice, then kube-proxy's next sync; seconds after a
      // cold cluster start): until then the ClusterIP refuses connections.
      let health: { status: string; database: string } | undefined;
      for (let i = 0; !health; i++) {
        try {
          health = (await (await fetch(`http://${apiIp}/healthz`)).json()) as typeof health;
        } catch (err) {
          if (i >= 120) throw new Error(`the hoist Service never answered: ${String(err)}`);
          await new Promise((r) => setTimeout(r, 500));
        }
      }
      // Either replica answers; both run the lease on the one PostgreSQL.
      expect(health).toMatchObject({
        status: 'ok',
        database: 'postgres',
        cluster: { mode: 'postgres-advisory-lock' },
      });

      // The admin token, as the README says: `hoist server init` inside a server pod.
      const init = await c.kubectl(
        ['exec', '-n', NS, 'deploy/hoist', '--', 'hoist', 'server', 'init', '--data-dir', '/tmp/init'],
        { timeoutMs: 120_000 },
      );
      const admin = init.trim().split('\n').pop()!.trim();
      expect(admin).toMatch(/^hoist_adm_/);
      const api = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
        const res = await fetch(`http://${apiIp}${path}`, {
          method,
          headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
          body: body === undefined ? undefined : JSON.stringify(body),
        });
        const text = await res.text();
        if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
        return JSON.parse(text) as T;
      };
      const project = await api<{ id: string }>('POST', '/v1/projects', { name: `deploy-${tag}` });
      const { token } = await api<{ token: string }>('POST', `/v1/projects/${project.id}/tokens`, {
        name: 'itg',
      });

      // `hoist build --push` from the host, with the CLI of the same release.
      const install = join(work, 'cli');
      await mkdir(install);
      await execFileAsync('tar', ['xzf', join(releases, tarball!), '-C', install]);
      docker = await makeDockerConfig();
      const buildCtx = join(work, 'ctx');
      await mkdir(buildCtx);
      const marker = randomBytes(8).toString('hex');
      await writeFile(
        join(buildCtx, 'Dockerfile'),
        `FROM ${c.env.HOIST_K8S_BASE_IMAGE}\nRUN echo ${marker} > /marker\n`,
      );
      const target = `${registry}/deploy-itg/app:${tag}`;
      const meta = join(work, 'meta.json');
      const env: NodeJS.ProcessEnv = {
        ...process.env,
        ...docker.env,
        HOIST_API_URL: `http://${apiIp}`,
        HOIST_TOKEN: token,
        HOIST_CONFIG: join(work, 'none.json'),
        HOIST_FINISH_IN_BACKGROUND: 'false',
      };
      delete env.HOIST_PROJECT_ID;
      const out = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
        const child = spawn(
          join(install, 'bin', 'hoist'),
          ['build', '--push', '-t', target, '--metadata-file', meta, '--progress=plain', buildCtx],
          { env, stdio: ['ignore', 'pipe', 'pipe'] },
        );
        let stderr = '';
        child.stdout.on('data', (d: Buffer) => (stderr += d.toString()));
        child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        child.on('close', (code) => resolve({ code, stderr }));
      });
      if (out.code !== 0) throw new Error(`hoist build failed (${out.code}):\n${out.stderr.slice(-4000)}`);
      const digest = JSON.parse(readFileSync(meta, 'utf8'))['containerimage.digest'] as string;
      expect(digest).toMatch(/^sha256:[0-9a-f]{64}$/);
      const head = await fetch(`http://${registry}/v2/deploy-itg/app/manifests/${tag}`, {
        method: 'HEAD',
        headers: {
          accept:
            'application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json',
        },
      });
      expect(head.headers.get('docker-content-digest')).toBe(digest);

      // The builder is a pod the deployed servers launched in their namespace, on a PVC.
      const pods = await c.kubectl([
        'get',
        'pods',
        '-n',
        NS,
        '-l',
        'app.kubernetes.io/managed-by=hoist',
        '-o',
        'jsonpath={.items[*].metadata.name}',
      ]);
      expect(pods.trim()).toMatch(/^hoist-/);
      const pvcs = await c.kubectl([
        'get',
        'pvc',
        '-n',
        NS,
        '-l',
        'app.kubernetes.io/managed-by=hoist',
        '-o',
        'jsonpath={.items[*].status.phase}',
      ]);
      expect(pvcs.trim().split(' ')).toContain('Bound');
    },
    20 * 60_000,
  );
});
