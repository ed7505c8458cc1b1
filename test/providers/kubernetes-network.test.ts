import { describe, expect, it } from '@jest/globals';
import {
  DEFAULT_RUN_DENY,
  contains,
  defaultRunNetwork,
  parseCidrList,
  parseIpv4Cidr,
  parseRunSubnet,
  podCniConfig,
  podCniPaths,
  podFirewallRules,
  runNetworkCommand,
  runNetworkEnv,
  type RunNetworkSettings,
} from '../../src/providers/kubernetes-network.js';
import { restoreInput } from '../../src/providers/local-network.js';

const net: RunNetworkSettings = {
  mode: 'isolated',
  subnet: '10.213.0.0/24',
  allow: ['10.0.5.0/24'],
  deny: DEFAULT_RUN_DENY,
  dns: [],
};

describe('parseIpv4Cidr', () => {
  it.each([
    ['10.0.0.0/8', '10.0.0.0/8'],
    [' 192.168.1.7 ', '192.168.1.7/32'],
    ['0.0.0.0/0', '0.0.0.0/0'],
    ['10.96.0.10/32', '10.96.0.10/32'],
  ])('%j → %j', (raw, want) => {
    expect(parseIpv4Cidr(raw)).toBe(want);
  });
  it.each([
    ['10.0.0.1/8', /not a network address; did you mean 10.0.0.0\/8\?/],
    ['10.0.0.256', /not an IPv4 address or CIDR/],
    ['10.0.0.0/33', /not an IPv4 address or CIDR/],
    ['fd00::/8', /not an IPv4 address or CIDR/],
    ['example.com', /not an IPv4 address or CIDR/],
  ])('refuses %j', (raw, msg) => {
    const r = parseIpv4Cidr(raw);
    expect(typeof r).toBe('object');
    expect((r as { error: string }).error).toMatch(msg);
  });
  it('lists: trims, drops empties and duplicates, stops at the first bad entry', () => {
    expect(parseCidrList(' 10.0.5.0/24,,10.0.5.0/24, 1.2.3.4')).toEqual(['10.0.5.0/24', '1.2.3.4/32']);
    expect(parseCidrList('')).toEqual([]);
    expect(parseCidrList('10.0.0.0/8,nope')).toEqual({ error: expect.stringContaining('"nope"') });
  });
});

describe('parseRunSubnet and contains', () => {
  it.each([
    ['10.213.0.0/24', { cidr: '10.213.0.0/24', gateway: '10.213.0.1' }],
    ['172.30.9.64/26', { cidr: '172.30.9.64/26', gateway: '172.30.9.65' }],
    ['100.127.0.0/16', { cidr: '100.127.0.0/16', gateway: '100.127.0.1' }],
  ])('%j', (raw, want) => {
    expect(parseRunSubnet(raw)).toEqual(want);
  });
  it.each([
    ['10.213.0.0/30', /prefix between \/16 and \/28/],
    ['10.0.0.0/8', /prefix between/],
    ['8.8.8.0/24', /private range/],
    ['169.254.1.0/24', /private range/],
  ])('refuses %j', (raw, msg) => {
    expect((parseRunSubnet(raw) as { error: string }).error).toMatch(msg);
  });
  it.each([
    ['10.0.0.0/8', '10.213.0.0/24', true],
    ['10.0.0.0/8', '11.0.0.0/24', false],
    ['10.213.0.0/24', '10.0.0.0/8', false],
    ['172.16.0.0/12', '172.31.255.0/24', true],
    ['0.0.0.0/0', '1.2.3.4/32', true],
  ])('contains(%s, %s) = %s', (outer, inner, want) => {
    expect(contains(outer, inner)).toBe(want);
  });
});

