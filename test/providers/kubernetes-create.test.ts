// What `hoist server --provider kubernetes` says when it cannot use the cluster: no kubeconfig,
// a broken one, an API server that does not answer (a closed loopback port). No cluster needed.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as fs from 'node:fs/promises';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { ConfigurationError } from '../../src/lib/errors.js';
import { KubernetesProvider, loadKubeConfig } from '../../src/providers/kubernetes.js';
import type { KubernetesSettings } from '../../src/providers/kubernetes-manifests.js';

let tmp: string;
const settings: KubernetesSettings = {
  namespace: 'builds',
  instance: 'hoist',
  image: 'moby/buildkit:v0.18.2',
  imagePullPolicy: 'IfNotPresent',
  volumeSize: '1Gi',
  resources: { requests: {}, limits: {} },
  security: 'privileged',
  nodeSelector: {},
  cloneMode: 'copy-pod',
};

async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

beforeAll(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'hoist-kcreate-'));
});
afterAll(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

describe('KubernetesProvider.create', () => {
  it('names a kubeconfig that cannot be read', async () => {
    const file = path.join(tmp, 'missing');
    expect(() => loadKubeConfig(file, {})).toThrow(ConfigurationError);
    expect(() => loadKubeConfig(file, {})).toThrow(
      /cannot load the Kubernetes credentials from .*missing.*--kubeconfig/,
    );
  });

  it('refuses a kubeconfig without a cluster', async () => {
    const file = path.join(tmp, 'empty.yaml');
    await fs.writeFile(file, 'apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n');
    expect(() => loadKubeConfig(file, {})).toThrow(/no Kubernetes cluster is configured in .*empty.yaml/);
  });

  it('says the API server cannot be reached, after a few quick retries', async () => {
    const port = await closedPort();
    const file = path.join(tmp, 'closed.yaml');
    await fs.writeFile(
      file,
      [
        'apiVersion: v1',
        'kind: Config',
        'clusters: [{name: c, cluster: {server: "https://127.0.0.1:' +
          port +
          '", insecure-skip-tls-verify: true}}]',
        'users: [{name: u, user: {token: not-a-real-token}}]',
        'contexts: [{name: x, context: {cluster: c, user: u}}]',
        'current-context: x',
        '',
      ].join('\n'),
    );
    const t0 = Date.now();
    const err = await KubernetesProvider.create({
      settings,
      kubeconfig: file,
      platforms: ['linux/amd64'],
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigurationError);
    expect((err as Error).message).toMatch(
      /the kubernetes provider cannot use namespace "builds": Kubernetes API list pods failed: cannot reach the API server/,
    );
    expect((err as Error).message).not.toContain('not-a-real-token');
    expect(Date.now() - t0).toBeLessThan(15_000);
  });
});
