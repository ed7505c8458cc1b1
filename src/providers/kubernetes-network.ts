// Network isolation of RUN steps inside a kubernetes builder pod. The cluster's CNI may not
// enforce NetworkPolicy (and a policy cannot tell a RUN step from buildkitd, which must pull and
// push), so the pod does it itself, whatever the cluster: with `isolated` (the default) buildkitd
// puts each RUN step in its own network namespace on a bridge inside the pod (CNI bridge +
// host-local + loopback), and the buildkitd container's entrypoint first applies, in the pod's
// own network namespace and in one iptables-restore transaction, the rules local-network.ts
// builds for the local provider's bridges:
//   INPUT   from the bridge: dropped (buildkitd's port and every address of the pod);
//   FORWARD from the bridge: forged sources dropped; DNS to the pod's nameservers and the
//           operator's allow list accepted; the deny list (private, shared, link-local ranges:
//           the control plane, the kube API, the kubelet, other builders) dropped; the rest
//           accepted; into the bridge only replies;
//   nat POSTROUTING: the bridge's subnet masqueraded behind the pod's address.
// buildkitd itself stays in the pod's namespace: it still pulls and pushes. `pod` keeps the old
// behaviour (RUN steps share the pod's namespace), the only choice with rootless BuildKit.
import {
  intToIp,
  ipToInt,
  isolationRules,
  renderCniConfig,
  restoreInput,
  type AllowedDestination,
  type IptablesArgs,
} from './local-network.js';

export type RunNetworkMode = 'isolated' | 'pod';

export interface RunNetworkSettings {
  mode: RunNetworkMode;
  /** The in-pod bridge's IPv4 subnet, e.g. 10.213.0.0/24. */
  subnet: string;
  /** CIDRs RUN steps may reach although the deny list holds them. */
  allow: string[];
  /** CIDRs RUN steps may never reach (DEFAULT_RUN_DENY plus the operator's). */
  deny: string[];
  /** Resolvers RUN steps are given besides the pod's (--builder-dns): port 53 is allowed to them. */
  dns: string[];
}

/** Private (RFC 1918), shared (RFC 6598) and link-local ranges: where clusters put their pods,
 *  Services, nodes and control plane, and where cloud metadata answers. */
export const DEFAULT_RUN_DENY = [
  '10.0.0.0/8',
  '172.16.0.0/12',
  '192.168.0.0/16',
  '100.64.0.0/10',
  '169.254.0.0/16',
];
export const DEFAULT_RUN_SUBNET = '10.213.0.0/24';

export const RUN_BRIDGE = 'hoist0';
// In the container's own filesystem: written by the entrypoint before buildkitd starts.
const NET_DIR = '/run/hoist-net';
const CHAINS = { inChain: 'HOIST-RUN-IN', fwdChain: 'HOIST-RUN-FW', natChain: 'HOIST-RUN-NAT' };
/** Stands for each nameserver of the pod's resolv.conf in the rules the init container expands. */
const NS_MARK = '@NS@';

export const POD_MODE_WARNING =
  "RUN steps share the builder pod's network namespace (--kubernetes-run-network pod): a build can reach everything the pod can (the Hoist server, the kube API, the kubelet, other builders) unless a NetworkPolicy your CNI enforces stops it";

export function defaultRunNetwork(security: 'privileged' | 'rootless'): RunNetworkSettings {
  return {
    mode: security === 'rootless' ? 'pod' : 'isolated',
    subnet: DEFAULT_RUN_SUBNET,
    allow: [],
    deny: [...DEFAULT_RUN_DENY],
    dns: [],
  };
}

/** "10.1.2.3" → "10.1.2.3/32", "10.0.0.0/8" → itself; a message saying what is wrong otherwise. */
export function parseIpv4Cidr(raw: string): string | { error: string } {
  const m = /^(\d{1,3}(?:\.\d{1,3}){3})(?:\/(\d{1,2}))?$/.exec(raw.trim());
  const octets = m?.[1]!.split('.').map(Number) ?? [];
  if (!m || octets.some((o) => o > 255) || (m[2] !== undefined && Number(m[2]) > 32)) {
    return { error: `"${raw.trim()}" is not an IPv4 address or CIDR such as 10.0.5.0/24 or 10.0.5.7` };
  }
  const prefix = m[2] === undefined ? 32 : Number(m[2]);
  const base = ipToInt(m[1]!);
  const size = 2 ** (32 - prefix);
  if (base % size !== 0) {
    return {
      error: `"${raw.trim()}" is not a network address; did you mean ${intToIp(base - (base % size))}/${prefix}?`,
    };
  }
  return `${m[1]}/${prefix}`;
}

