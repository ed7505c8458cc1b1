// What `hoist build` tells the server beyond the build's lifecycle: where it came from (the
// terminal or a GitHub Actions run), its steps, and its Dockerfile.
//
// Steps come from BuildKit's own build record, replayed after the build with
// `buildx history logs --progress rawjson REF`: the user's chosen --progress output is left
// exactly as it was (no second renderer, no extra pipe), and the record carries every vertex,
// its logs and the build-check warnings with their Dockerfile lines.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  BUILD_STEPS_MAX,
  STEP_LOG_TAIL_BYTES,
  type BuildContextInput,
  type BuildPhases,
  type BuildStep,
  type PostStepsRequest,
  type StepWarning,
} from '../lib/api-types.js';
import { buildxConfigDir, capture, type BuildxCommand } from './buildx.js';

type Env = Record<string, string | undefined>;

/** Largest Dockerfile sent with its contents; a bigger one is sent as path and hash only. */
export const DOCKERFILE_MAX_BYTES = 256 * 1024;

/** The build's origin from the GITHUB_* variables a runner sets (none: a terminal). */
export function buildContext(env: Env): BuildContextInput {
  const source = env.HOIST_BUILD_SOURCE === 'action' ? 'action' : 'cli';
  if (!env.GITHUB_REPOSITORY) return { source };
  const pick = (v: string | undefined): string | undefined => (v ? v.slice(0, 512) : undefined);
  const server = (env.GITHUB_SERVER_URL || 'https://github.com').replace(/\/+$/, '');
  const runUrl =
    env.GITHUB_RUN_ID && /^\d+$/.test(env.GITHUB_RUN_ID)
      ? `${server}/${env.GITHUB_REPOSITORY}/actions/runs/${env.GITHUB_RUN_ID}${
          env.GITHUB_RUN_ATTEMPT && /^\d+$/.test(env.GITHUB_RUN_ATTEMPT)
            ? `/attempts/${env.GITHUB_RUN_ATTEMPT}`
            : ''
        }`
      : undefined;
  const github = {
    repository: pick(env.GITHUB_REPOSITORY),
    repository_id: pick(env.GITHUB_REPOSITORY_ID),
    ref: pick(env.GITHUB_REF),
    sha: pick(env.GITHUB_SHA),
    workflow: pick(env.GITHUB_WORKFLOW),
    run_id: pick(env.GITHUB_RUN_ID),
    run_attempt: pick(env.GITHUB_RUN_ATTEMPT),
    job: pick(env.GITHUB_JOB),
    actor: pick(env.GITHUB_ACTOR),
    run_url: runUrl,
  };
  return {
    source,
    github: Object.fromEntries(Object.entries(github).filter(([, v]) => v !== undefined)),
  };
}

/** Phase durations from `hoist build`'s timing marks (ms since its process started). */
export function phasesOf(marks: Record<string, number>): BuildPhases {
  const span = (a: string, b: string): number | undefined =>
    marks[a] !== undefined && marks[b] !== undefined ? Math.round(marks[b]! - marks[a]!) : undefined;
  const p: BuildPhases = {
    queued_ms: span('created', 'acquired'),
    setup_ms: span('acquired', 'builder_created'),
    build_ms: span('builder_created', 'built'),
    cleanup_ms: span('built', 'cleaned'),
  };
  return Object.fromEntries(Object.entries(p).filter(([, v]) => v !== undefined)) as BuildPhases;
}

interface RawVertex {
  digest: string;
  name?: string;
  started?: string;
  completed?: string;
  cached?: boolean;
  error?: string;
  inputs?: string[];
}
interface RawLog {
  vertex: string;
  data?: string;
}
interface RawWarning {
  vertex?: string;
  short?: string;
  detail?: string[];
  url?: string;
  range?: { start?: { line?: number }; end?: { line?: number } }[];
}

const b64 = (s: string | undefined): string => (s ? Buffer.from(s, 'base64').toString('utf8') : '');

/** "[build 3/5] RUN make" → stage "build", instruction "RUN make"; "[2/3] COPY . ." → stage null. */
export function splitStepName(name: string): { stage: string | null; instruction: string | null } {
  const m = /^\[(?:([^\]\s]+)\s+)?\d+\/\d+\]\s+(.*)$/s.exec(name);
  if (!m) return { stage: null, instruction: null };
  return { stage: m[1] ?? null, instruction: m[2]! };
}

/** Keeps the last `max` bytes of a UTF-8 text, cut at a character boundary. */
export function tailUtf8(text: string, max: number): string {
  const buf = Buffer.from(text, 'utf8');
  if (buf.length <= max) return text;
  let start = buf.length - max;
  while (start < buf.length && (buf[start]! & 0xc0) === 0x80) start++;
  return buf.subarray(start).toString('utf8');
}

type PlatformWarning = StepWarning & { platform: string };

/**
 * Folds buildx's rawjson progress (one SolveStatus JSON object per line; a vertex appears
 * several times as it progresses) into the steps and build-check warnings of one platform, a
 * line at a time, so the same code reads a finished build's record and a running build's stream.
 * Memory stays bounded: each step keeps only the tail of its log.
 */
