// A project's build capacity settings, checked in one pure function so the API, the CLI's
// messages and the tests agree on names and ranges.
import type { ProjectSettings } from '../../lib/api-types.js';

export const SETTING_LIMITS = {
  max_concurrent_builds: { min: 1, max: 10_000 },
  max_builders_per_platform: { min: 1, max: 1000 },
} as const;

export const DEFAULT_MAX_BUILDERS_PER_PLATFORM = 10;

/** The settings a project has once a change is applied. */
export interface EffectiveSettings {
  max_concurrent_builds: number | null;
  autoscaling: boolean;
  max_builders_per_platform: number;
}

function wholeNumberIn(field: keyof typeof SETTING_LIMITS, value: unknown): string | null {
  const { min, max } = SETTING_LIMITS[field];
  if (typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max) return null;
  return `${field} must be a whole number from ${min} to ${max}, got ${JSON.stringify(value)}`;
}

/**
 * Applies `patch` to `current` and checks the result: each value in its range, and
 * autoscaling only with a builds-per-builder limit (without one, no builder is ever full, so
 * none would be added). Returns the settings, or a message naming the field and what it accepts.
 */
export function applySettings(
  current: EffectiveSettings,
  patch: ProjectSettings,
): { ok: true; settings: EffectiveSettings } | { ok: false; message: string } {
  if (patch.max_concurrent_builds !== undefined && patch.max_concurrent_builds !== null) {
    const bad = wholeNumberIn('max_concurrent_builds', patch.max_concurrent_builds);
    if (bad) return { ok: false, message: `${bad} (or null for unlimited)` };
  }
  if (patch.max_builders_per_platform !== undefined) {
    const bad = wholeNumberIn('max_builders_per_platform', patch.max_builders_per_platform);
    if (bad) return { ok: false, message: `${bad} (the primary included)` };
  }
  if (patch.autoscaling !== undefined && typeof patch.autoscaling !== 'boolean') {
    return {
      ok: false,
      message: `autoscaling must be true or false, got ${JSON.stringify(patch.autoscaling)}`,
    };
  }
  const next: EffectiveSettings = {
    max_concurrent_builds:
      patch.max_concurrent_builds === undefined ? current.max_concurrent_builds : patch.max_concurrent_builds,
    autoscaling: patch.autoscaling ?? current.autoscaling,
    max_builders_per_platform: patch.max_builders_per_platform ?? current.max_builders_per_platform,
  };
  if (next.autoscaling && next.max_concurrent_builds === null) {
    return {
      ok: false,
      message:
        patch.autoscaling === true
          ? 'autoscaling needs a builds-per-builder limit: set max_concurrent_builds (1 to 10000) in the same request'
          : 'max_concurrent_builds cannot be unlimited (null) while autoscaling is on: it is the number of builds that fills a builder; turn autoscaling off first or give a number from 1 to 10000',
    };
  }
  return { ok: true, settings: next };
}
