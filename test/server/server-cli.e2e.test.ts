// The bundled CLI as an operator runs it: `node dist/cli/index.js server init|...`, a child
// process per server, a GitHub-like issuer whose runtime endpoint @actions/core's getIDToken
// calls for real, and a restart between two uses of one ID token.
import { execFile, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as core from '@actions/core';
import { HoistApiError } from '../../src/lib/errors.js';
import { HoistClient } from '../../src/lib/client.js';
import { startOidcIssuer, type OidcIssuer } from '../helpers/oidc-issuer.js';
import { startPostgres } from '../helpers/postgres.js';
import { CLI_BUNDLE, REPO_ROOT, freePort, startTestServer, type TestServer } from '../helpers/server.js';

const run = promisify(execFile);

async function hoist(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI_BUNDLE, ...args], {
      env: { ...process.env, ...env },
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/**
 * Runs core.getIDToken with process.stdout captured: it prints `::debug::` lines and
 * `::add-mask::<the ID token>`, and no token text may reach the test output (a CI log).
 */
async function getIDTokenQuietly(audience: string): Promise<{ token: string; printed: string }> {
  const write = process.stdout.write.bind(process.stdout);
  let printed = '';
  process.stdout.write = ((chunk: string | Uint8Array, ...rest: unknown[]): boolean => {
    printed += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    const done = rest.find((r): r is () => void => typeof r === 'function');
    done?.();
    return true;
  }) as typeof process.stdout.write;
  try {
    return { token: await core.getIDToken(audience), printed };
  } finally {
    process.stdout.write = write;
  }
}

beforeAll(() => {
  if (!existsSync(CLI_BUNDLE))
    execFileSync(process.execPath, ['.ci/build.mjs', 'cli'], { cwd: REPO_ROOT, stdio: 'inherit' });
}, 180_000);

describe('hoist server (bundled CLI)', () => {
  it('init prints a new admin token as the last stdout line', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hoist-init-'));
    try {
      const first = await hoist(['server', 'init', '--data-dir', dir]);
      expect(first.code).toBe(0);
      const lines = first.stdout.trim().split('\n');
      expect(lines.length).toBeGreaterThan(1);
      expect(lines.at(-1)).toMatch(/^hoist_adm_[A-Za-z0-9_-]{43}$/);
      const second = await hoist(['server', 'init'], { HOIST_DATA_DIR: dir });
      expect(second.stdout).toMatch(/1 other admin token\(s\) exist/);
      expect(second.stdout.trim().split('\n').at(-1)).not.toBe(lines.at(-1));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('explains bad flags and a missing data dir, with exit code 2', async () => {
    const bad = await hoist(['server', '--bogus', 'x'], { HOIST_DATA_DIR: '' });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/Unknown option '--bogus'/);
    expect(bad.stderr).toMatch(/Usage: hoist server/);
    const noDir = await hoist(['server', '--listen', '127.0.0.1:0'], { HOIST_DATA_DIR: '' });
    expect(noDir.code).toBe(2);
    expect(noDir.stderr).toBe(
      'hoist server: the data directory is not set: pass --data-dir DIR or set HOIST_DATA_DIR\n',
    );
    const badListen = await hoist(['server', '--listen', 'localhost', '--data-dir', '/tmp/x']);
    expect(badListen.stderr).toMatch(/--listen must be HOST:PORT/);
    const help = await hoist(['server', '--help']);
    expect([help.code, help.stdout]).toEqual([
      0,
      expect.stringMatching(/--oidc-audience VALUE .*\[HOIST_OIDC_AUDIENCE\]/),
    ]);
  });
});

describe('configuration from HOIST_* variables only', () => {
  it('starts from the environment and reports what it uses', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hoist-env-'));
    const port = await freePort();
    const env = {
      ...process.env,
      HOIST_LISTEN: `127.0.0.1:${port}`,
      HOIST_DATA_DIR: dir,
      HOIST_PUBLIC_URL: 'https://hoist.example.com/',
      HOIST_OIDC_ISSUER: 'https://ghes.example.com/_services/token',
      HOIST_OIDC_AUDIENCE: 'hoist-prod',
      HOIST_LOG_LEVEL: 'info',
    };
    const child = spawn(process.execPath, [CLI_BUNDLE, 'server'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    try {
      for (let i = 0; !out.includes('hoist server listening'); i++) {
        if (i > 200 || child.exitCode !== null) throw new Error(`server did not start:\n${out}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      const line = out.split('\n').find((l) => l.includes('hoist server listening'))!;
      expect(JSON.parse(line)).toMatchObject({
        public_url: 'https://hoist.example.com',
        oidc_issuer: 'https://ghes.example.com/_services/token',
        oidc_audience: 'hoist-prod',
      });
      const health = await fetch(`http://127.0.0.1:${port}/healthz`);
      expect(await health.json()).toEqual({
        status: 'ok',
        database: 'sqlite',
        // One process on SQLite is always the leader.
        cluster: expect.objectContaining({ mode: 'single', leader: true }) as unknown,
      });
      // Bad query parameters get a clear 400 here too.
      const rel = await fetch(`http://127.0.0.1:${port}/v1/cli/releases/latest?os=plan9`);
      expect(rel.status).toBe(400);
      // (checked once the server has answered: its start-up lines have all arrived by now)
      expect(out).not.toContain('neither --public-url nor --oidc-audience is set');
    } finally {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);
});

describe('OIDC from a workflow step through the bundled server, across a restart', () => {
  let issuer: OidcIssuer;
  let server: TestServer;
  const saved: Record<string, string | undefined> = {};

  beforeAll(async () => {
    issuer = await startOidcIssuer({
      defaults: { repository: 'acme/e2e', repository_id: '4242', repository_owner_id: '42' },
    });
    server = await startTestServer({ mode: 'process', oidcIssuer: issuer.url, logLevel: 'info' });
    const p = await server.createProject('e2e');
    await server.addTrustPolicy(p.id, { repository: 'acme/e2e', refs: ['refs/heads/main'] });
    for (const [k, v] of Object.entries(issuer.actionsEnv())) {
      saved[k] = process.env[k];
      process.env[k] = v;
    }
  }, 60_000);

  afterAll(async () => {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    await server?.stop();
    await issuer?.close();
  }, 30_000);

  it('logs JSON and serves CLI releases from dist/releases next to the bundle by default', () => {
    const listening = server
      .output()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((l) => l.msg === 'hoist server listening');
    expect(listening).toMatchObject({
      releases_dir: join(REPO_ROOT, 'dist/releases'),
      public_url: server.url,
    });
    // No public URL and no audience: the operator is told which audience tokens must carry.
    expect(server.output()).toContain(
      `neither --public-url nor --oidc-audience is set: GitHub OIDC tokens must carry the audience ${server.url}`,
    );
  });

  it('exchanges a token from core.getIDToken once, and refuses it again after a restart', async () => {
    const { token: idToken, printed } = await getIDTokenQuietly(server.url);
    expect(issuer.stats.idTokenRequests).toBe(1);
    // core masks the ID token (on a runner, the log then hides it); captured here, not printed.
    expect(printed).toContain(`::add-mask::${idToken}`);
    const client = new HoistClient({ apiUrl: server.url });
    const granted = await client.exchangeGithubOidc({ token: idToken });
    expect(granted.token).toMatch(/^hoist_oidc_/);

    await server.restart();
    const replay = await client.exchangeGithubOidc({ token: idToken }).catch((e: unknown) => e);
    expect(replay).toBeInstanceOf(HoistApiError);
    expect((replay as HoistApiError).status).toBe(401);
    expect((replay as HoistApiError).code).toBe('token_replayed');

    // The next step's token carries other claims: a feature branch is refused with the reason.
    issuer.setNextClaims({ ref: 'refs/heads/feature' });
    const refused = await client
      .exchangeGithubOidc({ token: (await getIDTokenQuietly(server.url)).token })
      .catch((e: unknown) => e);
    expect((refused as HoistApiError).message).toMatch(
      /no trust policy allows repository acme\/e2e on ref refs\/heads\/feature .*\(the policy allows refs\/heads\/main\)/,
    );
    // The exchanged token from before the restart still works.
    const who = await server.api<{ kind: string }>('GET', '/v1/auth/whoami', undefined, granted.token);
    expect(who.body.kind).toBe('oidc');
  });

  it('logs no token, neither from headers nor from a query string', async () => {
    const res = await fetch(`${server.url}/v1/projects?token=hoist_prj_from_the_query_string`, {
      headers: { authorization: `Bearer ${server.adminToken}` },
    });
    expect(res.status).toBe(200);
    const logged = '"method":"GET","route":"/v1/projects","url":"/v1/projects","status":200';
    for (let i = 0; i < 100 && !server.output().includes(logged); i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    const out = server.output();
    expect(out).toContain(logged);
    expect(out).not.toContain('from_the_query_string');
    expect(out).not.toMatch(/hoist_(adm|prj|oidc|bld)_[A-Za-z0-9_-]{20}/);
    expect(out).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}\./);
  });

  it('stops cleanly on SIGTERM', async () => {
    const child = server.child!;
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(server.output()).toMatch(/"msg":"hoist server stopped"/);
  });
});

describe('the bundled server on PostgreSQL', () => {
  it('initialises, serves and restarts with its state in PostgreSQL', async () => {
    const pg = await startPostgres();
    try {
      const databaseUrl = await pg.createDatabase('hoist_e2e');
      const server = await startTestServer({ mode: 'process', databaseUrl });
      try {
        expect((await server.api('GET', '/healthz', undefined, null)).body).toMatchObject({
          status: 'ok',
          database: 'postgres',
          cluster: { leader: true },
        });
        const p = await server.createProject('pg-e2e');
        await server.restart();
        expect((await server.api<{ name: string }>('GET', `/v1/projects/${p.id}`)).body.name).toBe('pg-e2e');
      } finally {
        await server.stop();
      }
    } finally {
      await pg.stop();
    }
  }, 60_000);
});
