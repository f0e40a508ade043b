// Copying a trace through the writer: upgrades a 1.x or 2.0 trace to the current format with the
// same content (scripts/upgrade-traces.mjs), writes 2.0 copies for comparison (bench:format),
// and lets tests alter a header or records on the way.
import { registerLayout } from '../arch/index.js';
import type { TraceHeader, TraceRecord } from './format.js';
import { openTrace } from './reader.js';
import { TraceWriter, type RecordInput, type WriterOptions } from './writer.js';

export interface CopyOptions {
  /** The header to write (a changed copy of the source's). */
  header?: (h: TraceHeader) => TraceHeader;
  /** May change the record about to be written (its position in the trace is `index`). */
  record?: (out: RecordInput, rec: TraceRecord, index: number) => void;
  /** The format to write (default: the current one) and whether to keep the timestamps. */
  writer?: WriterOptions;
}

/** Copies `src` to `dst` record by record (memory stays flat); a truncated source stays truncated. */
export async function copyTrace(src: string, dst: string, opts: CopyOptions = {}): Promise<{ records: number }> {
  const t = await openTrace(src);
  let index = 0;
  try {
    const layout = registerLayout(t.header.arch);
    const w = new TraceWriter(dst, undefined, opts.writer);
    w.writeHeader(opts.header ? opts.header(t.header) : t.header);
    for await (const batch of t.batches()) {
      for (const rec of batch) {
        const out: RecordInput = {
          kind: rec.kind,
          reason: rec.reason,
          timeNs: rec.timeNs,
          runNs: rec.runNs,
          regsBytes: Uint8Array.from(rec.regsBytes),
          sregsBytes: rec.sregsChanged ? layout.sregsBytesOf(rec.sregs) : undefined,
          io: rec.io && { port: rec.io.port, size: rec.io.size, out: rec.io.direction === 'out', count: rec.io.count, data: rec.io.data },
          mmio: rec.mmio,
          detail: rec.detail,
        };
        opts.record?.(out, rec, index);
        w.writeRecord(out);
        index++;
      }
    }
    const f = t.footer;
    if (f) await w.finish({ endReason: f.endReason, message: f.message, regsBytes: layout.regsBytesOf(f.regs), sregsBytes: layout.sregsBytesOf(f.sregs), status: f.status });
    else await w.finishWithoutFooter();
  } finally {
    await t.close();
  }
  return { records: index };
}
