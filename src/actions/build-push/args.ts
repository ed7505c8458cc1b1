import * as path from 'node:path';
import Handlebars from 'handlebars';
import { parse } from 'csv-parse/sync';
import type { Inputs } from './inputs.js';
import { parseGoBool } from '../lib/input-util.js';
import { ConfigurationError, errorMessage } from '../../lib/errors.js';

/** What `getArgs` needs to know besides the inputs; everything here is data, read once in main. */
export interface ArgsContext {
  /** The Git context pinned to the commit (see defaultGitContext). */
  defaultContext: string;
  /** Private temp dir (0700) for the iidfile, the metadata file and the secret files. */
  tmpDir: string;
  /** GITHUB_SERVER_URL; its host scopes GIT_AUTH_TOKEN. */
  serverUrl: string;
  /** The run URL, used as the provenance builder-id. */
  runUrl: string;
  /** `repository.private` of the event payload. */
  repoPrivate: boolean;
  /** BUILDX_NO_DEFAULT_ATTESTATIONS is set to a true value. */
  noDefaultAttestations: boolean;
  /**
   * The builder's BuildKit is 0.11 or newer (docker's toolkit rule, see buildkitAtLeast): only
   * then does docker's action add its default provenance. Hoist's own builders always are.
   */
  buildkitAttestations: boolean;
  /** Whether a secret file exists (docker skips a missing one with a warning). */
  fileExists: (file: string) => boolean;
}

/** A secret value `getArgs` wants written to a 0600 file before the build runs. */
export interface SecretFile {
  path: string;
  content: string;
}

export interface BuildPlan {
  /** `build ...flags <context>`: append to `docker buildx`, or hand to `hoist`. */
  args: string[];
  /** The context after `{{defaultContext}}` templating. */
  context: string;
  secretFiles: SecretFile[];
  /** Values to mask before anything is logged. */
  masks: string[];
  warnings: string[];
  iidFile: string | undefined;
  metadataFile: string;
}

/** The buildx argv docker/build-push-action builds for these inputs. */
export function getArgs(inputs: Inputs, ctx: ArgsContext): string[] {
  return planBuild(inputs, ctx).args;
}

/**
 * Inputs → `buildx build` argv, flag for flag and in the order
 * docker/build-push-action emits them (with a current buildx and BuildKit),
 * plus the secret files to write. No I/O: the caller writes the files.
 */
export function planBuild(inputs: Inputs, ctx: ArgsContext): BuildPlan {
  const secretFiles: SecretFile[] = [];
  const masks: string[] = [];
  const warnings: string[] = [];
  const context = resolveContext(inputs.context, ctx.defaultContext);
  const iidFile = path.join(ctx.tmpDir, 'iidfile.txt');
  const metadataFile = path.join(ctx.tmpDir, 'metadata.json');

  const secretToFile = (key: string, value: string): string => {
    const file = path.join(ctx.tmpDir, `secret-${secretFiles.length + 1}`);
    secretFiles.push({ path: file, content: value });
    masks.push(value);
    return `id=${key},src=${file}`;
  };

  const args: string[] = ['build'];
  for (const v of inputs['add-hosts']) args.push('--add-host', v);
  for (const v of inputs.allow) args.push('--allow', v);
  for (const v of inputs.annotations) args.push('--annotation', v);
  for (const v of inputs['build-args']) args.push('--build-arg', v);
  for (const v of inputs['build-contexts']) {
    args.push('--build-context', renderTemplate(v, ctx.defaultContext));
  }
  for (const v of inputs['cache-from']) args.push('--cache-from', v);
  for (const v of inputs['cache-to']) args.push('--cache-to', v);
  if (inputs.call) args.push('--call', inputs.call);
  if (inputs['cgroup-parent']) args.push('--cgroup-parent', inputs['cgroup-parent']);
  for (const v of inputs['secret-envs']) {
    const kv = splitSecret(v);
    if (kv) args.push('--secret', `id=${kv[0]},env=${kv[1]}`);
    else warnings.push(`${v} is not a valid secret env (expected key=ENV_NAME); skipped`);
  }
  if (inputs.file) args.push('--file', inputs.file);
  const writesImageId = parsingInput(
    'outputs',
    'type=image,"name=a/b:1,a/b:2",push=true',
    () => !hasExporterType('local', inputs.outputs) && !hasExporterType('tar', inputs.outputs),
  );
  if (writesImageId) args.push('--iidfile', iidFile);
  for (const v of inputs.labels) args.push('--label', v);
  for (const v of inputs['no-cache-filters']) args.push('--no-cache-filter', v);
  for (const v of inputs.outputs) args.push('--output', v);
  if (inputs.platforms.length > 0) args.push('--platform', inputs.platforms.join(','));
  args.push(...attestArgs(inputs, ctx));
  for (const v of inputs.secrets) {
    const kv = splitSecret(v);
    if (kv) args.push('--secret', secretToFile(kv[0], kv[1]));
    // The value may be the secret itself: never echo it.
    else warnings.push(`an entry of input 'secrets' is not of the form key=value; skipped`);
  }
  for (const v of inputs['secret-files']) {
    const kv = splitSecret(v);
    if (!kv) {
      warnings.push(`${v} is not a valid secret file (expected key=path); skipped`);
    } else if (!ctx.fileExists(kv[1])) {
      warnings.push(`secret file ${kv[1]} not found; skipped`);
    } else {
      args.push('--secret', `id=${kv[0]},src=${kv[1]}`);
    }
  }
  if (
    inputs['github-token'] &&
    !hasGitAuthTokenSecret(inputs.secrets) &&
    context.startsWith(ctx.defaultContext)
  ) {
    const host = new URL(ctx.serverUrl).host.trimEnd();
    args.push('--secret', secretToFile(`GIT_AUTH_TOKEN.${host}`, inputs['github-token']));
  }
  if (inputs['shm-size']) args.push('--shm-size', inputs['shm-size']);
  for (const v of inputs.ssh) args.push('--ssh', v);
  for (const v of inputs.tags) args.push('--tag', v);
  if (inputs.target) args.push('--target', inputs.target);
  for (const v of inputs.ulimit) args.push('--ulimit', v);
  // The "common" flags come after the build flags, as in docker's action.
  if (inputs.builder) args.push('--builder', inputs.builder);
  if (inputs.load) args.push('--load');
  args.push('--metadata-file', metadataFile);
  if (inputs.network) args.push('--network', inputs.network);
  if (inputs['no-cache']) args.push('--no-cache');
  if (inputs.pull) args.push('--pull');
  if (inputs.push) args.push('--push');
  args.push(context);

  return {
    args,
    context,
    secretFiles,
    masks,
    warnings,
    iidFile: writesImageId ? iidFile : undefined,
    metadataFile,
  };
}

