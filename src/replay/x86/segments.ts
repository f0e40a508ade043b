// Protected-mode segmentation: descriptor reads from the GDT/LDT, segment register loads with
// their checks (the order and error codes of the SDM and of KVM's __load_segment_descriptor()),
// far JMP/CALL/RET (same privilege, and RET/IRET to an outer one), the TSS (stack pointers for
// privilege changes, the I/O permission bitmap), LTR/LLDT, and the descriptor cache bounds the
// fast path in Machine.linear() checks.
//
// Not implemented (reported `unsupported`): call gates, task gates and task switches.

import {
  CS, DS, ES, FS, GS, LDTR, SS, TR, TWO32, TWO48, VEC_GP, VEC_NP, VEC_SS, VEC_TS, VM,
} from './constants.js';
import type { Machine } from './machine.js';

/** A segment descriptor as read from a descriptor table. */
export interface Desc {
  /** the two dwords */
  lo: number;
  hi: number;
  /** linear address of the descriptor (for the accessed / busy bits) */
  addr: number;
  base: number;
  /** bits 63:32 of the base (16-byte system descriptors in long mode) */
  baseHi: number;
  /** byte-granular limit */
  limit: number;
  type: number;
  s: number;
  dpl: number;
  p: number;
  avl: number;
  l: number;
  db: number;
  g: number;
}

/** Linear address of `off` in a descriptor table with base (lo, hi): 48-bit in long mode. */
export function tableLinear(m: Machine, lo: number, hi: number, off: number): number {
  if (!m.lma) return (lo + off) >>> 0;
  const v = (hi | 0) * TWO32 + lo + off;
  return v < 0 ? v + TWO48 : v % TWO48;
}

function decodeDesc(lo: number, hi: number, addr: number): Desc {
  const raw = (lo & 0xffff) | (hi & 0xf0000);
  const g = (hi >>> 23) & 1;
  return {
    lo, hi, addr,
    base: ((lo >>> 16) | ((hi & 0xff) << 16) | (hi & 0xff000000)) >>> 0,
    baseHi: 0,
    limit: g ? ((raw << 12) | 0xfff) >>> 0 : raw,
    type: (hi >>> 8) & 0xf,
    s: (hi >>> 12) & 1,
    dpl: (hi >>> 13) & 3,
    p: (hi >>> 15) & 1,
    avl: (hi >>> 20) & 1,
    l: (hi >>> 21) & 1,
    db: (hi >>> 22) & 1,
    g,
  };
}

/**
 * Read the descriptor `sel` refers to. Beyond the table limit (or an LDT selector with no
 * usable LDT): fault `vec` with error code (sel & 0xfffc) | ext. `wide`: a 16-byte system
 * descriptor (long mode), whose bytes 8..11 are base bits 63:32.
 */
export function readDescriptor(m: Machine, sel: number, vec = VEC_GP, ext = 0, wide = false): Desc {
  const idx = sel & 0xfff8;
  let lo: number;
  let hi: number;
  let limit: number;
  if (sel & 4) {
    if (m.segAttr[LDTR]!.unusable || (m.sel[LDTR]! & 0xfffc) === 0) m.fault(vec, (sel & 0xfffc) | ext);
    lo = m.segBase[LDTR]!;
    hi = m.segBaseHi[LDTR]!;
    limit = m.segLimit[LDTR]!;
  } else {
    lo = m.gdtBase;
    hi = m.gdtBaseHi;
    limit = m.gdtLimit;
  }
  if (idx + (wide ? 15 : 7) > limit) m.fault(vec, (sel & 0xfffc) | ext);
  const addr = tableLinear(m, lo, hi, idx);
  const d = decodeDesc(m.readLinear(addr, 4), m.readLinear(tableLinear(m, lo, hi, idx + 4), 4), addr);
  if (wide) d.baseHi = m.readLinear(tableLinear(m, lo, hi, idx + 8), 4);
  return d;
}

/** Set the accessed bit of a code/data descriptor in memory (as the CPU and KVM do). */
function setAccessed(m: Machine, d: Desc): void {
  if (d.s && (d.type & 1) === 0) {
    d.type |= 1;
    d.hi |= 0x100;
    m.writeLinear(tableLinear(m, d.addr, 0, 4), 4, d.hi);
  }
}

/**
 * Recompute the fast-path bounds of segment s (Machine.linear): the highest offset a read /
 * write may touch (-1: never) and the lowest offset (expand-down). Real and virtual-8086
 * mode check only the cached limit.
 */
