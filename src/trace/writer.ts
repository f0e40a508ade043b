// Streams a trace to disk. Records are encoded into a buffer that is handed, as checksummed
// frames of whole records (src/trace/frame.ts; in format 3 each frame a compressed chunk of
// columns, src/trace/chunk.ts), to a background write: the vCPU loop never
// waits for the disk (page-cache writeback can stall a writer for seconds), and a crash leaves a
// file readable up to its last written frame. Frames are closed at 1 MiB and at least every
// 100 ms, so a SIGKILL loses at most the last 100 ms of records.
import { close, closeSync, openSync, write, writeSync } from 'node:fs';
import { Packr } from 'msgpackr';

import { registerLayout } from '../arch/index.js';
import { REGS_BYTES } from '../cpu-state.js';
import { EXIT } from './exit-reasons.js';
import { ChunkEncoder } from './chunk.js';
import { encodeFrame, FRAME_HEAD_BYTES, putFrameHead, TAG_END, TAG_HEADER, TAG_RECORDS } from './frame.js';
import { MsgpackOut, putKey, putUint } from './msgpack-out.js';
import {
  FORMAT_MAJOR,
  FORMAT_MINOR,
  LEGACY_FORMAT_MAJOR,
  K,
  KIND_CODE,
  MAGIC_BYTES,
  type EndReason,
  type ExitDetail,
  type RecordKind,
  type TraceHeader,
} from './format.js';

const FLUSH_BYTES = 1 << 20;
/** Records never wait longer than this in memory (while the event loop runs: the vCPU loop yields every 20 ms). */
const FLUSH_MS = 100;
/** Past this much unwritten data, flush() writes synchronously rather than queueing more. */
const MAX_QUEUED_BYTES = 64 << 20;
const ALL_REGS = (1 << (REGS_BYTES / 8)) - 1;


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

export interface WriterOptions {
  /**
   * 3 (the default): compressed chunks of columns. 2: the 2.0 layout (one msgpack map per
   * record), kept to write traces for older readers and to measure against (bench:format).
   */
  format?: 2 | 3;
  /** False: no host times stored (`record --no-timestamps`); readers report 0. */
  timestamps?: boolean;
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
  private readonly out = new MsgpackOut(FLUSH_BYTES * 2);
  private seq = 0;
  private readonly major: number;
  private readonly timestamps: boolean;
  /** Format 3: the chunk being filled (made by writeHeader). */
  private chunk: ChunkEncoder | undefined;
  /** Format 2: the frame being filled: where its head goes in `out`, and its first record. */
  private frameAt = -1;
  private frameFirst = 0;
  private readonly timer: NodeJS.Timeout;
  private exits = 0;
  /** Registers of the previous record, as 36 u32 halves: records store only what changed. */
  private readonly prevRegs = new Uint32Array(REGS_BYTES / 4);
  private readonly changedRegs = new Uint8Array(REGS_BYTES);
  private readonly changedWords = new Uint32Array(this.changedRegs.buffer);
  private regsSource: Uint8Array | undefined;
  private regsView: Uint32Array = new Uint32Array(0);
  private changedCount = 0;
  /** changedRegs.subarray(0, 8 * n) for every n, made once. */
  private readonly changedViews = Array.from({ length: REGS_BYTES / 8 + 1 }, (_, n) => this.changedRegs.subarray(0, 8 * n));
  private closed = false;
  /** Chunks handed off but not yet written, each with its file position. */
  private readonly queue: Array<{ bytes: Uint8Array; position: number }> = [];
  private queuedBytes = 0;
  private nextPosition = 0;
  private writing = false;
  private drained: (() => void) | undefined;
  private failure: Error | undefined;

  /** `frameBytes`: close a frame of records once it holds this much, uncompressed (tests use small frames). */
  constructor(
    readonly path: string,
    private readonly frameBytes = FLUSH_BYTES,
    opts: WriterOptions = {},
  ) {
    this.major = opts.format === 2 ? LEGACY_FORMAT_MAJOR : FORMAT_MAJOR;
    this.timestamps = opts.timestamps ?? true;
    this.fd = openSync(path, 'w');
    this.timer = setInterval(() => {
      if (!this.failure && !this.closed) this.flush();
    }, FLUSH_MS).unref();
  }

  get records(): number {
    return this.seq;
  }

