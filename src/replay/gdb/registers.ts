// The register layouts gdb is given (target-xml.ts describes them to it): the order and size of
// every register in the g/G packets and the numbers of p/P, and how each is read from the
// replay's state and written back. gdb requires the org.gnu.gdb.i386.core feature with these
// names in this order (checked by gdb's i386_validate_tdesc_p); it accepts it without SSE.
import type { RegName, Regs, Sregs } from '../../cpu-state.js';
import type { DebugTarget } from '../debug-target.js';

export type LayoutName = 'i386' | 'amd64';
export type Architecture = 'i8086' | 'i386' | 'i386:x86-64';
export type GuestMode = DebugTarget['mode'];

export interface X87Words {
  cw: number;
  sw: number;
  tw: number;
}

/** What the registers are read from. */
export interface RegisterState {
  regs: Regs;
  sregs: Sregs;
  /** Undefined when the target does not model the x87 (reported as zeros). */
  x87: X87Words | undefined;
}

export const FEATURE = {
  core: 'org.gnu.gdb.i386.core',
  segments: 'org.gnu.gdb.i386.segments',
  system: 'org.vmtrace.x86.system',
} as const;
export type FeatureName = (typeof FEATURE)[keyof typeof FEATURE];

export interface RegisterDef {
  name: string;
  bits: number;
  /** Target description type (int32, code_ptr, i386_eflags, i387_ext, …). */
  type: string;
  feature: FeatureName;
  group?: 'float' | 'system';
  read(s: RegisterState): bigint;
  /** The general register a write goes to (its low `bits` bits); absent: read-only. */
  writes?: RegName;
}

export interface Layout {
  name: LayoutName;
  registers: RegisterDef[];
  /** Bytes of a g packet. */
  bytes: number;
}

const gpr = (name: string, reg: RegName, bits: number, type = bits === 64 ? 'int64' : 'int32'): RegisterDef => ({
  name,
  bits,
  type,
  feature: FEATURE.core,
  read: (s) => s.regs[reg],
  writes: reg,
});

const readOnly = (name: string, bits: number, type: string, feature: FeatureName, read: RegisterDef['read'], group?: RegisterDef['group']): RegisterDef =>
  group ? { name, bits, type, feature, group, read } : { name, bits, type, feature, read };

const SELECTORS = ['cs', 'ss', 'ds', 'es', 'fs', 'gs'] as const;

/** eflags, segment selectors and the x87 registers: the same in both layouts, after the instruction pointer. */
function coreTail(): RegisterDef[] {
  const x87 = (pick: (w: X87Words) => number) => (s: RegisterState) => BigInt(s.x87 ? pick(s.x87) : 0);
  return [
    gpr('eflags', 'rflags', 32, 'i386_eflags'),
    ...SELECTORS.map((seg) => readOnly(seg, 32, 'int32', FEATURE.core, (s) => BigInt(s.sregs[seg].selector))),
    // the interpreter has no x87 data registers (docs/debugging.md): st0–st7 read as zeros
    ...Array.from({ length: 8 }, (_, i) => readOnly(`st${i}`, 80, 'i387_ext', FEATURE.core, () => 0n)),
    readOnly('fctrl', 32, 'int', FEATURE.core, x87((w) => w.cw), 'float'),
    readOnly('fstat', 32, 'int', FEATURE.core, x87((w) => w.sw), 'float'),
    readOnly('ftag', 32, 'int', FEATURE.core, x87((w) => w.tw), 'float'),
    ...['fiseg', 'fioff', 'foseg', 'fooff', 'fop'].map((n) => readOnly(n, 32, 'int', FEATURE.core, () => 0n, 'float')),
  ];
}

/** FS/GS bases (gdb's segments feature) and the control registers and EFER (vmtrace's own, in `info registers system`). */
function systemRegisters(baseBits: number): RegisterDef[] {
  return [
    readOnly('fs_base', baseBits, baseBits === 64 ? 'data_ptr' : 'int32', FEATURE.segments, (s) => s.sregs.fs.base),
    readOnly('gs_base', baseBits, baseBits === 64 ? 'data_ptr' : 'int32', FEATURE.segments, (s) => s.sregs.gs.base),
    ...(['cr0', 'cr2', 'cr3', 'cr4', 'efer'] as const).map((c) => readOnly(c, 64, 'int64', FEATURE.system, (s) => s.sregs[c], 'system')),
  ];
}

