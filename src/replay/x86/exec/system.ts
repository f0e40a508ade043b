// System instructions: LGDT/LIDT/SGDT/SIDT, SMSW/LMSW, MOV to/from CRn and DRn, CLTS,
// INVLPG, RDMSR/WRMSR, SWAPGS, STAC/CLAC, and the protected-mode segment instructions
// SLDT/STR/LLDT/LTR/VERR/VERW/LAR/LSL/ARPL. Writes to CR0/CR4/EFER change the mode (entering
// protected mode, paging, long mode) through Machine.updateMode().

import * as K from '../constants.js';
import { K_MEM, K_R64, type Insn } from '../insn.js';
import type { Machine } from '../machine.js';
import { readMsr, swapgs as swapgsMsr, writeMsr } from '../msr.js';
import { rdtscp } from './nondet.js';
import type { Exec } from '../opdef.js';
import { lldt as lldtLoad, ltr as ltrLoad, probeDescriptor, visible } from '../segments.js';

// (local copies of the constants: constants.ts says why)
const {
  AC, CR0_CD, CR0_ET, CR0_NW, CR0_PE, CR0_PG, CR0_TS, CR0_WP, CR4_DE, CR4_LA57, CR4_PAE, CR4_PCIDE,
  CR4_PGE, CR4_PSE, CR4_SMAP, CR4_SMEP, CR4_UMIP, EFER_LMA, EFER_LME, I_EAX, I_ECX, I_EDX, LDTR,
  RF, TR, VEC_GP, VEC_UD, ZF,
} = K;

/** #UD in real and virtual-8086 mode (protected-mode-only instructions). */
function requirePm(c: Machine): void {
  if (!c.pe || c.v86) c.fault(VEC_UD);
}

/** Privileged instruction: #GP(0) at CPL > 0 (real mode is CPL 0). */
function requireCpl0(c: Machine): void {
  if (c.cpl !== 0) c.fault(VEC_GP);
}

/** CR4.UMIP: SGDT/SIDT/SLDT/SMSW/STR at CPL > 0 raise #GP(0). */
function umip(c: Machine): void {
  if ((c.cr4 & CR4_UMIP) !== 0 && c.cpl > 0) c.fault(VEC_GP);
}

// ------------------------------------------------------------------ descriptor-table registers

/** Pseudo-descriptor: limit, base (16-bit operand size: 24 bits; 64-bit mode: 64 bits). */
function readPseudoDesc(c: Machine, i: Insn): [number, number, number] {
  const off = c.ea(i);
  const limit = c.read16(i.seg, off);
  if (c.bits === 64) {
    const lo = c.readQ(i.seg, c.wrapAddr(i, off + 2));
    return [limit, lo, c.qh];
  }
  let base = c.read32(i.seg, c.wrapAddr(i, off + 2));
  if (i.osz === 2) base &= 0xffffff;
  return [limit, base >>> 0, 0];
}

function writePseudoDesc(c: Machine, i: Insn, limit: number, base: number, baseHi: number): void {
  const off = c.ea(i);
  c.checkWrite(i.seg, off, c.bits === 64 ? 10 : 6);
  c.write16(i.seg, off, limit);
  if (c.bits === 64) c.writeQ(i.seg, c.wrapAddr(i, off + 2), base, baseHi);
  // SDM: with a 16-bit operand size the high byte of the stored base is 0
  else c.write32(i.seg, c.wrapAddr(i, off + 2), i.osz === 2 ? base & 0xffffff : base);
}

export const lgdt: Exec = (c, i) => {
  requireCpl0(c);
  const [limit, base, hi] = readPseudoDesc(c, i);
  if (c.bits === 64 && hi >> 15 !== 0 && hi >> 15 !== -1) c.fault(VEC_GP);
  c.sregsWritten = true;
  c.gdtLimit = limit;
  c.gdtBase = base;
  c.gdtBaseHi = hi >>> 0;
};

export const lidt: Exec = (c, i) => {
  requireCpl0(c);
  const [limit, base, hi] = readPseudoDesc(c, i);
  if (c.bits === 64 && hi >> 15 !== 0 && hi >> 15 !== -1) c.fault(VEC_GP);
  c.sregsWritten = true;
  c.idtLimit = limit;
  c.idtBase = base;
  c.idtBaseHi = hi >>> 0;
};

