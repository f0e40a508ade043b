// `vmtrace verify` as a library: reads a trace end to end and checks everything the format lets
// a reader check (docs/trace-format.md, "Integrity"), without replaying it.
import { stat } from 'node:fs/promises';

import type { EndReason } from './format.js';
import { openTrace } from './reader.js';

export interface VerifyResult {
  file: string;
  /** "3.0", "2.0", "1.1", … */
  format: string;
  /** Format 2 and later: every byte is covered by a checksum. 1.x traces have none. */
  checksums: boolean;
  bytes: number;
  records: number;
  exits: number;
  /** True when the trace ends with its footer. */
  complete: boolean;
  /** Without a footer: where the incomplete tail starts (absent for a cut at a frame boundary). */
  truncatedAt?: number;
  endReason?: EndReason;
}

/**
 * Checks a whole trace: magic, header fields, the image's sha256, every frame's checksums,
 * every record, sequence numbers and the footer's counts. Throws TraceError for anything
 * corrupt; a trace cut short at its end is not an error (`complete` false).
 */
export async function verifyTrace(file: string): Promise<VerifyResult> {
  const trace = await openTrace(file);
  try {
    const s = trace.scan();
    do {
      while (s.next());
    } while (await s.read());
    const { major, minor } = trace.header.format;
    const result: VerifyResult = {
      file,
      format: `${major}.${minor}`,
      checksums: major >= 2,
      bytes: (await stat(file)).size,
      records: s.index + 1,
      exits: s.exits,
      complete: trace.footer !== undefined,
    };
    if (trace.truncatedAt !== undefined) result.truncatedAt = trace.truncatedAt;
    if (trace.footer) result.endReason = trace.footer.endReason;
    return result;
  } finally {
    await trace.close();
  }
}
