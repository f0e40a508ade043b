import { describe, expect, test } from 'vitest';
import { FLAGS, asm, noAssembler, run16, setup } from './helpers.js';

describe.skipIf(noAssembler)('string instructions', () => {
  test('rep movsb forward copies CX bytes, advances SI/DI, clears CX', () => {
    const m = setup(asm('cld\nmov $0x1000, %si\nmov $0x2000, %di\nmov $5, %cx\nrep movsb\nhlt'));
    m.ram.set([1, 2, 3, 4, 5, 6], 0x1000);
    expect(m.runToHlt().kind).toBe('hlt');
    expect([...m.ram.subarray(0x2000, 0x2006)]).toEqual([1, 2, 3, 4, 5, 0]);
    const r = m.regs();
    expect([r.rsi, r.rdi, r.rcx]).toEqual([0x1005n, 0x2005n, 0n]);
  });

  test('rep movsw backwards with DF=1', () => {
    const m = setup(asm('std\nmov $0x1004, %si\nmov $0x2004, %di\nmov $3, %cx\nrep movsw\ncld\nhlt'));
    m.ram.set([1, 2, 3, 4, 5, 6], 0x1000);
    m.runToHlt();
    expect([...m.ram.subarray(0x2000, 0x2006)]).toEqual([1, 2, 3, 4, 5, 6]);
    expect(m.regs().rsi).toBe(0x0ffen);
    expect(m.regs().rdi).toBe(0x1ffen);
  });

  test('movsd with segment override and ES destination', () => {
    const m = setup(asm('mov $0x100, %ax\nmov %ax, %es\nmov $0x10, %si\nxor %di, %di\nmovsl %cs:(%si), %es:(%di)\nhlt'));
    m.ram.set([0xde, 0xad, 0xbe, 0xef], 0x10); // CS base is 0
    m.runToHlt();
    expect([...m.ram.subarray(0x1000, 0x1004)]).toEqual([0xde, 0xad, 0xbe, 0xef]);
    expect(m.regs().rsi).toBe(0x14n);
  });

  test('rep stosw / stosd and lodsb', () => {
    const m = setup(asm('mov $0x3000, %di\nmov $0xabcd, %ax\nmov $4, %cx\nrep stosw\nmov $0x11223344, %eax\nstosl\nmov $0x3001, %si\nlodsb\nhlt'));
    m.runToHlt();
    expect([...m.ram.subarray(0x3000, 0x300c)]).toEqual([0xcd, 0xab, 0xcd, 0xab, 0xcd, 0xab, 0xcd, 0xab, 0x44, 0x33, 0x22, 0x11]);
    expect(m.regs().rax & 0xffn).toBe(0xabn);
  });

  test('repe cmpsb stops at the first difference; repne scasb finds a byte', () => {
    const m = setup(asm('mov $0x1000, %si\nmov $0x2000, %di\nmov $10, %cx\nrepe cmpsb\nmov %cx, %bx\npushf\npop %dx\nmov $0x2100, %di\nmov $10, %cx\nmov $0x33, %al\nrepne scasb\nhlt'));
    m.ram.set([1, 2, 3, 4, 5], 0x1000);
    m.ram.set([1, 2, 3, 9, 5], 0x2000);
    m.ram[0x2102] = 0x33;
    m.runToHlt();
    const r = m.regs();
    expect(r.rbx).toBe(6n); // 4 compared
    expect(Number(r.rdx) & FLAGS.ZF).toBe(0);
    expect(r.rdi).toBe(0x2103n); // one past the match
    expect(r.rcx).toBe(7n);
    expect(Number(r.rflags) & FLAGS.ZF).toBe(FLAGS.ZF);
  });

  test('rep with CX=0 does nothing', () => {
    const m = run16('mov $0x1000, %si\nmov $0x2000, %di\nxor %cx, %cx\nrep movsb\nrepe cmpsb\nhlt');
    const r = m.regs();
    expect([r.rsi, r.rdi]).toEqual([0x1000n, 0x2000n]);
  });

  test('16-bit address size wraps SI/DI at 64 KiB; 32-bit (0x67) uses ECX/ESI/EDI', () => {
    let m = setup(asm('mov $0xffff, %si\nmov $0x10, %di\nmov $2, %cx\nrep movsb\nhlt'));
    m.ram[0xffff] = 0xaa;
    m.ram[0x0] = 0xbb;
    m.runToHlt();
    expect(m.regs().rsi).toBe(0x0001n);
    expect([m.ram[0x10], m.ram[0x11]]).toEqual([0xaa, 0xbb]);

    m = setup(asm('mov $0x12345, %esi\nmov $0x20000, %edi\nmov $3, %ecx\naddr32 rep movsb\nmov $0x10002, %ecx\nmov $0x40000, %edi\nmov $0x77, %al\naddr32 rep stosb\nhlt'));
    // unreal mode is needed for offsets > 0xffff: raise DS/ES limits
    const s = m.cpu.getSregs();
    s.ds.limit = 0xffffffff;
    s.es.limit = 0xffffffff;
    m.cpu.setState(m.cpu.getRegs(), s);
    m.ram.set([7, 8, 9], 0x12345);
    expect(m.runToHlt().kind).toBe('hlt');
    expect([...m.ram.subarray(0x20000, 0x20003)]).toEqual([7, 8, 9]);
    expect(m.regs().rsi).toBe(0x12348n);
    expect(m.regs().rcx).toBe(0n);
    expect(m.regs().rdi).toBe(0x50002n); // 0x10002 bytes stored: ECX, not CX, was the count
    expect(m.ram[0x50001]).toBe(0x77);
    expect(m.ram[0x50002]).toBe(0);
  });

  test('32-bit address beyond the 0xffff real-mode limit raises #GP', () => {
    const m = setup(asm('mov $0x10000, %esi\naddr32 lodsb\nhlt'), { ivt: { 13: [0, 0x600] } });
    m.ram[0x600] = 0xf4;
    expect(m.runToHlt().kind).toBe('hlt');
    expect(m.regs().rip).toBe(0x601n);
    expect(m.w(0x7000 - 6)).toBe(0x7c06); // IP of the lodsb (after the 6-byte mov)
  });
});
