// The vCPU run loop: KVM_RUN, hand each exit to the devices, complete the instruction, record.
// Exits arrive as snapshots in the addon's exit ring (see ExitRing); the hot path reads them in
// place and allocates nothing per exit.
import { KICK_MS, LoopTicker } from './loop-ticker.js';
import { EXIT, INTERNAL_ERROR_NAMES, exitReasonName } from '../trace/exit-reasons.js';
import type { EndReason, ExitDetail, RecordKind } from '../trace/format.js';
import type { RecordInput, TraceWriter } from '../trace/writer.js';
import type { MmioBus, PortBus } from './devices/device.js';
import { ExitRing } from './exit-ring.js';
import { KVM_GUESTDBG, type Vcpu } from './kvm.js';
import type { Machine } from './machine.js';

const EINTR = 4;
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
  /**
   * Called once per run when the guest has made no exit for `stallMs` (default
   * DEFAULT_STALL_MS): it may be spinning without I/O. The run goes on.
   */
  onStall?: (ms: number) => void;
  stallMs?: number;
}

/** How long without an exit before LoopOptions.onStall is called. */
export { DEFAULT_STALL_MS } from './loop-ticker.js';

export interface LoopResult {
  endReason: EndReason;
  message: string;
  records: number;
  reasonCounts: Map<number, number>;
}

/** Exit kinds after which some hosts have already finished the instruction. */
type Learnable = 'out' | 'mmio-write';

