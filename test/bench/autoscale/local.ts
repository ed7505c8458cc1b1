// The local part of `npm run bench:autoscale` (main.ts runs it before the simulated fleet): what a
// cache clone costs on this host with the local provider and real buildkitd daemons.
//   for each storage set-up (XFS loop mount: reflink; the xfs-image builder volume: reflink of
//   one image file; ext4 loop mount: full copy) and each cache size (1 GiB, 5 GiB by default):
//     a primary builds a cache of that size (one RUN step: a big file of non-zero, non-repeating
//     64 MiB chunks plus 2000 small files), then
//     snapshot  the primary is stopped cleanly, copied, restarted: its downtime and the copy time;
//     clone     a clone launched from the snapshot: the seeding copy and the whole launch, and a
//               check that the clone's build of the same Dockerfile is fully CACHED.
//   npm run bench:autoscale                             (root: loop mounts; ~15 min on 2 cores)
//   BENCH_SIZES_GIB=1 BENCH_SETUPS=xfs,ext4 npm run bench:autoscale
//   BENCH_LOCAL=0 npm run bench:autoscale                (the simulated fleet only)
// Every mount, loop device, process and temp dir it makes is removed at the end.
import { execFile } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { findBuildkitd, LocalProvider } from '../../../src/providers/local.js';
import type { ProviderLogger } from '../../../src/providers/provider-options.js';
import type { RunningBuilder } from '../../../src/providers/provider.js';
import { parseRawjson } from '../../builds/buildx.js';
import { startRegistry, type Registry } from '../../helpers/engine.js';

const run = promisify(execFile);
const GIB = 1024 ** 3;
const SIZES = (process.env.BENCH_SIZES_GIB ?? '1,5').split(',').map(Number);
const SETUPS = (process.env.BENCH_SETUPS ?? 'xfs,xfs-image,ext4').split(',') as Setup[];
type Setup = 'xfs' | 'xfs-image' | 'ext4';

export interface Row {
  setup: Setup;
  method: string;
  gib: number;
  cacheBytes: number | null;
  buildS: number;
  downtimeMs: number;
  snapshotStopMs: number;
  snapshotCopyMs: number;
  cloneSeedMs: number;
  cloneLaunchMs: number;
  cloneCached: boolean;
}

let tmp = '';
const mounts: string[] = [];
const providers: LocalProvider[] = [];
let registry: Registry | undefined;

async function loopMount(kind: 'xfs' | 'ext4', name: string, bytes: number): Promise<string> {
  const image = path.join(tmp, `${name}.img`);
  const dir = path.join(tmp, name);
  await fs.mkdir(dir);
  const fh = await fs.open(image, 'w');
  await fh.truncate(bytes);
  await fh.close();
  await run(
    kind === 'xfs' ? 'mkfs.xfs' : 'mkfs.ext4',
    kind === 'xfs' ? ['-q', '-m', 'reflink=1', image] : ['-q', '-F', image],
  );
  await run('mount', ['-o', 'loop', image, dir]);
  mounts.push(dir);
  return dir;
}

