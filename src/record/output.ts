// Where a recording writes its trace: `<output>.<pid>.partial` in the output's directory, renamed
// over the output only once the trace is complete (footer written, for every ending that writes
// one). Concurrent recordings to one output never interleave (the last rename wins, each file is
// whole), a reader never sees a half-written trace under the output's name, and a crash of
// vmtrace (SIGKILL, out of memory) leaves the .partial file, readable up to its last complete
// record. An existing character device (`-o /dev/null`) is written directly: it cannot be
// renamed over, and a trace there is not kept anyway.
import { accessSync, constants, lstatSync, realpathSync, renameSync, statSync, unlinkSync, type Stats } from 'node:fs';
import { basename, dirname, join } from 'node:path';

import { describeWriteError, errnoCode } from '../fs-errors.js';

/** The trace output cannot be written: `reason` is one line ending in `(ECODE)` where there is one. */
export class OutputError extends Error {
  override name = 'OutputError';

  constructor(
    /** The output as the caller named it. */
    readonly path: string,
    readonly reason: string,
    readonly code?: string,
  ) {
    super(`cannot write trace ${path}: ${reason}`);
  }
}

export interface TraceOutput {
  /** The output as given. */
  path: string;
  /** Where the writer writes: the .partial file, or `path` itself for a character device. */
  writePath: string;
  /** True when writePath is path (no rename at the end). */
  direct: boolean;
  /** Moves the complete trace into place (throws OutputError). */
  commit(): void;
  /** Removes the .partial file (after a write failure: nothing usable was written). */
  discard(): void;
}

let opened = 0;

function kindOf(s: Stats): string {
  if (s.isFIFO()) return 'a FIFO';
  if (s.isSocket()) return 'a socket';
  if (s.isBlockDevice()) return 'a block device';
  return 'not a regular file';
}

/**
 * Checks that `path` can take a trace and picks the file to write. Throws OutputError for a
 * missing directory, a directory, or a file that is neither regular nor a character device.
 */
export function openTraceOutput(path: string): TraceOutput {
  let target = path;
  let existing: Stats | undefined;
  try {
    existing = statSync(path);
  } catch (e) {
    const code = errnoCode(e);
    if (code !== 'ENOENT') throw new OutputError(path, describeWriteError(e), code);
  }
  if (existing) {
    if (existing.isDirectory()) throw new OutputError(path, 'it is a directory (EISDIR)', 'EISDIR');
    if (existing.isCharacterDevice()) return { path, writePath: path, direct: true, commit() {}, discard() {} };
    if (!existing.isFile()) throw new OutputError(path, `it is ${kindOf(existing)}: a trace needs a regular file`);
    // Through a symlink: replace the file it points to, not the link.
    if (lstatSync(path).isSymbolicLink()) target = realpathSync(path);
  } else {
    const dir = dirname(path);
    let d: Stats;
    try {
      d = statSync(dir);
    } catch (e) {
      const code = errnoCode(e);
      throw new OutputError(path, code === 'ENOENT' ? `no such directory ${dir} (ENOENT)` : describeWriteError(e), code);
    }
    if (!d.isDirectory()) throw new OutputError(path, `${dir} is not a directory (ENOTDIR)`, 'ENOTDIR');
  }
  // The .partial file is created in, and renamed within, the output's directory: it must be
  // writable (EACCES, EROFS show here, before the guest runs).
  const dir = dirname(target);
  try {
    accessSync(dir, constants.W_OK);
  } catch (e) {
    const code = errnoCode(e);
    throw new OutputError(path, code === 'EACCES' ? `no permission to write in ${dir} (EACCES)` : describeWriteError(e), code);
  }
  const n = opened++;
  const writePath = join(dir, `${basename(target)}.${process.pid}${n ? `-${n}` : ''}.partial`);
  return {
    path,
    writePath,
    direct: false,
    commit() {
      try {
        renameSync(writePath, target);
      } catch (e) {
        throw new OutputError(path, `${describeWriteError(e)}; the complete trace is in ${writePath}`, errnoCode(e));
      }
    },
    discard() {
      try {
        unlinkSync(writePath);
      } catch {
        // never created, or already gone
      }
    },
  };
}

/** Whether `e` is the writer failing to write (the TraceWriter's `writing <path> failed:` or a raw errno from a write). */
export function isWriteFailure(e: unknown): boolean {
  if (e instanceof Error && /^writing .* failed: /.test(e.message)) return true;
  const sys = (e as NodeJS.ErrnoException | undefined)?.syscall;
  return sys === 'write' || sys === 'open' || sys === 'close' || sys === 'fsync';
}
