// The vitest helper (`vmtrace/vitest`): record() and expect(...).toMatchGoldenTrace(golden).
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { record, setupVmtraceMatchers } from '../../src/testing/vitest.js';
import { kvmAvailability, kvmTitle } from '../support/kvm.js';
import { ROOT } from '../support/record.js';

const tmp = mkdtempSync(join(tmpdir(), 'vmtrace-matcher-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const traces = (name: string) => join(ROOT, 'traces', name);
const guests = (name: string) => join(ROOT, 'guests', name);

/** The message of the assertion error a promise rejects with. */
async function failure(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error('the assertion passed; expected it to fail');
}

describe('toMatchGoldenTrace on trace files (no KVM needed)', () => {
  it('is registered by importing the module (setupVmtraceMatchers() again is harmless)', async () => {
    setupVmtraceMatchers();
    await expect(traces('tiny_kernel.vmtrace')).toMatchGoldenTrace(traces('tiny_kernel.vmtrace'));
  });

  it('fails with the diff report as the message', async () => {
    const message = await failure(expect(traces('tiny_kernel.step.vmtrace')).toMatchGoldenTrace(traces('tiny_kernel.vmtrace')));
    expect(message).toContain(`expected the recording to match the golden trace ${traces('tiny_kernel.vmtrace')}`);
    expect(message).toContain('traces differ');
    expect(message).toMatch(/semantics\.singleStep +false +true/);
    expect(message).toMatch(/First divergence at record #0/);
    expect(message).toContain('VMTRACE_UPDATE=1');
  });

  it('supports .not', async () => {
    await expect(traces('echo.vmtrace')).not.toMatchGoldenTrace(traces('tiny_kernel.vmtrace'));
    const message = await failure(expect(traces('echo.vmtrace')).not.toMatchGoldenTrace(traces('echo.vmtrace')));
    expect(message).toMatch(/not to match the golden trace .*echo\.vmtrace, but it does: identical \(32 exits\)/);
  });

  it('a missing golden fails and says how to create it; update: true creates it atomically', async () => {
    const dir = mkdtempSync(join(tmp, 'm-'));
    const golden = join(dir, 'goldens', 'tiny.vmtrace');
    const message = await failure(expect(traces('tiny_kernel.vmtrace')).toMatchGoldenTrace(golden));
    expect(message).toMatch(/golden trace .*tiny\.vmtrace does not exist/);
    expect(message).toContain('VMTRACE_UPDATE=1');
    await expect(traces('tiny_kernel.vmtrace')).toMatchGoldenTrace(golden, { update: true });
    expect(readFileSync(golden).equals(readFileSync(traces('tiny_kernel.vmtrace')))).toBe(true);
    // update: true also rewrites a golden that differs, and then passes.
    await expect(traces('echo.vmtrace')).toMatchGoldenTrace(golden, { update: true });
    expect(readFileSync(golden).equals(readFileSync(traces('echo.vmtrace')))).toBe(true);
    await expect(traces('echo.vmtrace')).toMatchGoldenTrace(golden);
  });

  it('VMTRACE_UPDATE=1 turns updating on', async () => {
    const dir = mkdtempSync(join(tmp, 'm-'));
    const golden = join(dir, 'x.vmtrace');
    copyFileSync(traces('mmio.vmtrace'), golden);
    process.env.VMTRACE_UPDATE = '1';
    try {
      await expect(traces('tiny_kernel.vmtrace')).toMatchGoldenTrace(golden);
    } finally {
      delete process.env.VMTRACE_UPDATE;
    }
    expect(readFileSync(golden).equals(readFileSync(traces('tiny_kernel.vmtrace')))).toBe(true);
  });

  it('rejects something that is not a recording', async () => {
    await expect(expect(42).toMatchGoldenTrace(traces('tiny_kernel.vmtrace'))).rejects.toThrow(/expected a recording from record\(\) or a trace file path/);
  });

  it('type-checks through the package export: the Assertion interface is extended', () => {
    const dir = mkdtempSync(join(ROOT, 'test', 'golden', '.typecheck-'));
    const file = join(dir, 'use.ts');
    writeFileSync(
      file,
      [
        "import { expect } from 'vitest';",
        // The package export, as users import it: its types come from dist/testing/vitest.d.ts.
        "import { record } from 'vmtrace/vitest';",
        'export async function ok(): Promise<void> {',
        "  await expect(await record('guests/tiny_kernel.bin', { step: true, input: 'hi' })).toMatchGoldenTrace('traces/x.vmtrace');",
        "  await expect('a.vmtrace').not.toMatchGoldenTrace('b.vmtrace', { host: true, context: 5 });",
        '  // @ts-expect-error the golden path is required',
        '  await expect(1).toMatchGoldenTrace();',
        '  // @ts-expect-error unknown option',
        "  await expect(1).toMatchGoldenTrace('x', { colour: true });",
        '}',
      ].join('\n'),
    );
    const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    const r = spawnSync(
      process.execPath,
      [tsc, '--noEmit', '--strict', '--module', 'NodeNext', '--moduleResolution', 'NodeNext', '--target', 'ES2022', '--skipLibCheck', '--types', 'node', file],
      { cwd: ROOT, encoding: 'utf8', timeout: 60_000 },
    );
    spawnSync('rm', ['-rf', dir]);
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  });
});

describe.skipIf(!kvmAvailability().ok)(kvmTitle('record() + toMatchGoldenTrace with KVM'), () => {
  // The committed goldens were recorded with the console device only: `like` records with the
  // golden's options (devices included), as `vmtrace test` does.
  it('passes on a match: a fresh recording equals the committed golden', async () => {
    const rec = await record(guests('tiny_kernel.bin'), { like: traces('tiny_kernel.vmtrace') });
    expect(rec.endReason).toBe('hlt');
    expect(rec.console).toBe('Hello,world\n');
    expect(existsSync(rec.path)).toBe(true);
    await expect(rec).toMatchGoldenTrace(traces('tiny_kernel.vmtrace'));
  });

  it('records with options (step, devices) and like: a golden (its input bytes)', async () => {
    await expect(await record(guests('tiny_kernel.bin'), { step: true, devices: 'console@0xf1' })).toMatchGoldenTrace(traces('tiny_kernel.step.vmtrace'));
    await expect(await record(guests('tiny_kernel.bin'), { like: traces('tiny_kernel.vmtrace'), step: true })).toMatchGoldenTrace(traces('tiny_kernel.step.vmtrace'));
    const echo = await record(guests('echo.bin'), { like: traces('echo.vmtrace') });
    expect(echo.console).toContain('hello, vmtrace');
    await expect(echo).toMatchGoldenTrace(traces('echo.vmtrace'));
  });

  it('fails on a mismatch with the diff report, naming the first differing record and field', async () => {
    // A failed match keeps the recording for a look: write it where afterAll cleans up.
    const rec = await record(guests('echo.bin'), { input: 'hello, VMTRACE\n', like: traces('echo.vmtrace'), output: join(tmp, 'echo-upper.vmtrace') });
    const message = await failure(expect(rec).toMatchGoldenTrace(traces('echo.vmtrace')));
    expect(message).toContain('traces differ');
    expect(message).toMatch(/First divergence at record #\d+ — records differ in: payload/);
    expect(message).toMatch(/io\.data +76 "v" +56 "V"/);
    expect(message).toContain(`the recording is kept at ${rec.path}`);
  });
});
