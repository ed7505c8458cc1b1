import * as core from '@actions/core';
import { runAction } from '../../lib/action.js';

export async function run(): Promise<void> {
  await runAction('hoist/setup-action', async () => {
    core.info('setup-action: placeholder until the actions issue lands');
  });
}
