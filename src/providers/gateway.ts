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

/**
 * Where the gateway forwards a builder's traffic: a unix socket (local), a TCP address, or a
 * TCP address spoken to over mutual TLS (a builder pod: its buildkitd is on a shared network,
 * so it requires a certificate of its own CA; the gateway presents one it holds).
 */
export type Upstream = { path: string } | { host: string; port: number; tls?: UpstreamTls };

export interface UpstreamTls {
  caPem: string;
  certPem: string;
  keyPem: string;
  serverName: string;
}

/** Finds the route of a server name the gateway has no route for (another replica launched it). */
export type RouteResolver = (serverName: string) => Promise<GatewayRoute | null>;

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
  private resolver: RouteResolver | null = null;
  /** Server names the resolver did not know, and until when that answer holds. */
  private readonly unknown = new Map<string, number>();
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
    /** The port clients dial when a load balancer in front of several gateways listens on another. */
    advertisePort?: number;
    logger: GatewayLogger;
  }): Promise<BuilderGateway> {
    const routes = new Map<string, { route: GatewayRoute; context: tls.SecureContext }>();
    // Assigned once the server listens; SNICallback runs only after that.
    let self: BuilderGateway | undefined = undefined;
    const server = tls.createServer({
      requestCert: true,
      rejectUnauthorized: true,
      // A handshake that stalls holds a socket and nothing else: drop it soon.
      handshakeTimeout: 10_000,
      // gRPC's small frames must not wait for Nagle and delayed ACKs (≈40 ms a round trip)
      noDelay: true,
      // Only the SNI context (a builder's cert and CA) can complete a handshake.
      SNICallback: (name, cb) => {
        const key = name.toLowerCase();
        const hit = routes.get(key);
        if (hit || !self) return cb(null, hit?.context);
        self.resolve(key).then(
          (r) => cb(null, r?.context),
          () => cb(null, undefined),
        );
      },
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
    self = new BuilderGateway(routes, server, `tcp://${host}:${opts.advertisePort ?? port}`, opts.logger);
    const gw = self;
    server.on('secureConnection', (socket) => void gw.accept(socket));
    // Refused handshakes (another CA, expired, no certificate, unknown name) end here.
    server.on('tlsClientError', () => undefined);
    return gw;
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  /** Installs the check every new connection must pass after its certificate chain verified. */
  setAuthorizer(fn: ConnectionAuthorizer): void {
    this.authorize = fn;
  }

  /**
   * Installs the lookup of routes this gateway was not given (a builder another control-plane
   * replica launched). Unknown names are remembered for a few seconds, so a stream of made-up
   * server names costs one lookup each, not one per handshake.
   */
  setResolver(fn: RouteResolver): void {
    this.resolver = fn;
  }

  private async resolve(name: string): Promise<{ route: GatewayRoute; context: tls.SecureContext } | null> {
    if (!this.resolver || this.closed) return null;
    const until = this.unknown.get(name);
    if (until !== undefined && until > Date.now()) return null;
    let route: GatewayRoute | null = null;
    try {
      route = await this.resolver(name);
    } catch (err) {
      this.log.warn({ server_name: name, err: errorMessage(err) }, 'builder route lookup failed');
    }
    if (!route || route.serverName.toLowerCase() !== name) {
      if (this.unknown.size > 10_000) this.unknown.clear();
      this.unknown.set(name, Date.now() + 5000);
      return null;
    }
    this.setRoute(route);
    return this.routes.get(name) ?? null;
  }

  setRoute(route: GatewayRoute): void {
    this.unknown.delete(route.serverName.toLowerCase());
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
    return this.closeMatching('owner', owners);
  }

  /** Closes every open connection that presented one of these serials; returns how many. */
  closeSerials(serials: Iterable<string>): number {
    return this.closeMatching('serial', serials);
  }

  private closeMatching(key: 'owner' | 'serial', values: Iterable<string>): number {
    const set = new Set(values);
    let n = 0;
    for (const c of this.open) {
      if (set.has(c[key])) {
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
    const target = entry.route.upstream;
    const up: net.Socket =
      'host' in target && target.tls
        ? tls.connect({
            host: target.host,
            port: target.port,
            ca: target.tls.caPem,
            cert: target.tls.certPem,
            key: target.tls.keyPem,
            servername: target.tls.serverName,
            // buildkitd speaks gRPC: HTTP/2 negotiated by ALPN
            ALPNProtocols: ['h2'],
          })
        : net.connect(target);
    up.setNoDelay(true);
    tracked.upstream = up;
    const end = (): void => {
      this.open.delete(tracked);
      client.destroy();
      up.destroy();
    };
    up.once(up instanceof tls.TLSSocket ? 'secureConnect' : 'connect', () => {
      client.pipe(up);
      up.pipe(client);
      client.resume();
    });
    up.on('error', (err) => {
      this.log.warn({ builder_id: peer.builderId, err: errorMessage(err) }, 'builder unreachable');
      // A looked-up route may be stale (the pod moved): the next connection looks it up again.
      if (this.resolver) {
        const name = entry.route.serverName.toLowerCase();
        if (this.routes.get(name) === entry) this.routes.delete(name);
      }
      end();
    });
    up.once('close', end);
    client.once('close', end);
  }
}
