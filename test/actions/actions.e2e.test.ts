// End to end: the BUILT actions (dist/setup, dist/build-push) run as child processes the way the
// GitHub runner runs them (test/actions/runner.ts), against a real `hoist server` with its local
// builder provider (real buildkitd), a real docker-registry, a private dockerd for the fallback,
// and the local OIDC issuer standing in for GitHub's (its runtime endpoint serves
// ACTIONS_ID_TOKEN_REQUEST_URL in the runtime's own request format).
//
// Needs the engine (npm run engine) and the bundles: node .ci/build.mjs setup build-push, and
// npm run build (dist/cli and its release tarball in dist/releases, which setup-action installs).
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import type { BuildInfo, Project } from '../../src/lib/api-types.js';
import {
  engineBinaries,
  makeDockerConfig,
  startBuildkitd,
  startDockerd,
  startRegistry,
  type DockerConfig,
  type Dockerd,
  type Registry,
} from '../helpers/engine.js';
import { createCa, issueClientCert, issueServerCert } from '../../src/lib/pki.js';
import { startOidcIssuer, type OidcIssuer } from '../helpers/oidc-issuer.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { waitForFinishers } from '../helpers/finisher.js';
import { getInputs } from '../../src/actions/build-push/inputs.js';
import { getArgs, toHoistArgs } from '../../src/actions/build-push/args.js';
import {
  defaultGitContext,
  isPrivateRepository,
  readGitHubRun,
  workflowRunUrl,
} from '../../src/actions/lib/github.js';
import { setInputs } from './env.js';
import { forkPullRequestPayload, pushPayload, REPO } from './payloads.js';
import { actionDefaults, newJob, REPO_ROOT, runStep, type Job } from './runner.js';

jest.setTimeout(600_000);

let issuer: OidcIssuer;
let server: TestServer;
let registry: Registry;
let dockerd: Dockerd;
let dockerConfig: DockerConfig;
let project: Project;
let work: string;
let sharedToolCache: string;
let contextDir: string;
let badContextDir: string;
let jobCounter = 0;

