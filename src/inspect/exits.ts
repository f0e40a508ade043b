// `vmtrace inspect --exits` as a library: one row per record, filtered, with the registers that
// changed since the previous record in the file (the boot state for the first record).
import { registerLayout, regValue, type ArchName, type RegisterLayout } from '../arch/index.js';
import type { Regs, Sregs } from '../cpu-state.js';
import type { TraceHeader, TraceRecord } from '../trace/format.js';
import { openTrace } from '../trace/reader.js';
import { RecordCursor } from './cursor.js';
import { oneLine } from '../text/sanitize.js';
import { bytesAscii, bytesHex, col, hx, pcName, sregsField } from './util.js';

export interface ExitFilter {
  /** Exit reason codes to keep (empty/undefined: all). */
  reasons?: number[];
  /** IO ports to keep (records with an IO payload on one of them). */
  ports?: number[];
  /** MMIO addresses: keeps MMIO records whose access covers one of them. */
  addresses?: number[];
  /** First record index to show (inclusive). */
  from?: number;
  /** Last record index to show (inclusive). */
  to?: number;
  /** Stop after this many rows. */
  limit?: number;
}

/** One record as `--exits --json` prints it (a line of NDJSON). 64-bit values are `0x…` strings. */
export interface ExitRow {
  index: number;
  kind: 'exit' | 'step';
  reason: string;
  reasonCode: number;
  timeNs: number;
  runNs: number;
  io?: { port: string; direction: 'in' | 'out'; size: number; count: number; data: string; ascii: string };
  mmio?: { address: string; direction: 'read' | 'write'; length: number; data: string; ascii: string };
  detail?: Record<string, unknown>;
  /** The program counter of an x86_64 trace… */
  rip?: string;
  /** …or of an aarch64 trace (one of the two is set: the layout's name for it). */
  pc?: string;
  /** Registers (not the program counter) whose value differs from the previous record's, with the new value. */
  changed: Record<string, string>;
  /** Special-register fields (`es.base`, `cr0`) that changed, with the new value. */
  sregsChanged: Record<string, string>;
  /**
   * Only with `ExitRowOptions.changes`: every key of `changed` and `sregsChanged` with
   * `[old, new]` (old: the previous record's value).
   */
  changes?: Record<string, [string, string]>;
}

export interface ExitRowOptions {
  /** Add `changes` (old and new values) to every row. */
  changes?: boolean;
  /** How the trace names its registers (default: x86_64's). */
  layout?: RegisterLayout;
}

const X86_LAYOUT = registerLayout('x86_64');

/** What a filter looks at in a record. */
export interface FilteredFields {
  reason: number;
  io?: { port: number };
  mmio?: { address: number; length: number };
}

export function matches(f: ExitFilter, r: FilteredFields, index: number): boolean {
  if (f.from !== undefined && index < f.from) return false;
  if (f.to !== undefined && index > f.to) return false;
  if (f.reasons?.length && !f.reasons.includes(r.reason)) return false;
  const wantPort = !!f.ports?.length;
  const wantAddr = !!f.addresses?.length;
  if (wantPort || wantAddr) {
    const portOk = wantPort && r.io !== undefined && f.ports!.includes(r.io.port);
    const m = r.mmio;
    const addrOk = wantAddr && m !== undefined && f.addresses!.some((a) => a >= m.address && a < m.address + Math.max(1, m.length));
    if (!portOk && !addrOk) return false;
  }
  return true;
}

function changedRegs(layout: RegisterLayout, prev: Regs, cur: Regs, changes?: Record<string, [string, string]>): Record<string, string> {
  const out: Record<string, string> = {};
  layout.regNames.forEach((n, i) => {
    const was = regValue(prev, n);
    const now = regValue(cur, n);
    if (i === layout.pcIndex || was === now) return;
    out[n] = hx(now);
    if (changes) changes[n] = [hx(was), out[n]];
  });
  return out;
}

export function changedSregs(prev: Sregs, cur: Sregs, changes?: Record<string, [string, string]>, layout = X86_LAYOUT): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of layout.diffSregs(prev, cur)) {
    out[f] = hx(sregsField(cur, f));
    if (changes) changes[f] = [hx(sregsField(prev, f)), out[f]];
  }
  return out;
}

export function exitRow(r: TraceRecord, index: number, prevRegs: Regs, prevSregs: Sregs, opts: ExitRowOptions = {}): ExitRow {
  const layout = opts.layout ?? X86_LAYOUT;
  const regs = r.regs;
  const row = {
    index,
    kind: r.kind,
    reason: r.reasonName,
    reasonCode: r.reason,
    timeNs: r.timeNs,
    runNs: r.runNs,
  } as ExitRow;
  if (r.io) {
    const { port, direction, size, count, data } = r.io;
    row.io = { port: hx(port), direction, size, count, data: bytesHex(data), ascii: bytesAscii(data) };
  }
  if (r.mmio) {
    const { address, write, length, data } = r.mmio;
    row.mmio = { address: hx(address), direction: write ? 'write' : 'read', length, data: bytesHex(data), ascii: bytesAscii(data) };
  }
  if (r.detail) row.detail = r.detail;
  const pc = pcName(layout);
  row[pc] = hx(regValue(regs, pc));
  const changes = opts.changes ? {} : undefined;
  row.changed = changedRegs(layout, prevRegs, regs, changes);
  row.sregsChanged = r.sregs === prevSregs ? {} : changedSregs(prevSregs, r.sregs, changes, layout);
  if (changes) row.changes = changes;
  return row;
}

