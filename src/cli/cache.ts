// `hoist cache prune`: deletes stale branch caches of the fallback build's registry cache
// (the build-push input `fallback-cache`) through the registry's HTTP API.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { branchCacheTag } from '../lib/cache-tag.js';
import { parseDurationMs } from '../lib/duration.js';
import { ConfigurationError, errorMessage } from '../lib/errors.js';
import { parseFlags, renderTable } from './flags.js';

type Env = Record<string, string | undefined>;

export interface CacheIo {
  env: Env;
  stdout: { write(s: string): unknown };
  stderr: { write(s: string): unknown };
}

export const CACHE_HELP = `Usage:  hoist cache prune --ref REGISTRY/REPOSITORY [--keep TAG]... [--default-branch main]
                         [--older-than 14d] [--dry-run] [--insecure]

Deletes the branch caches of a fallback-cache repository (the build-push input
\`fallback-cache\`) that are older than --older-than. The default branch's tag and every
--keep tag are kept, and so is a cache whose age cannot be told. Credentials come from
the docker config (DOCKER_CONFIG or ~/.docker/config.json, "auths" entries); the
registry must allow deletes. --insecure talks plain HTTP to the registry.
`;

const MANIFEST_ACCEPT = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.docker.distribution.manifest.v2+json',
].join(', ');

const CREATED_ANNOTATION = 'org.opencontainers.image.created';
/** BuildKit stamps every layer of an exported cache with this annotation. */
const BUILDKIT_CREATED_ANNOTATION = 'buildkit/createdat';

export interface PruneOptions {
  /** registry host[:port]/repository, no tag. */
  ref: string;
  keep: string[];
  defaultBranch: string;
  olderThanMs: number;
  dryRun: boolean;
  insecure: boolean;
  now: Date;
  /** DOCKER_CONFIG (the directory); default ~/.docker. */
  dockerConfigDir?: string;
}

/** One tag as the registry shows it, with what is known of its age. */
export interface CacheTag {
  tag: string;
  digest: string;
  created?: Date;
  /** Where `created` was read from. */
  createdFrom?: 'annotation' | 'buildkit/createdat' | 'image config';
  /** Why the age could not be told, when `created` is absent. */
  unknownAge?: string;
}

export type PruneAction = 'delete' | 'keep';

export interface PruneDecision extends CacheTag {
  action: PruneAction;
  reason: string;
}

/**
 * Which tags go. Pure. A manifest is deleted by digest, which removes every tag that points
 * to it, so a digest shared with a tag that stays is kept too.
 */
export function decidePrune(
  tags: CacheTag[],
  opts: Pick<PruneOptions, 'keep' | 'defaultBranch' | 'olderThanMs' | 'now'>,
): PruneDecision[] {
  const defaultTag = branchCacheTag(opts.defaultBranch);
  const first: PruneDecision[] = tags.map((t) => {
    if (t.tag === defaultTag) return { ...t, action: 'keep', reason: 'the default branch' };
    if (opts.keep.includes(t.tag)) return { ...t, action: 'keep', reason: '--keep' };
    if (!t.created) return { ...t, action: 'keep', reason: `age unknown: ${t.unknownAge ?? 'no date'}` };
    const age = opts.now.getTime() - t.created.getTime();
    if (age <= opts.olderThanMs) return { ...t, action: 'keep', reason: `fresh (${formatAge(age)} old)` };
    return { ...t, action: 'delete', reason: `stale (${formatAge(age)} old)` };
  });
  const kept = new Map<string, string>();
  for (const d of first) if (d.action === 'keep' && !kept.has(d.digest)) kept.set(d.digest, d.tag);
  return first.map((d) => {
    const shared = kept.get(d.digest);
    return d.action === 'delete' && shared
      ? { ...d, action: 'keep', reason: `same manifest as kept tag ${shared}` }
      : d;
  });
}

