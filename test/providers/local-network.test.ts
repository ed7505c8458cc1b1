import { describe, expect, it } from '@jest/globals';
import {
  dnsAdvice,
  firewallRules,
  listedHoistChains,
  networkNames,
  parseNameservers,
  parseNetworkName,
  parseSubnetPool,
  renderCniConfig,
  restoreInput,
  serverNetId,
  subnetAt,
  teardownRules,
} from '../../src/providers/local-network.js';
import { renderBuildkitdConfig } from '../../src/providers/buildkitd-config.js';

describe('parseSubnetPool', () => {
  it.each([
    ['10.213.0.0/16', 256],
    [' 172.30.0.0/20 ', 16],
    ['10.0.0.0/8', 65536],
    ['192.168.7.0/24', 1],
  ])('splits %j into %d /24s', (raw, size) => {
    const p = parseSubnetPool(raw);
    expect(typeof p === 'object' && p.size).toBe(size);
  });

  it.each([
    ['10.213.0.0', /CIDR notation/],
    ['10.213.0.0/33', /CIDR notation|between/],
    ['10.213.0.0/25', /between \/8 and \/24/],
    ['10.0.0.0/7', /between \/8 and \/24/],
    ['10.213.5.0/16', /did you mean 10\.213\.0\.0\/16/],
    ['300.1.0.0/16', /CIDR notation/],
    ['127.0.0.0/16', /not loopback, link-local or multicast/],
    ['169.254.0.0/16', /not loopback/],
    ['224.0.0.0/16', /not loopback/],
  ])('refuses %j', (raw, msg) => {
    const p = parseSubnetPool(raw);
    expect(typeof p).toBe('string');
    expect(p).toMatch(msg);
  });
});

describe('subnetAt', () => {
  const pool = parseSubnetPool('10.213.0.0/16');
  if (typeof pool === 'string') throw new Error(pool);
  it.each([
    [0, '10.213.0.0/24', '10.213.0.1'],
    [7, '10.213.7.0/24', '10.213.7.1'],
    [255, '10.213.255.0/24', '10.213.255.1'],
  ])('index %d is %s with gateway %s', (i, cidr, gw) => {
    expect(subnetAt(pool, i)).toEqual({ index: i, cidr, gateway: gw });
  });
  it('refuses an index outside the pool', () => {
    expect(() => subnetAt(pool, 256)).toThrow(/outside the pool 10\.213\.0\.0\/16/);
  });
});

describe('names', () => {
  it('fit the kernel and iptables limits and carry the server id and subnet index back', () => {
    const sid = serverNetId('/var/lib/hoist');
    expect(sid).toMatch(/^[0-9a-f]{6}$/);
    expect(serverNetId('/var/lib/hoist/')).toBe(sid);
    expect(serverNetId('/var/lib/hoist2')).not.toBe(sid);
    const n = networkNames(sid, 65535);
    expect(n.bridge.length).toBeLessThanOrEqual(15);
    for (const c of [n.inChain, n.fwdChain, n.natChain]) expect(c.length).toBeLessThanOrEqual(28);
    for (const name of [n.bridge, n.inChain, n.fwdChain, n.natChain]) {
      expect(parseNetworkName(name)).toEqual({ sid, index: 65535 });
    }
    expect(parseNetworkName('docker0')).toBeNull();
    expect(parseNetworkName('HOIST-IN-xyz')).toBeNull();
  });
});

describe('renderCniConfig', () => {
  it('is a bridge with host-local IPAM in the builder dir and no plugin-made masquerade', () => {
    const names = networkNames('abcdef', 3);
    const conf = JSON.parse(
      renderCniConfig({
        names,
        subnet: { index: 3, cidr: '10.213.3.0/24', gateway: '10.213.3.1' },
        ipamDir: '/d/ipam',
      }),
    );
    expect(conf).toEqual({
      cniVersion: '1.0.0',
      name: 'hoist-abcdef-3',
      plugins: [
        {
          type: 'bridge',
          bridge: 'hstabcdef-3',
          isGateway: true,
          ipMasq: false,
          hairpinMode: false,
          ipam: {
            type: 'host-local',
            ranges: [[{ subnet: '10.213.3.0/24', gateway: '10.213.3.1' }]],
            routes: [{ dst: '0.0.0.0/0' }],
            dataDir: '/d/ipam',
          },
        },
      ],
    });
  });
});

