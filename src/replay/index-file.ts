// The on-disk container of a snapshot index (docs/replay.md, "Snapshot index"): a msgpack
// stream of a magic string and then frames `[crc32, bin]`, each bin one msgpack value:
//
//   "vmtrace-index"  header  state(0) pages(0)  state(1) pages(1) … table  trailer
//
// `state(j)`: snapshot j's CPU and replayer state; `pages(j)`: the RAM pages it changed since
// snapshot j-1 (each change stored once); `table`: every snapshot's position and where its two
// frames lie; `trailer`: a msgpack uint64 (9 bytes, `cf` + big-endian) with the table frame's
// offset. A reader reads the header, the table, one state frame and the page frames up to the
// snapshot it restores. Written to a `.partial` file renamed into place when complete; every
// frame is checksummed, so a corrupt or foreign file is refused (IndexProblem), never half-used.
import { createHash } from 'node:crypto';
import { closeSync, fstatSync, openSync, readSync, renameSync, rmSync, writeSync } from 'node:fs';
import { crc32 } from 'node:zlib';
import { Packr, Unpackr } from 'msgpackr';

export const INDEX_MAGIC = 'vmtrace-index';
/** The container's layout and the meaning of its fields; bumped on any change. */
export const INDEX_VERSION = 1;
const TRAILER_BYTES = 9;
/** Bytes hashed at each end of the trace for its identity (covers the header and footer frame heads, with their CRCs). */
const ENDS_BYTES = 64 << 10;

// plain msgpack (no record extension): any msgpack library reads the file
const packr = new Packr({ useRecords: false });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });

/** The index file cannot be used: it is missing, foreign, stale or corrupt. Rebuild it. */
export class IndexProblem extends Error {
  override name = 'IndexProblem';
}

/** There is no index file (yet). */
export class IndexMissing extends IndexProblem {
  override name = 'IndexMissing';
}

/** What identifies a trace file's content cheaply (without reading it whole). */
export interface TraceIdentity {
  size: number;
  mtimeMs: number;
  /** sha256 of the first and last 64 KiB. */
  head: string;
  tail: string;
}

export function traceIdentity(file: string): TraceIdentity {
  const fd = openSync(file, 'r');
  try {
    const st = fstatSync(fd);
    const hashAt = (at: number) => {
      const n = Math.min(ENDS_BYTES, st.size - at);
      const b = Buffer.alloc(Math.max(0, n));
      if (n > 0) readSync(fd, b, 0, n, at);
      return createHash('sha256').update(b).digest('hex');
    };
    return { size: st.size, mtimeMs: st.mtimeMs, head: hashAt(0), tail: hashAt(Math.max(0, st.size - ENDS_BYTES)) };
  } finally {
    closeSync(fd);
  }
}

/** The index header: which trace and which code the snapshots belong to. */
export interface IndexHeader {
  version: number;
  trace: TraceIdentity;
  /** A hash of the interpreter's and replay engine's code: snapshots of other code are not restored. */
  code: string;
  /** Snapshot spacing used: at most this many records / instructions between two snapshots. */
  interval: { records: number; instructions: number };
  pageSize: number;
}

/** Where a frame lies. */
export interface FrameRef {
  at: number;
  length: number;
}

export interface IndexTable<T> {
  snapshots: Array<T & { state: FrameRef; pages: FrameRef }>;
  /** How the indexing replay ended (kept as the builder gives it). */
  end: unknown;
}

function frame(value: unknown): Buffer {
  const body = packr.pack(value);
  return packr.pack([crc32(body), body]);
}

function unframe(file: string, at: number, value: unknown): unknown {
  if (!Array.isArray(value) || value.length !== 2 || typeof value[0] !== 'number' || !(value[1] instanceof Uint8Array)) {
    throw new IndexProblem(`${file}: byte offset ${at}: corrupt: not a frame`);
  }
  if (crc32(value[1]) !== value[0]) throw new IndexProblem(`${file}: byte offset ${at}: corrupt: checksum mismatch`);
  try {
    return unpackr.unpack(value[1]);
  } catch {
    throw new IndexProblem(`${file}: byte offset ${at}: corrupt: invalid msgpack`);
  }
}

