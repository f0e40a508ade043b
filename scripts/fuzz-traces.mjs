#!/usr/bin/env node
// npm run fuzz — the trace fuzzers (docs/fuzzing.md):
//   reader   mutated traces read in-process through verify, records(), batches() and the
//            scanner, in worker threads under a watchdog (crash, hang, corruption accepted?)
//   cli      `node dist/cli.js inspect|replay|verify|diff` on mutated traces (exit codes, stderr)
//   signals  `vmtrace record` stopped by SIGTERM/SIGHUP/SIGINT at random moments (KVM only)
//
// Exit codes: 0 no failure, 1 a failure (crash, hang, accepted corruption, disagreement, bad
// error message or exit code, signal run), 2 bad usage or no seed trace.
import { mkdtempSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { OPS, caseFor, caseRng, randomSeed } from './fuzz/trace-mutate.mjs';
import { coarse, firstDifference, loadLib, prepareSeed, regionOf } from './fuzz/trace-oracle.mjs';
import { Pool } from './fuzz/trace-pool.mjs';
import { runCliFuzz } from './fuzz/trace-cli.mjs';
import { runSignalTest } from './fuzz/trace-signals.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

const USAGE = `usage: npm run fuzz -- [options] [TRACE...]
       node scripts/fuzz-traces.mjs [options] [TRACE...]     (after npm run build)

Fuzzes the trace reader, the command line and the recorder's signal handling (docs/fuzzing.md).
With --seconds S the phases share S (reader 60%, cli 25%, signals 15%) and also stop at their
counts; without it, a count given (--cases, --cli-cases, --signals) makes the run count-bound
(--cases 10000 by default then); with neither it runs for --seconds 60.

Seeds (the traces that are mutated):
  TRACE...               extra seed traces (must be valid and complete)
  --seeds-dir DIR        seed traces: every DIR/**/*.vmtrace (default traces/)
  --no-default-seeds     do not read --seeds-dir, only TRACE... and the synthetic seeds
  --min-format X.Y       skip seed traces of an older format (default 2.0; 1.0 takes all)
  --synthetic N          also N synthetic seeds written by this build's TraceWriter (default 2)
  --max-seed-bytes N     skip seed traces larger than N bytes (default 4194304)

Reader fuzz:
  --cases N              random cases to run (default: until the time is up; 10000 in a
                         count-bound run)
  --seconds S            time budget of the whole run, in seconds
  --seed N               run seed (default: random, printed); case INDEX of seed N is always
                         the same mutation of the same seed trace
  --ops LIST             only these mutators, comma-separated (${OPS.join(', ')})
  --every-offset [N]     also cut every seed of at most N bytes (default 8192) at every offset
  --workers N            worker threads (default ${availableParallelism()})
  --hang-ms N            a case taking longer is a HANG (default 2000)
  --replay SEED:INDEX    run one case again and print everything about it (also cut:SEEDNO:LEN);
                         give the same seed options as the run that found it
  --keep DIR             write the mutated trace of every failing case into DIR
  --strict-truncation    a change inside the incomplete tail of a truncated trace (which no
                         checksum covers yet) counts as an accepted corruption

CLI fuzz:
  --cli-cases N          mutated traces to run the CLI on (default 40; 0: skip)
  --cli-timeout S        per command (default 20)
  --cli-max-seed-bytes N only seeds up to N bytes (default 131072)
  --cli                  with --replay: also run the CLI checks on that case

Signal test (needs /dev/kvm and build/Release/vmtrace_kvm.node, else skipped):
  --signals N            runs per signal: SIGTERM, SIGHUP, SIGINT (default 2; 0: skip)
  --signal-ms MIN-MAX    when to send the signal after starting record (default 50-1500)
  --signal-from WHEN     count that time from: spawn (default: any moment of the run, node's
                         start-up included) or output (once record has created its output file)
  --signal-guest FILE    guest to record (default: a generated one that loops on OUT for ever)

Output and presets:
  --only LIST            only these phases: reader,cli,signals
  --jobs N               concurrent processes for cli and signals (default ${Math.min(2, availableParallelism())})
  --acceptance           the issue's acceptance run: --cases 100000 --every-offset --cli-cases 300
                         --signals 10, no time limit
  --max-reports N        failures printed in full per category (default 5; all go to --keep)
  --json                 print the summary as one JSON object on stdout (reports go to stderr)
  -v, --verbose          print every CLI and signal run
  -h, --help             this text

Exit: 0 no failure, 1 failures found, 2 bad usage or no seed trace.`;

function usage(msg) {
  process.stderr.write(`fuzz: ${msg}\n(run with --help for usage)\n`);
  process.exit(2);
}

// ---- options ----------------------------------------------------------------------------------

const o = {
  paths: [],
  seedsDir: join(ROOT, 'traces'),
  defaultSeeds: true,
  minFormat: [2, 0],
  synthetic: 2,
  maxSeedBytes: 4 << 20,
  cases: undefined,
  seconds: undefined,
  seed: undefined,
  ops: OPS,
  everyOffset: 0,
  workers: availableParallelism(),
  hangMs: 2000,
  replay: undefined,
  keep: undefined,
  cliCases: 40,
  cliTimeout: 20,
  cliMaxSeedBytes: 128 << 10,
  cliReplay: false,
  strictTruncation: false,
  signals: 2,
  signalMs: [50, 1500],
  signalGuest: undefined,
  signalFrom: 'spawn',
  only: new Set(['reader', 'cli', 'signals']),
  jobs: Math.min(2, availableParallelism()),
  maxReports: 5,
  json: false,
  verbose: false,
};
/** The arguments that choose the seeds and mutators (a replay needs the same). */
const seedArgs = [];
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  const val = () => {
    const v = argv[++i];
    if (v === undefined) usage(`${a} needs a value`);
    return v;
  };
  const int = () => {
    const v = val();
    if (!/^\d+$/.test(v)) usage(`${a} needs a non-negative integer, got '${v}'`);
    return Number(v);
  };
  switch (a) {
    case '--seeds-dir': o.seedsDir = resolve(val()); seedArgs.push(a, o.seedsDir); break;
    case '--no-default-seeds': o.defaultSeeds = false; seedArgs.push(a); break;
    case '--min-format': {
      const v = val();
      const m = /^(\d+)(?:\.(\d+))?$/.exec(v);
      if (!m) usage(`--min-format needs MAJOR.MINOR, got '${v}'`);
      o.minFormat = [Number(m[1]), Number(m[2] ?? 0)];
      seedArgs.push(a, v);
      break;
    }
    case '--synthetic': o.synthetic = int(); seedArgs.push(a, String(o.synthetic)); break;
    case '--max-seed-bytes': o.maxSeedBytes = int(); seedArgs.push(a, String(o.maxSeedBytes)); break;
    case '--cases': o.cases = int(); break;
    case '--seconds': {
      const v = val();
      if (!/^\d+(\.\d+)?$/.test(v)) usage(`--seconds needs a number, got '${v}'`);
      o.seconds = Number(v);
      break;
    }
    case '--seed': o.seed = int() >>> 0; break;
    case '--ops': {
      const v = val();
      const list = v.split(',').map((s) => s.trim()).filter(Boolean);
      for (const op of list) if (!OPS.includes(op)) usage(`unknown mutator '${op}' (${OPS.join(', ')})`);
      if (!list.length) usage('--ops needs at least one mutator');
      o.ops = list;
      seedArgs.push(a, v);
      break;
    }
    case '--every-offset':
      o.everyOffset = /^\d+$/.test(argv[i + 1] ?? '') ? Number(argv[++i]) : 8192;
      break;
    case '--workers': o.workers = Math.max(1, int()); break;
    case '--hang-ms': o.hangMs = Math.max(1, int()); break;
    case '--replay': o.replay = val(); break;
    case '--keep': o.keep = resolve(val()); break;
    case '--cli-cases': o.cliCases = int(); break;
    case '--cli-timeout': o.cliTimeout = Math.max(1, int()); break;
    case '--cli-max-seed-bytes': o.cliMaxSeedBytes = int(); break;
    case '--cli': o.cliReplay = true; break;
    case '--strict-truncation': o.strictTruncation = true; seedArgs.push(a); break;
    case '--signals': o.signals = int(); break;
    case '--signal-ms': {
      const v = val();
      const m = /^(\d+)-(\d+)$/.exec(v);
      if (!m || Number(m[1]) > Number(m[2])) usage(`--signal-ms needs MIN-MAX in ms, got '${v}'`);
      o.signalMs = [Number(m[1]), Number(m[2])];
      break;
    }
    case '--signal-guest': o.signalGuest = resolve(val()); break;
    case '--signal-from': {
      o.signalFrom = val();
      if (!['spawn', 'output'].includes(o.signalFrom)) usage(`--signal-from needs spawn or output, got '${o.signalFrom}'`);
      break;
    }
    case '--only': {
      const v = val().split(',').map((s) => s.trim()).filter(Boolean);
      for (const p of v) if (!['reader', 'cli', 'signals'].includes(p)) usage(`unknown phase '${p}' (reader, cli, signals)`);
      o.only = new Set(v);
      break;
    }
    case '--jobs': o.jobs = Math.max(1, int()); break;
    case '--acceptance':
      o.cases = 100_000;
      o.everyOffset = 8192;
      o.cliCases = 300;
      o.signals = 10;
      o.acceptance = true;
      break;
    case '--max-reports': o.maxReports = int(); break;
    case '--json': o.json = true; break;
    case '-v':
    case '--verbose': o.verbose = true; break;
    case '-h':
    case '--help':
      process.stdout.write(`${USAGE}\n`);
      process.exit(0);
      break;
    default:
      if (a.startsWith('-')) usage(`unknown option ${a}`);
      o.paths.push(resolve(a));
      seedArgs.push(a);
  }
}
// Bounds: --seconds, else the counts when any is given (the reader's default count then 10,000),
// else 60 s in all.
const counted = o.cases !== undefined || argv.includes('--cli-cases') || argv.includes('--signals') || o.acceptance;
if (o.seconds === undefined && !o.replay) {
  if (!counted) o.seconds = 60;
  else o.cases ??= 10_000;
}
if (o.signalGuest && !existsSync(o.signalGuest)) usage(`--signal-guest ${o.signalGuest}: no such file`);

