// Undefined flags as host inputs. Where the SDM leaves a flag undefined (MUL's SF/ZF/AF/PF,
// BSF's CF/OF/SF/AF/PF, a shift's OF for counts above 1, …) CPUs differ, so the recorder probes
// its host (src/record/flag-probe.ts) and stores one rule per (instruction class, operand size,
// flag) in the trace header; executors then ask this model for those flags' values.
//
// A rule names where the flag's value comes from (docs/replay.md, "The flag model"):
//   b   what the executor computed (the interpreter's built-in guess, an AMD Zen 3 model)
//   k   unchanged from before the instruction
//   0/1 cleared / set
//   r/s/d/h  derived from the result / source / original destination / high half (MUL's
//       upper product, DIV's remainder) as an arithmetic result would be: SF = sign,
//       ZF = zero, PF = parity of the low byte, AF = bit 4
//   x   AF = bit 4 of dst ^ src ^ res (as an addition/subtraction sets it)
//   rc/rr/dr  OF = msb(res) ^ CF, msb(res) ^ bit (w-2) of res, msb(dst) ^ msb(res)
//   ?   no rule reproduced the host (replay keeps its guess; the flag stays undefined)
// The header stores, per key "class.size", the rules of the flags that class leaves undefined,
// e.g. { "bsf.4": "c=0 p=r a=0 s=r o=0" }; flags and keys not listed keep the built-in value.

import * as K from './constants.js';

// (local copies of the constants: constants.ts says why)
const { AF, ARITH, CF, OF, PARITY, PF, SF, ZF } = K;

/** Instruction classes that leave flags undefined, in the order of their numeric ids. */
export const UNDEF_CLASS_NAMES = [
  'mul', 'imul1', 'imul', 'div', 'idiv',
  'rol', 'ror', 'rcl', 'rcr', 'shl', 'shr', 'sar', 'shld', 'shrd',
  // SHLD/SHRD by more than the operand width (16-bit, count 17-31): other rules on some CPUs
  'shldx', 'shrdx',
  'bt', 'bts', 'btr', 'btc', 'bsf', 'bsr', 'tzcnt', 'lzcnt',
  'and', 'or', 'xor', 'test',
  'daa', 'das', 'aaa', 'aas', 'aam', 'aad',
] as const;
export type UndefClassName = (typeof UNDEF_CLASS_NAMES)[number];
/** Numeric class ids, e.g. U.mul; executors pass them to Machine.undefFlags. */
export const U = Object.fromEntries(UNDEF_CLASS_NAMES.map((n, i) => [n, i])) as { readonly [K in UndefClassName]: number };

/** The six arithmetic flags in the order rules are written: c p a z s o. */
export const FLAG_ORDER = [
  { letter: 'c', bit: CF },
  { letter: 'p', bit: PF },
  { letter: 'a', bit: AF },
  { letter: 'z', bit: ZF },
  { letter: 's', bit: SF },
  { letter: 'o', bit: OF },
] as const;

/** The rule of a flag no candidate reproduced on the recording host: replay keeps its guess. */
export const UNFITTED = '?';

/** Rules a flag may follow, in the order the fitter tries them (the first that fits wins). */
export const CANDIDATES: Record<number, readonly string[]> = {
  [CF]: ['b', 'k', '0', '1'],
  [PF]: ['b', 'k', '0', '1', 'r', 's', 'd', 'h'],
  [AF]: ['b', 'k', '0', '1', 'r', 'x'],
  [ZF]: ['b', 'k', '0', '1', 'r', 's', 'd', 'h'],
  [SF]: ['b', 'k', '0', '1', 'r', 's', 'd', 'h'],
  [OF]: ['b', 'k', '0', '1', 'rc', 'rr', 'dr'],
};

/** What an executor knows when it leaves flags undefined; `before` < 0: not captured. */
export interface UndefContext {
  size: number;
  before: number;
  /** flags as the executor left them */
  after: number;
  res: number;
  dst: number;
  src: number;
  hi: number;
}

const msb = (v: number, size: number): number => (v >>> (size * 8 - 1)) & 1;
const zero = (v: number, size: number): number => ((size === 4 ? v >>> 0 : v & ((1 << (size * 8)) - 1)) === 0 ? 1 : 0);

function derived(flag: number, v: number, size: number): number {
  if (flag === SF) return msb(v, size);
  if (flag === ZF) return zero(v, size);
  if (flag === PF) return PARITY[v & 0xff]! >> 2;
  return (v >> 4) & 1; // AF
}

