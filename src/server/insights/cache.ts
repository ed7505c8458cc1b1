// Builder cache snapshots: every interval and after builds (at most one per builder every 15 s),
// each running builder's cache (buildctl du through its provider) is recorded as totals by kind,
// reclaimable bytes, the filesystem's use and the GC limit. One builder belongs to one project, and each row names it.
import type { CacheUsage, Provider } from '../../providers/provider.js';
import type { Db } from '../db/index.js';
import { type Clock, iso } from '../util.js';

export interface CacheTotals {
  records: number;
  layers_bytes: number;
  cache_mounts_bytes: number;
  source_bytes: number;
  other_bytes: number;
  reclaimable_bytes: number;
  fs_used_bytes: number | null;
  fs_total_bytes: number | null;
  gc_limit_bytes: number | null;
}

export interface CacheSnapshot extends CacheTotals {
  builder_id: string;
  project_id: string;
  platform: string;
  at: string;
  reason: string;
}

/** The kind a record's bytes count under on the builders page. */
export function cacheKind(type: string): 'layers' | 'cache_mounts' | 'source' | 'other' {
  if (type === 'regular') return 'layers';
  if (type === 'exec.cachemount') return 'cache_mounts';
  if (type.startsWith('source.')) return 'source';
  return 'other';
}

/** Totals of a builder's cache by kind; reclaimable is what no build holds now (as buildctl du counts it). */
export function cacheTotals(u: CacheUsage): CacheTotals {
  const t: CacheTotals = {
    records: u.records.length,
    layers_bytes: 0,
    cache_mounts_bytes: 0,
    source_bytes: 0,
    other_bytes: 0,
    reclaimable_bytes: 0,
    fs_used_bytes: u.fsUsedBytes,
    fs_total_bytes: u.fsTotalBytes,
    gc_limit_bytes: u.gcLimitBytes,
  };
  for (const r of u.records) {
    t[`${cacheKind(r.type)}_bytes`] += r.size;
    if (!r.inUse) t.reclaimable_bytes += r.size;
  }
  return t;
}

const COLS = [
  'builder_id',
  'project_id',
  'platform',
  'at',
  'reason',
  'records',
  'layers_bytes',
  'cache_mounts_bytes',
  'source_bytes',
  'other_bytes',
  'reclaimable_bytes',
  'fs_used_bytes',
  'fs_total_bytes',
  'gc_limit_bytes',
] as const;

const NUMERIC = COLS.slice(5);

export class CacheSnapshots {
  private timer: NodeJS.Timeout | null = null;
  private readonly inFlight = new Map<string, Promise<void>>();
  /** When each builder's cache was last read by this process (ms). */
  private readonly lastTaken = new Map<string, number>();
  private lastPurge = 0;

  constructor(
    private readonly db: Db,
    private readonly provider: Provider,
    private readonly clock: Clock,
    private readonly onError: (builderId: string, err: unknown) => void,
    /** Snapshots older than this go (at most once an hour). */
    private readonly keepMs = 7 * 86400_000,
    /**
     * After a build, a builder whose cache was read less than this long ago is not read again:
     * on a busy builder `buildctl du` would otherwise run after every build, beside the next ones.
     */
    private readonly buildGapMs = 15_000,
  ) {}

  /** Records one builder's cache now; concurrent calls for the same builder share one read. */
  snapshot(builderId: string, reason: 'interval' | 'build'): Promise<void> {
    const cur = this.inFlight.get(builderId);
    if (cur) return cur;
    const now = this.clock.now().getTime();
    const last = this.lastTaken.get(builderId);
    if (reason === 'build' && last !== undefined && now - last < this.buildGapMs) return Promise.resolve();
    this.lastTaken.set(builderId, now);
    if (this.lastTaken.size > 4096) {
      // builders come and go: forget the ones not read for a while
      for (const [id, at] of this.lastTaken) if (now - at > this.buildGapMs) this.lastTaken.delete(id);
    }
    const p = this.take(builderId, reason)
      .catch((err: unknown) => this.onError(builderId, err))
      .finally(() => this.inFlight.delete(builderId));
    this.inFlight.set(builderId, p);
    return p;
  }

  private async take(builderId: string, reason: string): Promise<void> {
    if (!this.provider.cacheUsage) return;
    const b = await this.db.get<{ project_id: string; platform: string }>(
      'SELECT project_id, platform FROM builders WHERE id = ?',
      [builderId],
    );
    if (!b) return;
    const totals = cacheTotals(await this.provider.cacheUsage(builderId));
    const row: CacheSnapshot = { builder_id: builderId, ...b, at: iso(this.clock.now()), reason, ...totals };
    await this.db.run(
      `INSERT INTO builder_cache_snapshots (${COLS.join(', ')}) VALUES (${COLS.map(() => '?').join(', ')})
       ON CONFLICT (builder_id, at) DO NOTHING`,
      COLS.map((c) => row[c]),
    );
  }

  /** Snapshots every running builder. */
  async snapshotAll(): Promise<void> {
    const running = await this.db.all<{ id: string }>("SELECT id FROM builders WHERE state = 'running'");
    for (const { id } of running) await this.snapshot(id, 'interval');
    const now = this.clock.now().getTime();
    if (now - this.lastPurge > 3600_000) {
      this.lastPurge = now;
      await this.db.run('DELETE FROM builder_cache_snapshots WHERE at < ?', [
        iso(new Date(now - this.keepMs)),
      ]);
    }
  }

  /** The newest snapshot of each builder. */
  async latest(): Promise<Map<string, CacheSnapshot>> {
    const rows = await this.db.all<CacheSnapshot>(
      `SELECT s.* FROM builder_cache_snapshots s JOIN (
         SELECT builder_id, MAX(at) AS at FROM builder_cache_snapshots GROUP BY builder_id
       ) m ON m.builder_id = s.builder_id AND m.at = s.at`,
    );
    return new Map(rows.map((r) => [r.builder_id, numeric(r)]));
  }

  start(intervalMs: number): void {
    if (!intervalMs || this.timer) return;
    this.timer = setInterval(
      () => void this.snapshotAll().catch((err) => this.onError('*', err)),
      intervalMs,
    );
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await Promise.all(this.inFlight.values());
  }
}

/** PostgreSQL returns BIGINT as text. */
function numeric(r: CacheSnapshot): CacheSnapshot {
  const out = { ...r } as Record<string, unknown>;
  for (const c of NUMERIC) out[c] = r[c] === null || r[c] === undefined ? null : Number(r[c]);
  return out as unknown as CacheSnapshot;
}
