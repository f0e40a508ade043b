// A minimal msgpack encoder for the record hot path: fixed-shape maps of unsigned integers,
// short strings and binary, written straight into a growable buffer. Output is plain msgpack;
// the reader decodes it with msgpackr like every other value in the file.
export class MsgpackOut {
  buf: Uint8Array;
  private view: DataView;
  used = 0;

  constructor(initialBytes: number) {
    this.buf = new Uint8Array(initialBytes);
    this.view = new DataView(this.buf.buffer);
  }

  /** Makes room for n more bytes. */
  reserve(n: number): void {
    if (this.used + n <= this.buf.length) return;
    const bigger = new Uint8Array(Math.max(this.buf.length * 2, this.used + n));
    bigger.set(this.buf.subarray(0, this.used));
    this.buf = bigger;
    this.view = new DataView(bigger.buffer);
  }

  raw(bytes: Uint8Array): void {
    this.reserve(bytes.length);
    this.buf.set(bytes, this.used);
    this.used += bytes.length;
  }

  mapHeader(fields: number): void {
    this.reserve(1);
    this.buf[this.used++] = 0x80 | fields; // fixmap: at most 15 fields
  }

  /** A fixstr (keys and short tags, ASCII, under 32 bytes). */
  str(s: string): void {
    this.reserve(1 + s.length);
    const b = this.buf;
    b[this.used++] = 0xa0 | s.length;
    b[this.used++] = s.charCodeAt(0);
    for (let i = 1; i < s.length; i++) b[this.used++] = s.charCodeAt(i);
  }

  /** A non-negative integer up to 2^53 in its shortest msgpack form. */
  uint(v: number): void {
    this.reserve(9);
    this.used = putUint(this.buf, this.used, v);
  }

  bin(bytes: Uint8Array): void {
    const n = bytes.length;
    this.reserve(5 + n);
    if (n < 0x100) {
      this.buf[this.used++] = 0xc4;
      this.buf[this.used++] = n;
    } else if (n < 0x10000) {
      this.buf[this.used++] = 0xc5;
      this.view.setUint16(this.used, n);
      this.used += 2;
    } else {
      this.buf[this.used++] = 0xc6;
      this.view.setUint32(this.used, n);
      this.used += 4;
    }
    if (n <= 16) {
      for (let i = 0; i < n; i++) this.buf[this.used + i] = bytes[i]!;
    } else {
      this.buf.set(bytes, this.used);
    }
    this.used += n;
  }
}

/** Writes v (0 ≤ v < 2^53) at b[u] in its shortest msgpack form; returns the new end. */
export function putUint(b: Uint8Array, u: number, v: number): number {
  if (v < 0x80) {
    b[u] = v;
    return u + 1;
  }
  if (v < 0x100) {
    b[u] = 0xcc;
    b[u + 1] = v;
    return u + 2;
  }
  if (v < 0x10000) {
    b[u] = 0xcd;
    b[u + 1] = v >>> 8;
    b[u + 2] = v & 0xff;
    return u + 3;
  }
  if (v < 0x100000000) {
    b[u] = 0xce;
    b[u + 1] = v >>> 24;
    b[u + 2] = (v >>> 16) & 0xff;
    b[u + 3] = (v >>> 8) & 0xff;
    b[u + 4] = v & 0xff;
    return u + 5;
  }
  b[u] = 0xcf;
  const hi = Math.floor(v / 0x100000000);
  const lo = v >>> 0;
  b[u + 1] = hi >>> 24;
  b[u + 2] = (hi >>> 16) & 0xff;
  b[u + 3] = (hi >>> 8) & 0xff;
  b[u + 4] = hi & 0xff;
  b[u + 5] = lo >>> 24;
  b[u + 6] = (lo >>> 16) & 0xff;
  b[u + 7] = (lo >>> 8) & 0xff;
  b[u + 8] = lo & 0xff;
  return u + 9;
}

/** Writes a fixstr key (ASCII, under 32 bytes) at b[u]; returns the new end. */
export function putKey(b: Uint8Array, u: number, key: string): number {
  b[u++] = 0xa0 | key.length;
  for (let i = 0; i < key.length; i++) b[u++] = key.charCodeAt(i);
  return u;
}
