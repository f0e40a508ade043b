// ConsoleCollector keeps the first `keep` console bytes of a scan in one buffer and hands every
// byte to onBytes.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { ConsoleCollector, scanTrace } from '../../src/inspect/summary.js';
import { readTrace } from '../../src/trace/reader.js';
import { writeSyntheticTrace } from '../../src/inspect/synthetic.js';

const dir = mkdtempSync(join(tmpdir(), 'vmtrace-console-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The console bytes of a trace, from its records (the reference). */
async function expectedConsole(file: string): Promise<Buffer> {
  const { records } = await readTrace(file);
  return Buffer.concat(records.filter((r) => r.io?.direction === 'out' && r.io.port === 0xf1).map((r) => r.io!.data));
}

describe('ConsoleCollector', () => {
  test('keeps every byte up to its limit, in order, and sees all of them through onBytes', async () => {
    const file = join(dir, 'a.vmtrace');
    await writeSyntheticTrace(file, { exits: 20_000, frameBytes: 4096 }); // many frames: the buffer grows across them
    const want = await expectedConsole(file);
    expect(want.length).toBeGreaterThan(10_000);

    const seen: Uint8Array[] = [];
    const all = new ConsoleCollector(1 << 20, (d) => seen.push(d));
    const cut = new ConsoleCollector(5000);
    await scanTrace(file, [all, cut]);

    expect(Buffer.from(all.data()).equals(want)).toBe(true);
    expect(all.overflow).toBe(false);
    expect(Buffer.concat(seen).equals(want)).toBe(true);
    expect(cut.bytes).toBe(want.length);
    expect(Buffer.from(cut.data()).equals(want.subarray(0, 5000))).toBe(true);
    expect(cut.overflow).toBe(true);
  });
});
