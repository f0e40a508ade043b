// ELF32 / ELF64 executables for x86 and ELF64 for AArch64 (little-endian): the PT_LOAD segments placed at their
// physical addresses, the entry point, and symbol lookup in .symtab for --entry-symbol.
import { hex, ImageError } from './errors.js';
import type { ImageSegment } from './types.js';

export const ELF_MAGIC = [0x7f, 0x45, 0x4c, 0x46] as const; // \x7fELF

const ELFCLASS32 = 1;
const ELFCLASS64 = 2;
const ELFDATA2LSB = 1;
const ET_EXEC = 2;
const ET_DYN = 3;
export const EM_386 = 3;
export const EM_X86_64 = 62;
export const EM_AARCH64 = 183;
const PT_LOAD = 1;
const SHT_SYMTAB = 2;
const PF_X = 1;
const PF_W = 2;
const PF_R = 4;

export interface ElfSegment {
  index: number;
  offset: number;
  /** Virtual address: a bigint, as higher-half kernels link far above 2^53. */
  vaddr: bigint;
  paddr: number;
  filesz: number;
  memsz: number;
  flags: number;
}

export interface ElfFile {
  bits: 32 | 64;
  machine: number;
  /** e_entry (a bigint: it may be a higher-half virtual address). */
  entry: bigint;
  /** PT_LOAD segments with a non-zero p_memsz, in file order. */
  loads: ElfSegment[];
  /** Value of a symbol in .symtab; undefined if absent. Throws if there is no .symtab. */
  symbol(name: string): bigint | undefined;
}

export function isElf(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && ELF_MAGIC.every((b, i) => bytes[i] === b);
}

/** A number from a u64 field, if it is below 2^53 (guest-physical addresses are far below). */
function safe(v: bigint, file: string, what: string): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new ImageError(file, `${what} ${hex(v)} is out of range`);
  return Number(v);
}

export function parseElf(bytes: Uint8Array, file: string): ElfFile {
  if (!isElf(bytes)) throw new ImageError(file, 'not an ELF file (bad magic)');
  if (bytes.length < 16) throw new ImageError(file, `truncated ELF header (${bytes.length} bytes)`);
  const cls = bytes[4];
  if (cls !== ELFCLASS32 && cls !== ELFCLASS64) throw new ImageError(file, `bad ELF class ${cls} (expected 1 = ELF32 or 2 = ELF64)`);
  const bits = cls === ELFCLASS32 ? 32 : 64;
  if (bytes[5] !== ELFDATA2LSB) throw new ImageError(file, `ELF data encoding ${bytes[5]} is not little-endian: not an x86 or AArch64 image`);
  if (bytes[6] !== 1) throw new ImageError(file, `bad ELF version ${bytes[6]}`);
  const ehsize = bits === 32 ? 52 : 64;
  if (bytes.length < ehsize) throw new ImageError(file, `truncated ELF${bits} header (${bytes.length} of ${ehsize} bytes)`);
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const u16 = (at: number) => v.getUint16(at, true);
  const u32 = (at: number) => v.getUint32(at, true);
  const addr = (at: number, what: string) => (bits === 32 ? u32(at) : safe(v.getBigUint64(at, true), file, what));

  const type = u16(16);
  const machine = u16(18);
  if (type === ET_DYN) throw new ImageError(file, 'is a position-independent ELF (ET_DYN); link the guest as a static executable (-no-pie, ld without -pie)');
  if (type !== ET_EXEC) throw new ImageError(file, `ELF type ${type} is not an executable (ET_EXEC = 2)`);
  const okMachine = bits === 64 ? machine === EM_X86_64 || machine === EM_AARCH64 : machine === EM_386 || machine === EM_X86_64;
  if (!okMachine) throw new ImageError(file, `ELF machine ${machine} is not x86 or AArch64 (expected ${bits === 64 ? 'EM_X86_64 = 62 or EM_AARCH64 = 183' : 'EM_386 = 3'})`);

  const entry = bits === 32 ? BigInt(u32(24)) : v.getBigUint64(24, true);
  const off = bits === 32 ? { phoff: 28, shoff: 32, phentsize: 42, phnum: 44, shentsize: 46, shnum: 48 } : { phoff: 32, shoff: 40, phentsize: 54, phnum: 56, shentsize: 58, shnum: 60 };
  const phoff = addr(off.phoff, 'program header offset');
  const phentsize = u16(off.phentsize);
  const phnum = u16(off.phnum);
  const wantPh = bits === 32 ? 32 : 56;
  if (phnum === 0) throw new ImageError(file, 'has no program headers (nothing to load)');
  if (phentsize < wantPh) throw new ImageError(file, `program header entry size ${phentsize} is too small (expected ${wantPh})`);
  if (phoff + phnum * phentsize > bytes.length) {
    throw new ImageError(file, `truncated: ${phnum} program headers at offset ${hex(phoff)} run past the end of the file (${bytes.length} bytes)`);
  }

  const loads: ElfSegment[] = [];
  for (let i = 0; i < phnum; i++) {
    const p = phoff + i * phentsize;
    if (u32(p) !== PT_LOAD) continue;
    const seg: ElfSegment =
      bits === 32
        ? { index: i, offset: u32(p + 4), vaddr: BigInt(u32(p + 8)), paddr: u32(p + 12), filesz: u32(p + 16), memsz: u32(p + 20), flags: u32(p + 24) }
        : {
            index: i,
            flags: u32(p + 4),
            offset: addr(p + 8, 'segment offset'),
            vaddr: v.getBigUint64(p + 16, true),
            paddr: addr(p + 24, 'segment address'),
            filesz: addr(p + 32, 'segment size'),
            memsz: addr(p + 40, 'segment size'),
          };
    if (seg.filesz > seg.memsz) {
      throw new ImageError(file, `segment ${i}: p_filesz ${hex(seg.filesz)} is larger than p_memsz ${hex(seg.memsz)}`);
    }
    if (seg.offset + seg.filesz > bytes.length) {
      throw new ImageError(file, `truncated: segment ${i} (${hex(seg.filesz)} bytes at offset ${hex(seg.offset)}) runs past the end of the file (${bytes.length} bytes)`);
    }
    if (seg.memsz > 0) loads.push(seg);
  }
  if (loads.length === 0) throw new ImageError(file, 'has no PT_LOAD segment (nothing to load)');

  let symtab: Map<string, bigint> | undefined;
  const symbol = (name: string): bigint | undefined => {
    symtab ??= readSymtab(bytes, v, bits, file, addr(off.shoff, 'section header offset'), u16(off.shentsize), u16(off.shnum));
    return symtab.get(name);
  };
  return { bits, machine, entry, loads, symbol };
}

