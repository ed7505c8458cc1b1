// Build insights: what the dashboard and GET /v1/builds/{id} show beyond a build's lifecycle.
import type { FastifyInstance } from 'fastify';
import type { BuildContextInput, BuildPhases, PostStepsRequest } from '../../lib/api-types.js';
import type { BuildRow } from '../builds/store.js';
import type { BuildService } from '../builds/service.js';
import { conflict } from '../http/errors.js';
import type { HoistDeps } from '../http/plugin.js';
import type { AuthContext } from '../auth/tokens.js';
import type { Provider } from '../../providers/provider.js';
import { errorMessage } from '../../lib/errors.js';
import { CacheSnapshots } from './cache.js';
import type { InsightsConfig } from './config.js';
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
            inputs: { type: 'array', maxItems: 64, items: str(128) },
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

export { INSIGHTS_OPTIONS, loadInsightsConfig } from './config.js';

export class Insights {
  readonly store: InsightsStore;
  readonly events = new BuildEvents();
  readonly cache: CacheSnapshots;
  private pruneTimer: NodeJS.Timeout | null = null;
  constructor(
    private readonly deps: HoistDeps,
    provider: Provider,
    readonly config: InsightsConfig,
  ) {
    this.store = new InsightsStore(deps.db);
    const log = deps.logger.child({ component: 'insights' });
    this.cache = new CacheSnapshots(deps.db, provider, deps.clock, (builder, err) =>
      log.warn({ builder, err: errorMessage(err) }, 'builder cache snapshot failed'),
    );
  }

  /** The cache snapshot interval and the steps retention, until stop(). */
  start(): void {
    this.cache.start(this.config.cacheSnapshotIntervalMs);
    const prune = (): void =>
      void this.prune().catch((err: unknown) =>
        this.deps.logger.error({ err: errorMessage(err) }, 'pruning build steps failed'),
      );
    prune();
    this.pruneTimer = setInterval(prune, 10 * 60_000);
    this.pruneTimer.unref();
  }

  prune(): Promise<number> {
    const c = this.config;
    if (c.stepsRetentionDays === null && c.stepsRetentionBuilds === null) return Promise.resolve(0);
    return this.store.pruneSteps({
      days: c.stepsRetentionDays,
      keep: c.stepsRetentionBuilds,
      now: this.deps.clock.now(),
    });
  }

  async stop(): Promise<void> {
    if (this.pruneTimer) clearInterval(this.pruneTimer);
    this.pruneTimer = null;
    await this.cache.stop();
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
    // after each build, its builders' caches (in the background: the client is not kept waiting)
    if (this.config.cacheSnapshotIntervalMs) {
      const used = await this.store.db.all<{ builder_id: string }>(
        'SELECT builder_id FROM build_builders WHERE build_id = ? AND builder_id IS NOT NULL',
        [row.id],
      );
      for (const u of used) void this.cache.snapshot(u.builder_id, 'build');
    }
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
