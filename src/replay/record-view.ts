// Records as the replay engine compares them: the fields of a TraceScanner (numbers, raw
// register words, payload bytes), copied (payloads: or referenced) into reusable slots, so that
// checking a record makes no object, bigint or string. A TraceRecord is made of a slot only for
// a divergence report.
import { regsFromBytes, REGS_BYTES, type Regs, type Sregs } from '../cpu-state.js';
import { exitReasonName } from '../trace/exit-reasons.js';
import type { ExitDetail, RecordKind, TraceRecord } from '../trace/format.js';
import type { TraceScanner } from '../trace/reader.js';

const NO_BYTES = new Uint8Array(0);

/** One record's fields, in the shape of TraceScanner's (payloads: `data[at, at + len)`). */
export class RecordSlot {
  kind: RecordKind = 'exit';
  seq = 0;
  reason = 0;
  timeNs = 0;
  runNs = 0;
  offset = 0;
  /** The registers after the record (a RecordRing's slots share one array: see there). */
  readonly regsWords: Uint32Array;
  sregs!: Sregs;
  sregsChanged = false;
  hasIo = false;
  ioPort = 0;
  ioSize = 0;
  ioOut = false;
  ioCount = 0;
  ioData: Uint8Array = NO_BYTES;
  ioAt = 0;
  ioLen = 0;
  hasMmio = false;
  mmioAddress = 0;
  mmioLength = 0;
  mmioWrite = false;
  mmioData: Uint8Array = NO_BYTES;
  mmioAt = 0;
  mmioLen = 0;
  detail: ExitDetail | undefined = undefined;
  /** The TraceRecord this slot was loaded from (load()), else undefined. */
  private source: TraceRecord | undefined;
  /** The slot's own payload storage (copyFrom() of a scanner that does not keep payloads), made on first use, grown as needed and reused. */
  private ioBuf: Uint8Array = NO_BYTES;
  private mmioBuf: Uint8Array = NO_BYTES;

  constructor(regsWords = new Uint32Array(REGS_BYTES / 4)) {
    this.regsWords = regsWords;
  }

  /** The scanner's current record (its payloads copied unless the scanner keeps them: payloadsKept). */
  copyFrom(s: TraceScanner): void {
    copyWords(this.regsWords, s.regsWords);
    this.copyFields(s);
  }

  /**
   * copyFrom() but for the registers (RecordRing keeps those). Payloads the scanner keeps are
   * referenced, not copied: comparing a copy made thousands of records earlier showed in
   * profiles (a cache miss), where the chunk was just decompressed.
   */
  copyFields(s: TraceScanner): void {
    const kept = s.payloadsKept;
    this.source = undefined;
    this.kind = s.kind;
    this.seq = s.seq;
    this.reason = s.reason;
    this.timeNs = s.timeNs;
    this.runNs = s.runNs;
    this.offset = s.offset;
    this.sregs = s.sregs;
    this.sregsChanged = s.sregsChanged;
    this.hasIo = s.hasIo;
    if (s.hasIo) {
      this.ioPort = s.ioPort;
      this.ioSize = s.ioSize;
      this.ioOut = s.ioOut;
      this.ioCount = s.ioCount;
      if (kept) {
        this.ioData = s.ioData;
        this.ioAt = s.ioAt;
      } else {
        this.ioData = this.ioBuf = copyInto(this.ioBuf, s.ioData, s.ioAt, s.ioLen);
        this.ioAt = 0;
      }
      this.ioLen = s.ioLen;
    }
    this.hasMmio = s.hasMmio;
    if (s.hasMmio) {
      this.mmioAddress = s.mmioAddress;
      this.mmioLength = s.mmioLength;
      this.mmioWrite = s.mmioWrite;
      if (kept) {
        this.mmioData = s.mmioData;
        this.mmioAt = s.mmioAt;
      } else {
        this.mmioData = this.mmioBuf = copyInto(this.mmioBuf, s.mmioData, s.mmioAt, s.mmioLen);
        this.mmioAt = 0;
      }
      this.mmioLen = s.mmioLen;
    }
    this.detail = s.detail;
  }

