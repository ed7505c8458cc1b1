import * as core from '@actions/core';
import { runAction } from '../../lib/action.js';

export async function run(): Promise<void> {
  await runAction('hoist/build-push-action', async () => {
    core.info('build-push-action: placeholder until the actions issue lands');
  });
}
