// Exit statistics accumulated while a trace streams by (nothing per record is kept): per exit
// reason, per IO port and direction, per MMIO address and direction, with the host time each
// group spent in KVM_RUN (runNs, entry to exit) — the figures `perf kvm stat report` shows.
import type { RecordKind, TraceRecord } from '../trace/format.js';
import type { TraceScanner } from '../trace/reader.js';
import { exitReasonName } from '../trace/exit-reasons.js';
import { hx, percent } from './util.js';

class Acc {
  count = 0;
  totalNs = 0;
  minNs = Infinity;
  maxNs = 0;
  bytes = 0;

  add(runNs: number): void {
    this.count++;
    this.totalNs += runNs;
    if (runNs < this.minNs) this.minNs = runNs;
    if (runNs > this.maxNs) this.maxNs = runNs;
  }
}

/** Host time in KVM_RUN for a group of records, in nanoseconds. */
export interface RunTime {
  totalNs: number;
  minNs: number;
  avgNs: number;
  maxNs: number;
}

export interface StatRow {
  /** How the row is named in text output: `IO`, `0xf1:out`, `0x100000:write`. */
  key: string;
  count: number;
  /** Share of all records, 0–100. */
  percent: number;
  /** Share of all host time in KVM_RUN, 0–100. */
  timePercent: number;
  run: RunTime;
}

export interface ReasonRow extends StatRow {
  reason: string;
  code: number;
}

export interface PortRow extends StatRow {
  port: number;
  direction: 'in' | 'out';
  /** Bytes transferred (size × count summed). */
  bytes: number;
}

export interface MmioRow extends StatRow {
  address: number;
  write: boolean;
  bytes: number;
}

export interface ExitStats {
  records: number;
  /** Records of kind 'exit' (a vCPU exit). */
  exits: number;
  /** Records of kind 'step' (one instruction of a --step trace). */
  steps: number;
  /** Guest-visible time span: timeNs of the first and last record (ns since the recording started). */
  firstTimeNs: number | null;
  lastTimeNs: number | null;
  /** Host time spent in KVM_RUN over all records. */
  run: RunTime;
  byReason: ReasonRow[];
  byPort: PortRow[];
  byMmio: MmioRow[];
}

function runTime(a: Acc): RunTime {
  return {
    totalNs: a.totalNs,
    minNs: a.count ? a.minNs : 0,
    avgNs: a.count ? a.totalNs / a.count : 0,
    maxNs: a.maxNs,
  };
}

/** Accumulates statistics record by record; `result()` can be called at any time. */
export class StatsAccumulator {
  private readonly reasons: Acc[] = [];
  private readonly ports = new Map<number, Acc>();
  private readonly mmio = new Map<number, Acc>();
  private readonly all = new Acc();
  /** Reason codes outside 0..4095 (never produced by KVM; kept in a side map). */
  private readonly odd = new Map<number, Acc>();
  private exits = 0;
  private steps = 0;
  private firstTimeNs: number | null = null;
  private lastTimeNs: number | null = null;
  private lastPortKey = -1;
  private lastPort: Acc | undefined;

  add(r: TraceRecord): void {
    this.count(r.kind, r.reason, r.timeNs, r.runNs);
    const io = r.io;
    if (io !== undefined) this.addPort(io.port, io.direction === 'out', r.runNs, io.data.length);
    else if (r.mmio !== undefined) this.addMmio(r.mmio.address, r.mmio.write, r.runNs, r.mmio.data.length);
  }

  /** The same as add(), for the record a scanner is on (touches only its numbers). */
  addScan(s: TraceScanner): void {
    this.count(s.kind, s.reason, s.timeNs, s.runNs);
    if (s.hasIo) this.addPort(s.ioPort, s.ioOut, s.runNs, s.ioLen);
    else if (s.hasMmio) this.addMmio(s.mmioAddress, s.mmioWrite, s.runNs, s.mmioLen);
  }

  private count(kind: RecordKind, reason: number, timeNs: number, runNs: number): void {
    this.all.add(runNs);
    if (kind === 'exit') this.exits++;
    else this.steps++;
    if (this.firstTimeNs === null) this.firstTimeNs = timeNs;
    this.lastTimeNs = timeNs;
    (this.reasons[reason] ?? this.reasonAcc(reason)).add(runNs);
  }

