// A small strict flag parser for the admin commands (`hoist build` has its own, buildx-compatible one).
import { parseDurationMs } from '../lib/duration.js';
import { ConfigurationError } from '../lib/errors.js';
import { escapeControls } from '../lib/text.js';

export type FlagType = 'string' | 'bool' | 'list';

export interface ParsedFlags {
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
}

/** Parses `--name value`, `--name=value`, bool `--name`, repeatable list flags. Pure. */
export function parseFlags(
  command: string,
  argv: readonly string[],
  spec: Readonly<Record<string, FlagType>>,
): ParsedFlags {
  const values: ParsedFlags['values'] = {};
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith('--') || arg === '--') {
      if (arg.startsWith('-') && arg.length > 1) {
        throw new ConfigurationError(`${command}: unknown flag ${arg}; see "${command} --help"`);
      }
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
    const type = spec[name];
    if (!type) {
      const known = Object.keys(spec)
        .map((k) => `--${k}`)
        .join(', ');
      throw new ConfigurationError(`${command}: unknown flag --${name}${known ? ` (known: ${known})` : ''}`);
    }
    if (type === 'bool') {
      const raw = eq === -1 ? 'true' : arg.slice(eq + 1);
      if (raw !== 'true' && raw !== 'false') {
        throw new ConfigurationError(`${command}: --${name} takes true or false, got "${raw}"`);
      }
      values[name] = raw === 'true';
      continue;
    }
    let value: string;
    if (eq !== -1) value = arg.slice(eq + 1);
    else {
      if (i + 1 >= argv.length) throw new ConfigurationError(`${command}: --${name} needs a value`);
      value = argv[++i]!;
    }
    if (type === 'list') values[name] = [...((values[name] as string[] | undefined) ?? []), value];
    else values[name] = value;
  }
  return { values, positionals };
}

/**
 * Renders rows as an aligned text table. Pure. Every cell has its control characters escaped:
 * cells hold what servers and builds wrote (a build's error), which must not drive the terminal.
 */
export function renderTable(
  headers: string[],
  rows: (string | number | boolean | null | undefined)[][],
): string {
  const cells = [
    headers,
    ...rows.map((r) =>
      r.map((c) => (c === null || c === undefined || c === '' ? '-' : escapeControls(String(c)))),
    ),
  ];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return (
    cells
      .map((r) =>
        r
          .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!)))
          .join('  ')
          .trimEnd(),
      )
      .join('\n') + '\n'
  );
}

/** Parses "30d", "12h", "90m", "3600s" or plain seconds into whole seconds. */
export function parseExpiresIn(raw: string): number | undefined {
  const ms = parseDurationMs(raw);
  return ms === undefined ? undefined : Math.round(ms / 1000);
}
