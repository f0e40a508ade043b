#!/usr/bin/env node
// bench:replay — instructions per second of the TypeScript interpreter replaying compute-bound
// guests, side by side with the same guests under KVM (recorded in this run, where KVM is
// available). Each replay is timed in-process, median of several runs.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { replayTrace } = await import(join(ROOT, 'dist', 'replay', 'engine.js'));
const { recordLike } = await import(join(ROOT, 'dist', 'golden', 'index.js'));
const { openTrace } = await import(join(ROOT, 'dist', 'trace', 'reader.js'));

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
/** Compute-bound guests, by their golden traces (which carry the image and recording options). */
const GUESTS = [
  { name: 'compute (real mode)', golden: 'traces/compute.vmtrace' },
  { name: 'bench-32 (C, protected)', golden: 'traces/bench-32.vmtrace' },
  { name: 'bench-64 (C, long mode)', golden: 'traces/bench-64.vmtrace' },
  // Short C guests: JIT warm-up and per-run set-up weigh on their numbers.
  { name: 'crc32-64 (C, long mode)', golden: 'traces/crc32-64.vmtrace', short: true },
  { name: 'sort-64 (C, long mode)', golden: 'traces/sort-64.vmtrace', short: true },
];

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (v) => (v === undefined ? '—' : `${(v / 1e6).toFixed(2)} M/s`);
const sink = { put() {}, flush() {} };
const work = mkdtempSync(join(tmpdir(), 'vmtrace-bench-replay-'));
const rows = [];
let kvmNote;
try {
  for (const g of GUESTS) {
    let trace = join(ROOT, g.golden);
    let kvmSeconds;
    try {
      const opened = await openTrace(trace);
      const { header } = opened;
      await opened.close();
      const fresh = join(work, 'fresh.vmtrace');
      const r = await recordLike(header, header.guest.image, header.guest.name, fresh, { console: sink });
      kvmSeconds = r.wallMs / 1000;
      trace = fresh;
    } catch (e) {
      kvmNote = `KVM column empty: ${e.message}`;
    }
    await replayTrace(trace); // warm-up: the JIT compiles the interpreter's hot paths
    const times = [];
    let instructions = 0;
    for (let i = 0; i < RUNS; i++) {
      const t0 = performance.now();
      const res = await replayTrace(trace);
      times.push((performance.now() - t0) / 1000);
      if (!res.ok) throw new Error(`${g.name}: replay diverged: ${res.divergence.message}`);
      instructions = res.instructions;
    }
    const interp = instructions / median(times);
    rows.push({ name: g.name, instructions, kvm: kvmSeconds && instructions / kvmSeconds, interp, short: g.short });
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
console.log(`${'guest'.padEnd(24)} ${'instructions'.padStart(12)}  ${'KVM'.padStart(11)}  ${'interpreter'.padStart(11)}  ratio`);
for (const r of rows) {
  const ratio = r.kvm ? `${(r.interp / r.kvm).toFixed(1)}x KVM` : '—';
  console.log(`${r.name.padEnd(24)} ${String(r.instructions).padStart(12)}  ${fmt(r.kvm).padStart(11)}  ${fmt(r.interp).padStart(11)}  ${ratio}`);
}
console.log(`interpreter: median of ${RUNS} in-process replays after one warm-up (trace reading and checking included); KVM: one recording of the same guest (VM setup included, which weighs on the short C guests)`);
if (kvmNote) console.log(kvmNote);
const worst = Math.min(...rows.filter((r) => !r.short).map((r) => r.interp));
console.log(`bar: >= 20 M instructions/s on the compute-bound guests: ${worst >= 20e6 ? 'met' : 'NOT met'} (slowest ${fmt(worst)})`);
