// String instructions with REP/REPE/REPNE, both directions, 16/32-bit address size.
//
// REP semantics are those of KVM's instruction emulator (arch/x86/kvm/emulate.c,
// x86_emulate_insn), which is what executes every guest instruction on the recording hosts.
// One *step* (one run()/step() unit, one single-step record) is one emulation:
//
// - (E)CX = 0 at the start: the instruction completes (RIP past it, RF clear), nothing else;
// - otherwise RF is set and iterations run until one of:
//   - REPE/REPNE CMPS/SCAS whose ZF condition ends the repetition: the instruction completes
//     (RIP past it, RF clear) even if (E)CX is not 0;
//   - an iteration did port IO or MMIO (the exit);
//   - (RCX & 0x3ff) = 0 after an iteration (KVM re-enters the guest every 1024 iterations; this
//     includes RCX reaching 0);
//   and in these last three cases RIP stays at the instruction with RF set, so the next step
//   continues it, or, with the count exhausted, completes it.
// - INS reads ahead like KVM's pio_in_emulated(): one step does all the iterations one port
//   read-ahead covers (n = min(RCX, page room of RDI, 1024 / size), see insCount), then stops.
//   Where the destination is not RAM (measured, docs/exit-semantics.md "String IO at the end
//   of RAM"): with DF=0 KVM writes the whole batch as one block, its MMIO part as MMIO writes
//   of at most 8 bytes per page, after the IO exit; with DF=1 (and without REP) the items are
//   written one by one, and the first one that touches MMIO ends the step after its iteration:
//   the rest of the batch was read from the port but is dropped (the next step reads anew).
// Without a REP prefix a string instruction is an ordinary one-step instruction.

import * as K from '../constants.js';
import { REP_F2, REP_NONE, type Insn } from '../insn.js';
import type { Machine } from '../machine.js';
import type { Exec } from '../opdef.js';

// (local copies of the constants: constants.ts says why)
const { DF, DS, ES, I_CX, I_DI, I_DX, I_ECX, I_EDI, I_ESI, I_SI, RF, STOP_MMIO } = K;

function getSI(c: Machine, i: Insn): number {
  return i.asz === 2 ? c.r16[I_SI]! : i.asz === 4 ? c.r32[I_ESI]! >>> 0 : c.reg64(6);
}
function getDI(c: Machine, i: Insn): number {
  return i.asz === 2 ? c.r16[I_DI]! : i.asz === 4 ? c.r32[I_EDI]! >>> 0 : c.reg64(7);
}
function setSI(c: Machine, i: Insn, v: number): void {
  if (i.asz === 2) c.r16[I_SI] = v; else if (i.asz === 4) c.w32(I_ESI, v); else c.setReg64(6, v);
}
function setDI(c: Machine, i: Insn, v: number): void {
  if (i.asz === 2) c.r16[I_DI] = v; else if (i.asz === 4) c.w32(I_EDI, v); else c.setReg64(7, v);
}
/** (E/R)CX as an unsigned count (RCX beyond 2^53 is not exact; such a count never ends anyway). */
function getCount(c: Machine, i: Insn): number {
  if (i.asz === 2) return c.r16[I_CX]!;
  if (i.asz === 4) return c.r32[I_ECX]! >>> 0;
  return (c.r32[I_ECX + 1]! >>> 0) * 4294967296 + (c.r32[I_ECX]! >>> 0);
}
function setCount(c: Machine, i: Insn, v: number): void {
  if (i.asz === 2) c.r16[I_CX] = v; else if (i.asz === 4) c.w32(I_ECX, v); else c.setReg64(1, v);
}
function step(c: Machine, s: number): number {
  return c.fl.bits & DF ? -s : s;
}
/** Source segment: DS unless overridden (the ES:rDI destination cannot be overridden). */
function srcSeg(i: Insn): number {
  return i.segOvr >= 0 ? i.segOvr : DS;
}

type Iter = (c: Machine, i: Insn, s: number, d: number) => void;

function decCount(i: Insn, n: number, k: number): number {
  return i.asz === 2 ? (n - k) & 0xffff : i.asz === 4 ? (n - k) >>> 0 : n - k;
}

/**
 * KVM's string_registers_quirk(): with a 32-bit address size, (E)CX = 0 and a guest CPUID
 * vendor of GenuineIntel, KVM clears RCX bits 63:32, and those of RDI (STOS, MOVS) and RSI
 * (MOVS), imitating Intel CPUs.
 */
function stringRegistersQuirk(c: Machine, i: Insn): void {
  if (i.asz !== 4 || !c.guestIntel) return;
  c.r32[I_ECX + 1] = 0;
  const op = i.op;
  if (op === 0xa4 || op === 0xa5) c.r32[I_ESI + 1] = 0;
  if (op === 0xa4 || op === 0xa5 || op === 0xaa || op === 0xab) c.r32[I_EDI + 1] = 0;
}

/**
 * One step of a string instruction: once without REP, else as described at the top of the
 * file. `compares`: REPE/REPNE end on ZF (CMPS, SCAS).
 */
function repeat(c: Machine, i: Insn, iter: Iter, compares: boolean): void {
  const s = i.s1 || i.s2;
  const d = step(c, s);
  if (i.rep === REP_NONE) {
    iter(c, i, s, d);
    return;
  }
  let n = getCount(c, i);
  if (n === 0) {
    // completes: RIP is already past it, RF was cleared
    stringRegistersQuirk(c, i);
    return;
  }
  c.fl.bits |= RF;
  for (;;) {
    iter(c, i, s, d);
    n = decCount(i, n, 1);
    setCount(c, i, n);
    if (compares && (c.fl.zf() !== 0) === (i.rep === REP_F2)) {
      c.fl.bits &= ~RF; // string_insn_completed(): done, RIP advances
      return;
    }
    if (c.stop !== 0 || (n & 0x3ff) === 0) {
      c.repStop();
      return;
    }
  }
}

