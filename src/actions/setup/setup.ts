import * as core from '@actions/core';
import * as tc from '@actions/tool-cache';
import { installHoist, type InstallResult } from './install.js';
import { HttpReleaseSource } from './releases.js';

/** Installs the hoist CLI from the server's releases and puts it on the PATH. */
export async function setupHoist(spec: string, apiUrl: string): Promise<InstallResult> {
  const result = await installHoist(spec, {
    releases: new HttpReleaseSource(apiUrl),
    toolCache: tc,
    log: (m) => core.info(m),
  });
  core.addPath(result.binDir);
  return result;
}