/** `{{defaultContext}}` templating; an empty context is the default Git context. */
export function resolveContext(input: string, defaultContext: string): string {
  return renderTemplate(input, defaultContext) || defaultContext;
}

function renderTemplate(value: string, defaultContext: string): string {
  if (!value.includes('{{')) return value;
  return Handlebars.compile(value)({ defaultContext });
}

/**
 * Runs the CSV parsing of one input; a parse error (an unclosed or stray quote) becomes a
 * ConfigurationError that names the input and shows how to quote, instead of csv-parse's
 * bare "Invalid Opening Quote".
 */
function parsingInput<T>(name: string, example: string, parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    throw new ConfigurationError(
      `input '${name}' could not be parsed as comma-separated attributes (${errorMessage(err)}); quote a whole attribute, e.g. ${example}`,
    );
  }
}

function attestArgs(inputs: Inputs, ctx: ArgsContext): string[] {
  const attestsExample = 'type=sbom,"generator=image:tag"';
  const args: string[] = [];
  const provenance = parsingInput('provenance', 'mode=max,"builder-id=https://ci/run"', () =>
    resolveProvenanceInput(inputs.provenance, ctx.runUrl),
  );
  const attestsProvenance = parsingInput('attests', attestsExample, () =>
    inputs.attests.some((a) => hasAttestationType('provenance', a)),
  );
  let provenanceSet = false;
  let sbomSet = false;
  if (provenance) {
    args.push('--attest', resolveAttestationAttrs(`type=provenance,${provenance}`));
    provenanceSet = true;
  } else if (
    !attestsProvenance &&
    !ctx.noDefaultAttestations &&
    ctx.buildkitAttestations &&
    !hasDockerExporter(inputs.outputs, inputs.load)
  ) {
    // buildx's own default for a private repository is min + inline-only; a
    // public one can show everything, so max.
    const attrs = ctx.repoPrivate ? 'mode=min,inline-only=true' : 'mode=max';
    args.push('--attest', `type=provenance,${resolveProvenanceAttrs(attrs, ctx.runUrl)}`);
  }
  if (inputs.sbom) {
    const sbom = parsingInput('sbom', 'generator=image:tag', () =>
      resolveAttestationAttrs(`type=sbom,${inputs.sbom}`),
    );
    args.push('--attest', sbom);
    sbomSet = true;
  }
  // The provenance and sbom inputs take precedence over the same types in attests.
  parsingInput('attests', attestsExample, () => {
    for (const attest of inputs.attests) {
      const isProvenance = hasAttestationType('provenance', attest);
      const isSbom = hasAttestationType('sbom', attest);
      if (!isProvenance && !isSbom) args.push('--attest', resolveAttestationAttrs(attest));
      else if (!provenanceSet && isProvenance)
        args.push('--attest', resolveProvenanceAttrs(attest, ctx.runUrl));
      else if (!sbomSet && isSbom) args.push('--attest', attest);
    }
  });
  return args;
}

