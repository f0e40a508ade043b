// `vmtrace diff` as a library: compares two traces record by record while both stream in
// lockstep, reports the first divergence in detail and counts every difference by kind.
// Records are compared on the reader's scanners, field by field and byte by byte, without
// making record objects; only records that differ (and the few around the first divergence,
// read again from a mark) become TraceRecords. Memory stays flat.
//
// Trace `a` is the EXPECTED one and `b` the ACTUAL one (as in a test: golden trace vs new run).
import { registerLayout, regValue, type ArchName, type RegisterLayout } from '../arch/index.js';
import type { Regs, Sregs } from '../cpu-state.js';
import type { CpuidEntry, TraceFooter, TraceHeader, TraceRecord } from '../trace/format.js';
import type { ChunkReader } from '../trace/chunk.js';
import { openTrace, sameRegisters, type OpenedTrace, type ScanMark, type TraceScanner } from '../trace/reader.js';
import { flagBitNames, replayedUndefinedFlags, type UndefinedFlagsAt } from './undefined-flags.js';
import { oneLine } from '../text/sanitize.js';
import { bytesAscii, bytesHex, describePayload, hx, pcName, pcOf, sameBytes, sameBytesAt, sregsField } from './util.js';

export interface DiffOptions {
  /**
   * List every record whose host timestamps (timeNs, runNs) differ, and count them as failures.
   * Default false: records with other timestamps are only counted (host-dependent: they differ
   * on every run).
   */
  timestamps?: boolean;
  /**
   * Count differing host facts (host.*, createdAt, tool version, CPUID table, CPU choice, host
   * model) as failures. Default false: they are compared, shown and counted as host-dependent.
   */
  host?: boolean;
  /**
   * Every difference is a failure: host-dependent ones (host facts, timestamps, flags that were
   * architecturally undefined) too; they are still labelled host-dependent. Implies timestamps
   * and host.
   */
  exact?: boolean;
  /**
   * RFLAGS bits architecturally undefined at each record of trace a: a record whose RFLAGS differ
   * only in those bits differs in a host-dependent way. Default: found by replaying trace a in
   * the interpreter, the first time a record's RFLAGS differ (src/inspect/undefined-flags.ts).
   * false: no flag is taken as undefined.
   */
  undefinedFlags?: UndefinedFlagsAt | false;
  /** Records of context shown before and after the first divergence (default 3). */
  context?: number;
  /** How many differing records are listed in `records` (default 20; all are counted). */
  maxListed?: number;
  /** @internal false: no chunk is skipped, every record pair is compared (tests check the fast path against it). */
  skipChunks?: boolean;
}

export type DifferenceKind =
  | 'header'
  | 'host'
  | 'kind'
  | 'reason'
  | 'payload'
  | 'registers'
  | 'undefined-flags'
  | 'sregs'
  | 'detail'
  | 'timestamps'
  | 'length'
  | 'truncation'
  | 'footer';

export const DIFFERENCE_KINDS: DifferenceKind[] = [
  'header',
  'host',
  'kind',
  'reason',
  'payload',
  'registers',
  'undefined-flags',
  'sregs',
  'detail',
  'timestamps',
  'length',
  'truncation',
  'footer',
];

/**
 * 'behaviour': the guest did something else (a failure). 'host-dependent': the recording host
 * shows through (host facts, recording date, timestamps, flags left architecturally undefined) —
 * shown and counted, a failure only with `exact` (host facts with `host`, timestamps with
 * `timestamps`).
 */
export type DifferenceClass = 'behaviour' | 'host-dependent';

/** The kinds of difference that are host-dependent; every other kind is behaviour. */
export const HOST_DEPENDENT_KINDS: readonly DifferenceKind[] = ['host', 'timestamps', 'undefined-flags'];

export function classOf(kind: DifferenceKind): DifferenceClass {
  return HOST_DEPENDENT_KINDS.includes(kind) ? 'host-dependent' : 'behaviour';
}

/** Whether a difference of `kind` fails the comparison under `options` (DiffResult.options). */
export function failsUnder(kind: DifferenceKind, options: { timestamps: boolean; host: boolean; exact: boolean }): boolean {
  if (classOf(kind) === 'behaviour' || options.exact) return true;
  if (kind === 'host') return options.host;
  if (kind === 'timestamps') return options.timestamps;
  return false;
}

/** One field that differs: `expected` is trace a's value, `actual` trace b's. */
export interface FieldDiff {
  kind: DifferenceKind;
  /** `guest.sha256`, `reason`, `io.data`, `rax`, `cs.base`, `footer.endReason`, … */
  field: string;
  expected: string;
  actual: string;
  class: DifferenceClass;
  /** What makes it host-dependent, when that is not plain from the kind (`undefined: ZF/PF`). */
  note?: string;
}

export interface RecordDiff {
  index: number;
  /** 'behaviour' when any of its fields is, else 'host-dependent'. */
  class: DifferenceClass;
  fields: FieldDiff[];
}

export interface ContextLine {
  index: number;
  /** The record of trace a in brief, or null when a has no record with this index. */
  expected: string | null;
  actual: string | null;
  /** True when the two records are equal (as compared). */
  same: boolean;
  /** Kinds of difference between the two records (empty when same). */
  differences: DifferenceKind[];
}

export interface TraceSide {
  file: string;
  records: number;
  exits: number;
  steps: number;
  complete: boolean;
  truncated: boolean;
  truncatedAt: number | null;
  endReason: string | null;
  message: string | null;
}

export interface FirstDivergence {
  /** 'record': records at `index` differ; 'length': one trace ends at `index`; 'footer': only the footers differ. */
  where: 'record' | 'length' | 'footer';
  /** Record index (for 'length': the first index only one trace has); null for 'footer'. */
  index: number | null;
  description: string;
  /** Differing fields other than registers. */
  fields: FieldDiff[];
  /** Differing registers and special-register fields, with both values. */
  registers: FieldDiff[];
  /** Records around the divergence from both traces. */
  context: ContextLine[];
}