export function refreshSeg(m: Machine, s: number): void {
  const a = m.segAttr[s]!;
  const lim = m.segLimit[s]!;
  m.segBase64[s] = (m.segBaseHi[s]! | 0) * TWO32 + m.segBase[s]!;
  let maxR = lim;
  let maxW = lim;
  let min = 0;
  if (m.pe && (m.fl.bits & VM) === 0) {
    if (a.unusable || !a.present) {
      maxR = -1;
      maxW = -1;
    } else if (a.type & 8) {
      maxR = a.type & 2 ? lim : -1; // execute-only code cannot be read
      maxW = -1;
    } else if (a.type & 4) {
      // expand-down: offsets in (limit, upper], checked on Machine.linear()'s slow path
      const upper = a.db ? 0xffffffff : 0xffff;
      min = lim + 1;
      m.segDownMaxR[s] = upper;
      m.segDownMaxW[s] = a.type & 2 ? upper : -1;
      maxR = -1;
      maxW = -1;
    } else if ((a.type & 2) === 0) {
      maxW = -1;
    }
  }
  if (m.bits === 64) {
    // 64-bit mode: no limits; these bounds make Machine.linear() take its 64-bit path
    maxR = -Infinity;
    maxW = -Infinity;
    min = Infinity;
  }
  m.segMaxR[s] = maxR;
  m.segMaxW[s] = maxW;
  m.segMin[s] = min;
}

/** Load a segment register's cache from a descriptor. */
export function setSegCache(m: Machine, s: number, sel: number, d: Desc): void {
  m.sregsWritten = true;
  m.sel[s] = sel;
  m.segBase[s] = d.base;
  m.segBaseHi[s] = d.baseHi >>> 0;
  m.segLimit[s] = d.limit;
  const a = m.segAttr[s]!;
  a.type = d.type; a.present = d.p; a.dpl = d.dpl; a.db = d.db; a.s = d.s;
  a.l = d.l; a.g = d.g; a.avl = d.avl; a.unusable = d.p ? 0 : 1;
  refreshSeg(m, s);
}

/** A null selector in a data segment register: KVM loads an all-zero, unusable descriptor. */
function setNull(m: Machine, s: number, sel: number): void {
  m.sregsWritten = true;
  m.sel[s] = sel;
  m.segBase[s] = 0;
  m.segBaseHi[s] = 0;
  m.segLimit[s] = 0;
  const a = m.segAttr[s]!;
  a.type = 0; a.present = 0; a.dpl = 0; a.db = 0; a.s = 0; a.l = 0; a.g = 0; a.avl = 0; a.unusable = 1;
  refreshSeg(m, s);
}

/**
 * A null SS in 64-bit mode (RPL = CPL < 3): KVM fakes an expand-up 32-bit data segment with
 * DPL = CPL, since it tracks the CPL in SS.DPL.
 */
export function setNullSS64(m: Machine, sel: number, cpl: number): void {
  m.sregsWritten = true;
  m.sel[SS] = sel;
  m.segBase[SS] = 0;
  m.segBaseHi[SS] = 0;
  m.segLimit[SS] = 0xfff;
  const a = m.segAttr[SS]!;
  a.type = 3; a.present = 1; a.dpl = cpl; a.db = 1; a.s = 1; a.l = 0; a.g = 1; a.avl = 0; a.unusable = 0;
  refreshSeg(m, SS);
}

/** MOV/POP/LxS into ES, SS, DS, FS, GS in protected mode. */
export function loadDataSeg(m: Machine, s: number, sel: number): void {
  const rpl = sel & 3;
  const cpl = m.cpl;
  const err = sel & 0xfffc;
  if (err === 0) {
    if (s === SS) {
      if (m.bits !== 64 || rpl !== cpl) m.fault(VEC_GP, 0);
      setNullSS64(m, sel, cpl);
      m.updateMode();
      return;
    }
    setNull(m, s, sel);
    return;
  }
  const d = readDescriptor(m, sel);
  if (!d.s) m.fault(VEC_GP, err);
  if (s === SS) {
    if (rpl !== cpl || (d.type & 0xa) !== 0x2 || d.dpl !== cpl) m.fault(VEC_GP, err);
  } else if ((d.type & 0xa) === 0x8 || ((d.type & 0xc) !== 0xc && (rpl > d.dpl || cpl > d.dpl))) {
    m.fault(VEC_GP, err);
  }
  if (!d.p) m.fault(s === SS ? VEC_SS : VEC_NP, err);
  setAccessed(m, d);
  setSegCache(m, s, sel, d);
  if (s === SS) m.updateMode();
}

