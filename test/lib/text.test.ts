import { describe, expect, it } from '@jest/globals';
import { renderTable } from '../../src/cli/flags.js';
import { escapeControls, truncateUtf8 } from '../../src/lib/text.js';

describe('escapeControls', () => {
  it.each([
    ['plain text, ünïcödé and 日本語', 'plain text, ünïcödé and 日本語'],
    ['\x1b[31mred\x1b[0m', '\\x1b[31mred\\x1b[0m'],
    ['\x1b]0;owned\x07', '\\x1b]0;owned\\x07'],
    ['line1\nline2\r\tend', 'line1\\nline2\\r\\tend'],
    ['\x00\x7f\x9b', '\\x00\\x7f\\x9b'],
    ['abc\u202edcba\u2066x\u2069', 'abc\\u202edcba\\u2066x\\u2069'],
    ['C:\\path', 'C:\\\\path'],
  ])('%j → %j', (raw, want) => {
    expect(escapeControls(raw)).toBe(want);
    // Nothing below 0x20, no DEL, no C1 control is left.
    // eslint-disable-next-line no-control-regex
    expect(escapeControls(raw)).not.toMatch(/[\u0000-\u001f\u007f-\u009f]/);
  });
});

describe('truncateUtf8', () => {
  it.each([
    ['short', 10, 'short'],
    ['abcdefghij', 10, 'abcdefghij'],
    ['abcdefghijk', 10, 'abcdefg…'],
    ['ééééé', 6, 'é…'],
    ['日本語テキスト', 10, '日本…'],
  ])('%j in %d bytes → %j', (raw, max, want) => {
    const out = truncateUtf8(raw, max);
    expect(out).toBe(want);
    expect(Buffer.byteLength(out)).toBeLessThanOrEqual(max);
  });
});

describe('renderTable', () => {
  it('escapes control characters in every cell and keeps the columns aligned', () => {
    const out = renderTable(
      ['ID', 'ERROR'],
      [
        ['b\x1b[2J1', 'boom \x1b[31mred\x1b[0m\nsecond line'],
        ['b2', null],
      ],
    );
    expect(out).toBe(
      ['ID         ERROR', 'b\\x1b[2J1  boom \\x1b[31mred\\x1b[0m\\nsecond line', 'b2         -', ''].join(
        '\n',
      ),
    );
  });
});
