// The builder pod's entrypoint script, run for real as root in a throwaway network
// namespace standing for the pod's (with its own resolv.conf through /etc/netns): it must link
// the CNI plugins, write the conflist, turn forwarding on in that namespace only, and load the
// firewall in one iptables-restore with the pod's IPv4 nameservers filled in, also when run twice.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import {
  DEFAULT_RUN_DENY,
  runNetworkCommand,
  runNetworkEnv,
  type RunNetworkSettings,
} from '../../src/providers/kubernetes-network.js';

const run = promisify(execFile);
const ns = `hoist-knet-${randomBytes(3).toString('hex')}`;
const netnsEtc = `/etc/netns/${ns}`;
let tmp: string;
let madeNetnsDir = false;

const net: RunNetworkSettings = {
  mode: 'isolated',
  subnet: '10.213.0.0/24',
  allow: ['10.0.5.0/24'],
  deny: DEFAULT_RUN_DENY,
  dns: ['192.0.2.53'],
};

async function entrypoint(extra: NodeJS.ProcessEnv = {}): Promise<{ code: number; out: string }> {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH };
  for (const e of runNetworkEnv(net)) env[e.name] = e.value;
  env.HOIST_NET_DIR = path.join(tmp, 'net');
  Object.assign(env, extra);
  try {
    // What the pod runs, with a stand-in for buildkitd that shows its arguments arrive.
    const cmd = [...runNetworkCommand().slice(0, -1), 'echo', 'buildkitd', '--addr', 'tcp://0.0.0.0:1234'];
    const r = await run('ip', ['netns', 'exec', ns, ...cmd], { env });
    return { code: 0, out: r.stdout + r.stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? 1, out: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

async function inNs(...args: string[]): Promise<string> {
  return (await run('ip', ['netns', 'exec', ns, ...args])).stdout;
}

beforeAll(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'hoist-knet-'));
  await run('ip', ['netns', 'add', ns]);
  madeNetnsDir = !(await fs.stat('/etc/netns').catch(() => null));
  await fs.mkdir(netnsEtc, { recursive: true });
  // What a pod may see: a cluster resolver, a loopback stub and an IPv6 one (both skipped).
  await fs.writeFile(
    path.join(netnsEtc, 'resolv.conf'),
    'search builds.svc.cluster.local\nnameserver 10.96.0.10\nnameserver 127.0.0.53\nnameserver fd00::53\noptions ndots:5\n',
  );
});

afterAll(async () => {
  await run('ip', ['netns', 'del', ns]).catch(() => undefined);
  await fs.rm(netnsEtc, { recursive: true, force: true });
  if (madeNetnsDir) await fs.rmdir('/etc/netns').catch(() => undefined);
  if (tmp) await fs.rm(tmp, { recursive: true, force: true });
});

