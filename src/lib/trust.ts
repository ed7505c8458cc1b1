// The CAs Hoist trusts for https:// server URLs. Its own module so that node:tls loads only when
// an https URL is used (see send() in client.ts).
import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import { caPemFromEnv } from './client.js';
import { deferredExtraCaFile } from './extra-ca.js';

const SYSTEM_BUNDLES = [
  '/etc/ssl/certs/ca-certificates.crt',
  '/etc/pki/tls/certs/ca-bundle.crt',
  '/etc/ssl/cert.pem',
];

let systemCas: string[] | undefined;
/**
 * Node's own roots plus the system bundle, so a CA installed in the system store works too, plus
 * the NODE_EXTRA_CA_CERTS file the launcher kept Node from loading at start (extra-ca.ts).
 */
export function trustedCas(): string[] {
  if (!systemCas) {
    systemCas = [...rootCertificates];
    for (const f of SYSTEM_BUNDLES) {
      try {
        systemCas.push(readFileSync(f, 'utf8'));
        break;
      } catch {
        /* not on this system */
      }
    }
    const extra = deferredExtraCaFile();
    if (extra) {
      try {
        systemCas.push(readFileSync(extra, 'utf8'));
      } catch (err) {
        // what Node itself does with a file it cannot load: warn, and trust the rest
        process.emitWarning(
          `Ignoring extra certs from \`${extra}\` (NODE_EXTRA_CA_CERTS), load failed: ${(err as Error).message}`,
        );
      }
    }
  }
  return systemCas;
}

/** CAs to trust for https:// Hoist URLs: the system's, plus HOIST_CA_CERT when set. */
export function hoistTrust(env: NodeJS.ProcessEnv = process.env): string[] {
  const extra = caPemFromEnv(env);
  return extra ? [...trustedCas(), extra] : trustedCas();
}
