import { describe, expect, test } from 'vitest';
import { asm, noAssembler, run16, setup } from './helpers.js';

describe.skipIf(noAssembler)('addressing', () => {
  test('16-bit ModRM forms with displacements', () => {
    const m = run16(`
      mov $0x1000, %bx
      mov $0x10, %si
      mov $0x20, %di
      movw $0x1111, (%bx,%si)
      movw $0x2222, 4(%bx,%di)
      movw $0x3333, -2(%bx)
      movw $0x4444, 0x1234
      mov (%bx,%si), %ax
      mov 4(%bx,%di), %cx
      mov -2(%bx), %dx
      mov 0x1234, %bp
      hlt`);
    const r = m.regs();
    expect([r.rax, r.rcx, r.rdx, r.rbp]).toEqual([0x1111n, 0x2222n, 0x3333n, 0x4444n]);
    expect(m.w(0x1010)).toBe(0x1111);
    expect(m.w(0x1024)).toBe(0x2222);
    expect(m.w(0x0ffe)).toBe(0x3333);
  });

  test('BP-based addressing defaults to SS, overridable', () => {
    const m = setup(asm(`
      mov $0x100, %ax
      mov %ax, %ss
      mov $0x10, %bp
      movw $0xbeef, (%bp)
      movw $0xcafe, %ds:(%bp)
      hlt`));
    m.runToHlt();
    expect(m.w(0x1010)).toBe(0xbeef);
    expect(m.w(0x0010)).toBe(0xcafe);
  });

  test('16-bit effective addresses wrap at 64 KiB', () => {
    const m = run16('mov $0xfff0, %bx\nmovb $0x5a, 0x20(%bx)\nhlt');
    expect(m.ram[0x10]).toBe(0x5a);
  });

  test('32-bit addressing with SIB (0x67) in real mode', () => {
    const m = run16(`
      mov $0x1000, %eax
      mov $0x10, %ecx
      movl $0x11223344, 0x8(%eax,%ecx,4)
      mov 0x8(%eax,%ecx,4), %edx
      lea 0x8(%eax,%ecx,4), %esi
      lea (,%ecx,8), %edi
      mov $0x2000, %esp
      movw $0x5555, (%esp)
      mov (%esp), %bx
      mov $0x7000, %esp
      hlt`);
    const r = m.regs();
    expect(r.rdx).toBe(0x11223344n);
    expect(r.rsi).toBe(0x1048n);
    expect(r.rdi).toBe(0x80n);
    expect(r.rbx).toBe(0x5555n);
    expect(m.w(0x1048)).toBe(0x3344);
  });

  test('EBP/ESP bases default to SS in 32-bit addressing', () => {
    const m = setup(asm(`
      mov $0x200, %ax
      mov %ax, %ss
      mov $0x40, %ebp
      movb $0x77, (%ebp)
      movb $0x66, 1(%ebp,%ebp,1)
      hlt`));
    m.runToHlt();
    expect(m.ram[0x2040]).toBe(0x77);
    expect(m.ram[0x2081]).toBe(0x66);
  });

  test('moffs forms (A0-A3) with segment override', () => {
    const m = run16(`
      mov $0x50, %ax
      mov %ax, %es
      movb $0x12, %es:0x10
      mov %es:0x10, %al
      mov $0x3456, %ax
      mov %ax, 0x600
      mov 0x600, %bx
      hlt`);
    expect(m.ram[0x510]).toBe(0x12);
    expect(m.regs().rbx).toBe(0x3456n);
  });

  test('offset beyond the limit: #GP for data, #SS for the stack (through the IVT)', () => {
    const gp = setup(asm('mov $0xffff, %bx\nmov (%bx), %ax\nhlt'), { ivt: { 13: [0, 0x600], 12: [0, 0x610] } });
    gp.ram[0x600] = 0xf4;
    gp.ram[0x610] = 0xf4;
    expect(gp.runToHlt().kind).toBe('hlt');
    expect(gp.regs().rip).toBe(0x601n); // #GP: word at 0xffff crosses the limit
    expect(gp.w(0x7000 - 6)).toBe(0x7c03);

    const ss = setup(asm('mov $0x10000, %ebp\nmov (%ebp), %al\nhlt'), { ivt: { 13: [0, 0x600], 12: [0, 0x610] } });
    ss.ram[0x600] = 0xf4;
    ss.ram[0x610] = 0xf4;
    ss.runToHlt();
    expect(ss.regs().rip).toBe(0x611n);

    const gp32 = setup(asm('mov $0x10000, %ebx\nmov (%ebx), %al\nhlt'), { ivt: { 13: [0, 0x600] } });
    gp32.ram[0x600] = 0xf4;
    gp32.runToHlt();
    expect(gp32.regs().rip).toBe(0x601n);
  });

  test('unreal mode: a 4 GiB DS limit allows 32-bit offsets', () => {
    const m = setup(asm('mov $0x100000, %ebx\nmovb $0x42, (%ebx)\nmov (%ebx), %cl\nhlt'));
    const s = m.cpu.getSregs();
    s.ds.limit = 0xffffffff;
    s.ds.g = 1;
    m.cpu.setState(m.cpu.getRegs(), s);
    expect(m.runToHlt().kind).toBe('hlt');
    expect(m.ram[0x100000]).toBe(0x42);
    expect(m.regs().rcx).toBe(0x42n);
  });

  test('real-mode addresses reach 0x10FFEF (no A20 masking)', () => {
    const m = run16('mov $0xffff, %ax\nmov %ax, %ds\nmovb $0x99, 0xffff\nhlt');
    expect(m.ram[0x10ffef]).toBe(0x99);
    expect(m.ram[0xffef]).toBe(0);
  });

  test('instruction longer than 15 bytes: #GP', () => {
    const code = new Uint8Array([...new Array(15).fill(0x66), 0x90, 0xf4]);
    const m = setup(code, { ivt: { 13: [0, 0x600] } });
    m.ram[0x600] = 0xf4;
    m.runToHlt();
    expect(m.regs().rip).toBe(0x601n);
  });
});

describe('exceptions that cannot be delivered', () => {
  test('IDT limit too small: #GP -> #DF -> triple fault = shutdown', () => {
    const m = setup(new Uint8Array([0xcd, 0x21, 0xf4]));
    const s = m.cpu.getSregs();
    s.idt.limit = 0x10; // vectors 0-3 only
    m.cpu.setState(m.cpu.getRegs(), s);
    const r = m.cpu.run(10);
    expect(r.kind).toBe('shutdown');
    if (r.kind === 'shutdown') expect(r.reason).toMatch(/triple fault/);
    expect(m.cpu.run(10).kind).toBe('shutdown');
  });

  test('stack overflow during delivery (SP=1): #SS -> #DF -> shutdown', () => {
    const m = setup(new Uint8Array([0xcc, 0xf4]), { regs: { rsp: 1n } });
    const r = m.cpu.run(10);
    expect(r.kind).toBe('shutdown');
  });

  test('INT n beyond the IDT limit raises #GP at the INT instruction', () => {
    const m = setup(new Uint8Array([0x90, 0xcd, 0x21, 0xf4]), { ivt: { 13: [0, 0x600] } });
    m.ram[0x600] = 0xf4;
    const s = m.cpu.getSregs();
    s.idt.limit = 13 * 4 + 3;
    m.cpu.setState(m.cpu.getRegs(), s);
    expect(m.cpu.run(10).kind).toBe('hlt');
    expect(m.regs().rip).toBe(0x601n);
    expect(m.w(0x7000 - 6)).toBe(0x7c01);
  });
});