  private addPort(port: number, out: boolean, runNs: number, bytes: number): void {
    const key = port * 2 + (out ? 1 : 0);
    // Consecutive exits mostly hit the same port: skip the map lookup then.
    let p = key === this.lastPortKey ? this.lastPort : this.ports.get(key);
    if (p === undefined) this.ports.set(key, (p = new Acc()));
    this.lastPortKey = key;
    this.lastPort = p;
    p.add(runNs);
    p.bytes += bytes;
  }

  private addMmio(address: number, write: boolean, runNs: number, bytes: number): void {
    const key = address * 2 + (write ? 1 : 0);
    let m = this.mmio.get(key);
    if (m === undefined) this.mmio.set(key, (m = new Acc()));
    m.add(runNs);
    m.bytes += bytes;
  }

  private reasonAcc(reason: number): Acc {
    const acc = new Acc();
    if (reason >= 0 && reason < 4096 && Number.isInteger(reason)) return (this.reasons[reason] = acc);
    const odd = this.odd.get(reason);
    if (odd) return odd;
    this.odd.set(reason, acc);
    return acc;
  }

  result(): ExitStats {
    const total = this.all.count;
    const totalNs = this.all.totalNs;
    const row = (key: string, a: Acc): StatRow => ({
      key,
      count: a.count,
      percent: percent(a.count, total),
      timePercent: percent(a.totalNs, totalNs),
      run: runTime(a),
    });
    const reasons: [number, Acc][] = [];
    this.reasons.forEach((a, code) => reasons.push([code, a]));
    reasons.push(...this.odd.entries());
    const byReason: ReasonRow[] = reasons
      .map(([code, a]) => ({ ...row(exitReasonName(code), a), reason: exitReasonName(code), code }))
      .sort((x, y) => y.count - x.count || x.code - y.code);
    const byPort: PortRow[] = [...this.ports.entries()]
      .map(([key, a]) => {
        const port = Math.floor(key / 2);
        const direction = key % 2 ? ('out' as const) : ('in' as const);
        return { ...row(`${hx(port)}:${direction}`, a), port, direction, bytes: a.bytes };
      })
      .sort((x, y) => y.count - x.count || x.port - y.port);
    const byMmio: MmioRow[] = [...this.mmio.entries()]
      .map(([key, a]) => {
        const address = Math.floor(key / 2);
        const write = key % 2 === 1;
        return { ...row(`${hx(address)}:${write ? 'write' : 'read'}`, a), address, write, bytes: a.bytes };
      })
      .sort((x, y) => y.count - x.count || x.address - y.address);
    return {
      records: total,
      exits: this.exits,
      steps: this.steps,
      firstTimeNs: this.firstTimeNs,
      lastTimeNs: this.lastTimeNs,
      run: runTime(this.all),
      byReason,
      byPort,
      byMmio,
    };
  }
}

/**
 * Exit counts over guest time in a fixed number of buckets whose width doubles (adjacent
 * buckets merge) whenever the trace outgrows them: constant memory for any trace length.
 * Counts are kept per series (the reasons seen first get their own series, the rest 'other').
 */
export class TimeHistogram {
  widthNs: number;
  readonly series: string[] = [];
  /** counts[s][bucket] */
  readonly counts: number[][] = [];
  private readonly seriesOf = new Map<number, number>();

  constructor(
    readonly buckets = 400,
    initialWidthNs = 1000,
    private readonly maxSeries = 8,
  ) {
    this.widthNs = initialWidthNs;
  }

  add(timeNs: number, reason: number): void {
    let s = this.seriesOf.get(reason);
    if (s === undefined) {
      if (this.series.length < this.maxSeries) {
        s = this.series.length;
        this.series.push(exitReasonName(reason));
        this.counts.push(new Array<number>(this.buckets).fill(0));
      } else {
        s = this.otherSeries();
      }
      this.seriesOf.set(reason, s);
    }
    let b = Math.floor(timeNs / this.widthNs);
    while (b >= this.buckets) {
      this.merge();
      b = Math.floor(timeNs / this.widthNs);
    }
    this.counts[s]![b < 0 ? 0 : b]!++;
  }

  private otherSeries(): number {
    const i = this.series.indexOf('other');
    if (i >= 0) return i;
    this.series.push('other');
    this.counts.push(new Array<number>(this.buckets).fill(0));
    return this.series.length - 1;
  }

  private merge(): void {
    for (const c of this.counts) {
      for (let i = 0; i < this.buckets / 2; i++) c[i] = c[2 * i]! + c[2 * i + 1]!;
      c.fill(0, this.buckets / 2);
    }
    this.widthNs *= 2;
  }
}
