import { ConfigurationError, HoistApiError, errorMessage } from '../lib/errors.js';
import { FINISH_COMMAND, runFinisher } from './build-finish.js';
import { runBuild } from './build-run.js';
import { VERSION } from './version.js';
import { adoptDeferredExtraCa } from '../lib/extra-ca.js';

// Only `hoist build`'s modules load at start: the other commands' (and what they pull in, such as
// node:readline and node:crypto) are imported when used, as each costs start-up time on every build.
const usage = (adminHelp: string): string => `Usage:  hoist COMMAND

Remote BuildKit builds on your project's persistent Hoist builder.

Commands:
  build      Build with "docker buildx build" on a Hoist builder (hoist build --help)
  bake       Build a bake file's targets with "docker buildx bake" on Hoist builders (hoist bake --help)
  login      Save the Hoist API URL and a token
  projects   Manage projects
  tokens     Manage project tokens
  trust      Manage GitHub OIDC trust policies
  builds     List and show builds
  cache      Prune stale branch caches of the fallback build (hoist cache prune --help)
  server     Run the Hoist control plane (hoist server --help)
  version    Print the version

${adminHelp}`;

/** Dispatches `hoist <command>`; returns the process exit code. */
export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  // the launcher's deferred NODE_EXTRA_CA_CERTS, taken back (extra-ca.ts)
  adoptDeferredExtraCa(process.env);
  const io = {
    env: process.env,
    cwd: process.cwd(),
    stdout: process.stdout,
    stderr: process.stderr,
    stdin: process.stdin,
    finishInBackground: true,
  };
  try {
    switch (command) {
      case 'server': {
        // Loaded only for `hoist server`: the control plane's modules (fastify, SQLite, pg, pino…)
        // would otherwise add hundreds of ms to every `hoist build`.
        const { runServerCommand } = await import('../server/command.js');
        return await runServerCommand(rest);
      }
      case 'build':
        return await runBuild(rest, io);
      case FINISH_COMMAND:
        // the background end of a successful `hoist build`, started by that build (build-finish.ts)
        return await runFinisher(process.stdin, process.env);
      case 'bake':
        return await (await import('./bake-run.js')).runBake(rest, io);
      case 'login':
      case 'projects':
      case 'tokens':
      case 'trust':
      case 'builds':
        return await (await import('./admin.js')).runAdmin(command, rest, io);
      case 'cache':
        return await (await import('./cache.js')).runCache(rest, io);
      case 'version':
      case '--version':
      case '-v':
        process.stdout.write(`hoist ${VERSION}\n`);
        return 0;
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        process.stdout.write(usage((await import('./admin.js')).ADMIN_HELP));
        return command === undefined ? 2 : 0;
    }
    process.stderr.write(`hoist: unknown command "${command}"; run "hoist --help"\n`);
    return 2;
  } catch (err) {
    if (err instanceof HoistApiError && (err.status === 401 || err.status === 403)) {
      process.stderr.write(`hoist: the Hoist server refused the token: ${err.message}\n`);
    } else {
      const message = errorMessage(err);
      // messages of admin commands already name theirs ("hoist tokens create: ...")
      process.stderr.write(`${message.startsWith('hoist ') ? '' : 'hoist: '}${message}\n`);
    }
    return err instanceof ConfigurationError ? 2 : 1;
  }
}
