// Synthetic traces for tests and benchmarks: a plausible header and generated exits written
// with the real TraceWriter, so no KVM is needed. The data is deterministic for a given seed.
import { createHash } from 'node:crypto';
import { truncateSync } from 'node:fs';

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
