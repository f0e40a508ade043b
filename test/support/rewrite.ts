// Copying a trace through the real writer, changing the header and records on the way: how the
// tests make "the same trace, with one byte / one register altered" or "the same run as another
// host would have recorded it".
import { regsToBytes, type Regs } from '../../src/cpu-state.js';
import { copyTrace, type CopyOptions } from '../../src/trace/copy.js';
import type { TraceRecord } from '../../src/trace/format.js';

export interface Mutable {
  regs: Regs;
  ioData?: Uint8Array;
}

/**
 * Copies `src` to `dst`; `mutate` may change each record's registers and IO data (it gets the
 * record's position in the trace too), `opts.header` the header.
 */
export async function rewriteTrace(
  src: string,
  dst: string,
  mutate: (rec: TraceRecord, m: Mutable, index: number) => void = () => {},
  opts: Pick<CopyOptions, 'header'> = {},
): Promise<void> {
  await copyTrace(src, dst, {
    ...opts,
    record: (out, rec, index) => {
      const m: Mutable = { regs: { ...rec.regs }, ioData: rec.io ? Uint8Array.from(rec.io.data) : undefined };
      mutate(rec, m, index);
      out.regsBytes = regsToBytes(m.regs);
      if (out.io) out.io = { ...out.io, data: m.ioData! };
    },
  });
}
