import type { OidcExchangeRequest, OidcExchangeResponse } from '../../lib/api-types.js';
import type { AuditLog } from '../audit/log.js';
import type { Db } from '../db/index.js';
import { ApiError } from '../http/errors.js';
import { GithubOidcVerifier, InvalidIdToken } from './oidc.js';
import type { ProjectStore } from '../projects/store.js';
import type { RefusalAudit } from '../audit/refusals.js';
import type { TokenService } from './tokens.js';
import { decideTrust, parseJobWorkflowRef, type GithubClaims } from './trust.js';
import type { TrustPolicyStore } from './trust-store.js';
import { type Clock, iso } from '../util.js';

export const OIDC_AUDIT_ACTION = 'auth.github_oidc';

export interface ExchangeOutcome {
  outcome: 'granted' | 'refused';
  /** Short reason code for metrics. */
  code: string;
}

/**
 * `POST /v1/auth/github-oidc`: verify the ID token, accept its jti once, match the trust
 * policies, pin ids on first use, mint an OIDC token, and audit the result. Everything after
 * verification happens in one transaction. Verified tokens are audited one by one; tokens that
 * do not verify are audited in aggregate (RefusalAudit), so junk cannot flood the database.
 */
export class OidcExchange {
  constructor(
    private readonly deps: {
      db: Db;
      clock: Clock;
      verifier: GithubOidcVerifier;
      projects: ProjectStore;
      trust: TrustPolicyStore;
      tokens: TokenService;
      audit: AuditLog;
      refusals: RefusalAudit;
      tokenTtlSec: number;
      leewaySec: number;
      onOutcome?: (o: ExchangeOutcome) => void;
    },
  ) {}

  /** `client` is the caller's IP address, for the aggregated audit of unverifiable tokens. */
  async exchange(req: OidcExchangeRequest, client = 'unknown'): Promise<OidcExchangeResponse> {
    const d = this.deps;
    let claims: GithubClaims;
    try {
      claims = await d.verifier.verify(req.token);
    } catch (err) {
      // Nothing about projects: the caller proved nothing. An issuer outage is audited too.
      // Anyone can send junk, so these are aggregated: one row per client, reason and minute.
      const reason =
        err instanceof InvalidIdToken ? err.reason : err instanceof ApiError ? err.code : 'error';
      await d.refusals.record(client, reason, {
        action: OIDC_AUDIT_ACTION,
        outcome: 'refused',
        project_id: null,
        subject: null,
        reason: (err as Error).message,
        details: { verification: reason },
      });
      d.onOutcome?.({ outcome: 'refused', code: reason });
      throw err;
    }

    const details = {
      repository: claims.repository,
      repository_id: claims.repository_id,
      repository_owner_id: claims.repository_owner_id,
      ref: claims.ref,
      event_name: claims.event_name,
      workflow: parseJobWorkflowRef(claims.job_workflow_ref)?.path ?? null,
      job_workflow_ref: claims.job_workflow_ref,
      environment: claims.environment ?? null,
      run_id: claims.run_id ?? null,
      jti: claims.jti,
    };
    type Result = { error: ApiError; code: string } | { response: OidcExchangeResponse };
    const result = await d.db.transaction(async (tx): Promise<Result> => {
      const now = d.clock.now();
      const exp = typeof claims.exp === 'number' ? claims.exp : 0;
      const fresh = await tx.run(
        'INSERT INTO oidc_jtis (jti, expires_at, seen_at) VALUES (?, ?, ?) ON CONFLICT (jti) DO NOTHING',
        [claims.jti, iso(new Date((exp + d.leewaySec) * 1000)), iso(now)],
      );
      if (fresh.changes === 0) {
        const reason = `invalid GitHub OIDC token: it was already exchanged (jti ${claims.jti} seen before); request a fresh ID token`;
        await d.audit.record(
          {
            action: OIDC_AUDIT_ACTION,
            outcome: 'refused',
            project_id: null,
            subject: claims.sub,
            reason,
            details,
          },
          tx,
        );
        return { error: new ApiError(401, 'token_replayed', reason), code: 'replay' };
      }
      let requested: { id: string; name: string } | { missing: string } | null = null;
      if (req.project) {
        const p = await d.projects.find(req.project, tx);
        requested = p ? { id: p.id, name: p.name } : { missing: req.project };
      }
      const candidates = await d.trust.forRepository(claims.repository, tx);
      const decision = decideTrust(claims, candidates, requested);
      if (!decision.granted) {
        await d.audit.record(
          {
            action: OIDC_AUDIT_ACTION,
            outcome: 'refused',
            project_id: decision.project_id,
            subject: claims.sub,
            reason: decision.reason,
            details,
          },
          tx,
        );
        const status = decision.code === 'ambiguous_project' ? 400 : 403;
        return { error: new ApiError(status, decision.code, decision.reason), code: decision.code };
      }
      await d.trust.pin(decision.pins, tx);
      const expiresAt = new Date(now.getTime() + d.tokenTtlSec * 1000);
      const { token, info } = await d.tokens.mint(
        {
          kind: 'oidc',
          name: `github ${claims.repository} ${claims.ref}${claims.run_id ? ` run ${claims.run_id}` : ''}`,
          project_id: decision.project_id,
          expires_at: expiresAt,
        },
        tx,
      );
      await d.audit.record(
        {
          action: OIDC_AUDIT_ACTION,
          outcome: 'granted',
          project_id: decision.project_id,
          subject: claims.sub,
          reason: decision.reason,
          details: {
            ...details,
            policy_id: decision.policy_id,
            token_id: info.id,
            pinned: decision.pins.length > 0,
          },
        },
        tx,
      );
      return {
        response: {
          token,
          expires_at: info.expires_at ?? expiresAt.toISOString(),
          project_id: decision.project_id,
        },
      };
    });
    if ('error' in result) {
      d.onOutcome?.({ outcome: 'refused', code: result.code });
      throw result.error;
    }
    d.onOutcome?.({ outcome: 'granted', code: 'granted' });
    return result.response;
  }

  /**
   * Forgets jtis whose ID tokens have expired anyway (they can no longer verify), and OIDC and
   * build tokens that expired more than a week ago (their audit events stay).
   */
  async purgeExpired(): Promise<{ jtis: number; tokens: number }> {
    const now = this.deps.clock.now();
    const jtis = await this.deps.db.run('DELETE FROM oidc_jtis WHERE expires_at < ?', [iso(now)]);
    const tokens = await this.deps.db.run(
      "DELETE FROM tokens WHERE kind IN ('oidc', 'build') AND expires_at IS NOT NULL AND expires_at < ?",
      [iso(new Date(now.getTime() - 7 * 86400_000))],
    );
    return { jtis: jtis.changes, tokens: tokens.changes };
  }
}
