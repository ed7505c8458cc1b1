// Per-project autoscaling settings through the API and `hoist projects`, on SQLite and PostgreSQL:
// defaults, updates, validation errors that name the field and its range, and the CLI's tables.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import type { Project } from '../../src/lib/api-types.js';
import { runAdmin } from '../../src/cli/admin.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

jest.setTimeout(120_000);
type ErrorBody = { error: { code: string; message: string } };

describe.each(['sqlite', 'postgres'] as const)('project settings on %s', (backend) => {
  let pg: TestPostgres | undefined;
  let server: TestServer;
  let home: string;

  beforeAll(async () => {
    home = mkdtempSync(join(tmpdir(), 'hoist-home-'));
    let databaseUrl: string | undefined;
    if (backend === 'postgres') {
      pg = await startPostgres();
      databaseUrl = await pg.createDatabase('hoist_settings');
    }
    server = await startTestServer({ databaseUrl });
  }, 60_000);

  afterAll(async () => {
    await server?.stop();
    await pg?.stop();
    rmSync(home, { recursive: true, force: true });
  }, 30_000);

  const hoist = async (...argv: string[]): Promise<{ code: number; out: string; err: string }> => {
    let out = '';
    let err = '';
    const [group, ...rest] = argv;
    const code = await runAdmin(group!, rest, {
      env: { HOME: home, HOIST_API_URL: server.url, HOIST_TOKEN: server.adminToken },
      stdout: { write: (s: string) => (out += s) },
      stderr: { write: (s: string) => (err += s) },
      stdin: process.stdin,
    }).catch((e: unknown) => {
      err += (e as Error).message;
      return 1;
    });
    return { code, out, err };
  };

  it('has autoscaling off and 10 builders per platform by default, and keeps what PATCH sets', async () => {
    const p = await server.createProject('settings-a');
    expect(p).toMatchObject({
      autoscaling: false,
      max_builders_per_platform: 10,
      max_concurrent_builds: null,
    });
    const r = await server.api<Project>('PATCH', `/v1/projects/${p.id}`, {
      autoscaling: true,
      max_concurrent_builds: 2,
      max_builders_per_platform: 3,
    });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({
      autoscaling: true,
      max_concurrent_builds: 2,
      max_builders_per_platform: 3,
    });
    const read = await server.api<Project>('GET', `/v1/projects/${p.id}`);
    expect(read.body).toMatchObject({
      autoscaling: true,
      max_concurrent_builds: 2,
      max_builders_per_platform: 3,
    });
    expect(await server.running!.deps.projects.require(p.id)).toMatchObject({
      autoscaling: true,
      max_builders_per_platform: 3,
    });
    const created = await server.api<Project>('POST', '/v1/projects', {
      name: 'settings-b',
      autoscaling: true,
      max_concurrent_builds: 4,
      max_builders_per_platform: 200,
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      autoscaling: true,
      max_concurrent_builds: 4,
      max_builders_per_platform: 200,
    });
  });

  it('refuses bad settings with a message naming the field and range, and changes nothing', async () => {
    const p = await server.createProject('settings-c');
    const cases: [unknown, RegExp][] = [
      [
        { max_builders_per_platform: 0 },
        /max_builders_per_platform must be a whole number from 1 to 1000, got 0/,
      ],
      [{ max_builders_per_platform: 5000 }, /max_builders_per_platform .* from 1 to 1000, got 5000/],
      [{ max_concurrent_builds: 0 }, /max_concurrent_builds must be a whole number from 1 to 10000, got 0/],
      [{ max_concurrent_builds: 1.5 }, /max_concurrent_builds .* got 1.5/],
      [{ autoscaling: true }, /autoscaling needs a builds-per-builder limit: set max_concurrent_builds/],
      [{ autoscaling: 'on' }, /body.autoscaling must be boolean/],
      [{ max_builders_per_platform: '3' }, /body.max_builders_per_platform must be number/],
      [{ builders: 3 }, /body.builders is not a known field/],
    ];
    for (const [body, message] of cases) {
      const r = await server.api<ErrorBody>('PATCH', `/v1/projects/${p.id}`, body);
      expect({ body, status: r.status, message: r.body.error.message }).toEqual({
        body,
        status: 400,
        message: expect.stringMatching(message),
      });
    }
    const after = await server.api<Project>('GET', `/v1/projects/${p.id}`);
    expect(after.body).toMatchObject({
      autoscaling: false,
      max_concurrent_builds: null,
      max_builders_per_platform: 10,
    });
    const create = await server.api<ErrorBody>('POST', '/v1/projects', {
      name: 'settings-bad',
      autoscaling: true,
    });
    expect(create.status).toBe(400);
    expect((await server.api('GET', '/v1/projects/settings-bad')).status).toBe(404);
  });

  it('`hoist projects update` changes them and `show`/`list` print them', async () => {
    await server.createProject('settings-cli');
    const up = await hoist(
      'projects',
      'update',
      'settings-cli',
      '--autoscaling',
      'on',
      '--max-concurrent-builds',
      '2',
      '--max-builders-per-platform',
      '3',
    );
    expect(up).toMatchObject({ code: 0, err: '' });
    expect(up.out).toMatch(/AUTOSCALING\s+MAX BUILDERS\/PLATFORM/);
    const show = await hoist('projects', 'show', 'settings-cli');
    expect(show.out).toMatch(/settings-cli\s+2\s+on\s+3\s/);
    const list = await hoist('projects', 'list', '--json');
    const row = (JSON.parse(list.out) as Project[]).find((x) => x.name === 'settings-cli');
    expect(row).toMatchObject({ autoscaling: true, max_concurrent_builds: 2, max_builders_per_platform: 3 });
    const off = await hoist(
      'projects',
      'update',
      'settings-cli',
      '--autoscaling',
      'off',
      '--max-concurrent-builds',
      'unlimited',
    );
    expect(off.code).toBe(0);
    expect((await hoist('projects', 'show', 'settings-cli')).out).toMatch(
      /settings-cli\s+unlimited\s+off\s+3\s/,
    );
    const bad = await hoist('projects', 'update', 'settings-cli', '--max-builders-per-platform', '0');
    expect(bad.code).not.toBe(0);
    expect(bad.err).toMatch(/max_builders_per_platform must be a whole number from 1 to 1000, got 0/);
    const none = await hoist('projects', 'update', 'settings-cli');
    expect(none.err).toMatch(/nothing to change; pass --name/);
  });
});
