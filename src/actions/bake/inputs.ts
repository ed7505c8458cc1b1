import * as core from '@actions/core';
import { getBoolInput, getListInput } from '../lib/input-util.js';
import {
  getBuildPlatformInput,
  getFallbackInput,
  getUrlInput,
  type FallbackMode,
} from '../build-push/inputs.js';

/**
 * Every input of the action, keyed by its name in action.yml. The first block is
 * docker/bake-action's, with its list rules; the second is Hoist's. `source` and `provenance`
 * are kept as written: the plan resolves `{{defaultContext}}` and the provenance builder-id.
 */
export interface Inputs {
  builder: string;
  allow: string[];
  call: string;
  files: string[];
  'no-cache': boolean;
  pull: boolean;
  load: boolean;
  provenance: string;
  push: boolean;
  sbom: string;
  set: string[];
  source: string;
  targets: string[];
  vars: string[];
  'github-token': string;
  // Hoist's own inputs.
  project: string;
  token: string;
  'api-url': string;
  'build-platform': string;
  fallback: FallbackMode;
  audience: string;
  summary: boolean;
}

/** The only function that reads the action's inputs (INPUT_* variables). */
export function getInputs(): Inputs {
  return {
    builder: core.getInput('builder'),
    allow: getListInput('allow'),
    call: core.getInput('call'),
    files: getListInput('files'),
    'no-cache': getBoolInput('no-cache', false),
    pull: getBoolInput('pull', false),
    load: getBoolInput('load', false),
    provenance: core.getInput('provenance'),
    push: getBoolInput('push', false),
    sbom: core.getInput('sbom'),
    // overrides and variables keep their quotes: `*.output=type=image,"name=a,b"` reaches buildx as written
    set: getListInput('set', { ignoreComma: true, quote: false }),
    source: core.getInput('source'),
    targets: getListInput('targets'),
    vars: getListInput('vars', { ignoreComma: true, quote: false }),
    'github-token': core.getInput('github-token'),
    project: core.getInput('project'),
    token: core.getInput('token'),
    'api-url': getUrlInput('api-url'),
    'build-platform': getBuildPlatformInput(),
    fallback: getFallbackInput(),
    audience: core.getInput('audience'),
    summary: getBoolInput('summary', true),
  };
}