describe('podFirewallRules', () => {
  const text = restoreInput(podFirewallRules(net, ['10.96.0.10']));
  it('is one restore transaction per table, in this exact order', () => {
    expect(text).toBe(
      [
        '*filter',
        ':HOIST-RUN-IN - [0:0]',
        '-A HOIST-RUN-IN -j DROP',
        ':HOIST-RUN-FW - [0:0]',
        '-A HOIST-RUN-FW -o hoist0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT',
        '-A HOIST-RUN-FW -o hoist0 -j DROP',
        '-A HOIST-RUN-FW -i hoist0 ! -s 10.213.0.0/24 -j DROP',
        '-A HOIST-RUN-FW -i hoist0 -d 10.96.0.10/32 -p udp -m udp --dport 53 -j ACCEPT',
        '-A HOIST-RUN-FW -i hoist0 -d 10.96.0.10/32 -p tcp -m tcp --dport 53 -j ACCEPT',
        '-A HOIST-RUN-FW -i hoist0 -d 10.0.5.0/24 -j ACCEPT',
        '-A HOIST-RUN-FW -i hoist0 -d 10.0.0.0/8 -j DROP',
        '-A HOIST-RUN-FW -i hoist0 -d 172.16.0.0/12 -j DROP',
        '-A HOIST-RUN-FW -i hoist0 -d 192.168.0.0/16 -j DROP',
        '-A HOIST-RUN-FW -i hoist0 -d 100.64.0.0/10 -j DROP',
        '-A HOIST-RUN-FW -i hoist0 -d 169.254.0.0/16 -j DROP',
        '-A HOIST-RUN-FW -i hoist0 -j ACCEPT',
        '-I INPUT 1 -i hoist0 -j HOIST-RUN-IN',
        '-I FORWARD 1 -o hoist0 -j HOIST-RUN-FW',
        '-I FORWARD 1 -i hoist0 -j HOIST-RUN-FW',
        'COMMIT',
        '*nat',
        ':HOIST-RUN-NAT - [0:0]',
        '-A HOIST-RUN-NAT ! -o hoist0 -j MASQUERADE',
        '-I POSTROUTING 1 -s 10.213.0.0/24 -j HOIST-RUN-NAT',
        'COMMIT',
        '',
      ].join('\n'),
    );
  });
  it.each([
    [{ nameservers: [], dns: [] }, 0],
    [{ nameservers: ['10.96.0.10'], dns: ['10.96.0.10'] }, 2],
    [{ nameservers: ['10.96.0.10'], dns: ['192.168.1.53'] }, 4],
  ])('%j: port 53 accepted to each resolver once (%i rules)', ({ nameservers, dns }, n) => {
    const rules = podFirewallRules({ ...net, dns }, nameservers);
    expect(rules.filter((r) => r.includes('--dport') && r.includes('53'))).toHaveLength(n);
  });
  it('accepts what is allowed before it drops what is denied, and everything else last', () => {
    const lines = restoreInput(podFirewallRules({ ...net, allow: ['10.1.0.0/16', '172.20.0.7/32'] }, []))
      .split('\n')
      .filter((l) => l.startsWith('-A HOIST-RUN-FW -i hoist0 -d'));
    expect(lines.slice(0, 2)).toEqual([
      '-A HOIST-RUN-FW -i hoist0 -d 10.1.0.0/16 -j ACCEPT',
      '-A HOIST-RUN-FW -i hoist0 -d 172.20.0.7/32 -j ACCEPT',
    ]);
    expect(lines.slice(2).every((l) => l.endsWith('-j DROP'))).toBe(true);
  });
});

describe('the pod side', () => {
  it('defaults: isolated when privileged, pod when rootless', () => {
    expect(defaultRunNetwork('privileged').mode).toBe('isolated');
    expect(defaultRunNetwork('rootless').mode).toBe('pod');
    expect(defaultRunNetwork('privileged').deny).toEqual(DEFAULT_RUN_DENY);
  });
  it('the conflist puts RUN steps on hoist0 with the subnet, no plugin-made NAT', () => {
    const c = JSON.parse(podCniConfig({ ...net, subnet: '172.30.9.64/26' })) as {
      plugins: { bridge: string; ipMasq: boolean; ipam: { ranges: unknown } }[];
    };
    expect(c.plugins[0]!.bridge).toBe('hoist0');
    expect(c.plugins[0]!.ipMasq).toBe(false);
    expect(c.plugins[0]!.ipam.ranges).toEqual([[{ subnet: '172.30.9.64/26', gateway: '172.30.9.65' }]]);
  });
  it('buildkitd gets CNI paths only when isolated', () => {
    expect(podCniPaths(net)).toEqual({
      configPath: '/run/hoist-net/cni.conflist',
      binaryDir: '/run/hoist-net/bin',
    });
    expect(podCniPaths({ ...net, mode: 'pod' })).toBeNull();
  });
  it('the entrypoint gets rules with a placeholder the script fills with the pod resolvers', () => {
    const env = Object.fromEntries(runNetworkEnv(net).map((e) => [e.name, e.value]));
    expect(env.HOIST_RULES).toContain('-d @NS@ -p udp -m udp --dport 53 -j ACCEPT');
    expect(env.HOIST_RULES).toContain('-d 10.0.5.0/24 -j ACCEPT');
    expect(JSON.parse(env.HOIST_CNI_CONFLIST!)).toMatchObject({ name: 'hoist-run' });
    expect(env.HOIST_NET_DIR).toBe('/run/hoist-net');
  });
  it('the entrypoint becomes buildkitd: sh -c SCRIPT $0 buildkitd, the args follow', () => {
    const cmd = runNetworkCommand();
    expect(cmd.slice(0, 2)).toEqual(['sh', '-c']);
    expect(cmd.slice(3)).toEqual(['hoist-net', 'buildkitd']);
    expect(cmd[2]!.trimEnd().endsWith('exec "$@"')).toBe(true);
  });
});
