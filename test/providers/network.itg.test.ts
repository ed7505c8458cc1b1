// RUN steps against the host, attacked for real: a raw packet socket listening for another
// client's API token on loopback, TCP connections to the API, a loopback database-like
// listener, the registry, another project's builder, the bridge gateways, a link-local
// address and an "outside" server in a namespace behind this host. The same attack runs on
// a server with --builder-network host first: there it succeeds (that is the code before
// CNI isolation), under the default CNI network it must not, while the outside server
// stays reachable through NAT. Everything the suite creates (bridges, veths, namespaces,
// rules) is checked gone at the end.
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import type { BuilderActive } from '../../src/lib/api-types.js';
import { HoistClient } from '../../src/lib/client.js';
import { findBuildkitd, LocalProvider } from '../../src/providers/local.js';
import { networkNames, parseNetworkName, serverNetId } from '../../src/providers/local-network.js';
import { startRegistry, type Registry } from '../helpers/engine.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const run = promisify(execFile);
jest.setTimeout(600_000);

const suffix = randomBytes(3).toString('hex');
// A namespace and addresses this suite creates and owns: the "outside" world behind the host.
const OUT = {
  ns: `hoist-t-out-${suffix}`,
  hostIf: `hto${suffix}`,
  nsIf: `htn${suffix}`,
  hostIp: '198.18.77.1',
  nsIp: '198.18.77.2',
  linkLocal: '169.254.77.1',
  port: 18080,
};

let tmp: string;
let registry: Registry;
let buildctl: string;
let outside: ChildProcess | undefined;
let outsideLog = '';
let pgLike: net.Server;
let wildcard: net.Server;
const servers: TestServer[] = [];
const ourBridges = new Set<string>();
const ourVeths = new Set<string>();
const crashSids: string[] = [];
const providers: LocalProvider[] = [];
let before: HostNetState;

interface HostNetState {
  links: string[];
  netns: string[];
  rules: string[];
  routes: string[];
}

async function hostNetState(): Promise<HostNetState> {
  const links = (await run('ip', ['-o', 'link', 'show'])).stdout
    .split('\n')
    .map((l) => /^\d+:\s+([^:@\s]+)/.exec(l)?.[1])
    .filter((n): n is string => !!n);
  const netns = (await run('ip', ['netns', 'list'])).stdout
    .split('\n')
    .map((l) => l.split(' ')[0]!)
    .filter(Boolean);
  const rules: string[] = [];
  for (const table of ['filter', 'nat']) {
    const { stdout } = await run('iptables', ['-w', '5', '-t', table, '-S']);
    rules.push(
      ...stdout
        .split('\n')
        .filter(Boolean)
        .map((l) => `${table} ${l}`),
    );
  }
  const routes = (await run('ip', ['-4', 'route', 'show'])).stdout.split('\n').filter(Boolean);
  return { links, netns, rules, routes };
}

async function sh(cmd: string, args: string[]): Promise<void> {
  await run(cmd, args);
}

function listen(host: string): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const s = net.createServer((c) => {
      c.on('error', () => undefined);
      c.end('hello\n');
    });
    s.once('error', reject);
    s.listen(0, host, () => resolve(s));
  });
}

const portOf = (s: net.Server): number => (s.address() as net.AddressInfo).port;

