// The snapshots a replay session keeps in memory (docs/replay.md, "Snapshots and reverse
// execution"): one at the start and one every `interval` instructions while running forward,
// within a bound on memory and count. Over the bound, every other snapshot is dropped (the
// first and the newest stay) and the interval doubles, so snapshots stay evenly spread.
import type { Position } from './debug-target.js';
import type { ReplayerState } from './engine.js';
import type { CpuSnapshot } from './x86/index.js';

export interface SessionSnapshot {
  at: Position;
  cpu: CpuSnapshot;
  replayer: ReplayerState;
}

export interface StoredSnapshot extends SessionSnapshot {
  /**
   * Debugger writes fork the run: a snapshot belongs to the timeline it was taken on (the ids of
   * a session's live timelines grow along the chain of forks; see ReplaySession.edited).
   */
  timeline: number;
}

export interface SnapshotBounds {
  /** Instructions between two snapshots to begin with. */
  interval: number;
  /** Bytes: distinct page copies plus SNAPSHOT_OVERHEAD and 8 bytes per page for each snapshot. */
  memory: number;
  count: number;
}

export const DEFAULT_SNAPSHOT_BOUNDS: SnapshotBounds = { interval: 100_000, memory: 256 << 20, count: 512 };

/** A snapshot's own state besides its pages (registers, history and flag rings, …: about 10 KiB). */
export const SNAPSHOT_OVERHEAD = 16 << 10;

export class SessionSnapshots {
  /** By position (instructions, then records, then age). */
  private readonly list: StoredSnapshot[] = [];
  /** How many snapshots hold each page copy. */
  private readonly refs = new Map<Uint8Array, number>();
  private pageBytes = 0;
  private tableBytes = 0;
  interval: number;

  constructor(private readonly bounds: SnapshotBounds) {
    this.interval = bounds.interval;
  }

  get count(): number {
    return this.list.length;
  }

  /** Bytes held, as the bound counts them. */
  get bytes(): number {
    return this.pageBytes + this.tableBytes;
  }

  add(s: StoredSnapshot): void {
    let k = this.list.length;
    while (k > 0 && before(s.at, this.list[k - 1]!.at)) k--;
    this.list.splice(k, 0, s);
    this.count1(s, 1);
    this.thin();
  }

  /** The newest snapshot at or before instruction n (there is always one at 0). */
  atOrBefore(n: number): StoredSnapshot {
    return this.latest((s) => s.at.instructions <= n);
  }

  /** The newest snapshot strictly before instruction n (n > 0). */
  before(n: number): StoredSnapshot {
    return this.latest((s) => s.at.instructions < n);
  }

  /** The newest snapshot from before record `index` was matched. */
  beforeRecord(index: number): StoredSnapshot {
    return this.latest((s) => s.at.records <= index);
  }

  /** Drop the snapshots `drop` picks (never the first). */
  dropWhere(drop: (s: StoredSnapshot) => boolean): void {
    for (let k = this.list.length - 1; k > 0; k--) {
      if (drop(this.list[k]!)) this.count1(this.list.splice(k, 1)[0]!, -1);
    }
  }

  /** (positions are monotonic along the list, so the last match is the newest) */
  private latest(ok: (s: StoredSnapshot) => boolean): StoredSnapshot {
    for (let k = this.list.length - 1; k >= 0; k--) if (ok(this.list[k]!)) return this.list[k]!;
    throw new Error('replay session: no snapshot at the start');
  }

  private count1(s: StoredSnapshot, d: 1 | -1): void {
    for (const r of s.cpu.ram) {
      this.tableBytes += d * 8 * r.pages.length;
      for (const p of r.pages) {
        const n = (this.refs.get(p) ?? 0) + d;
        if (n === 0) this.refs.delete(p);
        else this.refs.set(p, n);
        if (n === (d === 1 ? 1 : 0)) this.pageBytes += d * p.length;
      }
    }
    this.tableBytes += d * SNAPSHOT_OVERHEAD;
  }

  private thin(): void {
    while (this.list.length > 2 && (this.bytes > this.bounds.memory || this.list.length > this.bounds.count)) {
      const last = this.list.length - 1;
      for (let k = last - 1; k > 0; k--) if (k % 2 === 1) this.count1(this.list.splice(k, 1)[0]!, -1);
      this.interval *= 2;
    }
  }
}

function before(a: Position, b: Position): boolean {
  return a.instructions < b.instructions || (a.instructions === b.instructions && a.records < b.records);
}
