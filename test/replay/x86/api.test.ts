// Cpu API additions for protected/long mode: interrupt() through the IDT, getMsr/setMsr, mode, cpl.

import { describe, expect, test } from 'vitest';
import { FLAGS, noAssembler } from './helpers.js';
import { CODE, STACK0, lm, pm } from './modes.js';

describe.skipIf(noAssembler)('Cpu API in protected and long mode', () => {
  test('interrupt(): an external interrupt through a 32-bit gate (no error code), an exception with one', () => {
    const m = pm(`
      nop
      hlt
    h: mov %esp, %ebx
      hlt
    h2: pop %ecx
      mov %esp, %edx
      hlt`, { gates: { 0x30: 'h', 13: 'h2' } });
    expect(m.cpu.mode).toBe('protected32');
    expect(m.cpu.interrupt(0x30)).toBe(true);
    expect(m.regs().rip).toBe(BigInt(m.sym.h!));
    expect(m.run().kind).toBe('hlt');
    expect(m.regs().rbx).toBe(BigInt(STACK0 - 12));
    expect(m.u32(STACK0 - 12)).toBe(CODE); // return EIP: where it was interrupted
    expect(m.cpu.interrupt(13, 0x28)).toBe(true);
    expect(m.run().kind).toBe('hlt');
    expect(m.regs().rcx).toBe(0x28n);
  });

  test('interrupt() in long mode; a missing gate escalates to a triple fault (false, then SHUTDOWN)', () => {
    const m = lm('nop\nhlt\nh: hlt', { gates: { 0x30: 'h' } });
    expect(m.cpu.mode).toBe('long64');
    expect(m.cpu.cpl).toBe(0);
    expect(m.cpu.interrupt(0x30)).toBe(true);
    expect(m.regs().rsp).toBe(BigInt(STACK0 - 40));
    expect(m.cpu.interrupt(0x31)).toBe(false);
    expect(m.run().kind).toBe('shutdown');
  });

  test('getMsr/setMsr', () => {
    const m = lm('mov $0xc0000082, %ecx\nrdmsr\nhlt');
    m.cpu.setMsr(0xc0000082, 0xffffffff81000000n);
    expect(m.cpu.getMsr(0xc0000080)).toBe(0x500n);
    expect(m.cpu.getMsr(0xc0000082)).toBe(0xffffffff81000000n);
    m.cpu.setMsr(0xc0000101, 0x123000n);
    expect(m.sregs().gs.base).toBe(0x123000n);
    expect(m.run().kind).toBe('hlt');
    expect([m.regs().rax, m.regs().rdx]).toEqual([0x81000000n, 0xffffffffn]);
    expect(() => m.cpu.getMsr(0x12345)).toThrow(/unknown MSR/);
  });

  test('single-step (TF) in protected mode raises #DB after each instruction through the IDT', () => {
    const m = pm(`
      pushf
      orl $0x100, (%esp)
      popf
      inc %eax
      inc %eax
      hlt
    db: incl 0x5000
      iret`, { gates: { 1: 'db' } });
    expect(m.run().kind).toBe('hlt');
    expect(m.regs().rax).toBe(2n);
    expect(m.u32(0x5000)).toBe(2); // after each inc
    expect(Number(m.regs().rflags) & FLAGS.TF).toBe(FLAGS.TF);
    // the HLT started with TF set too: its trap is delivered when the next run() starts
    m.run(1);
    expect(m.u32(0x5000)).toBe(3);
  });
});
