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
