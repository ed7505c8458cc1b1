// The test helpers of test/helpers/engine.ts against the real engine: every piece starts,
// works, and leaves neither a process nor a directory behind.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCa, issueClientCert, issueServerCert, type CertKeyPem } from '../../src/lib/pki.js';
import {
  buildctlTlsArgs,
  engineBinaries,
  makeDockerConfig,
  startBuildkitd,
  startDockerd,
  startRegistry,
  type Registry,
} from '../helpers/engine.js';

const HOUR = 60 * 60 * 1000;

interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

function run(command: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(command, args, { env, timeout: 180_000, maxBuffer: 32 * 1024 * 1024 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

/** Pids of processes whose command line mentions `text`. */
function processesMentioning(text: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(text)) pids.push(Number(entry));
    } catch {
      // exited meanwhile
    }
  }
  return pids;
}

let registry: Registry;
let work: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'hoist-engine-test-'));
  registry = await startRegistry();
}, 60_000);

afterAll(async () => {
  await registry?.stop();
  if (work) await rm(work, { recursive: true, force: true });
}, 60_000);

describe('engineBinaries', () => {
  it('finds the cached and system binaries', () => {
    const bins = engineBinaries();
    for (const path of Object.values(bins)) expect(existsSync(path)).toBe(true);
  });

  it('says to run `npm run engine` when the cache is empty', async () => {
    const saved = process.env.HOIST_ENGINE_CACHE;
    process.env.HOIST_ENGINE_CACHE = await mkdtemp(join(work, 'empty-cache-'));
    try {
      expect(() => engineBinaries()).toThrow(/missing .*buildkitd.*npm run engine/);
      await expect(startRegistry()).rejects.toThrow(/npm run engine/);
    } finally {
      if (saved === undefined) delete process.env.HOIST_ENGINE_CACHE;
      else process.env.HOIST_ENGINE_CACHE = saved;
    }
  });
});

