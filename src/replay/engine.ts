// The replay engine: re-executes a trace's guest in the x86 interpreter, feeds it the recorded
// inputs, and checks every exit (every instruction, for --step traces) against the trace.
import { loadMemory } from '../boot/memory.js';
import { ConsoleDecoder } from '../devices/console-output.js';
import { EXIT, exitReasonName } from '../trace/exit-reasons.js';
import type { TraceFooter, TraceHeader, TraceRecord } from '../trace/format.js';
import { openTrace } from '../trace/reader.js';
import { diffPayload, diffRegisters, diffSegments, REG_WORDS, RFLAGS_WORD, type ActualExit, type FieldDiff } from './compare.js';
import { RecordRing, RecordSlot } from './record-view.js';
import { Cpu, flagNames, type CpuOptions, type DisassembledAt, type ExitSink, type RunResult } from './x86/index.js';

export type DivergenceKind =
  | 'reason' // the guest reached a different kind of exit
  | 'payload' // same exit kind, different port/address/size/direction/data
  | 'registers' // registers (or segment/control registers) differ
  | 'unsupported' // the interpreter met an instruction it does not implement
  | 'nondeterministic' // an exit trace reached RDTSC/RDRAND/…, whose result only --step traces record
  | 'no-exit' // the guest ran --max-instructions without reaching the recorded exit
  | 'trace-ended'; // the trace's guest ended (HLT, …) but the records stop short of it

export interface Divergence {
  kind: DivergenceKind;
  /** Index of the record (exit, or instruction in a --step trace) that did not match. */
  index: number;
  /** Byte offset of that record in the trace file. */
  offset: number;
  message: string;
  fields: FieldDiff[];
  /** Registers that differ (full values), when the payload matched. */
  registers: FieldDiff[];
  /** The last instructions executed, oldest first. */
  history: DisassembledAt[];
  /**
   * The last read of a flag an earlier instruction left undefined before this point: when the
   * divergence follows from it, the cause is host-dependent (docs/replay.md, "Undefined flags").
   */
  undefinedUse?: { flags: string; usedAt: string; setAt: string; setBy: string };
}

export interface ReplayResult {
  ok: boolean;
  /** Records checked and matched. */
  matched: number;
  exits: number;
  instructions: number;
  singleStep: boolean;
  /** How the recording ended, per its footer (undefined: the trace is truncated). */
  recordedEnd: TraceFooter['endReason'] | undefined;
  truncated: boolean;
  /** The exit status the guest asked for (exit devices), per the footer. */
  status?: number;
  /** A note on how replay ended when it matched (emulation failure, truncated trace, …). */
  note?: string;
  /**
   * Records at which flags left undefined differed from the recording's values and were taken
   * from it (host-dependent, not a divergence), and the first of them.
   */
  undefinedFlags: { adopted: number; first?: { index: number; flags: string } };
  divergence?: Divergence;
}

export interface ReplayOptions {
  /** Receives the guest's console bytes as matched exits reproduce them (the CLI buffers them: ConsoleWriter). */
  onConsole?: (bytes: Uint8Array) => void;
  /**
   * Bound on instructions between two records before giving up (divergence `no-exit`). Default:
   * the budget derived from the trace (DEFAULT_BUDGET, docs/replay.md "Instruction budget");
   * given, it replaces that budget: this many per record, no total bound.
   */
  maxInstructions?: number;
  /**
   * Called after every matched record and every ~1M instructions executed, with how far replay
   * is (a progress display throttles it; src/cli/progress.ts).
   */
  onProgress?: (p: ReplayProgress) => void;
  /** The default budget's numbers (DEFAULT_BUDGET), for tests; ignored with maxInstructions. */
  budget?: { perRecord: number; base: number; total: number };
  /**
   * Called for every matched record (by position in the trace) with the RFLAGS bits undefined
   * there: left undefined by some instruction and not written since (vmtrace diff classifies
   * flag differences confined to them as host-dependent, src/inspect/undefined-flags.ts), and
   * the interpreter standing right after the record's instruction (`cpu.history(1)`: the one
   * that made the exit; `inspect --exits --disasm`, src/inspect/disasm-exits.ts). Read only.
   */
  onMatched?: (index: number, undefinedFlags: number, cpu: Cpu) => void;
  /**
   * Take the recorded values of flags still undefined at a matched record (default true). false
   * keeps the interpreter's own values, so flags stay undefined until the guest writes them:
   * what onMatched needs to see how long a flag stays undefined (adopting a value defines it).
   */
  adoptUndefinedFlags?: boolean;
}

