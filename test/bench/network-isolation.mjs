#!/usr/bin/env node
// Benchmark: what isolating RUN steps costs. In one run it starts two real `hoist server`
// processes, one with --builder-network host and one with the default CNI isolation, gets a
// builder from each, and alternates (interleaved, order flipped every repetition):
//   cached:  a fully cached build (FROM + RUN, nothing to execute)
//   20 RUN:  a build of 20 RUN steps that all execute (a build argument busts the cache)
// then prints the medians per network mode and the CNI/host ratios.
//   npm run bench:network              (root: it creates bridges and iptables rules)
//   BENCH_RUNS=11 npm run bench:network
// It bundles `hoist server` from the sources into a temp dir and serves the Debian base image
// from a loopback docker-registry seeded from the engine cache (npm run engine).
import { execFile, execFileSync, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';

const RUNS = Number(process.env.BENCH_RUNS || 7);
const STEPS = 20;
const repo = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');
const engine = process.env.HOIST_ENGINE_CACHE || path.join(os.homedir(), '.cache', 'hoist-engine');
const buildctl = path.join(engine, 'bin', 'buildctl');
const seed = path.join(engine, 'base', 'bookworm', 'registry');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hoist-bench-net-'));
const children = [];

const freePort = () =>
  new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

function start(file, args, log) {
  const fd = fs.openSync(log, 'a');
  const c = spawn(file, args, { stdio: ['ignore', fd, fd] });
  fs.closeSync(fd);
  children.push(c);
  return c;
}

async function stop(c) {
  if (c.exitCode !== null || c.signalCode !== null) return;
  const exited = new Promise((r) => c.once('exit', r));
  c.kill('SIGTERM');
  const t = setTimeout(() => c.kill('SIGKILL'), 30_000);
  await exited;
  clearTimeout(t);
}

async function waitOk(url, what) {
  for (let i = 0; i < 400; i++) {
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      /* not yet */
    }
    await sleep(50);
  }
  throw new Error(`${what} did not come up`);
}

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

async function startRegistry() {
  const dir = path.join(tmp, 'registry');
  fs.cpSync(seed, path.join(dir, 'storage'), { recursive: true });
  const host = `127.0.0.1:${await freePort()}`;
  const config = path.join(dir, 'config.yml');
  fs.writeFileSync(
    config,
    `version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: ${dir}/storage\nhttp:\n  addr: ${host}\n`,
  );
  start('docker-registry', ['serve', config], path.join(dir, 'log'));
  await waitOk(`http://${host}/v2/`, 'docker-registry');
  return host;
}

/** A hoist server in `mode` with one project whose builder is running; its build stays open. */
async function startHoist(entry, mode, registry) {
  const dataDir = path.join(tmp, `data-${mode}`);
  const init = execFileSync(process.execPath, [entry, 'init', '--data-dir', dataDir], { encoding: 'utf8' });
  const admin = init.trim().split('\n').pop();
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const server = start(
    process.execPath,
    [
      entry,
      '--listen',
      `127.0.0.1:${port}`,
      '--data-dir',
      dataDir,
      '--log-level',
      'warn',
      '--builder-network',
      mode,
      '--builder-insecure-registries',
      registry,
      '--build-heartbeat-grace',
      '1h',
    ],
    path.join(tmp, `server-${mode}.log`),
  );
  await waitOk(`${base}/healthz`, `hoist server (${mode})`);
  const project = await api(base, admin, 'POST', '/v1/projects', { name: `bench-${mode}` });
  const { token } = await api(base, admin, 'POST', `/v1/projects/${project.id}/tokens`, { name: 'bench' });
  const b = await api(base, token, 'POST', '/v1/builds', { platforms: ['linux/amd64'] });
  let active;
  for (let i = 0; i < 400; i++) {
    active = await api(base, b.build_token, 'GET', `/v1/builds/${b.build_id}/builders/linux%2Famd64`);
    if (active.status === 'active') break;
    await sleep(Math.min(active.retry_after_ms, 100));
  }
  if (active.status !== 'active') throw new Error(`no builder (${mode}): ${active.reason}`);
  const pems = path.join(tmp, `pems-${mode}`);
  fs.mkdirSync(pems, { mode: 0o700 });
  fs.writeFileSync(path.join(pems, 'ca.pem'), active.ca_pem);
  fs.writeFileSync(path.join(pems, 'cert.pem'), active.cert_pem);
  fs.writeFileSync(path.join(pems, 'key.pem'), active.key_pem, { mode: 0o600 });
  const tls = [
    '--addr',
    active.endpoint,
    '--tlsservername',
    active.server_name,
    '--tlscacert',
    path.join(pems, 'ca.pem'),
    '--tlscert',
    path.join(pems, 'cert.pem'),
    '--tlskey',
    path.join(pems, 'key.pem'),
  ];
  const finish = () =>
    api(base, b.build_token, 'POST', `/v1/builds/${b.build_id}/finish`, { status: 'success' }).catch(
      () => undefined,
    );
  return { mode, server, tls, finish, dataDir };
}

