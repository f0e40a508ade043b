// The aarch64 boot state and image placement (src/arch/aarch64/boot.ts): pure TypeScript, no KVM.
import { describe, expect, it } from 'vitest';

import { planA64Boot } from '../../../../src/arch/aarch64/boot.js';
import { ImageError } from '../../../../src/image/errors.js';

/** A minimal ELF64 executable: one PT_LOAD of `code` at `paddr`, entry `entry`, e_machine `machine`. */
function elf64(code: Uint8Array, paddr: number, entry: number, machine = 183): Uint8Array {
  const bytes = new Uint8Array(64 + 56 + code.length);
  const v = new DataView(bytes.buffer);
  bytes.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]);
  v.setUint16(16, 2, true); // ET_EXEC
  v.setUint16(18, machine, true);
  v.setUint32(20, 1, true);
  v.setBigUint64(24, BigInt(entry), true);
  v.setBigUint64(32, 64n, true); // e_phoff
  v.setUint16(52, 64, true);
  v.setUint16(54, 56, true);
  v.setUint16(56, 1, true);
  v.setUint32(64, 1, true); // PT_LOAD
  v.setUint32(68, 5, true); // r-x
  v.setBigUint64(72, 120n, true);
  v.setBigUint64(80, BigInt(paddr), true);
  v.setBigUint64(88, BigInt(paddr), true);
  v.setBigUint64(96, BigInt(code.length), true);
  v.setBigUint64(104, BigInt(code.length + 16), true); // 16 bytes of bss
  bytes.set(code, 120);
  return bytes;
}

const nop4 = Uint8Array.from([0x1f, 0x20, 0x03, 0xd5, 0x1f, 0x20, 0x03, 0xd5]);

describe('planA64Boot', () => {
  it('places a flat image at RAM_BASE and starts there at EL1h with the MMU off', () => {
    const p = planA64Boot({ image: nop4, imageName: 'x.bin' });
    expect(p.format).toBe('flat');
    expect(p.memory).toEqual([{ base: 0x40000000, size: 16 << 20, kind: 'ram' }]);
    expect(p.blobs).toEqual([{ address: 0x40000000, bytes: nop4, what: 'image x.bin' }]);
    expect(p.regs.pc).toBe(0x40000000n);
    expect(p.regs.pstate).toBe(0x3c5n);
    expect(p.regs.sp_el1).toBe(0x41000000n);
    expect(p.regs.x0).toBe(0n);
    expect(p.regs.sp_el0).toBe(0n);
    expect(p.sregs.sctlr_el1).toBe(0x30d00800n);
    expect(Object.entries(p.sregs).filter(([n, v]) => n !== 'sctlr_el1' && v !== 0n)).toEqual([]);
  });

  it('loads an AArch64 ELF at its PT_LOAD address, enters at e_entry, stores no bss', () => {
    const p = planA64Boot({ image: elf64(nop4, 0x40080000, 0x40080004), imageName: 'k.elf', memBytes: 32 << 20 });
    expect(p.format).toBe('elf64');
    expect(p.blobs.map((b) => [b.address, b.bytes.length])).toEqual([[0x40080000, 8]]);
    expect(p.entry).toBe(0x40080004);
    expect(p.loadAddress).toBe(0x40080000);
    expect(p.regs.pc).toBe(0x40080004n);
    expect(p.regs.sp_el1).toBe(0x42000000n);
  });

  it('refuses an x86 ELF, a segment outside RAM and an entry outside the image, in one line', () => {
    const refuse = (f: () => unknown, re: RegExp) => {
      expect(f).toThrow(ImageError);
      expect(f).toThrow(re);
    };
    refuse(() => planA64Boot({ image: elf64(nop4, 0x40000000, 0x40000000, 62), imageName: 'x86.elf' }), /machine 62, not AArch64/);
    refuse(() => planA64Boot({ image: elf64(nop4, 0x100000, 0x100000), imageName: 'low.elf' }), /outside guest RAM \[0x40000000, 0x41000000\)/);
    refuse(() => planA64Boot({ image: nop4, imageName: 'x.bin', memBytes: 4096, entry: 0x40001000 }), /entry 0x40001000 is outside the loaded image/);
    refuse(() => planA64Boot({ image: nop4, imageName: 'x.bin', entry: 0x40000002 }), /not 4-byte aligned/);
  });
});