describe('firewallRules', () => {
  const names = networkNames('abcdef', 3);
  const rules = firewallRules({
    names,
    subnet: { index: 3, cidr: '10.213.3.0/24', gateway: '10.213.3.1' },
    poolCidr: '10.213.0.0/16',
  }).map((r) => r.join(' '));

  it('is exactly this list, chains before the jumps into them', () => {
    expect(rules).toEqual([
      '-t filter -N HOIST-IN-abcdef-3',
      '-t filter -A HOIST-IN-abcdef-3 -j DROP',
      '-t filter -N HOIST-FW-abcdef-3',
      '-t filter -A HOIST-FW-abcdef-3 -o hstabcdef-3 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT',
      '-t filter -A HOIST-FW-abcdef-3 -o hstabcdef-3 -j DROP',
      '-t filter -A HOIST-FW-abcdef-3 -i hstabcdef-3 ! -s 10.213.3.0/24 -j DROP',
      '-t filter -A HOIST-FW-abcdef-3 -i hstabcdef-3 -d 169.254.0.0/16 -j DROP',
      '-t filter -A HOIST-FW-abcdef-3 -i hstabcdef-3 -d 10.213.0.0/16 -j DROP',
      '-t filter -A HOIST-FW-abcdef-3 -i hstabcdef-3 -j ACCEPT',
      '-t nat -N HOIST-NAT-abcdef-3',
      '-t nat -A HOIST-NAT-abcdef-3 ! -o hstabcdef-3 -j MASQUERADE',
      '-t filter -I INPUT 1 -i hstabcdef-3 -j HOIST-IN-abcdef-3',
      '-t filter -I FORWARD 1 -o hstabcdef-3 -j HOIST-FW-abcdef-3',
      '-t filter -I FORWARD 1 -i hstabcdef-3 -j HOIST-FW-abcdef-3',
      '-t nat -I POSTROUTING 1 -s 10.213.3.0/24 -j HOIST-NAT-abcdef-3',
    ]);
  });
});

describe('restoreInput', () => {
  it('groups the commands into one iptables-restore transaction per table, chains declared', () => {
    const names = networkNames('abcdef', 3);
    const rules = firewallRules({
      names,
      subnet: { index: 3, cidr: '10.213.3.0/24', gateway: '10.213.3.1' },
      poolCidr: '10.213.0.0/16',
    });
    const text = restoreInput(rules);
    expect(text.split('COMMIT\n')).toHaveLength(3);
    expect(text.startsWith('*filter\n:HOIST-IN-abcdef-3 - [0:0]\n-A HOIST-IN-abcdef-3 -j DROP\n')).toBe(true);
    expect(text).toContain(
      'COMMIT\n*nat\n:HOIST-NAT-abcdef-3 - [0:0]\n-A HOIST-NAT-abcdef-3 ! -o hstabcdef-3 -j MASQUERADE\n',
    );
    expect(text).toContain('-I INPUT 1 -i hstabcdef-3 -j HOIST-IN-abcdef-3\n');
    expect(text.endsWith('-I POSTROUTING 1 -s 10.213.3.0/24 -j HOIST-NAT-abcdef-3\nCOMMIT\n')).toBe(true);
    expect(restoreInput([])).toBe('');
  });
});

