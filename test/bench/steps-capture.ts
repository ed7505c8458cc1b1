// What capturing and sending a build's steps costs `hoist build`, on a warm builder, measured
// side by side (interleaved rounds) in one run, with three variants of the same CLI bundle:
//   off     HOIST_STEPS=false       no steps at all
//   finish  HOIST_STEPS_LIVE=false  the full set at the end only (read by the background finisher)
//   live    the default             batches while buildx runs, and the full set at the end
// in two scenarios:
//   cached  every step cached (bench:cli's context: the common warm CI build)
//   run     one RUN step of BENCH_SLEEP seconds runs (a cache-busting build argument), so the live
//           follower runs for most of the build
// Each variant's wall time is spawn to exit of `hoist build`; the background finisher is waited
// for before the next run. Prints medians, the paired differences and the ratios live/off.
//
//   npm run build && npm run bench:steps          (BENCH_RUNS=15 BENCH_SLEEP=3 by default)
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { makeDockerConfig, startRegistry } from '../helpers/engine.js';
import { waitForFinishers } from '../helpers/finisher.js';
import { CLI_BUNDLE, startTestServer } from '../helpers/server.js';

const RUNS = Number(process.env.BENCH_RUNS || 15);
const SLEEP = Number(process.env.BENCH_SLEEP || 3);

const VARIANTS = {
  off: { HOIST_STEPS: 'false' },
  finish: { HOIST_STEPS_LIVE: 'false' },
  live: {},
} as const;
type Variant = keyof typeof VARIANTS;

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const q = (xs: number[], p: number): number =>
  [...xs].sort((a, b) => a - b)[Math.floor(p * (xs.length - 1))]!;

async function main(): Promise<void> {
  if (!existsSync(CLI_BUNDLE)) throw new Error(`${CLI_BUNDLE} is missing: run "npm run build" first`);
  const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'hoist-bench-steps-'));
  const registry = await startRegistry();
  const docker = await makeDockerConfig();
  const server = await startTestServer({ flags: { 'builder-insecure-registries': registry.host } });
  try {
    const p = await server.createProject('bench-steps');
    const token = (await server.createProjectToken(p.id, 'bench')).token;
    await fs.mkdir(path.join(tmp, 'cached'));
    await fs.writeFile(
      path.join(tmp, 'cached', 'Dockerfile'),
      'FROM scratch\nCOPY a.txt /a.txt\nCOPY b.txt /b.txt\n',
    );
    await fs.writeFile(path.join(tmp, 'cached', 'a.txt'), 'a\n');
    await fs.writeFile(path.join(tmp, 'cached', 'b.txt'), 'b\n');
    await fs.mkdir(path.join(tmp, 'run'));
    await fs.writeFile(
      path.join(tmp, 'run', 'Dockerfile'),
      `FROM ${registry.baseImage}\nRUN echo base\nARG BUST\nRUN echo "bust $BUST" && sleep ${SLEEP} && echo done\nRUN echo after\n`,
    );
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      ...docker.env,
      HOIST_API_URL: server.url,
      HOIST_TOKEN: token,
      HOIST_CONFIG: path.join(tmp, 'none.json'),
      HOIST_TMPDIR: tmp,
    };
    for (const k of ['HOIST_PROJECT_ID', 'HOIST_BUILDX', 'HOIST_STEPS', 'HOIST_STEPS_LIVE', 'GITHUB_ACTIONS'])
      delete env[k];

    let n = 0;
    const build = async (
      scenario: 'cached' | 'run',
      v: Variant,
      warm = false,
    ): Promise<{ ms: number; batches: number }> => {
      const timings = path.join(tmp, `t${n++}.json`);
      const args = ['build', scenario];
      if (scenario === 'run') args.push('--build-arg', `BUST=${n}-${Date.now()}`);
      const t0 = performance.now();
      const { code, stderr } = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
        const c = spawn(process.execPath, [CLI_BUNDLE, ...args], {
          env: { ...env, ...VARIANTS[v], HOIST_TIMINGS_FILE: timings },
          cwd: tmp,
          stdio: ['ignore', 'ignore', 'pipe'],
        });
        let err = '';
        c.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
        c.on('close', (code) => resolve({ code, stderr: err }));
      });
      const ms = performance.now() - t0;
      if (code !== 0) throw new Error(`hoist build ${scenario} (${v}) failed:\n${stderr}`);
      if (!warm && scenario === 'cached' && !/CACHED/.test(stderr))
        throw new Error(`not fully cached:\n${stderr}`);
      const marks = JSON.parse(readFileSync(timings, 'utf8')) as {
        finisher_pid?: number;
        live_batches?: number;
      };
      await waitForFinishers();
      return { ms, batches: marks.live_batches ?? 0 };
    };

    // warm: the base image and every cacheable step in the builder's cache
    for (const s of ['cached', 'run'] as const) await build(s, 'off', true);
    await build('cached', 'off');

    for (const scenario of ['cached', 'run'] as const) {
      const ms: Record<Variant, number[]> = { off: [], finish: [], live: [] };
      const batches: number[] = [];
      const order: Variant[] = ['off', 'finish', 'live'];
      for (let i = 0; i < RUNS; i++) {
        // rotate who goes first, so no variant always follows the same one
        for (const v of [...order.slice(i % 3), ...order.slice(0, i % 3)]) {
          const r = await build(scenario, v);
          ms[v].push(r.ms);
          if (v === 'live') batches.push(r.batches);
        }
      }
      const off = median(ms.off);
      console.log(`\n${scenario}: ${RUNS} interleaved rounds (load ${os.loadavg()[0]!.toFixed(1)})`);
      for (const v of order) {
        const d = ms[v].map((x, i) => x - ms.off[i]!);
        console.log(
          `  ${v.padEnd(6)} median ${median(ms[v]).toFixed(0)} ms (p25 ${q(ms[v], 0.25).toFixed(0)}, p75 ${q(ms[v], 0.75).toFixed(0)})` +
            (v === 'off'
              ? ''
              : `  ratio ${(median(ms[v]) / off).toFixed(4)}  paired diff median ${median(d).toFixed(0)} ms (p25 ${q(d, 0.25).toFixed(0)}, p75 ${q(d, 0.75).toFixed(0)})`),
        );
      }
      console.log(`  live batches per build: median ${median(batches)}, max ${Math.max(...batches)}`);
      console.log(`steps-capture ${scenario}: ratio live/off ${(median(ms.live) / off).toFixed(4)}`);
    }
  } finally {
    await server.stop();
    await registry.stop();
    await docker.cleanup();
    await fs.rm(tmp, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(`steps-capture: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  process.exitCode = 1;
});
