#!/usr/bin/env node
// Benchmark: what short-lived builder certificates and the builders' gateway cost.
//   heartbeat: POST /v1/builds/{id}/heartbeat with a young certificate (nothing to renew) and
//              past half its life (the answer carries a renewed certificate: one ECDSA signature
//              and two rows written); server with --build-cert-lifetime 2s
//   gateway:   wall time of the same `buildx build` through the gateway (TLS, serial checked,
//              bytes piped) and straight to buildkitd's unix socket (no TLS, no proxy):
//              a cold COPY of a 64 MiB context (--no-cache) and a fully cached rebuild
// It bundles `hoist server` from the sources into a temp dir, runs it as a real process with a
// real buildkitd, and prints the figures. Usage: npm run bench:certs [-- --heartbeats N --builds N]
import { execFileSync, spawn } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';

const { values } = parseArgs({
  options: { heartbeats: { type: 'string', default: '30' }, builds: { type: 'string', default: '5' } },
});
const HEARTBEATS = Number(values.heartbeats);
const BUILDS = Number(values.builds);
const repo = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hoist-bench-certs-'));
const bundle = path.join(tmp, 'server');
const dataDir = path.join(tmp, 'data');
const buildx = process.env.HOIST_BUILDX || path.join(os.homedir(), '.cache/hoist-engine/bin/buildx');
const bxEnv = { ...process.env, BUILDX_CONFIG: path.join(tmp, 'buildx') };
let server = null;
const builders = [];

function cleanup() {
  for (const b of builders) {
    try {
      execFileSync(buildx, ['rm', '--force', b], { env: bxEnv, stdio: 'ignore' });
    } catch {
      /* gone */
    }
  }
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
const ms = (x) => `${x.toFixed(1)} ms`;

async function api(base, token, method, p, body) {
  const res = await fetch(base + p, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body ?? {}),
  });
  const json = await res.json();
  if (!res.ok) throw new Error(`${method} ${p}: HTTP ${res.status} ${JSON.stringify(json)}`);
  return json;
}

async function newBuild(base, token) {
  const b = await api(base, token, 'POST', '/v1/builds', { platforms: ['linux/amd64'] });
  for (;;) {
    const a = await api(base, b.build_token, 'GET', `/v1/builds/${b.build_id}/builders/linux%2Famd64`);
    if (a.status === 'active') return { ...b, active: a };
    await sleep(Math.min(a.retry_after_ms, 100));
  }
}

/** A buildx remote builder; with `pems` over TLS (the gateway), else the plain endpoint. */
function createBuilder(name, endpoint, pems) {
  const args = ['create', '--name', name, '--driver', 'remote'];
  if (pems) {
    const dir = path.join(tmp, name);
    fs.mkdirSync(dir, { mode: 0o700 });
    for (const [f, v] of Object.entries({ ca: pems.ca_pem, cert: pems.cert_pem, key: pems.key_pem }))
      fs.writeFileSync(path.join(dir, `${f}.pem`), v, { mode: 0o600 });
    args.push(
      '--driver-opt',
      `cacert=${dir}/ca.pem,cert=${dir}/cert.pem,key=${dir}/key.pem,servername=${pems.server_name}`,
    );
  }
  execFileSync(buildx, [...args, endpoint], { env: bxEnv, stdio: 'ignore' });
  builders.push(name);
}