/** Code size a CS descriptor selects: 64 (long mode, L), 32 (D), 16. */
function codeBits(m: Machine, d: Desc): number {
  return m.lma && d.l ? 64 : d.db ? 32 : 16;
}

/**
 * Check a code segment descriptor for a far JMP/CALL (same privilege) and return it.
 * Conforming: DPL <= CPL; non-conforming: RPL <= CPL and DPL = CPL. Gates and TSSs are
 * reported unsupported.
 */
function farTarget(m: Machine, sel: number): Desc {
  const err = sel & 0xfffc;
  if (err === 0) m.fault(VEC_GP, 0);
  const d = readDescriptor(m, sel);
  if (!d.s) {
    const what = d.type === 4 || d.type === 0xc ? 'call gate' : d.type === 5 ? 'task gate' : d.type === 1 || d.type === 9 ? 'TSS (task switch)' : null;
    if (what) m.unsupported(`far transfer through a ${what}`);
    m.fault(VEC_GP, err);
  }
  if ((d.type & 8) === 0) m.fault(VEC_GP, err);
  if (d.type & 4) {
    if (d.dpl > m.cpl) m.fault(VEC_GP, err);
  } else if ((sel & 3) > m.cpl || d.dpl !== m.cpl) {
    m.fault(VEC_GP, err);
  }
  if (m.lma && d.l && d.db) m.fault(VEC_GP, err);
  if (!d.p) m.fault(VEC_NP, err);
  return d;
}

/** Load CS from a checked descriptor (RPL := CPL), set RIP and the derived mode. */
function enterCode(m: Machine, sel: number, d: Desc, off: number, offHi: number, cpl: number): void {
  const bits = codeBits(m, d);
  if (bits !== 64 && off > d.limit) m.fault(VEC_GP, 0);
  if (bits === 64 && offHi >> 15 !== 0 && offHi >> 15 !== -1) m.fault(VEC_GP, 0);
  setAccessed(m, d);
  setSegCache(m, CS, (sel & 0xfffc) | cpl, d);
  m.cpl = cpl;
  m.eip = off >>> 0;
  m.ripHi = bits === 64 ? offHi | 0 : 0;
  m.updateMode();
}

/** JMP far (ptr16:xx / m16:xx) in protected mode. */
export function farJump(m: Machine, sel: number, off: number, offHi: number): void {
  const d = farTarget(m, sel);
  enterCode(m, sel, d, off, offHi, m.cpl);
}

/** CALL far in protected mode: push CS and the return address (operand size), then jump. */
export function farCall(m: Machine, sel: number, off: number, offHi: number, osz: number): void {
  const d = farTarget(m, sel);
  const bits = codeBits(m, d);
  if (bits !== 64 && off > d.limit) m.fault(VEC_GP, 0);
  const cs = m.sel[CS]!;
  const ip = m.eip;
  const ipHi = m.ripHi;
  if (osz === 8) {
    m.pushQ(cs, 0);
    m.pushQ(ip, ipHi);
  } else {
    m.push(cs, osz);
    m.push(ip, osz);
  }
  enterCode(m, sel, d, off, offHi, m.cpl);
}

/** Pop a value of the operand size (2, 4, 8): low 32 bits returned, high half in m.qh. */
function popOsz(m: Machine, osz: number): number {
  if (osz === 8) return m.popQ();
  m.qh = 0;
  return m.pop(osz);
}

/**
 * Validate the SS selector of a return to an outer privilege level (RET far, IRET).
 * Returns the descriptor, or null for a null SS allowed in 64-bit mode.
 */
export function checkReturnSS(m: Machine, ss: number, rpl: number, to64: boolean): Desc | null {
  const err = ss & 0xfffc;
  if (err === 0) {
    if (to64 && rpl !== 3) return null;
    m.fault(VEC_GP, 0);
  }
  if ((ss & 3) !== rpl) m.fault(VEC_GP, err);
  const d = readDescriptor(m, ss);
  if (!d.s || (d.type & 0xa) !== 0x2 || d.dpl !== rpl) m.fault(VEC_GP, err);
  if (!d.p) m.fault(VEC_SS, err);
  return d;
}

