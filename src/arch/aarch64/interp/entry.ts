// The vocabulary of the decode table: an entry matches (word & mask) === value, builds the
// executor for one instruction word (fields extracted once, the closure cached per word) and
// prints it. Also the register/immediate spelling the disassembly shares (objdump's).

import type { A64Cpu } from './cpu.js';
import { A64Fault, A64Unsupported, EC } from './types.js';

export type Exec = (c: A64Cpu) => void;

export interface Entry {
  mask: number;
  value: number;
  build: (w: number) => Exec;
  dis: (w: number, pc: bigint) => string;
}

export const entry = (mask: number, value: number, build: Entry['build'], dis: Entry['dis']): Entry =>
  ({ mask: mask >>> 0, value: value >>> 0, build, dis });

/** An unallocated encoding: the Undefined Instruction exception (EC 0). */
export const undefinedInsn: Exec = () => { throw new A64Fault(EC.UNKNOWN, 0); };

export const unsupported = (message: string): Exec => () => { throw new A64Unsupported(message); };

/** Bits hi..lo of w. */
export const bits = (w: number, hi: number, lo: number): number => (w >>> lo) & ((1 << (hi - lo + 1)) - 1) >>> 0;

export const sext = (v: number, width: number): number => (v << (32 - width)) >> (32 - width);

/** Xn/Wn with 31 as the zero register. */
export const rz = (n: number, sf: boolean | number): string => (sf ? (n === 31 ? 'xzr' : `x${n}`) : (n === 31 ? 'wzr' : `w${n}`));
/** Xn/Wn with 31 as the stack pointer. */
export const rs = (n: number, sf: boolean | number): string => (n === 31 ? (sf ? 'sp' : 'wsp') : rz(n, sf));

export const hex = (v: number | bigint): string => `#0x${v.toString(16)}`;
export const addr = (v: bigint): string => `0x${BigInt.asUintN(64, v).toString(16)}`;
/** Condition names as objdump prints them (cs/cc, not the hs/lo synonyms), in every operand position. */
export const DIS_COND = ['eq', 'ne', 'cs', 'cc', 'mi', 'pl', 'vs', 'vc', 'hi', 'ls', 'ge', 'lt', 'gt', 'le', 'al', 'nv'];
export const SHIFT_NAMES = ['lsl', 'lsr', 'asr', 'ror'];
export const EXTEND_NAMES = ['uxtb', 'uxth', 'uxtw', 'uxtx', 'sxtb', 'sxth', 'sxtw', 'sxtx'];
