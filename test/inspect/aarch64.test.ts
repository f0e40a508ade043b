// inspect, diff and show on aarch64 traces: arm64 register names, the PL011 console, pc for rip.
// The traces are synthetic (writeSyntheticA64Trace): what `record --arch aarch64` writes for a
// guest that prints "Hi\n" on its PL011 and powers off through PSCI.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { registerLayout } from '../../src/arch/index.js';
import { a64SysregsFromBytes, type A64Sysregs } from '../../src/arch/aarch64/state.js';
import { ArchMismatchError, compareHeaders, diffTraces, formatDiff } from '../../src/inspect/diff.js';
import { a64DisasmExitRows, type A64Disassembler } from '../../src/inspect/disasm-a64.js';
import type { DisasmExitRow, DisasmStop } from '../../src/inspect/disasm-exits.js';
import { exitLines } from '../../src/inspect/exit-lines.js';
import { exitLineHeader, exitRows, formatExitRow } from '../../src/inspect/exits.js';
import { EXIT } from '../../src/trace/exit-reasons.js';
import { ConsoleCollector, formatSummary, scanTrace, summarize } from '../../src/inspect/summary.js';
import { syntheticA64Header, writeSyntheticA64Trace } from '../../src/inspect/synthetic.js';
import type { Sregs } from '../../src/cpu-state.js';
import { CLI, HAVE_CLI, cli, synth, tempDir } from './helpers.js';

const A64 = registerLayout('aarch64');
const tmp = tempDir('vmtrace-inspect-a64-');
afterAll(() => tmp.cleanup());

const file = tmp.path('hi.vmtrace');
await writeSyntheticA64Trace(file);

// The same run, but x3 differs at record #1 (only) and VBAR_EL1 is set from record #2 on.
const vbar = { ...a64SysregsFromBytes(new Uint8Array(A64.sregsBytes)), sctlr_el1: 0x30d00800n, vbar_el1: 0x40000800n } as A64Sysregs;
const other = tmp.path('other.vmtrace');
await writeSyntheticA64Trace(other, {
  mutate: (i, rec, regs) => {
    if (i === 1) regs.setBigUint64(3 * 8, 7n, true);
    if (i === 2) rec.sregsBytes = A64.sregsBytesOf(vbar as unknown as Sregs);
  },
});

async function listing(f: string, json: boolean): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of exitLines(f, {}, json)) chunks.push(c);
  return Buffer.concat(chunks).toString('utf8');
}

describe('summary of an aarch64 trace', () => {
  it('names the architecture, EL1, the PL011 console and the exits by reason and MMIO address', async () => {
    const s = await summarize(file);
    expect(s.trace.arch).toBe('aarch64');
    expect(s.trace.mode.boot).toBe('el1');
    expect(s.console).toEqual({ ports: ['0x9000000'], bytes: 3 });
    expect(s.stats.byReason.map((r) => [r.reason, r.count])).toEqual([
      ['MMIO', 3],
      ['SYSTEM_EVENT', 1],
    ]);
    expect(s.stats.byMmio.map((r) => [r.key, r.count, r.bytes])).toEqual([['0x9000000:write', 3, 3]]);
    expect(s.end).toMatchObject({ complete: true, endReason: 'shutdown' });
    const text = formatSummary(s);
    expect(text).toContain('Mode       aarch64, EL1; exit trace');
    expect(text).toContain('Console    3 bytes written to 0x9000000');
    expect(text).toContain('Host model none (aarch64 traces need none)');
    expect(text).not.toContain('CPUID');
  });

  it('collects the console text from PL011 data-register writes, scanning and record by record', async () => {
    const scanned = new ConsoleCollector();
    await scanTrace(file, [scanned]);
    expect(Buffer.from(scanned.data()).toString('latin1')).toBe('Hi\n');
    const byRecord = new ConsoleCollector();
    // a sink without scan(): scanTrace hands it record objects
    await scanTrace(file, [{ header: (h) => byRecord.header(h), record: (r) => byRecord.record(r) }]);
    expect(Buffer.from(byRecord.data()).toString('latin1')).toBe('Hi\n');
  });

  it('takes no console bytes from MMIO writes elsewhere or from PL011 reads', async () => {
    const f = tmp.path('not-console.vmtrace');
    await writeSyntheticA64Trace(f, {
      mutate: (i, rec) => {
        if (i === 0) rec.mmio = { ...rec.mmio!, address: 0x09000018 }; // UARTFR, not UARTDR
        if (i === 1) rec.mmio = { ...rec.mmio!, write: false };
      },
    });
    const c = new ConsoleCollector();
    await scanTrace(f, [c]);
    expect(Buffer.from(c.data()).toString('latin1')).toBe('\n');
  });
});

