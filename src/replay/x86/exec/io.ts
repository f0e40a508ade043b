// IN/OUT (imm8 and DX forms). Real mode has no I/O permission checks.

import { I_EAX } from '../constants.js';
import type { Exec } from '../opdef.js';

/**
 * IN AL/eAX, Ib/DX. A 4-byte IN zero-extends into RAX: KVM completes port input with
 * kvm_rax_write(), which merges 1/2-byte values and zero-extends 4-byte ones.
 */
export const inOp: Exec = (c, i) => {
  const v = c.ioIn(c.rd2(i), i.s1 as 1 | 2 | 4);
  c.wr1(i, v);
  if (i.s1 === 4) c.r32[I_EAX + 1] = 0;
};

/** OUT Ib/DX, AL/eAX */
export const outOp: Exec = (c, i) => c.ioOut(c.rd1(i), i.s2 as 1 | 2 | 4, c.rd2(i));
