import { describe, expect, it } from '@jest/globals';
import { nativePlatform, parsePlatform } from '../../src/providers/provider.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { createCa, issueServerCert } from '../../src/lib/pki.js';
import {
  builderEnv,
  certCoversHost,
  emulatedPlatforms,
  parseByteSize,
  serverName,
} from '../../src/providers/local.js';
import { renderBuildkitdConfig } from '../../src/providers/buildkitd-config.js';

describe('parsePlatform', () => {
  const supported = ['linux/amd64'];
  it.each([
    ['linux/amd64', 'linux/amd64'],
    [' linux/amd64 ', 'linux/amd64'],
    ['LINUX/AMD64', 'linux/amd64'],
    ['linux/x86_64', 'linux/amd64'],
    ['linux/amd64/v1', 'linux/amd64'],
  ])('accepts %j as %s', (raw, want) => {
    expect(parsePlatform(raw, supported)).toEqual({ ok: true, platform: want });
  });

  it.each([
    ['', /non-empty string/],
    [42, /non-empty string/],
    ['linux', /malformed/],
    ['linux/', /malformed/],
    ['linux/amd64/v2/extra', /malformed/],
    ['../etc/passwd', /malformed/],
    ['linux/arm64', /not supported.*linux\/amd64/],
    ['windows/amd64', /not supported/],
    ['linux/amd64/v3', /not supported/],
  ])('refuses %j', (raw, msg) => {
    const r = parsePlatform(raw, supported);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.message).toMatch(msg);
  });

  it('maps node architectures to OCI names', () => {
    expect(nativePlatform('x64')).toBe('linux/amd64');
    expect(nativePlatform('arm64')).toBe('linux/arm64');
  });
});

describe('parseByteSize', () => {
  it.each([
    ['10GB', 10 * 1024 ** 3],
    ['512MiB', 512 * 1024 ** 2],
    ['2g', 2 * 1024 ** 3],
    ['1.5G', 1.5 * 1024 ** 3],
    ['1048576', 1048576],
    [4096, 4096],
  ])('%j → %d', (raw, want) => expect(parseByteSize(raw)).toBe(want));

  it.each(['', 'ten GB', '-5GB', '0', '10XB', 1.5, -1])('refuses %j', (raw) =>
    expect(parseByteSize(raw)).toBeNull(),
  );
});

describe('renderBuildkitdConfig', () => {
  it('bounds every GC rule by maxUsedSpace and declares plain-HTTP registries', () => {
    const toml = renderBuildkitdConfig({
      maxUsedSpaceBytes: 1234567,
      insecureRegistries: ['127.0.0.1:5000'],
    });
    expect(toml).toContain('gc = true');
    expect(toml.match(/maxUsedSpace = "1234567"/g)).toHaveLength(4);
    expect(toml.match(/\[\[worker\.oci\.gcpolicy\]\]/g)).toHaveLength(3);
    expect(toml).toContain('[registry."127.0.0.1:5000"]\n  http = true');
    expect(toml).toContain('[worker.containerd]\n  enabled = false');
  });
});

describe('serverName', () => {
  it('is a DNS name derived from the builder id', () => {
    expect(serverName('bkr_ABC.1')).toBe('bkr-abc-1.builders.hoist.internal');
  });
});

describe('emulatedPlatforms', () => {
  it('offers a platform only for an enabled qemu handler with the fix-binary flag', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hoist-binfmt-'));
    try {
      expect(emulatedPlatforms(dir)).toEqual([]);
      writeFileSync(
        join(dir, 'qemu-aarch64'),
        'enabled\ninterpreter /usr/bin/qemu-aarch64-static\nflags: OCF\n',
      );
      writeFileSync(
        join(dir, 'qemu-riscv64'),
        'disabled\ninterpreter /usr/bin/qemu-riscv64-static\nflags: OCF\n',
      );
      writeFileSync(join(dir, 'qemu-s390x'), 'enabled\ninterpreter /usr/bin/qemu-s390x\nflags: OC\n');
      expect(emulatedPlatforms(dir)).toEqual(['linux/arm64']);
      expect(emulatedPlatforms(join(dir, 'missing'))).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('certCoversHost', () => {
  it('matches whole SAN entries, IPv6 in any spelling', async () => {
    const ca = await createCa({ commonName: 'test CA' });
    const pem = await issueServerCert(ca, {
      commonName: 'bkr-1.builders.hoist.internal',
      dnsNames: ['bkr-1.builders.hoist.internal', 'builder.example.com'],
      ipAddresses: ['127.0.0.10', '::1'],
    });
    const cert = new X509Certificate(pem.certPem);
    expect(certCoversHost(cert, '127.0.0.10')).toBe(true);
    // A substring of the SAN text is not a name of the certificate.
    expect(certCoversHost(cert, '127.0.0.1')).toBe(false);
    expect(certCoversHost(cert, '::1')).toBe(true);
    expect(certCoversHost(cert, '0:0:0:0:0:0:0:1')).toBe(true);
    expect(certCoversHost(cert, 'builder.example.com')).toBe(true);
    expect(certCoversHost(cert, 'example.com')).toBe(false);
  });
});

describe('builderEnv', () => {
  it("keeps the server's environment but not the control plane's credentials", () => {
    const env = builderEnv({
      PATH: '/usr/bin',
      HOME: '/root',
      HTTPS_PROXY: 'http://proxy:3128',
      HOIST_DATABASE_URL: 'postgres://hoist:secret@db/hoist',
      HOIST_TOKEN: 'hoist_adm_x',
      PGPASSWORD: 'secret',
      DATABASE_URL: 'postgres://u:secret@db/x',
      ACTIONS_ID_TOKEN_REQUEST_TOKEN: 'runtime',
      GITHUB_TOKEN: 'ghs_x',
    });
    expect(env).toEqual({
      PATH: '/usr/bin:/usr/local/sbin:/usr/sbin:/sbin',
      HOME: '/root',
      HTTPS_PROXY: 'http://proxy:3128',
    });
  });
});
