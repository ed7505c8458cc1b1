// The action's private temp folder: secret files (build secrets, certificates) live there for the
// step only, and the post step removes it whatever happened in the main step.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as core from '@actions/core';

const STATE = 'tmpDir';

/** Makes a 0700 folder under RUNNER_TEMP and remembers it for `removePrivateTempDir` in the post step. */
export function makePrivateTempDir(prefix: string): string {
  const base = process.env.RUNNER_TEMP || os.tmpdir();
  fs.mkdirSync(base, { recursive: true });
  const dir = fs.mkdtempSync(path.join(base, prefix));
  fs.chmodSync(dir, 0o700);
  core.saveState(STATE, dir);
  return dir;
}

/** The post step: removes the folder the main step made, if it made one. */
export async function removePrivateTempDir(): Promise<void> {
  const dir = core.getState(STATE);
  if (!dir) return;
  try {
    fs.rmSync(dir, { recursive: true, force: true });
    core.info(`Removed temp folder ${dir}`);
  } catch (err) {
    core.warning(`Failed to remove temp folder ${dir}: ${String(err)}`);
  }
}
