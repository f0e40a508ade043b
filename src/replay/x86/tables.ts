// Opcode tables: data, in the notation of the Intel SDM opcode map (Vol. 2, Appendix A).
// Each entry gives the mnemonic, the operand specification, flags (ModRM, LOCK allowed,
// string...) and the executor. An entry without executor is a valid instruction this
// interpreter does not implement (run() reports `unsupported`); `ud()` entries are invalid
// opcodes (#UD). The decoder, the executors and the disassembler are all driven by these.

import { add, adc, and, cmp, dec, inc, neg, not, or, sbb, sub, test, xor } from './exec/alu.js';
import { aaa, aad, aam, aas, daa, das } from './exec/bcd.js';
import {
  bsf, bsr, bswap, btG, btI, btcG, btcI, btrG, btrI, btsG, btsI, cmovcc, lzcnt, popcnt, setcc, tzcnt,
} from './exec/bits.js';
import {
  bound, callFar, callFarInd, callInd, callRel, int, int1, int3, into, iret, jcc, jcxz, jmpFar,
  jmpFarInd, jmpInd, jmpRel, loop, loope, loopne, ret, retf,
} from './exec/control.js';
import { inOp, outOp } from './exec/io.js';
import { rdrand, rdseedRdpid, rdtsc } from './exec/nondet.js';
import { fldcw, fnstcw, fnstswM, fwait, x87DbReg4, x87DfReg4 } from './exec/x87.js';
import {
  cld, clc, cli, cmc, cpuid, execUD, hlt, lahf, nop, sahf, salc, stc, std, sti,
} from './exec/misc.js';
import {
  cbw, cmpxchg, cmpxchg8b, cwd, lds, lea, les, lfs, lgs, lss, mov, movFromSreg, movsx, movToSreg, movzx,
  xadd, xchg, xlat,
} from './exec/move.js';
import { div, idiv, imul1, imulTruncated, mul } from './exec/muldiv.js';
import { rcl, rcr, rol, ror, sar, shl, shld, shr, shrd } from './exec/shift.js';
import { enter, leave, pop, popa, popf, popSeg, push, pusha, pushf, pushSeg } from './exec/stack.js';
import { cmps, ins, lods, movs, outs, scas, stos } from './exec/string.js';
import {
  arpl, cacheOp, clts, grp7reg1, grp7reg7, invlpg, lar, lgdt, lidt, lldt, lmsw, lsl, ltr, movFromCr, movFromDr, movToCr,
  movToDr, rdmsr, sgdt, sidt, sldt, smsw, str, syscall, sysret, verr, verw, wrmsr,
} from './exec/system.js';
import {
  adc64, add64, and64, bsf64, bsr64, bswap64, btcG64, btcI64, btG64, btI64, btrG64, btrI64, btsG64, btsI64, cmovcc64,
  cmp64, cmpxchg64, dec64, div64, idiv64, imul1q, imul2q, imul3q, inc64, lea64, lzcnt64, mov64, movsx64, movzx64,
  mul64, neg64, not64, or64, pop64, popcnt64, push64, rcl64, rcr64, rol64, ror64, sar64, sbb64, shl64, shld64, shr64,
  shrd64, sub64, test64, tzcnt64, xadd64, xchg64, xor64,
} from './exec/wide.js';
import {
  F_ANY64, F_ASZ_MN, F_BRANCH, F_D64, F_ESC3, F_I64, F_LOCK, F_MODRM, F_PREFIX, F_REPZ, F_STRING, F_UD, def, group, ud,
  type Exec, type OpDef,
} from './opdef.js';

const M = F_MODRM;
const L = F_LOCK;
const S = F_STRING | F_ANY64;
const B = F_BRANCH | F_D64 | F_ANY64;
const D64 = F_D64;
const I64 = F_I64;
const A64 = F_ANY64;
/** extra fields: the 64-bit operand size executor */
const q = (x: Exec): Partial<OpDef> => ({ q: x });

const UD = ud(execUD);
const UDM = ud(execUD, true);
/** valid, not implemented, ModRM only */
const unM = (mn: string): OpDef => def(mn, '', M);
/** valid, not implemented, ModRM + imm8 */
const unMI = (mn: string): OpDef => def(mn, 'Ib', M);
/** valid, not implemented, no operands */
const un = (mn: string): OpDef => def(mn, '', 0);

