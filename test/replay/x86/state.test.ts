import { describe, expect, test } from 'vitest';
import { Cpu } from '../../../src/replay/x86/index.js';
import { ARITH, FLAGS, FakeSink, asm, noAssembler, realModeSregs, run16, setup, zeroRegs } from './helpers.js';

describe('state exchange', () => {
  test('setState/getRegs/getSregs round-trip full 64-bit values', () => {
    const m = setup(new Uint8Array([0xf4]));
    const regs = { ...zeroRegs(), rax: 0xfedcba9876543210n, r15: 0x8000000000000001n, rsp: 0x123456789abcn, rip: 0x7c00n, rflags: 0x246n };
    const sregs = realModeSregs(0x1234, 0x40, 0x50);
    sregs.fs.base = 0xffff800000001000n;
    sregs.idt = { base: 0x1000n, limit: 0x7ff };
    sregs.efer = 0x500n;
    sregs.cr4 = 0x20n;
    m.cpu.setState(regs, sregs);
    expect(m.cpu.getRegs()).toEqual(regs);
    expect(m.cpu.getSregs()).toEqual(sregs);
  });

  test.skipIf(noAssembler)(`16/32-bit register writes keep the upper 32 bits as given${noAssembler ? ` [skipped: ${noAssembler}]` : ''}`, () => {
    const m = setup(asm('mov $0x1234, %ax\nmov $0x55667788, %ebx\nadd $1, %cl\nmov %ch, %dl\nhlt'), {
      regs: { rax: 0xaaaaaaaa00000000n, rbx: 0xbbbbbbbb00000000n, rcx: 0xcccccccc0000ff00n, rdx: 0xdddddddd00000000n },
    });
    m.runToHlt();
    const r = m.regs();
    expect(r.rax).toBe(0xaaaaaaaa00001234n);
    expect(r.rbx).toBe(0xbbbbbbbb55667788n);
    expect(r.rcx).toBe(0xcccccccc0000ff01n);
    expect(r.rdx).toBe(0xdddddddd000000ffn);
  });

  test('CPUID writes zero-extended 64-bit outputs (KVM) from the entry list', () => {
    const cpuid = [
      { function: 0, index: 0, flags: 0, eax: 0xd, ebx: 0x68747541, ecx: 0x444d4163, edx: 0x69746e65 },
      { function: 7, index: 0, flags: 1, eax: 0, ebx: 0x219c97a9, ecx: 0, edx: 0 },
      { function: 7, index: 1, flags: 1, eax: 0x11, ebx: 0, ecx: 0, edx: 0 },
      { function: 0xd, index: 0, flags: 1, eax: 7, ebx: 0x340, ecx: 0x340, edx: 0 },
      { function: 0x80000000, index: 0, flags: 0, eax: 0x80000008, ebx: 0, ecx: 0, edx: 0 },
    ];
    const q = (eax: number, ecx: number) => {
      const m = setup(new Uint8Array([0x0f, 0xa2, 0xf4]), { cpuid, regs: { rax: BigInt(eax) | 0xffff00000000n, rcx: BigInt(ecx), rbx: 0x1234500000000n } });
      m.cpu.step();
      const r = m.regs();
      return [r.rax, r.rbx, r.rcx, r.rdx].map(Number);
    };
    expect(q(0, 0)).toEqual([0xd, 0x68747541, 0x444d4163, 0x69746e65]);
    expect(q(7, 0)).toEqual([0, 0x219c97a9, 0, 0]);
    expect(q(7, 1)).toEqual([0x11, 0, 0, 0]);
    expect(q(0xd, 5)).toEqual([0, 0, 0, 0]); // significant index, no entry
    expect(q(0x20, 0)).toEqual([0, 0, 0, 0]); // AMD guest vendor: out of range -> zeros
    // Intel guest vendor: out-of-range leaves answer with the highest basic leaf
    cpuid[0] = { function: 0, index: 0, flags: 0, eax: 0xd, ebx: 0x756e6547, ecx: 0x6c65746e, edx: 0x49656e69 };
    expect(q(0x20, 0)).toEqual([7, 0x340, 0x340, 0]);
    expect(q(0x80000009, 0)).toEqual([7, 0x340, 0x340, 0]);
    expect(q(0x80000001, 0)).toEqual([0, 0, 0, 0]); // in range but missing -> zeros
  });
});

