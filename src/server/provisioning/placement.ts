// Where a build goes, and how many builders demand needs: pure functions over a view of one
// (project, platform, pool), tested by tables. The provisioner applies their answers.
import type { BuilderRole } from '../../providers/provider.js';

/** A project's autoscaling settings (per-project, from the projects API). */
export interface ScalingSettings {
  autoscaling: boolean;
  /** Builds one builder takes at once; null = no limit (BuildKit deduplicates shared steps). */
  buildsPerBuilder: number | null;
  /** Most builders (primary and clones) per platform. */
  maxBuildersPerPlatform: number;
}

export type FleetState = 'starting' | 'running' | 'draining' | 'snapshotting' | 'stopped';

export interface BuilderView {
  id: string;
  role: BuilderRole;
  state: FleetState;
  /** Builds holding a slot on it. */
  load: number;
}

export type PlaceDecision =
  { kind: 'use'; builderId: string; shared: boolean } | { kind: 'wait'; reason: string };

function limitOf(s: ScalingSettings): number {
  return s.buildsPerBuilder ?? Infinity;
}

/** A shared builder takes up to this many times its limit while clones may still come. */
export const SHARE_FACTOR = 2;

/**
 * Primary first while it is below its limit (BuildKit deduplicates shared steps there), then a
 * clone with room. Without room: wait for a clone while one may still come and the build has
 * waited less than `shareAfterMs`; after that share the least loaded builder, primary first
 * (up to SHARE_FACTOR times its limit while clones still come, without bound once none can).
 * Clone capacity running out never fails a build.
 */
export function placeBuild(
  builders: BuilderView[],
  s: ScalingSettings,
  waitedMs: number,
  shareAfterMs: number,
  cloneMayCome: boolean,
): PlaceDecision {
  const limit = limitOf(s);
  const running = builders.filter((b) => b.state === 'running');
  const primary = running.find((b) => b.role === 'primary');
  if (primary && primary.load < limit) return { kind: 'use', builderId: primary.id, shared: false };
  if (!s.autoscaling) {
    if (primary) {
      return {
        kind: 'wait',
        reason: `busy: ${primary.load} of ${limit} concurrent builds running`,
      };
    }
    const p = builders.find((b) => b.role === 'primary');
    return { kind: 'wait', reason: p?.state === 'snapshotting' ? 'being snapshotted' : 'starting' };
  }
  const clones = running.filter((b) => b.role === 'clone').sort((a, b) => a.load - b.load);
  const roomy = clones.find((b) => b.load < limit);
  if (roomy) return { kind: 'use', builderId: roomy.id, shared: false };
  if (running.length > 0 && (!cloneMayCome || waitedMs >= shareAfterMs)) {
    // Least loaded; a tie goes to the primary, whose cache is the freshest.
    const pick = [...running].sort(
      (a, b) => a.load - b.load || (a.role === 'primary' ? -1 : 0) - (b.role === 'primary' ? -1 : 0),
    )[0]!;
    if (!cloneMayCome || pick.load < limit * SHARE_FACTOR) {
      return { kind: 'use', builderId: pick.id, shared: true };
    }
  }
  const starting = builders.filter((b) => b.state === 'starting').length;
  const draining = builders.some(
    (b) => b.role === 'primary' && b.state !== 'running' && b.state !== 'starting',
  );
  const parts = [
    running.length ? `${running.length} builder(s) full (${limit} builds each)` : 'no builder running yet',
    starting ? `${starting} starting` : '',
    draining ? 'primary drained for a snapshot' : '',
  ].filter(Boolean);
  return { kind: 'wait', reason: parts.join(', ') };
}

/** Builders that hold or may soon hold builds (not stopped). */
export function isUp(b: BuilderView): boolean {
  return b.state !== 'stopped';
}

/**
 * What to launch for one (project, platform, pool): the primary when builds wait and it is not
 * up, and clones for the demand the builders up cannot hold, within the per-platform maximum.
 * `demand` counts the builds holding or waiting for a slot. Launches only the difference.
 */
export function launchPlan(
  builders: BuilderView[],
  s: ScalingSettings,
  demand: number,
  canClone: boolean,
): { primary: boolean; clones: number } {
  if (demand === 0) return { primary: false, clones: 0 };
  const up = builders.filter(isUp);
  const primary = !up.some((b) => b.role === 'primary');
  if (!s.autoscaling || !canClone || s.buildsPerBuilder === null) return { primary, clones: 0 };
  const want = Math.min(s.maxBuildersPerPlatform, Math.ceil(demand / s.buildsPerBuilder));
  const have = up.length + (primary ? 1 : 0);
  return { primary, clones: Math.max(0, want - have) };
}

/** Running clones with no build, idle for at least `idleMs`: they stop (and go) first. */
export function idleClones(
  clones: { id: string; load: number; idleSinceMs: number }[],
  nowMs: number,
  idleMs: number,
): string[] {
  return clones.filter((c) => c.load === 0 && nowMs - c.idleSinceMs >= idleMs).map((c) => c.id);
}
