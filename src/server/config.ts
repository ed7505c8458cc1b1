import { readFileSync, statSync } from 'node:fs';
import { isIP } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { createSecureContext } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { ConfigurationError } from '../lib/errors.js';
import type { PluginOption } from './http/plugin.js';

export const GITHUB_ISSUER = 'https://token.actions.githubusercontent.com';

export interface ServerConfig {
  host: string;
  port: number;
  dataDir: string;
  /** postgres://… or sqlite:PATH; undefined = SQLite file hoist.db in dataDir. */
  databaseUrl?: string;
  /** Certificate chain and key (PEM) to serve HTTPS with; undefined = plain HTTP. */
  tls?: { certPem: string; keyPem: string; certFile: string };
  /**
   * Base URL clients reach this server at (no trailing slash); undefined = http://LISTEN, allowed
   * only on a loopback address. Never taken from a request's Host header.
   */
  publicUrl?: string;
  /**
   * Proxies (addresses, CIDRs or loopback/linklocal/uniquelocal) whose X-Forwarded-For names the
   * client; undefined = the TCP peer is the client.
   */
  trustProxy?: string[];
  /** Said once at start (a password on the command line, a readable secret file). */
  warnings: string[];
  oidc: {
    issuer: string;
    /** undefined = the public URL (or http://HOST:PORT once listening). */
    audience?: string;
    /** Lifetime of an exchanged token, ≤ 3600 s. */
    tokenTtlSec: number;
    /** Oldest `iat` accepted. */
    maxAgeSec: number;
    /** Clock tolerance for exp/nbf/iat, ≤ 60 s. */
    leewaySec: number;
    /** Least time between two JWKS refetches caused by an unknown `kid`. */
    jwksCooldownMs: number;
    jwksTimeoutMs: number;
    /** Exchanges a second allowed per client IP (token bucket); 0 = no limit. */
    rateLimitPerSec: number;
    /** Exchanges a client may send at once before the rate applies. */
    rateBurst: number;
  };
  /** Default lifetime of project tokens; null = no expiry. */
  projectTokenTtlSec: number | null;
  releasesDir: string;
  logLevel: string;
  bodyLimit: number;
  /** When set, GET /metrics needs `Authorization: Bearer <it>`; unset, /metrics is open. */
  metricsToken?: string;
  pluginOptions: Record<string, string | undefined>;
}

/** `dist/releases` next to the bundle running this code (dist/cli/index.js → dist/releases). */
export function defaultReleasesDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const up = ['..', 'releases'];
  return join(here, ...up);
}

