// The builds plugin of `hoist server`: build lifecycle routes, the provider, the sweep.
import { errorMessage } from '../../lib/errors.js';
import type { HoistPlugin } from '../http/plugin.js';
import { BUILDS_OPTIONS, loadBuildsConfig } from './config.js';
import { createProvider } from './provider-factory.js';
import { INSIGHTS_OPTIONS, Insights, insightsMigrations, loadInsightsConfig } from '../insights/index.js';
import { registerUi } from '../ui/index.js';
import { registerBuildMetrics } from './metrics.js';
import { buildsMigrations } from './migrations.js';
import { registerBuildRoutes } from './routes.js';
import { BuildService } from './service.js';
import { SimulatedProvider } from '../../providers/simulated.js';
import { systemProvisioningClock } from '../provisioning/clock.js';
import type { PoolSpec } from '../provisioning/pool.js';

export const buildsPlugin: HoistPlugin = {
  name: 'builds',
  migrations: [...buildsMigrations, ...insightsMigrations],
  options: [...BUILDS_OPTIONS, ...INSIGHTS_OPTIONS],
  async register(app, deps) {
    const config = loadBuildsConfig(deps.config.pluginOptions);
    const logger = deps.logger.child({ component: 'builds' });
    const { provider, details } = await createProvider(config, deps.config.dataDir, logger);
    // Pools in order of preference: the provider's own first, then simulated ones (trials only).
    const pools: PoolSpec[] = [{ name: config.pools[0]!.name, provider }];
    for (const p of config.pools.slice(1)) {
      pools.push({
        name: p.name,
        provider: await SimulatedProvider.create({
          clock: systemProvisioningClock,
          name: p.name,
          platforms: provider.platforms(),
        }),
      });
    }
    const service = new BuildService({
      pools,
      db: deps.db,
      tokens: deps.tokens,
      projects: deps.projects,
      clock: deps.clock,
      logger,
      provider,
      config,
      audit: deps.audit,
      leader: deps.leader,
    });
    service.metrics = registerBuildMetrics(
      deps.metrics,
      service.store,
      () => deps.clock.now(),
      () => service.store.countBuildersRunning(),
    );
    const insights = new Insights(deps, provider, loadInsightsConfig(deps.config.pluginOptions));
    // an end the server decides (expiry, a launch that failed, an orphan) reaches open dashboards too
    service.onEnded = (buildId) => insights.events.changed(buildId);
    registerBuildRoutes(app, deps, service, insights);
    insights.registerRoutes(app, deps, service);
    registerUi(app, deps, insights, service);
    // A revoked token or a deleted project ends its builds now, not at the next sweep.
    app.addHook('onResponse', async (request, reply) => {
      if (request.method === 'DELETE' && reply.statusCode < 300) {
        await service
          .endOrphans()
          .catch((err: unknown) =>
            logger.error({ err: errorMessage(err) }, 'ending the builds of a revoked token failed'),
          );
      }
    });
    deps.lifecycle.onStart(() => service.start());
    deps.lifecycle.onStart(() => insights.start());
    deps.lifecycle.onShutdown(() => service.shutdown());
    deps.lifecycle.onShutdown(() => insights.stop());
    logger.info(
      {
        ...details,
        pools: pools.map(
          (p) => `${p.name} (${p.provider.name}, clones: ${p.provider.capabilities().cloneMethod})`,
        ),
        cert_lifetime_ms: config.certLifetimeMs,
        idle_timeout_ms: config.idleTimeoutMs,
        max_build_duration_ms: config.maxBuildDurationMs,
        heartbeat_grace_ms: config.heartbeatGraceMs,
        builders_on_exit: config.buildersOnExit,
      },
      'builds enabled',
    );
  },
};
