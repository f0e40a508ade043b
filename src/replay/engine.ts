// The replay engine: re-executes a trace's guest in the x86 interpreter, feeds it the recorded
// inputs, and checks every exit (every instruction, for --step traces) against the trace.
import { loadMemory } from '../boot/memory.js';
import { ConsoleDecoder } from '../devices/console-output.js';
import { EXIT } from '../trace/exit-reasons.js';
import type { TraceFooter, TraceHeader, TraceRecord } from '../trace/format.js';
import { openTrace } from '../trace/reader.js';
import { diffPayload, diffRegisters, diffSegments, type ActualExit, type FieldDiff } from './compare.js';
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
  /** Receives the guest's console bytes as matched exits reproduce them. */
  onConsole?: (bytes: Uint8Array) => void;
  /** Bound on instructions between two recorded exits before giving up. */
  maxInstructions?: number;
  /**
   * Called for every matched record (by position in the trace) with the RFLAGS bits undefined
   * there: left undefined by some instruction and not written since (vmtrace diff classifies
   * flag differences confined to them as host-dependent, src/inspect/undefined-flags.ts).
   */
  onMatched?: (index: number, undefinedFlags: number) => void;
  /**
   * Take the recorded values of flags still undefined at a matched record (default true). false
   * keeps the interpreter's own values, so flags stay undefined until the guest writes them:
   * what onMatched needs to see how long a flag stays undefined (adopting a value defines it).
   */
  adoptUndefinedFlags?: boolean;
}

const DEFAULT_MAX_INSTRUCTIONS = 2_000_000_000;
const CHUNK = 1 << 20;

interface Access {
  kind: 'io' | 'mmio';
  out: boolean;
  port: number;
  size: number;
  bytes: number[];
}

/** Answers the interpreter's port/MMIO accesses from the expected record and remembers them. */
class RecordedSink implements ExitSink {
  expected: TraceRecord | undefined;
  readonly accesses: Access[] = [];
  /** Bytes of the expected record's input consumed so far (a rep ins spans iterations). */
  private fed = 0;

  expect(rec: TraceRecord | undefined): void {
    this.expected = rec;
    this.fed = 0;
    this.accesses.length = 0;
  }

  ioIn(port: number, size: 1 | 2 | 4): number {
    const data = this.expected?.io?.direction === 'in' ? this.expected.io.data : undefined;
    const v = this.take(data, size);
    this.push('io', false, port, size, v);
    return v;
  }

  ioOut(port: number, size: 1 | 2 | 4, value: number): void {
    this.push('io', true, port, size, value);
  }

  mmioRead(addr: number, size: number): bigint {
    const data = this.expected?.mmio && !this.expected.mmio.write ? this.expected.mmio.data : undefined;
    let v = 0n;
    for (let i = size - 1; i >= 0; i--) v = (v << 8n) | BigInt(data?.[i] ?? 0xff);
    this.accesses.push({ kind: 'mmio', out: false, port: addr, size, bytes: data ? [...data.subarray(0, size)] : [] });
    return v;
  }

  mmioWrite(addr: number, size: number, value: bigint): void {
    const bytes: number[] = [];
    for (let i = 0; i < size; i++) bytes.push(Number((value >> BigInt(8 * i)) & 0xffn));
    this.accesses.push({ kind: 'mmio', out: true, port: addr, size, bytes });
  }

  private take(data: Uint8Array | undefined, size: number): number {
    let v = 0;
    for (let i = 0; i < size; i++) v |= (data?.[this.fed + i] ?? 0xff) << (8 * i);
    this.fed += size;
    return v >>> 0;
  }

  private push(kind: 'io', out: boolean, port: number, size: number, value: number): void {
    const bytes = [];
    for (let i = 0; i < size; i++) bytes.push((value >>> (8 * i)) & 0xff);
    this.accesses.push({ kind, out, port, size, bytes });
  }

