// Snapshot lifecycle decisions: at most one current snapshot per (project, platform, pool),
// taken only from a quiesced primary; a primary that is never idle is drained at a bounded age;
// superseded snapshots go once no clone uses them. Pure; the provisioner acts on the answers.

export interface PrimaryView {
  state: 'running' | 'draining' | 'other';
  load: number;
  /** Builds finished on it since the current snapshot (its cache changed). */
  dirty: boolean;
  /** Since when it has held at least one build without a break; null when idle. */
  busySinceMs: number | null;
}

export interface SnapshotPolicy {
  /** A quiesced primary is snapshotted again only this long after the current snapshot. */
  minIntervalMs: number;
  /** A busy primary whose snapshot is missing or this old (and stale) is drained. */
  maxAgeMs: number;
  /** ... once it has been busy without a break for this long. */
  drainAfterMs: number;
}

export type SnapshotDecision = 'snapshot' | 'drain' | 'none';

export function snapshotDecision(
  primary: PrimaryView | undefined,
  current: { createdMs: number } | undefined,
  wantClones: boolean,
  nowMs: number,
  p: SnapshotPolicy,
): SnapshotDecision {
  if (!primary || primary.state === 'other') return 'none';
  const age = current ? nowMs - current.createdMs : Infinity;
  if (primary.load === 0) {
    // Quiesced: nothing runs on it, so its daemon can stop cleanly for the copy.
    if (!current) return wantClones || primary.dirty ? 'snapshot' : 'none';
    return primary.dirty && age >= p.minIntervalMs ? 'snapshot' : 'none';
  }
  if (primary.state === 'draining') return 'none';
  const busyFor = primary.busySinceMs === null ? 0 : nowMs - primary.busySinceMs;
  const needed = !current ? wantClones : primary.dirty && age >= p.maxAgeMs;
  return needed && busyFor >= p.drainAfterMs ? 'drain' : 'none';
}

/** Snapshots to delete: superseded (not current) and used by no live clone. */
export function deletableSnapshots(snaps: { id: string; current: boolean; usedBy: number }[]): string[] {
  return snaps.filter((s) => !s.current && s.usedBy === 0).map((s) => s.id);
}
