import { describe, expect, test } from 'vitest';
import { FLAGS, asm, noAssembler, run16, setup } from './helpers.js';

describe.skipIf(noAssembler)('control transfer', () => {
  test('near call/ret, ret imm16', () => {
    const m = run16(`
      push $0x1111
      push $0x2222
      call f
      hlt
    f: mov %sp, %bx
      mov 2(%bx), %ax
      ret $4`);
    const r = m.regs();
    expect(r.rax).toBe(0x2222n);
    expect(r.rsp).toBe(0x7000n);
    expect(r.rip).toBe(0x7c0an); // after the hlt at 0x7c09
  });

  test('far call pushes CS:IP; retf and retf imm16 return', () => {
    // far procedure at 0x0900:0x0000 (linear 0x9000)
    const m = setup(asm('lcall $0x0900, $0x0000\npush $0xaaaa\nlcall $0x0900, $0x0010\nhlt'), {});
    m.ram.set(asm('mov %sp, %bp\nmov 0(%bp), %ax\nmov 2(%bp), %bx\nlret', 0), 0x9000);
    m.ram.set(asm('lret $2', 0x10), 0x9010);
    m.cpu.run(3); // lcall, mov, mov
    const r1 = m.regs();
    expect(m.cpu.getSregs().cs.selector).toBe(0x900);
    expect(m.cpu.getSregs().cs.base).toBe(0x9000n);
    expect(r1.rsp).toBe(0x7000n - 4n);
    expect(m.w(0x7000 - 4)).toBe(0x7c05); // return IP
    expect(m.w(0x7000 - 2)).toBe(0x0000); // return CS
    expect(m.cpu.run(100).kind).toBe('hlt');
    const r = m.regs();
    expect(r.rax).toBe(0x7c05n);
    expect(r.rbx).toBe(0n);
    expect(r.rsp).toBe(0x7000n);
    expect(m.cpu.getSregs().cs.selector).toBe(0);
  });

  test('32-bit far call (0x66) pushes 32-bit CS and EIP', () => {
    const m = setup(asm('lcalll $0x0900, $0x0000\nhlt'));
    m.ram.set(asm('lretl', 0), 0x9000);
    m.cpu.step();
    expect(m.regs().rsp).toBe(0x7000n - 8n);
    expect(m.w(0x7000 - 8)).toBe(0x7c08); // 66 9a + 4 + 2 bytes
    expect(m.w(0x7000 - 6)).toBe(0);
    expect(m.w(0x7000 - 4)).toBe(0);
    expect(m.cpu.run(10).kind).toBe('hlt');
    expect(m.regs().rsp).toBe(0x7000n);
  });

  test('jmp/call far indirect m16:16 and m16:32', () => {
    const m = setup(asm(`
      movw $0x0010, 0x500
      movw $0x0900, 0x502
      movl $0x00000020, 0x510
      movw $0x0900, 0x514
      lcall *0x500
      ljmpl *0x510`));
    m.ram.set(asm('lret', 0x10), 0x9010);
    m.ram[0x9020] = 0xf4;
    expect(m.cpu.run(100).kind).toBe('hlt');
    expect(m.regs().rip).toBe(0x21n);
    expect(m.cpu.getSregs().cs.selector).toBe(0x900);
  });

  test('jmp/call near indirect through register and memory', () => {
    const m = run16(`
      mov $t1, %ax
      jmp *%ax
      hlt
    t1: movw $t2, 0x600
      call *0x600
      hlt
    t2: mov $0x77, %cl
      ret`);
    expect(m.regs().rcx & 0xffn).toBe(0x77n);
  });

  test('jcc short and near (0F 8x), all condition codes', () => {
    const m = run16(`
      xor %bx, %bx
      mov $5, %ax
      cmp $7, %ax      # 5 < 7: b, l, ne, be, le taken
      jb 1f
      hlt
    1: lea 1(%bx), %bx
      jl 1f
      hlt
    1: lea 1(%bx), %bx
      jne 1f
      hlt
    1: lea 1(%bx), %bx
      jae 9f
      jg 9f
      je 9f
      ja 9f
      jo 9f
      js 1f
      hlt
    1: lea 1(%bx), %bx
      jle 2f
      .fill 200, 1, 0x90
      hlt
    2: lea 1(%bx), %bx
      jpe 1f    # 5-7 = 0xfffe: parity of 0xfe = odd -> PF=0
      jnp 1f
    9: hlt
    1: lea 1(%bx), %bx
      hlt`);
    expect(m.regs().rbx).toBe(6n);
  });

  test('loop/loope/loopne/jcxz/jecxz', () => {
    const m = run16(`
      xor %ax, %ax
      mov $10, %cx
    1: inc %ax
      loop 1b
      mov $10, %cx
      mov $0, %dx
    1: inc %dx
      cmp $3, %dx
      loopne 1b
      mov %cx, %si
      xor %cx, %cx
      jcxz 1f
      hlt
    1: mov $0x10000, %ecx
      jecxz 2f
      addr32 loop 3f
    2: hlt
    3: mov $0x1234, %di
      hlt`);
    const r = m.regs();
    expect(r.rax).toBe(10n);
    expect(r.rdx).toBe(3n);
    expect(r.rsi).toBe(7n);
    expect(r.rcx).toBe(0xffffn);
    expect(r.rdi).toBe(0x1234n);
  });

  test('int n through the IVT: frame, IF/TF cleared, iret restores', () => {
    const m = setup(asm('sti\nint $0x21\nhlt'), { ivt: { 0x21: [0x0100, 0x0020] } });
    m.ram.set(asm('mov $0x42, %al\niret', 0x20), 0x1020);
    m.cpu.step(); // sti
    m.cpu.step(); // int 0x21
    const s = m.cpu.getSregs();
    const r = m.regs();
    expect(s.cs.selector).toBe(0x100);
    expect(r.rip).toBe(0x20n);
    expect(r.rsp).toBe(0x7000n - 6n);
    expect(m.w(0x7000 - 6)).toBe(0x7c03); // IP after int
    expect(m.w(0x7000 - 4)).toBe(0);
    expect(m.w(0x7000 - 2) & FLAGS.IF).toBe(FLAGS.IF);
    expect(Number(r.rflags) & FLAGS.IF).toBe(0);
    expect(m.cpu.run(10).kind).toBe('hlt');
    const r2 = m.regs();
    expect(r2.rax & 0xffn).toBe(0x42n);
    expect(Number(r2.rflags) & FLAGS.IF).toBe(FLAGS.IF);
    expect(r2.rsp).toBe(0x7000n);
  });

  test('int3, into (taken and not), int1', () => {
    const m = setup(asm('int3\nmov $0x7f, %al\nadd $1, %al\ninto\nhlt'), { ivt: { 3: [0, 0x600], 4: [0, 0x610] } });
    m.ram.set(asm('inc %bx\niret', 0x600), 0x600);
    m.ram.set(asm('inc %cx\niret', 0x610), 0x610);
    expect(m.cpu.run(100).kind).toBe('hlt');
    expect(m.regs().rbx).toBe(1n);
    expect(m.regs().rcx).toBe(1n);
  });

  test('iretd pops 32-bit EIP/CS/EFLAGS', () => {
    const m = run16(`
      pushfl
      pushl $0
      pushl $1f
      iretl
      hlt
    1: mov $1, %ax
      hlt`);
    expect(m.regs().rax).toBe(1n);
    expect(m.regs().rsp).toBe(0x7000n);
  });

  test('enter/leave with nesting levels', () => {
    const m = run16(`
      mov $0x6ff0, %bp
      enter $8, $0
      mov %sp, %ax
      mov %bp, %bx
      leave
      mov %sp, %cx
      mov %bp, %dx
      mov $0x6000, %bp
      movw $0x1111, 0x5ffe
      enter $4, $2
      mov %sp, %si
      mov %bp, %di
      hlt`);
    const r = m.regs();
    expect(r.rax).toBe(0x7000n - 2n - 8n);
    expect(r.rbx).toBe(0x7000n - 2n);
    expect(r.rcx).toBe(0x7000n);
    expect(r.rdx).toBe(0x6ff0n);
    // level 2: push bp, push [bp-2], push frame; then sub 4
    expect(r.rdi).toBe(0x7000n - 2n);
    expect(r.rsi).toBe(0x7000n - 6n - 4n);
    expect(m.w(0x7000 - 4)).toBe(0x1111);
    expect(m.w(0x7000 - 6)).toBe(0x7000 - 2);
  });

  test('pusha/popa, pushad/popad, push/pop segment registers, push imm', () => {
    const m = run16(`
      mov $1, %ax
      mov $2, %cx
      mov $3, %dx
      mov $4, %bx
      mov $5, %bp
      mov $6, %si
      mov $7, %di
      pusha
      xor %ax, %ax
      xor %cx, %cx
      xor %di, %di
      popa
      mov $0x12345678, %eax
      pushal
      popal
      push %cs
      pop %es
      push $-2
      pop %ax
      pushl $0x1234
      popl %ebx
      hlt`);
    const r = m.regs();
    expect(r.rax).toBe(0x1234fffen);
    expect(r.rcx).toBe(2n);
    expect(r.rdi).toBe(7n);
    expect(r.rbx).toBe(0x1234n);
    expect(r.rsp).toBe(0x7000n);
    const p = run16('mov $1, %ax\nmov $7, %di\npusha\nhlt');
    expect(p.w(0x7000 - 2)).toBe(1); // pusha: AX first
    expect(p.w(0x7000 - 16)).toBe(7); // DI last
    expect(p.w(0x7000 - 10)).toBe(0x7000); // original SP
  });

  test('pushf/popf keep reserved bits, popf cannot set VM or RF', () => {
    // TF gets set too: the single-step traps go to an IRET handler
    const m = setup(asm('pushl $0x0023ffff\npopfl\npushfl\npopl %eax\npushl $0\npopfl\nhlt'), { ivt: { 1: [0, 0x600] } });
    m.ram[0x600] = 0xcf;
    expect(m.cpu.run(100).kind).toBe('hlt');
    expect(Number(m.regs().rax)).toBe(0x00207fd7);
  });

  test('TF: single-step trap (#DB) after each instruction, not inside the handler', () => {
    const m = setup(asm('pushf\npop %ax\nor $0x100, %ax\npush %ax\npopf\nnop\nnop\nnop\nhlt'), { ivt: { 1: [0, 0x600] } });
    m.ram.set(asm('inc %bx\niret', 0x600), 0x600);
    expect(m.cpu.run(100).kind).toBe('hlt');
    // traps after: nop, nop, nop, hlt? (hlt stops the run first; its trap is pending)
    expect(m.regs().rbx).toBe(3n);
    expect(m.cpu.run(1).kind).toBe('limit'); // delivers the pending trap, then the handler's inc
    expect(m.regs().rbx).toBe(4n);
  });

  test('mov to/from segment registers, lds/les/lss/lfs/lgs, xlat', () => {
    const m = run16(`
      movw $0x1234, 0x500
      movw $0x0040, 0x502
      lds 0x500, %si
      mov %ds, %ax
      xor %bx, %bx
      mov %bx, %ds
      les 0x500, %di
      lfs 0x500, %cx
      lgs 0x500, %dx
      mov %es, %bp
      movl $0x11223344, 0x510
      movw $0x2000, 0x514
      lssl 0x510, %esp
      mov %ss, %bx
      mov $0x30, %ax
      movb $0x99, 0x33
      mov $0x3, %al
      mov $0x30, %bx
      xlat
      hlt`);
    const r = m.regs();
    const s = m.cpu.getSregs();
    expect(s.ds.selector).toBe(0);
    expect(s.es.selector).toBe(0x40);
    expect(s.es.base).toBe(0x400n);
    expect(s.fs.selector).toBe(0x40);
    expect(s.gs.selector).toBe(0x40);
    expect(s.ss.selector).toBe(0x2000);
    expect(r.rsi).toBe(0x1234n);
    expect(r.rdi).toBe(0x1234n);
    expect(r.rbp).toBe(0x40n);
    expect(r.rsp).toBe(0x11223344n);
    expect(r.rax & 0xffn).toBe(0x99n);
  });

  test('jump beyond the CS limit raises #GP at the jump', () => {
    const m = setup(asm('mov $0x10000, %eax\njmp *%eax\nhlt'), { ivt: { 13: [0, 0x600] } });
    m.ram[0x600] = 0xf4;
    expect(m.cpu.run(10).kind).toBe('hlt');
    expect(m.w(0x7000 - 6)).toBe(0x7c06);
  });

  test('hlt result leaves RIP after the hlt', () => {
    const m = run16('nop\nhlt\nnop');
    expect(m.result).toEqual({ kind: 'hlt' });
    expect(m.regs().rip).toBe(0x7c02n);
  });
});
