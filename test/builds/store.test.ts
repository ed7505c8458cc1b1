// The builds data access on a real SQLite file: the queries behind expiry, queue order
// and the "waiting more than five minutes" gauge.
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { migrate, openDatabase, type Db } from '../../src/server/db/index.js';
import { coreMigrations } from '../../src/server/db/migrations/index.js';
import { buildsMigrations } from '../../src/server/builds/migrations.js';
import { BuildStore, type BuildRow } from '../../src/server/builds/store.js';

let dir: string;
let db: Db;
let store: BuildStore;

const T0 = Date.parse('2026-01-01T00:00:00.000Z');
const at = (sec: number) => new Date(T0 + sec * 1000).toISOString();

function build(id: string, over: Partial<BuildRow> = {}): BuildRow {
  return {
    id,
    project_id: 'prj_1',
    status: 'queued',
    platforms: '["linux/amd64"]',
    options: '{}',
    created_by_token: null,
    queued_at: at(0),
    acquired_at: null,
    finished_at: null,
    last_heartbeat_at: at(0),
    expires_at: at(3600),
    cancel_requested: 0,
    error: null,
    ...over,
  };
}

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hoist-builds-store-'));
  db = await openDatabase({ dataDir: dir });
  await migrate(db, [...coreMigrations, ...buildsMigrations]);
  await db.run(
    'INSERT INTO projects (id, name, max_concurrent_builds, created_at, updated_at) VALUES (?, ?, ?, ?, ?)',
    ['prj_1', 'one', 1, at(0), at(0)],
  );
  store = new BuildStore(db);
});

afterEach(async () => {
  await db.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('BuildStore', () => {
  it('finds builds whose heartbeats stopped or whose deadline passed, and only active ones', async () => {
    await store.insertBuild(build('b1', { last_heartbeat_at: at(0) }), ['linux/amd64']);
    await store.insertBuild(build('b2', { last_heartbeat_at: at(100) }), ['linux/amd64']);
    await store.insertBuild(build('b3', { last_heartbeat_at: at(100), expires_at: at(110) }), [
      'linux/amd64',
    ]);
    await store.insertBuild(build('b4', { status: 'success', last_heartbeat_at: at(0) }), ['linux/amd64']);
    const overdue = await store.overdue(at(60), at(120));
    expect(overdue.map((b) => b.id).sort()).toEqual(['b1', 'b3']);
  });

  it('finishes once, and counts builds by status', async () => {
    await store.insertBuild(build('b1'), ['linux/amd64']);
    expect(await store.finish('b1', 'canceled', 'by user', at(5))).toBe(true);
    expect(await store.finish('b1', 'success', null, at(6))).toBe(false);
    expect(await store.getBuild('b1')).toMatchObject({
      status: 'canceled',
      error: 'by user',
      finished_at: at(5),
    });
    expect(await store.countByStatus()).toEqual({ canceled: 1 });
  });

  it('orders waiters by when they started waiting, ignoring ones that stopped polling', async () => {
    for (const id of ['b1', 'b2', 'b3']) await store.insertBuild(build(id), ['linux/amd64']);
    await store.markWaiting('b1', 'linux/amd64', at(10));
    await store.markWaiting('b2', 'linux/amd64', at(20));
    await store.markWaiting('b3', 'linux/amd64', at(30));
    // b3 sees two builds ahead; b1 none.
    expect(await store.waitersBefore('prj_1', 'linux/amd64', 'b3', at(30), at(0))).toBe(2);
    expect(await store.waitersBefore('prj_1', 'linux/amd64', 'b1', at(10), at(0))).toBe(0);
    // Waiters that have not polled since t=15 no longer hold their place.
    expect(await store.waitersBefore('prj_1', 'linux/amd64', 'b3', at(30), at(15))).toBe(1);
    // Polling again keeps the original place in the queue.
    const again = await store.markWaiting('b1', 'linux/amd64', at(40));
    expect(again.waiting_since).toBe(at(10));
    expect(again.last_poll_at).toBe(at(40));
  });

  it('counts builds waiting for a builder since before a moment (the five-minute gauge)', async () => {
    await store.insertBuild(build('old', { queued_at: at(0) }), ['linux/amd64']);
    await store.insertBuild(build('new', { queued_at: at(400) }), ['linux/amd64']);
    await store.insertBuild(build('done', { queued_at: at(0), status: 'failed' }), ['linux/amd64']);
    expect(await store.countWaitingSince(at(301))).toBe(1);
    expect(await store.countWaitingSince(at(401))).toBe(2);
    expect(await store.countWaitingSince(at(0))).toBe(0);
  });
});
