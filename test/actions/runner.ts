// Runs a built action (dist/<name>/index.js) the way the GitHub runner does:
// INPUT_* with action.yml defaults filled in, the file commands
// (GITHUB_OUTPUT, GITHUB_STATE, GITHUB_ENV, GITHUB_PATH, GITHUB_STEP_SUMMARY),
// GITHUB_EVENT_PATH, RUNNER_TEMP, RUNNER_TOOL_CACHE, and a post step that gets
// the saved state back as STATE_* variables.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { inputVar } from './env.js';

export const REPO_ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');

/** The inputs of an action.yml with their defaults (enough YAML for our own action files). */
export function actionDefaults(actionYml: string, githubToken: string): Record<string, string> {
  const lines = fs.readFileSync(actionYml, 'utf8').split('\n');
  const defaults: Record<string, string> = {};
  let inInputs = false;
  let current: string | undefined;
  for (const line of lines) {
    if (/^\S/.test(line)) {
      inInputs = line.startsWith('inputs:');
      current = undefined;
      continue;
    }
    if (!inInputs) continue;
    const name = /^ {2}([a-z0-9-]+):\s*$/.exec(line);
    if (name) {
      current = name[1];
      continue;
    }
    const def = /^ {4}default:\s*(.*)$/.exec(line);
    if (def && current) {
      let v = (def[1] as string).trim();
      if (/^'.*'$/.test(v)) v = v.slice(1, -1).replace(/''/g, "'");
      else if (/^".*"$/.test(v)) v = v.slice(1, -1);
      if (v === '${{ github.token }}') v = githubToken;
      defaults[current] = v;
    }
  }
  return defaults;
}

export interface Job {
  /** A job directory holding the runner's files. */
  dir: string;
  /** Variables every step sees (GITHUB_ENV additions accumulate here). */
  env: Record<string, string>;
  /** Directories prepended to PATH (GITHUB_PATH additions accumulate here). */
  path: string[];
}

export interface JobOptions {
  dir: string;
  eventName: string;
  payload: unknown;
  repository?: string;
  sha?: string;
  ref?: string;
  toolCache?: string;
  /** Extra variables, e.g. ACTIONS_ID_TOKEN_REQUEST_URL/TOKEN, DOCKER_HOST. */
  env?: Record<string, string>;
}

export function newJob(o: JobOptions): Job {
  fs.mkdirSync(o.dir, { recursive: true });
  const eventPath = path.join(o.dir, 'event.json');
  fs.writeFileSync(eventPath, JSON.stringify(o.payload));
  const temp = path.join(o.dir, 'runner-temp');
  fs.mkdirSync(temp, { recursive: true });
  const toolCache = o.toolCache ?? path.join(o.dir, 'tool-cache');
  fs.mkdirSync(toolCache, { recursive: true });
  const summary = path.join(o.dir, 'step-summary.md');
  fs.writeFileSync(summary, '');
  return {
    dir: o.dir,
    path: [],
    env: {
      CI: 'true',
      GITHUB_ACTIONS: 'true',
      GITHUB_SERVER_URL: 'https://github.com',
      GITHUB_API_URL: 'https://api.github.com',
      GITHUB_REPOSITORY: o.repository ?? 'octo-org/octo-repo',
      GITHUB_SHA: o.sha ?? '0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c',
      GITHUB_REF: o.ref ?? 'refs/heads/main',
      GITHUB_RUN_ID: '4242',
      GITHUB_RUN_ATTEMPT: '1',
      GITHUB_EVENT_NAME: o.eventName,
      GITHUB_EVENT_PATH: eventPath,
      GITHUB_STEP_SUMMARY: summary,
      GITHUB_WORKSPACE: o.dir,
      RUNNER_TEMP: temp,
      RUNNER_TOOL_CACHE: toolCache,
      RUNNER_OS: 'Linux',
      ...(o.env ?? {}),
    },
  };
}

export interface StepResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  outputs: Record<string, string>;
  state: Record<string, string>;
  /** The post step's result, when the action has one and it ran. */
  post?: { exitCode: number; stdout: string; stderr: string };
  /** Runs the post step (again) with the saved state, as the runner does at the end of the job. */
  runPost: () => Promise<{ exitCode: number; stdout: string; stderr: string }>;
  durationMs: number;
}