function timeBuild(builder, ctx, extra) {
  const t0 = performance.now();
  execFileSync(
    buildx,
    ['build', '--builder', builder, '--progress=quiet', '--output', 'type=cacheonly', ...extra, ctx],
    { env: bxEnv, stdio: ['ignore', 'ignore', 'inherit'] },
  );
  return performance.now() - t0;
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
      '--build-cert-lifetime',
      '2s',
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

  // ---- heartbeats: young certificate vs due for renewal (interleaved) ----
  const hb = await newBuild(base, token);
  const plain = [];
  const renewing = [];
  for (let i = 0; i < 5; i++)
    await api(base, hb.build_token, 'POST', `/v1/builds/${hb.build_id}/heartbeat`, {});
  for (let i = 0; i < HEARTBEATS; i++) {
    await sleep(1050); // past half of the 2 s life
    let t0 = performance.now();
    const r = await api(base, hb.build_token, 'POST', `/v1/builds/${hb.build_id}/heartbeat`, {});
    renewing.push(performance.now() - t0);
    if (!r.certs?.length) throw new Error('a heartbeat past half life brought no certificate');
    t0 = performance.now();
    const y = await api(base, hb.build_token, 'POST', `/v1/builds/${hb.build_id}/heartbeat`, {});
    plain.push(performance.now() - t0);
    if (y.certs?.length) throw new Error('a young certificate was renewed');
  }
  await api(base, hb.build_token, 'POST', `/v1/builds/${hb.build_id}/finish`, { status: 'success' });

  // ---- builds: through the gateway vs straight to buildkitd's socket (interleaved) ----
  const b = await newBuild(base, token);
  const beat = setInterval(
    () =>
      void api(base, b.build_token, 'POST', `/v1/builds/${b.build_id}/heartbeat`, {}).catch(() => undefined),
    500,
  );
  const socket = path.join(dataDir, 'builders', b.active.builder_id, 'buildkitd.sock');
  createBuilder('bench-gateway', b.active.endpoint, b.active);
  createBuilder('bench-direct', `unix://${socket}`, null);
  const big = path.join(tmp, 'big');
  fs.mkdirSync(big);
  fs.writeFileSync(path.join(big, 'blob'), crypto.randomBytes(64 * 1024 * 1024));
  fs.writeFileSync(path.join(big, 'Dockerfile'), 'FROM scratch\nCOPY blob /blob\n');
  const small = path.join(tmp, 'small');
  fs.mkdirSync(small);
  fs.writeFileSync(path.join(small, 'a.txt'), 'a\n');
  fs.writeFileSync(path.join(small, 'Dockerfile'), 'FROM scratch\nCOPY a.txt /a.txt\n');
  const cold = { gateway: [], direct: [] };
  const warm = { gateway: [], direct: [] };
  const refresh = async () => {
    // a fresh certificate (2 s lifetime) before each build; buildx reads the files at every connection
    const r = await api(base, b.build_token, 'GET', `/v1/builds/${b.build_id}/builders/linux%2Famd64`);
    const dir = path.join(tmp, 'bench-gateway');
    fs.writeFileSync(path.join(dir, 'cert.pem'), r.cert_pem, { mode: 0o600 });
    fs.writeFileSync(path.join(dir, 'key.pem'), r.key_pem, { mode: 0o600 });
  };
  await refresh();
  timeBuild('bench-gateway', small, []);
  timeBuild('bench-direct', small, []);
  for (let i = 0; i < BUILDS; i++) {
    for (const via of i % 2 ? ['direct', 'gateway'] : ['gateway', 'direct']) {
      await refresh();
      cold[via].push(timeBuild(`bench-${via}`, big, ['--no-cache']));
      await refresh();
      warm[via].push(timeBuild(`bench-${via}`, small, []));
    }
  }
  clearInterval(beat);
  await api(base, b.build_token, 'POST', `/v1/builds/${b.build_id}/finish`, { status: 'success' });

  const out = [
    `heartbeat, nothing to renew:        median ${ms(median(plain))}, p95 ${ms(pct(plain, 95))} (n=${plain.length})`,
    `heartbeat carrying a renewed cert:  median ${ms(median(renewing))}, p95 ${ms(pct(renewing, 95))} (n=${renewing.length})`,
    `64 MiB COPY, --no-cache, gateway:   median ${ms(median(cold.gateway))} (n=${BUILDS})`,
    `64 MiB COPY, --no-cache, direct:    median ${ms(median(cold.direct))} (ratio ${(median(cold.gateway) / median(cold.direct)).toFixed(2)})`,
    `cached rebuild, gateway:            median ${ms(median(warm.gateway))} (n=${BUILDS})`,
    `cached rebuild, direct:             median ${ms(median(warm.direct))} (ratio ${(median(warm.gateway) / median(warm.direct)).toFixed(2)})`,
  ];
  process.stdout.write(out.join('\n') + '\n');
} finally {
  cleanup();
  await sleep(500);
}
