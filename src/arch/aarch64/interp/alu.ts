// Integer arithmetic shared by the executors: the one place NZCV is computed (addWithCarry),
// condition codes, shifts/extends and the bitmask immediates of the logical and bitfield forms.

export const M64 = 0xffff_ffff_ffff_ffffn;
export const M32 = 0xffff_ffffn;

/** The flags an instruction sets, as the executors hand them to the CPU. */
export interface Flags { nf: number; zf: number; cf: number; vf: number }

/**
 * x + y + carry on 32 or 64 bits (AddWithCarry of the ARM ARM); subtraction passes ~y and
 * carry 1. Sets NZCV in `f` when `setFlags`. Operands must already be truncated to the width.
 */
export function addWithCarry(f: Flags, x: bigint, y: bigint, carry: bigint, sf: boolean, setFlags: boolean): bigint {
  const m = sf ? M64 : M32;
  const sum = x + y + carry;
  const r = sum & m;
  if (setFlags) {
    const top = sf ? 63n : 31n;
    f.nf = Number(r >> top);
    f.zf = r === 0n ? 1 : 0;
    f.cf = sum > m ? 1 : 0;
    f.vf = Number((((x ^ r) & (y ^ r)) >> top) & 1n);
  }
  return r;
}

/** NZ from a logical result, C and V cleared (ANDS, BICS). */
export function logicFlags(f: Flags, r: bigint, sf: boolean): void {
  f.nf = Number(r >> (sf ? 63n : 31n));
  f.zf = r === 0n ? 1 : 0;
  f.cf = 0;
  f.vf = 0;
}

export function conditionHolds(f: Flags, cond: number): boolean {
  let r: boolean;
  switch (cond >> 1) {
    case 0: r = f.zf === 1; break;
    case 1: r = f.cf === 1; break;
    case 2: r = f.nf === 1; break;
    case 3: r = f.vf === 1; break;
    case 4: r = f.cf === 1 && f.zf === 0; break;
    case 5: r = f.nf === f.vf; break;
    case 6: r = f.nf === f.vf && f.zf === 0; break;
    default: return true; // AL and NV both mean always in A64
  }
  return (cond & 1) === 1 ? !r : r;
}

export function signExtend(v: bigint, bits: number): bigint {
  return BigInt.asIntN(bits, v);
}

export function ror(v: bigint, n: number, width: number): bigint {
  if (n === 0) return v;
  const m = width === 64 ? M64 : (1n << BigInt(width)) - 1n;
  const b = BigInt(n);
  return ((v >> b) | (v << BigInt(width - n))) & m;
}

/** Shift of a register operand: type 0 LSL, 1 LSR, 2 ASR, 3 ROR. */
export function shiftReg(v: bigint, type: number, amount: number, sf: boolean): bigint {
  if (amount === 0) return v;
  const width = sf ? 64 : 32;
  const m = sf ? M64 : M32;
  const a = BigInt(amount);
  switch (type) {
    case 0: return (v << a) & m;
    case 1: return v >> a;
    case 2: return BigInt.asUintN(width, BigInt.asIntN(width, v) >> a);
    default: return ror(v, amount, width);
  }
}

/** Extend of a register operand: option 0-3 UXTB/H/W/X, 4-7 SXTB/H/W/X, then << shift. */
export function extendReg(v: bigint, option: number, shift: number, sf: boolean): bigint {
  const bits = 8 << (option & 3);
  let r = BigInt.asUintN(bits, v);
  if (option >= 4 && bits < 64) r = BigInt.asUintN(64, BigInt.asIntN(bits, r));
  return (r << BigInt(shift)) & (sf ? M64 : M32);
}

function replicate(elem: bigint, esize: number, width: number): bigint {
  let r = 0n;
  for (let i = 0; i < width; i += esize) r |= elem << BigInt(i);
  return r;
}

const ones = (n: number): bigint => (1n << BigInt(n)) - 1n;

/**
 * DecodeBitMasks of the ARM ARM: [wmask, tmask] for N:imms:immr on `width` bits, or null for
 * a reserved encoding. `immediate` is the logical-immediate form (all-ones elements reserved).
 */
export function decodeBitMasks(n: number, imms: number, immr: number, immediate: boolean, width: number): [bigint, bigint] | null {
  const combined = (n << 6) | (~imms & 0x3f);
  if (combined === 0) return null;
  const len = 31 - Math.clz32(combined);
  if (len < 1 || (1 << len) > width) return null;
  const levels = (1 << len) - 1;
  if (immediate && (imms & levels) === levels) return null;
  const s = imms & levels;
  const r = immr & levels;
  const esize = 1 << len;
  const welem = ror(ones(s + 1), r, esize);
  const telem = ones(((s - r) & levels) + 1);
  return [replicate(welem, esize, width), replicate(telem, esize, width)];
}

export function clz(v: bigint, width: number): number {
  if (v === 0n) return width;
  return width - v.toString(2).length;
}

export function reverseBits(v: bigint, width: number): bigint {
  const s = v.toString(2).padStart(width, '0');
  return BigInt('0b' + s.split('').reverse().join(''));
}

/** Reverse the bytes inside each `container`-byte chunk of a `width`-bit value (REV16/REV32/REV). */
export function reverseBytes(v: bigint, width: number, container: number): bigint {
  let r = 0n;
  for (let base = 0; base < width; base += container * 8) {
    for (let i = 0; i < container; i++) {
      const byte = (v >> BigInt(base + i * 8)) & 0xffn;
      r |= byte << BigInt(base + (container - 1 - i) * 8);
    }
  }
  return r;
}