describe.skipIf(noAssembler)('undefined flags reporting', () => {
  test('undefinedFlags is per instruction and adoptFlags forces values', () => {
    const m = setup(asm('mov $3, %al\nmov $5, %bl\nmul %bl\nadd $1, %al\nhlt'));
    m.cpu.run(3);
    expect(m.cpu.undefinedFlags).toBe(FLAGS.SF | FLAGS.ZF | FLAGS.AF | FLAGS.PF);
    m.cpu.adoptFlags(FLAGS.SF | FLAGS.ZF, FLAGS.ZF);
    expect(Number(m.regs().rflags) & (FLAGS.SF | FLAGS.ZF)).toBe(FLAGS.ZF);
    m.cpu.run(1);
    expect(m.cpu.undefinedFlags).toBe(0);
  });

  test('instructions with all flags defined report 0', () => {
    const m = setup(asm('add %ax, %bx\nhlt'));
    m.cpu.step();
    expect(m.cpu.undefinedFlags).toBe(0);
  });

  test('bsf/bsr: source 0 sets ZF and keeps the destination', () => {
    const m = run16('mov $0x1234, %ax\nxor %bx, %bx\nbsf %bx, %ax\npushf\npop %cx\nmov $0x8010, %bx\nbsr %bx, %dx\nbsf %bx, %si\nhlt');
    const r = m.regs();
    expect(r.rax).toBe(0x1234n);
    expect(Number(r.rcx) & FLAGS.ZF).toBe(FLAGS.ZF);
    expect(r.rdx).toBe(15n);
    expect(r.rsi).toBe(4n);
    expect(Number(r.rflags) & FLAGS.ZF).toBe(0);
  });
});

describe.skipIf(noAssembler)('more integer instructions', () => {
  test('bt/bts/btr/btc: register forms, immediate forms, memory with a register offset beyond the operand', () => {
    const m = run16(`
      mov $0x0005, %ax
      bt $2, %ax
      setc %bl
      bts $1, %ax
      btr $0, %ax
      btc $15, %ax
      movw $0, 0x600
      movw $0, 0x602
      mov $19, %cx
      bts %cx, 0x600      # word at 0x600 + 2*(19/16) = 0x602, bit 3
      mov $-1, %dx
      bts %dx, 0x602      # offset -1: word at 0x600, bit 15
      movl $0, 0x700
      mov $35, %ecx
      btsl %ecx, 0x6fc    # dword at 0x6fc + 4*1 = 0x700, bit 3
      bt $33, %ax         # imm masked to 1
      setc %bh
      hlt`);
    const r = m.regs();
    expect(Number(r.rax & 0xffffn)).toBe(0x8006);
    expect(r.rbx & 0xffn).toBe(1n);
    expect(m.w(0x602)).toBe(0x0008);
    expect(m.w(0x600)).toBe(0x8000);
    expect(m.ram[0x700]).toBe(0x08);
    expect(r.rbx >> 8n & 0xffn).toBe(1n);
  });

  test('setcc/cmovcc, movzx/movsx, cbw/cwde/cwd/cdq, xchg, xadd, cmpxchg, bswap', () => {
    const m = run16(`
      mov $0x80, %al
      cbw
      mov %ax, %bx
      cwde
      mov %eax, %ecx
      cdq
      mov %edx, %esi
      movsbw %al, %di
      movzbl %al, %ebp
      cmp $1, %bx
      setl %dl
      cmovl %bx, %sp
      mov $0x7000, %sp
      hlt`);
    const r = m.regs();
    expect(r.rbx).toBe(0xff80n);
    expect(r.rcx).toBe(0xffffff80n);
    expect(r.rsi).toBe(0xffffffffn);
    expect(r.rdi).toBe(0xff80n);
    expect(r.rbp).toBe(0x80n);
    expect(r.rdx & 0xffn).toBe(1n);

    const m2 = run16(`
      mov $1, %ax
      mov $2, %bx
      xchg %ax, %bx
      movw $10, 0x600
      mov $5, %cx
      xadd %cx, 0x600
      mov $15, %ax
      mov $99, %dx
      cmpxchg %dx, 0x600   # equal: [0x600] = 99, ZF=1
      setz %dl
      mov $1, %ax
      cmpxchg %bx, 0x600   # not equal: AX = 99
      mov $0x11223344, %esi
      bswap %esi
      hlt`);
    const r2 = m2.regs();
    expect(r2.rbx).toBe(1n);
    expect(r2.rcx).toBe(10n);
    expect(m2.w(0x600)).toBe(99);
    expect(r2.rdx & 0xffn).toBe(1n);
    expect(r2.rax).toBe(99n);
    expect(r2.rsi).toBe(0x44332211n);
  });

  test('lgdt/lidt/sgdt/sidt/smsw and lahf/sahf/salc', () => {
    const m = run16(`
      movw $0x27, 0x600
      movl $0x12345678, 0x602
      lgdt 0x600
      lidtl 0x600
      sgdt 0x610
      smsw %ax
      mov $0xd5, %ah
      sahf
      lahf
      mov %ah, %bl
      stc
      .byte 0xd6
      hlt`);
    const s = m.cpu.getSregs();
    expect(s.gdt).toEqual({ base: 0x345678n, limit: 0x27 });
    expect(s.idt).toEqual({ base: 0x12345678n, limit: 0x27 });
    expect([...m.ram.subarray(0x610, 0x616)]).toEqual([0x27, 0, 0x78, 0x56, 0x34, 0]);
    const r = m.regs();
    expect(r.rbx & 0xffn).toBe(0xd7n);
    expect(r.rax & 0xffn).toBe(0xffn);
    expect(r.rax >> 8n & 0xffn).toBe(0xd7n); // lahf after sahf
  });

  test('push sreg with 32-bit operand size: AMD zero-extends, Intel writes 16 bits', () => {
    for (const vendor of ['amd', 'intel'] as const) {
      const m = setup(asm('movl $0xffffffff, %ss:0x6ffc\npushl %ds\nhlt'), { vendor, sregs: realModeSregs(0, 0x1234, 0) });
      m.runToHlt();
      const hi = m.w(0x6ffe);
      expect(m.w(0x6ffc)).toBe(0x1234);
      expect(hi).toBe(vendor === 'amd' ? 0 : 0xffff);
    }
  });
});