/** "10.0.5.0/24, 192.168.1.7" → CIDRs, or the first bad entry's message. */
export function parseCidrList(raw: string): string[] | { error: string } {
  const out: string[] = [];
  for (const entry of raw
    .split(',')
    .map((e) => e.trim())
    .filter(Boolean)) {
    const c = parseIpv4Cidr(entry);
    if (typeof c !== 'string') return c;
    if (!out.includes(c)) out.push(c);
  }
  return out;
}

/** The in-pod bridge's subnet: a /16 to /28 private range; its first address is the gateway. */
export function parseRunSubnet(raw: string): { cidr: string; gateway: string } | { error: string } {
  const c = parseIpv4Cidr(raw);
  if (typeof c !== 'string') return c;
  const prefix = Number(c.split('/')[1]);
  if (prefix < 16 || prefix > 28) {
    return {
      error: `must have a prefix between /16 and /28 (one address per concurrent RUN step), got "${raw.trim()}"`,
    };
  }
  if (!['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10'].some((r) => contains(r, c))) {
    return {
      error: `must be a private range such as ${DEFAULT_RUN_SUBNET} that nothing in the cluster uses, got "${raw.trim()}"`,
    };
  }
  return { cidr: c, gateway: intToIp(ipToInt(c.split('/')[0]!) + 1) };
}

/** Does CIDR `outer` hold all of `inner`? */
export function contains(outer: string, inner: string): boolean {
  const [ob, op] = outer.split('/');
  const [ib, ip] = inner.split('/');
  const o = Number(op);
  if (Number(ip) < o) return false;
  const size = 2 ** (32 - o);
  return Math.floor(ipToInt(ib!) / size) === Math.floor(ipToInt(ob!) / size);
}

/** The firewall of the pod's network namespace (iptables-restore --noflush input), for these resolvers. */
export function podFirewallRules(net: RunNetworkSettings, nameservers: string[]): IptablesArgs[] {
  const resolvers = [...new Set([...nameservers, ...net.dns])];
  const allow: AllowedDestination[] = [
    ...resolvers.flatMap((ns) =>
      (['udp', 'tcp'] as const).map((proto) => ({
        cidr: ns === NS_MARK ? NS_MARK : `${ns}/32`,
        proto,
        port: 53,
      })),
    ),
    ...net.allow.map((cidr) => ({ cidr })),
  ];
  return isolationRules({
    names: { bridge: RUN_BRIDGE, ...CHAINS },
    subnetCidr: subnetOf(net).cidr,
    deny: net.deny,
    allow,
  });
}

function subnetOf(net: RunNetworkSettings): { cidr: string; gateway: string } {
  const s = parseRunSubnet(net.subnet);
  if ('error' in s) throw new Error(`run network subnet ${s.error}`);
  return s;
}

/** The conflist buildkitd's CNI provider loads inside the pod. */
export function podCniConfig(net: RunNetworkSettings): string {
  return renderCniConfig({
    names: { network: 'hoist-run', bridge: RUN_BRIDGE },
    subnet: subnetOf(net),
    // In the container's own filesystem: a restarted container starts with no stale lease.
    ipamDir: '/run/hoist-cni-ipam',
  });
}

/** What buildkitd.toml gets under [worker.oci]; null in `pod` mode. */
export function podCniPaths(net: RunNetworkSettings): { configPath: string; binaryDir: string } | null {
  return net.mode === 'isolated'
    ? { configPath: `${NET_DIR}/cni.conflist`, binaryDir: `${NET_DIR}/bin` }
    : null;
}

export const RUN_NETWORK_DIR = NET_DIR;