/** The value (0/1) rule `rule` gives `flag`; undefined if the rule cannot apply here. */
export function ruleValue(rule: string, flag: number, c: UndefContext): number | undefined {
  switch (rule) {
    case 'b': return c.after & flag ? 1 : 0;
    case 'k': return c.before < 0 ? undefined : c.before & flag ? 1 : 0;
    case '0': return 0;
    case '1': return 1;
    case 'r': return derived(flag, c.res, c.size);
    case 's': return derived(flag, c.src, c.size);
    case 'd': return derived(flag, c.dst, c.size);
    case 'h': return derived(flag, c.hi, c.size);
    case 'x': return ((c.dst ^ c.src ^ c.res) >> 4) & 1;
    case 'rc': return msb(c.res, c.size) ^ (c.after & CF);
    case 'rr': return msb(c.res, c.size) ^ ((c.res >>> (c.size * 8 - 2)) & 1);
    case 'dr': return msb(c.dst, c.size) ^ msb(c.res, c.size);
    default: return undefined;
  }
}

/** Rules of one key, compiled: parallel arrays of flag bits and rule names (built-ins left out). */
export interface CompiledRules {
  bits: number[];
  rules: string[];
}

const SIZES = [1, 2, 4, 8];
/** Operand size (1, 2, 4, 8) → column of FlagModel's table. */
const SIZE_INDEX = [0, 0, 1, 0, 2, 0, 0, 0, 3];
const sizeIndex = (size: number): number => SIZE_INDEX[size]!;

export function modelKey(cls: number, size: number): string {
  return `${UNDEF_CLASS_NAMES[cls]}.${size}`;
}

/** Parses "c=0 p=r" into a flag → rule map; throws on a malformed entry. */
export function parseRules(text: string): Map<number, string> {
  const out = new Map<number, string>();
  for (const part of text.split(' ').filter(Boolean)) {
    const [letter, rule] = part.split('=');
    const f = FLAG_ORDER.find((x) => x.letter === letter);
    if (!f || rule === undefined || (rule !== UNFITTED && !CANDIDATES[f.bit]!.includes(rule))) throw new Error(`bad flag rule '${part}' (expected e.g. 'p=r')`);
    out.set(f.bit, rule);
  }
  return out;
}

export function formatRules(rules: Map<number, string>): string {
  return FLAG_ORDER.filter((f) => rules.has(f.bit)).map((f) => `${f.letter}=${rules.get(f.bit)}`).join(' ');
}

/** The header's flag model, indexed for the executors: table[cls * 4 + sizeIndex]. */
export class FlagModel {
  private readonly table: Array<CompiledRules | null>;
  /** Per key: flags whose value the model does not know ('?', or the key was not probed). */
  private readonly unknown: Int32Array;
  /** Some rule is 'k': executors must capture RFLAGS before they change them. */
  readonly keeps: boolean = false;

  constructor(flags: Record<string, string> = {}) {
    this.table = new Array<CompiledRules | null>(UNDEF_CLASS_NAMES.length * SIZES.length).fill(null);
    this.unknown = new Int32Array(this.table.length).fill(ARITH);
    for (const [key, text] of Object.entries(flags)) {
      const [name, size] = key.split('.');
      const cls = UNDEF_CLASS_NAMES.indexOf(name as UndefClassName);
      const s = Number(size);
      if (cls < 0 || !SIZES.includes(s)) continue; // a newer recorder's class: keep the built-in values
      const parsed = parseRules(text);
      const bits: number[] = [];
      const rules: string[] = [];
      let unknown = 0;
      for (const [bit, rule] of parsed) {
        if (rule === UNFITTED) unknown |= bit;
        else if (rule !== 'b') { bits.push(bit); rules.push(rule); }
      }
      this.unknown[cls * 4 + sizeIndex(s)] = unknown;
      if (bits.length) this.table[cls * 4 + sizeIndex(s)] = { bits, rules };
      if (rules.includes('k')) this.keeps = true;
    }
  }

  rules(cls: number, size: number): CompiledRules | null {
    return this.table[cls * 4 + sizeIndex(size)]!;
  }

  /**
   * Flags of this class and size whose value on the recording host is not known: a guest read
   * of one of these, not of a flag the model computes, is what can make replay diverge.
   */
  unknownFlags(cls: number, size: number): number {
    return this.unknown[cls * 4 + sizeIndex(size)]!;
  }
}

export function flagNames(mask: number): string {
  return FLAG_ORDER.filter((f) => mask & f.bit).map((f) => `${f.letter.toUpperCase()}F`).join('/');
}