describe('teardownRules', () => {
  const names = networkNames('abcdef', 3);
  const chains = [names.inChain, names.fwdChain, names.natChain];
  it('deletes the jumps into our chains, then flushes and deletes them, and leaves others alone', () => {
    const listing = [
      '-P INPUT ACCEPT',
      '-P FORWARD ACCEPT',
      '-N HOIST-FW-abcdef-3',
      '-N HOIST-IN-abcdef-3',
      '-N HOIST-IN-123456-0',
      '-A INPUT -i hstabcdef-3 -j HOIST-IN-abcdef-3',
      '-A INPUT -i hst123456-0 -j HOIST-IN-123456-0',
      '-A FORWARD -i hstabcdef-3 -j HOIST-FW-abcdef-3',
      '-A FORWARD -o hstabcdef-3 -j HOIST-FW-abcdef-3',
      '-A FORWARD -j DOCKER-USER',
      '-A HOIST-IN-abcdef-3 -j DROP',
      '',
    ].join('\n');
    expect(teardownRules('filter', listing, chains).map((r) => r.join(' '))).toEqual([
      '-t filter -D INPUT -i hstabcdef-3 -j HOIST-IN-abcdef-3',
      '-t filter -D FORWARD -i hstabcdef-3 -j HOIST-FW-abcdef-3',
      '-t filter -D FORWARD -o hstabcdef-3 -j HOIST-FW-abcdef-3',
      '-t filter -F HOIST-FW-abcdef-3',
      '-t filter -X HOIST-FW-abcdef-3',
      '-t filter -F HOIST-IN-abcdef-3',
      '-t filter -X HOIST-IN-abcdef-3',
    ]);
    expect(listedHoistChains(listing)).toEqual([
      'HOIST-FW-abcdef-3',
      'HOIST-IN-abcdef-3',
      'HOIST-IN-123456-0',
    ]);
  });
  it('is empty when nothing of ours is there', () => {
    expect(teardownRules('nat', '-P POSTROUTING ACCEPT\n', chains)).toEqual([]);
  });
});

describe('DNS', () => {
  it('reads nameservers', () => {
    expect(parseNameservers('# x\nnameserver 10.0.0.2\nsearch a\nnameserver fe80::1%eth0\n')).toEqual([
      '10.0.0.2',
      'fe80::1',
    ]);
  });
  it.each([
    [{ hostResolvConf: 'nameserver 192.0.2.53\n', configured: [], hostAddresses: [] }, null],
    [
      { hostResolvConf: 'nameserver 127.0.0.53\n', configured: [], hostAddresses: [] },
      /public resolvers .* --builder-dns/,
    ],
    [
      { hostResolvConf: 'nameserver 192.0.2.2\n', configured: [], hostAddresses: ['192.0.2.2'] },
      /this host's own addresses/,
    ],
    [{ hostResolvConf: '', configured: [], hostAddresses: [] }, /no resolver/],
    [{ hostResolvConf: 'nameserver 127.0.0.1\n', configured: ['192.0.2.53'], hostAddresses: [] }, null],
    [
      { hostResolvConf: '', configured: ['192.0.2.2'], hostAddresses: ['192.0.2.2'] },
      /--builder-dns names only addresses of this host/,
    ],
  ])('advises on %j', (input, want) => {
    const got = dnsAdvice(input);
    if (want === null) expect(got).toBeNull();
    else expect(got).toMatch(want);
  });
  it('buildkitd.toml carries the CNI paths in [worker.oci] and the nameservers', () => {
    const toml = renderBuildkitdConfig({
      maxUsedSpaceBytes: 1024,
      insecureRegistries: [],
      dns: ['192.0.2.53'],
      cni: { configPath: '/b/cni.conflist', binaryDir: '/usr/lib/cni' },
    });
    // Before the first [[worker.oci.gcpolicy]] table, or TOML would put them in it.
    const head = toml.slice(0, toml.indexOf('[[worker.oci.gcpolicy]]'));
    expect(head).toContain('[worker.oci]');
    expect(head).toContain(
      '  networkMode = "cni"\n  cniConfigPath = "/b/cni.conflist"\n  cniBinaryPath = "/usr/lib/cni"\n',
    );
    expect(toml).toContain('[dns]\n  nameservers = ["192.0.2.53"]\n');
    expect(renderBuildkitdConfig({ maxUsedSpaceBytes: 1024, insecureRegistries: [] })).not.toMatch(
      /networkMode|\[dns\]/,
    );
  });
});