/** Check the CS of a return (RET far, IRET): RPL >= CPL, code, DPL rules, present. */
export function checkReturnCS(m: Machine, cs: number): Desc {
  const err = cs & 0xfffc;
  if (err === 0) m.fault(VEC_GP, 0);
  const d = readDescriptor(m, cs);
  const rpl = cs & 3;
  if (rpl < m.cpl) m.fault(VEC_GP, err);
  if (!d.s || (d.type & 8) === 0) m.fault(VEC_GP, err);
  if (d.type & 4 ? d.dpl > rpl : d.dpl !== rpl) m.fault(VEC_GP, err);
  if (m.lma && d.l && d.db) m.fault(VEC_GP, err);
  if (!d.p) m.fault(VEC_NP, err);
  return d;
}

/** After a return to an outer level: data segments the new CPL may not use become null. */
export function nullInaccessible(m: Machine): void {
  for (const s of [ES, DS, FS, GS]) {
    const a = m.segAttr[s]!;
    if (a.unusable) continue;
    const dataOrNonConf = (a.type & 8) === 0 || (a.type & 4) === 0;
    if (dataOrNonConf && a.dpl < m.cpl) setNull(m, s, 0);
  }
}

/** RET far (RETF / RETF imm16) in protected mode. */
export function farReturn(m: Machine, osz: number, imm: number): void {
  const ip = popOsz(m, osz);
  const ipHi = m.qh;
  const cs = popOsz(m, osz) & 0xffff;
  const d = checkReturnCS(m, cs);
  const rpl = cs & 3;
  const bits = codeBits(m, d);
  if (rpl === m.cpl) {
    if (imm) m.setSp(m.spPlus(imm));
    enterCode(m, cs, d, ip, osz === 8 ? ipHi : 0, rpl);
    return;
  }
  // return to an outer privilege level: SS:ESP follow on the stack
  if (imm) m.setSp(m.spPlus(imm));
  const sp = popOsz(m, osz);
  const spHi = m.qh;
  const ss = popOsz(m, osz) & 0xffff;
  const sd = checkReturnSS(m, ss, rpl, bits === 64);
  if (bits !== 64 && ip > d.limit) m.fault(VEC_GP, 0);
  enterCode(m, cs, d, ip, osz === 8 ? ipHi : 0, rpl);
  if (sd) setSegCache(m, SS, ss, sd);
  else setNullSS64(m, ss, rpl);
  m.updateMode();
  if (m.stackMode === 8) m.setReg64(4, (osz === 8 ? spHi : 0) * TWO32 + (sp >>> 0));
  else m.setSp(sp);
  if (imm) m.setSp(m.spPlus(imm));
  nullInaccessible(m);
}

// ------------------------------------------------------------------ TSS

/** Stack for a privilege change to `dpl` from the current TSS (32-bit or 16-bit). */
export function tssStack(m: Machine, dpl: number, ext: number): { ss: number; sp: number } {
  const tr = m.segAttr[TR]!;
  const err = (m.sel[TR]! & 0xfffc) | ext;
  if (tr.unusable || !tr.present) m.fault(VEC_TS, err);
  const t32 = (tr.type & 8) !== 0;
  const off = t32 ? 4 + dpl * 8 : 2 + dpl * 4;
  if (off + (t32 ? 5 : 3) > m.segLimit[TR]!) m.fault(VEC_TS, err);
  const base = tableLinear(m, m.segBase[TR]!, 0, 0);
  if (t32) return { sp: m.readLinear(base + off, 4), ss: m.readLinear(base + off + 4, 2) };
  return { sp: m.readLinear(base + off, 2), ss: m.readLinear(base + off + 2, 2) };
}

/** 64-bit TSS: RSPn (ist = 0) or ISTn, as (lo, hi). */
export function tssStack64(m: Machine, dpl: number, ist: number, ext: number): { lo: number; hi: number } {
  const tr = m.segAttr[TR]!;
  const err = (m.sel[TR]! & 0xfffc) | ext;
  if (tr.unusable || !tr.present) m.fault(VEC_TS, err);
  const off = ist ? 0x24 + (ist - 1) * 8 : 4 + dpl * 8;
  if (off + 7 > m.segLimit[TR]!) m.fault(VEC_TS, err);
  const lo = m.segBase[TR]!;
  const hi = m.segBaseHi[TR]!;
  return { lo: m.readLinear(tableLinear(m, lo, hi, off), 4), hi: m.readLinear(tableLinear(m, lo, hi, off + 4), 4) | 0 };
}

