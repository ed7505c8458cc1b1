// Admin commands: login, projects, tokens, trust, builds. Table output by default, --json for scripts.
import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
import type {
  BuildInfo,
  Project,
  ProjectSettings,
  TokenInfo,
  TrustPolicy,
  TrustPolicyInput,
} from '../lib/api-types.js';
import { HoistClient, normalizeApiUrl } from '../lib/client.js';
import { ConfigurationError, errorMessage } from '../lib/errors.js';
import { configPath, readUserConfig, writeUserConfig } from './config.js';
import { type FlagType, parseExpiresIn, parseFlags, renderTable } from './flags.js';
import { resolveApiUrl, resolveToken } from './resolve.js';
import { renderStepSummary } from './steps-summary.js';
import { VERSION } from './version.js';

type Env = Record<string, string | undefined>;

export interface AdminIo {
  env: Env;
  stdout: { write(s: string): unknown };
  stderr: { write(s: string): unknown };
  stdin: NodeJS.ReadableStream & { isTTY?: boolean };
}

const COMMON: Record<string, FlagType> = { 'api-url': 'string', token: 'string', json: 'bool' };

export const ADMIN_HELP = `Admin commands (an admin token, from --token, HOIST_TOKEN or "hoist login"):
  hoist login [--api-url URL] [--token TOKEN]     save the API URL and a token (read from stdin if omitted)
  hoist projects create NAME [SETTINGS]
  hoist projects update PROJECT [--name NAME] [SETTINGS]
  hoist projects list | show PROJECT | delete PROJECT
     SETTINGS: --max-concurrent-builds N|unlimited   builds one builder takes at once
               --autoscaling on|off                  past that, start builders from clones of its cache
               --max-builders-per-platform N         most builders of one platform, the primary included
  hoist tokens create --project P [--name NAME] [--expires-in 30d]
  hoist tokens list --project P | revoke TOKEN_ID --project P
  hoist trust add --project P --repo OWNER/NAME [--repository-id ID] [--owner-id ID]
                  [--ref GLOB]... [--environment ENV] [--workflow FILE] [--allow-pull-request-target]
  hoist trust list --project P | remove POLICY_ID --project P
  hoist builds list [--project P] [--limit N] | show BUILD_ID
Every admin command takes --api-url, --token and --json (prefer HOIST_TOKEN or "hoist login" to
--token: other users of the machine can read a flag in the process list).
`;

async function clientFor(values: Record<string, unknown>, env: Env): Promise<HoistClient> {
  const config = await readUserConfig(configPath(env));
  const api = resolveApiUrl({
    flag: values['api-url'] as string | undefined,
    env: env.HOIST_API_URL,
    config,
  });
  if (!api.ok) throw new ConfigurationError(api.message);
  const tok = resolveToken({
    flag: values.token as string | undefined,
    env: env.HOIST_TOKEN,
    config,
    apiUrl: api.value,
    githubOidc: false,
    allowOidc: false,
  });
  if (!tok.ok) throw new ConfigurationError(tok.message);
  if (tok.value.kind !== 'token') throw new ConfigurationError('admin commands need a token');
  return new HoistClient({ apiUrl: api.value, token: tok.value.token, userAgent: `hoist-cli/${VERSION}` });
}

function projectOf(values: Record<string, unknown>, env: Env, command: string): string {
  const p = (values.project as string | undefined) ?? env.HOIST_PROJECT_ID;
  if (!p)
    throw new ConfigurationError(
      `${command}: --project is required (a project id or name), or set HOIST_PROJECT_ID`,
    );
  return p;
}

function one(positionals: string[], what: string, command: string): string {
  if (positionals.length !== 1) {
    throw new ConfigurationError(`${command}: expected exactly one ${what}, got ${positionals.length}`);
  }
  return positionals[0]!;
}

/**
 * One line from stdin: piped, or typed at a terminal without echo (readline in terminal mode
 * echoes into a stream that drops it), so the token stays off the screen and the scrollback.
 */
export async function readSecretLine(io: AdminIo, prompt: string): Promise<string> {
  const tty = Boolean(io.stdin.isTTY);
  if (tty) io.stderr.write(prompt);
  const muted = new Writable({ write: (_chunk, _enc, done) => done() });
  const rl = createInterface({ input: io.stdin, output: muted, terminal: tty });
  try {
    return await new Promise<string>((resolveLine, reject) => {
      rl.once('line', (line) => resolveLine(line.trim()));
      rl.once('close', () => resolveLine(''));
      rl.once('SIGINT', () => reject(new ConfigurationError('hoist login: canceled')));
    });
  } finally {
    rl.close();
    if (tty) io.stderr.write('\n');
  }
}

const SETTING_FLAGS: Record<string, FlagType> = {
  'max-concurrent-builds': 'string',
  autoscaling: 'string',
  'max-builders-per-platform': 'string',
};

