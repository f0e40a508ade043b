// Streaming trace reader. Validates every value it hands out and reports problems with the file
// name and byte offset; a trace cut short is readable up to its last complete record. In format
// 2 every frame's checksums are checked before any of its records is handed out, so a corrupt
// byte is reported as corrupt, and only a file cut inside (or after) its last frame as truncated.
// Format 3 frames of records are compressed chunks of columns (src/trace/chunk.ts): the scanner
// reads them through a ChunkReader, and a record's offset is its frame's.
//
// One decoding path: a TraceScanner steps through the records and holds the current one in its
// own fields (a flyweight: nothing is allocated per record), and records()/batches() build
// TraceRecord objects from it. Statistics and diff read the scanner directly. Two decoders fill
// it: scanFast for the writer's exact layout, straight from the bytes, and msgpackr plus
// field-by-field checks (decodeRecord) for everything else, which also words every error.
import { createHash } from 'node:crypto';
import { open, type FileHandle } from 'node:fs/promises';
import { Unpackr } from 'msgpackr';

import { isArchName, registerLayout, type ArchName, type RegisterLayout } from '../arch/index.js';
import { REGS_BYTES, type Regs, type Sregs } from '../cpu-state.js';
import { SREGS_BYTES, sregsFromBytes } from '../kvm-structs.js';
import { oneLine } from '../text/sanitize.js';
import { ChunkProblem, ChunkReader } from './chunk.js';
import { exitReasonName } from './exit-reasons.js';
import {
  FRAME_HEAD_BYTES,
  MAX_FOOTER_FRAME_BYTES,
  MAX_RECORDS_FRAME_BYTES,
  parseFrameHead,
  partialHeadProblem,
  payloadCrc,
  TAG_END,
  TAG_HEADER,
  TAG_RECORDS,
  tagName,
  type FrameHead,
} from './frame.js';
import { parseRules } from '../replay/x86/flag-model.js';
import {
  FORMAT_MAJOR,
  OLDEST_READABLE_MAJOR,
  K,
  KIND_CODE,
  MAGIC_BYTES,
  MAX_HEADER_BYTES,
  MAX_RECORD_BYTES,
  type CpuChoice,
  type CpuidEntry,
  type EndReason,
  type ExitDetail,
  type HostModel,
  type RecordKind,
  type TraceFooter,
  type TraceHeader,
  type TraceRecord,
} from './format.js';

const CHUNK_BYTES = 4 << 20;
/** The first read's size (reads grow fourfold up to CHUNK_BYTES). */
const FIRST_CHUNK_BYTES = 64 << 10;
/**
 * Room in front of a chunk for the unconsumed tail of the one before (part of a value, or in
 * format 2 of a frame: the writer's frames are about 1 MiB, so a frame cut by the end of a
 * chunk moves over without a buffer of its own).
 */
const TAIL_ROOM = 2 << 20;
/** Chunk size for re-reading a few records (scanFrom). */
const SMALL_CHUNK_BYTES = 64 << 10;
/** Records per batch handed out by `batches()`. */
const BATCH_RECORDS = 2048;

export class TraceError extends Error {
  constructor(
    readonly file: string,
    readonly offset: number,
    readonly problem: string,
  ) {
    // A problem may quote the trace's own bytes (a bad field's value): escaped for a terminal.
    super(`${file}: byte offset ${offset}: ${oneLine(problem)}`);
    this.name = 'TraceError';
  }
}

type Obj = Record<string, unknown>;

/** Field checks that name the field and the offset of the value that holds it. */
class Check {
  constructor(
    private readonly file: string,
    private readonly offset: number,
    private readonly what: string,
  ) {}

  fail(problem: string): never {
    throw new TraceError(this.file, this.offset, `${this.what}: ${problem}`);
  }

  obj(v: unknown, name: string): Obj {
    if (v === null || typeof v !== 'object' || Array.isArray(v) || v instanceof Uint8Array) {
      this.fail(`'${name}' must be a map`);
    }
    return v as Obj;
  }

  num(o: Obj, key: string, path = ''): number {
    const v = o[key];
    if (typeof v !== 'number' || !Number.isFinite(v)) this.fail(`'${path}${key}' must be a number, got ${describe(v)}`);
    return v;
  }

  /** A non-negative integer no larger than 2^53. */
  uint(o: Obj, key: string, path = ''): number {
    const v = o[key];
    if (!isUint(v)) this.fail(`'${path}${key}' must be a non-negative integer, got ${describe(v)}`);
    return v;
  }

  str(o: Obj, key: string, path = ''): string {
    const v = o[key];
    if (typeof v !== 'string') this.fail(`'${path}${key}' must be a string, got ${describe(v)}`);
    return v;
  }

  bin(o: Obj, key: string, length?: number, path = ''): Uint8Array {
    const v = o[key];
    if (!(v instanceof Uint8Array)) this.fail(`'${path}${key}' must be binary, got ${describe(v)}`);
    if (length !== undefined && v.length !== length) this.fail(`'${path}${key}' must be ${length} bytes, got ${v.length}`);
    return v;
  }

  arr(o: Obj, key: string, path = ''): unknown[] {
    const v = o[key];
    if (!Array.isArray(v)) this.fail(`'${path}${key}' must be an array, got ${describe(v)}`);
    return v;
  }
}

function describe(v: unknown): string {
  if (v instanceof Uint8Array) return `${v.length} bytes of binary`;
  if (Array.isArray(v)) return 'an array';
  if (v === null) return 'nil';
  if (typeof v === 'bigint') return `bigint ${v}`.slice(0, 40);
  return typeof v === 'object' ? 'a map' : `${typeof v} ${JSON.stringify(v)}`.slice(0, 40);
}

interface RawValue {
  value: unknown;
  offset: number;
}

const INCOMPLETE = -1;
const INVALID = -2;
/**
 * End (exclusive) of the msgpack value that starts at `p`, INCOMPLETE when `end` cuts it, or
 * INVALID at a byte msgpack does not define (0xc1). Iterative: counts values still to skip.
 */
function frameEnd(b: Buffer, p: number, end: number): number {
  let left = 1;
  while (left > 0) {
    if (p >= end) return INCOMPLETE;
    const t = b[p]!;
    left--;
    if (t < 0x80 || t >= 0xe0 || t === 0xc0 || t === 0xc2 || t === 0xc3) p += 1;
    else if (t <= 0x8f) {
      left += 2 * (t & 0x0f);
      p += 1;
    } else if (t <= 0x9f) {
      left += t & 0x0f;
      p += 1;
    } else if (t <= 0xbf) p += 1 + (t & 0x1f);
    else {
      switch (t) {
        case 0xc4: // bin 8
        case 0xd9: // str 8
          if (p + 2 > end) return INCOMPLETE;
          p += 2 + b[p + 1]!;
          break;
        case 0xc5: // bin 16
        case 0xda: // str 16
          if (p + 3 > end) return INCOMPLETE;
          p += 3 + b.readUInt16BE(p + 1);
          break;
        case 0xc6: // bin 32
        case 0xdb: // str 32
          if (p + 5 > end) return INCOMPLETE;
          p += 5 + b.readUInt32BE(p + 1);
          break;
        case 0xc7: // ext 8
          if (p + 2 > end) return INCOMPLETE;
          p += 3 + b[p + 1]!;
          break;
        case 0xc8: // ext 16
          if (p + 3 > end) return INCOMPLETE;
          p += 4 + b.readUInt16BE(p + 1);
          break;
        case 0xc9: // ext 32
          if (p + 5 > end) return INCOMPLETE;
          p += 6 + b.readUInt32BE(p + 1);
          break;
        case 0xca: // float 32
        case 0xce: // uint 32
        case 0xd2: // int 32
          p += 5;
          break;
        case 0xcb: // float 64
        case 0xcf: // uint 64
        case 0xd3: // int 64
          p += 9;
          break;
        case 0xcc: // uint 8
        case 0xd0: // int 8
          p += 2;
          break;
        case 0xcd: // uint 16
        case 0xd1: // int 16
          p += 3;
          break;
        case 0xd4: // fixext 1, 2, 4, 8, 16
        case 0xd5:
        case 0xd6:
        case 0xd7:
        case 0xd8:
          p += 2 + (1 << (t - 0xd4));
          break;
        case 0xdc: // array 16
          if (p + 3 > end) return INCOMPLETE;
          left += b.readUInt16BE(p + 1);
          p += 3;
          break;
        case 0xdd: // array 32
          if (p + 5 > end) return INCOMPLETE;
          left += b.readUInt32BE(p + 1);
          p += 5;
          break;
        case 0xde: // map 16
          if (p + 3 > end) return INCOMPLETE;
          left += 2 * b.readUInt16BE(p + 1);
          p += 3;
          break;
        case 0xdf: // map 32
          if (p + 5 > end) return INCOMPLETE;
          left += 2 * b.readUInt32BE(p + 1);
          p += 5;
          break;
        default: // 0xc1: never used
          return INVALID;
      }
    }
  }
  return p <= end ? p : INCOMPLETE;
}

