// End-to-end benchmark: the wall time of a whole CI build step, start to pushed image, for
// realistic workloads, Hoist against what users run today (see README, "Benchmark: a CI build
// step against docker/build-push-action"). Run with `npm run bench:e2e -- [--quick] ...`
// (options in report.ts); inputs come from prepare.sh, which the npm script runs first.
//
// Modes (each step verified against the digest in the registry):
//   a             a fresh docker-container builder as docker/setup-buildx-action makes it (its
//                 BuildKit image pulled from the registry by dockerd every time), then
//                 `docker buildx build --push` with --cache-from/--cache-to type=registry,ref=<cache>:main,mode=max
//   b             the same builder without a cache
//   hoist-cli     `hoist build --push` (the CLI bundle) on the project's persistent builder
//   hoist-action  the built setup-action (CLI downloaded into an empty tool cache, OIDC exchange)
//                 then the built build-push-action, run the way the runner runs them
//   a-bake        bake shape of (a): the same fresh builder, then one `docker buildx bake --push` of every
//                 target, each with its own registry cache (cache-from/cache-to mode=max, set with --set)
//   hoist-bake    `hoist bake --push` of the same bake definition on the project's persistent builder
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, homedir, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import type { Project } from '../../../src/lib/api-types.js';
import { newJob, runStep, REPO_ROOT } from '../../actions/runner.js';
import {
  engineBinaries,
  makeDockerConfig,
  startDockerd,
  type DockerConfig,
  type Dockerd,
} from '../../helpers/engine.js';
import { waitForFinishers } from '../../helpers/finisher.js';
import { startOidcIssuer, type OidcIssuer } from '../../helpers/oidc-issuer.js';
import { startTestServer, type TestServer } from '../../helpers/server.js';
import {
  BASE_IMAGE,
  BUILDKIT_IMAGE,
  CACHE_REPO_PREFIX,
  seedStorage,
  startCountingProxy,
  startLoopbackRegistry,
  startShapedRegistry,
  runcWrapperArgs,
  type CountingProxy,
} from './infra.js';
import {
  bakeDefinition,
  parseOptions,
  resultsTable,
  rotation,
  seconds,
  type Mode,
  type Network,
  type Options,
  type Sample,
  type Scenario,
  type Workload,
} from './report.js';
import { WORKLOAD_DEFS } from './workloads.js';

const CACHE = process.env.HOIST_BENCH_CACHE || join(homedir(), '.cache', 'hoist-bench');
const CLI = join(REPO_ROOT, 'dist', 'cli', 'index.js');
const REPO = 'octo-org/octo-repo';
const CONCURRENT = 4;

const log = (msg: string): void =>
  void process.stderr.write(`[bench:e2e ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);

interface Ctx {
  opts: Options;
  work: string;
  proxy: CountingProxy;
  dockerd: Dockerd;
  dockerConfig: DockerConfig;
  issuer: OidcIssuer;
  server: TestServer;
  buildkitdToml: string;
  dockerEnv: NodeJS.ProcessEnv;
  samples: Sample[];
  outDir: string;
  started: string;
  loads: number[];
}

/** Runs a command with its output in `logFile`; throws with the end of that log when it fails. */
async function sh(
  cmd: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  logFile: string,
  cwd?: string,
): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const child = spawn(cmd, args, { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    const chunks: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => chunks.push(d));
    child.stderr.on('data', (d: Buffer) => chunks.push(d));
    child.on('error', reject);
    child.on('close', (code) => {
      const text = Buffer.concat(chunks).toString();
      writeFileSync(logFile, `$ ${cmd} ${args.join(' ')}\n${text}\n`, { flag: 'a' });
      if (code === 0) resolve();
      else
        reject(
          new Error(
            `${cmd} ${args.slice(0, 3).join(' ')} … exited ${code}; last lines:\n${text.split('\n').slice(-25).join('\n')}\n(full log: ${logFile})`,
          ),
        );
    });
  });
}

async function registryDigest(ctx: Ctx, ref: string): Promise<string | null> {
  const rest = ref.slice(ctx.proxy.host.length + 1);
  const colon = rest.lastIndexOf(':');
  const res = await fetch(
    `http://${ctx.proxy.host}/v2/${rest.slice(0, colon)}/manifests/${rest.slice(colon + 1)}`,
    {
      method: 'HEAD',
      headers: {
        accept: [
          'application/vnd.oci.image.index.v1+json',
          'application/vnd.oci.image.manifest.v1+json',
          'application/vnd.docker.distribution.manifest.list.v2+json',
          'application/vnd.docker.distribution.manifest.v2+json',
        ].join(', '),
      },
    },
  );
  return res.ok ? res.headers.get('docker-content-digest') : null;
}

