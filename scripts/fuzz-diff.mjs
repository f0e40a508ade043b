#!/usr/bin/env node
// npm run fuzz:diff — the random differential generator (docs/replay.md, "Random differential
// testing"): random real-mode guests recorded under KVM (plain and --step) and replayed in the
// interpreter; prints how many replays matched and names every divergence.
//
//   node scripts/fuzz-diff.mjs [--seeds N] [--insns N] [--seed-base N] [--keep DIR] [--json]
//                              [--step-only | --plain-only]
//
// Exit codes: 0 acceptance met (plain: >= 99% of seeds matched, every other one a divergence that
// names the undefined-flag instruction; --step: 100% matched), 1 not met, 2 bad usage,
// 3 KVM unavailable (no /dev/kvm, addon not built).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { MODES, formatSummary, runSeed, summarize } from './fuzz/harness.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const USAGE = `usage: node scripts/fuzz-diff.mjs [--seeds N] [--insns N] [--seed-base N] [--keep DIR] [--json] [--step-only | --plain-only]
  --seeds N      seeds to run (default 100)
  --insns N      generated instructions per guest (default 2000)
  --seed-base N  first seed (default 1); seeds are seed-base .. seed-base+N-1
  --keep DIR     keep guest, listing, traces and reports of every seed that did not match
  --json         print one JSON summary on stdout instead of the table
  --step-only    record and replay with --step only
  --plain-only   record and replay plainly only
exit: 0 acceptance met, 1 not met, 2 bad usage, 3 KVM unavailable`;

function usage(msg) {
  process.stderr.write(`fuzz-diff: ${msg}\n${USAGE}\n`);
  process.exit(2);
}

const opts = { seeds: 100, insns: 2000, seedBase: 1, keep: undefined, json: false, modes: MODES };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  const num = (name) => {
    const v = argv[++i];
    if (v === undefined || !/^\d+$/.test(v)) usage(`${name} needs a non-negative integer`);
    return Number(v);
  };
  switch (a) {
    case '--seeds': opts.seeds = num(a); break;
    case '--insns': opts.insns = num(a); break;
    case '--seed-base': opts.seedBase = num(a); break;
    case '--keep':
      opts.keep = argv[++i];
      if (!opts.keep) usage('--keep needs a directory');
      opts.keep = resolve(opts.keep);
      break;
    case '--json': opts.json = true; break;
    case '--step-only': opts.modes = ['step']; break;
    case '--plain-only': opts.modes = ['plain']; break;
    case '-h':
    case '--help':
      process.stdout.write(USAGE + '\n');
      process.exit(0);
      break;
    default: usage(`unknown option ${a}`);
  }
}
if (opts.seeds < 1) usage('--seeds must be at least 1');
if (opts.insns < 1) usage('--insns must be at least 1');
if (argv.includes('--step-only') && argv.includes('--plain-only')) usage('--step-only and --plain-only exclude each other');

const lib = {
  ...(await import(join(ROOT, 'dist', 'record', 'recorder.js'))),
  ...(await import(join(ROOT, 'dist', 'replay', 'engine.js'))),
  ...(await import(join(ROOT, 'dist', 'replay', 'report.js'))),
  ...(await import(join(ROOT, 'dist', 'trace', 'reader.js'))),
};
const { openKvm } = await import(join(ROOT, 'dist', 'record', 'kvm.js'));
try {
  openKvm();
} catch (e) {
  process.stderr.write(`fuzz-diff: cannot record: ${e.message}\n`);
  process.exit(3);
}

const work = mkdtempSync(join(tmpdir(), 'vmtrace-fuzz-'));
const results = [];
const t0 = performance.now();
try {
  for (let k = 0; k < opts.seeds; k++) {
    const seed = opts.seedBase + k;
    const r = await runSeed(lib, { seed, insns: opts.insns, modes: opts.modes, workDir: work, keepDir: opts.keep });
    results.push(r);
    if (!opts.json && process.stderr.isTTY) {
      const st = opts.modes.map((m) => `${m} ${r.modes[m].status}`).join(', ');
      process.stderr.write(`\rseed ${seed} (${k + 1}/${opts.seeds}): ${st}\x1b[K`);
    }
  }
} finally {
  if (!opts.json && process.stderr.isTTY) process.stderr.write('\r\x1b[K');
  rmSync(work, { recursive: true, force: true });
}
const summary = summarize(results, { modes: opts.modes, insns: opts.insns, seedBase: opts.seedBase, ms: performance.now() - t0 });
if (opts.json) process.stdout.write(JSON.stringify(summary, null, 2) + '\n');
else {
  process.stdout.write(formatSummary(summary) + '\n');
  if (opts.keep && summary.failures.length) process.stdout.write(`kept ${new Set(summary.failures.map((f) => f.seed)).size} failing seed(s) under ${opts.keep}\n`);
}
process.exit(summary.acceptance.ok ? 0 : 1);
