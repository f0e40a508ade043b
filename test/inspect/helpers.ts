// Shared helpers for the inspect/diff tests: a temp dir per test file, synthetic traces, and a
// runner for the built CLI (dist/cli.js; `npm test` runs after the TypeScript build).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { writeSyntheticTrace, type SyntheticOptions } from '../../src/inspect/synthetic.js';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const CLI = join(ROOT, 'dist/cli.js');
export const HAVE_CLI = existsSync(CLI);

export function tempDir(prefix = 'vmtrace-inspect-'): { dir: string; path: (name: string) => string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, path: (name) => join(dir, name), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export async function synth(path: string, opts: SyntheticOptions = {}): Promise<string> {
  await writeSyntheticTrace(path, opts);
  return path;
}

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

export function cli(...args: string[]): CliResult {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', cwd: ROOT, maxBuffer: 64 << 20 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
