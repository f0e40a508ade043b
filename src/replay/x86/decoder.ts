// Table-driven decoder: bytes -> Insn. Knows nothing about execution; the opcode tables say
// which operands an instruction has, the decoder fetches ModRM/SIB/displacement/immediates
// accordingly and resolves every operand to a kind (register, memory, immediate...).

import * as K from './constants.js';
import {
  AM_A, AM_C, AM_D, AM_E, AM_G, AM_I, AM_IS, AM_J, AM_M, AM_O, AM_ONE, AM_R, AM_REG, AM_S, AM_SEG,
  AM_X, AM_Y, AM_Z, F_ANY64, F_D64, F_ESC3, F_I64, F_LOCK, SZ_A, SZ_NONE, SZ_P, SZ_S, SZ_V, SZ_Z, type OpDef,
} from './opdef.js';
import {
  Insn, K_CTRL, K_IMM, K_MEM, K_NONE, K_R16, K_R32, K_R32Z, K_R64, K_R8, K_SREG, P_ADSIZE, P_OPSIZE, REP_F2,
  REP_F3, REP_NONE,
} from './insn.js';
import { ONE_BYTE, THREE_38, THREE_3A, TWO_BYTE } from './tables.js';
import { execUD, execUnsupported, execUnsupported64 } from './exec/misc.js';

// (local copies of the constants: constants.ts says why)
const { DS, ES, CS, SS, FS, GS, ZERO_REG, r8i } = K;

export const DEC_OK = 0;
/** The instruction continues beyond the `avail` bytes given. */
export const DEC_TRUNC = 1;
/** Longer than 15 bytes (#GP). */
export const DEC_LONG = 2;

const ZERO = ZERO_REG * 2;
// 16-bit ModRM addressing: base, index (dword-view indices) and default segment per r/m
const M16_BASE = [6, 6, 10, 10, 12, 14, 10, 6];          // bx bx bp bp si di bp bx
const M16_INDEX = [12, 14, 12, 14, ZERO, ZERO, ZERO, ZERO]; // si di si di - - - -
const M16_SEG = [DS, DS, SS, SS, DS, DS, SS, DS];

/** Size in bytes of an operand with size code `sz` under operand size `osz`. */
export function sizeOf(sz: number, osz: number): number {
  switch (sz) {
    case SZ_V: return osz;
    case SZ_Z: return osz === 8 ? 4 : osz;
    case SZ_P: return osz + 2;
    case SZ_A: return osz * 2;
    case SZ_S: return osz === 8 ? 10 : 6;
    default: return sz;
  }
}

function regKind(size: number, bits: number): number {
  return size === 1 ? K_R8 : size === 2 ? K_R16 : size === 4 ? (bits === 64 ? K_R32Z : K_R32) : K_R64;
}

function regIndex(n: number, size: number, rex: number): number {
  if (size === 1) return rex !== 0 ? n * 8 : r8i(n);
  return size === 2 ? n * 4 : n * 2;
}

function setOperand(i: Insn, n: number, k: number, a: number, s: number): void {
  if (n === 0) { i.k1 = k; i.a1 = a; i.s1 = s; }
  else if (n === 1) { i.k2 = k; i.a2 = a; i.s2 = s; }
  else { i.k3 = k; i.a3 = a; i.s3 = s; }
}

/**
 * Decode the instruction in buf[0..avail) for a code segment of `bits` (16/32/64) into `i`.
 * Returns DEC_OK, DEC_TRUNC or DEC_LONG. Invalid encodings decode fine and get the #UD
 * executor; valid but unimplemented ones get the `unsupported` executor.
 */