/**
 * Splits a file into msgpack values, chunk by chunk, tracking each value's byte offset. Records
 * in a layout the byte decoder knows (scanFast) are decoded straight from `buf`; everything
 * else is framed here and decoded by msgpackr.
 */
class ValueStream {
  /**
   * uint64/int64 as numbers: the writer stores integers above 2^32 (timeNs after 4.3 s) that way.
   * copyBuffers: binary values are copies, not views into the read buffers (which are reused).
   */
  readonly unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number', copyBuffers: true });
  /** Bytes read and not yet consumed start at buf[pos]; buf[0] is at file offset bufAt. */
  buf: Buffer = Buffer.alloc(0);
  pos = 0;
  bufAt: number;
  /** The whole buffer `buf` is a part of. */
  private whole: Buffer | undefined;
  /** The next chunk, being read into aheadBuf (at TAIL_ROOM) while this one is decoded. */
  private ahead: Promise<number> | undefined;
  private aheadBuf: Buffer | undefined;
  /** End (exclusive, in buf) of the complete value at pos, after frame() returned true. */
  valueEnd = 0;
  private eof = false;
  /** File offset of the next read. */
  private position: number;
  /**
   * Bytes per read: small at first, growing fourfold up to `chunk`. Records flow at once, and
   * the code for the end of a buffer runs early, while V8 still collects type feedback: met
   * first after 4 MiB, it would throw the optimized decoding loops back to the interpreter.
   */
  private size: number;
  /** Offset where an incomplete value starts when the file ends inside it. */
  truncatedAt: number | undefined;
  /** Format 2: the file is frames, and records are read from the current frame's payload only. */
  framed = false;
  /** How the trace's architecture lays out registers (set from the header). */
  layout: RegisterLayout = registerLayout('x86_64');
  /** End (exclusive, in buf) of the bytes records are read from: the frame's payload, or (1.x) buf. */
  limit = 0;
  /** File offset of the current frame's head (format 2). */
  frameAt = 0;
  /** Format 3: frames of records are compressed chunks (src/trace/chunk.ts). */
  compact = false;

  constructor(
    private readonly fh: FileHandle,
    readonly file: string,
    start = 0,
    private readonly chunk = CHUNK_BYTES,
  ) {
    this.bufAt = start;
    this.position = start;
    this.size = Math.min(FIRST_CHUNK_BYTES, chunk);
  }

  /** File offset of buf[pos]. */
  get offset(): number {
    return this.bufAt + this.pos;
  }

  /** True when a complete value starts at pos (no I/O needed); false when more bytes are needed. */
  frame(limit: number): boolean {
    const { buf, pos } = this;
    if (pos >= this.limit) return false;
    const e = frameEnd(buf, pos, this.limit);
    if (e >= 0) {
      this.valueEnd = e;
      return true;
    }
    if (e === INVALID) this.invalid();
    if (this.framed) throw new TraceError(this.file, this.offset, 'corrupt: a value runs past the end of its frame');
    if (buf.length - pos > limit) {
      throw new TraceError(this.file, this.offset, `a value longer than ${limit} bytes (corrupt length field?)`);
    }
    return false;
  }

  /** Makes a complete value available at pos; false at the end of the file. */
  async ensure(limit: number): Promise<boolean> {
    while (!this.frame(limit)) {
      if (this.eof) {
        if (this.pos < this.buf.length) this.truncatedAt = this.offset;
        return false;
      }
      await this.fill();
    }
    return true;
  }

  /** Decodes the framed value with msgpackr and moves past it. */
  take(): RawValue {
    const offset = this.offset;
    const bytes = this.buf.subarray(this.pos, this.valueEnd);
    let value: unknown;
    try {
      value = this.unpackr.unpack(bytes);
    } catch (e) {
      throw new TraceError(this.file, offset, `not valid msgpack (${(e as Error).message ?? String(e)})`);
    }
    this.pos = this.valueEnd;
    return { value, offset };
  }

  async next(limit: number): Promise<RawValue | undefined> {
    return (await this.ensure(limit)) ? this.take() : undefined;
  }

  /**
   * Format 2: checks the frame at pos whole (its head, then its payload's checksum) and makes
   * its payload buf[pos, limit). Undefined at the end of the file, with truncatedAt set when the
   * file ends inside the frame. Frames larger than `maxLength` are refused as corrupt.
   */
  async nextFrame(maxLength: number): Promise<FrameHead | undefined> {
    const at = this.offset;
    if (!(await this.need(FRAME_HEAD_BYTES))) {
      const n = this.buf.length - this.pos;
      if (n === 0) return undefined;
      const problem = partialHeadProblem(this.buf, this.pos, n);
      if (problem) throw new TraceError(this.file, at, `corrupt: ${problem}`);
      this.truncatedAt = at;
      return undefined;
    }
    const head = parseFrameHead(this.buf, this.pos);
    if (typeof head === 'string') throw new TraceError(this.file, at, `corrupt: ${head}`);
    if (head.length > maxLength) {
      throw new TraceError(this.file, at, `corrupt: a ${tagName(head.tag)} frame of ${head.length} bytes (at most ${maxLength})`);
    }
    if (!(await this.need(FRAME_HEAD_BYTES + head.length))) {
      this.truncatedAt = at;
      return undefined;
    }
    const start = this.pos + FRAME_HEAD_BYTES;
    const end = start + head.length;
    if (payloadCrc(this.buf.subarray(start, end)) !== head.crc) {
      throw new TraceError(this.file, at, `corrupt: ${tagName(head.tag)} frame checksum mismatch (its ${head.length} payload bytes changed)`);
    }
    this.frameAt = at;
    this.pos = start;
    this.limit = end;
    return head;
  }

  /** Format 2: the current frame's payload as its one msgpack value (header, footer). */
  takePayload(what: string): unknown {
    const e = frameEnd(this.buf, this.pos, this.limit);
    if (e !== this.limit) throw new TraceError(this.file, this.frameAt, `corrupt: the ${what} frame's payload is not one msgpack value`);
    this.valueEnd = e;
    return this.take().value;
  }

  /** True when bytes follow pos in the file. */
  async more(): Promise<boolean> {
    return this.need(1);
  }

  /** Makes n bytes from pos available in buf; false when the file ends first. */
  private async need(n: number): Promise<boolean> {
    while (this.buf.length - this.pos < n) {
      if (this.eof) return false;
      await this.fill();
    }
    return true;
  }

  /** Reports an undefined byte the way msgpackr words it. */
  private invalid(): never {
    let message = 'invalid msgpack byte';
    let at = 0;
    try {
      this.unpackr.unpackMultiple(this.buf.subarray(this.pos), () => undefined);
    } catch (e) {
      const err = e as { lastPosition?: number; message?: string };
      message = err.message ?? String(e);
      at = err.lastPosition ?? 0;
    }
    throw new TraceError(this.file, this.offset + at, `not valid msgpack (${message})`);
  }

