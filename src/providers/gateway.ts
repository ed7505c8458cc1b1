// The one entry point to every builder: a TLS server on one TCP port that routes on the SNI
// server name (each builder has its own name and CA), verifies the client certificate against
// that builder's CA, asks the control plane whether the certificate's serial may open that
// builder now, and only then pipes bytes to the builder's buildkitd, which listens on a socket
// nobody else can reach. BuildKit cannot revoke a certificate; this can: ending a build closes
// its open connections at once, and its serial opens nothing from then on. A Kubernetes
// deployment needs the same thing (one address that routes on the server name).
import * as net from 'node:net';
import * as tls from 'node:tls';
import { errorMessage } from '../lib/errors.js';

/** Where the gateway forwards a builder's traffic: a unix socket (local) or a TCP address. */
export type Upstream = { path: string } | { host: string; port: number };

export interface GatewayRoute {
  builderId: string;
  /** SNI name clients send; a SAN of certPem. */
  serverName: string;
  /** The builder's CA: the server certificate and every client certificate are signed by it. */
  caPem: string;
  certPem: string;
  keyPem: string;
  upstream: Upstream;
}

export interface PeerCertificate {
  builderId: string;
  /** Upper-case hex, as node:crypto's X509Certificate prints it. */
  serial: string;
  notAfter: Date;
}

/** `owner` groups connections (a build id): closeOwners() ends them together. */
export type ConnectionVerdict = { ok: true; owner: string } | { ok: false; reason: string };
export type ConnectionAuthorizer = (peer: PeerCertificate) => Promise<ConnectionVerdict>;

export interface OpenConnection {
  owner: string;
  serial: string;
  builderId: string;
}

interface Tracked extends OpenConnection {
  client: tls.TLSSocket;
  upstream: net.Socket | null;
}

export interface GatewayLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

/** Any certificate of the builder's CA (what buildkitd's own mTLS allowed). */
const anyCertOfTheCa: ConnectionAuthorizer = async (p) => ({ ok: true, owner: p.serial });

export class BuilderGateway {
  private readonly open = new Set<Tracked>();
  private authorize: ConnectionAuthorizer = anyCertOfTheCa;
  private closed = false;

  private constructor(
    private readonly routes: Map<string, { route: GatewayRoute; context: tls.SecureContext }>,
    private readonly server: tls.Server,
    readonly endpoint: string,
    private readonly log: GatewayLogger,
  ) {}

  /** Listens on host:port (0 = any free port); clients are told to dial advertiseHost. */
  static async listen(opts: {
    host: string;
    port: number;
    advertiseHost: string;
    logger: GatewayLogger;
  }): Promise<BuilderGateway> {
    const routes = new Map<string, { route: GatewayRoute; context: tls.SecureContext }>();
    const server = tls.createServer({
      requestCert: true,
      rejectUnauthorized: true,
      // A handshake that stalls holds a socket and nothing else: drop it soon.
      handshakeTimeout: 10_000,
      // gRPC's small frames must not wait for Nagle and delayed ACKs (≈40 ms a round trip)
      noDelay: true,
      // Only the SNI context (a builder's cert and CA) can complete a handshake.
      SNICallback: (name, cb) => cb(null, routes.get(name.toLowerCase())?.context),
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.port, opts.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const port = (server.address() as net.AddressInfo).port;
    const host = opts.advertiseHost.includes(':') ? `[${opts.advertiseHost}]` : opts.advertiseHost;
    const self = new BuilderGateway(routes, server, `tcp://${host}:${port}`, opts.logger);
    server.on('secureConnection', (socket) => void self.accept(socket));
    // Refused handshakes (another CA, expired, no certificate, unknown name) end here.
    server.on('tlsClientError', () => undefined);
    return self;
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  /** Installs the check every new connection must pass after its certificate chain verified. */
  setAuthorizer(fn: ConnectionAuthorizer): void {
    this.authorize = fn;
  }

  setRoute(route: GatewayRoute): void {
    const context = tls.createSecureContext({ cert: route.certPem, key: route.keyPem, ca: route.caPem });
    this.routes.set(route.serverName.toLowerCase(), { route, context });
  }

  /** Forgets a builder and closes its connections (it stopped). */
  removeRoute(builderId: string): void {
    for (const [name, r] of this.routes) if (r.route.builderId === builderId) this.routes.delete(name);
    for (const c of this.open) if (c.builderId === builderId) this.drop(c);
  }

  /** Closes every open connection of these owners now; returns how many were closed. */
  closeOwners(owners: Iterable<string>): number {
    const set = new Set(owners);
    let n = 0;
    for (const c of this.open) {
      if (set.has(c.owner)) {
        this.drop(c);
        n++;
      }
    }
    return n;
  }

  /** Closes every open connection that presented one of these serials; returns how many. */
  closeSerials(serials: Iterable<string>): number {
    const set = new Set(serials);
    let n = 0;
    for (const c of this.open) {
      if (set.has(c.serial)) {
        this.drop(c);
        n++;
      }
    }
    return n;
  }

  connections(): OpenConnection[] {
    return [...this.open].map(({ owner, serial, builderId }) => ({ owner, serial, builderId }));
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const c of this.open) this.drop(c);
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private drop(c: Tracked): void {
    this.open.delete(c);
    c.client.destroy();
    c.upstream?.destroy();
  }

  private async accept(client: tls.TLSSocket): Promise<void> {
    // Nothing the client sent is read until it is let in.
    client.pause();
    client.setNoDelay(true);
    client.on('error', () => undefined);
    const name = (client as tls.TLSSocket & { servername?: string | false }).servername;
    const entry = typeof name === 'string' ? this.routes.get(name.toLowerCase()) : undefined;
    const cert = client.getPeerX509Certificate();
    if (!entry || !client.authorized || !cert) {
      client.destroy();
      return;
    }
    const peer: PeerCertificate = {
      builderId: entry.route.builderId,
      serial: cert.serialNumber.toUpperCase(),
      notAfter: new Date(cert.validTo),
    };
    let verdict: ConnectionVerdict;
    try {
      verdict = await this.authorize(peer);
    } catch (err) {
      verdict = { ok: false, reason: `authorization failed: ${errorMessage(err)}` };
    }
    if (!verdict.ok || this.closed || client.destroyed) {
      if (!verdict.ok) {
        this.log.info(
          { builder_id: peer.builderId, cert_serial: peer.serial, reason: verdict.reason },
          'builder connection refused',
        );
      }
      client.destroy();
      return;
    }
    const tracked: Tracked = {
      owner: verdict.owner,
      serial: peer.serial,
      builderId: peer.builderId,
      client,
      upstream: null,
    };
    this.open.add(tracked);
    const up = net.connect(entry.route.upstream);
    tracked.upstream = up;
    const end = (): void => {
      this.open.delete(tracked);
      client.destroy();
      up.destroy();
    };
    up.once('connect', () => {
      client.pipe(up);
      up.pipe(client);
      client.resume();
    });
    up.on('error', (err) => {
      this.log.warn({ builder_id: peer.builderId, err: errorMessage(err) }, 'builder unreachable');
      end();
    });
    up.once('close', end);
    client.once('close', end);
  }
}
