// Copying a trace through the real writer, optionally changing the header and records on the
// way: how the tests make "the same trace, with one byte / one register altered" or "the same
// run as another host would have recorded it".
import { regsToBytes, type Regs } from '../../src/cpu-state.js';
import { sregsToBytes } from '../../src/kvm-structs.js';
import type { TraceHeader, TraceRecord } from '../../src/trace/format.js';
import { readTrace } from '../../src/trace/reader.js';
import { TraceWriter } from '../../src/trace/writer.js';

export interface Mutable {
  regs: Regs;
  ioData?: Uint8Array;
}

export interface RewriteOptions {
  /** Returns the header to write (a changed copy of the source's). */
  header?: (h: TraceHeader) => TraceHeader;
}

/**
 * Copies `src` to `dst`; `mutate` may change each record's registers and IO data (it gets the
 * record's position in the trace too), `opts.header` the header.
 */
export async function rewriteTrace(
  src: string,
  dst: string,
  mutate: (rec: TraceRecord, m: Mutable, index: number) => void = () => {},
  opts: RewriteOptions = {},
): Promise<void> {
  const t = await readTrace(src);
  const w = new TraceWriter(dst);
  w.writeHeader(opts.header ? opts.header(t.header) : t.header);
  let index = 0;
  for (const rec of t.records) {
    const m: Mutable = { regs: { ...rec.regs }, ioData: rec.io ? Uint8Array.from(rec.io.data) : undefined };
    mutate(rec, m, index++);
    w.writeRecord({
      kind: rec.kind,
      reason: rec.reason,
      timeNs: rec.timeNs,
      runNs: rec.runNs,
      regsBytes: regsToBytes(m.regs),
      sregsBytes: rec.sregsChanged ? sregsToBytes(rec.sregs) : undefined,
      io: rec.io && { port: rec.io.port, size: rec.io.size, out: rec.io.direction === 'out', count: rec.io.count, data: m.ioData! },
      mmio: rec.mmio,
      detail: rec.detail,
    });
  }
  const f = t.footer!;
  await w.finish({ endReason: f.endReason, message: f.message, regsBytes: regsToBytes(f.regs), sregsBytes: sregsToBytes(f.sregs), status: f.status });
}
