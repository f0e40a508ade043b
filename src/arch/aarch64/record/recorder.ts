// `vmtrace record --arch aarch64` as a library: boot an AArch64 guest under arm64 KVM and write
// its trace. Mirrors src/record/recorder.ts (output handling, stop requests, footer) for the
// arm64 machine, loop and devices; src/record/trace-run.ts holds what the two share.
import { attachMmioDevices, A64_DEVICE_TYPES } from '../../../record/devices/catalog.js';
import { InputBytes, StdoutSink, type ConsoleSink } from '../../../record/devices/console.js';
import { MmioBus } from '../../../record/devices/device.js';
import { StopRequest } from '../../../record/devices/stop.js';
import { openTraceOutput, OutputError } from '../../../record/output.js';
import { headerBasics, loopOptions, runOptions, settleOutput } from '../../../record/trace-run.js';
import { recordExitCode, signalStopMessage, type RecordResult } from '../../../record/recorder.js';
import { describeWriteError, errnoCode } from '../../../fs-errors.js';
import type { CpuidEntry, Regs, Sregs } from '../../../cpu-state.js';
import type { TraceHeader } from '../../../trace/format.js';
import { TraceWriter } from '../../../trace/writer.js';
import type { A64BootPlan } from '../boot.js';
import { SYSTEM_EVENT } from '../layout.js';
import { a64RegsFromBytes, a64SysregsFromBytes, A64_REG_NAMES, A64_SYSREG_NAMES } from '../state.js';
import { a64HostFacts } from './host-facts.js';
import { createA64Machine } from './machine.js';
import { A64VcpuLoop } from './vcpu-loop.js';

export interface A64RecordOptions {
  image: Uint8Array;
  imageName: string;
  output: string;
  boot: A64BootPlan;
  input: Uint8Array;
  maxExits: number;
  timeoutMs: number;
  singleStep: boolean;
  timestamps?: boolean;
  console?: ConsoleSink;
  quiet: boolean;
  strict?: boolean;
  signal?: { stop: boolean; name?: NodeJS.Signals };
  onStall?: (ms: number) => void;
  stallMs?: number;
  onProgress?: (records: number) => void;
  onOutput?: (writePath: string) => void;
}

export interface A64RecordResult extends RecordResult {
  /** Set when a PSCI call (SYSTEM_EVENT) ended the run. */
  systemEvent?: number;
  /** Boot registers KVM reported differently from the ones set (names). */
  bootAdjusted: string[];
}

/** The process exit code: PSCI SYSTEM_OFF is a clean power-off (0, like acpi-poweroff on x86). */
export function a64RecordExitCode(r: A64RecordResult): number {
  if (r.endReason === 'shutdown' && r.systemEvent === SYSTEM_EVENT.SHUTDOWN) return 0;
  return recordExitCode(r);
}

export async function recordA64(opts: A64RecordOptions): Promise<A64RecordResult> {
  const started = performance.now();
  const output = openTraceOutput(opts.output);
  opts.onOutput?.(output.writePath);
  const plan = opts.boot;
  const machine = createA64Machine(plan);
  const bootRegs = a64RegsFromBytes(machine.boot.regsBytes);
  const bootSysregs = a64SysregsFromBytes(machine.boot.sysregsBytes);
  const bootAdjusted = [
    ...A64_REG_NAMES.filter((n) => bootRegs[n] !== plan.regs[n]),
    ...A64_SYSREG_NAMES.filter((n) => bootSysregs[n] !== plan.sregs[n]),
  ];

  const sink = opts.console ?? new StdoutSink(!opts.quiet);
  const stop = new StopRequest();
  const strict = opts.strict ?? false;
  const mmio = new MmioBus({ stop, strict });
  attachMmioDevices(mmio, A64_DEVICE_TYPES, { sink, input: new InputBytes(opts.input), stop });

  const header: TraceHeader = {
    ...headerBasics(opts, plan.loadAddress),
    arch: 'aarch64',
    host: a64HostFacts(machine.apiVersion),
    memory: plan.memory,
    initialMemory: plan.blobs,
    // The trace types carry registers as x86 Regs/Sregs; an aarch64 trace's are A64Regs/A64Sysregs (src/arch/index.ts).
    boot: { mode: 'el1', regs: bootRegs as unknown as Regs, sregs: bootSysregs as unknown as Sregs, cpuid: [] as CpuidEntry[] },
    devices: mmio.devices,
    options: {
      arch: 'aarch64',
      format: plan.format,
      mem: plan.memory[0]!.size,
      load: plan.loadAddress,
      entry: plan.entry,
      devices: A64_DEVICE_TYPES.map((t) => `${t.name}@0x${t.defaultBase.toString(16)}`).join(','),
      strict,
      ...runOptions(opts),
      kvmTarget: machine.target,
      ...(bootAdjusted.length ? { bootAdjusted } : {}),
    },
  };

  let writer: TraceWriter;
  try {
    writer = new TraceWriter(output.writePath, undefined, { timestamps: opts.timestamps !== false });
  } catch (e) {
    throw new OutputError(opts.output, describeWriteError(e), errnoCode(e));
  }
  const loop = new A64VcpuLoop(machine, mmio, writer);
  const run: { finished?: A64RecordResult; error?: unknown } = {};
  try {
    writer.writeHeader(header);
    const signal = opts.signal ?? { stop: false };
    const result = await loop.loop(loopOptions(opts, stop, sink, writer));
    sink.flush();
    let { endReason, message } = result;
    let status: number | undefined;
    const stoppedBy = endReason === 'interrupted' && !stop.info ? signal.name : undefined;
    if (stop.info) {
      ({ endReason, message, status } = stop.info);
      if (stop.info.wantsRip) message += ` at PC 0x${loop.pc.toString(16)} (after the instruction)`;
    } else if (stoppedBy) {
      message = signalStopMessage(stoppedBy);
    }
    await writer.finish({ endReason, message, regsBytes: loop.regsBytes, sregsBytes: loop.sysregsBytes, ...(status !== undefined ? { status } : {}) });
    run.finished = {
      output: opts.output,
      endReason,
      message,
      ...(status !== undefined ? { status } : {}),
      records: writer.records,
      reasonCounts: result.reasonCounts,
      wallMs: performance.now() - started,
      cpuMissing: [],
      ...(stoppedBy ? { signal: stoppedBy } : {}),
      ...(result.systemEvent !== undefined ? { systemEvent: result.systemEvent } : {}),
      bootAdjusted,
    };
  } catch (e) {
    run.error = e;
  }
  return settleOutput(writer, output, opts.output, run);
}
