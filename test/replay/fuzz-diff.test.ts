// Smoke test of the random differential generator (npm run fuzz:diff, docs/replay.md "Random
// differential testing"): a few seeds × 300 generated real-mode instructions recorded under KVM
// plainly and with --step and replayed. --step replays must all match; a plain replay must match
// or diverge with a report naming the instruction that left a flag undefined. Raw: the generator
// does not sanitise undefined flags.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

// @ts-ignore -- plain JavaScript modules shared with scripts/fuzz-diff.mjs (tests are not type-checked)
import { generateGuest } from '../../scripts/fuzz/generate.mjs';
// @ts-ignore -- plain JavaScript modules shared with scripts/fuzz-diff.mjs (tests are not type-checked)
import { runSeed } from '../../scripts/fuzz/harness.mjs';
import { record } from '../../src/record/recorder.js';
import { replayTrace } from '../../src/replay/engine.js';
import { formatDivergence } from '../../src/replay/report.js';
import { readTrace } from '../../src/trace/reader.js';
import { kvmAvailability, kvmTitle } from '../support/kvm.js';

const SEEDS = [1, 2, 3, 4, 5, 6];
const INSNS = 300;
const lib = { record, replayTrace, formatDivergence, readTrace };

describe('fuzz:diff generator', () => {
  it('is deterministic per seed and emits the requested number of instructions', () => {
    const a = generateGuest({ seed: 42, insns: INSNS });
    const b = generateGuest({ seed: 42, insns: INSNS });
    const c = generateGuest({ seed: 43, insns: INSNS });
    expect(Buffer.from(a.image).equals(Buffer.from(b.image))).toBe(true);
    expect(Buffer.from(a.image).equals(Buffer.from(c.image))).toBe(false);
    expect(a.instructions).toBeGreaterThanOrEqual(INSNS);
    expect(a.image.at(-1)).toBe(0xf4); // hlt
  });
});

describe.skipIf(!kvmAvailability().ok)(kvmTitle('fuzz:diff under KVM (few seeds × 300 instructions)'), () => {
  const work = mkdtempSync(join(tmpdir(), 'vmtrace-fuzz-test-'));
  for (const seed of SEEDS) {
    it(`seed ${seed}: --step matches; plain matches or names the undefined-flag instruction`, async () => {
      const r = await runSeed(lib, { seed, insns: INSNS, workDir: work });
      const plain = r.modes.plain;
      const step = r.modes.step;
      expect(plain.status, plain.failure?.message).not.toBe('record-failure');
      expect(step.status, step.report ?? step.failure?.message).toBe('match');
      if (plain.status !== 'match') {
        expect(plain.status).toBe('diverged');
        expect(plain.divergence.undefinedUse, plain.report).toBeDefined();
      }
    });
  }
});
