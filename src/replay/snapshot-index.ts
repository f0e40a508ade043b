// The snapshot index of a trace (docs/replay.md, "Snapshot index"): snapshots of a replay taken
// every INTERVAL records or instructions, kept in a file next to the trace (TRACE.vmtidx) or in
// the cache directory, so that the state at any record is reached by restoring the nearest one
// and replaying a bounded number of records, not the whole trace. The first use builds it by
// replaying the trace once; a file that does not belong to the trace is rebuilt.
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, realpathSync, rmSync, statSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { sregsFromBytes, sregsToBytes } from '../kvm-structs.js';
import type { TraceRecord } from '../trace/format.js';
import { openTrace, type ScanMark, type TraceScanner } from '../trace/reader.js';
import { diffRegisters } from './compare.js';
import type { Position, StopReason } from './debug-target.js';
import type { ReplayerState } from './engine.js';
import { INDEX_VERSION, IndexMissing, IndexProblem, IndexReader, IndexWriter, traceIdentity, type IndexHeader, type IndexTable } from './index-file.js';
import { ReplaySession, type SessionOptions } from './session.js';
import { changedPages, snapshotFromPlain, type CpuSnapshot, type DisassembledAt, type Plain } from './x86/index.js';
import { describeWriteError } from '../fs-errors.js';
import { beforeStopSignal } from '../stop-signals.js';

/**
 * At most this many records and (about) this many instructions between two snapshots: reaching
 * a record from the snapshot before it replays at most INTERVAL.records records and
 * INTERVAL.instructions instructions plus those of one record.
 */
export const INTERVAL = { records: 4096, instructions: 2_000_000 } as const;
/** Scan marks are kept every so many records (the session re-reads the trace from them). */
const MARK_EVERY = 4096;
const PAGE = 4096;
/** Page numbers in the index: region index × 2^20 + page within the region (regions are at most 4 GiB). */
const REGION_PAGES = 2 ** 20;

/** A scan mark as stored (sregs as their 312 bytes). */
interface StoredMark {
  index: number;
  offset: number;
  regs: Uint8Array;
  sregs: Uint8Array;
  frameAt: number | null;
}

/** A snapshot in the index's table: its position (its state and RAM pages are in frames of their own). */
interface IndexedSnapshot {
  at: Position;
}

/** A snapshot's state frame. */
interface IndexedState {
  cpu: Omit<CpuSnapshot, 'ram'>;
  replayer: ReplayerState;
}

/** How the indexing replay ended, and the trace's size in records. */
interface IndexEnd {
  /** Records in the trace. */
  records: number;
  /** Records the replay matched (fewer: it diverged, or stopped at a nondeterministic instruction). */
  matched: number;
  /** Scan marks of records 0, MARK_EVERY, 2 × MARK_EVERY, … */
  marks: StoredMark[];
}

export interface IndexOptions {
  /** The index file to use and (re)build (`--index FILE`); default: TRACE.vmtidx, else the cache. */
  index?: string;
  /** One-line messages for stderr: the index is built or rebuilt, and why. */
  note?: (line: string) => void;
  /** While building: how far the replay is. */
  onProgress?: (p: { records: number; exits: number; offset: number }) => void;
  /** Snapshot spacing (tests); default INTERVAL. */
  interval?: { records: number; instructions: number };
  /** Replay options (instruction budget); they are part of the index's identity. */
  session?: Pick<SessionOptions, 'maxInstructions' | 'budget'>;
}

/** The state at a record, or why replay did not get there. */
export interface StateAtRecord {
  session: ReplaySession;
  /** The record the state follows. */
  record: TraceRecord;
  /** Records in the trace. */
  records: number;
  /** The instructions executed last, oldest first (the one that made the record's exit last). */
  history: DisassembledAt[];
  readPhysical: (address: number, length: number) => Uint8Array | null;
  /** Set when replay diverged (or stopped) before reaching the record. */
  stop?: Extract<StopReason, { kind: 'divergence' }>['divergence'];
  /** Where replay started from: the snapshot's position. */
  from: Position;
  /** The index used; `built` when this call (re)built it; file undefined when it could not be saved. */
  index: { file: string | undefined; built: boolean; snapshots: number };
  close(): Promise<void>;
}

/** Record `n` is not in the trace. */
export class RecordOutOfRange extends Error {
  override name = 'RecordOutOfRange';
}

// ------------------------------------------------------------------------ where the index lives

function cacheDir(): string {
  return process.env.VMTRACE_CACHE_DIR ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'vmtrace');
}

