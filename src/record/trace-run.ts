// What every architecture's recorder does around its vCPU loop: the loop's options (limits,
// stop requests, the tick that flushes output), and what becomes of the output file once the
// run is over — committed, kept as a readable `.partial` after a crash, or removed after a
// write failure (src/record/output.ts).
import { createHash } from 'node:crypto';

import { describeWriteError, errnoCode } from '../fs-errors.js';
import { FORMAT_MAJOR, FORMAT_MINOR, type TraceHeader } from '../trace/format.js';
import type { TraceWriter } from '../trace/writer.js';
import { VERSION } from '../version.js';
import type { ConsoleSink } from './devices/console.js';
import type { StopRequest } from './devices/stop.js';
import { isWriteFailure, OutputError, type TraceOutput } from './output.js';
import type { LoopOptions } from './vcpu-loop.js';

/** The recorder options the vCPU loop follows (RecordOptions, A64RecordOptions). */
export interface RunLimits {
  singleStep: boolean;
  maxExits: number;
  timeoutMs: number;
  signal?: { stop: boolean; name?: NodeJS.Signals };
  onProgress?: (records: number) => void;
  onStall?: (ms: number) => void;
  stallMs?: number;
  /** What the guest reads as input (the UART's, the input port's). */
  input: Uint8Array;
  timestamps?: boolean;
}

/** The header fields every recorder fills the same way: format, tool, time, the guest image, semantics. */
export function headerBasics(
  opts: RunLimits & { image: Uint8Array; imageName: string },
  loadAddress: number,
): Pick<TraceHeader, 'format' | 'tool' | 'createdAt' | 'guest' | 'semantics'> {
  return {
    format: { major: FORMAT_MAJOR, minor: FORMAT_MINOR },
    tool: { name: 'vmtrace', version: VERSION },
    createdAt: new Date().toISOString(),
    guest: { name: opts.imageName, image: opts.image, sha256: createHash('sha256').update(opts.image).digest('hex'), loadAddress },
    semantics: { registers: 'completed', singleStep: opts.singleStep },
  };
}

/** The header's `options` every recorder notes the same way: input, limits, --step, --no-timestamps. */
export function runOptions(opts: RunLimits): Record<string, unknown> {
  return {
    input: opts.input,
    inputBytes: opts.input.length,
    maxExits: Number.isFinite(opts.maxExits) ? opts.maxExits : null,
    timeoutMs: Number.isFinite(opts.timeoutMs) ? opts.timeoutMs : null,
    step: opts.singleStep,
    timestamps: opts.timestamps !== false,
  };
}

export function loopOptions(opts: RunLimits, stop: StopRequest, sink: ConsoleSink, writer: TraceWriter): LoopOptions {
  const signal = opts.signal ?? { stop: false };
  return {
    singleStep: opts.singleStep,
    maxExits: opts.maxExits,
    deadline: Number.isFinite(opts.timeoutMs) ? Date.now() + opts.timeoutMs : Infinity,
    stopRequested: () => signal.stop || stop.requested,
    onTick: () => {
      sink.flush();
      writer.flush();
      opts.onProgress?.(writer.records);
    },
    ...(opts.onStall ? { onStall: opts.onStall } : {}),
    ...(opts.stallMs !== undefined ? { stallMs: opts.stallMs } : {}),
  };
}

/**
 * Closes the trace after the run and settles its file: the run's result when it finished,
 * else the failure, rethrown (a write failure as an OutputError, the `.partial` file removed).
 */
export function settleOutput<R>(writer: TraceWriter, output: TraceOutput, name: string, run: { finished?: R; error?: unknown }): R {
  let failure = run.finished === undefined ? { error: run.error } : undefined;
  try {
    writer.close(); // no-op after finish(); otherwise keeps what was recorded, readable
  } catch (e) {
    failure ??= { error: e };
  }
  if (failure || run.finished === undefined) {
    const e = failure?.error;
    if (isWriteFailure(e)) {
      // Nothing usable was written (a full disk stays full): the .partial file goes.
      output.discard();
      throw new OutputError(name, describeWriteError(e), errnoCode(e));
    }
    // Anything else: what was recorded stays readable in the .partial file (no footer).
    if (e instanceof Error && !output.direct) e.message += `; the trace recorded so far is in ${output.writePath}`;
    throw e;
  }
  output.commit();
  return run.finished;
}
