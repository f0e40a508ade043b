// `--perfetto`: a timeline of the trace for https://ui.perfetto.dev, written while the trace
// streams by, as Chrome Trace Event JSON (also opens in chrome://tracing) or as Perfetto's own
// protobuf trace (TracePacket/TrackEvent, smaller and faster to load). One slice per record on
// the vCPU's track, spanning its time in KVM_RUN (entry to exit), and a counter track with the
// exit rate per millisecond. Above a limit, consecutive records are merged into slices with
// counts, so that a long trace still opens quickly (see PerfettoOptions.group).
// References: "Trace Event Format" (Google), JSON Object Format; Perfetto's
// protos/perfetto/trace/trace_packet.proto and track_event/*.proto.
import { closeSync, openSync, writeSync } from 'node:fs';

import type { TraceHeader, TraceRecord } from '../trace/format.js';
import { openTrace, type TraceScanner } from '../trace/reader.js';
import { ProtoWriter } from './protobuf.js';
import type { TraceEnd, TraceSink } from './summary.js';
import { registerLayout } from '../arch/index.js';
import { bytesAscii, bytesHex, hx, hxWords, pcName } from './util.js';

/** Process id used for the guest; the vCPU is thread (track) 0 — vmtrace guests have one vCPU. */
export const PERFETTO_PID = 1;
export const PERFETTO_VCPU_TID = 0;
/** Default most slices an export draws (`--perfetto-limit`): more records are merged. */
export const PERFETTO_SLICE_LIMIT = 100_000;
const FLUSH_BYTES = 1 << 20;
const NS_PER_MS = 1_000_000;

export type PerfettoFormat = 'json' | 'proto';

export interface PerfettoOptions {
  /** 'json' (Chrome Trace Event JSON, the default) or 'proto' (Perfetto protobuf). */
  format?: PerfettoFormat;
  /** First record index to export (inclusive). */
  from?: number;
  /** Last record index to export (inclusive). */
  to?: number;
  /**
   * Records per window (default 1: a slice per record). Above 1, the range is cut into windows
   * of `group` consecutive records; a window is named by the exit reasons it holds (`IO`,
   * `IO+MMIO`) and consecutive windows of the same name make one slice, with the record count,
   * first and last index, time in KVM_RUN and count per reason as its args. perfettoGroup()
   * picks it for a slice limit.
   */
  group?: number;
}

/** Format from the file name: `.pftrace`, `.perfetto-trace`, `.pb` and `.proto` are protobuf. */
export function perfettoFormatOf(path: string): PerfettoFormat {
  return /\.(pftrace|perfetto-trace|pb|proto)$/i.test(path) ? 'proto' : 'json';
}

/** The window size that draws `records` records in at most `limit` slices (0: no limit). */
export function perfettoGroup(records: number, limit: number): number {
  return limit > 0 && records > limit ? Math.ceil(records / limit) : 1;
}

/** Number of records of `file` in [from, to] (one quick pass, no record objects). */
export async function recordsInRange(file: string, from = 0, to = Infinity): Promise<number> {
  const trace = await openTrace(file);
  try {
    const s = trace.scan();
    let last = -1;
    do {
      last = lastIndexUpTo(s, to, last);
      if (last >= to) break;
    } while (await s.read());
    return Math.max(0, Math.min(last, to) - from + 1);
  } finally {
    await trace.close();
  }
}

/** Steps over the records in memory up to index `to`; the last index seen. A plain loop V8 optimizes. */
function lastIndexUpTo(s: TraceScanner, to: number, last: number): number {
  while (last < to && s.next()) last = s.index;
  return last;
}

/** Microseconds with nanosecond precision, as JSON numbers (`7090.932`). */
function us(ns: number): string {
  const whole = Math.floor(ns / 1000);
  const frac = ns - whole * 1000;
  if (frac === 0) return String(whole);
  return `${whole}.${String(Math.round(frac)).padStart(3, '0').replace(/0+$/, '')}`;
}

/** Slice arguments, as key/value pairs: numbers, strings, or an object written as JSON. */
type Args = (string | number | object)[];

/** Where the events go: the JSON or the protobuf file. */
interface EventEncoder {
  /** Events written (JSON: trace events, protobuf: packets). */
  events: number;
  start(h: TraceHeader): void;
  slice(name: string, cat: string, startNs: number, durNs: number, args: Args): void;
  counter(tsNs: number, exits: number): void;
  instant(name: string, tsNs: number, message: string): void;
  finish(): void;
}