export const sgdt: Exec = (c, i) => {
  umip(c);
  writePseudoDesc(c, i, c.gdtLimit, c.gdtBase, c.gdtBaseHi);
};

export const sidt: Exec = (c, i) => {
  umip(c);
  writePseudoDesc(c, i, c.idtLimit, c.idtBase, c.idtBaseHi);
};

// ------------------------------------------------------------------ CR0 via SMSW/LMSW/CLTS

/** SMSW Rv/Mw: a register gets CR0 (operand size, zero-extended), memory the low 16 bits. */
export const smsw: Exec = (c, i) => {
  umip(c);
  if (i.k1 === K_MEM) c.write16(i.seg, c.ea(i), c.cr0 & 0xffff);
  else if (i.k1 === K_R64) c.wrq1(i, c.cr0, 0);
  else c.wr1(i, c.cr0);
};

/** LMSW Ew: loads CR0 bits 3:0; PE can be set (entering protected mode) but not cleared. */
export const lmsw: Exec = (c, i) => {
  requireCpl0(c);
  const v = c.rd1(i) & 0xf;
  setCr0(c, ((c.cr0 & ~0xe) | v) >>> 0, 0);
};

export const clts: Exec = (c) => {
  requireCpl0(c);
  c.cr0 = (c.cr0 & ~CR0_TS) >>> 0;
  c.sregsWritten = true;
};

/**
 * Write CR0 (KVM's kvm_set_cr0 checks): bits 63:32 set, PG without PE, or NW without CD are
 * #GP(0); the other reserved bits are dropped and ET reads as 1. Setting PG with EFER.LME
 * activates long mode (needs CR4.PAE and CS.L = 0); clearing PG leaves it (not from 64-bit code).
 */
export function setCr0(c: Machine, value: number, hi: number): void {
  if (hi !== 0) c.fault(VEC_GP);
  const v = ((value | CR0_ET) & 0xe005003f) >>> 0;
  if ((v & CR0_PG) !== 0 && (v & CR0_PE) === 0) c.fault(VEC_GP);
  if ((v & CR0_NW) !== 0 && (v & CR0_CD) === 0) c.fault(VEC_GP);
  const old = c.cr0;
  let efer = c.efer;
  if ((old & CR0_PG) === 0 && (v & CR0_PG) !== 0 && (efer & EFER_LME) !== 0) {
    if ((c.cr4 & CR4_PAE) === 0) c.fault(VEC_GP);
    if (c.segAttr[1]!.l) c.fault(VEC_GP);
    efer |= EFER_LMA;
  }
  if ((old & CR0_PG) !== 0 && (v & CR0_PG) === 0) {
    if (c.bits === 64) c.fault(VEC_GP);
    if ((c.cr4 & CR4_PCIDE) !== 0) c.fault(VEC_GP);
    efer &= ~EFER_LMA;
  }
  c.cr0 = v;
  c.efer = efer;
  if (((old ^ v) & (CR0_PG | CR0_WP | CR0_PE)) !== 0) c.flushTlb();
  c.updateMode();
}

/** CR4 bits a guest may set (others are reserved: #GP(0)). */
const CR4_VALID = 0x1f | CR4_PAE | 0x40 | CR4_PGE | 0x100 | 0x200 | 0x400 | CR4_UMIP | CR4_LA57 | 0x10000 | CR4_PCIDE | 0x40000 | CR4_SMEP | CR4_SMAP | 0x400000;

function setCr4(c: Machine, v: number, hi: number): void {
  if (hi !== 0 || (v & ~CR4_VALID) !== 0) c.fault(VEC_GP);
  const old = c.cr4;
  if (c.lma && (v & CR4_PAE) === 0) c.fault(VEC_GP);
  if (c.lma && ((old ^ v) & CR4_LA57) !== 0) c.fault(VEC_GP);
  c.cr4 = v >>> 0;
  if (((old ^ v) & (CR4_PGE | CR4_PAE | CR4_PSE | CR4_SMEP | CR4_SMAP | CR4_PCIDE | CR4_LA57)) !== 0) c.flushTlb();
  c.updateMode();
}

