/** `hoist server [init] [flags]`; returns the exit code. */
export async function runServerCommand(argv: string[]): Promise<number> {
  process.stderr.write(`hoist server: not available yet (${argv.join(' ')})\n`);
  return 1;
}
