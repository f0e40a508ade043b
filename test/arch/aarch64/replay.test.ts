// Replaying aarch64 traces on any host: the committed arm64 goldens (recorded under real arm64
// KVM, npm run test:arm64) match exit for exit, and a trace altered as another recording would
// differ names the first divergence precisely.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

import { replayTrace } from '../../../src/replay/engine.js';
import { formatDivergence } from '../../../src/replay/report.js';
import { copyTrace } from '../../../src/trace/copy.js';
import { ROOT } from '../../support/record.js';

const dir = mkdtempSync(join(tmpdir(), 'vmtrace-a64-replay-'));
const golden = (name: string) => join(ROOT, 'traces', 'arm64', `${name}.vmtrace`);

describe('aarch64 replay', () => {
  it('reproduces tiny_kernel: 12 UART writes, Hello,world, then PSCI SYSTEM_OFF', async () => {
    const out: number[] = [];
    const r = await replayTrace(golden('tiny_kernel'), { onConsole: (b) => out.push(...b) });
    expect(r.ok, r.divergence && formatDivergence(r, 'tiny_kernel')).toBe(true);
    expect(r.exits).toBe(13);
    expect(Buffer.from(out).toString()).toBe('Hello,world\n');
  });

  it('checks every instruction of a --step trace', async () => {
    const r = await replayTrace(golden('tiny_kernel.step'));
    expect(r.ok, r.divergence?.message).toBe(true);
    expect(r.singleStep).toBe(true);
    expect(r.matched).toBe(r.instructions);
  });

  it('names the register that differs, with A64 disassembly of the instructions before', async () => {
    const bad = join(dir, 'sieve-x3.vmtrace');
    // record #5 as a host whose guest left another value in x3 would have written it
    await copyTrace(golden('sieve'), bad, { record: (out, _rec, i) => void (i === 5 && (out.regsBytes[3 * 8] ^= 1)) });
    const r = await replayTrace(bad);
    expect(r.ok).toBe(false);
    expect(r.divergence).toMatchObject({ kind: 'registers', index: 5 });
    expect(r.divergence!.registers.map((d) => d.field)).toEqual(['x3']);
    expect(r.divergence!.history.length).toBeGreaterThan(0);
    expect(r.divergence!.history.at(-1)!.text).toMatch(/^[a-z]/);
  });

  it('names a payload difference: the byte the guest wrote to the UART', async () => {
    const bad = join(dir, 'tiny-byte.vmtrace');
    await copyTrace(golden('tiny_kernel'), bad, { record: (out, _rec, i) => void (i === 2 && out.mmio && (out.mmio = { ...out.mmio, data: Uint8Array.of(0x21) })) });
    const r = await replayTrace(bad);
    expect(r.divergence).toMatchObject({ kind: 'payload', index: 2 });
    expect(r.divergence!.fields).toEqual([{ field: 'mmio.data', expected: '21', actual: '6c' }]);
  });

  it('names a different exit: SYSTEM_EVENT where the recording has an MMIO write', async () => {
    const cut = join(dir, 'tiny-short.vmtrace');
    await copyTrace(golden('tiny_kernel'), cut, { record: (out, _rec, i) => void (i === 12 && Object.assign(out, { reason: 6, mmio: { address: 0x0900_0000, length: 1, write: true, data: Uint8Array.of(0) } })) });
    const r = await replayTrace(cut);
    expect(r.ok).toBe(false);
    expect(r.divergence?.kind).toBe('reason');
    expect(r.divergence?.index).toBe(12);
  });
});
