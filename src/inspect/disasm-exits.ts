// `vmtrace inspect --exits --disasm`: the exit listing with the instruction that made each
// record, as the guest really executed it. The trace does not hold instructions, and the image
// bytes need not be what ran (self-modifying code, code loaded at run time), so the trace is
// replayed in the interpreter alongside the listing and each matched record takes the
// instruction from the interpreter's history at that point.
import { replayTrace } from '../replay/engine.js';
import type { Cpu, DisassembledAt } from '../replay/x86/index.js';
import { oneLine } from '../text/sanitize.js';
import { openTrace } from '../trace/reader.js';
import type { RegisterLayout } from '../arch/index.js';
import { exitLeadColumns, exitLineLead, exitRows, formatChanges, type ExitFilter, type ExitRow } from './exits.js';
import { bytesHex, col } from './util.js';

/** An executed instruction: `at` CS:IP as the interpreter shows it (`0000:0002`), bytes in hex. */
export interface ExitInsn {
  at: string;
  bytes: string;
  text: string;
}

/** An `--exits --disasm` row: an ExitRow with `changes` and, where replay got there, `insn`. */
export interface DisasmExitRow extends ExitRow {
  changes: Record<string, [string, string]>;
  insn?: ExitInsn;
}

/** Where disassembly stopped: records from `index` on have none, and why. */
export interface DisasmStop {
  index: number;
  why: string;
}

/**
 * The instructions of one record's step. `last` made the exit (IO, MMIO, HLT); `first` is the
 * one the step started with, which a --step record names (a step can run more than one: a
 * faulting instruction and the first of its handler, IRETQ and its target, step joins).
 */
interface StepInsns {
  first: ExitInsn;
  last: ExitInsn;
}

/** The instruction a record shows: a step record its step's first, an exit the one that made it. */
function insnOf(kind: ExitRow['kind'], s: StepInsns): ExitInsn {
  return kind === 'step' ? s.first : s.last;
}

// replayTrace has no stop option: an exception thrown from onMatched ends it (its finally closes
// the trace), which is how a listing that needs no more records stops the replay.
const CANCELLED = new Error('disassembly no longer needed');

/** Records kept before the oldest one still wanted is dropped (streaming keeps memory flat). */
const DROP_AFTER = 4096;

/**
 * A replay running alongside a reader of the same trace, handing out each matched record's
 * instructions by record index. Ask for indexes in increasing order; with `keepAll: false`
 * (streaming) the ones before the last asked for are dropped.
 */
export class ReplayDisassembly {
  private readonly log: StepInsns[] = [];
  private base = 0;
  private matched = 0;
  private lastSteps = -1;
  private stepStart: ExitInsn | undefined;
  private done = false;
  private cancelled = false;
  private wake: (() => void) | undefined;
  // Instructions repeat (a guest's exits come from a few OUTs): one object per distinct one.
  private readonly interned = new Map<string, ExitInsn>();
  private readonly pairs = new Map<ExitInsn, StepInsns>();
  private running: Promise<void> | undefined;
  /**
   * Where and why the replay ended, once it has (not when stopped for want of more records):
   * records from `stop.index` on have no instruction. At the trace's end, that is none of them.
   */
  stop: DisasmStop | undefined;

  private constructor(
    private readonly file: string,
    private readonly singleStep: boolean,
    private readonly upTo: number,
    private readonly keepAll: boolean,
  ) {}

  /**
   * The replay starts when first asked: the listing's reader is open by then. (It runs a read
   * batch at a time without yielding, so started earlier it would run thousands of records
   * ahead for each read the listing still needs to start.)
   */
  private started(): Promise<void> {
    return (this.running ??= this.replay(this.file));
  }

  /** Starts replaying `file`; `upTo`: the last record index wanted (the replay stops there). */
  static async start(file: string, opts: { upTo?: number; keepAll?: boolean } = {}): Promise<ReplayDisassembly> {
    const t = await openTrace(file);
    const singleStep = t.header.semantics.singleStep;
    await t.close();
    return new ReplayDisassembly(file, singleStep, opts.upTo ?? Infinity, opts.keepAll ?? false);
  }

  private async replay(file: string): Promise<void> {
    try {
      const r = await replayTrace(file, { onMatched: (index, _undef, cpu) => this.onMatched(index, cpu) });
      // (this.matched, not r.matched: a recorded emulation failure is matched without onMatched)
      if (r.divergence) this.stop = { index: this.matched, why: `replay diverged (${r.divergence.kind}): ${r.divergence.message}` };
      else this.stop = { index: this.matched, why: r.note ?? 'replay ended' };
    } catch (e) {
      if (e !== CANCELLED) this.stop = { index: this.matched, why: `replay failed: ${e instanceof Error ? e.message : String(e)}` };
    } finally {
      this.done = true;
      this.notify();
    }
  }

