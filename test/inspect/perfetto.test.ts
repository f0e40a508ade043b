// --perfetto output validated against the Trace Event Format (JSON Object Format): a
// traceEvents array of events with name/ph/ts/pid/tid, complete events with dur, counters
// with numeric args, metadata naming the process and the vCPU thread.
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';

import { PerfettoWriter, perfettoFormatOf, perfettoGroup, recordsInRange, type PerfettoOptions } from '../../src/inspect/perfetto.js';
import { ProtoWriter } from '../../src/inspect/protobuf.js';
import { scanTrace, traceEnd } from '../../src/inspect/summary.js';
import { EXIT } from '../../src/trace/exit-reasons.js';
import { readTrace } from '../../src/trace/reader.js';
import { cli, synth, tempDir } from './helpers.js';

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

// ---- protobuf -------------------------------------------------------------------------------
// A tiny reader of the wire format (varint and length-delimited fields, the only two the
// export writes; anything else fails the test), to check the structure field by field.
type Fields = Map<number, (number | Uint8Array)[]>;

function varintAt(b: Uint8Array, p: number): [number, number] {
  let v = 0;
  let scale = 1;
  for (;;) {
    if (p >= b.length) throw new Error('varint runs past the end');
    const x = b[p++]!;
    v += (x & 0x7f) * scale;
    scale *= 128;
    if (x < 0x80) return [v, p];
  }
}

function decode(b: Uint8Array): Fields {
  const out: Fields = new Map();
  let p = 0;
  while (p < b.length) {
    const [key, q] = varintAt(b, p);
    const no = Math.floor(key / 8);
    const wire = key % 8;
    let value: number | Uint8Array;
    if (wire === 0) [value, p] = varintAt(b, q);
    else if (wire === 2) {
      const [len, r] = varintAt(b, q);
      if (r + len > b.length) throw new Error(`field ${no}: ${len} bytes run past the end`);
      value = b.subarray(r, r + len);
      p = r + len;
    } else throw new Error(`field ${no}: wire type ${wire}`);
    const list = out.get(no);
    if (list) list.push(value);
    else out.set(no, [value]);
  }
  return out;
}

const one = (f: Fields, no: number) => f.get(no)?.[0];
const num = (f: Fields, no: number) => one(f, no) as number | undefined;
const sub = (f: Fields, no: number) => decode(one(f, no) as Uint8Array);
const str = (f: Fields, no: number) => new TextDecoder().decode(one(f, no) as Uint8Array);

interface Packet {
  ts?: number;
  seq?: number;
  flags?: number;
  event?: Fields;
  track?: Fields;
  interned?: Fields;
}

/** The file as TracePackets (Trace.packet = 1, the only top-level field). */
function packets(file: string): Packet[] {
  const top = decode(readFileSync(file));
  expect([...top.keys()]).toEqual([1]);
  return top.get(1)!.map((raw) => {
    const f = decode(raw as Uint8Array);
    return {
      ts: num(f, 8), seq: num(f, 10), flags: num(f, 13),
      event: f.has(11) ? sub(f, 11) : undefined, track: f.has(60) ? sub(f, 60) : undefined, interned: f.has(12) ? sub(f, 12) : undefined,
    };
  });
}

/** Follows the interning on the sequence: name, category and argument-name tables by iid. */
function interning(ps: Packet[]) {
  const tables = { names: new Map<number, string>(), cats: new Map<number, string>(), args: new Map<number, string>() };
  const fields: Record<number, Map<number, string>> = { 1: tables.cats, 2: tables.names, 3: tables.args };
  for (const p of ps) {
    for (const [no, entries] of p.interned ?? []) {
      for (const e of entries) {
        const d = decode(e as Uint8Array);
        expect(fields[no]!.has(num(d, 1)!)).toBe(false); // each entry once
        fields[no]!.set(num(d, 1)!, str(d, 2));
      }
    }
  }
  return tables;
}

