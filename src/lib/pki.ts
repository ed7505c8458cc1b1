// Certificates for builders: one CA per builder signs its server certificate
// and every build's short-lived client certificate. EC P-256 on WebCrypto via
// @peculiar/x509, so no openssl binary is needed. The extensions are the ones
// Go's crypto/tls (buildkitd) checks: basicConstraints, keyUsage,
// extKeyUsage, subjectAltName, and subject/authority key identifiers.
// @peculiar/x509 uses tsyringe, which needs a Reflect polyfill loaded before it.
import 'reflect-metadata';
import { webcrypto, X509Certificate as NodeX509Certificate } from 'node:crypto';
import * as x509 from '@peculiar/x509';

/** A certificate and its private key, both PEM. `keyPem` is PKCS#8 ("BEGIN PRIVATE KEY"). */
export interface CertKeyPem {
  certPem: string;
  keyPem: string;
}

export interface CertInfo {
  subject: string;
  issuer: string;
  serialNumber: string;
  notBefore: Date;
  notAfter: Date;
  /** SHA-256 of the DER certificate, colon-separated upper-case hex (like openssl). */
  fingerprint256: string;
}

type CryptoKey = webcrypto.CryptoKey;
const crypto = webcrypto;
x509.cryptoProvider.set(crypto as ReturnType<typeof x509.cryptoProvider.get>);

const EC_KEY: webcrypto.EcKeyGenParams = { name: 'ECDSA', namedCurve: 'P-256' };
const SIGNING: webcrypto.EcdsaParams = { name: 'ECDSA', hash: 'SHA-256' };
const DAY_MS = 24 * 60 * 60 * 1000;
// Tolerates small clock differences between the signer and the verifier.
const BACKDATE_MS = 5 * 60 * 1000;

/** A random positive 128-bit serial, hex (first byte 0x01..0x7f: positive and minimally encoded). */
function randomSerial(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[0] = (bytes[0]! & 0x7f) | 0x01;
  return Buffer.from(bytes).toString('hex');
}

/** A distinguished name string with RFC 4514 escaping of the values. */
function dn(commonName: string, organization?: string): string {
  const esc = (v: string): string => v.replace(/([,+"\\<>;=])/g, '\\$1');
  const parts = [`CN=${esc(commonName)}`];
  if (organization) parts.push(`O=${esc(organization)}`);
  return parts.join(', ');
}

async function generateKeys(): Promise<webcrypto.CryptoKeyPair> {
  return crypto.subtle.generateKey(EC_KEY, true, ['sign', 'verify']);
}

async function exportKeyPem(key: CryptoKey): Promise<string> {
  const der = await crypto.subtle.exportKey('pkcs8', key);
  return x509.PemConverter.encode(der, 'PRIVATE KEY');
}

interface ImportedCa {
  cert: x509.X509Certificate;
  key: CryptoKey;
  /** The authority key identifier every certificate it signs carries. */
  aki: x509.AuthorityKeyIdentifierExtension;
}

// A builder's CA signs every build's client certificate (and its renewals): parsed and imported
// once, not per certificate (about 3 ms each time). Bounded: the oldest go first.
const importedCas = new Map<string, Promise<ImportedCa>>();
const IMPORTED_CAS_MAX = 256;

function importCa(ca: CertKeyPem): Promise<ImportedCa> {
  const id = `${ca.certPem}\u0000${ca.keyPem}`;
  const hit = importedCas.get(id);
  if (hit) return hit;
  const imported = (async (): Promise<ImportedCa> => {
    const cert = new x509.X509Certificate(ca.certPem);
    const der = x509.PemConverter.decodeFirst(ca.keyPem);
    const key = await crypto.subtle.importKey('pkcs8', der, EC_KEY, false, ['sign']);
    return { cert, key, aki: await x509.AuthorityKeyIdentifierExtension.create(cert.publicKey) };
  })();
  importedCas.set(id, imported);
  imported.catch(() => importedCas.delete(id)); // a bad CA is reported to each caller, not kept
  while (importedCas.size > IMPORTED_CAS_MAX) importedCas.delete(importedCas.keys().next().value!);
  return imported;
}

interface FreshKey {
  keys: webcrypto.CryptoKeyPair;
  keyPem: string;
  ski: x509.SubjectKeyIdentifierExtension;
}

async function freshKey(): Promise<FreshKey> {
  const keys = await generateKeys();
  const [keyPem, ski] = await Promise.all([
    exportKeyPem(keys.privateKey),
    x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
  ]);
  return { keys, keyPem, ski };
}

// Client keys are made ahead, a few at a time, so that issuing a certificate (on the path of every
// build's acquire) only signs. Each key is handed out once and is never kept after that.
const spareKeys: Promise<FreshKey>[] = [];
const SPARE_KEYS = 2;

function takeKey(): Promise<FreshKey> {
  const key = spareKeys.shift() ?? freshKey();
  while (spareKeys.length < SPARE_KEYS) {
    const next = freshKey();
    next.catch(() => undefined); // reported when taken
    spareKeys.push(next);
  }
  return key;
}

function assertValidity(notBefore: Date, notAfter: Date): void {
  if (Number.isNaN(notAfter.getTime()) || Number.isNaN(notBefore.getTime())) {
    throw new Error('certificate validity dates must be valid dates');
  }
  if (notAfter.getTime() <= notBefore.getTime()) {
    throw new Error(
      `certificate notAfter (${notAfter.toISOString()}) must be later than notBefore (${notBefore.toISOString()})`,
    );
  }
}

/** A self-signed CA certificate (10 years unless `notAfter` is given). */
export async function createCa(opts: { commonName: string; notAfter?: Date }): Promise<CertKeyPem> {
  const keys = await generateKeys();
  const notBefore = new Date(Date.now() - BACKDATE_MS);
  const notAfter = opts.notAfter ?? new Date(Date.now() + 3650 * DAY_MS);
  assertValidity(notBefore, notAfter);
  const name = dn(opts.commonName);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: name,
    issuer: name,
    notBefore,
    notAfter,
    signingAlgorithm: SIGNING,
    publicKey: keys.publicKey,
    signingKey: keys.privateKey,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature,
        true,
      ),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certPem: cert.toString('pem'), keyPem: await exportKeyPem(keys.privateKey) };
}

async function issue(
  ca: CertKeyPem,
  opts: {
    commonName: string;
    organization?: string;
    notBefore?: Date;
    notAfter: Date;
    usage: x509.ExtendedKeyUsage;
    altNames: x509.JsonGeneralName[];
    /** Certify this existing key instead of a new one (no private key is returned then). */
    publicKey?: CryptoKey;
  },
): Promise<CertKeyPem> {
  const notBefore = opts.notBefore ?? new Date(Date.now() - BACKDATE_MS);
  assertValidity(notBefore, opts.notAfter);
  const { cert: caCert, key: caKey, aki } = await importCa(ca);
  const fresh = opts.publicKey ? null : await takeKey();
  const publicKey = opts.publicKey ?? fresh!.keys.publicKey;
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
    new x509.ExtendedKeyUsageExtension([opts.usage], false),
    fresh ? fresh.ski : await x509.SubjectKeyIdentifierExtension.create(publicKey),
    aki,
  ];
  if (opts.altNames.length > 0) {
    extensions.push(new x509.SubjectAlternativeNameExtension(opts.altNames, false));
  }
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: dn(opts.commonName, opts.organization),
    issuer: caCert.subjectName,
    notBefore,
    notAfter: opts.notAfter,
    signingAlgorithm: SIGNING,
    publicKey,
    signingKey: caKey,
    extensions,
  });
  return { certPem: cert.toString('pem'), keyPem: fresh ? fresh.keyPem : '' };
}

