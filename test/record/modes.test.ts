// Recording protected- and long-mode guests under KVM: the C guests, multiboot, the exit and
// power-off devices, --strict, a triple fault, and the host-limit message.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

import { LAYOUT } from '../../src/boot/profiles.js';
import { resolveDevices } from '../../src/record/devices/catalog.js';
import { kvmModule } from '../../src/record/host-facts.js';
import { prepareBoot, type RecordOptions } from '../../src/record/recorder.js';
import type { BootMode } from '../../src/trace/format.js';
import { vmtrace } from '../support/cli.js';
import { kvmAvailability, kvmTitle } from '../support/kvm.js';
import { recordGuest, ROOT } from '../support/record.js';

const kvm = kvmAvailability();
const dir = mkdtempSync(join(tmpdir(), 'vmtrace-modes-'));

/** Records guests/<name> as `vmtrace record` would, with the image's own boot mode unless given. */
function recordImage(name: string, extra: Partial<RecordOptions> & { mode?: BootMode } = {}) {
  const image = readFileSync(join(ROOT, 'guests', name));
  const { mode, ...rest } = extra;
  const boot = prepareBoot({ image, imageName: name, ...(mode ? { mode } : {}) });
  return recordGuest(name, { boot, devices: resolveDevices(), output: join(dir, `${name}.vmtrace`), ...rest });
}