/**
 * The settings flags given, in API terms. Only their form is checked here (whole numbers,
 * on/off); ranges and combinations are the server's, so its message names the rule once.
 */
export function projectSettingsFromFlags(values: Record<string, unknown>, cmd: string): ProjectSettings {
  const out: ProjectSettings = {};
  const whole = (flag: string, raw: string): number => {
    if (!/^\d+$/.test(raw))
      throw new ConfigurationError(`${cmd}: --${flag} takes a whole number, got "${raw}"`);
    return Number(raw);
  };
  const max = values['max-concurrent-builds'] as string | undefined;
  if (max !== undefined)
    out.max_concurrent_builds = max === 'unlimited' ? null : whole('max-concurrent-builds', max);
  const auto = values.autoscaling as string | undefined;
  if (auto !== undefined) {
    const v = auto.toLowerCase();
    if (!['on', 'off', 'true', 'false'].includes(v))
      throw new ConfigurationError(`${cmd}: --autoscaling takes on or off, got "${auto}"`);
    out.autoscaling = v === 'on' || v === 'true';
  }
  const builders = values['max-builders-per-platform'] as string | undefined;
  if (builders !== undefined) out.max_builders_per_platform = whole('max-builders-per-platform', builders);
  return out;
}

const projectRow = (p: Project): (string | number | null)[] => [
  p.id,
  p.name,
  p.max_concurrent_builds ?? 'unlimited',
  p.autoscaling ? 'on' : 'off',
  p.max_builders_per_platform,
  p.created_at,
];
const tokenRow = (t: TokenInfo): (string | null)[] => [
  t.id,
  t.name,
  t.kind,
  t.created_at,
  t.expires_at,
  t.last_used_at,
  t.revoked_at ? `revoked ${t.revoked_at}` : 'active',
];
const policyRow = (p: TrustPolicy): (string | null)[] => [
  p.id,
  p.repository,
  p.repository_id,
  p.repository_owner_id,
  p.refs.length ? p.refs.join(',') : '*',
  p.environment,
  p.workflow,
  p.allow_pull_request_target ? 'yes' : 'no',
];
const buildRow = (b: BuildInfo): (string | null)[] => [
  b.id,
  b.project_id,
  b.status,
  b.platforms.join(','),
  b.queued_at,
  b.acquired_at,
  b.finished_at,
  b.error,
];
const HEAD = {
  project: ['ID', 'NAME', 'MAX BUILDS/BUILDER', 'AUTOSCALING', 'MAX BUILDERS/PLATFORM', 'CREATED'],
  token: ['ID', 'NAME', 'KIND', 'CREATED', 'EXPIRES', 'LAST USED', 'STATE'],
  policy: ['ID', 'REPOSITORY', 'REPO ID', 'OWNER ID', 'REFS', 'ENVIRONMENT', 'WORKFLOW', 'PR TARGET'],
  build: ['ID', 'PROJECT', 'STATUS', 'PLATFORMS', 'QUEUED', 'ACQUIRED', 'FINISHED', 'ERROR'],
};

