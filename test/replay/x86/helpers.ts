// Test helpers: assemble real-mode snippets with GNU as/ld, build a Cpu with 1 MiB + 64 KiB of
// RAM, a recording fake sink, and real-mode register state.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Regs, Segment, Sregs } from '../../../src/cpu-state.js';
import { Cpu, type CpuidEntry, type ExitSink, type JitMode, type RunResult, type Vendor } from '../../../src/replay/x86/index.js';

function toolAvailable(tool: string): boolean {
  try {
    execFileSync(tool, ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Why assembling is impossible on this machine, or null if `as` and `ld` are there. */
export const noAssembler: string | null =
  toolAvailable('as') && toolAvailable('ld') ? null : 'GNU as/ld not found: tests that assemble code are skipped';
if (noAssembler) console.warn(`[x86 tests] ${noAssembler}`);

const asmCache = new Map<string, Uint8Array>();

/**
 * Assemble a snippet (GNU syntax; `.code16` is prepended unless the source starts with a
 * `.code` directive) linked at `org`, returning the flat binary. Sources containing `.code64`
 * are assembled as 64-bit objects (`as --64`, `ld -m elf_x86_64`).
 */
export function asm(src: string, org = 0x7c00, intel = false): Uint8Array {
  const key = `${org}:${intel}:${src}`;
  const hit = asmCache.get(key);
  if (hit) return hit;
  const dir = mkdtempSync(join(tmpdir(), 'vmtrace-x86-'));
  try {
    const header = (intel ? '.intel_syntax noprefix\n' : '') + (/^\s*\.code/.test(src) ? '' : '.code16\n');
    writeFileSync(join(dir, 'a.s'), header + src + '\n');
    const wide = /\.code64/.test(src);
    execFileSync('as', [wide ? '--64' : '--32', '-o', join(dir, 'a.o'), join(dir, 'a.s')], { stdio: 'pipe' });
    execFileSync('ld', ['-m', wide ? 'elf_x86_64' : 'elf_i386', `-Ttext=0x${org.toString(16)}`, '-e', '0', '--oformat', 'binary', '-o', join(dir, 'a.bin'), join(dir, 'a.o')], { stdio: 'pipe' });
    const out = new Uint8Array(readFileSync(join(dir, 'a.bin')));
    asmCache.set(key, out);
    return out;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface SinkLog {
  kind: 'in' | 'out' | 'mmioRead' | 'mmioWrite';
  addr: number;
  size: number;
  value: number | bigint;
}

/** A fake VMM: records every exit, answers IN from `ports` (default 0xff..), MMIO reads from a map. */
export class FakeSink implements ExitSink {
  log: SinkLog[] = [];
  ports = new Map<number, number[]>();
  mmio = new Map<number, bigint>();

  ioIn(port: number, size: 1 | 2 | 4): number {
    const q = this.ports.get(port);
    const v = q && q.length ? q.shift()! : 0xffffffff;
    this.log.push({ kind: 'in', addr: port, size, value: v });
    return v;
  }
  ioOut(port: number, size: 1 | 2 | 4, value: number): void {
    this.log.push({ kind: 'out', addr: port, size, value });
  }
  mmioRead(addr: number, size: number): bigint {
    const v = this.mmio.get(addr) ?? 0n;
    this.log.push({ kind: 'mmioRead', addr, size, value: v });
    return v;
  }
  mmioWrite(addr: number, size: number, value: bigint): void {
    this.log.push({ kind: 'mmioWrite', addr, size, value });
  }
}

function seg(selector: number, type: number): Segment {
  return { base: BigInt(selector * 16), limit: 0xffff, selector, type, present: 1, dpl: 0, db: 0, s: 1, l: 0, g: 0, avl: 0, unusable: 0 };
}

export function realModeSregs(cs = 0, ds = 0, ss = 0): Sregs {
  return {
    cs: seg(cs, 0xb), ds: seg(ds, 3), es: seg(ds, 3), fs: seg(ds, 3), gs: seg(ds, 3), ss: seg(ss, 3),
    tr: { ...seg(0, 0xb), s: 0 }, ldt: { ...seg(0, 2), s: 0 },
    cr0: 0x60000010n, cr2: 0n, cr3: 0n, cr4: 0n, cr8: 0n, efer: 0n, apic_base: 0xfee00900n,
    gdt: { base: 0n, limit: 0xffff }, idt: { base: 0n, limit: 0x3ff },
  };
}

export function zeroRegs(): Regs {
  return {
    rax: 0n, rbx: 0n, rcx: 0n, rdx: 0n, rsi: 0n, rdi: 0n, rsp: 0n, rbp: 0n,
    r8: 0n, r9: 0n, r10: 0n, r11: 0n, r12: 0n, r13: 0n, r14: 0n, r15: 0n, rip: 0n, rflags: 2n,
  };
}

export const RAM_SIZE = 0x110000;

export interface Machine {
  cpu: Cpu;
  ram: Uint8Array;
  sink: FakeSink;
  /** run until HLT (default limit 100000 instructions), expecting hlt */
  runToHlt(max?: number): RunResult;
  regs(): Regs;
  /** 16-bit value at physical address */
  w(addr: number): number;
}

export interface SetupOptions {
  org?: number;
  regs?: Partial<Regs>;
  sregs?: Sregs;
  cpuid?: CpuidEntry[];
  vendor?: Vendor;
  ram?: Array<{ base: number; bytes: Uint8Array }>;
  /** IVT entries to install: vector -> [segment, offset] */
  ivt?: Record<number, [number, number]>;
  /** undefined-flag model (trace header hostModel.flags) */
  flagModel?: Record<string, string>;
  /** step-join set (trace header hostModel.step.joins) */
  stepJoins?: string[];
  /** recorded registers for nondeterministic instructions (CpuOptions.recordedState) */
  recordedState?: (instruction: string) => Regs | undefined;
  /** compiled blocks (CpuOptions.jit) */
  jit?: JitMode;
}

/** Load `code` at physical `org` (CS=0, IP=org, SS:SP=0:0x7000) and return the harness. */
export function setup(code: Uint8Array, opts: SetupOptions = {}): Machine {
  const org = opts.org ?? 0x7c00;
  const ram = opts.ram ? opts.ram[0]!.bytes : new Uint8Array(RAM_SIZE);
  const regions = opts.ram ?? [{ base: 0, bytes: ram }];
  ram.set(code, org);
  for (const [v, [s, o]] of Object.entries(opts.ivt ?? {})) {
    const a = Number(v) * 4;
    ram[a] = o & 0xff; ram[a + 1] = o >> 8; ram[a + 2] = s & 0xff; ram[a + 3] = s >> 8;
  }
  const sink = new FakeSink();
  const cpu = new Cpu({ ram: regions, sink, cpuid: opts.cpuid ?? [], vendor: opts.vendor ?? 'amd', flagModel: opts.flagModel, stepJoins: opts.stepJoins, recordedState: opts.recordedState, jit: opts.jit });
  cpu.setState({ ...zeroRegs(), rip: BigInt(org), rsp: 0x7000n, ...opts.regs }, opts.sregs ?? realModeSregs());
  return {
    cpu,
    ram,
    sink,
    runToHlt(max = 100000) {
      return cpu.run(max);
    },
    regs: () => cpu.getRegs(),
    w: (a: number) => ram[a]! | (ram[a + 1]! << 8),
  };
}

/** Assemble (AT&T syntax, .code16) and set up; code at 0x7c00 ends where the snippet ends. */
export function run16(src: string, opts: SetupOptions = {}): Machine & { result: RunResult } {
  const m = setup(asm(src, opts.org ?? 0x7c00), opts);
  const result = m.runToHlt();
  return { ...m, result };
}

export const FLAGS = { CF: 1, PF: 4, AF: 0x10, ZF: 0x40, SF: 0x80, TF: 0x100, IF: 0x200, DF: 0x400, OF: 0x800 };
export const ARITH = 0x8d5;
