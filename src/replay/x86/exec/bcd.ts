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

/**
 * Flags of AAM/AAD as KVM's emulator produces them (em_aam/em_aad end with an OR of 0 on the
 * operand-size accumulator): SF and ZF come from AX (EAX with a 32-bit operand size), PF from
 * AL; CF and OF are cleared, AF (undefined) is 0. The SDM defines SF/ZF from AL; the recording
 * hosts emulate every instruction with KVM, so traces show KVM's values.
 */
function kvmAccFlags(c: Parameters<Exec>[0], osz: number): void {
  c.fl.logic(osz === 2 ? c.r16[I_AX]! : c.r32[0]! >>> 0, osz === 2 ? 2 : 4);
  c.setUndef(OF | AF | CF);
}

/** AAM imm8 (imm 0: #DE): AH <- AL / imm, AL <- AL % imm; flags see kvmAccFlags. */
export const aam: Exec = (c, i) => {
  const base = i.imm & 0xff;
  if (base === 0) c.fault(VEC_DE);
  const al = c.r8[0]!;
  c.r8[1] = Math.floor(al / base);
  c.r8[0] = al % base;
  kvmAccFlags(c, i.osz);
};

/** AAD imm8: AL <- AL + AH*imm, AH <- 0; flags see kvmAccFlags. */
export const aad: Exec = (c, i) => {
  const al = (c.r8[0]! + c.r8[1]! * (i.imm & 0xff)) & 0xff;
  c.r16[I_AX] = al;
  kvmAccFlags(c, i.osz);
};
