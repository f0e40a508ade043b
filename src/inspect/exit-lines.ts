// `vmtrace inspect --exits` at the reader's pace: the listing straight from the trace scanner,
// written as bytes into large chunks (one stdout write each). No ExitRow, BigInt or string is
// made per record for the common fields; the result is byte for byte what formatExitRow(row) or
// JSON.stringify(row) gives for exitRows' rows (test/inspect/exits.test.ts checks both).
import { registerLayout, type RegisterLayout } from '../arch/index.js';
import type { Sregs } from '../cpu-state.js';
import { oneLine } from '../text/sanitize.js';
import { openTrace, type TraceScanner } from '../trace/reader.js';
import { changedSregs, pcColumnWidth, TEXT_BYTES, type ExitFilter } from './exits.js';
import { bytesAscii, bytesHex, col, hx, pcName } from './util.js';

/** Bytes per chunk exitLines() yields (about 1,300 text lines). */
const CHUNK_BYTES = 1 << 17;
const SPACE = 0x20;
const TWO32 = 0x100000000;
/** 10^i: a whole number below 10^width fits its column. */
const POW10 = Array.from({ length: 17 }, (_, i) => 10 ** i);
const HEX_DIGITS = Buffer.from('0123456789abcdef', 'latin1');
const ascii = (s: string) => Buffer.from(s, 'latin1');
const NO_PAYLOAD = ascii(col('', 12) + col('', 6) + col('', 6) + col('', 2 * TEXT_BYTES + 3) + col('', TEXT_BYTES + 3));

/** The bytes a layout's register names are written as. */
interface RegText {
  pcIndex: number;
  pcWidth: number;
  /** `rax=0x` */
  text: Buffer[];
  /** `"rax":"0x` */
  json: Buffer[];
  /** `,"rip":"0x` */
  pcJson: Buffer;
}

function regText(layout: RegisterLayout): RegText {
  return {
    pcIndex: layout.pcIndex,
    pcWidth: pcColumnWidth(layout),
    text: layout.regNames.map((n) => ascii(`${n}=0x`)),
    json: layout.regNames.map((n) => ascii(`"${n}":"0x`)),
    pcJson: ascii(`,"${pcName(layout)}":"0x`),
  };
}
/** The constant parts of an NDJSON line. */
const J = {
  index: ascii('{"index":'),
  exit: ascii(',"kind":"exit","reason":'),
  step: ascii(',"kind":"step","reason":'),
  reasonCode: ascii(',"reasonCode":'),
  timeNs: ascii(',"timeNs":'),
  runNs: ascii(',"runNs":'),
  count: ascii(',"count":'),
  data: ascii(',"data":"'),
  ascii: ascii('","ascii":"'),
  close: ascii('"}'),
  changed: ascii('","changed":{'),
  end: ascii('},"sregsChanged":{}}\n'),
};
/** data and ascii columns of a one-byte payload, the commonest. */
const ONE_BYTE_COLUMNS = Array.from({ length: 256 }, (_, v) => ascii(dataColumns(Uint8Array.of(v), 0, 1)));

function dataColumns(b: Uint8Array, at: number, n: number): string {
  const text = bytesAscii(b, TEXT_BYTES, at, n);
  return col(bytesHex(b, TEXT_BYTES, at, n), 2 * TEXT_BYTES + 3) + col(text ? `"${text}"` : '', TEXT_BYTES + 3);
}

/**
 * Room reserved for a line (line()) and after every variable-length write: the fixed-size
 * writes in between (digits, hex, memoized columns, spaces; at most 35 registers, aarch64's)
 * fit in it, so they skip the bounds check.
 */
const LINE_ROOM = 2048;

// Writers of fixed-size parts: each takes the buffer and the position and returns the position
// after what it wrote, so that a line is built in locals (no property load and store per byte).

/** The bytes of `src` at b[p]. */
function putBytes(b: Buffer, p: number, src: Uint8Array): number {
  const n = src.length;
  if (n > 16) b.set(src, p); // a native copy pays off past a few bytes
  else for (let i = 0; i < n; i++) b[p + i] = src[i]!;
  return p + n;
}

function putSpaces(b: Buffer, p: number, n: number): number {
  for (let i = 0; i < n; i++) b[p++] = SPACE;
  return p;
}

