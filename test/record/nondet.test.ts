// Recording RDTSC under KVM: a --step trace replays (the result comes from the recording), an
// exit trace stops before it with a one-line reason and exit code 3.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

import { record } from '../../src/record/recorder.js';
import { replayTrace } from '../../src/replay/engine.js';
import { summaryLine } from '../../src/replay/report.js';
import { kvmAvailability, kvmTitle } from '../support/kvm.js';
import { CapturedConsole } from '../support/record.js';

async function recordBytes(code: number[], singleStep: boolean): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'vmtrace-nondet-'));
  const r = await record({
    image: Uint8Array.from(code), imageName: 'rdtsc.bin', output: join(dir, 'rdtsc.vmtrace'),
    memBytes: 1 << 20, loadAddress: 0, entry: { cs: 0, ip: 0 }, input: new Uint8Array(0), consolePort: 0xf1,
    maxExits: 1000, timeoutMs: 10_000, singleStep, quiet: true, console: new CapturedConsole(),
  });
  expect(r.endReason).toBe('hlt');
  return r.output;
}

// nop; rdtsc; out 0xf1,al; mov al,dl; out 0xf1,al; hlt
const CODE = [0x90, 0x0f, 0x31, 0xe6, 0xf1, 0x88, 0xd0, 0xe6, 0xf1, 0xf4];

describe.skipIf(!kvmAvailability().ok)(kvmTitle('RDTSC recorded under KVM'), () => {
  it('a --step trace replays, taking EDX:EAX from the recording', async () => {
    const r = await replayTrace(await recordBytes(CODE, true));
    expect(r.divergence).toBeUndefined();
    expect(r.ok).toBe(true);
  });

  it('an exit trace stops before RDTSC naming it and its address: not a register divergence', async () => {
    const r = await replayTrace(await recordBytes(CODE, false));
    expect(r.ok).toBe(false);
    expect(r.divergence?.kind).toBe('nondeterministic');
    expect(r.divergence?.index).toBe(0);
    expect(r.divergence?.registers).toEqual([]);
    expect(summaryLine(r)).toBe('STOPPED at exit #0 after 0 matching records: the guest executed RDTSC at 0000:0001: its result is nondeterministic and only a --step trace records it (record with --step to replay past it)');
  });
});
