// MUL, IMUL (1/2/3 operands), DIV, IDIV. 32x32->64 products and 64/32 divisions are done in
// 16-bit limbs with exact double arithmetic (no BigInt).

import * as K from '../constants.js';
import { U } from '../flag-model.js';
import { K_IMM } from '../insn.js';
import { jitHelpers } from '../jit.js';
import type { Exec } from '../opdef.js';
import type { Machine } from '../machine.js';

// (local copies of the constants: constants.ts says why)
const { AF, ARITH, CF, I_AX, I_DX, I_EAX, I_EDX, OF, PF, SF, VEC_DE, ZF, sext } = K;

/** MUL/IMUL leave SF, ZF, AF, PF undefined (the interpreter's guess, as AMD Zen: unchanged). */
const MUL_UNDEF = SF | ZF | AF | PF;

/** CF = OF = overflow; res/hi: the product's low and high halves, a/b: the factors. */
function setMulFlags(c: Machine, cls: number, size: number, overflow: number, res: number, hi: number, a: number, b: number): void {
  const before = c.flagsBefore();
  c.fl.assign(CF | OF, overflow ? CF | OF : 0);
  c.undefFlags(cls, size, MUL_UNDEF, before, res, a, b, hi);
}

// The high halves are pure functions of the operands (no result left in module state): where a
// compiled block drops IMUL's flags nothing reads the high half, and V8 then drops its work.
/** High 32 bits of the unsigned product of two uint32s. */
function mulHigh32(a: number, b: number): number {
  const a0 = a & 0xffff, a1 = a >>> 16, b0 = b & 0xffff, b1 = b >>> 16;
  const p00 = a0 * b0, p01 = a0 * b1, p10 = a1 * b0;
  const mid = (p00 >>> 16) + (p01 & 0xffff) + (p10 & 0xffff);
  return (a1 * b1 + (p01 >>> 16) + (p10 >>> 16) + Math.floor(mid / 0x10000)) >>> 0;
}

/** High 32 bits of the signed product of two uint32-encoded operands. */
function imulHigh32(a: number, b: number): number {
  const p = (a | 0) * (b | 0);
  // (the double product is exact: no limbs needed)
  if (p >= -0x20000000000000 && p <= 0x20000000000000) return Math.floor(p / 0x100000000) >>> 0;
  let hi = mulHigh32(a >>> 0, b >>> 0);
  if (a & 0x80000000) hi -= b >>> 0;
  if (b & 0x80000000) hi -= a >>> 0;
  return hi >>> 0;
}

let divRem = 0;
/** Unsigned (hi:lo) / d for hi < d < 2^32: quotient returned, remainder in divRem. */
function div64(hi: number, lo: number, d: number): number {
  let r = hi;
  let x = r * 0x10000 + (lo >>> 16);
  const q1 = Math.floor(x / d);
  r = x - q1 * d;
  x = r * 0x10000 + (lo & 0xffff);
  const q0 = Math.floor(x / d);
  divRem = x - q0 * d;
  return q1 * 0x10000 + q0;
}

export const mul: Exec = (c, i) => {
  const s = i.s1;
  const src = c.rd1(i);
  if (s === 1) {
    const a = c.r8[0]!;
    const r = a * src;
    c.r16[I_AX] = r;
    const hi = r >>> 8;
    setMulFlags(c, U.mul, s, hi, r & 0xff, hi, a, src);
  } else if (s === 2) {
    const a = c.r16[I_AX]!;
    const r = a * src;
    c.r16[I_AX] = r;
    c.r16[I_DX] = r >>> 16;
    const hi = r >>> 16;
    setMulFlags(c, U.mul, s, hi, r & 0xffff, hi, a, src);
  } else {
    const a = c.r32[I_EAX]! >>> 0;
    const lo = Math.imul(a, src) >>> 0, hi = mulHigh32(a, src);
    c.w32(I_EAX, lo);
    c.w32(I_EDX, hi);
    setMulFlags(c, U.mul, s, hi, lo, hi, a, src);
  }
};

/** One-operand IMUL: AX/DX:AX/EDX:EAX <- accumulator * r/m. */
export const imul1: Exec = (c, i) => {
  const s = i.s1;
  const src = c.rd1(i);
  if (s === 1) {
    const a = c.r8[0]!;
    const r = ((a << 24) >> 24) * sext(src, 1);
    c.r16[I_AX] = r;
    const ov = r !== (r << 24) >> 24 ? 1 : 0;
    setMulFlags(c, U.imul1, s, ov, r & 0xff, (r >> 8) & 0xff, a, src);
  } else if (s === 2) {
    const a = c.r16[I_AX]!;
    const r = ((a << 16) >> 16) * sext(src, 2);
    c.r16[I_AX] = r;
    c.r16[I_DX] = r >> 16;
    const ov = r !== (r << 16) >> 16 ? 1 : 0;
    setMulFlags(c, U.imul1, s, ov, r & 0xffff, (r >> 16) & 0xffff, a, src);
  } else {
    const a = c.r32[I_EAX]! >>> 0;
    const lo = Math.imul(a, src) >>> 0, hi = imulHigh32(a, src);
    c.w32(I_EAX, lo);
    c.w32(I_EDX, hi);
    const ov = hi !== (lo & 0x80000000 ? 0xffffffff : 0) ? 1 : 0;
    setMulFlags(c, U.imul1, s, ov, lo, hi, a, src);
  }
};

