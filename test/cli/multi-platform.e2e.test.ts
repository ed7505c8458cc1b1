// A multi-platform `hoist build --push` end to end: the bundled CLI against a real `hoist server`
// whose local provider runs one buildkitd per platform (linux/arm64 emulated through qemu when
// binfmt_misc has qemu-aarch64 registered with the F flag; `engine.sh install binfmt` does that),
// real `docker buildx` with one remote node per platform (`--append` for the second) and a real
// registry, which must end up holding one index for both platforms.
//
// Where this machine cannot emulate arm64, the same request must be refused: a clear 4xx that
// names the platforms the server offers, and no build or builder left behind.
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { execFile, spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { gunzipSync } from 'node:zlib';
import { Parser } from 'tar';
import type { BuildInfo } from '../../src/lib/api-types.js';
import { emulatedPlatforms } from '../../src/providers/local.js';
import { nativePlatform } from '../../src/providers/provider.js';
import { makeDockerConfig, startRegistry, type DockerConfig, type Registry } from '../helpers/engine.js';
import { CLI_BUNDLE, startTestServer, type TestServer } from '../helpers/server.js';
import { waitForFinishersOf } from '../helpers/finisher.js';

const run = promisify(execFile);
jest.setTimeout(300_000);

const NATIVE = nativePlatform();
// The emulated platform: arm64 on an amd64 host (engine.sh registers qemu-aarch64), else amd64.
const EMULATED = NATIVE === 'linux/arm64' ? 'linux/amd64' : 'linux/arm64';
// What the machine can do, read independently of the server: the server must agree with it.
const canEmulate = emulatedPlatforms('/proc/sys/fs/binfmt_misc').includes(EMULATED);
const PLATFORMS = [NATIVE, EMULATED];

const INDEX_TYPES = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
];
const MANIFEST_TYPES = [
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
];

let tmp: string;
let pemParent: string;
let registry: Registry;
let docker: DockerConfig;
let server: TestServer;
let projectId: string;
let projectToken: string;

interface HoistRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

function env(): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = {
    ...process.env,
    ...docker.env,
    HOIST_API_URL: server.url,
    HOIST_TOKEN: projectToken,
    HOIST_CONFIG: path.join(tmp, 'no-config.json'),
    HOIST_TMPDIR: pemParent,
    HOIST_HEARTBEAT_MS: '1000',
  };
  for (const k of [
    'HOIST_PROJECT_ID',
    'HOIST_BUILDX',
    'ACTIONS_ID_TOKEN_REQUEST_URL',
    'ACTIONS_ID_TOKEN_REQUEST_TOKEN',
  ])
    delete e[k];
  return e;
}

function hoist(args: string[]): Promise<HoistRun> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI_BUNDLE, ...args], {
      env: env(),
      cwd: tmp,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    // a successful build's end runs in a background process after the CLI exits: wait for it
    child.on(
      'close',
      (code) => void waitForFinishersOf(stderr).then(() => resolve({ code, stdout, stderr })),
    );
  });
}

async function hoistBuilders(): Promise<string[]> {
  const r = await run('docker', ['buildx', 'ls'], { env: env() }).catch((err: { stdout?: string }) => ({
    stdout: err.stdout ?? '',
  }));
  return r.stdout.split('\n').filter((l) => /^hoist-/.test(l.trim()));
}

async function builds(): Promise<BuildInfo[]> {
  const r = await server.api<{ builds: BuildInfo[] }>('GET', `/v1/builds?project=${projectId}`);
  expect(r.status).toBe(200);
  return r.body.builds;
}

async function registryGet(url: string, accept: string[]): Promise<Response> {
  const r = await fetch(`${registry.url}${url}`, { headers: { accept: accept.join(', ') } });
  if (r.status !== 200) throw new Error(`GET ${url}: ${r.status} ${await r.text()}`);
  return r;
}

interface Descriptor {
  mediaType: string;
  digest: string;
  platform?: { os: string; architecture: string; variant?: string };
  annotations?: Record<string, string>;
}

