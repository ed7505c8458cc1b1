import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { BuildStore } from './store.js';

const STATUSES = ['queued', 'running', 'success', 'failed', 'canceled', 'expired'];

export interface BuildMetrics {
  /** Seconds from POST /v1/builds to the first `active` answer. */
  acquireSeconds: Histogram<'platform'>;
  builderStarts: Counter<'result'>;
  builderCrashes: Counter;
  buildsFinished: Counter<'status'>;
  /** Builds that waited more than five minutes for a builder (the provisioner's alert). */
  waitAlerts?: Counter;
  /** The provider's launch/stop/snapshot/destroy calls, by operation and this replica's role then. */
  providerCalls?: Counter<'op' | 'role'>;
}

/** Registers the builds metrics; gauges read the database when scraped. */
export function registerBuildMetrics(
  registry: Registry,
  store: BuildStore,
  now: () => Date,
  runningBuilders: () => Promise<number>,
): BuildMetrics {
  new Gauge({
    name: 'hoist_builds',
    help: 'Builds by status',
    labelNames: ['status'],
    registers: [registry],
    async collect() {
      const counts = await store.countByStatus();
      for (const s of STATUSES) this.set({ status: s }, counts[s] ?? 0);
    },
  });
  new Gauge({
    name: 'hoist_builders_running',
    help: 'Builders whose buildkitd is running',
    registers: [registry],
    async collect() {
      this.set(await runningBuilders());
    },
  });
  new Gauge({
    name: 'hoist_builds_waiting_over_5m',
    help: 'Active builds that have waited more than five minutes for a builder (alert when > 0)',
    registers: [registry],
    async collect() {
      this.set(await store.countWaitingSince(new Date(now().getTime() - 5 * 60_000).toISOString()));
    },
  });
  return {
    acquireSeconds: new Histogram({
      name: 'hoist_build_acquire_seconds',
      help: 'Time from build creation to its first active builder answer',
      labelNames: ['platform'],
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300],
      registers: [registry],
    }),
    builderStarts: new Counter({
      name: 'hoist_builder_starts_total',
      help: 'Builder launches by result (started, adopted, failed)',
      labelNames: ['result'],
      registers: [registry],
    }),
    builderCrashes: new Counter({
      name: 'hoist_builder_crashes_total',
      help: 'Builders found unhealthy by a health check and replaced',
      registers: [registry],
    }),
    waitAlerts: new Counter({
      name: 'hoist_build_wait_alerts_total',
      help: 'Builds that waited more than five minutes for a builder; each also logs an error (alert when it grows)',
      registers: [registry],
    }),
    providerCalls: new Counter({
      name: 'hoist_provider_calls_total',
      help: 'Calls that change builders (launch, launchBatch, stop, destroy, snapshot, deleteSnapshot) by operation and by whether this replica was the leader (role="follower" should stay 0)',
      labelNames: ['op', 'role'],
      registers: [registry],
    }),
    buildsFinished: new Counter({
      name: 'hoist_builds_finished_total',
      help: 'Builds that reached a final status',
      labelNames: ['status'],
      registers: [registry],
    }),
  };
}
