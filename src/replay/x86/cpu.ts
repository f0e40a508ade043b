// The public interpreter object. A thin facade over Machine (machine.ts), which holds the state
// and the run loop.

import type { Regs, Sregs } from '../../cpu-state.js';
import { assertLittleEndianHost } from './endian.js';
import { loadState, saveRegs, saveSregs } from './exchange.js';
import { Machine } from './machine.js';
import type { CpuOptions, DisassembledAt, RunResult } from './types.js';

export class Cpu {
  private readonly m: Machine;

  constructor(opts: CpuOptions) {
    assertLittleEndianHost();
    this.m = new Machine(opts.ram, opts.sink, opts.cpuid, opts.vendor);
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
   * Execute up to maxInstructions; stop right after the first instruction that did IO/MMIO,
   * HLT, shutdown, or before an unsupported one.
   */
  run(maxInstructions: number): RunResult {
    return this.m.run(maxInstructions);
  }

  /** Exactly one instruction (or one iteration of a rep-prefixed ins/outs). Same as run(1). */
  step(): RunResult {
    return this.m.run(1);
  }

  /**
   * Instructions retired so far. A REP string iteration that leaves RIP at the instruction
   * (INS/OUTS, or an MMIO iteration) does not count; the iteration that completes it does.
   * An instruction that faults counts once, when its exception is delivered.
   */
  get instructions(): number {
    return this.m.instructions;
  }

  /** RFLAGS bits architecturally undefined after the last retired instruction (0 if none). */
  get undefinedFlags(): number {
    return this.m.undefinedFlags;
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
   * Deliver an external interrupt / exception `vector` now, through the IVT, with the
   * current CS:IP as return address (for replaying injected events). Returns false on a
   * triple fault.
   */
  interrupt(vector: number): boolean {
    return this.m.deliverException(vector & 0xff);
  }
}
