import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

import { detectImage, ImageError, loadImage, parseElf } from '../../src/image/index.js';
import { ROOT } from '../support/record.js';
import { buildElf } from './elf-builder.js';

const code = Uint8Array.from([0x90, 0x90, 0xf4]);
const guest = (name: string) => readFileSync(join(ROOT, 'guests', name));

function expectImageError(f: () => unknown, pattern: RegExp): void {
  let err: unknown;
  try {
    f();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(ImageError);
  expect((err as Error).message).toMatch(pattern);
  expect((err as Error).message.split('\n')).toHaveLength(1);
}

describe('ELF images', () => {
  it('loads ELF64 PT_LOAD segments at p_paddr, with bss sized by p_memsz, and boots them in long mode', () => {
    const elf = buildElf({
      bits: 64,
      entry: 0x200000,
      segments: [
        { paddr: 0x200000, data: code, flags: 5 },
        { paddr: 0x201000, data: Uint8Array.of(1, 2, 3, 4), memsz: 0x100, flags: 6 },
      ],
    });
    expect(detectImage(elf, 'k.elf')).toMatchObject({ format: 'elf64', mode: 'long' });
    const img = loadImage(elf, 'k.elf');
    expect(img).toMatchObject({ format: 'elf64', mode: 'long', entry: 0x200000, loadAddress: 0x200000 });
    expect(img.segments.map((s) => [s.address, s.bytes.length, s.memSize, s.label])).toEqual([
      [0x200000, 3, 3, 'segment 0 (PT_LOAD r-x)'],
      [0x201000, 4, 0x100, 'segment 1 (PT_LOAD rw-)'],
    ]);
    expect([...img.segments[1]!.bytes]).toEqual([1, 2, 3, 4]);
  });

  it('loads ELF32 (i386) images for protected mode', () => {
    const elf = buildElf({ bits: 32, entry: 0x100001, segments: [{ paddr: 0x100000, data: code }] });
    expect(detectImage(elf, 'k.elf')).toMatchObject({ format: 'elf32', mode: 'protected' });
    expect(loadImage(elf, 'k.elf')).toMatchObject({ entry: 0x100001, mode: 'protected' });
  });

  it('starts at --entry-symbol through .symtab, and says when the symbol or the table is missing', () => {
    const elf = buildElf({ bits: 64, entry: 0x200000, segments: [{ paddr: 0x200000, data: code }], symbols: { _start: 0x200000, other: 0x200002 } });
    expect(parseElf(elf, 'k.elf').symbol('other')).toBe(0x200002n);
    expect(loadImage(elf, 'k.elf', { entrySymbol: 'other' }).entry).toBe(0x200002);
    expectImageError(() => loadImage(elf, 'k.elf', { entrySymbol: 'nope' }), /^k\.elf: no symbol 'nope' in \.symtab$/);
    const stripped = buildElf({ bits: 64, entry: 0x200000, segments: [{ paddr: 0x200000, data: code }] });
    expectImageError(() => loadImage(stripped, 'k.elf', { entrySymbol: 'x' }), /no section headers.*stripped/);
  });

  it('resolves symbols in the built C guests', () => {
    const elf = parseElf(guest('sieve-64.elf'), 'sieve-64.elf');
    expect(elf.symbol('_start')).toBe(elf.entry);
    expect(elf.symbol('main')).toBeGreaterThan(0x100000n);
    expect(loadImage(guest('sieve-64.elf'), 'sieve-64.elf', { entrySymbol: 'main' }).entry).toBe(Number(elf.symbol('main')));
  });

  it('checks that --entry lands inside the loaded image', () => {
    const elf = buildElf({ bits: 64, entry: 0x200000, segments: [{ paddr: 0x200000, data: code }] });
    expect(loadImage(elf, 'k.elf', { entry: 0x200002 }).entry).toBe(0x200002);
    expectImageError(() => loadImage(elf, 'k.elf', { entry: 0x300000 }), /--entry 0x300000 is outside the loaded image \[0x200000, 0x200003\)/);
  });

  describe('malformed images: one line naming the file and the problem', () => {
    const good = () => buildElf({ bits: 64, entry: 0x200000, segments: [{ paddr: 0x200000, data: code }] });
    const patch = (bytes: Uint8Array, at: number, ...vals: number[]) => {
      const b = bytes.slice();
      b.set(vals, at);
      return b;
    };

    it('bad class, byte order, version', () => {
      expectImageError(() => loadImage(patch(good(), 4, 3), 'k.elf'), /^k\.elf: bad ELF class 3/);
      expectImageError(() => loadImage(patch(good(), 5, 2), 'k.elf'), /not little-endian: not an x86 or AArch64 image/);
      expectImageError(() => loadImage(patch(good(), 6, 0), 'k.elf'), /bad ELF version 0/);
    });

    it('truncated headers and segments', () => {
      expectImageError(() => loadImage(good().subarray(0, 10), 'k.elf'), /truncated ELF header \(10 bytes\)/);
      expectImageError(() => loadImage(good().subarray(0, 40), 'k.elf'), /truncated ELF64 header \(40 of 64 bytes\)/);
      expectImageError(() => loadImage(good().subarray(0, 80), 'k.elf'), /truncated: 1 program headers at offset 0x40 run past the end of the file \(80 bytes\)/);
      const elf = good();
      expectImageError(() => loadImage(elf.subarray(0, elf.length - 1), 'k.elf'), /truncated: segment 0 \(0x3 bytes at offset 0x78\) runs past the end of the file/);
    });

    it('not an executable for x86', () => {
      const dyn = buildElf({ bits: 64, entry: 0x200000, segments: [{ paddr: 0x200000, data: code }], type: 3 });
      expectImageError(() => loadImage(dyn, 'k.elf'), /position-independent ELF \(ET_DYN\)/);
      const rel = buildElf({ bits: 64, entry: 0x200000, segments: [{ paddr: 0x200000, data: code }], type: 1 });
      expectImageError(() => loadImage(rel, 'k.elf'), /ELF type 1 is not an executable/);
      const riscv = buildElf({ bits: 64, entry: 0x200000, segments: [{ paddr: 0x200000, data: code }], machine: 243 });
      expectImageError(() => loadImage(riscv, 'k.elf'), /ELF machine 243 is not x86 or AArch64 \(expected EM_X86_64 = 62 or EM_AARCH64 = 183\)/);
      // An AArch64 ELF is recognised, and left to the aarch64 loader (src/arch/aarch64/boot.ts).
      const arm = buildElf({ bits: 64, entry: 0x200000, segments: [{ paddr: 0x200000, data: code }], machine: 183 });
      expectImageError(() => loadImage(arm, 'k.elf'), /is an AArch64 ELF: record it with --arch aarch64/);
    });

    it('segments: p_filesz > p_memsz, overlapping, none to load', () => {
      const big = buildElf({ bits: 32, entry: 0x100000, segments: [{ paddr: 0x100000, data: code, memsz: 2 }] });
      expectImageError(() => loadImage(big, 'k.elf'), /segment 0: p_filesz 0x3 is larger than p_memsz 0x2/);
      const overlap = buildElf({
        bits: 32,
        entry: 0x100000,
        segments: [
          { paddr: 0x100000, data: code, memsz: 0x1000 },
          { paddr: 0x100800, data: code, flags: 6 },
        ],
      });
      expectImageError(() => loadImage(overlap, 'k.elf'), /segments overlap: segment 0 \(PT_LOAD r-x\) \[0x100000, 0x101000\) and segment 1 \(PT_LOAD rw-\) \[0x100800, 0x100803\)/);
      const none = buildElf({ bits: 32, entry: 0x100000, segments: [{ paddr: 0x100000, data: code, type: 4 }] });
      expectImageError(() => loadImage(none, 'k.elf'), /has no PT_LOAD segment/);
    });

    it('an entry point outside every segment, or a virtual one', () => {
      const outside = buildElf({ bits: 64, entry: 0x400000, segments: [{ paddr: 0x200000, data: code }] });
      expectImageError(() => loadImage(outside, 'k.elf'), /ELF entry point 0x400000 is outside the loaded image/);
      const higherHalf = buildElf({ bits: 64, entry: 0xffff800000200000, segments: [{ paddr: 0x200000, vaddr: 0xffff800000200000, data: code }] });
      expectImageError(() => loadImage(higherHalf, 'k.elf'), /is a virtual address of segment 0, which loads at physical 0x200000/);
    });

    it('mode mismatches', () => {
      expectImageError(() => loadImage(good(), 'k.elf', { mode: 'protected' }), /ELF64 image: it needs --mode long/);
      expectImageError(() => loadImage(good(), 'k.elf', { mode: 'real' }), /real mode boots flat binaries only/);
      expectImageError(() => loadImage(good(), 'k.elf', { load: 0x1000 }), /--load applies to flat binaries/);
    });
  });
});
