// Synthetic traces for tests and benchmarks: a plausible header and generated exits written
// with the real TraceWriter, so no KVM is needed. The data is deterministic for a given seed.
import { createHash } from 'node:crypto';
import { truncateSync } from 'node:fs';

import { registerLayout } from '../arch/index.js';
import { DEFAULT_RAM_BYTES, PL011_BASE, PSCI, RAM_BASE, SCTLR_RESET, SYSTEM_EVENT } from '../arch/aarch64/layout.js';
import { A64_REG, A64_SYSREGS_BYTES, PSTATE_RESET, a64RegsFromBytes, a64SysregsFromBytes } from '../arch/aarch64/state.js';
import { REG_NAMES, regsToBytes, type Regs, type Sregs } from '../cpu-state.js';
import { sregsToBytes } from '../kvm-structs.js';
import { EXIT } from '../trace/exit-reasons.js';
import { FORMAT_MAJOR, FORMAT_MINOR, type TraceHeader } from '../trace/format.js';
import { openTrace } from '../trace/reader.js';
import { TraceWriter, type RecordInput } from '../trace/writer.js';

export function zeroRegs(): Regs {
  const r = {} as Regs;
  for (const n of REG_NAMES) r[n] = 0n;
  r.rflags = 2n;
  return r;
}

function segment(type: number, s: number) {
  return { base: 0n, limit: 0xffff, selector: 0, type, present: 1, dpl: 0, db: 0, s, l: 0, g: 0, avl: 0, unusable: 0 };
}

export function realModeSregs(): Sregs {
  return {
    cs: segment(11, 1),
    ds: segment(3, 1),
    es: segment(3, 1),
    fs: segment(3, 1),
    gs: segment(3, 1),
    ss: segment(3, 1),
    tr: segment(3, 0),
    ldt: segment(2, 0),
    gdt: { base: 0n, limit: 0xffff },
    idt: { base: 0n, limit: 0xffff },
    cr0: 0x60000010n,
    cr2: 0n,
    cr3: 0n,
    cr4: 0n,
    cr8: 0n,
    efer: 0n,
    apic_base: 0xfee00900n,
  };
}

/** A header like the recorder writes, for a guest `image` (default: a few bytes of code). */
export function syntheticHeader(opts: { image?: Uint8Array; name?: string; singleStep?: boolean; consolePort?: number } = {}): TraceHeader {
  const image = opts.image ?? Uint8Array.from([0xb0, 0x48, 0xe6, 0xf1, 0xf4]);
  const name = opts.name ?? 'synthetic.bin';
  const consolePort = opts.consolePort ?? 0xf1;
  return {
    format: { major: FORMAT_MAJOR, minor: FORMAT_MINOR },
    arch: 'x86_64',
    tool: { name: 'vmtrace', version: '0.0.0-synthetic' },
    createdAt: '2025-01-01T00:00:00.000Z',
    host: {
      kernel: '6.1.0-synthetic',
      kvmApiVersion: 12,
      kvmModule: 'kvm_intel',
      cpuVendor: 'GenuineIntel',
      cpuModel: 'Synthetic CPU',
      syncRegs: true,
    },
    guest: { name, image, sha256: createHash('sha256').update(image).digest('hex'), loadAddress: 0 },
    memory: [{ base: 0, size: 1 << 20, kind: 'ram' }],
    initialMemory: [{ address: 0, bytes: image, what: `image ${name}` }],
    boot: { mode: 'real', regs: zeroRegs(), sregs: realModeSregs(), cpuid: [] },
    devices: [{ name: 'console', kind: 'port', base: consolePort, length: 1 }],
    options: { mem: 1 << 20, load: 0, consolePort, step: opts.singleStep ?? false },
    semantics: { registers: 'completed', singleStep: opts.singleStep ?? false },
  };
}

export interface SyntheticOptions {
  /** Number of records before the final HLT (default 1000). */
  exits?: number;
  /** Omit the footer (a truncated trace, as a crashed recording leaves). */
  truncate?: boolean;
  /** Change record `index` before it is written (tests build divergent traces this way). */
  mutate?: (index: number, rec: RecordInput) => void;
  /** Extra records appended before the HLT. */
  extra?: RecordInput[];
  header?: TraceHeader;
  /** Guest nanoseconds between exits (default 500). */
  stepNs?: number;
  /** Bytes per frame of records (default: the writer's 1 MiB). */
  frameBytes?: number;
  /** Trace format to write (default: the current one; 2: a msgpack map per record). */
  format?: 2 | 3;
}

const CONSOLE_TEXT = Buffer.from('Hello from a synthetic guest!\n', 'latin1');

/**
 * Writes a trace of `exits` records: mostly console OUTs on 0xf1 (cycling through a line of
 * text), every 7th a port 0x60 IN, every 11th an MMIO write/read at 0x100000 and a final HLT.
 * Registers move like a real guest's: RIP advances, RAX holds the last byte, RCX counts.
 */
