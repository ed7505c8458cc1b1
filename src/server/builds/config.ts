// `hoist server` flags of the builds plugin. Each is also read from its HOIST_* variable
// through the server's plugin-option mechanism (config.pluginOptions[name]).
import { isIP } from 'node:net';
import * as os from 'node:os';
import { ConfigurationError } from '../../lib/errors.js';
import type { BuilderLimits } from '../../providers/local-cgroup.js';
import { parseVolumeSpec, type VolumeSpec } from '../../providers/local-volume.js';
import { parseByteSize } from '../../providers/local.js';
import {
  DEFAULT_SUBNET_POOL,
  parseSubnetPool,
  type BuilderNetworkMode,
} from '../../providers/local-network.js';
import type { PluginOption } from '../http/plugin.js';
import type { ProvisioningLimits } from '../provisioning/provisioner.js';
import {
  KUBERNETES_OPTIONS,
  loadKubernetesConfig,
  loadProviderName,
  type KubernetesConfig,
  type ProviderName,
} from './kubernetes-config.js';

/** One provider pool ("region") in order of preference. */
export interface PoolFlag {
  name: string;
  /** `provider`: the one --provider makes; `simulated`: a fake cloud (no buildkitd: scheduling trials). */
  kind: 'provider' | 'simulated';
}

export interface BuildsConfig {
  /** Pools in order of preference; the first is always the --provider's. */
  pools: PoolFlag[];
  /** Limits of the provisioning layer set by flags (the rest keep their defaults). */
  provisioning: Partial<ProvisioningLimits>;
  /** Where builders run: buildkitd processes on this host, or pods in a cluster. */
  provider: ProviderName;
  /** Settings of the kubernetes provider; null with the local one. */
  kubernetes: KubernetesConfig | null;
  /** buildkitd binary; undefined = HOIST_BUILDKITD, PATH, ~/.cache/hoist-engine/bin. */
  buildkitdPath?: string;
  /** Address the builders' gateway listens on. */
  builderListenHost: string;
  /** TCP port of the builders' gateway; 0 = any free port at each start. */
  builderGatewayPort: number;
  /** Host clients dial; undefined = the listen host (127.0.0.1 for a wildcard). */
  builderAdvertiseHost?: string;
  /** Port clients dial (a load balancer in front of several replicas' gateways); undefined = the gateway's. */
  builderAdvertisePort?: number;
  /** A builder with no build for this long is stopped; its cache stays on disk. */
  idleTimeoutMs: number;
  /** GC cap of each builder's cache. */
  maxUsedSpaceBytes: number;
  /** Longest life of a build and its token (also capped by the token that created it). */
  maxBuildDurationMs: number;
  /** Life of one client certificate; heartbeats renew it while its build runs. */
  certLifetimeMs: number;
  /** A build with no heartbeat for this long is expired and frees its slot. */
  heartbeatGraceMs: number;
  /** A build that gets no builder within this time fails with a message that says so. */
  builderWaitMs: number;
  /** How long one acquire request waits for a starting builder before answering pending. */
  acquireWaitMs: number;
  /** Interval of the expiry, idle and health sweep. */
  sweepIntervalMs: number;
  /** On a graceful server stop: stop builders (cache kept) or leave them for the next server to adopt. */
  buildersOnExit: 'stop' | 'keep';
  /** Registries (host:port) builders may reach over plain HTTP. */
  insecureRegistries: string[];
  /** pids, memory and CPU limits of each builder's cgroup; null = --builder-cgroups off. */
  builderLimits: BuilderLimits | null;
  /** What the builders directory lives on. */
  builderVolume: VolumeSpec;
  /** Hard disk cap of one builder where XFS project quotas exist. */
  builderDiskLimitBytes: number;
  /** Most active (queued or running) builds a project may hold at once. */
  maxActiveBuildsPerProject: number;
  /** Builds a project may create a minute (token bucket); 0 = no limit. */
  createRatePerMin: number;
  /** Builds a project may create at once before the rate applies. */
  createBurst: number;
  /** Finished builds, their platforms and tokens are deleted this long after they finished. */
  retentionMs: number;
  /** Interval of that purge (it also runs at start). */
  purgeIntervalMs: number;
  /** `cni`: each RUN step in its own network namespace behind Hoist's firewall; `host`: trusted machines only. */
  builderNetwork: BuilderNetworkMode;
  /** IPv4 range split into one /24 per builder. */
  builderSubnetPool: string;
  /** Directory of the CNI plugins; undefined = /usr/lib/cni or /opt/cni/bin. */
  builderCniBinDir?: string;
  /** Nameservers of RUN steps; empty = the host's non-loopback resolvers. */
  builderDns: string[];
}