/** Register operand of MOV CRn/DRn: 64-bit in 64-bit mode, else 32-bit. */
function crOperand(c: Machine, idx: number): [number, number] {
  return [c.r32[idx]! >>> 0, c.bits === 64 ? c.r32[idx + 1]! : 0];
}

function setCrOperand(c: Machine, idx: number, lo: number, hi: number): void {
  c.r32[idx] = lo;
  if (c.bits === 64) c.r32[idx + 1] = hi;
}

/** MOV r, CRn (0F 20) */
export const movFromCr: Exec = (c, i) => {
  requireCpl0(c);
  let lo: number;
  let hi = 0;
  switch (i.a2) {
    case 0: lo = c.cr0; hi = c.cr0Hi; break;
    case 2: lo = Number(c.cr2 & 0xffffffffn); hi = Number(c.cr2 >> 32n) | 0; break;
    case 3: lo = Number(c.cr3 & 0xffffffffn); hi = Number(c.cr3 >> 32n) | 0; break;
    case 4: lo = c.cr4; hi = c.cr4Hi; break;
    case 8:
      if (c.bits !== 64) return c.fault(VEC_UD);
      lo = Number(c.cr8 & 0xfn);
      break;
    default: return c.fault(VEC_UD);
  }
  setCrOperand(c, i.a1, lo, hi);
};

/** MOV CRn, r (0F 22) */
export const movToCr: Exec = (c, i) => {
  if (![0, 2, 3, 4].includes(i.a1) && !(i.a1 === 8 && c.bits === 64)) c.fault(VEC_UD);
  requireCpl0(c);
  const [v, hi] = crOperand(c, i.a2);
  c.sregsWritten = true;
  switch (i.a1) {
    case 0:
      setCr0(c, v, hi);
      return;
    case 2:
      c.cr2 = (BigInt(hi >>> 0) << 32n) | BigInt(v);
      return;
    case 3: {
      const max = c.features.maxPhysAddr;
      const full = (BigInt(hi >>> 0) << 32n) | BigInt(v);
      if (c.lma && full >> BigInt(max) !== 0n) c.fault(VEC_GP);
      c.cr3 = full;
      c.flushTlb();
      return;
    }
    case 4:
      setCr4(c, v, hi);
      return;
    case 8:
      if (hi !== 0 || (v & ~0xf) !== 0) c.fault(VEC_GP);
      c.cr8 = BigInt(v);
      return;
  }
};

// ------------------------------------------------------------------ debug registers (storage only)

/** DR4/DR5 alias DR6/DR7 unless CR4.DE (then #UD). */
function drIndex(c: Machine, n: number): number {
  if (n > 7) c.fault(VEC_UD);
  if (n === 4 || n === 5) {
    if (c.cr4 & CR4_DE) c.fault(VEC_UD);
    return n + 2;
  }
  return n;
}

/** MOV r, DRn: the stored value (breakpoints are not implemented). */
export const movFromDr: Exec = (c, i) => {
  requireCpl0(c);
  const n = drIndex(c, i.a2);
  setCrOperand(c, i.a1, c.dr[n]!, 0);
};

/** MOV DRn, r: stored; enabling a breakpoint in DR7 is reported unsupported. */
export const movToDr: Exec = (c, i) => {
  requireCpl0(c);
  const n = drIndex(c, i.a1);
  const [v, hi] = crOperand(c, i.a2);
  if ((n === 6 || n === 7) && hi !== 0) c.fault(VEC_GP);
  if (n === 7 && (v & 0xff) !== 0) c.unsupported('hardware breakpoints (DR7)');
  c.dr[n] = n === 6 ? (v | 0xffff0ff0) >>> 0 : n === 7 ? ((v | 0x400) & ~0x1000) >>> 0 : v;
};

// ------------------------------------------------------------------ MSRs, TLB, misc