/** A whole number from 0 to 2^53 in decimal, right-aligned in `width` columns. */
function putUint(b: Buffer, p: number, v: number, width: number): number {
  let digits = width;
  if (!(v < POW10[width]!) || width === 0) {
    digits = 1;
    for (let t = 10; t <= v && digits < 16; t *= 10) digits++;
    p = putSpaces(b, p, width - digits);
  }
  // digits backwards from the end, spaces (up to the column's width) before them
  const end = p + digits;
  let q = end;
  if (v < 0x80000000) {
    let x = v | 0; // int32 arithmetic
    do {
      const d = (x / 10) | 0;
      b[--q] = 0x30 + (x - 10 * d);
      x = d;
    } while (x > 0);
  } else {
    do {
      const d = Math.floor(v / 10);
      b[--q] = 0x30 + (v - 10 * d); // (the difference first: near 2^53, v + 0x30 is not exact)
      v = d;
    } while (v > 0);
  }
  putSpaces(b, p, q - p);
  return end;
}

/** Lowercase hex of a 32-bit value, at least `digits` digits. */
function putHex32(b: Buffer, p: number, v: number, digits: number): number {
  let n = (35 - Math.clz32(v)) >> 2;
  if (n < digits) n = digits;
  const end = p + n;
  for (let q = end - 1; q >= p; q--) {
    b[q] = HEX_DIGITS[v & 15]!;
    v >>>= 4;
  }
  return end;
}

/** hx() of the 64-bit value in words w[i] (low), w[i+1] (high), without the `0x`. */
function putHex64(b: Buffer, p: number, w: Uint32Array, i: number): number {
  const hi = w[i + 1]!;
  if (hi === 0) return putHex32(b, p, w[i]!, 1);
  return putHex32(b, putHex32(b, p, hi, 1), w[i]!, 8);
}

/**
 * `(ns / 1e6).toFixed(6)` right-aligned in `width`: digits straight for whole nanoseconds below
 * 10^15 (exact there), else as text.
 */
function putMs(b: Buffer, p: number, ns: number, width: number): number {
  if (!Number.isInteger(ns) || ns < 0 || ns >= 1e15) {
    const t = (ns / 1e6).toFixed(6);
    p = putSpaces(b, p, width - t.length);
    return p + b.write(t, p, 'latin1');
  }
  // ns / 1e6 is within an ulp of the quotient: the floor is off by at most one, and the rest says so
  let whole = Math.floor(ns / 1e6);
  let frac = ns - whole * 1e6;
  if (frac < 0) (whole--, (frac += 1e6));
  else if (frac >= 1e6) (whole++, (frac -= 1e6));
  p = putUint(b, p, whole, width - 7);
  b[p] = 0x2e;
  const end = p + 7;
  let f = frac | 0; // (int32 arithmetic from here)
  for (let q = end - 1; q > p; q--) {
    const d = (f / 10) | 0;
    b[q] = 0x30 + (f - 10 * d);
    f = d;
  }
  return end;
}

/** A growing byte buffer of output lines. */
class LineBytes {
  buf = Buffer.allocUnsafe(CHUNK_BYTES + 4096);
  pos = 0;

