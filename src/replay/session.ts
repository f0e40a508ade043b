// A replay a debugger drives (DebugTarget): the interpreter stepping through a trace's records
// one instruction at a time or up to a breakpoint/watchpoint, checking every record as replay
// does, and going back by restoring a snapshot and re-executing exactly (docs/replay.md,
// "Snapshots and reverse execution").
//
// A position is (instructions, records): steps executed and records matched. Every position the
// session stops at has all exits of the last step compared, so it is reached the same way
// whether by stepping, continuing or seeking.
import type { Regs, Sregs } from '../cpu-state.js';
import type { TraceHeader, TraceRecord } from '../trace/format.js';
import { openTrace, type OpenedTrace, type ScanMark } from '../trace/reader.js';
import type { DebugTarget, Position, RunControl, StopReason } from './debug-target.js';
import { Replayer, type ReplayOptions } from './engine.js';
import { SessionRecords } from './session-records.js';
import { DEFAULT_SNAPSHOT_BOUNDS, SessionSnapshots, type SessionSnapshot, type StoredSnapshot } from './session-snapshots.js';
import type { Cpu, DisassembledAt } from './x86/index.js';

export type { SessionSnapshot } from './session-snapshots.js';

export interface SessionOptions extends Pick<ReplayOptions, 'maxInstructions' | 'budget'> {
  /** Instructions between two automatic snapshots to begin with (default 100,000; doubles when they are thinned out). */
  snapshotInterval?: number;
  /** Memory the snapshots may hold, in bytes (default 256 MiB; see SessionSnapshots). */
  snapshotMemory?: number;
  /** Snapshots kept at most (default 512). */
  maxSnapshots?: number;
  /** The guest's console bytes as records match, each record's once (re-executing after going back does not repeat them). */
  onConsole?: (bytes: Uint8Array) => void;
}

/** Steps between two polls of RunControl.interrupted (and yields to the event loop). */
const POLL = 100_000;
const TWO48 = 2 ** 48;

/** Where forward execution stops: at a step count, or once so many records matched. */
interface Goal {
  instructions?: number;
  records?: number;
}

interface Terminal {
  at: Position;
  reason: StopReason;
  timeline: number;
}

const STEP: StopReason = { kind: 'step' };
/** A single step stops at no breakpoint: it starts on one, and one step is all it runs. */
const NO_BREAKPOINTS: ReadonlySet<number> = new Set();

export class ReplaySession implements DebugTarget {
  private readonly replayer: Replayer;
  private readonly records: SessionRecords;
  private readonly snapshots: SessionSnapshots;
  /** The divergence or end of the current timeline, once reached. */
  private terminal: Terminal | undefined;
  /** The current timeline (see edited()) and the highest id given out. */
  private timeline = 0;
  private timelines = 0;
  /** The sink's lookahead: record k after the one being replayed. */
  private readonly peek = (k: number) => this.records.peek(this.replayer.matchedRecords + k);

  private constructor(private readonly trace: OpenedTrace, opts: SessionOptions) {
    this.replayer = new Replayer(trace.header, { maxInstructions: opts.maxInstructions, budget: opts.budget, onConsole: opts.onConsole });
    this.records = new SessionRecords(trace);
    this.snapshots = new SessionSnapshots({
      interval: opts.snapshotInterval ?? DEFAULT_SNAPSHOT_BOUNDS.interval,
      memory: opts.snapshotMemory ?? DEFAULT_SNAPSHOT_BOUNDS.memory,
      count: opts.maxSnapshots ?? DEFAULT_SNAPSHOT_BOUNDS.count,
    });
    this.snapshots.add(this.capture());
  }

  /** Opens a trace (TraceError if it cannot be read) at its start: instruction 0, no record matched. */
  static async open(file: string, opts: SessionOptions = {}): Promise<ReplaySession> {
    const trace = await openTrace(file);
    try {
      return new ReplaySession(trace, opts);
    } catch (e) {
      await trace.close();
      throw e;
    }
  }

  close(): Promise<void> {
    return this.trace.close();
  }

  get header(): TraceHeader {
    return this.trace.header;
  }

  /** The interpreter at the current position (read it; change it only through this session). */
  get cpu(): Cpu {
    return this.replayer.cpu;
  }

  get position(): Position {
    return { instructions: this.cpu.instructions, records: this.replayer.matchedRecords };
  }

  get mode(): DebugTarget['mode'] {
    return this.cpu.mode;
  }

  /** The divergence or end, when the current position is at it. */
  get stopped(): StopReason | undefined {
    return this.atTerminal() ? this.terminal!.reason : undefined;
  }

  /** Snapshots held, the current interval between them and the bytes they take (docs/replay.md). */
  get snapshotStats(): { count: number; interval: number; bytes: number } {
    return { count: this.snapshots.count, interval: this.snapshots.interval, bytes: this.snapshots.bytes };
  }

