// What the `fallback-cache` export adds to a default-branch build on Hoist: the same `hoist build`
// (push of the image included) with and without
//   --cache-to type=registry,ref=<registry>/bench/cache:master,mode=max,ignore-error=true
// which is what hoist/build-push-action adds on the default branch when `fallback-cache` is set.
//
//   npm run bench:fallback-cache     (needs `npm run build` first: it runs dist/cli/index.js)
//   BENCH_RUNS=7 npm run bench:fallback-cache
//
// A real `hoist server` (SQLite, local buildkitd provider) and a real docker-registry on loopback,
// seeded with the engine's Debian base image. The Dockerfile: the base image, a 25 MB dependency
// layer, the sources, and a 5 MB build output (random bytes, so nothing compresses away).
//   cold:      a new NONCE every run, so every step runs (a dependency bump on main);
//   one-line:  the dependency layer stays cached, one line of one source file changes.
// The variants alternate (with, without, with, …) so drift hits both alike; medians are printed.
import { spawn, execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';

const RUNS = Number(process.env.BENCH_RUNS || 5);
const CLI = resolve('dist/cli/index.js');
const ENGINE = join(homedir(), '.cache', 'hoist-engine');
const work = mkdtempSync(join(tmpdir(), 'hoist-bench-fallback-cache-'));
const children = [];

function freePort() {
  return new Promise((res, rej) => {
    const s = createServer();
    s.on('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
  });
}

function run(file, args, env = {}) {
  return new Promise((res) => {
    const t0 = performance.now();
    const c = spawn(file, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    c.stderr.on('data', (d) => (err += d));
    c.on('close', (code) => res({ code, ms: performance.now() - t0, stderr: err }));
  });
}

async function waitFor(what, fn, log) {
  for (let i = 0; ; i++) {
    try {
      if (await fn()) return;
    } catch {
      /* not yet */
    }
    if (i > 200) throw new Error(`${what} did not start:\n${log()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A private docker config with the engine's buildx as the docker plugin (as the test helpers do). */
function buildxEnv() {
  const dockerConfig = join(work, 'docker');
  mkdirSync(join(dockerConfig, 'cli-plugins'), { recursive: true });
  symlinkSync(join(ENGINE, 'bin', 'buildx'), join(dockerConfig, 'cli-plugins', 'docker-buildx'));
  const env = { DOCKER_CONFIG: dockerConfig, BUILDX_CONFIG: join(work, 'buildx') };
  execFileSync('docker', ['buildx', 'version'], { stdio: 'ignore', env: { ...process.env, ...env } });
  return env;
}

async function startRegistry() {
  const seed = join(ENGINE, 'base', 'bookworm', 'registry');
  if (!existsSync(`${seed}.done`))
    throw new Error(`the base image is not cached in ${seed}: run npm run engine`);
  const storage = join(work, 'registry');
  cpSync(seed, storage, { recursive: true });
  const host = `127.0.0.1:${await freePort()}`;
  const config = join(work, 'registry.yml');
  writeFileSync(
    config,
    `version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: ${storage}\nhttp:\n  addr: ${host}\n`,
  );
  const child = spawn('docker-registry', ['serve', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  children.push(child);
  let log = '';
  child.stderr.on('data', (d) => (log += d));
  await waitFor(
    'docker-registry',
    async () => (await fetch(`http://${host}/v2/`)).ok,
    () => log,
  );
  return host;
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

async function main() {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run "npm run build" first`);
  const bx = buildxEnv();
  const registry = await startRegistry();
  const port = await freePort();
  const api = `http://127.0.0.1:${port}`;
  const dataDir = join(work, 'data');
  mkdirSync(dataDir);
  const init = execFileSync(process.execPath, [CLI, 'server', 'init', '--data-dir', dataDir], {
    encoding: 'utf8',
  });
  const admin = init.trim().split('\n').pop().trim();
  const server = spawn(
    process.execPath,
    [
      CLI,
      'server',
      '--listen',
      `127.0.0.1:${port}`,
      '--data-dir',
      dataDir,
      '--builder-insecure-registries',
      registry,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  children.push(server);
  let serverLog = '';
  server.stderr.on('data', (d) => (serverLog += d));
  await waitFor(
    'hoist server',
    async () => (await fetch(`${api}/healthz`)).ok,
    () => serverLog,
  );
  const call = async (method, path, token, body) => {
    const r = await fetch(`${api}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const j = await r.json();
    if (!r.ok) throw new Error(`${method} ${path}: ${JSON.stringify(j)}`);
    return j;
  };
  const project = await call('POST', '/v1/projects', admin, { name: 'bench-fallback-cache' });
  const { token } = await call('POST', `/v1/projects/${project.id}/tokens`, admin, { name: 'bench' });
  const env = { ...bx, HOIST_API_URL: api, HOIST_TOKEN: token, HOIST_CONFIG: join(work, 'none.json') };

  const ctx = join(work, 'ctx');
  mkdirSync(join(ctx, 'src'), { recursive: true });
  writeFileSync(
    join(ctx, 'Dockerfile'),
    [
      `FROM ${registry}/hoist-test/debian:bookworm`,
      'ARG NONCE',
      'RUN echo "$NONCE" > /opt/nonce && head -c 25000000 /dev/urandom > /opt/deps.bin',
      'COPY src/ /app/src/',
      'RUN cat /app/src/* > /app/build.txt && head -c 5000000 /dev/urandom > /app/out.bin',
      '',
    ].join('\n'),
  );
  const sources = (line) => {
    for (let f = 0; f < 20; f++) {
      const lines = Array.from({ length: 200 }, (_, i) => `export const v${f}_${i} = ${i};`);
      if (f === 7) lines[100] = `export const changed = ${JSON.stringify(line)};`;
      writeFileSync(join(ctx, 'src', `m${f}.ts`), `${lines.join('\n')}\n`);
    }
  };
  const cacheTo = `type=registry,ref=${registry}/bench/cache:master,mode=max,ignore-error=true`;
  let n = 0;
  const build = async (nonce, exportCache) => {
    const args = [
      CLI,
      'build',
      '--push',
      '-t',
      `${registry}/bench/app:${++n}`,
      '--build-arg',
      `NONCE=${nonce}`,
    ];
    if (exportCache) args.push('--cache-to', cacheTo);
    args.push(ctx);
    const r = await run(process.execPath, args, env);
    if (r.code !== 0) throw new Error(`hoist build failed:\n${r.stderr}`);
    return r.ms;
  };

  sources('initial');
  // Warm the Hoist builder (base image pulled) without touching the cache repository.
  await build('warm-up', false);
  // The very first export, into an empty cache repository (the base image's layers go too).
  const first = await build('first-export', true);

  const cold = { with: [], without: [] };
  for (let i = 0; i < RUNS; i++) {
    cold.with.push(await build(`cold-with-${i}`, true));
    cold.without.push(await build(`cold-without-${i}`, false));
  }
  const oneLine = { with: [], without: [] };
  await build('steady', true); // the dependency layer of this series, exported once
  for (let i = 0; i < RUNS; i++) {
    sources(`with-${i}`);
    oneLine.with.push(await build('steady', true));
    sources(`without-${i}`);
    oneLine.without.push(await build('steady', false));
  }

  const s = (ms) => `${(ms / 1000).toFixed(2)} s`;
  console.log(
    `fallback-cache export on a default-branch hoist build (push included), ${RUNS} interleaved runs each, loopback registry`,
  );
  console.log(`  first export into an empty cache repository: ${s(first)}`);
  for (const [name, r] of [
    ['cold (every step runs)', cold],
    ['one-line change       ', oneLine],
  ]) {
    const w = median(r.with);
    const wo = median(r.without);
    console.log(
      `  ${name}  without ${s(wo)}  with ${s(w)}  extra ${s(w - wo)} (${(((w - wo) / wo) * 100).toFixed(0)}%)`,
    );
    console.log(`    runs without: ${r.without.map(s).join(', ')}`);
    console.log(`    runs with:    ${r.with.map(s).join(', ')}`);
  }
}

main()
  .catch((err) => {
    console.error(`fallback-cache-export: ${err.stack || err}`);
    process.exitCode = 1;
  })
  .finally(() => {
    for (const c of children) c.kill('SIGTERM');
    setTimeout(() => rmSync(work, { recursive: true, force: true }), 2000);
  });