/** Streams an index to `<file>.<pid>.partial`; commit() renames it into place. */
export class IndexWriter<T> {
  private readonly partial: string;
  private readonly fd: number;
  private offset = 0;
  private readonly snapshots: Array<T & { state: FrameRef; pages: FrameRef }> = [];

  /** Throws the file system's error when the file cannot be created. */
  constructor(
    private readonly file: string,
    header: IndexHeader,
  ) {
    this.partial = `${file}.${process.pid}.partial`;
    this.fd = openSync(this.partial, 'w');
    try {
      this.write(packr.pack(INDEX_MAGIC));
      this.write(frame(header));
    } catch (e) {
      this.abandon();
      throw e;
    }
  }

  private write(b: Buffer): FrameRef {
    const at = this.offset;
    writeSync(this.fd, b, 0, b.length, at);
    this.offset += b.length;
    return { at, length: b.length };
  }

  /**
   * A snapshot: `meta` for the table (its position), its `state`, and the pages changed since
   * the one before (page number → bytes).
   */
  add(meta: T, state: unknown, pages: ReadonlyArray<readonly [page: number, bytes: Uint8Array]>): void {
    const n = this.snapshots.length;
    const stateRef = this.write(frame({ n, state }));
    const pagesRef = this.write(frame({ n, p: pages.map(([p]) => p), b: pages.map(([, b]) => b) }));
    this.snapshots.push({ ...meta, state: stateRef, pages: pagesRef });
  }

  get count(): number {
    return this.snapshots.length;
  }

  commit(end: unknown): void {
    try {
      const table = this.write(frame({ snapshots: this.snapshots, end } satisfies IndexTable<T>));
      const trailer = Buffer.alloc(TRAILER_BYTES);
      trailer[0] = 0xcf;
      trailer.writeBigUInt64BE(BigInt(table.at), 1);
      this.write(trailer);
    } catch (e) {
      this.abandon();
      throw e;
    }
    closeSync(this.fd);
    renameSync(this.partial, this.file);
  }

  /** Removes the partial file (an error, or the build was given up). */
  abandon(): void {
    try {
      closeSync(this.fd);
    } catch {
      // already closed
    }
    rmSync(this.partial, { force: true });
  }
}

/** An index file opened for reading: header and table checked, page frames read on demand. */
export class IndexReader<T> {
  private constructor(
    readonly file: string,
    private readonly fd: number,
    readonly header: IndexHeader,
    readonly table: IndexTable<T>,
  ) {}

