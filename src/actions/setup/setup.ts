import * as core from '@actions/core';
import * as tc from '@actions/tool-cache';
import { HoistClient } from '../../lib/client.js';
import { installHoist, type InstallResult } from './install.js';

/** Installs the hoist CLI from the server's releases and puts it on the PATH. */
export async function setupHoist(spec: string, apiUrl: string): Promise<InstallResult> {
  const client = new HoistClient({ apiUrl, userAgent: 'hoist-setup-action' });
  const result = await installHoist(spec, {
    releases: client,
    toolCache: tc,
    log: (m) => core.info(m),
  });
  core.addPath(result.binDir);
  return result;
}
