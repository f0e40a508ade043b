// Test helpers for protected and long mode: assemble with symbols, build a GDT/IDT/TSS and
// page tables in guest memory, and the initial states the recorder boots guests in (flat
// 32-bit protected mode; long mode with identity-mapped 2 MiB pages).

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Regs, Segment, Sregs } from '../../../src/cpu-state.js';
import { Cpu, type CpuidEntry, type JitMode, type RunResult } from '../../../src/replay/x86/index.js';
import { FakeSink, zeroRegs } from './helpers.js';

export const GDT = 0x1000;
export const IDT = 0x2000;
export const TSS = 0x4000;
export const LDT = 0x8000;
export const PML4 = 0x10000;
export const PDPT = 0x11000;
export const PD = 0x12000;
/** free page-table pages for tests start here */
export const PT_FREE = 0x20000;
export const CODE = 0x100000;
export const STACK0 = 0x90000;
export const STACK3 = 0x80000;
export const RAM = 0x800000;

/** Selectors of the test GDT. */
export const SEL = {
  code32: 0x08, data32: 0x10, code16: 0x18, data16: 0x20, code64: 0x28,
  ucode32: 0x33, udata32: 0x3b, ucode64: 0x43, tss: 0x48,
  limited: 0x58, readonly: 0x60, absent: 0x68, expdown: 0x70, execonly: 0x78, ldt: 0x80, unaccessed: 0x88,
};

const symCache = new Map<string, { bytes: Uint8Array; sym: Record<string, number> }>();

/**
 * Assemble (GNU syntax; `.code32` unless the source starts with a `.code` directive) at
 * `org` and return the bytes and the address of every label.
 */
