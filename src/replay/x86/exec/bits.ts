// Bit tests/scans, SETcc, CMOVcc, BSWAP, and the F3-prefixed POPCNT/TZCNT/LZCNT.

import * as K from '../constants.js';
import { K_MEM, K_R32Z, type Insn } from '../insn.js';
import type { Machine } from '../machine.js';
import type { Exec } from '../opdef.js';
import { U } from '../flag-model.js';

// (local copies of the constants: constants.ts says why)
const { AF, ARITH, CF, OF, PF, SF, VEC_UD, ZF, sext } = K;

/** BT* leave OF, SF, AF, PF undefined (the interpreter's guess: unchanged); ZF is unaffected. */
const BT_UNDEF = OF | SF | AF | PF;
const BT = 0, BTS = 1, BTR = 2, BTC = 3;
const BT_CLASS = [U.bt, U.bts, U.btr, U.btc];

/**
 * Common body. With a register bit offset and a memory operand, the offset is signed and
 * selects an operand-sized word relative to the effective address (it can address memory
 * beyond the operand); otherwise the offset is taken modulo the operand width.
 */
function bitOp(c: Machine, i: Insn, kind: number, offset: number, immForm: boolean): void {
  const s = i.s1, w = s * 8;
  let bit: number;
  let v: number;
  let off = 0;
  if (i.k1 === K_MEM) {
    if (immForm) {
      bit = offset & (w - 1);
      off = c.ea(i);
    } else {
      const so = sext(offset, s);
      bit = so & (w - 1);
      off = c.wrapAddr(i, c.ea(i) + (so >> (w === 16 ? 4 : 5)) * s);
    }
    v = c.readMem(i.seg, off, s);
  } else {
    bit = offset & (w - 1);
    v = c.rd1(i);
  }
  const m = 1 << bit;
  const before = c.flagsBefore();
  c.fl.assign(CF, (v >>> bit) & 1);
  c.undefFlags(BT_CLASS[kind]!, s, BT_UNDEF, before, v, v, bit);
  if (kind === BT) return;
  const r = (kind === BTS ? v | m : kind === BTR ? v & ~m : v ^ m) >>> 0;
  if (i.k1 === K_MEM) c.writeMem(i.seg, off, s, r);
  else c.wr1(i, r);
}

export const btG: Exec = (c, i) => bitOp(c, i, BT, c.rd2(i), false);
export const btsG: Exec = (c, i) => bitOp(c, i, BTS, c.rd2(i), false);
export const btrG: Exec = (c, i) => bitOp(c, i, BTR, c.rd2(i), false);
export const btcG: Exec = (c, i) => bitOp(c, i, BTC, c.rd2(i), false);
export const btI: Exec = (c, i) => bitOp(c, i, BT, c.rd2(i), true);
export const btsI: Exec = (c, i) => bitOp(c, i, BTS, c.rd2(i), true);
export const btrI: Exec = (c, i) => bitOp(c, i, BTR, c.rd2(i), true);
export const btcI: Exec = (c, i) => bitOp(c, i, BTC, c.rd2(i), true);

/**
 * BSF/BSR: ZF=1 and destination unchanged if the source is 0; CF OF SF AF PF undefined (the
 * interpreter's guess: unchanged).
 */
function scan(c: Machine, i: Insn, cls: number, index: (v: number) => number): void {
  const v = c.rd2(i);
  const d = c.rd1(i);
  const before = c.flagsBefore();
  let r = d;
  if (v === 0) {
    c.fl.assign(ZF, ZF);
  } else {
    c.fl.assign(ZF, 0);
    r = index(v);
    c.wr1(i, r);
  }
  // res: the scan's own result, 0 for a zero source (flags derived from it, as some CPUs do)
  c.undefFlags(cls, i.s1, CF | OF | SF | AF | PF, before, v === 0 ? 0 : r, d, v);
}

export const bsf: Exec = (c, i) => scan(c, i, U.bsf, (v) => 31 - Math.clz32(v & -v));
export const bsr: Exec = (c, i) => scan(c, i, U.bsr, (v) => 31 - Math.clz32(v));

/** POPCNT: ZF per source, other arithmetic flags cleared. #UD unless CPUID.1:ECX.POPCNT. */
export const popcnt: Exec = (c, i) => {
  if (!c.features.popcnt) c.fault(VEC_UD);
  let v = c.rd2(i);
  let n = 0;
  while (v !== 0) { v &= v - 1; n++; }
  c.wr1(i, n);
  c.fl.assign(ARITH, n === 0 ? ZF : 0);
};

/**
 * TZCNT/LZCNT: CF = source is zero, ZF = result is zero; OF SF AF PF undefined (unchanged).
 * Without CPUID BMI1 / LZCNT the F3 prefix is ignored: they execute as BSF / BSR.
 */
export const tzcnt: Exec = (c, i) => {
  if (!c.features.bmi1) { bsf(c, i); return; }
  const v = c.rd2(i);
  const w = i.s1 * 8;
  const n = v === 0 ? w : 31 - Math.clz32(v & -v);
  const before = c.flagsBefore();
  c.wr1(i, n);
  c.fl.assign(CF | ZF, (v === 0 ? CF : 0) | (n === 0 ? ZF : 0));
  c.undefFlags(U.tzcnt, i.s1, OF | SF | AF | PF, before, n, n, v);
};

export const lzcnt: Exec = (c, i) => {
  if (!c.features.lzcnt) { bsr(c, i); return; }
  const v = c.rd2(i);
  const w = i.s1 * 8;
  const n = Math.clz32(v) - (32 - w);
  const before = c.flagsBefore();
  c.wr1(i, n);
  c.fl.assign(CF | ZF, (n === w ? CF : 0) | (n === 0 ? ZF : 0));
  c.undefFlags(U.lzcnt, i.s1, OF | SF | AF | PF, before, n, n, v);
};

export const setcc: Exec = (c, i) => c.wr1(i, c.fl.cond(i.op & 15) ? 1 : 0);

/**
 * CMOVcc: the source is read (and may fault) whether or not the condition holds. In 64-bit
 * mode a 32-bit CMOVcc zeroes bits 63:32 of the destination even when it does not move.
 */
export const cmovcc: Exec = (c, i) => {
  const v = c.rd2(i);
  if (c.fl.cond(i.op & 15)) c.wr1(i, v);
  else if (i.k1 === K_R32Z) c.r32[i.a1 + 1] = 0;
};

/** BSWAP; with a 16-bit operand the result is undefined: we store 0 like current CPUs. */
export const bswap: Exec = (c, i) => {
  if (i.s1 === 2) { c.wr1(i, 0); return; }
  const v = c.rd1(i);
  c.wr1(i, ((v >>> 24) | ((v >>> 8) & 0xff00) | ((v & 0xff00) << 8) | (v << 24)) >>> 0);
};