  /**
   * Moves on to the next chunk, behind the unconsumed bytes. Two buffers take turns, so memory
   * stays at two chunks however long the file is: while one is decoded, the next chunk is read
   * into the other (read-ahead: the read overlaps decoding instead of stalling it). The
   * unconsumed tail of the old chunk (part of a value) is copied into the room kept in front.
   * What points into the old buffer (a scanner's payload views) is invalid from here on.
   */
  private async fill(): Promise<void> {
    let into = this.aheadBuf;
    let n: number;
    if (this.ahead !== undefined && into !== undefined) n = await this.ahead;
    else n = await this.readAt((into = Buffer.allocUnsafe(TAIL_ROOM + this.size)), TAIL_ROOM, this.size, this.position);
    this.ahead = this.aheadBuf = undefined;
    this.position += n;
    const left = this.buf.length - this.pos;
    let spare: Buffer | undefined;
    let eof = n === 0;
    if (left <= TAIL_ROOM) {
      this.buf.copy(into, TAIL_ROOM - left, this.pos);
      spare = this.whole;
      this.whole = into;
      this.buf = into.subarray(TAIL_ROOM - left, TAIL_ROOM + n);
    } else {
      // A long value is cut (rare): join its bytes with the new ones, and read at least as much
      // again at once, so that a value bigger than a chunk is read in O(size).
      const more = eof ? 0 : Math.max(this.chunk, left);
      const joined = Buffer.allocUnsafe(left + n + more);
      this.buf.copy(joined, 0, this.pos);
      into.copy(joined, left, TAIL_ROOM, TAIL_ROOM + n);
      const m = more ? await this.readAt(joined, left + n, more, this.position) : 0;
      this.position += m;
      if (m === 0) eof = true;
      spare = into;
      this.whole = joined;
      this.buf = joined.subarray(0, left + n + m);
    }
    this.bufAt += this.pos;
    this.pos = 0;
    // A frame's payload is always whole in buf, so a fill starts at a frame head: no payload yet.
    this.limit = this.framed ? 0 : this.buf.length;
    if (eof) {
      this.eof = true;
      return;
    }
    this.size = Math.min(4 * this.size, this.chunk);
    if (spare === undefined || spare.length !== TAIL_ROOM + this.size) spare = Buffer.allocUnsafe(TAIL_ROOM + this.size);
    this.aheadBuf = spare;
    this.ahead = this.readAt(spare, TAIL_ROOM, this.size, this.position);
  }

  private readAt(b: Buffer, at: number, size: number, position: number): Promise<number> {
    const read = this.fh.read(b, at, size, position).then((r) => r.bytesRead);
    read.catch(() => undefined); // a failed read-ahead is reported when fill() awaits it
    return read;
  }
}

/** How a trace ended, as a scan finds out (OpenedTrace has these fields). */
interface TraceEnding {
  footer: TraceFooter | undefined;
  truncated: boolean;
  truncatedAt: number | undefined;
}

/** Where a scan stood between two records: scanFrom() starts there. */
export interface ScanMark {
  /** Index of the next record. */
  readonly index: number;
  /** Its byte offset (format 3: its frame's, as for every 3.0 record). */
  readonly offset: number;
  /** Registers and special registers after the record before it (deltas apply to these). */
  readonly regs: Uint8Array;
  readonly sregs: Sregs;
  /** Inside a frame (2.0 and 3.0): the offset of the frame holding that record (read and checked again). */
  readonly frameAt?: number;
}

export interface OpenedTrace {
  file: string;
  header: TraceHeader;
  /** Records in file order; after the loop, `footer`/`truncated` tell how the file ended. */
  records(): AsyncGenerator<TraceRecord>;
  /**
   * The same records in arrays of up to a few thousand (much faster for long traces: no promise
   * per record). A bad record ends the batch before it; the error is thrown on the next pull.
   */
  batches(): AsyncGenerator<TraceRecord[]>;
  /**
   * The records through a TraceScanner (fastest: nothing is allocated per record). Use one of
   * records(), batches() and scan(), once.
   */
  scan(): TraceScanner;
  /**
   * A second scanner over the same file, from `mark` on (to read a few records again, for
   * context; it does not disturb a running scan and does not set footer/truncated).
   */
  scanFrom(mark: ScanMark): TraceScanner;
  footer: TraceFooter | undefined;
  /** True when the file ended without a footer (recording crashed or was cut short). */
  truncated: boolean;
  /** Byte offset where the incomplete tail starts, when truncated inside a value. */
  truncatedAt: number | undefined;
  close(): Promise<void>;
}

export async function openTrace(file: string): Promise<OpenedTrace> {
  let fh: FileHandle;
  try {
    fh = await open(file, 'r');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new TraceError(file, 0, code === 'ENOENT' ? 'no such file' : `cannot open (${code ?? String(e)})`);
  }
  try {
    return await readOpened(fh, file);
  } catch (e) {
    await fh.close();
    throw e;
  }
}

async function readOpened(fh: FileHandle, file: string): Promise<OpenedTrace> {
  const start = Buffer.alloc(MAGIC_BYTES.length + 1);
  const { bytesRead } = await fh.read(start, 0, start.length, 0);
  if (bytesRead < MAGIC_BYTES.length || !start.subarray(0, MAGIC_BYTES.length).equals(MAGIC_BYTES)) {
    const prefix = bytesRead > 0 && start.subarray(0, bytesRead).equals(MAGIC_BYTES.subarray(0, bytesRead));
    throw new TraceError(
      file,
      0,
      bytesRead === 0 ? 'empty file, not a vmtrace trace' : prefix ? `truncated: the file ends inside the magic bytes (${bytesRead} bytes)` : 'not a vmtrace trace (wrong magic bytes)',
    );
  }
  // Format 2 starts its frames right after the magic (a fixarray); 1.x has the header map there.
  const framed = bytesRead > MAGIC_BYTES.length && start[MAGIC_BYTES.length] === 0x96;
  const stream = new ValueStream(fh, file, MAGIC_BYTES.length);
  let header: TraceHeader;
  if (framed) {
    stream.framed = true;
    const head = await stream.nextFrame(MAX_HEADER_BYTES);
    if (!head) throw new TraceError(file, MAGIC_BYTES.length, 'truncated inside the header');
    if (head.tag !== TAG_HEADER || head.first !== 0 || head.count !== 1) {
      throw new TraceError(file, MAGIC_BYTES.length, `corrupt: the first frame must be the header, found a ${tagName(head.tag)} frame`);
    }
    header = decodeHeader(stream.takePayload('header'), file, MAGIC_BYTES.length, true);
    stream.compact = header.format.major >= 3;
    stream.layout = registerLayout(header.arch);
  } else {
    const raw = await stream.next(MAX_HEADER_BYTES);
    if (!raw) throw new TraceError(file, MAGIC_BYTES.length, 'truncated inside the header');
    header = decodeHeader(raw.value, file, raw.offset, false);
  }

  let started = false;
  const trace: OpenedTrace = {
    file,
    header,
    footer: undefined,
    truncated: false,
    truncatedAt: undefined,
    scan() {
      if (started) throw new Error(`${file}: records()/batches()/scan() can only be used once`);
      started = true;
      return new TraceScanner(stream, trace, stream.layout.regsBytesOf(header.boot.regs), header.boot.sregs, 0);
    },
    async *batches() {
      const s = trace.scan();
      for (;;) {
        const batch: TraceRecord[] = [];
        let failure: unknown;
        let more = true;
        try {
          while (!recordsInto(s, batch, BATCH_RECORDS)) {
            if (!(more = await s.read())) break;
          }
        } catch (e) {
          failure = e;
        }
        if (batch.length) yield batch;
        if (failure !== undefined) throw failure;
        if (!more) return;
      }
    },
    async *records() {
      for await (const batch of trace.batches()) {
        for (const rec of batch) yield rec;
      }
    },
    scanFrom(mark) {
      const ending: TraceEnding = { footer: undefined, truncated: false, truncatedAt: undefined };
      const from = new ValueStream(fh, file, mark.frameAt ?? mark.offset, SMALL_CHUNK_BYTES);
      from.framed = framed;
      from.compact = stream.compact;
      from.layout = stream.layout;
      const s = new TraceScanner(from, ending, mark.regs, mark.sregs, mark.index);
      if (mark.frameAt !== undefined) s.resumeAt = mark.offset;
      return s;
    },
    close: () => fh.close(),
  };
  return trace;
}

/** No payload. A Buffer, like every payload the scanner points to: one map for V8 (no deopts). */
const EMPTY: Uint8Array = Buffer.alloc(0);

/**
 * Steps through the records of a trace, holding the current one in its fields, which the next
 * step overwrites (nothing is allocated per record; `record()` makes a TraceRecord of it).
 *
 *     const s = trace.scan();
 *     do {
 *       while (s.next()) use(s);       // records already in memory, synchronously
 *     } while (await s.read());        // reads on; false at the end (footer or end of file)
 *
 * Every record is validated as records() validates it: a bad one throws the same TraceError
 * (file, byte offset, problem) from next() or read(). Payload bytes (ioData at ioAt, ioLen
 * bytes; mmioData likewise) are views into the read buffer: valid until next() or read()
 * (unless payloadsKept).
 */