/**
 * Yields the rows that pass `filter`, streaming. Register changes are relative to the previous
 * record in the file, whether or not it passed the filter.
 */
export async function* exitRows(file: string, filter: ExitFilter = {}, opts: ExitRowOptions = {}): AsyncGenerator<ExitRow, void, undefined> {
  const trace = await openTrace(file);
  const c = new RecordCursor(trace);
  try {
    const header: TraceHeader = trace.header;
    const layout = registerLayout(header.arch);
    const rowOpts = { ...opts, layout };
    let prevBytes: Uint8Array | undefined;
    let prevRegs: Regs = header.boot.regs;
    let prevSregs: Sregs = header.boot.sregs;
    let shown = 0;
    let index = 0;
    const limit = filter.limit ?? Infinity;
    if (limit <= 0) return;
    while (await c.ready()) {
      const batch = c.batch;
      const rows: ExitRow[] = [];
      let stop = false;
      for (let i = c.pos; i < batch.length; i++, index++) {
        const r = batch[i]!;
        if (filter.to !== undefined && index > filter.to) {
          stop = true;
          break;
        }
        if (matches(filter, r, index)) {
          if (prevBytes !== undefined) prevRegs = layout.regs(prevBytes);
          rows.push(exitRow(r, index, prevRegs, prevSregs, rowOpts));
          if (++shown >= limit) stop = true;
        }
        prevBytes = r.regsBytes;
        prevSregs = r.sregs;
        if (stop) break;
      }
      c.pos = batch.length;
      yield* rows;
      if (stop) return;
    }
  } finally {
    if (!c.done) await c.stop().catch(() => undefined);
    await trace.close();
  }
}

/** The architecture of the trace in `file` (the header is read, no record). */
export async function traceArch(file: string): Promise<ArchName> {
  const trace = await openTrace(file);
  await trace.close();
  return trace.header.arch;
}

/** Payload bytes a text line shows (data and ascii columns). */
export const TEXT_BYTES = 8;

/**
 * Width of the program-counter column: x86 code mostly runs low; aarch64 RAM starts at
 * 0x40000000, so its PCs take 10 characters and need room for a space after them.
 */
const PC_WIDTH = { rip: 10, pc: 12 } as const;

/** The header of the columns up to the program counter (the `--exits --disasm` line goes on from there). */
export function exitLineLead(layout: RegisterLayout = X86_LAYOUT): string {
  return (
    col('#', 8, true) + '  ' + col('time ms', 12, true) + '  ' + col('reason', 8) + col('port/addr', 12) + col('dir', 6) +
    col('size', 6) + col('data', 2 * TEXT_BYTES + 3) + col('ascii', TEXT_BYTES + 3) + col(pcName(layout), pcColumnWidth(layout))
  );
}

/** The program counter column's width in a layout's listing. */
export function pcColumnWidth(layout: RegisterLayout): number {
  return PC_WIDTH[pcName(layout)];
}

export function exitLineHeader(layout: RegisterLayout = X86_LAYOUT): string {
  return exitLineLead(layout) + 'changed';
}

export const EXIT_LINE_HEADER = exitLineHeader();

/** The columns of a row up to the program counter, padded as exitLineLead(). */
export function exitLeadColumns(row: ExitRow): string {
  let where = '';
  let dir = '';
  let size = '';
  let data = '';
  let ascii = '';
  if (row.io) {
    where = row.io.port;
    dir = row.io.direction;
    size = row.io.count > 1 ? `${row.io.size}×${row.io.count}` : String(row.io.size);
    data = row.io.data;
    ascii = row.io.ascii;
  } else if (row.mmio) {
    where = row.mmio.address;
    dir = row.mmio.direction;
    size = String(row.mmio.length);
    data = row.mmio.data;
    ascii = row.mmio.ascii;
  }
  if (data.length > 2 * TEXT_BYTES) data = data.slice(0, 2 * TEXT_BYTES) + '…';
  if (ascii.length > TEXT_BYTES) ascii = ascii.slice(0, TEXT_BYTES) + '…';
  const reason = row.kind === 'step' && row.reason === 'DEBUG' ? 'step' : row.reason;
  return (
    col(String(row.index), 8, true) + '  ' + col((row.timeNs / 1e6).toFixed(6), 12, true) + '  ' +
    col(reason, 8) + col(where, 12) + col(dir, 6) + col(size, 6) + col(data, 2 * TEXT_BYTES + 3) +
    col(ascii ? `"${ascii}"` : '', TEXT_BYTES + 3) + (row.pc === undefined ? col(row.rip ?? '', PC_WIDTH.rip) : col(row.pc, PC_WIDTH.pc))
  );
}

/** `changes` for a text line: `rax 0x41→0x42 cr0 0x10→0x11`. */
export function formatChanges(changes: Record<string, [string, string]>): string {
  return Object.entries(changes)
    .map(([k, [was, now]]) => `${k} ${was}→${now}`)
    .join(' ');
}

/** One `--exits` text line. */
export function formatExitRow(row: ExitRow): string {
  const changes = [
    ...Object.entries(row.changed).map(([k, v]) => `${k}=${v}`),
    ...Object.entries(row.sregsChanged).map(([k, v]) => `${k}=${v}`),
  ];
  if (row.detail) changes.push(JSON.stringify(row.detail));
  // one line whatever the exit detail's strings hold (JSON.stringify leaves DEL and C1 as they are)
  return oneLine(exitLeadColumns(row) + changes.join(' ')).trimEnd();
}
