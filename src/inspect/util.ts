// Small formatting and parsing helpers shared by inspect and diff.
import { registerLayout, type RegisterLayout } from '../arch/index.js';
import { CONTROL_NAMES, SEGMENT_NAMES, type Segment, type Sregs } from '../cpu-state.js';
import { EXIT, exitReasonName } from '../trace/exit-reasons.js';
import type { TraceRecord } from '../trace/format.js';

/** `0x…` lowercase hex of a number or bigint (how every address/register is shown and stored in JSON). */
export function hx(v: number | bigint): string {
  return '0x' + v.toString(16);
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** Bytes as lowercase hex without separators: `48656c`. At most `max` bytes, then `…`. (`at`, `n`: of data[at, at+n).) */
export function bytesHex(data: Uint8Array, max = Infinity, at = 0, n = data.length - at): string {
  const m = Math.min(n, max);
  let s = '';
  for (let i = 0; i < m; i++) s += HEX[data[at + i]!];
  return m < n ? s + '…' : s;
}

/** Printable ASCII of the bytes; everything else as `.` (like hexdump -C). (`at`, `n` as bytesHex.) */
export function bytesAscii(data: Uint8Array, max = Infinity, at = 0, n = data.length - at): string {
  const m = Math.min(n, max);
  let s = '';
  for (let i = 0; i < m; i++) {
    const b = data[at + i]!;
    s += b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.';
  }
  return m < n ? s + '…' : s;
}

/** hx() of the 64-bit little-endian value in words w[i] (low) and w[i+1] (high), without a bigint. */
export function hxWords(w: Uint32Array, i: number): string {
  const hi = w[i + 1]!;
  return hi === 0 ? '0x' + w[i]!.toString(16) : '0x' + hi.toString(16) + w[i]!.toString(16).padStart(8, '0');
}

/** Nanoseconds as microseconds with 3 significant decimals: `16.802`. */
export function usFromNs(ns: number): string {
  return (ns / 1000).toFixed(3);
}

/** Nanoseconds as a human duration: `830 ns`, `16.8 µs`, `14.0 ms`, `2.51 s`. */
export function humanNs(ns: number): string {
  if (ns < 1000) return `${Math.round(ns)} ns`;
  if (ns < 1e6) return `${(ns / 1e3).toFixed(ns < 1e4 ? 2 : 1)} µs`;
  if (ns < 1e9) return `${(ns / 1e6).toFixed(ns < 1e7 ? 2 : 1)} ms`;
  return `${(ns / 1e9).toFixed(2)} s`;
}

/** Byte counts as `1 MiB`, `640 KiB`, `4096 B`. */
export function humanBytes(n: number): string {
  if (n >= 1 << 30 && n % (1 << 30) === 0) return `${n / (1 << 30)} GiB`;
  if (n >= 1 << 20 && n % (1 << 20) === 0) return `${n / (1 << 20)} MiB`;
  if (n >= 1 << 10 && n % (1 << 10) === 0) return `${n / (1 << 10)} KiB`;
  return `${n} B`;
}

export function percent(part: number, whole: number): number {
  return whole === 0 ? 0 : (100 * part) / whole;
}

/** Exit reason from a name (`IO`, `io`, `KVM_EXIT_IO`, `EXIT_2`) or a code (`2`, `0x2`). */
export function parseReason(text: string): number | undefined {
  const t = text.trim();
  if (/^(0x[0-9a-f]+|\d+)$/i.test(t)) return Number(t);
  const name = t.toUpperCase().replace(/^KVM_EXIT_/, '');
  const m = /^EXIT_(\d+)$/.exec(name);
  if (m) return Number(m[1]);
  return (EXIT as Record<string, number>)[name];
}

export { exitReasonName };

/** Sregs field value by dotted path (`es.base`, `cr0`, `gdt.limit`); an aarch64 system register by name (`vbar_el1`). */
export function sregsField(s: Sregs, path: string): number | bigint {
  const [a, b] = path.split('.') as [string, string | undefined];
  if (b === undefined) return s[a as (typeof CONTROL_NAMES)[number]];
  if ((SEGMENT_NAMES as readonly string[]).includes(a)) return s[a as (typeof SEGMENT_NAMES)[number]][b as keyof Segment];
  return s[a as 'gdt' | 'idt'][b as 'base' | 'limit'];
}

/** `IO out 0xf1 1×1 48 "H"`, `MMIO write 0x100000 2 5a00`, `HLT` — one record in a few words. */
export function describePayload(r: TraceRecord, maxBytes = 8): string {
  if (r.io) {
    const { port, size, count, direction, data } = r.io;
    return `${r.reasonName} ${direction} ${hx(port)} ${size}${count > 1 ? `×${count}` : ''} ${bytesHex(data, maxBytes)} "${bytesAscii(data, maxBytes)}"`;
  }
  if (r.mmio) {
    const { address, length, write, data } = r.mmio;
    return `${r.reasonName} ${write ? 'write' : 'read'} ${hx(address)} ${length} ${bytesHex(data, maxBytes)}`;
  }
  if (r.detail) return `${r.reasonName} ${JSON.stringify(r.detail)}`;
  return r.kind === 'step' ? `${r.reasonName} (step)` : r.reasonName;
}

/** The program counter's name in a layout: `rip` or `pc` (also the key `--exits --json` gives it). */
export function pcName(layout: RegisterLayout): 'rip' | 'pc' {
  return layout.regNames[layout.pcIndex] as 'rip' | 'pc';
}

/** The program counter straight from the raw register bytes, without decoding them all. */
export function pcOf(r: TraceRecord, layout: RegisterLayout = registerLayout('x86_64')): bigint {
  const b = r.regsBytes;
  return new DataView(b.buffer, b.byteOffset, b.byteLength).getBigUint64(layout.pcIndex * 8, true);
}

/** Byte-wise equality of two byte arrays. */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  if (a.length > 32) return Buffer.compare(a, b) === 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Byte-wise equality of x[xAt, xAt+n) and y[yAt, yAt+n) (payload views of two scanners). */
export function sameBytesAt(x: Uint8Array, xAt: number, y: Uint8Array, yAt: number, n: number): boolean {
  if (n > 32) return Buffer.compare(x.subarray(xAt, xAt + n), y.subarray(yAt, yAt + n)) === 0;
  for (let i = 0; i < n; i++) if (x[xAt + i] !== y[yAt + i]) return false;
  return true;
}

/** Pads/truncates for a fixed-width text column. */
export function col(s: string, width: number, right = false): string {
  if (s.length >= width) return s;
  return right ? s.padStart(width) : s.padEnd(width);
}

/** JSON.stringify replacer that writes bigints as `0x…` strings and byte arrays as hex. */
export function jsonReplacer(_key: string, v: unknown): unknown {
  if (typeof v === 'bigint') return hx(v);
  if (v instanceof Uint8Array) return bytesHex(v);
  return v;
}
