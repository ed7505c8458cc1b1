import { describe, expect, it } from '@jest/globals';
import { parseDurationMs } from '../../src/lib/duration.js';
import { parseDuration } from '../../src/cli/build-argv.js';
import { parseExpiresIn } from '../../src/cli/flags.js';

describe('parseDurationMs (hoist build --wait, hoist tokens create --expires-in)', () => {
  it.each([
    ['250ms', 250],
    ['90', 90_000],
    [' 90s ', 90_000],
    ['1h30m', 5_400_000],
    ['1m30s', 90_000],
    ['2d', 172_800_000],
    ['1d12h', 129_600_000],
    ['0.5s', 500],
  ])('%j → %d ms', (raw, ms) => expect(parseDurationMs(raw)).toBe(ms));
  it.each(['', 'soon', '-5s', '5w', '10 m', '5m garbage', 'm', '1h-30m'])('refuses %j', (raw) =>
    expect(parseDurationMs(raw)).toBeUndefined(),
  );
  it('is the one parser behind --wait (ms) and --expires-in (whole seconds)', () => {
    expect(parseDuration('1d')).toBe(86_400_000);
    expect(parseExpiresIn('1d12h')).toBe(129_600);
    expect(parseExpiresIn('1.5s')).toBe(2);
  });
});