export class TraceScanner {
  kind: RecordKind = 'exit';
  seq = 0;
  reason = 0;
  timeNs = 0;
  runNs = 0;
  /** Byte offset of the record in the file (format 3: of its frame, the records being compressed). */
  offset = 0;
  /** Index of the record in the file (records before it). */
  index: number;
  /** Registers after this record (x86: kvm_regs bytes; RegisterLayout): the running state, patched by every record. */
  readonly regsBytes: Uint8Array;
  /** The same bytes as 32-bit words, for comparing. */
  readonly regsWords: Uint32Array;
  /** Registers this record stored (bit i: register i in REG_NAMES order); the others kept their values. */
  regsMask = 0;
  /** Special registers in force (a new object only when a record stores them). */
  sregs: Sregs;
  /** True when this record stored sregs (they changed). */
  sregsChanged = false;
  hasIo = false;
  ioPort = 0;
  ioSize = 0;
  ioOut = false;
  ioCount = 0;
  ioData: Uint8Array = EMPTY;
  ioAt = 0;
  ioLen = 0;
  hasMmio = false;
  mmioAddress = 0;
  mmioLength = 0;
  mmioWrite = false;
  mmioData: Uint8Array = EMPTY;
  mmioAt = 0;
  mmioLen = 0;
  detail: ExitDetail | undefined = undefined;
  /** Exit records (kind 'exit') so far, counted from the scan's first record. */
  exits = 0;
  /** The footer was read, or the file ended: no more records. */
  private ended = false;
  private footerChecked = false;
  /** Format 2: the current frame holds records [frameFirst, frameEnd). */
  private frameFirst = 0;
  private frameEnd: number;
  /** Format 2, scanFrom(): the offset to resume at inside the first frame read (format 3: any, the record index tells). @internal */
  resumeAt: number | undefined;
  /** Format 3: the current frame's records. */
  private chunk: ChunkReader | undefined;
  /** Whether the scan began at the first record (then the footer's exit count is checked). */
  private readonly fromStart: boolean;

  /** @internal use OpenedTrace.scan() */
  constructor(
    private readonly stream: ValueStream,
    private readonly ending: TraceEnding,
    regs: Uint8Array,
    sregs: Sregs,
    /** Index of the first record the scan will hand out. */
    firstIndex: number,
  ) {
    this.regsBytes = new Uint8Array(stream.layout.regsBytes);
    this.regsWords = new Uint32Array(this.regsBytes.buffer);
    this.regsBytes.set(regs);
    this.sregs = sregs;
    this.index = firstIndex - 1;
    this.frameEnd = firstIndex;
    this.fromStart = firstIndex === 0;
  }

  /**
   * Moves to the next record if it is already in memory. False when more bytes must be read
   * first (call read()) or the records have ended.
   */
  next(): boolean {
    if (this.chunk !== undefined) return this.nextInChunk(this.chunk);
    const st = this.stream;
    const b = st.buf;
    const p = st.pos;
    if (p >= st.limit || this.ended) return false;
    const e = scanFast(this, b, p, st.limit);
    if (e < 0) return this.nextSlow();
    this.offset = st.bufAt + p;
    st.pos = e;
    return this.counted();
  }

  /** Format 3: the chunk's next record; its sequence number is its position. */
  private nextInChunk(chunk: ChunkReader): boolean {
    if (this.ended) return false;
    try {
      if (!chunk.next(this)) return false;
    } catch (e) {
      throw this.chunkError(e);
    }
    this.seq = this.index + 1;
    this.offset = this.stream.frameAt;
    return this.counted();
  }

  private chunkError(e: unknown): unknown {
    return e instanceof ChunkProblem ? new TraceError(this.stream.file, this.stream.frameAt, `corrupt: records frame: ${e.message}`) : e;
  }

  /** Counts the record just decoded, checking its sequence number. */
  private counted(): boolean {
    this.index++;
    if (this.seq !== this.index) {
      throw new TraceError(this.stream.file, this.offset, `corrupt: record ${this.index} has sequence number ${this.seq}`);
    }
    if (this.kind === 'exit') this.exits++;
    return true;
  }

  /** A record the byte decoder does not take (or one cut by the end of the buffer), or the footer. */
  private nextSlow(): boolean {
    const st = this.stream;
    if (!st.frame(MAX_RECORD_BYTES)) return false; // cut: read() brings the rest
    const { value, offset } = st.take();
    const c = new Check(st.file, offset, 'record');
    const o = c.obj(value, 'record');
    if (o[K.kind] === KIND_CODE.end) {
      if (st.framed) c.fail('corrupt: a footer inside a frame of records');
      this.endWith(decodeFooter(o, c, offset, st.layout));
      return false;
    }
    decodeRecord(this, o, c);
    this.offset = offset;
    return this.counted();
  }

  /** The footer: its counts must be the trace's. */
  private endWith(footer: TraceFooter): void {
    const c = new Check(this.stream.file, footer.offset, 'footer');
    if (footer.records !== this.index + 1) c.fail(`corrupt: it counts ${footer.records} records, the trace holds ${this.index + 1}`);
    if (this.fromStart && footer.exits !== this.exits) c.fail(`corrupt: it counts ${footer.exits} exits, the trace holds ${this.exits}`);
    this.ending.footer = footer;
    this.ended = true;
  }

  /** Reads on until the next record is in memory; false when the records have ended. */
  async read(): Promise<boolean> {
    const st = this.stream;
    if (this.ended) {
      if (this.ending.footer !== undefined && !this.footerChecked) {
        this.footerChecked = true;
        if (await st.more()) throw new TraceError(st.file, st.offset, 'corrupt: data after the footer');
      }
      return false;
    }
    if (st.framed) return this.readFrame();
    if (await st.ensure(MAX_RECORD_BYTES)) return true;
    this.truncate();
    return false;
  }

  private truncate(): void {
    this.ended = true;
    this.ending.truncated = true;
    this.ending.truncatedAt = this.stream.truncatedAt;
  }

  /** Format 2: the current frame's records are all read; checks and enters the next frame. */
  private async readFrame(): Promise<boolean> {
    const st = this.stream;
    if (this.index + 1 !== this.frameEnd) {
      const held = this.index + 1 - this.frameFirst;
      throw new TraceError(st.file, st.frameAt, `corrupt: the frame holds ${held} records, its head says ${this.frameEnd - this.frameFirst}`);
    }
    if (this.chunk !== undefined) {
      try {
        this.chunk.checkUsedUp();
      } catch (e) {
        throw this.chunkError(e);
      }
      this.chunk = undefined;
    }
    const head = await st.nextFrame(MAX_RECORDS_FRAME_BYTES);
    if (!head) {
      if (this.resumeAt !== undefined) throw new TraceError(st.file, st.offset, 'the frame to resume at is gone');
      this.truncate();
      return false;
    }
    const at = st.frameAt;
    const c = new Check(st.file, at, `${tagName(head.tag)} frame`);
    if (this.resumeAt !== undefined && st.compact) {
      // scanFrom(): the chunk holding the mark's record, decoded again up to it.
      if (head.tag !== TAG_RECORDS || head.first > this.index + 1 || head.first + head.count <= this.index + 1) {
        c.fail('not the frame the scan mark points into');
      }
      this.resumeAt = undefined;
      this.enterChunk(head);
      const regs = this.regsBytes.slice();
      const sregs = this.sregs;
      for (let skip = this.index + 1 - head.first; skip > 0; skip--) this.nextInChunkQuietly();
      this.regsBytes.set(regs); // the mark's: the skipped records applied their deltas to others
      this.sregs = sregs;
      this.frameFirst = head.first;
      this.frameEnd = head.first + head.count;
      return true;
    } else if (this.resumeAt !== undefined) {
      // scanFrom(): the frame holding the mark's record, read again from its start.
      const pos = this.resumeAt - st.bufAt;
      if (head.tag !== TAG_RECORDS || pos < st.pos || pos > st.limit) c.fail('not the frame the scan mark points into');
      st.pos = pos;
      this.resumeAt = undefined;
    } else if (head.tag === TAG_RECORDS) {
      if (head.count === 0) c.fail('corrupt: a frame of no records');
      if (head.first !== this.index + 1) {
        c.fail(`corrupt: it starts at record ${head.first}, expected ${this.index + 1} (a frame is missing, repeated or out of order)`);
      }
      if (st.compact) this.enterChunk(head);
    } else if (head.tag === TAG_END) {
      if (head.length > MAX_FOOTER_FRAME_BYTES) c.fail(`corrupt: ${head.length} bytes`);
      const o = c.obj(st.takePayload('footer'), 'footer');
      if (o[K.kind] !== KIND_CODE.end) c.fail(`corrupt: the footer's '${K.kind}' must be '${KIND_CODE.end}'`);
      if (head.first !== this.index + 1) c.fail(`corrupt: it follows record ${head.first}, the trace holds ${this.index + 1}`);
      this.endWith(decodeFooter(o, new Check(st.file, at, 'footer'), at, st.layout));
      this.footerChecked = true;
      if (await st.more()) throw new TraceError(st.file, st.offset, 'corrupt: data after the footer');
      return false;
    } else c.fail('corrupt: a second header');
    this.frameFirst = head.first;
    this.frameEnd = head.first + head.count;
    return true;
  }

