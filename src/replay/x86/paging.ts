// Paging: the page-table walker behind Machine.phys(), and the TLB it fills.
//
// Formats: 32-bit (CR4.PSE 4 MiB pages), PAE (2 MiB pages) and 4-level (EFER.LMA: 2 MiB and
// 1 GiB pages). 5-level paging (CR4.LA57) is reported unsupported. The walk follows KVM's
// software walker (arch/x86/kvm/mmu/paging_tmpl.h), which is what translates addresses on the
// recording hosts (their KVM emulates every instruction): permissions are checked on the whole
// walk, accessed bits (and the dirty bit of the leaf, for writes) are set only when the
// translation succeeds, and a fault reports P/W/U/RSVD/I-D in the #PF error code with the
// linear address for CR2.
//
// The TLB is a direct-mapped cache of 4 KiB translations (tag = linear page number) holding
// the effective permissions (writable, user, executable, dirty). It is invisible to the guest:
// it is flushed on CR0/CR3/CR4/EFER changes and INVLPG, and also whenever the guest writes to
// a page the walker read page tables from (DecodeCache.watchPage), since KVM's walker would
// see such a change at once.

import * as K from './constants.js';
import { CpuFault, type Machine } from './machine.js';

// (local copies of the constants: constants.ts says why)
const {
  ACC_EXEC, ACC_READ, ACC_SWRITE, ACC_WRITE, AC, CR0_WP, CR4_LA57, CR4_PAE, CR4_PSE, CR4_SMAP,
  CR4_SMEP, EFER_NXE, TWO32, TWO48, VEC_PF,
} = K;

export const TLB_BITS = 10;
export const TLB_SIZE = 1 << TLB_BITS;
export const TLB_MASK = TLB_SIZE - 1;

/** TLB permission bits: writable, user, executable, dirty already set */
export const P_W = 1;
export const P_U = 2;
export const P_X = 4;
export const P_D = 8;

// #PF error code bits
const PF_P = 1;
const PF_W = 2;
const PF_U = 4;
const PF_RSVD = 8;
const PF_ID = 16;

/** Paging structure format for the current CR0/CR4/EFER: 0 off, 1 32-bit, 2 PAE, 3 4-level. */
export function pagingMode(m: Machine): number {
  if (!m.pg) return 0;
  if (m.lma) return 3;
  return m.cr4 & CR4_PAE ? 2 : 1;
}

function isWrite(kind: number): boolean {
  return kind === ACC_WRITE || kind === ACC_SWRITE;
}

/** A user-mode access: CPL 3 and not an implicit supervisor access. */
function isUser(m: Machine, kind: number): boolean {
  return m.cpl === 3 && kind <= ACC_EXEC;
}

/**
 * Fill m.permOk: which (access kind, TLB permission bits) pairs may be served by the TLB.
 * Anything else takes the walker, which raises the right fault (or sets the dirty bit).
 * Supervisor data accesses to user pages with SMAP always walk (the walker checks EFLAGS.AC).
 */
export function permTable(m: Machine): void {
  m.forgetFetchPage();
  const wp = (m.cr0 & CR0_WP) !== 0;
  const smep = (m.cr4 & CR4_SMEP) !== 0;
  const smap = (m.cr4 & CR4_SMAP) !== 0;
  for (let kind = 0; kind < 5; kind++) {
    const user = isUser(m, kind);
    for (let p = 0; p < 16; p++) {
      let ok = true;
      if (user && (p & P_U) === 0) ok = false;
      if (isWrite(kind) && ((p & P_D) === 0 || ((p & P_W) === 0 && (user || wp)))) ok = false;
      if (kind === ACC_EXEC && ((p & P_X) === 0 || (!user && smep && (p & P_U) !== 0))) ok = false;
      if (kind !== ACC_EXEC && !user && smap && (p & P_U) !== 0) ok = false;
      m.permOk[(kind << 4) | p] = ok ? 1 : 0;
    }
  }
}

function pageFault(m: Machine, lin: number, kind: number, code: number): never {
  let c = code;
  if (isWrite(kind)) c |= PF_W;
  if (isUser(m, kind)) c |= PF_U;
  if (kind === ACC_EXEC && ((m.efer & EFER_NXE) !== 0 || (m.cr4 & CR4_SMEP) !== 0)) c |= PF_ID;
  // CR2 gets the linear address as the program sees it (sign-extended in long mode)
  const addr = m.lma && lin >= TWO48 / 2 ? lin - TWO48 : lin;
  throw new CpuFault(VEC_PF, c, addr);
}