/** Defaults of the builder limits on this host: half its memory, all its CPUs. */
export function defaultBuilderLimits(
  totalMemBytes: number = os.totalmem(),
  cpus: number = os.availableParallelism(),
): BuilderLimits {
  return { pids: 4096, memoryBytes: Math.max(256 * 1024 ** 2, Math.floor(totalMemBytes / 2)), cpus };
}

export const BUILDS_OPTIONS: PluginOption[] = [
  {
    name: 'buildkitd',
    env: 'HOIST_BUILDKITD',
    description: 'path of buildkitd (default: PATH, then ~/.cache/hoist-engine/bin)',
  },
  {
    name: 'builder-listen-host',
    env: 'HOIST_BUILDER_LISTEN_HOST',
    description: "address the builders' gateway listens on (default 127.0.0.1)",
  },
  {
    name: 'builder-gateway-port',
    env: 'HOIST_BUILDER_GATEWAY_PORT',
    description: "TCP port of the builders' gateway, one for every builder (default 0: any free port)",
  },
  {
    name: 'builder-advertise-host',
    env: 'HOIST_BUILDER_ADVERTISE_HOST',
    description: 'host clients dial to reach builders (default: the listen host)',
  },
  {
    name: 'builder-advertise-port',
    env: 'HOIST_BUILDER_ADVERTISE_PORT',
    description:
      "port clients dial to reach builders, when a load balancer in front of several replicas' gateways listens on another (default: the gateway's port)",
  },
  {
    name: 'builder-idle-timeout',
    env: 'HOIST_BUILDER_IDLE_TIMEOUT',
    description: 'stop a builder after this idle time, cache kept (default 15m; 90, 90s, 15m, 1h)',
  },
  {
    name: 'builder-max-used-space',
    env: 'HOIST_BUILDER_MAX_USED_SPACE',
    description: 'GC cap of each builder cache (default 10GB; e.g. 512MB, 20GiB)',
  },
  {
    name: 'build-max-duration',
    env: 'HOIST_BUILD_MAX_DURATION',
    description:
      'longest life of a build, also capped by the expiry of the token that created it (default 6h)',
  },
  {
    name: 'build-cert-lifetime',
    env: 'HOIST_BUILD_CERT_LIFETIME',
    description: "life of a build's client certificate, renewed by its heartbeats (default 10m)",
  },
  {
    name: 'build-heartbeat-grace',
    env: 'HOIST_BUILD_HEARTBEAT_GRACE',
    description: 'expire a build after this long without a heartbeat (default 60s)',
  },
  {
    name: 'build-wait',
    env: 'HOIST_BUILD_WAIT',
    description: 'fail a build that gets no builder within this time (default 30m)',
  },
  {
    name: 'builders-on-exit',
    env: 'HOIST_BUILDERS_ON_EXIT',
    description:
      'on a graceful stop: "stop" builders or "keep" them running for the next server to adopt (default: stop with the local provider, keep with kubernetes)',
  },
  {
    name: 'builder-insecure-registries',
    env: 'HOIST_BUILDER_INSECURE_REGISTRIES',
    description: 'comma-separated host:port registries builders reach over plain HTTP',
  },
  {
    name: 'builder-cgroups',
    env: 'HOIST_BUILDER_CGROUPS',
    description: '"on" (default): each builder in its own cgroup with the limits below; "off": no limits',
  },
  {
    name: 'builder-pids-limit',
    env: 'HOIST_BUILDER_PIDS_LIMIT',
    description: "most processes and threads of one builder's RUN steps together (default 4096)",
  },
  {
    name: 'builder-memory',
    env: 'HOIST_BUILDER_MEMORY',
    description:
      "most memory of one builder's RUN steps together (default half the host's memory; e.g. 4GiB)",
  },
  {
    name: 'builder-cpus',
    env: 'HOIST_BUILDER_CPUS',
    description: "CPU time of one builder in CPUs, e.g. 1.5 (default: all of the host's CPUs)",
  },
  {
    name: 'builder-volume',
    env: 'HOIST_BUILDER_VOLUME',
    description:
      '"auto" (default), "none", or "xfs-image:SIZE": builders on a loop-mounted XFS image of SIZE in the data dir',
  },
  {
    name: 'builder-disk-limit',
    env: 'HOIST_BUILDER_DISK_LIMIT',
    description:
      'hard disk cap of one builder on an XFS volume (default twice --builder-max-used-space, at least 300MiB)',
  },
  {
    name: 'project-max-active-builds',
    env: 'HOIST_PROJECT_MAX_ACTIVE_BUILDS',
    description: 'most queued or running builds per project; more get a 429 (default 200)',
  },
  {
    name: 'build-create-rate',
    env: 'HOIST_BUILD_CREATE_RATE',
    description: 'builds a project may create a minute, 0 = no limit (default 120)',
  },
  {
    name: 'build-create-burst',
    env: 'HOIST_BUILD_CREATE_BURST',
    description:
      'builds a project may create at once before the rate applies (default: the rate, at least 1)',
  },
  {
    name: 'build-retention',
    env: 'HOIST_BUILD_RETENTION',
    description: 'delete finished builds and their rows this long after they finished (default 30d)',
  },
  {
    name: 'builder-network',
    env: 'HOIST_BUILDER_NETWORK',
    description:
      '"cni" (default): each RUN step in its own network namespace, cut off from this host; "host": RUN steps share the host network (trusted single-tenant machines only)',
  },
  {
    name: 'builder-subnet-pool',
    env: 'HOIST_BUILDER_SUBNET_POOL',
    description: `IPv4 range split into one /24 per builder (default ${DEFAULT_SUBNET_POOL})`,
  },
  {
    name: 'builder-cni-bin-dir',
    env: 'HOIST_BUILDER_CNI_BIN_DIR',
    description:
      'directory of the CNI plugins bridge, host-local, loopback (default /usr/lib/cni or /opt/cni/bin)',
  },
  {
    name: 'builder-dns',
    env: 'HOIST_BUILDER_DNS',
    description: "comma-separated nameservers for RUN steps (default: the host's non-loopback resolvers)",
  },
  {
    name: 'pools',
    env: 'HOIST_POOLS',
    description:
      'provider pools in order of preference, comma-separated: the first names the --provider pool (default: the provider name), later ones are NAME=simulated (a fake cloud for scheduling trials)',
  },
  {
    name: 'launch-limit-share',
    env: 'HOIST_LAUNCH_LIMIT_SHARE',
    description:
      "share of a provider's declared launch limits this server uses, so other users of the account keep room (default 0.6)",
  },
  {
    name: 'launch-rate',
    env: 'HOIST_LAUNCH_RATE',
    description: 'builders this server launches a second at most, over every pool (default 20)',
  },
  {
    name: 'project-launch-rate',
    env: 'HOIST_PROJECT_LAUNCH_RATE',
    description: 'builders one project launches a second at most, after a burst of 200 (default 5)',
  },
  {
    name: 'clone-permits',
    env: 'HOIST_CLONE_PERMITS',
    description:
      'cache clones in flight at once on this server; halved automatically while clones get slow or fail (default 24)',
  },
  {
    name: 'clone-permits-per-snapshot',
    env: 'HOIST_CLONE_PERMITS_PER_SNAPSHOT',
    description: 'cache clones in flight at once from one snapshot (default 16)',
  },
  {
    name: 'build-share-after',
    env: 'HOIST_BUILD_SHARE_AFTER',
    description:
      'an autoscaled build that got no clone within this shares a builder of its project, primary first (default 60s)',
  },
  {
    name: 'clone-idle-timeout',
    env: 'HOIST_CLONE_IDLE_TIMEOUT',
    description: 'destroy a clone after this idle time; clones go before primaries (default 2m)',
  },
  {
    name: 'pool-dwell',
    env: 'HOIST_POOL_DWELL',
    description: 'a project moved to a later pool returns to its preferred one only after this (default 10m)',
  },
  ...KUBERNETES_OPTIONS,
];

