// Flag-register instructions, NOP/HLT/CPUID, and the #UD / unsupported executors.

import * as K from '../constants.js';
import { cpuidLookup } from '../cpuid.js';
import type { Exec } from '../opdef.js';

// (local copies of the constants: constants.ts says why)
const { DF, I_EAX, I_EBX, I_ECX, I_EDX, IF, IOPL, VEC_GP, VEC_UD } = K;

/** Invalid opcode. */
export const execUD: Exec = (c) => c.fault(VEC_UD);

/** Valid instruction this interpreter does not implement. */
export const execUnsupported: Exec = (c) => c.unsupported('');

/** Valid instruction implemented for 16/32-bit operands only. */
export const execUnsupported64: Exec = (c) => c.unsupported('64-bit operand size not implemented for this instruction');

export const nop: Exec = () => {};

/** HLT: #GP(0) at CPL > 0. */
export const hlt: Exec = (c) => {
  if (c.cpl !== 0) c.fault(VEC_GP);
  c.halt();
};

export const clc: Exec = (c) => c.fl.setCF(0);
export const stc: Exec = (c) => c.fl.setCF(1);
export const cmc: Exec = (c) => c.fl.setCF(c.fl.useCF() ^ 1);
export const cld: Exec = (c) => { c.fl.bits &= ~DF; };
export const std: Exec = (c) => { c.fl.bits |= DF; };
/** CLI/STI: #GP(0) in protected mode when CPL > IOPL (VME/PVI are not implemented). */
function ifAllowed(c: Parameters<Exec>[0]): void {
  if (c.pe && c.cpl > ((c.fl.bits & IOPL) >> 12)) c.fault(VEC_GP);
}
export const cli: Exec = (c) => { ifAllowed(c); c.fl.bits &= ~IF; };
export const sti: Exec = (c) => { ifAllowed(c); c.fl.bits |= IF; };

/** CPUID. KVM emulates it and writes the outputs zero-extended to 64 bits (kvm_rax_write...). */
export const cpuid: Exec = (c) => {
  const r = c.r32;
  const [a, b, cc, d] = cpuidLookup(c.cpuidEntries, r[I_EAX]!, r[I_ECX]!);
  r[I_EAX] = a; r[I_EAX + 1] = 0;
  r[I_EBX] = b; r[I_EBX + 1] = 0;
  r[I_ECX] = cc; r[I_ECX + 1] = 0;
  r[I_EDX] = d; r[I_EDX + 1] = 0;
};

/** SAHF: SF ZF AF PF CF <- AH */
export const sahf: Exec = (c) => c.fl.assign(0xd5, c.r8[1]!);
/** LAHF: AH <- SF ZF 0 AF 0 PF 1 CF */
export const lahf: Exec = (c) => { c.fl.use(0xd5); c.r8[1] = (c.fl.get() & 0xd5) | 2; };
/** SALC (undocumented D6): AL <- CF ? FF : 00 */
export const salc: Exec = (c) => { c.r8[0] = c.fl.useCF() ? 0xff : 0; };
