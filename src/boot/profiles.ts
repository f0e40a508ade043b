// Boot profiles: for real, protected and long mode, everything the guest finds at its first
// instruction — the memory blobs (image segments, GDT, TSS, page tables, multiboot info) and the
// registers and sregs. Pure TypeScript and deterministic: the recorder applies the plan to KVM
// and stores the blobs and the state KVM reports back in the trace header, which is all the
// replayer starts from. The memory map is documented in docs/guests.md; keep the two in step.
import { REG_NAMES, type Regs, type Segment, type Sregs } from '../cpu-state.js';
import { hex, ImageError } from '../image/errors.js';
import { MULTIBOOT_BOOTLOADER_MAGIC } from '../image/multiboot.js';
import type { LoadedImage } from '../image/types.js';
import type { BootMode, MemoryBlob, MemoryRegion } from '../trace/format.js';
import { encodeDescriptor, encodeSystemDescriptor64, flatDescriptor, segmentFromDescriptor, tssDescriptor } from './gdt.js';
import { encodeMultibootInfo, MBI_BYTES, multibootInfoFor } from './multiboot-info.js';
import { identityPageTables } from './paging.js';
import { realModeState } from './real-mode.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;

/** Where the protected- and long-mode profiles put things (docs/guests.md, "Memory map"). */
export const LAYOUT = {
  /** The GDT: null, code32, data, code64, TSS (16 bytes). */
  gdt: 0x1000,
  /** The TSS that TR refers to (104 bytes, no I/O bitmap). */
  tss: 0x1080,
  /** Multiboot information block (multiboot images only), 256 bytes. */
  multibootInfo: 0x2000,
  /** Long mode: PML4, PDPT, then one page directory per GiB mapped. */
  pageTables: 0x10000,
  /** Initial ESP/RSP; the 64 KiB below it are kept free of image bytes. */
  stackTop: 0x80000,
  stackBytes: 0x10000,
} as const;

/** GDT selectors (index * 8, TI = 0, RPL = 0). */
export const SELECTOR = { code32: 0x08, data: 0x10, code64: 0x18, tss: 0x20 } as const;
const GDT_ENTRIES = 6; // null, code32, data, code64, TSS low, TSS high
export const GDT_BYTES = GDT_ENTRIES * 8;
export const TSS_BYTES = 104;

/** Default RAM per mode; protected/long grow it to hold the image (rounded up to 1 MiB). */
export const DEFAULT_MEM: Record<BootMode, number> = { real: 1 * MiB, protected: 16 * MiB, long: 16 * MiB };
/**
 * The most RAM a guest gets: it sits at physical 0 and must stay below the 32-bit MMIO hole
 * (0xc0000000 up; KVM's real-mode TSS is at 0xfffbd000 on Intel), and replay allocates as much.
 */
export const MAX_MEM = 3 * GiB;
/** Long-mode page tables map at least the 32-bit physical space, so MMIO above RAM is reachable. */
export const MIN_IDENTITY_MAP = 4 * GiB;

export const CR0 = { PE: 1n << 0n, ET: 1n << 4n, NE: 1n << 5n, WP: 1n << 16n, PG: 1n << 31n } as const;
export const CR4 = { PAE: 1n << 5n } as const;
export const EFER = { LME: 1n << 8n, LMA: 1n << 10n } as const;
const RFLAGS_RESERVED = 0x2n;

export interface BootSpec {
  mode: BootMode;
  image: LoadedImage;
  /** RAM at physical 0; default DEFAULT_MEM[mode], grown to fit the image when not given. */
  memBytes?: number;
}

/** A region the profile writes or keeps for itself, which images must not overlap. */
export interface ReservedRegion {
  start: number;
  end: number;
  what: string;
}

export interface BootPlan {
  mode: BootMode;
  memory: MemoryRegion[];
  /** Boot tables first, then the image's segments (bss is not stored: RAM starts zeroed). */
  blobs: MemoryBlob[];
  reserved: ReservedRegion[];
  entry: number;
  image: LoadedImage;
  /** The registers set at boot; GPRs not listed are 0. */
  regs: Regs;
  /** The boot sregs; cr8 and apic_base (which the profile leaves alone) are taken from `current`. */
  state(current: Sregs): { regs: Regs; sregs: Sregs };
}

