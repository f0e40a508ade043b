// The register file aliases 8/16/32-bit views of one buffer, which assumes a little-endian host.

import { endianness } from 'node:os';

let checked = false;
export function assertLittleEndianHost(): void {
  if (checked) return;
  if (endianness() !== 'LE') throw new Error('vmtrace x86 interpreter requires a little-endian host');
  checked = true;
}
