import { PassThrough } from 'node:stream';
import { describe, expect, it } from '@jest/globals';
import { readSecretLine } from '../../src/cli/admin.js';

function io(tty: boolean) {
  // a terminal's own echo is off only in raw mode: record what readline asks of it
  const rawModes: boolean[] = [];
  const stdin = Object.assign(
    new PassThrough(),
    tty
      ? {
          isTTY: true,
          setRawMode: (on: boolean) => {
            rawModes.push(on);
            return stdin;
          },
        }
      : {},
  );
  let stderr = '';
  let stdout = '';
  return {
    stdin,
    rawModes,
    get stderr() {
      return stderr;
    },
    get stdout() {
      return stdout;
    },
    io: {
      env: {},
      stdin,
      stdout: { write: (s: string) => (stdout += s) },
      stderr: { write: (s: string) => (stderr += s) },
    },
  };
}

describe('hoist login reads the token', () => {
  it('from a terminal: prompts, and never echoes what is typed', async () => {
    const t = io(true);
    const line = readSecretLine(t.io, 'Hoist token: ');
    t.stdin.write('hoist_adm_typed_secret\r');
    expect(await line).toBe('hoist_adm_typed_secret');
    expect(t.stderr).toBe('Hoist token: \n');
    expect(t.stdout).toBe('');
    expect(t.rawModes).toEqual([true, false]);
  });

  it('from a pipe: no prompt, the first line, trimmed', async () => {
    const t = io(false);
    const line = readSecretLine(t.io, 'Hoist token: ');
    t.stdin.end('  hoist_adm_piped  \nignored\n');
    expect(await line).toBe('hoist_adm_piped');
    expect(t.stderr).toBe('');
  });

  it('from an empty pipe: an empty string', async () => {
    const t = io(false);
    const line = readSecretLine(t.io, 'Hoist token: ');
    t.stdin.end();
    expect(await line).toBe('');
  });
});
