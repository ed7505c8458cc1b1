// `hoist build` argv → Hoist's own options + the argv handed to `docker buildx build`.
// Pure: no I/O, so the whole mapping is tested by a table (test/cli/build-argv.test.ts).
import { parseDurationMs } from '../lib/duration.js';

/** How a flag consumes its value, as pflag (cobra) parses it in buildx. */
export type FlagKind =
  /** `--tag v`, `--tag=v`, `-t v`, `-tv`, `-t=v` */
  | 'value'
  /** `--push`, `--push=false` */
  | 'bool'
  /** `--check` or `--check=v` only (pflag NoOptDefVal): the next word is never its value. */
  | 'optional';

export interface FlagSpec {
  kind: FlagKind;
  short?: string;
}

/**
 * Every flag `docker buildx build` accepts (docker/buildx commands/build.go and the root's persistent
 * flags), which covers everything docker/build-push-action can produce. Hidden legacy flags are
 * included so that buildx, not Hoist, decides what they do.
 */
export const BUILDX_BUILD_FLAGS: Readonly<Record<string, FlagSpec>> = {
  'add-host': { kind: 'value' },
  allow: { kind: 'value' },
  annotation: { kind: 'value' },
  attest: { kind: 'value' },
  'build-arg': { kind: 'value' },
  'build-context': { kind: 'value' },
  'cache-from': { kind: 'value' },
  'cache-to': { kind: 'value' },
  call: { kind: 'value' },
  'cgroup-parent': { kind: 'value' },
  check: { kind: 'optional' },
  file: { kind: 'value', short: 'f' },
  iidfile: { kind: 'value' },
  label: { kind: 'value' },
  load: { kind: 'bool' },
  'metadata-file': { kind: 'value' },
  network: { kind: 'value' },
  'no-cache': { kind: 'bool' },
  'no-cache-filter': { kind: 'value' },
  output: { kind: 'value', short: 'o' },
  platform: { kind: 'value' },
  policy: { kind: 'value' },
  progress: { kind: 'value' },
  provenance: { kind: 'value' },
  pull: { kind: 'bool' },
  push: { kind: 'bool' },
  quiet: { kind: 'bool', short: 'q' },
  resource: { kind: 'value' },
  sbom: { kind: 'value' },
  secret: { kind: 'value' },
  'shm-size': { kind: 'value' },
  ssh: { kind: 'value' },
  tag: { kind: 'value', short: 't' },
  target: { kind: 'value' },
  ulimit: { kind: 'value' },
  // hidden / legacy, still accepted by buildx
  print: { kind: 'value' },
  memory: { kind: 'value', short: 'm' },
  'memory-swap': { kind: 'value' },
  'cpu-shares': { kind: 'value', short: 'c' },
  'cpu-period': { kind: 'value' },
  'cpu-quota': { kind: 'value' },
  'cpuset-cpus': { kind: 'value' },
  'cpuset-mems': { kind: 'value' },
  compress: { kind: 'bool' },
  isolation: { kind: 'value' },
  'security-opt': { kind: 'value' },
  squash: { kind: 'bool' },
  rm: { kind: 'bool' },
  'force-rm': { kind: 'bool' },
  // persistent flags of the buildx root command
  debug: { kind: 'bool', short: 'D' },
  timeout: { kind: 'value' },
};

/** Hoist's own flags; they are never passed to buildx. */
export const HOIST_BUILD_FLAGS = ['project', 'token', 'api-url', 'build-platform', 'wait'] as const;
export type HoistBuildFlag = (typeof HOIST_BUILD_FLAGS)[number];

export interface HoistBuildOptions {
  project?: string;
  token?: string;
  apiUrl?: string;
  buildPlatform?: string;
  /** Raw --wait value; parsed by parseDuration. */
  wait?: string;
}

/** What the build needs to know about the user's buildx flags (read only, never rewritten). */
export interface BuildxFacts {
  /** PATH, URL or "-". */
  context: string;
  /** --platform values, split on commas, in order, deduplicated. */
  platforms: string[];
  /** -f/--file, if given. */
  file?: string;
  tags: string[];
  push: boolean;
  load: boolean;
  iidfile?: string;
  metadataFile?: string;
  target?: string;
  /** --builder given by the user: ignored, the build runs on Hoist's builder. */
  builder?: string;
}

export type BuildArgvResult =
  | {
      kind: 'build';
      hoist: HoistBuildOptions;
      /** The user's buildx flags and the context, unchanged and in order (without Hoist's flags and --builder). */
      buildxArgs: string[];
      facts: BuildxFacts;
    }
  | { kind: 'help' }
  /** A flag neither Hoist nor this table knows; the caller asks buildx itself for its verdict. */
  | { kind: 'unknown-flag'; flag: string; token: string }
  /** A usage error worded like buildx's. */
  | { kind: 'usage-error'; message: string };

