// Stage-1 translation of the EL1&0 regime (4 KiB granule), as the ARM ARM's table walk does it:
// TTBR0/TTBR1 chosen by the top VA bits, start level from TxSZ, table/block/page descriptors,
// hierarchical APTable/PXNTable/UXNTable, AP/PXN/UXN/WXN permissions, the access flag. Faults are
// thrown as A64Fault (data or instruction abort with the FSC and level). No TLB: every access
// walks, so a changed descriptor takes effect at once.

import { A64Fault, A64Unsupported, EC, FSC } from './types.js';

export const ACC_READ = 0;
export const ACC_WRITE = 1;
export const ACC_EXEC = 2;

/** What the walker needs from the CPU. */
export interface WalkHost {
  sctlr(): bigint;
  tcr(): bigint;
  ttbr(upper: boolean): bigint;
  mair(): bigint;
  /** A descriptor at a physical address, or null outside RAM. */
  readPhys64(pa: number): bigint | null;
}

const OA_MASK = 0x0000_ffff_ffff_f000n;
const VA48 = 0xffff_ffff_ffffn;
const PA_LIMIT = 1n << 48n;

export class Mmu {
  /** The memory type of the last translation: Device (unaligned accesses fault) or Normal. */
  device = false;

  constructor(private readonly host: WalkHost) {}

  abort(va: bigint, acc: number, el: number, fsc: number): A64Fault {
    if (acc === ACC_EXEC) return new A64Fault(el === 0 ? EC.IABT_LOWER : EC.IABT_SAME, fsc, va);
    return new A64Fault(el === 0 ? EC.DABT_LOWER : EC.DABT_SAME, (acc === ACC_WRITE ? 1 << 6 : 0) | fsc, va);
  }

  /** The physical address of `va` for an access of kind `acc` at exception level `el`. */
  translate(va: bigint, acc: number, el: number): number {
    const h = this.host;
    const sctlr = h.sctlr();
    if ((sctlr & 1n) === 0n) {
      // MMU off: flat, data accesses are Device-nGnRnE, instruction fetches Normal.
      if (va >= PA_LIMIT) throw this.abort(va, acc, el, FSC.ADDRESS_SIZE);
      this.device = acc !== ACC_EXEC;
      return Number(va);
    }
    const tcr = h.tcr();
    const upper = ((va >> 55n) & 1n) === 1n;
    const tbi = acc !== ACC_EXEC && ((tcr >> (upper ? 38n : 37n)) & 1n) === 1n;
    const txsz = Number((upper ? tcr >> 16n : tcr) & 0x3fn);
    const ia = 64 - txsz;
    const topBits = (tbi ? 56 : 64) - ia;
    const top = (va >> BigInt(ia)) & ((1n << BigInt(topBits)) - 1n);
    if (top !== (upper ? (1n << BigInt(topBits)) - 1n : 0n)) throw this.abort(va, acc, el, FSC.TRANSLATION);
    if (((tcr >> (upper ? 23n : 7n)) & 1n) === 1n) throw this.abort(va, acc, el, FSC.TRANSLATION);
    const tg = Number((tcr >> (upper ? 30n : 14n)) & 3n);
    if (tg !== (upper ? 2 : 0)) throw new A64Unsupported(`translation granule TG${upper ? 1 : 0}=${tg} (only 4 KiB)`);
    let level = ia > 39 ? 0 : ia > 30 ? 1 : ia > 21 ? 2 : 3;
    const vn = Number(va & VA48);
    let table = Number(h.ttbr(upper) & 0x0000_ffff_ffff_fffen);
    let apTable = 0n;
    let pxnTable = 0n;
    let uxnTable = 0n;
    let first = true;
    for (;;) {
      const shift = 12 + 9 * (3 - level);
      const bits = first ? ia - shift : 9;
      first = false;
      const index = Math.floor(vn / 2 ** shift) % 2 ** bits;
      const desc = h.readPhys64(table + index * 8);
      if (desc === null) throw this.abort(va, acc, el, FSC.WALK_EXTERNAL + level);
      if ((desc & 1n) === 0n) throw this.abort(va, acc, el, FSC.TRANSLATION + level);
      const isTable = (desc & 2n) !== 0n;
      if (level < 3 && isTable) {
        table = Number(desc & OA_MASK);
        apTable |= (desc >> 61n) & 3n;
        pxnTable |= (desc >> 59n) & 1n;
        uxnTable |= (desc >> 60n) & 1n;
        level++;
        continue;
      }
      if ((level === 3 && !isTable) || level === 0) throw this.abort(va, acc, el, FSC.TRANSLATION + level);
      if ((desc & (1n << 10n)) === 0n) throw this.abort(va, acc, el, FSC.ACCESS_FLAG + level);
      const userOk = ((desc >> 6n) & 1n) === 1n && (apTable & 1n) === 0n;
      const readOnly = ((desc >> 7n) & 1n) === 1n || (apTable & 2n) !== 0n;
      const wxn = ((sctlr >> 19n) & 1n) === 1n;
      const userW = userOk && !readOnly;
      let ok: boolean;
      if (acc === ACC_READ) ok = el === 1 || userOk;
      else if (acc === ACC_WRITE) ok = !readOnly && (el === 1 || userOk);
      else if (el === 0) ok = ((desc >> 54n) & 1n) === 0n && uxnTable === 0n && !(userW && wxn);
      else ok = ((desc >> 53n) & 1n) === 0n && pxnTable === 0n && !(!readOnly && wxn) && !userW;
      if (!ok) throw this.abort(va, acc, el, FSC.PERMISSION + level);
      const attr = Number((h.mair() >> BigInt(8 * Number((desc >> 2n) & 7n))) & 0xffn);
      this.device = (attr & 0xf0) === 0;
      const size = 2 ** shift;
      const oa = Number(desc & OA_MASK);
      return oa - (oa % size) + (vn % size);
    }
  }
}