/** Low half of the product of two `s`-byte operands (s = 2 or 4) as IMUL forms it. */
function imulLo(a: number, b: number, s: number): number {
  return s === 2 ? (sext(a, 2) * sext(b, 2)) & 0xffff : Math.imul(a, b) >>> 0;
}

/** High half of the same product. */
function imulHi(a: number, b: number, s: number): number {
  return s === 2 ? ((sext(a, 2) * sext(b, 2)) >> 16) & 0xffff : imulHigh32(a, b);
}

// IMUL with a truncated result: the flag work is in the executor (and so in compiled blocks'
// templates), the helpers are pure arithmetic, so blocks keep registers in locals across it
/** IMUL Gv,Ev (the destination times the source) and Gv,Ev,Iz / Gv,Ev,Ibs (the source times the immediate) */
export const imulTruncated: Exec = (c, i) => {
  const three = i.k3 === K_IMM;
  const a = three ? c.rd2(i) : c.rd1(i), b = three ? c.rd3(i) : c.rd2(i), s = i.s1;
  const lo = imulLo(a, b, s), hi = imulHi(a, b, s);
  const before = c.flagsBefore();
  c.fl.assign(CF | OF, hi !== (lo >>> (s * 8 - 1) ? (s === 2 ? 0xffff : 0xffffffff) : 0) ? CF | OF : 0);
  c.undefFlags(U.imul, s, SF | ZF | AF | PF, before, lo, a, b, hi);
  c.wr1(i, lo);
};

/**
 * DIV/IDIV leave all six arithmetic flags undefined. AMD Zen CPUs set AF and clear SF, ZF, PF,
 * keeping CF and OF; we do the same.
 */
function setDivFlags(c: Machine, cls: number, size: number, before: number, dividend: number, divisor: number): void {
  const q = size === 1 ? c.r8[0]! : size === 2 ? c.r16[I_AX]! : c.r32[I_EAX]! >>> 0;
  const r = size === 1 ? c.r8[1]! : size === 2 ? c.r16[I_DX]! : c.r32[I_EDX]! >>> 0;
  c.fl.assign(AF | SF | ZF | PF, AF);
  c.undefFlags(cls, size, ARITH, before, q, dividend, divisor, r);
}

export const div: Exec = (c, i) => {
  const s = i.s1;
  const d = c.rd1(i);
  if (d === 0) c.fault(VEC_DE);
  const before = c.flagsBefore();
  const low = s === 4 ? c.r32[I_EAX]! >>> 0 : c.r16[I_AX]!;
  if (s === 1) {
    const n = c.r16[I_AX]!;
    const q = Math.floor(n / d);
    if (q > 0xff) c.fault(VEC_DE);
    c.r16[I_AX] = ((n % d) << 8) | q;
  } else if (s === 2) {
    const n = c.r16[I_DX]! * 0x10000 + c.r16[I_AX]!;
    const q = Math.floor(n / d);
    if (q > 0xffff) c.fault(VEC_DE);
    c.r16[I_DX] = n % d;
    c.r16[I_AX] = q;
  } else {
    const hi = c.r32[I_EDX]! >>> 0;
    if (hi >= d) c.fault(VEC_DE);
    const q = div64(hi, c.r32[I_EAX]! >>> 0, d);
    c.w32(I_EAX, q);
    c.w32(I_EDX, divRem);
  }
  setDivFlags(c, U.div, s, before, low, d >>> 0);
};

export const idiv: Exec = (c, i) => {
  const s = i.s1;
  const d = sext(c.rd1(i), s);
  if (d === 0) c.fault(VEC_DE);
  const before = c.flagsBefore();
  const low = s === 4 ? c.r32[I_EAX]! >>> 0 : c.r16[I_AX]!;
  if (s === 1) {
    const n = (c.r16[I_AX]! << 16) >> 16;
    const q = Math.trunc(n / d);
    if (q > 127 || q < -128) c.fault(VEC_DE);
    c.r16[I_AX] = ((n - q * d) << 8) | (q & 0xff);
  } else if (s === 2) {
    const n = (c.r16[I_DX]! << 16) | c.r16[I_AX]!;
    const q = Math.trunc(n / d);
    if (q > 32767 || q < -32768) c.fault(VEC_DE);
    c.r16[I_AX] = q;
    c.r16[I_DX] = n - q * d;
  } else {
    let hi = c.r32[I_EDX]! >>> 0;
    let lo = c.r32[I_EAX]! >>> 0;
    const negN = (hi & 0x80000000) !== 0;
    if (negN) {
      // two's complement negate of hi:lo
      lo = (~lo + 1) >>> 0;
      hi = (~hi + (lo === 0 ? 1 : 0)) >>> 0;
    }
    const ad = Math.abs(d);
    if (hi >= ad) c.fault(VEC_DE);
    const uq = div64(hi, lo, ad);
    const ur = divRem;
    const negQ = negN !== d < 0;
    if (negQ ? uq > 0x80000000 : uq > 0x7fffffff) c.fault(VEC_DE);
    c.w32(I_EAX, negQ ? -uq : uq);
    c.w32(I_EDX, negN ? -ur : ur);
  }
  setDivFlags(c, U.idiv, s, before, low, d >>> 0);
};



jitHelpers({ imulLo, imulHi }, [imulTruncated]);
