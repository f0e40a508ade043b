// Format 3 chunks (docs/trace-format.md, "Records (3.0)"): the records of one frame as ten
// columns, each a byte string, so that like values sit together and compress well: the frame's
// payload is the columns as one msgpack array of bins, deflate-raw compressed. Sequence numbers
// are implied by position (the frame's `first` plus the index), timestamps are stored as the
// host time between two exits that KVM_RUN did not account for, and registers as the 64-bit
// difference from the previous record's value, for the registers that changed.
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { Packr, Unpackr } from 'msgpackr';

import type { RegisterLayout } from '../arch/index.js';
import type { ExitDetail } from './format.js';
import type { TraceScanner } from './reader.js';
import type { RecordInput } from './writer.js';

/** Column order in a chunk. */
const FLAGS = 0;
const REASONS = 1;
const TIMES = 2;
const RUNS = 3;
const MASKS = 4;
const REGS = 5;
const SREGS = 6;
const IO = 7;
const MMIO = 8;
const DETAILS = 9;
const COLUMNS = 10;
const COLUMN_NAMES = ['flags', 'reasons', 'times', 'runs', 'masks', 'regs', 'sregs', 'io', 'mmio', 'details'];

/** Bits of a record's flags byte. */
const F_STEP = 1;
const F_SREGS = 2;
const F_IO = 4;
const F_MMIO = 8;
const F_DETAIL = 16;
const F_ALL = 31;

/** zlib's default level; level 1 makes count.bin's chunks 4% larger. */
const DEFLATE_LEVEL = 6;
const TWO32 = 0x100000000;

/** A growable byte string with LEB128 varints. */
class Column {
  buf = new Uint8Array(4096);
  used = 0;

  reserve(n: number): void {
    if (this.used + n <= this.buf.length) return;
    const bigger = new Uint8Array(Math.max(2 * this.buf.length, this.used + n));
    bigger.set(this.buf.subarray(0, this.used));
    this.buf = bigger;
  }

  byte(v: number): void {
    this.reserve(1);
    this.buf[this.used++] = v;
  }