const POOL_NAME_RE = /^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$/;

/** `--pools`: "main" or "main,eu-backup=simulated"; the first is the provider's pool. */
export function parsePools(raw: string | undefined, providerName: string): PoolFlag[] {
  const entries = (raw ?? '')
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);
  if (entries.length === 0) return [{ name: providerName, kind: 'provider' }];
  const out: PoolFlag[] = [];
  entries.forEach((e, i) => {
    const [name, kind] = e.split('=').map((x) => x.trim());
    if (!name || !POOL_NAME_RE.test(name)) {
      throw new ConfigurationError(
        `--pools (HOIST_POOLS): "${e}" is not a pool name; use lower-case letters, digits and "-", such as "us-east-1"`,
      );
    }
    if (out.some((p) => p.name === name)) {
      throw new ConfigurationError(`--pools (HOIST_POOLS): pool "${name}" is named twice`);
    }
    if (i === 0) {
      if (kind !== undefined && kind !== providerName) {
        throw new ConfigurationError(
          `--pools (HOIST_POOLS): the first pool runs the --provider (${providerName}); write "${name}" without "=${kind}"`,
        );
      }
      out.push({ name, kind: 'provider' });
    } else if (kind === 'simulated') {
      out.push({ name, kind: 'simulated' });
    } else {
      throw new ConfigurationError(
        `--pools (HOIST_POOLS): "${e}": a later pool must be NAME=simulated; one server runs one real provider (${providerName}) today`,
      );
    }
  });
  return out;
}

