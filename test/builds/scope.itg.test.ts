// A build token drives its own build and nothing else: not a sibling build of the same
// project, not another project's build, not a new build. Real server on SQLite over HTTP;
// no builder is ever started (every refusal comes before one would be).
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import type { CreateBuildResponse, Project } from '../../src/lib/api-types.js';
import { HoistClient } from '../../src/lib/client.js';
import { HoistApiError } from '../../src/lib/errors.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

jest.setTimeout(60_000);

let s: TestServer;
let project: HoistClient;
let mine: CreateBuildResponse;
let sibling: CreateBuildResponse;

async function refusal(p: Promise<unknown>): Promise<HoistApiError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(HoistApiError);
  return err as HoistApiError;
}

beforeAll(async () => {
  s = await startTestServer();
  const r = await s.api<Project>('POST', '/v1/projects', { name: 'scope' });
  project = new HoistClient({ apiUrl: s.url, token: (await s.createProjectToken(r.body.id)).token });
  mine = await project.createBuild({ platforms: [] });
  sibling = await project.createBuild({ platforms: [] });
});

afterAll(async () => {
  await s?.stop();
});

describe('a build token', () => {
  it('cannot see, drive, cancel or finish a sibling build of its own project', async () => {
    const bc = project.withToken(mine.build_token);
    const id = sibling.build_id;
    const calls: [string, Promise<unknown>][] = [
      ['get', bc.getBuild(id)],
      ['builder', bc.builder(id, 'linux/amd64')],
      ['heartbeat', bc.heartbeat(id)],
      ['cancel', bc.request('POST', `/v1/builds/${id}/cancel`, {})],
      ['finish', bc.finishBuild(id, { status: 'success' })],
    ];
    for (const [what, call] of calls) {
      const err = await refusal(call);
      expect({ what, status: err.status, code: err.code }).toEqual({
        what,
        status: 404,
        code: 'build_not_found',
      });
      expect(err.message).toContain(id);
    }
    // The sibling is untouched and still works with its own token.
    const info = await project.getBuild(id);
    expect(info.status).toBe('queued');
    expect(info.finished_at).toBeNull();
    expect((await project.withToken(sibling.build_token).heartbeat(id)).cancel).toBe(false);
  });

  it('lists only its own build, even when it names its project', async () => {
    const bc = project.withToken(mine.build_token);
    const all = await bc.request<{ builds: { id: string }[] }>('GET', '/v1/builds?project=scope');
    expect(all.builds.map((b) => b.id)).toEqual([mine.build_id]);
    // The project token sees both.
    const both = await project.request<{ builds: { id: string }[] }>('GET', '/v1/builds');
    expect(both.builds.map((b) => b.id).sort()).toEqual([mine.build_id, sibling.build_id].sort());
  });

  it('dies with its build: after finish it is refused with a message that says the build finished', async () => {
    const bc = project.withToken(mine.build_token);
    await bc.finishBuild(mine.build_id, { status: 'canceled' });
    const err = await refusal(bc.heartbeat(mine.build_id));
    expect({ status: err.status, code: err.code }).toEqual({ status: 409, code: 'build_finished' });
    expect(err.message).toMatch(/build token works no more/);
    // A dead token opens no other build either.
    const other = await refusal(bc.getBuild(sibling.build_id));
    expect(other.status).toBe(409);
    expect(other.message).not.toContain(sibling.build_id);
  });
});
