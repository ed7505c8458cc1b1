// `hoist build --help` with the real buildx of the engine: as `docker buildx` (the plugin in a
// docker config dir), as HOIST_BUILDX, and with no buildx at all.
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { runBake } from '../../src/cli/bake-run.js';
import { runBuild } from '../../src/cli/build-run.js';
import { buildxFlagSections, buildxHelpSection } from '../../src/cli/build-help.js';
import { engineBinaries, makeDockerConfig, type DockerConfig } from '../helpers/engine.js';

let docker: DockerConfig;
beforeAll(async () => {
  docker = await makeDockerConfig();
});
afterAll(async () => {
  await docker?.cleanup();
});

async function help(env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = { stdout: '', stderr: '' };
  const code = await runBuild(['--help'], {
    env: { HOIST_CONFIG: '/nonexistent/hoist.json', ...env },
    cwd: '/',
    stdout: { write: (s: string) => (out.stdout += s) },
    stderr: { write: (s: string) => (out.stderr += s) },
  });
  return { code, ...out };
}

describe('hoist build --help', () => {
  it('appends the flags of docker buildx build (the plugin) after Hoist’s own', async () => {
    const docker_ = engineBinaries().docker;
    const r = await help({ ...docker.env, PATH: path.dirname(docker_), HOME: docker.dir });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Usage: {2}hoist build \[OPTIONS\] PATH \| URL \| -/);
    expect(r.stdout).toContain('--build-platform string');
    expect(r.stdout).toContain('docker buildx build options (from "docker buildx build --help"');
    // Every flag buildx documents, each on its own line, after Hoist's section.
    for (const flag of [
      '--cache-to',
      '--cache-from',
      '--push',
      '--load',
      '--platform',
      '--secret',
      '--tag',
    ]) {
      expect(r.stdout).toMatch(new RegExp(`^ +(-\\w, )?${flag} `, 'm'));
      expect(r.stdout.indexOf(flag)).toBeGreaterThan(r.stdout.indexOf('--wait duration'));
    }
    expect(r.stderr).toBe('');
  });

  it('uses the buildx HOIST_BUILDX names', async () => {
    const bx = engineBinaries().buildx;
    const r = await help({ HOIST_BUILDX: bx, PATH: '' });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`from "${bx} build --help"`);
    expect(r.stdout).toMatch(/^ +--cache-to stringArray /m);
  });

  it('without buildx: Hoist’s flags, and how to install buildx, still exit 0', async () => {
    const r = await help({ PATH: '', HOME: docker.dir });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('--build-platform string');
    expect(r.stdout).toContain('docker buildx build options: not shown, because buildx could not be run');
    expect(r.stdout).toContain('docker: not found');
    expect(r.stdout).toContain('Every "docker buildx build" flag is accepted. Install Docker Buildx');
    expect(r.stdout).not.toContain('--cache-to');
  });

  it('with a HOIST_BUILDX that is not buildx: says what failed', async () => {
    const r = await help({ HOIST_BUILDX: '/bin/false', PATH: '' });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('docker buildx build options: not shown');
    expect(r.stdout).toContain('/bin/false version');
  });
});

describe('hoist bake --help', () => {
  it('appends the flags of buildx bake', async () => {
    const out = { stdout: '', stderr: '' };
    const code = await runBake(['--help'], {
      env: { HOIST_CONFIG: '/nonexistent/hoist.json', HOIST_BUILDX: engineBinaries().buildx, PATH: '' },
      cwd: '/',
      stdout: { write: (s: string) => (out.stdout += s) },
      stderr: { write: (s: string) => (out.stderr += s) },
    });
    expect(code).toBe(0);
    expect(out.stdout).toMatch(/^Usage: {2}hoist bake /);
    expect(out.stdout).toContain(`docker buildx bake options (from "${engineBinaries().buildx} bake --help"`);
    expect(out.stdout).toMatch(/^ +--set stringArray /m);
  });
});

describe('buildxFlagSections', () => {
  it.each([
    [
      'Usage:\n  buildx build\n\nFlags:\n      --push   Push\n\nGlobal Flags:\n      --builder string\n',
      'Flags:\n      --push   Push\n\nGlobal Flags:\n      --builder string',
    ],
    ['Usage:  docker buildx build\n\nOptions:\n      --push   Push\n', 'Options:\n      --push   Push'],
    ['no flag list here\n', undefined],
  ])('%j', (help, expected) => {
    expect(buildxFlagSections(help)).toBe(expected);
  });
  it('an output without a flag list says how to see them', () => {
    expect(buildxHelpSection({ display: 'buildx', help: 'odd' })).toContain(
      '"buildx build --help" printed no flag list',
    );
  });
});
