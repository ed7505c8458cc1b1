// Network isolation of local builders. With `cni` (the default) every builder gets its own
// Linux bridge and /24 subnet, and buildkitd puts each RUN step in its own network
// namespace on that bridge (CNI bridge + host-local IPAM + loopback from Debian's
// containernetworking-plugins). Hoist-owned iptables chains then:
//   INPUT   from the bridge: drop everything, so no address of this host (the gateway,
//           every interface address, anything delivered locally) answers a RUN step;
//   FORWARD from the bridge: drop spoofed sources, link-local 169.254.0.0/16 and every
//           builder subnet of the pool; accept the rest (the outside world, through NAT);
//           to the bridge: only replies, so nothing (another builder included) opens a
//           connection into a builder's network;
//   nat POSTROUTING: masquerade the subnet behind the outgoing interface.
// buildkitd itself stays in the host's namespace: it pulls and pushes (a loopback registry
// included) as before. Subnets are allocated host-wide in a state directory under /run,
// so concurrently running servers never share one; chain and bridge names carry a short
// id of the server's data directory, so a restarted server finds and removes what a
// crashed one left, and never touches another server's.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { constants as fsConstants, readFileSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { ConfigurationError, errorMessage } from '../lib/errors.js';

export type BuilderNetworkMode = 'cni' | 'host';

export interface BuilderNetworkOptions {
  /** `cni` (default): a namespace per RUN step behind Hoist's firewall; `host`: the host's namespace. */
  mode?: BuilderNetworkMode;
  /** IPv4 range split into one /24 per builder. Default 10.213.0.0/16. */
  subnetPool?: string;
  /** Directory of the CNI plugins; default the first of /usr/lib/cni, /opt/cni/bin holding `bridge`. */
  cniBinDir?: string;
  /** Host-wide allocation records; default /run/hoist/networks. */
  stateDir?: string;
}

export interface NetworkLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export const DEFAULT_SUBNET_POOL = '10.213.0.0/16';
export const DEFAULT_NETWORK_STATE_DIR = '/run/hoist/networks';
const CNI_DIRS = ['/usr/lib/cni', '/opt/cni/bin'];
const CNI_PLUGINS = ['bridge', 'host-local', 'loopback'];
const LINK_LOCAL = '169.254.0.0/16';
const CMD_TIMEOUT_MS = 15_000;

export const HOST_MODE_WARNING =
  'builder network is "host": every RUN step shares this host\'s network namespace as root (it can reach loopback services such as the API, the database and the registry, and read loopback traffic); use --builder-network host only on a trusted single-tenant machine';

// ---------------------------------------------------------------------------------------
// Pure parts: addresses, names, CNI config and firewall rules.

export interface Ipv4Pool {
  /** Network address as an unsigned 32-bit number. */
  base: number;
  prefix: number;
  /** How many /24 subnets it holds. */
  size: number;
}

export function ipToInt(ip: string): number {
  return ip.split('.').reduce((n, o) => n * 256 + Number(o), 0);
}

