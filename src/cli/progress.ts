// A one-line progress display for long record/replay/test runs (docs/cli.md, "Progress").
//
// Only when stderr is a terminal (and VMTRACE_PROGRESS is not 0); otherwise every method does
// nothing and nothing extra is ever written. After `delayMs` (1 s) of running it redraws one
// status line on stderr at most every `intervalMs` (250 ms) — `\r`, the text, clear to the end of
// the line — and erases it (`\r`, clear line) before any other output and at the end.
//
// The guest's console goes to stdout. When stdout is a terminal too (the same one, as a rule),
// the two must not mix: console output erases the line first, and the line is only drawn again
// once the console has been quiet for `quietMs` (500 ms) and its last byte ended a line, so a
// line the guest has started is never overwritten. A chatty guest therefore shows no progress;
// a guest that computes silently, or a replay with -q, does.

export interface ProgressStream {
  isTTY?: boolean;
  columns?: number;
  write(chunk: string): unknown;
}

export interface ProgressCounts {
  /** Records done (recorded, or replayed and matched). */
  records: number;
  /** Exits among them, when known (a --step trace also has steps). */
  exits?: number;
  /** Trace bytes written (record) or read (replay), when known. */
  bytes?: number;
}

export interface ProgressOptions {
  /** Where the line goes (default process.stderr): drawn only if it is a TTY. */
  stream?: ProgressStream;
  /** The guest console's stream (default process.stdout): a TTY shares the terminal. */
  console?: { isTTY?: boolean };
  /** Default: stream.isTTY, unless VMTRACE_PROGRESS=0. */
  enabled?: boolean;
  delayMs?: number;
  intervalMs?: number;
  quietMs?: number;
  /** 'written' (record) or 'read' (replay): what `bytes` counts. */
  bytesVerb?: string;
  /** Clock in ms (tests). */
  now?: () => number;
  /** Redraw from a timer too, for async phases that report nothing (default true; tests: false). */
  timer?: boolean;
}

const CLEAR = '\r\x1b[K';

function count(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

export class Progress {
  readonly enabled: boolean;
  private readonly stream: ProgressStream;
  private readonly shared: boolean;
  private readonly delayMs: number;
  private readonly intervalMs: number;
  private readonly quietMs: number;
  private readonly bytesVerb: string;
  private readonly now: () => number;
  private started: number;
  private lastDraw = -Infinity;
  private drawn = false;
  private stopped = false;
  private counts: ProgressCounts = { records: 0 };
  /** When the console last wrote, and whether its output ended a line. */
  private consoleAt = -Infinity;
  private consoleAtLineStart = true;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private label: string,
    opts: ProgressOptions = {},
  ) {
    this.stream = opts.stream ?? process.stderr;
    this.enabled = opts.enabled ?? (this.stream.isTTY === true && process.env.VMTRACE_PROGRESS !== '0');
    this.shared = (opts.console ?? process.stdout).isTTY === true;
    this.delayMs = opts.delayMs ?? 1000;
    this.intervalMs = opts.intervalMs ?? 250;
    this.quietMs = opts.quietMs ?? 500;
    this.bytesVerb = opts.bytesVerb ?? 'read';
    this.now = opts.now ?? (() => performance.now());
    this.started = this.now();
    if (this.enabled && opts.timer !== false) {
      this.timer = setInterval(() => this.maybeDraw(), this.intervalMs);
      this.timer.unref();
    }
  }

  /** A new phase or item (`vmtrace test`: the next golden): new label, counts and clock. */
  restart(label: string): void {
    this.clear();
    this.label = label;
    this.counts = { records: 0 };
    this.started = this.now();
    this.lastDraw = -Infinity;
  }

  /** New counts; redraws if a redraw is due. Cheap when it is not. */
  update(counts: ProgressCounts): void {
    if (!this.enabled) return;
    this.counts = counts;
    this.maybeDraw();
  }

  /** Erase the line now: before anything else is written to stderr (or to stdout on the same terminal). */
  clear(): void {
    if (!this.drawn) return;
    this.drawn = false;
    this.stream.write(CLEAR);
  }

  /** The guest's console is about to write `bytes` to stdout. */
  console(bytes: Uint8Array): void {
    if (!this.enabled || bytes.length === 0) return;
    if (this.shared) this.clear();
    this.consoleAt = this.now();
    this.consoleAtLineStart = bytes[bytes.length - 1] === 0x0a;
  }

  /** Erase the line and draw no more. */
  stop(): void {
    this.clear();
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** The status line's text. */
  text(): string {
    const s = (this.now() - this.started) / 1000;
    const c = this.counts;
    const parts = [`${count(c.records)} records`];
    if (c.exits !== undefined && c.exits !== c.records) parts[0] += ` (${count(c.exits)} exits)`;
    if (s > 0) parts.push(`${count((c.exits ?? c.records) / s)} ${c.exits !== undefined ? 'exits' : 'records'}/s`);
    if (c.bytes !== undefined) parts.push(`${(c.bytes / 1e6).toFixed(1)} MB ${this.bytesVerb}`);
    parts.push(`${s.toFixed(1)} s`);
    return `vmtrace: ${this.label}: ${parts.join(', ')}`;
  }

  private maybeDraw(): void {
    if (!this.enabled || this.stopped) return;
    const now = this.now();
    if (now - this.started < this.delayMs || now - this.lastDraw < this.intervalMs) return;
    if (this.shared && (!this.consoleAtLineStart || now - this.consoleAt < this.quietMs)) return;
    this.lastDraw = now;
    const width = Math.max(20, (this.stream.columns || 80) - 1); // a pty may say 0
    let line = this.text();
    if (line.length > width) line = `${line.slice(0, width - 1)}…`;
    this.stream.write(`\r${line}\x1b[K`);
    this.drawn = true;
  }
}