/** Checks that the registry holds, under `tag`, the digest the step reported. */
async function verify(ctx: Ctx, tag: string, digest: string | undefined): Promise<void> {
  const inRegistry = await registryDigest(ctx, tag);
  if (!digest || !/^sha256:[0-9a-f]{64}$/.test(digest) || inRegistry !== digest) {
    throw new Error(
      `${tag}: the step reported ${digest ?? 'no digest'} but the registry holds ${inRegistry ?? 'nothing'}`,
    );
  }
}

function metadataDigest(file: string): string | undefined {
  const m = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  return m['containerimage.digest'] as string | undefined;
}

interface StepSpec {
  workload: Workload;
  contextDir: string;
  /** Image reference for a target, without the tag. */
  repo: (target: string | undefined) => string;
  tag: string;
  logFile: string;
  /** Baseline (a): the cache repository (no tag) for a target. */
  cacheRepo?: (target: string | undefined) => string;
  /** Hoist: the project and, for the CLI, its token. */
  project?: Project;
  token?: string;
}

interface StepResult {
  ms: number;
  bootMs?: number;
}

function buildArg(ctx: Ctx): string[] {
  return ['--build-arg', `BASE=${ctx.proxy.host}/${BASE_IMAGE}`];
}

/** (a)/(b): setup-buildx-action's fresh docker-container builder, then build-push-action's buildx build. */
async function baselineStep(ctx: Ctx, s: StepSpec, name: string): Promise<StepResult> {
  const env = ctx.dockerEnv;
  const def = WORKLOAD_DEFS[s.workload];
  const t0 = performance.now();
  await sh(
    'docker',
    [
      'buildx',
      'create',
      '--name',
      name,
      '--driver',
      'docker-container',
      '--driver-opt',
      `image=${ctx.proxy.host}/${BUILDKIT_IMAGE}`,
      '--driver-opt',
      'network=host',
      '--buildkitd-config',
      ctx.buildkitdToml,
      '--buildkitd-flags',
      '--allow-insecure-entitlement security.insecure --allow-insecure-entitlement network.host',
    ],
    env,
    s.logFile,
  );
  await sh('docker', ['buildx', 'inspect', '--bootstrap', '--builder', name], env, s.logFile);
  const bootMs = performance.now() - t0;
  const digests: [string, string | undefined][] = [];
  for (const target of def.targets) {
    const ref = `${s.repo(target)}:${s.tag}`;
    const meta = join(ctx.work, `meta-${randomBytes(6).toString('hex')}.json`);
    const cache = s.cacheRepo
      ? [
          '--cache-from',
          `type=registry,ref=${s.cacheRepo(target)}:main`,
          '--cache-to',
          `type=registry,ref=${s.cacheRepo(target)}:main,mode=max`,
        ]
      : [];
    await sh(
      'docker',
      [
        'buildx',
        'build',
        '--builder',
        name,
        '--push',
        '-t',
        ref,
        '--metadata-file',
        meta,
        ...(target ? ['--target', target] : []),
        ...buildArg(ctx),
        ...cache,
        s.contextDir,
      ],
      env,
      s.logFile,
    );
    digests.push([ref, metadataDigest(meta)]);
  }
  const ms = performance.now() - t0;
  for (const [ref, d] of digests) await verify(ctx, ref, d);
  return { ms, bootMs };
}

/**
 * Writes the step's bake definition (every target of the workload) as docker-bake.json at the
 * context's root, as a repository has it, with context "."; bake runs in that directory (a
 * context outside it would need buildx's --allow=fs.read entitlement). No stage copies the file.
 */