export interface ReplayProgress {
  /** Records matched so far, of which exits. */
  records: number;
  exits: number;
  instructions: number;
  /** Byte offset in the trace file of the record being checked (how much has been read). */
  offset: number;
}

/**
 * The default instruction budget of an exit trace (docs/replay.md, "Instruction budget"): at most
 * `perRecord` instructions between two records, and at most `base + total * n` instructions in
 * all to reach record #n, so that replay time is bounded by the trace's length, whatever a
 * (crafted) trace makes the guest do. The committed goldens need at most 2.9 M instructions
 * between two records (bench-64's first exit) and 0.18 M per record on average (compute).
 * `--step` traces need none: each record is one step.
 */
export const DEFAULT_BUDGET = { perRecord: 64_000_000, base: 64_000_000, total: 1_000_000 } as const;

const CHUNK = 1 << 20;
/** Records replayTrace reads ahead of the one it checks, for the later exits of a step (as SessionRecords). */
const LOOKAHEAD = 2048;
/** No exit: what the run made when it stopped without one (it matches no record). */
const NO_EXIT = -1;

/**
 * One of the exits an interpreter step made, as KVM reports them: consecutive port accesses of
 * one instruction (a REP INS read-ahead) are one IO exit, every MMIO access is one MMIO exit. A
 * step can make several: `rep insb` into MMIO is an IO exit then MMIO writes, `rep outsb` from
 * MMIO an MMIO read then an IO exit, a read-modify-write of MMIO a read then a write
 * (docs/exit-semantics.md); each of them is a record, with the registers after the step, except
 * an exit followed by an MMIO read of the same instruction (a second operand, the second page of
 * an access): KVM has not completed the instruction then, so that record has the registers from
 * before it (`before`). Reused step after step (RecordedSink's pool): nothing made per exit.
 */
class StepExit {
  mmio = false;
  out = false;
  /** Port, or MMIO address. */
  port = 0;
  size = 0;
  count = 0;
  /** The bytes moved: bytes[0, n). */
  bytes: Uint8Array = new Uint8Array(16);
  n = 0;
  /** The record this exit is compared with, whose data answers its reads. */
  rec: RecordSlot | undefined = undefined;
  /** Bytes of rec's input consumed so far (a rep ins spans iterations). */
  fed = 0;
  /** The state before the instruction, when a later MMIO read of it follows this exit. */
  before: StateBefore | undefined = undefined;

  reset(mmio: boolean, out: boolean, port: number, size: number, rec: RecordSlot | undefined): void {
    this.mmio = mmio;
    this.out = out;
    this.port = port;
    this.size = size;
    this.count = 0;
    this.n = 0;
    this.rec = rec;
    this.fed = 0;
    this.before = undefined;
  }

  push(byte: number): void {
    if (this.n === this.bytes.length) {
      const grown = new Uint8Array(this.n * 2);
      grown.set(this.bytes);
      this.bytes = grown;
    }
    this.bytes[this.n++] = byte;
  }

  get reason(): number {
    return this.mmio ? EXIT.MMIO : EXIT.IO;
  }

  /** Same payload as `rec`'s: what diffPayload compares, compared without making anything. */
  samePayload(rec: RecordSlot): boolean {
    if (!this.mmio && rec.hasIo) {
      if (rec.ioPort !== this.port || rec.ioOut !== this.out || rec.ioSize !== this.size || rec.ioCount !== this.count) return false;
      // IN data is what the trace fed the guest; only OUT data is the guest's own.
      return !this.out || sameBytes(rec.ioData, rec.ioAt, rec.ioLen, this.bytes, this.n);
    }
    if (this.mmio && rec.hasMmio) {
      if (rec.mmioAddress !== this.port || rec.mmioWrite !== this.out || rec.mmioLength !== this.size) return false;
      return !this.out || sameBytes(rec.mmioData, rec.mmioAt, rec.mmioLen, this.bytes, this.n);
    }
    return true;
  }

  /** In the shape of a record's payload (for reports). */
  actual(): ActualExit {
    const data = this.bytes.slice(0, this.n);
    return this.mmio
      ? { reason: 'MMIO', mmio: { address: this.port, length: this.size, write: this.out, data } }
      : { reason: 'IO', io: { port: this.port, size: this.size, direction: this.out ? 'out' : 'in', count: this.count, data } };
  }
}

function sameBytes(a: Uint8Array, at: number, len: number, b: Uint8Array, n: number): boolean {
  if (len !== n) return false;
  for (let i = 0; i < n; i++) if (a[at + i] !== b[i]) return false;
  return true;
}

type StateBefore = ReturnType<Cpu['stateAtInstructionStart']>;

