import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';

import {
  checkGolden,
  findGoldens,
  formatGoldenLine,
  formatGoldenReport,
  formatSummaryLine,
  GOLDEN_SCHEMA,
  GoldenError,
  goldenJson,
  lineLayout,
  probeKvm,
  selectGoldens,
  summarizeResults,
  updateGolden,
  type GoldenProgress,
  type GoldenResult,
} from '../golden/index.js';
import { safeLines } from '../text/sanitize.js';
import { Progress } from './progress.js';
import { parseSeconds, UsageError } from './parse.js';
import { handleStopSignals, signalExitCode, type StopFlag } from './signals.js';
import { SUMMARIES } from './summaries.js';

const HELP_AFTER = `
Golden traces are the committed traces/<guest>.vmtrace (plain) and traces/<guest>.step.vmtrace
(--step) recordings of guests/<guest>.bin; a trace is paired with the image its header names.
For each golden:
  with KVM     the guest is recorded afresh with exactly the golden's recorded options (memory,
               load address, entry, input bytes, --step, …) and the new trace is diffed against
               the golden (host timestamps and host facts ignored, as in vmtrace diff); the
               golden is also replayed in the interpreter, so it must stay replayable.
  without KVM  the golden is replayed in the interpreter only (the first line says why recording
               is skipped), and a guest image that changed since the golden was recorded fails.
A recording that ended in a KVM emulation failure is a valid golden: the fresh one must end the
same way.

Host-dependent differences between the golden and the fresh recording (host facts, CPUID table,
host model, recording date, timestamps, RFLAGS bits that were architecturally undefined) do not
fail a golden: its line notes them (the recording times aside, which always differ). --exact makes
every difference a failure.

Prints one line per golden (PASS/FAIL, exits, timings), the diff or divergence report of each
failure, and a summary line.

--update re-records the goldens (needs KVM): each new trace is written to
traces/.<name>.tmp-<pid> and renamed over the golden only when it differs ("updated"); an
identical one is discarded and the golden left untouched ("unchanged"). The updated golden is
then replayed (skip with --no-replay).

Names select goldens by name (tiny_kernel, grp_alu.step, traces/grp_alu.step.vmtrace) or, when
no golden has that name, by guest (grp_alu, tiny_kernel.bin: all its goldens).

Ctrl-C (SIGINT), SIGTERM or SIGHUP stops the current recording cleanly (its golden fails, none
is rewritten) and starts no more; a second signal exits at once.

Exit codes: 0 every golden passed (or was updated/unchanged and replays), 1 a golden failed,
2 bad usage (unknown name, no traces/ directory, --update without KVM, bad --timeout),
130/143/129 stopped by SIGINT/SIGTERM/SIGHUP.

Examples:
  vmtrace test
  vmtrace test tiny_kernel grp_alu.step
  vmtrace test --exact grp_muldiv.step
  vmtrace test --update tiny_kernel
  vmtrace test --json | jq -c 'select(.type == "golden") | [.name, .status]'`;

interface Flags {
  update: boolean;
  root: string;
  json: boolean;
  record: boolean;
  replay: boolean;
  timeout: string;
  exact: boolean;
}

export function testCommand(): Command {
  return new Command('test')
    .description(SUMMARIES.test)
    .argument('[names...]', 'goldens to check (name or guest); default: all')
    .option('--update', 're-record the goldens and rewrite those that changed (needs KVM)', false)
    .option('--root <dir>', 'project directory holding guests/ and traces/', '.')
    .option('--json', 'NDJSON: one object per golden, then a summary object (docs/golden.md)', false)
    .option('--no-record', 'do not record, even where KVM is available: replay the goldens only')
    .option('--no-replay', 'do not replay the goldens in the interpreter (record and diff only)')
    .option('--timeout <seconds>', 'give up on a recording after this long (its golden fails)', '60')
    .option('--exact', 'host-dependent differences (host facts, timestamps, undefined flags) fail a golden too', false)
    .addHelpText('after', HELP_AFTER)
    .action(async (names: string[], flags: Flags, cmd: Command) => {
      cmd.setOptionValue('exitCode', await runTest(names, flags));
    });
}