/** A flag as the scanner found it: Hoist's own, or one of buildx's (`--builder` included). */
export type FlagTarget = { name: string; hoist: boolean; spec: FlagSpec };

function lookupLong(name: string, flags: Readonly<Record<string, FlagSpec>>): FlagTarget | undefined {
  if ((HOIST_BUILD_FLAGS as readonly string[]).includes(name)) {
    return { name, hoist: true, spec: { kind: 'value' } };
  }
  if (name === 'builder') return { name, hoist: false, spec: { kind: 'value' } };
  const spec = flags[name];
  return spec ? { name, hoist: false, spec } : undefined;
}

function lookupShort(ch: string, flags: Readonly<Record<string, FlagSpec>>): FlagTarget | undefined {
  for (const [name, spec] of Object.entries(flags)) {
    if (spec.short === ch) return { name, hoist: false, spec };
  }
  return undefined;
}

/** strconv.ParseBool, which pflag uses. */
export function parseBool(raw: string): boolean | undefined {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(raw)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(raw)) return false;
  return undefined;
}

/**
 * The scanArgv recorder of a command: Hoist's own flags go into `hoist`, a bool flag's value is
 * parsed as pflag parses it (a bad one is refused with pflag's own message), and the command
 * reads what it needs of the rest in `onBool` and `onValue`.
 */
export function flagRecorder(
  hoist: HoistBuildOptions,
  onBool: (name: string, value: boolean) => void,
  onValue: (name: string, value: string) => void,
): (t: FlagTarget, value: string) => string | undefined {
  return (t, value) => {
    if (t.hoist) {
      recordHoistFlag(hoist, t.name, value);
      return undefined;
    }
    if (t.spec.kind === 'bool') {
      const b = parseBool(value);
      if (b === undefined) {
        return `invalid argument "${value}" for "--${t.name}" flag: strconv.ParseBool: parsing "${value}": invalid syntax`;
      }
      onBool(t.name, b);
      return undefined;
    }
    onValue(t.name, value);
    return undefined;
  };
}

/** Hoist's own options from a flag the scanner reported as Hoist's. */
export function recordHoistFlag(hoist: HoistBuildOptions, name: string, value: string): void {
  const key = (
    {
      project: 'project',
      token: 'token',
      'api-url': 'apiUrl',
      'build-platform': 'buildPlatform',
      wait: 'wait',
    } as const
  )[name as HoistBuildFlag];
  hoist[key] = value;
}

export type ScanResult =
  | {
      kind: 'ok';
      /** The user's buildx argv, unchanged and in order, without Hoist's flags and --builder. */
      buildxArgs: string[];
      positionals: string[];
    }
  | { kind: 'help' }
  | { kind: 'unknown-flag'; flag: string; token: string }
  | { kind: 'usage-error'; message: string };

/**
 * Walks argv the way pflag (cobra) walks a buildx command's argv, so that positionals are found
 * exactly where buildx finds them. `record` sees every flag with its value and may refuse it with
 * a usage error. Shared by `hoist build` and `hoist bake`; pure.
 */
export function scanArgv(
  argv: readonly string[],
  flags: Readonly<Record<string, FlagSpec>>,
  record: (t: FlagTarget, value: string) => string | undefined,
): ScanResult {
  const buildxArgs: string[] = [];
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      buildxArgs.push(...argv.slice(i));
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (arg === '--help' || arg === '-h') return { kind: 'help' };
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      const name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
      const t = lookupLong(name, flags);
      if (!t) return { kind: 'unknown-flag', flag: `--${name}`, token: arg };
      const tokens = [arg];
      let value: string;
      if (eq !== -1) {
        value = arg.slice(eq + 1);
      } else if (t.spec.kind === 'value') {
        if (i + 1 >= argv.length)
          return { kind: 'usage-error', message: `flag needs an argument: --${name}` };
        value = argv[++i]!;
        tokens.push(value);
      } else {
        value = 'true';
      }
      const err = record(t, value);
      if (err) return { kind: 'usage-error', message: err };
      if (!t.hoist && t.name !== 'builder') buildxArgs.push(...tokens);
      continue;
    }
    if (arg.startsWith('-') && arg !== '-') {
      // a shorthand group: -q, -qt tag, -ttag, -t=tag, -qttag
      const tokens = [arg];
      let j = 1;
      while (j < arg.length) {
        const ch = arg[j]!;
        const t = lookupShort(ch, flags);
        if (!t) {
          return { kind: 'unknown-flag', flag: `-${ch}`, token: arg };
        }
        if (t.spec.kind === 'value') {
          let value = arg.slice(j + 1);
          if (value.startsWith('=')) value = value.slice(1);
          else if (value === '') {
            if (i + 1 >= argv.length) {
              return { kind: 'usage-error', message: `flag needs an argument: '${ch}' in -${ch}` };
            }
            value = argv[++i]!;
            tokens.push(value);
          }
          const err = record(t, value);
          if (err) return { kind: 'usage-error', message: err };
          break;
        }
        // a bool shorthand, possibly `-q=false`
        if (arg[j + 1] === '=') {
          const err = record(t, arg.slice(j + 2));
          if (err) return { kind: 'usage-error', message: err };
          break;
        }
        const err = record(t, 'true');
        if (err) return { kind: 'usage-error', message: err };
        j++;
      }
      buildxArgs.push(...tokens);
      continue;
    }
    positionals.push(arg);
    buildxArgs.push(arg);
  }
  return { kind: 'ok', buildxArgs, positionals };
}

