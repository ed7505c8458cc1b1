import type {
  BuildInfo,
  CreateProjectRequest,
  CreateTokenRequest,
  CreateTokenResponse,
  ListProjectsResponse,
  ListTokensResponse,
  ListTrustPoliciesResponse,
  Project,
  UpdateProjectRequest,
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
  PostStepsRequest,
  WhoAmIResponse,
} from './api-types.js';
import { readFileSync } from 'node:fs';
import * as http from 'node:http';
import { HoistApiError, errorMessage } from './errors.js';
import { escapeControls } from './text.js';

export interface ClientOptions {
  /** Base URL of the Hoist server, e.g. https://hoist.example.com */
  apiUrl: string;
  token?: string;
  /** Per-request timeout in ms. */
  timeoutMs?: number;
  userAgent?: string;
  /**
   * PEM of a CA to trust for an https:// server, besides the system's (HOIST_CA_CERT): a
   * private CA or a self-signed server certificate.
   */
  caPem?: string;
}

/** The CA named by HOIST_CA_CERT, for clients not given one (admin commands, the actions). */
export function caPemFromEnv(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const file = env.HOIST_CA_CERT;
  if (!file) return undefined;
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new HoistApiError(
      0,
      'bad_ca_cert',
      `HOIST_CA_CERT=${file} cannot be read (${errorMessage(err)}); set it to the PEM file of the CA that signed the Hoist server's certificate`,
    );
  }
}

interface RawResponse {
  status: number;
  text: string;
  headers: { get(name: string): string | null };
}

/**
 * One HTTP(S) request with a total timeout; https trusts the system store and `caPem`. TLS is
 * loaded only for an https URL: node:https and node:tls cost tens of ms at start-up, which
 * every `hoist build` against a plain-HTTP (loopback, in-cluster) server would pay.
 */
export async function send(
  url: URL,
  opts: {
    method: string;
    headers: Record<string, string>;
    body?: string;
    timeoutMs: number;
    caPem?: string;
    signal?: AbortSignal;
  },
): Promise<RawResponse> {
  const tls =
    url.protocol === 'https:'
      ? { https: await import('node:https'), cas: (await import('./trust.js')).trustedCas() }
      : undefined;
  return new Promise((resolve, reject) => {
    const mod = tls ? tls.https : http;
    const req = mod.request(
      url,
      {
        method: opts.method,
        headers: {
          ...opts.headers,
          ...(opts.body !== undefined ? { 'content-length': String(Buffer.byteLength(opts.body)) } : {}),
        },
        ...(tls ? { ca: opts.caPem ? [...tls.cas, opts.caPem] : tls.cas } : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            text: Buffer.concat(chunks).toString('utf8'),
            headers: {
              get: (name) => {
                const v = res.headers[name.toLowerCase()];
                return v === undefined ? null : Array.isArray(v) ? v.join(', ') : v;
              },
            },
          }),
        );
        res.on('error', reject);
      },
    );
    const timer = setTimeout(
      () => req.destroy(new Error(`no answer within ${Math.round(opts.timeoutMs / 1000)} s`)),
      opts.timeoutMs,
    );
    // an aborted request lets go of its socket at once: nothing of it keeps the process alive
    const abort = (): void => void req.destroy(new Error('aborted'));
    opts.signal?.addEventListener('abort', abort, { once: true });
    req.on('close', () => {
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', abort);
    });
    req.on('error', reject);
    if (opts.signal?.aborted) abort();
    else req.end(opts.body);
  });
}

/** A small typed client of the Hoist API; every failure becomes a HoistApiError with an actionable message. */
export class HoistClient {
  readonly apiUrl: string;
  private readonly token?: string;
  private readonly timeoutMs: number;
  private readonly userAgent: string;
  private readonly caPem?: string;

  constructor(opts: ClientOptions) {
    this.apiUrl = normalizeApiUrl(opts.apiUrl);
    this.token = opts.token;
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    this.userAgent = opts.userAgent ?? 'hoist-client';
    this.caPem = opts.caPem ?? caPemFromEnv();
  }

  withToken(token: string): HoistClient {
    return new HoistClient({
      apiUrl: this.apiUrl,
      token,
      timeoutMs: this.timeoutMs,
      userAgent: this.userAgent,
      caPem: this.caPem,
    });
  }

  async request<T>(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
    const url = `${this.apiUrl}${path}`;
    const headers: Record<string, string> = { 'user-agent': this.userAgent, accept: 'application/json' };
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    let res: RawResponse;
    try {
      res = await send(new URL(url), {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        timeoutMs: this.timeoutMs,
        caPem: this.caPem,
        signal,
      });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? '';
      const tlsHint =
        /CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|ERR_TLS/.test(code) || /certificate/i.test(errorMessage(err))
          ? " The server's TLS certificate is not trusted: set HOIST_CA_CERT to the PEM file of the CA that signed it."
          : ' Check the API URL (--api-url or HOIST_API_URL) and that the server is running.';
      throw new HoistApiError(
        0,
        'unreachable',
        `cannot reach the Hoist server at ${this.apiUrl}: ${errorMessage(err)}.${tlsHint}`,
      );
    }
    const text = res.text;
    let parsed: unknown = undefined;
    if (text) {
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = undefined;
      }
    }
    if (res.status < 200 || res.status >= 300) {
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

  /** With `acquire`, the answer carries the builders that are ready at once (see CreateBuildResponse). */
  createBuild(req: CreateBuildRequest, opts: { acquire?: boolean } = {}): Promise<CreateBuildResponse> {
    return this.request('POST', opts.acquire ? '/v1/builds?acquire=true' : '/v1/builds', req);
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

  /** Sends steps, warnings and the Dockerfile of a running build (its build token). */
  /** `signal` aborts the request (a batch of live steps that no longer matters). */
  postSteps(buildId: string, req: PostStepsRequest, signal?: AbortSignal): Promise<{ steps: number }> {
    return this.request('POST', `/v1/builds/${encodeURIComponent(buildId)}/steps`, req, signal);
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

  updateProject(project: string, req: UpdateProjectRequest): Promise<Project> {
    return this.request('PATCH', `/v1/projects/${encodeURIComponent(project)}`, req);
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