export interface DiffResult {
  /**
   * No difference that fails: no behaviour difference, and no host-dependent one unless `exact`
   * (host facts: `host`; timestamps: `timestamps`) makes it fail. `hostDependent` says whether
   * the traces are also equal in what depends on the host.
   */
  identical: boolean;
  expected: TraceSide;
  actual: TraceSide;
  options: { timestamps: boolean; host: boolean; exact: boolean };
  /** Record pairs compared (the shorter trace's length). */
  compared: number;
  /** Header differences: kind 'header' (behaviour) and 'host' (host-dependent). */
  header: FieldDiff[];
  /** The first divergence that fails (with `exact`: the first of any class). */
  first: FirstDivergence | null;
  /** Per kind: records with such a difference (length: extra records; header/host/footer: fields; truncation: 0 or 1). */
  counts: Record<DifferenceKind, number>;
  /** Per kind: index of the first record with such a difference. */
  firstIndex: Partial<Record<DifferenceKind, number>>;
  /** Behaviour differences: header fields, records with a behaviour difference, footer fields, and 1 for a length difference. */
  behaviour: number;
  /**
   * Host-dependent differences: host header fields, records whose RFLAGS differ only in undefined
   * bits, and records whose timestamps differ (counts.host + counts['undefined-flags'] + counts.timestamps).
   */
  hostDependent: number;
  /** Records with a listed difference (either class; timestamps only with `timestamps`/`exact`). */
  differingRecords: number;
  /** The first `maxListed` differing records. */
  records: RecordDiff[];
  /** Footer and completeness differences (kinds 'footer' and 'truncation'). */
  footer: FieldDiff[];
}

// ---- comparisons ------------------------------------------------------------------------------

function f(kind: DifferenceKind, field: string, expected: unknown, actual: unknown): FieldDiff {
  return { kind, field, expected: show(expected), actual: show(actual), class: classOf(kind) };
}

function show(v: unknown): string {
  if (typeof v === 'bigint') return hx(v);
  if (typeof v === 'string') return v;
  if (v instanceof Uint8Array) return bytesHex(v, 32);
  if (v === undefined) return '(none)';
  return JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? hx(x) : x));
}

function stable(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) => {
    if (typeof x === 'bigint') return hx(x);
    if (x instanceof Uint8Array) return bytesHex(x);
    if (x && typeof x === 'object' && !Array.isArray(x)) {
      return Object.fromEntries(Object.entries(x as Record<string, unknown>).sort(([p], [q]) => (p < q ? -1 : p > q ? 1 : 0)));
    }
    return x;
  });
}

const X86_LAYOUT = registerLayout('x86_64');

/** Two traces of different architectures: nothing in them compares. */
export class ArchMismatchError extends Error {
  override name = 'ArchMismatchError';
  constructor(a: { file: string; arch: ArchName }, b: { file: string; arch: ArchName }) {
    super(`cannot diff an ${a.arch} trace against an ${b.arch} trace (${a.file} is ${a.arch}, ${b.file} is ${b.arch})`);
  }
}

function sregsDiffs(layout: RegisterLayout, a: Sregs, b: Sregs, prefix = ''): FieldDiff[] {
  return layout.diffSregs(a, b).map((p) => f('sregs', prefix + p, hx(sregsField(a, p)), hx(sregsField(b, p))));
}

/** The registers (by the layout's names) whose values differ. */
function regsDiffs(layout: RegisterLayout, ra: Regs, rb: Regs, kind: DifferenceKind, prefix = ''): FieldDiff[] {
  return layout.regNames.filter((n) => regValue(ra, n) !== regValue(rb, n)).map((n) => f(kind, prefix + n, regValue(ra, n), regValue(rb, n)));
}

/**
 * Header differences: guest image, boot state, memory, devices (kind 'header'), and unless `host`
 * is false the host-dependent facts (kind 'host': host.*, createdAt, tool version, trace format,
 * CPUID table, CPU choice, host model).
 */
export function compareHeaders(a: TraceHeader, b: TraceHeader, host = true): FieldDiff[] {
  const out: FieldDiff[] = [];
  const layout = registerLayout(a.arch);
  const cmp = (kind: DifferenceKind, field: string, x: unknown, y: unknown) => {
    if (stable(x) !== stable(y)) out.push(f(kind, field, typeof x === 'object' ? stable(x) : x, typeof y === 'object' ? stable(y) : y));
  };
  cmp('header', 'guest.sha256', a.guest.sha256, b.guest.sha256);
  cmp('header', 'guest.imageBytes', a.guest.image.length, b.guest.image.length);
  cmp('header', 'guest.loadAddress', hx(a.guest.loadAddress), hx(b.guest.loadAddress));
  cmp('header', 'semantics.singleStep', a.semantics.singleStep, b.semantics.singleStep);
  cmp('header', 'boot.mode', a.boot.mode, b.boot.mode);
  for (const n of layout.regNames) cmp('header', `boot.regs.${n}`, hx(regValue(a.boot.regs, n)), hx(regValue(b.boot.regs, n)));
  for (const d of sregsDiffs(layout, a.boot.sregs, b.boot.sregs, 'boot.sregs.')) out.push({ ...d, kind: 'header' });
  cmp('header', 'memory', a.memory.map((m) => `${m.kind} ${hx(m.base)}+${hx(m.size)}`).join(', '), b.memory.map((m) => `${m.kind} ${hx(m.base)}+${hx(m.size)}`).join(', '));
  const blobs = (h: TraceHeader) => h.initialMemory.map((m) => `${hx(m.address)}+${m.bytes.length}`).join(', ');
  cmp('header', 'initialMemory', blobs(a), blobs(b));
  const n = Math.min(a.initialMemory.length, b.initialMemory.length);
  for (let i = 0; i < n; i++) {
    const x = a.initialMemory[i]!.bytes;
    const y = b.initialMemory[i]!.bytes;
    if (x.length === y.length && !sameBytes(x, y)) {
      let at = 0;
      while (x[at] === y[at]) at++;
      out.push(f('header', `initialMemory[${i}].bytes`, `byte ${at} = ${hx(x[at]!)}`, `byte ${at} = ${hx(y[at]!)}`));
    }
  }
  const devs = (h: TraceHeader) => h.devices.map((d) => `${d.name} ${d.kind} ${hx(d.base)}+${d.length}`).join(', ');
  cmp('header', 'devices', devs(a), devs(b));
  if (host) {
    // Which format the tool wrote says nothing about the guest (a 1.x golden against a 2.0 recording).
    cmp('host', 'format', `${a.format.major}.${a.format.minor}`, `${b.format.major}.${b.format.minor}`);
    cmp('host', 'tool', `${a.tool?.name} ${a.tool?.version}`, `${b.tool?.name} ${b.tool?.version}`);
    cmp('host', 'createdAt', a.createdAt, b.createdAt);
    const keys = new Set([...Object.keys(a.host ?? {}), ...Object.keys(b.host ?? {})]);
    for (const k of keys) cmp('host', `host.${k}`, (a.host as unknown as Record<string, unknown>)[k], (b.host as unknown as Record<string, unknown>)[k]);
    if (stable(a.boot.cpuid) !== stable(b.boot.cpuid)) out.push(cpuidDiff(a.boot.cpuid, b.boot.cpuid));
    cmp('host', 'cpu', a.cpu ?? null, b.cpu ?? null);
    if (stable(a.hostModel ?? null) !== stable(b.hostModel ?? null)) out.push(hostModelDiff(a.hostModel, b.hostModel));
  }
  return out;
}