/** Check a stack segment for an inner-privilege stack switch (#TS on failure). */
export function checkTssSS(m: Machine, ss: number, dpl: number, ext: number): Desc {
  const err = (ss & 0xfffc) | ext;
  if ((ss & 0xfffc) === 0) m.fault(VEC_TS, ext);
  const d = readDescriptor(m, ss, VEC_TS, ext);
  if ((ss & 3) !== dpl || d.dpl !== dpl || !d.s || (d.type & 0xa) !== 0x2) m.fault(VEC_TS, err);
  if (!d.p) m.fault(VEC_SS, err);
  return d;
}

/** I/O permission bitmap check (CPL > IOPL): #GP(0) unless every bit for the ports is 0. */
export function checkIoPermission(m: Machine, port: number, size: number): void {
  const tr = m.segAttr[TR]!;
  if (tr.unusable || !tr.present || (tr.type !== 9 && tr.type !== 0xb) || m.segLimit[TR]! < 0x67) m.fault(VEC_GP, 0);
  const lo = m.segBase[TR]!;
  const hi = m.segBaseHi[TR]!;
  const map = m.readLinear(tableLinear(m, lo, hi, 0x66), 2);
  const at = map + (port >>> 3);
  if (at + 1 > m.segLimit[TR]!) m.fault(VEC_GP, 0);
  const bits = m.readLinear(tableLinear(m, lo, hi, at), 2);
  const mask = ((1 << size) - 1) << (port & 7);
  if (bits & mask) m.fault(VEC_GP, 0);
}

// ------------------------------------------------------------------ LTR / LLDT

/** LLDT: a null selector leaves LDTR unusable. */
export function lldt(m: Machine, sel: number): void {
  const err = sel & 0xfffc;
  if (err === 0) {
    setNull(m, LDTR, sel);
    return;
  }
  if (sel & 4) m.fault(VEC_GP, err);
  const d = readDescriptor(m, sel, VEC_GP, 0, m.lma);
  if (d.s || d.type !== 2) m.fault(VEC_GP, err);
  if (!d.p) m.fault(VEC_NP, err);
  setSegCache(m, LDTR, sel, d);
}

/** LTR: an available TSS (16/32-bit; in long mode a 64-bit one), marked busy. */
export function ltr(m: Machine, sel: number): void {
  const err = sel & 0xfffc;
  if (err === 0 || (sel & 4)) m.fault(VEC_GP, err);
  const d = readDescriptor(m, sel, VEC_GP, 0, m.lma);
  if (d.s || (m.lma ? d.type !== 9 : d.type !== 1 && d.type !== 9)) m.fault(VEC_GP, err);
  if (!d.p) m.fault(VEC_NP, err);
  d.type |= 2;
  d.hi |= 0x200;
  m.writeLinear(tableLinear(m, d.addr, 0, 4), 4, d.hi);
  setSegCache(m, TR, sel, d);
}

// ------------------------------------------------------------------ LAR / LSL / VERR / VERW

/**
 * The descriptor `sel` names if LAR/LSL/VERR/VERW may look at it (no fault for a bad
 * selector: these instructions report it in ZF), else null.
 */
export function probeDescriptor(m: Machine, sel: number): Desc | null {
  if ((sel & 0xfffc) === 0) return null;
  const idx = sel & 0xfff8;
  let lo: number;
  let hi: number;
  let limit: number;
  if (sel & 4) {
    if (m.segAttr[LDTR]!.unusable) return null;
    lo = m.segBase[LDTR]!; hi = m.segBaseHi[LDTR]!; limit = m.segLimit[LDTR]!;
  } else {
    lo = m.gdtBase; hi = m.gdtBaseHi; limit = m.gdtLimit;
  }
  if (idx + 7 > limit) return null;
  const addr = tableLinear(m, lo, hi, idx);
  return decodeDesc(m.readLinear(addr, 4), m.readLinear(tableLinear(m, lo, hi, idx + 4), 4), addr);
}

/** Privilege rule shared by LAR/LSL/VERR/VERW: DPL >= CPL and >= RPL unless conforming code. */
export function visible(m: Machine, sel: number, d: Desc): boolean {
  if (d.s && (d.type & 0xc) === 0xc) return true;
  return d.dpl >= m.cpl && d.dpl >= (sel & 3);
}