/** Answers the interpreter's port/MMIO accesses from the expected records and remembers them. */
class RecordedSink implements ExitSink {
  expected: RecordSlot | undefined;
  /** The k-th record after `expected` (k >= 1), for the later exits of a step. */
  peek: (k: number) => RecordSlot | undefined = () => undefined;
  /** The CPU state at the start of the instruction being executed. */
  stateBefore: (() => StateBefore) | undefined;
  /** The step's exits: exit(0) … exit(count - 1). */
  count = 0;
  private readonly pool: StepExit[] = [];

  expect(rec: RecordSlot | undefined): void {
    this.expected = rec;
    this.count = 0;
  }

  exit(k: number): StepExit {
    return this.pool[k]!;
  }

  /** The exit an access belongs to: the current one if it continues it, else a new one. */
  private exitFor(mmio: boolean, out: boolean, port: number, size: number): StepExit {
    const n = this.count;
    if (n > 0) {
      const last = this.pool[n - 1]!;
      if (!mmio && !last.mmio && last.out === out && last.port === port && last.size === size) return last;
      if (mmio && !out) last.before ??= this.stateBefore?.();
    }
    const e = (this.pool[n] ??= new StepExit());
    e.reset(mmio, out, port, size, n === 0 ? this.expected : this.peek(n));
    this.count = n + 1;
    return e;
  }

  ioIn(port: number, size: 1 | 2 | 4): number {
    const e = this.exitFor(false, false, port, size);
    const r = e.rec;
    const recorded = r !== undefined && r.hasIo && !r.ioOut;
    let v = 0;
    for (let i = 0; i < size; i++) v |= ((recorded ? r.ioByte(e.fed + i) : undefined) ?? 0xff) << (8 * i);
    e.fed += size;
    this.add(e, size, v);
    return v >>> 0;
  }

  ioOut(port: number, size: 1 | 2 | 4, value: number): void {
    this.add(this.exitFor(false, true, port, size), size, value);
  }

  mmioRead(addr: number, size: number): bigint {
    const e = this.exitFor(true, false, addr, size);
    const r = e.rec;
    const recorded = r !== undefined && r.hasMmio && !r.mmioWrite;
    let v = 0n;
    for (let i = size - 1; i >= 0; i--) v = (v << 8n) | BigInt((recorded ? r.mmioByte(i) : undefined) ?? 0xff);
    e.count = 1;
    if (recorded) for (let i = 0; i < Math.min(size, r.mmioLen); i++) e.push(r.mmioByte(i)!);
    return v;
  }

  mmioWrite(addr: number, size: number, value: bigint): void {
    const e = this.exitFor(true, true, addr, size);
    e.count = 1;
    for (let i = 0; i < size; i++) e.push(Number((value >> BigInt(8 * i)) & 0xffn));
  }

  private add(e: StepExit, size: number, value: number): void {
    e.count++;
    for (let i = 0; i < size; i++) e.push((value >>> (8 * i)) & 0xff);
  }
}

const REASON_OF: Record<RunResult['kind'], string> = {
  exit: 'IO',
  hlt: 'HLT',
  shutdown: 'SHUTDOWN',
  unsupported: 'UNSUPPORTED',
  nondeterministic: 'NONDETERMINISTIC',
  // (the run stopped between steps for a debugger: advance() never compares these)
  breakpoint: 'none',
  watch: 'none',
  limit: 'none',
};

/** How far Replayer.advance() got toward a record. */
export type Advance =
  /**
   * Not there yet: the instruction limit was reached, or a breakpoint (`breakpoint`: its
   * address; the instruction has not run) or a watchpoint (Cpu.takeWatchHit) stopped the run.
   */
  | { kind: 'running'; breakpoint?: number }
  /** The record matched (the step may have made more exits: Replayer.pendingExits). */
  | { kind: 'matched' }
  | { kind: 'diverged'; divergence: Divergence };

const RUNNING: Advance = { kind: 'running' };
const MATCHED: Advance = { kind: 'matched' };

/** The replayer's own state between two steps (no exits left to compare), for snapshots; plain data. */
export interface ReplayerState {
  matched: number;
  exits: number;
  note: string | null;
  undefinedFlags: { adopted: number; first?: { index: number; flags: string } };
  stopped: boolean;
  /** Steps executed when the run toward the next record began (its budget counts from there); null: not begun. */
  recordStart: number | null;
}

export function vendorOf(header: TraceHeader): 'intel' | 'amd' {
  return /amd/i.test(header.host.cpuVendor) ? 'amd' : 'intel';
}

/**
 * A CPU set up exactly as the trace header describes the guest's start. `recordedState`: where
 * nondeterministic instructions take their results (the registers of the record being checked).
 */
