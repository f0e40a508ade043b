// The records of a trace as a replay session reads them: a window around the record being
// replayed (with the lookahead the later exits of one step read), re-read from scan marks when
// the session goes back, so memory stays bounded however long the trace is.
import type { TraceFooter, TraceRecord } from '../trace/format.js';
import type { OpenedTrace, ScanMark, TraceScanner } from '../trace/reader.js';

/** Records after the current one kept read (replayTrace looks one batch of 2,048 ahead). */
const LOOKAHEAD = 2048;
/** Records kept behind the current one (a reverse step usually goes back a few). */
const BEHIND = 2048;
/** A scan mark every so many records: going back re-reads at most this many. */
const MARK_EVERY = 4096;
/** Records read per step of filling the window. */
const FILL = 1024;

export class SessionRecords {
  /** records[k] is record first + k */
  private records: TraceRecord[] = [];
  private first = 0;
  private scanner: TraceScanner;
  /** The window's scanner has no more records. */
  private ended = false;
  /** Where records start (record 0, every MARK_EVERY-th, any given by addMarks), by index. */
  private readonly marks: ScanMark[];
  /** The trace's own scan: the one that reads the footer (scanFrom() scans do not). */
  private readonly primary: TraceScanner;
  private primaryEnded = false;

  constructor(private readonly trace: OpenedTrace) {
    this.primary = trace.scan();
    this.marks = [this.primary.mark()];
    this.scanner = this.primary;
  }

  /** Records held in memory now. */
  get held(): number {
    return this.records.length;
  }

  /** Record i if it and the lookahead after it are read (undefined: past the end), null if load(i) is needed first. */
  ready(i: number): TraceRecord | undefined | null {
    if (i < this.first || (!this.ended && i + LOOKAHEAD >= this.first + this.records.length)) return null;
    return this.records[i - this.first];
  }

  /** Record i (undefined past the end), read with the lookahead after it. */
  async get(i: number): Promise<TraceRecord | undefined> {
    const r = this.ready(i);
    if (r !== null) return r;
    await this.load(i);
    return this.records[i - this.first];
  }

  /** A record of the window (the sink's lookahead), undefined if not read or past the end. */
  peek(i: number): TraceRecord | undefined {
    return i >= this.first ? this.records[i - this.first] : undefined;
  }

  /** Record i without moving the window (for `monitor` commands): re-read from a mark if needed. */
  async at(i: number): Promise<TraceRecord | undefined> {
    if (i < 0) return undefined;
    if (i >= this.first && i < this.first + this.records.length) return this.records[i - this.first];
    const s = this.trace.scanFrom(this.markBefore(i));
    while (await s.advance()) if (s.index === i) return s.record();
    return undefined;
  }

  /** How the file ends (the footer), reading the rest of it if the window's scan did not. */
  async ending(): Promise<{ footer: TraceFooter | undefined; truncated: boolean }> {
    if (!this.primaryEnded) {
      while (await this.primary.advance()) {
        // (records seen already: only the footer is wanted)
      }
      this.primaryEnded = true;
    }
    return { footer: this.trace.footer, truncated: this.trace.truncated };
  }

  /** Marks of this trace from elsewhere (an earlier scan): going back or far ahead starts nearer. */
  addMarks(marks: readonly ScanMark[]): void {
    for (const m of marks) this.addMark(m);
  }

  private addMark(m: ScanMark): void {
    const k = this.markIndex(m.index);
    if (this.marks[k]!.index !== m.index) this.marks.splice(k + 1, 0, m);
  }

  /** Position in `marks` of the last mark at or before record i (marks[0] is record 0's). */
  private markIndex(i: number): number {
    let lo = 0;
    let hi = this.marks.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.marks[mid]!.index <= i) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  private markBefore(i: number): ScanMark {
    return this.marks[this.markIndex(i)]!;
  }

  private async load(i: number): Promise<void> {
    const end = this.first + this.records.length;
    const mark = this.markBefore(i);
    // back before the window, or far ahead of it with a mark in between: scan from the mark
    if (i < this.first || mark.index > end) {
      this.scanner = this.trace.scanFrom(mark);
      this.records = [];
      this.first = mark.index;
      this.ended = false;
    }
    while (!this.ended && this.first + this.records.length <= i + LOOKAHEAD) {
      await this.fill();
      // (also while skipping far ahead: memory stays bounded)
      const behind = Math.min(i - this.first - BEHIND, this.records.length);
      if (behind > BEHIND) {
        this.records.splice(0, behind);
        this.first += behind;
      }
    }
  }

  private async fill(): Promise<void> {
    const s = this.scanner;
    for (let n = 0; n < FILL; ) {
      if (s.next()) {
        this.records.push(s.record());
        const next = s.index + 1;
        if (next % MARK_EVERY === 0 && this.markBefore(next).index !== next) this.addMark(s.mark());
        n++;
      } else if (!(await s.read())) {
        this.ended = true;
        if (s === this.primary) this.primaryEnded = true;
        return;
      }
    }
  }
}
