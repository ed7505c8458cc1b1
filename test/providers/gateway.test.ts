// The builders' gateway with TLS upstreams (how it reaches builder pods) and a route lookup
// (builders another replica launched), on loopback with real TLS on both legs.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { BuilderGateway, type GatewayRoute } from '../../src/providers/gateway.js';
import { createCa, issueClientCert, issueServerCert, type CertKeyPem } from '../../src/lib/pki.js';

const NAME = 'hoist-b1.builders.hoist.internal';
const quiet = { info() {}, warn() {} };

interface Pki {
  ca: CertKeyPem;
  server: CertKeyPem;
  client: CertKeyPem;
  gatewayClient: CertKeyPem;
}

async function pki(): Promise<Pki> {
  const ca = await createCa({ commonName: 'builder CA' });
  const notAfter = new Date(Date.now() + 3600_000);
  return {
    ca,
    server: await issueServerCert(ca, { commonName: NAME, dnsNames: [NAME] }),
    client: await issueClientCert(ca, { commonName: 'build', notAfter }),
    gatewayClient: await issueClientCert(ca, { commonName: 'hoist gateway', notAfter }),
  };
}

/** A stand-in for buildkitd's TLS listener: mutual TLS under the builder CA, echoes with a prefix. */
async function upstreamServer(p: Pki): Promise<{ server: tls.Server; port: number; peers: string[] }> {
  const peers: string[] = [];
  const server = tls.createServer(
    {
      cert: p.server.certPem,
      key: p.server.keyPem,
      ca: p.ca.certPem,
      requestCert: true,
      rejectUnauthorized: true,
    },
    (s) => {
      peers.push(s.getPeerX509Certificate()?.subject ?? '');
      s.on('data', (d: Buffer) => s.write(Buffer.concat([Buffer.from('echo:'), d])));
      s.on('error', () => undefined);
    },
  );
  server.on('tlsClientError', () => undefined);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as net.AddressInfo).port, peers };
}

function dial(gw: BuilderGateway, p: Pki, client: CertKeyPem, servername: string): Promise<string> {
  return new Promise((resolve) => {
    const s = tls.connect({
      host: '127.0.0.1',
      port: gw.port,
      ca: p.ca.certPem,
      cert: client.certPem,
      key: client.keyPem,
      servername,
    });
    let got = '';
    const timer = setTimeout(() => {
      s.destroy();
      resolve(got || 'timeout');
    }, 3000);
    s.once('secureConnect', () => s.write('ping'));
    s.on('data', (d: Buffer) => {
      got += d.toString();
      if (got.includes('ping')) {
        clearTimeout(timer);
        s.destroy();
        resolve(got);
      }
    });
    s.on('error', (err) => {
      clearTimeout(timer);
      resolve(`error: ${err.message}`);
    });
    s.on('close', () => {
      clearTimeout(timer);
      resolve(got || 'closed');
    });
  });
}

describe('BuilderGateway with TLS upstreams and route lookup', () => {
  let p: Pki;
  let other: Pki;
  let up: Awaited<ReturnType<typeof upstreamServer>>;
  let gw: BuilderGateway;
  const lookups: string[] = [];
  let upstreamPort = 0;

  beforeAll(async () => {
    p = await pki();
    other = await pki();
    up = await upstreamServer(p);
    upstreamPort = up.port;
    gw = await BuilderGateway.listen({
      host: '127.0.0.1',
      port: 0,
      advertiseHost: '127.0.0.1',
      logger: quiet,
    });
    gw.setResolver(async (name): Promise<GatewayRoute | null> => {
      lookups.push(name);
      if (name !== NAME) return null;
      return {
        builderId: 'b1',
        serverName: NAME,
        caPem: p.ca.certPem,
        certPem: p.server.certPem,
        keyPem: p.server.keyPem,
        upstream: {
          host: '127.0.0.1',
          port: upstreamPort,
          tls: {
            caPem: p.ca.certPem,
            certPem: p.gatewayClient.certPem,
            keyPem: p.gatewayClient.keyPem,
            serverName: NAME,
          },
        },
      };
    });
  });
  afterAll(async () => {
    await gw?.close();
    await new Promise<void>((r) => (up ? up.server.close(() => r()) : r()));
  });

  it('looks up a route it was not given, once, and pipes over mutual TLS to the upstream', async () => {
    expect(await dial(gw, p, p.client, NAME)).toBe('echo:ping');
    expect(await dial(gw, p, p.client, NAME)).toBe('echo:ping');
    expect(lookups.filter((n) => n === NAME)).toHaveLength(1);
    // The upstream saw the gateway's own certificate, not the build's.
    expect(up.peers.at(-1)).toMatch(/CN=hoist gateway/);
  });

  it('refuses a certificate of another builder CA without reaching the upstream', async () => {
    const before = up.peers.length;
    expect(await dial(gw, p, other.client, NAME)).not.toContain('echo');
    expect(up.peers.length).toBe(before);
  });

  it('remembers unknown names for a while instead of looking them up at every handshake', async () => {
    const name = 'hoist-nope.builders.hoist.internal';
    for (let i = 0; i < 3; i++) expect(await dial(gw, p, p.client, name)).not.toContain('echo');
    expect(lookups.filter((n) => n === name)).toHaveLength(1);
  });

  it('a route whose upstream is gone (the pod moved) is looked up again at the next connection', async () => {
    gw.removeRoute('b1');
    // A port nobody listens on any more: the pod's old address.
    const gone = net.createServer();
    await new Promise<void>((r) => gone.listen(0, '127.0.0.1', r));
    upstreamPort = (gone.address() as net.AddressInfo).port;
    await new Promise<void>((r) => gone.close(() => r()));
    const n = lookups.length;
    expect(await dial(gw, p, p.client, NAME)).not.toContain('echo');
    upstreamPort = up.port;
    expect(await dial(gw, p, p.client, NAME)).toBe('echo:ping');
    expect(lookups.length).toBe(n + 2);
  });
});
