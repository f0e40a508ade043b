#!/usr/bin/env node
// bench:show — `vmtrace show TRACE N` on a 1,000,002-exit trace of guests/count.bin (recorded
// here under KVM): the first run, which builds the snapshot index by replaying the whole trace
// once, then the latency of later runs for several N, each a fresh `vmtrace show` process
// (Node's start-up included), next to a linear replay to the same record (the interpreter from
// the start, timed inside its process). Target: every `show N` under 1 s once indexed.
//
//   node bench/show.mjs [--runs R] [--trace FILE] [--keep]
//
// Uses ../dist (build first: npx tsc -p .). --trace: an existing trace instead of recording one.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const CLI = join(ROOT, 'dist', 'cli.js');
const TARGET_SECONDS = 1;

const args = process.argv.slice(2);
const opt = (name) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};

function fail(msg) {
  process.stderr.write(`bench:show: ${msg}\n`);
  process.exit(1);
}

// ---- child mode: a linear replay to record N, timed in-process ----------------------------------
if (args[0] === '--child') {
  const [, trace, n] = args;
  const { ReplaySession } = await import(join(ROOT, 'dist', 'replay', 'session.js'));
  const t0 = performance.now();
  // no in-memory snapshots either: straight from the first instruction to record N
  const s = await ReplaySession.open(trace, { snapshotInterval: Number.MAX_SAFE_INTEGER });
  const stop = await s.seekRecord(Number(n));
  const seconds = (performance.now() - t0) / 1000;
  if (stop !== undefined) fail(`linear replay to ${n} stopped: ${stop.kind}`);
  process.stdout.write(`${JSON.stringify({ seconds, ...s.position })}\n`);
  await s.close();
  process.exit(0);
}

if (!existsSync(CLI)) fail('dist/ is not built: run npx tsc -p . first');
const RUNS = Number(opt('--runs') ?? process.env.BENCH_RUNS ?? 3);
const KEEP = args.includes('--keep');
const work = mkdtempSync(join(tmpdir(), 'vmtrace-bench-show-'));

/** Runs the CLI; returns its wall time in seconds (start-up included). */
function timeCli(cliArgs) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, [CLI, ...cliArgs], { cwd: work, encoding: 'utf8', env: { ...process.env, VMTRACE_PROGRESS: '0' } });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0) fail(`vmtrace ${cliArgs.join(' ')} exited with ${r.status}: ${r.stderr.trim()}`);
  return { seconds, stdout: r.stdout, stderr: r.stderr };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

try {
  let trace = opt('--trace');
  if (trace === undefined) {
    if (!existsSync('/dev/kvm')) fail('needs /dev/kvm to record guests/count.bin (or give --trace FILE)');
    trace = join(work, 'count.vmtrace');
    const rec = timeCli(['record', join(ROOT, 'guests', 'count.bin'), '-o', trace, '-q']);
    process.stderr.write(`recorded guests/count.bin in ${rec.seconds.toFixed(1)} s: ${(statSync(trace).size / 2 ** 20).toFixed(0)} MiB\n`);
  }
  const index = join(work, 'count.vmtidx');
  const first = timeCli(['show', trace, '0', '--index', index]);
  if (!/building/.test(first.stderr)) fail(`the first run did not build the index: ${first.stderr.trim()}`);
  const records = Number(/^record 0 of (\d+)/.exec(first.stdout)?.[1]);
  const ns = [1_000, Math.floor(records / 4), Math.floor(records / 2), records - 2];
  const rows = [];
  for (const n of ns) {
    const show = [];
    for (let i = 0; i < RUNS; i++) {
      const r = timeCli(['show', trace, String(n), '--index', index]);
      if (r.stderr !== '') fail(`show ${n} rebuilt or complained: ${r.stderr.trim()}`);
      show.push(r.seconds);
    }
    const lin = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--child', trace, String(n)], { encoding: 'utf8' });
    if (lin.status !== 0) fail(`linear replay to ${n}: ${lin.stderr.trim()}`);
    const linear = JSON.parse(lin.stdout.trim());
    rows.push({ n, show: median(show), worst: Math.max(...show), linear: linear.seconds });
    process.stderr.write(`show ${n}: ${show.map((s) => s.toFixed(2)).join(', ')} s; linear replay to it ${linear.seconds.toFixed(2)} s\n`);
  }
  const f = (x, w) => String(x).padStart(w);
  console.log(`trace: guests/count.bin, ${records.toLocaleString('en-US')} records, ${(statSync(trace).size / 2 ** 20).toFixed(0)} MiB; index ${(statSync(index).size / 2 ** 20).toFixed(1)} MiB`);
  console.log(`first run (builds the index: replays the whole trace once): ${first.seconds.toFixed(1)} s`);
  console.log('');
  console.log(`${'record N'.padEnd(12)}${f('show N', 10)}${f('(worst)', 10)}${f('linear to N', 14)}${f('ratio', 10)}`);
  for (const r of rows) {
    console.log(`${r.n.toLocaleString('en-US').padEnd(12)}${f(`${r.show.toFixed(2)} s`, 10)}${f(`${r.worst.toFixed(2)} s`, 10)}${f(`${r.linear.toFixed(2)} s`, 14)}${f(`${(r.linear / r.show).toFixed(1)}x`, 10)}`);
  }
  console.log(`show N: median of ${RUNS} fresh processes (start-up included); linear: one in-process replay from the start (start-up excluded)`);
  const worst = Math.max(...rows.map((r) => r.worst));
  console.log(`bar: show N < ${TARGET_SECONDS} s after the first indexing pass: ${worst < TARGET_SECONDS ? 'met' : 'NOT met'} (slowest ${worst.toFixed(2)} s)`);
} finally {
  if (KEEP) process.stderr.write(`kept the trace and index in ${work}\n`);
  else rmSync(work, { recursive: true, force: true });
}
