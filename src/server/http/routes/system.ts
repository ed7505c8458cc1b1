import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { errorBody } from '../errors.js';
import type { HoistDeps } from '../plugin.js';

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

/** Whether `header` is `Bearer <expected>`, compared in constant time (digests of equal length). */
export function bearerMatches(header: string | undefined, expected: string): boolean {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  return timingSafeEqual(digest(m?.[1] ?? ''), digest(expected)) && m !== null;
}

export function registerSystemRoutes(app: FastifyInstance, deps: HoistDeps): void {
  app.get('/healthz', async (_req, reply) => {
    try {
      await deps.db.get('SELECT 1 AS ok');
    } catch {
      return reply.code(503).send({ status: 'unhealthy', database: 'unreachable' });
    }
    // Which replica leads (runs reconciliation and the sweeps): a load balancer may route on it.
    return { status: 'ok', database: deps.db.dialect, cluster: deps.leader.status() };
  });

  // Open by default, as Prometheus exporters are; with --metrics-token it needs that bearer token.
  const token = deps.config.metricsToken;
  app.get('/metrics', async (req, reply) => {
    if (token !== undefined && !bearerMatches(req.headers.authorization, token)) {
      return reply
        .code(401)
        .header('www-authenticate', 'Bearer realm="hoist metrics"')
        .send(
          errorBody(
            req.headers.authorization ? 'invalid_token' : 'missing_token',
            'this server protects /metrics: send "Authorization: Bearer <token>" with the token it was started with (--metrics-token or HOIST_METRICS_TOKEN); in Prometheus set authorization.credentials_file in the scrape config',
          ),
        );
    }
    const text = await deps.metrics.metrics();
    return reply.header('content-type', deps.metrics.contentType).send(text);
  });
}