export function intToIp(n: number): string {
  return [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.');
}

/** An IPv4 CIDR of prefix 8–24, aligned, as a pool of /24s; a message saying what is wrong otherwise. */
export function parseSubnetPool(raw: string): Ipv4Pool | string {
  const m = /^\s*(\d{1,3}(?:\.\d{1,3}){3})\/(\d{1,2})\s*$/.exec(raw);
  if (!m || net.isIPv4(m[1]!) === false) {
    return `must be an IPv4 range in CIDR notation such as ${DEFAULT_SUBNET_POOL}, got "${raw}"`;
  }
  const prefix = Number(m[2]);
  if (prefix < 8 || prefix > 24) {
    return `must have a prefix between /8 and /24 (it is split into one /24 per builder), got "${raw}"`;
  }
  const base = ipToInt(m[1]!);
  if (base % 2 ** (32 - prefix) !== 0) {
    const aligned = base - (base % 2 ** (32 - prefix));
    return `"${raw}" is not a network address; did you mean ${intToIp(aligned)}/${prefix}?`;
  }
  if (base >= ipToInt('224.0.0.0') || m[1]!.startsWith('127.') || m[1]!.startsWith('169.254.')) {
    return `must be a private unicast range such as ${DEFAULT_SUBNET_POOL} (not loopback, link-local or multicast), got "${raw}"`;
  }
  return { base, prefix, size: 2 ** (24 - prefix) };
}

export function poolCidr(pool: Ipv4Pool): string {
  return `${intToIp(pool.base)}/${pool.prefix}`;
}

export interface BuilderSubnet {
  index: number;
  /** e.g. 10.213.4.0/24 */
  cidr: string;
  /** The bridge's own address, the RUN steps' default route: 10.213.4.1. */
  gateway: string;
}

export function subnetAt(pool: Ipv4Pool, index: number): BuilderSubnet {
  if (!Number.isInteger(index) || index < 0 || index >= pool.size) {
    throw new RangeError(`subnet index ${index} is outside the pool ${poolCidr(pool)}`);
  }
  const base = pool.base + index * 256;
  return { index, cidr: `${intToIp(base)}/24`, gateway: intToIp(base + 1) };
}

/** A short id of a server's data directory: names of its bridges and chains carry it. */
export function serverNetId(dataDir: string): string {
  return createHash('sha256').update(path.resolve(dataDir)).digest('hex').slice(0, 6);
}

export interface NetworkNames {
  bridge: string;
  network: string;
  inChain: string;
  fwdChain: string;
  natChain: string;
}

/** Bridge (≤ 15 characters, the kernel's limit) and chain (≤ 28) names of one builder network. */
export function networkNames(sid: string, index: number): NetworkNames {
  const tag = `${sid}-${index.toString(16)}`;
  return {
    bridge: `hst${tag}`,
    network: `hoist-${tag}`,
    inChain: `HOIST-IN-${tag}`,
    fwdChain: `HOIST-FW-${tag}`,
    natChain: `HOIST-NAT-${tag}`,
  };
}

const NAME_RE = /^HOIST-(?:IN|FW|NAT)-([0-9a-f]{6})-([0-9a-f]{1,4})$/;
const BRIDGE_RE = /^hst([0-9a-f]{6})-([0-9a-f]{1,4})$/;

/** The server id and subnet index a Hoist chain or bridge name carries, or null for a foreign name. */
export function parseNetworkName(name: string): { sid: string; index: number } | null {
  const m = NAME_RE.exec(name) ?? BRIDGE_RE.exec(name);
  return m ? { sid: m[1]!, index: parseInt(m[2]!, 16) } : null;
}

/** The conflist buildkitd's CNI provider loads: a bridge with host-local IPAM; no plugin-made iptables. */
export function renderCniConfig(opts: {
  names: Pick<NetworkNames, 'network' | 'bridge'>;
  subnet: Pick<BuilderSubnet, 'cidr' | 'gateway'> & Partial<BuilderSubnet>;
  ipamDir: string;
}): string {
  return (
    JSON.stringify(
      {
        cniVersion: '1.0.0',
        name: opts.names.network,
        plugins: [
          {
            type: 'bridge',
            bridge: opts.names.bridge,
            isGateway: true,
            // Hoist's own chains masquerade and filter; the plugin's would outlive a crash.
            ipMasq: false,
            hairpinMode: false,
            ipam: {
              type: 'host-local',
              ranges: [[{ subnet: opts.subnet.cidr, gateway: opts.subnet.gateway }]],
              routes: [{ dst: '0.0.0.0/0' }],
              dataDir: opts.ipamDir,
            },
          },
        ],
      },
      null,
      2,
    ) + '\n'
  );
}

/** One iptables invocation, without the binary and the lock wait. */
export type IptablesArgs = string[];

/** A destination RUN steps may reach although a denied range holds it. */
export interface AllowedDestination {
  /** An IPv4 CIDR, e.g. 10.96.0.10/32. */
  cidr: string;
  /** Only this protocol and port (DNS: udp and tcp 53); both absent = any. */
  proto?: 'tcp' | 'udp';
  port?: number;
}

/**
 * The chains and jumps that isolate RUN steps on `bridge`, in the order to apply them: chains
 * are filled before the jumps that lead to them are inserted at the top of the built-in
 * chains. Interfaces, not only source addresses, select the traffic: a RUN step holds
 * CAP_NET_RAW and can forge any source address. Shared by the local provider (a bridge per
 * builder on the host) and the kubernetes provider (a bridge inside each builder pod).
 */
export function isolationRules(opts: {
  names: Pick<NetworkNames, 'bridge' | 'inChain' | 'fwdChain' | 'natChain'>;
  /** The bridge's subnet: the only source addresses RUN steps may use. */
  subnetCidr: string;
  /** Destinations dropped, after `allow`. */
  deny: string[];
  allow?: AllowedDestination[];
}): IptablesArgs[] {
  const { bridge, inChain, fwdChain, natChain } = opts.names;
  const from = ['-t', 'filter', '-A', fwdChain, '-i', bridge];
  return [
    ['-t', 'filter', '-N', inChain],
    // Every address of this host (or pod): the gateway, each interface, anything routed locally.
    ['-t', 'filter', '-A', inChain, '-j', 'DROP'],
    ['-t', 'filter', '-N', fwdChain],
    // Into the RUN steps' network: replies only; nobody (another builder included) opens connections.
    [
      '-t',
      'filter',
      '-A',
      fwdChain,
      '-o',
      bridge,
      '-m',
      'conntrack',
      '--ctstate',
      'RELATED,ESTABLISHED',
      '-j',
      'ACCEPT',
    ],
    ['-t', 'filter', '-A', fwdChain, '-o', bridge, '-j', 'DROP'],
    // Out of it: only its own addresses; then what is allowed; never what is denied.
    ['-t', 'filter', '-A', fwdChain, '-i', bridge, '!', '-s', opts.subnetCidr, '-j', 'DROP'],
    ...(opts.allow ?? []).map((a) => [
      ...from,
      '-d',
      a.cidr,
      ...(a.proto ? ['-p', a.proto, '-m', a.proto] : []),
      ...(a.proto && a.port !== undefined ? ['--dport', String(a.port)] : []),
      '-j',
      'ACCEPT',
    ]),
    ...opts.deny.map((cidr) => [...from, '-d', cidr, '-j', 'DROP']),
    // Accepted here, so a FORWARD policy of DROP (Docker sets one) does not cut builds off.
    [...from, '-j', 'ACCEPT'],
    ['-t', 'nat', '-N', natChain],
    ['-t', 'nat', '-A', natChain, '!', '-o', bridge, '-j', 'MASQUERADE'],
    ['-t', 'filter', '-I', 'INPUT', '1', '-i', bridge, '-j', inChain],
    ['-t', 'filter', '-I', 'FORWARD', '1', '-o', bridge, '-j', fwdChain],
    ['-t', 'filter', '-I', 'FORWARD', '1', '-i', bridge, '-j', fwdChain],
    ['-t', 'nat', '-I', 'POSTROUTING', '1', '-s', opts.subnetCidr, '-j', natChain],
  ];
}

/**
 * A local builder network's rules: RUN steps never reach link-local addresses (cloud
 * metadata) or any builder subnet of the pool; the rest of the world through NAT.
 */
export function firewallRules(opts: {
  names: NetworkNames;
  subnet: BuilderSubnet;
  poolCidr: string;
}): IptablesArgs[] {
  return isolationRules({
    names: opts.names,
    subnetCidr: opts.subnet.cidr,
    deny: [LINK_LOCAL, opts.poolCidr],
  });
}

/**
 * The commands that delete every rule of `iptables -t TABLE -S` output jumping to one of
 * `chains`, then flush and delete those chains: removal works from what is really there,
 * so it also cleans up after a crash in the middle of a setup.
 */
export function teardownRules(table: 'filter' | 'nat', listing: string, chains: string[]): IptablesArgs[] {
  const ours = new Set(chains);
  const out: IptablesArgs[] = [];
  const present: string[] = [];
  for (const line of listing.split('\n')) {
    const words = line.trim().split(/\s+/);
    if (words[0] === '-N' && ours.has(words[1]!)) present.push(words[1]!);
    if (words[0] !== '-A' || ours.has(words[1]!)) continue;
    const j = words.indexOf('-j');
    if (j > 0 && ours.has(words[j + 1]!)) out.push(['-t', table, '-D', ...words.slice(1)]);
  }
  for (const c of present) out.push(['-t', table, '-F', c], ['-t', table, '-X', c]);
  return out;
}

/**
 * `iptables-restore --noflush` input for commands of firewallRules/teardownRules: one
 * transaction per table, so a builder's chains and the jumps into them appear (and go) at once.
 */
export function restoreInput(rules: IptablesArgs[]): string {
  const byTable = new Map<string, string[]>();
  for (const r of rules) {
    const t = r[0] === '-t' ? r[1]! : 'filter';
    const rest = r[0] === '-t' ? r.slice(2) : r;
    const line = rest[0] === '-N' ? `:${rest[1]} - [0:0]` : rest.join(' ');
    byTable.set(t, [...(byTable.get(t) ?? []), line]);
  }
  return [...byTable].map(([t, lines]) => `*${t}\n${lines.join('\n')}\nCOMMIT\n`).join('');
}

/** Hoist chain names declared in `iptables -S` output. */
export function listedHoistChains(listing: string): string[] {
  return listing
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter((w) => w[0] === '-N' && NAME_RE.test(w[1] ?? ''))
    .map((w) => w[1]!);
}

/** Nameservers of a resolv.conf text. */
export function parseNameservers(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*nameserver\s+(\S+)/.exec(line);
    if (m) out.push(m[1]!.replace(/%.*$/, ''));
  }
  return out;
}

