// End to end: the BUILT bake action (dist/bake) run the way the GitHub runner runs it
// (test/actions/runner.ts), against a real `hoist server` (local provider, real buildkitd), a real
// registry, a private dockerd for the fallback and the local OIDC issuer standing in for GitHub's.
// The argv each path runs is compared with what docker/bake-action builds for the same inputs
// (the pure getArgs, fed the definition real buildx prints).
//
// Needs the engine and the bundles: node .ci/build.mjs setup bake cli (the CLI tarball in
// dist/releases is what setup-action installs).
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import type { BuildInfo, Project } from '../../src/lib/api-types.js';
import {
  definitionArgs,
  getArgs,
  parseBuildxVersion,
  resolveProvenance,
  resolveSource,
  toHoistArgs,
  type BakeArgsContext,
  type Definition,
} from '../../src/actions/bake/args.js';
import { getInputs } from '../../src/actions/bake/inputs.js';
import {
  buildkitAtLeast,
  DEFAULT_PROVENANCE_BUILDKIT,
  parseBuildxInspect,
} from '../../src/actions/build-push/builder.js';
import {
  defaultGitContext,
  isPrivateRepository,
  readGitHubRun,
  workflowRunUrl,
} from '../../src/actions/lib/github.js';
import {
  engineBinaries,
  makeDockerConfig,
  startDockerd,
  startRegistry,
  type DockerConfig,
  type Dockerd,
  type Registry,
} from '../helpers/engine.js';
import { startOidcIssuer, type OidcIssuer } from '../helpers/oidc-issuer.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { waitForFinishers } from '../helpers/finisher.js';
import { setInputs } from './env.js';
import { forkPullRequestPayload, pushPayload, REPO } from './payloads.js';
import { actionDefaults, newJob, REPO_ROOT, runStep, type Job } from './runner.js';

jest.setTimeout(600_000);

let issuer: OidcIssuer;
let server: TestServer;
let registry: Registry;
let dockerd: Dockerd;
let dockerConfig: DockerConfig;
let project: Project;
let work: string;
let toolCache: string;
let ctxDir: string;
let jobCounter = 0;

function run(
  file: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      file,
      args,
      { env: opts.env ?? process.env, cwd: opts.cwd, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
      },
    );
  });
}

function job(
  opts: { eventName?: string; payload?: unknown; oidc?: boolean; env?: Record<string, string> } = {},
): Job {
  const dir = path.join(work, `job-${++jobCounter}`);
  return newJob({
    dir,
    eventName: opts.eventName ?? 'push',
    payload: opts.payload ?? pushPayload(),
    repository: REPO,
    toolCache,
    env: {
      HOME: dir,
      DOCKER_HOST: dockerd.host,
      ...dockerConfig.env,
      ...(opts.oidc === false ? {} : issuer.actionsEnv()),
      ...(opts.env ?? {}),
    },
  });
}

