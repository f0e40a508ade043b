// The undefined-flag probe as a guest program (pure: no KVM here). Each case loads EAX, EBX,
// ECX, EDX and RFLAGS, runs one instruction that leaves flags undefined, and stores the
// resulting RFLAGS at [DI]; the host runs it under KVM (flag-probe.ts) and the interpreter
// runs it too, so that fitFlagModel() can pick, per class, size and flag, the rule of
// flag-model.ts that reproduces what the host did.

import { DEFAULT_FLAT_LOAD } from '../image/load.js';
import type { BootMode } from '../trace/format.js';
import { ARITH } from '../replay/x86/constants.js';
import { CANDIDATES, FLAG_ORDER, formatRules, modelKey, ruleValue, U, UNFITTED, type UndefClassName, type UndefContext } from '../replay/x86/flag-model.js';

interface ProbeOp {
  cls: UndefClassName;
  /** opcode bytes for 8-bit operands (null: no byte form) and for 16/32/64-bit operands */
  op8: number[] | null;
  op: number[];
  /** ModRM (or immediate) bytes following the opcode; operands: r/m = AX, reg = BX, count = CL */
  tail: number[];
  sizes: number[];
  inputs: 'any' | 'div' | 'idiv' | 'bcd';
  /** not encodable in 64-bit mode (BCD) */
  legacyOnly?: boolean;
}

const BYTE_WORD = [1, 2, 4];
const WORD = [2, 4];
const shift = (cls: UndefClassName, n: number): ProbeOp => ({ cls, op8: [0xd2], op: [0xd3], tail: [0xc0 | (n << 3)], sizes: BYTE_WORD, inputs: 'any' });
const twoByte = (cls: UndefClassName, opcode: number, modrm: number): ProbeOp => ({ cls, op8: null, op: [0x0f, opcode], tail: [modrm], sizes: WORD, inputs: 'any' });
const alu = (cls: UndefClassName, opcode: number): ProbeOp => ({ cls, op8: [opcode], op: [opcode + 1], tail: [0xd8], sizes: BYTE_WORD, inputs: 'any' });
const bcd = (cls: UndefClassName, bytes: number[]): ProbeOp => ({ cls, op8: bytes, op: bytes, tail: [], sizes: [1], inputs: 'bcd', legacyOnly: true });

/** What the probe measures: every class of flag-model.ts but TZCNT/LZCNT, whose decoding depends on CPUID. */
const OPS: ProbeOp[] = [
  { cls: 'mul', op8: [0xf6], op: [0xf7], tail: [0xe3], sizes: BYTE_WORD, inputs: 'any' },
  { cls: 'imul1', op8: [0xf6], op: [0xf7], tail: [0xeb], sizes: BYTE_WORD, inputs: 'any' },
  twoByte('imul', 0xaf, 0xc3),
  { cls: 'div', op8: [0xf6], op: [0xf7], tail: [0xf3], sizes: BYTE_WORD, inputs: 'div' },
  { cls: 'idiv', op8: [0xf6], op: [0xf7], tail: [0xfb], sizes: BYTE_WORD, inputs: 'idiv' },
  shift('rol', 0), shift('ror', 1), shift('rcl', 2), shift('rcr', 3), shift('shl', 4), shift('shr', 5), shift('sar', 7),
  twoByte('shld', 0xa5, 0xd8), twoByte('shrd', 0xad, 0xd8),
  twoByte('bt', 0xa3, 0xd8), twoByte('bts', 0xab, 0xd8), twoByte('btr', 0xb3, 0xd8), twoByte('btc', 0xbb, 0xd8),
  twoByte('bsf', 0xbc, 0xc3), twoByte('bsr', 0xbd, 0xc3),
  alu('and', 0x20), alu('or', 0x08), alu('xor', 0x30), alu('test', 0x84),
  bcd('daa', [0x27]), bcd('das', [0x2f]), bcd('aaa', [0x37]), bcd('aas', [0x3f]), bcd('aam', [0xd4, 0x0a]), bcd('aad', [0xd5, 0x0a]),
];

/** Cases per class and size: enough to tell the candidate rules apart, few enough to run in milliseconds. */
const CASES = 24;
const SPECIAL = [0, 1, 0x7f, 0x80, 0xff, 0x7fff, 0x8000, 0xffff, 0x7fffffff, 0x80000000, 0xffffffff];

export interface ProbeCase {
  cls: number;
  size: number;
  /** offset in the code of the instruction under test */
  at: number;
  a: number;
  b: number;
  c: number;
  d: number;
  flags: number;
}

export interface ProbeProgram {
  mode: BootMode;
  /** Guest-physical load address of `code` and where the case results (one RFLAGS per case) go. */
  load: number;
  results: number;
  /** Bytes per stored RFLAGS. */
  stride: number;
  code: Uint8Array;
  cases: ProbeCase[];
}

/** Deterministic xorshift32, so every host runs the same cases. */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    return s;
  };
}

