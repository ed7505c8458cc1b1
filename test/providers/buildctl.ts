// Test-side mTLS probe of a builder: `buildctl debug workers -v` with a CA and an optional
// client certificate, PEMs 0600 in a private temp dir that is removed afterwards.
import { execFile } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface BuilderAddress {
  endpoint: string;
  serverName: string;
  caPem: string;
}

/** Does the builder let this client certificate (or none) in? `out` is stdout, or the error text. */
export async function buildctlWorkers(
  buildctl: string,
  tmpParent: string,
  builder: BuilderAddress,
  cert: { certPem: string; keyPem: string } | null,
): Promise<{ ok: boolean; out: string }> {
  const dir = await fs.mkdtemp(path.join(tmpParent, 'buildctl-'));
  try {
    await fs.writeFile(path.join(dir, 'ca.pem'), builder.caPem);
    const certArgs: string[] = [];
    if (cert) {
      await fs.writeFile(path.join(dir, 'cert.pem'), cert.certPem);
      await fs.writeFile(path.join(dir, 'key.pem'), cert.keyPem, { mode: 0o600 });
      certArgs.push('--tlscert', path.join(dir, 'cert.pem'), '--tlskey', path.join(dir, 'key.pem'));
    }
    const { stdout } = await run(
      buildctl,
      [
        '--addr',
        builder.endpoint,
        '--tlsservername',
        builder.serverName,
        '--tlscacert',
        path.join(dir, 'ca.pem'),
        ...certArgs,
        '--timeout',
        '10',
        'debug',
        'workers',
        '-v',
      ],
      { timeout: 20_000 },
    );
    return { ok: true, out: stdout };
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    return { ok: false, out: e.stderr || e.message };
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}