describe('--exits on an aarch64 trace', () => {
  it('shows pc and the x registers that changed (text); the fast listing and exitRows agree', async () => {
    const text = await listing(file, false);
    const lines = text.trimEnd().split('\n');
    expect(lines).toHaveLength(4);
    expect(lines[0]).toMatch(/^ +0 +1\.000700 +MMIO +0x9000000 +write 1 +48 +"H" +0x4000000c +x0=0x9000000 x1=0x48$/);
    expect(lines[1]).toMatch(/0x40000014 +x1=0x69$/);
    expect(lines[3]).toMatch(/SYSTEM_EVENT +0x40000028 +x0=0x84000008 \{"type":1\}$/);
    expect(text).not.toMatch(/rip|rax/);
    let viaRows = '';
    for await (const r of exitRows(file)) viaRows += formatExitRow(r) + '\n';
    expect(text).toBe(viaRows);
    expect(exitLineHeader(A64)).toMatch(/ascii +pc +changed$/);
  });

  it('the fast listing and exitRows agree when every one of the 35 registers changes, text and JSON', async () => {
    const f = tmp.path('all-regs.vmtrace');
    await writeSyntheticA64Trace(f, {
      mutate: (i, rec) => {
        if (i === 1) rec.regsBytes.fill(0xab);
      },
    });
    for (const json of [false, true]) {
      let viaRows = '';
      for await (const r of exitRows(f)) viaRows += (json ? JSON.stringify(r) : formatExitRow(r)) + '\n';
      expect(await listing(f, json)).toBe(viaRows);
    }
    expect((await listing(f, false)).split('\n')[1]).toContain(' sp_el1=0xabababababababab pstate=0xabababababababab');
  });

  it('--json rows carry pc (no rip), changed x registers and changed system registers by name', async () => {
    const text = await listing(other, true);
    const rows = text.trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(rows[0]).toMatchObject({ index: 0, reason: 'MMIO', pc: '0x4000000c', changed: { x0: '0x9000000', x1: '0x48' }, sregsChanged: {} });
    expect(rows[0]).not.toHaveProperty('rip');
    expect(rows[1]).toMatchObject({ changed: { x1: '0x69', x3: '0x7' } });
    expect(rows[2]).toMatchObject({ changed: { x1: '0xa', x3: '0x0' }, sregsChanged: { vbar_el1: '0x40000800' } });
    let viaRows = '';
    for await (const r of exitRows(other)) viaRows += JSON.stringify(r) + '\n';
    expect(text).toBe(viaRows);
    // and in text, after the registers
    expect((await listing(other, false)).split('\n')[2]).toMatch(/x1=0xa x3=0x0 vbar_el1=0x40000800$/);
  });
});

