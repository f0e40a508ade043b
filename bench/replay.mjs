#!/usr/bin/env node
// bench:replay — instructions per second of the TypeScript interpreter replaying compute-bound
// guests, side by side with the same guests under KVM (recorded in this run, where KVM is
// available). Each replay is timed in-process, median of several runs.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { replayTrace } = await import(join(ROOT, 'dist', 'replay', 'engine.js'));
const { record } = await import(join(ROOT, 'dist', 'record', 'recorder.js'));
const { readTrace } = await import(join(ROOT, 'dist', 'trace', 'reader.js'));

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
/** Compute-bound guests: a guest image and the golden trace to fall back on without KVM. */
const GUESTS = [{ name: 'compute (real mode)', image: 'guests/compute.bin', golden: 'traces/compute.vmtrace' }];

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
      const header = (await readTrace(trace)).header;
      const fresh = join(work, 'fresh.vmtrace');
      const r = await record({
        image: readFileSync(join(ROOT, g.image)), imageName: g.image.split('/').pop(), output: fresh,
        memBytes: header.memory[0].size, loadAddress: header.guest.loadAddress, entry: header.options.entry,
        input: new Uint8Array(0), consolePort: 0xf1, maxExits: Infinity, timeoutMs: Infinity, singleStep: false,
        quiet: true, console: sink,
      });
      kvmSeconds = r.wallMs / 1000;
      trace = fresh;
    } catch (e) {
      kvmNote = `KVM column empty: ${e.message}`;
    }
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
    rows.push({ name: g.name, instructions, kvm: kvmSeconds && instructions / kvmSeconds, interp });
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
console.log(`${'guest'.padEnd(22)} ${'instructions'.padStart(12)}  ${'KVM'.padStart(11)}  ${'interpreter'.padStart(11)}  ratio`);
for (const r of rows) {
  const ratio = r.kvm ? `${(r.interp / r.kvm).toFixed(1)}x KVM` : '—';
  console.log(`${r.name.padEnd(22)} ${String(r.instructions).padStart(12)}  ${fmt(r.kvm).padStart(11)}  ${fmt(r.interp).padStart(11)}  ${ratio}`);
}
console.log(`interpreter: median of ${RUNS} in-process replays (trace reading and checking included); KVM: one recording of the same guest (VM setup included)`);
if (kvmNote) console.log(kvmNote);
const worst = Math.min(...rows.map((r) => r.interp));
console.log(`bar: >= 20 M instructions/s: ${worst >= 20e6 ? 'met' : 'NOT met'} (slowest guest ${fmt(worst)})`);
