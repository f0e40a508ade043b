// Option value parsers for the CLI: each throws a UsageError that says what was expected.
export class UsageError extends Error {
  override name = 'UsageError';
}

/** 123, 0x7b, 0o173 or 0b1111011. */
export function parseInteger(text: string, what: string): number {
  const t = text.trim().toLowerCase().replace(/_/g, '');
  const v = /^(0x[0-9a-f]+|0o[0-7]+|0b[01]+|\d+)$/.test(t) ? Number(t) : NaN;
  if (!Number.isSafeInteger(v) || v < 0) throw new UsageError(`${what}: '${text}' is not a non-negative integer (decimal or 0x hex)`);
  return v;
}

const UNITS: Record<string, number> = { '': 1, k: 1 << 10, m: 1 << 20, g: 1 << 30 };

/** 65536, 64K, 1M, 2G, 0x100000 (binary units). */
export function parseSize(text: string, what: string): number {
  const m = /^(0x[0-9a-f]+|\d+)\s*([kmg]?)(i?b)?$/i.exec(text.trim());
  if (!m) throw new UsageError(`${what}: '${text}' is not a size (examples: 65536, 64K, 1M, 0x100000)`);
  return Number(m[1]) * UNITS[m[2]!.toLowerCase()]!;
}

/** Real-mode CS:IP, both hex (0000:7c00), or a bare IP with CS 0. */
export function parseEntry(text: string): { cs: number; ip: number } {
  const m = /^(?:([0-9a-f]{1,4}):)?((?:0x)?[0-9a-f]{1,4})$/i.exec(text.trim());
  if (!m) throw new UsageError(`--entry: '${text}' is not CS:IP in hex (example: 0000:7c00)`);
  return { cs: m[1] ? parseInt(m[1], 16) : 0, ip: parseInt(m[2]!.replace(/^0x/i, ''), 16) };
}
