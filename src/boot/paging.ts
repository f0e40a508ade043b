// Identity-mapped 4-level page tables with 2 MiB pages, as the long-mode profile places them in
// guest memory: one PML4, one PDPT, and one page directory per GiB covered.

export const PAGE_4K = 0x1000;
export const PAGE_2M = 0x200000;
const GIB = 0x40000000;

/** Page-table entry bits (SDM vol. 3, 4.5). */
export const PTE = {
  present: 1n << 0n,
  writable: 1n << 1n,
  user: 1n << 2n,
  accessed: 1n << 5n,
  dirty: 1n << 6n,
  /** In a page-directory entry: maps a 2 MiB page. */
  pageSize: 1n << 7n,
} as const;

/**
 * Accessed (and for the 2 MiB leaves, dirty) are preset: the CPU then never writes the tables
 * while walking them, so the guest's memory only changes when the guest itself changes it.
 */
const TABLE_FLAGS = PTE.present | PTE.writable | PTE.accessed;
const LEAF_FLAGS = TABLE_FLAGS | PTE.dirty | PTE.pageSize;

export interface PageTables {
  /** Physical address of the PML4: the value of CR3. */
  cr3: number;
  /** PML4, PDPT, then the page directories, contiguous from `cr3`. */
  bytes: Uint8Array;
  /** Bytes of physical address space mapped (a multiple of 1 GiB). */
  covered: number;
  /** Number of page directories (GiB covered). */
  directories: number;
}

/**
 * Tables at `base` (4 KiB aligned) mapping linear = physical for [0, `cover`) rounded up to a
 * whole GiB, with 2 MiB pages, supervisor, writable. At most 512 GiB (one PDPT).
 */
export function identityPageTables(base: number, cover: number): PageTables {
  if (base % PAGE_4K !== 0) throw new RangeError(`page tables must be 4 KiB aligned (0x${base.toString(16)})`);
  const directories = Math.max(1, Math.ceil(cover / GIB));
  if (directories > 512) throw new RangeError('identity page tables cover at most 512 GiB');
  const bytes = new Uint8Array((2 + directories) * PAGE_4K);
  const v = new DataView(bytes.buffer);
  const pdpt = base + PAGE_4K;
  v.setBigUint64(0, BigInt(pdpt) | TABLE_FLAGS, true);
  for (let d = 0; d < directories; d++) {
    const pd = base + (2 + d) * PAGE_4K;
    v.setBigUint64(PAGE_4K + d * 8, BigInt(pd) | TABLE_FLAGS, true);
    for (let e = 0; e < 512; e++) {
      const phys = BigInt(d) * BigInt(GIB) + BigInt(e) * BigInt(PAGE_2M);
      v.setBigUint64((2 + d) * PAGE_4K + e * 8, phys | LEAF_FLAGS, true);
    }
  }
  return { cr3: base, bytes, covered: directories * GIB, directories };
}

/**
 * Walks tables laid out in `mem` (guest-physical bytes from 0) for a linear address, as the CPU
 * does with CR4.PAE and EFER.LMA: used by tests and diagnostics, not by the recorder.
 */
export function walk(mem: (phys: number) => bigint, cr3: number, linear: bigint): { phys: bigint; entries: bigint[] } | undefined {
  const idx = (shift: bigint) => Number((linear >> shift) & 0x1ffn);
  const addrMask = 0x000ffffffffff000n;
  const entries: bigint[] = [];
  let table = BigInt(cr3) & addrMask;
  for (const [level, shift] of [[4, 39n], [3, 30n], [2, 21n], [1, 12n]] as const) {
    const e = mem(Number(table) + idx(shift) * 8);
    entries.push(e);
    if (!(e & PTE.present)) return undefined;
    if (level === 3 && e & PTE.pageSize) return { phys: (e & 0x000fffffc0000000n) | (linear & 0x3fffffffn), entries };
    if (level === 2 && e & PTE.pageSize) return { phys: (e & 0x000fffffffe00000n) | (linear & 0x1fffffn), entries };
    if (level === 1) return { phys: (e & addrMask) | (linear & 0xfffn), entries };
    table = e & addrMask;
  }
  return undefined;
}
