// Compiled basic blocks: hot straight-line code runs as one JavaScript function per block
// (built with `new Function`, like v86's and QEMU's translation blocks) instead of one trip
// through the interpreter's loop per instruction.
//
// A block is the run of instructions from a physical address up to the first control
// transfer other than a Jcc (a taken Jcc leaves the block), page end or BLOCK_MAX, decoded by
// the same table-driven decoder. The function does what Machine.loop() does per instruction
// (sequence number, history ring, RSP at the start, RIP past the instruction — each where it
// can be read), then the instruction: as the code of its template (jit.ts: the executor's own
// source specialised to the decoded operands) or as a call of its executor. Registers live in
// locals while only templates that compute run (block-regs.ts). After anything that may fault,
// stop, branch or change the mode it compares the state with what the block assumes and
// returns when they differ, so budgets, faults, exits and single steps stay exact. A block
// ending in a branch back to its own start loops inside the function while the budget allows
// (queuing its history only where it may be read: history.ts), a Jcc back to another of its
// instructions loops there (innerLoops); enter() chains blocks.
//
// Validity: a block is keyed by physical address and entered only when CS (selector, base,
// code size), RIP and the CS limit are the ones it was built for, its page's code version
// (DecodeCache.codeVersion: bumped by guest writes to decoded bytes) is unchanged and, in a
// new run() generation, its bytes still match RAM. Inside the block, Machine.epoch (bumped by
// mode, segment, paging and TLB changes) and the page version are re-checked after every
// instruction that may change them (after register-only code, RIP alone). Functions are shared
// by all Cpus running the same code: they take the machine and the instructions as arguments.

import { setFlagsFromString } from 'node:v8';
import * as K from './constants.js';
import { DEC_OK, decode } from './decoder.js';
import { execUD, execUnsupported, execUnsupported64 } from './exec/misc.js';
import { Insn } from './insn.js';
import { REGISTER_FREE, cacheableSlots, localize, onLocals, reload, spill, usesOnly, writesOtherRegisters, writtenSlots } from './block-regs.js';
import { closing, literalValue, splitArgs, template, type Template } from './jit.js';
import { ResultsOnly } from './flags.js';
import { F_BRANCH } from './opdef.js';
import type { Machine } from './machine.js';
import type { JitMode } from './types.js';

// (local copies of the constants: constants.ts says why)
const { AF, ARITH, CF, CS, I_ESP, RF, TF } = K;

/** The default JitMode (CpuOptions.jit): VMTRACE_JIT, else 'on'. */
export function defaultJitMode(): JitMode {
  const mode = (globalThis.process?.env?.VMTRACE_JIT ?? 'on').toLowerCase();
  if (mode !== 'on' && mode !== 'off' && mode !== 'eager') throw new Error(`VMTRACE_JIT must be on, off or eager (got '${mode}')`);
  return mode;
}

/** Executions of an address by the interpreter before a block is compiled there ('on'). */
const HOT = 16;
/** Instructions per block at most. */
const BLOCK_MAX = 48;
const PAGE = 4096;

/** A block's function: its instructions (`insns`) run on machine `c` within the budget `end`. */
type BlockFn = (c: Machine, end: number, insns: readonly Insn[]) => void;

interface Block {
  readonly run: BlockFn;
  /** instructions in one pass (Infinity: nothing compilable here, never entered) */
  readonly n: number;
  readonly eip: number;
  readonly ripHi: number;
  readonly csBase: number;
  readonly csSel: number;
  readonly bits: number;
  /** EIP of the last byte, or the farthest branch target (checked against the CS limit) */
  readonly lastByte: number;
  readonly page: number;
  readonly version: number;
  gen: number;
  readonly insns: readonly Insn[];
  /** the two successors met last (RIP then), valid while Machine.epoch is `epoch` */
  next0: Block | null;
  nextEip0: number;
  next1: Block | null;
  nextEip1: number;
  epoch: number;
}

const NEVER: Block = {
  run: () => {}, n: Infinity, eip: -1, ripHi: 0, csBase: -1, csSel: -1, bits: 0, lastByte: 0, page: 0, version: 0, gen: 0, insns: [],
  next0: null, nextEip0: -1, next1: null, nextEip1: -1, epoch: -1,
};

