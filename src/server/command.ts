import { parseArgs } from 'node:util';
import { ConfigurationError, errorMessage } from '../lib/errors.js';
import { PLUGINS } from './http/app.js';
import { SERVER_OPTIONS, loadConfig, type ServerConfig } from './config.js';
import { redactUrl } from './db/index.js';
import { createLogger, openMigrated, startServer } from './server.js';
import { TokenService } from './auth/tokens.js';
import { AuditLog } from './audit/log.js';
import { systemClock } from './util.js';

function usage(): string {
  const opts = [
    ...SERVER_OPTIONS,
    ...PLUGINS.flatMap((p) => p.options ?? []).map((o) => ({
      flag: o.name,
      env: o.env,
      help: o.description,
    })),
  ];
  const width = Math.max(...opts.map((o) => o.flag.length)) + 8;
  return [
    'Usage: hoist server [flags]            run the control plane',
    '       hoist server init [flags]       create the database and print a new admin token (last line)',
    '',
    'Flags (each also read from its environment variable):',
    ...opts.map((o) => `  --${o.flag} VALUE`.padEnd(width + 6) + `${o.help} [${o.env}]`),
    '',
  ].join('\n');
}

function parse(argv: string[]): { config: ServerConfig } | { help: true } {
  const pluginOptions = PLUGINS.flatMap((p) => p.options ?? []);
  const options: Record<string, { type: 'string' } | { type: 'boolean'; short?: string }> = {
    help: { type: 'boolean', short: 'h' },
  };
  for (const o of SERVER_OPTIONS) options[o.flag] = { type: 'string' };
  for (const o of pluginOptions) options[o.name] = { type: 'string' };
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({ args: argv, options, strict: true, allowPositionals: false }));
  } catch (err) {
    throw new ConfigurationError(
      `${errorMessage(err).replace(/\. To specify a positional.*$/s, '')}\n\n${usage()}`,
    );
  }
  if (values.help) return { help: true };
  const flags: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(values)) if (typeof v === 'string') flags[k] = v;
  return { config: loadConfig(flags, process.env, pluginOptions) };
}

/** `hoist server init`: migrates the database and prints a new admin token as the last stdout line. */
async function init(config: ServerConfig): Promise<number> {
  for (const w of config.warnings) process.stderr.write(`hoist server: warning: ${w}\n`);
  const db = await openMigrated(config);
  try {
    const tokens = new TokenService(db, systemClock);
    const existing = await tokens.list({ kind: 'admin' });
    const { token, info } = await db.transaction(async (tx) => {
      const minted = await tokens.mint(
        { kind: 'admin', name: existing.length ? 'admin (server init)' : 'initial admin' },
        tx,
      );
      await new AuditLog(db, systemClock).record(
        {
          action: 'token.create',
          outcome: 'ok',
          project_id: null,
          subject: 'hoist server init',
          reason: `admin token ${minted.info.id} created by hoist server init`,
          details: { token_id: minted.info.id },
        },
        tx,
      );
      return minted;
    });
    const where = config.databaseUrl ? redactUrl(config.databaseUrl) : `${config.dataDir}/hoist.db`;
    process.stdout.write(
      `Hoist database ready (${where}). New admin token ${info.id}${existing.length ? ` (${existing.length} other admin token(s) exist)` : ''}; it is shown only once:\n${token}\n`,
    );
    return 0;
  } finally {
    await db.close();
  }
}

/** `hoist server [init] [flags]`; returns the exit code. */
export async function runServerCommand(argv: string[]): Promise<number> {
  const isInit = argv[0] === 'init';
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(isInit ? argv.slice(1) : argv);
  } catch (err) {
    if (err instanceof ConfigurationError) {
      process.stderr.write(`hoist server: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  if ('help' in parsed) {
    process.stdout.write(usage());
    return 0;
  }
  const { config } = parsed;
  try {
    if (isInit) return await init(config);
    const server = await startServer(config);
    await new Promise<void>((resolve) => {
      const onSignal = (sig: NodeJS.Signals): void => {
        server.deps.logger.info({ signal: sig }, 'shutting down');
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        server.stop().then(resolve, (err: unknown) => {
          server.deps.logger.error({ err }, 'shutdown failed');
          resolve();
        });
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
    });
    return 0;
  } catch (err) {
    if (err instanceof ConfigurationError) {
      process.stderr.write(`hoist server: ${err.message}\n`);
      return 2;
    }
    const code = (err as { code?: string }).code;
    if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL') {
      process.stderr.write(
        `hoist server: cannot listen on ${config.host}:${config.port}: ${errorMessage(err)}; pick another --listen address\n`,
      );
      return 1;
    }
    throw err;
  }
}

export { createLogger };
