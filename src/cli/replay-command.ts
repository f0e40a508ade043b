import { Command } from 'commander';

import { ConsoleDecoder } from '../devices/console-output.js';
import { replayTrace } from '../replay/engine.js';
import { formatDivergence, summaryLine, toJson } from '../replay/report.js';
import { openTrace } from '../trace/reader.js';
import { parseCount } from './parse.js';
import { Progress } from './progress.js';

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

Examples:
  vmtrace replay traces/tiny_kernel.vmtrace
  vmtrace replay --json traces/grp_alu.step.vmtrace
  vmtrace replay --no-exec some.vmtrace      # console output only, no interpreter`;

interface Flags {
  json: boolean;
  exec: boolean;
  quiet: boolean;
  maxInstructions?: string;
}

export function replayCommand(): Command {
  return new Command('replay')
    .description('re-execute a trace in the x86 interpreter (no KVM needed) and check every exit')
    .argument('<trace>', 'a trace written by `vmtrace record`')
    .option('--json', 'print the result as one JSON object on stdout (console output is not printed)', false)
    .option('--no-exec', 'no interpreter: reproduce the console output from the recorded exits only')
    .option('-q, --quiet', 'do not print the guest console', false)
    .option('--max-instructions <n>', 'give up when the guest runs this many instructions without reaching the next recorded exit (default: a budget derived from the trace, docs/replay.md)')
    .addHelpText('after', HELP_AFTER)
    .action(async (file: string, flags: Flags, cmd: Command) => {
      if (!flags.exec && flags.maxInstructions !== undefined) parseCount(flags.maxInstructions, '--max-instructions'); // checked even when unused
      cmd.setOptionValue('exitCode', flags.exec ? await runReplay(file, flags) : await consoleOnly(file, flags));
    });
}

async function runReplay(file: string, flags: Flags): Promise<number> {
  const print = !flags.json && !flags.quiet;
  // a status line on a terminal's stderr for long replays (src/cli/progress.ts), not with --json
  const progress = new Progress(`replaying ${file.split('/').pop()}`, { enabled: flags.json ? false : undefined, bytesVerb: 'read' });
  let result;
  try {
    result = await replayTrace(file, {
      maxInstructions: flags.maxInstructions === undefined ? undefined : parseCount(flags.maxInstructions, '--max-instructions'),
      onConsole: print
        ? (bytes) => {
            progress.console(bytes);
            process.stdout.write(bytes);
          }
        : undefined,
      ...(progress.enabled ? { onProgress: (p) => progress.update({ records: p.records, exits: p.exits, bytes: p.offset }) } : {}),
    });
  } finally {
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

async function consoleOnly(file: string, flags: Flags): Promise<number> {
  const trace = await openTrace(file);
  try {
    const decoder = new ConsoleDecoder(trace.header.devices);
    let exits = 0;
    for await (const batch of trace.batches()) {
      for (const rec of batch) {
        if (rec.kind === 'exit') exits++;
        const bytes = decoder.bytes(rec);
        if (bytes && !flags.quiet && !flags.json) process.stdout.write(bytes);
      }
    }
    const end = trace.truncated ? 'truncated trace' : `recording ended: ${trace.footer?.endReason}`;
    if (flags.json) process.stdout.write(`${JSON.stringify({ trace: file, exits, truncated: trace.truncated, recordedEnd: trace.footer?.endReason })}\n`);
    else process.stderr.write(`vmtrace: reproduced the console of ${exits} recorded exits without executing the guest (${end})\n`);
    return 0;
  } finally {
    await trace.close();
  }
}
