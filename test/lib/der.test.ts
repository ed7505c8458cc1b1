// The DER writer and reader behind Hoist's certificates (src/lib/der.ts), against node:crypto's
// and openssl's own reading of what it writes (through X509Certificate in pki.test.ts).
import { describe, expect, it } from '@jest/globals';
import { X509Certificate } from 'node:crypto';
import { ipBytes, read, tbsFields, time, tlv, unsigned } from '../../src/lib/der.js';
import { createCa } from '../../src/lib/pki.js';

describe('der', () => {
  it('writes short and long definite lengths', () => {
    for (const [n, head] of [
      [0, '0400'],
      [127, '047f'],
      [128, '048180'],
      [255, '0481ff'],
      [256, '04820100'],
      [65535, '0482ffff'],
    ] as const) {
      const v = tlv(0x04, Buffer.alloc(n, 7));
      expect(v.subarray(0, head.length / 2).toString('hex')).toBe(head);
      expect(v.length).toBe(head.length / 2 + n);
      expect(read(v, 0)).toEqual({ tag: 0x04, start: 0, contentStart: head.length / 2, end: v.length });
    }
    expect(() => tlv(0x04, Buffer.alloc(65536))).toThrow(/longer than a certificate needs/);
  });

  it('writes non-negative integers minimally, with a zero byte before a high bit', () => {
    expect(unsigned(Buffer.from('00007f', 'hex')).toString('hex')).toBe('02017f');
    expect(unsigned(Buffer.from('80', 'hex')).toString('hex')).toBe('02020080');
    expect(unsigned(Buffer.from('000080', 'hex')).toString('hex')).toBe('02020080');
    expect(unsigned(Buffer.from('00', 'hex')).toString('hex')).toBe('020100');
    expect(unsigned(Buffer.from('0102', 'hex')).toString('hex')).toBe('02020102');
  });

  it('writes UTCTime up to 2049 and GeneralizedTime from 2050, whole seconds cut, never rounded', () => {
    const ascii = (b: Buffer): string => b.subarray(2).toString('ascii');
    const t = time(new Date('2026-11-30T02:03:04.999Z'));
    expect(t[0]).toBe(0x17);
    expect(ascii(t)).toBe('261130020304Z');
    expect(ascii(time(new Date('2049-12-31T23:59:59Z')))).toBe('491231235959Z');
    const g = time(new Date('2050-01-01T00:00:00Z'));
    expect(g[0]).toBe(0x18);
    expect(ascii(g)).toBe('20500101000000Z');
    expect(ascii(time(new Date('1950-01-01T00:00:00Z')))).toBe('500101000000Z');
    expect(time(new Date('1949-12-31T23:59:59Z'))[0]).toBe(0x18);
    expect(() => time(new Date('nope'))).toThrow(/valid date/);
  });

  it('reads IP addresses as their bytes, IPv6 in every written form', () => {
    const h = (ip: string): string => ipBytes(ip).toString('hex');
    expect(h('127.0.0.1')).toBe('7f000001');
    expect(h('::1')).toBe('00000000000000000000000000000001');
    expect(h('::')).toBe('0'.repeat(32));
    expect(h('fd00::5:1')).toBe('fd000000000000000000000000050001');
    expect(h('2001:db8:0:0:1:0:0:1')).toBe('20010db8000000000001000000000001');
    expect(h('2001:DB8::')).toBe('20010db8000000000000000000000000');
    expect(h('::ffff:10.1.2.3')).toBe('00000000000000000000ffff0a010203');
    expect(h('64:ff9b::192.0.2.33')).toBe('0064ff9b0000000000000000c0000221');
    for (const bad of ['1.2.3', '::1::', 'fe80::1%eth0', 'localhost', '']) {
      expect(() => ipBytes(bad)).toThrow(/is not an IP address/);
    }
  });

  it("reads a certificate's subject, issuer, serial and key back byte for byte", async () => {
    const ca = new X509Certificate((await createCa({ commonName: 'der ca' })).certPem);
    const f = tbsFields(ca.raw);
    // self-signed: the subject is the issuer, as the same bytes
    expect(f.subject.equals(f.issuer)).toBe(true);
    expect(f.subject.toString('latin1')).toContain('der ca');
    expect(f.serial.subarray(2).toString('hex').toUpperCase()).toBe(ca.serialNumber);
    expect(f.spki.equals(ca.publicKey.export({ type: 'spki', format: 'der' }))).toBe(true);
    expect(f.publicKey.length).toBe(65); // an uncompressed P-256 point
    expect(f.publicKey[0]).toBe(0x04);
    expect(() => tbsFields(Buffer.from('300300' + '0000', 'hex'))).toThrow();
    expect(() => tbsFields(ca.raw.subarray(0, 100))).toThrow(/truncated DER/);
  });
});
