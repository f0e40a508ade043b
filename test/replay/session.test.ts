// ReplaySession (src/replay/session.ts) against committed goldens: going back (reverse steps,
// seeks, restored snapshots) reaches exactly the states a straight forward run passes through;
// breakpoints, watchpoints and divergences stop where a step-by-step scan says they must.
import { createHash } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Packr, Unpackr } from 'msgpackr';
import { describe, expect, test } from 'vitest';
import { regsToBytes } from '../../src/cpu-state.js';
import { sregsToBytes } from '../../src/kvm-structs.js';
import type { StopReason } from '../../src/replay/debug-target.js';
import { cpuFromHeader, replayTrace } from '../../src/replay/engine.js';
import { ReplaySession, type SessionSnapshot } from '../../src/replay/session.js';
import { snapshotFromPlain, snapshotToPlain, type Plain } from '../../src/replay/x86/index.js';
import { EXIT } from '../../src/trace/exit-reasons.js';
import { openTrace } from '../../src/trace/reader.js';
import { TraceWriter } from '../../src/trace/writer.js';
import { ROOT } from '../support/record.js';
import { rewriteTrace } from '../support/rewrite.js';

const dir = mkdtempSync(join(tmpdir(), 'vmtrace-session-'));
const golden = (name: string) => join(ROOT, 'traces', name);
const NONE = { breakpoints: new Set<number>(), watchpoints: [] };

/** The state a position stands for: where, registers, RAM, the history a divergence report shows. */
function fingerprint(s: ReplaySession): string {
  const h = createHash('sha1');
  for (const r of s.cpu.ram) h.update(r.bytes);
  const hist = s.cpu.history(256).map((d) => `${d.at} ${d.text}`);
  return JSON.stringify({ at: s.position, regs: s.regs(), sregs: s.sregs(), ram: h.digest('hex'), hist, undef: s.cpu.undefinedFlagsNow }, (_, v) =>
    typeof v === 'bigint' ? v.toString(16) : v,
  );
}

async function totalInstructions(name: string): Promise<number> {
  return (await replayTrace(golden(name))).instructions;
}

/** Instructions between the snapshots of the session under test. */
function interval(total: number): number {
  return Math.max(4, Math.floor(total / 16));
}

/** Positions at 30, 60 and 90 % of the trace, and just after a snapshot (reverse steps cross it). */
function positions(total: number): number[] {
  return [...[0.3, 0.6, 0.9].map((f) => Math.max(6, Math.floor(total * f))), 3 * interval(total) + 2];
}

const TRACES = [
  'tiny_kernel.vmtrace', // real mode, exits
  'compute.vmtrace', // real mode, 1.8 M instructions between 10 exits
  'sieve-32.vmtrace', // 32-bit C guest
  'sort-64.vmtrace', // 64-bit C guest (paging)
  'pagefault-64.step.vmtrace', // --step, page faults
  'longself-32.step.vmtrace', // --step, 32-bit to long mode
];
const N = 5;

describe('reverse execution reaches the states of a forward run', () => {
  for (const name of TRACES) {
    test(name, async () => {
      const total = await totalInstructions(name);
      const at = positions(total);
      // the reference: one forward run through every position of interest
      const ref = await ReplaySession.open(golden(name));
      const states = new Map<number, string>();
      for (const p of at) {
        await ref.seekInstruction(p - N);
        states.set(p - N, fingerprint(ref));
        for (let k = 1; k <= N; k++) {
          expect(await ref.stepInstruction()).toEqual({ kind: 'step' });
          states.set(p - N + k, fingerprint(ref));
        }
      }
      await ref.close();

      const s = await ReplaySession.open(golden(name), { snapshotInterval: interval(total) });
      for (const p of [at[2]!, at[0]!, at[3]!, at[1]!]) {
        expect(await s.seekInstruction(p)).toBeUndefined();
        expect(fingerprint(s)).toBe(states.get(p));
        for (let k = 1; k <= N; k++) {
          expect(await s.reverseStepInstruction()).toEqual({ kind: 'step' });
          expect(fingerprint(s)).toBe(states.get(p - k));
        }
        for (let k = N - 1; k >= 0; k--) {
          await s.stepInstruction();
          expect(fingerprint(s)).toBe(states.get(p - k));
        }
      }
      // to the end and back
      const end = await s.continue(NONE);
      expect(end.kind).toBe('end');
      expect(await s.seekInstruction(at[0]!)).toBeUndefined();
      expect(fingerprint(s)).toBe(states.get(at[0]!));
      await s.close();
    });
  }
});

