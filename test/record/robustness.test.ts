// Recording robustly (needs KVM): SIGINT/SIGTERM/SIGHUP stop cleanly with exit 128 + n, the trace
// goes to <out>.<pid>.partial and is renamed into place only when complete, concurrent recordings
// never interleave, write failures (disk full, read-only) are one line with exit 2, and the
// watchdog says when the guest makes no exit.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { record } from '../../src/record/recorder.js';
import { readTrace } from '../../src/trace/reader.js';
import { CLI, type CliResult, vmtrace } from '../support/cli.js';
import { kvmAvailability, kvmTitle } from '../support/kvm.js';
import { ROOT } from '../support/record.js';

const dir = mkdtempSync(join(tmpdir(), 'vmtrace-robust-rec-'));
/** `jmp $`: never exits on its own. */
const spinBytes = Uint8Array.from([0xeb, 0xfe]);
const spin = join(dir, 'spin.bin');
writeFileSync(spin, spinBytes);
const count = join(ROOT, 'guests', 'count.bin');
const tiny = join(ROOT, 'guests', 'tiny_kernel.bin');

interface Run extends CliResult {
  /** The partial file seen while the run was going. */
  partial?: string;
}

const partialsOf = (d: string, name: string) => readdirSync(d).filter((f) => f.startsWith(`${name}.`) && f.endsWith('.partial'));

/**
 * Starts `vmtrace args`; once the .partial file of `out` exists (the recording is under way),
 * sends `signals` one after the other; resolves when the process ends.
 */
function runAndSignal(args: string[], out: string, signals: NodeJS.Signals[], opts: { env?: NodeJS.ProcessEnv; waitForStderr?: RegExp } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: dir, env: { ...process.env, ...opts.env } });
    let stdout = '';
    let stderr = '';
    let partial: string | undefined;
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const outDir = join(out, '..');
    const name = out.split('/').pop()!;
    const started = Date.now();
    const poll = setInterval(() => {
      if (Date.now() - started > 40_000) {
        clearInterval(poll);
        child.kill('SIGKILL');
        reject(new Error(`no .partial file for ${out} within 40 s; stderr: ${stderr}`));
        return;
      }
      const p = partialsOf(outDir, name)[0];
      if (!p || (opts.waitForStderr && !opts.waitForStderr.test(stderr))) return;
      clearInterval(poll);
      partial = join(outDir, p);
      // a little more, so that the run loop is going (not just the header written)
      setTimeout(() => {
        for (const s of signals) child.kill(s);
      }, 150);
    }, 20);
    child.on('exit', (status) => {
      clearInterval(poll);
      // 'exit' can come before the pipes are drained
      setTimeout(() => resolve({ status, stdout, stderr, partial }), 50);
    });
  });
}

let mounted: string[] = [];
afterAll(() => {
  for (const m of mounted) spawnSync('umount', [m]);
  mounted = [];
});

/** A tmpfs of `size` mounted under dir (root only), or undefined. */
function tmpfs(name: string, size: string, ro = false): string | undefined {
  const m = join(dir, name);
  mkdirSync(m, { recursive: true });
  if (spawnSync('mount', ['-t', 'tmpfs', '-o', `${ro ? 'ro,' : ''}size=${size}`, 'tmpfs', m]).status !== 0) return undefined;
  mounted.push(m);
  return m;
}

