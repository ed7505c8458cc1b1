import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { getInputs } from '../../src/actions/build-push/inputs.js';
import { actionDefaults, REPO_ROOT } from './runner.js';
import { setInputs } from './env.js';

afterAll(() => setInputs({}));

function section(file: string, name: 'inputs' | 'outputs'): string[] {
  const text = fs.readFileSync(path.join(REPO_ROOT, file), 'utf8');
  const start = text.indexOf(`\n${name}:\n`);
  const rest = text.slice(start + name.length + 3);
  const end = rest.search(/\n\S/);
  return [...rest.slice(0, end).matchAll(/^ {2}([a-z0-9-]+):/gm)].map((m) => m[1] as string);
}

// docker/build-push-action's action.yml (inputs and their defaults).
const DOCKER_INPUTS = [
  'add-hosts',
  'allow',
  'annotations',
  'attests',
  'build-args',
  'build-contexts',
  'builder',
  'cache-from',
  'cache-to',
  'call',
  'cgroup-parent',
  'context',
  'file',
  'labels',
  'load',
  'network',
  'no-cache',
  'no-cache-filters',
  'outputs',
  'platforms',
  'provenance',
  'pull',
  'push',
  'sbom',
  'secrets',
  'secret-envs',
  'secret-files',
  'shm-size',
  'ssh',
  'tags',
  'target',
  'ulimit',
  'github-token',
];
const DOCKER_DEFAULTS = {
  load: 'false',
  'no-cache': 'false',
  pull: 'false',
  push: 'false',
  'github-token': 'GH',
};

describe('action.yml files', () => {
  it('the root action.yml and build-push-action/action.yml declare the same inputs, outputs and defaults', () => {
    expect(section('action.yml', 'inputs')).toEqual(section('build-push-action/action.yml', 'inputs'));
    expect(section('action.yml', 'outputs')).toEqual(section('build-push-action/action.yml', 'outputs'));
    expect(actionDefaults(path.join(REPO_ROOT, 'action.yml'), 'GH')).toEqual(
      actionDefaults(path.join(REPO_ROOT, 'build-push-action/action.yml'), 'GH'),
    );
  });

  it('has every docker/build-push-action input with docker’s default', () => {
    const inputs = section('action.yml', 'inputs');
    for (const name of DOCKER_INPUTS) expect(inputs).toContain(name);
    const defaults = actionDefaults(path.join(REPO_ROOT, 'action.yml'), 'GH');
    for (const [k, v] of Object.entries(DOCKER_DEFAULTS)) expect(defaults[k]).toBe(v);
    for (const name of DOCKER_INPUTS.filter((n) => !(n in DOCKER_DEFAULTS)))
      expect(defaults[name]).toBeUndefined();
  });

  it('declares exactly the inputs getInputs reads', () => {
    setInputs(actionDefaults(path.join(REPO_ROOT, 'action.yml'), 'GH'));
    expect(Object.keys(getInputs()).sort()).toEqual(section('action.yml', 'inputs').sort());
  });

  it('declares docker’s outputs plus Hoist’s', () => {
    expect(section('action.yml', 'outputs')).toEqual([
      'imageid',
      'digest',
      'metadata',
      'build-id',
      'build-url',
      'builder',
    ]);
    expect(section('setup-action/action.yml', 'outputs')).toEqual(['version', 'path', 'cache-hit']);
    expect(section('setup-action/action.yml', 'inputs')).toEqual([
      'version',
      'api-url',
      'oidc',
      'project',
      'audience',
    ]);
  });

  it('points node24 entries into dist', () => {
    const root = fs.readFileSync(path.join(REPO_ROOT, 'action.yml'), 'utf8');
    expect(root).toMatch(
      /using: 'node24'\n {2}main: 'dist\/build-push\/index\.js'\n {2}post: 'dist\/build-push\/index\.js'/,
    );
    const setup = fs.readFileSync(path.join(REPO_ROOT, 'setup-action/action.yml'), 'utf8');
    expect(setup).toMatch(/main: '\.\.\/dist\/setup\/index\.js'/);
  });
});
