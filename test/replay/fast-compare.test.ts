// The replay engine's comparison without objects: segment registers compared when the trace
// stored new ones or the interpreter wrote them (and only then), records copied out of the
// scanner into reused slots that read back as the records they were.
import { createHash } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

import { realModeState } from '../../src/boot/real-mode.js';
import { regsToBytes, type Regs, type Sregs } from '../../src/cpu-state.js';
import { sregsToBytes } from '../../src/kvm-structs.js';
import { replayTrace } from '../../src/replay/engine.js';
import { RecordRing, RecordSlot } from '../../src/replay/record-view.js';
import { EXIT } from '../../src/trace/exit-reasons.js';
import type { TraceRecord } from '../../src/trace/format.js';
import { copyTrace } from '../../src/trace/copy.js';
import { openTrace, readTrace } from '../../src/trace/reader.js';
import { TraceWriter } from '../../src/trace/writer.js';
import { ROOT } from '../support/record.js';

const dir = mkdtempSync(join(tmpdir(), 'vmtrace-fast-compare-'));
const golden = (name: string) => join(ROOT, 'traces', name);

/**
 * A real-mode guest at 0:0 running `code` (then `out 0xf1, al; hlt`), with the records given:
 * an OUT of `al` with `regs` and, if given, `sregs` stored on it, then the HLT one byte later.
 */
async function guestTrace(name: string, code: number[], al: number, after: { regs: Partial<Regs>; sregs?: (boot: Sregs) => Sregs }): Promise<string> {
  const t = await readTrace(golden('tiny_kernel.vmtrace'));
  const image = Uint8Array.from([...code, 0xe6, 0xf1, 0xf4]); // …; out 0xf1, al; hlt
  const boot = realModeState({ cs: 0, ip: 0, sp: 0 }, t.header.boot.sregs);
  const path = join(dir, name);
  const w = new TraceWriter(path);
  w.writeHeader({
    ...t.header,
    boot: { ...t.header.boot, regs: boot.regs, sregs: boot.sregs },
    guest: { ...t.header.guest, image, sha256: createHash('sha256').update(image).digest('hex') },
    initialMemory: [{ address: 0, bytes: image, what: 'image' }],
  });
  const outRip = BigInt(code.length + 2);
  const regs = { ...boot.regs, ...after.regs, rip: outRip };
  w.writeRecord({
    kind: 'exit',
    reason: EXIT.IO,
    timeNs: 1,
    runNs: 1,
    regsBytes: regsToBytes(regs),
    ...(after.sregs ? { sregsBytes: sregsToBytes(after.sregs(boot.sregs)) } : {}),
    io: { port: 0xf1, size: 1, out: true, count: 1, data: Uint8Array.of(al) },
  });
  w.writeRecord({ kind: 'exit', reason: EXIT.HLT, timeNs: 2, runNs: 1, regsBytes: regsToBytes({ ...regs, rip: outRip + 1n }) });
  await w.finish({ endReason: 'hlt', message: '', regsBytes: regsToBytes(regs), sregsBytes: sregsToBytes(after.sregs?.(boot.sregs) ?? boot.sregs) });
  return path;
}

const MOV_DS_0x10 = [0xb8, 0x10, 0x00, 0x8e, 0xd8]; // mov ax, 0x10; mov ds, ax
const withDs = (s: Sregs): Sregs => ({ ...s, ds: { ...s.ds, selector: 0x10, base: 0x100n } });

describe('segment registers in replay', () => {
  it('matches a segment load the trace stored', async () => {
    const r = await replayTrace(await guestTrace('ds-stored.vmtrace', MOV_DS_0x10, 0x10, { regs: { rax: 0x10n }, sregs: withDs }));
    expect(r).toMatchObject({ ok: true, exits: 2 });
  });

  it('finds a segment load the trace did not store (the interpreter wrote DS)', async () => {
    const r = await replayTrace(await guestTrace('ds-unstored.vmtrace', MOV_DS_0x10, 0x10, { regs: { rax: 0x10n } }));
    expect(r.divergence).toMatchObject({ kind: 'registers', index: 0 });
    expect(r.divergence!.registers).toEqual([
      { field: 'ds.base', expected: '0x0', actual: '0x100' },
      { field: 'ds.selector', expected: '0', actual: '16' },
    ]);
    expect(r.divergence!.message).toBe('exit #0: ds.base, ds.selector differ');
  });

  it('finds segment registers the trace stored but the guest did not load', async () => {
    const r = await replayTrace(await guestTrace('ds-not-loaded.vmtrace', [0xb0, 0x10], 0x10, { regs: { rax: 0x10n }, sregs: withDs })); // mov al, 0x10
    expect(r.divergence).toMatchObject({ kind: 'registers', index: 0 });
    expect(r.divergence!.registers.map((d) => d.field)).toEqual(['ds.base', 'ds.selector']);
  });
});

