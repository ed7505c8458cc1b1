// Wire types of the Hoist HTTP API, shared by the server, the CLI and the actions.
// All timestamps are ISO 8601 strings in UTC. Field names are snake_case on the wire.

export interface ApiErrorBody {
  error: { code: string; message: string };
}

export type TokenKind = 'admin' | 'project' | 'oidc' | 'build';

export const TOKEN_PREFIXES: Record<TokenKind, string> = {
  admin: 'hoist_adm_',
  project: 'hoist_prj_',
  oidc: 'hoist_oidc_',
  build: 'hoist_bld_',
};

// ---- projects, tokens, trust ----

export interface Project {
  id: string;
  name: string;
  /** Most concurrent builds one builder takes; null = unlimited (BuildKit deduplicates shared steps). */
  max_concurrent_builds: number | null;
  /**
   * Past max_concurrent_builds on a builder, start more builders for the platform, each from a
   * clone of the primary's cache (when off, builds queue for the one primary).
   */
  autoscaling: boolean;
  /** Most builders of one platform at once, the primary included (1..1000). */
  max_builders_per_platform: number;
  created_at: string;
  updated_at: string;
}

/** The settings a project can be created with or changed to. */
export interface ProjectSettings {
  max_concurrent_builds?: number | null;
  autoscaling?: boolean;
  max_builders_per_platform?: number;
}

export interface CreateProjectRequest extends ProjectSettings {
  name: string;
}

export interface TokenInfo {
  id: string;
  kind: TokenKind;
  name: string;
  project_id: string | null;
  /** Build tokens only: the build they drive. */
  build_id?: string | null;
  created_at: string;
  expires_at: string | null;
  last_used_at: string | null;
  revoked_at: string | null;
}

export interface UpdateProjectRequest extends ProjectSettings {
  name?: string;
}

export interface ListProjectsResponse {
  projects: Project[];
}

export interface ListTokensResponse {
  tokens: TokenInfo[];
}

export interface ListTrustPoliciesResponse {
  trust_policies: TrustPolicy[];
}

export interface ListAuditEventsResponse {
  events: AuditEvent[];
}

/** `GET /v1/auth/whoami`: what the presented token is. */
export interface WhoAmIResponse {
  kind: TokenKind;
  token_id: string;
  project_id: string | null;
  build_id: string | null;
}

export interface CreateTokenRequest {
  name: string;
  /** Seconds. */
  expires_in?: number;
}

export interface CreateTokenResponse extends TokenInfo {
  /** The secret, shown once. */
  token: string;
}

export interface TrustPolicyInput {
  provider: 'github';
  repository: string; // owner/name
  repository_id?: string;
  repository_owner_id?: string;
  refs?: string[];
  environment?: string;
  workflow?: string;
  allow_pull_request_target?: boolean;
}

export interface TrustPolicy {
  id: string;
  project_id: string;
  provider: 'github';
  repository: string;
  repository_id: string | null;
  repository_owner_id: string | null;
  refs: string[];
  environment: string | null;
  workflow: string | null;
  allow_pull_request_target: boolean;
  created_at: string;
}

export interface AuditEvent {
  id: string;
  at: string;
  action: string;
  outcome: 'granted' | 'refused' | 'ok';
  project_id: string | null;
  subject: string | null;
  reason: string;
  details: Record<string, unknown>;
}

// ---- auth ----

export interface OidcExchangeRequest {
  token: string;
  /** Project id or name; optional when exactly one project trusts the caller. */
  project?: string;
}

export interface OidcExchangeResponse {
  token: string;
  expires_at: string;
  project_id: string;
}

// ---- CLI releases ----

export interface CliRelease {
  version: string;
  url: string;
  sha256: string;
  size: number;
}

// ---- builds ----

export type BuildStatus = 'queued' | 'running' | 'success' | 'failed' | 'canceled' | 'expired';

/** Largest `options` of a build, as JSON in UTF-8; larger ones get a 413. */
export const BUILD_OPTIONS_MAX_BYTES = 16 * 1024;
/** Largest `error` of a finished build, in UTF-8; longer ones get a 413 (hoist build truncates). */
export const BUILD_ERROR_MAX_BYTES = 4096;

export interface CreateBuildRequest {
  /** Project id or name. May be omitted with a project-scoped token. */
  project?: string;
  /** e.g. ["linux/amd64"]; empty = the server's native platform. */
  platforms: string[];
  options?: Record<string, unknown>;
  /** Where the build came from (see BuildContextInput); stored for the dashboard. */
  context?: BuildContextInput;
}

/** What a client says about a build at create: the terminal or GitHub Actions run it comes from. */
export interface BuildContextInput {
  source: 'cli' | 'action';
  github?: {
    repository?: string;
    repository_id?: string;
    ref?: string;
    sha?: string;
    workflow?: string;
    run_id?: string;
    run_attempt?: string;
    job?: string;
    actor?: string;
    run_url?: string;
  };
}

/** Per-phase wall time in ms measured by the client, sent with finish. */
export interface BuildPhases {
  /** create until every platform had a builder */
  queued_ms?: number;
  /** the temporary buildx builder set up */
  setup_ms?: number;
  /** buildx ran (solve, export, push) */
  build_ms?: number;
  /** builder removed, files deleted */
  cleanup_ms?: number;
}

/** A build-check warning, at its Dockerfile lines when BuildKit gave them. */
export interface StepWarning {
  rule: string | null;
  message: string;
  line: number | null;
  end_line: number | null;
}

