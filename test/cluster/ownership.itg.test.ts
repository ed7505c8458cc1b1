// Two replicas on one PostgreSQL with real buildkitd builders, in this process: a leader never
// stops, replaces or marks stopped a builder another live replica owns and its provider cannot
// see (here: replicas with data directories of their own, as on two hosts), and a builder's
// concurrency limit holds when two replicas admit builds to it at the same moment.
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import pg from 'pg';
import type { BuilderAnswer, Project } from '../../src/lib/api-types.js';
import { HoistClient } from '../../src/lib/client.js';
import { processAlive } from '../../src/providers/provider.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

jest.setTimeout(180_000);

let pgs: TestPostgres;

beforeAll(async () => {
  pgs = await startPostgres();
});

afterAll(async () => {
  await pgs?.stop();
});

async function waitFor(what: string, check: () => Promise<boolean> | boolean, ms = 20_000): Promise<void> {
  const t0 = Date.now();
  while (!(await check())) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function acquire(c: HoistClient, buildId: string): Promise<BuilderAnswer & { status: 'active' }> {
  for (let i = 0; i < 300; i++) {
    const a = await c.builder(buildId, 'linux/amd64');
    if (a.status === 'active') return a;
    await new Promise((r) => setTimeout(r, a.retry_after_ms));
  }
  throw new Error('no builder');
}

const leaderOf = (s: TestServer) => s.running!.deps.leader;

describe('a leader and builders of another live replica', () => {
  let a: TestServer;
  let b: TestServer;
  let url: string;

  beforeAll(async () => {
    url = await pgs.createDatabase('owners');
    // The health sweep runs every 5 s: a leader that replaced or marked stopped builders it does
    // not own would do it within the test. (Idle stops and health replacement are the leader's
    // provisioner's; the idle timeout is long so only a wrong reap could touch the builder.)
    const flags = { 'builder-idle-timeout': '10m', 'build-heartbeat-grace': '60s' };
    a = await startTestServer({ databaseUrl: url, captureLogs: true, flags });
    await waitFor('a to lead', () => leaderOf(a).isLeader());
    b = await startTestServer({ databaseUrl: url, captureLogs: true, flags });
  });

  afterAll(async () => {
    // b first: a, alone then, stops the builders it started.
    await b?.stop();
    await a?.stop();
  });

  it('never marks them stopped, stops or replaces them, as follower or as leader', async () => {
    expect(leaderOf(b).isLeader()).toBe(false);
    const project = await a.createProject('owned');
    const token = (await a.createProjectToken(project.id)).token;
    const viaA = new HoistClient({ apiUrl: a.url, token });
    const build = await viaA.createBuild({ platforms: ['linux/amd64'] });
    const got = await acquire(viaA.withToken(build.build_token), build.build_id);
    const db = a.running!.deps.db;
    const row = async () =>
      (await db.get<{ state: string; owner: string; pid: number }>(
        'SELECT state, owner, pid FROM builders WHERE id = ?',
        [got.builder_id],
      ))!;
    const before = await row();
    expect(before).toMatchObject({ state: 'running', owner: leaderOf(a).replicaId });

    // b takes the lease while a lives on (what a's lock session dropping does).
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1', [
      `hoist:${leaderOf(a).replicaId}`,
    ]);
    await admin.end();
    await waitFor('b to take over', () => leaderOf(b).isLeader());
    await waitFor('a to follow b', () => leaderOf(a).status().leader_id === leaderOf(b).replicaId);
    // The build ends, and b's sweeps (the health check every 5 s) have run.
    await viaA.withToken(build.build_token).finishBuild(build.build_id, { status: 'success' });
    await new Promise((r) => setTimeout(r, 7000));

    expect(await row()).toEqual(before);
    expect(processAlive(before.pid)).toBe(true);
    const bLogs = b.logs().map((l) => l.msg);
    expect(bLogs).toContain('took over as leader');
    expect(bLogs).toContain('leader: builders adopted');
    for (const msg of [
      'builder process is gone; marked stopped',
      'builder stopped; cache kept',
      'builder unhealthy; replacing it with the same cache',
    ])
      expect(bLogs).not.toContain(msg);
  });
});

describe('a concurrency limit admitted on two replicas at once', () => {
  let a: TestServer;
  let b: TestServer;
  let dataDir: string;

  beforeAll(async () => {
    const url = await pgs.createDatabase('limits');
    // One data directory: both replicas reach the same builder processes.
    dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'hoist-limits-'));
    a = await startTestServer({ databaseUrl: url, dataDir });
    await waitFor('a to lead', () => leaderOf(a).isLeader());
    b = await startTestServer({ databaseUrl: url, dataDir });
  });

  afterAll(async () => {
    await b?.stop();
    await a?.stop();
    await fs.rm(dataDir, { recursive: true, force: true });
  });

  it('gives one build the single slot and tells the other it is busy, every time', async () => {
    const r = await a.api<Project>('POST', '/v1/projects', { name: 'one-slot', max_concurrent_builds: 1 });
    const token = (await a.createProjectToken(r.body.id)).token;
    const viaA = new HoistClient({ apiUrl: a.url, token });
    const viaB = new HoistClient({ apiUrl: b.url, token });
    // Start the builder once, through each replica, so both answer from a warm path.
    const warm = await viaA.createBuild({ platforms: ['linux/amd64'] });
    await acquire(viaA.withToken(warm.build_token), warm.build_id);
    await viaA.withToken(warm.build_token).finishBuild(warm.build_id, { status: 'success' });
    const warmB = await viaB.createBuild({ platforms: ['linux/amd64'] });
    await acquire(viaB.withToken(warmB.build_token), warmB.build_id);
    await viaB.withToken(warmB.build_token).finishBuild(warmB.build_id, { status: 'success' });

    for (let round = 0; round < 5; round++) {
      const [x, y] = await Promise.all([
        viaA.createBuild({ platforms: ['linux/amd64'] }),
        viaB.createBuild({ platforms: ['linux/amd64'] }),
      ]);
      const poll = () =>
        Promise.all([
          viaA.withToken(x!.build_token).builder(x!.build_id, 'linux/amd64'),
          viaB.withToken(y!.build_token).builder(y!.build_id, 'linux/amd64'),
        ]);
      // Only the leader places builds: both may wait until its next pass (the previous round's
      // slot is freed there), but never may both hold the single slot.
      let answers = await poll();
      const t0 = Date.now();
      while (!answers.some((s) => s.status === 'active') && Date.now() - t0 < 15_000) {
        expect(answers.map((s) => s.status)).toEqual(['pending', 'pending']);
        await new Promise((res) => setTimeout(res, 200));
        answers = await poll();
      }
      expect(answers.map((s) => s.status).sort()).toEqual(['active', 'pending']);
      // Asked again, the one that waits still waits while the other holds the slot.
      expect((await poll()).map((s) => s.status).sort()).toEqual(['active', 'pending']);
      await viaA.withToken(x!.build_token).finishBuild(x!.build_id, { status: 'success' });
      await viaB.withToken(y!.build_token).finishBuild(y!.build_id, { status: 'success' });
    }
  });
});
