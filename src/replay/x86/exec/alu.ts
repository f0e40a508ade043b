// Two-operand arithmetic/logic and the one-operand INC/DEC/NEG/NOT: load operands, compute
// through the lazy flags, write back.

import { AF } from '../constants.js';
import type { Exec } from '../opdef.js';

export const add: Exec = (c, i) => c.wr1(i, c.fl.add(c.rd1(i), c.rd2(i), i.s1));
export const adc: Exec = (c, i) => c.wr1(i, c.fl.adc(c.rd1(i), c.rd2(i), i.s1));
export const sub: Exec = (c, i) => c.wr1(i, c.fl.sub(c.rd1(i), c.rd2(i), i.s1));
export const sbb: Exec = (c, i) => c.wr1(i, c.fl.sbb(c.rd1(i), c.rd2(i), i.s1));
export const cmp: Exec = (c, i) => { c.fl.sub(c.rd1(i), c.rd2(i), i.s1); };

export const and: Exec = (c, i) => { c.wr1(i, c.fl.logic((c.rd1(i) & c.rd2(i)) >>> 0, i.s1)); c.setUndef(AF); };
export const or: Exec = (c, i) => { c.wr1(i, c.fl.logic((c.rd1(i) | c.rd2(i)) >>> 0, i.s1)); c.setUndef(AF); };
export const xor: Exec = (c, i) => { c.wr1(i, c.fl.logic((c.rd1(i) ^ c.rd2(i)) >>> 0, i.s1)); c.setUndef(AF); };
export const test: Exec = (c, i) => { c.fl.logic((c.rd1(i) & c.rd2(i)) >>> 0, i.s1); c.setUndef(AF); };

export const inc: Exec = (c, i) => c.wr1(i, c.fl.inc(c.rd1(i), i.s1));
export const dec: Exec = (c, i) => c.wr1(i, c.fl.dec(c.rd1(i), i.s1));
export const neg: Exec = (c, i) => c.wr1(i, c.fl.sub(0, c.rd1(i), i.s1));
export const not: Exec = (c, i) => c.wr1(i, ~c.rd1(i));
