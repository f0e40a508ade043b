// Streams a trace to disk. Records are buffered and flushed in chunks; every flush ends on a
// record boundary, so a crash or Ctrl-C leaves a file readable up to its last flushed record.
import { closeSync, fsyncSync, openSync, writeSync } from 'node:fs';
import { Packr } from 'msgpackr';

import { regsToBytes } from '../cpu-state.js';
import { sregsToBytes } from '../kvm-structs.js';
import { EXIT } from './exit-reasons.js';
import {
  FORMAT_MAJOR,
  FORMAT_MINOR,
  K,
  KIND_CODE,
  MAGIC_BYTES,
  type EndReason,
  type ExitDetail,
  type RecordKind,
  type TraceHeader,
} from './format.js';

const FLUSH_BYTES = 1 << 20;

/** What the recorder hands over per exit; regs/sregs are raw KVM struct bytes. */
export interface RecordInput {
  kind: RecordKind;
  reason: number;
  timeNs: number;
  runNs: number;
  regsBytes: Uint8Array;
  /** Only when they changed since the previous record (or the boot state). */
  sregsBytes?: Uint8Array;
  io?: { port: number; size: number; out: boolean; count: number; data: Uint8Array };
  mmio?: { address: number; length: number; write: boolean; data: Uint8Array };
  detail?: ExitDetail;
}

export interface FooterInput {
  endReason: EndReason;
  message: string;
  regsBytes: Uint8Array;
  sregsBytes: Uint8Array;
  status?: number;
}

export class TraceWriter {
  private readonly fd: number;
  private readonly packr = new Packr({ useRecords: false, variableMapSize: true });
  private chunk = new Uint8Array(FLUSH_BYTES * 2);
  private used = 0;
  private seq = 0;
  private exits = 0;
  private closed = false;

  constructor(readonly path: string) {
    this.fd = openSync(path, 'w');
  }

  get records(): number {
    return this.seq;
  }

  writeHeader(h: TraceHeader): void {
    this.append(MAGIC_BYTES);
    this.append(
      this.packr.pack({
        format: [FORMAT_MAJOR, FORMAT_MINOR],
        tool: h.tool,
        createdAt: h.createdAt,
        host: h.host,
        guest: h.guest,
        memory: h.memory,
        initialMemory: h.initialMemory,
        boot: {
          mode: h.boot.mode,
          regs: regsToBytes(h.boot.regs),
          sregs: sregsToBytes(h.boot.sregs),
          cpuid: h.boot.cpuid,
        },
        devices: h.devices,
        options: h.options,
        semantics: h.semantics,
        exitReasons: Object.fromEntries(Object.entries(EXIT).map(([name, code]) => [code, name])),
      }),
    );
    this.flush();
  }

  writeRecord(r: RecordInput): void {
    const rec: Record<string, unknown> = {
      [K.kind]: KIND_CODE[r.kind],
      [K.seq]: this.seq++,
      [K.reason]: r.reason,
      [K.time]: r.timeNs,
      [K.run]: r.runNs,
      [K.regs]: r.regsBytes,
    };
    if (r.sregsBytes) rec[K.sregs] = r.sregsBytes;
    if (r.io) rec[K.io] = { p: r.io.port, z: r.io.size, o: r.io.out ? 1 : 0, c: r.io.count, v: r.io.data };
    if (r.mmio) rec[K.mmio] = { a: r.mmio.address, l: r.mmio.length, w: r.mmio.write ? 1 : 0, v: r.mmio.data };
    if (r.detail) rec[K.detail] = r.detail;
    if (r.kind === 'exit') this.exits++;
    this.append(this.packr.pack(rec));
    if (this.used >= FLUSH_BYTES) this.flush();
  }

  /** Writes the footer and closes the file; the trace is then complete. */
  finish(f: FooterInput): void {
    const footer: Record<string, unknown> = {
      [K.kind]: KIND_CODE.end,
      why: f.endReason,
      msg: f.message,
      exits: this.exits,
      records: this.seq,
      [K.regs]: f.regsBytes,
      [K.sregs]: f.sregsBytes,
    };
    if (f.status !== undefined) footer.status = f.status;
    this.append(this.packr.pack(footer));
    this.close();
  }

  /** Closes without a footer: readers report the trace as truncated. */
  close(): void {
    if (this.closed) return;
    this.flush();
    fsyncSync(this.fd);
    closeSync(this.fd);
    this.closed = true;
  }

  flush(): void {
    let done = 0;
    while (done < this.used) done += writeSync(this.fd, this.chunk, done, this.used - done);
    this.used = 0;
  }

  private append(bytes: Uint8Array): void {
    if (this.used + bytes.length > this.chunk.length) {
      this.flush();
      if (bytes.length > this.chunk.length) this.chunk = new Uint8Array(bytes.length * 2);
    }
    this.chunk.set(bytes, this.used);
    this.used += bytes.length;
  }
}