describe('ProtoWriter', () => {
  it('writes minimal varints and length prefixes, also past one byte and across buffer growth', () => {
    const w = new ProtoWriter();
    w.uint(1, 0);
    w.uint(2, 300);
    w.uint(3, 2 ** 53 - 1);
    w.uint(4, 0xffffffff);
    w.string(5, 'é'.repeat(100)); // 200 bytes: a two-byte length
    const m = w.begin(6);
    for (let i = 0; i < 40_000; i++) w.uint(1, i); // grows the 64 KiB buffer while open
    const inner = w.begin(2);
    w.string(1, 'x');
    w.end(inner);
    w.end(m);
    const f = decode(w.bytes());
    expect([num(f, 1), num(f, 2), num(f, 3), num(f, 4)]).toEqual([0, 300, 2 ** 53 - 1, 0xffffffff]);
    expect(str(f, 5)).toBe('é'.repeat(100));
    const nested = sub(f, 6);
    expect(nested.get(1)).toEqual([...Array(40_000).keys()]);
    expect(str(sub(nested, 2), 1)).toBe('x');
    expect([...w.bytes().subarray(0, 4)]).toEqual([0x08, 0x00, 0x10, 0xac]); // field 1 = 0; field 2 = 300 (ac 02)
  });
});

async function exportOf(file: string, out: string, opts: PerfettoOptions) {
  await scanTrace(file, [new PerfettoWriter(out, opts)]);
  return out;
}

describe('PerfettoWriter, protobuf', () => {
  it('writes TracePackets: track descriptors, then a begin/end pair per record, rate counters, the end', async () => {
    const file = await synth(tmp.path('pb.vmtrace'), { exits: 3000, stepNs: 300 });
    const ps = packets(await exportOf(file, tmp.path('p.pftrace'), { format: 'proto' }));
    const { records } = await readTrace(file);
    const names = interning(ps);
    expect(ps.every((p) => p.seq === 1)).toBe(true);
    expect(ps[0]!.flags).toBe(1); // SEQ_INCREMENTAL_STATE_CLEARED, first
    expect(ps.slice(1).every((p) => p.flags === 2)).toBe(true); // SEQ_NEEDS_INCREMENTAL_STATE

    const tracks = ps.filter((p) => p.track).map((p) => p.track!);
    expect(tracks).toHaveLength(3);
    const [proc, vcpu, rate] = tracks as [Fields, Fields, Fields];
    expect([num(proc, 1), str(proc, 2), num(sub(proc, 3), 1), str(sub(proc, 3), 6)]).toEqual([1, 'guest synthetic.bin', 1, 'guest synthetic.bin']);
    expect([num(vcpu, 1), str(vcpu, 2), num(vcpu, 5)]).toEqual([2, 'vCPU 0', 1]);
    expect([num(rate, 1), str(rate, 2), num(rate, 5), rate.has(8)]).toEqual([3, 'exits/ms', 1, true]);

    const events = ps.filter((p) => p.event);
    const slices = events.filter((p) => num(p.event!, 11) === 2);
    expect(slices.map((p) => num(p.event!, 9))).toEqual(records.flatMap(() => [1, 2]).concat([3])); // begin, end, …, the instant
    let lastEnd = 0;
    records.forEach((r, i) => {
      const [b, e] = [slices[2 * i]!, slices[2 * i + 1]!];
      expect(names.names.get(num(b.event!, 10)!)).toBe(r.reasonName);
      expect(names.cats.get(num(b.event!, 3)!)).toBe(r.reasonName);
      // the slice spans the time in KVM_RUN, starting no earlier than the one before ends
      // (these synthetic records overlap: runNs is longer than the time between exits)
      expect(b.ts).toBe(Math.max(r.timeNs - r.runNs, lastEnd));
      expect(e.ts).toBe(r.timeNs);
      lastEnd = r.timeNs;
      expect(e.event!.has(10)).toBe(false); // an end repeats nothing
      const args = new Map((b.event!.get(4) ?? []).map((raw) => {
        const d = decode(raw as Uint8Array);
        return [names.args.get(num(d, 1)!), d.has(4) ? num(d, 4) : str(d, 6)] as const;
      }));
      expect(args.get('index')).toBe(i);
      if (r.io) expect([args.get('port'), args.get('direction'), args.get('size'), args.get('data')]).toEqual([`0x${r.io.port.toString(16)}`, r.io.direction, r.io.size, Buffer.from(r.io.data).toString('hex')]);
    });
    const times = slices.map((p) => p.ts!);
    expect([...times].sort((x, y) => x - y)).toEqual(times); // begin/end in order on the track

    const counters = events.filter((p) => num(p.event!, 11) === 3);
    expect(counters.every((p) => num(p.event!, 9) === 4 && p.ts! % 1e6 === 0)).toBe(true);
    expect(counters.reduce((a, p) => a + (num(p.event!, 30) ?? 0), 0)).toBe(records.length);
    expect(names.names.get(num(slices.at(-1)!.event!, 10)!)).toBe('end: hlt');
  });
});