class JsonEncoder implements EventEncoder {
  private buf = '';
  private first = true;
  events = 0;

  constructor(private readonly fd: number) {}

  start(h: TraceHeader): void {
    const meta = {
      guest: h.guest.name,
      sha256: h.guest.sha256,
      createdAt: h.createdAt,
      host: `${h.host.kernel} ${h.host.kvmModule} ${h.host.cpuVendor} ${h.host.cpuModel}`,
      tool: `${h.tool?.name} ${h.tool?.version}`,
      singleStep: h.semantics.singleStep,
    };
    this.buf += `{"displayTimeUnit":"ns","otherData":${JSON.stringify(meta)},"traceEvents":[\n`;
    this.event({ name: 'process_name', ph: 'M', pid: PERFETTO_PID, tid: PERFETTO_VCPU_TID, args: { name: `guest ${h.guest.name}` } });
    this.event({ name: 'thread_name', ph: 'M', pid: PERFETTO_PID, tid: PERFETTO_VCPU_TID, args: { name: 'vCPU 0' } });
    this.event({ name: 'thread_sort_index', ph: 'M', pid: PERFETTO_PID, tid: PERFETTO_VCPU_TID, args: { sort_index: 0 } });
  }

  private event(e: object): void {
    this.raw(JSON.stringify(e));
  }

  private raw(json: string): void {
    this.buf += this.first ? json : ',\n' + json;
    this.first = false;
    this.events++;
    if (this.buf.length >= FLUSH_BYTES) this.flush();
  }

  private flush(): void {
    if (this.buf) writeSync(this.fd, this.buf);
    this.buf = '';
  }

  slice(name: string, cat: string, startNs: number, durNs: number, args: Args): void {
    let a = '';
    for (let i = 0; i < args.length; i += 2) {
      const v = args[i + 1]!;
      a += `${i ? ',' : ''}"${args[i] as string}":${typeof v === 'number' ? v : JSON.stringify(v)}`;
    }
    this.raw(`{"name":"${name}","cat":"${cat}","ph":"X","ts":${us(startNs)},"dur":${us(durNs)},"pid":${PERFETTO_PID},"tid":${PERFETTO_VCPU_TID},"args":{${a}}}`);
  }

  counter(tsNs: number, exits: number): void {
    this.raw(`{"name":"exits/ms","ph":"C","ts":${us(tsNs)},"pid":${PERFETTO_PID},"tid":${PERFETTO_VCPU_TID},"args":{"exits":${exits}}}`);
  }

  instant(name: string, tsNs: number, message: string): void {
    this.event({ name, ph: 'i', s: 't', ts: Number(us(tsNs)), pid: PERFETTO_PID, tid: PERFETTO_VCPU_TID, args: { message } });
  }

  finish(): void {
    this.buf += '\n]}\n';
    this.flush();
  }
}

// Field numbers of Perfetto's trace protos (protos/perfetto/trace/…).
const TRACE_PACKET = 1; // Trace.packet
const P = { timestamp: 8, trustedPacketSequenceId: 10, trackEvent: 11, internedData: 12, sequenceFlags: 13, trackDescriptor: 60 } as const;
const TD = { uuid: 1, name: 2, process: 3, parentUuid: 5, counter: 8 } as const; // TrackDescriptor
const PD = { pid: 1, processName: 6 } as const; // ProcessDescriptor
const TE = { categoryIids: 3, debugAnnotations: 4, type: 9, nameIid: 10, trackUuid: 11, counterValue: 30 } as const; // TrackEvent
const TYPE = { sliceBegin: 1, sliceEnd: 2, instant: 3, counter: 4 } as const; // TrackEvent.Type
const DA = { nameIid: 1, intValue: 4, stringValue: 6 } as const; // DebugAnnotation
const ID = { eventCategories: 1, eventNames: 2, debugAnnotationNames: 3 } as const; // InternedData
const INTERNED = { iid: 1, name: 2 } as const; // EventCategory, EventName, DebugAnnotationName
const SEQ_INCREMENTAL_STATE_CLEARED = 1;
const SEQ_NEEDS_INCREMENTAL_STATE = 2;
/** Packet sequence of every packet (one writer); track uuids. */
const SEQUENCE = 1;
const PROCESS_TRACK = 1;
const VCPU_TRACK = 2;
const RATE_TRACK = 3;

/**
 * Perfetto protobuf: a Trace message (repeated TracePacket). Tracks are declared by
 * TrackDescriptors (the guest process, its vCPU track, the exit-rate counter); slices are
 * TYPE_SLICE_BEGIN/END pairs; names, categories and argument names are interned on the one
 * packet sequence (each emitted in the first packet that uses it).
 */
