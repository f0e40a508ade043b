// `inspect --exits` as a library: filters, row shapes (the NDJSON objects), register changes.
import { afterAll, describe, expect, it } from 'vitest';

import { exitLines } from '../../src/inspect/exit-lines.js';
import { exitRows, formatExitRow, type ExitFilter, type ExitRow } from '../../src/inspect/exits.js';
import { realModeSregs } from '../../src/inspect/synthetic.js';
import { parseReason } from '../../src/inspect/util.js';
import { sregsToBytes } from '../../src/kvm-structs.js';
import { EXIT } from '../../src/trace/exit-reasons.js';
import { synth, tempDir } from './helpers.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

const sregs = realModeSregs();
sregs.es = { ...sregs.es, base: 0xffff0n, selector: 0xffff };
const file = await synth(tmp.path('t.vmtrace'), {
  exits: 100,
  mutate: (i, rec) => {
    if (i === 20) rec.sregsBytes = sregsToBytes(sregs);
  },
});

// Records of every shape the listing formats: a detail with control and bidi characters, a REP
// IO with long data (`"`, `\\`, bytes past 8), an MMIO read, a step record, big register values.
const oddRegs = new Uint8Array(18 * 8).fill(0xab);
const shapes = await synth(tmp.path('shapes.vmtrace'), {
  exits: 30,
  extra: [
    { kind: 'exit', reason: EXIT.INTERNAL_ERROR, timeNs: 2e6, runNs: 5, regsBytes: oddRegs, detail: { suberror: 1, note: 'bad\x1b[31m\u202e\u0085', data: [1, 2] } },
    { kind: 'exit', reason: EXIT.IO, timeNs: 2e6 + 7, runNs: 9, regsBytes: oddRegs, io: { port: 0x3f8, size: 2, out: true, count: 6, data: Buffer.from('a"b\\c\x00\xffxyz1') } },
    { kind: 'exit', reason: EXIT.MMIO, timeNs: 123456789012, runNs: 1, regsBytes: new Uint8Array(18 * 8), mmio: { address: 0xfee00000, length: 4, write: false, data: Uint8Array.of(1, 2, 3, 4) } },
    { kind: 'step', reason: EXIT.DEBUG, timeNs: 123456789013, runNs: 0, regsBytes: new Uint8Array(18 * 8) },
    { kind: 'exit', reason: 99, timeNs: 123456789014, runNs: 0, regsBytes: new Uint8Array(18 * 8), io: { port: 0x80, size: 1, out: false, count: 1, data: Uint8Array.of(0x7f) } },
  ],
  mutate: (i, rec) => {
    if (i === 5) rec.sregsBytes = sregsToBytes(sregs);
  },
});

/** What `--exits` printed before exitLines: a line per row, from exitRows. */
async function viaRows(f: string, filter: ExitFilter, json: boolean): Promise<string> {
  let out = '';
  for await (const r of exitRows(f, filter)) out += (json ? JSON.stringify(r) : formatExitRow(r)) + '\n';
  return out;
}

async function viaLines(f: string, filter: ExitFilter, json: boolean): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of exitLines(f, filter, json)) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

async function rows(filter: ExitFilter = {}): Promise<ExitRow[]> {
  const out: ExitRow[] = [];
  for await (const r of exitRows(file, filter)) out.push(r);
  return out;
}

