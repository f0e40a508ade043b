// The arm64 KVM machine: RAM slots with the image in them, one vCPU initialised with PSCI 0.2
// and given the boot state (KVM_SET_ONE_REG), read back as the trace header stores it.
import { loadMemory } from '../../../boot/memory.js';
import { KvmUnavailableError } from '../../../record/kvm.js';
import { GuestMemoryError } from '../../../record/machine.js';
import type { A64BootPlan } from '../boot.js';
import { A64_REGS_BYTES, A64_SYSREG_ENCODING, A64_SYSREG_NAMES, A64_SYSREGS_BYTES, a64RegsToBytes, a64SysregsToBytes } from '../state.js';
import { A64_KVM_CAP, KVM_ARM_VCPU_PSCI_0_2, openA64Kvm, type A64KvmAddon, type A64Vcpu, type A64Vm } from './kvm.js';

export interface A64Machine {
  addon: A64KvmAddon;
  vm: A64Vm;
  vcpu: A64Vcpu;
  apiVersion: number;
  /** KVM's preferred target (KVM_ARM_TARGET_*). */
  target: number;
  ram: Array<{ base: number; bytes: Uint8Array }>;
  /** Views into the vCPU's state buffer: what readState() last read. */
  regs: Uint8Array;
  sysregs: Uint8Array;
  /** The state KVM reports after the boot state was set: what the header stores. */
  boot: { regsBytes: Uint8Array; sysregsBytes: Uint8Array };
}

function mib(bytes: number): string {
  return bytes % (1 << 20) === 0 ? `${bytes / (1 << 20)} MiB` : `${bytes} bytes`;
}

export function createA64Machine(plan: A64BootPlan): A64Machine {
  const { addon, kvm } = openA64Kvm();
  // Completing an MMIO exit before reading registers (docs/arm64.md) relies on it.
  if (!kvm.checkExtension(A64_KVM_CAP.IMMEDIATE_EXIT)) throw new KvmUnavailableError('this KVM lacks KVM_CAP_IMMEDIATE_EXIT, which vmtrace needs to record');
  const vm = new addon.Vm(kvm);
  const ram = plan.memory.map((r, slot) => {
    try {
      return { base: r.base, bytes: new Uint8Array(vm.addMemory(slot, r.base, r.size)) };
    } catch (e) {
      throw new GuestMemoryError(`cannot allocate ${mib(r.size)} of guest RAM (${(e as Error).message.split('\n')[0]}); lower --mem`);
    }
  });
  loadMemory(ram, plan.blobs);
  // Without it an MMIO access KVM cannot decode fails KVM_RUN with ENOSYS; with it, it is an
  // ARM_NISV exit that the trace can show.
  if (kvm.checkExtension(A64_KVM_CAP.ARM_NISV_TO_USER)) addon.enableVmCap(vm, A64_KVM_CAP.ARM_NISV_TO_USER);
  const encodings = A64_SYSREG_NAMES.slice(2).map((n) => A64_SYSREG_ENCODING[n]);
  const vcpu = new addon.A64Vcpu(kvm, vm, 0, encodings);
  const target = vcpu.init(KVM_ARM_VCPU_PSCI_0_2);
  const L = addon.runLayout;
  const state = vcpu.stateBuffer();
  const regs = new Uint8Array(state, L.stateRegs, A64_REGS_BYTES);
  const sysregs = new Uint8Array(state, L.stateSysregs, A64_SYSREGS_BYTES);
  regs.set(a64RegsToBytes(plan.regs));
  sysregs.set(a64SysregsToBytes(plan.sregs));
  vcpu.writeState();
  vcpu.readState(true);
  return { addon, vm, vcpu, apiVersion: kvm.apiVersion(), target, ram, regs, sysregs, boot: { regsBytes: regs.slice(), sysregsBytes: sysregs.slice() } };
}
