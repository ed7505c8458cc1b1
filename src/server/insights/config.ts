// `hoist server` flags of build insights: retention of steps and logs (separate from the build
// rows, which --build-retention governs) and the builders' cache snapshot interval.
import { ConfigurationError } from '../../lib/errors.js';
import { parseDuration } from '../builds/config.js';
import type { PluginOption } from '../http/plugin.js';

export interface InsightsConfig {
  /** Steps, logs and Dockerfile contents of a finished build go after this many days; null = kept. */
  stepsRetentionDays: number | null;
  /** ... or once the build is not among its project's newest this many builds; null = no cap. */
  stepsRetentionBuilds: number | null;
  /** Cache snapshot of every running builder at this interval (and after builds, at most every 15 s per builder); 0 = off. */
  cacheSnapshotIntervalMs: number;
}

export const INSIGHTS_OPTIONS: PluginOption[] = [
  {
    name: 'steps-retention-days',
    env: 'HOIST_STEPS_RETENTION_DAYS',
    description:
      'delete the steps, logs and Dockerfile of finished builds after this many days; the build rows and charts stay (default 14, 0 = keep)',
  },
  {
    name: 'steps-retention-builds',
    env: 'HOIST_STEPS_RETENTION_BUILDS',
    description: "keep steps and logs for each project's newest N builds only (default 1000, 0 = no cap)",
  },
  {
    name: 'cache-snapshot-interval',
    env: 'HOIST_CACHE_SNAPSHOT_INTERVAL',
    description:
      "record each running builder's cache use (buildctl du) this often, and after builds, at most every 15 s per builder (default 1m, 0 = off)",
  },
];

function whole(
  opts: Record<string, string | undefined>,
  name: string,
  def: number,
  max: number,
): number | null {
  const raw = opts[name]?.trim();
  const env = INSIGHTS_OPTIONS.find((o) => o.name === name)!.env;
  if (!raw) return def || null;
  if (!/^\d{1,9}$/.test(raw) || Number(raw) > max) {
    throw new ConfigurationError(`--${name} (${env}) must be a whole number from 0 to ${max}, got "${raw}"`);
  }
  return Number(raw) || null;
}

export function loadInsightsConfig(opts: Record<string, string | undefined>): InsightsConfig {
  const raw = opts['cache-snapshot-interval']?.trim();
  let interval = 60_000;
  if (raw) {
    const ms = raw === '0' ? 0 : parseDuration(raw);
    if (ms === null || (ms !== 0 && ms < 5000)) {
      throw new ConfigurationError(
        `--cache-snapshot-interval (HOIST_CACHE_SNAPSHOT_INTERVAL) must be 0 (off) or a duration of at least 5s such as 1m, got "${raw}"`,
      );
    }
    interval = ms;
  }
  return {
    stepsRetentionDays: whole(opts, 'steps-retention-days', 14, 36500),
    stepsRetentionBuilds: whole(opts, 'steps-retention-builds', 1000, 100_000_000),
    cacheSnapshotIntervalMs: interval,
  };
}