/** Two CPUID tables in brief: their sizes and the first leaf that differs. */
function cpuidDiff(a: CpuidEntry[], b: CpuidEntry[]): FieldDiff {
  const key = (e: CpuidEntry) => `${hx(e.function)}.${e.index}`;
  const show = (e: CpuidEntry | undefined) => (e ? `${hx(e.eax)} ${hx(e.ebx)} ${hx(e.ecx)} ${hx(e.edx)}` : 'absent');
  const ma = new Map(a.map((e) => [key(e), e]));
  const mb = new Map(b.map((e) => [key(e), e]));
  const keys = [...new Set([...ma.keys(), ...mb.keys()])];
  const k = keys.find((x) => stable(ma.get(x) ?? null) !== stable(mb.get(x) ?? null));
  const leaf = (m: Map<string, CpuidEntry>) => (k === undefined ? '' : `; leaf ${k}: ${show(m.get(k))}`);
  return f('host', 'boot.cpuid', `${a.length} entries${leaf(ma)}`, `${b.length} entries${leaf(mb)}`);
}

/** Two host models in brief: the flag rules and step joins that differ. */
function hostModelDiff(a: TraceHeader['hostModel'], b: TraceHeader['hostModel']): FieldDiff {
  if (!a || !b) return f('host', 'hostModel', a ? `${Object.keys(a.flags).length} flag rules` : '(none)', b ? `${Object.keys(b.flags).length} flag rules` : '(none)');
  const keys = [...new Set([...Object.keys(a.flags), ...Object.keys(b.flags)])].sort().filter((k) => a.flags[k] !== b.flags[k]);
  const side = (m: NonNullable<TraceHeader['hostModel']>) => {
    const parts = keys.slice(0, 3).map((k) => `${k}: ${m.flags[k] ?? '(none)'}`);
    if (keys.length > 3) parts.push(`… ${keys.length - 3} more rules`);
    if (stable(a.step) !== stable(b.step)) parts.push(`joins ${m.step.joins.join(' ') || '(none)'}`);
    return parts.join('; ');
  };
  return f('host', 'hostModel', side(a), side(b));
}

/** Fast equality of two scanners' records (but registers and sregs, which the caller tracks as states). */
function sameScanned(a: TraceScanner, b: TraceScanner, timestamps: boolean): boolean {
  if (a.reason !== b.reason || a.kind !== b.kind) return false;
  if (timestamps && (a.timeNs !== b.timeNs || a.runNs !== b.runNs)) return false;
  if (a.hasIo || b.hasIo) {
    if (!a.hasIo || !b.hasIo) return false;
    if (a.ioPort !== b.ioPort || a.ioSize !== b.ioSize || a.ioOut !== b.ioOut || a.ioCount !== b.ioCount) return false;
    if (a.ioLen !== b.ioLen || !sameBytesAt(a.ioData, a.ioAt, b.ioData, b.ioAt, a.ioLen)) return false;
  }
  if (a.hasMmio || b.hasMmio) {
    if (!a.hasMmio || !b.hasMmio) return false;
    if (a.mmioAddress !== b.mmioAddress || a.mmioLength !== b.mmioLength || a.mmioWrite !== b.mmioWrite) return false;
    if (a.mmioLen !== b.mmioLen || !sameBytesAt(a.mmioData, a.mmioAt, b.mmioData, b.mmioAt, a.mmioLen)) return false;
  }
  if ((a.detail !== undefined || b.detail !== undefined) && stable(a.detail) !== stable(b.detail)) return false;
  return true;
}

