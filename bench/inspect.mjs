#!/usr/bin/env node
// bench:inspect — exits/s and peak memory of `vmtrace inspect` statistics and `vmtrace diff`,
// on synthetic traces written with the real TraceWriter (no KVM needed): a pair of identical
// 1,000,000-exit traces (same content, other host timings) and a 250,000-exit pair, to show
// that peak memory does not grow with trace length. Each measurement runs in its own child
// process (cold, as a CLI run is), which reports its time and its peak RSS (VmHWM). The runs
// of all measurements are interleaved, so that a busy spell on a shared machine does not land
// on one of them only; the table shows the median of R runs and their range.
//
//   node bench/inspect.mjs [--exits N] [--small N] [--runs R] [--keep]
//
// Targets (on the --exits pair): >= 2 M exits/s; peak memory flat (the same at --small).
// Uses ../dist (build first: npx tsc -p .).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const DIST = join(ROOT, 'dist', 'inspect', 'index.js');
const TARGET = 2e6;

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};

/**
 * Peak RSS of this process. Linux: VmHWM from /proc/self/status (the high-water mark of this
 * process's own address space). getrusage's maxRSS is not used there: Linux carries it over
 * from the forked parent across exec, so a child would inherit the parent's peak.
 */
function peakRssMiB() {
  try {
    const m = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8'));
    if (m) return Number(m[1]) / 1024;
  } catch {
    /* not Linux */
  }
  return process.resourceUsage().maxRSS / 1024;
}

// ---- child mode: one measurement ---------------------------------------------------------------
if (args[0] === '--child') {
  const [, what, a, b] = args;
  const lib = await import(DIST);
  // Warm-up is part of the measurement: a CLI run starts cold, too.
  const t0 = process.hrtime.bigint();
  let records;
  if (what === 'stats') {
    const s = await lib.summarize(a);
    records = s.stats.records;
  } else if (what === 'diff') {
    const d = await lib.diffTraces(a, b);
    if (!d.identical) throw new Error(`bench traces differ:\n${lib.formatDiff(d)}`);
    records = d.compared;
  } else if (what === 'baseline') {
    records = 0;
  } else throw new Error(`unknown measurement ${what}`);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage();
  process.stdout.write(JSON.stringify({ records, seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6, maxRssMiB: peakRssMiB() }) + '\n');
  process.exit(0);
}

// ---- parent: generate, measure, print ----------------------------------------------------------
if (!existsSync(DIST)) {
  process.stderr.write('bench:inspect: dist/ is not built: run npx tsc -p . first\n');
  process.exit(1);
}
const BIG = opt('--exits', 1_000_000);
const SMALL = opt('--small', 250_000);
const RUNS = opt('--runs', 5);
const KEEP = args.includes('--keep');

const { writeSyntheticTrace } = await import(DIST);
const work = mkdtempSync(join(tmpdir(), 'vmtrace-bench-inspect-'));

function measure(what, ...files) {
  const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--child', what, ...files], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${what} failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').at(-1));
}

const median = (xs) => {
  const s = [...xs].sort((x, y) => x - y);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

try {
  const pairs = [];
  for (const n of [SMALL, BIG]) {
    const a = join(work, `a-${n}.vmtrace`);
    const b = join(work, `b-${n}.vmtrace`);
    const t0 = performance.now();
    // `exits` counts the records before the final HLT: n - 1 of them, n records in all.
    await writeSyntheticTrace(a, { exits: n - 1, stepNs: 500 });
    await writeSyntheticTrace(b, { exits: n - 1, stepNs: 650 }); // same guest behaviour, other host timings
    process.stderr.write(
      `generated 2 × ${n.toLocaleString('en-US')} exits (${(statSync(a).size / 2 ** 20).toFixed(0)} MiB each) in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`,
    );
    pairs.push({ n, a, b });
  }
  const base = measure('baseline');
  const cases = pairs.flatMap(({ n, a, b }) => ['stats', 'diff'].map((what) => ({ what, n, a, b, runs: [] })));
  for (let i = 0; i < RUNS; i++) for (const c of cases) c.runs.push(measure(c.what, c.a, c.b));
  const rows = cases.map(({ what, n, runs }) => {
    const rates = runs.map((r) => r.records / r.seconds);
    process.stderr.write(`${what} ${n}: ${rates.map((x) => (x / 1e6).toFixed(2)).join(', ')} M exits/s\n`);
    return {
      what,
      n,
      rate: median(rates),
      min: Math.min(...rates),
      max: Math.max(...rates),
      seconds: median(runs.map((r) => r.seconds)),
      rss: Math.max(...runs.map((r) => r.maxRssMiB)), // peak memory: the highest seen
    };
  });

  const f = (x, w) => String(x).padStart(w);
  const m = (x) => (x / 1e6).toFixed(2);
  console.log(`vmtrace inspect/diff benchmark — synthetic traces, median of ${RUNS} runs (range), each in a fresh process`);
  console.log(`(Node ${process.version}; a bare process with the library loaded peaks at ${base.maxRssMiB.toFixed(0)} MiB RSS)`);
  console.log('');
  console.log(`${'measurement'.padEnd(22)}${f('exits', 11)}${f('seconds', 10)}${f('exits/s', 11)}${f('(range)', 16)}${f('target', 9)}${f('peak RSS', 11)}`);
  for (const r of rows) {
    const label = r.what === 'stats' ? 'inspect (statistics)' : 'diff (identical pair)';
    // The target is set for the --exits pair; the --small one is there to compare memory.
    const target = r.n !== BIG ? '' : r.rate >= TARGET ? 'met' : 'MISSED';
    console.log(
      `${label.padEnd(22)}${f(r.n.toLocaleString('en-US'), 11)}${f(r.seconds.toFixed(2), 10)}${f(m(r.rate) + ' M', 11)}` +
        `${f(`(${m(r.min)}–${m(r.max)})`, 16)}${f(target, 9)}${f(r.rss.toFixed(0) + ' MiB', 11)}`,
    );
  }
  console.log('');
  for (const what of ['stats', 'diff']) {
    const [small, big] = rows.filter((r) => r.what === what);
    const growth = big.rss - small.rss;
    console.log(
      `${what === 'stats' ? 'inspect' : 'diff   '}: peak RSS ${small.rss.toFixed(0)} MiB at ${small.n.toLocaleString('en-US')} exits, ` +
        `${big.rss.toFixed(0)} MiB at ${big.n.toLocaleString('en-US')} (${growth >= 0 ? '+' : ''}${growth.toFixed(0)} MiB for ${(big.n / small.n).toFixed(0)}× the exits)`,
    );
  }
} finally {
  if (KEEP) process.stderr.write(`kept the traces in ${work}\n`);
  else rmSync(work, { recursive: true, force: true });
}
