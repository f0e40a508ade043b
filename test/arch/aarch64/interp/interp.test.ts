import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { A64Cpu, disassemble } from '../../../../src/arch/aarch64/interp/index.js';

const RAM = 0x4000_0000;

function cpuWith(words: number[] | Uint8Array): A64Cpu {
  const bytes = new Uint8Array(1 << 20);
  if (words instanceof Uint8Array) bytes.set(words);
  else words.forEach((w, i) => new DataView(bytes.buffer).setUint32(i * 4, w, true));
  const cpu = new A64Cpu([{ base: RAM, bytes }]);
  const regs = new Uint8Array(280);
  const v = new DataView(regs.buffer);
  v.setBigUint64(32 * 8, BigInt(RAM + (1 << 20)), true);
  v.setBigUint64(33 * 8, BigInt(RAM), true);
  v.setBigUint64(34 * 8, 0x3c5n, true);
  cpu.setRegsBytes(regs);
  const sys = new Uint8Array(104);
  new DataView(sys.buffer).setBigUint64(2 * 8, 0x30d00800n, true);
  cpu.setSysregsBytes(sys);
  return cpu;
}

const sysreg = (cpu: A64Cpu, i: number): bigint => {
  const b = new Uint8Array(104);
  cpu.getSysregsBytes(b);
  return new DataView(b.buffer).getBigUint64(i * 8, true);
};

describe('A64 interpreter, inline words', () => {
  it('adds, sets flags with subs and stops at hvc past it', () => {
    // movz x0,#5; add x1,x0,#3; subs x2,x1,#8; hvc #0
    const cpu = cpuWith([0xd28000a0, 0x91000c01, 0xf1002022, 0xd4000002]);
    expect(cpu.run(10)).toEqual({ kind: 'hvc', imm: 0 });
    expect(cpu.getX(1)).toBe(8n);
    const r = new Uint8Array(280);
    cpu.getRegsBytes(r);
    expect(new DataView(r.buffer).getBigUint64(34 * 8, true)).toBe(0x3c5n | (1n << 30n) | (1n << 29n)); // Z and C
    expect(cpu.pc).toBe(BigInt(RAM + 16));
    expect(cpu.instructions).toBe(4);
  });

  it('takes udf #0 to VBAR_EL1+0x200 with ESR EC 0, ELR at the instruction, EL1h masked', () => {
    // movz x1,#0x4000,lsl #16; add x1,x1,#0x800; msr vbar_el1,x1; udf #0
    const cpu = cpuWith([0xd2a80001, 0x91200021, 0xd518c001, 0x00000000]);
    for (let i = 0; i < 3; i++) cpu.step();
    cpu.sysregsWritten = false;
    expect(cpu.step()).toEqual({ kind: 'budget' });
    expect(cpu.pc).toBe(0x4000_0a00n);
    expect(sysreg(cpu, 8)).toBe(0x0200_0000n); // ESR: EC 0, IL
    expect(sysreg(cpu, 0)).toBe(BigInt(RAM + 12)); // ELR
    expect(cpu.sysregsWritten).toBe(true);
  });

  it('stops a load outside RAM before it retires and completes it with the read data', () => {
    // movz x1,#0x0900,lsl #16; ldrsb x0,[x1,#4]
    const cpu = cpuWith([0xd2a12001, 0x39801020]);
    cpu.step();
    expect(cpu.step()).toMatchObject({ kind: 'mmio', address: 0x0900_0004, length: 1, write: false, isv: true });
    expect(cpu.pc).toBe(BigInt(RAM + 4));
    cpu.completeMmio(Uint8Array.of(0x80));
    expect(cpu.getX(0)).toBe(0xffff_ffff_ffff_ff80n);
    expect(cpu.pc).toBe(BigInt(RAM + 8));
  });

  it('reports a pair store to MMIO as not decodable (isv false)', () => {
    // movz x1,#0x0900,lsl #16; stp x2,x3,[x1]
    const cpu = cpuWith([0xd2a12001, 0xa9000c22]);
    cpu.step();
    expect(cpu.step()).toMatchObject({ kind: 'mmio', write: true, isv: false, length: 8 });
  });

  it('traps an FP instruction with CPACR_EL1.FPEN clear (EC 0x07)', () => {
    const cpu = cpuWith([0x1e602000]); // fcmp d0, d0
    cpu.step();
    expect(sysreg(cpu, 8) >> 26n).toBe(0x07n);
  });

  it('disassembles like objdump', () => {
    expect(disassemble(0xd28000a0, 0n)).toBe('mov x0, #0x5');
    expect(disassemble(0xf1002022, 0n)).toBe('subs x2, x1, #0x8');
    expect(disassemble(0x54000041, 0x4000_0000n)).toBe('b.ne 0x40000008');
    expect(disassemble(0xa9bf7bfd, 0n)).toBe('stp x29, x30, [sp, #-16]!');
    expect(disassemble(0xd65f03c0, 0n)).toBe('ret');
  });
});

