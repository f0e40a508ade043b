// `vmtrace record` as a library: boot a guest image under KVM and write its trace.
import { constants } from 'node:os';
import { basename } from 'node:path';

import { builtinCpuModel, CPU_MODEL_NAME } from '../boot/cpu-model.js';
import { shutdownExplanation } from '../boot/host-support.js';
import { planBoot, type BootPlan } from '../boot/profiles.js';
import { regsFromBytes, type CpuidEntry, type Regs, type Sregs } from '../cpu-state.js';
import { loadImage } from '../image/load.js';
import { sregsFromBytes } from '../kvm-structs.js';
import { exitReasonName } from '../trace/exit-reasons.js';
import type { BootMode, CpuChoice, EndReason, TraceHeader } from '../trace/format.js';
import { TraceWriter } from '../trace/writer.js';
import { attachDevices, formatDeviceList, resolveDevices, type DeviceSpec } from './devices/catalog.js';
import { InputBytes, StdoutSink, type ConsoleSink } from './devices/console.js';
import { MmioBus, PortBus } from './devices/device.js';
import { StopRequest } from './devices/stop.js';
import { hostFacts } from './host-facts.js';
import { probeHostModel } from './host-model.js';
import { createMachine, type Machine } from './machine.js';
import { openTraceOutput, OutputError } from './output.js';
import { headerBasics, loopOptions, runOptions, settleOutput } from './trace-run.js';
import { describeWriteError, errnoCode } from '../fs-errors.js';
import { VcpuLoop } from './vcpu-loop.js';

export interface RecordOptions {
  /** The image file's bytes (stored in the header) and its name. */
  image: Uint8Array;
  imageName: string;
  output: string;
  /**
   * What to boot: memory, blobs, registers (src/boot/profiles.ts, usually via prepareBoot()).
   * Without it: the seed's real-mode setup from memBytes, loadAddress and entry.
   */
  boot?: BootPlan;
  /** Real-mode RAM when `boot` is not given (default 1 MiB). */
  memBytes?: number;
  /** Real-mode load address when `boot` is not given (default 0). */
  loadAddress?: number;
  /** Real-mode entry when `boot` is not given (default 0000:loadAddress). */
  entry?: { cs: number; ip: number };
  input: Uint8Array;
  /** Devices to attach (default: resolveDevices(), with the console at `consolePort` if given). */
  devices?: DeviceSpec[];
  /** The console's port when `devices` is not given (default 0xf1). */
  consolePort?: number;
  /** An access to an unclaimed port or MMIO address ends the run with an error. */
  strict?: boolean;
  maxExits: number;
  timeoutMs: number;
  singleStep: boolean;
  /** False: store no host times (`--no-timestamps`, for goldens); readers report 0. Default true. */
  timestamps?: boolean;
  /** Where console bytes go; default: stdout (nothing with quiet). */
  console?: ConsoleSink;
  quiet: boolean;
  /**
   * Set `stop` to request a clean stop; `name`, the signal that asked (SIGINT, SIGTERM, SIGHUP),
   * goes into the footer message and RecordResult.signal.
   */
  signal?: { stop: boolean; name?: NodeJS.Signals };
  /**
   * Called once when the guest has made no exit for `stallMs` (default 5000): it may be
   * spinning without I/O. The recording goes on.
   */
  onStall?: (ms: number) => void;
  stallMs?: number;
  /** Called about every 20 ms (the loop's tick, after flushing) with the records written so far: progress displays. */
  onProgress?: (records: number) => void;
  /** Told the file the trace is written to until it is complete (`<output>.<pid>.partial`, or output itself). */
  onOutput?: (writePath: string) => void;
  /**
   * The guest's CPUID (docs/exit-semantics.md, "The virtual CPU"): 'builtin' (default: vmtrace's
   * fixed model), 'host' (KVM's supported CPUID passed through), or a model file as
   * loadCpuModelFile() read it, with the path given (noted as options.cpu).
   */
  cpu?: CpuOption;
  /**
   * Exact CPUID entries for the vCPU instead of `cpu`'s: re-recording a golden with the CPUID
   * stored in it. KVM must accept them (else createMachine throws CpuidRejectedError).
   */
  cpuidEntries?: CpuidEntry[];
  /**
   * With cpuidEntries: the header's `cpu` and the `options.cpu` to note (a golden's, so that the
   * re-recording says the same). Default: `{source: 'file', name: 'explicit entries'}`, 'explicit'.
   */
  cpuidNote?: { cpu: CpuChoice; option?: unknown };
}

/** RecordOptions.cpu: the --cpu choices. */
export type CpuOption = 'builtin' | 'host' | { path: string; name: string; entries: CpuidEntry[] };

