// Certificates for builders: one CA per builder signs its server certificate
// and every build's short-lived client certificate. EC P-256, no openssl binary:
// a CA is made with @peculiar/x509 on WebCrypto, what it issues is written as DER
// (der.ts) and signed with node:crypto. The extensions are the ones
// Go's crypto/tls (buildkitd) checks: basicConstraints, keyUsage,
// extKeyUsage, subjectAltName, and subject/authority key identifiers.
// @peculiar/x509 uses tsyringe, which needs a Reflect polyfill loaded before it.
import 'reflect-metadata';
import {
  createHash,
  createPrivateKey,
  generateKeyPair,
  sign as signDer,
  webcrypto,
  X509Certificate as NodeX509Certificate,
  type KeyObject,
} from 'node:crypto';
import { promisify } from 'node:util';
import * as x509 from '@peculiar/x509';
import * as der from './der.js';

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
  /** The CA's subject, the issuer of what it signs, byte for byte. */
  issuer: Buffer;
  key: KeyObject;
  /** The authority key identifier extension every certificate it signs carries. */
  aki: Buffer;
}

// A builder's CA signs every build's client certificate (and its renewals): read once, not per
// certificate. Bounded: the oldest go first. A CA that cannot be read is never kept.
const importedCas = new Map<string, ImportedCa>();
const IMPORTED_CAS_MAX = 256;

function importCa(ca: CertKeyPem): ImportedCa {
  const id = `${ca.certPem}\u0000${ca.keyPem}`;
  const hit = importedCas.get(id);
  if (hit) return hit;
  const fields = der.tbsFields(new NodeX509Certificate(ca.certPem).raw);
  const imported = {
    issuer: fields.subject,
    key: createPrivateKey(ca.keyPem),
    aki: akiExtension(fields.publicKey),
  };
  importedCas.set(id, imported);
  while (importedCas.size > IMPORTED_CAS_MAX) importedCas.delete(importedCas.keys().next().value!);
  return imported;
}

/** A key a certificate is issued for: its SubjectPublicKeyInfo and subject key identifier. */
interface CertifiedKey {
  spki: Buffer;
  ski: Buffer;
}

interface FreshKey extends CertifiedKey {
  keyPem: string;
}

const generateEcKey = promisify(generateKeyPair);

