// The public interpreter object. A thin facade over Machine (machine.ts), which holds the state
// and the run loop.

import type { Regs, Sregs } from '../../cpu-state.js';
import { CS, TWO32, TWO48 } from './constants.js';
import { assertLittleEndianHost } from './endian.js';
import { loadRegs, loadState, regWordsEqual, saveRegWords, saveRegs, saveSregs } from './exchange.js';
import { FlagModel, UNDEF_CLASS_NAMES, type UndefContext } from './flag-model.js';
import { defaultJitMode } from './blocks.js';
import { Machine } from './machine.js';
import { knownMsr, readMsr, writeMsr } from './msr.js';
import { translateForDebugger } from './paging.js';
import { restoreSnapshot, takeSnapshot, type CpuSnapshot } from './snapshot.js';
import { stepJoinMatcher } from './step-model.js';
import type { CpuOptions, DisassembledAt, RamRegion, RunResult, UndefinedUse, WatchHit, Watchpoint } from './types.js';

export class Cpu {
  private readonly m: Machine;
  /** Guest RAM as given (CpuOptions.ram): the arrays the interpreter reads and writes in place. */
  readonly ram: readonly RamRegion[];
  /** The general registers' storage viewed as unsigned words (regWordsEqual). */
  private readonly r32u: Uint32Array;

  constructor(opts: CpuOptions) {
    assertLittleEndianHost();
    this.ram = opts.ram;
    this.m = new Machine(opts.ram, opts.sink, opts.cpuid, opts.vendor, opts.jit ?? defaultJitMode());
    this.r32u = new Uint32Array(this.m.r32.buffer, this.m.r32.byteOffset, this.m.r32.length);
    if (opts.flagModel) this.m.flagModel = new FlagModel(opts.flagModel);
    this.m.stepJoin = stepJoinMatcher(opts.stepJoins);
    this.m.recordedState = opts.recordedState ?? null;
  }

  /** Blocks compiled to JavaScript so far (CpuOptions.jit; blocks.ts). */
  get compiledBlocks(): number {
    return this.m.blocks?.compiled ?? 0;
  }

  /** Load architectural state (also clears a previous shutdown). */
  setState(regs: Regs, sregs: Sregs): void {
    loadState(this.m, regs, sregs);
    this.m.shutdownReason = null;
    this.m.pendingTrap = false;
  }

  getRegs(): Regs {
    return saveRegs(this.m);
  }

  /** The registers as struct kvm_regs words (36 u32, REG_NAMES order) into `out`, without bigints (replay's comparison). */
  getRegWords(out: Uint32Array): void {
    saveRegWords(this.m, out);
  }

  /** Whether the registers are the kvm_regs words `words`, but for the RFLAGS bits in `ignoreFlags` (what getRegWords would fill, compared). */
  regWordsEqual(words: Uint32Array, ignoreFlags = 0): boolean {
    return regWordsEqual(this.m, this.r32u, words, ignoreFlags);
  }

  getSregs(): Sregs {
    return saveSregs(this.m);
  }

  /**
   * Whether a segment, control or descriptor-table register may have been written since
   * clearSregsWritten() (true after setState and restore): replay compares sregs only then or
   * when the trace stored new ones.
   */
  get sregsWritten(): boolean {
    return this.m.sregsWritten;
  }

  clearSregsWritten(): void {
    this.m.sregsWritten = false;
  }

  /**
   * The registers as they were at the start of the instruction being executed, for an ExitSink
   * to call while the instruction reads (before it has written anything but RIP, RSP and RF).
   */
  stateAtInstructionStart(): { regs: Regs; sregs: Sregs; undefinedFlags: number } {
    return this.m.atInsnStart(() => ({ regs: saveRegs(this.m), sregs: saveSregs(this.m), undefinedFlags: this.m.fl.undef }));
  }

  /**
   * Execute up to maxInstructions; stop right after the first instruction that did IO/MMIO,
   * HLT, shutdown, or before an unsupported one.
   */
  run(maxInstructions: number): RunResult {
    return this.m.run(maxInstructions);
  }

  /**
   * Exactly one step: one instruction, or one KVM emulation of a REP string instruction (see
   * README "Steps"). Same as run(1).
   */
  step(): RunResult {
    return this.m.run(1);
  }

  /**
   * Steps executed so far (README "Steps"): one per instruction, one per KVM emulation of a REP
   * string instruction. An instruction that faults counts once, when its exception is delivered.
   */
  get instructions(): number {
    return this.m.instructions;
  }

  /** Results of nondeterministic instructions (RDTSC, RDRAND...) taken from CpuOptions.recordedState so far. */
  get recordedResults(): number {
    return this.m.recordedTaken;
  }

