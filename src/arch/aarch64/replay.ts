// Replays an aarch64 trace in the A64 interpreter: feeds it the recorded MMIO reads and checks
// every exit (every instruction, for --step traces) against the trace, as the x86 engine does
// (src/replay/engine.ts), with the same result and divergence shapes.
import { loadMemory } from '../../boot/memory.js';
import { ConsoleDecoder } from '../../devices/console-output.js';
import { hex } from '../../cpu-state.js';
import type { DisassembledAt } from '../../replay/x86/index.js';
import type { FieldDiff } from '../../replay/compare.js';
import { DEFAULT_BUDGET, endOfRecords, replayResult, type Divergence, type DivergenceKind, type ReplayOptions, type ReplayResult } from '../../replay/engine.js';
import { EXIT } from '../../trace/exit-reasons.js';
import type { TraceFooter, TraceRecord } from '../../trace/format.js';
import type { OpenedTrace } from '../../trace/reader.js';
import { A64Cpu, type A64Stop } from './interp/index.js';
import { PSCI, SYSTEM_EVENT } from './layout.js';
import { A64_REG_NAMES, A64_REGS_BYTES, A64_SYSREG_NAMES, A64_SYSREGS_BYTES, a64RegsToBytes, a64SysregsToBytes, type A64Regs, type A64Sysregs } from './state.js';

/** What KVM leaves in x0 after SYSTEM_OFF/SYSTEM_RESET (PSCI_RET_INTERNAL_FAILURE: resuming the vCPU must fail). */
const PSCI_INTERNAL_FAILURE = 0xffff_ffff_ffff_fffan;
/** What KVM answers PSCI_VERSION with (1.1: KVM_ARM_PSCI_LATEST in Linux 6.1); other calls KVM answers are NOT_SUPPORTED. */
const PSCI_VERSION_ANSWER = 0x1_0001n;
const PSCI_NOT_SUPPORTED = 0xffff_ffff_ffff_ffffn;

/** An exit as the interpreter made it, before it is compared with the record. */
interface A64Exit {
  reason: number;
  mmio?: { address: number; length: number; write: boolean; data: Uint8Array };
  systemEvent?: number;
}

export async function replayA64Trace(trace: OpenedTrace, opts: ReplayOptions): Promise<ReplayResult> {
  const r = new A64Replayer(trace, opts);
  for await (const batch of trace.batches()) {
    for (const rec of batch) {
      const d = r.check(rec);
      if (d) return r.result(trace.footer, trace.truncated, d);
      if (r.stopped) return r.finish(trace.footer, trace.truncated);
    }
  }
  return r.finish(trace.footer, trace.truncated);
}

class A64Replayer {
  readonly cpu: A64Cpu;
  private readonly singleStep: boolean;
  private readonly console: ConsoleDecoder;
  private readonly perRecord: number;
  private readonly total: (n: number) => number;
  private matched = 0;
  private exits = 0;
  /** The guest ended (SYSTEM_EVENT, exit register): records after this are not part of the run. */
  stopped = false;
  private note: string | undefined;
  private readonly regs = new Uint8Array(A64_REGS_BYTES);
  private readonly sysregs = new Uint8Array(A64_SYSREGS_BYTES);

  constructor(
    trace: OpenedTrace,
    private readonly opts: ReplayOptions,
  ) {
    const h = trace.header;
    const ram = h.memory.map((m) => ({ base: m.base, bytes: new Uint8Array(m.size) }));
    loadMemory(ram, h.initialMemory);
    this.cpu = new A64Cpu(ram);
    this.cpu.setRegsBytes(a64RegsToBytes(h.boot.regs as unknown as A64Regs));
    this.cpu.setSysregsBytes(a64SysregsToBytes(h.boot.sregs as unknown as A64Sysregs));
    this.cpu.sysregsWritten = false;
    this.singleStep = h.semantics.singleStep;
    this.console = new ConsoleDecoder(h.devices);
    const b = opts.budget ?? DEFAULT_BUDGET;
    this.perRecord = opts.maxInstructions ?? b.perRecord;
    this.total = opts.maxInstructions !== undefined ? () => Infinity : (n) => b.base + b.total * n;
  }

