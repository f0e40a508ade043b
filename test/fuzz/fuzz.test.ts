// A short run of the trace fuzzers (npm run fuzz, docs/fuzzing.md): a couple of thousand mutated
// traces through the reader (verify, records(), batches(), the scanner), a few through the CLI,
// and one recording stopped by each of SIGTERM, SIGHUP and SIGINT when KVM is here. Nothing may
// crash, hang, or take a changed trace for a valid one.
//
// It runs the fuzzer as npm run fuzz does, on dist/ (npm test builds it first: pretest). The run
// seed is fixed so that a failure repeats; VMTRACE_FUZZ_SEED=N picks another, `random` a new one.
// A failure's output names the case: `npm run fuzz -- --replay SEED:INDEX …` shows everything.
import { spawnSync } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// @ts-ignore -- plain JavaScript module of the fuzzer (tests are not type-checked)
import { kvmAvailable } from '../../scripts/fuzz/trace-signals.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const SCRIPT = join(ROOT, 'scripts', 'fuzz-traces.mjs');
const env = process.env.VMTRACE_FUZZ_SEED;
const SEED = env === 'random' ? String(Math.floor(Math.random() * 2 ** 32)) : (env ?? '1');

interface Summary {
  ok: boolean;
  failures: number;
  seeds: number;
  reader?: Record<string, number>;
  cli?: { cases: number; runs: number; ok: number; failures: number; hangs: number };
  signals?: { skipped?: string; runs: number; failures: number; bySignal: Record<string, { runs: number; ok: number }> };
}

/** Runs the fuzzer with `args`; its JSON summary, and the report (stderr) for failure messages. */
function fuzz(args: string[]): { summary: Summary; report: string } {
  const r = spawnSync(process.execPath, [SCRIPT, '--json', '--seed', SEED, '--max-reports', '3', ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 120_000,
    maxBuffer: 64 << 20,
  });
  const report = `${r.stderr}`;
  const line = r.stdout.trim().split('\n').at(-1) ?? '';
  let summary: Summary;
  try {
    summary = JSON.parse(line) as Summary;
  } catch {
    throw new Error(`the fuzzer did not print a summary (exit ${r.status}, signal ${r.signal}):\n${report}`);
  }
  return { summary, report };
}

describe('trace fuzzers (short run)', () => {
  it('reader: mutated traces are reported as corrupt or as a clean cut, never accepted, no crash or hang', () => {
    const { summary, report } = fuzz(['--only', 'reader', '--cases', '1500', '--max-seed-bytes', '32768']);
    const st = summary.reader!;
    expect(st.cases, report).toBe(1500);
    expect({ crashes: st.crashes, hangs: st.hangs, accepted: st.accepted, disagree: st.disagree, badError: st.badError }, report).toEqual({
      crashes: 0,
      hangs: 0,
      accepted: 0,
      disagree: 0,
      badError: 0,
    });
    expect(st.corrupt, report).toBeGreaterThan(0);
    expect(summary.ok, report).toBe(true);
  }, 180_000);

  it('cli: documented exit codes agreeing with the reader, one-line errors, no stack traces or control bytes', () => {
    const { summary, report } = fuzz(['--only', 'cli', '--cli-cases', '4', '--cli-max-seed-bytes', '16384']);
    const st = summary.cli!;
    expect(st.cases, report).toBe(4);
    expect({ failures: st.failures, hangs: st.hangs }, report).toEqual({ failures: 0, hangs: 0 });
    expect(summary.ok, report).toBe(true);
  }, 180_000);

  const kvm = kvmAvailable(ROOT) as { ok: boolean; reason?: string };
  it.skipIf(!kvm.ok)(`signals: SIGTERM, SIGHUP, SIGINT leave a complete trace and exit 128+N${kvm.ok ? '' : ` [skipped: ${kvm.reason}]`}`, () => {
    // Sent while recording (counted from when record has created its output): stable however
    // loaded the machine is. Any moment from the spawn on, node's start-up included, is the
    // acceptance run's (npm run fuzz -- --acceptance).
    const { summary, report } = fuzz(['--only', 'signals', '--signals', '1', '--signal-from', 'output', '--signal-ms', '50-800']);
    const st = summary.signals!;
    expect(st.skipped, report).toBeUndefined();
    expect(st.runs, report).toBe(3);
    expect(st.failures, report).toBe(0);
    expect(summary.ok, report).toBe(true);
  }, 180_000);
});
