// NODE_EXTRA_CA_CERTS deferred by the release launcher (bin/hoist) and taken back by the CLI: the
// variable moves only for build and bake, children get it back, and an https request trusts the
// file exactly as Node would have (a private CA only in that file is trusted; without it, not).
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  adoptDeferredExtraCa,
  deferredExtraCaFile,
  resetDeferredExtraCa,
  withDeferredExtraCa,
} from '../../src/lib/extra-ca.js';
import { createCa, issueServerCert } from '../../src/lib/pki.js';

const HERE = import.meta.dirname ?? new URL('.', import.meta.url).pathname;
const LAUNCHER = readFileSync(join(HERE, '..', '..', 'src', 'cli', 'launcher.sh'), 'utf8');
let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'hoist-extra-ca-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));
beforeEach(() => resetDeferredExtraCa());

describe('adoptDeferredExtraCa', () => {
  it('takes the deferred file back: remembered, NODE_EXTRA_CA_CERTS set again for children', () => {
    const env: NodeJS.ProcessEnv = { HOIST_NODE_EXTRA_CA_CERTS: '/etc/extra.pem', PATH: '/bin' };
    adoptDeferredExtraCa(env);
    expect(env).toEqual({ NODE_EXTRA_CA_CERTS: '/etc/extra.pem', PATH: '/bin' });
    expect(deferredExtraCaFile()).toBe('/etc/extra.pem');
    // another Hoist process (the background finisher) gets the deferral, not the variable
    const child = withDeferredExtraCa({ ...env, A: 'b' });
    expect(child.NODE_EXTRA_CA_CERTS).toBeUndefined();
    expect(child).toMatchObject({ A: 'b', HOIST_NODE_EXTRA_CA_CERTS: '/etc/extra.pem' });
  });

  it('changes nothing when nothing was deferred', () => {
    const env: NodeJS.ProcessEnv = { NODE_EXTRA_CA_CERTS: '/x.pem' };
    adoptDeferredExtraCa(env);
    expect(env).toEqual({ NODE_EXTRA_CA_CERTS: '/x.pem' });
    expect(deferredExtraCaFile()).toBeUndefined();
    expect(withDeferredExtraCa(env)).toBe(env);
  });
});

describe('an https request with a deferred NODE_EXTRA_CA_CERTS', () => {
  let server: Server;
  let url: URL;
  let caFile: string;
  beforeAll(async () => {
    const ca = await createCa({ commonName: 'hoist test private CA' });
    const leaf = await issueServerCert(ca, { commonName: 'localhost', ipAddresses: ['127.0.0.1'] });
    caFile = join(dir, 'private-ca.pem');
    writeFileSync(caFile, ca.certPem);
    server = createServer({ cert: leaf.certPem, key: leaf.keyPem }, (_req, res) => res.end('{"ok":true}'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = new URL(`https://127.0.0.1:${(server.address() as AddressInfo).port}/`);
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  // trust.ts keeps what it read for the life of the process: each case gets fresh modules
  const sendFresh = async (deferred: string | undefined): Promise<string> => {
    const { jest } = await import('@jest/globals');
    jest.resetModules();
    const extra = await import('../../src/lib/extra-ca.js');
    const client = await import('../../src/lib/client.js');
    if (deferred) extra.adoptDeferredExtraCa({ HOIST_NODE_EXTRA_CA_CERTS: deferred });
    try {
      return (await client.send(url, { method: 'GET', headers: {}, timeoutMs: 5000 })).text;
    } catch (err) {
      return `error: ${(err as Error).message}`;
    } finally {
      extra.resetDeferredExtraCa();
    }
  };

  it('trusts the private CA only from the deferred file', async () => {
    expect(await sendFresh(undefined)).toMatch(/^error: .*(self.signed|unable to verify|local issuer)/i);
    expect(await sendFresh(caFile)).toBe('{"ok":true}');
  });

  it('an unreadable file is warned about and the rest still trusted, as Node does', async () => {
    const { jest } = await import('@jest/globals');
    const spy = jest.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    let warnings: string;
    try {
      expect(await sendFresh(join(dir, 'missing.pem'))).toMatch(/^error: /);
      warnings = spy.mock.calls.map((c) => String(c[0])).join('\n');
    } finally {
      spy.mockRestore();
    }
    expect(warnings).toMatch(/Ignoring extra certs from `.*missing\.pem` \(NODE_EXTRA_CA_CERTS\)/);
  });
});

describe('the release launcher (bin/hoist)', () => {
  // a `node` first on PATH that prints what it was given: the launcher's own behaviour, nothing else
  const layout = (): string => {
    const root = mkdtempSync(join(dir, 'release-'));
    mkdirSync(join(root, 'bin'));
    mkdirSync(join(root, 'lib'));
    writeFileSync(join(root, 'bin', 'hoist'), LAUNCHER, { mode: 0o755 });
    const fakeBin = join(root, 'fake-bin');
    mkdirSync(fakeBin);
    writeFileSync(
      join(fakeBin, 'node'),
      '#!/bin/sh\necho "args=$*"\necho "node=${NODE_EXTRA_CA_CERTS-unset}"\necho "hoist=${HOIST_NODE_EXTRA_CA_CERTS-unset}"\n',
    );
    chmodSync(join(fakeBin, 'node'), 0o755);
    return root;
  };
  const launch = (root: string, args: string[], env: Record<string, string>): string =>
    execFileSync(join(root, 'bin', 'hoist'), args, {
      env: { PATH: `${join(root, 'fake-bin')}:/usr/bin:/bin`, ...env },
      encoding: 'utf8',
    });

  it.each(['build', 'bake'])('moves NODE_EXTRA_CA_CERTS aside for %s', (cmd) => {
    const root = layout();
    const out = launch(root, [cmd, '.'], { NODE_EXTRA_CA_CERTS: '/etc/ssl/x.pem' });
    expect(out).toContain(`args=${root}/bin/../lib/boot.js ${cmd} .`);
    expect(out).toContain('node=unset');
    expect(out).toContain('hoist=/etc/ssl/x.pem');
  });

  it.each(['version', 'projects list', 'server --help', ''])('leaves it to Node for "%s"', (line) => {
    const root = layout();
    const out = launch(root, line.split(' ').filter(Boolean), { NODE_EXTRA_CA_CERTS: '/etc/ssl/x.pem' });
    expect(out).toContain('node=/etc/ssl/x.pem');
    expect(out).toContain('hoist=unset');
  });

  it('sets nothing when the variable is not set', () => {
    const out = launch(layout(), ['build', '.'], {});
    expect(out).toContain('node=unset');
    expect(out).toContain('hoist=unset');
  });
});
