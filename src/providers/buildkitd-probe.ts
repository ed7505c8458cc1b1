// Is a buildkitd serving? It speaks gRPC, so HTTP/2: a probe sends the client preface and waits
// for the server's SETTINGS frame. An accepted connection alone proves less (a socket file left
// behind, a port another process holds); a SETTINGS frame is buildkitd's own first word.
// The local provider probes a unix socket in clear text, the kubernetes provider a pod over
// mutual TLS: only how the connection is made and the wording of the failures differ.
import * as net from 'node:net';
import * as tls from 'node:tls';
import type { CertKeyPem } from '../lib/pki.js';
import type { BuilderHealth } from './provider.js';

/** The HTTP/2 client preface followed by an empty SETTINGS frame. */
export const H2_PREFACE = Buffer.concat([
  Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'),
  Buffer.from([0, 0, 0, 0x4, 0, 0, 0, 0, 0]),
]);

/** Frame type 0x4 (SETTINGS) in the first frame header the server sends. */
export function isSettingsFrame(firstBytes: Buffer): boolean {
  return firstBytes.length >= 9 && firstBytes[3] === 0x4;
}

interface ProbeWording {
  /** Reason when nothing came back within the timeout. */
  silent: string;
  /** Prefix of the connection error's message. */
  unreachable: string;
}

/**
 * Writes the preface once `socket` emits `readyEvent`, resolves with what came back first: a
 * SETTINGS frame (healthy), another frame, the end of the connection, an error or silence.
 * Never rejects; the socket is destroyed in every case.
 */
function probeSocket(
  socket: net.Socket,
  readyEvent: 'connect' | 'secureConnect',
  timeoutMs: number,
  wording: ProbeWording,
): Promise<BuilderHealth> {
  return new Promise<BuilderHealth>((resolve) => {
    let settled = false;
    let buf = Buffer.alloc(0);
    const done = (h: BuilderHealth): void => {
      if (settled) return;
      settled = true;
      socket.destroy();
      resolve(h);
    };
    socket.setTimeout(timeoutMs, () => done({ healthy: false, reason: wording.silent }));
    socket.once(readyEvent, () => socket.write(H2_PREFACE));
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      if (buf.length < 9) return;
      done(
        isSettingsFrame(buf)
          ? { healthy: true }
          : { healthy: false, reason: 'no HTTP/2 SETTINGS from buildkitd' },
      );
    });
    socket.once('end', () => done({ healthy: false, reason: 'connection closed by buildkitd' }));
    socket.once('error', (err) => done({ healthy: false, reason: `${wording.unreachable}: ${err.message}` }));
  });
}

/** buildkitd on its unix socket (the local provider: clear text, the socket is private). */
export function probeUnixSocket(socketPath: string, timeoutMs = 2000): Promise<BuilderHealth> {
  return probeSocket(net.connect({ path: socketPath }), 'connect', timeoutMs, {
    silent: 'buildkitd did not answer on its socket',
    unreachable: 'cannot connect to buildkitd',
  });
}

/** buildkitd on TCP with mutual TLS under the builder's CA (a builder pod). */
export function probeTls(
  host: string,
  port: number,
  secret: { caPem: string },
  client: CertKeyPem,
  serverName: string,
  timeoutMs = 3000,
): Promise<BuilderHealth> {
  const socket = tls.connect({
    host,
    port,
    ca: secret.caPem,
    cert: client.certPem,
    key: client.keyPem,
    servername: serverName,
    ALPNProtocols: ['h2'],
  });
  return probeSocket(socket, 'secureConnect', timeoutMs, {
    silent: 'buildkitd did not answer over TLS',
    unreachable: 'cannot reach buildkitd',
  });
}
