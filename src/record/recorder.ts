// `vmtrace record` as a library: boot a guest image under KVM and write its trace.
import { createHash } from 'node:crypto';
import { basename } from 'node:path';

import { realModeState } from '../boot/real-mode.js';
import { exitReasonName } from '../trace/exit-reasons.js';
import type { EndReason, MemoryBlob, MemoryRegion, TraceHeader } from '../trace/format.js';
import { TraceWriter } from '../trace/writer.js';
import { VERSION } from '../version.js';
import { ConsolePort, InputBytes, StdoutSink, type ConsoleSink } from './devices/console.js';
import { MmioBus, PortBus } from './devices/device.js';
import { hostFacts } from './host-facts.js';
import { createMachine } from './machine.js';
import { VcpuLoop } from './vcpu-loop.js';

export interface RecordOptions {
  image: Uint8Array;
  imageName: string;
  output: string;
  memBytes: number;
  loadAddress: number;
  entry: { cs: number; ip: number };
  input: Uint8Array;
  consolePort: number;
  maxExits: number;
  timeoutMs: number;
  singleStep: boolean;
  /** Where console bytes go; default: stdout (nothing with quiet). */
  console?: ConsoleSink;
  quiet: boolean;
  /** Set to request a clean stop (Ctrl-C). */
  signal?: { stop: boolean };
}

export interface RecordResult {
  output: string;
  endReason: EndReason;
  message: string;
  records: number;
  reasonCounts: Map<number, number>;
  wallMs: number;
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

export function defaultTraceName(imagePath: string): string {
  return basename(imagePath).replace(/\.[^.]*$/, '') + '.vmtrace';
}

export async function record(opts: RecordOptions): Promise<RecordResult> {
  const started = performance.now();
  const memory: MemoryRegion[] = [{ base: 0, size: opts.memBytes, kind: 'ram' }];
  const initialMemory: MemoryBlob[] = [{ address: opts.loadAddress, bytes: opts.image, what: `image ${opts.imageName}` }];
  if (opts.loadAddress + opts.image.length > opts.memBytes) {
    throw new RangeError(
      `image ${opts.imageName} (${opts.image.length} bytes at 0x${opts.loadAddress.toString(16)}) does not fit in ${opts.memBytes} bytes of RAM: raise --mem`,
    );
  }
  const machine = createMachine({
    memory,
    initialMemory,
    bootState: (current) => realModeState({ cs: opts.entry.cs, ip: opts.entry.ip, sp: 0 }, current),
  });

  const sink = opts.console ?? new StdoutSink(!opts.quiet);
  const ports = new PortBus();
  ports.register(opts.consolePort, 1, new ConsolePort(sink, new InputBytes(opts.input)));
  const mmio = new MmioBus();

  const header: TraceHeader = {
    format: { major: 1, minor: 0 },
    tool: { name: 'vmtrace', version: VERSION },
    createdAt: new Date().toISOString(),
    host: hostFacts(machine.apiVersion, machine.syncRegs),
    guest: {
      name: opts.imageName,
      image: opts.image,
      sha256: createHash('sha256').update(opts.image).digest('hex'),
      loadAddress: opts.loadAddress,
    },
    memory,
    initialMemory,
    boot: { mode: 'real', regs: machine.boot.regs, sregs: machine.boot.sregs, cpuid: machine.cpuid },
    devices: [...ports.devices, ...mmio.devices],
    options: {
      mem: opts.memBytes,
      load: opts.loadAddress,
      entry: opts.entry,
      consolePort: opts.consolePort,
      input: opts.input,
      maxExits: Number.isFinite(opts.maxExits) ? opts.maxExits : null,
      timeoutMs: Number.isFinite(opts.timeoutMs) ? opts.timeoutMs : null,
      step: opts.singleStep,
    },
    semantics: { registers: 'completed', singleStep: opts.singleStep },
  };

  const writer = new TraceWriter(opts.output);
  const loop = new VcpuLoop(machine, ports, mmio, writer);
  try {
    writer.writeHeader(header);
    const signal = opts.signal ?? { stop: false };
    const result = await loop.loop({
      singleStep: opts.singleStep,
      maxExits: opts.maxExits,
      deadline: Number.isFinite(opts.timeoutMs) ? Date.now() + opts.timeoutMs : Infinity,
      stopRequested: () => signal.stop,
      onTick: () => {
        sink.flush();
        writer.flush();
      },
    });
    sink.flush();
    await writer.finish({
      endReason: result.endReason,
      message: result.message,
      regsBytes: loop.regsBytes,
      sregsBytes: loop.sregsBytes,
    });
    return { output: opts.output, ...result, wallMs: performance.now() - started };
  } finally {
    writer.close(); // no-op after finish(); otherwise keeps what was recorded, readable
  }
}

/** `13 exits (IO 12, HLT 1) in 1.4 ms` */
export function summarize(r: RecordResult): string {
  const counts = [...r.reasonCounts.entries()]
    .sort((a, b) => b[1] - a[1])
    .map(([code, n]) => `${exitReasonName(code)} ${n}`)
    .join(', ');
  const ms = r.wallMs < 10 ? r.wallMs.toFixed(2) : r.wallMs.toFixed(0);
  return `${r.records} exits (${counts || 'none'}) in ${ms} ms`;
}
