// Guest-physical memory: RAM regions (arrays owned by the caller, written in place) and MMIO
// (everything else, forwarded to the sink). Multi-byte values are little-endian. An access that
// is not all in one RAM region is split as KVM splits it (emulator_read_write): RAM bytes are
// read or written directly, and each run of non-RAM bytes within one 4 KiB page is one MMIO
// access (one KVM MMIO fragment, one exit): a dword at the last two bytes of RAM is a 2-byte
// MMIO access at the end of RAM; a fully-MMIO access crossing a page boundary is two.
//
// Every RAM write marks its 4 KiB page (counted from the region's base) dirty, so a snapshot
// copies only the pages written since the previous one (snapshot.ts).

import * as K from './constants.js';
import type { DecodeCache } from './icache.js';
import type { ExitSink, RamRegion } from './types.js';

// (local copies of the constants: constants.ts says why)
const { STOP_MMIO } = K;

/** Bytes per page of the dirty map (pages are counted from each region's base). */
export const RAM_PAGE = 4096;

/** A RAM region and its snapshot bookkeeping (snapshot.ts). */
export interface RamRegionState {
  readonly base: number;
  readonly end: number;
  readonly bytes: Uint8Array;
  /** 1 for every page written since the last snapshot or restore. */
  readonly dirty: Uint8Array;
  /**
   * Per page, the (immutable) snapshot copy whose contents the page has unless it is dirty;
   * undefined: never captured. Shared by snapshots whose page did not change.
   */
  readonly pages: Array<Uint8Array | undefined>;
}

type Region = RamRegionState;

/** Receives the "this instruction did MMIO" notification. */
export interface StopFlags {
  stop: number;
}

export class PhysMem {
  private readonly regions: Region[];
  // most recently used region (fast path)
  private hBase = 0;
  private hLen = 0;
  private hBytes: Uint8Array = new Uint8Array(0);
  private hDirty: Uint8Array = new Uint8Array(0);
  /** one past the highest RAM byte */
  readonly ramEnd: number;

  constructor(
    ram: RamRegion[],
    private readonly sink: ExitSink,
    private readonly owner: StopFlags,
    private readonly code: DecodeCache | null,
  ) {
    this.regions = ram
      .map((r) => {
        const pages = Math.ceil(r.bytes.length / RAM_PAGE);
        // everything is dirty until the first snapshot captures it
        return { base: r.base, end: r.base + r.bytes.length, bytes: r.bytes, dirty: new Uint8Array(pages).fill(1), pages: new Array<Uint8Array | undefined>(pages).fill(undefined) };
      })
      .sort((a, b) => a.base - b.base);
    for (let k = 1; k < this.regions.length; k++) {
      if (this.regions[k]!.base < this.regions[k - 1]!.end) throw new Error('overlapping RAM regions');
    }
    this.ramEnd = this.regions.length ? this.regions[this.regions.length - 1]!.end : 0;
    if (this.regions.length) this.hit(this.regions[0]!);
  }

  private hit(r: Region): void {
    this.hBase = r.base;
    this.hLen = r.end - r.base;
    this.hBytes = r.bytes;
    this.hDirty = r.dirty;
  }

  /** The RAM regions by address, for snapshots. */
  get ram(): readonly RamRegionState[] {
    return this.regions;
  }

  /** RAM region containing physical address a, or undefined (MMIO). */
  region(a: number): Region | undefined {
    const rs = this.regions;
    for (let k = 0; k < rs.length; k++) {
      const r = rs[k]!;
      if (a >= r.base && a < r.end) return r;
    }
    return undefined;
  }

  /** RAM bytes and offset backing physical address a (for instruction fetch), or null. */
  ramAt(a: number): { bytes: Uint8Array; off: number; avail: number } | null {
    const r = this.region(a);
    return r ? { bytes: r.bytes, off: a - r.base, avail: r.end - a } : null;
  }

  // ------------------------------------------------------------------ reads

  read8(a: number): number {
    const o = a - this.hBase;
    if (o >= 0 && o < this.hLen) return this.hBytes[o]!;
    return this.readSlow(a, 1);
  }

  read16(a: number): number {
    const o = a - this.hBase;
    if (o >= 0 && o + 2 <= this.hLen) {
      const b = this.hBytes;
      return b[o]! | (b[o + 1]! << 8);
    }
    return this.readSlow(a, 2);
  }

