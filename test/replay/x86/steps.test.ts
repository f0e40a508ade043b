// Single-step granularity the recording hosts show (docs/exit-semantics.md, traces/*.step.vmtrace):
// a faulting instruction, its exception delivery and the first instruction of the handler are
// one step; in 64-bit mode an IRETQ and the instruction it returns to are one step.

import { describe, expect, test } from 'vitest';
import { noAssembler, setup } from './helpers.js';
import { STACK0, lm } from './modes.js';

const RF = 0x10000n;

describe.skipIf(noAssembler)('step granularity', () => {
  test('real mode: step() over a faulting UD2 also runs the handler\'s first instruction (RF then clear)', () => {
    const m = setup(new Uint8Array([0x90, 0x0f, 0x0b, 0xf4]), { ivt: { 6: [0, 0x600] } });
    m.ram.set([0x50, 0x53, 0xf4], 0x600); // push ax; push bx; hlt
    m.cpu.step();
    expect(m.cpu.instructions).toBe(1);
    m.cpu.step(); // ud2 -> #UD delivered -> push ax
    expect(m.cpu.instructions).toBe(2);
    expect(m.regs().rip).toBe(0x601n);
    expect(m.regs().rsp).toBe(0x7000n - 8n);
    expect(m.regs().rflags & RF).toBe(0n);
    expect(m.cpu.history(3).map((h) => h.text)).toEqual(['nop', 'ud2', 'push ax']);
    m.cpu.step();
    expect(m.regs().rip).toBe(0x602n);
  });

  test('long mode: #DE step ends after the handler\'s first instruction; IRETQ joins the next instruction', () => {
    const m = lm(`
      xor %ecx, %ecx
      div %rcx
      mov $7, %ebx
      hlt
    de: push %rax
      pop %rax
      addq $3, (%rsp)
      iretq`, { gates: { 0: 'de' } });
    m.cpu.step(); // xor
    m.cpu.step(); // div -> #DE -> push rax
    expect(m.regs().rip).toBe(BigInt(m.sym.de! + 1));
    expect(m.regs().rsp).toBe(BigInt(STACK0 - 48));
    m.cpu.step(); // pop
    m.cpu.step(); // addq
    expect(m.cpu.step().kind).toBe('limit'); // iretq + mov $7, %ebx
    expect(m.regs().rbx).toBe(7n);
    expect(m.regs().rflags & RF).toBe(0n);
    expect(m.cpu.instructions).toBe(5);
    expect(m.cpu.step().kind).toBe('hlt');
  });
});
