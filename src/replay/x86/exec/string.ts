// String instructions with REP/REPE/REPNE, both directions, 16/32-bit address size.
//
// Granularity: MOVS/STOS/LODS/CMPS/SCAS run all their iterations within one instruction,
// unless an iteration touches MMIO: then the instruction stops after that iteration (RIP
// stays at the instruction while the count is not exhausted) so run() can report the exit.
// INS/OUTS always do one iteration per execution (every iteration is a port IO exit).

import { ACC_WRITE, DF, DS, ES, I_CX, I_DI, I_DX, I_ECX, I_EDI, I_ESI, I_SI } from '../constants.js';
import { REP_F2, REP_NONE, type Insn } from '../insn.js';
import type { Machine } from '../machine.js';
import type { Exec } from '../opdef.js';

function getSI(c: Machine, i: Insn): number {
  return i.asz === 2 ? c.r16[I_SI]! : c.r32[I_ESI]! >>> 0;
}
function getDI(c: Machine, i: Insn): number {
  return i.asz === 2 ? c.r16[I_DI]! : c.r32[I_EDI]! >>> 0;
}
function setSI(c: Machine, i: Insn, v: number): void {
  if (i.asz === 2) c.r16[I_SI] = v; else c.r32[I_ESI] = v;
}
function setDI(c: Machine, i: Insn, v: number): void {
  if (i.asz === 2) c.r16[I_DI] = v; else c.r32[I_EDI] = v;
}
function getCount(c: Machine, i: Insn): number {
  return i.asz === 2 ? c.r16[I_CX]! : c.r32[I_ECX]! >>> 0;
}
function setCount(c: Machine, i: Insn, v: number): void {
  if (i.asz === 2) c.r16[I_CX] = v; else c.r32[I_ECX] = v;
}
function step(c: Machine, s: number): number {
  return c.fl.bits & DF ? -s : s;
}
/** Source segment: DS unless overridden (the ES:rDI destination cannot be overridden). */
function srcSeg(i: Insn): number {
  return i.segOvr >= 0 ? i.segOvr : DS;
}

type Iter = (c: Machine, i: Insn, s: number, d: number) => void;

/**
 * Run `iter` once, or (E)CX times with a REP prefix; `cond` says whether a REPE/REPNE
 * instruction continues after an iteration.
 */
function repeat(c: Machine, i: Insn, iter: Iter, compares: boolean): void {
  const s = i.s1 || i.s2;
  const d = step(c, s);
  if (i.rep === REP_NONE) {
    iter(c, i, s, d);
    return;
  }
  let n = getCount(c, i);
  while (n !== 0) {
    iter(c, i, s, d);
    n = i.asz === 2 ? (n - 1) & 0xffff : (n - 1) >>> 0;
    setCount(c, i, n);
    if (compares && (c.fl.zf() !== 0) === (i.rep === REP_F2)) return;
    if (c.stop !== 0) {
      if (n !== 0) c.interruptRep();
      return;
    }
  }
}

const movsIter: Iter = (c, i, s, d) => {
  const si = getSI(c, i);
  const di = getDI(c, i);
  c.writeMem(ES, di, s, c.readMem(srcSeg(i), si, s));
  setSI(c, i, si + d);
  setDI(c, i, di + d);
};

const stosIter: Iter = (c, i, s, d) => {
  const di = getDI(c, i);
  c.writeMem(ES, di, s, c.getReg(0, s));
  setDI(c, i, di + d);
};

const lodsIter: Iter = (c, i, s, d) => {
  const si = getSI(c, i);
  c.setReg(0, s, c.readMem(srcSeg(i), si, s));
  setSI(c, i, si + d);
};

const cmpsIter: Iter = (c, i, s, d) => {
  const si = getSI(c, i);
  const di = getDI(c, i);
  const a = c.readMem(srcSeg(i), si, s);
  const b = c.readMem(ES, di, s);
  c.fl.sub(a, b, s);
  setSI(c, i, si + d);
  setDI(c, i, di + d);
};

const scasIter: Iter = (c, i, s, d) => {
  const di = getDI(c, i);
  const b = c.readMem(ES, di, s);
  c.fl.sub(c.getReg(0, s), b, s);
  setDI(c, i, di + d);
};

export const movs: Exec = (c, i) => repeat(c, i, movsIter, false);
export const stos: Exec = (c, i) => repeat(c, i, stosIter, false);
export const lods: Exec = (c, i) => repeat(c, i, lodsIter, false);
export const cmps: Exec = (c, i) => repeat(c, i, cmpsIter, true);
export const scas: Exec = (c, i) => repeat(c, i, scasIter, true);

/** One INS/OUTS iteration per execution; with REP, RIP stays until the count is exhausted. */
function ioString(c: Machine, i: Insn, out: boolean): void {
  const s = (out ? i.s2 : i.s1) as 1 | 2 | 4;
  let n = 0;
  if (i.rep !== REP_NONE) {
    n = getCount(c, i);
    if (n === 0) return;
  }
  const d = step(c, s);
  const port = c.r16[I_DX]!;
  if (out) {
    const si = getSI(c, i);
    c.ioOut(port, s, c.readMem(srcSeg(i), si, s));
    setSI(c, i, si + d);
  } else {
    const di = getDI(c, i);
    c.linear(ES, di, s, ACC_WRITE); // check the destination before the port is read
    c.writeMem(ES, di, s, c.ioIn(port, s));
    setDI(c, i, di + d);
  }
  if (i.rep !== REP_NONE) {
    n = i.asz === 2 ? (n - 1) & 0xffff : (n - 1) >>> 0;
    setCount(c, i, n);
    if (n !== 0) c.interruptRep();
  }
}

export const ins: Exec = (c, i) => ioString(c, i, false);
export const outs: Exec = (c, i) => ioString(c, i, true);
