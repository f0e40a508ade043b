// Public types of the x86 interpreter (see README.md in this directory).

import type { CpuidEntry } from '../../cpu-state.js';

export type { CpuidEntry };

/** Where port IO and MMIO go; the replayer answers with recorded values. */
export interface ExitSink {
  /** Value the VMM answered. */
  ioIn(port: number, size: 1 | 2 | 4): number;
  ioOut(port: number, size: 1 | 2 | 4, value: number): void;
  /** Physical address, size 1..8 bytes, little-endian value. */
  mmioRead(addr: number, size: number): bigint;
  mmioWrite(addr: number, size: number, value: bigint): void;
}

export type Vendor = 'intel' | 'amd';

export interface RamRegion {
  /** Guest-physical address of bytes[0]. */
  base: number;
  bytes: Uint8Array;
}

export interface CpuOptions {
  /** Guest RAM; the interpreter reads and writes these arrays in place. Anything else is MMIO. */
  ram: RamRegion[];
  sink: ExitSink;
  cpuid: CpuidEntry[];
  vendor: Vendor;
}

export type RunResult =
  /** The instruction that did port IO / MMIO completed (registers are the state AFTER it). */
  | { kind: 'exit'; exit: 'io' | 'mmio' }
  /** HLT executed; RIP points after the HLT. */
  | { kind: 'hlt' }
  /** Triple fault (as KVM reports KVM_EXIT_SHUTDOWN). */
  | { kind: 'shutdown'; reason: string }
  /** The next instruction is not implemented; state is unchanged. */
  | { kind: 'unsupported'; bytes: Uint8Array; at: string; message: string }
  /** maxInstructions executed, none of the above happened. */
  | { kind: 'limit' };

export interface DisassembledAt {
  /** CS:IP, e.g. "0000:7c00" */
  at: string;
  bytes: Uint8Array;
  text: string;
}
