// The undefined-flag probe: its program, the fitting, and (with KVM) the probe of this host.
import { describe, expect, it } from 'vitest';

import { fitFlagModel, probeProgram } from '../../src/record/flag-probe-program.js';
import { interpretProbe, probeFlagModel } from '../../src/record/flag-probe.js';
import { probePlan } from '../../src/record/probe-vm.js';
import { U } from '../../src/replay/x86/flag-model.js';
import type { BootMode } from '../../src/trace/format.js';
import { replayTrace } from '../../src/replay/engine.js';
import { kvmAvailability, kvmTitle } from '../support/kvm.js';
import { recordGuest } from '../support/record.js';

const current = { cr8: 0n, apic_base: 0xfee00900n } as never;

function interpreted(mode: BootMode) {
  const prog = probeProgram(mode);
  const plan = probePlan('flag-probe', prog.code, mode, prog.load);
  const { regs, sregs } = plan.state(current);
  return { prog, ...interpretProbe(prog, plan, regs, sregs, []) };
}

describe('flag probe program', () => {
  for (const mode of ['real', 'protected', 'long'] as const) {
    it(`runs to HLT in the interpreter in ${mode} mode, one observation per case`, () => {
      const { prog, observed } = interpreted(mode);
      expect(prog.cases.length).toBeGreaterThan(1000);
      expect(observed.map((o) => o.index)).toEqual(prog.cases.map((_, k) => k).filter((k) => observed.some((o) => o.index === k)));
      // every case but shifts/rotates by a masked count of 0 (no flags touched) is observed
      expect(observed.length).toBeGreaterThan(prog.cases.length * 0.9);
    });
  }

  it('fits the built-in rules to a host that behaves like the interpreter', () => {
    const { observed, flags } = interpreted('real');
    const model = fitFlagModel(observed, flags);
    expect(Object.keys(model)).toContain('bsf.2');
    for (const rules of Object.values(model)) expect(rules.split(' ').every((r) => r.endsWith('=b'))).toBe(true);
  });

  it("fits other rules to another host's results, and '?' where none fits", () => {
    const { prog, observed, flags } = interpreted('real');
    // a host whose BSF clears CF and whose MUL sets SF at random
    const other = flags.map((f, k) => {
      const c = prog.cases[k]!;
      if (c.cls === U.bsf) return f & ~1;
      if (c.cls === U.mul && c.size === 2) return k % 3 ? f | 0x80 : f & ~0x80;
      return f;
    });
    const model = fitFlagModel(observed, other);
    expect(model['bsf.2']).toMatch(/^c=0 /);
    expect(model['mul.2']).toMatch(/s=\?/);
  });
});

describe.skipIf(!kvmAvailability().ok)(kvmTitle('flag probe under KVM'), () => {
  it('probes every class of every mode and the recorder stores the model', async () => {
    for (const mode of ['real', 'protected', 'long'] as const) {
      const model = probeFlagModel(mode);
      for (const key of ['mul.1', 'imul.4', 'div.2', 'shl.1', 'shrd.4', 'bt.2', 'bsf.4', 'and.1']) expect(model, `${mode} ${key}`).toHaveProperty(key);
    }
    const { result, trace } = await recordGuest('grp_bit.bin');
    expect(trace.header.hostModel?.flags).toEqual(probeFlagModel('real'));
    // with the host's model, replay computes what the host did: nothing left to adopt
    const r = await replayTrace(result.output);
    expect(r.ok).toBe(true);
    expect(r.undefinedFlags.adopted).toBe(0);
  });
});
