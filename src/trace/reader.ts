// Streaming trace reader. Validates every value it hands out and reports problems with the file
// name and byte offset; a trace cut short is readable up to its last complete record.
import { open, type FileHandle } from 'node:fs/promises';
import { Unpackr } from 'msgpackr';

import { REGS_BYTES, regsFromBytes, type Regs, type Sregs } from '../cpu-state.js';
import { SREGS_BYTES, sregsFromBytes } from '../kvm-structs.js';
import { exitReasonName } from './exit-reasons.js';
import {
  FORMAT_MAJOR,
  K,
  KIND_CODE,
  MAGIC_BYTES,
  MAX_HEADER_BYTES,
  MAX_RECORD_BYTES,
  type BootMode,
  type CpuidEntry,
  type EndReason,
  type TraceFooter,
  type TraceHeader,
  type TraceRecord,
} from './format.js';

const CHUNK_BYTES = 4 << 20;

export class TraceError extends Error {
  constructor(
    readonly file: string,
    readonly offset: number,
    readonly problem: string,
  ) {
    super(`${file}: byte offset ${offset}: ${problem}`);
    this.name = 'TraceError';
  }
}

type Obj = Record<string, unknown>;

/** Field checks that name the field and the offset of the value that holds it. */
class Check {
  constructor(
    private readonly file: string,
    private readonly offset: number,
    private readonly what: string,
  ) {}

  fail(problem: string): never {
    throw new TraceError(this.file, this.offset, `${this.what}: ${problem}`);
  }

  obj(v: unknown, name: string): Obj {
    if (v === null || typeof v !== 'object' || Array.isArray(v) || v instanceof Uint8Array) {
      this.fail(`'${name}' must be a map`);
    }
    return v as Obj;
  }

  num(o: Obj, key: string): number {
    const v = o[key];
    if (typeof v !== 'number' || !Number.isFinite(v)) this.fail(`'${key}' must be a number, got ${describe(v)}`);
    return v;
  }

  str(o: Obj, key: string): string {
    const v = o[key];
    if (typeof v !== 'string') this.fail(`'${key}' must be a string, got ${describe(v)}`);
    return v;
  }

  bin(o: Obj, key: string, length?: number): Uint8Array {
    const v = o[key];
    if (!(v instanceof Uint8Array)) this.fail(`'${key}' must be binary, got ${describe(v)}`);
    if (length !== undefined && v.length !== length) this.fail(`'${key}' must be ${length} bytes, got ${v.length}`);
    return v;
  }

  arr(o: Obj, key: string): unknown[] {
    const v = o[key];
    if (!Array.isArray(v)) this.fail(`'${key}' must be an array, got ${describe(v)}`);
    return v;
  }
}

function describe(v: unknown): string {
  if (v instanceof Uint8Array) return `${v.length} bytes of binary`;
  if (Array.isArray(v)) return 'an array';
  if (v === null) return 'nil';
  return typeof v === 'object' ? 'a map' : `${typeof v} ${JSON.stringify(v)}`.slice(0, 40);
}

interface RawValue {
  value: unknown;
  offset: number;
}

/** Splits a file into msgpack values, chunk by chunk, tracking each value's byte offset. */
class ValueStream {
  private readonly unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });
  private pending: Buffer = Buffer.alloc(0);
  private pendingAt = 0;
  private queue: RawValue[] = [];
  private eof = false;
  private position = 0;
  /** Offset where an incomplete value starts when the file ends inside it. */
  truncatedAt: number | undefined;

  constructor(
    private readonly fh: FileHandle,
    private readonly file: string,
  ) {}

  async next(limit: number): Promise<RawValue | undefined> {
    while (this.queue.length === 0) {
      if (this.eof) {
        if (this.pending.length > 0) this.truncatedAt = this.pendingAt;
        return undefined;
      }
      await this.fill(limit);
    }
    return this.queue.shift();
  }

  private async fill(limit: number): Promise<void> {
    const chunk = Buffer.allocUnsafe(CHUNK_BYTES);
    const { bytesRead } = await this.fh.read(chunk, 0, CHUNK_BYTES, this.position);
    this.position += bytesRead;
    if (bytesRead === 0) {
      this.eof = true;
      return;
    }
    const source = this.pending.length ? Buffer.concat([this.pending, chunk.subarray(0, bytesRead)]) : chunk.subarray(0, bytesRead);
    const base = this.pendingAt;
    let consumed = 0;
    try {
      this.unpackr.unpackMultiple(source, (value: unknown, start?: number, end?: number) => {
        this.queue.push({ value, offset: base + (start ?? 0) });
        consumed = end ?? consumed;
      });
    } catch (e) {
      const err = e as { incomplete?: boolean; lastPosition?: number; message?: string };
      consumed = err.lastPosition ?? consumed;
      if (!err.incomplete) {
        throw new TraceError(this.file, base + consumed, `not valid msgpack (${err.message ?? String(e)})`);
      }
    }
    this.pending = source.subarray(consumed);
    this.pendingAt = base + consumed;
    if (this.pending.length > limit) {
      throw new TraceError(this.file, this.pendingAt, `a value longer than ${limit} bytes (corrupt length field?)`);
    }
  }
}

