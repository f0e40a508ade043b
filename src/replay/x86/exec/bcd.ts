// Decimal adjustments DAA/DAS/AAA/AAS/AAM/AAD, following the SDM pseudocode. Undefined flags:
// the interpreter's guess, then the trace's flag model (flag-model.ts).

import * as K from '../constants.js';
import { U } from '../flag-model.js';
import type { Exec } from '../opdef.js';

// (local copies of the constants: constants.ts says why)
const { AF, CF, I_AX, OF, PF, SF, VEC_DE, ZF } = K;

/** DAA: OF undefined (left unchanged). */
export const daa: Exec = (c) => {
  const old = c.r8[0]!;
  const before = c.flagsBefore();
  const oldCf = c.fl.useCF();
  let al = old;
  let cf = 0;
  let af = 0;
  if ((al & 0xf) > 9 || c.fl.useAF()) {
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
  c.undefFlags(U.daa, 1, OF, before, al, old, 0);
};

/** DAS: OF undefined (left unchanged). */
export const das: Exec = (c) => {
  const old = c.r8[0]!;
  const before = c.flagsBefore();
  const oldCf = c.fl.useCF();
  let al = old;
  let cf = 0;
  let af = 0;
  if ((al & 0xf) > 9 || c.fl.useAF()) {
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
  c.undefFlags(U.das, 1, OF, before, al, old, 0);
};

/** AAA: OF SF ZF PF undefined (left unchanged). */
export const aaa: Exec = (c) => {
  const before = c.flagsBefore();
  const old = c.r8[0]!;
  if ((old & 0xf) > 9 || c.fl.useAF()) {
    c.r16[I_AX] = c.r16[I_AX]! + 0x106;
    c.fl.assign(AF | CF, AF | CF);
  } else {
    c.fl.assign(AF | CF, 0);
  }
  c.r8[0] = c.r8[0]! & 0xf;
  c.undefFlags(U.aaa, 1, OF | SF | ZF | PF, before, c.r8[0]!, old, 0);
};

/** AAS: OF SF ZF PF undefined (left unchanged). */
export const aas: Exec = (c) => {
  const before = c.flagsBefore();
  const old = c.r8[0]!;
  if ((old & 0xf) > 9 || c.fl.useAF()) {
    c.r16[I_AX] = c.r16[I_AX]! - 6;
    c.r8[1] = c.r8[1]! - 1;
    c.fl.assign(AF | CF, AF | CF);
  } else {
    c.fl.assign(AF | CF, 0);
  }
  c.r8[0] = c.r8[0]! & 0xf;
  c.undefFlags(U.aas, 1, OF | SF | ZF | PF, before, c.r8[0]!, old, 0);
};

/**
 * Flags of AAM/AAD as KVM's emulator produces them (em_aam/em_aad end with an OR of 0 on the
 * operand-size accumulator): SF and ZF come from AX (EAX with a 32-bit operand size), PF from
 * AL; CF and OF are cleared, AF (undefined) is 0. The SDM defines SF/ZF from AL; the recording
 * hosts emulate every instruction with KVM, so traces show KVM's values.
 */
function kvmAccFlags(c: Parameters<Exec>[0], cls: number, osz: number, before: number, old: number): void {
  const acc = osz === 2 ? c.r16[I_AX]! : c.r32[0]! >>> 0;
  c.fl.logic(acc, osz === 2 ? 2 : 4);
  c.undefFlags(cls, 1, OF | AF | CF, before, acc, old, 0);
}

/** AAM imm8 (imm 0: #DE): AH <- AL / imm, AL <- AL % imm; flags see kvmAccFlags. */
export const aam: Exec = (c, i) => {
  const base = i.imm & 0xff;
  if (base === 0) c.fault(VEC_DE);
  const before = c.flagsBefore();
  const al = c.r8[0]!;
  c.r8[1] = Math.floor(al / base);
  c.r8[0] = al % base;
  kvmAccFlags(c, U.aam, i.osz, before, al);
};

/** AAD imm8: AL <- AL + AH*imm, AH <- 0; flags see kvmAccFlags. */
export const aad: Exec = (c, i) => {
  const before = c.flagsBefore();
  const old = c.r8[0]!;
  const al = (old + c.r8[1]! * (i.imm & 0xff)) & 0xff;
  c.r16[I_AX] = al;
  kvmAccFlags(c, U.aad, i.osz, before, old);
};