export class VcpuLoop {
  private readonly vcpu: Vcpu;
  private readonly run: DataView;
  private readonly runBytes: Uint8Array;
  private readonly ring: ExitRing;
  private readonly L: Machine['addon']['runLayout'];
  private readonly t0: number;
  private readonly lastSregsWords: Uint32Array;
  private records = 0;
  /** Records written when the loop last looked at the clock. */
  private tickRecords = 0;
  /** Ring slot of the most recent snapshot. */
  private lastSlot = 0;
  private readonly reasonCounts: number[] = [];
  private singleStep = false;
  /** Per exit kind: has this host already completed the instruction when it exits? */
  private readonly hostCompletes = new Map<Learnable, boolean>();
  // Reused for every record: the hot path allocates nothing.
  private readonly rec: RecordInput = { kind: 'exit', reason: 0, timeNs: 0, runNs: 0, regsBytes: new Uint8Array(0) };
  private readonly io = { port: 0, size: 0, out: false, count: 0, data: new Uint8Array(0) as Uint8Array };
  private readonly mm = { address: 0, length: 0, write: false, data: new Uint8Array(0) as Uint8Array };
  private scratch = new Uint8Array(4096);
  private readonly smallCopies: Uint8Array[] = [];

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
    this.ring = new ExitRing(this.vcpu.exitRing(), this.L);
    this.lastSregsWords = new Uint32Array(machine.boot.sregsBytes.slice().buffer);
    this.t0 = Number(process.hrtime.bigint()); // CLOCK_MONOTONIC, like the addon's timestamps
  }

  /** The registers KVM last reported (after the final exit: the final state). */
  get regsBytes(): Uint8Array {
    return this.ring.regs[this.lastSlot]!.slice();
  }

  get sregsBytes(): Uint8Array {
    return this.ring.sregs[this.lastSlot]!.slice();
  }

  async loop(opts: LoopOptions): Promise<LoopResult> {
    const { vcpu, ring } = this;
    this.singleStep = opts.singleStep;
    if (opts.singleStep) vcpu.setGuestDebug(KVM_GUESTDBG.ENABLE | KVM_GUESTDBG.SINGLESTEP);
    vcpu.startKickTimer(KICK_MS);
    let pending = false;
    let kicked = false;
    const ticker = new LoopTicker(opts, this.records);
    try {
      for (;;) {
        if (opts.stopRequested()) return this.end('interrupted', 'stopped by the user (Ctrl-C); the trace is complete up to here');
        if (this.records >= opts.maxExits) return this.end('max-exits', `stopped after --max-exits ${opts.maxExits} records`);
        if (kicked || this.records - this.tickRecords >= 256) {
          kicked = false;
          this.tickRecords = this.records;
          if (await ticker.tick(this.records)) return this.end('timeout', 'stopped by --timeout');
        }
        // A pending exit (raised while completing the previous one) is already in slot 0.
        const room = Math.min(ring.slots, opts.maxExits - this.records);
        const n = pending ? 1 : opts.singleStep ? this.stepOnce() : vcpu.runBatch(room, this.hostCompletes.get('out') === true);
        pending = false;
        // Every slot but the last holds a single OUT that this host had fully completed. A
        // device may end the run at one of them: what the guest did after it is not recorded.
        let i = 0;
        for (; i < n - 1; i++) {
          this.onCompletedOut(i);
          if (opts.stopRequested()) break;
        }
        if (i < n - 1) {
          this.lastSlot = i;
          continue;
        }
        const slot = n - 1;
        this.lastSlot = slot;
        const err = ring.err(slot);
        if (err === EINTR) {
          kicked = true;
          continue;
        }
        if (err !== 0) return this.end('error', `KVM_RUN failed: errno ${err}`);
        const reason = ring.exitReason(slot);
        switch (reason) {
          case EXIT.IO:
            pending = this.onIo(slot);
            break;
          case EXIT.MMIO:
            pending = this.onMmio(slot);
            break;
          case EXIT.DEBUG:
            this.record('step', reason, slot, slot);
            break;
          case EXIT.HLT:
            this.record('exit', reason, slot, slot);
            return this.end('hlt', 'guest halted (HLT)');
          case EXIT.SHUTDOWN:
            this.record('exit', reason, slot, slot);
            return this.end('shutdown', 'guest shut down (triple fault, or a mode this KVM cannot run)');
          case EXIT.FAIL_ENTRY:
            return this.endWith(reason, slot, 'fail-entry', this.failEntryDetail());
          case EXIT.INTERNAL_ERROR:
            return this.endWith(reason, slot, 'internal-error', this.internalErrorDetail(slot));
          default:
            this.record('exit', reason, slot, slot);
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
    if (!this.nextIsHlt()) return this.vcpu.runBatch(1, false);
    this.vcpu.setGuestDebug(0);
    try {
      return this.vcpu.runBatch(1, false);
    } finally {
      this.vcpu.setGuestDebug(KVM_GUESTDBG.ENABLE | KVM_GUESTDBG.SINGLESTEP);
    }
  }

  private nextIsHlt(): boolean {
    const { rip, csBase, paging } = this.ring.position(this.lastSlot);
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

  /** A batched single OUT: the device sees it now, its registers are those of its snapshot. */
  private onCompletedOut(slot: number): void {
    const { ring, io } = this;
    const size = ring.ioSize(slot);
    io.port = ring.ioPort(slot);
    io.size = size;
    io.out = true;
    io.count = 1;
    io.data = ring.ioData(slot, size);
    this.ports.access(io.port, size, 1, true, io.data);
    this.rec.io = io;
    this.record('exit', EXIT.IO, slot, slot);
  }

  /** Returns true when completing the instruction produced a new exit still to handle. */
  private onIo(slot: number): boolean {
    const { ring, io } = this;
    const out = ring.ioOut(slot);
    const size = ring.ioSize(slot);
    const count = ring.ioCount(slot);
    const at = ring.ioDataOffset(slot);
    const data = this.runBytes.subarray(at, at + size * count);
    io.port = ring.ioPort(slot);
    io.size = size;
    io.out = out;
    io.count = count;
    this.ports.access(io.port, size, count, out, data);
    io.data = this.keep(data);
    this.rec.io = io;
    return this.completeAndRecord(EXIT.IO, slot, out && count === 1 ? 'out' : undefined);
  }

  private onMmio(slot: number): boolean {
    const { run, L, mm } = this;
    const length = run.getUint32(L.mmioLen, true);
    mm.address = run.getUint32(L.mmioPhysAddr, true) + run.getUint32(L.mmioPhysAddr + 4, true) * 0x100000000;
    mm.length = length;
    mm.write = run.getUint8(L.mmioIsWrite) !== 0;
    const data = this.runBytes.subarray(L.mmioData, L.mmioData + length);
    this.mmio.access(mm.address, mm.write, data);
    mm.data = this.keep(data);
    this.rec.mmio = mm;
    return this.completeAndRecord(EXIT.MMIO, slot, mm.write ? 'mmio-write' : undefined);
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
   * absorbed; any other exit (the next batch of a rep ins/outs) is left pending in slot 0.
   */
  private completeAndRecord(reason: number, slot: number, learnable: Learnable | undefined): boolean {
    const { ring } = this;
    const tEnter = ring.tEnter(slot);
    const tExit = ring.tExit(slot);
    const learn = learnable !== undefined && !this.singleStep;
    if (learn && this.hostCompletes.get(learnable) === true) {
      this.record('exit', reason, slot, slot);
      return false;
    }
    const before = learn && !this.hostCompletes.has(learnable) ? ring.regs[slot]!.slice() : undefined;
    const err = this.vcpu.complete(); // snapshots into slot 0
    if (err !== EINTR && err !== 0) throw new Error(`KVM_RUN (completing an IO/MMIO exit) failed: errno ${err}`);
    // String OUTs finish before exiting on every host, so only a plain OUT can teach anything.
    if (before && err === EINTR && (learnable === 'mmio-write' || this.endsWithPlainOut(0))) {
      this.hostCompletes.set(learnable!, Buffer.compare(before, ring.regs[0]!) === 0);
    }
    this.lastSlot = 0;
    this.recordAt('exit', reason, 0, tEnter, tExit);
    return err === 0 && ring.exitReason(0) !== EXIT.DEBUG;
  }

  /** Whether the instruction that ends right before RIP is `out imm8` / `out dx` (not OUTS). */
  private endsWithPlainOut(slot: number): boolean {
    const { rip, csBase, paging } = this.ring.position(slot);
    if (paging) return false;
    const at = Number(csBase + rip);
    const last = this.readPhys(at - 1);
    if (last === 0x6e || last === 0x6f) return false;
    return last === 0xee || last === 0xef || this.readPhys(at - 2) === 0xe6 || this.readPhys(at - 2) === 0xe7;
  }

  private failEntryDetail(): { detail: ExitDetail; message: string } {
    const hw = this.run.getBigUint64(this.L.failEntryReason, true);
    return {
      detail: { hardwareEntryFailureReason: Number(hw), cpu: this.run.getUint32(this.L.failEntryCpu, true) },
      message: `KVM could not enter the guest (hardware entry failure reason 0x${hw.toString(16)}): the initial state is invalid for this host`,
    };
  }

  private internalErrorDetail(slot: number): { detail: ExitDetail; message: string } {
    const sub = this.run.getUint32(this.L.internalSuberror, true);
    const n = Math.min(this.run.getUint32(this.L.internalNdata, true), 16);
    const data = Array.from({ length: n }, (_, i) => Number(this.run.getBigUint64(this.L.internalData + 8 * i, true)));
    const name = INTERNAL_ERROR_NAMES[sub] ?? String(sub);
    const { rip } = this.ring.position(slot);
    const hint = sub === 1 ? ' — KVM could not emulate the instruction (this host cannot run it in this mode)' : '';
    return {
      detail: { suberror: sub, suberrorName: name, data },
      message: `KVM internal error ${name} at RIP 0x${rip.toString(16)}${hint}`,
    };
  }

  private endWith(reason: number, slot: number, endReason: EndReason, info: { detail: ExitDetail; message: string }): LoopResult {
    this.rec.detail = info.detail;
    this.record('exit', reason, slot, slot);
    return this.end(endReason, info.message);
  }

  /** Records an exit whose timing and registers are both those of one slot. */
  private record(kind: RecordKind, reason: number, timingSlot: number, stateSlot: number): void {
    this.recordAt(kind, reason, stateSlot, this.ring.tEnter(timingSlot), this.ring.tExit(timingSlot));
  }

  private recordAt(kind: RecordKind, reason: number, stateSlot: number, tEnter: number, tExit: number): void {
    const r = this.rec;
    r.kind = kind;
    r.reason = reason;
    r.timeNs = Math.max(0, Math.round(tExit - this.t0));
    r.runNs = Math.round(tExit - tEnter);
    r.regsBytes = this.ring.regs[stateSlot]!;
    r.sregsBytes = this.sregsChanged(stateSlot) ? this.ring.sregs[stateSlot] : undefined;
    this.writer.writeRecord(r);
    r.io = r.mmio = r.detail = undefined;
    this.records++;
    this.reasonCounts[reason] = (this.reasonCounts[reason] ?? 0) + 1;
  }

  /** Compares a slot's sregs with the last recorded ones (and remembers them if changed). */
  private sregsChanged(slot: number): boolean {
    const cur = this.ring.sregsWords[slot]!;
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
