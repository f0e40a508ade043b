// Replay's instruction budget (docs/replay.md, "Instruction budget"): derived from the trace by
// default, so a crafted trace cannot keep replay busy for long; --max-instructions replaces it.
import { createHash } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

import { realModeState } from '../../src/boot/real-mode.js';
import { regsToBytes } from '../../src/cpu-state.js';
import { sregsToBytes } from '../../src/kvm-structs.js';
import { DEFAULT_BUDGET, replayTrace } from '../../src/replay/engine.js';
import { EXIT } from '../../src/trace/exit-reasons.js';
import { readTrace } from '../../src/trace/reader.js';
import { TraceWriter } from '../../src/trace/writer.js';
import { vmtrace } from '../support/cli.js';
import { ROOT } from '../support/record.js';

const dir = mkdtempSync(join(tmpdir(), 'vmtrace-budget-'));
const golden = (name: string) => join(ROOT, 'traces', name);

/** A crafted trace: the guest `jmp $` forever, the trace claims it halts at once. */
async function spinningTrace(): Promise<string> {
  const path = join(dir, 'spin.vmtrace');
  const t = await readTrace(golden('tiny_kernel.vmtrace'));
  const image = Uint8Array.from([0xeb, 0xfe, 0xf4]); // jmp $; hlt
  const sha256 = createHash('sha256').update(image).digest('hex');
  const w = new TraceWriter(path);
  w.writeHeader({ ...t.header, guest: { ...t.header.guest, image, sha256 }, initialMemory: [{ address: 0, bytes: image, what: 'image' }] });
  const boot = realModeState({ cs: 0, ip: 0, sp: 0 }, t.header.boot.sregs);
  w.writeRecord({ kind: 'exit', reason: EXIT.HLT, timeNs: 1, runNs: 1, regsBytes: regsToBytes({ ...boot.regs, rip: 3n }) });
  await w.finish({ endReason: 'hlt', message: '', regsBytes: regsToBytes(boot.regs), sregsBytes: sregsToBytes(t.header.boot.sregs) });
  return path;
}

describe('the instruction budget', () => {
  it('the default is generous for the committed goldens (their longest stretch: 2.9 M instructions, bench-64)', async () => {
    expect(DEFAULT_BUDGET.perRecord).toBeGreaterThanOrEqual(20 * 2_900_000);
    const r = await replayTrace(golden('bench-64.vmtrace'));
    expect(r.ok).toBe(true);
  });

  it('per record: a stretch longer than the per-record budget is a no-exit divergence that says what to do', async () => {
    const r = await replayTrace(golden('compute.vmtrace'), { budget: { perRecord: 1_000_000, base: 1e12, total: 0 } });
    expect(r.divergence?.kind).toBe('no-exit');
    expect(r.divergence?.index).toBe(0);
    expect(r.divergence?.message).toMatch(/^the guest ran 1000000 instructions without reaching recorded IO exit #0: replay's default budget of 1,000,000 instructions per record ran out \(docs\/replay\.md, "Instruction budget"\)\. if the guest really runs that long without an exit, replay with a larger --max-instructions N \(per record, no total bound\), e\.g\. --max-instructions 10000000; /);
  });

  it('in total: base + so much per record before it, whatever the per-record budget allows', async () => {
    // compute's first exit needs 1.8 M instructions: more than a total of 1 M for record #0
    const r = await replayTrace(golden('compute.vmtrace'), { budget: { perRecord: 1e12, base: 1_000_000, total: 10 } });
    expect(r.divergence?.kind).toBe('no-exit');
    expect(r.divergence?.message).toMatch(/default total budget for a trace this far in ran out: 1,000,000 instructions in all, at most 1,000,000 \+ 10 per record before this one = 1,000,000/);
    // and the same trace with room for it replays
    expect((await replayTrace(golden('compute.vmtrace'), { budget: { perRecord: 1e12, base: 2_000_000, total: 10 } })).ok).toBe(true);
  });

  it('an explicit maxInstructions replaces the default budget (per record, no total bound)', async () => {
    const r = await replayTrace(golden('compute.vmtrace'), { maxInstructions: 500_000 });
    expect(r.divergence?.message).toMatch(/ran 500000 instructions .*: the budget --max-instructions 500000 \(per record\) ran out\. /);
    expect((await replayTrace(golden('compute.vmtrace'), { maxInstructions: 2_000_000, budget: { perRecord: 1, base: 1, total: 0 } })).ok).toBe(true);
  });

  it('a crafted trace whose guest spins forever ends within the default budget, exit 1, with the advice', async () => {
    const file = await spinningTrace();
    const t0 = Date.now();
    const r = vmtrace(['replay', file]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/divergence \(no-exit\) at record #0/);
    expect(r.stderr).toMatch(/the guest ran 64000000 instructions without reaching recorded HLT exit #0: replay's default budget of 64,000,000 instructions per record ran out/);
    expect(r.stderr).toMatch(/--max-instructions 640000000/);
    expect(Date.now() - t0).toBeLessThan(50_000);
    const small = vmtrace(['replay', '--max-instructions', '1000', file]);
    expect(small.status).toBe(1);
    expect(small.stderr).toMatch(/ran 1000 instructions without reaching recorded HLT exit #0: the budget --max-instructions 1000 \(per record\) ran out/);
  }, 60_000);
});
