import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

import { ADDON_PATH } from '../../src/record/kvm.js';
import { readTrace } from '../../src/trace/reader.js';
import { vmtrace, vmtraceInterrupted } from '../support/cli.js';
import { kvmAvailability, kvmTitle, noKvmReason } from '../support/kvm.js';

const dir = mkdtempSync(join(tmpdir(), 'vmtrace-cli-'));
/** `jmp $`: a guest that never exits on its own. */
const spin = join(dir, 'spin.bin');
writeFileSync(spin, Uint8Array.from([0xeb, 0xfe]));

describe('vmtrace record: bad input and missing KVM', () => {
  it('explains a missing image in one line, exit 2', () => {
    const r = vmtrace(['record', join(dir, 'nope.bin')]);
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toEqual([`vmtrace: image ${join(dir, 'nope.bin')}: no such file`]);
  });

  it('rejects a bad option value in one line, exit 2', () => {
    const r = vmtrace(['record', spin, '--mem', 'lots']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^vmtrace: --mem: 'lots' is not a size/);
  });

  // Without the addon (no C++ toolchain at install) that is said first, before the device.
  it('says why it cannot record where there is no KVM device, exit 3', () => {
    const r = vmtrace(['record', spin, '-o', join(dir, 'x.vmtrace')], { env: { VMTRACE_KVM_DEVICE: '/nonexistent/kvm' } });
    expect(r.status).toBe(3);
    expect(r.stderr.trim()).toMatch(new RegExp(`^vmtrace: ${noKvmReason('/nonexistent/kvm')}`));
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });

  const addonBuilt = process.platform !== 'linux' || existsSync(ADDON_PATH);
  it.skipIf(addonBuilt)(
    `says the addon is not built, what it needs and how to build it, exit 3${addonBuilt ? ' [skipped: the addon is built here]' : ''}`,
    () => {
      const r = vmtrace(['record', spin, '-o', join(dir, 'x.vmtrace')]);
      expect(r.status).toBe(3);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(/^vmtrace: the native KVM addon is not built \(needs g\+\+, make and python3\)/);
      expect(r.stderr).toContain('npm run build:addon'); // inside the vmtrace repository
    },
  );

  it('teaches in --help: options, exit codes, examples', () => {
    const r = vmtrace(['record', '--help']);
    expect(r.status).toBe(0);
    for (const s of ['--input', '--step', '--max-exits', '--timeout', 'Exit codes:', '130', 'Examples:']) expect(r.stdout).toContain(s);
  });
});

describe.skipIf(!kvmAvailability().ok)(kvmTitle('vmtrace record: limits and Ctrl-C'), () => {
  it('prints the console to stdout and a summary to stderr, writing <image>.vmtrace', async () => {
    const r = vmtrace(['record', join(process.cwd(), 'guests', 'tiny_kernel.bin')], { cwd: dir });
    expect(r.status).toBe(0);
    expect(r.stdout).toBe('Hello,world\n');
    expect(r.stderr).toMatch(/vmtrace: 13 exits \(IO 12, HLT 1\) in [\d.]+ ms -> tiny_kernel\.vmtrace/);
    expect((await readTrace(join(dir, 'tiny_kernel.vmtrace'))).records).toHaveLength(13);
  });

  it('--timeout stops a guest that never exits, exit 4, trace complete', async () => {
    const out = join(dir, 'spin-timeout.vmtrace');
    const r = vmtrace(['record', spin, '--timeout', '0.3', '-o', out]);
    expect(r.status).toBe(4);
    expect(r.stderr).toContain('stopped by --timeout');
    const t = await readTrace(out);
    expect(t.footer?.endReason).toBe('timeout');
  });

  it('Ctrl-C stops the guest and leaves a complete, valid trace, exit 130', async () => {
    const out = join(dir, 'spin-int.vmtrace');
    // Once the recording's .partial file exists, the guest is running and the handlers are on.
    const r = await vmtraceInterrupted(['record', spin, '-o', out], 300, 'SIGINT', () => readdirSync(dir).some((f) => f.startsWith('spin-int.vmtrace.') && f.endsWith('.partial')));
    expect(r.status).toBe(130);
    expect(r.stderr).toContain('stopped by the user');
    const t = await readTrace(out);
    expect(t.truncated).toBe(false);
    expect(t.footer?.endReason).toBe('interrupted');
  });
});