function formatAge(ms: number): string {
  const m = Math.max(0, ms);
  if (m >= 86_400_000) return `${Math.floor(m / 86_400_000)}d`;
  if (m >= 3_600_000) return `${Math.floor(m / 3_600_000)}h`;
  if (m >= 60_000) return `${Math.floor(m / 60_000)}m`;
  return `${Math.floor(m / 1000)}s`;
}

/** `host[:port]/path` of the --ref flag. */
export function parseRegistryRef(raw: string): { host: string; repository: string } {
  const ref = raw.trim();
  const slash = ref.indexOf('/');
  const host = slash > 0 ? ref.slice(0, slash) : '';
  const repository = slash > 0 ? ref.slice(slash + 1) : '';
  const looksLikeHost = host.includes('.') || host.includes(':') || host === 'localhost';
  const component = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
  const lastPart = repository.split('/').pop() ?? '';
  if (!looksLikeHost || !repository || ref.includes('@') || lastPart.includes(':')) {
    throw new ConfigurationError(
      `hoist cache prune: --ref must be a registry host and repository without a tag, e.g. ghcr.io/acme/app-cache (the value of the build-push input fallback-cache); got "${raw}"`,
    );
  }
  if (!repository.split('/').every((c) => component.test(c))) {
    throw new ConfigurationError(
      `hoist cache prune: --ref "${raw}": the repository path may hold lowercase letters and digits, separated by . _ - or /`,
    );
  }
  return { host, repository };
}

interface Credential {
  username: string;
  password: string;
}

/** The `auths` entry of the docker config for this registry host, if any. */
export async function readDockerCredential(dir: string, host: string): Promise<Credential | undefined> {
  let text: string;
  try {
    text = await readFile(join(dir, 'config.json'), 'utf8');
  } catch {
    return undefined;
  }
  let config: { auths?: Record<string, { auth?: string; username?: string; password?: string }> };
  try {
    config = JSON.parse(text) as typeof config;
  } catch (err) {
    throw new ConfigurationError(
      `hoist cache prune: ${join(dir, 'config.json')} is not valid JSON (${errorMessage(err)}); fix it or point DOCKER_CONFIG elsewhere`,
    );
  }
  for (const [key, entry] of Object.entries(config.auths ?? {})) {
    const keyHost = key.replace(/^https?:\/\//, '').split('/')[0];
    if (keyHost !== host) continue;
    if (entry.username && entry.password) return { username: entry.username, password: entry.password };
    if (entry.auth) {
      const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon > 0) return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
    }
  }
  return undefined;
}

/** Key="value" pairs of a WWW-Authenticate challenge. */
function parseChallenge(header: string): { scheme: string; params: Record<string, string> } {
  const space = header.indexOf(' ');
  const scheme = (space < 0 ? header : header.slice(0, space)).toLowerCase();
  const params: Record<string, string> = {};
  for (const m of header.slice(space + 1).matchAll(/([a-zA-Z_]+)="([^"]*)"/g)) params[m[1]!] = m[2]!;
  return { scheme, params };
}

/** A registry API client for one repository: anonymous, basic, or bearer tokens by challenge. */
class RegistryClient {
  private readonly base: string;
  private authorization: string | undefined;

  constructor(
    host: string,
    readonly repository: string,
    insecure: boolean,
    private readonly credential: Credential | undefined,
  ) {
    this.base = `${insecure ? 'http' : 'https'}://${host}`;
  }

