// `inspect --exits --disasm`: the instruction that made each record, taken from a replay of the
// committed goldens, and the register changes as old→new pairs.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { REG_NAMES, type Sregs } from '../../src/cpu-state.js';
import { collectDisassembly, disasmExitRows, formatDisasmExitRow, type DisasmExitRow, type DisasmStop } from '../../src/inspect/disasm-exits.js';
import type { ExitFilter } from '../../src/inspect/exits.js';
import { EXIT } from '../../src/trace/exit-reasons.js';
import { readTrace } from '../../src/trace/reader.js';
import { rewriteTrace } from '../support/rewrite.js';
import { CLI, HAVE_CLI, ROOT, cli, tempDir } from './helpers.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());
const golden = (name: string) => join(ROOT, 'traces', name);

async function rows(file: string, filter: ExitFilter = {}, stops: DisasmStop[] = []): Promise<DisasmExitRow[]> {
  const out: DisasmExitRow[] = [];
  for await (const r of disasmExitRows(file, filter, (s) => stops.push(s))) out.push(r);
  return out;
}

/** The IP part of `CS:IP`. */
const ipOf = (at: string) => parseInt(at.split(':')[1]!, 16);
const bytesOf = (hex: string) => hex.length / 2;

/** A special-register state flattened to dotted paths, to compare without the code under test. */
function flatSregs(s: Sregs): Map<string, bigint> {
  const out = new Map<string, bigint>();
  for (const [k, v] of Object.entries(s)) {
    if (typeof v === 'bigint') out.set(k, v);
    else for (const [f, x] of Object.entries(v)) out.set(`${k}.${f}`, BigInt(x as number | bigint));
  }
  return out;
}

describe('disasmExitRows on the goldens', () => {
  it('tiny_kernel: every IO exit is the OUT before the recorded RIP, the last record the HLT', async () => {
    const all = await rows(golden('tiny_kernel.vmtrace'));
    expect(all).toHaveLength(13);
    for (const r of all.slice(0, 12)) {
      expect(r.reason).toBe('IO');
      expect(r.insn!.text).toMatch(/^out 0xf1, al$/);
      expect(r.insn!.bytes).toBe('e6f1');
      expect(ipOf(r.insn!.at) + bytesOf(r.insn!.bytes)).toBe(Number(r.rip));
    }
    expect(all[12]).toMatchObject({ reason: 'HLT', insn: { text: 'hlt', bytes: 'f4' } });
    expect(ipOf(all[12]!.insn!.at) + 1).toBe(Number(all[12]!.rip));
    expect(all[0]!.changes).toEqual({ rax: ['0x0', '0x48'] });
    expect(all[3]!.changes).toEqual({}); // "ll": al stays 0x6c
  });

  it.each(['hello-32.vmtrace', 'hello-64.vmtrace', 'sort-64.vmtrace'])('%s (a C guest): each exit is the instruction at the recorded RIP minus its length', async (name) => {
    const all = await rows(golden(name));
    const io = all.filter((r) => r.io);
    expect(io.length).toBeGreaterThan(10);
    for (const r of io) {
      expect(r.insn, `record ${r.index}`).toBeDefined();
      expect(r.insn!.text).toMatch(r.io!.direction === 'out' ? /^(rep )?outs?[bdw]?\b/ : /^(rep )?ins?[bdw]?\b/);
      // a REP string instruction that is not done stays at its own address
      const end = /^rep /.test(r.insn!.text) ? ipOf(r.insn!.at) : ipOf(r.insn!.at) + bytesOf(r.insn!.bytes);
      expect(end, `record ${r.index}: ${r.insn!.at} ${r.insn!.text}, rip ${r.rip}`).toBe(Number(r.rip) % 2 ** 32);
    }
    expect(all.every((r) => r.insn !== undefined)).toBe(true);
  });

  it('changes are the registers and special registers that differ from the previous record (the boot state first)', async () => {
    const file = golden('pagefault-64.vmtrace');
    const { header, records } = await readTrace(file);
    const got = await rows(file);
    let prevRegs = header.boot.regs;
    let prevSregs = flatSregs(header.boot.sregs);
    let sawSregs = false;
    records.forEach((rec, i) => {
      const want: Record<string, [string, string]> = {};
      for (const n of REG_NAMES) {
        if (n !== 'rip' && rec.regs[n] !== prevRegs[n]) want[n] = [`0x${prevRegs[n].toString(16)}`, `0x${rec.regs[n].toString(16)}`];
      }
      const cur = flatSregs(rec.sregs);
      for (const [k, v] of cur) {
        if (prevSregs.get(k) !== v) {
          want[k] = [`0x${prevSregs.get(k)!.toString(16)}`, `0x${v.toString(16)}`];
          sawSregs = true;
        }
      }
      expect(got[i]!.changes, `record ${i}`).toEqual(want);
      prevRegs = rec.regs;
      prevSregs = cur;
    });
    expect(sawSregs).toBe(true);
  });

  it('--step records show the instruction stepped: the one where the previous record left RIP (a fault: the faulting one)', async () => {
    const all = await rows(golden('divzero-32.step.vmtrace'));
    expect(all.length).toBeGreaterThan(8000);
    for (let i = 1; i < all.length; i++) {
      const r = all[i]!;
      if (r.kind !== 'step') continue;
      expect(ipOf(r.insn!.at), `record ${i}`).toBe(Number(all[i - 1]!.rip));
    }
    // the #DE: one step runs idiv, the exception's delivery and the handler's first instruction
    const fault = all.filter((r) => r.kind === 'step' && r.insn!.text.startsWith('idiv') && Number(r.rip) !== ipOf(r.insn!.at) + bytesOf(r.insn!.bytes));
    expect(fault.length).toBeGreaterThan(0);
  });

  it('exits of one step share its instruction (rep insb into MMIO: an IO exit, then MMIO writes)', async () => {
    const all = await rows(golden('rep_io_edge.vmtrace'));
    // an MMIO write right after an IN, RIP unchanged: the same step's later exit
    const later = all.filter((r, i) => r.mmio?.direction === 'write' && all[i - 1]?.io?.direction === 'in' && all[i - 1]!.rip === r.rip);
    expect(later.length).toBeGreaterThan(2);
    for (const r of later) {
      expect(r.insn!.text).toMatch(/\brep ins[bwd]$/);
      expect(r.insn).toEqual(all[r.index - 1]!.insn);
    }
  });

  it('keeps the filters: reason, range, limit', async () => {
    const file = golden('tiny_kernel.vmtrace');
    expect((await rows(file, { reasons: [EXIT.HLT] })).map((r) => [r.index, r.insn?.text])).toEqual([[12, 'hlt']]);
    const some = await rows(file, { from: 5, to: 7 });
    expect(some.map((r) => r.index)).toEqual([5, 6, 7]);
    expect(some.map((r) => r.insn?.at)).toEqual(['0000:0016', '0000:001a', '0000:001e']);
    // changes stay relative to the previous record in the file, not the previous row shown
    expect(some[0]!.changes).toEqual({ rax: ['0x6f', '0x2c'] });
    expect((await rows(file, { reasons: [EXIT.IO], limit: 2 })).map((r) => r.index)).toEqual([0, 1]);
  });

  it('formats a line: the --exits columns, the instruction, changes old→new', async () => {
    const [r] = await rows(golden('tiny_kernel.vmtrace'), { limit: 1 });
    expect(formatDisasmExitRow(r!)).toMatch(/^\s+0\s+\S+\s+IO\s+0xf1\s+out\s+1\s+48\s+"H"\s+0x4\s+0000:0002\s+e6f1\s+out 0xf1, al\s+rax 0x0→0x48$/);
  });
});

