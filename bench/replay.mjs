#!/usr/bin/env node
// bench:replay — instructions per second of the TypeScript interpreter on compute-bound guests,
// beside KVM and QEMU TCG.
//
// Columns (M instructions/s):
//   KVM      one recording of the guest in this run (VM set-up included: it weighs on the short
//            guests), where /dev/kvm is usable;
//   replay   whole `replayTrace()` of that recording (trace reading and checking included),
//            median of BENCH_RUNS after one warm-up;
//   interp   marginal rate of the plain interpreter (CpuOptions.jit 'off'): a Cpu set up from
//            the trace header runs the guest to its HLT; only Cpu.run() is timed (median of
//            3 x BENCH_RUNS, after a second of such runs for V8 to optimise the interpreter, and
//            a full GC before each, so that no sample collects the Cpus set up before it);
//   jit      the same with compiled blocks (the default; block functions are shared between
//            Cpus running the same code, so each fresh Cpu compiles its blocks again but runs
//            code V8 has optimised);
//            interp and jit only for the guests without input (the short ones read some);
//   QEMU     marginal rate of qemu-system-x86_64 -accel tcg, when installed. Method: the
//            real-mode compute guest is put in a boot sector (preceded by CLI) with its
//            iteration count patched to N1 = 1,000 and N2 = 100,000,000; QEMU boots each one
//            (SeaBIOS) and prints the guest's checksum on an isa-debugcon at its port 0xF1; the
//            time from spawning QEMU to the checksum's newline is taken for both, and
//            (instructions(N2) - instructions(N1)) / (t(N2) - t(N1)) removes QEMU's start-up
//            and the BIOS. instructions(N) is counted by the interpreter on the same patched
//            image (linear in N), and the checksum QEMU prints for N1 must equal the
//            interpreter's. The C guests have no iteration count to scale, and their ~2.5 M
//            instructions take QEMU about a millisecond, far below its start-up jitter: their
//            QEMU column says so.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { replayTrace, cpuFromHeader } = await import(join(ROOT, 'dist', 'replay', 'engine.js'));
const { recordLike } = await import(join(ROOT, 'dist', 'golden', 'index.js'));
const { openTrace } = await import(join(ROOT, 'dist', 'trace', 'reader.js'));
const { Cpu } = await import(join(ROOT, 'dist', 'replay', 'x86', 'index.js'));

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const WARMUP_MS = 1000;
/** Compute-bound guests, by their golden traces (which carry the image and recording options). */
const GUESTS = [
  { name: 'compute (real mode)', golden: 'traces/compute.vmtrace', qemu: 'compute' },
  { name: 'bench-32 (C, protected)', golden: 'traces/bench-32.vmtrace' },
  { name: 'bench-64 (C, long mode)', golden: 'traces/bench-64.vmtrace' },
  // Short C guests: JIT warm-up and per-run set-up weigh on their numbers.
  { name: 'crc32-64 (C, long mode)', golden: 'traces/crc32-64.vmtrace', short: true },
  { name: 'sort-64 (C, long mode)', golden: 'traces/sort-64.vmtrace', short: true },
];
/** BENCH_GUESTS=compute,bench-32: only the guests whose name starts with one of these. */
const ONLY = process.env.BENCH_GUESTS?.split(',');
const TARGETS = { 'compute (real mode)': 250e6, 'bench-32 (C, protected)': 250e6, 'bench-64 (C, long mode)': 150e6 };

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (v) => (v === undefined ? '—' : `${(v / 1e6).toFixed(1)}`);
const sink = { put() {}, flush() {} };
const work = mkdtempSync(join(tmpdir(), 'vmtrace-bench-replay-'));

/** An ExitSink for guests without input: OUT bytes to port 0xf1 collected. */
function quietSink() {
  const out = [];
  return { out, ioIn: () => 0, ioOut: (port, _size, v) => { if (port === 0xf1) out.push(v & 0xff); }, mmioRead: () => 0n, mmioWrite() {} };
}

/** A Cpu at the guest's first instruction, with the given JIT mode. */
function cpuFor(header, jit, s = quietSink()) {
  const base = cpuFromHeader(header, s);
  const cpu = new Cpu({ ram: base.ram, sink: s, cpuid: header.boot.cpuid, vendor: /amd/i.test(header.host.cpuVendor) ? 'amd' : 'intel', flagModel: header.hostModel?.flags, stepJoins: header.hostModel?.step.joins, jit });
  cpu.setState(header.boot.regs, header.boot.sregs);
  return cpu;
}

