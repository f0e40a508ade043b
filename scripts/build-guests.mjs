#!/usr/bin/env node
// Assemble the real-mode test guests: guests/<name>.S -> guests/<name>.bin (flat binary loaded at 0).
// Usage: node scripts/build-guests.mjs [name...]   (default: every guests/*.S)
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const guestsDir = join(dirname(fileURLToPath(import.meta.url)), '..', 'guests');

class BuildError extends Error {}

function run(tool, args) {
  const r = spawnSync(tool, args, { encoding: 'utf8' });
  if (r.error?.code === 'ENOENT') throw new BuildError(`'${tool}' not found; install GNU binutils (as, ld)`);
  if (r.error) throw new BuildError(`${tool}: ${r.error.message}`);
  return r;
}

function build(name, tmp) {
  const obj = join(tmp, `${name}.o`);
  const bin = join(tmp, `${name}.bin`);
  // -I so that `.include "lib16.inc"` resolves next to the sources.
  let r = run('as', ['--32', '-I', guestsDir, '-o', obj, join(guestsDir, `${name}.S`)]);
  if (r.status !== 0) throw new BuildError(`${name}.S failed to assemble:\n${r.stderr.trim()}`);
  r = run('ld', ['-m', 'elf_i386', '-Ttext=0', '-e', 'start', '--oformat=binary', '-o', bin, obj]);
  if (r.status !== 0) throw new BuildError(`${name}: link failed:\n${r.stderr.trim()}`);
  const out = join(guestsDir, `${name}.bin`);
  try {
    renameSync(bin, out);
  } catch (e) {
    if (e.code !== 'EXDEV') throw e;
    copyFileSync(bin, `${out}.tmp`); // other filesystem: copy next to the target, then rename atomically
    renameSync(`${out}.tmp`, out);
  }
  console.log(`${`${name}.bin`.padEnd(18)} ${statSync(out).size} bytes`);
}

function main(args) {
  const all = readdirSync(guestsDir).filter((f) => f.endsWith('.S')).map((f) => basename(f, '.S')).sort();
  const names = args.map((a) => basename(a).replace(/\.(S|bin)$/, ''));
  for (const n of names) if (!all.includes(n)) throw new BuildError(`no such guest: guests/${n}.S`);
  const targets = names.length ? names : all;
  if (!targets.length) throw new BuildError('no guests/*.S found');
  run('as', ['--version']);
  run('ld', ['--version']);
  const tmp = mkdtempSync(join(tmpdir(), 'vmtrace-guests-'));
  try {
    for (const name of targets) build(name, tmp);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

try {
  main(process.argv.slice(2));
} catch (e) {
  if (!(e instanceof BuildError)) throw e;
  console.error(`build-guests: ${e.message}`);
  process.exitCode = 1;
}
