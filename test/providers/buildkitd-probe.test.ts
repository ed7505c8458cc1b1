// The buildkitd probe against small unix-socket servers that answer the way a daemon (or
// something else on its socket) would: a SETTINGS frame, another frame, a close, silence.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as fs from 'node:fs/promises';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { H2_PREFACE, isSettingsFrame, probeUnixSocket } from '../../src/providers/buildkitd-probe.js';

let tmp: string;
const servers: net.Server[] = [];

/** A server on a fresh socket that runs `answer` once it has read the whole preface. */
async function serve(name: string, answer: (s: net.Socket) => void): Promise<string> {
  const socketPath = path.join(tmp, name);
  const server = net.createServer((s) => {
    let got = Buffer.alloc(0);
    s.on('error', () => undefined);
    s.on('data', (c: Buffer) => {
      got = Buffer.concat([got, c]);
      if (got.length === H2_PREFACE.length) answer(s);
    });
  });
  await new Promise<void>((r) => server.listen(socketPath, r));
  servers.push(server);
  return socketPath;
}

beforeAll(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'hoist-probe-'));
});

afterAll(async () => {
  for (const s of servers) await new Promise((r) => s.close(r));
  await fs.rm(tmp, { recursive: true, force: true });
});

describe('isSettingsFrame', () => {
  it.each([
    ['an empty SETTINGS frame', [0, 0, 0, 0x4, 0, 0, 0, 0, 0], true],
    ['a SETTINGS frame with a payload', [0, 0, 6, 0x4, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 100], true],
    ['a GOAWAY frame', [0, 0, 8, 0x7, 0, 0, 0, 0, 0], false],
    ['an HTTP/1.1 answer', [...Buffer.from('HTTP/1.1 400 Bad Request')], false],
    ['a short read', [0, 0, 0, 0x4], false],
  ])('%s', (_what, bytes, expected) => {
    expect(isSettingsFrame(Buffer.from(bytes))).toBe(expected);
  });
});

describe('probeUnixSocket', () => {
  it('is healthy when the daemon answers the preface with SETTINGS', async () => {
    const sock = await serve('ok.sock', (s) => s.write(Buffer.from([0, 0, 0, 0x4, 0, 0, 0, 0, 0])));
    expect(await probeUnixSocket(sock)).toEqual({ healthy: true });
  });

  it('names what came back instead', async () => {
    const other = await serve('http1.sock', (s) => s.write('HTTP/1.1 400 Bad Request\r\n\r\n'));
    expect(await probeUnixSocket(other)).toEqual({
      healthy: false,
      reason: 'no HTTP/2 SETTINGS from buildkitd',
    });
    const closing = await serve('close.sock', (s) => s.end());
    expect(await probeUnixSocket(closing)).toEqual({
      healthy: false,
      reason: 'connection closed by buildkitd',
    });
    const silent = await serve('silent.sock', () => undefined);
    expect(await probeUnixSocket(silent, 200)).toEqual({
      healthy: false,
      reason: 'buildkitd did not answer on its socket',
    });
  });

  it('says it cannot connect when nothing listens', async () => {
    const h = await probeUnixSocket(path.join(tmp, 'none.sock'));
    expect(h.healthy).toBe(false);
    expect(h).toMatchObject({
      reason: expect.stringMatching(/^cannot connect to buildkitd: connect ENOENT/),
    });
  });
});
