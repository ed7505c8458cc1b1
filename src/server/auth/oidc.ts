import {
  createRemoteJWKSet,
  decodeProtectedHeader,
  errors as joseErrors,
  jwtVerify,
  type JWTPayload,
} from 'jose';
import { ApiError } from '../http/errors.js';
import type { GithubClaims } from './trust.js';
import type { Clock } from '../util.js';

/** Claims every GitHub Actions ID token carries and Hoist relies on. */
export const REQUIRED_CLAIMS = [
  'iss',
  'aud',
  'exp',
  'iat',
  'jti',
  'sub',
  'repository',
  'repository_id',
  'repository_owner',
  'repository_owner_id',
  'ref',
  'event_name',
  'job_workflow_ref',
] as const;

const STRING_CLAIMS = REQUIRED_CLAIMS.filter((c) => !['aud', 'exp', 'iat'].includes(c));

export interface OidcVerifierConfig {
  issuer: string;
  audience: string;
  leewaySec: number;
  maxAgeSec: number;
  jwksCooldownMs: number;
  jwksTimeoutMs: number;
  /** How long a discovery document is used before it is read again; default 10 minutes. */
  discoveryMaxAgeMs?: number;
}

/** A token that failed verification. `reason` is a short code for metrics and audit. */
export class InvalidIdToken extends ApiError {
  constructor(
    readonly reason: string,
    message: string,
  ) {
    super(401, 'invalid_token', `invalid GitHub OIDC token: ${message}`);
  }
}

/** Longest pause before a failed discovery of the issuer is tried again. */
const DISCOVERY_RETRY_MAX_MS = 5000;
/** How long a discovery document is used before it is read again (default). */
const DISCOVERY_MAX_AGE_MS = 10 * 60_000;

const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

type KeySet = ReturnType<typeof createRemoteJWKSet>;

/** What the verifier logs: an issuer it cannot trust, or a refresh that failed. */
export interface OidcLog {
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

interface Discovered {
  jwks: KeySet;
  jwksUri: string;
  /** Date.now() when the discovery document was read. */
  at: number;
}

/** What callers see when the issuer's discovery names another issuer: nothing but "not now". */
class IssuerMismatch extends ApiError {
  constructor() {
    super(
      503,
      'issuer_unavailable',
      'the OIDC issuer cannot be verified by this server right now (its configuration is being checked by the operator); try again later',
    );
  }
}

/** Errors of jwtVerify that say the key set may be out of date, not that the token is bad. */
function keysMayBeStale(err: unknown): boolean {
  return (
    err instanceof joseErrors.JWKSNoMatchingKey ||
    err instanceof joseErrors.JWKSTimeout ||
    err instanceof joseErrors.JWKSInvalid ||
    err instanceof TypeError ||
    (err instanceof joseErrors.JOSEError && /JSON Web Key Set/.test(err.message))
  );
}

/**
 * Verifies GitHub Actions ID tokens against the issuer's JWKS (found through its discovery
 * document): RS256 only, issuer, one audience, exp/nbf/iat with leeway, a maximum age and
 * the required claims. A new `kid` (key rotation) triggers a JWKS refetch, at most once per cooldown.
 *
 * The discovery document must name the configured issuer (OpenID Connect Discovery 1.0 §4.3);
 * one that names another is refused (503, logged for the operator). It is read again every
 * `discoveryMaxAgeMs`, and when a token's key cannot be found in (or fetched from) the current
 * `jwks_uri`, at most once per JWKS cooldown, so a moved `jwks_uri` is followed. A refresh that
 * fails keeps the previous keys; an issuer that is down is asked again after a pause.
 */
export class GithubOidcVerifier {
  private current: Discovered | null = null;
  private inflight: Promise<Discovered> | null = null;
  private failure: { error: unknown; fatal: boolean; until: number } | null = null;

  constructor(
    private readonly cfg: OidcVerifierConfig,
    private readonly clock: Clock,
    private readonly log?: OidcLog,
  ) {}

  get audience(): string {
    return this.cfg.audience;
  }

  private get maxAgeMs(): number {
    return this.cfg.discoveryMaxAgeMs ?? DISCOVERY_MAX_AGE_MS;
  }

  private async keySet(): Promise<Discovered> {
    const c = this.current;
    if (c && Date.now() - c.at < this.maxAgeMs) return c;
    return this.refresh();
  }

