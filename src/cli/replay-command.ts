import { Command } from 'commander';

import { ConsoleDecoder, ConsoleWriter } from '../devices/console-output.js';
import { replayTrace } from '../replay/engine.js';
import { MODE_WORDS } from '../replay/gdb/registers.js';
import { ListenError, serveGdb } from '../replay/gdb/server.js';
import { formatDivergence, summaryLine, toJson } from '../replay/report.js';
import { openTrace } from '../trace/reader.js';
import { ReplaySession } from '../replay/session.js';
import { parseCount, parseInteger, quote, UsageError } from './parse.js';
import { Progress } from './progress.js';
import { beforeStopSignal } from '../stop-signals.js';
import { collectMem, runShow } from './show-command.js';
import { SUMMARIES } from './summaries.js';

const HELP_AFTER = `
Replay needs no KVM: the guest's image, memory layout and initial vCPU state come from the
trace header, and every value the guest read (IN, MMIO reads) comes from the trace. Each exit the
interpreter reaches is compared with the next recorded one: reason, port/address, size,
direction, data written, and the registers after the instruction (docs/exit-semantics.md).
For --step traces the full register state is compared after every instruction.

The guest's console output is reproduced on stdout; the verdict goes to stderr.

Exit codes:
  0  every record matched (also when the recording ended in a KVM emulation failure: replay
     stops at the same instruction and says so)
  1  the replay diverged: the report names the record, the fields and registers that differ
     and the last instructions executed
  2  bad usage or an unreadable trace
  3  replay stopped before an instruction whose result is nondeterministic (RDTSC, RDTSCP,
     RDMSR of the TSC, RDRAND, RDSEED): exit traces do not record it; --step traces do, and
     replay takes it from there
  N  every record matched and the guest ended through isa-debug-exit: the same status
     vmtrace record exited with, ((v << 1) | 1) & 0xff
With --to N: the exit codes of vmtrace show (0 printed, 1 diverged before record N, 2 bad
usage or N past the last record, 3 a nondeterministic instruction before it).
With --gdb: 0 when gdb kills the replay (\`kill\`) or, with --gdb-once, when its connection
ends; 130/143 on SIGINT/SIGTERM; 2 bad usage, an unreadable trace, or an address that cannot
be listened on. docs/debugging.md is the guide.

Examples:
  vmtrace replay traces/tiny_kernel.vmtrace
  vmtrace replay --json traces/grp_alu.step.vmtrace
  vmtrace replay --no-exec some.vmtrace      # console output only, no interpreter
  vmtrace replay traces/hello-64.vmtrace --to 12 --mem 0x100000:64   # the state after record 12
  vmtrace replay --gdb 1234 traces/sieve-32.vmtrace   # then: gdb guests/sieve-32.elf -ex 'target remote :1234'`;

interface Flags {
  json: boolean;
  exec: boolean;
  quiet: boolean;
  maxInstructions?: string;
  gdb?: string;
  gdbOnce: boolean;
  to?: string;
  mem: string[];
  phys: boolean;
  index?: string;
}

export function replayCommand(): Command {
  return new Command('replay')
    .description(SUMMARIES.replay)
    .argument('<trace>', 'a trace written by `vmtrace record`')
    .option('--json', 'print the result as one JSON object on stdout (console output is not printed)', false)
    .option('--no-exec', 'no interpreter: reproduce the console output from the recorded exits only')
    .option('-q, --quiet', 'do not print the guest console', false)
    .option('--max-instructions <n>', 'give up when the guest runs this many instructions without reaching the next recorded exit (default: a budget derived from the trace, docs/replay.md)')
    .option('--gdb <[host:]port>', 'serve the replay to gdb (remote protocol) on this TCP address (host default 127.0.0.1; port 0: any free one): breakpoints, watchpoints, reverse execution, monitor commands (docs/debugging.md)')
    .option('--to <n>', 'print the machine state right after record N (registers, segments, code), found through the snapshot index: as vmtrace show TRACE N')
    .option('--mem <addr:len>', 'with --to: also dump guest memory (linear address; length up to 1M); repeatable', collectMem, [])
    .option('--phys', 'with --to: --mem addresses are guest-physical', false)
    .option('--index <file>', 'with --to: the snapshot index to use and build (default TRACE.vmtidx, docs/replay.md)')
    .option('--gdb-once', 'with --gdb: end when the first gdb connection ends (default: keep listening, the replay kept where it is)', false)
    .addHelpText('after', HELP_AFTER)
    .action(async (file: string, flags: Flags, cmd: Command) => {
      if (!flags.exec && flags.maxInstructions !== undefined) parseCount(flags.maxInstructions, '--max-instructions'); // checked even when unused
      if (flags.to !== undefined) {
        if (flags.gdb !== undefined || !flags.exec) throw new UsageError(`--to: not with ${flags.gdb !== undefined ? '--gdb' : '--no-exec'}`);
        const n = parseInteger(flags.to, '--to', { expected: 'a record index ≥ 0 (decimal, or hex with 0x)' });
        cmd.setOptionValue('exitCode', await runShow(file, n, flags));
        return;
      }
      const toOnly = flags.mem.length ? '--mem' : flags.phys ? '--phys' : flags.index !== undefined ? '--index' : undefined;
      if (toOnly) throw new UsageError(`${toOnly}: only with --to N`);
      if (flags.gdb !== undefined) {
        cmd.setOptionValue('exitCode', await serveToGdb(file, parseGdbAddress(flags.gdb), flags));
        return;
      }
      if (flags.gdbOnce) throw new UsageError('--gdb-once: only with --gdb [HOST:]PORT');
      cmd.setOptionValue('exitCode', flags.exec ? await runReplay(file, flags) : await consoleOnly(file, flags));
    });
}

