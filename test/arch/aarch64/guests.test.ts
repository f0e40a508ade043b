// The committed AArch64 guests (guests/arm64/README.md) run under QEMU's TCG emulation and print
// what the README says: a check of the images themselves, independent of vmtrace.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const GUESTS = join(import.meta.dirname, '..', '..', '..', 'guests', 'arm64');
const QEMU = 'qemu-system-aarch64';
const HAVE_QEMU = spawnSync(QEMU, ['--version']).status === 0;

/** Console output, one entry per guest. echo gets no input: QEMU's PL011 receives stdin too late to test more. */
const EXPECTED: Record<string, string> = {
  'tiny_kernel.bin': 'Hello,world\n',
  'echo.bin': '',
  'sieve.elf': 'primes below 2000: 303\n',
  'crc32.elf': 'crc32 cbf43926 29058c73\n',
  'sort.elf': 'sorted 0000334505a9aae4\n',
  'recurse.elf': 'fib(15)=610 ack(2,3)=9\n',
  'exception.elf': 'ec=15 iss=0042\nec=3c iss=0001\nec=00 iss=0000\nok\n',
  'mmu.elf': 'mmu on\n80000000 -> 40002000\nwrite ok\nfar=80001000 fsc=07\nok\n',
};

describe('AArch64 guest images', () => {
  it.each(Object.keys(EXPECTED).filter((f) => f.endsWith('.elf')))('%s is an AArch64 ELF entered at 0x40000000', (file) => {
    const elf = readFileSync(join(GUESTS, file));
    expect(elf.subarray(0, 4).toString('latin1')).toBe('\x7fELF');
    expect(elf.readUInt16LE(18)).toBe(183); // EM_AARCH64
    expect(elf.readBigUInt64LE(24)).toBe(0x4000_0000n);
  });
});

describe.skipIf(!HAVE_QEMU)(`AArch64 guests under QEMU${HAVE_QEMU ? '' : ` (skipped: no ${QEMU}; Debian: apt-get install qemu-system-arm)`}`, () => {
  it.each(Object.entries(EXPECTED))('%s prints what the README says and powers off', (file, output) => {
    // A flat .bin given to -kernel is loaded at 0x40080000 behind QEMU's boot stub: fine, the
    // assembly guests are position-independent. PSCI SYSTEM_OFF (hvc) ends QEMU with status 0.
    const r = spawnSync(QEMU, ['-M', 'virt', '-cpu', 'cortex-a57', '-m', '64', '-display', 'none', '-monitor', 'none', '-serial', 'stdio', '-kernel', join(GUESTS, file)], {
      encoding: 'latin1',
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 20_000,
    });
    expect(r.error).toBeUndefined();
    expect({ status: r.status, output: r.stdout }).toEqual({ status: 0, output });
  });
});
