// The CPU core: architectural state, the segmentation/translation path every memory access
// goes through, operand access for the executors, exception delivery and the run loop.
//
// Mode is state: the code size comes from the CS descriptor cache (D and L bits with
// EFER.LMA), the stack size from SS (B bit, or 64 bits in 64-bit mode), limits and bases
// from the segment caches, the CPL from CS/SS, and every memory access is routed through
// linear() (segmentation; canonical checks in 64-bit mode) and phys() (paging: a small TLB in
// front of a page-table walker, paging.ts). Descriptor loads and far transfers live in
// segments.ts, interrupt/exception delivery in interrupts.ts, MSRs in msr.ts.

import * as K from './constants.js';
import { cpuFeatures, guestIsIntel, type Features } from './cpuid.js';
import { DEC_LONG, DEC_TRUNC, decode } from './decoder.js';
import { formatInsn } from './disasm.js';
import { FlagModel, ruleValue, type CompiledRules, type UndefContext } from './flag-model.js';
import { LazyFlags } from './flags.js';
import { PendingHistory } from './history.js';
import { BlockCache } from './blocks.js';
import { DecodeCache } from './icache.js';
import * as KI from './insn.js';
import { Insn } from './insn.js';
import { EV_EXC, EV_EXT, EV_SOFT, deliverEvent } from './interrupts.js';
import { PhysMem } from './memory.js';
import { TLB_MASK, TLB_SIZE, pagingMode, permTable, walk } from './paging.js';
import { joinExec, type StepJoinCandidate } from './step-model.js';
import { checkIoPermission, farJump, loadDataSeg, refreshSeg } from './segments.js';
import type { Regs, Segment } from '../../cpu-state.js';
import type { CpuidEntry, DisassembledAt, ExitSink, JitMode, RamRegion, RunResult, Vendor, WatchHit, WatchKind, Watchpoint } from './types.js';

// (local copies of the constants: constants.ts says why)
const { K_IMM, K_MEM, K_R16, K_R32, K_R32Z, K_R64, K_R8, K_SREG } = KI;
const {
  ACC_EXEC, AF, ARITH, ACC_READ, ACC_SREAD, ACC_SWRITE, ACC_WRITE, CANON, CR0_PE, CR0_PG, CR4_SMAP,
  CS, EFER_LMA, FS, I_ESP, I_SP, IOPL, REG_SLOTS, RF, SEG_COUNT, SS, STOP_EXTEND, STOP_HLT,
  STOP_IO, STOP_MMIO, STOP_SHUTDOWN, TF, TWO32, TWO48, VEC_DB, VEC_DF, VEC_GP, VEC_PF, VEC_SS, VM,
  hasErrorCode, hex2, trunc,
} = K;

/** Descriptor-cache attributes of a segment register (as in struct kvm_segment). */
export type SegAttr = Omit<Segment, 'base' | 'limit' | 'selector'>;

/** An exception raised while executing an instruction (thrown, caught by run()). */
export class CpuFault {
  /** @param addr for #PF: the faulting linear address (signed canonical), loaded into CR2 */
  constructor(readonly vector: number, readonly code = 0, readonly addr = 0) {}
}

/** The instruction cannot be executed by this interpreter (thrown before any state change). */
export class Unsupported {
  constructor(readonly reason: string) {}
}

/**
 * A nondeterministic instruction (RDTSC, RDRAND...) with no recorded result to take (thrown
 * by Machine.recorded before any state change; run() returns `nondeterministic`).
 */
export class Nondeterministic {
  constructor(readonly instruction: string) {}
}

const HIST = 256;
/** The results run() returns most often, made once (replay checks an exit after every run). */
const IO_EXIT: RunResult = Object.freeze({ kind: 'exit', exit: 'io' });
const MMIO_EXIT: RunResult = Object.freeze({ kind: 'exit', exit: 'mmio' });
const HALTED: RunResult = Object.freeze({ kind: 'hlt' });
/** Instructions that left flags undefined remembered for naming one in a divergence. */
const SETTERS = 256;
/** PUSHF images with undefined flags remembered at most (nesting depth of saved flags). */
const SAVED_UNDEF = 16;

const EXC_NAMES = ['#DE', '#DB', 'NMI', '#BP', '#OF', '#BR', '#UD', '#NM', '#DF', 'CSO', '#TS', '#NP', '#SS', '#GP', '#PF', 'vector 15', '#MF', '#AC'];
export function excName(v: number): string {
  return EXC_NAMES[v] ?? `vector ${v}`;
}

function contributory(v: number): boolean {
  return v === 0 || (v >= 10 && v <= 13);
}

/** A watched range of linear addresses [lo, hi). */
interface LinearWatch {
  kind: WatchKind;
  lo: number;
  hi: number;
}

/** Where the guest read a flag an earlier instruction left undefined. */
export interface UndefUse {
  flags: number;
  /** EIP of the reading instruction and of the instruction that left the flag undefined (-1: long ago) */
  useAt: number;
  setAt: number;
  /** flag-model class id of the latter (-1: it left the ring of remembered instructions) */
  cls: number;
}

export class Machine {
  // ---------------------------------------------------------------- registers
  /** 16 GPRs + zero slot, 64 bits each as lo/hi int32 pairs (see constants.ts) */
  readonly r32 = new Int32Array(REG_SLOTS * 2);
  readonly r16 = new Uint16Array(this.r32.buffer);
  readonly r8 = new Uint8Array(this.r32.buffer);
  /** low 32 bits of RIP */
  eip = 0;
  /** high 32 bits of RIP as int32 (0 outside 64-bit mode) */
  ripHi = 0;
  readonly fl = new LazyFlags();
  /** RFLAGS bits 63:32 as given (reserved, kept for exchange) */
  flagsHi = 0;
  /** high half (int32) of the last 64-bit operand read (rdq1, readQ, popQ...) */
  qh = 0;

  // ---------------------------------------------------------------- segments & system state
  readonly sel = new Uint16Array(SEG_COUNT);
  /** low 32 bits of each segment base */
  readonly segBase = new Float64Array(SEG_COUNT);
  /** bits 63:32 of each segment base (long mode FS/GS/TR/LDTR) */
  readonly segBaseHi = new Uint32Array(SEG_COUNT);
  /** the full base as a signed double (64-bit mode FS/GS), see refreshSeg */
  readonly segBase64 = new Float64Array(SEG_COUNT);
  readonly segLimit = new Float64Array(SEG_COUNT);
  /** highest offset a read / write may touch on the fast path (-1: never) */
  readonly segMaxR = new Float64Array(SEG_COUNT);
  readonly segMaxW = new Float64Array(SEG_COUNT);
  /** expand-down segments: lowest valid offset (0 otherwise) and highest for reads / writes */
  readonly segMin = new Float64Array(SEG_COUNT);
  readonly segDownMaxR = new Float64Array(SEG_COUNT);
  readonly segDownMaxW = new Float64Array(SEG_COUNT);
  readonly segAttr: SegAttr[] = [];
  cr0 = 0x60000010;
  cr0Hi = 0;
  cr2 = 0n;
  cr3 = 0n;
  cr4 = 0;
  cr4Hi = 0;
  cr8 = 0n;
  efer = 0;
  apicBase = 0n;
  /** Segment, control or descriptor-table registers written since the owner cleared this (Cpu.sregsWritten). */
  sregsWritten = true;
  gdtBase = 0;
  gdtBaseHi = 0;
  gdtLimit = 0xffff;
  idtBase = 0;
  idtBaseHi = 0;
  idtLimit = 0x3ff;
  /** model-specific registers other than EFER and APIC_BASE (msr.ts) */
  readonly msrs = new Map<number, bigint>();
  /** x87 control, status and (full) tag words (exec/x87.ts); not in the trace: KVM's initial values */
  fpuCw = 0x037f;
  fpuSw = 0;
  fpuTw = 0xffff;
  /** debug registers DR0-DR7: stored, not acted on (exec/system.ts) */
  readonly dr = [0, 0, 0, 0, 0, 0, 0xffff0ff0, 0x400];

  // ---------------------------------------------------------------- derived mode
  /** CR0.PE */
  pe = false;
  /** CR0.PG */
  pg = false;
  /** EFER.LMA */
  lma = false;
  /** current privilege level */
  cpl = 0;
  /** default code size of CS: 16, 32, 64 */
  bits = 16;
  /** SS.B: 32-bit stack pointer (outside 64-bit mode) */
  stack32 = false;
  /** stack pointer size in bytes: 2, 4, 8 */
  stackMode = 2;
  /** largest EIP the CS limit allows (Infinity in 64-bit mode) */
  csMax = 0xffff;
  /** largest value of EIP before it wraps / carries into ripHi */
  ipMask = 0xffff;
  /** paging structure format: 0 off, 1 32-bit, 2 PAE, 3 4-level (paging.ts) */
  pagingMode = 0;