/** The places an index for `trace` may be, in order: next to it, then in the cache (keyed by its real path). */
export function indexLocations(trace: string, override?: string): string[] {
  if (override !== undefined) return [override];
  let real = trace;
  try {
    real = realpathSync(trace);
  } catch {
    // reported when the trace is opened
  }
  const key = createHash('sha256').update(real).digest('hex').slice(0, 32);
  return [`${trace}.vmtidx`, join(cacheDir(), `index-${basename(trace).replace(/[^\w.-]/g, '_').slice(0, 64)}-${key}.vmtidx`)];
}

// ------------------------------------------------------------------------ identity

const HERE = dirname(fileURLToPath(import.meta.url));
/** The code a snapshot's meaning depends on: the interpreter, the replayer, the session, this index, the trace reader. */
const CODE = [join(HERE, 'x86'), ...['engine', 'session', 'session-records', 'session-snapshots', 'snapshot-index', 'index-file'].map((f) => join(HERE, f)), join(HERE, '..', 'trace', 'reader')];

let codeHash: string | undefined;
/** A hash of that code (.js under dist/, .ts under the tests), once per process. */
function replayCodeHash(): string {
  if (codeHash) return codeHash;
  const h = createHash('sha256');
  const add = (path: string): void => {
    let entries: string[] | undefined;
    try {
      entries = readdirSync(path).sort();
    } catch {
      // a file, named without its extension
    }
    if (entries) for (const e of entries) if (/\.(js|ts)$/.test(e)) h.update(e).update(readFileSync(join(path, e)));
    else for (const ext of ['.js', '.ts']) {
      try {
        h.update(readFileSync(path + ext));
      } catch {
        // not this extension
      }
    }
  };
  for (const p of CODE) add(p);
  return (codeHash = h.digest('hex'));
}

function expectedHeader(trace: string, opts: IndexOptions): Omit<IndexHeader, 'interval' | 'pageSize'> {
  const budget = JSON.stringify(opts.session ?? {});
  return { version: INDEX_VERSION, trace: traceIdentity(trace), code: createHash('sha256').update(replayCodeHash()).update(budget).digest('hex') };
}

// ------------------------------------------------------------------------ building

function storeMark(m: ScanMark): StoredMark {
  return { index: m.index, offset: m.offset, regs: m.regs, sregs: sregsToBytes(m.sregs), frameAt: m.frameAt ?? null };
}

function loadMark(m: StoredMark): ScanMark {
  return { index: m.index, offset: m.offset, regs: m.regs, sregs: sregsFromBytes(m.sregs), ...(m.frameAt === null ? {} : { frameAt: m.frameAt }) };
}

/** Pages of `now` that differ from `before` (by identity: a snapshot shares unchanged pages), as index page numbers. */
function pageDelta(before: CpuSnapshot, now: CpuSnapshot): Array<[number, Uint8Array]> {
  return changedPages(before, now).map(({ region, page }) => [region * REGION_PAGES + page, now.ram[region]!.pages[page]!]);
}

/** Follows the session with a scanner of its own, for the record count and the scan marks. */
class MarkScanner {
  readonly marks: StoredMark[] = [];
  private done = false;

  private constructor(
    private readonly s: TraceScanner,
    private readonly closeTrace: () => Promise<void>,
  ) {
    this.marks.push(storeMark(s.mark()));
  }

  static async open(file: string): Promise<MarkScanner> {
    const t = await openTrace(file);
    return new MarkScanner(t.scan(), () => t.close());
  }

  get offset(): number {
    return this.s.offset;
  }

  get exits(): number {
    return this.s.exits;
  }

  /** Reads on until record `i - 1` is the current one (or the trace ends). */
  async upTo(i: number): Promise<void> {
    while (!this.done && this.s.index + 1 < i) {
      if (!(this.s.next() || (await this.s.advance()))) this.done = true;
      else if ((this.s.index + 1) % MARK_EVERY === 0) this.marks.push(storeMark(this.s.mark()));
    }
  }

  /** Records in the trace (reads to its end). */
  async count(): Promise<number> {
    await this.upTo(Infinity);
    return this.s.index + 1;
  }

  close(): Promise<void> {
    return this.closeTrace();
  }
}

/**
 * Replays the whole trace once, writing a snapshot to `file` whenever `interval` records or
 * instructions have passed since the last one, at the record boundary.
 */
