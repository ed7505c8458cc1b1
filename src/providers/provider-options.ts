// What the providers that run real buildkitd daemons (local, kubernetes) are configured with
// alike: the builders' gateway address, the GC cap, plain-HTTP registries, nameservers and the
// logger. Each provider's own options extend this; the defaults live here once.
export interface ProviderLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/** For a provider created without a logger. */
export const nullLogger: ProviderLogger = { info() {}, warn() {}, error() {} };

/** buildkitd's GC cap per builder when neither the spec nor the server sets one. */
export const DEFAULT_MAX_USED_SPACE_BYTES = 10 * 1024 ** 3;

export interface BuildkitdProviderOptions {
  /** Address the builders' gateway listens on. Default 127.0.0.1. */
  listenHost?: string;
  /** TCP port of the builders' gateway; 0 (default) lets the kernel pick one. */
  gatewayPort?: number;
  /** Host clients dial (endpoint and certificate SAN). Default: listenHost, or 127.0.0.1 when that is a wildcard. */
  advertiseHost?: string;
  /**
   * Port clients dial, when a load balancer (a Service in front of several replicas' gateways)
   * listens on another one than this gateway. Default: the gateway's own port.
   */
  advertisePort?: number;
  /** Default GC cap per builder in bytes. Default 10 GiB. */
  maxUsedSpaceBytes?: number;
  /** Registries buildkitd may reach over plain HTTP (host:port), e.g. a loopback test registry. */
  insecureRegistries?: string[];
  /** Nameservers RUN steps use; default buildkitd's choice. */
  dns?: string[];
  logger?: ProviderLogger;
}

/** Where the gateway listens and which host clients are told to dial. */
export function gatewayHosts(opts: Pick<BuildkitdProviderOptions, 'listenHost' | 'advertiseHost'>): {
  listenHost: string;
  advertiseHost: string;
} {
  const listenHost = opts.listenHost ?? '127.0.0.1';
  const wildcard = listenHost === '0.0.0.0' || listenHost === '::' || listenHost === '';
  return { listenHost, advertiseHost: opts.advertiseHost ?? (wildcard ? '127.0.0.1' : listenHost) };
}