/** Parses a file written with the runner's `name<<delimiter` / `name=value` file-command format. */
export function parseFileCommand(file: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (!fs.existsSync(file)) return out;
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    const heredoc = /^([^=<]+)<<(.+)$/.exec(line);
    if (heredoc) {
      const [, name, delim] = heredoc as unknown as [string, string, string];
      const value: string[] = [];
      for (i++; i < lines.length && lines[i] !== delim; i++) value.push(lines[i] as string);
      out[name] = value.join('\n');
    } else if (line.includes('=')) {
      out[line.slice(0, line.indexOf('='))] = line.slice(line.indexOf('=') + 1);
    }
  }
  return out;
}

let stepCounter = 0;

function exec(
  entry: string,
  env: Record<string, string>,
  cwd: string,
): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [entry], { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ exitCode: code ?? 1, stdout, stderr }));
  });
}

/**
 * Runs one `uses:` step: main, then (like the runner at the end of the job) the
 * post step if action.yml has one. GITHUB_ENV and GITHUB_PATH additions are
 * carried into the job for later steps.
 */
export async function runStep(
  job: Job,
  action: 'setup-action' | 'build-push-action' | 'bake-action',
  inputs: Record<string, string>,
  opts: { runPost?: boolean; cwd?: string } = {},
): Promise<StepResult> {
  const n = ++stepCounter;
  const files = {
    GITHUB_OUTPUT: path.join(job.dir, `output-${n}`),
    GITHUB_STATE: path.join(job.dir, `state-${n}`),
    GITHUB_ENV: path.join(job.dir, `env-${n}`),
    GITHUB_PATH: path.join(job.dir, `path-${n}`),
  };
  for (const f of Object.values(files)) fs.writeFileSync(f, '');
  const actionYml = path.join(REPO_ROOT, action, 'action.yml');
  const dist = path.join(REPO_ROOT, 'dist', action.replace(/-action$/, ''), 'index.js');
  const all = {
    ...actionDefaults(actionYml, job.env.GITHUB_TOKEN_FOR_TESTS ?? 'ghs_e2e_not_a_real_token'),
    ...inputs,
  };
  const inputEnv: Record<string, string> = {};
  for (const [k, v] of Object.entries(all)) inputEnv[inputVar(k)] = v;
  const basePath = [...job.path, process.env.PATH ?? ''].join(path.delimiter);
  const env: Record<string, string> = {
    HOME: process.env.HOME ?? '/root',
    ...job.env,
    PATH: basePath,
    ...inputEnv,
    ...files,
  };
  const started = Date.now();
  const main = await exec(dist, env, opts.cwd ?? job.dir);
  const durationMs = Date.now() - started;
  // Kept with the job for debugging (the job dir is a temp dir of the suite).
  fs.writeFileSync(path.join(job.dir, `step-${n}-${action}.stdout`), main.stdout);
  fs.writeFileSync(path.join(job.dir, `step-${n}-${action}.stderr`), main.stderr);
  const outputs = parseFileCommand(files.GITHUB_OUTPUT);
  const state = parseFileCommand(files.GITHUB_STATE);
  Object.assign(job.env, parseFileCommand(files.GITHUB_ENV));
  const added = fs.readFileSync(files.GITHUB_PATH, 'utf8').split('\n').filter(Boolean);
  job.path.unshift(...added.reverse());

  const runPost = async (): Promise<NonNullable<StepResult['post']>> => {
    const stateEnv: Record<string, string> = {};
    for (const [k, v] of Object.entries(state)) stateEnv[`STATE_${k}`] = v;
    const statePost = path.join(job.dir, `state-post-${n}`);
    fs.writeFileSync(statePost, '');
    return exec(dist, { ...env, ...stateEnv, GITHUB_STATE: statePost }, opts.cwd ?? job.dir);
  };
  let post: StepResult['post'];
  const hasPost = /^\s+post:/m.test(fs.readFileSync(actionYml, 'utf8'));
  if (hasPost && opts.runPost !== false) post = await runPost();
  return { ...main, outputs, state, post, runPost, durationMs };
}