  /** Format 3: decompresses the frame's payload (checked already) into the chunk to read from. */
  private enterChunk(head: FrameHead): void {
    const st = this.stream;
    try {
      this.chunk = new ChunkReader(st.buf.subarray(st.pos, st.limit), head.count, MAX_RECORDS_FRAME_BYTES, st.layout);
    } catch (e) {
      throw this.chunkError(e);
    }
    st.pos = st.limit;
  }

  /** Decodes a record of the chunk only to get past it (scanFrom()). */
  private nextInChunkQuietly(): void {
    try {
      this.chunk!.next(this);
    } catch (e) {
      throw this.chunkError(e);
    }
  }

  /**
   * Moves to the next record, reading as needed; false when the records have ended. Per record,
   * `s.next() || (await s.advance())` awaits only when the buffer has run dry.
   */
  async advance(): Promise<boolean> {
    for (;;) {
      if (this.next()) return true;
      if (!(await this.read())) return false;
    }
  }

  /** @internal diff's fast path (format 3): the chunk being read, while it has records left. */
  get chunkLeft(): ChunkReader | undefined {
    const c = this.chunk;
    return c !== undefined && c.done < c.count && !this.ended ? c : undefined;
  }

  /**
   * @internal diff's fast path: next() through records of the chunk that another scan's chunk
   * leads alike (ChunkReader.leadsAlike, passOver), decoding only their kind and host times;
   * the other fields keep their values. After the last of them, takeRegs(leader).
   */
  nextTimes(): boolean {
    if (this.ended) return false;
    try {
      if (!this.chunk!.nextTimes(this)) return false;
    } catch (e) {
      throw this.chunkError(e);
    }
    this.seq = this.index + 1;
    this.offset = this.stream.frameAt;
    return this.counted();
  }

  /** @internal after nextTimes(): the registers and sregs are the leader's (equal before, changed alike). */
  takeRegs(leader: TraceScanner): void {
    this.regsBytes.set(leader.regsBytes);
    this.sregs = leader.sregs;
  }

  get reasonName(): string {
    return reasonName(this.reason);
  }

  /**
   * The current record's payload views stay valid after next() and read(): format 3 decompresses
   * each chunk into a buffer of its own, which nothing overwrites (a holder need not copy them).
   */
  get payloadsKept(): boolean {
    return this.chunk !== undefined;
  }

  /** Where the scan stands now (after the current record), for scanFrom(). */
  mark(): ScanMark {
    const st = this.stream;
    const inChunk = this.chunk !== undefined && this.chunk.done < this.chunk.count;
    const mark = { index: this.index + 1, offset: inChunk ? st.frameAt : st.offset, regs: this.regsBytes.slice(), sregs: this.sregs };
    // Inside a frame, a rescan reads (and checks) that frame again; between frames it starts at the next.
    return inChunk || (st.framed && st.pos < st.limit) ? { ...mark, frameAt: st.frameAt } : mark;
  }

  /** The current record as a TraceRecord of its own (payload bytes copied). */
  record(): TraceRecord {
    const rec = new DecodedRecord(
      this.kind,
      this.seq,
      this.reason,
      this.timeNs,
      this.runNs,
      this.sregs,
      this.sregsChanged,
      this.offset,
      this.regsWords,
      this.stream.layout,
    );
    if (this.hasIo) {
      rec.io = {
        port: this.ioPort,
        size: this.ioSize,
        direction: this.ioOut ? 'out' : 'in',
        count: this.ioCount,
        data: copyBytes(this.ioData, this.ioAt, this.ioLen),
      };
    }
    if (this.hasMmio) {
      rec.mmio = {
        address: this.mmioAddress,
        length: this.mmioLength,
        write: this.mmioWrite,
        data: copyBytes(this.mmioData, this.mmioAt, this.mmioLen),
      };
    }
    if (this.detail !== undefined) rec.detail = this.detail;
    return rec;
  }

  /**
   * Same register values as `other`'s current record, comparing only the registers in `mask`
   * (all by default). Two scans whose registers were equal and whose records stored the same
   * registers need only compare those: that is what diff does per record.
   */
  sameRegs(other: TraceScanner, mask = ALL_REGS): boolean {
    const x = this.regsWords;
    const y = other.regsWords;
    if (mask === ALL_REGS) {
      for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
      return true;
    }
    for (let m = mask; m !== 0; m &= m - 1) {
      const w = (31 - Math.clz32(m & -m)) * 2;
      if (x[w] !== y[w] || x[w + 1] !== y[w + 1]) return false;
    }
    return true;
  }
}

/**
 * Adds the records already in memory to `out` until it holds `max`; true when it does. A plain
 * function, so V8 optimizes the loop (it would not inside the async generator).
 */
function recordsInto(s: TraceScanner, out: TraceRecord[], max: number): boolean {
  while (out.length < max) {
    if (!s.next()) return false;
    out.push(s.record());
  }
  return true;
}

/**
 * Bytes copied out of a (reused) read buffer; small ones byte by byte, cheaper than a call.
 * (Not b.slice(): on a Buffer that is a view, not a copy.)
 */
function copyBytes(b: Uint8Array, at: number, n: number): Uint8Array {
  if (n > 64) return Uint8Array.prototype.slice.call(b, at, at + n);
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = b[at + i]!;
  return out;
}

/** Most guest RAM a header may describe (replay allocates it): above any recorder's --mem limit. */
const MAX_RAM_BYTES = 4 * 1024 ** 3;

function decodeHeader(v: unknown, file: string, offset: number, framed: boolean): TraceHeader {
  const c = new Check(file, offset, 'header');
  const h = c.obj(v, 'header');
  const fmt = c.arr(h, 'format');
  const [major, minor] = fmt;
  if (!isUint(major) || !isUint(minor) || fmt.length !== 2) return c.fail("'format' must be [major, minor]");
  if (major > FORMAT_MAJOR || major < OLDEST_READABLE_MAJOR) {
    c.fail(`trace format ${major}.${minor} is not supported by this vmtrace (reads ${OLDEST_READABLE_MAJOR}.x to ${FORMAT_MAJOR}.x); upgrade vmtrace`);
  }
  if (framed !== major >= 2) c.fail(`corrupt: it says format ${major}.${minor}, but the file is laid out as format ${framed ? '2' : '1'}`);
  const tool = c.obj(h.tool, 'tool');
  const host = c.obj(h.host, 'host');
  const guest = c.obj(h.guest, 'guest');
  const image = c.bin(guest, 'image', undefined, 'guest.');
  const sha256 = c.str(guest, 'sha256', 'guest.');
  if (createHash('sha256').update(image).digest('hex') !== sha256) c.fail("corrupt: 'guest.sha256' does not match 'guest.image'");
  const arch = decodeArch(c, h.arch, major, minor);
  const layout = registerLayout(arch);
  const boot = c.obj(h.boot, 'boot');
  const mode = c.str(boot, 'mode', 'boot.');
  if (arch === 'aarch64' ? mode !== 'el1' : mode !== 'real' && mode !== 'protected' && mode !== 'long') c.fail(`unknown ${arch} boot mode '${mode}'`);
  const memory = decodeMemory(c, c.arr(h, 'memory'));
  const initialMemory = c.arr(h, 'initialMemory').map((m, i) => {
    const at = `initialMemory[${i}].`;
    const r = c.obj(m, at.slice(0, -1));
    // 3.0 stores the image once: a blob of the image's bytes says `image: true` instead.
    const bytes = major >= 3 && r.image === true && r.bytes === undefined ? image : c.bin(r, 'bytes', undefined, at);
    const blob = { address: c.uint(r, 'address', at), bytes, what: c.str(r, 'what', at) };
    if (!memory.some((g) => blob.address >= g.base && blob.address + blob.bytes.length <= g.base + g.size)) {
      c.fail(`'${at}address': ${blob.bytes.length} bytes at 0x${blob.address.toString(16)} do not fit in guest RAM`);
    }
    return blob;
  });
  const semantics = c.obj(h.semantics, 'semantics');
  const cpu = h.cpu === undefined ? undefined : decodeCpuChoice(c, c.obj(h.cpu, 'cpu'));
  const hostModel = h.hostModel === undefined ? undefined : decodeHostModel(c, c.obj(h.hostModel, 'hostModel'));
  return {
    format: { major, minor },
    arch,
    tool: { name: c.str(tool, 'name', 'tool.'), version: c.str(tool, 'version', 'tool.') },
    createdAt: c.str(h, 'createdAt'),
    host: {
      kernel: c.str(host, 'kernel', 'host.'),
      kvmApiVersion: c.num(host, 'kvmApiVersion', 'host.'),
      kvmModule: c.str(host, 'kvmModule', 'host.'),
      cpuVendor: c.str(host, 'cpuVendor', 'host.'),
      cpuModel: c.str(host, 'cpuModel', 'host.'),
      syncRegs: host.syncRegs === true,
    },
    guest: { name: c.str(guest, 'name', 'guest.'), image, sha256, loadAddress: c.uint(guest, 'loadAddress', 'guest.') },
    memory,
    initialMemory,
    boot: {
      mode: mode as TraceHeader['boot']['mode'],
      regs: layout.regs(c.bin(boot, 'regs', layout.regsBytes, 'boot.')),
      sregs: layout.sregs(c.bin(boot, 'sregs', layout.sregsBytes, 'boot.')),
      cpuid: c.arr(boot, 'cpuid', 'boot.').map((e, i) => decodeCpuidEntry(c, e, `boot.cpuid[${i}]`)),
    },
    ...(cpu ? { cpu } : {}),
    ...(hostModel ? { hostModel } : {}),
    devices: c.arr(h, 'devices').map((d, i) => decodeDevice(c, d, `devices[${i}]`)),
    options: c.obj(h.options, 'options'),
    semantics: { registers: 'completed', singleStep: semantics.singleStep === true },
  };
}