  /** RFLAGS bits architecturally undefined after the last retired instruction (0 if none). */
  get undefinedFlags(): number {
    return this.m.undefinedFlags;
  }

  /**
   * RFLAGS bits undefined since their last defined write: flags some earlier instruction left
   * undefined and nothing has set since (flag-model.ts).
   */
  get undefinedFlagsNow(): number {
    return this.m.fl.undef;
  }

  /**
   * The last read of a still-undefined flag, for naming it in a divergence: of one whose value
   * the flag model does not know if there was one (the likely cause), else of any.
   */
  get lastUndefinedUse(): UndefinedUse | null {
    const u = this.m.lastUnknownUse ?? this.m.lastUndefUse;
    if (u === null) return null;
    return { flags: u.flags, usedAt: u.useAt, setAt: u.setAt, setBy: UNDEF_CLASS_NAMES[u.cls] ?? 'an earlier instruction' };
  }

  /** Calls `hook` whenever an instruction leaves flags undefined (the flag probe's fitting). */
  observeUndefinedFlags(hook: ((cls: number, mask: number, ctx: UndefContext) => void) | null): void {
    this.m.undefProbe = hook;
    this.m.blocks?.clear(); // they may have left the probe's RFLAGS-before out
  }

  /** Force the given RFLAGS bits to the given values. */
  adoptFlags(mask: number, rflags: number): void {
    this.m.fl.assign(mask & 0x3f7fd5, rflags);
  }

  /** The last n (default 16, at most 256) instructions executed, oldest first. */
  history(n = 16): DisassembledAt[] {
    return this.m.history(n);
  }

  /** Disassemble the instruction at the current CS:IP. */
  peek(): DisassembledAt {
    return this.m.peek();
  }

  /**
   * Deliver an event `vector` now, with the current CS:RIP as return address (for replaying
   * injected events): through the IVT in real mode, the IDT otherwise. Without `errorCode` it
   * is an external interrupt (EXT = 1, no gate-DPL check, nothing pushed); with one it is an
   * exception that pushes `errorCode` in protected/long mode if the vector has an error code.
   * Returns false on a triple fault (the next run() reports the shutdown).
   */
  interrupt(vector: number, errorCode?: number): boolean {
    return this.m.inject(vector & 0xff, errorCode);
  }

  /**
   * Read a model-specific register (EFER, APIC_BASE, FS/GS/KERNEL_GS base, STAR/LSTAR/CSTAR/
   * SFMASK, SYSENTER_*, PAT, TSC_AUX, MISC_ENABLE...). Unknown MSRs throw.
   */
  getMsr(index: number): bigint {
    if (!knownMsr(index >>> 0) && !this.m.msrs.has(index >>> 0)) throw new Error(`unknown MSR 0x${(index >>> 0).toString(16)}`);
    return readMsr(this.m, index >>> 0);
  }

  /**
   * Set a model-specific register as the recorded guest had it (for state the trace holds
   * outside kvm_sregs). Unlike WRMSR this accepts any MSR index (it is then readable by the
   * guest) and skips the guest-visible checks except for EFER/FS/GS, which go through WRMSR.
   */
  setMsr(index: number, value: bigint): void {
    const i = index >>> 0;
    if (!knownMsr(i) || i === 0x10) {
      this.m.msrs.set(i, BigInt.asUintN(64, value));
      return;
    }
    try {
      writeMsr(this.m, i, value);
    } catch {
      throw new Error(`MSR 0x${i.toString(16)} cannot hold 0x${BigInt.asUintN(64, value).toString(16)}`);
    }
  }

  /** The x87 control, status and tag words (the full 16-bit tag word: 0xffff = all empty). */
  get x87(): { cw: number; sw: number; tw: number } {
    return { cw: this.m.fpuCw, sw: this.m.fpuSw, tw: this.m.fpuTw };
  }

  /** The current execution mode, for diagnostics. */
  get mode(): 'real' | 'v86' | 'protected16' | 'protected32' | 'compat16' | 'compat32' | 'long64' {
    const m = this.m;
    if (!m.pe) return 'real';
    if (m.v86) return 'v86';
    if (m.bits === 64) return 'long64';
    if (m.lma) return m.bits === 32 ? 'compat32' : 'compat16';
    return m.bits === 32 ? 'protected32' : 'protected16';
  }

  /** Current privilege level (0 in real mode). */
  get cpl(): number {
    return this.m.cpl;
  }

  // ---------------------------------------------------------------- snapshots (snapshot.ts)

  /**
   * Everything that decides how execution goes on, RAM included (pages written since the last
   * snapshot are copied, the others shared with it). Take it between runs.
   */
  snapshot(): CpuSnapshot {
    return takeSnapshot(this.m);
  }