async function builds(): Promise<BuildInfo[]> {
  const r = await server.api<{ builds: BuildInfo[] }>('GET', `/v1/builds?project=${project.id}&limit=500`);
  if (r.status !== 200) throw new Error(`list builds: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body.builds;
}

async function registryDigest(repo: string, tag: string): Promise<string | null> {
  const res = await fetch(`${registry.url}/v2/${repo}/manifests/${tag}`, {
    method: 'HEAD',
    headers: {
      accept: [
        'application/vnd.oci.image.index.v1+json',
        'application/vnd.oci.image.manifest.v1+json',
        'application/vnd.docker.distribution.manifest.list.v2+json',
        'application/vnd.docker.distribution.manifest.v2+json',
      ].join(', '),
    },
  });
  return res.ok ? res.headers.get('docker-content-digest') : null;
}

/** The definition real buildx prints for these inputs in the job (the argv docker's toolkit uses). */
async function printedDefinition(j: Job, inputs: Record<string, string>): Promise<Definition> {
  const r = await run(
    engineBinaries().docker,
    ['buildx', ...definitionArgs(inputsOf(j, inputs), { workdir: ctxDir })],
    {
      env: { ...process.env, ...j.env },
      cwd: ctxDir,
    },
  );
  if (r.code !== 0) throw new Error(`bake --print: ${r.stderr}`);
  return JSON.parse(r.stdout) as Definition;
}

function inputsOf(j: Job, inputs: Record<string, string>) {
  setInputs({
    ...actionDefaults(path.join(REPO_ROOT, 'bake-action', 'action.yml'), 'ghs_e2e_not_a_real_token'),
    ...inputs,
  });
  try {
    const raw = getInputs();
    return { ...raw, provenance: resolveProvenance(raw.provenance, workflowRunUrl(readGitHubRun(j.env))) };
  } finally {
    setInputs({});
  }
}

/** What docker/bake-action's getArgs gives for these inputs in this job, with the step's temp dir. */
async function expectedArgs(
  j: Job,
  inputs: Record<string, string>,
  tmpDir: string,
  buildkitAttestations: boolean,
): Promise<{ inputs: ReturnType<typeof inputsOf>; def: Definition; ctx: BakeArgsContext }> {
  const gh = readGitHubRun(j.env);
  const version = await run(engineBinaries().docker, ['buildx', 'version']);
  const i = inputsOf(j, inputs);
  return {
    inputs: i,
    def: await printedDefinition(j, inputs),
    ctx: {
      source: resolveSource(i.source, defaultGitContext(gh, j.env), (p) => fs.existsSync(p)),
      metadataFile: path.join(tmpDir, 'bake-metadata.json'),
      runUrl: workflowRunUrl(gh),
      repoPrivate: isPrivateRepository(gh.payload),
      noDefaultAttestations: false,
      buildxVersion: parseBuildxVersion(version.stdout),
      buildkitAttestations,
    },
  };
}

/** The `[command]…` line @actions/exec echoes for a run of `tool` with these first arguments. */
function commandLines(stdout: string, tool: string): string[] {
  return stdout.split('\n').filter((l) => l.startsWith('[command]') && l.includes(`/${tool} `));
}

const errorLines = (stdout: string): string[] => stdout.split('\n').filter((l) => l.startsWith('::error::'));

beforeAll(async () => {
  for (const f of ['dist/setup/index.js', 'dist/bake/index.js']) {
    if (!fs.existsSync(path.join(REPO_ROOT, f))) throw new Error(`${f} is missing: run npm run build first`);
  }
  const releasesDir = path.join(REPO_ROOT, 'dist/releases');
  if (!fs.existsSync(releasesDir) || !fs.readdirSync(releasesDir).some((f) => f.endsWith('.tar.gz'))) {
    throw new Error('dist/releases holds no CLI tarball: run npm run build first');
  }
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'hoist-bake-action-e2e-'));
  toolCache = path.join(work, 'tool-cache');
  issuer = await startOidcIssuer();
  registry = await startRegistry();
  [dockerd, dockerConfig] = await Promise.all([
    startDockerd({ registries: [registry.host] }),
    makeDockerConfig(),
  ]);
  server = await startTestServer({
    oidcIssuer: issuer.url,
    flags: { 'releases-dir': releasesDir, 'builder-insecure-registries': registry.host },
  });
  project = await server.createProject('web');
  await server.addTrustPolicy(project.id, { repository: REPO });

  ctxDir = path.join(work, 'ctx');
  fs.mkdirSync(ctxDir);
  fs.writeFileSync(
    path.join(ctxDir, 'Dockerfile'),
    [
      `FROM ${registry.baseImage} AS base`,
      'RUN echo shared > /base.txt',
      'FROM base AS app',
      'RUN echo app > /app.txt',
      'FROM base AS worker',
      'RUN echo worker > /worker.txt',
      '',
    ].join('\n'),
  );
  fs.writeFileSync(
    path.join(ctxDir, 'docker-bake.hcl'),
    [
      'variable "REGISTRY" {',
      '  default = "hoist-e2e"',
      '}',
      'group "default" {',
      '  targets = ["app", "worker"]',
      '}',
      'target "app" {',
      '  target = "app"',
      '  tags = ["${REGISTRY}/bake-app:1"]',
      '}',
      'target "worker" {',
      '  target = "worker"',
      '  tags = ["${REGISTRY}/bake-worker:1"]',
      '}',
      '',
    ].join('\n'),
  );
});

afterAll(async () => {
  await server?.stop();
  await Promise.allSettled([dockerd?.stop(), registry?.stop(), issuer?.close(), dockerConfig?.cleanup()]);
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

describe('setup-action then bake-action on Hoist', () => {
  it('exchanges the OIDC token, bakes both targets in one Hoist build, pushes, sets the metadata output and a per-target summary', async () => {
    const j = job();
    const setup = await runStep(j, 'setup-action', { 'api-url': server.url });
    expect(setup.exitCode).toBe(0);

    const before = (await builds()).length;
    const inputs = {
      source: ctxDir,
      push: 'true',
      project: 'web',
      set: `*.args.UNUSED=1`,
      vars: '',
    };
    // the registry comes in through an environment variable the definition reads
    j.env.REGISTRY = registry.host;
    const step = await runStep(j, 'bake-action', inputs);
    const all = `${step.stdout}\n${step.stderr}`;
    expect(errorLines(step.stdout)).toEqual([]);
    expect(step.exitCode).toBe(0);
    expect(step.stdout).toMatch(/Exchanged the GitHub OIDC token for a Hoist token of project/);

    // hoist bake got docker's argv (without --builder) plus Hoist's own flags
    const e = await expectedArgs(j, inputs, step.state.tmpDir!, true);
    const hoistArgs = toHoistArgs(e.inputs, e.def, e.ctx, { project: 'web', apiUrl: server.url });
    expect(commandLines(step.stdout, 'hoist')).toEqual([
      `[command]${path.join(setup.outputs.path!, 'hoist')} ${hoistArgs.join(' ')}`,
    ]);
    // the private repository's default provenance, once per target
    expect(
      hoistArgs.filter((a) => a.includes('.attest=type=provenance,mode=min,inline-only=true')),
    ).toHaveLength(2);

    expect(step.outputs.builder).toBe('hoist');
    expect(step.outputs['build-id']).toMatch(/^bld_/);
    const metadata = JSON.parse(step.outputs.metadata!) as Record<string, Record<string, string>>;
    expect(step.outputs.metadata).toBe(JSON.stringify(metadata, null, 2));
    expect(step.stdout).toContain(`::group::Metadata\n${step.outputs.metadata}\n::endgroup::\n`);
    for (const t of ['app', 'worker']) {
      expect(metadata[t]?.['containerimage.digest']).toMatch(/^sha256:[0-9a-f]{64}$/);
      expect(await registryDigest(`bake-${t}`, '1')).toBe(metadata[t]!['containerimage.digest']);
    }

    // hoist ends a successful build in a background process after it exits: wait for it
    await waitForFinishers([step.outputs['build-id']!]);
    // one build on the server, successful, with both targets
    const after = await builds();
    expect(after.length).toBe(before + 1);
    const b = after.find((x) => x.id === step.outputs['build-id']);
    expect(b?.status).toBe('success');
    expect(b?.targets?.map((t) => t.name)).toEqual(['app', 'worker']);

    // the summary: one row per target with its digest and cached steps
    const summary = fs.readFileSync(j.env.GITHUB_STEP_SUMMARY!, 'utf8');
    expect(summary).toContain('## Hoist bake summary');
    expect(summary).toContain(`Hoist at ${server.url}`);
    for (const t of ['app', 'worker']) {
      expect(summary).toMatch(
        new RegExp(
          `<tr><td><code>${t}</code></td><td>default</td><td><code>${registry.host}/bake-${t}:1</code></td><td><code>${metadata[t]!['containerimage.digest']}</code></td><td>\\d+ of \\d+</td></tr>`,
        ),
      );
    }
    expect(summary).toContain(step.outputs['build-url']);

    // no credential in clear text; the post step removed the private temp dir
    const shown = all.replace(/^::add-mask::.*$/gm, '');
    expect(shown).not.toMatch(/hoist_oidc_|hoist_bld_|PRIVATE KEY/);
    expect(step.post?.exitCode).toBe(0);
    expect(fs.existsSync(step.state.tmpDir!)).toBe(false);
  });
});

describe('bake-action build checks', () => {
  it('annotates a check warning on the Dockerfile of the target it came from, once; DOCKER_BUILD_CHECKS_ANNOTATIONS=false turns it off', async () => {
    const j = job();
    await runStep(j, 'setup-action', { 'api-url': server.url });
    // a checkout in the workspace: svc/Dockerfile with a FromAsCasing warning on line 1
    fs.mkdirSync(path.join(j.dir, 'svc'), { recursive: true });
    fs.writeFileSync(
      path.join(j.dir, 'svc', 'Dockerfile'),
      [`FROM ${registry.baseImage} as base`, 'RUN echo checked > /checked.txt', ''].join('\n'),
    );
    fs.writeFileSync(
      path.join(j.dir, 'docker-bake.hcl'),
      ['target "checked" {', '  context = "svc"', '  output = ["type=cacheonly"]', '}', ''].join('\n'),
    );
    const annotations = (stdout: string): string[] =>
      stdout.split('\n').filter((l) => l.startsWith('::warning title='));
    const step = await runStep(
      j,
      'bake-action',
      { source: '.', project: 'web', targets: 'checked' },
      { cwd: j.dir },
    );
    expect(errorLines(step.stdout)).toEqual([]);
    expect(step.exitCode).toBe(0);
    expect(step.outputs.builder).toBe('hoist');
    expect(annotations(step.stdout)).toEqual([
      "::warning title=The 'as' keyword should match the case of the 'from' keyword,file=svc/Dockerfile,line=1::FromAsCasing: 'as' and 'FROM' keywords' casing do not match%0AMore info: https://docs.docker.com/go/dockerfile/rule/from-as-casing/",
    ]);
    expect(step.stdout).toContain('::group::Generating GitHub annotations (1 build checks found)');

    j.env.DOCKER_BUILD_CHECKS_ANNOTATIONS = 'false';
    const off = await runStep(
      j,
      'bake-action',
      { source: '.', project: 'web', targets: 'checked' },
      { cwd: j.dir },
    );
    expect(off.exitCode).toBe(0);
    expect(annotations(off.stdout)).toEqual([]);
  });
});

describe('bake-action without Hoist', () => {
  it('a fork pull request bakes with docker buildx on the runner, with exactly docker/bake-action’s argv', async () => {
    const j = job({ eventName: 'pull_request', payload: forkPullRequestPayload(), oidc: false });
    const before = (await builds()).length;
    const inputs = { source: ctxDir, load: 'true', 'api-url': server.url, targets: 'app,worker' };
    const step = await runStep(j, 'bake-action', inputs, { runPost: false });
    const tmpDir = step.state.tmpDir!;
    expect(fs.statSync(tmpDir).mode & 0o777).toBe(0o700);
    expect(errorLines(step.stdout)).toEqual([]);
    expect(step.exitCode).toBe(0);
    expect(step.stdout).toMatch(
      /::notice::hoist\/bake-action: baking with docker buildx on the runner instead of Hoist: this is a pull request from a fork/,
    );

    // the runner's builder decides the default provenance, as in docker's action
    const inspect = await run(engineBinaries().docker, ['buildx', 'inspect'], {
      env: { ...process.env, ...j.env },
    });
    const e = await expectedArgs(
      j,
      inputs,
      tmpDir,
      buildkitAtLeast(parseBuildxInspect(inspect.stdout), DEFAULT_PROVENANCE_BUILDKIT),
    );
    const bake = getArgs(e.inputs, e.def, e.ctx);
    const lines = commandLines(step.stdout, 'docker').map((l) =>
      l.slice(l.indexOf(' buildx ') + ' buildx '.length),
    );
    // the three runs docker's action makes: read the definition, show it, bake
    expect(lines).toEqual([
      definitionArgs(e.inputs, e.ctx.source).join(' '),
      [...bake, '--print'].join(' '),
      bake.join(' '),
    ]);
    expect(step.outputs.builder).toBe('buildx');
    expect(step.outputs['build-id']).toBeUndefined();
    expect((await builds()).length).toBe(before);

    // both images are in the runner's docker
    for (const t of ['app', 'worker']) {
      const r = await run(
        engineBinaries().docker,
        ['image', 'inspect', '--format', '{{.Id}}', `hoist-e2e/bake-${t}:1`],
        {
          env: { ...process.env, ...j.env },
        },
      );
      expect(r.code).toBe(0);
    }
    const summary = fs.readFileSync(j.env.GITHUB_STEP_SUMMARY!, 'utf8');
    expect(summary).toContain('docker buildx on the runner (fallback: this is a pull request from a fork');
    expect((await step.runPost()).exitCode).toBe(0);
    expect(fs.existsSync(tmpDir)).toBe(false);
  });

  it('no credential and fallback: never fails naming permissions: id-token: write, and builds nothing', async () => {
    const j = job({ oidc: false });
    const before = (await builds()).length;
    const step = await runStep(j, 'bake-action', {
      source: ctxDir,
      'api-url': server.url,
      fallback: 'never',
    });
    expect(step.exitCode).toBe(1);
    expect(errorLines(step.stdout)).toEqual([
      expect.stringMatching(/^::error::hoist\/bake-action: .*permissions: id-token: write/),
    ]);
    expect(commandLines(step.stdout, 'docker')).toEqual([]);
    expect((await builds()).length).toBe(before);
  });

  it('no credential and fallback: auto bakes on the runner with a notice naming the permission', async () => {
    const j = job({ oidc: false });
    const step = await runStep(j, 'bake-action', {
      source: ctxDir,
      'api-url': server.url,
      load: 'true',
      targets: 'app',
    });
    expect(errorLines(step.stdout)).toEqual([]);
    expect(step.exitCode).toBe(0);
    expect(step.stdout).toMatch(
      /::notice::hoist\/bake-action: baking with docker buildx on the runner instead of Hoist: no Hoist credential.*permissions: id-token: write/,
    );
    expect(step.outputs.builder).toBe('buildx');
  });

  it('a missing source directory fails with what to give', async () => {
    const j = job();
    const step = await runStep(j, 'bake-action', { source: path.join(work, 'nope'), 'api-url': server.url });
    expect(step.exitCode).toBe(1);
    expect(errorLines(step.stdout)).toEqual([
      expect.stringMatching(
        /^::error::hoist\/bake-action: input 'source': .*nope does not exist or is not a directory/,
      ),
    ]);
  });
});
