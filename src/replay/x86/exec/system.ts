// System instructions that are meaningful in real mode: LGDT/LIDT/SGDT/SIDT, SMSW/LMSW,
// MOV to/from CRn, CLTS. Anything that would leave real mode (CR0.PE/PG set) is reported as
// unsupported before it changes state.

import { ACC_WRITE, CR0_PE, CR0_PG, CR0_TS, VEC_UD } from '../constants.js';
import { K_MEM, type Insn } from '../insn.js';
import type { Exec } from '../opdef.js';
import type { Machine } from '../machine.js';

function readPseudoDesc(c: Machine, i: Insn): [number, number] {
  const off = c.ea(i);
  const limit = c.read16(i.seg, off);
  let base = c.read32(i.seg, c.wrapAddr(i, off + 2));
  if (i.osz === 2) base &= 0xffffff; // 16-bit operand size loads a 24-bit base
  return [limit, base >>> 0];
}

function writePseudoDesc(c: Machine, i: Insn, limit: number, base: number): void {
  const off = c.ea(i);
  c.linear(i.seg, off, 6, ACC_WRITE);
  c.write16(i.seg, off, limit);
  // SDM: with a 16-bit operand size the high byte of the stored base is 0
  c.write32(i.seg, c.wrapAddr(i, off + 2), i.osz === 2 ? base & 0xffffff : base);
}

export const lgdt: Exec = (c, i) => {
  const [limit, base] = readPseudoDesc(c, i);
  c.gdtLimit = limit;
  c.gdtBase = base;
  c.gdtBaseHi = 0;
};

export const lidt: Exec = (c, i) => {
  const [limit, base] = readPseudoDesc(c, i);
  c.idtLimit = limit;
  c.idtBase = base;
  c.idtBaseHi = 0;
};

export const sgdt: Exec = (c, i) => writePseudoDesc(c, i, c.gdtLimit, c.gdtBase);
export const sidt: Exec = (c, i) => writePseudoDesc(c, i, c.idtLimit, c.idtBase);

/** SMSW Rv/Mw: a register gets CR0 (operand size), memory the low 16 bits. */
export const smsw: Exec = (c, i) => {
  if (i.k1 === K_MEM) c.write16(i.seg, c.ea(i), c.cr0 & 0xffff);
  else c.wr1(i, c.cr0);
};

/** LMSW Ew: loads CR0 bits 3:0 (PE can be set but not cleared). */
export const lmsw: Exec = (c, i) => {
  const v = c.rd1(i) & 0xf;
  const cr0 = ((c.cr0 & ~0xe) | v) >>> 0;
  if (cr0 & CR0_PE) c.unsupported('LMSW enters protected mode');
  c.cr0 = cr0;
};

export const clts: Exec = (c) => {
  c.cr0 = (c.cr0 & ~CR0_TS) >>> 0;
};

/** MOV r32, CRn (0F 20): always 32-bit in this mode. */
export const movFromCr: Exec = (c, i) => {
  let v: number;
  switch (i.a2) {
    case 0: v = c.cr0; break;
    case 2: v = Number(c.cr2 & 0xffffffffn); break;
    case 3: v = Number(c.cr3 & 0xffffffffn); break;
    case 4: v = c.cr4; break;
    default: return c.fault(VEC_UD);
  }
  c.r32[i.a1] = v;
};

/** MOV CRn, r32 (0F 22). Changing CR0.PE/PG (mode switch) is not implemented. */
export const movToCr: Exec = (c, i) => {
  const v = c.r32[i.a2]! >>> 0;
  switch (i.a1) {
    case 0:
      if ((v & CR0_PE) !== 0 || (v & CR0_PG) !== 0) c.unsupported('MOV CR0 enables protected mode/paging');
      c.cr0 = (v | 0x10) >>> 0; // ET is hardwired to 1
      return;
    case 2: c.cr2 = (c.cr2 & ~0xffffffffn) | BigInt(v); return;
    case 3: c.cr3 = (c.cr3 & ~0xffffffffn) | BigInt(v); return;
    case 4: c.cr4 = v; return;
    default: c.fault(VEC_UD);
  }
};