interface Spec {
  flag: string;
  env: string;
  help: string;
}
export const SERVER_OPTIONS: Spec[] = [
  { flag: 'listen', env: 'HOIST_LISTEN', help: 'HOST:PORT to listen on (default 127.0.0.1:8080)' },
  {
    flag: 'data-dir',
    env: 'HOIST_DATA_DIR',
    help: 'directory for the SQLite database and builders (required)',
  },
  {
    flag: 'database-url',
    env: 'HOIST_DATABASE_URL',
    help: 'postgres://… to use PostgreSQL; default SQLite in the data dir',
  },
  {
    flag: 'database-url-file',
    env: 'HOIST_DATABASE_URL_FILE',
    help: 'file holding the database URL (keeps a password out of the process list)',
  },
  {
    flag: 'tls-cert',
    env: 'HOIST_TLS_CERT',
    help: 'PEM certificate (chain) to serve HTTPS with; needs --tls-key',
  },
  {
    flag: 'tls-key',
    env: 'HOIST_TLS_KEY',
    help: 'PEM private key of --tls-cert',
  },
  {
    flag: 'public-url',
    env: 'HOIST_PUBLIC_URL',
    help: 'URL clients reach this server at; required unless --listen is a loopback address',
  },
  {
    flag: 'trust-proxy',
    env: 'HOIST_TRUST_PROXY',
    help: 'comma-separated proxy addresses/CIDRs (or "loopback") whose X-Forwarded-For names the client',
  },
  { flag: 'oidc-issuer', env: 'HOIST_OIDC_ISSUER', help: `GitHub OIDC issuer (default ${GITHUB_ISSUER})` },
  {
    flag: 'oidc-audience',
    env: 'HOIST_OIDC_AUDIENCE',
    help: 'audience OIDC tokens must carry; default the public URL',
  },
  {
    flag: 'oidc-token-ttl',
    env: 'HOIST_OIDC_TOKEN_TTL',
    help: 'seconds an exchanged token lives, at most 3600 (default 3600)',
  },
  {
    flag: 'oidc-max-age',
    env: 'HOIST_OIDC_MAX_AGE',
    help: 'oldest ID token accepted, seconds since iat (default 600)',
  },
  {
    flag: 'oidc-leeway',
    env: 'HOIST_OIDC_LEEWAY',
    help: 'clock tolerance in seconds, at most 60 (default 30)',
  },
  {
    flag: 'oidc-jwks-cooldown-ms',
    env: 'HOIST_OIDC_JWKS_COOLDOWN_MS',
    help: 'least ms between JWKS refetches (default 30000)',
  },
  {
    flag: 'oidc-rate-limit',
    env: 'HOIST_OIDC_RATE_LIMIT',
    help: 'OIDC exchanges a second per client IP (in total over every replica on PostgreSQL), 0 = no limit (default 20)',
  },
  {
    flag: 'oidc-rate-burst',
    env: 'HOIST_OIDC_RATE_BURST',
    help: 'OIDC exchanges a client IP may send at once (default twice the rate, at least 1)',
  },
  {
    flag: 'project-token-ttl',
    env: 'HOIST_PROJECT_TOKEN_TTL',
    help: 'default lifetime of project tokens in seconds (default: none)',
  },
  {
    flag: 'releases-dir',
    env: 'HOIST_RELEASES_DIR',
    help: 'directory of hoist-<version>-<os>-<arch>.tar.gz CLI releases',
  },
  {
    flag: 'log-level',
    env: 'HOIST_LOG_LEVEL',
    help: 'fatal, error, warn, info, debug, trace or silent (default info)',
  },
  { flag: 'body-limit', env: 'HOIST_BODY_LIMIT', help: 'largest request body in bytes (default 262144)' },
  {
    flag: 'metrics-token',
    env: 'HOIST_METRICS_TOKEN',
    help: 'bearer token /metrics requires (16+ characters; prefer the variable); default open',
  },
];

/** `label` names where the value came from: "--flag", or the HOIST_* variable when no flag was given. */
function int(label: string, raw: string | undefined, def: number, min: number, max: number): number {
  if (raw === undefined || raw === '') return def;
  if (!/^\d+$/.test(raw.trim()))
    throw new ConfigurationError(`${label} must be a whole number, got "${raw}"`);
  const n = Number(raw);
  if (n < min || n > max)
    throw new ConfigurationError(`${label} must be between ${min} and ${max}, got ${n}`);
  return n;
}

function url(label: string, raw: string): string {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new ConfigurationError(`${label} must be a URL such as https://hoist.example.com, got "${raw}"`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new ConfigurationError(`${label} must be an http(s) URL, got "${raw}"`);
  }
  return raw.replace(/\/+$/, '');
}

export function parseListen(raw: string, label = '--listen'): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(raw.trim());
  if (!m || Number(m[3]) > 65535) {
    throw new ConfigurationError(`${label} must be HOST:PORT such as 127.0.0.1:8080, got "${raw}"`);
  }
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port: Number(m[3]) };
}

const PROXY_NAMES = ['loopback', 'linklocal', 'uniquelocal'];

