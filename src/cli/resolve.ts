// Where the API URL, the token and the project come from. Pure functions over the sources,
// table-tested in test/cli/resolve.test.ts; the I/O that gathers the sources lives in config.ts.

export interface UserConfig {
  api_url?: string;
  token?: string;
}

/** The user config file as read: absent, readable, or unusable (and why). */
export type ConfigSource =
  | { state: 'absent'; path: string }
  | { state: 'ok'; path: string; config: UserConfig }
  | { state: 'error'; path: string; problem: string };

export interface ApiUrlSources {
  flag?: string;
  env?: string;
  config: ConfigSource;
}

export type Resolved<T> = { ok: true; value: T; source: string } | { ok: false; message: string };

const nonEmpty = (s: string | undefined): string | undefined => {
  const t = s?.trim();
  return t ? t : undefined;
};

export function sameApiUrl(a: string, b: string): boolean {
  const norm = (u: string): string => u.trim().replace(/\/+$/, '').toLowerCase();
  return norm(a) === norm(b);
}

/** --api-url > HOIST_API_URL > the config file's api_url. */
export function resolveApiUrl(s: ApiUrlSources): Resolved<string> {
  const flag = nonEmpty(s.flag);
  if (flag) return { ok: true, value: flag, source: '--api-url' };
  const env = nonEmpty(s.env);
  if (env) return { ok: true, value: env, source: 'HOIST_API_URL' };
  if (s.config.state === 'ok') {
    const fromConfig = nonEmpty(s.config.config.api_url);
    if (fromConfig) return { ok: true, value: fromConfig, source: s.config.path };
  }
  const why = s.config.state === 'error' ? ` (${s.config.problem})` : '';
  return {
    ok: false,
    message: `no Hoist API URL: pass --api-url, set HOIST_API_URL, or run "hoist login --api-url URL"${why}.`,
  };
}

export interface TokenSources {
  flag?: string;
  env?: string;
  config: ConfigSource;
  /** The API URL this token will be sent to; a config token saved for another server is not used. */
  apiUrl: string;
  /** ACTIONS_ID_TOKEN_REQUEST_URL and ACTIONS_ID_TOKEN_REQUEST_TOKEN are both set. */
  githubOidc: boolean;
  /** GITHUB_ACTIONS=true: running in Actions, but without `permissions: id-token: write`. */
  inGithubActions?: boolean;
  /** Admin commands never use OIDC. */
  allowOidc: boolean;
}

export type TokenChoice = { kind: 'token'; token: string } | { kind: 'github-oidc' };

/** --token > HOIST_TOKEN > the config file (when saved for this API URL) > GitHub Actions OIDC. */
export function resolveToken(s: TokenSources): Resolved<TokenChoice> {
  const flag = nonEmpty(s.flag);
  if (flag) return { ok: true, value: { kind: 'token', token: flag }, source: '--token' };
  const env = nonEmpty(s.env);
  if (env) return { ok: true, value: { kind: 'token', token: env }, source: 'HOIST_TOKEN' };
  const notes: string[] = [];
  if (s.config.state === 'ok') {
    const token = nonEmpty(s.config.config.token);
    const savedFor = nonEmpty(s.config.config.api_url);
    if (token && (!savedFor || sameApiUrl(savedFor, s.apiUrl))) {
      return { ok: true, value: { kind: 'token', token }, source: s.config.path };
    }
    if (token && savedFor) {
      notes.push(`the token in ${s.config.path} is for ${savedFor}, not ${s.apiUrl}`);
    }
  } else if (s.config.state === 'error') {
    notes.push(s.config.problem);
  }
  if (s.allowOidc && s.githubOidc) {
    return { ok: true, value: { kind: 'github-oidc' }, source: 'GitHub Actions OIDC' };
  }
  if (s.allowOidc && s.inGithubActions) {
    notes.push(
      'this GitHub Actions job cannot request an OIDC token: add `permissions: id-token: write` to the workflow or job',
    );
  }
  const how = s.allowOidc
    ? 'pass --token, set HOIST_TOKEN, run "hoist login", or run inside GitHub Actions with `permissions: id-token: write`'
    : 'pass --token, set HOIST_TOKEN, or run "hoist login"';
  return {
    ok: false,
    message: `no Hoist token: ${how}${notes.length ? ` (${notes.join('; ')})` : ''}.`,
  };
}

/** A hoist.json that was found, and the project it names. */
export interface HoistJsonFound {
  path: string;
  project?: string;
  /** Unreadable or not JSON, or no "project" string. */
  problem?: string;
}

export interface ProjectSources {
  flag?: string;
  env?: string;
  /** hoist.json found walking up from the context directory. */
  fromContext?: HoistJsonFound;
  /** hoist.json found walking up from the Dockerfile's directory. */
  fromDockerfile?: HoistJsonFound;
}

export interface ProjectResolution {
  /** undefined: let the server decide (a project token or an OIDC token names its own project). */
  project?: string;
  source?: string;
  warnings: string[];
}

/** --project > HOIST_PROJECT_ID > hoist.json (context dir, then Dockerfile dir); warns on disagreement. */
export function resolveProject(s: ProjectSources): ProjectResolution {
  const candidates: { value: string; source: string }[] = [];
  const warnings: string[] = [];
  const flag = nonEmpty(s.flag);
  if (flag) candidates.push({ value: flag, source: '--project' });
  const env = nonEmpty(s.env);
  if (env) candidates.push({ value: env, source: 'HOIST_PROJECT_ID' });
  const files = [s.fromContext, s.fromDockerfile].filter((f): f is HoistJsonFound => f !== undefined);
  const seen = new Set<string>();
  for (const f of files) {
    if (seen.has(f.path)) continue;
    seen.add(f.path);
    if (f.problem) {
      warnings.push(`ignoring ${f.path}: ${f.problem}`);
      continue;
    }
    const p = nonEmpty(f.project);
    if (p) candidates.push({ value: p, source: f.path });
  }
  const chosen = candidates[0];
  if (!chosen) return { warnings };
  for (const other of candidates.slice(1)) {
    if (other.value !== chosen.value) {
      warnings.push(
        `project "${chosen.value}" from ${chosen.source} differs from "${other.value}" in ${other.source}; using "${chosen.value}"`,
      );
    }
  }
  return { project: chosen.value, source: chosen.source, warnings };
}
