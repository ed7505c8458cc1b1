// Shared stages with `hoist bake` against building the same targets one by one.
//
//   npm run bench:bake            (needs `node .ci/build.mjs cli` first: it runs dist/cli/index.js)
//   BENCH_RUNS=5 npm run bench:bake
//
// Three targets (app, worker, cli) share a base stage whose RUN takes about 3 s; each target adds
// one small RUN. Every iteration changes a build arg of the base stage, so the base is really
// built, and exports nothing (type=cacheonly) so that only the building is measured. Compared:
//   bake:          one `hoist bake` of the three targets: one build, one builder, the base once
//   one by one:    three `hoist build --target X` in a row on the same project builder: the
//                  first builds the base, the next two find it in the builder's cache
//   no shared cache: three `hoist build --target X` that each see a different base (as three CI
//                  jobs on separate builders would): the base built three times
// It starts docker-registry (with the engine's cached Debian image) and a real `hoist server`
// (local buildkitd provider) on loopback ports, and prints the medians.
import { execFileSync, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';

const RUNS = Number(process.env.BENCH_RUNS || 3);
const CLI = resolve('dist/cli/index.js');
const ENGINE = process.env.HOIST_ENGINE_CACHE || join(homedir(), '.cache', 'hoist-engine');
const work = mkdtempSync(join(tmpdir(), 'hoist-bench-bake-'));
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

function run(args, env) {
  return new Promise((res) => {
    const t0 = performance.now();
    const c = spawn(process.execPath, [CLI, ...args], {
      env: { ...process.env, ...env },
      cwd: join(work, 'ctx'),
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    c.stderr.on('data', (d) => (err += d));
    c.on('close', (code) => res({ code, ms: performance.now() - t0, stderr: err }));
  });
}

async function waitHttp(url, what, log) {
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      /* not yet */
    }
    if (i > 150) throw new Error(`${what} did not start:\n${log()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

async function startRegistry() {
  const seed = join(ENGINE, 'base', 'bookworm', 'registry');
  if (!existsSync(`${seed}.done`)) throw new Error(`no cached base image in ${seed}: run npm run engine`);
  const dir = join(work, 'registry');
  cpSync(seed, join(dir, 'storage'), { recursive: true });
  const host = `127.0.0.1:${await freePort()}`;
  writeFileSync(
    join(dir, 'config.yml'),
    `version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: ${join(dir, 'storage')}\nhttp:\n  addr: ${host}\n`,
  );
  const reg = spawn('docker-registry', ['serve', join(dir, 'config.yml')], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  children.push(reg);
  let log = '';
  reg.stderr.on('data', (d) => (log += d));
  await waitHttp(`http://${host}/v2/`, 'docker-registry', () => log);
  return host;
}

async function main() {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run "node .ci/build.mjs cli" first`);
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
  await waitHttp(`${api}/healthz`, 'hoist server', () => serverLog);
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
  const project = await call('POST', '/v1/projects', admin, { name: 'bench-bake' });
  const { token } = await call('POST', `/v1/projects/${project.id}/tokens`, admin, { name: 'bench' });

  const targets = ['app', 'worker', 'cli'];
  const ctx = join(work, 'ctx');
  mkdirSync(ctx);
  writeFileSync(
    join(ctx, 'Dockerfile'),
    [
      `FROM ${registry}/hoist-test/debian:bookworm AS base`,
      'ARG NONCE',
      'RUN sleep 3 && echo "$NONCE" > /nonce',
      ...targets.flatMap((t) => [`FROM base AS ${t}`, `RUN echo ${t} > /${t}.txt`]),
      '',
    ].join('\n'),
  );
  writeFileSync(
    join(ctx, 'docker-bake.hcl'),
    [
      `group "default" {\n  targets = [${targets.map((t) => `"${t}"`).join(', ')}]\n}`,
      ...targets.map((t) => `target "${t}" {\n  target = "${t}"\n  output = ["type=cacheonly"]\n}`),
      '',
    ].join('\n'),
  );
  const env = { HOIST_API_URL: api, HOIST_TOKEN: token, HOIST_CONFIG: join(work, 'none.json') };
  const check = (r, what) => {
    if (r.code !== 0) throw new Error(`${what} failed:\n${r.stderr}`);
    return r.ms;
  };
  const build = (target, nonce) =>
    run(['build', '--target', target, '--build-arg', `NONCE=${nonce}`, '-o', 'type=cacheonly', '.'], env);

  // warm the builder (started on first use) and the base image
  check(await run(['bake', '--set', '*.args.NONCE=warm'], env), 'warm-up bake');

  const bakeMs = [];
  const oneByOneMs = [];
  const noSharingMs = [];
  for (let i = 0; i < RUNS; i++) {
    bakeMs.push(check(await run(['bake', '--set', `*.args.NONCE=bake-${i}`], env), 'hoist bake'));
    let t = 0;
    for (const target of targets)
      t += check(await build(target, `seq-${i}`), `hoist build --target ${target}`);
    oneByOneMs.push(t);
    t = 0;
    for (const target of targets)
      t += check(await build(target, `solo-${i}-${target}`), `hoist build --target ${target}`);
    noSharingMs.push(t);
  }
  const s = (x) => `${(x / 1000).toFixed(1)} s`;
  console.log(
    `bake-shared: ${RUNS} runs, 3 targets sharing a base stage whose RUN takes 3 s, type=cacheonly`,
  );
  console.log(
    `  hoist bake (one build, base once)               median ${s(median(bakeMs))}   runs ${bakeMs.map(s).join(', ')}`,
  );
  console.log(
    `  hoist build x3 in a row (base cached after 1st)  median ${s(median(oneByOneMs))}   runs ${oneByOneMs.map(s).join(', ')}`,
  );
  console.log(
    `  hoist build x3, no shared base (base x3)         median ${s(median(noSharingMs))}   runs ${noSharingMs.map(s).join(', ')}`,
  );
}

main()
  .catch((err) => {
    console.error(`bake-shared: ${err.stack || err}`);
    process.exitCode = 1;
  })
  .finally(() => {
    for (const c of children) c.kill('SIGTERM');
    // the builders' buildkitd children exit with the server; give them a moment before removing their dirs
    setTimeout(() => rmSync(work, { recursive: true, force: true }), 2000);
  });
