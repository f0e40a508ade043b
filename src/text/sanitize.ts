// Making strings from a trace safe to print on a terminal. A trace is input: its guest name,
// footer message, host facts, device and CPU model names, host-model keys… may hold escape
// sequences or control characters (a crafted trace, or a guest that wrote them). Everything
// vmtrace prints from a trace in its own messages goes through oneLine() (or safeLines() for a
// multi-line report). Not the guest's console output, which is the guest's stdout and passed
// through raw on purpose, and not --json output, whose strings JSON escapes.

/**
 * C0 controls (newline and tab included), DEL and C1 controls, plus the Unicode line/paragraph
 * separators and the bidirectional-text controls that can make a terminal line read other than
 * it is (U+200E/F, U+202A–U+202E, U+2066–U+2069).
 */
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

function escape(c: string): string {
  const code = c.charCodeAt(0);
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u{${code.toString(16)}}`;
}

/** `s` for a one-line field: every control character as a visible escape (`\x1b`, `\x0a`, `\u{202e}`). */
export function oneLine(s: string): string {
  UNSAFE.lastIndex = 0;
  return UNSAFE.test(s) ? s.replace(UNSAFE, escape) : s;
}

/** A multi-line report: its lines kept, control characters inside each line escaped. */
export function safeLines(text: string): string {
  return text.split('\n').map(oneLine).join('\n');
}
