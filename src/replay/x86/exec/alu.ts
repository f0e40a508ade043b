// Two-operand arithmetic/logic and the one-operand INC/DEC/NEG/NOT: load operands, compute
// through the lazy flags, write back.

import { U } from '../flag-model.js';
import type { Insn } from '../insn.js';
import type { Machine } from '../machine.js';
import type { Exec } from '../opdef.js';

export const add: Exec = (c, i) => c.wr1(i, c.fl.add(c.rd1(i), c.rd2(i), i.s1));
export const adc: Exec = (c, i) => c.wr1(i, c.fl.adc(c.rd1(i), c.rd2(i), i.s1));
export const sub: Exec = (c, i) => c.wr1(i, c.fl.sub(c.rd1(i), c.rd2(i), i.s1));
export const sbb: Exec = (c, i) => c.wr1(i, c.fl.sbb(c.rd1(i), c.rd2(i), i.s1));
export const cmp: Exec = (c, i) => { c.fl.sub(c.rd1(i), c.rd2(i), i.s1); };

/** AND/OR/XOR/TEST leave AF undefined (the interpreter's guess: 0). */
function logic(c: Machine, i: Insn, cls: number, d: number, s: number, r: number, write: boolean): void {
  c.fl.logic(r, i.s1);
  if (write) c.wr1(i, r);
  c.undefAF(cls, i.s1, r, d, s);
}

export const and: Exec = (c, i) => { const d = c.rd1(i), s = c.rd2(i); logic(c, i, U.and, d, s, (d & s) >>> 0, true); };
export const or: Exec = (c, i) => { const d = c.rd1(i), s = c.rd2(i); logic(c, i, U.or, d, s, (d | s) >>> 0, true); };
export const xor: Exec = (c, i) => { const d = c.rd1(i), s = c.rd2(i); logic(c, i, U.xor, d, s, (d ^ s) >>> 0, true); };
export const test: Exec = (c, i) => { const d = c.rd1(i), s = c.rd2(i); logic(c, i, U.test, d, s, (d & s) >>> 0, false); };

export const inc: Exec = (c, i) => c.wr1(i, c.fl.inc(c.rd1(i), i.s1));
export const dec: Exec = (c, i) => c.wr1(i, c.fl.dec(c.rd1(i), i.s1));
export const neg: Exec = (c, i) => c.wr1(i, c.fl.sub(0, c.rd1(i), i.s1));
export const not: Exec = (c, i) => c.wr1(i, ~c.rd1(i));