  /** Trace records held in memory (a window around the current one). */
  get recordsHeld(): number {
    return this.records.held;
  }

  regs(): Regs {
    return this.cpu.getRegs();
  }

  x87(): { cw: number; sw: number; tw: number } {
    return this.cpu.x87;
  }

  sregs(): Sregs {
    return this.cpu.getSregs();
  }

  msr(index: number): bigint | undefined {
    try {
      return this.cpu.getMsr(index);
    } catch {
      return undefined;
    }
  }

  readLinear(address: number, length: number): Uint8Array | null {
    return this.cpu.readLinear(toLinear(address), length);
  }

  disassemble(count: number, address?: number): DisassembledAt[] {
    return this.cpu.disassemble(count, address === undefined ? undefined : toLinear(address));
  }

  writeLinear(address: number, bytes: Uint8Array): boolean {
    if (!this.cpu.writeLinear(toLinear(address), bytes)) return false;
    this.edited();
    return true;
  }

  setRegs(regs: Partial<Regs>): void {
    this.cpu.setRegs({ ...this.cpu.getRegs(), ...regs });
    this.edited();
  }

  recordAt(index: number): Promise<TraceRecord | undefined> {
    return this.records.at(index);
  }

  /** Scan marks of this trace from an earlier scan (any records): the session re-reads records from the nearest one. */
  addScanMarks(marks: readonly ScanMark[]): void {
    this.records.addMarks(marks);
  }

  /** The state here, to keep elsewhere (an on-disk snapshot index): plain data. */
  captureState(): SessionSnapshot {
    const { at, cpu, replayer } = this.capture();
    return { at, cpu, replayer };
  }

  /** Back to a state captureState() gave for this trace (e.g. read from disk); it joins the session's snapshots. */
  restoreState(s: SessionSnapshot): void {
    const stored = { ...s, timeline: 0 };
    this.restore(stored);
    this.snapshots.add(stored);
  }

  async stepInstruction(ctl?: Pick<RunControl, 'watchpoints'>): Promise<StopReason> {
    const watch = ctl?.watchpoints.length ? { breakpoints: NO_BREAKPOINTS, watchpoints: ctl.watchpoints } : undefined;
    return (await this.forward({ instructions: this.cpu.instructions + 1 }, watch)) ?? STEP;
  }

  async continue(ctl: RunControl): Promise<StopReason> {
    return (await this.forward({}, ctl, true))!;
  }

  async reverseStepInstruction(): Promise<StopReason> {
    const n = this.cpu.instructions;
    if (n === 0) return { kind: 'start' };
    return (await this.seekTo(n - 1)) ?? STEP;
  }

  /**
   * Back to the last breakpoint or watchpoint hit before the current position: each interval
   * between two snapshots, newest first, is re-executed with the stops set and its last hit
   * kept. A watchpoint stops just before the instruction that accessed the range.
   */
  async reverseContinue(ctl: RunControl): Promise<StopReason> {
    let end = this.cpu.instructions;
    while (end > 0) {
      const from = this.snapshots.before(end);
      this.restore(from);
      let last: { at: number; reason: StopReason } | undefined;
      for (let resume = false; ; resume = true) {
        const r = await this.forward({ instructions: end }, ctl, resume);
        if (r === undefined) break;
        if (r.kind === 'breakpoint') last = { at: this.cpu.instructions, reason: r };
        else if (r.kind === 'watchpoint') last = { at: this.cpu.instructions - 1, reason: r };
        else return r;
      }
      if (last !== undefined) return (await this.seekTo(last.at)) ?? last.reason;
      end = from.at.instructions;
    }
    return (await this.seekTo(0)) ?? { kind: 'start' };
  }

  async seekInstruction(instructions: number): Promise<StopReason | undefined> {
    return this.seekTo(Math.max(0, Math.floor(instructions)));
  }

  async seekRecord(index: number): Promise<StopReason | undefined> {
    const i = Math.max(0, Math.floor(index));
    const s = this.snapshots.beforeRecord(i);
    // from here if record i is still ahead and no snapshot lies in between
    if (!(this.replayer.matchedRecords <= i && this.cpu.instructions >= s.at.instructions)) this.restore(s);
    return this.forward({ records: i + 1 });
  }

  /** To the first position at instruction n, from the nearest snapshot (or from here, if that is nearer). */
  private async seekTo(n: number): Promise<StopReason | undefined> {
    const s = this.snapshots.atOrBefore(n);
    const here = this.cpu.instructions;
    if (!(here <= n && here >= s.at.instructions)) this.restore(s);
    return this.forward({ instructions: n });
  }