async function setUpOutside(): Promise<void> {
  await sh('ip', ['netns', 'add', OUT.ns]);
  await sh('ip', ['link', 'add', OUT.hostIf, 'type', 'veth', 'peer', 'name', OUT.nsIf]);
  await sh('ip', ['link', 'set', OUT.nsIf, 'netns', OUT.ns]);
  await sh('ip', ['addr', 'add', `${OUT.hostIp}/30`, 'dev', OUT.hostIf]);
  await sh('ip', ['link', 'set', OUT.hostIf, 'up']);
  const inNs = (args: string[]) => sh('ip', ['netns', 'exec', OUT.ns, 'ip', ...args]);
  await inNs(['addr', 'add', `${OUT.nsIp}/30`, 'dev', OUT.nsIf]);
  await inNs(['addr', 'add', `${OUT.linkLocal}/32`, 'dev', 'lo']);
  await inNs(['link', 'set', 'lo', 'up']);
  await inNs(['link', 'set', OUT.nsIf, 'up']);
  await inNs(['route', 'add', 'default', 'via', OUT.hostIp]);
  // The host reaches the link-local address through the namespace: only the firewall can stop a build.
  await sh('ip', ['route', 'add', `${OUT.linkLocal}/32`, 'via', OUT.nsIp, 'dev', OUT.hostIf]);
  const script = [
    "const net = require('node:net');",
    // A client that resets must not crash the server (an unhandled socket error would).
    'const s = net.createServer((c) => { c.on("error", () => {}); console.log(`peer ${c.remoteAddress} ${c.localAddress}`); c.end("outside\\n"); });',
    `s.listen(${OUT.port}, '0.0.0.0', () => console.log('listening'));`,
    // A resolver of the outside world: every A question gets 192.0.2.77, others no answer.
    "const u = require('node:dgram').createSocket('udp4');",
    'u.on("message", (q, r) => {',
    '  let i = 12; while (q[i] !== 0) i += q[i] + 1; const end = i + 5;',
    '  const a = q.readUInt16BE(i + 1) === 1;',
    '  const h = Buffer.from([q[0], q[1], 0x81, 0x80, 0, 1, 0, a ? 1 : 0, 0, 0, 0, 0]);',
    '  const ans = a ? Buffer.from([0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 77]) : Buffer.alloc(0);',
    '  console.log(`dns ${r.address}`);',
    '  u.send(Buffer.concat([h, q.subarray(12, end), ans]), r.port, r.address);',
    '});',
    `u.bind(53, '${OUT.nsIp}');`,
  ].join('\n');
  outside = spawn('ip', ['netns', 'exec', OUT.ns, process.execPath, '-e', script], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  outside.stdout!.on('data', (d: Buffer) => (outsideLog += d.toString()));
  outside.stderr!.on('data', (d: Buffer) => (outsideLog += d.toString()));
  for (let i = 0; i < 200 && !outsideLog.includes('listening'); i++)
    await new Promise((r) => setTimeout(r, 25));
  if (!outsideLog.includes('listening')) throw new Error(`outside server did not start: ${outsideLog}`);
}

async function tearDownOutside(): Promise<void> {
  if (outside && outside.exitCode === null) {
    const exited = new Promise((r) => outside!.once('exit', r));
    outside.kill('SIGTERM');
    await exited;
  }
  outside = undefined;
  await sh('ip', ['route', 'del', `${OUT.linkLocal}/32`]).catch(() => undefined);
  await sh('ip', ['link', 'del', OUT.hostIf]).catch(() => undefined);
  await sh('ip', ['netns', 'del', OUT.ns]).catch(() => undefined);
}

// Runs in the RUN step: reads every frame on every interface of its network namespace for a
// few seconds (AF_PACKET, ETH_P_ALL) and prints the bearer tokens of frames that carry the
// needle, plus whether it saw its own probe datagram (proof that the socket works).
const SNIFF_PL = String.raw`
use strict;
my $needle = shift;
socket(my $s, 17, 3, 0x0300) or die "packet socket: $!\n";
socket(my $u, 2, 2, 0) or die "udp socket: $!\n";
my $lo = pack("S n C4 x8", 2, 9, 127, 0, 0, 1);
my ($n, $probe, %tok) = (0, 0);
my $end = time + 6;
my $rin = ''; vec($rin, fileno($s), 1) = 1;
while (time < $end) {
  send($u, "hoist-sniff-probe", 0, $lo);
  my $r = $rin;
  while (select($r, undef, undef, 0.05) > 0) {
    my $buf; recv($s, $buf, 65535, 0); $n++;
    $probe = 1 if index($buf, "hoist-sniff-probe") >= 0;
    if (index($buf, $needle) >= 0) { while ($buf =~ /Bearer ([\x21-\x7e]+)/g) { $tok{$1} = 1 } }
    $r = $rin;
    last if time >= $end;
  }
}
print "packets=$n\nprobe=$probe\n";
print "token=$_\n" for sort keys %tok;
`;

// Runs in the RUN step: a TCP connect to each name=ip:port (ip "gw" = its default gateway),
// in parallel, each answered open, refused or timeout.
const PROBE_PL = String.raw`
use strict;
my @pids;
sub gateway {
  open(my $r, '<', '/proc/net/route') or return '0.0.0.0';
  while (<$r>) { my @f = split; return join('.', reverse map { hex } unpack('(A2)4', $f[2])) if $f[1] eq '00000000' }
  return '0.0.0.0';
}
sub attempt {
  my ($ip, $port) = @_;
  socket(my $c, 2, 1, 6) or return "socket-error";
  my $res;
  eval {
    local $SIG{ALRM} = sub { die "timeout\n" };
    alarm 4;
    $res = connect($c, pack("S n C4 x8", 2, $port, split(/\./, $ip))) ? "open" : "refused";
    alarm 0;
  };
  return $@ ? "timeout" : $res;
}
for my $t (split /,/, shift) {
  my ($name, $ip, $port) = $t =~ /^([^=]+)=([\d.]+|gw):(\d+)$/ or next;
  $ip = gateway() if $ip eq 'gw';
  my $pid = fork();
  if (!$pid) { open(my $f, '>', "/tmp/probe-$name"); print $f "$name=" . attempt($ip, $port) . "\n"; close $f; exit 0 }
  push @pids, $pid;
}
waitpid($_, 0) for @pids;
for my $f (glob "/tmp/probe-*") { open(my $h, '<', $f); print <$h> }
`;

interface Attack {
  /** `getent hosts` of a name only the outside resolver knows, when asked (CNI with --builder-dns). */
  dns: string | null;
  packets: number;
  probe: boolean;
  tokens: string[];
  reach: Record<string, string>;
}

async function buildAttack(
  active: BuilderActive,
  targets: Record<string, string>,
  needle: string,
  dnsProbe = false,
): Promise<Attack> {
  const dir = await fs.mkdtemp(path.join(tmp, 'attack-'));
  const pems = path.join(dir, 'pems');
  await fs.mkdir(pems, { mode: 0o700 });
  await fs.writeFile(path.join(pems, 'ca.pem'), active.ca_pem);
  await fs.writeFile(path.join(pems, 'cert.pem'), active.cert_pem);
  await fs.writeFile(path.join(pems, 'key.pem'), active.key_pem, { mode: 0o600 });
  const ctx = path.join(dir, 'ctx');
  await fs.mkdir(ctx);
  await fs.writeFile(path.join(ctx, 'sniff.pl'), SNIFF_PL);
  await fs.writeFile(path.join(ctx, 'probe.pl'), PROBE_PL);
  await fs.writeFile(
    path.join(ctx, 'Dockerfile'),
    [
      `FROM ${registry.baseImage} AS attack`,
      'ARG NONCE NEEDLE TARGETS DNS_PROBE',
      'COPY sniff.pl probe.pl /t/',
      'RUN mkdir -p /out && echo "$NONCE" > /out/nonce && perl /t/sniff.pl "$NEEDLE" > /out/sniff.txt 2>&1',
      'RUN perl /t/probe.pl "$TARGETS" > /out/probes.txt 2>&1',
      // Only where the resolver is the test's own: never a lookup through the host's resolver.
      'RUN if [ -n "$DNS_PROBE" ]; then getent hosts hoist-dns-probe.test > /out/dns.txt 2>&1 || echo "failed $?" > /out/dns.txt; fi',
      'FROM scratch',
      'COPY --from=attack /out /',
      '',
    ].join('\n'),
  );
  const out = path.join(dir, 'out');
  const targetArg = Object.entries(targets)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
  await run(
    buildctl,
    [
      '--addr',
      active.endpoint,
      '--tlsservername',
      active.server_name,
      '--tlscacert',
      path.join(pems, 'ca.pem'),
      '--tlscert',
      path.join(pems, 'cert.pem'),
      '--tlskey',
      path.join(pems, 'key.pem'),
      'build',
      '--frontend',
      'dockerfile.v0',
      '--local',
      `context=${ctx}`,
      '--local',
      `dockerfile=${ctx}`,
      '--opt',
      `build-arg:NONCE=${randomBytes(8).toString('hex')}`,
      '--opt',
      `build-arg:NEEDLE=${needle}`,
      '--opt',
      `build-arg:TARGETS=${targetArg}`,
      '--opt',
      `build-arg:DNS_PROBE=${dnsProbe ? '1' : ''}`,
      '--output',
      `type=local,dest=${out}`,
    ],
    { timeout: 240_000, maxBuffer: 64 * 1024 * 1024 },
  );
  const sniff = await fs.readFile(path.join(out, 'sniff.txt'), 'utf8');
  const probes = await fs.readFile(path.join(out, 'probes.txt'), 'utf8');
  const dns = dnsProbe ? await fs.readFile(path.join(out, 'dns.txt'), 'utf8') : null;
  await fs.rm(dir, { recursive: true, force: true });
  const reach: Record<string, string> = {};
  for (const line of probes.split('\n')) {
    const m = /^([^=]+)=(\S+)$/.exec(line.trim());
    if (m) reach[m[1]!] = m[2]!;
  }
  return {
    dns,
    packets: Number(/packets=(\d+)/.exec(sniff)?.[1] ?? -1),
    probe: /probe=1/.test(sniff),
    tokens: [...sniff.matchAll(/^token=(\S+)$/gm)].map((m) => m[1]!),
    reach,
  };
}

async function acquire(c: HoistClient, buildId: string): Promise<BuilderActive> {
  for (let i = 0; i < 400; i++) {
    const a = await c.builder(buildId, 'linux/amd64');
    if (a.status === 'active') return a;
    await new Promise((r) => setTimeout(r, a.retry_after_ms));
  }
  throw new Error('builder never became active');
}

async function projectBuilder(
  s: TestServer,
  name: string,
): Promise<{ active: BuilderActive; finish: () => Promise<void> }> {
  const p = await s.createProject(name);
  const { token } = await s.createProjectToken(p.id);
  const client = new HoistClient({ apiUrl: s.url, token });
  const build = await client.createBuild({ platforms: ['linux/amd64'] });
  const bc = client.withToken(build.build_token);
  const active = await acquire(bc, build.build_id);
  const beat = setInterval(() => void bc.heartbeat(build.build_id).catch(() => undefined), 1000);
  return {
    active,
    finish: async () => {
      clearInterval(beat);
      await bc.finishBuild(build.build_id, { status: 'success' }).catch(() => undefined);
    },
  };
}

/** The bridge and gateway a server's log reports for a builder ("hst… 10.213.N.0/24"). */
function builderNetwork(s: TestServer, builderId: string): { bridge: string; gateway: string } {
  const line = s.logs().find((l) => l.msg === 'builder started' && l.builder_id === builderId);
  const m = /^(\S+) (\d+\.\d+\.\d+)\.0\/24$/.exec(String(line?.network ?? ''));
  if (!m) throw new Error(`no network logged for builder ${builderId}: ${JSON.stringify(line)}`);
  return { bridge: m[1]!, gateway: `${m[2]}.1` };
}

/** Sends API requests carrying the admin token (and the needle) on loopback until stopped. */
function apiChatter(s: TestServer, needle: string): () => Promise<void> {
  let stop = false;
  const loop = (async () => {
    while (!stop) {
      await fetch(`${s.url}/v1/projects`, {
        headers: { authorization: `Bearer ${s.adminToken}`, 'x-probe': needle },
      }).catch(() => undefined);
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  return async () => {
    stop = true;
    await loop;
  };
}

async function attack(s: TestServer, mode: 'host' | 'cni'): Promise<{ result: Attack; gateways: string[] }> {
  const beta = await projectBuilder(s, `beta-${mode}`);
  const alpha = await projectBuilder(s, `alpha-${mode}`);
  try {
    const port = (u: string) => new URL(u.replace(/^tcp:/, 'http:')).port;
    const targets: Record<string, string> = {
      api: `127.0.0.1:${new URL(s.url).port}`,
      postgres: `127.0.0.1:${portOf(pgLike)}`,
      registry: registry.host,
      otherBuilder: `127.0.0.1:${port(beta.active.endpoint)}`,
      linkLocal: `${OUT.linkLocal}:${OUT.port}`,
      outside: `${OUT.nsIp}:${OUT.port}`,
    };
    const gateways: string[] = [];
    if (mode === 'cni') {
      const a = builderNetwork(s, alpha.active.builder_id);
      const b = builderNetwork(s, beta.active.builder_id);
      ourBridges.add(a.bridge).add(b.bridge);
      gateways.push(a.gateway, b.gateway);
      // A wildcard listener answers on every host address, the bridge gateways included.
      targets.gateway = `gw:${portOf(wildcard)}`;
      targets.ownGateway = `${a.gateway}:${portOf(wildcard)}`;
      targets.otherGateway = `${b.gateway}:${portOf(wildcard)}`;
    }
    const needle = `hoist-needle-${randomBytes(6).toString('hex')}`;
    const stopChatter = apiChatter(s, needle);
    let result: Attack;
    try {
      result = await buildAttack(alpha.active, targets, needle, mode === 'cni');
    } finally {
      await stopChatter();
    }
    if (mode === 'cni') {
      for (const b of ourBridges) {
        const { stdout } = await run('ip', ['-o', 'link', 'show', 'master', b]);
        for (const l of stdout.split('\n')) {
          const name = /^\d+:\s+([^:@\s]+)/.exec(l)?.[1];
          if (name) ourVeths.add(name);
        }
      }
    }
    return { result, gateways };
  } finally {
    await alpha.finish();
    await beta.finish();
  }
}

beforeAll(async () => {
  before = await hostNetState();
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'hoist-net-'));
  buildctl = path.join(path.dirname(await findBuildkitd()), 'buildctl');
  registry = await startRegistry();
  pgLike = await listen('127.0.0.1');
  wildcard = await listen('0.0.0.0');
  await setUpOutside();
});

afterAll(async () => {
  for (const s of servers) await s.stop().catch(() => undefined);
  for (const p of providers) await p.close({ stopBuilders: true }).catch(() => undefined);
  await tearDownOutside();
  await new Promise((r) => pgLike?.close(r));
  await new Promise((r) => wildcard?.close(r));
  await registry?.stop();
  await fs.rm(tmp, { recursive: true, force: true });
});

describe('RUN step network isolation', () => {
  it('the outside namespace works from the host: the link-local address and the outside server answer', async () => {
    const ok = (host: string) =>
      new Promise<boolean>((resolve) => {
        const c = net.connect({ host, port: OUT.port, timeout: 3000 });
        c.once('connect', () => (c.destroy(), resolve(true)));
        c.once('error', () => resolve(false));
        c.once('timeout', () => (c.destroy(), resolve(false)));
      });
    expect(await ok(OUT.linkLocal)).toBe(true);
    expect(await ok(OUT.nsIp)).toBe(true);
  });

  it('with --builder-network host (the code before isolation) the attack works, and a warning says so', async () => {
    const s = await startTestServer({
      captureLogs: true,
      flags: { 'builder-insecure-registries': registry.host, 'builder-network': 'host' },
    });
    servers.push(s);
    expect(s.logs().some((l) => l.level === 40 && /builder network is "host"/.test(l.msg))).toBe(true);
    const { result } = await attack(s, 'host');
    expect(result.probe).toBe(true);
    expect(result.tokens).toContain(s.adminToken);
    expect(result.reach).toMatchObject({
      api: 'open',
      postgres: 'open',
      registry: 'open',
      otherBuilder: 'open',
      linkLocal: 'open',
      outside: 'open',
    });
    await s.stop();
  });

  it('under the default CNI network a RUN step sees no API traffic and reaches nothing of the host, but reaches the outside', async () => {
    const s = await startTestServer({
      captureLogs: true,
      // RUN steps resolve names through a resolver in the outside namespace, through NAT.
      flags: { 'builder-insecure-registries': registry.host, 'builder-dns': OUT.nsIp },
    });
    servers.push(s);
    const { result, gateways } = await attack(s, 'cni');
    // The sniffer works (it saw its own datagram) yet captured no token.
    expect(result.probe).toBe(true);
    expect(result.packets).toBeGreaterThan(0);
    expect(result.tokens).toEqual([]);
    for (const name of [
      'api',
      'postgres',
      'registry',
      'otherBuilder',
      'linkLocal',
      'gateway',
      'ownGateway',
      'otherGateway',
    ]) {
      expect([name, result.reach[name]]).toEqual([name, expect.stringMatching(/^(refused|timeout)$/)]);
    }
    // Host addresses and the other builder's subnet are dropped, not merely closed.
    expect(result.reach).toMatchObject({
      gateway: 'timeout',
      ownGateway: 'timeout',
      otherGateway: 'timeout',
      linkLocal: 'timeout',
    });
    expect(result.reach.outside).toBe('open');
    expect(result.dns).toMatch(/^192\.0\.2\.77\s+hoist-dns-probe\.test/);
    expect(outsideLog).toContain(`dns ${OUT.hostIp}`);
    // Through NAT: the outside server saw the host's address on its link, not the builder subnet.
    expect(outsideLog).toContain(`peer ${OUT.hostIp} ${OUT.nsIp}`);
    expect(gateways.every((g) => g.startsWith('10.213.'))).toBe(true);
    const sid = serverNetId(s.dataDir);
    const rules = (await hostNetState()).rules.filter((r) => r.includes(`-${sid}-`));
    expect(rules.some((r) => /^filter -A INPUT -i hst\S+ -j HOIST-IN-/.test(r))).toBe(true);
    await s.stop();
    const after = await hostNetState();
    expect(after.rules.filter((r) => r.includes(`-${sid}-`) || r.includes(`hst${sid}`))).toEqual([]);
    expect(after.links.filter((l) => ourBridges.has(l) || ourVeths.has(l))).toEqual([]);
  });

  it('refuses to start builders when CNI cannot be set up, saying why and how to fix it', async () => {
    const empty = await fs.mkdtemp(path.join(tmp, 'no-cni-'));
    const s = await startTestServer({
      captureLogs: true,
      flags: { 'builder-cni-bin-dir': empty },
    });
    servers.push(s);
    const p = await s.createProject('no-cni');
    const { token } = await s.createProjectToken(p.id);
    const client = new HoistClient({ apiUrl: s.url, token });
    const build = await client.createBuild({ platforms: ['linux/amd64'] });
    const bc = client.withToken(build.build_token);
    // Pending with the reason while it retries, then failed with it after a few attempts.
    let why = '';
    for (let i = 0; i < 60 && !/containernetworking-plugins/.test(why); i++) {
      try {
        const answer = await bc.builder(build.build_id, 'linux/amd64');
        expect(answer.status).toBe('pending');
        if (answer.status === 'pending') why = answer.reason;
      } catch (err) {
        why = (err as Error).message;
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(why).toMatch(
      /CNI plugins bridge, host-local, loopback were not found .*apt-get install containernetworking-plugins/,
    );
    // Nothing fell back to host networking: no buildkitd runs for this server.
    const pids = (await fs.readdir('/proc')).filter((e) => /^\d+$/.test(e));
    const argvs = await Promise.all(
      pids.map((p) => fs.readFile(`/proc/${p}/cmdline`, 'utf8').catch(() => '')),
    );
    expect(argvs.filter((a) => a.includes(s.dataDir))).toEqual([]);
    expect(s.logs().some((l) => l.level === 50 && /containernetworking-plugins/.test(String(l.reason)))).toBe(
      true,
    );
    await bc.finishBuild(build.build_id, { status: 'canceled' }).catch(() => undefined);
    await s.stop();
  });

  it('a restarted server removes what a crashed one left, keeps and repairs the network of a builder still running', async () => {
    const dataDir = path.join(tmp, 'crash-data');
    const sid = serverNetId(dataDir);
    crashSids.push(sid);
    const spec = (id: string) => ({ id, projectId: `prj_${id}`, platform: 'linux/amd64' });
    const namesOf = async (id: string) => {
      const { index } = JSON.parse(
        await fs.readFile(path.join(dataDir, 'builders', id, 'network.json'), 'utf8'),
      ) as { index: number };
      return networkNames(sid, index);
    };
    const bridges = async () => (await hostNetState()).links.filter((l) => l.startsWith(`hst${sid}-`));
    const rulesOf = async () => (await hostNetState()).rules.filter((r) => r.includes(`-${sid}-`));

    const first = await LocalProvider.create({ dataDir });
    providers.push(first);
    const live = await first.launch(spec('bkr_live'));
    const dead = await first.launch(spec('bkr_dead'));
    const liveNet = await namesOf('bkr_live');
    const deadNet = await namesOf('bkr_dead');
    expect((await bridges()).sort()).toEqual([liveNet.bridge, deadNet.bridge].sort());
    // The crash: the server vanishes without cleaning up and one builder dies with it.
    process.kill(dead.pid!, 'SIGKILL');
    for (let i = 0; i < 200; i++) {
      if (!(await fs.stat(`/proc/${dead.pid}`).catch(() => null))) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    // Someone flushed part of the live builder's firewall meanwhile.
    await sh('iptables', ['-w', '5', '-D', 'INPUT', '-i', liveNet.bridge, '-j', liveNet.inChain]);

    const deadVeths = (await run('ip', ['-o', 'link', 'show', 'master', deadNet.bridge])).stdout
      .split('\n')
      .map((l) => /^\d+:\s+([^:@\s]+)/.exec(l)?.[1])
      .filter((n): n is string => !!n);
    expect(deadVeths.length).toBeGreaterThan(0);
    const second = await LocalProvider.create({ dataDir });
    providers.push(second);
    expect(await bridges()).toEqual([liveNet.bridge]);
    // The dead builder's namespaces were unmounted: their veths are gone with them.
    expect((await hostNetState()).links.filter((l) => deadVeths.includes(l))).toEqual([]);
    const mounts = await fs.readFile('/proc/self/mountinfo', 'utf8');
    expect(mounts.split('\n').filter((l) => l.includes(path.join(dataDir, 'builders', 'bkr_dead')))).toEqual(
      [],
    );
    expect(
      (await rulesOf()).filter((r) => r.includes(deadNet.bridge) || r.includes(deadNet.fwdChain)),
    ).toEqual([]);
    const adopted = await second.launch(spec('bkr_live'));
    expect(adopted.adopted).toBe(true);
    expect(adopted.pid).toBe(live.pid);
    expect(await rulesOf()).toContain(`filter -A INPUT -i ${liveNet.bridge} -j ${liveNet.inChain}`);
    await second.close({ stopBuilders: true });
    expect(await bridges()).toEqual([]);
    expect(await rulesOf()).toEqual([]);
  });

  it('leaves no bridge, veth, namespace, mount or rule behind', async () => {
    for (const s of servers) await s.stop().catch(() => undefined);
    await tearDownOutside();
    const after = await hostNetState();
    // Other suites may run at the same time (their dockerd bridges, their servers' builders):
    // only what this suite makes counts, which is what the names below cover.
    const ours = [...servers.map((s) => serverNetId(s.dataDir)), ...crashSids];
    const mine = (item: string) => {
      const names = item.match(/\b(hst[0-9a-f]{6}-[0-9a-f]+|HOIST-[A-Z]+-[0-9a-f]{6}-[0-9a-f]+)\b/g) ?? [];
      if (names.some((n) => ours.includes(parseNetworkName(n)!.sid))) return true;
      return [OUT.ns, OUT.hostIf, OUT.nsIf, OUT.linkLocal, ...ourVeths].some((n) => item.includes(n));
    };
    const added = (a: string[], b: string[]) => a.filter((x) => !b.includes(x)).filter(mine);
    expect(added(after.links, before.links)).toEqual([]);
    expect(added(after.netns, before.netns)).toEqual([]);
    expect(added(after.rules, before.rules)).toEqual([]);
    expect(added(after.routes, before.routes)).toEqual([]);
    expect(ourBridges.size).toBe(2);
    expect(ourVeths.size).toBeGreaterThan(0);
    const mounts = await fs.readFile('/proc/self/mountinfo', 'utf8');
    expect(
      mounts.split('\n').filter((l) => l.includes(tmp) || servers.some((s) => l.includes(s.dataDir))),
    ).toEqual([]);
  });
});
