// `hoist cache prune` against a real docker-registry (deletes enabled) holding real BuildKit
// registry caches, exported by real buildx (`--cache-to type=registry,mode=max`) through a
// remote builder on a real buildkitd, the way the build-push action's fallback-cache writes them.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { branchCacheTag } from '../../src/lib/cache-tag.js';
import { createCa, issueClientCert, issueServerCert } from '../../src/lib/pki.js';
import { pruneCache, runCache } from '../../src/cli/cache.js';
import {
  engineBinaries,
  freePort,
  makeDockerConfig,
  startBuildkitd,
  startRegistry,
  type Buildkitd,
  type DockerConfig,
  type Registry,
} from '../helpers/engine.js';

const HOUR = 60 * 60 * 1000;
const DAY = 24 * HOUR;
const BUILDER = 'hoist-cache-prune';
const REPOSITORY = 'hoist-test/app-cache';

let registry: Registry;
let buildkitd: Buildkitd;
let dockerConfig: DockerConfig;
let work: string;
let ref: string;
/** A second registry that wants basic auth (htpasswd), started by this suite. */
let authRegistry: { host: string; dir: string; child: ChildProcess } | undefined;
const AUTH_USER = 'cache-bot';
const AUTH_PASSWORD = 'not-a-real-password-0b1f';

function docker(
  args: string[],
  timeoutMs = 240_000,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      engineBinaries().docker,
      args,
      { env: { ...process.env, ...dockerConfig.env }, timeout: timeoutMs, maxBuffer: 32 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/**
 * docker-registry with htpasswd basic auth (bcrypt through the C library's crypt, which is what
 * `htpasswd -B` writes) and deletes enabled, on plain HTTP.
 */
async function startAuthRegistry(): Promise<NonNullable<typeof authRegistry>> {
  const dir = await mkdtemp(join(tmpdir(), 'hoist-auth-registry-'));
  const hash = await new Promise<string>((resolve, reject) =>
    execFile(
      'python3',
      [
        '-W',
        'ignore',
        '-c',
        'import crypt,sys;print(crypt.crypt(sys.argv[1], crypt.mksalt(crypt.METHOD_BLOWFISH)))',
        AUTH_PASSWORD,
      ],
      (err, stdout) => (err ? reject(err) : resolve(stdout.trim())),
    ),
  );
  await writeFile(join(dir, 'htpasswd'), `${AUTH_USER}:${hash}\n`, { mode: 0o600 });
  const host = `127.0.0.1:${await freePort()}`;
  await writeFile(
    join(dir, 'config.yml'),
    [
      'version: 0.1',
      'log:',
      '  level: warn',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${join(dir, 'storage')}`,
      '  delete:',
      '    enabled: true',
      'auth:',
      '  htpasswd:',
      '    realm: hoist-test',
      `    path: ${join(dir, 'htpasswd')}`,
      'http:',
      `  addr: ${host}`,
      '',
    ].join('\n'),
  );
  const child = spawn(engineBinaries().registry, ['serve', join(dir, 'config.yml')], { stdio: 'ignore' });
  for (let i = 0; i < 100; i++) {
    const res = await fetch(`http://${host}/v2/`).catch(() => undefined);
    if (res?.status === 401) return { host, dir, child };
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill();
  throw new Error(`docker-registry with htpasswd on ${host} did not start`);
}

/** Exports a real mode=max registry cache of a small build to `<ref>:<tag>`. */
async function pushCache(tag: string, target = ref): Promise<void> {
  const dir = await mkdtemp(join(work, 'context-'));
  await writeFile(join(dir, 'payload.txt'), `cache of ${tag}\n`);
  await writeFile(
    join(dir, 'Dockerfile'),
    [
      `FROM ${registry.baseImage}`,
      'COPY payload.txt /payload.txt',
      'RUN sha256sum /payload.txt > /payload.sha256',
      '',
    ].join('\n'),
  );
  const build = await docker([
    'buildx',
    'build',
    '--builder',
    BUILDER,
    '--progress',
    'plain',
    '--cache-to',
    `type=registry,ref=${target}:${tag},mode=max`,
    dir,
  ]);
  expect(build.stderr).toContain('exporting cache');
  expect(build).toMatchObject({ code: 0 });
}

async function registryTags(): Promise<string[]> {
  const res = await fetch(`${registry.url}/v2/${REPOSITORY}/tags/list`);
  if (res.status === 404) return [];
  const body = (await res.json()) as { tags?: string[] | null };
  return (body.tags ?? []).sort();
}

function capture(): { io: Parameters<typeof runCache>[1]; out: () => string } {
  let text = '';
  const sink = { write: (s: string) => (text += s) };
  return { io: { env: { ...dockerConfig.env }, stdout: sink, stderr: sink }, out: () => text };
}

const featureA = branchCacheTag('feature/a');
const featureB = branchCacheTag('feature-b');

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'hoist-cache-prune-'));
  dockerConfig = await makeDockerConfig();
  const ca = await createCa({ commonName: 'hoist cache-prune test CA' });
  const server = await issueServerCert(ca, { commonName: 'buildkitd', ipAddresses: ['127.0.0.1'] });
  const client = await issueClientCert(ca, {
    commonName: 'cache-prune',
    notAfter: new Date(Date.now() + HOUR),
  });
  registry = await startRegistry();
  ref = `${registry.host}/${REPOSITORY}`;
  authRegistry = await startAuthRegistry();
  buildkitd = await startBuildkitd({
    caPem: ca.certPem,
    certPem: server.certPem,
    keyPem: server.keyPem,
    client,
    registries: [registry.host, authRegistry.host],
  });
  const certs = join(work, 'certs');
  await mkdir(certs, { mode: 0o700 });
  await writeFile(join(certs, 'ca.pem'), ca.certPem, { mode: 0o600 });
  await writeFile(join(certs, 'cert.pem'), client.certPem, { mode: 0o600 });
  await writeFile(join(certs, 'key.pem'), client.keyPem, { mode: 0o600 });
  const create = await docker([
    'buildx',
    'create',
    '--name',
    BUILDER,
    '--driver',
    'remote',
    '--driver-opt',
    `cacert=${join(certs, 'ca.pem')},cert=${join(certs, 'cert.pem')},key=${join(certs, 'key.pem')},servername=127.0.0.1`,
    buildkitd.address,
  ]);
  expect(create).toMatchObject({ code: 0 });
  // The default branch and two branches, each with its own content (so its own digest).
  for (const tag of ['main', featureA, featureB]) await pushCache(tag);
}, 600_000);