  /** Reads the discovery document again (one request at a time, none during the retry pause). */
  private refresh(): Promise<Discovered> {
    const f = this.failure;
    if (f && Date.now() < f.until) {
      return this.current && !f.fatal ? Promise.resolve(this.current) : Promise.reject(f.error);
    }
    this.inflight ??= this.discover()
      .then(
        (d) => {
          this.current = d;
          this.failure = null;
          return d;
        },
        (err: unknown) => {
          // An issuer that is down is asked again after a short pause, not once per request.
          const fatal = err instanceof IssuerMismatch;
          const pause = Math.min(this.cfg.jwksCooldownMs, DISCOVERY_RETRY_MAX_MS);
          this.failure = { error: err, fatal, until: Date.now() + pause };
          if (fatal) this.current = null;
          if (this.current) {
            this.log?.warn(
              { err: (err as Error).message, issuer: this.cfg.issuer },
              'reading the OIDC discovery document again failed; the keys read before stay in use',
            );
            return this.current;
          }
          throw err;
        },
      )
      .finally(() => (this.inflight = null));
    return this.inflight;
  }

  private async discover(): Promise<Discovered> {
    const url = `${this.cfg.issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
    let doc: { issuer?: unknown; jwks_uri?: unknown };
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(this.cfg.jwksTimeoutMs) });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      doc = (await res.json()) as typeof doc;
      if (doc === null || typeof doc !== 'object') throw new Error('it is not a JSON object');
    } catch (err) {
      throw new ApiError(
        503,
        'issuer_unavailable',
        `cannot read the OIDC issuer's discovery document ${url}: ${(err as Error).message}; try again later`,
      );
    }
    if (doc.issuer !== this.cfg.issuer) {
      // Discovery §4.3: the issuer in the document must equal the one it was fetched for, or
      // its keys may sign tokens for another issuer. The caller learns only "not now".
      this.log?.error(
        { configured_issuer: this.cfg.issuer, discovery_issuer: doc.issuer ?? null, discovery_url: url },
        `the OIDC discovery document at ${url} names issuer ${JSON.stringify(doc.issuer ?? null)}, not the configured ${this.cfg.issuer}; every GitHub OIDC exchange is refused (503) until they match: check --oidc-issuer (HOIST_OIDC_ISSUER) and the issuer`,
      );
      throw new IssuerMismatch();
    }
    let jwksUri: URL;
    try {
      if (typeof doc.jwks_uri !== 'string') throw new Error('no jwks_uri');
      jwksUri = new URL(doc.jwks_uri);
      if (jwksUri.protocol !== 'https:' && jwksUri.protocol !== 'http:') throw new Error('not http(s)');
    } catch {
      throw new ApiError(
        503,
        'issuer_unavailable',
        `the OIDC issuer's discovery document ${url} has no valid jwks_uri`,
      );
    }
    const prev = this.current;
    if (prev && prev.jwksUri === jwksUri.href) return { ...prev, at: Date.now() };
    const jwks = createRemoteJWKSet(jwksUri, {
      cooldownDuration: this.cfg.jwksCooldownMs,
      timeoutDuration: this.cfg.jwksTimeoutMs,
      cacheMaxAge: 10 * 60_000,
    });
    return { jwks, jwksUri: jwksUri.href, at: Date.now() };
  }

  async verify(token: string): Promise<GithubClaims> {
    if (!JWT_SHAPE.test(token))
      throw new InvalidIdToken('malformed', 'it is not a JWT (header.payload.signature)');
    let header: ReturnType<typeof decodeProtectedHeader>;
    try {
      header = decodeProtectedHeader(token);
    } catch {
      throw new InvalidIdToken('malformed', 'its header is not valid base64url JSON');
    }
    if (header.alg !== 'RS256') {
      throw new InvalidIdToken(
        'alg',
        `algorithm ${String(header.alg)} is not accepted; GitHub signs with RS256`,
      );
    }
    if (typeof header.kid !== 'string' || !header.kid) {
      throw new InvalidIdToken('kid', 'its header has no key id (kid)');
    }
    const keys = await this.keySet();
    const check = async (d: Discovered): Promise<JWTPayload> =>
      (
        await jwtVerify(token, d.jwks, {
          algorithms: ['RS256'],
          issuer: this.cfg.issuer,
          audience: this.cfg.audience,
          clockTolerance: this.cfg.leewaySec,
          maxTokenAge: this.cfg.maxAgeSec,
          requiredClaims: [...REQUIRED_CLAIMS],
          currentDate: this.clock.now(),
        })
      ).payload;
    let payload: JWTPayload;
    try {
      payload = await check(keys);
    } catch (err) {
      // An unknown kid or an unreachable jwks_uri: the issuer may have moved its keys. Read the
      // discovery document again (at most once per cooldown) and, if jwks_uri changed, retry.
      if (!keysMayBeStale(err) || Date.now() - keys.at < this.cfg.jwksCooldownMs) throw this.explain(err);
      const fresh = await this.refresh();
      if (fresh.jwksUri === keys.jwksUri) throw this.explain(err);
      try {
        payload = await check(fresh);
      } catch (again) {
        throw this.explain(again);
      }
    }
    if (Array.isArray(payload.aud) && payload.aud.length !== 1) {
      throw new InvalidIdToken(
        'audience',
        `it names ${payload.aud.length} audiences; exactly one (${this.cfg.audience}) is accepted`,
      );
    }
    const iat = payload.iat!;
    if (iat > this.clock.now().getTime() / 1000 + this.cfg.leewaySec) {
      throw new InvalidIdToken('iat', 'it was issued in the future (iat); check the clocks');
    }
    for (const c of STRING_CLAIMS) {
      const v = payload[c];
      if (typeof v !== 'string' || v === '')
        throw new InvalidIdToken('claims', `claim ${c} must be a non-empty string`);
    }
    return payload as unknown as GithubClaims;
  }

  private explain(err: unknown): ApiError {
    if (err instanceof joseErrors.JWTExpired) {
      // jose reports a failed maxTokenAge as an expiry of the iat claim.
      return err.claim === 'iat'
        ? new InvalidIdToken(
            'too_old',
            `it is too old (issued more than ${this.cfg.maxAgeSec} s ago); request a fresh one`,
          )
        : new InvalidIdToken('expired', 'it has expired (exp)');
    }
    if (err instanceof joseErrors.JWTClaimValidationFailed) {
      switch (err.claim) {
        case 'iss':
          return new InvalidIdToken('issuer', `wrong issuer (iss); this server accepts ${this.cfg.issuer}`);
        case 'aud':
          return new InvalidIdToken(
            'audience',
            `wrong audience (aud); request the token with audience ${this.cfg.audience}`,
          );
        case 'nbf':
          return new InvalidIdToken('not_yet_valid', 'it is not valid yet (nbf); check the clocks');
        case 'iat':
          return err.reason === 'check_failed'
            ? new InvalidIdToken(
                'too_old',
                `it is too old (issued more than ${this.cfg.maxAgeSec} s ago); request a fresh one`,
              )
            : new InvalidIdToken('claims', 'claim iat is missing or invalid');
        default:
          return new InvalidIdToken(
            'claims',
            err.reason === 'missing'
              ? `required claim ${err.claim} is missing`
              : `claim ${err.claim} is invalid`,
          );
      }
    }
    if (err instanceof joseErrors.JWSSignatureVerificationFailed) {
      return new InvalidIdToken('signature', 'its signature does not verify');
    }
    if (err instanceof joseErrors.JWKSNoMatchingKey || err instanceof joseErrors.JWKSMultipleMatchingKeys) {
      return new InvalidIdToken('kid', 'it is signed with a key the issuer does not publish (unknown kid)');
    }
    if (err instanceof joseErrors.JOSEAlgNotAllowed || err instanceof joseErrors.JOSENotSupported) {
      return new InvalidIdToken('alg', 'its algorithm is not accepted; GitHub signs with RS256');
    }
    if (err instanceof joseErrors.JWKSTimeout) {
      return new ApiError(
        503,
        'issuer_unavailable',
        'the OIDC issuer did not answer for its keys in time; try again later',
      );
    }
    if (err instanceof joseErrors.JWKSInvalid) {
      return new ApiError(503, 'issuer_unavailable', "the OIDC issuer's JWKS is not valid; try again later");
    }
    if (err instanceof joseErrors.JOSEError && /JSON Web Key Set/.test(err.message)) {
      return new ApiError(
        503,
        'issuer_unavailable',
        "the OIDC issuer's keys (JWKS) cannot be read; try again later",
      );
    }
    if (err instanceof joseErrors.JWSInvalid || err instanceof joseErrors.JWTInvalid) {
      return new InvalidIdToken('malformed', 'it is not a well-formed signed JWT');
    }
    if (err instanceof joseErrors.JOSEError) return new InvalidIdToken('invalid', err.code);
    if (
      err instanceof TypeError ||
      (err instanceof Error && /fetch|ECONNREFUSED|network/i.test(err.message))
    ) {
      return new ApiError(
        503,
        'issuer_unavailable',
        `cannot fetch the OIDC issuer's keys: ${err.message}; try again later`,
      );
    }
    return new InvalidIdToken('invalid', 'it cannot be verified');
  }
}