/** The CPUID a recording gives its guest: the entries (or how to get them from KVM) and what the header notes. */
function cpuPlan(opts: RecordOptions): {
  cpuid: CpuidEntry[] | ((supported: CpuidEntry[]) => CpuidEntry[]);
  choice: CpuChoice;
  option: unknown;
  missing: () => string[];
} {
  if (opts.cpuidEntries) {
    const note = opts.cpuidNote ?? { cpu: { source: 'file', name: 'explicit entries' }, option: 'explicit' };
    return { cpuid: opts.cpuidEntries, choice: note.cpu, option: note.option ?? note.cpu.source, missing: () => [] };
  }
  const cpu = opts.cpu ?? 'builtin';
  if (cpu === 'host') return { cpuid: (s) => s, choice: { source: 'host', name: 'host' }, option: 'host', missing: () => [] };
  if (cpu === 'builtin') {
    let missing: string[] = [];
    const cpuid = (supported: CpuidEntry[]) => {
      const m = builtinCpuModel(supported);
      missing = m.missing;
      return m.entries;
    };
    return { cpuid, choice: { source: 'builtin', name: CPU_MODEL_NAME }, option: 'builtin', missing: () => missing };
  }
  return { cpuid: cpu.entries, choice: { source: 'file', name: cpu.name }, option: cpu.path, missing: () => [] };
}

export interface RecordResult {
  output: string;
  endReason: EndReason;
  message: string;
  /** The guest's exit status, when it asked for one (isa-debug-exit). */
  status?: number;
  records: number;
  reasonCounts: Map<number, number>;
  wallMs: number;
  /** Builtin CPU model features this host's KVM lacks (dropped: the trace's CPUID then differs from other hosts'). */
  cpuMissing: string[];
  /** endReason 'interrupted': the signal that stopped the run, when RecordOptions.signal named one. */
  signal?: NodeJS.Signals;
}

/** Process exit codes of `vmtrace record`, by how the run ended (docs/cli.md). */
export const RECORD_EXIT_CODES: Record<EndReason, number> = {
  hlt: 0,
  'guest-exit': 0,
  shutdown: 1,
  'fail-entry': 1,
  'internal-error': 1,
  'unexpected-exit': 1,
  error: 1,
  'max-exits': 4,
  timeout: 4,
  interrupted: 130,
};

/**
 * The exit code for a finished recording: a guest exit status (isa-debug-exit: (v << 1) | 1) is
 * the process's exit code, truncated to 8 bits as by exit(2); a run stopped by a signal exits
 * 128 + its number (SIGINT 130, SIGTERM 143, SIGHUP 129); otherwise RECORD_EXIT_CODES.
 */
export function recordExitCode(r: Pick<RecordResult, 'endReason' | 'status' | 'signal'>): number {
  if (r.status !== undefined) return r.status & 0xff;
  if (r.endReason === 'interrupted' && r.signal !== undefined) return 128 + (constants.signals[r.signal] ?? 2);
  return RECORD_EXIT_CODES[r.endReason];
}

/** The footer message of a run a signal stopped. */
export function signalStopMessage(name: NodeJS.Signals): string {
  if (name === 'SIGPIPE') return 'stopped: stdout was closed (EPIPE, the reader of the console output went away); the trace is complete up to here';
  const how = name === 'SIGINT' ? 'the user (Ctrl-C, SIGINT)' : name === 'SIGHUP' ? 'SIGHUP (the terminal went away)' : name;
  return `stopped by ${how}; the trace is complete up to here`;
}

export function defaultTraceName(imagePath: string): string {
  return basename(imagePath).replace(/\.[^.]*$/, '') + '.vmtrace';
}

export interface BootChoice {
  image: Uint8Array;
  imageName: string;
  /** Boot mode; undefined: detected from the image (ELF64 → long, ELF32/multiboot → protected, else real). */
  mode?: BootMode;
  memBytes?: number;
  /** Flat images: load address. */
  load?: number;
  /** CS:IP in real mode, a linear address otherwise. */
  entry?: { cs: number; ip: number } | number;
  entrySymbol?: string;
}

/** Loads the image and computes its boot plan; throws ImageError with a one-line reason. */
export function prepareBoot(c: BootChoice): BootPlan {
  const image = loadImage(c.image, c.imageName, { mode: c.mode, load: c.load, entry: c.entry, entrySymbol: c.entrySymbol });
  return planBoot({ mode: c.mode ?? image.mode, image, memBytes: c.memBytes });
}