const movsIter: Iter = (c, i, s, d) => {
  const si = getSI(c, i);
  const di = getDI(c, i);
  if (s === 8) c.writeQ(ES, di, c.readQ(srcSeg(i), si), c.qh);
  else c.writeMem(ES, di, s, c.readMem(srcSeg(i), si, s));
  setSI(c, i, si + d);
  setDI(c, i, di + d);
};

const stosIter: Iter = (c, i, s, d) => {
  const di = getDI(c, i);
  if (s === 8) c.writeQ(ES, di, c.r32[0]!, c.r32[1]!);
  else c.writeMem(ES, di, s, c.getReg(0, s));
  setDI(c, i, di + d);
};

const lodsIter: Iter = (c, i, s, d) => {
  const si = getSI(c, i);
  if (s === 8) c.setQ(0, c.readQ(srcSeg(i), si), c.qh);
  else c.setReg(0, s, c.readMem(srcSeg(i), si, s));
  setSI(c, i, si + d);
};

const cmpsIter: Iter = (c, i, s, d) => {
  const si = getSI(c, i);
  const di = getDI(c, i);
  if (s === 8) {
    const al = c.readQ(srcSeg(i), si), ah = c.qh;
    const bl = c.readQ(ES, di);
    c.fl.sub64(al, ah, bl, c.qh);
  } else {
    const a = c.readMem(srcSeg(i), si, s);
    const b = c.readMem(ES, di, s);
    c.fl.sub(a, b, s);
  }
  setSI(c, i, si + d);
  setDI(c, i, di + d);
};

const scasIter: Iter = (c, i, s, d) => {
  const di = getDI(c, i);
  if (s === 8) {
    const bl = c.readQ(ES, di);
    c.fl.sub64(c.r32[0]! >>> 0, c.r32[1]!, bl, c.qh);
  } else {
    const b = c.readMem(ES, di, s);
    c.fl.sub(c.getReg(0, s), b, s);
  }
  setDI(c, i, di + d);
};

export const movs: Exec = (c, i) => repeat(c, i, movsIter, false);
export const stos: Exec = (c, i) => repeat(c, i, stosIter, false);
export const lods: Exec = (c, i) => repeat(c, i, lodsIter, false);
export const cmps: Exec = (c, i) => repeat(c, i, cmpsIter, true);
export const scas: Exec = (c, i) => repeat(c, i, scasIter, true);

/**
 * Iterations one REP INS step performs: KVM's pio read-ahead,
 * n = min3(in_page, sizeof(read_cache.data) / size, count) with in_page computed from the
 * *register* RDI (not the linear address): DF=0: PAGE_SIZE - offset_in_page(RDI), DF=1:
 * offset_in_page(RDI) (both in bytes, not divided by the size); n = 0 becomes 1.
 */
function insCount(c: Machine, count: number, s: number): number {
  const off = c.r32[I_EDI]! & 0xfff;
  const inPage = c.fl.bits & DF ? off : 0x1000 - off;
  const n = Math.min(inPage, 1024 / s, count);
  return n === 0 ? 1 : n;
}

/** OUTS: one iteration per step. INS: the iterations of one read-ahead per step. */
function ioString(c: Machine, i: Insn, out: boolean): void {
  const s = (out ? i.s2 : i.s1) as 1 | 2 | 4;
  const d = step(c, s);
  const port = c.r16[I_DX]!;
  let n = 1;
  if (i.rep !== REP_NONE) {
    n = getCount(c, i);
    if (n === 0) return;
    c.fl.bits |= RF;
  }
  if (out) {
    const si = getSI(c, i);
    c.ioOut(port, s, c.readMem(srcSeg(i), si, s));
    setSI(c, i, si + d);
  } else {
    const k = i.rep !== REP_NONE ? insCount(c, n, s) : 1;
    // check every destination before the port is read (no side effect if one faults)
    const di = getDI(c, i);
    const offs: number[] = [];
    for (let j = 0; j < k; j++) offs.push(c.wrapAddr(i, di + j * d));
    for (let j = 0; j < k; j++) c.checkWrite(ES, offs[j]!, s);
    const values: number[] = [];
    for (let j = 0; j < k; j++) values.push(c.ioIn(port, s));
    let done = k;
    if (i.rep !== REP_NONE && d > 0) {
      c.writeBlock(ES, offs, s, values); // KVM: OP_MEM_STR, one block write
    } else {
      for (let j = 0; j < k; j++) {
        c.writeMem(ES, offs[j]!, s, values[j]!);
        if ((c.stop & STOP_MMIO) !== 0) {
          done = j + 1; // an MMIO write exits; the rest of the read-ahead is dropped
          break;
        }
      }
    }
    setDI(c, i, c.wrapAddr(i, di + done * d));
    n = decCount(i, n, done - 1);
  }
  if (i.rep !== REP_NONE) {
    setCount(c, i, decCount(i, n, 1));
    c.repStop(); // every step of REP INS/OUTS is an IO exit: RIP stays, even with (E)CX = 0
  }
}

export const ins: Exec = (c, i) => ioString(c, i, false);
export const outs: Exec = (c, i) => ioString(c, i, true);
