// Two-operand arithmetic/logic and the one-operand INC/DEC/NEG/NOT: load operands, compute
// through the lazy flags, write back.

import { U } from '../flag-model.js';
import type { Exec } from '../opdef.js';

export const add: Exec = (c, i) => c.wr1(i, c.fl.add(c.rd1(i), c.rd2(i), i.s1));
export const adc: Exec = (c, i) => c.wr1(i, c.fl.adc(c.rd1(i), c.rd2(i), i.s1));
export const sub: Exec = (c, i) => c.wr1(i, c.fl.sub(c.rd1(i), c.rd2(i), i.s1));
export const sbb: Exec = (c, i) => c.wr1(i, c.fl.sbb(c.rd1(i), c.rd2(i), i.s1));
export const cmp: Exec = (c, i) => { c.fl.sub(c.rd1(i), c.rd2(i), i.s1); };

// AND/OR/XOR/TEST leave AF undefined (the interpreter's guess: 0). Each executor makes its own
// calls, rather than sharing a helper, so that every call site stays monomorphic: these are the
// hottest instructions of compiled code.
export const and: Exec = (c, i) => { const d = c.rd1(i), s = c.rd2(i), r = (d & s) >>> 0; c.wr1(i, c.fl.logic(r, i.s1)); c.undefAF(U.and, i.s1, r, d, s); };
export const or: Exec = (c, i) => { const d = c.rd1(i), s = c.rd2(i), r = (d | s) >>> 0; c.wr1(i, c.fl.logic(r, i.s1)); c.undefAF(U.or, i.s1, r, d, s); };
export const xor: Exec = (c, i) => { const d = c.rd1(i), s = c.rd2(i), r = (d ^ s) >>> 0; c.wr1(i, c.fl.logic(r, i.s1)); c.undefAF(U.xor, i.s1, r, d, s); };
export const test: Exec = (c, i) => { const d = c.rd1(i), s = c.rd2(i), r = (d & s) >>> 0; c.fl.logic(r, i.s1); c.undefAF(U.test, i.s1, r, d, s); };

export const inc: Exec = (c, i) => c.wr1(i, c.fl.inc(c.rd1(i), i.s1));
export const dec: Exec = (c, i) => c.wr1(i, c.fl.dec(c.rd1(i), i.s1));
export const neg: Exec = (c, i) => c.wr1(i, c.fl.sub(0, c.rd1(i), i.s1));
export const not: Exec = (c, i) => c.wr1(i, ~c.rd1(i));
