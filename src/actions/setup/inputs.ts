import * as core from '@actions/core';
import semver from 'semver';
import { ConfigurationError } from '../../lib/errors.js';
import { getBoolInput } from '../lib/input-util.js';

export interface Inputs {
  version: string;
  'api-url': string;
  oidc: boolean;
  project: string;
  audience: string;
}

/** The only function that reads setup-action's inputs. */
export function getInputs(env: Record<string, string | undefined> = process.env): Inputs {
  const version = core.getInput('version') || 'latest';
  if (!isVersionSpec(version)) {
    throw new ConfigurationError(
      `input 'version' must be "latest", an exact version such as 1.2.3, or a semver range such as ^1.2 or 1.x; got "${version}"`,
    );
  }
  const apiUrl = core.getInput('api-url') || env.HOIST_API_URL || '';
  // Name where a bad URL came from: the input, or HOIST_API_URL when the input is empty.
  const source = core.getInput('api-url') ? "input 'api-url'" : 'HOIST_API_URL';
  if (!apiUrl) {
    throw new ConfigurationError(
      "input 'api-url' is empty and HOIST_API_URL is not set: give the URL of your Hoist server, e.g. `api-url: https://hoist.example.com`",
    );
  }
  let url: URL;
  try {
    url = new URL(apiUrl);
  } catch {
    throw new ConfigurationError(
      `${source} must be an http(s) URL such as https://hoist.example.com; got "${apiUrl}"`,
    );
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ConfigurationError(`${source} must be an http or https URL; got "${apiUrl}"`);
  }
  return {
    version,
    'api-url': apiUrl.replace(/\/+$/, ''),
    oidc: getBoolInput('oidc', false),
    project: core.getInput('project'),
    audience: core.getInput('audience'),
  };
}

export function isVersionSpec(spec: string): boolean {
  return spec === 'latest' || semver.valid(spec) !== null || semver.validRange(spec) !== null;
}
