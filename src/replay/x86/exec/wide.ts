// Executors for a 64-bit operand size (REX.W, or the 64-bit default of PUSH/POP). Operands
// are (low uint32, high int32) halves read with rdq1/rdq2 (high half in c.qh) and written
// with wrq1/wrq2; flags go through the 64-bit producers of LazyFlags. Multiplication and
// division use BigInt (rare), everything else stays on 32-bit halves.

import * as K from '../constants.js';
import { K_MEM, type Insn } from '../insn.js';
import type { Machine } from '../machine.js';
import { U } from '../flag-model.js';
import { jitHelpers } from '../jit.js';
import type { Exec } from '../opdef.js';

// (local copies of the constants: constants.ts says why)
const { AF, ARITH, CF, I_EAX, I_ECX, I_EDX, OF, PF, SF, TWO32, VEC_DE, VEC_GP, VEC_UD, ZF } = K;

const M64 = (1n << 64n) - 1n;
const big = (lo: number, hi: number): bigint => (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
const sbig = (lo: number, hi: number): bigint => BigInt.asIntN(64, big(lo, hi));
const loOf = (v: bigint): number => Number(v & 0xffffffffn);
const hiOf = (v: bigint): number => Number((v >> 32n) & 0xffffffffn) | 0;

// ------------------------------------------------------------------ ALU

// (written out one by one: a shared helper calling the operation through a function value
// would not be inlined)
export const add64: Exec = (c, i) => {
  const dl = c.rdq1(i), dh = c.qh;
  const sl = c.rdq2(i), sh = c.qh;
  c.wrq1(i, c.fl.add64(dl, dh, sl, sh), c.fl.rh);
};
export const adc64: Exec = (c, i) => {
  const dl = c.rdq1(i), dh = c.qh;
  const sl = c.rdq2(i), sh = c.qh;
  c.wrq1(i, c.fl.adc64(dl, dh, sl, sh), c.fl.rh);
};
export const sub64: Exec = (c, i) => {
  const dl = c.rdq1(i), dh = c.qh;
  const sl = c.rdq2(i), sh = c.qh;
  c.wrq1(i, c.fl.sub64(dl, dh, sl, sh), c.fl.rh);
};
export const sbb64: Exec = (c, i) => {
  const dl = c.rdq1(i), dh = c.qh;
  const sl = c.rdq2(i), sh = c.qh;
  c.wrq1(i, c.fl.sbb64(dl, dh, sl, sh), c.fl.rh);
};
export const cmp64: Exec = (c, i) => {
  const dl = c.rdq1(i), dh = c.qh;
  const sl = c.rdq2(i), sh = c.qh;
  c.fl.sub64(dl, dh, sl, sh);
};
export const and64: Exec = (c, i) => {
  const dl = c.rdq1(i), dh = c.qh;
  const sl = c.rdq2(i), sh = c.qh;
  c.wrq1(i, c.fl.logic64(dl & sl, dh & sh), c.fl.rh);
  c.undefFlags(U.and, 8, AF, -1, 0, 0, 0);
};
export const or64: Exec = (c, i) => {
  const dl = c.rdq1(i), dh = c.qh;
  const sl = c.rdq2(i), sh = c.qh;
  c.wrq1(i, c.fl.logic64(dl | sl, dh | sh), c.fl.rh);
  c.undefFlags(U.or, 8, AF, -1, 0, 0, 0);
};
export const xor64: Exec = (c, i) => {
  const dl = c.rdq1(i), dh = c.qh;
  const sl = c.rdq2(i), sh = c.qh;
  c.wrq1(i, c.fl.logic64(dl ^ sl, dh ^ sh), c.fl.rh);
  c.undefFlags(U.xor, 8, AF, -1, 0, 0, 0);
};
export const test64: Exec = (c, i) => {
  const dl = c.rdq1(i), dh = c.qh;
  const sl = c.rdq2(i), sh = c.qh;
  c.fl.logic64(dl & sl, dh & sh);
  c.undefFlags(U.test, 8, AF, -1, 0, 0, 0);
};

export const inc64: Exec = (c, i) => {
  const l = c.rdq1(i);
  c.wrq1(i, c.fl.inc64(l, c.qh), c.fl.rh);
};
export const dec64: Exec = (c, i) => {
  const l = c.rdq1(i);
  c.wrq1(i, c.fl.dec64(l, c.qh), c.fl.rh);
};
export const neg64: Exec = (c, i) => {
  const l = c.rdq1(i);
  c.wrq1(i, c.fl.sub64(0, 0, l, c.qh), c.fl.rh);
};
export const not64: Exec = (c, i) => {
  const l = c.rdq1(i);
  c.wrq1(i, ~l, ~c.qh);
};

// ------------------------------------------------------------------ data movement

export const mov64: Exec = (c, i) => c.wrq1(i, c.rdq2(i), c.qh);

/** MOVZX r64, r/m8 / r/m16 */
export const movzx64: Exec = (c, i) => c.wrq1(i, c.rd2(i), 0);

/** MOVSX r64, r/m8 / r/m16; MOVSXD r64, r/m32 */
export const movsx64: Exec = (c, i) => {
  const v = c.rd2(i);
  const sv = i.s2 === 1 ? (v << 24) >> 24 : i.s2 === 2 ? (v << 16) >> 16 : v | 0;
  c.wrq1(i, sv >>> 0, sv < 0 ? -1 : 0);
};

/** LEA r64: the exact 64-bit effective address (it is arithmetic, not an access). */
export const lea64: Exec = (c, i) => {
  const lo = c.eaParts(i);
  c.wrq1(i, lo, c.qh);
};

export const xchg64: Exec = (c, i) => {
  const al = c.rdq1(i), ah = c.qh;
  const bl = c.rdq2(i), bh = c.qh;
  c.wrq1(i, bl, bh);
  c.wrq2(i, al, ah);
};

export const xadd64: Exec = (c, i) => {
  const dl = c.rdq1(i), dh = c.qh;
  const sl = c.rdq2(i), sh = c.qh;
  const rl = c.fl.add64(dl, dh, sl, sh);
  const rh = c.fl.rh;
  if (i.k1 === K_MEM) { c.wrq1(i, rl, rh); c.wrq2(i, dl, dh); }
  else { c.wrq2(i, dl, dh); c.wrq1(i, rl, rh); }
};

export const cmpxchg64: Exec = (c, i) => {
  const dl = c.rdq1(i), dh = c.qh;
  const al = c.r32[I_EAX]! >>> 0, ah = c.r32[I_EAX + 1]!;
  c.fl.sub64(al, ah, dl, dh);
  if (al === dl && ah === dh) {
    c.wrq1(i, c.rdq2(i), c.qh);
  } else {
    c.wrq1(i, dl, dh);
    c.setQ(0, dl, dh);
  }
};

/** CMPXCHG16B m128 (0F C7 /1 with REX.W): CPUID.CX16, 16-byte aligned (#GP(0)). */
export function cmpxchg16b(c: Machine, i: Insn): void {
  if (!c.features.cx16) c.fault(VEC_UD);
  const off = c.ea(i);
  const lin = c.linear(i.seg, off, 16, 0);
  if (lin % 16 !== 0) c.fault(VEC_GP);
  const l0 = c.readQ(i.seg, off), h0 = c.qh;
  const l1 = c.readQ(i.seg, off + 8), h1 = c.qh;
  const r = c.r32;
  if (l0 === r[I_EAX]! >>> 0 && h0 === r[I_EAX + 1]! && l1 === r[I_EDX]! >>> 0 && h1 === r[I_EDX + 1]!) {
    c.writeQ(i.seg, off, r[6]!, r[7]!); // RBX
    c.writeQ(i.seg, off + 8, r[I_ECX]!, r[I_ECX + 1]!);
    c.fl.assign(ZF, ZF);
  } else {
    c.writeQ(i.seg, off, l0, h0);
    c.writeQ(i.seg, off + 8, l1, h1);
    c.setQ(0, l0, h0);
    c.setQ(2, l1, h1);
    c.fl.assign(ZF, 0);
  }
}

/** CBW/CWDE/CDQE with REX.W: RAX <- sign-extended EAX. */
export const cdqe: Exec = (c) => {
  c.r32[I_EAX + 1] = c.r32[I_EAX]! < 0 ? -1 : 0;
};

/** CQO: RDX <- sign of RAX. */
export const cqo: Exec = (c) => {
  const v = c.r32[I_EAX + 1]! < 0 ? -1 : 0;
  c.setQ(2, v, v);
};

export const bswap64: Exec = (c, i) => {
  const lo = c.rdq1(i), hi = c.qh;
  const sw = (v: number): number => ((v >>> 24) | ((v >>> 8) & 0xff00) | ((v & 0xff00) << 8) | (v << 24)) >>> 0;
  c.wrq1(i, sw(hi), sw(lo) | 0);
};

export const cmovcc64: Exec = (c, i) => {
  const lo = c.rdq2(i), hi = c.qh;
  if (c.fl.cond(i.op & 15)) c.wrq1(i, lo, hi);
};

/** PUSH r64 / r/m64 / imm (sign-extended) */
export const push64: Exec = (c, i) => c.pushQ(c.rdq1(i), c.qh);

/** POP r64 / r/m64 (a memory destination addressed with RSP uses the incremented RSP) */
export const pop64: Exec = (c, i) => {
  const lo = c.popQ();
  c.wrq1(i, lo, c.qh);
};

// ------------------------------------------------------------------ shifts and rotates

// The halves of a 64-bit shift by 0 < n < 64, as pure helpers: the executors that use only
// these are compiled into blocks' code (jitHelpers below), the others are called.
/** Low half of (hi:lo) << n. */
function shlLo(lo: number, n: number): number {
  return n < 32 ? (lo << n) >>> 0 : 0;
}

/** High half (int32) of (hi:lo) << n. */
function shlHi(lo: number, hi: number, n: number): number {
  if (n < 32) return (hi << n) | (lo >>> (32 - n));
  return n === 32 ? lo | 0 : lo << (n - 32);
}

/** Low half of (hi:lo) >> n, arithmetic when `arith`. */
function shrLo(lo: number, hi: number, n: number, arith: boolean): number {
  if (n < 32) return ((lo >>> n) | (hi << (32 - n))) >>> 0;
  if (n === 32) return hi >>> 0;
  return (arith ? hi >> (n - 32) : hi >>> (n - 32)) >>> 0;
}

/** High half (int32) of (hi:lo) >> n, arithmetic when `arith`. */
function shrHi(hi: number, n: number, arith: boolean): number {
  if (n < 32) return arith ? hi >> n : (hi >>> n) | 0;
  return arith && hi < 0 ? -1 : 0;
}

function bit(lo: number, hi: number, n: number): number {
  return n < 32 ? (lo >>> n) & 1 : (hi >>> (n - 32)) & 1;
}

type Shift = (c: Machine, i: Insn, lo: number, hi: number, n: number) => void;

/** Read the operand and the count (masked to 6 bits); a count of 0 changes nothing. */
function shiftOp(f: Shift): Exec {
  return (c, i) => {
    const lo = c.rdq1(i), hi = c.qh;
    const n = c.rd2(i) & 63;
    if (n !== 0) f(c, i, lo, hi, n);
  };
}

// (SHL/SHR/SAR/ROL/ROR read the operand and the count themselves, so that they are templates)
export const shl64: Exec = (c, i) => {
  const lo = c.rdq1(i), hi = c.qh;
  const n = c.rd2(i) & 63;
  if (n === 0) return;
  const rl = shlLo(lo, n), rh = shlHi(lo, hi, n);
  const cf = bit(lo, hi, 64 - n);
  c.wrq1(i, rl, rh);
  c.fl.result64(rl, rh, cf, ((rh >>> 31) & 1) ^ cf, 1);
  c.undefFlags(U.shl, 8, AF | (n > 1 ? OF : 0), -1, 0, 0, 0);
};

export const shr64: Exec = (c, i) => {
  const lo = c.rdq1(i), hi = c.qh;
  const n = c.rd2(i) & 63;
  if (n === 0) return;
  const rl = shrLo(lo, hi, n, false), rh = shrHi(hi, n, false);
  c.wrq1(i, rl, rh);
  c.fl.result64(rl, rh, bit(lo, hi, n - 1), n === 1 ? (hi >>> 31) & 1 : 0, 1);
  c.undefFlags(U.shr, 8, AF | (n > 1 ? OF : 0), -1, 0, 0, 0);
};

export const sar64: Exec = (c, i) => {
  const lo = c.rdq1(i), hi = c.qh;
  const n = c.rd2(i) & 63;
  if (n === 0) return;
  const rl = shrLo(lo, hi, n, true), rh = shrHi(hi, n, true);
  c.wrq1(i, rl, rh);
  c.fl.result64(rl, rh, bit(lo, hi, n - 1), 0, 1);
  c.undefFlags(U.sar, 8, AF | (n > 1 ? OF : 0), -1, 0, 0, 0);
};

export const rol64: Exec = (c, i) => {
  const lo = c.rdq1(i), hi = c.qh;
  const n = c.rd2(i) & 63;
  if (n === 0) return;
  const rl = (shlLo(lo, n) | shrLo(lo, hi, 64 - n, false)) >>> 0, rh = shlHi(lo, hi, n) | shrHi(hi, 64 - n, false);
  c.wrq1(i, rl, rh);
  const cf = rl & 1;
  c.fl.assign(CF | OF, cf | ((((rh >>> 31) & 1) ^ cf) << 11));
  if (n !== 1) c.undefFlags(U.rol, 8, OF, -1, 0, 0, 0);
};

export const ror64: Exec = (c, i) => {
  const lo = c.rdq1(i), hi = c.qh;
  const n = c.rd2(i) & 63;
  if (n === 0) return;
  const rl = (shrLo(lo, hi, n, false) | shlLo(lo, 64 - n)) >>> 0, rh = shrHi(hi, n, false) | shlHi(lo, hi, 64 - n);
  c.wrq1(i, rl, rh);
  const cf = (rh >>> 31) & 1;
  c.fl.assign(CF | OF, cf | ((cf ^ ((rh >>> 30) & 1)) << 11));
  if (n !== 1) c.undefFlags(U.ror, 8, OF, -1, 0, 0, 0);
};

jitHelpers({ shlLo, shlHi, shrLo, shrHi, bit }, [shl64, shr64, sar64, rol64, ror64]);

export const rcl64 = shiftOp((c, i, lo, hi, n) => {
  const v = big(lo, hi) | (BigInt(c.fl.useCF()) << 64n); // 65-bit value CF:dest
  const r = ((v << BigInt(n)) | (v >> BigInt(65 - n))) & ((1n << 65n) - 1n);
  const res = r & M64;
  const cf = Number(r >> 64n);
  const rl = loOf(res), rh = hiOf(res);
  c.wrq1(i, rl, rh);
  c.fl.assign(CF | OF, cf | ((((rh >>> 31) & 1) ^ cf) << 11));
  if (n !== 1) c.undefFlags(U.rcl, 8, OF, -1, 0, 0, 0);
});

export const rcr64 = shiftOp((c, i, lo, hi, n) => {
  const v = big(lo, hi) | (BigInt(c.fl.useCF()) << 64n);
  const r = ((v >> BigInt(n)) | (v << BigInt(65 - n))) & ((1n << 65n) - 1n);
  const res = r & M64;
  const cf = Number(r >> 64n);
  const rl = loOf(res), rh = hiOf(res);
  c.wrq1(i, rl, rh);
  c.fl.assign(CF | OF, cf | ((((rh >>> 31) ^ (rh >>> 30)) & 1) << 11));
  if (n !== 1) c.undefFlags(U.rcr, 8, OF, -1, 0, 0, 0);
});

function shxd(left: boolean): Exec {
  return (c, i) => {
    const dl = c.rdq1(i), dh = c.qh;
    const sl = c.rdq2(i), shi = c.qh;
    const n = c.rd3(i) & 63;
    if (n === 0) return;
    const d = big(dl, dh), s = big(sl, shi);
    const N = BigInt(n);
    let r: bigint;
    let cf: number;
    if (left) {
      r = ((d << N) | (s >> (64n - N))) & M64;
      cf = Number((d >> (64n - N)) & 1n);
    } else {
      r = ((d >> N) | (s << (64n - N))) & M64;
      cf = Number((d >> (N - 1n)) & 1n);
    }
    const rl = loOf(r), rh = hiOf(r);
    c.wrq1(i, rl, rh);
    const of = left ? ((rh >>> 31) & 1) ^ cf : ((rh >>> 31) ^ (rh >>> 30)) & 1;
    c.fl.result64(rl, rh, cf, of, 1);
    c.undefFlags((left ? U.shld : U.shrd), 8, AF | (n > 1 ? OF : 0), -1, 0, 0, 0);
  };
}
export const shld64 = shxd(true);
export const shrd64 = shxd(false);

// ------------------------------------------------------------------ multiply / divide (BigInt)

const MUL_UNDEF = SF | ZF | AF | PF;

export const mul64: Exec = (c, i) => {
  const sl = c.rdq1(i), s = big(sl, c.qh);
  const p = big(c.r32[I_EAX]!, c.r32[I_EAX + 1]!) * s;
  const lo = p & M64, hi = p >> 64n;
  c.setQ(0, loOf(lo), hiOf(lo));
  c.setQ(2, loOf(hi), hiOf(hi));
  c.fl.assign(CF | OF, hi !== 0n ? CF | OF : 0);
  c.undefFlags(U.mul, 8, MUL_UNDEF, -1, 0, 0, 0);
};

export const imul1q: Exec = (c, i) => {
  const sl = c.rdq1(i), s = sbig(sl, c.qh);
  const p = sbig(c.r32[I_EAX]!, c.r32[I_EAX + 1]!) * s;
  const lo = BigInt.asUintN(64, p), hi = BigInt.asUintN(64, p >> 64n);
  c.setQ(0, loOf(lo), hiOf(lo));
  c.setQ(2, loOf(hi), hiOf(hi));
  c.fl.assign(CF | OF, p !== BigInt.asIntN(64, p) ? CF | OF : 0);
  c.undefFlags(U.imul1, 8, MUL_UNDEF, -1, 0, 0, 0);
};

function imulTrunc(c: Machine, a: bigint, b: bigint): [number, number] {
  const p = a * b;
  const r = BigInt.asIntN(64, p);
  c.fl.assign(CF | OF, p !== r ? CF | OF : 0);
  c.undefFlags(U.imul, 8, MUL_UNDEF, -1, 0, 0, 0);
  return [loOf(r), hiOf(r)];
}

/** IMUL r64, r/m64 */
export const imul2q: Exec = (c, i) => {
  const al = c.rdq1(i), a = sbig(al, c.qh);
  const bl = c.rdq2(i), b = sbig(bl, c.qh);
  const [l, h] = imulTrunc(c, a, b);
  c.wrq1(i, l, h);
};

/** IMUL r64, r/m64, imm */
export const imul3q: Exec = (c, i) => {
  const al = c.rdq2(i), a = sbig(al, c.qh);
  const bl = c.rdq3(i), b = sbig(bl, c.qh);
  const [l, h] = imulTrunc(c, a, b);
  c.wrq1(i, l, h);
};

function divFlags(c: Machine, cls: number): void {
  c.fl.assign(AF | SF | ZF | PF, AF);
  c.undefFlags(cls, 8, ARITH, -1, 0, 0, 0);
}

export const div64: Exec = (c, i) => {
  const sl = c.rdq1(i), d = big(sl, c.qh);
  if (d === 0n) c.fault(VEC_DE);
  const n = (big(c.r32[I_EDX]!, c.r32[I_EDX + 1]!) << 64n) | big(c.r32[I_EAX]!, c.r32[I_EAX + 1]!);
  const q = n / d;
  if (q > M64) c.fault(VEC_DE);
  const r = n % d;
  c.setQ(0, loOf(q), hiOf(q));
  c.setQ(2, loOf(r), hiOf(r));
  divFlags(c, U.div);
};

export const idiv64: Exec = (c, i) => {
  const sl = c.rdq1(i), d = sbig(sl, c.qh);
  if (d === 0n) c.fault(VEC_DE);
  const n = BigInt.asIntN(128, (big(c.r32[I_EDX]!, c.r32[I_EDX + 1]!) << 64n) | big(c.r32[I_EAX]!, c.r32[I_EAX + 1]!));
  const q = n / d; // BigInt division truncates toward zero, like IDIV
  if (q !== BigInt.asIntN(64, q)) c.fault(VEC_DE);
  const r = n % d;
  const uq = BigInt.asUintN(64, q), ur = BigInt.asUintN(64, r);
  c.setQ(0, loOf(uq), hiOf(uq));
  c.setQ(2, loOf(ur), hiOf(ur));
  divFlags(c, U.idiv);
};

// ------------------------------------------------------------------ bit instructions

const BT_UNDEF = OF | SF | AF | PF;
const BT_CLASS = [U.bt, U.bts, U.btr, U.btc];

function bitOp64(kind: number, immForm: boolean): Exec {
  return (c, i) => {
    let bitNo: number;
    let lo: number;
    let hi: number;
    let off = 0;
    if (i.k1 === K_MEM) {
      if (immForm) {
        bitNo = c.rd2(i) & 63;
        off = c.ea(i);
      } else {
        // signed 64-bit bit offset: the qword at EA + (offset >> 6) * 8
        const ol = c.rdq2(i), oh = c.qh;
        bitNo = ol & 63;
        const qwords = oh * (TWO32 / 64) + Math.floor((ol >>> 0) / 64);
        off = c.wrapAddr(i, c.ea(i) + qwords * 8);
      }
      lo = c.readQ(i.seg, off);
      hi = c.qh;
    } else {
      bitNo = c.rd2(i) & 63;
      lo = c.rdq1(i);
      hi = c.qh;
    }
    c.fl.assign(CF, bit(lo, hi, bitNo));
    c.undefFlags(BT_CLASS[kind]!, 8, BT_UNDEF, -1, 0, 0, 0);
    if (kind === 0) return;
    const m = 1 << (bitNo & 31);
    const upper = bitNo >= 32;
    let rl = lo, rh = hi;
    if (kind === 1) { if (upper) rh |= m; else rl |= m; }
    else if (kind === 2) { if (upper) rh &= ~m; else rl &= ~m; }
    else if (upper) rh ^= m; else rl ^= m;
    if (i.k1 === K_MEM) c.writeQ(i.seg, off, rl >>> 0, rh);
    else c.wrq1(i, rl >>> 0, rh);
  };
}

export const btG64 = bitOp64(0, false);
export const btsG64 = bitOp64(1, false);
export const btrG64 = bitOp64(2, false);
export const btcG64 = bitOp64(3, false);
export const btI64 = bitOp64(0, true);
export const btsI64 = bitOp64(1, true);
export const btrI64 = bitOp64(2, true);
export const btcI64 = bitOp64(3, true);

function ctz32(v: number): number {
  return 31 - Math.clz32(v & -v);
}

export const bsf64: Exec = (c, i) => {
  const lo = c.rdq2(i), hi = c.qh;
  if (lo === 0 && hi === 0) c.fl.assign(ZF, ZF);
  else {
    c.fl.assign(ZF, 0);
    c.wrq1(i, lo !== 0 ? ctz32(lo) : 32 + ctz32(hi), 0);
  }
  c.undefFlags(U.bsf, 8, CF | OF | SF | AF | PF, -1, 0, 0, 0);
};

export const bsr64: Exec = (c, i) => {
  const lo = c.rdq2(i), hi = c.qh;
  if (lo === 0 && hi === 0) c.fl.assign(ZF, ZF);
  else {
    c.fl.assign(ZF, 0);
    c.wrq1(i, hi !== 0 ? 63 - Math.clz32(hi) : 31 - Math.clz32(lo), 0);
  }
  c.undefFlags(U.bsr, 8, CF | OF | SF | AF | PF, -1, 0, 0, 0);
};

function popcount32(v: number): number {
  let x = v >>> 0;
  let n = 0;
  while (x !== 0) { x &= x - 1; n++; }
  return n;
}

export const popcnt64: Exec = (c, i) => {
  if (!c.features.popcnt) c.fault(VEC_UD);
  const lo = c.rdq2(i), hi = c.qh;
  const n = popcount32(lo) + popcount32(hi);
  c.wrq1(i, n, 0);
  c.fl.assign(ARITH, n === 0 ? ZF : 0);
};

export const tzcnt64: Exec = (c, i) => {
  if (!c.features.bmi1) { bsf64(c, i); return; }
  const lo = c.rdq2(i), hi = c.qh;
  const n = lo !== 0 ? ctz32(lo) : hi !== 0 ? 32 + ctz32(hi) : 64;
  c.wrq1(i, n, 0);
  c.fl.assign(CF | ZF, (n === 64 ? CF : 0) | (n === 0 ? ZF : 0));
  c.undefFlags(U.tzcnt, 8, OF | SF | AF | PF, -1, 0, 0, 0);
};

export const lzcnt64: Exec = (c, i) => {
  if (!c.features.lzcnt) { bsr64(c, i); return; }
  const lo = c.rdq2(i), hi = c.qh;
  const n = hi !== 0 ? Math.clz32(hi) : 32 + Math.clz32(lo);
  c.wrq1(i, n, 0);
  c.fl.assign(CF | ZF, (n === 64 ? CF : 0) | (n === 0 ? ZF : 0));
  c.undefFlags(U.lzcnt, 8, OF | SF | AF | PF, -1, 0, 0, 0);
};