class ProtoEncoder implements EventEncoder {
  private readonly w = new ProtoWriter();
  private readonly names = new Map<string, number>();
  private readonly categories = new Map<string, number>();
  private readonly argNames = new Map<string, number>();
  /** Interned entries the packet being written introduces: [InternedData field, iid, name]. */
  private fresh: [number, number, string][] = [];
  /** End of the last slice: the next begins no earlier (slices on a track must nest). */
  private lastEndNs = 0;
  events = 0;

  constructor(private readonly fd: number) {}

  private intern(table: Map<string, number>, field: number, s: string): number {
    let iid = table.get(s);
    if (iid === undefined) {
      table.set(s, (iid = table.size + 1)); // iids start at 1 (0 is "not set")
      this.fresh.push([field, iid, s]);
    }
    return iid;
  }

  /** Writes one TracePacket: `body` writes its TrackEvent or descriptor fields. */
  private packet(timestampNs: number | undefined, flags: number, body: (w: ProtoWriter) => void): void {
    const w = this.w;
    const at = w.begin(TRACE_PACKET);
    if (timestampNs !== undefined) w.uint(P.timestamp, Math.round(timestampNs));
    w.uint(P.trustedPacketSequenceId, SEQUENCE);
    w.uint(P.sequenceFlags, flags);
    body(w);
    if (this.fresh.length) {
      const id = w.begin(P.internedData);
      for (const [field, iid, name] of this.fresh) {
        const e = w.begin(field);
        w.uint(INTERNED.iid, iid);
        w.string(INTERNED.name, name);
        w.end(e);
      }
      w.end(id);
      this.fresh = [];
    }
    w.end(at);
    this.events++;
    if (w.length >= FLUSH_BYTES) this.flush();
  }

  private flush(): void {
    if (this.w.length) writeSync(this.fd, this.w.bytes());
    this.w.reset();
  }

  private track(uuid: number, name: string, fill: (w: ProtoWriter) => void, flags = SEQ_NEEDS_INCREMENTAL_STATE): void {
    this.packet(undefined, flags, (w) => {
      const td = w.begin(P.trackDescriptor);
      w.uint(TD.uuid, uuid);
      w.string(TD.name, name);
      fill(w);
      w.end(td);
    });
  }

  start(h: TraceHeader): void {
    // The first packet clears the sequence's incremental state (the interning tables).
    this.track(PROCESS_TRACK, `guest ${h.guest.name}`, (w) => {
      const pd = w.begin(TD.process);
      w.uint(PD.pid, PERFETTO_PID);
      w.string(PD.processName, `guest ${h.guest.name}`);
      w.end(pd);
    }, SEQ_INCREMENTAL_STATE_CLEARED);
    this.track(VCPU_TRACK, 'vCPU 0', (w) => w.uint(TD.parentUuid, PROCESS_TRACK));
    this.track(RATE_TRACK, 'exits/ms', (w) => {
      w.uint(TD.parentUuid, PROCESS_TRACK);
      w.end(w.begin(TD.counter)); // an empty CounterDescriptor: a counter track
    });
  }

  private annotations(w: ProtoWriter, args: Args): void {
    for (let i = 0; i < args.length; i += 2) {
      const v = args[i + 1]!;
      const da = w.begin(TE.debugAnnotations);
      w.uint(DA.nameIid, this.intern(this.argNames, ID.debugAnnotationNames, args[i] as string));
      if (typeof v === 'number') w.uint(DA.intValue, v);
      else w.string(DA.stringValue, typeof v === 'string' ? v : JSON.stringify(v));
      w.end(da);
    }
  }

  slice(name: string, cat: string, startNs: number, durNs: number, args: Args): void {
    const begin = Math.max(startNs, this.lastEndNs);
    const end = Math.max(begin, startNs + durNs);
    this.lastEndNs = end;
    this.packet(begin, SEQ_NEEDS_INCREMENTAL_STATE, (w) => {
      const te = w.begin(P.trackEvent);
      w.uint(TE.type, TYPE.sliceBegin);
      w.uint(TE.trackUuid, VCPU_TRACK);
      w.uint(TE.nameIid, this.intern(this.names, ID.eventNames, name));
      w.uint(TE.categoryIids, this.intern(this.categories, ID.eventCategories, cat));
      this.annotations(w, args);
      w.end(te);
    });
    this.packet(end, SEQ_NEEDS_INCREMENTAL_STATE, (w) => {
      const te = w.begin(P.trackEvent);
      w.uint(TE.type, TYPE.sliceEnd);
      w.uint(TE.trackUuid, VCPU_TRACK);
      w.end(te);
    });
  }