export class StepCollector {
  private readonly order: string[] = [];
  private readonly vertexes = new Map<string, RawVertex>();
  private readonly logs = new Map<string, Buffer>();
  private readonly warned = new Map<string, PlatformWarning>();
  private readonly dirty = new Set<string>();
  private warningsChanged = false;

  constructor(readonly platform: string) {}

  /** One line of rawjson; anything else is ignored. */
  feed(line: string): void {
    if (!line.startsWith('{')) return;
    let s: { vertexes?: RawVertex[]; logs?: RawLog[]; warnings?: RawWarning[] };
    try {
      s = JSON.parse(line) as typeof s;
    } catch {
      return;
    }
    for (const v of s.vertexes ?? []) {
      if (!v?.digest) continue;
      const cur = this.vertexes.get(v.digest);
      if (!cur) this.order.push(v.digest);
      const known = Object.fromEntries(Object.entries(v).filter(([, x]) => x != null)) as Partial<RawVertex>;
      this.vertexes.set(v.digest, { ...cur, ...known, digest: v.digest });
      this.dirty.add(v.digest);
    }
    for (const l of s.logs ?? []) {
      if (!l?.vertex || !l.data) continue;
      const cur = this.logs.get(l.vertex);
      const chunk = Buffer.from(l.data, 'base64');
      let next = cur ? Buffer.concat([cur, chunk]) : chunk;
      // a little over the tail is kept, so the cut can land on a character boundary later
      if (next.length > 2 * STEP_LOG_TAIL_BYTES) next = next.subarray(next.length - STEP_LOG_TAIL_BYTES - 4);
      this.logs.set(l.vertex, next);
      if (this.vertexes.has(l.vertex)) this.dirty.add(l.vertex);
    }
    for (const w of s.warnings ?? []) {
      const short = b64(w.short);
      const detail = (w.detail ?? []).map(b64).join('\n');
      const rule = /^(\w+):/.exec(short)?.[1] ?? null;
      const r = w.range?.[0];
      const warning: PlatformWarning = {
        platform: this.platform,
        rule,
        message: detail ? `${short}\n${detail}` : short,
        line: r?.start?.line ?? null,
        end_line: r?.end?.line ?? r?.start?.line ?? null,
      };
      // the same warning is reported once per vertex that saw it
      const k = `${warning.rule}|${warning.line}|${warning.message}`;
      if (this.warned.has(k)) continue;
      this.warned.set(k, warning);
      this.warningsChanged = true;
    }
  }

  /** Every step so far, in the order BuildKit first named them (at most BUILD_STEPS_MAX). */
  steps(): BuildStep[] {
    return this.order.slice(0, BUILD_STEPS_MAX).map((d) => this.step(d));
  }

  /** The steps that changed since the last call (first named first); each is reported once per change. */
  takeChanged(): BuildStep[] {
    const allowed = new Set(this.order.slice(0, BUILD_STEPS_MAX));
    const out = this.order.filter((d) => this.dirty.has(d) && allowed.has(d)).map((d) => this.step(d));
    this.dirty.clear();
    return out;
  }

  warnings(): PlatformWarning[] {
    return [...this.warned.values()];
  }

  /** True once after new warnings arrived. */
  takeWarningsChanged(): boolean {
    const c = this.warningsChanged;
    this.warningsChanged = false;
    return c;
  }

  private step(digest: string): BuildStep {
    const v = this.vertexes.get(digest)!;
    const name = v.name ?? digest;
    return {
      platform: this.platform,
      digest,
      name,
      ...splitStepName(name),
      started_at: v.started ?? null,
      completed_at: v.completed ?? null,
      cached: v.cached === true,
      error: v.error || null,
      log_tail: tailBytes(this.logs.get(digest), STEP_LOG_TAIL_BYTES),
      ...(v.inputs?.length ? { inputs: v.inputs.filter((d) => typeof d === 'string').slice(0, 64) } : {}),
    };
  }
}

/** The last `max` bytes of a UTF-8 buffer as text, starting on a character boundary. */
function tailBytes(buf: Buffer | undefined, max: number): string {
  if (!buf) return '';
  let start = Math.max(0, buf.length - max);
  while (start < buf.length && (buf[start]! & 0xc0) === 0x80) start++;
  return buf.subarray(start).toString('utf8');
}

/** The steps and build-check warnings of one platform from a whole rawjson text. */
export function parseRawJson(
  text: string,
  platform: string,
): { steps: BuildStep[]; warnings: PlatformWarning[] } {
  const c = new StepCollector(platform);
  for (const line of text.split('\n')) c.feed(line);
  return { steps: c.steps(), warnings: c.warnings() };
}

/**
 * The steps of the build(s) buildx just ran on `builder`: buildx keeps a local ref file per
 * build under refs/BUILDER/NODE/, so only this run's records are read (the project's builders
 * hold other builds' records too). Node i served platforms[i]. Never throws: a failure costs
 * the dashboard its steps, never the build.
 */