const out = o.json ? process.stderr : process.stdout;
/** Reports quote what readers said about random bytes: control characters are shown escaped. */
const clean = (s) => String(s).replace(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
const log = (s) => out.write(`${clean(s)}\n`);
const t0 = Date.now();
const budget = o.seconds === undefined ? Infinity : o.seconds * 1000;
const phases = ['reader', 'cli', 'signals'].filter((p) => o.only.has(p));
const share = { reader: 0.6, cli: 0.25, signals: 0.15 };
const shareSum = phases.reduce((s, p) => s + share[p], 0);
/** Deadline of each phase: its share of the budget, after the phases before it. */
const deadlines = {};
{
  let acc = 0;
  for (const p of phases) {
    acc += share[p] / shareSum;
    deadlines[p] = budget === Infinity ? Infinity : t0 + acc * budget;
  }
}

const tmpDir = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'vmtrace-fuzz-'));
const cleanup = () => rmSync(tmpDir, { recursive: true, force: true });
process.on('exit', cleanup);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => process.exit(130));
if (o.keep) mkdirSync(o.keep, { recursive: true });

const lib = await loadLib(ROOT).catch((e) => usage(`cannot load the reader from dist/ (npm run build): ${e.message}`));

// ---- seeds ------------------------------------------------------------------------------------