describe.skipIf(!kvm.ok)(kvmTitle('recording protected- and long-mode guests'), () => {
  it('a 64-bit ELF boots in long mode with the profile state KVM reports back, prints on 0xe9 and exits through isa-debug-exit', async () => {
    const { result, console, trace } = await recordImage('hello-64.elf');
    expect(console.text).toBe('hello from long mode: cr0=0x80010031 cr3=0x10000 cr4=0x20\n');
    expect(result).toMatchObject({ endReason: 'guest-exit', status: 33 });
    expect(trace.footer).toMatchObject({ endReason: 'guest-exit', status: 33 });
    const h = trace.header;
    expect(h.boot.mode).toBe('long');
    expect(h.boot.sregs).toMatchObject({ cr0: 0x80010031n, cr3: 0x10000n, cr4: 0x20n, efer: 0x500n });
    expect(h.boot.sregs.cs).toMatchObject({ selector: 0x18, l: 1, db: 0 });
    expect(h.boot.regs.rsp).toBe(BigInt(LAYOUT.stackTop));
    expect(h.initialMemory.map((b) => b.what)).toEqual([
      'GDT',
      'TSS',
      'page tables (identity, 2 MiB pages, 4 GiB)',
      'image hello-64.elf segment 0 (PT_LOAD r-x)', // segment 1 is all bss: RAM starts zeroed
    ]);
    expect(h.devices.map((d) => d.name)).toEqual(['console', 'debugcon', 'uart16550', 'input', 'isa-debug-exit', 'acpi-poweroff']);
    expect(h.options).toMatchObject({ mode: 'long', format: 'elf64', mem: 16 << 20 });
    // The run ends at the exit write: it is the last record.
    const last = trace.records.at(-1)!;
    expect(last.io).toMatchObject({ port: 0xf4, direction: 'out', size: 1 });
    expect([...last.io!.data]).toEqual([0x10]);
  });

  it('a 32-bit multiboot ELF boots in protected mode with EAX = 0x2BADB002 and EBX -> the information block', async () => {
    const { result, console, trace } = await recordImage('hello-32.elf');
    expect(console.text).toBe('hello from protected mode: eax=0x2badb002\nmultiboot: flags=0x241 mem_lower=640K mem_upper=15360K\nloader: vmtrace\n');
    expect(result.status).toBe(33);
    expect(trace.header.boot.mode).toBe('protected');
    expect(trace.header.boot.regs).toMatchObject({ rax: 0x2badb002n, rbx: BigInt(LAYOUT.multibootInfo) });
    expect(trace.header.boot.sregs).toMatchObject({ cr0: 0x31n, efer: 0n });
    expect(trace.header.options.format).toBe('multiboot-elf32');
    // The exit write ends the run even when the vCPU already ran past it in the same batch.
    expect(trace.records.at(-1)!.io).toMatchObject({ port: 0xf4 });
    expect(trace.footer!.regs.rip).toBe(trace.records.at(-1)!.regs.rip);
    expect(result.reasonCounts.get(2)).toBe(trace.records.length); // IO only, no HLT
  });

  const programs: Array<[string, RegExp, string]> = [
    ['sieve-32.elf', /^primes below 2000: 303 \(sum 277050, largest 1999\)\nfirst: 2 3 5 7 11 13 17 19 23 29\n$/, 'hlt'],
    ['sieve-64.elf', /^primes below 2000: 303 /, 'hlt'],
    ['crc32-32.elf', /cbf43926 \(ok\)[\s\S]*agree/, 'hlt'],
    ['crc32-64.elf', /cbf43926 \(ok\)[\s\S]*agree/, 'hlt'],
    ['sort-64.elf', /quicksort n=256 [^\n]* sorted\ninsertion n= 64 [^\n]* sorted\n[\s\S]*all sorted\n$/, 'guest-exit'],
    ['recurse-32.elf', /fib\(15\) = 610 \(1973 calls\)\nackermann\(2, 3\) = 9[\s\S]*-\(1\+2\)\*\(3\+4\)\*5 = -105\n$/, 'hlt'],
    ['recurse-64.elf', /fib\(15\) = 610/, 'hlt'],
    ['divzero-32.elf', /1 \/ 0: division by zero caught[\s\S]*#UD \(vector 6\)[\s\S]*2 divide errors handled\n$/, 'hlt'],
    ['divzero-64.elf', /1 \/ 0: division by zero caught[\s\S]*2 divide errors handled\n$/, 'hlt'],
    ['pagefault-64.elf', /#PF at cr2=0x800120 error=0x0 \(not present, read\)[\s\S]*error=0x3 \(protection, write\)[\s\S]*alias read: 0xbeef\n3 page faults handled\n$/, 'hlt'],
  ];
  for (const [name, output, endReason] of programs) {
    it(`${name}: ${endReason}`, async () => {
      const { result, console } = await recordImage(name);
      expect(console.text).toMatch(output);
      expect(result.endReason, result.message).toBe(endReason);
      expect(result.status).toBeUndefined();
    });
  }

  it('the UART guest powers off: guest-exit, exit code 0, no status', async () => {
    const { result, trace } = await recordImage('sort-64.elf');
    expect(result.message).toBe('guest powered off (wrote 0x2000 to the ACPI PM1a control register at 0x604)');
    expect(trace.records.at(-1)!.io).toMatchObject({ port: 0x604, size: 2 });
    expect(trace.records.filter((r) => r.io?.port === 0x3fd).length).toBeGreaterThan(0); // LSR polled
  });

  it('a guest that triple-faults ends with SHUTDOWN', async () => {
    const { result, console, trace } = await recordImage('triple-32.elf');
    expect(console.text).toBe('3\n');
    expect(result.endReason).toBe('shutdown');
    expect(result.message).toBe('guest shut down (triple fault, or a mode this KVM cannot run)');
    expect(trace.records.at(-1)!.reasonName).toBe('SHUTDOWN');
  });

  it('a guest that switches to long mode by itself is recorded through the switch', async () => {
    const { result, console, trace } = await recordImage('longself-32.elf');
    expect(result.endReason).toBe('hlt');
    expect(console.text).toBe('L\n');
    expect(trace.footer!.sregs.efer & 0x400n).toBe(0x400n); // LMA
  });

  it.runIf(kvmModule().includes('kvm_pvm'))('says in one line when the host cannot run the paging a guest turns on', async () => {
    const { result } = await recordImage('paging-32.elf');
    expect(result.endReason).toBe('shutdown');
    expect(result.message).toMatch(/^guest shut down enabling 32-bit paging \(mov to CR0 with PG=1 at RIP 0x[0-9a-f]+\), which this host's KVM \(kvm_pvm\) cannot run; paging works in long mode \(--mode long\)$/);
  });

  it('--strict: an unclaimed port ends the run with an error naming port, direction and RIP', async () => {
    const { result, console, trace } = await recordImage('hello-64.elf', { devices: resolveDevices({ devices: 'debugcon' }), strict: true });
    expect(console.text).toMatch(/^hello from long mode/);
    expect(result.endReason).toBe('error');
    expect(result.message).toMatch(/^--strict: unclaimed port 0xf4: OUT of 1 byte \(0x10\) at RIP 0x10[0-9a-f]{4} \(after the instruction\)$/);
    expect(trace.records.at(-1)!.io).toMatchObject({ port: 0xf4 });
    expect(trace.header.options).toMatchObject({ strict: true, devices: 'debugcon@0xe9' });
    expect(trace.header.devices).toEqual([{ name: 'debugcon', kind: 'port', base: 0xe9, length: 1 }]);
  });

  it('without --strict the same write is an ordinary exit: the guest then halts', async () => {
    const { result, trace } = await recordImage('hello-64.elf', { devices: resolveDevices({ devices: 'debugcon' }) });
    expect(result.endReason).toBe('hlt');
    expect(trace.records.at(-2)!.io).toMatchObject({ port: 0xf4 });
  });

  it('--step in long mode: one record per instruction, same end state as the plain run', async () => {
    const plain = await recordImage('hello-64.elf');
    const step = await recordImage('hello-64.elf', { singleStep: true, output: join(dir, 'hello-64.step.vmtrace') });
    expect(step.console.text).toBe(plain.console.text);
    expect(step.result.status).toBe(33);
    expect(step.trace.records.filter((r) => r.kind === 'step').length).toBeGreaterThan(1000);
    expect(step.trace.footer!.regs).toEqual(plain.trace.footer!.regs);
  });
});

describe.skipIf(!kvm.ok)(kvmTitle('vmtrace record --mode'), () => {
  it('acceptance: a 64-bit C guest in long mode prints its output; the exit code is its status', () => {
    const r = vmtrace(['record', '--mode', 'long', 'guests/hello-64.elf', '-o', join(dir, 'a.vmtrace')]);
    expect(r.stdout).toBe('hello from long mode: cr0=0x80010031 cr3=0x10000 cr4=0x20\n');
    expect(r.status).toBe(33);
    expect(r.stderr).toMatch(/^vmtrace: guest exited with status 33 \(wrote 0x10 to isa-debug-exit port 0xf4, 1 byte\)\n/);
  });

  it('acceptance: a 32-bit multiboot ELF (mode detected)', () => {
    const r = vmtrace(['record', 'guests/sieve-32.elf', '-o', join(dir, 'b.vmtrace')]);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^primes below 2000: 303/);
  });

  it('acceptance: a third-party style flat guest writing 0xe9 and isa-debug-exit records with its status', () => {
    // mov $'X',%al; out %al,$0xe9; mov $'\n',%al; out %al,$0xe9; mov $0x2a,%al; out %al,$0xf4; hlt
    const flat = join(dir, 'third-party.bin');
    writeFileSync(flat, Uint8Array.of(0xb0, 0x58, 0xe6, 0xe9, 0xb0, 0x0a, 0xe6, 0xe9, 0xb0, 0x2a, 0xe6, 0xf4, 0xf4));
    for (const mode of ['protected', 'long']) {
      const r = vmtrace(['record', '--mode', mode, flat, '-o', join(dir, `c-${mode}.vmtrace`)]);
      expect(r.stdout).toBe('X\n');
      expect(r.status).toBe(85); // (0x2a << 1) | 1
    }
  });

  it('--entry-symbol starts an ELF at a symbol', () => {
    const r = vmtrace(['record', 'guests/hello-64.elf', '--entry-symbol', 'main', '-o', join(dir, 'd.vmtrace')]);
    expect(r.status).toBe(33); // main runs on the boot stack, prints, exits
    expect(r.stdout).toMatch(/^hello from long mode/);
  });
});

describe('vmtrace record: image and device errors', () => {
  it('a malformed image is one line and exit 2', () => {
    const bad = join(dir, 'bad.elf');
    writeFileSync(bad, Uint8Array.of(0x7f, 0x45, 0x4c, 0x46, 9, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0));
    const r = vmtrace(['record', bad]);
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toEqual([`vmtrace: ${bad}: bad ELF class 9 (expected 1 = ELF32 or 2 = ELF64)`]);
  });

  it('a mode the image cannot boot in, an image that does not fit, an unknown device: exit 2', () => {
    let r = vmtrace(['record', '--mode', 'protected', 'guests/hello-64.elf']);
    expect([r.status, r.stderr.trim()]).toEqual([2, 'vmtrace: guests/hello-64.elf: is an ELF64 image: it needs --mode long']);
    r = vmtrace(['record', 'guests/hello-64.elf', '--mem', '1M']);
    expect(r.status).toBe(2);
    expect(r.stderr.trim()).toMatch(/^vmtrace: guests\/hello-64\.elf: segment 0 \(PT_LOAD r-x\) \[0x100000, 0x[0-9a-f]+\) does not fit in 1 MiB of RAM; raise --mem$/);
    r = vmtrace(['record', 'guests/hello-64.elf', '--device', 'vga@0x3c0']);
    expect(r.status).toBe(2);
    expect(r.stderr.trim()).toMatch(/^vmtrace: unknown device 'vga'; known: /);
  });
});
