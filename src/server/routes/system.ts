import type { FastifyInstance } from 'fastify';
import type { HoistDeps } from '../plugin.js';

export function registerSystemRoutes(app: FastifyInstance, deps: HoistDeps): void {
  app.get('/healthz', async (_req, reply) => {
    try {
      await deps.db.get('SELECT 1 AS ok');
    } catch {
      return reply.code(503).send({ status: 'unhealthy', database: 'unreachable' });
    }
    return { status: 'ok', database: deps.db.dialect };
  });

  app.get('/metrics', async (_req, reply) => {
    const text = await deps.metrics.metrics();
    return reply.header('content-type', deps.metrics.contentType).send(text);
  });
}
