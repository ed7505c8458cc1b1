import * as fs from 'node:fs';
import * as os from 'node:os';
import * as core from '@actions/core';
import * as exec from '@actions/exec';
import { runAction } from '../../lib/action.js';
import { ConfigurationError } from '../../lib/errors.js';
import { envBool } from '../lib/input-util.js';
import {
  defaultGitContext,
  isForkPullRequest,
  isPrivateRepository,
  readGitHubRun,
  workflowRunUrl,
  type GitHubRun,
} from '../lib/github.js';
import { buildxCommand, connectHoist, ensureHoistCli } from '../lib/hoist-run.js';
import { idTokenAvailable } from '../lib/oidc.js';
import { writeJobSummary } from '../lib/job-summary.js';
import { makePrivateTempDir, removePrivateTempDir } from '../lib/temp-dir.js';
import { planBuild, toHoistArgs, type ArgsContext } from './args.js';
import {
  dropCacheExport,
  fallbackCacheFacts,
  planFallbackCache,
  planHoistCacheExport,
  withCacheArgs,
  type FallbackCachePlan,
} from './fallback-cache.js';
import {
  buildCheckAnnotations,
  buildxRefsDir,
  dockerfileOf,
  localStateFor,
  metadataRef,
  metadataWarnings,
  readLocalState,
} from './annotations.js';
import {
  buildkitAtLeast,
  describeBuilder,
  DEFAULT_PROVENANCE_BUILDKIT,
  parseBuildxInspect,
  type BuilderInfo,
} from './builder.js';
import { getInputs, type Inputs } from './inputs.js';
import { decideRoute, type CredentialSource } from './route.js';
import { countCachedSteps, renderSummary, summaryInputs } from './summary.js';
import { parseBuildInfoFromOutput, readBuildResult, type BuildInfoFromCli } from './result.js';

const ACTION = 'hoist/build-push-action';

export async function run(): Promise<void> {
  await runAction(ACTION, main, removePrivateTempDir);
}

interface ExecOutcome {
  exitCode: number;
  stdout: string;
  stderr: string;
}

