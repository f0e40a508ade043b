// Why an image cannot be loaded: one line that names the file and what is wrong with it. The
// CLI maps these to exit code 2 (bad input), like a usage error.
export class ImageError extends Error {
  override name = 'ImageError';

  constructor(
    readonly file: string,
    readonly problem: string,
  ) {
    super(`${file}: ${problem}`);
  }
}

export function hex(v: number | bigint): string {
  return '0x' + v.toString(16);
}
