// The end of a successful `hoist build` after buildx has exited: capture the steps, remove the
// builder definition and the private dir, report the build's end (which ends its certificates).
// None of it changes the exit status, so `hoist build` hands it to a background process of its
// own (`hoist __finish-build`) and exits at once: a fully cached build no longer waits for a
// `buildx history logs` process and two round trips (see README, "Hoist's own overhead").
import { spawn } from 'node:child_process';
import { rm, writeFile } from 'node:fs/promises';
import type { FinishBuildRequest } from '../lib/api-types.js';
import { HoistClient } from '../lib/client.js';
import { HoistApiError, errorMessage } from '../lib/errors.js';
import { withDeferredExtraCa } from '../lib/extra-ca.js';
import { truncateUtf8 } from '../lib/text.js';
import { BUILD_ERROR_MAX_BYTES } from '../lib/api-types.js';
import { type BuildxCommand, removeBuilder } from './buildx.js';
import { phasesOf, reportSteps } from './steps.js';

type Env = Record<string, string | undefined>;

/** Hidden command that runs {@link runFinisher}; never typed by users. */
export const FINISH_COMMAND = '__finish-build';

/** Name of the note in the private dir that tells a later run who owns it (see sweepStale). */
export const OWNER_FILE = 'owner.json';

/** What the background process needs to end a build; sent on its stdin, never on its argv. */
export interface FinishState {
  api_url: string;
  user_agent: string;
  ca_pem?: string;
  build_id: string;
  build_token: string;
  builder: string;
  buildx_config: string;
  /** The private dir of the build's certificates. */
  tmp: string;
  platforms: string[];
  dockerfile?: string;
  bx: BuildxCommand;
  heartbeat_ms: number;
  /** `hoist build`'s timing marks, up to the hand-off (phases of the build record). */
  marks: Record<string, number>;
  /** Where to write the finisher's own timings (HOIST_TIMINGS_FILE of the build, plus a suffix). */
  timings_file?: string;
}

/** HOIST_FINISH_IN_BACKGROUND=false keeps the whole end of the build before `hoist build` exits. */
export function backgroundFinishEnabled(env: Env): boolean {
  return !/^(0|false|no|off)$/i.test(env.HOIST_FINISH_IN_BACKGROUND ?? '');
}

/**
 * Removes the builder definition and the private dir while the server is told the build's end;
 * neither waits on the other. Warns (never throws).
 */
export async function endBuild(opts: {
  client: HoistClient | undefined;
  buildId: string | undefined;
  builder: string | undefined;
  bxConfig: string;
  tmp: string | undefined;
  result: FinishBuildRequest;
  marks: Record<string, number>;
  warn: (m: string) => void;
  onCleaned?: () => void;
}): Promise<void> {
  const { client, buildId, builder, tmp, result, warn } = opts;
  const removed = (async (): Promise<void> => {
    if (builder) {
      await removeBuilder(opts.bxConfig, builder).catch((err: unknown) =>
        warn(
          `could not remove buildx builder ${builder} (${errorMessage(err)}); run "docker buildx rm ${builder}"`,
        ),
      );
    }
    if (tmp) await rm(tmp, { recursive: true, force: true });
    opts.onCleaned?.();
  })();
  const reported = (async (): Promise<void> => {
    if (!client || !buildId) return;
    try {
      // The server refuses a longer error (413): send its start rather than lose the finish.
      const error = result.error && truncateUtf8(result.error, BUILD_ERROR_MAX_BYTES);
      const phases = phasesOf(opts.marks);
      await client.finishBuild(buildId, error ? { ...result, error, phases } : { ...result, phases });
    } catch (err) {
      // a build the server already canceled or expired refuses a finish; that is not the user's error
      if (!(err instanceof HoistApiError) || result.status !== 'canceled') {
        warn(`could not report the build's end (${result.status}): ${errorMessage(err)}`);
      }
    }
  })();
  await Promise.all([removed, reported]);
}

