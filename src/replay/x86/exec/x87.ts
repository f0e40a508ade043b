// The x87 control, status and tag words and the instructions that only manage them: FNINIT,
// FNCLEX, FLDCW, FNSTCW, FNSTSW (m16 and AX), WAIT/FWAIT. Arithmetic, loads and stores of the
// register stack, FNSAVE/FRSTOR and FLDENV/FNSTENV stay unsupported (tables.ts).
//
// CR0 (SDM Vol. 3A 2.5, Table 2-2): EM or TS makes every x87 instruction #NM; WAIT/FWAIT is #NM
// only with both MP and TS. No instruction here can set an exception flag in the status word
// (only arithmetic does), so WAIT never raises #MF and FLDCW never makes one pending.
//
// Initial state: what KVM gives a new vCPU (measured: FNSTCW 0x037F, FNSTSW 0 before any
// FNINIT), which is also FNINIT's state.

import * as K from '../constants.js';
import type { Insn } from '../insn.js';
import type { Machine } from '../machine.js';
import type { Exec } from '../opdef.js';

// (local copies of the constants: constants.ts says why)
const { CR0_EM, CR0_MP, CR0_TS, VEC_NM } = K;

export const X87_INIT_CW = 0x037f;
/** all eight registers empty (11b each) */
export const X87_EMPTY_TW = 0xffff;

function x87Available(c: Machine): void {
  if ((c.cr0 & (CR0_EM | CR0_TS)) !== 0) c.fault(VEC_NM);
}

/** DB E3 FNINIT: control word 0x037F, status word 0, every register empty. */
export function fninit(c: Machine): void {
  x87Available(c);
  c.fpuCw = X87_INIT_CW;
  c.fpuSw = 0;
  c.fpuTw = X87_EMPTY_TW;
}

/** DB E2 FNCLEX: clears the exception flags, ES (summary) and B (busy) of the status word. */
export function fnclex(c: Machine): void {
  x87Available(c);
  c.fpuSw &= 0x7f00;
}

/** DB /4 (mod = 3): FNINIT (E3), FNCLEX (E2); FENI/FDISI/FSETPM (E0, E1, E4) are no-ops after the 287. */
export const x87DbReg4: Exec = (c, i) => {
  const rm = i.rm & 7;
  if (rm === 3) fninit(c);
  else if (rm === 2) fnclex(c);
  else if (rm <= 4) x87Available(c);
  else c.unsupported('(x87)');
};

/**
 * D9 /5 FLDCW m16. As measured on AMD Zen 4 (and documented as reserved by both vendors): bits
 * 15:13 and 7 read back as 0, bit 6 as 1.
 */
export const fldcw: Exec = (c, i) => {
  x87Available(c);
  c.fpuCw = (c.read16(i.seg, c.ea(i)) & 0x1f3f) | 0x0040;
};

/** D9 /7 FNSTCW m16 */
export const fnstcw: Exec = (c, i) => {
  x87Available(c);
  c.write16(i.seg, c.ea(i), c.fpuCw);
};

/** DD /7 FNSTSW m16 */
export const fnstswM: Exec = (c, i) => {
  x87Available(c);
  c.write16(i.seg, c.ea(i), c.fpuSw);
};

/** DF /4 (mod = 3): FNSTSW AX (E0); the other encodings are invalid or not implemented. */
export const x87DfReg4: Exec = (c, i: Insn) => {
  if ((i.rm & 7) !== 0) c.unsupported('(x87)');
  x87Available(c);
  c.r16[0] = c.fpuSw;
};

/** 9B WAIT/FWAIT: #NM with CR0.MP and CR0.TS; no exception can be pending (see above). */
export const fwait: Exec = (c) => {
  if ((c.cr0 & (CR0_MP | CR0_TS)) === (CR0_MP | CR0_TS)) c.fault(VEC_NM);
};