async function buildIndex(trace: string, file: string, header: IndexHeader, opts: IndexOptions): Promise<void> {
  const interval = header.interval;
  const writer = new IndexWriter<IndexedSnapshot>(file, header);
  // a stop signal (Ctrl-C) removes the partial file, then ends the process as it would have
  const release = beforeStopSignal(() => writer.abandon());
  // (the session's own in-memory snapshots are not needed: the index takes its own)
  const session = await ReplaySession.open(trace, { ...opts.session, snapshotInterval: Number.MAX_SAFE_INTEGER });
  const scanner = await MarkScanner.open(trace);
  try {
    let last = session.captureState();
    for (let r = 0; ; r++) {
      const stop = await session.seekRecord(r);
      if (stop !== undefined) break;
      const at = session.position;
      await scanner.upTo(at.records);
      opts.onProgress?.({ records: at.records, exits: scanner.exits, offset: scanner.offset });
      if (at.records - last.at.records < interval.records && at.instructions - last.at.instructions < interval.instructions) continue;
      const now = session.captureState();
      const { ram, ...cpu } = now.cpu;
      writer.add({ at: now.at }, { cpu, replayer: now.replayer } satisfies IndexedState, pageDelta(last.cpu, now.cpu));
      last = now;
    }
    const end: IndexEnd = { records: await scanner.count(), matched: session.position.records, marks: scanner.marks };
    writer.commit(end);
  } catch (e) {
    writer.abandon();
    throw e;
  } finally {
    release();
    await scanner.close();
    await session.close();
  }
}

// ------------------------------------------------------------------------ reading

/** Checks a table read from disk: snapshots in order, fields of the right types. */
function checkTable(t: IndexTable<IndexedSnapshot>): string | undefined {
  const end = t.end as IndexEnd | undefined;
  if (!end || !Number.isSafeInteger(end.records) || !Number.isSafeInteger(end.matched) || !Array.isArray(end.marks)) return 'no end';
  for (const [k, m] of end.marks.entries()) {
    if (m?.index !== k * MARK_EVERY || !Number.isSafeInteger(m.offset) || !(m.regs instanceof Uint8Array) || !(m.sregs instanceof Uint8Array)) return `scan mark ${k}`;
  }
  let prev: Position = { instructions: 0, records: 0 };
  for (const [k, s] of t.snapshots.entries()) {
    const at = s?.at;
    if (!at || !Number.isSafeInteger(at.records) || !Number.isSafeInteger(at.instructions) || at.records < prev.records || at.instructions < prev.instructions) return `snapshot ${k}`;
    if (at.records > end.matched) return `snapshot ${k}`;
    prev = at;
  }
  return undefined;
}

interface OpenedIndex {
  reader: IndexReader<IndexedSnapshot>;
  built: boolean;
  /** A file made only for this run (no writable place): removed at close. */
  temporary: boolean;
}

/**
 * Opens a valid index for `trace`, building (or rebuilding) it first if there is none.
 * `problem`: why the one found before cannot be used (then it is rebuilt without looking).
 */
async function openIndex(trace: string, opts: IndexOptions, problem?: IndexProblem): Promise<OpenedIndex> {
  const expected = expectedHeader(trace, opts);
  const places = indexLocations(trace, opts.index);
  const problems = problem ? [problem.message] : [];
  for (const place of problem ? [] : places) {
    try {
      return { reader: IndexReader.open<IndexedSnapshot>(place, expected, checkTable), built: false, temporary: false };
    } catch (e) {
      if (!(e instanceof IndexProblem)) throw e;
      if (!(e instanceof IndexMissing)) problems.push(e.message);
    }
  }
  const header: IndexHeader = { ...expected, interval: opts.interval ?? INTERVAL, pageSize: PAGE };
  const failures: string[] = [];
  for (const place of [...places, join(tmpdir(), `vmtrace-index-${process.pid}.vmtidx`)]) {
    const temporary = !places.includes(place);
    try {
      mkdirSync(dirname(place), { recursive: true });
      if (statSync(place, { throwIfNoEntry: false })?.isDirectory()) throw Object.assign(new Error('a directory'), { code: 'EISDIR' });
      // (a probe: the writer would fail the same way, but only after the replay)
      new IndexWriter(place, header).abandon();
    } catch (e) {
      failures.push(`${place}: ${describeWriteError(e)}`);
      continue;
    }
    const why = problems.length ? `${problems.join('; ')}: rebuilding` : 'no snapshot index yet: building';
    opts.note?.(`${why} ${temporary ? `a temporary one (${failures.join('; ')})` : place} (replays the whole trace once)`);
    await buildIndex(trace, place, header, opts);
    return { reader: IndexReader.open<IndexedSnapshot>(place, expected, checkTable), built: true, temporary };
  }
  throw new Error(`cannot write a snapshot index anywhere: ${failures.join('; ')}`);
}


/**
 * The machine state right after record `n` matched: from the index's nearest snapshot before
 * it, replaying forward. RecordOutOfRange if the trace has no record n. An index that cannot be
 * used is rebuilt (opts.note says why), never used for an answer.
 */
export async function stateAtRecord(trace: string, n: number, opts: IndexOptions = {}): Promise<StateAtRecord> {
  // an unreadable trace is a TraceError before anything is built
  await (await openTrace(trace)).close();
  let opened = await openIndex(trace, opts);
  for (;;) {
    try {
      return await restoreAndSeek(trace, n, opened, opts);
    } catch (e) {
      cleanUp(opened);
      // (a page frame or snapshot the table check could not see is damaged: rebuild once)
      if (!(e instanceof IndexProblem) || opened.built) throw e;
      rmSync(opened.reader.file, { force: true });
      opened = await openIndex(trace, opts, e);
    }
  }
}

