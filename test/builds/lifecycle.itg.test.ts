// The build lifecycle on both databases (SQLite and PostgreSQL) with real buildkitd builders:
// statuses and timings, queueing, idle stop with the cache kept, listing, and metrics.
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import type { BuilderActive, BuildInfo, Project } from '../../src/lib/api-types.js';
import { HoistClient } from '../../src/lib/client.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

jest.setTimeout(120_000);

let pg: TestPostgres;

beforeAll(async () => {
  pg = await startPostgres();
});

afterAll(async () => {
  await pg?.stop();
});

async function acquire(c: HoistClient, buildId: string): Promise<BuilderActive> {
  for (let i = 0; i < 200; i++) {
    const a = await c.builder(buildId, 'linux/amd64');
    if (a.status === 'active') return a;
    await new Promise((r) => setTimeout(r, a.retry_after_ms));
  }
  throw new Error('builder never became active');
}

async function waitFor(what: string, check: () => Promise<boolean>, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe.each(['sqlite', 'postgres'] as const)('build lifecycle on %s', (dialect) => {
  let s: TestServer;
  let project: Project;
  let client: HoistClient;

  beforeAll(async () => {
    const databaseUrl = dialect === 'postgres' ? await pg.createDatabase(`builds_${Date.now()}`) : undefined;
    s = await startTestServer({
      databaseUrl,
      flags: { 'builder-idle-timeout': '1s', 'build-heartbeat-grace': '30s' },
    });
    const r = await s.api<Project>('POST', '/v1/projects', { name: 'life', max_concurrent_builds: 2 });
    project = r.body;
    client = new HoistClient({ apiUrl: s.url, token: (await s.createProjectToken(project.id)).token });
  });

  afterAll(async () => {
    await s?.stop();
  });

  it('moves builds through queued → running → final statuses with timings, within the concurrency limit', async () => {
    const builds = await Promise.all([1, 2, 3].map(() => client.createBuild({ platforms: ['linux/amd64'] })));
    const [c1, c2, c3] = builds.map((b) => client.withToken(b.build_token));
    for (const b of builds) expect((await client.getBuild(b.build_id)).status).toBe('queued');

    const a1 = await acquire(c1!, builds[0]!.build_id);
    const a2 = await acquire(c2!, builds[1]!.build_id);
    expect(a2.builder_id).toBe(a1.builder_id);
    expect(a2.cert_pem).not.toBe(a1.cert_pem);
    const p3 = await c3!.builder(builds[2]!.build_id, 'linux/amd64');
    expect(p3.status).toBe('pending');
    if (p3.status === 'pending') expect(p3.reason).toMatch(/busy: 2 of 2 concurrent builds/);

    const running = await client.getBuild(builds[0]!.build_id);
    expect(running).toMatchObject({
      status: 'running',
      builders: [{ platform: 'linux/amd64', builder_id: a1.builder_id }],
    });
    expect(running.acquired_at! >= running.queued_at).toBe(true);
    expect(running.finished_at).toBeNull();

    await c1!.finishBuild(builds[0]!.build_id, { status: 'success' });
    const a3 = await acquire(c3!, builds[2]!.build_id);
    expect(a3.builder_id).toBe(a1.builder_id);
    const failed = await c2!.finishBuild(builds[1]!.build_id, { status: 'failed', error: 'exit code 1' });
    expect(failed).toMatchObject({ status: 'failed', error: 'exit code 1' });
    const ok = await c3!.finishBuild(builds[2]!.build_id, { status: 'success', error: 'ignored on success' });
    expect(ok).toMatchObject({ status: 'success', error: null });

    const list = await client.request<{ builds: BuildInfo[] }>('GET', '/v1/builds?limit=10');
    // Newest first; builds created within the same millisecond have no defined order.
    const listed = list.builds.map((b) => `${b.id}:${b.status}`);
    expect(listed).toHaveLength(3);
    expect([...listed].sort()).toEqual(
      [
        `${builds[0]!.build_id}:success`,
        `${builds[1]!.build_id}:failed`,
        `${builds[2]!.build_id}:success`,
      ].sort(),
    );
    const onlyFailed = await client.request<{ builds: BuildInfo[] }>('GET', '/v1/builds?status=failed');
    expect(onlyFailed.builds.map((b) => b.id)).toEqual([builds[1]!.build_id]);
    const anonymous = await s.api('GET', '/v1/builds', undefined, null);
    expect(anonymous.status).toBe(401);
    const badStatus = await s.api<{ error: { message: string } }>('GET', '/v1/builds?status=done');
    expect(badStatus.status).toBe(400);
    expect(badStatus.body.error.message).toMatch(/querystring\.status must be one of/);

    const metrics = await (await fetch(`${s.url}/metrics`)).text();
    expect(metrics).toMatch(/^hoist_builds\{status="success"\} 2$/m);
    expect(metrics).toMatch(/^hoist_builds\{status="failed"\} 1$/m);
    expect(metrics).toMatch(/^hoist_build_acquire_seconds_count\{platform="linux\/amd64"\} 3$/m);
    expect(metrics).toMatch(/^hoist_builds_waiting_over_5m 0$/m);
  });

  it('stops an idle builder after the idle timeout, keeps its cache, and starts it again on demand', async () => {
    const db = s.running!.deps.db;
    const [row] = await db.all<{ id: string }>('SELECT id FROM builders');
    const dir = path.join(s.dataDir, 'builders', row!.id);
    await waitFor('the idle builder to stop', async () => {
      const r = await db.get<{ state: string }>('SELECT state FROM builders WHERE id = ?', [row!.id]);
      return r?.state === 'stopped';
    });
    await expect(fs.stat(path.join(dir, 'buildkitd.pid'))).rejects.toThrow();
    expect((await fs.stat(path.join(dir, 'root'))).isDirectory()).toBe(true);
    const metrics = await (await fetch(`${s.url}/metrics`)).text();
    expect(metrics).toMatch(/^hoist_builders_running 0$/m);

    const b = await client.createBuild({ platforms: [] });
    const t0 = Date.now();
    const a = await acquire(client.withToken(b.build_token), b.build_id);
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(a.builder_id).toBe(row!.id);
    await client.withToken(b.build_token).finishBuild(b.build_id, { status: 'success' });
  });
});
