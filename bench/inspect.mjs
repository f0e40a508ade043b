#!/usr/bin/env node
// bench:inspect — exits/s and peak memory of `vmtrace inspect` statistics and `vmtrace diff`,
// on synthetic traces written with the real TraceWriter (no KVM needed): a pair of identical
// 1,000,000-exit traces (same content, other host timings) and a 250,000-exit pair, to show
// that peak memory does not grow with trace length. Each measurement runs in its own child
// process (cold, as a CLI run is), which reports its time and its peak RSS (VmHWM). The runs
// of all measurements are interleaved, so that a busy spell on a shared machine does not land
// on one of them only; the table shows the median of R runs and their range.
// Then the exports of the --exits trace, each against a baseline measured in the same run: the
// `--exits` listing (lines/s, to /dev/null) against the row-object listing it replaced
// (exitRows + formatExitRow), and `--perfetto` (time, file size) in JSON and protobuf, merged
// (the default limit), one slice per record (--perfetto-limit 0) and for a 100,000-record
// --from/--to range, against JSON with one slice per record (what --perfetto wrote before).
//
//   node bench/inspect.mjs [--exits N] [--small N] [--runs R] [--export-runs R] [--keep]
//
// Targets (on the --exits pair): >= 2 M exits/s; peak memory flat (the same at --small);
// --exits >= 1 M lines/s.
// Uses ../dist (build first: npx tsc -p .).
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const DIST = join(ROOT, 'dist', 'inspect', 'index.js');
const TARGET = 2e6;
const TARGET_LINES = 1e6;

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
  const [, what, a, b, ...rest] = args;
  const lib = await import(DIST);
  let bytes;
  // Warm-up is part of the measurement: a CLI run starts cold, too.
  const t0 = process.hrtime.bigint();
  const cpu0 = process.cpuUsage();
  let records;
  if (what === 'stats') {
    const s = await lib.summarize(a);
    records = s.stats.records;
  } else if (what === 'diff') {
    const d = await lib.diffTraces(a, b);
    if (!d.identical) throw new Error(`bench traces differ:\n${lib.formatDiff(d)}`);
    records = d.compared;
  } else if (what === 'exit-lines' || what === 'exit-rows') {
    // the listing to /dev/null (b), one write per chunk, as the CLI writes stdout
    const fd = openSync(b, 'w');
    records = 0;
    if (what === 'exit-lines') {
      for await (const chunk of lib.exitLines(a)) {
        writeSync(fd, chunk);
        for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) records++;
      }
    } else {
      let text = '';
      for await (const row of lib.exitRows(a)) {
        text += lib.formatExitRow(row) + '\n';
        records++;
        if (text.length >= 1 << 16) (writeSync(fd, text), (text = ''));
      }
      writeSync(fd, text);
    }
    closeSync(fd);
  } else if (what === 'perfetto') {
    // as `inspect --perfetto b --perfetto-format F --perfetto-limit L [--from X --to Y]` does
    const [format, limit, from, to] = rest.map((x) => (x === '-' ? undefined : x));
    const range = { from: from === undefined ? 0 : Number(from), to: to === undefined ? undefined : Number(to) };
    const n = Number(limit);
    const evident = n === 0 || (range.to !== undefined && range.to - range.from + 1 <= n);
    const group = evident ? 1 : lib.perfettoGroup(await lib.recordsInRange(a, range.from, range.to), n);
    const w = new lib.PerfettoWriter(b, { format, ...range, group });
    await lib.scanTrace(a, [w]);
    records = w.records;
    bytes = statSync(b).size;
    rmSync(b);
  } else if (what === 'baseline') {
    records = 0;
  } else throw new Error(`unknown measurement ${what}`);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  // CPU time of the measurement: on a busy machine, wall time counts the waits for a core too
  const cpu = process.cpuUsage(cpu0);
  process.stdout.write(JSON.stringify({ records, bytes, seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6, maxRssMiB: peakRssMiB() }) + '\n');
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
const EXPORT_RUNS = opt('--export-runs', 3);
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

  // ---- exports of the big trace ----
  const big = pairs.find((p) => p.n === BIG).a;
  const out = (name) => join(work, name);
  const lo = Math.max(0, Math.floor(BIG / 2) - 50_000);
  const range = [String(lo), String(lo + 99_999)];
  const exportCases = [
    { label: '--exits: row objects (before)', what: 'exit-rows', args: [big, '/dev/null'], baseline: true },
    { label: '--exits: exitLines', what: 'exit-lines', args: [big, '/dev/null'] },
    { label: 'perfetto JSON, slice per record (before)', what: 'perfetto', args: [big, out('full.json'), 'json', '0', '-', '-'], baseline: true },
    { label: 'perfetto JSON, merged (default limit)', what: 'perfetto', args: [big, out('merged.json'), 'json', '100000', '-', '-'] },
    { label: 'perfetto proto, merged (default limit)', what: 'perfetto', args: [big, out('merged.pftrace'), 'proto', '100000', '-', '-'] },
    { label: 'perfetto proto, slice per record', what: 'perfetto', args: [big, out('full.pftrace'), 'proto', '0', '-', '-'] },
    { label: 'perfetto JSON, --from/--to 100,000', what: 'perfetto', args: [big, out('range.json'), 'json', '100000', ...range] },
    { label: 'perfetto proto, --from/--to 100,000', what: 'perfetto', args: [big, out('range.pftrace'), 'proto', '100000', ...range] },
  ].map((c) => ({ ...c, runs: [] }));
  for (let i = 0; i < EXPORT_RUNS; i++) for (const c of exportCases) c.runs.push(measure(c.what, ...c.args));
  const med = (c, k) => median(c.runs.map((r) => r[k]));
  console.log('');
  console.log(`exports of the ${BIG.toLocaleString('en-US')}-exit trace — median of ${EXPORT_RUNS} runs, each in a fresh process`);
  console.log(`${'measurement'.padEnd(42)}${f('records', 11)}${f('seconds', 9)}${f('rate', 14)}${f('CPU s', 8)}${f('rate/CPU s', 14)}${f('size', 11)}  vs before (CPU time)`);
  const lineBase = exportCases.find((c) => c.what === 'exit-rows');
  const pfBase = exportCases.find((c) => c.what === 'perfetto' && c.baseline);
  for (const c of exportCases) {
    const seconds = med(c, 'seconds');
    const cpu = med(c, 'cpuSeconds');
    const records = c.runs[0].records;
    const isLines = c.what !== 'perfetto';
    const base = isLines ? lineBase : pfBase;
    const unit = ` M ${isLines ? 'l' : 'r'}/s`;
    let vs = c.baseline ? 'baseline' : `${(med(base, 'cpuSeconds') / cpu).toFixed(1)}× faster`;
    if (!isLines && !c.baseline) vs += `, ${(med(base, 'bytes') / med(c, 'bytes')).toFixed(1)}× smaller`;
    if (c.what === 'exit-lines') vs += ` (target ${records / seconds >= TARGET_LINES ? 'met' : records / cpu >= TARGET_LINES ? 'met in CPU time' : 'MISSED'})`;
    const size = isLines ? '' : `${(med(c, 'bytes') / 2 ** 20).toFixed(1)} MiB`;
    console.log(
      `${c.label.padEnd(42)}${f(records.toLocaleString('en-US'), 11)}${f(seconds.toFixed(2), 9)}${f(m(records / seconds) + unit, 14)}` +
        `${f(cpu.toFixed(2), 8)}${f(m(records / cpu) + unit, 14)}${f(size, 11)}  ${vs}`,
    );
  }
  console.log(`(l/s: lines listed per second, to /dev/null, target ${m(TARGET_LINES)} M; r/s: records exported per second)`);
} finally {
  if (KEEP) process.stderr.write(`kept the traces in ${work}\n`);
  else rmSync(work, { recursive: true, force: true });
}
