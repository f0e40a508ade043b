// The trace reader's fast path (records decoded straight from the bytes) must hand out exactly
// what the generic msgpackr path does, accept other valid encodings, and reject the same
// files with the same messages. inspect and diff stand on it.
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { Packr } from 'msgpackr';
import { afterAll, describe, expect, it } from 'vitest';

import { regsFromBytes, regsToBytes } from '../../src/cpu-state.js';
import { realModeSregs, stripFooter, syntheticHeader, zeroRegs } from '../../src/inspect/synthetic.js';
import { sregsToBytes } from '../../src/kvm-structs.js';
import { EXIT } from '../../src/trace/exit-reasons.js';
import type { TraceRecord } from '../../src/trace/format.js';
import { openTrace, readTrace } from '../../src/trace/reader.js';
import type { RecordInput } from '../../src/trace/writer.js';
import { TraceWriter } from '../../src/trace/writer.js';
import { recordsFrame } from '../support/frames.js';
import { FRAME_HEAD_BYTES } from '../../src/trace/frame.js';
import { synth, tempDir } from './helpers.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

function plain(r: TraceRecord) {
  return {
    kind: r.kind,
    seq: r.seq,
    reason: r.reason,
    reasonName: r.reasonName,
    timeNs: r.timeNs,
    runNs: r.runNs,
    regs: Buffer.from(r.regsBytes).toString('hex'),
    sregs: Buffer.from(sregsToBytes(r.sregs)).toString('hex'),
    sregsChanged: r.sregsChanged,
    io: r.io && { ...r.io, data: Buffer.from(r.io.data).toString('hex') },
    mmio: r.mmio && { ...r.mmio, data: Buffer.from(r.mmio.data).toString('hex') },
    detail: r.detail,
  };
}

/** A header-only 2.0 trace (no records yet) to append hand-encoded records (msgpack maps) to. */
async function headerOnly(path: string): Promise<string> {
  const w = new TraceWriter(path, undefined, { format: 2 });
  w.writeHeader(syntheticHeader());
  await w.finish({ endReason: 'hlt', message: '', regsBytes: REGS, sregsBytes: sregsToBytes(realModeSregs()) });
  await stripFooter(path);
  return path;
}

const packr = new Packr({ useRecords: false, variableMapSize: true });
const REGS = regsToBytes({ ...zeroRegs(), rip: 0x1234n, rax: 0x41n });

