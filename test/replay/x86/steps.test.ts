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

// The recording host's step-join set (trace header hostModel.step, src/replay/x86/step-model.ts):
// kvm_pvm ends no single step at an ENDBR, so it and the next instruction are one step.
describe('step joins (hostModel.step.joins)', () => {
  // xor ax,ax; endbr32; inc ax; out 0xf1,al; hlt
  const CODE = [0x31, 0xc0, 0xf3, 0x0f, 0x1e, 0xfb, 0x40, 0xe6, 0xf1, 0xf4];

  test('without joins every instruction is a step (ENDBR32 too)', () => {
    const m = setup(new Uint8Array(CODE));
    m.cpu.step();
    expect(m.cpu.step().kind).toBe('limit'); // endbr32
    expect(m.regs().rip).toBe(0x7c06n);
    expect(m.cpu.instructions).toBe(2);
  });

  test("with 'endbr32' the ENDBR32 and the INC are one step; IO and HLT still end theirs", () => {
    const m = setup(new Uint8Array(CODE), { stepJoins: ['endbr32'] });
    expect(m.cpu.step().kind).toBe('limit'); // xor
    expect(m.cpu.step().kind).toBe('limit'); // endbr32 + inc
    expect(m.regs().rip).toBe(0x7c07n);
    expect(m.regs().rax).toBe(1n);
    expect(m.cpu.instructions).toBe(2);
    expect(m.cpu.history(3).map((h) => h.text)).toEqual(['xor ax, ax', 'endbr32', 'inc ax']);
    expect(m.cpu.step()).toEqual({ kind: 'exit', exit: 'io' });
    expect(m.cpu.step().kind).toBe('hlt');
    expect(m.cpu.instructions).toBe(4);
  });

  test('a joined instruction before IO ends its step with the IO exit; consecutive joins chain', () => {
    // endbr64; endbr64; out 0xf1,al; hlt
    const m = setup(new Uint8Array([0xf3, 0x0f, 0x1e, 0xfa, 0xf3, 0x0f, 0x1e, 0xfa, 0xe6, 0xf1, 0xf4]), { stepJoins: ['endbr64', 'endbr32'] });
    expect(m.cpu.step()).toEqual({ kind: 'exit', exit: 'io' });
    expect(m.regs().rip).toBe(0x7c0an);
    expect(m.cpu.instructions).toBe(1);
    expect(m.sink.log).toHaveLength(1);
  });

  test('only the named instructions join: ENDBR64 is not ENDBR32, names unknown to this version are ignored', () => {
    const m = setup(new Uint8Array(CODE), { stepJoins: ['endbr64', 'some-future-name'] });
    m.cpu.step();
    m.cpu.step();
    expect(m.regs().rip).toBe(0x7c06n);
  });

  test("'sti' joins only when IF was clear (STI opens an interrupt shadow only then)", () => {
    // cli; sti; inc ax; sti; inc ax; hlt
    const m = setup(new Uint8Array([0xfa, 0xfb, 0x40, 0xfb, 0x40, 0xf4]), { stepJoins: ['sti'] });
    m.cpu.step(); // cli
    m.cpu.step(); // sti (IF was 0) + inc
    expect(m.regs().rip).toBe(0x7c03n);
    m.cpu.step(); // sti (IF already 1): its own step
    expect(m.regs().rip).toBe(0x7c04n);
  });

  test("'mov-ss', 'pop-ss', 'nop-hint' match their instructions; a plain run ends in the same state", () => {
    // mov ax,ss; mov ss,ax; inc ax; push ss; pop ss; inc ax; nop [bx+si+0]; inc ax; hlt
    const code = [0x8c, 0xd0, 0x8e, 0xd0, 0x40, 0x16, 0x17, 0x40, 0x0f, 0x1f, 0x40, 0x00, 0x40, 0xf4];
    const m = setup(new Uint8Array(code), { stepJoins: ['mov-ss', 'pop-ss', 'nop-hint'] });
    const rips: bigint[] = [];
    for (let k = 0; k < 6; k++) {
      m.cpu.step();
      rips.push(m.regs().rip);
    }
    expect(rips).toEqual([0x7c02n, 0x7c05n, 0x7c06n, 0x7c08n, 0x7c0dn, 0x7c0en]);
    const plain = setup(new Uint8Array(code));
    expect(plain.runToHlt().kind).toBe('hlt');
    expect(plain.regs()).toEqual(m.regs());
  });
});
