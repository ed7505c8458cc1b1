import * as core from '@actions/core';
import { ConfigurationError } from '../../lib/errors.js';
import { getBoolInput, getListInput } from '../lib/input-util.js';
import { parseFallbackCacheRef } from './fallback-cache.js';

export type FallbackMode = 'auto' | 'never';

/**
 * Every input of the action, keyed by its name in action.yml. The first block
 * is docker/build-push-action's, with its list rules; the second is Hoist's.
 * `context` and `provenance` are kept as written: `getArgs` resolves
 * `{{defaultContext}}` and the provenance `builder-id`.
 */
export interface Inputs {
  'add-hosts': string[];
  allow: string[];
  annotations: string[];
  attests: string[];
  'build-args': string[];
  'build-contexts': string[];
  builder: string;
  'cache-from': string[];
  'cache-to': string[];
  call: string;
  'cgroup-parent': string;
  context: string;
  file: string;
  labels: string[];
  load: boolean;
  network: string;
  'no-cache': boolean;
  'no-cache-filters': string[];
  outputs: string[];
  platforms: string[];
  provenance: string;
  pull: boolean;
  push: boolean;
  sbom: string;
  secrets: string[];
  'secret-envs': string[];
  'secret-files': string[];
  'shm-size': string;
  ssh: string[];
  tags: string[];
  target: string;
  ulimit: string[];
  'github-token': string;
  // Hoist's own inputs.
  project: string;
  token: string;
  'api-url': string;
  'build-platform': string;
  fallback: FallbackMode;
  /** Registry repository for the fallback build's branch cache; '' = off. */
  'fallback-cache': string;
  audience: string;
  summary: boolean;
}

/** The only function that reads the action's inputs (INPUT_* variables). */
export function getInputs(): Inputs {
  return {
    'add-hosts': getListInput('add-hosts'),
    allow: getListInput('allow'),
    annotations: getListInput('annotations', { ignoreComma: true }),
    attests: getListInput('attests', { ignoreComma: true }),
    'build-args': getListInput('build-args', { ignoreComma: true }),
    'build-contexts': getListInput('build-contexts', { ignoreComma: true }),
    builder: core.getInput('builder'),
    'cache-from': getListInput('cache-from', { ignoreComma: true }),
    'cache-to': getListInput('cache-to', { ignoreComma: true }),
    call: core.getInput('call'),
    'cgroup-parent': core.getInput('cgroup-parent'),
    context: core.getInput('context'),
    file: core.getInput('file'),
    labels: getListInput('labels', { ignoreComma: true }),
    load: getBoolInput('load', false),
    network: core.getInput('network'),
    'no-cache': getBoolInput('no-cache', false),
    'no-cache-filters': getListInput('no-cache-filters'),
    outputs: getListInput('outputs', { ignoreComma: true, quote: false }),
    platforms: getListInput('platforms'),
    provenance: core.getInput('provenance'),
    pull: getBoolInput('pull', false),
    push: getBoolInput('push', false),
    sbom: core.getInput('sbom'),
    secrets: getListInput('secrets', { ignoreComma: true, trimWhitespace: false }),
    'secret-envs': getListInput('secret-envs'),
    'secret-files': getListInput('secret-files', { ignoreComma: true }),
    'shm-size': core.getInput('shm-size'),
    ssh: getListInput('ssh'),
    tags: getListInput('tags'),
    target: core.getInput('target'),
    ulimit: getListInput('ulimit', { ignoreComma: true }),
    'github-token': core.getInput('github-token'),
    project: core.getInput('project'),
    token: core.getInput('token'),
    'api-url': getUrlInput('api-url'),
    'build-platform': getBuildPlatformInput(),
    fallback: getFallbackInput(),
    'fallback-cache': parseFallbackCacheRef(core.getInput('fallback-cache')),
    audience: core.getInput('audience'),
    summary: getBoolInput('summary', true),
  };
}

export function getFallbackInput(): FallbackMode {
  const raw = core.getInput('fallback') || 'auto';
  if (raw === 'auto' || raw === 'never') return raw;
  throw new ConfigurationError(
    `input 'fallback' must be "auto" (build with docker buildx on the runner when Hoist cannot be reached: fork pull requests, no credential) or "never" (fail instead); got "${raw}"`,
  );
}

export function getUrlInput(name: string): string {
  const raw = core.getInput(name);
  if (!raw) return '';
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigurationError(
      `input '${name}' must be the http(s) URL of the Hoist server, e.g. https://hoist.example.com; got "${raw}"`,
    );
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ConfigurationError(`input '${name}' must be an http or https URL; got "${raw}"`);
  }
  return raw.replace(/\/+$/, '');
}

export function getBuildPlatformInput(): string {
  const raw = core.getInput('build-platform');
  if (raw && !/^[a-z0-9_-]+\/[a-z0-9_-]+(\/[a-z0-9_.-]+)?$/.test(raw)) {
    throw new ConfigurationError(
      `input 'build-platform' must be one platform in os/arch[/variant] form, e.g. linux/amd64 or linux/arm64; got "${raw}"`,
    );
  }
  return raw;
}
