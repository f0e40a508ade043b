// Interpreter snapshots (src/replay/x86/snapshot.ts): every Machine field is accounted for, a
// restore repeats the original run exactly (self-modifying code included), RAM pages are
// shared copy-on-write, and the storage form survives msgpack.
import { createHash } from 'node:crypto';
import { Packr, Unpackr } from 'msgpackr';
import { describe, expect, test } from 'vitest';
import { Machine } from '../../src/replay/x86/machine.js';
import { FLAGS_STATE, MACHINE_NOT_CAPTURED, MACHINE_STATE } from '../../src/replay/x86/snapshot.js';
import { changedPages, snapshotFromPlain, snapshotToPlain, type Cpu } from '../../src/replay/x86/index.js';
import { asm, FakeSink, noAssembler, setup } from './x86/helpers.js';
import { lm, PD } from './x86/modes.js';

const packr = new Packr({ useRecords: false, moreTypes: true });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, moreTypes: true });

/** Everything observable that a later run depends on. */
function fingerprint(cpu: Cpu): string {
  const h = createHash('sha256');
  for (const r of cpu.ram) h.update(r.bytes);
  const hist = cpu.history(256).map((d) => `${d.at} ${d.text}`);
  return JSON.stringify({ n: cpu.instructions, regs: cpu.getRegs(), sregs: cpu.getSregs(), ram: h.digest('hex'), hist, undef: cpu.undefinedFlagsNow, x87: cpu.x87 }, (_, v) =>
    typeof v === 'bigint' ? v.toString(16) : v,
  );
}

// sums 1..5 into BL while patching the immediate of its own `mov $1, %al` each round
const SMC = `
  mov $5, %cx
top:
patch: mov $1, %al
  add %al, %bl
  incb patch+1
  loop top
  hlt
`;

describe('snapshot coverage', () => {
  test('every Machine field is captured or deliberately left out, none both', () => {
    const m = new Machine([{ base: 0, bytes: new Uint8Array(0x1000) }], new FakeSink(), [], 'amd');
    const captured = Object.keys(MACHINE_STATE);
    const left = Object.keys(MACHINE_NOT_CAPTURED);
    expect(captured.filter((k) => left.includes(k))).toEqual([]);
    expect(Object.keys(m).sort()).toEqual([...captured, ...left].sort());
  });

  test('every LazyFlags field is captured but the hook', () => {
    const m = new Machine([{ base: 0, bytes: new Uint8Array(0x1000) }], new FakeSink(), [], 'amd');
    expect(Object.keys(m.fl).sort()).toEqual([...FLAGS_STATE, 'onUndefUse'].sort());
  });
});

describe.skipIf(noAssembler)('snapshot and restore', () => {
  test('a restore repeats the run exactly, self-modifying code included', () => {
    const m = setup(asm(SMC));
    m.cpu.run(1 + 4 * 2); // two rounds: the code now says mov $3, %al
    const s = m.cpu.snapshot();
    const here = fingerprint(m.cpu);
    expect(m.cpu.run(1000)).toEqual({ kind: 'hlt' });
    expect(m.regs().rbx).toBe(15n);
    const end = fingerprint(m.cpu);
    m.cpu.restore(s);
    expect(fingerprint(m.cpu)).toBe(here);
    expect(m.ram[0x7c04]).toBe(3);
    expect(m.cpu.run(1000)).toEqual({ kind: 'hlt' });
    expect(fingerprint(m.cpu)).toBe(end);
  });

  test('through msgpack into another interpreter of the same guest, also as a delta', () => {
    const a = setup(asm(SMC));
    a.cpu.run(3);
    const base = a.cpu.snapshot();
    a.cpu.run(6);
    const s = a.cpu.snapshot();
    a.cpu.run(1000);
    const end = fingerprint(a.cpu);

    const b = setup(asm(SMC));
    b.cpu.restore(snapshotFromPlain(unpackr.unpack(packr.pack(snapshotToPlain(s)))));
    b.cpu.run(1000);
    expect(fingerprint(b.cpu)).toBe(end);

    const delta = unpackr.unpack(packr.pack(snapshotToPlain(s, base)));
    const c = setup(asm(SMC));
    expect(() => snapshotFromPlain(delta)).toThrow(/a delta snapshot needs the snapshot it was made against/);
    c.cpu.restore(snapshotFromPlain(delta, base));
    c.cpu.run(1000);
    expect(fingerprint(c.cpu)).toBe(end);
  });

  test('pages not written since the last snapshot are shared; a damaged snapshot is refused', () => {
    const m = setup(asm(SMC));
    const s0 = m.cpu.snapshot();
    const s1 = m.cpu.snapshot();
    expect(changedPages(s0, s1)).toEqual([]);
    m.cpu.run(1 + 4); // one round: patches the byte at 0x7c04 (page 7)
    const s2 = m.cpu.snapshot();
    expect(changedPages(s1, s2)).toEqual([{ region: 0, page: 7 }]);
    const plain = snapshotToPlain(s2, s1) as { ram: Array<{ pages: Array<Uint8Array | null> }> };
    expect(plain.ram[0]!.pages.filter((p) => p !== null)).toHaveLength(1);
    // written, but with the bytes it had: the copy is still shared
    m.cpu.writeLinear(0x7c04, m.cpu.readLinear(0x7c04, 1)!);
    const s3 = m.cpu.snapshot();
    expect(s3.ram[0]!.pages[7]).toBe(s2.ram[0]!.pages[7]);
    m.cpu.writeLinear(0x7c05, Uint8Array.of(0x90));
    expect(changedPages(s3, m.cpu.snapshot())).toEqual([{ region: 0, page: 7 }]);
    const broken = snapshotToPlain(s3) as { machine: Record<string, unknown> };
    delete broken.machine.seq;
    expect(() => snapshotFromPlain(broken as never)).toThrow(/machine field seq missing/);
  });

  test('translations cached after the snapshot are not used after the restore', () => {
    const m = lm(`
      mov 0x200000, %eax
      hlt`);
    const dv = new DataView(m.ram.buffer);
    dv.setUint32(0x200000, 0x11111111, true);
    dv.setUint32(0x400000, 0x22222222, true);
    const s = m.cpu.snapshot();
    // the 2 MiB page at 0x200000 now maps 0x400000: the TLB learns that
    const pde = new Uint8Array(8);
    new DataView(pde.buffer).setUint32(0, 0x400083, true);
    m.cpu.writeLinear(PD + 8, pde);
    m.cpu.run(10);
    expect(m.regs().rax).toBe(0x22222222n);
    m.cpu.restore(s);
    m.cpu.run(10);
    expect(m.regs().rax).toBe(0x11111111n);
  });

  test('a snapshot of other RAM is refused', () => {
    const m = setup(asm(SMC));
    const other = setup(asm(SMC), { ram: [{ base: 0, bytes: new Uint8Array(0x20000) }] });
    expect(() => other.cpu.restore(m.cpu.snapshot())).toThrow(/RAM layout/);
  });
});
