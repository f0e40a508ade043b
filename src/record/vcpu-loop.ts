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
/** Offset of cr0 in struct kvm_sregs (after 8 segments and 2 descriptor tables). */
const SREGS_CR0 = 224;
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
  private readonly sregs: Uint8Array;
  private readonly sregsWords: Uint32Array;
  private readonly lastSregsWords: Uint32Array;
  private readonly L: Machine['addon']['runLayout'];
  private readonly t0: number;
  private records = 0;
  private readonly reasonCounts: number[] = [];
  private singleStep = false;
  /** Per exit kind: has this host already completed the instruction when it exits? */
  private readonly hostCompletes = new Map<'out' | 'mmio-write', boolean>();
  // Reused for every record: the hot path allocates nothing.
  private readonly rec: RecordInput = { kind: 'exit', reason: 0, timeNs: 0, runNs: 0, regsBytes: new Uint8Array(0) };
  private readonly io = { port: 0, size: 0, out: false, count: 0, data: new Uint8Array(0) as Uint8Array };
  private readonly mm = { address: 0, length: 0, write: false, data: new Uint8Array(0) as Uint8Array };
  private scratch = new Uint8Array(4096);
  private readonly smallCopies: Uint8Array[] = [];
  private readonly views = new Map<number, Uint8Array[]>();

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
    this.sregs = new Uint8Array(buf, this.L.syncSregs, SREGS_BYTES);
    this.sregsWords = new Uint32Array(buf, this.L.syncSregs, SREGS_BYTES / 4);
    this.lastSregsWords = new Uint32Array(machine.boot.sregsBytes.slice().buffer);
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
    this.singleStep = opts.singleStep;
    if (opts.singleStep) vcpu.setGuestDebug(KVM_GUESTDBG.ENABLE | KVM_GUESTDBG.SINGLESTEP);
    vcpu.startKickTimer(KICK_MS);
    let lastTick = performance.now();
    let pendingExit = false;
    let polls = 0;
    let kicked = false;
    try {
      for (;;) {
        if (opts.stopRequested()) return this.end('interrupted', 'stopped by the user (Ctrl-C); the trace is complete up to here');
        if (this.records >= opts.maxExits) return this.end('max-exits', `stopped after --max-exits ${opts.maxExits} records`);
        // The clock is read after a kick or every 256 exits: reading it per exit costs measurably.
        if (kicked || (++polls & 0xff) === 0) {
          kicked = false;
          const now = performance.now();
          if (now - lastTick >= KICK_MS) {
            lastTick = now;
            opts.onTick();
            await new Promise<void>((resolve) => setImmediate(resolve)); // lets the SIGINT handler run
            if (Date.now() >= opts.deadline) return this.end('timeout', 'stopped by --timeout');
          }
        }
        if (!pendingExit) {
          const err = opts.singleStep ? this.stepOnce() : vcpu.run();
          if (err === EINTR) {
            kicked = true;
            continue;
          }
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
    const sregs = new DataView(this.sregs.buffer, this.sregs.byteOffset);
    const csBase = sregs.getBigUint64(0, true);
    const paging = (sregs.getUint32(SREGS_CR0, true) & 0x80000000) !== 0;
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
    const at = run.getUint32(L.ioDataOffset, true); // an offset into the kvm_run page: the high half is 0
    const data = this.view(at, size * count);
    this.ports.access(port, size, count, out, data);
    const io = this.io;
    io.port = port;
    io.size = size;
    io.out = out;
    io.count = count;
    io.data = this.keep(data);
    this.rec.io = io;
    // A single OUT is the one exit kind some hosts have fully completed before exiting.
    return this.completeAndRecord(EXIT.IO, out && count === 1 ? 'out' : 'other');
  }

  private onMmio(): boolean {
    const { run, L } = this;
    const length = run.getUint32(L.mmioLen, true);
    const write = run.getUint8(L.mmioIsWrite) !== 0;
    const mmio = this.mm;
    mmio.address = run.getUint32(L.mmioPhysAddr, true) + run.getUint32(L.mmioPhysAddr + 4, true) * 0x100000000;
    mmio.length = length;
    mmio.write = write;
    const data = this.view(L.mmioData, length);
    this.mmio.access(mmio.address, write, data);
    mmio.data = this.keep(data);
    this.rec.mmio = mmio;
    return this.completeAndRecord(EXIT.MMIO, write ? 'mmio-write' : 'other');
  }

  /** A view of kvm_run bytes; the views of the usual small payloads are made once. */
  private view(at: number, length: number): Uint8Array {
    const cache = this.views.get(at);
    if (cache && length <= 8) return (cache[length] ??= this.runBytes.subarray(at, at + length));
    if (length <= 8) this.views.set(at, []);
    return this.runBytes.subarray(at, at + length);
  }

  /** Copies exit data out of kvm_run (completion may bring a new exit that overwrites it). */
  private keep(data: Uint8Array): Uint8Array {
    const n = data.length;
    if (n <= 8) {
      const small = (this.smallCopies[n] ??= new Uint8Array(n));
      for (let i = 0; i < n; i++) small[i] = data[i]!;
      return small;
    }
    if (n > this.scratch.length) this.scratch = new Uint8Array(n * 2);
    this.scratch.set(data);
    return this.scratch.subarray(0, n);
  }

  /**
   * Lets KVM finish the exiting instruction (RIP past it, an IN's value in RAX) without running
   * guest code, so recorded registers mean the same on every host (docs/exit-semantics.md).
   * Completion is a KVM_RUN with immediate_exit and costs as much as an exit; for a plain OUT
   * or MMIO write the first one tells whether this host had already finished the instruction
   * (registers unchanged), and if so later ones are skipped: the next KVM_RUN finishes it anyway.
   * A single-step DEBUG exit that completion raises belongs to this same instruction and is
   * absorbed; any other exit (the next batch of a rep ins/outs) is left pending.
   */
  private completeAndRecord(reason: number, kind: 'out' | 'mmio-write' | 'other'): boolean {
    const tAt = this.timing[1]!;
    const tRun = tAt - this.timing[0]!;
    let pending = false;
    const learn = kind !== 'other' && !this.singleStep;
    if (!learn || this.hostCompletes.get(kind) !== true) {
      const before = learn && !this.hostCompletes.has(kind) ? this.regs.slice() : undefined;
      const err = this.vcpu.complete();
      if (err !== EINTR && err !== 0) throw new Error(`KVM_RUN (completing an IO/MMIO exit) failed: errno ${err}`);
      pending = err === 0 && this.run.getUint32(this.L.exitReason, true) !== EXIT.DEBUG;
      if (learn && before && err === EINTR) this.hostCompletes.set(kind, Buffer.compare(before, this.regs) === 0);
    }
    this.record('exit', reason, tAt, tRun);
    return pending;
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
    this.rec.detail = info.detail;
    this.record('exit', reason);
    return this.end(endReason, info.message);
  }

  private record(kind: RecordKind, reason: number, tAt = this.timing[1]!, tRun = tAt - this.timing[0]!): void {
    const r = this.rec;
    r.kind = kind;
    r.reason = reason;
    r.timeNs = Math.max(0, Math.round(tAt - this.t0));
    r.runNs = Math.round(tRun);
    r.regsBytes = this.regs;
    r.sregsBytes = undefined;
    if (this.sregsChanged()) r.sregsBytes = this.sregs;
    this.writer.writeRecord(r);
    r.io = r.mmio = r.detail = undefined;
    this.records++;
    this.reasonCounts[reason] = (this.reasonCounts[reason] ?? 0) + 1;
  }

  /** Compares the synced sregs with the last recorded ones (and remembers them if changed). */
  private sregsChanged(): boolean {
    const cur = this.sregsWords;
    const last = this.lastSregsWords;
    for (let i = 0; i < cur.length; i++) {
      if (cur[i] !== last[i]) {
        last.set(cur);
        return true;
      }
    }
    return false;
  }

  private end(endReason: EndReason, message: string): LoopResult {
    const reasonCounts = new Map<number, number>();
    this.reasonCounts.forEach((n, code) => reasonCounts.set(code, n));
    return { endReason, message, records: this.records, reasonCounts };
  }
}
