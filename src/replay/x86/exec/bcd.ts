// Decimal adjustments DAA/DAS/AAA/AAS/AAM/AAD, following the SDM pseudocode.

import { AF, CF, I_AX, OF, PF, SF, VEC_DE, ZF } from '../constants.js';
import type { Exec } from '../opdef.js';

/** DAA: OF undefined (left unchanged). */
export const daa: Exec = (c) => {
  const old = c.r8[0]!;
  const oldCf = c.fl.cf();
  let al = old;
  let cf = 0;
  let af = 0;
  if ((al & 0xf) > 9 || c.fl.af()) {
    cf = oldCf | (al + 6 > 0xff ? 1 : 0);
    al = (al + 6) & 0xff;
    af = 1;
  }
  if (old > 0x99 || oldCf) {
    al = (al + 0x60) & 0xff;
    cf = 1;
  } else {
    cf = 0;
  }
  c.r8[0] = al;
  const of = c.fl.of();
  c.fl.result(al, 1, cf, of, af);
  c.setUndef(OF);
};

/** DAS: OF undefined (left unchanged). */
export const das: Exec = (c) => {
  const old = c.r8[0]!;
  const oldCf = c.fl.cf();
  let al = old;
  let cf = 0;
  let af = 0;
  if ((al & 0xf) > 9 || c.fl.af()) {
    cf = oldCf | (al < 6 ? 1 : 0);
    al = (al - 6) & 0xff;
    af = 1;
  }
  if (old > 0x99 || oldCf) {
    al = (al - 0x60) & 0xff;
    cf = 1;
  }
  c.r8[0] = al;
  const of = c.fl.of();
  c.fl.result(al, 1, cf, of, af);
  c.setUndef(OF);
};

/** AAA: OF SF ZF PF undefined (left unchanged). */
export const aaa: Exec = (c) => {
  if ((c.r8[0]! & 0xf) > 9 || c.fl.af()) {
    c.r16[I_AX] = c.r16[I_AX]! + 0x106;
    c.fl.assign(AF | CF, AF | CF);
  } else {
    c.fl.assign(AF | CF, 0);
  }
  c.r8[0] = c.r8[0]! & 0xf;
  c.setUndef(OF | SF | ZF | PF);
};

/** AAS: OF SF ZF PF undefined (left unchanged). */
export const aas: Exec = (c) => {
  if ((c.r8[0]! & 0xf) > 9 || c.fl.af()) {
    c.r16[I_AX] = c.r16[I_AX]! - 6;
    c.r8[1] = c.r8[1]! - 1;
    c.fl.assign(AF | CF, AF | CF);
  } else {
    c.fl.assign(AF | CF, 0);
  }
  c.r8[0] = c.r8[0]! & 0xf;
  c.setUndef(OF | SF | ZF | PF);
};

/** AAM imm8 (imm 0: #DE): SF ZF PF from AL; OF AF CF undefined (cleared). */
export const aam: Exec = (c, i) => {
  const base = i.imm & 0xff;
  if (base === 0) c.fault(VEC_DE);
  const al = c.r8[0]!;
  c.r8[1] = Math.floor(al / base);
  c.r8[0] = al % base;
  c.fl.logic(c.r8[0]!, 1);
  c.setUndef(OF | AF | CF);
};

/** AAD imm8: AL <- AL + AH*imm, AH <- 0; SF ZF PF from AL; OF AF CF undefined (cleared). */
export const aad: Exec = (c, i) => {
  const al = (c.r8[0]! + c.r8[1]! * (i.imm & 0xff)) & 0xff;
  c.r16[I_AX] = al;
  c.fl.logic(al, 1);
  c.setUndef(OF | AF | CF);
};
