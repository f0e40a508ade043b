// Option value parsers for the CLI, shared by every command: each throws a UsageError of one
// line that names the option, quotes the bad value and says what form is accepted.
export class UsageError extends Error {
  override name = 'UsageError';
}

/** The user's text, quoted, with control characters escaped (the message stays one line). */
export function quote(text: string): string {
  return `'${text.replace(/[\x00-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`)}'`;
}

export interface IntegerRange {
  /** Smallest accepted value (default 0). */
  min?: number;
  /** Largest accepted value (default 2^53 - 1). */
  max?: number;
  /** Show the bounds in hex (addresses, ports). */
  hex?: boolean;
  /** What is accepted, for the message (default: from the bounds). */
  expected?: string;
}

const INTEGER_SYNTAX = /^(0x[0-9a-f]+|0o[0-7]+|0b[01]+|\d+)$/;

function bound(v: number, hex: boolean): string {
  if (v === Number.MAX_SAFE_INTEGER) return '2^53 - 1';
  return hex && v >= 10 ? `0x${v.toString(16)}` : String(v);
}

function expectedInteger(r: Required<Pick<IntegerRange, 'min' | 'max' | 'hex'>>): string {
  const form = r.hex ? '(hex with 0x, or decimal)' : '(decimal, or hex with 0x)';
  if (r.max === Number.MAX_SAFE_INTEGER) return `${r.min === 0 ? 'a non-negative' : `an`} integer${r.min === 0 ? '' : ` of at least ${bound(r.min, r.hex)}`} ${form}`;
  return `an integer from ${bound(r.min, r.hex)} to ${bound(r.max, r.hex)} ${form}`;
}

/**
 * 123, 0x7b, 0o173 or 0b1111011 (`_` allowed between digits), within `range` (default: any
 * non-negative safe integer). Empty, negative, fractional, exponent notation, beyond 2^53 or
 * outside the range: a UsageError naming `what`.
 */
export function parseInteger(text: string, what: string, range: IntegerRange = {}): number {
  const min = range.min ?? 0;
  const max = range.max ?? Number.MAX_SAFE_INTEGER;
  const expected = range.expected ?? expectedInteger({ min, max, hex: range.hex ?? false });
  const t = text.trim().toLowerCase().replace(/(?<=[0-9a-f])_(?=[0-9a-f])/g, '');
  const fail = (why: string): never => {
    throw new UsageError(`${what}: ${why}; expected ${expected}`);
  };
  if (t === '') fail('empty value');
  if (!INTEGER_SYNTAX.test(t)) {
    if (/^-\s*(0x[0-9a-f]+|\d+(\.\d*)?)$/.test(t)) fail(`${quote(text)} is negative`);
    if (/^\+?(\d+\.\d*|\.\d+|\d+(\.\d*)?e[+-]?\d+)$/.test(t)) fail(`${quote(text)} is not a whole number`);
    fail(`${quote(text)} is not an integer`);
  }
  const v = Number(t);
  if (!Number.isSafeInteger(v)) fail(`${quote(text)} is too large (beyond 2^53)`);
  if (v < min) fail(`${quote(text)} is less than ${bound(min, range.hex ?? false)}`);
  if (v > max) fail(`${quote(text)} is more than ${bound(max, range.hex ?? false)}`);
  return v;
}

/** A count that must be at least 1 (--max-exits, --max-instructions, --limit). */
export function parseCount(text: string, what: string, max = Number.MAX_SAFE_INTEGER): number {
  return parseInteger(text, what, { min: 1, max });
}

/** An x86 I/O port, 0 to 0xffff. */
export function parsePort(text: string, what: string): number {
  return parseInteger(text, what, { min: 0, max: 0xffff, hex: true, expected: 'an I/O port from 0 to 0xffff (hex with 0x, or decimal)' });
}

/** setTimeout's and Date arithmetic's comfortable bound: 2^31 - 1 ms, about 24.8 days. */
export const MAX_SECONDS = Math.floor((2 ** 31 - 1) / 1000);