const UNCOMPILABLE = new Set([execUD, execUnsupported, execUnsupported64]);

/**
 * A block function inlines the flag producers, memory accessors and helpers of all its
 * instructions; with V8's default budget (920 bytes of inlined bytecode per function) it stops
 * after a few instructions and the rest are calls, 2-3x slower (npm run bench:replay). Raised
 * once per process, when the first Cpu with compiled blocks is made.
 */
let inliningRaised = false;
function raiseInliningBudget(): void {
  if (inliningRaised) return;
  inliningRaised = true;
  setFlagsFromString('--max-inlined-bytecode-size-cumulative=10000');
}

export class BlockCache {
  /** per physical page: block starting at each offset */
  private readonly pages: Array<Array<Block | undefined> | undefined>;
  /** per physical page: interpreted executions of each offset (saturating) */
  private readonly heat: Array<Uint8Array | undefined>;
  /** blocks compiled so far (diagnostics and tests) */
  compiled = 0;

  private readonly hot: number;

  constructor(private readonly limit: number, mode: 'on' | 'eager') {
    this.hot = mode === 'eager' ? 0 : HOT;
    raiseInliningBudget();
    const n = Math.ceil(limit / PAGE) + 1;
    this.pages = new Array<Array<Block | undefined> | undefined>(n).fill(undefined);
    this.heat = new Array<Uint8Array | undefined>(n).fill(undefined);
  }

  /**
   * Run the block at the current RIP if there is a valid one and the budget (`end`, in
   * sequence numbers) has room for it, then the blocks it leads to, as long as each one can
   * run; count an address without one as executed. Returns whether a block ran. RF and TF must
   * be clear.
   */
  enter(c: Machine, end: number): boolean {
    let b = this.find(c, end);
    if (b === null) return false;
    for (;;) {
      b.run(c, end, b.insns);
      if (c.stop !== 0 || (c.fl.bits & (RF | TF)) !== 0) return true;
      // chained: the successors met last (while translations are unchanged: same epoch)
      let n: Block | null = null;
      if (b.epoch === c.epoch) {
        if (b.nextEip0 === c.eip) n = b.next0;
        else if (b.nextEip1 === c.eip) n = b.next1;
      }
      if (n === null || !this.runnable(c, n, end)) {
        n = this.find(c, end);
        if (n === null) return true;
        if (b.epoch !== c.epoch) {
          b.epoch = c.epoch;
          b.nextEip0 = b.nextEip1 = -1;
        }
        if (b.nextEip0 === -1 || b.nextEip0 === c.eip) {
          b.next0 = n;
          b.nextEip0 = c.eip;
        } else {
          b.next1 = n;
          b.nextEip1 = c.eip;
        }
      }
      b = n;
    }
  }

  /** The block to run at the current RIP, or null (none yet, or it cannot run now). */
  private find(c: Machine, end: number): Block | null {
    const eip = c.eip;
    let lin: number;
    if (c.bits !== 64) lin = (c.segBase[CS]! + eip) >>> 0;
    else if (c.ripHi === 0) lin = eip;
    else return null;
    let pa = lin;
    if (c.pg) {
      if (lin < c.fetchLo || lin >= c.fetchHi) return null; // the interpreter translates it first
      pa = lin + c.fetchDelta;
    }
    if (pa >= this.limit) return null;
    const pn = pa >>> 12;
    const off = pa & 0xfff;
    const pg = this.pages[pn];
    let b = pg === undefined ? undefined : pg[off];
    if (b === undefined || !this.matches(c, b)) {
      let h = this.heat[pn];
      if (h === undefined) this.heat[pn] = h = new Uint8Array(PAGE);
      if (h[off]! < this.hot) {
        h[off]!++;
        return null;
      }
      h[off] = 0;
      b = this.build(c, pa, lin);
      let p = this.pages[pn];
      if (p === undefined) this.pages[pn] = p = new Array<Block | undefined>(PAGE).fill(undefined);
      p[off] = b;
      if (b === NEVER) return null;
    }
    if (b.n > end - c.seq || b.lastByte > c.csMax) return null;
    if (b.gen !== c.icache.gen && !this.recheck(c, b)) {
      this.pages[pn]![off] = undefined;
      return null;
    }
    return b;
  }

