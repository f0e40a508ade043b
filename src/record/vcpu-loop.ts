// The vCPU run loop: KVM_RUN, hand the exit to the devices, complete the instruction, record.
// Hot path: kvm_run and the synced registers are read in place; nothing is allocated per exit.
import { REGS_BYTES } from '../cpu-state.js';
import { SREGS_BYTES } from '../kvm-structs.js';
import { EXIT, INTERNAL_ERROR_NAMES, exitReasonName } from '../trace/exit-reasons.js';
import type { EndReason, ExitDetail, RecordKind } from '../trace/format.js';
import type { RecordInput, TraceWriter } from '../trace/writer.js';
import type { MmioBus, PortBus } from './devices/device.js';
import { KVM_GUESTDBG, type Vcpu } from './kvm.js';
import type { Machine } from './machine.js';

const EINTR = 4;
const KICK_MS = 20;
const HLT = 0xf4;
/** Prefix bytes that may precede an opcode (legacy prefixes; REX only matters in long mode). */
const PREFIXES = new Set([0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65, 0x66, 0x67, 0xf0, 0xf2, 0xf3]);

export interface LoopOptions {
  singleStep: boolean;
  maxExits: number;
  /** Absolute deadline in ms (Date.now()), or Infinity. */
  deadline: number;
  /** Polled between exits; true once the user asked to stop (Ctrl-C). */
  stopRequested: () => boolean;
  /** Called about every KICK_MS so buffered output reaches the terminal. */
  onTick: () => void;
}

export interface LoopResult {
  endReason: EndReason;
  message: string;
  records: number;
  reasonCounts: Map<number, number>;
}

export class VcpuLoop {
  private readonly vcpu: Vcpu;
  private readonly run: DataView;
  private readonly runBytes: Uint8Array;
  private readonly timing: Float64Array;
  private readonly regs: Uint8Array;
  private readonly sregs: Buffer;
  private readonly lastSregs: Buffer;
  private readonly L: Machine['addon']['runLayout'];
  private readonly t0: number;
  private records = 0;
  private readonly reasonCounts = new Map<number, number>();

  constructor(
    private readonly machine: Machine,
    private readonly ports: PortBus,
    private readonly mmio: MmioBus,
    private readonly writer: TraceWriter,
  ) {
    this.vcpu = machine.vcpu;
    this.L = machine.addon.runLayout;
    const buf = this.vcpu.runBuffer();
    this.run = new DataView(buf);
    this.runBytes = new Uint8Array(buf);
    this.timing = new Float64Array(this.vcpu.timingBuffer());
    this.regs = new Uint8Array(buf, this.L.syncRegs, REGS_BYTES);
    this.sregs = Buffer.from(buf, this.L.syncSregs, SREGS_BYTES);
    this.lastSregs = Buffer.from(machine.boot.sregsBytes);
    this.t0 = Number(process.hrtime.bigint()); // CLOCK_MONOTONIC, like the addon's timings
  }

  /** The register bytes KVM last reported (after the final exit: the final state). */
  get regsBytes(): Uint8Array {
    return this.regs.slice();
  }

  get sregsBytes(): Uint8Array {
    return Uint8Array.from(this.sregs);
  }