export const rdmsr: Exec = (c) => {
  requireCpl0(c);
  const v = readMsr(c, c.r32[I_ECX]! >>> 0);
  // KVM writes EDX:EAX zero-extended to 64 bits
  c.r32[I_EAX] = Number(v & 0xffffffffn);
  c.r32[I_EAX + 1] = 0;
  c.r32[I_EDX] = Number(v >> 32n);
  c.r32[I_EDX + 1] = 0;
};

export const wrmsr: Exec = (c) => {
  requireCpl0(c);
  const v = (BigInt(c.r32[I_EDX]! >>> 0) << 32n) | BigInt(c.r32[I_EAX]! >>> 0);
  writeMsr(c, c.r32[I_ECX]! >>> 0, v);
};

export const invlpg: Exec = (c, i) => {
  requireCpl0(c);
  c.invlpg(c.ea(i));
};

/** INVD / WBINVD: privileged no-ops. */
export const cacheOp: Exec = (c) => requireCpl0(c);

/** 0F 01 /7 with mod = 3: SWAPGS (rm 0), RDTSCP (rm 1, nondet.ts). */
export const grp7reg7: Exec = (c, i) => {
  if ((i.rm & 7) === 0) {
    if (c.bits !== 64) c.fault(VEC_UD);
    requireCpl0(c);
    swapgsMsr(c);
    return;
  }
  if ((i.rm & 7) === 1) {
    rdtscp(c);
    return;
  }
  c.fault(VEC_UD);
};

/** 0F 01 /1 with mod = 3: CLAC (rm 2), STAC (rm 3); MONITOR/MWAIT and others unsupported. */
export const grp7reg1: Exec = (c, i) => {
  const rm = i.rm & 7;
  if (rm === 2 || rm === 3) {
    if (c.cpl > 0 || c.v86) c.fault(VEC_UD);
    if (rm === 2) c.fl.bits &= ~AC;
    else c.fl.bits |= AC;
    c.acChanged();
    return;
  }
  c.unsupported('MONITOR/MWAIT/ENCLS');
};

/** HLT: privileged in protected mode. */
export const hltPriv: Exec = (c) => {
  requireCpl0(c);
  c.halt();
};

// ------------------------------------------------------------------ protected-mode segment instructions

/** SLDT / STR: the selector (register: zero-extended to the operand size; memory: 16 bits). */
function storeSel(seg: number): Exec {
  return (c, i) => {
    requirePm(c);
    umip(c);
    const v = c.sel[seg]!;
    if (i.k1 === K_MEM) c.write16(i.seg, c.ea(i), v);
    else if (i.k1 === K_R64) c.wrq1(i, v, 0);
    else c.wr1(i, v);
  };
}
export const sldt = storeSel(LDTR);
export const str = storeSel(TR);

export const lldt: Exec = (c, i) => {
  requirePm(c);
  requireCpl0(c);
  lldtLoad(c, c.rd1(i) & 0xffff);
};

export const ltr: Exec = (c, i) => {
  requirePm(c);
  requireCpl0(c);
  ltrLoad(c, c.rd1(i) & 0xffff);
};

/** VERR / VERW: ZF = the segment is readable / writable at this privilege level. */
function verify(write: boolean): Exec {
  return (c, i) => {
    requirePm(c);
    const sel = c.rd1(i) & 0xffff;
    const d = probeDescriptor(c, sel);
    let ok = d !== null && d.s === 1 && visible(c, sel, d);
    if (ok && d) ok = write ? (d.type & 0xa) === 0x2 : (d.type & 0xa) !== 0x8;
    c.fl.assign(ZF, ok ? ZF : 0);
  };
}
export const verr = verify(false);
export const verw = verify(true);

/** System descriptor types LAR / LSL accept (legacy and long mode). */
function larType(c: Machine, type: number, lsl: boolean): boolean {
  if (c.lma) return lsl ? type === 2 || type === 9 || type === 0xb : type === 2 || type === 9 || type === 0xb || type === 0xc;
  const ok = [1, 2, 3, 9, 0xb];
  if (!lsl) ok.push(4, 5, 0xc);
  return ok.includes(type);
}