function layout(name: LayoutName, registers: RegisterDef[]): Layout {
  return { name, registers, bytes: registers.reduce((n, r) => n + r.bits / 8, 0) };
}

const I386 = layout('i386', [
  // gdb's i386 order: ecx and edx before ebx
  gpr('eax', 'rax', 32), gpr('ecx', 'rcx', 32), gpr('edx', 'rdx', 32), gpr('ebx', 'rbx', 32),
  gpr('esp', 'rsp', 32, 'data_ptr'), gpr('ebp', 'rbp', 32, 'data_ptr'), gpr('esi', 'rsi', 32), gpr('edi', 'rdi', 32),
  gpr('eip', 'rip', 32, 'code_ptr'),
  ...coreTail(),
  ...systemRegisters(32),
]);

const AMD64 = layout('amd64', [
  ...(['rax', 'rbx', 'rcx', 'rdx', 'rsi', 'rdi'] as const).map((r) => gpr(r, r, 64)),
  gpr('rbp', 'rbp', 64, 'data_ptr'), gpr('rsp', 'rsp', 64, 'data_ptr'),
  ...(['r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15'] as const).map((r) => gpr(r, r, 64)),
  gpr('rip', 'rip', 64, 'code_ptr'),
  ...coreTail(),
  ...systemRegisters(64),
]);

export const LAYOUTS: Record<LayoutName, Layout> = { i386: I386, amd64: AMD64 };

/** 64-bit registers only in 64-bit mode; compatibility mode code sees the 32-bit ones. */
export function layoutFor(mode: GuestMode): Layout {
  return mode === 'long64' ? AMD64 : I386;
}

/** The modes in words, for messages. */
export const MODE_WORDS: Record<GuestMode, string> = {
  real: 'real mode (16-bit)',
  v86: 'virtual-8086 mode (16-bit)',
  protected16: '16-bit protected mode',
  protected32: '32-bit protected mode',
  compat16: '16-bit compatibility mode',
  compat32: '32-bit compatibility mode',
  long64: '64-bit long mode',
};

/** What gdb disassembles as: 16-bit code is i8086 (with the 32-bit register layout). */
export function architectureFor(mode: GuestMode): Architecture {
  if (mode === 'long64') return 'i386:x86-64';
  return mode === 'protected32' || mode === 'compat32' ? 'i386' : 'i8086';
}

function littleEndian(value: bigint, bytes: number): string {
  let out = '';
  for (let i = 0; i < bytes; i++) out += Number((value >> BigInt(8 * i)) & 0xffn).toString(16).padStart(2, '0');
  return out;
}

function fromLittleEndian(hex: string): bigint {
  let v = 0n;
  for (let i = hex.length - 2; i >= 0; i -= 2) v = (v << 8n) | BigInt(parseInt(hex.slice(i, i + 2), 16));
  return v;
}

export function encodeRegister(def: RegisterDef, s: RegisterState): string {
  return littleEndian(def.read(s) & ((1n << BigInt(def.bits)) - 1n), def.bits / 8);
}

/** The g packet's reply: every register in layout order. */
export function encodeAll(l: Layout, s: RegisterState): string {
  return l.registers.map((r) => encodeRegister(r, s)).join('');
}

/**
 * The register changes a P (one register) or G (all) write asks for, or the reason it cannot
 * be done: read-only registers (segments, x87, control registers) may only be written with
 * their current value (gdb's G packet sends them all back).
 */
export function decodeWrites(l: Layout, first: number, hex: string, s: RegisterState): Partial<Regs> | string {
  const changes: Partial<Regs> = {};
  let at = 0;
  for (let n = first; at < hex.length; n++) {
    const def = l.registers[n];
    if (!def) return `register ${n} does not exist in the ${l.name} layout`;
    const digits = hex.slice(at, at + def.bits / 4);
    if (digits.length !== def.bits / 4 || !/^[0-9a-fA-F]+$/.test(digits)) return `bad value for register ${def.name}`;
    at += digits.length;
    const value = fromLittleEndian(digits);
    if (!def.writes) {
      if (value !== (def.read(s) & ((1n << BigInt(def.bits)) - 1n))) return `register ${def.name} is read-only in a replay`;
      continue;
    }
    const mask = (1n << BigInt(def.bits)) - 1n;
    const old = changes[def.writes] ?? s.regs[def.writes];
    changes[def.writes] = (old & ~mask) | value;
  }
  return changes;
}