  counter(tsNs: number, exits: number): void {
    this.packet(tsNs, SEQ_NEEDS_INCREMENTAL_STATE, (w) => {
      const te = w.begin(P.trackEvent);
      w.uint(TE.type, TYPE.counter);
      w.uint(TE.trackUuid, RATE_TRACK);
      w.uint(TE.counterValue, exits);
      w.end(te);
    });
  }

  instant(name: string, tsNs: number, message: string): void {
    this.packet(tsNs, SEQ_NEEDS_INCREMENTAL_STATE, (w) => {
      const te = w.begin(P.trackEvent);
      w.uint(TE.type, TYPE.instant);
      w.uint(TE.trackUuid, VCPU_TRACK);
      w.uint(TE.nameIid, this.intern(this.names, ID.eventNames, name));
      this.annotations(w, ['message', message]);
      w.end(te);
    });
  }

  finish(): void {
    this.flush();
  }
}

/** The fields of a record the export reads: a TraceScanner's; record() copies a TraceRecord into them. */
type RecordFields = Pick<
  TraceScanner,
  | 'kind' | 'reason' | 'reasonName' | 'timeNs' | 'runNs' | 'regsWords' | 'detail'
  | 'hasIo' | 'ioPort' | 'ioSize' | 'ioOut' | 'ioCount' | 'ioData' | 'ioAt' | 'ioLen'
  | 'hasMmio' | 'mmioAddress' | 'mmioLength' | 'mmioWrite' | 'mmioData' | 'mmioAt' | 'mmioLen'
>;

function fieldsOf(r: TraceRecord): RecordFields {
  const io = r.io;
  const m = r.mmio;
  const none = new Uint8Array(0);
  return {
    kind: r.kind, reason: r.reason, reasonName: r.reasonName, timeNs: r.timeNs, runNs: r.runNs, detail: r.detail,
    regsWords: new Uint32Array(r.regsBytes.slice().buffer),
    hasIo: io !== undefined, ioPort: io?.port ?? 0, ioSize: io?.size ?? 0, ioOut: io?.direction === 'out', ioCount: io?.count ?? 0,
    ioData: io?.data ?? none, ioAt: 0, ioLen: io?.data.length ?? 0,
    hasMmio: m !== undefined, mmioAddress: m?.address ?? 0, mmioLength: m?.length ?? 0, mmioWrite: m?.write ?? false,
    mmioData: m?.data ?? none, mmioAt: 0, mmioLen: m?.data.length ?? 0,
  };
}

/** A run of merged records (PerfettoOptions.group > 1). */
interface Merged {
  name: string;
  startNs: number;
  endNs: number;
  first: number;
  last: number;
  records: number;
  runNs: number;
  /** Records per reason name. */
  reasons: Map<string, number>;
}

export class PerfettoWriter implements TraceSink {
  private readonly fd: number;
  private readonly out: EventEncoder;
  readonly format: PerfettoFormat;
  readonly from: number;
  readonly to: number;
  readonly group: number;
  private bucket = -1;
  private bucketCount = 0;
  private lastTimeNs = -1;
  private readonly args: Args = [];
  /** The program counter's name and first u32 word in the registers (x86_64 until the header says otherwise). */
  private pc: string = 'rip';
  private pcWord = 32;
  /** Records exported (in the range). */
  records = 0;
  /** Slices drawn (records, or merged runs of them). */
  slices = 0;
  // group > 1: the window being filled and the merged slice it may extend
  private window: Merged | undefined;
  private merged: Merged | undefined;

  constructor(
    readonly path: string,
    opts: PerfettoOptions = {},
  ) {
    this.format = opts.format ?? 'json';
    this.from = opts.from ?? 0;
    this.to = opts.to ?? Infinity;
    this.group = Math.max(1, Math.floor(opts.group ?? 1));
    this.fd = openSync(path, 'w');
    this.out = this.format === 'proto' ? new ProtoEncoder(this.fd) : new JsonEncoder(this.fd);
  }

  /** Events written: JSON trace events, or protobuf packets. */
  get events(): number {
    return this.out.events;
  }

  header(h: TraceHeader): void {
    const layout = registerLayout(h.arch);
    this.pc = pcName(layout);
    this.pcWord = 2 * layout.pcIndex;
    this.out.start(h);
  }