  read32(a: number): number {
    const o = a - this.hBase;
    if (o >= 0 && o + 4 <= this.hLen) {
      const b = this.hBytes;
      return (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;
    }
    return this.readSlow(a, 4);
  }

  read(a: number, size: number): number {
    return size === 1 ? this.read8(a) : size === 2 ? this.read16(a) : this.read32(a);
  }

  /** High half (int32) of the last readQ(). */
  qh = 0;

  /** 8-byte read: returns the low half, the high half is left in `qh`. MMIO: one 8-byte access. */
  readQ(a: number): number {
    const o = a - this.hBase;
    if (o >= 0 && o + 8 <= this.hLen) {
      const b = this.hBytes;
      this.qh = b[o + 4]! | (b[o + 5]! << 8) | (b[o + 6]! << 16) | (b[o + 7]! << 24);
      return (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;
    }
    const r = this.region(a);
    if (r !== undefined && a + 8 <= r.end) {
      this.hit(r);
      return this.readQ(a);
    }
    const v = this.readBytes(a, 8);
    this.qh = Number((v >> 32n) & 0xffffffffn) | 0;
    return Number(v & 0xffffffffn);
  }

  /** 8-byte write (MMIO: one 8-byte access). */
  writeQ(a: number, lo: number, hi: number): void {
    const o = a - this.hBase;
    if (o >= 0 && o + 8 <= this.hLen) {
      const b = this.hBytes;
      b[o] = lo; b[o + 1] = lo >> 8; b[o + 2] = lo >> 16; b[o + 3] = lo >> 24;
      b[o + 4] = hi; b[o + 5] = hi >> 8; b[o + 6] = hi >> 16; b[o + 7] = hi >> 24;
      this.hDirty[o >>> 12] = 1;
      this.hDirty[(o + 7) >>> 12] = 1;
      if (this.code !== null && (this.code.marks[a >>> 12] !== undefined || this.code.marks[(a + 7) >>> 12] !== undefined)) {
        this.code.written(a, 8);
      }
      return;
    }
    const r = this.region(a);
    if (r !== undefined && a + 8 <= r.end) {
      this.hit(r);
      this.writeQ(a, lo, hi);
      return;
    }
    this.writeBytes(a, 8, (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0));
  }

  /** Is physical address a in RAM? */
  isRam(a: number): boolean {
    const o = a - this.hBase;
    return (o >= 0 && o < this.hLen) || this.region(a) !== undefined;
  }

  /** Direct RAM store of a 32-bit value, bypassing decode-cache hooks (page-table A/D bits). */
  poke32(a: number, v: number): void {
    const r = this.region(a);
    if (r === undefined || a + 4 > r.end) return;
    const o = a - r.base;
    const b = r.bytes;
    b[o] = v; b[o + 1] = v >> 8; b[o + 2] = v >> 16; b[o + 3] = v >> 24;
    r.dirty[o >>> 12] = 1;
    r.dirty[(o + 3) >>> 12] = 1;
  }

  private readSlow(a: number, size: number): number {
    const r = this.region(a);
    if (r !== undefined && a + size <= r.end) {
      this.hit(r);
      return size === 1 ? this.read8(a) : size === 2 ? this.read16(a) : this.read32(a);
    }
    return Number(this.readBytes(a, size));
  }

  /** A read of 1..4 bytes of any size (3 included) within one page or across two. */
  readN(a: number, size: number): number {
    return size === 1 || size === 2 || size === 4 ? this.read(a, size) : Number(this.readBytes(a, size));
  }

  /** A write of 1..4 bytes of any size (3 included). */
  writeN(a: number, size: number, v: number): void {
    if (size === 1 || size === 2 || size === 4) this.write(a, size, v);
    else this.writeBytes(a, size, BigInt(v >>> 0) & ((1n << BigInt(8 * size)) - 1n));
  }

  /**
   * Length of the run of non-RAM bytes at a (at most `max`): it ends at RAM or at a page
   * boundary, as one KVM MMIO fragment does.
   */
  private mmioRun(a: number, max: number): number {
    let n = 1;
    while (n < max && ((a + n) & 0xfff) !== 0 && this.region(a + n) === undefined) n++;
    return n;
  }

  /** Up to 8 bytes, split into RAM bytes and per-page MMIO accesses (see the top of the file). */
  readBytes(a: number, size: number): bigint {
    let v = 0n;
    for (let k = 0; k < size; ) {
      const p = a + k;
      const rb = this.region(p);
      if (rb !== undefined) {
        v |= BigInt(rb.bytes[p - rb.base]!) << BigInt(8 * k);
        k++;
        continue;
      }
      const n = this.mmioRun(p, size - k);
      v |= this.mmioRead(p, n) << BigInt(8 * k);
      k += n;
    }
    return v;
  }

  /** Up to 8 bytes, split like readBytes(). */
  writeBytes(a: number, size: number, v: bigint): void {
    for (let k = 0; k < size; ) {
      const p = a + k;
      const rb = this.region(p);
      if (rb !== undefined) {
        rb.bytes[p - rb.base] = Number((v >> BigInt(8 * k)) & 0xffn);
        rb.dirty[(p - rb.base) >>> 12] = 1;
        if (this.code !== null) this.code.written(p, 1);
        k++;
        continue;
      }
      const n = this.mmioRun(p, size - k);
      this.mmioWrite(p, n, (v >> BigInt(8 * k)) & ((1n << BigInt(8 * n)) - 1n));
      k += n;
    }
  }

  /**
   * Bytes to scattered physical addresses as one write (KVM's block write of a REP INS
   * read-ahead, OP_MEM_STR): RAM bytes directly, each run of consecutive non-RAM addresses
   * within one page as MMIO writes of at most 8 bytes (KVM exits with 8-byte pieces of an MMIO
   * fragment).
   */
  writeScattered(addrs: readonly number[], bytes: readonly number[]): void {
    let start = -1;
    let len = 0;
    let val = 0n;
    const flush = () => {
      if (len) this.mmioWrite(start, len, val);
      len = 0;
      val = 0n;
    };
    for (let k = 0; k < addrs.length; k++) {
      const p = addrs[k]!;
      const rb = this.region(p);
      if (rb !== undefined) {
        flush();
        rb.bytes[p - rb.base] = bytes[k]!;
        rb.dirty[(p - rb.base) >>> 12] = 1;
        if (this.code !== null) this.code.written(p, 1);
        continue;
      }
      if (len && (p !== start + len || (p & 0xfff) === 0 || len === 8)) flush();
      if (!len) start = p;
      val |= BigInt(bytes[k]! & 0xff) << BigInt(8 * len);
      len++;
    }
    flush();
  }

  // ------------------------------------------------------------------ writes

  write8(a: number, v: number): void {
    const o = a - this.hBase;
    if (o >= 0 && o < this.hLen) {
      this.hBytes[o] = v;
      this.hDirty[o >>> 12] = 1;
      if (this.code !== null && this.code.marks[a >>> 12] !== undefined) this.code.written(a, 1);
      return;
    }
    this.writeSlow(a, 1, v);
  }

  write16(a: number, v: number): void {
    const o = a - this.hBase;
    if (o >= 0 && o + 2 <= this.hLen) {
      const b = this.hBytes;
      b[o] = v;
      b[o + 1] = v >> 8;
      this.hDirty[o >>> 12] = 1;
      this.hDirty[(o + 1) >>> 12] = 1;
      if (this.code !== null && (this.code.marks[a >>> 12] !== undefined || this.code.marks[(a + 1) >>> 12] !== undefined)) {
        this.code.written(a, 2);
      }
      return;
    }
    this.writeSlow(a, 2, v);
  }

  write32(a: number, v: number): void {
    const o = a - this.hBase;
    if (o >= 0 && o + 4 <= this.hLen) {
      const b = this.hBytes;
      b[o] = v;
      b[o + 1] = v >> 8;
      b[o + 2] = v >> 16;
      b[o + 3] = v >> 24;
      this.hDirty[o >>> 12] = 1;
      this.hDirty[(o + 3) >>> 12] = 1;
      if (this.code !== null && (this.code.marks[a >>> 12] !== undefined || this.code.marks[(a + 3) >>> 12] !== undefined)) {
        this.code.written(a, 4);
      }
      return;
    }
    this.writeSlow(a, 4, v);
  }

  write(a: number, size: number, v: number): void {
    if (size === 1) this.write8(a, v);
    else if (size === 2) this.write16(a, v);
    else this.write32(a, v);
  }

  private writeSlow(a: number, size: number, v: number): void {
    const r = this.region(a);
    if (r !== undefined && a + size <= r.end) {
      this.hit(r);
      this.write(a, size, v);
      return;
    }
    this.writeBytes(a, size, BigInt(v >>> 0) & ((1n << BigInt(size * 8)) - 1n));
  }

  // ------------------------------------------------------------------ MMIO

  mmioRead(a: number, size: number): bigint {
    this.owner.stop |= STOP_MMIO;
    return BigInt.asUintN(size * 8, this.sink.mmioRead(a, size));
  }

  mmioWrite(a: number, size: number, v: bigint): void {
    this.owner.stop |= STOP_MMIO;
    this.sink.mmioWrite(a, size, v);
  }
}