/** "90" (seconds), "90s", "1500ms", "15m", "6h", "30d" → ms; null when malformed. */
export function parseDuration(raw: string): number | null {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/i.exec(raw);
  if (!m) return null;
  const mult = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[
    (m[2] ?? 's').toLowerCase() as 'ms' | 's' | 'm' | 'h' | 'd'
  ];
  const ms = Math.round(Number(m[1]) * mult);
  return ms > 0 ? ms : null;
}

function duration(opts: Record<string, string | undefined>, name: string, def: number, min: number): number {
  const raw = opts[name];
  if (raw === undefined || raw.trim() === '') return def;
  const ms = parseDuration(raw);
  const env = BUILDS_OPTIONS.find((o) => o.name === name)?.env;
  if (ms === null) {
    throw new ConfigurationError(
      `--${name} (${env}) must be a duration such as 90, 90s, 15m or 1h, got "${raw}"`,
    );
  }
  if (ms < min) {
    const least = min % 3_600_000 === 0 ? `${min / 3_600_000}h` : `${min} ms`;
    throw new ConfigurationError(`--${name} (${env}) must be at least ${least}, got "${raw}"`);
  }
  return ms;
}

/**
 * A host name or IP address without a port or scheme: each builder picks its own port, so
 * "127.0.0.1:9000" or "tcp://…" would otherwise only fail later, at every builder's start.
 */
function host(opts: Record<string, string | undefined>, name: string): string | undefined {
  const raw = opts[name]?.trim();
  if (!raw) return undefined;
  const bare = raw.replace(/^\[(.*)\]$/, '$1');
  if (
    isIP(bare) ||
    /^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$/.test(raw)
  ) {
    return bare;
  }
  const env = BUILDS_OPTIONS.find((o) => o.name === name)?.env;
  throw new ConfigurationError(
    `--${name} (${env}) must be a host name or IP address without a port or scheme, such as 127.0.0.1 or builders.example.com (each builder picks its own port); got "${raw}"`,
  );
}

