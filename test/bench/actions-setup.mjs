// Benchmark: hoist/setup-action run the way a runner runs it (node dist/setup/index.js with
// INPUT_*, GITHUB_OUTPUT, RUNNER_TEMP, RUNNER_TOOL_CACHE) against a real `hoist server` on
// loopback that serves the CLI release built from this repository.
//   download:        empty tool cache, version latest → resolve, download, sha256, extract, cache
//   cache hit:       warm tool cache, version latest  → resolve on the server, tool-cache find
//   cache hit exact: warm tool cache, exact version   → tool-cache find only
// Targets (issue 6): cache hit ≤ 0.5 s, download ≤ 2 s. Wall time of the whole step process.
// Needs: node .ci/build.mjs setup cli (and the release tarball in dist/releases: npm run build).
import { spawn, spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const ROOT = resolve(new URL('.', import.meta.url).pathname, '../..');
const SETUP = join(ROOT, 'dist/setup/index.js');
const CLI = join(ROOT, 'dist/cli/index.js');
const RUNS = Number(process.env.BENCH_RUNS || 10);
const TARGET_HIT_MS = 500;
const TARGET_DOWNLOAD_MS = 2000;

for (const f of [SETUP, CLI]) {
  if (!existsSync(f)) {
    console.error(
      `${f} is missing: run "node .ci/build.mjs setup cli" (and "npm run build" for the release tarball)`,
    );
    process.exit(2);
  }
}
const releases = existsSync(join(ROOT, 'dist/releases')) ? readdirSync(join(ROOT, 'dist/releases')) : [];
if (!releases.some((f) => f.endsWith('.tar.gz'))) {
  console.error('dist/releases holds no CLI tarball: run "npm run build" first');
  process.exit(2);
}

const port = await new Promise((res, rej) => {
  const s = createServer();
  s.once('error', rej);
  s.listen(0, '127.0.0.1', () => {
    const p = s.address().port;
    s.close(() => res(p));
  });
});
const work = mkdtempSync(join(tmpdir(), 'hoist-bench-setup-'));
const apiUrl = `http://127.0.0.1:${port}`;
const server = spawn(
  process.execPath,
  [CLI, 'server', '--listen', `127.0.0.1:${port}`, '--data-dir', join(work, 'data')],
  {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, HOIST_LOG_LEVEL: 'warn' },
  },
);
let serverErr = '';
server.stderr.on('data', (d) => (serverErr += d));

async function waitHealthy() {
  const deadline = Date.now() + 20000;
  while (Date.now() < deadline) {
    try {
      if ((await fetch(`${apiUrl}/healthz`)).ok) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`server did not start:\n${serverErr}`);
}

function runSetup(toolCache, version) {
  const dir = mkdtempSync(join(work, 'step-'));
  const files = {};
  for (const name of ['GITHUB_OUTPUT', 'GITHUB_ENV', 'GITHUB_PATH', 'GITHUB_STATE']) {
    files[name] = join(dir, name.toLowerCase());
    writeFileSync(files[name], '');
  }
  mkdirSync(join(dir, 'temp'));
  const env = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    GITHUB_ACTIONS: 'true',
    RUNNER_TEMP: join(dir, 'temp'),
    RUNNER_TOOL_CACHE: toolCache,
    INPUT_VERSION: version,
    'INPUT_API-URL': apiUrl,
    INPUT_OIDC: 'false',
    ...files,
  };
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, [SETUP], { env, encoding: 'utf8' });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`setup-action failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
  const out = readFileSync(files.GITHUB_OUTPUT, 'utf8');
  const cacheHit = /cache-hit<<(\S+)\n(true|false)\n/.exec(out)?.[2];
  const installed = /version<<(\S+)\n([^\n]+)\n/.exec(out)?.[2];
  rmSync(dir, { recursive: true, force: true });
  return { ms, cacheHit, installed };
}

function stats(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
  return { median: q(0.5), p90: q(0.9), min: s[0], max: s[s.length - 1] };
}
const fmt = (ms) => `${(ms / 1000).toFixed(3)} s`;

try {
  await waitHealthy();
  // One warm-up so the OS page cache holds node and the bundle for every scenario alike.
  runSetup(join(work, 'warmup-cache'), 'latest');

  const download = [];
  let version;
  for (let i = 0; i < RUNS; i++) {
    const r = runSetup(join(work, `fresh-cache-${i}`), 'latest');
    if (r.cacheHit !== 'false') throw new Error(`expected a download, got cache-hit=${r.cacheHit}`);
    version = r.installed;
    download.push(r.ms);
  }
  const warm = join(work, 'fresh-cache-0');
  const hitLatest = [];
  const hitExact = [];
  for (let i = 0; i < RUNS; i++) {
    const a = runSetup(warm, 'latest');
    const b = runSetup(warm, version);
    if (a.cacheHit !== 'true' || b.cacheHit !== 'true') throw new Error('expected tool-cache hits');
    hitLatest.push(a.ms);
    hitExact.push(b.ms);
  }
  const d = stats(download);
  const hl = stats(hitLatest);
  const he = stats(hitExact);
  console.log(
    `hoist/setup-action on loopback, ${RUNS} runs each, hoist ${version} (${releases.find((f) => f.endsWith('.tar.gz'))})`,
  );
  console.log('scenario                     median     p90        min        max');
  for (const [name, s] of [
    ['download (latest)', d],
    ['cache hit (latest)', hl],
    ['cache hit (exact version)', he],
  ]) {
    console.log(
      `${name.padEnd(28)} ${fmt(s.median).padEnd(10)} ${fmt(s.p90).padEnd(10)} ${fmt(s.min).padEnd(10)} ${fmt(s.max)}`,
    );
  }
  console.log(`ratio download/cache-hit (median, latest): ${(d.median / hl.median).toFixed(2)}x`);
  const okHit = hl.p90 <= TARGET_HIT_MS && he.p90 <= TARGET_HIT_MS;
  const okDl = d.p90 <= TARGET_DOWNLOAD_MS;
  console.log(`target cache hit ≤ ${TARGET_HIT_MS} ms (p90): ${okHit ? 'met' : 'MISSED'}`);
  console.log(`target download  ≤ ${TARGET_DOWNLOAD_MS} ms (p90): ${okDl ? 'met' : 'MISSED'}`);
  process.exitCode = okHit && okDl ? 0 : 1;
} finally {
  server.kill('SIGTERM');
  await new Promise((r) => server.once('exit', r));
  rmSync(work, { recursive: true, force: true });
}
