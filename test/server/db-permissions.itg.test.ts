// The data directory and SQLite's files are private: hoist.db, hoist.db-wal and hoist.db-shm
// get no group/other bits whatever the umask, files an older version left readable are narrowed
// (with a warning), and an existing data dir open to group/others is reported at start.
import { chmodSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const mode = (f: string): number => statSync(f).mode & 0o777;
const DB_FILES = ['hoist.db', 'hoist.db-wal', 'hoist.db-shm'];

let oldUmask = 0;
beforeAll(() => {
  // The usual umask, under which SQLite would create 0644 files.
  oldUmask = process.umask(0o022);
});
afterAll(() => {
  process.umask(oldUmask);
});

describe('SQLite files', () => {
  let server: TestServer | undefined;
  let dir = '';
  afterEach(async () => {
    await server?.stop();
    server = undefined;
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('are created 0600, -wal and -shm included, under umask 022', async () => {
    server = await startTestServer({ plugins: [], captureLogs: true });
    await server.createProject('written');
    for (const f of DB_FILES) expect([f, mode(join(server.dataDir, f))]).toEqual([f, 0o600]);
    expect(mode(server.dataDir)).toBe(0o700);
    expect(server.logs().filter((l) => l.level === 40 && /data directory|database file/.test(l.msg))).toEqual(
      [],
    );
  });

  it('left readable by an older version are narrowed at start, with a warning for each', async () => {
    dir = mkdtempSync(join(tmpdir(), 'hoist-perm-'));
    const first = await startTestServer({ plugins: [], dataDir: dir });
    await first.createProject('before');
    await first.stop();
    chmodSync(join(dir, 'hoist.db'), 0o644);

    server = await startTestServer({ plugins: [], dataDir: dir, captureLogs: true });
    expect((await server.api('GET', '/v1/projects')).status).toBe(200);
    for (const f of DB_FILES) expect([f, mode(join(dir, f))]).toEqual([f, 0o600]);
    const warned = server
      .logs()
      .filter(
        (l) => l.level === 40 && /database file .* was readable by group or others \(mode 0644\)/.test(l.msg),
      );
    expect(warned.map((l) => l.msg.split(' ')[3])).toEqual(DB_FILES.map((f) => join(dir, f)));
  });
});

describe.each(['sqlite', 'postgres'] as const)('an existing data directory on %s', (backend) => {
  let pg: TestPostgres | undefined;
  let n = 0;
  let server: TestServer | undefined;
  let dir = '';
  beforeAll(async () => {
    if (backend === 'postgres') pg = await startPostgres();
  }, 60_000);
  afterEach(async () => {
    await server?.stop();
    server = undefined;
    rmSync(dir, { recursive: true, force: true });
  });
  afterAll(async () => {
    await pg?.stop();
  }, 30_000);

  const start = async (dirMode: number) => {
    dir = mkdtempSync(join(tmpdir(), 'hoist-dd-'));
    chmodSync(dir, dirMode);
    const databaseUrl = pg ? await pg.createDatabase(`hoist_dd_${++n}`) : undefined;
    server = await startTestServer({ plugins: [], dataDir: dir, databaseUrl, captureLogs: true });
    return server.logs().filter((l) => l.level === 40 && /data directory/.test(l.msg));
  };

  it('open to group or others is reported at start, with the fix', async () => {
    const warned = await start(0o755);
    expect(warned).toHaveLength(1);
    expect(warned[0]!.msg).toContain(`data directory ${dir} is accessible to group or others (mode 0755)`);
    expect(warned[0]!.msg).toContain(`chmod 700 ${dir}`);
    // The server still starts: a warning, not a refusal.
    expect((await fetch(`${server!.url}/healthz`)).status).toBe(200);
  });

  it('that is private is not reported', async () => {
    expect(await start(0o700)).toEqual([]);
  });
});