  scan(s: TraceScanner, index: number): void {
    if (index >= this.from && index <= this.to) this.add(s, index);
  }

  record(r: TraceRecord, index: number): void {
    if (index >= this.from && index <= this.to) this.add(fieldsOf(r), index);
  }

  private add(r: RecordFields, index: number): void {
    this.records++;
    // Exit rate: one counter sample per millisecond that had exits, and a 0 after a gap.
    const b = Math.floor(r.timeNs / NS_PER_MS);
    if (b !== this.bucket) {
      if (this.bucket >= 0) {
        this.out.counter(this.bucket * NS_PER_MS, this.bucketCount);
        if (b > this.bucket + 1) this.out.counter((this.bucket + 1) * NS_PER_MS, 0);
      }
      this.bucket = b;
      this.bucketCount = 0;
    }
    this.bucketCount++;
    this.lastTimeNs = r.timeNs;
    const start = Math.max(0, r.timeNs - r.runNs);
    if (this.group > 1) this.addToWindow(r, index, start);
    else this.detailed(r, index, start);
  }

  private detailed(r: RecordFields, index: number, start: number): void {
    const a = this.args;
    a.length = 0;
    a.push('index', index, this.pc, hxWords(r.regsWords, this.pcWord));
    if (r.hasIo) {
      a.push('port', hx(r.ioPort), 'direction', r.ioOut ? 'out' : 'in', 'size', r.ioSize, 'count', r.ioCount);
      a.push('data', bytesHex(r.ioData, 64, r.ioAt, r.ioLen), 'ascii', bytesAscii(r.ioData, 64, r.ioAt, r.ioLen));
    } else if (r.hasMmio) {
      a.push('address', hx(r.mmioAddress), 'direction', r.mmioWrite ? 'write' : 'read', 'length', r.mmioLength);
      a.push('data', bytesHex(r.mmioData, 64, r.mmioAt, r.mmioLen));
    } else if (r.detail) a.push('detail', r.detail);
    if (r.kind === 'step') a.push('kind', 'step');
    this.slices++;
    this.out.slice(r.reasonName, r.reasonName, start, r.runNs, a);
  }

  private addToWindow(r: RecordFields, index: number, start: number): void {
    let w = this.window;
    if (w === undefined) {
      w = this.window = { name: '', startNs: start, endNs: r.timeNs, first: index, last: index, records: 0, runNs: 0, reasons: new Map() };
    }
    w.endNs = r.timeNs;
    w.last = index;
    w.records++;
    w.runNs += r.runNs;
    w.reasons.set(r.reasonName, (w.reasons.get(r.reasonName) ?? 0) + 1);
    if (w.records === this.group) this.closeWindow();
  }

  /** A full window extends the merged slice of the same name, or ends it and starts the next. */
  private closeWindow(): void {
    const w = this.window;
    if (!w) return;
    this.window = undefined;
    w.name = [...w.reasons.keys()].sort().join('+');
    const m = this.merged;
    if (m && m.name === w.name) {
      m.endNs = w.endNs;
      m.last = w.last;
      m.records += w.records;
      m.runNs += w.runNs;
      for (const [k, n] of w.reasons) m.reasons.set(k, (m.reasons.get(k) ?? 0) + n);
      return;
    }
    this.flushMerged();
    this.merged = w;
  }

  private flushMerged(): void {
    const m = this.merged;
    if (!m) return;
    this.merged = undefined;
    const a = this.args;
    a.length = 0;
    a.push('records', m.records, 'first', m.first, 'last', m.last, 'kvmRunNs', m.runNs);
    for (const [k, n] of m.reasons) a.push(k, n);
    this.slices++;
    this.out.slice(m.name, 'merged', m.startNs, m.endNs - m.startNs, a);
  }

  end(end: TraceEnd, records: number): void {
    this.closeWindow();
    this.flushMerged();
    if (this.bucket >= 0) {
      this.out.counter(this.bucket * NS_PER_MS, this.bucketCount);
      this.out.counter((this.bucket + 1) * NS_PER_MS, 0);
    }
    // How the run ended, at the last record: when the range reaches it.
    const what = end.complete ? `end: ${end.endReason}` : 'end: truncated';
    if (this.lastTimeNs >= 0 && this.to >= records - 1) this.out.instant(what, this.lastTimeNs, end.message ?? 'the trace has no footer');
    this.out.finish();
    closeSync(this.fd);
  }

  /** Closes the file without finishing it (after an error). */
  abort(): void {
    try {
      closeSync(this.fd);
    } catch {
      /* already closed */
    }
  }
}
