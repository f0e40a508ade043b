// Intel-syntax disassembler driven by the same opcode tables as the decoder/executors.
// Output style: lower case, 'mov al, 0x48', 'add word ptr es:[bx+si+0x4], ax', branch
// targets as absolute addresses (given the instruction's IP).

import { ZERO_REG } from './constants.js';
import { DEC_OK, decode } from './decoder.js';
import {
  Insn, K_CTRL, K_IMM, K_MEM, K_R16, K_R32, K_R32Z, K_R64, K_R8, K_SREG, REP_F3, REP_NONE,
} from './insn.js';
import {
  AM_A, AM_C, AM_D, AM_I, AM_IS, AM_J, AM_M, AM_X, AM_Y, F_ASZ_MN, F_REPZ, F_STRING, F_UD, SZ_NONE, type OperandSpec,
} from './opdef.js';

const R8 = ['al', 'cl', 'dl', 'bl', 'ah', 'ch', 'dh', 'bh'];
const R8X = ['al', 'cl', 'dl', 'bl', 'spl', 'bpl', 'sil', 'dil'];
const R16 = ['ax', 'cx', 'dx', 'bx', 'sp', 'bp', 'si', 'di'];
const R32 = ['eax', 'ecx', 'edx', 'ebx', 'esp', 'ebp', 'esi', 'edi'];
const R64 = ['rax', 'rcx', 'rdx', 'rbx', 'rsp', 'rbp', 'rsi', 'rdi'];
const SEGS = ['es', 'cs', 'ss', 'ds', 'fs', 'gs', '?', '?'];
const PTR: Record<number, string> = { 1: 'byte', 2: 'word', 4: 'dword', 6: 'fword', 8: 'qword', 10: 'tbyte' };
const ZERO = ZERO_REG * 2;

function reg(kind: number, a: number, rex: number): string {
  switch (kind) {
    case K_R8: {
      const n = a >> 3;
      if (rex !== 0) return n < 8 ? R8X[n]! : `r${n}b`;
      return a & 1 ? R8[4 + n]! : R8[n]!;
    }
    case K_R16: return a / 4 < 8 ? R16[a / 4]! : `r${a / 4}w`;
    case K_R32: case K_R32Z: return a / 2 < 8 ? R32[a / 2]! : `r${a / 2}d`;
    default: return a / 2 < 8 ? R64[a / 2]! : `r${a / 2}`;
  }
}

function addrReg(idx: number, asz: number): string {
  const n = idx / 2;
  if (asz === 2) return R16[n]!;
  if (asz === 4) return n < 8 ? R32[n]! : `r${n}d`;
  return n < 8 ? R64[n]! : `r${n}`;
}

function hex(v: number): string {
  return '0x' + v.toString(16);
}

function mem(i: Insn, size: number, withSize: boolean): string {
  const parts: string[] = [];
  if (i.ripRel) parts.push('rip');
  if (i.base !== ZERO) parts.push(addrReg(i.base, i.asz));
  if (i.index !== ZERO) parts.push(addrReg(i.index, i.asz) + (i.scale ? `*${1 << i.scale}` : ''));
  let disp = i.asz === 2 ? i.disp & 0xffff : i.disp;
  let text: string;
  if (parts.length === 0) {
    text = hex(i.asz === 2 ? disp : disp >>> 0);
  } else {
    if (i.asz === 2 && disp >= 0x8000) disp -= 0x10000;
    text = parts.join('+') + (disp > 0 ? `+${hex(disp)}` : disp < 0 ? `-${hex(-disp)}` : '');
  }
  const seg = i.segOvr >= 0 ? `${SEGS[i.segOvr]}:` : '';
  const ptr = withSize && PTR[size] ? `${PTR[size]} ptr ` : '';
  return `${ptr}${seg}[${text}]`;
}

