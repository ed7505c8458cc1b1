// A local stand-in for GitHub Actions' OIDC issuer (token.actions.githubusercontent.com) and for
// the Actions runtime's ID-token endpoint, over real HTTP on loopback. It signs tokens with
// GitHub's claim set (docs.github.com, "OpenID Connect reference": standard claims plus
// actor, actor_id, base_ref, environment, event_name, head_ref, job_workflow_ref, job_workflow_sha,
// ref, ref_protected, ref_type, repository, repository_id, repository_owner, repository_owner_id,
// repository_visibility, run_attempt, run_id, run_number, runner_environment, sha, workflow,
// workflow_ref, workflow_sha, check_run_id; all custom claims are strings) and with GitHub's
// header (typ JWT, alg RS256, kid, x5t). Like GitHub, nbf is 600 s before iat and exp 300 s after.
//
// Runtime endpoint: `core.getIDToken(aud)` calls GET `${ACTIONS_ID_TOKEN_REQUEST_URL}&audience=<aud>`
// with `Authorization: Bearer ${ACTIONS_ID_TOKEN_REQUEST_TOKEN}` and reads `{"value": "<jwt>"}`;
// set those two variables from `issuer.actionsEnv()`.
import { createHash, createHmac, randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT, exportJWK, exportSPKI, generateKeyPair, type CryptoKey, type JWK } from 'jose';

export type Claims = Record<string, unknown>;
/** Claim overrides; a value of `undefined` removes the claim. */
export type ClaimOverrides = Record<string, unknown>;

interface SigningKey {
  kid: string;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  jwk: JWK;
  spkiPem: string;
}

export interface SignOptions {
  /** Sign with a key the issuer does not publish (unknown kid). */
  unpublishedKey?: boolean;
  /** Extra or replaced protected header parameters. */
  header?: Record<string, unknown>;
}

export interface OidcIssuer {
  /** The issuer URL (the `iss` claim), e.g. http://127.0.0.1:PORT */
  readonly url: string;
  /** What ACTIONS_ID_TOKEN_REQUEST_URL is set to. */
  readonly requestUrl: string;
  /** What ACTIONS_ID_TOKEN_REQUEST_TOKEN is set to. */
  readonly requestToken: string;
  /** ACTIONS_ID_TOKEN_REQUEST_URL and ACTIONS_ID_TOKEN_REQUEST_TOKEN for a child process or process.env. */
  actionsEnv(): { ACTIONS_ID_TOKEN_REQUEST_URL: string; ACTIONS_ID_TOKEN_REQUEST_TOKEN: string };
  /** The kid tokens are signed with now. */
  readonly currentKid: string;
  /** PEM of the current public key (to forge HS256 tokens "signed with the public key"). */
  readonly currentPublicKeyPem: string;
  /** GitHub's full claim set with defaults, then `overrides` (undefined removes a claim). */
  claims(overrides?: ClaimOverrides): Claims;
  /** A signed ID token. `aud` defaults to the issuer's default audience. */
  sign(overrides?: ClaimOverrides, opts?: SignOptions): Promise<string>;
  /** Unsigned variants for bad-token tests. */
  signNone(overrides?: ClaimOverrides): string;
  signHs256WithPublicKey(overrides?: ClaimOverrides): string;
  /** New key: published next to the old one (unless retireOld) and used from now on. Returns its kid. */
  rotate(opts?: { retireOld?: boolean }): Promise<string>;
  /** Defaults for every later token (merged over GitHub-like defaults). */
  setDefaultClaims(overrides: ClaimOverrides): void;
  /** Overrides for the next token the runtime endpoint hands out (one-shot, queued). */
  setNextClaims(overrides: ClaimOverrides): void;
  /** Default `aud` when a signer gives none (the runtime endpoint uses the `audience` query parameter). */
  setDefaultAudience(aud: string): void;
  /**
   * Fields of the discovery document replaced from now on (e.g. `{issuer: 'https://other'}` for an
   * issuer mismatch); `undefined` removes a field. `{}` restores GitHub's document.
   */
  setDiscovery(overrides: Record<string, unknown>): void;
  /** Serves the JWKS at another path from now on (the old path answers 404); jwks_uri follows. */
  moveJwks(path: string): void;
  /** Counters: discovery and JWKS fetches, runtime token requests. */
  readonly stats: { discovery: number; jwks: number; idTokenRequests: number };
  close(): Promise<void>;
}

