import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as core from '@actions/core';
import * as exec from '@actions/exec';
import { runAction } from '../../lib/action.js';
import { ConfigurationError, errorMessage } from '../../lib/errors.js';
import { envBool } from '../lib/input-util.js';
import {
  defaultGitContext,
  isForkPullRequest,
  isPrivateRepository,
  readGitHubRun,
  workflowRunUrl,
} from '../lib/github.js';
import { buildxCommand, connectHoist, ensureHoistCli } from '../lib/hoist-run.js';
import { writeJobSummary } from '../lib/job-summary.js';
import { makePrivateTempDir, removePrivateTempDir } from '../lib/temp-dir.js';
import { idTokenAvailable } from '../lib/oidc.js';
import { buildkitAtLeast, DEFAULT_PROVENANCE_BUILDKIT, parseBuildxInspect } from '../build-push/builder.js';
import {
  buildCheckAnnotations,
  buildxRefsDir,
  dockerfileOf,
  metadataWarnings,
  readLocalState,
  type DockerfileRef,
  type LocalState,
} from '../build-push/annotations.js';
import { parseBuildInfoFromOutput } from '../build-push/result.js';
import { bakeRefs, definitionLocalStates } from './checks.js';
import { decideRoute } from '../build-push/route.js';
import {
  definitionArgs,
  getArgs,
  parseBuildxVersion,
  resolveProvenance,
  resolveSource,
  toHoistArgs,
  type BakeArgsContext,
  type Definition,
} from './args.js';
import { getInputs, type Inputs } from './inputs.js';
import { cachedStepsByTarget, renderBakeSummary, summaryInputs, type BakeSummaryData } from './summary.js';

const ACTION = 'hoist/bake-action';

export async function run(): Promise<void> {
  await runAction(ACTION, main, removePrivateTempDir);
}

interface PrintedTarget {
  platforms?: string[];
  tags?: string[];
  [key: string]: unknown;
}

