// Every committed golden (traces/*.vmtrace) must stay replayable: the interpreter re-executes it
// with zero divergences. No KVM needed. One test per golden, so the report names each one.
import { readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { describe, expect, it } from 'vitest';

import { checkGolden, findGoldens, formatGoldenReport } from '../../src/golden/index.js';
import { ROOT } from '../support/record.js';

const set = await findGoldens(ROOT);

describe('the committed goldens', () => {
  it('pair every trace under traces/ with its guest image under guests/', () => {
    const traces = readdirSync(join(ROOT, 'traces')).filter((f) => f.endsWith('.vmtrace') && !f.startsWith('.'));
    expect(set.unpaired).toEqual([]);
    expect(set.goldens.map((g) => basename(g.trace)).sort()).toEqual(traces.sort());
    for (const g of set.goldens) {
      expect(g.error).toBeUndefined();
      expect(g.guest).toBe(join(ROOT, 'guests', g.header!.guest.name));
      expect(g.step).toBe(g.name.endsWith('.step'));
    }
  });
});

describe('every committed golden replays in the interpreter with zero divergences', () => {
  for (const golden of set.goldens) {
    it(`${golden.name} (${basename(golden.trace)})`, async () => {
      const r = await checkGolden(golden, { kvm: false });
      // The failure message is the divergence report, as `vmtrace test` prints it.
      expect(r.ok, formatGoldenReport(r)).toBe(true);
      expect(r.replay?.result?.ok).toBe(true);
      expect(r.imageChanged).toBeNull();
      expect(r.records).toBeGreaterThan(0);
    });
  }
});
