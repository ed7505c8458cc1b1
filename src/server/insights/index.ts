// Build insights: what the dashboard and GET /v1/builds/{id} show beyond a build's lifecycle.
import type { FastifyInstance } from 'fastify';
import type { BuildContextInput, BuildPhases, PostStepsRequest } from '../../lib/api-types.js';
import type { BuildRow } from '../builds/store.js';
import type { BuildService } from '../builds/service.js';
import type { HoistDeps } from '../http/plugin.js';
import type { AuthContext } from '../auth/tokens.js';
import type { Provider } from '../../providers/provider.js';
import { errorMessage } from '../../lib/errors.js';
import { RANGES, bucketMs, chartSeries, type ChartPoint } from './analysis.js';
import { CacheSnapshots, type CacheSnapshot } from './cache.js';
import { ApiError, badRequest, conflict } from '../http/errors.js';
import { TrustPolicyStore } from '../auth/trust-store.js';
import { parseClaims, previewClaims } from '../ui/forms.js';
import type { Project } from '../../lib/api-types.js';
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
      partial: { type: 'boolean' },
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

/** A builder as the builders page and GET /v1/builders show it. */
export interface BuilderView {
  id: string;
  project_id: string;
  project_name: string;
  platform: string;
  role: string;
  state: string;
  started_at: string | null;
  restarts: number;
  launch_failures: number;
  last_error: string | null;
  /** build platforms holding a slot on it now */
  in_use: number;
  /** the project's builds per builder (null = unlimited) */
  limit: number | null;
  /** its newest cache snapshot */
  cache: CacheSnapshot | undefined;
}

/** Build platforms waiting for a builder, per project and platform. */
export interface QueueView {
  project_name: string;
  platform: string;
  waiting: number;
  oldest: string | null;
}

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

  /** Every builder with its slots in use and newest cache snapshot, and the queue. */
  async fleet(): Promise<{ builders: BuilderView[]; queue: QueueView[] }> {
    const db = this.deps.db;
    const [rows, inUse, queued, latest] = await Promise.all([
      db.all<Omit<BuilderView, 'in_use' | 'cache' | 'limit'> & { max_concurrent_builds: number | null }>(
        `SELECT b.id, b.project_id, p.name AS project_name, p.max_concurrent_builds, b.platform, b.role, b.state,
           b.started_at, b.restarts, b.launch_failures, b.last_error
         FROM builders b JOIN projects p ON p.id = b.project_id ORDER BY p.name, b.platform, b.role, b.id`,
      ),
      db.all<{ builder_id: string; n: number }>(
        `SELECT bb.builder_id, COUNT(*) AS n FROM build_builders bb JOIN builds x ON x.id = bb.build_id
         WHERE bb.builder_id IS NOT NULL AND x.status IN ('queued', 'running') GROUP BY bb.builder_id`,
      ),
      db.all<QueueView>(
        `SELECT p.name AS project_name, bb.platform, COUNT(*) AS waiting, MIN(bb.waiting_since) AS oldest
         FROM build_builders bb JOIN builds x ON x.id = bb.build_id JOIN projects p ON p.id = x.project_id
         WHERE bb.builder_id IS NULL AND x.status IN ('queued', 'running') GROUP BY p.name, bb.platform
         ORDER BY p.name, bb.platform`,
      ),
      this.cache.latest(),
    ]);
    const use = new Map(inUse.map((r) => [r.builder_id, Number(r.n)]));
    return {
      builders: rows.map(({ max_concurrent_builds, ...b }) => ({
        ...b,
        restarts: Number(b.restarts),
        launch_failures: Number(b.launch_failures),
        in_use: use.get(b.id) ?? 0,
        limit: max_concurrent_builds === null ? null : Number(max_concurrent_builds),
        cache: latest.get(b.id),
      })),
      queue: queued.map((q) => ({ ...q, waiting: Number(q.waiting) })),
    };
  }

  /** Chart points of a project (or all) over a named range ("24h", "7d", "30d", "90d"; default 7d). */
  async charts(
    projectIdOrName: string | null,
    range = '7d',
  ): Promise<{ project: Project | null; range: string; points: ChartPoint[] }> {
    if (!(range in RANGES)) {
      throw new ApiError(
        400,
        'invalid_range',
        `range must be one of ${Object.keys(RANGES).join(', ')}, got "${range.slice(0, 20)}"`,
      );
    }
    const project = projectIdOrName ? ((await this.deps.projects.find(projectIdOrName)) ?? null) : null;
    if (projectIdOrName && !project) {
      throw new ApiError(
        404,
        'project_not_found',
        `no project "${projectIdOrName.slice(0, 100)}"; pick one from the list`,
      );
    }
    // buckets on whole hours/days, the last one holding now
    const now = this.deps.clock.now().getTime();
    const size = bucketMs(now - RANGES[range]!, now);
    const to = (Math.floor(now / size) + 1) * size;
    const from = Math.floor((now - RANGES[range]!) / size) * size;
    const builds = await this.store.chartBuilds(project?.id ?? null, from, to, size);
    return { project, range, points: chartSeries(builds, from, to) };
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

  /** POST /v1/builds/{id}/steps: a running build's steps, warnings and Dockerfile; the builders and charts for admins. */
  registerRoutes(app: FastifyInstance, deps: HoistDeps, service: BuildService): void {
    const admin = { preHandler: deps.auth.require('admin') };
    app.get('/v1/builders', admin, async () => this.fleet());
    // What the OIDC exchange would decide for these claims against one project's policies, and why
    // per policy; nothing is granted or recorded (the project page's claims preview).
    const trust = new TrustPolicyStore(deps.db, deps.clock);
    app.post<{ Params: { id: string }; Body: { claims: Record<string, unknown> } }>(
      '/v1/projects/:id/trust-policies/preview',
      {
        ...admin,
        bodyLimit: 32 * 1024,
        schema: {
          params: { type: 'object', properties: { id: str(128) }, required: ['id'] },
          body: {
            type: 'object',
            additionalProperties: false,
            required: ['claims'],
            properties: { claims: { type: 'object' } },
          },
        },
      },
      async (req) => {
        const project = await deps.projects.require(req.params.id);
        const parsed = parseClaims(JSON.stringify(req.body.claims));
        if (!parsed.ok) throw badRequest('invalid_claims', parsed.error);
        const pv = previewClaims(
          parsed.value.claims,
          parsed.value.missing,
          project,
          await trust.list(project.id),
        );
        return {
          granted: pv.granted,
          reason: pv.reason,
          policy_id: pv.policy_id,
          missing_claims: pv.missing,
          policies: pv.policies.map((v) => ({ policy_id: v.policy.id, allows: v.allows, why: v.why })),
        };
      },
    );
    app.get<{ Querystring: { project?: string; range?: string } }>(
      '/v1/insights/charts',
      {
        ...admin,
        schema: {
          querystring: {
            type: 'object',
            additionalProperties: false,
            properties: {
              project: { type: 'string', maxLength: 128 },
              range: { type: 'string', maxLength: 8 },
            },
          },
        },
      },
      async (req) => {
        const c = await this.charts(req.query.project ?? null, req.query.range);
        return { project_id: c.project?.id ?? null, range: c.range, points: c.points };
      },
    );
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
