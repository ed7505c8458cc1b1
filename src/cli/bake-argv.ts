// `hoist bake` argv → Hoist's own options + the argv handed to `docker buildx bake`, and the bake
// definition (`buildx bake --print`) → what the build needs: its platforms and its record.
// Pure: no I/O, tested by tables (test/cli/bake-argv.test.ts).
import {
  flagRecorder,
  type FlagSpec,
  type HoistBuildOptions,
  isRemoteContext,
  parseBool,
  scanArgv,
} from './build-argv.js';

/**
 * Every flag `docker buildx bake` accepts (docker/buildx commands/bake.go, its common build flags
 * and the root's persistent flags), hidden deprecated ones included so that buildx decides.
 */
export const BUILDX_BAKE_FLAGS: Readonly<Record<string, FlagSpec>> = {
  allow: { kind: 'value' },
  call: { kind: 'value' },
  check: { kind: 'optional' },
  file: { kind: 'value', short: 'f' },
  jobs: { kind: 'value', short: 'j' },
  list: { kind: 'value' },
  load: { kind: 'bool' },
  'metadata-file': { kind: 'value' },
  'no-cache': { kind: 'bool' },
  policy: { kind: 'value' },
  print: { kind: 'bool' },
  progress: { kind: 'value' },
  provenance: { kind: 'value' },
  pull: { kind: 'bool' },
  push: { kind: 'bool' },
  sbom: { kind: 'value' },
  set: { kind: 'value' },
  var: { kind: 'value' },
  // hidden, deprecated
  'list-targets': { kind: 'bool' },
  'list-variables': { kind: 'bool' },
  // persistent flags of the buildx root command
  debug: { kind: 'bool', short: 'D' },
};

/** What `hoist bake` needs to know about the user's bake flags (read only, never rewritten). */
export interface BakeFacts {
  /** -f/--file values, in order; "-" is standard input. */
  files: string[];
  /** The positionals as buildx reads them: an optional remote definition, then targets. */
  remote?: string;
  targets: string[];
  /** --print or --list (--list-targets, --list-variables): buildx answers without building. */
  printOnly: boolean;
  push: boolean;
  load: boolean;
  metadataFile?: string;
  /** --builder given by the user: ignored for the build, which runs on Hoist's builder. */
  builder?: string;
}

export type BakeArgvResult =
  | {
      kind: 'bake';
      hoist: HoistBuildOptions;
      /** The user's bake flags and positionals, unchanged and in order (without Hoist's flags and --builder). */
      buildxArgs: string[];
      facts: BakeFacts;
    }
  | { kind: 'help' }
  | { kind: 'unknown-flag'; flag: string; token: string }
  | { kind: 'usage-error'; message: string };

/** Parses `hoist bake` argv the way pflag parses `docker buildx bake` argv. */
export function parseBakeArgv(
  argv: readonly string[],
  extraFlags: Readonly<Record<string, FlagSpec>> = {},
): BakeArgvResult {
  const flags = { ...BUILDX_BAKE_FLAGS, ...extraFlags };
  const hoist: HoistBuildOptions = {};
  const facts: BakeFacts = { files: [], targets: [], printOnly: false, push: false, load: false };
  let print = false;
  let list = false;

  const record = flagRecorder(
    hoist,
    (name, b) => {
      if (name === 'push') facts.push = b;
      if (name === 'load') facts.load = b;
      if (name === 'print') print = b;
      if (name === 'list-targets' || name === 'list-variables') list ||= b;
    },
    (name, value) => {
      switch (name) {
        case 'file':
          facts.files.push(value);
          break;
        case 'list':
          list = value !== '';
          break;
        case 'metadata-file':
          facts.metadataFile = value;
          break;
        case 'builder':
          facts.builder = value;
          break;
      }
    },
  );

  const scanned = scanArgv(argv, flags, record);
  if (scanned.kind !== 'ok') return scanned;
  // buildx's bakeArgs: a remote URL first is the definition, a second remote URL is the context
  const positionals = [...scanned.positionals];
  if (positionals[0] !== undefined && isRemoteContext(positionals[0])) facts.remote = positionals.shift();
  if (facts.remote && positionals[0] !== undefined && isRemoteContext(positionals[0])) positionals.shift();
  facts.targets = positionals;
  facts.printOnly = print || list;
  return { kind: 'bake', hoist, buildxArgs: scanned.buildxArgs, facts };
}

/** One target of a bake definition as `buildx bake --print` shows it (only what Hoist reads). */
export interface BakeTargetDefinition {
  platforms?: string[];
  tags?: string[];
  /** Strings (older buildx) or attribute objects (newer buildx). */
  output?: (string | Record<string, string>)[];
  push?: boolean | string;
  load?: boolean | string;
  [key: string]: unknown;
}