function walk(dir) {
  let found = [];
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return found;
  }
  for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const p = join(dir, e.name);
    if (e.isDirectory()) found = found.concat(walk(p));
    else if (e.name.endsWith('.vmtrace')) found.push(p);
  }
  return found;
}

async function writeSynthetic(n) {
  if (n === 0) return [];
  const { writeSyntheticTrace, syntheticHeader } = await import(join(ROOT, 'dist', 'inspect', 'synthetic.js'));
  const { sregsToBytes } = await import(join(ROOT, 'dist', 'kvm-structs.js'));
  const { regsToBytes } = await import(join(ROOT, 'dist', 'cpu-state.js'));
  const files = [];
  for (let i = 0; i < n; i++) {
    const file = join(tmpDir, `synthetic-${i}.vmtrace`);
    const header = syntheticHeader({ singleStep: i % 2 === 1 });
    const regs = regsToBytes(header.boot.regs);
    const sregs = { ...header.boot.sregs, cr0: header.boot.sregs.cr0 | 1n, cr2: BigInt(0x1000 * (i + 1)) };
    // besides the synthetic writer's IO and MMIO exits: an sregs change and an exit detail
    const extra = [
      { kind: 'exit', reason: 2, timeNs: 9e9 + i, runNs: 1, regsBytes: regs, sregsBytes: sregsToBytes(sregs), io: { port: 0x80, size: 2, out: true, count: 2, data: Uint8Array.of(1, 2, 3, 4) } },
      { kind: 'exit', reason: 17, timeNs: 9e9 + 10 + i, runNs: 2, regsBytes: regs, detail: { suberror: 1, suberrorName: 'EMULATION', data: [1, 2, 3] } },
    ];
    await writeSyntheticTrace(file, { exits: [20, 300, 60, 1500][i % 4] + i, header, extra, stepNs: 700 + i });
    files.push({ path: file, name: `synthetic-${i} (this build's TraceWriter)` });
  }
  return files;
}

