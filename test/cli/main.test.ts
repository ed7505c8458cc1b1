import { describe, expect, it } from '@jest/globals';
import { runBuild } from '../../src/cli/build-run.js';
import { main } from '../../src/cli/main.js';
import { ConfigurationError } from '../../src/lib/errors.js';

function io(env: Record<string, string> = {}) {
  const out = { stdout: '', stderr: '' };
  return {
    out,
    io: {
      env: { PATH: '', HOIST_CONFIG: '/nonexistent/hoist.json', ...env },
      cwd: '/',
      stdout: { write: (s: string) => (out.stdout += s) },
      stderr: { write: (s: string) => (out.stderr += s) },
    },
  };
}

describe('hoist build before any I/O', () => {
  it('prints its help with --help', async () => {
    const t = io();
    expect(await runBuild(['--help'], t.io)).toBe(0);
    expect(t.out.stdout).toMatch(/Usage: {2}hoist build \[OPTIONS\] PATH \| URL \| -/);
    expect(t.out.stdout).toMatch(/--build-platform/);
  });

  it('answers a usage error the way buildx words it, exit 1', async () => {
    const t = io();
    expect(await runBuild(['-t', 'a:1'], t.io)).toBe(1);
    expect(t.out.stderr).toMatch(/requires exactly 1 argument/);
  });

  it('refuses a bad --wait, naming the flag', async () => {
    const t = io({ HOIST_BUILDX: '/nonexistent/buildx' });
    await expect(runBuild(['--wait', 'soon', '.'], t.io)).rejects.toThrow(ConfigurationError);
    await expect(runBuild(['--wait', 'soon', '.'], t.io)).rejects.toThrow(/--wait "soon" is not a duration/);
  });

  it('says where an API URL comes from when there is none', async () => {
    const t = io({ HOIST_BUILDX: '/nonexistent/buildx' });
    await expect(runBuild(['.'], t.io)).rejects.toThrow(
      /no Hoist API URL: pass --api-url, set HOIST_API_URL/,
    );
  });
});

describe('hoist dispatcher', () => {
  it('an unknown command exits 2', async () => {
    expect(await main(['frobnicate'])).toBe(2);
  });
  it('prints the version', async () => {
    expect(await main(['version'])).toBe(0);
  });
  it('an unknown admin subcommand exits 2', async () => {
    expect(await main(['projects', 'explode'])).toBe(2);
  });
  it('a missing admin flag is a configuration error (exit 2)', async () => {
    expect(await main(['tokens', 'list', '--api-url', 'http://127.0.0.1:1', '--token', 't'])).toBe(2);
  });
});

/** Runs main() with process.stderr captured. */
async function mainStderr(argv: string[]): Promise<{ code: number; stderr: string }> {
  const write = process.stderr.write.bind(process.stderr);
  let stderr = '';
  process.stderr.write = ((chunk: string | Uint8Array): boolean => {
    stderr += String(chunk);
    return true;
  }) as typeof process.stderr.write;
  try {
    return { code: await main(argv), stderr };
  } finally {
    process.stderr.write = write;
  }
}

describe('hoist admin command errors', () => {
  it('name the command once, without a doubled "hoist: hoist" prefix', async () => {
    const r = await mainStderr(['tokens', 'create', '--api-url', 'http://127.0.0.1:1', '--token', 't']);
    expect(r).toEqual({
      code: 2,
      stderr: 'hoist tokens create: --project is required (a project id or name), or set HOIST_PROJECT_ID\n',
    });
  });
  it('a group without a subcommand lists the subcommands and the usage', async () => {
    const r = await mainStderr(['projects']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^hoist projects: a subcommand is needed, one of: create, list, show, delete\n/);
    expect(r.stderr).toMatch(/hoist projects list \| show PROJECT \| delete PROJECT/);
  });
  it('a missing id is reported before any API URL or token is looked for', async () => {
    const r = await mainStderr(['builds', 'show']);
    expect(r).toEqual({ code: 2, stderr: 'hoist builds show: expected exactly one build id, got 0\n' });
  });
});