/** One BuildKit vertex of one platform of a build. */
export interface BuildStep {
  platform: string;
  digest: string;
  /** e.g. "[build 3/5] RUN make" */
  name: string;
  /** "build" of "[build 3/5] ..." when the name carries one */
  stage: string | null;
  /** "RUN make" */
  instruction: string | null;
  started_at: string | null;
  completed_at: string | null;
  cached: boolean;
  error: string | null;
  /** the last STEP_LOG_TAIL_BYTES of its output */
  log_tail: string;
  /** digests of the vertexes it waited for (absent from older clients) */
  inputs?: string[];
}

/** Largest log tail kept per step, in bytes. */
export const STEP_LOG_TAIL_BYTES = 8 * 1024;
/** Most steps one build may report. */
export const BUILD_STEPS_MAX = 2000;

/**
 * `POST /v1/builds/{id}/steps` (build token). The full set (at the build's end) replaces the steps
 * of the platforms it names; a `partial` batch (while the build runs) adds or updates steps by
 * platform and vertex digest, and is ignored once the full set has arrived.
 */
export interface PostStepsRequest {
  steps: BuildStep[];
  /** A batch sent while the build runs: merged, never replacing (absent: the full set). */
  partial?: boolean;
  warnings?: (StepWarning & { platform: string })[];
  dockerfile?: { path: string; sha256: string; contents?: string | null };
}

/** What the server knows about a build beyond its lifecycle (GET /v1/builds/{id}). */
export interface BuildInsights {
  context: BuildContextInput | null;
  /** The token that created the build (id, kind, name). */
  created_by: { id: string; kind: string; name: string } | null;
  /** For a build created with an OIDC token: the trust policy and the claims it matched. */
  trust: { policy_id: string | null; claims: Record<string, unknown> } | null;
  phases: BuildPhases | null;
  dockerfile: { path: string; sha256: string; contents: string | null } | null;
  steps: BuildStep[];
  warnings: (StepWarning & { platform: string })[];
  steps_total: number;
  steps_cached: number;
  /** Where the cache broke against the previous build of the same ref (or project). */
  cache_break: { previous_build_id: string | null; platform: string; step: string } | null;
  /** Time the cache saved: each cached step's last uncached duration in this project (absent from older servers). */
  time_saved_ms?: number;
  /** Digests of the steps on the critical path, per platform (absent from older servers). */
  critical_path?: Record<string, string[]>;
  /** Set when retention removed the steps and logs (the summary stays). */
  steps_pruned_at?: string | null;
  /**
   * True while only the batches sent during the build have arrived, not the full set of its end:
   * the steps so far of a running build, or what a build the server ended had sent (absent from
   * older servers).
   */
  steps_live?: boolean;
}

export interface CreateBuildResponse {
  build_id: string;
  build_token: string;
  build_url: string;
  /** The platforms the build acquires builders for (the server's default when none was asked); absent from older servers. */
  platforms?: string[];
  /**
   * With POST /v1/builds?acquire=true: each platform's builder, in the order of `platforms`,
   * `active` when it was ready at once, else `pending` (poll GET /v1/builds/ID/builders/PLATFORM
   * for it). Absent from older servers, which ignore the query.
   */
  builders?: BuilderAnswer[];
}

export interface BuilderPending {
  status: 'pending';
  retry_after_ms: number;
  reason: string;
}

export interface BuilderActive {
  status: 'active';
  builder_id: string;
  platform: string;
  /** buildx remote driver endpoint, e.g. tcp://127.0.0.1:12345 */
  endpoint: string;
  /** Name to verify in the builder's server certificate. */
  server_name: string;
  ca_pem: string;
  cert_pem: string;
  key_pem: string;
  /** When this certificate expires; heartbeats bring a renewed one before that. */
  expires_at: string;
  /** When the build itself ends at the latest. */
  build_expires_at: string;
  /** Heartbeat at least this often, so renewals arrive before the certificate expires. */
  heartbeat_ms: number;
  /** The provider pool ("region") that runs the builder; absent from older servers. */
  pool?: string;
  /** "primary" keeps the project's cache; a "clone" starts from a snapshot of it. */
  role?: 'primary' | 'clone';
  /** True when a fallback pool served the build: its cache there starts empty. */
  cold_cache?: boolean;
  /** True when the build shares a builder past its builds-per-builder limit (no clone in time). */
  shared?: boolean;
}

export type BuilderAnswer = BuilderPending | BuilderActive;

/** A renewed client certificate for the same key: write it over the platform's cert.pem. */
export interface RenewedCert {
  platform: string;
  cert_pem: string;
  expires_at: string;
}

export interface HeartbeatResponse {
  cancel: boolean;
  /** Present when certificates were renewed. */
  certs?: RenewedCert[];
}

export interface FinishBuildRequest {
  status: 'success' | 'failed' | 'canceled';
  error?: string;
  phases?: BuildPhases;
}

export interface BuildInfo {
  id: string;
  project_id: string;
  status: BuildStatus;
  platforms: string[];
  builders: { platform: string; builder_id: string | null }[];
  queued_at: string;
  acquired_at: string | null;
  finished_at: string | null;
  error: string | null;
  build_url: string;
  /** For a `hoist bake`: each target with its platforms (empty: the builder's default). */
  targets?: { name: string; platforms: string[] }[];
  /** GET /v1/builds/{id} only: context, steps, phases, trust. */
  insights?: BuildInsights;
}