  /** Runs the interpreter to the record's exit and compares; a divergence, or undefined when it matched. */
  check(rec: TraceRecord): Divergence | undefined {
    const limit = Math.min(this.perRecord, this.total(this.matched + 1) - this.cpu.instructions);
    const stop = this.singleStep ? this.cpu.step() : this.cpu.run(Math.max(0, limit));
    const exit = this.exitOf(stop, rec);
    if (exit === 'divergence') return this.pendingDivergence;
    if (exit === undefined) {
      if (this.singleStep && rec.kind === 'step' && rec.reason === EXIT.DEBUG) return this.compareRegs(rec);
      return this.diverge('no-exit', rec, `the guest ran ${limit} instructions without reaching record #${this.matched} (${describeRecord(rec)})`, []);
    }
    const fields = diffExit(rec, exit);
    if (fields.length) return this.diverge(fields[0]!.field === 'reason' ? 'reason' : 'payload', rec, `the guest ${describeExit(exit)} where the recording has ${describeRecord(rec)}`, fields);
    if (exit.mmio) {
      this.cpu.completeMmio(exit.mmio.write ? undefined : rec.mmio!.data);
      if (exit.mmio.write) this.consoleBytes(exit.mmio);
    }
    if (exit.systemEvent !== undefined || exit.reason === EXIT.ARM_NISV) this.stopped = true;
    return this.compareRegs(rec);
  }

  private pendingDivergence: Divergence | undefined;

  /** The exit a stop makes (undefined: none, as for a step that made no exit). */
  private exitOf(stop: A64Stop, rec: TraceRecord): A64Exit | undefined | 'divergence' {
    switch (stop.kind) {
      case 'mmio':
        return stop.isv
          ? { reason: EXIT.MMIO, mmio: { address: stop.address, length: stop.length, write: stop.write, data: stop.data } }
          : { reason: EXIT.ARM_NISV };
      case 'hvc':
      case 'smc': {
        // PSCI: KVM ends the run at SYSTEM_OFF/RESET and answers the other calls itself
        const fn = Number(this.cpu.getX(0) & 0xffff_ffffn);
        if (fn === PSCI.SYSTEM_OFF || fn === PSCI.SYSTEM_RESET) {
          // KVM writes the SMCCC return registers (docs/arm64.md, measured)
          this.cpu.setX(0, PSCI_INTERNAL_FAILURE);
          for (let n = 1; n <= 3; n++) this.cpu.setX(n, 0n);
          return { reason: EXIT.SYSTEM_EVENT, systemEvent: fn === PSCI.SYSTEM_OFF ? SYSTEM_EVENT.SHUTDOWN : SYSTEM_EVENT.RESET };
        }
        this.cpu.setX(0, fn === PSCI.VERSION ? PSCI_VERSION_ANSWER : PSCI_NOT_SUPPORTED);
        for (let n = 1; n <= 3; n++) this.cpu.setX(n, 0n);
        return this.singleStep ? undefined : this.exitOf(this.cpu.run(this.perRecord), rec);
      }
      case 'wfi':
        this.pendingDivergence = this.diverge('no-exit', rec, `the guest waits for an interrupt (WFI/WFE at ${hex(this.cpu.pc - 4n)}) with none to come: KVM would block, and the recording has ${describeRecord(rec)}`, []);
        return 'divergence';
      case 'unsupported':
        this.pendingDivergence = this.diverge('unsupported', rec, `the interpreter does not implement the instruction at ${hex(stop.pc)} (${stop.word.toString(16).padStart(8, '0')}): ${stop.message}`, []);
        return 'divergence';
      case 'budget':
        return undefined;
    }
  }

  private consoleBytes(m: { address: number; data: Uint8Array }): void {
    const bytes = this.console.mmioWrite(m.address, m.data);
    if (bytes) this.opts.onConsole?.(bytes);
  }

  private compareRegs(rec: TraceRecord): Divergence | undefined {
    const cpu = this.cpu;
    const regsSame = cpu.regsEqual(rec.regsBytes);
    let sysSame = true;
    if (rec.sregsChanged || cpu.sysregsWritten) {
      cpu.getSysregsBytes(this.sysregs);
      sysSame = Buffer.compare(this.sysregs, Buffer.from(a64SysregsToBytes(rec.sregs as unknown as A64Sysregs))) === 0;
      cpu.sysregsWritten = false;
    }
    if (!regsSame || !sysSame) {
      const registers = this.registerDiffs(rec);
      return this.diverge('registers', rec, `registers differ after ${describeRecord(rec)}: ${registers.map((d) => d.field).join(', ')}`, [], registers);
    }
    this.matched++;
    if (rec.kind === 'exit') this.exits++;
    this.opts.onProgress?.({ records: this.matched, exits: this.exits, instructions: cpu.instructions, offset: rec.offset });
    return undefined;
  }

