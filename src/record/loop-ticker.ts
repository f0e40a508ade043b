// The vCPU loop's periodic work, the same for every architecture: about every KICK_MS (the
// kick timer's period, which makes KVM_RUN return) flush output, notice a guest that makes no
// exits, let signal handlers run, and check --timeout.
import type { LoopOptions } from './vcpu-loop.js';

/** Period of the kick timer and of the loop's ticks. */
export const KICK_MS = 20;
export const DEFAULT_STALL_MS = 5000;

export class LoopTicker {
  private lastTick = performance.now();
  private progressRecords: number;
  private progressAt = this.lastTick;
  private stallReported: boolean;
  private readonly stallMs: number;

  constructor(
    private readonly opts: LoopOptions,
    records: number,
  ) {
    this.progressRecords = records;
    this.stallMs = opts.stallMs ?? DEFAULT_STALL_MS;
    this.stallReported = opts.onStall === undefined;
  }

  /** Does a tick's work if one is due; true when --timeout's deadline has passed. */
  async tick(records: number): Promise<boolean> {
    const now = performance.now();
    if (now - this.lastTick < KICK_MS) return false;
    this.lastTick = now;
    this.opts.onTick();
    if (records !== this.progressRecords) {
      this.progressRecords = records;
      this.progressAt = now;
    } else if (!this.stallReported && now - this.progressAt >= this.stallMs) {
      this.stallReported = true;
      this.opts.onStall!(now - this.progressAt);
    }
    await new Promise<void>((resolve) => setImmediate(resolve)); // lets the SIGINT handler run
    return Date.now() >= this.opts.deadline;
  }
}
