// Every timer and sleep of the provisioning layer goes through this clock, so a test replays an
// hour of launches, throttling and backoff in a few seconds of wall time (k8s.io/utils/clock).

export interface ProvisioningClock {
  now(): Date;
  nowMs(): number;
  /** Runs `fn` after `ms`; returns a function that cancels it. */
  after(ms: number, fn: () => void): () => void;
  sleep(ms: number): Promise<void>;
}

export const systemProvisioningClock: ProvisioningClock = {
  now: () => new Date(),
  nowMs: () => Date.now(),
  after(ms, fn) {
    const t = setTimeout(fn, Math.max(0, ms));
    t.unref();
    return () => clearTimeout(t);
  },
  sleep: (ms) => new Promise((r) => setTimeout(r, Math.max(0, ms)).unref()),
};

interface Timer {
  at: number;
  seq: number;
  fn: () => void;
  canceled: boolean;
}

/** Lets every promise continuation queued so far run (one macrotask turn). */
export function settle(): Promise<void> {
  return new Promise((r) => setImmediate(r));
}

function before(a: Timer, b: Timer): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}

/** A binary min-heap of timers by (at, seq): replays fire hundreds of thousands of them. */
class TimerHeap {
  private readonly h: Timer[] = [];

  get size(): number {
    return this.h.length;
  }

  peek(): Timer | undefined {
    return this.h[0];
  }

  push(t: Timer): void {
    const h = this.h;
    h.push(t);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!before(h[i]!, h[p]!)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
  }

  pop(): Timer | undefined {
    const h = this.h;
    const top = h[0];
    const last = h.pop();
    if (h.length > 0 && last) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && before(h[l]!, h[m]!)) m = l;
        if (r < h.length && before(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m]!, h[i]!];
        i = m;
      }
    }
    return top;
  }
}

/**
 * A clock that only moves when told. `advance` fires due timers in time order and lets the
 * promise chains they start run before moving on, so async code behaves as it would in real time.
 */
export class FakeClock implements ProvisioningClock {
  private ms: number;
  private seq = 0;
  private readonly timers = new TimerHeap();
  private live = 0;

  constructor(start: number | Date = Date.UTC(2026, 0, 1)) {
    this.ms = typeof start === 'number' ? start : start.getTime();
  }

  now(): Date {
    return new Date(this.ms);
  }

  nowMs(): number {
    return this.ms;
  }

  after(ms: number, fn: () => void): () => void {
    const t: Timer = { at: this.ms + Math.max(0, ms), seq: this.seq++, fn, canceled: false };
    this.timers.push(t);
    this.live++;
    return () => {
      if (!t.canceled) {
        t.canceled = true;
        this.live--;
      }
    };
  }

  sleep(ms: number): Promise<void> {
    return new Promise((r) => this.after(ms, r));
  }

  /** Timers not fired yet. */
  get pending(): number {
    return this.live;
  }

  async advance(ms: number): Promise<void> {
    const target = this.ms + ms;
    await settle();
    for (;;) {
      const next = this.timers.peek();
      if (!next || next.at > target) break;
      // Every timer due at this instant fires, then the promise chains they started run.
      const at = next.at;
      this.ms = Math.max(this.ms, at);
      while (this.timers.peek()?.at === at) {
        const t = this.timers.pop()!;
        if (t.canceled) continue;
        t.canceled = true;
        this.live--;
        t.fn();
      }
      await settle();
    }
    this.ms = target;
    await settle();
  }

  /** Advances in steps of `stepMs` until `done()` holds or `maxMs` passed; returns the time spent. */
  async runUntil(done: () => boolean, maxMs: number, stepMs = 100): Promise<number> {
    const start = this.ms;
    while (!done() && this.ms - start < maxMs) await this.advance(stepMs);
    return this.ms - start;
  }
}

/** The server's clock (which tests may set) for "now", with real timers. */
export function serverClock(clock: { now(): Date }): ProvisioningClock {
  return {
    now: () => clock.now(),
    nowMs: () => clock.now().getTime(),
    after: systemProvisioningClock.after,
    sleep: systemProvisioningClock.sleep,
  };
}