async function loadSeeds() {
  const candidates = [];
  if (o.defaultSeeds) for (const p of walk(o.seedsDir)) candidates.push({ path: p, name: relative(ROOT, p) || p, filter: true });
  for (const p of o.paths) candidates.push({ path: p, name: relative(ROOT, p) || p, filter: true, given: true });
  const synthetic = await writeSynthetic(o.synthetic).catch((e) => {
    log(`note: no synthetic seeds: ${e.message}`);
    return [];
  });
  for (const s of synthetic) candidates.push({ ...s, filter: false });
  const seeds = [];
  const older = {};
  const skipped = [];
  let tooLarge = 0;
  for (const c of candidates) {
    try {
      const size = statSync(c.path).size;
      if (size > o.maxSeedBytes) {
        tooLarge++;
        continue;
      }
      if (c.filter) {
        const t = await lib.openTrace(c.path);
        const { major, minor } = t.header.format;
        await t.close();
        if (major < o.minFormat[0] || (major === o.minFormat[0] && minor < o.minFormat[1])) {
          const k = `${major}.${minor}`;
          older[k] = (older[k] ?? 0) + 1;
          if (c.given) skipped.push(`${c.name}: format ${k} < ${o.minFormat.join('.')}`);
          continue;
        }
      }
      seeds.push(await prepareSeed(lib, c.path, c.name));
    } catch (e) {
      const msg = String(e?.message ?? e);
      if (/not supported by this vmtrace/.test(msg)) {
        const k = /format (\S+) is not/.exec(msg)?.[1] ?? 'old';
        older[k] = (older[k] ?? 0) + 1;
      } else skipped.push(`${c.name}: not a valid complete trace (${msg})`);
    }
  }
  const olderCount = Object.values(older).reduce((a, b) => a + b, 0);
  if (olderCount) {
    log(`note: skipped ${olderCount} seed trace(s) of a format older than ${o.minFormat.join('.')} (${Object.entries(older).map(([k, n]) => `${k}: ${n}`).join(', ')}); --min-format 1.0 takes them`);
  }
  if (tooLarge) log(`note: skipped ${tooLarge} seed trace(s) larger than --max-seed-bytes ${o.maxSeedBytes}`);
  for (const s of skipped) log(`note: skipped seed ${s}`);
  return seeds;
}