describe('startRegistry', () => {
  it('serves the Debian base image on a loopback port', async () => {
    expect(registry.host).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(registry.baseImage).toBe(`${registry.host}/hoist-test/debian:bookworm`);
    const res = await fetch(`${registry.url}/v2/hoist-test/debian/manifests/bookworm`, {
      headers: {
        accept:
          'application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json',
      },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('docker-content-digest')).toMatch(/^sha256:[0-9a-f]{64}$/);
  });

  it('stops: no process, no directory, the port closed', async () => {
    const other = await startRegistry({ seed: false });
    const tags = await fetch(`${other.url}/v2/_catalog`);
    expect(await tags.json()).toEqual({ repositories: [] });
    await other.stop();
    expect(existsSync(other.dir)).toBe(false);
    expect(processesMentioning(other.dir)).toEqual([]);
    await expect(fetch(`${other.url}/v2/`)).rejects.toThrow();
  }, 60_000);
});

describe('startBuildkitd', () => {
  let ca: CertKeyPem;
  let server: CertKeyPem;
  let client: CertKeyPem;

  beforeAll(async () => {
    ca = await createCa({ commonName: 'engine test CA' });
    server = await issueServerCert(ca, { commonName: 'buildkitd', ipAddresses: ['127.0.0.1'] });
    client = await issueClientCert(ca, { commonName: 'engine-test', notAfter: new Date(Date.now() + HOUR) });
  });

  // Without a [registry] entry in buildkitd.toml: BuildKit itself falls back to plain HTTP
  // for a registry on 127.0.0.1. The helpers still write the entry (see engine.ts).
  it.each([
    ['with a [registry] entry in buildkitd.toml', true, 'auto'],
    ['relying on BuildKit treating 127.0.0.1 as plain HTTP', false, 'auto'],
    ['with the native snapshotter', true, 'native'],
  ] as const)(
    'pulls the base image from the loopback registry over HTTP and runs a RUN step, %s',
    async (_name, configured, snapshotter) => {
      const bk = await startBuildkitd({
        caPem: ca.certPem,
        certPem: server.certPem,
        keyPem: server.keyPem,
        client,
        registries: configured ? [registry.host] : [],
        snapshotter,
      });
      try {
        const dir = await mkdtemp(join(work, 'bk-'));
        await writeFile(join(dir, 'ca.pem'), ca.certPem, { mode: 0o600 });
        await writeFile(join(dir, 'client.pem'), client.certPem, { mode: 0o600 });
        await writeFile(join(dir, 'client-key.pem'), client.keyPem, { mode: 0o600 });
        await writeFile(
          join(dir, 'Dockerfile'),
          `FROM ${registry.baseImage}\nRUN test -f /etc/debian_version && echo built-on-$(cat /etc/debian_version)\n`,
        );
        const tls = buildctlTlsArgs({
          caFile: join(dir, 'ca.pem'),
          certFile: join(dir, 'client.pem'),
          keyFile: join(dir, 'client-key.pem'),
          serverName: '127.0.0.1',
        });
        const build = await run(engineBinaries().buildctl, [
          '--addr',
          bk.address,
          ...tls,
          'build',
          '--progress',
          'plain',
          '--frontend',
          'dockerfile.v0',
          '--local',
          `context=${dir}`,
          '--local',
          `dockerfile=${dir}`,
        ]);
        expect(build.stderr).toMatch(/built-on-12\.\d+/);
        expect(build.code).toBe(0);
        // `auto` picks overlayfs in this sandbox.
        const expected = snapshotter === 'native' ? 'native' : 'overlayfs';
        expect(readFileSync(bk.logFile, 'utf8')).toContain(
          `org.mobyproject.buildkit.worker.snapshotter:${expected}`,
        );
      } finally {
        await bk.stop();
      }
      expect(existsSync(bk.dir)).toBe(false);
      expect(processesMentioning(bk.dir)).toEqual([]);
    },
    180_000,
  );
});

describe('startDockerd', () => {
  it('runs a private dockerd that pulls from the loopback registry, runs a container and builds with RUN (the buildx docker driver), then stops cleanly', async () => {
    const dockerd = await startDockerd({ registries: [registry.host] });
    const config = await makeDockerConfig();
    const env = { ...process.env, ...config.env, DOCKER_HOST: dockerd.host };
    const docker = engineBinaries().docker;
    try {
      const context = await mkdtemp(join(work, 'dockerd-build-'));
      await writeFile(
        join(context, 'Dockerfile'),
        `FROM ${registry.baseImage}\nRUN echo built > /built.txt\n`,
      );
      const build = await run(
        docker,
        ['buildx', 'build', '--progress', 'plain', '--tag', 'hoist-test/built', context],
        env,
      );
      expect(build.stderr).toContain('echo built');
      expect(build).toMatchObject({ code: 0 });
      const built = await run(docker, ['run', '--rm', 'hoist-test/built', 'cat', '/built.txt'], env);
      expect(built).toMatchObject({ code: 0, stdout: 'built\n' });

      expect(dockerd.host).toBe(`unix://${dockerd.socket}`);
      const pull = await run(docker, ['pull', '--quiet', registry.baseImage], env);
      expect(pull).toMatchObject({ code: 0 });
      const container = await run(
        docker,
        ['run', '--rm', '--network', 'none', registry.baseImage, 'cat', '/etc/debian_version'],
        env,
      );
      expect(container).toMatchObject({ code: 0 });
      expect(container.stdout.trim()).toMatch(/^12\.\d+$/);
    } finally {
      await dockerd.stop();
      await config.cleanup();
    }
    expect(existsSync(dockerd.dir)).toBe(false);
    expect(existsSync(`/sys/class/net/${dockerd.bridge}`)).toBe(false);
    expect(processesMentioning(dockerd.dir)).toEqual([]);
  }, 180_000);
});
