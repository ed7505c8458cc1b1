// The Hoist control plane as a Fastify app.
//
// HOW TO PLUG IN (the builds API, issue 4):
//   1. Write `src/server/builds/index.ts` exporting `buildsPlugin: HoistPlugin` (see ./plugin.ts).
//      Import only types from ./plugin.ts and runtime helpers from ../auth/guard.ts, ./errors.ts,
//      ../auth/tokens.ts, ../db/index.ts (never from this file, to keep imports acyclic).
//   2. Add it to PLUGINS below: one import line and one array entry.
//   - Migrations: `buildsPlugin.migrations` (e.g. [{id: 'builds-001-init', sql: {sqlite, postgres}}]);
//     they run after the core ones (../db/migrations), each once, in order.
//   - Routes: `register(app, deps)`; authenticate with `await deps.auth.authenticate(req, 'project', 'oidc', 'admin')`,
//     then `deps.auth.requireProject(who, projectId)` / `deps.auth.requireBuild(who, build)`.
//     Throw `ApiError` (./errors.ts) for 4xx; use Fastify JSON schemas for bodies.
//   - Build tokens: `deps.tokens.mintBuildToken({project_id, build_id, expires_at}, tx)`,
//     `deps.tokens.revokeForBuild(build_id, tx)` when the build finishes or expires.
//   - Lifecycle: `deps.lifecycle.onStart(fn)` (re-adopt builders) and `deps.lifecycle.onShutdown(fn)`.
//   - Flags: `buildsPlugin.options` adds `hoist server --NAME` / env; read `deps.config.pluginOptions[NAME]`.
//   - Metrics: register yours on `deps.metrics` (a prom-client Registry served at /metrics).
import Fastify, { LogController, type FastifyInstance, type FastifyReply } from 'fastify';
import type { Logger } from 'pino';
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { AuditLog } from '../audit/log.js';
import { buildsPlugin } from '../builds/index.js';
import { Auth } from '../auth/guard.js';
import type { ServerConfig } from '../config.js';
import type { Db, Migration } from '../db/index.js';
import { coreMigrations } from '../db/migrations/index.js';
import { ApiError, errorBody, handleError } from './errors.js';
import { OidcExchange } from '../auth/exchange.js';
import { GithubOidcVerifier } from '../auth/oidc.js';
import type { HoistDeps, HoistPlugin, Lifecycle } from './plugin.js';
import { ProjectStore } from '../projects/store.js';
import { type ClientLimiter, LocalClientLimiter, SharedClientLimiter } from './rate-limit.js';
import { RefusalAudit } from '../audit/refusals.js';
import { registerManagementRoutes } from './routes/management.js';
import { registerOidcRoutes } from './routes/oidc.js';
import { registerReleaseRoutes } from './routes/releases.js';
import { registerSystemRoutes } from './routes/system.js';
import { TokenService } from '../auth/tokens.js';
import { TrustPolicyStore } from '../auth/trust-store.js';
import { type Clock, systemClock } from '../util.js';
import { createLeader, type Leader } from '../cluster/index.js';

/** Server plugins, registered in order. */
export const PLUGINS: HoistPlugin[] = [buildsPlugin];

/** Core migrations then each plugin's, in order. */
export function allMigrations(plugins: HoistPlugin[] = PLUGINS): Migration[] {
  return [...coreMigrations, ...plugins.flatMap((p) => p.migrations ?? [])];
}

export interface AppOptions {
  config: ServerConfig;
  /** Migrated already (see migrate() in ./db/index.ts). */
  db: Db;
  logger: Logger;
  clock?: Clock;
  plugins?: HoistPlugin[];
  /** Default: an advisory-lock leader on PostgreSQL, always the leader on SQLite. */
  leader?: Leader;
}

export class LifecycleHooks implements Lifecycle {
  readonly starts: (() => Promise<void> | void)[] = [];
  readonly shutdowns: (() => Promise<void> | void)[] = [];
  onStart(fn: () => Promise<void> | void): void {
    this.starts.push(fn);
  }
  onShutdown(fn: () => Promise<void> | void): void {
    this.shutdowns.push(fn);
  }
}

export interface BuiltApp {
  app: FastifyInstance;
  deps: HoistDeps;
  lifecycle: LifecycleHooks;
  /** The periodic clean-up, callable at once (tests, operators' tooling). */
  purgeExpired(): Promise<{ jtis: number; tokens: number }>;
  /** Writes the counts of every open aggregated-refusal window now (tests, shutdown). */
  flushRefusals(): Promise<void>;
}

