// `hoist cache prune` against a real docker-registry (deletes enabled) holding real BuildKit
// registry caches, exported by real buildx (`--cache-to type=registry,mode=max`) through a
// remote builder on a real buildkitd, the way the build-push action's fallback-cache writes them.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { branchCacheTag } from '../../src/lib/cache-tag.js';
import { createCa, issueClientCert, issueServerCert } from '../../src/lib/pki.js';
import { pruneCache, runCache } from '../../src/cli/cache.js';
import {
  engineBinaries,
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

/** Exports a real mode=max registry cache of a small build to `<ref>:<tag>`. */
async function pushCache(tag: string): Promise<void> {
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
    `type=registry,ref=${ref}:${tag},mode=max`,
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
  buildkitd = await startBuildkitd({
    caPem: ca.certPem,
    certPem: server.certPem,
    keyPem: server.keyPem,
    client,
    registries: [registry.host],
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
