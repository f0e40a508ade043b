// Typed access to the arm64 build of the native addon (native/arm64/). The same file
// (build/Release/vmtrace_kvm.node) is loaded as on x86; its `arch` says which build it is.
import { KvmUnavailableError, openKvm, type KvmSystem } from '../../../record/kvm.js';

export interface A64Vm {
  /** Registers a memory slot backed by fresh anonymous memory and returns that memory. */
  addMemory(slot: number, guestPhysAddr: number, size: number): ArrayBuffer;
}

export interface A64Vcpu {
  /** KVM_ARM_PREFERRED_TARGET, then KVM_ARM_VCPU_INIT with `features0` in features[0]; returns the target. */
  init(features0: number): number;
  /** KVM_RUN; 0 or its errno (EINTR after a kick). Registers are not read: readState(). */
  run(): number;
  /** KVM_RUN with immediate_exit: KVM finishes the instruction of the last MMIO exit. EINTR when done. */
  complete(): number;
  /** The 35 registers (and with `withSysregs` the 13 system registers) into stateBuffer(). */
  readState(withSysregs: boolean): void;
  /** Every register and system register from stateBuffer() into KVM. */
  writeState(): void;
  getOneReg(id: bigint): bigint;
  setOneReg(id: bigint, value: bigint): void;
  /** The KVM one-reg ids behind stateBuffer()'s registers, in order. */
  regIds(): { regs: bigint[]; sysregs: bigint[] };
  runBuffer(): ArrayBuffer;
  /** A64State (native/arm64/vcpu.h): registers, system registers, KVM_RUN times (layout in A64RunLayout.state*). */
  stateBuffer(): ArrayBuffer;
  setGuestDebug(control: number): void;
  startKickTimer(intervalMs: number): void;
  stopKickTimer(): void;
}

/** Offsets into struct kvm_run and A64State, from the kernel header the addon was built against. */
export interface A64RunLayout {
  immediateExit: number;
  exitReason: number;
  mmioPhysAddr: number;
  mmioData: number;
  mmioLen: number;
  mmioIsWrite: number;
  systemEventType: number;
  systemEventNdata: number;
  systemEventData: number;
  nisvEsrIss: number;
  nisvFaultIpa: number;
  debugHsr: number;
  debugHsrHigh: number;
  debugFar: number;
  failEntryReason: number;
  failEntryCpu: number;
  internalSuberror: number;
  internalNdata: number;
  internalData: number;
  stateRegs: number;
  stateSysregs: number;
  stateTEnter: number;
  stateTExit: number;
  stateSize: number;
}

export interface A64KvmAddon {
  arch: 'aarch64';
  KvmSystem: new (path?: string) => KvmSystem;
  Vm: new (kvm: KvmSystem) => A64Vm;
  A64Vcpu: new (kvm: KvmSystem, vm: A64Vm, id: number, sysregEncodings: ReadonlyArray<readonly number[]>) => A64Vcpu;
  enableVmCap(vm: A64Vm, cap: number): void;
  runLayout: A64RunLayout;
}

export const A64_KVM_CAP = { IMMEDIATE_EXIT: 136, ARM_NISV_TO_USER: 177 } as const;
/** kvm_vcpu_init.features[0] bits. */
export const KVM_ARM_VCPU_PSCI_0_2 = 1 << 2;

/** Opens /dev/kvm with the arm64 addon; anything else is a one-line KvmUnavailableError. */
export function openA64Kvm(): { addon: A64KvmAddon; kvm: KvmSystem } {
  const { addon, kvm } = openKvm();
  const a = addon as unknown as Partial<A64KvmAddon>;
  if (a.arch !== 'aarch64' || !a.A64Vcpu) {
    throw new KvmUnavailableError('the native addon here is the x86 build: recording aarch64 guests needs an arm64 host (`vmtrace replay` works anywhere)');
  }
  return { addon: a as A64KvmAddon, kvm };
}
