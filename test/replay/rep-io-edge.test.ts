// String IO whose buffer crosses the end of guest RAM (guests/rep_io_edge.S, 64 KiB of RAM):
// what KVM records there (docs/exit-semantics.md, "String IO at the end of RAM"), and that
// replay reproduces it with zero divergences, from a fresh recording (KVM) and from the
// committed goldens (no KVM).
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

import { replayTrace } from '../../src/replay/engine.js';
import { formatDivergence } from '../../src/replay/report.js';
import type { TraceRecord } from '../../src/trace/format.js';
import { readTrace } from '../../src/trace/reader.js';
import { kvmAvailability, kvmTitle } from '../support/kvm.js';
import { recordGuest, ROOT } from '../support/record.js';

const INPUT = Buffer.from('ABCDEFGHIJKLMNOPQRSTUVWXYZ'.repeat(8), 'latin1');
const CONSOLE = 'rep-io\n 43 44 45 46 47 48 49 4a 4b 4c 4d 4e 4f 50 51 52\n 53 54 55 56 57 58 59 5a 41 42 43 44 4a 51 52 4e\n';

/** One line per record: what KVM reported (IO: n=count x size), and the registers that say how far it got. */
function exitLine(r: TraceRecord): string {
  const regs = `rip=${r.regs.rip.toString(16)} rcx=${r.regs.rcx.toString(16)} rsi=${r.regs.rsi.toString(16)} rdi=${r.regs.rdi.toString(16)}`;
  if (r.io) return `IO ${r.io.direction} ${r.io.port.toString(16)} n=${r.io.count}x${r.io.size} ${Buffer.from(r.io.data).toString('latin1')} ${regs}`;
  if (r.mmio) return `MMIO ${r.mmio.write ? 'write' : 'read'} ${r.mmio.address.toString(16)} ${r.mmio.length} ${regs}`;
  return `${r.reasonName} ${regs}`;
}

/** The exits of the guest's first cases, as measured on the development host (kvm_pvm). */
function checkMeasuredShape(records: TraceRecord[]): void {
  const lines = records.filter((r) => r.kind === 'exit' && r.io?.port !== 0xf1).map(exitLine);
  // the console's OUTs are left out: the prefix covers "rep-io\n" only through the console port
  expect(lines.slice(0, 12)).toEqual([
    // rep insb DF=0 at 0xfffc, CX=8: a read-ahead of 4 (RAM), then 4 more written as one MMIO
    // write; the IO exit already has the registers after the batch, RIP at the instruction
    'IO in f2 n=4x1 ABCD rip=2c rcx=4 rsi=0 rdi=1000',
    'IO in f2 n=4x1 EFGH rip=2c rcx=0 rsi=0 rdi=1004',
    'MMIO write 10000 4 rip=2c rcx=0 rsi=0 rdi=1004',
    // rep insw at 0xfffa, CX=4: 4 words read ahead (page room 6 counts as 6 items), 2 bytes MMIO
    'IO in f2 n=4x2 IJKLMNOP rip=34 rcx=0 rsi=0 rdi=1002',
    'MMIO write 10000 2 rip=34 rcx=0 rsi=0 rdi=1002',
    // rep insl at 0xfffe, CX=3: 2 dwords (6 bytes above RAM), then 1
    'IO in f2 n=2x4 QRSTUVWX rip=3c rcx=1 rsi=0 rdi=1006',
    'MMIO write 10000 6 rip=3c rcx=1 rsi=0 rdi=1006',
    'IO in f2 n=1x4 YZAB rip=3c rcx=0 rsi=0 rdi=100a',
    'MMIO write 10006 4 rip=3c rcx=0 rsi=0 rdi=100a',
    // rep insb at 0xffe0, CX=0x50: 32 bytes to RAM, then 48 above it in 8-byte MMIO writes
    'IO in f2 n=32x1 CDEFGHIJKLMNOPQRSTUVWXYZABCDEFGH rip=45 rcx=30 rsi=0 rdi=1000',
    'IO in f2 n=48x1 IJKLMNOPQRSTUVWXYZABCDEFGHIJKLMNOPQRSTUVWXYZABCD rip=45 rcx=0 rsi=0 rdi=1030',
    'MMIO write 10000 8 rip=45 rcx=0 rsi=0 rdi=1030',
  ]);
  expect(lines.slice(12, 17).map((l) => l.split(' rip')[0])).toEqual([
    'MMIO write 10008 8', 'MMIO write 10010 8', 'MMIO write 10018 8', 'MMIO write 10020 8', 'MMIO write 10028 8',
  ]);
  // rep insb DF=1 from 0x10003 (CX=8): the read-ahead is bounded by offset_in_page(DI) = 3;
  // each item above RAM is an exit after one iteration and the rest of its read-ahead is
  // dropped: batches of 3, 2, 1, 1 (room 0 counts as 1) bytes, then 4 into RAM
  const df1 = lines.findIndex((l) => l.startsWith('IO in f2 n=3x1') && l.includes('rcx=7'));
  expect(lines.slice(df1, df1 + 9).map((l) => l.replace(/ rip=\w+/, '').replace(/ rsi=\w+/, ''))).toEqual([
    expect.stringMatching(/^IO in f2 n=3x1 \S+ rcx=7 rdi=1002$/),
    'MMIO write 10003 1 rcx=7 rdi=1002',
    expect.stringMatching(/^IO in f2 n=2x1 \S+ rcx=6 rdi=1001$/),
    'MMIO write 10002 1 rcx=6 rdi=1001',
    expect.stringMatching(/^IO in f2 n=1x1 \S+ rcx=5 rdi=1000$/),
    'MMIO write 10001 1 rcx=5 rdi=1000',
    expect.stringMatching(/^IO in f2 n=1x1 \S+ rcx=4 rdi=fff$/),
    'MMIO write 10000 1 rcx=4 rdi=fff',
    expect.stringMatching(/^IO in f2 n=4x1 \S+ rcx=0 rdi=ffb$/),
  ]);
}

async function expectReplays(file: string): Promise<void> {
  const r = await replayTrace(file);
  expect(r.ok, formatDivergence(r, file)).toBe(true);
  expect(r.divergence).toBeUndefined();
}

describe('string IO across the end of RAM: the committed goldens (no KVM)', () => {
  for (const name of ['rep_io_edge.vmtrace', 'rep_io_edge.step.vmtrace']) {
    it(`traces/${name} has KVM's exits and replays with zero divergences`, async () => {
      const file = join(ROOT, 'traces', name);
      const t = await readTrace(file);
      expect(t.header.memory).toEqual([{ base: 0, size: 0x10000, kind: 'ram' }]);
      checkMeasuredShape(t.records);
      await expectReplays(file);
    });
  }
});

describe.skipIf(!kvmAvailability().ok)(kvmTitle('string IO across the end of RAM, recorded under KVM'), () => {
  for (const singleStep of [false, true]) {
    it(`records ${singleStep ? 'a --step trace' : 'an exit trace'} with the measured exits and replays it with zero divergences`, async () => {
      const { result, console, trace } = await recordGuest('rep_io_edge.bin', { memBytes: 0x10000, input: INPUT, singleStep });
      expect(result.endReason).toBe('hlt');
      expect(console.text).toBe(CONSOLE);
      checkMeasuredShape(trace.records);
      await expectReplays(result.output);
    });
  }
});