  /** The accesses so far as one exit, in the shape of a record's payload. */
  asExit(reason: string): ActualExit {
    const first = this.accesses[0];
    if (!first) return { reason };
    const data = Uint8Array.from(this.accesses.flatMap((a) => a.bytes));
    if (first.kind === 'io') {
      return {
        reason: 'IO',
        io: { port: first.port, size: first.size, direction: first.out ? 'out' : 'in', count: this.accesses.length, data },
      };
    }
    return { reason: 'MMIO', mmio: { address: first.port, length: first.size, write: first.out, data } };
  }
}

const REASON_OF: Record<RunResult['kind'], string> = {
  exit: 'IO',
  hlt: 'HLT',
  shutdown: 'SHUTDOWN',
  unsupported: 'UNSUPPORTED',
  nondeterministic: 'NONDETERMINISTIC',
  limit: 'none',
};

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
    const replayer = new Replayer(trace.header, opts);
    for await (const batch of trace.batches()) {
      for (const rec of batch) {
        const divergence = replayer.check(rec);
        if (divergence) return replayer.result(trace.footer, trace.truncated, divergence);
        if (replayer.stopped) break;
      }
      if (replayer.stopped) break;
    }
    return replayer.finish(trace.footer, trace.truncated);
  } finally {
    await trace.close();
  }
}

class Replayer {
  private readonly sink = new RecordedSink();
  private readonly cpu: Cpu;
  private readonly console: ConsoleDecoder;
  private readonly singleStep: boolean;
  private readonly maxInstructions: number;
  private matched = 0;
  private exits = 0;
  private note: string | undefined;
  private readonly adopted: ReplayResult['undefinedFlags'] = { adopted: 0 };
  /** Set once the guest reached the trace's terminal exit (HLT, SHUTDOWN, emulation failure). */
  stopped = false;

  constructor(
    header: TraceHeader,
    private readonly opts: ReplayOptions,
  ) {
    // --step traces hold the registers after every step: RDTSC & co. take their results there
    this.cpu = cpuFromHeader(header, this.sink, header.semantics.singleStep ? () => this.sink.expected?.regs : undefined);
    this.console = new ConsoleDecoder(header.devices);
    this.singleStep = header.semantics.singleStep;
    this.maxInstructions = opts.maxInstructions ?? DEFAULT_MAX_INSTRUCTIONS;
  }

  /** Replays up to `rec` and compares; returns the divergence, if any. */
  check(rec: TraceRecord): Divergence | undefined {
    if (rec.reason === EXIT.INTERNAL_ERROR || rec.reason === EXIT.FAIL_ENTRY) return this.reachFailure(rec);
    this.sink.expect(rec);
    const start = this.cpu.instructions;
    let result: RunResult;
    for (;;) {
      result = this.singleStep ? this.cpu.step() : this.cpu.run(CHUNK);
      if (result.kind !== 'limit' || this.singleStep) break;
      if (this.cpu.instructions - start > this.maxInstructions) {
        return this.diverge(rec, 'no-exit', `the guest ran ${this.cpu.instructions - start} instructions without reaching recorded ${rec.reasonName} exit #${rec.seq}`, []);
      }
    }
    if (result.kind === 'unsupported') {
      return this.diverge(rec, 'unsupported', `${result.message} (recorded: ${rec.reasonName} #${rec.seq})`, []);
    }
    if (result.kind === 'nondeterministic') {
      return this.diverge(rec, 'nondeterministic', `the guest executed ${result.message}`, [], []);
    }
    const actual = this.actualExit(result);
    const payload = diffPayload(rec, actual);
    if (payload.length) {
      const kind = payload[0]!.field === 'reason' ? 'reason' : 'payload';
      return this.diverge(rec, kind, `${this.label(rec)}: the guest ${describeExit(actual)}, the trace has ${describeRecord(rec)}`, payload);
    }
    const undef = this.cpu.undefinedFlagsNow;
    const regs = this.cpu.getRegs();
    const regDiffs = [...diffRegisters(rec.regs, regs, BigInt(undef)), ...diffSegments(rec.sregs, this.cpu.getSregs())];
    if (regDiffs.length) {
      return this.diverge(rec, 'registers', `${this.label(rec)}: ${regDiffs.map((d) => d.field).join(', ')} differ`, [], regDiffs);
    }
    if (undef && this.opts.adoptUndefinedFlags !== false) this.adoptUndefined(rec, undef, Number(regs.rflags));
    this.opts.onMatched?.(this.matched, undef);
    this.accept(rec);
    if (rec.reason === EXIT.HLT || rec.reason === EXIT.SHUTDOWN) this.stopped = true;
    return undefined;
  }

