// The single-step probe (src/record/step-probe.ts): its program, reading its result, and (with
// KVM) probing this host, recording ENDBR guests with --step and replaying them.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

import { joinsFromStepEnds, probeStepModel, stepProbeProgram } from '../../src/record/step-probe.js';
import { prepareBoot, record } from '../../src/record/recorder.js';
import { replayTrace } from '../../src/replay/engine.js';
import { STEP_JOIN_CANDIDATES } from '../../src/replay/x86/step-model.js';
import { readTrace } from '../../src/trace/reader.js';
import { kvmAvailability, kvmTitle } from '../support/kvm.js';
import { CapturedConsole, ROOT, recordGuest } from '../support/record.js';
import { rewriteTrace } from '../support/rewrite.js';

describe('step probe program', () => {
  it('places every candidate (64-bit: no POP SS) between a step end and a marker', () => {
    for (const mode of ['real', 'protected', 'long'] as const) {
      const p = stepProbeProgram(mode);
      const names = STEP_JOIN_CANDIDATES.filter((c) => mode !== 'long' || !c.legacyOnly).map((c) => c.name);
      expect(p.cases.map((c) => c.name)).toEqual(names);
      for (const c of p.cases) expect([...p.code.subarray(c.marker, c.marker + 2)]).toEqual([0xb0, 0x01]);
    }
    expect(stepProbeProgram('real', new Set(['fwait'])).cases.map((c) => c.name)).not.toContain('fwait');
  });

  it('a candidate joins when no step ended between it and its marker', () => {
    const p = stepProbeProgram('real');
    const ends = new Set<number>([0]);
    for (const c of p.cases) {
      ends.add(c.at);
      if (c.name !== 'endbr32') ends.add(c.marker);
      ends.add(c.marker + 2);
    }
    expect(joinsFromStepEnds(p, ends)).toEqual(['endbr32']);
    ends.delete(p.cases[3]!.at);
    expect(() => joinsFromStepEnds(p, ends)).toThrow(/no step ended before/);
  });
});

/** Records a real-mode guest given as bytes; console on 0xf1. */
async function recordBytes(code: number[], singleStep: boolean) {
  const dir = mkdtempSync(join(tmpdir(), 'vmtrace-step-'));
  const result = await record({
    image: Uint8Array.from(code),
    imageName: 'endbr.bin',
    output: join(dir, singleStep ? 'endbr.step.vmtrace' : 'endbr.vmtrace'),
    memBytes: 1 << 20,
    loadAddress: 0,
    entry: { cs: 0, ip: 0 },
    input: new Uint8Array(0),
    consolePort: 0xf1,
    maxExits: 1000,
    timeoutMs: 10_000,
    singleStep,
    quiet: true,
    console: new CapturedConsole(),
  });
  return { result, trace: await readTrace(result.output) };
}

describe.skipIf(!kvmAvailability().ok)(kvmTitle('single-step probe under KVM'), () => {
  it('probes every mode quickly, and --step recordings store the model (plain ones: no joins)', async () => {
    for (const mode of ['real', 'protected', 'long'] as const) {
      const r = probeStepModel(mode);
      for (const j of r.model.joins) expect(STEP_JOIN_CANDIDATES.map((c) => c.name)).toContain(j);
      expect(r.ms).toBeLessThan(500); // ~20 ms measured; generous for a loaded machine
    }
    // xor ax,ax; endbr32; inc ax; out 0xf1,al; hlt
    const code = [0x31, 0xc0, 0xf3, 0x0f, 0x1e, 0xfb, 0x40, 0xe6, 0xf1, 0xf4];
    const step = await recordBytes(code, true);
    expect(step.trace.header.hostModel?.step).toEqual(probeStepModel('real').model);
    const plain = await recordBytes(code, false);
    expect(plain.trace.header.hostModel?.step).toEqual({ joins: [] });

    const r = await replayTrace(step.result.output);
    expect(r.divergence).toBeUndefined();
    expect(r.ok).toBe(true);
    expect(r.singleStep).toBe(true);
    // one record per step: xor, endbr32 (+ inc, if joined), inc, out, hlt
    const joined = probeStepModel('real').model.joins.includes('endbr32');
    expect(step.trace.records).toHaveLength(joined ? 4 : 5);

    // the same trace without the model: the interpreter counts ENDBR32 as its own step and
    // diverges where the host did not (at record #1) — unless this host steps ENDBR32 alone
    const dir = mkdtempSync(join(tmpdir(), 'vmtrace-step-'));
    const bare = join(dir, 'bare.vmtrace');
    await rewriteTrace(step.result.output, bare, () => {}, { header: (h) => ({ ...h, hostModel: { flags: h.hostModel!.flags, step: { joins: [] } } }) });
    const b = await replayTrace(bare);
    if (joined) {
      expect(b.divergence?.index).toBe(1);
      expect(b.divergence?.kind).toBe('registers');
    } else expect(b.ok).toBe(true);
  });

  for (const bits of [32, 64]) {
    it(`the -fcf-protection=full C guest cet-${bits}.elf replays its --step recording with no divergence`, async () => {
      const image = readFileSync(join(ROOT, 'guests', `cet-${bits}.elf`));
      const boot = prepareBoot({ image, imageName: `cet-${bits}.elf` });
      const { result, trace, console } = await recordGuest(`cet-${bits}.elf`, { boot, singleStep: true });
      expect(result.endReason).toBe('hlt');
      expect(console.text).toContain('rotl(6) -> f3de500');
      const r = await replayTrace(result.output);
      expect(r.divergence).toBeUndefined();
      expect(r.ok).toBe(true);
      expect(r.matched).toBe(trace.records.length);
      // without the model it would diverge at the first ENDBR of a host that joins them
      const endbr = bits === 32 ? 'endbr32' : 'endbr64';
      if (trace.header.hostModel!.step.joins.includes(endbr)) {
        const bare = join(mkdtempSync(join(tmpdir(), 'vmtrace-step-')), 'bare.vmtrace');
        await rewriteTrace(result.output, bare, () => {}, { header: (h) => ({ ...h, hostModel: { flags: h.hostModel!.flags, step: { joins: [] } } }) });
        const b = await replayTrace(bare);
        expect(b.ok).toBe(false);
        expect(b.divergence!.history.at(-1)!.text).toBe(endbr);
      }
      // and the plain recording too
      const plain = await recordGuest(`cet-${bits}.elf`, { boot });
      expect((await replayTrace(plain.result.output)).ok).toBe(true);
    });
  }
});
