// The public interpreter object. A thin facade over Machine (machine.ts), which holds the state
// and the run loop.

import type { Regs, Sregs } from '../../cpu-state.js';
import { assertLittleEndianHost } from './endian.js';
import { loadState, saveRegs, saveSregs } from './exchange.js';
import { FlagModel, UNDEF_CLASS_NAMES, type UndefContext } from './flag-model.js';
import { Machine } from './machine.js';
import { knownMsr, readMsr, writeMsr } from './msr.js';
import { stepJoinMatcher } from './step-model.js';
import type { CpuOptions, DisassembledAt, RunResult, UndefinedUse } from './types.js';

export class Cpu {
  private readonly m: Machine;

  constructor(opts: CpuOptions) {
    assertLittleEndianHost();
    this.m = new Machine(opts.ram, opts.sink, opts.cpuid, opts.vendor);
    if (opts.flagModel) this.m.flagModel = new FlagModel(opts.flagModel);
    this.m.stepJoin = stepJoinMatcher(opts.stepJoins);
    this.m.recordedState = opts.recordedState ?? null;
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

  getSregs(): Sregs {
    return saveSregs(this.m);
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
}
