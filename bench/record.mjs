#!/usr/bin/env node
// bench:record — µs per exit of `vmtrace record` against the classic tiny_qemu.c seed, on the
// same exit-heavy guest (guests/count.bin: 1,000,000 OUTs then HLT), alternating runs in one
// script so machine noise hits both sides alike. Prints both medians and their ratio.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const SEED_DIR = process.env.VMTRACE_SEED_DIR ?? resolve(ROOT, '..', 'shared', 'seed');
const GUEST = join(ROOT, 'guests', 'count.bin');
const EXITS = 1_000_002; // 1,000,000 OUTs in the loop, one OUT after it, the HLT
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const TARGET = 1.25;

function fail(msg) {
  process.stderr.write(`bench:record: ${msg}\n`);
  process.exit(1);
}

if (!existsSync('/dev/kvm')) fail('needs /dev/kvm');
if (!existsSync(join(ROOT, 'build', 'Release', 'vmtrace_kvm.node'))) fail('the KVM addon is not built: npm run build:addon');
if (!existsSync(SEED_DIR)) fail(`seed directory ${SEED_DIR} not found (set VMTRACE_SEED_DIR)`);

/** The seed is a write-up with tiny_qemu.c embedded in it: take the C source out of it. */
function extractSeedSource() {
  for (const name of readdirSync(SEED_DIR)) {
    const text = readFileSync(join(SEED_DIR, name), 'utf8');
    if (name.endsWith('.c') && text.includes('KVM_RUN')) return text;
    const start = text.indexOf('#include <stdio.h>');
    if (start < 0 || !text.includes('KVM_RUN')) continue;
    const main = text.indexOf('int main', start);
    // The program ends at the first line that is just "}" after main's `return 0;`.
    const end = text.indexOf('\n}\n', text.lastIndexOf('return 0;', text.indexOf('\n}\n', main) + 3));
    return text.slice(start, end + 3);
  }
  fail(`no tiny_qemu.c source found in ${SEED_DIR}`);
}

const work = mkdtempSync(join(tmpdir(), 'vmtrace-bench-'));
try {
  writeFileSync(join(work, 'tiny_qemu.c'), extractSeedSource());
  const cc = spawnSync('cc', ['-O2', '-o', join(work, 'tiny_qemu'), join(work, 'tiny_qemu.c')], { encoding: 'utf8' });
  if (cc.status !== 0) fail(`compiling the seed failed:\n${cc.stderr}`);
  copyFileSync(GUEST, join(work, 'tiny_kernel.bin')); // the seed loads ./tiny_kernel.bin

  const timeRun = (cmd, args) => {
    const t0 = process.hrtime.bigint();
    const r = spawnSync(cmd, args, { cwd: work, stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
    const us = Number(process.hrtime.bigint() - t0) / 1e3;
    if (r.status !== 0) fail(`${cmd} exited with ${r.status}: ${r.stderr.trim()}`);
    return us / EXITS;
  };
  const seed = [];
  const ours = [];
  const cli = join(ROOT, 'dist', 'cli.js');
  for (let i = 0; i < ROUNDS; i++) {
    seed.push(timeRun(join(work, 'tiny_qemu'), []));
    ours.push(timeRun(process.execPath, [cli, 'record', join(work, 'tiny_kernel.bin'), '-o', join(work, 'count.vmtrace')]));
    process.stderr.write(`round ${i + 1}/${ROUNDS}: seed ${seed[i].toFixed(2)} µs/exit, vmtrace ${ours[i].toFixed(2)} µs/exit\n`);
    rmSync(join(work, 'count.vmtrace'), { force: true });
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const best = (xs) => Math.min(...xs);
  const paired = median(ours.map((o, i) => o / seed[i]));
  const ratio = best(ours) / best(seed);
  console.log(`guest: guests/count.bin, ${EXITS} exits per run, ${ROUNDS} alternating rounds (whole process, start-up included)`);
  console.log(`                                          best        median`);
  console.log(`seed tiny_qemu.c (no registers read)     ${best(seed).toFixed(2)} µs    ${median(seed).toFixed(2)} µs per exit`);
  console.log(`vmtrace record (full registers + trace)  ${best(ours).toFixed(2)} µs    ${median(ours).toFixed(2)} µs per exit`);
  console.log(`median of per-round ratios: ${paired.toFixed(3)}x`);
  // Other load on the machine only ever adds time, so the best run of each side is the one
  // closest to its own cost; the target is judged on the ratio of the two.
  console.log(`ratio of best runs ${ratio.toFixed(3)}x (target <= ${TARGET}x): ${ratio <= TARGET ? 'met' : 'NOT met'}`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