export function cpuFromHeader(header: TraceHeader, sink: ExitSink, recordedState?: CpuOptions['recordedState']): Cpu {
  const ram = header.memory.map((r) => ({ base: r.base, bytes: new Uint8Array(r.size) }));
  loadMemory(ram, header.initialMemory);
  const cpu = new Cpu({ ram, sink, cpuid: header.boot.cpuid, vendor: vendorOf(header), flagModel: header.hostModel?.flags, stepJoins: header.hostModel?.step.joins, recordedState });
  cpu.setState(header.boot.regs, header.boot.sregs);
  return cpu;
}

export async function replayTrace(file: string, opts: ReplayOptions = {}): Promise<ReplayResult> {
  const trace = await openTrace(file);
  try {
    if (trace.header.arch === 'aarch64') {
      // loaded only for aarch64 traces: x86 replay does not pay for the A64 interpreter
      const { replayA64Trace } = await import('../arch/aarch64/replay.js');
      return await replayA64Trace(trace, opts);
    }
    const replayer = new Replayer(trace.header, opts);
    // the record being checked, then the lookahead the later exits of one step (an IO exit and
    // the MMIO writes of a rep ins, …) take their input from: copied out of the scanner into
    // reused slots, so that nothing is made per record. Read in batches: the ring is filled
    // up when the lookahead would run short, then ~2,048 records are checked in a row, rather
    // than switching between decoding and checking at every record.
    const s = trace.scan();
    const ring = new RecordRing(2 * LOOKAHEAD);
    const peek = (k: number) => ring.at(k);
    let more = true;
    let failure: unknown;
    for (;;) {
      if (more && ring.size <= LOOKAHEAD) {
        try {
          while (!ring.full && s.next()) ring.push(s);
          if (!ring.full) more = await s.read();
        } catch (e) {
          // a bad record: the ones before it are checked first
          failure = e;
          more = false;
        }
        continue;
      }
      const rec = ring.at(0);
      if (rec === undefined) break;
      const divergence = replayer.checkSlot(rec, peek);
      if (divergence) return replayer.result(trace.footer, trace.truncated, divergence);
      if (replayer.stopped) break;
      ring.shift();
    }
    if (failure !== undefined) throw failure;
    return replayer.finish(trace.footer, trace.truncated);
  } finally {
    await trace.close();
  }
}

/**
 * Replays a trace record by record: `check()` runs to a record and compares (replayTrace), and
 * `advance()` does it in bounded pieces that breakpoints and watchpoints may cut short
 * (ReplaySession, session.ts).
 */
export class Replayer {
  private readonly sink = new RecordedSink();
  /** The interpreter; a debugger reads it, sets breakpoints, snapshots and restores it. */
  readonly cpu: Cpu;
  private readonly console: ConsoleDecoder;
  private readonly singleStep: boolean;
  private readonly perRecord: number;
  /** Total bound: undefined with an explicit --max-instructions. */
  private readonly total: { base: number; perRecord: number } | undefined;
  /** Exits of the last step not compared yet (the step made several: see StepExit): sink.exit(pendingAt … pendingEnd - 1). */
  private pendingAt = 0;
  private pendingEnd = 0;
  /** The record given to check()/advance(), and the interpreter's registers, as words. */
  private readonly given = new RecordSlot();
  /** advance()'s `peek`, and the same records as slots (made again only for another `peek`). */
  private peekRecords: ((k: number) => TraceRecord | undefined) | undefined;
  private peekSlots: ((k: number) => RecordSlot | undefined) | undefined;
  private readonly words = new Uint32Array(REG_WORDS);
  private matched = 0;
  private exits = 0;
  private note: string | undefined;
  private adopted: ReplayResult['undefinedFlags'] = { adopted: 0 };
  /** Set once the guest reached the trace's terminal exit (HLT, SHUTDOWN, emulation failure). */
  stopped = false;
  /** Steps executed when the run toward the record being replayed began (undefined: between records). */
  private recordStart: number | undefined;
  /** Records whose console bytes were passed on (a record replayed again after a restore is not shown twice). */
  private consoleSeen = 0;

  constructor(
    header: TraceHeader,
    private readonly opts: ReplayOptions,
  ) {
    // --step traces hold the registers after every step: RDTSC & co. take their results there
    this.cpu = cpuFromHeader(header, this.sink, header.semantics.singleStep ? () => this.sink.expected?.regs() : undefined);
    this.sink.stateBefore = () => this.cpu.stateAtInstructionStart();
    this.console = new ConsoleDecoder(header.devices);
    this.singleStep = header.semantics.singleStep;
    const budget = opts.budget ?? DEFAULT_BUDGET;
    this.perRecord = opts.maxInstructions ?? budget.perRecord;
    this.total = opts.maxInstructions === undefined ? { base: budget.base, perRecord: budget.total } : undefined;
  }