/** The regular files of a (gzip-compressed or plain) tar layer, by path. */
async function layerFiles(blob: Buffer): Promise<Map<string, string>> {
  const raw = blob[0] === 0x1f && blob[1] === 0x8b ? gunzipSync(blob) : blob;
  const files = new Map<string, string>();
  await new Promise<void>((resolve, reject) => {
    const p = new Parser({
      onReadEntry: (entry) => {
        const chunks: Buffer[] = [];
        entry.on('data', (c: Buffer) => chunks.push(c));
        entry.on('end', () => {
          if (entry.type === 'File')
            files.set(entry.path.replace(/^\.?\//, ''), Buffer.concat(chunks).toString());
        });
      },
    });
    p.on('error', reject);
    p.on('end', () => resolve());
    p.end(raw);
  });
  return files;
}

/** What the probe writes to /probe: the architecture it was compiled for and the one uname reports. */
const PROBE_GO = `package main

import (
	"fmt"
	"os"
	"runtime"
	"syscall"
)

func main() {
	var u syscall.Utsname
	if err := syscall.Uname(&u); err != nil {
		panic(err)
	}
	m := ""
	for _, c := range u.Machine {
		if c == 0 {
			break
		}
		m += string(rune(c))
	}
	if err := os.WriteFile("/probe", []byte(fmt.Sprintf("%s %s\\n", runtime.GOARCH, m)), 0o644); err != nil {
		panic(err)
	}
}
`;

/** Static probe binaries for amd64 and arm64 (go cross-compiles; Go is on every CI machine). */
async function buildProbes(ctx: string): Promise<void> {
  const src = path.join(tmp, 'probe.go');
  await fs.writeFile(src, PROBE_GO);
  for (const arch of ['amd64', 'arm64']) {
    await run('go', ['build', '-o', path.join(ctx, `probe-${arch}`), src], {
      cwd: tmp,
      env: { ...process.env, CGO_ENABLED: '0', GOOS: 'linux', GOARCH: arch, GOFLAGS: '-buildvcs=false' },
    }).catch((err: { stderr?: string }) => {
      throw new Error(
        `go build of the ${arch} probe failed (Go is needed for this test): ${err.stderr ?? String(err)}`,
      );
    });
  }
}

/** Snapshots in a builder's buildkitd root: none means that builder never ran a step. */
function snapshotCount(dataDir: string, builderId: string): number {
  const dir = path.join(dataDir, 'builders', builderId, 'root', 'runc-overlayfs', 'snapshots', 'snapshots');
  return existsSync(dir) ? readdirSync(dir).length : 0;
}

beforeAll(async () => {
  if (!existsSync(CLI_BUNDLE))
    throw new Error(`${CLI_BUNDLE} is missing: run "node .ci/build.mjs cli" first`);
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'hoist-multi-e2e-'));
  pemParent = path.join(tmp, 'pem-parent');
  await fs.mkdir(pemParent);
  registry = await startRegistry();
  docker = await makeDockerConfig();
  server = await startTestServer({ flags: { 'builder-insecure-registries': registry.host } });
  projectId = (await server.createProject('multi-e2e')).id;
  projectToken = (await server.createProjectToken(projectId, 'e2e')).token;

  const ctx = path.join(tmp, 'ctx');
  await fs.mkdir(ctx);
  // No arm64 base image exists here: the build stage runs on the build platform's image (the
  // local Debian one). The probe stage runs a static Go binary of the target architecture in
  // an empty image: on the arm64 builder that is real arm64 code, run by qemu through binfmt.
  await fs.writeFile(
    path.join(ctx, 'Dockerfile'),
    [
      `FROM --platform=$BUILDPLATFORM ${registry.baseImage} AS build`,
      'ARG TARGETPLATFORM',
      'RUN echo "$TARGETPLATFORM" > /platform',
      'FROM scratch AS probe',
      'ARG TARGETARCH',
      'COPY probe-${TARGETARCH} /probe-bin',
      'RUN ["/probe-bin"]',
      'FROM scratch',
      'COPY --from=build /platform /platform',
      'COPY --from=probe /probe /probe',
      '',
    ].join('\n'),
  );
  if (canEmulate) await buildProbes(ctx);
});

afterAll(async () => {
  await server?.stop().catch(() => undefined);
  await docker?.cleanup().catch(() => undefined);
  await registry?.stop().catch(() => undefined);
  if (tmp) await fs.rm(tmp, { recursive: true, force: true });
});

