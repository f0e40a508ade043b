import { describe, expect, it } from 'vitest';

import { REG_NAMES, type Sregs } from '../../src/cpu-state.js';
import { decodeDescriptor, encodeDescriptor, effectiveLimit, flatDescriptor, segmentFromDescriptor } from '../../src/boot/gdt.js';
import { encodeMultibootInfo, multibootInfoFor } from '../../src/boot/multiboot-info.js';
import { identityPageTables, PTE, walk } from '../../src/boot/paging.js';
import { bootGdt, bootSegments, CR0, CR4, DEFAULT_MEM, EFER, GDT_BYTES, LAYOUT, planBoot, SELECTOR, TSS_BYTES, type BootPlan } from '../../src/boot/profiles.js';
import { realModeState } from '../../src/boot/real-mode.js';
import { ImageError, loadImage } from '../../src/image/index.js';
import type { BootMode } from '../../src/trace/format.js';
import { buildElf, multibootHeader } from '../image/elf-builder.js';

const MiB = 1 << 20;

/** sregs as KVM hands them out before setup (what the profile starts from). */
const current: Sregs = {
  ...realModeState({ cs: 0, ip: 0, sp: 0 }, {} as Sregs).sregs,
  cr8: 0n,
  apic_base: 0xfee00900n,
};

function plan(mode: BootMode, bytes = Uint8Array.from([0xf4]), memBytes?: number): BootPlan {
  const image = loadImage(bytes, 'x', { mode });
  return planBoot({ mode, image, ...(memBytes !== undefined ? { memBytes } : {}) });
}

/** RAM with the plan's blobs in it, and a reader of little-endian u64s. */
function ram(p: BootPlan): { bytes: Uint8Array; u64: (at: number) => bigint } {
  const bytes = new Uint8Array(p.memory[0]!.size);
  for (const b of p.blobs) bytes.set(b.bytes, b.address);
  const v = new DataView(bytes.buffer);
  return { bytes, u64: (at) => v.getBigUint64(at, true) };
}

describe('segment descriptors', () => {
  it('encode and decode round trip, flat segments as the SDM spells them', () => {
    expect(Buffer.from(encodeDescriptor(flatDescriptor('code32'))).readBigUInt64LE()).toBe(0x00cf9b000000ffffn);
    expect(Buffer.from(encodeDescriptor(flatDescriptor('data'))).readBigUInt64LE()).toBe(0x00cf93000000ffffn);
    expect(Buffer.from(encodeDescriptor(flatDescriptor('code64'))).readBigUInt64LE()).toBe(0x00af9b000000ffffn);
    for (const kind of ['code32', 'code64', 'data'] as const) {
      expect(decodeDescriptor(encodeDescriptor(flatDescriptor(kind)))).toEqual(flatDescriptor(kind));
    }
    expect(effectiveLimit(flatDescriptor('data'))).toBe(0xffffffff);
  });
});