  /** A TraceRecord's fields (its payload arrays are referenced, not copied). */
  load(rec: TraceRecord): this {
    this.source = rec;
    this.kind = rec.kind;
    this.seq = rec.seq;
    this.reason = rec.reason;
    this.timeNs = rec.timeNs;
    this.runNs = rec.runNs;
    this.offset = rec.offset;
    new Uint8Array(this.regsWords.buffer).set(rec.regsBytes);
    this.sregs = rec.sregs;
    this.sregsChanged = rec.sregsChanged;
    const io = rec.io;
    this.hasIo = io !== undefined;
    if (io) {
      this.ioPort = io.port;
      this.ioSize = io.size;
      this.ioOut = io.direction === 'out';
      this.ioCount = io.count;
      this.ioData = io.data;
      this.ioAt = 0;
      this.ioLen = io.data.length;
    }
    const mmio = rec.mmio;
    this.hasMmio = mmio !== undefined;
    if (mmio) {
      this.mmioAddress = mmio.address;
      this.mmioLength = mmio.length;
      this.mmioWrite = mmio.write;
      this.mmioData = mmio.data;
      this.mmioAt = 0;
      this.mmioLen = mmio.data.length;
    }
    this.detail = rec.detail;
    return this;
  }

  /** Byte i of the IO payload, or undefined past its end. */
  ioByte(i: number): number | undefined {
    return i < this.ioLen ? this.ioData[this.ioAt + i] : undefined;
  }

  /** Byte i of the MMIO payload, or undefined past its end. */
  mmioByte(i: number): number | undefined {
    return i < this.mmioLen ? this.mmioData[this.mmioAt + i] : undefined;
  }

  /** The IO payload, copied (a Buffer's slice() would be a view). */
  ioBytes(): Uint8Array {
    return new Uint8Array(this.ioData.subarray(this.ioAt, this.ioAt + this.ioLen));
  }

  /** The registers as bigints (for nondeterministic instructions and reports only). */
  regs(): Regs {
    return regsFromBytes(new Uint8Array(this.regsWords.buffer));
  }

  /** The record as a TraceRecord of its own (for divergence reports). */
  record(): TraceRecord {
    if (this.source) return this.source;
    const regsBytes = new Uint8Array(this.regsWords.buffer).slice();
    let regs: Regs | undefined;
    const rec: TraceRecord = {
      kind: this.kind,
      seq: this.seq,
      reason: this.reason,
      reasonName: exitReasonName(this.reason),
      timeNs: this.timeNs,
      runNs: this.runNs,
      regsBytes,
      get regs() {
        return (regs ??= regsFromBytes(regsBytes));
      },
      sregs: this.sregs,
      sregsChanged: this.sregsChanged,
      offset: this.offset,
    };
    if (this.hasIo) {
      const data = this.ioBytes();
      rec.io = { port: this.ioPort, size: this.ioSize, direction: this.ioOut ? 'out' : 'in', count: this.ioCount, data };
    }
    if (this.hasMmio) {
      // (a copy: a Buffer's slice() would be a view)
      const data = new Uint8Array(this.mmioData.subarray(this.mmioAt, this.mmioAt + this.mmioLen));
      rec.mmio = { address: this.mmioAddress, length: this.mmioLength, write: this.mmioWrite, data };
    }
    if (this.detail !== undefined) rec.detail = this.detail;
    return rec;
  }
}

/** `len` bytes of `src` from `at` into `buf` (a larger buffer when it is too small). */
function copyInto(buf: Uint8Array, src: Uint8Array, at: number, len: number): Uint8Array {
  if (len > buf.length) buf = new Uint8Array(Math.max(len, 16, buf.length * 2));
  if (len <= 16) for (let i = 0; i < len; i++) buf[i] = src[at + i]!;
  else buf.set(src.subarray(at, at + len));
  return buf;
}

/** `src` into `dst` (as long): a loop, cheaper than TypedArray.set for a few dozen words. */
function copyWords(dst: Uint32Array, src: Uint32Array): void {
  for (let i = 0; i < src.length; i++) dst[i] = src[i]!;
}

