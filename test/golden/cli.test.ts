// `vmtrace test` on the committed goldens: with KVM every golden is recorded afresh and diffed
// (and replayed); without KVM (simulated with VMTRACE_KVM_DEVICE) the goldens are replayed only.
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';

import { findGoldens, hostArch } from '../../src/golden/index.js';
import { openTrace } from '../../src/trace/reader.js';
import { vmtrace, type CliResult } from '../support/cli.js';
import { kvmAvailability, kvmTitle, noKvmReason } from '../support/kvm.js';
import { ROOT } from '../support/record.js';

const NO_KVM = { VMTRACE_KVM_DEVICE: '/nonexistent' };
/** Why recording is impossible with NO_KVM: the missing device, or first the missing addon. */
const NO_KVM_REASON = noKvmReason('/nonexistent');
const set = await findGoldens(ROOT);
const names = set.goldens.map((g) => g.name);

interface GoldenLine {
  type: 'golden';
  name: string;
  status: string;
  ok: boolean;
  records: number | null;
  exits: number | null;
  record: { identical: boolean; endReason: string; firstDifference: string | null; fresh: string | null; error: string | null } | null;
  replay: { ok: boolean; matched: number } | null;
  report: string | null;
}

interface SummaryLine {
  type: 'summary';
  total: number;
  passed: number;
  failed: number;
  recorded: boolean;
  kvm: { available: boolean; reason: string | null };
}

function ndjson(r: CliResult): { goldens: GoldenLine[]; summary: SummaryLine } {
  const objs = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as GoldenLine | SummaryLine);
  for (const o of objs) expect(o).toHaveProperty('schema', 'vmtrace-test/1');
  return { goldens: objs.filter((o): o is GoldenLine => o.type === 'golden'), summary: objs.at(-1) as SummaryLine };
}

describe('vmtrace test without KVM: replays the goldens', () => {
  let text: CliResult;
  beforeAll(() => {
    text = vmtrace(['test'], { env: NO_KVM });
  });

  it('says once, first, why recording is skipped', () => {
    const lines = text.stdout.split('\n');
    expect(lines[0]).toMatch(new RegExp(`^recording skipped: ${NO_KVM_REASON}.*; replaying the goldens only$`));
    expect(text.stdout.match(/recording skipped/g)).toHaveLength(1);
  });

  it('prints one line per golden with its verdict, size and replay time, and a summary', () => {
    for (const name of names) {
      const line = text.stdout.split('\n').find((l) => l.split(/\s+/)[1] === name);
      expect(line, name).toMatch(/^(PASS|FAIL)\s/);
      expect(line).toMatch(/\d+ (exits|records \(\d+ exits\))\s+replay [\d.]+ (ms|s)/);
      expect(line).not.toContain('record+diff');
    }
    const failed = (text.stdout.match(/^FAIL /gm) ?? []).length;
    expect(text.stdout.trimEnd().split('\n').at(-1)).toMatch(
      new RegExp(`^${names.length - failed} passed, ${failed} failed \\(${names.length} goldens, replayed only, [\\d.]+ (ms|s)\\)$`),
    );
    expect(text.status).toBe(failed ? 1 : 0);
  });

  it('shows the divergence report for each golden that does not replay', () => {
    for (const m of text.stdout.matchAll(/^FAIL\s+(\S+)/gm)) {
      expect(text.stdout).toContain(`FAIL ${m[1]}: the golden traces/${m[1]}.vmtrace does not replay in the interpreter`);
    }
  });

  it('--json: one object per golden (record: null) and a summary', () => {
    const r = vmtrace(['test', '--json'], { env: NO_KVM });
    const { goldens, summary } = ndjson(r);
    expect(goldens.map((g) => g.name)).toEqual(names);
    for (const g of goldens) {
      expect(g.record).toBeNull();
      expect(g.replay).not.toBeNull();
      expect(g.ok).toBe(g.replay!.ok);
      expect(g.report === null).toBe(g.ok);
    }
    expect(summary).toMatchObject({ total: names.length, recorded: false, kvm: { available: false } });
    expect(summary.kvm.reason).toMatch(new RegExp(`^${NO_KVM_REASON}`));
    expect(r.status).toBe(summary.failed ? 1 : 0);
  });

  it('--update needs KVM: one line, exit 2, goldens untouched', () => {
    const before = set.goldens.map((g) => statSync(g.trace).mtimeMs);
    const r = vmtrace(['test', '--update'], { env: NO_KVM });
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(new RegExp(`^vmtrace: --update needs KVM to re-record the goldens: ${NO_KVM_REASON}`));
    expect(set.goldens.map((g) => statSync(g.trace).mtimeMs)).toEqual(before);
  });
});