export function decode(buf: Uint8Array, avail: number, bits: number, i: Insn): number {
  let p = 0;
  let pfx = 0;
  let seg = -1;
  let rep = REP_NONE;
  let lock = false;
  let rex = 0;
  let b = 0;
  for (;;) {
    if (p >= 15) return DEC_LONG;
    if (p >= avail) return DEC_TRUNC;
    b = buf[p]!;
    switch (b) {
      case 0x26: seg = ES; break;
      case 0x2e: seg = CS; break;
      case 0x36: seg = SS; break;
      case 0x3e: seg = DS; break;
      case 0x64: seg = FS; break;
      case 0x65: seg = GS; break;
      case 0x66: pfx |= P_OPSIZE; break;
      case 0x67: pfx |= P_ADSIZE; break;
      case 0xf0: lock = true; break;
      case 0xf2: rep = REP_F2; break;
      case 0xf3: rep = REP_F3; break;
      default:
        if (bits === 64 && (b & 0xf0) === 0x40) { rex = b; p++; continue; }
        b = -1;
    }
    if (b < 0) break;
    rex = 0; // a legacy prefix after REX cancels it
    p++;
  }
  b = buf[p++]!;
  let op = b;
  let d: OpDef = ONE_BYTE[b]!;
  if (b === 0x0f) {
    if (p >= avail) return DEC_TRUNC;
    b = buf[p++]!;
    op = 0x100 | b;
    d = TWO_BYTE[b]!;
    if (d.f & F_ESC3) {
      if (p >= avail) return DEC_TRUNC;
      const b3 = buf[p++]!;
      op = (b === 0x38 ? 0x200 : 0x300) | b3;
      d = (b === 0x38 ? THREE_38 : THREE_3A)[b3]!;
    }
  }
  if (rep === REP_F3 && d.f3 !== undefined) d = d.f3;
  if (bits === 64) {
    if (d.l64 !== undefined) d = d.l64;
    else if (op === 0x90 && (rex & 1) !== 0) d = ONE_BYTE[0x91]!; // xchg r8, rax (not nop)
  }

  let osz: number;
  let asz: number;
  if (bits === 16) {
    osz = pfx & P_OPSIZE ? 4 : 2;
    asz = pfx & P_ADSIZE ? 4 : 2;
  } else if (bits === 32) {
    osz = pfx & P_OPSIZE ? 2 : 4;
    asz = pfx & P_ADSIZE ? 2 : 4;
  } else {
    osz = rex & 8 ? 8 : pfx & P_OPSIZE ? 2 : 4;
    asz = pfx & P_ADSIZE ? 4 : 8;
  }

  let mod = 0;
  let reg = 0;
  let rm = 0;
  let base = ZERO;
  let index = ZERO;
  let scale = 0;
  let disp = 0;
  let dseg = DS;
  let ripRel = false;
  let invalid = false;
  if (d.modrm) {
    if (p >= avail) return DEC_TRUNC;
    const m = buf[p++]!;
    mod = m >> 6;
    reg = (m >> 3) & 7;
    rm = m & 7;
    if (d.grp !== undefined) d = (mod === 3 && d.grpReg !== undefined ? d.grpReg : d.grp)[reg]!;
    if (mod !== 3) {
      if (asz === 2) {
        base = M16_BASE[rm]!;
        index = M16_INDEX[rm]!;
        dseg = M16_SEG[rm]!;
        if (mod === 0 && rm === 6) {
          base = ZERO;
          dseg = DS;
          if (p + 2 > avail) return DEC_TRUNC;
          disp = buf[p]! | (buf[p + 1]! << 8);
          p += 2;
        }
      } else {
        let r = rm;
        if (rm === 4) {
          if (p >= avail) return DEC_TRUNC;
          const sib = buf[p++]!;
          scale = sib >> 6;
          const ix = ((sib >> 3) & 7) | ((rex & 2) << 2);
          index = ix === 4 ? ZERO : ix * 2;
          r = sib & 7;
          if (r === 5 && mod === 0) {
            base = ZERO;
            if (p + 4 > avail) return DEC_TRUNC;
            disp = buf[p]! | (buf[p + 1]! << 8) | (buf[p + 2]! << 16) | (buf[p + 3]! << 24);
            p += 4;
            r = -1;
          }
        } else if (rm === 5 && mod === 0) {
          if (p + 4 > avail) return DEC_TRUNC;
          disp = buf[p]! | (buf[p + 1]! << 8) | (buf[p + 2]! << 16) | (buf[p + 3]! << 24);
          p += 4;
          r = -1;
          ripRel = bits === 64;
        }
        if (r >= 0) {
          const full = r | ((rex & 1) << 3);
          base = full * 2;
          if (full === 4 || full === 5) dseg = SS;
        }
      }
      if (mod === 1) {
        if (p >= avail) return DEC_TRUNC;
        disp += (buf[p++]! << 24) >> 24;
      } else if (mod === 2) {
        if (asz === 2) {
          if (p + 2 > avail) return DEC_TRUNC;
          disp += buf[p]! | (buf[p + 1]! << 8);
          p += 2;
        } else {
          if (p + 4 > avail) return DEC_TRUNC;
          disp += buf[p]! | (buf[p + 1]! << 8) | (buf[p + 2]! << 16) | (buf[p + 3]! << 24);
          p += 4;
        }
      }
      if (asz !== 2) disp |= 0;
    }
  }
  const dispHi = disp < 0 && asz !== 2 ? -1 : 0;
  if (lock && ((d.f & F_LOCK) === 0 || mod === 3 || !d.modrm)) invalid = true;
  if (bits === 64 && (d.f & F_I64) !== 0) invalid = true;
  if (bits === 64 && (d.f & F_D64) !== 0 && (pfx & P_OPSIZE) === 0) osz = 8;

  i.bits = bits;
  i.osz = osz;
  i.asz = asz;
  i.rep = rep;
  i.lock = lock;
  i.segOvr = seg;
  i.seg = seg >= 0 ? seg : dseg;
  i.pfx = pfx;
  i.rex = rex;
  i.op = op;
  i.def = d;
  i.mod = mod;
  i.reg = reg | ((rex & 4) << 1);
  i.rm = rm | ((rex & 1) << 3);
  i.base = base;
  i.index = index;
  i.scale = scale;
  i.disp = disp;
  i.dispHi = dispHi;
  i.ripRel = ripRel;
  i.imm = 0;
  i.imm2 = 0;
  i.immHi = 0;
  i.k1 = K_NONE; i.k2 = K_NONE; i.k3 = K_NONE;
  i.s1 = 0; i.s2 = 0; i.s3 = 0;
  i.a1 = 0; i.a2 = 0; i.a3 = 0;

  let nimm = 0;
  const spec = d.spec;
  for (let n = 0; n < spec.length; n++) {
    const o = spec[n]!;
    let s = sizeOf(o.sz, osz);
    let k = K_NONE;
    let a = 0;
    switch (o.am) {
      case AM_E:
        if (mod === 3) {
          k = regKind(s, bits);
          a = regIndex(i.rm, s, rex);
        } else {
          if (o.memSz !== SZ_NONE) s = sizeOf(o.memSz, osz);
          k = K_MEM;
        }
        break;
      case AM_M:
        if (mod === 3) invalid = true;
        k = K_MEM;
        break;
      case AM_R:
        k = regKind(s, bits);
        a = regIndex(i.rm, s, rex);
        break;
      case AM_G:
        k = regKind(s, bits);
        a = regIndex(i.reg, s, rex);
        break;
      case AM_Z:
        k = regKind(s, bits);
        a = regIndex((op & 7) | ((rex & 1) << 3), s, rex);
        break;
      case AM_REG:
        k = regKind(s, bits);
        a = regIndex(o.reg, s, rex);
        break;
      case AM_S:
        if (reg > 5) invalid = true;
        k = K_SREG;
        a = reg;
        break;
      case AM_SEG:
        k = K_SREG;
        a = o.reg;
        break;
      case AM_C:
      case AM_D:
        k = K_CTRL;
        a = i.reg;
        break;
      case AM_ONE:
        k = K_IMM;
        a = 1;
        break;
      case AM_I:
      case AM_IS:
      case AM_J:
      case AM_A: {
        let n2 = o.am === AM_IS ? 1 : o.am === AM_A ? (osz === 2 ? 2 : 4) : s;
        if (o.am === AM_J) n2 = s === 1 ? 1 : osz === 2 ? 2 : 4;
        if (n2 > 4) n2 = 4; // imm64 (64-bit code only) is read as two halves below
        if (p + n2 > avail) return DEC_TRUNC;
        let v = buf[p]!;
        if (n2 >= 2) v |= buf[p + 1]! << 8;
        if (n2 === 4) v = (v | (buf[p + 2]! << 16) | (buf[p + 3]! << 24)) >>> 0;
        p += n2;
        if (o.am === AM_I && s === 8 && osz === 8 && i.op >= 0xb8 && i.op <= 0xbf) {
          // mov r64, imm64: low half in a/imm, high half in immHi
          if (p + 4 > avail) return DEC_TRUNC;
          i.immHi = buf[p]! | (buf[p + 1]! << 8) | (buf[p + 2]! << 16) | (buf[p + 3]! << 24);
          p += 4;
        } else if (o.am === AM_IS) {
          v = (v << 24) >> 24;
          if (osz === 8) i.immHi = v < 0 ? -1 : 0;
          v = s === 2 ? v & 0xffff : v >>> 0;
        } else if (o.am === AM_J) {
          v = n2 === 1 ? (v << 24) >> 24 : n2 === 2 ? (v << 16) >> 16 : v | 0;
        } else if (osz === 8 && n2 === 4 && o.am === AM_I) {
          i.immHi = v & 0x80000000 ? -1 : 0; // imm32 sign-extended to 64 bits
        }
        k = K_IMM;
        a = v;
        if (nimm++ === 0) i.imm = v; else i.imm2 = v;
        if (o.am === AM_A) {
          if (p + 2 > avail) return DEC_TRUNC;
          i.imm2 = buf[p]! | (buf[p + 1]! << 8);
          p += 2;
        }
        break;
      }
      case AM_O: {
        const n2 = asz;
        if (p + n2 > avail) return DEC_TRUNC;
        let v = buf[p]! | (buf[p + 1]! << 8);
        if (n2 >= 4) v = (v | (buf[p + 2]! << 16) | (buf[p + 3]! << 24)) >>> 0;
        i.dispHi = 0;
        if (n2 === 8) {
          i.dispHi = buf[p + 4]! | (buf[p + 5]! << 8) | (buf[p + 6]! << 16) | (buf[p + 7]! << 24);
          v |= 0; // 64-bit addressing keeps disp signed and the high half in dispHi
        }
        p += n2;
        i.base = ZERO;
        i.index = ZERO;
        i.disp = v;
        i.seg = seg >= 0 ? seg : DS;
        k = K_MEM;
        break;
      }
      case AM_X:
      case AM_Y:
        k = K_NONE;
        break;
    }
    setOperand(i, n, k, a, s);
  }
  if (p > 15) return DEC_LONG;

  i.len = p;
  i.bytes.set(buf.subarray(0, p));
  if ((op === 0xc4 || op === 0xc5) && mod === 3 && bits !== 16) i.exec = execUnsupported; // VEX (AVX)
  else if (invalid) i.exec = execUD;
  else if (osz === 8 && d.sizeDep && (d.f & F_ANY64) === 0) i.exec = d.q ?? (d.x ? execUnsupported64 : execUnsupported);
  else i.exec = d.x ?? execUnsupported;
  return 0;
}
