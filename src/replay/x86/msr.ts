// Model-specific registers: RDMSR/WRMSR, for the MSRs a small kernel touches. EFER and
// IA32_APIC_BASE live in the machine state (they are part of kvm_sregs); FS/GS base are the
// segment caches; the rest are kept in Machine.msrs. An MSR not listed here raises #GP(0), as
// KVM does for MSRs it does not handle (without ignore_msrs). RDMSR of the TSC is
// nondeterministic: its value comes from the recording (exec/nondet.ts, Machine.recorded).

import {
  CR0_PG, EFER_LMA, EFER_LME, EFER_NXE, EFER_SCE, FS, GS, VEC_GP,
} from './constants.js';
import type { Machine } from './machine.js';
import { refreshSeg } from './segments.js';

export const MSR_TSC = 0x10;
export const MSR_APIC_BASE = 0x1b;
export const MSR_SYSENTER_CS = 0x174;
export const MSR_SYSENTER_ESP = 0x175;
export const MSR_SYSENTER_EIP = 0x176;
export const MSR_MISC_ENABLE = 0x1a0;
export const MSR_PAT = 0x277;
export const MSR_EFER = 0xc0000080;
export const MSR_STAR = 0xc0000081;
export const MSR_LSTAR = 0xc0000082;
export const MSR_CSTAR = 0xc0000083;
export const MSR_SFMASK = 0xc0000084;
export const MSR_FS_BASE = 0xc0000100;
export const MSR_GS_BASE = 0xc0000101;
export const MSR_KERNEL_GS_BASE = 0xc0000102;
export const MSR_TSC_AUX = 0xc0000103;

/** MSRs kept as plain values, with their reset values. */
const PLAIN = new Map<number, bigint>([
  [MSR_SYSENTER_CS, 0n], [MSR_SYSENTER_ESP, 0n], [MSR_SYSENTER_EIP, 0n],
  [MSR_MISC_ENABLE, 0n], [MSR_PAT, 0x0007040600070406n],
  [MSR_STAR, 0n], [MSR_LSTAR, 0n], [MSR_CSTAR, 0n], [MSR_SFMASK, 0n],
  [MSR_KERNEL_GS_BASE, 0n], [MSR_TSC_AUX, 0n],
  [0xfe, 0n], // MTRRcap: no MTRRs
  [0x2ff, 0n], // MTRRdefType
  [0x8b, 0n], // IA32_BIOS_SIGN_ID (microcode revision)
  [0x48, 0n], // IA32_SPEC_CTRL
  [0x3a, 0n], // IA32_FEATURE_CONTROL
]);
/** canonical-address MSRs (#GP on a non-canonical write) */
const ADDRESSES = new Set([MSR_LSTAR, MSR_CSTAR, MSR_KERNEL_GS_BASE, MSR_SYSENTER_ESP, MSR_SYSENTER_EIP, MSR_FS_BASE, MSR_GS_BASE]);

function canonical(v: bigint): boolean {
  const top = v >> 47n;
  return top === 0n || top === 0x1ffffn;
}

function segBase(m: Machine, s: number): bigint {
  return (BigInt(m.segBaseHi[s]!) << 32n) | BigInt(m.segBase[s]!);
}

function setSegBase(m: Machine, s: number, v: bigint): void {
  m.sregsWritten = true;
  m.segBase[s] = Number(v & 0xffffffffn);
  m.segBaseHi[s] = Number(v >> 32n);
  refreshSeg(m, s);
}

/** Is `index` an MSR this interpreter knows (else RDMSR/WRMSR raise #GP(0))? */
export function knownMsr(index: number): boolean {
  return PLAIN.has(index) || index === MSR_EFER || index === MSR_APIC_BASE || index === MSR_FS_BASE
    || index === MSR_GS_BASE || index === MSR_TSC;
}

export function readMsr(m: Machine, index: number): bigint {
  switch (index) {
    case MSR_EFER: return BigInt(m.efer);
    case MSR_APIC_BASE: return m.apicBase;
    case MSR_FS_BASE: return segBase(m, FS);
    case MSR_GS_BASE: return segBase(m, GS);
    case MSR_TSC: {
      // nondeterministic: EDX:EAX of the recording (exec/nondet.ts)
      const r = m.recorded('RDMSR IA32_TSC');
      return ((r.rdx & 0xffffffffn) << 32n) | (r.rax & 0xffffffffn);
    }
  }
  const v = m.msrs.get(index) ?? PLAIN.get(index);
  if (v === undefined) m.fault(VEC_GP, 0);
  return v;
}

export function writeMsr(m: Machine, index: number, value: bigint): void {
  const v = BigInt.asUintN(64, value);
  if (ADDRESSES.has(index) && !canonical(v)) m.fault(VEC_GP, 0);
  switch (index) {
    case MSR_EFER: {
      let allowed = BigInt(EFER_SCE | EFER_LME | EFER_LMA);
      if (m.features.nx) allowed |= BigInt(EFER_NXE);
      if (v & ~allowed) m.fault(VEC_GP, 0);
      const nv = Number(v);
      if ((nv & EFER_LME) !== 0 && !m.features.lm) m.fault(VEC_GP, 0);
      // LME cannot change while paging is on; LMA is read-only (kept from the current state)
      if ((m.cr0 & CR0_PG) !== 0 && ((nv ^ m.efer) & EFER_LME) !== 0) m.fault(VEC_GP, 0);
      const next = (nv & ~EFER_LMA) | (m.efer & EFER_LMA);
      const flush = ((next ^ m.efer) & EFER_NXE) !== 0;
      m.efer = next;
      if (flush) m.flushTlb();
      m.updateMode();
      return;
    }
    case MSR_APIC_BASE:
      m.apicBase = v;
      m.sregsWritten = true;
      return;
    case MSR_FS_BASE: setSegBase(m, FS, v); return;
    case MSR_GS_BASE: setSegBase(m, GS, v); return;
    case MSR_TSC: m.unsupported('WRMSR to the TSC');
  }
  if (!PLAIN.has(index) && !m.msrs.has(index)) m.fault(VEC_GP, 0);
  m.msrs.set(index, v);
}

/** SWAPGS: exchange GS.base with IA32_KERNEL_GS_BASE. */
export function swapgs(m: Machine): void {
  const k = m.msrs.get(MSR_KERNEL_GS_BASE) ?? 0n;
  m.msrs.set(MSR_KERNEL_GS_BASE, segBase(m, GS));
  setSegBase(m, GS, k);
}
