import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { pack, unpack, unpackMultiple } from 'msgpackr';
import { describe, expect, it } from 'vitest';

import { REG_NAMES, regsToBytes, type Regs } from '../../src/cpu-state.js';
import { realModeState } from '../../src/boot/real-mode.js';
import { sregsToBytes } from '../../src/kvm-structs.js';
import { EXIT } from '../../src/trace/exit-reasons.js';
import type { TraceHeader } from '../../src/trace/format.js';
import { copyTrace } from '../../src/trace/copy.js';
import { openTrace, readTrace, TraceError, type ScanMark } from '../../src/trace/reader.js';
import { TraceWriter, type WriterOptions } from '../../src/trace/writer.js';
import { frameOffsets, recordsFrame, resign } from '../support/frames.js';
import { encodeFrame, FRAME_HEAD_BYTES, TAG_END, TAG_HEADER } from '../../src/trace/frame.js';

const dir = mkdtempSync(join(tmpdir(), 'vmtrace-format-'));
const boot = realModeState({ cs: 0, ip: 0, sp: 0 }, { cr8: 0n, apic_base: 0xfee00900n } as never);

function header(): TraceHeader {
  return {
    format: { major: 3, minor: 1 },
    arch: 'x86_64',
    tool: { name: 'vmtrace', version: 'test' },
    createdAt: '2026-11-24T00:00:00.000Z',
    host: { kernel: 'k', kvmApiVersion: 12, kvmModule: 'kvm_test', cpuVendor: 'V', cpuModel: 'M', syncRegs: true },
    guest: { name: 'g.bin', image: Uint8Array.from([0xf4]), sha256: createHash('sha256').update(Uint8Array.from([0xf4])).digest('hex'), loadAddress: 0 },
    memory: [{ base: 0, size: 4096, kind: 'ram' }],
    initialMemory: [{ address: 0, bytes: Uint8Array.from([0xf4]), what: 'image g.bin' }],
    boot: { mode: 'real', regs: boot.regs, sregs: boot.sregs, cpuid: [{ function: 0, index: 0, flags: 0, eax: 1, ebx: 2, ecx: 3, edx: 4 }] },
    cpu: { source: 'builtin', name: 'vmtrace-1' },
    hostModel: { flags: { 'bsf.4': 'c=0 p=r a=0 s=0 o=0', 'shld.2': 'o=?' }, step: { joins: ['endbr32'] } },
    devices: [{ name: 'console', kind: 'port', base: 0xf1, length: 1 }],
    options: { mem: 4096 },
    semantics: { registers: 'completed', singleStep: false },
  };
}

function regsWith(changes: Partial<Regs>): Regs {
  return { ...boot.regs, ...changes };
}

/** A small trace exercising every record field; returns its path. */
async function sampleTrace(name: string, opts: WriterOptions = {}): Promise<string> {
  const path = join(dir, name);
  const w = new TraceWriter(path, undefined, opts);
  w.writeHeader(header());
  w.writeRecord({
    kind: 'exit', reason: EXIT.IO, timeNs: 1000, runNs: 200,
    regsBytes: regsToBytes(regsWith({ rax: 0x48n, rip: 4n })),
    io: { port: 0xf1, size: 1, out: true, count: 1, data: Uint8Array.from([0x48]) },
  });
  const sregs2 = { ...boot.sregs, ds: { ...boot.sregs.ds, selector: 0x10, base: 0x100n } };
  w.writeRecord({
    kind: 'exit', reason: EXIT.MMIO, timeNs: 2000, runNs: 300,
    regsBytes: regsToBytes(regsWith({ rax: 0xffffffffffffffffn, rip: 0x1_0000_0000n, r15: 7n })),
    sregsBytes: sregsToBytes(sregs2),
    mmio: { address: 0x100004, length: 2, write: false, data: Uint8Array.from([1, 2]) },
  });
  w.writeRecord({
    kind: 'step', reason: EXIT.DEBUG, timeNs: 2 ** 40, runNs: 5,
    regsBytes: regsToBytes(regsWith({ rax: 0xffffffffffffffffn, rip: 0x1_0000_0002n, r15: 7n })),
  });
  w.writeRecord({
    kind: 'exit', reason: EXIT.INTERNAL_ERROR, timeNs: 2 ** 40 + 1, runNs: 6,
    regsBytes: regsToBytes(regsWith({ rip: 9n })),
    detail: { suberror: 1, suberrorName: 'EMULATION', data: [1, 2] },
  });
  await w.finish({ endReason: 'internal-error', message: 'm', regsBytes: regsToBytes(regsWith({ rip: 9n })), sregsBytes: sregsToBytes(sregs2) });
  return path;
}

