// The `simulated` provider: a fake cloud instance API for scale this machine cannot hold. It
// meters launch calls like EC2 (per-account request and resource token buckets: RunInstances
// burst 5 refilling 2/s, 1000 instances refilling 2/s), shares them with a configurable noisy
// neighbour, takes time to start instances, fails some at random, and has a clone service whose
// latency grows with concurrent clones and which stops answering past a saturation point. Its
// builders run no buildkitd; the provisioning layer cannot tell it from a real provider.
import { createCa, issueClientCert, renewClientCert, type CertKeyPem } from '../lib/pki.js';
import {
  ProvisionError,
  type BuilderHealth,
  type BuilderSpec,
  type LaunchResult,
  type ListedBuilder,
  type Provider,
  type ProviderCapabilities,
  type RunningBuilder,
  type SnapshotInfo,
} from './provider.js';

/** The clock it runs on (the provisioning layer's clock fits). */
export interface SimClock {
  nowMs(): number;
  after(ms: number, fn: () => void): () => void;
  sleep(ms: number): Promise<void>;
}

export interface SimBucket {
  burst: number;
  perSecond: number;
}

export interface SimulatedOptions {
  clock: SimClock;
  name?: string;
  platforms?: string[];
  /** Launch calls per account: EC2's RunInstances bucket. */
  requestBucket?: SimBucket;
  /** Instances per account: EC2's RunInstances resource bucket. */
  resourceBucket?: SimBucket;
  /** Instance tokens left when the simulation starts (default: the full burst). */
  initialResources?: number;
  /** Another user of the same account calling RunInstances at this rate. */
  neighbour?: { callsPerSecond: number; instancesPerCall: number };
  launchLatencyMs?: { min: number; max: number };
  /** Share of launched instances that fail to start. */
  failureRate?: number;
  /** Most instances running at once; past it, "insufficient capacity". */
  capacity?: number;
  maxBatchSize?: number;
  clone?: { baseMs: number; perConcurrentMs: number; saturation: number };
  snapshotMs?: number;
  random?: () => number;
  /** A CA for client certificates (from `SimulatedProvider.create`); without it certificates are refused. */
  ca?: CertKeyPem;
}

interface Bucket {
  spec: SimBucket;
  tokens: number;
  at: number;
}

interface Instance {
  id: string;
  spec: BuilderSpec;
  state: 'starting' | 'running' | 'stopped';
  startedAt: number;
}

export interface SimStats {
  /** launchBatch calls by Hoist. */
  calls: number;
  throttledCalls: number;
  instancesAsked: number;
  instancesStarted: number;
  instancesFailed: number;
  neighbourCalls: number;
  neighbourThrottled: number;
  /** Calls the API accepted (Hoist's and the neighbour's) per whole second. */
  acceptedPerSecond: Map<number, number>;
  clonesInFlight: number;
  clonePeak: number;
  /** True once the clone service stopped answering. */
  cloneSaturated: boolean;
  clonesDone: number;
  snapshots: number;
}

function refill(b: Bucket, now: number): void {
  if (now > b.at) {
    b.tokens = Math.min(b.spec.burst, b.tokens + ((now - b.at) / 1000) * b.spec.perSecond);
    b.at = now;
  }
}

export class SimulatedProvider implements Provider {
  readonly name: string;
  private readonly o: Required<Omit<SimulatedOptions, 'neighbour' | 'capacity' | 'ca' | 'initialResources'>> &
    Pick<SimulatedOptions, 'neighbour' | 'capacity' | 'ca' | 'initialResources'>;
  private readonly requests: Bucket;
  private readonly resources: Bucket;
  private readonly instances = new Map<string, Instance>();
  private readonly snaps = new Map<string, SnapshotInfo>();
  /** Clones that will never be answered, by builder id: destroy releases them. */
  private readonly hung = new Map<string, () => void>();
  private stopNeighbour: (() => void) | null = null;
  readonly stats: SimStats = {
    calls: 0,
    throttledCalls: 0,
    instancesAsked: 0,
    instancesStarted: 0,
    instancesFailed: 0,
    neighbourCalls: 0,
    neighbourThrottled: 0,
    acceptedPerSecond: new Map(),
    clonesInFlight: 0,
    clonePeak: 0,
    cloneSaturated: false,
    clonesDone: 0,
    snapshots: 0,
  };

  constructor(opts: SimulatedOptions) {
    this.o = {
      name: 'simulated',
      platforms: ['linux/amd64'],
      requestBucket: { burst: 5, perSecond: 2 },
      resourceBucket: { burst: 1000, perSecond: 2 },
      launchLatencyMs: { min: 5000, max: 15_000 },
      failureRate: 0.02,
      maxBatchSize: 50,
      clone: { baseMs: 3000, perConcurrentMs: 400, saturation: 48 },
      snapshotMs: 5000,
      random: Math.random,
      ...opts,
    };
    this.name = this.o.name;
    const now = opts.clock.nowMs();
    this.requests = { spec: this.o.requestBucket, tokens: this.o.requestBucket.burst, at: now };
    this.resources = {
      spec: this.o.resourceBucket,
      tokens: this.o.initialResources ?? this.o.resourceBucket.burst,
      at: now,
    };
    if (this.o.neighbour && this.o.neighbour.callsPerSecond > 0) this.startNeighbour(this.o.neighbour);
  }

