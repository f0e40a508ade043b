// What every architecture's recorder does around its vCPU loop: the loop's options (limits,
// stop requests, the tick that flushes output), and what becomes of the output file once the
// run is over — committed, kept as a readable `.partial` after a crash, or removed after a
// write failure (src/record/output.ts).
import { describeWriteError, errnoCode } from '../fs-errors.js';
import type { TraceWriter } from '../trace/writer.js';
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