export async function buildApp(opts: AppOptions): Promise<BuiltApp> {
  const { config, db, logger } = opts;
  const clock = opts.clock ?? systemClock;
  const plugins = opts.plugins ?? PLUGINS;

  // Typed as the default instance so plugins and route modules share one FastifyInstance type.
  const app = Fastify({
    ...(config.tls ? { https: { cert: config.tls.certPem, key: config.tls.keyPem } } : {}),
    loggerInstance: logger,
    // One log line per request, written in the onResponse hook below.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: config.bodyLimit,
    // Only the named proxies' X-Forwarded-For sets request.ip (the key of the rate limits); from
    // any other peer the header is ignored, so a client cannot pick its own bucket.
    ...(config.trustProxy ? { trustProxy: config.trustProxy } : {}),
    return503OnClosing: true,
    ajv: {
      customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false, useDefaults: false },
    },
    routerOptions: { maxParamLength: 256 },
    // Router errors (a bad percent-encoding, a path parameter over 256 bytes) in our error shape.
    frameworkErrors: (err, _req, res) => {
      const tooLong = err.code === 'FST_ERR_MAX_PARAM_LENGTH';
      const reply = res as unknown as FastifyReply;
      void reply
        .code(tooLong ? 414 : 400)
        .send(
          tooLong
            ? errorBody('uri_too_long', 'a path segment is longer than 256 bytes')
            : errorBody('bad_url', 'the URL is not validly percent-encoded'),
        );
    },
    // Malformed HTTP (a wrong Content-Length, huge headers) never reaches a route.
    clientErrorHandler: (err: NodeJS.ErrnoException, socket) => {
      if (err.code === 'ECONNRESET' || socket.destroyed) return;
      const [status, text, code, message] =
        err.code === 'HPE_HEADER_OVERFLOW'
          ? [431, 'Request Header Fields Too Large', 'headers_too_large', 'the request headers are too large']
          : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
            ? [408, 'Request Timeout', 'request_timeout', 'the request was not received in time']
            : [
                400,
                'Bad Request',
                'bad_http_request',
                'the request is not valid HTTP/1.1 (check Content-Length and framing)',
              ];
      const body = JSON.stringify(errorBody(code, message));
      if (socket.writable) {
        socket.write(
          `HTTP/1.1 ${status} ${text}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n${body}`,
        );
      }
      socket.destroy(err);
    },
  }) as unknown as FastifyInstance;

  // Every body is parsed as JSON, whatever its content type says, by one parser: the same
  // messages, and the same refusal of prototype-poisoning keys, for application/json and the rest.
  app.removeContentTypeParser(['application/json', 'text/plain']);
  app.addContentTypeParser('*', { parseAs: 'string' }, (req, body, done) => {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    if (text.trim() === '') {
      // application/json promises a body; without a content type an empty body is no body
      const json = /^application\/json\b/i.test(req.headers['content-type'] ?? '');
      return json
        ? done(new ApiError(400, 'invalid_body', 'the request body is empty; send a JSON object'), undefined)
        : done(null, undefined);
    }
    try {
      done(null, parseJsonBody(text));
    } catch (err) {
      done(
        err instanceof ApiError
          ? err
          : new ApiError(
              400,
              'invalid_body',
              'the request body is not valid JSON; send a JSON object with Content-Type: application/json',
            ),
        undefined,
      );
    }
  });

  const metrics = new Registry();
  collectDefaultMetrics({ register: metrics });
  const httpDuration = new Histogram({
    name: 'hoist_http_request_duration_seconds',
    help: 'HTTP request duration by route and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [metrics],
  });
  const exchanges = new Counter({
    name: 'hoist_oidc_exchanges_total',
    help: 'GitHub OIDC exchanges by outcome and reason',
    labelNames: ['outcome', 'reason'] as const,
    registers: [metrics],
  });

  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? 'unmatched';
    const seconds = reply.elapsedTime / 1000;
    httpDuration.observe({ method: req.method, route, status: String(reply.statusCode) }, seconds);
    const line = {
      method: req.method,
      route,
      // The path only: a query string may carry what a client should not have put there (a token).
      url: req.url.split('?', 1)[0],
      status: reply.statusCode,
      ms: Math.round(reply.elapsedTime * 10) / 10,
    };
    if (reply.statusCode >= 500) req.log.error(line, 'request');
    else req.log.info(line, 'request');
  });
  app.setErrorHandler(handleError);
  app.setNotFoundHandler((req, reply) =>
    reply.code(404).send(errorBody('not_found', `no route ${req.method} ${req.url.split('?')[0]}`)),
  );

  const tokens = new TokenService(db, clock);
  const projects = new ProjectStore(db, clock);
  const audit = new AuditLog(db, clock);
  const trust = new TrustPolicyStore(db, clock);
  const lifecycle = new LifecycleHooks();
  const leader =
    opts.leader ?? createLeader({ db, clock, logger, metrics, replicaId: process.env.HOIST_REPLICA_ID });
  // Registered first, so it runs last: plugins' shutdown hooks still see the other replicas.
  lifecycle.onShutdown(() => leader.stop());

  const scheme = config.tls ? 'https' : 'http';
  const listeningUrl = (): string => {
    const addr = app.server.address();
    if (addr && typeof addr === 'object') {
      const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
      return `${scheme}://${host}:${addr.port}`;
    }
    return `${scheme}://${config.host}:${config.port}`;
  };
  // Never a request's Host header: a client would choose the URLs the server hands out.
  const publicUrl = (): string => config.publicUrl ?? listeningUrl();

  const deps: HoistDeps = {
    config,
    db,
    logger,
    clock,
    tokens,
    auth: new Auth(tokens),
    projects,
    audit,
    metrics,
    lifecycle,
    leader,
    publicUrl,
  };

  const refusals = new RefusalAudit(audit, clock, 60_000, (err) =>
    logger.warn(
      { error: (err as Error).message },
      'writing the count of an aggregated OIDC refusal failed; it is kept for the next flush',
    ),
  );
  let verifier: GithubOidcVerifier | null = null;
  const exchange = new OidcExchange({
    db,
    clock,
    get verifier() {
      // Created on first use: with --listen HOST:0 the default audience is known only once listening.
      verifier ??= new GithubOidcVerifier(
        {
          issuer: config.oidc.issuer,
          audience: config.oidc.audience ?? config.publicUrl ?? listeningUrl(),
          leewaySec: config.oidc.leewaySec,
          maxAgeSec: config.oidc.maxAgeSec,
          jwksCooldownMs: config.oidc.jwksCooldownMs,
          jwksTimeoutMs: config.oidc.jwksTimeoutMs,
        },
        clock,
        logger,
      );
      return verifier;
    },
    projects,
    trust,
    tokens,
    audit,
    refusals,
    tokenTtlSec: config.oidc.tokenTtlSec,
    leewaySec: config.oidc.leewaySec,
    onOutcome: (o) => exchanges.inc({ outcome: o.outcome, reason: o.code }),
  });

  registerSystemRoutes(app, deps);
  registerManagementRoutes(app, deps, trust);
  const limiter = oidcLimiter(db, config, logger);
  registerOidcRoutes(app, exchange, limiter, (d) =>
    exchanges.inc({
      outcome: 'refused',
      reason: d.cause === 'limited' ? 'rate_limited' : 'rate_limit_unavailable',
    }),
  );
  registerReleaseRoutes(app, deps);
  for (const p of plugins) await p.register(app, deps);

  // Expired jtis can never verify again, and expired OIDC/build tokens pile up: purge them now and then.
  let purge: NodeJS.Timeout | null = null;
  let purgeBuckets: NodeJS.Timeout | null = null;
  lifecycle.onStart(async () => {
    purge = setInterval(() => {
      exchange
        .purgeExpired()
        .catch((err: unknown) => logger.warn({ err }, 'purging expired jtis and tokens failed'));
    }, 10 * 60_000);
    purge.unref();
    if (limiter instanceof SharedClientLimiter) {
      // Rows of clients whose bucket has refilled are the same as none; any replica may delete them.
      purgeBuckets = setInterval(() => {
        limiter
          .purge()
          .catch((err: unknown) =>
            logger.warn({ error: (err as Error).message }, 'purging refilled OIDC rate-limit rows failed'),
          );
      }, 60_000);
      purgeBuckets.unref();
    }
    refusals.start();
    // After every plugin's start hook: their onElected handlers are in place.
    await leader.start();
  });
  lifecycle.onShutdown(async () => {
    if (purge) clearInterval(purge);
    if (purgeBuckets) clearInterval(purgeBuckets);
    await refusals.stop();
  });

  return {
    app,
    deps,
    lifecycle,
    purgeExpired: () => exchange.purgeExpired(),
    flushRefusals: () => refusals.flush(),
  };
}