  /** With a CA made first, so builders can issue real client certificates. */
  static async create(opts: SimulatedOptions): Promise<SimulatedProvider> {
    const ca = opts.ca ?? (await createCa({ commonName: `hoist ${opts.name ?? 'simulated'} builders` }));
    return new SimulatedProvider({ ...opts, ca });
  }

  private get now(): number {
    return this.o.clock.nowMs();
  }

  private accept(now: number): void {
    const sec = Math.floor(now / 1000);
    this.stats.acceptedPerSecond.set(sec, (this.stats.acceptedPerSecond.get(sec) ?? 0) + 1);
  }

  private startNeighbour(n: { callsPerSecond: number; instancesPerCall: number }): void {
    const every = 1000 / n.callsPerSecond;
    const tick = (): void => {
      const now = this.now;
      refill(this.requests, now);
      refill(this.resources, now);
      this.stats.neighbourCalls++;
      if (this.requests.tokens >= 1 && this.resources.tokens >= n.instancesPerCall) {
        this.requests.tokens -= 1;
        this.resources.tokens -= n.instancesPerCall;
        this.accept(now);
      } else {
        this.stats.neighbourThrottled++;
      }
      this.stopNeighbour = this.o.clock.after(every, tick);
    };
    this.stopNeighbour = this.o.clock.after(every, tick);
  }

  platforms(): string[] {
    return this.o.platforms;
  }

  capabilities(): ProviderCapabilities {
    return {
      cloneMethod: 'reflink',
      maxBatchSize: this.o.maxBatchSize,
      launchLimits: {
        requestBurst: this.o.requestBucket.burst,
        requestsPerSecond: this.o.requestBucket.perSecond,
        resourceBurst: this.o.resourceBucket.burst,
        resourcesPerSecond: this.o.resourceBucket.perSecond,
      },
    };
  }

  async launch(spec: BuilderSpec): Promise<RunningBuilder> {
    const [r] = await this.launchBatch([spec]);
    if (!r!.ok) throw r!.error;
    return r!.builder;
  }

  /** One RunInstances call: one request token, one resource token per instance. */
  async launchBatch(specs: BuilderSpec[]): Promise<LaunchResult[]> {
    const now = this.now;
    this.stats.calls++;
    this.stats.instancesAsked += specs.length;
    refill(this.requests, now);
    refill(this.resources, now);
    if (this.requests.tokens < 1) {
      this.stats.throttledCalls++;
      const retryAfterMs = Math.ceil(((1 - this.requests.tokens) / this.o.requestBucket.perSecond) * 1000);
      return specs.map(() => ({
        ok: false,
        error: new ProvisionError('rate-limited', 'RequestLimitExceeded: request rate exceeded', {
          retryAfterMs,
        }),
      }));
    }
    this.requests.tokens -= 1;
    this.accept(now);
    return Promise.all(specs.map((s) => this.startOne(s)));
  }

  private async startOne(spec: BuilderSpec): Promise<LaunchResult> {
    const existing = this.instances.get(spec.id);
    if (existing?.state === 'running') return { ok: true, builder: this.running(existing, true) };
    const now = this.now;
    refill(this.resources, now);
    if (this.resources.tokens < 1) {
      const retryAfterMs = Math.ceil(((1 - this.resources.tokens) / this.o.resourceBucket.perSecond) * 1000);
      this.stats.instancesFailed++;
      return {
        ok: false,
        error: new ProvisionError('rate-limited', 'RequestLimitExceeded: instance launch rate exceeded', {
          retryAfterMs,
        }),
      };
    }
    this.resources.tokens -= 1;
    const up = [...this.instances.values()].filter((i) => i.state !== 'stopped').length;
    if (this.o.capacity !== undefined && up >= this.o.capacity) {
      this.stats.instancesFailed++;
      return { ok: false, error: new ProvisionError('capacity', 'InsufficientInstanceCapacity') };
    }
    if (spec.role === 'clone' && (!spec.snapshotId || !this.snaps.has(spec.snapshotId))) {
      return {
        ok: false,
        error: new ProvisionError('permanent', `snapshot ${spec.snapshotId ?? '(none)'} does not exist`),
      };
    }
    const inst: Instance = { id: spec.id, spec, state: 'starting', startedAt: now };
    this.instances.set(spec.id, inst);
    const { min, max } = this.o.launchLatencyMs;
    await this.o.clock.sleep(min + this.o.random() * (max - min));
    if (spec.role === 'clone') {
      const ok = await this.cloneVolume(spec.id);
      if (!ok) {
        this.instances.delete(spec.id);
        this.stats.instancesFailed++;
        return { ok: false, error: new ProvisionError('transient', 'clone canceled: instance destroyed') };
      }
    }
    if (this.instances.get(spec.id) !== inst) {
      this.stats.instancesFailed++;
      return { ok: false, error: new ProvisionError('transient', 'instance terminated while starting') };
    }
    if (this.o.random() < this.o.failureRate) {
      this.instances.delete(spec.id);
      this.stats.instancesFailed++;
      return { ok: false, error: new ProvisionError('transient', 'instance failed its status checks') };
    }
    inst.state = 'running';
    inst.startedAt = this.now;
    this.stats.instancesStarted++;
    return { ok: true, builder: this.running(inst, false) };
  }