export async function captureSteps(
  bx: BuildxCommand,
  builder: string,
  platforms: string[],
  env: Env,
): Promise<PostStepsRequest & { error?: string }> {
  const out: PostStepsRequest & { error?: string } = { steps: [], warnings: [] };
  const refsDir = join(buildxConfigDir(env), 'refs', builder);
  let nodes: string[];
  try {
    nodes = (await readdir(refsDir)).sort();
  } catch (err) {
    return { ...out, error: `no build records under ${refsDir}: ${(err as Error).message}` };
  }
  const via = bx.direct ?? bx;
  for (const node of nodes) {
    const platform = platformOfNode(node, platforms);
    const refs = (await readdir(join(refsDir, node)).catch(() => [] as string[])).filter(isRefName);
    for (const ref of refs) {
      const r = await capture(
        via.file,
        [...via.prefix, 'history', 'logs', '--builder', builder, '--progress', 'rawjson', ref],
        env,
      );
      if (r.code !== 0) {
        out.error = `buildx history logs ${ref} failed: ${r.stderr.trim().slice(0, 300)}`;
        continue;
      }
      // rawjson goes to stderr, like a build's progress
      const parsed = parseRawJson(`${r.stdout}\n${r.stderr}`, platform);
      out.steps.push(...parsed.steps);
      out.warnings!.push(...parsed.warnings);
    }
  }
  out.steps = mergeSteps(out.steps).slice(0, BUILD_STEPS_MAX);
  return out;
}

/**
 * One step per platform and vertex digest, where it first appeared: a vertex that several
 * records share (a bake's targets with a common stage) is one step, ran if any record ran it.
 */
export function mergeSteps(steps: BuildStep[]): BuildStep[] {
  const at = new Map<string, number>();
  const out: BuildStep[] = [];
  for (const s of steps) {
    const k = `${s.platform}\u0000${s.digest}`;
    const i = at.get(k);
    if (i === undefined) {
      at.set(k, out.length);
      out.push(s);
      continue;
    }
    const a = out[i]!;
    out[i] = {
      ...a,
      started_at: a.started_at ?? s.started_at,
      completed_at:
        a.completed_at && s.completed_at
          ? maxIso(a.completed_at, s.completed_at)
          : (a.completed_at ?? s.completed_at),
      cached: a.cached && s.cached,
      error: a.error ?? s.error,
      log_tail: s.log_tail.length > a.log_tail.length ? s.log_tail : a.log_tail,
      ...(a.inputs || s.inputs ? { inputs: a.inputs ?? s.inputs } : {}),
    };
  }
  return out;
}

const maxIso = (a: string, b: string): string => (Date.parse(b) > Date.parse(a) ? b : a);

/** Node i of Hoist's buildx builder (named BUILDER-i) served platforms[i]. */
export function platformOfNode(node: string, platforms: string[]): string {
  const i = Number(/-(\d+)$/.exec(node)?.[1] ?? 0);
  return platforms[i] ?? platforms[0] ?? 'default';
}

/** A ref file of buildx's local state; it writes each under a ".tmp-" name first, then renames it. */
export const isRefName = (name: string): boolean => /^[a-z0-9]+$/i.test(name);

/** The Dockerfile's path, SHA-256 and (unless HOIST_DOCKERFILE_CONTENTS=false) contents. */
export async function dockerfileInfo(
  path: string | undefined,
  env: Env,
): Promise<PostStepsRequest['dockerfile'] | undefined> {
  if (!path) return undefined;
  let buf: Buffer;
  try {
    buf = await readFile(path);
  } catch {
    return undefined;
  }
  const send = !/^(0|false|no|off)$/i.test(env.HOIST_DOCKERFILE_CONTENTS ?? '');
  // loaded here, not at start: node:crypto costs every `hoist build` start-up time
  const { createHash } = await import('node:crypto');
  return {
    path,
    sha256: createHash('sha256').update(buf).digest('hex'),
    contents: send && buf.length <= DOCKERFILE_MAX_BYTES ? buf.toString('utf8') : null,
  };
}

/** Captures this run's steps and sends them with the Dockerfile; warns (never throws) on failure. */
export async function reportSteps(opts: {
  bx: BuildxCommand;
  builder: string;
  platforms: string[];
  env: Env;
  dockerfile?: string;
  send: (req: PostStepsRequest) => Promise<unknown>;
  warn: (m: string) => void;
}): Promise<void> {
  if (/^(0|false|no|off)$/i.test(opts.env.HOIST_STEPS ?? '')) return;
  try {
    const { error, ...req } = await captureSteps(opts.bx, opts.builder, opts.platforms, opts.env);
    const dockerfile = await dockerfileInfo(opts.dockerfile, opts.env);
    if (dockerfile) req.dockerfile = dockerfile;
    if (error && req.steps.length === 0) opts.warn(`build steps not recorded: ${error}`);
    if (req.steps.length || dockerfile) await opts.send(req);
  } catch (err) {
    opts.warn(`build steps not recorded: ${(err as Error).message}`);
  }
}
