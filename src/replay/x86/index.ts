// x86 interpreter for replaying KVM guests (real mode for now). See README.md.

export { Cpu } from './cpu.js';
export { disassemble } from './disasm.js';
export type {
  CpuidEntry, CpuOptions, DisassembledAt, ExitSink, RamRegion, RunResult, UndefinedUse, Vendor,
} from './types.js';
export { flagNames, type UndefContext } from './flag-model.js';