export async function writeSyntheticTrace(path: string, opts: SyntheticOptions = {}): Promise<{ records: number }> {
  const n = opts.exits ?? 1000;
  const header = opts.header ?? syntheticHeader();
  const w = new TraceWriter(path, opts.frameBytes, { format: opts.format ?? 3 });
  w.writeHeader(header);
  const regs = new Uint8Array(regsToBytes(header.boot.regs));
  const view = new DataView(regs.buffer);
  const stepNs = opts.stepNs ?? 500;
  let t = 1_000_000;
  let index = 0;
  const put = (rec: RecordInput) => {
    opts.mutate?.(index, rec);
    w.writeRecord(rec);
    index++;
  };
  const setReg = (i: number, v: number) => view.setBigUint64(i * 8, BigInt(v), true);
  for (let i = 0; i < n; i++) {
    t += stepNs + (i % 13) * 10;
    const runNs = 300 + (i % 17) * 20;
    setReg(16, 4 + (i % 4096) * 4); // rip
    setReg(2, i); // rcx
    let rec: RecordInput;
    if (i % 11 === 10) {
      const write = (i / 11) % 2 < 1;
      const data = write ? Uint8Array.of(i & 0xff, 0x5a) : Uint8Array.of(0xff, 0xff);
      rec = { kind: 'exit', reason: EXIT.MMIO, timeNs: t, runNs, regsBytes: regs.slice(), mmio: { address: 0x100000 + (write ? 0 : 4), length: 2, write, data } };
    } else if (i % 7 === 6) {
      setReg(0, 0x1c);
      rec = { kind: 'exit', reason: EXIT.IO, timeNs: t, runNs, regsBytes: regs.slice(), io: { port: 0x60, size: 1, out: false, count: 1, data: Uint8Array.of(0x1c) } };
    } else {
      const ch = CONSOLE_TEXT[i % CONSOLE_TEXT.length]!;
      setReg(0, ch);
      rec = { kind: 'exit', reason: EXIT.IO, timeNs: t, runNs, regsBytes: regs.slice(), io: { port: 0xf1, size: 1, out: true, count: 1, data: Uint8Array.of(ch) } };
    }
    put(rec);
  }
  for (const e of opts.extra ?? []) put(e);
  t += stepNs;
  setReg(16, 4 + (n % 4096) * 4 + 1);
  put({ kind: 'exit', reason: EXIT.HLT, timeNs: t, runNs: 400, regsBytes: regs.slice() });
  await w.finish({ endReason: 'hlt', message: 'guest halted (HLT)', regsBytes: regs.slice(), sregsBytes: sregsToBytes(header.boot.sregs) });
  if (opts.truncate) await stripFooter(path);
  return { records: index };
}

/**
 * Cuts the footer off a complete trace, leaving a truncated one (as a crashed recording would).
 * (Done after finish() rather than with TraceWriter.close(): close() may leave a background
 * write in flight, so the file is not final when it returns.)
 */
export async function stripFooter(path: string): Promise<void> {
  const t = await openTrace(path);
  try {
    for await (const batch of t.batches()) void batch;
  } finally {
    await t.close();
  }
  if (!t.footer) throw new Error(`${path} has no footer to strip`);
  truncateSync(path, t.footer.offset);
}

// ---- aarch64 ------------------------------------------------------------------------------------

/** A64 encodings the synthetic guest is made of. */
const A64 = {
  /** movz x0, #0x0900, lsl #16: x0 = PL011_BASE */
  pl011Base: 0xd2a12000,
  /** movz w1, #imm16 */
  movW1: (imm: number) => 0x52800001 | (imm << 5),
  /** strb w1, [x0] */
  strbW1: 0x39000001,
  /** movz w0, #0x8400, lsl #16; movk w0, #0x8: w0 = PSCI SYSTEM_OFF */
  systemOff: [0x52b08000, 0x72800100],
  /** hvc #0 */
  hvc: 0xd4000002,
} as const;

/** A flat aarch64 image that writes `text` to the PL011 a byte at a time, then powers off by PSCI. */
export function syntheticA64Image(text: string): Uint8Array {
  const words = [A64.pl011Base, ...[...Buffer.from(text, 'latin1')].flatMap((c) => [A64.movW1(c), A64.strbW1]), ...A64.systemOff, A64.hvc];
  const image = new Uint8Array(4 * words.length);
  const view = new DataView(image.buffer);
  words.forEach((w, i) => view.setUint32(4 * i, w, true));
  return image;
}

