import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { chmod, mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configPath, findHoistJson, readUserConfig, writeUserConfig } from '../../src/cli/config.js';
import { builderName, createBuilderArgs, distinctEndpoints } from '../../src/cli/buildx.js';
import { parseExpiresIn, parseFlags, renderTable } from '../../src/cli/flags.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hoist-cli-test-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('configPath', () => {
  it.each([
    [{ HOIST_CONFIG: '/x/c.json', XDG_CONFIG_HOME: '/xdg', HOME: '/h' }, '/x/c.json'],
    [{ XDG_CONFIG_HOME: '/xdg', HOME: '/h' }, '/xdg/hoist/config.json'],
    [{ HOME: '/h' }, '/h/.config/hoist/config.json'],
  ])('%j', (env, path) => expect(configPath(env)).toBe(path));
});

describe('user config file', () => {
  it('is written 0600 in a 0700 directory and read back', async () => {
    const path = join(dir, 'cfg', 'hoist', 'config.json');
    await writeUserConfig(path, { api_url: 'http://h', token: 'hoist_adm_x' });
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect((await stat(join(dir, 'cfg', 'hoist'))).mode & 0o777).toBe(0o700);
    expect(await readUserConfig(path)).toEqual({
      state: 'ok',
      path,
      config: { api_url: 'http://h', token: 'hoist_adm_x' },
    });
  });

  it('replaces an existing file and a leftover temp file without loosening the mode', async () => {
    const path = join(dir, 'again', 'config.json');
    await writeUserConfig(path, { api_url: 'http://a', token: 'hoist_adm_a' });
    const leftover = `${path}.${process.pid}.tmp`;
    await writeFile(leftover, 'stale', { mode: 0o644 });
    await chmod(leftover, 0o644);
    await writeUserConfig(path, { api_url: 'http://b', token: 'hoist_adm_b' });
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect(await readUserConfig(path)).toMatchObject({
      config: { api_url: 'http://b', token: 'hoist_adm_b' },
    });
    await expect(stat(leftover)).rejects.toThrow(/ENOENT/);
  });

  it('is refused when others can read it', async () => {
    const path = join(dir, 'loose.json');
    await writeFile(path, '{"token":"t"}', { mode: 0o644 });
    await chmod(path, 0o644);
    const r = await readUserConfig(path);
    expect(r).toMatchObject({ state: 'error' });
    expect(r.state === 'error' && r.problem).toMatch(/mode 644; run "chmod 600/);
  });

  it('reports absent and unparsable files', async () => {
    expect(await readUserConfig(join(dir, 'nope.json'))).toMatchObject({ state: 'absent' });
    const bad = join(dir, 'bad.json');
    await writeFile(bad, '{nope', { mode: 0o600 });
    expect(await readUserConfig(bad)).toMatchObject({
      state: 'error',
      problem: expect.stringMatching(/not valid JSON/),
    });
  });
});

describe('findHoistJson', () => {
  it('walks up to the nearest hoist.json', async () => {
    const root = join(dir, 'repo');
    await mkdir(join(root, 'svc', 'api', 'docker'), { recursive: true });
    await writeFile(join(root, 'hoist.json'), '{"project":"top"}');
    await writeFile(join(root, 'svc', 'hoist.json'), '{"project": " svc "}');
    expect(await findHoistJson(join(root, 'svc', 'api', 'docker'))).toEqual({
      path: join(root, 'svc', 'hoist.json'),
      project: 'svc',
    });
    expect(await findHoistJson(root)).toEqual({ path: join(root, 'hoist.json'), project: 'top' });
  });

  it('reports a hoist.json without a project', async () => {
    const d = join(dir, 'noproj');
    await mkdir(d);
    await writeFile(join(d, 'hoist.json'), '{"name":"x"}');
    expect(await findHoistJson(d)).toMatchObject({ problem: expect.stringMatching(/no "project" string/) });
  });
});

describe('buildx create argv', () => {
  const node = {
    node: 'hoist-b1-0',
    endpoint: 'tcp://127.0.0.1:1234',
    cacert: '/t/ca.pem',
    cert: '/t/cert.pem',
    key: '/t/key.pem',
    serverName: 'builder.hoist',
  };
  it.each([
    [
      'first node',
      { ...node, platform: 'linux/amd64' },
      false,
      [
        'create',
        '--name',
        'hoist-b1',
        '--node',
        'hoist-b1-0',
        '--driver',
        'remote',
        '--driver-opt',
        'cacert=/t/ca.pem,cert=/t/cert.pem,key=/t/key.pem,servername=builder.hoist',
        '--platform',
        'linux/amd64',
        'tcp://127.0.0.1:1234',
      ],
    ],
    [
      'appended node without a platform',
      { ...node, node: 'hoist-b1-1' },
      true,
      [
        'create',
        '--name',
        'hoist-b1',
        '--node',
        'hoist-b1-1',
        '--driver',
        'remote',
        '--driver-opt',
        'cacert=/t/ca.pem,cert=/t/cert.pem,key=/t/key.pem,servername=builder.hoist',
        '--append',
        'tcp://127.0.0.1:1234',
      ],
    ],
  ])('%s', (_n, n, append, expected) => expect(createBuilderArgs('hoist-b1', n, append)).toEqual(expected));

  it.each([
    ['bld_01HX', 'hoist-bld_01HX'],
    ['a/b:c', 'hoist-a-b-c'],
  ])('builder name for %s', (id, name) => expect(builderName(id)).toBe(name));

  it.each([
    [
      'distinct endpoints stay as they are',
      ['tcp://10.0.0.1:1', 'tcp://10.0.0.2:1'],
      ['tcp://10.0.0.1:1', 'tcp://10.0.0.2:1'],
    ],
    [
      'the gateway for every node: leading zeros on the port of each repeat (the same port when dialed)',
      ['tcp://127.0.0.1:9', 'tcp://127.0.0.1:9', 'tcp://127.0.0.1:9'],
      ['tcp://127.0.0.1:9', 'tcp://127.0.0.1:09', 'tcp://127.0.0.1:009'],
    ],
    ['a unix socket is left alone', ['unix:///s', 'unix:///s'], ['unix:///s', 'unix:///s']],
    ['one node', ['tcp://h:1'], ['tcp://h:1']],
    ['IPv6', ['tcp://[::1]:7', 'tcp://[::1]:7'], ['tcp://[::1]:7', 'tcp://[::1]:07']],
  ])('%s', (_n, eps, expected) => expect(distinctEndpoints(eps)).toEqual(expected));
});

describe('parseFlags (admin commands)', () => {
  const spec = { project: 'string', ref: 'list', json: 'bool' } as const;
  it('parses both forms, lists and bools', () => {
    expect(
      parseFlags(
        'c',
        ['--project', 'p', '--ref=refs/heads/main', '--ref', 'refs/tags/*', '--json', 'pos'],
        spec,
      ),
    ).toEqual({
      values: { project: 'p', ref: ['refs/heads/main', 'refs/tags/*'], json: true },
      positionals: ['pos'],
    });
  });
  it.each([
    [['--nope'], /c: unknown flag --nope \(known: --project, --ref, --json\)/],
    [['-x'], /c: unknown flag -x/],
    [['--project'], /c: --project needs a value/],
    [['--json=yes'], /c: --json takes true or false/],
  ])('%j is refused', (argv, re) => expect(() => parseFlags('c', argv, spec)).toThrow(re));
});

describe('renderTable and parseExpiresIn', () => {
  it('aligns columns and shows empty cells as -', () => {
    expect(
      renderTable(
        ['ID', 'NAME'],
        [
          ['1', 'alpha'],
          ['22', null],
        ],
      ),
    ).toBe('ID  NAME\n1   alpha\n22  -\n');
  });
  it.each([
    ['3600', 3600],
    ['90m', 5400],
    ['12h', 43200],
    ['30d', 2592000],
    ['1w', undefined],
    ['', undefined],
  ])('%j → %s', (raw, s) => expect(parseExpiresIn(raw)).toBe(s));
});
