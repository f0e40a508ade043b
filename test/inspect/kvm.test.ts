// One real recording of guests/tiny_kernel.bin (needs /dev/kvm and the built addon): the
// classic demo prints "Hello,world\n" with 12 OUTs to port 0xf1 and halts.
import { afterAll, describe, expect, it } from 'vitest';

import { diffTraces, formatDiff } from '../../src/inspect/diff.js';
import { exitRows } from '../../src/inspect/exits.js';
import { summarize } from '../../src/inspect/summary.js';
import { kvmAvailability } from '../support/kvm.js';
import { HAVE_CLI, cli, tempDir } from './helpers.js';

const kvm = kvmAvailability(); // says why when it is not
const why = !kvm.ok ? kvm.reason : !HAVE_CLI ? 'dist/cli.js not built' : '';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

describe('a real recording of guests/tiny_kernel.bin', () => {
  it.skipIf(!!why)(`has 12 IO exits on port 0xf1 and 1 HLT${why ? ` — SKIPPED: ${why}` : ''}`, async () => {
    const file = tmp.path('tk.vmtrace');
    const rec = cli('record', 'guests/tiny_kernel.bin', '-q', '-o', file);
    expect(rec.status, rec.stderr).toBe(0);
    const s = await summarize(file);
    expect(s.end).toMatchObject({ complete: true, endReason: 'hlt' });
    expect(s.stats.byReason.map((r) => [r.reason, r.count])).toEqual([
      ['IO', 12],
      ['HLT', 1],
    ]);
    expect(s.stats.byPort.map((p) => [p.key, p.count])).toEqual([['0xf1:out', 12]]);
    expect(s.stats.byReason.every((r) => r.run.minNs > 0 && r.run.minNs <= r.run.avgNs && r.run.avgNs <= r.run.maxNs)).toBe(true);
    expect(cli('inspect', file, '--console').stdout).toBe('Hello,world\n');
    const rows = [];
    for await (const r of exitRows(file)) rows.push(r);
    expect(rows.map((r) => r.io?.ascii ?? '').join('')).toBe('Hello,world.');
    expect(rows[0]).toMatchObject({ rip: '0x4', changed: { rax: '0x48' } });

    // A second recording differs only in host timings: diff calls them identical.
    const again = tmp.path('tk2.vmtrace');
    expect(cli('record', 'guests/tiny_kernel.bin', '-q', '-o', again).status).toBe(0);
    const d = await diffTraces(file, again);
    expect(d.identical, formatDiff(d)).toBe(true);
  }, 60_000);
});
