// Data movement: MOV (all forms), MOVZX/MOVSX, XCHG, XLAT, LEA, LDS/LES/LFS/LGS/LSS,
// CBW/CWDE/CWD/CDQ, and the 486 exchange-and-compare family (XADD, CMPXCHG, CMPXCHG8B).

import * as K from '../constants.js';
import { K_MEM, K_R64 } from '../insn.js';
import type { Exec } from '../opdef.js';
import { cdqe, cmpxchg16b, cqo } from './wide.js';

// (local copies of the constants: constants.ts says why)
const { CS, DS, ES, FS, GS, I_AL, I_AX, I_BX, I_EAX, I_EBX, I_ECX, I_EDX, SS, VEC_UD, ZF, sext } = K;

export const mov: Exec = (c, i) => c.wr1(i, c.rd2(i));

/** MOV Sreg,Ew (MOV CS is #UD) */
export const movToSreg: Exec = (c, i) => {
  if (i.a1 === CS) c.fault(VEC_UD);
  c.loadSeg(i.a1, c.rd2(i) & 0xffff);
};

/** MOV Rv/Mw,Sreg: a memory destination is always 16 bits, a register one zero-extended. */
export const movFromSreg: Exec = (c, i) => {
  const v = c.sel[i.a2]!;
  if (i.k1 === K_MEM) c.write16(i.seg, c.ea(i), v);
  else if (i.k1 === K_R64) c.wrq1(i, v, 0);
  else c.wr1(i, v);
};

export const movzx: Exec = (c, i) => c.wr1(i, c.rd2(i));
export const movsx: Exec = (c, i) => c.wr1(i, sext(c.rd2(i), i.s2));

export const xchg: Exec = (c, i) => {
  const a = c.rd1(i);
  const b = c.rd2(i);
  // operand 1 is the memory one if any: written first, so a fault leaves registers unchanged
  c.wr1(i, b);
  c.wr2(i, a);
};

/** XLAT: AL <- [seg:(E/R)BX + AL] */
export const xlat: Exec = (c, i) => {
  const bx = i.asz === 2 ? c.r16[I_BX]! : i.asz === 4 ? c.r32[I_EBX]! >>> 0 : c.reg64(3);
  c.r8[I_AL] = c.read8(i.seg, c.wrapAddr(i, bx + c.r8[I_AL]!));
};

/** LEA r16/r32 (the low bits of the exact effective address) */
export const lea: Exec = (c, i) => c.wr1(i, i.asz === 8 || i.ripRel ? c.eaParts(i) : c.ea(i));

function loadFarPointer(seg: number): Exec {
  return (c, i) => {
    const off = c.ea(i);
    const s = i.s1;
    let v: number;
    let hi = 0;
    if (s === 8) {
      v = c.readQ(i.seg, off);
      hi = c.qh;
    } else {
      v = c.readMem(i.seg, off, s);
    }
    const sel = c.read16(i.seg, c.wrapAddr(i, off + s));
    c.loadSeg(seg, sel);
    if (s === 8) c.wrq1(i, v, hi);
    else c.wr1(i, v);
  };
}
export const les = loadFarPointer(ES);
export const lds = loadFarPointer(DS);
export const lss = loadFarPointer(SS);
export const lfs = loadFarPointer(FS);
export const lgs = loadFarPointer(GS);

/** CBW/CWDE/CDQE (98) */
export const cbw: Exec = (c, i) => {
  if (i.osz === 2) c.r16[I_AX] = (c.r8[I_AL]! << 24) >> 24;
  else if (i.osz === 4) c.w32(I_EAX, (c.r16[I_AX]! << 16) >> 16);
  else cdqe(c, i);
};

/** CWD/CDQ/CQO (99) */
export const cwd: Exec = (c, i) => {
  if (i.osz === 2) c.r16[8] = c.r16[I_AX]! & 0x8000 ? 0xffff : 0;
  else if (i.osz === 4) c.w32(I_EDX, c.r32[I_EAX]! < 0 ? -1 : 0);
  else cqo(c, i);
};

export const xadd: Exec = (c, i) => {
  const d = c.rd1(i);
  const s = c.rd2(i);
  const sum = c.fl.add(d, s, i.s1);
  if (i.k1 === K_MEM) { c.wr1(i, sum); c.wr2(i, d); }
  else { c.wr2(i, d); c.wr1(i, sum); }
};

/** CMPXCHG Ev,Gv: compare accumulator with dest; equal: dest <- src, else acc <- dest. */
export const cmpxchg: Exec = (c, i) => {
  const s = i.s1;
  const d = c.rd1(i);
  const acc = c.getReg(0, s);
  c.fl.sub(acc, d, s);
  if (acc === d) {
    c.wr1(i, c.rd2(i));
  } else {
    c.wr1(i, d); // the destination is always written back
    c.setReg(0, s, d);
  }
};

/** CMPXCHG8B m64 / CMPXCHG16B m128 (REX.W) */
export const cmpxchg8b: Exec = (c, i) => {
  if (i.osz === 8) {
    cmpxchg16b(c, i);
    return;
  }
  const off = c.ea(i);
  const lo = c.read32(i.seg, off);
  const hi = c.read32(i.seg, c.wrapAddr(i, off + 4));
  const r = c.r32;
  if (lo === r[I_EAX]! >>> 0 && hi === r[I_EDX]! >>> 0) {
    c.write32(i.seg, off, r[I_EBX]!);
    c.write32(i.seg, c.wrapAddr(i, off + 4), r[I_ECX]!);
    c.fl.assign(ZF, ZF);
  } else {
    c.write32(i.seg, off, lo);
    c.write32(i.seg, c.wrapAddr(i, off + 4), hi);
    c.w32(I_EAX, lo);
    c.w32(I_EDX, hi);
    c.fl.assign(ZF, 0);
  }
};