  /** Instructions the guest may still run before reaching `rec` (started at `start`). */
  private room(start: number): number {
    const n = this.cpu.instructions;
    const own = this.perRecord - (n - start);
    return this.total ? Math.min(own, this.total.base + this.total.perRecord * this.matched - n) : own;
  }

  /** The budget ran out before `rec`: a `no-exit` divergence that says what to do. */
  private outOfBudget(slot: RecordSlot, start: number): Divergence {
    const rec = slot.record();
    const ran = this.cpu.instructions - start;
    const fmt = (v: number) => v.toLocaleString('en-US');
    const what = `the guest ran ${ran} instructions without reaching recorded ${rec.reasonName} ${rec.kind === 'step' ? 'step' : 'exit'} #${rec.seq}`;
    let budget: string;
    if (!this.total) budget = `the budget --max-instructions ${this.perRecord} (per record) ran out`;
    else if (ran >= this.perRecord) budget = `replay's default budget of ${fmt(this.perRecord)} instructions per record ran out (docs/replay.md, "Instruction budget")`;
    else {
      const total = this.total.base + this.total.perRecord * this.matched;
      budget = `replay's default total budget for a trace this far in ran out: ${fmt(this.cpu.instructions)} instructions in all, at most ${fmt(this.total.base)} + ${fmt(this.total.perRecord)} per record before this one = ${fmt(total)} (docs/replay.md, "Instruction budget")`;
    }
    const suggest = Math.max(this.perRecord, this.cpu.instructions) * 10;
    const hint = `if the guest really runs that long without an exit, replay with a larger --max-instructions N (per record, no total bound), e.g. --max-instructions ${suggest}; if it should not, the interpreter took another path than KVM earlier (see the last instructions executed)`;
    return this.diverge(slot, 'no-exit', `${what}: ${budget}. ${hint}`, []);
  }

  private progress(): void {
    const rec = this.sink.expected;
    this.opts.onProgress?.({ records: this.matched, exits: this.exits, instructions: this.cpu.instructions, offset: rec?.offset ?? 0 });
  }

  /**
   * Replays up to `rec` and compares; returns the divergence, if any. `peek(k)`: the k-th record
   * after `rec`, whose data the later exits of a step that makes several read.
   */
  check(rec: TraceRecord, peek?: (k: number) => TraceRecord | undefined): Divergence | undefined {
    const a = this.advance(rec, peek, Infinity);
    return a.kind === 'diverged' ? a.divergence : undefined;
  }

  /** check() of a record in a slot (replayTrace: the same comparison, with nothing made per record). */
  checkSlot(rec: RecordSlot, peek: (k: number) => RecordSlot | undefined): Divergence | undefined {
    const a = this.advanceSlot(rec, peek, Infinity);
    return a.kind === 'diverged' ? a.divergence : undefined;
  }

  /**
   * Like check(), but runs at most `maxInstructions` steps toward `rec` and stops at the
   * breakpoints and watchpoints set on the Cpu: 'running' means call again with the same
   * record to go on. Exits of the last step still to compare (pendingExits) are compared
   * without running anything.
   */
  advance(rec: TraceRecord, peek: ((k: number) => TraceRecord | undefined) | undefined, maxInstructions: number): Advance {
    if (peek !== this.peekRecords) {
      this.peekRecords = peek;
      this.peekSlots = peek && ((k: number) => {
        const r = peek(k);
        return r && new RecordSlot().load(r);
      });
    }
    return this.advanceSlot(this.given.load(rec), this.peekSlots, maxInstructions);
  }

