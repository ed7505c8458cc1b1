// The dashboard under /ui: server-rendered pages over the same data as the JSON API, a
// session cookie from an admin token, CSRF tokens and an Origin check on every form, and a
// CSP that allows only the dashboard's own script and stylesheet.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ServerResponse } from 'node:http';
import type { BuildService } from '../builds/service.js';
import { ApiError } from '../http/errors.js';
import type { Insights } from '../insights/index.js';
import type { ListFilter } from '../insights/store.js';
import type { HoistDeps } from '../http/plugin.js';
import { APP_CSS, APP_JS } from './assets.js';
import { buildPage, buildRows, buildsPage, errorPage, loginPage } from './pages.js';
import { registerProjectPages } from './projects.js';
import { RANGES } from '../insights/analysis.js';
import { buildersPage, chartsPage } from './fleet-pages.js';
import {
  SESSION_COOKIE,
  SESSION_TTL_MS,
  type Session,
  Sessions,
  cookieValue,
  originAllowed,
  sameSecret,
  sessionCookie,
} from './session.js';

export const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

const PAGE_SIZE = 50;
const STATUSES = new Set(['queued', 'running', 'success', 'failed', 'canceled', 'expired']);

declare module 'fastify' {
  interface FastifyRequest {
    uiSession?: Session;
  }
}

/** The list filter from a query string; unknown or oversized values are dropped. */
export function listFilter(q: Record<string, unknown>): ListFilter {
  const s = (k: string, max = 256): string | undefined => {
    const v = q[k];
    return typeof v === 'string' && v.trim() && v.length <= max ? v.trim() : undefined;
  };
  const status = s('status');
  return {
    project: s('project'),
    status: status && STATUSES.has(status) ? status : undefined,
    repository: s('repository'),
    branch: s('branch'),
    before: s('before', 128),
    limit: PAGE_SIZE,
  };
}

