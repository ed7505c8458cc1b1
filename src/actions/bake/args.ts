// Inputs → `buildx bake` argv, flag for flag and in the order docker/bake-action emits them.
// Pure: the definition (`buildx bake --print`) and the buildx version come in as data, so the
// whole mapping is tested by a table (test/actions/bake-args.test.ts).
import { parse } from 'csv-parse/sync';
import { ConfigurationError } from '../../lib/errors.js';
import { resolveContext, resolveProvenanceAttrs, resolveProvenanceInput } from '../build-push/args.js';
import type { Inputs } from './inputs.js';

/** Where the definition comes from: a remote definition (Git or HTTP URL) or a local directory. */
export interface BakeSource {
  remoteRef?: string;
  workdir?: string;
}

/** A buildx version as [major, minor, patch]; undefined for a development build (a commit). */
export type BuildxVersion = [number, number, number] | undefined;

/** `docker buildx version` output → its version; docker's toolkit treats a commit build as new enough. */
export function parseBuildxVersion(output: string): BuildxVersion {
  const m = /\sv?(\d+)\.(\d+)\.(\d+)/.exec(` ${output}`);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : undefined;
}

function atLeast(v: BuildxVersion, min: [number, number, number]): boolean {
  if (!v) return true;
  for (let i = 0; i < 3; i++) if (v[i] !== min[i]) return v[i]! > min[i]!;
  return true;
}

/** A remote reference as docker's toolkit tells one (Util.isValidRef): an http(s) URL or a Git address. */
export function isRemoteRef(ref: string): boolean {
  try {
    const url = new URL(ref);
    if (url.protocol === 'http:' || url.protocol === 'https:') return true;
  } catch {
    // not a URL
  }
  return ['git://', 'github.com/', 'git@'].some((p) => ref.startsWith(p));
}

/**
 * The `source` input: `{{defaultContext}}` templated, empty meaning the Git context of the
 * commit; a remote reference is the definition, anything else a directory that must exist.
 */
export function resolveSource(
  input: string,
  defaultContext: string,
  exists: (p: string) => boolean,
): BakeSource {
  const source = resolveContext(input, defaultContext);
  if (isRemoteRef(source)) return { remoteRef: source };
  // docker checks the input as written, before templating
  if (!exists(input)) {
    throw new ConfigurationError(
      `input 'source': ${input} does not exist or is not a directory; give the directory of the bake files (e.g. ".") or a Git URL, or leave it empty for the repository at this commit`,
    );
  }
  return { workdir: source };
}

/** What the argv needs besides the inputs; everything here is data, read once in main. */
export interface BakeArgsContext {
  source: BakeSource;
  /** Where buildx writes the metadata file (in the private temp dir). */
  metadataFile: string;
  /** The run URL, the provenance builder-id. */
  runUrl: string;
  /** `repository.private` of the event payload. */
  repoPrivate: boolean;
  /** BUILDX_NO_DEFAULT_ATTESTATIONS is set to a true value. */
  noDefaultAttestations: boolean;
  buildxVersion: BuildxVersion;
  /** The builder's BuildKit can make attestations (>= 0.11); Hoist's always can. */
  buildkitAttestations: boolean;
}

/** One target of `buildx bake --print` output, as far as the argv depends on it. */
export interface DefinitionTarget {
  output?: (string | Record<string, unknown>)[];
  attest?: (string | Record<string, unknown>)[];
  [key: string]: unknown;
}

export interface Definition {
  target: Record<string, DefinitionTarget>;
}

function firstRecord(entry: string): string[] {
  const records = parse(entry, { relaxColumnCount: true, skipEmptyLines: true }) as string[][];
  return records[0] ?? [];
}

function fieldsOf(entry: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const field of firstRecord(entry)) {
    const [key, value] = field.split(/(?<=^[^=]+?)=/).map((s) => s.trim());
    if (key) out[key] = value ?? '';
  }
  return out;
}

/** An output entry's type, as docker's toolkit reads it (a bare destination is local, "-" a tar). */
export function exporterType(entry: string | Record<string, unknown>): string {
  if (typeof entry !== 'string') return typeof entry.type === 'string' ? entry.type : '';
  const fields = firstRecord(entry);
  if (fields.length === 1 && fields[0] === entry && !entry.startsWith('type=')) {
    return entry === '-' ? 'tar' : 'local';
  }
  return fieldsOf(entry).type ?? '';
}

function attestType(entry: string | Record<string, unknown>): string {
  if (typeof entry !== 'string') return typeof entry.type === 'string' ? entry.type : '';
  return fieldsOf(entry).type ?? '';
}

/** Whether any target loads into docker, or the `load` input asks for it. */
export function hasDockerExporter(def: Definition, load: boolean): boolean {
  if (load) return true;
  return Object.values(def.target).some((t) => (t.output ?? []).some((o) => exporterType(o) === 'docker'));
}

/**
 * The argv docker's toolkit uses to read the definition (`Bake.getDefinition`): the remote
 * definition, files, overrides, variables and the flags that change targets, then `--print`
 * and the targets. `--call` is not part of it.
 */
