import { describe, expect, test } from 'vitest';
import { ARITH, FLAGS, asm, noAssembler, run16, setup } from './helpers.js';

const { CF, PF, AF, ZF, SF, OF } = FLAGS;

/** Run `pre; <op>; pushf; pop %dx; hlt` and return [AX-or-EAX result, arithmetic flags]. */
function flagsAfter(code: string): { ax: number; eax: number; flags: number; undef: number; cpu: ReturnType<typeof run16> } {
  const m = run16(`${code}\npushf\npop %dx\nhlt`);
  expect(m.result.kind).toBe('hlt');
  const r = m.regs();
  return { ax: Number(r.rax & 0xffffn), eax: Number(r.rax & 0xffffffffn), flags: Number(r.rdx) & ARITH, undef: 0, cpu: m };
}

/** Flags right after a single instruction (stepping), plus the undefined mask it reports. */
function stepFlags(setupCode: string, insn: string): { flags: number; undef: number; regs: ReturnType<ReturnType<typeof setup>['regs']> } {
  const pre = asm(setupCode + '\n');
  const all = asm(`${setupCode}\n${insn}\nhlt`);
  const m = setup(all);
  // execute the setup instructions, then exactly one more
  let n = 0;
  while (m.cpu.getRegs().rip < BigInt(0x7c00 + pre.length)) { m.cpu.step(); if (++n > 1000) throw new Error('setup loop'); }
  const r = m.cpu.step();
  expect(r.kind).toBe('limit');
  const regs = m.regs();
  return { flags: Number(regs.rflags) & ARITH, undef: m.cpu.undefinedFlags, regs };
}