function inputsFor(op: ProbeOp, size: number, rnd: () => number, k: number): Omit<ProbeCase, 'cls' | 'size' | 'at'> {
  const value = (): number => (rnd() % 3 === 0 ? SPECIAL[rnd() % SPECIAL.length]! : rnd());
  const flags = (rnd() & ARITH) | 2;
  let a = value(), b = value(), d = value();
  // shift counts 0..31 (beyond the operand width too), bit offsets and scan sources of all kinds
  const c = k < 8 ? k : rnd() & 31;
  if (op.cls === 'bsf' || op.cls === 'bsr') { if (k % 6 === 0) b = 0; }
  const bits = size * 8;
  const mask = bits === 32 ? 0xffffffff : (1 << bits) - 1;
  if (op.inputs === 'div' || op.inputs === 'idiv') {
    // a divisor >= 2 with its top bit clear and a high dividend half below half of it: no #DE
    b = ((b & mask) >>> 1) | 2;
    // (for 8 bits AH < BL/2, so the quotient also fits IDIV's signed byte)
    if (size === 1) a = ((rnd() % ((b >>> 1) || 1)) << 8) | (a & 0xff);
    else d = rnd() % ((b >>> 1) || 1);
  }
  if (op.inputs === 'bcd') { a = rnd() & 0xffff; }
  return { a: a >>> 0, b: b >>> 0, c, d: d >>> 0, flags };
}

const le32 = (v: number): number[] => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];

/**
 * Where the probe's results and stack live in each mode: above the code, which loads where a
 * flat image does (DEFAULT_FLAT_LOAD), inside the RAM the boot profiles give.
 */
const PLACE: Record<BootMode, { results: number; stack: number }> = {
  real: { results: 0x10000, stack: 0x20000 },
  protected: { results: 0x200000, stack: 0x300000 },
  long: { results: 0x200000, stack: 0x300000 },
};

/** The probe program for guests booting in `mode`, without the classes in `skip`. */
export function probeProgram(mode: BootMode, skip: ReadonlySet<UndefClassName> = new Set()): ProbeProgram {
  const bits = mode === 'real' ? 16 : mode === 'protected' ? 32 : 64;
  const place = PLACE[mode];
  const stride = bits / 8;
  const out: number[] = [];
  const o32 = bits === 16 ? [0x66] : []; // operand-size prefix for a 32-bit operation
  const movImm = (reg: number, v: number) => out.push(...o32, 0xb8 + reg, ...le32(v));
  if (mode === 'real') {
    // DS:0 = results, SS:SP = top of the stack segment
    out.push(0xb8, ...le32(place.results >>> 4).slice(0, 2), 0x8e, 0xd8); // mov ax, seg; mov ds, ax
    out.push(0xb8, ...le32(place.stack >>> 4).slice(0, 2), 0x8e, 0xd0); // mov ax, seg; mov ss, ax
    out.push(0xbc, 0xfe, 0xff); // mov sp, 0xfffe
    out.push(0xbf, 0x00, 0x00); // mov di, 0 (not XOR: the scaffolding leaves no flag undefined)
  } else {
    movImm(4, place.stack);
    movImm(7, place.results);
  }
  const cases: ProbeCase[] = [];
  const rnd = rng(0x5eed);
  for (const op of OPS) {
    if ((op.legacyOnly && bits === 64) || skip.has(op.cls)) continue;
    for (const size of op.sizes) {
      for (let k = 0; k < CASES; k++) {
        const input = inputsFor(op, size, rnd, k);
        const c: ProbeCase = { cls: U[op.cls], size, ...input, at: 0 };
        cases.push(c);
        movImm(0, input.a);
        movImm(3, input.b);
        movImm(1, input.c);
        movImm(2, input.d);
        // push imm; popf (16-bit flags in real mode, where the arithmetic flags all fit)
        if (bits === 16) out.push(0x68, input.flags & 0xff, input.flags >>> 8, 0x9d);
        else out.push(0x68, ...le32(input.flags), 0x9d);
        const prefix = size === 2 && bits !== 16 ? [0x66] : size === 4 && bits === 16 ? [0x66] : [];
        c.at = out.length;
        out.push(...prefix, ...(size === 1 ? op.op8! : op.op), ...op.tail);
        // pushf; pop [di]; add di, stride
        out.push(0x9c, 0x8f, bits === 16 ? 0x05 : 0x07);
        if (bits === 64) out.push(0x48);
        out.push(0x83, 0xc7, stride);
      }
    }
  }
  out.push(0xf4); // hlt
  if (mode === 'real' && out.length > 0xff00) throw new Error(`flag probe: ${out.length} bytes of code do not fit a real-mode segment`);
  return { mode, load: DEFAULT_FLAT_LOAD[mode], results: place.results, stride, code: Uint8Array.from(out), cases };
}

/** One case as the interpreter saw it: the executor's context and the flags it left undefined. */
export interface ObservedCase {
  /** index into the host's results */
  index: number;
  cls: number;
  mask: number;
  ctx: UndefContext;
}

/**
 * The flag model that reproduces `hostFlags` (RFLAGS after each case, as the host computed
 * them): per class, size and undefined flag, the first rule of flag-model.ts's CANDIDATES that
 * gives the host's value in every case; '?' where none does (replay then keeps its guess).
 */
export function fitFlagModel(observed: ObservedCase[], hostFlags: number[]): Record<string, string> {
  const byKey = new Map<string, ObservedCase[]>();
  for (const o of observed) {
    const key = modelKey(o.cls, o.ctx.size);
    let list = byKey.get(key);
    if (!list) byKey.set(key, (list = []));
    list.push(o);
  }
  const model: Record<string, string> = {};
  for (const [key, list] of [...byKey].sort(([x], [y]) => (x < y ? -1 : 1))) {
    const rules = new Map<number, string>();
    for (const { bit } of FLAG_ORDER) {
      const relevant = list.filter((o) => o.mask & bit);
      if (!relevant.length) continue;
      const fit = CANDIDATES[bit]!.find((rule) => relevant.every((o) => ruleValue(rule, bit, o.ctx) === (hostFlags[o.index]! & bit ? 1 : 0)));
      rules.set(bit, fit ?? UNFITTED);
    }
    if (rules.size) model[key] = formatRules(rules);
  }
  return model;
}
