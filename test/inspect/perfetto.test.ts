// --perfetto output validated against the Trace Event Format (JSON Object Format): a
// traceEvents array of events with name/ph/ts/pid/tid, complete events with dur, counters
// with numeric args, metadata naming the process and the vCPU thread.
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';

import { PerfettoWriter } from '../../src/inspect/perfetto.js';
import { scanTrace } from '../../src/inspect/summary.js';
import { readTrace } from '../../src/trace/reader.js';
import { synth, tempDir } from './helpers.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

interface TraceEvent {
  name: string;
  ph: string;
  ts?: number;
  dur?: number;
  pid: number;
  tid: number;
  cat?: string;
  s?: string;
  args?: Record<string, unknown>;
}

/** Structural checks of the Trace Event Format; returns the problems found. */
function validateTraceEvents(doc: unknown): string[] {
  const problems: string[] = [];
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return ['top level must be an object (JSON Object Format)'];
  const d = doc as Record<string, unknown>;
  if (!Array.isArray(d.traceEvents)) return ['traceEvents must be an array'];
  if (d.displayTimeUnit !== undefined && d.displayTimeUnit !== 'ms' && d.displayTimeUnit !== 'ns') problems.push('displayTimeUnit must be "ms" or "ns"');
  const PH = new Set(['B', 'E', 'X', 'i', 'I', 'C', 'M', 'b', 'e', 'n', 's', 't', 'f', 'P', 'N', 'O', 'D']);
  (d.traceEvents as unknown[]).forEach((raw, i) => {
    const e = raw as Record<string, unknown>;
    const where = `event ${i}`;
    if (typeof e.name !== 'string' || !e.name) problems.push(`${where}: name must be a non-empty string`);
    if (typeof e.ph !== 'string' || !PH.has(e.ph)) problems.push(`${where}: unknown ph ${String(e.ph)}`);
    if (!Number.isInteger(e.pid) || !Number.isInteger(e.tid)) problems.push(`${where}: pid/tid must be integers`);
    if (e.ph !== 'M' && (typeof e.ts !== 'number' || !Number.isFinite(e.ts) || e.ts < 0)) problems.push(`${where}: ts must be a number of µs`);
    if (e.args !== undefined && (typeof e.args !== 'object' || e.args === null || Array.isArray(e.args))) problems.push(`${where}: args must be an object`);
    if (e.ph === 'X' && (typeof e.dur !== 'number' || e.dur < 0)) problems.push(`${where}: complete event needs dur ≥ 0`);
    if (e.ph === 'C') {
      const vals = Object.values((e.args ?? {}) as Record<string, unknown>);
      if (!vals.length || !vals.every((v) => typeof v === 'number')) problems.push(`${where}: counter args must be numbers`);
    }
    if (e.ph === 'M' && !['process_name', 'thread_name', 'process_sort_index', 'thread_sort_index', 'process_labels'].includes(String(e.name))) {
      problems.push(`${where}: unknown metadata event ${String(e.name)}`);
    }
    if ((e.ph === 'i' || e.ph === 'I') && e.s !== undefined && !['g', 'p', 't'].includes(String(e.s))) problems.push(`${where}: instant scope must be g, p or t`);
  });
  return problems;
}

describe('PerfettoWriter', () => {
  it('writes valid Chrome Trace Event JSON: one X event per exit, exit-rate counters, named tracks', async () => {
    const file = await synth(tmp.path('p.vmtrace'), { exits: 5000, stepNs: 300 });
    const out = tmp.path('p.json');
    await scanTrace(file, [new PerfettoWriter(out)]);
    const doc = JSON.parse(readFileSync(out, 'utf8')) as { traceEvents: TraceEvent[]; otherData: Record<string, unknown> };
    expect(validateTraceEvents(doc)).toEqual([]);
    const { records } = await readTrace(file);

    const ev = doc.traceEvents;
    const meta = ev.filter((e) => e.ph === 'M');
    expect(meta.find((e) => e.name === 'process_name')?.args).toEqual({ name: 'guest synthetic.bin' });
    expect(meta.find((e) => e.name === 'thread_name')).toMatchObject({ tid: 0, args: { name: 'vCPU 0' } });

    const slices = ev.filter((e) => e.ph === 'X');
    expect(slices).toHaveLength(records.length);
    expect(new Set(slices.map((e) => `${e.pid}/${e.tid}`))).toEqual(new Set(['1/0'])); // one vCPU track
    slices.forEach((e, i) => {
      const r = records[i]!;
      expect(e.name).toBe(r.reasonName); // named by reason
      expect(e.ts! + e.dur!).toBeCloseTo(r.timeNs / 1000, 6); // ends at the exit
      expect(e.dur).toBeCloseTo(r.runNs / 1000, 6); // spans the time in KVM_RUN
      expect(e.args!.index).toBe(i);
    });
    expect(slices[0]!.args).toMatchObject({ port: '0xf1', direction: 'out', size: 1, data: '48', ascii: 'H', rip: '0x4' });
    expect(slices[10]!.args).toMatchObject({ address: '0x100000', direction: 'write', length: 2 });

    const counters = ev.filter((e) => e.ph === 'C');
    expect(counters.every((e) => e.name === 'exits/ms')).toBe(true);
    const total = counters.reduce((a, e) => a + (e.args!.exits as number), 0);
    expect(total).toBe(records.length);
    // Counter samples are at whole milliseconds, in order; the last one drops to 0.
    const ts = counters.map((e) => e.ts!);
    expect(ts.every((t) => t % 1000 === 0)).toBe(true);
    expect([...ts].sort((x, y) => x - y)).toEqual(ts);
    expect(counters.at(-1)!.args!.exits).toBe(0);

    expect(ev.find((e) => e.ph === 'i')).toMatchObject({ name: 'end: hlt', s: 't' });
    expect(doc.otherData).toMatchObject({ guest: 'synthetic.bin' });
  });

  it('marks a truncated trace and writes gaps in the exit rate as zero', async () => {
    const file = await synth(tmp.path('gap.vmtrace'), { exits: 20, stepNs: 400_000, truncate: true }); // exits 0.4 ms apart
    const out = tmp.path('gap.json');
    await scanTrace(file, [new PerfettoWriter(out)]);
    const doc = JSON.parse(readFileSync(out, 'utf8')) as { traceEvents: TraceEvent[] };
    expect(validateTraceEvents(doc)).toEqual([]);
    expect(doc.traceEvents.find((e) => e.ph === 'i')?.name).toBe('end: truncated');
    const counters = doc.traceEvents.filter((e) => e.ph === 'C');
    expect(counters.reduce((a, e) => a + (e.args!.exits as number), 0)).toBe(21);
  });

  it('the validator itself rejects malformed events', () => {
    expect(validateTraceEvents({ traceEvents: [{ name: 'x', ph: 'X', ts: 1, pid: 1, tid: 0 }] })).toEqual([
      'event 0: complete event needs dur ≥ 0',
    ]);
    expect(validateTraceEvents({ traceEvents: [{ ph: 'Q', pid: 'a', tid: 0 }] }).length).toBe(4);
    expect(validateTraceEvents([])).toEqual(['top level must be an object (JSON Object Format)']);
  });
});