function zeroRegs(): Regs {
  return Object.fromEntries(REG_NAMES.map((n) => [n, 0n])) as Regs;
}

function roundUp(v: number, to: number): number {
  return Math.ceil(v / to) * to;
}

function sizeText(bytes: number): string {
  if (bytes % MiB === 0) return `${bytes / MiB} MiB`;
  if (bytes % KiB === 0) return `${bytes / KiB} KiB`;
  return `${bytes} bytes`;
}

/** The GDT the protected- and long-mode profiles place at LAYOUT.gdt (same bytes for both). */
export function bootGdt(): Uint8Array {
  const gdt = new Uint8Array(GDT_BYTES);
  gdt.set(encodeDescriptor(flatDescriptor('code32')), SELECTOR.code32);
  gdt.set(encodeDescriptor(flatDescriptor('data')), SELECTOR.data);
  gdt.set(encodeDescriptor(flatDescriptor('code64')), SELECTOR.code64);
  gdt.set(encodeSystemDescriptor64(tssDescriptor(LAYOUT.tss, TSS_BYTES)), SELECTOR.tss);
  return gdt;
}

/** The TSS: ring-0 stack = the boot stack, I/O bitmap offset past the end (no bitmap). */
export function bootTss(mode: 'protected' | 'long'): Uint8Array {
  const tss = new Uint8Array(TSS_BYTES);
  const v = new DataView(tss.buffer);
  if (mode === 'protected') {
    v.setUint32(4, LAYOUT.stackTop, true); // ESP0
    v.setUint16(8, SELECTOR.data, true); // SS0
  } else {
    v.setBigUint64(4, BigInt(LAYOUT.stackTop), true); // RSP0
  }
  v.setUint16(102, TSS_BYTES, true); // I/O map base
  return tss;
}

/** The segment registers that match bootGdt() for `mode`. */
export function bootSegments(mode: 'protected' | 'long'): Pick<Sregs, 'cs' | 'ds' | 'es' | 'fs' | 'gs' | 'ss' | 'tr' | 'ldt'> {
  const data = segmentFromDescriptor(SELECTOR.data, flatDescriptor('data'));
  const cs = mode === 'long' ? segmentFromDescriptor(SELECTOR.code64, flatDescriptor('code64')) : segmentFromDescriptor(SELECTOR.code32, flatDescriptor('code32'));
  const ldt: Segment = { base: 0n, limit: 0, selector: 0, type: 0x2, present: 0, dpl: 0, db: 0, s: 0, l: 0, g: 0, avl: 0, unusable: 1 };
  return { cs, ds: data, es: { ...data }, fs: { ...data }, gs: { ...data }, ss: { ...data }, tr: segmentFromDescriptor(SELECTOR.tss, tssDescriptor(LAYOUT.tss, TSS_BYTES)), ldt };
}

function defaultMem(mode: BootMode, image: LoadedImage): number {
  const end = Math.max(...image.segments.map((s) => s.address + s.memSize));
  return Math.max(DEFAULT_MEM[mode], roundUp(end, MiB));
}

function reservedRegions(mode: BootMode, image: LoadedImage, pageTableBytes: number): ReservedRegion[] {
  if (mode === 'real') return [];
  const out: ReservedRegion[] = [
    { start: LAYOUT.gdt, end: LAYOUT.gdt + GDT_BYTES, what: 'the GDT' },
    { start: LAYOUT.tss, end: LAYOUT.tss + TSS_BYTES, what: 'the TSS' },
  ];
  if (image.multiboot) out.push({ start: LAYOUT.multibootInfo, end: LAYOUT.multibootInfo + MBI_BYTES, what: 'the multiboot information block' });
  if (mode === 'long') out.push({ start: LAYOUT.pageTables, end: LAYOUT.pageTables + pageTableBytes, what: 'the page tables' });
  out.push({ start: LAYOUT.stackTop - LAYOUT.stackBytes, end: LAYOUT.stackTop, what: 'the boot stack' });
  return out;
}

