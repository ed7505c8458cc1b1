import * as core from '@actions/core';
import { parse } from 'csv-parse/sync';
import { ConfigurationError, errorMessage } from '../../lib/errors.js';

/** How one list input is split; the same knobs docker's actions toolkit exposes. */
export interface ListOptions {
  /** One item per line (or per CSV record): commas inside a line do not split it. */
  ignoreComma?: boolean;
  /** The CSV quote character; `false` keeps quotes as part of the value. */
  quote?: string | false;
  /** Keep leading and trailing whitespace of the input and of each item. */
  trimWhitespace?: boolean;
}

/**
 * Splits a list input the way docker/build-push-action does: parsed as CSV so
 * that quoted values may hold commas and newlines, one record per line, then
 * (unless `ignoreComma`) every record is split on commas as well.
 */
export function parseList(input: string, opts: ListOptions = {}): string[] {
  if (input === '') return [];
  const records = parse(input, {
    columns: false,
    relaxQuotes: true,
    relaxColumnCount: true,
    skipEmptyLines: true,
    // csv-parse treats `false`/`null` as "no quoting at all".
    quote: opts.quote === false ? null : opts.quote,
  }) as string[][];
  const items: string[] = [];
  for (const record of records) {
    if (record.length === 1) {
      if (opts.ignoreComma) items.push(record[0] as string);
      else items.push(...(record[0] as string).split(','));
    } else if (!opts.ignoreComma) {
      items.push(...record);
    } else {
      items.push(record.join(','));
    }
  }
  return items.filter((item) => item).map((item) => (opts.trimWhitespace === false ? item : item.trim()));
}

/**
 * Reads a list input (INPUT_<NAME>) and splits it with {@link parseList}; a CSV error
 * (an unclosed quote) names the input instead of surfacing csv-parse's bare message.
 */
export function getListInput(name: string, opts: ListOptions = {}): string[] {
  const raw = core.getInput(name, { trimWhitespace: opts.trimWhitespace !== false });
  try {
    return parseList(raw, opts);
  } catch (err) {
    throw new ConfigurationError(
      `input '${name}' could not be parsed as a list (${errorMessage(err)}): put one item per line, and close every double quote or write the item without quotes`,
    );
  }
}

const TRUE_VALUES = ['true', 'True', 'TRUE'];
const FALSE_VALUES = ['false', 'False', 'FALSE'];

/**
 * A boolean input with the YAML 1.2 core-schema spellings that @actions/core
 * accepts. An empty value means the action.yml default (the runner always
 * sets it, but a caller outside a runner may not).
 */
export function getBoolInput(name: string, defaultValue: boolean): boolean {
  const raw = core.getInput(name);
  if (raw === '') return defaultValue;
  if (TRUE_VALUES.includes(raw)) return true;
  if (FALSE_VALUES.includes(raw)) return false;
  throw new ConfigurationError(
    `input '${name}' must be true or false (YAML 1.2 core schema: true, True, TRUE, false, False, FALSE); got "${raw}"`,
  );
}

/** Go's strconv.ParseBool, which buildx uses for attestation flags and env toggles. */
export function parseGoBool(value: string): boolean {
  switch (value) {
    case '1':
    case 't':
    case 'T':
    case 'true':
    case 'TRUE':
    case 'True':
      return true;
    case '0':
    case 'f':
    case 'F':
    case 'false':
    case 'FALSE':
    case 'False':
      return false;
    default:
      throw new Error(`parseBool syntax error: ${value}`);
  }
}

/**
 * A boolean environment variable read the way docker's action reads DOCKER_BUILD_SUMMARY and
 * BUILDX_NO_DEFAULT_ATTESTATIONS: unset or empty means the default, and a value that is not a
 * Go boolean fails, naming the variable (docker fails on it too, with a bare parse error).
 */
export function envBool(
  name: string,
  defaultValue: boolean,
  env: Record<string, string | undefined> = process.env,
): boolean {
  const value = env[name];
  if (!value) return defaultValue;
  try {
    return parseGoBool(value);
  } catch {
    throw new ConfigurationError(
      `${name} must be a boolean (1, t, T, true, TRUE, True, 0, f, F, false, FALSE, False); got "${value}"`,
    );
  }
}

/** A lenient environment toggle such as DOCKER_DEFAULT_GIT_CONTEXT_PR_HEAD_REF: unset or unparsable means the default. */
export function envToggle(value: string | undefined, defaultValue: boolean): boolean {
  if (!value) return defaultValue;
  try {
    return parseGoBool(value);
  } catch {
    return defaultValue;
  }
}
