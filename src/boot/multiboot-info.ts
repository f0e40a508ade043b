// The multiboot (v1) information block a multiboot kernel finds at EBX: memory sizes, a
// memory map and the boot loader's name. Layout: the Multiboot Specification 0.6.96, section 3.3.

export const MBI_FLAGS = {
  memory: 1 << 0,
  mmap: 1 << 6,
  loaderName: 1 << 9,
} as const;

/** Offsets inside the block: the 116-byte struct, then the memory map, then the name. */
const STRUCT_BYTES = 116;
const MMAP_AT = 0x80;
const MMAP_ENTRY_BYTES = 24; // u32 size (= 20, not counting itself), u64 base, u64 length, u32 type
const NAME_AT = 0xc0;
export const MBI_BYTES = 0x100;
export const LOADER_NAME = 'vmtrace';

const LOW_MEMORY_END = 0xa0000; // 640 KiB: where the PC's lower memory ends
const HIGH_MEMORY_START = 0x100000;

export interface MultibootInfo {
  flags: number;
  /** KiB of memory from 0 (at most 640). */
  memLower: number;
  /** KiB of memory from 1 MiB up to the first hole. */
  memUpper: number;
  mmap: Array<{ base: number; length: number; type: number }>;
  loaderName: string;
}

/** The facts the block states for `ramBytes` of RAM at physical 0. */
export function multibootInfoFor(ramBytes: number): MultibootInfo {
  const mmap = [{ base: 0, length: Math.min(ramBytes, LOW_MEMORY_END), type: 1 }];
  if (ramBytes > HIGH_MEMORY_START) mmap.push({ base: HIGH_MEMORY_START, length: ramBytes - HIGH_MEMORY_START, type: 1 });
  return {
    flags: MBI_FLAGS.memory | MBI_FLAGS.mmap | MBI_FLAGS.loaderName,
    memLower: Math.floor(Math.min(ramBytes, LOW_MEMORY_END) / 1024),
    memUpper: Math.floor(Math.max(0, ramBytes - HIGH_MEMORY_START) / 1024),
    mmap,
    loaderName: LOADER_NAME,
  };
}

/** The block's bytes, for placement at guest-physical `address` (pointers inside are absolute). */
export function encodeMultibootInfo(info: MultibootInfo, address: number): Uint8Array {
  const b = new Uint8Array(MBI_BYTES);
  const v = new DataView(b.buffer);
  v.setUint32(0, info.flags, true);
  v.setUint32(4, info.memLower, true);
  v.setUint32(8, info.memUpper, true);
  v.setUint32(44, info.mmap.length * MMAP_ENTRY_BYTES, true); // mmap_length
  v.setUint32(48, address + MMAP_AT, true); // mmap_addr
  v.setUint32(64, address + NAME_AT, true); // boot_loader_name
  info.mmap.forEach((e, i) => {
    const at = MMAP_AT + i * MMAP_ENTRY_BYTES;
    v.setUint32(at, MMAP_ENTRY_BYTES - 4, true);
    v.setBigUint64(at + 4, BigInt(e.base), true);
    v.setBigUint64(at + 12, BigInt(e.length), true);
    v.setUint32(at + 20, e.type, true);
  });
  b.set(Buffer.from(info.loaderName + '\0', 'latin1'), NAME_AT);
  if (MMAP_AT < STRUCT_BYTES || NAME_AT < MMAP_AT + info.mmap.length * MMAP_ENTRY_BYTES) throw new Error('multiboot info layout overflow');
  return b;
}
