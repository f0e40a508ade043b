// The state at a record through the snapshot index equals the state a linear replay reaches
// there; the index is reused, rebuilt when stale, and refused when damaged (never a wrong answer).
import { createHash } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { replayTrace } from '../../src/replay/engine.js';
import { formatShow, showReport } from '../../src/replay/show-report.js';
import { RecordOutOfRange, stateAtRecord, type IndexOptions, type StateAtRecord } from '../../src/replay/snapshot-index.js';
import type { Cpu } from '../../src/replay/x86/index.js';
import { ROOT } from '../support/record.js';

/** Small spacing, so that these short traces get several snapshots. */
const INTERVAL = { records: 40, instructions: 20_000 };

let work: string;
beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'vmtrace-show-'));
  process.env.VMTRACE_CACHE_DIR = join(work, 'cache');
});
afterAll(() => {
  delete process.env.VMTRACE_CACHE_DIR;
  rmSync(work, { recursive: true, force: true });
});

/** A copy of a golden in the work directory (its index goes next to it). */
function copyOf(name: string, as = name): string {
  const file = join(work, as);
  copyFileSync(join(ROOT, 'traces', name), file);
  return file;
}

interface Fingerprint {
  instructions: number;
  regs: string;
  sregs: string;
  ram: string;
  history: string[];
}

const json = (v: unknown) => JSON.stringify(v, (_, x) => (typeof x === 'bigint' ? x.toString(16) : x));

function fingerprint(cpu: Cpu): Fingerprint {
  const h = createHash('sha256');
  for (const r of cpu.ram) h.update(r.bytes);
  return { instructions: cpu.instructions, regs: json(cpu.getRegs()), sregs: json(cpu.getSregs()), ram: h.digest('hex'), history: cpu.history(8).map((d) => `${d.at} ${d.text}`) };
}

/** The state right after each record in `at` matched, by a plain linear replay (replayTrace). */
async function linear(file: string, at: number[]): Promise<Map<number, Fingerprint>> {
  const out = new Map<number, Fingerprint>();
  const want = new Set(at);
  const r = await replayTrace(file, { onMatched: (i, _u, cpu) => void (want.has(i) && out.set(i, fingerprint(cpu))) });
  expect(r.ok).toBe(true);
  return out;
}

async function at(file: string, n: number, opts: IndexOptions = {}): Promise<{ fp: Fingerprint; state: Omit<StateAtRecord, 'close'>; notes: string[] }> {
  const notes: string[] = [];
  const state = await stateAtRecord(file, n, { interval: INTERVAL, note: (l) => notes.push(l), ...opts });
  try {
    return { fp: fingerprint(state.session.cpu), state, notes };
  } finally {
    await state.close();
  }
}

describe('show N equals a linear replay to N', () => {
  const cases: Array<[string, number[]]> = [
    ['tiny_kernel.vmtrace', [0, 5, 12]],
    ['mmio.vmtrace', [0, 3, 7, 10]], // steps that make several exits
    ['sort-64.vmtrace', [0, 39, 40, 41, 150, 200, 328]], // C guest, long mode, RAM written between snapshots
    ['grp_alu.step.vmtrace', [0, 1, 999, 2048, 3146]], // --step: a record per instruction
    ['rep_io_edge.step.vmtrace', [100, 500, 933]],
  ];
  for (const [name, ns] of cases) {
    it(name, async () => {
      const file = copyOf(name);
      const ref = await linear(file, ns);
      let built = 0;
      for (const n of ns) {
        const { fp, state } = await at(file, n);
        if (state.index.built) built++;
        expect(state.record.seq).toBe(n);
        // (past it when the step that made record n made more exits: the state is the same)
        expect(state.session.position.records).toBeGreaterThanOrEqual(n + 1);
        expect(fp).toEqual(ref.get(n));
        // bounded work from the snapshot: at most one interval of records
        expect(state.session.position.records - state.from.records).toBeLessThanOrEqual(INTERVAL.records + 1);
      }
      expect(built).toBe(1);
    });
  }
});

