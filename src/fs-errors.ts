// One-line explanations of file system errors, for messages like
// `cannot write trace /x/y.vmtrace: no such directory (ENOENT); choose another -o`.
/** Why writing failed, by errno code: what the user sees before `(CODE)`. */
const WRITE_ERRORS: Record<string, string> = {
  ENOENT: 'no such directory',
  ENOTDIR: 'a part of the path is not a directory',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EISDIR: 'it is a directory',
  ENOSPC: 'disk full, no space left on the device',
  EDQUOT: 'disk quota exceeded',
  EFBIG: 'the file is too large for this file system',
  EROFS: 'read-only file system',
  EIO: 'input/output error',
  ENAMETOOLONG: 'file name too long',
  ELOOP: 'too many levels of symbolic links',
  EMFILE: 'too many open files',
  ENXIO: 'no such device',
  ETXTBSY: 'the file is busy (a running program)',
  EEXIST: 'the file exists',
  EXDEV: 'the temporary file is on another file system',
};

/**
 * The errno code of a file system error: `.code`, else the `ECODE:` its message contains (as
 * Node writes them; a path in the message may hold other capitals, e.g. mkdtemp's `-EFQ2GQ`).
 */
export function errnoCode(e: unknown): string | undefined {
  const code = (e as NodeJS.ErrnoException | undefined)?.code ?? (e as { cause?: NodeJS.ErrnoException } | undefined)?.cause?.code;
  if (typeof code === 'string' && /^E[A-Z0-9]+$/.test(code)) return code;
  const m = /(?:^|[\s(])(E[A-Z]{2,}[A-Z0-9]*)(?=[:)])/.exec(e instanceof Error ? e.message : String(e));
  return m?.[1];
}

/** `no such directory (ENOENT)`, `read-only file system (EROFS)`; the error's own text for other codes. */
export function describeWriteError(e: unknown): string {
  const code = errnoCode(e);
  if (code && WRITE_ERRORS[code]) return `${WRITE_ERRORS[code]} (${code})`;
  const text = (e instanceof Error ? e.message : String(e)).replace(/^writing \S+ failed: /, '').split('\n')[0]!;
  return code && !text.includes(code) ? `${text} (${code})` : text;
}