  async request(method: string, path: string, headers: Record<string, string> = {}): Promise<Response> {
    const url = path.startsWith('http') ? path : `${this.base}${path}`;
    const send = (): Promise<Response> =>
      fetch(url, {
        method,
        headers: { ...headers, ...(this.authorization ? { authorization: this.authorization } : {}) },
        redirect: 'follow',
      }).catch((err: unknown) => {
        const cause = (err as { cause?: unknown }).cause;
        throw new ConfigurationError(
          `hoist cache prune: cannot reach the registry at ${this.base} (${errorMessage(cause ?? err)}); check --ref${this.base.startsWith('https') ? ', and add --insecure for a plain-HTTP registry' : ''}`,
        );
      });
    let res = await send();
    if (res.status === 401) {
      const challenge = res.headers.get('www-authenticate');
      if (challenge && (await this.authenticate(challenge))) {
        await res.arrayBuffer();
        res = await send();
      }
    }
    return res;
  }

  private async authenticate(header: string): Promise<boolean> {
    const { scheme, params } = parseChallenge(header);
    const basic = this.credential
      ? `Basic ${Buffer.from(`${this.credential.username}:${this.credential.password}`).toString('base64')}`
      : undefined;
    if (scheme === 'basic') {
      if (!basic || this.authorization === basic) return false;
      this.authorization = basic;
      return true;
    }
    if (scheme !== 'bearer' || !params.realm) return false;
    const tokenUrl = new URL(params.realm);
    if (params.service) tokenUrl.searchParams.set('service', params.service);
    // Ask for delete up front so one token serves the whole run.
    tokenUrl.searchParams.append('scope', `repository:${this.repository}:pull,delete`);
    if (params.scope && !params.scope.startsWith(`repository:${this.repository}:`)) {
      tokenUrl.searchParams.append('scope', params.scope);
    }
    const res = await fetch(tokenUrl, { headers: basic ? { authorization: basic } : {} });
    if (!res.ok) {
      throw new ConfigurationError(
        `hoist cache prune: the registry's token service ${tokenUrl.origin}${tokenUrl.pathname} refused ${this.credential ? `the credential of ${this.credential.username}` : 'an anonymous token'} (HTTP ${res.status}); log in with "docker login" for this registry`,
      );
    }
    const body = (await res.json()) as { token?: string; access_token?: string };
    const token = body.token ?? body.access_token;
    if (!token) return false;
    const next = `Bearer ${token}`;
    if (this.authorization === next) return false;
    this.authorization = next;
    return true;
  }

  /** Every tag, following `Link: <…>; rel="next"` pagination. */
  async listTags(): Promise<string[]> {
    const tags: string[] = [];
    let next: string | undefined = `/v2/${this.repository}/tags/list?n=100`;
    for (let page = 0; next && page < 10_000; page++) {
      const res = await this.request('GET', next, { accept: 'application/json' });
      if (res.status === 404) {
        await res.arrayBuffer();
        return tags;
      }
      await this.expectOk(res, `list the tags of ${this.repository}`);
      const body = (await res.json()) as { tags?: string[] | null };
      tags.push(...(body.tags ?? []));
      const link = res.headers.get('link');
      const m = link ? /<([^>]+)>\s*;\s*rel="?next"?/.exec(link) : null;
      next = m ? new URL(m[1]!, `${this.base}/`).toString() : undefined;
    }
    return tags;
  }

  async expectOk(res: Response, what: string): Promise<void> {
    if (res.ok) return;
    const text = (await res.text()).slice(0, 300).trim();
    const hint =
      res.status === 401 || res.status === 403
        ? ': the registry refused the credential; run "docker login" for it (or set DOCKER_CONFIG)'
        : res.status === 405 && what.startsWith('delete')
          ? ': the registry does not allow deletes (for docker-registry set storage.delete.enabled: true)'
          : '';
    throw new ConfigurationError(
      `hoist cache prune: could not ${what} (HTTP ${res.status}${text ? `: ${text}` : ''})${hint}`,
    );
  }