  room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(2 * this.buf.length, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  /** The bytes so far, handed over (the next line goes into a new buffer). */
  take(): Buffer {
    const out = this.buf.subarray(0, this.pos);
    this.buf = Buffer.allocUnsafe(CHUNK_BYTES + 4096);
    this.pos = 0;
    return out;
  }

  /** Starts a line: room for its fixed-size parts. */
  line(): void {
    this.room(LINE_ROOM);
  }

  bytes(b: Uint8Array): void {
    this.pos = putBytes(this.buf, this.pos, b);
  }

  /** Any string, as UTF-8. */
  text(s: string): void {
    this.room(3 * s.length + LINE_ROOM);
    this.pos += this.buf.write(s, this.pos, 'utf8');
  }

  byte(c: number): void {
    this.buf[this.pos++] = c;
  }

  /** A number as String() writes it; right-aligned in `width` columns (digits straight for whole numbers to 2^53). */
  number(v: number, width = 0): void {
    if (!(v >= 0 && v <= Number.MAX_SAFE_INTEGER && Number.isInteger(v))) {
      const t = String(v);
      this.spaces(width - t.length);
      return this.text(t);
    }
    this.pos = putUint(this.buf, this.pos, v, width);
  }

  spaces(n: number): void {
    this.pos = putSpaces(this.buf, this.pos, n);
  }

  /** hx() of the 64-bit value in words w[i] (low), w[i+1] (high), without the `0x`. */
  hex64(w: Uint32Array, i: number): void {
    this.pos = putHex64(this.buf, this.pos, w, i);
  }

  /** Left-aligns what was written since `start` in `width` columns (ASCII only). */
  padEnd(start: number, width: number): void {
    this.spaces(width - (this.pos - start));
  }

  /** Payload bytes as lowercase hex, all of them. */
  hexData(b: Uint8Array, at: number, n: number): void {
    this.room(2 * n + LINE_ROOM);
    for (let i = 0; i < n; i++) {
      const v = b[at + i]!;
      this.buf[this.pos++] = HEX_DIGITS[v >> 4]!;
      this.buf[this.pos++] = HEX_DIGITS[v & 15]!;
    }
  }

  /** bytesAscii() of the payload as the contents of a JSON string (`"` and `\` escaped). */
  jsonAsciiData(b: Uint8Array, at: number, n: number): void {
    this.room(2 * n + LINE_ROOM);
    for (let i = 0; i < n; i++) {
      const v = b[at + i]!;
      if (v === 0x22 || v === 0x5c) this.buf[this.pos++] = 0x5c;
      this.buf[this.pos++] = v >= 0x20 && v < 0x7f ? v : 0x2e;
    }
  }
}

function scanMatches(f: ExitFilter, s: TraceScanner): boolean {
  if (f.reasons?.length && !f.reasons.includes(s.reason)) return false;
  const wantPort = !!f.ports?.length;
  const wantAddr = !!f.addresses?.length;
  if (wantPort || wantAddr) {
    const portOk = wantPort && s.hasIo && f.ports!.includes(s.ioPort);
    const addrOk = wantAddr && s.hasMmio && f.addresses!.some((a) => a >= s.mmioAddress && a < s.mmioAddress + Math.max(1, s.mmioLength));
    if (!portOk && !addrOk) return false;
  }
  return true;
}

/** Formats the records of one scan, holding the previous record's registers. */
class ExitLineFormatter {
  private readonly out = new LineBytes();
  private readonly prev: Uint32Array;
  private prevSregs: Sregs;
  private shown = 0;
  private readonly limit: number;
  private readonly regs: RegText;
  // Memoized bytes: the same few reasons and ports come back on nearly every line.
  private readonly reasonText = new Map<number, Buffer>();
  /** oneByteIoColumns() by reason, port and direction, then by data byte; the last key looked up. */
  private readonly leads = new Map<number, (Buffer | undefined)[]>();
  private leadKey = -1;
  private leadBy: (Buffer | undefined)[] = [];
  private readonly reasonJson = new Map<number, Buffer>();
  private readonly ioText = new Map<number, Buffer>();
  private readonly ioJsonBy = new Map<number, Buffer>();
  private readonly mmioText = new Map<number, Buffer>();
  /** No more lines: past `to` or `limit`, or a bad record (`failure`). */
  done = false;
  failure: unknown;

  constructor(
    s: TraceScanner,
    private readonly filter: ExitFilter,
    private readonly json: boolean,
    private readonly layout: RegisterLayout,
  ) {
    this.regs = regText(layout);
    this.prev = s.regsWords.slice(); // the boot registers, before the first record
    this.prevSregs = s.sregs;
    this.limit = filter.limit ?? Infinity;
    if (this.limit <= 0) this.done = true;
  }

