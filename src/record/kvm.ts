// Typed access to the native addon (native/*.cc). Loading is lazy and failure is explained in
// one line, because replay and inspect must work on machines without it.
import { accessSync, constants, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { addonBuildHint } from '../addon-hint.js';
import type { Regs, Sregs } from '../cpu-state.js';
import type { CpuidEntry } from '../trace/format.js';

export interface KvmSystem {
  apiVersion(): number;
  checkExtension(cap: number): number;
  vcpuMmapSize(): number;
  supportedCpuid(): CpuidEntry[];
}

export interface Vm {
  /** Registers a memory slot backed by fresh anonymous memory and returns that memory. */
  addMemory(slot: number, guestPhysAddr: number, size: number): ArrayBuffer;
  setTssAddr(addr: number): void;
}

export interface Vcpu {
  /**
   * KVM_RUN up to `max` times, snapshotting each exit into the exit ring; with continueOnOut it
   * goes on after each single OUT, otherwise it stops after one. Returns the number of slots.
   */
  runBatch(max: number, continueOnOut: boolean): number;
  /** KVM_RUN with immediate_exit: finish the exiting instruction (snapshot in slot 0). EINTR when done, 0 on a new exit. */
  complete(): number;
  runBuffer(): ArrayBuffer;
  /** The exit ring: ringSlots snapshots of ringSlotSize bytes (layout in RunLayout.ring*). */
  exitRing(): ArrayBuffer;
  enableSyncRegs(on: boolean): boolean;
  getRegs(): Regs;
  setRegs(regs: Regs): void;
  getSregs(): Sregs;
  setSregs(sregs: Sregs): void;
  getFpu(): Uint8Array;
  setFpu(bytes: Uint8Array): void;
  getMsrs(indices: number[]): Array<{ index: number; data: bigint }>;
  setMsrs(entries: Array<{ index: number; data: bigint }>): void;
  setCpuid(entries: CpuidEntry[]): void;
  setGuestDebug(control: number): void;
  translate(linear: bigint): { physical: bigint; valid: boolean; writeable: boolean; usermode: boolean };
  startKickTimer(intervalMs: number): void;
  stopKickTimer(): void;
}

/** Offsets into struct kvm_run, from the kernel header the addon was built against. */
export interface RunLayout {
  immediateExit: number;
  exitReason: number;
  ioDirection: number;
  ioSize: number;
  ioPort: number;
  ioCount: number;
  ioDataOffset: number;
  mmioPhysAddr: number;
  mmioData: number;
  mmioLen: number;
  mmioIsWrite: number;
  failEntryReason: number;
  failEntryCpu: number;
  internalSuberror: number;
  internalNdata: number;
  internalData: number;
  debugException: number;
  debugPc: number;
  debugDr6: number;
  systemEventType: number;
  syncRegs: number;
  syncSregs: number;
  ringErr: number;
  ringExitReason: number;
  ringTEnter: number;
  ringTExit: number;
  ringRegs: number;
  ringSregs: number;
  ringIoDirection: number;
  ringIoSize: number;
  ringIoPort: number;
  ringIoCount: number;
  ringIoDataOffset: number;
  ringIoData: number;
  ringSlotSize: number;
  ringSlots: number;
  regsSize: number;
  sregsSize: number;
}

export interface KvmAddon {
  KvmSystem: new (path?: string) => KvmSystem;
  Vm: new (kvm: KvmSystem) => Vm;
  Vcpu: new (kvm: KvmSystem, vm: Vm, id: number) => Vcpu;
  runLayout: RunLayout;
}

export const KVM_CAP = { SYNC_REGS: 74, IMMEDIATE_EXIT: 136 } as const;
export const KVM_GUESTDBG = { ENABLE: 0x1, SINGLESTEP: 0x2 } as const;

/** KVM cannot be used here; the message says why and what to do, in one line. */
export class KvmUnavailableError extends Error {
  override name = 'KvmUnavailableError';
}

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const ADDON_PATH = join(ROOT, 'build', 'Release', 'vmtrace_kvm.node');

let cached: KvmAddon | undefined;

export function loadAddon(): KvmAddon {
  if (cached) return cached;
  if (process.platform !== 'linux') {
    throw new KvmUnavailableError(`recording needs Linux KVM; this is ${process.platform} (replay and inspect work here)`);
  }
  if (!existsSync(ADDON_PATH)) {
    throw new KvmUnavailableError(
      `the native KVM addon is not built (needs g++, make and python3): install them, then run \`${addonBuildHint(ROOT)}\``,
    );
  }
  try {
    cached = createRequire(import.meta.url)(ADDON_PATH) as KvmAddon;
  } catch (e) {
    throw new KvmUnavailableError(`the native KVM addon failed to load (${(e as Error).message.split('\n')[0]}): run \`${addonBuildHint(ROOT)}\``);
  }
  return cached;
}

/** The KVM device: /dev/kvm, or VMTRACE_KVM_DEVICE (e.g. to try the no-KVM path on a KVM host). */
export function kvmDevicePath(): string {
  return process.env.VMTRACE_KVM_DEVICE || '/dev/kvm';
}

/** Opens the KVM device, turning the usual failures into a one-line explanation. */
export function openKvm(path = kvmDevicePath()): { addon: KvmAddon; kvm: KvmSystem } {
  const addon = loadAddon();
  if (!existsSync(path)) {
    throw new KvmUnavailableError(`${path} does not exist: this machine has no KVM (enable virtualization or load kvm_intel/kvm_amd); replay and inspect still work`);
  }
  try {
    accessSync(path, constants.R_OK | constants.W_OK);
  } catch {
    throw new KvmUnavailableError(`no permission to open ${path}: add your user to the 'kvm' group (then log in again) or run as root`);
  }
  let kvm: KvmSystem;
  let version: number;
  try {
    kvm = new addon.KvmSystem(path);
    version = kvm.apiVersion();
  } catch (e) {
    throw new KvmUnavailableError(`${path} cannot be used as a KVM device (${(e as Error).message}); replay and inspect still work`);
  }
  if (version !== 12) throw new KvmUnavailableError(`${path} reports KVM API version ${version}; vmtrace needs 12`);
  return { addon, kvm };
}