  // ---------------------------------------------------------------- TLB (see paging.ts)
  readonly tlbTag = new Float64Array(TLB_SIZE).fill(-1);
  readonly tlbPhys = new Float64Array(TLB_SIZE);
  readonly tlbPerm = new Uint8Array(TLB_SIZE);
  /** permOk[kind << 4 | perm]: may an access of that kind use a TLB entry with those bits */
  readonly permOk = new Uint8Array(5 << 4);
  /** the linear page [fetchLo, fetchHi) of the last instruction fetch maps to + fetchDelta */
  fetchLo = Infinity;
  fetchHi = -Infinity;
  fetchDelta = 0;
  /** the same for the last page read and the last page written (ACC_READ / ACC_WRITE) */
  rdLo = Infinity;
  rdHi = -Infinity;
  rdDelta = 0;
  wrLo = Infinity;
  wrHi = -Infinity;
  wrDelta = 0;

  // ---------------------------------------------------------------- per-instruction state
  /** RFLAGS bits undefined after instruction number `undefSeq` (see noteUndefined) */
  undef = 0;
  undefSeq = -1;
  /** Undefined-flag values of the recording host (trace header), and the probe's hook. */
  flagModel = new FlagModel();
  undefProbe: ((cls: number, mask: number, ctx: UndefContext) => void) | null = null;
  /** Where nondeterministic instructions take their results from (CpuOptions.recordedState). */
  recordedState: ((instruction: string) => Regs | undefined) | null = null;
  /** Results of nondeterministic instructions taken from the recording so far. */
  recordedTaken = 0;
  /** Instructions whose single step also runs the next one (trace header hostModel.step, step-model.ts). */
  stepJoin: ((i: Insn) => StepJoinCandidate | undefined) | null = null;
  /** Ring of the last SETTERS instructions that left flags undefined: seq, class, size, mask. */
  private readonly setterSeq = new Float64Array(SETTERS).fill(-1);
  private readonly setterCls = new Int8Array(SETTERS);
  private readonly setterSize = new Int8Array(SETTERS);
  private readonly setterMask = new Int16Array(SETTERS);
  private setterPos = 0;
  /** The last logic instruction that left AF undefined (undefAF): seq, class * 16 + size. */
  private afSeq = -1;
  private afClsSize = 0;
  /** The last guest reads of a flag still undefined, of one the model computes and of one it does not know. */
  lastUndefUse: UndefUse | null = null;
  lastUnknownUse: UndefUse | null = null;
  /** RFLAGS images PUSHF stored with undefined flags in them (flagsSaved), newest last. */
  private readonly savedUndef: Array<{ at: number; value: number; undef: number }> = [];
  /** STOP_* reasons collected during the current instruction */
  stop = 0;
  /** RSP at the start of the current instruction (restored when it faults) */
  startEsp = 0;
  startEspHi = 0;
  /** seq of the last instruction that started with RFLAGS.RF set (restored if not executed) */
  rfSeq = -1;
  /** set by software interrupts: no single-step trap after them */
  noTrap = false;
  pendingTrap = false;
  shutdownReason: string | null = null;

  // ---------------------------------------------------------------- counters & history
  /** Instructions started (the current one included); also the history ring position. */
  seq = 0;
  /** instructions that ran as part of a step started by an earlier one (see run()) */
  private uncounted = 0;
  /** ring buffer of executed instructions: linear address, CS tag + EIP (see csTag), RIP bits 63:32 */
  readonly histLin = new Float64Array(HIST).fill(-1);
  readonly histAt = new Float64Array(HIST);
  readonly histHi = new Int32Array(HIST);
  /** entries of looping compiled blocks not yet in the ring (history.ts): readers flush them first */
  readonly histPending = new PendingHistory(HIST);
  /** (CS selector | code-size code << 16) * 2^32, kept in sync with CS and `bits` */
  csTag = 0;
  /**
   * Bumped whenever what compiled blocks assume may change: mode, CS, CPL, paging and the
   * remembered translations (blocks.ts re-checks it inside a block).
   */
  epoch = 0;
  /** Compiled blocks; null: interpret every instruction (CpuOptions.jit 'off'). */
  readonly blocks: BlockCache | null;

  // ---------------------------------------------------------------- debugger stops (Cpu.setBreakpoints/setWatchpoints)
  /** Breakpoints or watchpoints are set: only then does the run loop look for them. */
  private debugOn = false;
  /** Linear addresses (48-bit in 64-bit mode) to stop before; null: none. */
  private breakpoints: ReadonlySet<number> | null = null;
  /** The instruction that starts while seq has this value is not stopped at (resuming from a breakpoint). */
  bpSkipSeq = -1;
  /** The breakpoint the current run() stopped before (-1: none). */
  private bpHit = -1;
  /** Watched ranges; while there are some, data accesses are checked and the read/write page memo is off. */
  private watches: readonly LinearWatch[] = [];
  private watching = false;
  private watchLo = Infinity;
  private watchHi = -Infinity;
  /** The first watched access of the current run(), and the instruction (seq) that made it. */
  watchHit: WatchHit | null = null;
  private watchSeq = -1;
  /** seq when the current run() started */
  private runStart = 0;
  /** seq of the instruction that continues the current step (exception handler, after IRETQ; -1: none) */
  private extSeq = -1;

  // ---------------------------------------------------------------- environment
  readonly mem: PhysMem;
  readonly icache: DecodeCache;
  /** the guest CPUID vendor is GenuineIntel (KVM quirks depend on it) */
  readonly guestIntel: boolean;
  /** optional features the guest CPUID enables (cpuid.ts) */
  readonly features: Features;
  private readonly scratch = new Insn();
  private readonly fetchBuf = new Uint8Array(15);

  constructor(
    ram: RamRegion[],
    readonly sink: ExitSink,
    readonly cpuidEntries: CpuidEntry[],
    readonly vendor: Vendor,
    jit: JitMode = 'on',
  ) {
    let end = 0;
    for (const r of ram) end = Math.max(end, r.base + r.bytes.length);
    this.icache = new DecodeCache(end);
    this.blocks = jit === 'off' ? null : new BlockCache(this.icache.limit, jit);
    this.icache.onPtWrite = () => this.flushTlb();
    this.guestIntel = guestIsIntel(cpuidEntries);
    this.features = cpuFeatures(cpuidEntries);
    this.mem = new PhysMem(ram, sink, this, this.icache);
    for (let s = 0; s < SEG_COUNT; s++) {
      this.segAttr.push({ type: 3, present: 1, dpl: 0, db: 0, s: 1, l: 0, g: 0, avl: 0, unusable: 0 });
      this.segLimit[s] = 0xffff;
    }
    this.segAttr[CS]!.type = 0xb;
    this.sel[CS] = 0xf000;
    this.segBase[CS] = 0xf0000;
    this.updateMode();
    this.fl.onUndefUse = (mask) => this.noteUndefUse(mask);
  }

  /**
   * Steps executed so far: one per instruction, one per emulation of a REP string instruction
   * (see repStop), a faulting instruction once.
   */
  get instructions(): number {
    return this.seq - this.uncounted;
  }

  /** EIP of the instruction being executed (from the history ring). */
  get startEip(): number {
    this.flushHistory();
    return this.histAt[this.seq & (HIST - 1)]! % TWO32;
  }

  /** RIP bits 63:32 of the instruction being executed. */
  get startRipHi(): number {
    this.flushHistory();
    return this.histHi[this.seq & (HIST - 1)]!;
  }

  /** Complete the history ring: the entries compiled blocks left pending (history.ts). */
  flushHistory(): void {
    if (this.histPending.n !== 0) this.histPending.flushInto(this.histLin, this.histAt, this.histHi, this.seq);
  }

  /** RFLAGS for undefFlags' `before`, or -1 when no rule of the model keeps a flag (saves a materialize). */
  flagsBefore(): number {
    return this.flagModel.keeps || this.undefProbe !== null ? this.fl.get() : -1;
  }

  /**
   * The current instruction (class `cls`, operand size `size`) leaves the flags in `mask`
   * undefined: give them the values the trace's flag model says the recording host produces
   * (flag-model.ts) and remember which instruction left them undefined. `before` is RFLAGS
   * before the instruction (-1 if the executor did not capture it); res/dst/src/hi are its
   * result, original destination, source and high half, as the rules use them.
   */
  undefFlags(cls: number, size: number, mask: number, before: number, res: number, dst: number, src: number, hi = 0): void {
    const rules = this.flagModel.rules(cls, size);
    if (rules !== null || this.undefProbe !== null) this.applyFlagModel(rules, cls, size, mask, before, res, dst, src, hi);
    this.noteUndefined(cls, size, mask);
  }

  /**
   * undefFlags(cls, size, AF, ...) for AND/OR/XOR/TEST, the hottest callers: without a rule for
   * them, the setter goes to two fields (afSeq/afCls) instead of the ring.
   */
  undefAF(cls: number, size: number, res: number, dst: number, src: number): void {
    if (this.undefProbe !== null || this.flagModel.rules(cls, size) !== null) {
      this.undefFlags(cls, size, AF, -1, res, dst, src);
      return;
    }
    this.undef = AF;
    this.undefSeq = this.seq;
    this.fl.undef |= AF;
    this.afSeq = this.seq;
    this.afClsSize = cls * 16 + size;
  }

  /** Marks `mask` undefined and logs the instruction in the setter ring (read back only on a use). */
  private noteUndefined(cls: number, size: number, mask: number): void {
    this.undef = mask;
    this.undefSeq = this.seq;
    this.fl.undef |= mask;
    const p = (this.setterPos = (this.setterPos + 1) & (SETTERS - 1));
    this.setterSeq[p] = this.seq;
    this.setterCls[p] = cls;
    this.setterSize[p] = size;
    this.setterMask[p] = mask;
  }

