// DER (ITU-T X.690), as much as Hoist's certificates need: writing the few value types of a
// certificate, and reading a certificate's top-level fields back as raw bytes.
import { isIP } from 'node:net';

/** One value: tag, definite length, content. */
export function tlv(tag: number, ...content: Uint8Array[]): Buffer {
  const body = Buffer.concat(content);
  const n = body.length;
  let len: number[];
  if (n < 0x80) len = [n];
  else if (n < 0x100) len = [0x81, n];
  else if (n < 0x10000) len = [0x82, n >> 8, n & 0xff];
  else throw new Error(`a DER value of ${n} bytes is longer than a certificate needs`);
  return Buffer.concat([Buffer.from([tag, ...len]), body]);
}

export const seq = (...content: Uint8Array[]): Buffer => tlv(0x30, ...content);
export const set = (...content: Uint8Array[]): Buffer => tlv(0x31, ...content);
export const octets = (content: Uint8Array): Buffer => tlv(0x04, content);
/** A BIT STRING of whole bytes (no unused bits). */
export const bits = (content: Uint8Array): Buffer => tlv(0x03, Buffer.from([0]), content);
export const utf8 = (s: string): Buffer => tlv(0x0c, Buffer.from(s, 'utf8'));

/** A non-negative INTEGER from big-endian bytes: minimal, with a 0 byte where the top bit is set. */
export function unsigned(bytes: Uint8Array): Buffer {
  let i = 0;
  while (i < bytes.length - 1 && bytes[i] === 0 && bytes[i + 1]! < 0x80) i++;
  const b = Buffer.from(bytes.subarray(i));
  return tlv(0x02, b[0]! >= 0x80 ? Buffer.concat([Buffer.from([0]), b]) : b);
}

/**
 * An X.509 Time (RFC 5280 4.1.2.5): UTCTime for 1950 to 2049, GeneralizedTime otherwise, in whole
 * seconds (a fraction is cut off, never rounded up past the time given).
 */
export function time(d: Date): Buffer {
  if (Number.isNaN(d.getTime())) throw new Error('a certificate time must be a valid date');
  const year = d.getUTCFullYear();
  if (year < 0 || year > 9999) throw new Error(`year ${year} cannot be written in a certificate`);
  const digits = d.toISOString().slice(0, 19).replace(/[-:T]/g, ''); // YYYYMMDDHHMMSS
  return year >= 1950 && year < 2050
    ? tlv(0x17, Buffer.from(`${digits.slice(2)}Z`, 'ascii'))
    : tlv(0x18, Buffer.from(`${digits}Z`, 'ascii'));
}

/** The 4 or 16 bytes of an IP address (an iPAddress SAN), IPv4-in-IPv6 tails included. */
export function ipBytes(ip: string): Buffer {
  const family = isIP(ip);
  if (family === 4) return Buffer.from(ip.split('.').map(Number));
  if (family !== 6 || ip.includes('%')) throw new Error(`"${ip}" is not an IP address`);
  let text = ip;
  const lastColon = text.lastIndexOf(':');
  if (text.includes('.', lastColon)) {
    const [a, b, c, d] = text
      .slice(lastColon + 1)
      .split('.')
      .map(Number) as [number, number, number, number];
    text = `${text.slice(0, lastColon + 1)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.split('::') as [string, string | undefined];
  const groups = (s: string | undefined): number[] => (s ? s.split(':').map((g) => parseInt(g, 16)) : []);
  const h = groups(head);
  const t = groups(tail);
  const all = tail === undefined ? h : [...h, ...new Array<number>(8 - h.length - t.length).fill(0), ...t];
  const out = Buffer.alloc(16);
  all.forEach((g, i) => out.writeUInt16BE(g, i * 2));
  return out;
}

/** One value read at `offset`: its tag, where its content starts and where it ends. */
export interface Read {
  tag: number;
  start: number;
  contentStart: number;
  end: number;
}

export function read(buf: Uint8Array, offset: number): Read {
  const tag = buf[offset];
  let n = buf[offset + 1];
  if (tag === undefined || n === undefined) throw new Error('truncated DER');
  let p = offset + 2;
  if (n & 0x80) {
    const count = n & 0x7f;
    if (count < 1 || count > 3) throw new Error('unsupported DER length');
    n = 0;
    for (let i = 0; i < count; i++) n = (n << 8) | buf[p++]!;
  }
  if (p + n > buf.length) throw new Error('truncated DER');
  return { tag, start: offset, contentStart: p, end: p + n };
}

/** The values inside a constructed value, in order. */
export function children(buf: Uint8Array, parent: Read): Read[] {
  const out: Read[] = [];
  for (let p = parent.contentStart; p < parent.end;) {
    const r = read(buf, p);
    out.push(r);
    p = r.end;
  }
  return out;
}

/** The top-level fields of a certificate's TBSCertificate, each as its raw DER. */
export interface TbsFields {
  serial: Buffer;
  issuer: Buffer;
  subject: Buffer;
  /** SubjectPublicKeyInfo. */
  spki: Buffer;
  /** The key itself: the content of the SubjectPublicKeyInfo's BIT STRING, unused-bits byte dropped. */
  publicKey: Buffer;
}

export function tbsFields(certDer: Uint8Array): TbsFields {
  const cert = read(certDer, 0);
  const tbs = children(certDer, cert)[0];
  if (cert.tag !== 0x30 || tbs?.tag !== 0x30) throw new Error('not an X.509 certificate');
  const f = children(certDer, tbs);
  const at = f[0]?.tag === 0xa0 ? 1 : 0; // [0] version is optional (v1)
  const [serial, , issuer, , subject, spki] = f.slice(at);
  if (!serial || !issuer || !subject || !spki) throw new Error('not an X.509 certificate');
  const raw = (r: Read): Buffer => Buffer.from(certDer.subarray(r.start, r.end));
  return {
    serial: raw(serial),
    issuer: raw(issuer),
    subject: raw(subject),
    spki: raw(spki),
    publicKey: spkiPublicKey(raw(spki)),
  };
}

/** The key of a SubjectPublicKeyInfo: its BIT STRING's content, unused-bits byte dropped. */
export function spkiPublicKey(spki: Uint8Array): Buffer {
  const key = children(spki, read(spki, 0))[1];
  if (key?.tag !== 0x03) throw new Error('not a SubjectPublicKeyInfo');
  return Buffer.from(spki.subarray(key.contentStart + 1, key.end));
}