  /** The digest a tag points to: HEAD with every manifest type accepted. */
  async manifestDigest(tag: string): Promise<string> {
    const res = await this.request('HEAD', `/v2/${this.repository}/manifests/${tag}`, {
      accept: MANIFEST_ACCEPT,
    });
    await this.expectOk(res, `read the manifest of ${this.repository}:${tag}`);
    const digest = res.headers.get('docker-content-digest');
    if (digest) return digest;
    // Some registries answer HEAD without the header: hash the manifest itself.
    const get = await this.request('GET', `/v2/${this.repository}/manifests/${tag}`, {
      accept: MANIFEST_ACCEPT,
    });
    await this.expectOk(get, `read the manifest of ${this.repository}:${tag}`);
    return `sha256:${createHash('sha256')
      .update(Buffer.from(await get.arrayBuffer()))
      .digest('hex')}`;
  }

  async getJson(path: string, accept: string, what: string): Promise<unknown> {
    const res = await this.request('GET', path, { accept });
    await this.expectOk(res, what);
    return res.json();
  }

  async deleteManifest(digest: string): Promise<void> {
    const res = await this.request('DELETE', `/v2/${this.repository}/manifests/${digest}`);
    await this.expectOk(res, `delete ${this.repository}@${digest}`);
    await res.arrayBuffer();
  }
}

interface Descriptor {
  mediaType?: string;
  digest?: string;
  annotations?: Record<string, string>;
}

interface ManifestJson {
  mediaType?: string;
  annotations?: Record<string, string>;
  config?: Descriptor;
  layers?: Descriptor[];
  manifests?: Descriptor[];
}

function validDate(raw: string | undefined): Date | undefined {
  if (!raw) return undefined;
  const d = new Date(raw);
  return Number.isNaN(d.getTime()) ? undefined : d;
}

/**
 * When a cache was written: the manifest's (or its config descriptor's) created annotation,
 * else the newest `buildkit/createdat` of its layers, else the image config's `created`.
 */
async function cacheAge(
  client: RegistryClient,
  digest: string,
): Promise<Pick<CacheTag, 'created' | 'createdFrom' | 'unknownAge'>> {
  const path = `/v2/${client.repository}/manifests/${digest}`;
  const manifest = (await client.getJson(
    path,
    MANIFEST_ACCEPT,
    `read ${client.repository}@${digest}`,
  )) as ManifestJson;
  const annotated =
    validDate(manifest.annotations?.[CREATED_ANNOTATION]) ??
    validDate(manifest.config?.annotations?.[CREATED_ANNOTATION]);
  if (annotated) return { created: annotated, createdFrom: 'annotation' };
  const stamps = [...(manifest.layers ?? []), ...(manifest.manifests ?? [])]
    .map((d) => validDate(d.annotations?.[BUILDKIT_CREATED_ANNOTATION]))
    .filter((d): d is Date => d !== undefined);
  if (stamps.length > 0) {
    return {
      created: new Date(Math.max(...stamps.map((d) => d.getTime()))),
      createdFrom: 'buildkit/createdat',
    };
  }
  let config = manifest.config;
  if (!config && manifest.manifests?.length) {
    // An image index: the first image's config tells its age.
    const inner = manifest.manifests.find((m) => m.mediaType?.includes('manifest'));
    if (inner?.digest) {
      const child = (await client.getJson(
        `/v2/${client.repository}/manifests/${inner.digest}`,
        MANIFEST_ACCEPT,
        `read ${client.repository}@${inner.digest}`,
      )) as ManifestJson;
      config = child.config;
    }
  }
  if (config?.digest && /image\.config|container\.image/.test(config.mediaType ?? '')) {
    const blob = (await client.getJson(
      `/v2/${client.repository}/blobs/${config.digest}`,
      '*/*',
      `read the image config ${config.digest}`,
    )) as { created?: string };
    const created = validDate(blob.created);
    if (created) return { created, createdFrom: 'image config' };
    return { unknownAge: 'the image config has no created date' };
  }
  return { unknownAge: 'no created annotation, no buildkit/createdat and no image config' };
}

export interface PruneResult {
  decisions: PruneDecision[];
  deleted: string[];
}