function hasTool(t: string): boolean {
  try { execFileSync(t, ['--version'], { stdio: 'ignore' }); return true; } catch { return false; }
}
const AS = 'aarch64-linux-gnu-as';
const OBJCOPY = 'aarch64-linux-gnu-objcopy';
const OBJDUMP = 'aarch64-linux-gnu-objdump';
const TOOLS = hasTool(AS) && hasTool(OBJCOPY) && hasTool(OBJDUMP);

function assemble(src: string): { bin: Uint8Array; obj: string } {
  const dir = mkdtempSync(join(tmpdir(), 'a64-'));
  writeFileSync(join(dir, 'a.S'), src);
  execFileSync(AS, ['-o', join(dir, 'a.o'), join(dir, 'a.S')]);
  execFileSync(OBJCOPY, ['-O', 'binary', join(dir, 'a.o'), join(dir, 'a.bin')]);
  return { bin: new Uint8Array(readFileSync(join(dir, 'a.bin'))), obj: join(dir, 'a.o') };
}

describe.skipIf(!TOOLS)(`A64 interpreter, assembled snippets${TOOLS ? '' : ' (skipped: no aarch64-linux-gnu binutils)'}`, () => {
  it('computes bitfields, logical immediates, multiplies, divides and conditional ops', () => {
    const { bin } = assemble(`
      movz x0, #0x1234, lsl #16
      movk x0, #0x5678
      ubfx x1, x0, #8, #12
      sbfx x2, x0, #28, #4
      and x3, x0, #0xff00ff00ff00ff00
      orr w4, wzr, #0x0f0f0f0f
      mov x5, #-7
      mov x6, #2
      sdiv x7, x5, x6
      udiv x8, x5, xzr
      umulh x9, x5, x5
      cmp x6, #2
      csinc x10, x6, x5, ne
      ccmp x6, #3, #0b0100, eq
      cset w11, eq
      clz x12, x0
      rev w13, w0
      bfi x14, x0, #32, #8
      lsl w15, w0, #4
      asr x16, x5, #1
      extr x17, x0, x5, #16
      hvc #0
    `);
    const cpu = cpuWith(bin);
    expect(cpu.run(100)).toEqual({ kind: 'hvc', imm: 0 });
    const x = (n: number): bigint => cpu.getX(n);
    expect(x(0)).toBe(0x12345678n);
    expect(x(1)).toBe(0x456n);
    expect(x(2)).toBe(1n);
    expect(x(3)).toBe(0x12005600n & 0xff00ff00ff00ff00n);
    expect(x(4)).toBe(0x0f0f0f0fn);
    expect(x(7)).toBe(BigInt.asUintN(64, -3n));
    expect(x(8)).toBe(0n);
    expect(x(9)).toBe(0xfffffffffffffff2n);
    expect(x(10)).toBe(BigInt.asUintN(64, -6n));
    expect(x(11)).toBe(0n); // ccmp 2-3 -> not equal
    expect(x(12)).toBe(35n);
    expect(x(13)).toBe(0x78563412n);
    expect(x(14)).toBe(0x78_0000_0000n);
    expect(x(15)).toBe(0x23456780n);
    expect(x(16)).toBe(BigInt.asUintN(64, -4n));
    expect(x(17)).toBe(((0x12345678n << 64n | BigInt.asUintN(64, -7n)) >> 16n) & 0xffffffffffffffffn);
  });

  it('delivers svc through VBAR_EL1 and returns with eret; walks page tables when the MMU is on', () => {
    const { bin } = assemble(`
      adr x0, vectors
      msr vbar_el1, x0
      // identity map 1 GiB at 0x40000000 with a level-1 block (T0SZ=32: start at level 1)
      adr x1, l1
      movz x2, #0x401           // block, AF
      movk x2, #0x4000, lsl #16
      str x2, [x1, #8]
      msr ttbr0_el1, x1
      mov x3, #32
      msr tcr_el1, x3
      mrs x4, sctlr_el1
      orr x4, x4, #1
      msr sctlr_el1, x4
      isb
      mov x5, #7
      svc #0x42
      add x5, x5, #1
      movz x6, #0x8000, lsl #16  // unmapped: translation fault at level 1
      ldr x7, [x6]
      hvc #0
      .balign 2048
    vectors:
      .skip 0x200
      mrs x9, esr_el1
      mrs x10, elr_el1
      lsr x11, x9, #26
      cmp x11, #0x15
      b.ne 1f
      mul x5, x5, x5
      eret
    1: mrs x12, far_el1
      add x10, x10, #4
      msr elr_el1, x10
      eret
      .balign 4096
    l1: .skip 4096
    `);
    const cpu = cpuWith(bin);
    expect(cpu.run(200)).toEqual({ kind: 'hvc', imm: 0 });
    expect(cpu.getX(5)).toBe(50n);
    expect(cpu.getX(9) >> 26n).toBe(0x25n);
    expect(cpu.getX(9) & 0x3fn).toBe(0x05n); // translation fault, level 1
    expect(cpu.getX(12)).toBe(0x8000_0000n);
  });

  it('prints the same text as objdump for common instructions', () => {
    const lines = [
      'add x0, x1, #0x10', 'sub sp, sp, #0x20', 'mov x29, sp', 'cmp w0, #0x3', 'ldr x0, [x1, #8]', 'ldr w2, [x3, x4, lsl #2]',
      'strb w0, [x1], #1', 'ldrsw x0, [x1, #-4]!', 'ldp x29, x30, [sp], #16', 'ldxr x0, [x1]', 'stxr w2, x0, [x1]', 'ldar w0, [x1]',
      'lsl x0, x1, #3', 'lsr w0, w1, #5', 'ubfx x0, x1, #4, #8', 'sxtw x0, w1', 'uxtb w0, w1', 'mov x0, x1', 'mvn w0, w1',
      'tst x0, #0x1', 'neg x0, x1', 'cset w0, ne', 'csel x0, x1, x2, lt', 'mul x0, x1, x2', 'umull x0, w1, w2', 'madd x0, x1, x2, x3',
      'ccmp x0, #0x3, #0x4, ne', 'mrs x0, sctlr_el1', 'msr vbar_el1, x0', 'msr daifset, #0xf', 'dmb ish', 'dsb sy', 'isb', 'wfi', 'nop',
      'svc #0x0', 'hvc #0x0', 'brk #0x3e8', 'eret', 'br x16', 'blr x1', 'ret', 'tlbi vmalle1', 'ic iallu', 'rev x0, x1', 'clz w0, w1',
      'add x0, x1, w2, uxtw #2', 'movk x0, #0x8400, lsl #16', 'mov x0, #0xffffffffffffffff', 'adc x0, x1, x2', 'sdiv w0, w1, w2',
    ];
    const { bin } = assemble(lines.join('\n'));
    const v = new DataView(bin.buffer, bin.byteOffset);
    lines.forEach((text, i) => expect(disassemble(v.getUint32(i * 4, true), 0n)).toBe(text));
  });
});
