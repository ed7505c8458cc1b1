import type {
  BuildInfo,
  CreateProjectRequest,
  CreateTokenRequest,
  CreateTokenResponse,
  ListProjectsResponse,
  ListTokensResponse,
  ListTrustPoliciesResponse,
  Project,
  TrustPolicy,
  TrustPolicyInput,
  BuilderAnswer,
  CliRelease,
  CreateBuildRequest,
  CreateBuildResponse,
  FinishBuildRequest,
  HeartbeatResponse,
  OidcExchangeRequest,
  OidcExchangeResponse,
  WhoAmIResponse,
} from './api-types.js';
import { HoistApiError, errorMessage } from './errors.js';
import { escapeControls } from './text.js';

export interface ClientOptions {
  /** Base URL of the Hoist server, e.g. https://hoist.example.com */
  apiUrl: string;
  token?: string;
  /** Per-request timeout in ms. */
  timeoutMs?: number;
  userAgent?: string;
}

/** A small typed client of the Hoist API; every failure becomes a HoistApiError with an actionable message. */
export class HoistClient {
  readonly apiUrl: string;
  private readonly token?: string;
  private readonly timeoutMs: number;
  private readonly userAgent: string;

  constructor(opts: ClientOptions) {
    this.apiUrl = normalizeApiUrl(opts.apiUrl);
    this.token = opts.token;
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    this.userAgent = opts.userAgent ?? 'hoist-client';
  }

  withToken(token: string): HoistClient {
    return new HoistClient({
      apiUrl: this.apiUrl,
      token,
      timeoutMs: this.timeoutMs,
      userAgent: this.userAgent,
    });
  }

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const url = `${this.apiUrl}${path}`;
    const headers: Record<string, string> = { 'user-agent': this.userAgent, accept: 'application/json' };
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    let res: Response;
    try {
      res = await fetch(url, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      const cause =
        err instanceof Error && err.cause ? `: ${errorMessage(err.cause)}` : `: ${errorMessage(err)}`;
      throw new HoistApiError(
        0,
        'unreachable',
        `cannot reach the Hoist server at ${this.apiUrl}${cause}. Check the API URL (--api-url or HOIST_API_URL) and that the server is running.`,
      );
    }
    const text = await res.text();
    let parsed: unknown = undefined;
    if (text) {
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = undefined;
      }
    }
    if (!res.ok) {
      const e = (parsed as { error?: { code?: string; message?: string } } | undefined)?.error;
      const retryAfter = /^\d{1,6}$/.test(res.headers.get('retry-after') ?? '')
        ? Number(res.headers.get('retry-after')) * 1000
        : undefined;
      // The server's words are printed to terminals and logs: no control character gets through
      // (a build's error, which any build token can set, is quoted in some answers).
      throw new HoistApiError(
        res.status,
        e?.code ?? `http_${res.status}`,
        escapeControls(
          e?.message ??
            `${method} ${path} answered HTTP ${res.status}${text ? `: ${text.slice(0, 200)}` : ''}`,
        ),
        retryAfter,
      );
    }
    return parsed as T;
  }

  exchangeGithubOidc(req: OidcExchangeRequest): Promise<OidcExchangeResponse> {
    return this.request('POST', '/v1/auth/github-oidc', req);
  }

  /** Resolves a version spec; `target` picks the tarball for another OS/arch than the server's own. */
  cliRelease(spec: string, target?: { os: string; arch: string }): Promise<CliRelease> {
    const query = target
      ? `?os=${encodeURIComponent(target.os)}&arch=${encodeURIComponent(target.arch)}`
      : '';
    return this.request('GET', `/v1/cli/releases/${encodeURIComponent(spec)}${query}`);
  }

  createBuild(req: CreateBuildRequest): Promise<CreateBuildResponse> {
    return this.request('POST', '/v1/builds', req);
  }

  builder(buildId: string, platform: string): Promise<BuilderAnswer> {
    return this.request(
      'GET',
      `/v1/builds/${encodeURIComponent(buildId)}/builders/${encodeURIComponent(platform)}`,
    );
  }

  heartbeat(buildId: string): Promise<HeartbeatResponse> {
    return this.request('POST', `/v1/builds/${encodeURIComponent(buildId)}/heartbeat`, {});
  }

  finishBuild(buildId: string, req: FinishBuildRequest): Promise<BuildInfo> {
    return this.request('POST', `/v1/builds/${encodeURIComponent(buildId)}/finish`, req);
  }

  getBuild(buildId: string): Promise<BuildInfo> {
    return this.request('GET', `/v1/builds/${encodeURIComponent(buildId)}`);
  }

  /** What the client's token is; any valid token may ask. */
  whoami(): Promise<WhoAmIResponse> {
    return this.request('GET', '/v1/auth/whoami');
  }

  // ---- admin (used by the CLI's admin commands) ----

  listProjects(): Promise<ListProjectsResponse> {
    return this.request('GET', '/v1/projects');
  }

  createProject(req: CreateProjectRequest): Promise<Project> {
    return this.request('POST', '/v1/projects', req);
  }

  /** By id or name. */
  getProject(project: string): Promise<Project> {
    return this.request('GET', `/v1/projects/${encodeURIComponent(project)}`);
  }

  deleteProject(project: string): Promise<unknown> {
    return this.request('DELETE', `/v1/projects/${encodeURIComponent(project)}`);
  }

  createProjectToken(project: string, req: CreateTokenRequest): Promise<CreateTokenResponse> {
    return this.request('POST', `/v1/projects/${encodeURIComponent(project)}/tokens`, req);
  }

  listProjectTokens(project: string): Promise<ListTokensResponse> {
    return this.request('GET', `/v1/projects/${encodeURIComponent(project)}/tokens`);
  }

  revokeProjectToken(project: string, tokenId: string): Promise<unknown> {
    return this.request(
      'DELETE',
      `/v1/projects/${encodeURIComponent(project)}/tokens/${encodeURIComponent(tokenId)}`,
    );
  }

  addTrustPolicy(project: string, req: TrustPolicyInput): Promise<TrustPolicy> {
    return this.request('POST', `/v1/projects/${encodeURIComponent(project)}/trust-policies`, req);
  }

  listTrustPolicies(project: string): Promise<ListTrustPoliciesResponse> {
    return this.request('GET', `/v1/projects/${encodeURIComponent(project)}/trust-policies`);
  }

  removeTrustPolicy(project: string, policyId: string): Promise<unknown> {
    return this.request(
      'DELETE',
      `/v1/projects/${encodeURIComponent(project)}/trust-policies/${encodeURIComponent(policyId)}`,
    );
  }

  listBuilds(query: { project?: string; limit?: number } = {}): Promise<{ builds: BuildInfo[] }> {
    const qs = new URLSearchParams();
    if (query.project) qs.set('project', query.project);
    if (query.limit) qs.set('limit', String(query.limit));
    const q = qs.toString();
    return this.request('GET', `/v1/builds${q ? `?${q}` : ''}`);
  }
}

export function normalizeApiUrl(raw: string): string {
  const trimmed = raw.trim().replace(/\/+$/, '');
  let u: URL;
  try {
    u = new URL(trimmed);
  } catch {
    throw new HoistApiError(
      0,
      'bad_api_url',
      `"${raw}" is not a valid Hoist API URL; expected e.g. https://hoist.example.com`,
    );
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new HoistApiError(0, 'bad_api_url', `the Hoist API URL must be http(s), got "${raw}"`);
  }
  return trimmed;
}