function readSymtab(bytes: Uint8Array, v: DataView, bits: 32 | 64, file: string, shoff: number, shentsize: number, shnum: number): Map<string, bigint> {
  const wantSh = bits === 32 ? 40 : 64;
  if (shoff === 0 || shnum === 0) throw new ImageError(file, 'has no section headers, so no .symtab to look symbols up in (stripped?)');
  if (shentsize < wantSh || shoff + shnum * shentsize > bytes.length) throw new ImageError(file, 'truncated or malformed section headers');
  const section = (i: number) => {
    const s = shoff + i * shentsize;
    return bits === 32
      ? { type: v.getUint32(s + 4, true), offset: v.getUint32(s + 16, true), size: v.getUint32(s + 20, true), link: v.getUint32(s + 24, true), entsize: v.getUint32(s + 36, true) }
      : {
          type: v.getUint32(s + 4, true),
          offset: Number(v.getBigUint64(s + 24, true)),
          size: Number(v.getBigUint64(s + 32, true)),
          link: v.getUint32(s + 40, true),
          entsize: Number(v.getBigUint64(s + 56, true)),
        };
  };
  let symIndex = -1;
  for (let i = 0; i < shnum; i++) if (section(i).type === SHT_SYMTAB) symIndex = i;
  if (symIndex < 0) throw new ImageError(file, 'has no .symtab section (stripped?), so --entry-symbol cannot be resolved');
  const sym = section(symIndex);
  if (sym.link >= shnum) throw new ImageError(file, 'malformed .symtab (string table index out of range)');
  const str = section(sym.link);
  const entsize = bits === 32 ? 16 : 24;
  if (sym.offset + sym.size > bytes.length || str.offset + str.size > bytes.length) throw new ImageError(file, 'truncated: .symtab or its string table runs past the end of the file');
  const out = new Map<string, bigint>();
  const decoder = new TextDecoder('latin1');
  for (let at = sym.offset; at + entsize <= sym.offset + sym.size; at += entsize) {
    const nameOff = v.getUint32(at, true);
    const value = bits === 32 ? BigInt(v.getUint32(at + 4, true)) : v.getBigUint64(at + 8, true);
    const shndx = v.getUint16(at + (bits === 32 ? 14 : 6), true);
    if (nameOff === 0 || shndx === 0 || nameOff >= str.size) continue; // unnamed or undefined
    let end = str.offset + nameOff;
    while (end < str.offset + str.size && bytes[end] !== 0) end++;
    const name = decoder.decode(bytes.subarray(str.offset + nameOff, end));
    if (!out.has(name)) out.set(name, value);
  }
  return out;
}

function flagText(flags: number): string {
  return `${flags & PF_R ? 'r' : '-'}${flags & PF_W ? 'w' : '-'}${flags & PF_X ? 'x' : '-'}`;
}

/**
 * The segments to place: each PT_LOAD at its physical address (p_paddr) with its file bytes;
 * the rest up to p_memsz is bss (RAM starts zeroed). Throws on overlapping segments.
 */
export function elfSegments(elf: ElfFile, bytes: Uint8Array, file: string): ImageSegment[] {
  const segs = elf.loads.map((s) => {
    const label = `segment ${s.index} (PT_LOAD ${flagText(s.flags)})`;
    return { address: s.paddr, bytes: bytes.subarray(s.offset, s.offset + s.filesz), memSize: s.memsz, label, what: `image ${file} ${label}` };
  });
  checkOverlaps(segs, file);
  return segs;
}

export function checkOverlaps(segs: ImageSegment[], file: string): void {
  const sorted = [...segs].sort((a, b) => a.address - b.address);
  for (let i = 1; i < sorted.length; i++) {
    const a = sorted[i - 1]!;
    const b = sorted[i]!;
    if (b.address < a.address + a.memSize) {
      throw new ImageError(
        file,
        `segments overlap: ${a.label} [${hex(a.address)}, ${hex(a.address + a.memSize)}) and ${b.label} [${hex(b.address)}, ${hex(b.address + b.memSize)})`,
      );
    }
  }
}

/**
 * Translates a virtual address (entry point, symbol value) to the physical address it is loaded
 * at, through the PT_LOAD segment that contains it; undefined when no segment does.
 */
export function elfVirtToPhys(elf: ElfFile, vaddr: bigint): number | undefined {
  const s = elf.loads.find((l) => vaddr >= l.vaddr && vaddr < l.vaddr + BigInt(l.memsz));
  return s ? s.paddr + Number(vaddr - s.vaddr) : undefined;
}
