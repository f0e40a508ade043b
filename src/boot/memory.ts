// Placing the initial memory blobs (image, boot tables) into guest RAM — shared by the recorder
// (KVM's memory) and the replayer (the interpreter's), so both start from identical bytes.
import type { MemoryBlob } from '../trace/format.js';

export interface RamRegion {
  base: number;
  bytes: Uint8Array;
}

export function loadMemory(ram: RamRegion[], blobs: MemoryBlob[]): void {
  for (const blob of blobs) {
    const region = ram.find((r) => blob.address >= r.base && blob.address + blob.bytes.length <= r.base + r.bytes.length);
    if (!region) {
      throw new Error(`${blob.what} (at 0x${blob.address.toString(16)}, ${blob.bytes.length} bytes) does not fit in guest RAM`);
    }
    region.bytes.set(blob.bytes, blob.address - region.base);
  }
}
