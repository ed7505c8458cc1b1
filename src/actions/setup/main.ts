import * as core from '@actions/core';
import { runAction } from '../../lib/action.js';
import { isForkPullRequest, readGitHubRun } from '../lib/github.js';
import { exchangeGithubOidc } from '../lib/oidc.js';
import { getInputs } from './inputs.js';
import { setupHoist } from './setup.js';

export async function run(): Promise<void> {
  await runAction('hoist/setup-action', async () => {
    const inputs = getInputs();
    const result = await setupHoist(inputs.version, inputs['api-url']);
    core.setOutput('version', result.version);
    core.setOutput('path', result.binDir);
    core.setOutput('cache-hit', String(result.cacheHit));
    // Later steps (build-push-action, `hoist` in run steps) find the server here.
    core.exportVariable('HOIST_API_URL', inputs['api-url']);

    if (!inputs.oidc) return;
    const run = readGitHubRun();
    if (isForkPullRequest(run.eventName, run.payload)) {
      core.notice(
        'hoist/setup-action: skipped the OIDC exchange: this is a pull request from a fork, and GitHub gives such runs no OIDC token. HOIST_TOKEN is not set.',
      );
      return;
    }
    const answer = await exchangeGithubOidc({
      apiUrl: inputs['api-url'],
      audience: inputs.audience || inputs['api-url'],
      project: inputs.project || undefined,
    });
    core.exportVariable('HOIST_TOKEN', answer.token);
    core.info(
      `Exchanged the GitHub OIDC token for a Hoist token of project ${answer.project_id} (expires ${answer.expires_at})`,
    );
  });
}