  writeHeader(h: TraceHeader): void {
    const layout = registerLayout(h.arch);
    if (h.arch !== 'x86_64' && this.major < 3) throw new Error(`trace writer: ${h.arch} traces need format 3 (2.0 holds x86 registers only)`);
    const bootRegs = layout.regsBytesOf(h.boot.regs);
    if (this.major < 3) this.prevRegs.set(new Uint32Array(bootRegs.buffer));
    if (this.major >= 3) this.chunk = new ChunkEncoder(bootRegs, this.timestamps, layout);
    this.out.raw(MAGIC_BYTES);
    const header = this.packr.pack({
        format: [this.major, this.major === FORMAT_MAJOR ? FORMAT_MINOR : 0],
        // 2.0 readers know x86 only and no `arch`
        ...(this.major >= 3 ? { arch: h.arch } : {}),
        tool: h.tool,
        createdAt: h.createdAt,
        host: h.host,
        guest: h.guest,
        memory: h.memory,
        // 3.0 stores the image once: a blob holding exactly the image's bytes refers to them.
        initialMemory: this.major >= 3 ? h.initialMemory.map((m) => (sameBytes(m.bytes, h.guest.image) ? { address: m.address, what: m.what, image: true } : m)) : h.initialMemory,
        boot: {
          mode: h.boot.mode,
          regs: bootRegs,
          sregs: layout.sregsBytesOf(h.boot.sregs),
          cpuid: h.boot.cpuid,
        },
        ...(h.cpu ? { cpu: h.cpu } : {}),
        ...(h.hostModel ? { hostModel: h.hostModel } : {}),
        devices: h.devices,
        // A trace without times says so, however it was made (recorded or copied).
        options: this.timestamps ? h.options : { ...h.options, timestamps: false },
        semantics: h.semantics,
        exitReasons: Object.fromEntries(Object.entries(EXIT).map(([name, code]) => [code, name])),
    });
    this.out.raw(encodeFrame(TAG_HEADER, 0, 1, header));
    this.flush();
  }

  /**
   * Encodes one record (the caller may reuse `r` and its buffers right after). This is the
   * recorder's hot path. Format 3 adds it to the chunk's columns; format 2 writes a msgpack map,
   * its fixed part with a local cursor rather than through MsgpackOut calls.
   */
  writeRecord(r: RecordInput): void {
    if (this.chunk) {
      this.chunk.add(r);
      this.seq++;
      if (r.kind === 'exit') this.exits++;
      if (this.chunk.bytes >= this.frameBytes) this.flush();
      return;
    }
    const o = this.out;
    if (this.frameAt < 0) this.openFrame();
    const mask = this.diffRegs(r.regsBytes);
    const delta = mask !== ALL_REGS;
    const fields = 6 + (delta ? 1 : 0) + (r.sregsBytes ? 1 : 0) + (r.io ? 1 : 0) + (r.mmio ? 1 : 0) + (r.detail ? 1 : 0);
    o.reserve(128);
    const b = o.buf;
    let u = o.used;
    b[u++] = 0x80 | fields;
    u = putKey(b, u, K.kind);
    u = putKey(b, u, r.kind === 'exit' ? KIND_CODE.exit : KIND_CODE.step);
    u = putKey(b, u, K.seq);
    u = putUint(b, u, this.seq++);
    u = putKey(b, u, K.reason);
    u = putUint(b, u, r.reason);
    u = putKey(b, u, K.time);
    u = putUint(b, u, this.timestamps ? r.timeNs : 0);
    u = putKey(b, u, K.run);
    u = putUint(b, u, this.timestamps ? r.runNs : 0);
    if (delta) {
      u = putKey(b, u, K.regsMask);
      u = putUint(b, u, mask);
    }
    u = putKey(b, u, K.regs);
    o.used = u;
    o.bin(delta ? this.changedViews[this.changedCount]! : r.regsBytes);
    if (r.sregsBytes) {
      o.str(K.sregs);
      o.bin(r.sregsBytes);
    }
    if (r.io) {
      o.reserve(32);
      u = o.used;
      u = putKey(b, u, K.io);
      b[u++] = 0x85; // a map of 5
      u = putKey(b, u, 'p');
      u = putUint(b, u, r.io.port);
      u = putKey(b, u, 'z');
      u = putUint(b, u, r.io.size);
      u = putKey(b, u, 'o');
      b[u++] = r.io.out ? 1 : 0;
      u = putKey(b, u, 'c');
      u = putUint(b, u, r.io.count);
      u = putKey(b, u, 'v');
      o.used = u;
      o.bin(r.io.data);
    }
    if (r.mmio) {
      o.str(K.mmio);
      o.mapHeader(4);
      o.str('a');
      o.uint(r.mmio.address);
      o.str('l');
      o.uint(r.mmio.length);
      o.str('w');
      o.uint(r.mmio.write ? 1 : 0);
      o.str('v');
      o.bin(r.mmio.data);
    }
    if (r.detail) {
      o.str(K.detail);
      o.raw(this.packr.pack(r.detail));
    }
    if (r.kind === 'exit') this.exits++;
    if (o.used >= this.frameBytes) this.flush();
  }

