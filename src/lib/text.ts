// Text that came from elsewhere (a server, a build's error), made safe to print or store.

// C0 controls, DEL, C1 controls, and the bidirectional overrides and isolates that reorder what
// a terminal shows ("Trojan Source"); the backslash too, so an escape in the output is unambiguous.
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069\\]/g;
const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t', '\\': '\\\\' };

/**
 * Shows every control character as a visible escape (`\x1b`, `\n`, `\u202e`), so text from a
 * server or a build cannot move the cursor, recolour, retitle or rewrite a terminal. Pure.
 */
export function escapeControls(s: string): string {
  return s.replace(UNSAFE, (c) => {
    const named = NAMED[c];
    if (named) return named;
    const code = c.charCodeAt(0);
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16)}`;
  });
}

/** The longest prefix of `s` that fits in `maxBytes` of UTF-8, never splitting a character. Pure. */
export function truncateUtf8(s: string, maxBytes: number, marker = '…'): string {
  if (Buffer.byteLength(s) <= maxBytes) return s;
  const room = maxBytes - Buffer.byteLength(marker);
  let out = '';
  let used = 0;
  for (const ch of s) {
    const n = Buffer.byteLength(ch);
    if (used + n > room) break;
    out += ch;
    used += n;
  }
  return out + marker;
}