describe('the GDT and segment registers of the protected and long profiles', () => {
  const gdt = bootGdt();

  it('holds null, code32, data, code64 and a busy TSS at the documented selectors', () => {
    expect(gdt.length).toBe(GDT_BYTES);
    expect([...gdt.subarray(0, 8)]).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
    expect(decodeDescriptor(gdt, SELECTOR.code32)).toMatchObject({ base: 0, limit: 0xfffff, g: 1, db: 1, l: 0, type: 0xb, s: 1, present: 1 });
    expect(decodeDescriptor(gdt, SELECTOR.data)).toMatchObject({ base: 0, limit: 0xfffff, g: 1, db: 1, type: 0x3, s: 1 });
    expect(decodeDescriptor(gdt, SELECTOR.code64)).toMatchObject({ l: 1, db: 0, type: 0xb });
    expect(decodeDescriptor(gdt, SELECTOR.tss)).toMatchObject({ base: LAYOUT.tss, limit: TSS_BYTES - 1, type: 0xb, s: 0, present: 1, g: 0 });
    expect([...gdt.subarray(SELECTOR.tss + 8, SELECTOR.tss + 16)]).toEqual([0, 0, 0, 0, 0, 0, 0, 0]); // base 63:32 = 0
  });

  for (const mode of ['protected', 'long'] as const) {
    it(`${mode} mode: every segment register is the cache of the GDT entry its selector names`, () => {
      const segs = bootSegments(mode);
      for (const name of ['cs', 'ds', 'es', 'fs', 'gs', 'ss', 'tr'] as const) {
        const s = segs[name];
        expect(segmentFromDescriptor(s.selector, decodeDescriptor(gdt, s.selector)), name).toEqual(s);
      }
      expect(segs.cs.selector).toBe(mode === 'long' ? SELECTOR.code64 : SELECTOR.code32);
      expect(segs.cs.l).toBe(mode === 'long' ? 1 : 0);
      expect(segs.ldt.unusable).toBe(1);
    });
  }
});

describe('identity page tables with 2 MiB pages', () => {
  const t = identityPageTables(LAYOUT.pageTables, 4 * 1024 * MiB);
  const mem = new Uint8Array(LAYOUT.pageTables + t.bytes.length);
  mem.set(t.bytes, LAYOUT.pageTables);
  const view = new DataView(mem.buffer);
  const u64 = (at: number) => view.getBigUint64(at, true);

  it('PML4, PDPT and one directory per GiB, contiguous from CR3', () => {
    expect(t.cr3).toBe(LAYOUT.pageTables);
    expect(t.directories).toBe(4);
    expect(t.bytes.length).toBe(6 * 4096);
    expect(u64(t.cr3) & ~0xfffn).toBe(BigInt(t.cr3 + 0x1000));
    expect(u64(t.cr3 + 8)).toBe(0n); // only the first 512 GiB
  });

  it('maps every address of the first 4 GiB to itself; nothing above', () => {
    for (const a of [0n, 0x1234n, 0x1fffffn, 0x200000n, 0xfff123n, 0x7fffffffn, 0xfee00000n, 0xffffffffn]) {
      expect(walk(u64, t.cr3, a)?.phys, `0x${a.toString(16)}`).toBe(a);
    }
    expect(walk(u64, t.cr3, 0x100000000n)).toBeUndefined();
  });

  it('entries are present, writable, accessed; leaves are 2 MiB and dirty (the CPU never has to write them)', () => {
    const r = walk(u64, t.cr3, 0x345678n)!;
    const [pml4e, pdpte, pde] = r.entries;
    for (const e of [pml4e!, pdpte!, pde!]) expect(e & (PTE.present | PTE.writable | PTE.accessed)).toBe(PTE.present | PTE.writable | PTE.accessed);
    expect(pde! & (PTE.pageSize | PTE.dirty)).toBe(PTE.pageSize | PTE.dirty);
    expect(pde! & PTE.user).toBe(0n);
    expect(pde! & ~0x1fffffn).toBe(0x200000n);
  });

  it('grows past 4 GiB when RAM does', () => {
    expect(identityPageTables(0x10000, 6 * 1024 * MiB + 1).directories).toBe(7);
  });
});

