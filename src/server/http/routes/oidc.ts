import type { FastifyInstance } from 'fastify';
import type { OidcExchangeRequest } from '../../../lib/api-types.js';
import { errorBody } from '../errors.js';
import type { OidcExchange } from '../../auth/exchange.js';
import { clientKey, type ClientLimiter, type LimitDecision } from '../rate-limit.js';

export function registerOidcRoutes(
  app: FastifyInstance,
  exchange: OidcExchange,
  limiter: ClientLimiter | null = null,
  onLimited: (d: Exclude<LimitDecision, { ok: true }>) => void = () => undefined,
): void {
  app.post<{ Body: OidcExchangeRequest }>(
    '/v1/auth/github-oidc',
    {
      bodyLimit: 64 * 1024,
      // Before the body is read or parsed: a refused request costs as little as possible.
      onRequest: async (req, reply) => {
        if (!limiter) return;
        const client = clientKey(req.ip);
        const d = await limiter.take(client);
        if (d.ok) return;
        onLimited(d);
        reply.header('retry-after', String(d.retryAfterSec));
        if (d.cause === 'unavailable') {
          return reply
            .code(503)
            .send(
              errorBody(
                'rate_limit_unavailable',
                `GitHub OIDC exchanges are paused: ${d.detail}, and no exchange can succeed without it; retry after ${d.retryAfterSec} s. Operators: check that PostgreSQL is up and reachable from every replica (--database-url); the server logs when it is reachable again.`,
              ),
            );
        }
        const scope = limiter.scope === 'shared' ? 'per client, counted across all replicas' : 'per client';
        return reply
          .code(429)
          .send(
            errorBody(
              'rate_limited',
              `too many GitHub OIDC exchanges from ${client === req.ip ? req.ip : `${req.ip} (counted as ${client})`}: this server accepts ${limiter.ratePerSec} a second ${scope} (bursts of ${limiter.burst}); retry after ${d.retryAfterSec} s. One exchange per job is enough: reuse the token it returns until it expires. Operators can raise the limit with --oidc-rate-limit and --oidc-rate-burst (HOIST_OIDC_RATE_LIMIT, HOIST_OIDC_RATE_BURST).`,
            ),
          );
      },
      schema: {
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['token'],
          properties: {
            token: { type: 'string', minLength: 1, maxLength: 16384 },
            project: { type: 'string', minLength: 1, maxLength: 128 },
          },
        },
      },
    },
    async (req) => exchange.exchange(req.body, req.ip),
  );
}