export function loadBuildsConfig(opts: Record<string, string | undefined>): BuildsConfig {
  const provider = loadProviderName(opts);
  // Pods outlive a server replica (a rolling update must not stop every builder); local
  // processes are this host's and stop with the server unless told otherwise.
  const defaultOnExit = provider === 'kubernetes' ? 'keep' : 'stop';
  const onExit = (opts['builders-on-exit'] ?? defaultOnExit).trim() || defaultOnExit;
  if (onExit !== 'stop' && onExit !== 'keep') {
    throw new ConfigurationError(
      `--builders-on-exit (HOIST_BUILDERS_ON_EXIT) must be "stop" or "keep", got "${onExit}"`,
    );
  }
  let maxUsed = 10 * 1024 ** 3;
  const rawMax = opts['builder-max-used-space'];
  if (rawMax && rawMax.trim()) {
    const parsed = parseByteSize(rawMax);
    if (parsed === null || parsed < 1024 * 1024) {
      throw new ConfigurationError(
        `--builder-max-used-space (HOIST_BUILDER_MAX_USED_SPACE) must be a size of at least 1MB such as 512MB or 20GB, got "${rawMax}"`,
      );
    }
    maxUsed = parsed;
  }
  const registries = (opts['builder-insecure-registries'] ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const r of registries) {
    if (!/^[A-Za-z0-9.-]+(:\d{1,5})?$|^\[[0-9a-fA-F:]+\](:\d{1,5})?$/.test(r)) {
      throw new ConfigurationError(
        `--builder-insecure-registries (HOIST_BUILDER_INSECURE_REGISTRIES) takes host:port entries separated by commas, got "${r}"`,
      );
    }
  }
  const listenHost = host(opts, 'builder-listen-host') ?? '127.0.0.1';
  const cgroups = (opts['builder-cgroups'] ?? 'on').trim() || 'on';
  if (cgroups !== 'on' && cgroups !== 'off') {
    throw new ConfigurationError(
      `--builder-cgroups (HOIST_BUILDER_CGROUPS) must be "on" or "off", got "${cgroups}"`,
    );
  }
  const defaults = defaultBuilderLimits();
  const limits: BuilderLimits = {
    pids: wholeNumber(opts, 'builder-pids-limit', defaults.pids, 16, 4_194_304),
    memoryBytes: size(
      opts,
      'builder-memory',
      defaults.memoryBytes,
      64 * 1024 ** 2,
      'at least 64MiB such as 512MiB or 8GiB',
    ),
    cpus: cpuCount(opts, defaults.cpus),
  };
  const volumeEnv = BUILDS_OPTIONS.find((o) => o.name === 'builder-volume')!.env;
  const volume = parseVolumeSpec(opts['builder-volume'], parseByteSize, `--builder-volume (${volumeEnv})`);
  // 300MiB: the smallest XFS filesystem, for when each builder root is an image of this size.
  const diskLimit = size(
    opts,
    'builder-disk-limit',
    Math.max(2 * maxUsed, 300 * 1024 ** 2),
    300 * 1024 ** 2,
    'at least 300MiB such as 20GiB',
  );
  const createRatePerMin = wholeNumber(opts, 'build-create-rate', 120, 0, 1_000_000);
  const retentionMs = duration(opts, 'build-retention', 30 * 86_400_000, 3_600_000);
  const rawPort = opts['builder-gateway-port']?.trim();
  let gatewayPort = 0;
  if (rawPort) {
    gatewayPort = Number(rawPort);
    if (!/^\d{1,5}$/.test(rawPort) || gatewayPort > 65535) {
      throw new ConfigurationError(
        `--builder-gateway-port (HOIST_BUILDER_GATEWAY_PORT) must be a TCP port from 0 to 65535, got "${rawPort}"`,
      );
    }
  }
  const rawAdvertisePort = opts['builder-advertise-port']?.trim();
  let advertisePort: number | undefined;
  if (rawAdvertisePort) {
    advertisePort = Number(rawAdvertisePort);
    if (!/^\d{1,5}$/.test(rawAdvertisePort) || advertisePort < 1 || advertisePort > 65535) {
      throw new ConfigurationError(
        `--builder-advertise-port (HOIST_BUILDER_ADVERTISE_PORT) must be a TCP port from 1 to 65535, got "${rawAdvertisePort}"`,
      );
    }
  }
  const network = (opts['builder-network'] ?? '').trim() || 'cni';
  if (network !== 'cni' && network !== 'host') {
    throw new ConfigurationError(
      `--builder-network (HOIST_BUILDER_NETWORK) must be "cni" (isolated, the default) or "host" (trusted single-tenant machines only), got "${network}"`,
    );
  }
  const pool = (opts['builder-subnet-pool'] ?? '').trim() || DEFAULT_SUBNET_POOL;
  const parsedPool = parseSubnetPool(pool);
  if (typeof parsedPool === 'string') {
    throw new ConfigurationError(`--builder-subnet-pool (HOIST_BUILDER_SUBNET_POOL) ${parsedPool}`);
  }
  const dns = (opts['builder-dns'] ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const d of dns) {
    if (!isIP(d)) {
      throw new ConfigurationError(
        `--builder-dns (HOIST_BUILDER_DNS) takes IP addresses separated by commas, such as 192.0.2.53, got "${d}"`,
      );
    }
  }
  return {
    pools: parsePools(opts.pools, provider),
    provisioning: provisioningLimits(opts),
    provider,
    kubernetes: loadKubernetesConfig(opts, { durationMs: parseDuration, maxUsedSpaceBytes: maxUsed }),
    buildkitdPath: opts.buildkitd?.trim() || undefined,
    builderListenHost: listenHost,
    builderGatewayPort: gatewayPort,
    builderAdvertiseHost: host(opts, 'builder-advertise-host'),
    builderAdvertisePort: advertisePort,
    idleTimeoutMs: duration(opts, 'builder-idle-timeout', 15 * 60_000, 1000),
    maxUsedSpaceBytes: maxUsed,
    maxBuildDurationMs: duration(opts, 'build-max-duration', 6 * 3_600_000, 1000),
    certLifetimeMs: duration(opts, 'build-cert-lifetime', 10 * 60_000, 1000),
    heartbeatGraceMs: duration(opts, 'build-heartbeat-grace', 60_000, 1000),
    builderWaitMs: duration(opts, 'build-wait', 30 * 60_000, 1000),
    acquireWaitMs: 5000,
    sweepIntervalMs: 1000,
    buildersOnExit: onExit,
    insecureRegistries: registries,
    builderLimits: cgroups === 'on' ? limits : null,
    builderVolume: volume,
    builderDiskLimitBytes: diskLimit,
    maxActiveBuildsPerProject: wholeNumber(opts, 'project-max-active-builds', 200, 1, 1_000_000),
    createRatePerMin,
    createBurst: wholeNumber(opts, 'build-create-burst', Math.max(1, createRatePerMin), 1, 1_000_000),
    retentionMs,
    purgeIntervalMs: Math.min(10 * 60_000, retentionMs),
    builderNetwork: network,
    builderSubnetPool: pool,
    builderCniBinDir: opts['builder-cni-bin-dir']?.trim() || undefined,
    builderDns: dns,
  };
}