export function definitionArgs(inputs: Inputs, source: BakeSource): string[] {
  const args = ['bake'];
  const files: string[] = [];
  let remote: string | undefined;
  for (const s of [...inputs.files, source.remoteRef ?? ''].map((v) => v.trim())) {
    if (!s) continue;
    if (!isRemoteRef(s)) {
      files.push(s);
      continue;
    }
    if (remote) {
      throw new ConfigurationError(
        `only one remote bake definition can be used: input 'files' names ${s} besides ${remote}; list local files only, or set 'source' to the remote definition`,
      );
    }
    remote = s;
  }
  if (remote) args.push(remote);
  for (const f of files) args.push('--file', f);
  for (const s of inputs.set) args.push('--set', s);
  for (const v of inputs.vars) args.push('--var', v);
  for (const a of inputs.allow) args.push('--allow', a);
  if (inputs.load) args.push('--load');
  if (inputs['no-cache']) args.push('--no-cache');
  const provenance = inputs.provenance;
  if (provenance) args.push('--provenance', provenance);
  if (inputs.push) args.push('--push');
  if (inputs.sbom) args.push('--sbom', inputs.sbom);
  args.push('--print', ...inputs.targets);
  return args;
}

/**
 * The `buildx bake` argv docker/bake-action builds for these inputs and this definition:
 * `bake [remote] --allow… --call --file… --set… --var… --metadata-file [provenance] [--sbom]
 * [--no-cache] [--builder] [--pull] [--load] [--push] targets…`, with the same buildx version
 * gates. The `provenance` input must already be resolved (resolveProvenance).
 */
export function getArgs(inputs: Inputs, def: Definition, ctx: BakeArgsContext): string[] {
  const v = ctx.buildxVersion;
  const args = ['bake'];
  if (ctx.source.remoteRef) args.push(ctx.source.remoteRef);
  if (atLeast(v, [0, 17, 0])) {
    // buildx 0.18 asks for filesystem entitlements; docker grants them all by default
    const allow = atLeast(v, [0, 18, 0]) ? [...inputs.allow, 'fs=*'] : inputs.allow;
    for (const a of allow) args.push('--allow', a);
  }
  if (inputs.call) {
    if (!atLeast(v, [0, 16, 0])) {
      throw new ConfigurationError(`input 'call' needs buildx 0.16.0 or later; update buildx on the runner`);
    }
    args.push('--call', inputs.call);
  }
  for (const f of inputs.files) args.push('--file', f);
  for (const s of inputs.set) args.push('--set', s);
  if (inputs.vars.length > 0) {
    if (!atLeast(v, [0, 31, 0])) {
      throw new ConfigurationError(`input 'vars' needs buildx 0.31.0 or later; update buildx on the runner`);
    }
    for (const x of inputs.vars) args.push('--var', x);
  }
  if (atLeast(v, [0, 6, 0])) args.push('--metadata-file', ctx.metadataFile);
  if (atLeast(v, [0, 10, 0])) {
    if (inputs.provenance) {
      args.push('--provenance', inputs.provenance);
    } else if (
      !ctx.noDefaultAttestations &&
      ctx.buildkitAttestations &&
      !hasDockerExporter(def, inputs.load)
    ) {
      // each target without its own provenance gets buildx's default for the repository's
      // visibility: min and inline-only for a private one, max for a public one
      const attrs = ctx.repoPrivate ? 'mode=min,inline-only=true' : 'mode=max';
      for (const [name, target] of Object.entries(def.target)) {
        if (!Array.isArray(target.attest) || !target.attest.some((a) => attestType(a) === 'provenance')) {
          args.push('--set', `${name}.attest=type=provenance,${resolveProvenanceAttrs(attrs, ctx.runUrl)}`);
        }
      }
    }
    if (inputs.sbom) args.push('--sbom', inputs.sbom);
  }
  if (inputs['no-cache']) args.push('--no-cache');
  if (inputs.builder) args.push('--builder', inputs.builder);
  if (inputs.pull) args.push('--pull');
  if (inputs.load) args.push('--load');
  if (inputs.push) args.push('--push');
  args.push(...inputs.targets);
  return args;
}

/** The `provenance` input as docker's toolkit resolves it (Build.getProvenanceInput). */
export function resolveProvenance(input: string, runUrl: string): string {
  return resolveProvenanceInput(input, runUrl);
}

/** Hoist's own flags for `hoist bake`. */
export interface HoistFlags {
  project?: string;
  apiUrl?: string;
  buildPlatform?: string;
}

/**
 * The argv for `hoist bake`: docker's argv without `--builder` (Hoist brings its own builder)
 * and with Hoist's flags after `bake`. The token travels in HOIST_TOKEN, never on the command line.
 */
export function toHoistArgs(
  inputs: Inputs,
  def: Definition,
  ctx: BakeArgsContext,
  flags: HoistFlags,
): string[] {
  const docker = getArgs({ ...inputs, builder: '' }, def, ctx);
  const hoist: string[] = [];
  if (flags.project) hoist.push('--project', flags.project);
  if (flags.apiUrl) hoist.push('--api-url', flags.apiUrl);
  if (flags.buildPlatform) hoist.push('--build-platform', flags.buildPlatform);
  return ['bake', ...hoist, ...docker.slice(1)];
}