/** Every differing field of two records (the slow path, only for records that differ). */
export function compareRecords(a: TraceRecord, b: TraceRecord, opts: { timestamps?: boolean; layout?: RegisterLayout } = {}): FieldDiff[] {
  const layout = opts.layout ?? X86_LAYOUT;
  const out: FieldDiff[] = [];
  if (a.kind !== b.kind) out.push(f('kind', 'kind', a.kind, b.kind));
  if (a.reason !== b.reason) out.push(f('reason', 'reason', `${a.reasonName} (${a.reason})`, `${b.reasonName} (${b.reason})`));
  const x = a.io;
  const y = b.io;
  if (x && y) {
    if (x.port !== y.port) out.push(f('payload', 'io.port', hx(x.port), hx(y.port)));
    if (x.direction !== y.direction) out.push(f('payload', 'io.direction', x.direction, y.direction));
    if (x.size !== y.size) out.push(f('payload', 'io.size', x.size, y.size));
    if (x.count !== y.count) out.push(f('payload', 'io.count', x.count, y.count));
    if (!sameBytes(x.data, y.data)) out.push(f('payload', 'io.data', dataShow(x.data), dataShow(y.data)));
  } else if (x || y) {
    out.push(f('payload', 'io', x ? describeIo(a) : '(none)', y ? describeIo(b) : '(none)'));
  }
  const m = a.mmio;
  const n = b.mmio;
  if (m && n) {
    if (m.address !== n.address) out.push(f('payload', 'mmio.address', hx(m.address), hx(n.address)));
    if (m.write !== n.write) out.push(f('payload', 'mmio.direction', m.write ? 'write' : 'read', n.write ? 'write' : 'read'));
    if (m.length !== n.length) out.push(f('payload', 'mmio.length', m.length, n.length));
    if (!sameBytes(m.data, n.data)) out.push(f('payload', 'mmio.data', dataShow(m.data), dataShow(n.data)));
  } else if (m || n) {
    out.push(f('payload', 'mmio', m ? describeIo(a) : '(none)', n ? describeIo(b) : '(none)'));
  }
  if ((a.detail !== undefined || b.detail !== undefined) && stable(a.detail) !== stable(b.detail)) {
    out.push(f('detail', 'detail', a.detail === undefined ? '(none)' : stable(a.detail), b.detail === undefined ? '(none)' : stable(b.detail)));
  }
  if (opts.timestamps) {
    if (a.timeNs !== b.timeNs) out.push(f('timestamps', 'timeNs', a.timeNs, b.timeNs));
    if (a.runNs !== b.runNs) out.push(f('timestamps', 'runNs', a.runNs, b.runNs));
  }
  if (!sameRegisters(a, b)) out.push(...regsDiffs(layout, a.regs, b.regs, 'registers'));
  if (a.sregs !== b.sregs) out.push(...sregsDiffs(layout, a.sregs, b.sregs));
  return out;
}

function dataShow(d: Uint8Array): string {
  return `${bytesHex(d, 32)} "${bytesAscii(d, 32)}"`;
}

function describeIo(r: TraceRecord): string {
  return describePayload(r, 16);
}

/** One record in a few words, for context lines: `IO out 0xf1 1 48 "H" rip=0x4` (aarch64: `pc=`). */
export function briefRecord(r: TraceRecord, layout: RegisterLayout = X86_LAYOUT): string {
  const what = r.kind === 'step' && !r.io && !r.mmio ? `step ${r.reasonName}` : describePayload(r, 8);
  return `${what} ${pcName(layout)}=${hx(pcOf(r, layout))}`;
}

function side(file: string, t: OpenedTrace, records: number, exits: number): TraceSide {
  return {
    file,
    records,
    exits,
    steps: records - exits,
    complete: t.footer !== undefined,
    truncated: t.truncated,
    truncatedAt: t.truncatedAt ?? null,
    endReason: t.footer?.endReason ?? null,
    message: t.footer?.message ?? null,
  };
}

function compareFooters(a: OpenedTrace, b: OpenedTrace, layout: RegisterLayout): FieldDiff[] {
  const out: FieldDiff[] = [];
  const fa = a.footer;
  const fb = b.footer;
  const state = (t: OpenedTrace) =>
    t.footer ? `complete (footer: ${t.footer.endReason})` : `truncated (no footer${t.truncatedAt !== undefined ? `, incomplete record at byte ${t.truncatedAt}` : ''})`;
  if (!fa || !fb) {
    if (!!fa !== !!fb) out.push(f('truncation', 'complete', state(a), state(b)));
    return out;
  }
  const cmp = (field: keyof TraceFooter) => {
    if (fa[field] !== fb[field]) out.push(f('footer', `footer.${field}`, fa[field], fb[field]));
  };
  cmp('endReason');
  cmp('message');
  cmp('exits');
  cmp('records');
  cmp('status');
  out.push(...regsDiffs(layout, fa.regs, fb.regs, 'footer', 'footer.regs.'));
  for (const d of sregsDiffs(layout, fa.sregs, fb.sregs, 'footer.sregs.')) out.push({ ...d, kind: 'footer' });
  return out;
}

// ---- the lockstep walk ------------------------------------------------------------------------

const REGISTER_KINDS: readonly DifferenceKind[] = ['registers', 'undefined-flags', 'sregs'];

/** Scanner positions are marked every so many records, to read context before a divergence again. */
const MARK_EVERY = 4096;

/**
 * The two scans in lockstep. walk() is synchronous: it compares the record pairs already in
 * memory in a tight loop (V8 optimizes a plain function's loop; the same loop in the async
 * diffTraces would mostly run unoptimized) and stops at a pair that needs a closer look or when
 * a scanner has to read.
 *
 * Runs of records that format 3 chunks hold alike are skipped (skipAlike()): from equal
 * registers and sregs, byte-identical columns (but perhaps the times) decode to pairs that
 * compare equal but for their timestamps. (Chunks of the two traces need not line up: the
 * writer closes them by size, and the times' sizes differ from run to run.)
 */
class Lockstep {
  /** Index of the pair the scanners stand on (or move to next). */
  index = 0;
  /** The scanner stands on record `index`. */
  aOn = false;
  bOn = false;
  /** The pair the scanners stand on compared equal (as far as the fast comparison goes). */
  same = true;
  /** Special registers and registers are compared as states, updated per record. */
  private sregsSame: boolean;
  private regsSame: boolean;
  /** Pairs still to look at closely (context after the first divergence). */
  closer = 0;
  /** Pairs whose host timestamps differ, and the first of them (counted here, on every pair). */
  timesDiffer = 0;
  firstTimes = -1;
  /** Marks (both scans) at least markEvery records apart, the latest at or before `index`. */
  marks: [ScanMark, ScanMark];
  prevMarks: [ScanMark, ScanMark];
  private toMark: number;
  /** The chunks skipAlike() last looked at (it looks once per chunk that comes in). */
  private triedA: ChunkReader | undefined;
  private triedB: ChunkReader | undefined;

