// Multiboot (version 1) kernels: the header search, its validation, and the a.out kludge
// (flags bit 16: load addresses given in the header, for images that are not ELF).
// Specification: https://www.gnu.org/software/grub/manual/multiboot/multiboot.html
import { hex, ImageError } from './errors.js';
import type { ImageSegment } from './types.js';

export const MULTIBOOT_HEADER_MAGIC = 0x1badb002;
/** What a multiboot loader leaves in EAX at the kernel's entry. */
export const MULTIBOOT_BOOTLOADER_MAGIC = 0x2badb002;
/** The header must lie, 4-byte aligned, entirely within the image's first 8 KiB. */
export const MULTIBOOT_SEARCH_BYTES = 8192;

export const MB_FLAG = {
  /** Align modules on 4 KiB (no modules here: always satisfied). */
  pageAlign: 1 << 0,
  /** mem_lower/mem_upper (and the memory map) must be provided: always satisfied. */
  memoryInfo: 1 << 1,
  /** A video mode table must be provided: vmtrace has no video. */
  videoMode: 1 << 2,
  /** The a.out kludge: header_addr … entry_addr are valid and used for loading. */
  aoutKludge: 1 << 16,
} as const;

/** Required-feature bits (0–15) that vmtrace satisfies. */
const SUPPORTED_REQUIRED = MB_FLAG.pageAlign | MB_FLAG.memoryInfo;

export interface MultibootAout {
  headerAddr: number;
  loadAddr: number;
  loadEndAddr: number;
  bssEndAddr: number;
  entryAddr: number;
}

export interface MultibootHeader {
  /** File offset of the header (the magic). */
  offset: number;
  flags: number;
  aout?: MultibootAout;
}

/**
 * Finds the multiboot header: the first 4-aligned magic in the first 8 KiB whose checksum
 * (magic + flags + checksum = 0 mod 2^32) holds. undefined when the image has none; throws
 * when it has one that is truncated or fails its checksum (the image claims to be multiboot).
 */
export function findMultibootHeader(bytes: Uint8Array, file: string): MultibootHeader | undefined {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const limit = Math.min(bytes.length, MULTIBOOT_SEARCH_BYTES);
  let broken: string | undefined;
  for (let at = 0; at + 4 <= limit; at += 4) {
    if (v.getUint32(at, true) !== MULTIBOOT_HEADER_MAGIC) continue;
    if (at + 12 > bytes.length) {
      broken ??= `truncated multiboot header at offset ${hex(at)} (the file ends after ${bytes.length - at} of its 12 bytes)`;
      continue;
    }
    const flags = v.getUint32(at + 4, true);
    const checksum = v.getUint32(at + 8, true);
    if (((MULTIBOOT_HEADER_MAGIC + flags + checksum) >>> 0) !== 0) {
      broken ??= `multiboot header at offset ${hex(at)} has a bad checksum (${hex(checksum)}; expected ${hex((-(MULTIBOOT_HEADER_MAGIC + flags)) >>> 0)})`;
      continue;
    }
    const header: MultibootHeader = { offset: at, flags };
    if (flags & MB_FLAG.aoutKludge) {
      if (at + 32 > bytes.length) throw new ImageError(file, `truncated multiboot header at offset ${hex(at)}: the a.out kludge (flags bit 16) needs 32 bytes`);
      header.aout = {
        headerAddr: v.getUint32(at + 12, true),
        loadAddr: v.getUint32(at + 16, true),
        loadEndAddr: v.getUint32(at + 20, true),
        bssEndAddr: v.getUint32(at + 24, true),
        entryAddr: v.getUint32(at + 28, true),
      };
    }
    return header;
  }
  if (broken) throw new ImageError(file, broken);
  return undefined;
}

/** Throws when the header requires something vmtrace cannot provide (flags bits 0–15). */
export function checkMultibootRequirements(h: MultibootHeader, file: string): void {
  const required = h.flags & 0xffff;
  if (required & MB_FLAG.videoMode) throw new ImageError(file, 'multiboot header requests a video mode (flags bit 2); vmtrace has no display');
  const unknown = required & ~SUPPORTED_REQUIRED;
  if (unknown) throw new ImageError(file, `multiboot header requires unknown features (flags ${hex(unknown)} in bits 0-15)`);
}

/** The single segment an a.out-kludge header describes (text+data from the file, then bss). */
export function aoutSegment(bytes: Uint8Array, h: MultibootHeader & { aout: MultibootAout }, file: string): ImageSegment {
  const a = h.aout;
  if (a.loadAddr > a.headerAddr) throw new ImageError(file, `multiboot load_addr ${hex(a.loadAddr)} is above header_addr ${hex(a.headerAddr)}`);
  const start = h.offset - (a.headerAddr - a.loadAddr);
  if (start < 0) throw new ImageError(file, `multiboot header_addr - load_addr (${hex(a.headerAddr - a.loadAddr)}) is larger than the header's file offset ${hex(h.offset)}`);
  const fileBytes = a.loadEndAddr === 0 ? bytes.length - start : a.loadEndAddr - a.loadAddr;
  if (a.loadEndAddr !== 0 && a.loadEndAddr < a.loadAddr) throw new ImageError(file, `multiboot load_end_addr ${hex(a.loadEndAddr)} is below load_addr ${hex(a.loadAddr)}`);
  if (start + fileBytes > bytes.length) {
    throw new ImageError(file, `truncated: the multiboot header says ${hex(fileBytes)} bytes load from offset ${hex(start)}, the file has ${bytes.length}`);
  }
  const end = a.loadAddr + fileBytes;
  if (a.bssEndAddr !== 0 && a.bssEndAddr < end) throw new ImageError(file, `multiboot bss_end_addr ${hex(a.bssEndAddr)} is below the end of the loaded image ${hex(end)}`);
  return {
    address: a.loadAddr,
    bytes: bytes.subarray(start, start + fileBytes),
    memSize: (a.bssEndAddr || end) - a.loadAddr,
    label: 'the image (multiboot a.out kludge)',
    what: `image ${file} (multiboot a.out kludge)`,
  };
}