function mnemonic(i: Insn): string {
  const d = i.def!;
  if (d.rmNames) return d.rmNames[i.rm & 7]!;
  const variants = d.mn.split('/');
  if (variants.length === 1 || d.mn.startsWith('(')) return d.mn;
  const size = d.f & F_ASZ_MN ? i.asz : i.osz;
  const k = size === 2 ? 0 : size === 4 ? 1 : 2;
  return variants[Math.min(k, variants.length - 1)]!;
}

function operand(i: Insn, o: OperandSpec, k: number, a: number, s: number, ip: number): string | null {
  switch (o.am) {
    case AM_X:
    case AM_Y:
      return null;
    case AM_J:
      if (i.bits === 64 && i.osz === 8) return hex(ip + i.len + a);
      return hex(i.osz === 2 ? (ip + i.len + a) & 0xffff : (ip + i.len + a) >>> 0);
    case AM_A:
      return `${hex(i.imm2)}:${hex(i.imm)}`;
    case AM_C:
      return `cr${a}`;
    case AM_D:
      return `dr${a}`;
  }
  switch (k) {
    case K_R8: case K_R16: case K_R32: case K_R32Z: case K_R64:
      return reg(k, a, i.rex);
    case K_MEM:
      return mem(i, s, !(o.am === AM_M && o.sz === SZ_NONE));
    case K_IMM:
      if (i.osz === 8 && (o.am === AM_I || o.am === AM_IS) && i.immHi !== 0) {
        return '0x' + ((BigInt(i.immHi >>> 0) << 32n) | BigInt(a >>> 0)).toString(16);
      }
      return hex(a);
    case K_SREG:
      return SEGS[a]!;
    case K_CTRL:
      return `cr${a}`;
    default:
      return null;
  }
}

/** Intel-syntax text of a decoded instruction located at `ip`. */
export function formatInsn(i: Insn, ip: number): string {
  const d = i.def!;
  if (d.f & F_UD) return '(bad)';
  // F3 0F 1E FA/FB: the CET hint NOPs, named as assemblers name them
  if (i.op === 0x11e && i.rep === REP_F3 && i.mod === 3 && i.reg === 7 && (i.rm === 2 || i.rm === 3)) return i.rm === 2 ? 'endbr64' : 'endbr32';
  let pre = '';
  if (i.lock) pre += 'lock ';
  const string = (d.f & F_STRING) !== 0;
  if (string) {
    if (i.segOvr >= 0) pre += `${SEGS[i.segOvr]} `;
    const defAsz = i.bits === 16 ? 2 : i.bits === 32 ? 4 : 8;
    if (i.asz !== defAsz) pre += `addr${i.asz * 8} `;
    if (i.rep !== REP_NONE) pre += d.f & F_REPZ ? (i.rep === REP_F3 ? 'repe ' : 'repne ') : 'rep ';
    return pre + mnemonic(i);
  }
  const ops: string[] = [];
  const spec = d.spec;
  for (let n = 0; n < spec.length; n++) {
    const t = n === 0 ? operand(i, spec[0]!, i.k1, i.a1, i.s1, ip)
      : n === 1 ? operand(i, spec[1]!, i.k2, i.a2, i.s2, ip)
      : operand(i, spec[2]!, i.k3, i.a3, i.s3, ip);
    if (t !== null) ops.push(t);
  }
  return pre + mnemonic(i) + (ops.length ? ' ' + ops.join(', ') : '');
}

/**
 * Disassemble the instruction at the start of `bytes` for a code segment of `bits`.
 * `ip` (optional) is the instruction's address, used for branch targets.
 */
export function disassemble(bytes: Uint8Array, bits: 16 | 32 | 64, ip = 0): { text: string; length: number } {
  const i = new Insn();
  const st = decode(bytes, Math.min(bytes.length, 15), bits, i);
  if (st !== DEC_OK) return { text: '(bad)', length: Math.min(bytes.length, 1) };
  return { text: formatInsn(i, ip), length: i.len };
}