/** Runs one admin command; returns the exit code. `group` is e.g. "projects". */
export async function runAdmin(group: string, argv: string[], io: AdminIo): Promise<number> {
  const { env } = io;
  const [sub, ...rest] = argv;
  const out = (json: boolean, data: unknown, table: () => string): void => {
    io.stdout.write(json ? `${JSON.stringify(data, null, 2)}\n` : table());
  };
  const cmd = `hoist ${group}${sub && group !== 'login' ? ` ${sub}` : ''}`;
  if (sub === '--help' || sub === '-h' || sub === 'help') {
    io.stdout.write(ADMIN_HELP);
    return 0;
  }

  if (group === 'login') {
    const { values, positionals } = parseFlags('hoist login', argv, { 'api-url': 'string', token: 'string' });
    if (positionals.length)
      throw new ConfigurationError(`hoist login: unexpected argument "${positionals[0]}"`);
    const path = configPath(env);
    const current = await readUserConfig(path);
    const api = resolveApiUrl({
      flag: values['api-url'] as string | undefined,
      env: env.HOIST_API_URL,
      config: current,
    });
    if (!api.ok)
      throw new ConfigurationError(
        'hoist login: --api-url is required, e.g. --api-url https://hoist.example.com',
      );
    const apiUrl = normalizeApiUrl(api.value);
    const token = (values.token as string | undefined) ?? (await readSecretLine(io, 'Hoist token: '));
    if (!token) throw new ConfigurationError('hoist login: no token given; pass --token or pipe it on stdin');
    const client = new HoistClient({ apiUrl, token, userAgent: `hoist-cli/${VERSION}` });
    try {
      await client.whoami();
    } catch (err) {
      throw new ConfigurationError(`hoist login: the server did not accept this token: ${errorMessage(err)}`);
    }
    await writeUserConfig(path, { api_url: apiUrl, token });
    io.stderr.write(`hoist: saved the API URL and token for ${apiUrl} to ${path} (mode 0600)\n`);
    return 0;
  }

  switch (`${group} ${sub ?? ''}`) {
    case 'projects create': {
      const { values, positionals } = parseFlags(cmd, rest, { ...COMMON, ...SETTING_FLAGS });
      const name = one(positionals, 'project name', cmd);
      const settings = projectSettingsFromFlags(values, cmd);
      const client = await clientFor(values, env);
      const p = await client.createProject({ name, ...settings });
      out(Boolean(values.json), p, () => renderTable(HEAD.project, [projectRow(p)]));
      return 0;
    }
    case 'projects update': {
      const { values, positionals } = parseFlags(cmd, rest, { ...COMMON, ...SETTING_FLAGS, name: 'string' });
      const id = one(positionals, 'project id or name', cmd);
      const patch = {
        ...(values.name !== undefined ? { name: values.name as string } : {}),
        ...projectSettingsFromFlags(values, cmd),
      };
      if (Object.keys(patch).length === 0) {
        throw new ConfigurationError(
          `${cmd}: nothing to change; pass --name, --max-concurrent-builds, --autoscaling or --max-builders-per-platform`,
        );
      }
      const p = await (await clientFor(values, env)).updateProject(id, patch);
      out(Boolean(values.json), p, () => renderTable(HEAD.project, [projectRow(p)]));
      return 0;
    }
    case 'projects list': {
      const { values, positionals } = parseFlags(cmd, rest, COMMON);
      if (positionals.length) throw new ConfigurationError(`${cmd}: unexpected argument "${positionals[0]}"`);
      const { projects } = await (await clientFor(values, env)).listProjects();
      out(Boolean(values.json), projects, () => renderTable(HEAD.project, projects.map(projectRow)));
      return 0;
    }
    case 'projects show': {
      const { values, positionals } = parseFlags(cmd, rest, COMMON);
      const id = one(positionals, 'project id or name', cmd);
      const p = await (await clientFor(values, env)).getProject(id);
      out(Boolean(values.json), p, () => renderTable(HEAD.project, [projectRow(p)]));
      return 0;
    }
    case 'projects delete': {
      const { values, positionals } = parseFlags(cmd, rest, COMMON);
      const id = one(positionals, 'project id or name', cmd);
      await (await clientFor(values, env)).deleteProject(id);
      out(Boolean(values.json), { deleted: id }, () => `deleted project ${id}\n`);
      return 0;
    }
    case 'tokens create': {
      const { values, positionals } = parseFlags(cmd, rest, {
        ...COMMON,
        project: 'string',
        name: 'string',
        'expires-in': 'string',
      });
      if (positionals.length) throw new ConfigurationError(`${cmd}: unexpected argument "${positionals[0]}"`);
      const project = projectOf(values, env, cmd);
      const rawExp = values['expires-in'] as string | undefined;
      const expiresIn = rawExp === undefined ? undefined : parseExpiresIn(rawExp);
      if (rawExp !== undefined && expiresIn === undefined) {
        throw new ConfigurationError(
          `${cmd}: --expires-in takes e.g. 3600, 90m, 12h or 30d, got "${rawExp}"`,
        );
      }
      const client = await clientFor(values, env);
      const t = await client.createProjectToken(project, {
        name: (values.name as string | undefined) ?? `cli-${new Date().toISOString().slice(0, 10)}`,
        ...(expiresIn !== undefined ? { expires_in: expiresIn } : {}),
      });
      if (values.json) out(true, t, () => '');
      else {
        io.stdout.write(renderTable(HEAD.token, [tokenRow(t)]));
        io.stderr.write('The token is shown once; store it as a secret:\n');
        io.stdout.write(`${t.token}\n`);
      }
      return 0;
    }
    case 'tokens list': {
      const { values, positionals } = parseFlags(cmd, rest, { ...COMMON, project: 'string' });
      if (positionals.length) throw new ConfigurationError(`${cmd}: unexpected argument "${positionals[0]}"`);
      const project = projectOf(values, env, cmd);
      const { tokens } = await (await clientFor(values, env)).listProjectTokens(project);
      out(Boolean(values.json), tokens, () => renderTable(HEAD.token, tokens.map(tokenRow)));
      return 0;
    }
    case 'tokens revoke': {
      const { values, positionals } = parseFlags(cmd, rest, { ...COMMON, project: 'string' });
      const id = one(positionals, 'token id', cmd);
      const project = projectOf(values, env, cmd);
      await (await clientFor(values, env)).revokeProjectToken(project, id);
      out(Boolean(values.json), { revoked: id }, () => `revoked token ${id}\n`);
      return 0;
    }
    case 'trust add': {
      const { values, positionals } = parseFlags(cmd, rest, {
        ...COMMON,
        project: 'string',
        repo: 'string',
        'repository-id': 'string',
        'owner-id': 'string',
        ref: 'list',
        environment: 'string',
        workflow: 'string',
        'allow-pull-request-target': 'bool',
      });
      if (positionals.length) throw new ConfigurationError(`${cmd}: unexpected argument "${positionals[0]}"`);
      const project = projectOf(values, env, cmd);
      const repo = values.repo as string | undefined;
      if (!repo || !/^[^/\s]+\/[^/\s]+$/.test(repo)) {
        throw new ConfigurationError(
          `${cmd}: --repo OWNER/NAME is required, e.g. --repo octo-org/app${repo ? ` (got "${repo}")` : ''}`,
        );
      }
      for (const f of ['repository-id', 'owner-id'] as const) {
        const v = values[f] as string | undefined;
        if (v !== undefined && !/^\d+$/.test(v)) {
          throw new ConfigurationError(`${cmd}: --${f} takes GitHub's numeric id, got "${v}"`);
        }
      }
      const req: TrustPolicyInput = { provider: 'github', repository: repo };
      if (values['repository-id']) req.repository_id = values['repository-id'] as string;
      if (values['owner-id']) req.repository_owner_id = values['owner-id'] as string;
      if (values.ref) req.refs = values.ref as string[];
      if (values.environment) req.environment = values.environment as string;
      if (values.workflow) req.workflow = values.workflow as string;
      if (values['allow-pull-request-target']) req.allow_pull_request_target = true;
      const p = await (await clientFor(values, env)).addTrustPolicy(project, req);
      out(Boolean(values.json), p, () => renderTable(HEAD.policy, [policyRow(p)]));
      return 0;
    }
    case 'trust list': {
      const { values, positionals } = parseFlags(cmd, rest, { ...COMMON, project: 'string' });
      if (positionals.length) throw new ConfigurationError(`${cmd}: unexpected argument "${positionals[0]}"`);
      const project = projectOf(values, env, cmd);
      const { trust_policies } = await (await clientFor(values, env)).listTrustPolicies(project);
      out(Boolean(values.json), trust_policies, () =>
        renderTable(HEAD.policy, trust_policies.map(policyRow)),
      );
      return 0;
    }
    case 'trust remove': {
      const { values, positionals } = parseFlags(cmd, rest, { ...COMMON, project: 'string' });
      const id = one(positionals, 'trust policy id', cmd);
      const project = projectOf(values, env, cmd);
      await (await clientFor(values, env)).removeTrustPolicy(project, id);
      out(Boolean(values.json), { removed: id }, () => `removed trust policy ${id}\n`);
      return 0;
    }
    case 'builds list': {
      const { values, positionals } = parseFlags(cmd, rest, {
        ...COMMON,
        project: 'string',
        limit: 'string',
      });
      if (positionals.length) throw new ConfigurationError(`${cmd}: unexpected argument "${positionals[0]}"`);
      const limit = values.limit as string | undefined;
      if (limit !== undefined && !/^[1-9]\d*$/.test(limit)) {
        throw new ConfigurationError(`${cmd}: --limit takes a positive whole number, got "${limit}"`);
      }
      const project = (values.project as string | undefined) ?? env.HOIST_PROJECT_ID;
      const { builds } = await (
        await clientFor(values, env)
      ).listBuilds({
        project,
        limit: limit ? Number(limit) : undefined,
      });
      out(Boolean(values.json), builds, () => renderTable(HEAD.build, builds.map(buildRow)));
      return 0;
    }
    case 'builds show': {
      const { values, positionals } = parseFlags(cmd, rest, COMMON);
      const id = one(positionals, 'build id', cmd);
      const b = await (await clientFor(values, env)).getBuild(id);
      out(Boolean(values.json), b, () => {
        const table = renderTable(HEAD.build, [buildRow(b)]);
        const steps = renderStepSummary(b);
        const tail = steps ? `\n${steps}` : '';
        if (!b.targets?.length) return `${table}${tail}`;
        const rows = b.targets.map((t) => [t.name, t.platforms.join(',') || 'default']);
        return `${table}\n${renderTable(['TARGET', 'PLATFORMS'], rows)}${tail}`;
      });
      return 0;
    }
  }
  const subs: Record<string, string> = {
    projects: 'create, list, show, delete',
    tokens: 'create, list, revoke',
    trust: 'add, list, remove',
    builds: 'list, show',
  };
  io.stderr.write(
    sub === undefined
      ? `hoist ${group}: a subcommand is needed, one of: ${subs[group]}\n\n${ADMIN_HELP}`
      : `hoist ${group}: unknown subcommand "${sub}"; expected one of: ${subs[group]}\n`,
  );
  return 2;
}
