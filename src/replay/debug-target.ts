// What a debugger front end (the gdb stub, `vmtrace show`) needs from a replay: the guest's
// state at the current position, forward and reverse execution that stops at breakpoints,
// watchpoints and the first divergence, and seeking by instruction count or record number.
// ReplaySession (session.ts) implements it over the interpreter and the trace.
import type { Regs, Sregs } from '../cpu-state.js';
import type { TraceHeader, TraceRecord } from '../trace/format.js';
import type { Divergence, ReplayResult } from './engine.js';
import type { DisassembledAt } from './x86/index.js';

export type WatchKind = 'write' | 'read' | 'access';

/** A watched range of guest-linear (virtual) addresses. */
export interface Watchpoint {
  kind: WatchKind;
  address: number;
  length: number;
}

/** Where a replay stands: after `instructions` steps, `records` records matched. */
export interface Position {
  /** Steps executed since the start (Cpu.instructions: exact, also after reverse execution). */
  instructions: number;
  /** Records of the trace matched so far (the next one to check has this index). */
  records: number;
}

export type StopReason =
  /** A step (stepInstruction / reverseStepInstruction) completed. */
  | { kind: 'step' }
  /** The next instruction to execute is at a breakpoint (linear address); it has not run. */
  | { kind: 'breakpoint'; address: number }
  /** Forward: the instruction just executed accessed a watched range; reverse: the next one does. */
  | { kind: 'watchpoint'; watch: WatchKind; address: number }
  /** Replay and recording disagree here: the position is just before the mismatching record was accepted. */
  | { kind: 'divergence'; divergence: Divergence }
  /** Forward: the trace's guest ended (or the trace ran out); nothing more to execute. */
  | { kind: 'end'; result: ReplayResult }
  /** Reverse: the start of the replay (instruction 0) was reached. */
  | { kind: 'start' }
  /** The caller's `interrupted()` returned true (gdb's Ctrl-C). */
  | { kind: 'interrupted' };

export interface RunControl {
  /** Linear addresses of instructions to stop before. */
  breakpoints: ReadonlySet<number>;
  watchpoints: readonly Watchpoint[];
  /** Polled every so often (at least every ~100k instructions) during long runs. */
  interrupted?: () => boolean;
}

export interface DebugTarget {
  readonly header: TraceHeader;
  readonly position: Position;
  /** Guest mode now, which picks the gdb register layout. */
  readonly mode: 'real' | 'v86' | 'protected16' | 'protected32' | 'compat16' | 'compat32' | 'long64';
  regs(): Regs;
  sregs(): Sregs;
  /** MSR value (FS/GS/KERNEL_GS base…), undefined if the interpreter does not model it. */
  msr(index: number): bigint | undefined;
  /** x87 control, status and full tag words (Cpu.x87); optional: gdb's fctrl/fstat/ftag read 0 without it. */
  x87?(): { cw: number; sw: number; tw: number };
  /** Guest-linear memory through the guest's segmentation-free linear view and paging; null where unmapped. */
  readLinear(address: number, length: number): Uint8Array | null;
  /** Disassembly of `count` instructions from a linear address (default: the current RIP). */
  disassemble(count: number, address?: number): DisassembledAt[];
  /**
   * Debugger writes (gdb's M/P packets): the replay goes on from the changed state and will
   * likely diverge; reverse execution restores snapshots taken before the change (it is lost).
   */
  writeLinear(address: number, bytes: Uint8Array): boolean;
  setRegs(regs: Partial<Regs>): void;
  /** A record of the trace by index (undefined past its end), for `monitor` commands. */
  recordAt(index: number): Promise<TraceRecord | undefined>;
  /** Set by a divergence or the end of the trace; forward execution is refused past it. */
  readonly stopped: StopReason | undefined;

  /**
   * One step. With `ctl`, a watched access of that step stops with 'watchpoint' instead of
   * 'step' (gdb's stepi over a write to a watched variable; its breakpoints are not looked at).
   */
  stepInstruction(ctl?: Pick<RunControl, 'watchpoints'>): Promise<StopReason>;
  continue(ctl: RunControl): Promise<StopReason>;
  reverseStepInstruction(): Promise<StopReason>;
  reverseContinue(ctl: RunControl): Promise<StopReason>;
  /** Go to exactly this position (forward or back), through the nearest snapshot. */
  seekInstruction(instructions: number): Promise<StopReason | undefined>;
  /** The state right after record `index` was matched (its registers are the record's). */
  seekRecord(index: number): Promise<StopReason | undefined>;
}
