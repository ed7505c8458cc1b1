// A circuit breaker per pool: repeated throttling or capacity errors, or a queued build that got
// no launch in time, open it; new builds then go to the next pool. After `openMs` one probe
// launch is let through (half-open); its success closes the breaker. Like Karpenter's
// "unavailable offerings", an open pool is skipped for a while instead of retried.

export type BreakerState = 'closed' | 'open' | 'half-open';

export interface BreakerSpec {
  /** Consecutive throttling or capacity errors that open it. */
  failureThreshold: number;
  /** How long it stays open before a probe. */
  openMs: number;
  /** A queued build older than this with no launch answered opens it. */
  launchDeadlineMs: number;
}

export class PoolBreaker {
  private consecutive = 0;
  private openedAt: number | null = null;
  private probing = false;
  /** Why it opened last, for the messages builds get. */
  reason = '';
  opened = 0;

  constructor(readonly spec: BreakerSpec) {}

  state(nowMs: number): BreakerState {
    if (this.openedAt === null) return 'closed';
    return nowMs - this.openedAt >= this.spec.openMs ? 'half-open' : 'open';
  }

  /** May a launch go out now? In half-open, only one probe at a time. */
  allowsLaunch(nowMs: number): boolean {
    const s = this.state(nowMs);
    if (s === 'closed') return true;
    if (s === 'open') return false;
    return !this.probing;
  }

  /** Does this pool take new builds? (Open: no; half-open: yes, it probes with them.) */
  acceptsBuilds(nowMs: number): boolean {
    return this.state(nowMs) !== 'open';
  }

  onLaunchStart(nowMs: number): void {
    if (this.state(nowMs) === 'half-open') this.probing = true;
  }

  onSuccess(): void {
    this.consecutive = 0;
    this.openedAt = null;
    this.probing = false;
  }

  /** A throttling or capacity answer. Other failures do not say the pool is unavailable. */
  onUnavailable(nowMs: number, why: string): void {
    this.probing = false;
    this.consecutive++;
    const s = this.state(nowMs);
    if (s === 'half-open' || (s === 'closed' && this.consecutive >= this.spec.failureThreshold)) {
      this.open(nowMs, why);
    }
  }

  /** The oldest build waiting on this pool has waited `waitedMs` with no launch answered. */
  onOldestWait(waitedMs: number, nowMs: number): void {
    if (this.state(nowMs) === 'closed' && waitedMs >= this.spec.launchDeadlineMs) {
      this.open(nowMs, `no builder launched within ${Math.round(this.spec.launchDeadlineMs / 1000)} s`);
    }
  }

  private open(nowMs: number, why: string): void {
    this.openedAt = nowMs;
    this.probing = false;
    this.reason = why;
    this.opened++;
  }
}

/**
 * Which pool takes a project's new builds: the first whose breaker accepts builds, except that a
 * project that moved off its preferred pool returns only after `dwellMs` there, so it does not
 * flap between caches. Pure: the caller keeps `current` and `since`.
 */
export function choosePool(
  accepting: boolean[],
  current: { index: number; since: number } | undefined,
  nowMs: number,
  dwellMs: number,
): { index: number; since: number } | null {
  const first = accepting.findIndex(Boolean);
  if (first < 0) return null;
  if (!current) return { index: first, since: nowMs };
  if (first === current.index) return current;
  if (first > current.index) return { index: first, since: nowMs };
  // A better pool is back: move up only once the dwell time passed, and only if the current
  // pool is still usable (when it is not, moving is not a choice).
  if (accepting[current.index] && nowMs - current.since < dwellMs) return current;
  return { index: first, since: nowMs };
}
