// A successful `hoist build` hands the end of the build (steps, clean-up, the finish report) to a
// background `hoist __finish-build` process and exits (src/cli/build-finish.ts). Tests that check
// what follows a build (its record, its steps, no builder or PEM left) wait for that process.
import { readdirSync, readFileSync } from 'node:fs';

/** pids of running finishers: of these builds (HOIST_FINISHING_BUILD in their environment), or all. */
export function finisherPids(buildIds?: readonly string[]): number[] {
  const pids: number[] = [];
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      if (!readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes('__finish-build')) continue;
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      if ('ZX'.includes(stat[stat.lastIndexOf(')') + 2]!)) continue;
      if (buildIds) {
        const environ = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
        if (!buildIds.some((id) => environ.includes(`HOIST_FINISHING_BUILD=${id}`))) continue;
      }
      pids.push(Number(pid));
    } catch {
      // gone
    }
  }
  return pids;
}

/** Waits until the finishers of these builds (or every finisher) have exited. */
export async function waitForFinishers(buildIds?: readonly string[], timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const left = finisherPids(buildIds);
    if (left.length === 0) return;
    if (Date.now() > deadline) {
      throw new Error(`hoist __finish-build still running after ${timeoutMs} ms: pids ${left.join(', ')}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Waits for the finishers of the builds a CLI run named on stderr ("hoist: build bld_…: URL"). */
export async function waitForFinishersOf(stderr: string): Promise<void> {
  const ids = [...stderr.matchAll(/hoist: build (bld_\w+): /g)].map((m) => m[1]!);
  if (ids.length) await waitForFinishers(ids);
}