  private onMatched(index: number, cpu: Cpu): void {
    if (this.cancelled) throw CANCELLED;
    const steps = cpu.instructions;
    let s: StepInsns;
    if (steps === this.lastSteps) {
      s = this.log[this.log.length - 1]!; // another exit of the same step (rep ins into MMIO, …)
    } else {
      const last = this.intern(cpu.history(1)[0]!);
      // the first instruction of a step: where the previous one left RIP (record 0: the first in the history)
      const first = this.singleStep ? (index === 0 ? this.intern(cpu.history(256)[0]!) : this.stepStart!) : last;
      s = this.pair(first, last);
    }
    this.lastSteps = steps;
    if (this.singleStep) this.stepStart = this.intern(cpu.peek());
    this.log.push(s);
    this.matched = index + 1;
    this.notify();
    if (index >= this.upTo) throw CANCELLED;
  }

  private intern(d: DisassembledAt): ExitInsn {
    const bytes = bytesHex(d.bytes);
    const key = `${d.at} ${bytes} ${d.text}`;
    let insn = this.interned.get(key);
    if (!insn) this.interned.set(key, (insn = { at: d.at, bytes, text: d.text }));
    return insn;
  }

  private pair(first: ExitInsn, last: ExitInsn): StepInsns {
    if (first !== last) return { first, last }; // a step of several instructions: rare
    let p = this.pairs.get(first);
    if (!p) this.pairs.set(first, (p = { first, last }));
    return p;
  }

  private notify(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  /** The instruction record `index` (of this kind) shows; undefined where replay did not get. */
  async at(index: number, kind: ExitRow['kind']): Promise<ExitInsn | undefined> {
    void this.started();
    while (!this.done && this.matched <= index) await new Promise<void>((resolve) => (this.wake = resolve));
    const insn = this.recorded(index, kind);
    const k = index - this.base;
    if (!this.keepAll && k >= DROP_AFTER) {
      this.log.splice(0, k);
      this.base = index;
    }
    return insn;
  }

  /** What `at` answers, for the records the replay has matched so far (no waiting). */
  recorded(index: number, kind: ExitRow['kind']): ExitInsn | undefined {
    const s = index >= this.base ? this.log[index - this.base] : undefined;
    return s && insnOf(kind, s);
  }

  /** Waits for the replay to end (at `upTo`, a divergence or the trace's end). */
  async finished(): Promise<void> {
    await this.started();
  }

  /** Stops the replay (if still running) and waits for it to close the trace. */
  async close(): Promise<void> {
    this.cancelled = true;
    await this.running;
  }
}

/**
 * exitRows with disassembly: each row gets `changes` and, where replay matched it, `insn`.
 * `onStop` is called once, at the first row replay did not reach, with where and why it stopped.
 */
export async function* disasmExitRows(
  file: string,
  filter: ExitFilter = {},
  onStop?: (stop: DisasmStop) => void,
): AsyncGenerator<DisasmExitRow, void, undefined> {
  const replay = await ReplayDisassembly.start(file, { upTo: filter.to });
  let told = false;
  try {
    for await (const r of exitRows(file, filter, { changes: true })) {
      const row = r as DisasmExitRow;
      const insn = await replay.at(row.index, row.kind);
      if (insn) row.insn = insn;
      else if (!told && replay.stop) {
        told = true;
        onStop?.(replay.stop);
      }
      yield row;
    }
  } finally {
    await replay.close();
  }
}

/** The first `count` records' instructions, for the HTML report's exit table. */
export interface CollectedDisassembly {
  at(index: number, kind: ExitRow['kind']): ExitInsn | undefined;
  stop: DisasmStop | undefined;
}

export async function collectDisassembly(file: string, count: number): Promise<CollectedDisassembly> {
  const replay = await ReplayDisassembly.start(file, { upTo: count - 1, keepAll: true });
  await replay.finished();
  return { at: (index, kind) => replay.recorded(index, kind), stop: replay.stop };
}

const INSN_COLUMNS = { at: 15, bytes: 18, text: 30 } as const;
/** Instruction bytes shown in the text line (the rest as `…`; --json has them all). */
const INSN_TEXT_BYTES = 8;

export function disasmExitLineHeader(layout?: RegisterLayout): string {
  return exitLineLead(layout) + col('insn at', INSN_COLUMNS.at) + col('bytes', INSN_COLUMNS.bytes) + col('instruction', INSN_COLUMNS.text) + 'changed';
}

export const DISASM_EXIT_LINE_HEADER = disasmExitLineHeader();

/** One `--exits --disasm` text line: the `--exits` columns, the instruction, changes as old→new. */
export function formatDisasmExitRow(row: DisasmExitRow): string {
  const i = row.insn;
  let bytes = i?.bytes ?? '';
  if (bytes.length > 2 * INSN_TEXT_BYTES) bytes = bytes.slice(0, 2 * INSN_TEXT_BYTES) + '…';
  const insn = col(i?.at ?? '', INSN_COLUMNS.at) + col(bytes, INSN_COLUMNS.bytes) + col(i?.text ?? '', INSN_COLUMNS.text) + ' ';
  const rest = formatChanges(row.changes);
  const detail = row.detail ? ' ' + JSON.stringify(row.detail) : '';
  // one line whatever the exit detail's strings hold
  return oneLine(exitLeadColumns(row) + insn + rest + detail).trimEnd();
}

/** The one stderr line about a stop: where disassembly ends and why. */
export function describeDisasmStop(stop: DisasmStop, what: string): string {
  return oneLine(`vmtrace: --disasm: no disassembly from record #${stop.index} on: ${stop.why}; ${what}`);
}
