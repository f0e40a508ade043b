// Every committed golden (traces/*.vmtrace, traces/arm64/*.vmtrace) must stay replayable: the interpreter re-executes it
// with zero divergences. No KVM needed. One test per golden, so the report names each one.
import { readdirSync } from 'node:fs';
import { basename, join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

import { checkGolden, findGoldens, formatGoldenReport } from '../../src/golden/index.js';
import { ROOT } from '../support/record.js';

const set = await findGoldens(ROOT);

describe('the committed goldens', () => {
  it('pair every trace under traces/ (and traces/arm64/) with its guest image under guests/ (guests/arm64/)', () => {
    const list = (sub: string) => readdirSync(join(ROOT, 'traces', sub)).filter((f) => f.endsWith('.vmtrace') && !f.startsWith('.')).map((f) => join(sub, f));
    const traces = [...list(''), ...list('arm64')];
    expect(set.unpaired).toEqual([]);
    expect(set.goldens.map((g) => relative(join(ROOT, 'traces'), g.trace)).sort()).toEqual(traces.sort());
    for (const g of set.goldens) {
      expect(g.error).toBeUndefined();
      const sub = g.header!.arch === 'aarch64' ? 'arm64' : '';
      expect(g.guest).toBe(join(ROOT, 'guests', sub, g.header!.guest.name));
      expect(g.name.startsWith('arm64/')).toBe(g.header!.arch === 'aarch64');
      expect(g.step).toBe(g.name.endsWith('.step'));
    }
    expect(set.goldens.filter((g) => g.header!.arch === 'aarch64').length).toBeGreaterThan(0);
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