describe.skipIf(!kvmAvailability().ok)(kvmTitle('vmtrace record: signals end the run cleanly, exit 128 + n'), () => {
  for (const [sig, code, words] of [
    ['SIGINT', 130, 'stopped by the user (Ctrl-C, SIGINT); the trace is complete up to here'],
    ['SIGTERM', 143, 'stopped by SIGTERM; the trace is complete up to here'],
    ['SIGHUP', 129, 'stopped by SIGHUP (the terminal went away); the trace is complete up to here'],
  ] as const) {
    it(`${sig}: footer "interrupted" naming it, exit ${code}, the trace at -o, no .partial left`, async () => {
      const out = join(dir, `sig-${sig}.vmtrace`);
      const r = await runAndSignal(['record', spin, '-o', out], out, [sig]);
      expect(r.status, r.stderr).toBe(code);
      expect(r.partial).toMatch(new RegExp(`sig-${sig}\\.vmtrace\\.\\d+\\.partial$`));
      expect(r.stderr).toContain(`vmtrace: ${words}\n`);
      expect(r.stderr).not.toMatch(/\n\s+at /);
      const t = await readTrace(out);
      expect(t.truncated).toBe(false);
      expect(t.footer?.endReason).toBe('interrupted');
      expect(t.footer?.message).toBe(words);
      expect(partialsOf(dir, `sig-${sig}.vmtrace`)).toEqual([]);
    });
  }

  it('a second signal exits at once: the .partial file stays, readable, and says so', async () => {
    const out = join(dir, 'twice.vmtrace');
    // Two different signals: the kernel merges a pending signal with another of the same kind.
    const r = await runAndSignal(['record', spin, '-o', out], out, ['SIGTERM', 'SIGINT']);
    const second = /second (SIGINT|SIGTERM)/.exec(r.stderr)?.[1];
    expect(second, r.stderr).toBeDefined();
    expect(r.status).toBe(second === 'SIGINT' ? 130 : 143);
    expect(existsSync(out)).toBe(false);
    expect(r.stderr).toContain(`vmtrace: second ${second}: exiting at once, without the footer: what was recorded is in ${r.partial}`);
    const t = await readTrace(r.partial!);
    expect(t.truncated).toBe(true);
    rmSync(r.partial!);
  });

  it('vmtrace test: SIGTERM stops the recording of a golden, none is rewritten, exit 143', async () => {
    const root = join(dir, 'golden-root');
    mkdirSync(join(root, 'guests'), { recursive: true });
    mkdirSync(join(root, 'traces'));
    writeFileSync(join(root, 'guests', 'spin.bin'), spinBytes);
    // A golden whose options say --timeout 30: its re-recording runs until stopped.
    const golden = join(root, 'traces', 'spin.vmtrace');
    const g = await runAndSignal(['record', join(root, 'guests', 'spin.bin'), '--timeout', '30', '-o', golden], golden, ['SIGINT']);
    expect(g.status).toBe(130);
    const before = readFileSync(golden);
    const r = await new Promise<CliResult>((resolve) => {
      const child = spawn(process.execPath, [CLI, 'test', '--root', root, '--no-replay'], { cwd: dir });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => (stdout += d));
      child.stderr.on('data', (d) => (stderr += d));
      setTimeout(() => child.kill('SIGTERM'), 2500);
      child.on('exit', (status) => setTimeout(() => resolve({ status, stdout, stderr }), 50));
    });
    expect(r.status, r.stdout + r.stderr).toBe(143);
    expect(r.stdout).toContain('interrupted by SIGTERM');
    expect(readFileSync(golden)).toEqual(before);
  });
});