  /**
   * Lines of the records in memory, up to about CHUNK_BYTES; `drained` tells whether next() ran
   * dry. A bad record ends the lines before it (as exitRows lists the rows before it) and is
   * kept in `failure`, to be thrown once they are written.
   */
  take(s: TraceScanner): { chunk: Buffer; drained: boolean } {
    const f = this.filter;
    const from = f.from ?? 0;
    const to = f.to ?? Infinity;
    const all = !f.reasons?.length && !f.ports?.length && !f.addresses?.length;
    let drained = false;
    while (this.out.pos < CHUNK_BYTES && !this.done) {
      try {
        if (!s.next()) {
          drained = true;
          break;
        }
      } catch (e) {
        this.failure = e;
        this.done = true;
        break;
      }
      const index = s.index;
      if (index > to) {
        this.done = true;
        break;
      }
      if (index >= from && (all || scanMatches(f, s))) {
        if (this.json) this.jsonLine(s); // (changedRegs brings `prev` up to date)
        else this.textLine(s);
        if (++this.shown >= this.limit) this.done = true;
      } else this.prev.set(s.regsWords);
      this.prevSregs = s.sregs;
    }
    return { chunk: this.out.take(), drained };
  }

  /**
   * Changed registers but the program counter: `rax=0x48 rcx=0x1` (text) or
   * `"rax":"0x48","rcx":"0x1"` (JSON); `prev` takes the new values on the way. Only the
   * registers the record stored can have changed (the others kept their values): the mask's.
   */
  private changedRegs(s: TraceScanner, json: boolean): void {
    const mask = s.regsMask;
    // (`| 0` takes a number modulo 2^32: the mask's low 32 bits, as fast as for a small mask)
    const first = this.changedIn(s, json, mask | 0, 0, true);
    if (mask >= TWO32) this.changedIn(s, json, Math.floor(mask / TWO32), 32, first);
  }

  /** changedRegs() for the registers base + i of the bits i set in `bits`, in order; whether none was written yet. */
  private changedIn(s: TraceScanner, json: boolean, bits: number, base: number, first: boolean): boolean {
    const w = s.regsWords;
    const p = this.prev;
    const o = this.out;
    const { pcIndex, text, json: jsonNames } = this.regs;
    for (let m = bits; m !== 0; m &= m - 1) {
      const i = base + 31 - Math.clz32(m & -m);
      const k = 2 * i;
      const lo = w[k]!;
      const hi = w[k + 1]!;
      if (lo === p[k] && hi === p[k + 1]) continue;
      p[k] = lo;
      p[k + 1] = hi;
      if (i === pcIndex) continue;
      if (json) {
        if (!first) o.byte(0x2c);
        o.bytes(jsonNames[i]!);
        o.hex64(w, k);
        o.byte(0x22);
      } else {
        if (!first) o.byte(SPACE);
        o.bytes(text[i]!);
        o.hex64(w, k);
      }
      first = false;
    }
    return first;
  }

  private sregsChanged(s: TraceScanner): Record<string, string> {
    return s.sregs === this.prevSregs ? {} : changedSregs(this.prevSregs, s.sregs, undefined, this.layout);
  }

  private textLine(s: TraceScanner): void {
    const o = this.out;
    o.line();
    const b = o.buf;
    let p = putUint(b, o.pos, s.index, 8);
    b[p++] = SPACE;
    b[p++] = SPACE;
    p = putMs(b, p, s.timeNs, 12);
    b[p++] = SPACE;
    b[p++] = SPACE;
    const lead = s.hasIo && s.ioLen === 1 && s.ioCount === 1 ? this.oneByteIoColumns(s) : undefined;
    if (lead !== undefined) p = putBytes(b, p, lead);
    else {
      o.pos = putBytes(b, p, this.reasonColumn(s));
      if (s.hasIo) {
        o.bytes(this.ioColumns(s));
        this.dataColumns(s.ioData, s.ioAt, s.ioLen);
      } else if (s.hasMmio) {
        o.bytes(this.mmioColumns(s));
        this.dataColumns(s.mmioData, s.mmioAt, s.mmioLen);
      } else o.bytes(NO_PAYLOAD);
      p = o.pos;
    }
    const at = p;
    b[p++] = 0x30;
    b[p++] = 0x78;
    p = putHex64(b, p, s.regsWords, 2 * this.regs.pcIndex);
    p = putSpaces(b, p, this.regs.pcWidth - (p - at));
    const changesAt = p;
    const mask = s.regsMask;
    p = this.changedText(s, b, p, mask | 0, 0, changesAt);
    if (mask >= TWO32) p = this.changedText(s, b, p, Math.floor(mask / TWO32), 32, changesAt);
    o.pos = p;
    if (s.sregs !== this.prevSregs) {
      for (const [k, v] of Object.entries(this.sregsChanged(s))) o.text(`${o.pos > changesAt ? ' ' : ''}${k}=${v}`);
    }
    // the detail's strings are the only text here that may hold control characters
    if (s.detail) o.text(`${o.pos > changesAt ? ' ' : ''}${oneLine(JSON.stringify(s.detail))}`);
    if (o.pos === changesAt) while (o.buf[o.pos - 1] === SPACE) o.pos--; // as trimEnd()
    o.byte(0x0a);
  }