export function registerUi(
  app: FastifyInstance,
  deps: HoistDeps,
  insights: Insights,
  service: BuildService,
): void {
  const sessions = new Sessions(deps.db, deps.clock);
  const secure = Boolean(deps.config.tls);
  const streams = new Set<ServerResponse>();

  // Open event streams would hold the server's close: end them first.
  app.addHook('preClose', async () => {
    for (const s of streams) s.end();
    streams.clear();
  });

  void app.register(
    async (ui) => {
      // Forms post urlencoded bodies; only here (the API parses every body as JSON).
      ui.addContentTypeParser(
        'application/x-www-form-urlencoded',
        { parseAs: 'string', bodyLimit: 16 * 1024 },
        (_req, body, done) => {
          done(
            null,
            Object.fromEntries(new URLSearchParams(typeof body === 'string' ? body : body.toString())),
          );
        },
      );

      ui.addHook('onRequest', async (request, reply) => {
        void reply
          .header('content-security-policy', CSP)
          .header('x-content-type-options', 'nosniff')
          .header('x-frame-options', 'DENY')
          .header('referrer-policy', 'same-origin')
          .header('cache-control', 'no-store');
        const path = request.url.split('?', 1)[0]!;
        if (request.method === 'POST' && !originAllowed(request.headers.origin, deps.publicUrl())) {
          throw new ApiError(
            403,
            'bad_origin',
            `refused: this form was not posted from the dashboard (Origin ${request.headers.origin ?? 'missing'}); open ${deps.publicUrl()}/ui and try again`,
          );
        }
        if (path === '/ui/login' || path.startsWith('/ui/assets/')) return;
        const session = await sessions.get(cookieValue(request.headers.cookie, SESSION_COOKIE));
        if (!session) {
          if (
            request.method === 'GET' &&
            !path.startsWith('/ui/events') &&
            !path.startsWith('/ui/builds/rows')
          ) {
            return reply.redirect('/ui/login', 303);
          }
          throw new ApiError(401, 'signed_out', 'your session has ended; sign in again at /ui/login');
        }
        request.uiSession = session;
      });

      // A form's CSRF token must be its session's (the Origin check above came first).
      ui.addHook('preHandler', async (request) => {
        if (request.method !== 'POST' || !request.uiSession) return;
        const sent = (request.body as Record<string, unknown> | undefined)?.csrf;
        if (typeof sent !== 'string' || !sameSecret(sent, request.uiSession.csrf)) {
          throw new ApiError(
            403,
            'bad_csrf',
            'refused: the form carried no valid CSRF token (it may come from an old page); reload the page and try again',
          );
        }
      });

      ui.setErrorHandler((err: Error & { statusCode?: number }, request, reply) => {
        const status = err instanceof ApiError ? err.status : (err.statusCode ?? 500);
        const message = status >= 500 ? 'the server failed to render this page; see its log' : err.message;
        if (status >= 500) request.log.error({ err }, 'dashboard error');
        return reply
          .code(status)
          .type('text/html; charset=utf-8')
          .send(errorPage(status, message, request.uiSession?.csrf));
      });

      const page = (reply: FastifyReply, body: string): FastifyReply =>
        reply.type('text/html; charset=utf-8').send(body);

      ui.get('/ui', async (_request, reply) => reply.redirect('/ui/builds', 303));
      ui.get('/ui/assets/app.js', async (_r, reply) =>
        reply.type('text/javascript; charset=utf-8').header('cache-control', 'max-age=300').send(APP_JS),
      );
      ui.get('/ui/assets/app.css', async (_r, reply) =>
        reply.type('text/css; charset=utf-8').header('cache-control', 'max-age=300').send(APP_CSS),
      );

      ui.get('/ui/login', async (_request, reply) => page(reply, loginPage()));
      ui.post('/ui/login', async (request, reply) => {
        const token = (request.body as Record<string, unknown> | undefined)?.token;
        let who;
        try {
          if (typeof token !== 'string' || !token.trim()) throw new Error('no token');
          who = await deps.tokens.authenticate(token.trim());
        } catch {
          return page(reply.code(401), loginPage('That token is not a valid Hoist admin token.'));
        }
        if (who.kind !== 'admin') {
          return page(
            reply.code(403),
            loginPage(`A ${who.kind} token cannot sign in to the dashboard; use an admin token.`),
          );
        }
        const s = await sessions.create(who.token_id);
        return reply
          .header('set-cookie', sessionCookie(s.id, secure, Math.floor(SESSION_TTL_MS / 1000)))
          .redirect('/ui/builds', 303);
      });
      ui.post('/ui/logout', async (request, reply) => {
        await sessions.delete(cookieValue(request.headers.cookie, SESSION_COOKIE));
        return reply.header('set-cookie', sessionCookie('', secure, 0)).redirect('/ui/login', 303);
      });

      const listPage = async (request: FastifyRequest) => {
        const filter = listFilter(request.query as Record<string, unknown>);
        const rows = await insights.store.list(filter);
        return { filter, rows, next: rows.length === PAGE_SIZE ? rows[rows.length - 1]!.id : undefined };
      };
      ui.get('/ui/builds', async (request, reply) => {
        const { filter, rows, next } = await listPage(request);
        return page(reply, buildsPage(rows, filter, request.uiSession!.csrf, next));
      });
      ui.get('/ui/builds/rows', async (request, reply) => {
        const { rows } = await listPage(request);
        return page(reply, buildRows(rows).value);
      });
      ui.get('/ui/builds/:id', async (request, reply) => {
        const id = (request.params as { id: string }).id;
        const row = await service.store.getBuild(id);
        if (!row) throw new ApiError(404, 'build_not_found', `no build ${id}`);
        const info = (await service.info([row], (b) => `${deps.publicUrl()}/v1/builds/${b}`))[0]!;
        const project = await deps.projects.find(row.project_id);
        const ins = await insights.store.get(id);
        return page(
          reply,
          buildPage(
            { ...info, insights: ins },
            project?.name ?? row.project_id,
            request.uiSession!.csrf,
            deps.clock.now(),
          ),
        );
      });

      registerProjectPages(ui, deps, () => service.endOrphans());

      ui.get('/ui/builders', async (request, reply) => {
        const { builders, queue } = await insights.fleet();
        return page(reply, buildersPage(builders, queue, request.uiSession!.csrf, deps.clock.now()));
      });

      ui.get('/ui/charts', async (request, reply) => {
        const q = request.query as Record<string, unknown>;
        const c = await insights.charts(
          typeof q.project === 'string' && q.project ? q.project : null,
          typeof q.range === 'string' ? q.range : undefined,
        );
        return page(
          reply,
          chartsPage({
            points: c.points,
            projects: (await deps.projects.list()).map((p) => p.name),
            project: c.project?.name ?? null,
            range: c.range,
            ranges: Object.keys(RANGES),
            csrf: request.uiSession!.csrf,
          }),
        );
      });

      ui.get('/ui/events', async (request, reply) => {
        const raw = reply.raw;
        reply.hijack();
        raw.writeHead(200, {
          'content-type': 'text/event-stream; charset=utf-8',
          'cache-control': 'no-store',
          'x-content-type-options': 'nosniff',
          connection: 'keep-alive',
        });
        raw.write('retry: 3000\n\n');
        streams.add(raw);
        const off = insights.events.subscribe((id) => raw.write(`event: build\ndata: ${id}\n\n`));
        const ping = setInterval(() => raw.write(': ping\n\n'), 15_000);
        ping.unref();
        request.raw.on('close', () => {
          off();
          clearInterval(ping);
          streams.delete(raw);
        });
      });
    },
    { prefix: '' },
  );
}
