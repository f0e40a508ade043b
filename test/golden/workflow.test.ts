// The golden workflow on a guest that changes: a project directory (guests/ + traces/) in a temp
// dir, a golden, then one byte of the guest changed — `vmtrace test --root` must report it, and
// `--update` must make it pass again, atomically, saying which goldens changed.
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { copyTrace } from '../../src/trace/copy.js';
import { openTrace, readTrace } from '../../src/trace/reader.js';
import { vmtrace } from '../support/cli.js';
import { kvmAvailability, kvmTitle } from '../support/kvm.js';
import { ROOT } from '../support/record.js';

const NO_KVM = { VMTRACE_KVM_DEVICE: '/nonexistent' };
/** Offset of the second character tiny_kernel prints ('e' of "Hello", `mov $'e', %al` = b0 65). */
const E_AT = 5;

const projects: string[] = [];
afterAll(() => {
  for (const dir of projects) rmSync(dir, { recursive: true, force: true });
});

/** A project directory; the CLI's temporary files (kept fresh recordings) go into its tmp/. */
function project(): { dir: string; guest: string; traces: string; env: NodeJS.ProcessEnv } {
  const dir = mkdtempSync(join(tmpdir(), 'vmtrace-golden-'));
  projects.push(dir);
  mkdirSync(join(dir, 'tmp'));
  mkdirSync(join(dir, 'guests'));
  mkdirSync(join(dir, 'traces'));
  const guest = join(dir, 'guests', 'tiny_kernel.bin');
  copyFileSync(join(ROOT, 'guests', 'tiny_kernel.bin'), guest);
  return { dir, guest, traces: join(dir, 'traces'), env: { TMPDIR: join(dir, 'tmp') } };
}

function changeByte(file: string, at: number, value: number): void {
  const bytes = readFileSync(file);
  bytes[at] = value;
  writeFileSync(file, bytes);
}

describe('a changed guest without KVM: replay alone cannot see it, so the image is checked', () => {
  const p = project();
  copyFileSync(join(ROOT, 'traces', 'tiny_kernel.vmtrace'), join(p.traces, 'tiny_kernel.vmtrace'));

  it('passes while the guest is the one the golden was recorded from', () => {
    const r = vmtrace(['test', '--root', p.dir], { env: { ...p.env, ...NO_KVM } });
    expect(r.stdout).toMatch(/^PASS {2}tiny_kernel {2}13 exits +replay [\d.]+ ms$/m);
    expect(r.status).toBe(0);
  });

  it('fails once a byte of the guest changed, and says how to fix it', () => {
    expect(readFileSync(p.guest)[E_AT]).toBe(0x65);
    changeByte(p.guest, E_AT, 0x45);
    const r = vmtrace(['test', '--root', p.dir], { env: { ...p.env, ...NO_KVM } });
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/^FAIL {2}tiny_kernel {2}13 exits +guest image changed since the golden was recorded, replay [\d.]+ ms$/m);
    expect(r.stdout).toContain(`the guest image ${join(p.dir, 'guests', 'tiny_kernel.bin')} changed since the golden`);
    expect(r.stdout).toContain('vmtrace test --update tiny_kernel');
    expect(r.stdout.trimEnd().split('\n').at(-1)).toMatch(/^0 passed, 1 failed \(1 golden, replayed only, /);
  });

  it('cannot --update without KVM: exit 2, golden untouched', () => {
    const before = readFileSync(join(p.traces, 'tiny_kernel.vmtrace'));
    const r = vmtrace(['test', '--root', p.dir, '--update'], { env: { ...p.env, ...NO_KVM } });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^vmtrace: --update needs KVM/);
    expect(readFileSync(join(p.traces, 'tiny_kernel.vmtrace')).equals(before)).toBe(true);
  });
});