// walk scratch: physical addresses and low dwords of the entries used (to set A/D bits)
const entAddr = new Float64Array(4);
const entLo = new Int32Array(4);

/** Physical-address bits an entry may hold, above bit 31: mask for the high dword. */
function hiAddrMask(m: Machine): number {
  const bits = m.features.maxPhysAddr;
  return bits >= 52 ? 0xfffff : (2 ** (bits - 32) - 1);
}

/** Read a 4- or 8-byte table entry from RAM (page tables outside RAM are not supported). */
function readEntry(m: Machine, a: number, wide: boolean): number {
  if (!m.mem.isRam(a)) m.unsupported(`page table entry at physical 0x${a.toString(16)} is not in RAM`);
  m.icache.watchPage(a);
  if (!wide) {
    m.qh = 0;
    return m.mem.read32(a);
  }
  const lo = m.mem.readQ(a);
  m.qh = m.mem.qh;
  return lo;
}

/**
 * Translate `lin` (unsigned, < 2^48) for an access of `kind`: walk the tables, check the
 * permissions, set accessed/dirty bits, fill the TLB, return the physical address.
 */
export function walk(m: Machine, lin: number, kind: number, probe = false): number {
  try {
    return walkInner(m, lin, kind, probe);
  } catch (e) {
    if (probe) return -1;
    throw e;
  }
}

/**
 * A debugger's view of `lin`: the physical address the page tables map it to whatever the
 * permissions, -1 if they do not map it. No accessed/dirty bits, no TLB entry, no fault.
 */
export function translateForDebugger(m: Machine, lin: number): number {
  try {
    return walkInner(m, lin, ACC_READ, true, false);
  } catch {
    return -1;
  }
}

/**
 * The walk proper. `probe`: for inspection (disassembling history, peek): no accessed/dirty
 * bits, no TLB entry; the caller gets -1 instead of a #PF. `checkPerms` false: any present
 * mapping will do.
 */
