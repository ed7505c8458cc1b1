// The whole chain on real parts: certificates from src/lib/pki.ts, buildkitd with mutual TLS,
// a buildx `remote` builder holding a client certificate, a Dockerfile built FROM the local
// Debian base image with COPY and RUN, pushed to a local docker-registry, and the pushed
// manifest read back through the registry's HTTP API.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { connect as tlsConnect } from 'node:tls';
import { join } from 'node:path';
import { createCa, issueClientCert, issueServerCert, type CertKeyPem } from '../src/lib/pki.js';
import {
  engineBinaries,
  makeDockerConfig,
  startBuildkitd,
  startRegistry,
  type Buildkitd,
  type DockerConfig,
  type Registry,
} from './helpers/engine.js';

const HOUR = 60 * 60 * 1000;
const SERVER_NAME = 'builder.hoist.test';
const MANIFEST_TYPES = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.docker.distribution.manifest.v2+json',
].join(', ');

interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

let registry: Registry;
let buildkitd: Buildkitd;
let dockerConfig: DockerConfig;
let work: string;
let ca: CertKeyPem;
const builders: string[] = [];

function docker(args: string[], timeoutMs = 240_000): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(
      engineBinaries().docker,
      args,
      { env: { ...process.env, ...dockerConfig.env }, timeout: timeoutMs, maxBuffer: 32 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** Writes a client certificate 0600 and creates a remote builder that presents it. */
async function createBuilder(name: string, client: CertKeyPem): Promise<string> {
  const dir = join(work, name);
  await mkdir(dir, { mode: 0o700 });
  await writeFile(join(dir, 'ca.pem'), ca.certPem, { mode: 0o600 });
  await writeFile(join(dir, 'cert.pem'), client.certPem, { mode: 0o600 });
  await writeFile(join(dir, 'key.pem'), client.keyPem, { mode: 0o600 });
  const driverOpt = [
    `cacert=${join(dir, 'ca.pem')}`,
    `cert=${join(dir, 'cert.pem')}`,
    `key=${join(dir, 'key.pem')}`,
    `servername=${SERVER_NAME}`,
  ].join(',');
  const result = await docker([
    'buildx',
    'create',
    '--name',
    name,
    '--driver',
    'remote',
    '--driver-opt',
    driverOpt,
    buildkitd.address,
  ]);
  expect(result).toMatchObject({ code: 0 });
  builders.push(name);
  return name;
}

async function writeContext(payload: string): Promise<string> {
  const dir = await mkdtemp(join(work, 'context-'));
  await writeFile(join(dir, 'payload.txt'), payload);
  await writeFile(
    join(dir, 'Dockerfile'),
    [
      `FROM ${registry.baseImage}`,
      'COPY payload.txt /hoist/payload.txt',
      // No network in RUN: it only computes from what COPY brought in.
      'RUN sha256sum /hoist/payload.txt | cut -d" " -f1 > /hoist/payload.sha256 && grep -q "^ID=debian" /etc/os-release',
      '',
    ].join('\n'),
  );
  return dir;
}

async function registryGet(path: string, accept = MANIFEST_TYPES): Promise<Response> {
  return fetch(`${registry.url}${path}`, { headers: { accept } });
}

/**
 * A TLS 1.2 handshake with buildkitd presenting `client`. With TLS 1.2 the server's verdict on
 * the client certificate arrives within the handshake, so a refusal comes back as the alert
 * that names its reason (TLS 1.3 would report it only on the first read).
 */
function tlsHandshake(client: CertKeyPem): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({
      host: '127.0.0.1',
      port: buildkitd.port,
      servername: SERVER_NAME,
      ca: ca.certPem,
      cert: client.certPem,
      key: client.keyPem,
      minVersion: 'TLSv1.2',
      maxVersion: 'TLSv1.2',
      ALPNProtocols: ['h2'],
    });
    socket.once('secureConnect', () => {
      const protocol = socket.getProtocol() ?? '';
      socket.end();
      resolve(protocol);
    });
    socket.once('error', reject);
  });
}

/** The builder holding `client` must not build, and buildkitd must refuse the certificate for `reason`. */
async function expectRefused(name: string, client: CertKeyPem, reason: string): Promise<void> {
  const builder = await createBuilder(name, client);
  const build = await docker(
    ['buildx', 'build', '--builder', builder, '--progress', 'plain', await writeContext('refused\n')],
    120_000,
  );
  expect(build.code).not.toBe(0);
  expect(build.stderr).toContain('waiting for connection');
  expect(build.stderr).not.toContain('load build definition');
  await expect(tlsHandshake(client)).rejects.toMatchObject({ code: reason });
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'hoist-chain-'));
  dockerConfig = await makeDockerConfig();
  ca = await createCa({ commonName: 'hoist chain test CA' });
  const server = await issueServerCert(ca, {
    commonName: 'buildkitd',
    dnsNames: [SERVER_NAME],
    ipAddresses: ['127.0.0.1'],
  });
  const readiness = await issueClientCert(ca, {
    commonName: 'readiness',
    notAfter: new Date(Date.now() + HOUR),
  });
  registry = await startRegistry();
  buildkitd = await startBuildkitd({
    caPem: ca.certPem,
    certPem: server.certPem,
    keyPem: server.keyPem,
    client: readiness,
    serverName: SERVER_NAME,
    registries: [registry.host],
  });
}, 120_000);

