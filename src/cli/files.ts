// Output files of the CLI: refusing an output that is one of the command's inputs, and one-line
// explanations of why a file cannot be written.
import { realpathSync, statSync } from 'node:fs';
import { resolve } from 'node:path';

import { UsageError } from './parse.js';

export { describeWriteError, errnoCode } from '../fs-errors.js';

/** True when a and b name the same existing file (same device and inode), or resolve to the same path. */
export function sameFile(a: string, b: string): boolean {
  if (resolve(a) === resolve(b)) return true;
  try {
    const sa = statSync(a);
    const sb = statSync(b);
    if (sa.dev === sb.dev && sa.ino === sb.ino) return true;
  } catch {
    // one does not exist (yet)
  }
  try {
    return realpathSync(a) === realpathSync(b);
  } catch {
    return false;
  }
}

/**
 * Refuses (UsageError, exit 2) an output that is one of the inputs: writing it would destroy the
 * input before it is read. `output.what` names the option (`-o`, `--perfetto`).
 */
export function refuseOutputIsInput(output: { what: string; path: string }, inputs: Array<{ what: string; path: string | undefined }>): void {
  for (const input of inputs) {
    if (input.path === undefined || input.path === '-' || input.path === '') continue;
    if (sameFile(output.path, input.path)) {
      const alias = resolve(output.path) === resolve(input.path) ? '' : ` (${input.path})`;
      throw new UsageError(`${output.what} ${output.path} is the ${input.what}${alias}: writing it would destroy it; choose another ${output.what} file`);
    }
  }
}