function writeBake(ctx: Ctx, s: StepSpec): string {
  const file = 'docker-bake.json';
  const def = bakeDefinition('.', WORKLOAD_DEFS[s.workload].targets, s.repo, s.tag, {
    BASE: `${ctx.proxy.host}/${BASE_IMAGE}`,
  });
  writeFileSync(join(s.contextDir, file), JSON.stringify(def, null, 2));
  return file;
}

/** Checks every target's digest of a bake metadata file against the registry. */
async function verifyBake(ctx: Ctx, s: StepSpec, meta: string): Promise<void> {
  const m = JSON.parse(readFileSync(meta, 'utf8')) as Record<string, Record<string, unknown>>;
  for (const target of WORKLOAD_DEFS[s.workload].targets) {
    await verify(
      ctx,
      `${s.repo(target)}:${s.tag}`,
      m[target ?? 'image']?.['containerimage.digest'] as string,
    );
  }
}

/** (a), bake shape: the fresh builder of (a), then docker/bake-action's one bake of every target. */
async function baselineBakeStep(ctx: Ctx, s: StepSpec, name: string): Promise<StepResult> {
  const env = ctx.dockerEnv;
  const file = writeBake(ctx, s);
  const meta = join(ctx.work, `meta-${randomBytes(6).toString('hex')}.json`);
  const cache = WORKLOAD_DEFS[s.workload].targets.flatMap((target) => {
    const t = target ?? 'image';
    return [
      '--set',
      `${t}.cache-from=type=registry,ref=${s.cacheRepo!(target)}:main`,
      '--set',
      `${t}.cache-to=type=registry,ref=${s.cacheRepo!(target)}:main,mode=max`,
    ];
  });
  const t0 = performance.now();
  await sh(
    'docker',
    [
      'buildx',
      'create',
      '--name',
      name,
      '--driver',
      'docker-container',
      '--driver-opt',
      `image=${ctx.proxy.host}/${BUILDKIT_IMAGE}`,
      '--driver-opt',
      'network=host',
      '--buildkitd-config',
      ctx.buildkitdToml,
      '--buildkitd-flags',
      '--allow-insecure-entitlement security.insecure --allow-insecure-entitlement network.host',
    ],
    env,
    s.logFile,
  );
  await sh('docker', ['buildx', 'inspect', '--bootstrap', '--builder', name], env, s.logFile);
  const bootMs = performance.now() - t0;
  await sh(
    'docker',
    ['buildx', 'bake', '--builder', name, '-f', file, '--push', '--metadata-file', meta, ...cache],
    env,
    s.logFile,
    s.contextDir,
  );
  const ms = performance.now() - t0;
  await verifyBake(ctx, s, meta);
  return { ms, bootMs };
}

/** `hoist bake --push` of the same definition (no cache flags: the builder keeps its cache). */
async function hoistBakeStep(ctx: Ctx, s: StepSpec): Promise<StepResult> {
  const file = writeBake(ctx, s);
  const meta = join(ctx.work, `meta-${randomBytes(6).toString('hex')}.json`);
  const timings = join(ctx.work, `timings-${randomBytes(6).toString('hex')}.json`);
  const env = {
    ...ctx.dockerEnv,
    HOIST_API_URL: ctx.server.url,
    HOIST_TOKEN: s.token,
    HOIST_CONFIG: join(ctx.work, 'no-hoist-config.json'),
    HOIST_TIMINGS_FILE: timings,
  };
  const t0 = performance.now();
  await sh(
    process.execPath,
    [CLI, 'bake', '-f', file, '--push', '--metadata-file', meta],
    env,
    s.logFile,
    s.contextDir,
  );
  const ms = performance.now() - t0;
  await verifyBake(ctx, s, meta);
  const t = existsSync(timings) ? (JSON.parse(readFileSync(timings, 'utf8')) as Record<string, number>) : {};
  return { ms, bootMs: t.builder_created };
}

async function baselineCleanup(ctx: Ctx, names: string[], logFile: string): Promise<void> {
  for (const name of names) {
    await sh('docker', ['buildx', 'rm', '--force', name], ctx.dockerEnv, logFile).catch(() => undefined);
  }
  // The next fresh builder pulls the BuildKit image again, as on a new runner.
  await sh('docker', ['rmi', '-f', `${ctx.proxy.host}/${BUILDKIT_IMAGE}`], ctx.dockerEnv, logFile).catch(
    () => undefined,
  );
}

