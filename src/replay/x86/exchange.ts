// Conversion between the exchange format (Regs/Sregs with bigints, cpu-state.ts) and the
// machine's number-based state. Not on the hot path.

import { REG_NAMES, type Regs, type Segment, type Sregs } from '../../cpu-state.js';
import { FLAGS_FIXED1, SEG_COUNT } from './constants.js';
import type { Machine } from './machine.js';

/** REG_NAMES order (rax rbx rcx rdx rsi rdi rsp rbp r8..r15) -> encoding number. */
const GPR_NUM: Record<string, number> = {
  rax: 0, rcx: 1, rdx: 2, rbx: 3, rsp: 4, rbp: 5, rsi: 6, rdi: 7,
  r8: 8, r9: 9, r10: 10, r11: 11, r12: 12, r13: 13, r14: 14, r15: 15,
};
const SEG_KEYS = ['es', 'cs', 'ss', 'ds', 'fs', 'gs', 'tr', 'ldt'] as const;
const M32 = 0xffffffffn;

const lo = (v: bigint): number => Number(v & M32);
const hi = (v: bigint): number => Number((v >> 32n) & M32);
const join = (l: number, h: number): bigint => (BigInt(h >>> 0) << 32n) | BigInt(l >>> 0);

export function loadState(m: Machine, regs: Regs, sregs: Sregs): void {
  loadRegs(m, regs);
  for (let s = 0; s < SEG_COUNT; s++) {
    const g: Segment = sregs[SEG_KEYS[s]!];
    const base = BigInt.asUintN(64, g.base);
    m.sel[s] = g.selector;
    m.segBase[s] = lo(base);
    m.segBaseHi[s] = hi(base);
    m.segLimit[s] = g.limit >>> 0;
    const a = m.segAttr[s]!;
    a.type = g.type; a.present = g.present; a.dpl = g.dpl; a.db = g.db; a.s = g.s;
    a.l = g.l; a.g = g.g; a.avl = g.avl; a.unusable = g.unusable;
  }
  m.cr0 = lo(sregs.cr0);
  m.cr0Hi = hi(sregs.cr0);
  m.cr2 = sregs.cr2;
  m.cr3 = sregs.cr3;
  m.cr4 = lo(sregs.cr4);
  m.cr4Hi = hi(sregs.cr4);
  m.cr8 = sregs.cr8;
  m.efer = Number(BigInt.asUintN(32, sregs.efer));
  m.apicBase = sregs.apic_base;
  m.gdtBase = lo(sregs.gdt.base);
  m.gdtBaseHi = hi(sregs.gdt.base);
  m.gdtLimit = sregs.gdt.limit;
  m.idtBase = lo(sregs.idt.base);
  m.idtBaseHi = hi(sregs.idt.base);
  m.idtLimit = sregs.idt.limit;
  // KVM keeps the CPL in SS.DPL (protected mode); real mode is CPL 0, virtual-8086 mode CPL 3
  m.cpl = (m.cr0 & 1) !== 0 ? m.segAttr[2]!.dpl : 0;
  m.flushTlb();
  m.updateMode();
  m.acChanged();
}

/** The general registers, RIP and RFLAGS (the caller updates what depends on them: updateMode). */
export function loadRegs(m: Machine, regs: Regs): void {
  for (const name of REG_NAMES) {
    const v = BigInt.asUintN(64, regs[name]);
    if (name === 'rip') {
      m.eip = lo(v);
      m.ripHi = hi(v) | 0;
    } else if (name === 'rflags') {
      m.fl.set((lo(v) & 0x3f7fd7) | FLAGS_FIXED1);
      m.flagsHi = hi(v);
    } else {
      const n = GPR_NUM[name]!;
      m.r32[n * 2] = lo(v);
      m.r32[n * 2 + 1] = hi(v);
    }
  }
}

