// The local provider against real buildkitd processes: mTLS with a CA per builder,
// crash replacement with the same cache, adoption by a new provider instance, and no
// process or pidfile left behind by a failed start.
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { readdirSync, readFileSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { LocalProvider, findBuildkitd } from '../../src/providers/local.js';
import { buildctlWorkers } from './buildctl.js';

// Cold starts take well under a second; the generous limit covers a loaded 2-core machine.
jest.setTimeout(120_000);

let tmp: string;
let buildctl: string;
const providers: LocalProvider[] = [];

async function newProvider(
  extra: Partial<Parameters<typeof LocalProvider.create>[0]> = {},
): Promise<LocalProvider> {
  const p = await LocalProvider.create({
    dataDir: path.join(tmp, 'data'),
    maxUsedSpaceBytes: 512 * 1024 ** 2,
    ...extra,
  });
  providers.push(p);
  return p;
}

/** `buildctl debug workers` over mTLS with the given client cert (or none). */
function workers(
  endpoint: string,
  serverName: string,
  caPem: string,
  cert: { certPem: string; keyPem: string } | null,
): Promise<{ ok: boolean; out: string }> {
  return buildctlWorkers(buildctl, tmp, { endpoint, serverName, caPem }, cert);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Pids of buildkitd processes whose --root is this directory. */
function buildkitdsOn(root: string): number[] {
  const out: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const argv = readFileSync(`/proc/${e}/cmdline`, 'utf8').split('\0');
      const i = argv.indexOf('--root');
      if (path.basename(argv[0] ?? '') === 'buildkitd' && argv[i + 1] === root) out.push(Number(e));
    } catch {
      /* gone */
    }
  }
  return out;
}

beforeAll(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'hoist-provider-'));
  buildctl = path.join(path.dirname(await findBuildkitd()), 'buildctl');
});

afterAll(async () => {
  for (const p of providers) await p.close({ stopBuilders: true }).catch(() => undefined);
  await fs.rm(tmp, { recursive: true, force: true });
});

