import { ID_TOKEN_PERMISSION_HINT } from '../lib/oidc.js';
import type { FallbackMode } from './inputs.js';

export type CredentialSource = 'input' | 'env' | 'oidc';

export type Route =
  | { kind: 'hoist'; source: CredentialSource }
  | { kind: 'fallback'; reason: string }
  | { kind: 'fail'; message: string };

export interface RouteFacts {
  tokenInput: string;
  envToken: string;
  isFork: boolean;
  idTokenAvailable: boolean;
  fallback: FallbackMode;
}

export const FORK_REASON =
  'this is a pull request from a fork, and GitHub gives such runs neither secrets nor an OIDC token, so no Hoist credential can exist';

export const NO_CREDENTIAL_REASON =
  'no Hoist credential: the `token` input and HOIST_TOKEN are empty and the job has no OIDC ID token. Add `permissions: id-token: write` to the workflow or job to build on Hoist';

/**
 * Where the build runs. Credentials in order: the `token` input, HOIST_TOKEN,
 * then the OIDC exchange. Only when none can exist (a fork pull request, or no
 * token and no ID-token permission) does it fall back to buildx on the runner,
 * and `fallback: never` turns that into a failure. A build error never gets
 * here: it fails the step.
 */
export function decideRoute(f: RouteFacts): Route {
  if (f.tokenInput) return { kind: 'hoist', source: 'input' };
  if (f.envToken) return { kind: 'hoist', source: 'env' };
  if (f.isFork) {
    return f.fallback === 'auto'
      ? { kind: 'fallback', reason: FORK_REASON }
      : {
          kind: 'fail',
          message: `${FORK_REASON}; with \`fallback: never\` the step fails. Set \`fallback: auto\` to build fork pull requests with docker buildx on the runner.`,
        };
  }
  if (f.idTokenAvailable) return { kind: 'hoist', source: 'oidc' };
  return f.fallback === 'auto'
    ? { kind: 'fallback', reason: NO_CREDENTIAL_REASON }
    : { kind: 'fail', message: `no Hoist credential and \`fallback: never\`: ${ID_TOKEN_PERMISSION_HINT}` };
}