describe('--exits --disasm rows of an aarch64 trace (instructions from the initial memory)', () => {
  // a stand-in disassembler: shows which word at which pc it was given
  const words: A64Disassembler = (w, pc) => `${w.toString(16)}@${pc.toString(16)}`;
  async function disasm(f: string, filter = {}): Promise<{ rows: DisasmExitRow[]; missing: DisasmStop[] }> {
    const rows: DisasmExitRow[] = [];
    const missing: DisasmStop[] = [];
    for await (const r of a64DisasmExitRows(f, words, filter, (m) => missing.push(m))) rows.push(r);
    return { rows, missing };
  }

  it('an exit shows the instruction 4 bytes before pc (KVM completed it): the strb, the hvc', async () => {
    const { rows, missing } = await disasm(file);
    expect(rows.map((r) => r.insn)).toEqual([
      { at: '0x40000008', bytes: '01000039', text: '39000001@40000008' },
      { at: '0x40000010', bytes: '01000039', text: '39000001@40000010' },
      { at: '0x40000018', bytes: '01000039', text: '39000001@40000018' },
      { at: '0x40000024', bytes: '020000d4', text: 'd4000002@40000024' },
    ]);
    expect(rows[0]!.changes).toEqual({ x0: ['0x0', '0x9000000'], x1: ['0x0', '0x48'] });
    expect(missing).toEqual([]);
  });

  it('a step record shows the instruction where the step before it left pc (an MMIO exit inside a step moves pc first)', async () => {
    // as --step records it: step (movz x0) at #0, then the strb's MMIO exit and its step record
    const f = tmp.path('step.vmtrace');
    await writeSyntheticA64Trace(f, {
      mutate: (i, rec, regs) => {
        if (i === 0) {
          Object.assign(rec, { kind: 'step', reason: EXIT.DEBUG, mmio: undefined });
          regs.setBigUint64(33 * 8, 0x40000004n, true);
        }
        if (i === 2) Object.assign(rec, { kind: 'step', reason: EXIT.DEBUG, mmio: undefined });
      },
    });
    const { rows } = await disasm(f, { reasons: [EXIT.DEBUG] });
    expect(rows.map((r) => [r.index, r.insn?.at])).toEqual([
      [0, '0x40000000'], // the boot pc
      [2, '0x40000004'], // where step #0 left pc; the MMIO exit #1 in between does not count
    ]);
    expect(rows[0]!.insn).toEqual({ at: '0x40000000', bytes: '0020a1d2', text: 'd2a12000@40000000' });
  });

  it('a pc outside the initial memory: no instruction, said once; filters and limit as --exits', async () => {
    const f = tmp.path('elsewhere.vmtrace');
    await writeSyntheticA64Trace(f, {
      mutate: (i, _rec, regs) => {
        if (i === 1 || i === 2) regs.setBigUint64(33 * 8, 0x50000000n, true);
      },
    });
    const { rows, missing } = await disasm(f);
    expect(rows.map((r) => r.insn?.at ?? null)).toEqual(['0x40000008', null, null, '0x40000024']);
    expect(missing).toEqual([{ index: 1, why: "0x4ffffffc is outside the trace's initial memory" }]);
    const some = await disasm(f, { reasons: [EXIT.MMIO], from: 1, limit: 1 });
    expect(some.rows.map((r) => r.index)).toEqual([1]);
  });
});

describe('diff of aarch64 traces', () => {
  it('names the differing register (x3) and the system register, with pc in the context', async () => {
    const d = await diffTraces(file, other, { undefinedFlags: false });
    expect(d.identical).toBe(false);
    expect(d.first).toMatchObject({ where: 'record', index: 1 });
    expect(d.first!.registers.map((r) => [r.field, r.expected, r.actual])).toEqual([['x3', '0x0', '0x7']]);
    expect(d.records.map((r) => [r.index, r.fields.map((x) => x.field)])).toEqual([
      [1, ['x3']],
      [2, ['vbar_el1']], // system registers stay as set
      [3, ['vbar_el1']],
    ]);
    expect(d.first!.context.find((c) => c.index === 1)!.expected).toBe('MMIO write 0x9000000 1 69 pc=0x40000014');
    // the footers hold the same final registers
    expect(d.footer).toEqual([]);
    expect(formatDiff(d)).toMatch(/\n +x3 +0x0 +0x7\n/);
  });

  it('finds a trace identical to itself', async () => {
    const d = await diffTraces(file, file, { undefinedFlags: false });
    expect(d.identical).toBe(true);
    expect(d.compared).toBe(4);
  });

  it('compares boot registers and system registers of the headers by arm64 names', () => {
    const a = syntheticA64Header();
    const b = syntheticA64Header();
    const regs = b.boot.regs as unknown as Record<string, bigint>;
    regs.sp_el1 = 0x40800000n;
    const sregs = b.boot.sregs as unknown as Record<string, bigint>;
    sregs.tcr_el1 = 5n;
    expect(compareHeaders(a, b, false).map((x) => [x.field, x.expected, x.actual])).toEqual([
      ['boot.regs.sp_el1', '0x41000000', '0x40800000'],
      ['boot.sregs.tcr_el1', '0x0', '0x5'],
    ]);
  });

  it('refuses an x86_64 trace against an aarch64 one, in one line', async () => {
    const x86 = await synth(tmp.path('x86.vmtrace'), { exits: 5 });
    const e = await diffTraces(x86, file).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ArchMismatchError);
    expect((e as Error).message).toBe(`cannot diff an x86_64 trace against an aarch64 trace (${x86} is x86_64, ${file} is aarch64)`);
  });
});

