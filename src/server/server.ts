import type { FastifyInstance } from 'fastify';
import { pino, type DestinationStream, type Logger } from 'pino';
import { PLUGINS, allMigrations, buildApp } from './http/app.js';
import type { ServerConfig } from './config.js';
import { dataDirWarning, migrate, openDatabase, redactUrl, type Db } from './db/index.js';
import type { HoistDeps, HoistPlugin } from './http/plugin.js';
import { nameLooksLikeId } from './projects/store.js';
import { type Clock } from './util.js';

export interface RunningServer {
  app: FastifyInstance;
  deps: HoistDeps;
  /** http://HOST:PORT actually listened on. */
  url: string;
  purgeExpired(): Promise<{ jtis: number; tokens: number }>;
  /** Writes the counts of open aggregated-refusal windows (see RefusalAudit) now. */
  flushRefusals(): Promise<void>;
  /** Stops accepting, waits for requests in flight, runs shutdown hooks, closes the database. */
  stop(): Promise<void>;
}

/** The server's JSON logger, to stdout unless `destination` is given (tests read the lines). */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  const opts = {
    level,
    base: { service: 'hoist-server' },
    redact: { paths: ['req.headers.authorization', 'token', '*.token'], censor: '***' },
  };
  return destination ? pino(opts, destination) : pino(opts);
}

/** Opens and migrates the database named by the config. */
export async function openMigrated(
  config: ServerConfig,
  plugins: HoistPlugin[] = PLUGINS,
  logger?: Logger,
): Promise<Db> {
  const db = await openDatabase({
    databaseUrl: config.databaseUrl,
    dataDir: config.dataDir,
    onIdleError: (err) => logger?.warn({ err }, 'an idle PostgreSQL connection failed; it will be replaced'),
    onWarning: (message) => logger?.warn(message),
  });
  try {
    await migrate(db, allMigrations(plugins));
  } catch (err) {
    await db.close().catch(() => undefined);
    throw err;
  }
  return db;
}

export async function startServer(
  config: ServerConfig,
  opts: { logger?: Logger; clock?: Clock; plugins?: HoistPlugin[] } = {},
): Promise<RunningServer> {
  const logger = opts.logger ?? createLogger(config.logLevel);
  const plugins = opts.plugins ?? PLUGINS;
  for (const w of config.warnings) logger.warn(w);
  const loose = dataDirWarning(config.dataDir);
  if (loose) logger.warn({ data_dir: config.dataDir }, loose);
  const db = await openMigrated(config, plugins, logger);
  let built: Awaited<ReturnType<typeof buildApp>>;
  try {
    built = await buildApp({ config, db, logger, clock: opts.clock, plugins });
    await built.app.ready();
    for (const fn of built.lifecycle.starts) await fn();
    await built.app.listen({ host: config.host, port: config.port });
  } catch (err) {
    await db.close().catch(() => undefined);
    throw err;
  }
  const { app, deps, lifecycle } = built;
  const url = deps.publicUrl();
  logger.info(
    {
      listen: app.addresses(),
      public_url: url,
      database: config.databaseUrl ? redactUrl(config.databaseUrl) : `sqlite in ${config.dataDir}`,
      oidc_issuer: config.oidc.issuer,
      oidc_audience: config.oidc.audience ?? url,
      releases_dir: config.releasesDir,
    },
    'hoist server listening',
  );
  if (!config.publicUrl && !config.oidc.audience) {
    // Workflows ask for ID tokens with the URL they reach Hoist at; a listen address rarely is it.
    logger.warn(
      { oidc_audience: url },
      `neither --public-url nor --oidc-audience is set: GitHub OIDC tokens must carry the audience ${url}; set --public-url to the URL clients use`,
    );
  }
  // Refused since, but a project created before could still shadow another's id.
  for (const p of await deps.projects.list()) {
    if (nameLooksLikeId(p.name)) {
      logger.warn(
        { project_id: p.id, name: p.name },
        `project "${p.name}" has a name shaped like an id, so commands that take "id or name" may act on another project; rename it (PATCH /v1/projects/${p.id} {"name": "..."})`,
      );
    }
  }
  if (config.trustProxy) {
    logger.info(
      { trust_proxy: config.trustProxy },
      'X-Forwarded-For from these proxies names the client (rate limits and audit use it)',
    );
  }
  if (config.tls) {
    logger.info({ tls_cert: config.tls.certFile }, 'serving HTTPS');
  } else {
    const loopback = /^(127\.|::1$|localhost$)/.test(config.host);
    logger[loopback ? 'info' : 'warn'](
      { listen: `${config.host}:${config.port}` },
      'serving plain HTTP: tokens and builder keys cross the network in clear; use it only behind a reverse proxy on this host that terminates TLS, or set --tls-cert and --tls-key',
    );
  }
  if (config.metricsToken === undefined) {
    logger.info(
      { metrics: `${url}/metrics` },
      '/metrics is open to anyone who can reach this server (the Prometheus convention); set --metrics-token (HOIST_METRICS_TOKEN) to require a bearer token',
    );
  }
  let stopping: Promise<void> | null = null;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      await app.close();
      for (const fn of [...lifecycle.shutdowns].reverse()) {
        try {
          await fn();
        } catch (err) {
          logger.error({ err }, 'shutdown hook failed');
        }
      }
      await db.close();
      logger.info('hoist server stopped');
    })());
  const addr = app.server.address();
  const listened =
    addr && typeof addr === 'object'
      ? `${config.tls ? 'https' : 'http'}://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}`
      : url;
  return {
    app,
    deps,
    url: listened,
    stop,
    purgeExpired: built.purgeExpired,
    flushRefusals: built.flushRefusals,
  };
}