export async function record(opts: RecordOptions): Promise<RecordResult> {
  const started = performance.now();
  // Before anything else: an output that cannot be written fails at once (OutputError).
  const output = openTraceOutput(opts.output);
  opts.onOutput?.(output.writePath);
  const plan =
    opts.boot ??
    prepareBoot({
      image: opts.image,
      imageName: opts.imageName,
      mode: 'real',
      memBytes: opts.memBytes ?? 1 << 20,
      load: opts.loadAddress ?? 0,
      entry: opts.entry ?? { cs: 0, ip: opts.loadAddress ?? 0 },
    });
  const devices = opts.devices ?? resolveDevices({ consolePort: opts.consolePort });
  const cpu = cpuPlan(opts);
  const machine = createMachine({ memory: plan.memory, initialMemory: plan.blobs, bootState: plan.state, cpuid: cpu.cpuid });

  const sink = opts.console ?? new StdoutSink(!opts.quiet);
  const stop = new StopRequest();
  const strict = opts.strict ?? false;
  const ports = new PortBus({ stop, strict });
  const mmio = new MmioBus({ stop, strict });
  attachDevices(ports, devices, { sink, input: new InputBytes(opts.input), stop });

  const consoleDevice = devices.find((d) => d.type.name === 'console');
  const realEntry = plan.image.realEntry;
  const header: TraceHeader = {
    ...headerBasics(opts, plan.image.loadAddress),
    arch: 'x86_64',
    host: hostFacts(machine.apiVersion, machine.syncRegs),
    memory: plan.memory,
    initialMemory: plan.blobs,
    boot: { mode: plan.mode, regs: machine.boot.regs, sregs: machine.boot.sregs, cpuid: machine.cpuid },
    cpu: cpu.choice,
    hostModel: probeHostModel(plan.mode, (m) => { if (!opts.quiet) process.stderr.write(`vmtrace: ${m}\n`); }, opts.singleStep),
    devices: [...ports.devices, ...mmio.devices],
    options: {
      mode: plan.mode,
      format: plan.image.format,
      mem: plan.memory[0]!.size,
      load: plan.image.loadAddress,
      entry: realEntry ?? plan.entry,
      ...(consoleDevice ? { consolePort: consoleDevice.base } : {}),
      devices: formatDeviceList(devices),
      strict,
      ...runOptions(opts),
      cpu: cpu.option,
    },
  };

  let writer: TraceWriter;
  try {
    writer = new TraceWriter(output.writePath, undefined, { timestamps: opts.timestamps !== false });
  } catch (e) {
    throw new OutputError(opts.output, describeWriteError(e), errnoCode(e));
  }
  const loop = new VcpuLoop(machine, ports, mmio, writer);
  const run: { finished?: RecordResult; error?: unknown } = {};
  try {
    writer.writeHeader(header);
    const signal = opts.signal ?? { stop: false };
    const result = await loop.loop(loopOptions(opts, stop, sink, writer));
    sink.flush();
    let { endReason, message } = result;
    let status: number | undefined;
    const regsBytes = loop.regsBytes;
    const sregsBytes = loop.sregsBytes;
    const stoppedBy = endReason === 'interrupted' && !stop.info ? signal.name : undefined;
    if (stop.info) {
      // A device ended the run: that, not how the loop noticed, is why it ended.
      ({ endReason, message, status } = stop.info);
      if (stop.info.wantsRip) message += ` at RIP 0x${regsFromBytes(regsBytes).rip.toString(16)} (after the instruction)`;
    } else if (endReason === 'shutdown') {
      const regs = regsFromBytes(regsBytes);
      const sregs = sregsFromBytes(sregsBytes);
      message = shutdownExplanation(regs, sregs, codeAt(machine, regs, sregs), header.host.kvmModule) ?? message;
    } else if (stoppedBy) {
      message = signalStopMessage(stoppedBy);
    }
    await writer.finish({ endReason, message, regsBytes, sregsBytes, ...(status !== undefined ? { status } : {}) });
    const { reasonCounts } = result;
    run.finished = {
      output: opts.output,
      endReason,
      message,
      ...(status !== undefined ? { status } : {}),
      records: writer.records,
      reasonCounts,
      wallMs: performance.now() - started,
      cpuMissing: cpu.missing(),
      ...(stoppedBy ? { signal: stoppedBy } : {}),
    };
  } catch (e) {
    run.error = e;
  }
  return settleOutput(writer, output, opts.output, run);
}

/** Up to 15 bytes at CS:RIP, read from guest RAM when paging is off (empty otherwise). */
function codeAt(machine: Machine, regs: Regs, sregs: Sregs): Uint8Array {
  if (sregs.cr0 & 0x80000000n) return new Uint8Array(0);
  const at = Number(sregs.cs.base + regs.rip);
  const region = machine.ram.find((r) => at >= r.base && at < r.base + r.bytes.length);
  return region ? region.bytes.slice(at - region.base, Math.min(at - region.base + 15, region.bytes.length)) : new Uint8Array(0);
}

/** `13 exits (IO 12, HLT 1) in 1.4 ms` */
export function summarize(r: RecordResult, singleStep = false): string {
  const counts = [...r.reasonCounts.entries()]
    .sort((a, b) => b[1] - a[1])
    .map(([code, n]) => `${exitReasonName(code)} ${n}`)
    .join(', ');
  const ms = r.wallMs < 10 ? r.wallMs.toFixed(2) : r.wallMs.toFixed(0);
  // A --step trace has a record per instruction; only some are exits.
  return `${r.records} ${singleStep ? 'records' : 'exits'} (${counts || 'none'}) in ${ms} ms`;
}