function context(name, lines) {
  const dir = path.join(tmp, name);
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, 'Dockerfile'), lines.join('\n') + '\n');
  return dir;
}

function build(h, ctx, nonce) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    execFile(
      buildctl,
      [
        ...h.tls,
        'build',
        '--frontend',
        'dockerfile.v0',
        '--local',
        `context=${ctx}`,
        '--local',
        `dockerfile=${ctx}`,
        '--opt',
        `build-arg:NONCE=${nonce}`,
      ],
      { maxBuffer: 64 * 1024 * 1024 },
      (err, _out, stderr) => {
        if (err) reject(new Error(`build (${h.mode}) failed: ${String(stderr).slice(-2000)}`));
        else resolve(performance.now() - t0);
      },
    );
  });
}

const hosts = [];
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.once(sig, () => {
    // The servers stop their builders and remove bridges and rules; their data stays in tmp.
    for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
    process.stderr.write(`interrupted; the servers are stopping; remove ${tmp} once they are gone\n`);
    process.exit(130);
  });
}
try {
  if (process.getuid?.() !== 0)
    throw new Error('run as root: CNI isolation creates bridges and iptables rules');
  process.stderr.write('bundling hoist server…\n');
  const bundle = path.join(tmp, 'server');
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
  const registry = await startRegistry();
  const image = `${registry}/hoist-test/debian:bookworm`;
  for (const mode of ['host', 'cni']) hosts.push(await startHoist(entry, mode, registry));

  const cached = context('cached', [`FROM ${image}`, 'RUN echo cached > /cached', 'RUN ls / > /listing']);
  const steps = [`FROM ${image}`, 'ARG NONCE', 'RUN echo "$NONCE" > /steps'];
  for (let i = 1; i < STEPS; i++) steps.push(`RUN echo ${i} >> /steps`);
  const runs = context('runs', steps);

  process.stderr.write('warming both builders (base image pull, first cache)…\n');
  for (const h of hosts) {
    await build(h, cached, 'warm');
    await build(h, runs, randomBytes(6).toString('hex'));
  }
  // The CNI server's builder really is on its own bridge (hst<hash of its data dir>-N).
  const cni = hosts.find((h) => h.mode === 'cni');
  const sid = createHash('sha256').update(path.resolve(cni.dataDir)).digest('hex').slice(0, 6);
  const bridges = execFileSync('ip', ['-o', 'link', 'show', 'type', 'bridge'], { encoding: 'utf8' });
  if (!bridges.includes(`hst${sid}-`)) throw new Error(`no bridge hst${sid}-* for the CNI builder`);
  const t = { host: { cached: [], runs: [] }, cni: { cached: [], runs: [] } };
  for (let r = 0; r < RUNS; r++) {
    const order = r % 2 ? [...hosts].reverse() : hosts;
    for (const h of order) {
      t[h.mode].cached.push(await build(h, cached, 'warm'));
      t[h.mode].runs.push(await build(h, runs, randomBytes(6).toString('hex')));
    }
    process.stderr.write(`repetition ${r + 1}/${RUNS} done\n`);
  }
  const m = (mode, kind) => median(t[mode][kind]);
  const q = (xs, p) => [...xs].sort((a, b) => a - b)[Math.round(p * (xs.length - 1))];
  const iqr = (mode, kind) => `${q(t[mode][kind], 0.25).toFixed(0)}–${q(t[mode][kind], 0.75).toFixed(0)}`;
  const signed = (x) => `${x >= 0 ? '+' : '−'}${Math.abs(x).toFixed(0)}`;
  const row = (label, kind) =>
    `${label.padEnd(20)} host ${m('host', kind).toFixed(0)} ms (IQR ${iqr('host', kind)}), cni ${m('cni', kind).toFixed(0)} ms (IQR ${iqr('cni', kind)}), cni/host ${(m('cni', kind) / m('host', kind)).toFixed(2)} (${signed(m('cni', kind) - m('host', kind))} ms)`;
  console.log(
    `medians of ${RUNS} interleaved repetitions (${os.cpus().length} CPUs, load ${os.loadavg()[0].toFixed(1)}):`,
  );
  console.log(row('warm cached build', 'cached'));
  console.log(row(`${STEPS}-step RUN build`, 'runs'));
  console.log(
    `per RUN step: host ${(m('host', 'runs') / STEPS).toFixed(0)} ms, cni ${(m('cni', 'runs') / STEPS).toFixed(0)} ms`,
  );
  console.log(
    JSON.stringify({
      runs: RUNS,
      cached_ms: {
        host: m('host', 'cached'),
        cni: m('cni', 'cached'),
        ratio: m('cni', 'cached') / m('host', 'cached'),
      },
      run20_ms: {
        host: m('host', 'runs'),
        cni: m('cni', 'runs'),
        ratio: m('cni', 'runs') / m('host', 'runs'),
      },
      samples: t,
    }),
  );
} finally {
  for (const h of hosts) await h.finish();
  // Servers first (they stop their builders and remove bridges and rules), then the registry.
  for (const c of children) await stop(c);
  fs.rmSync(tmp, { recursive: true, force: true });
}