describe.skipIf(noAssembler)('add/sub/adc/sbb/inc/dec/neg/cmp flags', () => {
  test('add 8-bit carry and overflow boundaries', () => {
    expect(flagsAfter('mov $0x7f, %al\nadd $1, %al')).toMatchObject({ ax: 0x80, flags: SF | OF | AF });
    expect(flagsAfter('mov $0xff, %al\nadd $1, %al')).toMatchObject({ ax: 0x00, flags: ZF | CF | AF | PF });
    expect(flagsAfter('mov $0x80, %al\nadd $0x80, %al')).toMatchObject({ ax: 0x00, flags: ZF | CF | OF | PF });
    expect(flagsAfter('mov $0x0f, %al\nadd $0x01, %al')).toMatchObject({ ax: 0x10, flags: AF });
  });

  test('add 16-bit and 32-bit (0x66) boundaries', () => {
    expect(flagsAfter('mov $0x7fff, %ax\nadd $1, %ax')).toMatchObject({ ax: 0x8000, flags: SF | OF | AF | PF });
    expect(flagsAfter('mov $0xffff, %ax\nadd $1, %ax')).toMatchObject({ ax: 0, flags: ZF | CF | AF | PF });
    expect(flagsAfter('mov $0x7fffffff, %eax\nadd $1, %eax')).toMatchObject({ eax: 0x80000000, flags: SF | OF | AF | PF });
    expect(flagsAfter('mov $0xffffffff, %eax\nmov $1, %ebx\nadd %ebx, %eax')).toMatchObject({ eax: 0, flags: ZF | CF | AF | PF });
  });

  test('sub / cmp borrow and overflow', () => {
    expect(flagsAfter('mov $0, %al\nsub $1, %al')).toMatchObject({ ax: 0xff, flags: SF | CF | AF | PF });
    expect(flagsAfter('mov $0x80, %al\nsub $1, %al')).toMatchObject({ ax: 0x7f, flags: OF | AF });
    expect(flagsAfter('mov $0x7f, %al\nsub $0xff, %al')).toMatchObject({ ax: 0x80, flags: SF | OF | CF });
    expect(flagsAfter('mov $5, %ax\ncmp $5, %ax')).toMatchObject({ ax: 5, flags: ZF | PF });
    expect(flagsAfter('mov $0x80000000, %eax\ncmp $1, %eax')).toMatchObject({ eax: 0x80000000, flags: OF | AF | PF });
  });

  test('adc / sbb use and produce carry', () => {
    expect(flagsAfter('stc\nmov $0xff, %al\nmov $0, %bl\nadc %bl, %al')).toMatchObject({ ax: 0, flags: ZF | CF | AF | PF });
    expect(flagsAfter('stc\nmov $0x7f, %al\nadc $0, %al')).toMatchObject({ ax: 0x80, flags: SF | OF | AF });
    expect(flagsAfter('stc\nmov $0xffff, %ax\nadc $0xffff, %ax')).toMatchObject({ ax: 0xffff, flags: SF | CF | AF | PF });
    expect(flagsAfter('clc\nmov $0xffff, %ax\nadc $0xffff, %ax')).toMatchObject({ ax: 0xfffe, flags: SF | CF | AF });
    expect(flagsAfter('stc\nmov $0, %al\nsbb $0, %al')).toMatchObject({ ax: 0xff, flags: SF | CF | AF | PF });
    expect(flagsAfter('stc\nmov $5, %al\nsbb $5, %al')).toMatchObject({ ax: 0xff, flags: SF | CF | AF | PF });
    expect(flagsAfter('stc\nmov $0x80, %al\nsbb $0x7f, %al')).toMatchObject({ ax: 0x00, flags: ZF | OF | AF | PF });
    expect(flagsAfter('stc\nmov $0x80000000, %eax\nsbb $0, %eax')).toMatchObject({ eax: 0x7fffffff, flags: OF | AF | PF });
    // multi-precision 32-bit add through 16-bit halves
    const m = run16('mov $0xffff, %ax\nmov $0x0001, %dx\nadd $1, %ax\nadc $0, %dx\nhlt');
    expect(m.regs().rax & 0xffffn).toBe(0n);
    expect(m.regs().rdx & 0xffffn).toBe(2n);
  });

  test('inc/dec preserve CF, set OF at the sign boundary', () => {
    expect(flagsAfter('stc\nmov $0x7f, %al\ninc %al')).toMatchObject({ ax: 0x80, flags: SF | OF | AF | CF });
    expect(flagsAfter('clc\nmov $0xffff, %ax\ninc %ax')).toMatchObject({ ax: 0, flags: ZF | AF | PF });
    expect(flagsAfter('stc\nmov $0x80, %al\ndec %al')).toMatchObject({ ax: 0x7f, flags: OF | AF | CF });
    expect(flagsAfter('clc\nmov $0x80000000, %eax\ndec %eax')).toMatchObject({ eax: 0x7fffffff, flags: OF | AF | PF });
    expect(flagsAfter('clc\nmov $1, %eax\ndec %eax')).toMatchObject({ eax: 0, flags: ZF | PF });
  });

  test('neg: CF unless zero, OF for the most negative value', () => {
    expect(flagsAfter('mov $0, %al\nneg %al')).toMatchObject({ ax: 0, flags: ZF | PF });
    expect(flagsAfter('mov $0x80, %al\nneg %al')).toMatchObject({ ax: 0x80, flags: SF | OF | CF });
    expect(flagsAfter('mov $1, %ax\nneg %ax')).toMatchObject({ ax: 0xffff, flags: SF | CF | AF | PF });
    expect(flagsAfter('mov $0x80000000, %eax\nneg %eax')).toMatchObject({ eax: 0x80000000, flags: SF | OF | CF | PF });
  });

  test('logic ops clear CF/OF, report AF undefined', () => {
    const r = stepFlags('stc\nmov $0xf0, %al', 'and $0x0f, %al');
    expect(r.flags & (CF | OF | ZF | PF)).toBe(ZF | PF);
    expect(r.undef).toBe(AF);
    expect(flagsAfter('mov $0x8000, %ax\nor $1, %ax')).toMatchObject({ ax: 0x8001, flags: SF });
    expect(flagsAfter('mov $0x1234, %ax\nxor %ax, %ax')).toMatchObject({ ax: 0, flags: ZF | PF });
    expect(flagsAfter('mov $0x80000000, %eax\ntest %eax, %eax')).toMatchObject({ eax: 0x80000000, flags: SF | PF });
    expect(flagsAfter('mov $0x5555, %ax\nnot %ax\nor %ax, %ax')).toMatchObject({ ax: 0xaaaa, flags: SF | PF });
  });

  test('memory operands (read-modify-write)', () => {
    const m = run16('movw $0xfffe, 0x500\naddw $3, 0x500\nadcb $0, 0x502\nhlt');
    expect(m.w(0x500)).toBe(1);
    expect(m.ram[0x502]).toBe(1);
  });
});