  private applyFlagModel(rules: CompiledRules | null, cls: number, size: number, mask: number, before: number, res: number, dst: number, src: number, hi: number): void {
    const ctx: UndefContext = { size, before, after: this.fl.get(), res, dst, src, hi };
    if (this.undefProbe !== null) this.undefProbe(cls, mask, ctx);
    if (rules === null) return;
    let m = 0, v = 0;
    for (let k = 0; k < rules.bits.length; k++) {
      const bit = rules.bits[k]!;
      if ((mask & bit) === 0) continue;
      const x = ruleValue(rules.rules[k]!, bit, ctx);
      if (x === undefined) continue;
      m |= bit;
      if (x) v |= bit;
    }
    if (m !== 0) this.fl.assign(m, v);
  }

  /**
   * PUSHF stored RFLAGS `value` while some flags were undefined: remember that, so that a POPF
   * restoring the same value from the same place keeps them undefined (their values are the
   * recording host's, whatever was pushed).
   */
  flagsSaved(value: number): void {
    if (this.fl.undef === 0) return;
    const saved = this.savedUndef;
    if (saved.length === SAVED_UNDEF) saved.shift();
    saved.push({ at: this.segBase[SS]! + this.sp(), value: value & ARITH, undef: this.fl.undef });
  }

  /** POPF loaded `value` from stack address `at` (linear): see flagsSaved. */
  flagsRestored(at: number, value: number): void {
    const saved = this.savedUndef;
    for (let k = saved.length - 1; k >= 0; k--) {
      const e = saved[k]!;
      if (e.at !== at) continue;
      saved.splice(k, 1);
      if (e.value === (value & ARITH)) this.fl.undef |= e.undef;
      return;
    }
  }

  /**
   * A guest instruction read flags left undefined (LazyFlags.onUndefUse). Preferred for the
   * report: a flag whose value the flag model does not know, the likelier cause of a divergence.
   */
  private noteUndefUse(mask: number): void {
    this.flushHistory();
    let use: UndefUse | null = null;
    for (let m = mask; m !== 0; m &= m - 1) {
      const bit = m & -m;
      const p = this.setterOf(bit);
      let by = p < 0 ? -1 : this.setterSeq[p]!;
      let cls = p < 0 ? -1 : this.setterCls[p]!;
      let size = p < 0 ? 0 : this.setterSize[p]!;
      if (bit === AF && this.afSeq > by) {
        by = this.afSeq;
        cls = this.afClsSize >> 4;
        size = this.afClsSize & 15;
      }
      // the setter's EIP is in the history ring unless it ran more than HIST instructions ago
      const setAt = by >= 0 && this.seq - by < HIST ? this.histAt[by & (HIST - 1)]! % TWO32 : -1;
      const unknown = by < 0 || (this.flagModel.unknownFlags(cls, size) & bit) !== 0;
      use = { flags: bit, useAt: this.startEip, setAt, cls };
      if (unknown) {
        this.lastUnknownUse = use;
        return;
      }
    }
    this.lastUndefUse = use;
  }

  /** Ring position of the latest instruction that left `bit` undefined, -1 if it left the ring. */
  private setterOf(bit: number): number {
    for (let k = 0; k < SETTERS; k++) {
      const p = (this.setterPos - k) & (SETTERS - 1);
      if (this.setterMask[p]! & bit) return p;
    }
    return -1;
  }

  /** RFLAGS bits undefined after the last retired instruction. */
  get undefinedFlags(): number {
    return this.undefSeq === this.seq ? this.undef : 0;
  }

  /**
   * Recompute everything derived from CR0/CR4/EFER, the CS/SS caches and the CPL: code and
   * stack size, segment access bounds, paging mode and TLB permissions.
   */
  updateMode(): void {
    this.sregsWritten = true;
    this.pe = (this.cr0 & CR0_PE) !== 0;
    this.pg = this.pe && (this.cr0 & CR0_PG) !== 0;
    this.lma = (this.efer & EFER_LMA) !== 0;
    const cs = this.segAttr[CS]!;
    const was64 = this.bits === 64;
    const vm = (this.fl.bits & VM) !== 0 && this.pe;
    this.bits = this.lma && cs.l && !vm ? 64 : cs.db && !vm ? 32 : 16;
    this.stack32 = this.segAttr[SS]!.db !== 0;
    this.stackMode = this.bits === 64 ? 8 : this.stack32 ? 4 : 2;
    this.ipMask = this.bits === 16 ? 0xffff : 0xffffffff;
    if (!this.pe) this.cpl = 0;
    else if (vm) this.cpl = 3;
    for (let s = 0; s < SEG_COUNT; s++) refreshSeg(this, s);
    this.csMax = this.bits === 64 ? Infinity : this.segLimit[CS]!;
    if (this.bits !== 64) {
      this.ripHi = 0;
      if (was64) {
        this.flushHistory();
        this.histHi.fill(0);
      }
    }
    this.epoch++;
    const pm = pagingMode(this);
    if (pm !== this.pagingMode) {
      this.pagingMode = pm;
      this.flushTlb();
    }
    if (this.pg) permTable(this);
    this.updateCsTag();
  }

  /** CS selector/base changed without a mode change (real-mode far transfers). */
  csLoaded(): void {
    this.epoch++;
    refreshSeg(this, CS);
    this.updateCsTag();
  }

  /** Set the CPL (after a CS load) and recompute what depends on it. */
  setCpl(cpl: number): void {
    if (cpl === this.cpl) return;
    this.epoch++;
    this.cpl = cpl;
    if (this.pg) permTable(this);
  }

  private updateCsTag(): void {
    this.csTag = (this.sel[CS]! | ((this.bits >> 5) << 16)) * TWO32;
  }

  get realMode(): boolean {
    return !this.pe;
  }

  /** Virtual-8086 mode (not implemented: run() reports it). */
  get v86(): boolean {
    return this.pe && (this.fl.bits & VM) !== 0;
  }

  // ---------------------------------------------------------------- debugger stops
  /** Stop before instructions at these linear addresses (null or empty: none). */
  setBreakpoints(addrs: ReadonlySet<number> | null): void {
    this.breakpoints = addrs !== null && addrs.size > 0 ? addrs : null;
    this.debugOn = this.breakpoints !== null || this.watching;
  }

  /** Stop after the step that accesses one of these linear ranges. */
  setWatchpoints(list: readonly Watchpoint[]): void {
    this.watches = list.filter((w) => w.length > 0).map((w) => ({ kind: w.kind, lo: w.address, hi: w.address + w.length }));
    this.watching = this.watches.length > 0;
    this.watchLo = Math.min(Infinity, ...this.watches.map((w) => w.lo));
    this.watchHi = Math.max(-Infinity, ...this.watches.map((w) => w.hi));
    this.debugOn = this.breakpoints !== null || this.watching;
    // the memo of the last page read/written lets accesses skip linear(): off while watching
    this.forgetFetchPage();
  }

  /** A data access of [lin, lin + size): remember it if it is the run's first to a watched range. */
  private watchAccess(lin: number, size: number, kind: number): void {
    if (lin >= this.watchHi || lin + size <= this.watchLo || this.watchHit !== null || kind === ACC_EXEC) return;
    const write = kind === ACC_WRITE || kind === ACC_SWRITE;
    for (const w of this.watches) {
      if (lin < w.hi && lin + size > w.lo && (w.kind === 'access' || (w.kind === 'write') === write)) {
        this.watchHit = { watch: w.kind, address: Math.max(lin, w.lo) };
        this.watchSeq = this.seq;
        return;
      }
    }
  }

  /** The current instruction did not complete (fault, unsupported): its accesses do not count. */
  private dropWatchHit(): void {
    if (this.watchSeq === this.seq) this.watchHit = null;
  }

  /**
   * Before the next instruction: stop here? Only between steps (not before the instruction
   * that continues one): after a step that hit a watchpoint, or at a breakpoint.
   */
  private debugStop(): boolean {
    if (this.seq + 1 === this.extSeq) return false;
    if (this.watchHit !== null && this.seq > this.runStart) return true;
    if (this.breakpoints !== null && this.seq !== this.bpSkipSeq) {
      const lin = this.ripLinear();
      if (!this.breakpoints.has(lin)) return false;
      this.bpHit = lin;
      return true;
    }
    return false;
  }

  // ---------------------------------------------------------------- faults
  fault(vector: number, code = 0): never {
    throw new CpuFault(vector, code);
  }

  unsupported(reason: string): never {
    throw new Unsupported(reason);
  }

  /**
   * The recorded registers at the end of the current step, for a nondeterministic instruction
   * (exec/nondet.ts) to take its result from; throws Nondeterministic when there are none.
   * Call it before changing any state.
   */
  recorded(instruction: string): Regs {
    const r = this.recordedState === null ? undefined : this.recordedState(instruction);
    if (r === undefined) throw new Nondeterministic(instruction);
    this.recordedTaken++;
    return r;
  }

