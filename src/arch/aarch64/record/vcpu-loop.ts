// The arm64 vCPU run loop: KVM_RUN, hand MMIO to the devices, complete the instruction, read the
// registers (KVM_GET_ONE_REG: arm64 has no bulk or sync registers), record. Exits cost about a
// millisecond or more each here (48 ioctls for the registers), so, unlike the x86 loop, this one
// batches nothing.
import type { MmioBus } from '../../../record/devices/device.js';
import { KVM_GUESTDBG } from '../../../record/kvm.js';
import { KICK_MS, LoopTicker } from '../../../record/loop-ticker.js';
import type { LoopOptions, LoopResult } from '../../../record/vcpu-loop.js';
import { EXIT, exitReasonName } from '../../../trace/exit-reasons.js';
import type { EndReason, ExitDetail, RecordKind } from '../../../trace/format.js';
import type { RecordInput, TraceWriter } from '../../../trace/writer.js';
import { SYSTEM_EVENT } from '../layout.js';
import { A64_REG } from '../state.js';
import type { A64Machine } from './machine.js';

const EINTR = 4;
const ENOSYS = 38;

/** How the loop ended, with what the recorder needs beyond LoopResult. */
export interface A64LoopResult extends LoopResult {
  /** The SYSTEM_EVENT type, when a PSCI call ended the run. */
  systemEvent?: number;
}

export class A64VcpuLoop {
  private readonly run: DataView;
  private readonly runBytes: Uint8Array;
  private readonly state: DataView;
  private readonly lastSysregs: Uint32Array;
  private readonly sysregsWords: Uint32Array;
  private readonly t0 = Number(process.hrtime.bigint()); // CLOCK_MONOTONIC, like the addon's times
  private records = 0;
  private readonly reasonCounts = new Map<number, number>();
  private readonly rec: RecordInput = { kind: 'exit', reason: 0, timeNs: 0, runNs: 0, regsBytes: new Uint8Array(0) };

  constructor(
    private readonly machine: A64Machine,
    private readonly mmio: MmioBus,
    private readonly writer: TraceWriter,
  ) {
    const buf = machine.vcpu.runBuffer();
    this.run = new DataView(buf);
    this.runBytes = new Uint8Array(buf);
    const L = machine.addon.runLayout;
    const state = machine.vcpu.stateBuffer();
    this.state = new DataView(state);
    this.sysregsWords = new Uint32Array(state, L.stateSysregs, machine.sysregs.length / 4);
    this.lastSysregs = new Uint32Array(machine.boot.sysregsBytes.slice().buffer);
  }

  /** The registers last read (after the run: the final state). */
  get regsBytes(): Uint8Array {
    return this.machine.regs.slice();
  }

  get sysregsBytes(): Uint8Array {
    return this.machine.sysregs.slice();
  }

  /** The PC last read. */
  get pc(): bigint {
    return this.state.getBigUint64(this.machine.addon.runLayout.stateRegs + A64_REG.pc * 8, true);
  }

  async loop(opts: LoopOptions): Promise<A64LoopResult> {
    const { vcpu } = this.machine;
    const L = this.machine.addon.runLayout;
    if (opts.singleStep) vcpu.setGuestDebug(KVM_GUESTDBG.ENABLE | KVM_GUESTDBG.SINGLESTEP);
    vcpu.startKickTimer(KICK_MS);
    const ticker = new LoopTicker(opts, this.records);
    try {
      for (;;) {
        if (opts.stopRequested()) return this.end('interrupted', 'stopped by the user (Ctrl-C); the trace is complete up to here');
        if (this.records >= opts.maxExits) return this.end('max-exits', `stopped after --max-exits ${opts.maxExits} records`);
        if (await ticker.tick(this.records)) return this.end('timeout', 'stopped by --timeout');
        const err = vcpu.run();
        if (err === EINTR) continue;
        if (err === ENOSYS) {
          vcpu.readState(false);
          return this.end('error', `KVM_RUN failed: ENOSYS at PC 0x${this.pc.toString(16)} (an MMIO access KVM cannot decode, and this KVM cannot report it as ARM_NISV)`);
        }
        if (err !== 0) return this.end('error', `KVM_RUN failed: errno ${err}`);
        const reason = this.run.getUint32(L.exitReason, true);
        switch (reason) {
          case EXIT.MMIO:
            this.onMmio();
            break;
          case EXIT.DEBUG:
            // One per instruction. An MMIO instruction has no step exit of its own: completing
            // it (immediate_exit) retires it, and the next step exit is the next instruction's
            // (measured, docs/arm64.md), so its MMIO record is its only one, as on x86.
            vcpu.readState(true);
            this.record('step', reason);
            break;
          case EXIT.SYSTEM_EVENT:
            return this.onSystemEvent(reason);
          case EXIT.ARM_NISV: {
            vcpu.readState(true);
            const esrIss = Number(this.run.getBigUint64(L.nisvEsrIss, true));
            const faultIpa = Number(this.run.getBigUint64(L.nisvFaultIpa, true));
            this.rec.detail = { esrIss, faultIpa };
            this.record('exit', reason);
            return this.end(
              'error',
              `the guest's MMIO access at PC 0x${this.pc.toString(16)} (address 0x${faultIpa.toString(16)}) uses writeback or a register pair (ESR ISV=0): KVM cannot emulate it; use a plain LDR/STR for device registers`,
            );
          }
          case EXIT.FAIL_ENTRY: {
            vcpu.readState(true);
            const hw = this.run.getBigUint64(L.failEntryReason, true);
            this.rec.detail = { hardwareEntryFailureReason: Number(hw), cpu: this.run.getUint32(L.failEntryCpu, true) };
            this.record('exit', reason);
            return this.end('fail-entry', `KVM could not enter the guest (hardware entry failure reason 0x${hw.toString(16)})`);
          }
          case EXIT.INTERNAL_ERROR: {
            vcpu.readState(true);
            const sub = this.run.getUint32(L.internalSuberror, true);
            this.rec.detail = { suberror: sub };
            this.record('exit', reason);
            return this.end('internal-error', `KVM internal error ${sub} at PC 0x${this.pc.toString(16)}`);
          }
          default:
            vcpu.readState(true);
            this.record('exit', reason);
            return this.end('unexpected-exit', `unexpected exit ${exitReasonName(reason)} (${reason}) at PC 0x${this.pc.toString(16)}`);
        }
      }
    } finally {
      vcpu.stopKickTimer();
    }
  }