  private advanceSlot(rec: RecordSlot, peek: ((k: number) => RecordSlot | undefined) | undefined, maxInstructions: number): Advance {
    // the next exit of a step that made several: same registers, nothing to run
    if (this.pendingAt < this.pendingEnd) {
      const more = this.sink.exit(this.pendingAt++);
      return this.outcome(this.compare(rec, more.reason, more, more.before));
    }
    if (rec.reason === EXIT.INTERNAL_ERROR || rec.reason === EXIT.FAIL_ENTRY) return this.reachFailure(rec, maxInstructions);
    if (this.recordStart === undefined) {
      this.sink.expect(rec);
      this.recordStart = this.cpu.instructions;
    } else this.sink.expected = rec; // (the same record again, maybe re-read after a restore)
    if (peek) this.sink.peek = peek;
    const start = this.recordStart;
    const callStart = this.cpu.instructions;
    let result: RunResult;
    for (;;) {
      if (this.singleStep) {
        if (maxInstructions < 1) return RUNNING;
        result = this.cpu.step();
        break;
      }
      const room = this.room(start);
      if (room <= 0) return this.outcome(this.outOfBudget(rec, start));
      const left = maxInstructions - (this.cpu.instructions - callStart);
      if (left <= 0) return RUNNING;
      result = this.cpu.run(Math.min(CHUNK, room, left));
      if (result.kind !== 'limit') break;
      if (this.opts.onProgress) this.progress();
    }
    if (result.kind === 'breakpoint') return { kind: 'running', breakpoint: result.address };
    if (result.kind === 'watch') {
      if (!this.singleStep) return RUNNING;
      result = { kind: 'limit' }; // a completed step of a --step trace: its record is compared
    }
    this.recordStart = undefined;
    if (result.kind === 'unsupported') {
      return this.outcome(this.diverge(rec, 'unsupported', `${result.message} (recorded: ${exitReasonName(rec.reason)} #${rec.seq})`, []));
    }
    if (result.kind === 'nondeterministic') {
      return this.outcome(this.diverge(rec, 'nondeterministic', `the guest executed ${result.message}`, [], []));
    }
    if (result.kind === 'exit' && this.sink.count > 0) {
      this.pendingAt = 1;
      this.pendingEnd = this.sink.count;
      const first = this.sink.exit(0);
      return this.outcome(this.compare(rec, first.reason, first, first.before));
    }
    this.pendingAt = this.pendingEnd = 0;
    return this.outcome(this.compare(rec, this.reasonOf(result), undefined));
  }

  private outcome(d: Divergence | undefined): Advance {
    return d === undefined ? MATCHED : { kind: 'diverged', divergence: d };
  }

  /** Exits of the last step not compared yet: advance() compares them with the next records. */
  get pendingExits(): number {
    return this.pendingEnd - this.pendingAt;
  }

  /** Records matched so far. */
  get matchedRecords(): number {
    return this.matched;
  }

  /** The state to snapshot along with the Cpu's; only between steps whose exits are all compared. */
  state(): ReplayerState {
    if (this.pendingExits) throw new Error('Replayer.state(): exits of the last step are still to be compared');
    return {
      matched: this.matched,
      exits: this.exits,
      note: this.note ?? null,
      undefinedFlags: structuredClone(this.adopted),
      stopped: this.stopped,
      recordStart: this.recordStart ?? null,
    };
  }

  /** Back to a state() (with the Cpu restored to the snapshot taken with it). */
  restoreState(s: ReplayerState): void {
    this.pendingAt = this.pendingEnd = 0;
    this.sink.expect(undefined);
    this.matched = s.matched;
    this.exits = s.exits;
    this.note = s.note ?? undefined;
    this.adopted = structuredClone(s.undefinedFlags);
    this.stopped = s.stopped;
    this.recordStart = s.recordStart ?? undefined;
  }

  /**
   * Compares one exit of the last step (`reason`, and its payload `exit` when it made one) with
   * `rec`, and the registers after the step (or, with `before`, those from before its
   * instruction: see StepExit). Raw words and numbers: objects only for a divergence report.
   */
  private compare(rec: RecordSlot, reason: number, exit: StepExit | undefined, before?: StateBefore): Divergence | undefined {
    if (rec.reason !== reason || (exit !== undefined && !exit.samePayload(rec))) {
      const actual = exit ? exit.actual() : { reason: reason === NO_EXIT ? 'none' : exitReasonName(reason) };
      const r = rec.record();
      const payload = diffPayload(r, actual);
      const kind = payload[0]?.field === 'reason' ? 'reason' : 'payload';
      return this.diverge(rec, kind, `${this.label(rec)}: the guest ${describeExit(actual)}, the trace has ${describeRecord(r)}`, payload);
    }
    const undef = before ? before.undefinedFlags : this.cpu.undefinedFlagsNow;
    const cpu = this.cpu;
    let same: boolean;
    if (before) {
      same = diffRegisters(rec.regs(), before.regs, BigInt(undef)).length === 0 && diffSegments(rec.sregs, before.sregs).length === 0;
    } else {
      // sregs as the previous compare left them unless the trace stored new ones or the guest wrote them
      same = cpu.regWordsEqual(rec.regsWords, undef) && (!(rec.sregsChanged || cpu.sregsWritten) || diffSegments(rec.sregs, cpu.getSregs()).length === 0);
    }
    if (!same) {
      const regs = before ? before.regs : cpu.getRegs();
      const regDiffs = [...diffRegisters(rec.regs(), regs, BigInt(undef)), ...diffSegments(rec.sregs, before ? before.sregs : cpu.getSregs())];
      return this.diverge(rec, 'registers', `${this.label(rec)}: ${regDiffs.map((d) => d.field).join(', ')} differ`, [], regDiffs);
    }
    if (!before) cpu.clearSregsWritten();
    // (a record from before the instruction: its flags are the ones the instruction started from)
    if (undef && !before && this.opts.adoptUndefinedFlags !== false) {
      cpu.getRegWords(this.words);
      this.adoptUndefined(rec, undef, this.words[RFLAGS_WORD]!);
    }
    this.opts.onMatched?.(this.matched, undef, cpu);
    this.accept(rec);
    if (this.opts.onProgress) this.progress();
    if (rec.reason === EXIT.HLT || rec.reason === EXIT.SHUTDOWN) this.stopped = true;
    return undefined;
  }

