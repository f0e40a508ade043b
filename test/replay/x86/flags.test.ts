// ResultsOnly (flags.ts) is what a compiled block runs for a producer whose flags are overwritten
// unread: its results must be the LazyFlags producers' own, high halves included.

import { describe, expect, test } from 'vitest';
import { LazyFlags, ResultsOnly } from '../../../src/replay/x86/flags.js';

const EDGES = [0, 1, 2, 0x7f, 0x80, 0xff, 0x7fff, 0x8000, 0xffff, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff, 0x12345678, 0xdeadbeef];
const HIGHS = [0, 1, -1, 0x7fffffff, -0x80000000, 0x12345678, -2];

describe('ResultsOnly', () => {
  test('8/16/32-bit producers: the same results', () => {
    const fl = new LazyFlags();
    const ro = new ResultsOnly();
    for (const size of [1, 2, 4]) {
      for (const d of EDGES) {
        for (const s of EDGES) {
          expect(ro.add(d, s, size)).toBe(fl.add(d, s, size));
          expect(ro.sub(d, s, size)).toBe(fl.sub(d, s, size));
          expect(ro.logic(d & s)).toBe(fl.logic(d & s, size));
        }
        expect(ro.inc(d, size)).toBe(fl.inc(d, size));
        expect(ro.dec(d, size)).toBe(fl.dec(d, size));
      }
    }
  });

  test('64-bit producers: the same low halves and high halves (rh)', () => {
    const fl = new LazyFlags();
    const ro = new ResultsOnly();
    for (const dl of EDGES) {
      for (const dh of HIGHS) {
        for (const sl of EDGES) {
          for (const sh of HIGHS) {
            expect([ro.add64(dl, dh, sl, sh), ro.rh]).toEqual([fl.add64(dl, dh, sl, sh), fl.rh]);
            expect([ro.sub64(dl, dh, sl, sh), ro.rh]).toEqual([fl.sub64(dl, dh, sl, sh), fl.rh]);
          }
        }
        expect([ro.inc64(dl, dh), ro.rh]).toEqual([fl.inc64(dl, dh), fl.rh]);
        expect([ro.dec64(dl, dh), ro.rh]).toEqual([fl.dec64(dl, dh), fl.rh]);
        expect([ro.logic64(dl, dh), ro.rh]).toEqual([fl.logic64(dl, dh), fl.rh]);
      }
    }
  });

  test('every ResultsOnly method is a LazyFlags producer of the same arity or less', () => {
    for (const m of Object.getOwnPropertyNames(ResultsOnly.prototype).filter((x) => x !== 'constructor')) {
      const mine = (ResultsOnly.prototype as unknown as Record<string, (...a: unknown[]) => unknown>)[m]!;
      const theirs = (LazyFlags.prototype as unknown as Record<string, (...a: unknown[]) => unknown>)[m];
      expect(typeof theirs, m).toBe('function');
      expect(mine.length, m).toBeLessThanOrEqual(theirs!.length);
    }
  });
});