  /** A chained block `b` (known to be the one at this address) can run now. */
  private runnable(c: Machine, b: Block, end: number): boolean {
    return this.matches(c, b) && b.n <= end - c.seq && b.lastByte <= c.csMax && (b.gen === c.icache.gen || this.recheck(c, b));
  }

  /** Drop every block (what they were compiled for changed: the flag probe was attached). */
  clear(): void {
    this.pages.fill(undefined);
  }

  private matches(c: Machine, b: Block): boolean {
    return b.eip === c.eip && b.csBase === c.segBase[CS] && b.csSel === c.sel[CS] && b.bits === c.bits && b.ripHi === c.ripHi
      && b.version === c.icache.codeVersion[b.page];
  }

  /** A new run() generation: RAM may have changed behind the interpreter's back. */
  private recheck(c: Machine, b: Block): boolean {
    for (const i of b.insns) if (!c.icache.valid(i)) return false;
    b.gen = c.icache.gen;
    return true;
  }

  /** Decode the block at physical `pa` (linear `lin`, RIP = c.eip) and compile it. */
  private build(c: Machine, pa: number, lin: number): Block {
    const r = c.mem.ramAt(pa);
    if (r === null) return NEVER;
    const insns: Insn[] = [];
    const pageEnd = PAGE - (pa & 0xfff);
    // (in 64-bit mode RIP stays below 2^32 here: enter() takes blocks only for ripHi = 0)
    const maxIp = c.bits === 64 ? 0xffffffff : Math.min(c.ipMask, c.csMax);
    let at = 0;
    while (insns.length < BLOCK_MAX) {
      const avail = Math.min(15, pageEnd - at, r.avail - at, maxIp - (c.eip + at) + 1);
      if (avail <= 0) break;
      const i = new Insn();
      if (decode(r.bytes.subarray(r.off + at, r.off + at + avail), avail, c.bits, i) !== DEC_OK) break;
      if (i.exec === null || UNCOMPILABLE.has(i.exec)) break;
      c.joinStep(i);
      i.ram = r.bytes;
      i.ramOff = r.off + at;
      c.icache.insert(pa + at, i);
      insns.push(i);
      at += i.len;
      // a block goes on past a Jcc (leaving it when the branch is taken), not past other
      // transfers nor past one back to its start (then it loops)
      if ((i.def!.f & F_BRANCH) !== 0 && (!conditionalJump(i) || branchTarget(i, c.eip + at) === c.eip)) break;
    }
    if (insns.length === 0) return NEVER;
    // the blocks' branches have constant targets: they must be within the CS limit too
    let reach = c.eip + at - 1;
    for (let k = 0, next = c.eip; k < insns.length; k++) {
      next += insns[k]!.len;
      reach = Math.max(reach, branchTarget(insns[k]!, next));
    }
    const eip = c.eip;
    const page = pa >>> 12;
    const version = c.icache.codeVersion[page]!;
    // (what compile() reads: the bytes and executors of the instructions, where they are, the mode)
    const key = `${String.fromCharCode(...r.bytes.subarray(r.off, r.off + at))}|${insns.map((i) => valueId(i.exec)).join(',')}|${c.bits},${eip},${lin},${page},${version},${c.csTag},${c.ripHi},${c.flagModel.keeps || c.undefProbe !== null}`;
    let run = built.get(key);
    if (run === undefined) {
      run = compile(c, insns, eip, lin, page, version);
      if (built.size >= FUNCTIONS_MAX) built.clear();
      built.set(key, run);
    }
    this.compiled++;
    return {
      run, n: insns.length, eip, ripHi: c.ripHi, csBase: c.segBase[CS]!, csSel: c.sel[CS]!, bits: c.bits,
      lastByte: reach, page, version, gen: c.icache.gen, insns,
      next0: null, nextEip0: -1, next1: null, nextEip1: -1, epoch: c.epoch,
    };
  }
}

/**
 * Block functions by source and bound values: the same guest code compiled again (another Cpu,
 * a restore) runs the very function V8 has already optimised. (Caching only the factory is not
 * enough: a new closure keeps its optimised code only until a full GC, so each new Cpu would
 * start the blocks over in the interpreter.) A function holds nothing of the Cpu it was built
 * for: the machine and the block's instructions are its arguments.
 */