describe('seekRecord stands right after the record, with its registers', () => {
  for (const name of ['tiny_kernel.vmtrace', 'sieve-32.vmtrace', 'sort-64.vmtrace', 'grp_muldiv.step.vmtrace']) {
    test(name, async () => {
      const s = await ReplaySession.open(golden(name), { snapshotInterval: 1000 });
      const { matched } = await replayTrace(golden(name));
      for (const i of [matched - 2, 0, Math.floor(matched / 2), Math.floor(matched / 3)]) {
        expect(await s.seekRecord(i)).toBeUndefined();
        const rec = (await s.recordAt(i))!;
        expect(s.position.records).toBe(i + 1);
        // (flags left undefined there were taken from the record)
        expect(s.regs()).toEqual(rec.regs);
        expect(s.sregs()).toEqual(rec.sregs);
      }
      expect(await s.recordAt(matched + 5)).toBeUndefined();
      await s.close();
    });
  }
});

describe('the end of the trace', () => {
  test.each(['tiny_kernel.vmtrace', 'hello-64.vmtrace', 'enter_bound.step.vmtrace', 'rep_io_edge.vmtrace'])('%s: the result replayTrace gives; forward again is the same stop', async (name) => {
    const ref = await replayTrace(golden(name));
    const console: number[] = [];
    const s = await ReplaySession.open(golden(name), { onConsole: (b) => console.push(...b) });
    const end = await s.continue(NONE);
    expect(end).toEqual({ kind: 'end', result: ref });
    expect(s.stopped).toEqual(end);
    expect(await s.stepInstruction()).toEqual(end);
    expect(await s.continue(NONE)).toEqual(end);
    // re-executing after going back shows no console output twice
    const shown = console.length;
    await s.seekInstruction(0);
    expect(s.stopped).toBeUndefined();
    expect(await s.continue(NONE)).toEqual(end);
    expect(console.length).toBe(shown);
    await s.close();
  });
});

describe('snapshots', () => {
  test('a captured state survives msgpack and resumes in another session', async () => {
    const packr = new Packr({ useRecords: false, moreTypes: true });
    const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, moreTypes: true });
    const name = golden('sort-64.vmtrace');
    const a = await ReplaySession.open(name);
    await a.seekInstruction(30_000);
    const state = a.captureState();
    const here = fingerprint(a);
    const bytes = packr.pack({ ...state, cpu: snapshotToPlain(state.cpu) });
    const back = unpackr.unpack(bytes) as SessionSnapshot & { cpu: Plain };
    const b = await ReplaySession.open(name);
    b.restoreState({ ...back, cpu: snapshotFromPlain(back.cpu) });
    expect(fingerprint(b)).toBe(here);
    const endA = await a.continue(NONE);
    const endB = await b.continue(NONE);
    expect(endB).toEqual(endA);
    expect(fingerprint(b)).toBe(fingerprint(a));
    await a.close();
    await b.close();
  });

  test('over the bounds they are thinned out (interval doubled) and reverse steps stay exact', async () => {
    const name = golden('compute.vmtrace');
    const ref = await ReplaySession.open(name);
    await ref.seekInstruction(1_500_000);
    const want = fingerprint(ref);
    await ref.stepInstruction();
    const s = await ReplaySession.open(name, { snapshotInterval: 1000, maxSnapshots: 16 });
    await s.continue(NONE);
    const stats = s.snapshotStats;
    expect(stats.count).toBeLessThanOrEqual(16);
    expect(stats.interval).toBeGreaterThanOrEqual(1000 * 2 ** 6); // 1.8 M / 16 snapshots
    await s.seekInstruction(1_500_001);
    await s.reverseStepInstruction();
    expect(fingerprint(s)).toBe(want);
    const small = await ReplaySession.open(name, { snapshotInterval: 1000, snapshotMemory: 300 << 10 });
    await small.continue(NONE);
    expect(small.snapshotStats.bytes).toBeLessThanOrEqual(300 << 10);
    await small.seekInstruction(1_500_001);
    await small.reverseStepInstruction();
    expect(fingerprint(small)).toBe(want);
    for (const x of [ref, s, small]) await x.close();
  });

  test('a debugger write is kept when going back to it, lost when going back before it', async () => {
    const name = golden('sieve-32.vmtrace');
    const s = await ReplaySession.open(name, { snapshotInterval: 500 });
    await s.seekInstruction(10_000);
    const original = fingerprint(s);
    s.setRegs({ rsi: 0x1234n });
    const edited = fingerprint(s);
    expect(s.regs().rsi).toBe(0x1234n);
    for (let k = 0; k < 3; k++) expect(await s.stepInstruction()).toEqual({ kind: 'step' });
    for (let k = 0; k < 3; k++) await s.reverseStepInstruction();
    expect(fingerprint(s)).toBe(edited);
    await s.seekInstruction(9_000);
    await s.seekInstruction(10_000);
    expect(fingerprint(s)).toBe(original);
    await s.close();
  });
});