  constructor(
    readonly a: TraceScanner,
    readonly b: TraceScanner,
    private readonly layout: RegisterLayout,
    private readonly timestamps: boolean,
    sregsSame: boolean,
    private readonly markEvery: number,
    private readonly skipChunks: boolean,
  ) {
    this.sregsSame = sregsSame;
    this.regsSame = a.sameRegs(b); // the boot registers
    this.marks = this.prevMarks = [a.mark(), b.mark()];
    // The next mark after the first pair already (then every markEvery): V8 sees that code run
    // before it optimizes walk(), rather than deoptimizing it thousands of records in.
    this.toMark = 1;
  }

  /**
   * Compares pairs until one needs a closer look (true: both scanners stand on it; call done()
   * after it) or a scanner must read first (false: call read()).
   */
  walk(): boolean {
    const { a, b } = this;
    for (;;) {
      if (!this.aOn && !this.bOn && this.skipAlike()) continue;
      if (!this.aOn) {
        if (!a.next()) return false;
        this.aOn = true;
      }
      if (!this.bOn) {
        if (!b.next()) return false;
        this.bOn = true;
      }
      if (a.sregsChanged || b.sregsChanged) this.sregsSame = this.layout.diffSregs(a.sregs, b.sregs).length === 0;
      // Registers equal before and the same ones stored: only those can differ now.
      this.regsSame = a.sameRegs(b, this.regsSame && a.regsMask === b.regsMask ? a.regsMask : undefined);
      this.same = this.sregsSame && this.regsSame && sameScanned(a, b, this.timestamps);
      if (a.timeNs !== b.timeNs || a.runNs !== b.runNs) {
        if (this.timesDiffer++ === 0) this.firstTimes = this.index;
      }
      if (!this.same || this.closer > 0) return true;
      this.done();
    }
  }

  /** Moves past the pair the scanners stand on. */
  done(): void {
    this.aOn = this.bOn = false;
    this.passed(1);
  }

  /** `n` more pairs are behind the scanners; a mark once markEvery have passed since the last. */
  private passed(n: number): void {
    this.index += n;
    if ((this.toMark -= n) <= 0) {
      this.toMark = this.markEvery;
      this.prevMarks = this.marks;
      this.marks = [this.a.mark(), this.b.mark()];
    }
  }

  /**
   * Moves past the records the scanners' chunks hold alike, from equal states with no context
   * left to show: where one chunk's rest is the other's next records but for the times (one
   * look per chunk that comes in), the scan whose chunk ends first reads them in full (checked,
   * its state exact) and the other only their times, taking its registers from the first.
   * Times differing pair by pair are counted; with `timestamps` (failures) they must be
   * byte-identical too.
   */
  private skipAlike(): boolean {
    if (!this.skipChunks || this.closer > 0 || !this.regsSame || !this.sregsSame) return false;
    const { a, b } = this;
    const ca = a.chunkLeft;
    const cb = b.chunkLeft;
    if (ca === undefined || cb === undefined || (ca === this.triedA && cb === this.triedB)) return false;
    this.triedA = ca;
    this.triedB = cb;
    const [lead, follow, lc, fc] = ca.left <= cb.left ? [a, b, ca, cb] : [b, a, cb, ca];
    if (!lc.leadsAlike(fc, this.timestamps)) return false;
    const n = lc.left;
    fc.passOver(lc);
    for (let i = 0; lead.next() && follow.nextTimes(); i++) {
      if (a.timeNs !== b.timeNs || a.runNs !== b.runNs) {
        if (this.timesDiffer++ === 0) this.firstTimes = this.index + i;
      }
    }
    follow.takeRegs(lead);
    this.passed(n);
    return true;
  }

  /**
   * Reads until both scanners have a record in memory (they then stand before it) or on it;
   * false when one of the traces has ended.
   */
  async read(): Promise<boolean> {
    if (!this.aOn && !(this.aOn = this.a.next()) && !(await this.a.read())) return false;
    if (!this.bOn && !(this.bOn = this.b.next()) && !(await this.b.read())) return false;
    return true;
  }
}

/**
 * Compares trace `a` (expected) with trace `b` (actual). Throws TraceError when either file is
 * not a readable trace (a truncated trace is fine: that is a difference).
 */
