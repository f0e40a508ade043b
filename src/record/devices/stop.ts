// How a device ends the run: it files a StopRequest, the run loop sees it through its
// `stopRequested` poll right after the exit that caused it, and the recorder ends the trace with
// the request's reason, message and status instead of "interrupted".
import type { EndReason } from '../../trace/format.js';

export interface StopInfo {
  endReason: Extract<EndReason, 'guest-exit' | 'error'>;
  /** One line for the user (the recorder may append where the vCPU was). */
  message: string;
  /** The guest's exit status (isa-debug-exit): becomes the footer's `status` and the exit code. */
  status?: number;
  /** The device (or bus) that asked. */
  source: string;
  /** Append "at RIP …" to the message when the run has ended (the recorder knows RIP). */
  wantsRip?: boolean;
}

export class StopRequest {
  private stop: StopInfo | undefined;

  /** Files a request; the first one wins (later exits are not part of the run). */
  request(info: StopInfo): void {
    this.stop ??= info;
  }

  get requested(): boolean {
    return this.stop !== undefined;
  }

  get info(): StopInfo | undefined {
    return this.stop;
  }
}
