import { describe, expect, it } from '@jest/globals';
import { X509Certificate, createPrivateKey, createPublicKey } from 'node:crypto';
import { certInfo, createCa, issueClientCert, issueServerCert, renewClientCert } from '../../src/lib/pki.js';

const HOUR = 60 * 60 * 1000;

describe('pki', () => {
  it('creates a self-signed EC P-256 CA with a PKCS#8 key', async () => {
    const ca = await createCa({ commonName: 'hoist test ca' });
    expect(ca.keyPem).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
    const cert = new X509Certificate(ca.certPem);
    expect(cert.ca).toBe(true);
    expect(cert.subject).toBe('CN=hoist test ca');
    expect(cert.verify(cert.publicKey)).toBe(true);
    expect(cert.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    // The private key matches the certificate's public key.
    const pub = createPublicKey(createPrivateKey(ca.keyPem)).export({ format: 'der', type: 'spki' });
    expect(Buffer.compare(pub, cert.publicKey.export({ format: 'der', type: 'spki' }))).toBe(0);
    expect(cert.keyUsage).toBeUndefined(); // node reports extKeyUsage here; a CA has none
  });

  it('issues a server certificate with IP and DNS SANs, chained to the CA', async () => {
    const ca = await createCa({ commonName: 'ca' });
    const server = await issueServerCert(ca, {
      commonName: 'builder',
      dnsNames: ['builder.local', 'localhost'],
      ipAddresses: ['127.0.0.1'],
    });
    const cert = new X509Certificate(server.certPem);
    const caCert = new X509Certificate(ca.certPem);
    expect(cert.ca).toBe(false);
    expect(cert.checkIssued(caCert)).toBe(true);
    expect(cert.verify(caCert.publicKey)).toBe(true);
    expect(cert.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(cert.checkIP('127.0.0.2')).toBeUndefined();
    expect(cert.checkHost('builder.local')).toBe('builder.local');
    expect(cert.checkHost('other.local')).toBeUndefined();
    expect(cert.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1']); // serverAuth
    expect(cert.subjectAltName).toContain('IP Address:127.0.0.1');
    expect(cert.subjectAltName).toContain('DNS:builder.local');
  });

  it('issues a client certificate that honours notBefore/notAfter and is not valid for another CA', async () => {
    const ca = await createCa({ commonName: 'ca-a' });
    const other = await createCa({ commonName: 'ca-b' });
    const notAfter = new Date(Date.now() + HOUR);
    const client = await issueClientCert(ca, { commonName: 'build-1', organization: 'project-7', notAfter });
    const cert = new X509Certificate(client.certPem);
    expect(cert.subject).toBe('CN=build-1\nO=project-7');
    expect(cert.keyUsage).toEqual(['1.3.6.1.5.5.7.3.2']); // clientAuth
    expect(cert.verify(new X509Certificate(ca.certPem).publicKey)).toBe(true);
    expect(cert.verify(new X509Certificate(other.certPem).publicKey)).toBe(false);
    expect(cert.checkIssued(new X509Certificate(other.certPem))).toBe(false);
    const info = certInfo(client.certPem);
    // X.509 times have second precision.
    expect(Math.abs(info.notAfter.getTime() - notAfter.getTime())).toBeLessThan(1000);
    expect(info.notBefore.getTime()).toBeLessThan(Date.now());
    expect(info.fingerprint256).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);

    const expired = await issueClientCert(ca, {
      commonName: 'old',
      notBefore: new Date(Date.now() - 2 * HOUR),
      notAfter: new Date(Date.now() - HOUR),
    });
    expect(certInfo(expired.certPem).notAfter.getTime()).toBeLessThan(Date.now());
  });

  it('gives every certificate a key of its own (made ahead) that matches it, and the CA key ids', async () => {
    const ca = await createCa({ commonName: 'hoist test ca' });
    const caCert = new X509Certificate(ca.certPem);
    const notAfter = new Date(Date.now() + HOUR);
    // more than are made ahead, several at once: none is handed out twice
    const certs = await Promise.all(
      Array.from({ length: 6 }, (_, i) => issueClientCert(ca, { commonName: `build ${i}`, notAfter })),
    );
    expect(new Set(certs.map((c) => c.keyPem)).size).toBe(6);
    for (const c of certs) {
      const cert = new X509Certificate(c.certPem);
      expect(cert.verify(caCert.publicKey)).toBe(true);
      expect(cert.checkPrivateKey(createPrivateKey(c.keyPem))).toBe(true);
    }
    // each names the CA's key as its authority key, and its own key as its subject key
    const x509 = await import('@peculiar/x509');
    const caSki = new x509.X509Certificate(ca.certPem).getExtension(
      x509.SubjectKeyIdentifierExtension,
    )!.keyId;
    for (const c of certs) {
      const cert = new x509.X509Certificate(c.certPem);
      expect(cert.getExtension(x509.AuthorityKeyIdentifierExtension)!.keyId).toBe(caSki);
      const ski = cert.getExtension(x509.SubjectKeyIdentifierExtension)!.keyId;
      expect((await x509.SubjectKeyIdentifierExtension.create(cert.publicKey)).keyId).toBe(ski);
    }
  });

  it('a CA whose key cannot be read fails each issue clearly, and a good one still works after it', async () => {
    const ca = await createCa({ commonName: 'hoist test ca' });
    const broken = {
      certPem: ca.certPem,
      keyPem: '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n',
    };
    const notAfter = new Date(Date.now() + HOUR);
    await expect(issueClientCert(broken, { commonName: 'b', notAfter })).rejects.toThrow();
    await expect(issueClientCert(broken, { commonName: 'b', notAfter })).rejects.toThrow();
    const ok = await issueClientCert(ca, { commonName: 'b', notAfter });
    expect(new X509Certificate(ok.certPem).verify(new X509Certificate(ca.certPem).publicKey)).toBe(true);
  });

  it('uses random, distinct, positive serials', async () => {
    const ca = await createCa({ commonName: 'ca' });
    const notAfter = new Date(Date.now() + HOUR);
    const a = await issueClientCert(ca, { commonName: 'x', notAfter });
    const b = await issueClientCert(ca, { commonName: 'x', notAfter });
    const sa = certInfo(a.certPem).serialNumber;
    const sb = certInfo(b.certPem).serialNumber;
    expect(sa).not.toBe(sb);
    expect(sa).toMatch(/^[0-7][0-9A-F]{31}$/);
  });

  it('refuses a validity period that ends before it starts', async () => {
    const ca = await createCa({ commonName: 'ca' });
    await expect(
      issueClientCert(ca, { commonName: 'x', notBefore: new Date(), notAfter: new Date(Date.now() - HOUR) }),
    ).rejects.toThrow(/notAfter .* must be later than notBefore/);
  });

  it('renews a client certificate for the same key and subject, with a new serial and validity', async () => {
    const ca = await createCa({ commonName: 'ca' });
    const first = await issueClientCert(ca, {
      commonName: 'build bld_1',
      organization: 'prj_1',
      notAfter: new Date(Date.now() + 60_000),
    });
    const notAfter = new Date(Math.floor((Date.now() + HOUR) / 1000) * 1000);
    const renewed = new X509Certificate(await renewClientCert(ca, { certPem: first.certPem, notAfter }));
    const old = new X509Certificate(first.certPem);
    expect(renewed.serialNumber).not.toBe(old.serialNumber);
    expect(renewed.subject).toBe(old.subject);
    expect(new Date(renewed.validTo).getTime()).toBe(notAfter.getTime());
    expect(renewed.verify(new X509Certificate(ca.certPem).publicKey)).toBe(true);
    expect(renewed.keyUsage).toEqual(['1.3.6.1.5.5.7.3.2']);
    // the holder's existing key file goes with the renewed certificate
    expect(renewed.checkPrivateKey(createPrivateKey(first.keyPem))).toBe(true);
  });

  it('writes what another X.509 reader finds: each extension, its criticality, the names', async () => {
    const x509 = await import('@peculiar/x509');
    const ca = await createCa({ commonName: 'hoist test ca' });
    const server = new x509.X509Certificate(
      (
        await issueServerCert(ca, {
          commonName: 'builder',
          dnsNames: ['builder.local'],
          ipAddresses: ['10.0.0.7', 'fd00::5:1', '::1'],
        })
      ).certPem,
    );
    const client = new x509.X509Certificate(
      (
        await issueClientCert(ca, {
          commonName: 'build bld_1, "x"',
          organization: 'prj_1+o',
          notAfter: new Date(Date.now() + HOUR),
        })
      ).certPem,
    );
    for (const cert of [server, client]) {
      expect(cert.issuer).toBe('CN=hoist test ca');
      expect(cert.signatureAlgorithm).toMatchObject({ name: 'ECDSA', hash: { name: 'SHA-256' } });
      expect(await cert.verify({ publicKey: new x509.X509Certificate(ca.certPem).publicKey })).toBe(true);
      const bc = cert.getExtension(x509.BasicConstraintsExtension)!;
      expect([bc.critical, bc.ca]).toEqual([true, false]);
      const ku = cert.getExtension(x509.KeyUsagesExtension)!;
      expect([ku.critical, ku.usages]).toEqual([true, x509.KeyUsageFlags.digitalSignature]);
      expect(cert.getExtension(x509.ExtendedKeyUsageExtension)!.critical).toBe(false);
      expect(cert.extensions).toHaveLength(cert === server ? 6 : 5);
    }
    expect(server.getExtension(x509.ExtendedKeyUsageExtension)!.usages).toEqual([
      x509.ExtendedKeyUsage.serverAuth,
    ]);
    expect(client.getExtension(x509.ExtendedKeyUsageExtension)!.usages).toEqual([
      x509.ExtendedKeyUsage.clientAuth,
    ]);
    expect(server.getExtension(x509.SubjectAlternativeNameExtension)!.names.toJSON()).toEqual([
      { type: 'dns', value: 'builder.local' },
      { type: 'ip', value: '10.0.0.7' },
      { type: 'ip', value: 'fd00::5:1' },
      { type: 'ip', value: '::1' },
    ]);
    // a value with characters that are special in a name's text form is kept as it was given
    expect(client.subjectName.getField('CN')).toEqual(['build bld_1, "x"']);
    expect(client.subjectName.getField('O')).toEqual(['prj_1+o']);
    expect(new X509Certificate(server.toString('pem')).checkIP('fd00::5:1')).toBe('fd00::5:1');
  });

  it('refuses a server name or address it cannot write, before it uses a key', async () => {
    const ca = await createCa({ commonName: 'ca' });
    await expect(issueServerCert(ca, { commonName: 'b', ipAddresses: ['10.0.0'] })).rejects.toThrow(
      /"10.0.0" is not an IP address/,
    );
    await expect(issueServerCert(ca, { commonName: 'b', dnsNames: ['a b'] })).rejects.toThrow(
      /"a b" is not a DNS name/,
    );
  });
});
