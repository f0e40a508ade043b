// Public types of the x86 interpreter (see README.md in this directory).

import type { CpuidEntry, Regs } from '../../cpu-state.js';

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
  /** How the recording host sets undefined flags (trace header hostModel.flags, flag-model.ts). */
  flagModel?: Record<string, string>;
  /**
   * Instructions whose single step also runs the next one on the recording host (trace header
   * hostModel.step.joins; names in step-model.ts). Default: none, every instruction is a step.
   */
  stepJoins?: readonly string[];
  /**
   * The recorded registers at the end of the current step (a --step trace's next record), from
   * which nondeterministic instructions (RDTSC, RDRAND...) take their results; undefined when
   * there are none (exit traces): run() then stops before such an instruction with
   * `nondeterministic`. Default: none.
   */
  recordedState?: (instruction: string) => Regs | undefined;
  /**
   * Compiled blocks (blocks.ts): 'on' compiles hot code, 'off' interprets every instruction,
   * 'eager' compiles every block the first time it runs (tests). Default: the VMTRACE_JIT
   * environment variable, else 'on'.
   */
  jit?: JitMode;
}

export type JitMode = 'on' | 'off' | 'eager';

/** A guest read of flags an earlier instruction left undefined. */
export interface UndefinedUse {
  flags: number;
  /** EIP of the reading instruction, and of the one that left the flags undefined */
  usedAt: number;
  setAt: number;
  /** flag-model class of the latter ('mul', 'bsf', ...) */
  setBy: string;
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
  /**
   * The next instruction's result is nondeterministic (RDTSC, RDTSCP, RDMSR IA32_TSC, RDRAND,
   * RDSEED) and CpuOptions.recordedState gave none; state is unchanged.
   */
  | { kind: 'nondeterministic'; instruction: string; bytes: Uint8Array; at: string; message: string }
  /** The next instruction is at a breakpoint (Cpu.setBreakpoints, linear address); it has not run. */
  | { kind: 'breakpoint'; address: number }
  /** The step just executed accessed a watched range (Cpu.setWatchpoints); `address`: the first watched byte it touched. */
  | { kind: 'watch'; watch: WatchKind; address: number }
  /** maxInstructions executed, none of the above happened. */
  | { kind: 'limit' };

export type WatchKind = 'read' | 'write' | 'access';

/** A watched range of linear addresses (48-bit in 64-bit mode). */
export interface Watchpoint {
  kind: WatchKind;
  address: number;
  length: number;
}

/** The first access to a watched range during a run(). */
export interface WatchHit {
  watch: WatchKind;
  address: number;
}

export interface DisassembledAt {
  /** CS:IP, e.g. "0000:7c00" */
  at: string;
  bytes: Uint8Array;
  text: string;
}
