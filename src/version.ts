import { readFileSync } from 'node:fs';

/** vmtrace's version, from package.json (stored in every trace header). */
export const VERSION: string = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
).version;
