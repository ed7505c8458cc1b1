// The embedded default provider: every builder is a `buildkitd` process on this host
// with its own persistent root directory, listening only on a unix socket in its private
// 0700 directory. Clients reach it through the provider's gateway (./gateway.ts): one TCP
// port, mutual TLS under the builder's own CA, routed by SNI, each connection checked with
// the control plane. Builders run detached (own session, pidfile), so a control plane that is
// killed or restarted finds them still running and adopts them; a graceful stop of
// the server stops them unless told to leave them running (see close()).
import { spawn } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { constants as fsConstants, readFileSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { ConfigurationError, errorMessage } from '../lib/errors.js';
import { createCa, issueClientCert, issueServerCert, renewClientCert, type CertKeyPem } from '../lib/pki.js';
import { BuilderCgroups, type BuilderLimits } from './local-cgroup.js';
import { BuilderNetworks, type BuilderNetworkOptions, type PreparedNetwork } from './local-network.js';
import { BuilderVolume, type VolumeSpec } from './local-volume.js';
import { renderBuildkitdConfig } from './buildkitd-config.js';
import { probeUnixSocket } from './buildkitd-probe.js';
import {
  DEFAULT_MAX_USED_SPACE_BYTES,
  gatewayHosts,
  nullLogger,
  type BuildkitdProviderOptions,
  type ProviderLogger,
} from './provider-options.js';
import { copyImage, copyTree, diskUsage, probeCloneMethod, type CloneProbe } from './local-clone.js';
import {
  BuilderGateway,
  type ConnectionAuthorizer,
  type GatewayRoute,
  type OpenConnection,
} from './gateway.js';
import type { CacheUsage } from './provider.js';
import {
  nativePlatform,
  processAlive,
  ProvisionError,
  type BuilderHealth,
  type BuilderRole,
  type BuilderSpec,
  type LaunchResult,
  type ListedBuilder,
  type Provider,
  type ProviderCapabilities,
  type RunningBuilder,
  type SnapshotInfo,
} from './provider.js';

export interface LocalProviderOptions extends BuildkitdProviderOptions {
  /** The server's data directory; builders live in `<dataDir>/builders/<id>`. */
  dataDir: string;
  /** Path of buildkitd; resolved from HOIST_BUILDKITD, PATH, then ~/.cache/hoist-engine/bin when absent. */
  buildkitdPath?: string;
  /** The gateway's port; 0 (default) reuses the port of the last start when it is free, else any. */
  gatewayPort?: number;
  /** How long a starting builder may take to accept connections. Default 30 s. */
  readyTimeoutMs?: number;
  /** Where binfmt_misc is mounted; emulated platforms are offered when qemu is registered there. */
  binfmtDir?: string;
  /** pids, memory and CPU limits of each builder's cgroup; absent = builders run without a cgroup of their own. */
  limits?: BuilderLimits;
  /** What the builders directory lives on (see local-volume.ts); absent = as it is, no start-up check. */
  volume?: VolumeSpec;
  /** Hard disk cap of one builder on an XFS volume. Default twice maxUsedSpaceBytes (at least 300 MiB). */
  diskLimitBytes?: number;
  /** How RUN steps are networked; default CNI isolation (see local-network.ts). */
  network?: BuilderNetworkOptions;
}

const BINFMT_DIR = '/proc/sys/fs/binfmt_misc';
const QEMU_PLATFORMS: Record<string, string> = {
  'qemu-aarch64': 'linux/arm64',
  'qemu-x86_64': 'linux/amd64',
  'qemu-arm': 'linux/arm/v7',
  'qemu-riscv64': 'linux/riscv64',
  'qemu-ppc64le': 'linux/ppc64le',
  'qemu-s390x': 'linux/s390x',
};

/** Platforms a runc build can emulate: those whose qemu handler is registered and enabled in binfmt_misc. */
export function emulatedPlatforms(binfmtDir: string): string[] {
  const out: string[] = [];
  for (const [handler, platform] of Object.entries(QEMU_PLATFORMS)) {
    try {
      const text = readFileSync(path.join(binfmtDir, handler), 'utf8');
      if (/^enabled/m.test(text) && /flags:.*F/.test(text)) out.push(platform);
    } catch {
      /* not registered */
    }
  }
  return out;
}

interface BuilderState {
  id: string;
  projectId: string;
  platform: string;
  /** buildkitd's unix socket; absent in the state of an older, TCP-listening builder. */
  socket?: string;
  advertiseHost: string;
  pid: number | null;
  startedAt: string | null;
  /** Absent in the state of a builder from before clones: a primary. */
  role?: BuilderRole;
  /** A clone's source snapshot. */
  snapshotId?: string;
  /** The GC cap it was launched with, so a restart after a snapshot keeps it. */
  maxUsedSpaceBytes?: number;
}

/** `<buildersDir>/.snapshots/<id>/snapshot.json`, next to the copied `root/` or `image.xfs`. */
interface SnapshotMeta {
  id: string;
  builderId: string;
  projectId: string;
  platform: string;
  createdAt: string;
  sizeBytes: number | null;
  downtimeMs: number;
  method: CloneProbe['method'];
  /** `tree`: the root directory copied; `image`: the builder's disk image file copied. */
  layout: 'tree' | 'image';
}

const BUILDER_ID_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
const LOG_LIMIT_BYTES = 10 * 1024 * 1024;
const SNAPSHOT_STOP_GRACE_MS = 60_000;

/** Finds buildkitd: explicit path, HOIST_BUILDKITD, PATH, then the engine cache. */
export async function findBuildkitd(
  explicit?: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<string> {
  const wanted = explicit || env.HOIST_BUILDKITD;
  if (wanted) {
    if (!(await isExecutable(wanted))) {
      throw new ConfigurationError(
        `buildkitd not found or not executable at "${wanted}" (--buildkitd / HOIST_BUILDKITD); point it at a buildkitd binary`,
      );
    }
    return path.resolve(wanted);
  }
  const dirs = (env.PATH ?? '').split(path.delimiter).filter(Boolean);
  dirs.push(path.join(os.homedir(), '.cache', 'hoist-engine', 'bin'));
  for (const dir of dirs) {
    const candidate = path.join(dir, 'buildkitd');
    if (await isExecutable(candidate)) return candidate;
  }
  throw new ConfigurationError(
    'buildkitd was not found on PATH or in ~/.cache/hoist-engine/bin; install BuildKit v0.18+ or set --buildkitd / HOIST_BUILDKITD',
  );
}

async function isExecutable(p: string): Promise<boolean> {
  try {
    const st = await fs.stat(p);
    if (!st.isFile()) return false;
    await fs.access(p, fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Parses "10GB", "512MiB", "2g" or a byte count (1024-based like buildkitd); null when malformed. */
export function parseByteSize(raw: string | number): number | null {
  if (typeof raw === 'number') return Number.isInteger(raw) && raw > 0 ? raw : null;
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgtp]?)(i?b?)\s*$/i.exec(raw);
  if (!m) return null;
  const exp = ['', 'k', 'm', 'g', 't', 'p'].indexOf(m[2]!.toLowerCase());
  const bytes = Math.floor(Number(m[1]) * 1024 ** exp);
  return bytes > 0 ? bytes : null;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

async function readCmdline(pid: number): Promise<string[] | null> {
  try {
    const raw = await fs.readFile(`/proc/${pid}/cmdline`, 'utf8');
    return raw.split('\0').filter((s) => s !== '');
  } catch {
    return null;
  }
}

export class LocalProvider implements Provider {
  readonly name = 'local';
  private readonly buildersDir: string;
  private readonly listenHost: string;
  private readonly advertiseHost: string;
  private readonly maxUsedDefault: number;
  private readonly readyTimeoutMs: number;
  private readonly insecureRegistries: string[];
  private readonly log: ProviderLogger;
  private readonly launching = new Map<string, Promise<RunningBuilder>>();
  private readonly caCache = new Map<string, CertKeyPem>();
  /**
   * The socket and process of each builder last found healthy: the next check (on every build's
   * acquire) probes that socket while that process lives, without reading its files again.
   */
  private readonly lastHealthy = new Map<string, { socket: string; pid: number }>();
  private readonly advertisePort: number | undefined;
  private readonly supported: string[];
  /** Set by create() when limits are asked for. */
  private cgroups: BuilderCgroups | null = null;
  private volume: BuilderVolume | null = null;
  private gateway!: BuilderGateway;
  private readonly dns: string[];
  /** Set by create(): how caches are copied on this data directory's filesystem. */
  private clone: CloneProbe = { method: 'full-copy', fsType: 'unknown', reason: 'not probed' };
  /** Snapshots in progress by builder id; a launch of that builder waits for it. */
  private readonly snapshotting = new Map<string, Promise<unknown>>();

  private constructor(
    private readonly buildkitd: string,
    opts: LocalProviderOptions,
    private readonly network: BuilderNetworks,
  ) {
    this.buildersDir = path.join(opts.dataDir, 'builders');
    ({ listenHost: this.listenHost, advertiseHost: this.advertiseHost } = gatewayHosts(opts));
    this.advertisePort = opts.advertisePort;
    this.maxUsedDefault = opts.maxUsedSpaceBytes ?? DEFAULT_MAX_USED_SPACE_BYTES;
    this.readyTimeoutMs = opts.readyTimeoutMs ?? 30_000;
    this.insecureRegistries = opts.insecureRegistries ?? [];
    this.log = opts.logger ?? nullLogger;
    this.dns = opts.dns ?? [];
    const native = nativePlatform();
    this.supported = [native, ...emulatedPlatforms(opts.binfmtDir ?? BINFMT_DIR).filter((p) => p !== native)];
  }

  static async create(opts: LocalProviderOptions): Promise<LocalProvider> {
    const bin = await findBuildkitd(opts.buildkitdPath);
    const network = await BuilderNetworks.create({
      dataDir: opts.dataDir,
      network: opts.network,
      logger: opts.logger ?? nullLogger,
      dns: opts.dns,
    });
    const p = new LocalProvider(bin, opts, network);
    await fs.mkdir(p.buildersDir, { recursive: true, mode: 0o700 });
    if (opts.volume) {
      p.volume = await BuilderVolume.open({
        spec: opts.volume,
        buildersDir: p.buildersDir,
        diskLimitBytes: opts.diskLimitBytes ?? Math.max(2 * p.maxUsedDefault, 300 * 1024 ** 2),
        logger: p.log,
      });
    }
    if (opts.limits) {
      try {
        p.cgroups = await BuilderCgroups.create(opts.limits, p.buildersDir);
        const stale = await p.cgroups.removeStale(new Set((await p.scanProcesses()).keys()));
        if (stale.length)
          p.log.info({ builder_ids: stale }, 'removed cgroups of builders that no longer run');
        const abandoned = await p.cgroups.sweepAbandoned(10 * 60_000);
        if (abandoned.length)
          p.log.info({ cgroups: abandoned }, 'removed empty cgroups of servers that are gone');
      } catch (err) {
        await p.volume?.close();
        throw err;
      }
      p.log.info(
        { cgroup: p.cgroups.base, cgroup_version: p.cgroups.layout.version, ...opts.limits },
        'builders run in their own cgroups',
      );
    }
    try {
      p.gateway = await p.listenGateway(opts.gatewayPort ?? 0);
    } catch (err) {
      await p.volume?.close();
      throw err;
    }
    // Bridges and rules a crashed server left; those of builders still running stay for adoption.
    // One whose network was prepared within the ready timeout and after its last start (its state
    // file is older) is being started by another server on this data directory: a replica.
    await network.reconcile(new Set((await p.scanProcesses()).keys()), {
      starting: async (id, preparedAtMs) => {
        if (Date.now() - preparedAtMs > p.readyTimeoutMs + 10_000 || !BUILDER_ID_RE.test(id)) return false;
        const started = await fs.stat(p.files(id).state).then(
          (st) => st.mtimeMs,
          () => null,
        );
        return started === null || started < preparedAtMs;
      },
    });
    try {
      p.clone = await probeCloneMethod(p.buildersDir);
      await p.removePartialCopies();
    } catch (err) {
      await p.close({ stopBuilders: false });
      throw err;
    }
    const log = p.clone.method === 'reflink' ? p.log.info.bind(p.log) : p.log.warn.bind(p.log);
    log(
      {
        clone_method: p.clone.method,
        filesystem: p.clone.fsType,
        builders_dir: p.buildersDir,
        per_builder_images: p.volume?.imageOf('probe') != null,
      },
      `builder caches are cloned by ${p.clone.method === 'reflink' ? 'copy-on-write reflinks' : 'full copies'}: ${p.clone.reason}`,
    );
    return p;
  }

  /** Copies a crash cut short: never used, always started again. */
  private async removePartialCopies(): Promise<void> {
    const snaps = this.snapshotsDir;
    for (const name of await fs.readdir(snaps).catch(() => [] as string[])) {
      if (name.endsWith('.partial')) await fs.rm(path.join(snaps, name), { recursive: true, force: true });
    }
    for (const name of await fs.readdir(this.buildersDir).catch(() => [] as string[])) {
      // Only builder directories hold one; a stray file of such a name is not ours to judge.
      if (BUILDER_ID_RE.test(name))
        await fs
          .rm(path.join(this.buildersDir, name, 'root.partial'), { recursive: true, force: true })
          .catch((err: unknown) => {
            if ((err as NodeJS.ErrnoException).code !== 'ENOTDIR') throw err;
          });
    }
    const images = this.volume?.imageOf('x');
    if (images) {
      for (const name of await fs.readdir(path.dirname(images)).catch(() => [] as string[])) {
        if (/\.(partial|seed)$/.test(name))
          await fs.rm(path.join(path.dirname(images), name), { force: true });
      }
    }
  }

  /** Snapshots live on the builders' filesystem (reflinks do not cross filesystems); a dot name is never a builder. */
  private get snapshotsDir(): string {
    return path.join(this.buildersDir, '.snapshots');
  }

  /** How this provider clones caches, as probed at start. */
  get cloneProbe(): CloneProbe {
    return this.clone;
  }

  /** `cni` (RUN steps isolated) or `host`. */
  get networkMode(): 'cni' | 'host' {
    return this.network.mode;
  }

  /** How builder disk use is bounded, when a volume was asked for. */
  get diskCap() {
    return this.volume?.cap ?? null;
  }

  /** The cgroups of this provider's builders, when limits were asked for. */
  get builderCgroups(): BuilderCgroups | null {
    return this.cgroups;
  }

  /**
   * With port 0 the gateway takes the port it had before when it is free, so builders keep their
   * endpoint across server restarts, like they did when each listened on its own port.
   */
  private async listenGateway(port: number): Promise<BuilderGateway> {
    const file = path.join(path.dirname(this.buildersDir), 'builder-gateway.json');
    let wanted = port;
    if (wanted === 0) {
      try {
        const prev = JSON.parse(await fs.readFile(file, 'utf8')) as { host?: string; port?: number };
        if (prev.host === this.listenHost && Number.isInteger(prev.port)) wanted = prev.port!;
      } catch {
        /* first start */
      }
    }
    const listen = (p: number) =>
      BuilderGateway.listen({
        host: this.listenHost,
        port: p,
        advertiseHost: this.advertiseHost,
        advertisePort: this.advertisePort,
        logger: this.log,
      });
    let gw: BuilderGateway;
    try {
      gw = await listen(wanted);
    } catch (err) {
      if (port !== 0 || wanted === 0) {
        throw new ConfigurationError(
          `the builders' gateway cannot listen on ${this.listenHost}:${port} (${errorMessage(err)}); pick another --builder-gateway-port or --builder-listen-host`,
        );
      }
      gw = await listen(0);
    }
    if (port === 0) {
      await fs.writeFile(file, JSON.stringify({ host: this.listenHost, port: gw.port }), { mode: 0o600 });
    }
    gw.setResolver((name) => this.routeByName(name));
    return gw;
  }

  /** tcp://HOST:PORT of the gateway every builder is reached through. */
  get gatewayEndpoint(): string {
    return this.gateway.endpoint;
  }

  authorizeConnections(fn: ConnectionAuthorizer): void {
    this.gateway.setAuthorizer(fn);
  }

  closeConnections(owners: string[]): number {
    return this.gateway.closeOwners(owners);
  }

  closeSerials(serials: string[]): number {
    return this.gateway.closeSerials(serials);
  }

  openConnections(): OpenConnection[] {
    return this.gateway.connections();
  }

  get buildkitdPath(): string {
    return this.buildkitd;
  }

  platforms(): string[] {
    return this.supported;
  }

  capabilities(): ProviderCapabilities {
    return { cloneMethod: this.clone.method, maxBatchSize: 16 };
  }

  async launchBatch(specs: BuilderSpec[]): Promise<LaunchResult[]> {
    return Promise.all(
      specs.map(async (spec): Promise<LaunchResult> => {
        try {
          return { ok: true, builder: await this.launch(spec) };
        } catch (err) {
          if (err instanceof ProvisionError) return { ok: false, error: err };
          const kind = err instanceof ConfigurationError ? 'permanent' : 'transient';
          return { ok: false, error: new ProvisionError(kind, errorMessage(err), { cause: err }) };
        }
      }),
    );
  }

  /**
   * Stops the primary cleanly (SIGTERM: buildkitd closes its bolt databases), checks that no
   * buildkitd serves its root any more, copies the root (or its disk image), and starts and
   * adopts it again when it was running. The caller guarantees no build runs on it.
   */
  snapshot(builderId: string, snapshotId: string): Promise<SnapshotInfo> {
    if (!BUILDER_ID_RE.test(snapshotId))
      return Promise.reject(
        new ProvisionError(
          'permanent',
          `invalid snapshot id "${snapshotId}": use letters, digits, ".", "_" or "-"`,
        ),
      );
    const prior = this.snapshotting.get(builderId) ?? Promise.resolve();
    const p = prior
      .catch(() => undefined)
      .then(() => this.launching.get(builderId)?.catch(() => undefined))
      .then(() => this.takeSnapshot(builderId, snapshotId));
    const tracked: Promise<unknown> = p
      .finally(() => {
        if (this.snapshotting.get(builderId) === tracked) this.snapshotting.delete(builderId);
      })
      .catch(() => undefined);
    this.snapshotting.set(builderId, tracked);
    return p;
  }

  private async takeSnapshot(builderId: string, snapshotId: string): Promise<SnapshotInfo> {
    const state = await this.readState(builderId);
    if (!state)
      throw new ProvisionError(
        'permanent',
        `builder ${builderId} has never been started; nothing to snapshot`,
      );
    if (state.role === 'clone')
      throw new ProvisionError(
        'permanent',
        `builder ${builderId} is a clone; only a primary is snapshotted (clones are never written back)`,
      );
    const dest = path.join(this.snapshotsDir, snapshotId);
    if (await exists(dest))
      throw new ProvisionError('permanent', `snapshot ${snapshotId} already exists; pick a new id`);
    await fs.mkdir(this.snapshotsDir, { recursive: true, mode: 0o700 });
    const f = this.files(builderId);
    const wasRunning = (await this.findPid(builderId)) !== null;
    const stoppedAt = Date.now();
    // A generous grace: buildkitd closes its databases on SIGTERM, and a killed one may leave them torn.
    const clean = wasRunning ? await this.stopBuilder(builderId, SNAPSHOT_STOP_GRACE_MS) : true;
    const stopMs = Date.now() - stoppedAt;
    const left = await this.findPid(builderId);
    if (left !== null || !clean) {
      if (left === null) await this.restartAfterSnapshot(state).catch(() => undefined);
      throw new ProvisionError(
        'transient',
        left !== null
          ? `buildkitd of builder ${builderId} (pid ${left}) did not stop; no snapshot was taken of a live daemon`
          : `buildkitd of builder ${builderId} did not exit within ${SNAPSHOT_STOP_GRACE_MS / 1000} s of SIGTERM and was killed; no snapshot was taken of a cache that may be torn`,
      );
    }
    const image = this.volume?.imageOf(builderId) ?? null;
    const partial = `${dest}.partial`;
    await fs.rm(partial, { recursive: true, force: true });
    await fs.mkdir(partial, { mode: 0o700 });
    let copyMs = 0;
    let restart: Error | null = null;
    let restarted: RunningBuilder | undefined;
    let sizeBytes: number | null = null;
    try {
      const copyStart = Date.now();
      this.log.info(
        { builder_id: builderId, snapshot_id: snapshotId, method: this.clone.method, daemon_running: false },
        'snapshot: copying the stopped builder',
      );
      if (image) {
        if (await exists(image)) await copyImage(image, path.join(partial, 'image.xfs'), this.clone.method);
        else
          throw new ProvisionError(
            'permanent',
            `builder ${builderId} has no disk image yet; nothing to snapshot`,
          );
      } else if (await exists(f.root)) {
        await copyTree(f.root, path.join(partial, 'root'), this.clone.method);
      } else {
        throw new ProvisionError('permanent', `builder ${builderId} has no cache yet; nothing to snapshot`);
      }
      copyMs = Date.now() - copyStart;
    } catch (err) {
      await fs.rm(partial, { recursive: true, force: true });
      if (wasRunning) await this.restartAfterSnapshot(state).catch(() => undefined);
      throw err;
    }
    if (wasRunning)
      restart = await this.restartAfterSnapshot(state).then(
        (r) => {
          restarted = r;
          return null;
        },
        (err: Error) => err,
      );
    const downtimeMs = wasRunning ? Date.now() - stoppedAt : 0;
    sizeBytes = await diskUsage(partial);
    const meta: SnapshotMeta = {
      id: snapshotId,
      builderId,
      projectId: state.projectId,
      platform: state.platform,
      createdAt: new Date(stoppedAt).toISOString(),
      sizeBytes,
      downtimeMs,
      method: this.clone.method,
      layout: image ? 'image' : 'tree',
    };
    await fs.writeFile(path.join(partial, 'snapshot.json'), JSON.stringify(meta, null, 2), { mode: 0o600 });
    await fs.rename(partial, dest);
    this.log.info(
      {
        builder_id: builderId,
        snapshot_id: snapshotId,
        method: this.clone.method,
        stop_ms: stopMs,
        copy_ms: copyMs,
        downtime_ms: downtimeMs,
        size_bytes: sizeBytes,
      },
      'snapshot taken',
    );
    if (restart)
      throw new ProvisionError(
        'transient',
        `snapshot ${snapshotId} was taken, but builder ${builderId} did not start again: ${restart.message}`,
        { cause: restart },
      );
    return { ...toSnapshotInfo(meta), ...(restarted ? { restarted } : {}) };
  }

  private restartAfterSnapshot(state: BuilderState): Promise<RunningBuilder> {
    return this.doLaunch({
      id: state.id,
      projectId: state.projectId,
      platform: state.platform,
      ...(state.maxUsedSpaceBytes ? { maxUsedSpaceBytes: state.maxUsedSpaceBytes } : {}),
      role: 'primary',
    });
  }

  async deleteSnapshot(snapshotId: string): Promise<void> {
    if (!BUILDER_ID_RE.test(snapshotId)) return;
    // Clones own copy-on-write copies, never the snapshot's files: deleting it cannot hurt them.
    await fs.rm(path.join(this.snapshotsDir, snapshotId), { recursive: true, force: true, maxRetries: 3 });
    this.log.info({ snapshot_id: snapshotId }, 'snapshot deleted');
  }

  async listSnapshots(): Promise<SnapshotInfo[]> {
    const out: SnapshotInfo[] = [];
    for (const name of await fs.readdir(this.snapshotsDir).catch(() => [] as string[])) {
      if (!BUILDER_ID_RE.test(name)) continue;
      const meta = await this.readSnapshot(name);
      if (meta) out.push(toSnapshotInfo(meta));
    }
    return out.sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime());
  }

  private async readSnapshot(id: string): Promise<SnapshotMeta | null> {
    try {
      return JSON.parse(
        await fs.readFile(path.join(this.snapshotsDir, id, 'snapshot.json'), 'utf8'),
      ) as SnapshotMeta;
    } catch {
      return null;
    }
  }

  /**
   * A clone's first start: its root becomes a copy-on-write copy of the snapshot (a copy of its
   * disk image when each builder has one). `workerid` travels inside the root,
   * so the solver cache resolves; keys are never copied (the clone gets its own CA). A clone
   * that was seeded before (restarted after a stop) keeps its root.
   */
  private async seedClone(spec: BuilderSpec, f: ReturnType<LocalProvider['files']>): Promise<void> {
    if (!spec.snapshotId)
      throw new ProvisionError(
        'permanent',
        `clone ${spec.id} needs the snapshot it starts from (snapshotId)`,
      );
    const image = this.volume?.imageOf(spec.id) ?? null;
    if (await exists(image ?? f.root)) return;
    const meta = await this.readSnapshot(spec.snapshotId);
    if (!meta)
      throw new ProvisionError(
        'permanent',
        `snapshot ${spec.snapshotId} does not exist (deleted, or never taken); take a new one of the primary`,
      );
    if ((meta.layout === 'image') !== (image !== null))
      throw new ProvisionError(
        'permanent',
        `snapshot ${spec.snapshotId} holds a ${meta.layout === 'image' ? 'disk image' : 'directory tree'}, but builders here use ${image ? 'disk images' : 'directories'} (--builder-volume changed); take a new snapshot`,
      );
    const started = Date.now();
    const src = path.join(this.snapshotsDir, spec.snapshotId);
    if (image) {
      // Mounted with nouuid (see local-volume.ts): it keeps the primary's XFS UUID.
      await copyImage(path.join(src, 'image.xfs'), image, this.clone.method);
    } else {
      await copyTree(path.join(src, 'root'), f.root, this.clone.method);
    }
    this.log.info(
      {
        builder_id: spec.id,
        snapshot_id: spec.snapshotId,
        primary_id: meta.builderId,
        method: this.clone.method,
        ms: Date.now() - started,
      },
      'clone seeded from snapshot',
    );
  }

  private dir(id: string): string {
    if (!BUILDER_ID_RE.test(id)) throw new Error(`invalid builder id "${id}"`);
    return path.join(this.buildersDir, id);
  }

  private files(id: string) {
    const d = this.dir(id);
    return {
      dir: d,
      root: path.join(d, 'root'),
      caCert: path.join(d, 'ca.pem'),
      caKey: path.join(d, 'ca-key.pem'),
      serverCert: path.join(d, 'server.pem'),
      serverKey: path.join(d, 'server-key.pem'),
      config: path.join(d, 'buildkitd.toml'),
      pidfile: path.join(d, 'buildkitd.pid'),
      state: path.join(d, 'state.json'),
      log: path.join(d, 'buildkitd.log'),
      socket: socketPath(d),
    };
  }

  launch(spec: BuilderSpec): Promise<RunningBuilder> {
    const pending = this.launching.get(spec.id);
    if (pending) return pending;
    // A snapshot stops and restarts the builder: launch once it is done (it adopts the restarted one).
    const snap = this.snapshotting.get(spec.id);
    if (snap) return snap.catch(() => undefined).then(() => this.launch(spec));
    const p = this.doLaunch(spec).finally(() => this.launching.delete(spec.id));
    this.launching.set(spec.id, p);
    return p;
  }

  private async doLaunch(spec: BuilderSpec): Promise<RunningBuilder> {
    const f = this.files(spec.id);
    await fs.mkdir(f.dir, { recursive: true, mode: 0o700 });
    if (spec.role === 'clone') {
      // Recorded before the copy, so a server that restarts mid-copy knows this is a clone.
      const prevState = await this.readState(spec.id);
      if (!prevState)
        await this.writeState(spec.id, {
          id: spec.id,
          projectId: spec.projectId,
          platform: spec.platform,
          advertiseHost: this.advertiseHost,
          pid: null,
          startedAt: null,
          role: 'clone',
          snapshotId: spec.snapshotId,
        });
      await this.seedClone(spec, f);
    }
    await this.volume?.assign(spec.id, f.dir);
    await this.cgroups?.prepare(spec.id);
    const ca = await this.ensureCa(spec.id);
    const prev = await this.readState(spec.id);

    // Adopt a buildkitd that still runs from this root (a restarted control plane).
    const runningPid = await this.findPid(spec.id);
    if (runningPid !== null && prev) {
      const state: BuilderState = { ...prev, pid: runningPid };
      const argv = (await readCmdline(runningPid)) ?? [];
      const health: BuilderHealth =
        this.cgroups && !(await this.cgroups.contains(spec.id, runningPid))
          ? { healthy: false, reason: 'it runs outside its cgroup (started without limits)' }
          : !prev.socket
            ? { healthy: false, reason: 'it listens on TCP, not on its private socket' }
            : !(await this.network.adopt(spec.id, f.dir, argv))
              ? { healthy: false, reason: `its network is not the configured ${this.network.mode} network` }
              : await probeUnixSocket(prev.socket);
      if (health.healthy) {
        await this.ensureServerCert(spec.id, ca, this.advertiseHost);
        // Found by a /proc scan, or restarted since state.json was written: record the live pid.
        if (prev.pid !== runningPid) {
          await fs.writeFile(f.pidfile, `${runningPid}\n`, { mode: 0o600 });
          await this.writeState(spec.id, state);
        }
        await this.route(spec.id, state, ca);
        this.log.info({ builder_id: spec.id, pid: runningPid }, 'adopted running builder');
        return this.toRunning(state, ca, true);
      }
      this.log.warn(
        { builder_id: spec.id, pid: runningPid, reason: health.reason },
        'replacing unhealthy builder',
      );
    }
    if (runningPid !== null) await this.killPid(runningPid);
    // Steps of a previous buildkitd (killed, crashed) must not count against the new one.
    if (this.cgroups && (await this.cgroups.pids(spec.id)).length) {
      await this.cgroups.release(spec.id);
      await this.cgroups.prepare(spec.id);
    }
    const advertiseHost = this.advertiseHost;
    // The network is set up while a first start issues the server certificate.
    const networkP = this.network.prepare(spec.id, f.dir);
    let network: PreparedNetwork;
    try {
      [network] = await Promise.all([networkP, this.ensureServerCert(spec.id, ca, advertiseHost)]);
      await prepareSocket(f.socket);
    } catch (err) {
      await networkP.then(
        () => this.network.release(spec.id, f.dir),
        () => undefined,
      );
      throw err;
    }
    await fs.writeFile(
      f.config,
      renderBuildkitdConfig({
        maxUsedSpaceBytes: spec.maxUsedSpaceBytes ?? this.maxUsedDefault,
        insecureRegistries: this.insecureRegistries,
        cgroupParent: this.cgroups?.cgroupParent(spec.id),
        dns: this.dns,
        cni: network.cni,
      }),
      { mode: 0o600 },
    );
    await this.trimLog(f.log);
    const logFd = await fs.open(f.log, 'a', 0o600);
    const args = [
      '--config',
      f.config,
      '--root',
      f.root,
      // Only a socket in the private builder dir: the gateway is the way in, no TCP port.
      '--addr',
      `unix://${f.socket}`,
      // Each daemon its own OTEL socket: the default /run/buildkit/otel-grpc.sock is shared.
      '--otel-socket-path',
      otelSocketPath(f.dir),
      // Never `auto`: it silently falls back to host networking when CNI is missing.
      ...network.args,
      '--oci-worker-platform',
      spec.platform,
    ];
    const startedAt = new Date();
    // With limits, a shell joins the builder's cgroup and execs buildkitd (same pid and argv).
    const cmd = this.cgroups
      ? this.cgroups.wrap(this.buildkitd, args, spec.id)
      : { command: this.buildkitd, args };
    let child;
    try {
      child = spawn(cmd.command, cmd.args, {
        detached: true,
        stdio: ['ignore', logFd.fd, logFd.fd],
        env: builderEnv(process.env),
      });
    } catch (err) {
      await logFd.close();
      await this.network.release(spec.id, f.dir);
      throw err;
    }
    // Listen before any await: a child that exits at once emits 'exit' while we wait, and an
    // event with no listener is lost (the launch then waited out the whole ready timeout).
    const pid = child.pid;
    let exited: string | null = null;
    child.once('exit', (code, signal) => {
      exited = signal ? `signal ${signal}` : `exit code ${code}`;
    });
    child.once('error', (err) => {
      exited = errorMessage(err);
    });
    child.unref();
    await logFd.close();
    if (pid === undefined) {
      await sleep(0);
      await this.network.release(spec.id, f.dir);
      throw new Error(`could not start ${this.buildkitd}: ${exited ?? 'unknown error'}`);
    }
    const state: BuilderState = {
      id: spec.id,
      projectId: spec.projectId,
      platform: spec.platform,
      socket: f.socket,
      advertiseHost,
      pid,
      startedAt: startedAt.toISOString(),
      role: spec.role ?? prev?.role ?? 'primary',
      ...((spec.snapshotId ?? prev?.snapshotId) ? { snapshotId: spec.snapshotId ?? prev?.snapshotId } : {}),
      ...(spec.maxUsedSpaceBytes ? { maxUsedSpaceBytes: spec.maxUsedSpaceBytes } : {}),
    };
    try {
      await fs.writeFile(f.pidfile, `${pid}\n`, { mode: 0o600 });
      await this.writeState(spec.id, state);
      await this.waitReady(f.socket, () => exited);
    } catch (err) {
      await this.killPid(pid);
      await fs.rm(f.pidfile, { force: true });
      // The network first: namespaces are mounted inside the builder's root, on its volume.
      await this.network.release(spec.id, f.dir);
      await this.cgroups?.release(spec.id);
      await this.volume?.detach(spec.id);
      const tail = await this.logTail(f.log);
      throw new Error(
        `builder ${spec.id} did not start: ${errorMessage(err)}${tail ? `; buildkitd log: ${tail}` : ''}`,
      );
    }
    this.log.info(
      {
        builder_id: spec.id,
        pid,
        endpoint: this.gateway.endpoint,
        network: network.subnet ? `${network.bridge} ${network.subnet.cidr}` : 'host',
        ms: Date.now() - startedAt.getTime(),
      },
      'builder started',
    );
    await this.route(spec.id, state, ca);
    return this.toRunning(state, ca, false);
  }

  /**
   * Routes a running builder this gateway has no route for: one that another server on this data
   * directory (a replica) started or adopted. Nothing about the builder changes; the connection
   * is still checked with the control plane like every other.
   */
  private async routeByName(name: string): Promise<GatewayRoute | null> {
    const ids = await fs.readdir(this.buildersDir).catch(() => [] as string[]);
    const id = ids.find((i) => BUILDER_ID_RE.test(i) && serverName(i) === name);
    if (!id) return null;
    const [state, pid, ca] = await Promise.all([this.readState(id), this.findPid(id), this.loadCa(id)]);
    if (!state?.socket || pid === null || !ca) return null;
    this.log.info({ builder_id: id, pid }, 'routing a builder another server started');
    return this.routeOf(id, state, ca);
  }

  /** Lets the gateway reach this builder under its server name. */
  private async route(id: string, state: BuilderState, ca: CertKeyPem): Promise<void> {
    this.gateway.setRoute(await this.routeOf(id, state, ca));
  }

  private async routeOf(id: string, state: BuilderState, ca: CertKeyPem): Promise<GatewayRoute> {
    const f = this.files(id);
    return {
      builderId: id,
      serverName: serverName(id),
      caPem: ca.certPem,
      certPem: await fs.readFile(f.serverCert, 'utf8'),
      keyPem: await fs.readFile(f.serverKey, 'utf8'),
      upstream: { path: state.socket! },
    };
  }

  private toRunning(state: BuilderState, ca: CertKeyPem, adopted: boolean): RunningBuilder {
    return {
      id: state.id,
      endpoint: this.gateway.endpoint,
      serverName: serverName(state.id),
      caPem: ca.certPem,
      pid: state.pid,
      startedAt: state.startedAt ? new Date(state.startedAt) : new Date(),
      adopted,
    };
  }

  private async waitReady(socket: string, exited: () => string | null): Promise<void> {
    const deadline = Date.now() + this.readyTimeoutMs;
    let delay = 5;
    for (;;) {
      const why = exited();
      if (why) throw new Error(`buildkitd exited (${why})`);
      const h = await probeUnixSocket(socket);
      if (h.healthy) return;
      if (Date.now() > deadline) throw new Error(`not accepting connections after ${this.readyTimeoutMs} ms`);
      await sleep(delay);
      delay = Math.min(delay * 2, 50);
    }
  }

  async health(id: string): Promise<BuilderHealth> {
    // The probe is the proof either way: a pid taken over by another process, or a builder
    // restarted by another replica, fails it (or the pid check) and is looked at afresh.
    const known = this.lastHealthy.get(id);
    if (known && processAlive(known.pid)) {
      const h = await probeUnixSocket(known.socket);
      if (h.healthy) return h;
    }
    this.lastHealthy.delete(id);
    const state = await this.readState(id);
    if (!state) return { healthy: false, reason: 'builder has never been started' };
    const pid = await this.findPid(id);
    if (pid === null) return { healthy: false, reason: 'buildkitd is not running' };
    if (!state.socket) return { healthy: false, reason: 'it listens on TCP, not on its private socket' };
    const h = await probeUnixSocket(state.socket);
    if (h.healthy) this.lastHealthy.set(id, { socket: state.socket, pid });
    return h;
  }

  /** `buildctl du` and `debug workers` on the builder's private socket; the root's filesystem by statfs. */
  async cacheUsage(id: string): Promise<CacheUsage> {
    const state = await this.readState(id);
    if (!state?.socket || (await this.findPid(id)) === null) {
      throw new Error(`builder ${id} is not running`);
    }
    const buildctl = path.join(path.dirname(this.buildkitd), 'buildctl');
    const bin = (await isExecutable(buildctl)) ? buildctl : 'buildctl';
    const addr = ['--addr', `unix://${state.socket}`];
    const [du, workers] = await Promise.all([
      runJson(bin, [...addr, 'du', '--format', '{{json .}}']),
      runJson(bin, [...addr, 'debug', 'workers', '--format', '{{json .}}']),
    ]);
    return parseCacheUsage(du, workers, await fs.statfs(this.files(id).root).catch(() => null));
  }

  async issueClientCert(
    id: string,
    opts: { commonName: string; organization?: string; notAfter: Date },
  ): Promise<CertKeyPem> {
    const ca = await this.loadCa(id);
    if (!ca) throw new Error(`builder ${id} has no CA yet; launch it first`);
    return issueClientCert(ca, opts);
  }

  async renewClientCert(id: string, opts: { certPem: string; notAfter: Date }): Promise<string> {
    const ca = await this.loadCa(id);
    if (!ca) throw new Error(`builder ${id} has no CA; it cannot renew a certificate`);
    return renewClientCert(ca, opts);
  }

  async list(): Promise<ListedBuilder[]> {
    let names: string[];
    try {
      names = await fs.readdir(this.buildersDir);
    } catch {
      return [];
    }
    const running = await this.scanProcesses();
    const out: ListedBuilder[] = [];
    for (const id of names) {
      if (!BUILDER_ID_RE.test(id)) continue;
      const state = await this.readState(id);
      const pid = running.get(id) ?? null;
      out.push({
        id,
        ...(state ? { role: state.role ?? 'primary' } : {}),
        state: pid !== null ? 'running' : 'stopped',
        pid,
        endpoint: state && pid !== null ? this.gateway.endpoint : null,
      });
    }
    // A buildkitd running from a builder root whose directory entry is unreadable is still ours.
    for (const [id, pid] of running) {
      if (!out.some((b) => b.id === id)) out.push({ id, state: 'running', pid, endpoint: null });
    }
    return out;
  }

  async stop(id: string): Promise<void> {
    await this.stopBuilder(id);
  }

  /** stop(); says whether buildkitd exited on SIGTERM within `graceMs` (false: it was killed). */
  private async stopBuilder(id: string, graceMs?: number): Promise<boolean> {
    const f = this.files(id);
    this.gateway.removeRoute(id);
    this.lastHealthy.delete(id);
    const pid = await this.findPid(id);
    let clean = true;
    if (pid !== null) {
      const started = Date.now();
      clean = await this.killPid(pid, graceMs);
      this.log.info({ builder_id: id, pid, clean, ms: Date.now() - started }, 'builder stopped');
    }
    await fs.rm(f.pidfile, { force: true });
    if (this.cgroups) {
      const left = await this.cgroups.release(id);
      if (left.length) this.log.warn({ builder_id: id, cgroups: left }, 'could not remove builder cgroups');
    }
    // Its bridge and rules go with it (before its volume: namespaces are mounted in the root);
    // the subnet is preferred again at its next start.
    await this.network.release(id, f.dir);
    await this.volume?.detach(id);
    return clean;
  }

  async destroy(id: string): Promise<void> {
    await this.stop(id);
    this.caCache.delete(id);
    // a socket that did not fit in the builder dir has a private dir of its own in the temp dir
    const socketDir = path.dirname(this.files(id).socket);
    if (socketDir !== this.dir(id)) await fs.rm(socketDir, { recursive: true, force: true });
    await fs.rm(this.dir(id), { recursive: true, force: true, maxRetries: 3 });
    await this.volume?.release(id);
    this.log.info({ builder_id: id }, 'builder destroyed');
  }

  async close(opts: { stopBuilders: boolean }): Promise<void> {
    await Promise.allSettled([...this.launching.values()]);
    await this.gateway.close();
    if (!opts.stopBuilders) {
      if (this.volume)
        this.log.info(
          { builders_dir: this.buildersDir },
          'builder volume stays mounted for the builders left running',
        );
      // Builders left running for the next server keep their network: it is their firewall.
      return;
    }
    const running = await this.scanProcesses();
    await Promise.all([...running.keys()].map((id) => this.stop(id)));
    // Networks before the volume: namespaces of killed builders may be mounted inside it.
    await this.network.reconcile(new Set());
    await this.network.close();
    // Groups of builders that died on their own (crashed, killed) have had no stop() yet.
    const stale = await this.cgroups?.removeStale(new Set());
    if (stale?.length)
      this.log.info({ builder_ids: stale }, 'removed cgroups of builders that no longer run');
    await this.cgroups?.close();
    await this.volume?.close();
  }

  /** SIGTERM, then SIGKILL of the process group after a grace period; false when it had to be killed. */
  private async killPid(pid: number, graceMs = 10_000): Promise<boolean> {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      return true;
    }
    const deadline = Date.now() + graceMs;
    while (Date.now() < deadline) {
      if (!processAlive(pid)) return true;
      await sleep(20);
    }
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
    for (let i = 0; i < 100 && processAlive(pid); i++) await sleep(20);
    return false;
  }

  /** The pid of the buildkitd serving this builder's root, from the pidfile or a /proc scan. */
  private async findPid(id: string): Promise<number | null> {
    const f = this.files(id);
    try {
      const pid = Number((await fs.readFile(f.pidfile, 'utf8')).trim());
      if (Number.isInteger(pid) && pid > 0 && (await this.isOurBuildkitd(pid, f.root))) return pid;
    } catch {
      /* no pidfile */
    }
    return (await this.scanProcesses()).get(id) ?? null;
  }

  private async isOurBuildkitd(pid: number, root: string): Promise<boolean> {
    if (!processAlive(pid)) return false;
    const argv = await readCmdline(pid);
    if (!argv) return false;
    const i = argv.indexOf('--root');
    return i >= 0 && argv[i + 1] === root && path.basename(argv[0] ?? '') === 'buildkitd';
  }

  /** Every live buildkitd whose --root is a builder root of this provider, by builder id. */
  private async scanProcesses(): Promise<Map<string, number>> {
    const found = new Map<string, number>();
    let entries: string[];
    try {
      entries = await fs.readdir('/proc');
    } catch {
      return found;
    }
    const prefix = this.buildersDir + path.sep;
    await Promise.all(
      entries
        .filter((e) => /^\d+$/.test(e))
        .map(async (e) => {
          const pid = Number(e);
          const argv = await readCmdline(pid);
          if (!argv || path.basename(argv[0] ?? '') !== 'buildkitd') return;
          const i = argv.indexOf('--root');
          const root = i >= 0 ? argv[i + 1] : undefined;
          if (!root || !root.startsWith(prefix) || path.basename(root) !== 'root') return;
          const id = path.basename(path.dirname(root));
          if (path.dirname(path.dirname(root)) !== this.buildersDir) return;
          if (processAlive(pid)) found.set(id, pid);
        }),
    );
    return found;
  }

  private async loadCa(id: string): Promise<CertKeyPem | null> {
    const cached = this.caCache.get(id);
    if (cached) return cached;
    const f = this.files(id);
    try {
      const ca = { certPem: await fs.readFile(f.caCert, 'utf8'), keyPem: await fs.readFile(f.caKey, 'utf8') };
      this.caCache.set(id, ca);
      return ca;
    } catch {
      return null;
    }
  }

  private async ensureCa(id: string): Promise<CertKeyPem> {
    const existing = await this.loadCa(id);
    if (existing) return existing;
    const f = this.files(id);
    const ca = await createCa({ commonName: `hoist builder ${id} CA` });
    await writeSecret(f.caKey, ca.keyPem);
    await fs.writeFile(f.caCert, ca.certPem, { mode: 0o644 });
    this.caCache.set(id, ca);
    return ca;
  }

  /** (Re)issues the server certificate when missing, expiring within 30 days, or for another host. */
  private async ensureServerCert(id: string, ca: CertKeyPem, host: string): Promise<void> {
    const f = this.files(id);
    try {
      const pem = await fs.readFile(f.serverCert, 'utf8');
      const cert = new X509Certificate(pem);
      const fresh = new Date(cert.validTo).getTime() > Date.now() + 30 * 24 * 3600_000;
      if (fresh && certCoversHost(cert, host) && cert.checkIssued(new X509Certificate(ca.certPem))) return;
    } catch {
      /* missing or unreadable: issue */
    }
    const ip = net.isIP(host) ? [host] : [];
    const dns = [serverName(id), ...(net.isIP(host) ? [] : [host])];
    const cert = await issueServerCert(ca, { commonName: serverName(id), dnsNames: dns, ipAddresses: ip });
    await writeSecret(f.serverKey, cert.keyPem);
    await fs.writeFile(f.serverCert, cert.certPem, { mode: 0o644 });
  }

  private async readState(id: string): Promise<BuilderState | null> {
    try {
      return JSON.parse(await fs.readFile(this.files(id).state, 'utf8')) as BuilderState;
    } catch {
      return null;
    }
  }

  private async writeState(id: string, state: BuilderState): Promise<void> {
    const file = this.files(id).state;
    const tmp = `${file}.${process.pid}.tmp`;
    await fs.writeFile(tmp, JSON.stringify(state, null, 2), { mode: 0o600 });
    await fs.rename(tmp, file);
  }

  private async trimLog(file: string): Promise<void> {
    try {
      const st = await fs.stat(file);
      if (st.size > LOG_LIMIT_BYTES) await fs.rename(file, `${file}.1`);
    } catch {
      /* no log yet */
    }
  }

  private async logTail(file: string): Promise<string> {
    try {
      const text = await fs.readFile(file, 'utf8');
      return text.trim().split('\n').slice(-3).join(' | ').slice(-600);
    } catch {
      return '';
    }
  }
}

function toSnapshotInfo(m: SnapshotMeta): SnapshotInfo {
  return {
    id: m.id,
    builderId: m.builderId,
    createdAt: new Date(m.createdAt),
    sizeBytes: m.sizeBytes,
    downtimeMs: m.downtimeMs,
  };
}

async function exists(p: string): Promise<boolean> {
  return fs.lstat(p).then(
    () => true,
    () => false,
  );
}

/** A unix socket path in the builder dir, or in the temp dir when that would exceed sun_path. */
function otelSocketPath(dir: string): string {
  const inDir = path.join(dir, 'otel.sock');
  if (Buffer.byteLength(inDir) < 100) return inDir;
  return path.join(
    os.tmpdir(),
    `hoist-otel-${createHash('sha256').update(dir).digest('hex').slice(0, 16)}.sock`,
  );
}

/**
 * Does the certificate name this host in its subject alternative names? Whole entries, IPv6
 * in any spelling: a substring test of the SAN text took 127.0.0.10 for 127.0.0.1 and never
 * matched ::1 (Node prints it expanded).
 */
export function certCoversHost(cert: X509Certificate, host: string): boolean {
  return (net.isIP(host) ? cert.checkIP(host) : cert.checkHost(host)) !== undefined;
}

/**
 * The environment of a buildkitd: the server's, without what holds the control plane's
 * credentials (HOIST_* such as HOIST_DATABASE_URL, libpq's PG*, tokens of a CI job), which
 * a daemon running other people's builds has no use for; PATH gains the sbin dirs for runc.
 */
export function builderEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(env)) {
    if (/^(HOIST_|PG|ACTIONS_|GITHUB_TOKEN$|DATABASE_URL$)/.test(k)) continue;
    out[k] = v;
  }
  out.PATH = `${env.PATH ?? ''}:/usr/local/sbin:/usr/sbin:/sbin`;
  return out;
}

