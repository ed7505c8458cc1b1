// Steps while the build runs. buildx takes one --progress mode, and it is the user's: instead
// of a second renderer, a second client of the same buildkitd follows this build's progress.
// buildx writes each build's ref into its local state (refs/BUILDER/NODE/REF) before the solve
// starts; `buildx history logs --progress rawjson REF` on an active build asks BuildKit's
// Status API for that ref, which replays what was sent so far and then follows the build live
// until it ends, over the build's own certificate. Nothing of it reaches the user's terminal,
// and a failure here (an old buildkitd, a record not there yet, a refused batch) only costs
// the live view: the full set is still sent at finish (steps.ts).
import { spawn, type ChildProcess } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { BuildStep, PostStepsRequest } from '../lib/api-types.js';
import { HoistApiError } from '../lib/errors.js';
import { buildxConfigDir, type BuildxCommand } from './buildx.js';
import { StepCollector, isRefName, platformOfNode } from './steps.js';

type Env = Record<string, string | undefined>;

/** Nothing starts before this: a build shorter than it sends its steps at finish only. */
export const LIVE_DELAY_MS = 1000;
/** At most one batch per this interval. */
export const LIVE_BATCH_MS = 1000;
/** Bounds of one batch: steps, and bytes of their JSON (log tails are capped per step already). */
export const BATCH_MAX_STEPS = 100;
export const BATCH_MAX_BYTES = 256 * 1024;
/** Records followed at once (a bake has one per target and node); the rest arrive at finish. */
const MAX_FOLLOWERS = 8;
/** How often buildx's local state is read for new refs. */
const SCAN_MS = 250;
/** A record may not exist yet when its ref file does (the solve request is still on its way). */
const FOLLOW_TRIES = 10;

/** HOIST_STEPS=false sends no steps at all; HOIST_STEPS_LIVE=false sends them at finish only. */
export function liveStepsEnabled(env: Env): boolean {
  const off = (v: string | undefined): boolean => /^(0|false|no|off)$/i.test(v ?? '');
  return !off(env.HOIST_STEPS) && !off(env.HOIST_STEPS_LIVE);
}

/**
 * Splits changed steps into batches of at most `maxSteps` steps and about `maxBytes` of JSON
 * (a single larger step still goes, alone). Pure.
 */
export function chunkSteps(steps: BuildStep[], maxSteps: number, maxBytes: number): BuildStep[][] {
  const out: BuildStep[][] = [];
  let cur: BuildStep[] = [];
  let bytes = 0;
  for (const s of steps) {
    const n = Buffer.byteLength(JSON.stringify(s));
    if (cur.length && (cur.length >= maxSteps || bytes + n > maxBytes)) {
      out.push(cur);
      cur = [];
      bytes = 0;
    }
    cur.push(s);
    bytes += n;
  }
  if (cur.length) out.push(cur);
  return out;
}

export interface LiveSteps {
  /** Stops following and sending at once, aborting a batch in flight; waits for nothing. */
  stop(): void;
  /** Batches the server took, and steps in them. */
  readonly sent: { batches: number; steps: number };
}

interface Follower {
  ref: string;
  collector: StepCollector;
  child?: ChildProcess;
  tries: number;
}

/**
 * Follows the records buildx starts on `builder` and sends their steps as they change, marked
 * partial, until stop(). Never throws and never writes to the terminal.
 */