describe('PerfettoWriter, fed TraceRecords', () => {
  it('writes the same file from record() as from the scanner, in both formats', async () => {
    const file = await synth(tmp.path('rec.vmtrace'), {
      exits: 300,
      extra: [{ kind: 'exit', reason: EXIT.INTERNAL_ERROR, timeNs: 5e6, runNs: 7, regsBytes: new Uint8Array(18 * 8).fill(0xcd), detail: { suberror: 1 } }],
    });
    const t = await readTrace(file);
    for (const format of ['json', 'proto'] as const) {
      for (const group of [1, 7]) {
        const viaScan = await exportOf(file, tmp.path(`s-${format}-${group}`), { format, group, from: 3 });
        const w = new PerfettoWriter(tmp.path(`r-${format}-${group}`), { format, group, from: 3 });
        w.header(t.header);
        t.records.forEach((r, i) => w.record(r, i));
        w.end(traceEnd(t), t.records.length);
        expect(readFileSync(w.path).equals(readFileSync(viaScan)), `${format}, group ${group}`).toBe(true);
      }
    }
  });
});

describe('PerfettoWriter, range and merging', () => {
  const exportJson = async (file: string, name: string, opts: PerfettoOptions) =>
    JSON.parse(readFileSync(await exportOf(file, tmp.path(name), opts), 'utf8')) as { traceEvents: TraceEvent[] };

  it('exports only --from/--to, and says how the run ended only when the range reaches the end', async () => {
    const file = await synth(tmp.path('range.vmtrace'), { exits: 500 });
    const doc = await exportJson(file, 'r.json', { from: 100, to: 199 });
    expect(validateTraceEvents(doc)).toEqual([]);
    const slices = doc.traceEvents.filter((e) => e.ph === 'X');
    expect(slices.map((e) => e.args!.index)).toEqual([...Array(100).keys()].map((i) => i + 100));
    expect(doc.traceEvents.filter((e) => e.ph === 'C').reduce((a, e) => a + (e.args!.exits as number), 0)).toBe(100);
    expect(doc.traceEvents.some((e) => e.ph === 'i')).toBe(false);
    const tail = await exportJson(file, 't.json', { from: 450 });
    expect(tail.traceEvents.filter((e) => e.ph === 'X')).toHaveLength(51);
    expect(tail.traceEvents.find((e) => e.ph === 'i')?.name).toBe('end: hlt');
    expect(await recordsInRange(file)).toBe(501);
    expect(await recordsInRange(file, 100, 199)).toBe(100);
    expect(await recordsInRange(file, 450, 10_000)).toBe(51);
    expect(await recordsInRange(file, 600)).toBe(0);
  });

  it('merges windows of `group` records, consecutive windows of the same reasons into one slice', async () => {
    // 0..59 console OUTs only (no MMIO, no port 0x60 IN), then the usual mix, then a HLT
    const file = await synth(tmp.path('merge.vmtrace'), {
      exits: 2000,
      mutate: (i, rec) => {
        if (i < 60 && rec.reason !== EXIT.IO) Object.assign(rec, { reason: EXIT.IO, mmio: undefined, io: { port: 0xf1, size: 1, out: true, count: 1, data: Uint8Array.of(0x41) } });
      },
    });
    const { records } = await readTrace(file);
    const doc = await exportJson(file, 'm.json', { group: 20 });
    expect(validateTraceEvents(doc)).toEqual([]);
    const slices = doc.traceEvents.filter((e) => e.ph === 'X');
    expect(slices.length).toBeLessThanOrEqual(Math.ceil(records.length / 20));
    expect(slices[0]).toMatchObject({ name: 'IO', cat: 'merged', args: { records: 60, first: 0, last: 59, IO: 60 } });
    expect(slices[1]!.name).toBe('IO+MMIO');
    expect(slices.at(-1)).toMatchObject({ name: 'HLT', args: { records: 1, first: 2000 } }); // the last, partial window
    let next = 0;
    for (const [i, e] of slices.entries()) {
      const a = e.args as Record<string, number>;
      expect(a.first).toBe(next); // the slices tile the records, in order
      expect(a.records).toBe(a.last! - a.first! + 1);
      expect(Object.keys(a).slice(4).sort().join('+')).toBe(e.name);
      expect(Object.keys(a).slice(4).reduce((n, k) => n + a[k]!, 0)).toBe(a.records);
      if (i > 0) expect(e.name).not.toBe(slices[i - 1]!.name); // otherwise they would be one
      const first = records[a.first!]!;
      const last = records[a.last!]!;
      expect(e.ts).toBeCloseTo((first.timeNs - first.runNs) / 1000, 6);
      expect(e.ts! + e.dur!).toBeCloseTo(last.timeNs / 1000, 6);
      next = a.last! + 1;
    }
    expect(next).toBe(records.length);
    // the same slices in protobuf
    const ps = packets(await exportOf(file, tmp.path('m.pftrace'), { format: 'proto', group: 20 }));
    const names = interning(ps);
    const begins = ps.filter((p) => p.event && num(p.event, 9) === 1);
    expect(begins.map((p) => names.names.get(num(p.event!, 10)!))).toEqual(slices.map((e) => e.name));
  });

  it('picks the window size for a slice limit, and the format from the file name', () => {
    expect(perfettoGroup(100_000, 100_000)).toBe(1);
    expect(perfettoGroup(100_001, 100_000)).toBe(2);
    expect(perfettoGroup(1_000_002, 100_000)).toBe(11);
    expect(perfettoGroup(5_000_000, 0)).toBe(1);
    expect(perfettoFormatOf('t.pftrace')).toBe('proto');
    expect(perfettoFormatOf('t.perfetto-trace')).toBe('proto');
    expect(perfettoFormatOf('t.json')).toBe('json');
    expect(perfettoFormatOf('pftrace')).toBe('json');
  });
});