  /**
   * A recorded emulation failure or entry failure: KVM stopped at an instruction it could not
   * run. Execute up to the recorded state and stop there rather than run past it.
   */
  private reachFailure(slot: RecordSlot, maxInstructions: number): Advance {
    const rec = slot.record();
    if (this.recordStart === undefined) {
      this.sink.expect(undefined);
      this.recordStart = this.cpu.instructions;
    }
    const start = this.recordStart;
    const callStart = this.cpu.instructions;
    while (diffRegisters(rec.regs, this.cpu.getRegs()).length) {
      if (this.room(start) <= 0) return this.outcome(this.outOfBudget(slot, start));
      if (this.cpu.instructions - callStart >= maxInstructions) return RUNNING;
      const r = this.cpu.step();
      if (r.kind === 'breakpoint') return { kind: 'running', breakpoint: r.address };
      if (r.kind === 'watch') return RUNNING;
      if (r.kind !== 'limit') {
        return this.outcome(this.diverge(slot, 'reason', `${this.label(rec)}: the guest ${describeExit(this.actualExit(r))} before reaching the state KVM recorded`, []));
      }
    }
    this.recordStart = undefined;
    const next = this.cpu.peek();
    this.note = `the recording ended with KVM ${rec.reasonName} at ${next.at} (${next.text}): KVM could not run that instruction here; replay stops there too`;
    this.accept(slot);
    this.stopped = true;
    return MATCHED;
  }

  /**
   * Flags still undefined at a matched record take the recording CPU's values; where they
   * differed from ours that is counted, not a divergence (the recording host computed them).
   */
  private adoptUndefined(rec: RecordSlot, undef: number, ours: number): void {
    const recorded = rec.regsWords[RFLAGS_WORD]!;
    const differ = (recorded ^ ours) & undef;
    this.cpu.adoptFlags(undef, recorded);
    if (differ === 0) return;
    this.adopted.adopted++;
    this.adopted.first ??= { index: rec.seq, flags: flagNames(differ) };
  }

  private accept(rec: RecordSlot): void {
    this.matched++;
    if (rec.kind === 'exit') this.exits++;
    const onConsole = this.opts.onConsole;
    if (onConsole === undefined || this.matched <= this.consoleSeen) return;
    this.consoleSeen = this.matched;
    if (!rec.hasIo || !rec.ioOut) return;
    const bytes = this.console.out(rec.ioPort, rec.ioSize, rec.ioBytes());
    if (bytes) onConsole(bytes);
  }

  /** The exit reason a run's result is compared as (NO_EXIT: none). */
  private reasonOf(r: RunResult): number {
    switch (r.kind) {
      case 'exit': return r.exit === 'io' ? EXIT.IO : EXIT.MMIO;
      case 'hlt': return EXIT.HLT;
      case 'shutdown': return EXIT.SHUTDOWN;
      case 'limit': return this.singleStep ? EXIT.DEBUG : NO_EXIT;
      default: return NO_EXIT;
    }
  }

  private actualExit(r: RunResult): ActualExit {
    if (r.kind === 'exit' && this.sink.count > 0) return this.sink.exit(0).actual();
    if (r.kind === 'exit') return { reason: r.exit === 'io' ? 'IO' : 'MMIO' };
    if (r.kind === 'limit') return { reason: this.singleStep ? 'DEBUG' : 'none' };
    return { reason: REASON_OF[r.kind] };
  }

  private label(rec: { seq: number }): string {
    return this.singleStep ? `instruction #${rec.seq}` : `exit #${rec.seq}`;
  }

