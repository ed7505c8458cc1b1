import { describe, expect, it } from '@jest/globals';
import { normalizeApiUrl, HoistClient } from '../../src/lib/client.js';
import { HoistApiError } from '../../src/lib/errors.js';

describe('normalizeApiUrl', () => {
  it.each([
    ['https://hoist.example.com/', 'https://hoist.example.com'],
    ['http://127.0.0.1:8080//', 'http://127.0.0.1:8080'],
    [' https://h.example/api ', 'https://h.example/api'],
  ])('%s -> %s', (input, expected) => {
    expect(normalizeApiUrl(input)).toBe(expected);
  });

  it.each(['not a url', 'ftp://x.example', ''])('refuses %j', (input) => {
    expect(() => normalizeApiUrl(input)).toThrow(HoistApiError);
  });
});

describe('HoistClient', () => {
  it('turns a refused connection into an actionable error', async () => {
    const client = new HoistClient({ apiUrl: 'http://127.0.0.1:1', timeoutMs: 2000 });
    await expect(client.cliRelease('latest')).rejects.toThrow(
      /cannot reach the Hoist server at http:\/\/127\.0\.0\.1:1/,
    );
  });
});

describe('HoistClient with an abort signal', () => {
  it('lets go of a request that has no answer yet at once, and of one aborted before it starts', async () => {
    const { createServer } = await import('node:http');
    let got = 0;
    // answers nothing: only the abort can end the request
    const server = createServer(() => void got++);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    try {
      const client = new HoistClient({ apiUrl: url, token: 'hoist_bld_x', timeoutMs: 30_000 });
      const ac = new AbortController();
      const t0 = Date.now();
      const pending = client.postSteps('bld_1', { steps: [], partial: true }, ac.signal);
      while (got === 0) await new Promise((r) => setTimeout(r, 10));
      ac.abort();
      await expect(pending).rejects.toThrow(/aborted/);
      expect(Date.now() - t0).toBeLessThan(5000);
      await expect(client.postSteps('bld_1', { steps: [] }, ac.signal)).rejects.toThrow(/aborted/);
      expect(got).toBe(1);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });
});

describe('HoistClient over https', () => {
  it('trusts a server certificate of the CA it is given (TLS loaded on first use), and refuses one it does not trust', async () => {
    const { createServer } = await import('node:https');
    const { createCa, issueServerCert } = await import('../../src/lib/pki.js');
    const ca = await createCa({ commonName: 'client https test CA' });
    const cert = await issueServerCert(ca, { commonName: '127.0.0.1', ipAddresses: ['127.0.0.1'] });
    const server = createServer({ cert: cert.certPem, key: cert.keyPem }, (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ version: '9.9.9', os: 'linux', arch: 'x64', url: '/x', sha256: 'ab' }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `https://127.0.0.1:${(server.address() as { port: number }).port}`;
    try {
      const trusted = new HoistClient({ apiUrl: url, caPem: ca.certPem, timeoutMs: 5000 });
      await expect(trusted.cliRelease('latest')).resolves.toMatchObject({ version: '9.9.9' });
      const untrusted = new HoistClient({ apiUrl: url, timeoutMs: 5000 });
      await expect(untrusted.cliRelease('latest')).rejects.toThrow(/certificate/i);
    } finally {
      server.close();
    }
  }, 60_000);
});