export function startLiveSteps(o: {
  bx: BuildxCommand;
  builder: string;
  platforms: string[];
  env: Env;
  /** Sends a batch; `signal` aborts it when stop() comes first. */
  send: (req: PostStepsRequest, signal: AbortSignal) => Promise<unknown>;
  delayMs?: number;
  batchMs?: number;
}): LiveSteps {
  const via = o.bx.direct ?? o.bx;
  const refsDir = join(buildxConfigDir(o.env), 'refs', o.builder);
  const batchMs = o.batchMs ?? LIVE_BATCH_MS;
  const followers = new Map<string, Follower>();
  const pending = new Map<string, BuildStep>();
  const timers = new Set<NodeJS.Timeout>();
  const sent = { batches: 0, steps: 0 };
  const aborted = new AbortController();
  let stopped = false;
  let sending = false;
  let again = false;
  let warningsChanged = false;
  let flushTimer: NodeJS.Timeout | undefined;
  let lastFlush = 0;

  const later = (ms: number, fn: () => void): NodeJS.Timeout => {
    const t = setTimeout(() => {
      timers.delete(t);
      if (!stopped) fn();
    }, ms);
    t.unref();
    timers.add(t);
    return t;
  };

  const scan = async (): Promise<void> => {
    try {
      for (const node of await readdir(refsDir)) {
        const platform = platformOfNode(node, o.platforms);
        for (const ref of (await readdir(join(refsDir, node)).catch(() => [] as string[])).filter(
          isRefName,
        )) {
          if (stopped || followers.has(ref) || followers.size >= MAX_FOLLOWERS) continue;
          const f: Follower = { ref, collector: new StepCollector(platform), tries: 0 };
          followers.set(ref, f);
          follow(f);
        }
      }
    } catch {
      // not written yet
    }
    if (!stopped && followers.size < MAX_FOLLOWERS) later(SCAN_MS, () => void scan());
  };

  const follow = (f: Follower): void => {
    f.tries++;
    let got = false;
    let said = '';
    let child: ChildProcess;
    try {
      child = spawn(
        via.file,
        [...via.prefix, 'history', 'logs', '--builder', o.builder, '--progress', 'rawjson', f.ref],
        { env: o.env as NodeJS.ProcessEnv, stdio: ['ignore', 'pipe', 'pipe'] },
      );
    } catch {
      return;
    }
    f.child = child;
    const onLines = (): ((d: string) => void) => {
      let rest = '';
      return (d: string): void => {
        const lines = (rest + d).split('\n');
        rest = lines.pop()!;
        for (const line of lines) {
          if (!line.startsWith('{')) {
            if (said.length < 1024) said += `${line}\n`;
            continue;
          }
          got = true;
          f.collector.feed(line);
        }
        if (got) changed();
      };
    };
    // rawjson goes to stderr, like a build's progress
    child.stdout!.setEncoding('utf8').on('data', onLines());
    child.stderr!.setEncoding('utf8').on('data', onLines());
    child.on('error', () => undefined);
    child.on('close', (code) => {
      f.child = undefined;
      if (stopped) return;
      // "no record found": the solve has not reached buildkitd yet. Anything else (a buildx
      // without `history logs`, a refused connection) would say the same again.
      if (code !== 0 && !got && /no record found/i.test(said) && f.tries < FOLLOW_TRIES) {
        later(300, () => follow(f));
        return;
      }
      changed();
    });
  };

  const changed = (): void => {
    if (stopped || flushTimer) return;
    flushTimer = later(Math.max(100, lastFlush + batchMs - Date.now()), () => {
      flushTimer = undefined;
      void flush();
    });
  };

  const flush = async (): Promise<void> => {
    if (stopped) return;
    if (sending) {
      again = true;
      return;
    }
    for (const f of followers.values()) {
      for (const s of f.collector.takeChanged()) pending.set(`${s.platform}\u0000${s.digest}`, s);
      if (f.collector.takeWarningsChanged()) warningsChanged = true;
    }
    if (pending.size === 0 && !warningsChanged) return;
    const batches = chunkSteps([...pending.values()], BATCH_MAX_STEPS, BATCH_MAX_BYTES);
    pending.clear();
    const withWarnings = warningsChanged;
    warningsChanged = false;
    sending = true;
    lastFlush = Date.now();
    try {
      for (let i = 0; i < Math.max(1, batches.length); i++) {
        const steps = batches[i] ?? [];
        const req: PostStepsRequest = { steps, partial: true };
        if (i === 0 && withWarnings) {
          req.warnings = [...followers.values()].flatMap((f) => f.collector.warnings()).slice(0, 500);
        }
        try {
          await o.send(req, aborted.signal);
          sent.batches++;
          sent.steps += steps.length;
        } catch (err) {
          if (stopped) return;
          // the build ended (409), its token died (401), or the request is refused: nothing
          // later would be taken either
          if (err instanceof HoistApiError && err.status >= 400 && err.status < 500 && err.status !== 429) {
            stop();
            return;
          }
          // unreachable or busy: these steps go again with the next batch, unless newer
          for (const s of batches.slice(i).flat()) {
            const k = `${s.platform}\u0000${s.digest}`;
            if (!pending.has(k)) pending.set(k, s);
          }
          if (i === 0 && withWarnings) warningsChanged = true;
          break;
        }
      }
    } finally {
      sending = false;
    }
    if (again || pending.size) {
      again = false;
      changed();
    }
  };

  const stop = (): void => {
    if (stopped) return;
    stopped = true;
    // a batch in flight must not hold `hoist build` back: the full set follows anyway
    aborted.abort();
    for (const t of timers) clearTimeout(t);
    timers.clear();
    for (const f of followers.values()) {
      const c = f.child;
      if (!c) continue;
      c.kill('SIGTERM');
      // nothing of it may keep `hoist build` from exiting
      c.unref();
      c.stdout?.destroy();
      c.stderr?.destroy();
    }
  };

  later(o.delayMs ?? LIVE_DELAY_MS, () => void scan());
  return { stop, sent };
}