describe('reader fast path', () => {
  it('returns every record exactly as written (deltas, sregs, detail, big numbers, big payloads)', async () => {
    const written: RecordInput[] = [];
    const s = realModeSregs();
    s.cs = { ...s.cs, base: 0x10000n, selector: 0x1000 };
    const file = await synth(tmp.path('rt.vmtrace'), {
      exits: 3000,
      mutate: (i, rec) => {
        if (i === 7) rec.sregsBytes = sregsToBytes(s);
        if (i === 8) rec.timeNs = 5_000_000_123; // above 2^32: stored as uint64
        if (i === 9) {
          rec.io = { port: 0x3f8, size: 2, out: true, count: 100, data: Uint8Array.from({ length: 200 }, (_, k) => k) };
        }
        if (i === 10) rec.detail = { suberror: 1, suberrorName: 'EMULATION', data: [1, 2, 3] };
        if (i === 11) rec.regsBytes = Uint8Array.from({ length: 144 }, (_, k) => 255 - k); // every register changes
        written.push({ ...rec, regsBytes: rec.regsBytes.slice() });
      },
    });
    const t = await readTrace(file);
    expect(t.records).toHaveLength(written.length);
    let sregs = sregsToBytes(realModeSregs());
    t.records.forEach((r, i) => {
      const w = written[i]!;
      if (w.sregsBytes) sregs = w.sregsBytes;
      expect(r.seq).toBe(i);
      expect(r.kind).toBe(w.kind);
      expect(r.reason).toBe(w.reason);
      expect(r.timeNs).toBe(w.timeNs);
      expect(r.runNs).toBe(w.runNs);
      expect(Buffer.from(r.regsBytes).equals(Buffer.from(w.regsBytes))).toBe(true);
      expect(r.regs).toEqual(regsFromBytes(w.regsBytes));
      expect(Buffer.from(sregsToBytes(r.sregs)).equals(Buffer.from(sregs))).toBe(true);
      expect(r.sregsChanged).toBe(w.sregsBytes !== undefined);
      if (w.io) {
        expect(r.io).toMatchObject({ port: w.io.port, size: w.io.size, count: w.io.count, direction: w.io.out ? 'out' : 'in' });
        expect(Buffer.from(r.io!.data).equals(Buffer.from(w.io.data))).toBe(true);
      } else expect(r.io).toBeUndefined();
      if (w.mmio) {
        expect(r.mmio).toMatchObject({ address: w.mmio.address, length: w.mmio.length, write: w.mmio.write });
        expect(Buffer.from(r.mmio!.data).equals(Buffer.from(w.mmio.data))).toBe(true);
      } else expect(r.mmio).toBeUndefined();
      expect(r.detail).toEqual(w.detail);
    });
    expect(t.footer).toMatchObject({ endReason: 'hlt', records: written.length });
  });

  it('batches() hands out the same records as records()', async () => {
    const file = await synth(tmp.path('b.vmtrace'), { exits: 10_000 });
    const one = await readTrace(file);
    const t = await openTrace(file);
    const all: TraceRecord[] = [];
    let batches = 0;
    for await (const b of t.batches()) {
      batches++;
      all.push(...b);
    }
    await t.close();
    expect(batches).toBeGreaterThan(1);
    expect(all.map(plain)).toEqual(one.records.map(plain));
    expect(t.footer).toEqual(one.footer);
  });

  it('accepts other valid encodings of a record (key order, full registers, float64, map16, unknown keys)', async () => {
    const file = await headerOnly(tmp.path('enc.vmtrace'));
    const io = { v: Buffer.from([0x48]), c: 1, o: 1, z: 1, p: 0xf1 };
    const map16 = Buffer.from(packr.pack({ k: 'x', n: 2, r: EXIT.HLT, t: 3000, d: 7, g: REGS }));
    map16[0] = 0x86; // fixmap(6) ...
    appendFileSync(file, recordsFrame(0, [
      packr.pack({ g: REGS, d: 123, t: 1.5e3, r: EXIT.IO, n: 0, k: 'x', io }), // other order, full regs, float
      packr.pack({ k: 's', n: 1, r: EXIT.DEBUG, t: 2000, d: -0, g: REGS, future: 'ignored' }),
      Buffer.concat([Buffer.from([0xde, 0x00, 0x06]), map16.subarray(1)]), // ... as map16
    ]));
    const t = await readTrace(file);
    expect(t.records.map((r) => [r.kind, r.seq, r.reasonName, r.timeNs, r.runNs, r.regs.rip])).toEqual([
      ['exit', 0, 'IO', 1500, 123, 0x1234n],
      ['step', 1, 'DEBUG', 2000, 0, 0x1234n],
      ['exit', 2, 'HLT', 3000, 7, 0x1234n],
    ]);
    expect(t.records[0]!.io).toMatchObject({ port: 0xf1, size: 1, direction: 'out', count: 1 });
    expect(t.truncated).toBe(true); // no footer
  });

  it('rejects bad records with the generic messages, after handing out the good ones before', async () => {
    const cases: [string, Record<string, unknown>, RegExp][] = [
      ['size', { k: 'x', n: 1, r: 2, t: 1, d: 1, g: REGS, io: { p: 1, z: 3, o: 0, c: 1, v: Buffer.alloc(3) } }, /record: IO size must be 1, 2 or 4, got 3/],
      ['len', { k: 'x', n: 1, r: 2, t: 1, d: 1, g: REGS, io: { p: 1, z: 2, o: 0, c: 2, v: Buffer.alloc(3) } }, /IO data must be size\*count = 4 bytes, got 3/],
      ['regs', { k: 'x', n: 1, r: 2, t: 1, d: 1, g: Buffer.alloc(10) }, /'g' must be 144 bytes, got 10/],
      ['mask', { k: 'x', n: 1, r: 2, t: 1, d: 1, gm: 3, g: Buffer.alloc(8) }, /'g' holds fewer registers than 'gm' names/],
      ['kind', { k: 'q', n: 1, r: 2, t: 1, d: 1, g: REGS }, /unknown record kind string "q"/],
      ['time', { k: 'x', n: 1, r: 2, t: 'soon', d: 1, g: REGS }, /'t' must be a number, got string "soon"/],
      ['mmio', { k: 'x', n: 1, r: 6, t: 1, d: 1, g: REGS, mm: { a: 1, l: 4, w: 1, v: Buffer.alloc(2) } }, /MMIO data must be 4 bytes, got 2/],
    ];
    for (const [name, bad, message] of cases) {
      const file = await headerOnly(tmp.path(`bad-${name}.vmtrace`));
      const good = packr.pack({ k: 'x', n: 0, r: EXIT.HLT, t: 1, d: 1, g: REGS });
      const before = readFileSync(file).length + FRAME_HEAD_BYTES + good.length;
      appendFileSync(file, recordsFrame(0, [good, packr.pack(bad)]));
      const t = await openTrace(file);
      const seen: number[] = [];
      let error: Error | undefined;
      try {
        for await (const batch of t.batches()) seen.push(...batch.map((r) => r.seq));
      } catch (e) {
        error = e as Error;
      }
      await t.close();
      expect(seen, name).toEqual([0]);
      expect(error?.name, name).toBe('TraceError');
      expect(error?.message, name).toMatch(message);
      expect(error?.message, name).toContain(`byte offset ${before}:`);
    }
  });

  it('reports invalid msgpack, data after the footer and a file cut inside a frame', async () => {
    const file = await synth(tmp.path('ok.vmtrace'), { exits: 100, frameBytes: 1000, format: 2 });
    const bytes = readFileSync(file);

    const junk = tmp.path('junk.vmtrace');
    writeFileSync(junk, Buffer.concat([bytes, Buffer.from([0x01])]));
    await expect(readTrace(junk)).rejects.toThrow(`byte offset ${bytes.length}: corrupt: data after the footer`);

    const invalid = tmp.path('invalid.vmtrace');
    const h = readFileSync(await headerOnly(tmp.path('h.vmtrace')));
    writeFileSync(invalid, Buffer.concat([h, recordsFrame(0, [Buffer.from([0xc1, 0x00])])]));
    await expect(readTrace(invalid)).rejects.toThrow(new RegExp(`byte offset ${h.length + FRAME_HEAD_BYTES}: not valid msgpack`));

    const cut = tmp.path('cut.vmtrace');
    writeFileSync(cut, bytes.subarray(0, bytes.length - 500));
    const whole = await readTrace(file);
    const t = await readTrace(cut);
    expect(t.truncated).toBe(true);
    expect(t.truncatedAt).toBeGreaterThan(h.length);
    expect(t.records.length).toBeGreaterThan(80);
    expect(t.records.map(plain)).toEqual(whole.records.slice(0, t.records.length).map(plain));
  });
});
