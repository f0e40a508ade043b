// x87 control/status words under KVM (docs/exit-semantics.md): kvm_pvm's emulator runs FNINIT,
// FNSTCW m16 and FNSTSW m16 (and raises #NM for them under CR0.TS/EM); FLDCW, FNSTSW AX, FWAIT
// and x87 arithmetic end the run with an emulation failure. Recorded and replayed here.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

import { record } from '../../src/record/recorder.js';
import { replayTrace } from '../../src/replay/engine.js';
import { readTrace } from '../../src/trace/reader.js';
import { kvmAvailability, kvmTitle } from '../support/kvm.js';
import { CapturedConsole } from '../support/record.js';

async function recordBytes(code: number[], singleStep: boolean) {
  const dir = mkdtempSync(join(tmpdir(), 'vmtrace-x87-'));
  const console = new CapturedConsole();
  const r = await record({
    image: Uint8Array.from(code), imageName: 'x87.bin', output: join(dir, 'x87.vmtrace'),
    memBytes: 1 << 20, loadAddress: 0, entry: { cs: 0, ip: 0 }, input: new Uint8Array(0), consolePort: 0xf1,
    maxExits: 1000, timeoutMs: 10_000, singleStep, quiet: true, console,
  });
  return { r, console, trace: await readTrace(r.output) };
}

// fnstcw [0x200]; fnstsw [0x202]; fninit; fnstcw [0x204]; print the three words' low bytes
// (mov al,[0x200]; out; mov al,[0x201]; out; mov al,[0x204]; out; mov al,[0x202]; out); fldcw [0x200]; hlt
const CODE = [
  0xd9, 0x3e, 0x00, 0x02, 0xdd, 0x3e, 0x02, 0x02, 0xdb, 0xe3, 0xd9, 0x3e, 0x04, 0x02,
  0xa0, 0x00, 0x02, 0xe6, 0xf1, 0xa0, 0x01, 0x02, 0xe6, 0xf1, 0xa0, 0x04, 0x02, 0xe6, 0xf1, 0xa0, 0x02, 0x02, 0xe6, 0xf1,
  0xd9, 0x2e, 0x00, 0x02, 0xf4,
];

describe.skipIf(!kvmAvailability().ok)(kvmTitle('x87 control/status words under KVM'), () => {
  for (const step of [false, true]) {
    it(`records FNSTCW/FNSTSW/FNINIT and replays them${step ? ' (--step)' : ''}`, async () => {
      const { r, console, trace } = await recordBytes(CODE, step);
      expect([...Buffer.from(console.text, 'latin1')]).toEqual([0x7f, 0x03, 0x7f, 0x00]);
      // this host (kvm_pvm) cannot emulate FLDCW; elsewhere the guest halts
      expect(['internal-error', 'hlt']).toContain(r.endReason);
      const replay = await replayTrace(r.output);
      expect(replay.divergence).toBeUndefined();
      expect(replay.ok).toBe(true);
      if (r.endReason === 'internal-error') expect(replay.note).toMatch(/fldcw/);
      expect(trace.records.length).toBeGreaterThan(3);
    });
  }
});
