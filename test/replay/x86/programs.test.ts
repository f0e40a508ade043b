// Small complete programs: results checked against the same computation in JS.

import { describe, expect, test } from 'vitest';
import { asm, noAssembler, setup } from './helpers.js';

function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
  }
  return (c ^ 0xffffffff) >>> 0;
}

describe.skipIf(noAssembler)('programs', () => {
  test('CRC-32 of a buffer with 32-bit registers, written to a port', () => {
    const m = setup(asm(`
      mov $0x1000, %si
      mov $300, %cx
      mov $0xffffffff, %eax
    1: xor %edx, %edx
      movb (%si), %dl
      xor %edx, %eax
      mov $8, %bx
    2: shr $1, %eax
      jnc 3f
      xor $0xedb88320, %eax
    3: dec %bx
      jnz 2b
      inc %si
      loop 1b
      not %eax
      mov $0x500, %dx
      out %eax, %dx
      hlt`));
    const data = new Uint8Array(300).map((_, k) => (k * 37 + 11) & 0xff);
    m.ram.set(data, 0x1000);
    expect(m.cpu.run(1e6)).toEqual({ kind: 'exit', exit: 'io' });
    expect(m.sink.log[0]).toEqual({ kind: 'out', addr: 0x500, size: 4, value: crc32(data) });
    expect(m.cpu.run(10).kind).toBe('hlt');
  });

  test('sieve of Eratosthenes with string instructions and a far subroutine', () => {
    const m = setup(asm(`
      # fill 0x2000..0x2000+N with 1 (rep stosb), then cross out multiples
      mov $0x200, %ax
      mov %ax, %es
      xor %di, %di
      mov $1, %al
      mov $1000, %cx
      cld
      rep stosb
      movb $0, %es:0
      movb $0, %es:1
      mov $2, %si
    outer:
      mov %si, %ax
      mul %si
      cmp $1000, %ax
      jae count
      cmpb $0, %es:(%si)
      je next
      mov %ax, %di
    inner:
      movb $0, %es:(%di)
      add %si, %di
      cmp $1000, %di
      jb inner
    next:
      inc %si
      jmp outer
    count:
      lcall $0x0300, $0x0000
      hlt`));
    // far subroutine at 0300:0000 counting the ones with scasb
    m.ram.set(asm(`
      xor %di, %di
      mov $1000, %cx
      xor %bx, %bx
      mov $1, %al
    1: repne scasb
      jne 2f
      inc %bx
      jcxz 2f
      jmp 1b
    2: lret`, 0), 0x3000);
    expect(m.cpu.run(1e6).kind).toBe('hlt');
    let primes = 0;
    for (let n = 2; n < 1000; n++) {
      let p = true;
      for (let d = 2; d * d <= n; d++) if (n % d === 0) { p = false; break; }
      if (p) primes++;
    }
    expect(Number(m.regs().rbx)).toBe(primes);
  });

  test('interrupt-driven style: BIOS-like int 0x10 handler printing through port IO', () => {
    const m = setup(asm(`
      mov $msg, %si
    1: lodsb
      test %al, %al
      jz 2f
      mov $0x0e, %ah
      int $0x10
      jmp 1b
    2: hlt
    msg: .asciz "Hi!"`), { ivt: { 0x10: [0xf000, 0x0100] } });
    m.ram.set(asm('push %dx\nmov $0x3f8, %dx\nout %al, %dx\npop %dx\niret', 0x100), 0xf0100);
    const out: number[] = [];
    for (;;) {
      const r = m.cpu.run(1000);
      if (r.kind === 'hlt') break;
      expect(r).toEqual({ kind: 'exit', exit: 'io' });
      out.push(Number(m.sink.log.at(-1)!.value));
    }
    expect(String.fromCharCode(...out)).toBe('Hi!');
    expect(m.regs().rsp).toBe(0x7000n);
  });
});