export async function diffTraces(a: string, b: string, opts: DiffOptions = {}): Promise<DiffResult> {
  const exact = opts.exact ?? false;
  const host = opts.host ?? false;
  /** Timestamps compared record by record (listed, failures); otherwise only counted. */
  const timestamps = (opts.timestamps ?? false) || exact;
  const options = { timestamps, host, exact };
  const fails = (d: FieldDiff) => failsUnder(d.kind, options);
  const undefinedAt = opts.undefinedFlags === false ? undefined : (opts.undefinedFlags ?? replayedUndefinedFlags(a));
  /** RFLAGS differences confined to bits undefined at record `index` of a are host-dependent. */
  const classify = async (index: number, ra: TraceRecord, rb: TraceRecord, fields: FieldDiff[]): Promise<FieldDiff[]> => {
    const at = fields.findIndex((d) => d.kind === 'registers' && d.field === 'rflags');
    if (at < 0 || !undefinedAt) return fields;
    const differ = Number((ra.regs.rflags ^ rb.regs.rflags) & 0xffffffffn);
    let mask = 0;
    try {
      mask = await undefinedAt(index);
    } catch {
      mask = 0; // not known: behaviour
    }
    if (differ === 0 || (differ & ~mask) !== 0) return fields;
    const out = fields.slice();
    out[at] = { ...fields[at]!, kind: 'undefined-flags', class: 'host-dependent', note: `undefined here: ${flagBitNames(differ)}` };
    return out;
  };
  const K = Math.max(0, opts.context ?? 3);
  const maxListed = opts.maxListed ?? 20;
  const ta = await openTrace(a);
  let tb: OpenedTrace;
  try {
    tb = await openTrace(b);
  } catch (e) {
    await ta.close();
    throw e;
  }
  if (ta.header.arch !== tb.header.arch) {
    await Promise.all([ta.close(), tb.close()]);
    throw new ArchMismatchError({ file: a, arch: ta.header.arch }, { file: b, arch: tb.header.arch });
  }
  const layout = registerLayout(ta.header.arch);
  const counts = Object.fromEntries(DIFFERENCE_KINDS.map((k) => [k, 0])) as Record<DifferenceKind, number>;
  const firstIndex: Partial<Record<DifferenceKind, number>> = {};
  const records: RecordDiff[] = [];
  let differing = 0;
  /** Records with a failing difference, and with a behaviour difference. */
  let failingRecords = 0;
  let behaviourRecords = 0;
  let first: FirstDivergence | null = null;

  try {
    const header = compareHeaders(ta.header, tb.header, true);
    for (const d of header) counts[d.kind]++;

    const sa = ta.scan();
    const sb = tb.scan();
    const bootSregsSame = layout.diffSregs(ta.header.boot.sregs, tb.header.boot.sregs).length === 0;
    const w = new Lockstep(sa, sb, layout, timestamps, bootSregsSame, Math.max(MARK_EVERY, K), opts.skipChunks ?? true);
    /** Context lines for the K record pairs before index `end` (all equal: no divergence before). */
    const contextBefore = async (end: number): Promise<ContextLine[]> => {
      const from = Math.max(0, end - K);
      if (from === end) return [];
      const [ma, mb] = w.marks[0].index <= from ? w.marks : w.prevMarks;
      const [xa, xb] = await Promise.all([recordsAt(ta, ma, from, end), recordsAt(tb, mb, from, end)]);
      const out: ContextLine[] = [];
      for (let j = 0; j < xa.length; j++) out.push(await contextLine(from + j, xa[j]!, xb[j]!));
      return out;
    };
    const contextLine = async (index: number, x: TraceRecord, y: TraceRecord): Promise<ContextLine> => {
      const fields = await classify(index, x, y, compareRecords(x, y, { timestamps, layout }));
      const differences = [...new Set(fields.map((d) => d.kind))];
      return { index, expected: briefRecord(x, layout), actual: briefRecord(y, layout), same: differences.length === 0, differences };
    };

    for (;;) {
      if (!w.walk()) {
        if (await w.read()) continue;
        break;
      }
      // The slow path, only around differences: records as objects, every field compared.
      const index = w.index;
      const ra = sa.record();
      const rb = sb.record();
      const fields = w.same ? [] : await classify(index, ra, rb, compareRecords(ra, rb, { timestamps, layout }));
      if (fields.length) {
        differing++;
        const kinds = new Set(fields.map((d) => d.kind));
        for (const k of kinds) {
          if (k === 'timestamps') continue; // counted on every pair by the walk
          counts[k]++;
          if (firstIndex[k] === undefined) firstIndex[k] = index;
        }
        const behaviour = fields.some((d) => d.class === 'behaviour');
        if (behaviour) behaviourRecords++;
        const failing = fields.some(fails);
        if (failing) failingRecords++;
        if (records.length < maxListed) records.push({ index, class: behaviour ? 'behaviour' : 'host-dependent', fields });
        if (first === null && failing) {
          const context = await contextBefore(index);
          context.push(await contextLine(index, ra, rb));
          first = {
            where: 'record',
            index,
            description: `records differ in: ${[...kinds].join(', ')}`,
            fields: fields.filter((d) => !REGISTER_KINDS.includes(d.kind)),
            registers: fields.filter((d) => REGISTER_KINDS.includes(d.kind)),
            context,
          };
          w.closer = K; // the pairs after it go into the context, too
          w.done();
          continue;
        }
      }
      if (w.closer > 0 && first !== null) {
        first.context.push(await contextLine(index, ra, rb));
        w.closer--;
      }
      w.done();
    }
    const compared = w.index;
    // One trace has ended; the other may stand on its first extra record.
    const longer = w.aOn || (await sa.advance()) ? sa : w.bOn || (await sb.advance()) ? sb : undefined;

    // One trace may go on: count (and show the start of) its extra records.
    let extra = 0;
    if (longer) {
      const isA = longer === sa;
      const extraLines: ContextLine[] = [];
      let firstExtra: TraceRecord | undefined;
      do {
        if (extraLines.length < Math.max(K, 1)) {
          const r = longer.record();
          firstExtra ??= r;
          const line = briefRecord(r, layout);
          extraLines.push({ index: compared + extra, expected: isA ? line : null, actual: isA ? null : line, same: false, differences: ['length'] });
        }
        extra++;
      } while (longer.next() || (await longer.advance()));
      counts.length = extra;
      firstIndex.length = compared;
      if (first === null) {
        const context = await contextBefore(compared);
        context.push(...extraLines);
        const [shortName, longName] = isA ? ['actual', 'expected'] : ['expected', 'actual'];
        first = {
          where: 'length',
          index: compared,
          description:
            `the ${shortName} trace ends after ${compared} records but the ${longName} trace goes on with ${extra} more, ` +
            `starting with #${compared}: ${briefRecord(firstExtra!, layout)}`,
          fields: [f('length', 'records', isA ? compared + extra : compared, isA ? compared : compared + extra)],
          registers: [],
          context,
        };
      } else if (w.closer > 0) {
        first.context.push(...extraLines.slice(0, w.closer));
      }
    }

    const footer = compareFooters(ta, tb, layout);
    for (const d of footer) counts[d.kind] = d.kind === 'truncation' ? 1 : counts[d.kind] + 1;
    if (first === null && footer.length) {
      first = {
        where: 'footer',
        index: null,
        description: footer.some((d) => d.kind === 'truncation')
          ? 'all records agree, but only one trace is complete'
          : 'all records agree, but the footers (how the runs ended) differ',
        fields: footer.filter((d) => !d.field.startsWith('footer.regs.') && !d.field.startsWith('footer.sregs.')),
        registers: footer.filter((d) => d.field.startsWith('footer.regs.') || d.field.startsWith('footer.sregs.')),
        context: await contextBefore(compared),
      };
    }
    counts.timestamps = w.timesDiffer;
    if (w.firstTimes >= 0) firstIndex.timestamps = w.firstTimes;
    const identical = !header.some(fails) && failingRecords === 0 && !(timestamps && w.timesDiffer) && extra === 0 && footer.length === 0;
    const behaviour = header.filter((d) => d.class === 'behaviour').length + behaviourRecords + footer.length + (extra ? 1 : 0);
    const hostDependent = counts.host + counts['undefined-flags'] + counts.timestamps;
    return {
      identical,
      // (each scan counts the exits it handed out: all of its trace's, the extra records too)
      expected: side(a, ta, longer === sa ? compared + extra : compared, sa.exits),
      actual: side(b, tb, longer === sb ? compared + extra : compared, sb.exits),
      options,
      compared,
      header,
      first,
      counts,
      firstIndex,
      behaviour,
      hostDependent,
      differingRecords: differing,
      records,
      footer,
    };
  } finally {
    await Promise.all([ta.close(), tb.close()]);
  }
}