describe.skipIf(noAssembler)('mul/imul/div/idiv', () => {
  test('mul 8/16/32 and CF=OF for a non-zero high half', () => {
    let r = stepFlags('mov $0x80, %al\nmov $2, %bl', 'mul %bl');
    expect(r.regs.rax & 0xffffn).toBe(0x100n);
    expect(r.flags & (CF | OF)).toBe(CF | OF);
    expect(r.undef).toBe(SF | ZF | AF | PF);
    r = stepFlags('mov $0x1234, %ax\nmov $0x10, %bx', 'mul %bx');
    expect(r.regs.rax & 0xffffn).toBe(0x2340n);
    expect(r.regs.rdx & 0xffffn).toBe(0x1n);
    r = stepFlags('mov $0xffffffff, %eax\nmov $0xffffffff, %ebx', 'mul %ebx');
    expect(r.regs.rax & 0xffffffffn).toBe(1n);
    expect(r.regs.rdx & 0xffffffffn).toBe(0xfffffffen);
    expect(r.flags & (CF | OF)).toBe(CF | OF);
    r = stepFlags('mov $0x10000, %eax\nmov $0xffff, %ebx', 'mul %ebx');
    expect(r.regs.rax & 0xffffffffn).toBe(0xffff0000n);
    expect(r.flags & (CF | OF)).toBe(0);
  });

  test('imul one, two and three operands', () => {
    let r = stepFlags('mov $-2, %al\nmov $3, %bl', 'imul %bl');
    expect(r.regs.rax & 0xffffn).toBe(0xfffan);
    expect(r.flags & (CF | OF)).toBe(0);
    r = stepFlags('mov $-128, %al\nmov $-1, %bl', 'imul %bl');
    expect(r.regs.rax & 0xffffn).toBe(0x0080n);
    expect(r.flags & (CF | OF)).toBe(CF | OF);
    r = stepFlags('mov $-3, %eax\nmov $0x40000000, %ebx', 'imul %ebx');
    expect(r.regs.rax & 0xffffffffn).toBe(0x40000000n);
    expect(r.regs.rdx & 0xffffffffn).toBe(0xffffffffn);
    expect(r.flags & (CF | OF)).toBe(CF | OF);
    r = stepFlags('mov $1000, %bx', 'imul $-7, %bx, %cx');
    expect(r.regs.rcx & 0xffffn).toBe(BigInt(0x10000 - 7000));
    expect(r.flags & (CF | OF)).toBe(0);
    r = stepFlags('mov $300, %bx', 'imul $300, %bx, %cx');
    expect(r.regs.rcx & 0xffffn).toBe(BigInt(90000 & 0xffff));
    expect(r.flags & (CF | OF)).toBe(CF | OF);
    r = stepFlags('mov $-50000, %ecx\nmov $50000, %edx', 'imul %edx, %ecx');
    expect(r.regs.rcx & 0xffffffffn).toBe(BigInt((-2500000000 >>> 0) & 0xffffffff));
    expect(r.flags & (CF | OF)).toBe(CF | OF);
    r = stepFlags('mov $-50000, %ecx\nmov $5000, %edx', 'imul %edx, %ecx');
    expect(r.regs.rcx & 0xffffffffn).toBe(BigInt(-250000000 >>> 0));
    expect(r.flags & (CF | OF)).toBe(0);
  });

  test('div and idiv results, all flags reported undefined', () => {
    let r = stepFlags('mov $1000, %ax\nmov $7, %bl', 'div %bl');
    expect(r.regs.rax & 0xffffn).toBe(BigInt((1000 % 7) << 8 | Math.floor(1000 / 7)));
    expect(r.undef).toBe(ARITH);
    r = stepFlags('mov $0x1, %dx\nmov $0x0, %ax\nmov $3, %cx', 'div %cx');
    expect(r.regs.rax & 0xffffn).toBe(BigInt(Math.floor(0x10000 / 3)));
    expect(r.regs.rdx & 0xffffn).toBe(BigInt(0x10000 % 3));
    r = stepFlags('mov $0x12345678, %edx\nmov $0x9abcdef0, %eax\nmov $0x87654321, %ecx', 'div %ecx');
    const n = 0x123456789abcdef0n;
    expect(r.regs.rax & 0xffffffffn).toBe(n / 0x87654321n);
    expect(r.regs.rdx & 0xffffffffn).toBe(n % 0x87654321n);
    r = stepFlags('mov $-701, %ax\nmov $7, %bl', 'idiv %bl');
    expect(r.regs.rax & 0xffffn).toBe(0xff9cn); // quotient -100, remainder -1
    r = stepFlags('mov $-701, %ax\ncwd\nmov $-7, %bx', 'idiv %bx');
    expect(r.regs.rax & 0xffffn).toBe(100n);
    expect(r.regs.rdx & 0xffffn).toBe(0xffffn);
    r = stepFlags('mov $0xffffffff, %edx\nmov $-100, %eax\nmov $7, %ecx', 'idiv %ecx');
    expect(r.regs.rax & 0xffffffffn).toBe(BigInt(-14 >>> 0));
    expect(r.regs.rdx & 0xffffffffn).toBe(BigInt(-2 >>> 0));
    r = stepFlags('mov $0xfffffffe, %edx\nmov $4, %eax\nmov $4, %ecx', 'idiv %ecx');
    expect(r.regs.rax & 0xffffffffn).toBe(BigInt(((-(2 ** 33) + 4) / 4) >>> 0)); // -2^31 + 1
    expect(r.regs.rdx & 0xffffffffn).toBe(0n);
  });
});

