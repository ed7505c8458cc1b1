// A build's credentials die with it: the attacks of the isolation review, each against a real
// server, its builders' gateway and real buildkitd. Every "refused" here was "opened" before the
// gateway (buildkitd's own mTLS cannot revoke a certificate).
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { X509Certificate } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tls from 'node:tls';
import type { AuditEvent, BuilderActive, BuildInfo, Project } from '../../src/lib/api-types.js';
import { HoistClient } from '../../src/lib/client.js';
import { runBuild } from '../../src/cli/build-run.js';
import {
  engineBinaries,
  makeDockerConfig,
  startRegistry,
  type DockerConfig,
  type Registry,
} from '../helpers/engine.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { buildctlWorkers } from '../providers/buildctl.js';

jest.setTimeout(300_000);

let tmp: string;
let registry: Registry;
let docker: DockerConfig;
const servers: TestServer[] = [];

async function server(flags: Record<string, string> = {}): Promise<TestServer> {
  const s = await startTestServer({ flags: { 'builder-insecure-registries': registry.host, ...flags } });
  servers.push(s);
  return s;
}

async function project(
  s: TestServer,
  name: string,
  extra: Partial<Project> = {},
): Promise<{ p: Project; client: HoistClient; tokenId: string; token: string }> {
  const r = await s.api<Project>('POST', '/v1/projects', { name, ...extra });
  if (r.status !== 201) throw new Error(`create project: ${r.status} ${JSON.stringify(r.body)}`);
  const t = await s.createProjectToken(r.body.id);
  return {
    p: r.body,
    client: new HoistClient({ apiUrl: s.url, token: t.token }),
    tokenId: t.id,
    token: t.token,
  };
}

async function acquire(c: HoistClient, buildId: string): Promise<BuilderActive> {
  for (let i = 0; i < 200; i++) {
    const a = await c.builder(buildId, 'linux/amd64');
    if (a.status === 'active') return a;
    await new Promise((r) => setTimeout(r, a.retry_after_ms));
  }
  throw new Error('builder never became active');
}

/** Does `buildctl debug workers` get in with these PEMs? */
async function opens(
  a: BuilderActive,
  cert: { certPem: string; keyPem: string } = pems(a),
): Promise<boolean> {
  const probe = { endpoint: a.endpoint, serverName: a.server_name, caPem: a.ca_pem };
  return (await buildctlWorkers(engineBinaries().buildctl, tmp, probe, cert)).ok;
}

const pems = (a: BuilderActive) => ({ certPem: a.cert_pem, keyPem: a.key_pem });

/**
 * A connection the gateway let in (buildkitd answered the HTTP/2 preface), held open; `closed`
 * resolves with the time the gateway closed it.
 */
async function holdConnection(a: BuilderActive): Promise<{ closed: Promise<number>; socket: tls.TLSSocket }> {
  const url = new URL(a.endpoint.replace(/^tcp:/, 'http:'));
  const socket = tls.connect({
    host: url.hostname,
    port: Number(url.port),
    servername: a.server_name,
    ca: a.ca_pem,
    cert: a.cert_pem,
    key: a.key_pem,
    ALPNProtocols: ['h2'],
  });
  const closed = new Promise<number>((r) => socket.once('close', () => r(Date.now())));
  socket.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    let buf = Buffer.alloc(0);
    socket.once('secureConnect', () =>
      socket.write(
        Buffer.concat([
          Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'),
          Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]),
        ]),
      ),
    );
    socket.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (buf.length < 9) return;
      if (buf[3] === 4) resolve();
      else reject(new Error('no SETTINGS'));
    });
    socket.once('close', () => reject(new Error('closed before buildkitd answered')));
  });
  return { closed, socket };
}

async function within(p: Promise<number>, ms: number): Promise<number> {
  const t0 = Date.now();
  const at = await Promise.race([p, new Promise<number>((r) => setTimeout(() => r(-1), ms))]);
  if (at < 0) throw new Error(`connection still open after ${ms} ms`);
  return at - t0;
}

beforeAll(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'hoist-creds-itg-'));
  registry = await startRegistry();
  docker = await makeDockerConfig();
});

afterAll(async () => {
  for (const s of servers) await s.stop().catch(() => undefined);
  await docker?.cleanup();
  await registry?.stop();
  await fs.rm(tmp, { recursive: true, force: true });
});

