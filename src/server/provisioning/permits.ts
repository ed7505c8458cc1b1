// Clone permits: how many clones may be in flight at once, globally and per snapshot. The limit
// adapts like TCP's window (additive increase, multiplicative decrease): a slow or failed clone
// halves it, a quick one raises it by one, so a cache source that starts to struggle is given
// room before it stops answering.

export interface PermitSpec {
  /** Most clones in flight on the whole server. */
  globalMax: number;
  /** Most clones in flight from one snapshot. */
  perSnapshotMax: number;
  /** The limit never goes below this. */
  min: number;
  /** A clone slower than this counts as a sign of strain. */
  slowMs: number;
  /** One decrease per this period at most, so one wave of slow clones halves once. */
  decreaseEveryMs: number;
}

export interface ClonePermit {
  readonly snapshotId: string;
  /** Reports how the clone went; frees the permit. Idempotent. */
  done(ok: boolean, latencyMs: number, nowMs: number): void;
}

export class ClonePermits {
  private limitValue: number;
  private inFlight = 0;
  private readonly perSnapshot = new Map<string, number>();
  private lastDecrease = -Infinity;
  /** Most clones in flight ever seen. */
  peak = 0;

  constructor(readonly spec: PermitSpec) {
    this.limitValue = spec.globalMax;
  }

  get limit(): number {
    return this.limitValue;
  }

  get used(): number {
    return this.inFlight;
  }

  snapshotLimit(): number {
    return Math.max(this.spec.min, Math.min(this.spec.perSnapshotMax, this.limitValue));
  }

  usedBy(snapshotId: string): number {
    return this.perSnapshot.get(snapshotId) ?? 0;
  }

  tryAcquire(snapshotId: string): ClonePermit | null {
    const mine = this.usedBy(snapshotId);
    if (this.inFlight >= this.limitValue || mine >= this.snapshotLimit()) return null;
    this.inFlight++;
    this.peak = Math.max(this.peak, this.inFlight);
    this.perSnapshot.set(snapshotId, mine + 1);
    let released = false;
    return {
      snapshotId,
      done: (ok, latencyMs, nowMs) => {
        if (released) return;
        released = true;
        this.inFlight--;
        const n = this.usedBy(snapshotId) - 1;
        if (n > 0) this.perSnapshot.set(snapshotId, n);
        else this.perSnapshot.delete(snapshotId);
        this.adapt(ok, latencyMs, nowMs);
      },
    };
  }

  private adapt(ok: boolean, latencyMs: number, nowMs: number): void {
    if (!ok || latencyMs > this.spec.slowMs) {
      if (nowMs - this.lastDecrease >= this.spec.decreaseEveryMs) {
        this.limitValue = Math.max(this.spec.min, Math.floor(this.limitValue / 2));
        this.lastDecrease = nowMs;
      }
    } else if (latencyMs <= this.spec.slowMs / 2) {
      this.limitValue = Math.min(this.spec.globalMax, this.limitValue + 1);
    }
  }
}
