import type { FastifyInstance } from 'fastify';
import type { OidcExchangeRequest } from '../../lib/api-types.js';
import type { OidcExchange } from '../exchange.js';

export function registerOidcRoutes(app: FastifyInstance, exchange: OidcExchange): void {
  app.post<{ Body: OidcExchangeRequest }>(
    '/v1/auth/github-oidc',
    {
      bodyLimit: 64 * 1024,
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
    async (req) => exchange.exchange(req.body),
  );
}
