import * as fs from 'node:fs';
import * as https from 'node:https';
import * as os from 'node:os';
import * as path from 'node:path';
import * as core from '@actions/core';
import * as tc from '@actions/tool-cache';
import { hoistTrust } from '../../lib/trust.js';
import { installHoist, type InstallResult, type ToolCache } from './install.js';
import { HttpReleaseSource } from './releases.js';

/** Installs the hoist CLI from the server's releases and puts it on the PATH. */
export async function setupHoist(spec: string, apiUrl: string): Promise<InstallResult> {
  const result = await installHoist(spec, {
    releases: new HttpReleaseSource(apiUrl),
    toolCache: process.env.HOIST_CA_CERT ? withPrivateCa(tc) : tc,
    log: (m) => core.info(m),
  });
  core.addPath(result.binDir);
  return result;
}

/**
 * The tool cache's download cannot be told to trust a CA; with HOIST_CA_CERT the tarball of an
 * https:// server is fetched here, trusting the system's CAs and that one.
 */
function withPrivateCa(cache: ToolCache): ToolCache {
  return {
    find: (...a) => cache.find(...a),
    extractTar: (...a) => cache.extractTar(...a),
    cacheDir: (...a) => cache.cacheDir(...a),
    downloadTool: async (url, dest) => {
      if (!url.startsWith('https:')) return cache.downloadTool(url, dest);
      const file = dest ?? path.join(process.env.RUNNER_TEMP || os.tmpdir(), `hoist-${Date.now()}.tar.xz`);
      await new Promise<void>((resolve, reject) => {
        const req = https.get(url, { ca: hoistTrust(), timeout: 60_000 }, (res) => {
          if ((res.statusCode ?? 0) !== 200) {
            res.resume();
            reject(new Error(`Unexpected HTTP response: ${res.statusCode}`));
            return;
          }
          const out = fs.createWriteStream(file, { mode: 0o600 });
          res.pipe(out);
          out.on('finish', () => resolve());
          out.on('error', reject);
          res.on('error', reject);
        });
        req.on('timeout', () => req.destroy(new Error('no answer within 60 s')));
        req.on('error', reject);
      });
      return file;
    },
  };
}