/** Records [from, end) of a trace, read again from `mark` (at or before `from`). */
async function recordsAt(t: OpenedTrace, mark: ScanMark, from: number, end: number): Promise<TraceRecord[]> {
  const s = t.scanFrom(mark);
  const out: TraceRecord[] = [];
  while (s.index + 1 < end && (s.next() || (await s.advance()))) {
    if (s.index >= from) out.push(s.record());
  }
  return out;
}

// ---- text --------------------------------------------------------------------------------------

function describeSide(s: TraceSide): string {
  const counts = s.steps ? `${s.records} records (${s.exits} exits, ${s.steps} steps)` : `${s.records} exits`;
  const state = s.complete ? `complete, ended ${s.endReason}` : `TRUNCATED (no footer)`;
  return `${counts}, ${state}`;
}

function fieldTable(rows: FieldDiff[], indent = '  ', labels = true): string[] {
  if (!rows.length) return [];
  // values from the traces (host facts, names, the footer message) as one-line text, before the
  // columns are measured
  rows = rows.map((r) => ({ ...r, field: oneLine(r.field), expected: oneLine(r.expected), actual: oneLine(r.actual), ...(r.note !== undefined ? { note: oneLine(r.note) } : {}) }));
  const w = Math.max('field'.length, ...rows.map((r) => r.field.length)) + 2;
  const we = Math.max('expected (a)'.length, ...rows.map((r) => r.expected.length)) + 2;
  const label = (r: FieldDiff) => (labels && r.class === 'host-dependent' ? `   [host-dependent${r.note ? `: ${r.note}` : ''}]` : '');
  return [
    `${indent}${'field'.padEnd(w)}${'expected (a)'.padEnd(we)}actual (b)`,
    ...rows.map((r) => `${indent}${r.field.padEnd(w)}${r.expected.padEnd(we)}${r.actual}${label(r)}`),
  ];
}

const KIND_TEXT: Record<DifferenceKind, string> = {
  header: 'header (image, boot state, memory, devices)',
  host: 'host facts, recording date, CPUID, host model',
  kind: 'record kind (exit/step)',
  reason: 'exit reason',
  payload: 'IO/MMIO payload',
  registers: 'registers',
  'undefined-flags': 'RFLAGS bits left undefined',
  sregs: 'special registers',
  detail: 'exit detail',
  timestamps: 'timestamps',
  length: 'length (extra records in one trace)',
  truncation: 'completeness (one trace is truncated)',
  footer: 'footer (how the run ended)',
};

function plural(n: number, what: string): string {
  return `${n} ${what}${n === 1 ? '' : 's'}`;
}

/** Why host-dependent differences do (or do not) fail under the result's options. */
function hostVerdict(r: DiffResult): string {
  const o = r.options;
  if (o.exact) return 'failures: --exact';
  const failing = [o.host && r.counts.host ? '--host' : '', o.timestamps && r.counts.timestamps ? '--timestamps' : ''].filter(Boolean);
  if (failing.length) return `${failing.join(' and ')} make${failing.length === 1 ? 's' : ''} some of them failures`;
  return 'not failures; --exact makes them failures';
}

/**
 * The host-dependent differences in a few words (`host.kernel, boot.cpuid; RFLAGS undefined bits
 * in 3 records (first #12); timestamps of 1001 records`), '' when there are none. `recordingTimes:
 * false` leaves out what differs between any two recordings (createdAt, timestamps).
 */
export function hostDependentSummary(r: DiffResult, opts: { recordingTimes?: boolean } = {}): string {
  const times = opts.recordingTimes ?? true;
  const parts: string[] = [];
  const fields = r.header.filter((d) => d.class === 'host-dependent' && (times || d.field !== 'createdAt')).map((d) => d.field);
  if (fields.length) parts.push(fields.length > 6 ? `${fields.slice(0, 6).join(', ')}, … ${fields.length - 6} more` : fields.join(', '));
  const flags = r.counts['undefined-flags'];
  if (flags) parts.push(`undefined RFLAGS bits in ${plural(flags, 'record')} (first #${r.firstIndex['undefined-flags']})`);
  if (times && r.counts.timestamps) parts.push(`timestamps of ${plural(r.counts.timestamps, 'record')}`);
  return parts.join('; ');
}

