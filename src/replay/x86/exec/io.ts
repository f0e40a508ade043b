// IN/OUT (imm8 and DX forms). In protected mode with CPL > IOPL the TSS I/O bitmap decides
// (Machine.ioIn/ioOut). REX.W does not change the operand size (32 bits).

import * as K from '../constants.js';
import type { Exec } from '../opdef.js';

// (local copies of the constants: constants.ts says why)
const { I_EAX } = K;

/**
 * IN AL/eAX, Ib/DX. A 4-byte IN zero-extends into RAX: KVM completes port input with
 * kvm_rax_write(), which merges 1/2-byte values and zero-extends 4-byte ones.
 */
export const inOp: Exec = (c, i) => {
  const s = i.s1 === 8 ? 4 : i.s1;
  const v = c.ioIn(c.rd2(i), s as 1 | 2 | 4);
  if (s === 4) {
    c.r32[I_EAX] = v;
    c.r32[I_EAX + 1] = 0;
  } else c.wr1(i, v);
};

/** OUT Ib/DX, AL/eAX */
export const outOp: Exec = (c, i) => c.ioOut(c.rd1(i), (i.s2 === 8 ? 4 : i.s2) as 1 | 2 | 4, c.rd2(i));
