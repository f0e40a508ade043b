// Driving the real gdb in batch mode against `vmtrace replay --gdb` (the built CLI), for the
// end-to-end tests: start the stub, wait for its listening line, run gdb commands, parse what
// gdb printed.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { CLI } from '../support/cli.js';
import { ROOT } from '../support/record.js';

/** Why the gdb tests cannot run here, or undefined when they can. */
export function gdbMissing(): string | undefined {
  const r = spawnSync('gdb', ['--version'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) return 'gdb is not installed (Debian: apt-get install gdb)';
  return undefined;
}

export interface Stub {
  port: number;
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  /** Resolves with the exit code when the stub ends. */
  exited: Promise<number | null>;
}

/** `vmtrace replay --gdb 127.0.0.1:0 TRACE …`, once it listens. */
export async function startStub(trace: string, extra: string[] = []): Promise<Stub> {
  const child = spawn(process.execPath, [CLI, 'replay', '--gdb', '127.0.0.1:0', ...extra, trace], { cwd: ROOT });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const port = await new Promise<number>((resolve, reject) => {
    child.stderr.on('data', (d) => {
      stderr += d;
      const m = /vmtrace: gdb stub listening on 127\.0\.0\.1:(\d+) /.exec(stderr);
      if (m) resolve(Number(m[1]));
    });
    void exited.then((code) => reject(new Error(`the stub ended (exit ${code}) before listening: ${stderr}`)));
  });
  return { port, child, stdout: () => stdout, stderr: () => stderr, exited };
}

const outputs = mkdtempSync(join(tmpdir(), 'vmtrace-gdb-out-'));
let runs = 0;

/**
 * Runs gdb in batch mode: `file ELF` (if given), `target remote`, then the commands. Returns what
 * it printed, stdout and stderr in the order written (the stub's console text goes to stderr).
 */
export function gdb(port: number, commands: string[], elf?: string): string {
  const args = ['-batch', '-nx', '-ex', 'set pagination off', '-ex', 'set confirm off'];
  if (elf) args.push('-ex', `file ${join(ROOT, 'guests', elf)}`);
  args.push('-ex', `target remote 127.0.0.1:${port}`);
  for (const c of commands) args.push('-ex', c);
  const file = join(outputs, `gdb-${runs++}.txt`);
  const fd = openSync(file, 'w');
  try {
    const r = spawnSync('gdb', args, { cwd: ROOT, stdio: ['ignore', fd, fd], timeout: 120_000 });
    if (r.error) throw r.error;
  } finally {
    closeSync(fd);
  }
  return readFileSync(file, 'utf8');
}

/** The registers of an `info registers` listing: name → value. */
export function registers(output: string): Map<string, bigint> {
  const out = new Map<string, bigint>();
  for (const m of output.matchAll(/^([a-z][a-z0-9_]*)\s+(0x[0-9a-f]+)\s/gm)) out.set(m[1]!, BigInt(m[2]!));
  return out;
}

/** The parts of gdb's output between `echo MARK\n` lines: `marks(out)[k]` follows the k-th mark. */
export function sections(output: string, mark = '@@'): string[] {
  return output.split(`${mark}\n`);
}
