// The seam between the control plane and wherever builders run. The control plane
// decides which builder a build gets; a Provider only starts, stops, lists and checks
// BuildKit daemons and signs the client certificates that open them.
import { readFileSync } from 'node:fs';
import type { CertKeyPem } from '../lib/pki.js';
import type { ConnectionAuthorizer, OpenConnection } from './gateway.js';

export type { ConnectionAuthorizer, ConnectionVerdict, OpenConnection } from './gateway.js';

/**
 * A primary keeps a project's cache for good; a clone starts from a snapshot of its primary's
 * cache, is never written back, and is destroyed with its builder.
 */
export type BuilderRole = 'primary' | 'clone';

/** What the control plane asks a provider to run: one builder of one project and platform. */
export interface BuilderSpec {
  /** Stable id chosen by the control plane; the builder's cache is keyed by it. */
  id: string;
  projectId: string;
  /** e.g. "linux/amd64". */
  platform: string;
  /** GC cap for this builder's cache, in bytes; the provider's default when absent. */
  maxUsedSpaceBytes?: number;
  /** "primary" when absent. */
  role?: BuilderRole;
  /** For a clone: the snapshot (from `snapshot()`) its cache starts from. */
  snapshotId?: string;
}

/** How a provider makes a clone's cache from a snapshot, best first. */
export type CloneMethod =
  'btrfs-snapshot' | 'reflink' | 'csi-snapshot' | 'pvc-clone' | 'copy-pod' | 'full-copy' | 'none';

export interface ProviderCapabilities {
  cloneMethod: CloneMethod;
  /** Most builders one `launchBatch` call may ask for. */
  maxBatchSize: number;
  /**
   * The provider's own launch limits, when it has any (a cloud API's token buckets). The
   * provisioning layer sets its buckets below them so other users of the account keep room.
   */
  launchLimits?: {
    requestBurst: number;
    requestsPerSecond: number;
    resourceBurst: number;
    resourcesPerSecond: number;
  };
}

/** Why a provider call failed, so the provisioning layer can react without parsing messages. */
export type ProvisionErrorKind = 'rate-limited' | 'capacity' | 'quota' | 'transient' | 'permanent';

export class ProvisionError extends Error {
  readonly kind: ProvisionErrorKind;
  /** For "rate-limited": how long the provider asked to wait, when it said. */
  readonly retryAfterMs: number | undefined;
  constructor(
    kind: ProvisionErrorKind,
    message: string,
    opts: { retryAfterMs?: number; cause?: unknown } = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'ProvisionError';
    this.kind = kind;
    this.retryAfterMs = opts.retryAfterMs;
  }
}

/** One answer per builder asked for in a batch. */
export type LaunchResult = { ok: true; builder: RunningBuilder } | { ok: false; error: ProvisionError };

/** A point-in-time copy of a quiesced primary's cache that clones start from. */
export interface SnapshotInfo {
  id: string;
  /** The primary it was taken from. */
  builderId: string;
  createdAt: Date;
  /** Bytes on disk when the provider knows them. */
  sizeBytes: number | null;
  /** How long the primary was stopped to take it. */
  downtimeMs: number;
  /**
   * From snapshot() only: the primary as it runs again after the snapshot stopped and restarted
   * it. Its pid and start time are new; what was recorded at its launch is stale from then on.
   */
  restarted?: RunningBuilder;
}

/** A running builder as clients reach it. */
export interface RunningBuilder {
  id: string;
  /** buildx remote driver endpoint, e.g. tcp://127.0.0.1:41234 (the gateway, shared by every builder) */
  endpoint: string;
  /** Name in the builder's server certificate, to pass as `servername`. */
  serverName: string;
  /** The builder's own CA: verifies its server certificate and signs every client certificate. */
  caPem: string;
  /** Operating-system process id when the provider knows one. */
  pid: number | null;
  startedAt: Date;
  /** True when launch() found the builder already running (for example after a control-plane restart). */
  adopted: boolean;
}

export interface ListedBuilder {
  id: string;
  /** Known when the provider records it (labels, a state file); used to adopt after a restart. */
  role?: BuilderRole;
  state: 'running' | 'stopped';
  pid: number | null;
  endpoint: string | null;
}

/** One record of a builder's cache, as `buildctl du` reports it. */
export interface CacheRecord {
  /** BuildKit's record type: regular, exec.cachemount, source.local, source.git.checkout, internal, frontend */
  type: string;
  size: number;
  inUse: boolean;
  shared: boolean;
}

/** What a running builder's cache holds, its GC limit and the filesystem under it. */
export interface CacheUsage {
  records: CacheRecord[];
  /** The largest maxUsedSpace of the daemon's GC policies; null when it has none. */
  gcLimitBytes: number | null;
  fsUsedBytes: number | null;
  fsTotalBytes: number | null;
}

export type BuilderHealth = { healthy: true } | { healthy: false; reason: string };

