// Statistics and header summary on known synthetic traces, checked against a naive computation
// over readTrace() and against hand-counted numbers.
import { closeSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';

import { formatSummary, summarize } from '../../src/inspect/summary.js';
import { syntheticHeader } from '../../src/inspect/synthetic.js';
import { EXIT } from '../../src/trace/exit-reasons.js';
import { readTrace } from '../../src/trace/reader.js';
import { synth, tempDir } from './helpers.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

const file = await synth(tmp.path('s100.vmtrace'), { exits: 100 });

describe('summarize', () => {
  it('counts exits per reason, port and MMIO address like a naive pass does', async () => {
    const s = await summarize(file);
    const { records } = await readTrace(file);
    expect(s.stats.records).toBe(records.length);
    expect(s.stats.records).toBe(101);
    // Hand-counted from the generator: i%11==10 → MMIO (9), else i%7==6 → IN 0x60 (13), else OUT 0xf1 (78), + HLT.
    const byKey = Object.fromEntries(s.stats.byReason.map((r) => [r.key, r.count]));
    expect(byKey).toEqual({ IO: 91, MMIO: 9, HLT: 1 });
    expect(s.stats.byPort.map((p) => [p.key, p.count, p.bytes])).toEqual([
      ['0xf1:out', 78, 78],
      ['0x60:in', 13, 13],
    ]);
    expect(s.stats.byMmio.map((m) => [m.key, m.count])).toEqual([
      ['0x100000:write', 5],
      ['0x100004:read', 4],
    ]);
    // Timing against a naive computation.
    for (const row of s.stats.byReason) {
      const runs = records.filter((r) => r.reason === row.code).map((r) => r.runNs);
      expect(row.run.minNs).toBe(Math.min(...runs));
      expect(row.run.maxNs).toBe(Math.max(...runs));
      expect(row.run.avgNs).toBeCloseTo(runs.reduce((a, b) => a + b, 0) / runs.length, 9);
      expect(row.percent).toBeCloseTo((100 * runs.length) / records.length, 9);
    }
    const pct = s.stats.byReason.reduce((a, r) => a + r.percent, 0);
    expect(pct).toBeCloseTo(100, 9);
    expect(s.stats.byReason.reduce((a, r) => a + r.timePercent, 0)).toBeCloseTo(100, 9);
    expect(s.stats.firstTimeNs).toBe(records[0]!.timeNs);
    expect(s.stats.lastTimeNs).toBe(records.at(-1)!.timeNs);
    expect(s.console).toEqual({ ports: ['0xf1'], bytes: 78 });
  });

  it('summarizes the header and the end of the trace', async () => {
    const s = await summarize(file);
    expect(s.trace).toMatchObject({
      file,
      format: '3.1',
      guest: { name: 'synthetic.bin', imageBytes: 5, loadAddress: '0x0' },
      memory: [{ base: '0x0', size: 1 << 20, kind: 'ram' }],
      mode: { boot: 'real', singleStep: false },
      host: { kernel: '6.1.0-synthetic', kvmModule: 'kvm_intel', cpuVendor: 'GenuineIntel' },
      devices: [{ name: 'console', kind: 'port', base: '0xf1', length: 1 }],
    });
    expect(s.trace.guest.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(s.end).toEqual({
      complete: true,
      truncated: false,
      truncatedAt: null,
      endReason: 'hlt',
      message: 'guest halted (HLT)',
      status: null,
      footerExits: 101,
      footerRecords: 101,
    });
    const text = formatSummary(s);
    expect(text).toContain('complete — guest halted (HLT) [hlt], 101 exits');
    expect(text).toContain(`sha256 ${s.trace.guest.sha256}`);
    expect(text).toMatch(/IO\s+91\s+90\.10%/);
    expect(text).toMatch(/0xf1:out\s+78\s+77\.23%/);
    expect(text).toMatch(/0x100000:write\s+5/);
    expect(text).toContain('Min µs');
    expect(text).toContain('Linux 6.1.0-synthetic, KVM module kvm_intel');
    // Stable JSON: no bigints, survives a round trip.
    expect(JSON.parse(JSON.stringify(s))).toEqual(s);
  });

  it('reports a truncated trace (no footer) and one cut inside a record', async () => {
    const t = await synth(tmp.path('trunc.vmtrace'), { exits: 50, truncate: true });
    const s = await summarize(t);
    expect(s.end.complete).toBe(false);
    expect(s.end.truncated).toBe(true);
    expect(s.stats.records).toBe(51);
    expect(formatSummary(s)).toContain('TRUNCATED');

    const whole = readFileSync(file);
    const cut = tmp.path('cut.vmtrace');
    writeFileSync(cut, whole.subarray(0, whole.length - 600));
    const c = await summarize(cut);
    expect(c.end.truncated).toBe(true);
    expect(c.end.truncatedAt).toBeGreaterThan(0);
    expect(c.stats.records).toBeLessThan(101);
    expect(formatSummary(c)).toMatch(/incomplete record at byte \d+/);
  });

  it('counts steps separately in a single-step trace', async () => {
    const f = await synth(tmp.path('step.vmtrace'), {
      exits: 10,
      header: syntheticHeader({ singleStep: true }),
      mutate: (i, rec) => {
        if (i % 2 === 0 && rec.io) {
          rec.kind = 'step';
          rec.reason = EXIT.DEBUG;
          delete rec.io;
        }
      },
    });
    const s = await summarize(f);
    expect(s.trace.mode.singleStep).toBe(true);
    expect(s.stats.steps).toBeGreaterThan(0);
    expect(s.stats.steps + s.stats.exits).toBe(11);
    expect(s.stats.byReason.find((r) => r.reason === 'DEBUG')?.count).toBe(s.stats.steps);
    expect(formatSummary(s)).toContain(`11 records (${s.stats.exits} exits, ${s.stats.steps} steps)`);
  });

  it('keeps memory flat: nothing per record is kept', async () => {
    // 200k records: the summary's size does not depend on the length (only on distinct keys).
    const big = await synth(tmp.path('big.vmtrace'), { exits: 200_000 });
    const s = await summarize(big);
    expect(s.stats.records).toBe(200_001);
    expect(JSON.stringify(s).length).toBeLessThan(10_000);
  });

  it('throws TraceError with the byte offset for files that are not traces', async () => {
    const bad = tmp.path('bad.vmtrace');
    writeFileSync(bad, 'hello, not a trace');
    await expect(summarize(bad)).rejects.toThrow(/byte offset 0: not a vmtrace trace/);
    await expect(summarize(tmp.path('missing.vmtrace'))).rejects.toThrow(/no such file/);
    const empty = tmp.path('empty.vmtrace');
    closeSync(openSync(empty, 'w'));
    await expect(summarize(empty)).rejects.toThrow(/empty file/);
  });
});