export function serverName(id: string): string {
  return `${id.toLowerCase().replace(/[^a-z0-9-]/g, '-')}.builders.hoist.internal`;
}

/**
 * Writes a key atomically, 0600 from its first byte: a leftover temp file of a crashed
 * writer (whatever its mode) is removed first, and a failed write leaves no temp file.
 */
async function writeSecret(file: string, content: string): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  await fs.rm(tmp, { force: true });
  try {
    await fs.writeFile(tmp, content, { mode: 0o600, flag: 'wx' });
    await fs.rename(tmp, file);
  } catch (err) {
    await fs.rm(tmp, { force: true });
    throw err;
  }
}

/**
 * buildkitd's socket: in the builder's 0700 dir, or, when that path would exceed sun_path, in a
 * private 0700 dir of its own under the temp dir.
 */
export function socketPath(dir: string): string {
  const inDir = path.join(dir, 'buildkitd.sock');
  if (Buffer.byteLength(inDir) < 100) return inDir;
  const hash = createHash('sha256').update(dir).digest('hex').slice(0, 16);
  return path.join(os.tmpdir(), `hoist-bk-${hash}`, 'buildkitd.sock');
}

/** A stale socket file makes buildkitd fail with "address already in use"; its dir must be private. */
async function prepareSocket(socket: string): Promise<void> {
  await fs.mkdir(path.dirname(socket), { recursive: true, mode: 0o700 });
  await fs.chmod(path.dirname(socket), 0o700);
  await fs.rm(socket, { force: true });
}