describe('boot plans', () => {
  it('real mode: the seed setup (image at 0, CS:IP 0000:0000, SP 0, no boot tables)', () => {
    const p = plan('real');
    expect(p.memory).toEqual([{ base: 0, size: DEFAULT_MEM.real, kind: 'ram' }]);
    expect(p.blobs.map((b) => b.what)).toEqual(['image x']);
    const { regs, sregs } = p.state(current);
    expect(regs).toEqual(realModeState({ cs: 0, ip: 0, sp: 0 }, current).regs);
    expect(sregs.cr0).toBe(0x60000010n);
  });

  it('protected mode: flat segments, no paging, stack, entry; blobs in the documented places', () => {
    const p = plan('protected');
    expect(p.memory[0]!.size).toBe(16 * MiB);
    expect(p.blobs.map((b) => [b.what, b.address])).toEqual([
      ['GDT', LAYOUT.gdt],
      ['TSS', LAYOUT.tss],
      ['image x', 0x100000],
    ]);
    const { regs, sregs } = p.state(current);
    expect(regs.rip).toBe(0x100000n);
    expect(regs.rsp).toBe(BigInt(LAYOUT.stackTop));
    expect(regs.rflags).toBe(2n);
    for (const r of REG_NAMES.filter((n) => !['rip', 'rsp', 'rflags'].includes(n))) expect(regs[r], r).toBe(0n);
    expect(sregs.cr0).toBe(CR0.PE | CR0.ET | CR0.NE);
    expect([sregs.cr3, sregs.cr4, sregs.efer]).toEqual([0n, 0n, 0n]);
    expect(sregs.gdt).toEqual({ base: BigInt(LAYOUT.gdt), limit: GDT_BYTES - 1 });
    expect(sregs.idt).toEqual({ base: 0n, limit: 0 });
    expect(sregs.cs).toMatchObject({ selector: SELECTOR.code32, db: 1, l: 0 });
    expect(sregs.apic_base).toBe(current.apic_base); // left as KVM has it
    const tss = ram(p).bytes.subarray(LAYOUT.tss, LAYOUT.tss + TSS_BYTES);
    expect(Buffer.from(tss).readUInt32LE(4)).toBe(LAYOUT.stackTop); // ESP0
    expect(Buffer.from(tss).readUInt16LE(8)).toBe(SELECTOR.data); // SS0
  });

  it('long mode: CR0.PG|PE, CR4.PAE, EFER.LME|LMA, CS.L, CR3 -> identity tables covering RAM', () => {
    const p = plan('long', Uint8Array.from([0xf4]), 64 * MiB);
    const { sregs } = p.state(current);
    expect(sregs.cr0 & (CR0.PE | CR0.PG | CR0.WP)).toBe(CR0.PE | CR0.PG | CR0.WP);
    expect(sregs.cr4).toBe(CR4.PAE);
    expect(sregs.efer).toBe(EFER.LME | EFER.LMA);
    expect(sregs.cr3).toBe(BigInt(LAYOUT.pageTables));
    expect(sregs.cs).toMatchObject({ selector: SELECTOR.code64, l: 1, db: 0 });
    const m = ram(p);
    for (const a of [0n, 0x100000n, 64n * BigInt(MiB) - 1n]) expect(walk(m.u64, Number(sregs.cr3), a)?.phys).toBe(a);
    expect(p.blobs.map((b) => b.what)).toContain('page tables (identity, 2 MiB pages, 4 GiB)');
  });

  it('multiboot kernels get EAX = 0x2BADB002, EBX -> the information block', () => {
    const code = new Uint8Array(32);
    code.set(multibootHeader(2), 0);
    const elf = buildElf({ bits: 32, entry: 0x10000c, segments: [{ paddr: 0x100000, data: code }] });
    const image = loadImage(elf, 'k.elf');
    const p = planBoot({ mode: 'protected', image, memBytes: 32 * MiB });
    const { regs } = p.state(current);
    expect(regs.rax).toBe(0x2badb002n);
    expect(regs.rbx).toBe(BigInt(LAYOUT.multibootInfo));
    expect(regs.rip).toBe(0x10000cn);
    const mbi = Buffer.from(ram(p).bytes.subarray(LAYOUT.multibootInfo));
    expect(mbi.readUInt32LE(0) & 1).toBe(1);
    expect(mbi.readUInt32LE(4)).toBe(640);
    expect(mbi.readUInt32LE(8)).toBe(31 * 1024);
  });

  it('no blob overlaps another, and all lie in RAM below the image', () => {
    for (const mode of ['protected', 'long'] as const) {
      const p = plan(mode);
      const sorted = [...p.blobs].sort((a, b) => a.address - b.address);
      sorted.forEach((b, i) => {
        expect(b.address + b.bytes.length).toBeLessThanOrEqual(p.memory[0]!.size);
        if (i) expect(b.address).toBeGreaterThanOrEqual(sorted[i - 1]!.address + sorted[i - 1]!.bytes.length);
      });
    }
  });

  it('grows the default RAM to hold the image; an explicit --mem must hold it', () => {
    const elf = buildElf({ bits: 64, entry: 0x2000000, segments: [{ paddr: 0x2000000, data: Uint8Array.of(0xf4), memsz: 0x180000 }] });
    const image = loadImage(elf, 'k.elf');
    expect(planBoot({ mode: 'long', image }).memory[0]!.size).toBe(34 * MiB);
    expect(() => planBoot({ mode: 'long', image, memBytes: 16 * MiB })).toThrow(ImageError);
    expect(() => planBoot({ mode: 'long', image, memBytes: 16 * MiB })).toThrow(/^k\.elf: segment 0 \(PT_LOAD r-x\) \[0x2000000, 0x2180000\) does not fit in 16 MiB of RAM; raise --mem$/);
  });

  it('refuses images over the boot tables or stack, and RAM too small for them', () => {
    const over = (load: number, mode: BootMode) => () => planBoot({ mode, image: loadImage(new Uint8Array(0x100), 'x.bin', { mode, load }) });
    expect(over(0x1000, 'protected')).toThrow(/^x\.bin: the image \[0x1000, 0x1100\) overlaps the GDT at \[0x1000, 0x1030\) that vmtrace places in protected mode/);
    expect(over(0x10f00, 'long')).toThrow(/overlaps the page tables at \[0x10000, 0x16000\)/);
    expect(over(0x10f00, 'protected')).not.toThrow(); // no page tables in protected mode
    expect(over(0x7ff80, 'protected')).toThrow(/overlaps the boot stack at \[0x70000, 0x80000\)/);
    expect(() => plan('protected', Uint8Array.of(0xf4), 0x40000)).toThrow(); // image at 1 MiB: outside
    expect(() => planBoot({ mode: 'long', image: loadImage(Uint8Array.of(0xf4), 'x', { mode: 'long', load: 0x20000 }), memBytes: 0x40000 })).toThrow(/long mode needs at least 512 KiB of RAM/);
    expect(() => plan('real', Uint8Array.of(0xf4), 1000)).toThrow(/not a positive multiple of 4 KiB/);
  });
});

describe('the multiboot information block', () => {
  it('states memory sizes, a memory map and the loader name', () => {
    const info = multibootInfoFor(16 * MiB);
    expect(info).toMatchObject({ memLower: 640, memUpper: 15 * 1024 });
    const b = Buffer.from(encodeMultibootInfo(info, 0x2000));
    expect(b.readUInt32LE(0)).toBe((1 << 0) | (1 << 6) | (1 << 9));
    const mmapLength = b.readUInt32LE(44);
    const mmapAddr = b.readUInt32LE(48) - 0x2000;
    expect(mmapLength).toBe(48);
    const entries = [0, 24].map((o) => ({ size: b.readUInt32LE(mmapAddr + o), base: b.readBigUInt64LE(mmapAddr + o + 4), length: b.readBigUInt64LE(mmapAddr + o + 12), type: b.readUInt32LE(mmapAddr + o + 20) }));
    expect(entries).toEqual([
      { size: 20, base: 0n, length: 0xa0000n, type: 1 },
      { size: 20, base: 0x100000n, length: BigInt(15 * MiB), type: 1 },
    ]);
    const name = b.readUInt32LE(64) - 0x2000;
    expect(b.toString('latin1', name, b.indexOf(0, name))).toBe('vmtrace');
  });
});
