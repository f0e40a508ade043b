// CPUID answered from the entries KVM was given (KVM_SET_CPUID2), the way KVM's kvm_cpuid()
// answers an intercepted CPUID instruction (arch/x86/kvm/cpuid.c).

import type { CpuidEntry } from './types.js';

const KVM_CPUID_FLAG_SIGNIFCANT_INDEX = 1;

function find(entries: CpuidEntry[], fn: number, index: number): CpuidEntry | undefined {
  for (const e of entries) {
    if (e.function >>> 0 !== fn) continue;
    if ((e.flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) !== 0 && e.index >>> 0 !== index) continue;
    return e;
  }
  return undefined;
}

/** Vendor of the *guest* CPUID (leaf 0), which is what KVM looks at. */
function guestIsAmdLike(entries: CpuidEntry[]): boolean {
  const l0 = find(entries, 0, 0);
  if (!l0) return false;
  // "AuthenticAMD", "AMDisbetter!", "HygonGenuine": EBX 'Auth'/'AMDi'/'Hygo'
  return l0.ebx === 0x68747541 || l0.ebx === 0x69444d41 || l0.ebx === 0x6f677948;
}

/** KVM's is_guest_vendor_intel(): the guest's leaf-0 vendor is "GenuineIntel". */
export function guestIsIntel(entries: CpuidEntry[]): boolean {
  const l0 = find(entries, 0, 0);
  return l0 !== undefined && l0.ebx === 0x756e6547 && l0.ecx === 0x6c65746e && l0.edx === 0x49656e69;
}

/**
 * Output of CPUID for (eax, ecx):
 * - an entry matching function (and index, if the entry says the index is significant);
 * - otherwise, for an Intel-like guest CPUID (leaf 0 vendor not AMD/Hygon) and a function
 *   above the maximum of its class (basic, 0x4000_0000, 0x8000_0000, 0xc000_0000), the entry
 *   of the highest basic leaf (with the original index), as Intel CPUs and KVM do;
 * - otherwise zeros (AMD behaviour for out-of-range leaves, and KVM's for missing ones),
 *   except that leaves 0xb/0x1f report ECX[7:0] = index and EDX = x2APIC id if they exist.
 */
export function cpuidLookup(entries: CpuidEntry[], eax: number, ecx: number): [number, number, number, number] {
  const fn = eax >>> 0;
  const index = ecx >>> 0;
  let e = find(entries, fn, index);
  if (!e && !guestIsAmdLike(entries)) {
    const basic = find(entries, 0, 0);
    if (basic) {
      let cls: CpuidEntry | undefined;
      if (fn >= 0x40000000 && fn <= 0x4fffffff) cls = find(entries, (fn & 0xffffff00) >>> 0, 0);
      else if (fn >= 0xc0000000) cls = find(entries, 0xc0000000, 0);
      else cls = find(entries, (fn & 0x80000000) >>> 0, 0);
      if (!cls || fn > cls.eax >>> 0) e = find(entries, basic.eax >>> 0, index);
    }
  }
  if (e) return [e.eax >>> 0, e.ebx >>> 0, e.ecx >>> 0, e.edx >>> 0];
  if (fn === 0xb || fn === 0x1f) {
    const one = find(entries, fn, 1);
    if (one) return [0, 0, index & 0xff, one.edx >>> 0];
  }
  return [0, 0, 0, 0];
}

/** Optional features the interpreter gates on the guest CPUID. */
export interface Features {
  /** CPUID.1:ECX.POPCNT[23]: POPCNT (else #UD) */
  popcnt: boolean;
  /** CPUID.80000001h:ECX.ABM/LZCNT[5]: F3 0F BD is LZCNT (else BSR) */
  lzcnt: boolean;
  /** CPUID.7.0:EBX.BMI1[3]: F3 0F BC is TZCNT (else BSF) */
  bmi1: boolean;
  /** CPUID.1:ECX.CX16[13]: CMPXCHG16B (else #UD) */
  cx16: boolean;
  /** CPUID.80000001h:EDX.Page1GB[26]: 1 GiB pages (else PS in a PDPTE is reserved) */
  pdpe1gb: boolean;
  /** CPUID.80000001h:EDX.NX[20]: EFER.NXE may be set */
  nx: boolean;
  /** CPUID.80000001h:EDX.LM[29]: EFER.LME may be set */
  lm: boolean;
  /** CPUID.80000001h:EDX.RDTSCP[27]: RDTSCP (else #UD) */
  rdtscp: boolean;
  /** CPUID.1:ECX.RDRAND[30]: RDRAND (else #UD) */
  rdrand: boolean;
  /** CPUID.7.0:EBX.RDSEED[18]: RDSEED (else #UD) */
  rdseed: boolean;
  /** CPUID.7.0:ECX.RDPID[22]: RDPID (else #UD) */
  rdpid: boolean;
  /** CPUID.80000008h:EAX[7:0] (36 if the leaf is missing) */
  maxPhysAddr: number;
}

/**
 * The features a CPUID list enables. An empty list (no CPUID configured, e.g. in unit tests)
 * enables everything, with a 48-bit physical address width.
 */
export function cpuFeatures(entries: CpuidEntry[]): Features {
  if (entries.length === 0) {
    return {
      popcnt: true, lzcnt: true, bmi1: true, cx16: true, pdpe1gb: true, nx: true, lm: true,
      rdtscp: true, rdrand: true, rdseed: true, rdpid: true, maxPhysAddr: 48,
    };
  }
  const l1 = find(entries, 1, 0);
  const l7 = find(entries, 7, 0);
  const e1 = find(entries, 0x80000001, 0);
  const e8 = find(entries, 0x80000008, 0);
  const bit = (v: number | undefined, b: number): boolean => v !== undefined && ((v >>> b) & 1) === 1;
  return {
    popcnt: bit(l1?.ecx, 23),
    lzcnt: bit(e1?.ecx, 5),
    bmi1: bit(l7?.ebx, 3),
    cx16: bit(l1?.ecx, 13),
    pdpe1gb: bit(e1?.edx, 26),
    nx: bit(e1?.edx, 20),
    lm: bit(e1?.edx, 29),
    rdtscp: bit(e1?.edx, 27),
    rdrand: bit(l1?.ecx, 30),
    rdseed: bit(l7?.ebx, 18),
    rdpid: bit(l7?.ecx, 22),
    maxPhysAddr: e8 ? (e8.eax & 0xff) || 36 : 36,
  };
}