/** Seconds, fractions allowed (10, 0.5, .25): more than 0 and at most MAX_SECONDS. Returns milliseconds. */
export function parseSeconds(text: string, what: string): number {
  const expected = `a number of seconds greater than 0 and at most ${MAX_SECONDS} (examples: 10, 0.5)`;
  const t = text.trim();
  const fail = (why: string): never => {
    throw new UsageError(`${what}: ${why}; expected ${expected}`);
  };
  if (t === '') fail('empty value');
  if (!/^(\d+(\.\d*)?|\.\d+)$/.test(t)) fail(/^-/.test(t) ? `${quote(text)} is negative` : `${quote(text)} is not a number of seconds`);
  const s = Number(t);
  if (!(s > 0)) fail(`${quote(text)} is not more than 0`);
  if (s > MAX_SECONDS) fail(`${quote(text)} is too long`);
  return s * 1000;
}

const UNITS: Record<string, number> = { '': 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40 };

/** `3 GiB`, `64 KiB`, `4097 bytes`. */
export function sizeText(bytes: number): string {
  for (const [unit, n] of [['TiB', 2 ** 40], ['GiB', 2 ** 30], ['MiB', 2 ** 20], ['KiB', 2 ** 10]] as const) {
    if (bytes >= n && bytes % n === 0) return `${bytes / n} ${unit}`;
  }
  return `${bytes} byte${bytes === 1 ? '' : 's'}`;
}

export interface SizeRange {
  min?: number;
  max?: number;
  /** The size must be a multiple of this (e.g. 4096: guest RAM is made of pages). */
  multipleOf?: number;
  /** Why `max` is the limit, appended to the refusal. */
  maxReason?: string;
}

/** 65536, 64K, 1M, 2G, 0x100000 (binary units: K = 1024; KiB/KB and MiB/MB spellings too). */
export function parseSize(text: string, what: string, range: SizeRange = {}): number {
  const examples = 'examples: 65536, 64K, 1M, 0x100000';
  const m = /^(0x[0-9a-f]+|\d+)\s*([kmgt]?)(i?b)?$/i.exec(text.trim());
  if (text.trim() === '') throw new UsageError(`${what}: empty value; expected a size in bytes (${examples})`);
  if (!m) {
    const why = /^-/.test(text.trim()) ? 'is negative' : /^\d*\.\d/.test(text.trim()) ? 'is not a whole number of bytes' : 'is not a size';
    throw new UsageError(`${what}: ${quote(text)} ${why} (${examples})`);
  }
  const v = Number(m[1]) * UNITS[m[2]!.toLowerCase()]!;
  if (!Number.isSafeInteger(v)) throw new UsageError(`${what}: ${quote(text)} is too large (beyond 2^53 bytes)`);
  const { min = 1, max, multipleOf } = range;
  if (v < min) throw new UsageError(`${what}: ${quote(text)} is too small; give at least ${sizeText(min)}`);
  if (max !== undefined && v > max) throw new UsageError(`${what}: ${quote(text)} is more than the ${sizeText(max)} maximum${range.maxReason ? ` (${range.maxReason})` : ''}; give at most ${sizeText(max).replace(/ (.)iB$/, '$1')}`);
  if (multipleOf !== undefined && v % multipleOf !== 0) throw new UsageError(`${what}: ${quote(text)} is not a multiple of ${sizeText(multipleOf)} (${examples})`);
  return v;
}

/** Real-mode CS:IP, both hex (0000:7c00), or a bare IP with CS 0. */
export function parseEntry(text: string): { cs: number; ip: number } {
  const m = /^(?:([0-9a-f]{1,4}):)?((?:0x)?[0-9a-f]{1,4})$/i.exec(text.trim());
  if (!m) throw new UsageError(`--entry: ${quote(text)} is not CS:IP in hex (example: 0000:7c00; each part 0 to ffff)`);
  return { cs: m[1] ? parseInt(m[1], 16) : 0, ip: parseInt(m[2]!.replace(/^0x/i, ''), 16) };
}