/** Computes the boot plan. Throws ImageError when the image does not fit the memory map. */
export function planBoot(spec: BootSpec): BootPlan {
  const { mode, image } = spec;
  const file = image.name;
  const memBytes = spec.memBytes ?? defaultMem(mode, image);
  if (memBytes <= 0 || memBytes % 0x1000 !== 0) throw new ImageError(file, `RAM size ${memBytes} is not a positive multiple of 4 KiB (--mem)`);
  if (memBytes > MAX_MEM) {
    throw new ImageError(file, `needs ${sizeText(memBytes)} of RAM, more than the ${MAX_MEM / GiB} GiB a guest can have (RAM lies below the 32-bit MMIO hole)`);
  }
  if (mode !== 'real' && memBytes < LAYOUT.stackTop) {
    throw new ImageError(file, `${mode} mode needs at least ${sizeText(LAYOUT.stackTop)} of RAM (the boot tables and stack live below ${hex(LAYOUT.stackTop)}); raise --mem`);
  }
  const tables = mode === 'long' ? identityPageTables(LAYOUT.pageTables, Math.max(memBytes, MIN_IDENTITY_MAP)) : undefined;
  const reserved = reservedRegions(mode, image, tables?.bytes.length ?? 0);

  for (const seg of image.segments) {
    const end = seg.address + seg.memSize;
    const range = `[${hex(seg.address)}, ${hex(end)})`;
    if (end > memBytes) {
      throw new ImageError(file, `${seg.label} ${range} does not fit in ${sizeText(memBytes)} of RAM; raise --mem`);
    }
    const clash = reserved.find((r) => seg.address < r.end && r.start < end);
    if (clash) {
      throw new ImageError(
        file,
        `${seg.label} ${range} overlaps ${clash.what} at [${hex(clash.start)}, ${hex(clash.end)}) that vmtrace places in ${mode} mode (docs/guests.md); load it elsewhere`,
      );
    }
  }

  const blobs: MemoryBlob[] = [];
  const regs = zeroRegs();
  regs.rflags = RFLAGS_RESERVED;
  regs.rip = BigInt(image.realEntry ? image.realEntry.ip : image.entry);
  if (mode !== 'real') {
    blobs.push({ address: LAYOUT.gdt, bytes: bootGdt(), what: 'GDT' });
    blobs.push({ address: LAYOUT.tss, bytes: bootTss(mode), what: 'TSS' });
    if (tables) blobs.push({ address: tables.cr3, bytes: tables.bytes, what: `page tables (identity, 2 MiB pages, ${tables.directories} GiB)` });
    regs.rsp = BigInt(LAYOUT.stackTop);
    if (image.multiboot) {
      blobs.push({ address: LAYOUT.multibootInfo, bytes: encodeMultibootInfo(multibootInfoFor(memBytes), LAYOUT.multibootInfo), what: 'multiboot information' });
      regs.rax = BigInt(MULTIBOOT_BOOTLOADER_MAGIC);
      regs.rbx = BigInt(LAYOUT.multibootInfo);
    }
  }
  for (const seg of image.segments) if (seg.bytes.length > 0) blobs.push({ address: seg.address, bytes: seg.bytes, what: seg.what });

  const memory: MemoryRegion[] = [{ base: 0, size: memBytes, kind: 'ram' }];
  const state = (current: Sregs): { regs: Regs; sregs: Sregs } => {
    if (mode === 'real') {
      const entry = image.realEntry ?? { cs: 0, ip: image.entry };
      return realModeState({ cs: entry.cs, ip: entry.ip, sp: 0 }, current);
    }
    const long = mode === 'long';
    const sregs: Sregs = {
      ...current, // cr8 and apic_base stay as KVM has them
      ...bootSegments(mode),
      gdt: { base: BigInt(LAYOUT.gdt), limit: GDT_BYTES - 1 },
      idt: { base: 0n, limit: 0 }, // no IDT: the guest installs its own (an early fault triple-faults)
      cr0: CR0.PE | CR0.ET | CR0.NE | (long ? CR0.WP | CR0.PG : 0n),
      cr2: 0n,
      cr3: tables ? BigInt(tables.cr3) : 0n,
      cr4: long ? CR4.PAE : 0n,
      efer: long ? EFER.LME | EFER.LMA : 0n,
    };
    return { regs: { ...regs }, sregs };
  };
  return { mode, memory, blobs, reserved, entry: image.entry, image, regs, state };
}
