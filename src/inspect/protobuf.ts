// The little of the Protocol Buffers wire format the Perfetto export needs: varints and
// length-delimited fields (strings, nested messages), written into one growing buffer. A nested
// message reserves one byte for its length and moves its bytes along in the rare case the
// length needs more, so every length is minimal. Encoding reference:
// https://protobuf.dev/programming-guides/encoding/
const WIRE_VARINT = 0;
const WIRE_LEN = 2;

const utf8 = new TextEncoder();

/** Bytes a varint of `v` takes. */
function varintSize(v: number): number {
  let n = 1;
  while (v >= 0x80) {
    v = Math.floor(v / 0x80);
    n++;
  }
  return n;
}

/** Writes the varint of `v` (a whole number below 2^53) at b[p]; returns the offset after it. */
function putVarint(b: Uint8Array, p: number, v: number): number {
  if (v < 0x80000000) {
    while (v >= 0x80) {
      b[p++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
  } else {
    while (v >= 0x80) {
      b[p++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
  }
  b[p++] = v;
  return p;
}

export class ProtoWriter {
  private buf = new Uint8Array(1 << 16);
  /** Bytes written so far. */
  length = 0;

  private room(n: number): void {
    if (this.length + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.length + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
  }

  /** An unsigned varint; `v` is a whole number below 2^53. */
  varint(v: number): void {
    this.room(10);
    this.length = putVarint(this.buf, this.length, v);
  }

  /** A varint field (uint32/uint64/int64 of a value ≥ 0, enum, bool). */
  uint(field: number, v: number): void {
    this.varint(field * 8 + WIRE_VARINT);
    this.varint(v);
  }

  string(field: number, s: string): void {
    this.varint(field * 8 + WIRE_LEN);
    this.room(5 + 3 * s.length);
    const lengthAt = this.length;
    // one byte of length for short strings (most of them), moved along if it needs more
    const b = this.buf;
    let n = s.length;
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) {
        n = utf8.encodeInto(s, b.subarray(lengthAt + 1)).written; // not ASCII: start again as UTF-8
        break;
      }
      b[lengthAt + 1 + i] = c;
    }
    this.length = lengthAt + 1;
    this.patchLength(lengthAt, n);
  }

  /** Starts a nested message in `field`; pass the result to end() when its fields are written. */
  begin(field: number): number {
    this.varint(field * 8 + WIRE_LEN);
    this.room(1);
    return this.length++;
  }

  end(lengthAt: number): void {
    this.patchLength(lengthAt, this.length - lengthAt - 1);
  }

  /** Writes `n`, the length of the n bytes after the one byte reserved at `at`, making room. */
  private patchLength(at: number, n: number): void {
    const extra = varintSize(n) - 1;
    this.length = at + 1 + n;
    if (extra > 0) {
      this.room(extra);
      this.buf.copyWithin(at + 1 + extra, at + 1, at + 1 + n);
      this.length += extra;
    }
    putVarint(this.buf, at, n);
  }

  /** The bytes written, which the next write may overwrite; reset() starts over. */
  bytes(): Uint8Array {
    return this.buf.subarray(0, this.length);
  }

  reset(): void {
    this.length = 0;
  }
}