function run(
  file: string,
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { env, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

function job(
  opts: {
    eventName?: string;
    payload?: unknown;
    oidc?: boolean;
    toolCache?: string;
    env?: Record<string, string>;
  } = {},
): Job {
  const dir = path.join(work, `job-${++jobCounter}`);
  return newJob({
    dir,
    eventName: opts.eventName ?? 'push',
    payload: opts.payload ?? pushPayload(),
    repository: REPO,
    toolCache: opts.toolCache ?? sharedToolCache,
    env: {
      HOME: dir,
      DOCKER_HOST: dockerd.host,
      ...dockerConfig.env,
      ...(opts.oidc === false ? {} : issuer.actionsEnv()),
      ...(opts.env ?? {}),
    },
  });
}

async function builds(): Promise<BuildInfo[]> {
  const r = await server.api<{ builds: BuildInfo[] }>('GET', `/v1/builds?project=${project.id}&limit=500`);
  if (r.status !== 200) throw new Error(`list builds: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body.builds;
}

async function registryDigest(repo: string, tag: string): Promise<string | null> {
  const res = await fetch(`${registry.url}/v2/${repo}/manifests/${tag}`, {
    method: 'HEAD',
    headers: {
      accept: [
        'application/vnd.oci.image.index.v1+json',
        'application/vnd.oci.image.manifest.v1+json',
        'application/vnd.docker.distribution.manifest.list.v2+json',
        'application/vnd.docker.distribution.manifest.v2+json',
      ].join(', '),
    },
  });
  return res.ok ? res.headers.get('docker-content-digest') : null;
}

/**
 * The argv docker/build-push-action would build for these inputs in this job, computed in this
 * process by the pure getArgs with the temp dir the step used (from its saved state).
 */
function expectedArgs(
  j: Job,
  inputs: Record<string, string>,
  tmpDir: string,
  buildkitAttestations = true,
): string[] {
  const defaults = actionDefaults(
    path.join(REPO_ROOT, 'build-push-action', 'action.yml'),
    'ghs_e2e_not_a_real_token',
  );
  setInputs({ ...defaults, ...inputs });
  try {
    const gh = readGitHubRun(j.env);
    return getArgs(getInputs(), {
      defaultContext: defaultGitContext(gh, j.env),
      tmpDir,
      serverUrl: gh.serverUrl,
      runUrl: workflowRunUrl(gh),
      repoPrivate: isPrivateRepository(gh.payload),
      noDefaultAttestations: false,
      buildkitAttestations,
      fileExists: (f) => fs.existsSync(f),
    });
  } finally {
    setInputs({});
  }
}

/** The `[command]…` line @actions/exec echoes for `tool` (one-line argv only). */
function commandLine(stdout: string, tool: string): string | undefined {
  return stdout.split('\n').find((l) => l.startsWith('[command]') && l.includes(`/${tool} `));
}

const errorLines = (stdout: string): string[] => stdout.split('\n').filter((l) => l.startsWith('::error::'));

/**
 * A `remote` buildx builder on a fresh buildkitd (the engine's BuildKit 0.18) with mTLS, as
 * docker/setup-buildx-action would give a runner; its cache starts empty.
 */
async function remoteBuilder(name: string): Promise<{ name: string; stop: () => Promise<void> }> {
  const ca = await createCa({ commonName: `hoist e2e ${name} CA` });
  const serverCert = await issueServerCert(ca, { commonName: 'buildkitd', ipAddresses: ['127.0.0.1'] });
  const client = await issueClientCert(ca, { commonName: name, notAfter: new Date(Date.now() + 3_600_000) });
  const buildkitd = await startBuildkitd({
    caPem: ca.certPem,
    certPem: serverCert.certPem,
    keyPem: serverCert.keyPem,
    client,
    registries: [registry.host],
  });
  const certs = fs.mkdtempSync(path.join(work, `${name}-certs-`));
  const env = { ...process.env, ...dockerConfig.env };
  const stop = async (): Promise<void> => {
    await run(engineBinaries().docker, ['buildx', 'rm', '--force', name], env);
    await buildkitd.stop();
  };
  try {
    for (const [file, pem] of [
      ['ca.pem', ca.certPem],
      ['cert.pem', client.certPem],
      ['key.pem', client.keyPem],
    ] as const) {
      fs.writeFileSync(path.join(certs, file), pem, { mode: 0o600 });
    }
    const create = await run(
      engineBinaries().docker,
      [
        'buildx',
        'create',
        '--name',
        name,
        '--driver',
        'remote',
        '--driver-opt',
        `cacert=${certs}/ca.pem,cert=${certs}/cert.pem,key=${certs}/key.pem,servername=127.0.0.1`,
        buildkitd.address,
      ],
      env,
    );
    if (create.code !== 0) throw new Error(`buildx create ${name}: ${create.stderr}`);
    return { name, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** The annotation line core.warning writes for a build check (properties escaped as the runner reads them). */
function annotationLines(stdout: string): string[] {
  return stdout.split('\n').filter((l) => l.startsWith('::warning title='));
}

beforeAll(async () => {
  for (const f of ['dist/setup/index.js', 'dist/build-push/index.js']) {
    if (!fs.existsSync(path.join(REPO_ROOT, f))) throw new Error(`${f} is missing: run npm run build first`);
  }
  const releasesDir = path.join(REPO_ROOT, 'dist/releases');
  if (!fs.existsSync(releasesDir) || !fs.readdirSync(releasesDir).some((f) => f.endsWith('.tar.gz'))) {
    throw new Error('dist/releases holds no CLI tarball: run npm run build first');
  }
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'hoist-actions-e2e-'));
  sharedToolCache = path.join(work, 'tool-cache');
  issuer = await startOidcIssuer();
  registry = await startRegistry();
  [dockerd, dockerConfig] = await Promise.all([
    startDockerd({ registries: [registry.host] }),
    makeDockerConfig(),
  ]);
  server = await startTestServer({
    oidcIssuer: issuer.url,
    flags: { 'releases-dir': releasesDir, 'builder-insecure-registries': registry.host },
  });
  project = await server.createProject('web');
  await server.addTrustPolicy(project.id, { repository: REPO });

  contextDir = path.join(work, 'context');
  fs.mkdirSync(contextDir);
  fs.writeFileSync(path.join(contextDir, 'hello.txt'), 'hello from the actions e2e\n');
  fs.writeFileSync(
    path.join(contextDir, 'Dockerfile'),
    [
      `FROM ${registry.baseImage}`,
      'RUN echo built > /built.txt',
      'COPY hello.txt /hello.txt',
      'RUN cat /hello.txt /built.txt > /both.txt',
      '',
    ].join('\n'),
  );
  badContextDir = path.join(work, 'bad-context');
  fs.mkdirSync(badContextDir);
  fs.writeFileSync(
    path.join(badContextDir, 'Dockerfile'),
    [`FROM ${registry.baseImage}`, 'RUN echo about to fail && exit 3', ''].join('\n'),
  );
});

afterAll(async () => {
  await server?.stop();
  if (process.env.HOIST_E2E_KEEP) {
    console.log(`kept ${work}`);
    work = '';
  }
  await Promise.allSettled([dockerd?.stop(), registry?.stop(), issuer?.close(), dockerConfig?.cleanup()]);
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

describe('setup-action then build-push-action on Hoist', () => {
  it('installs the CLI, exchanges the OIDC token, builds on a Hoist builder, pushes, sets outputs and the summary', async () => {
    const j = job();
    const setup = await runStep(j, 'setup-action', { 'api-url': server.url, oidc: 'true', project: 'web' });
    expect(errorLines(setup.stdout)).toEqual([]);
    expect(setup.exitCode).toBe(0);
    expect(setup.outputs['cache-hit']).toBe('false');
    expect(setup.outputs.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(fs.existsSync(path.join(setup.outputs.path!, 'hoist'))).toBe(true);
    expect(j.path[0]).toBe(setup.outputs.path);
    // The exchanged token is exported for later steps and masked before that.
    const token = j.env.HOIST_TOKEN!;
    expect(token).toMatch(/^hoist_oidc_/);
    expect(setup.stdout).toContain(`::add-mask::${token}`);
    expect(setup.stdout.indexOf(`::add-mask::${token}`)).toBeLessThan(setup.stdout.length);
    expect(j.env.HOIST_API_URL).toBe(server.url);

    const before = (await builds()).length;
    const tag = `${registry.host}/e2e/app:1`;
    const step = await runStep(
      j,
      'build-push-action',
      {
        context: contextDir,
        push: 'true',
        tags: tag,
        project: 'web',
        'build-args': 'UNUSED=1\n"MULTI=a\nb"',
        secrets: 'NPM_TOKEN=s3cr3t-value',
      },
      { cwd: contextDir },
    );
    const all = `${step.stdout}\n${step.stderr}`;
    expect(errorLines(step.stdout)).toEqual([]);
    // hoist build got docker's argv plus Hoist's own flags.
    const bpInputs = {
      context: contextDir,
      push: 'true',
      tags: tag,
      project: 'web',
      'build-args': 'UNUSED=1\n"MULTI=a\nb"',
      secrets: 'NPM_TOKEN=s3cr3t-value',
    };
    const hoistArgs = toHoistArgs(expectedArgs(j, bpInputs, step.state.tmpDir!), {
      project: 'web',
      apiUrl: server.url,
    });
    // (a multi-line build-arg spans lines of the echoed command, so match the whole text)
    expect(step.stdout).toContain(
      `[command]${path.join(setup.outputs.path!, 'hoist')} ${hoistArgs.join(' ')}\n`,
    );
    expect(step.exitCode).toBe(0);
    expect(step.outputs.builder).toBe('hoist');
    expect(step.outputs.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(step.outputs.imageid).toMatch(/^sha256:[0-9a-f]{64}$/);
    const metadata = JSON.parse(step.outputs.metadata!) as Record<string, unknown>;
    expect(metadata['containerimage.digest']).toBe(step.outputs.digest);
    expect(step.outputs.metadata).toBe(JSON.stringify(metadata, null, 2));
    // Printed in log groups as docker's action prints them.
    expect(step.stdout).toContain(`::group::Digest\n${step.outputs.digest}\n::endgroup::\n`);
    expect(step.stdout).toContain(`::group::ImageID\n${step.outputs.imageid}\n::endgroup::\n`);
    expect(step.stdout).toContain(`::group::Metadata\n${step.outputs.metadata}\n::endgroup::\n`);
    expect(step.outputs['build-id']).toBeTruthy();
    expect(step.outputs['build-url']).toContain(step.outputs['build-id']);
    // The registry holds what the action says it pushed.
    expect(await registryDigest('e2e/app', '1')).toBe(step.outputs.digest);
    // hoist ends a successful build in a background process after it exits: wait for it
    await waitForFinishers([step.outputs['build-id']!]);
    // One build on the server, successful.
    const after = await builds();
    expect(after.length).toBe(before + 1);
    const b = after.find((x) => x.id === step.outputs['build-id']);
    expect(b?.status).toBe('success');
    // Secrets never appear in clear text; they are masked.
    expect(step.stdout).toContain('::add-mask::s3cr3t-value');
    expect(all.replace(/::add-mask::s3cr3t-value/g, '')).not.toContain('s3cr3t-value');
    // Neither the exchanged token, a build token nor a private key reaches a log in clear text.
    // The runner consumes `::add-mask::` lines and never shows them; hoist build masks the build
    // token it is given the moment it has it.
    expect(all).toMatch(/^::add-mask::hoist_bld_/m);
    for (const text of [`${setup.stdout}\n${setup.stderr}`, all]) {
      const shown = text.replace(/^::add-mask::.*$/gm, '');
      expect(shown).not.toContain(token);
      expect(shown).not.toMatch(/hoist_bld_|PRIVATE KEY/);
    }
    // The summary.
    const summary = fs.readFileSync(j.env.GITHUB_STEP_SUMMARY!, 'utf8');
    expect(summary).toContain('Hoist build summary');
    expect(summary).toContain(`Hoist at ${server.url}`);
    expect(summary).toContain(tag);
    expect(summary).toContain(step.outputs.digest);
    expect(summary).toContain(step.outputs['build-url']);
    expect(summary).toMatch(/Cached steps<\/th><td>\d+ of \d+/);
    expect(summary).toContain('"NPM_TOKEN"');
    expect(summary).not.toContain('s3cr3t-value');
    // The post step removed the private temp dir.
    expect(step.post?.exitCode).toBe(0);
    expect(fs.existsSync(step.state.tmpDir!)).toBe(false);
    expect(fs.readdirSync(j.env.RUNNER_TEMP!).filter((f) => f.startsWith('hoist-build-push-'))).toEqual([]);
  });

  it('a second job hits the tool cache, exchanges OIDC in build-push itself and reuses the cache', async () => {
    const j = job();
    const setup = await runStep(j, 'setup-action', { 'api-url': server.url });
    expect(setup.exitCode).toBe(0);
    expect(setup.outputs['cache-hit']).toBe('true');
    expect(j.env.HOIST_TOKEN).toBeUndefined();

    const step = await runStep(
      j,
      'build-push-action',
      { context: contextDir, push: 'true', tags: `${registry.host}/e2e/app:2`, project: 'web' },
      { cwd: contextDir },
    );
    expect(errorLines(step.stdout)).toEqual([]);
    expect(step.exitCode).toBe(0);
    expect(step.stdout).toMatch(/Exchanged the GitHub OIDC token for a Hoist token of project/);
    expect(step.outputs.builder).toBe('hoist');
    expect(await registryDigest('e2e/app', '2')).toBe(step.outputs.digest);
    const summary = fs.readFileSync(j.env.GITHUB_STEP_SUMMARY!, 'utf8');
    const m = /Cached steps<\/th><td>(\d+) of (\d+)/.exec(summary);
    expect(m).not.toBeNull();
    const [cached, total] = [Number(m![1]), Number(m![2])];
    expect(total).toBeGreaterThanOrEqual(3);
    expect(cached).toBeGreaterThanOrEqual(2);
  });

  it('build-push installs the CLI itself when hoist is not on the PATH, and says so', async () => {
    const j = job({ toolCache: path.join(work, 'empty-tool-cache'), env: { HOIST_API_URL: '' } });
    const step = await runStep(
      j,
      'build-push-action',
      {
        'api-url': server.url,
        context: contextDir,
        project: 'web',
        push: 'false',
        outputs: 'type=cacheonly',
      },
      { cwd: contextDir },
    );
    expect(errorLines(step.stdout)).toEqual([]);
    expect(step.exitCode).toBe(0);
    expect(step.stdout).toMatch(
      /::notice::hoist\/build-push-action: the hoist CLI was not on the PATH, so hoist \S+ was installed from/,
    );
  });
});

describe('build-push-action on Hoist, loading into the runner', () => {
  it('load: true brings the image from the Hoist builder into the local docker, with build-platform pinned', async () => {
    const j = job();
    await runStep(j, 'setup-action', { 'api-url': server.url });
    const tag = 'hoist-e2e/loaded:1';
    const step = await runStep(
      j,
      'build-push-action',
      {
        context: contextDir,
        load: 'true',
        tags: tag,
        project: 'web',
        'build-platform': 'linux/amd64',
        platforms: 'linux/amd64',
      },
      { cwd: contextDir },
    );
    expect(errorLines(step.stdout)).toEqual([]);
    expect(step.exitCode).toBe(0);
    expect(step.outputs.builder).toBe('hoist');
    expect(step.stdout).toMatch(/--platform linux\/amd64 .*--load .*--build-platform linux\/amd64 /);
    // No default provenance when loading, as docker's action.
    expect(step.stdout).not.toMatch(/\[command\].*--attest type=provenance/);
    const inspect = await run(
      engineBinaries().docker,
      ['--host', dockerd.host, 'image', 'inspect', '--format', '{{.Id}}', tag],
      { ...process.env, ...dockerConfig.env },
    );
    expect(inspect.code).toBe(0);
    expect(inspect.stdout.trim()).toBe(step.outputs.imageid);
  });
});

describe('failures', () => {
  it('a Dockerfile error fails the step once and does not fall back', async () => {
    const j = job();
    await runStep(j, 'setup-action', { 'api-url': server.url });
    const before = (await builds()).length;
    const step = await runStep(
      j,
      'build-push-action',
      { context: badContextDir, project: 'web', push: 'false', outputs: 'type=cacheonly' },
      { cwd: badContextDir },
    );
    expect(step.exitCode).toBe(1);
    const errors = errorLines(step.stdout);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/^::error::hoist\/build-push-action: hoist build failed with: /);
    expect(step.stdout).not.toMatch(/building with docker buildx on the runner/);
    expect(step.outputs.builder).toBe('hoist');
    // The failing RUN ran exactly once.
    expect((`${step.stdout}${step.stderr}`.match(/about to fail/g) ?? []).length).toBeGreaterThanOrEqual(1);
    const after = await builds();
    expect(after.length).toBe(before + 1);
    expect(step.outputs['build-id']).toBeTruthy();
    expect(after.find((b) => b.id === step.outputs['build-id'])?.status).toBe('failed');
    expect(step.post?.exitCode).toBe(0);
  });

  it('without the id-token permission and fallback: never, the message names permissions: id-token: write', async () => {
    const j = job({ oidc: false });
    await runStep(j, 'setup-action', { 'api-url': server.url });
    const before = (await builds()).length;
    const step = await runStep(
      j,
      'build-push-action',
      { context: contextDir, project: 'web', fallback: 'never' },
      { cwd: contextDir },
    );
    expect(step.exitCode).toBe(1);
    expect(errorLines(step.stdout)).toEqual([
      expect.stringMatching(/^::error::hoist\/build-push-action: .*permissions: id-token: write/),
    ]);
    expect((await builds()).length).toBe(before);
  });

  it('setup-action with oidc: true and no id-token permission names the permission', async () => {
    const j = job({ oidc: false });
    const step = await runStep(j, 'setup-action', { 'api-url': server.url, oidc: 'true' });
    expect(step.exitCode).toBe(1);
    expect(errorLines(step.stdout)).toEqual([
      expect.stringMatching(/^::error::hoist\/setup-action: .*permissions: id-token: write/),
    ]);
  });

  it('a refused OIDC exchange fails with the server reason and does not fall back', async () => {
    const j = job();
    await runStep(j, 'setup-action', { 'api-url': server.url });
    issuer.setNextClaims({
      repository: 'evil-org/evil-repo',
      repository_id: '666',
      repository_owner_id: '667',
    });
    const before = (await builds()).length;
    const step = await runStep(
      j,
      'build-push-action',
      { context: contextDir, outputs: 'type=cacheonly', secrets: 'NPM_TOKEN=never-on-disk' },
      { cwd: contextDir, runPost: false },
    );
    expect(step.exitCode).toBe(1);
    expect(errorLines(step.stdout)).toEqual([
      expect.stringMatching(
        /^::error::hoist\/build-push-action: the Hoist server at \S+ refused the GitHub OIDC exchange: .*evil-org\/evil-repo/,
      ),
    ]);
    // No build ran, so no secret was written, even before the post step.
    expect(fs.readdirSync(step.state.tmpDir!)).toEqual([]);
    expect((await step.runPost()).exitCode).toBe(0);
    expect(fs.existsSync(step.state.tmpDir!)).toBe(false);
    expect(step.stdout).not.toMatch(/building with docker buildx/);
    expect((await builds()).length).toBe(before);
  });

  it('the token input is used before HOIST_TOKEN and OIDC, and is masked', async () => {
    const { token } = await server.createProjectToken(project.id, 'e2e input token');
    const j = job({ oidc: false, env: { HOIST_TOKEN: 'hoist_prj_not_a_valid_token' } });
    await runStep(j, 'setup-action', { 'api-url': server.url });
    const step = await runStep(
      j,
      'build-push-action',
      { token, context: contextDir, outputs: 'type=cacheonly' },
      { cwd: contextDir },
    );
    expect(errorLines(step.stdout)).toEqual([]);
    expect(step.exitCode).toBe(0);
    expect(step.outputs.builder).toBe('hoist');
    expect(step.stdout.split('\n')[0]).toBe(`::add-mask::${token}`);
    expect(step.stdout.replace(`::add-mask::${token}`, '')).not.toContain(token);
  });

  it('a checksum mismatch installs nothing', async () => {
    // A loopback proxy that answers the release lookup like the server but corrupts the download.
    const proxy: Server = createServer((req, res) => {
      void (async () => {
        if (req.url?.startsWith('/v1/cli/releases/')) {
          const r = await fetch(`${server.url}${req.url}`);
          const body = (await r.json()) as { url: string };
          body.url = body.url.replace(
            server.url,
            `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`,
          );
          res.writeHead(r.status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
        } else if (req.url?.startsWith('/v1/cli/downloads/')) {
          const bytes = Buffer.from(await (await fetch(`${server.url}${req.url}`)).arrayBuffer());
          bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 0xff;
          res
            .writeHead(200, { 'content-type': 'application/gzip', 'content-length': bytes.length })
            .end(bytes);
        } else {
          res.writeHead(404).end();
        }
      })();
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    try {
      const toolCache = path.join(work, 'mismatch-tool-cache');
      const j = job({ toolCache });
      const step = await runStep(j, 'setup-action', {
        'api-url': `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`,
      });
      expect(step.exitCode).toBe(1);
      expect(errorLines(step.stdout)).toEqual([
        expect.stringMatching(
          /^::error::hoist\/setup-action: checksum mismatch for hoist .*Nothing was installed/,
        ),
      ]);
      expect(fs.readdirSync(toolCache)).toEqual([]);
      expect(j.path).toEqual([]);
      expect(step.outputs).toEqual({});
      expect(fs.readdirSync(j.env.RUNNER_TEMP!)).toEqual([]);
    } finally {
      await new Promise<void>((r) => proxy.close(() => r()));
    }
  });
});

describe('fork pull requests', () => {
  it('take the buildx fallback against the local dockerd, with a notice that says why', async () => {
    const j = job({ eventName: 'pull_request', payload: forkPullRequestPayload(), oidc: false });
    const before = (await builds()).length;
    const tag = 'hoist-e2e/fork:pr';
    // The private dockerd has no bridge network here (no iptables), so RUN steps use the host's.
    const step = await runStep(
      j,
      'build-push-action',
      {
        context: contextDir,
        tags: tag,
        load: 'true',
        network: 'host',
        'api-url': server.url,
        secrets: 'FORK_SECRET=not-really-secret\n',
      },
      { cwd: contextDir, runPost: false },
    );
    // Before the post step: the temp dir is private and the secret file 0600.
    const tmpDir = step.state.tmpDir!;
    expect(fs.statSync(tmpDir).mode & 0o777).toBe(0o700);
    expect(fs.statSync(path.join(tmpDir, 'secret-1')).mode & 0o777).toBe(0o600);
    expect(fs.readFileSync(path.join(tmpDir, 'secret-1'), 'utf8')).toBe('not-really-secret');
    const post = await step.runPost();
    expect(post.exitCode).toBe(0);
    expect(fs.existsSync(tmpDir)).toBe(false);
    // A post step whose folder is gone only warns, never fails.
    const again = await step.runPost();
    expect(again.exitCode).toBe(0);
    expect(errorLines(step.stdout)).toEqual([]);
    expect(step.exitCode).toBe(0);
    expect(step.stdout).toMatch(
      /::notice::hoist\/build-push-action: building with docker buildx on the runner instead of Hoist: this is a pull request from a fork/,
    );
    // Exactly the argv docker/build-push-action builds for the same inputs.
    const args = expectedArgs(
      j,
      {
        context: contextDir,
        tags: tag,
        load: 'true',
        network: 'host',
        'api-url': server.url,
        secrets: 'FORK_SECRET=not-really-secret\n',
      },
      tmpDir,
    );
    const line = commandLine(step.stdout, 'docker') ?? '';
    expect(line).toMatch(/^\[command\]\S*\/docker buildx build /);
    expect(line.slice(line.indexOf(' buildx ') + ' buildx '.length)).toBe(args.join(' '));
    expect(step.outputs.builder).toBe('buildx');
    expect(step.outputs['build-id']).toBeUndefined();
    expect(step.outputs.imageid).toMatch(/^sha256:[0-9a-f]{64}$/);
    // The image is in the runner's docker.
    const inspect = await run(
      engineBinaries().docker,
      ['--host', dockerd.host, 'image', 'inspect', '--format', '{{.Id}}', tag],
      { ...process.env, ...dockerConfig.env },
    );
    expect(inspect.code).toBe(0);
    expect(inspect.stdout.trim()).toBe(step.outputs.imageid);
    expect((await builds()).length).toBe(before);
    const summary = fs.readFileSync(j.env.GITHUB_STEP_SUMMARY!, 'utf8');
    expect(summary).toContain('docker buildx on the runner (fallback: this is a pull request from a fork');
  });

  it('without any credential and fallback: auto, a push run also falls back, with a notice naming the permission', async () => {
    const j = job({ oidc: false });
    const before = (await builds()).length;
    const step = await runStep(
      j,
      'build-push-action',
      {
        context: contextDir,
        tags: 'hoist-e2e/nocred:1',
        load: 'true',
        network: 'host',
        'api-url': server.url,
      },
      { cwd: contextDir },
    );
    expect(errorLines(step.stdout)).toEqual([]);
    expect(step.exitCode).toBe(0);
    expect(step.stdout).toMatch(
      /::notice::hoist\/build-push-action: building with docker buildx on the runner instead of Hoist: no Hoist credential.*permissions: id-token: write/,
    );
    expect(step.outputs.builder).toBe('buildx');
    expect((await builds()).length).toBe(before);
  });

  it('with fallback-cache, the fallback imports the default branch and its own cache; the docker driver cannot export, so it only warns', async () => {
    // The push payload's repository.default_branch is "master"; the run builds refs/heads/main.
    const j = job({ oidc: false });
    const cache = `${registry.host}/hoist-e2e/fallback-cache`;
    const inputs = {
      context: contextDir,
      tags: 'hoist-e2e/cached:1',
      load: 'true',
      network: 'host',
      'api-url': server.url,
      'fallback-cache': cache,
    };
    const step = await runStep(j, 'build-push-action', inputs, { cwd: contextDir, runPost: false });
    const tmpDir = step.state.tmpDir!;
    expect(errorLines(step.stdout)).toEqual([]);
    expect(step.exitCode).toBe(0);
    expect(step.stdout).toMatch(
      /::warning::input 'fallback-cache': the builder uses the docker driver, which cannot export a registry cache/,
    );
    expect(step.stdout).toContain(
      `Fallback cache: imports ${cache}:master and ${cache}:main; exports nothing, the builder cannot export a registry cache`,
    );
    const args = expectedArgs(j, inputs, tmpDir);
    const withCache = [
      ...args.slice(0, -1),
      '--cache-from',
      `type=registry,ref=${cache}:master`,
      '--cache-from',
      `type=registry,ref=${cache}:main`,
      args[args.length - 1],
    ];
    const line = commandLine(step.stdout, 'docker') ?? '';
    expect(line.slice(line.indexOf(' buildx build ') + ' buildx '.length)).toBe(withCache.join(' '));
    expect(step.outputs.imageid).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect((await step.runPost()).exitCode).toBe(0);
  });

  it('with fallback-cache and a builder that can export (remote driver), the fallback writes the branch cache to the registry', async () => {
    const remote = await remoteBuilder('hoist-e2e-fallback-cache');
    const builder = remote.name;
    try {
      // The push payload's default branch is "master"; the run builds refs/heads/main.
      const j = job({ oidc: false });
      const cache = `${registry.host}/hoist-e2e/fallback-cache-remote`;
      const step = await runStep(
        j,
        'build-push-action',
        { context: contextDir, builder, 'api-url': server.url, 'fallback-cache': cache },
        { cwd: contextDir },
      );
      expect(errorLines(step.stdout)).toEqual([]);
      expect(step.exitCode).toBe(0);
      expect(step.stdout).not.toContain("::warning::input 'fallback-cache'");
      expect(step.stdout).toContain(
        `Fallback cache: imports ${cache}:master (the default branch) and ${cache}:main; exports ${cache}:main`,
      );
      const line = commandLine(step.stdout, 'docker') ?? '';
      expect(line).toContain(`--cache-to type=registry,ref=${cache}:main,mode=max`);
      // The cache BuildKit exported is in the registry under the branch's tag, and only there.
      const tags = await fetch(`${registry.url}/v2/hoist-e2e/fallback-cache-remote/tags/list`);
      expect(((await tags.json()) as { tags: string[] }).tags).toEqual(['main']);
      expect(await registryDigest('hoist-e2e/fallback-cache-remote', 'main')).toMatch(/^sha256:/);
    } finally {
      await remote.stop();
    }
  });

  it('setup-action skips the OIDC exchange on a fork with a notice', async () => {
    const j = job({ eventName: 'pull_request', payload: forkPullRequestPayload(), oidc: false });
    const step = await runStep(j, 'setup-action', { 'api-url': server.url, oidc: 'true' });
    expect(step.exitCode).toBe(0);
    expect(step.stdout).toMatch(
      /::notice::hoist\/setup-action: skipped the OIDC exchange: this is a pull request from a fork/,
    );
    expect(j.env.HOIST_TOKEN).toBeUndefined();
  });
});

describe('the fallback asks the runner builder for its BuildKit, as docker/build-push-action does', () => {
  it('on the engine dockerd (docker driver, BuildKit 0.8) a public fork pull request builds without default provenance', async () => {
    const j = job({ eventName: 'pull_request', payload: forkPullRequestPayload(), oidc: false });
    const tag = 'hoist-e2e/fork-old-builder:pr';
    const inputs = { context: contextDir, tags: tag, network: 'host', 'api-url': server.url };
    const step = await runStep(j, 'build-push-action', inputs, { cwd: contextDir });
    expect(errorLines(step.stdout)).toEqual([]);
    expect(step.stdout).not.toContain('Attestation is not supported');
    expect(step.exitCode).toBe(0);
    expect(step.stdout).toMatch(/Fallback builder: default \(docker driver, BuildKit v0\.8\S*\)/);
    expect(step.stdout).toMatch(
      /No default provenance attestation: the builder default \(docker driver, BuildKit v0\.8\S*\) runs a BuildKit older than 0\.11/,
    );
    // docker's argv for a builder below BuildKit 0.11: no --attest at all.
    const line = commandLine(step.stdout, 'docker') ?? '';
    expect(line).not.toContain('--attest');
    expect(line.slice(line.indexOf(' buildx ') + ' buildx '.length)).toBe(
      expectedArgs(j, inputs, step.state.tmpDir!, false).join(' '),
    );
    // The docker driver's default output: the image is in the runner's docker.
    const inspect = await run(
      engineBinaries().docker,
      ['--host', dockerd.host, 'image', 'inspect', '--format', '{{.Id}}', tag],
      { ...process.env, ...dockerConfig.env },
    );
    expect(inspect.code).toBe(0);
    expect(inspect.stdout.trim()).toBe(step.outputs.imageid);
  });

  it('a builder that cannot be inspected fails the step before any build, naming the builder', async () => {
    const j = job({ eventName: 'pull_request', payload: forkPullRequestPayload(), oidc: false });
    const step = await runStep(
      j,
      'build-push-action',
      { context: contextDir, builder: 'no-such-builder', 'api-url': server.url },
      { cwd: contextDir },
    );
    expect(step.exitCode).toBe(1);
    expect(errorLines(step.stdout)).toEqual([
      expect.stringMatching(
        /^::error::hoist\/build-push-action: cannot inspect the builder "no-such-builder" of input 'builder' for the fallback build: .*no-such-builder.*docker buildx ls/,
      ),
    ]);
    expect(step.stdout).not.toMatch(/\[command\]\S*docker buildx build/);
  });
});

describe('fork pull requests warm from the default branch Hoist cache (fallback-cache)', () => {
  const cache = (): string => `${registry.host}/hoist-e2e/warm-cache`;
  // A FROM … as with lowercase `as`: BuildKit's FromAsCasing build check warns on line 1.
  const nonce = `${process.pid}-${Date.now()}`;
  const writeCheckout = (dir: string): void => {
    fs.mkdirSync(path.join(dir, 'src'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'src', 'hello.txt'), 'hello from main\n');
    fs.writeFileSync(
      path.join(dir, 'src', 'Dockerfile'),
      [
        `FROM ${registry.baseImage} as build`,
        `RUN echo warm-${nonce} > /warm.txt`,
        'COPY hello.txt /hello.txt',
        'RUN cat /hello.txt /warm.txt > /both.txt',
        '',
      ].join('\n'),
    );
  };
  const checkInputs = { context: 'src', file: 'src/Dockerfile' };
  const annotation = (stdout: string): string | undefined =>
    annotationLines(stdout).find((l) => l.includes('file=src/Dockerfile'));
  let hoistDigest = '';

  it('a push to the default branch on Hoist exports <ref>:<default branch>, says so, and annotates the build check', async () => {
    const payload = pushPayload();
    (payload.repository as Record<string, unknown>).private = false;
    const j = job({ payload, env: { GITHUB_REF: 'refs/heads/master' } });
    writeCheckout(j.dir);
    await runStep(j, 'setup-action', { 'api-url': server.url });
    const inputs = {
      ...checkInputs,
      project: 'web',
      push: 'true',
      tags: `${registry.host}/e2e/warm:main`,
      'fallback-cache': cache(),
    };
    const step = await runStep(j, 'build-push-action', inputs, { cwd: j.dir });
    expect(errorLines(step.stdout)).toEqual([]);
    expect(step.exitCode).toBe(0);
    expect(step.outputs.builder).toBe('hoist');
    expect(step.stdout).toContain(
      `Fallback cache: exports ${cache()}:master (the default branch), which fork pull requests import when they fall back`,
    );
    const hoistLine =
      step.stdout.split('\n').find((l) => l.startsWith('[command]') && l.includes('/hoist build')) ?? '';
    expect(hoistLine).toContain(`--cache-to type=registry,ref=${cache()}:master,mode=max,ignore-error=true`);
    expect(hoistLine).not.toContain('--cache-from');
    // The cache is in the registry under the default branch's tag.
    expect(await registryDigest('hoist-e2e/warm-cache', 'master')).toMatch(/^sha256:/);
    const summary = fs.readFileSync(j.env.GITHUB_STEP_SUMMARY!, 'utf8');
    expect(summary).toMatch(/Fallback cache<\/th><td>exports \S+:master \(the default branch\)/);
    // The FromAsCasing warning as a warning annotation on the Dockerfile's line 1.
    expect(annotation(step.stdout)).toBe(
      "::warning title=The 'as' keyword should match the case of the 'from' keyword,file=src/Dockerfile,line=1::FromAsCasing: 'as' and 'FROM' keywords' casing do not match%0AMore info: https://docs.docker.com/go/dockerfile/rule/from-as-casing/",
    );
    expect(step.stdout).toContain('::group::Generating GitHub annotations (1 build checks found)');
    hoistDigest = step.outputs.digest!;
    expect(hoistDigest).toMatch(/^sha256:/);

    // DOCKER_BUILD_CHECKS_ANNOTATIONS=false turns them off; a feature branch exports nothing.
    const k = job({
      payload,
      env: { GITHUB_REF: 'refs/heads/feature', DOCKER_BUILD_CHECKS_ANNOTATIONS: 'false' },
    });
    writeCheckout(k.dir);
    await runStep(k, 'setup-action', { 'api-url': server.url });
    const other = await runStep(
      k,
      'build-push-action',
      { ...checkInputs, project: 'web', outputs: 'type=cacheonly', 'fallback-cache': cache() },
      { cwd: k.dir },
    );
    expect(other.exitCode).toBe(0);
    expect(annotationLines(other.stdout)).toEqual([]);
    expect(other.stdout).toContain(
      'Fallback cache: exports nothing: only a build of the default branch (master)',
    );
    expect(other.stdout).not.toMatch(/\[command\].*--cache-to/);
  });

  it('a fork pull request falling back on a BuildKit 0.18 builder imports it (CACHED steps), with default provenance and the annotation', async () => {
    expect(hoistDigest).not.toBe('');
    const builder = await remoteBuilder('hoist-e2e-fork-warm');
    try {
      const j = job({ eventName: 'pull_request', payload: forkPullRequestPayload(), oidc: false });
      writeCheckout(j.dir);
      const tag = `${registry.host}/e2e/fork-warm:pr`;
      const inputs = {
        ...checkInputs,
        builder: builder.name,
        push: 'true',
        tags: tag,
        'api-url': server.url,
        'fallback-cache': cache(),
      };
      const step = await runStep(j, 'build-push-action', inputs, { cwd: j.dir });
      expect(errorLines(step.stdout)).toEqual([]);
      expect(step.exitCode).toBe(0);
      expect(step.outputs.builder).toBe('buildx');
      expect(step.stdout).toMatch(
        /Fallback builder: hoist-e2e-fork-warm \(remote driver, BuildKit v0\.18\.\d+\)/,
      );
      expect(step.stdout).toContain(
        `Fallback cache: imports ${cache()}:master (the default branch); exports nothing`,
      );
      const line = commandLine(step.stdout, 'docker') ?? '';
      // docker's argv with its default provenance (a public repository: mode=max), plus the cache import.
      const args = expectedArgs(j, inputs, step.state.tmpDir!);
      expect(args).toContain(`type=provenance,mode=max,builder-id=${workflowRunUrl(readGitHubRun(j.env))}`);
      expect(line.slice(line.indexOf(' buildx ') + ' buildx '.length)).toBe(
        [
          ...args.slice(0, -1),
          '--cache-from',
          `type=registry,ref=${cache()}:master`,
          args[args.length - 1],
        ].join(' '),
      );
      // Every Dockerfile step came from the imported cache: this buildkitd has never built anything.
      const all = `${step.stdout}\n${step.stderr}`;
      expect(all).toMatch(/importing cache manifest from .*warm-cache:master/);
      const lines = all.split('\n');
      for (const name of ['[2/4] RUN echo warm-', '[3/4] COPY hello.txt', '[4/4] RUN cat']) {
        const id = /^#(\d+) /.exec(lines.find((l) => /^#\d+ /.test(l) && l.includes(name)) ?? '')?.[1];
        expect(id).toBeDefined();
        expect(lines).toContain(`#${id} CACHED`);
      }
      const summary = fs.readFileSync(j.env.GITHUB_STEP_SUMMARY!, 'utf8');
      expect(summary).toMatch(/Cached steps<\/th><td>3 of 4</);
      expect(summary).toMatch(/Fallback cache<\/th><td>imports \S+:master/);
      // The default provenance is in the pushed image: an attestation manifest next to the image.
      const index = await fetch(`${registry.url}/v2/e2e/fork-warm/manifests/pr`, {
        headers: { accept: 'application/vnd.oci.image.index.v1+json' },
      });
      const manifests = ((await index.json()) as { manifests: { annotations?: Record<string, string> }[] })
        .manifests;
      expect(
        manifests.some((m) => m.annotations?.['vnd.docker.reference.type'] === 'attestation-manifest'),
      ).toBe(true);
      // The same build check, annotated from the fallback's buildx state.
      expect(annotation(step.stdout)).toMatch(
        /^::warning title=The 'as' keyword should match the case of the 'from' keyword,file=src\/Dockerfile,line=1::FromAsCasing/,
      );
    } finally {
      await builder.stop();
    }
  });
});
