import {
  createRemoteJWKSet,
  decodeProtectedHeader,
  errors as joseErrors,
  jwtVerify,
  type JWTPayload,
} from 'jose';
import { ApiError } from './errors.js';
import type { GithubClaims } from './trust.js';
import type { Clock } from './util.js';

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

const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/**
 * Verifies GitHub Actions ID tokens against the issuer's JWKS (found through its discovery
 * document): RS256 only, issuer, one audience, exp/nbf/iat with leeway, a maximum age and
 * the required claims. A new `kid` (key rotation) triggers a JWKS refetch, at most once per cooldown.
 */
export class GithubOidcVerifier {
  private jwks: Promise<ReturnType<typeof createRemoteJWKSet>> | null = null;

  constructor(
    private readonly cfg: OidcVerifierConfig,
    private readonly clock: Clock,
  ) {}

  get audience(): string {
    return this.cfg.audience;
  }

  private keySet(): Promise<ReturnType<typeof createRemoteJWKSet>> {
    if (!this.jwks) {
      this.jwks = this.discover().catch((err: unknown) => {
        // An issuer that is down is asked again after a short pause, not once per request.
        const retryAfter = Math.min(this.cfg.jwksCooldownMs, DISCOVERY_RETRY_MAX_MS);
        if (retryAfter > 0) setTimeout(() => (this.jwks = null), retryAfter).unref();
        else this.jwks = null;
        throw err;
      });
    }
    return this.jwks;
  }

  private async discover(): Promise<ReturnType<typeof createRemoteJWKSet>> {
    const url = `${this.cfg.issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
    let doc: { issuer?: unknown; jwks_uri?: unknown };
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(this.cfg.jwksTimeoutMs) });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      doc = (await res.json()) as typeof doc;
    } catch (err) {
      throw new ApiError(
        503,
        'issuer_unavailable',
        `cannot read the OIDC issuer's discovery document ${url}: ${(err as Error).message}; try again later`,
      );
    }
    if (typeof doc.jwks_uri !== 'string') {
      throw new ApiError(
        503,
        'issuer_unavailable',
        `the OIDC issuer's discovery document ${url} has no jwks_uri`,
      );
    }
    return createRemoteJWKSet(new URL(doc.jwks_uri), {
      cooldownDuration: this.cfg.jwksCooldownMs,
      timeoutDuration: this.cfg.jwksTimeoutMs,
      cacheMaxAge: 10 * 60_000,
    });
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
    const jwks = await this.keySet();
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, jwks, {
        algorithms: ['RS256'],
        issuer: this.cfg.issuer,
        audience: this.cfg.audience,
        clockTolerance: this.cfg.leewaySec,
        maxTokenAge: this.cfg.maxAgeSec,
        requiredClaims: [...REQUIRED_CLAIMS],
        currentDate: this.clock.now(),
      }));
    } catch (err) {
      throw this.explain(err);
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