async function main(): Promise<void> {
  const startedAt = Date.now();
  const inputs = getInputs();
  // Mask every credential before anything can print it.
  const envToken = process.env.HOIST_TOKEN ?? '';
  for (const secret of [inputs.token, envToken, inputs['github-token']]) if (secret) core.setSecret(secret);

  const noDefaultAttestations = envBool('BUILDX_NO_DEFAULT_ATTESTATIONS', false);
  const summaryEnabled = inputs.summary && envBool('DOCKER_BUILD_SUMMARY', true);
  const annotationsEnabled = envBool('DOCKER_BUILD_CHECKS_ANNOTATIONS', true);
  const run = readGitHubRun();
  const tmpDir = makePrivateTempDir('hoist-build-push-');

  const route = decideRoute({
    tokenInput: inputs.token,
    envToken,
    isFork: isForkPullRequest(run.eventName, run.payload),
    idTokenAvailable: idTokenAvailable(),
    fallback: inputs.fallback,
  });
  if (route.kind === 'fail') throw new ConfigurationError(route.message);
  // The fallback asks the runner's builder what docker's action asks it (which BuildKit, which
  // driver) before it plans the argv. Hoist's builders run the BuildKit Hoist ships (0.18), which
  // makes provenance, so a Hoist build gets docker's defaults for a current builder.
  const buildx = route.kind === 'fallback' ? await announceFallback(route.reason) : undefined;
  const builder = buildx ? await inspectBuilder(buildx, inputs.builder) : undefined;

  const ctx: ArgsContext = {
    defaultContext: defaultGitContext(run, process.env),
    tmpDir,
    serverUrl: run.serverUrl,
    runUrl: workflowRunUrl(run),
    repoPrivate: isPrivateRepository(run.payload),
    noDefaultAttestations,
    buildkitAttestations: builder ? buildkitAtLeast(builder, DEFAULT_PROVENANCE_BUILDKIT) : true,
    fileExists: (f) => fs.existsSync(f),
  };
  const plan = planBuild(inputs, ctx);
  for (const m of plan.masks) core.setSecret(m);
  for (const w of plan.warnings) core.warning(w);
  if (builder && !ctx.buildkitAttestations) {
    const withProvenance = planBuild(inputs, { ...ctx, buildkitAttestations: true });
    if (withProvenance.args.length !== plan.args.length) {
      core.info(
        `No default provenance attestation: the builder ${describeBuilder(builder)} runs a BuildKit older than 0.11, which cannot make one (docker/build-push-action decides the same). Set up a newer builder, e.g. with docker/setup-buildx-action, to get it.`,
      );
    }
  }

  // Everything that can fail before a build (server URL, OIDC exchange, CLI install, buildx
  // lookup) happens first: secrets reach the disk only for a build that runs now, and the
  // duration in the summary is the build's own.
  const cache = inputs['fallback-cache'] ? cachePlan(inputs, run, route.kind, builder) : undefined;
  const args = cache ? withCacheArgs(plan.args, cache) : plan.args;
  const launch =
    route.kind === 'hoist'
      ? await prepareHoist(inputs, route.source, envToken, args)
      : {
          ...buildx!,
          args: [...buildx!.args, ...args],
          env: {},
          where: `docker buildx on the runner (fallback: ${route.reason})`,
        };
  for (const s of plan.secretFiles) fs.writeFileSync(s.path, s.content, { mode: 0o600, flag: 'wx' });
  core.debug(`buildx args: ${JSON.stringify(plan.args)}`);

  const buildStart = Date.now();
  const outcome = await runBuild(launch.command, launch.args, launch.env);
  const info: BuildInfoFromCli =
    route.kind === 'hoist' ? parseBuildInfoFromOutput(`${outcome.stderr}\n${outcome.stdout}`) : {};
  const durationMs = Date.now() - buildStart;

  const result = readBuildResult(plan);
  // Shown in log groups and set as outputs, as docker's action does.
  const shown: [string, string, string | undefined][] = [
    ['ImageID', 'imageid', result.imageId],
    ['Digest', 'digest', result.digest],
    ['Metadata', 'metadata', result.metadata && JSON.stringify(result.metadata, null, 2)],
  ];
  for (const [title, output, value] of shown) {
    if (!value) continue;
    core.startGroup(title);
    core.info(value);
    core.endGroup();
    core.setOutput(output, value);
  }
  if (annotationsEnabled && (!inputs.call || inputs.call === 'build')) {
    annotateBuildChecks(route.kind, plan, inputs.file, result.metadata);
  }
  if (info.buildId) core.setOutput('build-id', info.buildId);
  if (info.buildUrl) core.setOutput('build-url', info.buildUrl);
  core.setOutput('builder', route.kind === 'hoist' ? 'hoist' : 'buildx');

  await writeSummary(inputs, summaryEnabled, {
    builder: route.kind === 'hoist' ? 'hoist' : 'buildx',
    where: info.placement?.length ? `${launch.where}; ${info.placement.join('; ')}` : launch.where,
    ok: outcome.exitCode === 0,
    durationMs,
    steps: countCachedSteps(`${outcome.stderr}\n${outcome.stdout}`),
    digest: result.digest,
    imageId: result.imageId,
    buildId: info.buildId,
    buildUrl: info.buildUrl,
    cache: cache?.note,
  });
  core.debug(`action took ${Date.now() - startedAt} ms`);

  if (outcome.exitCode !== 0) {
    const tool = route.kind === 'hoist' ? 'hoist build' : 'buildx';
    if (inputs.call === 'check' && outcome.stdout.length > 0) {
      throw new Error(outcome.stdout.split('\n')[0]?.trim() || `${tool} failed`);
    }
    const last = outcome.stderr.trim().split('\n').pop()?.trim();
    throw new Error(`${tool} failed with: ${last || `exit code ${outcome.exitCode}`}`);
  }
}

/** A build ready to run: the command, its argv and extra environment, and where it runs. */
interface Launch {
  command: string;
  args: string[];
  env: Record<string, string>;
  where: string;
}

/** Resolves the server and the token (exchanging OIDC if that is the source) and the CLI. */
async function prepareHoist(
  inputs: Inputs,
  source: CredentialSource,
  envToken: string,
  planArgs: string[],
): Promise<Launch> {
  const {
    apiUrl,
    token,
    project: projectNote,
  } = await connectHoist({
    source,
    tokenInput: inputs.token,
    envToken,
    apiUrlInput: inputs['api-url'],
    audience: inputs.audience,
    project: inputs.project,
  });
  await ensureHoistCli(ACTION, apiUrl);
  if (inputs.builder) {
    core.warning(
      `input 'builder' (${inputs.builder}) is ignored on Hoist: each build gets its own temporary builder connected to the project's Hoist builders`,
    );
  }
  const args = toHoistArgs(planArgs, {
    project: inputs.project,
    apiUrl,
    buildPlatform: inputs['build-platform'],
  });
  core.info(`Building on Hoist (${apiUrl}${projectNote ? `, project ${projectNote}` : ''})`);
  return {
    command: 'hoist',
    args,
    env: { HOIST_TOKEN: token, HOIST_API_URL: apiUrl, HOIST_BUILD_SOURCE: 'action' },
    where: `Hoist at ${apiUrl}${projectNote ? ` (project ${projectNote})` : ''}`,
  };
}

/** Says why the build falls back, and finds buildx (docker's action fails the same way without it). */
async function announceFallback(reason: string): Promise<{ command: string; args: string[] }> {
  core.notice(`${ACTION}: building with docker buildx on the runner instead of Hoist: ${reason}.`);
  return buildxCommand([]);
}

