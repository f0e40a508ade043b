// The signal test of the trace fuzzer (npm run fuzz, docs/fuzzing.md): `vmtrace record` of a
// guest that never stops, sent SIGTERM, SIGHUP or SIGINT at a random moment, must exit with
// 128 + the signal's number and leave a valid, complete trace at -o: footer `why` "interrupted"
// with a message naming the signal, and no `*.partial` file beside it.
import { spawn } from 'node:child_process';
import { accessSync, constants, existsSync, readdirSync, writeFileSync, mkdtempSync, rmSync, cpSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { join } from 'node:path';

import { checkRun } from './trace-cli.mjs';

export const SIGNALS = ['SIGTERM', 'SIGHUP', 'SIGINT'];

/** mov al, '.'; out 0xf1, al; jmp back to the out: an OUT exit after another, for ever. */
export const FOREVER_GUEST = Buffer.from([0xb0, 0x2e, 0xe6, 0xf1, 0xeb, 0xfc]);

/** Whether `vmtrace record` can run here: {ok} or {ok: false, reason}. */
export function kvmAvailable(root) {
  const dev = process.env.VMTRACE_KVM_DEVICE || '/dev/kvm';
  if (process.platform !== 'linux') return { ok: false, reason: 'not Linux (KVM needed)' };
  if (!existsSync(dev)) return { ok: false, reason: `no ${dev}` };
  try {
    accessSync(dev, constants.R_OK | constants.W_OK);
  } catch {
    return { ok: false, reason: `no read/write permission on ${dev}` };
  }
  const addon = join(root, 'build', 'Release', 'vmtrace_kvm.node');
  if (!existsSync(addon)) return { ok: false, reason: `the KVM addon is not built (${addon}: npm run build:addon)` };
  return { ok: true };
}

/** Names the signal: its name, or for SIGINT also "Ctrl-C". */
const NAMES = { SIGTERM: /\bSIGTERM\b/, SIGHUP: /\bSIGHUP\b/, SIGINT: /\bSIGINT\b|Ctrl-C/i };

/**
 * One run: records `guest` to dir/t.vmtrace, sends `signal` after `delayMs`, checks the result.
 * Returns {signal, delayMs, problems: [], code, ms, records, dir}.
 */
export async function signalRun(o, lib, signal, delayMs, guest) {
  const dir = mkdtempSync(join(o.tmpDir, `sig-${signal}-`));
  const trace = join(dir, 't.vmtrace');
  const env = { ...process.env };
  delete env.VMTRACE_DEBUG;
  const t0 = Date.now();
  const child = spawn(process.execPath, [join(o.root, 'dist', 'cli.js'), 'record', guest, '-q', '-o', trace], { cwd: dir, env, stdio: ['ignore', 'ignore', 'pipe'] });
  const chunks = [];
  child.stderr.on('data', (c) => chunks.push(c));
  let exited = false;
  const closed = new Promise((resolve) => child.on('close', (code, sig) => ((exited = true), resolve({ code, signal: sig }))));
  const problems = [];
  if (o.from === 'output') {
    // count the delay from when the recorder has created its output (it is recording by then)
    const until = Date.now() + 20_000;
    while (!exited && Date.now() < until && readdirSync(dir).length === 0) await new Promise((r) => setTimeout(r, 5));
  }
  await new Promise((r) => setTimeout(r, delayMs));
  let killTimer;
  if (exited) problems.push(`vmtrace record exited before the signal was sent (after ${Date.now() - t0} ms)`);
  else {
    child.kill(signal);
    killTimer = setTimeout(() => {
      problems.push(`no exit ${o.exitTimeoutMs} ms after ${signal}: killed with SIGKILL`);
      child.kill('SIGKILL');
    }, o.exitTimeoutMs);
  }
  const { code, signal: bySignal } = await closed;
  clearTimeout(killTimer);
  const ms = Date.now() - t0;
  const stderr = Buffer.concat(chunks);
  const want = 128 + osConstants.signals[signal];
  if (bySignal) {
    const early = o.from !== 'output' && o.startupMs !== undefined && delayMs < o.startupMs * 1.2;
    problems.push(`killed by ${bySignal} (the signal was not handled), not exit ${want}${early ? ` — sent ${delayMs} ms after the start, while node was still loading vmtrace (\`vmtrace --version\` takes ${o.startupMs} ms here): no handler was installed yet` : ''}`);
  }
  else if (code !== want) problems.push(`exit code ${code}, not ${want} (128 + ${signal})`);
  const stderrProblems = checkRun({ code: code ?? -1, signal: bySignal, stderr, ms, timedOut: false }, new Set([code ?? -1]), true).filter((p) => !p.startsWith('killed'));
  problems.push(...stderrProblems);
  let records;
  if (!existsSync(trace)) problems.push(`no trace at ${trace}`);
  else {
    try {
      const v = await lib.verify(trace);
      records = v.records;
      if (!v.complete) problems.push(`the trace is not complete (no footer; ${v.records} records, truncatedAt ${v.truncatedAt})`);
      else {
        const t = await lib.openTrace(trace);
        try {
          for await (const batch of t.batches()) void batch;
          const f = t.footer;
          if (f?.endReason !== 'interrupted') problems.push(`footer why is ${JSON.stringify(f?.endReason)}, not "interrupted"`);
          if (!NAMES[signal].test(f?.message ?? '')) problems.push(`footer message ${JSON.stringify(f?.message)} does not name ${signal}`);
        } finally {
          await t.close();
        }
      }
    } catch (e) {
      problems.push(`the trace does not verify: ${e?.message ?? e}`);
    }
  }
  const partial = readdirSync(dir).filter((f) => f.endsWith('.partial'));
  if (partial.length) problems.push(`leftover ${partial.join(', ')}`);
  if (problems.length && o.keep) cpSync(dir, join(o.keep, `signal-${signal}-${Date.now()}`), { recursive: true });
  rmSync(dir, { recursive: true, force: true });
  return { signal, delayMs, problems, code, ms, records, stderr: stderr.toString('utf8') };
}

/**
 * `perSignal` runs of each signal (round robin, `jobs` at a time, until `deadline`), at random
 * moments in [minMs, maxMs]. Returns {skipped?, bySignal: {SIG: {runs, ok}}, runs, failures}.
 */
export async function runSignalTest(o, lib, rng) {
  const kvm = kvmAvailable(o.root);
  if (!kvm.ok) return { skipped: kvm.reason, bySignal: {}, runs: 0, failures: 0 };
  let guest = o.guest;
  if (!guest) {
    guest = join(o.tmpDir, 'forever.bin');
    writeFileSync(guest, FOREVER_GUEST);
  }
  // how long node takes to load vmtrace here, and to start at all: before its first line of
  // JavaScript no program can have a handler, so signals are sent after twice that
  const timed = async (args) => {
    const s0 = Date.now();
    await new Promise((resolve) => spawn(process.execPath, args, { stdio: 'ignore' }).on('close', resolve));
    return Date.now() - s0;
  };
  o.startupMs = await timed([join(o.root, 'dist', 'cli.js'), '--version']);
  o.nodeBootMs = await timed(['-e', '0']);
  const minMs = o.from === 'output' ? o.minMs : Math.max(o.minMs, 2 * o.nodeBootMs);
  const plan = [];
  for (let i = 0; i < o.perSignal; i++) for (const s of SIGNALS) plan.push(s);
  const bySignal = Object.fromEntries(SIGNALS.map((s) => [s, { runs: 0, ok: 0 }]));
  const stats = { bySignal, runs: 0, failures: 0, startupMs: o.startupMs, nodeBootMs: o.nodeBootMs, minMs, guest: o.guest ?? 'a generated guest looping on OUT 0xf1' };
  const workers = [];
  for (let j = 0; j < o.jobs; j++) {
    workers.push(
      (async () => {
        for (;;) {
          if (o.deadline !== Infinity && Date.now() > o.deadline) return;
          const signal = plan.shift();
          if (!signal) return;
          const delay = minMs + rng.int(Math.max(0, o.maxMs - minMs) + 1);
          const r = await signalRun(o, lib, signal, delay, guest);
          stats.runs++;
          bySignal[signal].runs++;
          if (r.problems.length) {
            stats.failures++;
            o.onFailure(r);
          } else bySignal[signal].ok++;
          o.onRun?.(r);
        }
      })(),
    );
  }
  await Promise.all(workers);
  return stats;
}