  /**
   * Replays forward until the goal (undefined) or a stop: a breakpoint or watchpoint of `ctl`
   * (`resume`: not the breakpoint at the instruction about to run), the divergence, the end,
   * an interruption. Takes the periodic snapshots on the way.
   */
  private async forward(goal: Goal, ctl?: RunControl, resume = false): Promise<StopReason | undefined> {
    if (this.atTerminal()) return this.reached(goal) ? undefined : this.terminal!.reason;
    const cpu = this.cpu;
    cpu.setBreakpoints(ctl ? new Set([...ctl.breakpoints].map(toLinear)) : null);
    cpu.setWatchpoints(ctl ? ctl.watchpoints.map((w) => ({ ...w, address: toLinear(w.address) })) : []);
    if (resume) cpu.skipBreakpointOnce();
    try {
      let polled = cpu.instructions;
      let watched: StopReason | undefined;
      for (;;) {
        // (exits of the last step still to compare run nothing: no limit needed)
        let max = 0;
        if (this.replayer.pendingExits === 0) {
          if (watched) return watched;
          const since = this.maybeSnapshot();
          if (this.reached(goal)) return undefined;
          if (ctl?.interrupted && cpu.instructions - polled >= POLL) {
            polled = cpu.instructions;
            await new Promise((r) => setImmediate(r)); // (lets the front end see its Ctrl-C)
            if (ctl.interrupted()) return { kind: 'interrupted' };
          }
          max = Math.min(POLL, this.snapshots.interval - since, goal.instructions === undefined ? Infinity : goal.instructions - cpu.instructions);
        }
        const i = this.replayer.matchedRecords;
        const ready = this.records.ready(i);
        const rec = ready !== null ? ready : await this.records.get(i);
        if (rec === undefined || this.replayer.stopped) return await this.end();
        const a = this.replayer.advance(rec, this.peek, max);
        const hit = cpu.takeWatchHit();
        if (a.kind === 'diverged') return this.stopAt({ kind: 'divergence', divergence: a.divergence });
        if (hit !== null && ctl) watched = { kind: 'watchpoint', watch: hit.watch, address: hit.address };
        if (a.kind === 'running' && a.breakpoint !== undefined) return { kind: 'breakpoint', address: a.breakpoint };
      }
    } finally {
      cpu.setBreakpoints(null);
      cpu.setWatchpoints([]);
    }
  }

  private reached(goal: Goal): boolean {
    return (goal.instructions !== undefined && this.cpu.instructions >= goal.instructions)
      || (goal.records !== undefined && this.replayer.matchedRecords >= goal.records);
  }

  /** Takes a snapshot if one is due; returns the instructions since the newest one at or before here. */
  private maybeSnapshot(): number {
    const n = this.cpu.instructions;
    const since = n - this.snapshots.atOrBefore(n).at.instructions;
    if (since < this.snapshots.interval) return since;
    this.snapshots.add(this.capture());
    return 0;
  }

  private async end(): Promise<StopReason> {
    const { footer, truncated } = await this.records.ending();
    const result = this.replayer.finish(footer, truncated);
    return this.stopAt(result.divergence ? { kind: 'divergence', divergence: result.divergence } : { kind: 'end', result });
  }

  private stopAt(reason: StopReason): StopReason {
    this.terminal = { at: this.position, reason, timeline: this.timeline };
    return reason;
  }

  private atTerminal(): boolean {
    const t = this.terminal;
    return t !== undefined && t.at.instructions === this.cpu.instructions && t.at.records === this.replayer.matchedRecords;
  }

  private capture(): StoredSnapshot {
    return { at: this.position, cpu: this.cpu.snapshot(), replayer: this.replayer.state(), timeline: this.timeline };
  }

  private restore(s: StoredSnapshot): void {
    this.cpu.restore(s.cpu);
    this.replayer.restoreState(s.replayer);
    if (s.timeline < this.timeline) {
      // back before a debugger write: the run it forked off is gone
      this.snapshots.dropWhere((x) => x.timeline > s.timeline);
      if (this.terminal && this.terminal.timeline > s.timeline) this.terminal = undefined;
      this.timeline = s.timeline;
    }
  }

  /**
   * A debugger write forked the run here: what lies ahead (snapshots, the divergence or end) is
   * no longer known. The new timeline starts with a snapshot of the changed state, so going
   * back to here keeps the change; going back further restores the original run.
   */
  private edited(): void {
    const here = this.position;
    this.snapshots.dropWhere((s) => s.at.instructions > here.instructions || (s.at.instructions === here.instructions && s.at.records > here.records));
    this.timeline = ++this.timelines;
    if (this.atTerminal()) this.terminal!.timeline = this.timeline;
    else this.terminal = undefined;
    if (this.replayer.pendingExits === 0) this.snapshots.add(this.capture());
  }
}

/** A debugger's address as the interpreter's linear address: 64-bit canonical addresses as 48-bit ones. */
function toLinear(address: number): number {
  if (address < 0) return address + TWO48;
  if (address >= 2 ** 63) return address - 2 ** 64 + TWO48;
  return address;
}