  async loop(opts: LoopOptions): Promise<LoopResult> {
    const { vcpu } = this;
    if (opts.singleStep) vcpu.setGuestDebug(KVM_GUESTDBG.ENABLE | KVM_GUESTDBG.SINGLESTEP);
    vcpu.startKickTimer(KICK_MS);
    let lastTick = performance.now();
    let pendingExit = false;
    try {
      for (;;) {
        if (opts.stopRequested()) return this.end('interrupted', 'stopped by the user (Ctrl-C); the trace is complete up to here');
        if (this.records >= opts.maxExits) return this.end('max-exits', `stopped after --max-exits ${opts.maxExits} records`);
        const now = performance.now();
        if (now - lastTick >= KICK_MS) {
          lastTick = now;
          opts.onTick();
          await new Promise<void>((resolve) => setImmediate(resolve)); // lets the SIGINT handler run
          if (Date.now() >= opts.deadline) return this.end('timeout', 'stopped by --timeout');
          continue;
        }
        if (!pendingExit) {
          const err = opts.singleStep ? this.stepOnce() : vcpu.run();
          if (err === EINTR) continue;
          if (err !== 0) return this.end('error', `KVM_RUN failed: errno ${err}`);
        }
        pendingExit = false;
        const reason = this.run.getUint32(this.L.exitReason, true);
        switch (reason) {
          case EXIT.IO:
            pendingExit = this.onIo();
            break;
          case EXIT.MMIO:
            pendingExit = this.onMmio();
            break;
          case EXIT.DEBUG:
            this.record('step', reason);
            break;
          case EXIT.HLT:
            this.record('exit', reason);
            return this.end('hlt', 'guest halted (HLT)');
          case EXIT.SHUTDOWN:
            this.record('exit', reason);
            return this.end('shutdown', 'guest shut down (triple fault, or a mode this KVM cannot run)');
          case EXIT.FAIL_ENTRY:
            return this.endWith(reason, 'fail-entry', this.failEntryDetail());
          case EXIT.INTERNAL_ERROR:
            return this.endWith(reason, 'internal-error', this.internalErrorDetail());
          default:
            this.record('exit', reason);
            return this.end('unexpected-exit', `unexpected exit ${exitReasonName(reason)} (${reason})`);
        }
      }
    } finally {
      vcpu.stopKickTimer();
    }
  }

  /**
   * One single-step KVM_RUN. A HLT under single-step does not exit as HLT on every host, so
   * when the next instruction is HLT it runs with single-step off: the run then ends with the
   * same HLT exit as a plain run.
   */
  private stepOnce(): number {
    if (!this.nextIsHlt()) return this.vcpu.run();
    this.vcpu.setGuestDebug(0);
    try {
      return this.vcpu.run();
    } finally {
      this.vcpu.setGuestDebug(KVM_GUESTDBG.ENABLE | KVM_GUESTDBG.SINGLESTEP);
    }
  }

  private nextIsHlt(): boolean {
    const v = new DataView(this.regs.buffer, this.regs.byteOffset);
    const rip = v.getBigUint64(16 * 8, true);
    const csBase = this.sregs.readBigUInt64LE(0);
    const paging = (this.sregs.readBigUInt64LE(224) & 0x80000000n) !== 0n;
    let linear = csBase + rip;
    for (let i = 0; i < 15; i++, linear++) {
      const phys = paging ? this.translate(linear) : linear;
      const byte = phys === undefined ? undefined : this.readPhys(Number(phys));
      if (byte === undefined) return false;
      if (!PREFIXES.has(byte)) return byte === HLT;
    }
    return false;
  }

  private translate(linear: bigint): bigint | undefined {
    const t = this.vcpu.translate(linear);
    return t.valid ? t.physical : undefined;
  }

  private readPhys(addr: number): number | undefined {
    const region = this.machine.ram.find((r) => addr >= r.base && addr < r.base + r.bytes.length);
    return region?.bytes[addr - region.base];
  }

  /** Returns true when completing the instruction produced a new exit still to handle. */
  private onIo(): boolean {
    const { run, L } = this;
    const out = run.getUint8(L.ioDirection) === 1;
    const size = run.getUint8(L.ioSize);
    const port = run.getUint16(L.ioPort, true);
    const count = run.getUint32(L.ioCount, true);
    const at = Number(run.getBigUint64(L.ioDataOffset, true));
    const data = this.runBytes.subarray(at, at + size * count);
    this.ports.access(port, size, count, out, data);
    const payload = { port, size, out, count, data: Uint8Array.from(data) };
    const tAt = this.timing[1]!;
    const tRun = tAt - this.timing[0]!;
    const pending = this.completeInstruction();
    this.record('exit', EXIT.IO, { io: payload }, tAt, tRun);
    return pending;
  }

