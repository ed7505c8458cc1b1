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

/** Phase durations from `hoist build`'s timing marks (performance.now() ms). */
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

/**
 * The steps and build-check warnings of one platform from buildx's rawjson progress (one
 * SolveStatus JSON object per line; a vertex appears several times as it progresses).
 */
export function parseRawJson(
  text: string,
  platform: string,
): { steps: BuildStep[]; warnings: (StepWarning & { platform: string })[] } {
  const order: string[] = [];
  const vertexes = new Map<string, RawVertex>();
  const logs = new Map<string, string[]>();
  const warnings: (StepWarning & { platform: string })[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    let s: { vertexes?: RawVertex[]; logs?: RawLog[]; warnings?: RawWarning[] };
    try {
      s = JSON.parse(line) as typeof s;
    } catch {
      continue;
    }
    for (const v of s.vertexes ?? []) {
      if (!v?.digest) continue;
      const cur = vertexes.get(v.digest);
      if (!cur) order.push(v.digest);
      const known = Object.fromEntries(Object.entries(v).filter(([, x]) => x != null)) as Partial<RawVertex>;
      vertexes.set(v.digest, { ...cur, ...known, digest: v.digest });
    }
    for (const l of s.logs ?? []) {
      if (!l?.vertex) continue;
      const list = logs.get(l.vertex) ?? [];
      list.push(b64(l.data));
      logs.set(l.vertex, list);
    }
    for (const w of s.warnings ?? []) {
      const short = b64(w.short);
      const detail = (w.detail ?? []).map(b64).join('\n');
      const rule = /^(\w+):/.exec(short)?.[1] ?? null;
      const r = w.range?.[0];
      warnings.push({
        platform,
        rule,
        message: detail ? `${short}\n${detail}` : short,
        line: r?.start?.line ?? null,
        end_line: r?.end?.line ?? r?.start?.line ?? null,
      });
    }
  }
  const steps = order.slice(0, BUILD_STEPS_MAX).map((digest): BuildStep => {
    const v = vertexes.get(digest)!;
    const name = v.name ?? digest;
    return {
      platform,
      digest,
      name,
      ...splitStepName(name),
      started_at: v.started ?? null,
      completed_at: v.completed ?? null,
      cached: v.cached === true,
      error: v.error || null,
      log_tail: tailUtf8((logs.get(digest) ?? []).join(''), STEP_LOG_TAIL_BYTES),
      ...(v.inputs?.length ? { inputs: v.inputs.filter((d) => typeof d === 'string').slice(0, 64) } : {}),
    };
  });
  // the same warning is reported once per vertex that saw it
  const seen = new Set<string>();
  const unique = warnings.filter((w) => {
    const k = `${w.rule}|${w.line}|${w.message}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
  return { steps, warnings: unique };
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
    const i = Number(/-(\d+)$/.exec(node)?.[1] ?? 0);
    const platform = platforms[i] ?? platforms[0] ?? 'default';
    const refs = await readdir(join(refsDir, node)).catch(() => [] as string[]);
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
  out.steps = out.steps.slice(0, BUILD_STEPS_MAX);
  return out;
}

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
