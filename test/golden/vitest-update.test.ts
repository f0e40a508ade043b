// `vitest -u` updates goldens through toMatchGoldenTrace as it updates snapshots: a project in a
// temp dir with one test file, run by this repository's vitest without and with -u.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { record } from '../../src/testing/vitest.js';
import { kvmAvailability, kvmTitle } from '../support/kvm.js';
import { frameOffsets } from '../support/frames.js';
import { ROOT } from '../support/record.js';

const VITEST = join(ROOT, 'node_modules', 'vitest', 'vitest.mjs');
const MATCHER = join(ROOT, 'src', 'testing', 'vitest.ts');
const traces = (name: string) => join(ROOT, 'traces', name);
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A temp project whose golden.test.ts runs `tests` (test() calls; vitest globals, the matcher imported). */
function project(tests: string): { dir: string; run: (...args: string[]) => { status: number | null; output: string } } {
  const dir = mkdtempSync(join(tmpdir(), 'vmtrace-vitest-u-'));
  dirs.push(dir);
  mkdirSync(join(dir, 'traces'));
  writeFileSync(join(dir, 'golden.test.ts'), `import { record } from ${JSON.stringify(MATCHER)};\nvoid record;\n${tests}\n`);
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.VMTRACE_UPDATE;
  delete env.UPDATE_SNAPSHOT;
  return {
    dir,
    run: (...args) => {
      const r = spawnSync(process.execPath, [VITEST, 'run', '--root', dir, '--globals', '--no-color', ...args], {
        cwd: dir,
        env,
        encoding: 'utf8',
        timeout: 120_000,
      });
      return { status: r.status, output: `${r.stdout}\n${r.stderr}` };
    },
  };
}

describe('toMatchGoldenTrace under vitest -u (trace files: no KVM needed)', () => {
  it('fails on a differing or missing golden without -u; with -u replaces and creates them, and passes', async () => {
    const p = project(
      [
        `test('differs', async () => { await expect(${JSON.stringify(traces('tiny_kernel.vmtrace'))}).toMatchGoldenTrace('traces/differs.vmtrace'); });`,
        `test('missing', async () => { await expect(${JSON.stringify(traces('echo.vmtrace'))}).toMatchGoldenTrace('traces/missing.vmtrace'); });`,
      ].join('\n'),
    );
    const differs = join(p.dir, 'traces', 'differs.vmtrace');
    const missing = join(p.dir, 'traces', 'missing.vmtrace');
    copyFileSync(traces('mmio.vmtrace'), differs);

    const plain = p.run();
    expect(plain.status, plain.output).toBe(1);
    expect(plain.output).toContain('expected the recording to match the golden trace traces/differs.vmtrace');
    expect(plain.output).toContain('vitest -u');
    expect(plain.output).toMatch(/golden trace traces\/missing\.vmtrace does not exist/);
    expect(readFileSync(differs).equals(readFileSync(traces('mmio.vmtrace')))).toBe(true);
    expect(() => readFileSync(missing)).toThrow();

    const updating = p.run('-u');
    expect(updating.status, updating.output).toBe(0);
    expect(readFileSync(differs).equals(readFileSync(traces('tiny_kernel.vmtrace')))).toBe(true);
    expect(readFileSync(missing).equals(readFileSync(traces('echo.vmtrace')))).toBe(true);

    // Without -u they match now.
    await expect(traces('tiny_kernel.vmtrace')).toMatchGoldenTrace(differs);
    await expect(traces('echo.vmtrace')).toMatchGoldenTrace(missing);
  });

  it('update: false wins over -u', () => {
    const p = project(
      `test('kept', async () => { await expect(${JSON.stringify(traces('tiny_kernel.vmtrace'))}).toMatchGoldenTrace('traces/kept.vmtrace', { update: false }); });`,
    );
    const kept = join(p.dir, 'traces', 'kept.vmtrace');
    copyFileSync(traces('mmio.vmtrace'), kept);
    const r = p.run('-u');
    expect(r.status, r.output).toBe(1);
    expect(readFileSync(kept).equals(readFileSync(traces('mmio.vmtrace')))).toBe(true);
  });

  it('never replaces a golden with a recording that did not finish (truncated trace), and says why', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vmtrace-vitest-u-'));
    dirs.push(dir);
    const golden = join(dir, 'golden.vmtrace');
    const cut = join(dir, 'cut.vmtrace');
    copyFileSync(traces('mmio.vmtrace'), golden);
    // A long trace cut well past its header: records, but no end (as a recording killed midway).
    const bytes = readFileSync(traces('hello-64.step.vmtrace'));
    const records = frameOffsets(bytes)[1]!; // the header is most of a 3.0 golden: cut after it
    writeFileSync(cut, bytes.subarray(0, records + Math.floor((bytes.length - records) * 0.9)));
    let message = '';
    try {
      await expect(cut).toMatchGoldenTrace(golden, { update: true });
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toMatch(/^golden trace .*golden\.vmtrace not updated: the recording (is truncated|does not replay)/);
    expect(readFileSync(golden).equals(readFileSync(traces('mmio.vmtrace')))).toBe(true);
  });
});

describe.skipIf(!kvmAvailability().ok)(kvmTitle('vitest -u re-records a golden (needs KVM)'), () => {
  it('a test that records tiny_kernel rewrites a golden that differs', async () => {
    const guest = join(ROOT, 'guests', 'tiny_kernel.bin');
    const p = project(
      `test('records', async () => { await expect(await record(${JSON.stringify(guest)}, { like: ${JSON.stringify(traces('tiny_kernel.vmtrace'))} })).toMatchGoldenTrace('traces/tk.vmtrace'); });`,
    );
    const golden = join(p.dir, 'traces', 'tk.vmtrace');
    copyFileSync(traces('mmio.vmtrace'), golden);
    const r = p.run('-u');
    expect(r.status, r.output).toBe(0);
    expect(readFileSync(golden).equals(readFileSync(traces('mmio.vmtrace')))).toBe(false);
    // The new golden is a fresh tiny_kernel recording: it matches the committed one.
    await expect(golden).toMatchGoldenTrace(traces('tiny_kernel.vmtrace'));
  });

  it('a recording cut off by its deadline never replaces a golden', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vmtrace-vitest-u-'));
    dirs.push(dir);
    const spin = join(dir, 'spin.bin');
    writeFileSync(spin, Uint8Array.from([0xeb, 0xfe])); // jmp $: never exits on its own
    const golden = join(dir, 'golden.vmtrace');
    copyFileSync(traces('tiny_kernel.vmtrace'), golden);
    const rec = await record(spin, { deadlineMs: 300, output: join(dir, 'spin.vmtrace') });
    let message = '';
    try {
      await expect(rec).toMatchGoldenTrace(golden, { update: true });
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toMatch(/not updated: the recording (did not finish|ended early|is truncated)/);
    expect(readFileSync(golden).equals(readFileSync(traces('tiny_kernel.vmtrace')))).toBe(true);
  });
});
