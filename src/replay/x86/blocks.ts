// Compiled basic blocks: hot straight-line code runs as one JavaScript function per block
// (built with `new Function`, like v86's and QEMU's translation blocks) instead of one trip
// through the interpreter's loop per instruction.
//
// A block is the run of instructions from a physical address up to the first control
// transfer (F_BRANCH), page end or BLOCK_MAX, decoded by the same table-driven decoder. The
// function does, per instruction, exactly what Machine.loop() does (sequence number, history
// ring, RSP at the start, RIP past the instruction), then the instruction: as the code of its
// template (jit.ts: the executor's own source specialised to the decoded operands) or as a
// call of its executor. After anything that may fault, stop, branch or change the mode it
// compares the state with what the block assumes and returns to the run loop when they differ,
// so budgets, faults, exits and single steps stay exact. A block ending in a branch back to its
// own start loops inside the function while the budget allows.
//
// Validity: a block is keyed by physical address and entered only when CS (selector, base,
// code size), RIP and the CS limit are the ones it was built for, its page's code version
// (DecodeCache.codeVersion: bumped by guest writes to decoded bytes) is unchanged and, in a
// new run() generation, its bytes still match RAM. Inside the block, Machine.epoch (bumped by
// mode, segment, paging and TLB changes) and the page version are re-checked after every
// instruction that may change them.

import { CS, I_ESP, RF, TF } from './constants.js';
import { DEC_OK, decode } from './decoder.js';
import { execUD, execUnsupported, execUnsupported64 } from './exec/misc.js';
import { Insn } from './insn.js';
import { template } from './jit.js';
import { F_BRANCH } from './opdef.js';
import type { Machine } from './machine.js';
import type { JitMode } from './types.js';

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

type BlockFn = (c: Machine, end: number) => void;

interface Block {
  readonly run: BlockFn;
  /** instructions in one pass (Infinity: nothing compilable here, never entered) */
  readonly n: number;
  readonly eip: number;
  readonly ripHi: number;
  readonly csBase: number;
  readonly csSel: number;
  readonly bits: number;
  /** EIP of the last byte (checked against the CS limit) */
  readonly lastByte: number;
  readonly page: number;
  readonly version: number;
  gen: number;
  readonly insns: readonly Insn[];
}

const NEVER: Block = {
  run: () => {}, n: Infinity, eip: -1, ripHi: 0, csBase: -1, csSel: -1, bits: 0, lastByte: 0, page: 0, version: 0, gen: 0, insns: [],
};

const UNCOMPILABLE = new Set([execUD, execUnsupported, execUnsupported64]);

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
    const n = Math.ceil(limit / PAGE) + 1;
    this.pages = new Array<Array<Block | undefined> | undefined>(n).fill(undefined);
    this.heat = new Array<Uint8Array | undefined>(n).fill(undefined);
  }

  /**
   * Run the block at the current RIP if there is a valid one and the budget (`end`, in
   * sequence numbers) has room for it; count the address as executed otherwise. Returns
   * whether a block ran. RF and TF must be clear.
   */
  enter(c: Machine, end: number): boolean {
    const eip = c.eip;
    let lin: number;
    if (c.bits !== 64) lin = (c.segBase[CS]! + eip) >>> 0;
    else if (c.ripHi === 0) lin = eip;
    else return false;
    let pa = lin;
    if (c.pg) {
      if (lin < c.fetchLo || lin >= c.fetchHi) return false; // the interpreter translates it first
      pa = lin + c.fetchDelta;
    }
    if (pa >= this.limit) return false;
    const pn = pa >>> 12;
    const off = pa & 0xfff;
    const pg = this.pages[pn];
    let b = pg === undefined ? undefined : pg[off];
    if (b === undefined || !this.matches(c, b)) {
      let h = this.heat[pn];
      if (h === undefined) this.heat[pn] = h = new Uint8Array(PAGE);
      if (h[off]! < this.hot) {
        h[off]!++;
        return false;
      }
      h[off] = 0;
      b = this.build(c, pa, lin);
      let p = this.pages[pn];
      if (p === undefined) this.pages[pn] = p = new Array<Block | undefined>(PAGE).fill(undefined);
      p[off] = b;
      if (b === NEVER) return false;
    }
    if (b.n > end - c.seq || b.lastByte > c.csMax) return false;
    if (b.gen !== c.icache.gen && !this.recheck(c, b)) {
      this.pages[pn]![off] = undefined;
      return false;
    }
    b.run(c, end);
    return true;
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
      if ((i.def!.f & F_BRANCH) !== 0) break;
    }
    if (insns.length === 0) return NEVER;
    const eip = c.eip;
    const page = pa >>> 12;
    const version = c.icache.codeVersion[page]!;
    const run = compile(c, insns, eip, lin, page, version);
    this.compiled++;
    return {
      run, n: insns.length, eip, ripHi: c.ripHi, csBase: c.segBase[CS]!, csSel: c.sel[CS]!, bits: c.bits,
      lastByte: eip + at - 1, page, version, gen: c.icache.gen, insns,
    };
  }
}

