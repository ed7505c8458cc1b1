// Hoist's own overhead per `hoist build` against plain `docker buildx build` of the same fully cached
// Dockerfile on the same warm buildkitd, measured side by side (interleaved) in one run.
//
//   npm run bench:cli            (needs `npm run build` first: it runs dist/cli/index.js)
//   BENCH_RUNS=20 npm run bench:cli
//   BENCH_CLI_BEFORE=/path/to/older/dist/cli/index.js npm run bench:cli   (a third, interleaved variant:
//   another build of the CLI against the same server and builder, e.g. before a change)
//
// It starts a real `hoist server` (SQLite, local buildkitd provider) on a free loopback port, creates
// a project and a project token, warms the builder, then alternates:
//   hoist:  hoist build CONTEXT (HOIST_TOKEN)        (create, acquire, builder definition, build, clean-up + finish)
//           run as users run it: bin/hoist of the release tarball (dist/releases), setup-action's install
//   plain:  docker buildx build --builder B CONTEXT  (B: a remote builder on the same buildkitd, made once)
//   plain, standalone: the same buildx plugin run without the docker CLI in front (for reference)
// and prints medians, the median extra, Hoist's breakdown (HOIST_TIMINGS_FILE), and last the line
// `ratio hoist/plain R` (median of hoist over median of plain; goal <= 1.3). The environment is
// this process's own, NODE_EXTRA_CA_CERTS included when set.
import { spawn, execFileSync } from 'node:child_process';
import {
  existsSync,
  mkdtempSync,
  mkdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';

const RUNS = Number(process.env.BENCH_RUNS || 15);
const CLI = resolve('dist/cli/index.js');
// an older CLI: a bundle (…/index.js, run with node) or a launcher (…/bin/hoist, run as is)
const CLI_BEFORE = process.env.BENCH_CLI_BEFORE ? resolve(process.env.BENCH_CLI_BEFORE) : undefined;
const cliCommand = (cli) => (cli.endsWith('.js') ? [process.execPath, cli] : [cli]);
const work = mkdtempSync(join(tmpdir(), 'hoist-bench-cli-'));
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

/**
 * `docker buildx` as users run it: the docker CLI with buildx as its plugin. Without a global plugin,
 * a private DOCKER_CONFIG/BUILDX_CONFIG gets the engine's buildx linked in (as the test helpers do).
 */
function buildxSetup() {
  if (process.env.HOIST_BUILDX) return { file: process.env.HOIST_BUILDX, prefix: [], env: {} };
  try {
    execFileSync('docker', ['buildx', 'version'], { stdio: 'ignore' });
    return { file: 'docker', prefix: ['buildx'], env: {} };
  } catch {
    const dockerConfig = join(work, 'docker');
    mkdirSync(join(dockerConfig, 'cli-plugins'), { recursive: true });
    symlinkSync(
      `${process.env.HOME}/.cache/hoist-engine/bin/buildx`,
      join(dockerConfig, 'cli-plugins', 'docker-buildx'),
    );
    const env = { DOCKER_CONFIG: dockerConfig, BUILDX_CONFIG: join(work, 'buildx') };
    execFileSync('docker', ['buildx', 'version'], { stdio: 'ignore', env: { ...process.env, ...env } });
    return { file: 'docker', prefix: ['buildx'], env };
  }
}

/** A process that has not exited; a zombie (exited, not yet reaped by a slow init) counts as gone. */
function alive(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !'ZX'.includes(stat[stat.lastIndexOf(')') + 2]);
  } catch {
    return false;
  }
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const pct = (xs, p) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];

/** bin/hoist of the release tarball, unpacked as setup-action unpacks it. */
function unpackRelease() {
  const version = JSON.parse(readFileSync('package.json', 'utf8')).version;
  const arch = process.arch === 'arm64' ? 'arm64' : 'x64';
  const tarball = resolve(`dist/releases/hoist-${version}-linux-${arch}.tar.gz`);
  if (!existsSync(tarball)) throw new Error(`${tarball} is missing: run "npm run build" first`);
  const dir = join(work, 'release');
  mkdirSync(dir);
  execFileSync('tar', ['-xzf', tarball, '-C', dir]);
  return join(dir, 'bin', 'hoist');
}

