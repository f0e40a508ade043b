// The decode table: every entry of the families, first match wins. decode() gives the executor
// of a word (cpu.ts caches it per word), disassemble() prints it with the same entry.

import { CONTROL, FP_SIMD } from './ops-ctrl.js';
import { DATA_PROCESSING } from './ops-dp.js';
import { LOADS_STORES } from './ops-mem.js';
import { unsupported, type Entry, type Exec } from './entry.js';

export type { Exec };

/** SIMD&FP first: their loads/stores share bit patterns with the integer ones except V. */
const TABLE: Entry[] = [...FP_SIMD, ...CONTROL, ...DATA_PROCESSING, ...LOADS_STORES];

function find(word: number): Entry | undefined {
  const w = word >>> 0;
  return TABLE.find((e) => ((w & e.mask) >>> 0) === e.value);
}

const hexWord = (w: number): string => (w >>> 0).toString(16).padStart(8, '0');

export function decode(word: number): Exec {
  const e = find(word);
  return e === undefined ? unsupported(`instruction 0x${hexWord(word)} not implemented`) : e.build(word >>> 0);
}

export function disassemble(word: number, pc: bigint): string {
  const e = find(word);
  return e === undefined ? `.inst 0x${hexWord(word)}` : e.dis(word >>> 0, pc);
}
