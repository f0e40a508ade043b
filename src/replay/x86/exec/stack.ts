// PUSH/POP (all forms), PUSHA/POPA, PUSHF/POPF, ENTER/LEAVE.

import {
  AC, ACC_WRITE, ARITH, DF, FLAGS_FIXED1, I_BP, I_EBP, I_ESP, I_SP, ID, IF, IOPL, NT, RF, SS, TF,
} from '../constants.js';
import type { Exec } from '../opdef.js';

/** PUSH r/m, reg, imm (operand 1, operand size) */
export const push: Exec = (c, i) => c.push(c.rd1(i), i.osz);

/**
 * PUSH Sreg. With a 32-bit operand size Intel CPUs write only the low 16 bits of the slot
 * (the upper half keeps its old contents) while AMD CPUs push the zero-extended selector.
 */
export const pushSeg: Exec = (c, i) => {
  const v = c.sel[i.a1]!;
  if (i.osz === 2 || c.vendor === 'amd') {
    c.push(v, i.osz);
    return;
  }
  // Intel: ESP -= 4, 16-bit store at the new top
  const sp = c.stack32 ? (c.r32[I_ESP]! - 4) >>> 0 : (c.r16[I_SP]! - 4) & 0xffff;
  c.linear(SS, sp, 4, ACC_WRITE); // the whole slot must be within the stack segment
  c.write16(SS, sp, v);
  c.setSp(sp);
};

/** POP r/m, reg. A memory destination addressed with ESP uses the incremented ESP. */
export const pop: Exec = (c, i) => {
  const v = c.pop(i.osz);
  c.wr1(i, v);
};

export const popSeg: Exec = (c, i) => {
  const v = c.pop(i.osz);
  c.loadSeg(i.a1, v & 0xffff);
};

/** PUSHA/PUSHAD: AX CX DX BX (original) SP BP SI DI */
export const pusha: Exec = (c, i) => {
  const s = i.osz;
  const sp = c.getReg(4, s);
  for (let n = 0; n < 8; n++) c.push(n === 4 ? sp : c.getReg(n, s), s);
};

/** POPA/POPAD: DI SI BP (skip SP) BX DX CX AX */
export const popa: Exec = (c, i) => {
  const s = i.osz;
  const v: number[] = [0, 0, 0, 0, 0, 0, 0, 0];
  for (let n = 7; n >= 0; n--) v[n] = c.pop(s);
  for (let n = 0; n < 8; n++) if (n !== 4) c.setReg(n, s, v[n]!);
};

/** Flags POPF may change in real mode (VM, VIF, VIP keep their values, RF is cleared). */
const POPF_MASK = ARITH | TF | IF | DF | IOPL | NT | AC | ID;

export const pushf: Exec = (c, i) => {
  const f = c.fl.get();
  if (i.osz === 2) c.push(f & 0xffff, 2);
  else c.push(f & 0x00fcffff, 4); // VM and RF read as 0 in the image
};

export const popf: Exec = (c, i) => {
  const mask = i.osz === 2 ? POPF_MASK & 0xffff : POPF_MASK;
  const v = c.pop(i.osz);
  const old = c.fl.get();
  c.fl.set((((old & ~mask) | (v & mask)) & ~RF) | FLAGS_FIXED1);
};

/** ENTER Iw,Ib */
export const enter: Exec = (c, i) => {
  const s = i.osz;
  const size = i.imm & 0xffff;
  const level = i.imm2 & 31;
  c.push(c.getReg(5, s), s);
  const frame = c.sp();
  if (level > 0) {
    let bp = c.stack32 ? c.r32[I_EBP]! >>> 0 : c.r16[I_BP]!;
    for (let n = 1; n < level; n++) {
      bp = c.stack32 ? (bp - s) >>> 0 : (bp - s) & 0xffff;
      c.push(c.readMem(SS, bp, s), s);
    }
    c.push(frame, s);
  }
  const newSp = c.stack32 ? (c.sp() - size) >>> 0 : (c.sp() - size) & 0xffff;
  // the new stack top must be addressable (checked before anything is committed to EBP)
  c.linear(SS, newSp, 1, ACC_WRITE);
  c.setReg(5, s, frame);
  c.setSp(newSp);
};

/** LEAVE: (E)SP <- (E)BP; pop (E)BP */
export const leave: Exec = (c, i) => {
  const s = i.osz;
  const bp = c.stack32 ? c.r32[I_EBP]! >>> 0 : c.r16[I_BP]!;
  const v = c.readMem(SS, bp, s);
  c.setSp(c.stack32 ? bp + s : (bp + s) & 0xffff);
  c.setReg(5, s, v);
};