afterAll(async () => {
  if (dockerConfig) await docker(['buildx', 'rm', '--force', BUILDER]).catch(() => undefined);
  await buildkitd?.stop();
  await registry?.stop();
  if (authRegistry) {
    const { child, dir } = authRegistry;
    if (child.exitCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
    await rm(dir, { recursive: true, force: true });
  }
  await dockerConfig?.cleanup();
  if (work) await rm(work, { recursive: true, force: true });
}, 120_000);

describe('hoist cache prune against a real registry with real buildx caches', () => {
  it('tells the age of every cache buildx exported, and a fresh one is kept', async () => {
    const { io, out } = capture();
    await expect(runCache(['prune', '--ref', ref, '--insecure'], io)).resolves.toBe(0);
    expect(out()).toMatch(/deleted 0 of 3 tags/);
    expect(out()).toMatch(new RegExp(`${featureA}\\s.*keep: fresh \\(\\d+s old\\)`));
    expect(out()).toMatch(/main\s.*keep: the default branch/);
    expect(await registryTags()).toEqual(['main', featureA, featureB].sort());
  }, 60_000);

  it('--dry-run lists what would go and deletes nothing', async () => {
    const result = await pruneCache(
      {
        ref,
        keep: [featureB],
        defaultBranch: 'main',
        olderThanMs: 14 * DAY,
        dryRun: true,
        insecure: true,
        now: new Date(Date.now() + 15 * DAY),
        dockerConfigDir: dockerConfig.env.DOCKER_CONFIG,
      },
      { stdout: { write: () => true } },
    );
    const byTag = Object.fromEntries(result.decisions.map((d) => [d.tag, d]));
    expect(byTag[featureA]).toMatchObject({
      action: 'delete',
      reason: expect.stringMatching(/^stale \(1[45]d old\)$/),
    });
    expect(byTag[featureB]).toMatchObject({ action: 'keep', reason: '--keep' });
    expect(byTag.main).toMatchObject({ action: 'keep', reason: 'the default branch' });
    for (const d of result.decisions) {
      // BuildKit stamps the cache layers it exports; the export just happened.
      expect(d.createdFrom).toBe('buildkit/createdat');
      expect(Math.abs(d.created!.getTime() - Date.now())).toBeLessThan(HOUR);
    }
    expect(result.deleted).toEqual([]);
    expect(await registryTags()).toEqual(['main', featureA, featureB].sort());
  }, 60_000);

  it('deletes the stale branch cache by digest and keeps the default branch and --keep', async () => {
    const { io, out } = capture();
    const code = await runCache(
      ['prune', '--ref', ref, '--keep', featureB, '--older-than', '0s', '--insecure'],
      io,
    );
    expect(code).toBe(0);
    expect(out()).toMatch(new RegExp(`${featureA}\\s.*deleted: stale`));
    expect(out()).toMatch(/deleted 1 of 3 tags/);
    expect(await registryTags()).toEqual(['main', featureB].sort());
    // The manifest itself is gone, not only the tag.
    const manifests = await fetch(`${registry.url}/v2/${REPOSITORY}/manifests/${featureA}`);
    expect(manifests.status).toBe(404);
    const main = await fetch(`${registry.url}/v2/${REPOSITORY}/manifests/main`, {
      method: 'HEAD',
      headers: { accept: 'application/vnd.oci.image.index.v1+json' },
    });
    expect(main.status).toBe(200);
  }, 60_000);

  it('says how to fix a registry it cannot reach over HTTPS', async () => {
    const { io } = capture();
    await expect(runCache(['prune', '--ref', ref], io)).rejects.toThrow(
      /add --insecure for a plain-HTTP registry/,
    );
  }, 30_000);
});

describe('hoist cache prune on a registry that wants basic auth', () => {
  const basic = `Basic ${Buffer.from(`${AUTH_USER}:${AUTH_PASSWORD}`).toString('base64')}`;
  const authTags = async (authRef: string): Promise<string[]> => {
    const res = await fetch(`http://${authRef.split('/')[0]}/v2/${REPOSITORY}/tags/list`, {
      headers: { authorization: basic },
    });
    const body = (await res.json()) as { tags?: string[] | null };
    return (body.tags ?? []).sort();
  };

  it('uses the docker config credential that buildx pushed with; without it, says to log in', async () => {
    const authRef = `${authRegistry!.host}/${REPOSITORY}`;
    // The same credential docker login writes: buildx pushes the caches with it.
    await writeFile(
      join(dockerConfig.env.DOCKER_CONFIG, 'config.json'),
      JSON.stringify({
        auths: {
          [authRegistry!.host]: { auth: Buffer.from(`${AUTH_USER}:${AUTH_PASSWORD}`).toString('base64') },
        },
      }),
      { mode: 0o600 },
    );
    for (const tag of ['main', 'old-branch']) await pushCache(tag, authRef);
    expect(await authTags(authRef)).toEqual(['main', 'old-branch']);

    const anonymous = await mkdtemp(join(work, 'no-credential-'));
    const { io: noCred } = capture();
    noCred.env = { DOCKER_CONFIG: anonymous };
    await expect(
      runCache(['prune', '--ref', authRef, '--older-than', '0s', '--insecure'], noCred),
    ).rejects.toThrow(/HTTP 401.*docker login/);
    expect(await authTags(authRef)).toEqual(['main', 'old-branch']);

    const { io, out } = capture();
    await expect(runCache(['prune', '--ref', authRef, '--older-than', '0s', '--insecure'], io)).resolves.toBe(
      0,
    );
    expect(out()).toMatch(/old-branch\s.*deleted: stale/);
    expect(out()).not.toContain(AUTH_PASSWORD);
    expect(await authTags(authRef)).toEqual(['main']);
  }, 300_000);
});