/** The `provenance` input: empty stays empty, true/false as booleans, anything else as attributes. */
export function resolveProvenanceInput(input: string, runUrl: string): string {
  if (!input) return '';
  if (['true', 'True', 'TRUE'].includes(input)) return `builder-id=${runUrl}`;
  if (['false', 'False', 'FALSE'].includes(input)) return 'false';
  return resolveProvenanceAttrs(input, runUrl);
}

/** Adds `builder-id=<run URL>` unless the attributes already name one. */
export function resolveProvenanceAttrs(input: string, runUrl: string): string {
  if (!input) return `builder-id=${runUrl}`;
  const records = parse(input, { relaxColumnCount: true, skipEmptyLines: true }) as string[][];
  for (const field of records[0] ?? []) {
    const key = field.split(/(?<=^[^=]+?)=/)[0]?.trim();
    if (key === 'builder-id') return input;
  }
  return `${input},builder-id=${runUrl}`;
}

/** Boolean attributes become `disabled=…`, as buildx reads `--attest type=x,false`. */
export function resolveAttestationAttrs(attrs: string): string {
  const out: string[] = [];
  for (const record of parseCsvRecords(attrs)) {
    for (const attr of record) {
      try {
        out.push(`disabled=${!parseGoBool(attr)}`);
      } catch {
        out.push(attr);
      }
    }
  }
  return out.join(',');
}

export function hasAttestationType(name: string, attrs: string): boolean {
  for (const record of parseCsvRecords(attrs)) {
    for (const chunk of record) {
      const [key, value] = chunk.split('=').map((s) => s.trim());
      if (key === 'type' && value === name) return true;
    }
  }
  return false;
}

/** An output without `type=` is a local export, as buildx reads it. */
export function hasExporterType(name: string, outputs: string[]): boolean {
  if (outputs.length === 0) return false;
  for (const record of parseCsvRecords(outputs.join('\n'))) {
    if (record.length === 1 && !(record[0] as string).startsWith('type=')) return name === 'local';
    for (const chunk of record) {
      const [key, value] = chunk.split('=').map((s) => s.trim());
      if (key === 'type' && value === name) return true;
    }
  }
  return false;
}

export function hasDockerExporter(outputs: string[], load: boolean): boolean {
  return load || hasExporterType('docker', outputs);
}

/** Docker only looks for an unscoped GIT_AUTH_TOKEN secret before adding its own. */
export function hasGitAuthTokenSecret(secrets: string[]): boolean {
  return secrets.some((s) => s.startsWith('GIT_AUTH_TOKEN='));
}

/** `key=value` split at the first `=`; both sides must be non-empty. */
export function splitSecret(kvp: string): [string, string] | undefined {
  const i = kvp.indexOf('=');
  const key = kvp.substring(0, i);
  const value = kvp.substring(i + 1);
  if (i < 0 || key.length === 0 || value.length === 0) return undefined;
  return [key, value];
}

function parseCsvRecords(input: string): string[][] {
  return parse(input, {
    delimiter: ',',
    trim: true,
    columns: false,
    relaxColumnCount: true,
  }) as string[][];
}

/** Hoist's own flags, added to the same argv for `hoist build`. */
export interface HoistFlags {
  project?: string;
  apiUrl?: string;
  buildPlatform?: string;
}

/**
 * The argv for `hoist build`: docker's argv without `--builder` (Hoist brings
 * its own builder), with Hoist's flags before the context. The token travels
 * in HOIST_TOKEN, never on the command line.
 */
export function toHoistArgs(args: string[], flags: HoistFlags): string[] {
  const out = args.slice(0, -1);
  const context = args[args.length - 1] as string;
  // `--builder <name>` is the first common flag, right before `[--load] --metadata-file`
  // (see planBuild). Found by position, not by value, so a build-arg, label or tag that
  // happens to read "--builder" is left alone.
  const meta = out.lastIndexOf('--metadata-file');
  const at = out[meta - 1] === '--load' ? meta - 3 : meta - 2;
  if (meta > 0 && out[at] === '--builder') out.splice(at, 2);
  if (flags.project) out.push('--project', flags.project);
  if (flags.apiUrl) out.push('--api-url', flags.apiUrl);
  if (flags.buildPlatform) out.push('--build-platform', flags.buildPlatform);
  out.push(context);
  return out;
}
