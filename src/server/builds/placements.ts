// Where a build's platform stands, as the leader's provisioner decided it and wrote it into
// build_builders.placement, and what any replica answers a build's poll from it. Pure functions,
// so every case is a row of a table test (test/builds/placements.test.ts).
import type { BuilderRole } from '../../providers/provider.js';
import type { ClaimStatus } from '../provisioning/provisioner.js';
import type { BuilderRow, DemandRow } from './store.js';

export type FailCode = 'wait_exceeded' | 'launch_failed' | 'queue_full';

export type Placement =
  | { state: 'waiting'; reason: string }
  | {
      state: 'assigned';
      builder_id: string;
      pool: string;
      role: BuilderRole;
      shared: boolean;
      cold_cache: boolean;
    }
  | { state: 'failed'; code: FailCode; reason: string };

/** The leader's claim status as a placement; null when its provisioner does not know the claim. */
export function placementOf(st: ClaimStatus): Placement | null {
  switch (st.state) {
    case 'assigned':
      return {
        state: 'assigned',
        builder_id: st.builder.id,
        pool: st.pool,
        role: st.builder.role,
        shared: st.shared,
        cold_cache: st.coldCache,
      };
    case 'waiting':
      return { state: 'waiting', reason: st.reason || 'waiting for the provisioner' };
    case 'failed':
      return { state: 'failed', code: st.code, reason: st.reason };
    default:
      return null;
  }
}

/** A stored placement, or null when absent or not one (a newer or older server wrote it). */
export function parsePlacement(json: string | null | undefined): Placement | null {
  if (!json) return null;
  try {
    const p = JSON.parse(json) as Placement;
    if (p.state === 'waiting' && typeof p.reason === 'string') return p;
    if (p.state === 'failed' && typeof p.reason === 'string') return p;
    if (p.state === 'assigned' && typeof p.builder_id === 'string') return p;
  } catch {
    // not JSON
  }
  return null;
}

/** The builder a follower would send the build to: the placement's, else the one it holds. */
export function placementTarget(placement: Placement | null, heldBuilderId: string | null): string | null {
  if (placement?.state === 'assigned') return placement.builder_id;
  return placement === null ? heldBuilderId : null;
}

/** What a replica that is not the leader tells a poll. */
export type FollowerView =
  | {
      kind: 'assigned';
      builderId: string;
      pool: string;
      role: BuilderRole;
      shared: boolean;
      coldCache: boolean;
      endpoint: string;
      serverName: string;
      caPem: string;
    }
  | { kind: 'waiting'; reason: string }
  | { kind: 'failed'; code: FailCode; reason: string };

/**
 * The answer from the database alone: the leader's placement first (it may have moved the build
 * off a builder it is replacing); without one, the builder the build already holds (a poll again
 * after a lost connection, also while no replica leads). The builder's row must say running and
 * carry its address, server name and CA, all written by the replica that launched or adopted it.
 */
export function followerView(
  placement: Placement | null,
  heldBuilderId: string | null,
  builder: BuilderRow | undefined,
  leaderId: string | null,
): FollowerView {
  if (placement?.state === 'failed')
    return { kind: 'failed', code: placement.code, reason: placement.reason };
  if (placement?.state === 'waiting') return { kind: 'waiting', reason: placement.reason };
  const target = placementTarget(placement, heldBuilderId);
  if (!target) {
    return {
      kind: 'waiting',
      reason: leaderId
        ? `waiting for the leader replica (${leaderId}) to place this build`
        : 'waiting for a leader replica to place this build (none holds the lease right now; one takes over within seconds)',
    };
  }
  if (
    !builder ||
    builder.id !== target ||
    builder.state !== 'running' ||
    !builder.endpoint ||
    !builder.server_name ||
    !builder.ca_pem
  ) {
    return { kind: 'waiting', reason: `builder ${target} is starting` };
  }
  return {
    kind: 'assigned',
    builderId: target,
    pool: placement?.state === 'assigned' ? placement.pool : builder.pool,
    role: placement?.state === 'assigned' ? placement.role : builder.role === 'clone' ? 'clone' : 'primary',
    shared: placement?.state === 'assigned' ? placement.shared : false,
    coldCache: placement?.state === 'assigned' ? placement.cold_cache : false,
    endpoint: builder.endpoint,
    serverName: builder.server_name,
    caPem: builder.ca_pem,
  };
}

export const claimKey = (buildId: string, platform: string): string => `${buildId}|${platform}`;

/**
 * One pass of the leader's demand loop: which rows become claims (waiting, unknown to the
 * provisioner) and which builds' claims go (none of their rows is active any more). `known` is
 * the provisioner's claim keys taken BEFORE the rows were read, so a claim made meanwhile (a build
 * created after the read) is never released by mistake.
 */
export function demandDiff(
  known: ReadonlySet<string>,
  rows: readonly DemandRow[],
): { request: DemandRow[]; release: string[] } {
  const request = rows.filter((r) => r.builder_id === null && !known.has(claimKey(r.build_id, r.platform)));
  const active = new Set(rows.map((r) => r.build_id));
  const release = new Set<string>();
  for (const k of known) {
    const buildId = k.slice(0, k.indexOf('|'));
    if (!active.has(buildId)) release.add(buildId);
  }
  return { request, release: [...release] };
}