describe('local provider', () => {
  it('starts a builder with mTLS and its GC policy, and signs certs that open it', async () => {
    const p = await newProvider();
    const started = Date.now();
    // Credentials a control plane may hold in its environment; the builder must not get them.
    process.env.HOIST_DATABASE_URL = 'postgres://hoist:secret@127.0.0.1/hoist';
    process.env.PGPASSWORD = 'secret';
    const b = await p.launch({ id: 'bkr_a', projectId: 'prj_a', platform: 'linux/amd64' }).finally(() => {
      delete process.env.HOIST_DATABASE_URL;
      delete process.env.PGPASSWORD;
    });
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(b.adopted).toBe(false);
    expect(b.endpoint).toMatch(/^tcp:\/\/127\.0\.0\.1:\d+$/);
    expect(b.pid && alive(b.pid)).toBe(true);
    expect(await p.health('bkr_a')).toEqual({ healthy: true });

    const cert = await p.issueClientCert('bkr_a', {
      commonName: 'build x',
      notAfter: new Date(Date.now() + 600_000),
    });
    const res = await workers(b.endpoint, b.serverName, b.caPem, cert);
    expect(res.out).toContain('linux/amd64');
    expect(res.out).toMatch(/Maximum used space:\s+536\.870912MB/);
    expect(res.ok).toBe(true);

    // Secrets on disk are 0600.
    const dir = path.join(tmp, 'data', 'builders', 'bkr_a');
    for (const f of ['ca-key.pem', 'server-key.pem']) {
      expect((await fs.stat(path.join(dir, f))).mode & 0o777).toBe(0o600);
    }
    // ...in a private directory, with no temp copy of a key left behind.
    expect((await fs.stat(dir)).mode & 0o777).toBe(0o700);
    expect((await fs.readdir(dir)).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    // The daemon does not inherit the control plane's credentials (set while it started).
    const environ = (await fs.readFile(`/proc/${b.pid}/environ`, 'utf8')).split('\0');
    expect(environ.filter((e) => /^(HOIST_|PG)|secret/.test(e))).toEqual([]);
    expect(environ.some((e) => e.startsWith('PATH='))).toBe(true);
    // buildkitd listens only on its socket in the private dir; the gateway is the way in.
    const argv = (await fs.readFile(`/proc/${b.pid}/cmdline`, 'utf8')).split('\0');
    expect(argv[argv.indexOf('--addr') + 1]).toBe(`unix://${path.join(dir, 'buildkitd.sock')}`);
    expect(argv.filter((x) => x === '--addr')).toHaveLength(1);
    expect(argv.some((x) => x.startsWith('--tls'))).toBe(false);
    // Without a client certificate the builder refuses.
    const anonymous = await workers(b.endpoint, b.serverName, b.caPem, null);
    expect(anonymous.ok).toBe(false);
    expect(anonymous.out).toMatch(/failed to list workers/);
  });

  it("refuses a certificate of another builder's CA and an expired certificate", async () => {
    const p = await newProvider();
    const a = await p.launch({ id: 'bkr_a', projectId: 'prj_a', platform: 'linux/amd64' });
    const b = await p.launch({ id: 'bkr_b', projectId: 'prj_b', platform: 'linux/amd64' });
    const certA = await p.issueClientCert('bkr_a', {
      commonName: 'build a',
      notAfter: new Date(Date.now() + 600_000),
    });
    const certB = await p.issueClientCert('bkr_b', {
      commonName: 'build b',
      notAfter: new Date(Date.now() + 600_000),
    });
    expect((await workers(b.endpoint, b.serverName, b.caPem, certB)).ok).toBe(true);
    const cross = await workers(b.endpoint, b.serverName, b.caPem, certA);
    expect(cross.ok).toBe(false);
    expect(cross.out).toMatch(/failed to list workers/);

    const shortLived = await p.issueClientCert('bkr_a', {
      commonName: 'build s',
      notAfter: new Date(Date.now() + 2500),
    });
    expect((await workers(a.endpoint, a.serverName, a.caPem, shortLived)).ok).toBe(true);
    await new Promise((r) => setTimeout(r, 3000));
    const expired = await workers(a.endpoint, a.serverName, a.caPem, shortLived);
    expect(expired.ok).toBe(false);
    expect(expired.out).toMatch(/failed to list workers/);
  });

  it('detects a killed builder and replaces it from the same root; a new provider adopts a live one', async () => {
    const p = await newProvider();
    const first = await p.launch({ id: 'bkr_a', projectId: 'prj_a', platform: 'linux/amd64' });
    const root = path.join(tmp, 'data', 'builders', 'bkr_a', 'root');
    const marker = path.join(root, 'hoist-test-marker');
    await fs.writeFile(marker, 'kept');
    // found healthy once (the next check probes the same socket and process without reading files)
    expect(await p.health('bkr_a')).toEqual({ healthy: true });
    process.kill(first.pid!, 'SIGKILL');
    for (let i = 0; i < 100 && alive(first.pid!); i++) await new Promise((r) => setTimeout(r, 20));
    expect(await p.health('bkr_a')).toEqual({ healthy: false, reason: 'buildkitd is not running' });

    const t0 = Date.now();
    const second = await p.launch({ id: 'bkr_a', projectId: 'prj_a', platform: 'linux/amd64' });
    const coldMs = Date.now() - t0;
    expect(second.pid).not.toBe(first.pid);
    expect(second.endpoint).toBe(first.endpoint);
    expect(await fs.readFile(marker, 'utf8')).toBe('kept');
    expect(await p.health('bkr_a')).toEqual({ healthy: true });
    expect(coldMs).toBeLessThan(10_000);

    // A second provider over the same data dir (a restarted server) adopts the live process.
    const again = await newProvider();
    const adopted = await again.launch({ id: 'bkr_a', projectId: 'prj_a', platform: 'linux/amd64' });
    expect(adopted.adopted).toBe(true);
    expect(adopted.pid).toBe(second.pid);
    const listed = await again.list();
    expect(listed.find((l) => l.id === 'bkr_a')).toMatchObject({ state: 'running', pid: second.pid });

    // Idle stop keeps the cache; destroy removes it.
    await again.stop('bkr_a');
    expect(alive(second.pid!)).toBe(false);
    expect(await fs.readFile(marker, 'utf8')).toBe('kept');
    expect((await again.list()).find((l) => l.id === 'bkr_a')?.state).toBe('stopped');
    await again.destroy('bkr_a');
    await expect(fs.stat(path.join(tmp, 'data', 'builders', 'bkr_a'))).rejects.toThrow();
  });

  it('reports the restarted pid after a snapshot; health, stop and a new provider use that one', async () => {
    const p = await newProvider();
    const first = await p.launch({ id: 'bkr_s', projectId: 'prj_s', platform: 'linux/amd64' });
    const dir = path.join(tmp, 'data', 'builders', 'bkr_s');
    expect(await p.health('bkr_s')).toEqual({ healthy: true });
    const snap = await p.snapshot('bkr_s', 'snap-s');
    // The snapshot stopped buildkitd and started a new one: its pid is the one to record.
    expect(alive(first.pid!)).toBe(false);
    const live = buildkitdsOn(path.join(dir, 'root'));
    expect(live).toHaveLength(1);
    expect(snap.restarted).toMatchObject({ id: 'bkr_s', pid: live[0], adopted: false });
    expect(snap.restarted!.startedAt.getTime()).toBeGreaterThan(first.startedAt.getTime());
    expect(snap.restarted!.endpoint).toBe(first.endpoint);
    expect(Number(await fs.readFile(path.join(dir, 'buildkitd.pid'), 'utf8'))).toBe(live[0]);
    const state = JSON.parse(await fs.readFile(path.join(dir, 'state.json'), 'utf8')) as { pid: number };
    expect(state.pid).toBe(live[0]);
    expect(await p.health('bkr_s')).toEqual({ healthy: true });
    expect((await p.list()).find((l) => l.id === 'bkr_s')).toMatchObject({ state: 'running', pid: live[0] });

    // A restarted server adopts the new process, not the one its database recorded at launch.
    const again = await newProvider();
    const adopted = await again.launch({ id: 'bkr_s', projectId: 'prj_s', platform: 'linux/amd64' });
    expect(adopted).toMatchObject({ adopted: true, pid: live[0] });
    expect(await again.health('bkr_s')).toEqual({ healthy: true });

    // The pidfile gone (a replica's clean-up, a hand edit): adoption finds the process and records it.
    await fs.rm(path.join(dir, 'buildkitd.pid'));
    await fs.writeFile(path.join(dir, 'state.json'), JSON.stringify({ ...state, pid: first.pid }));
    const third = await newProvider();
    expect(await third.launch({ id: 'bkr_s', projectId: 'prj_s', platform: 'linux/amd64' })).toMatchObject({
      adopted: true,
      pid: live[0],
    });
    expect(Number(await fs.readFile(path.join(dir, 'buildkitd.pid'), 'utf8'))).toBe(live[0]);
    expect(JSON.parse(await fs.readFile(path.join(dir, 'state.json'), 'utf8'))).toMatchObject({
      pid: live[0],
    });

    // stop() ends the running process (the restarted one).
    await third.stop('bkr_s');
    expect(alive(live[0]!)).toBe(false);
    expect(buildkitdsOn(path.join(dir, 'root'))).toEqual([]);
    expect(await third.health('bkr_s')).toEqual({ healthy: false, reason: 'buildkitd is not running' });
    await third.destroy('bkr_s');
    await third.deleteSnapshot('snap-s');
  });

  it('leaves no process or pidfile behind when a builder cannot start', async () => {
    const fakeDir = path.join(tmp, 'fake');
    await fs.mkdir(fakeDir, { recursive: true });
    const crashing = path.join(fakeDir, 'buildkitd');
    await fs.writeFile(crashing, '#!/bin/sh\necho "fake buildkitd: cannot start" >&2\nexit 3\n', {
      mode: 0o755,
    });
    const p = await newProvider({ buildkitdPath: crashing });
    await expect(p.launch({ id: 'bkr_fail', projectId: 'prj_x', platform: 'linux/amd64' })).rejects.toThrow(
      /did not start: buildkitd exited \(exit code 3\).*cannot start/,
    );
    const dir = path.join(tmp, 'data', 'builders', 'bkr_fail');
    await expect(fs.stat(path.join(dir, 'buildkitd.pid'))).rejects.toThrow();

    const hanging = path.join(fakeDir, 'hang', 'buildkitd');
    await fs.mkdir(path.dirname(hanging), { recursive: true });
    await fs.writeFile(hanging, '#!/bin/sh\necho $$ > "$(dirname "$0")/pid"\nexec sleep 60\n', {
      mode: 0o755,
    });
    const q = await newProvider({ buildkitdPath: hanging, readyTimeoutMs: 1500 });
    await expect(q.launch({ id: 'bkr_hang', projectId: 'prj_x', platform: 'linux/amd64' })).rejects.toThrow(
      /not accepting connections after 1500 ms/,
    );
    const pid = Number(await fs.readFile(path.join(path.dirname(hanging), 'pid'), 'utf8'));
    expect(alive(pid)).toBe(false);
    await expect(fs.stat(path.join(tmp, 'data', 'builders', 'bkr_hang', 'buildkitd.pid'))).rejects.toThrow();
  });

  it('stops every builder on close({stopBuilders: true})', async () => {
    const p = await newProvider();
    const a = await p.launch({ id: 'bkr_c1', projectId: 'prj_c', platform: 'linux/amd64' });
    const b = await p.launch({ id: 'bkr_c2', projectId: 'prj_c', platform: 'linux/amd64' });
    await p.close({ stopBuilders: true });
    expect(alive(a.pid!)).toBe(false);
    expect(alive(b.pid!)).toBe(false);
    expect((await p.list()).filter((l) => l.state === 'running')).toEqual([]);
  });
});
