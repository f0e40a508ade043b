// Decode cache: decoded instructions keyed by the physical address of their first byte.
//
// Entries are invalidated precisely: every byte covered by a cached instruction is marked in a
// per-page bitmap, and a guest write to a marked byte drops the entries that could contain it.
// Writes the interpreter does not see (the caller's own views on RAM, sink callbacks) are
// handled by generations: run() starts a new generation, and an entry from an older one is
// compared byte-for-byte with memory before it is trusted again.

import type { Insn } from './insn.js';

const PAGE_SHIFT = 12;
const PAGE_MASK = 0xfff;
const PAGE_SIZE = 0x1000;

export class DecodeCache {
  /** Per physical page: instruction starting at each offset. */
  readonly pages: Array<Array<Insn | undefined> | undefined>;
  /** Per physical page: 1 for every byte that belongs to a cached instruction. */
  readonly marks: Array<Uint8Array | undefined>;
  /** Current generation; bumped whenever memory may have changed behind our back. */
  gen = 0;
  /** Per physical page: 1 if page tables were read from it since the last TLB flush. */
  readonly ptPages: Uint8Array;
  private readonly ptList: number[] = [];
  /** Called when the guest writes to a watched page-table page (the machine flushes its TLB). */
  onPtWrite: () => void = () => {};
  /** Per physical page: bumped by every guest write to a byte of a cached instruction (blocks.ts). */
  readonly codeVersion: Uint32Array;
  /** physical address above which nothing is cached (at most 4 GiB) */
  readonly limit: number;

  /** @param ramEnd end of the highest RAM region */
  constructor(ramEnd: number) {
    const limit = Math.min(ramEnd, 0x100000000);
    this.limit = limit;
    const n = Math.ceil(limit / PAGE_SIZE) + 1;
    this.pages = new Array<Array<Insn | undefined> | undefined>(n).fill(undefined);
    this.marks = new Array<Uint8Array | undefined>(n).fill(undefined);
    this.ptPages = new Uint8Array(n);
    this.codeVersion = new Uint32Array(n);
  }

  /** The instruction cached at `phys` (which must be below `limit`). */
  get(phys: number): Insn | undefined {
    const pg = this.pages[phys >>> PAGE_SHIFT];
    return pg === undefined ? undefined : pg[phys & PAGE_MASK];
  }

  /** Is the cached entry still valid for this generation (re-checking its bytes if needed)? */
  valid(i: Insn): boolean {
    if (i.gen === this.gen) return true;
    const ram = i.ram;
    if (ram === null) return false;
    const o = i.ramOff;
    const b = i.bytes;
    for (let k = 0; k < i.len; k++) if (ram[o + k] !== b[k]) return false;
    i.gen = this.gen;
    return true;
  }

  insert(phys: number, i: Insn): void {
    if (phys + i.len > this.limit) return;
    const p = phys >>> PAGE_SHIFT;
    let pg = this.pages[p];
    if (pg === undefined) {
      pg = new Array<Insn | undefined>(PAGE_SIZE).fill(undefined);
      this.pages[p] = pg;
    }
    pg[phys & PAGE_MASK] = i;
    i.gen = this.gen;
    for (let k = 0; k < i.len; k++) {
      const a = phys + k;
      let m = this.marks[a >>> PAGE_SHIFT];
      if (m === undefined) {
        m = new Uint8Array(PAGE_SIZE);
        this.marks[a >>> PAGE_SHIFT] = m;
      }
      m[a & PAGE_MASK] = 1;
    }
  }

  /**
   * Watch a page that holds page tables: a later guest write to it calls onPtWrite(). (The
   * recording hosts' KVM emulator walks the guest page tables on every access, so a changed
   * entry takes effect at once; the TLB must never be stale.)
   */
  watchPage(phys: number): boolean {
    if (phys >= this.limit) return false;
    const p = phys >>> PAGE_SHIFT;
    if (this.ptPages[p] === 0) {
      this.ptPages[p] = 1;
      this.ptList.push(p);
      if (this.marks[p] === undefined) this.marks[p] = new Uint8Array(PAGE_SIZE);
    }
    return true;
  }

  /** Forget the watched page-table pages (after a TLB flush). */
  unwatchAll(): void {
    for (const p of this.ptList) this.ptPages[p] = 0;
    this.ptList.length = 0;
  }

  /** A guest write to [phys, phys+size) hit a page with code or page tables. */
  written(phys: number, size: number): void {
    if (this.ptList.length !== 0 && (this.ptPages[phys >>> PAGE_SHIFT] !== 0 || this.ptPages[(phys + size - 1) >>> PAGE_SHIFT] !== 0)) {
      this.onPtWrite();
    }
    let hit = false;
    for (let k = 0; k < size; k++) {
      const a = phys + k;
      const m = this.marks[a >>> PAGE_SHIFT];
      if (m !== undefined && m[a & PAGE_MASK] !== 0) { hit = true; break; }
    }
    if (!hit) return;
    this.codeVersion[Math.max(0, phys - 14) >>> PAGE_SHIFT]!++;
    if ((phys + size - 1) >>> PAGE_SHIFT !== Math.max(0, phys - 14) >>> PAGE_SHIFT) this.codeVersion[(phys + size - 1) >>> PAGE_SHIFT]!++;
    // an instruction is at most 15 bytes long, so only starts in [phys-14, phys+size) can overlap
    for (let a = Math.max(0, phys - 14); a < phys + size; a++) {
      const pg = this.pages[a >>> PAGE_SHIFT];
      if (pg !== undefined) pg[a & PAGE_MASK] = undefined;
    }
  }

  clear(): void {
    for (let p = 0; p < this.codeVersion.length; p++) this.codeVersion[p]!++;
    this.pages.fill(undefined);
    this.marks.fill(undefined);
    this.unwatchAll();
  }
}