  /**
   * A recorded emulation failure or entry failure: KVM stopped at an instruction it could not
   * run. Execute up to the recorded state and stop there rather than run past it.
   */
  private reachFailure(rec: TraceRecord): Divergence | undefined {
    this.sink.expect(undefined);
    const start = this.cpu.instructions;
    while (diffRegisters(rec.regs, this.cpu.getRegs()).length) {
      const r = this.cpu.step();
      if (r.kind !== 'limit' || this.cpu.instructions - start > this.maxInstructions) {
        return this.diverge(rec, 'reason', `${this.label(rec)}: the guest ${describeExit(this.actualExit(r))} before reaching the state KVM recorded`, []);
      }
    }
    const next = this.cpu.peek();
    this.note = `the recording ended with KVM ${rec.reasonName} at ${next.at} (${next.text}): KVM could not run that instruction here; replay stops there too`;
    this.accept(rec);
    this.stopped = true;
    return undefined;
  }

  /**
   * Flags still undefined at a matched record take the recording CPU's values; where they
   * differed from ours that is counted, not a divergence (the recording host computed them).
   */
  private adoptUndefined(rec: TraceRecord, undef: number, ours: number): void {
    const differ = (Number(rec.regs.rflags) ^ ours) & undef;
    this.cpu.adoptFlags(undef, Number(rec.regs.rflags));
    if (differ === 0) return;
    this.adopted.adopted++;
    this.adopted.first ??= { index: rec.seq, flags: flagNames(differ) };
  }

  private accept(rec: TraceRecord): void {
    this.matched++;
    if (rec.kind === 'exit') this.exits++;
    const bytes = this.console.bytes(rec);
    if (bytes && this.opts.onConsole) this.opts.onConsole(bytes);
  }

  private actualExit(r: RunResult): ActualExit {
    if (r.kind === 'exit') return this.sink.asExit(r.exit === 'io' ? 'IO' : 'MMIO');
    if (r.kind === 'limit') return { reason: this.singleStep ? 'DEBUG' : 'none' };
    return { reason: REASON_OF[r.kind] };
  }

  private label(rec: TraceRecord): string {
    return this.singleStep ? `instruction #${rec.seq}` : `exit #${rec.seq}`;
  }

  private diverge(rec: TraceRecord, kind: DivergenceKind, message: string, fields: FieldDiff[], registers?: FieldDiff[]): Divergence {
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
    return {
      ok: divergence === undefined,
      matched: this.matched,
      exits: this.exits,
      instructions: this.cpu.instructions,
      singleStep: this.singleStep,
      recordedEnd: footer?.endReason,
      truncated,
      ...(footer?.status !== undefined ? { status: footer.status } : {}),
      note: this.note,
      undefinedFlags: this.adopted,
      divergence,
    };
  }

  /** All records matched; check that the trace did not stop short of the guest's end. */
  finish(footer: TraceFooter | undefined, truncated: boolean): ReplayResult {
    if (truncated) this.note ??= `the trace is truncated (the recording was cut short); all ${this.matched} complete records matched`;
    else if (footer && !this.stopped && ['hlt', 'shutdown', 'internal-error', 'fail-entry'].includes(footer.endReason)) {
      return this.result(footer, truncated, {
        kind: 'trace-ended',
        index: this.matched,
        offset: footer.offset,
        message: `the trace's footer says the guest ended (${footer.endReason}) but its records stop after #${this.matched - 1}`,
        fields: [],
        registers: [],
        history: this.cpu.history(16),
      });
    } else if (footer?.endReason === 'guest-exit') {
      this.note ??= `the guest ended the run through an exit device${footer.status !== undefined ? ` (status ${footer.status})` : ''}`;
    } else if (footer && !this.stopped) {
      this.note ??= `the recording was stopped (${footer.endReason}: ${footer.message}); replay stops at the same point`;
    }
    return this.result(footer, truncated);
  }
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