function envOf(name: string): string | undefined {
  return BUILDS_OPTIONS.find((o) => o.name === name)?.env;
}

function wholeNumber(
  opts: Record<string, string | undefined>,
  name: string,
  def: number,
  min: number,
  max: number,
): number {
  const raw = opts[name]?.trim();
  if (!raw) return def;
  const n = /^\d+$/.test(raw) ? Number(raw) : NaN;
  if (!(n >= min && n <= max)) {
    throw new ConfigurationError(
      `--${name} (${envOf(name)}) must be a whole number from ${min} to ${max}, got "${raw}"`,
    );
  }
  return n;
}

function size(
  opts: Record<string, string | undefined>,
  name: string,
  def: number,
  min: number,
  hint: string,
): number {
  const raw = opts[name]?.trim();
  if (!raw) return def;
  const n = parseByteSize(raw);
  if (n === null || n < min)
    throw new ConfigurationError(`--${name} (${envOf(name)}) must be a size of ${hint}, got "${raw}"`);
  return n;
}

function cpuCount(opts: Record<string, string | undefined>, def: number): number {
  const raw = opts['builder-cpus']?.trim();
  if (!raw) return def;
  const n = /^\d+(\.\d+)?$/.test(raw) ? Number(raw) : NaN;
  if (!(n >= 0.01 && n <= 4096)) {
    throw new ConfigurationError(
      `--builder-cpus (${envOf('builder-cpus')}) must be a number of CPUs from 0.01 to 4096 such as 1 or 1.5, got "${raw}"`,
    );
  }
  return n;
}

function fraction(opts: Record<string, string | undefined>, name: string, def: number): number {
  const raw = opts[name]?.trim();
  if (!raw) return def;
  const n = /^\d*\.?\d+$/.test(raw) ? Number(raw) : NaN;
  if (!(n >= 0.05 && n <= 1)) {
    throw new ConfigurationError(
      `--${name} (${envOf(name)}) must be a fraction from 0.05 to 1 such as 0.6, got "${raw}"`,
    );
  }
  return n;
}

/** The provisioning flags; limits not set here keep the provisioner's defaults. */
function provisioningLimits(opts: Record<string, string | undefined>): Partial<ProvisioningLimits> {
  const perSnapshot = wholeNumber(opts, 'clone-permits-per-snapshot', 16, 1, 10_000);
  const launchRate = wholeNumber(opts, 'launch-rate', 20, 1, 100_000);
  return {
    limitShare: fraction(opts, 'launch-limit-share', 0.6),
    globalResources: { burst: Math.max(100, launchRate * 100), perSecond: launchRate },
    projectResources: { burst: 200, perSecond: wholeNumber(opts, 'project-launch-rate', 5, 1, 100_000) },
    permits: {
      globalMax: wholeNumber(opts, 'clone-permits', 24, 1, 10_000),
      perSnapshotMax: perSnapshot,
      min: 1,
      slowMs: 45_000,
      decreaseEveryMs: 5000,
    },
    shareAfterMs: duration(opts, 'build-share-after', 60_000, 1000),
    cloneIdleMs: duration(opts, 'clone-idle-timeout', 2 * 60_000, 1000),
    dwellMs: duration(opts, 'pool-dwell', 10 * 60_000, 1000),
  };
}
