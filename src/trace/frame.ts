// Format 2 framing (docs/trace-format.md, "Frames"). After the magic, a trace is a sequence of
// frames; each is one msgpack value, an array [tag, first, count, crc, headCrc, payload], always
// written with the same fixed-width encodings so that its head is 32 bytes at fixed offsets:
//
//   96 a1 <tag> cf <first: u64> ce <count: u32> ce <crc: u32> ce <headCrc: u32> c6 <length: u32>
//
// followed by `length` payload bytes. `crc` is the CRC-32 (zlib's) of the payload; `headCrc`
// the CRC-32 of the 32 head bytes with its own 4 bytes taken as zero. A reader thus tells a
// corrupt byte anywhere (a checksum fails) from a file cut short (the last frame is incomplete).
import { crc32 } from 'node:zlib';

export const FRAME_HEAD_BYTES = 32;

/** Frame tags (a one-letter fixstr): the header, a chunk of records, the footer. */
export const TAG_HEADER = 0x68; // 'h'
export const TAG_RECORDS = 0x72; // 'r'
export const TAG_END = 0x65; // 'e'

/** Largest payload of a frame of records (the writer flushes at 1 MiB) and of the footer. */
export const MAX_RECORDS_FRAME_BYTES = 64 << 20;
export const MAX_FOOTER_FRAME_BYTES = 1 << 20;

const HEAD_CRC_AT = 23;
const ZERO4 = new Uint8Array(4);

export interface FrameHead {
  tag: number;
  /** Sequence number of the first record (the header: 0; the footer: the number of records). */
  first: number;
  /** Records in the payload (the header and the footer: 1). */
  count: number;
  crc: number;
  length: number;
}

function headCrc(b: Uint8Array, at: number): number {
  let c = crc32(b.subarray(at, at + HEAD_CRC_AT));
  c = crc32(ZERO4, c);
  return crc32(b.subarray(at + HEAD_CRC_AT + 4, at + FRAME_HEAD_BYTES), c);
}

/** The CRC-32 of a payload (zlib's crc32: Python's zlib.crc32 gives the same). */
export function payloadCrc(payload: Uint8Array): number {
  return crc32(payload);
}

/**
 * Writes a frame head at b[at] for the `length` payload bytes that follow it there (already in
 * place: the CRC is computed over them).
 */
export function putFrameHead(b: Uint8Array, at: number, tag: number, first: number, count: number, length: number): void {
  const v = new DataView(b.buffer, b.byteOffset + at, FRAME_HEAD_BYTES);
  b[at] = 0x96;
  b[at + 1] = 0xa1;
  b[at + 2] = tag;
  b[at + 3] = 0xcf;
  v.setBigUint64(4, BigInt(first));
  b[at + 12] = 0xce;
  v.setUint32(13, count);
  b[at + 17] = 0xce;
  v.setUint32(18, payloadCrc(b.subarray(at + FRAME_HEAD_BYTES, at + FRAME_HEAD_BYTES + length)));
  b[at + 22] = 0xce;
  v.setUint32(HEAD_CRC_AT, 0);
  b[at + 27] = 0xc6;
  v.setUint32(28, length);
  v.setUint32(HEAD_CRC_AT, headCrc(b, at));
}

/** A whole frame (head and payload) as a new buffer. */
export function encodeFrame(tag: number, first: number, count: number, payload: Uint8Array): Uint8Array {
  const b = new Uint8Array(FRAME_HEAD_BYTES + payload.length);
  b.set(payload, FRAME_HEAD_BYTES);
  putFrameHead(b, 0, tag, first, count, payload.length);
  return b;
}

/** The fixed bytes of a head, by offset: a partial head at the end of a file must match them. */
const FIXED: ReadonlyArray<[number, number]> = [
  [0, 0x96],
  [1, 0xa1],
  [3, 0xcf],
  [12, 0xce],
  [17, 0xce],
  [22, 0xce],
  [27, 0xc6],
];

function knownTag(t: number): boolean {
  return t === TAG_HEADER || t === TAG_RECORDS || t === TAG_END;
}

/**
 * Checks the `n` (< 32) head bytes a file ends with: undefined when they can be the start of a
 * frame head (the file was cut there), else what is wrong.
 */
export function partialHeadProblem(b: Uint8Array, at: number, n: number): string | undefined {
  for (const [i, byte] of FIXED) if (i < n && b[at + i] !== byte) return 'not a frame head';
  if (n > 2 && !knownTag(b[at + 2]!)) return `unknown frame tag 0x${b[at + 2]!.toString(16)}`;
  return undefined;
}

/** Decodes and checks the 32-byte head at b[at]: the head, or what is wrong with it. */
export function parseFrameHead(b: Uint8Array, at: number): FrameHead | string {
  const fixed = partialHeadProblem(b, at, FRAME_HEAD_BYTES);
  if (fixed) return fixed;
  const v = new DataView(b.buffer, b.byteOffset + at, FRAME_HEAD_BYTES);
  if (v.getUint32(HEAD_CRC_AT) !== headCrc(b, at)) return 'frame head checksum mismatch';
  const firstHi = v.getUint32(4);
  if (firstHi >= 0x200000) return 'frame head: first record number beyond 2^53';
  return {
    tag: b[at + 2]!,
    first: firstHi * 0x100000000 + v.getUint32(8),
    count: v.getUint32(13),
    crc: v.getUint32(18),
    length: v.getUint32(28),
  };
}

export function tagName(tag: number): string {
  return tag === TAG_HEADER ? 'header' : tag === TAG_RECORDS ? 'records' : tag === TAG_END ? 'footer' : `0x${tag.toString(16)}`;
}