async function hoistCliStep(ctx: Ctx, s: StepSpec): Promise<StepResult> {
  const def = WORKLOAD_DEFS[s.workload];
  const env = {
    ...ctx.dockerEnv,
    HOIST_API_URL: ctx.server.url,
    HOIST_TOKEN: s.token,
    HOIST_CONFIG: join(ctx.work, 'no-hoist-config.json'),
  };
  const t0 = performance.now();
  const digests: [string, string | undefined][] = [];
  let bootMs = 0;
  for (const target of def.targets) {
    const ref = `${s.repo(target)}:${s.tag}`;
    const meta = join(ctx.work, `meta-${randomBytes(6).toString('hex')}.json`);
    const timings = join(ctx.work, `timings-${randomBytes(6).toString('hex')}.json`);
    await sh(
      process.execPath,
      [
        CLI,
        'build',
        '--push',
        '-t',
        ref,
        '--metadata-file',
        meta,
        ...(target ? ['--target', target] : []),
        ...buildArg(ctx),
        s.contextDir,
      ],
      { ...env, HOIST_TIMINGS_FILE: timings },
      s.logFile,
    );
    digests.push([ref, metadataDigest(meta)]);
    const t = JSON.parse(readFileSync(timings, 'utf8')) as Record<string, number>;
    if (t.builder_created !== undefined) bootMs += t.builder_created;
  }
  const ms = performance.now() - t0;
  for (const [ref, d] of digests) await verify(ctx, ref, d);
  return { ms, bootMs };
}

function pushPayload(): Record<string, unknown> {
  return {
    ref: 'refs/heads/main',
    after: '0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c',
    repository: { full_name: REPO, name: 'octo-repo', private: true, default_branch: 'main' },
  };
}

async function hoistActionStep(ctx: Ctx, s: StepSpec): Promise<StepResult> {
  const def = WORKLOAD_DEFS[s.workload];
  const dir = join(ctx.work, `job-${randomBytes(6).toString('hex')}`);
  const job = newJob({
    dir,
    eventName: 'push',
    payload: pushPayload(),
    repository: REPO,
    env: { HOME: dir, DOCKER_HOST: ctx.dockerd.host, ...ctx.dockerConfig.env, ...ctx.issuer.actionsEnv() },
  });
  const posts: (() => Promise<unknown>)[] = [];
  const t0 = performance.now();
  let stepsMs = 0;
  const setup = await runStep(
    job,
    'setup-action',
    { 'api-url': ctx.server.url, oidc: 'true', project: s.project!.name },
    { runPost: false },
  );
  stepsMs += setup.durationMs;
  writeFileSync(s.logFile, setup.stdout + setup.stderr, { flag: 'a' });
  if (setup.exitCode !== 0) throw new Error(`setup-action failed:\n${setup.stdout}\n${setup.stderr}`);
  const bootMs = setup.durationMs;
  const digests: [string, string | undefined][] = [];
  for (const target of def.targets) {
    const ref = `${s.repo(target)}:${s.tag}`;
    const step = await runStep(
      job,
      'build-push-action',
      {
        context: s.contextDir,
        push: 'true',
        tags: ref,
        project: s.project!.name,
        'build-args': `BASE=${ctx.proxy.host}/${BASE_IMAGE}`,
        ...(target ? { target } : {}),
      },
      { cwd: s.contextDir, runPost: false },
    );
    stepsMs += step.durationMs;
    writeFileSync(s.logFile, step.stdout + step.stderr, { flag: 'a' });
    if (step.exitCode !== 0) {
      throw new Error(
        `build-push-action failed:\n${step.stdout.split('\n').slice(-30).join('\n')}\n${step.stderr}`,
      );
    }
    digests.push([ref, step.outputs.digest]);
    posts.push(step.runPost);
  }
  const wall = performance.now() - t0;
  for (const [ref, d] of digests) await verify(ctx, ref, d);
  // Post steps run at the end of the job, after the image is pushed: not timed, as for (a).
  for (const post of posts) await post();
  rmSync(dir, { recursive: true, force: true });
  // The steps' own time: what the runner would show; `wall` adds only this harness's bookkeeping.
  return { ms: Math.min(wall, stepsMs), bootMs };
}