describe.skipIf(!kvmAvailability().ok)(kvmTitle('vmtrace record: the output is renamed into place when complete'), () => {
  it('while recording only <out>.<pid>.partial exists; an earlier trace at -o stays until the end', async () => {
    const out = join(dir, 'replace.vmtrace');
    expect(vmtrace(['record', tiny, '-q', '-o', out]).status).toBe(0);
    const old = readFileSync(out);
    let during: Buffer | undefined;
    const r = await new Promise<CliResult>((resolve) => {
      const child = spawn(process.execPath, [CLI, 'record', spin, '-o', out, '--timeout', '20'], { cwd: dir });
      let stderr = '';
      child.stderr.on('data', (d) => (stderr += d));
      const poll = setInterval(() => {
        if (partialsOf(dir, 'replace.vmtrace').length === 0) return;
        clearInterval(poll);
        during = readFileSync(out);
        child.kill('SIGINT');
      }, 20);
      child.on('exit', (status) => setTimeout(() => resolve({ status, stdout: '', stderr }), 50));
    });
    expect(r.status).toBe(130);
    expect(during).toEqual(old);
    expect((await readTrace(out)).footer?.endReason).toBe('interrupted');
  });

  it('timeout and max-exits endings are renamed too (footer first)', async () => {
    const out = join(dir, 'limits.vmtrace');
    expect(vmtrace(['record', spin, '-o', out, '--timeout', '0.3']).status).toBe(4);
    expect((await readTrace(out)).footer?.endReason).toBe('timeout');
    expect(vmtrace(['record', count, '-q', '-o', out, '--max-exits', '10']).status).toBe(4);
    expect((await readTrace(out)).footer?.endReason).toBe('max-exits');
    expect(partialsOf(dir, 'limits.vmtrace')).toEqual([]);
  });

  it('three concurrent recordings to one -o never interleave: the last rename wins, the file is whole', async () => {
    const out = join(dir, 'same.vmtrace');
    const runs = [3000, 6000, 9000].map(
      (n) =>
        new Promise<number | null>((resolve) => {
          const child = spawn(process.execPath, [CLI, 'record', count, '-q', '-o', out, '--max-exits', String(n)], { cwd: dir, stdio: 'ignore' });
          child.on('exit', resolve);
        }),
    );
    expect(await Promise.all(runs)).toEqual([4, 4, 4]);
    const t = await readTrace(out);
    expect(t.truncated).toBe(false);
    expect([3000, 6000, 9000]).toContain(t.records.length);
    expect(t.footer?.records).toBe(t.records.length);
    expect(t.records.every((r, i) => r.seq === i)).toBe(true);
    expect(partialsOf(dir, 'same.vmtrace')).toEqual([]);
  });

  it('stdout closing (| head) stops the run cleanly: footer, trace in place, exit 141', async () => {
    const out = join(dir, 'piped.vmtrace');
    const r = await new Promise<CliResult>((resolve) => {
      const child = spawn(process.execPath, [CLI, 'record', count, '-o', out], { cwd: dir });
      let stderr = '';
      child.stderr.on('data', (d) => (stderr += d));
      child.stdout.once('data', () => child.stdout.destroy());
      child.on('exit', (status) => setTimeout(() => resolve({ status, stdout: '', stderr }), 50));
    });
    expect(r.status, r.stderr).toBe(141);
    expect(r.stderr).toContain('stdout was closed (EPIPE');
    const t = await readTrace(out);
    expect(t.truncated).toBe(false);
    expect(t.footer?.endReason).toBe('interrupted');
  });

  it('-o /dev/null is written directly (a character device is not renamed over)', () => {
    const r = vmtrace(['record', tiny, '-q', '-o', '/dev/null']);
    expect(r.status).toBe(0);
    expect(r.stderr).toContain('-> /dev/null');
  });
});

