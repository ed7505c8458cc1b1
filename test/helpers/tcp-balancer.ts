// A TCP load balancer on loopback for multi-replica tests, standing in for a Kubernetes Service or
// an L4 balancer: each new connection goes to the first backend that accepts it, in the order
// given, so a dead replica is skipped and a live one keeps its clients. Bytes pass through
// untouched (TLS included). close() ends every connection it carries.
import * as net from 'node:net';

export interface Balancer {
  port: number;
  /** Connections accepted per backend port, so far. */
  served: Map<number, number>;
  close(): Promise<void>;
}

export async function startBalancer(backends: () => number[]): Promise<Balancer> {
  const sockets = new Set<net.Socket>();
  const served = new Map<number, number>();
  const track = (s: net.Socket): void => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  };
  const dial = (ports: number[]): Promise<{ socket: net.Socket; port: number } | null> =>
    new Promise((resolve) => {
      const [port, ...rest] = ports;
      if (port === undefined) return resolve(null);
      const up = net.connect({ host: '127.0.0.1', port });
      up.once('connect', () => {
        up.removeAllListeners('error');
        resolve({ socket: up, port });
      });
      up.once('error', () => {
        up.destroy();
        void dial(rest).then(resolve);
      });
    });
  const server = net.createServer((client) => {
    track(client);
    client.pause();
    client.on('error', () => undefined);
    void dial(backends()).then((up) => {
      if (!up || client.destroyed) {
        up?.socket.destroy();
        client.destroy();
        return;
      }
      served.set(up.port, (served.get(up.port) ?? 0) + 1);
      track(up.socket);
      up.socket.on('error', () => client.destroy());
      client.on('close', () => up.socket.destroy());
      up.socket.on('close', () => client.destroy());
      client.pipe(up.socket);
      up.socket.pipe(client);
      client.resume();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    served,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
