import * as core from '@actions/core';
import { HoistClient } from '../../lib/client.js';
import { ConfigurationError, HoistApiError, errorMessage } from '../../lib/errors.js';
import type { OidcExchangeResponse } from '../../lib/api-types.js';

type Env = Record<string, string | undefined>;

/** The runner injects both variables only into jobs with `permissions: id-token: write`. */
export function idTokenAvailable(env: Env = process.env): boolean {
  return Boolean(env.ACTIONS_ID_TOKEN_REQUEST_URL && env.ACTIONS_ID_TOKEN_REQUEST_TOKEN);
}

export const ID_TOKEN_PERMISSION_HINT =
  'GitHub Actions did not give this job an OIDC ID token (ACTIONS_ID_TOKEN_REQUEST_URL and ACTIONS_ID_TOKEN_REQUEST_TOKEN are not set). ' +
  'Add `permissions: id-token: write` to the workflow or the job (keep `contents: read`), or pass a Hoist token with the `token` input or the HOIST_TOKEN variable.';

/** Fails with the permission to add when the job cannot ask for an ID token. */
export function preflightIdToken(env: Env = process.env): void {
  if (!idTokenAvailable(env)) throw new ConfigurationError(ID_TOKEN_PERMISSION_HINT);
}

export interface ExchangeParams {
  readonly apiUrl: string;
  /** Audience of the ID token; the server's default audience is its public URL. */
  readonly audience: string;
  readonly project?: string;
  readonly attempts?: number;
  readonly retryDelayMs?: number;
}

/**
 * Gets the job's ID token (retrying transient failures of the runtime's token
 * service) and exchanges it at the Hoist server for a short-lived project
 * token. Both tokens are masked before anything else sees them.
 */
export async function exchangeGithubOidc(params: ExchangeParams): Promise<OidcExchangeResponse> {
  preflightIdToken();
  const idToken = await getIdTokenWithRetries(
    params.audience,
    params.attempts ?? 3,
    params.retryDelayMs ?? 1000,
  );
  const client = new HoistClient({ apiUrl: params.apiUrl, userAgent: 'hoist-actions' });
  let answer: OidcExchangeResponse;
  try {
    answer = await client.exchangeGithubOidc({
      token: idToken,
      ...(params.project ? { project: params.project } : {}),
    });
  } catch (err) {
    // Status 0 is "cannot reach the server", which already says where and what to check.
    if (err instanceof HoistApiError && err.status !== 0) {
      throw new HoistApiError(
        err.status,
        err.code,
        `the Hoist server at ${client.apiUrl} refused the GitHub OIDC exchange: ${err.message}`,
      );
    }
    throw err;
  }
  if (!answer || typeof answer.token !== 'string' || !answer.token) {
    throw new HoistApiError(
      0,
      'bad_answer',
      `the Hoist server at ${client.apiUrl} answered the OIDC exchange without a token`,
    );
  }
  core.setSecret(answer.token);
  return answer;
}

export async function getIdTokenWithRetries(
  audience: string,
  attempts: number,
  delayMs: number,
): Promise<string> {
  let last: unknown;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    try {
      const token = await core.getIDToken(audience);
      core.setSecret(token);
      return token;
    } catch (err) {
      last = err;
      if (attempt < attempts) {
        core.debug(
          `getting the GitHub ID token failed (attempt ${attempt}/${attempts}): ${errorMessage(err)}`,
        );
        await new Promise((r) => setTimeout(r, delayMs * attempt));
      }
    }
  }
  throw new Error(
    `could not get a GitHub OIDC ID token for audience "${audience}" after ${attempts} attempts: ${errorMessage(last).replace(/\s+/g, ' ').trim()}`,
  );
}
