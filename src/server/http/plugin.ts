// Types a server plugin (the builds API) codes against. Types only: importing this file
// from a plugin creates no runtime cycle with app.ts.
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Auth } from '../auth/guard.js';
import type { ServerConfig } from '../config.js';
import type { Db, Migration } from '../db/index.js';
import type { ProjectStore } from '../projects/store.js';
import type { AuditLog } from '../audit/log.js';
import type { TokenService } from '../auth/tokens.js';
import type { Clock } from '../util.js';
import type { Leader } from '../cluster/leader.js';

/** Start and shutdown hooks; shutdown hooks run in reverse order after the HTTP server stopped accepting. */
export interface Lifecycle {
  /** Runs after migrations and route registration, before the server accepts requests (re-adopt builders here). */
  onStart(fn: () => Promise<void> | void): void;
  /** Runs on SIGTERM/SIGINT or stop(), before the database closes (stop or hand over builders here). */
  onShutdown(fn: () => Promise<void> | void): void;
}

export interface HoistDeps {
  config: ServerConfig;
  db: Db;
  logger: Logger;
  clock: Clock;
  tokens: TokenService;
  auth: Auth;
  projects: ProjectStore;
  audit: AuditLog;
  metrics: Registry;
  lifecycle: Lifecycle;
  /**
   * Which replica runs background work (reconciliation, sweeps, provisioning loops): gate such
   * loops with leader.isLeader() and start them in leader.onElected(). See src/server/cluster/.
   */
  leader: Leader;
  /**
   * The public base URL (no trailing slash): --public-url, else the loopback address listened on.
   * Never derived from a request (its Host header is the client's choice).
   */
  publicUrl(): string;
}

/** An extra `hoist server` flag a plugin reads from `config.pluginOptions[name]`. */
export interface PluginOption {
  /** Flag name without dashes, e.g. "builder-idle-timeout". */
  name: string;
  /** Environment variable, e.g. HOIST_BUILDER_IDLE_TIMEOUT. */
  env: string;
  description: string;
}

export interface HoistPlugin {
  name: string;
  /** Appended after the core migrations, in order. Ids must be unique, e.g. "builds-001-init". */
  migrations?: Migration[];
  options?: PluginOption[];
  register(app: FastifyInstance, deps: HoistDeps): Promise<void> | void;
}