  private diverge(slot: RecordSlot, kind: DivergenceKind, message: string, fields: FieldDiff[], registers?: FieldDiff[]): Divergence {
    const rec = slot.record();
    const use = this.undefinedUse();
    const u = use.undefinedUse;
    return {
      kind,
      index: rec.seq,
      offset: rec.offset,
      message: u ? `${message} (the guest last read ${u.flags} at EIP ${u.usedAt}, left undefined by ${u.setBy} at EIP ${u.setAt}: host-dependent, see docs/replay.md)` : message,
      fields,
      registers: registers ?? diffRegisters(rec.regs, this.cpu.getRegs()),
      history: this.cpu.history(16),
      ...use,
    };
  }

  private undefinedUse(): Pick<Divergence, 'undefinedUse'> {
    const u = this.cpu.lastUndefinedUse;
    if (!u) return {};
    const hex = (v: number) => (v < 0 ? 'an earlier address' : `0x${v.toString(16)}`);
    return { undefinedUse: { flags: flagNames(u.flags), usedAt: hex(u.usedAt), setAt: hex(u.setAt), setBy: u.setBy } };
  }

  result(footer: TraceFooter | undefined, truncated: boolean, divergence?: Divergence): ReplayResult {
    const { matched, exits, singleStep, note } = this;
    return replayResult({ matched, exits, singleStep, note, adopted: this.adopted }, this.cpu.instructions, footer, truncated, divergence);
  }

  /** All records matched; check that the trace did not stop short of the guest's end. */
  finish(footer: TraceFooter | undefined, truncated: boolean): ReplayResult {
    const end = endOfRecords({ matched: this.matched, stopped: this.stopped }, footer, truncated, () => this.cpu.history(16));
    this.note ??= end.note;
    return this.result(footer, truncated, end.divergence);
  }
}

/**
 * How a replay that matched every record ends (either architecture's engine): a note on how the
 * recording ended, or a `trace-ended` divergence when the footer says the guest ended but the
 * records stop short of it.
 */
export function endOfRecords(
  r: { matched: number; stopped: boolean },
  footer: TraceFooter | undefined,
  truncated: boolean,
  history: () => DisassembledAt[],
): { note?: string; divergence?: Divergence } {
  if (truncated) return { note: `the trace is truncated (the recording was cut short); all ${r.matched} complete records matched` };
  if (footer && !r.stopped && ['hlt', 'shutdown', 'internal-error', 'fail-entry'].includes(footer.endReason)) {
    return {
      divergence: {
        kind: 'trace-ended',
        index: r.matched,
        offset: footer.offset,
        message: `the trace's footer says the guest ended (${footer.endReason}) but its records stop after #${r.matched - 1}`,
        fields: [],
        registers: [],
        history: history(),
      },
    };
  }
  if (footer?.endReason === 'guest-exit') return { note: `the guest ended the run through an exit device${footer.status !== undefined ? ` (status ${footer.status})` : ''}` };
  if (footer && !r.stopped) return { note: `the recording was stopped (${footer.endReason}: ${footer.message}); replay stops at the same point` };
  return {};
}

/** A replay's result from how far it got (either architecture's engine). */
export function replayResult(
  r: { matched: number; exits: number; singleStep: boolean; note: string | undefined; adopted?: ReplayResult['undefinedFlags'] },
  instructions: number,
  footer: TraceFooter | undefined,
  truncated: boolean,
  divergence?: Divergence,
): ReplayResult {
  return {
    ok: divergence === undefined,
    matched: r.matched,
    exits: r.exits,
    instructions,
    singleStep: r.singleStep,
    recordedEnd: footer?.endReason,
    truncated,
    ...(footer?.status !== undefined ? { status: footer.status } : {}),
    note: r.note,
    undefinedFlags: r.adopted ?? { adopted: 0 },
    divergence,
  };
}

function describeExit(e: ActualExit): string {
  if (e.io) return `did ${e.io.direction.toUpperCase()} port 0x${e.io.port.toString(16)} (${e.io.count}×${e.io.size} bytes)`;
  if (e.mmio) return `did an MMIO ${e.mmio.write ? 'write' : 'read'} at 0x${e.mmio.address.toString(16)} (${e.mmio.length} bytes)`;
  if (e.reason === 'DEBUG') return 'executed an instruction without an exit';
  if (e.reason === 'none') return 'made no exit';
  return `exited with ${e.reason}`;
}

function describeRecord(r: TraceRecord): string {
  if (r.io) return `${r.io.direction.toUpperCase()} port 0x${r.io.port.toString(16)} (${r.io.count}×${r.io.size} bytes)`;
  if (r.mmio) return `an MMIO ${r.mmio.write ? 'write' : 'read'} at 0x${r.mmio.address.toString(16)} (${r.mmio.length} bytes)`;
  if (r.kind === 'step') return 'an instruction without an exit';
  return r.reasonName;
}
