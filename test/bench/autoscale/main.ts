// npm run bench:autoscale: the simulated fleet (this file's part) and, when present, the local
// provider's clone and snapshot timings. The simulated summary prints last: `makespan/ideal R`.
import { runLocal } from './local.js';
import { runSimulated } from './sim.js';

const s = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

// The local provider's part first (real buildkitd, loop mounts: root); BENCH_LOCAL=0 skips it.
const local = process.env.BENCH_LOCAL === '0' ? [] : await runLocal();
if (local.some((row) => !row.cloneCached)) process.exitCode = 1;
if (local.length) console.log('');

const r = await runSimulated();
console.log(
  'simulated fleet: 200 builds of one project at 4 builds per builder (simulated provider, fake clock)',
);
console.log(
  `  served ${r.served}/${r.builds} on ${r.builders} builders (${r.shared} placed on a shared builder)`,
);
console.log(`  makespan ${s(r.makespanMs)}, ideal (unlimited instant builders) ${s(r.idealMs)}`);
console.log(`  time to builder p50 ${s(r.ttbP50Ms)}, p95 ${s(r.ttbP95Ms)}, p99 ${s(r.ttbP99Ms)}`);
console.log(
  `  provider launch calls ${r.providerCalls}, clones in flight at most ${r.clonePeak}; wall time ${s(r.wallMs)}`,
);
console.log(`  goal: makespan/ideal <= 1.5: ${r.ratio <= 1.5 ? 'met' : 'NOT met'}`);
console.log(`makespan/ideal ${r.ratio.toFixed(3)}`);
if (r.served !== r.builds) process.exitCode = 1;
