// Batched, streaming access to a trace's records. Per-record `for await` costs a few hundred
// nanoseconds of promise machinery; `--exits` pulls records in batches instead (the reader's
// `batches()` when it has one) while memory holds only the current batch. (Statistics and diff
// read the reader's TraceScanner directly and make no record objects at all.)
import type { TraceRecord } from '../trace/format.js';
import type { OpenedTrace, TraceScanner } from '../trace/reader.js';

const BATCH = 2048;

type Batched = OpenedTrace & { batches?: () => AsyncGenerator<TraceRecord[]> };

export class RecordCursor {
  /** Records of the current batch; `pos` is the next one to consume. */
  batch: TraceRecord[] = [];
  pos = 0;
  /** Index (record number in the file) of batch[0]. */
  base = 0;
  done = false;
  private readonly source: AsyncGenerator<TraceRecord[]>;

  constructor(readonly trace: OpenedTrace) {
    const t = trace as Batched;
    this.source = typeof t.batches === 'function' ? t.batches() : batchesOf(trace.records());
  }

  /** Makes `batch[pos]` available; false at the end of the records. */
  async ready(): Promise<boolean> {
    while (this.pos >= this.batch.length) {
      if (this.done) return false;
      const next = await this.source.next();
      this.base += this.batch.length;
      this.batch = [];
      this.pos = 0;
      if (next.done) {
        this.done = true;
        return false;
      }
      this.batch = next.value;
    }
    return true;
  }

  /** Stops reading early (the underlying generator is finished). */
  async stop(): Promise<void> {
    this.done = true;
    await this.source.return(undefined);
  }
}

async function* batchesOf(records: AsyncGenerator<TraceRecord>): AsyncGenerator<TraceRecord[]> {
  let batch: TraceRecord[] = [];
  try {
    for await (const r of records) {
      batch.push(r);
      if (batch.length === BATCH) {
        yield batch;
        batch = [];
      }
    }
  } catch (e) {
    // Records before a bad one are still handed out; the error follows on the next pull.
    if (batch.length) yield batch;
    throw e;
  }
  if (batch.length) yield batch;
}

/** Calls `fn` for every record, in order, with its index; returns the number of records. */
export async function forEachRecord(
  trace: OpenedTrace,
  fn: (r: TraceRecord, index: number) => boolean | void,
): Promise<number> {
  const s = trace.scan();
  const at = { n: 0 };
  do {
    if (eachAvailable(s, fn, at)) return at.n;
  } while (await s.read());
  return at.n;
}

/** fn for the records already in memory (a plain function: V8 optimizes its loop); true when fn stopped. */
function eachAvailable(
  s: TraceScanner,
  fn: (r: TraceRecord, index: number) => boolean | void,
  at: { n: number },
): boolean {
  while (s.next()) if (fn(s.record(), at.n++) === false) return true;
  return false;
}