describe('the index', () => {
  it('is reused by later runs, which replay only from the nearest snapshot', async () => {
    const file = copyOf('sort-64.vmtrace', 'reuse.vmtrace');
    let progress = 0;
    const first = await at(file, 300, { onProgress: () => progress++ });
    expect(first.state.index).toMatchObject({ built: true, file: `${file}.vmtidx` });
    expect(first.notes).toEqual([expect.stringMatching(/no snapshot index yet: building .*reuse\.vmtrace\.vmtidx/)]);
    expect(progress).toBeGreaterThanOrEqual(329); // the whole trace, once
    const mtime = statSync(`${file}.vmtidx`).mtimeMs;

    progress = 0;
    const second = await at(file, 300, { onProgress: () => progress++ });
    expect(second.state.index.built).toBe(false);
    expect(second.notes).toEqual([]);
    expect(progress).toBe(0);
    expect(second.state.from.records).toBeGreaterThan(0);
    expect(second.state.from.records).toBeLessThanOrEqual(300);
    expect(300 + 1 - second.state.from.records).toBeLessThanOrEqual(INTERVAL.records);
    expect(second.fp).toEqual(first.fp);
    expect(statSync(`${file}.vmtidx`).mtimeMs).toBe(mtime);
  });

  it('is rebuilt when the trace changed', async () => {
    const file = copyOf('tiny_kernel.vmtrace', 'stale.vmtrace');
    await at(file, 3);
    // another trace under the same name
    copyFileSync(join(ROOT, 'traces', 'sieve-32.vmtrace'), file);
    const ref = await linear(file, [50]);
    const r = await at(file, 50);
    expect(r.notes).toEqual([expect.stringMatching(/stale\.vmtrace\.vmtidx: made for another version of the trace \(it changed since\): rebuilding/)]);
    expect(r.state.index.built).toBe(true);
    expect(r.fp).toEqual(ref.get(50));
    // the same bytes with another modification time: rebuilt too (the identity includes it)
    const t = new Date(Date.now() - 60_000);
    utimesSync(file, t, t);
    expect((await at(file, 50)).state.index.built).toBe(true);
    expect((await at(file, 50)).state.index.built).toBe(false);
  });

  it('is refused and rebuilt when damaged or foreign, never giving a wrong state', async () => {
    const file = copyOf('sort-64.vmtrace', 'damaged.vmtrace');
    const n = 250;
    const ref = (await linear(file, [n])).get(n);
    const index = `${file}.vmtidx`;
    await at(file, n);
    const good = readFileSync(index);
    const damaged: Array<[string, Buffer]> = [
      ['empty', Buffer.alloc(0)],
      ['foreign', Buffer.from('{"not": "an index"}\n')],
      ['truncated', good.subarray(0, good.length - 100)],
    ];
    for (let k = 1; k < 24; k++) {
      const b = Buffer.from(good);
      const pos = Math.floor((b.length * k) / 24);
      b[pos] ^= 0x40;
      damaged.push([`byte ${pos} changed`, b]);
    }
    let rebuilt = 0;
    for (const [what, bytes] of damaged) {
      writeFileSync(index, bytes);
      const r = await at(file, n);
      expect(r.fp, what).toEqual(ref);
      if (r.state.index.built) {
        rebuilt++;
        expect(r.notes.length, what).toBeGreaterThanOrEqual(1);
        for (const l of r.notes) expect(l, what).not.toMatch(/\n/);
        expect(r.notes.join(' '), what).toMatch(/rebuilding/);
        expect(readFileSync(index).equals(good), `${what}: rebuilt the same`).toBe(true);
      }
    }
    // every change to a part that is always read (magic, header, table, trailer) is found
    expect(rebuilt).toBeGreaterThanOrEqual(4);
  });

  it('is written to --index FILE when given', async () => {
    const file = copyOf('tiny_kernel.vmtrace', 'override.vmtrace');
    const index = join(work, 'elsewhere.idx');
    const r = await at(file, 4, { index });
    expect(r.state.index.file).toBe(index);
    expect(statSync(index).size).toBeGreaterThan(0);
    expect(() => statSync(`${file}.vmtidx`)).toThrow();
    expect((await at(file, 4, { index })).state.index.built).toBe(false);
  });

  it('knows how many records the trace has', async () => {
    const file = copyOf('tiny_kernel.vmtrace', 'range.vmtrace');
    await expect(stateAtRecord(file, 13)).rejects.toThrow(RecordOutOfRange);
    await expect(stateAtRecord(file, 13)).rejects.toThrow(/has 13 records \(0 to 12\): there is no record 13/);
  });
});

describe('the report', () => {
  it('shows the record, registers, segments, system registers, code and memory', async () => {
    const file = copyOf('hello-64.vmtrace', 'report.vmtrace');
    const state = await stateAtRecord(file, 10, { interval: INTERVAL });
    try {
      const regs = state.session.regs();
      const r = showReport({ trace: file, records: state.records, record: state.record, target: state.session, history: state.history, readPhysical: state.readPhysical, memory: [{ address: Number(regs.rsp), length: 32, physical: false }] });
      expect(r).toMatchObject({ schema: 'vmtrace-show/1', reached: true, mode: 'long64', width: 64, record: { index: 10, of: 59, kind: 'exit', reason: state.record.reasonName } });
      expect(r.regs.rip).toBe(`0x${regs.rip.toString(16)}`);
      expect(r.controlFlags.efer).toEqual(expect.arrayContaining(['LME', 'LMA']));
      expect(r.controlFlags.cr0).toEqual(expect.arrayContaining(['PE', 'PG']));
      expect(r.code.at[0]!.at).toBe(state.session.disassemble(1)[0]!.at);
      expect(r.code.before.length).toBeGreaterThan(0);
      // the memory at RSP is what the interpreter reads there
      expect(r.memory[0]!.ranges).toEqual([{ address: `0x${regs.rsp.toString(16)}`, length: 32, bytes: Buffer.from(state.session.readLinear(Number(regs.rsp), 32)!).toString('hex') }]);
      const text = formatShow(r);
      expect(text).toMatch(/^record 10 of 59 \(exit IO /);
      expect(text).toMatch(/\n {2}rax 0x[0-9a-f]{16} {2}rbx /);
      expect(text).toMatch(/\n => [0-9a-f:]+ {2}[0-9a-f]+ +\S/);
      expect(text).toMatch(/\nmemory \(linear 0x[0-9a-f]+, 32 bytes\):\n/);
    } finally {
      await state.close();
    }
  });
});
