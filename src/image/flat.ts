// Flat binaries: the file's bytes, as they are, at one load address (--load).
import type { ImageSegment } from './types.js';

export function flatSegment(bytes: Uint8Array, file: string, address: number): ImageSegment {
  return { address, bytes, memSize: bytes.length, label: 'the image', what: `image ${file}` };
}
