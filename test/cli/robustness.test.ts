// CLI input robustness that needs no KVM: every numeric option refused in one line (exit 2),
// images that are not regular files or too large, outputs that are inputs or cannot be written.
// All of these are checked before vmtrace opens /dev/kvm.
import { spawnSync } from 'node:child_process';
import { chmodSync, linkSync, mkdirSync, mkdtempSync, readFileSync, statSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { writeSyntheticTrace } from '../../src/inspect/synthetic.js';
import { CLI, vmtrace } from '../support/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'vmtrace-robust-'));
const spin = join(dir, 'spin.bin');
writeFileSync(spin, Uint8Array.from([0xeb, 0xfe]));
const trace = join(dir, 'synthetic.vmtrace');
await writeSyntheticTrace(trace);
/** A read-only tmpfs, where this process may mount one (root); unmounted when the tests end. */
const roMount = ((): string | undefined => {
  const m = join(dir, 'ro-mount');
  mkdirSync(m);
  if (spawnSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=64k', 'tmpfs', m]).status !== 0) return undefined;
  return m;
})();
afterAll(() => {
  if (roMount) spawnSync('umount', [roMount]);
});
// Never used: KVM must not be reached by any test here (a refusal comes first).
const noKvm = { VMTRACE_KVM_DEVICE: '/nonexistent/kvm-not-reached' };

/** One line on stderr, prefixed vmtrace:, exit 2, no stack trace. */
function expectUsage(args: string[], pattern: RegExp, opts: { cwd?: string } = {}): string {
  const r = vmtrace(args, { env: noKvm, ...opts });
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^vmtrace: /);
  expect(lines[0]).toMatch(pattern);
  expect(r.stderr).not.toMatch(/\n\s+at /);
  expect(r.status, r.stderr).toBe(2);
  return lines[0]!;
}

describe('numeric options: refused in one line naming the option, the value and the accepted form (exit 2)', () => {
  const o = join(dir, 'o.vmtrace');
  const record = (...a: string[]) => ['record', spin, '-o', o, ...a];
  const cases: Array<[string[], RegExp]> = [
    [record('--timeout', 'abc'), /^vmtrace: --timeout: 'abc' is not a number of seconds; expected a number of seconds greater than 0/],
    [record('--timeout', ''), /^vmtrace: --timeout: empty value; expected/],
    [record('--timeout', '-1'), /--timeout: '-1' is negative/],
    [record('--timeout', '0'), /--timeout: '0' is not more than 0/],
    [record('--timeout', '1e3'), /--timeout: '1e3' is not a number of seconds/],
    [record('--timeout', 'NaN'), /--timeout: 'NaN' is not a number of seconds/],
    [record('--timeout', '99999999999'), /--timeout: '99999999999' is too long; expected .* at most 2147483/],
    [record('--mem', '64G'), /^vmtrace: --mem: '64G' is more than the 3 GiB maximum .*; give at most 3G$/],
    [record('--mem', '1.5M'), /--mem: '1.5M' is not a whole number of bytes/],
    [record('--mem', '-1M'), /--mem: '-1M' is negative/],
    [record('--mem', '1000'), /--mem: '1000' is too small; give at least 4 KiB/],
    [record('--mem', '5000'), /--mem: '5000' is not a multiple of 4 KiB/],
    [record('--mem', '99999999999999999999'), /--mem: '99999999999999999999' is too large \(beyond 2\^53 bytes\)/],
    [record('--mem', ''), /--mem: empty value/],
    [record('--max-exits', '0'), /^vmtrace: --max-exits: '0' is less than 1; expected an integer of at least 1/],
    [record('--max-exits', '2.5'), /--max-exits: '2.5' is not a whole number/],
    [record('--max-exits', '-3'), /--max-exits: '-3' is negative/],
    [record('--max-exits', '9007199254740993'), /--max-exits: '9007199254740993' is too large \(beyond 2\^53\)/],
    [record('--max-exits', 'ten'), /--max-exits: 'ten' is not an integer/],
    [record('--max-exits', ''), /--max-exits: empty value/],
    [record('--load', '0x100000000'), /--load: '0x100000000' is more than 0xffffffff; expected a guest-physical address from 0 to 0xffffffff/],
    [record('--load', '-1'), /--load: '-1' is negative/],
    [record('--entry', '12345:0'), /--entry: '12345:0' is not CS:IP in hex/],
    [record('--mode', 'protected', '--entry', '0x100000000'), /--entry: '0x100000000' is more than 0xffffffff; expected a linear address from 0 to 0xffffffff in protected mode/],
    [record('--mode', 'long', '--entry', '0xffffffff80000000'), /--entry: '0xffffffff80000000' is too large \(beyond 2\^53\)/],
    [record('--console-port', '0x10000'), /--console-port: '0x10000' is more than 0xffff; expected an I\/O port from 0 to 0xffff/],
    [record('--console-port', ''), /--console-port: empty value/],
    [record('--device', 'uart16550@0x10000'), /^vmtrace: --device 'uart16550@0x10000': '0x10000' is not an I\/O port \(0 to 0xffff\); expected NAME@PORT/],
    [record('--device', 'uart16550@'), /--device 'uart16550@': '' is not an I\/O port/],
    [record('--device', 'uart16550@1.5'), /--device 'uart16550@1.5': '1.5' is not an I\/O port/],
    [record('--devices', 'console@-1'), /^vmtrace: --devices 'console@-1': '-1' is not an I\/O port/],
    [['replay', trace, '--max-instructions', '0'], /^vmtrace: --max-instructions: '0' is less than 1/],
    [['replay', trace, '--max-instructions', '1e9'], /--max-instructions: '1e9' is not a whole number/],
    [['replay', trace, '--no-exec', '--max-instructions', 'x'], /--max-instructions: 'x' is not an integer/],
    [['inspect', trace, '--from', '-1'], /^vmtrace: --from: '-1' is negative; expected a non-negative integer/],
    [['inspect', trace, '--to', '1.5'], /--to: '1.5' is not a whole number/],
    [['inspect', trace, '--limit', '0'], /--limit: '0' is less than 1/],
    [['inspect', trace, '--limit', ''], /--limit: empty value/],
    [['inspect', trace, '--port', '0x10000'], /--port: '0x10000' is more than 0xffff/],
    [['inspect', trace, '--port', ''], /--port: empty value/],
    [['inspect', trace, '--addr', '-5'], /--addr: '-5' is negative/],
    [['inspect', trace, '--console', '--console-port', '0xf1,'], /--console-port: empty value/],
    [['diff', trace, trace, '--context', '1001'], /^vmtrace: --context: '1001' is more than 1000/],
    [['test', '--timeout', 'abc'], /^vmtrace: --timeout: 'abc' is not a number of seconds/],
  ];
  for (const [args, pattern] of cases) {
    it(`${args[0]} ${args.slice(1).filter((a) => !a.startsWith(dir)).map((a) => (a === '' ? "''" : a)).join(' ')}`, () => {
      expectUsage(args, pattern);
    });
  }

  it('a control character in a value is escaped: the message stays one line', () => {
    expectUsage(record('--max-exits', '1\n2'), /--max-exits: '1\\x0a2' is not an integer/);
  });
});

describe('images: a regular file within the limit (exit 2 otherwise)', () => {
  it('refuses /dev/zero (it would be read forever)', () => {
    expectUsage(['record', '/dev/zero', '-o', join(dir, 'z.vmtrace')], /^vmtrace: image \/dev\/zero: is a character device, not an image file: give a flat binary, an ELF executable or a multiboot kernel$/);
  });

  it('refuses a directory', () => {
    expectUsage(['record', dir, '-o', join(dir, 'd.vmtrace')], /^vmtrace: image .*: is a directory, not an image file/);
  });

  it('refuses a FIFO without blocking on it', () => {
    const fifo = join(dir, 'fifo.bin');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    expectUsage(['record', fifo, '-o', join(dir, 'f.vmtrace')], /^vmtrace: image .*fifo\.bin: is a FIFO \(named pipe\), not an image file/);
  });

  it('refuses an empty image', () => {
    const empty = join(dir, 'empty.bin');
    writeFileSync(empty, '');
    expectUsage(['record', empty, '-o', join(dir, 'e.vmtrace')], /^vmtrace: image .*empty\.bin: is empty$/);
  });

  it('refuses an image over 256 MiB (the trace header stores it)', () => {
    const big = join(dir, 'big.bin');
    writeFileSync(big, '');
    truncateSync(big, 256 * 1024 * 1024 + 1); // sparse: costs no disk
    expectUsage(['record', big, '-o', join(dir, 'b.vmtrace')], /^vmtrace: image .*big\.bin: is 268435457 bytes; images are limited to 256 MiB/);
  });

  it('refuses an --input device that never ends', () => {
    expectUsage(['record', spin, '-o', join(dir, 'i.vmtrace'), '--input', '/dev/zero'], /^vmtrace: --input \/dev\/zero: more than 64 MiB of input/);
  });
});

describe('outputs: never an input, and writable (exit 2)', () => {
  it('refuses -o naming the image (also through ./, a symlink or a hard link)', () => {
    expectUsage(['record', spin, '-o', spin], /^vmtrace: -o .*spin\.bin is the image: writing it would destroy it; choose another -o file$/);
    expectUsage(['record', 'spin.bin', '-o', './spin.bin'], /-o \.\/spin\.bin is the image/, { cwd: dir });
    const link = join(dir, 'spin-link.bin');
    symlinkSync(spin, link);
    expectUsage(['record', spin, '-o', link], /-o .*spin-link\.bin is the image \(.*spin\.bin\)/);
    const hard = join(dir, 'spin-hard.bin');
    linkSync(spin, hard);
    expectUsage(['record', spin, '-o', hard], /-o .*spin-hard\.bin is the image/);
    expect(readFileSync(spin)).toEqual(Buffer.from([0xeb, 0xfe]));
  });

  it('refuses the default output when it is the image (recording foo.vmtrace in its directory)', () => {
    const odd = join(dir, 'odd.vmtrace');
    writeFileSync(odd, Uint8Array.from([0xeb, 0xfe]));
    expectUsage(['record', 'odd.vmtrace'], /^vmtrace: -o odd\.vmtrace is the image/, { cwd: dir });
  });

  it('refuses -o naming the --input file or the --cpu model file', () => {
    const input = join(dir, 'input.txt');
    writeFileSync(input, 'hi');
    expectUsage(['record', spin, '-i', input, '-o', input], /^vmtrace: -o .*input\.txt is the --input file/);
    const model = join(dir, 'model.json');
    writeFileSync(model, '{}');
    expectUsage(['record', spin, '--cpu', model, '-o', model], /^vmtrace: -o .*model\.json is the --cpu model file/);
  });

  it('a missing directory, a directory, a FIFO', () => {
    expectUsage(['record', spin, '-o', join(dir, 'nope', 'x.vmtrace')], /^vmtrace: cannot write trace .*nope\/x\.vmtrace: no such directory .*nope \(ENOENT\); choose another -o$/);
    expectUsage(['record', spin, '-o', dir], /^vmtrace: cannot write trace .*: it is a directory \(EISDIR\); choose another -o$/);
    const fifo = join(dir, 'out.fifo');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    expectUsage(['record', spin, '-o', fifo], /^vmtrace: cannot write trace .*out\.fifo: it is a FIFO: a trace needs a regular file; choose another -o$/);
    expectUsage(['record', spin, '-o', ''], /^vmtrace: -o: empty file name/);
  });

  it('a directory without write permission (EACCES)', () => {
    const locked = join(dir, 'locked');
    mkdirSync(locked);
    chmodSync(locked, 0o555);
    const out = join(locked, 'x.vmtrace');
    // root ignores permissions: run the CLI as nobody then
    const asRoot = process.getuid?.() === 0;
    if (asRoot) {
      chmodSync(dir, 0o755); // nobody must reach the image
      chmodSync(spin, 0o644);
    }
    const r = spawnSync(process.execPath, [CLI, 'record', spin, '-o', out], {
      encoding: 'utf8',
      env: { ...process.env, ...noKvm },
      ...(asRoot ? { uid: 65534, gid: 65534 } : {}),
    });
    expect(r.stderr.trim()).toMatch(/^vmtrace: cannot write trace .*locked\/x\.vmtrace: no permission to write in .*locked \(EACCES\); choose another -o$/);
    expect(r.status).toBe(2);
  });

  it.skipIf(!roMount)(`a read-only file system (EROFS)${roMount ? '' : ' [skipped: cannot mount a read-only tmpfs here (needs root)]'}`, () => {
    expectUsage(['record', spin, '-o', join(roMount!, 'x.vmtrace')], /^vmtrace: cannot write trace .*\/x\.vmtrace: read-only file system \(EROFS\); choose another -o$/);
  });

  it('inspect: an export that is the trace is refused before the trace is truncated', () => {
    const before = statSync(trace).size;
    expectUsage(['inspect', trace, '--perfetto', trace], /^vmtrace: --perfetto .* is the trace being inspected: writing it would destroy it; choose another --perfetto file$/);
    const link = join(dir, 'trace-link.json');
    symlinkSync(trace, link);
    expectUsage(['inspect', trace, '--html', link], /^vmtrace: --html .*trace-link\.json is the trace being inspected/);
    expectUsage(['inspect', trace, '--html', join(dir, 'a.html'), '--perfetto', join(dir, '.', 'a.html')], /^vmtrace: --perfetto and --html need different files/);
    expect(statSync(trace).size).toBe(before);
  });

  it('inspect: exports that cannot be written (ENOENT, EISDIR, ENOSPC via /dev/full)', () => {
    expectUsage(['inspect', trace, '--perfetto', join(dir, 'nope', 'p.json')], /^vmtrace: cannot write --perfetto file .*nope\/p\.json: no such directory \(ENOENT\); choose another --perfetto file$/);
    expectUsage(['inspect', trace, '--html', dir], /^vmtrace: cannot write --html file .*: it is a directory \(EISDIR\); choose another --html file$/);
    expectUsage(['inspect', trace, '--perfetto', '/dev/full'], /^vmtrace: cannot write --perfetto file \/dev\/full: disk full, no space left on the device \(ENOSPC\); choose another --perfetto file$/);
    expectUsage(['inspect', trace, '--html', '/dev/full', '--perfetto', join(dir, 'ok.json')], /^vmtrace: cannot write --html file \/dev\/full: disk full/);
  });
});
