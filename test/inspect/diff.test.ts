// vmtrace diff as a library: identical traces, one payload byte, one register, one extra exit,
// a truncated trace, header and host differences, and the text formatDiff prints.
import { readFileSync, writeFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';

import { diffTraces, formatDiff } from '../../src/inspect/diff.js';
import { realModeSregs, syntheticHeader } from '../../src/inspect/synthetic.js';
import { sregsToBytes } from '../../src/kvm-structs.js';
import { synth, tempDir } from './helpers.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

const N = 1000; // records before the HLT
const a = await synth(tmp.path('a.vmtrace'), { exits: N });

describe('diffTraces', () => {
  it('finds two recordings of the same run identical but for host-dependent differences (host timestamps and facts)', async () => {
    const b = await synth(tmp.path('same.vmtrace'), {
      exits: N,
      stepNs: 777, // other host timings
      header: { ...syntheticHeader(), createdAt: '2030-05-05T05:05:05.000Z', host: { ...syntheticHeader().host, kernel: '9.9.9' } },
    });
    const r = await diffTraces(a, b);
    expect(r.identical).toBe(true);
    expect(r.compared).toBe(N + 1);
    expect(r.first).toBeNull();
    expect(r.differingRecords).toBe(0);
    expect(r.behaviour).toBe(0);
    // Shown and counted as host-dependent, not failures.
    expect(r.header.map((d) => [d.field, d.kind, d.class])).toEqual([
      ['createdAt', 'host', 'host-dependent'],
      ['host.kernel', 'host', 'host-dependent'],
    ]);
    expect(r.counts.timestamps).toBe(N + 1);
    expect(r.hostDependent).toBe(2 + N + 1);
    expect(Object.entries(r.counts).filter(([k, n]) => n && k !== 'host' && k !== 'timestamps')).toEqual([]);
    const text = formatDiff(r);
    expect(text).toMatch(new RegExp(`^identical but for host-dependent differences \\(${N + 1} exits\\): ${N + 3} \\(not failures; --exact makes them failures\\)\n`));
    expect(text).toMatch(/createdAt\s+2025-\S+\s+2030-05-05T05:05:05.000Z\n/);
    expect(text).toContain(`host timestamps (timeNs, runNs) differ in ${N + 1} records (first #0; listed with --timestamps)`);
    // --exact (or --timestamps / --host for their part) makes them failures.
    for (const opts of [{ timestamps: true, host: true }, { exact: true }]) {
      const strict = await diffTraces(a, b, opts);
      expect(strict.identical).toBe(false);
      expect(strict.counts.timestamps).toBe(N + 1);
      expect(strict.first).toMatchObject({ where: 'record', index: 0 });
      expect(strict.header.map((d) => d.field)).toEqual(['createdAt', 'host.kernel']);
      expect(strict.header.every((d) => d.kind === 'host' && d.class === 'host-dependent')).toBe(true);
      expect(formatDiff(strict)).toMatch(/timestamps\s+1001 records \(first #0\)\s+\[host-dependent, failing\]/);
    }
    const onlyHost = await diffTraces(a, b, { host: true });
    expect(onlyHost.identical).toBe(false);
    expect(onlyHost.first).toBeNull();
    expect(formatDiff(onlyHost)).toContain('Host-dependent differences (1003; --host makes some of them failures):');
  });

  it('pinpoints one different payload byte with context from both traces', async () => {
    const b = await synth(tmp.path('byte.vmtrace'), {
      exits: N,
      mutate: (i, rec) => {
        if (i === 500) rec.io!.data = Uint8Array.of(0x6d);
      },
    });
    const r = await diffTraces(a, b);
    expect(r.identical).toBe(false);
    expect(r.first).toMatchObject({ where: 'record', index: 500, registers: [] });
    expect(r.first!.fields).toEqual([{ kind: 'payload', field: 'io.data', expected: '69 "i"', actual: '6d "m"', class: 'behaviour' }]);
    expect(r.first!.context.map((c) => c.index)).toEqual([497, 498, 499, 500, 501, 502, 503]);
    expect(r.first!.context.filter((c) => !c.same).map((c) => c.index)).toEqual([500]);
    expect(r.counts.payload).toBe(1);
    expect(r.differingRecords).toBe(1);
    expect(r.firstIndex).toEqual({ payload: 500 });
    const text = formatDiff(r);
    expect(text).toContain('First divergence at record #500 — records differ in: payload');
    expect(text).toMatch(/io\.data\s+69 "i"\s+6d "m"/);
    expect(text).toMatch(/>\s+500\s+IO out 0xf1 1 69 "i" rip=0x7d4\s+\| IO out 0xf1 1 6d "m" rip=0x7d4/);
    expect(text).toMatch(/IO\/MMIO payload\s+1 record \(first #500\)/);
    expect(text).toContain('expected (a)');
    expect(text).toContain('actual (b)');
  });

  it('shows the register that differs with both values', async () => {
    const b = await synth(tmp.path('reg.vmtrace'), {
      exits: N,
      mutate: (i, rec) => {
        if (i === 300) {
          rec.regsBytes = rec.regsBytes.slice();
          rec.regsBytes[8] = 0x77; // rbx
        }
      },
    });
    const r = await diffTraces(a, b);
    expect(r.first).toMatchObject({ where: 'record', index: 300, fields: [] });
    expect(r.first!.registers).toEqual([{ kind: 'registers', field: 'rbx', expected: '0x0', actual: '0x77', class: 'behaviour' }]);
    expect(r.counts.registers).toBe(1);
    expect(r.differingRecords).toBe(1);
    expect(formatDiff(r)).toMatch(/rbx\s+0x0\s+0x77/);
    expect(formatDiff(r)).toContain('≠ registers');
  });

  it('classes RFLAGS differences confined to undefined bits as host-dependent', async () => {
    // kvm_regs: rflags is the 18th u64 (offset 136). Records 300 and 301 get other undefined
    // CF/OF values (as another CPU would leave them after a MUL); record 600 another ZF, defined there.
    const flip = (bits: number) => (rec: { regsBytes: Uint8Array }) => {
      rec.regsBytes = rec.regsBytes.slice();
      rec.regsBytes[136] ^= bits & 0xff;
      rec.regsBytes[137] ^= bits >> 8;
    };
    const b = await synth(tmp.path('flags.vmtrace'), {
      exits: N,
      mutate: (i, rec) => {
        if (i === 300 || i === 301) flip(0x801)(rec);
        if (i === 600) flip(0x40)(rec);
      },
    });
    const asked: number[] = [];
    const undefinedFlags = (i: number) => {
      asked.push(i);
      return i === 300 || i === 301 ? 0x8c5 : 0; // CF PF AF ZF SF OF … at 300, 301; none at 600
    };
    const r = await diffTraces(a, b, { undefinedFlags });
    expect([...new Set(asked)]).toEqual([300, 301, 600]); // asked only where RFLAGS differ
    expect(r.identical).toBe(false);
    expect(r.first).toMatchObject({ where: 'record', index: 600 });
    expect(r.first!.registers).toEqual([{ kind: 'registers', field: 'rflags', expected: '0x2', actual: '0x42', class: 'behaviour' }]);
    expect(r.counts['undefined-flags']).toBe(2);
    expect(r.firstIndex['undefined-flags']).toBe(300);
    expect(r.counts.registers).toBe(1);
    expect(r.behaviour).toBe(1);
    expect(r.hostDependent).toBe(2 + r.counts.timestamps);
    expect(r.records.map((x) => [x.index, x.class])).toEqual([
      [300, 'host-dependent'],
      [301, 'host-dependent'],
      [600, 'behaviour'],
    ]);
    expect(r.records[0]!.fields).toEqual([
      { kind: 'undefined-flags', field: 'rflags', expected: '0x2', actual: '0x803', class: 'host-dependent', note: 'undefined here: CF/OF' },
    ]);
    const text = formatDiff(r);
    expect(text).toContain('RFLAGS differ only in bits left architecturally undefined: 2 records (first #300)');
    expect(text).toContain('#300: rflags 0x2 → 0x803 (undefined here: CF/OF)');
    expect(text).toMatch(/RFLAGS bits left undefined\s+2 records \(first #300\)\s+\[host-dependent\]/);

    // Only the host-dependent ones: identical (not a failure) unless --exact.
    const c = await synth(tmp.path('flags-only.vmtrace'), { exits: N, mutate: (i, rec) => (i === 300 || i === 301) && flip(0x801)(rec) });
    const ok = await diffTraces(a, c, { undefinedFlags });
    expect(ok).toMatchObject({ identical: true, first: null, behaviour: 0, hostDependent: 2 });
    expect(formatDiff(ok)).toMatch(/^identical but for host-dependent differences \(1001 exits\): 2 \(not failures; --exact makes them failures\)\n  host-dependent: undefined RFLAGS bits in 2 records \(first #300\)\n/);
    const exact = await diffTraces(a, c, { undefinedFlags, exact: true });
    expect(exact.identical).toBe(false);
    expect(exact.first).toMatchObject({ where: 'record', index: 300, description: 'records differ in: undefined-flags' });
    expect(exact.first!.registers[0]).toMatchObject({ kind: 'undefined-flags', class: 'host-dependent' });
    // Without masks every flag difference is behaviour.
    const none = await diffTraces(a, c, { undefinedFlags: false });
    expect(none).toMatchObject({ identical: false, first: { index: 300 }, behaviour: 2, hostDependent: 0 });
  });

  it('compares special registers as a state', async () => {
    const s = realModeSregs();
    s.ds = { ...s.ds, base: 0x10n, selector: 1 };
    const b = await synth(tmp.path('sregs.vmtrace'), {
      exits: N,
      mutate: (i, rec) => {
        if (i === 900) rec.sregsBytes = sregsToBytes(s);
      },
    });
    const r = await diffTraces(a, b);
    expect(r.first!.index).toBe(900);
    expect(r.first!.registers.map((d) => [d.field, d.expected, d.actual])).toEqual([
      ['ds.base', '0x0', '0x10'],
      ['ds.selector', '0x0', '0x1'],
    ]);
    // Every record from 900 on runs with the other state, the HLT included.
    expect(r.counts.sregs).toBe(N + 1 - 900);
  });

  it('reports one extra exit: a different record, then one trace longer', async () => {
    const b = await synth(tmp.path('extra.vmtrace'), { exits: N + 1 });
    const r = await diffTraces(a, b);
    expect(r.first).toMatchObject({ where: 'record', index: N });
    expect(r.first!.fields.map((d) => d.field)).toEqual(['reason', 'mmio']);
    expect(r.counts.length).toBe(1);
    expect(r.firstIndex.length).toBe(N + 1);
    expect(r.expected.records).toBe(N + 1);
    expect(r.actual.records).toBe(N + 2);
    expect(r.counts.footer).toBeGreaterThan(0);
    expect(r.footer.map((d) => d.field)).toContain('footer.records');
    const text = formatDiff(r);
    expect(text).toMatch(/reason\s+HLT \(5\)\s+MMIO \(6\)/);
    expect(text).toContain('1 extra record in actual (b) from #1001');
    expect(text).toMatch(/1001\s+\(no record — trace ended\)\s+\| HLT/);
  });

  it('reports a pure length mismatch when one trace is a prefix of the other', async () => {
    const whole = readFileSync(await synth(tmp.path('small-frames.vmtrace'), { exits: N, frameBytes: 2000 }));
    const cut = tmp.path('cut.vmtrace');
    writeFileSync(cut, whole.subarray(0, Math.floor(whole.length / 2))); // cut inside a frame
    const r = await diffTraces(a, cut);
    expect(r.actual.truncated).toBe(true);
    expect(r.actual.complete).toBe(false);
    expect(r.first!.where).toBe('length');
    const m = r.compared;
    expect(m).toBeGreaterThan(0);
    expect(r.first!.index).toBe(m);
    expect(r.counts.length).toBe(N + 1 - m);
    expect(r.counts.truncation).toBe(1);
    expect(r.differingRecords).toBe(0);
    const text = formatDiff(r);
    expect(text).toContain(`the actual trace ends after ${m} records but the expected trace goes on with ${N + 1 - m} more`);
    expect(text).toContain('TRUNCATED (no footer)');
    expect(text).toContain('completeness (one trace is truncated)');
    // And the other way round.
    const back = await diffTraces(cut, a);
    expect(back.first!.description).toContain('the expected trace ends after');
  });

  it('reports a footer-only difference', async () => {
    const b = await synth(tmp.path('trunc.vmtrace'), { exits: N, truncate: true });
    const r = await diffTraces(a, b);
    expect(r.compared).toBe(N + 1);
    expect(r.first).toMatchObject({ where: 'footer', index: null });
    expect(r.footer).toEqual([
      { kind: 'truncation', field: 'complete', expected: 'complete (footer: hlt)', actual: 'truncated (no footer)', class: 'behaviour' },
    ]);
    expect(formatDiff(r)).toContain('all records agree, but only one trace is complete');
  });

  it('compares the guest image, boot state and memory layout', async () => {
    const h = syntheticHeader({ image: Uint8Array.from([0xb0, 0x48, 0xe6, 0xf1, 0xf5]) });
    h.memory = [{ base: 0, size: 2 << 20, kind: 'ram' }];
    h.boot.regs = { ...h.boot.regs, rsp: 0x7c00n };
    const b = await synth(tmp.path('header.vmtrace'), { exits: N, header: h });
    const r = await diffTraces(a, b);
    expect(r.identical).toBe(false);
    const fields = r.header.map((d) => d.field);
    expect(fields).toEqual(expect.arrayContaining(['guest.sha256', 'boot.regs.rsp', 'memory', 'initialMemory[0].bytes']));
    expect(r.header.every((d) => d.kind === 'header')).toBe(true);
    // The synthetic guest keeps the boot RSP, so every record shows it too.
    expect(r.first!.index).toBe(0);
    expect(r.first!.registers).toEqual([{ kind: 'registers', field: 'rsp', expected: '0x0', actual: '0x7c00', class: 'behaviour' }]);
    expect(formatDiff(r)).toContain('Header differences');
  });

  it('returns plain JSON (no bigints) and flat memory on long traces', async () => {
    const big = await synth(tmp.path('big-a.vmtrace'), { exits: 150_000 });
    const big2 = await synth(tmp.path('big-b.vmtrace'), {
      exits: 150_000,
      mutate: (i, rec) => {
        if (i % 1000 === 999) rec.io && (rec.io.data = Uint8Array.of(0));
      },
    });
    const r = await diffTraces(big, big2, { maxListed: 5 });
    expect(r.records).toHaveLength(5);
    expect(r.differingRecords).toBeGreaterThan(100);
    expect(JSON.parse(JSON.stringify(r))).toEqual(r);
    expect(JSON.stringify(r).length).toBeLessThan(50_000);
  });

  it('rejects files that are not traces with TraceError', async () => {
    const bad = tmp.path('bad.vmtrace');
    writeFileSync(bad, 'nope');
    await expect(diffTraces(a, bad)).rejects.toThrow(/not a vmtrace trace/);
    await expect(diffTraces(tmp.path('nothing.vmtrace'), a)).rejects.toThrow(/no such file/);
  });
});
