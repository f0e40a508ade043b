// diff's fast path (Lockstep.skipAlike): runs of records that the two traces' format 3 chunks
// hold alike are skipped, only their times read. Every report must be the one the record-by-record
// walk (skipChunks: false) gives, wherever a divergence lies relative to the skipped chunks.
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';

import { diffTraces, formatDiff, type DiffOptions } from '../../src/inspect/diff.js';
import type { SyntheticOptions } from '../../src/inspect/synthetic.js';
import { openTrace, TraceScanner } from '../../src/trace/reader.js';
import type { RecordInput } from '../../src/trace/writer.js';
import { synth, tempDir } from './helpers.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());
afterEach(() => vi.restoreAllMocks());

// Past MARK_EVERY (4096) records, in small chunks: context is read again from marks.
const N = 10_000;
const FRAME = 6000;
const make = (name: string, opts: SyntheticOptions = {}) => synth(tmp.path(name), { exits: N, frameBytes: FRAME, ...opts });
const a = await make('a.vmtrace');
const other = await make('other-times.vmtrace', { stepNs: 650 }); // same records, other chunk bounds

/** Index of each chunk's first record. */
async function chunkStarts(file: string): Promise<number[]> {
  const t = await openTrace(file);
  const s = t.scan();
  const out: number[] = [];
  for (;;) {
    while (s.next());
    if (!(await s.read())) break;
    if (s.chunkLeft?.done === 0) out.push(s.index + 1);
  }
  await t.close();
  return out;
}

/** The diff with and without skipping, how many records the fast path took and the marks it made. */
async function both(x: string, y: string, opts: DiffOptions = {}) {
  const spy = vi.spyOn(TraceScanner.prototype, 'nextTimes');
  const marking = vi.spyOn(TraceScanner.prototype, 'mark');
  const fast = await diffTraces(x, y, { undefinedFlags: false, ...opts });
  const [skipped, marks] = [spy.mock.calls.length, marking.mock.calls.length];
  vi.restoreAllMocks();
  const slow = await diffTraces(x, y, { undefinedFlags: false, ...opts, skipChunks: false });
  return { fast, slow, skipped, marks };
}

async function expectSame(x: string, y: string, opts: DiffOptions = {}) {
  const { fast, slow, skipped } = await both(x, y, opts);
  expect(skipped).toBeGreaterThan(N / 2); // the fast path ran
  expect(formatDiff(fast)).toBe(formatDiff(slow));
  expect(fast).toEqual(slow);
  return fast;
}

const starts = await chunkStarts(a);
const otherStarts = await chunkStarts(other);

const rcx = (rec: RecordInput) => {
  rec.regsBytes = rec.regsBytes.slice();
  rec.regsBytes[16] ^= 0x40; // rcx, this record only
};
const payload = (rec: RecordInput) => {
  if (rec.io) rec.io = { ...rec.io, data: rec.io.data.map((x) => x ^ 1) };
  else rcx(rec);
};

describe('diff skipping chunks held alike', () => {
  it('writes chunks that do not line up between runs (the fast path must not need them to)', () => {
    expect(starts.length).toBeGreaterThan(20);
    expect(otherStarts.slice(1, 6)).not.toEqual(starts.slice(1, 6));
  });

  it('counts differing timestamps as the record-by-record walk does, with and without --timestamps', async () => {
    const r = await expectSame(a, other);
    // marks every 4096 pairs still, for context read again before a divergence (both scans)
    expect((await both(a, other)).marks).toBeGreaterThanOrEqual(2 * (1 + Math.floor(N / 4096)));
    expect(r.identical).toBe(true);
    expect(r.counts.timestamps).toBe(N + 1);
    // a few records with other times in otherwise identical chunks
    const few = await make('few-times.vmtrace', { mutate: (i, rec) => [7, starts[5]!, starts[9]! - 1, 8000].includes(i) && (rec.runNs += 3) });
    const f = await expectSame(a, few);
    expect(f.counts.timestamps).toBe(4);
    expect(f.firstIndex.timestamps).toBe(7);
    for (const opts of [{ timestamps: true }, { exact: true }]) {
      const { fast, slow } = await both(a, few, opts);
      expect(formatDiff(fast)).toBe(formatDiff(slow));
      expect(fast).toEqual(slow);
      expect(fast.first?.index).toBe(7);
    }
    expect((await expectSame(a, await make('same.vmtrace'), { timestamps: true })).hostDependent).toBe(0);
  });

  // before / at / inside a chunk of trace a, and at a chunk start of the other-timed trace
  const spots = (): [string, number][] => [
    ['the last record before a chunk', starts[12]! - 1],
    ['the first record of a chunk', starts[12]!],
    ['a record inside a chunk', starts[12]! + 5],
    ['a chunk start of the other run', otherStarts[17]!],
    ['a record past the marks', starts.at(-3)! + 2],
  ];

  for (const [what, change] of [
    ['a register', rcx],
    ['an IO payload', payload],
  ] as const) {
    it(`reports ${what} changed at ${spots().length} places relative to skipped chunks as without skipping`, async () => {
      for (const [, at] of spots()) {
        for (const stepNs of [500, 650]) {
          const b = await make(`${what}-${at}-${stepNs}.vmtrace`, { stepNs, mutate: (i, rec) => (i === at || i === at + 400) && change(rec) });
          for (const opts of [{}, { context: 40 }]) {
            const r = await expectSame(a, b, opts);
            expect(r.first?.index).toBe(at);
            expect(r.differingRecords).toBe(2);
          }
        }
      }
    });
  }

  it('reports a register state that stays different after the divergence as without skipping', async () => {
    const at = starts[20]! + 1;
    const b = await make('drift.vmtrace', { mutate: (i, rec) => i === at && ((rec.regsBytes = rec.regsBytes.slice()), (rec.regsBytes[40] ^= 1)) });
    const r = await expectSame(a, b); // rsi of record `at`, kept by the records after it
    expect(r.first?.index).toBe(at);
    expect(r.counts.registers).toBeGreaterThan(0);
  });

  it('reports a trace going on, or truncated, after skipped chunks as without skipping', async () => {
    const extra: RecordInput[] = [{ kind: 'exit', reason: 2, timeNs: 0, runNs: 0, regsBytes: new Uint8Array(144) }];
    expect((await expectSame(a, await make('longer.vmtrace', { extra, stepNs: 650 }))).first?.index).toBe(N);
    expect((await expectSame(await make('shorter.vmtrace', { exits: N - 3 }), a)).first?.index).toBe(N - 3);
    expect((await expectSame(a, await make('truncated.vmtrace', { truncate: true, stepNs: 650 }))).first?.where).toBe('footer');
  });
});
