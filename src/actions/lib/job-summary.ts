// The job summary both build actions write, with docker's rules for when there is none.
import * as core from '@actions/core';

/**
 * Writes `render()` to the job summary unless it is disabled (the `summary` input or
 * DOCKER_BUILD_SUMMARY), the step runs a subrequest (`call` other than build), or the runner gave
 * no summary file. A failed write is a warning: the build's result stands.
 */
export async function writeJobSummary(enabled: boolean, call: string, render: () => string): Promise<void> {
  if (!enabled) {
    core.info('Build summary disabled');
    return;
  }
  if (call && call !== 'build') {
    core.info(`Build summary skipped for ${call} subrequest`);
    return;
  }
  if (!process.env.GITHUB_STEP_SUMMARY) {
    core.info('Build summary skipped: GITHUB_STEP_SUMMARY is not set');
    return;
  }
  try {
    await core.summary.addRaw(render(), true).write();
  } catch (err) {
    core.warning(`could not write the job summary: ${String(err)}`);
  }
}
