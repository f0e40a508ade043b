// Telling image formats apart (for --mode auto) and loading any of them into ImageSegments and
// an entry point. Placement against RAM and the boot tables is checked by src/boot/profiles.ts.
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';

import type { BootMode } from '../trace/format.js';
import { hex, ImageError } from './errors.js';
import { checkOverlaps, elfSegments, EM_AARCH64, isElf, parseElf, type ElfFile } from './elf.js';
import { flatSegment } from './flat.js';
import { aoutSegment, checkMultibootRequirements, findMultibootHeader, type MultibootHeader } from './multiboot.js';
import type { ImageFormat, ImageSegment, LoadedImage } from './types.js';

/**
 * The largest image vmtrace records. The trace header stores the image file and the bytes it
 * loads into RAM (so about twice its size), and a header may be at most 1 GiB
 * (MAX_HEADER_BYTES, src/trace/format.ts): 256 MiB keeps well clear of that.
 */
export const MAX_IMAGE_BYTES = 256 * 1024 * 1024;

function fileKind(s: { isDirectory(): boolean; isCharacterDevice(): boolean; isBlockDevice(): boolean; isFIFO(): boolean; isSocket(): boolean }): string {
  if (s.isDirectory()) return 'a directory';
  if (s.isCharacterDevice()) return 'a character device';
  if (s.isBlockDevice()) return 'a block device';
  if (s.isFIFO()) return 'a FIFO (named pipe)';
  if (s.isSocket()) return 'a socket';
  return 'not a regular file';
}

/**
 * Reads a guest image file: it must be a regular file (not /dev/zero, a directory or a FIFO,
 * which would never end or block) of 1 byte to MAX_IMAGE_BYTES. Throws ImageError naming `path`.
 */