afterAll(async () => {
  for (const name of builders) await docker(['buildx', 'rm', '--force', name]).catch(() => undefined);
  await buildkitd?.stop();
  await registry?.stop();
  await dockerConfig?.cleanup();
  if (work) await rm(work, { recursive: true, force: true });
}, 120_000);

describe('the build chain (buildkitd mTLS + buildx remote + registry)', () => {
  it('builds FROM the local base image with COPY and RUN, pushes, and the registry serves the digest buildx reported', async () => {
    const client = await issueClientCert(ca, {
      commonName: 'build-chain',
      organization: 'hoist-test',
      notAfter: new Date(Date.now() + HOUR),
    });
    const builder = await createBuilder('hoist-chain-ok', client);
    const payload = `payload ${randomBytes(16).toString('hex')}\n`;
    const context = await writeContext(payload);
    const tag = `t${randomBytes(6).toString('hex')}`;
    const image = `${registry.host}/hoist-test/chain:${tag}`;
    const metadataFile = join(work, 'metadata.json');

    const build = await docker([
      'buildx',
      'build',
      '--builder',
      builder,
      '--progress',
      'plain',
      '--tag',
      image,
      '--push',
      '--metadata-file',
      metadataFile,
      context,
    ]);
    expect(build.stderr).toContain('COPY payload.txt');
    expect(build).toMatchObject({ code: 0 });

    const metadata = JSON.parse(await readFile(metadataFile, 'utf8')) as Record<string, unknown>;
    const digest = metadata['containerimage.digest'];
    expect(digest).toMatch(/^sha256:[0-9a-f]{64}$/);

    // The manifest, read back through the registry's HTTP API, has exactly that digest.
    const res = await registryGet(`/v2/hoist-test/chain/manifests/${tag}`);
    expect(res.status).toBe(200);
    const body = Buffer.from(await res.arrayBuffer());
    expect(res.headers.get('docker-content-digest')).toBe(digest);
    expect(`sha256:${createHash('sha256').update(body).digest('hex')}`).toBe(digest);

    // The RUN step really ran on the base image: its output is in the pushed image's last layer.
    let manifest = JSON.parse(body.toString('utf8')) as {
      manifests?: { digest: string; platform?: { os: string; architecture: string } }[];
      layers?: { digest: string }[];
    };
    if (manifest.manifests) {
      const amd64 = manifest.manifests.find(
        (m) => m.platform?.os === 'linux' && m.platform.architecture === 'amd64',
      );
      expect(amd64).toBeDefined();
      const inner = await registryGet(`/v2/hoist-test/chain/manifests/${amd64!.digest}`);
      expect(inner.status).toBe(200);
      manifest = (await inner.json()) as typeof manifest;
    }
    const layers = manifest.layers ?? [];
    expect(layers.length).toBeGreaterThanOrEqual(3); // base rootfs, COPY, RUN
    const blob = await registryGet(`/v2/hoist-test/chain/blobs/${layers[layers.length - 1]!.digest}`, '*/*');
    expect(blob.status).toBe(200);
    const layerFile = join(work, 'run-layer.tar.gz');
    await writeFile(layerFile, Buffer.from(await blob.arrayBuffer()));
    const extracted = await mkdtemp(join(work, 'layer-'));
    await new Promise<void>((resolve, reject) =>
      execFile('tar', ['-xzf', layerFile, '-C', extracted], (err) => (err ? reject(err) : resolve())),
    );
    const written = (await readFile(join(extracted, 'hoist', 'payload.sha256'), 'utf8')).trim();
    expect(written).toBe(createHash('sha256').update(payload).digest('hex'));
  }, 300_000);

  it('refuses a client certificate signed by another CA', async () => {
    const otherCa = await createCa({ commonName: 'some other CA' });
    const stranger = await issueClientCert(otherCa, {
      commonName: 'stranger',
      notAfter: new Date(Date.now() + HOUR),
    });
    await expectRefused('hoist-chain-other-ca', stranger, 'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA');
  }, 180_000);

  it('refuses an expired client certificate of the right CA', async () => {
    const expired = await issueClientCert(ca, {
      commonName: 'expired',
      notBefore: new Date(Date.now() - 2 * HOUR),
      notAfter: new Date(Date.now() - HOUR),
    });
    await expectRefused('hoist-chain-expired', expired, 'ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED');
  }, 180_000);

  it('completes the TLS handshake with a valid client certificate (control for the refusals)', async () => {
    const client = await issueClientCert(ca, {
      commonName: 'control',
      notAfter: new Date(Date.now() + HOUR),
    });
    await expect(tlsHandshake(client)).resolves.toBe('TLSv1.2');
  });
});