interface RepState {
  network: Network;
  workload: Workload;
  rep: number;
  contextDir: string;
  projects: Partial<Record<Mode, { project: Project; token?: string }>>;
  prefix: string;
}

function specFor(ctx: Ctx, st: RepState, mode: Mode, tag: string, logFile: string): StepSpec {
  const base = `${ctx.proxy.host}/bench/${st.prefix}-${mode}`;
  const p = st.projects[mode];
  return {
    workload: st.workload,
    contextDir: st.contextDir,
    repo: (target) => (target ? `${base}-${target}` : base),
    tag,
    logFile,
    cacheRepo:
      mode === 'a' || mode === 'a-bake'
        ? (target) =>
            `${ctx.proxy.host}/${CACHE_REPO_PREFIX}${st.prefix}${mode === 'a-bake' ? '-bake' : ''}${target ? `-${target}` : ''}`
        : undefined,
    project: p?.project,
    token: p?.token,
  };
}

async function runOne(ctx: Ctx, mode: Mode, spec: StepSpec, name: string): Promise<StepResult> {
  switch (mode) {
    case 'a':
    case 'b':
      return baselineStep(ctx, spec, name);
    case 'hoist-cli':
      return hoistCliStep(ctx, spec);
    case 'hoist-action':
      return hoistActionStep(ctx, spec);
    case 'a-bake':
      return baselineBakeStep(ctx, spec, name);
    case 'hoist-bake':
      return hoistBakeStep(ctx, spec);
  }
}

/** One measured step (or four at once) of `mode` in `scenario`; returns the sample. */
async function measure(
  ctx: Ctx,
  st: RepState,
  scenario: Scenario,
  mode: Mode,
  record: boolean,
): Promise<void> {
  const logFile = join(ctx.outDir, 'logs', `${st.prefix}-${scenario}-${mode}.log`);
  const before = ctx.proxy.counters();
  const load0 = loadavg()[0] as number;
  let result: StepResult;
  const names: string[] = [];
  try {
    if (scenario === 'concurrent') {
      const t0 = performance.now();
      const results = await Promise.all(
        Array.from({ length: CONCURRENT }, (_, i) => {
          const name = `bench-${mode}-${randomBytes(4).toString('hex')}`;
          names.push(name);
          return runOne(ctx, mode, specFor(ctx, st, mode, `${scenario}-${i + 1}`, logFile), name);
        }),
      );
      result = { ms: performance.now() - t0, bootMs: Math.max(...results.map((r) => r.bootMs ?? 0)) };
    } else {
      const name = `bench-${mode}-${randomBytes(4).toString('hex')}`;
      names.push(name);
      result = await runOne(ctx, mode, specFor(ctx, st, mode, scenario, logFile), name);
    }
  } finally {
    if (mode === 'a' || mode === 'b' || mode === 'a-bake') await baselineCleanup(ctx, names, logFile);
    // Hoist ends a successful build in a background process after the step: not timed, but waited
    // for, so that it never takes CPU from the next step measured.
    if (mode === 'hoist-cli' || mode === 'hoist-action' || mode === 'hoist-bake')
      await waitForFinishers().catch(() => undefined);
  }
  const after = ctx.proxy.counters();
  ctx.loads.push(load0, loadavg()[0] as number);
  const sample: Sample = {
    network: st.network,
    workload: st.workload,
    scenario,
    mode,
    rep: st.rep,
    ms: Math.round(result.ms),
    bootMs: result.bootMs === undefined ? undefined : Math.round(result.bootMs),
    registryBytes: after.total - before.total,
    ...(mode === 'a' || mode === 'a-bake'
      ? { cacheIn: after.cacheIn - before.cacheIn, cacheOut: after.cacheOut - before.cacheOut }
      : {}),
  };
  log(
    `${record ? '' : '(warm-up) '}${st.network} ${st.workload} r${st.rep} ${scenario.padEnd(10)} ${mode.padEnd(12)} ${seconds(sample.ms).padStart(6)} s` +
      (sample.bootMs ? `  boot ${seconds(sample.bootMs)} s` : '') +
      (sample.cacheIn !== undefined ? `  cache in ${sample.cacheIn} B out ${sample.cacheOut} B` : '') +
      `  load ${load0.toFixed(1)}`,
  );
  if (record) {
    ctx.samples.push(sample);
    writeResults(ctx);
  }
}

