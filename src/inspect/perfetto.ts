// Chrome Trace Event JSON (opens in ui.perfetto.dev and chrome://tracing), written while the trace
// streams by: one complete ('X') event per record on the vCPU's track, spanning its time in
// KVM_RUN (entry to exit), and a counter ('C') track with the exit rate per millisecond.
// Format reference: "Trace Event Format" (Google), JSON Object Format.
import { closeSync, openSync, writeSync } from 'node:fs';

import type { TraceHeader, TraceRecord } from '../trace/format.js';
import type { TraceEnd, TraceSink } from './summary.js';
import { bytesAscii, bytesHex, hx, ripOf } from './util.js';

/** Process id used for the guest; the vCPU is thread (track) 0 — vmtrace guests have one vCPU. */
export const PERFETTO_PID = 1;
export const PERFETTO_VCPU_TID = 0;
const FLUSH_CHARS = 1 << 20;
const NS_PER_MS = 1_000_000;

/** Microseconds with nanosecond precision, as JSON numbers (`7090.932`). */
function us(ns: number): string {
  const whole = Math.floor(ns / 1000);
  const frac = ns - whole * 1000;
  if (frac === 0) return String(whole);
  return `${whole}.${String(Math.round(frac)).padStart(3, '0').replace(/0+$/, '')}`;
}

export class PerfettoWriter implements TraceSink {
  private readonly fd: number;
  private buf = '';
  private first = true;
  private bucket = -1;
  private bucketCount = 0;
  private lastTimeNs = -1;
  events = 0;

  constructor(readonly path: string) {
    this.fd = openSync(path, 'w');
  }

  header(h: TraceHeader): void {
    const meta = {
      guest: h.guest.name,
      sha256: h.guest.sha256,
      createdAt: h.createdAt,
      host: `${h.host.kernel} ${h.host.kvmModule} ${h.host.cpuVendor} ${h.host.cpuModel}`,
      tool: `${h.tool?.name} ${h.tool?.version}`,
      singleStep: h.semantics.singleStep,
    };
    this.buf += `{"displayTimeUnit":"ns","otherData":${JSON.stringify(meta)},"traceEvents":[\n`;
    this.event({ name: 'process_name', ph: 'M', pid: PERFETTO_PID, tid: PERFETTO_VCPU_TID, args: { name: `guest ${h.guest.name}` } });
    this.event({ name: 'thread_name', ph: 'M', pid: PERFETTO_PID, tid: PERFETTO_VCPU_TID, args: { name: 'vCPU 0' } });
    this.event({ name: 'thread_sort_index', ph: 'M', pid: PERFETTO_PID, tid: PERFETTO_VCPU_TID, args: { sort_index: 0 } });
  }

  private event(e: object): void {
    this.raw(JSON.stringify(e));
  }

  private raw(json: string): void {
    this.buf += this.first ? json : ',\n' + json;
    this.first = false;
    this.events++;
    if (this.buf.length >= FLUSH_CHARS) this.flush();
  }

  private flush(): void {
    if (this.buf) writeSync(this.fd, this.buf);
    this.buf = '';
  }

  private counter(bucket: number, count: number): void {
    this.raw(`{"name":"exits/ms","ph":"C","ts":${us(bucket * NS_PER_MS)},"pid":${PERFETTO_PID},"tid":${PERFETTO_VCPU_TID},"args":{"exits":${count}}}`);
  }

  record(r: TraceRecord, index: number): void {
    // Exit rate: one counter sample per millisecond that had exits, and a 0 after a gap.
    const b = Math.floor(r.timeNs / NS_PER_MS);
    if (b !== this.bucket) {
      if (this.bucket >= 0) {
        this.counter(this.bucket, this.bucketCount);
        if (b > this.bucket + 1) this.counter(this.bucket + 1, 0);
      }
      this.bucket = b;
      this.bucketCount = 0;
    }
    this.bucketCount++;
    this.lastTimeNs = r.timeNs;

    const start = Math.max(0, r.timeNs - r.runNs);
    let args = `"index":${index},"rip":"${hx(ripOf(r))}"`;
    const name = r.reasonName;
    if (r.io) {
      const { port, direction, size, count, data } = r.io;
      args += `,"port":"${hx(port)}","direction":"${direction}","size":${size},"count":${count},"data":"${bytesHex(data, 64)}","ascii":${JSON.stringify(bytesAscii(data, 64))}`;
    } else if (r.mmio) {
      const { address, length, write, data } = r.mmio;
      args += `,"address":"${hx(address)}","direction":"${write ? 'write' : 'read'}","length":${length},"data":"${bytesHex(data, 64)}"`;
    } else if (r.detail) {
      args += `,"detail":${JSON.stringify(r.detail)}`;
    }
    if (r.kind === 'step') args += `,"kind":"step"`;
    this.raw(
      `{"name":"${name}","cat":"${r.reasonName}","ph":"X","ts":${us(start)},"dur":${us(r.runNs)},"pid":${PERFETTO_PID},"tid":${PERFETTO_VCPU_TID},"args":{${args}}}`,
    );
  }

  end(end: TraceEnd): void {
    if (this.bucket >= 0) {
      this.counter(this.bucket, this.bucketCount);
      this.counter(this.bucket + 1, 0);
    }
    const what = end.complete ? `end: ${end.endReason}` : 'end: truncated';
    if (this.lastTimeNs >= 0) {
      this.event({ name: what, ph: 'i', s: 't', ts: Number(us(this.lastTimeNs)), pid: PERFETTO_PID, tid: PERFETTO_VCPU_TID, args: { message: end.message ?? 'the trace has no footer' } });
    }
    this.buf += '\n]}\n';
    this.flush();
    closeSync(this.fd);
  }

  /** Closes the file without finishing it (after an error). */
  abort(): void {
    try {
      closeSync(this.fd);
    } catch {
      /* already closed */
    }
  }
}