/** Positions (from the start) at which the next instruction is at `lin`, by stepping. */
async function visits(name: string, lin: number, upTo: number): Promise<number[]> {
  const s = await ReplaySession.open(golden(name));
  const out: number[] = [];
  while (s.position.instructions < upTo) {
    if (s.cpu.linearPc === lin) out.push(s.position.instructions);
    if ((await s.stepInstruction()).kind !== 'step') break;
  }
  await s.close();
  return out;
}

describe('breakpoints', () => {
  test.each([['sieve-32.vmtrace', 3000], ['sort-64.vmtrace', 20_000], ['tiny_kernel.step.vmtrace', 10]])('%s: continue and reverse-continue stop before the instruction, at exact counts', async (name, from) => {
    const probe = await ReplaySession.open(golden(name));
    await probe.seekInstruction(from);
    const bp = probe.cpu.linearPc;
    await probe.close();
    const total = await totalInstructions(name);
    const want = (await visits(name, bp, total)).filter((p) => p > 0);
    expect(want.length).toBeGreaterThanOrEqual(1);
    const ctl = { breakpoints: new Set([bp]), watchpoints: [] };
    const s = await ReplaySession.open(golden(name), { snapshotInterval: Math.max(4, Math.floor(total / 10)) });
    const got: number[] = [];
    for (const _ of want.slice(0, 4)) {
      const r = await s.continue(ctl);
      expect(r).toEqual({ kind: 'breakpoint', address: bp });
      expect(s.cpu.linearPc).toBe(bp);
      got.push(s.position.instructions);
    }
    expect(got).toEqual(want.slice(0, 4));
    const back: number[] = [];
    for (;;) {
      const r = await s.reverseContinue(ctl);
      if (r.kind === 'start') break;
      expect(r).toEqual({ kind: 'breakpoint', address: bp });
      back.push(s.position.instructions);
    }
    expect(back).toEqual(got.slice(0, -1).reverse());
    expect(s.position.instructions).toBe(0);
    await s.close();
  });
});

describe('watchpoints', () => {
  test('sort-64: a write watch stops right after the step that wrote; reverse: just before it', async () => {
    const name = golden('sort-64.vmtrace');
    // a RAM variable the guest changes: the first byte that differs between two points
    const s = await ReplaySession.open(name, { snapshotInterval: 2000 });
    await s.seekInstruction(20_000);
    const before = Uint8Array.from(s.cpu.ram[0]!.bytes);
    await s.seekInstruction(21_000);
    const after = s.cpu.ram[0]!.bytes;
    // (not an accessed/dirty bit of a page-table entry: the walker sets those, no instruction)
    const x = before.findIndex((b, k) => ((b ^ after[k]!) & ~0x60) !== 0);
    expect(x).toBeGreaterThan(0);
    // identity-mapped: the linear address is the physical one
    expect(s.readLinear(x, 1)).toEqual(after.subarray(x, x + 1));
    // the step that changed it, found by stepping
    await s.seekInstruction(20_000);
    let changed = -1;
    while (changed < 0) {
      const v = s.readLinear(x, 1)![0];
      await s.stepInstruction();
      if (s.readLinear(x, 1)![0] !== v) changed = s.position.instructions;
    }
    const watch = { breakpoints: new Set<number>(), watchpoints: [{ kind: 'write' as const, address: x, length: 1 }] };
    await s.seekInstruction(changed - 1);
    expect(await s.continue(watch)).toEqual({ kind: 'watchpoint', watch: 'write', address: x });
    expect(s.position.instructions).toBe(changed);
    // a single step over the write reports it too; the step before it is a plain step
    await s.seekInstruction(changed - 2);
    expect(await s.stepInstruction({ watchpoints: watch.watchpoints })).toEqual({ kind: 'step' });
    expect(await s.stepInstruction({ watchpoints: watch.watchpoints })).toEqual({ kind: 'watchpoint', watch: 'write', address: x });
    expect(s.position.instructions).toBe(changed);
    await s.seekInstruction(changed + 1);
    expect(await s.reverseContinue(watch)).toEqual({ kind: 'watchpoint', watch: 'write', address: x });
    expect(s.position.instructions).toBe(changed - 1);
    // from the start: the first write comes at or before the first change
    await s.seekInstruction(0);
    const first = await s.continue(watch);
    expect(first.kind).toBe('watchpoint');
    expect(s.position.instructions).toBeLessThanOrEqual(changed);
    // an access watch stops at the earlier of the first read and the first write
    const stopAt = async (kind: 'read' | 'access'): Promise<number> => {
      await s.seekInstruction(0);
      const r = await s.continue({ breakpoints: new Set(), watchpoints: [{ kind, address: x, length: 1 }] });
      expect(r).toMatchObject({ kind: 'watchpoint', watch: kind });
      return s.position.instructions;
    };
    const firstWrite = s.position.instructions;
    expect(await stopAt('access')).toBe(Math.min(await stopAt('read'), firstWrite));
    await s.close();
  });
});