async function runReplay(file: string, flags: Flags): Promise<number> {
  const print = !flags.json && !flags.quiet;
  // a status line on a terminal's stderr for long replays (src/cli/progress.ts), not with --json
  const progress = new Progress(`replaying ${file.split('/').pop()}`, { enabled: flags.json ? false : undefined, bytesVerb: 'read' });
  // the console in large writes: flushed before anything goes to stderr, and on a stop signal
  const out = print
    ? new ConsoleWriter((bytes) => {
        progress.console(bytes);
        process.stdout.write(bytes);
      })
    : undefined;
  const stopSignals = out ? beforeStopSignal(() => out.close()) : () => {};
  let result;
  try {
    result = await replayTrace(file, {
      maxInstructions: flags.maxInstructions === undefined ? undefined : parseCount(flags.maxInstructions, '--max-instructions'),
      onConsole: out ? (bytes) => out.push(bytes) : undefined,
      ...(progress.enabled ? { onProgress: (p) => progress.update({ records: p.records, exits: p.exits, bytes: p.offset }) } : {}),
    });
  } finally {
    stopSignals();
    out?.close();
    progress.stop();
  }
  if (flags.json) {
    process.stdout.write(`${JSON.stringify(toJson(result, file), null, 2)}\n`);
  } else {
    // a nondeterministic instruction is not a divergence: the one-line verdict says it all
    if (!result.ok && result.divergence?.kind !== 'nondeterministic') process.stderr.write(`${formatDivergence(result, file)}\n`);
    process.stderr.write(`vmtrace: ${summaryLine(result)}\n`);
  }
  if (!result.ok) return result.divergence?.kind === 'nondeterministic' ? 3 : 1;
  // A guest that ended through isa-debug-exit replays to the same exit status `record` gave.
  return result.recordedEnd === 'guest-exit' && result.status !== undefined ? result.status & 0xff : 0;
}

/** `--gdb [HOST:]PORT`: 1234, :1234, 0.0.0.0:1234, localhost:0, [::1]:1234. */
export function parseGdbAddress(text: string): { host: string; port: number } {
  const m = /^(?:(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):)?([^:]*)$/.exec(text.trim());
  if (!m || m[3] === '') throw new UsageError(`--gdb: ${quote(text)} is not [HOST:]PORT (examples: 1234, 127.0.0.1:1234, 0.0.0.0:0, [::1]:1234)`);
  const port = parseInteger(m[3]!, '--gdb', { max: 0xffff, expected: 'a TCP port from 0 (any free one) to 65535, optionally after HOST:' });
  return { host: m[1] ?? (m[2] || '127.0.0.1'), port };
}

async function serveToGdb(file: string, at: { host: string; port: number }, flags: Flags): Promise<number> {
  if (flags.json) throw new UsageError('--gdb: not with --json (gdb shows the replay; the stub logs to stderr)');
  if (!flags.exec) throw new UsageError('--gdb: not with --no-exec (gdb needs the interpreter)');
  const trace = await openTrace(file);
  const arch = trace.header.arch;
  await trace.close();
  if (arch !== 'x86_64') throw new UsageError(`--gdb: not yet for ${arch} traces (the gdb stub serves the x86 interpreter); vmtrace replay and inspect read them`);
  const session = await ReplaySession.open(file, {
    maxInstructions: flags.maxInstructions === undefined ? undefined : parseCount(flags.maxInstructions, '--max-instructions'),
    onConsole: flags.quiet ? undefined : (bytes) => process.stdout.write(bytes),
  });
  try {
    const end = await serveGdb(session, {
      ...at,
      trace: file,
      once: flags.gdbOnce,
      describe: `${file.split('/').pop()}, ${MODE_WORDS[session.mode]}`,
      log: (line) => process.stderr.write(`vmtrace: ${line}\n`),
    });
    return end.exitCode;
  } catch (e) {
    throw e instanceof ListenError ? new UsageError(e.message) : e;
  } finally {
    await session.close();
  }
}

async function consoleOnly(file: string, flags: Flags): Promise<number> {
  const trace = await openTrace(file);
  try {
    const decoder = new ConsoleDecoder(trace.header.devices);
    const out = !flags.quiet && !flags.json ? new ConsoleWriter((bytes) => process.stdout.write(bytes)) : undefined;
    const stopSignals = out ? beforeStopSignal(() => out.close()) : () => {};
    let exits = 0;
    try {
      for await (const batch of trace.batches()) {
        for (const rec of batch) {
          if (rec.kind === 'exit') exits++;
          const bytes = decoder.bytes(rec);
          if (bytes && out) out.push(bytes);
        }
      }
    } finally {
      stopSignals();
      out?.close();
    }
    const end = trace.truncated ? 'truncated trace' : `recording ended: ${trace.footer?.endReason}`;
    if (flags.json) process.stdout.write(`${JSON.stringify({ trace: file, exits, truncated: trace.truncated, recordedEnd: trace.footer?.endReason })}\n`);
    else process.stderr.write(`vmtrace: reproduced the console of ${exits} recorded exits without executing the guest (${end})\n`);
    return 0;
  } finally {
    await trace.close();
  }
}