const CC = ['o', 'no', 'b', 'ae', 'e', 'ne', 'be', 'a', 's', 'ns', 'p', 'np', 'l', 'ge', 'le', 'g'];
const ALU_MN = ['add', 'or', 'adc', 'sbb', 'and', 'sub', 'xor', 'cmp'];
const ALU_X = [add, or, adc, sbb, and, sub, xor, cmp];
const ALU_Q = [add64, or64, adc64, sbb64, and64, sub64, xor64, cmp64];
const SHIFT_MN = ['rol', 'ror', 'rcl', 'rcr', 'shl', 'shr', 'sal', 'sar'];
const SHIFT_X = [rol, ror, rcl, rcr, shl, shr, shl, sar];
const SHIFT_Q = [rol64, ror64, rcl64, rcr64, shl64, shr64, shl64, sar64];

/** Group 1 (80-83): ALU op by ModRM.reg; LOCK allowed except for CMP. */
function grp1(ops: string, f = 0): OpDef {
  return group('grp1', ALU_MN.map((mn, k) => def(mn, ops, (k === 7 ? 0 : L) | f, ALU_X[k], q(ALU_Q[k]!))));
}

/** Group 2 (C0/C1/D0-D3): shifts and rotates. */
function grp2(ops: string): OpDef {
  return group('grp2', SHIFT_MN.map((mn, k) => def(mn, ops, 0, SHIFT_X[k], q(SHIFT_Q[k]!))));
}

/** Group 3 (F6/F7) */
function grp3(v: string, imm: string): OpDef {
  return group('grp3', [
    def('test', `E${v},${imm}`, 0, test, q(test64)),
    def('test', `E${v},${imm}`, 0, test, q(test64)),
    def('not', `E${v}`, L, not, q(not64)),
    def('neg', `E${v}`, L, neg, q(neg64)),
    def('mul', `E${v}`, 0, mul, q(mul64)),
    def('imul', `E${v}`, 0, imul1, q(imul1q)),
    def('div', `E${v}`, 0, div, q(div64)),
    def('idiv', `E${v}`, 0, idiv, q(idiv64)),
  ]);
}

// ------------------------------------------------------------------ one-byte opcode map

export const ONE_BYTE: OpDef[] = new Array<OpDef>(256);
const t1 = ONE_BYTE;