async function main(): Promise<void> {
  const raw = getInputs();
  // Mask every credential before anything can print it.
  const envToken = process.env.HOIST_TOKEN ?? '';
  for (const secret of [raw.token, envToken, raw['github-token']]) if (secret) core.setSecret(secret);

  const gh = readGitHubRun();
  const runUrl = workflowRunUrl(gh);
  let provenance: string;
  try {
    provenance = resolveProvenance(raw.provenance, runUrl);
  } catch (err) {
    throw new ConfigurationError(
      `input 'provenance' could not be parsed as comma-separated attributes (${errorMessage(err)}); use true, false or attributes such as mode=max`,
    );
  }
  const inputs: Inputs = { ...raw, provenance };
  const source = resolveSource(inputs.source, defaultGitContext(gh, process.env), (p) => fs.existsSync(p));
  const summaryEnabled = inputs.summary && envBool('DOCKER_BUILD_SUMMARY', true);
  const tmpDir = makePrivateTempDir('hoist-bake-');
  const gitAuthToken = process.env.BUILDX_BAKE_GIT_AUTH_TOKEN ?? inputs['github-token'];

  const route = decideRoute({
    tokenInput: inputs.token,
    envToken,
    isFork: isForkPullRequest(gh.eventName, gh.payload),
    idTokenAvailable: idTokenAvailable(),
    fallback: inputs.fallback,
  });
  if (route.kind === 'fail') throw new ConfigurationError(route.message);
  if (route.kind === 'fallback') {
    core.notice(`${ACTION}: baking with docker buildx on the runner instead of Hoist: ${route.reason}.`);
  }

  const buildx = await buildxCommand([]);
  const version = await exec.getExecOutput(buildx.command, [...buildx.args, 'version'], {
    ignoreReturnCode: true,
    silent: true,
  });
  const ctx: BakeArgsContext = {
    source,
    metadataFile: path.join(tmpDir, 'bake-metadata.json'),
    runUrl,
    repoPrivate: isPrivateRepository(gh.payload),
    noDefaultAttestations: envBool('BUILDX_NO_DEFAULT_ATTESTATIONS', false),
    buildxVersion: parseBuildxVersion(version.stdout),
    // Hoist's builders run BuildKit 0.18; on the runner, docker's action asks the builder
    buildkitAttestations: route.kind === 'hoist' ? true : await runnerBuilderAttests(buildx, inputs.builder),
  };
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
  Object.assign(env, { BUILDX_BAKE_GIT_AUTH_TOKEN: gitAuthToken, BUILDX_METADATA_WARNINGS: 'true' });
  const cwd = source.workdir;

  // The definition as docker's toolkit reads it: every target with its outputs and attestations.
  const definition = await core.group('Parsing raw definition', async () => {
    const res = await exec.getExecOutput(
      buildx.command,
      [...buildx.args, ...definitionArgs(inputs, source)],
      {
        cwd,
        env,
        ignoreReturnCode: true,
      },
    );
    if (res.exitCode !== 0) {
      const last = res.stderr.trim().split('\n').pop()?.trim();
      throw new ConfigurationError(`cannot parse bake definitions: ${last || `exit code ${res.exitCode}`}`);
    }
    try {
      return JSON.parse(res.stdout.trim()) as Definition & { target: Record<string, PrintedTarget> };
    } catch {
      throw new Error('buildx bake --print did not print a JSON definition');
    }
  });

  let command: string;
  let args: string[];
  let where: string;
  if (route.kind === 'hoist') {
    const hoist = await connectHoist({
      source: route.source,
      tokenInput: inputs.token,
      envToken,
      apiUrlInput: inputs['api-url'],
      audience: inputs.audience,
      project: inputs.project,
    });
    await ensureHoistCli(ACTION, hoist.apiUrl);
    if (inputs.builder) {
      core.warning(
        `input 'builder' (${inputs.builder}) is ignored on Hoist: each bake gets its own temporary builder connected to the project's Hoist builders`,
      );
    }
    command = 'hoist';
    args = toHoistArgs(inputs, definition, ctx, {
      project: inputs.project,
      apiUrl: hoist.apiUrl,
      buildPlatform: inputs['build-platform'],
    });
    Object.assign(env, { HOIST_TOKEN: hoist.token, HOIST_API_URL: hoist.apiUrl });
    where = `Hoist at ${hoist.apiUrl}${hoist.project ? ` (project ${hoist.project})` : ''}`;
    core.info(`Baking on Hoist (${hoist.apiUrl}${hoist.project ? `, project ${hoist.project}` : ''})`);
  } else {
    command = buildx.command;
    args = [...buildx.args, ...getArgs(inputs, definition, ctx)];
    where = `docker buildx on the runner (fallback: ${route.reason})`;
    // docker's action shows the definition it is about to build
    await core.group('Bake definition', async () => {
      const res = await exec.getExecOutput(command, [...args, '--print'], {
        cwd,
        env,
        ignoreReturnCode: true,
      });
      if (res.stderr.length > 0 && res.exitCode !== 0) throw new Error(res.stderr);
    });
  }
  core.debug(`bake args: ${JSON.stringify(args)}`);

  const started = Date.now();
  const outcome = await exec.getExecOutput(command, args, { cwd, env, ignoreReturnCode: true });
  const durationMs = Date.now() - started;

  const metadata = readMetadata(ctx.metadataFile);
  if (metadata) {
    const text = JSON.stringify(metadata, null, 2);
    core.startGroup('Metadata');
    core.info(text);
    core.endGroup();
    core.setOutput('metadata', text);
  }
  const info = route.kind === 'hoist' ? parseBuildInfoFromOutput(`${outcome.stderr}\n${outcome.stdout}`) : {};
  if (info.buildId) core.setOutput('build-id', info.buildId);
  if (info.buildUrl) core.setOutput('build-url', info.buildUrl);
  core.setOutput('builder', route.kind === 'hoist' ? 'hoist' : 'buildx');

  if (envBool('DOCKER_BUILD_CHECKS_ANNOTATIONS', true)) {
    annotateBuildChecks(route.kind, definition, cwd ?? process.cwd(), metadata);
  }

  const names = Object.keys(definition.target);
  const steps = cachedStepsByTarget(`${outcome.stderr}\n${outcome.stdout}`, names);
  await writeSummary(inputs, summaryEnabled, {
    builder: route.kind === 'hoist' ? 'hoist' : 'buildx',
    where,
    ok: outcome.exitCode === 0,
    durationMs,
    targets: names.map((name) => {
      const t = definition.target[name]!;
      const digest = (metadata?.[name] as Record<string, unknown> | undefined)?.['containerimage.digest'];
      return {
        name,
        platforms: t.platforms ?? [],
        tags: t.tags ?? [],
        digest: typeof digest === 'string' ? digest : undefined,
        steps: steps[name],
      };
    }),
    buildId: info.buildId,
    buildUrl: info.buildUrl,
    inputs: summaryInputs(inputs, source),
    definition,
  });

  if (outcome.exitCode !== 0) {
    const tool = route.kind === 'hoist' ? 'hoist bake' : 'buildx bake';
    if (inputs.call === 'check' && outcome.stdout.length > 0) throw new Error(checkFailure(outcome.stdout));
    const last = outcome.stderr.trim().split('\n').pop()?.trim();
    throw new Error(`${tool} failed with: ${last || `exit code ${outcome.exitCode}`}`);
  }
}

