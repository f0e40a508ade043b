// Copying a trace through the real writer, optionally changing records on the way: how the
// tests make "the same trace, with one byte / one register altered".
import { regsToBytes, type Regs } from '../../src/cpu-state.js';
import { sregsToBytes } from '../../src/kvm-structs.js';
import type { TraceRecord } from '../../src/trace/format.js';
import { readTrace } from '../../src/trace/reader.js';
import { TraceWriter } from '../../src/trace/writer.js';

export interface Mutable {
  regs: Regs;
  ioData?: Uint8Array;
}

export async function rewriteTrace(src: string, dst: string, mutate: (rec: TraceRecord, m: Mutable) => void = () => {}): Promise<void> {
  const t = await readTrace(src);
  const w = new TraceWriter(dst);
  w.writeHeader(t.header);
  for (const rec of t.records) {
    const m: Mutable = { regs: { ...rec.regs }, ioData: rec.io ? Uint8Array.from(rec.io.data) : undefined };
    mutate(rec, m);
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