const b64url = (v: string | Buffer): string => Buffer.from(v).toString('base64url');

async function newKey(): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', {
    modulusLength: 2048,
    extractable: true,
  });
  const jwk = await exportJWK(publicKey);
  const spkiPem = await exportSPKI(publicKey);
  const der = Buffer.from(spkiPem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
  // GitHub's kids are opaque strings; derive one from the key so rotation yields a new kid.
  const kid = createHash('sha256').update(der).digest('hex').slice(0, 40).toUpperCase();
  return {
    kid,
    privateKey,
    publicKey,
    jwk: { ...jwk, kid, use: 'sig', alg: 'RS256', x5t: b64url(createHash('sha1').update(der).digest()) },
    spkiPem,
  };
}

export async function startOidcIssuer(opts: { defaults?: ClaimOverrides } = {}): Promise<OidcIssuer> {
  let current = await newKey();
  let published: SigningKey[] = [current];
  const unpublished = await newKey();
  let defaults: ClaimOverrides = { ...(opts.defaults ?? {}) };
  const nextClaims: ClaimOverrides[] = [];
  const requestToken = randomBytes(24).toString('hex');
  let defaultAudience: string | null = null;
  const stats = { discovery: 0, jwks: 0, idTokenRequests: 0 };
  let url = '';
  let discoveryOverrides: Record<string, unknown> = {};
  let jwksPath = '/.well-known/jwks';

  const claims = (overrides: ClaimOverrides = {}): Claims => {
    const now = Math.floor(Date.now() / 1000);
    const merged: Claims = { ...baseClaims(url, now), ...defaults, ...overrides };
    const given = (k: string): boolean => k in overrides || k in defaults;
    // Claims GitHub derives from others follow an overridden repository, ref or event.
    const repo = String(merged.repository);
    if (!given('repository_owner')) merged.repository_owner = repo.split('/')[0];
    const wf = `${repo}/.github/workflows/ci.yml@${String(merged.ref)}`;
    if (!given('workflow_ref')) merged.workflow_ref = wf;
    if (!given('job_workflow_ref')) merged.job_workflow_ref = wf;
    if (!given('aud'))
      merged.aud = defaultAudience ?? `https://github.com/${String(merged.repository_owner)}`;
    if (!given('sub')) merged.sub = subjectOf(merged);
    for (const [k, v] of Object.entries(merged)) if (v === undefined) delete merged[k];
    return merged;
  };

  const header = (key: SigningKey, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
    typ: 'JWT',
    alg: 'RS256',
    x5t: key.jwk.x5t,
    kid: key.kid,
    ...extra,
  });

  const sign = async (overrides: ClaimOverrides = {}, o: SignOptions = {}): Promise<string> => {
    const key = o.unpublishedKey ? unpublished : current;
    const c = claims(overrides);
    return new SignJWT(c).setProtectedHeader(header(key, o.header) as { alg: string }).sign(key.privateKey);
  };

  const unsigned = (h: Record<string, unknown>, c: Claims): string =>
    `${b64url(JSON.stringify(h))}.${b64url(JSON.stringify(c))}`;

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ message: String(err) }));
    });
  });

  const json = (res: ServerResponse, status: number, body: unknown): void => {
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
    res.end(JSON.stringify(body));
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const u = new URL(req.url ?? '/', url);
    if (req.method === 'GET' && u.pathname === '/.well-known/openid-configuration') {
      stats.discovery++;
      const doc: Record<string, unknown> = {
        issuer: url,
        jwks_uri: `${url}${jwksPath}`,
        subject_types_supported: ['public', 'pairwise'],
        response_types_supported: ['id_token'],
        claims_supported: [
          'sub',
          'aud',
          'exp',
          'iat',
          'iss',
          'jti',
          'nbf',
          'ref',
          'sha',
          'repository',
          'repository_id',
          'repository_owner',
          'repository_owner_id',
          'enterprise',
          'enterprise_id',
          'run_id',
          'run_number',
          'run_attempt',
          'actor',
          'actor_id',
          'workflow',
          'workflow_ref',
          'workflow_sha',
          'head_ref',
          'base_ref',
          'event_name',
          'ref_type',
          'ref_protected',
          'environment',
          'environment_node_id',
          'job_workflow_ref',
          'job_workflow_sha',
          'repository_visibility',
          'runner_environment',
          'check_run_id',
        ],
        id_token_signing_alg_values_supported: ['RS256'],
        scopes_supported: ['openid'],
        ...discoveryOverrides,
      };
      for (const [k, v] of Object.entries(doc)) if (v === undefined) delete doc[k];
      return json(res, 200, doc);
    }
    if (req.method === 'GET' && u.pathname === jwksPath) {
      stats.jwks++;
      return json(res, 200, { keys: published.map((k) => k.jwk) });
    }
    if (req.method === 'GET' && u.pathname === '/_apis/idtoken') {
      stats.idTokenRequests++;
      if (req.headers.authorization !== `Bearer ${requestToken}`) {
        return json(res, 401, { message: 'Bad credentials: the ID token request token is missing or wrong' });
      }
      const audience = u.searchParams.get('audience');
      const over = nextClaims.shift() ?? {};
      const token = await sign({ ...(audience ? { aud: audience } : {}), ...over });
      return json(res, 200, { count: 1, value: token });
    }
    return json(res, 404, { message: 'Not Found' });
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const requestUrl = `${url}/_apis/idtoken?api-version=2.0`;

  return {
    url,
    requestUrl,
    requestToken,
    actionsEnv: () => ({
      ACTIONS_ID_TOKEN_REQUEST_URL: requestUrl,
      ACTIONS_ID_TOKEN_REQUEST_TOKEN: requestToken,
    }),
    get currentKid() {
      return current.kid;
    },
    get currentPublicKeyPem() {
      return current.spkiPem;
    },
    claims,
    sign,
    signNone: (overrides = {}) =>
      `${unsigned({ typ: 'JWT', alg: 'none', kid: current.kid }, claims(overrides))}.`,
    signHs256WithPublicKey: (overrides = {}) => {
      const input = unsigned({ typ: 'JWT', alg: 'HS256', kid: current.kid }, claims(overrides));
      return `${input}.${createHmac('sha256', current.spkiPem).update(input).digest('base64url')}`;
    },
    rotate: async ({ retireOld = false } = {}) => {
      const next = await newKey();
      published = retireOld ? [next] : [next, ...published];
      current = next;
      return next.kid;
    },
    setDefaultClaims: (o) => {
      defaults = { ...defaults, ...o };
    },
    setNextClaims: (o) => {
      nextClaims.push(o);
    },
    setDefaultAudience: (aud) => {
      defaultAudience = aud;
    },
    setDiscovery: (o) => {
      discoveryOverrides = { ...o };
    },
    moveJwks: (path) => {
      jwksPath = path;
    },
    stats,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function baseClaims(iss: string, now: number): Claims {
  const runId = String(10_000_000_000 + Math.floor(Math.random() * 1_000_000_000));
  const sha = randomBytes(20).toString('hex');
  return {
    jti: randomUUID(),
    sub: undefined,
    aud: undefined,
    ref: 'refs/heads/main',
    sha,
    repository: 'octo-org/octo-repo',
    repository_owner: 'octo-org',
    repository_owner_id: '65',
    repository_visibility: 'private',
    repository_id: '74',
    run_id: runId,
    run_number: '10',
    run_attempt: '1',
    runner_environment: 'github-hosted',
    actor_id: '12',
    actor: 'octocat',
    workflow: 'CI',
    workflow_ref: 'octo-org/octo-repo/.github/workflows/ci.yml@refs/heads/main',
    workflow_sha: sha,
    job_workflow_ref: 'octo-org/octo-repo/.github/workflows/ci.yml@refs/heads/main',
    job_workflow_sha: sha,
    head_ref: '',
    base_ref: '',
    event_name: 'push',
    ref_type: 'branch',
    ref_protected: 'false',
    check_run_id: String(20_000_000_000 + Math.floor(Math.random() * 1_000_000_000)),
    iss,
    nbf: now - 600,
    exp: now + 300,
    iat: now,
  };
}

/** GitHub's default subject: environment, else pull_request, else ref. */
function subjectOf(c: Claims): string {
  const repo = String(c.repository);
  if (c.environment) return `repo:${repo}:environment:${String(c.environment)}`;
  if (c.event_name === 'pull_request' || c.event_name === 'pull_request_target')
    return `repo:${repo}:pull_request`;
  return `repo:${repo}:ref:${String(c.ref)}`;
}