/** Lists, judges and (unless dry-run) deletes; prints one table. */
export async function pruneCache(opts: PruneOptions, io: Pick<CacheIo, 'stdout'>): Promise<PruneResult> {
  const { host, repository } = parseRegistryRef(opts.ref);
  const credential = await readDockerCredential(opts.dockerConfigDir ?? join(homedir(), '.docker'), host);
  const client = new RegistryClient(host, repository, opts.insecure, credential);
  const tags: CacheTag[] = [];
  for (const tag of await client.listTags()) {
    const digest = await client.manifestDigest(tag);
    tags.push({ tag, digest, ...(await cacheAge(client, digest)) });
  }
  const decisions = decidePrune(tags, opts);
  const deleted: string[] = [];
  const doneDigests = new Set<string>();
  for (const d of decisions) {
    if (d.action !== 'delete' || opts.dryRun) continue;
    if (!doneDigests.has(d.digest)) await client.deleteManifest(d.digest);
    doneDigests.add(d.digest);
    deleted.push(d.tag);
  }
  const verb = opts.dryRun ? 'would delete' : 'deleted';
  io.stdout.write(
    decisions.length === 0
      ? `${opts.ref} has no tags\n`
      : renderTable(
          ['TAG', 'DIGEST', 'CREATED', 'ACTION'],
          decisions.map((d) => [
            d.tag,
            d.digest.slice(0, 19),
            d.created?.toISOString(),
            d.action === 'delete' ? `${verb}: ${d.reason}` : `keep: ${d.reason}`,
          ]),
        ),
  );
  const count = decisions.filter((d) => d.action === 'delete').length;
  io.stdout.write(
    `${opts.dryRun ? `dry run: would delete ${count}` : `deleted ${deleted.length}`} of ${decisions.length} tags\n`,
  );
  return { decisions, deleted };
}

/** `hoist cache SUBCOMMAND`; returns the exit code. */
export async function runCache(argv: string[], io: CacheIo): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === '--help' || sub === '-h' || sub === 'help') {
    io.stdout.write(CACHE_HELP);
    return sub === undefined ? 2 : 0;
  }
  if (sub !== 'prune') {
    throw new ConfigurationError(`hoist cache: unknown subcommand "${sub}"; expected: prune`);
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    io.stdout.write(CACHE_HELP);
    return 0;
  }
  const { values, positionals } = parseFlags('hoist cache prune', rest, {
    ref: 'string',
    keep: 'list',
    'default-branch': 'string',
    'older-than': 'string',
    'dry-run': 'bool',
    insecure: 'bool',
  });
  if (positionals.length)
    throw new ConfigurationError(`hoist cache prune: unexpected argument "${positionals[0]}"`);
  const ref = values.ref as string | undefined;
  if (!ref) {
    throw new ConfigurationError(
      'hoist cache prune: --ref is required: the registry repository of the cache, as given to the build-push input fallback-cache (e.g. --ref ghcr.io/acme/app-cache)',
    );
  }
  const olderThanRaw = (values['older-than'] as string | undefined) ?? '14d';
  const olderThanMs = parseDurationMs(olderThanRaw);
  if (olderThanMs === undefined) {
    throw new ConfigurationError(
      `hoist cache prune: --older-than takes a duration such as 14d, 36h or 90m; got "${olderThanRaw}"`,
    );
  }
  const defaultBranch = (values['default-branch'] as string | undefined) ?? 'main';
  if (!defaultBranch) throw new ConfigurationError('hoist cache prune: --default-branch must not be empty');
  await pruneCache(
    {
      ref,
      keep: (values.keep as string[] | undefined) ?? [],
      defaultBranch,
      olderThanMs,
      dryRun: values['dry-run'] === true,
      insecure: values.insecure === true,
      now: new Date(),
      dockerConfigDir: io.env.DOCKER_CONFIG || join(homedir(), '.docker'),
    },
    io,
  );
  return 0;
}
