// vmtrace command line: record, replay, inspect, diff, verify, test (loaded by src/cli.ts).
import { Command, CommanderError } from 'commander';

import { diffCommand } from './diff-command.js';
import { inspectCommand } from './inspect-command.js';
import { recordCommand } from './record-command.js';
import { replayCommand } from './replay-command.js';
import { showCommand } from './show-command.js';
import { testCommand } from './test-command.js';
import { verifyCommand } from './verify-command.js';
import { UsageError } from './parse.js';
import { releaseEarlySignals, stdoutClosed } from './signals.js';
import { KvmUnavailableError } from '../record/kvm.js';
import { TraceError } from '../trace/reader.js';
import { VERSION } from '../version.js';
import { safeLines } from '../text/sanitize.js';

/** Exit codes shared by every command (docs/cli.md). */
export const EXIT_USAGE = 2;
export const EXIT_NO_KVM = 3;

async function main(argv: string[]): Promise<number> {
  const program = new Command('vmtrace')
    .description('Record every vCPU exit of a tiny KVM guest, replay it without KVM, inspect and diff traces.')
    .version(VERSION)
    .exitOverride()
    .configureOutput({ outputError: (str, write) => write(`vmtrace: ${str.replace(/^error: /, '')}`) })
    .showHelpAfterError('(run with --help for usage)');
  for (const cmd of [recordCommand(), replayCommand(), showCommand(), inspectCommand(), diffCommand(), verifyCommand(), testCommand()]) program.addCommand(cmd.exitOverride());
  try {
    await program.parseAsync(argv);
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : EXIT_USAGE;
    return reportError(e);
  }
  const sub = program.commands.find((c) => c.getOptionValue('exitCode') !== undefined);
  return (sub?.getOptionValue('exitCode') as number | undefined) ?? 0;
}

function reportError(e: unknown): number {
  // a message may quote the trace or the image (a corrupt field, a name): control characters escaped
  const message = safeLines(e instanceof Error ? e.message : String(e));
  process.stderr.write(`vmtrace: ${message}\n`);
  if (e instanceof UsageError || e instanceof TraceError) return EXIT_USAGE;
  if (e instanceof KvmUnavailableError) return EXIT_NO_KVM;
  if (process.env.VMTRACE_DEBUG && e instanceof Error) process.stderr.write(`${e.stack}\n`);
  return 1;
}

// `vmtrace … | head` closes stdout early: that is the reader's choice, not an error. A running
// recording stops cleanly (footer, trace moved into place) instead of exiting on the spot.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code !== 'EPIPE' && e.code !== 'ERR_STREAM_DESTROYED') throw e;
  if (stdoutClosed()) return;
  process.exit(process.exitCode ?? 0);
});
// Only record and test stop cleanly on a signal; the others end the default way (128 + n).
if (!['record', 'test'].includes(process.argv[2] ?? '')) releaseEarlySignals();
process.exitCode = await main(process.argv);