async function runTest(names: string[], flags: Flags): Promise<number> {
  const started = performance.now();
  const timeoutMs = parseSeconds(flags.timeout, '--timeout');
  if (flags.update && !flags.record) throw new UsageError('--update records the goldens afresh: it cannot be combined with --no-record');
  if (!flags.record && !flags.replay) throw new UsageError('--no-record and --no-replay leave nothing to check');

  let goldens;
  let set;
  try {
    set = await findGoldens(flags.root);
    goldens = selectGoldens(set, names);
  } catch (e) {
    if (e instanceof GoldenError) throw new UsageError(e.message);
    throw e;
  }
  if (goldens.length === 0) {
    throw new UsageError(`no golden traces under ${join(flags.root, 'traces')} (record one: vmtrace record --no-timestamps guests/<guest>.bin -o traces/<guest>.vmtrace)`);
  }

  const kvm = flags.record ? probeKvm() : { available: false, reason: 'recording disabled by --no-record' };
  if (flags.update && !kvm.available) throw new UsageError(`--update needs KVM to re-record the goldens: ${kvm.reason}`);
  if (!kvm.available && !flags.replay) throw new UsageError(`--no-replay leaves nothing to check here: recording is not possible (${kvm.reason})`);
  const how = flags.update
    ? flags.replay
      ? 're-recorded, then replayed'
      : 're-recorded'
    : kvm.available
      ? flags.replay
        ? 'recorded+diffed and replayed'
        : 'recorded+diffed'
      : 'replayed only';

  // A reader that goes away (`| head`) just ends the output; the goldens are still checked.
  let closed = false;
  process.stdout.on('error', () => {
    closed = true;
  });
  // a status line per golden on a terminal's stderr (src/cli/progress.ts), not with --json
  const progress = new Progress('testing', { enabled: flags.json ? false : undefined });
  // text lines and reports carry trace strings (names, messages): control characters escaped
  const out = (s: string) => {
    progress.clear();
    if (!closed) process.stdout.write((flags.json ? s : safeLines(s)) + '\n');
  };
  if (!flags.json) {
    if (!kvm.available && flags.record) out(`recording skipped: ${kvm.reason}; replaying the goldens only`);
    else if (!flags.record) out('recording skipped (--no-record): replaying the goldens only');
  }

  // Ctrl-C, SIGTERM, SIGHUP: the current recording stops (its golden fails, none is rewritten)
  // and no more start; a second signal exits at once.
  const signal: StopFlag = { stop: false };
  const removeHandlers = handleStopSignals(signal, () => {
    progress.stop(); // exiting at once: leave no status line behind
    return undefined;
  });

  const workDir = flags.update || !kvm.available ? undefined : mkdtempSync(join(tmpdir(), 'vmtrace-fresh-'));
  const layout = lineLayout(goldens, flags.update);
  const results: GoldenResult[] = [];
  try {
    for (const golden of goldens) {
      if (signal.stop) break;
      let phase = '';
      const onProgress: GoldenProgress | undefined = progress.enabled
        ? (p) => {
            if (p.phase !== phase) progress.restart(`${golden.name}: ${(phase = p.phase) === 'record' ? 'recording' : phase === 'diff' ? 'diffing' : 'replaying'}`);
            progress.update({ records: p.records, ...(p.exits !== undefined ? { exits: p.exits } : {}), ...(p.bytes !== undefined ? { bytes: p.bytes } : {}) });
          }
        : undefined;
      const r = flags.update
        ? await updateGolden(golden, { replay: flags.replay, timeoutMs, signal, ...(onProgress ? { onProgress } : {}) })
        : await checkGolden(golden, { kvm: kvm.available, replay: flags.replay, workDir, timeoutMs, signal, exact: flags.exact, ...(onProgress ? { onProgress } : {}) });
      results.push(r);
      out(flags.json ? JSON.stringify(goldenJson(r)) : formatGoldenLine(r, layout));
    }
  } finally {
    progress.stop();
    removeHandlers();
    if (workDir && existsSync(workDir) && readdirSync(workDir).length === 0) rmSync(workDir, { recursive: true, force: true });
  }

  const summary = summarizeResults(results, performance.now() - started);
  /** Goldens that passed with host-dependent differences (other than recording times). */
  const hostNoted = results.filter((r) => r.record?.identical && r.record.hostNote);
  if (flags.json) {
    out(
      JSON.stringify({
        schema: GOLDEN_SCHEMA,
        type: 'summary',
        root: flags.root,
        update: flags.update,
        exact: flags.exact,
        hostDependent: hostNoted.length,
        recorded: kvm.available,
        replayed: flags.replay,
        kvm: { available: kvm.available, reason: kvm.available ? null : kvm.reason },
        ...summary,
        ms: Math.round(summary.ms * 100) / 100,
        interrupted: signal.stop,
        unpaired: set.unpaired,
        guestsWithoutGolden: set.guestsWithoutGolden,
      }),
    );
  } else {
    const reports = results.map(formatGoldenReport).filter(Boolean);
    if (reports.length) out('\n' + reports.join('\n\n'));
    out('');
    for (const u of set.unpaired) out(`note: ${u.trace} not checked: ${u.reason}`);
    if (set.guestsWithoutGolden.length && names.length === 0) {
      out(`note: no golden for ${set.guestsWithoutGolden.join(', ')} (record one: vmtrace record --no-timestamps guests/<guest>.bin -q -o traces/<guest>.vmtrace)`);
    }
    if (hostNoted.length) {
      out(`note: ${hostNoted.length} golden${hostNoted.length === 1 ? '' : 's'} differ from ${hostNoted.length === 1 ? 'its' : 'their'} fresh recording in host-dependent ways only (not failures; --exact makes them failures): ${hostNoted.map((r) => r.golden.name).join(', ')}`);
    }
    if (signal.stop) out(`interrupted${signal.name ? ` by ${signal.name}` : ''} after ${results.length} of ${goldens.length} goldens`);
    out(formatSummaryLine(summary, flags.update, how));
  }
  if (signal.stop) return signalExitCode(signal.name ?? 'SIGINT');
  return summary.failed ? 1 : 0;
}