export function saveRegs(m: Machine): Regs {
  const regs = {} as Regs;
  for (const name of REG_NAMES) {
    if (name === 'rip') regs.rip = join(m.eip, m.ripHi);
    else if (name === 'rflags') regs.rflags = join(m.fl.get(), m.flagsHi);
    else {
      const n = GPR_NUM[name]!;
      regs[name] = join(m.r32[n * 2]!, m.r32[n * 2 + 1]!);
    }
  }
  return regs;
}

/** The registers as struct kvm_regs words (36 little-endian u32, REG_NAMES order) into `out`: no bigints. */
export function saveRegWords(m: Machine, out: Uint32Array): void {
  const r = m.r32;
  // REG_NAMES order (rax rbx rcx rdx rsi rdi rsp rbp r8..r15) from encoding order (rax rcx rdx rbx rsp rbp rsi rdi)
  out[0] = r[0]!; out[1] = r[1]!; out[2] = r[6]!; out[3] = r[7]!;
  out[4] = r[2]!; out[5] = r[3]!; out[6] = r[4]!; out[7] = r[5]!;
  out[8] = r[12]!; out[9] = r[13]!; out[10] = r[14]!; out[11] = r[15]!;
  out[12] = r[8]!; out[13] = r[9]!; out[14] = r[10]!; out[15] = r[11]!;
  for (let k = 16; k < 32; k++) out[k] = r[k]!;
  out[32] = m.eip;
  out[33] = m.ripHi;
  out[34] = m.fl.get();
  out[35] = m.flagsHi;
}

/**
 * Whether the registers are the kvm_regs words `w` (REG_NAMES order), ignoring the RFLAGS bits
 * in `ignoreFlags`: saveRegWords and a comparison, without the copy (replay checks every exit).
 * `u`: m.r32 viewed as unsigned.
 */
export function regWordsEqual(m: Machine, u: Uint32Array, w: Uint32Array, ignoreFlags: number): boolean {
  // REG_NAMES order (rax rbx rcx rdx rsi rdi rsp rbp) from encoding order (rax rcx rdx rbx rsp rbp rsi rdi)
  if (u[0] !== w[0] || u[1] !== w[1] || u[6] !== w[2] || u[7] !== w[3] || u[2] !== w[4] || u[3] !== w[5] || u[4] !== w[6] || u[5] !== w[7]) return false;
  if (u[12] !== w[8] || u[13] !== w[9] || u[14] !== w[10] || u[15] !== w[11] || u[8] !== w[12] || u[9] !== w[13] || u[10] !== w[14] || u[11] !== w[15]) return false;
  for (let k = 16; k < 32; k++) if (u[k] !== w[k]) return false;
  return m.eip >>> 0 === w[32] && m.ripHi >>> 0 === w[33] && ((m.fl.get() ^ w[34]!) & ~ignoreFlags) === 0 && m.flagsHi >>> 0 === w[35];
}

export function saveSregs(m: Machine): Sregs {
  const seg = (s: number): Segment => {
    const a = m.segAttr[s]!;
    return {
      base: join(m.segBase[s]!, m.segBaseHi[s]!),
      limit: m.segLimit[s]!,
      selector: m.sel[s]!,
      type: a.type, present: a.present, dpl: a.dpl, db: a.db, s: a.s,
      l: a.l, g: a.g, avl: a.avl, unusable: a.unusable,
    };
  };
  return {
    es: seg(0), cs: seg(1), ss: seg(2), ds: seg(3), fs: seg(4), gs: seg(5), tr: seg(6), ldt: seg(7),
    cr0: join(m.cr0, m.cr0Hi),
    cr2: m.cr2,
    cr3: m.cr3,
    cr4: join(m.cr4, m.cr4Hi),
    cr8: m.cr8,
    efer: BigInt(m.efer >>> 0),
    apic_base: m.apicBase,
    gdt: { base: join(m.gdtBase, m.gdtBaseHi), limit: m.gdtLimit },
    idt: { base: join(m.idtBase, m.idtBaseHi), limit: m.idtLimit },
  };
}
