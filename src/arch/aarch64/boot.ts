// The AArch64 boot state, computed once in plain TypeScript: RAM at RAM_BASE, the image (a flat
// .bin at RAM_BASE, an ELF at its PT_LOAD addresses), and the registers at the first instruction
// (EL1h, MMU off). `record --arch aarch64` applies it to KVM and stores it in the trace header;
// replay applies the same to the interpreter, so both start from identical state.
import { ImageError, hex } from '../../image/errors.js';
import { checkOverlaps, EM_AARCH64, elfSegments, isElf, parseElf } from '../../image/elf.js';
import { flatSegment } from '../../image/flat.js';
import type { ImageSegment } from '../../image/types.js';
import type { MemoryBlob, MemoryRegion } from '../../trace/format.js';
import { DEFAULT_RAM_BYTES, RAM_BASE, SCTLR_RESET } from './layout.js';
import { A64_REG_NAMES, A64_SYSREG_NAMES, PSTATE_RESET, type A64Regs, type A64Sysregs } from './state.js';

/** Largest RAM `--mem` may give an aarch64 guest (KVM's default 40-bit IPA space holds far more). */
export const A64_MAX_RAM_BYTES = 3 << 30;

export interface A64BootPlan {
  format: 'flat' | 'elf64';
  memory: MemoryRegion[];
  /** The image's bytes as placed in RAM (bss is not stored: RAM starts zeroed). */
  blobs: MemoryBlob[];
  entry: number;
  /** Lowest load address (the header's guest.loadAddress). */
  loadAddress: number;
  regs: A64Regs;
  sregs: A64Sysregs;
}

export interface A64BootChoice {
  image: Uint8Array;
  imageName: string;
  /** RAM size (default DEFAULT_RAM_BYTES), a multiple of 4 KiB. */
  memBytes?: number;
  /** Entry override (default: RAM_BASE for flat images, e_entry for ELF). */
  entry?: number;
}

/** Loads the image and computes the boot state; throws ImageError with a one-line reason. */
export function planA64Boot(c: A64BootChoice): A64BootPlan {
  const file = c.imageName;
  const memBytes = c.memBytes ?? DEFAULT_RAM_BYTES;
  let format: A64BootPlan['format'];
  let segments: ImageSegment[];
  let entry: number;
  if (isElf(c.image)) {
    const elf = parseElf(c.image, file);
    if (elf.machine !== EM_AARCH64) throw new ImageError(file, `is an ELF for machine ${elf.machine}, not AArch64 (EM_AARCH64 = ${EM_AARCH64})`);
    format = 'elf64';
    segments = elfSegments(elf, c.image, file);
    entry = c.entry ?? Number(elf.entry);
  } else {
    format = 'flat';
    segments = [flatSegment(c.image, file, RAM_BASE)];
    checkOverlaps(segments, file);
    entry = c.entry ?? RAM_BASE;
  }
  const ramEnd = RAM_BASE + memBytes;
  for (const s of segments) {
    if (s.address < RAM_BASE || s.address + s.memSize > ramEnd) {
      throw new ImageError(file, `${s.label} [${hex(s.address)}, ${hex(s.address + s.memSize)}) is outside guest RAM [${hex(RAM_BASE)}, ${hex(ramEnd)}) (aarch64 RAM starts at ${hex(RAM_BASE)}; --mem sets its size)`);
    }
  }
  if (!segments.some((s) => entry >= s.address && entry < s.address + s.memSize)) {
    throw new ImageError(file, `entry ${hex(entry)} is outside the loaded image`);
  }
  if (entry % 4 !== 0) throw new ImageError(file, `entry ${hex(entry)} is not 4-byte aligned (A64 instructions are)`);
  const regs = Object.fromEntries(A64_REG_NAMES.map((n) => [n, 0n])) as A64Regs;
  regs.sp_el1 = BigInt(ramEnd);
  regs.pc = BigInt(entry);
  regs.pstate = PSTATE_RESET;
  const sregs = Object.fromEntries(A64_SYSREG_NAMES.map((n) => [n, 0n])) as A64Sysregs;
  sregs.sctlr_el1 = SCTLR_RESET;
  return {
    format,
    memory: [{ base: RAM_BASE, size: memBytes, kind: 'ram' }],
    blobs: segments.filter((s) => s.bytes.length > 0).map((s) => ({ address: s.address, bytes: s.bytes, what: s.what })),
    entry,
    loadAddress: Math.min(...segments.map((s) => s.address)),
    regs,
    sregs,
  };
}