export function readImageFile(path: string): Uint8Array {
  let fd: number;
  try {
    // Non-blocking: opening a FIFO must not wait for a writer (reads of regular files ignore it).
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new ImageError(path, 'no such file');
    if (code === 'EACCES' || code === 'EPERM') throw new ImageError(path, `permission denied (${code}): make it readable or copy it somewhere readable`);
    throw new ImageError(path, `cannot be opened: ${(e as Error).message}`);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new ImageError(path, `is ${fileKind(st)}, not an image file: give a flat binary, an ELF executable or a multiboot kernel`);
    if (st.size === 0) throw new ImageError(path, 'is empty');
    if (st.size > MAX_IMAGE_BYTES) {
      throw new ImageError(path, `is ${st.size} bytes; images are limited to ${MAX_IMAGE_BYTES / (1024 * 1024)} MiB (the trace header stores the image)`);
    }
    // Exactly the size fstat saw: a file that grows meanwhile is read as it was.
    const bytes = new Uint8Array(st.size);
    let done = 0;
    while (done < bytes.length) {
      const n = readSync(fd, bytes, done, bytes.length - done, done);
      if (n === 0) break;
      done += n;
    }
    if (done < bytes.length) throw new ImageError(path, `shrank while it was read (${done} of ${bytes.length} bytes)`);
    return bytes;
  } catch (e) {
    if (e instanceof ImageError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    throw new ImageError(path, code === 'EISDIR' ? 'is a directory, not an image file' : `cannot be read: ${(e as Error).message}`);
  } finally {
    closeSync(fd);
  }
}

/** Where flat images load by default: real mode at 0 (the seed's demo), otherwise at 1 MiB. */
export const DEFAULT_FLAT_LOAD: Record<BootMode, number> = { real: 0, protected: 0x100000, long: 0x100000 };

export interface DetectedImage {
  format: ImageFormat;
  /** The mode the image is built for: ELF64 → long, ELF32 / multiboot → protected, flat → real. */
  mode: BootMode;
  elf?: ElfFile;
  multiboot?: MultibootHeader;
  /** `ELF64 x86-64 executable`, `multiboot ELF32 kernel`, `flat binary`. */
  description: string;
  /** Set for an AArch64 ELF (e_machine EM_AARCH64): src/arch/aarch64/boot.ts loads it, not loadImage. */
  arch?: 'aarch64';
}

/** What kind of image `bytes` is. Throws ImageError for an image that claims a format but is malformed. */
export function detectImage(bytes: Uint8Array, file: string): DetectedImage {
  if (bytes.length === 0) throw new ImageError(file, 'is empty');
  if (isElf(bytes)) {
    const elf = parseElf(bytes, file);
    if (elf.machine === EM_AARCH64) return { format: 'elf64', mode: 'long', elf, description: 'ELF64 AArch64 executable', arch: 'aarch64' };
    if (elf.bits === 64) return { format: 'elf64', mode: 'long', elf, description: 'ELF64 x86-64 executable' };
    const multiboot = findMultibootHeader(bytes, file);
    const mode: BootMode = elf.machine === 62 ? 'long' : 'protected';
    if (multiboot) return { format: 'multiboot-elf32', mode, elf, multiboot, description: 'multiboot ELF32 kernel' };
    return { format: 'elf32', mode, elf, description: 'ELF32 i386 executable' };
  }
  const multiboot = findMultibootHeader(bytes, file);
  if (multiboot) {
    if (!multiboot.aout) {
      throw new ImageError(file, `has a multiboot header (offset ${hex(multiboot.offset)}) but is not ELF and does not set the a.out kludge (flags bit 16) that says where to load it`);
    }
    return { format: 'multiboot-aout', mode: 'protected', multiboot, description: 'multiboot kernel (a.out kludge)' };
  }
  return { format: 'flat', mode: 'real', description: 'flat binary' };
}

export interface ImageOptions {
  /** Boot mode; undefined: the detected one. */
  mode?: BootMode;
  /** Flat images: load address (default DEFAULT_FLAT_LOAD[mode]). */
  load?: number;
  /** Entry override: CS:IP in real mode, a linear address otherwise. */
  entry?: { cs: number; ip: number } | number;
  /** Entry at this .symtab symbol (ELF images). */
  entrySymbol?: string;
}

const MODE_HINT: Record<BootMode, string> = { real: '--mode real', protected: '--mode protected', long: '--mode long' };

/** Loads `bytes` for booting in `opts.mode` (or the detected mode). */
export function loadImage(bytes: Uint8Array, file: string, opts: ImageOptions = {}): LoadedImage {
  const detected = detectImage(bytes, file);
  const mode = opts.mode ?? detected.mode;
  const { format } = detected;
  if (detected.arch === 'aarch64') throw new ImageError(file, 'is an AArch64 ELF: record it with --arch aarch64 (on an arm64 host)');
  if (mode === 'real' && format !== 'flat') {
    throw new ImageError(file, `is a ${detected.description}; real mode boots flat binaries only (use ${MODE_HINT[detected.mode]} or leave --mode out)`);
  }
  if (mode === 'protected' && format === 'elf64') throw new ImageError(file, 'is an ELF64 image: it needs --mode long');
  if (format !== 'flat' && opts.load !== undefined) throw new ImageError(file, `--load applies to flat binaries; a ${detected.description} loads at the addresses it names`);
  if (format === 'flat' && opts.entrySymbol !== undefined) throw new ImageError(file, '--entry-symbol needs an ELF image (a flat binary has no symbols)');
  if (typeof opts.entry === 'object' && mode !== 'real') throw new ImageError(file, `--entry CS:IP is for real mode; in ${mode} mode give a linear address (e.g. 0x100000)`);
  if (typeof opts.entry === 'number' && mode === 'real') throw new ImageError(file, '--entry in real mode is CS:IP (e.g. 0000:7c00)');

  if (format === 'flat') return loadFlat(bytes, file, mode, opts);

  let segments: ImageSegment[];
  let entry: bigint;
  let entryWhat: string;
  if (detected.multiboot) checkMultibootRequirements(detected.multiboot, file);
  if (detected.multiboot?.aout) {
    const seg = aoutSegment(bytes, detected.multiboot as MultibootHeader & { aout: NonNullable<MultibootHeader['aout']> }, file);
    segments = [seg];
    entry = BigInt(detected.multiboot.aout.entryAddr);
    entryWhat = 'multiboot entry_addr';
  } else {
    const elf = detected.elf!;
    segments = elfSegments(elf, bytes, file);
    entry = elf.entry;
    entryWhat = 'ELF entry point';
  }
  if (opts.entrySymbol !== undefined) {
    if (!detected.elf) throw new ImageError(file, '--entry-symbol needs an ELF image');
    const value = detected.elf.symbol(opts.entrySymbol);
    if (value === undefined) throw new ImageError(file, `no symbol '${opts.entrySymbol}' in .symtab`);
    entry = value;
    entryWhat = `symbol '${opts.entrySymbol}'`;
  }
  if (typeof opts.entry === 'number') {
    entry = BigInt(opts.entry);
    entryWhat = '--entry';
  }
  checkEntry(file, segments, entry, entryWhat, detected.elf);
  return {
    name: file,
    format,
    mode: detected.mode,
    segments,
    entry: Number(entry),
    ...(detected.multiboot ? { multiboot: detected.multiboot } : {}),
    loadAddress: Math.min(...segments.map((s) => s.address)),
  };
}

function loadFlat(bytes: Uint8Array, file: string, mode: BootMode, opts: ImageOptions): LoadedImage {
  const load = opts.load ?? DEFAULT_FLAT_LOAD[mode];
  const segments = [flatSegment(bytes, file, load)];
  checkOverlaps(segments, file);
  if (mode === 'real') {
    let realEntry = opts.entry as { cs: number; ip: number } | undefined;
    if (!realEntry) {
      if (load > 0xffff) throw new ImageError(file, `loads at ${hex(load)}, above 0xffff: give the real-mode entry with --entry CS:IP`);
      realEntry = { cs: 0, ip: load };
    }
    const entry = realEntry.cs * 16 + realEntry.ip;
    checkEntry(file, segments, BigInt(entry), `--entry ${realEntry.cs.toString(16).padStart(4, '0')}:${realEntry.ip.toString(16).padStart(4, '0')}`);
    return { name: file, format: 'flat', mode: 'real', segments, entry, realEntry, loadAddress: load };
  }
  const entry = (opts.entry as number | undefined) ?? load;
  checkEntry(file, segments, BigInt(entry), '--entry');
  return { name: file, format: 'flat', mode: 'real', segments, entry, loadAddress: load };
}

/** The entry point must lie inside a loaded segment (at its physical address: paging is identity). */
function checkEntry(file: string, segments: ImageSegment[], entry: bigint, what: string, elf?: ElfFile): void {
  if (segments.some((s) => entry >= BigInt(s.address) && entry < BigInt(s.address + s.memSize))) return;
  const virt = elf?.loads.find((l) => entry >= l.vaddr && entry < l.vaddr + BigInt(l.memsz) && l.vaddr !== BigInt(l.paddr));
  if (virt) {
    throw new ImageError(
      file,
      `${what} ${hex(entry)} is a virtual address of segment ${virt.index}, which loads at physical ${hex(virt.paddr)}; vmtrace starts guests with physical = linear addresses`,
    );
  }
  const ranges = segments.map((s) => `[${hex(s.address)}, ${hex(s.address + s.memSize)})`).join(', ');
  throw new ImageError(file, `${what} ${hex(entry)} is outside the loaded image ${ranges}`);
}