/** The buildx plugin binary that `docker buildx` runs, to time it without the docker CLI. */
function pluginOf(bx) {
  if (bx.file !== 'docker') return undefined;
  const dirs = [join(bx.env.DOCKER_CONFIG || join(process.env.HOME, '.docker'), 'cli-plugins')];
  dirs.push('/usr/local/lib/docker/cli-plugins', '/usr/local/libexec/docker/cli-plugins');
  dirs.push('/usr/lib/docker/cli-plugins', '/usr/libexec/docker/cli-plugins');
  return dirs.map((d) => join(d, 'docker-buildx')).find((f) => existsSync(f));
}

async function main() {
  if (!existsSync(CLI))
    throw new Error(`${CLI} is missing: run "npm run build" (or "node .ci/build.mjs cli") first`);
  const HOIST = unpackRelease();
  const bx = buildxSetup();
  const plugin = pluginOf(bx);
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
    [CLI, 'server', '--listen', `127.0.0.1:${port}`, '--data-dir', dataDir],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  children.push(server);
  let serverLog = '';
  server.stderr.on('data', (d) => (serverLog += d));
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`${api}/healthz`)).ok) break;
    } catch {
      /* not yet */
    }
    if (i > 100) throw new Error(`hoist server did not start:\n${serverLog}`);
    await new Promise((r) => setTimeout(r, 100));
  }
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
  const project = await call('POST', '/v1/projects', admin, { name: 'bench-cli' });
  const { token } = await call('POST', `/v1/projects/${project.id}/tokens`, admin, { name: 'bench' });

  const ctx = join(work, 'ctx');
  mkdirSync(ctx);
  writeFileSync(join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY a.txt /a.txt\nCOPY b.txt /b.txt\n');
  writeFileSync(join(ctx, 'a.txt'), 'a\n');
  writeFileSync(join(ctx, 'b.txt'), 'b\n');
  const env = {
    ...bx.env,
    HOIST_API_URL: api,
    HOIST_TOKEN: token,
    HOIST_CONFIG: join(work, 'none.json'),
    // the CLI's V8 code cache starts empty: the first build writes it, the others read it
    XDG_CACHE_HOME: join(work, 'cache'),
  };
  if (process.env.HOIST_BUILDX) env.HOIST_BUILDX = process.env.HOIST_BUILDX;

  // warm the builder and the cache
  const warm = await run(HOIST, ['build', ctx], env);
  if (warm.code !== 0) throw new Error(`warm-up hoist build failed:\n${warm.stderr}`);

  // a plain buildx remote builder on the same buildkitd, made once, outside the timings
  const held = await call('POST', '/v1/builds', token, { platforms: [] });
  const info = await call('GET', `/v1/builds/${held.build_id}`, held.build_token);
  let active;
  for (;;) {
    active = await call(
      'GET',
      `/v1/builds/${held.build_id}/builders/${encodeURIComponent(info.platforms[0])}`,
      held.build_token,
    );
    if (active.status === 'active') break;
    await new Promise((r) => setTimeout(r, active.retry_after_ms));
  }
  const pem = join(work, 'pem');
  mkdirSync(pem, { mode: 0o700 });
  for (const [f, k] of [
    ['ca.pem', 'ca_pem'],
    ['cert.pem', 'cert_pem'],
    ['key.pem', 'key_pem'],
  ]) {
    writeFileSync(join(pem, f), active[k], { mode: 0o600 });
  }
  const plainBuilder = `bench-plain-${process.pid}`;
  execFileSync(
    bx.file,
    [
      ...bx.prefix,
      'create',
      '--name',
      plainBuilder,
      '--driver',
      'remote',
      '--driver-opt',
      `cacert=${pem}/ca.pem,cert=${pem}/cert.pem,key=${pem}/key.pem,servername=${active.server_name}`,
      active.endpoint,
    ],
    { stdio: 'ignore', env: { ...process.env, ...bx.env } },
  );
  const hb = setInterval(
    () => call('POST', `/v1/builds/${held.build_id}/heartbeat`, held.build_token, {}).catch(() => {}),
    5000,
  );
  const plainArgs = [...bx.prefix, 'build', '--builder', plainBuilder, ctx];
  const warmPlain = await run(bx.file, plainArgs, bx.env);
  if (warmPlain.code !== 0) throw new Error(`warm-up plain build failed:\n${warmPlain.stderr}`);

  const hoistMs = [];
  const plainMs = [];
  const directMs = [];
  const bareNoCaMs = [];
  const marks = [];
  const finisherAfterExit = [];
  const beforeMs = [];
  const beforeMarks = [];
  const bareMs = [];
  const finisherWork = [];
  try {
    for (let i = 0; i < RUNS; i++) {
      const timingsFile = join(work, `t${i}.json`);
      const h = await run(HOIST, ['build', ctx], { ...env, HOIST_TIMINGS_FILE: timingsFile });
      if (h.code !== 0) throw new Error(`hoist build failed:\n${h.stderr}`);
      if (!/CACHED/.test(h.stderr)) throw new Error(`hoist build was not fully cached:\n${h.stderr}`);
      hoistMs.push(h.ms);
      const m = JSON.parse(readFileSync(timingsFile, 'utf8'));
      marks.push(m);
      // The end of a successful build (steps, clean-up, finish report) runs in a background
      // process after hoist build exits: wait for it, so that it never slows the plain build.
      if (m.finisher_pid) {
        const t0 = performance.now();
        while (alive(m.finisher_pid)) await new Promise((r) => setTimeout(r, 2));
        finisherAfterExit.push(performance.now() - t0);
        const f = JSON.parse(readFileSync(`${timingsFile}.finisher.json`, 'utf8'));
        if (f.warnings?.length) throw new Error(`the background finish warned: ${f.warnings.join('; ')}`);
        finisherWork.push(f.finished_ms);
      }
      const p = await run(bx.file, plainArgs, bx.env);
      if (p.code !== 0) throw new Error(`plain build failed:\n${p.stderr}`);
      plainMs.push(p.ms);
      if (plugin) {
        const d = await run(plugin, plainArgs.slice(bx.prefix.length), bx.env);
        if (d.code !== 0) throw new Error(`plain standalone build failed:\n${d.stderr}`);
        directMs.push(d.ms);
      }
      // the floor of any CLI written for Node: a bare Node process started and ended
      bareMs.push((await run(process.execPath, ['-e', '0'])).ms);
      if (process.env.NODE_EXTRA_CA_CERTS) {
        bareNoCaMs.push((await run(process.execPath, ['-e', '0'], { NODE_EXTRA_CA_CERTS: '' })).ms);
      }
      if (CLI_BEFORE) {
        const beforeTimings = join(work, `b${i}.json`);
        const [file, ...pre] = cliCommand(CLI_BEFORE);
        const b = await run(file, [...pre, 'build', ctx], {
          ...env,
          HOIST_TIMINGS_FILE: beforeTimings,
        });
        if (b.code !== 0) throw new Error(`hoist build (BENCH_CLI_BEFORE) failed:\n${b.stderr}`);
        beforeMs.push(b.ms);
        // its background finisher too, or it would slow the next run of the other variant
        const bm = existsSync(beforeTimings) ? JSON.parse(readFileSync(beforeTimings, 'utf8')) : {};
        beforeMarks.push(bm);
        while (bm.finisher_pid && alive(bm.finisher_pid)) await new Promise((r) => setTimeout(r, 2));
      }
    }
  } finally {
    clearInterval(hb);
    execFileSync(bx.file, [...bx.prefix, 'rm', '--force', plainBuilder], {
      stdio: 'ignore',
      env: { ...process.env, ...bx.env },
    });
    await call('POST', `/v1/builds/${held.build_id}/finish`, held.build_token, { status: 'success' }).catch(
      () => {},
    );
  }

  const hMed = median(hoistMs);
  const pMed = median(plainMs);
  const extras = hoistMs.map((h, i) => h - plainMs[i]);
  const r = (x) => Math.round(x);
  console.log(
    `cli-overhead: ${RUNS} interleaved runs, fully cached Dockerfile, same warm buildkitd, buildx: ${[bx.file, ...bx.prefix].join(' ')}`,
  );
  console.log(`  plain buildx build   median ${r(pMed)} ms  p90 ${r(pct(plainMs, 90))} ms`);
  if (directMs.length) {
    const dMed = median(directMs);
    console.log(
      `  plain, standalone    median ${r(dMed)} ms  p90 ${r(pct(directMs, 90))} ms  (${plugin} without the docker CLI; hoist/standalone ${(median(hoistMs) / dMed).toFixed(2)})`,
    );
  }
  console.log(`  hoist build          median ${r(hMed)} ms  p90 ${r(pct(hoistMs, 90))} ms`);
  console.log(`  extra per build      median ${r(median(extras))} ms  p90 ${r(pct(extras, 90))} ms`);
  const caches = {};
  for (const m of marks) caches[m.code_cache ?? 'unknown'] = (caches[m.code_cache ?? 'unknown'] ?? 0) + 1;
  console.log(
    `  hoist's V8 code cache (lib/boot.js): ${Object.entries(caches)
      .map(([k, n]) => `${k} in ${n}`)
      .join(', ')} of ${marks.length} runs`,
  );
  /** Where a CLI's time went, phase by phase (medians of its own timing marks). */
  const breakdown = (title, ms, ms_marks) => {
    const ph = (from, to) => median(ms_marks.map((m) => m[to] - m[from]));
    console.log(`  ${title} breakdown (median ms):`);
    console.log(`    node start-up + module load     ${r(median(ms_marks.map((m) => m.start)))}`);
    console.log(`    resolve token + find buildx     ${r(ph('start', 'buildx_found'))}`);
    console.log(`    create build                    ${r(ph('buildx_found', 'created'))}`);
    console.log(`    acquire builder                 ${r(ph('created', 'acquired'))}`);
    console.log(`    write PEMs + builder definition ${r(ph('acquired', 'builder_created'))}`);
    console.log(`    buildx build (the solve)        ${r(ph('builder_created', 'built'))}`);
    if (ms_marks.every((m) => m.handed_off !== undefined)) {
      console.log(`    hand the end to a background    ${r(ph('built', 'handed_off'))}`);
      console.log(
        `    process exit + spawn (rest)     ${r(median(ms.map((h, i) => h - ms_marks[i].handed_off)))}`,
      );
    } else {
      console.log(`    remove builder + PEMs, finish   ${r(ph('built', 'finished'))}  (at once)`);
      console.log(
        `    process exit + spawn (rest)     ${r(median(ms.map((h, i) => h - ms_marks[i].finished)))}`,
      );
    }
  };
  breakdown('hoist', hoistMs, marks);
  if (finisherWork.length === marks.length) {
    console.log(
      `  after exit, in the background: steps + clean-up + finish ${r(median(finisherWork))} ms of work, done ${r(median(finisherAfterExit))} ms after exit (median; waited for before the next run)`,
    );
  }
  // runs far off the median, with where their time went (a wait for the builder, a slow exit…)
  hoistMs.forEach((h, i) => {
    if (h < 2 * hMed) return;
    const m = marks[i];
    const steps = Object.entries(m)
      .filter(([, v]) => typeof v === 'number' && v > 0 && v < 1e6)
      .map(([k, v]) => `${k} ${r(v)}`);
    console.log(`  outlier: run ${i + 1} took ${r(h)} ms; marks (ms since start): ${steps.join(', ')}`);
  });
  if (CLI_BEFORE) {
    const bMed = median(beforeMs);
    console.log(
      `  BENCH_CLI_BEFORE (${CLI_BEFORE}): median ${r(bMed)} ms, ratio before/plain ${(bMed / pMed).toFixed(2)}, extra ${r(median(beforeMs.map((b, i) => b - plainMs[i])))} ms`,
    );
    if (beforeMarks.every((m) => m.start !== undefined)) breakdown('BENCH_CLI_BEFORE', beforeMs, beforeMarks);
  }
  const bare = median(bareMs);
  console.log(
    `  bare node -e 0       median ${r(bare)} ms: a Node CLI cannot do better than (plain + bare node) / plain = ${((pMed + bare) / pMed).toFixed(2)} here`,
  );
  if (bareNoCaMs.length) {
    console.log(
      `  bare node -e 0 without NODE_EXTRA_CA_CERTS (set here: ${process.env.NODE_EXTRA_CA_CERTS}) median ${r(median(bareNoCaMs))} ms`,
    );
  }
  const ratio = hMed / pMed;
  console.log(`cli-overhead: ${ratio <= 1.3 ? 'PASS' : 'FAIL'} (goal: ratio <= 1.3)`);
  console.log(`ratio hoist/plain ${ratio.toFixed(2)}`);
  process.exitCode = ratio <= 1.3 ? 0 : 1;
}

main()
  .catch((err) => {
    console.error(`cli-overhead: ${err.stack || err}`);
    process.exitCode = 1;
  })
  .finally(async () => {
    // The server stops its builders (and unmounts what they mounted) before it exits: wait for
    // that, or the data dir cannot be removed.
    await Promise.all(
      children.map(
        (c) =>
          new Promise((res) => {
            if (c.exitCode !== null || c.signalCode !== null) return res();
            c.once('exit', res);
            c.kill('SIGTERM');
          }),
      ),
    );
    rmSync(work, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
  });