export function isLoopbackAddress(ip: string): boolean {
  return ip.startsWith('127.') || ip === '::1';
}

/**
 * What a RUN step's resolv.conf will hold under CNI and whether it works: buildkitd copies the
 * host's (systemd-resolved's upstream list when the stub is in use) and drops loopback
 * resolvers, which are unreachable from another namespace; with none left it writes public
 * resolvers. A resolver on an address of this host is refused by the firewall.
 */
export function dnsAdvice(opts: {
  hostResolvConf: string;
  configured: string[];
  hostAddresses: string[];
}): string | null {
  const servers = opts.configured.length > 0 ? opts.configured : parseNameservers(opts.hostResolvConf);
  const usable = servers.filter((s) => !isLoopbackAddress(s) && !opts.hostAddresses.includes(s));
  if (usable.length > 0) return null;
  if (opts.configured.length > 0) {
    return `--builder-dns names only addresses of this host (${servers.join(', ')}), which RUN steps cannot reach; name a resolver outside this host`;
  }
  return servers.length > 0
    ? `the host's resolvers (${servers.join(', ')}) are on loopback or on this host's own addresses, which RUN steps cannot reach; buildkitd then gives RUN steps public resolvers (8.8.8.8, 8.8.4.4); set --builder-dns to a resolver on your network`
    : 'the host has no resolver in /etc/resolv.conf; buildkitd gives RUN steps public resolvers (8.8.8.8, 8.8.4.4); set --builder-dns to a resolver on your network';
}