function environment(ctx: Ctx): string {
  const cpu = cpus();
  const loads = ctx.loads.length ? ctx.loads : [loadavg()[0] as number];
  const sorted = [...loads].sort((a, b) => a - b);
  return [
    `- Machine: ${cpu.length} × ${cpu[0]?.model ?? 'unknown CPU'}, ${Math.round(totalmem() / 2 ** 30)} GiB RAM; Node ${process.version}; BuildKit v0.18.2, buildx v0.38.2, Debian docker.io, docker-registry.`,
    `- 1-minute load average seen at the steps: median ${(sorted[sorted.length >> 1] as number).toFixed(1)}, max ${(sorted[sorted.length - 1] as number).toFixed(1)} (other work shared the machine).`,
    `- Started ${ctx.started}; options: reps ${ctx.opts.reps}, workloads ${ctx.opts.workloads.join(',')}, modes ${ctx.opts.modes.join(',')}, scenarios ${ctx.opts.scenarios.join(',')}, networks ${ctx.opts.networks.join(',')}${ctx.opts.networks.includes('shaped') ? `, shaped link ${ctx.opts.link.rate} each way (tc tbf) and ${ctx.opts.link.rttMs} ms round trip per registry request (proxy)` : ''}.`,
  ].join('\n');
}

function writeResults(ctx: Ctx): void {
  writeFileSync(
    join(ctx.outDir, 'results.json'),
    JSON.stringify({ options: ctx.opts, samples: ctx.samples }, null, 2),
  );
  writeFileSync(join(ctx.outDir, 'results.md'), `${environment(ctx)}\n\n${resultsTable(ctx.samples)}\n`);
}

