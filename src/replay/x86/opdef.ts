// Opcode-table vocabulary: what one table entry says about an instruction, and the parser
// for operand specifications written in the notation of the Intel SDM opcode map
// (Vol. 2, Appendix A): an addressing method letter followed by an operand-size code,
// e.g. 'Eb,Gb', 'Ev,Iz', 'AL,Ib', 'Rv/Mw,Sw'.

import type { Insn } from './insn.js';
import type { Machine } from './machine.js';

/** An executor: performs a decoded instruction on the machine. */
export type Exec = (c: Machine, i: Insn) => void;

// ---- addressing methods
export const AM_E = 1;      // ModRM r/m: register or memory
export const AM_G = 2;      // ModRM reg: general register
export const AM_M = 3;      // ModRM r/m, memory only (mod=3 is #UD)
export const AM_R = 4;      // ModRM r/m, register only (mod ignored; MOV CRn/DRn)
export const AM_I = 5;      // immediate
export const AM_IS = 6;     // imm8 sign-extended to the operand size ('Ibs')
export const AM_J = 7;      // relative branch offset
export const AM_O = 8;      // moffs: absolute offset of address size, no ModRM
export const AM_A = 9;      // direct far pointer ptr16:16 / ptr16:32
export const AM_S = 10;     // ModRM reg: segment register
export const AM_Z = 11;     // general register encoded in the low 3 opcode bits
export const AM_REG = 12;   // fixed general register (AL, CL, DX, eAX...)
export const AM_SEG = 13;   // fixed segment register (ES, CS...)
export const AM_X = 14;     // string source DS:rSI
export const AM_Y = 15;     // string destination ES:rDI
export const AM_C = 16;     // ModRM reg: control register
export const AM_D = 17;     // ModRM reg: debug register
export const AM_ONE = 18;   // the constant 1 (shift count)

// ---- operand sizes; positive values are bytes, negative ones depend on the operand size
export const SZ_NONE = 0;
export const SZ_B = 1;
export const SZ_W = 2;
export const SZ_D = 4;
export const SZ_Q = 8;
export const SZ_V = -1;     // 16/32(/64) by operand size
export const SZ_Z = -2;     // 16/32 by operand size (32 for 64-bit operand size)
export const SZ_P = -3;     // far pointer: 16:16 or 16:32
export const SZ_A = -4;     // BOUND: pair of words/dwords
export const SZ_S = -5;     // 6-byte pseudo-descriptor (LGDT...)

export interface OperandSpec {
  am: number;
  /** size code (SZ_*) */
  sz: number;
  /** size used instead of `sz` when an AM_E operand is memory ('Rv/Mw'); SZ_NONE if same */
  memSz: number;
  /** register number for AM_REG / AM_SEG */
  reg: number;
  /** the spec text, e.g. 'Ev' */
  text: string;
}

// ---- entry flags
export const F_MODRM = 1 << 0;    // has a ModRM byte even if no operand says so
export const F_LOCK = 1 << 1;     // LOCK prefix allowed (with a memory destination)
export const F_STRING = 1 << 2;   // string instruction (REP prefixes meaningful)
export const F_REPZ = 1 << 3;     // string instruction using REPE/REPNE (cmps, scas)
export const F_PREFIX = 1 << 4;   // a prefix byte (consumed by the decoder, never executed)
export const F_UD = 1 << 5;       // invalid opcode: #UD
export const F_ASZ_MN = 1 << 6;   // mnemonic variants selected by address size (jcxz/jecxz)
export const F_ESC3 = 1 << 7;     // 0F 38 / 0F 3A: a third opcode byte follows
export const F_BRANCH = 1 << 8;   // control transfer (for the disassembler: J operands are targets)
export const F_D64 = 1 << 9;      // 64-bit code: operand size defaults to 64 bits (push, pop, near branches)
export const F_I64 = 1 << 10;     // invalid in 64-bit code (#UD)
export const F_ANY64 = 1 << 11;   // the executor handles a 64-bit operand size itself (no `q` needed)

export interface OpDef {
  /** Mnemonic; 'a/b/c' variants are chosen by operand size 16/32/64 (or address size, F_ASZ_MN). */
  mn: string;
  /** Operand specification, SDM notation. */
  ops: string;
  f: number;
  /** Executor; undefined means "valid but not implemented" (run() reports `unsupported`). */
  x?: Exec;
  /**
   * Executor for a 64-bit operand size. An entry whose operand size can be 64 bits needs one
   * (or F_ANY64); without it such an instruction is reported unsupported.
   */
  q?: Exec;
  /** Entry used instead of this one in 64-bit code (0x63: ARPL -> MOVSXD). */
  l64?: OpDef;
  /** Mnemonics by ModRM.rm for register-form group members that encode the operation in rm. */
  rmNames?: string[];
  /** ModRM.reg-indexed group table (memory forms, and register forms if `grpReg` is absent). */
  grp?: OpDef[];
  /** ModRM.reg-indexed group table for mod=3. */
  grpReg?: OpDef[];
  /** Alternative entry selected by a mandatory F3 prefix (POPCNT, TZCNT, LZCNT). */
  f3?: OpDef;
  /** Parsed `ops` (filled by def()). */
  spec: OperandSpec[];
  /** ModRM needed (explicit flag or implied by an operand). */
  modrm: boolean;
  /** Something depends on the operand size (a v/z/p/a/s operand, or size-named variants). */
  sizeDep: boolean;
}