  // ---------------------------------------------------------------- address translation
  /**
   * Segmented address -> linear address: the single point where segmentation applies.
   * Outside 64-bit mode: the access [off, off + size) must lie within the bounds refreshSeg()
   * derived from the cached limit and type (#SS(0) for SS, else #GP(0)); the result wraps at
   * 4 GiB. In 64-bit mode see linear64().
   */
  linear(seg: number, off: number, size: number, kind: number): number {
    if (off + size - 1 > (kind === ACC_WRITE ? this.segMaxW[seg]! : this.segMaxR[seg]!)) {
      return this.linearSlow(seg, off, size, kind);
    }
    const lin = (this.segBase[seg]! + off) >>> 0;
    if (this.watching) this.watchAccess(lin, size, kind);
    return lin;
  }

  /**
   * Outside the fast bounds: 64-bit mode and expand-down segments (whose fast bounds always
   * fail, see refreshSeg), or a fault.
   */
  private linearSlow(seg: number, off: number, size: number, kind: number): number {
    let lin: number;
    if (this.bits === 64) lin = this.linear64(seg, off, size);
    else {
      const min = this.segMin[seg]!;
      if (min <= 0 || off < min || off + size - 1 > (kind === ACC_WRITE ? this.segDownMaxW[seg]! : this.segDownMaxR[seg]!)) {
        return this.fault(seg === SS ? VEC_SS : VEC_GP);
      }
      lin = (this.segBase[seg]! + off) >>> 0;
    }
    if (this.watching) this.watchAccess(lin, size, kind);
    return lin;
  }

  /**
   * 64-bit mode: `off` is a signed double (canonical addresses are exact). FS/GS add their
   * base; the access must be canonical (#SS(0) / #GP(0)). Returns the unsigned 48-bit linear
   * address.
   */
  linear64(seg: number, off: number, size: number): number {
    const a = seg >= FS ? off + this.segBase64[seg]! : off;
    if (a < -CANON || a + size > CANON) this.fault(seg === SS ? VEC_SS : VEC_GP);
    return a < 0 ? a + TWO48 : a;
  }

  /**
   * Linear -> physical (paging: the last read/written page, then the TLB, else a page walk;
   * may raise #PF).
   */
  phys(lin: number, kind: number): number {
    if (!this.pg) return lin;
    if (kind === ACC_READ) {
      if (lin >= this.rdLo && lin < this.rdHi) return lin + this.rdDelta;
    } else if (kind === ACC_WRITE) {
      if (lin >= this.wrLo && lin < this.wrHi) return lin + this.wrDelta;
    }
    const pn = lin < TWO32 ? lin >>> 12 : Math.floor(lin / 4096);
    const slot = pn & TLB_MASK;
    let pa: number;
    if (this.tlbTag[slot] === pn && this.permOk[(kind << 4) | this.tlbPerm[slot]!] !== 0) {
      pa = this.tlbPhys[slot]! + (lin & 0xfff);
    } else {
      pa = walk(this, lin, kind);
    }
    if (this.watching) return pa;
    if (kind === ACC_READ) {
      this.rdLo = pn * 4096;
      this.rdHi = this.rdLo + 4096;
      this.rdDelta = pa - lin;
    } else if (kind === ACC_WRITE) {
      this.wrLo = pn * 4096;
      this.wrHi = this.wrLo + 4096;
      this.wrDelta = pa - lin;
    }
    return pa;
  }

  /** Drop every cached translation. */
  flushTlb(): void {
    this.tlbTag.fill(-1);
    this.icache.unwatchAll();
    this.forgetFetchPage();
  }

  /** Drop the remembered fetch/read/write pages (TLB flush, CPL or permission changes). */
  forgetFetchPage(): void {
    this.epoch++;
    this.fetchLo = Infinity;
    this.fetchHi = -Infinity;
    this.rdLo = Infinity;
    this.rdHi = -Infinity;
    this.wrLo = Infinity;
    this.wrHi = -Infinity;
  }

  /** Drop the translation of one linear address (INVLPG). */
  invlpg(lin: number): void {
    // large pages cover many 4 KiB TLB slots: flush everything (cheap enough, and exact)
    void lin;
    this.flushTlb();
  }

  // ---------------------------------------------------------------- memory by linear address
  /**
   * Read 1/2/4 bytes at a linear address. A page-crossing access is two physical accesses, one
   * per page (as KVM's emulator_read_write splits it: an MMIO page gives one MMIO access).
   */
  readLin(lin: number, size: number, kind: number): number {
    if (this.watching) this.watchAccess(lin, size, kind);
    if (this.pg && (lin & 0xfff) > 0x1000 - size) {
      const room = 0x1000 - (lin & 0xfff);
      const a0 = this.phys(lin, kind);
      const a1 = this.phys((lin + room) % TWO48, kind);
      return this.mem.readN(a0, room) + this.mem.readN(a1, size - room) * 2 ** (8 * room);
    }
    return this.mem.read(this.phys(lin, kind), size);
  }

  /** Write 1/2/4 bytes at a linear address (both pages are translated before a split write). */
  writeLin(lin: number, size: number, v: number, kind: number): void {
    if (this.watching) this.watchAccess(lin, size, kind);
    if (this.pg && (lin & 0xfff) > 0x1000 - size) {
      const room = 0x1000 - (lin & 0xfff);
      const a0 = this.phys(lin, kind);
      const a1 = this.phys((lin + room) % TWO48, kind);
      const u = v >>> 0;
      this.mem.writeN(a0, room, u % 2 ** (8 * room));
      this.mem.writeN(a1, size - room, Math.floor(u / 2 ** (8 * room)));
      return;
    }
    this.mem.write(this.phys(lin, kind), size, v);
  }

  /** 8-byte read at a linear address: low half returned, high half in `qh`. */
  readLinQ(lin: number, kind: number): number {
    if (this.watching) this.watchAccess(lin, 8, kind);
    if (this.pg && (lin & 0xfff) > 0xff8) {
      const room = 0x1000 - (lin & 0xfff);
      const a0 = this.phys(lin, kind);
      const a1 = this.phys((lin + room) % TWO48, kind);
      const v = this.mem.readBytes(a0, room) | (this.mem.readBytes(a1, 8 - room) << BigInt(8 * room));
      this.qh = Number((v >> 32n) & 0xffffffffn) | 0;
      return Number(v & 0xffffffffn);
    }
    const lo = this.mem.readQ(this.phys(lin, kind));
    this.qh = this.mem.qh;
    return lo;
  }