// The buildkitd container's entrypoint (`sh -c SCRIPT hoist-net buildkitd ARGS...`): rather than
// an init container, which costs the pod a second container's start (about 1 s here). It finds the CNI plugins in the image (symlinked into the shared
// directory, so buildkitd.toml names one path whatever the image), writes the conflist, turns on
// forwarding in the pod's namespace (and IPv6 off on interfaces made later: the bridge gets no
// link-local address), and loads the rules with one iptables-restore, the pod's nameservers
// filled in (not loopback ones: a RUN step cannot reach the pod's loopback). A failure says why in
// the termination message, which the provider reports. Then it becomes buildkitd.
const ENTRYPOINT_SCRIPT = `set -eu
fail() { printf 'hoist-net: %s\\n' "$*" >/dev/termination-log; printf 'hoist-net: %s\\n' "$*" >&2; exit 1; }
bin=
for d in \${HOIST_CNI_DIRS:-/opt/cni/bin /usr/lib/cni /usr/libexec/cni}; do
  if [ -x "$d/bridge" ] && [ -x "$d/host-local" ] && [ -x "$d/loopback" ]; then bin=$d; break; fi
done
mkdir -p "$HOIST_NET_DIR/bin"
if [ -n "$bin" ]; then
  for p in bridge host-local loopback; do ln -sf "$bin/$p" "$HOIST_NET_DIR/bin/$p"; done
elif command -v buildkit-cni-bridge >/dev/null 2>&1 && command -v buildkit-cni-host-local >/dev/null 2>&1 && command -v buildkit-cni-loopback >/dev/null 2>&1; then
  for p in bridge host-local loopback; do ln -sf "$(command -v "buildkit-cni-$p")" "$HOIST_NET_DIR/bin/$p"; done
else
  fail "the image has no CNI plugins (bridge, host-local, loopback in /opt/cni/bin or /usr/lib/cni, or buildkit-cni-* on PATH as in moby/buildkit); use an image with them and iptables, or --kubernetes-run-network pod"
fi
command -v iptables-restore >/dev/null 2>&1 || fail "the image has no iptables-restore; use an image with iptables and the CNI plugins, or --kubernetes-run-network pod"
printf '%s' "$HOIST_CNI_CONFLIST" >"$HOIST_NET_DIR/cni.conflist"
echo 1 >/proc/sys/net/ipv4/ip_forward 2>/dev/null || fail "cannot turn on IPv4 forwarding in the pod (the container must be privileged)"
if [ -e /proc/sys/net/ipv6/conf/default/disable_ipv6 ]; then echo 1 >/proc/sys/net/ipv6/conf/default/disable_ipv6 || true; fi
ns=$(sed -n -e '/^[[:space:]]*nameserver[[:space:]]\\{1,\\}127\\./d' -e 's/^[[:space:]]*nameserver[[:space:]]\\{1,\\}\\([0-9]\\{1,3\\}\\.[0-9]\\{1,3\\}\\.[0-9]\\{1,3\\}\\.[0-9]\\{1,3\\}\\)[[:space:]]*$/\\1/p' /etc/resolv.conf 2>/dev/null || true)
rules=$(printf '%s\\n' "$HOIST_RULES" | while IFS= read -r line; do
  case $line in
  *${NS_MARK}*) for n in $ns; do printf '%s\\n' "$line" | sed "s|${NS_MARK}|$n/32|"; done ;;
  *) printf '%s\\n' "$line" ;;
  esac
done)
# Run again in the same namespace (buildkitd's container restarted): refill the chains, keep the jumps.
if iptables -w 5 -C INPUT -i "$HOIST_BRIDGE" -j HOIST-RUN-IN >/dev/null 2>&1; then
  rules=$(printf '%s\\n' "$rules" | grep -v '^-I ')
fi
err=$(printf '%s\\n' "$rules" | iptables-restore -w 5 --noflush 2>&1) || fail "iptables-restore refused the RUN-step firewall: $err"
echo "hoist-net: RUN steps on $HOIST_BRIDGE, isolated; DNS to: \${ns:-none}"
exec "$@"
`;

/** The entrypoint's environment: the script reads everything from it. */
export function runNetworkEnv(net: RunNetworkSettings): { name: string; value: string }[] {
  return [
    { name: 'HOIST_NET_DIR', value: NET_DIR },
    { name: 'HOIST_BRIDGE', value: RUN_BRIDGE },
    { name: 'HOIST_CNI_CONFLIST', value: podCniConfig(net) },
    { name: 'HOIST_RULES', value: restoreInput(podFirewallRules(net, [NS_MARK])) },
  ];
}

/** The buildkitd container's command in `isolated` mode; buildkitd's own argv follows as args. */
export function runNetworkCommand(): string[] {
  return ['sh', '-c', ENTRYPOINT_SCRIPT, 'hoist-net', 'buildkitd'];
}