const FIXED_REGS: Record<string, [number, number]> = {
  AL: [0, SZ_B], CL: [1, SZ_B], DL: [2, SZ_B], BL: [3, SZ_B],
  AH: [4, SZ_B], CH: [5, SZ_B], DH: [6, SZ_B], BH: [7, SZ_B],
  AX: [0, SZ_W], CX: [1, SZ_W], DX: [2, SZ_W], BX: [3, SZ_W],
  eAX: [0, SZ_V], eCX: [1, SZ_V], eDX: [2, SZ_V], eBX: [3, SZ_V],
};
const FIXED_SEGS: Record<string, number> = { ES: 0, CS: 1, SS: 2, DS: 3, FS: 4, GS: 5 };
const METHODS: Record<string, number> = {
  E: AM_E, G: AM_G, M: AM_M, R: AM_R, I: AM_I, J: AM_J, O: AM_O, A: AM_A, S: AM_S,
  Z: AM_Z, X: AM_X, Y: AM_Y, C: AM_C, D: AM_D,
};
const SIZES: Record<string, number> = {
  '': SZ_NONE, b: SZ_B, w: SZ_W, d: SZ_D, q: SZ_Q, v: SZ_V, z: SZ_Z, p: SZ_P, a: SZ_A, s: SZ_S,
};

function parseOperand(t: string): OperandSpec {
  const fixed = FIXED_REGS[t];
  if (fixed) return { am: AM_REG, sz: fixed[1], memSz: SZ_NONE, reg: fixed[0], text: t };
  const seg = FIXED_SEGS[t];
  if (seg !== undefined) return { am: AM_SEG, sz: SZ_W, memSz: SZ_NONE, reg: seg, text: t };
  if (t === '1') return { am: AM_ONE, sz: SZ_B, memSz: SZ_NONE, reg: 0, text: t };
  if (t === 'Ibs') return { am: AM_IS, sz: SZ_V, memSz: SZ_NONE, reg: 0, text: t };
  const split = /^R([a-z])\/M([a-z])$/.exec(t);
  if (split) {
    return { am: AM_E, sz: SIZES[split[1]!]!, memSz: SIZES[split[2]!]!, reg: 0, text: t };
  }
  const am = METHODS[t[0]!];
  const sz = SIZES[t.slice(1)];
  if (am === undefined || sz === undefined) throw new Error(`bad operand spec '${t}'`);
  return { am, sz, memSz: SZ_NONE, reg: 0, text: t };
}

const MODRM_METHODS = new Set([AM_E, AM_G, AM_M, AM_R, AM_S, AM_C, AM_D]);

/** Build a table entry. */
export function def(mn: string, ops: string, f: number, x?: Exec, extra?: Partial<OpDef>): OpDef {
  const spec = ops === '' ? [] : ops.split(',').map(parseOperand);
  const modrm = (f & F_MODRM) !== 0 || spec.some((s) => MODRM_METHODS.has(s.am)) || extra?.grp !== undefined;
  const dep = (sz: number): boolean => sz === SZ_V || sz === SZ_Z || sz === SZ_P || sz === SZ_A || sz === SZ_S;
  const sizeDep = spec.some((s) => dep(s.sz) || dep(s.memSz)) || (mn.includes('/') && !mn.startsWith('('));
  const d: OpDef = { mn, ops, f, spec, modrm, sizeDep };
  if (x) d.x = x;
  if (extra) Object.assign(d, extra);
  if (d.grp || d.grpReg) d.modrm = true;
  return d;
}

/** A ModRM.reg-indexed group; `ops` applies to members that do not give their own. */
export function group(mn: string, members: OpDef[], f = 0, grpReg?: OpDef[]): OpDef {
  if (members.length !== 8 || (grpReg && grpReg.length !== 8)) throw new Error(`group ${mn} must have 8 members`);
  const extra: Partial<OpDef> = { grp: members };
  if (grpReg) extra.grpReg = grpReg;
  return def(mn, '', f | F_MODRM, undefined, extra);
}

/** Invalid opcode (#UD). */
export function ud(x: Exec, modrm = false): OpDef {
  return def('(bad)', '', F_UD | (modrm ? F_MODRM : 0), x);
}
