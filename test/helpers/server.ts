// Starts a real `hoist server` for a test suite: in-process (buildApp on 127.0.0.1:0, fast) or as
// a child process running the bundle `node dist/cli/index.js server ...` (for restart tests; run
// `node .ci/build.mjs cli` first). Each server gets a private temp data dir, removed by stop().
import { spawn, type ChildProcess } from 'node:child_process';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import type { CreateTokenResponse, Project, TrustPolicy, TrustPolicyInput } from '../../src/lib/api-types.js';
import { PLUGINS } from '../../src/server/http/app.js';
import { loadConfig } from '../../src/server/config.js';
import type { HoistPlugin } from '../../src/server/http/plugin.js';
import { createLogger, startServer, type RunningServer } from '../../src/server/server.js';

const execFileP = promisify(execFile);
export const REPO_ROOT = resolve(import.meta.dirname ?? new URL('.', import.meta.url).pathname, '../..');
export const CLI_BUNDLE = join(REPO_ROOT, 'dist/cli/index.js');

export interface ApiResult<T = unknown> {
  status: number;
  body: T;
  headers: Headers;
}

export interface TestServerOptions {
  /** 'in-process' (default) or 'process' (the bundled CLI as a child process). */
  mode?: 'in-process' | 'process';
  /** OIDC issuer URL (e.g. from startOidcIssuer().url). */
  oidcIssuer?: string;
  /** Default: the server's own URL (http://127.0.0.1:PORT). */
  oidcAudience?: string;
  /** postgres://… to run on PostgreSQL; default SQLite in the data dir. */
  databaseUrl?: string;
  /** Reuse a data dir (it is then not removed by stop()). */
  dataDir?: string;
  /** Fixed port (process mode picks a free one by default). */
  port?: number;
  /** Extra flags: { 'oidc-max-age': '300', 'releases-dir': dir, ... }. */
  flags?: Record<string, string>;
  /** Extra environment for the child process. */
  env?: NodeJS.ProcessEnv;
  /** In-process only: server plugins; default the server's own list (with builds). */
  plugins?: HoistPlugin[];
  /** Default 'silent' in-process, 'warn' for a child process. */
  logLevel?: string;
  /** In-process only: keep the server's log lines (level 'info' unless logLevel says otherwise); see logs(). */
  captureLogs?: boolean;
}

export interface TestServer {
  url: string;
  dataDir: string;
  adminToken: string;
  /** In-process only: the running server (deps: db, tokens, ...). */
  running?: RunningServer;
  /** Process mode only. */
  child?: ChildProcess;
  /** Child process output so far (process mode). */
  output(): string;
  /** In-process with captureLogs: the server's log lines so far, parsed. */
  logs(): { level: number; msg: string; [k: string]: unknown }[];
  api<T = unknown>(
    method: string,
    path: string,
    body?: unknown,
    token?: string | null,
  ): Promise<ApiResult<T>>;
  createProject(name: string): Promise<Project>;
  createProjectToken(projectId: string, name?: string, expiresIn?: number): Promise<CreateTokenResponse>;
  addTrustPolicy(
    projectId: string,
    input: Omit<TrustPolicyInput, 'provider'> & { provider?: 'github' },
  ): Promise<TrustPolicy>;
  /** Stops (SIGTERM for a child) and starts again on the same port and data dir (new admin token kept). */
  restart(): Promise<void>;
  /** Stops and removes the temp data dir. */
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolvePort(port));
    });
  });
}

/**
 * Suites send bursts of exchanges from one loopback address: no per-client rate limit unless a
 * test sets one (flags or env). An environment variable, not a flag, so an older bundle still starts.
 */
const TEST_ENV: NodeJS.ProcessEnv = { HOIST_OIDC_RATE_LIMIT: '0' };

function flagsFor(o: TestServerOptions, dataDir: string, port: number): Record<string, string> {
  const f: Record<string, string> = {
    listen: `127.0.0.1:${port}`,
    'data-dir': dataDir,
    'oidc-jwks-cooldown-ms': '0',
    ...(o.oidcIssuer ? { 'oidc-issuer': o.oidcIssuer } : {}),
    ...(o.oidcAudience ? { 'oidc-audience': o.oidcAudience } : {}),
    ...(o.databaseUrl ? { 'database-url': o.databaseUrl } : {}),
    ...(o.flags ?? {}),
  };
  return f;
}

const toArgv = (f: Record<string, string>): string[] => Object.entries(f).flatMap(([k, v]) => [`--${k}`, v]);