describe('trace format', () => {
  it.each([3, 2] as const)('round-trips every header, record and footer field (format %i)', async (format) => {
    const t = await readTrace(await sampleTrace(`rt-${format}.vmtrace`, { format }));
    const h = header();
    h.format = { major: format, minor: format === 3 ? 1 : 0 };
    expect(t.header).toEqual({ ...h, guest: { ...h.guest, image: expect.any(Uint8Array) }, initialMemory: [expect.objectContaining({ address: 0, what: 'image g.bin' })] });
    expect([...t.header.initialMemory[0]!.bytes]).toEqual([0xf4]);
    expect([...t.header.guest.image]).toEqual([0xf4]);
    expect(t.records).toHaveLength(4);
    const [io, mmio, step, err] = t.records;
    expect(io).toMatchObject({ kind: 'exit', seq: 0, reason: EXIT.IO, reasonName: 'IO', timeNs: 1000, runNs: 200, sregsChanged: false });
    expect(io!.io).toEqual({ port: 0xf1, size: 1, direction: 'out', count: 1, data: expect.anything() });
    expect(io!.regs).toEqual(regsWith({ rax: 0x48n, rip: 4n }));
    expect(io!.sregs).toEqual(boot.sregs);
    expect(mmio!.regs).toEqual(regsWith({ rax: 0xffffffffffffffffn, rip: 0x1_0000_0000n, r15: 7n }));
    expect(mmio!.sregsChanged).toBe(true);
    expect(mmio!.sregs.ds).toMatchObject({ selector: 0x10, base: 0x100n });
    expect(mmio!.mmio).toMatchObject({ address: 0x100004, length: 2, write: false });
    expect(step).toMatchObject({ kind: 'step', reasonName: 'DEBUG', timeNs: 2 ** 40 });
    expect(step!.sregs.ds.selector).toBe(0x10); // carried over from the previous record
    expect(step!.regs.rip).toBe(0x1_0000_0002n);
    expect(err!.detail).toEqual({ suberror: 1, suberrorName: 'EMULATION', data: [1, 2] });
    expect(t.footer).toMatchObject({ endReason: 'internal-error', message: 'm', exits: 3, records: 4 });
    expect(t.footer!.regs.rip).toBe(9n);
    expect(t.truncated).toBe(false);
  });

  it('stores only changed registers but hands out full values (2.0: a mask and the values)', async () => {
    const path = await sampleTrace('delta.vmtrace', { format: 2 });
    const t = await readTrace(path);
    for (const r of t.records) expect(Object.keys(r.regs)).toEqual([...REG_NAMES]);
    const frames = unpackMultiple(readFileSync(path)) as unknown[][]; // magic, then frames
    expect(frames.slice(1).map((f) => f[0])).toEqual(['h', 'r', 'e']);
    const first = (unpackMultiple(frames[2]![5] as Uint8Array) as Array<Record<string, unknown>>)[0]!;
    expect(first.gm).toBe(0b1_0000_0000_0000_0001); // rax and rip changed since boot
    expect((first.g as Uint8Array).length).toBe(16);
  });

  it('3.0: stores a chunk of columns, compressed: masks, register differences, times as gaps; the image once', async () => {
    const path = await sampleTrace('chunk.vmtrace');
    const frames = unpackMultiple(readFileSync(path)) as unknown[][];
    expect(frames.slice(1).map((f) => f[0])).toEqual(['h', 'r', 'e']);
    // The header stays a plain map (a 2.0 reader refuses it by its format), with the image once.
    const h = unpack(frames[1]![5] as Uint8Array) as Record<string, any>;
    expect(h.format).toEqual([3, 1]);
    expect(h.arch).toBe('x86_64');
    expect(h.initialMemory).toEqual([{ address: 0, what: 'image g.bin', image: true }]);
    const cols = unpack(inflateRawSync(frames[2]![5] as Uint8Array)) as Uint8Array[];
    expect(cols).toHaveLength(10);
    const [flags, reasons, times, runs, masks, regs, sregs, io, mmio, details] = cols.map((c) => [...c]);
    expect(flags).toEqual([4, 2 | 8, 1, 16]); // io; sregs+mmio; step; detail
    expect(reasons).toEqual([EXIT.IO, EXIT.MMIO, EXIT.DEBUG, EXIT.INTERNAL_ERROR]);
    // gap = t − previous t − d, zigzag: 1000−0−200 = 800 → 1600 (varint 0xc0 0x0c)
    expect(times.slice(0, 2)).toEqual([0xc0, 0x0c]);
    expect(runs.slice(0, 2)).toEqual([0xc8, 0x01]); // 200
    expect(masks[0]).toBe(0b1_0000_0000_0000_0001 & 0x7f | 0x80); // rax and rip, as a varint
    // rax: 0x48 − 0 as 8 bytes little-endian; then rip 4 − 0
    expect(regs.slice(0, 16)).toEqual([0x48, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0]);
    expect(sregs).toHaveLength(312);
    expect(io).toEqual([0xf1, 0x01, 1, 1, 1, 0x48]); // port, size, out, count, data
    expect(mmio.slice(0, 6)).toEqual([0x84, 0x80, 0x40, 2, 0, 1]); // 0x100004, length 2, read, …
    expect(unpack(Uint8Array.from(details))).toEqual({ suberror: 1, suberrorName: 'EMULATION', data: [1, 2] });
  });

  it('--no-timestamps: stores no times; readers report 0', async () => {
    const path = await sampleTrace('untimed.vmtrace', { timestamps: false });
    const t = await readTrace(path);
    expect(t.records.map((r) => [r.timeNs, r.runNs])).toEqual([[0, 0], [0, 0], [0, 0], [0, 0]]);
    const frames = unpackMultiple(readFileSync(path)) as unknown[][];
    const cols = unpack(inflateRawSync(frames[2]![5] as Uint8Array)) as Uint8Array[];
    expect([cols[2]!.length, cols[3]!.length]).toEqual([0, 0]);
    expect((await readTrace(path)).header.options.timestamps).toBe(false);
    expect(readFileSync(path).length).toBeLessThan(readFileSync(await sampleTrace('timed.vmtrace')).length);
  });

  it('3.0: scanFrom() resumes at a mark inside a chunk with the same registers, times and payloads', async () => {
    const path = join(dir, 'marks.vmtrace');
    const w = new TraceWriter(path, 300); // a few records per chunk
    w.writeHeader(header());
    for (let i = 0; i < 40; i++) {
      w.writeRecord({ kind: 'exit', reason: EXIT.IO, timeNs: 1000 * i + (i % 3), runNs: 100 + i, regsBytes: regsToBytes(regsWith({ rip: BigInt(i % 5), rcx: BigInt(i) })), io: { port: 0xf1, size: 1, out: true, count: 1, data: Uint8Array.from([i]) } });
    }
    await w.finish({ endReason: 'hlt', message: 'm', regsBytes: regsToBytes(boot.regs), sregsBytes: sregsToBytes(boot.sregs) });
    const all = (await readTrace(path)).records;
    const t = await openTrace(path);
    const s = t.scan();
    const marks: ScanMark[] = [];
    do {
      while (s.next()) marks.push(s.mark());
    } while (await s.read());
    expect(marks.filter((m) => m.frameAt !== undefined).length).toBeGreaterThan(20);
    for (const m of marks.slice(0, -1)) {
      const r = t.scanFrom(m);
      expect(r.next() || (await r.advance()), `mark ${m.index}`).toBe(true);
      const want = all[m.index]!;
      expect([r.seq, r.timeNs, r.runNs, r.ioData[r.ioAt], r.offset], `mark ${m.index}`).toEqual([want.seq, want.timeNs, want.runNs, want.io!.data[0], want.offset]);
      expect(Buffer.from(r.regsBytes).equals(Buffer.from(want.regsBytes)), `mark ${m.index}`).toBe(true);
    }
    await t.close();
  });

  it.each([3, 2] as const)('reads a trace cut at any byte after the header as truncated, up to its last complete frame (format %i)', async (format) => {
    const path = join(dir, 'cut.vmtrace');
    const w = new TraceWriter(path, format === 3 ? 30 : 200, { format }); // small frames: one or two records each
    w.writeHeader(header());
    for (let i = 0; i < 12; i++) {
      w.writeRecord({ kind: 'exit', reason: EXIT.IO, timeNs: 1000 * i, runNs: 5, regsBytes: regsToBytes(regsWith({ rip: BigInt(i) })), io: { port: 0xf1, size: 1, out: true, count: 1, data: Uint8Array.from([i]) } });
    }
    await w.finish({ endReason: 'hlt', message: 'm', regsBytes: regsToBytes(boot.regs), sregsBytes: sregsToBytes(boot.sregs) });
    const full = readFileSync(path);
    const complete = await readTrace(path);
    const frames = frameOffsets(full); // header, records…, footer
    expect(frames.length).toBeGreaterThan(4);
    const recordsBefore = (cut: number) => complete.records.filter((r) => frames.find((f) => f > r.offset)! <= cut).length;
    for (let cut = frames[1]!; cut < full.length; cut += cut % 64 < 40 ? 1 : 7) {
      const at = join(dir, 'cut-n.vmtrace');
      writeFileSync(at, full.subarray(0, cut));
      const t = await readTrace(at);
      expect(t.truncated, `cut at ${cut}`).toBe(true);
      expect(t.footer).toBeUndefined();
      expect(t.records.length, `cut at ${cut}`).toBe(recordsBefore(cut));
      expect(t.truncatedAt).toBe(frames.includes(cut) ? undefined : Math.max(...frames.filter((f) => f < cut)));
    }
  });

  it.each([3, 2] as const)('reports every changed byte of a trace as corrupt, and dropped, repeated or swapped frames (format %i)', async (format) => {
    const path = join(dir, 'flip.vmtrace');
    const w = new TraceWriter(path, format === 3 ? 40 : 200, { format });
    w.writeHeader(header());
    for (let i = 0; i < 20; i++) w.writeRecord({ kind: 'exit', reason: EXIT.IO, timeNs: i, runNs: 1, regsBytes: regsToBytes(regsWith({ rip: BigInt(i) })), io: { port: 0xf1, size: 1, out: true, count: 1, data: Uint8Array.from([i]) } });
    await w.finish({ endReason: 'hlt', message: 'm', regsBytes: regsToBytes(boot.regs), sregsBytes: sregsToBytes(boot.sregs) });
    const full = readFileSync(path);
    const flipped = join(dir, 'flipped.vmtrace');
    const frames = frameOffsets(full);
    expect(frames.length).toBeGreaterThan(5);
    // Every other byte of the frames of records and the footer, every 9th of the header and magic.
    for (let i = 0; i < full.length; i += i < frames[1]! ? 9 : 2) {
      const bytes = Buffer.from(full);
      bytes[i] ^= 0x10;
      writeFileSync(flipped, bytes);
      const err = await readTrace(flipped).then(() => undefined, (e: unknown) => e);
      expect(err, `byte ${i}`).toBeInstanceOf(TraceError);
    }
    const part = (k: number) => full.subarray(frames[k]!, frames[k + 1] ?? full.length);
    const cases: Array<[string, Uint8Array, RegExp]> = [
      ['dropped', Buffer.concat([full.subarray(0, frames[2]!), full.subarray(frames[3]!)]), /starts at record \d+, expected \d+ \(a frame is missing, repeated or out of order\)/],
      ['repeated', Buffer.concat([full.subarray(0, frames[3]!), part(2), full.subarray(frames[3]!)]), /a frame is missing, repeated or out of order/],
      ['swapped', Buffer.concat([full.subarray(0, frames[1]!), part(2), part(1), full.subarray(frames[3]!)]), /a frame is missing, repeated or out of order/],
      ['no records', Buffer.concat([full.subarray(0, frames[1]!), part(frames.length - 1)]), /footer frame: corrupt: it follows record \d+, the trace holds 0/],
      ['appended', Buffer.concat([full, part(1)]), /data after the footer/],
    ];
    for (const [name, bytes, message] of cases) {
      writeFileSync(flipped, bytes);
      await expect(readTrace(flipped), name).rejects.toThrow(message);
    }
  });

  it('checks the footer counts and the image checksum', async () => {
    const frames = (footer: Record<string, unknown>, h = header()) => {
      const records = [0, 1].map((n) => pack({ k: 'x', n, r: EXIT.IO, t: n, d: 1, g: regsToBytes(boot.regs), io: { p: 0xf1, z: 1, o: 1, c: 1, v: Buffer.from([n]) } }));
      const head = pack({ ...h, format: [2, 0], boot: { mode: 'real', regs: regsToBytes(h.boot.regs), sregs: sregsToBytes(h.boot.sregs), cpuid: [] } });
      const end = pack({ k: 'end', why: 'hlt', msg: '', exits: 2, records: 2, g: regsToBytes(boot.regs), s: sregsToBytes(boot.sregs), ...footer });
      return Buffer.concat([Buffer.from('\xa7vmtrace', 'latin1'), encodeFrame(TAG_HEADER, 0, 1, head), recordsFrame(0, records), encodeFrame(TAG_END, 2, 1, end)]);
    };
    const at = join(dir, 'counts.vmtrace');
    writeFileSync(at, frames({}));
    expect((await readTrace(at)).footer).toMatchObject({ exits: 2, records: 2 });
    writeFileSync(at, frames({ records: 3 }));
    await expect(readTrace(at)).rejects.toThrow(/footer: corrupt: it counts 3 records, the trace holds 2/);
    writeFileSync(at, frames({ exits: 1 }));
    await expect(readTrace(at)).rejects.toThrow(/footer: corrupt: it counts 1 exits, the trace holds 2/);
    const h = header();
    writeFileSync(at, frames({}, { ...h, guest: { ...h.guest, image: Uint8Array.from([0x90]) } }));
    await expect(readTrace(at)).rejects.toThrow(/byte offset 8: header: corrupt: 'guest.sha256' does not match 'guest.image'/);
  });

  it('still reads 1.x traces (no frames, no checksums)', async () => {
    const h = header();
    const legacy = Buffer.concat([
      Buffer.from('\xa7vmtrace', 'latin1'),
      pack({ ...h, format: [1, 1], boot: { mode: 'real', regs: regsToBytes(h.boot.regs), sregs: sregsToBytes(h.boot.sregs), cpuid: h.boot.cpuid } }),
      pack({ k: 'x', n: 0, r: EXIT.HLT, t: 1, d: 1, g: regsToBytes(boot.regs) }),
      pack({ k: 'end', why: 'hlt', msg: 'm', exits: 1, records: 1, g: regsToBytes(boot.regs), s: sregsToBytes(boot.sregs) }),
    ]);
    const at = join(dir, 'legacy.vmtrace');
    writeFileSync(at, legacy);
    const t = await readTrace(at);
    expect(t.header.format).toEqual({ major: 1, minor: 1 });
    expect(t.records.map((r) => r.reasonName)).toEqual(['HLT']);
    expect(t.footer).toMatchObject({ records: 1, exits: 1 });
    // Even a partial value after the footer is data after the footer, not a truncation.
    writeFileSync(at, Buffer.concat([legacy, Buffer.from([0xc7, 0x44, 0x32])]));
    await expect(readTrace(at)).rejects.toThrow(`byte offset ${legacy.length}: corrupt: data after the footer`);
    // A 2.x header in the 1.x layout, or the other way round, is a corrupt file.
    writeFileSync(at, Buffer.concat([legacy.subarray(0, 8), pack({ ...h, format: [2, 0] })]));
    await expect(readTrace(at)).rejects.toThrow(/header: corrupt: it says format 2\.0, but the file is laid out as format 1/);
    // Sequence numbers are checked in 1.x too.
    writeFileSync(at, Buffer.concat([legacy.subarray(0, legacy.length - 1), Buffer.alloc(0)]));
    const renumbered = Buffer.concat([
      legacy.subarray(0, 8),
      pack({ ...h, format: [1, 1], boot: { mode: 'real', regs: regsToBytes(h.boot.regs), sregs: sregsToBytes(h.boot.sregs), cpuid: [] } }),
      pack({ k: 'x', n: 5, r: EXIT.HLT, t: 1, d: 1, g: regsToBytes(boot.regs) }),
    ]);
    writeFileSync(at, renumbered);
    await expect(readTrace(at)).rejects.toThrow(/corrupt: record 0 has sequence number 5/);
  });

  it("3.0: a chunk that does not decode is corrupt, at its frame's byte offset", async () => {
    const good = readFileSync(await sampleTrace('chunk-bad.vmtrace'));
    const [, recordsAt, footerAt] = frameOffsets(good);
    const cols = unpack(inflateRawSync(good.subarray(recordsAt! + FRAME_HEAD_BYTES, footerAt))) as Uint8Array[];
    const withColumns = (change: (c: Uint8Array[]) => Uint8Array[]) => {
      const payload = deflateColumns(change(cols.map((c) => Uint8Array.from(c))));
      return Buffer.concat([good.subarray(0, recordsAt), encodeFrame(0x72, 0, 4, payload), good.subarray(footerAt)]);
    };
    const cases: Array<[string, Uint8Array, string]> = [
      ['not deflate', Buffer.concat([good.subarray(0, recordsAt), encodeFrame(0x72, 0, 4, Uint8Array.from([0xff, 0xff])), good.subarray(footerAt)]), 'the records do not decompress'],
      ['count', withColumns((c) => [c[0]!.subarray(0, 3), ...c.slice(1)]), 'it holds 3 records, its head says 4'],
      ['regs short', withColumns((c) => [...c.slice(0, 5), c[5]!.subarray(0, 20), ...c.slice(6)]), 'record 1 of the frame: the regs column holds fewer registers than the masks name'],
      ['left over', withColumns((c) => [...c.slice(0, 7), Uint8Array.from([...c[7]!, 0]), ...c.slice(8)]), '1 bytes left over in the io column after the last record'],
      ['io size', withColumns((c) => [...c.slice(0, 7), Uint8Array.from([0xf1, 0x01, 3, 1, 1, 0x48, 0x48, 0x48]), ...c.slice(8)]), 'record 0 of the frame: IO size must be 1, 2 or 4, got 3'],
      ['flags', withColumns((c) => [Uint8Array.from([0x44, ...c[0]!.subarray(1)]), ...c.slice(1)]), 'record 0 of the frame: unknown record flags 0x44'],
      ['times', withColumns((c) => [...c.slice(0, 3), new Uint8Array(0), ...c.slice(4)]), 'it has times without run times, or run times without times'],
    ];
    for (const [name, bytes, message] of cases) {
      const path = join(dir, `chunk-${name.replace(' ', '-')}.vmtrace`);
      writeFileSync(path, bytes);
      await expect(readTrace(path), name).rejects.toThrow(`${path}: byte offset ${recordsAt}: corrupt: records frame: ${message}`);
    }
  });

  it("refuses a trace of an architecture it does not know, in one line (3.1's header `arch`)", async () => {
    const src = await sampleTrace('arch-src.vmtrace', { format: 3 });
    const file = join(dir, 'arch-riscv.vmtrace');
    await copyTrace(src, file, { header: (h) => ({ ...h, arch: 'riscv64' as TraceHeader['arch'] }) });
    await expect(openTrace(file)).rejects.toThrow(
      /arch-riscv\.vmtrace: byte offset 8: header: the trace is of architecture 'riscv64', which this vmtrace does not know \(it reads x86_64 and aarch64\); upgrade vmtrace$/,
    );
  });

  it('names the file and byte offset of a corrupt or foreign file', async () => {
    const good = readFileSync(await sampleTrace('bad.vmtrace', { format: 2 }));
    const t = await readTrace(join(dir, 'bad.vmtrace'));
    const cases: Array<[string, Uint8Array, RegExp]> = [
      ['empty', new Uint8Array(), /byte offset 0: empty file/],
      ['magic', Buffer.from('#!/bin/sh\necho\n'), /byte offset 0: not a vmtrace trace \(wrong magic bytes\)/],
      ['magic-cut', good.subarray(0, 5), /byte offset 0: truncated: the file ends inside the magic bytes/],
      ['header-cut', good.subarray(0, 20), /byte offset 8: truncated inside the header/],
      ['version', Buffer.concat([good.subarray(0, 8), encodeFrame(TAG_HEADER, 0, 1, pack({ format: [9, 0] }))]), /byte offset 8: header: trace format 9\.0 is not supported.*upgrade vmtrace/],
      ['header-tag', Buffer.concat([good.subarray(0, 8), recordsFrame(0, [])]), /byte offset 8: corrupt: the first frame must be the header/],
    ];
    // A record whose register field has the wrong type, in a frame with good checksums.
    const frameAt = t.records[0]!.offset - FRAME_HEAD_BYTES;
    const badRecord = pack({ k: 'x', n: 0, r: 2, t: 1, d: 1, g: 'not registers' });
    cases.push(['type', Buffer.concat([good.subarray(0, frameAt), recordsFrame(0, [badRecord])]), new RegExp(`byte offset ${frameAt + FRAME_HEAD_BYTES}: record: 'g' must be binary`)]);
    // A frame head claiming 2 GiB: refused, not buffered.
    const absurd = Buffer.from(recordsFrame(0, [badRecord]));
    absurd.writeUInt32BE(0x7fffffff, 28);
    resignHead(absurd);
    cases.push(['absurd', Buffer.concat([good.subarray(0, frameAt), absurd]), new RegExp(`byte offset ${frameAt}: corrupt: a records frame of 2147483647 bytes`)]);
    cases.push(['garbage', Buffer.concat([good, Buffer.from([0xc1])]), /corrupt: data after the footer/]);
    cases.push(['garbage-cut', Buffer.concat([good.subarray(0, t.footer!.offset), Buffer.from([0x96, 0xa1, 0x00])]), /corrupt: unknown frame tag 0x0/]);
    for (const [name, bytes, message] of cases) {
      const path = join(dir, `${name}.vmtrace`);
      writeFileSync(path, bytes);
      const err = await readTrace(path).then(() => undefined, (e: unknown) => e);
      expect(err, name).toBeInstanceOf(TraceError);
      expect((err as Error).message, name).toMatch(message);
      expect((err as Error).message, name).toContain(path);
    }
    await expect(readTrace(join(dir, 'missing.vmtrace'))).rejects.toThrow(/byte offset 0: no such file/);
  });
});

/** Columns as a 3.0 chunk payload: a msgpack array of bins, deflate-raw compressed. */
function deflateColumns(cols: Uint8Array[]): Uint8Array {
  return deflateRawSync(pack(cols.map((c) => Buffer.from(c))));
}

/** Re-signs the frame head at the start of `b` after a test changed its fields. */
function resignHead(b: Buffer): void {
  const path = join(dir, 'resign.vmtrace');
  writeFileSync(path, Buffer.concat([Buffer.from('\xa7vmtrace', 'latin1'), b.subarray(0, FRAME_HEAD_BYTES)]));
  resign(path);
  readFileSync(path).copy(b, 0, 8);
}