export function asmSym(src: string, org = CODE): { bytes: Uint8Array; sym: Record<string, number> } {
  const key = `${org}:${src}`;
  const hit = symCache.get(key);
  if (hit) return hit;
  const dir = mkdtempSync(join(tmpdir(), 'vmtrace-x86m-'));
  try {
    const wide = /\.code64/.test(src);
    const header = /^\s*\.code/.test(src) ? '' : '.code32\n';
    writeFileSync(join(dir, 'a.s'), header + src + '\n');
    execFileSync('as', [wide ? '--64' : '--32', '-o', join(dir, 'a.o'), join(dir, 'a.s')], { stdio: 'pipe' });
    const m = wide ? 'elf_x86_64' : 'elf_i386';
    const base = ['-m', m, `-Ttext=0x${org.toString(16)}`, '-e', '0'];
    execFileSync('ld', [...base, '-o', join(dir, 'a.elf'), join(dir, 'a.o')], { stdio: 'pipe' });
    execFileSync('ld', [...base, '--oformat', 'binary', '-o', join(dir, 'a.bin'), join(dir, 'a.o')], { stdio: 'pipe' });
    const sym: Record<string, number> = {};
    for (const line of execFileSync('nm', [join(dir, 'a.elf')], { encoding: 'utf8' }).split('\n')) {
      const [v, , name] = line.trim().split(/\s+/);
      if (name && v) sym[name] = parseInt(v, 16);
    }
    const out = { bytes: new Uint8Array(readFileSync(join(dir, 'a.bin'))), sym };
    symCache.set(key, out);
    return out;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface DescFields {
  base?: number;
  limit?: number;
  type: number;
  s?: number;
  dpl?: number;
  p?: number;
  l?: number;
  db?: number;
  g?: number;
}

/** Write an 8-byte descriptor. `limit` is the raw 20-bit field. */
export function writeDesc(ram: Uint8Array, at: number, d: DescFields): void {
  const base = d.base ?? 0;
  const limit = d.limit ?? 0xfffff;
  ram[at] = limit & 0xff;
  ram[at + 1] = (limit >> 8) & 0xff;
  ram[at + 2] = base & 0xff;
  ram[at + 3] = (base >> 8) & 0xff;
  ram[at + 4] = (base >> 16) & 0xff;
  ram[at + 5] = (d.type & 0xf) | ((d.s ?? 1) << 4) | ((d.dpl ?? 0) << 5) | ((d.p ?? 1) << 7);
  ram[at + 6] = ((limit >> 16) & 0xf) | ((d.l ?? 0) << 5) | ((d.db ?? 1) << 6) | ((d.g ?? 1) << 7);
  ram[at + 7] = (base >>> 24) & 0xff;
}

/** Build the test GDT (see SEL), a TSS (32- or 64-bit) and an LDT with one data segment. */
export function buildTables(ram: Uint8Array, long: boolean): void {
  const g = (sel: number, d: DescFields) => writeDesc(ram, GDT + (sel & ~7), d);
  g(SEL.code32, { type: 0xb });
  g(SEL.data32, { type: 3 });
  g(SEL.code16, { type: 0xb, limit: 0xffff, db: 0, g: 0 });
  g(SEL.data16, { type: 3, limit: 0xffff, db: 0, g: 0 });
  g(SEL.code64, { type: 0xb, l: 1, db: 0 });
  g(SEL.ucode32, { type: 0xb, dpl: 3 });
  g(SEL.udata32, { type: 3, dpl: 3 });
  g(SEL.ucode64, { type: 0xb, dpl: 3, l: 1, db: 0 });
  // TSS: 0x68 bytes + an I/O bitmap of 8 KiB (+ the terminating byte)
  const tssLimit = 0x68 + 0x2000;
  g(SEL.tss, { type: 0xb, s: 0, base: TSS, limit: tssLimit, db: 0, g: 0 });
  if (long) new DataView(ram.buffer).setUint32(GDT + (SEL.tss & ~7) + 8, 0, true);
  g(SEL.limited, { type: 3, base: 0x200000, limit: 0xfff, g: 0 });
  g(SEL.readonly, { type: 1 });
  g(SEL.absent, { type: 3, p: 0 });
  g(SEL.expdown, { type: 7, limit: 0xfff, g: 0 });
  g(SEL.execonly, { type: 9 });
  g(SEL.ldt, { type: 2, s: 0, base: LDT, limit: 0xff, db: 0, g: 0 });
  g(SEL.unaccessed, { type: 2 });
  writeDesc(ram, LDT + 8, { type: 3, base: 0x300000, limit: 0xffff, g: 0 }); // LDT selector 0x0c
  const t = new DataView(ram.buffer, TSS);
  if (long) {
    t.setUint32(4, STACK0, true); // RSP0
    t.setUint32(0x24, 0x70000, true); // IST1
  } else {
    t.setUint32(4, STACK0, true); // ESP0
    t.setUint16(8, SEL.data32, true); // SS0
  }
  t.setUint16(0x66, 0x68, true); // I/O bitmap base
  ram[TSS + 0x68 + 0x2000] = 0xff;
}

/** Legacy IDT gate (type 0xe: 32-bit interrupt gate, 0xf: trap gate). */
export function gate32(ram: Uint8Array, vector: number, off: number, opts: { sel?: number; type?: number; dpl?: number; p?: number } = {}): void {
  const at = IDT + vector * 8;
  const v = new DataView(ram.buffer);
  v.setUint16(at, off & 0xffff, true);
  v.setUint16(at + 2, opts.sel ?? SEL.code32, true);
  ram[at + 4] = 0;
  ram[at + 5] = (opts.type ?? 0xe) | ((opts.dpl ?? 0) << 5) | ((opts.p ?? 1) << 7);
  v.setUint16(at + 6, off >>> 16, true);
}

/** Long-mode IDT gate (16 bytes). */
export function gate64(ram: Uint8Array, vector: number, off: number, opts: { sel?: number; type?: number; dpl?: number; ist?: number; offHi?: number } = {}): void {
  const at = IDT + vector * 16;
  const v = new DataView(ram.buffer);
  v.setUint16(at, off & 0xffff, true);
  v.setUint16(at + 2, opts.sel ?? SEL.code64, true);
  ram[at + 4] = opts.ist ?? 0;
  ram[at + 5] = (opts.type ?? 0xe) | ((opts.dpl ?? 0) << 5) | 0x80;
  v.setUint16(at + 6, (off >>> 16) & 0xffff, true);
  v.setUint32(at + 8, opts.offHi ?? 0, true);
  v.setUint32(at + 12, 0, true);
}

/** Write a 64-bit page-table entry. */
export function pte(ram: Uint8Array, at: number, phys: number, flags: number, nx = false): void {
  const v = new DataView(ram.buffer);
  v.setUint32(at, ((phys % 0x100000000) & ~0xfff) | flags, true);
  v.setUint32(at + 4, Math.floor(phys / 0x100000000) | (nx ? 0x80000000 : 0), true);
}

/** Identity map the first GiB with 2 MiB pages (PML4 -> PDPT -> PD), supervisor, writable. */
export function identityMap(ram: Uint8Array): void {
  pte(ram, PML4, PDPT, 0x7);
  pte(ram, PDPT, PD, 0x7);
  for (let k = 0; k < 512; k++) pte(ram, PD + k * 8, k * 0x200000, 0x83);
}

function seg(selector: number, d: DescFields & { unusable?: number }): Segment {
  const limit = d.limit ?? 0xfffff;
  const g = d.g ?? 1;
  return {
    base: BigInt(d.base ?? 0), limit: g ? ((limit << 12) | 0xfff) >>> 0 : limit, selector,
    type: d.type, present: d.p ?? 1, dpl: d.dpl ?? 0, db: d.db ?? 1, s: d.s ?? 1, l: d.l ?? 0, g, avl: 0, unusable: d.unusable ?? 0,
  };
}

/** Flat 32-bit protected mode, CPL 0, no paging (the recorder's protected-mode boot state). */
export function pmSregs(): Sregs {
  const data = seg(SEL.data32, { type: 3 });
  return {
    cs: seg(SEL.code32, { type: 0xb }), ds: data, es: data, fs: data, gs: data, ss: data,
    tr: seg(SEL.tss, { type: 0xb, s: 0, base: TSS, limit: 0x68 + 0x2000, db: 0, g: 0 }),
    ldt: seg(0, { type: 2, s: 0, limit: 0, db: 0, g: 0, unusable: 1 }),
    cr0: 0x60000011n, cr2: 0n, cr3: 0n, cr4: 0n, cr8: 0n, efer: 0n, apic_base: 0xfee00900n,
    gdt: { base: BigInt(GDT), limit: 0xff }, idt: { base: BigInt(IDT), limit: 0x7ff },
  };
}

/** Long mode, CPL 0, identity-mapped 2 MiB pages (the recorder's long-mode boot state). */
export function lmSregs(): Sregs {
  const data = seg(SEL.data32, { type: 3 });
  return {
    cs: seg(SEL.code64, { type: 0xb, l: 1, db: 0 }), ds: data, es: data, fs: data, gs: data, ss: data,
    tr: seg(SEL.tss, { type: 0xb, s: 0, base: TSS, limit: 0x68 + 0x2000, db: 0, g: 0 }),
    ldt: seg(0, { type: 2, s: 0, limit: 0, db: 0, g: 0, unusable: 1 }),
    cr0: 0x80000011n, cr2: 0n, cr3: BigInt(PML4), cr4: 0x20n, cr8: 0n, efer: 0x500n, apic_base: 0xfee00900n,
    gdt: { base: BigInt(GDT), limit: 0xff }, idt: { base: BigInt(IDT), limit: 0xfff },
  };
}

export interface ModeMachine {
  cpu: Cpu;
  ram: Uint8Array;
  sink: FakeSink;
  sym: Record<string, number>;
  regs(): Regs;
  sregs(): Sregs;
  run(max?: number): RunResult;
  u32(addr: number): number;
  u64(addr: number): bigint;
}

export interface ModeOptions {
  regs?: Partial<Regs>;
  /** modify the initial sregs */
  sregs?: (s: Sregs) => void;
  cpuid?: CpuidEntry[];
  /** install IDT gates: vector -> label */
  gates?: Record<number, string | { label: string; type?: number; dpl?: number; ist?: number; sel?: number }>;
  /** extra RAM setup before the state is loaded */
  prepare?: (ram: Uint8Array, sym: Record<string, number>) => void;
  jit?: JitMode;
}

function machine(src: string, long: boolean, opts: ModeOptions): ModeMachine {
  const { bytes, sym } = asmSym(src);
  const ram = new Uint8Array(RAM);
  ram.set(bytes, CODE);
  buildTables(ram, long);
  if (long) identityMap(ram);
  for (const [v, g] of Object.entries(opts.gates ?? {})) {
    const o = typeof g === 'string' ? { label: g } : g;
    const off = sym[o.label];
    if (off === undefined) throw new Error(`no label ${o.label}`);
    if (long) gate64(ram, Number(v), off, o);
    else gate32(ram, Number(v), off, o);
  }
  opts.prepare?.(ram, sym);
  const sink = new FakeSink();
  const cpu = new Cpu({ ram: [{ base: 0, bytes: ram }], sink, cpuid: opts.cpuid ?? [], vendor: 'amd', jit: opts.jit });
  const sregs = long ? lmSregs() : pmSregs();
  opts.sregs?.(sregs);
  cpu.setState({ ...zeroRegs(), rip: BigInt(CODE), rsp: BigInt(STACK0), ...opts.regs }, sregs);
  const dv = new DataView(ram.buffer);
  return {
    cpu, ram, sink, sym,
    regs: () => cpu.getRegs(),
    sregs: () => cpu.getSregs(),
    run: (max = 100000) => cpu.run(max),
    u32: (a) => dv.getUint32(a, true),
    u64: (a) => dv.getBigUint64(a, true),
  };
}

/** 32-bit protected-mode machine running `src` (`.code32`) at CODE. */
export function pm(src: string, opts: ModeOptions = {}): ModeMachine {
  return machine(src, false, opts);
}

/** Long-mode machine running `src` (`.code64` is prepended) at CODE. */
export function lm(src: string, opts: ModeOptions = {}): ModeMachine {
  return machine(/^\s*\.code/.test(src) ? src : `.code64\n${src}`, true, opts);
}