/** "loopback", "127.0.0.1", "10.0.0.0/8", "::1" …: the proxies whose X-Forwarded-For is believed. */
export function parseTrustProxy(label: string, raw: string): string[] {
  const entries = raw
    .split(',')
    .map((e) => e.trim())
    .filter(Boolean);
  for (const e of entries) {
    const [addr, prefix, extra] = e.split('/');
    const family = isIP(addr ?? '');
    const okPrefix =
      prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 6 ? 128 : 32));
    if (PROXY_NAMES.includes(e) || (family !== 0 && okPrefix && extra === undefined)) continue;
    throw new ConfigurationError(
      `${label} takes the addresses of your reverse proxies, comma-separated: IPs, CIDRs such as 10.0.0.0/8, or ${PROXY_NAMES.join(', ')}; got "${e}". (Trusting every peer would let any client pick the address its rate limit is keyed on.)`,
    );
  }
  if (entries.length === 0)
    throw new ConfigurationError(`${label} is empty; name at least one proxy address`);
  return entries;
}

/** 127.0.0.0/8, ::1, localhost: a listener only this machine can reach. */
export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** True when a database URL carries a password (in the userinfo or a password= parameter). */
export function hasPassword(databaseUrl: string): boolean {
  if (/[?&]password=[^&]/i.test(databaseUrl)) return true;
  try {
    return new URL(databaseUrl).password !== '';
  } catch {
    return /\/\/[^/@:]*:[^@/]+@/.test(databaseUrl);
  }
}

/** The database URL from --database-url-file: its first line; the file should be private. */
function readDatabaseUrlFile(label: string, file: string, warnings: string[]): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigurationError(
      `${label}: cannot read ${file}: ${(err as Error).message}; write the database URL (postgres://USER:PASSWORD@HOST:PORT/DB) into it`,
    );
  }
  const url = text.split(/\r?\n/)[0]!.trim();
  if (!url)
    throw new ConfigurationError(`${label}: ${file} is empty; write the database URL on its first line`);
  const mode = statSync(file).mode & 0o777;
  if (mode & 0o077) {
    warnings.push(
      `the database URL file ${file} is readable by group or others (mode 0${mode.toString(8)}); run chmod 600 ${file}`,
    );
  }
  return url;
}

