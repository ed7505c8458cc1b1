// `k8s.sh install` makes temp dirs while it builds; a step that fails (die, set -e) or is
// killed must not leave them behind. A fake `go` on PATH makes the first step that takes a temp
// dir (install bin) fail or hang, with an empty cache so nothing is skipped; nothing is
// downloaded or built.
import { spawn } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const SCRIPT = join(process.cwd(), 'test/engine/k8s.sh');

let root: string;
let tmp: string;

async function leftInTmp(): Promise<string[]> {
  return (await readdir('/tmp')).filter((n) => n.startsWith('hoist-k8s-build.'));
}

/** Runs `k8s.sh install bin` with `go` replaced by `goScript`; resolves with the exit status. */
function installBin(
  goScript: string,
  whileRunning?: (pid: number) => Promise<void>,
): Promise<{ code: number | null; stderr: string }> {
  return (async () => {
    const bin = join(root, 'fakebin');
    await mkdir(bin, { recursive: true });
    await writeFile(join(bin, 'go'), `#!/bin/sh\n${goScript}\n`);
    await chmod(join(bin, 'go'), 0o755);
    const child = spawn('bash', [SCRIPT, 'install', 'bin'], {
      cwd: root,
      detached: true,
      stdio: ['ignore', 'ignore', 'pipe'],
      env: {
        ...process.env,
        PATH: `${bin}:${process.env.PATH}`,
        HOIST_ENGINE_CACHE: join(root, 'cache'),
        TMPDIR: tmp,
      },
    });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
    if (whileRunning) await whileRunning(child.pid!);
    return { code: await exited, stderr };
  })();
}

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'hoist-k8s-install-test-'));
  tmp = join(root, 'tmp');
  await mkdir(tmp);
});

afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

test.each([
  // `go mod download` fails: set -e ends the script
  ['set -e', 'echo "go: module lookup disabled" >&2; exit 1', /building kubernetes/],
  // it answers without the module's go.mod: the step calls die
  ['die', 'printf \'\t"GoMod": "/nonexistent/go.mod",\n\'', /could not download k8s\.io\/kubernetes/],
])('a step that fails (%s) removes its temp dir', async (_how, goScript, message) => {
  const before = await leftInTmp();
  const r = await installBin(goScript);
  expect(r.code).toBe(1);
  expect(r.stderr).toMatch(/building kubernetes .* in .*hoist-k8s-build\./);
  expect(r.stderr).toMatch(message);
  expect(await readdir(tmp)).toEqual([]);
  expect((await leftInTmp()).filter((n) => !before.includes(n))).toEqual([]);
});

test('a killed install removes its temp dir', async () => {
  const before = await leftInTmp();
  const r = await installBin('sleep 30', async (pid) => {
    // wait until the step has its temp dir, then stop the whole run as Ctrl-C or a CI timeout would
    const deadline = Date.now() + 20_000;
    while ((await readdir(tmp)).length === 0 && Date.now() < deadline) {
      await new Promise((res) => setTimeout(res, 50));
    }
    expect(await readdir(tmp)).toHaveLength(1);
    process.kill(-pid, 'SIGTERM');
  });
  expect(r.code).not.toBe(0);
  expect(await readdir(tmp)).toEqual([]);
  expect((await leftInTmp()).filter((n) => !before.includes(n))).toEqual([]);
}, 30_000);