function hostSection(r: DiffResult): string[] {
  if (!r.hostDependent) return [];
  const L: string[] = ['', `Host-dependent differences (${r.hostDependent}; ${hostVerdict(r)}):`];
  L.push(...fieldTable(r.header.filter((d) => d.class === 'host-dependent'), '  ', false));
  const flags = r.counts['undefined-flags'];
  if (flags) {
    L.push(`  RFLAGS differ only in bits left architecturally undefined: ${plural(flags, 'record')} (first #${r.firstIndex['undefined-flags']})`);
    const listed = r.records.filter((x) => x.fields.some((d) => d.kind === 'undefined-flags'));
    for (const rec of listed.slice(0, 5)) {
      const d = rec.fields.find((x) => x.kind === 'undefined-flags')!;
      L.push(`    #${rec.index}: rflags ${d.expected} → ${d.actual} (${d.note ?? 'undefined'})`);
    }
    if (flags > Math.min(5, listed.length)) L.push(`    … ${flags - Math.min(5, listed.length)} more`);
  }
  if (r.counts.timestamps) {
    const listing = r.options.timestamps ? '' : '; listed with --timestamps';
    L.push(`  host timestamps (timeNs, runNs) differ in ${plural(r.counts.timestamps, 'record')} (first #${r.firstIndex.timestamps}${listing})`);
  }
  return L;
}

/**
 * The diff as text: a verdict, the first divergence with expected/actual values and context
 * from both traces, then every kind of difference with counts, and the host-dependent
 * differences in their own section. Written to stand alone as a test failure message.
 */
export function formatDiff(r: DiffResult): string {
  const L: string[] = [];
  if (r.identical) {
    const n = r.expected.steps ? `${r.compared} records: ${r.expected.exits} exits, ${r.expected.steps} steps` : `${r.compared} exits`;
    const trunc = r.expected.truncated ? '; both traces are truncated at the same point' : '';
    if (!r.hostDependent) {
      L.push(`identical (${n}${trunc})`);
      return L.map(oneLine).join('\n') + '\n';
    }
    L.push(`identical but for host-dependent differences (${n}${trunc}): ${r.hostDependent} (${hostVerdict(r)})`);
    L.push(`  host-dependent: ${hostDependentSummary(r)}`);
    L.push(...hostSection(r).slice(2));
    return L.map(oneLine).join('\n') + '\n';
  }
  L.push('traces differ');
  L.push(`  expected (a): ${r.expected.file} — ${describeSide(r.expected)}`);
  L.push(`  actual   (b): ${r.actual.file} — ${describeSide(r.actual)}`);
  const failingKinds = DIFFERENCE_KINDS.filter((k) => r.counts[k] && failsUnder(k, r.options));
  L.push(`  ${plural(r.behaviour, 'behaviour difference')}, ${r.hostDependent} host-dependent (${hostVerdict(r)}); failing: ${failingKinds.join(', ')}`);
  const behaviourHeader = r.header.filter((d) => d.class === 'behaviour');
  if (behaviourHeader.length) {
    L.push('');
    L.push(`Header differences (${behaviourHeader.length}):`);
    L.push(...fieldTable(behaviourHeader));
  }
  const d = r.first;
  if (d) {
    L.push('');
    L.push(
      d.where === 'footer'
        ? `First divergence: after the last record — ${d.description}`
        : d.where === 'length'
          ? `First divergence at record #${d.index}: ${d.description}`
          : `First divergence at record #${d.index} — ${d.description}`,
    );
    L.push(...fieldTable(d.fields));
    if (d.registers.length) {
      if (d.fields.length) L.push('');
      L.push(`  registers that differ (${d.registers.length}):`);
      L.push(...fieldTable(d.registers, '    '));
    }
    if (d.context.length) {
      L.push('');
      L.push('  context (record: expected (a) | actual (b); ">" marks the divergence):');
      const w = Math.max(20, ...d.context.map((c) => (c.expected ?? '(no record)').length)) + 2;
      for (const c of d.context) {
        const mark = c.index === d.index ? '>' : ' ';
        const ex = c.expected ?? '(no record — trace ended)';
        let ac = c.same ? '(same)' : (c.actual ?? '(no record — trace ended)');
        if (!c.same && c.actual !== null && c.expected !== null) ac += `   ≠ ${c.differences.join(', ')}`;
        L.push(`  ${mark}${String(c.index).padStart(8)}  ${ex.padEnd(w)}| ${ac}`);
      }
    }
  }
  L.push('');
  L.push(`Summary (${r.compared} record pairs compared, ${r.differingRecords} differ):`);
  for (const k of DIFFERENCE_KINDS) {
    const n = r.counts[k];
    if (!n) continue;
    let what: string;
    if (k === 'header' || k === 'host' || k === 'footer') what = plural(n, 'field');
    else if (k === 'truncation') what = r.expected.truncated ? 'expected (a) is truncated' : 'actual (b) is truncated';
    else if (k === 'length') what = `${plural(n, 'extra record')} in ${r.expected.records > r.actual.records ? 'expected (a)' : 'actual (b)'} from #${r.firstIndex.length}`;
    else what = `${plural(n, 'record')} (first #${r.firstIndex[k]})`;
    const cls = classOf(k) === 'host-dependent' ? (failsUnder(k, r.options) ? '   [host-dependent, failing]' : '   [host-dependent]') : '';
    L.push(`  ${KIND_TEXT[k].padEnd(46)} ${what}${cls}`);
  }
  if (r.footer.length && d?.where !== 'footer') {
    L.push('');
    L.push('Footer differences:');
    L.push(...fieldTable(r.footer));
  }
  L.push(...hostSection(r));
  if (r.records.length > 1) {
    L.push('');
    L.push(`Differing records (first ${r.records.length}${r.differingRecords > r.records.length ? ` of ${r.differingRecords}` : ''}):`);
    for (const rec of r.records) {
      const parts = rec.fields.slice(0, 4).map((x) => `${x.field} ${x.expected} → ${x.actual}`);
      if (rec.fields.length > 4) parts.push(`… ${rec.fields.length - 4} more`);
      L.push(`  #${rec.index}: ${parts.join('; ')}${rec.class === 'host-dependent' ? '   [host-dependent]' : ''}`);
    }
  }
  // each entry is one line: no trace string breaks it or reaches the terminal raw
  return L.map(oneLine).join('\n') + '\n';
}
