// x86 interpreter for replaying KVM guests (real mode for now). See README.md.

export { Cpu } from './cpu.js';
export { disassemble } from './disasm.js';
export type {
  CpuidEntry, CpuOptions, DisassembledAt, ExitSink, JitMode, RamRegion, RunResult, UndefinedUse, Vendor, WatchHit, WatchKind, Watchpoint,
} from './types.js';
export { changedPages, snapshotFromPlain, snapshotToPlain, type CpuSnapshot, type Plain, type RamSnapshot } from './snapshot.js';
export { flagNames, type UndefContext } from './flag-model.js';