/** LAR / LSL: ZF = 1 and the access rights / limit if the descriptor is visible, else ZF = 0. */
function larLsl(lsl: boolean): Exec {
  return (c, i) => {
    requirePm(c);
    const sel = c.rd2(i) & 0xffff;
    const d = probeDescriptor(c, sel);
    const ok = d !== null && (d.s === 1 || larType(c, d.type, lsl)) && visible(c, sel, d);
    if (!ok || !d) {
      c.fl.assign(ZF, 0);
      return;
    }
    const v = lsl ? d.limit : (d.hi & 0x00f0ff00) >>> 0;
    if (i.k1 === K_R64) c.wrq1(i, v, 0);
    else c.wr1(i, i.osz === 2 ? v & 0xffff : v);
    c.fl.assign(ZF, ZF);
  };
}
export const lar = larLsl(false);
export const lsl = larLsl(true);

/** ARPL Ew,Gw (protected mode): raise the destination's RPL to the source's. */
export const arpl: Exec = (c, i) => {
  requirePm(c);
  const d = c.rd1(i);
  const s = c.rd2(i);
  if ((d & 3) < (s & 3)) {
    c.wr1(i, (d & ~3) | (s & 3));
    c.fl.assign(ZF, ZF);
  } else {
    c.fl.assign(ZF, 0);
  }
};

// ------------------------------------------------------------------ SYSCALL / SYSRET

/** Flat code/data caches SYSCALL/SYSRET load (the descriptors in the GDT are not read). */
function flatSeg(c: Machine, s: number, sel: number, code: boolean, long: boolean, dpl: number): void {
  c.sregsWritten = true;
  c.sel[s] = sel;
  c.segBase[s] = 0;
  c.segBaseHi[s] = 0;
  c.segLimit[s] = 0xffffffff;
  const a = c.segAttr[s]!;
  a.type = code ? 0xb : 3; a.s = 1; a.dpl = dpl; a.present = 1; a.g = 1; a.avl = 0; a.unusable = 0;
  a.l = code && long ? 1 : 0;
  a.db = code && long ? 0 : 1;
}

/** SYSCALL (long mode, EFER.SCE): RCX <- RIP, R11 <- RFLAGS, CS/SS from STAR, RIP <- LSTAR/CSTAR. */
export const syscall: Exec = (c) => {
  if (!c.lma || (c.efer & 1) === 0) c.fault(VEC_UD);
  const star = readMsr(c, 0xc0000081);
  const sel = Number((star >> 32n) & 0xffffn);
  const target = readMsr(c, c.bits === 64 ? 0xc0000082 : 0xc0000083);
  const mask = Number(readMsr(c, 0xc0000084) & 0xffffffffn);
  const flags = c.fl.get();
  c.setQ(1, c.eip, c.ripHi);
  c.setQ(11, flags & ~RF, 0);
  flatSeg(c, 1, sel & 0xfffc, true, true, 0);
  flatSeg(c, 2, (sel + 8) & 0xfffc, false, true, 0);
  c.cpl = 0;
  c.fl.set((flags & ~mask & ~RF) | 2);
  c.updateMode();
  c.eip = Number(target & 0xffffffffn);
  c.ripHi = Number(target >> 32n) | 0;
};

/** SYSRET (CPL 0): to 64-bit code (REX.W) at RCX or compatibility code at ECX, RFLAGS <- R11, CPL 3. */
export const sysret: Exec = (c, i) => {
  if (!c.lma || (c.efer & 1) === 0) c.fault(VEC_UD);
  if (c.cpl !== 0) c.fault(VEC_GP);
  const star = readMsr(c, 0xc0000081);
  const sel = Number((star >> 48n) & 0xffffn);
  const to64 = i.osz === 8;
  const lo = c.r32[2]! >>> 0;
  const hi = c.r32[3]!;
  if (to64 && hi >> 15 !== 0 && hi >> 15 !== -1) c.fault(VEC_GP);
  flatSeg(c, 1, ((to64 ? sel + 16 : sel) & 0xfffc) | 3, true, to64, 3);
  flatSeg(c, 2, ((sel + 8) & 0xfffc) | 3, false, false, 3);
  c.cpl = 3;
  c.fl.set(((c.r32[22]! & 0x3c7fd7) | 2) >>> 0);
  c.updateMode();
  c.eip = lo;
  c.ripHi = to64 ? hi : 0;
};
