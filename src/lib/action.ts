import * as core from '@actions/core';
import { ConfigurationError, HoistApiError, errorMessage } from './errors.js';

/**
 * Runs an action's main or post step. A failure in main fails the step with
 * "<action>: <message>"; a post step only warns, never fails.
 */
export async function runAction(
  action: string,
  main: () => Promise<void>,
  post?: () => Promise<void>,
): Promise<void> {
  const isPost = core.getState('isPost') === 'true';
  if (!isPost) core.saveState('isPost', 'true');
  try {
    if (isPost) {
      if (post) await post();
    } else {
      await main();
    }
  } catch (err) {
    const msg = errorMessage(err);
    if (isPost) {
      core.warning(`${action} (post): ${msg}`);
      return;
    }
    if (
      !(err instanceof ConfigurationError) &&
      !(err instanceof HoistApiError) &&
      err instanceof Error &&
      err.stack
    ) {
      core.debug(err.stack);
    }
    core.setFailed(`${action}: ${msg}`);
  }
}