/**
 * `buildx inspect [builder]` of the builder the fallback will use, as docker's action reads it
 * before it builds; like docker's, a builder that cannot be inspected fails the step.
 */
async function inspectBuilder(
  buildx: { command: string; args: string[] },
  name: string,
): Promise<BuilderInfo> {
  const args = [...buildx.args, 'inspect', ...(name ? [name] : [])];
  const res = await exec.getExecOutput(buildx.command, args, { ignoreReturnCode: true, silent: true });
  if (res.exitCode !== 0) {
    const why = res.stderr.trim() || res.stdout.trim() || `exit code ${res.exitCode}`;
    throw new ConfigurationError(
      `cannot inspect the builder${name ? ` "${name}" of input 'builder'` : ''} for the fallback build: ${why}. Check that the builder exists (docker buildx ls)`,
    );
  }
  const info = parseBuildxInspect(res.stdout);
  core.info(`Fallback builder: ${describeBuilder(info)}`);
  return info;
}

/**
 * The registry cache of the `fallback-cache` input for this run: on the fallback, the branch
 * cache; on Hoist, the default branch's export that fork pull requests import when they fall
 * back. Undefined (with a warning) when the run's data cannot say which branch it builds.
 */
function cachePlan(
  inputs: Inputs,
  run: GitHubRun,
  route: 'hoist' | 'fallback',
  builder: BuilderInfo | undefined,
): FallbackCachePlan | undefined {
  const found = fallbackCacheFacts(
    inputs['fallback-cache'],
    run,
    isForkPullRequest(run.eventName, run.payload),
  );
  if ('skip' in found) {
    core.warning(`input 'fallback-cache' is ignored: ${found.skip}`);
    return undefined;
  }
  if (route === 'hoist') {
    const cache = planHoistCacheExport(found.facts);
    core.info(`Fallback cache: ${cache.note}`);
    return cache;
  }
  let cache = planFallbackCache(found.facts);
  // The docker driver (the runner's default builder) fails the whole build on a registry cache export.
  if (cache.cacheTo.length > 0 && builder?.driver === 'docker') {
    core.warning(
      `input 'fallback-cache': the builder uses the docker driver, which cannot export a registry cache, so this build only imports it. Add docker/setup-buildx-action (a docker-container builder) before this step to export it too`,
    );
    cache = dropCacheExport(cache);
  }
  core.info(`Fallback cache: ${cache.note}`);
  return cache;
}

/**
 * The build's check warnings as warning annotations on its Dockerfile. The fallback finds the
 * Dockerfile where docker's action does, in the state buildx saved under the build's ref; a
 * Hoist build's temporary builder takes that state with it, so there it comes from the same
 * context and file.
 */
function annotateBuildChecks(
  route: 'hoist' | 'fallback',
  plan: { context: string },
  file: string,
  metadata: Record<string, unknown> | undefined,
): void {
  const warnings = metadataWarnings(metadata);
  const ref = metadataRef(metadata);
  if (warnings.length === 0 || !ref) return;
  const cwd = process.cwd();
  const state =
    route === 'fallback'
      ? readLocalState(ref, buildxRefsDir(process.env, os.homedir()))
      : localStateFor(plan.context, file, cwd);
  const dockerfile =
    state &&
    dockerfileOf(state, {
      workspace: process.env.GITHUB_WORKSPACE || cwd,
      repository: process.env.GITHUB_REPOSITORY ?? '',
      cwd,
      readFile: (f) => (fs.existsSync(f) && fs.statSync(f).isFile() ? fs.readFileSync(f, 'utf8') : undefined),
    });
  const annotations = buildCheckAnnotations(warnings, dockerfile ? [dockerfile] : []);
  if (annotations.length === 0) return;
  core.startGroup(`Generating GitHub annotations (${annotations.length} build checks found)`);
  for (const { message, ...where } of annotations) core.warning(message, where);
  core.endGroup();
}

async function runBuild(
  command: string,
  args: string[],
  extraEnv: Record<string, string>,
): Promise<ExecOutcome> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
  Object.assign(env, { BUILDX_METADATA_WARNINGS: 'true' }, extraEnv);
  const res = await exec.getExecOutput(command, args, { ignoreReturnCode: true, env });
  return { exitCode: res.exitCode, stdout: res.stdout, stderr: res.stderr };
}

async function writeSummary(
  inputs: Inputs,
  enabled: boolean,
  d: Omit<Parameters<typeof renderSummary>[0], 'platforms' | 'tags' | 'inputs'>,
): Promise<void> {
  await writeJobSummary(enabled, inputs.call, () =>
    renderSummary({ ...d, platforms: inputs.platforms, tags: inputs.tags, inputs: summaryInputs(inputs) }),
  );
}