const needSeeds = o.replay || phases.includes('reader') || phases.includes('cli');
const seeds = needSeeds ? await loadSeeds() : [];
if (needSeeds && !seeds.length) usage('no seed trace (see --min-format, --synthetic, TRACE...)');
const runSeed = o.seed ?? randomSeed();
const formats = [...new Set(seeds.map((s) => s.format))].join(', ');
const seedBytes = seeds.reduce((a, s) => a + s.bytes.length, 0);
/** Names, sizes and contents of the seeds: a replay needs the same set (the same fingerprint). */
const fingerprint = seeds.length ? createHash('sha256').update(seeds.map((s) => `${s.name}\0${createHash('sha256').update(s.bytes).digest('hex')}`).join('\n')).digest('hex').slice(0, 12) : '-';
log(`fuzz: run seed ${runSeed}; ${seeds.length} seed traces (${(seedBytes / 1024).toFixed(0)} KiB, format ${formats || '-'}, seed set ${fingerprint}); verify = ${lib.verifyName}`);
const replayCmd = (id) => `npm run fuzz -- --replay ${typeof id === 'string' ? id : `${runSeed}:${id}`}${seedArgs.length ? ` ${seedArgs.join(' ')}` : ''}`;

// ---- reporting --------------------------------------------------------------------------------

const LABEL = { crash: 'CRASH', hang: 'HANG', accepted: 'ACCEPTED-CORRUPT', disagree: 'DISAGREE', 'bad-error': 'BAD-ERROR' };
const printed = {};
const keepCase = (id) => {
  if (!o.keep) return undefined;
  const c = caseFor(seeds, runSeed, id, o.ops);
  const file = join(o.keep, `case-${typeof id === 'string' ? id.replace(/:/g, '-') : `${runSeed}-${id}`}.vmtrace`);
  writeFileSync(file, c.bytes);
  return file;
};

function formatCase(id, r, full) {
  const seed = seeds[r.seedNo];
  const lines = [
    `${LABEL[r.status] ?? r.status.toUpperCase()} case ${typeof id === 'string' ? id : `${runSeed}:${id}`}: ${r.problem ?? r.status}`,
  ];
  if (seed) {
    lines.push(`  seed      #${r.seedNo} ${seed.name} (${seed.bytes.length} bytes, format ${seed.format}, ${seed.records} records)`);
    lines.push(`  mutation  ${r.desc} -> ${r.size} bytes; first difference at byte ${r.diffAt} (${r.region})`);
  }
  if (full) for (const p of r.paths ?? []) lines.push(`  ${p.length > 400 ? `${p.slice(0, 400)}…` : p}`);
  if (r.stack && full) lines.push(...String(r.stack).split('\n').slice(0, 14).map((l) => `  | ${l}`));
  lines.push(`  replay:   ${replayCmd(id)}`);
  return lines.join('\n');
}

function report(id, r) {
  const kind = r.status;
  if (r.seedNo === undefined) {
    // a hang or a dead worker: say which case it was from here
    const c = caseFor(seeds, runSeed, id, o.ops);
    const diffAt = firstDifference(c.bytes, seeds[c.seedNo].bytes);
    Object.assign(r, { seedNo: c.seedNo, ops: c.ops, desc: c.desc, size: c.bytes.length, diffAt, region: regionOf(seeds[c.seedNo], diffAt) });
  }
  printed[kind] = (printed[kind] ?? 0) + 1;
  const kept = keepCase(id);
  if (printed[kind] <= o.maxReports) {
    log(formatCase(id, r, true) + (kept ? `\n  kept:     ${kept}` : ''));
    if (printed[kind] === o.maxReports) log(`(further ${LABEL[kind] ?? kind} cases are counted, not printed; --max-reports N)`);
  }
}

// ---- replay -----------------------------------------------------------------------------------

