// Build insights: what the dashboard and GET /v1/builds/{id} show beyond a build's lifecycle.
import type { FastifyInstance } from 'fastify';
import type { BuildContextInput, BuildPhases, PostStepsRequest } from '../../lib/api-types.js';
import type { BuildRow } from '../builds/store.js';
import type { BuildService } from '../builds/service.js';
import { conflict } from '../http/errors.js';
import type { HoistDeps } from '../http/plugin.js';
import type { AuthContext } from '../auth/tokens.js';
import { BuildEvents } from './events.js';
import { InsightsStore } from './store.js';

export { insightsMigrations } from './migrations.js';

const str = (max: number) => ({ type: 'string', maxLength: max }) as const;
const nullable = (max: number) => ({ type: ['string', 'null'], maxLength: max }) as const;

const stepsSchema = {
  params: { type: 'object', properties: { id: str(128) }, required: ['id'] },
  body: {
    type: 'object',
    additionalProperties: false,
    required: ['steps'],
    properties: {
      steps: {
        type: 'array',
        maxItems: 2000,
        items: {
          type: 'object',
          additionalProperties: false,
          required: ['platform', 'digest', 'name', 'cached', 'log_tail'],
          properties: {
            platform: str(64),
            digest: str(128),
            name: str(4096),
            stage: nullable(256),
            instruction: nullable(4096),
            started_at: nullable(64),
            completed_at: nullable(64),
            cached: { type: 'boolean' },
            error: nullable(8192),
            log_tail: str(64 * 1024),
          },
        },
      },
      warnings: {
        type: 'array',
        maxItems: 500,
        items: {
          type: 'object',
          additionalProperties: false,
          required: ['platform', 'message'],
          properties: {
            platform: str(64),
            rule: nullable(128),
            message: str(8192),
            line: { type: ['integer', 'null'] },
            end_line: { type: ['integer', 'null'] },
          },
        },
      },
      dockerfile: {
        type: 'object',
        additionalProperties: false,
        required: ['path', 'sha256'],
        properties: { path: str(1024), sha256: str(64), contents: nullable(1024 * 1024) },
      },
    },
  },
};

export class Insights {
  readonly store: InsightsStore;
  readonly events = new BuildEvents();
  constructor(deps: HoistDeps) {
    this.store = new InsightsStore(deps.db);
  }

  async created(buildId: string, who: AuthContext, context: BuildContextInput | undefined): Promise<void> {
    const row = await this.store.db.get<{ project_id: string }>(
      'SELECT project_id FROM builds WHERE id = ?',
      [buildId],
    );
    if (row) await this.store.recordCreate(buildId, row.project_id, who, context);
    this.events.changed(buildId);
  }

  async finished(row: BuildRow, phases: BuildPhases | undefined): Promise<void> {
    if (phases) await this.store.savePhases(row.id, row.project_id, phases);
    this.events.changed(row.id);
  }

  /** POST /v1/builds/{id}/steps: a running build's steps, warnings and Dockerfile. */
  registerRoutes(app: FastifyInstance, deps: HoistDeps, service: BuildService): void {
    app.post(
      '/v1/builds/:id/steps',
      { schema: stepsSchema, bodyLimit: 32 * 1024 * 1024 },
      async (request) => {
        const who = await deps.auth.authenticate(request, 'build', 'project', 'oidc', 'admin');
        const build = await service.visibleBuild(who, (request.params as { id: string }).id);
        if (build.status !== 'queued' && build.status !== 'running') {
          throw conflict(
            'build_finished',
            `build ${build.id} already finished (${build.status}); send steps before finishing it`,
          );
        }
        const n = await this.store.saveSteps(build.id, build.project_id, request.body as PostStepsRequest);
        this.events.changed(build.id);
        return { steps: n };
      },
    );
  }
}