describe('the hoist-net entrypoint script', () => {
  it('sets up the pod namespace: plugins, conflist, forwarding, firewall with the pod resolvers', async () => {
    const hostForward = (await fs.readFile('/proc/sys/net/ipv4/ip_forward', 'utf8')).trim();
    const r = await entrypoint();
    expect(r.out).toContain('hoist-net: RUN steps on hoist0, isolated; DNS to: 10.96.0.10');
    expect(r.code).toBe(0);
    // Then it becomes buildkitd, with its arguments.
    expect(r.out).toContain('buildkitd --addr tcp://0.0.0.0:1234');
    for (const p of ['bridge', 'host-local', 'loopback']) {
      expect(await fs.readlink(path.join(tmp, 'net', 'bin', p))).toMatch(new RegExp(`/${p}$`));
    }
    const conf = JSON.parse(await fs.readFile(path.join(tmp, 'net', 'cni.conflist'), 'utf8')) as {
      plugins: { bridge: string }[];
    };
    expect(conf.plugins[0]!.bridge).toBe('hoist0');
    expect((await inNs('cat', '/proc/sys/net/ipv4/ip_forward')).trim()).toBe('1');
    // The host's own setting is untouched.
    expect((await fs.readFile('/proc/sys/net/ipv4/ip_forward', 'utf8')).trim()).toBe(hostForward);
    const filter = await inNs('iptables-save', '-t', 'filter');
    expect(filter).toContain('-A INPUT -i hoist0 -j HOIST-RUN-IN');
    expect(filter).toContain('-A FORWARD -i hoist0 -j HOIST-RUN-FW');
    expect(filter).toMatch(
      /-A HOIST-RUN-FW -d 10\.96\.0\.10\/32 -i hoist0 -p udp -m udp --dport 53 -j ACCEPT/,
    );
    expect(filter).toMatch(
      /-A HOIST-RUN-FW -d 192\.0\.2\.53\/32 -i hoist0 -p tcp -m tcp --dport 53 -j ACCEPT/,
    );
    expect(filter).toMatch(/-A HOIST-RUN-FW -d 10\.0\.5\.0\/24 -i hoist0 -j ACCEPT/);
    expect(filter).toMatch(/-A HOIST-RUN-FW -d 169\.254\.0\.0\/16 -i hoist0 -j DROP/);
    expect(filter).not.toContain('@NS@');
    expect(filter).not.toContain('127.0.0.53');
    const nat = await inNs('iptables-save', '-t', 'nat');
    expect(nat).toContain('-A POSTROUTING -s 10.213.0.0/24 -j HOIST-RUN-NAT');
    expect(nat).toContain('-A HOIST-RUN-NAT ! -o hoist0 -j MASQUERADE');
  });

  it('a second run (the buildkitd container restarted in the same pod) leaves one working set of chains', async () => {
    const r = await entrypoint();
    expect(r.code).toBe(0);
    const filter = await inNs('iptables-save', '-t', 'filter');
    // The chains are refilled, not doubled.
    expect(filter.match(/-A HOIST-RUN-FW -d 10\.0\.0\.0\/8 -i hoist0 -j DROP/g)).toHaveLength(1);
    expect(filter.match(/-A HOIST-RUN-IN -j DROP/g)).toHaveLength(1);
    expect(filter.match(/-A INPUT -i hoist0 -j HOIST-RUN-IN/g)).toHaveLength(1);
    expect(filter.match(/-A FORWARD -i hoist0 -j HOIST-RUN-FW/g)).toHaveLength(1);
    const nat = await inNs('iptables-save', '-t', 'nat');
    expect(nat.match(/-A POSTROUTING -s 10\.213\.0\.0\/24 -j HOIST-RUN-NAT/g)).toHaveLength(1);
  });

  it("finds moby/buildkit's plugins (buildkit-cni-* on PATH) when no plugin directory has them", async () => {
    const cniDir = (await fs.stat('/usr/lib/cni/bridge').catch(() => null)) ? '/usr/lib/cni' : '/opt/cni/bin';
    const onPath = path.join(tmp, 'path');
    const empty = path.join(tmp, 'no-plugins');
    await fs.mkdir(onPath, { recursive: true });
    await fs.mkdir(empty, { recursive: true });
    for (const p of ['bridge', 'host-local', 'loopback']) {
      await fs.symlink(path.join(cniDir, p), path.join(onPath, `buildkit-cni-${p}`));
    }
    const netDir = path.join(tmp, 'net-moby');
    const r = await entrypoint({
      HOIST_CNI_DIRS: empty,
      HOIST_NET_DIR: netDir,
      PATH: `${onPath}:${process.env.PATH}`,
    });
    expect(r.code).toBe(0);
    for (const p of ['bridge', 'host-local', 'loopback']) {
      expect(await fs.readlink(path.join(netDir, 'bin', p))).toBe(path.join(onPath, `buildkit-cni-${p}`));
    }
    // Neither layout: the pod fails with the fix in its message.
    const none = await entrypoint({ HOIST_CNI_DIRS: empty, HOIST_NET_DIR: path.join(tmp, 'net-none') });
    expect(none.code).not.toBe(0);
    expect(none.out).toContain('the image has no CNI plugins');
    expect(none.out).toContain('--kubernetes-run-network pod');
  });
});