// ---------------------------------------------------------------------------------------
// The host side.

interface AllocationRecord {
  sid: string;
  dataDir: string;
  builderId: string;
  /** Where its buildkitd mounts network namespaces (unmounted when a crash left them). */
  builderDir: string;
  index: number;
  subnet: string;
  bridge: string;
  createdAt: string;
}

/** What buildkitd needs to put RUN steps on a builder's network. */
export interface PreparedNetwork {
  args: string[];
  /** For buildkitd.toml: buildkitd v0.18 ignores `--oci-cni-config-path` next to `--config`. */
  cni: { configPath: string; binaryDir: string } | null;
  /** null in host mode. */
  subnet: BuilderSubnet | null;
  bridge: string | null;
}

function run(file: string, args: string[], input?: string): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      file,
      args,
      { timeout: CMD_TIMEOUT_MS, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err) {
          const text = String(stderr || '').trim() || errorMessage(err);
          reject(new Error(`${path.basename(file)} ${args.join(' ')}: ${text}`));
        } else resolve({ stdout: String(stdout), stderr: String(stderr) });
      },
    );
    // A command that exits without reading its input must not crash the server with EPIPE.
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(input);
  });
}

async function isExecutable(p: string): Promise<boolean> {
  try {
    const st = await fs.stat(p);
    if (!st.isFile()) return false;
    await fs.access(p, fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
}

async function findTool(name: string): Promise<string | null> {
  const dirs = ['/usr/sbin', '/sbin', '/usr/bin', '/bin', ...(process.env.PATH ?? '').split(':')];
  for (const d of dirs) {
    if (d && (await isExecutable(path.join(d, name)))) return path.join(d, name);
  }
  return null;
}

/** Every IPv4 and IPv6 address assigned to an interface of this host. */
export function hostAddresses(): string[] {
  return Object.values(os.networkInterfaces())
    .flatMap((list) => list ?? [])
    .map((a) => a.address.replace(/%.*$/, ''));
}

/**
 * Sets up, adopts and removes builder networks. In host mode it only says so; in cni mode a
 * failed check keeps every builder from starting, with the reason and the fix.
 */
export class BuilderNetworks {
  readonly mode: BuilderNetworkMode;
  private readonly pool: Ipv4Pool;
  private readonly sid: string;
  private readonly stateDir: string;
  private unavailable: string | null = null;
  private iptables = 'iptables';
  private iptablesRestore = 'iptables-restore';
  private ip = 'ip';
  private cniBinDir = '';
  /** Serializes allocation and iptables changes of this process. */
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly dataDir: string,
    opts: BuilderNetworkOptions,
    private readonly log: NetworkLogger,
  ) {
    this.mode = opts.mode ?? 'cni';
    const pool = parseSubnetPool(opts.subnetPool ?? DEFAULT_SUBNET_POOL);
    if (typeof pool === 'string') throw new ConfigurationError(`--builder-subnet-pool ${pool}`);
    this.pool = pool;
    this.sid = serverNetId(dataDir);
    this.stateDir = opts.stateDir ?? DEFAULT_NETWORK_STATE_DIR;
  }

  /**
   * Checks what CNI isolation needs; a failed check is logged with its fix and makes every
   * prepare() throw it. In host mode, logs the warning.
   */
  static async create(opts: {
    dataDir: string;
    network?: BuilderNetworkOptions;
    logger: NetworkLogger;
    dns?: string[];
  }): Promise<BuilderNetworks> {
    const n = new BuilderNetworks(opts.dataDir, opts.network ?? {}, opts.logger);
    if (n.mode === 'host') {
      opts.logger.warn({ builder_network: 'host' }, HOST_MODE_WARNING);
      return n;
    }
    n.unavailable = await n.preflight(opts.network?.cniBinDir);
    if (n.unavailable) {
      opts.logger.error({ builder_network: 'cni', reason: n.unavailable }, 'builders cannot start');
      return n;
    }
    const advice = dnsAdvice({
      hostResolvConf: await fs.readFile(resolvConfPath(), 'utf8').catch(() => ''),
      configured: opts.dns ?? [],
      hostAddresses: hostAddresses(),
    });
    if (advice) opts.logger.warn({ builder_network: 'cni' }, `builder DNS: ${advice}`);
    return n;
  }

  get serverId(): string {
    return this.sid;
  }

  get subnetPool(): string {
    return poolCidr(this.pool);
  }

  private async preflight(cniBinDir: string | undefined): Promise<string | null> {
    const how = 'or run with --builder-network host on a trusted single-tenant machine';
    if (process.getuid && process.getuid() !== 0) {
      return `isolating RUN steps (--builder-network cni) needs root to create bridges and iptables rules; run the server as root ${how}`;
    }
    const dirs = cniBinDir ? [cniBinDir] : CNI_DIRS;
    let found: string | null = null;
    for (const d of dirs) {
      const ok = await Promise.all(CNI_PLUGINS.map((p) => isExecutable(path.join(d, p))));
      if (ok.every(Boolean)) {
        found = d;
        break;
      }
    }
    if (!found) {
      return `the CNI plugins ${CNI_PLUGINS.join(', ')} were not found in ${dirs.join(' or ')}; install Debian's containernetworking-plugins (apt-get install containernetworking-plugins) or point --builder-cni-bin-dir at them, ${how}`;
    }
    this.cniBinDir = found;
    const iptables = await findTool('iptables');
    const restore = await findTool('iptables-restore');
    const ip = await findTool('ip');
    if (!iptables || !restore || !ip) {
      return `${!ip ? 'ip' : 'iptables'} was not found; install Debian's ${!ip ? 'iproute2' : 'iptables'} package, ${how}`;
    }
    this.iptables = iptables;
    this.iptablesRestore = restore;
    this.ip = ip;
    try {
      await run(iptables, ['-w', '5', '-t', 'filter', '-S', 'INPUT']);
      await run(iptables, ['-w', '5', '-t', 'nat', '-S', 'POSTROUTING']);
    } catch (err) {
      return `iptables cannot read the filter and nat tables (${errorMessage(err)}); the server needs CAP_NET_ADMIN and a kernel with nf_tables (Debian's iptables uses the nft backend), ${how}`;
    }
    try {
      const fwd = (await fs.readFile('/proc/sys/net/ipv4/ip_forward', 'utf8')).trim();
      if (fwd !== '1') {
        await fs.writeFile('/proc/sys/net/ipv4/ip_forward', '1\n');
        this.log.info({}, 'enabled net.ipv4.ip_forward so RUN steps reach outside networks through NAT');
      }
    } catch (err) {
      return `IPv4 forwarding (net.ipv4.ip_forward) is off and could not be turned on (${errorMessage(err)}); run: sysctl -w net.ipv4.ip_forward=1, ${how}`;
    }
    try {
      await fs.mkdir(this.stateDir, { recursive: true, mode: 0o700 });
    } catch (err) {
      return `cannot create the network state directory ${this.stateDir}: ${errorMessage(err)}`;
    }
    return null;
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.queue.then(fn, fn);
    this.queue = p.catch(() => undefined);
    return p;
  }

  private exec(args: string[]): Promise<{ stdout: string }> {
    return run(this.iptables, ['-w', '5', ...args]);
  }

  private async apply(rules: IptablesArgs[]): Promise<void> {
    if (rules.length === 0) return;
    await run(this.iptablesRestore, ['-w', '5', '--noflush'], restoreInput(rules));
  }

  /** The builder's network, ready for a new buildkitd: a fresh bridge, rules, CNI config. */
  prepare(builderId: string, builderDir: string): Promise<PreparedNetwork> {
    if (this.mode === 'host') {
      this.log.warn({ builder_id: builderId, builder_network: 'host' }, HOST_MODE_WARNING);
      return Promise.resolve({ args: ['--oci-worker-net', 'host'], cni: null, subnet: null, bridge: null });
    }
    return this.serial(async () => {
      if (this.unavailable) throw new Error(`builder network unavailable: ${this.unavailable}`);
      await unmountNetns(builderDir);
      const rec = await this.allocate(builderId, builderDir);
      // Marks the network as prepared now (see reconcile's `starting`).
      const t = new Date();
      await fs.utimes(this.recordPath(rec.index), t, t).catch(() => undefined);
      const names = networkNames(this.sid, rec.index);
      const subnet = subnetAt(this.pool, rec.index);
      try {
        await this.removeFirewall(names);
        await this.removeBridge(names.bridge);
        await this.createBridge(names.bridge, subnet);
        await this.apply(firewallRules({ names, subnet, poolCidr: poolCidr(this.pool) }));
        const ipamDir = path.join(builderDir, 'cni-ipam');
        await fs.rm(ipamDir, { recursive: true, force: true });
        await fs.mkdir(ipamDir, { recursive: true, mode: 0o700 });
        const conf = path.join(builderDir, 'cni.conflist');
        await fs.writeFile(conf, renderCniConfig({ names, subnet, ipamDir }), { mode: 0o600 });
        return {
          args: ['--oci-worker-net', 'cni'],
          cni: { configPath: conf, binaryDir: this.cniBinDir },
          subnet,
          bridge: names.bridge,
        };
      } catch (err) {
        await this.teardown(rec).catch(() => undefined);
        throw new Error(
          `could not set up the isolated network of builder ${builderId} (bridge ${names.bridge}, ${subnet.cidr}): ${errorMessage(err)}; check that iptables and iproute2 work as root, or free the pool with --builder-subnet-pool`,
        );
      }
    });
  }

  /**
   * May a running buildkitd with this argv be adopted? Only when its network mode is the
   * configured one and, under CNI, its bridge and firewall are in place (re-created when
   * someone flushed them); otherwise it is replaced.
   */
  adopt(builderId: string, builderDir: string, argv: string[]): Promise<boolean> {
    const i = argv.indexOf('--oci-worker-net');
    const mode = i >= 0 ? argv[i + 1] : 'auto';
    if (mode !== this.mode) return Promise.resolve(false);
    if (this.mode === 'host') {
      this.log.warn({ builder_id: builderId, builder_network: 'host' }, HOST_MODE_WARNING);
      return Promise.resolve(true);
    }
    return this.serial(async () => {
      if (this.unavailable) return false;
      const rec = (await this.records()).find((r) => r.sid === this.sid && r.builderId === builderId);
      if (!rec) return false;
      const names = networkNames(this.sid, rec.index);
      let conf: string;
      try {
        conf = await fs.readFile(path.join(builderDir, 'cni.conflist'), 'utf8');
      } catch {
        return false;
      }
      if (!conf.includes(`"${names.bridge}"`)) return false;
      const listing = (await this.exec(['-t', 'filter', '-S'])).stdout;
      const natListing = (await this.exec(['-t', 'nat', '-S'])).stdout;
      const intact =
        listing.includes(`-A INPUT -i ${names.bridge} -j ${names.inChain}`) &&
        listing.includes(`-A FORWARD -i ${names.bridge} -j ${names.fwdChain}`) &&
        natListing.includes(`-j ${names.natChain}`);
      if (intact) return true;
      const subnet = subnetAt(this.pool, rec.index);
      this.log.warn(
        { builder_id: builderId, bridge: names.bridge },
        'builder firewall was missing; restoring it',
      );
      await this.removeFirewall(names);
      await this.apply(firewallRules({ names, subnet, poolCidr: poolCidr(this.pool) }));
      return true;
    });
  }

  /** Removes the builder's bridge, rules and allocation (its buildkitd must be stopped). */
  release(builderId: string, builderDir: string): Promise<void> {
    if (this.mode === 'host') return Promise.resolve();
    return this.serial(async () => {
      await unmountNetns(builderDir);
      for (const rec of await this.records()) {
        if (rec.sid === this.sid && rec.builderId === builderId) await this.teardown(rec);
      }
    });
  }

  /**
   * Removes what no running builder uses: this server's records, chains and bridges of
   * builders not in `live`, and records of any server whose data directory is gone.
   */
  reconcile(
    live: Set<string>,
    opts: { starting?: (builderId: string, preparedAtMs: number) => Promise<boolean> } = {},
  ): Promise<void> {
    if (this.mode === 'host' || this.unavailable) return Promise.resolve();
    return this.serial(async () => {
      const keep = new Set<number>();
      for (const rec of await this.records()) {
        const ours = rec.sid === this.sid;
        if (ours && live.has(rec.builderId)) {
          keep.add(rec.index);
          continue;
        }
        // Another server on this data directory (a replica) may be starting this builder: its
        // network is prepared and its buildkitd not running yet.
        const preparedAt = ours && opts.starting ? await this.preparedAt(rec) : null;
        if (preparedAt !== null && (await opts.starting!(rec.builderId, preparedAt))) {
          keep.add(rec.index);
          continue;
        }
        const gone = !ours && !(await exists(rec.dataDir));
        if (ours || gone) {
          this.log.info(
            { builder_id: rec.builderId, bridge: rec.bridge },
            'removing a stale builder network',
          );
          await this.teardown(rec);
        }
      }
      // Chains and bridges of this server without a record: a crash between the two.
      const chains = [
        ...listedHoistChains((await this.exec(['-t', 'filter', '-S'])).stdout),
        ...listedHoistChains((await this.exec(['-t', 'nat', '-S'])).stdout),
      ];
      const indexes = new Set<number>();
      for (const c of chains) {
        const p = parseNetworkName(c);
        if (p && p.sid === this.sid && !keep.has(p.index)) indexes.add(p.index);
      }
      for (const b of await this.bridges()) {
        const p = parseNetworkName(b);
        if (p && p.sid === this.sid && !keep.has(p.index)) indexes.add(p.index);
      }
      for (const index of indexes) {
        const names = networkNames(this.sid, index);
        await this.removeFirewall(names);
        await this.removeBridge(names.bridge);
      }
    });
  }

  /** Waits for network changes under way. */
  async close(): Promise<void> {
    await this.queue;
  }

  private async records(): Promise<AllocationRecord[]> {
    let names: string[];
    try {
      names = await fs.readdir(this.stateDir);
    } catch {
      return [];
    }
    const out: AllocationRecord[] = [];
    for (const n of names) {
      if (!/^subnet-\d+\.json$/.test(n)) continue;
      try {
        out.push(JSON.parse(await fs.readFile(path.join(this.stateDir, n), 'utf8')) as AllocationRecord);
      } catch {
        /* being written, or removed meanwhile */
      }
    }
    return out;
  }

  /** When prepare() last set this network up (the record's mtime); null when unknown. */
  private async preparedAt(rec: AllocationRecord): Promise<number | null> {
    try {
      return (await fs.stat(this.recordPath(rec.index))).mtimeMs;
    } catch {
      return null;
    }
  }

  private recordPath(index: number): string {
    return path.join(this.stateDir, `subnet-${index}.json`);
  }

  /**
   * This builder's subnet: the one it already holds, else the one it held last time when
   * still free (kept in its directory), else the first free one. Creating the record with
   * O_EXCL makes the choice atomic across every server on this host.
   */
  private async allocate(builderId: string, builderDir: string): Promise<AllocationRecord> {
    const mine = (await this.records()).find((r) => r.sid === this.sid && r.builderId === builderId);
    if (mine) return mine;
    const hintFile = path.join(builderDir, 'network.json');
    let hint = -1;
    try {
      hint = (JSON.parse(await fs.readFile(hintFile, 'utf8')) as { index: number }).index;
    } catch {
      /* first start */
    }
    const order = [
      ...(hint >= 0 && hint < this.pool.size ? [hint] : []),
      ...Array.from({ length: this.pool.size }, (_, i) => i),
    ];
    for (const index of order) {
      const subnet = subnetAt(this.pool, index);
      const rec: AllocationRecord = {
        sid: this.sid,
        dataDir: path.resolve(this.dataDir),
        builderId,
        builderDir: path.resolve(builderDir),
        index,
        subnet: subnet.cidr,
        bridge: networkNames(this.sid, index).bridge,
        createdAt: new Date().toISOString(),
      };
      try {
        await fs.writeFile(this.recordPath(index), JSON.stringify(rec), { mode: 0o600, flag: 'wx' });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EEXIST') continue;
        throw err;
      }
      if (await this.subnetInUse(subnet)) {
        // Someone else's interface (not Hoist's) already has addresses there: skip it for good.
        this.log.warn(
          { subnet: subnet.cidr },
          'subnet of the builder pool is in use on this host; skipping it',
        );
        await fs.rm(this.recordPath(index), { force: true });
        continue;
      }
      await fs.writeFile(hintFile, JSON.stringify({ index }), { mode: 0o600 });
      return rec;
    }
    throw new Error(
      `no free /24 left in the builder subnet pool ${poolCidr(this.pool)} (${this.pool.size} subnets); give a larger --builder-subnet-pool`,
    );
  }

  private async subnetInUse(subnet: BuilderSubnet): Promise<boolean> {
    const { stdout } = await run(this.ip, ['-o', '-4', 'addr', 'show']);
    const prefix = subnet.cidr.split('.').slice(0, 3).join('.') + '.';
    return stdout
      .split('\n')
      .some((l) => l.includes(` inet ${prefix}`) && !BRIDGE_RE.test(l.split(/\s+/)[1] ?? ''));
  }

  private async teardown(rec: AllocationRecord): Promise<void> {
    // A killed buildkitd leaves its namespaces mounted, each holding a veth (and its peer) alive.
    if (rec.builderDir) await unmountNetns(rec.builderDir);
    const names = networkNames(rec.sid, rec.index);
    await this.removeFirewall(names);
    await this.removeBridge(names.bridge);
    await fs.rm(this.recordPath(rec.index), { force: true });
  }

  private async removeFirewall(names: NetworkNames): Promise<void> {
    const chains = [names.inChain, names.fwdChain, names.natChain];
    const rules: IptablesArgs[] = [];
    for (const table of ['filter', 'nat'] as const) {
      rules.push(...teardownRules(table, (await this.exec(['-t', table, '-S'])).stdout, chains));
    }
    await this.apply(rules);
  }

  private async bridges(): Promise<string[]> {
    const { stdout } = await run(this.ip, ['-o', 'link', 'show', 'type', 'bridge']);
    return stdout
      .split('\n')
      .map((l) => /^\d+:\s+([^:@\s]+)/.exec(l)?.[1])
      .filter((n): n is string => !!n);
  }

  private async removeBridge(bridge: string): Promise<void> {
    if (!(await this.bridges()).includes(bridge)) return;
    await run(this.ip, ['link', 'del', bridge]);
  }

  private async createBridge(bridge: string, subnet: BuilderSubnet): Promise<void> {
    await run(this.ip, ['link', 'add', 'name', bridge, 'type', 'bridge']);
    // No IPv6 on the bridge: a link-local address there would be one more host address to reach.
    await fs.writeFile(`/proc/sys/net/ipv6/conf/${bridge}/disable_ipv6`, '1\n').catch(() => undefined);
    await run(this.ip, ['addr', 'add', `${subnet.gateway}/24`, 'dev', bridge]);
    await run(this.ip, ['link', 'set', bridge, 'up']);
  }
}

async function exists(p: string): Promise<boolean> {
  try {
    await fs.access(p);
    return true;
  } catch {
    return false;
  }
}

/** The resolv.conf buildkitd reads: systemd-resolved's upstream list when its stub is in use. */
function resolvConfPath(): string {
  try {
    const text = readFileSync('/etc/resolv.conf', 'utf8');
    const servers = parseNameservers(text);
    if (servers.length > 0 && servers.every((s) => s === '127.0.0.53')) {
      return '/run/systemd/resolve/resolv.conf';
    }
  } catch {
    /* fall through */
  }
  return '/etc/resolv.conf';
}

/**
 * Network namespaces buildkitd bind-mounts under its root stay mounted when it is killed;
 * unmount them so the namespaces (and their veths) go away and the directory can be removed.
 */
async function unmountNetns(builderDir: string): Promise<void> {
  let text: string;
  try {
    text = await fs.readFile('/proc/self/mountinfo', 'utf8');
  } catch {
    return;
  }
  const prefix = path.resolve(builderDir) + path.sep;
  for (const line of text.split('\n')) {
    const mountPoint = line.split(' ')[4];
    if (!mountPoint) continue;
    const decoded = mountPoint.replace(/\\([0-7]{3})/g, (_, o: string) =>
      String.fromCharCode(parseInt(o, 8)),
    );
    if (decoded.startsWith(prefix) && line.includes(' - nsfs ')) {
      await run('umount', ['-l', decoded]).catch(() => undefined);
    }
  }
}