describe.skipIf(noAssembler)('run/step semantics and the decode cache', () => {
  test('run(n) stops after n instructions; step() = run(1); instructions counts', () => {
    const m = setup(asm('1: inc %ax\njmp 1b'));
    expect(m.cpu.run(0)).toEqual({ kind: 'limit' });
    expect(m.cpu.run(1001)).toEqual({ kind: 'limit' });
    expect(m.cpu.instructions).toBe(1001);
    expect(m.regs().rax).toBe(501n);
    expect(m.cpu.step()).toEqual({ kind: 'limit' });
    expect(m.cpu.instructions).toBe(1002);
  });

  test('self-modifying code is seen immediately', () => {
    // the store rewrites the immediate of the following mov
    const m = run16(`
      movb $0x42, 1f+1
    1: mov $0x11, %al
      hlt`);
    expect(m.regs().rax & 0xffn).toBe(0x42n);
  });

  test('self-modifying code in a loop (cached instruction rewritten on a later iteration)', () => {
    const m = run16(`
      mov $3, %cx
    2: addb $1, %bl
      movb $0x02, 2b+2    # turns "add $1, %bl" into "add $2, %bl"
      loop 2b
      hlt`);
    expect(m.regs().rbx & 0xffn).toBe(5n);
  });

  test('code changed by the caller between runs is re-read', () => {
    const m = setup(asm('1: mov $1, %al\njmp 1b'));
    m.cpu.run(10);
    expect(m.regs().rax & 0xffn).toBe(1n);
    m.ram[0x7c01] = 7;
    m.cpu.run(2);
    expect(m.regs().rax & 0xffn).toBe(7n);
  });

  test('a Cpu is independent of other instances', () => {
    const ram = new Uint8Array(0x10000);
    ram.set([0x40, 0xf4], 0x100);
    const a = new Cpu({ ram: [{ base: 0, bytes: ram }], sink: new FakeSink(), cpuid: [], vendor: 'amd' });
    a.setState({ ...zeroRegs(), rip: 0x100n }, realModeSregs());
    expect(a.run(10).kind).toBe('hlt');
    expect(a.getRegs().rax).toBe(1n);
    expect(a.undefinedFlags & ARITH).toBe(0);
  });
});