describe('vmtrace inspect --perfetto', () => {
  it('takes --from/--to as the export range without listing, merges above --perfetto-limit, says so', async () => {
    const file = await synth(tmp.path('cli.vmtrace'), { exits: 300 });
    const r = cli('inspect', file, '--perfetto', tmp.path('c.pftrace'), '--from', '10', '--to', '59');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('Exit reasons'); // the summary, not a listing
    expect(r.stderr).toMatch(/wrote .*c\.pftrace \(Perfetto protobuf: 50 records as 50 slices; \d+ events\)/);
    expect(packets(tmp.path('c.pftrace')).filter((p) => p.event && num(p.event, 9) === 1)).toHaveLength(50);
    const m = cli('inspect', file, '--perfetto', tmp.path('c.json'), '--perfetto-limit', '100');
    expect(m.status).toBe(0);
    expect(m.stderr).toMatch(/Chrome Trace Event JSON: 301 records as \d+ slices, merged in windows of 4 as the range holds more than --perfetto-limit 100/);
    const j = cli('inspect', file, '--perfetto', tmp.path('c.dat'), '--perfetto-format', 'proto', '--exits', '--to', '4');
    expect(j.stdout.trim().split('\n')).toHaveLength(6); // the listing's header and 5 rows
    expect(j.stderr).toContain('Perfetto protobuf: 5 records');
    expect(cli('inspect', file, '--perfetto-format', 'proto').status).toBe(2);
    expect(cli('inspect', file, '--perfetto', tmp.path('x.json'), '--perfetto-format', 'xml').stderr).toContain("--perfetto-format: 'xml' is not a format");
  });
});