export interface OpenedTrace {
  file: string;
  header: TraceHeader;
  /** Records in file order; after the loop, `footer`/`truncated` tell how the file ended. */
  records(): AsyncGenerator<TraceRecord>;
  footer: TraceFooter | undefined;
  /** True when the file ended without a footer (recording crashed or was cut short). */
  truncated: boolean;
  /** Byte offset where the incomplete tail starts, when truncated inside a value. */
  truncatedAt: number | undefined;
  close(): Promise<void>;
}

export async function openTrace(file: string): Promise<OpenedTrace> {
  let fh: FileHandle;
  try {
    fh = await open(file, 'r');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new TraceError(file, 0, code === 'ENOENT' ? 'no such file' : `cannot open (${code ?? String(e)})`);
  }
  try {
    return await readOpened(fh, file);
  } catch (e) {
    await fh.close();
    throw e;
  }
}

async function readOpened(fh: FileHandle, file: string): Promise<OpenedTrace> {
  const magic = Buffer.alloc(MAGIC_BYTES.length);
  const { bytesRead } = await fh.read(magic, 0, magic.length, 0);
  if (bytesRead < magic.length || !magic.equals(MAGIC_BYTES)) {
    throw new TraceError(file, 0, bytesRead === 0 ? 'empty file, not a vmtrace trace' : 'not a vmtrace trace (wrong magic bytes)');
  }
  const stream = new ValueStream(fh, file);
  await stream.next(MAX_HEADER_BYTES); // the magic string itself
  const raw = await stream.next(MAX_HEADER_BYTES);
  if (!raw) throw new TraceError(file, MAGIC_BYTES.length, 'truncated inside the header');
  const header = decodeHeader(raw.value, file, raw.offset);
  let sregs = header.boot.sregs;

  const trace: OpenedTrace = {
    file,
    header,
    footer: undefined,
    truncated: false,
    truncatedAt: undefined,
    async *records() {
      for (;;) {
        const next = await stream.next(MAX_RECORD_BYTES);
        if (!next) {
          trace.truncated = true;
          trace.truncatedAt = stream.truncatedAt;
          return;
        }
        const c = new Check(file, next.offset, 'record');
        const o = c.obj(next.value, 'record');
        if (o[K.kind] === KIND_CODE.end) {
          trace.footer = decodeFooter(o, c, next.offset);
          const extra = await stream.next(MAX_RECORD_BYTES);
          if (extra) throw new TraceError(file, extra.offset, 'data after the footer');
          return;
        }
        const rec = decodeRecord(o, c, next.offset, sregs);
        sregs = rec.sregs;
        yield rec;
      }
    },
    close: () => fh.close(),
  };
  return trace;
}

function decodeHeader(v: unknown, file: string, offset: number): TraceHeader {
  const c = new Check(file, offset, 'header');
  const h = c.obj(v, 'header');
  const fmt = c.arr(h, 'format');
  const [major, minor] = fmt;
  if (typeof major !== 'number' || typeof minor !== 'number') return c.fail("'format' must be [major, minor]");
  if (major !== FORMAT_MAJOR) {
    c.fail(`trace format ${major}.${minor} is not supported by this vmtrace (reads ${FORMAT_MAJOR}.x); upgrade vmtrace`);
  }
  const guest = c.obj(h.guest, 'guest');
  const boot = c.obj(h.boot, 'boot');
  const mode = c.str(boot, 'mode');
  if (mode !== 'real' && mode !== 'protected' && mode !== 'long') c.fail(`unknown boot mode '${mode}'`);
  const memory = c.arr(h, 'memory').map((m) => {
    const r = c.obj(m, 'memory[]');
    return { base: c.num(r, 'base'), size: c.num(r, 'size'), kind: 'ram' as const };
  });
  const initialMemory = c.arr(h, 'initialMemory').map((m) => {
    const r = c.obj(m, 'initialMemory[]');
    return { address: c.num(r, 'address'), bytes: c.bin(r, 'bytes'), what: c.str(r, 'what') };
  });
  const semantics = c.obj(h.semantics, 'semantics');
  return {
    format: { major, minor },
    tool: c.obj(h.tool, 'tool') as TraceHeader['tool'],
    createdAt: c.str(h, 'createdAt'),
    host: c.obj(h.host, 'host') as unknown as TraceHeader['host'],
    guest: {
      name: c.str(guest, 'name'),
      image: c.bin(guest, 'image'),
      sha256: c.str(guest, 'sha256'),
      loadAddress: c.num(guest, 'loadAddress'),
    },
    memory,
    initialMemory,
    boot: {
      mode: mode as BootMode,
      regs: regsFromBytes(c.bin(boot, 'regs', REGS_BYTES)),
      sregs: sregsFromBytes(c.bin(boot, 'sregs', SREGS_BYTES)),
      cpuid: c.arr(boot, 'cpuid') as CpuidEntry[],
    },
    devices: c.arr(h, 'devices') as TraceHeader['devices'],
    options: c.obj(h.options, 'options'),
    semantics: { registers: 'completed', singleStep: semantics.singleStep === true },
  };
}