  private onMmio(): boolean {
    const { run, L } = this;
    const address = Number(run.getBigUint64(L.mmioPhysAddr, true));
    const length = run.getUint32(L.mmioLen, true);
    const write = run.getUint8(L.mmioIsWrite) !== 0;
    const data = this.runBytes.subarray(L.mmioData, L.mmioData + length);
    this.mmio.access(address, write, data);
    const payload = { address, length, write, data: Uint8Array.from(data) };
    const tAt = this.timing[1]!;
    const tRun = tAt - this.timing[0]!;
    const pending = this.completeInstruction();
    this.record('exit', EXIT.MMIO, { mmio: payload }, tAt, tRun);
    return pending;
  }

  /**
   * Lets KVM finish the exiting instruction (RIP past it, an IN's value in RAX) without running
   * guest code, so recorded registers mean the same on every host (docs/exit-semantics.md).
   * A single-step DEBUG exit that completion raises belongs to this same instruction and is
   * absorbed; any other exit (the next batch of a rep ins/outs) is left pending.
   */
  private completeInstruction(): boolean {
    const err = this.vcpu.complete();
    if (err === EINTR) return false;
    if (err !== 0) throw new Error(`KVM_RUN (completing an IO/MMIO exit) failed: errno ${err}`);
    return this.run.getUint32(this.L.exitReason, true) !== EXIT.DEBUG;
  }

  private failEntryDetail(): { detail: ExitDetail; message: string } {
    const hw = this.run.getBigUint64(this.L.failEntryReason, true);
    return {
      detail: { hardwareEntryFailureReason: Number(hw), cpu: this.run.getUint32(this.L.failEntryCpu, true) },
      message: `KVM could not enter the guest (hardware entry failure reason 0x${hw.toString(16)}): the initial state is invalid for this host`,
    };
  }

  private internalErrorDetail(): { detail: ExitDetail; message: string } {
    const sub = this.run.getUint32(this.L.internalSuberror, true);
    const n = Math.min(this.run.getUint32(this.L.internalNdata, true), 16);
    const data = Array.from({ length: n }, (_, i) => Number(this.run.getBigUint64(this.L.internalData + 8 * i, true)));
    const name = INTERNAL_ERROR_NAMES[sub] ?? String(sub);
    const rip = new DataView(this.regs.buffer, this.regs.byteOffset).getBigUint64(16 * 8, true);
    const hint = sub === 1 ? ' — KVM could not emulate the instruction (this host cannot run it in this mode)' : '';
    return {
      detail: { suberror: sub, suberrorName: name, data },
      message: `KVM internal error ${name} at RIP 0x${rip.toString(16)}${hint}`,
    };
  }

  private endWith(reason: number, endReason: EndReason, info: { detail: ExitDetail; message: string }): LoopResult {
    this.record('exit', reason, { detail: info.detail });
    return this.end(endReason, info.message);
  }

  private record(
    kind: RecordKind,
    reason: number,
    extra: Pick<RecordInput, 'io' | 'mmio' | 'detail'> = {},
    tAt = this.timing[1]!,
    tRun = tAt - this.timing[0]!,
  ): void {
    let sregsBytes: Uint8Array | undefined;
    if (!this.sregs.equals(this.lastSregs)) {
      this.sregs.copy(this.lastSregs);
      sregsBytes = this.sregs;
    }
    this.writer.writeRecord({
      kind,
      reason,
      timeNs: Math.max(0, Math.round(tAt - this.t0)),
      runNs: Math.round(tRun),
      regsBytes: this.regs,
      sregsBytes,
      ...extra,
    });
    this.records++;
    this.reasonCounts.set(reason, (this.reasonCounts.get(reason) ?? 0) + 1);
  }

  private end(endReason: EndReason, message: string): LoopResult {
    return { endReason, message, records: this.records, reasonCounts: this.reasonCounts };
  }
}