async function waitHealthy(
  url: string,
  child: ChildProcess | undefined,
  output: () => string,
): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child && child.exitCode !== null) {
      throw new Error(`hoist server exited with ${child.exitCode}:\n${output()}`);
    }
    try {
      const r = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(1000) });
      if (r.ok) return;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error(`hoist server at ${url} did not become healthy:\n${output()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function startTestServer(o: TestServerOptions = {}): Promise<TestServer> {
  const mode = o.mode ?? 'in-process';
  const ownDir = !o.dataDir;
  const dataDir = o.dataDir ?? mkdtempSync(join(tmpdir(), 'hoist-server-'));
  let port = o.port ?? (mode === 'process' ? await freePort() : 0);
  let running: RunningServer | undefined;
  let child: ChildProcess | undefined;
  let out = '';
  let url = '';
  let adminToken = '';
  const logLines: string[] = [];

  const startInProcess = async (): Promise<void> => {
    const plugins = o.plugins ?? PLUGINS;
    const config = loadConfig(
      flagsFor(o, dataDir, port),
      { ...TEST_ENV, ...(o.env ?? {}) },
      plugins.flatMap((p) => p.options ?? []),
    );
    const logger = o.captureLogs
      ? createLogger(o.logLevel ?? 'info', { write: (line: string) => void logLines.push(line) })
      : createLogger(o.logLevel ?? 'silent');
    running = await startServer(config, { logger, plugins });
    url = running.url;
    port = Number(new URL(url).port);
  };

  const startChild = async (): Promise<void> => {
    if (!existsSync(CLI_BUNDLE))
      throw new Error(`${CLI_BUNDLE} is missing: run node .ci/build.mjs cli first`);
    const env = { ...process.env, HOIST_LOG_LEVEL: o.logLevel ?? 'warn', ...TEST_ENV, ...(o.env ?? {}) };
    child = spawn(process.execPath, [CLI_BUNDLE, 'server', ...toArgv(flagsFor(o, dataDir, port))], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    url = `http://127.0.0.1:${port}`;
    await waitHealthy(url, child, () => out);
  };

  const stopOnce = async (): Promise<void> => {
    if (running) {
      await running.stop();
      running = undefined;
    }
    if (child) {
      const c = child;
      child = undefined;
      if (c.exitCode === null && c.signalCode === null) {
        const exited = new Promise<void>((r) => c.once('exit', () => r()));
        c.kill('SIGTERM');
        const timer = setTimeout(() => c.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(timer);
      }
    }
  };

  if (mode === 'in-process') {
    await startInProcess();
    const { token } = await running!.deps.tokens.mint({ kind: 'admin', name: 'test admin' });
    adminToken = token;
  } else {
    const dbFlags = o.databaseUrl ? ['--database-url', o.databaseUrl] : [];
    const { stdout } = await execFileP(
      process.execPath,
      [CLI_BUNDLE, 'server', 'init', '--data-dir', dataDir, ...dbFlags],
      {
        env: { ...process.env, ...(o.env ?? {}) },
      },
    );
    adminToken = stdout.trim().split('\n').pop()!.trim();
    await startChild();
  }

  const api = async <T>(
    method: string,
    path: string,
    body?: unknown,
    token: string | null = adminToken,
  ): Promise<ApiResult<T>> => {
    const headers: Record<string, string> = {};
    if (token) headers.authorization = `Bearer ${token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(`${url}${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      // not JSON
    }
    return { status: res.status, body: parsed as T, headers: res.headers };
  };

  const expectOk = <T>(r: ApiResult<T>, what: string): T => {
    if (r.status >= 300) throw new Error(`${what} answered ${r.status}: ${JSON.stringify(r.body)}`);
    return r.body;
  };

  const self: TestServer = {
    get url() {
      return url;
    },
    dataDir,
    get adminToken() {
      return adminToken;
    },
    get running() {
      return running;
    },
    get child() {
      return child;
    },
    output: () => out,
    logs: () => logLines.map((l) => JSON.parse(l) as { level: number; msg: string }),
    api,
    createProject: async (name) =>
      expectOk(await api<Project>('POST', '/v1/projects', { name }), 'create project'),
    createProjectToken: async (projectId, name = 'test token', expiresIn) =>
      expectOk(
        await api<CreateTokenResponse>('POST', `/v1/projects/${projectId}/tokens`, {
          name,
          ...(expiresIn ? { expires_in: expiresIn } : {}),
        }),
        'create project token',
      ),
    addTrustPolicy: async (projectId, input) =>
      expectOk(
        await api<TrustPolicy>('POST', `/v1/projects/${projectId}/trust-policies`, {
          provider: 'github',
          ...input,
        }),
        'add trust policy',
      ),
    restart: async () => {
      await stopOnce();
      // Let clients' keep-alive sockets see the close before the same port answers again.
      await new Promise((r) => setTimeout(r, 100));
      if (mode === 'in-process') await startInProcess();
      else await startChild();
    },
    stop: async () => {
      await stopOnce();
      if (ownDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
  return self;
}