/**
 * A server certificate (serverAuth) signed by `ca`, valid for the given DNS names and IP
 * addresses (1 year unless `notAfter` is given). Go checks only the SANs, never the CN,
 * so give every name and address clients will dial.
 */
export async function issueServerCert(
  ca: CertKeyPem,
  opts: { commonName: string; dnsNames?: string[]; ipAddresses?: string[]; notAfter?: Date },
): Promise<CertKeyPem> {
  const dnsNames = opts.dnsNames ?? [];
  const ipAddresses = opts.ipAddresses ?? [];
  const altNames: x509.JsonGeneralName[] = [
    ...dnsNames.map((value) => ({ type: 'dns' as const, value })),
    ...ipAddresses.map((value) => ({ type: 'ip' as const, value })),
  ];
  return issue(ca, {
    commonName: opts.commonName,
    notAfter: opts.notAfter ?? new Date(Date.now() + 365 * DAY_MS),
    usage: x509.ExtendedKeyUsage.serverAuth,
    altNames,
  });
}

/** A client certificate (clientAuth) signed by `ca`; give it the lifetime of what it authorizes. */
export async function issueClientCert(
  ca: CertKeyPem,
  opts: { commonName: string; notAfter: Date; notBefore?: Date; organization?: string },
): Promise<CertKeyPem> {
  return issue(ca, {
    commonName: opts.commonName,
    organization: opts.organization,
    notBefore: opts.notBefore,
    notAfter: opts.notAfter,
    usage: x509.ExtendedKeyUsage.clientAuth,
    altNames: [],
  });
}

/**
 * A new certificate for the key of `certPem` (same subject, new serial and validity), signed by
 * `ca`. Renewing this way leaves the holder's key file untouched: a client that reads its cert
 * and key files on every connection never sees a cert next to a key it does not match.
 */
export async function renewClientCert(
  ca: CertKeyPem,
  opts: { certPem: string; notAfter: Date; notBefore?: Date },
): Promise<string> {
  const old = new x509.X509Certificate(opts.certPem);
  const publicKey = await old.publicKey.export(EC_KEY, ['verify']);
  const cn = old.subjectName.getField('CN')[0];
  const org = old.subjectName.getField('O')[0];
  if (!cn) throw new Error('the certificate to renew has no common name');
  const { certPem } = await issue(ca, {
    commonName: cn,
    organization: org,
    notBefore: opts.notBefore,
    notAfter: opts.notAfter,
    usage: x509.ExtendedKeyUsage.clientAuth,
    altNames: [],
    publicKey,
  });
  return certPem;
}

/** Subject, issuer, serial, validity and SHA-256 fingerprint of a PEM certificate. */
export function certInfo(certPem: string): CertInfo {
  const cert = new NodeX509Certificate(certPem);
  return {
    subject: cert.subject,
    issuer: cert.issuer,
    serialNumber: cert.serialNumber,
    notBefore: new Date(cert.validFrom),
    notAfter: new Date(cert.validTo),
    fingerprint256: cert.fingerprint256,
  };
}