if (o.replay) {
  let id;
  const m = /^(\d+):(\d+)$/.exec(o.replay);
  if (m) {
    if (o.seed !== undefined && o.seed !== Number(m[1]) >>> 0) usage('--seed and --replay name different run seeds');
    id = Number(m[2]);
  } else if (/^cut:\d+:\d+$/.test(o.replay)) id = o.replay;
  else usage(`--replay needs SEED:INDEX or cut:SEEDNO:LEN, got '${o.replay}'`);
  const rs = m ? Number(m[1]) >>> 0 : runSeed;
  if (typeof id === 'string' && Number(id.split(':')[1]) >= seeds.length) usage(`${id}: there are only ${seeds.length} seeds`);
  const pool = new Pool({ root: ROOT, seeds, runSeed: rs, ops: o.ops, workers: 1, hangMs: o.hangMs, tmpDir, detail: true, strictTruncation: o.strictTruncation });
  await pool.start();
  const r = await pool.evaluate(id);
  const c = caseFor(seeds, rs, id, o.ops);
  const seed = seeds[c.seedNo];
  log(`case ${typeof id === 'string' ? id : `${rs}:${id}`}: ${r.status}${r.problem ? ` — ${r.problem}` : ''}${r.info ? ` (${r.info})` : ''}`);
  log(`  seed      #${c.seedNo} ${seed.name} (${seed.bytes.length} bytes, format ${seed.format}, ${seed.records} records)`);
  log(`  mutation  ${c.desc} -> ${c.bytes.length} bytes; first difference at byte ${r.diffAt} (${r.region})`);
  for (const p of r.paths ?? []) log(`  ${p}`);
  if (r.stack) log(String(r.stack).split('\n').map((l) => `  | ${l}`).join('\n'));
  if (o.keep) {
    const file = join(o.keep, `case-${String(id).replace(/:/g, '-')}${m ? `-${rs}` : ''}.vmtrace`);
    writeFileSync(file, c.bytes);
    log(`  kept:     ${file}`);
  }
  let cliFailures = 0;
  if (o.cliReplay) {
    const st = await runCliFuzz({
      root: ROOT, seeds, runSeed: rs, ops: o.ops, pool, tmpDir, log, ids: [id], cases: 1, jobs: 1, deadline: Infinity,
      timeoutMs: o.cliTimeout * 1000, maxSeedBytes: Infinity, verbose: true, onFailure: () => cliFailures++,
    });
    void st;
  }
  await pool.close();
  process.exit(['corrupt', 'truncated', 'identical'].includes(r.status) && !cliFailures ? 0 : 1);
}

// ---- reader fuzz ------------------------------------------------------------------------------

const summary = { seed: runSeed, seeds: seeds.length, seedSet: fingerprint, formats, verify: lib.verifyName };
const failed = [];
let pool;
if (phases.includes('reader') || phases.includes('cli')) {
  pool = new Pool({ root: ROOT, seeds, runSeed, ops: o.ops, workers: o.workers, hangMs: o.hangMs, tmpDir, strictTruncation: o.strictTruncation });
  await pool.start();
}

