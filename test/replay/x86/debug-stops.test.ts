// Breakpoints and watchpoints in the run loop (Cpu.setBreakpoints / setWatchpoints): where a run
// stops, and that instruction counts and state are those of a run without them.

import { describe, expect, test } from 'vitest';
import { asm, noAssembler, setup } from './helpers.js';
import { CODE, lm } from './modes.js';

const LOOP = `
  mov $3, %cx
l: incw 0x500
  addb $1, 0x502
  loop l
  mov $0x600, %di
  mov $2000, %cx
  rep stosb
  hlt
`;

function loopAddr(): number {
  return 0x7c00 + 3; // `l`, after the 3-byte mov
}

describe.skipIf(noAssembler)('breakpoints', () => {
  test('stop before the instruction, skip it once to resume, exact counts', () => {
    const m = setup(asm(LOOP));
    m.cpu.setBreakpoints(new Set([loopAddr()]));
    expect(m.cpu.run(1000)).toEqual({ kind: 'breakpoint', address: loopAddr() });
    expect(m.cpu.instructions).toBe(1);
    expect(m.regs().rip).toBe(BigInt(loopAddr()));
    // not resumed past: the same stop again, nothing executed
    expect(m.cpu.run(1000)).toMatchObject({ kind: 'breakpoint' });
    expect(m.cpu.instructions).toBe(1);
    const stops: number[] = [];
    for (;;) {
      m.cpu.skipBreakpointOnce();
      const r = m.cpu.run(1000);
      if (r.kind !== 'breakpoint') {
        expect(r.kind).toBe('hlt');
        break;
      }
      stops.push(m.cpu.instructions);
    }
    // inc, add, loop between two visits
    expect(stops).toEqual([4, 7]);
    const plain = setup(asm(LOOP));
    plain.cpu.run(1000);
    expect(m.cpu.instructions).toBe(plain.cpu.instructions);
    expect(m.regs()).toEqual(plain.regs());
  });

  test('a run that ends exactly before a breakpoint reports the limit; the next run stops there', () => {
    const m = setup(asm(LOOP));
    m.cpu.setBreakpoints(new Set([loopAddr()]));
    m.cpu.skipBreakpointOnce();
    expect(m.cpu.run(1)).toEqual({ kind: 'limit' });
    expect(m.cpu.run(5)).toMatchObject({ kind: 'breakpoint' });
    expect(m.cpu.instructions).toBe(1);
  });

  test('an instruction run within another\'s step (after IRETQ in 64-bit mode) is not stopped at', () => {
    const src = `
      int $3
    after: mov $7, %ebx
      hlt
    bp: iretq`;
    const m = lm(src, { gates: { 3: 'bp' } });
    m.cpu.setBreakpoints(new Set([m.sym.after!, m.sym.bp!]));
    expect(m.cpu.run(100)).toEqual({ kind: 'breakpoint', address: m.sym.bp! });
    m.cpu.skipBreakpointOnce();
    // iretq and `mov $7, %ebx` are one step: no stop before the mov
    expect(m.cpu.run(100)).toEqual({ kind: 'hlt' });
    expect(m.regs().rbx).toBe(7n);
  });
});

describe.skipIf(noAssembler)('watchpoints', () => {
  test('write: the run stops right after the writing step; reads do not count', () => {
    const m = setup(asm(LOOP));
    m.cpu.setWatchpoints([{ kind: 'write', address: 0x501, length: 1 }]);
    expect(m.cpu.run(1000)).toEqual({ kind: 'watch', watch: 'write', address: 0x501 });
    expect(m.cpu.instructions).toBe(2);
    expect(m.cpu.takeWatchHit()).toEqual({ watch: 'write', address: 0x501 });
    expect(m.cpu.takeWatchHit()).toBeNull();
    expect(m.cpu.run(1000)).toMatchObject({ kind: 'watch' });
    expect(m.cpu.instructions).toBe(5);
  });

  test('read and access: a read-modify-write is both; a watch elsewhere never stops', () => {
    const read = setup(asm(LOOP));
    read.cpu.setWatchpoints([{ kind: 'read', address: 0x502, length: 1 }]);
    expect(read.cpu.run(1000)).toEqual({ kind: 'watch', watch: 'read', address: 0x502 });
    expect(read.cpu.instructions).toBe(3);
    const none = setup(asm(LOOP));
    none.cpu.setWatchpoints([{ kind: 'access', address: 0x503, length: 0x10 }]);
    expect(none.cpu.run(1000)).toEqual({ kind: 'hlt' });
  });

  test('a REP string step that writes a watched byte completes its emulation before stopping', () => {
    const plain = setup(asm(LOOP));
    const rcx: bigint[] = [];
    while (plain.cpu.step().kind === 'limit') rcx.push(plain.regs().rcx);
    const m = setup(asm(LOOP));
    m.cpu.setWatchpoints([{ kind: 'write', address: 0x600 + 10, length: 1 }]);
    expect(m.cpu.run(1000)).toEqual({ kind: 'watch', watch: 'write', address: 0x60a });
    // mov, 3 x (inc, add, loop), mov, mov, then the first emulation of rep stosb: 976
    // iterations, until RCX is a multiple of 1024 (KVM's re-entry point)
    expect(m.cpu.instructions).toBe(13);
    expect(m.regs().rcx).toBe(1024n);
    expect(rcx[12]).toBe(1024n);
  });

  test('an instruction that faults does not trigger', () => {
    const m = setup(asm(`
      mov $1, %ax
      divb 0x500
      hlt`), { ivt: { 0: [0, 0x600] } });
    m.ram.set([0xf4], 0x600); // the #DE handler: hlt
    m.cpu.setWatchpoints([{ kind: 'read', address: 0x500, length: 1 }]);
    // mov, then div (#DE: it read 0x500 and faulted) + delivery + the handler's hlt, one step
    expect(m.cpu.run(100)).toEqual({ kind: 'hlt' });
    expect(m.cpu.instructions).toBe(2);
    expect(m.cpu.takeWatchHit()).toBeNull();
  });

  test('the stack writes of an exception delivery do, reported with the step\'s own stop', () => {
    const m = setup(asm(`
      mov $1, %ax
      divb 0x500
      hlt`), { ivt: { 0: [0, 0x600] } });
    m.ram.set([0xf4], 0x600);
    m.cpu.setWatchpoints([{ kind: 'write', address: 0x7000 - 6, length: 6 }]);
    expect(m.cpu.run(100)).toEqual({ kind: 'hlt' });
    // FLAGS is pushed first, at SP - 2
    expect(m.cpu.takeWatchHit()).toEqual({ watch: 'write', address: 0x7000 - 2 });
  });
});

describe.skipIf(noAssembler)('debugger memory access', () => {
  test('readLinear/writeLinear go through paging without faults; null where unmapped', () => {
    const m = lm(`
      mov (%rbx), %eax
      hlt`, { regs: { rbx: 0x300000n } });
    expect(m.cpu.writeLinear(0x300000, Uint8Array.of(1, 2, 3, 4))).toBe(true);
    expect(m.cpu.readLinear(0x300000, 4)).toEqual(Uint8Array.of(1, 2, 3, 4));
    expect(m.cpu.run(10)).toEqual({ kind: 'hlt' });
    expect(m.regs().rax).toBe(0x04030201n);
    expect(m.cpu.readLinear(0x7fff_0000_0000, 1)).toBeNull();
    expect(m.cpu.disassemble(2, CODE).map((d) => d.text)).toEqual(['mov eax, dword ptr [rbx]', 'hlt']);
  });
});