describe.skipIf(noAssembler)('#DE through the IVT', () => {
  const handler = 'hlt'; // handler at 0x0800:0x0010 -> linear 0x8010
  function deSetup(code: string) {
    const m = setup(asm(code), { ivt: { 0: [0x0800, 0x0010] } });
    m.ram.set(asm(handler, 0), 0x8010);
    return m;
  }

  test('divide by zero pushes FLAGS, CS, IP of the faulting div and jumps to the vector', () => {
    const code = asm('sti\nmov $0x1234, %ax\nxor %bl, %bl\ndiv %bl\nhlt');
    const m = deSetup('sti\nmov $0x1234, %ax\nxor %bl, %bl\ndiv %bl\nhlt');
    const r = m.cpu.run(100);
    expect(r.kind).toBe('hlt');
    const s = m.cpu.getSregs();
    const regs = m.regs();
    expect(s.cs.selector).toBe(0x800);
    expect(s.cs.base).toBe(0x8000n);
    expect(regs.rip).toBe(0x11n); // after the handler's hlt
    expect(regs.rsp).toBe(0x7000n - 6n);
    const divIp = 0x7c00 + code.length - 3; // div %bl is 2 bytes, then hlt
    expect(m.w(0x7000 - 6)).toBe(divIp);
    expect(m.w(0x7000 - 4)).toBe(0);
    const pushedFlags = m.w(0x7000 - 2);
    expect(pushedFlags & FLAGS.IF).toBe(FLAGS.IF);
    expect(Number(regs.rflags) & (FLAGS.IF | FLAGS.TF)).toBe(0);
    expect(regs.rax & 0xffffn).toBe(0x1234n); // unchanged
  });

  test('quotient overflow is #DE too (8, 16 and 32 bit, signed and unsigned)', () => {
    for (const code of [
      'mov $0x1000, %ax\nmov $2, %bl\ndiv %bl',
      'mov $2, %dx\nmov $0, %ax\nmov $2, %cx\ndiv %cx',
      'mov $5, %edx\nmov $0, %eax\nmov $5, %ecx\ndiv %ecx',
      'mov $-32768, %ax\ncwd\nmov $-1, %bx\nmov $0x8000, %ax\nmov $0xffff, %dx\nidiv %bx',
      'mov $0x80000000, %eax\ncdq\nmov $-1, %ecx\nidiv %ecx',
      'mov $-128, %al\ncbw\nmov $-1, %bl\nidiv %bl',
      'mov $0xfffffffe, %edx\nmov $0, %eax\nmov $-4, %ecx\nidiv %ecx',
    ]) {
      const m = deSetup(code + '\nhlt');
      m.cpu.run(100);
      expect(m.cpu.getSregs().cs.selector, code).toBe(0x800);
    }
  });
});