/**
 * JSON.parse, refusing the keys that poison prototypes once objects are merged ("__proto__",
 * "constructor": {"prototype": ...}) anywhere in the document, as Fastify's own parser does.
 */
export function parseJsonBody(text: string): unknown {
  let poisoned = false;
  const value: unknown = JSON.parse(text, (key, v: unknown) => {
    if (
      key === '__proto__' ||
      (key === 'constructor' && v !== null && typeof v === 'object' && 'prototype' in v)
    ) {
      poisoned = true;
    }
    return v;
  });
  if (poisoned) {
    throw new ApiError(
      400,
      'invalid_body',
      'the request body holds a "__proto__" or "constructor": {"prototype"} key, which is refused; remove it',
    );
  }
  return value;
}

/**
 * The per-client limit of OIDC exchanges: in this process on SQLite (one replica, nothing to
 * share, no database work per request); in PostgreSQL when replicas share it, so a client gets
 * the configured rate in total, however a balancer spreads its requests.
 */
function oidcLimiter(db: Db, config: ServerConfig, logger: Logger): ClientLimiter | null {
  const { rateLimitPerSec: rate, rateBurst: burst } = config.oidc;
  if (rate <= 0) return null;
  if (db.dialect !== 'postgres') return new LocalClientLimiter(rate, burst);
  return new SharedClientLimiter(db, rate, burst, {
    prefix: 'oidc:',
    onDown: (err) =>
      logger.error(
        { error: (err as Error).message },
        'the shared OIDC rate limit cannot reach PostgreSQL: exchanges are answered 503 until it answers again (one probe every 5 s)',
      ),
    onUp: () => logger.info('the shared OIDC rate limit reaches PostgreSQL again'),
  });
}