function walkInner(m: Machine, lin: number, kind: number, probe: boolean, checkPerms = true): number {
  const mode = m.pagingMode;
  if (mode === 3 && (m.cr4 & CR4_LA57) !== 0) m.unsupported('5-level paging (CR4.LA57)');
  const nxe = (m.efer & EFER_NXE) !== 0;
  const hiMask = hiAddrMask(m);
  const cr3 = Number(m.cr3 & 0xffffffffffffn);
  let w = P_W;
  let u = P_U;
  let x = P_X;
  let n = 0;
  let pageBase = 0; // physical base of the (possibly large) page
  let pageMask = 0xfff; // offset bits within it
  if (mode === 1) {
    // 32-bit paging: PDE, then PTE (or a 4 MiB page with CR4.PSE)
    const pdeA = (cr3 & 0xfffff000) + ((lin >>> 22) << 2);
    const pde = readEntry(m, pdeA, false);
    if ((pde & 1) === 0) pageFault(m, lin, kind, 0);
    entAddr[n] = pdeA; entLo[n++] = pde;
    w &= pde & 2 ? P_W : 0;
    u &= pde & 4 ? P_U : 0;
    if ((pde & 0x80) !== 0 && (m.cr4 & CR4_PSE) !== 0) {
      // PSE-36: bits 20:13 are physical address bits 39:32; bit 21 is reserved
      const high = (pde >>> 13) & 0xff;
      if ((pde & 0x200000) !== 0 || (high & ~hiMask) !== 0) pageFault(m, lin, kind, PF_P | PF_RSVD);
      pageBase = (pde & 0xffc00000) + high * TWO32;
      pageMask = 0x3fffff;
    } else {
      const pteA = (pde & 0xfffff000) + (((lin >>> 12) & 0x3ff) << 2);
      const pte = readEntry(m, pteA, false);
      if ((pte & 1) === 0) pageFault(m, lin, kind, 0);
      entAddr[n] = pteA; entLo[n++] = pte;
      w &= pte & 2 ? P_W : 0;
      u &= pte & 4 ? P_U : 0;
      pageBase = pte & 0xfffff000;
    }
  } else {
    // PAE / 4-level: 8-byte entries; levels 4 (PML4), 3 (PDPT), 2 (PD), 1 (PT)
    let table: number;
    let level: number;
    if (mode === 2) {
      // the PDPTE: 4 entries at CR3[31:5]
      const a = (cr3 & 0xffffffe0) + ((lin >>> 30) & 3) * 8;
      const lo = readEntry(m, a, true);
      const hi = m.qh;
      if ((lo & 1) === 0) pageFault(m, lin, kind, 0);
      if ((hi & ~hiMask & 0xfffff) !== 0 || (lo & 0x1e6) !== 0) pageFault(m, lin, kind, PF_P | PF_RSVD);
      table = (hi & hiMask) * TWO32 + ((lo & 0xfffff000) >>> 0);
      level = 2;
    } else {
      table = Math.floor(cr3 / 4096) * 4096;
      level = 4;
    }
    for (;;) {
      const shift = 12 + 9 * (level - 1);
      const idx = Math.floor(lin / 2 ** shift) & 0x1ff;
      const a = table + idx * 8;
      const lo = readEntry(m, a, true);
      const hi = m.qh;
      if ((lo & 1) === 0) pageFault(m, lin, kind, 0);
      // reserved: address bits above MAXPHYADDR, bits 62:52 are ignored; NX without EFER.NXE;
      // PS in a PML4E, and in a PDPTE without 1 GiB page support
      const ps = (lo & 0x80) !== 0 && level <= 3 && (level < 3 || mode === 3);
      let rsvd = (hi & 0xfffff & ~hiMask) !== 0 || (!nxe && hi < 0);
      if (level === 4 && (lo & 0x80) !== 0) rsvd = true;
      if (level === 3 && ps && !m.features.pdpe1gb) rsvd = true;
      if (ps && level === 3 && (lo & 0x3fffe000) !== 0) rsvd = true;
      if (ps && level === 2 && (lo & 0x1fe000) !== 0) rsvd = true;
      if (rsvd) pageFault(m, lin, kind, PF_P | PF_RSVD);
      entAddr[n] = a; entLo[n++] = lo;
      w &= lo & 2 ? P_W : 0; // (PAE PDPTEs, which have no R/W and U/S, are read above)
      u &= lo & 4 ? P_U : 0;
      if (nxe && hi < 0) x = 0;
      const base = (hi & hiMask) * TWO32 + ((lo & 0xfffff000) >>> 0);
      if (level === 1 || ps) {
        pageMask = level === 1 ? 0xfff : level === 2 ? 0x1fffff : 0x3fffffff;
        pageBase = base - (base % (pageMask + 1));
        break;
      }
      table = base;
      level--;
    }
  }

  // permissions on the whole walk
  const user = isUser(m, kind);
  const write = isWrite(kind);
  const smep = (m.cr4 & CR4_SMEP) !== 0;
  const smap = (m.cr4 & CR4_SMAP) !== 0;
  let denied = false;
  if (user && u === 0) denied = true;
  if (write && w === 0 && (user || (m.cr0 & CR0_WP) !== 0)) denied = true;
  if (kind === ACC_EXEC && (x === 0 || (!user && smep && u !== 0))) denied = true;
  if (kind !== ACC_EXEC && !user && smap && u !== 0 && (kind > ACC_EXEC || (m.fl.bits & AC) === 0)) denied = true;
  if (denied && checkPerms) pageFault(m, lin, kind, PF_P);
  const off4k = lin % 4096;
  if (probe) return pageBase + ((lin - off4k) % (pageMask + 1)) + off4k;

  // accessed bits on every entry used, dirty on the leaf for writes (only if not yet set)
  for (let k = 0; k < n; k++) {
    let v = entLo[k]! | 0x20;
    if (k === n - 1 && write) v |= 0x40;
    if (v !== entLo[k]) {
      m.mem.poke32(entAddr[k]!, v);
      entLo[k] = v;
    }
  }
  const dirty = (entLo[n - 1]! & 0x40) !== 0;

  const pagePhys = pageBase + ((lin - off4k) % (pageMask + 1));
  const pn = Math.floor(lin / 4096);
  const slot = pn & TLB_MASK;
  m.tlbTag[slot] = pn;
  m.tlbPhys[slot] = pagePhys;
  m.tlbPerm[slot] = w | u | x | (dirty ? P_D : 0);
  return pagePhys + off4k;
}
