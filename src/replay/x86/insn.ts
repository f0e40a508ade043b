// A decoded instruction. Instances are reused (decode cache entries, scratch objects), so every
// field is initialised here and has a stable type.

import { DS, ZERO_REG } from './constants.js';
import type { Exec, OpDef } from './opdef.js';

// ---- resolved operand kinds (k1..k3)
export const K_NONE = 0;
export const K_R8 = 1;    // a = index into the byte view
export const K_R16 = 2;   // a = index into the word view
export const K_R32 = 3;   // a = index into the dword view
export const K_MEM = 4;   // effective address from base/index/scale/disp, segment `seg`
export const K_IMM = 5;   // a = value (already truncated / sign-extended to the operand size)
export const K_SREG = 6;  // a = segment register number
export const K_CTRL = 7;  // a = control/debug register number
export const K_R64 = 8;   // a = index into the dword view (low half); 64-bit code only
export const K_R32Z = 9;  // like K_R32, but writes zero bits 63:32 (32-bit operands in 64-bit code)

export const REP_NONE = 0;
export const REP_F3 = 1;  // rep / repe
export const REP_F2 = 2;  // repne

// raw prefix bits (for the disassembler)
export const P_OPSIZE = 1;
export const P_ADSIZE = 2;

export class Insn {
  /** length in bytes, prefixes included */
  len = 0;
  /** code size it was decoded for (16/32/64) */
  bits = 16;
  /** operand size in bytes (2/4/8) */
  osz = 2;
  /** address size in bytes (2/4/8) */
  asz = 2;
  rep = REP_NONE;
  lock = false;
  /** segment override prefix, -1 if none */
  segOvr = -1;
  /** segment of the memory operand (override or default DS/SS) */
  seg = DS;
  pfx = 0;
  /** REX prefix byte (64-bit code), 0 if none */
  rex = 0;
  /** RIP-relative memory operand (64-bit code) */
  ripRel = false;
  /** opcode: xx, 0x100|xx for 0F xx, 0x200|xx for 0F 38 xx, 0x300|xx for 0F 3A xx */
  op = 0;
  def: OpDef | null = null;
  exec: Exec | null = null;
  mod = 0;
  reg = 0;
  rm = 0;
  /** dword-view index of the base register (ZERO_REG slot if none) */
  base = ZERO_REG * 2;
  /** dword-view index of the index register (ZERO_REG slot if none) */
  index = ZERO_REG * 2;
  scale = 0;
  disp = 0;
  /** bits 63:32 of the displacement (64-bit addressing: sign of disp, or the moffs64 high half) */
  dispHi = 0;
  imm = 0;
  imm2 = 0;
  /** bits 63:32 of the immediate operand for 64-bit operand size (int32) */
  immHi = 0;
  k1 = K_NONE; a1 = 0; s1 = 0;
  k2 = K_NONE; a2 = 0; s2 = 0;
  k3 = K_NONE; a3 = 0; s3 = 0;
  readonly bytes = new Uint8Array(15);
  // ---- decode-cache bookkeeping
  /** cache generation in which the bytes were last known to match memory */
  gen = -1;
  /** RAM array and offset the bytes were fetched from (null: not cacheable) */
  ram: Uint8Array | null = null;
  ramOff = 0;
}