async function runWorkload(ctx: Ctx, network: Network, workload: Workload, rep: number): Promise<void> {
  const def = WORKLOAD_DEFS[workload];
  const { opts } = ctx;
  log(`${network} ${workload} r${rep}: ${def.description}`);
  {
    const prefix = `${workload}-${network}-r${rep}-${randomBytes(2).toString('hex')}`;
    const contextDir = join(ctx.work, 'ctx', prefix);
    rmSync(contextDir, { recursive: true, force: true });
    def.prepare(contextDir, CACHE);
    // Cold content is new to every builder and cache (a nonce in the source).
    def.sourceChange(contextDir, `${prefix}-cold`);
    const st: RepState = { network, workload, rep, contextDir, projects: {}, prefix };
    // A fresh project per repetition and Hoist mode: its own empty builder (cold), kept warm after.
    for (const mode of ['hoist-cli', 'hoist-action', 'hoist-bake'] as const) {
      if (!opts.modes.includes(mode)) continue;
      const project = await ctx.server.createProject(`${prefix}-${mode}`);
      if (mode !== 'hoist-action') {
        const { token } = await ctx.server.createProjectToken(project.id, 'bench');
        st.projects[mode] = { project, token };
      } else {
        await ctx.server.addTrustPolicy(project.id, { repository: REPO });
        st.projects[mode] = { project };
      }
    }
    const scenarios: Scenario[] = opts.scenarios.includes('cold')
      ? opts.scenarios
      : ['cold', ...opts.scenarios];
    let depsChanges = 0;
    for (const [i, scenario] of scenarios.entries()) {
      const nonce = `${prefix}-${scenario}`;
      if (scenario === 'source' || scenario === 'concurrent') def.sourceChange(contextDir, nonce);
      if (scenario === 'deps') def.depsChange(contextDir, nonce, ++depsChanges);
      const record = opts.scenarios.includes(scenario);
      for (const mode of rotation(opts.modes, rep + i)) {
        // (b) starts from nothing whatever changed: every one of its builds is the cold one.
        if (mode === 'b' && (scenario !== 'cold' || !record)) continue;
        await measure(ctx, st, scenario, mode, record);
      }
    }
    rmSync(contextDir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const opts = parseOptions(process.argv.slice(2), process.env);
  for (const f of ['dist/cli/index.js', 'dist/setup/index.js', 'dist/build-push/index.js']) {
    if (!existsSync(join(REPO_ROOT, f))) throw new Error(`${f} is missing: run npm run build first`);
  }
  engineBinaries();
  const started = new Date().toISOString().replace(/\..*/, 'Z');
  const outDir = opts.out ?? join(CACHE, 'results', started.replace(/:/g, ''));
  mkdirSync(join(outDir, 'logs'), { recursive: true });
  const work = join(outDir, 'work');
  mkdirSync(work, { recursive: true });
  const cleanups: (() => Promise<unknown>)[] = [];
  const cleanup = async (): Promise<void> => {
    while (cleanups.length)
      await (cleanups.pop() as () => Promise<unknown>)().catch((err) => log(`cleanup: ${err}`));
    rmSync(work, { recursive: true, force: true });
  };
  let stopping = false;
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      if (stopping) return;
      stopping = true;
      log(`${sig}: cleaning up`);
      void cleanup().finally(() => process.exit(130));
    });
  }
  try {
    const seed = await seedStorage(CACHE, log);
    const proxy = await startCountingProxy();
    cleanups.push(() => proxy.stop());
    const [dockerd, dockerConfig, issuer] = await Promise.all([
      startDockerd({ registries: [proxy.host], args: runcWrapperArgs(work) }),
      makeDockerConfig(),
      startOidcIssuer(),
    ]);
    cleanups.push(
      () => dockerd.stop(),
      () => dockerConfig.cleanup(),
      () => issuer.close(),
    );
    const buildkitdToml = join(work, 'buildkitd.toml');
    writeFileSync(buildkitdToml, `[registry."${proxy.host}"]\n  http = true\n  insecure = true\n`);
    const ctx: Ctx = {
      opts,
      work,
      proxy,
      dockerd,
      dockerConfig,
      issuer,
      server: undefined as unknown as TestServer,
      buildkitdToml,
      dockerEnv: { ...process.env, DOCKER_HOST: dockerd.host, ...dockerConfig.env },
      samples: [],
      outDir,
      started,
      loads: [],
    };
    log(`results go to ${outDir}`);
    // Repetitions outermost, then workloads, then networks: an interrupted run still has every
    // network for the workloads it reached.
    for (let rep = 1; rep <= opts.reps; rep++) {
      for (const workload of opts.workloads) {
        for (const network of opts.networks) {
          if (network === 'shaped' && rep > opts.shapedReps) continue;
          // A fresh registry and server per workload: the caches of one never help another, and
          // the disk is given back in between.
          const registry =
            network === 'loopback'
              ? await startLoopbackRegistry(seed)
              : await startShapedRegistry(seed, opts.link.rate);
          let server: TestServer | undefined;
          // On the stack while in use, so that a signal stops them too.
          const stopBoth = async (): Promise<void> => {
            await server?.stop();
            await registry.stop();
          };
          cleanups.push(stopBoth);
          try {
            proxy.setUpstream(registry.host, network === 'shaped' ? opts.link.rttMs / 2 : 0);
            server = await startTestServer({
              mode: 'process',
              oidcIssuer: issuer.url,
              flags: {
                'releases-dir': join(REPO_ROOT, 'dist', 'releases'),
                'builder-insecure-registries': proxy.host,
              },
            });
            ctx.server = server;
            await runWorkload(ctx, network, workload, rep);
          } finally {
            const i = cleanups.indexOf(stopBoth);
            if (i >= 0) cleanups.splice(i, 1);
            await stopBoth();
          }
        }
      }
    }
    writeResults(ctx);
    process.stdout.write(`\n${environment(ctx)}\n\n${resultsTable(ctx.samples)}\n`);
    log(`results: ${join(outDir, 'results.md')} and results.json`);
  } finally {
    await cleanup();
  }
}

main().catch((err: unknown) => {
  log(`failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
});