describe.skipIf(!kvmAvailability().ok)(kvmTitle('vmtrace record: write failures are one line, exit 2'), () => {
  it('/dev/full: disk full (ENOSPC)', () => {
    const r = vmtrace(['record', tiny, '-q', '-o', '/dev/full']);
    expect(r.status).toBe(2);
    expect(r.stderr.trim()).toBe('vmtrace: cannot write trace /dev/full: disk full, no space left on the device (ENOSPC); choose another -o');
  });

  const small = kvmAvailability().ok ? tmpfs('small', '256k') : undefined;
  it.skipIf(!small)(`a disk that fills up during the run: the .partial file goes, an earlier trace stays${small ? '' : ' [skipped: cannot mount a tmpfs here (needs root)]'}`, async () => {
    const out = join(small!, 'c.vmtrace');
    expect(vmtrace(['record', tiny, '-q', '-o', out]).status).toBe(0);
    const old = readFileSync(out);
    const r = vmtrace(['record', count, '-q', '-o', out]);
    expect(r.status).toBe(2);
    expect(r.stderr.trim()).toBe(`vmtrace: cannot write trace ${out}: disk full, no space left on the device (ENOSPC); choose another -o`);
    expect(readFileSync(out)).toEqual(old);
    expect(partialsOf(small!, 'c.vmtrace')).toEqual([]);
  });

  const prlimit = spawnSync('prlimit', ['--version']).status === 0;
  it.skipIf(!prlimit)(`guest RAM that cannot be allocated: how much, and what to do (exit 2)${prlimit ? '' : ' [skipped: no prlimit]'}`, () => {
    // 2.5 GiB of address space: node runs, 3 GiB of guest RAM cannot be mapped
    const r = spawnSync('prlimit', [`--as=${2.5 * 2 ** 30}`, process.execPath, CLI, 'record', tiny, '-q', '--mem', '3G', '-o', join(dir, 'mem.vmtrace')], { encoding: 'utf8' });
    expect(r.stderr.trim()).toMatch(/^vmtrace: cannot allocate 3 GiB of guest RAM \(.*ENOMEM.*\); lower --mem, or free memory \/ raise the process's memory limit \(ulimit -v\)$/);
    expect(r.status).toBe(2);
  });

  it('the library throws OutputError for a missing directory before KVM is touched', async () => {
    await expect(
      record({ image: spinBytes, imageName: 'spin.bin', output: join(dir, 'nope', 'x.vmtrace'), input: new Uint8Array(0), maxExits: 1, timeoutMs: 100, singleStep: false, quiet: true }),
    ).rejects.toMatchObject({ name: 'OutputError', code: 'ENOENT' });
  });
});

describe.skipIf(!kvmAvailability().ok)(kvmTitle('vmtrace record: the watchdog'), () => {
  it('a guest making no exit: one line, once, and the run goes on to --timeout', () => {
    const out = join(dir, 'stall.vmtrace');
    const r = vmtrace(['record', spin, '-o', out, '--timeout', '1.5'], { env: { VMTRACE_STALL_SECONDS: '0.3' } });
    expect(r.status).toBe(4);
    const lines = r.stderr.trim().split('\n');
    expect(lines.filter((l) => l.includes('no exit from the guest'))).toEqual([
      'vmtrace: no exit from the guest for 0.3 s (it may be spinning without I/O); --timeout stops it at 1.5 s, Ctrl-C sooner (the trace is complete either way)',
    ]);
    expect(lines).toContain('vmtrace: stopped by --timeout');
  });

  it('without --timeout it points to Ctrl-C and --timeout; a signal still stops it cleanly', async () => {
    const out = join(dir, 'stall-sig.vmtrace');
    const r = await runAndSignal(['record', spin, '-o', out], out, ['SIGTERM'], { env: { VMTRACE_STALL_SECONDS: '0.2' }, waitForStderr: /no exit from the guest/ });
    expect(r.status).toBe(143);
    expect(r.stderr).toContain('vmtrace: no exit from the guest for 0.2 s (it may be spinning without I/O); Ctrl-C stops it with a complete trace, --timeout bounds the run\n');
    expect((await readTrace(out)).footer?.message).toBe('stopped by SIGTERM; the trace is complete up to here');
  });

  it('the default threshold is 5 s', () => {
    const r = vmtrace(['record', spin, '-o', join(dir, 'stall5.vmtrace'), '--timeout', '5.6']);
    expect(r.status).toBe(4);
    expect(r.stderr).toContain('vmtrace: no exit from the guest for 5 s (it may be spinning without I/O)');
  });

  it('VMTRACE_STALL_SECONDS=0 turns it off; a guest that exits is never reported', () => {
    const off = vmtrace(['record', spin, '-o', join(dir, 'stall-off.vmtrace'), '--timeout', '0.6'], { env: { VMTRACE_STALL_SECONDS: '0' } });
    expect(off.status).toBe(4);
    expect(off.stderr).not.toContain('no exit');
    const busy = vmtrace(['record', count, '-q', '-o', join(dir, 'busy.vmtrace'), '--timeout', '0.8'], { env: { VMTRACE_STALL_SECONDS: '0.2' } });
    expect(busy.stderr).not.toContain('no exit');
  });

  it('library: onStall once after stallMs; the signal name ends up in the result and footer', async () => {
    const calls: number[] = [];
    const signal: { stop: boolean; name?: NodeJS.Signals } = { stop: false };
    const out = join(dir, 'lib-stall.vmtrace');
    const result = await record({
      image: spinBytes,
      imageName: 'spin.bin',
      output: out,
      input: new Uint8Array(0),
      maxExits: Infinity,
      timeoutMs: 30_000,
      singleStep: false,
      quiet: true,
      stallMs: 100,
      onStall: (ms) => {
        calls.push(ms);
        setTimeout(() => Object.assign(signal, { stop: true, name: 'SIGTERM' }), 300);
      },
      signal,
    });
    expect(calls).toHaveLength(1);
    expect(calls[0]).toBeGreaterThanOrEqual(100);
    expect(result.endReason).toBe('interrupted');
    expect(result.signal).toBe('SIGTERM');
    expect(result.message).toBe('stopped by SIGTERM; the trace is complete up to here');
    expect((await readTrace(out)).footer?.message).toBe(result.message);
  });
});
