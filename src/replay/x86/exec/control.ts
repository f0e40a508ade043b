// Control transfer: JMP/CALL/RET near and far, Jcc, LOOPcc, JCXZ, INT n/INT3/INTO/INT1,
// IRET, BOUND. Near branches handle every operand size (64-bit targets in 64-bit mode); far
// ones go through Machine.jumpFar / segments.ts in protected mode.

import * as K from '../constants.js';
import type { Insn } from '../insn.js';
import { iret as iretAny } from '../interrupts.js';
import type { Machine } from '../machine.js';
import type { Exec } from '../opdef.js';
import { farCall, farReturn } from '../segments.js';

// (local copies of the constants: constants.ts says why)
const { CS, I_CX, I_ECX, VEC_BP, VEC_BR, VEC_GP, VEC_OF, sext } = K;

/** JMP rel8/rel16/rel32 */
export const jmpRel: Exec = (c, i) => c.jumpRel(i);

/** Jcc rel */
export const jcc: Exec = (c, i) => {
  if (c.fl.cond(i.op & 15)) c.jumpRel(i);
};

/** CALL rel16/rel32 (64-bit mode: pushes the 64-bit return address) */
export const callRel: Exec = (c, i) => {
  if (i.osz === 8) {
    c.pushQ(c.eip, c.ripHi);
    c.jumpRel(i); // a fault (non-canonical target) rewinds RSP and RIP
    return;
  }
  const t = i.osz === 2 ? (c.eip + i.imm) & 0xffff : (c.eip + i.imm) >>> 0;
  if (t > c.csMax) c.fault(VEC_GP);
  c.push(c.eip, i.osz);
  c.eip = t;
};

/** JMP r/m (16/32/64-bit target) */
export const jmpInd: Exec = (c, i) => {
  if (i.osz === 8) {
    const lo = c.rdq1(i);
    c.jump64(lo, c.qh);
    return;
  }
  c.jump(c.rd1(i));
};

/** CALL r/m */
export const callInd: Exec = (c, i) => {
  if (i.osz === 8) {
    const lo = c.rdq1(i), hi = c.qh;
    if (hi >> 15 !== 0 && hi >> 15 !== -1) c.fault(VEC_GP);
    c.pushQ(c.eip, c.ripHi);
    c.eip = lo;
    c.ripHi = hi;
    return;
  }
  const t = c.rd1(i);
  if (t > c.csMax) c.fault(VEC_GP);
  c.push(c.eip, i.osz);
  c.eip = t;
};

/** RET / RET imm16 */
export const ret: Exec = (c, i) => {
  if (i.osz === 8) {
    const lo = c.popQ(), hi = c.qh;
    if (i.k1 !== 0) c.setSp(c.spPlus(i.imm));
    c.jump64(lo, hi);
    return;
  }
  const t = c.pop(i.osz);
  if (i.k1 !== 0) c.setSp(c.spPlus(i.imm));
  c.jump(t);
};

/** JMP ptr16:16/32 */
export const jmpFar: Exec = (c, i) => c.jumpFar(i.imm2, i.imm);

/** Real mode: push CS and IP, then jump; protected mode: segments.ts. */
function callFarTo(c: Machine, i: Insn, sel: number, off: number, offHi: number): void {
  if (c.pe && !c.v86) {
    farCall(c, sel, off, offHi, i.osz);
    return;
  }
  if (off > c.segLimit[CS]!) c.fault(VEC_GP);
  c.push(c.sel[CS]!, i.osz);
  c.push(c.eip, i.osz);
  c.jumpFar(sel, off);
}

/** CALL ptr16:16/32 */
export const callFar: Exec = (c, i) => callFarTo(c, i, i.imm2, i.imm, 0);

/** Far pointer m16:16 / m16:32 / m16:64 (REX.W): [selector, offset, offset bits 63:32]. */
function readFarPtr(c: Machine, i: Insn): [number, number, number] {
  const off = c.ea(i);
  let ip: number;
  let hi = 0;
  if (i.osz === 8) {
    ip = c.readQ(i.seg, off);
    hi = c.qh;
  } else {
    ip = c.readMem(i.seg, off, i.osz);
  }
  const sel = c.read16(i.seg, c.wrapAddr(i, off + i.osz));
  return [sel, ip, hi];
}

/** JMP m16:16/32/64 */
export const jmpFarInd: Exec = (c, i) => {
  const [sel, ip, hi] = readFarPtr(c, i);
  c.jumpFar(sel, ip, hi);
};

/** CALL m16:16/32/64 */
export const callFarInd: Exec = (c, i) => {
  const [sel, ip, hi] = readFarPtr(c, i);
  callFarTo(c, i, sel, ip, hi);
};

/** RETF / RETF imm16 */
export const retf: Exec = (c, i) => {
  if (c.pe && !c.v86) {
    farReturn(c, i.osz, i.k1 !== 0 ? i.imm & 0xffff : 0);
    return;
  }
  const ip = c.pop(i.osz);
  const sel = c.pop(i.osz) & 0xffff;
  if (i.k1 !== 0) c.setSp(c.spPlus(i.imm));
  c.jumpFar(sel, ip);
};

/** Count register of LOOP/JCXZ: CX, ECX or RCX by address size. */
function count(c: Machine, i: Insn): number {
  return i.asz === 2 ? c.r16[I_CX]! : i.asz === 4 ? c.r32[I_ECX]! >>> 0 : (c.r32[I_ECX]! | c.r32[I_ECX + 1]!) === 0 ? 0 : 1;
}

/** Decrement the count register; returns non-zero if it is not 0 afterwards. */
function decCount(c: Machine, i: Insn): number {
  if (i.asz === 2) return (c.r16[I_CX] = c.r16[I_CX]! - 1);
  if (i.asz === 4) {
    c.w32(I_ECX, c.r32[I_ECX]! - 1);
    return c.r32[I_ECX]!;
  }
  const lo = c.r32[I_ECX]!;
  c.r32[I_ECX] = lo - 1;
  if (lo === 0) c.r32[I_ECX + 1] = c.r32[I_ECX + 1]! - 1;
  return c.r32[I_ECX]! | c.r32[I_ECX + 1]!;
}

export const loop: Exec = (c, i) => {
  if (decCount(c, i) !== 0) c.jumpRel(i);
};

export const loope: Exec = (c, i) => {
  if (decCount(c, i) !== 0 && c.fl.cond(4)) c.jumpRel(i);
};

export const loopne: Exec = (c, i) => {
  if (decCount(c, i) !== 0 && c.fl.cond(5)) c.jumpRel(i);
};

export const jcxz: Exec = (c, i) => {
  if (count(c, i) === 0) c.jumpRel(i);
};

export const int: Exec = (c, i) => c.softInt(i.imm & 0xff);
export const int3: Exec = (c) => c.softInt(VEC_BP);
export const int1: Exec = (c) => c.int1();
export const into: Exec = (c) => {
  if (c.fl.cond(0)) c.softInt(VEC_OF);
};

/** IRET/IRETD/IRETQ (interrupts.ts) */
export const iret: Exec = (c, i) => iretAny(c, i.osz);

/** BOUND Gv,Ma: #BR unless lower <= index <= upper (signed). */
export const bound: Exec = (c, i) => {
  const s = i.osz;
  const idx = sext(c.rd1(i), s);
  const off = c.ea(i);
  const lo = sext(c.readMem(i.seg, off, s), s);
  const hi = sext(c.readMem(i.seg, c.wrapAddr(i, off + s), s), s);
  if (idx < lo || idx > hi) c.fault(VEC_BR);
};
