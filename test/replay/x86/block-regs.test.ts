// Registers in locals inside compiled blocks (block-regs.ts): which slots are cached, and the
// rewriting of template code onto locals.

import { describe, expect, test } from 'vitest';
import { cacheableSlots, localize, onLocals, writesOtherRegisters, writtenSlots } from '../../../src/replay/x86/block-regs.js';

describe('block registers', () => {
  test('slots reached as r32[N] are cached; bytes or words of one, or a computed index, keep it in the file', () => {
    expect([...cacheableSlots(['(r32[0] = fl.add((r32[0] >>> 0), (r32[6] >>> 0), (4)));', '(r32[2] = r32[4]);'])].sort()).toEqual([0, 2, 4, 6]);
    expect([...cacheableSlots(['(r32[0] = r32[6]);', '(r8[1] = r8[8]);'])].sort()).toEqual([6]); // AH is in slot 0, CL in 2
    expect([...cacheableSlots(['(r32[0] = r32[6]);', '(r16[12] = 1);'])]).toEqual([0]);
    expect(cacheableSlots(['(r32[0] = r32[6]);', 'r32[$I_EAX_1] = 0;']).size).toBe(0);
    expect([...cacheableSlots(['r32[4] += 1; (r32[0] = r32[2]);'])].sort()).toEqual([0, 2]);
  });

  test('writes become int32 stores to locals, reads inside the value too', () => {
    const slots = new Set([0, 6]);
    const l = localize('(r32[6] = fl.add((r32[6] >>> 0), (r32[0] >>> 0), (4)));', slots);
    expect(l.code).toBe('(R6 = ( fl.add((R6 >>> 0), (R0 >>> 0), (4))) | 0);');
    expect([...l.writes]).toEqual([6]);
    const q = localize('(T0_0 = lo, T0_1 = hi, r32[0] = T0_0, r32[1] = T0_1)', new Set([0, 1]));
    expect(q.code).toBe('(T0_0 = lo, T0_1 = hi, R0 = ( T0_0) | 0, R1 = ( T0_1) | 0)');
    expect(localize('r32[2] === r32[4]', new Set([2])).code).toBe('R2 === r32[4]');
  });

  test('memory accesses, executors and helpers given the machine run on the register file', () => {
    expect(onLocals('(r32[0] = fl.logic(r, (4))); c.undefAF($U_4.xor, (4), r, d, s);')).toBe(true);
    expect(onLocals('(r32[0] = c.read32(3, r32[6]));')).toBe(false);
    expect(onLocals('(r32[0] = $imulTrunc_0(c, (r32[0] >>> 0), 5, 4));')).toBe(false);
    expect(writesOtherRegisters('(r32[0] = c.read32(3, r32[6]));')).toBe(false);
    expect(writesOtherRegisters('c.push32(r32[0]);')).toBe(true);
    expect([...writtenSlots('(r32[0] = c.read32(3, r32[6]));', new Set([0, 6]))]).toEqual([0]);
  });
});