describe('a finished build', () => {
  it('its certificate no longer opens the builder, even after a restart, and its open connection closes at once', async () => {
    const s = await server();
    const { client } = await project(s, 'done');
    const b = await client.createBuild({ platforms: ['linux/amd64'] });
    const bc = client.withToken(b.build_token);
    const a = await acquire(bc, b.build_id);
    expect(await opens(a)).toBe(true);
    const held = await holdConnection(a);

    await bc.finishBuild(b.build_id, { status: 'success' });
    expect(await within(held.closed, 1000)).toBeLessThan(1000);
    expect(await opens(a)).toBe(false);
    await s.restart();
    const b2 = await client.createBuild({ platforms: ['linux/amd64'] });
    const again = await acquire(client.withToken(b2.build_token), b2.build_id);
    expect(again.endpoint).toBe(a.endpoint);
    expect(await opens(a)).toBe(false);
    expect(await opens(again)).toBe(true);
  });

  it('with max_concurrent_builds=1, a finished build’s certificate cannot start a build; the next build gets the slot', async () => {
    const s = await server();
    const { client } = await project(s, 'one', { max_concurrent_builds: 1 });
    const b1 = await client.createBuild({ platforms: ['linux/amd64'] });
    const a1 = await acquire(client.withToken(b1.build_token), b1.build_id);
    await client.withToken(b1.build_token).finishBuild(b1.build_id, { status: 'success' });
    const b2 = await client.createBuild({ platforms: ['linux/amd64'] });
    const a2 = await acquire(client.withToken(b2.build_token), b2.build_id);
    expect(a2.builder_id).toBe(a1.builder_id);
    // The old build's certificate: refused, so what runs on the builder is what acquire counted.
    const probe = { endpoint: a1.endpoint, serverName: a1.server_name, caPem: a1.ca_pem };
    const r = await buildctlWorkers(engineBinaries().buildctl, tmp, probe, pems(a1));
    expect(r.ok).toBe(false);
    expect(await opens(a2)).toBe(true);
  });
});

describe('an expired build', () => {
  it('has its open connections closed by the server and is audited', async () => {
    const s = await server({ 'build-heartbeat-grace': '2s' });
    const { client } = await project(s, 'silent');
    const b = await client.createBuild({ platforms: ['linux/amd64'] });
    const a = await acquire(client.withToken(b.build_token), b.build_id);
    const held = await holdConnection(a);
    // No heartbeat (a killed `hoist build`): the build expires and its connection is cut.
    expect(await within(held.closed, 10_000)).toBeLessThan(10_000);
    const info = (await s.api<BuildInfo>('GET', `/v1/builds/${b.build_id}`)).body;
    expect(info.status).toBe('expired');
    expect(await opens(a)).toBe(false);
    const events = (await s.api<{ events: AuditEvent[] }>('GET', '/v1/audit?action=build.expire')).body
      .events;
    expect(events.map((e) => [e.subject, e.details.build_id])).toEqual([['hoist server', b.build_id]]);
  });
});

