// A generic batcher (after Karpenter's pkg/batcher): items collect in a window that closes after
// `idleMs` without a new item or `maxMs` after the first one, or when `maxItems` arrived; one
// call then runs for the whole window and its answer is split back to each caller, in order.
import type { ProvisioningClock } from './clock.js';

export interface BatcherOptions<I, O> {
  idleMs: number;
  maxMs: number;
  maxItems: number;
  clock: ProvisioningClock;
  /** One answer per item, in the items' order. */
  exec(items: I[]): Promise<O[]>;
}

interface Waiting<I, O> {
  item: I;
  resolve(o: O): void;
  reject(err: unknown): void;
}

export class Batcher<I, O> {
  private window: Waiting<I, O>[] = [];
  private openedAt = 0;
  private cancelIdle: (() => void) | null = null;
  private cancelMax: (() => void) | null = null;
  /** Batches executed, for tests and metrics. */
  batches = 0;

  constructor(private readonly opts: BatcherOptions<I, O>) {}

  add(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      const now = this.opts.clock.nowMs();
      if (this.window.length === 0) {
        this.openedAt = now;
        this.cancelMax = this.opts.clock.after(this.opts.maxMs, () => this.flush());
      }
      this.window.push({ item, resolve, reject });
      this.cancelIdle?.();
      this.cancelIdle = null;
      if (this.window.length >= this.opts.maxItems) {
        this.flush();
        return;
      }
      const left = this.openedAt + this.opts.maxMs - now;
      this.cancelIdle = this.opts.clock.after(Math.min(this.opts.idleMs, left), () => this.flush());
    });
  }

  /** Items waiting for the current window to close. */
  get size(): number {
    return this.window.length;
  }

  /** Closes the current window now. */
  flush(): void {
    this.cancelIdle?.();
    this.cancelMax?.();
    this.cancelIdle = this.cancelMax = null;
    const batch = this.window;
    this.window = [];
    if (batch.length === 0) return;
    this.batches++;
    void this.run(batch);
  }

  private async run(batch: Waiting<I, O>[]): Promise<void> {
    try {
      const out = await this.opts.exec(batch.map((w) => w.item));
      if (out.length !== batch.length) {
        throw new Error(`batch answered ${out.length} results for ${batch.length} items`);
      }
      batch.forEach((w, i) => w.resolve(out[i]!));
    } catch (err) {
      for (const w of batch) w.reject(err);
    }
  }
}