/** The fields of a record that replay and its reports read. */
function fieldsOf(r: TraceRecord) {
  return { kind: r.kind, seq: r.seq, reason: r.reason, reasonName: r.reasonName, offset: r.offset, regs: r.regs, sregs: r.sregs, sregsChanged: r.sregsChanged, io: r.io, mmio: r.mmio, detail: r.detail };
}

describe('record slots', () => {
  it('read back every record of exit, MMIO and --step goldens as the scanner has it', async () => {
    for (const name of ['tiny_kernel.vmtrace', 'mmio.vmtrace', 'rep_io_edge.vmtrace', 'hello-64.step.vmtrace']) {
      const t = await openTrace(golden(name));
      const s = t.scan();
      const slot = new RecordSlot();
      let n = 0;
      while (await s.advance()) {
        slot.copyFrom(s);
        expect(fieldsOf(slot.record())).toEqual(fieldsOf(s.record()));
        expect(fieldsOf(new RecordSlot().load(s.record()).record())).toEqual(fieldsOf(s.record()));
        n++;
      }
      await t.close();
      expect(n).toBeGreaterThan(0);
    }
  });

  it('a ring keeps the records in order across its wrap-around', async () => {
    const t = await openTrace(golden('hello-64.step.vmtrace'));
    const s = t.scan();
    const ring = new RecordRing(3); // room for 4
    const seen: number[] = [];
    while (await s.advance()) {
      if (ring.full) {
        expect([0, 1, 2, 3].map((k) => ring.at(k)!.seq)).toEqual([0, 1, 2, 3].map((k) => ring.at(0)!.seq + k));
        seen.push(ring.at(0)!.seq);
        ring.shift();
      }
      ring.push(s);
    }
    await t.close();
    expect(ring.at(4)).toBeUndefined();
    expect(seen.length).toBeGreaterThan(8);
    expect(seen).toEqual(seen.map((_, i) => i));
  });

  it("a ring's first record has the registers the scanner had at it, through changes, wrap-around and emptying", async () => {
    for (const name of ['hello-64.step.vmtrace', 'tiny_kernel.vmtrace', 'mmio.vmtrace']) {
      const t = await openTrace(golden(name));
      const s = t.scan();
      const ring = new RecordRing(3); // room for 4
      const expected: Uint32Array[] = []; // the scanner's registers at each record in the ring
      let checked = 0;
      const check = () => {
        expect(ring.at(0)!.regsWords).toEqual(expected.shift());
        expect(ring.at(0)!.regs()).toEqual(regsOf(ring.at(0)!.seq));
        checked++;
        ring.shift();
      };
      const bySeq = new Map<number, Regs>();
      const regsOf = (seq: number) => bySeq.get(seq);
      let n = 0;
      while (await s.advance()) {
        bySeq.set(s.seq, s.record().regs);
        // drain it completely now and then: a push into an empty ring starts from the scanner's registers
        if (ring.full || (n % 7 === 0 && ring.size > 0)) while (ring.size > (n % 7 === 0 ? 0 : 3)) check();
        ring.push(s);
        expected.push(s.regsWords.slice());
        n++;
      }
      while (ring.size > 0) check();
      await t.close();
      expect(checked).toBe(n);
    }
  });

  it('replays a 2.0 copy (payloads copied out of the scanner, which does not keep them) as the 3.0 golden', async () => {
    for (const name of ['mmio.vmtrace', 'rep_io_edge.vmtrace', 'tiny_kernel.vmtrace']) {
      const copy = join(dir, `${name}.2.0.vmtrace`);
      await copyTrace(golden(name), copy, { writer: { format: 2 } });
      const t = await openTrace(copy);
      const s = t.scan();
      expect(await s.advance()).toBe(true);
      expect(s.payloadsKept).toBe(false);
      await t.close();
      const { divergence, ...same } = await replayTrace(golden(name));
      expect(divergence).toBeUndefined();
      expect(await replayTrace(copy)).toEqual({ ...same, divergence: undefined });
    }
  });
});