/** A header like `record --arch aarch64` writes (QEMU virt layout, EL1 boot state), for `image` at RAM_BASE. */
export function syntheticA64Header(opts: { image?: Uint8Array; name?: string; singleStep?: boolean } = {}): TraceHeader {
  const image = opts.image ?? syntheticA64Image('Hi\n');
  const name = opts.name ?? 'synthetic-a64.bin';
  const layout = registerLayout('aarch64');
  const regs = a64RegsFromBytes(new Uint8Array(layout.regsBytes));
  regs.pc = BigInt(RAM_BASE);
  regs.sp_el1 = BigInt(RAM_BASE + DEFAULT_RAM_BYTES);
  regs.pstate = PSTATE_RESET;
  const sregs = a64SysregsFromBytes(new Uint8Array(A64_SYSREGS_BYTES));
  sregs.sctlr_el1 = SCTLR_RESET;
  return {
    format: { major: FORMAT_MAJOR, minor: FORMAT_MINOR },
    arch: 'aarch64',
    tool: { name: 'vmtrace', version: '0.0.0-synthetic' },
    createdAt: '2025-01-01T00:00:00.000Z',
    host: { kernel: '6.1.0-synthetic', kvmApiVersion: 12, kvmModule: 'kvm', cpuVendor: 'ARM', cpuModel: 'Synthetic Cortex', syncRegs: false },
    guest: { name, image, sha256: createHash('sha256').update(image).digest('hex'), loadAddress: RAM_BASE },
    memory: [{ base: RAM_BASE, size: DEFAULT_RAM_BYTES, kind: 'ram' }],
    initialMemory: [{ address: RAM_BASE, bytes: image, what: `image ${name}` }],
    boot: { mode: 'el1', regs: regs as unknown as Regs, sregs: sregs as unknown as Sregs, cpuid: [] },
    devices: [{ name: 'pl011', kind: 'mmio', base: PL011_BASE, length: 0x1000 }],
    options: { arch: 'aarch64', format: 'flat', mem: DEFAULT_RAM_BYTES, load: RAM_BASE, entry: RAM_BASE, step: opts.singleStep ?? false },
    semantics: { registers: 'completed', singleStep: opts.singleStep ?? false },
  };
}

export interface SyntheticA64Options {
  /** What the guest writes to its PL011 (default `Hi\n`): one MMIO exit per byte. */
  text?: string;
  /** Change record `index` (its registers: `regs`, 35 u64 as the layout names them) before it is written. */
  mutate?: (index: number, rec: RecordInput, regs: DataView) => void;
}

/**
 * Writes the trace `record --arch aarch64` would of syntheticA64Image(text): an MMIO write exit
 * per byte (registers after the strb: pc past it, x1 the byte), then the SYSTEM_EVENT of PSCI
 * SYSTEM_OFF (pc past the hvc) and a 'shutdown' footer.
 */
export async function writeSyntheticA64Trace(path: string, opts: SyntheticA64Options = {}): Promise<{ records: number; header: TraceHeader }> {
  const text = Buffer.from(opts.text ?? 'Hi\n', 'latin1');
  const header = syntheticA64Header({ image: syntheticA64Image(text.toString('latin1')) });
  const layout = registerLayout('aarch64');
  const regs = new Uint8Array(layout.regsBytesOf(header.boot.regs));
  const view = new DataView(regs.buffer);
  const setReg = (i: number, v: number) => view.setBigUint64(i * 8, BigInt(v), true);
  const w = new TraceWriter(path);
  w.writeHeader(header);
  let t = 1_000_000;
  let index = 0;
  const put = (rec: RecordInput) => {
    const own = new DataView(rec.regsBytes.buffer, rec.regsBytes.byteOffset, rec.regsBytes.byteLength);
    opts.mutate?.(index++, rec, own);
    w.writeRecord(rec);
  };
  setReg(0, PL011_BASE);
  text.forEach((c, i) => {
    t += 700;
    setReg(1, c);
    setReg(A64_REG.pc, RAM_BASE + 4 + 8 * i + 8);
    put({ kind: 'exit', reason: EXIT.MMIO, timeNs: t, runNs: 400 + 10 * i, regsBytes: regs.slice(), mmio: { address: PL011_BASE, length: 1, write: true, data: Uint8Array.of(c) } });
  });
  t += 700;
  setReg(0, PSCI.SYSTEM_OFF);
  setReg(A64_REG.pc, RAM_BASE + 4 + 8 * text.length + 12);
  put({ kind: 'exit', reason: EXIT.SYSTEM_EVENT, timeNs: t, runNs: 500, regsBytes: regs.slice(), detail: { type: SYSTEM_EVENT.SHUTDOWN } });
  await w.finish({ endReason: 'shutdown', message: 'guest powered off (PSCI SYSTEM_OFF)', regsBytes: regs.slice(), sregsBytes: layout.sregsBytesOf(header.boot.sregs) });
  return { records: index, header };
}