  /**
   * Opens `file` and checks it belongs to `expected` (trace identity, code, version): else an
   * IndexProblem saying why (missing, stale, corrupt). `check` validates the table's entries.
   */
  static open<T>(file: string, expected: Omit<IndexHeader, 'interval' | 'pageSize'>, check: (t: IndexTable<T>) => string | undefined): IndexReader<T> {
    let fd: number;
    try {
      fd = openSync(file, 'r');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') throw new IndexMissing(`${file}: no index yet`);
      throw new IndexProblem(`${file}: cannot read (${code ?? String(e)})`);
    }
    try {
      const size = fstatSync(fd).size;
      const read = (at: number, n: number) => {
        const b = Buffer.alloc(n);
        if (readSync(fd, b, 0, n, at) !== n) throw new IndexProblem(`${file}: byte offset ${at}: truncated`);
        return b;
      };
      const start = read(0, Math.min(size, 64 << 10));
      const values: Array<{ value: unknown; end: number }> = [];
      try {
        unpackr.unpackMultiple(start, (value: unknown, _s?: number, end?: number) => {
          values.push({ value, end: end! });
          return values.length < 2;
        });
      } catch {
        // a cut frame: fewer than two values, reported below
      }
      if (values[0]?.value !== INDEX_MAGIC) throw new IndexProblem(`${file}: not a vmtrace snapshot index (wrong magic)`);
      if (values.length < 2) throw new IndexProblem(`${file}: byte offset ${values[0].end}: corrupt: no header`);
      const header = unframe(file, values[0].end, values[1]!.value) as IndexHeader;
      if (header?.version !== expected.version) throw new IndexProblem(`${file}: index version ${String(header?.version)}, this vmtrace writes ${expected.version}`);
      const t = expected.trace;
      const h = header.trace;
      if (h?.size !== t.size || h.mtimeMs !== t.mtimeMs || h.head !== t.head || h.tail !== t.tail) throw new IndexProblem(`${file}: made for another version of the trace (it changed since)`);
      if (header.code !== expected.code) throw new IndexProblem(`${file}: made by another version of the replay code`);
      if (size < values[1]!.end + TRAILER_BYTES) throw new IndexProblem(`${file}: truncated`);
      const trailer = read(size - TRAILER_BYTES, TRAILER_BYTES);
      const tableAt = trailer[0] === 0xcf ? Number(trailer.readBigUInt64BE(1)) : -1;
      if (!(tableAt >= values[1]!.end && tableAt < size - TRAILER_BYTES)) throw new IndexProblem(`${file}: corrupt or truncated: no table`);
      let tableValue: unknown;
      try {
        tableValue = unpackr.unpack(read(tableAt, size - TRAILER_BYTES - tableAt));
      } catch {
        throw new IndexProblem(`${file}: byte offset ${tableAt}: corrupt: invalid msgpack`);
      }
      const table = unframe(file, tableAt, tableValue) as IndexTable<T>;
      if (!table || !Array.isArray(table.snapshots)) throw new IndexProblem(`${file}: byte offset ${tableAt}: corrupt table`);
      let next = values[1]!.end;
      for (const s of table.snapshots) {
        for (const ref of [s?.state, s?.pages]) {
          if (ref?.at !== next || !Number.isSafeInteger(ref.length) || ref.length <= 0) throw new IndexProblem(`${file}: byte offset ${tableAt}: corrupt table (frames out of place)`);
          next += ref.length;
        }
      }
      if (next !== tableAt) throw new IndexProblem(`${file}: byte offset ${tableAt}: corrupt table (frames out of place)`);
      const bad = check(table);
      if (bad) throw new IndexProblem(`${file}: byte offset ${tableAt}: corrupt table (${bad})`);
      return new IndexReader(file, fd, header, table);
    } catch (e) {
      closeSync(fd);
      if (e instanceof IndexProblem) throw e;
      throw new IndexProblem(`${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
    }
  }

  /** One frame's value, checked against its checksum and its snapshot number. */
  private frameAt(ref: FrameRef, n: number): Record<string, unknown> {
    const b = Buffer.alloc(ref.length);
    if (readSync(this.fd, b, 0, ref.length, ref.at) !== ref.length) throw new IndexProblem(`${this.file}: byte offset ${ref.at}: truncated`);
    let value: unknown;
    try {
      value = unpackr.unpack(b);
    } catch {
      throw new IndexProblem(`${this.file}: byte offset ${ref.at}: corrupt: invalid msgpack`);
    }
    const v = unframe(this.file, ref.at, value) as Record<string, unknown> | null;
    if (v?.n !== n) throw new IndexProblem(`${this.file}: byte offset ${ref.at}: corrupt: not the frame of snapshot ${n}`);
    return v;
  }

  /** Snapshot j's state as add() was given it. */
  state(j: number): unknown {
    return this.frameAt(this.table.snapshots[j]!.state, j).state;
  }

  /** Every page snapshots 0..j changed, the latest content of each (page number → bytes). */
  pagesUpTo(j: number): Map<number, Uint8Array> {
    const out = new Map<number, Uint8Array>();
    for (let k = 0; k <= j; k++) {
      const ref = this.table.snapshots[k]!.pages;
      const f = this.frameAt(ref, k) as { p?: unknown; b?: unknown };
      const bad = () => new IndexProblem(`${this.file}: byte offset ${ref.at}: corrupt page frame`);
      if (!Array.isArray(f.p) || !Array.isArray(f.b) || f.p.length !== f.b.length) throw bad();
      for (let i = 0; i < f.p.length; i++) {
        const page: unknown = f.p[i];
        const bytes: unknown = f.b[i];
        if (!Number.isSafeInteger(page) || !(bytes instanceof Uint8Array) || bytes.length > this.header.pageSize) throw bad();
        out.set(page as number, bytes);
      }
    }
    return out;
  }

  close(): void {
    closeSync(this.fd);
  }
}
