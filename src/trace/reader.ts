// Streaming trace reader. Validates every value it hands out and reports problems with the file
// name and byte offset; a trace cut short is readable up to its last complete record.
import { open, type FileHandle } from 'node:fs/promises';
import { Unpackr } from 'msgpackr';

import { REGS_BYTES, regsFromBytes, regsToBytes, type Regs, type Sregs } from '../cpu-state.js';
import { SREGS_BYTES, sregsFromBytes } from '../kvm-structs.js';
import { exitReasonName } from './exit-reasons.js';
import {
  FORMAT_MAJOR,
  K,
  KIND_CODE,
  MAGIC_BYTES,
  MAX_HEADER_BYTES,
  MAX_RECORD_BYTES,
  type BootMode,
  type CpuidEntry,
  type EndReason,
  type ExitDetail,
  type IoPayload,
  type MmioPayload,
  type RecordKind,
  type TraceFooter,
  type TraceHeader,
  type TraceRecord,
} from './format.js';

const CHUNK_BYTES = 4 << 20;
/** Records per batch handed out by `batches()`. */
const BATCH_RECORDS = 2048;

export class TraceError extends Error {
  constructor(
    readonly file: string,
    readonly offset: number,
    readonly problem: string,
  ) {
    super(`${file}: byte offset ${offset}: ${problem}`);
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

  num(o: Obj, key: string): number {
    const v = o[key];
    if (typeof v !== 'number' || !Number.isFinite(v)) this.fail(`'${key}' must be a number, got ${describe(v)}`);
    return v;
  }

  str(o: Obj, key: string): string {
    const v = o[key];
    if (typeof v !== 'string') this.fail(`'${key}' must be a string, got ${describe(v)}`);
    return v;
  }

  bin(o: Obj, key: string, length?: number): Uint8Array {
    const v = o[key];
    if (!(v instanceof Uint8Array)) this.fail(`'${key}' must be binary, got ${describe(v)}`);
    if (length !== undefined && v.length !== length) this.fail(`'${key}' must be ${length} bytes, got ${v.length}`);
    return v;
  }

  arr(o: Obj, key: string): unknown[] {
    const v = o[key];
    if (!Array.isArray(v)) this.fail(`'${key}' must be an array, got ${describe(v)}`);
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
 * Splits a file into msgpack values, chunk by chunk, tracking each value's byte offset. Values
 * are framed here; records in the writer's layout are decoded straight from the bytes
 * (fastRecord), everything else by msgpackr.
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
  /** The whole buffer `buf` is a part of, and the other one (reused by the next fill). */
  private whole: Buffer | undefined;
  private spare: Buffer | undefined;
  private bufAt = 0;
  /** End (exclusive, in buf) of the complete value at pos, after frame() returned true. */
  valueEnd = 0;
  private eof = false;
  private position = 0;
  /** Offset where an incomplete value starts when the file ends inside it. */
  truncatedAt: number | undefined;

  constructor(
    private readonly fh: FileHandle,
    private readonly file: string,
  ) {}

  /** File offset of buf[pos]. */
  get offset(): number {
    return this.bufAt + this.pos;
  }

  /** True when a complete value starts at pos (no I/O needed); false when more bytes are needed. */
  frame(limit: number): boolean {
    const { buf, pos } = this;
    if (pos >= buf.length) return false;
    const e = frameEnd(buf, pos, buf.length);
    if (e >= 0) {
      this.valueEnd = e;
      return true;
    }
    if (e === INVALID) this.invalid();
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
   * Reads the next chunk behind the unconsumed bytes. Two buffers take turns, so memory stays at
   * two chunks however long the file is: nothing handed out points into them (binary values are
   * copied out), so a buffer is free for reuse once its bytes are consumed.
   */
  private async fill(): Promise<void> {
    const left = this.buf.length - this.pos;
    // Read at least as much as is pending, so a value bigger than a chunk is read in O(size).
    const size = Math.max(CHUNK_BYTES, left);
    let next = this.spare;
    if (next === undefined || next.length < left + size) next = Buffer.allocUnsafe(left + size);
    this.buf.copy(next, 0, this.pos);
    this.spare = this.whole;
    this.whole = next;
    const { bytesRead } = await this.fh.read(next, left, size, this.position);
    this.position += bytesRead;
    this.bufAt += this.pos;
    this.pos = 0;
    this.buf = next.subarray(0, left + bytesRead);
    if (bytesRead === 0) this.eof = true;
  }
}

export interface OpenedTrace {
  file: string;
  header: TraceHeader;
  /** Records in file order; after the loop, `footer`/`truncated` tell how the file ended. */
  records(): AsyncGenerator<TraceRecord>;
  /**
   * The same records in arrays of up to a few thousand (much faster for long traces: no promise
   * per record). Use either records() or batches(), once. A bad record ends the batch before
   * it; the error is thrown on the next pull.
   */
  batches(): AsyncGenerator<TraceRecord[]>;
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
  const magic = Buffer.alloc(MAGIC_BYTES.length);
  const { bytesRead } = await fh.read(magic, 0, magic.length, 0);
  if (bytesRead < magic.length || !magic.equals(MAGIC_BYTES)) {
    throw new TraceError(file, 0, bytesRead === 0 ? 'empty file, not a vmtrace trace' : 'not a vmtrace trace (wrong magic bytes)');
  }
  const stream = new ValueStream(fh, file);
  await stream.next(MAX_HEADER_BYTES); // the magic string itself
  const raw = await stream.next(MAX_HEADER_BYTES);
  if (!raw) throw new TraceError(file, MAGIC_BYTES.length, 'truncated inside the header');
  const header = decodeHeader(raw.value, file, raw.offset);
  let sregs = header.boot.sregs;
  /** Registers after the previous record (the boot state at first): deltas apply to these. */
  const cur = new RegsState(regsToBytes(header.boot.regs));

  const int64 = (stream.unpackr as { int64AsType?: string }).int64AsType === 'number';

  /** Decodes complete values already in memory into `out` until it holds `max` records. */
  const decodeAvailable = (out: TraceRecord[], max: number): 'more' | 'footer' => {
    while (out.length < max) {
      const { buf, pos } = stream;
      if (pos >= buf.length) break;
      let rec: TraceRecord | undefined;
      try {
        rec = fastRecord(buf, pos, buf.length, stream.offset, cur, sregs, int64);
      } catch {
        rec = undefined; // ran past the bytes read so far: frame() below decides
      }
      if (rec !== undefined) {
        stream.pos = fp;
      } else {
        if (!stream.frame(MAX_RECORD_BYTES)) break;
        const next = stream.take();
        const c = new Check(file, next.offset, 'record');
        const o = c.obj(next.value, 'record');
        if (o[K.kind] === KIND_CODE.end) {
          trace.footer = decodeFooter(o, c, next.offset);
          return 'footer';
        }
        rec = decodeRecord(o, c, next.offset, cur.bytes, sregs);
        cur.bytes.set(rec.regsBytes);
      }
      sregs = rec.sregs;
      out.push(rec);
    }
    return 'more';
  };

  let started = false;
  const trace: OpenedTrace = {
    file,
    header,
    footer: undefined,
    truncated: false,
    truncatedAt: undefined,
    async *batches() {
      if (started) throw new Error(`${file}: records()/batches() can only be iterated once`);
      started = true;
      for (;;) {
        const batch: TraceRecord[] = [];
        let failure: unknown;
        let state: 'more' | 'footer' | 'eof' = 'more';
        try {
          if (!(await stream.ensure(MAX_RECORD_BYTES))) state = 'eof';
          else state = decodeAvailable(batch, BATCH_RECORDS);
        } catch (e) {
          failure = e;
        }
        if (batch.length) yield batch;
        if (failure !== undefined) throw failure;
        if (state === 'eof') {
          trace.truncated = true;
          trace.truncatedAt = stream.truncatedAt;
          return;
        }
        if (state === 'footer') {
          const extra = await stream.next(MAX_RECORD_BYTES);
          if (extra) throw new TraceError(file, extra.offset, 'data after the footer');
          return;
        }
      }
    },
    async *records() {
      for await (const batch of trace.batches()) {
        for (const rec of batch) yield rec;
      }
    },
    close: () => fh.close(),
  };
  return trace;
}

function decodeHeader(v: unknown, file: string, offset: number): TraceHeader {
  const c = new Check(file, offset, 'header');
  const h = c.obj(v, 'header');
  const fmt = c.arr(h, 'format');
  const [major, minor] = fmt;
  if (typeof major !== 'number' || typeof minor !== 'number') return c.fail("'format' must be [major, minor]");
  if (major !== FORMAT_MAJOR) {
    c.fail(`trace format ${major}.${minor} is not supported by this vmtrace (reads ${FORMAT_MAJOR}.x); upgrade vmtrace`);
  }
  const guest = c.obj(h.guest, 'guest');
  const boot = c.obj(h.boot, 'boot');
  const mode = c.str(boot, 'mode');
  if (mode !== 'real' && mode !== 'protected' && mode !== 'long') c.fail(`unknown boot mode '${mode}'`);
  const memory = c.arr(h, 'memory').map((m) => {
    const r = c.obj(m, 'memory[]');
    return { base: c.num(r, 'base'), size: c.num(r, 'size'), kind: 'ram' as const };
  });
  const initialMemory = c.arr(h, 'initialMemory').map((m) => {
    const r = c.obj(m, 'initialMemory[]');
    return { address: c.num(r, 'address'), bytes: c.bin(r, 'bytes'), what: c.str(r, 'what') };
  });
  const semantics = c.obj(h.semantics, 'semantics');
  return {
    format: { major, minor },
    tool: c.obj(h.tool, 'tool') as TraceHeader['tool'],
    createdAt: c.str(h, 'createdAt'),
    host: c.obj(h.host, 'host') as unknown as TraceHeader['host'],
    guest: {
      name: c.str(guest, 'name'),
      image: c.bin(guest, 'image'),
      sha256: c.str(guest, 'sha256'),
      loadAddress: c.num(guest, 'loadAddress'),
    },
    memory,
    initialMemory,
    boot: {
      mode: mode as BootMode,
      regs: regsFromBytes(c.bin(boot, 'regs', REGS_BYTES)),
      sregs: sregsFromBytes(c.bin(boot, 'sregs', SREGS_BYTES)),
      cpuid: c.arr(boot, 'cpuid') as CpuidEntry[],
    },
    devices: c.arr(h, 'devices') as TraceHeader['devices'],
    options: c.obj(h.options, 'options'),
    semantics: { registers: 'completed', singleStep: semantics.singleStep === true },
  };
}

/** Registers are stored whole, or as a mask of changed ones plus their values (REG_NAMES order). */
function decodeRegs(o: Obj, c: Check, prev: Uint8Array): Uint8Array {
  if (o[K.regsMask] === undefined) return c.bin(o, K.regs, REGS_BYTES);
  const mask = c.num(o, K.regsMask);
  if (mask < 0 || mask >= 1 << (REGS_BYTES / 8)) c.fail(`'${K.regsMask}' must be an 18-bit register mask, got ${mask}`);
  const changed = c.bin(o, K.regs);
  const bytes = Uint8Array.from(prev); // a copy (Buffer#slice would be a view into the file buffer)
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

function decodeRecord(o: Obj, c: Check, offset: number, prevRegs: Uint8Array, prevSregs: Sregs): TraceRecord {
  const kindCode = o[K.kind];
  if (kindCode !== KIND_CODE.exit && kindCode !== KIND_CODE.step) c.fail(`unknown record kind ${describe(kindCode)}`);
  const reason = c.num(o, K.reason);
  const regsBytes = decodeRegs(o, c, prevRegs);
  const sregsBytes = o[K.sregs] === undefined ? undefined : c.bin(o, K.sregs, SREGS_BYTES);
  const rec = new DecodedRecord(
    kindCode === KIND_CODE.exit ? 'exit' : 'step',
    c.num(o, K.seq),
    reason,
    c.num(o, K.time),
    c.num(o, K.run),
    regsBytes,
    sregsBytes ? sregsFromBytes(sregsBytes) : prevSregs,
    sregsBytes !== undefined,
    offset,
  );
  if (o[K.io] !== undefined) {
    const io = c.obj(o[K.io], K.io);
    const size = c.num(io, 'z');
    const count = c.num(io, 'c');
    const data = c.bin(io, 'v');
    if (![1, 2, 4].includes(size)) c.fail(`IO size must be 1, 2 or 4, got ${size}`);
    if (data.length !== size * count) c.fail(`IO data must be size*count = ${size * count} bytes, got ${data.length}`);
    rec.io = { port: c.num(io, 'p'), size, direction: c.num(io, 'o') ? 'out' : 'in', count, data };
  }
  if (o[K.mmio] !== undefined) {
    const mm = c.obj(o[K.mmio], K.mmio);
    const length = c.num(mm, 'l');
    const data = c.bin(mm, 'v');
    if (data.length !== length) c.fail(`MMIO data must be ${length} bytes, got ${data.length}`);
    rec.mmio = { address: c.num(mm, 'a'), length, write: c.num(mm, 'w') !== 0, data };
  }
  if (o[K.detail] !== undefined) rec.detail = c.obj(o[K.detail], K.detail) as TraceRecord['detail'];
  return rec;
}

/**
 * Register bytes of fast-decoded records live in shared slabs (a typed array over 64 bytes gets
 * its own off-heap buffer, about a microsecond each): 144 bytes per record, 4096 records per
 * slab. A record keeps its slab and offset; `regsBytes` is a view made on first use.
 */
const SLAB_RECORDS = 4096;
let slab = new Uint8Array(0);
let slab32 = new Uint32Array(0);
let slabUsed = 0;

/** The running register state of one trace, and where records snapshot it. */
class RegsState {
  readonly bytes: Uint8Array;
  private readonly words: Uint32Array;

  constructor(initial: Uint8Array) {
    this.bytes = new Uint8Array(REGS_BYTES);
    this.bytes.set(initial);
    this.words = new Uint32Array(this.bytes.buffer);
  }

  /** Copies the current registers into a slab; returns the offset (the slab is `slab`). */
  snapshot(): number {
    if (slabUsed + REGS_BYTES > slab.length) {
      slab = new Uint8Array(REGS_BYTES * SLAB_RECORDS);
      slab32 = new Uint32Array(slab.buffer);
      slabUsed = 0;
    }
    const at = slabUsed;
    const w = this.words;
    for (let i = 0, j = at >> 2; i < REGS_BYTES / 4; i++, j++) slab32[j] = w[i]!;
    slabUsed += REGS_BYTES;
    return at;
  }
}

const REASON_NAMES: string[] = Array.from({ length: 64 }, (_, code) => exitReasonName(code));

/** A decoded record; `regsBytes` and `regs` are made on first use. */
class DecodedRecord implements TraceRecord {
  readonly reasonName: string;
  declare io?: IoPayload;
  declare mmio?: MmioPayload;
  declare detail?: ExitDetail;
  #regsBytes: Uint8Array | undefined;
  #regs: Regs | undefined;
  /** Slab (32-bit view) and byte offset holding the registers, when regsBytes is not made yet. */
  #slab: Uint32Array | undefined;
  #at = 0;

  constructor(
    readonly kind: RecordKind,
    readonly seq: number,
    readonly reason: number,
    readonly timeNs: number,
    readonly runNs: number,
    regsBytes: Uint8Array | undefined,
    readonly sregs: Sregs,
    readonly sregsChanged: boolean,
    readonly offset: number,
  ) {
    this.reasonName = (reason >= 0 && reason < 64 && REASON_NAMES[reason]) || exitReasonName(reason);
    if (regsBytes !== undefined) this.#regsBytes = regsBytes;
    else {
      this.#slab = slab32;
      this.#at = slabUsed - REGS_BYTES;
    }
  }

  get regsBytes(): Uint8Array {
    return (this.#regsBytes ??= new Uint8Array(this.#slab!.buffer, this.#at, REGS_BYTES));
  }

  get regs(): Regs {
    return (this.#regs ??= regsFromBytes(this.regsBytes));
  }

  /** Same registers as `other` (compares the slabs directly when both are there). */
  sameRegs(other: DecodedRecord): boolean {
    const x = this.#slab;
    const y = other.#slab;
    if (x === undefined || y === undefined || this.#regsBytes !== undefined || other.#regsBytes !== undefined) {
      return Buffer.compare(this.regsBytes, other.regsBytes) === 0;
    }
    let i = this.#at >> 2;
    let j = other.#at >> 2;
    for (const end = i + REGS_BYTES / 4; i < end; i++, j++) if (x[i] !== y[j]) return false;
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

// ---- fast path: records decoded straight from the bytes -----------------------------------------
// fastRecord reads the exact layout TraceWriter produces in one straight pass; other key orders
// and number encodings go to fastRecordAnyOrder. Both accept only what decodeRecord accepts
// and build the same values. On anything else (a detail map, extension types, a value
// decodeRecord would reject, a record cut by the end of the buffer) they return undefined and
// the record goes through msgpackr and decodeRecord, which also word the errors.

/** Position in the buffer: where the record just decoded ends. */
let fp = 0;
let fBinAt = 0;

let fInt64 = false;

/** A msgpack number at fp (as msgpackr decodes it), or NaN for anything else. */
function fNum(b: Buffer): number {
  const t = b[fp]!;
  if (t < 0x80) {
    fp++;
    return t;
  }
  if (t === 0xce) {
    fp += 5;
    return ((b[fp - 4]! << 24) >>> 0) + ((b[fp - 3]! << 16) | (b[fp - 2]! << 8) | b[fp - 1]!);
  }
  if (t === 0xcd) {
    fp += 3;
    return (b[fp - 2]! << 8) | b[fp - 1]!;
  }
  if (t === 0xcc) {
    fp += 2;
    return b[fp - 1]!;
  }
  return fNumRare(b, t);
}

function fNumRare(b: Buffer, t: number): number {
  if (t >= 0xe0) {
    fp++;
    return t - 0x100;
  }
  let v: number;
  switch (t) {
    case 0xd0:
      v = b.readInt8(fp + 1);
      fp += 2;
      return v;
    case 0xd1:
      v = b.readInt16BE(fp + 1);
      fp += 3;
      return v;
    case 0xd2:
      v = b.readInt32BE(fp + 1);
      fp += 5;
      return v;
    case 0xcb:
      v = b.readDoubleBE(fp + 1);
      fp += 9;
      return v;
    case 0xcf:
      if (!fInt64) return NaN; // msgpackr yields a bigint, which decodeRecord rejects
      v = b.readUInt32BE(fp + 1) * 0x100000000 + b.readUInt32BE(fp + 5);
      fp += 9;
      return v;
    case 0xd3:
      if (!fInt64) return NaN;
      v = b.readInt32BE(fp + 1) * 0x100000000 + b.readUInt32BE(fp + 5);
      fp += 9;
      return v;
    default:
      return NaN; // float 32 (msgpackr may round it), nil, strings, …
  }
}

/** Payload bytes, copied out of the read buffer (small ones byte by byte: cheaper than a call). */
function bytesAt(b: Buffer, at: number, n: number): Uint8Array {
  if (n > 64) return Uint8Array.prototype.slice.call(b, at, at + n);
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = b[at + i]!;
  return out;
}

/** Length of a msgpack bin at fp (its bytes start at fBinAt), or -1. */
function fBin(b: Buffer): number {
  const t = b[fp]!;
  let n: number;
  if (t === 0xc4) {
    n = b[fp + 1]!;
    fBinAt = fp + 2;
  } else if (t === 0xc5) {
    n = (b[fp + 1]! << 8) | b[fp + 2]!;
    fBinAt = fp + 3;
  } else if (t === 0xc6) {
    n = b.readUInt32BE(fp + 1);
    fBinAt = fp + 5;
  } else return -1;
  fp = fBinAt + n;
  return n;
}

function fIo(b: Buffer, end: number): IoPayload | undefined {
  const t = b[fp]!;
  if (t < 0x80 || t > 0x8f) return undefined;
  const n = t & 0x0f;
  fp++;
  let port = NaN;
  let size = NaN;
  let out = NaN;
  let count = NaN;
  let dataAt = -1;
  let dataLen = -1;
  for (let i = 0; i < n; i++) {
    if (b[fp] !== 0xa1) return undefined;
    const k = b[fp + 1];
    fp += 2;
    switch (k) {
      case 0x70: // p
        port = fNum(b);
        if (port !== port) return undefined;
        break;
      case 0x7a: // z
        size = fNum(b);
        if (size !== size) return undefined;
        break;
      case 0x6f: // o
        out = fNum(b);
        if (out !== out) return undefined;
        break;
      case 0x63: // c
        count = fNum(b);
        if (count !== count) return undefined;
        break;
      case 0x76: // v
        dataLen = fBin(b);
        if (dataLen < 0) return undefined;
        dataAt = fBinAt;
        break;
      default:
        return undefined;
    }
    if (!(fp <= end)) return undefined;
  }
  if (!Number.isFinite(port) || !Number.isFinite(out) || !Number.isFinite(count) || dataAt < 0) return undefined;
  if ((size !== 1 && size !== 2 && size !== 4) || dataLen !== size * count) return undefined;
  return { port, size, direction: out ? 'out' : 'in', count, data: bytesAt(b, dataAt, dataLen) };
}

function fMmio(b: Buffer, end: number): MmioPayload | undefined {
  const t = b[fp]!;
  if (t < 0x80 || t > 0x8f) return undefined;
  const n = t & 0x0f;
  fp++;
  let address = NaN;
  let length = NaN;
  let write = NaN;
  let dataAt = -1;
  let dataLen = -1;
  for (let i = 0; i < n; i++) {
    if (b[fp] !== 0xa1) return undefined;
    const k = b[fp + 1];
    fp += 2;
    switch (k) {
      case 0x61: // a
        address = fNum(b);
        if (address !== address) return undefined;
        break;
      case 0x6c: // l
        length = fNum(b);
        if (length !== length) return undefined;
        break;
      case 0x77: // w
        write = fNum(b);
        if (write !== write) return undefined;
        break;
      case 0x76: // v
        dataLen = fBin(b);
        if (dataLen < 0) return undefined;
        dataAt = fBinAt;
        break;
      default:
        return undefined;
    }
    if (!(fp <= end)) return undefined;
  }
  if (!Number.isFinite(address) || !Number.isFinite(length) || !Number.isFinite(write) || dataAt < 0 || dataLen !== length) return undefined;
  return { address, length, write: write !== 0, data: bytesAt(b, dataAt, dataLen) };
}

/** Bytes of an unsigned msgpack integer starting with byte t (0: not one). */
function uLen(t: number): number {
  return t < 0x80 ? 1 : t === 0xcc ? 2 : t === 0xcd ? 3 : t === 0xce ? 5 : t === 0xcf ? 9 : 0;
}

/** The unsigned msgpack integer at p (its first byte is t, uLen(t) > 0). */
function uVal(b: Buffer, p: number, t: number): number {
  if (t < 0x80) return t;
  if (t === 0xcc) return b[p + 1]!;
  if (t === 0xcd) return (b[p + 1]! << 8) | b[p + 2]!;
  if (t === 0xce) return b[p + 1]! * 0x1000000 + ((b[p + 2]! << 16) | (b[p + 3]! << 8) | b[p + 4]!);
  return (b[p + 1]! * 0x1000000 + ((b[p + 2]! << 16) | (b[p + 3]! << 8) | b[p + 4]!)) * 0x100000000 +
    (b[p + 5]! * 0x1000000 + ((b[p + 6]! << 16) | (b[p + 7]! << 8) | b[p + 8]!));
}

/**
 * The record in exactly the layout TraceWriter produces (keys in its order, unsigned integers,
 * bin 8 payloads), decoded in one straight pass; anything else goes to fastRecordAnyOrder.
 */
function fastRecord(
  b: Buffer,
  start: number,
  end: number,
  offset: number,
  cur: RegsState,
  prevSregs: Sregs,
  int64: boolean,
): DecodedRecord | undefined {
  const head = b[start]!;
  // fixmap: k n r t d g + optional gm, s, io, mm
  if (head < 0x86 || head > 0x8a || start + 40 > end) return fastRecordAnyOrder(b, start, end, offset, cur, prevSregs, int64);
  let fields = head & 0x0f;
  let p = start + 1;
  let t: number;
  let n: number;
  // k
  if (b[p] !== 0xa1 || b[p + 1] !== 0x6b || b[p + 2] !== 0xa1) return fastRecordAnyOrder(b, start, end, offset, cur, prevSregs, int64);
  const kc = b[p + 3];
  const kind: RecordKind | undefined = kc === 0x78 ? 'exit' : kc === 0x73 ? 'step' : undefined;
  if (kind === undefined) return fastRecordAnyOrder(b, start, end, offset, cur, prevSregs, int64);
  p += 4;
  // n r t d
  if (b[p] !== 0xa1 || b[p + 1] !== 0x6e || (n = uLen((t = b[p + 2]!))) === 0 || (n === 9 && !int64)) return fastRecordAnyOrder(b, start, end, offset, cur, prevSregs, int64);
  const seq = uVal(b, p + 2, t);
  p += 2 + n;
  if (b[p] !== 0xa1 || b[p + 1] !== 0x72 || (n = uLen((t = b[p + 2]!))) === 0 || (n === 9 && !int64)) return fastRecordAnyOrder(b, start, end, offset, cur, prevSregs, int64);
  const reason = uVal(b, p + 2, t);
  p += 2 + n;
  if (b[p] !== 0xa1 || b[p + 1] !== 0x74 || (n = uLen((t = b[p + 2]!))) === 0 || (n === 9 && !int64)) return fastRecordAnyOrder(b, start, end, offset, cur, prevSregs, int64);
  const timeNs = uVal(b, p + 2, t);
  p += 2 + n;
  if (b[p] !== 0xa1 || b[p + 1] !== 0x64 || (n = uLen((t = b[p + 2]!))) === 0 || (n === 9 && !int64)) return fastRecordAnyOrder(b, start, end, offset, cur, prevSregs, int64);
  const runNs = uVal(b, p + 2, t);
  p += 2 + n;
  fields -= 5;
  // gm + g (changed registers) or g (all of them)
  const state = cur.bytes;
  if (b[p] === 0xa2 && b[p + 1] === 0x67 && b[p + 2] === 0x6d) {
    t = b[p + 3]!;
    n = uLen(t);
    if (n === 0 || n > 5) return fastRecordAnyOrder(b, start, end, offset, cur, prevSregs, int64);
    const mask = uVal(b, p + 3, t);
    p += 3 + n;
    if (mask >= 1 << (REGS_BYTES / 8) || b[p] !== 0xa1 || b[p + 1] !== 0x67 || b[p + 2] !== 0xc4) return fastRecordAnyOrder(b, start, end, offset, cur, prevSregs, int64);
    let bits = 0;
    for (let m = mask; m; m &= m - 1) bits++;
    if (b[p + 3] !== bits * 8 || p + 4 + bits * 8 > end || fields < 2) return fastRecordAnyOrder(b, start, end, offset, cur, prevSregs, int64);
    // Validation of the rest must not fail after the state is patched: check it first.
    const after = p + 4 + bits * 8;
    if (!fastTail(b, after, end, fields - 2)) return fastRecordAnyOrder(b, start, end, offset, cur, prevSregs, int64);
    let at = p + 4;
    for (let m = mask, o = 0; m; m >>>= 1, o += 8) {
      if (!(m & 1)) continue;
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
    return finishFast(b, kind, seq, reason, timeNs, runNs, cur, prevSregs, offset);
  }
  return fastRecordAnyOrder(b, start, end, offset, cur, prevSregs, int64);
}

/** What fastTail found after the registers (module state: no object per record). */
let tailEnd = 0;
let tailSregsAt = -1;
let tailIo: IoPayload | undefined;
let tailMmio: MmioPayload | undefined;

/** Optional s, io, mm in the writer's order and layout, exactly `fields` of them; false otherwise. */
function fastTail(b: Buffer, p: number, end: number, fields: number): boolean {
  let sregsAt = -1;
  let io: IoPayload | undefined;
  let mmio: MmioPayload | undefined;
  if (fields > 0 && b[p] === 0xa1 && b[p + 1] === 0x73) {
    if (b[p + 2] !== 0xc5 || b[p + 3] !== SREGS_BYTES >> 8 || b[p + 4] !== (SREGS_BYTES & 0xff) || p + 5 + SREGS_BYTES > end) return false;
    sregsAt = p + 5;
    p += 5 + SREGS_BYTES;
    fields--;
  }
  if (fields > 0 && b[p] === 0xa2 && b[p + 1] === 0x69 && b[p + 2] === 0x6f) {
    // io: 85 a1 'p' u a1 'z' u a1 'o' u a1 'c' u a1 'v' c4 len
    if (b[p + 3] !== 0x85 || b[p + 4] !== 0xa1 || b[p + 5] !== 0x70) return false;
    p += 6;
    let t = b[p]!;
    let n = uLen(t);
    if (n === 0 || n > 5) return false;
    const port = uVal(b, p, t);
    p += n;
    if (b[p] !== 0xa1 || b[p + 1] !== 0x7a) return false;
    const size = b[p + 2]!;
    if ((size !== 1 && size !== 2 && size !== 4) || b[p + 3] !== 0xa1 || b[p + 4] !== 0x6f) return false;
    const out = b[p + 5]!;
    if (out > 0x7f || b[p + 6] !== 0xa1 || b[p + 7] !== 0x63) return false;
    p += 8;
    t = b[p]!;
    n = uLen(t);
    if (n === 0 || n > 5) return false;
    const count = uVal(b, p, t);
    p += n;
    if (b[p] !== 0xa1 || b[p + 1] !== 0x76 || b[p + 2] !== 0xc4) return false;
    const len = b[p + 3]!;
    if (len !== size * count || p + 4 + len > end) return false;
    io = { port, size, direction: out ? 'out' : 'in', count, data: bytesAt(b, p + 4, len) };
    p += 4 + len;
    fields--;
  }
  if (fields > 0 && b[p] === 0xa2 && b[p + 1] === 0x6d && b[p + 2] === 0x6d) {
    // mm: 84 a1 'a' u a1 'l' u a1 'w' u a1 'v' c4 len
    if (b[p + 3] !== 0x84 || b[p + 4] !== 0xa1 || b[p + 5] !== 0x61) return false;
    p += 6;
    let t = b[p]!;
    let n = uLen(t);
    if (n === 0 || n > 5) return false;
    const address = uVal(b, p, t);
    p += n;
    if (b[p] !== 0xa1 || b[p + 1] !== 0x6c) return false;
    t = b[p + 2]!;
    n = uLen(t);
    if (n === 0 || n > 5) return false;
    const length = uVal(b, p + 2, t);
    p += 2 + n;
    if (b[p] !== 0xa1 || b[p + 1] !== 0x77) return false;
    const write = b[p + 2]!;
    if (write > 0x7f || b[p + 3] !== 0xa1 || b[p + 4] !== 0x76 || b[p + 5] !== 0xc4) return false;
    const len = b[p + 6]!;
    if (len !== length || p + 7 + len > end) return false;
    mmio = { address, length, write: write !== 0, data: bytesAt(b, p + 7, len) };
    p += 7 + len;
    fields--;
  }
  if (fields !== 0 || p > end) return false;
  tailEnd = p;
  tailSregsAt = sregsAt;
  tailIo = io;
  tailMmio = mmio;
  return true;
}

function finishFast(
  b: Buffer,
  kind: RecordKind,
  seq: number,
  reason: number,
  timeNs: number,
  runNs: number,
  cur: RegsState,
  prevSregs: Sregs,
  offset: number,
): DecodedRecord {
  cur.snapshot();
  const s = tailSregsAt;
  const rec = new DecodedRecord(
    kind,
    seq,
    reason,
    timeNs,
    runNs,
    undefined,
    s >= 0 ? sregsFromBytes(b.subarray(s, s + SREGS_BYTES)) : prevSregs,
    s >= 0,
    offset,
  );
  if (tailIo !== undefined) rec.io = tailIo;
  if (tailMmio !== undefined) rec.mmio = tailMmio;
  fp = tailEnd;
  return rec;
}

/** Records in any key order and any number encoding (still no detail, no extension types). */
function fastRecordAnyOrder(
  b: Buffer,
  start: number,
  end: number,
  offset: number,
  cur: RegsState,
  prevSregs: Sregs,
  int64: boolean,
): DecodedRecord | undefined {
  fp = start;
  fInt64 = int64;
  const t = b[fp]!;
  let n: number;
  if (t >= 0x80 && t <= 0x8f) {
    n = t & 0x0f;
    fp++;
  } else if (t === 0xde) {
    n = (b[fp + 1]! << 8) | b[fp + 2]!;
    fp += 3;
  } else return undefined;
  let kind: RecordKind | undefined;
  let seq = NaN;
  let reason = NaN;
  let timeNs = NaN;
  let runNs = NaN;
  let hasMask = false;
  let mask = NaN;
  let regsAt = -1;
  let regsLen = -1;
  let sregsAt = -1;
  let io: IoPayload | undefined;
  let mmio: MmioPayload | undefined;
  for (let i = 0; i < n; i++) {
    const kb = b[fp];
    if (kb === 0xa1) {
      const k = b[fp + 1];
      fp += 2;
      switch (k) {
        case 0x6b: {
          // k: fixstr 'x' or 's' ('end' is the footer: generic path)
          if (b[fp] !== 0xa1) return undefined;
          const code = b[fp + 1];
          if (code === 0x78) kind = 'exit';
          else if (code === 0x73) kind = 'step';
          else return undefined;
          fp += 2;
          break;
        }
        case 0x6e: // n
          seq = fNum(b);
          if (seq !== seq) return undefined;
          break;
        case 0x72: // r
          reason = fNum(b);
          if (reason !== reason) return undefined;
          break;
        case 0x74: // t
          timeNs = fNum(b);
          if (timeNs !== timeNs) return undefined;
          break;
        case 0x64: // d
          runNs = fNum(b);
          if (runNs !== runNs) return undefined;
          break;
        case 0x67: // g
          regsLen = fBin(b);
          if (regsLen < 0) return undefined;
          regsAt = fBinAt;
          break;
        case 0x73: // s
          if (fBin(b) !== SREGS_BYTES) return undefined;
          sregsAt = fBinAt;
          break;
        default:
          return undefined; // x (detail) and unknown keys
      }
    } else if (kb === 0xa2) {
      const k1 = b[fp + 1];
      const k2 = b[fp + 2];
      fp += 3;
      if (k1 === 0x69 && k2 === 0x6f) {
        io = fIo(b, end);
        if (io === undefined) return undefined;
      } else if (k1 === 0x6d && k2 === 0x6d) {
        mmio = fMmio(b, end);
        if (mmio === undefined) return undefined;
      } else if (k1 === 0x67 && k2 === 0x6d && K.regsMask === 'gm') {
        hasMask = true;
        mask = fNum(b);
        if (mask !== mask) return undefined;
      } else return undefined;
    } else return undefined;
    if (!(fp <= end)) return undefined;
  }
  // fp is now the end of the record (the caller continues there).
  if (!(fp <= end) || kind === undefined || regsAt < 0) return undefined;
  if (!Number.isFinite(seq) || !Number.isFinite(reason) || !Number.isFinite(timeNs) || !Number.isFinite(runNs)) return undefined;
  const state = cur.bytes;
  if (hasMask) {
    if (!Number.isInteger(mask) || mask < 0 || mask >= 1 << (REGS_BYTES / 8)) return undefined;
    let bits = 0;
    for (let m = mask; m; m &= m - 1) bits++;
    if (regsLen !== bits * 8) return undefined;
    let at = regsAt;
    for (let m = mask, o = 0; m; m >>>= 1, o += 8) {
      if (!(m & 1)) continue;
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
  } else {
    if (regsLen !== REGS_BYTES) return undefined;
    for (let i = 0; i < REGS_BYTES; i++) state[i] = b[regsAt + i]!;
  }
  cur.snapshot();
  const rec = new DecodedRecord(
    kind,
    seq,
    reason,
    timeNs,
    runNs,
    undefined,
    sregsAt >= 0 ? sregsFromBytes(b.subarray(sregsAt, sregsAt + SREGS_BYTES)) : prevSregs,
    sregsAt >= 0,
    offset,
  );
  if (io !== undefined) rec.io = io;
  if (mmio !== undefined) rec.mmio = mmio;
  return rec;
}

function decodeFooter(o: Obj, c: Check, offset: number): TraceFooter {
  const footer: TraceFooter = {
    endReason: c.str(o, 'why') as EndReason,
    message: c.str(o, 'msg'),
    exits: c.num(o, 'exits'),
    records: c.num(o, 'records'),
    regs: regsFromBytes(c.bin(o, K.regs, REGS_BYTES)),
    sregs: sregsFromBytes(c.bin(o, K.sregs, SREGS_BYTES)),
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
    for await (const r of t.records()) records.push(r);
    return { header: t.header, records, footer: t.footer, truncated: t.truncated, truncatedAt: t.truncatedAt };
  } finally {
    await t.close();
  }
}
