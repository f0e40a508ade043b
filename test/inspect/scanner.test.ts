// The reader's TraceScanner (the zero-allocation path statistics and diff run on) must hand out
// exactly what records() does, keep validating every record, and survive read-buffer reuse in
// traces longer than a few read chunks (4 MiB each).
import { readFileSync, writeFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';

import { diffTraces } from '../../src/inspect/diff.js';
import { realModeSregs } from '../../src/inspect/synthetic.js';
import { sregsToBytes } from '../../src/kvm-structs.js';
import type { TraceRecord } from '../../src/trace/format.js';
import { openTrace, readTrace, TraceError, type ScanMark, type TraceScanner } from '../../src/trace/reader.js';
import { resign } from '../support/frames.js';
import { synth, tempDir } from './helpers.js';

const tmp = tempDir('vmtrace-scanner-');
afterAll(() => tmp.cleanup());

/** What a scanner stands on, in the shape of a record (payload bytes as hex). */
function fromScanner(s: TraceScanner) {
  const hex = (b: Uint8Array, at: number, n: number) => Buffer.from(b.subarray(at, at + n)).toString('hex');
  return {
    kind: s.kind,
    seq: s.seq,
    reason: s.reason,
    reasonName: s.reasonName,
    timeNs: s.timeNs,
    runNs: s.runNs,
    offset: s.offset,
    regs: Buffer.from(s.regsBytes).toString('hex'),
    sregs: Buffer.from(sregsToBytes(s.sregs)).toString('hex'),
    sregsChanged: s.sregsChanged,
    io: s.hasIo ? { port: s.ioPort, size: s.ioSize, direction: s.ioOut ? 'out' : 'in', count: s.ioCount, data: hex(s.ioData, s.ioAt, s.ioLen) } : undefined,
    mmio: s.hasMmio ? { address: s.mmioAddress, length: s.mmioLength, write: s.mmioWrite, data: hex(s.mmioData, s.mmioAt, s.mmioLen) } : undefined,
    detail: s.detail,
  };
}

function fromRecord(r: TraceRecord) {
  const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
  return {
    kind: r.kind,
    seq: r.seq,
    reason: r.reason,
    reasonName: r.reasonName,
    timeNs: r.timeNs,
    runNs: r.runNs,
    offset: r.offset,
    regs: hex(r.regsBytes),
    sregs: hex(sregsToBytes(r.sregs)),
    sregsChanged: r.sregsChanged,
    io: r.io && { ...r.io, data: hex(r.io.data) },
    mmio: r.mmio && { ...r.mmio, data: hex(r.mmio.data) },
    detail: r.detail,
  };
}

/** Every record of a file through a scanner, as plain objects. */
async function scanAll(file: string) {
  const t = await openTrace(file);
  const out: ReturnType<typeof fromScanner>[] = [];
  const s = t.scan();
  do {
    while (s.next()) out.push(fromScanner(s));
  } while (await s.read());
  await t.close();
  return { records: out, footer: t.footer, truncated: t.truncated };
}

/** A payload of `n` bytes that differs per record. */
const payload = (i: number, n: number) => Uint8Array.from({ length: n }, (_, k) => (i * 7 + k) & 0xff);

describe('TraceScanner', () => {
  it('hands out what records() does (sregs, detail, big numbers, full registers, big payloads)', async () => {
    const s2 = realModeSregs();
    s2.ds = { ...s2.ds, base: 0x20n, selector: 2 };
    const file = await synth(tmp.path('fields.vmtrace'), {
      exits: 2000,
      mutate: (i, rec) => {
        if (i === 5) rec.sregsBytes = sregsToBytes(s2);
        if (i === 6) rec.timeNs = 2 ** 40 + 3; // uint 64
        if (i === 7 && rec.io) rec.io = { ...rec.io, size: 4, count: 50, data: payload(i, 200) };
        if (i === 8) rec.detail = { suberror: 1, data: [1, 2] }; // generic path
        if (i === 9) rec.regsBytes = Uint8Array.from({ length: 144 }, (_, k) => k); // all registers
      },
    });
    const scanned = await scanAll(file);
    const read = await readTrace(file);
    expect(scanned.records).toEqual(read.records.map(fromRecord));
    expect(scanned.footer).toEqual(read.footer);
    expect(scanned.records[6]!.timeNs).toBe(2 ** 40 + 3);
    expect(scanned.records[8]!.detail).toEqual({ suberror: 1, data: [1, 2] });
    expect(scanned.records[5]!.sregsChanged).toBe(true);
  });

  it('keeps payloads intact across read-buffer reuse (a trace of several read chunks)', async () => {
    // ~12 MiB: the reader's two 4 MiB buffers are each reused at least once.
    const n = 30_000;
    const file = await synth(tmp.path('chunks.vmtrace'), {
      exits: n,
      mutate: (i, rec) => {
        if (rec.io) rec.io = { ...rec.io, size: 2, count: 150, data: payload(i, 300) };
        if (rec.mmio) rec.mmio = { ...rec.mmio, length: 100, data: payload(i, 100) };
      },
    });
    const t = await openTrace(file);
    const kept: TraceRecord[] = [];
    for await (const batch of t.batches()) kept.push(...batch);
    await t.close();
    expect(kept).toHaveLength(n + 1);
    // Checked after the whole file was read, so a view into a reused buffer would show.
    for (const [i, r] of kept.entries()) {
      const data = r.io?.data ?? r.mmio?.data;
      if (data) expect(Buffer.from(data).equals(Buffer.from(payload(i, data.length))), `record ${i}`).toBe(true);
    }
    const scanned = await scanAll(file);
    expect(scanned.records).toEqual(kept.map(fromRecord));
  });

  it('still validates every record: a bad one deep in a long trace gets the generic error and offset', async () => {
    const file = await synth(tmp.path('good.vmtrace'), { exits: 60_000, format: 2 }); // ~5 MiB: the bad record is in the second chunk
    const { records } = await readTrace(file);
    const bad = records[55_000]!;
    expect(bad.io?.size).toBe(1);
    const bytes = readFileSync(file);
    // The record's io size: 'z' then 1 (fixint) in its io map.
    const z = bytes.indexOf(Buffer.from([0xa1, 0x7a, 0x01]), bad.offset);
    expect(z).toBeGreaterThan(bad.offset);
    bytes[z + 2] = 3;
    const corrupt = tmp.path('corrupt.vmtrace');
    writeFileSync(corrupt, bytes);
    // The frame's checksum catches the change first…
    await expect(readTrace(corrupt)).rejects.toThrow(/corrupt: records frame checksum mismatch/);
    // …and with the checksums made good again, the record validator does.
    resign(corrupt);

    const t = await openTrace(corrupt);
    const s = t.scan();
    let seen = 0;
    let error: unknown;
    try {
      do {
        while (s.next()) seen++;
      } while (await s.read());
    } catch (e) {
      error = e;
    }
    await t.close();
    expect(seen).toBe(55_000);
    expect(error).toBeInstanceOf(TraceError);
    expect((error as Error).message).toContain(`byte offset ${bad.offset}: record: IO size must be 1, 2 or 4, got 3`);
    await expect(readTrace(corrupt)).rejects.toThrow(`byte offset ${bad.offset}: record: IO size must be 1, 2 or 4, got 3`);
  });

  it('reads the same records again from a mark (scanFrom), without disturbing the scan', async () => {
    const file = await synth(tmp.path('mark.vmtrace'), { exits: 70_000 });
    const t = await openTrace(file);
    const s = t.scan();
    let mark: ScanMark | undefined;
    const wanted: ReturnType<typeof fromScanner>[] = [];
    const again: ReturnType<typeof fromScanner>[] = [];
    do {
      while (s.next()) {
        if (s.index >= 60_000 && s.index < 60_010) wanted.push(fromScanner(s));
        if (s.index === 59_999) mark = s.mark();
        if (s.index === 65_000) {
          const r = t.scanFrom(mark!);
          while (again.length < 10 && (r.next() || (await r.advance()))) again.push(fromScanner(r));
        }
      }
    } while (await s.read());
    await t.close();
    expect(s.index).toBe(70_000);
    expect(t.footer).toBeDefined();
    expect(again).toEqual(wanted);
  });
});

describe('diffTraces far into a trace', () => {
  const N = 20_000;
  it('shows context read again from a mark, for a divergence after many records', async () => {
    const a = await synth(tmp.path('far-a.vmtrace'), { exits: N });
    const b = await synth(tmp.path('far-b.vmtrace'), {
      exits: N,
      stepNs: 600,
      mutate: (i, rec) => {
        if (i === 13_000 && rec.io) rec.io = { ...rec.io, data: Uint8Array.of(0x21) };
      },
    });
    const r = await diffTraces(a, b);
    expect(r.first).toMatchObject({ where: 'record', index: 13_000 });
    expect(r.first!.context.map((c) => c.index)).toEqual([12_997, 12_998, 12_999, 13_000, 13_001, 13_002, 13_003]);
    expect(r.first!.context.map((c) => c.same)).toEqual([true, true, true, false, true, true, true]);
    const { records } = await readTrace(a);
    const rip = (i: number) => `rip=0x${new DataView(records[i]!.regsBytes.buffer, records[i]!.regsBytes.byteOffset).getBigUint64(128, true).toString(16)}`;
    expect(r.first!.context[0]!.expected).toContain(rip(12_997));
    expect(r.differingRecords).toBe(1);

    // More context than marks are apart.
    const wide = await diffTraces(a, b, { context: 5000 });
    expect(wide.first!.context).toHaveLength(10_001);
    expect(wide.first!.context[0]!.index).toBe(8000);
    expect(wide.first!.context.at(-1)!.index).toBe(18_000);
    expect(wide.first!.context.filter((c) => !c.same).map((c) => c.index)).toEqual([13_000]);
  });

  it('shows the records before the end of the shorter trace', async () => {
    const a = await synth(tmp.path('long-a.vmtrace'), { exits: N, frameBytes: 16 << 10 }); // frames to cut between
    const whole = readFileSync(a);
    const cut = tmp.path('long-cut.vmtrace');
    writeFileSync(cut, whole.subarray(0, Math.floor(whole.length * 0.8)));
    const r = await diffTraces(a, cut);
    expect(r.first!.where).toBe('length');
    const m = r.compared;
    expect(m).toBeGreaterThan(10_000);
    expect(r.first!.context.map((c) => c.index)).toEqual([m - 3, m - 2, m - 1, m, m + 1, m + 2]);
    expect(r.first!.context.slice(0, 3).every((c) => c.same && c.expected === c.actual)).toBe(true);
  });
});
