// GDB remote serial protocol framing: `$payload#cs` packets, acknowledgements, the out-of-band
// interrupt byte, run-length encoding and the binary escape of X packets and qXfer replies
// (gdb manual, "Overview" of the remote protocol).

/** Interrupt request gdb sends outside any packet (Ctrl-C). */
export const INTERRUPT = 0x03;
const ESCAPE = 0x7d; // '}'
const RLE = 0x2a; // '*'
/** Bytes that must be escaped in binary data (and are never produced by hex or plain text). */
const SPECIAL = new Set([0x23, 0x24, ESCAPE, RLE]); // # $ } *

/** Sum of the payload's bytes modulo 256: the two hex digits after '#'. */
export function checksum(payload: Uint8Array): number {
  let sum = 0;
  for (const b of payload) sum = (sum + b) & 0xff;
  return sum;
}

/** The bytes on the wire for one packet; the payload is run-length encoded first. */
export function frame(payload: string | Uint8Array): Buffer {
  const body = runLengthEncode(typeof payload === 'string' ? Buffer.from(payload, 'latin1') : payload);
  return Buffer.concat([Buffer.from('$'), body, Buffer.from(`#${checksum(body).toString(16).padStart(2, '0')}`)]);
}

/**
 * `X*` + (n + 29) stands for X repeated n more times. Counts whose character would be '#' or '$'
 * (n = 6, 7) are not allowed, and the character must be printable (n <= 97): longer runs are split.
 * Runs shorter than 4 are cheaper as they are.
 */
export function runLengthEncode(data: Uint8Array): Buffer {
  const out: number[] = [];
  for (let i = 0; i < data.length; ) {
    const b = data[i]!;
    let run = 1;
    while (i + run < data.length && data[i + run] === b && run < 98) run++;
    let more = run - 1;
    if (more >= 3 && !SPECIAL.has(b)) {
      if (more === 6 || more === 7) more = 5;
      out.push(b, RLE, more + 29);
      i += more + 1;
    } else {
      out.push(b);
      i++;
    }
  }
  return Buffer.from(out);
}

export function runLengthDecode(data: Uint8Array): Buffer | undefined {
  const out: number[] = [];
  for (let i = 0; i < data.length; i++) {
    if (data[i] !== RLE) {
      out.push(data[i]!);
      continue;
    }
    const count = data[i + 1];
    if (out.length === 0 || count === undefined || count < 29) return undefined;
    const b = out[out.length - 1]!;
    for (let k = 0; k < count - 29; k++) out.push(b);
    i++;
  }
  return Buffer.from(out);
}

/** Binary data for a packet: '#', '$', '}' and '*' become '}' followed by the byte XOR 0x20. */
export function escapeBinary(data: Uint8Array): Buffer {
  const out: number[] = [];
  for (const b of data) {
    if (SPECIAL.has(b)) out.push(ESCAPE, b ^ 0x20);
    else out.push(b);
  }
  return Buffer.from(out);
}

export function unescapeBinary(data: Uint8Array): Buffer | undefined {
  const out: number[] = [];
  for (let i = 0; i < data.length; i++) {
    if (data[i] !== ESCAPE) out.push(data[i]!);
    else if (i + 1 < data.length) out.push(data[++i]! ^ 0x20);
    else return undefined;
  }
  return Buffer.from(out);
}

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

/** Hex digits (an even number of them) to bytes; undefined for anything else. */
export function fromHex(text: string): Uint8Array | undefined {
  if (text.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(text)) return undefined;
  return Uint8Array.from(Buffer.from(text, 'hex'));
}

export type WireEvent =
  /** A packet with a good checksum, run-length decoded (binary data still escaped). */
  | { kind: 'packet'; payload: Buffer }
  /** A packet whose checksum or run-length encoding is wrong: answer '-' to have it resent. */
  | { kind: 'corrupt' }
  | { kind: 'ack' }
  | { kind: 'nack' }
  | { kind: 'interrupt' };

/**
 * Splits the byte stream from gdb into events. Packets may arrive in pieces or several at once;
 * bytes between packets other than '+', '-' and 0x03 are line noise and skipped.
 */
export class PacketReader {
  private pending: Buffer = Buffer.alloc(0);

  push(chunk: Uint8Array): WireEvent[] {
    this.pending = this.pending.length ? Buffer.concat([this.pending, chunk]) : Buffer.from(chunk);
    const events: WireEvent[] = [];
    let at = 0;
    while (at < this.pending.length) {
      const b = this.pending[at]!;
      if (b !== 0x24) {
        if (b === 0x2b) events.push({ kind: 'ack' });
        else if (b === 0x2d) events.push({ kind: 'nack' });
        else if (b === INTERRUPT) events.push({ kind: 'interrupt' });
        at++;
        continue;
      }
      const hash = this.pending.indexOf(0x23, at + 1);
      if (hash < 0 || hash + 3 > this.pending.length) break; // the rest has not arrived yet
      const body = this.pending.subarray(at + 1, hash);
      const sent = parseInt(this.pending.subarray(hash + 1, hash + 3).toString('latin1'), 16);
      const payload = runLengthDecode(body);
      events.push(sent === checksum(body) && payload ? { kind: 'packet', payload } : { kind: 'corrupt' });
      at = hash + 3;
    }
    this.pending = this.pending.subarray(at);
    return events;
  }
}
