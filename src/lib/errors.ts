/** A mistake the user can fix (a wrong input, flag or setting), as opposed to a bug. */
export class ConfigurationError extends Error {
  override name = 'ConfigurationError';
}

/** An error answer from the Hoist API: `{error: {code, message}}` with its HTTP status. */
export class HoistApiError extends Error {
  override name = 'HoistApiError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** From a Retry-After header in seconds (a 429 or 503), when the server sent one. */
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

/** The message of anything thrown, without a stack. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