/** Run to HLT; returns [instructions, seconds of Cpu.run()]. */
function runToHlt(cpu) {
  const t0 = performance.now();
  for (;;) {
    const r = cpu.run(1e7);
    if (r.kind === 'hlt') break;
    if (r.kind !== 'limit' && r.kind !== 'exit') throw new Error(`guest stopped: ${r.kind} ${r.message ?? ''}`);
  }
  return [cpu.instructions, (performance.now() - t0) / 1000];
}

/**
 * A full garbage collection: a sample then does not pay for collecting the Cpus set up before
 * it (16 MiB of RAM each, which V8 counts as external memory pressure).
 */
const collect = (() => {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc');
})();

/**
 * Median rate of whole runs on fresh Cpus, after WARMUP_MS of such runs: V8 optimises the
 * interpreter and the block functions over the first dozens of runs (one takes ~10 ms).
 */
function marginal(header, jit) {
  for (const t0 = performance.now(); performance.now() - t0 < WARMUP_MS;) runToHlt(cpuFor(header, jit));
  const rates = [];
  for (let k = 0; k < 3 * RUNS; k++) {
    const cpu = cpuFor(header, jit);
    collect();
    const [n, s] = runToHlt(cpu);
    rates.push(n / s);
  }
  return median(rates);
}

// ------------------------------------------------------------------ QEMU TCG (compute guest)
const QEMU = 'qemu-system-x86_64';
const qemuThere = spawnSync(QEMU, ['--version'], { stdio: 'ignore' }).status === 0;
const ITER_IMM = Buffer.from([0x66, 0xb9, 0x40, 0x0d, 0x03, 0x00]); // mov $200000, %ecx in compute.S

/** compute.bin with its iteration count set to n. */
function patchedCompute(n) {
  const img = Buffer.from(readFileSync(join(ROOT, 'guests', 'compute.bin')));
  const at = img.indexOf(ITER_IMM);
  if (at < 0) throw new Error('guests/compute.bin: iteration count not found (mov $200000, %ecx)');
  img.writeUInt32LE(n, at + 2);
  return img;
}

/** Instructions and checksum output of the patched compute guest under the interpreter. */
function interpCompute(header, n) {
  const s = quietSink();
  const cpu = cpuFor(header, 'on', s);
  const orig = readFileSync(join(ROOT, 'guests', 'compute.bin'));
  const region = cpu.ram.find((r) => Buffer.from(r.bytes.buffer, r.bytes.byteOffset, r.bytes.length).indexOf(orig) >= 0);
  const bytes = region.bytes;
  bytes.set(patchedCompute(n), Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).indexOf(orig));
  const [count] = runToHlt(cpu);
  return { count, text: Buffer.from(s.out).toString().trim() };
}