describe.skipIf(!kvmAvailability().ok)(kvmTitle('a changed guest with KVM: record, diff, --update'), () => {
  const p = project();
  const golden = join(p.traces, 'tiny_kernel.vmtrace');
  const stepGolden = join(p.traces, 'tiny_kernel.step.vmtrace');
  const test = (...args: string[]) => vmtrace(['test', '--root', p.dir, ...args], { env: p.env });

  it('records goldens (plain and --step) that pass', () => {
    // as docs/golden.md says to create goldens: without timestamps
    expect(vmtrace(['record', '-q', '--no-timestamps', p.guest, '-o', golden]).status).toBe(0);
    expect(vmtrace(['record', '-q', '--no-timestamps', '--step', p.guest, '-o', stepGolden]).status).toBe(0);
    const r = test();
    expect(r.stdout).toMatch(/^PASS {2}tiny_kernel {7}13 exits +record\+diff [\d.]+ ms, replay [\d.]+ ms$/m);
    expect(r.stdout).toMatch(/^PASS {2}tiny_kernel\.step {2}25 records \(13 exits\) +record\+diff /m);
    expect(r.status).toBe(0);
  });

  it('reports the changed guest: exit 1, the first differing exit and field, the diff report', () => {
    changeByte(p.guest, E_AT, 0x45); // 'e' -> 'E'
    const r = test();
    expect(r.status).toBe(1);
    // Record #1 is the OUT of the 'e'; in the --step golden that OUT is instruction #3.
    expect(r.stdout).toMatch(/^FAIL {2}tiny_kernel {7}13 exits +record\+diff [\d.]+ ms: differs at record #1: io\.data, rax, replay [\d.]+ ms$/m);
    expect(r.stdout).toMatch(/^FAIL {2}tiny_kernel\.step .*differs at record #2: rax/m);
    expect(r.stdout).toContain(`FAIL tiny_kernel: the fresh recording of ${p.guest} differs from the golden ${golden}`);
    expect(r.stdout).toMatch(/First divergence at record #1 — records differ in: payload, registers\n +field +expected \(a\) +actual \(b\)\n +io\.data +65 "e" +45 "E"/);
    expect(r.stdout).toMatch(/initialMemory\[0\]\.bytes +byte 5 = 0x65 +byte 5 = 0x45/);
    expect(r.stdout.trimEnd().split('\n').at(-1)).toMatch(/^0 passed, 2 failed \(2 goldens, recorded\+diffed and replayed, /);
    // The fresh recording is kept for a look, and the report says where.
    const kept = /\(fresh recording kept: (\S+)\)/.exec(r.stdout)![1]!;
    expect(statSync(kept).size).toBeGreaterThan(0);
  });

  it('--json names the first difference per golden', () => {
    const r = test('--json', 'tiny_kernel');
    const [g, summary] = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(g).toMatchObject({ type: 'golden', name: 'tiny_kernel', status: 'fail', ok: false, record: { identical: false, firstDifference: 'differs at record #1: io.data, rax' } });
    expect(g.record.diff.first).toMatchObject({ where: 'record', index: 1, fields: [{ field: 'io.data', expected: '65 "e"', actual: '45 "E"' }] });
    expect(g.report).toContain('traces differ');
    expect(summary).toMatchObject({ type: 'summary', total: 1, passed: 0, failed: 1 });
    expect(r.status).toBe(1);
  });

  it('--update <name> rewrites that golden atomically and says "updated"; the other still fails', () => {
    const before = statSync(golden);
    const stepBefore = readFileSync(stepGolden);
    const r = test('--update', 'tiny_kernel');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^UPDATED {4}tiny_kernel {2}13 exits +record [\d.]+ ms, replay [\d.]+ ms {2}\(was: differs at record #1: io\.data, rax\)$/m);
    expect(r.stdout.trimEnd().split('\n').at(-1)).toMatch(/^1 updated, 0 unchanged \(1 golden, re-recorded, then replayed, /);
    // Renamed into place: a new inode, and no temporary file left behind.
    expect(statSync(golden).ino).not.toBe(before.ino);
    expect(readdirSync(p.traces).sort()).toEqual(['tiny_kernel.step.vmtrace', 'tiny_kernel.vmtrace']);
    expect(readFileSync(stepGolden).equals(stepBefore)).toBe(true);
    const after = test();
    expect(after.stdout).toMatch(/^PASS {2}tiny_kernel {7}/m);
    expect(after.stdout).toMatch(/^FAIL {2}tiny_kernel\.step /m);
    expect(after.status).toBe(1);
  });

  it('--update on everything: the changed one "updated", the current one "unchanged" and untouched', () => {
    const before = statSync(golden);
    const r = test('--update');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^UNCHANGED {2}tiny_kernel {7}13 exits +record [\d.]+ ms, replay [\d.]+ ms$/m);
    expect(r.stdout).toMatch(/^UPDATED {4}tiny_kernel\.step {2}25 records \(13 exits\) .*\(was: differs at record #2: rax\)$/m);
    expect(r.stdout.trimEnd().split('\n').at(-1)).toMatch(/^1 updated, 1 unchanged \(2 goldens, /);
    const after = statSync(golden);
    expect([after.ino, after.mtimeMs]).toEqual([before.ino, before.mtimeMs]);
    const check = test();
    expect(check.status).toBe(0);
    expect(check.stdout.trimEnd().split('\n').at(-1)).toMatch(/^2 passed, 0 failed /);
  });

  it('a guest that no longer ends: the recording is cut off (--timeout), --update keeps the golden', () => {
    changeByte(p.guest, 0, 0xeb); // jmp $ at the entry point: never exits
    changeByte(p.guest, 1, 0xfe);
    const before = readFileSync(golden);
    const r = test('--timeout', '0.3', 'tiny_kernel');
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/^FAIL {2}tiny_kernel {2}13 exits +record\+diff [\d.]+ ms: did not finish in time, replay /m);
    const u = test('--update', '--timeout', '0.3', 'tiny_kernel');
    expect(u.status).toBe(1);
    expect(u.stdout).toMatch(/^FAIL {7}tiny_kernel .*record [\d.]+ ms: did not finish in time: golden not updated/m);
    expect(readFileSync(golden).equals(before)).toBe(true);
    expect(readdirSync(p.traces).filter((f) => f.startsWith('.'))).toEqual([]);
  });
});

describe.skipIf(!kvmAvailability().ok)(kvmTitle('--update re-records a golden in an older trace format or with timestamps'), () => {
  const p = project();
  const golden = join(p.traces, 'tiny_kernel.vmtrace');
  const test = (...args: string[]) => vmtrace(['test', '--root', p.dir, ...args], { env: p.env });

  it('rewrites a 2.0 golden as 3.0, then one with timestamps without them, then leaves it alone', async () => {
    const timed = join(p.dir, 'timed.vmtrace');
    expect(vmtrace(['record', '-q', p.guest, '-o', timed]).status).toBe(0);
    await copyTrace(timed, golden, { writer: { format: 2 } });
    let r = test('--update');
    expect(r.stdout).toMatch(/^UPDATED {4}tiny_kernel {2}13 exits .*\(was: trace format 2\.0 \(now 3\.1\)\)/m);
    let h = await readHeader(golden);
    expect([h.format.major, h.options.timestamps]).toEqual([3, false]);
    expect((await readTrace(golden)).records.every((rec) => rec.timeNs === 0 && rec.runNs === 0)).toBe(true);

    copyFileSync(timed, golden); // 3.0, with timestamps
    r = test('--update');
    expect(r.stdout).toMatch(/^UPDATED {4}tiny_kernel .*\(was: host timestamps \(goldens are recorded without them\)\)/m);
    h = await readHeader(golden);
    expect(h.options.timestamps).toBe(false);

    r = test('--update');
    expect(r.stdout).toMatch(/^UNCHANGED {2}tiny_kernel /m);
    expect(test().status).toBe(0);
  });

  it('record --no-timestamps stores no times and says so in the header', async () => {
    const untimed = join(p.dir, 'untimed.vmtrace');
    expect(vmtrace(['record', '-q', '--no-timestamps', p.guest, '-o', untimed]).status).toBe(0);
    const t = await readTrace(untimed);
    expect(t.header.options.timestamps).toBe(false);
    expect(t.records.map((rec) => rec.timeNs + rec.runNs)).toEqual(new Array(13).fill(0));
    const timed = await readTrace(join(p.dir, 'timed.vmtrace'));
    expect(timed.header.options.timestamps).toBe(true);
    expect(timed.records.at(-1)!.timeNs).toBeGreaterThan(0);
  });
});

async function readHeader(file: string) {
  const t = await openTrace(file);
  await t.close();
  return t.header;
}