  /** An unsigned integer up to 2^53, 7 bits per byte, low bits first. */
  uint(v: number): void {
    this.reserve(8);
    const b = this.buf;
    let u = this.used;
    while (v >= 0x80) {
      b[u++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    b[u++] = v;
    this.used = u;
  }

  bytes(src: Uint8Array): void {
    this.reserve(src.length);
    this.buf.set(src, this.used);
    this.used += src.length;
  }
}

/** Collects records into columns; take() hands out a frame's payload and starts the next chunk. */
export class ChunkEncoder {
  private readonly cols = Array.from({ length: COLUMNS }, () => new Column());
  /** Registers of the previous record, as u32 words (the header's boot registers at first). */
  private readonly prev: Uint32Array;
  private readonly words: number;
  private readonly sregsBytes: number;
  private regsSource: Uint8Array | undefined;
  private regsView: Uint32Array = new Uint32Array(0);
  /** Time of the previous record's exit, 0 at the start of each chunk (a chunk is read on its own). */
  private prevTime = 0;
  count = 0;

  constructor(
    bootRegs: Uint8Array,
    private readonly timestamps: boolean,
    layout: RegisterLayout,
  ) {
    this.words = layout.regsBytes / 4;
    this.sregsBytes = layout.sregsBytes;
    this.prev = new Uint32Array(Uint8Array.from(bootRegs).buffer);
  }

  /** Bytes the chunk holds, before compression. */
  get bytes(): number {
    let n = 0;
    for (const c of this.cols) n += c.used;
    return n;
  }

  add(r: RecordInput): void {
    // (2.0 readers took any number: a copied trace may hold what a varint cannot.)
    if (!isUint(r.reason) || !isUint(r.timeNs) || !isUint(r.runNs)) {
      throw new RangeError(`record ${this.count} of the chunk: reason, timeNs and runNs must be integers from 0 to 2^53, got ${r.reason}, ${r.timeNs}, ${r.runNs}`);
    }
    const c = this.cols;
    const flags = (r.kind === 'step' ? F_STEP : 0) | (r.sregsBytes ? F_SREGS : 0) | (r.io ? F_IO : 0) | (r.mmio ? F_MMIO : 0) | (r.detail ? F_DETAIL : 0);
    c[FLAGS]!.byte(flags);
    c[REASONS]!.uint(r.reason);
    if (this.timestamps) {
      // The exit's time minus the previous exit's and the time inside KVM_RUN: the VMM's share,
      // a few µs, where the exit times themselves differ by all of it.
      const gap = r.timeNs - this.prevTime - r.runNs;
      c[TIMES]!.uint(gap >= 0 ? 2 * gap : -2 * gap - 1);
      c[RUNS]!.uint(r.runNs);
      this.prevTime = r.timeNs;
    }
    if (r.regsBytes.length !== this.words * 4) throw new Error(`trace writer: registers must be ${this.words * 4} bytes, got ${r.regsBytes.length}`);
    if (r.sregsBytes && r.sregsBytes.length !== this.sregsBytes) throw new Error(`trace writer: system registers must be ${this.sregsBytes} bytes, got ${r.sregsBytes.length}`);
    c[MASKS]!.uint(this.addRegs(r.regsBytes));
    if (r.sregsBytes) c[SREGS]!.bytes(r.sregsBytes);
    // the reader takes the data lengths from size*count and length: a mismatch would misread the rest
    if (r.io && r.io.data.length !== r.io.size * r.io.count) throw new Error(`trace writer: IO data must be size*count = ${r.io.size * r.io.count} bytes, got ${r.io.data.length}`);
    if (r.mmio && r.mmio.data.length !== r.mmio.length) throw new Error(`trace writer: MMIO data must be length = ${r.mmio.length} bytes, got ${r.mmio.data.length}`);
    if (r.io) {
      const io = c[IO]!;
      io.uint(r.io.port);
      io.uint(r.io.size);
      io.byte(r.io.out ? 1 : 0);
      io.uint(r.io.count);
      io.bytes(r.io.data);
    }
    if (r.mmio) {
      const mm = c[MMIO]!;
      mm.uint(r.mmio.address);
      mm.uint(r.mmio.length);
      mm.byte(r.mmio.write ? 1 : 0);
      mm.bytes(r.mmio.data);
    }
    if (r.detail) c[DETAILS]!.bytes(packDetail(r.detail));
    this.count++;
  }

  /**
   * Writes the changed registers' differences (value − previous, mod 2^64, little-endian);
   * returns their mask (bit i: register i; past 32 registers the mask is built arithmetically).
   */
  private addRegs(bytes: Uint8Array): number {
    const words = this.words;
    if (bytes !== this.regsSource || bytes.byteOffset % 4 !== 0) {
      this.regsSource = bytes;
      const aligned = bytes.byteOffset % 4 === 0 ? bytes : bytes.slice();
      this.regsView = new Uint32Array(aligned.buffer, aligned.byteOffset, words);
    }
    const cur = this.regsView;
    const prev = this.prev;
    const col = this.cols[REGS]!;
    col.reserve(words * 4);
    const b = col.buf;
    let u = col.used;
    let mask = 0;
    let high = 0;
    for (let i = 0; i < words; i += 2) {
      const lo = cur[i]!;
      const hi = cur[i + 1]!;
      const plo = prev[i]!;
      const phi = prev[i + 1]!;
      if (lo === plo && hi === phi) continue;
      if (i < 64) mask |= 1 << (i >> 1);
      else high += 2 ** ((i >> 1) - 32);
      const dlo = (lo - plo) >>> 0;
      const dhi = (hi - phi - (lo < plo ? 1 : 0)) >>> 0;
      b[u] = dlo & 0xff;
      b[u + 1] = (dlo >>> 8) & 0xff;
      b[u + 2] = (dlo >>> 16) & 0xff;
      b[u + 3] = dlo >>> 24;
      b[u + 4] = dhi & 0xff;
      b[u + 5] = (dhi >>> 8) & 0xff;
      b[u + 6] = (dhi >>> 16) & 0xff;
      b[u + 7] = dhi >>> 24;
      u += 8;
      prev[i] = lo;
      prev[i + 1] = hi;
    }
    col.used = u;
    return (mask >>> 0) + high * TWO32;
  }

  /** The chunk as a frame payload (compressed); the encoder then starts an empty chunk. */
  take(): Uint8Array {
    const parts: Uint8Array[] = [Uint8Array.of(0x90 | COLUMNS)];
    for (const c of this.cols) {
      parts.push(binHeader(c.used), c.buf.subarray(0, c.used));
      c.used = 0;
    }
    this.count = 0;
    this.prevTime = 0;
    return deflateRawSync(Buffer.concat(parts), { level: DEFLATE_LEVEL });
  }
}

function isUint(v: number): boolean {
  return Number.isSafeInteger(v) && v >= 0;
}

function binHeader(n: number): Uint8Array {
  if (n < 0x100) return Uint8Array.of(0xc4, n);
  if (n < 0x10000) return Uint8Array.of(0xc5, n >>> 8, n & 0xff);
  return Uint8Array.of(0xc6, n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
}

const detailPackr = new Packr({ useRecords: false, variableMapSize: true });

function packDetail(d: ExitDetail): Uint8Array {
  return detailPackr.pack(d);
}

// ---- reading ------------------------------------------------------------------------------------

/** Why a chunk cannot be read (the reader adds the file and the frame's offset). */
export class ChunkProblem extends Error {}

const detailUnpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' });

/** End of the varint that varint() read last (module state: no object per value). */
let vEnd = 0;

/** The LEB128 varint at b[p] (at most 8 bytes: values up to 2^56), or -1 when it runs past `end`. */
function varint(b: Buffer, p: number, end: number): number {
  // up to 3 bytes (times, run times, ports) in int32 arithmetic, the rest in doubles
  if (p + 3 <= end) {
    const x0 = b[p]!;
    if (x0 < 0x80) {
      vEnd = p + 1;
      return x0;
    }
    const x1 = b[p + 1]!;
    if (x1 < 0x80) {
      vEnd = p + 2;
      return (x0 & 0x7f) | (x1 << 7);
    }
    const x2 = b[p + 2]!;
    if (x2 < 0x80) {
      vEnd = p + 3;
      return (x0 & 0x7f) | ((x1 & 0x7f) << 7) | (x2 << 14);
    }
  }
  let v = 0;
  let scale = 1;
  for (let i = 0; i < 8 && p < end; i++) {
    const x = b[p++]!;
    v += (x & 0x7f) * scale;
    if (x < 0x80) {
      vEnd = p;
      return v;
    }
    scale *= 0x80;
  }
  return -1;
}

/** varint() for values that mostly fit one byte (reasons, masks): that byte without a call. */
function small(b: Buffer, p: number, end: number): number {
  const x = b[p]!;
  if (x < 0x80 && p < end) {
    vEnd = p + 1;
    return x;
  }
  return varint(b, p, end);
}

/**
 * One decompressed chunk, read record by record into a TraceScanner. Columns are views into
 * the inflated payload (a Buffer, as every payload a scanner points at).
 */
export class ChunkReader {
  private readonly data: Buffer;
  /** Column starts and ends in `data`, and each column's read position. */
  private readonly start = new Int32Array(COLUMNS);
  private readonly end = new Int32Array(COLUMNS);
  private readonly at = new Int32Array(COLUMNS);
  private readonly timed: boolean;
  private readonly layout: RegisterLayout;
  /** Register masks name at most this many registers: 2 ** (registers of the layout). */
  private readonly maskLimit: number;
  private prevTime = 0;
  /** Records handed out so far, and the chunk's count. */
  done = 0;
  readonly count: number;

  /** `payload`: the frame's (compressed) payload; `count`: the records its head announces. */
  constructor(payload: Uint8Array, count: number, maxBytes: number, layout: RegisterLayout) {
    this.layout = layout;
    this.maskLimit = 2 ** (layout.regsBytes / 8);
    let data: Buffer;
    try {
      // Output in 256 KiB pieces rather than zlib's 16 KiB: half the time on a 1 MiB chunk.
      // (Pieces sized to a 30 KiB chunk saved little, and replay's RSS grew by their sum: the GC
      // paces itself by external memory allocated, and 256 KiB per chunk makes it collect soon.)
      data = inflateRawSync(payload, { maxOutputLength: maxBytes, chunkSize: 256 << 10 });
    } catch (e) {
      throw new ChunkProblem(`the records do not decompress (${(e as Error).message})`);
    }
    this.data = data;
    this.count = count;
    const n = data[0]! & 0x0f;
    if ((data[0]! & 0xf0) !== 0x90 || n < COLUMNS) throw new ChunkProblem(`the chunk must be an array of at least ${COLUMNS} columns`);
    let p = 1;
    for (let i = 0; i < n; i++) {
      const t = data[p];
      const head = t === 0xc4 ? 2 : t === 0xc5 ? 3 : t === 0xc6 ? 5 : 0;
      if (head === 0) throw new ChunkProblem(`column ${i} is not binary`);
      if (p + head > data.length) throw new ChunkProblem(`column ${i} runs past the end of the chunk`);
      const len = t === 0xc4 ? data[p + 1]! : t === 0xc5 ? data.readUInt16BE(p + 1) : data.readUInt32BE(p + 1);
      p += head;
      if (p + len > data.length) throw new ChunkProblem(`column ${i} runs past the end of the chunk`);
      if (i < COLUMNS) {
        this.start[i] = this.at[i] = p;
        this.end[i] = p + len;
      }
      p += len;
    }
    if (p !== data.length) throw new ChunkProblem('bytes after the last column');
    if (this.end[FLAGS]! - this.start[FLAGS]! !== count) {
      throw new ChunkProblem(`it holds ${this.end[FLAGS]! - this.start[FLAGS]!} records, its head says ${count}`);
    }
    const times = this.end[TIMES]! - this.start[TIMES]!;
    const runs = this.end[RUNS]! - this.start[RUNS]!;
    if ((times === 0) !== (runs === 0)) throw new ChunkProblem('it has times without run times, or run times without times');
    this.timed = times > 0;
  }

  /**
   * Decodes the next record into the scanner (all but its sequence number, which the caller
   * knows); false when the chunk is used up. Throws ChunkProblem for a column that runs out.
   */
  next(s: TraceScanner): boolean {
    if (this.done === this.count) return false;
    const b = this.data;
    const at = this.at;
    const end = this.end;
    const flags = b[at[FLAGS]++]!;
    if (flags & ~F_ALL) this.fail(`unknown record flags 0x${flags.toString(16)}`);
    const reason = small(b, at[REASONS]!, end[REASONS]!);
    if (reason < 0) this.fail('the reasons column ends early');
    at[REASONS] = vEnd;
    s.reason = reason;
    if (this.timed) this.times(s);
    const mask = small(b, at[MASKS]!, end[MASKS]!);
    if (mask < 0 || mask >= this.maskLimit) {
      this.fail(mask < 0 ? 'the masks column ends early' : `register mask 0x${mask.toString(16)} names more than ${this.layout.regsBytes / 8} registers`);
    }
    at[MASKS] = vEnd;
    const w = s.regsWords;
    // registers 0-31, then (aarch64) those above: the mask's bits past 32, as a second word
    let r = this.addRegs(w, b, at[REGS]!, (mask < TWO32 ? mask : mask % TWO32) | 0, 0); // (`%` on doubles is a call)
    if (mask >= TWO32) r = this.addRegs(w, b, r, Math.floor(mask / TWO32), 64);
    at[REGS] = r;
    s.regsMask = mask;
    s.kind = flags & F_STEP ? 'step' : 'exit';
    s.sregsChanged = (flags & F_SREGS) !== 0;
    if (flags & F_SREGS) {
      const p = at[SREGS]!;
      const n = this.layout.sregsBytes;
      if (p + n > end[SREGS]!) this.fail('the sregs column ends early');
      s.sregs = this.layout.sregs(b.subarray(p, p + n));
      at[SREGS] = p + n;
    }
    s.hasIo = (flags & F_IO) !== 0;
    if (flags & F_IO) this.io(s);
    s.hasMmio = (flags & F_MMIO) !== 0;
    if (flags & F_MMIO) this.mmio(s);
    s.detail = flags & F_DETAIL ? this.detail() : undefined;
    this.done++;
    return true;
  }

  /** The record's host times (timeNs, runNs), from the times and runs columns. */
  private times(s: TraceScanner): void {
    const b = this.data;
    const at = this.at;
    const end = this.end;
    const gap = varint(b, at[TIMES]!, end[TIMES]!);
    if (gap < 0) this.fail('the times column ends early');
    at[TIMES] = vEnd;
    const run = varint(b, at[RUNS]!, end[RUNS]!);
    if (run < 0) this.fail('the runs column ends early');
    at[RUNS] = vEnd;
    // zigzag: even values are gaps ≥ 0, odd ones gaps < 0 (no `%`: on doubles it is a call)
    const half = Math.floor(gap / 2);
    s.timeNs = this.prevTime = this.prevTime + run + (gap === 2 * half ? half : -half - 1);
    s.runNs = run;
  }

  /** Records not handed out yet. */
  get left(): number {
    return this.count - this.done;
  }

  /**
   * Whether the records this chunk has left are the next ones of `other` (from the same
   * registers and sregs), but perhaps for their host times: `other`'s columns go on with the
   * same bytes as this chunk's rest, the times and runs too (and the times from the same base)
   * unless `times` is false. Columns decode alike from alike bytes, so that is the same records.
   * Columns past the ten, which readers ignore, are not compared.
   */
  leadsAlike(other: ChunkReader, times: boolean): boolean {
    if (other.left < this.left || (times && other.prevTime !== this.prevTime)) return false;
    for (let i = 0; i < COLUMNS; i++) {
      if (!times && (i === TIMES || i === RUNS)) continue;
      const n = this.end[i]! - this.at[i]!;
      if (other.end[i]! - other.at[i]! < n || this.data.compare(other.data, other.at[i]!, other.at[i]! + n, this.at[i]!, this.end[i]!) !== 0) return false;
    }
    return true;
  }

  /**
   * Follows `leader` (leadsAlike() this chunk) before it reads its rest: moves past the bytes
   * of those records in the columns nextTimes() does not read.
   */
  passOver(leader: ChunkReader): void {
    for (let i = 0; i < COLUMNS; i++) if (i !== FLAGS && i !== TIMES && i !== RUNS) this.at[i] += leader.end[i]! - leader.at[i]!;
  }

  /**
   * next() of records passOver() moved past: only their kind and host times are decoded (the
   * rest is the leader's); false when the chunk is used up.
   */
  nextTimes(s: TraceScanner): boolean {
    if (this.done === this.count) return false;
    s.kind = this.data[this.at[FLAGS]++]! & F_STEP ? 'step' : 'exit';
    if (this.timed) this.times(s);
    this.done++;
    return true;
  }

  /** Adds the differences of the registers `mask` names (bit i: register first/2 + i) to `w`; returns where they end. */
  private addRegs(w: Uint32Array, b: Buffer, r: number, mask: number, first: number): number {
    const end = this.end[REGS]!;
    for (let m = mask; m !== 0; m &= m - 1) {
      if (r + 8 > end) this.fail('the regs column holds fewer registers than the masks name');
      const i = first + (31 - Math.clz32(m & -m)) * 2; // the lowest register left, as its low word's index
      const sum = w[i]! + ((b[r]! | (b[r + 1]! << 8) | (b[r + 2]! << 16) | (b[r + 3]! << 24)) >>> 0);
      w[i] = sum;
      w[i + 1] = w[i + 1]! + (b[r + 4]! | (b[r + 5]! << 8) | (b[r + 6]! << 16) | (b[r + 7]! << 24)) + (sum >= TWO32 ? 1 : 0);
      r += 8;
    }
    return r;
  }

  private io(s: TraceScanner): void {
    const b = this.data;
    const e = this.end[IO]!;
    const port = varint(b, this.at[IO]!, e);
    const size = port < 0 ? -1 : small(b, vEnd, e);
    const out = size < 0 || vEnd >= e ? -1 : b[vEnd]!;
    const count = out < 0 ? -1 : small(b, vEnd + 1, e);
    if (count < 0) this.fail('the io column ends early');
    if (size !== 1 && size !== 2 && size !== 4) this.fail(`IO size must be 1, 2 or 4, got ${size}`);
    if (out > 1) this.fail(`IO direction must be 0 or 1, got ${out}`);
    const len = size * count;
    if (vEnd + len > e) this.fail('the io column ends inside IO data');
    s.ioPort = port;
    s.ioSize = size;
    s.ioOut = out === 1;
    s.ioCount = count;
    s.ioData = b;
    s.ioAt = vEnd;
    s.ioLen = len;
    this.at[IO] = vEnd + len;
  }

  private mmio(s: TraceScanner): void {
    const b = this.data;
    const e = this.end[MMIO]!;
    const address = varint(b, this.at[MMIO]!, e);
    const length = address < 0 ? -1 : varint(b, vEnd, e);
    const write = length < 0 || vEnd >= e ? -1 : b[vEnd]!;
    if (write < 0) this.fail('the mmio column ends early');
    if (write > 1) this.fail(`MMIO direction must be 0 or 1, got ${write}`);
    const p = vEnd + 1;
    if (p + length > e) this.fail('the mmio column ends inside MMIO data');
    s.mmioAddress = address;
    s.mmioLength = length;
    s.mmioWrite = write === 1;
    s.mmioData = b;
    s.mmioAt = p;
    s.mmioLen = length;
    this.at[MMIO] = p + length;
  }

  private detail(): ExitDetail {
    const p = this.at[DETAILS]!;
    let value: unknown;
    let used = 0;
    try {
      detailUnpackr.unpackMultiple(this.data.subarray(p, this.end[DETAILS]), (v: unknown, _start?: number, end?: number) => {
        value = v;
        used = end ?? 0;
        return false; // the first value only
      });
    } catch (e) {
      this.fail(`an exit detail is not valid msgpack (${(e as Error).message})`);
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value) || used === 0) this.fail('an exit detail must be a map');
    this.at[DETAILS] = p + used;
    return value as ExitDetail;
  }

  /** After the last record: every column must have been read to its end. */
  checkUsedUp(): void {
    for (let i = 0; i < COLUMNS; i++) {
      const left = this.end[i]! - this.at[i]!;
      if (left !== 0) throw new ChunkProblem(`${left} bytes left over in the ${COLUMN_NAMES[i]} column after the last record`);
    }
  }

  private fail(problem: string): never {
    throw new ChunkProblem(`record ${this.done} of the frame: ${problem}`);
  }
}
