// After-build cache snapshots of a busy builder: at most one per builder every 15 s (buildctl du
// would otherwise run after every build, beside the next ones); interval snapshots always run.
import { describe, expect, it } from '@jest/globals';
import type { CacheUsage, Provider } from '../../src/providers/provider.js';
import type { Db } from '../../src/server/db/index.js';
import { CacheSnapshots } from '../../src/server/insights/cache.js';

function harness(): { snaps: CacheSnapshots; reads: string[]; rows: unknown[][]; clock: { ms: number } } {
  const reads: string[] = [];
  const rows: unknown[][] = [];
  const clock = { ms: Date.parse('2026-11-30T00:00:00Z') };
  const usage: CacheUsage = { records: [], gcLimitBytes: null, fsUsedBytes: null, fsTotalBytes: null };
  const provider = {
    cacheUsage: (id: string) => {
      reads.push(id);
      return Promise.resolve(usage);
    },
  } as unknown as Provider;
  const db = {
    dialect: 'sqlite',
    get: (_sql: string, params?: unknown[]) =>
      Promise.resolve({ project_id: 'prj', platform: `p-${params?.[0]}` }),
    run: (_sql: string, params?: unknown[]) => {
      rows.push(params ?? []);
      return Promise.resolve({ changes: 1 });
    },
  } as unknown as Db;
  const snaps = new CacheSnapshots(db, provider, { now: () => new Date(clock.ms) }, (b, err) => {
    throw new Error(`${b}: ${String(err)}`);
  });
  return { snaps, reads, rows, clock };
}

describe('CacheSnapshots', () => {
  it('after builds, reads a builder at most once every 15 s; other builders and intervals are not held back', async () => {
    const h = harness();
    await h.snaps.snapshot('bkr_a', 'build');
    h.clock.ms += 2_000;
    await h.snaps.snapshot('bkr_a', 'build'); // 2 s later: skipped
    await h.snaps.snapshot('bkr_b', 'build'); // another builder: read
    h.clock.ms += 2_000;
    await h.snaps.snapshot('bkr_a', 'interval'); // the interval always reads
    h.clock.ms += 14_000;
    await h.snaps.snapshot('bkr_a', 'build'); // 14 s after the interval's read: skipped
    h.clock.ms += 1_000;
    await h.snaps.snapshot('bkr_a', 'build'); // 15 s after it: read
    expect(h.reads).toEqual(['bkr_a', 'bkr_b', 'bkr_a', 'bkr_a']);
    expect(h.rows).toHaveLength(4);
  });

  it('concurrent calls for one builder share one read', async () => {
    const h = harness();
    await Promise.all([h.snaps.snapshot('bkr_a', 'interval'), h.snaps.snapshot('bkr_a', 'interval')]);
    expect(h.reads).toEqual(['bkr_a']);
  });
});