const functions = new Map<string, BlockFn>();
const FUNCTIONS_MAX = 8192;
/**
 * Block functions by what they were compiled from: the same block built again (by another Cpu)
 * skips the templates, which cost more than running the block does on a short guest (a fifth
 * to a third of bench-32's and bench-64's run time, ~0.5 ms per block).
 */
const built = new Map<string, BlockFn>();
const made = { compiled: 0, functions: 0 };

/**
 * @internal How many blocks this process has compiled (templates generated) and how many block
 * functions it has made (tests check that Cpus share them).
 */
export function blocksMade(): { compiled: number; functions: number } {
  return { ...made };
}

/** A number per bound value, for the cache key (values are functions and module objects). */
const valueIds = new WeakMap<object, number>();
let valueCount = 0;
function valueId(v: unknown): string {
  if ((typeof v !== 'object' && typeof v !== 'function') || v === null) return String(v);
  let id = valueIds.get(v);
  if (id === undefined) valueIds.set(v, (id = ++valueCount));
  return `#${id}`;
}

/**
 * The history ring entries of the `count` instructions of a looping block up to its instruction
 * `k`, the one numbered `sq` (it runs its instructions in order, from the last back to the first
 * when it loops: they are its tables read backwards), queued until the ring is read (history.ts).
 */
function deferHistory(c: Machine, lins: readonly number[], ats: readonly number[], ripHi: number, k: number, sq: number, count: number): void {
  c.histPending.push(lins, ats, ripHi, k, sq, count);
}

