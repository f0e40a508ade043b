import { Command } from 'commander';

import { diffTraces, formatDiff } from '../inspect/diff.js';
import { parseInteger } from './parse.js';

const HELP_AFTER = `
Compares two traces record by record: <a> is the expected trace, <b> the actual one. Compared:
guest image sha256, boot state, memory layout and devices; then per record its kind, exit
reason, IO/MMIO payload (port, size, direction, count, data / address, length, direction,
data), registers, special registers and exit detail; then the footer (how the run ended,
counts, final registers) and whether both traces are complete.
Ignored unless asked for: host timestamps (--timestamps) and host facts, recording date,
tool version, CPUID table (--host).

Prints "identical (N exits)", or the first divergence (record index, each differing field
with expected and actual value, registers that differ, a few records of context from both
traces) and a summary of all differences by kind. Both traces are streamed in lockstep:
memory stays flat however long they are.

Exit codes: 0 identical, 1 different, 2 bad usage or a file that is not a readable trace.

Examples:
  vmtrace diff golden.vmtrace new.vmtrace
  vmtrace diff a.vmtrace b.vmtrace --json | jq .first`;

interface Flags {
  timestamps: boolean;
  host: boolean;
  json: boolean;
  context: string;
}

export function diffCommand(): Command {
  return new Command('diff')
    .description('compare two traces record by record; show the first divergence')
    .argument('<a>', 'expected trace')
    .argument('<b>', 'actual trace')
    .option('--timestamps', 'also compare host timestamps (timeNs, runNs)', false)
    .option('--host', 'also compare host facts, recording date, tool version and CPUID', false)
    .option('--context <n>', 'records of context around the first divergence', '3')
    .option('--json', 'print the result as one JSON object (docs/inspect.md)', false)
    .addHelpText('after', HELP_AFTER)
    .action(async (a: string, b: string, flags: Flags, cmd: Command) => {
      const context = parseInteger(flags.context, '--context');
      const result = await diffTraces(a, b, { timestamps: flags.timestamps, host: flags.host, context });
      process.stdout.write(flags.json ? JSON.stringify({ schema: 'vmtrace-diff/1', ...result }, null, 2) + '\n' : formatDiff(result));
      cmd.setOptionValue('exitCode', result.identical ? 0 : 1);
    });
}
