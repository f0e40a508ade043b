// The CLI fuzzer (npm run fuzz, docs/fuzzing.md): runs `node dist/cli.js` on mutated traces and
// checks what a user sees: the exit code is one docs/cli.md documents for the command and agrees
// with the reader's verdict on the file, an exit 2 says one line `vmtrace: …` on stderr, stderr
// never shows a stack trace, a JS error class or a raw control byte, and nothing hangs.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { writeFile, rm } from 'node:fs/promises';
import { join } from 'node:path';

import { caseFor } from './trace-mutate.mjs';

/** Runs `node dist/cli.js …args` with a timeout; {code, signal, stderr, ms, timedOut}. */
export function runCli(root, args, timeoutMs, cwd = root) {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const env = { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' };
    delete env.VMTRACE_DEBUG;
    const child = spawn(process.execPath, [join(root, 'dist', 'cli.js'), ...args], { cwd, env, stdio: ['ignore', 'ignore', 'pipe'] });
    const chunks = [];
    let size = 0;
    child.stderr.on('data', (c) => {
      if (size < 1 << 20) chunks.push(c);
      size += c.length;
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stderr: Buffer.concat(chunks), ms: Date.now() - t0, timedOut });
    });
  });
}

/** A half-rebuilt dist/ (tsc writing it while we run): not vmtrace's fault. */
const DIST_IN_FLUX = /does not provide an export named|ERR_MODULE_NOT_FOUND|Cannot find module .*dist/;

/**
 * runCli, run again (up to 3 times, 2 s apart) when node could not even load dist/ because it is
 * being rebuilt under the run; `stats.distRetries` counts those.
 */
export async function runStable(root, args, timeoutMs, stats) {
  let run;
  for (let i = 0; i < 4; i++) {
    run = await runCli(root, args, timeoutMs);
    if (run.timedOut || !DIST_IN_FLUX.test(run.stderr.toString('utf8'))) return run;
    if (stats) stats.distRetries = (stats.distRetries ?? 0) + 1;
    await new Promise((r) => setTimeout(r, 2000));
  }
  return run;
}

/**
 * Exit codes docs/cli.md gives `vmtrace verify` (its section: table rows `| N |` and `N` in
 * backticks), and which of them means "truncated" (the one on a line that says so).
 */