  /**
   * The text of changedRegs() for the registers base + i of the bits i set in `bits`, in order,
   * at b[p]; `changesAt`: where the list starts (a space goes between two). Returns the end.
   */
  private changedText(s: TraceScanner, b: Buffer, p: number, bits: number, base: number, changesAt: number): number {
    const w = s.regsWords;
    const prev = this.prev;
    const { pcIndex, text } = this.regs;
    for (let m = bits; m !== 0; m &= m - 1) {
      const i = base + 31 - Math.clz32(m & -m);
      const k = 2 * i;
      const lo = w[k]!;
      const hi = w[k + 1]!;
      if (lo === prev[k] && hi === prev[k + 1]) continue;
      prev[k] = lo;
      prev[k + 1] = hi;
      if (i === pcIndex) continue;
      if (p > changesAt) b[p++] = SPACE;
      p = putBytes(b, p, text[i]!);
      p = putHex64(b, p, w, k);
    }
    return p;
  }

  /**
   * reason, port/addr, dir, size, data and ascii columns of an IO record of one byte (most IO
   * records), memoized as one piece; undefined for a reason code too large for the key.
   */
  private oneByteIoColumns(s: TraceScanner): Buffer | undefined {
    const r = 2 * s.reason + (s.kind === 'step' ? 1 : 0);
    if (r >= 1024 || s.ioPort >= 0x10000) return undefined;
    const key = (r * 0x10000 + s.ioPort) * 2 + (s.ioOut ? 1 : 0);
    let byValue = this.leadBy;
    if (key !== this.leadKey) {
      const known = this.leads.get(key);
      byValue = known ?? new Array<Buffer | undefined>(256).fill(undefined);
      if (known === undefined) this.leads.set(key, byValue);
      this.leadKey = key;
      this.leadBy = byValue;
    }
    const v = s.ioData[s.ioAt]!;
    let c = byValue[v];
    if (c === undefined) byValue[v] = c = Buffer.concat([this.reasonColumn(s), this.ioColumns(s), ONE_BYTE_COLUMNS[v]!]);
    return c;
  }

  private reasonColumn(s: TraceScanner): Buffer {
    const step = s.kind === 'step';
    const key = step ? -1 - s.reason : s.reason;
    let c = this.reasonText.get(key);
    if (c === undefined) this.reasonText.set(key, (c = Buffer.from(col(step && s.reasonName === 'DEBUG' ? 'step' : s.reasonName, 8))));
    return c;
  }

  /** The data and ascii columns: bytes straight up to TEXT_BYTES (all ASCII then), else as text. */
  private dataColumns(b: Uint8Array, at: number, n: number): void {
    const o = this.out;
    if (n === 1) return o.bytes(ONE_BYTE_COLUMNS[b[at]!]!);
    if (n > TEXT_BYTES) return o.text(dataColumns(b, at, n));
    let start = o.pos;
    o.hexData(b, at, n);
    o.padEnd(start, 2 * TEXT_BYTES + 3);
    start = o.pos;
    if (n > 0) {
      o.byte(0x22);
      for (let i = 0; i < n; i++) {
        const v = b[at + i]!;
        o.byte(v >= 0x20 && v < 0x7f ? v : 0x2e);
      }
      o.byte(0x22);
    }
    o.padEnd(start, TEXT_BYTES + 3);
  }

  /** port/addr, dir and size columns of an MMIO record (memoized for addresses below 2^44). */
  private mmioColumns(s: TraceScanner): Buffer {
    const make = () => Buffer.from(col(hx(s.mmioAddress), 12) + col(s.mmioWrite ? 'write' : 'read', 6) + col(String(s.mmioLength), 6));
    if (s.mmioAddress >= 2 ** 44 || s.mmioLength > 255) return make();
    const key = (s.mmioAddress * 2 + (s.mmioWrite ? 1 : 0)) * 256 + s.mmioLength;
    let c = this.mmioText.get(key);
    if (c === undefined) this.mmioText.set(key, (c = make()));
    return c;
  }