/** Seconds from spawning QEMU to the guest's newline on the debugcon, and what it printed. */
function qemuTime(n) {
  const img = join(work, `boot-${n}.img`);
  const b = Buffer.alloc(512);
  b[0] = 0xfa; // cli: the final HLT must not be woken by the BIOS timer
  patchedCompute(n).copy(b, 1);
  b[510] = 0x55;
  b[511] = 0xaa;
  writeFileSync(img, b);
  return new Promise((res, rej) => {
    const t0 = performance.now();
    const q = spawn(QEMU, ['-accel', 'tcg', '-display', 'none', '-nodefaults', '-no-user-config', '-m', '16',
      '-drive', `file=${img},format=raw,if=ide`, '-chardev', 'stdio,id=c', '-device', 'isa-debugcon,iobase=0xf1,chardev=c'],
    { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    const timer = setTimeout(() => q.kill(), 60_000);
    q.stdout.on('data', (d) => {
      out += d;
      if (out.includes('\n')) {
        const s = (performance.now() - t0) / 1000;
        clearTimeout(timer);
        q.kill();
        res({ s, text: out.trim() });
      }
    });
    q.on('exit', (code) => { if (!out.includes('\n')) { clearTimeout(timer); rej(new Error(`QEMU exited (${code}) before the guest printed its checksum`)); } });
  });
}

async function qemuRate(header) {
  const N1 = 1000, N2 = 100_000_000;
  const a = interpCompute(header, N1), b = interpCompute(header, 2 * N1);
  const perIter = (b.count - a.count) / N1;
  const t1 = [], t2 = [];
  for (let k = 0; k < 3; k++) {
    const q1 = await qemuTime(N1);
    if (q1.text !== a.text) throw new Error(`QEMU printed ${q1.text}, the interpreter ${a.text}`);
    t1.push(q1.s);
    t2.push((await qemuTime(N2)).s);
  }
  return (perIter * (N2 - N1)) / (median(t2) - median(t1));
}

// ------------------------------------------------------------------ the runs
const rows = [];
let kvmNote;
let qemuNote = qemuThere ? undefined : `QEMU column empty: ${QEMU} is not installed (apt-get install qemu-system-x86)`;
try {
  for (const g of GUESTS.filter((x) => !ONLY || ONLY.some((p) => x.name.startsWith(p)))) {
    let trace = join(ROOT, g.golden);
    const opened = await openTrace(trace);
    const { header } = opened;
    await opened.close();
    let kvmSeconds;
    try {
      const fresh = join(work, 'fresh.vmtrace');
      const r = await recordLike(header, header.guest.image, header.guest.name, fresh, { console: sink });
      kvmSeconds = r.wallMs / 1000;
      trace = fresh;
    } catch (e) {
      kvmNote = `KVM column empty: ${e.message}`;
    }
    await replayTrace(trace); // warm-up
    const times = [];
    let instructions = 0;
    for (let i = 0; i < RUNS; i++) {
      const t0 = performance.now();
      const res = await replayTrace(trace);
      times.push((performance.now() - t0) / 1000);
      if (!res.ok) throw new Error(`${g.name}: replay diverged: ${res.divergence.message}`);
      instructions = res.instructions;
    }
    // (the short guests read input, which only the recorded exits give: whole replays only)
    const interp = g.short ? undefined : marginal(header, 'off');
    const jit = g.short ? undefined : marginal(header, 'on');
    let qemu;
    if (qemuThere && g.qemu) {
      try {
        qemu = await qemuRate(header);
      } catch (e) {
        qemuNote = `QEMU: ${e.message}`;
      }
    }
    rows.push({ name: g.name, instructions, kvm: kvmSeconds && instructions / kvmSeconds, replay: instructions / median(times), interp, jit, qemu, short: g.short });
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
const head = ['guest'.padEnd(24), 'instructions'.padStart(12), 'KVM'.padStart(7), 'replay'.padStart(7), 'interp'.padStart(7), 'jit'.padStart(7), 'jit/int'.padStart(7), 'QEMU'.padStart(7), 'jit/QEMU'.padStart(9)];
console.log(head.join('  '));
for (const r of rows) {
  const qemu = r.qemu !== undefined ? fmt(r.qemu) : qemuThere ? 'n/a' : 'absent';
  const ratio = r.qemu !== undefined ? `${(r.jit / r.qemu).toFixed(3)}x` : '—';
  console.log([r.name.padEnd(24), String(r.instructions).padStart(12), fmt(r.kvm).padStart(7), fmt(r.replay).padStart(7), fmt(r.interp).padStart(7), fmt(r.jit).padStart(7), (r.jit ? `${(r.jit / r.interp).toFixed(1)}x` : '—').padStart(7), qemu.padStart(7), ratio.padStart(9)].join('  '));
}
console.log(`M instructions/s. replay: median of ${RUNS} whole replays (trace reading and checking included); interp/jit: marginal rate of Cpu.run() without/with compiled blocks; KVM: one recording (VM set-up included)`);
if (qemuThere) console.log('QEMU: TCG, marginal rate on the compute loop scaled to 10^8 iterations (method in the header of bench/replay.mjs); n/a: the C guests have no length to scale');
if (kvmNote) console.log(kvmNote);
if (qemuNote) console.log(qemuNote);
for (const r of rows) {
  const target = TARGETS[r.name];
  if (target) console.log(`target ${r.name}: >= ${fmt(target)} M/s compiled: ${r.jit >= target ? 'met' : 'NOT met'} (${fmt(r.jit)})`);
}
const q = rows.find((r) => r.qemu !== undefined);
if (q) console.log(`goal >= 0.1x QEMU TCG: ${q.jit / q.qemu >= 0.1 ? 'met' : 'NOT met'} (${(q.jit / q.qemu).toFixed(3)}x on ${q.name})`);

// AArch64 (issue 9): the A64 interpreter on the arm64 goldens, in the same run.
const { a64Rates } = await import('./a64-rates.mjs');
const a64 = await a64Rates(ROOT, RUNS);
if (a64.length) {
  console.log('');
  console.log(['AArch64 guest'.padEnd(24), 'instructions'.padStart(12), 'replay'.padStart(7), 'interp'.padStart(7), 'vs x86'.padStart(7)].join('  '));
  const x86 = rows.find((r) => r.name.startsWith('bench-64'));
  for (const r of a64) {
    const vs = x86?.interp ? `${(r.interp / x86.interp).toFixed(2)}x` : '—';
    console.log([r.name.padEnd(24), String(r.instructions).padStart(12), fmt(r.replay).padStart(7), fmt(r.interp).padStart(7), vs.padStart(7)].join('  '));
  }
  console.log('M instructions/s of the A64 interpreter (no compiled blocks); vs x86: interp against the x86 interpreter on bench-64 (plain, marginal) in this run');
} else console.log('AArch64: no arm64 goldens in traces/arm64/ (npm run test:arm64 -- --update-goldens records them)');