  /**
   * The device answers (a read's bytes go into kvm_run.mmio.data), then KVM finishes the
   * instruction (the loaded register, PC past it) before the registers are read: the record holds
   * the state after the instruction, as on x86.
   */
  private onMmio(): void {
    const L = this.machine.addon.runLayout;
    const { run } = this;
    const length = run.getUint32(L.mmioLen, true);
    const address = Number(run.getBigUint64(L.mmioPhysAddr, true));
    const write = run.getUint8(L.mmioIsWrite) !== 0;
    const data = this.runBytes.subarray(L.mmioData, L.mmioData + length);
    this.mmio.access(address, write, data);
    // With immediate_exit KVM never enters the guest: EINTR is the only success.
    const err = this.machine.vcpu.complete();
    if (err !== EINTR) throw new Error(`KVM_RUN (completing an MMIO exit) returned ${err === 0 ? 'a new exit' : `errno ${err}`} instead of EINTR`);
    this.machine.vcpu.readState(true);
    this.rec.mmio = { address, length, write, data: data.slice() };
    this.record('exit', EXIT.MMIO);
  }

  /** PSCI SYSTEM_OFF / SYSTEM_RESET: KVM has already retired the hvc (PC past it, x0 = its result). */
  private onSystemEvent(reason: number): A64LoopResult {
    const L = this.machine.addon.runLayout;
    this.machine.vcpu.readState(true);
    const type = this.run.getUint32(L.systemEventType, true);
    const ndata = this.run.getUint32(L.systemEventNdata, true);
    const detail: ExitDetail = { type };
    if (ndata > 0) detail.data = Array.from({ length: Math.min(ndata, 16) }, (_, i) => Number(this.run.getBigUint64(L.systemEventData + 8 * i, true)));
    this.rec.detail = detail;
    this.record('exit', reason);
    const what =
      type === SYSTEM_EVENT.SHUTDOWN
        ? 'guest powered off (PSCI SYSTEM_OFF)'
        : type === SYSTEM_EVENT.RESET
          ? 'guest asked for a reset (PSCI SYSTEM_RESET); vmtrace ends the run there'
          : `guest raised system event ${type}${type === SYSTEM_EVENT.CRASH ? ' (crash)' : ''}; the run ends there`;
    return { ...this.end('shutdown', what), systemEvent: type };
  }

  private record(kind: RecordKind, reason: number): void {
    const L = this.machine.addon.runLayout;
    const r = this.rec;
    const tEnter = this.state.getFloat64(L.stateTEnter, true);
    const tExit = this.state.getFloat64(L.stateTExit, true);
    r.kind = kind;
    r.reason = reason;
    r.timeNs = Math.max(0, Math.round(tExit - this.t0));
    r.runNs = Math.round(tExit - tEnter);
    r.regsBytes = this.machine.regs;
    r.sregsBytes = this.sysregsChanged() ? this.machine.sysregs : undefined;
    this.writer.writeRecord(r);
    r.mmio = r.detail = undefined;
    this.records++;
    this.reasonCounts.set(reason, (this.reasonCounts.get(reason) ?? 0) + 1);
  }

  private sysregsChanged(): boolean {
    const cur = this.sysregsWords;
    const last = this.lastSysregs;
    for (let i = 0; i < cur.length; i++) {
      if (cur[i] !== last[i]) {
        last.set(cur);
        return true;
      }
    }
    return false;
  }

  private end(endReason: EndReason, message: string): A64LoopResult {
    return { endReason, message, records: this.records, reasonCounts: new Map(this.reasonCounts) };
  }
}
