// Control transfer: JMP/CALL/RET near and far, Jcc, LOOPcc, JCXZ, INT n/INT3/INTO/INT1,
// IRET, BOUND.

import {
  CS, FLAGS_FIXED1, I_CX, I_ECX, IOPL, NT, AC, ARITH, DF, ID, IF, RF, TF, VEC_BP, VEC_BR, VEC_DB,
  VEC_GP, VEC_OF, sext,
} from '../constants.js';
import type { Insn } from '../insn.js';
import type { Machine } from '../machine.js';
import type { Exec } from '../opdef.js';

/** Wrap a branch target to the operand size. */
function ipWrap(i: Insn, v: number): number {
  return i.osz === 2 ? v & 0xffff : v >>> 0;
}

/** JMP rel8/rel16/rel32 */
export const jmpRel: Exec = (c, i) => c.jump(ipWrap(i, c.eip + i.imm));

/** Jcc rel */
export const jcc: Exec = (c, i) => {
  if (c.fl.cond(i.op & 15)) c.jump(ipWrap(i, c.eip + i.imm));
};

/** CALL rel16/rel32 */
export const callRel: Exec = (c, i) => {
  const t = ipWrap(i, c.eip + i.imm);
  if (t > c.segLimit[CS]!) c.fault(VEC_GP);
  c.push(c.eip, i.osz);
  c.eip = t;
};

/** JMP r/m */
export const jmpInd: Exec = (c, i) => c.jump(c.rd1(i));

/** CALL r/m */
export const callInd: Exec = (c, i) => {
  const t = c.rd1(i);
  if (t > c.segLimit[CS]!) c.fault(VEC_GP);
  c.push(c.eip, i.osz);
  c.eip = t;
};

/** RET / RET imm16 */
export const ret: Exec = (c, i) => {
  const t = c.pop(i.osz);
  if (i.k1 !== 0) c.setSp(c.stack32 ? c.sp() + i.imm : (c.sp() + i.imm) & 0xffff);
  c.jump(t);
};

/** JMP ptr16:16/32 */
export const jmpFar: Exec = (c, i) => c.jumpFar(i.imm2, i.imm);

/** CALL ptr16:16/32 */
export const callFar: Exec = (c, i) => {
  if (i.imm > c.segLimit[CS]!) c.fault(VEC_GP);
  c.push(c.sel[CS]!, i.osz);
  c.push(c.eip, i.osz);
  c.jumpFar(i.imm2, i.imm);
};

function readFarPtr(c: Machine, i: Insn): [number, number] {
  const off = c.ea(i);
  const ip = c.readMem(i.seg, off, i.osz);
  const sel = c.read16(i.seg, c.wrapAddr(i, off + i.osz));
  return [sel, ip];
}

/** JMP m16:16/32 */
export const jmpFarInd: Exec = (c, i) => {
  const [sel, ip] = readFarPtr(c, i);
  c.jumpFar(sel, ip);
};

/** CALL m16:16/32 */
export const callFarInd: Exec = (c, i) => {
  const [sel, ip] = readFarPtr(c, i);
  if (ip > c.segLimit[CS]!) c.fault(VEC_GP);
  c.push(c.sel[CS]!, i.osz);
  c.push(c.eip, i.osz);
  c.jumpFar(sel, ip);
};

/** RETF / RETF imm16 */
export const retf: Exec = (c, i) => {
  const ip = c.pop(i.osz);
  const sel = c.pop(i.osz) & 0xffff;
  if (i.k1 !== 0) c.setSp(c.stack32 ? c.sp() + i.imm : (c.sp() + i.imm) & 0xffff);
  c.jumpFar(sel, ip);
};

/** Count register of LOOP/JCXZ: CX or ECX by address size. */
function count(c: Machine, i: Insn): number {
  return i.asz === 2 ? c.r16[I_CX]! : c.r32[I_ECX]! >>> 0;
}

function decCount(c: Machine, i: Insn): number {
  if (i.asz === 2) return (c.r16[I_CX] = c.r16[I_CX]! - 1);
  c.r32[I_ECX] = c.r32[I_ECX]! - 1;
  return c.r32[I_ECX]!;
}

export const loop: Exec = (c, i) => {
  if (decCount(c, i) !== 0) c.jump(ipWrap(i, c.eip + i.imm));
};

export const loope: Exec = (c, i) => {
  if (decCount(c, i) !== 0 && c.fl.zf() !== 0) c.jump(ipWrap(i, c.eip + i.imm));
};

export const loopne: Exec = (c, i) => {
  if (decCount(c, i) !== 0 && c.fl.zf() === 0) c.jump(ipWrap(i, c.eip + i.imm));
};

export const jcxz: Exec = (c, i) => {
  if (count(c, i) === 0) c.jump(ipWrap(i, c.eip + i.imm));
};

export const int: Exec = (c, i) => c.softInt(i.imm & 0xff);
export const int3: Exec = (c) => c.softInt(VEC_BP);
export const int1: Exec = (c) => c.softInt(VEC_DB);
export const into: Exec = (c) => {
  if (c.fl.of()) c.softInt(VEC_OF);
};

/** Flags IRET may load in real mode (VM, VIF, VIP keep their values). */
const IRET_MASK = ARITH | TF | IF | DF | IOPL | NT | RF | AC | ID;

/** IRET/IRETD (real mode): pop IP, CS, FLAGS. */
export const iret: Exec = (c, i) => {
  const s = i.osz;
  const ip = c.pop(s);
  const sel = c.pop(s) & 0xffff;
  const f = c.pop(s);
  if (s === 4 && ip > 0xffff) c.fault(VEC_GP);
  const old = c.fl.get();
  const mask = s === 2 ? IRET_MASK & 0xffff : IRET_MASK;
  c.jumpFar(sel, ip);
  c.fl.set((old & ~mask) | (f & mask) | FLAGS_FIXED1);
};

/** BOUND Gv,Ma: #BR unless lower <= index <= upper (signed). */
export const bound: Exec = (c, i) => {
  const s = i.osz;
  const idx = sext(c.rd1(i), s);
  const off = c.ea(i);
  const lo = sext(c.readMem(i.seg, off, s), s);
  const hi = sext(c.readMem(i.seg, c.wrapAddr(i, off + s), s), s);
  if (idx < lo || idx > hi) c.fault(VEC_BR);
};
