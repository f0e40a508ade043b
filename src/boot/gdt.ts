// Segment descriptors: the 8-byte GDT entry encoding (and the 16-byte long-mode system
// descriptor), and the descriptor cache a CPU holds after loading one (KVM's `struct kvm_segment`).
// The boot profiles build the GDT with these and derive the initial segment registers from the
// very same descriptors, so the state KVM gets always matches the table in guest memory.
import type { Segment } from '../cpu-state.js';

/** The fields of a segment descriptor, as the SDM names them. `limit` is the raw 20-bit field. */
export interface Descriptor {
  base: number;
  /** Raw 20-bit limit; in pages (4 KiB) when `g` is 1. */
  limit: number;
  /** 4-bit type: code/data (s = 1) or system (s = 0, e.g. 0xb = busy TSS). */
  type: number;
  s: number;
  dpl: number;
  present: number;
  avl: number;
  /** 64-bit code segment (long mode). */
  l: number;
  /** Default operand size 32 (code) / big stack (data). */
  db: number;
  /** Granularity: limit counts 4 KiB pages. */
  g: number;
}

/** Code segment type: execute/read, accessed (set so that loading it never writes the GDT). */
export const TYPE_CODE_XR_ACCESSED = 0xb;
/** Data segment type: read/write, accessed. */
export const TYPE_DATA_RW_ACCESSED = 0x3;
/** System descriptor type: busy 32-bit TSS (in long mode: busy 64-bit TSS). */
export const TYPE_TSS_BUSY = 0xb;

function check(d: Descriptor): void {
  if (!Number.isInteger(d.base) || d.base < 0 || d.base > 0xffffffff) throw new RangeError(`descriptor base 0x${d.base.toString(16)} is not 32-bit`);
  if (!Number.isInteger(d.limit) || d.limit < 0 || d.limit > 0xfffff) throw new RangeError(`descriptor limit 0x${d.limit.toString(16)} is not 20-bit`);
}

/** The 8 bytes of a code, data or (legacy) system descriptor, little-endian as in the GDT. */
export function encodeDescriptor(d: Descriptor): Uint8Array {
  check(d);
  const b = new Uint8Array(8);
  b[0] = d.limit & 0xff;
  b[1] = (d.limit >>> 8) & 0xff;
  b[2] = d.base & 0xff;
  b[3] = (d.base >>> 8) & 0xff;
  b[4] = (d.base >>> 16) & 0xff;
  b[5] = (d.type & 0xf) | ((d.s & 1) << 4) | ((d.dpl & 3) << 5) | ((d.present & 1) << 7);
  b[6] = ((d.limit >>> 16) & 0xf) | ((d.avl & 1) << 4) | ((d.l & 1) << 5) | ((d.db & 1) << 6) | ((d.g & 1) << 7);
  b[7] = (d.base >>> 24) & 0xff;
  return b;
}

/**
 * A long-mode system descriptor (TSS, LDT) is 16 bytes: the legacy 8 bytes, then base bits
 * 63:32 and a reserved dword. Outside long mode the second half reads as a null descriptor.
 */
export function encodeSystemDescriptor64(d: Descriptor, baseHigh = 0): Uint8Array {
  const b = new Uint8Array(16);
  b.set(encodeDescriptor(d));
  new DataView(b.buffer).setUint32(8, baseHigh, true);
  return b;
}

export function decodeDescriptor(bytes: Uint8Array, at = 0): Descriptor {
  const b = (i: number) => bytes[at + i]!;
  return {
    limit: b(0) | (b(1) << 8) | ((b(6) & 0xf) << 16),
    base: (b(2) | (b(3) << 8) | (b(4) << 16) | (b(7) << 24)) >>> 0,
    type: b(5) & 0xf,
    s: (b(5) >> 4) & 1,
    dpl: (b(5) >> 5) & 3,
    present: b(5) >> 7,
    avl: (b(6) >> 4) & 1,
    l: (b(6) >> 5) & 1,
    db: (b(6) >> 6) & 1,
    g: b(6) >> 7,
  };
}

/** The byte limit the CPU caches: the raw limit, scaled to 4 KiB pages when g is set. */
export function effectiveLimit(d: Descriptor): number {
  return d.g ? ((d.limit << 12) | 0xfff) >>> 0 : d.limit;
}

/** The segment register (descriptor cache) after loading `selector` that refers to `d`. */
export function segmentFromDescriptor(selector: number, d: Descriptor): Segment {
  return {
    base: BigInt(d.base),
    limit: effectiveLimit(d),
    selector,
    type: d.type,
    present: d.present,
    dpl: d.dpl,
    db: d.db,
    s: d.s,
    l: d.l,
    g: d.g,
    avl: d.avl,
    unusable: 0,
  };
}

/** A flat 4 GiB segment: base 0, limit 0xfffff pages. */
export function flatDescriptor(kind: 'code32' | 'code64' | 'data'): Descriptor {
  return {
    base: 0,
    limit: 0xfffff,
    type: kind === 'data' ? TYPE_DATA_RW_ACCESSED : TYPE_CODE_XR_ACCESSED,
    s: 1,
    dpl: 0,
    present: 1,
    avl: 0,
    l: kind === 'code64' ? 1 : 0,
    db: kind === 'code64' ? 0 : 1, // L=1 requires D=0
    g: 1,
  };
}

/** A busy TSS descriptor (as after LTR) for a TSS of `size` bytes at `base`. */
export function tssDescriptor(base: number, size: number): Descriptor {
  return { base, limit: size - 1, type: TYPE_TSS_BUSY, s: 0, dpl: 0, present: 1, avl: 0, l: 0, db: 0, g: 0 };
}