describe.runIf(process.platform === 'linux')('the CLI on aarch64 traces', () => {
  beforeAll(() => {
    if (!HAVE_CLI) throw new Error(`${CLI} is missing: build first (npm run build)`);
  });

  it('inspect: summary (text and JSON), --exits, --console', () => {
    const s = cli('inspect', file);
    expect(s.status).toBe(0);
    expect(s.stdout).toContain('Mode       aarch64, EL1');
    const j = cli('inspect', file, '--json');
    expect(JSON.parse(j.stdout)).toMatchObject({ trace: { arch: 'aarch64', mode: { boot: 'el1' } }, console: { bytes: 3 } });
    const x = cli('inspect', file, '--exits', '--reason', 'SYSTEM_EVENT');
    expect(x.stdout.split('\n')[0]).toMatch(/ +pc +changed$/);
    expect(x.stdout.split('\n')[1]).toMatch(/SYSTEM_EVENT +0x40000028 +x0=0x84000008/);
    expect(cli('inspect', file, '--console').stdout).toBe('Hi\n');
  });

  it('inspect --exits --disasm: the A64 instruction of each exit from the image, no stderr', () => {
    const d = cli('inspect', file, '--exits', '--disasm');
    expect(d.status).toBe(0);
    expect(d.stderr).toBe('');
    const lines = d.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/ascii +pc +insn at +bytes +instruction +changed$/);
    expect(lines[1]).toMatch(/0x4000000c +0x40000008 +01000039 +strb w1, \[x0\] +x0 0x0→0x9000000 x1 0x0→0x48$/);
    expect(lines[4]).toMatch(/0x40000028 +0x40000024 +020000d4 +hvc #0x0 +x0 0x9000000→0x84000008 \{"type":1\}$/);
    const j = JSON.parse(cli('inspect', file, '--exits', '--disasm', '--json', '--limit', '1').stdout) as Record<string, unknown>;
    expect(j.insn).toEqual({ at: '0x40000008', bytes: '01000039', text: 'strb w1, [x0]' });
  });

  it('inspect --disasm says once on stderr which record has its instruction outside the image', async () => {
    const f = tmp.path('outside-cli.vmtrace');
    await writeSyntheticA64Trace(f, {
      mutate: (i, _rec, regs) => {
        if (i === 2) regs.setBigUint64(33 * 8, 0x50000000n, true);
      },
    });
    const d = cli('inspect', f, '--exits', '--disasm');
    expect(d.status).toBe(0);
    expect(d.stderr).toBe(
      "vmtrace: --disasm: record #2 (and any other whose instruction is outside the image) is listed without its instruction: 0x4ffffffc is outside the trace's initial memory; code placed in memory at run time would need the replay\n",
    );
    expect(d.stdout.split('\n')[3]).toMatch(/0x50000000 +x1 0x69→0xa$/);
  });

  it('inspect --perfetto and --html name the program counter pc', () => {
    const p = tmp.path('t.json');
    const h = tmp.path('t.html');
    expect(cli('inspect', file, '--perfetto', p, '--html', h).status).toBe(0);
    const events = (JSON.parse(readFileSync(p, 'utf8')) as { traceEvents: { ph: string; args: Record<string, unknown> }[] }).traceEvents;
    const slices = events.filter((e) => e.ph === 'X');
    expect(slices.map((e) => e.args.pc)).toEqual(['0x4000000c', '0x40000014', '0x4000001c', '0x40000028']);
    expect(slices.some((e) => 'rip' in e.args)).toBe(false);
    const html = readFileSync(h, 'utf8');
    expect(html).toContain('<th>ascii</th><th>pc</th>');
    expect(html).toContain('x1 0x0→0x48');
    expect(cli('inspect', file, '--html', h, '--disasm').status).toBe(0);
    expect(readFileSync(h, 'utf8')).toContain('["0x40000024","020000d4","hvc #0x0"]');
  });

  it('diff: names x3, exit 1; x86 against aarch64: one line, exit 2', async () => {
    const d = cli('diff', file, other);
    expect(d.status).toBe(1);
    expect(d.stdout).toMatch(/\n +x3 +0x0 +0x7\n/);
    const x86 = await synth(tmp.path('x86-cli.vmtrace'), { exits: 5 });
    const m = cli('diff', x86, file);
    expect(m.status).toBe(2);
    expect(m.stderr).toBe(`vmtrace: cannot diff an x86_64 trace against an aarch64 trace (${x86} is x86_64, ${file} is aarch64)\n`);
  });

  it('show: refused in one line (it needs the x86 replay)', () => {
    const r = cli('show', file, '1');
    expect(r.status).toBe(2);
    expect(r.stderr).toBe(`vmtrace: the machine state of aarch64 traces cannot be shown yet (${file}); vmtrace inspect --exits lists their records' registers\n`);
  });
});