describe('ending the parent ends the build', () => {
  it('revoking the token that created a build cancels it, closes its connections and refuses its certificate', async () => {
    const s = await server();
    const { p, client, tokenId } = await project(s, 'revoked');
    const b = await client.createBuild({ platforms: ['linux/amd64'] });
    const bc = client.withToken(b.build_token);
    const a = await acquire(bc, b.build_id);
    const held = await holdConnection(a);

    const r = await s.api('DELETE', `/v1/projects/${p.id}/tokens/${tokenId}`);
    expect(r.status).toBe(200);
    expect(await within(held.closed, 2000)).toBeLessThan(2000);
    const info = (await s.api<BuildInfo>('GET', `/v1/builds/${b.build_id}`)).body;
    expect(info.status).toBe('canceled');
    expect(info.error).toMatch(/token that created this build was revoked/);
    const cancel = (await s.api<{ events: AuditEvent[] }>('GET', '/v1/audit?action=build.cancel')).body
      .events;
    expect(cancel.map((e) => [e.subject, e.details.build_id])).toEqual([['hoist server', b.build_id]]);
    await expect(bc.heartbeat(b.build_id)).rejects.toMatchObject({ status: 409, code: 'build_finished' });
    await expect(bc.builder(b.build_id, 'linux/amd64')).rejects.toMatchObject({ status: 409 });
    expect(await opens(a)).toBe(false);
  });

  it('a build lives no longer than the token that created it', async () => {
    const s = await server();
    const { p } = await project(s, 'short-token');
    const t = await s.createProjectToken(p.id, 'two minutes', 120);
    const c = new HoistClient({ apiUrl: s.url, token: t.token });
    const b = await c.createBuild({ platforms: ['linux/amd64'] });
    const a = await acquire(c.withToken(b.build_token), b.build_id);
    expect(a.build_expires_at).toBe(t.expires_at);
    expect(Date.parse(a.expires_at)).toBeLessThanOrEqual(Date.parse(t.expires_at!));
    const tok = await s.running!.deps.tokens.list({ project_id: p.id, kind: 'build' });
    expect(tok[0]!.expires_at).toBe(t.expires_at);
  });

  it('an admin cancel ends the build on the server at once and closes its connections', async () => {
    const s = await server();
    const { client } = await project(s, 'cancel');
    const b = await client.createBuild({ platforms: ['linux/amd64'] });
    const bc = client.withToken(b.build_token);
    const a = await acquire(bc, b.build_id);
    const held = await holdConnection(a);
    const r = await s.api<BuildInfo>('POST', `/v1/builds/${b.build_id}/cancel`, {});
    expect(r.body).toMatchObject({
      status: 'canceled',
      error: expect.stringMatching(/canceled by admin token/) as unknown as string,
    });
    expect(await within(held.closed, 1000)).toBeLessThan(1000);
    await expect(bc.heartbeat(b.build_id)).rejects.toMatchObject({ status: 409, code: 'build_finished' });
    expect(await opens(a)).toBe(false);
    const events = (await s.api<{ events: AuditEvent[] }>('GET', '/v1/audit?action=build.cancel')).body
      .events;
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      subject: expect.stringMatching(/^admin token tok_/) as unknown as string,
      details: {
        build_id: b.build_id,
        status: 'canceled',
        revoked_serials: [new X509Certificate(a.cert_pem).serialNumber],
      },
    });
  });

  it('deleting the project closes its builds’ connections and refuses their certificates', async () => {
    const s = await server();
    const { p, client } = await project(s, 'deleted');
    const b = await client.createBuild({ platforms: ['linux/amd64'] });
    const a = await acquire(client.withToken(b.build_token), b.build_id);
    const held = await holdConnection(a);
    expect((await s.api('DELETE', `/v1/projects/${p.id}`)).status).toBeLessThan(300);
    expect(await within(held.closed, 2000)).toBeLessThan(2000);
    expect(await opens(a)).toBe(false);
  });
});