export function verifyExitCodes(root) {
  let text = '';
  try {
    text = readFileSync(join(root, 'docs', 'cli.md'), 'utf8');
  } catch {
    // no docs: defaults below
  }
  const start = text.search(/^#+ [^\n]*vmtrace verify/m);
  if (start < 0) return { codes: new Set([0, 1, 2]), truncated: 1, documented: false };
  const rest = text.slice(start);
  const next = rest.slice(1).search(/^## /m);
  const section = next < 0 ? rest : rest.slice(0, next + 1);
  const codes = new Set([0, 2]);
  let truncated;
  for (const line of section.split('\n')) {
    const found = [...line.matchAll(/^\|\s*`?(\d{1,3})`?\s*\||`(\d{1,3})`/g)].map((m) => Number(m[1] ?? m[2])).filter((n) => n < 256);
    for (const n of found) codes.add(n);
    if (/truncat/i.test(line)) {
      const t = found.find((n) => n !== 0 && n !== 2);
      if (t !== undefined && truncated === undefined) truncated = t;
    }
  }
  return { codes, truncated, documented: true };
}

const STACK = /^\s+at .+(\(.*:\d+:\d+\)|:\d+:\d+|native|<anonymous>)\s*$/m;
const JS_ERROR = /\b(TypeError|RangeError|ReferenceError|SyntaxError|EvalError|URIError|AggregateError|AssertionError|InternalError)\b|ERR_[A-Z_]{4,}|Uncaught|node:internal/;

/** Problems with one command's result (none: []). */
export function checkRun(run, allowed, multiLineOk) {
  const problems = [];
  if (run.timedOut) return [`HANG: no exit after ${run.ms} ms (killed)`];
  if (run.code === null) return [`killed by ${run.signal}`];
  if (!allowed.has(run.code)) problems.push(`exit code ${run.code} is not one docs/cli.md gives this command (${[...allowed].sort((a, b) => a - b).join(', ')})`);
  const err = run.stderr;
  const bad = [...err].filter((c) => (c < 0x20 && c !== 0x0a) || c === 0x7f);
  if (bad.length) problems.push(`stderr holds control bytes ${[...new Set(bad)].map((c) => `0x${c.toString(16).padStart(2, '0')}`).join(' ')}`);
  const text = err.toString('utf8');
  if (/[\u0080-\u009f]/.test(text)) problems.push('stderr holds C1 control characters');
  if (STACK.test(text)) problems.push('stderr shows a stack trace');
  if (JS_ERROR.test(text)) problems.push(`stderr names a JS error: ${JSON.stringify(text.match(JS_ERROR)[0])}`);
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  if (run.code === 2) {
    if (lines.length !== 1 || !lines[0].startsWith('vmtrace: ')) problems.push(`exit 2 must say one line 'vmtrace: …', got ${lines.length} line(s)`);
  } else if (!multiLineOk && lines.some((l) => !l.startsWith('vmtrace: '))) {
    problems.push('stderr has lines that do not start with vmtrace:');
  }
  return problems;
}

/** The exit code a command must give, from the reader's verdict on the file (undefined: any allowed). */
function expectedCode(cmd, verdict, verifyTruncated) {
  const { status } = verdict;
  if (status === 'corrupt') return new Set([2]);
  if (status === 'truncated') {
    if (cmd === 'verify') return verifyTruncated === undefined ? undefined : new Set([verifyTruncated]);
    if (cmd === 'diff') return new Set([1]);
    if (cmd === 'replay') return undefined; // every allowed code but 2
    return new Set([0]);
  }
  if (status === 'identical') {
    if (cmd === 'replay') return undefined;
    return new Set([0]);
  }
  return undefined; // the reader is wrong about this file already (reported there)
}

/**
 * Runs the CLI fuzz: up to `cases` mutated traces (the reader fuzz's cases 0, 1, 2, … whose seed
 * is at most `maxSeedBytes`), `jobs` at a time, until `deadline`. `pool` gives the reader's
 * verdicts. Returns the statistics; calls onFailure(record) per failing command.
 */
export async function runCliFuzz(o) {
  const { root, seeds, runSeed, ops, pool, tmpDir, log } = o;
  const help = await runCli(root, ['verify', '--help'], 30_000);
  const hasVerify = help.code === 0;
  const vcodes = verifyExitCodes(root);
  if (!hasVerify) log('cli: `vmtrace verify` is not in this build yet: its runs are skipped');
  else if (!vcodes.documented) log('cli: docs/cli.md has no `vmtrace verify` section yet: assuming exit codes 0, 1 (truncated), 2');
  else if (vcodes.truncated === undefined) log('cli: docs/cli.md does not say which `vmtrace verify` exit code means truncated: not checked against the reader');
  const commands = [
    { name: 'inspect', args: (m) => ['inspect', m], codes: new Set([0, 2]) },
    { name: 'inspect --exits', cmd: 'inspect', args: (m) => ['inspect', '--exits', m], codes: new Set([0, 2]) },
    { name: 'replay -q', cmd: 'replay', args: (m) => ['replay', '-q', m], codes: null, multiLine: true },
    ...(hasVerify ? [{ name: 'verify', args: (m) => ['verify', m], codes: vcodes.codes }] : []),
    { name: 'diff', args: (m, orig) => ['diff', m, orig], codes: new Set([0, 1, 2]), multiLine: false },
  ];
  const stats = { cases: 0, runs: 0, ok: 0, badExit: 0, badStderr: 0, hangs: 0, disagree: 0, failures: 0, byVerdict: {} };
  const eligible = seeds.map((s) => s.bytes.length <= o.maxSeedBytes);
  if (!eligible.some(Boolean)) {
    log(`cli: no seed trace is small enough (--cli-max-seed-bytes ${o.maxSeedBytes}): skipped`);
    return stats;
  }
  let next = o.firstIndex ?? 0;
  const picked = [];
  // Most mutations are plainly corrupt: at most 60% of the CLI cases are, so that truncated and
  // intact traces (and whatever the reader gets wrong) are run through the CLI too.
  let corruptPicked = 0;
  let taken = 0;
  const corruptQuota = Math.ceil(0.6 * o.cases);
  const pickId = async () => {
    if (o.ids) {
      const id = o.ids.shift();
      return id === undefined ? undefined : { id, verdict: await pool.evaluate(id) };
    }
    for (let tries = 0; tries < 200 * o.cases + 1000; tries++) {
      const id = next++;
      const c = caseFor(seeds, runSeed, id, ops);
      if (!eligible[c.seedNo]) continue;
      const verdict = await pool.evaluate(id);
      // (as the cases go, so that a run cut short by the time has its mix too)
      if (verdict.status === 'corrupt') {
        if (corruptPicked >= corruptQuota || corruptPicked + 1 > Math.ceil(0.6 * (taken + 1))) continue;
        corruptPicked++;
      }
      taken++;
      return { id, verdict };
    }
    return undefined;
  };
  const one = async ({ id, verdict }) => {
    const c = caseFor(seeds, runSeed, id, ops);
    const seed = seeds[c.seedNo];
    const file = join(tmpDir, `cli-${String(id).replace(/:/g, '-')}.vmtrace`);
    await writeFile(file, c.bytes);
    stats.cases++;
    stats.byVerdict[verdict.status] = (stats.byVerdict[verdict.status] ?? 0) + 1;
    const replayCodes = new Set([0, 1, 2, 3]);
    // the footer keeps the full isa-debug-exit status ((v << 1) | 1); replay exits with its low byte
    if (seed.status !== undefined) replayCodes.add(seed.status & 0xff);
    const lines = [];
    for (const cmd of commands) {
      if (Date.now() > o.deadline && o.deadline !== Infinity && !o.ids) break;
      const run = await runStable(root, cmd.args(file, seed.path), o.timeoutMs, stats);
      stats.runs++;
      const allowed = cmd.codes ?? replayCodes;
      const problems = checkRun(run, allowed, cmd.multiLine ?? false);
      if (run.timedOut) stats.hangs++;
      else if (problems.some((p) => p.startsWith('exit code'))) stats.badExit++;
      const want = run.timedOut || run.code === null ? undefined : expectedCode(cmd.cmd ?? cmd.name, verdict, vcodes.truncated);
      if (want && !want.has(run.code)) {
        problems.push(`the reader calls this file ${verdict.status}, so the exit code should be ${[...want].join(' or ')}, not ${run.code}`);
        stats.disagree++;
      } else if (!want && (cmd.cmd ?? cmd.name) === 'replay' && verdict.status === 'truncated' && run.code === 2) {
        problems.push('the reader reads this file as truncated, but replay calls it unreadable (exit 2)');
        stats.disagree++;
      }
      if (problems.some((p) => p.startsWith('stderr') || p.startsWith('exit 2'))) stats.badStderr++;
      if (problems.length) {
        stats.failures++;
        o.onFailure({ id, seed, desc: c.desc, verdict, command: cmd.name, run, problems });
      } else stats.ok++;
      lines.push(`  ${cmd.name.padEnd(16)} exit ${run.code ?? run.signal} in ${run.ms} ms${problems.length ? `  FAIL: ${problems.join('; ')}` : ''}`);
      if (o.verbose) lines.push(...run.stderr.toString('utf8').split('\n').filter(Boolean).slice(0, 6).map((l) => `      | ${l.slice(0, 200)}`));
    }
    if (o.verbose) log(`cli case ${id}: ${verdict.status}; ${c.desc}\n${lines.join('\n')}`);
    await rm(file, { force: true });
  };
  const workers = [];
  for (let j = 0; j < o.jobs; j++) {
    workers.push(
      (async () => {
        for (;;) {
          if (picked.length >= o.cases || (o.deadline !== Infinity && Date.now() > o.deadline)) return;
          picked.push(undefined);
          const pick = await pickId();
          if (pick === undefined) return;
          await one(pick);
        }
      })(),
    );
  }
  await Promise.all(workers);
  return stats;
}
