// `hoist build --help` (and `hoist bake --help`): Hoist's own flags, then the flags of the
// buildx subcommand it will run, which it passes through unchanged, so that one help shows
// every flag it accepts.
import { errorMessage } from '../lib/errors.js';
import { BUILDX_INSTALL_HINT, type BuildxCommand, capture } from './buildx.js';

type Env = Record<string, string | undefined>;

/**
 * The flag sections of `buildx build --help`: from "Options:" (docker's plugin help) or
 * "Flags:" (a standalone buildx) to the end, "Global Flags:" included. Undefined when the text
 * has neither. Pure.
 */
export function buildxFlagSections(help: string): string | undefined {
  const lines = help.replace(/\r\n/g, '\n').split('\n');
  const start = lines.findIndex((l) => /^(Options|Flags):\s*$/.test(l));
  if (start < 0) return undefined;
  return lines.slice(start).join('\n').trimEnd();
}

/** The text appended to Hoist's help: buildx's flags, or where to get buildx when it is missing. Pure. */
export function buildxHelpSection(
  found: { display: string; help: string } | { problem: string },
  sub = 'build',
): string {
  if ('problem' in found) {
    return [
      `docker buildx ${sub} options: not shown, because buildx could not be run`,
      `(${found.problem}).`,
      `Every "docker buildx ${sub}" flag is accepted. ${BUILDX_INSTALL_HINT}`,
      '',
    ].join('\n');
  }
  const flags = buildxFlagSections(found.help);
  if (!flags) {
    return `docker buildx ${sub} options: "${found.display} ${sub} --help" printed no flag list; run it to see them.\n`;
  }
  return `docker buildx ${sub} options (from "${found.display} ${sub} --help", passed to buildx unchanged):\n\n${flags}\n`;
}

/** Asks the buildx `hoist <sub>` will run for the flags of `buildx <sub>`; never throws. */
export async function buildxHelp(
  getBuildx: () => Promise<BuildxCommand>,
  env: Env,
  sub = 'build',
): Promise<string> {
  let bx: BuildxCommand;
  try {
    bx = await getBuildx();
  } catch (err) {
    return buildxHelpSection(
      { problem: errorMessage(err).replace(/\.? Install Docker Buildx[\s\S]*$/, '') },
      sub,
    );
  }
  const r = await capture(bx.file, [...bx.prefix, sub, '--help'], env);
  if (r.code !== 0) {
    const why = (r.stderr || r.stdout).trim().split('\n')[0] || `exit code ${r.code}`;
    return buildxHelpSection({ problem: `${bx.display} ${sub} --help: ${why}` }, sub);
  }
  return buildxHelpSection({ display: bx.display, help: r.stdout }, sub);
}