/** A register mask past 31 bits (none in x86's 18 registers): the ring then keeps all words. */
const ALL_WORDS = -1;

/**
 * The records just read and not yet checked, in order: the record being checked first, then
 * the lookahead the later exits of a step read (RecordedSink.peek). Slots reused.
 *
 * Registers: only the first record's are at hand. Every slot's regsWords is one array, which
 * holds the first record's registers; a record behind it keeps only the registers it changed
 * (the scanner's regsMask), packed in a ring of words and applied to that array when it comes
 * first. The lookahead is read for its payloads only, and copying all 36 words of every
 * record cost more than the rest of the copy (profiled on guests/count.bin's trace).
 */
export class RecordRing {
  private readonly slots: RecordSlot[];
  /** capacity - 1: the capacity is a power of two. */
  private readonly mask: number;
  /** The first record's registers (every slot's regsWords). */
  private readonly regs = new Uint32Array(REGS_BYTES / 4);
  /** Per slot: the registers its record changed (a scanner regsMask, or ALL_WORDS). */
  private readonly changed: Int32Array;
  /** Their words, record after record: a ring (wordsMask) with room for every slot's all. */
  private readonly words: Uint32Array;
  private readonly wordsMask: number;
  /** Where the words of the record after the first start, and where the next pushed go. */
  private wordsHead = 0;
  private wordsEnd = 0;
  private head = 0;
  size = 0;

  /** Room for at least `records`. */
  constructor(records: number) {
    const capacity = 2 ** Math.ceil(Math.log2(Math.max(2, records)));
    this.mask = capacity - 1;
    this.slots = Array.from({ length: capacity }, () => new RecordSlot(this.regs));
    this.changed = new Int32Array(capacity);
    const words = 2 ** Math.ceil(Math.log2(capacity * this.regs.length));
    this.words = new Uint32Array(words);
    this.wordsMask = words - 1;
  }

  get full(): boolean {
    return this.size === this.slots.length;
  }

  /** Appends the scanner's current record (the ring must not be full; records of one scan, in order, none left out). */
  push(s: TraceScanner): void {
    const i = (this.head + this.size) & this.mask;
    this.slots[i]!.copyFields(s);
    const w = s.regsWords;
    if (this.size++ === 0) {
      copyWords(this.regs, w);
      this.wordsHead = this.wordsEnd = 0;
      return;
    }
    const n = this.regs.length;
    const words = this.words;
    const wm = this.wordsMask;
    let e = this.wordsEnd;
    const m = s.regsMask;
    if (m > 0x7fffffff || w.length !== n) {
      this.changed[i] = ALL_WORDS;
      for (let k = 0; k < n; k++) words[e++ & wm] = w[k]!;
    } else {
      this.changed[i] = m;
      for (let b = m; b !== 0; b &= b - 1) {
        const k = (31 - Math.clz32(b & -b)) * 2; // the lowest register left, as its low word's index
        words[e++ & wm] = w[k]!;
        words[e++ & wm] = w[k + 1]!;
      }
    }
    this.wordsEnd = e & wm;
  }

  /** The k-th record after the first (k = 0: the first), or undefined if not read. */
  at(k: number): RecordSlot | undefined {
    return k < this.size ? this.slots[(this.head + k) & this.mask] : undefined;
  }

  /** Drops the first record; the next one's registers take its place. */
  shift(): void {
    const i = (this.head = (this.head + 1) & this.mask);
    if (--this.size === 0) return;
    const regs = this.regs;
    const words = this.words;
    const wm = this.wordsMask;
    let h = this.wordsHead;
    const m = this.changed[i]!;
    if (m === ALL_WORDS) {
      for (let k = 0; k < regs.length; k++) regs[k] = words[h++ & wm]!;
    } else {
      for (let b = m; b !== 0; b &= b - 1) {
        const k = (31 - Math.clz32(b & -b)) * 2;
        regs[k] = words[h++ & wm]!;
        regs[k + 1] = words[h++ & wm]!;
      }
    }
    this.wordsHead = h & wm;
  }
}
