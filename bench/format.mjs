#!/usr/bin/env node
// bench:format — trace size and read speed, format 2.0 (the baseline: a msgpack map per record)
// against 3.0 (compressed chunks of columns), on the same records in the same run:
//   - guests/count.bin's 1,000,002-exit trace, recorded here under KVM (or --trace FILE): bytes
//     per exit (target ≤ 8), and a full scan of each file in exits/s (target ≥ 2 M/s), best of
//     alternating rounds; also 3.0 without timestamps (--no-timestamps, as goldens are recorded);
//   - the grp_alu --step trace, recorded anew from traces/grp_alu.step.vmtrace's header (the
//     golden itself without KVM): bytes per record (target ≤ 12).
// The 2.0 files are written from the 3.0 recordings by the 2.0 writer path (copyTrace, format 2).
//
//   node bench/format.mjs [--trace FILE] [--rounds N]
//
// Uses ../dist (build first: npx tsc -p .).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const CLI = join(ROOT, 'dist', 'cli.js');
const TARGET_EXIT_BYTES = 8;
const TARGET_STEP_BYTES = 12;
const TARGET_SCAN = 2e6;

const args = process.argv.slice(2);
const opt = (name) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const ROUNDS = Number(opt('--rounds') ?? 3);

function fail(msg) {
  process.stderr.write(`bench:format: ${msg}\n`);
  process.exit(1);
}

if (!existsSync(CLI)) fail('dist/ is missing: npm run build');
const { copyTrace } = await import(join(ROOT, 'dist', 'trace', 'copy.js'));
const { openTrace } = await import(join(ROOT, 'dist', 'trace', 'reader.js'));
const { recordLike } = await import(join(ROOT, 'dist', 'golden', 'index.js'));

/** Reads every record through a TraceScanner; returns [records, ms]. */
async function scan(file) {
  const t0 = performance.now();
  const t = await openTrace(file);
  const s = t.scan();
  do {
    while (s.next());
  } while (await s.read());
  await t.close();
  return [s.index + 1, performance.now() - t0];
}

const work = mkdtempSync(join(tmpdir(), 'vmtrace-bench-format-'));
try {
  // ---- count.bin: 1,000,002 exits ----
  let count3 = opt('--trace');
  if (!count3) {
    if (!existsSync('/dev/kvm')) fail('needs /dev/kvm to record guests/count.bin (or give --trace FILE)');
    count3 = join(work, 'count.vmtrace');
    const r = spawnSync(process.execPath, [CLI, 'record', join(ROOT, 'guests', 'count.bin'), '-o', count3, '-q'], { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
    if (r.status !== 0) fail(`recording count.bin failed: ${r.stderr.trim()}`);
  }
  const count2 = join(work, 'count.2.vmtrace');
  const countUntimed = join(work, 'count.untimed.vmtrace');
  await copyTrace(count3, count2, { writer: { format: 2 } });
  await copyTrace(count3, countUntimed, { writer: { timestamps: false } });
  const scans = { 2: [], 3: [] };
  let exits = 0;
  for (let i = 0; i < ROUNDS; i++) {
    for (const [v, f] of [[2, count2], [3, count3]]) {
      const [n, ms] = await scan(f);
      exits = n;
      scans[v].push(n / (ms / 1000));
    }
  }
  const perExit = (f) => statSync(f).size / exits;
  const best = (xs) => Math.max(...xs);

  // ---- grp_alu --step ----
  const golden = join(ROOT, 'traces', 'grp_alu.step.vmtrace');
  let step3 = join(work, 'grp_alu.step.vmtrace');
  let stepSource = 'recorded now, with timestamps';
  const gt = await openTrace(golden);
  const header = gt.header;
  await gt.close();
  if (existsSync('/dev/kvm')) {
    await recordLike(header, header.guest.image, header.guest.name, step3, { timestamps: true });
  } else {
    step3 = golden;
    stepSource = 'the golden (no KVM to record it)';
  }
  const step2 = join(work, 'grp_alu.step.2.vmtrace');
  await copyTrace(step3, step2, { writer: { format: 2 } });
  const [steps] = await scan(step3);
  const perStep = (f) => statSync(f).size / steps;

  const f2 = (x) => x.toFixed(2).padStart(8);
  const ratio = (a, b) => `${(a / b).toFixed(1)}x`;
  console.log(`count.bin: ${exits} exits; grp_alu.step: ${steps} records (${stepSource}); whole files, header included`);
  console.log(`                          2.0 (baseline)       3.0    ratio   target`);
  const e2 = perExit(count2);
  const e3 = perExit(count3);
  console.log(`count.bin  B/exit         ${f2(e2)}  ${f2(e3)}   ${ratio(e2, e3).padStart(6)}   <= ${TARGET_EXIT_BYTES}: ${e3 <= TARGET_EXIT_BYTES ? 'met' : 'NOT met'}`);
  console.log(`  without timestamps                  ${f2(perExit(countUntimed))}   ${ratio(e2, perExit(countUntimed)).padStart(6)}   (record --no-timestamps, goldens)`);
  const s2 = perStep(step2);
  const s3 = perStep(step3);
  console.log(`grp_alu    B/step record  ${f2(s2)}  ${f2(s3)}   ${ratio(s2, s3).padStart(6)}   <= ${TARGET_STEP_BYTES}: ${s3 <= TARGET_STEP_BYTES ? 'met' : 'NOT met'}`);
  const r2 = best(scans[2]);
  const r3 = best(scans[3]);
  const m = (x) => `${(x / 1e6).toFixed(2)} M/s`.padStart(10);
  console.log(`count.bin  scan exits/s ${m(r2)}${m(r3)}    ${(r3 / r2).toFixed(2)}x   >= ${TARGET_SCAN / 1e6} M/s: ${r3 >= TARGET_SCAN ? 'met' : 'NOT met'}  (best of ${ROUNDS} alternating rounds)`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