/**
 * Block factories by source: the same guest code compiled again (another Cpu, a restore) reuses
 * the function V8 has already optimised.
 */
const factories = new Map<string, (...v: unknown[]) => BlockFn>();
const FACTORIES_MAX = 8192;

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
  const is64 = c.bits === 64;
  const args: string[] = ['ver'];
  const vals: unknown[] = [c.icache.codeVersion];
  const body: string[] = [];
  const n = insns.length;
  const ripHi = c.ripHi;
  let eip = eip0;
  let lin = lin0;
  const tagBase = c.csTag;
  const ripCheck = is64 ? ` || c.ripHi !== ${ripHi}` : '';
  for (let k = 0; k < n; k++) {
    const i = insns[k]!;
    const next = eip + i.len;
    args.push(`I${k}`, `X${k}`);
    vals.push(i, i.exec);
    const t = template(i, k, next, ripHi);
    body.push(`s = c.seq + 1; c.seq = s; h = s & 255; histLin[h] = ${lin}; histAt[h] = ${tagBase + eip};${is64 ? ` histHi[h] = ${ripHi};` : ''}`);
    if (t === null || !t.pure) body.push(`c.startEsp = r32[${I_ESP}];${is64 ? ` c.startEspHi = r32[${I_ESP + 1}];` : ''}`);
    body.push(`c.eip = ${next};`);
    if (t !== null) {
      for (const [name, v] of t.scope) { args.push(name); vals.push(v); }
      body.push(t.code);
    } else body.push(`X${k}(c, I${k}); // ${i.exec!.name}`);
    const last = k === n - 1;
    if (!last && (t === null || !t.pure)) {
      body.push(`if (c.stop !== 0 || c.eip !== ${next}${ripCheck} || c.epoch !== ep || (fl.bits & ${RF | TF}) !== 0 || ver[${page}] !== ${version}) return;`);
    }
    if (last) {
      body.push(`if (c.stop !== 0 || c.epoch !== ep || (fl.bits & ${RF | TF}) !== 0) return;`);
      if (branchTarget(i, next) === eip0) {
        body.push(`if (c.eip === ${eip0}${is64 ? ` && c.ripHi === ${ripHi}` : ''} && end - c.seq >= ${n} && ver[${page}] === ${version}) continue;`);
      }
      body.push('return;');
    }
    eip = next;
    lin = is64 ? lin + i.len : (lin + i.len) >>> 0;
  }
  const src = [
    'return function block(c, end) {',
    'const r32 = c.r32, r16 = c.r16, r8 = c.r8, fl = c.fl, histLin = c.histLin, histAt = c.histAt, histHi = c.histHi, ep = c.epoch;',
    'let s = 0, h = 0;',
    'for (;;) {',
    ...body,
    '}',
    '};',
  ].join('\n');
  const key = `${args.join(',')}\n${src}`;
  let make = factories.get(key);
  if (make === undefined) {
    make = new Function(...args, src) as (...v: unknown[]) => BlockFn;
    if (factories.size >= FACTORIES_MAX) factories.clear(); // (self-modifying code makes new sources forever)
    factories.set(key, make);
  }
  return make(...vals);
}