describe('divergence', () => {
  test.each([['sieve-32.vmtrace', 40], ['tiny_kernel.step.vmtrace', 10]])('%s: a changed register stops at its record, as replay reports it; forward again is the same stop', async (name, k) => {
    const bad = join(dir, `bad-${name}`);
    await rewriteTrace(golden(name), bad, (rec, m) => {
      if (rec.seq === k) m.regs.rbx ^= 0x10n;
    });
    const ref = await replayTrace(bad);
    expect(ref.divergence).toMatchObject({ kind: 'registers', index: k });
    const s = await ReplaySession.open(bad, { snapshotInterval: 100 });
    const stop = await s.continue(NONE);
    expect(stop).toEqual({ kind: 'divergence', divergence: ref.divergence });
    expect(s.position.records).toBe(k);
    expect(s.stopped).toEqual(stop);
    expect(await s.continue(NONE)).toEqual(stop);
    expect(await s.stepInstruction()).toEqual(stop);
    // back and forward again: the same report (history included)
    await s.reverseStepInstruction();
    await s.reverseStepInstruction();
    expect(s.stopped).toBeUndefined();
    expect(await s.continue(NONE)).toEqual(stop);
    await s.close();
  });
});

describe('long traces', () => {
  // (1,000,000 records work the same, in ~25 s: replay checks ~40,000 records/s)
  test('a 200,000-record trace replays with a bounded window of records', async () => {
    const records = 200_000;
    const file = join(dir, 'loop.vmtrace');
    await loopTrace(file, records);
    const s = await ReplaySession.open(file);
    const end = (await s.continue(NONE)) as Extract<StopReason, { kind: 'end' }>;
    expect(end.kind).toBe('end');
    expect(end.result).toMatchObject({ ok: true, matched: records, instructions: 3 * records - 2 });
    expect(s.recordsHeld).toBeLessThanOrEqual(8192);
    expect(s.snapshotStats.count).toBeLessThanOrEqual(7);
    expect(await s.seekRecord(123_456)).toBeUndefined();
    expect(s.regs().rax & 0xffffn).toBe(123_456n & 0xffffn);
    expect(s.recordsHeld).toBeLessThanOrEqual(8192);
    expect((await s.recordAt(records - 1))!.seq).toBe(records - 1);
    await s.reverseStepInstruction();
    expect(s.position.records).toBe(123_456);
    // a state from elsewhere, far into the trace: the new session skips there, with a scan mark or without
    const state = s.captureState();
    const opened = await openTrace(file);
    const scan = opened.scan();
    while (scan.index < 150_000 - 1) await scan.advance();
    const mark = scan.mark();
    await opened.close();
    for (const marks of [[], [mark]]) {
      const t = await ReplaySession.open(file);
      t.addScanMarks(marks);
      t.restoreState(state);
      expect(await t.continue(NONE)).toEqual(end);
      expect(t.recordsHeld).toBeLessThanOrEqual(8192);
      await t.close();
    }
    await s.close();
  }, 60_000);
});

/**
 * A real-mode trace of `out 0x80, al; inc ax; jmp 0` with `exits` exits, each record the
 * interpreter's own state after its OUT (a well-formed trace of any length).
 */
async function loopTrace(file: string, exits: number): Promise<void> {
  const t = await openTrace(golden('tiny_kernel.vmtrace'));
  await t.close();
  const image = Uint8Array.of(0xe6, 0x80, 0x40, 0xeb, 0xfb);
  const header = { ...t.header, guest: { ...t.header.guest, image, sha256: createHash('sha256').update(image).digest('hex') }, initialMemory: [{ address: 0, bytes: image, what: 'image' }] };
  let al = 0;
  const cpu = cpuFromHeader(header, { ioIn: () => 0, ioOut: (_p, _s, v) => void (al = v), mmioRead: () => 0n, mmioWrite: () => {} });
  const w = new TraceWriter(file);
  w.writeHeader(header);
  for (let k = 0; k < exits; k++) {
    cpu.run(10);
    w.writeRecord({ kind: 'exit', reason: EXIT.IO, timeNs: k, runNs: 1, regsBytes: regsToBytes(cpu.getRegs()), io: { port: 0x80, size: 1, out: true, count: 1, data: Uint8Array.of(al) } });
  }
  await w.finish({ endReason: 'max-exits', message: 'limit', regsBytes: regsToBytes(cpu.getRegs()), sregsBytes: sregsToBytes(cpu.getSregs()) });
}
