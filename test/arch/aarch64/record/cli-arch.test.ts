// `record --arch`: chosen from an ELF's e_machine or the host, and refused in one line on a host
// whose KVM cannot run it (these tests run on x86-64 hosts; the arm64 side runs under
// `npm run test:arm64`). No KVM is reached.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

import { vmtrace } from '../../../support/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'vmtrace-a64-cli-'));
const flat = join(dir, 'guest.bin');
writeFileSync(flat, Uint8Array.from([0x1f, 0x20, 0x03, 0xd5]));
const elf = join(dir, 'guest.elf');
{
  const b = new Uint8Array(124);
  const v = new DataView(b.buffer);
  b.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]);
  v.setUint16(16, 2, true);
  v.setUint16(18, 183, true); // EM_AARCH64
  v.setBigUint64(24, 0x40000000n, true);
  v.setBigUint64(32, 64n, true);
  v.setUint16(54, 56, true);
  v.setUint16(56, 1, true);
  v.setUint32(64, 1, true);
  v.setBigUint64(72, 120n, true);
  v.setBigUint64(80, 0x40000000n, true);
  v.setBigUint64(88, 0x40000000n, true);
  v.setBigUint64(96, 4n, true);
  v.setBigUint64(104, 4n, true);
  b.set([0x1f, 0x20, 0x03, 0xd5], 120);
  writeFileSync(elf, b);
}
const noKvm = { VMTRACE_KVM_DEVICE: '/nonexistent/kvm-not-reached' };
const onX86 = process.arch === 'x64';

describe.runIf(onX86)('record --arch on an x86-64 host', () => {
  const refused = (args: string[]) => {
    const r = vmtrace(['record', ...args, '-o', join(dir, 'out.vmtrace')], { env: noKvm });
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines, r.stderr).toHaveLength(1);
    expect(r.status, r.stderr).toBe(3);
    return lines[0]!;
  };

  it('an AArch64 ELF is an aarch64 guest: refused, pointing at arm64 hosts and replay', () => {
    expect(refused([elf])).toBe('vmtrace: recording aarch64 guests needs an arm64 host with /dev/kvm (this host is x64); `vmtrace replay` works anywhere');
  });

  it('--arch aarch64 makes a flat image an aarch64 guest', () => {
    expect(refused(['--arch', 'aarch64', flat])).toMatch(/^vmtrace: recording aarch64 guests needs an arm64 host/);
  });

  it('x86-only options are refused for an aarch64 guest before anything runs', () => {
    const r = vmtrace(['record', '--arch', 'aarch64', '--load', '0x1000', flat, '-o', join(dir, 'out.vmtrace')], { env: noKvm });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^vmtrace: --load applies to x86 guests; an aarch64 guest gets RAM at 0x40000000/);
  });

  it('an AArch64 ELF forced to --arch x86_64 is refused as an image', () => {
    const r = vmtrace(['record', '--arch', 'x86_64', elf, '-o', join(dir, 'out.vmtrace')], { env: noKvm });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/is an AArch64 ELF: record it with --arch aarch64/);
  });
});
