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
