// Test-side client of a build: turns an `active` answer into a temporary buildx remote
// builder (PEMs 0600 in a private dir) and runs `docker buildx build` with rawjson progress,
// the way `hoist build` does it.
import { execFile } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { promisify } from 'node:util';
import type { BuilderActive } from '../../src/lib/api-types.js';

const run = promisify(execFile);

export interface VertexSummary {
  name: string;
  cached: boolean;
  error?: string;
}

export interface BuildxResult {
  vertexes: VertexSummary[];
  metadata: Record<string, unknown>;
  stderr: string;
}

/** Vertex names and whether BuildKit reported them cached, from `--progress=rawjson` output. */
export function parseRawjson(text: string): VertexSummary[] {
  const byDigest = new Map<string, VertexSummary>();
  for (const line of text.split('\n')) {
    const t = line.trim();
    if (!t.startsWith('{')) continue;
    let status: { vertexes?: { digest: string; name?: string; cached?: boolean; error?: string }[] };
    try {
      status = JSON.parse(t) as typeof status;
    } catch {
      continue;
    }
    for (const v of status.vertexes ?? []) {
      const cur = byDigest.get(v.digest) ?? { name: v.name ?? '', cached: false };
      if (v.name) cur.name = v.name;
      if (v.cached) cur.cached = true;
      if (v.error) cur.error = v.error;
      byDigest.set(v.digest, cur);
    }
  }
  return [...byDigest.values()];
}

export class BuildxSession {
  private constructor(
    readonly name: string,
    private readonly dir: string,
    private readonly env: NodeJS.ProcessEnv,
  ) {}

  /** `docker buildx create --driver remote` from an active answer. */
  static async create(
    active: BuilderActive,
    workDir: string,
    env: NodeJS.ProcessEnv,
  ): Promise<BuildxSession> {
    const dir = await fs.mkdtemp(path.join(workDir, 'pems-'));
    await fs.chmod(dir, 0o700);
    const write = (f: string, c: string) => fs.writeFile(path.join(dir, f), c, { mode: 0o600 });
    await write('ca.pem', active.ca_pem);
    await write('cert.pem', active.cert_pem);
    await write('key.pem', active.key_pem);
    const name = `hoist-itg-${path
      .basename(dir)
      .replace(/[^a-z0-9]/gi, '')
      .toLowerCase()}`;
    const opts = [
      `cacert=${path.join(dir, 'ca.pem')}`,
      `cert=${path.join(dir, 'cert.pem')}`,
      `key=${path.join(dir, 'key.pem')}`,
      `servername=${active.server_name}`,
    ].join(',');
    await run(
      'docker',
      ['buildx', 'create', '--name', name, '--driver', 'remote', '--driver-opt', opts, active.endpoint],
      {
        env,
      },
    );
    return new BuildxSession(name, dir, env);
  }

  async build(opts: {
    context: string;
    tags: string[];
    push: boolean;
    platform?: string;
  }): Promise<BuildxResult> {
    const meta = path.join(this.dir, 'metadata.json');
    const args = ['buildx', 'build', '--builder', this.name, '--progress=rawjson', '--metadata-file', meta];
    for (const t of opts.tags) args.push('-t', t);
    if (opts.platform) args.push('--platform', opts.platform);
    args.push(opts.push ? '--push' : '--output=type=cacheonly');
    args.push(opts.context);
    try {
      const { stderr } = await run('docker', args, {
        env: this.env,
        maxBuffer: 64 * 1024 * 1024,
        timeout: 300_000,
      });
      const metadata = JSON.parse(await fs.readFile(meta, 'utf8')) as Record<string, unknown>;
      return { vertexes: parseRawjson(stderr), metadata, stderr };
    } catch (err) {
      const e = err as { stderr?: string; message: string };
      throw new Error(`docker buildx build failed: ${(e.stderr ?? e.message).slice(-3000)}`);
    }
  }

  async remove(): Promise<void> {
    await run('docker', ['buildx', 'rm', '--force', this.name], { env: this.env }).catch(() => undefined);
    await fs.rm(this.dir, { recursive: true, force: true });
  }
}

/** The vertex whose name contains `needle` (exactly one). */
export function vertex(vs: VertexSummary[], needle: string): VertexSummary {
  const found = vs.filter((v) => v.name.includes(needle));
  if (found.length !== 1) {
    throw new Error(
      `expected one vertex named like "${needle}", found ${found.length}: ${vs.map((v) => v.name).join(' | ')}`,
    );
  }
  return found[0]!;
}
