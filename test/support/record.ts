// Recording guests in tests: the library API with console output captured in memory.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';

import type { ConsoleSink } from '../../src/record/devices/console.js';
import { record, type RecordOptions, type RecordResult } from '../../src/record/recorder.js';
import { readTrace } from '../../src/trace/reader.js';

export const ROOT = join(import.meta.dirname, '..', '..');

export class CapturedConsole implements ConsoleSink {
  readonly bytes: number[] = [];
  put(byte: number): void {
    this.bytes.push(byte);
  }
  flush(): void {}
  get text(): string {
    return Buffer.from(this.bytes).toString('latin1');
  }
}

export async function recordGuest(
  guest: string,
  options: Partial<RecordOptions> = {},
): Promise<{ result: RecordResult; console: CapturedConsole; trace: Awaited<ReturnType<typeof readTrace>> }> {
  const image = readFileSync(join(ROOT, 'guests', guest));
  const dir = mkdtempSync(join(tmpdir(), 'vmtrace-test-'));
  const console = new CapturedConsole();
  const result = await record({
    image,
    imageName: basename(guest),
    output: join(dir, basename(guest).replace(/\.bin$/, '.vmtrace')),
    memBytes: 1 << 20,
    loadAddress: 0,
    entry: { cs: 0, ip: 0 },
    input: new Uint8Array(0),
    consolePort: 0xf1,
    maxExits: Infinity,
    timeoutMs: 30_000,
    singleStep: false,
    quiet: true,
    console,
    ...options,
  });
  return { result, console, trace: await readTrace(result.output) };
}
