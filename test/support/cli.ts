// Running the built CLI (dist/cli.js, built by `npm test`'s pretest step) as a user would.
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';

import { ROOT } from './record.js';

export const CLI = join(ROOT, 'dist', 'cli.js');

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

export function vmtrace(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string | Buffer } = {}): CliResult {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    cwd: opts.cwd ?? ROOT,
    env: { ...process.env, ...opts.env },
    input: opts.input,
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Starts the CLI, sends `signal` after `afterMs`, and resolves when it exits. */
/**
 * Runs vmtrace and sends `signal` `afterMs` after it started, and not before `ready()` holds
 * (polled: on a loaded machine Node alone can take a second to start).
 */
export function vmtraceInterrupted(args: string[], afterMs: number, signal: NodeJS.Signals = 'SIGINT', ready: () => boolean = () => true): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: ROOT });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const fire = () => (ready() ? child.kill(signal) : setTimeout(fire, 50));
    setTimeout(fire, afterMs);
    child.on('exit', (status) => resolve({ status, stdout, stderr }));
  });
}
