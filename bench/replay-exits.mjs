#!/usr/bin/env node
// bench:replay-exits — checking exits at memory speed: guests/count.bin's 1,000,002-exit trace
// recorded under KVM in this run (the baseline), then replayed with `vmtrace replay -q` (a fresh
// process, start-up included) and in-process (replayTrace, start-up excluded). Prints exits/s
// of each, the ratio replay/record, and the replaying process's RSS after 10k/100k/1M exits
// (flat: nothing is kept per record). Targets: ≥ 1 M exits/s in-process, replay faster than
// the recording.
//
//   node bench/replay-exits.mjs [--runs R] [--trace FILE] [--keep]
//
// Uses ../dist (build first: npx tsc -p .). Without /dev/kvm (or with --trace) there is no
// recording to compare with: it replays the given trace, or the committed one with the most
// exits, and says so.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const CLI = join(ROOT, 'dist', 'cli.js');
const TARGET = 1_000_000;
const RSS_AT = [10_000, 100_000, 1_000_000];

const args = process.argv.slice(2);
const opt = (name) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};

function fail(msg) {
  process.stderr.write(`bench:replay-exits: ${msg}\n`);
  process.exit(1);
}

// ---- child mode: one in-process replay, timed, or with the RSS sampled at RSS_AT ----------------
if (args[0] === '--child') {
  const [, trace, mode] = args;
  const { replayTrace } = await import(join(ROOT, 'dist', 'replay', 'engine.js'));
  const rss = {};
  const onMatched = (index) => {
    if (RSS_AT.includes(index + 1)) rss[index + 1] = process.memoryUsage.rss();
  };
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const r = await replayTrace(trace, mode === 'rss' ? { onMatched } : {});
  const seconds = (performance.now() - t0) / 1000;
  const c = process.cpuUsage(c0);
  const cpuSeconds = (c.user + c.system) / 1e6;
  if (!r.ok) fail(`replay diverged: ${r.divergence.message}`);
  process.stdout.write(`${JSON.stringify({ seconds, cpuSeconds, exits: r.exits, records: r.matched, rss })}\n`);
  process.exit(0);
}

if (!existsSync(CLI)) fail('dist/ is not built: run npx tsc -p . first');
const RUNS = Number(opt('--runs') ?? process.env.BENCH_RUNS ?? 3);
const KEEP = args.includes('--keep');
const work = mkdtempSync(join(tmpdir(), 'vmtrace-bench-replay-exits-'));

/** Runs the CLI; returns its wall time in seconds (start-up included). */
function timeCli(cliArgs) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, [CLI, ...cliArgs], { cwd: work, encoding: 'utf8', env: { ...process.env, VMTRACE_PROGRESS: '0' } });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0) fail(`vmtrace ${cliArgs.join(' ')} exited with ${r.status}: ${r.stderr.trim()}`);
  return { seconds, stderr: r.stderr };
}

function child(trace, mode) {
  const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--child', trace, mode], { encoding: 'utf8' });
  if (r.status !== 0) fail(`in-process replay: ${r.stderr.trim()}`);
  return JSON.parse(r.stdout.trim());
}

/** The committed trace with the most exits (by size: they are all exit traces of similar records). */
function largestCommitted() {
  const dir = join(ROOT, 'traces');
  const files = readdirSync(dir).filter((f) => f.endsWith('.vmtrace') && !f.endsWith('.step.vmtrace'));
  files.sort((a, b) => statSync(join(dir, b)).size - statSync(join(dir, a)).size);
  if (!files.length) fail('no committed exit trace in traces/');
  return join(dir, files[0]);
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const rate = (n, s) => `${(n / s / 1e6).toFixed(2)} M/s`;
const f = (x, w) => String(x).padStart(w);

try {
  let trace = opt('--trace') && resolve(opt('--trace'));
  let recordRuns = [];
  if (trace === undefined && existsSync('/dev/kvm')) {
    trace = join(work, 'count.vmtrace');
    for (let i = 0; i < RUNS; i++) recordRuns.push(timeCli(['record', join(ROOT, 'guests', 'count.bin'), '-o', trace, '-q']).seconds);
  } else if (trace === undefined) {
    trace = largestCommitted();
    process.stderr.write(`no /dev/kvm: nothing recorded here; replaying the committed ${trace} instead (no ratio to a recording)\n`);
  }
  const cli = [];
  const inProcess = [];
  let counted;
  // alternate the two ways of replaying, so that load on the machine hits both alike
  for (let i = 0; i < RUNS; i++) {
    cli.push(timeCli(['replay', '-q', trace]).seconds);
    counted = child(trace, 'time');
    inProcess.push(counted.seconds);
  }
  const { rss } = child(trace, 'rss');
  const exits = counted.exits;
  const replayCli = median(cli);
  const replayIn = median(inProcess);
  console.log(`trace: ${trace.endsWith('count.vmtrace') ? 'guests/count.bin' : trace}, ${exits.toLocaleString('en-US')} exits, ${(statSync(trace).size / 2 ** 20).toFixed(1)} MiB`);
  console.log('');
  console.log(`${'run'.padEnd(34)}${f('seconds', 10)}${f('exits/s', 12)}${f('µs/exit', 10)}`);
  const row = (name, s) => console.log(`${name.padEnd(34)}${f(s.toFixed(2), 10)}${f(rate(exits, s), 12)}${f(((s / exits) * 1e6).toFixed(2), 10)}`);
  let record;
  if (recordRuns.length) {
    record = median(recordRuns);
    row('record under KVM (process)', record);
  }
  row('replay -q (process)', replayCli);
  row('replay, in-process (replayTrace)', replayIn);
  console.log(`medians of ${RUNS} runs; processes include Node's start-up`);
  if (record !== undefined) {
    console.log(`ratio replay/record (exits/s, whole processes): ${(record / replayCli).toFixed(2)}x (${replayCli < record ? 'replay is faster than recording' : 'replay is SLOWER than recording'})`);
  }
  const mib = (b) => (b === undefined ? '-' : `${(b / 2 ** 20).toFixed(0)} MiB`);
  const growth = rss[RSS_AT[2]] !== undefined ? ` (+${((rss[RSS_AT[2]] - rss[RSS_AT[1]]) / 2 ** 20).toFixed(0)} MiB from 100k to 1M)` : '';
  console.log(`replay RSS after ${RSS_AT.map((n) => n.toLocaleString('en-US')).join(' / ')} exits: ${RSS_AT.map((n) => mib(rss[n])).join(' / ')}${growth}`);
  const rateIn = exits / replayIn;
  console.log(`bar: ≥ ${TARGET / 1e6} M exits/s replaying in-process: ${rateIn >= TARGET ? 'met' : 'NOT met'} (${rate(exits, replayIn)})`);
} finally {
  if (KEEP) process.stderr.write(`kept the trace in ${work}\n`);
  else rmSync(work, { recursive: true, force: true });
}
