// Real GitHub webhook payloads (from @octokit/webhooks-examples), moved to the repository the
// local OIDC issuer signs for, for the end-to-end action tests.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const examples = require('@octokit/webhooks-examples/api.github.com/index.json') as {
  name: string;
  examples: Record<string, unknown>[];
}[];

/** The repository every payload is moved to. */
export const REPO = 'octo-org/octo-repo';

/** A real push payload to refs/heads/master of a private REPO. */
export function pushPayload(): Record<string, unknown> {
  const p = structuredClone(
    examples.find((g) => g.name === 'push')!.examples.find((e) => e.ref === 'refs/heads/master')!,
  );
  (p.repository as Record<string, unknown>).full_name = REPO;
  (p.repository as Record<string, unknown>).private = true;
  return p;
}

/** A real pull_request payload whose head is a fork (the `forkee` of the real fork event). */
export function forkPullRequestPayload(): Record<string, unknown> {
  const p = structuredClone(
    examples.find((g) => g.name === 'pull_request')!.examples.find((e) => e.action === 'opened')!,
  );
  const forkee = structuredClone(examples.find((g) => g.name === 'fork')!.examples[0]!.forkee);
  (p.repository as Record<string, unknown>).full_name = REPO;
  const pr = p.pull_request as { head: { repo: unknown }; base: { repo: { full_name: string } } };
  pr.base.repo.full_name = REPO;
  pr.head.repo = forkee;
  return p;
}