  /** port/addr, dir and size columns of an IO record. */
  private ioColumns(s: TraceScanner): Buffer {
    const make = () => Buffer.from(col(hx(s.ioPort), 12) + col(s.ioOut ? 'out' : 'in', 6) + col(s.ioCount > 1 ? `${s.ioSize}×${s.ioCount}` : String(s.ioSize), 6));
    if (s.ioCount !== 1) return make();
    const key = s.ioPort * 512 + (s.ioOut ? 256 : 0) + s.ioSize;
    let c = this.ioText.get(key);
    if (c === undefined) this.ioText.set(key, (c = make()));
    return c;
  }

  private jsonLine(s: TraceScanner): void {
    const o = this.out;
    o.line();
    let name = this.reasonJson.get(s.reason);
    if (name === undefined) this.reasonJson.set(s.reason, (name = Buffer.from(JSON.stringify(s.reasonName))));
    o.bytes(J.index);
    o.number(s.index);
    o.bytes(s.kind === 'step' ? J.step : J.exit);
    o.bytes(name);
    o.bytes(J.reasonCode);
    o.number(s.reason);
    o.bytes(J.timeNs);
    o.number(s.timeNs);
    o.bytes(J.runNs);
    o.number(s.runNs);
    if (s.hasIo) {
      o.bytes(this.ioJson(s));
      o.number(s.ioSize);
      o.bytes(J.count);
      o.number(s.ioCount);
      this.jsonData(s.ioData, s.ioAt, s.ioLen);
    }
    if (s.hasMmio) {
      o.text(`,"mmio":{"address":"${hx(s.mmioAddress)}","direction":"${s.mmioWrite ? 'write' : 'read'}","length":`);
      o.number(s.mmioLength);
      this.jsonData(s.mmioData, s.mmioAt, s.mmioLen);
    }
    if (s.detail) o.text(`,"detail":${JSON.stringify(s.detail)}`);
    o.bytes(this.regs.pcJson);
    o.hex64(s.regsWords, 2 * this.regs.pcIndex);
    o.bytes(J.changed);
    this.changedRegs(s, true);
    if (s.sregs === this.prevSregs) o.bytes(J.end);
    else o.text(`},"sregsChanged":${JSON.stringify(this.sregsChanged(s))}}\n`);
  }

  /** `,"io":{"port":"0xf1","direction":"out","size":` of an IO record. */
  private ioJson(s: TraceScanner): Buffer {
    const key = s.ioPort * 2 + (s.ioOut ? 1 : 0);
    let c = this.ioJsonBy.get(key);
    if (c === undefined) this.ioJsonBy.set(key, (c = ascii(`,"io":{"port":"${hx(s.ioPort)}","direction":"${s.ioOut ? 'out' : 'in'}","size":`)));
    return c;
  }

  /** `,"data":"…","ascii":"…"}` of a payload (closing its object). */
  private jsonData(b: Uint8Array, at: number, n: number): void {
    const o = this.out;
    o.bytes(J.data);
    o.hexData(b, at, n);
    o.bytes(J.ascii);
    o.jsonAsciiData(b, at, n);
    o.bytes(J.close);
  }
}

/**
 * The `--exits` listing of `file`: text lines as formatExitRow gives them, or NDJSON (`json`:
 * one JSON.stringify(exitRow) a line), newline-terminated, UTF-8, in chunks of many lines. The
 * same rows as exitRows(file, filter).
 */
export async function* exitLines(file: string, filter: ExitFilter = {}, json = false): AsyncGenerator<Buffer, void, undefined> {
  const trace = await openTrace(file);
  try {
    const s = trace.scan();
    const fmt = new ExitLineFormatter(s, filter, json, registerLayout(trace.header.arch));
    while (!fmt.done) {
      const { chunk, drained } = fmt.take(s);
      if (chunk.length) yield chunk;
      if (drained && !(await s.read())) return;
    }
    if (fmt.failure !== undefined) throw fmt.failure;
  } finally {
    await trace.close();
  }
}
