import { describe, expect, it } from '@jest/globals';
import { ConfigurationError } from '../../src/lib/errors.js';
import { loadBuildsConfig, parseDuration } from '../../src/server/builds/config.js';

describe('parseDuration', () => {
  it.each([
    ['90', 90_000],
    ['90s', 90_000],
    ['1500ms', 1500],
    ['15m', 900_000],
    ['6h', 21_600_000],
    [' 2.5s ', 2500],
    ['30d', 30 * 86_400_000],
  ])('%j → %d ms', (raw, ms) => expect(parseDuration(raw)).toBe(ms));
  it.each(['', 'soon', '-5s', '0', '5w', '1h30m'])('refuses %j', (raw) =>
    expect(parseDuration(raw)).toBeNull(),
  );
});

describe('loadBuildsConfig', () => {
  it('has defaults', () => {
    const c = loadBuildsConfig({});
    expect(c).toMatchObject({
      builderListenHost: '127.0.0.1',
      builderGatewayPort: 0,
      certLifetimeMs: 10 * 60_000,
      idleTimeoutMs: 15 * 60_000,
      maxUsedSpaceBytes: 10 * 1024 ** 3,
      maxBuildDurationMs: 6 * 3_600_000,
      heartbeatGraceMs: 60_000,
      builderWaitMs: 30 * 60_000,
      buildersOnExit: 'stop',
      insecureRegistries: [],
      maxActiveBuildsPerProject: 200,
      createRatePerMin: 120,
      createBurst: 120,
      retentionMs: 30 * 86_400_000,
      purgeIntervalMs: 10 * 60_000,
      builderNetwork: 'cni',
      builderSubnetPool: '10.213.0.0/16',
      builderDns: [],
    });
    expect(c.buildkitdPath).toBeUndefined();
    expect(c.builderCniBinDir).toBeUndefined();
  });

  it('reads every option', () => {
    const c = loadBuildsConfig({
      buildkitd: '/opt/bk/buildkitd',
      'builder-listen-host': '0.0.0.0',
      'builder-advertise-host': 'builders.example.com',
      'builder-idle-timeout': '30s',
      'builder-max-used-space': '2GB',
      'build-max-duration': '10m',
      'build-heartbeat-grace': '5s',
      'build-wait': '1m',
      'builders-on-exit': 'keep',
      'builder-insecure-registries': '127.0.0.1:5000, localhost:5001',
      'project-max-active-builds': '5',
      'build-create-rate': '30',
      'build-create-burst': '4',
      'build-retention': '7d',
      'builder-network': 'host',
      'builder-subnet-pool': '172.30.0.0/20',
      'builder-cni-bin-dir': '/opt/cni/bin',
      'builder-dns': '192.0.2.53, 2001:db8::53',
      'builder-gateway-port': '7443',
      'build-cert-lifetime': '2m',
    });
    expect(c).toMatchObject({
      buildkitdPath: '/opt/bk/buildkitd',
      builderListenHost: '0.0.0.0',
      builderAdvertiseHost: 'builders.example.com',
      idleTimeoutMs: 30_000,
      maxUsedSpaceBytes: 2 * 1024 ** 3,
      maxBuildDurationMs: 600_000,
      heartbeatGraceMs: 5000,
      builderWaitMs: 60_000,
      buildersOnExit: 'keep',
      insecureRegistries: ['127.0.0.1:5000', 'localhost:5001'],
      maxActiveBuildsPerProject: 5,
      createRatePerMin: 30,
      createBurst: 4,
      retentionMs: 7 * 86_400_000,
      builderNetwork: 'host',
      builderSubnetPool: '172.30.0.0/20',
      builderCniBinDir: '/opt/cni/bin',
      builderDns: ['192.0.2.53', '2001:db8::53'],
      builderGatewayPort: 7443,
      certLifetimeMs: 120_000,
    });
  });

  it.each([
    [
      { 'builder-gateway-port': '70000' },
      /--builder-gateway-port \(HOIST_BUILDER_GATEWAY_PORT\) must be a TCP port/,
    ],
    [{ 'builder-gateway-port': 'https' }, /must be a TCP port from 0 to 65535, got "https"/],
    [
      { 'build-cert-lifetime': 'soon' },
      /--build-cert-lifetime \(HOIST_BUILD_CERT_LIFETIME\) must be a duration/,
    ],
    [{ 'build-cert-lifetime': '500ms' }, /must be at least 1000 ms/],
  ])('refuses %j', (opts, message) => {
    expect(() => loadBuildsConfig(opts)).toThrow(ConfigurationError);
    expect(() => loadBuildsConfig(opts)).toThrow(message);
  });

  it('turns the creation rate limit off with 0, and bursts default to the rate', () => {
    expect(loadBuildsConfig({ 'build-create-rate': '0' })).toMatchObject({
      createRatePerMin: 0,
      createBurst: 1,
    });
    expect(loadBuildsConfig({ 'build-create-rate': '600' }).createBurst).toBe(600);
  });

  it.each([
    ['::1', '::1'],
    ['[::1]', '::1'],
    ['0.0.0.0', '0.0.0.0'],
    ['localhost', 'localhost'],
  ])('takes the listen host %j as %j', (raw, want) => {
    expect(loadBuildsConfig({ 'builder-listen-host': raw }).builderListenHost).toBe(want);
  });

  it.each([
    [
      { 'builder-idle-timeout': 'forever' },
      /--builder-idle-timeout \(HOIST_BUILDER_IDLE_TIMEOUT\) must be a duration/,
    ],
    [{ 'build-max-duration': '10ms' }, /--build-max-duration .* at least 1000 ms/],
    [{ 'builder-max-used-space': 'lots' }, /--builder-max-used-space .* 512MB/],
    [{ 'builders-on-exit': 'detach' }, /"stop" or "keep"/],
    [
      { 'project-max-active-builds': '0' },
      /--project-max-active-builds \(HOIST_PROJECT_MAX_ACTIVE_BUILDS\) must be a whole number from 1/,
    ],
    [
      { 'build-create-rate': 'fast' },
      /--build-create-rate \(HOIST_BUILD_CREATE_RATE\) must be a whole number/,
    ],
    [{ 'build-create-burst': '-1' }, /--build-create-burst .* whole number from 1/],
    [{ 'build-retention': '10m' }, /--build-retention \(HOIST_BUILD_RETENTION\) must be at least 1h/],
    [{ 'build-retention': 'forever' }, /--build-retention .* must be a duration/],
    [{ 'builder-insecure-registries': 'http://x:5000' }, /host:port entries/],
    [
      { 'builder-listen-host': '127.0.0.1:9000' },
      /--builder-listen-host \(HOIST_BUILDER_LISTEN_HOST\) must be a host name or IP address without a port/,
    ],
    [
      { 'builder-advertise-host': 'tcp://builders.example.com' },
      /--builder-advertise-host .* without a port or scheme/,
    ],
    [
      { 'builder-network': 'bridge' },
      /--builder-network \(HOIST_BUILDER_NETWORK\) must be "cni" .* or "host"/,
    ],
    [{ 'builder-subnet-pool': '10.213.0.0' }, /--builder-subnet-pool .* CIDR notation/],
    [{ 'builder-subnet-pool': '10.213.1.0/16' }, /did you mean 10\.213\.0\.0\/16/],
    [{ 'builder-subnet-pool': '10.0.0.0/26' }, /between \/8 and \/24/],
    [{ 'builder-dns': '192.0.2.53,dns.example' }, /--builder-dns .* IP addresses/],
  ])('refuses %j with a message naming the flag', (opts, msg) => {
    expect(() => loadBuildsConfig(opts)).toThrow(ConfigurationError);
    expect(() => loadBuildsConfig(opts)).toThrow(msg);
  });
});
