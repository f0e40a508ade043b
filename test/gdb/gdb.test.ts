// The real gdb (batch mode) against `vmtrace replay --gdb` on the committed goldens.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';

import type { TraceRecord } from '../../src/trace/format.js';
import { readTrace } from '../../src/trace/reader.js';
import { vmtrace } from '../support/cli.js';
import { ROOT } from '../support/record.js';
import { rewriteTrace } from '../support/rewrite.js';
import { gdb, gdbMissing, registers, sections, startStub, type Stub } from './gdb-driver.js';

const missing = gdbMissing();
if (missing) console.warn(`test/gdb/gdb.test.ts: skipped: ${missing}`);

const golden = (name: string) => join(ROOT, 'traces', name);
const dir = mkdtempSync(join(tmpdir(), 'vmtrace-gdb-'));
/** sieve's `static unsigned char composite[2000]` (the ELFs have symbols, no debug types). */
const COMPOSITE_4 = '((unsigned char *)&composite)[4]';

const stubs: Stub[] = [];
async function stub(trace: string, extra: string[] = ['-q', '--gdb-once']): Promise<Stub> {
  const s = await startStub(trace, extra);
  stubs.push(s);
  return s;
}
afterEach(() => {
  for (const s of stubs.splice(0)) if (s.child.exitCode === null) s.child.kill('SIGKILL');
});

/** gdb's `info registers` against a record's registers, in the layout gdb has (32- or 64-bit names). */
function expectRegistersOf(shown: Map<string, bigint>, rec: TraceRecord, bits: 32 | 64): void {
  const low = (v: bigint) => (bits === 32 ? v & 0xffff_ffffn : v);
  const r = rec.regs;
  const names32: Record<string, bigint> = { eax: r.rax, ecx: r.rcx, edx: r.rdx, ebx: r.rbx, esp: r.rsp, ebp: r.rbp, esi: r.rsi, edi: r.rdi, eip: r.rip };
  const expected: Record<string, bigint> =
    bits === 32 ? names32 : Object.fromEntries((['rax', 'rbx', 'rcx', 'rdx', 'rsi', 'rdi', 'rbp', 'rsp', 'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15', 'rip'] as const).map((n) => [n, r[n]]));
  expected.eflags = r.rflags & 0xffff_ffffn;
  for (const seg of ['cs', 'ss', 'ds', 'es', 'fs', 'gs'] as const) expected[seg] = BigInt(rec.sregs[seg].selector);
  for (const c of ['cr0', 'cr2', 'cr3', 'cr4', 'efer'] as const) expected[c] = rec.sregs[c];
  expected.fs_base = low(rec.sregs.fs.base);
  expected.gs_base = low(rec.sregs.gs.base);
  const got = Object.fromEntries(Object.keys(expected).map((n) => [n, shown.get(n)]));
  expect(got).toEqual(Object.fromEntries(Object.entries(expected).map(([n, v]) => [n, low(v)])));
}