describe(`hoist build --platform ${PLATFORMS.join(',')} --push (${EMULATED} emulation ${canEmulate ? 'available' : 'not available'} on this machine)`, () => {
  it(
    canEmulate
      ? 'two builders, one per platform; the registry holds one index whose images each carry their own platform'
      : `the server refuses ${EMULATED} with a 4xx naming the platforms it offers; nothing is left behind`,
    async () => {
      const tag = `${registry.host}/multi/app:1`;
      const meta = path.join(tmp, 'meta.json');
      const r = await hoist([
        'build',
        '--platform',
        PLATFORMS.join(','),
        '--push',
        '-t',
        tag,
        '--metadata-file',
        meta,
        '--progress=plain',
        path.join(tmp, 'ctx'),
      ]);

      if (!canEmulate) {
        // The API's own answer, then the CLI's rendering of it.
        const direct = await server.api<{ error: { code: string; message: string } }>(
          'POST',
          '/v1/builds',
          { project: projectId, platforms: PLATFORMS },
          projectToken,
        );
        expect(direct.status).toBe(400);
        expect(direct.body.error.code).toBe('invalid_platform');
        expect(direct.body.error.message).toContain(`"${EMULATED}" is not supported`);
        expect(direct.body.error.message).toContain(`supported platforms on this server: ${NATIVE}`);
        expect(r.code).not.toBe(0);
        expect(r.stderr).toContain(`"${EMULATED}" is not supported`);
        expect(r.stderr).toContain(NATIVE);
        expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
        expect(await builds()).toEqual([]);
        expect(readdirSync(path.join(server.dataDir, 'builders')).length).toBe(0);
        expect(await hoistBuilders()).toEqual([]);
        expect(readdirSync(pemParent)).toEqual([]);
        return;
      }

      if (r.code !== 0) throw new Error(`hoist build failed (${r.code}):\n${r.stderr}`);
      const m = /hoist: build (bld_\w+): /.exec(r.stderr);
      expect(m).not.toBeNull();
      const buildId = m![1]!;

      // the server: one build, two builders, one per platform
      const row = (await server.api<BuildInfo>('GET', `/v1/builds/${buildId}`)).body;
      expect(row.status).toBe('success');
      expect([...row.platforms].sort()).toEqual([...PLATFORMS].sort());
      expect(row.builders.map((b) => b.platform).sort()).toEqual([...PLATFORMS].sort());
      const builderIds = row.builders.map((b) => b.builder_id);
      expect(builderIds.every((id) => typeof id === 'string' && id.length > 0)).toBe(true);
      expect(new Set(builderIds).size).toBe(2);

      // the registry: one index for the tag, whose digest buildx reported
      const metadata = JSON.parse(await fs.readFile(meta, 'utf8')) as Record<string, unknown>;
      const indexRes = await registryGet('/v2/multi/app/manifests/1', [...INDEX_TYPES, ...MANIFEST_TYPES]);
      const index = (await indexRes.json()) as { mediaType?: string; manifests?: Descriptor[] };
      expect(INDEX_TYPES).toContain(index.mediaType ?? indexRes.headers.get('content-type'));
      expect(indexRes.headers.get('docker-content-digest')).toBe(metadata['containerimage.digest']);
      const images = (index.manifests ?? []).filter(
        (d) => d.platform && !(d.platform.os === 'unknown' && d.platform.architecture === 'unknown'),
      );
      const platformOf = (d: Descriptor) =>
        `${d.platform!.os}/${d.platform!.architecture}${d.platform!.variant ? `/${d.platform!.variant}` : ''}`;
      expect(images.map(platformOf).sort()).toEqual([...PLATFORMS].sort());

      // each builder did work: buildx sent each platform to its own node
      for (const id of builderIds) expect(snapshotCount(server.dataDir, id!)).toBeGreaterThan(0);

      // each platform's image holds two layers: /platform names that platform, and /probe
      // shows a binary of that architecture ran (arm64 under qemu: uname says aarch64)
      for (const d of images) {
        const manifest = (await (
          await registryGet(`/v2/multi/app/manifests/${d.digest}`, MANIFEST_TYPES)
        ).json()) as {
          layers: { digest: string }[];
          config: { digest: string };
        };
        expect(manifest.layers).toHaveLength(2);
        const config = (await (
          await registryGet(`/v2/multi/app/blobs/${manifest.config.digest}`, ['*/*'])
        ).json()) as {
          os: string;
          architecture: string;
        };
        expect(`${config.os}/${config.architecture}`).toBe(platformOf(d));
        const files = new Map<string, string>();
        for (const layer of manifest.layers) {
          const blob = Buffer.from(
            await (await registryGet(`/v2/multi/app/blobs/${layer.digest}`, ['*/*'])).arrayBuffer(),
          );
          for (const [k, v] of await layerFiles(blob)) files.set(k, v);
        }
        expect([...files.keys()].sort()).toEqual(['platform', 'probe']);
        expect(files.get('platform')!.trim()).toBe(platformOf(d));
        const machine = { amd64: 'x86_64', arm64: 'aarch64' }[d.platform!.architecture];
        expect(files.get('probe')!.trim()).toBe(`${d.platform!.architecture} ${machine}`);
      }

      // nothing left on the client
      expect(await hoistBuilders()).toEqual([]);
      expect(readdirSync(pemParent)).toEqual([]);
    },
  );
});