  /**
   * The cache cluster makes a copy-on-write child of the snapshot. Latency grows with the clones
   * in flight; past the saturation point it stops answering (what the real one did).
   */
  private cloneVolume(id: string): Promise<boolean> {
    const c = this.o.clone;
    this.stats.clonesInFlight++;
    this.stats.clonePeak = Math.max(this.stats.clonePeak, this.stats.clonesInFlight);
    if (this.stats.clonesInFlight > c.saturation) this.stats.cloneSaturated = true;
    const done = (): void => {
      this.stats.clonesInFlight--;
    };
    if (this.stats.cloneSaturated) {
      return new Promise((resolve) => {
        this.hung.set(id, () => {
          done();
          resolve(false);
        });
      });
    }
    const latency = c.baseMs + c.perConcurrentMs * this.stats.clonesInFlight;
    return this.o.clock.sleep(latency).then(() => {
      done();
      this.stats.clonesDone++;
      return true;
    });
  }

  private running(i: Instance, adopted: boolean): RunningBuilder {
    return {
      id: i.id,
      endpoint: `tcp://${i.id}.builders.simulated.invalid:1234`,
      serverName: `${i.id}.builders.simulated.invalid`,
      caPem: this.o.ca?.certPem ?? '',
      pid: null,
      startedAt: new Date(i.startedAt),
      adopted,
    };
  }

  async snapshot(builderId: string, snapshotId: string): Promise<SnapshotInfo> {
    const i = this.instances.get(builderId);
    if (!i || i.state !== 'running') {
      throw new ProvisionError('permanent', `builder ${builderId} is not running; snapshot refused`);
    }
    i.state = 'stopped';
    const started = this.now;
    await this.o.clock.sleep(this.o.snapshotMs);
    if (this.instances.get(builderId) === i) i.state = 'running';
    const info: SnapshotInfo = {
      id: snapshotId,
      builderId,
      createdAt: new Date(this.now),
      sizeBytes: null,
      downtimeMs: this.now - started,
    };
    this.snaps.set(snapshotId, info);
    this.stats.snapshots++;
    return info;
  }

  async deleteSnapshot(snapshotId: string): Promise<void> {
    this.snaps.delete(snapshotId);
  }

  async listSnapshots(): Promise<SnapshotInfo[]> {
    return [...this.snaps.values()];
  }

  async list(): Promise<ListedBuilder[]> {
    return [...this.instances.values()].map((i) => ({
      id: i.id,
      role: i.spec.role ?? 'primary',
      state: i.state === 'running' ? 'running' : 'stopped',
      pid: null,
      endpoint: i.state === 'running' ? this.running(i, true).endpoint : null,
    }));
  }

  async stop(id: string): Promise<void> {
    const i = this.instances.get(id);
    if (i) i.state = 'stopped';
  }

  async destroy(id: string): Promise<void> {
    this.instances.delete(id);
    const h = this.hung.get(id);
    if (h) {
      this.hung.delete(id);
      h();
    }
  }

  async health(id: string): Promise<BuilderHealth> {
    const i = this.instances.get(id);
    return i?.state === 'running' ? { healthy: true } : { healthy: false, reason: 'instance not running' };
  }

  async issueClientCert(
    id: string,
    opts: { commonName: string; organization?: string; notAfter: Date },
  ): Promise<CertKeyPem> {
    if (!this.o.ca) throw new ProvisionError('permanent', 'this simulated provider has no CA (use create())');
    if (!this.instances.has(id)) throw new ProvisionError('permanent', `no builder ${id}`);
    return issueClientCert(this.o.ca, opts);
  }

  async renewClientCert(id: string, opts: { certPem: string; notAfter: Date }): Promise<string> {
    if (!this.o.ca) throw new ProvisionError('permanent', 'this simulated provider has no CA (use create())');
    if (!this.instances.has(id)) throw new ProvisionError('permanent', `no builder ${id}`);
    return renewClientCert(this.o.ca, opts);
  }

  authorizeConnections(): void {}

  closeConnections(): number {
    return 0;
  }

  closeSerials(): number {
    return 0;
  }

  openConnections(): [] {
    return [];
  }

  async close(opts: { stopBuilders: boolean }): Promise<void> {
    this.stopNeighbour?.();
    this.stopNeighbour = null;
    for (const h of this.hung.values()) h();
    this.hung.clear();
    if (opts.stopBuilders) for (const i of this.instances.values()) i.state = 'stopped';
  }
}