/** Template code that may write RFLAGS bits beyond the arithmetic flags (TF, RF...). */
const SETS_FLAG_BITS = /\bfl\.(?:bits\s*[-+*/%&|^<>]*=(?!=)|set\()/;

/** Producers that define all six arithmetic flags (and clear their undefined marks). */
const DEFINES_ALL = /\bfl\.(?:add|sub|logic|result)(?:64)?\(/;
const UNDEF_CALL = /\bc\.undef(?:Flags|AF)\(/;

/** LazyFlags producers a block may replace by their ResultsOnly twins (and the high half they leave). */
const DROPPABLE = new Set(Object.getOwnPropertyNames(ResultsOnly.prototype).filter((m) => m !== 'constructor'));
const RESULTS_ONLY = new ResultsOnly();

/** Argument `n` of the call whose parenthesis opens before `open` in `code`, if it is a number written as literals and `|`; else null. */
function literalArg(code: string, open: number, n: number): number | null {
  const arg = splitArgs(code.slice(open, closing(code, open)))[n] ?? '';
  return /^[\d\s()|]+$/.test(arg) ? literalValue(arg) : null;
}

/**
 * `code` with its flag producers replaced by their results alone (ResultsOnly), or null when it
 * touches the flags otherwise (a read, a write of other bits, assign() of a mask not known to be
 * arithmetic flags only).
 */
function withoutFlags(code: string, k: number): string | null {
  for (const m of code.matchAll(/\bfl\.([A-Za-z_$][\w$]*)(\s*\()?/g)) {
    if (m[1] === 'rh' && m[2] === undefined) continue;
    if (m[2] === undefined || !DROPPABLE.has(m[1]!)) return null;
    if (m[1] === 'assign') {
      const mask = literalArg(code, m.index + m[0].length, 0);
      if (mask === null || (mask & ~ARITH) !== 0) return null;
    }
  }
  return code.replace(/\bfl\.(?=[A-Za-z_$])/g, `$DF_${k}.`);
}

/** Flags template `t` defines on every path through it without reading any (0: none known). */
function definedFlags(t: Template | null): number {
  if (t === null || t.consumesFlags !== 0 || /\bif\b|\?|\bbreak\b|&&|\|\|/.test(t.code) || !usesOnly(t.code, REGISTER_FREE)) return 0;
  if (DEFINES_ALL.test(t.code)) return ARITH;
  return /\bfl\.(?:inc|dec)(?:64)?\(/.test(t.code) ? ARITH & ~CF : 0;
}

/** Flags template code marks undefined (Machine.undefAF/undefFlags; a mask not written as a number: all). */
function undefinedBy(code: string): number {
  let m = 0;
  for (const x of code.matchAll(new RegExp(UNDEF_CALL.source, 'g'))) {
    if (x[0].includes('AF')) {
      m |= AF;
      continue;
    }
    m |= (literalArg(code, x.index + x[0].length, 2) ?? ARITH) & ARITH;
  }
  return m;
}

/**
 * Whether every path from instruction `k` of the block defines the flags `mask` again before
 * anything may read them or see them: through quiet instructions and Jccs that skip forward
 * inside the block reading none of them, to instructions that define them (`defined`).
 */
function redefinedOnEveryPath(temps: ReadonlyArray<Template | null>, defined: readonly number[], skips: ReadonlyMap<number, number>, k: number, mask: number): boolean {
  const seen = new Set<number>();
  const paths: Array<[number, number]> = [[k + 1, mask]];
  while (paths.length > 0) {
    let [j, m] = paths.pop()!;
    for (; (m &= ~(defined[j] ?? 0)) !== 0; j++) {
      if (j >= temps.length || seen.has(j * 4096 + m)) break;
      seen.add(j * 4096 + m);
      const t = temps[j]!;
      const to = skips.get(j);
      if (to !== undefined && t !== null && (t.consumesFlags & m) === 0) paths.push([to, m]);
      else if (t === null || !t.quiet) return false;
    }
    if (m !== 0 && j >= temps.length) return false;
  }
  return true;
}

/**
 * What an instruction does to the flags is left out of a block where nothing can read it:
 * - its undefined-flag bookkeeping (Machine.undefFlags/undefAF: the flag model's values, the
 *   setter log), when every path from it defines those flags again before anything may read
 *   or see them (only quiet instructions, no flag read, machine or exit, and Jccs that skip
 *   forward in the block reading other flags, between);
 * - the lazy-flag state its producers store, when a later instruction defines all six
 *   arithmetic flags unconditionally without reading any and nothing between touches the flags
 *   at all (the producers then only compute their results: ResultsOnly).
 * Nobody can tell: the flags, their undefined marks and the next reader's setter are what they
 * would have been. Not with a flag model that keeps flags (it reads them) nor with the probe.
 * `skips`: the block's forward jumps (forwardJumps). (@internal: exported for the tests.)
 */
export function dropOverwrittenFlags(temps: Array<Template | null>, skips: ReadonlyMap<number, number>): void {
  const defined = temps.map(definedFlags);
  // (from the last: an instruction between whose flags are dropped no longer touches them)
  for (let k = temps.length - 1; k >= 0; k--) {
    const t = temps[k];
    if (t === null || !t.pure) continue;
    let code = t.code;
    const marks = undefinedBy(code);
    if (marks !== 0 && redefinedOnEveryPath(temps, defined, skips, k, marks)) code = code.replace(new RegExp(UNDEF_CALL.source, 'g'), '(void 0, ');
    const scope = [...t.scope];
    for (let j = k + 1; j < temps.length && t.consumesFlags === 0; j++) {
      if (defined[j] === ARITH) {
        // (what lets the producers go lets the marks go: they are gone already)
        const bare = withoutFlags(code, k);
        if (bare !== null && bare !== code) {
          code = bare;
          scope.push([`$DF_${k}`, RESULTS_ONLY]);
        }
        break;
      }
      if (!temps[j]?.quiet || /\bfl\./.test(temps[j]!.code)) break;
    }
    if (code !== t.code) temps[k] = { ...t, code, scope, quiet: t.quiet || (t.consumesFlags === 0 && !/\bc\b/.test(code)) };
  }
}

/**
 * The Jccs of a block that jump forward to one of its own instructions, as (index, index of
 * the target): the block runs on there instead of returning. Their skipped ranges become
 * nested labelled blocks, so ranges that cross one another are left out (those Jccs leave).
 */
function forwardJumps(insns: readonly Insn[], nexts: readonly number[]): Map<number, number> {
  const out = new Map<number, number>();
  for (let k = 0; k < insns.length - 1; k++) {
    if (!conditionalJump(insns[k]!)) continue;
    const target = branchTarget(insns[k]!, nexts[k]!);
    const to = nexts.indexOf(target, k + 1) + 1; // (the instruction after the one ending there)
    if (to <= k + 1 || to >= insns.length) continue;
    const crosses = [...out].some(([a, b]) => a < k && k < b && b < to);
    if (!crosses) out.set(k, to);
  }
  return out;
}

/**
 * The Jccs of a block that jump back to one of its own instructions other than its first, as
 * (index, index of the target) for the Jccs `loopable` allows: the instructions from the
 * target to the Jcc become a nested loop, which runs on inside the block function while the
 * budget allows (an inner loop and the code around it, without returning to enter() per
 * pass). Loops that cross another loop or a forward jump's range are left out (they leave).
 */
function innerLoops(insns: readonly Insn[], nexts: readonly number[], skips: ReadonlyMap<number, number>, loopable: (m: number) => boolean): Map<number, number> {
  const out = new Map<number, number>();
  for (let m = 1; m < insns.length; m++) {
    if (!conditionalJump(insns[m]!) || !loopable(m)) continue;
    const j = nexts.indexOf(branchTarget(insns[m]!, nexts[m]!)) + 1;
    if (j <= 0 || j > m) continue;
    // (a forward range opens after its Jcc `k` and closes before its target `to`; with ties the range is outside the loop)
    const crossesSkip = [...skips].some(([k, to]) => !(to <= j || m < k || (k < j && to > m) || (j <= k && to <= m)));
    const crossesLoop = [...out].some(([m2, j2]) => !(m2 < j || m < j2 || (j2 < j && m < m2) || (j < j2 && m2 < m)));
    if (!crossesSkip && !crossesLoop) out.set(m, j);
  }
  return out;
}

/** Jcc rel8/rel32. */
function conditionalJump(i: Insn): boolean {
  return (i.op >= 0x70 && i.op <= 0x7f) || (i.op >= 0x180 && i.op <= 0x18f);
}

/** Target of a relative branch that ends a block, or -1 (not one, or not computable here). */
function branchTarget(i: Insn, next: number): number {
  const op = i.op;
  const rel = op === 0xeb || op === 0xe9 || (op >= 0x70 && op <= 0x7f) || (op >= 0x180 && op <= 0x18f) || op === 0xe2;
  if (!rel) return -1;
  if (i.osz === 2) return (next + i.imm) & 0xffff;
  return (next + i.imm) >>> 0;
}

/** JavaScript source of the block function; see the top of the file for what it does. */
function compile(c: Machine, insns: readonly Insn[], eip0: number, lin0: number, page: number, version: number): BlockFn {
  made.compiled++;
  const is64 = c.bits === 64;
  const args: string[] = [];
  const vals: unknown[] = [];
  const body: string[] = [];
  const n = insns.length;
  const ripHi = c.ripHi;
  let eip = eip0;
  let lin = lin0;
  const tagBase = c.csTag;
  const ripCheck = is64 ? ` || c.ripHi !== ${ripHi}` : '';
  // RFLAGS before an instruction is needed only by a flag model that keeps flags, or the probe
  const flagsBefore = c.flagModel.keeps || c.undefProbe !== null;
  const nexts: number[] = [];
  const lins: number[] = [];
  const ats: number[] = [];
  const temps = insns.map((i) => {
    const next = eip + i.len;
    nexts.push(next);
    lins.push(lin);
    ats.push(tagBase + eip);
    const t = template(i, nexts.length - 1, next, ripHi, flagsBefore);
    eip = next;
    lin = is64 ? lin + i.len : (lin + i.len) >>> 0;
    return t;
  });
  const skips = forwardJumps(insns, nexts);
  if (!flagsBefore) dropOverwrittenFlags(temps, skips);
  // registers in locals (block-regs.ts): which slots, and which instructions run on them
  const slots = cacheableSlots(temps.flatMap((t) => (t === null ? [] : [t.code])));
  const local = temps.map((t) => t !== null && slots.size > 0 && onLocals(t.code));
  // (the code of the instructions that run on the locals, rewritten once)
  const localized = temps.map((t, k) => (local[k] ? localize(t!.code, slots) : null));
  const loops = branchTarget(insns[n - 1]!, nexts[n - 1]!) === eip0;
  // (a loop's Jcc may neither fault nor set flag bits: what follows it checks RIP alone)
  const backs = innerLoops(insns, nexts, skips, (m) => temps[m] !== null && usesOnly(temps[m]!.code, REGISTER_FREE) && !SETS_FLAG_BITS.test(temps[m]!.code));
  /** Local registers instructions `from` to `to` may write. */
  const writesIn = (from: number, to: number): number[] => localized.slice(from, to + 1).flatMap((l) => (l === null ? [] : [...l.writes]));
  // locals changed since the last spill; at the top of a looping block: those of the end of
  // the pass before (with jumps inside, any path's: every local written)
  let dirty = new Set<number>();
  if (loops) {
    for (let k = n - 1; k >= 0 && (local[k] || skips.size > 0 || backs.size > 0); k--) for (const x of writesIn(k, k)) dirty.add(x);
  }
  const dirtyAtJump = new Map<number, Set<number>>();
  // A looping block writes the history ring only where it may be read, and then late
  // (history.ts): runs of the instructions in order, each read back cyclically in the table of
  // the innermost loop it ran in (the block's, or an inner loop's: HL<m>, HA<m>)
  const lazyHistory = loops || backs.size > 0;
  const history = (k: number): string => {
    if (!lazyHistory) return '';
    let m = -1;
    for (const [m2, j2] of backs) if (j2 <= k && k <= m2 && (m < 0 || j2 > backs.get(m)!)) m = m2;
    const [tables, at] = m < 0 ? ['HL, HA', k] : [`HL${m}, HA${m}`, k - backs.get(m)!];
    return `if (hw !== sq) { hist(c, ${tables}, ${ripHi}, ${at}, sq, sq - hw); hw = sq; }`;
  };
  if (lazyHistory) {
    args.push('hist');
    vals.push(deferHistory);
  }
  const leave = (k: number): string => `{ ${spill(dirty)} ${history(k)} return; }`;
  const esp = slots.has(I_ESP) ? `R${I_ESP}` : `r32[${I_ESP}]`;
  const espHi = slots.has(I_ESP + 1) ? `R${I_ESP + 1}` : `r32[${I_ESP + 1}]`;
  for (let k = 0; k < n; k++) {
    const i = insns[k]!;
    const t = temps[k]!;
    const next = nexts[k]!;
    // the forward jumps landing here end their skipped range (innermost first)
    for (const [from, to] of [...skips].sort((a, b) => b[0] - a[0])) {
      if (to !== k) continue;
      body.push(`} // F${from}`);
      for (const x of dirtyAtJump.get(from)!) dirty.add(x);
    }
    // an inner loop starting here: the run before it goes in its table; at its top, the locals
    // of the pass before are changed too
    for (const [m, j] of backs) {
      if (j !== k) continue;
      body.push(history(k - 1), `B${m}: for (;;) {`);
      for (const x of writesIn(j, m)) dirty.add(x);
    }
    args.push(`X${k}`);
    vals.push(i.exec);
    const last = k === n - 1;
    // (code using only register-free members cannot fault: RSP at the start is not needed)
    const mayFault = t === null || !usesOnly(t.code, REGISTER_FREE);
    // c.seq is stored only where someone may read it: code that uses the machine or a flag
    // consumer (an undefined-flag use is logged with it), and the block's end
    const quiet = t !== null && t.quiet && !last;
    if (!lazyHistory) body.push(`h = ++sq & 255; histLin[h] = ${lins[k]}; histAt[h] = ${ats[k]};${is64 ? ` histHi[h] = ${ripHi};` : ''}`);
    else {
      body.push('++sq;');
      // (code using only register-free members cannot fault nor look at the machine)
      if (mayFault) body.push(history(k));
      else if (t.consumesFlags !== 0) body.push(`if ((fl.undef & ${t.consumesFlags}) !== 0) ${history(k)}`);
    }
    if (!quiet) body.push('c.seq = sq;');
    if (!local[k] && dirty.size > 0) {
      body.push(spill(dirty));
      dirty = new Set();
    }
    if (mayFault) body.push(`c.startEsp = ${esp};${is64 ? ` c.startEspHi = ${espHi};` : ''}`);
    // (pure code does not read RIP: only what may fault, branch or call out needs it)
    if (t === null || !t.pure || last) body.push(`c.eip = ${next};`);
    if (t !== null) for (const [name, v] of t.scope) { args.push(name); vals.push(v); }
    if (local[k]) {
      const l = localized[k]!;
      body.push(l.code);
      for (const x of l.writes) dirty.add(x);
    } else {
      body.push(t !== null ? t.code : `X${k}(c, I${k}); // ${i.exec!.name}`);
      // (an executor or a helper given the machine may write any register)
      const written = t === null || writesOtherRegisters(t.code) ? slots : writtenSlots(t.code, slots);
      if (written.size > 0) body.push(reload(written));
    }
    // (what stays within the registers, flags and RIP cannot stop, fault nor change the mode: RIP is all to check)
    const state = !mayFault && !SETS_FLAG_BITS.test(t.code) ? '' : ` || c.stop !== 0 || c.epoch !== ep || (fl.bits & ${RF | TF}) !== 0`;
    const to = skips.get(k);
    if (to !== undefined) {
      // a Jcc to instruction `to` of this block: taken, it skips to there
      const target = nexts[to - 1]!;
      body.push(`if ((c.eip !== ${next} && c.eip !== ${target})${ripCheck}${state}${state && ` || ver[${page}] !== ${version}`}) ${leave(k)}`);
      body.push(`F${k}: {`, `if (c.eip === ${target}) { ${history(k)} break F${k}; }`);
      dirtyAtJump.set(k, new Set(dirty));
    } else if (backs.has(k)) {
      // the Jcc of an inner loop: taken, another pass if the budget has room for it and the rest of the block
      const j = backs.get(k)!;
      body.push(`if (c.eip === ${nexts[j - 1]}${is64 ? ` && c.ripHi === ${ripHi}` : ''} && end - sq >= ${n - j} && ver[${page}] === ${version}) continue B${k};`);
      body.push(`if (c.eip !== ${next}${ripCheck}) ${leave(k)}`, 'break;', `} // B${k}`, history(k));
    } else if (!last && (t === null || !t.pure)) {
      body.push(`if (c.eip !== ${next}${ripCheck}${state}${state && ` || ver[${page}] !== ${version}`}) ${leave(k)}`);
    }
    if (last) {
      if (state) body.push(`if (${state.slice(4)}) ${leave(k)}`);
      if (loops) {
        body.push(`if (c.eip === ${eip0}${is64 ? ` && c.ripHi === ${ripHi}` : ''} && end - sq >= ${n} && ver[${page}] === ${version}) continue;`);
      }
      body.push(leave(k));
    }
  }
  const code = body.join('\n');
  // (the instructions the code names: those of executor calls and of templates reading a non-numeric field)
  const named = insns.map((_, k) => `I${k}`).filter((x) => new RegExp(`\\b${x}\\b`).test(code));
  const src = [
    lazyHistory ? `const HL = [${lins.join(',')}], HA = [${ats.join(',')}];` : '',
    ...[...backs].map(([m, j]) => `const HL${m} = [${lins.slice(j, m + 1).join(',')}], HA${m} = [${ats.slice(j, m + 1).join(',')}];`),
    'return function block(c, end, I) {',
    'const r32 = c.r32, r16 = c.r16, r8 = c.r8, fl = c.fl, histLin = c.histLin, histAt = c.histAt, histHi = c.histHi, ep = c.epoch, ver = c.icache.codeVersion;',
    named.length > 0 ? `const ${named.map((x) => `${x} = I[${x.slice(1)}]`).join(', ')};` : '',
    `let sq = c.seq, h = 0, hw = sq${[...slots].map((x) => `, R${x} = r32[${x}]`).join('')};`,
    'for (;;) {',
    code,
    '}',
    '};',
  ].join('\n');
  // the same source with the same values bound (the instructions come with each call)
  const key = `${src}\n${args.join(',')}\n${vals.map(valueId).join(',')}`;
  let fn = functions.get(key);
  if (fn === undefined) {
    fn = (new Function(...args, src) as (...v: unknown[]) => BlockFn)(...vals);
    made.functions++;
    if (functions.size >= FUNCTIONS_MAX) functions.clear(); // (self-modifying code makes new sources forever)
    functions.set(key, fn);
  }
  return fn;
}
