// Code templates for compiled blocks (blocks.ts), generated from the executors themselves: an
// executor's source (`exec.toString()`) is specialised to one decoded instruction, so the
// semantics stay in exec/*.ts and nothing is written twice. Specialising means:
//   - operand accessors called on the instruction (c.rd1(i), c.wr1(i, v), c.rdq1(i),
//     c.wrq1(i, lo, hi), c.ea(i)...) become the code Machine's accessors run for that operand
//     kind (a register slot, an immediate, a segmented read of the computed address), with the
//     evaluation order of the call kept (arguments first);
//   - fields of the instruction (i.s1, i.osz, i.op...) become constants;
//   - `return;` leaves the instruction's labelled block.
// An executor qualifies when every free name in it is a constant or pure helper of SCOPE
// (constants.ts, the flag-model classes, helpers registered with jitHelpers()); any other
// executor is called as a function. A template is *pure* when it touches only registers and
// flags (no memory, no faults, no control transfer): the block then skips the state checks
// after it.

import * as K from './constants.js';
import { ARITH } from './constants.js';
import { U } from './flag-model.js';
import { COND_FLAGS, COND_METHODS, LazyFlags } from './flags.js';
import * as INSN from './insn.js';
import { K_IMM, K_MEM, K_R16, K_R32, K_R32Z, K_R64, K_R8, K_SREG, type Insn } from './insn.js';
import type { Exec } from './opdef.js';

/** Free names a template may use: values that never change (and the operand-kind numbers of insn.ts). */
const SCOPE: Record<string, unknown> = {
  ...K, ...Object.fromEntries(Object.entries(INSN).filter(([, v]) => typeof v === 'number')), U, Math,
};

/** Module-level functions the templates of `executors` may call (by the names their source uses). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function jitHelpers(helpers: Record<string, (...args: any[]) => unknown>, executors: readonly Exec[]): void {
  for (const x of executors) extraScope.set(x, helpers);
}

const extraScope = new WeakMap<Exec, Record<string, unknown>>();

export interface Template {
  /** statements for the block function (uses c, fl, r32, r16, r8 and the names in `scope`) */
  code: string;
  pure: boolean;
  /**
   * touches neither the machine nor a flag consumer (which may log an undefined-flag use): the
   * block need not store the sequence number and RIP before it
   */
  quiet: boolean;
  /** flags read by the flag consumers it calls (which log a read of an undefined flag with the history) */
  consumesFlags: number;
  /** free names of the code and their values */
  scope: Array<[string, unknown]>;
}