  /** Back to a snapshot of this Cpu (or of one made from the same trace): running on repeats the original run. */
  restore(s: CpuSnapshot): void {
    restoreSnapshot(this.m, s);
  }

  // ---------------------------------------------------------------- debugger

  /**
   * Stop run() before an instruction at one of these linear addresses (48-bit in 64-bit mode),
   * with `{ kind: 'breakpoint' }`. Only at step boundaries: an instruction that runs within
   * another's step (an exception handler's first, the one after IRETQ in 64-bit mode) is not
   * stopped at. null or empty: none (the run loop then does not look).
   */
  setBreakpoints(addrs: ReadonlySet<number> | null): void {
    this.m.setBreakpoints(addrs);
  }

  /**
   * Stop run() after the step that reads/writes/accesses one of these linear ranges, with
   * `{ kind: 'watch' }` (or the step's exit, when it made one: see takeWatchHit). Data accesses
   * only (system-table and stack accesses of event delivery included, instruction fetches and
   * page walks not); an instruction that faults does not count.
   */
  setWatchpoints(list: readonly Watchpoint[]): void {
    this.m.setWatchpoints(list);
  }

  /** The next instruction is not stopped at by a breakpoint (resuming from one). */
  skipBreakpointOnce(): void {
    this.m.bpSkipSeq = this.m.seq;
  }

  /** The first watched access of the last run(), once (null after that, or if none). */
  takeWatchHit(): WatchHit | null {
    const hit = this.m.watchHit;
    this.m.watchHit = null;
    return hit;
  }

  /** Linear address of the next instruction (CS base + RIP; 48-bit in 64-bit mode). */
  get linearPc(): number {
    return this.m.ripLinear();
  }

  /**
   * Guest memory at a linear address, through paging when it is on, whatever the permissions;
   * null if a byte is unmapped or not RAM. No accessed/dirty bits, no faults, no MMIO.
   */
  readLinear(address: number, length: number): Uint8Array | null {
    const pieces = this.physRange(address, length);
    if (pieces === null) return null;
    const out = new Uint8Array(length);
    let k = 0;
    for (const [pa, n] of pieces) for (let j = 0; j < n; j++) out[k++] = this.m.mem.read8(pa + j);
    return out;
  }

  /** Writes guest RAM at a linear address like readLinear reads it; false (nothing written) if a byte is not RAM. */
  writeLinear(address: number, bytes: Uint8Array): boolean {
    const pieces = this.physRange(address, bytes.length);
    if (pieces === null) return false;
    // through the RAM write path: dirty pages, self-modifying-code and page-table checks
    let k = 0;
    for (const [pa, n] of pieces) for (let j = 0; j < n; j++) this.m.mem.write8(pa + j, bytes[k++]!);
    return true;
  }

  /**
   * A linear range as physical pieces [address, length] (one per 4 KiB page), or null if a byte
   * is unmapped or not RAM.
   */
  private physRange(address: number, length: number): Array<[number, number]> | null {
    const m = this.m;
    const out: Array<[number, number]> = [];
    for (let k = 0; k < length; ) {
      const lin = m.bits === 64 ? (address + k) % TWO48 : (address + k) >>> 0;
      const n = Math.min(length - k, 0x1000 - (lin % 0x1000));
      const pa = m.pg ? translateForDebugger(m, lin) : lin;
      if (pa < 0) return null;
      for (let j = 0; j < n; j++) if (!m.mem.isRam(pa + j)) return null;
      out.push([pa, n]);
      k += n;
    }
    return out;
  }

  /** Replace the general registers, RIP and RFLAGS (a debugger's register write). */
  setRegs(regs: Regs): void {
    loadRegs(this.m, regs);
    this.m.updateMode();
    this.m.acChanged();
  }

  /** `count` instructions disassembled from a linear address (default: the next instruction's). */
  disassemble(count: number, address?: number): DisassembledAt[] {
    const m = this.m;
    const out: DisassembledAt[] = [];
    let lin = address ?? m.ripLinear();
    for (let k = 0; k < count; k++) {
      let ip: number;
      let ipHi = 0;
      if (m.bits === 64) {
        const signed = lin >= TWO48 / 2 ? lin - TWO48 : lin;
        ipHi = Math.floor(signed / TWO32) | 0;
        ip = signed - ipHi * TWO32;
      } else ip = (lin - m.segBase[CS]!) >>> 0;
      const d = m.describe(lin, m.sel[CS]!, ip, m.bits, ipHi);
      out.push(d);
      lin = m.bits === 64 ? (lin + Math.max(1, d.bytes.length)) % TWO48 : (lin + Math.max(1, d.bytes.length)) >>> 0;
    }
    return out;
  }
}