async function freshKey(): Promise<FreshKey> {
  const { publicKey, privateKey } = await generateEcKey('ec', { namedCurve: 'P-256' });
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  return {
    spki,
    ski: skiExtension(der.spkiPublicKey(spki)),
    keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
  };
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

// The certificates a CA issues are written as DER directly: a handful of fixed parts around the
// subject, the key and the validity, signed with node:crypto. (Building them with @peculiar/x509
// took about 3 ms of the event loop per certificate, on the path of every build's acquire.)
const hex = (h: string): Buffer => Buffer.from(h, 'hex');
const V3 = hex('a003020102'); // [0] EXPLICIT version v3
const ECDSA_WITH_SHA256 = der.seq(hex('06082a8648ce3d040302'));
const OID_CN = hex('0603550403');
const OID_O = hex('060355040a');
const EXTENSIONS = {
  /** basicConstraints, critical: not a CA. */
  notCa: hex('300c0603551d130101ff04023000'),
  /** keyUsage, critical: digitalSignature. */
  digitalSignature: hex('300e0603551d0f0101ff040403020780'),
  /** extKeyUsage: clientAuth or serverAuth. */
  clientAuth: hex('30130603551d25040c300a06082b06010505070302'),
  serverAuth: hex('30130603551d25040c300a06082b06010505070301'),
};

/** RFC 5280's key identifier: SHA-1 of the key's bits. */
const keyId = (publicKey: Buffer): Buffer => createHash('sha1').update(publicKey).digest();
const skiExtension = (publicKey: Buffer): Buffer =>
  der.seq(hex('0603551d0e'), der.octets(der.octets(keyId(publicKey))));
const akiExtension = (caPublicKey: Buffer): Buffer =>
  der.seq(hex('0603551d23'), der.octets(der.seq(der.tlv(0x80, keyId(caPublicKey)))));

function subjectName(commonName: string, organization?: string): Buffer {
  const rdn = (oid: Buffer, value: string): Buffer => der.set(der.seq(oid, der.utf8(value)));
  return der.seq(rdn(OID_CN, commonName), ...(organization ? [rdn(OID_O, organization)] : []));
}

function toPem(body: Buffer, label: string): string {
  const lines = body.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----`;
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

function issue(
  ca: CertKeyPem,
  opts: {
    subject: Buffer;
    notBefore?: Date;
    notAfter: Date;
    usage: 'clientAuth' | 'serverAuth';
    dnsNames?: string[];
    ipAddresses?: string[];
    key: CertifiedKey;
  },
): string {
  const notBefore = opts.notBefore ?? new Date(Date.now() - BACKDATE_MS);
  assertValidity(notBefore, opts.notAfter);
  const { issuer, key: caKey, aki } = importCa(ca);
  const extensions = [
    EXTENSIONS.notCa,
    EXTENSIONS.digitalSignature,
    EXTENSIONS[opts.usage],
    opts.key.ski,
    aki,
  ];
  const names = [
    ...(opts.dnsNames ?? []).map((n) => der.tlv(0x82, Buffer.from(n, 'ascii'))),
    ...(opts.ipAddresses ?? []).map((ip) => der.tlv(0x87, der.ipBytes(ip))),
  ];
  if (names.length) extensions.push(der.seq(hex('0603551d11'), der.octets(der.seq(...names))));
  const tbs = der.seq(
    V3,
    der.unsigned(hex(randomSerial())),
    ECDSA_WITH_SHA256,
    issuer,
    der.seq(der.time(notBefore), der.time(opts.notAfter)),
    opts.subject,
    opts.key.spki,
    der.tlv(0xa3, der.seq(...extensions)),
  );
  // an ECDSA signature is DER (ECDSA-Sig-Value), as X.509 carries it
  const signature = signDer('sha256', tbs, caKey);
  return toPem(der.seq(tbs, ECDSA_WITH_SHA256, der.bits(signature)), 'CERTIFICATE');
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
  for (const n of opts.dnsNames ?? []) {
    if (!/^[\x21-\x7e]+$/.test(n)) throw new Error(`"${n}" is not a DNS name`);
  }
  for (const ip of opts.ipAddresses ?? []) der.ipBytes(ip); // a bad one takes no key made ahead
  importCa(ca);
  const key = await takeKey();
  const certPem = issue(ca, {
    subject: subjectName(opts.commonName),
    notAfter: opts.notAfter ?? new Date(Date.now() + 365 * DAY_MS),
    usage: 'serverAuth',
    dnsNames: opts.dnsNames,
    ipAddresses: opts.ipAddresses,
    key,
  });
  return { certPem, keyPem: key.keyPem };
}

/** A client certificate (clientAuth) signed by `ca`; give it the lifetime of what it authorizes. */
export async function issueClientCert(
  ca: CertKeyPem,
  opts: { commonName: string; notAfter: Date; notBefore?: Date; organization?: string },
): Promise<CertKeyPem> {
  // the CA first: one that cannot be read takes no key made ahead
  importCa(ca);
  const key = await takeKey();
  const certPem = issue(ca, {
    subject: subjectName(opts.commonName, opts.organization),
    notBefore: opts.notBefore,
    notAfter: opts.notAfter,
    usage: 'clientAuth',
    key,
  });
  return { certPem, keyPem: key.keyPem };
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
  const old = der.tbsFields(new NodeX509Certificate(opts.certPem).raw);
  return issue(ca, {
    subject: old.subject,
    notBefore: opts.notBefore,
    notAfter: opts.notAfter,
    usage: 'clientAuth',
    key: { spki: old.spki, ski: skiExtension(old.publicKey) },
  });
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