if (phases.includes('reader')) {
  const st = { cases: 0, corrupt: 0, truncated: 0, identical: 0, crashes: 0, hangs: 0, accepted: 0, disagree: 0, badError: 0, cutRejected: 0, tailChanged: 0, sweep: 0 };
  const acceptedBy = { op: {}, region: {} };
  const firstAccepted = {};
  const KEY = { crash: 'crashes', hang: 'hangs', accepted: 'accepted', disagree: 'disagree', 'bad-error': 'badError' };
  const started = Date.now();
  const deadline = deadlines.reader;
  let nextIndex = 0;
  // the every-offset sweep first (bounded by the time too), then random cases
  const sweep = [];
  if (o.everyOffset) {
    seeds.forEach((s, k) => {
      if (s.bytes.length <= o.everyOffset) for (let len = 0; len < s.bytes.length; len++) sweep.push(`cut:${k}:${len}`);
    });
    log(`reader: every-offset sweep of ${seeds.filter((s) => s.bytes.length <= o.everyOffset).length} seed(s) up to ${o.everyOffset} bytes: ${sweep.length} cuts`);
  }
  let sweepAt = 0;
  const source = () => {
    if (Date.now() > deadline) return undefined;
    if (sweepAt < sweep.length) return sweep[sweepAt++];
    if (o.cases !== undefined && nextIndex >= o.cases) return undefined;
    return nextIndex++;
  };
  let lastProgress = Date.now();
  const notes = () => {
    const n = [];
    if (st.tailChanged) n.push(`truncated with a changed incomplete tail: ${st.tailChanged}`);
    if (st.cutRejected) n.push(`clean cuts past the header reported as corrupt: ${st.cutRejected}`);
    if (st.sweep) n.push(`every-offset cuts: ${st.sweep}`);
    if (pool.slow) n.push(`cases over --hang-ms ${o.hangMs} once, answered when run again with 10x the time (a loaded machine): ${pool.slow}`);
    return n.length ? ` [${n.join('; ')}]` : '';
  };
  const progress = (final) => {
    const secs = (Date.now() - started) / 1000;
    return `reader: ${st.cases} cases in ${secs.toFixed(1)} s (${(st.cases / Math.max(secs, 0.001)).toFixed(0)}/s): corrupt ${st.corrupt}, truncated ${st.truncated}, identical ${st.identical}, crashes ${st.crashes}, hangs ${st.hangs}, accepted ${st.accepted}, disagree ${st.disagree}, bad-error ${st.badError}${final ? notes() : ''}`;
  };
  await pool.run(source, (id, r) => {
    st.cases++;
    if (typeof id === 'string') st.sweep++;
    if (r.status === 'corrupt') {
      st.corrupt++;
      if (r.info === 'cut-rejected') st.cutRejected++;
    } else if (r.status === 'truncated') {
      st.truncated++;
      if (r.info === 'tail-changed') st.tailChanged++;
    }
    else if (r.status === 'identical') st.identical++;
    else {
      report(id, r);
      st[KEY[r.status] ?? 'crashes']++;
      if (r.status === 'accepted') {
        for (const op of new Set(r.ops)) acceptedBy.op[op] = (acceptedBy.op[op] ?? 0) + 1;
        const reg = coarse(r.region);
        acceptedBy.region[reg] = (acceptedBy.region[reg] ?? 0) + 1;
        const key = `${r.ops.join('+')} in ${reg}`;
        if (!firstAccepted[key]) firstAccepted[key] = typeof id === 'string' ? id : `${runSeed}:${id}`;
      }
      failed.push({ phase: 'reader', id, status: r.status, problem: r.problem });
    }
    if (!o.json && Date.now() - lastProgress > 5000) {
      lastProgress = Date.now();
      process.stderr.write(`${progress(false)}\n`);
    }
  });
  log(progress(true));
  if (st.accepted) {
    const fmt = (m) => Object.entries(m).sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ${n}`).join(', ');
    log(`reader: accepted corruptions by mutator: ${fmt(acceptedBy.op)}; by region of the first changed byte: ${fmt(acceptedBy.region)}`);
    log(`reader: a reproducer per kind: ${Object.entries(firstAccepted).slice(0, 24).map(([k, v]) => `${k} ${v}`).join('; ')}`);
  }
  summary.reader = { ...st, slow: pool.slow, acceptedBy, firstAccepted };
}

// ---- CLI fuzz ---------------------------------------------------------------------------------

if (phases.includes('cli') && o.cliCases > 0) {
  const printedCli = { n: 0 };
  const st = await runCliFuzz({
    root: ROOT,
    seeds,
    runSeed,
    ops: o.ops,
    pool,
    tmpDir,
    log,
    cases: o.cliCases,
    jobs: o.jobs,
    deadline: deadlines.cli,
    timeoutMs: o.cliTimeout * 1000,
    maxSeedBytes: o.cliMaxSeedBytes,
    verbose: o.verbose,
    onFailure: (f) => {
      failed.push({ phase: 'cli', id: f.id, command: f.command, problems: f.problems });
      const kept = keepCase(f.id);
      if (++printedCli.n > o.maxReports) return;
      const err = f.run.stderr.toString('utf8').split('\n').filter(Boolean);
      log(
        [
          `CLI case ${runSeed}:${f.id}: vmtrace ${f.command} — ${f.problems.join('; ')}`,
          `  seed      ${f.seed.name}; mutation ${f.desc}; reader verdict: ${f.verdict.status}${f.verdict.problem ? ` (${f.verdict.problem})` : ''}`,
          `  exit ${f.run.code ?? f.run.signal} in ${f.run.ms} ms; stderr (${err.length} lines):`,
          ...err.slice(0, 8).map((l) => `  | ${JSON.stringify(l).slice(1, -1).slice(0, 300)}`),
          `  replay:   ${replayCmd(f.id)} --cli`,
          ...(kept ? [`  kept:     ${kept}`] : []),
        ].join('\n'),
      );
      if (printedCli.n === o.maxReports) log('(further CLI failures are counted, not printed; --max-reports N)');
    },
  });
  log(`cli: ${st.cases} cases, ${st.runs} commands: ok ${st.ok}, failed ${st.failures} (bad exit code ${st.badExit}, bad stderr ${st.badStderr}, hangs ${st.hangs}, disagreeing with the reader ${st.disagree})${st.distRetries ? `; ${st.distRetries} run(s) repeated because dist/ was being rebuilt` : ''}; verdicts ${Object.entries(st.byVerdict).map(([k, n]) => `${k} ${n}`).join(', ')}`);
  summary.cli = st;
}
await pool?.close();

// ---- signals ----------------------------------------------------------------------------------

if (phases.includes('signals') && o.signals > 0) {
  let printedSig = 0;
  const st = await runSignalTest(
    {
      root: ROOT,
      tmpDir,
      keep: o.keep,
      perSignal: o.signals,
      jobs: o.jobs,
      deadline: deadlines.signals,
      minMs: o.signalMs[0],
      maxMs: o.signalMs[1],
      guest: o.signalGuest,
      from: o.signalFrom,
      exitTimeoutMs: 15_000,
      onRun: (r) => {
        if (o.verbose) log(`signals: ${r.signal} after ${r.delayMs} ms: exit ${r.code}, ${r.records ?? '?'} records, ${r.problems.length ? `FAIL: ${r.problems.join('; ')}` : 'ok'}`);
      },
      onFailure: (r) => {
        failed.push({ phase: 'signals', signal: r.signal, delayMs: r.delayMs, problems: r.problems });
        if (++printedSig > o.maxReports) return;
        const err = r.stderr.split('\n').filter(Boolean);
        log([`SIGNAL ${r.signal} after ${r.delayMs} ms: ${r.problems.join('; ')}`, ...err.slice(0, 4).map((l) => `  | ${JSON.stringify(l).slice(1, -1).slice(0, 300)}`)].join('\n'));
      },
    },
    lib,
    caseRng(runSeed, 0x5157),
  );
  if (st.skipped) log(`signals: SKIPPED: ${st.skipped}`);
  else log(`signals: ${st.runs} runs (${st.guest}; signals sent ${st.minMs}-${o.signalMs[1]} ms after ${o.signalFrom === 'output' ? 'the output file appeared' : `the start, after twice node's own start-up of ${st.nodeBootMs} ms`}; node loads vmtrace in ${st.startupMs} ms): ${Object.entries(st.bySignal).map(([s, v]) => `${s} ${v.ok}/${v.runs} ok`).join(', ')}`);
  summary.signals = st;
}

const ok = failed.length === 0;
summary.ok = ok;
summary.failures = failed.length;
summary.seconds = (Date.now() - t0) / 1000;
log(`fuzz: ${ok ? 'PASS' : `FAIL (${failed.length} failure(s))`} in ${summary.seconds.toFixed(1)} s; run seed ${runSeed}`);
if (o.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
process.exitCode = ok ? 0 : 1;
