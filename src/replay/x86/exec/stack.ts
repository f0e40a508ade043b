// PUSH/POP (all forms), PUSHA/POPA, PUSHF/POPF, ENTER/LEAVE. The 64-bit PUSH/POP r/m/imm
// executors are in wide.ts; everything here handles every stack size.

import * as K from '../constants.js';
import type { Machine } from '../machine.js';
import type { Exec } from '../opdef.js';

// (local copies of the constants: constants.ts says why)
const { AC, ACC_WRITE, ARITH, DF, FLAGS_FIXED1, I_BP, I_EBP, ID, IF, IOPL, NT, RF, SS, TF } = K;

/** PUSH r/m, reg, imm (operand 1, operand size 2 or 4) */
export const push: Exec = (c, i) => c.push(c.rd1(i), i.osz);

/**
 * PUSH Sreg. With a 32/64-bit operand size Intel CPUs write only the low 16 bits of the slot
 * (the rest keeps its old contents) while AMD CPUs push the zero-extended selector.
 */
export const pushSeg: Exec = (c, i) => {
  const v = c.sel[i.a1]!;
  if (i.osz === 2 || c.vendor === 'amd') {
    c.pushOsz(v, i.osz);
    return;
  }
  // Intel: the stack pointer moves by the operand size, a 16-bit store at the new top
  const sp = c.spPlus(-i.osz);
  c.linear(SS, sp, i.osz, ACC_WRITE); // the whole slot must be within the stack segment
  c.write16(SS, sp, v);
  c.setSp(sp);
};

/** POP r/m, reg (16/32-bit). A memory destination addressed with ESP uses the incremented ESP. */
export const pop: Exec = (c, i) => {
  const v = c.pop(i.osz);
  c.wr1(i, v);
};

export const popSeg: Exec = (c, i) => {
  const v = i.osz === 8 ? c.popQ() : c.pop(i.osz);
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

/** PUSHF/PUSHFD/PUSHFQ: VM and RF read as 0 in the image. */
export const pushf: Exec = (c, i) => {
  c.fl.use(0x8d5); // the arithmetic flags
  const f = c.fl.get();
  if (i.osz === 2) c.push(f & 0xffff, 2);
  else c.pushOsz(f & 0x00fcffff, i.osz);
  c.flagsSaved(f);
};

/**
 * POPF/POPFD/POPFQ. Real mode and CPL 0: everything but VM, VIP, VIF (and RF, which is
 * cleared); IOPL only at CPL 0; IF only if CPL <= IOPL.
 */
export const popf: Exec = (c, i) => {
  let mask = ARITH | TF | DF | NT | AC | ID | IF | IOPL;
  if (c.pe) {
    if (c.cpl > 0) mask &= ~IOPL;
    if (c.cpl > ((c.fl.bits & IOPL) >> 12)) mask &= ~IF;
  }
  if (i.osz === 2) mask &= 0xffff;
  const at = c.segBase[SS]! + c.sp();
  const v = i.osz === 8 ? c.popQ() : c.pop(i.osz);
  const old = c.fl.get();
  c.fl.set((((old & ~mask) | (v & mask)) & ~RF) | FLAGS_FIXED1);
  c.flagsRestored(at, v);
  c.acChanged();
};

/** ENTER Iw,Ib */
export const enter: Exec = (c, i) => {
  const s = i.osz;
  const size = i.imm & 0xffff;
  const level = i.imm2 & 31;
  const m = c.stackMode;
  if (s === 8) pushRbp(c);
  else c.push(c.getReg(5, s), s);
  const frame = c.sp();
  if (level > 0) {
    let bp = m === 8 ? c.reg64(5) : m === 4 ? c.r32[I_EBP]! >>> 0 : c.r16[I_BP]!;
    for (let n = 1; n < level; n++) {
      bp = m === 8 ? bp - s : m === 4 ? (bp - s) >>> 0 : (bp - s) & 0xffff;
      if (s === 8) c.pushQ(c.readQ(SS, bp), c.qh);
      else c.push(c.readMem(SS, bp, s), s);
    }
    if (s === 8) c.pushQ(frame, Math.floor(frame / 4294967296));
    else c.push(frame, s);
  }
  const newSp = c.spPlus(-size);
  // the new stack top must be addressable (checked before anything is committed to EBP)
  c.linear(SS, newSp, 1, ACC_WRITE);
  if (s === 8) c.setReg64(5, frame);
  else c.setReg(5, s, frame);
  c.setSp(newSp);
};

function pushRbp(c: Machine): void {
  c.pushQ(c.r32[I_EBP]!, c.r32[I_EBP + 1]!);
}

/** LEAVE: (E/R)SP <- (E/R)BP; pop (E/R)BP */
export const leave: Exec = (c, i) => {
  const s = i.osz;
  const m = c.stackMode;
  const bp = m === 8 ? c.reg64(5) : m === 4 ? c.r32[I_EBP]! >>> 0 : c.r16[I_BP]!;
  if (s === 8) {
    const lo = c.readQ(SS, bp);
    const hi = c.qh;
    c.setSp(bp + 8);
    c.setQ(5, lo, hi);
    return;
  }
  const v = c.readMem(SS, bp, s);
  c.setSp(m === 8 ? bp + s : m === 4 ? (bp + s) >>> 0 : (bp + s) & 0xffff);
  c.setReg(5, s, v);
};
