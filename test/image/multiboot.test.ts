import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

import { detectImage, findMultibootHeader, ImageError, loadImage } from '../../src/image/index.js';
import { ROOT } from '../support/record.js';
import { buildElf, multibootHeader } from './elf-builder.js';

const guest = (name: string) => readFileSync(join(ROOT, 'guests', name));

function imageError(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(ImageError);
    return (e as Error).message;
  }
  throw new Error('expected an ImageError');
}

/** A flat a.out-kludge kernel: 16 bytes of code, the header at offset 16, loaded at 1 MiB. */
function aoutKernel(opts: { loadEnd?: number; bssEnd?: number; entry?: number; headerAddr?: number } = {}): Uint8Array {
  const body = new Uint8Array(64);
  body.fill(0x90, 0, 16);
  body.set(
    multibootHeader(0x10002, {
      headerAddr: opts.headerAddr ?? 0x100010,
      loadAddr: 0x100000,
      loadEndAddr: opts.loadEnd ?? 0,
      bssEndAddr: opts.bssEnd ?? 0x102000,
      entryAddr: opts.entry ?? 0x100000,
    }),
    16,
  );
  return body;
}

describe('multiboot (v1) kernels', () => {
  it('finds the header in the built 32-bit C guests: multiboot ELF32, protected mode', () => {
    const img = guest('hello-32.elf');
    const h = findMultibootHeader(img, 'hello-32.elf');
    expect(h).toBeDefined();
    expect(h!.offset % 4).toBe(0);
    expect(h!.offset).toBeLessThan(8192);
    expect(detectImage(img, 'hello-32.elf')).toMatchObject({ format: 'multiboot-elf32', mode: 'protected' });
    const loaded = loadImage(img, 'hello-32.elf');
    expect(loaded.multiboot).toBeDefined();
    expect(loaded.entry).toBeGreaterThanOrEqual(0x100000);
  });

  it('loads a.out-kludge kernels from the header fields, bss included', () => {
    const img = aoutKernel();
    expect(detectImage(img, 'k.bin')).toMatchObject({ format: 'multiboot-aout', mode: 'protected' });
    const loaded = loadImage(img, 'k.bin');
    expect(loaded.segments).toHaveLength(1);
    expect(loaded.segments[0]).toMatchObject({ address: 0x100000, memSize: 0x2000 });
    expect(loaded.segments[0]!.bytes.length).toBe(64);
    expect(loaded.entry).toBe(0x100000);
    // load_end_addr limits what is taken from the file
    expect(loadImage(aoutKernel({ loadEnd: 0x100020 }), 'k.bin').segments[0]!.bytes.length).toBe(0x20);
  });

  it('rejects broken headers in one line', () => {
    const bad = aoutKernel();
    bad[24] ^= 1; // checksum
    expect(imageError(() => detectImage(bad, 'k.bin'))).toMatch(/^k\.bin: multiboot header at offset 0x10 has a bad checksum/);
    const truncated = new Uint8Array(24);
    truncated.set(multibootHeader(0).subarray(0, 8), 16);
    expect(imageError(() => detectImage(truncated, 'k.bin'))).toMatch(/truncated multiboot header at offset 0x10/);
    expect(imageError(() => loadImage(aoutKernel({ entry: 0x200000 }), 'k.bin'))).toMatch(/multiboot entry_addr 0x200000 is outside the loaded image/);
    expect(imageError(() => loadImage(aoutKernel({ headerAddr: 0x100100 }), 'k.bin'))).toMatch(/header_addr - load_addr \(0x100\) is larger than the header's file offset 0x10/);
    expect(imageError(() => loadImage(aoutKernel({ loadEnd: 0x100100 }), 'k.bin'))).toMatch(/truncated: the multiboot header says 0x100 bytes load from offset 0x0, the file has 64/);
    expect(imageError(() => loadImage(aoutKernel({ bssEnd: 0x100010 }), 'k.bin'))).toMatch(/bss_end_addr 0x100010 is below the end of the loaded image/);
  });

  it('refuses requirements it cannot meet, and a non-ELF header without load addresses', () => {
    const video = new Uint8Array(64);
    video.set(multibootHeader(0x10004, { headerAddr: 0x100000, loadAddr: 0x100000, loadEndAddr: 0, bssEndAddr: 0, entryAddr: 0x100000 }));
    expect(imageError(() => loadImage(video, 'k.bin'))).toMatch(/requests a video mode \(flags bit 2\)/);
    const noKludge = new Uint8Array(64);
    noKludge.set(multibootHeader(0), 8);
    expect(imageError(() => detectImage(noKludge, 'k.bin'))).toMatch(/has a multiboot header \(offset 0x8\) but is not ELF and does not set the a\.out kludge/);
  });

  it('only looks in the first 8 KiB, at 4-byte alignment', () => {
    const late = new Uint8Array(8192 + 64);
    late.set(multibootHeader(0), 8192);
    expect(findMultibootHeader(late, 'k.bin')).toBeUndefined();
    const unaligned = new Uint8Array(64);
    unaligned.set(multibootHeader(0), 2);
    expect(findMultibootHeader(unaligned, 'k.bin')).toBeUndefined();
    expect(detectImage(unaligned, 'k.bin').format).toBe('flat');
  });

  it('an ELF32 with a multiboot header loads from its program headers', () => {
    const code = new Uint8Array(32);
    code.set(multibootHeader(2), 0);
    const elf = buildElf({ bits: 32, entry: 0x10000c, segments: [{ paddr: 0x100000, data: code }] });
    expect(detectImage(elf, 'k.elf').format).toBe('multiboot-elf32');
    expect(loadImage(elf, 'k.elf')).toMatchObject({ entry: 0x10000c, format: 'multiboot-elf32' });
  });
});

describe('flat binaries', () => {
  const bytes = Uint8Array.from([0xf4]);

  it('real mode: at --load (default 0), entry CS:IP (default 0000:load)', () => {
    expect(detectImage(bytes, 'x.bin')).toMatchObject({ format: 'flat', mode: 'real' });
    expect(loadImage(bytes, 'x.bin')).toMatchObject({ entry: 0, realEntry: { cs: 0, ip: 0 }, loadAddress: 0 });
    expect(loadImage(bytes, 'x.bin', { load: 0x7c00 })).toMatchObject({ entry: 0x7c00, realEntry: { cs: 0, ip: 0x7c00 } });
    expect(loadImage(bytes, 'x.bin', { load: 0x7c00, entry: { cs: 0x7c0, ip: 0 } }).entry).toBe(0x7c00);
    expect(imageError(() => loadImage(bytes, 'x.bin', { load: 0x20000 }))).toMatch(/above 0xffff: give the real-mode entry with --entry CS:IP/);
  });

  it('protected and long mode: at 1 MiB by default, entry a linear address', () => {
    expect(loadImage(bytes, 'x.bin', { mode: 'protected' })).toMatchObject({ entry: 0x100000, loadAddress: 0x100000 });
    expect(loadImage(bytes, 'x.bin', { mode: 'long', load: 0x200000 })).toMatchObject({ entry: 0x200000 });
    expect(imageError(() => loadImage(bytes, 'x.bin', { mode: 'long', entry: 0x300000 }))).toMatch(/--entry 0x300000 is outside the loaded image/);
    expect(imageError(() => loadImage(bytes, 'x.bin', { mode: 'long', entry: { cs: 0, ip: 0 } }))).toMatch(/--entry CS:IP is for real mode/);
    expect(imageError(() => loadImage(bytes, 'x.bin', { entrySymbol: 'main' }))).toMatch(/--entry-symbol needs an ELF image/);
  });

  it('an empty file is not an image', () => {
    expect(imageError(() => detectImage(new Uint8Array(0), 'x.bin'))).toBe('x.bin: is empty');
  });
});