/**
 * Starts the background process and hands it the state. Resolves with its pid once it holds the
 * state; rejects if it could not be started or took nothing (the caller then ends the build itself).
 * `beforeState` runs once the pid is known and before the state is sent: the caller records the
 * new owner of the private dir there, so that no other run sweeps it while the finisher works.
 */
export function handOffFinish(
  state: FinishState,
  env: Env,
  beforeState: (pid: number) => Promise<void>,
): Promise<number> {
  return new Promise((resolve, reject) => {
    const script = process.argv[1];
    if (!script) {
      reject(new Error('no CLI script to start'));
      return;
    }
    const child = spawn(process.execPath, [...process.execArgv, script, FINISH_COMMAND], {
      detached: true,
      // no stdout/stderr: a CI runner (or a caller) waiting for the step's output to end would wait
      // for this process too
      stdio: ['pipe', 'ignore', 'ignore'],
      // names the build it ends, for `ps e` and for tests that wait for it
      env: { ...withDeferredExtraCa(env as NodeJS.ProcessEnv), HOIST_FINISHING_BUILD: state.build_id },
    });
    child.once('error', reject);
    child.stdin!.once('error', reject);
    const pid = child.pid;
    if (pid === undefined) return; // 'error' follows
    beforeState(pid).then(
      () =>
        child.stdin!.end(JSON.stringify(state), () => {
          child.unref();
          resolve(pid);
        }),
      (err: unknown) => {
        child.kill('SIGKILL');
        reject(err instanceof Error ? err : new Error(String(err)));
      },
    );
  });
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(typeof c === 'string' ? Buffer.from(c) : (c as Buffer));
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * `hoist __finish-build`: ends a successful build handed off by `hoist build` (steps, clean-up,
 * finish). Its stdout and stderr go nowhere, so warnings are kept only in the timings file when
 * one was asked for. Without a complete state (the parent died first) there is nothing it may
 * touch: a later run sweeps the private dir, and the server expires the build.
 */
export async function runFinisher(stdin: NodeJS.ReadableStream, env: Env): Promise<number> {
  const t0 = performance.now();
  let s: FinishState;
  try {
    s = JSON.parse(await readAll(stdin)) as FinishState;
  } catch {
    return 1;
  }
  const received = performance.now();
  const warnings: string[] = [];
  const warn = (m: string): void => void warnings.push(m);
  const client = new HoistClient({
    apiUrl: s.api_url,
    userAgent: s.user_agent,
    caPem: s.ca_pem,
    token: s.build_token,
  });
  // the build stays alive (and its certificate renewed by the server) while the steps are read
  const hb = setInterval(
    () => void client.heartbeat(s.build_id).catch(() => undefined),
    Math.max(s.heartbeat_ms, 200),
  );
  hb.unref();
  const marks: Record<string, number> = {};
  try {
    await reportSteps({
      bx: s.bx,
      builder: s.builder,
      platforms: s.platforms,
      env,
      dockerfile: s.dockerfile,
      warn,
      send: (r) => client.postSteps(s.build_id, r),
    });
    marks.steps_sent = performance.now();
  } finally {
    clearInterval(hb);
  }
  await endBuild({
    client,
    buildId: s.build_id,
    builder: s.builder,
    bxConfig: s.buildx_config,
    tmp: s.tmp,
    result: { status: 'success' },
    marks: s.marks,
    warn,
  });
  marks.finished = performance.now();
  if (s.timings_file) {
    const rel = (v: number): number => Math.round((v - received) * 10) / 10;
    await writeFile(
      s.timings_file,
      JSON.stringify({
        start: Math.round(t0 * 10) / 10,
        received: Math.round(received * 10) / 10,
        steps_sent_ms: marks.steps_sent === undefined ? undefined : rel(marks.steps_sent),
        finished_ms: rel(marks.finished),
        warnings,
      }),
    ).catch(() => undefined);
  }
  return warnings.length ? 1 : 0;
}