/** The header's `arch` (3.1): absent means x86_64, the only architecture before it. */
function decodeArch(c: Check, v: unknown, major: number, minor: number): ArchName {
  if (v === undefined) return 'x86_64';
  if (typeof v !== 'string') return c.fail("'arch' must be a string");
  if (!isArchName(v)) c.fail(`the trace is of architecture '${v}', which this vmtrace does not know (it reads x86_64 and aarch64); upgrade vmtrace`);
  if (v !== 'x86_64' && (major < 3 || (major === 3 && minor < 1))) c.fail(`corrupt: an ${v} trace must be format 3.1 or later, it says ${major}.${minor}`);
  return v;
}

function isUint(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/** RAM regions: in order, apart, and no more than replay can allocate. */
function decodeMemory(c: Check, list: unknown[]): TraceHeader['memory'] {
  let total = 0;
  let end = 0;
  return list.map((m, i) => {
    const at = `memory[${i}].`;
    const r = c.obj(m, at.slice(0, -1));
    const base = c.uint(r, 'base', at);
    const size = c.uint(r, 'size', at);
    if (r.kind !== 'ram') c.fail(`'${at}kind' must be 'ram', got ${describe(r.kind)}`);
    if (base < end) c.fail(`'${at}base' 0x${base.toString(16)} overlaps the region before it`);
    total += size;
    if (total > MAX_RAM_BYTES) c.fail(`corrupt: the memory regions add up to more than ${MAX_RAM_BYTES / 1024 ** 3} GiB of RAM`);
    end = base + size;
    return { base, size, kind: 'ram' as const };
  });
}

function decodeCpuidEntry(c: Check, v: unknown, at: string): CpuidEntry {
  const e = c.obj(v, at);
  const u32 = (k: string) => {
    const x = c.uint(e, k, `${at}.`);
    if (x > 0xffffffff) c.fail(`'${at}.${k}' must be a 32-bit value, got ${x}`);
    return x;
  };
  return { function: u32('function'), index: u32('index'), flags: u32('flags'), eax: u32('eax'), ebx: u32('ebx'), ecx: u32('ecx'), edx: u32('edx') };
}

function decodeDevice(c: Check, v: unknown, at: string): TraceHeader['devices'][number] {
  const d = c.obj(v, at);
  const kind = d.kind;
  if (kind !== 'port' && kind !== 'mmio') c.fail(`'${at}.kind' must be 'port' or 'mmio', got ${describe(kind)}`);
  const base = c.uint(d, 'base', `${at}.`);
  const length = c.uint(d, 'length', `${at}.`);
  if (length === 0 || base + length > (kind === 'port' ? 0x10000 : 2 ** 52)) c.fail(`'${at}' covers no valid ${kind} range (base 0x${base.toString(16)}, length ${length})`);
  return { name: c.str(d, 'name', `${at}.`), kind, base, length };
}

function decodeCpuChoice(c: Check, o: Obj): CpuChoice {
  const source = c.str(o, 'source');
  if (source !== 'builtin' && source !== 'host' && source !== 'file') c.fail(`cpu.source must be builtin, host or file, got '${source}'`);
  return { source, name: c.str(o, 'name') };
}

function decodeHostModel(c: Check, o: Obj): HostModel {
  const flags = c.obj(o.flags, 'hostModel.flags');
  for (const [k, v] of Object.entries(flags)) {
    if (typeof v !== 'string') c.fail(`hostModel.flags.${k} must be a string, got ${describe(v)}`);
    try {
      parseRules(v);
    } catch (e) {
      c.fail(`hostModel.flags.${k}: ${(e as Error).message}`);
    }
  }
  const step = c.obj(o.step, 'hostModel.step');
  const joins = c.arr(step, 'joins');
  for (const j of joins) if (typeof j !== 'string') c.fail(`hostModel.step.joins must hold strings, got ${describe(j)}`);
  return { flags: flags as Record<string, string>, step: { joins: joins as string[] } };
}

// ---- records: the generic path ------------------------------------------------------------------
// msgpackr decodes the value and Check validates it field by field, wording every error. Every
// record scanFast declines comes here: other encodings, a detail map, and every invalid one.

/** Registers are stored whole, or as a mask of changed ones plus their values (REG_NAMES order). */
function decodeRegs(o: Obj, c: Check, prev: Uint8Array): Uint8Array {
  if (o[K.regsMask] === undefined) return c.bin(o, K.regs, REGS_BYTES);
  const mask = c.num(o, K.regsMask);
  if (mask < 0 || mask >= 1 << (REGS_BYTES / 8)) c.fail(`'${K.regsMask}' must be an 18-bit register mask, got ${mask}`);
  const changed = c.bin(o, K.regs);
  const bytes = Uint8Array.from(prev);
  let at = 0;
  for (let i = 0; mask >> i; i++) {
    if (!((mask >> i) & 1)) continue;
    if (at + 8 > changed.length) c.fail(`'${K.regs}' holds fewer registers than '${K.regsMask}' names`);
    bytes.set(changed.subarray(at, at + 8), i * 8);
    at += 8;
  }
  if (at !== changed.length) c.fail(`'${K.regs}' holds more registers than '${K.regsMask}' names`);
  return bytes;
}

/** Validates record `o` and makes it the scanner's current record (state changes only at the end). */
function decodeRecord(s: TraceScanner, o: Obj, c: Check): void {
  const kindCode = o[K.kind];
  if (kindCode !== KIND_CODE.exit && kindCode !== KIND_CODE.step) c.fail(`unknown record kind ${describe(kindCode)}`);
  const reason = c.num(o, K.reason);
  const regsBytes = decodeRegs(o, c, s.regsBytes);
  const sregsBytes = o[K.sregs] === undefined ? undefined : c.bin(o, K.sregs, SREGS_BYTES);
  const seq = c.num(o, K.seq);
  const timeNs = c.num(o, K.time);
  const runNs = c.num(o, K.run);
  let io: Obj | undefined;
  let ioData: Uint8Array = EMPTY;
  if (o[K.io] !== undefined) {
    io = c.obj(o[K.io], K.io);
    const size = c.num(io, 'z');
    const count = c.num(io, 'c');
    ioData = c.bin(io, 'v');
    if (![1, 2, 4].includes(size)) c.fail(`IO size must be 1, 2 or 4, got ${size}`);
    if (ioData.length !== size * count) c.fail(`IO data must be size*count = ${size * count} bytes, got ${ioData.length}`);
    s.ioPort = c.num(io, 'p');
    s.ioOut = c.num(io, 'o') !== 0;
    s.ioSize = size;
    s.ioCount = count;
  }
  let mm: Obj | undefined;
  let mmData: Uint8Array = EMPTY;
  if (o[K.mmio] !== undefined) {
    mm = c.obj(o[K.mmio], K.mmio);
    const length = c.num(mm, 'l');
    mmData = c.bin(mm, 'v');
    if (mmData.length !== length) c.fail(`MMIO data must be ${length} bytes, got ${mmData.length}`);
    s.mmioAddress = c.num(mm, 'a');
    s.mmioWrite = c.num(mm, 'w') !== 0;
    s.mmioLength = length;
  }
  const detail = o[K.detail] === undefined ? undefined : (c.obj(o[K.detail], K.detail) as ExitDetail);
  s.kind = kindCode === KIND_CODE.exit ? 'exit' : 'step';
  s.seq = seq;
  s.reason = reason;
  s.timeNs = timeNs;
  s.runNs = runNs;
  s.regsBytes.set(regsBytes);
  s.regsMask = ALL_REGS; // (as far as anyone comparing needs to know)
  s.sregsChanged = sregsBytes !== undefined;
  if (sregsBytes !== undefined) s.sregs = sregsFromBytes(sregsBytes);
  s.hasIo = io !== undefined;
  s.ioData = ioData;
  s.ioAt = 0;
  s.ioLen = ioData.length;
  s.hasMmio = mm !== undefined;
  s.mmioData = mmData;
  s.mmioAt = 0;
  s.mmioLen = mmData.length;
  s.detail = detail;
}

// ---- records: the byte decoder ------------------------------------------------------------------
// Decodes a record in exactly the layout TraceWriter produces, straight from the read buffer
// into the scanner, in one pass without a branch per key: a fixmap of
//   k n r t d [gm] g [s] [io: p z o c v] [mm: a l w v]
// with unsigned integers of any width and bin payloads. It takes only records decodeRecord
// accepts and produces the same values. Anything else (other key orders or encodings, a
// detail map, an invalid value, a record near the end of the buffer) returns -1 and goes
// through msgpackr and decodeRecord, which also word the errors.
//
// Bounds: before each group of fields it checks that the most that group can read lies before
// `end` (conservatively: a record close to the end of the buffer just takes the generic path),
// so it never reads past the buffer (V8 would deoptimize on that). The scanner's state
// (registers, sregs) changes only after the whole record has been checked.

/** Where the bytes of the bin just read by binLen start (module state: no object per value). */
let binAt = 0;

/** Length of the msgpack bin at b[p] (its bytes start at binAt), or -1 when it is not a bin. */
function binLen(b: Buffer, p: number): number {
  const t = b[p];
  if (t === 0xc4) {
    binAt = p + 2;
    return b[p + 1]!;
  }
  if (t === 0xc5) {
    binAt = p + 3;
    return (b[p + 1]! << 8) | b[p + 2]!;
  }
  if (t === 0xc6) {
    binAt = p + 5;
    return b[p + 1]! * 0x1000000 + ((b[p + 2]! << 16) | (b[p + 3]! << 8) | b[p + 4]!);
  }
  return -1;
}

/**
 * Bytes of the unsigned msgpack integer starting with byte t (0: not one). A table rather than
 * a function: a load instead of a chain of branches, and it leaves TurboFan's inlining budget
 * to uVal (a call per field would cost more than decoding it).
 */
const U_LEN = new Uint8Array(256);
U_LEN.fill(1, 0, 0x80);
U_LEN[0xcc] = 2;
U_LEN[0xcd] = 3;
U_LEN[0xce] = 5;
U_LEN[0xcf] = 9;

/** The unsigned msgpack integer at b[p] (first byte t, U_LEN[t] > 0), as msgpackr decodes it. */
function uVal(b: Buffer, p: number, t: number): number {
  return t < 0x80
    ? t
    : t === 0xcc
      ? b[p + 1]!
      : t === 0xcd
        ? (b[p + 1]! << 8) | b[p + 2]!
        : t === 0xce
          ? b[p + 1]! * 0x1000000 + ((b[p + 2]! << 16) | (b[p + 3]! << 8) | b[p + 4]!)
          : u64(b, p + 1);
}

/** uint 64 (rare: times after 4.3 s), as msgpackr's int64AsType 'number' computes it. */
function u64(b: Buffer, p: number): number {
  const hi = b[p]! * 0x1000000 + ((b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!);
  return hi * 0x100000000 + (b[p + 4]! * 0x1000000 + ((b[p + 5]! << 16) | (b[p + 6]! << 8) | b[p + 7]!));
}

function popcount(x: number): number {
  x -= (x >>> 1) & 0x55555555;
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  return Math.imul((x + (x >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24;
}

const ALL_REGS = (1 << (REGS_BYTES / 8)) - 1;
/** Most bytes read before the registers' bytes: map, k, n r t d (uint 64 each), gm, g's bin header. */
const PREFIX_MAX = 1 + 4 + 4 * 11 + 12 + 7;
/** Most bytes of an optional field's key, map header and numbers (io is the longest: 56). */
const OPTIONAL_MAX = 56;

/** io: 85 'p' u 'z' u 'o' u 'c' u 'v' bin, into the scanner's io fields; returns its end or -1. */
function scanIo(s: TraceScanner, b: Buffer, p: number, end: number): number {
  let t: number;
  let n: number;
  if (b[p] !== 0x85 || b[p + 1] !== 0xa1 || b[p + 2] !== 0x70 || (n = U_LEN[(t = b[p + 3]!)]!) === 0) return -1;
  const port = uVal(b, p + 3, t);
  p += 3 + n;
  if (b[p] !== 0xa1 || b[p + 1] !== 0x7a || (n = U_LEN[(t = b[p + 2]!)]!) === 0) return -1;
  const size = uVal(b, p + 2, t);
  p += 2 + n;
  if (b[p] !== 0xa1 || b[p + 1] !== 0x6f || (n = U_LEN[(t = b[p + 2]!)]!) === 0) return -1;
  const out = uVal(b, p + 2, t);
  p += 2 + n;
  if (b[p] !== 0xa1 || b[p + 1] !== 0x63 || (n = U_LEN[(t = b[p + 2]!)]!) === 0) return -1;
  const count = uVal(b, p + 2, t);
  p += 2 + n;
  if (b[p] !== 0xa1 || b[p + 1] !== 0x76) return -1;
  const len = binLen(b, p + 2);
  if ((size !== 1 && size !== 2 && size !== 4) || len !== size * count || binAt + len > end) return -1;
  s.ioPort = port;
  s.ioSize = size;
  s.ioOut = out !== 0;
  s.ioCount = count;
  s.ioAt = binAt;
  s.ioLen = len;
  return binAt + len;
}

/** mm: 84 'a' u 'l' u 'w' u 'v' bin, into the scanner's mmio fields; returns its end or -1. */
function scanMmio(s: TraceScanner, b: Buffer, p: number, end: number): number {
  let t: number;
  let n: number;
  if (b[p] !== 0x84 || b[p + 1] !== 0xa1 || b[p + 2] !== 0x61 || (n = U_LEN[(t = b[p + 3]!)]!) === 0) return -1;
  const address = uVal(b, p + 3, t);
  p += 3 + n;
  if (b[p] !== 0xa1 || b[p + 1] !== 0x6c || (n = U_LEN[(t = b[p + 2]!)]!) === 0) return -1;
  const length = uVal(b, p + 2, t);
  p += 2 + n;
  if (b[p] !== 0xa1 || b[p + 1] !== 0x77 || (n = U_LEN[(t = b[p + 2]!)]!) === 0) return -1;
  const write = uVal(b, p + 2, t);
  p += 2 + n;
  if (b[p] !== 0xa1 || b[p + 1] !== 0x76) return -1;
  const len = binLen(b, p + 2);
  if (len !== length || binAt + len > end) return -1;
  s.mmioAddress = address;
  s.mmioLength = length;
  s.mmioWrite = write !== 0;
  s.mmioAt = binAt;
  s.mmioLen = len;
  return binAt + len;
}

/** The record at b[start] into the scanner; returns its end, or -1 (see above). */
function scanFast(s: TraceScanner, b: Buffer, start: number, end: number): number {
  if (start + PREFIX_MAX > end) return -1;
  // fixmap of the 6 fixed fields plus up to 4 optional ones (gm, s, io, mm)
  const h = b[start]!;
  if (h < 0x86 || h > 0x8a) return -1;
  let optional = h - 0x86;
  // k: 'x' or 's' ('end' is the footer: generic path)
  if (b[start + 1] !== 0xa1 || b[start + 2] !== 0x6b || b[start + 3] !== 0xa1) return -1;
  const kc = b[start + 4];
  const kind: RecordKind | undefined = kc === 0x78 ? 'exit' : kc === 0x73 ? 'step' : undefined;
  if (kind === undefined) return -1;
  let p = start + 5;
  let t: number;
  let n: number;
  // n r t d
  if (b[p] !== 0xa1 || b[p + 1] !== 0x6e || (n = U_LEN[(t = b[p + 2]!)]!) === 0) return -1;
  const seq = uVal(b, p + 2, t);
  p += 2 + n;
  if (b[p] !== 0xa1 || b[p + 1] !== 0x72 || (n = U_LEN[(t = b[p + 2]!)]!) === 0) return -1;
  const reason = uVal(b, p + 2, t);
  p += 2 + n;
  if (b[p] !== 0xa1 || b[p + 1] !== 0x74 || (n = U_LEN[(t = b[p + 2]!)]!) === 0) return -1;
  const timeNs = uVal(b, p + 2, t);
  p += 2 + n;
  if (b[p] !== 0xa1 || b[p + 1] !== 0x64 || (n = U_LEN[(t = b[p + 2]!)]!) === 0) return -1;
  const runNs = uVal(b, p + 2, t);
  p += 2 + n;
  // gm (the changed registers' mask) and g (their values), or g alone (all of them)
  let mask = ALL_REGS;
  if (b[p] === 0xa2 && b[p + 1] === 0x67 && b[p + 2] === 0x6d) {
    if (optional-- === 0 || (n = U_LEN[(t = b[p + 3]!)]!) === 0) return -1;
    mask = uVal(b, p + 3, t);
    p += 3 + n;
    if (mask > ALL_REGS) return -1;
  }
  const regsLen = popcount(mask) * 8;
  if (b[p] !== 0xa1 || b[p + 1] !== 0x67 || binLen(b, p + 2) !== regsLen || binAt + regsLen > end) return -1;
  const regsAt = binAt;
  p = regsAt + regsLen;
  let sregsAt = -1;
  let io = false;
  let mmio = false;
  if (optional > 0) {
    // s (only when the special registers changed), io, mm
    if (p + OPTIONAL_MAX > end) return -1;
    if (b[p] === 0xa1 && b[p + 1] === 0x73) {
      if (binLen(b, p + 2) !== SREGS_BYTES || binAt + SREGS_BYTES + OPTIONAL_MAX > end) return -1;
      sregsAt = binAt;
      p = sregsAt + SREGS_BYTES;
      optional--;
    }
    if (optional > 0 && b[p] === 0xa2 && b[p + 1] === 0x69 && b[p + 2] === 0x6f) {
      p = scanIo(s, b, p + 3, end);
      if (p < 0 || p + OPTIONAL_MAX > end) return -1;
      io = true;
      optional--;
    }
    if (optional > 0 && b[p] === 0xa2 && b[p + 1] === 0x6d && b[p + 2] === 0x6d) {
      p = scanMmio(s, b, p + 3, end);
      if (p < 0) return -1;
      mmio = true;
      optional--;
    }
    if (optional !== 0) return -1;
  }
  // Checked: from here on the record is accepted and the state changes.
  const state = s.regsBytes;
  let at = regsAt;
  for (let m = mask; m !== 0; m &= m - 1) {
    const o = (31 - Math.clz32(m & -m)) * 8; // the lowest register left
    state[o] = b[at]!;
    state[o + 1] = b[at + 1]!;
    state[o + 2] = b[at + 2]!;
    state[o + 3] = b[at + 3]!;
    state[o + 4] = b[at + 4]!;
    state[o + 5] = b[at + 5]!;
    state[o + 6] = b[at + 6]!;
    state[o + 7] = b[at + 7]!;
    at += 8;
  }
  s.regsMask = mask;
  s.kind = kind;
  s.seq = seq;
  s.reason = reason;
  s.timeNs = timeNs;
  s.runNs = runNs;
  s.sregsChanged = sregsAt >= 0;
  if (sregsAt >= 0) s.sregs = sregsFromBytes(b.subarray(sregsAt, sregsAt + SREGS_BYTES));
  s.hasIo = io;
  if (io) s.ioData = b;
  s.hasMmio = mmio;
  if (mmio) s.mmioData = b;
  s.detail = undefined;
  return p;
}

// ---- records as objects -------------------------------------------------------------------------

/**
 * Register bytes of records live in shared slabs (a typed array over 144 bytes would get its own
 * off-heap buffer, about a microsecond each): 4096 records per slab. A record keeps its slab and
 * offset; `regsBytes` is a view made on first use.
 */
const SLAB_RECORDS = 4096;
let slab32 = new Uint32Array(0);
let slabUsed = 0;

/** Copies registers (as words) into a slab; returns the byte offset (the slab is `slab32`). */
function snapshot(words: Uint32Array): number {
  const bytes = words.length * 4;
  if (slabUsed + bytes > slab32.byteLength) {
    slab32 = new Uint32Array((Math.max(bytes, REGS_BYTES) / 4) * SLAB_RECORDS);
    slabUsed = 0;
  }
  const at = slabUsed;
  for (let i = 0, j = at >> 2; i < words.length; i++, j++) slab32[j] = words[i]!;
  slabUsed += bytes;
  return at;
}

const REASON_NAMES: string[] = Array.from({ length: 64 }, (_, code) => exitReasonName(code));

function reasonName(reason: number): string {
  return (reason >= 0 && reason < 64 && REASON_NAMES[reason]) || exitReasonName(reason);
}

/** A record as records()/batches() hand it out; `regsBytes` and `regs` are made on first use. */
class DecodedRecord implements TraceRecord {
  readonly reasonName: string;
  declare io?: TraceRecord['io'];
  declare mmio?: TraceRecord['mmio'];
  declare detail?: ExitDetail;
  #regsBytes: Uint8Array | undefined;
  #regs: Regs | undefined;
  /** Slab (32-bit view) and byte offset holding the registers. */
  readonly #slab: Uint32Array;
  readonly #at: number;
  readonly #layout: RegisterLayout;

  constructor(
    readonly kind: RecordKind,
    readonly seq: number,
    readonly reason: number,
    readonly timeNs: number,
    readonly runNs: number,
    readonly sregs: Sregs,
    readonly sregsChanged: boolean,
    readonly offset: number,
    regsWords: Uint32Array,
    layout: RegisterLayout,
  ) {
    this.reasonName = reasonName(reason);
    this.#at = snapshot(regsWords);
    this.#slab = slab32;
    this.#layout = layout;
  }

  get regsBytes(): Uint8Array {
    return (this.#regsBytes ??= new Uint8Array(this.#slab.buffer, this.#at, this.#layout.regsBytes));
  }

  get regs(): Regs {
    return (this.#regs ??= this.#layout.regs(this.regsBytes));
  }

  /** Same registers as `other` (compares the slabs directly). */
  sameRegs(other: DecodedRecord): boolean {
    const x = this.#slab;
    const y = other.#slab;
    let i = this.#at >> 2;
    let j = other.#at >> 2;
    if (this.#layout !== other.#layout) return false;
    for (const end = i + this.#layout.regsBytes / 4; i < end; i++, j++) if (x[i] !== y[j]) return false;
    return true;
  }
}

/**
 * True when two records hold the same register values: like comparing `regsBytes`, but records
 * from this reader compare without making the views.
 */
export function sameRegisters(a: TraceRecord, b: TraceRecord): boolean {
  if (a instanceof DecodedRecord && b instanceof DecodedRecord) return a.sameRegs(b);
  const x = a.regsBytes;
  const y = b.regsBytes;
  return x.length === y.length && Buffer.compare(x, y) === 0;
}

function decodeFooter(o: Obj, c: Check, offset: number, layout: RegisterLayout): TraceFooter {
  const footer: TraceFooter = {
    endReason: c.str(o, 'why') as EndReason,
    message: c.str(o, 'msg'),
    exits: c.num(o, 'exits'),
    records: c.num(o, 'records'),
    regs: layout.regs(c.bin(o, K.regs, layout.regsBytes)),
    sregs: layout.sregs(c.bin(o, K.sregs, layout.sregsBytes)),
    offset,
  };
  if (o.status !== undefined) footer.status = c.num(o, 'status');
  return footer;
}

/** Reads a whole (small) trace into memory: header, records, footer. */
export async function readTrace(file: string): Promise<{
  header: TraceHeader;
  records: TraceRecord[];
  footer: TraceFooter | undefined;
  truncated: boolean;
  truncatedAt: number | undefined;
}> {
  const t = await openTrace(file);
  try {
    const records: TraceRecord[] = [];
    for await (const batch of t.batches()) for (const r of batch) records.push(r);
    return { header: t.header, records, footer: t.footer, truncated: t.truncated, truncatedAt: t.truncatedAt };
  } finally {
    await t.close();
  }
}