describe('short-lived certificates', () => {
  it('are renewed by heartbeats for the same key, every serial recorded and audited', async () => {
    // 4 s: long enough that the renewed certificate is still valid, on a loaded machine, when the
    // first has expired and is checked.
    const s = await server({ 'build-cert-lifetime': '4s' });
    const { p, client } = await project(s, 'renew');
    const b = await client.createBuild({ platforms: ['linux/amd64'] });
    const bc = client.withToken(b.build_token);
    const a = await acquire(bc, b.build_id);
    const first = new X509Certificate(a.cert_pem);
    expect(Date.parse(a.expires_at) - Date.now()).toBeLessThanOrEqual(4000);
    expect(a.heartbeat_ms).toBe(1000);
    // Too young to renew: nothing new.
    expect(await bc.heartbeat(b.build_id)).toEqual({ cancel: false });
    await new Promise((r) => setTimeout(r, 2200));
    const hb = await bc.heartbeat(b.build_id);
    expect(hb.certs).toHaveLength(1);
    const renewed = new X509Certificate(hb.certs![0]!.cert_pem);
    expect(renewed.serialNumber).not.toBe(first.serialNumber);
    expect(renewed.publicKey.export({ format: 'der', type: 'spki' })).toEqual(
      first.publicKey.export({ format: 'der', type: 'spki' }),
    );
    // After the first certificate expired, the renewed one (same key file) still opens the builder.
    await new Promise((r) => setTimeout(r, Math.max(0, Date.parse(a.expires_at) - Date.now()) + 300));
    expect(await opens(a)).toBe(false);
    expect(await opens(a, { certPem: hb.certs![0]!.cert_pem, keyPem: a.key_pem })).toBe(true);
    await bc.finishBuild(b.build_id, { status: 'success' });

    const rows = await s.running!.deps.db.all<{
      serial: string;
      not_after: string;
      revoked_at: string | null;
    }>('SELECT serial, not_after, revoked_at FROM build_certs WHERE build_id = ? ORDER BY issued_at', [
      b.build_id,
    ]);
    expect(rows.map((r) => r.serial)).toEqual([first.serialNumber, renewed.serialNumber]);
    expect(rows.every((r) => r.revoked_at !== null)).toBe(true);
    const events = (await s.api<{ events: AuditEvent[] }>('GET', `/v1/audit?project=${p.id}&limit=50`)).body
      .events;
    const actions = events.map((e) => e.action).reverse();
    expect(actions).toEqual(
      expect.arrayContaining(['build.create', 'build.cert_issue', 'build.finish']) as unknown as string[],
    );
    const issued = events.filter((e) => e.action === 'build.cert_issue');
    expect(issued.map((e) => e.details.serial).sort()).toEqual(
      [first.serialNumber, renewed.serialNumber].sort(),
    );
    expect(issued.every((e) => typeof e.details.not_after === 'string')).toBe(true);
  });

  it('a `hoist build` longer than the certificate lifetime succeeds; its cert.pem is renewed in place', async () => {
    const s = await server({ 'build-cert-lifetime': '3s' });
    const { token } = await project(s, 'long');
    const ctx = path.join(tmp, 'long-ctx');
    await fs.mkdir(ctx, { recursive: true });
    await fs.writeFile(
      path.join(ctx, 'Dockerfile'),
      `FROM ${registry.baseImage}\nRUN sleep 9 && echo "$(date +%s%N)" > /slept\n`,
    );
    const pemParent = await fs.mkdtemp(path.join(tmp, 'pems-'));
    const seen = new Set<string>();
    let renewedOpened: boolean | undefined;
    // Watch the PEM files while the build runs: their serial changes, and after the first
    // certificate expired, the files on disk still open the builder.
    const watch = (async () => {
      const t0 = Date.now();
      while (Date.now() - t0 < 60_000) {
        const dirs = (await fs.readdir(pemParent)).filter((d) => d.startsWith('hoist-build-'));
        for (const d of dirs) {
          const cert = await fs.readFile(path.join(pemParent, d, '0', 'cert.pem'), 'utf8').catch(() => '');
          if (!cert) continue;
          const st = await fs.stat(path.join(pemParent, d, '0', 'cert.pem')).catch(() => null);
          expect(st ? st.mode & 0o777 : 0o600).toBe(0o600);
          seen.add(new X509Certificate(cert).serialNumber);
          if (seen.size >= 3 && renewedOpened === undefined) {
            const key = await fs.readFile(path.join(pemParent, d, '0', 'key.pem'), 'utf8');
            const ca = await fs.readFile(path.join(pemParent, d, '0', 'ca.pem'), 'utf8');
            const row = (await s.running!.deps.db.get<{ endpoint: string }>(
              'SELECT endpoint FROM builders',
            ))!;
            const sn = (await s.running!.deps.db.get<{ id: string }>('SELECT id FROM builders'))!;
            renewedOpened = await opens(
              {
                endpoint: row.endpoint,
                server_name: `${sn.id.toLowerCase().replace(/[^a-z0-9-]/g, '-')}.builders.hoist.internal`,
                ca_pem: ca,
              } as BuilderActive,
              { certPem: cert, keyPem: key },
            );
          }
        }
        if (dirs.length === 0 && seen.size > 0) return;
        await new Promise((r) => setTimeout(r, 200));
      }
    })();
    let stderr = '';
    const code = await runBuild(['--progress=plain', '--output', 'type=cacheonly', ctx], {
      env: {
        ...process.env,
        ...docker.env,
        HOIST_API_URL: s.url,
        HOIST_TOKEN: token,
        HOIST_CONFIG: path.join(tmp, 'no-config.json'),
        HOIST_TMPDIR: pemParent,
        HOIST_HEARTBEAT_MS: '5000',
        HOIST_BUILDX: undefined,
      },
      cwd: ctx,
      stderr: { write: (t: string) => (stderr += t) },
      stdout: { write: () => true },
    });
    await watch;
    expect({ code, stderr: code === 0 ? '' : stderr }).toEqual({ code: 0, stderr: '' });
    // 9 s of RUN with 3 s certificates: renewed at least twice, and the renewed files worked.
    expect(seen.size).toBeGreaterThanOrEqual(3);
    expect(renewedOpened).toBe(true);
    const id = /hoist: build (bld_\w+)/.exec(stderr)![1]!;
    const certs = await s.running!.deps.db.all<{ serial: string }>(
      'SELECT serial FROM build_certs WHERE build_id = ?',
      [id],
    );
    expect(certs.length).toBeGreaterThanOrEqual(3);
    expect(await fs.readdir(pemParent)).toEqual([]);
  });
});
