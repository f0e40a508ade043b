// VM setup: RAM slots, the initial memory image and the boot state applied to the vCPU. Kept
// apart from the run loop so the loop only sees a ready vCPU.
import { regsToBytes, type Regs, type Sregs } from '../cpu-state.js';
import { sregsToBytes } from '../kvm-structs.js';
import { supportedForVcpu0 } from '../boot/cpu-model.js';
import { loadMemory } from '../boot/memory.js';
import type { CpuidEntry, MemoryBlob, MemoryRegion } from '../trace/format.js';
import { KVM_CAP, KvmUnavailableError, openKvm, type KvmAddon, type KvmSystem, type Vcpu, type Vm } from './kvm.js';

/** Where Intel VMX keeps its real-mode TSS (three pages below 4 GiB, as QEMU places it). */
const TSS_ADDR = 0xfffbd000;

export interface MachineSpec {
  memory: MemoryRegion[];
  initialMemory: MemoryBlob[];
  /** Computes the boot state from the vCPU's current sregs (fields a profile leaves alone stay). */
  bootState(current: Sregs): { regs: Regs; sregs: Sregs };
  /**
   * The guest's CPUID entries, or how to compute them from what KVM supports
   * (KVM_GET_SUPPORTED_CPUID, with vCPU 0's APIC IDs: supportedForVcpu0). Default: the
   * supported entries themselves (host passthrough).
   */
  cpuid?: CpuidEntry[] | ((supported: CpuidEntry[]) => CpuidEntry[]);
}

/** The guest's RAM could not be allocated (or KVM refused the memory slot): the message says how much and what to do. */
export class GuestMemoryError extends Error {
  override name = 'GuestMemoryError';
}

function mib(bytes: number): string {
  return bytes >= 1 << 30 && bytes % (1 << 30) === 0 ? `${bytes / (1 << 30)} GiB` : bytes % (1 << 20) === 0 ? `${bytes / (1 << 20)} MiB` : `${bytes} bytes`;
}

/** KVM_SET_CPUID2 refused the entries (e.g. CPUID stored in a trace from another host). */
export class CpuidRejectedError extends Error {
  override name = 'CpuidRejectedError';
}

export interface Machine {
  addon: KvmAddon;
  kvm: KvmSystem;
  vm: Vm;
  vcpu: Vcpu;
  /** Guest RAM per region, in the order of spec.memory. */
  ram: Array<{ base: number; bytes: Uint8Array }>;
  syncRegs: boolean;
  apiVersion: number;
  cpuid: CpuidEntry[];
  /** State read back from KVM after setup: what the trace header stores. */
  boot: { regs: Regs; sregs: Sregs; regsBytes: Uint8Array; sregsBytes: Uint8Array };
}

export function createMachine(spec: MachineSpec): Machine {
  const { addon, kvm } = openKvm();
  if (!kvm.checkExtension(KVM_CAP.IMMEDIATE_EXIT)) {
    // Completing an exit before reading registers (docs/exit-semantics.md) relies on it.
    throw new KvmUnavailableError('this KVM lacks KVM_CAP_IMMEDIATE_EXIT (Linux 4.11+), which vmtrace needs to record');
  }
  const vm = new addon.Vm(kvm);
  vm.setTssAddr(TSS_ADDR);
  const ram = spec.memory.map((r, slot) => {
    try {
      return { base: r.base, bytes: new Uint8Array(vm.addMemory(slot, r.base, r.size)) };
    } catch (e) {
      const why = (e as Error).message.split('\n')[0];
      throw new GuestMemoryError(`cannot allocate ${mib(r.size)} of guest RAM (${why}); lower --mem, or free memory / raise the process's memory limit (ulimit -v)`);
    }
  });
  loadMemory(ram, spec.initialMemory);
  const vcpu = new addon.Vcpu(kvm, vm, 0);
  const supported = supportedForVcpu0(kvm.supportedCpuid());
  const cpuid = spec.cpuid === undefined ? supported : typeof spec.cpuid === 'function' ? spec.cpuid(supported) : spec.cpuid;
  try {
    vcpu.setCpuid(cpuid);
  } catch (e) {
    throw new CpuidRejectedError(`KVM rejected the guest CPUID (${cpuid.length} entries): ${(e as Error).message}`);
  }
  const want = spec.bootState(vcpu.getSregs());
  vcpu.setSregs(want.sregs);
  vcpu.setRegs(want.regs);
  const regs = vcpu.getRegs();
  const sregs = vcpu.getSregs();
  const syncRegs = kvm.checkExtension(KVM_CAP.SYNC_REGS) !== 0 && vcpu.enableSyncRegs(true);
  return {
    addon,
    kvm,
    vm,
    vcpu,
    ram,
    syncRegs,
    apiVersion: kvm.apiVersion(),
    cpuid,
    boot: { regs, sregs, regsBytes: regsToBytes(regs), sregsBytes: sregsToBytes(sregs) },
  };
}
