// The provisioning layer with the real local provider and real buildkitd builders: an
// autoscaled project's primary is snapshotted once quiesced, concurrent builds past its limit
// get clones of it (their own builders), idle clones go, and a project with autoscaling off
// keeps one builder. Builds here only acquire and finish; the cache itself is checked by the
// clone tests (test/builds/autoscale.itg.test.ts, test/providers).
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import type { BuilderActive, Project } from '../../src/lib/api-types.js';
import { HoistClient } from '../../src/lib/client.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

jest.setTimeout(180_000);

async function acquire(c: HoistClient, buildId: string): Promise<BuilderActive> {
  for (let i = 0; i < 400; i++) {
    const a = await c.builder(buildId, 'linux/amd64');
    if (a.status === 'active') return a;
    await new Promise((r) => setTimeout(r, a.retry_after_ms));
  }
  throw new Error('builder never became active');
}

async function waitFor(what: string, check: () => Promise<boolean>, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('autoscaling with the local provider', () => {
  let s: TestServer;
  let client: HoistClient;
  let project: Project;

  beforeAll(async () => {
    s = await startTestServer({
      flags: {
        'clone-idle-timeout': '3s',
        'build-share-after': '60s',
        'build-heartbeat-grace': '60s',
        'builder-network': 'host',
        'builder-cgroups': 'off',
      },
    });
    const r = await s.api<Project>('POST', '/v1/projects', {
      name: 'scaled',
      max_concurrent_builds: 2,
      autoscaling: true,
      max_builders_per_platform: 3,
    });
    expect(r.status).toBe(201);
    project = r.body;
    client = new HoistClient({ apiUrl: s.url, token: (await s.createProjectToken(project.id)).token });
  });

  afterAll(async () => {
    await s?.stop();
  });

  it('six concurrent builds at two per builder get the primary and two clones of its snapshot', async () => {
    const db = s.running!.deps.db;
    // A first build leaves the primary dirty; once quiesced it is snapshotted.
    const warm = await client.createBuild({ platforms: ['linux/amd64'] });
    const w = await acquire(client.withToken(warm.build_token), warm.build_id);
    expect(w).toMatchObject({ pool: 'local', role: 'primary', cold_cache: false, shared: false });
    await client.withToken(warm.build_token).finishBuild(warm.build_id, { status: 'success' });
    const primary = w.builder_id;
    await waitFor('the snapshot of the quiesced primary', async () => {
      const row = await db.get<{ state: string }>('SELECT state FROM builders WHERE id = ?', [primary]);
      return row?.state === 'running' && (await snapshots(s)).length === 1;
    });

    const builds = await Promise.all(
      Array.from({ length: 6 }, () => client.createBuild({ platforms: ['linux/amd64'] })),
    );
    const answers = await Promise.all(
      builds.map((b) => acquire(client.withToken(b.build_token), b.build_id)),
    );
    const byBuilder = new Map<string, number>();
    for (const a of answers) byBuilder.set(a.builder_id, (byBuilder.get(a.builder_id) ?? 0) + 1);
    expect(byBuilder.size).toBe(3);
    expect([...byBuilder.values()]).toEqual([2, 2, 2]);
    expect(answers.filter((a) => a.builder_id === primary)).toHaveLength(2);
    const clones = answers.filter((a) => a.role === 'clone');
    expect(clones).toHaveLength(4);
    for (const a of answers) expect(a.shared).toBe(false);
    const rows = await db.all<{ id: string; role: string; snapshot_id: string | null; state: string }>(
      "SELECT id, role, snapshot_id, state FROM builders WHERE role = 'clone' ORDER BY id",
    );
    expect(rows).toHaveLength(2);
    for (const r of rows)
      expect(r).toMatchObject({ state: 'running', snapshot_id: expect.stringMatching(/^snap_/) });

    for (const b of builds)
      await client.withToken(b.build_token).finishBuild(b.build_id, { status: 'success' });
    // Idle clones are destroyed (rows kept as destroyed for the builds that used them).
    await waitFor('the idle clones to go', async () => {
      const left = await db.all<{ state: string }>("SELECT state FROM builders WHERE role = 'clone'");
      return left.every((r) => r.state === 'destroyed');
    });
    for (const r of rows) await expect(fs.stat(path.join(s.dataDir, 'builders', r.id))).rejects.toThrow();
  });
});

async function snapshots(s: TestServer): Promise<string[]> {
  const dir = path.join(s.dataDir, 'builders', '.snapshots');
  const names = await fs.readdir(dir).catch(() => [] as string[]);
  return names.filter((n) => !n.endsWith('.partial'));
}