describe('vmtrace test: selecting goldens and bad usage', () => {
  const selected = (args: string[]) => ndjson(vmtrace(['test', '--json', '--no-record', ...args])).goldens.map((g) => g.name);

  it('selects by golden name, by trace path, and by guest (all its goldens)', () => {
    expect(selected(['tiny_kernel'])).toEqual(['tiny_kernel']);
    expect(selected(['tiny_kernel.step', 'echo'])).toEqual(['echo', 'tiny_kernel.step']);
    expect(selected(['traces/grp_alu.step.vmtrace'])).toEqual(['grp_alu.step']);
    expect(selected(['tiny_kernel.bin'])).toEqual(['tiny_kernel.step', 'tiny_kernel']);
    expect(selected(['grp_alu'])).toEqual(['grp_alu.step']);
  });

  it('rejects an unknown name, listing the goldens, exit 2', () => {
    const r = vmtrace(['test', 'no_such_guest']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^vmtrace: no golden trace named 'no_such_guest' under traces \(goldens: .*tiny_kernel/);
  });

  it('rejects a --root without traces/, and options that leave nothing to do, exit 2', () => {
    const empty = mkdtempSync(join(tmpdir(), 'vmtrace-golden-'));
    expect(vmtrace(['test', '--root', empty]).stderr).toMatch(/traces is not a directory/);
    expect(vmtrace(['test', '--root', empty]).status).toBe(2);
    expect(vmtrace(['test', '--no-record', '--no-replay']).status).toBe(2);
    expect(vmtrace(['test', '--update', '--no-record']).status).toBe(2);
    expect(vmtrace(['test', '--timeout', 'soon']).status).toBe(2);
    rmSync(empty, { recursive: true, force: true });
  });

  it('documents itself in --help', () => {
    const r = vmtrace(['test', '--help']);
    expect(r.status).toBe(0);
    for (const s of ['--update', '--root', '--json', '--no-record', '--no-replay', '--timeout', 'Exit codes:', 'Examples:']) expect(r.stdout).toContain(s);
  });
});

describe.skipIf(!kvmAvailability().ok)(kvmTitle('vmtrace test with KVM: every golden re-recorded and diffed'), () => {
  let result: CliResult;
  let parsed: ReturnType<typeof ndjson>;
  let before: number[];
  beforeAll(() => {
    before = set.goldens.map((g) => statSync(g.trace).mtimeMs);
    result = vmtrace(['test', '--json']);
    parsed = ndjson(result);
  });

  it('records (and replays) every golden and exits 1 exactly when one fails', () => {
    expect(parsed.summary).toMatchObject({ total: names.length, recorded: true, kvm: { available: true, reason: null } });
    expect(parsed.goldens.map((g) => g.name)).toEqual(names);
    expect(result.status).toBe(parsed.summary.failed ? 1 : 0);
  });

  const here = set.goldens.filter((g) => g.header!.arch === hostArch());
  for (const golden of set.goldens.filter((g) => !here.includes(g))) {
    it(`${golden.name}: a golden of another architecture (${golden.header!.arch}) is replayed, not recorded`, () => {
      const g = parsed.goldens.find((x) => x.name === golden.name)!;
      expect(g.record).toBeNull();
      expect(g.status, g.report ?? '').toBe('pass');
    });
  }
  for (const golden of here) {
    it(`${golden.name}: the fresh recording equals the golden`, async () => {
      const g = parsed.goldens.find((x) => x.name === golden.name)!;
      expect(g.record, g.report ?? '').not.toBeNull();
      expect(g.record!.error).toBeNull();
      expect(g.record!.identical, g.report ?? '').toBe(true);
      expect(g.record!.fresh).toBeNull();
      // It ended as the golden did, emulation failures included (bcd.step, enter_bound.step).
      const t = await openTrace(golden.trace);
      for await (const _ of t.batches());
      await t.close();
      expect(g.record!.endReason).toBe(t.footer!.endReason);
    });
  }

  it('text: one line per golden with both timings, then the summary', () => {
    const r = vmtrace(['test', 'tiny_kernel', 'mmio']);
    expect(r.status).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^PASS {2}mmio {9}11 exits +record\+diff [\d.]+ ms, replay [\d.]+ ms( {2}\(host-dependent, not failures: [^)]+\))?$/);
    expect(lines[1]).toMatch(/^PASS {2}tiny_kernel {2}13 exits +record\+diff [\d.]+ ms, replay [\d.]+ ms( {2}\(host-dependent, not failures: [^)]+\))?$/);
    expect(lines.at(-1)).toMatch(/^2 passed, 0 failed \(2 goldens, recorded\+diffed and replayed, [\d.]+ (ms|s)\)$/);
  });

  it('leaves the goldens alone', () => {
    expect(set.goldens.map((g) => statSync(g.trace).mtimeMs)).toEqual(before);
  });

  it('--no-replay: record and diff only', () => {
    const r = vmtrace(['test', '--no-replay', 'tiny_kernel']);
    expect(r.stdout).toMatch(/^PASS {2}tiny_kernel {2}13 exits +record\+diff [\d.]+ ms( {2}\(host-dependent, not failures: [^)]+\))?$/m);
    expect(r.stdout).toMatch(/\(1 golden, recorded\+diffed, /);
  });
});