for (let k = 0; k < 8; k++) {
  const mn = ALU_MN[k]!;
  const x = ALU_X[k];
  const x64 = q(ALU_Q[k]!);
  const lk = k === 7 ? 0 : L;
  t1[k * 8 + 0] = def(mn, 'Eb,Gb', lk, x);
  t1[k * 8 + 1] = def(mn, 'Ev,Gv', lk, x, x64);
  t1[k * 8 + 2] = def(mn, 'Gb,Eb', 0, x);
  t1[k * 8 + 3] = def(mn, 'Gv,Ev', 0, x, x64);
  t1[k * 8 + 4] = def(mn, 'AL,Ib', 0, x);
  t1[k * 8 + 5] = def(mn, 'eAX,Iz', 0, x, x64);
}
t1[0x06] = def('push', 'ES', I64, pushSeg);
t1[0x07] = def('pop', 'ES', I64, popSeg);
t1[0x0e] = def('push', 'CS', I64, pushSeg);
t1[0x0f] = def('(0f escape)', '', F_PREFIX);
t1[0x16] = def('push', 'SS', I64, pushSeg);
t1[0x17] = def('pop', 'SS', I64, popSeg);
t1[0x1e] = def('push', 'DS', I64, pushSeg);
t1[0x1f] = def('pop', 'DS', I64, popSeg);
t1[0x26] = def('es', '', F_PREFIX);
t1[0x27] = def('daa', '', I64, daa);
t1[0x2e] = def('cs', '', F_PREFIX);
t1[0x2f] = def('das', '', I64, das);
t1[0x36] = def('ss', '', F_PREFIX);
t1[0x37] = def('aaa', '', I64, aaa);
t1[0x3e] = def('ds', '', F_PREFIX);
t1[0x3f] = def('aas', '', I64, aas);
for (let r = 0; r < 8; r++) {
  t1[0x40 + r] = def('inc', 'Zv', 0, inc); // REX prefixes in 64-bit code
  t1[0x48 + r] = def('dec', 'Zv', 0, dec);
  t1[0x50 + r] = def('push', 'Zv', D64, push, q(push64));
  t1[0x58 + r] = def('pop', 'Zv', D64, pop, q(pop64));
}
t1[0x60] = def('pusha/pushad', '', I64, pusha);
t1[0x61] = def('popa/popad', '', I64, popa);
t1[0x62] = def('bound', 'Gv,Ma', I64, bound);
t1[0x63] = def('arpl', 'Ew,Gw', 0, arpl, { l64: def('movsxd', 'Gv,Ed', 0, mov, q(movsx64)) });
t1[0x64] = def('fs', '', F_PREFIX);
t1[0x65] = def('gs', '', F_PREFIX);
t1[0x66] = def('data16', '', F_PREFIX);
t1[0x67] = def('addr16', '', F_PREFIX);
t1[0x68] = def('push', 'Iz', D64, push, q(push64));
t1[0x69] = def('imul', 'Gv,Ev,Iz', 0, imulTruncated, q(imul3q));
t1[0x6a] = def('push', 'Ibs', D64, push, q(push64));
t1[0x6b] = def('imul', 'Gv,Ev,Ibs', 0, imulTruncated, q(imul3q));
t1[0x6c] = def('insb', 'Yb,DX', S, ins);
t1[0x6d] = def('insw/insd', 'Yz,DX', S, ins);
t1[0x6e] = def('outsb', 'DX,Xb', S, outs);
t1[0x6f] = def('outsw/outsd', 'DX,Xz', S, outs);
for (let cc = 0; cc < 16; cc++) t1[0x70 + cc] = def('j' + CC[cc], 'Jb', B, jcc);
t1[0x80] = grp1('Eb,Ib');
t1[0x81] = grp1('Ev,Iz');
t1[0x82] = grp1('Eb,Ib', I64);
t1[0x83] = grp1('Ev,Ibs');
t1[0x84] = def('test', 'Eb,Gb', 0, test);
t1[0x85] = def('test', 'Ev,Gv', 0, test, q(test64));
t1[0x86] = def('xchg', 'Eb,Gb', L, xchg);
t1[0x87] = def('xchg', 'Ev,Gv', L, xchg, q(xchg64));
t1[0x88] = def('mov', 'Eb,Gb', 0, mov);
t1[0x89] = def('mov', 'Ev,Gv', 0, mov, q(mov64));
t1[0x8a] = def('mov', 'Gb,Eb', 0, mov);
t1[0x8b] = def('mov', 'Gv,Ev', 0, mov, q(mov64));
t1[0x8c] = def('mov', 'Rv/Mw,Sw', A64, movFromSreg);
t1[0x8d] = def('lea', 'Gv,M', 0, lea, q(lea64));
t1[0x8e] = def('mov', 'Sw,Ew', 0, movToSreg);
t1[0x8f] = group('grp1a', [def('pop', 'Ev', D64, pop, q(pop64)), UD, UD, UD, UD, UD, UD, UD]);
t1[0x90] = def('nop', '', 0, nop, { f3: def('pause', '', 0, nop) });
for (let r = 1; r < 8; r++) t1[0x90 + r] = def('xchg', 'Zv,eAX', 0, xchg, q(xchg64));
t1[0x98] = def('cbw/cwde/cdqe', '', A64, cbw);
t1[0x99] = def('cwd/cdq/cqo', '', A64, cwd);
t1[0x9a] = def('call far', 'Ap', F_BRANCH | I64, callFar);
t1[0x9b] = def('wait', '', 0, fwait);
t1[0x9c] = def('pushf/pushfd/pushfq', '', D64 | A64, pushf);
t1[0x9d] = def('popf/popfd/popfq', '', D64 | A64, popf);
t1[0x9e] = def('sahf', '', 0, sahf);
t1[0x9f] = def('lahf', '', 0, lahf);
t1[0xa0] = def('mov', 'AL,Ob', 0, mov);
t1[0xa1] = def('mov', 'eAX,Ov', 0, mov, q(mov64));
t1[0xa2] = def('mov', 'Ob,AL', 0, mov);
t1[0xa3] = def('mov', 'Ov,eAX', 0, mov, q(mov64));
t1[0xa4] = def('movsb', 'Yb,Xb', S, movs);
t1[0xa5] = def('movsw/movsd/movsq', 'Yv,Xv', S, movs);
t1[0xa6] = def('cmpsb', 'Xb,Yb', S | F_REPZ, cmps);
t1[0xa7] = def('cmpsw/cmpsd/cmpsq', 'Xv,Yv', S | F_REPZ, cmps);
t1[0xa8] = def('test', 'AL,Ib', 0, test);
t1[0xa9] = def('test', 'eAX,Iz', 0, test, q(test64));
t1[0xaa] = def('stosb', 'Yb,AL', S, stos);
t1[0xab] = def('stosw/stosd/stosq', 'Yv,eAX', S, stos);
t1[0xac] = def('lodsb', 'AL,Xb', S, lods);
t1[0xad] = def('lodsw/lodsd/lodsq', 'eAX,Xv', S, lods);
t1[0xae] = def('scasb', 'AL,Yb', S | F_REPZ, scas);
t1[0xaf] = def('scasw/scasd/scasq', 'eAX,Yv', S | F_REPZ, scas);
for (let r = 0; r < 8; r++) {
  t1[0xb0 + r] = def('mov', 'Zb,Ib', 0, mov);
  t1[0xb8 + r] = def('mov', 'Zv,Iv', 0, mov, q(mov64));
}
t1[0xc0] = grp2('Eb,Ib');
t1[0xc1] = grp2('Ev,Ib');
t1[0xc2] = def('ret', 'Iw', B, ret);
t1[0xc3] = def('ret', '', B, ret);
t1[0xc4] = def('les', 'Gv,Mp', I64, les);
t1[0xc5] = def('lds', 'Gv,Mp', I64, lds);
t1[0xc6] = group('grp11', [def('mov', 'Eb,Ib', 0, mov), UD, UD, UD, UD, UD, UD, UD]);
t1[0xc7] = group('grp11', [def('mov', 'Ev,Iz', 0, mov, q(mov64)), UD, UD, UD, UD, UD, UD, UD]);
t1[0xc8] = def('enter', 'Iw,Ib', D64 | A64, enter);
t1[0xc9] = def('leave', '', D64 | A64, leave);
t1[0xca] = def('retf', 'Iw', F_BRANCH | A64, retf);
t1[0xcb] = def('retf', '', F_BRANCH | A64, retf);
t1[0xcc] = def('int3', '', 0, int3);
t1[0xcd] = def('int', 'Ib', 0, int);
t1[0xce] = def('into', '', I64, into);
t1[0xcf] = def('iret/iretd/iretq', '', F_BRANCH | A64, iret);
t1[0xd0] = grp2('Eb,1');
t1[0xd1] = grp2('Ev,1');
t1[0xd2] = grp2('Eb,CL');
t1[0xd3] = grp2('Ev,CL');
t1[0xd4] = def('aam', 'Ib', I64, aam);
t1[0xd5] = def('aad', 'Ib', I64, aad);
t1[0xd6] = def('salc', '', I64, salc);
t1[0xd7] = def('xlat', '', 0, xlat);
// x87: only the control/status word management is implemented (exec/x87.ts)
for (let k = 0; k < 8; k++) t1[0xd8 + k] = unM('(x87)');
{
  const X = unM('(x87)');
  const regX: OpDef[] = [X, X, X, X, X, X, X, X];
  t1[0xd9] = group('(x87)', [unM('fld'), X, unM('fst'), unM('fstp'), unM('fldenv'), def('fldcw', 'Mw', 0, fldcw), unM('fnstenv'), def('fnstcw', 'Mw', 0, fnstcw)], 0, regX);
  t1[0xdb] = group('(x87)', [X, X, X, X, X, X, X, X], 0, [X, X, X, X,
    def('(x87 db /4)', '', M, x87DbReg4, { rmNames: ['feni', 'fdisi', 'fnclex', 'fninit', 'fsetpm', '(x87)', '(x87)', '(x87)'] }), X, X, X]);
  t1[0xdd] = group('(x87)', [X, X, X, X, unM('frstor'), X, unM('fnsave'), def('fnstsw', 'Mw', 0, fnstswM)], 0, regX);
  t1[0xdf] = group('(x87)', [X, X, X, X, X, X, X, X], 0, [X, X, X, X,
    def('(x87 df /4)', '', M, x87DfReg4, { rmNames: ['fnstsw ax', '(x87)', '(x87)', '(x87)', '(x87)', '(x87)', '(x87)', '(x87)'] }), X, X, X]);
}
t1[0xe0] = def('loopne', 'Jb', B, loopne);
t1[0xe1] = def('loope', 'Jb', B, loope);
t1[0xe2] = def('loop', 'Jb', B, loop);
t1[0xe3] = def('jcxz/jecxz/jrcxz', 'Jb', B | F_ASZ_MN, jcxz);
t1[0xe4] = def('in', 'AL,Ib', 0, inOp);
t1[0xe5] = def('in', 'eAX,Ib', A64, inOp);
t1[0xe6] = def('out', 'Ib,AL', 0, outOp);
t1[0xe7] = def('out', 'Ib,eAX', A64, outOp);
t1[0xe8] = def('call', 'Jz', B, callRel);
t1[0xe9] = def('jmp', 'Jz', B, jmpRel);
t1[0xea] = def('jmp far', 'Ap', F_BRANCH | I64, jmpFar);
t1[0xeb] = def('jmp', 'Jb', B, jmpRel);
t1[0xec] = def('in', 'AL,DX', 0, inOp);
t1[0xed] = def('in', 'eAX,DX', A64, inOp);
t1[0xee] = def('out', 'DX,AL', 0, outOp);
t1[0xef] = def('out', 'DX,eAX', A64, outOp);
t1[0xf0] = def('lock', '', F_PREFIX);
t1[0xf1] = def('int1', '', 0, int1);
t1[0xf2] = def('repne', '', F_PREFIX);
t1[0xf3] = def('rep', '', F_PREFIX);
t1[0xf4] = def('hlt', '', 0, hlt);
t1[0xf5] = def('cmc', '', 0, cmc);
t1[0xf6] = grp3('b', 'Ib');
t1[0xf7] = grp3('v', 'Iz');
t1[0xf8] = def('clc', '', 0, clc);
t1[0xf9] = def('stc', '', 0, stc);
t1[0xfa] = def('cli', '', 0, cli);
t1[0xfb] = def('sti', '', 0, sti);
t1[0xfc] = def('cld', '', 0, cld);
t1[0xfd] = def('std', '', 0, std);
t1[0xfe] = group('grp4', [def('inc', 'Eb', L, inc), def('dec', 'Eb', L, dec), UD, UD, UD, UD, UD, UD]);
t1[0xff] = group('grp5', [
  def('inc', 'Ev', L, inc, q(inc64)),
  def('dec', 'Ev', L, dec, q(dec64)),
  def('call', 'Ev', B, callInd),
  def('call far', 'Mp', F_BRANCH | A64, callFarInd),
  def('jmp', 'Ev', B, jmpInd),
  def('jmp far', 'Mp', F_BRANCH | A64, jmpFarInd),
  def('push', 'Ev', D64, push, q(push64)),
  UD,
]);