function decodeRecord(o: Obj, c: Check, offset: number, prevSregs: Sregs): TraceRecord {
  const kindCode = o[K.kind];
  if (kindCode !== KIND_CODE.exit && kindCode !== KIND_CODE.step) c.fail(`unknown record kind ${describe(kindCode)}`);
  const reason = c.num(o, K.reason);
  const regsBytes = c.bin(o, K.regs, REGS_BYTES);
  const sregsBytes = o[K.sregs] === undefined ? undefined : c.bin(o, K.sregs, SREGS_BYTES);
  let regs: Regs | undefined;
  const rec: TraceRecord = {
    kind: kindCode === KIND_CODE.exit ? 'exit' : 'step',
    seq: c.num(o, K.seq),
    reason,
    reasonName: exitReasonName(reason),
    timeNs: c.num(o, K.time),
    runNs: c.num(o, K.run),
    regsBytes,
    get regs() {
      return (regs ??= regsFromBytes(regsBytes));
    },
    sregs: sregsBytes ? sregsFromBytes(sregsBytes) : prevSregs,
    sregsChanged: sregsBytes !== undefined,
    offset,
  };
  if (o[K.io] !== undefined) {
    const io = c.obj(o[K.io], K.io);
    const size = c.num(io, 'z');
    const count = c.num(io, 'c');
    const data = c.bin(io, 'v');
    if (![1, 2, 4].includes(size)) c.fail(`IO size must be 1, 2 or 4, got ${size}`);
    if (data.length !== size * count) c.fail(`IO data must be size*count = ${size * count} bytes, got ${data.length}`);
    rec.io = { port: c.num(io, 'p'), size, direction: c.num(io, 'o') ? 'out' : 'in', count, data };
  }
  if (o[K.mmio] !== undefined) {
    const mm = c.obj(o[K.mmio], K.mmio);
    const length = c.num(mm, 'l');
    const data = c.bin(mm, 'v');
    if (data.length !== length) c.fail(`MMIO data must be ${length} bytes, got ${data.length}`);
    rec.mmio = { address: c.num(mm, 'a'), length, write: c.num(mm, 'w') !== 0, data };
  }
  if (o[K.detail] !== undefined) rec.detail = c.obj(o[K.detail], K.detail) as TraceRecord['detail'];
  return rec;
}

function decodeFooter(o: Obj, c: Check, offset: number): TraceFooter {
  const footer: TraceFooter = {
    endReason: c.str(o, 'why') as EndReason,
    message: c.str(o, 'msg'),
    exits: c.num(o, 'exits'),
    records: c.num(o, 'records'),
    regs: regsFromBytes(c.bin(o, K.regs, REGS_BYTES)),
    sregs: sregsFromBytes(c.bin(o, K.sregs, SREGS_BYTES)),
    offset,
  };
  if (o.status !== undefined) footer.status = c.num(o, 'status');
  return footer;
}

/** Reads a whole (small) trace into memory: header, records, footer. */
export async function readTrace(file: string): Promise<{
  header: TraceHeader;
  records: TraceRecord[];
  footer: TraceFooter | undefined;
  truncated: boolean;
  truncatedAt: number | undefined;
}> {
  const t = await openTrace(file);
  try {
    const records: TraceRecord[] = [];
    for await (const r of t.records()) records.push(r);
    return { header: t.header, records, footer: t.footer, truncated: t.truncated, truncatedAt: t.truncatedAt };
  } finally {
    await t.close();
  }
}
