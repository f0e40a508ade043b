import { Command } from 'commander';

import { ArchMismatchError, diffTraces, formatDiff } from '../inspect/diff.js';
import { parseInteger, UsageError } from './parse.js';
import { SUMMARIES } from './summaries.js';

const HELP_AFTER = `
Compares two traces record by record: <a> is the expected trace, <b> the actual one. Compared:
guest image sha256, boot state, memory layout and devices; then per record its kind, exit
reason, IO/MMIO payload (port, size, direction, count, data / address, length, direction,
data), registers, special registers and exit detail; then the footer (how the run ended,
counts, final registers) and whether both traces are complete. Registers go by the trace's
architecture: x86_64 rax…rip, cr0…, segments; aarch64 x0…x30, sp_el0, sp_el1, pc, pstate and
the EL1 system registers. Traces of two architectures are refused.

Every difference is either behaviour (the guest did something else: a failure) or
host-dependent: host facts, recording date, tool version, CPUID table, CPU choice and host
model in the header; host timestamps; RFLAGS bits that were architecturally undefined at that
record (found by replaying <a>). Host-dependent differences are shown in their own section and
counted, but are not failures unless --exact (every difference fails), --host (host facts) or
--timestamps (timestamps, then also listed record by record) says so.

Prints "identical (N exits)", "identical but for host-dependent differences", or the first
failing divergence (record index, each differing field with expected and actual value,
registers that differ, a few records of context from both traces) and a summary of all
differences by kind. Both traces are streamed in lockstep: memory stays flat however long
they are.

Exit codes: 0 no failing difference (host-dependent ones only, unless --exact), 1 different,
2 bad usage or a file that is not a readable trace.

Examples:
  vmtrace diff golden.vmtrace new.vmtrace
  vmtrace diff --exact golden.vmtrace other-host.vmtrace
  vmtrace diff a.vmtrace b.vmtrace --json | jq .first`;

interface Flags {
  timestamps: boolean;
  host: boolean;
  exact: boolean;
  json: boolean;
  context: string;
}

export function diffCommand(): Command {
  return new Command('diff')
    .description(SUMMARIES.diff)
    .argument('<a>', 'expected trace')
    .argument('<b>', 'actual trace')
    .option('--exact', 'every difference fails, host-dependent ones (host facts, timestamps, undefined flags) too', false)
    .option('--timestamps', 'list records whose host timestamps (timeNs, runNs) differ, as failures', false)
    .option('--host', 'host facts, recording date, tool version, CPUID, host model differences fail', false)
    .option('--context <n>', 'records of context around the first divergence', '3')
    .option('--json', 'print the result as one JSON object (docs/inspect.md)', false)
    .addHelpText('after', HELP_AFTER)
    .action(async (a: string, b: string, flags: Flags, cmd: Command) => {
      const context = parseInteger(flags.context, '--context', { max: 1000 });
      const result = await diffTraces(a, b, { timestamps: flags.timestamps, host: flags.host, exact: flags.exact, context }).catch((e: unknown) => {
        // two architectures: a wrong pair of files given, as bad usage is (exit 2)
        throw e instanceof ArchMismatchError ? new UsageError(e.message) : e;
      });
      process.stdout.write(flags.json ? JSON.stringify({ schema: 'vmtrace-diff/1', ...result }, null, 2) + '\n' : formatDiff(result));
      cmd.setOptionValue('exitCode', result.identical ? 0 : 1);
    });
}