describe('exitRows', () => {
  it('lists every record with payload, RIP and changed registers', async () => {
    const all = await rows();
    expect(all).toHaveLength(101);
    expect(all.map((r) => r.index)).toEqual([...Array(101).keys()]);
    expect(all[0]).toEqual({
      index: 0,
      kind: 'exit',
      reason: 'IO',
      reasonCode: 2,
      timeNs: 1_000_500,
      runNs: 300,
      io: { port: '0xf1', direction: 'out', size: 1, count: 1, data: '48', ascii: 'H' },
      rip: '0x4',
      changed: { rax: '0x48' },
      sregsChanged: {},
    });
    // Record 1: rcx 0 -> 1, rax 'H' -> 'e'.
    expect(all[1]!.changed).toEqual({ rax: '0x65', rcx: '0x1' });
    expect(all[6]!.io).toEqual({ port: '0x60', direction: 'in', size: 1, count: 1, data: '1c', ascii: '.' });
    expect(all[10]!.mmio).toEqual({ address: '0x100000', direction: 'write', length: 2, data: '0a5a', ascii: '.Z' });
    expect(all[10]!.io).toBeUndefined();
    expect(all[20]!.sregsChanged).toEqual({ 'es.base': '0xffff0', 'es.selector': '0xffff' });
    expect(all[21]!.sregsChanged).toEqual({});
    expect(all[100]).toMatchObject({ reason: 'HLT', reasonCode: 5, rip: '0x195' });
    // NDJSON-safe.
    for (const r of all) expect(JSON.parse(JSON.stringify(r))).toEqual(r);
  });

  it('filters by reason (name, code, several), port, address, range and limit', async () => {
    expect((await rows({ reasons: [EXIT.HLT] })).map((r) => r.index)).toEqual([100]);
    expect((await rows({ reasons: [EXIT.MMIO] })).map((r) => r.index)).toEqual([10, 21, 32, 43, 54, 65, 76, 87, 98]);
    expect((await rows({ reasons: [EXIT.MMIO, EXIT.HLT] })).length).toBe(10);
    expect((await rows({ ports: [0x60] })).every((r) => r.io?.port === '0x60')).toBe(true);
    expect((await rows({ ports: [0x60] })).length).toBe(13);
    expect((await rows({ ports: [0x60, 0xf1] })).length).toBe(91);
    // --addr matches accesses that cover the address: the 2-byte write at 0x100000 covers 0x100001.
    expect((await rows({ addresses: [0x100001] })).map((r) => r.mmio?.direction)).toEqual(Array(5).fill('write'));
    expect((await rows({ addresses: [0x100004] })).length).toBe(4);
    expect((await rows({ addresses: [0x200000] })).length).toBe(0);
    expect((await rows({ from: 95 })).map((r) => r.index)).toEqual([95, 96, 97, 98, 99, 100]);
    expect((await rows({ from: 5, to: 7 })).map((r) => r.index)).toEqual([5, 6, 7]);
    expect((await rows({ reasons: [EXIT.IO], from: 8, limit: 3 })).map((r) => r.index)).toEqual([8, 9, 11]);
    expect((await rows({ limit: 0 })).length).toBe(0);
  });

  it('reports register changes relative to the previous record in the file, filtered or not', async () => {
    const [r] = await rows({ reasons: [EXIT.HLT] });
    // HLT follows record 99 (rcx 99 -> 99 unchanged; rip moves; rax unchanged).
    expect(r!.changed).toEqual({});
    expect(r!.rip).toBe('0x195');
  });

  it('with {changes: true}, adds the old and new value of every changed field', async () => {
    const all: ExitRow[] = [];
    for await (const r of exitRows(file, { to: 20 }, { changes: true })) all.push(r);
    expect(all[0]!.changes).toEqual({ rax: ['0x0', '0x48'] });
    expect(all[1]!.changes).toEqual({ rax: ['0x48', '0x65'], rcx: ['0x0', '0x1'] });
    expect(all[20]!.changes).toMatchObject({ 'es.base': ['0x0', '0xffff0'], 'es.selector': ['0x0', '0xffff'] });
    for (const r of all) expect(Object.keys(r.changes!)).toEqual([...Object.keys(r.changed), ...Object.keys(r.sregsChanged)]);
    expect(Object.keys((await rows({ to: 0 }))[0]!)).not.toContain('changes');
  });

  it('formats a readable text line', async () => {
    const [io, , mm] = await rows({ from: 0, to: 10, reasons: [EXIT.IO, EXIT.MMIO], limit: 11 }).then((x) => [x[0], x[1], x.at(-1)]);
    expect(formatExitRow(io!)).toMatch(/^\s+0\s+1\.000500\s+IO\s+0xf1\s+out\s+1\s+48\s+"H"\s+0x4\s+rax=0x48$/);
    expect(formatExitRow(mm!)).toMatch(/10\s+\S+\s+MMIO\s+0x100000\s+write\s+2\s+0a5a\s+"\.Z"/);
  });
});

describe('exitLines', () => {
  it('gives the bytes formatExitRow and JSON.stringify(exitRow) give, for every record shape and filter', async () => {
    const filters: ExitFilter[] = [{}, { from: 3, to: 33 }, { reasons: [EXIT.IO], limit: 7 }, { ports: [0x3f8], addresses: [0xfee00002] }, { limit: 0 }, { from: 40 }];
    for (const f of [file, shapes]) {
      for (const filter of filters) {
        for (const json of [false, true]) expect(await viaLines(f, filter, json), JSON.stringify({ f, filter, json })).toBe(await viaRows(f, filter, json));
      }
    }
    const text = await viaLines(shapes, {}, false);
    expect(text).toContain('"note":"bad\\u001b[31m\\u{202e}\\x85"'); // the detail's controls escaped on the text line
    expect(text).toMatch(/0x3f8\s+out\s+2×6\s+6122625c6300c3bf…\s+"a"b\\c\.\.\.…"/);
    expect(text).toMatch(/\n\s+33\s+123456\.789013\s+step\s+0x0\n/); // a step record, nothing changed
  });

  it('streams a long trace in chunks of many lines', async () => {
    const long = await synth(tmp.path('long.vmtrace'), { exits: 5000 });
    const chunks: Buffer[] = [];
    for await (const c of exitLines(long, {}, true)) chunks.push(c);
    expect(chunks.length).toBeGreaterThan(2);
    expect(chunks.every((c) => c.at(-1) === 0x0a)).toBe(true); // whole lines
    expect(Buffer.concat(chunks).toString('utf8')).toBe(await viaRows(long, {}, true));
  });
});

describe('parseReason', () => {
  it('takes names in any case, KVM_EXIT_ prefixes, EXIT_n and codes', () => {
    expect(parseReason('IO')).toBe(2);
    expect(parseReason('hlt')).toBe(5);
    expect(parseReason('KVM_EXIT_MMIO')).toBe(6);
    expect(parseReason('2')).toBe(2);
    expect(parseReason('0x11')).toBe(17);
    expect(parseReason('EXIT_99')).toBe(99);
    expect(parseReason('bogus')).toBeUndefined();
  });
});
