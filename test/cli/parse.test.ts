// The shared option parsers (src/cli/parse.ts): what they accept and how they refuse.
import { describe, expect, it } from 'vitest';

import { MAX_SECONDS, parseCount, parseInteger, parsePort, parseSeconds, parseSize, quote, UsageError } from '../../src/cli/parse.js';

const refusal = (f: () => unknown): string => {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(UsageError);
    return (e as Error).message;
  }
  throw new Error('accepted');
};

describe('parseInteger', () => {
  it('accepts decimal, 0x, 0o, 0b and _ separators', () => {
    expect(parseInteger('123', '--n')).toBe(123);
    expect(parseInteger(' 0x7B ', '--n')).toBe(123);
    expect(parseInteger('0o173', '--n')).toBe(123);
    expect(parseInteger('0b1111011', '--n')).toBe(123);
    expect(parseInteger('1_000_000', '--n')).toBe(1e6);
    expect(parseInteger('0x1_0000', '--n')).toBe(0x10000);
    expect(parseInteger(String(Number.MAX_SAFE_INTEGER), '--n')).toBe(Number.MAX_SAFE_INTEGER);
  });

  it('refuses empty, negative, fractional, exponent, junk, beyond 2^53, out of range', () => {
    expect(refusal(() => parseInteger('', '--n'))).toBe('--n: empty value; expected a non-negative integer (decimal, or hex with 0x)');
    expect(refusal(() => parseInteger('  ', '--n'))).toMatch(/^--n: empty value/);
    expect(refusal(() => parseInteger('-1', '--n'))).toMatch(/^--n: '-1' is negative; expected/);
    expect(refusal(() => parseInteger('1.5', '--n'))).toMatch(/^--n: '1\.5' is not a whole number/);
    expect(refusal(() => parseInteger('1e3', '--n'))).toMatch(/^--n: '1e3' is not a whole number/);
    expect(refusal(() => parseInteger('NaN', '--n'))).toMatch(/^--n: 'NaN' is not an integer/);
    expect(refusal(() => parseInteger('Infinity', '--n'))).toMatch(/is not an integer/);
    expect(refusal(() => parseInteger('0x', '--n'))).toMatch(/is not an integer/);
    expect(refusal(() => parseInteger('_1', '--n'))).toMatch(/is not an integer/);
    expect(refusal(() => parseInteger('9007199254740992', '--n'))).toMatch(/is too large \(beyond 2\^53\)/);
    expect(refusal(() => parseInteger('0x20000000000000', '--n'))).toMatch(/is too large/);
    expect(refusal(() => parseInteger('5', '--n', { min: 10 }))).toMatch(/^--n: '5' is less than 10; expected an integer of at least 10/);
    expect(refusal(() => parseInteger('0x100', '--n', { max: 0xff, hex: true }))).toBe("--n: '0x100' is more than 0xff; expected an integer from 0 to 0xff (hex with 0x, or decimal)");
  });

  it('counts start at 1, ports end at 0xffff', () => {
    expect(parseCount('1', '--c')).toBe(1);
    expect(refusal(() => parseCount('0', '--c'))).toMatch(/'0' is less than 1/);
    expect(parsePort('0xffff', '--p')).toBe(0xffff);
    expect(refusal(() => parsePort('65536', '--p'))).toMatch(/^--p: '65536' is more than 0xffff; expected an I\/O port from 0 to 0xffff/);
  });
});

describe('parseSeconds', () => {
  it('accepts positive decimals, returns ms', () => {
    expect(parseSeconds('10', '--t')).toBe(10_000);
    expect(parseSeconds('0.5', '--t')).toBe(500);
    expect(parseSeconds('.25', '--t')).toBe(250);
    expect(parseSeconds(String(MAX_SECONDS), '--t')).toBe(MAX_SECONDS * 1000);
  });

  it('refuses what is not a positive, bounded number of seconds', () => {
    for (const bad of ['', 'abc', '-1', '0', '0.0', '1e3', 'NaN', 'Infinity', '1s', '0x10', String(MAX_SECONDS + 1)]) {
      expect(refusal(() => parseSeconds(bad, '--timeout'))).toMatch(/^--timeout: .*; expected a number of seconds greater than 0 and at most \d+ \(examples: 10, 0\.5\)$/);
    }
  });
});

describe('parseSize', () => {
  it('binary units, hex, limits', () => {
    expect(parseSize('64K', '--mem')).toBe(65536);
    expect(parseSize('1MiB', '--mem')).toBe(1 << 20);
    expect(parseSize('0x100000', '--mem')).toBe(1 << 20);
    expect(parseSize('3G', '--mem', { max: 3 * 2 ** 30 })).toBe(3 * 2 ** 30);
    expect(refusal(() => parseSize('4G', '--mem', { max: 3 * 2 ** 30, maxReason: 'why' }))).toBe("--mem: '4G' is more than the 3 GiB maximum (why); give at most 3G");
    expect(refusal(() => parseSize('1T', '--mem', { max: 3 * 2 ** 30 }))).toMatch(/is more than the 3 GiB maximum/);
    expect(refusal(() => parseSize('4097', '--mem', { multipleOf: 4096 }))).toMatch(/is not a multiple of 4 KiB/);
    expect(refusal(() => parseSize('0', '--mem'))).toMatch(/'0' is too small; give at least 1 byte$/);
  });
});

describe('quote', () => {
  it('escapes control characters so a message stays one line', () => {
    expect(quote('a\nb\x1b')).toBe("'a\\x0ab\\x1b'");
  });
});