/**
 * Parses `hoist build` argv the way pflag would parse `docker buildx build` argv, so that the context
 * positional is found exactly where buildx would find it. `extraFlags` extends the table with flags a
 * newer buildx reported (see the unknown-flag path in run.ts).
 */
export function parseBuildArgv(
  argv: readonly string[],
  extraFlags: Readonly<Record<string, FlagSpec>> = {},
): BuildArgvResult {
  const flags = { ...BUILDX_BUILD_FLAGS, ...extraFlags };
  const hoist: HoistBuildOptions = {};
  const facts: Omit<BuildxFacts, 'context'> = { platforms: [], tags: [], push: false, load: false };

  const record = flagRecorder(
    hoist,
    (name, b) => {
      if (name === 'push') facts.push = b;
      if (name === 'load') facts.load = b;
    },
    (name, value) => {
      switch (name) {
        case 'platform':
          for (const p of value.split(',')) {
            const trimmed = p.trim();
            if (trimmed && !facts.platforms.includes(trimmed)) facts.platforms.push(trimmed);
          }
          break;
        case 'tag':
          facts.tags.push(value);
          break;
        case 'file':
          facts.file = value;
          break;
        case 'iidfile':
          facts.iidfile = value;
          break;
        case 'metadata-file':
          facts.metadataFile = value;
          break;
        case 'target':
          facts.target = value;
          break;
        case 'builder':
          facts.builder = value;
          break;
        case 'output':
          // `-o type=registry` / `type=image,push=true` push like --push does
          if (/(^|,)type=registry(,|$)/.test(value) || /(^|,)push=true(,|$)/.test(value)) facts.push = true;
          if (/(^|,)type=docker(,|$)/.test(value)) facts.load = true;
          break;
      }
    },
  );

  const scanned = scanArgv(argv, flags, record);
  if (scanned.kind !== 'ok') return scanned;
  const { buildxArgs, positionals } = scanned;
  if (positionals.length !== 1) {
    return {
      kind: 'usage-error',
      message: `"hoist build" requires exactly 1 argument (PATH | URL | -), got ${positionals.length}.\nUsage:  hoist build [OPTIONS] PATH | URL | -`,
    };
  }
  return { kind: 'build', hoist, buildxArgs, facts: { ...facts, context: positionals[0]! } };
}

/** True when buildx would treat the context as remote (Git or HTTP(S)), not a local directory. */
export function isRemoteContext(context: string): boolean {
  return (
    /^[a-z][a-z0-9+.-]*:\/\//i.test(context) || context.startsWith('git@') || /^github\.com\//.test(context)
  );
}

/** Parses a --wait value: "90s", "5m", "1h30m", "250ms" or plain seconds. Returns ms, or undefined. */
export const parseDuration = parseDurationMs;

/**
 * Reads a flag's kind from `buildx build --help` output, for a flag a newer buildx knows and this
 * table does not. A line looks like `  -t, --tag stringArray   Image identifier` (value) or
 * `      --push   Shorthand ...` (bool).
 */
export function flagSpecFromHelp(help: string, name: string): FlagSpec | undefined {
  const re = new RegExp(
    `^\\s+(?:-(\\w), )?--${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?: (\\w+))?(?:\\s{2,}|$)`,
    'm',
  );
  const m = re.exec(help);
  if (!m) return undefined;
  const short = m[1];
  const type = m[2];
  const kind: FlagKind = type ? 'value' : 'bool';
  return short ? { kind, short } : { kind };
}