async function build(p: LocalProvider, b: RunningBuilder, dockerfile: string): Promise<boolean> {
  const dir = await fs.mkdtemp(path.join(tmp, 'ctx-'));
  try {
    const cert = await p.issueClientCert(b.id, {
      commonName: 'bench',
      notAfter: new Date(Date.now() + 3600_000),
    });
    await fs.writeFile(path.join(dir, 'Dockerfile'), dockerfile);
    await fs.writeFile(path.join(dir, 'ca.pem'), b.caPem);
    await fs.writeFile(path.join(dir, 'cert.pem'), cert.certPem);
    await fs.writeFile(path.join(dir, 'key.pem'), cert.keyPem, { mode: 0o600 });
    const buildctl = path.join(path.dirname(await findBuildkitd()), 'buildctl');
    const { stderr } = await run(
      buildctl,
      [
        ...['--addr', b.endpoint, '--tlsservername', b.serverName],
        ...['--tlscacert', path.join(dir, 'ca.pem'), '--tlscert', path.join(dir, 'cert.pem')],
        ...['--tlskey', path.join(dir, 'key.pem'), 'build', '--frontend', 'dockerfile.v0'],
        ...['--local', `context=${dir}`, '--local', `dockerfile=${dir}`, '--progress', 'rawjson'],
      ],
      { timeout: 1800_000, maxBuffer: 256 * 1024 * 1024 },
    );
    const steps = parseRawjson(stderr).filter((v) => / RUN /.test(v.name));
    return steps.length > 0 && steps.every((v) => v.cached);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

/** A cache of about `bytes`: random 64 MiB chunks (each its own: nothing dedupes or sparsifies) and 2000 small files. */
function dockerfile(base: string, bytes: number): string {
  const chunks = Math.max(1, Math.round((bytes - 200 * 1024 ** 2) / (64 * 1024 ** 2)));
  return [
    `FROM ${base}`,
    `RUN mkdir /cache /cache/small && for i in $(seq 1 ${chunks}); do head -c 67108864 /dev/urandom > /cache/big-$i; done && for i in $(seq 1 2000); do head -c 100000 /dev/urandom > /cache/small/f$i; done && echo made`,
    'RUN echo second-step > /second',
    '',
  ].join('\n');
}

async function measure(setup: Setup, gib: number, dataRoot: string): Promise<Row> {
  const logs: { msg: string; obj: Record<string, unknown> }[] = [];
  const logger: ProviderLogger = {
    info: (obj, msg) => logs.push({ msg, obj: obj as Record<string, unknown> }),
    warn: (obj, msg) => logs.push({ msg, obj: obj as Record<string, unknown> }),
    error: (obj, msg) => logs.push({ msg, obj: obj as Record<string, unknown> }),
  };
  const dataDir = path.join(dataRoot, `g${gib}`);
  const p = await LocalProvider.create({
    dataDir,
    maxUsedSpaceBytes: (gib + 2) * GIB,
    insecureRegistries: [registry!.host],
    logger,
    network: { mode: 'host' },
    ...(setup === 'xfs-image'
      ? {
          volume: { kind: 'xfs-image' as const, sizeBytes: (3 * gib + 3) * GIB },
          diskLimitBytes: (gib + 1) * GIB,
        }
      : {}),
  });
  providers.push(p);
  const spec = { id: 'bkr_bench', projectId: 'prj_bench', platform: 'linux/amd64' };
  const df = dockerfile(registry!.baseImage, gib * GIB);
  const primary = await p.launch(spec);
  const t0 = performance.now();
  await build(p, primary, df);
  const buildS = (performance.now() - t0) / 1000;
  const snap = await p.snapshot(spec.id, 'snap');
  const taken = logs.find((l) => l.msg === 'snapshot taken');
  const c0 = performance.now();
  const clone = await p.launch({ ...spec, id: 'bkr_clone', role: 'clone', snapshotId: 'snap' });
  const cloneLaunchMs = performance.now() - c0;
  const seeded = logs.find((l) => l.msg === 'clone seeded from snapshot');
  const cloneCached = await build(p, clone, df);
  const row: Row = {
    setup,
    method: p.capabilities().cloneMethod,
    gib,
    cacheBytes: snap.sizeBytes,
    buildS,
    downtimeMs: snap.downtimeMs,
    snapshotStopMs: Number(taken?.obj.stop_ms),
    snapshotCopyMs: Number(taken?.obj.copy_ms),
    cloneSeedMs: Number(seeded?.obj.ms),
    cloneLaunchMs,
    cloneCached,
  };
  await p.destroy('bkr_clone');
  await p.deleteSnapshot('snap');
  await p.destroy(spec.id);
  await p.close({ stopBuilders: true });
  providers.splice(providers.indexOf(p), 1);
  return row;
}

const fmt = (ms: number): string => (ms >= 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms)} ms`);

/** Runs the local measurements, prints a line each and a Markdown table; returns the rows. */
export async function runLocal(): Promise<Row[]> {
  const rows: Row[] = [];
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'hoist-bench-clone-'));
  try {
    registry = await startRegistry();
    const maxGib = Math.max(...SIZES);
    for (const setup of SETUPS) {
      // Room for the primary, its snapshot and a clone, each a full copy in the worst case (sparse files).
      const bytes = (3 * maxGib + 6) * GIB;
      const root =
        setup === 'xfs-image' ? path.join(tmp, 'xfs-image') : await loopMount(setup, `fs-${setup}`, bytes);
      for (const gib of SIZES) {
        const r = await measure(setup, gib, root);
        rows.push(r);
        console.log(
          `${setup.padEnd(9)} ${r.method.padEnd(9)} cache ${gib} GiB (${((r.cacheBytes ?? 0) / GIB).toFixed(2)} GiB on disk): ` +
            `snapshot downtime ${fmt(r.downtimeMs)} (stop ${fmt(r.snapshotStopMs)}, copy ${fmt(r.snapshotCopyMs)}), clone seed ${fmt(r.cloneSeedMs)}, ` +
            `clone launch ${fmt(r.cloneLaunchMs)}, clone build ${r.cloneCached ? 'all CACHED' : 'NOT cached'} (cache built in ${r.buildS.toFixed(0)} s)`,
        );
      }
    }
  } finally {
    for (const p of providers) await p.close({ stopBuilders: true }).catch(() => undefined);
    await registry?.stop();
    for (const m of mounts.reverse()) await run('umount', ['-R', m]).catch(() => undefined);
    await fs.rm(tmp, { recursive: true, force: true });
  }
  console.log(
    '\n| setup | method | cache | snapshot downtime | of it: stop | of it: copy | clone seed | clone launch | clone build |',
  );
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const r of rows) {
    console.log(
      `| ${r.setup} | ${r.method} | ${r.gib} GiB | ${fmt(r.downtimeMs)} | ${fmt(r.snapshotStopMs)} | ${fmt(r.snapshotCopyMs)} | ${fmt(r.cloneSeedMs)} | ${fmt(r.cloneLaunchMs)} | ${r.cloneCached ? 'CACHED' : 'not cached'} |`,
    );
  }
  const by = (s: Setup, g: number) => rows.find((r) => r.setup === s && r.gib === g);
  for (const g of SIZES) {
    const a = by('xfs', g);
    const b = by('ext4', g);
    if (a && b)
      console.log(`clone ${g} GiB: full copy / reflink ${(b.cloneSeedMs / a.cloneSeedMs).toFixed(1)}x`);
  }
  return rows;
}