/** Runs a command that prints JSON (buildctl --format '{{json .}}'), with a timeout. */
function runJson(bin: string, args: string[], timeoutMs = 20_000): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0)
        return reject(
          new Error(`${path.basename(bin)} ${args.slice(2, 4).join(' ')}: ${err.trim().slice(0, 300)}`),
        );
      try {
        resolve(JSON.parse(out.trim() || 'null'));
      } catch {
        reject(new Error(`${path.basename(bin)} ${args.slice(2, 4).join(' ')} printed no JSON`));
      }
    });
  });
}

/** buildctl's du records and worker GC policies, and a statfs of the builder root, as CacheUsage. */
export function parseCacheUsage(
  du: unknown,
  workers: unknown,
  st: { blocks: number | bigint; bfree: number | bigint; bsize: number | bigint } | null,
): CacheUsage {
  const records = (Array.isArray(du) ? du : []).map((r: Record<string, unknown>) => ({
    type: typeof r.recordType === 'string' ? r.recordType : 'regular',
    size: Number(r.size) || 0,
    inUse: r.inUse === true,
    shared: r.shared === true,
  }));
  const limits = (Array.isArray(workers) ? workers : [])
    .flatMap((w: { gcPolicy?: { maxUsedSpace?: number; keepBytes?: number }[] }) => w.gcPolicy ?? [])
    .map((g) => Number(g.maxUsedSpace ?? g.keepBytes ?? 0))
    .filter((n) => n > 0);
  const n = (v: number | bigint): number => Number(v);
  return {
    records,
    gcLimitBytes: limits.length ? Math.max(...limits) : null,
    fsUsedBytes: st ? (n(st.blocks) - n(st.bfree)) * n(st.bsize) : null,
    fsTotalBytes: st ? n(st.blocks) * n(st.bsize) : null,
  };
}
