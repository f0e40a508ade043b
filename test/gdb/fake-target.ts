// A scripted DebugTarget for testing the gdb stub's protocol without the interpreter: a straight
// line of two-byte instructions at 0x1000, 0x1002, …; after i steps RIP = 0x1000 + 2i and
// RAX = i; record k is matched at instruction 10(k + 1); 64 KiB of memory from 0.
import type { Regs, Sregs } from '../../src/cpu-state.js';
import type { DebugTarget, Position, RunControl, StopReason, Watchpoint } from '../../src/replay/debug-target.js';
import type { TraceHeader, TraceRecord } from '../../src/trace/format.js';
import type { GuestMode } from '../../src/replay/gdb/registers.js';

export interface Access {
  kind: 'read' | 'write';
  address: number;
  length: number;
}

export interface FakeScript {
  /** Instructions in the trace: forward execution ends there. */
  length: number;
  /** Forward execution diverges on reaching this instruction count. */
  divergeAt?: number;
  /** The memory access instruction i makes (going from i to i + 1 steps). */
  accesses?: Record<number, Access>;
  modeAt?: (instructions: number) => GuestMode;
  /** Steps between polls of `interrupted` (the fake yields to the event loop there). */
  pollEvery?: number;
}

export const CODE = 0x1000;
export const ripAt = (i: number) => CODE + 2 * i;
const MEMORY = 0x10000;
const PER_RECORD = 10;

function watched(w: readonly Watchpoint[], a: Access | undefined): Watchpoint | undefined {
  if (!a) return undefined;
  return w.find((x) => (x.kind === 'access' || x.kind === a.kind) && a.address < x.address + x.length && x.address < a.address + a.length);
}

export class FakeTarget implements DebugTarget {
  private i = 0;
  private overrides: Partial<Regs> = {};
  readonly memory = new Uint8Array(MEMORY);
  stopped: StopReason | undefined;
  /** Every interrupted() poll the fake made. */
  polls = 0;

  constructor(
    readonly header: TraceHeader,
    private readonly script: FakeScript,
  ) {}

  get position(): Position {
    return { instructions: this.i, records: Math.floor(this.i / PER_RECORD) };
  }

  get mode(): GuestMode {
    return this.script.modeAt?.(this.i) ?? 'protected32';
  }

  regs(): Regs {
    return { ...this.header.boot.regs, rax: BigInt(this.i) | 0x1234_5678_0000_0000n, rip: BigInt(ripAt(this.i)), ...this.overrides };
  }

  sregs(): Sregs {
    return this.header.boot.sregs;
  }

  msr(): bigint | undefined {
    return undefined;
  }

  x87() {
    return { cw: 0x37f, sw: 0, tw: 0xffff };
  }

  readLinear(address: number, length: number): Uint8Array | null {
    return address + length <= MEMORY ? this.memory.slice(address, address + length) : null;
  }

  disassemble() {
    return [];
  }

  writeLinear(address: number, bytes: Uint8Array): boolean {
    if (address + bytes.length > MEMORY) return false;
    this.memory.set(bytes, address);
    return true;
  }

  setRegs(regs: Partial<Regs>): void {
    this.overrides = { ...this.overrides, ...regs };
  }

  async recordAt(index: number): Promise<TraceRecord | undefined> {
    if ((index + 1) * PER_RECORD > this.script.length) return undefined;
    const regs = { ...this.header.boot.regs, rax: BigInt((index + 1) * PER_RECORD), rip: BigInt(ripAt((index + 1) * PER_RECORD)) };
    return {
      kind: 'exit', seq: index, reason: 2, reasonName: 'IO', timeNs: 1000 * index, runNs: 10, regsBytes: new Uint8Array(144), regs,
      sregs: this.header.boot.sregs, sregsChanged: false, io: { port: 0xf1, size: 1, direction: 'out', count: 1, data: Uint8Array.of(0x48) }, offset: 100 + index,
    };
  }

  private moveTo(i: number): void {
    this.i = i;
    this.overrides = {};
  }

  /** Where forward execution cannot go on, if it stands there. */
  private forwardEnd(): StopReason | undefined {
    if (this.i === this.script.divergeAt) {
      this.stopped = {
        kind: 'divergence',
        divergence: { kind: 'payload', index: this.position.records, offset: 123, message: `exit #${this.position.records}: the guest did OUT port 0xf1, the trace has OUT port 0xf2`, fields: [{ field: 'io.port', expected: '0xf2', actual: '0xf1' }], registers: [], history: [] },
      };
      return this.stopped;
    }
    if (this.i >= this.script.length) {
      this.stopped = { kind: 'end', result: { ok: true, matched: this.position.records, exits: this.position.records, instructions: this.i, singleStep: false, recordedEnd: 'hlt', truncated: false, undefinedFlags: { adopted: 0 } } };
      return this.stopped;
    }
    return undefined;
  }

  private async poll(ctl: RunControl, n: number): Promise<boolean> {
    if (n % (this.script.pollEvery ?? 1000) !== 0) return false;
    await new Promise((r) => setImmediate(r));
    this.polls++;
    return ctl.interrupted?.() ?? false;
  }

  async stepInstruction(ctl?: Pick<RunControl, 'watchpoints'>): Promise<StopReason> {
    const end = this.forwardEnd();
    if (end) return end;
    const access = this.script.accesses?.[this.i];
    this.moveTo(this.i + 1);
    const w = watched(ctl?.watchpoints ?? [], access);
    return w ? { kind: 'watchpoint', watch: w.kind, address: access!.address } : { kind: 'step' };
  }

  async continue(ctl: RunControl): Promise<StopReason> {
    for (let n = 1; ; n++) {
      const end = this.forwardEnd();
      if (end) return end;
      const access = this.script.accesses?.[this.i];
      this.moveTo(this.i + 1);
      const w = watched(ctl.watchpoints, access);
      if (w) return { kind: 'watchpoint', watch: w.kind, address: access!.address };
      if (ctl.breakpoints.has(ripAt(this.i))) return { kind: 'breakpoint', address: ripAt(this.i) };
      if (await this.poll(ctl, n)) return { kind: 'interrupted' };
    }
  }

  async reverseStepInstruction(): Promise<StopReason> {
    if (this.i === 0) return { kind: 'start' };
    this.moveTo(this.i - 1);
    this.stopped = undefined;
    return { kind: 'step' };
  }

  async reverseContinue(ctl: RunControl): Promise<StopReason> {
    for (let n = 1; ; n++) {
      if (this.i === 0) return { kind: 'start' };
      this.moveTo(this.i - 1);
      this.stopped = undefined;
      const access = this.script.accesses?.[this.i];
      const w = watched(ctl.watchpoints, access);
      if (w) return { kind: 'watchpoint', watch: w.kind, address: access!.address };
      if (ctl.breakpoints.has(ripAt(this.i))) return { kind: 'breakpoint', address: ripAt(this.i) };
      if (await this.poll(ctl, n)) return { kind: 'interrupted' };
    }
  }

  async seekInstruction(instructions: number): Promise<StopReason | undefined> {
    const limit = Math.min(this.script.divergeAt ?? Infinity, this.script.length);
    this.moveTo(Math.min(instructions, limit));
    this.stopped = undefined;
    return instructions > limit ? this.forwardEnd() : undefined;
  }

  async seekRecord(index: number): Promise<StopReason | undefined> {
    return this.seekInstruction((index + 1) * PER_RECORD);
  }
}
