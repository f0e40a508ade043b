import { describe, expect, test } from 'vitest';
import { asm, noAssembler, setup } from './helpers.js';

describe.skipIf(noAssembler)('port IO and MMIO through the sink', () => {
  test('in/out imm8 and dx forms, b/w/d; run() stops after each IO instruction', () => {
    const m = setup(asm(`
      mov $0x41, %al
      out %al, $0x80
      mov $0x3f8, %dx
      mov $0x1234, %ax
      out %ax, %dx
      mov $0xdeadbeef, %eax
      out %eax, %dx
      in $0x60, %al
      in %dx, %ax
      in %dx, %eax
      hlt`));
    m.sink.ports.set(0x60, [0xab]);
    m.sink.ports.set(0x3f8, [0x5678, 0x9abcdef0]);
    const results = [];
    for (let k = 0; k < 7; k++) results.push(m.cpu.run(1000).kind);
    expect(results).toEqual(['exit', 'exit', 'exit', 'exit', 'exit', 'exit', 'hlt']);
    expect(m.sink.log).toEqual([
      { kind: 'out', addr: 0x80, size: 1, value: 0x41 },
      { kind: 'out', addr: 0x3f8, size: 2, value: 0x1234 },
      { kind: 'out', addr: 0x3f8, size: 4, value: 0xdeadbeef },
      { kind: 'in', addr: 0x60, size: 1, value: 0xab },
      { kind: 'in', addr: 0x3f8, size: 2, value: 0x5678 },
      { kind: 'in', addr: 0x3f8, size: 4, value: 0x9abcdef0 },
    ]);
    expect(m.regs().rax).toBe(0x9abcdef0n);
  });

  test('the exit result comes with the registers after the instruction', () => {
    const m = setup(asm('in $0x71, %al\nhlt'));
    m.sink.ports.set(0x71, [0x33]);
    expect(m.cpu.run(10)).toEqual({ kind: 'exit', exit: 'io' });
    expect(m.regs().rip).toBe(0x7c02n);
    expect(m.regs().rax & 0xffn).toBe(0x33n);
  });

  test('a 16-bit IN merges into RAX, a 32-bit IN zero-extends RAX (KVM semantics)', () => {
    const m = setup(asm('in $0x10, %ax\nin $0x10, %eax\nhlt'), { regs: { rax: 0x1122334455667788n } });
    m.sink.ports.set(0x10, [0xaaaa, 0xbbbbbbbb]);
    m.cpu.run(1);
    expect(m.regs().rax).toBe(0x112233445566aaaan);
    m.cpu.run(1);
    expect(m.regs().rax).toBe(0xbbbbbbbbn);
  });

  test('MMIO reads and writes outside RAM go to the sink', () => {
    const ram = new Uint8Array(0x10000 * 8); // 512 KiB: 0x80000 and up is MMIO
    const m = setup(asm(`
      mov $0x9000, %ax
      mov %ax, %ds
      movw $0x1234, 0x10
      mov 0x20, %ebx
      addb $1, 0x30
      hlt`), { ram: [{ base: 0, bytes: ram }] });
    m.sink.mmio.set(0x90020, 0xcafebaben);
    m.sink.mmio.set(0x90030, 0x41n);
    expect(m.cpu.run(100)).toEqual({ kind: 'exit', exit: 'mmio' });
    expect(m.cpu.run(100)).toEqual({ kind: 'exit', exit: 'mmio' });
    expect(m.regs().rbx).toBe(0xcafebaben);
    expect(m.cpu.run(100)).toEqual({ kind: 'exit', exit: 'mmio' });
    expect(m.cpu.run(100).kind).toBe('hlt');
    expect(m.sink.log).toEqual([
      { kind: 'mmioWrite', addr: 0x90010, size: 2, value: 0x1234n },
      { kind: 'mmioRead', addr: 0x90020, size: 4, value: 0xcafebaben },
      { kind: 'mmioRead', addr: 0x90030, size: 1, value: 0x41n },
      { kind: 'mmioWrite', addr: 0x90030, size: 1, value: 0x42n },
    ]);
  });

  test('an access straddling RAM and MMIO is split per byte', () => {
    const ram = new Uint8Array(0x80000);
    ram[0x7ffff] = 0x11;
    const m = setup(asm('mov $0x7fff, %ax\nmov %ax, %ds\nmov 0xf, %bx\nmovw $0xabcd, 0xf\nhlt'), { ram: [{ base: 0, bytes: ram }] });
    m.sink.mmio.set(0x80000, 0x22n);
    m.cpu.run(100);
    expect(m.regs().rbx).toBe(0x2211n);
    m.cpu.run(100);
    expect(ram[0x7ffff]).toBe(0xcd);
    expect(m.sink.log).toEqual([
      { kind: 'mmioRead', addr: 0x80000, size: 1, value: 0x22n },
      { kind: 'mmioWrite', addr: 0x80000, size: 1, value: 0xabn },
    ]);
  });

  test('several RAM regions', () => {
    const low = new Uint8Array(0x10000);
    const high = new Uint8Array(0x1000);
    low.set(asm('mov $0x2000, %ax\nmov %ax, %ds\nmovb $7, 0x5\nmov 0x5, %cl\nhlt'), 0x7c00);
    const m = setup(new Uint8Array(0), { ram: [{ base: 0, bytes: low }, { base: 0x20000, bytes: high }] });
    expect(m.cpu.run(100).kind).toBe('hlt');
    expect(high[5]).toBe(7);
    expect(m.regs().rcx).toBe(7n);
    expect(m.sink.log).toEqual([]);
  });
});
