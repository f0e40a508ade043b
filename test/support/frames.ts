// Hand-made framed (2.0/3.0) traces for reader tests: frames around arbitrary payloads, and re-signing
// a file whose bytes a test changed on purpose (so that the record validator, not the checksum,
// meets the change).
import { readFileSync, writeFileSync } from 'node:fs';

import { encodeFrame, FRAME_HEAD_BYTES, parseFrameHead, putFrameHead, TAG_RECORDS } from '../../src/trace/frame.js';
import { MAGIC_BYTES } from '../../src/trace/format.js';

/** A frame of records numbered from `first`, each record's msgpack bytes as given. */
export function recordsFrame(first: number, records: Uint8Array[]): Uint8Array {
  return encodeFrame(TAG_RECORDS, first, records.length, Buffer.concat(records));
}

/** Offsets of the frame heads of a format 2 trace, in order (a cut-off last frame included). */
export function frameOffsets(bytes: Uint8Array): number[] {
  const out: number[] = [];
  for (let at = MAGIC_BYTES.length; at + FRAME_HEAD_BYTES <= bytes.length; ) {
    const head = parseFrameHead(bytes, at);
    if (typeof head === 'string') throw new Error(`frame at ${at}: ${head}`);
    out.push(at);
    at += FRAME_HEAD_BYTES + head.length;
  }
  return out;
}

/** Recomputes every frame's checksums in place (after a test changed payload bytes). */
export function resign(file: string): void {
  const bytes = readFileSync(file);
  for (let at = MAGIC_BYTES.length; at + FRAME_HEAD_BYTES <= bytes.length; ) {
    const v = new DataView(bytes.buffer, bytes.byteOffset + at, FRAME_HEAD_BYTES);
    const first = Number(v.getBigUint64(4));
    const length = v.getUint32(28);
    putFrameHead(bytes, at, bytes[at + 2]!, first, v.getUint32(13), length);
    at += FRAME_HEAD_BYTES + length;
  }
  writeFileSync(file, bytes);
}
