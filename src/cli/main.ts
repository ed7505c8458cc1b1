import { errorMessage } from '../lib/errors.js';

/** Dispatches `hoist <command>`; returns the process exit code. */
export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    if (command === 'server') {
      const { runServerCommand } = await import('../server/command.js');
      return await runServerCommand(rest);
    }
    process.stderr.write(`hoist: unknown command "${command ?? ''}"\n`);
    return 2;
  } catch (err) {
    process.stderr.write(`hoist: ${errorMessage(err)}\n`);
    return 1;
  }
}