export interface Provider {
  /** e.g. "local". */
  readonly name: string;
  /**
   * tcp://HOST:PORT clients dial for any builder through this process's gateway (its advertised
   * address), when the provider has one. A replica that did not launch a builder answers with it.
   */
  readonly gatewayEndpoint?: string;
  /** Platforms this provider can run builders for, native first. */
  platforms(): string[];
  /**
   * Starts the builder, or adopts it when it already runs, and resolves once it accepts
   * TLS connections. On failure nothing is left running. Safe to call concurrently.
   */
  launch(spec: BuilderSpec): Promise<RunningBuilder>;
  /** What this provider can do: clone method, batch size, its own launch limits. */
  capabilities(): ProviderCapabilities;
  /**
   * Launches several builders in one provider call where the provider allows it, with one result
   * per spec (in order). A failed builder leaves nothing running; its error is typed.
   */
  launchBatch(specs: BuilderSpec[]): Promise<LaunchResult[]>;
  /**
   * Takes a snapshot of a primary's cache. The caller guarantees no build runs on it; the provider
   * stops its daemon cleanly, copies, restarts it and adopts it again. Never reads a live daemon.
   */
  snapshot(builderId: string, snapshotId: string): Promise<SnapshotInfo>;
  /** Deletes a snapshot no clone uses any more. No-op when it does not exist. */
  deleteSnapshot(snapshotId: string): Promise<void>;
  /** Snapshots the provider holds, for reconciling after a restart. */
  listSnapshots(): Promise<SnapshotInfo[]>;
  /** Every builder the provider has state for, running or stopped (cache kept). */
  list(): Promise<ListedBuilder[]>;
  /** Stops the builder and keeps its cache. No-op when it does not run. */
  stop(id: string): Promise<void>;
  /** Stops the builder and deletes its cache and keys. */
  destroy(id: string): Promise<void>;
  /** Is the builder running and completing TLS handshakes? */
  health(id: string): Promise<BuilderHealth>;
  /**
   * The cache of a running builder (`buildctl du` and its GC policy), read by the server over
   * the provider's own channel to that builder only. Optional: without it the dashboard shows
   * no cache figures for this provider's builders.
   */
  cacheUsage?(id: string): Promise<CacheUsage>;
  /** A client certificate signed by this builder's CA; it opens this builder only. */
  issueClientCert(
    id: string,
    opts: { commonName: string; organization?: string; notAfter: Date },
  ): Promise<CertKeyPem>;
  /** A new certificate for the key of `certPem`, with a new validity; signed by this builder's CA. */
  renewClientCert(id: string, opts: { certPem: string; notAfter: Date }): Promise<string>;
  /**
   * Installs the check every new client connection to a builder must pass once its certificate
   * chain verified against the builder's CA. Without one, any certificate of that CA opens it.
   */
  authorizeConnections(fn: ConnectionAuthorizer): void;
  /** Closes the open builder connections of these owners (build ids) now; returns how many. */
  closeConnections(owners: string[]): number;
  /** Closes the open builder connections that presented these serials; returns how many. */
  closeSerials(serials: string[]): number;
  /** Open client connections to builders, for re-checking them against the database. */
  openConnections(): OpenConnection[];
  /** Releases the provider; stops its builders or leaves them for the next server to adopt. */
  close(opts: { stopBuilders: boolean }): Promise<void>;
}

const PLATFORM_RE = /^([a-z0-9]+)\/([a-z0-9_]+)(?:\/([a-z0-9]+))?$/;

/** The OS/arch of this machine in OCI terms. */
export function nativePlatform(arch: string = process.arch): string {
  const map: Record<string, string> = {
    x64: 'amd64',
    arm64: 'arm64',
    arm: 'arm',
    ia32: '386',
    ppc64: 'ppc64le',
    s390x: 's390x',
    riscv64: 'riscv64',
  };
  return `linux/${map[arch] ?? arch}`;
}

/**
 * Checks a platform string and returns its canonical form, or an error message that
 * says what is wrong and what is accepted.
 */
export function parsePlatform(
  raw: unknown,
  supported: string[],
): { ok: true; platform: string } | { ok: false; message: string } {
  const accepted = `supported platforms on this server: ${supported.join(', ')}`;
  if (typeof raw !== 'string' || raw.trim() === '') {
    return { ok: false, message: `platform must be a non-empty string like "${supported[0]}"; ${accepted}` };
  }
  const value = raw.trim().toLowerCase();
  const m = PLATFORM_RE.exec(value);
  if (!m) {
    return {
      ok: false,
      message: `platform "${raw}" is malformed; expected os/arch[/variant] such as "${supported[0]}"; ${accepted}`,
    };
  }
  const os = m[1]!;
  let arch = m[2]!;
  let variant: string | undefined = m[3];
  if (arch === 'x86_64') arch = 'amd64';
  if (arch === 'aarch64') arch = 'arm64';
  // The default variants name the same platform as the bare architecture.
  if ((arch === 'amd64' && variant === 'v1') || (arch === 'arm64' && variant === 'v8')) variant = undefined;
  const canonical = variant ? `${os}/${arch}/${variant}` : `${os}/${arch}`;
  if (!supported.includes(canonical)) {
    return { ok: false, message: `platform "${raw}" is not supported; ${accepted}` };
  }
  return { ok: true, platform: canonical };
}

/** Is this process on this host alive and not a zombie? (Linux: signal 0, then /proc/<pid>/stat.) */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat[stat.lastIndexOf(')') + 2];
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}