// ------------------------------------------------------------------ two-byte opcode map (0F xx)

export const TWO_BYTE: OpDef[] = new Array<OpDef>(256).fill(UD);
const t2 = TWO_BYTE;

t2[0x00] = group('grp6', [
  def('sldt', 'Rv/Mw', A64, sldt), def('str', 'Rv/Mw', A64, str), def('lldt', 'Ew', 0, lldt),
  def('ltr', 'Ew', 0, ltr), def('verr', 'Ew', 0, verr), def('verw', 'Ew', 0, verw), UD, UD,
]);
t2[0x01] = group(
  'grp7',
  [
    def('sgdt', 'Ms', A64, sgdt), def('sidt', 'Ms', A64, sidt), def('lgdt', 'Ms', A64, lgdt),
    def('lidt', 'Ms', A64, lidt), def('smsw', 'Rv/Mw', A64, smsw), unM('rstorssp'),
    def('lmsw', 'Ew', 0, lmsw), def('invlpg', 'M', 0, invlpg),
  ],
  0,
  [
    unM('(vmx)'), def('(grp7 reg 1)', '', M, grp7reg1, { rmNames: ['monitor', 'mwait', 'clac', 'stac', '(bad)', '(bad)', '(bad)', 'encls'] }),
    unM('xgetbv/xsetbv'), unM('(svm)'),
    def('smsw', 'Rv/Mw', A64, smsw), unM('(grp7 reg 5)'), def('lmsw', 'Ew', 0, lmsw),
    def('(grp7 reg 7)', '', M, grp7reg7, { rmNames: ['swapgs', 'rdtscp', 'monitorx', 'mwaitx', 'clzero', 'rdpru', '(bad)', '(bad)'] }),
  ],
);
t2[0x02] = def('lar', 'Gv,Ew', A64, lar);
t2[0x03] = def('lsl', 'Gv,Ew', A64, lsl);
t2[0x05] = def('syscall', '', 0, syscall);
t2[0x06] = def('clts', '', 0, clts);
t2[0x07] = def('sysret', '', A64, sysret);
t2[0x08] = def('invd', '', 0, cacheOp);
t2[0x09] = def('wbinvd', '', 0, cacheOp);
t2[0x0b] = def('ud2', '', 0, execUD);
t2[0x0d] = def('prefetch', 'M', 0, nop);
t2[0x0e] = un('femms');
t2[0x0f] = unMI('(3dnow)');
for (let k = 0x10; k <= 0x17; k++) t2[k] = unM('(sse)');
t2[0x18] = def('prefetch', 'Ev', A64, nop);
for (let k = 0x19; k <= 0x1f; k++) t2[k] = def('nop', 'Ev', A64, nop);
t2[0x20] = def('mov', 'Rd,Cd', 0, movFromCr);
t2[0x21] = def('mov', 'Rd,Dd', 0, movFromDr);
t2[0x22] = def('mov', 'Cd,Rd', 0, movToCr);
t2[0x23] = def('mov', 'Dd,Rd', 0, movToDr);
for (let k = 0x28; k <= 0x2f; k++) t2[k] = unM('(sse)');
t2[0x30] = def('wrmsr', '', 0, wrmsr);
t2[0x31] = def('rdtsc', '', 0, rdtsc);
t2[0x32] = def('rdmsr', '', 0, rdmsr);
t2[0x33] = un('rdpmc');
t2[0x34] = un('sysenter');
t2[0x35] = un('sysexit');
t2[0x37] = un('getsec');
t2[0x38] = def('(0f38)', '', F_ESC3);
t2[0x3a] = def('(0f3a)', '', F_ESC3);
for (let cc = 0; cc < 16; cc++) t2[0x40 + cc] = def('cmov' + CC[cc], 'Gv,Ev', 0, cmovcc, q(cmovcc64));
for (let k = 0x50; k <= 0x6f; k++) t2[k] = unM('(sse)');
for (let k = 0x70; k <= 0x73; k++) t2[k] = unMI('(sse)');
for (let k = 0x74; k <= 0x76; k++) t2[k] = unM('(sse)');
t2[0x77] = un('emms');
t2[0x78] = unM('vmread');
t2[0x79] = unM('vmwrite');
for (let k = 0x7c; k <= 0x7f; k++) t2[k] = unM('(sse)');
for (let cc = 0; cc < 16; cc++) {
  t2[0x80 + cc] = def('j' + CC[cc], 'Jz', B, jcc);
  t2[0x90 + cc] = def('set' + CC[cc], 'Eb', 0, setcc);
}
t2[0xa0] = def('push', 'FS', D64 | A64, pushSeg);
t2[0xa1] = def('pop', 'FS', D64 | A64, popSeg);
t2[0xa2] = def('cpuid', '', 0, cpuid);
t2[0xa3] = def('bt', 'Ev,Gv', 0, btG, q(btG64));
t2[0xa4] = def('shld', 'Ev,Gv,Ib', 0, shld, q(shld64));
t2[0xa5] = def('shld', 'Ev,Gv,CL', 0, shld, q(shld64));
t2[0xa8] = def('push', 'GS', D64 | A64, pushSeg);
t2[0xa9] = def('pop', 'GS', D64 | A64, popSeg);
t2[0xaa] = un('rsm');
t2[0xab] = def('bts', 'Ev,Gv', L, btsG, q(btsG64));
t2[0xac] = def('shrd', 'Ev,Gv,Ib', 0, shrd, q(shrd64));
t2[0xad] = def('shrd', 'Ev,Gv,CL', 0, shrd, q(shrd64));
t2[0xae] = group(
  'grp15',
  [unM('fxsave'), unM('fxrstor'), unM('ldmxcsr'), unM('stmxcsr'), unM('xsave'), unM('xrstor'), unM('xsaveopt'), unM('clflush')],
  0,
  [unM('rdfsbase'), unM('rdgsbase'), unM('wrfsbase'), unM('wrgsbase'), UDM, def('lfence', '', M, nop), def('mfence', '', M, nop), def('sfence', '', M, nop)],
);
t2[0xaf] = def('imul', 'Gv,Ev', 0, imulTruncated, q(imul2q));
t2[0xb0] = def('cmpxchg', 'Eb,Gb', L, cmpxchg);
t2[0xb1] = def('cmpxchg', 'Ev,Gv', L, cmpxchg, q(cmpxchg64));
t2[0xb2] = def('lss', 'Gv,Mp', A64, lss);
t2[0xb3] = def('btr', 'Ev,Gv', L, btrG, q(btrG64));
t2[0xb4] = def('lfs', 'Gv,Mp', A64, lfs);
t2[0xb5] = def('lgs', 'Gv,Mp', A64, lgs);
t2[0xb6] = def('movzx', 'Gv,Eb', 0, movzx, q(movzx64));
t2[0xb7] = def('movzx', 'Gv,Ew', 0, movzx, q(movzx64));
t2[0xb8] = def('(bad)', '', F_UD, execUD, { f3: def('popcnt', 'Gv,Ev', 0, popcnt, q(popcnt64)) }); // jmpe: #UD
t2[0xb9] = def('ud1', 'Gv,Ev', A64, execUD);
t2[0xba] = group('grp8', [
  UD, UD, UD, UD,
  def('bt', 'Ev,Ib', 0, btI, q(btI64)), def('bts', 'Ev,Ib', L, btsI, q(btsI64)),
  def('btr', 'Ev,Ib', L, btrI, q(btrI64)), def('btc', 'Ev,Ib', L, btcI, q(btcI64)),
]);
t2[0xbb] = def('btc', 'Ev,Gv', L, btcG, q(btcG64));
t2[0xbc] = def('bsf', 'Gv,Ev', 0, bsf, { q: bsf64, f3: def('tzcnt', 'Gv,Ev', 0, tzcnt, q(tzcnt64)) });
t2[0xbd] = def('bsr', 'Gv,Ev', 0, bsr, { q: bsr64, f3: def('lzcnt', 'Gv,Ev', 0, lzcnt, q(lzcnt64)) });
t2[0xbe] = def('movsx', 'Gv,Eb', 0, movsx, q(movsx64));
t2[0xbf] = def('movsx', 'Gv,Ew', 0, movsx, q(movsx64));
t2[0xc0] = def('xadd', 'Eb,Gb', L, xadd);
t2[0xc1] = def('xadd', 'Ev,Gv', L, xadd, q(xadd64));
t2[0xc2] = unMI('(sse)');
t2[0xc3] = unM('movnti');
for (let k = 0xc4; k <= 0xc6; k++) t2[k] = unMI('(sse)');
t2[0xc7] = group(
  'grp9',
  [UD, def('cmpxchg8b', 'Mq', L, cmpxchg8b), UD, unM('xrstors'), unM('xsavec'), unM('xsaves'), unM('vmptrld'), unM('vmptrst')],
  0,
  [UD, UD, UD, UD, UD, UD, def('rdrand', '', M, rdrand), def('rdseed', '', M, rdseedRdpid)],
);
for (let r = 0; r < 8; r++) t2[0xc8 + r] = def('bswap', 'Zv', 0, bswap, q(bswap64));
for (let k = 0xd0; k <= 0xfe; k++) t2[k] = unM('(sse)');
t2[0xff] = ud(execUD, true);
for (const k of [0x04, 0x0a, 0x0c, 0x24, 0x25, 0x26, 0x27, 0x36, 0x39, 0x3b, 0x3c, 0x3d, 0x3e, 0x3f, 0x7a, 0x7b, 0xa6, 0xa7]) {
  t2[k] = UD;
}

// ------------------------------------------------------------------ three-byte maps (not implemented)

/** 0F 38 xx: SSSE3/SSE4/MOVBE/CRC32..., ModRM, no immediate. */
export const THREE_38: OpDef[] = new Array<OpDef>(256).fill(unM('(0f38)'));
/** 0F 3A xx: SSE4/AES..., ModRM + imm8. */
export const THREE_3A: OpDef[] = new Array<OpDef>(256).fill(unMI('(0f3a)'));

for (let k = 0; k < 256; k++) {
  if (!ONE_BYTE[k]) throw new Error(`one-byte opcode ${k.toString(16)} missing`);
}
