// The I/O that feeds resolve.ts: the user config file, hoist.json files, GitHub Actions' ID token.
import { readFileSync, statSync } from 'node:fs';
import { chmod, mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join, parse as parsePath, resolve } from 'node:path';
import { ConfigurationError, errorMessage } from '../lib/errors.js';
import { send } from '../lib/client.js';
import type { ConfigSource, HoistJsonFound, UserConfig } from './resolve.js';

type Env = Record<string, string | undefined>;

/** HOIST_CONFIG, else $XDG_CONFIG_HOME/hoist/config.json, else ~/.config/hoist/config.json. */
export function configPath(env: Env): string {
  if (env.HOIST_CONFIG) return resolve(env.HOIST_CONFIG);
  const base = env.XDG_CONFIG_HOME || join(env.HOME || homedir(), '.config');
  return join(base, 'hoist', 'config.json');
}

/** Reads the config file; a file others can read is refused, since it holds a token. */
export async function readUserConfig(path: string): Promise<ConfigSource> {
  let mode: number;
  try {
    mode = statSync(path).mode;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { state: 'absent', path };
    return { state: 'error', path, problem: `cannot read ${path}: ${errorMessage(err)}` };
  }
  if (mode & 0o077) {
    return {
      state: 'error',
      path,
      problem: `${path} holds a token but has mode ${(mode & 0o777).toString(8)}; run "chmod 600 ${path}"`,
    };
  }
  try {
    const parsed: unknown = JSON.parse(readFileSync(path, 'utf8'));
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) {
      return { state: 'error', path, problem: `${path} is not a JSON object; run "hoist login" again` };
    }
    const o = parsed as Record<string, unknown>;
    const config: UserConfig = {};
    if (typeof o.api_url === 'string') config.api_url = o.api_url;
    if (typeof o.token === 'string') config.token = o.token;
    return { state: 'ok', path, config };
  } catch (err) {
    return {
      state: 'error',
      path,
      problem: `${path} is not valid JSON (${errorMessage(err)}); run "hoist login" again`,
    };
  }
}

/** Writes the config file with mode 0600 (atomically, via a 0600 temp file) in a 0700 directory. */
export async function writeUserConfig(path: string, config: UserConfig): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.tmp`;
  // a new file (wx), so the token is never written into a leftover file with looser permissions
  await rm(tmp, { force: true });
  try {
    await writeFile(tmp, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
    await chmod(tmp, 0o600); // the umask may have taken bits off, never added any
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

/** The nearest hoist.json at or above `startDir`, with the project it names. */
export async function findHoistJson(startDir: string): Promise<HoistJsonFound | undefined> {
  let dir = resolve(startDir);
  const root = parsePath(dir).root;
  for (;;) {
    const path = join(dir, 'hoist.json');
    let text: string | undefined;
    try {
      // read synchronously: one attempt per directory up to the root, on every build's path
      text = readFileSync(path, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') return { path, problem: errorMessage(err) };
    }
    if (text !== undefined) {
      try {
        const o = JSON.parse(text) as { project?: unknown };
        if (typeof o?.project === 'string' && o.project.trim()) return { path, project: o.project.trim() };
        return { path, problem: 'it has no "project" string, e.g. {"project": "my-app"}' };
      } catch (err) {
        return { path, problem: `not valid JSON (${errorMessage(err)})` };
      }
    }
    if (dir === root) return undefined;
    dir = dirname(dir);
  }
}

/**
 * Asks the Actions runtime for an ID token, the way @actions/core's getIDToken does:
 * GET $ACTIONS_ID_TOKEN_REQUEST_URL&audience=AUD with the request token as a bearer.
 */
export async function fetchGithubIdToken(env: Env, audience: string, timeoutMs = 15_000): Promise<string> {
  const url = env.ACTIONS_ID_TOKEN_REQUEST_URL;
  const bearer = env.ACTIONS_ID_TOKEN_REQUEST_TOKEN;
  if (!url || !bearer) {
    throw new ConfigurationError(
      'GitHub Actions OIDC is not available: add `permissions: id-token: write` to the workflow or job',
    );
  }
  const full = `${url}${url.includes('?') ? '&' : '?'}audience=${encodeURIComponent(audience)}`;
  let lastError = '';
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      // node:http(s) with Hoist's trust (trust.ts), not fetch: a deferred NODE_EXTRA_CA_CERTS
      // (a GitHub Enterprise Server behind a private CA) is trusted here too
      const res = await send(new URL(full), {
        method: 'GET',
        headers: { authorization: `Bearer ${bearer}`, accept: 'application/json; api-version=2.0' },
        timeoutMs,
      });
      const text = res.text;
      if (res.status >= 200 && res.status < 300) {
        const value = (JSON.parse(text) as { value?: unknown }).value;
        if (typeof value === 'string' && value) return value;
        lastError = 'the answer has no "value"';
      } else {
        lastError = `HTTP ${res.status}`;
        if (res.status < 500 && res.status !== 429) break;
      }
    } catch (err) {
      lastError = errorMessage(err);
    }
    await new Promise((r) => setTimeout(r, 200 * 2 ** attempt));
  }
  throw new ConfigurationError(`cannot get a GitHub Actions ID token: ${lastError}`);
}
