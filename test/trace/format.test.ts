import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pack, unpackMultiple } from 'msgpackr';
import { describe, expect, it } from 'vitest';

import { REG_NAMES, regsToBytes, type Regs } from '../../src/cpu-state.js';
import { realModeState } from '../../src/boot/real-mode.js';
import { sregsToBytes } from '../../src/kvm-structs.js';
import { EXIT } from '../../src/trace/exit-reasons.js';
import type { TraceHeader } from '../../src/trace/format.js';
import { readTrace, TraceError } from '../../src/trace/reader.js';
import { TraceWriter } from '../../src/trace/writer.js';

const dir = mkdtempSync(join(tmpdir(), 'vmtrace-format-'));
const boot = realModeState({ cs: 0, ip: 0, sp: 0 }, { cr8: 0n, apic_base: 0xfee00900n } as never);

function header(): TraceHeader {
  return {
    format: { major: 1, minor: 1 },
    tool: { name: 'vmtrace', version: 'test' },
    createdAt: '2026-11-24T00:00:00.000Z',
    host: { kernel: 'k', kvmApiVersion: 12, kvmModule: 'kvm_test', cpuVendor: 'V', cpuModel: 'M', syncRegs: true },
    guest: { name: 'g.bin', image: Uint8Array.from([0xf4]), sha256: 'ab', loadAddress: 0 },
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

/** A small trace exercising every record field; returns its path and what was written. */
async function sampleTrace(name: string): Promise<string> {
  const path = join(dir, name);
  const w = new TraceWriter(path);
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

describe('trace format v1', () => {
  it('round-trips every header, record and footer field', async () => {
    const t = await readTrace(await sampleTrace('rt.vmtrace'));
    const h = header();
    expect(t.header).toEqual({ ...h, guest: { ...h.guest, image: expect.any(Uint8Array) }, initialMemory: [expect.objectContaining({ address: 0, what: 'image g.bin' })] });
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

  it('stores only changed registers but hands out full values', async () => {
    const path = await sampleTrace('delta.vmtrace');
    const t = await readTrace(path);
    for (const r of t.records) expect(Object.keys(r.regs)).toEqual([...REG_NAMES]);
    const raw = unpackMultiple(readFileSync(path)) as Array<Record<string, unknown>>;
    const first = raw[2]!; // magic, header, then the first record
    expect(first.gm).toBe(0b1_0000_0000_0000_0001); // rax and rip changed since boot
    expect((first.g as Uint8Array).length).toBe(16);
  });

  it('reads a trace cut at any byte as truncated, up to its last complete record', async () => {
    const full = readFileSync(await sampleTrace('cut.vmtrace'));
    const complete = await readTrace(join(dir, 'cut.vmtrace'));
    const offsets = complete.records.map((r) => r.offset);
    const headerEnd = offsets[0]!;
    for (let cut = headerEnd; cut < full.length; cut += 7) {
      const path = join(dir, `cut-${cut}.vmtrace`);
      writeFileSync(path, full.subarray(0, cut));
      const t = await readTrace(path);
      expect(t.truncated).toBe(true);
      expect(t.footer).toBeUndefined();
      expect(t.records.length).toBe(offsets.filter((o, i) => (offsets[i + 1] ?? complete.footer!.offset) <= cut && o < cut).length);
    }
  });

  it('names the file and byte offset of a corrupt or foreign file', async () => {
    const good = readFileSync(await sampleTrace('bad.vmtrace'));
    const t = await readTrace(join(dir, 'bad.vmtrace'));
    const cases: Array<[string, Uint8Array, RegExp]> = [
      ['empty', new Uint8Array(), /byte offset 0: empty file/],
      ['magic', Buffer.from('#!/bin/sh\necho\n'), /byte offset 0: not a vmtrace trace \(wrong magic bytes\)/],
      ['header-cut', good.subarray(0, 20), /byte offset 8: truncated inside the header/],
      ['version', Buffer.concat([good.subarray(0, 8), pack({ ...{ format: [9, 0] } })]), /byte offset 8: header: trace format 9\.0 is not supported.*upgrade vmtrace/],
    ];
    // A record whose register field has the wrong type.
    const recAt = t.records[0]!.offset;
    const badRecord = pack({ k: 'x', n: 0, r: 2, t: 1, d: 1, g: 'not registers' });
    cases.push(['type', Buffer.concat([good.subarray(0, recAt), badRecord]), new RegExp(`byte offset ${recAt}: record: 'g' must be binary`)]);
    // A record claiming a 2 GiB binary field: the reader refuses to buffer it.
    const absurd = Buffer.concat([good.subarray(0, recAt), Buffer.from([0x81, 0xa1, 0x67, 0xc6, 0x7f, 0xff, 0xff, 0xff]), Buffer.alloc(17 << 20)]);
    cases.push(['absurd', absurd, new RegExp(`byte offset ${recAt}: a value longer than`)]);
    cases.push(['garbage', Buffer.concat([good, Buffer.from([0xc1])]), /not valid msgpack|data after the footer/]);
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
