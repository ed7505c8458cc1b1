// HTTPS on the API listener: a real server with a certificate of a private CA (made by
// src/lib/pki.ts), and the clients that must trust that CA through HOIST_CA_CERT.
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { runBuild } from '../../src/cli/build-run.js';
import { HttpReleaseSource } from '../../src/actions/setup/releases.js';
import { HoistClient, caPemFromEnv } from '../../src/lib/client.js';
import { ConfigurationError } from '../../src/lib/errors.js';
import { createCa, issueServerCert, type CertKeyPem } from '../../src/lib/pki.js';
import { loadConfig } from '../../src/server/config.js';
import { makeDockerConfig, startRegistry, type DockerConfig, type Registry } from '../helpers/engine.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

jest.setTimeout(180_000);

let tmp: string;
let ca: CertKeyPem;
let caFile: string;
let certFile: string;
let keyFile: string;
let server: TestServer;

beforeAll(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'hoist-tls-'));
  ca = await createCa({ commonName: 'hoist test API CA' });
  const cert = await issueServerCert(ca, {
    commonName: 'hoist api',
    dnsNames: ['localhost'],
    ipAddresses: ['127.0.0.1'],
  });
  caFile = path.join(tmp, 'ca.pem');
  certFile = path.join(tmp, 'server.pem');
  keyFile = path.join(tmp, 'server-key.pem');
  await fs.writeFile(caFile, ca.certPem);
  await fs.writeFile(certFile, cert.certPem);
  await fs.writeFile(keyFile, cert.keyPem, { mode: 0o600 });
  server = await startTestServer({ flags: { 'tls-cert': certFile, 'tls-key': keyFile } });
});

afterAll(async () => {
  await server?.stop();
  await fs.rm(tmp, { recursive: true, force: true });
});

describe('--tls-cert / --tls-key', () => {
  it('serves HTTPS; a client trusting the CA (caPem or HOIST_CA_CERT) gets in, one that does not is told how', async () => {
    expect(server.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const trusted = new HoistClient({ apiUrl: server.url, token: server.adminToken, caPem: ca.certPem });
    expect((await trusted.whoami()).kind).toBe('admin');

    const fromEnv = new HoistClient({
      apiUrl: server.url,
      token: server.adminToken,
      caPem: caPemFromEnv({ HOIST_CA_CERT: caFile }),
    });
    expect((await fromEnv.whoami()).kind).toBe('admin');

    const untrusted = new HoistClient({ apiUrl: server.url, token: server.adminToken });
    await expect(untrusted.whoami()).rejects.toMatchObject({
      status: 0,
      code: 'unreachable',
      message: expect.stringMatching(/not trusted: set HOIST_CA_CERT/) as unknown as string,
    });
    // Plain HTTP to the TLS port gets no answer from the API.
    const plain = new HoistClient({
      apiUrl: server.url.replace('https:', 'http:'),
      token: server.adminToken,
    });
    await expect(plain.whoami()).rejects.toMatchObject({ status: 0 });
  });

  it("the setup action's release lookup trusts HOIST_CA_CERT too", async () => {
    const before = process.env.HOIST_CA_CERT;
    process.env.HOIST_CA_CERT = caFile;
    try {
      // No release is served here: a 404 from the server proves the TLS connection worked.
      await expect(new HttpReleaseSource(server.url).cliRelease('9.9.9')).rejects.toMatchObject({
        status: 404,
      });
    } finally {
      if (before === undefined) delete process.env.HOIST_CA_CERT;
      else process.env.HOIST_CA_CERT = before;
    }
  });

  it('refuses half a configuration, an unreadable file and a key that is not the certificate’s', async () => {
    const dataDir = path.join(tmp, 'data');
    expect(() => loadConfig({ 'data-dir': dataDir, 'tls-cert': certFile }, {})).toThrow(ConfigurationError);
    expect(() => loadConfig({ 'data-dir': dataDir, 'tls-cert': certFile }, {})).toThrow(
      /needs both a certificate and its key: --tls-cert is set but --tls-key \(HOIST_TLS_KEY\) is not/,
    );
    expect(() =>
      loadConfig({ 'data-dir': dataDir, 'tls-cert': path.join(tmp, 'missing.pem'), 'tls-key': keyFile }, {}),
    ).toThrow(/--tls-cert: cannot read .*missing\.pem/);
    const other = await issueServerCert(ca, { commonName: 'other', dnsNames: ['localhost'] });
    const otherKey = path.join(tmp, 'other-key.pem');
    await fs.writeFile(otherKey, other.keyPem, { mode: 0o600 });
    expect(() => loadConfig({ 'data-dir': dataDir, 'tls-cert': certFile, 'tls-key': otherKey }, {})).toThrow(
      /are not a PEM certificate and its private key/,
    );
    // The variables work like the flags.
    const viaEnv = loadConfig({ 'data-dir': dataDir }, { HOIST_TLS_CERT: certFile, HOIST_TLS_KEY: keyFile });
    expect(viaEnv.tls?.certFile).toBe(certFile);
  });
});

describe('hoist build against an https:// server with a private CA', () => {
  let registry: Registry;
  let docker: DockerConfig;

  beforeAll(async () => {
    registry = await startRegistry();
    docker = await makeDockerConfig();
  });

  afterAll(async () => {
    await docker?.cleanup();
    await registry?.stop();
  });

  it('builds with HOIST_CA_CERT, and says what to set without it', async () => {
    const s = await startTestServer({
      flags: { 'tls-cert': certFile, 'tls-key': keyFile, 'builder-insecure-registries': registry.host },
    });
    try {
      const admin = new HoistClient({ apiUrl: s.url, token: s.adminToken, caPem: ca.certPem });
      const p = await admin.createProject({ name: 'tls-build' });
      const t = await admin.createProjectToken(p.id, { name: 'ci' });
      const ctx = path.join(tmp, 'ctx');
      await fs.mkdir(ctx, { recursive: true });
      await fs.writeFile(path.join(ctx, 'Dockerfile'), `FROM ${registry.baseImage}\nRUN echo tls > /x\n`);
      const pemParent = await fs.mkdtemp(path.join(tmp, 'pems-'));
      const env = (extra: Record<string, string | undefined>) => ({
        ...process.env,
        ...docker.env,
        HOIST_API_URL: s.url,
        HOIST_TOKEN: t.token,
        HOIST_CONFIG: path.join(tmp, 'no-config.json'),
        HOIST_TMPDIR: pemParent,
        HOIST_BUILDX: undefined,
        HOIST_CA_CERT: undefined,
        ...extra,
      });
      let stderr = '';
      const io = (e: NodeJS.ProcessEnv) => ({
        env: e,
        cwd: ctx,
        stderr: { write: (x: string) => (stderr += x) },
        stdout: { write: () => true },
      });
      const ok = await runBuild(['--output', 'type=cacheonly', ctx], io(env({ HOIST_CA_CERT: caFile })));
      expect({ ok, stderr: ok === 0 ? '' : stderr }).toEqual({ ok: 0, stderr: '' });
      expect(stderr).toMatch(/hoist: build bld_\w+: https:\/\/127\.0\.0\.1/);

      await expect(runBuild(['--output', 'type=cacheonly', ctx], io(env({})))).rejects.toThrow(
        /not trusted: set HOIST_CA_CERT/,
      );
      await expect(
        runBuild(['--output', 'type=cacheonly', ctx], io(env({ HOIST_CA_CERT: path.join(tmp, 'nope.pem') }))),
      ).rejects.toThrow(/HOIST_CA_CERT=.*nope\.pem cannot be read/);
    } finally {
      await s.stop();
    }
  });
});