describe.skipIf(missing !== undefined)(`gdb against vmtrace replay --gdb${missing ? ` (skipped: ${missing})` : ''}`, () => {
  let sieve32: Awaited<ReturnType<typeof readTrace>>;
  let sieve64: Awaited<ReturnType<typeof readTrace>>;
  beforeAll(async () => {
    sieve32 = await readTrace(golden('sieve-32.vmtrace'));
    sieve64 = await readTrace(golden('sieve-64.vmtrace'));
  });

  it('breaks at a symbol of the C guest; after the OUT there, info registers is the trace\'s record; the console still goes to stdout', async () => {
    const s = await stub(golden('sieve-32.vmtrace'), ['--gdb-once']);
    // putchar: mov eax, [esp+4]; out 0xf1, al; … — its third call makes record #2
    const out = gdb(s.port, ['break putchar', 'continue', 'continue', 'continue', 'echo @@\\n', 'stepi 2', 'info registers', 'monitor record'], 'sieve-32.elf');
    const [before, after] = sections(out);
    expect(before).toMatch(/Breakpoint 1 at 0x100210/);
    expect(before!.match(/Breakpoint 1, 0x00100210 in putchar \(\)/g)).toHaveLength(3);
    expectRegistersOf(registers(after!), sieve32.records[2]!, 32);
    expect(after).toContain('at instruction');
    expect(after).toMatch(/3 record\(s\) matched, mode protected32\nnext record: #3 IO out 0xf1 1 6d "m"/);
    expect(await s.exited).toBe(0);
    expect(s.stdout()).toBe('pri');
  });

  it('seeks to a record of a 64-bit guest: its registers are the record\'s, in the x86-64 layout', async () => {
    const s = await stub(golden('sieve-64.vmtrace'));
    const out = gdb(s.port, ['show architecture', 'monitor seek-record 40', 'maintenance flush register-cache', 'echo @@\\n', 'info registers'], 'sieve-64.elf');
    const [before, after] = sections(out);
    expect(before).toContain('(currently "i386:x86-64")');
    expect(before).toMatch(/now at instruction \d+, 41 record\(s\) matched, mode long64 \(record #40\)/);
    expectRegistersOf(registers(after!), sieve64.records[40]!, 64);
  });

  it('stops a watchpoint on a variable right after the instruction that wrote it', async () => {
    const s = await stub(golden('sieve-32.vmtrace'));
    const out = gdb(s.port, [`watch ${COMPOSITE_4}`, 'continue', 'echo @@\\n', 'reverse-stepi', 'x/i $pc', 'print $eax', `print ${COMPOSITE_4}`, 'echo @@\\n', 'stepi', `print ${COMPOSITE_4}`], 'sieve-32.elf');
    const [hit, before, after] = sections(out);
    expect(hit).toMatch(/Hardware watchpoint 1: .*\n\nOld value = 0 '\\000'\nNew value = 1 '\\001'\n0x00100147 in main \(\)/);
    // the instruction before the stop stores 1 at composite + eax, eax = 4
    expect(before).toMatch(/=> 0x100140 <main\+64>:\tmovb {3}\$0x1,0x105000\(%eax\)/);
    expect(before).toMatch(/\$1 = 4\n\$2 = 0 '\\000'/);
    expect(after).toMatch(/0x00100147 in main \(\)\n\$3 = 1 '\\001'/);
  });

  it('reverse-stepi × N then stepi × N comes back to the same registers and stack', async () => {
    const s = await stub(golden('sieve-32.vmtrace'));
    const state = ['info registers', 'x/16xw $esp', 'monitor record'];
    // registers, stack words and position, without gdb's stop lines
    const stateOf = (text: string) => text.split('\n').filter((l) => /^([a-z][a-z0-9_]*\s+0x|0x[0-9a-f]+:\t|at instruction )/.test(l));
    const out = gdb(s.port, ['break putchar', 'continue', 'continue', 'delete', 'echo @@\\n', ...state, 'echo @@\\n', 'reverse-stepi 50', ...state, 'echo @@\\n', 'stepi 50', ...state], 'sieve-32.elf');
    const [, start, back, again] = sections(out);
    expect(registers(back!).get('eip')).not.toBe(registers(start!).get('eip'));
    const at = (text: string) => Number(/at instruction (\d+)/.exec(text)![1]);
    expect(at(back!)).toBe(at(start!) - 50);
    expect(stateOf(start!)).toHaveLength(23 + 4 + 1); // 23 registers, 4 lines of stack, the position
    expect(stateOf(again!)).toEqual(stateOf(start!));
  });

  it('reverse-continue goes back to the previous breakpoint hit', async () => {
    const s = await stub(golden('sieve-32.vmtrace'));
    const out = gdb(s.port, ['break putchar', 'continue', 'continue', 'continue', 'monitor record', 'echo @@\\n', 'continue', 'monitor record', 'echo @@\\n', 'reverse-continue', 'monitor record'], 'sieve-32.elf');
    const [third, fourth, back] = sections(out);
    const at = (text: string) => /at instruction (\d+), (\d+) record/.exec(text)!.slice(1, 3);
    expect(at(fourth!)).not.toEqual(at(third!));
    expect(back).toMatch(/Breakpoint 1, 0x00100210 in putchar \(\)/);
    expect(at(back!)).toEqual(at(third!));
  });

  it('reverse-finish from inside putchar goes back to the call in its caller', async () => {
    const s = await stub(golden('sieve-32.vmtrace'));
    const out = gdb(s.port, ['break putchar', 'continue', 'continue', 'delete', 'stepi 3', 'echo @@\\n', 'reverse-finish', 'x/i $pc'], 'sieve-32.elf');
    const [inside, back] = sections(out);
    expect(inside).toMatch(/in putchar \(\)/);
    expect(back).toMatch(/=> 0x[0-9a-f]+ <vprintf\+\d+>:\s+call\s+0x100210 <putchar>/);
  });

  it('continue stops at a deliberate divergence with SIGEMT and the report', async () => {
    const bad = join(dir, 'sieve-32-diverged.vmtrace');
    await rewriteTrace(golden('sieve-32.vmtrace'), bad, (rec, m) => {
      if (rec.seq === 10) m.ioData![0] = 0x21; // the guest prints 'o' there
    });
    const s = await stub(bad);
    const out = gdb(s.port, ['continue', 'echo @@\\n', 'info registers eip', 'monitor record', 'echo @@\\n', 'continue'], 'sieve-32.elf');
    const [first, here, again] = sections(out);
    expect(first).toContain('vmtrace: the replay diverges from the recording here');
    expect(first).toMatch(/divergence \(payload\) at record #10, byte offset \d+ of .*sieve-32-diverged\.vmtrace/);
    expect(first).toMatch(/io\.data\s+21\s+6f/);
    expect(first).toMatch(/Program received signal SIGEMT, Emulation trap\.\n0x00100216 in putchar \(\)/);
    expect(registers(here!).get('eip')).toBe(sieve32.records[10]!.regs.rip);
    expect(here).toMatch(/10 record\(s\) matched/);
    expect(again).toMatch(/forward execution ends here, at the divergence at record #10[^]*Program received signal SIGEMT/);
  });

  it('stops at the end of the trace with "No more reverse-execution history"; kill ends the stub (exit 0)', async () => {
    const s = await stub(golden('sieve-32.vmtrace'), ['-q']);
    const out = gdb(s.port, ['continue', 'reverse-stepi', 'info registers eip', 'kill'], 'sieve-32.elf');
    expect(out).toMatch(/vmtrace: end of the trace: all 84 exits matched \(27264 instructions replayed\)\n\nNo more reverse-execution history\.\n0x00100812 in halt \(\)/);
    expect(registers(out).get('eip')).toBe(0x100811n); // halt: cli; hlt; jmp halt — back before the hlt
    expect(await s.exited).toBe(0);
    expect(s.stderr()).toMatch(/vmtrace: gdb killed the replay \(at instruction 27263, 83 records matched\): the stub ends\n$/);
  });

  it('switches layouts on a reconnect after the guest enters long mode; real mode is i8086', async () => {
    const s = await stub(golden('longself-32.vmtrace'), ['-q']);
    const first = gdb(s.port, ['show architecture', 'continue', 'disconnect'], 'longself-32.elf');
    expect(first).toContain('(currently "i386")');
    expect(first).toMatch(/vmtrace: the guest switched from 32-bit protected mode to 64-bit long mode: its registers are 64-bit now, but this connection keeps the i386 layout/);
    const second = gdb(s.port, ['show architecture', 'add-symbol-file guests/longself-32.elf', 'info registers rip', 'kill']);
    expect(second).toContain('(currently "i386:x86-64")');
    const last = (await readTrace(golden('longself-32.vmtrace'))).records.at(-1)!;
    expect(registers(second).get('rip')).toBe(last.regs.rip);
    expect(await s.exited).toBe(0);

    const real = await stub(golden('tiny_kernel.vmtrace'));
    expect(gdb(real.port, ['show architecture', 'x/i $pc'])).toMatch(/\(currently "i8086"\)\.\n=> 0x0:\tmov {4}\$0x48,%al/);
  });

  it('ends on SIGTERM with 143', async () => {
    const s = await stub(golden('sieve-32.vmtrace'), ['-q']);
    s.child.kill('SIGTERM');
    expect(await s.exited).toBe(143);
    expect(s.stderr()).toMatch(/vmtrace: SIGTERM: the gdb stub stops\n$/);
  });
});

describe('vmtrace replay --gdb usage', () => {
  it('refuses bad addresses and options that do not go with it (exit 2, one line)', () => {
    const trace = golden('tiny_kernel.vmtrace');
    for (const [args, message] of [
      [['--gdb', 'x:y'], /--gdb: 'y' is not an integer; expected a TCP port from 0/],
      [['--gdb', '70000'], /--gdb: '70000' is more than 65535/],
      [['--gdb', 'a:b:c'], /--gdb: 'a:b:c' is not \[HOST:\]PORT/],
      [['--gdb', '0', '--json'], /--gdb: not with --json/],
      [['--gdb', '0', '--no-exec'], /--gdb: not with --no-exec/],
      [['--gdb-once'], /--gdb-once: only with --gdb/],
    ] as const) {
      const r = vmtrace(['replay', ...args, trace]);
      expect(r.status, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    }
  });
});
