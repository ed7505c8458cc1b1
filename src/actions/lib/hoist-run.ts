// What an action needs around a build on Hoist or on the runner: the server and the token (in
// the credential order of route.ts, with the OIDC exchange), the hoist CLI, and buildx.
import * as core from '@actions/core';
import * as io from '@actions/io';
import { ConfigurationError } from '../../lib/errors.js';
import type { CredentialSource } from '../build-push/route.js';
import { setupHoist } from '../setup/setup.js';
import { exchangeGithubOidc } from './oidc.js';

export interface HoistConnection {
  apiUrl: string;
  /** Masked; handed to the CLI in HOIST_TOKEN, never on its command line. */
  token: string;
  /** The project to name in messages: the input, else the one the OIDC exchange chose. */
  project: string;
}

export interface ConnectParams {
  readonly source: CredentialSource;
  readonly tokenInput: string;
  readonly envToken: string;
  readonly apiUrlInput: string;
  readonly audience: string;
  readonly project: string;
}

/** The server URL and the token of the chosen credential, exchanging the job's OIDC token if that is it. */
export async function connectHoist(p: ConnectParams): Promise<HoistConnection> {
  const apiUrl = p.apiUrlInput || (process.env.HOIST_API_URL ?? '').replace(/\/+$/, '');
  if (!apiUrl) {
    throw new ConfigurationError(
      "no Hoist server: set the 'api-url' input (e.g. `api-url: https://hoist.example.com`) or HOIST_API_URL, or run hoist/setup-action first",
    );
  }
  if (p.source !== 'oidc') {
    return { apiUrl, token: p.source === 'input' ? p.tokenInput : p.envToken, project: p.project };
  }
  const answer = await exchangeGithubOidc({
    apiUrl,
    audience: p.audience || apiUrl,
    project: p.project || undefined,
  });
  core.info(`Exchanged the GitHub OIDC token for a Hoist token of project ${answer.project_id}`);
  return { apiUrl, token: answer.token, project: p.project || answer.project_id };
}

/** Puts the hoist CLI on the PATH when no step did (hoist/setup-action pins a version). */
export async function ensureHoistCli(action: string, apiUrl: string): Promise<void> {
  if (await io.which('hoist', false)) return;
  const installed = await setupHoist('latest', apiUrl);
  core.notice(
    `${action}: the hoist CLI was not on the PATH, so hoist ${installed.version} was installed from ${apiUrl}${installed.cacheHit ? ' (tool cache)' : ''}. Add hoist/setup-action before this step to pin a version.`,
  );
}

/** `docker buildx …`, or a standalone `buildx` when there is no docker CLI, as docker's toolkit does. */
export async function buildxCommand(args: string[]): Promise<{ command: string; args: string[] }> {
  if (await io.which('docker', false)) return { command: 'docker', args: ['buildx', ...args] };
  if (await io.which('buildx', false)) return { command: 'buildx', args };
  throw new ConfigurationError(
    'docker buildx is required and was not found: see https://github.com/docker/setup-buildx-action to set it up',
  );
}