export interface BakeDefinition {
  group?: Record<string, { targets?: string[] }>;
  target: Record<string, BakeTargetDefinition>;
}

/** What the build record says about one target. */
export interface BakeTargetRecord {
  name: string;
  platforms: string[];
  tags: string[];
  push: boolean;
  load: boolean;
}

export interface BakePlan {
  /** Platforms to get builder nodes for: every platform any target names; empty = the server's default. */
  platforms: string[];
  targets: BakeTargetRecord[];
  push: boolean;
  load: boolean;
}

/** Parses the stdout of `buildx bake --print`; throws with what was wrong. */
export function parseBakeDefinition(stdout: string): BakeDefinition {
  let parsed: unknown;
  try {
    parsed = JSON.parse(stdout);
  } catch {
    throw new Error('buildx bake --print did not print a JSON bake definition');
  }
  const def = parsed as Partial<BakeDefinition> | null;
  if (!def || typeof def !== 'object' || !def.target || typeof def.target !== 'object') {
    throw new Error('buildx bake --print printed no "target" object');
  }
  return def as BakeDefinition;
}

/** The attributes of one output entry, from either form buildx prints. */
function outputAttrs(entry: string | Record<string, string>): Record<string, string> {
  if (typeof entry !== 'string') return entry;
  const attrs: Record<string, string> = {};
  for (const field of entry.split(',')) {
    const eq = field.indexOf('=');
    if (eq === -1) {
      // a bare destination is a local export ("-" a tar on stdout), as buildx reads it
      attrs.type = field.trim() === '-' ? 'tar' : 'local';
      continue;
    }
    attrs[field.slice(0, eq).trim()] = field.slice(eq + 1).trim();
  }
  return attrs;
}

const truthy = (v: unknown): boolean => v === true || (typeof v === 'string' && parseBool(v) === true);

/**
 * The platforms to acquire and the record of each target, from the definition buildx printed
 * (every --set, --push, --load and variable already applied). `localPlatform` stands for the
 * "local" platform name bake accepts.
 */
export function planBake(def: BakeDefinition, localPlatform: string): BakePlan {
  const targets: BakeTargetRecord[] = [];
  const platforms: string[] = [];
  for (const [name, t] of Object.entries(def.target)) {
    const own = (t.platforms ?? []).map((p) => (p === 'local' ? localPlatform : p));
    for (const p of own) if (!platforms.includes(p)) platforms.push(p);
    const outputs = (t.output ?? []).map(outputAttrs);
    targets.push({
      name,
      platforms: own,
      tags: t.tags ?? [],
      push: truthy(t.push) || outputs.some((o) => o.type === 'registry' || truthy(o.push)),
      load: truthy(t.load) || outputs.some((o) => o.type === 'docker' || truthy(o.load)),
    });
  }
  return {
    platforms,
    targets,
    push: targets.some((t) => t.push),
    load: targets.some((t) => t.load),
  };
}

/** The build record of a bake: what `hoist builds show` and the API tell about it. */
export interface BakeRecordOptions {
  command: 'bake';
  definition: 'local' | 'remote' | 'stdin';
  files: string[];
  targets: BakeTargetRecord[] | Pick<BakeTargetRecord, 'name' | 'platforms'>[];
  /** Targets left out to keep the record within the server's size cap. */
  targets_omitted?: number;
  target_platforms: string[];
  push: boolean;
  load: boolean;
}

/**
 * The record's options within `maxBytes` of JSON (the server refuses larger ones): a bake of
 * many targets first loses the tags, then the last targets, which it counts instead. Pure.
 */
export function fitBakeRecord(options: BakeRecordOptions, maxBytes: number): BakeRecordOptions {
  // room for cli_version, which the CLI adds
  const fits = (o: BakeRecordOptions): boolean => Buffer.byteLength(JSON.stringify(o)) + 64 <= maxBytes;
  if (fits(options)) return options;
  const slim = options.targets.map((t) => ({ name: t.name, platforms: t.platforms }));
  let fitted: BakeRecordOptions = { ...options, targets: slim };
  for (let keep = slim.length; !fits(fitted) && keep > 0; keep = Math.floor(keep / 2)) {
    fitted = { ...options, targets: slim.slice(0, keep), targets_omitted: slim.length - keep };
  }
  if (!fits(fitted)) fitted = { ...fitted, targets: [], targets_omitted: slim.length, files: [] };
  return fitted;
}
