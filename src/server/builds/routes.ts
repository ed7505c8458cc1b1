import type { FastifyInstance, FastifyRequest } from 'fastify';
import {
  BUILD_ERROR_MAX_BYTES,
  BUILD_OPTIONS_MAX_BYTES,
  type BuildStatus,
  type CreateBuildRequest,
  type CreateBuildResponse,
  type FinishBuildRequest,
} from '../../lib/api-types.js';
import { ApiError, badRequest, conflict } from '../http/errors.js';
import type { HoistDeps } from '../http/plugin.js';
import type { AuthContext } from '../auth/tokens.js';
import { sha256Hex } from '../util.js';
import type { Insights } from '../insights/index.js';
import type { BuildService } from './service.js';

const ID = { type: 'string', minLength: 1, maxLength: 128 } as const;
const STATUSES: BuildStatus[] = ['queued', 'running', 'success', 'failed', 'canceled', 'expired'];

const createSchema = {
  // acquire=true: the answer carries each platform's builder when it is ready at once
  querystring: {
    type: 'object',
    properties: { acquire: { type: 'string', enum: ['true', 'false'] } },
  },
  body: {
    type: 'object',
    additionalProperties: false,
    properties: {
      project: { type: 'string', minLength: 1, maxLength: 128 },
      platforms: { type: 'array', maxItems: 64, items: { type: 'string', maxLength: 64 } },
      options: { type: 'object' },
      context: {
        type: 'object',
        additionalProperties: false,
        required: ['source'],
        properties: {
          source: { type: 'string', enum: ['cli', 'action'] },
          github: {
            type: 'object',
            additionalProperties: { type: 'string', maxLength: 1024 },
            maxProperties: 16,
          },
        },
      },
    },
  },
};

const finishSchema = {
  params: { type: 'object', properties: { id: ID }, required: ['id'] },
  body: {
    type: 'object',
    additionalProperties: false,
    required: ['status'],
    properties: {
      status: { type: 'string', enum: ['success', 'failed', 'canceled'] },
      // Its size in bytes is checked by the service (a 413 that says what to do).
      error: { type: ['string', 'null'] },
      phases: {
        type: 'object',
        maxProperties: 16,
        additionalProperties: { type: 'number', minimum: 0, maximum: 1e10 },
      },
    },
  },
};

const idParams = { params: { type: 'object', properties: { id: ID }, required: ['id'] } };

const listSchema = {
  querystring: {
    type: 'object',
    additionalProperties: false,
    properties: {
      project: { type: 'string', minLength: 1, maxLength: 128 },
      status: { type: 'string', enum: STATUSES },
      limit: { type: 'string', pattern: '^[0-9]{1,4}$' },
      before: { type: 'string', maxLength: 128 },
    },
  },
};

export function registerBuildRoutes(
  app: FastifyInstance,
  deps: HoistDeps,
  service: BuildService,
  insights: Insights,
): void {
  const buildUrl = (id: string): string => `${deps.publicUrl()}/v1/builds/${id}`;

  /**
   * Authenticates; a build token that died with its build gets a 409 that says the build
   * finished, rather than a bare "revoked".
   */
  const authenticate = async (
    request: FastifyRequest,
    ...kinds: AuthContext['kind'][]
  ): Promise<AuthContext> => {
    try {
      return await deps.auth.authenticate(request, ...kinds);
    } catch (err) {
      if (err instanceof ApiError && (err.code === 'token_revoked' || err.code === 'token_expired')) {
        const m = /^Bearer\s+(hoist_bld_\S+)\s*$/i.exec(request.headers.authorization ?? '');
        if (m) {
          const row = await deps.db.get<{ build_id: string | null }>(
            'SELECT build_id FROM tokens WHERE hash = ?',
            [sha256Hex(m[1]!)],
          );
          const build = row?.build_id ? await service.store.getBuild(row.build_id) : undefined;
          if (build && build.status !== 'queued' && build.status !== 'running') {
            throw conflict(
              'build_finished',
              `build ${build.id} already finished with status ${build.status} at ${build.finished_at}${build.error ? ` (${build.error})` : ''}; its build token works no more. Start a new build.`,
            );
          }
        }
      }
      throw err;
    }
  };

  // Bodies larger than any valid request are refused before they are read in full (with room
  // for JSON escapes: a control character takes 6 bytes as \u001b).
  app.post(
    '/v1/builds',
    { schema: createSchema, bodyLimit: 4 * BUILD_OPTIONS_MAX_BYTES },
    async (request, reply) => {
      const who = await authenticate(request, 'project', 'oidc', 'admin', 'build');
      const body = (request.body ?? {}) as CreateBuildRequest;
      const res: CreateBuildResponse = await service.create(who, body, buildUrl);
      const acquire = (request.query as { acquire?: string }).acquire === 'true';
      // the dashboard's record of the build and its builders, at the same time
      const [, builders] = await Promise.all([
        insights.created(res.build_id, who, body.context),
        acquire ? service.acquireAtCreate(res.build_id) : undefined,
      ]);
      if (builders) {
        res.builders = builders;
        if (builders.some((b) => b.status === 'active')) insights.events.changed(res.build_id);
      }
      return reply.code(201).send(res);
    },
  );

  app.get('/v1/builds', { schema: listSchema }, async (request) => {
    const who = await authenticate(request);
    const q = request.query as { project?: string; status?: BuildStatus; limit?: string; before?: string };
    const limit = q.limit === undefined ? 50 : Number(q.limit);
    if (limit < 1 || limit > 500)
      throw badRequest('invalid_request', 'querystring.limit must be between 1 and 500');
    const rows = await service.list(who, { project: q.project, status: q.status, limit, before: q.before });
    return { builds: await service.info(rows, buildUrl) };
  });

  app.get('/v1/builds/:id', { schema: idParams }, async (request) => {
    const who = await authenticate(request);
    const build = await service.visibleBuild(who, (request.params as { id: string }).id);
    return { ...(await service.info([build], buildUrl))[0], insights: await insights.store.get(build.id) };
  });

  // The platform holds a slash: accept it percent-encoded (the client's form) or raw.
  app.get('/v1/builds/:id/builders/*', { schema: idParams }, async (request) => {
    const who = await authenticate(request);
    const params = request.params as { id: string; '*': string };
    let platform = params['*'] ?? '';
    if (platform.includes('%')) {
      try {
        platform = decodeURIComponent(platform);
      } catch {
        throw badRequest('invalid_platform', `platform "${platform}" is not valid percent-encoding`);
      }
    }
    const answer = await service.acquire(who, params.id, platform);
    if (answer.status === 'active') insights.events.changed(params.id);
    return answer;
  });

  app.post('/v1/builds/:id/heartbeat', { schema: idParams }, async (request) => {
    const who = await authenticate(request);
    return service.heartbeat(who, (request.params as { id: string }).id);
  });

  app.post(
    '/v1/builds/:id/finish',
    { schema: finishSchema, bodyLimit: 8 * BUILD_ERROR_MAX_BYTES },
    async (request) => {
      const who = await authenticate(request);
      const body = request.body as FinishBuildRequest;
      const row = await service.finish(who, (request.params as { id: string }).id, body);
      await insights.finished(row, body.phases);
      return (await service.info([row], buildUrl))[0];
    },
  );

  app.post('/v1/builds/:id/cancel', { schema: idParams }, async (request) => {
    const who = await authenticate(request);
    // the dashboard hears of it from the service (onEnded), as of every end
    const info = await service.cancel(who, (request.params as { id: string }).id);
    return { ...info, build_url: buildUrl(info.id) };
  });
}
