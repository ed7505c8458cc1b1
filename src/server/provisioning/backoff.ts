// Backoff with full jitter and a retry-token budget, in one place (the AWS SDK's standard
// retryer): a retry costs tokens, a throttled retry costs more, a success gives one back, so a
// fleet that keeps failing stops retrying instead of spending the provider's quota for everyone.

export interface BackoffSpec {
  baseMs: number;
  capMs: number;
}

/** Full jitter: a random wait in [0, min(cap, base * 2^attempt)). `attempt` counts from 0. */
export function fullJitter(attempt: number, spec: BackoffSpec, random: () => number = Math.random): number {
  const ceiling = Math.min(spec.capMs, spec.baseMs * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * ceiling);
}

export interface RetryBudgetSpec {
  capacity: number;
  retryCost: number;
  throttledRetryCost: number;
  successRefund: number;
}

export const AWS_RETRY_BUDGET: RetryBudgetSpec = {
  capacity: 500,
  retryCost: 5,
  throttledRetryCost: 10,
  successRefund: 1,
};

export class RetryBudget {
  private tokens: number;

  constructor(readonly spec: RetryBudgetSpec = AWS_RETRY_BUDGET) {
    this.tokens = spec.capacity;
  }

  get available(): number {
    return this.tokens;
  }

  /** Pays for one retry; false (nothing paid) when the budget cannot afford it. */
  tryRetry(throttled: boolean): boolean {
    const cost = throttled ? this.spec.throttledRetryCost : this.spec.retryCost;
    if (this.tokens < cost) return false;
    this.tokens -= cost;
    return true;
  }

  onSuccess(): void {
    this.tokens = Math.min(this.spec.capacity, this.tokens + this.spec.successRefund);
  }
}