describe('disassembly past a divergence', () => {
  let bad: string;
  beforeAll(async () => {
    bad = tmp.path('diverges.vmtrace');
    await rewriteTrace(golden('tiny_kernel.vmtrace'), bad, (rec, m) => {
      if (rec.seq === 4) m.ioData![0] = 0x21; // 'o' → '!': replay stops matching at record #4
    });
  });

  it('lists every record, with disassembly up to the divergence, and says once where and why it stopped', async () => {
    const stops: DisasmStop[] = [];
    const all = await rows(bad, {}, stops);
    expect(all).toHaveLength(13);
    expect(all.slice(0, 4).every((r) => r.insn?.text === 'out 0xf1, al')).toBe(true);
    expect(all.slice(4).every((r) => r.insn === undefined)).toBe(true);
    expect(all[5]!.changes).toEqual({ rax: ['0x6f', '0x2c'] }); // changes come from the trace alone
    expect(stops).toHaveLength(1);
    expect(stops[0]).toMatchObject({ index: 4 });
    expect(stops[0]!.why).toMatch(/^replay diverged \(payload\): /);
  });

  it('the HTML collection stops there too', async () => {
    const d = await collectDisassembly(bad, 2000);
    expect(d.at(3, 'exit')?.text).toBe('out 0xf1, al');
    expect(d.at(4, 'exit')).toBeUndefined();
    expect(d.stop?.index).toBe(4);
  });

  it.skipIf(!HAVE_CLI)(`CLI: one stderr line, all rows on stdout, exit 0${HAVE_CLI ? '' : ` — SKIPPED: ${CLI} not built`}`, () => {
    const r = cli('inspect', bad, '--disasm');
    expect(r.status).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(14);
    expect(lines[0]).toMatch(/insn at\s+bytes\s+instruction\s+changed$/);
    expect(lines[4]).toMatch(/0000:000e\s+e6f1\s+out 0xf1, al/);
    expect(lines[5]).not.toMatch(/out 0xf1/);
    const err = r.stderr.trimEnd().split('\n');
    expect(err).toHaveLength(1);
    expect(err[0]).toMatch(/^vmtrace: --disasm: no disassembly from record #4 on: replay diverged \(payload\): .*; those records are listed without it$/);
  });
});

describe.skipIf(!HAVE_CLI)(`vmtrace inspect --disasm${HAVE_CLI ? '' : ` — SKIPPED: ${CLI} not built`}`, () => {
  it('--json adds insn and changes to the --exits objects; plain --exits has neither', () => {
    const file = golden('tiny_kernel.vmtrace');
    const d = cli('inspect', file, '--disasm', '--json');
    expect(d.status).toBe(0);
    const objs = d.stdout.trimEnd().split('\n').map((l) => JSON.parse(l));
    expect(objs).toHaveLength(13);
    expect(objs[0]).toMatchObject({ index: 0, rip: '0x4', changed: { rax: '0x48' }, changes: { rax: ['0x0', '0x48'] }, insn: { at: '0000:0002', bytes: 'e6f1', text: 'out 0xf1, al' } });
    const plain = cli('inspect', file, '--exits', '--json').stdout.trimEnd().split('\n').map((l) => JSON.parse(l));
    expect(plain.map((o) => [o.insn, o.changes])).toEqual(Array(13).fill([undefined, undefined]));
    // the rest of each object is the same as without --disasm
    expect(objs.map(({ insn: _i, changes: _c, ...rest }) => rest)).toEqual(plain);
  });

  it('refuses --disasm with --console unless it is for --html', () => {
    const r = cli('inspect', golden('tiny_kernel.vmtrace'), '--console', '--disasm');
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--console cannot be combined with .*--disasm/);
  });
});
