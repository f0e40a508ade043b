// One-line file system error texts (src/fs-errors.ts).
import { describe, expect, test } from 'vitest';
import { describeWriteError, errnoCode } from '../src/fs-errors.js';

describe('fs errors', () => {
  test('the code comes from .code, else from the ECODE: of the message, not from capitals in a path', () => {
    expect(errnoCode(Object.assign(new Error('x'), { code: 'EACCES' }))).toBe('EACCES');
    const e = new Error('writing /tmp/vmtrace-robust-rec-EFQ2GQ/c.vmtrace.1.partial failed: ENOSPC: no space left on device, write');
    expect(errnoCode(e)).toBe('ENOSPC');
    expect(describeWriteError(e)).toBe('disk full, no space left on the device (ENOSPC)');
    expect(errnoCode(new Error('cannot open /tmp/x-EABCDE/y'))).toBeUndefined();
    expect(describeWriteError(new Error('odd failure (EWHATEVER)'))).toBe('odd failure (EWHATEVER)');
  });
});