  private registerDiffs(rec: TraceRecord): FieldDiff[] {
    this.cpu.getRegsBytes(this.regs);
    this.cpu.getSysregsBytes(this.sysregs);
    const out: FieldDiff[] = [];
    const words = (names: readonly string[], expected: Uint8Array, actual: Uint8Array) => {
      const e = new DataView(expected.buffer, expected.byteOffset);
      const a = new DataView(actual.buffer, actual.byteOffset);
      names.forEach((name, i) => {
        const x = e.getBigUint64(8 * i, true);
        const y = a.getBigUint64(8 * i, true);
        if (x !== y) out.push({ field: name, expected: hex(x), actual: hex(y) });
      });
    };
    words(A64_REG_NAMES, rec.regsBytes, this.regs);
    words(A64_SYSREG_NAMES, a64SysregsToBytes(rec.sregs as unknown as A64Sysregs), this.sysregs);
    return out;
  }

  private diverge(kind: DivergenceKind, rec: TraceRecord, message: string, fields: FieldDiff[], registers: FieldDiff[] = []): Divergence {
    return { kind, index: this.matched, offset: rec.offset, message, fields, registers, history: this.history(16) };
  }

  private history(n: number): DisassembledAt[] {
    return this.cpu.history(n).map((h) => ({ at: hex(h.pc, 8), bytes: Uint8Array.of(h.word & 0xff, (h.word >>> 8) & 0xff, (h.word >>> 16) & 0xff, h.word >>> 24), text: h.text }));
  }

  result(footer: TraceFooter | undefined, truncated: boolean, divergence?: Divergence): ReplayResult {
    const { matched, exits, singleStep, note } = this;
    return replayResult({ matched, exits, singleStep, note }, this.cpu.instructions, footer, truncated, divergence);
  }

  finish(footer: TraceFooter | undefined, truncated: boolean): ReplayResult {
    const end = endOfRecords({ matched: this.matched, stopped: this.stopped }, footer, truncated, () => this.history(16));
    this.note = end.note;
    return this.result(footer, truncated, end.divergence);
  }
}

function diffExit(rec: TraceRecord, exit: A64Exit): FieldDiff[] {
  const out: FieldDiff[] = [];
  const push = (field: string, e: unknown, a: unknown) => {
    if (e !== a) out.push({ field, expected: String(e), actual: String(a) });
  };
  push('reason', rec.reasonName, reasonText(exit.reason));
  if (out.length) return out;
  if (rec.mmio && exit.mmio) {
    push('mmio.address', hex(rec.mmio.address), hex(exit.mmio.address));
    push('mmio.write', rec.mmio.write, exit.mmio.write);
    push('mmio.length', rec.mmio.length, exit.mmio.length);
    if (rec.mmio.write) push('mmio.data', Buffer.from(rec.mmio.data).toString('hex'), Buffer.from(exit.mmio.data).toString('hex'));
  }
  if (exit.systemEvent !== undefined && typeof rec.detail?.type === 'number') push('system_event.type', rec.detail.type, exit.systemEvent);
  return out;
}

function reasonText(code: number): string {
  return (Object.entries(EXIT).find(([, c]) => c === code) ?? [`EXIT_${code}`])[0];
}

function describeExit(e: A64Exit): string {
  if (e.mmio) return `did an MMIO ${e.mmio.write ? 'write' : 'read'} at 0x${e.mmio.address.toString(16)} (${e.mmio.length} bytes)`;
  if (e.reason === EXIT.ARM_NISV) return 'did an MMIO access KVM cannot decode (ARM_NISV)';
  return `exited with ${reasonText(e.reason)}`;
}

function describeRecord(r: TraceRecord): string {
  if (r.mmio) return `an MMIO ${r.mmio.write ? 'write' : 'read'} at 0x${r.mmio.address.toString(16)} (${r.mmio.length} bytes)`;
  if (r.kind === 'step') return 'an instruction without an exit';
  return r.reasonName;
}
