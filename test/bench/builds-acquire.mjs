#!/usr/bin/env node
// Benchmark: how fast a build gets its builder.
//   warm: POST /v1/builds → GET /v1/builds/{id}/builders/{platform} answers `active`,
//         with the project's builder already running (target: median ≤ 100 ms on loopback)
//   cold: the same, with the builder stopped by the idle timeout and its cache on disk
//         (target: ≤ 2 s), polling `pending` answers as a client does
// It bundles `hoist server` from the sources into a temp dir, runs it as a real process with
// a real buildkitd, and prints the figures. Usage: npm run bench:builds [-- --warm N --cold N]
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';

const { values } = parseArgs({
  options: { warm: { type: 'string', default: '50' }, cold: { type: 'string', default: '5' } },
});
const WARM = Number(values.warm);
const COLD = Number(values.cold);
const IDLE_S = 2;
const repo = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hoist-bench-builds-'));
const bundle = path.join(tmp, 'server');
const dataDir = path.join(tmp, 'data');
let server = null;

function cleanup() {
  if (server && server.exitCode === null) server.kill('SIGTERM');
}
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));

const freePort = () =>
  new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const pct = (xs, p) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.ceil((p / 100) * xs.length) - 1)];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function api(base, token, method, p, body) {
  const res = await fetch(base + p, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await res.json();
  if (!res.ok) throw new Error(`${method} ${p}: HTTP ${res.status} ${JSON.stringify(json)}`);
  return json;
}

/** POST a build and poll its builder until active; returns ms and finishes the build. */
async function acquireOnce(base, token) {
  const t0 = performance.now();
  const b = await api(base, token, 'POST', '/v1/builds', { platforms: ['linux/amd64'] });
  let polls = 0;
  for (;;) {
    const a = await api(base, b.build_token, 'GET', `/v1/builds/${b.build_id}/builders/linux%2Famd64`);
    polls++;
    if (a.status === 'active') break;
    await sleep(Math.min(a.retry_after_ms, 100));
  }
  const ms = performance.now() - t0;
  await api(base, b.build_token, 'POST', `/v1/builds/${b.build_id}/finish`, { status: 'success' });
  return { ms, polls };
}

async function runningBuilders(base) {
  const text = await (await fetch(`${base}/metrics`)).text();
  const m = /^hoist_builders_running (\d+)/m.exec(text);
  return m ? Number(m[1]) : -1;
}

try {
  process.stderr.write('bundling hoist server…\n');
  execFileSync(
    process.execPath,
    [
      path.join(repo, 'node_modules/@vercel/ncc/dist/ncc/cli.js'),
      'build',
      path.join(repo, 'src/server/index.ts'),
      '-o',
      bundle,
      '--quiet',
    ],
    { cwd: repo, stdio: 'inherit' },
  );
  const entry = path.join(bundle, 'index.js');
  const init = execFileSync(process.execPath, [entry, 'init', '--data-dir', dataDir], { encoding: 'utf8' });
  const admin = init.trim().split('\n').pop();
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  server = spawn(
    process.execPath,
    [
      entry,
      '--listen',
      `127.0.0.1:${port}`,
      '--data-dir',
      dataDir,
      '--log-level',
      'warn',
      '--builder-idle-timeout',
      `${IDLE_S}s`,
    ],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`${base}/healthz`)).ok) break;
    } catch {
      /* not yet */
    }
    if (i > 200) throw new Error('hoist server did not come up');
    await sleep(50);
  }
  const project = await api(base, admin, 'POST', '/v1/projects', { name: 'bench' });
  const { token } = await api(base, admin, 'POST', `/v1/projects/${project.id}/tokens`, { name: 'bench' });

  // First build starts the builder; then warm-up requests (JIT), then measure.
  const first = await acquireOnce(base, token);
  for (let i = 0; i < 5; i++) await acquireOnce(base, token);
  const warm = [];
  for (let i = 0; i < WARM; i++) warm.push((await acquireOnce(base, token)).ms);

  const cold = [];
  for (let i = 0; i < COLD; i++) {
    for (let j = 0; (await runningBuilders(base)) !== 0; j++) {
      if (j > 200) throw new Error('the idle builder was not stopped');
      await sleep(100);
    }
    const r = await acquireOnce(base, token);
    cold.push(r.ms);
  }

  const f = (x) => `${x.toFixed(1)} ms`;
  const report = {
    first_ever_acquire_ms: Math.round(first.ms),
    warm: { n: warm.length, median_ms: median(warm), p90_ms: pct(warm, 90), max_ms: Math.max(...warm) },
    cold: { n: cold.length, median_ms: median(cold), max_ms: Math.max(...cold) },
  };
  console.log(`first build on a new builder (CA + certificates + start): ${f(first.ms)}`);
  console.log(
    `warm POST /v1/builds → active: median ${f(report.warm.median_ms)}, p90 ${f(report.warm.p90_ms)}, max ${f(report.warm.max_ms)} (n=${WARM}; target median ≤ 100 ms) ${report.warm.median_ms <= 100 ? 'OK' : 'MISSED'}`,
  );
  console.log(
    `cold (builder stopped, cache on disk) POST → active: median ${f(report.cold.median_ms)}, max ${f(report.cold.max_ms)} (n=${COLD}; target ≤ 2000 ms) ${report.cold.max_ms <= 2000 ? 'OK' : 'MISSED'}`,
  );
  console.log(JSON.stringify(report));
} finally {
  cleanup();
  if (server) await new Promise((r) => (server.exitCode !== null ? r() : server.once('exit', r)));
}