  /** Bit i set: register i (REG_NAMES order) changed; changed values go to changedRegs. */
  private diffRegs(bytes: Uint8Array): number {
    if (bytes !== this.regsSource || bytes.byteOffset % 4 !== 0) {
      this.regsSource = bytes;
      const aligned = bytes.byteOffset % 4 === 0 ? bytes : bytes.slice();
      this.regsView = new Uint32Array(aligned.buffer, aligned.byteOffset, REGS_BYTES / 4);
    }
    const cur = this.regsView;
    const prev = this.prevRegs;
    const out = this.changedWords;
    let mask = 0;
    let n = 0;
    for (let i = 0; i < REGS_BYTES / 4; i += 2) {
      const lo = cur[i]!;
      const hi = cur[i + 1]!;
      if (lo !== prev[i] || hi !== prev[i + 1]) {
        mask |= 1 << (i >> 1);
        prev[i] = out[n++] = lo;
        prev[i + 1] = out[n++] = hi;
      }
    }
    this.changedCount = n >> 1;
    return mask;
  }

  /** Writes the footer and closes the file; the trace is then complete. */
  async finish(f: FooterInput): Promise<void> {
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
    this.flush();
    this.out.raw(encodeFrame(TAG_END, this.seq, 1, this.packr.pack(footer)));
    await this.finishWithoutFooter();
  }

  /** Writes everything encoded so far and closes, without a footer (readers: truncated). */
  async finishWithoutFooter(): Promise<void> {
    this.flush();
    await new Promise<void>((resolve) => {
      this.drained = resolve;
      this.pump();
    });
    this.close();
  }

  /**
   * Writes whatever is still queued, synchronously, and closes: the file then ends after the
   * last complete record (without a footer, readers report it as truncated).
   */
  close(): void {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    clearInterval(this.timer);
    for (const chunk of this.queue) writeAllSync(this.fd, chunk.bytes, chunk.position);
    this.queue.length = 0;
    // A background write still in flight closes the file when it ends (closing under it could
    // hand its descriptor to another file).
    if (!this.writing) closeSync(this.fd);
    if (this.failure) throw this.failure;
  }

  /** Starts a frame of records: room for its head, filled in by flush(). */
  private openFrame(): void {
    this.out.reserve(FRAME_HEAD_BYTES);
    this.frameAt = this.out.used;
    this.frameFirst = this.seq;
    this.out.used += FRAME_HEAD_BYTES;
  }

  /** Hands every complete record encoded so far, as a closed frame, to the background writer. */
  flush(): void {
    if (this.failure) throw this.failure;
    if (this.chunk && this.chunk.count > 0) {
      const count = this.chunk.count;
      this.out.raw(encodeFrame(TAG_RECORDS, this.seq - count, count, this.chunk.take()));
    }
    if (this.frameAt >= 0) {
      const at = this.frameAt;
      putFrameHead(this.out.buf, at, TAG_RECORDS, this.frameFirst, this.seq - this.frameFirst, this.out.used - at - FRAME_HEAD_BYTES);
      this.frameAt = -1;
    }
    const used = this.out.used;
    if (used === 0) return;
    const bytes = this.out.buf.slice(0, used);
    this.out.used = 0;
    this.queue.push({ bytes, position: this.nextPosition });
    this.nextPosition += used;
    this.queuedBytes += used;
    if (this.queuedBytes > MAX_QUEUED_BYTES) {
      // The disk is far behind: stop queueing and wait for it here.
      for (const chunk of this.queue.splice(0)) writeAllSync(this.fd, chunk.bytes, chunk.position);
      this.queuedBytes = 0;
    }
    this.pump();
  }

  private pump(): void {
    if (this.writing) return;
    const chunk = this.queue.shift();
    if (!chunk) {
      this.drained?.();
      this.drained = undefined;
      return;
    }
    this.writing = true;
    write(this.fd, chunk.bytes, 0, chunk.bytes.length, chunk.position, (err, written) => {
      this.writing = false;
      this.queuedBytes -= chunk.bytes.length;
      if (err) this.failure = new Error(`writing ${this.path} failed: ${err.message}`);
      else if (written < chunk.bytes.length) {
        this.queue.unshift({ bytes: chunk.bytes.subarray(written), position: chunk.position + written });
      }
      if (this.closed) {
        if (this.queue.length === 0) close(this.fd, () => {});
        else this.pump();
        return;
      }
      if (this.failure) {
        this.drained?.();
        return;
      }
      this.pump();
    });
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.length).equals(b);
}

function writeAllSync(fd: number, bytes: Uint8Array, position: number): void {
  let done = 0;
  while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done, position + done);
}