  writeLinQ(lin: number, lo: number, hi: number, kind: number): void {
    if (this.watching) this.watchAccess(lin, 8, kind);
    if (this.pg && (lin & 0xfff) > 0xff8) {
      const room = 0x1000 - (lin & 0xfff);
      const a0 = this.phys(lin, kind);
      const a1 = this.phys((lin + room) % TWO48, kind);
      const v = (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
      this.mem.writeBytes(a0, room, v & ((1n << BigInt(8 * room)) - 1n));
      this.mem.writeBytes(a1, 8 - room, v >> BigInt(8 * room));
      return;
    }
    this.mem.writeQ(this.phys(lin, kind), lo, hi);
  }

  /** System-table read (GDT/LDT/IDT/TSS/IVT): implicit supervisor access. */
  readLinear(lin: number, size: number): number {
    return this.readLin(lin, size, ACC_SREAD);
  }

  writeLinear(lin: number, size: number, v: number): void {
    this.writeLin(lin, size, v, ACC_SWRITE);
  }

  // ---------------------------------------------------------------- segmented memory access
  read8(seg: number, off: number): number {
    const lin = this.linear(seg, off, 1, ACC_READ);
    return this.mem.read8(this.pg ? this.phys(lin, ACC_READ) : lin);
  }
  read16(seg: number, off: number): number {
    const lin = this.linear(seg, off, 2, ACC_READ);
    if (!this.pg) return this.mem.read16(lin);
    return (lin & 0xfff) === 0xfff ? this.readLin(lin, 2, ACC_READ) : this.mem.read16(this.phys(lin, ACC_READ));
  }
  read32(seg: number, off: number): number {
    const lin = this.linear(seg, off, 4, ACC_READ);
    if (!this.pg) return this.mem.read32(lin);
    return (lin & 0xfff) > 0xffc ? this.readLin(lin, 4, ACC_READ) : this.mem.read32(this.phys(lin, ACC_READ));
  }
  /** 8-byte read: low half returned, high half (int32) in `qh`. */
  readQ(seg: number, off: number): number {
    if (this.bits === 64) {
      // fast path: within the page read last (it was canonical and translated for reading)
      let a = seg >= FS ? off + this.segBase64[seg]! : off;
      if (a < 0) a += TWO48;
      if (a >= this.rdLo && a + 8 <= this.rdHi) {
        const lo = this.mem.readQ(a + this.rdDelta);
        this.qh = this.mem.qh;
        return lo;
      }
      return this.readLinQ(this.linear64(seg, off, 8), ACC_READ);
    }
    return this.readLinQ(this.linear(seg, off, 8, ACC_READ), ACC_READ);
  }
  readMem(seg: number, off: number, size: number): number {
    return size === 1 ? this.read8(seg, off) : size === 2 ? this.read16(seg, off) : this.read32(seg, off);
  }
  write8(seg: number, off: number, v: number): void {
    const lin = this.linear(seg, off, 1, ACC_WRITE);
    this.mem.write8(this.pg ? this.phys(lin, ACC_WRITE) : lin, v);
  }
  write16(seg: number, off: number, v: number): void {
    const lin = this.linear(seg, off, 2, ACC_WRITE);
    if (!this.pg) this.mem.write16(lin, v);
    else if ((lin & 0xfff) === 0xfff) this.writeLin(lin, 2, v, ACC_WRITE);
    else this.mem.write16(this.phys(lin, ACC_WRITE), v);
  }
  write32(seg: number, off: number, v: number): void {
    const lin = this.linear(seg, off, 4, ACC_WRITE);
    if (!this.pg) this.mem.write32(lin, v);
    else if ((lin & 0xfff) > 0xffc) this.writeLin(lin, 4, v, ACC_WRITE);
    else this.mem.write32(this.phys(lin, ACC_WRITE), v);
  }
  writeQ(seg: number, off: number, lo: number, hi: number): void {
    if (this.bits === 64) {
      let a = seg >= FS ? off + this.segBase64[seg]! : off;
      if (a < 0) a += TWO48;
      if (a >= this.wrLo && a + 8 <= this.wrHi) {
        this.mem.writeQ(a + this.wrDelta, lo, hi);
        return;
      }
      this.writeLinQ(this.linear64(seg, off, 8), lo, hi, ACC_WRITE);
      return;
    }
    this.writeLinQ(this.linear(seg, off, 8, ACC_WRITE), lo, hi, ACC_WRITE);
  }
  writeMem(seg: number, off: number, size: number, v: number): void {
    if (size === 1) this.write8(seg, off, v);
    else if (size === 2) this.write16(seg, off, v);
    else this.write32(seg, off, v);
  }
  /** Check that a write of `size` bytes at seg:off would not fault (without writing). */
  checkWrite(seg: number, off: number, size: number): void {
    const lin = this.linear(seg, off, size, ACC_WRITE);
    this.phys(lin, ACC_WRITE);
    if (this.pg && (lin & 0xfff) > 0x1000 - size) this.phys((lin + size - 1) % TWO48, ACC_WRITE);
  }

  /**
   * Write `values` (items of `size` bytes) at seg:offs[k] as one block write, the way KVM's
   * emulator writes the read-ahead batch of a REP INS with DF=0 (OP_MEM_STR): RAM bytes
   * directly, MMIO bytes as accesses of at most 8 bytes per run within a page, in address order.
   */
  writeBlock(seg: number, offs: readonly number[], size: number, values: readonly number[]): void {
    const addrs: number[] = [];
    const bytes: number[] = [];
    for (let k = 0; k < offs.length; k++) {
      const lin = this.linear(seg, offs[k]!, size, ACC_WRITE);
      const v = values[k]!;
      for (let b = 0; b < size; b++) {
        const l = this.bits === 64 ? (lin + b) % TWO48 : (lin + b) >>> 0;
        addrs.push(this.pg ? this.phys(l, ACC_WRITE) : l);
        bytes.push((v >>> (8 * b)) & 0xff);
      }
    }
    this.mem.writeScattered(addrs, bytes);
  }

  // ---------------------------------------------------------------- operands
  /** Effective address (offset within the segment) of the memory operand. */
  ea(i: Insn): number {
    const r = this.r32;
    const asz = i.asz;
    if (asz === 2) return (r[i.base]! + r[i.index]! + i.disp) & 0xffff;
    if (asz === 4 && !i.ripRel) return (r[i.base]! + (r[i.index]! << i.scale) + i.disp) >>> 0;
    return this.ea64(i);
  }

  /**
   * 64-bit effective address as a signed double: exact for every canonical address (and
   * non-canonical results stay non-canonical), computed on the 32-bit halves.
   */
  ea64(i: Insn): number {
    const r = this.r32;
    let lo: number;
    let hi: number;
    if (i.ripRel) {
      if (i.asz === 4) return (this.eip + i.disp) >>> 0;
      lo = this.eip + (i.disp >>> 0);
      hi = this.ripHi + i.dispHi;
    } else {
      const b = i.base, x = i.index, sc = i.scale;
      const xl = r[x]! >>> 0;
      lo = (r[b]! >>> 0) + xl * (1 << sc) + (i.disp >>> 0);
      hi = r[b + 1]! + (sc === 0 ? r[x + 1]! : (r[x + 1]! << sc) | (xl >>> (32 - sc))) + i.dispHi;
    }
    if (lo >= TWO32) {
      const c = Math.floor(lo / TWO32);
      hi += c;
      lo -= c * TWO32;
    }
    hi |= 0;
    return hi === 0 ? lo : hi * TWO32 + lo;
  }

  /**
   * Effective address as exact 64-bit halves: low half (uint32) returned, high half (int32)
   * in qh (0 for 16/32-bit addressing). LEA uses this: its result is arithmetic, not an address.
   */
  eaParts(i: Insn): number {
    if (i.asz !== 8 && !i.ripRel) {
      this.qh = 0;
      return this.ea(i);
    }
    const r = this.r32;
    let lo: number;
    let hi: number;
    if (i.ripRel) {
      if (i.asz === 4) {
        this.qh = 0;
        return (this.eip + i.disp) >>> 0;
      }
      lo = this.eip + (i.disp >>> 0);
      hi = this.ripHi + i.dispHi;
    } else {
      const b = i.base, x = i.index, sc = i.scale;
      const xl = r[x]! >>> 0;
      lo = (r[b]! >>> 0) + xl * (1 << sc) + (i.disp >>> 0);
      hi = r[b + 1]! + (sc === 0 ? r[x + 1]! : (r[x + 1]! << sc) | (xl >>> (32 - sc))) + i.dispHi;
    }
    this.qh = (hi + Math.floor(lo / TWO32)) | 0;
    return lo >>> 0;
  }

  /** Wrap an offset to the address size of i. */
  wrapAddr(i: Insn, off: number): number {
    return i.asz === 2 ? off & 0xffff : i.asz === 4 ? off >>> 0 : off;
  }

  rd1(i: Insn): number {
    switch (i.k1) {
      case K_R8: return this.r8[i.a1]!;
      case K_R16: return this.r16[i.a1]!;
      case K_R32: case K_R32Z: case K_R64: return this.r32[i.a1]! >>> 0;
      case K_MEM: return this.readMem(i.seg, this.ea(i), i.s1);
      case K_IMM: return i.a1;
      case K_SREG: return this.sel[i.a1]!;
      default: return 0;
    }
  }

  rd2(i: Insn): number {
    switch (i.k2) {
      case K_R8: return this.r8[i.a2]!;
      case K_R16: return this.r16[i.a2]!;
      case K_R32: case K_R32Z: case K_R64: return this.r32[i.a2]! >>> 0;
      case K_MEM: return this.readMem(i.seg, this.ea(i), i.s2);
      case K_IMM: return i.a2;
      case K_SREG: return this.sel[i.a2]!;
      default: return 0;
    }
  }

  rd3(i: Insn): number {
    switch (i.k3) {
      case K_R8: return this.r8[i.a3]!;
      case K_R16: return this.r16[i.a3]!;
      case K_R32: case K_R32Z: case K_R64: return this.r32[i.a3]! >>> 0;
      case K_IMM: return i.a3;
      default: return 0;
    }
  }

  wr1(i: Insn, v: number): void {
    switch (i.k1) {
      case K_R8: this.r8[i.a1] = v; return;
      case K_R16: this.r16[i.a1] = v; return;
      case K_R32: this.r32[i.a1] = v; return;
      case K_R32Z: this.r32[i.a1] = v; this.r32[i.a1 + 1] = 0; return;
      case K_MEM: this.writeMem(i.seg, this.ea(i), i.s1, v); return;
      default: return;
    }
  }

  wr2(i: Insn, v: number): void {
    switch (i.k2) {
      case K_R8: this.r8[i.a2] = v; return;
      case K_R16: this.r16[i.a2] = v; return;
      case K_R32: this.r32[i.a2] = v; return;
      case K_R32Z: this.r32[i.a2] = v; this.r32[i.a2 + 1] = 0; return;
      case K_MEM: this.writeMem(i.seg, this.ea(i), i.s2, v); return;
      default: return;
    }
  }

  // ---- 64-bit operands: the low half is returned (uint32), the high half (int32) left in qh

  rdq1(i: Insn): number {
    switch (i.k1) {
      case K_R64: this.qh = this.r32[i.a1 + 1]!; return this.r32[i.a1]! >>> 0;
      case K_MEM: return this.readQ(i.seg, this.ea(i));
      case K_IMM: this.qh = i.immHi; return i.a1;
      default: this.qh = 0; return this.rd1(i);
    }
  }

  rdq2(i: Insn): number {
    switch (i.k2) {
      case K_R64: this.qh = this.r32[i.a2 + 1]!; return this.r32[i.a2]! >>> 0;
      case K_MEM: return this.readQ(i.seg, this.ea(i));
      case K_IMM: this.qh = i.immHi; return i.a2;
      default: this.qh = 0; return this.rd2(i);
    }
  }

  rdq3(i: Insn): number {
    if (i.k3 === K_IMM) { this.qh = i.immHi; return i.a3; }
    this.qh = 0;
    return this.rd3(i);
  }

  wrq1(i: Insn, lo: number, hi: number): void {
    if (i.k1 === K_R64) { this.r32[i.a1] = lo; this.r32[i.a1 + 1] = hi; }
    else if (i.k1 === K_MEM) this.writeQ(i.seg, this.ea(i), lo, hi);
  }

  wrq2(i: Insn, lo: number, hi: number): void {
    if (i.k2 === K_R64) { this.r32[i.a2] = lo; this.r32[i.a2 + 1] = hi; }
    else if (i.k2 === K_MEM) this.writeQ(i.seg, this.ea(i), lo, hi);
  }

  /** Read general register n (encoding number) with the given size (1, 2, 4). */
  getReg(n: number, size: number): number {
    return size === 1 ? this.r8[n < 4 ? n * 8 : (n - 4) * 8 + 1]! : size === 2 ? this.r16[n * 4]! : this.r32[n * 2]! >>> 0;
  }

  /** Write general register n; a 4-byte write zero-extends in 64-bit mode. */
  setReg(n: number, size: number, v: number): void {
    if (size === 1) this.r8[n < 4 ? n * 8 : (n - 4) * 8 + 1] = v;
    else if (size === 2) this.r16[n * 4] = v;
    else this.w32(n * 2, v);
  }

  /** Write a dword-view register slot (index 2n); zero-extends to 64 bits in 64-bit mode. */
  w32(idx: number, v: number): void {
    this.r32[idx] = v;
    if (this.bits === 64) this.r32[idx + 1] = 0;
  }

  /** Register n as a signed double (exact for |value| < 2^53: canonical addresses, counts). */
  reg64(n: number): number {
    return this.r32[n * 2 + 1]! * TWO32 + (this.r32[n * 2]! >>> 0);
  }

  setReg64(n: number, v: number): void {
    this.r32[n * 2] = v;
    this.r32[n * 2 + 1] = Math.floor(v / TWO32);
  }

  getQ(n: number): number {
    this.qh = this.r32[n * 2 + 1]!;
    return this.r32[n * 2]! >>> 0;
  }

  setQ(n: number, lo: number, hi: number): void {
    this.r32[n * 2] = lo;
    this.r32[n * 2 + 1] = hi;
  }

  // ---------------------------------------------------------------- stack
  /** Current stack pointer, by stack size (64-bit: signed double). */
  sp(): number {
    const m = this.stackMode;
    return m === 4 ? this.r32[I_ESP]! >>> 0 : m === 2 ? this.r16[I_SP]! : this.reg64(4);
  }

  setSp(v: number): void {
    const m = this.stackMode;
    if (m === 4) this.r32[I_ESP] = v;
    else if (m === 2) this.r16[I_SP] = v;
    else this.setReg64(4, v);
  }

  /** Stack pointer moved by `delta` bytes, wrapped to the stack size. */
  spPlus(delta: number): number {
    const m = this.stackMode;
    const v = this.sp() + delta;
    return m === 4 ? v >>> 0 : m === 2 ? v & 0xffff : v;
  }

  push(v: number, size: number): void {
    const m = this.stackMode;
    if (m === 4) {
      const sp = (this.r32[I_ESP]! - size) >>> 0;
      this.writeMem(SS, sp, size, v);
      this.r32[I_ESP] = sp;
    } else if (m === 2) {
      const sp = (this.r16[I_SP]! - size) & 0xffff;
      this.writeMem(SS, sp, size, v);
      this.r16[I_SP] = sp;
    } else {
      const sp = this.reg64(4) - size;
      this.writeMem(SS, sp, size, v);
      this.setReg64(4, sp);
    }
  }

  pop(size: number): number {
    const m = this.stackMode;
    if (m === 4) {
      const sp = this.r32[I_ESP]! >>> 0;
      const v = this.readMem(SS, sp, size);
      this.r32[I_ESP] = sp + size;
      return v;
    }
    if (m === 2) {
      const sp = this.r16[I_SP]!;
      const v = this.readMem(SS, sp, size);
      this.r16[I_SP] = sp + size;
      return v;
    }
    const sp = this.reg64(4);
    const v = this.readMem(SS, sp, size);
    this.setReg64(4, sp + size);
    return v;
  }

  /** 64-bit push (64-bit mode: SS has no base or limit, RSP must stay canonical). */
  pushQ(lo: number, hi: number): void {
    const r = this.r32;
    const s0 = r[I_ESP]! >>> 0;
    // fast path: a low-half stack within the page written last (no page crossing)
    if (r[I_ESP + 1] === 0 && s0 >= 8 && s0 - 8 >= this.wrLo && s0 <= this.wrHi) {
      this.mem.writeQ(s0 - 8 + this.wrDelta, lo, hi);
      r[I_ESP] = s0 - 8;
      return;
    }
    let sl = s0 - 8;
    let sh = r[I_ESP + 1]!;
    if (sl < 0) {
      sl += TWO32;
      sh = (sh - 1) | 0;
    }
    let a = sh === 0 ? sl : sh * TWO32 + sl;
    if (sh !== 0) {
      if (a < -CANON || a + 8 > CANON) this.fault(VEC_SS);
      if (a < 0) a += TWO48;
    }
    this.writeLinQ(a, lo, hi, ACC_WRITE);
    r[I_ESP] = sl;
    r[I_ESP + 1] = sh;
  }

  /** 64-bit pop (64-bit mode): low half returned, high half in qh. */
  popQ(): number {
    const r = this.r32;
    const sl = r[I_ESP]! >>> 0;
    const sh = r[I_ESP + 1]!;
    if (sh === 0 && sl >= this.rdLo && sl + 8 <= this.rdHi && sl + 8 < TWO32) {
      const lo = this.mem.readQ(sl + this.rdDelta);
      this.qh = this.mem.qh;
      r[I_ESP] = sl + 8;
      return lo;
    }
    let a = sh === 0 ? sl : sh * TWO32 + sl;
    if (sh !== 0) {
      if (a < -CANON || a + 8 > CANON) this.fault(VEC_SS);
      if (a < 0) a += TWO48;
    }
    const lo = this.readLinQ(a, ACC_READ);
    const nl = sl + 8;
    if (nl >= TWO32) {
      r[I_ESP] = nl - TWO32;
      r[I_ESP + 1] = sh + 1;
    } else r[I_ESP] = nl;
    return lo;
  }

  /** Push a value of the operand size (2, 4, 8; for 8 the value is a uint32 zero-extended). */
  pushOsz(v: number, osz: number): void {
    if (osz === 8) this.pushQ(v, 0);
    else this.push(v, osz);
  }

  // ---------------------------------------------------------------- segment loads & branches
  /**
   * Load a data/stack segment register with MOV/POP/LxS. Real mode: base = selector * 16, the
   * cached limit and attributes are kept, as the hardware does. Protected mode: segments.ts.
   */
  loadSeg(s: number, selector: number): void {
    if (this.pe && !this.v86) {
      loadDataSeg(this, s, selector);
      return;
    }
    if (this.v86) this.unsupported('virtual-8086 mode');
    this.sregsWritten = true;
    this.sel[s] = selector;
    this.segBase[s] = selector * 16;
    this.segBaseHi[s] = 0;
    refreshSeg(this, s);
    if (s === CS) {
      this.epoch++;
      this.updateCsTag();
    }
  }

  /** Near branch to `target` (already wrapped to the operand size): #GP beyond the CS limit. */
  jump(target: number): void {
    if (target > this.csMax) this.fault(VEC_GP);
    this.eip = target;
    if (this.bits === 64) this.ripHi = 0;
  }

  /** Near branch in 64-bit mode to (lo, hi): #GP if not canonical. `lo` may be any integer < 2^53. */
  jump64(lo: number, hi: number): void {
    if (lo < 0 || lo >= TWO32) {
      hi = (hi + Math.floor(lo / TWO32)) | 0;
      lo >>>= 0;
    }
    if (hi >> 15 !== 0 && hi >> 15 !== -1) this.fault(VEC_GP);
    this.eip = lo;
    this.ripHi = hi;
  }

  /** Relative branch: target = next RIP + i.imm, wrapped to the operand size. */
  jumpRel(i: Insn): void {
    const osz = i.osz;
    if (osz === 8) {
      this.jump64(this.eip + i.imm, this.ripHi);
      return;
    }
    const t = osz === 2 ? (this.eip + i.imm) & 0xffff : (this.eip + i.imm) >>> 0;
    if (t > this.csMax) this.fault(VEC_GP);
    this.eip = t;
    this.ripHi = 0; // (a 16/32-bit branch in 64-bit code clears RIP bits 63:32)
  }

  /** Far branch (JMP ptr/m16:xx): real mode keeps the CS limit; protected mode: segments.ts. */
  jumpFar(selector: number, off: number, offHi = 0): void {
    if (this.pe && !this.v86) {
      farJump(this, selector, off, offHi);
      return;
    }
    if (off > this.segLimit[CS]!) this.fault(VEC_GP);
    this.loadSeg(CS, selector);
    this.eip = off;
  }

  /** Next RIP as a 48-bit linear address (64-bit mode) or EIP + CS base. */
  ripLinear(): number {
    if (this.bits !== 64) return (this.segBase[CS]! + this.eip) >>> 0;
    const hi = this.ripHi;
    return hi === 0 ? this.eip : hi * TWO32 + this.eip + (hi < 0 ? TWO48 : 0);
  }

  // ---------------------------------------------------------------- port IO
  /** Protected mode with CPL > IOPL (or virtual-8086): the TSS I/O bitmap decides (#GP(0)). */
  ioAllowed(port: number, size: number): void {
    if (this.pe && (this.cpl > ((this.fl.bits & IOPL) >> 12) || (this.fl.bits & VM) !== 0)) checkIoPermission(this, port, size);
  }

  ioIn(port: number, size: 1 | 2 | 4): number {
    this.ioAllowed(port & 0xffff, size);
    this.stop |= STOP_IO;
    return trunc(this.sink.ioIn(port & 0xffff, size), size);
  }

  ioOut(port: number, size: 1 | 2 | 4, v: number): void {
    this.ioAllowed(port & 0xffff, size);
    this.stop |= STOP_IO;
    this.sink.ioOut(port & 0xffff, size, trunc(v, size));
  }

  /**
   * End this step of a REP string instruction with RIP still at the instruction (RF stays
   * set): the next step continues it (or, with the count exhausted, completes it).
   */
  repStop(): void {
    this.eip = this.startEip;
    this.ripHi = this.startRipHi;
  }

  halt(): void {
    this.stop |= STOP_HLT;
  }

  // ---------------------------------------------------------------- interrupts
  /** INT n / INT3 / INTO (the return address is the next instruction). */
  softInt(vector: number): void {
    deliverEvent(this, vector, EV_SOFT, 0, false);
    this.noTrap = true;
  }

  /** INT1 (ICEBP): like an external event for the gate-DPL check. */
  int1(): void {
    deliverEvent(this, VEC_DB, EV_EXT, 0, false);
    this.noTrap = true;
  }

  /**
   * Deliver an exception (`hasCode`: push `code` in protected mode) or, with `external`, an
   * external interrupt, with the current RIP as return address, escalating faults that happen
   * during delivery (#DF for contributory-on-contributory and #PF-on-#PF/contributory, triple
   * fault on anything while delivering #DF). Returns false on triple fault (shutdown).
   */
  deliverException(vector: number, code = 0, hasCode = false, external = false, pfAddr = 0): boolean {
    let v = vector;
    let c = code;
    let withCode = hasCode;
    let ev = external ? EV_EXT : EV_EXC;
    let chain = excName(v);
    for (let guard = 0; guard < 8; guard++) {
      const esp = this.r32[I_ESP]!;
      const espHi = this.r32[I_ESP + 1]!;
      try {
        if (v === VEC_PF && ev === EV_EXC) {
          this.cr2 = BigInt.asUintN(64, BigInt(pfAddr));
          this.sregsWritten = true;
        }
        deliverEvent(this, v, ev, c, withCode);
        return true;
      } catch (e) {
        if (!(e instanceof CpuFault)) throw e;
        this.r32[I_ESP] = esp;
        this.r32[I_ESP + 1] = espHi;
        const v2 = e.vector;
        chain += ` -> ${excName(v2)}`;
        if (v === VEC_DF) break;
        if ((contributory(v) && contributory(v2)) || (v === VEC_PF && (v2 === VEC_PF || contributory(v2)))) {
          v = VEC_DF;
          c = 0;
        } else {
          v = v2;
          c = e.code;
          pfAddr = e.addr;
        }
        withCode = this.pe && hasErrorCode(v);
        ev = EV_EXC;
      }
    }
    this.shutdownReason = `triple fault (${chain} while delivering)`;
    this.stop |= STOP_SHUTDOWN;
    return false;
  }

  // ---------------------------------------------------------------- instruction fetch
  /**
   * Decode the instruction at CS:eip (linear `lin`) from memory (cache miss path). Bytes are
   * fetched page by page and only as far as the decoder needs them, so a fault on the next
   * page (or beyond the CS limit) is raised only if the instruction really extends there.
   */
  private fetchDecode(eip: number, lin: number): Insn {
    const buf = this.fetchBuf;
    const maxLen = this.bits === 64 ? 15 : Math.max(0, Math.min(15, this.csMax - eip + 1));
    let avail = 0;
    let ram: Uint8Array | null = null;
    let ramOff = 0;
    let crossed = false;
    let nonRam = false;
    let st = DEC_TRUNC;
    const scratch = this.scratch;
    while (st === DEC_TRUNC && avail < maxLen) {
      const la = (lin + avail) % TWO48;
      const pa = this.phys(la, ACC_EXEC);
      if (avail !== 0 && this.pg) crossed = true;
      const r = this.mem.ramAt(pa);
      if (r === null) { nonRam = true; break; }
      if (avail === 0) { ram = r.bytes; ramOff = r.off; }
      else if (r.bytes !== ram || r.off !== ramOff + avail) ram = null;
      const n = Math.min(maxLen - avail, this.pg ? 0x1000 - (la & 0xfff) : 15, r.avail);
      for (let k = 0; k < n; k++) buf[avail + k] = r.bytes[r.off + k]!;
      avail += n;
      st = decode(buf, avail, this.bits, scratch);
    }
    if (st === DEC_TRUNC) {
      if (!nonRam && avail < 15) this.fault(VEC_GP); // the CS limit cut the instruction
      const got = Array.from(buf.subarray(0, avail), hex2).join(' ');
      this.unsupported(`instruction fetch from non-RAM address 0x${((lin + avail) % TWO48).toString(16)} (bytes so far: ${got || 'none'})`);
    }
    if (st === DEC_LONG) this.fault(VEC_GP);
    if (ram === null || crossed) {
      scratch.ram = null;
      scratch.gen = -1;
      if (this.stepJoin !== null) this.applyStepJoin(scratch);
      return scratch;
    }
    const insn = new Insn();
    decode(buf, avail, this.bits, insn);
    if (this.stepJoin !== null) this.applyStepJoin(insn);
    insn.ram = ram;
    insn.ramOff = ramOff;
    this.icache.insert(this.phys(lin, ACC_EXEC), insn);
    return insn;
  }

  /** An instruction of the trace's step-join set runs the next one in its step (step-model.ts). */
  joinStep(insn: Insn): void {
    if (this.stepJoin !== null) this.applyStepJoin(insn);
  }

  private applyStepJoin(insn: Insn): void {
    const c = this.stepJoin!(insn);
    if (c !== undefined && insn.exec !== null) insn.exec = joinExec(insn.exec, c);
  }

  // ---------------------------------------------------------------- the run loop
  /**
   * Execute until `instructions` reaches `end` or an instruction requests a stop. Faults
   * propagate as exceptions (handled by run()).
   */
  private loop(end: number): void {
    const r32 = this.r32;
    const fl = this.fl;
    const cache = this.icache;
    const histLin = this.histLin;
    const histAt = this.histAt;
    const histHi = this.histHi;
    const blocks = this.blocks;
    while (this.seq < end) {
      if (this.debugOn) {
        if (this.debugStop()) return;
      } else if (blocks !== null && (fl.bits & (RF | TF)) === 0 && blocks.enter(this, end)) {
        if (this.stop !== 0) return;
        continue;
      }
      const eip = this.eip;
      const h = ++this.seq & (HIST - 1);
      let lin: number;
      if (this.bits !== 64) {
        lin = (this.segBase[CS]! + eip) >>> 0;
      } else {
        // RIP and RSP have meaningful high halves only in 64-bit mode (cleared on leaving it)
        lin = this.ripHi === 0 ? eip : this.ripLinear();
        histHi[h] = this.ripHi;
        this.startEspHi = r32[I_ESP + 1]!;
      }
      histLin[h] = lin;
      histAt[h] = this.csTag + eip;
      this.startEsp = r32[I_ESP]!;
      let insn: Insn | undefined;
      if (this.pg) {
        // the page of the last fetch is remembered (cheaper than a TLB lookup per instruction)
        const pa = lin >= this.fetchLo && lin < this.fetchHi ? lin + this.fetchDelta : this.fetchPage(lin);
        insn = pa < cache.limit ? cache.get(pa) : undefined;
      } else insn = cache.get(lin);
      if (insn === undefined || insn.bits !== this.bits || !cache.valid(insn)) insn = this.fetchDecode(eip, lin);
      else if (eip + insn.len - 1 > this.csMax) this.fault(VEC_GP);
      // RF is cleared by every instruction (KVM's emulator: before executing it); REP string
      // instructions set it again while they are not complete. rfSeq remembers that it was set.
      const f0 = fl.bits;
      let tf = 0;
      if ((f0 & (RF | TF)) !== 0) {
        if ((f0 & RF) !== 0) {
          fl.bits = f0 & ~RF;
          this.rfSeq = this.seq;
        }
        tf = f0 & TF;
        if (tf !== 0) this.noTrap = false;
      }
      const next = eip + insn.len;
      if (next <= this.ipMask) this.eip = next;
      else if (this.bits === 64) this.jump64(next, this.ripHi);
      else this.eip = next & this.ipMask;
      insn.exec!(this, insn);
      if (tf !== 0 && !this.noTrap) {
        if (this.stop !== 0) this.pendingTrap = true;
        else this.deliverException(VEC_DB);
      }
      if (this.stop !== 0) return;
    }
  }

  /** Translate an instruction fetch and remember its page (fetchLo/fetchHi/fetchDelta). */
  private fetchPage(lin: number): number {
    const pa = this.phys(lin, ACC_EXEC);
    const base = lin - (lin % 4096);
    this.fetchLo = base;
    this.fetchHi = base + 4096;
    this.fetchDelta = pa - lin;
    return pa;
  }

  /** Undo the effects of a started instruction on RIP/RSP/RF (fault, unsupported, sink error). */
  private rewind(): void {
    this.eip = this.startEip;
    this.ripHi = this.startRipHi;
    this.r32[I_ESP] = this.startEsp;
    if (this.bits === 64) this.r32[I_ESP + 1] = this.startEspHi;
  }

  /** RF as it was at the start of the current instruction. */
  private get startRf(): number {
    return this.rfSeq === this.seq ? RF : 0;
  }

  /**
   * Calls `f` with RIP, RSP and RF as they were at the start of the instruction being executed
   * (for a sink that needs the state before it: an instruction's first reads happen before it
   * writes anything else), then puts them back.
   */
  atInsnStart<T>(f: () => T): T {
    const eip = this.eip, ripHi = this.ripHi, esp = this.r32[I_ESP]!, espHi = this.r32[I_ESP + 1]!, fl = this.fl.bits;
    this.eip = this.startEip;
    this.ripHi = this.startRipHi;
    this.r32[I_ESP] = this.startEsp;
    if (this.bits === 64) this.r32[I_ESP + 1] = this.startEspHi;
    this.fl.bits = (fl & ~RF) | this.startRf;
    try {
      return f();
    } finally {
      this.eip = eip;
      this.ripHi = ripHi;
      this.r32[I_ESP] = esp;
      this.r32[I_ESP + 1] = espHi;
      this.fl.bits = fl;
    }
  }

  run(max: number): RunResult {
    if (this.shutdownReason !== null) return { kind: 'shutdown', reason: this.shutdownReason };
    if (this.v86) {
      const p = this.peek();
      return { kind: 'unsupported', bytes: p.bytes, at: p.at, message: `virtual-8086 mode is not implemented; next instruction ${p.text} at ${p.at}` };
    }
    this.icache.gen++;
    this.stop = 0;
    this.runStart = this.seq;
    this.bpHit = -1;
    this.watchHit = null;
    let end = this.seq + Math.max(0, Math.floor(max));
    let extended = 0;
    this.extSeq = -1;
    for (;;) {
      try {
        if (this.pendingTrap && end > this.seq) {
          this.pendingTrap = false;
          this.deliverException(VEC_DB);
          if (this.stop !== 0) break;
        }
        this.loop(end);
        if ((this.stop & STOP_EXTEND) !== 0) {
          // the instruction asked for the next one to join its step (IRETQ, see interrupts.ts)
          this.stop &= ~STOP_EXTEND;
          end++;
          this.uncounted++;
          this.extSeq = this.seq + 1;
          if (this.stop === 0) continue;
        }
        break;
      } catch (e) {
        if (e instanceof CpuFault) {
          // the faulting instruction counts as executed (its sequence number is used)
          this.rewind();
          this.undefSeq = -1;
          this.dropWatchHit();
          // KVM sets RF before injecting a fault-class exception (inject_pending_event)
          this.fl.bits |= RF;
          if (!this.deliverException(e.vector, e.code, this.pe && hasErrorCode(e.vector), false, e.addr) || this.stop !== 0) break;
          // KVM single-steps a faulting instruction, its exception delivery and the first
          // instruction of the handler as one step: run that instruction within this step
          if (extended < 16) {
            extended++;
            end++;
            this.uncounted++;
            this.extSeq = this.seq + 1;
          }
          continue;
        }
        if (e instanceof Unsupported || e instanceof Nondeterministic) {
          // not executed: restore, and take it back out of the history
          this.rewind();
          this.fl.bits = (this.fl.bits & ~RF) | this.startRf;
          this.histLin[this.seq & (HIST - 1)] = -1;
          this.dropWatchHit();
          if (this.seq === this.extSeq) this.uncounted--; // the handler's first instruction did not run
          this.seq--;
          const p = this.peek();
          this.stop = 0;
          if (e instanceof Nondeterministic) {
            const message = `${e.instruction} at ${p.at}: its result is nondeterministic and only a --step trace records it (record with --step to replay past it)`;
            return { kind: 'nondeterministic', instruction: e.instruction, bytes: p.bytes, at: p.at, message };
          }
          const bytes = p.bytes.length ? ` ${Array.from(p.bytes, hex2).join(' ')}` : '';
          const msg = `unsupported instruction${bytes} at ${p.at}` + (e.reason ? ` (${e.reason})` : '');
          return { kind: 'unsupported', bytes: p.bytes, at: p.at, message: msg };
        }
        // an exception from the sink (or a bug): leave RIP/RSP at the instruction, then rethrow
        this.rewind();
        this.fl.bits = (this.fl.bits & ~RF) | this.startRf;
        this.stop = 0;
        throw e;
      }
    }
    const s = this.stop;
    this.stop = 0;
    if (s & STOP_SHUTDOWN) return { kind: 'shutdown', reason: this.shutdownReason ?? 'triple fault' };
    if (s & STOP_IO) return IO_EXIT;
    if (s & STOP_MMIO) return MMIO_EXIT;
    if (s & STOP_HLT) return HALTED;
    if (this.bpHit >= 0) return { kind: 'breakpoint', address: this.bpHit };
    // (read through a cast: TypeScript keeps the `null` assigned at the start, not seeing the loop's writes)
    const hit = this.watchHit as WatchHit | null;
    if (hit !== null) return { kind: 'watch', watch: hit.watch, address: hit.address };
    return { kind: 'limit' };
  }

  // ---------------------------------------------------------------- inspection
  /** "cccc:iiii" for 16-bit code, "cccc:iiiiiiii" for 32-bit, 16 digits for 64-bit RIPs above 4 GiB. */
  formatAt(cs: number, ip: number, bits: number, ipHi = 0): string {
    const sel = cs.toString(16).padStart(4, '0');
    if (bits === 64 && ipHi !== 0) return `${sel}:${(ipHi >>> 0).toString(16).padStart(8, '0')}${ip.toString(16).padStart(8, '0')}`;
    const w = bits === 16 && ip <= 0xffff ? 4 : 8;
    return `${sel}:${ip.toString(16).padStart(w, '0')}`;
  }

  /** Bytes at a linear address (RAM only, up to 15, within CS limit; no fault is raised). */
  private bytesAt(lin: number, ip: number, bits: number): Uint8Array {
    const out: number[] = [];
    const limit = bits === 64 ? Infinity : this.segLimit[CS]!;
    for (let k = 0; k < 15; k++) {
      if (ip + k > limit) break;
      // translate without side effects (no accessed bits, no TLB fill, no #PF)
      const pa = this.pg ? walk(this, (lin + k) % TWO48, ACC_SREAD, true) : lin + k;
      if (pa < 0) break;
      const r = this.mem.ramAt(pa);
      if (r === null) break;
      out.push(r.bytes[r.off]!);
    }
    return Uint8Array.from(out);
  }

  describe(lin: number, cs: number, ip: number, bits: number, ipHi = 0): DisassembledAt {
    const raw = this.bytesAt(lin, ip, bits);
    const i = new Insn();
    const st = decode(raw, raw.length, bits, i);
    const at = this.formatAt(cs, ip, bits, ipHi);
    if (st !== 0) return { at, bytes: raw, text: '(bad)' };
    const full = bits === 64 ? ipHi * TWO32 + ip : ip;
    return { at, bytes: raw.slice(0, i.len), text: formatInsn(i, full) };
  }

  peek(): DisassembledAt {
    return this.describe(this.ripLinear(), this.sel[CS]!, this.eip, this.bits, this.ripHi);
  }

  history(n: number): DisassembledAt[] {
    this.flushHistory();
    const count = Math.max(0, Math.min(n, HIST));
    const out: DisassembledAt[] = [];
    for (let k = count - 1; k >= 0; k--) {
      const h = (this.seq - k) & (HIST - 1);
      const lin = this.histLin[h]!;
      if (lin === -1) continue;
      const at = this.histAt[h]!;
      const tag = Math.floor(at / TWO32);
      out.push(this.describe(lin, tag & 0xffff, at % TWO32, [16, 32, 64][tag >> 16] ?? 16, this.histHi[h]!));
    }
    return out;
  }

  /** External interrupt or exception injected by the caller (Cpu.interrupt). */
  inject(vector: number, errorCode?: number): boolean {
    const ok = errorCode === undefined
      ? this.deliverException(vector, 0, false, true)
      : this.deliverException(vector, errorCode, this.pe && hasErrorCode(vector), false);
    this.stop &= ~STOP_SHUTDOWN;
    return ok;
  }

  /**
   * EFLAGS.AC may have changed (POPF, IRET, STAC/CLAC...). With SMAP a supervisor access to a
   * user page depends on it: the TLB never serves those (paging.ts), but the last read/written
   * page might be one, so it is forgotten.
   */
  acChanged(): void {
    if (this.pg && (this.cr4 & CR4_SMAP) !== 0) this.forgetFetchPage();
  }

}