function cleanUp(opened: OpenedIndex): void {
  opened.reader.close();
  if (opened.temporary) rmSync(opened.reader.file, { force: true });
}

async function restoreAndSeek(trace: string, n: number, opened: OpenedIndex, opts: IndexOptions): Promise<StateAtRecord> {
  const { reader } = opened;
  const end = reader.table.end as IndexEnd;
  if (n >= end.records) {
    throw new RecordOutOfRange(`${trace} has ${end.records} record${end.records === 1 ? '' : 's'} (0 to ${end.records - 1}): there is no record ${n}`);
  }
  const session = await ReplaySession.open(trace, opts.session);
  try {
    const snapshots = reader.table.snapshots;
    // the newest snapshot from before record n matched (one from after it would be behind the goal)
    let j = snapshots.length - 1;
    while (j >= 0 && snapshots[j]!.at.records > n) j--;
    const from = j >= 0 ? restore(session, reader, j) : session.position;
    // (the index's scan marks: the session reads records from near the snapshot, not from the first)
    session.addScanMarks(end.marks.slice(1, Math.floor(from.records / MARK_EVERY) + 1).map(loadMark));
    if (j >= 0) await checkRestored(session, reader.file, j, from);
    const stop = await session.seekRecord(n);
    const close = async () => {
      await session.close();
      cleanUp(opened);
    };
    const index = { file: opened.temporary ? undefined : reader.file, built: opened.built, snapshots: snapshots.length };
    const common = { session, records: end.records, from, index, close, readPhysical: physicalReader(session) };
    const record = (await session.recordAt(n))!;
    const history = session.cpu.history(8);
    if (stop?.kind === 'divergence') return { ...common, record, history, stop: stop.divergence };
    // (a guest that halted before its last records: the session replays nothing past that)
    if (stop !== undefined) throw new Error(`${trace}: replay ended after record ${session.position.records - 1}, before record ${n} (${stop.kind})`);
    return { ...common, record, history };
  } catch (e) {
    await session.close();
    throw e;
  }
}

/** Restores snapshot j into a fresh session: its pages over the trace's initial RAM. */
function restore(session: ReplaySession, reader: IndexReader<IndexedSnapshot>, j: number): Position {
  const s = reader.table.snapshots[j]!;
  const st = reader.state(j) as IndexedState | undefined;
  const r = st?.replayer;
  if (typeof st?.cpu !== 'object' || r?.matched !== s.at.records || !Number.isSafeInteger(r.exits) || typeof r.stopped !== 'boolean') {
    throw new IndexProblem(`${reader.file}: corrupt snapshot ${j}`);
  }
  const start = session.captureState();
  const pages = start.cpu.ram.map((r) => ({ ...r, pages: r.pages.slice() }));
  for (const [key, bytes] of reader.pagesUpTo(j)) {
    const region = pages[Math.floor(key / REGION_PAGES)];
    const page = key % REGION_PAGES;
    if (!region || page >= region.pages.length || region.pages[page]!.length !== bytes.length) throw new IndexProblem(`${reader.file}: corrupt: page ${key} is not in the guest's RAM`);
    region.pages[page] = bytes;
  }
  try {
    // (snapshotFromPlain checks every field the interpreter restores)
    const cpu = snapshotFromPlain({ ...(st.cpu as Record<string, Plain>), delta: false, ram: pages as unknown as Plain[] });
    session.restoreState({ at: s.at, cpu, replayer: st.replayer });
  } catch (e) {
    throw new IndexProblem(`${reader.file}: corrupt snapshot ${j} (${e instanceof Error ? e.message : String(e)})`);
  }
  return s.at;
}

/**
 * A restored snapshot must have the registers the trace recorded at the record before it (a
 * last guard against an index that passed its checksums but does not fit).
 */
async function checkRestored(session: ReplaySession, file: string, j: number, at: Position): Promise<void> {
  const rec = await session.recordAt(at.records - 1);
  if (!rec || diffRegisters(rec.regs, session.regs(), BigInt(session.cpu.undefinedFlagsNow)).length) {
    throw new IndexProblem(`${file}: snapshot ${j} does not have the registers the trace recorded at record ${at.records - 1}`);
  }
}

function physicalReader(session: ReplaySession): StateAtRecord['readPhysical'] {
  return (address, length) => {
    const r = session.cpu.ram.find((x) => address >= x.base && address + length <= x.base + x.bytes.length);
    return r ? r.bytes.slice(address - r.base, address - r.base + length) : null;
  };
}

export { IndexProblem };