const KEYWORDS = new Set([
  'const', 'let', 'if', 'else', 'true', 'false', 'null', 'undefined', 'typeof', 'for', 'while', 'break', 'continue',
  'switch', 'case', 'default', 'new', 'void',
]);
/** Machine members a pure template may use. */
const PURE_MEMBERS = new Set(['qh', 'undefAF', 'undefFlags', 'flagsBefore', 'sel']);
/** Machine members a quiet template may use (plain fields nobody reads the instruction's RIP or number with). */
const QUIET_MEMBERS = new Set(['qh', 'sel']);
/** LazyFlags methods that cannot report an undefined-flag use (they do not consume flags; use() itself does). */
const SILENT_FLAGS = new Set(Object.getOwnPropertyNames(LazyFlags.prototype)
  .filter((m) => !/\bthis\.(?:use|useCF|useAF|cond|onUndefUse)\(/.test(String(Object.getOwnPropertyDescriptor(LazyFlags.prototype, m)!.value ?? ''))));
const ACCESSOR = /\bc\.(rdq1|rdq2|rdq3|wrq1|wrq2|rd1|rd2|rd3|wr1|wr2|eaParts|ea|jumpRel)\(/g;

/** Executor body (statements) with comments and bundler import prefixes removed; null if not an arrow (c, i). */
function bodyOf(x: Exec): string | null {
  const src = x.toString()
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .replace(/\/\/[^\n]*/g, '')
    // vitest/vite rewrite imported names to properties of module objects
    .replace(/\b__vi(?:te_ssr)?_import_\d+__\.([A-Za-z_$][\w$]*)/g, '$1')
    .trim();
  const head = /^(?:\(\s*(?:c\s*(?:,\s*i\s*)?)?\)|c)\s*=>\s*/.exec(src);
  if (head === null) return null;
  const rest = src.slice(head[0].length).trim();
  if (rest.startsWith('{')) return rest.endsWith('}') ? rest.slice(1, -1) : null;
  return `${rest};`;
}

/** Index of the parenthesis closing the one before `from`. */
export function closing(s: string, from: number): number {
  let depth = 1;
  for (let p = from; p < s.length; p++) {
    const ch = s[p];
    if (ch === '(' || ch === '[' || ch === '{') depth++;
    else if (ch === ')' || ch === ']' || ch === '}') {
      if (--depth === 0) return p;
    }
  }
  return -1;
}

export function splitArgs(s: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let start = 0;
  for (let p = 0; p < s.length; p++) {
    const ch = s[p];
    if (ch === '(' || ch === '[' || ch === '{') depth++;
    else if (ch === ')' || ch === ']' || ch === '}') depth--;
    else if (ch === ',' && depth === 0) {
      out.push(s.slice(start, p));
      start = p + 1;
    }
  }
  out.push(s.slice(start));
  return out.map((a) => a.trim());
}

class Specializer {
  private temps = 0;
  /** @param next, ripHi RIP after the instruction (what c.eip / c.ripHi hold while it runs) */
  constructor(private readonly i: Insn, private readonly k: number, private readonly next: number, private readonly ripHi: number) {}

  temp(): string {
    return `T${this.k}_${this.temps++}`;
  }

  get tempCount(): number {
    return this.temps;
  }

  /** `s` with every accessor call replaced, or null when one is not called on `i`. */
  rewrite(s: string): string | null {
    let out = '';
    let pos = 0;
    const re = new RegExp(ACCESSOR.source, 'g');
    for (;;) {
      re.lastIndex = pos;
      const m = re.exec(s);
      if (m === null) return out + s.slice(pos);
      const open = m.index + m[0].length;
      const close = closing(s, open);
      if (close < 0) return null;
      const args = splitArgs(s.slice(open, close));
      if (args[0] !== 'i') return null;
      const inner: string[] = [];
      for (const a of args.slice(1)) {
        const r = this.rewrite(a);
        if (r === null) return null;
        inner.push(r);
      }
      const g = this.accessor(m[1]!, inner);
      if (g === null) return null;
      out += s.slice(pos, m.index) + g;
      pos = close + 1;
    }
  }

  private ea(): string {
    const i = this.i;
    const zero = K.ZERO_REG * 2;
    const terms: string[] = [];
    if (i.asz === 2) {
      if (i.base !== zero) terms.push(`r32[${i.base}]`);
      if (i.index !== zero) terms.push(`r32[${i.index}]`);
      terms.push(String(i.disp));
      return `((${terms.join(' + ')}) & 0xffff)`;
    }
    if (i.asz === 4 && !i.ripRel) {
      if (i.base !== zero) terms.push(`r32[${i.base}]`);
      if (i.index !== zero) terms.push(i.scale === 0 ? `r32[${i.index}]` : `(r32[${i.index}] << ${i.scale})`);
      terms.push(`(${i.disp})`);
      return `((${terms.join(' + ')}) >>> 0)`;
    }
    return this.ea64();
  }

  /** Machine.ea64: a signed double from the 32-bit halves (RIP-relative: a constant). */
  private ea64(): string {
    const i = this.i;
    if (i.ripRel) {
      // RIP is the next instruction's, a constant of the block
      const eip = this.next, ripHi = this.ripHi;
      if (i.asz === 4) return String((eip + i.disp) >>> 0);
      let lo = eip + (i.disp >>> 0);
      let hi = ripHi + i.dispHi;
      if (lo >= K.TWO32) {
        const carry = Math.floor(lo / K.TWO32);
        hi += carry;
        lo -= carry * K.TWO32;
      }
      hi |= 0;
      return String(hi === 0 ? lo : hi * K.TWO32 + lo);
    }
    const { lo, hi } = this.halves();
    const tl = this.temp(), th = this.temp(), tc = this.temp();
    return `(${tl} = ${lo}, ${th} = ${hi}, ${tl} >= 4294967296 && (${tc} = Math.floor(${tl} / 4294967296), ${th} += ${tc}, ${tl} -= ${tc} * 4294967296), ${th} |= 0, ${th} === 0 ? ${tl} : ${th} * 4294967296 + ${tl})`;
  }

  /**
   * Machine.jumpRel with the target a constant. A 16/32-bit target beyond the CS limit faults:
   * blocks are entered only while their branch targets are within it (blocks.ts). A 64-bit one
   * that is not canonical keeps the call.
   */
  private jumpRel(): string | null {
    const i = this.i;
    if (i.osz !== 8) return `(c.eip = ${i.osz === 2 ? (this.next + i.imm) & 0xffff : (this.next + i.imm) >>> 0}, c.ripHi = 0)`;
    let lo = this.next + i.imm;
    let hi = this.ripHi;
    if (lo < 0 || lo >= K.TWO32) {
      hi = (hi + Math.floor(lo / K.TWO32)) | 0;
      lo >>>= 0;
    }
    if (hi >> 15 !== 0 && hi >> 15 !== -1) return null;
    return `(c.eip = ${lo}, c.ripHi = ${hi})`;
  }

  /**
   * A 64-bit base + index * scale + displacement as two sums: of the low halves (a double up
   * to ~2^35) and of the high halves with what the scaled index shifts into them.
   */
  private halves(): { lo: string; hi: string } {
    const i = this.i;
    const zero = K.ZERO_REG * 2;
    const b = i.base, x = i.index, sc = i.scale;
    const lo: string[] = [], hi: string[] = [];
    if (b !== zero) { lo.push(`(r32[${b}] >>> 0)`); hi.push(`r32[${b + 1}]`); }
    if (x !== zero) {
      lo.push(`(r32[${x}] >>> 0) * ${1 << sc}`);
      hi.push(sc === 0 ? `r32[${x + 1}]` : `((r32[${x + 1}] << ${sc}) | (r32[${x}] >>> ${32 - sc}))`);
    }
    lo.push(String(i.disp >>> 0));
    hi.push(String(i.dispHi));
    return { lo: lo.join(' + '), hi: hi.join(' + ') };
  }

  /** Machine.eaParts: the low half of the address, its high half (int32) in c.qh. */
  private eaParts(): string {
    const i = this.i;
    if (i.ripRel && i.asz === 4) return `(c.qh = 0, ${(this.next + i.disp) >>> 0})`;
    if (i.asz !== 8 && !i.ripRel) return `(c.qh = 0, ${this.ea()})`;
    let lo: string, hi: string;
    if (i.ripRel) {
      lo = String(this.next + (i.disp >>> 0));
      hi = String(this.ripHi + i.dispHi);
    } else ({ lo, hi } = this.halves());
    const tl = this.temp();
    return `(${tl} = ${lo}, c.qh = ((${hi}) + Math.floor(${tl} / 4294967296)) | 0, ${tl} >>> 0)`;
  }

  /** Machine.rd1/rd2/rd3 for operand kind `kind`. */
  private read(kind: number, a: number, size: number, memOk: boolean): string {
    switch (kind) {
      case K_R8: return `r8[${a}]`;
      case K_R16: return `r16[${a}]`;
      case K_R32: case K_R32Z: case K_R64: return `(r32[${a}] >>> 0)`;
      case K_MEM: return memOk ? `c.${size === 1 ? 'read8' : size === 2 ? 'read16' : 'read32'}(${this.i.seg}, ${this.ea()})` : '0';
      case K_IMM: return `(${a})`;
      case K_SREG: return memOk ? `c.sel[${a}]` : '0';
      default: return '0';
    }
  }

  /** Machine.wr1/wr2 (the value is evaluated first, as the call does). */
  private write(kind: number, a: number, size: number, v: string): string {
    switch (kind) {
      case K_R8: return `(r8[${a}] = ${v})`;
      case K_R16: return `(r16[${a}] = ${v})`;
      case K_R32: return `(r32[${a}] = ${v})`;
      case K_R32Z: return `(r32[${a}] = ${v}, r32[${a + 1}] = 0)`;
      case K_MEM: {
        const t = this.temp();
        return `(${t} = ${v}, c.${size === 1 ? 'write8' : size === 2 ? 'write16' : 'write32'}(${this.i.seg}, ${this.ea()}, ${t}))`;
      }
      default: return `(${v})`;
    }
  }

  private readQ(kind: number, a: number, size: number): string {
    const i = this.i;
    switch (kind) {
      case K_R64: return `(c.qh = r32[${a + 1}], r32[${a}] >>> 0)`;
      case K_MEM: return `c.readQ(${i.seg}, ${this.ea()})`;
      case K_IMM: return `(c.qh = ${i.immHi}, ${a})`;
      default: return `(c.qh = 0, ${this.read(kind, a, size, true)})`;
    }
  }

  private writeQ(kind: number, a: number, lo: string, hi: string): string {
    const t1 = this.temp(), t2 = this.temp();
    switch (kind) {
      case K_R64: return `(${t1} = ${lo}, ${t2} = ${hi}, r32[${a}] = ${t1}, r32[${a + 1}] = ${t2})`;
      case K_MEM: return `(${t1} = ${lo}, ${t2} = ${hi}, c.writeQ(${this.i.seg}, ${this.ea()}, ${t1}, ${t2}))`;
      default: return `(${lo}, ${hi})`;
    }
  }

  private accessor(name: string, args: string[]): string | null {
    const i = this.i;
    const want = name.startsWith('wrq') ? 2 : name.startsWith('wr') ? 1 : 0;
    if (args.length !== want) return null;
    switch (name) {
      case 'rd1': return this.read(i.k1, i.a1, i.s1, true);
      case 'rd2': return this.read(i.k2, i.a2, i.s2, true);
      case 'rd3': return this.read(i.k3, i.a3, i.s3, false);
      case 'wr1': return this.write(i.k1, i.a1, i.s1, args[0]!);
      case 'wr2': return this.write(i.k2, i.a2, i.s2, args[0]!);
      case 'rdq1': return this.readQ(i.k1, i.a1, i.s1);
      case 'rdq2': return this.readQ(i.k2, i.a2, i.s2);
      case 'rdq3': return i.k3 === K_IMM ? `(c.qh = ${i.immHi}, ${i.a3})` : `(c.qh = 0, ${this.read(i.k3, i.a3, i.s3, false)})`;
      case 'wrq1': return i.k1 === K_R64 || i.k1 === K_MEM ? this.writeQ(i.k1, i.a1, args[0]!, args[1]!) : `(${args[0]}, ${args[1]})`;
      case 'wrq2': return i.k2 === K_R64 || i.k2 === K_MEM ? this.writeQ(i.k2, i.a2, args[0]!, args[1]!) : `(${args[0]}, ${args[1]})`;
      case 'ea': return this.ea();
      case 'eaParts': return this.eaParts();
      case 'jumpRel': return this.jumpRel();
      default: return null;
    }
  }
}

/** Names declared with const/let in `code`. */
function locals(code: string): Set<string> {
  const out = new Set<string>();
  for (const m of code.matchAll(/\b(?:const|let)\s+([^;]*)/g)) {
    for (const d of splitArgs(m[1]!)) {
      const n = /^([A-Za-z_$][\w$]*)/.exec(d);
      if (n) out.add(n[1]!);
    }
  }
  return out;
}

/** The value of an expression the caller has checked is made of numeric literals and operators. */
export function literalValue(expr: string): number {
  return Number(new Function(`return ${expr}`)());
}

/**
 * `fl.cond(cc)` with `cc` written as literals becomes the method of that condition code
 * (LazyFlags.condE()...): V8 does not fold cond()'s switch on a constant.
 */
function knownConditions(code: string): string {
  let out = '';
  let from = 0;
  for (const m of code.matchAll(/\bfl\.cond\(/g)) {
    const open = m.index + m[0].length;
    const end = closing(code, open);
    const arg = code.slice(open, end);
    if (m.index < from || end < 0 || !/^[\d\s()&|]+$/.test(arg)) continue;
    out += `${code.slice(from, m.index)}fl.${COND_METHODS[literalValue(arg) & 15]!}(`;
    from = end;
  }
  return out + code.slice(from);
}

const bodies = new WeakMap<Exec, string | null>();

/**
 * The template of instruction `i` (number `k` in its block, RIP after it `next`:`ripHi`), or
 * null: call its executor. Without `flagsBefore` (no flag-model rule keeps a flag, no probe),
 * Machine.flagsBefore() is known to answer -1.
 */
export function template(i: Insn, k: number, next: number, ripHi = 0, flagsBefore = true): Template | null {
  const x = i.exec;
  if (x === null) return null;
  let body = bodies.get(x);
  if (body === undefined) {
    body = bodyOf(x);
    bodies.set(x, body);
  }
  if (body === null) return null;
  const sp = new Specializer(i, k, next, ripHi);
  let code = sp.rewrite(body);
  if (code === null) return null;
  const ins = `I${k}`;
  code = code.replace(/\bi\.([A-Za-z_$][\w$]*)/g, (_all: string, f: string) => {
    const v = (i as unknown as Record<string, unknown>)[f];
    return typeof v === 'number' || typeof v === 'boolean' ? `(${String(v)})` : `${ins}.${f}`;
  });
  code = code.replace(/\bc\.fl\./g, 'fl.').replace(/\bc\.(r32|r16|r8)\[/g, '$1[');
  code = knownConditions(code);
  // register indices computed from constants (i.a1 + 1...) folded, so that blocks can cache them
  code = code.replace(/\b(r32|r16|r8)\[([\d\s()+*]+)\]/g, (all: string, view: string, x: string) => (/^\d+$/.test(x) ? all : `${view}[${literalValue(x)}]`));
  if (!flagsBefore) code = code.replace(/\bc\.flagsBefore\(\)/g, '(-1)');
  if (/\breturn\b(?!\s*;)/.test(code)) return null;
  code = code.replace(/\breturn\s*;/g, `break L${k};`);
  code = code.replace(/(^|[^.\w$])i\b/g, `$1${ins}`);
  // every free name must be known
  const declared = locals(code);
  const extra = extraScope.get(x);
  let scope: Array<[string, unknown]> = [];
  const seen = new Set<string>();
  let pure = !code.includes(ins);
  for (const m of code.matchAll(/(\.\s*)?(?<![\w$])([A-Za-z_$][\w$]*)/g)) {
    const name = m[2]!;
    if (m[1] !== undefined) continue;
    if (KEYWORDS.has(name) || declared.has(name) || name === ins || /^T\d+_\d+$/.test(name) || /^L\d+$/.test(name)) continue;
    if (name === 'c' || name === 'fl' || name === 'r32' || name === 'r16' || name === 'r8') continue;
    const value = extra !== undefined && name in extra ? extra[name] : name in SCOPE ? SCOPE[name] : undefined;
    if (value === undefined) return null;
    if (!seen.has(name)) {
      seen.add(name);
      scope.push([`$${name}_${k}`, value]);
    }
  }
  // numbers (constants.ts, operand kinds) go in as literals, for V8 to fold
  const literals = scope.filter(([, v]) => typeof v === 'number');
  scope = scope.filter(([, v]) => typeof v !== 'number');
  for (const [name, v] of literals) {
    const plain = name.slice(1, name.lastIndexOf('_'));
    code = code.replace(new RegExp(`(^|[^.\\w$])${plain}\\b`, 'g'), `$1(${v as number})`);
  }
  let quiet = true;
  for (const m of code.matchAll(/\bc\.([A-Za-z_$][\w$]*)/g)) {
    if (!PURE_MEMBERS.has(m[1]!)) pure = false;
    if (!QUIET_MEMBERS.has(m[1]!)) quiet = false;
  }
  let consumesFlags = 0;
  for (const m of code.matchAll(/\bfl\.([A-Za-z_$][\w$]*)\s*\(/g)) {
    if (SILENT_FLAGS.has(m[1]!)) continue;
    // a condition code known here reads only its flags; other consumers, any
    const cc = (COND_METHODS as readonly string[]).indexOf(m[1]!);
    consumesFlags |= cc >= 0 ? COND_FLAGS[cc >> 1]! : ARITH;
  }
  if (consumesFlags) quiet = false;
  // the machine passed to a helper: it may do anything
  if (/(^|[^.\w$])c\b(?!\s*\.)/.test(code)) pure = quiet = false;
  for (const [name] of scope) {
    const plain = name.slice(1, name.lastIndexOf('_'));
    code = code.replace(new RegExp(`(^|[^.\\w$])${plain}\\b`, 'g'), `$1${name.replace('$', '$$$$')}`);
  }
  const temps = Array.from({ length: sp.tempCount }, (_, n) => `T${k}_${n}`);
  const decl = temps.length ? `let ${temps.join(', ')}; ` : '';
  return { code: `L${k}: { ${decl}${code} }`, pure, quiet: quiet && pure, consumesFlags, scope };
}
