// The architectures a trace can be of, and what the architecture-neutral layers (trace/,
// inspect/, golden/, cli/) need to know of each: how many register bytes a record carries and
// what they are called. Everything else about an architecture lives in its own home
// (src/arch/aarch64/; x86 in src/cpu-state.ts, src/kvm-structs.ts, src/boot/, src/replay/x86/).
import { REG_NAMES, REGS_BYTES, regsFromBytes, regsToBytes, diffSregs, type Regs, type Sregs } from '../cpu-state.js';
import { SREGS_BYTES, sregsFromBytes, sregsToBytes } from '../kvm-structs.js';
import {
  A64_REG_NAMES,
  A64_REGS_BYTES,
  A64_SYSREG_NAMES,
  A64_SYSREGS_BYTES,
  a64RegsFromBytes,
  a64RegsToBytes,
  a64SysregsFromBytes,
  a64SysregsToBytes,
} from './aarch64/state.js';

export const ARCH_NAMES = ['x86_64', 'aarch64'] as const;
export type ArchName = (typeof ARCH_NAMES)[number];

export function isArchName(v: unknown): v is ArchName {
  return (ARCH_NAMES as readonly unknown[]).includes(v);
}

/**
 * A record's registers as an architecture lays them out: `regsBytes` little-endian u64 named
 * `regNames`, and a system-register block of `sregsBytes` (x86: struct kvm_sregs; aarch64: the
 * A64_SYSREG_NAMES u64s) stored only when it changes.
 *
 * The trace types (src/trace/format.ts) carry registers as x86's Regs/Sregs objects; for an
 * aarch64 trace those objects are A64Regs/A64Sysregs, made and read through this layout.
 */
export interface RegisterLayout {
  readonly arch: ArchName;
  readonly regNames: readonly string[];
  readonly regsBytes: number;
  readonly sregsBytes: number;
  /** Index in regNames of the program counter. */
  readonly pcIndex: number;
  /** Names of the system-register values, for listings (x86: the control registers). */
  readonly sregNames: readonly string[];
  regs(bytes: Uint8Array): Regs;
  regsBytesOf(regs: Regs): Uint8Array;
  sregs(bytes: Uint8Array): Sregs;
  sregsBytesOf(sregs: Sregs): Uint8Array;
  /** Names (dotted paths for x86 segments) of the system-register values that differ. */
  diffSregs(a: Sregs, b: Sregs): string[];
}

const X86_64: RegisterLayout = {
  arch: 'x86_64',
  regNames: REG_NAMES,
  regsBytes: REGS_BYTES,
  sregsBytes: SREGS_BYTES,
  pcIndex: REG_NAMES.indexOf('rip'),
  sregNames: ['cr0', 'cr2', 'cr3', 'cr4', 'cr8', 'efer', 'apic_base'],
  regs: regsFromBytes,
  regsBytesOf: regsToBytes,
  sregs: sregsFromBytes,
  sregsBytesOf: sregsToBytes,
  diffSregs,
};

type Values = Record<string, bigint>;
const asValues = (v: object): Values => v as Values;

const AARCH64: RegisterLayout = {
  arch: 'aarch64',
  regNames: A64_REG_NAMES,
  regsBytes: A64_REGS_BYTES,
  sregsBytes: A64_SYSREGS_BYTES,
  pcIndex: A64_REG_NAMES.indexOf('pc'),
  sregNames: A64_SYSREG_NAMES,
  regs: (b) => a64RegsFromBytes(b) as unknown as Regs,
  regsBytesOf: (r) => a64RegsToBytes(r as unknown as ReturnType<typeof a64RegsFromBytes>),
  sregs: (b) => a64SysregsFromBytes(b) as unknown as Sregs,
  sregsBytesOf: (s) => a64SysregsToBytes(s as unknown as ReturnType<typeof a64SysregsFromBytes>),
  diffSregs: (a, b) => A64_SYSREG_NAMES.filter((n) => asValues(a)[n] !== asValues(b)[n]),
};

export function registerLayout(arch: ArchName): RegisterLayout {
  return arch === 'aarch64' ? AARCH64 : X86_64;
}

/** Reads register `name` of a record's registers, whatever the architecture. */
export function regValue(regs: Regs, name: string): bigint {
  return asValues(regs)[name]!;
}
