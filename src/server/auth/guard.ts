import type { FastifyRequest, preHandlerAsyncHookHandler } from 'fastify';
import type { TokenKind } from '../../lib/api-types.js';
import { forbidden, notFound, unauthorized } from '../http/errors.js';
import type { AuthContext, TokenService } from './tokens.js';

export type { AuthContext } from './tokens.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by `Auth.require(...)` pre-handlers. */
    hoistAuth?: AuthContext;
  }
}

/** The Bearer token of a request, or a 401 that says how to send one. */
export function bearerToken(request: FastifyRequest): string {
  const h = request.headers.authorization;
  if (!h) {
    throw unauthorized(
      'missing_token',
      'this endpoint needs a Hoist token: send "Authorization: Bearer <token>"',
    );
  }
  const m = /^Bearer\s+(\S+)\s*$/i.exec(h);
  if (!m) throw unauthorized('invalid_token', 'the Authorization header must be "Bearer <token>"');
  return m[1]!;
}

/**
 * Authentication and authorization for routes:
 *   const who = await auth.authenticate(request, 'admin', 'project');   // kinds allowed
 *   auth.requireProject(who, projectId);                              // no cross-project access
 * or as a route pre-handler: `{ preHandler: auth.require('build') }`, then `request.hoistAuth!`.
 */
export class Auth {
  constructor(private readonly tokens: TokenService) {}

  async authenticate(request: FastifyRequest, ...kinds: TokenKind[]): Promise<AuthContext> {
    const who = await this.tokens.authenticate(bearerToken(request));
    if (kinds.length && !kinds.includes(who.kind)) {
      throw forbidden(
        'wrong_token_kind',
        `a ${who.kind} token cannot call this endpoint; it needs a${kinds[0] === 'admin' || kinds[0] === 'oidc' ? 'n' : ''} ${kinds.join(' or ')} token`,
      );
    }
    request.hoistAuth = who;
    return who;
  }

  require(...kinds: TokenKind[]): preHandlerAsyncHookHandler {
    return async (request) => {
      await this.authenticate(request, ...kinds);
    };
  }

  /**
   * Admin tokens reach every project; any other token only its own. Answers 404 (not 403)
   * for another project so a token learns nothing about projects it does not belong to.
   */
  requireProject(who: AuthContext, projectId: string): void {
    if (who.kind === 'admin') return;
    if (who.project_id !== projectId) {
      throw notFound('project_not_found', `no project ${projectId} is visible to this token`);
    }
  }

  /** A build token drives only its own build; project/oidc/admin tokens reach builds of their project. */
  requireBuild(who: AuthContext, build: { id: string; project_id: string }): void {
    this.requireProject(who, build.project_id);
    if (who.kind === 'build' && who.build_id !== build.id) {
      throw notFound('build_not_found', `no build ${build.id} is visible to this token`);
    }
  }
}