/** Builds the config from flag values (name → value) with HOIST_* environment variables as fallback. */
export function loadConfig(
  flags: Record<string, string | undefined>,
  env: NodeJS.ProcessEnv,
  pluginOptions: PluginOption[] = [],
): ServerConfig {
  const v = (flag: string): string | undefined => {
    const spec = SERVER_OPTIONS.find((s) => s.flag === flag);
    const val = flags[flag] ?? (spec ? env[spec.env] : undefined);
    return val === '' ? undefined : val;
  };
  const label = (flag: string): string => {
    if (flags[flag]) return `--${flag}`;
    return SERVER_OPTIONS.find((s) => s.flag === flag)?.env ?? `--${flag}`;
  };
  const dataDir = v('data-dir');
  if (!dataDir) {
    throw new ConfigurationError('the data directory is not set: pass --data-dir DIR or set HOIST_DATA_DIR');
  }
  const { host, port } = parseListen(v('listen') ?? '127.0.0.1:8080', label('listen'));
  const publicUrl = v('public-url') && url(label('public-url'), v('public-url')!);
  if (!publicUrl && !isLoopbackHost(host)) {
    throw new ConfigurationError(
      `--public-url (HOIST_PUBLIC_URL) is required when listening on ${host}, which is not a loopback address: it is the URL clients reach this server at, used in build and download URLs and as the default OIDC audience, and it is never taken from a request's Host header (a client controls that). Pass e.g. --public-url https://hoist.example.com`,
    );
  }
  const warnings: string[] = [];
  let databaseUrl = v('database-url');
  const urlFile = v('database-url-file');
  if (urlFile !== undefined) {
    if (databaseUrl !== undefined) {
      throw new ConfigurationError(
        `${label('database-url')} and ${label('database-url-file')} are both set; keep one (the file keeps a password out of the process list)`,
      );
    }
    databaseUrl = readDatabaseUrlFile(label('database-url-file'), urlFile, warnings);
  } else if (flags['database-url'] && hasPassword(flags['database-url'])) {
    warnings.push(
      '--database-url holds a password, and every user of this machine can read command-line arguments in the process list; pass the URL in HOIST_DATABASE_URL or in a file named by --database-url-file (mode 0600) instead, or use PGPASSWORD or ~/.pgpass',
    );
  }
  const rawProxy = v('trust-proxy');
  const trustProxy = rawProxy === undefined ? undefined : parseTrustProxy(label('trust-proxy'), rawProxy);
  const logLevel = v('log-level') ?? 'info';
  if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(logLevel)) {
    throw new ConfigurationError(
      `${label('log-level')} must be fatal, error, warn, info, debug, trace or silent, got "${logLevel}"`,
    );
  }
  const metricsToken = v('metrics-token');
  if (metricsToken !== undefined && !/^[\x21-\x7e]{16,}$/.test(metricsToken)) {
    throw new ConfigurationError(
      `${label('metrics-token')} must be at least 16 printable characters without spaces (for example the output of: openssl rand -hex 32)`,
    );
  }
  const tls = loadTls(v('tls-cert'), v('tls-key'), label);
  const ttl = v('project-token-ttl');
  const rateLimitPerSec = int(label('oidc-rate-limit'), v('oidc-rate-limit'), 20, 0, 10_000_000);
  const plugin: Record<string, string | undefined> = {};
  for (const o of pluginOptions) plugin[o.name] = flags[o.name] ?? env[o.env];
  return {
    host,
    port,
    dataDir: resolve(dataDir),
    tls,
    databaseUrl,
    publicUrl: publicUrl || undefined,
    trustProxy,
    warnings,
    oidc: {
      issuer: url(label('oidc-issuer'), v('oidc-issuer') ?? GITHUB_ISSUER),
      audience: v('oidc-audience'),
      tokenTtlSec: int(label('oidc-token-ttl'), v('oidc-token-ttl'), 3600, 60, 3600),
      maxAgeSec: int(label('oidc-max-age'), v('oidc-max-age'), 600, 10, 86400),
      leewaySec: int(label('oidc-leeway'), v('oidc-leeway'), 30, 0, 60),
      jwksCooldownMs: int(label('oidc-jwks-cooldown-ms'), v('oidc-jwks-cooldown-ms'), 30_000, 0, 3_600_000),
      jwksTimeoutMs: 5000,
      rateLimitPerSec,
      rateBurst: int(
        label('oidc-rate-burst'),
        v('oidc-rate-burst'),
        Math.max(1, 2 * rateLimitPerSec),
        1,
        100_000_000,
      ),
    },
    projectTokenTtlSec: ttl ? int(label('project-token-ttl'), ttl, 0, 60, 10 * 365 * 86400) : null,
    releasesDir: resolve(v('releases-dir') ?? defaultReleasesDir()),
    logLevel,
    bodyLimit: int(label('body-limit'), v('body-limit'), 256 * 1024, 1024, 64 * 1024 * 1024),
    metricsToken,
    pluginOptions: plugin,
  };
}

/** Reads and checks the HTTPS certificate and key now, so a mistake stops the start with a reason. */
function loadTls(
  certFile: string | undefined,
  keyFile: string | undefined,
  label: (flag: string) => string,
): ServerConfig['tls'] {
  if (!certFile && !keyFile) return undefined;
  if (!certFile || !keyFile) {
    const missing = certFile ? 'tls-key' : 'tls-cert';
    throw new ConfigurationError(
      `HTTPS needs both a certificate and its key: ${label(certFile ? 'tls-cert' : 'tls-key')} is set but --${missing} (${SERVER_OPTIONS.find((o) => o.flag === missing)!.env}) is not`,
    );
  }
  const read = (flag: string, file: string): string => {
    try {
      return readFileSync(file, 'utf8');
    } catch (err) {
      throw new ConfigurationError(`${label(flag)}: cannot read ${file} (${(err as Error).message})`);
    }
  };
  const certPem = read('tls-cert', certFile);
  const keyPem = read('tls-key', keyFile);
  try {
    createSecureContext({ cert: certPem, key: keyPem });
  } catch (err) {
    throw new ConfigurationError(
      `${label('tls-cert')} and ${label('tls-key')} are not a PEM certificate and its private key (${(err as Error).message}); give the server certificate (with its intermediates) and the key it was issued for`,
    );
  }
  return { certPem, keyPem, certFile: resolve(certFile) };
}