/**
 * The message of a failed `--call check`, as docker's action words it: the warnings of every
 * target added up, else the first line buildx printed.
 */
export function checkFailure(stdout: string): string {
  const total = [...stdout.matchAll(/^Check complete, (\d+) warnings? (?:has|have) been found!/gm)].reduce(
    (sum, m) => sum + Number(m[1]),
    0,
  );
  if (total === 1) return 'Check complete, 1 warning has been found!';
  if (total > 1) return `Check complete, ${total} warnings have been found!`;
  return stdout.split('\n')[0]?.trim() || 'check failed';
}

/**
 * The bake's check warnings as warning annotations on the Dockerfiles of its targets. The
 * fallback finds them where docker's action does, in the state buildx saved under each build
 * ref; a Hoist bake's temporary builder takes that state with it, so there they come from the
 * definition's contexts and Dockerfiles.
 */
function annotateBuildChecks(
  route: 'hoist' | 'fallback',
  definition: Definition,
  cwd: string,
  metadata: Record<string, unknown> | undefined,
): void {
  const warnings = metadataWarnings(metadata);
  const refs = bakeRefs(metadata);
  if (warnings.length === 0 || refs.length === 0) return;
  const states =
    route === 'fallback'
      ? refs
          .map((ref) => readLocalState(ref, buildxRefsDir(process.env, os.homedir())))
          .filter((s): s is LocalState => s !== undefined)
      : definitionLocalStates(definition, cwd);
  const facts = {
    workspace: process.env.GITHUB_WORKSPACE || process.cwd(),
    repository: process.env.GITHUB_REPOSITORY ?? '',
    cwd,
    readFile: (f: string) =>
      fs.existsSync(f) && fs.statSync(f).isFile() ? fs.readFileSync(f, 'utf8') : undefined,
  };
  const dockerfiles = states
    .map((s) => dockerfileOf(s, facts))
    .filter((d): d is DockerfileRef => d !== undefined);
  const annotations = buildCheckAnnotations(warnings, dockerfiles);
  if (annotations.length === 0) return;
  core.startGroup(`Generating GitHub annotations (${annotations.length} build checks found)`);
  for (const { message, ...where } of annotations) core.warning(message, where);
  core.endGroup();
}

/** Whether the runner's builder can make the default provenance attestation (BuildKit >= 0.11). */
async function runnerBuilderAttests(
  buildx: { command: string; args: string[] },
  builder: string,
): Promise<boolean> {
  const res = await exec.getExecOutput(
    buildx.command,
    [...buildx.args, 'inspect', ...(builder ? ['--builder', builder] : [])],
    { ignoreReturnCode: true, silent: true },
  );
  if (res.exitCode !== 0) {
    throw new ConfigurationError(
      `cannot inspect the buildx builder${builder ? ` ${builder}` : ''}: ${res.stderr.trim() || `exit code ${res.exitCode}`}. Set up one with docker/setup-buildx-action, or check the 'builder' input`,
    );
  }
  return buildkitAtLeast(parseBuildxInspect(res.stdout), DEFAULT_PROVENANCE_BUILDKIT);
}

function readMetadata(file: string): Record<string, unknown> | undefined {
  if (!fs.existsSync(file)) return undefined;
  const text = fs.readFileSync(file, 'utf8').trim();
  if (!text || text === 'null') return undefined;
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch {
    core.warning(`the bake metadata file ${file} is not JSON; no metadata output`);
    return undefined;
  }
}

async function writeSummary(inputs: Inputs, enabled: boolean, d: BakeSummaryData): Promise<void> {
  await writeJobSummary(enabled, inputs.call, () => renderBakeSummary(d));
}
