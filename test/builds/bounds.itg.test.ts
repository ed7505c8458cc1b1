// A hostile tenant against the server's bounds: the most active builds per project, the
// creation rate limit, the size of `options` and `error`, the retention purge, build and
// download URLs that ignore the Host header, project names that look like ids, and a build
// error full of terminal escapes shown by `hoist builds list/show`. A real server over HTTP on
// SQLite and on PostgreSQL; no builder is started (every bound holds before one would be).
import { request } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import type { BuildInfo, CreateBuildResponse, Project } from '../../src/lib/api-types.js';
import { HoistClient } from '../../src/lib/client.js';
import { HoistApiError } from '../../src/lib/errors.js';
import { runAdmin } from '../../src/cli/admin.js';
import { createBuild } from '../../src/cli/build-run.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { startTestServer, type ApiResult, type TestServer } from '../helpers/server.js';

jest.setTimeout(120_000);

type ErrorBody = { error: { code: string; message: string } };
const DAY = 86_400_000;

describe.each(['sqlite', 'postgres'] as const)('build bounds on %s', (backend) => {
  let pg: TestPostgres | undefined;
  /** --project-max-active-builds 5, no creation rate limit. */
  let capped: TestServer;
  /** --build-create-rate 60 (a second) --build-create-burst 3. */
  let limited: TestServer;
  let releases: string;

  const db = (s: TestServer) => s.running!.deps.db;
  const count = async (s: TestServer, sql: string, params: string[]): Promise<number> =>
    Number((await db(s).get<{ n: number | string }>(sql, params))!.n);

  async function project(s: TestServer, name: string): Promise<{ p: Project; token: string }> {
    const p = await s.createProject(name);
    return { p, token: (await s.createProjectToken(p.id)).token };
  }

  const create = (s: TestServer, token: string, body: unknown = { platforms: [] }) =>
    s.api<CreateBuildResponse & ErrorBody>('POST', '/v1/builds', body, token);

  beforeAll(async () => {
    releases = mkdtempSync(join(tmpdir(), 'hoist-releases-'));
    writeFileSync(join(releases, 'hoist-0.3.0-linux-x64.tar.gz'), 'tarball');
    let urls: (string | undefined)[] = [undefined, undefined];
    if (backend === 'postgres') {
      pg = await startPostgres();
      urls = [await pg.createDatabase('hoist_capped'), await pg.createDatabase('hoist_limited')];
    }
    capped = await startTestServer({
      databaseUrl: urls[0],
      flags: { 'project-max-active-builds': '5', 'build-create-rate': '0', 'releases-dir': releases },
    });
    limited = await startTestServer({
      databaseUrl: urls[1],
      flags: { 'build-create-rate': '60', 'build-create-burst': '3' },
    });
  }, 60_000);

  afterAll(async () => {
    await capped?.stop();
    await limited?.stop();
    await pg?.stop();
    rmSync(releases, { recursive: true, force: true });
  }, 30_000);

  it('a project cannot exceed its build cap', async () => {
    const { p, token } = await project(capped, 'cap-a');
    // One token fires 12 creations at once: exactly 5 are written.
    const answers = await Promise.all(Array.from({ length: 12 }, () => create(capped, token)));
    const ok = answers.filter((a) => a.status === 201);
    const refused = answers.filter((a) => a.status === 429);
    expect([ok.length, refused.length]).toEqual([5, 7]);
    for (const r of refused) {
      expect(r.body.error.code).toBe('too_many_active_builds');
      expect(r.headers.get('retry-after')).toBe('30');
      expect(r.body.error.message).toMatch(
        /project cap-a has 5 queued or running builds, the most this server allows per project; retry after 30 s/,
      );
      expect(r.body.error.message).toMatch(
        /--project-max-active-builds \(HOIST_PROJECT_MAX_ACTIVE_BUILDS, now 5\)/,
      );
    }
    const where = [p.id];
    expect(await count(capped, 'SELECT COUNT(*) AS n FROM builds WHERE project_id = ?', where)).toBe(5);
    expect(
      await count(
        capped,
        'SELECT COUNT(*) AS n FROM build_builders bb JOIN builds b ON b.id = bb.build_id WHERE b.project_id = ?',
        where,
      ),
    ).toBe(5);
    expect(
      await count(capped, `SELECT COUNT(*) AS n FROM tokens WHERE kind = 'build' AND project_id = ?`, where),
    ).toBe(5);

    // The cap holds for an admin token too, and another project is not affected.
    const admin = await create(capped, capped.adminToken, { project: 'cap-a', platforms: [] });
    expect(admin.status).toBe(429);
    const other = await project(capped, 'cap-b');
    expect((await create(capped, other.token)).status).toBe(201);

    // A finished build frees its place: one more fits, and the next is refused again.
    const first = ok[0]!.body;
    const fin = await capped.api(
      'POST',
      `/v1/builds/${first.build_id}/finish`,
      { status: 'canceled' },
      first.build_token,
    );
    expect(fin.status).toBe(200);
    expect((await create(capped, token)).status).toBe(201);
    expect((await create(capped, token)).status).toBe(429);
    expect(await count(capped, 'SELECT COUNT(*) AS n FROM builds WHERE project_id = ?', where)).toBe(6);
  });

  it('rate-limits build creation per project with a 429 and Retry-After', async () => {
    const a = await project(limited, 'rate-a');
    const b = await project(limited, 'rate-b');
    for (let i = 0; i < 3; i++) expect((await create(limited, a.token)).status).toBe(201);
    const refused = await create(limited, a.token);
    expect(refused.status).toBe(429);
    expect(refused.body.error.code).toBe('build_rate_limited');
    const retry = Number(refused.headers.get('retry-after'));
    expect(retry).toBeGreaterThanOrEqual(1);
    expect(retry).toBeLessThanOrEqual(2);
    expect(refused.body.error.message).toMatch(
      /project rate-a is creating builds faster than this server allows: 60 a minute per project \(bursts of 3\); retry after \d+ s.*--build-create-rate and --build-create-burst/,
    );
    // Nothing was written for it, and the admin token shares the project's bucket.
    expect(await count(limited, 'SELECT COUNT(*) AS n FROM builds WHERE project_id = ?', [a.p.id])).toBe(3);
    expect((await create(limited, limited.adminToken, { project: 'rate-a', platforms: [] })).status).toBe(
      429,
    );
    // Another project has its own bucket.
    expect((await create(limited, b.token)).status).toBe(201);
    // After Retry-After, the project may create again.
    await new Promise((r) => setTimeout(r, retry * 1000 + 50));
    expect((await create(limited, a.token)).status).toBe(201);
  });

  it('hoist build waits out a 429 as Retry-After says, within --wait, and gives up past it', async () => {
    const { token } = await project(limited, 'rate-cli');
    const client = new HoistClient({ apiUrl: limited.url, token });
    for (let i = 0; i < 3; i++) expect((await create(limited, token)).status).toBe(201);
    const said: string[] = [];
    const never = new AbortController().signal;
    // Past the burst: a deadline shorter than Retry-After (1 s) fails at once with the server's words.
    const t0 = Date.now();
    const early = await createBuild(client, { platforms: [] }, Date.now() + 300, never, (m) =>
      said.push(m),
    ).then(
      () => null,
      (e: unknown) => e,
    );
    expect(early).toBeInstanceOf(HoistApiError);
    expect(early).toMatchObject({ status: 429, code: 'build_rate_limited', retryAfterMs: 1000 });
    expect(Date.now() - t0).toBeLessThan(300);
    // With room, it retries after Retry-After and gets the build, saying once why it waits.
    const created = await createBuild(client, { platforms: [] }, Date.now() + 10_000, never, (m) =>
      said.push(m),
    );
    expect(created.build_id).toMatch(/^bld_/);
    expect(said).toEqual([
      expect.stringMatching(
        /^the server cannot take the build yet; retrying within --wait: project rate-cli is creating builds faster/,
      ),
    ]);
  });

  it('refuses large options with a 413 and writes nothing', async () => {
    const { p, token } = await project(capped, 'options');
    const before = await count(capped, 'SELECT COUNT(*) AS n FROM builds', []);
    const huge = await create(capped, token, { platforms: [], options: { blob: 'x'.repeat(250_000) } });
    expect(huge.status).toBe(413);
    expect(huge.body.error.code).toBe('body_too_large');
    const big = await create(capped, token, { platforms: [], options: { blob: 'é'.repeat(9000) } });
    expect(big.status).toBe(413);
    expect(big.body.error).toEqual({
      code: 'options_too_large',
      message: expect.stringMatching(
        /^body.options is 18011 bytes as JSON; at most 16384 are accepted\. Options describe a build/,
      ) as unknown as string,
    });
    expect(await count(capped, 'SELECT COUNT(*) AS n FROM builds', [])).toBe(before);
    expect(await count(capped, `SELECT COUNT(*) AS n FROM tokens WHERE kind = 'build'`, [])).toBe(
      await count(capped, 'SELECT COUNT(*) AS n FROM builds', []),
    );
    // Options of a realistic size are kept as sent.
    const options = { tags: Array.from({ length: 40 }, (_, i) => `registry.example.com/app:tag-${i}`) };
    const fine = await create(capped, token, { platforms: [], options });
    expect(fine.status).toBe(201);
    const row = await db(capped).get<{ options: string; project_id: string }>(
      'SELECT options, project_id FROM builds WHERE id = ?',
      [fine.body.build_id],
    );
    expect(row).toEqual({ options: JSON.stringify(options), project_id: p.id });
  });

  it('refuses a long error with a 413 that keeps the build open, and shows escapes in hoist builds list/show', async () => {
    const { p, token } = await project(capped, 'errors');
    const created = (await create(capped, token)).body;
    const finish = (error: string) =>
      capped.api<BuildInfo & ErrorBody>(
        'POST',
        `/v1/builds/${created.build_id}/finish`,
        { status: 'failed', error },
        created.build_token,
      );
    const long = await finish('e'.repeat(5000));
    expect(long.status).toBe(413);
    expect(long.body.error.code).toBe('error_too_large');
    expect(long.body.error.message).toMatch(
      /body.error is 5000 bytes; at most 4096 are accepted.*still queued, so finish it again with a shorter error/,
    );
    const huge = await finish('e'.repeat(200_000));
    expect(huge.status).toBe(413);
    expect(
      (await capped.api<BuildInfo>('GET', `/v1/builds/${created.build_id}`, undefined, token)).body.status,
    ).toBe('queued');

    const hostile = 'boom \x1b[31mRED\x1b[0m \x1b]0;pwned\x07\x1b[2J\rover\u202ewritten';
    const done = await finish(hostile);
    expect(done.status).toBe(200);
    expect(done.body.error).toBe(hostile); // stored and served as sent: the CLI escapes it

    const home = mkdtempSync(join(tmpdir(), 'hoist-cli-home-'));
    try {
      const run = async (...argv: string[]): Promise<string> => {
        let out = '';
        let err = '';
        const code = await runAdmin('builds', argv, {
          env: { HOME: home, HOIST_API_URL: capped.url, HOIST_TOKEN: capped.adminToken },
          stdout: { write: (s: string) => (out += s) },
          stderr: { write: (s: string) => (err += s) },
          stdin: process.stdin,
        });
        expect({ code, err }).toEqual({ code: 0, err: '' });
        return out;
      };
      for (const out of [await run('list', '--project', p.name), await run('show', created.build_id)]) {
        expect(out).toContain(created.build_id);
        expect(out).toContain('boom \\x1b[31mRED\\x1b[0m \\x1b]0;pwned\\x07\\x1b[2J\\rover\\u202ewritten');
        // eslint-disable-next-line no-control-regex
        expect(out).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e]/);
      }
    } finally {
      rmSync(home, { recursive: true, force: true });
    }

    // The server quotes the error in a 409 to the dead build token: the client escapes it too.
    const client = new HoistClient({ apiUrl: capped.url, token: created.build_token });
    const refusal = await client.heartbeat(created.build_id).then(
      () => null,
      (e: unknown) => e,
    );
    expect(refusal).toBeInstanceOf(HoistApiError);
    expect((refusal as HoistApiError).message).toContain('\\x1b[31mRED');
    // eslint-disable-next-line no-control-regex
    expect((refusal as HoistApiError).message).not.toMatch(/[\u0000-\u001f]/);
  });

  it('purges builds finished more than 30 days ago, with their rows and tokens, and keeps the rest', async () => {
    const { p, token } = await project(capped, 'retention');
    const ids: CreateBuildResponse[] = [];
    for (let i = 0; i < 3; i++) ids.push((await create(capped, token)).body);
    const [old, recent, active] = ids as [CreateBuildResponse, CreateBuildResponse, CreateBuildResponse];
    for (const b of [old, recent]) {
      const r = await capped.api(
        'POST',
        `/v1/builds/${b.build_id}/finish`,
        { status: 'success' },
        b.build_token,
      );
      expect(r.status).toBe(200);
    }
    const ago = (days: number) => new Date(Date.now() - days * DAY).toISOString();
    await db(capped).run('UPDATE builds SET queued_at = ?, finished_at = ? WHERE id = ?', [
      ago(32),
      ago(31),
      old.build_id,
    ]);
    await db(capped).run('UPDATE builds SET queued_at = ?, finished_at = ? WHERE id = ?', [
      ago(30),
      ago(29),
      recent.build_id,
    ]);
    // Age alone never purges an active build.
    await db(capped).run('UPDATE builds SET queued_at = ? WHERE id = ?', [ago(40), active.build_id]);

    const rows = async (id: string) => [
      await count(capped, 'SELECT COUNT(*) AS n FROM builds WHERE id = ?', [id]),
      await count(capped, 'SELECT COUNT(*) AS n FROM build_builders WHERE build_id = ?', [id]),
      await count(capped, 'SELECT COUNT(*) AS n FROM tokens WHERE build_id = ?', [id]),
    ];
    expect(await rows(old.build_id)).toEqual([1, 1, 1]);
    // The purge runs at start (then every 10 minutes).
    await capped.restart();
    expect(await rows(old.build_id)).toEqual([0, 0, 0]);
    expect(await rows(recent.build_id)).toEqual([1, 1, 1]);
    expect(await rows(active.build_id)).toEqual([1, 1, 1]);
    expect((await capped.api('GET', `/v1/builds/${old.build_id}`, undefined, token)).status).toBe(404);
    const listed = await capped.api<{ builds: BuildInfo[] }>(
      'GET',
      `/v1/builds?project=${p.id}`,
      undefined,
      token,
    );
    expect(listed.body.builds.map((b) => b.id).sort()).toEqual([recent.build_id, active.build_id].sort());
  });

  it('never copies the Host header into build or download URLs', async () => {
    const { token } = await project(capped, 'host-header');
    const send = (method: string, path: string, body?: unknown): Promise<ApiResult<Record<string, string>>> =>
      new Promise((resolve, reject) => {
        const u = new URL(path, capped.url);
        const data = body === undefined ? undefined : JSON.stringify(body);
        const req = request(
          {
            host: u.hostname,
            port: u.port,
            path: u.pathname,
            method,
            headers: {
              host: 'evil.example:666',
              authorization: `Bearer ${token}`,
              ...(data ? { 'content-type': 'application/json' } : {}),
            },
          },
          (res) => {
            let text = '';
            res.on('data', (c: Buffer) => (text += c.toString()));
            res.on('end', () =>
              resolve({
                status: res.statusCode!,
                body: JSON.parse(text) as Record<string, string>,
                headers: new Headers(),
              }),
            );
          },
        );
        req.on('error', reject);
        req.end(data);
      });
    const created = await send('POST', '/v1/builds', { platforms: [] });
    expect(created.status).toBe(201);
    expect(created.body.build_url).toBe(`${capped.url}/v1/builds/${created.body.build_id}`);
    const release = await send('GET', '/v1/cli/releases/latest?os=linux&arch=x64');
    expect(release.status).toBe(200);
    expect(release.body.url).toBe(`${capped.url}/v1/cli/downloads/hoist-0.3.0-linux-x64.tar.gz`);
    expect(JSON.stringify([created.body, release.body])).not.toContain('evil.example');
  });

  it('refuses project names that look like ids', async () => {
    const victim = await capped.createProject('victim');
    const clash = await capped.api<ErrorBody>('POST', '/v1/projects', { name: victim.id });
    expect(clash.status).toBe(400);
    expect(clash.body.error.code).toBe('invalid_name');
    expect(clash.body.error.message).toMatch(/looks like an id.*Pick another name/);
    for (const name of ['prj_x', 'tok_0123456789abcdefghijklmno']) {
      expect((await capped.api('POST', '/v1/projects', { name })).status).toBe(400);
    }
    const other = await capped.createProject('other-name');
    const rename = await capped.api<ErrorBody>('PATCH', `/v1/projects/${other.id}`, { name: victim.id });
    expect(rename.status).toBe(400);
    expect(rename.body.error.code).toBe('invalid_name');
    // Ordinary names with underscores are still fine.
    expect((await capped.api('POST', '/v1/projects', { name: 'my_app' })).status).toBe(201);
    expect((await capped.api<Project>('GET', `/v1/projects/${victim.id}`)).body.name).toBe('victim');
  });

  it('warns at start about a project named like an id from before the rule', async () => {
    const s = await startTestServer({
      databaseUrl: pg ? await pg.createDatabase('hoist_names') : undefined,
      captureLogs: true,
      logLevel: 'warn',
    });
    try {
      const victim = await s.createProject('victim');
      await s.running!.deps.db.run(
        'INSERT INTO projects (id, name, created_at, updated_at) VALUES (?, ?, ?, ?)',
        ['prj_legacy0000000000000000000', victim.id, victim.created_at, victim.created_at],
      );
      await s.restart();
      const warned = s.logs().filter((l) => l.project_id === 'prj_legacy0000000000000000000');
      expect(warned).toEqual([
        expect.objectContaining({
          name: victim.id,
          msg: expect.stringMatching(/shaped like an id.*rename it \(PATCH \/v1\/projects\/prj_legacy/),
        }),
      ]);
      expect(s.logs().filter((l) => l.project_id === victim.id)).toEqual([]);
    } finally {
      await s.stop();
    }
  });
});
