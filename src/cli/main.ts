// vmtrace command line: record, replay, inspect, diff, verify, test (loaded by src/cli.ts).
// Each subcommand's module (and the replay, record or inspect code behind it) is imported only
// when that subcommand runs: `vmtrace --version` and `vmtrace --help` load none of them.
import { Command, CommanderError } from 'commander';

import { UsageError } from './parse.js';
import { SUMMARIES } from './summaries.js';
import { releaseEarlySignals, stdoutClosed } from './signals.js';
import { VERSION } from '../version.js';
import { safeLines } from '../text/sanitize.js';

/** Exit codes shared by every command (docs/cli.md). */
export const EXIT_USAGE = 2;
export const EXIT_NO_KVM = 3;

/**
 * The subcommands in `--help` order. `term` (name, options, arguments) is the command's own,
 * repeated here so that the top-level help needs no module (test/cli/lazy-commands.test.ts keeps
 * them equal); `summary` is the command's `.description()` (src/cli/summaries.ts).
 */
const COMMANDS: { name: string; term: string; summary: string; load: () => Promise<Command> }[] = [
  { name: 'record', term: 'record [options] <image>', summary: SUMMARIES.record, load: async () => (await import('./record-command.js')).recordCommand() },
  { name: 'replay', term: 'replay [options] <trace>', summary: SUMMARIES.replay, load: async () => (await import('./replay-command.js')).replayCommand() },
  { name: 'show', term: 'show [options] <trace> <n>', summary: SUMMARIES.show, load: async () => (await import('./show-command.js')).showCommand() },
  { name: 'inspect', term: 'inspect [options] <trace>', summary: SUMMARIES.inspect, load: async () => (await import('./inspect-command.js')).inspectCommand() },
  { name: 'diff', term: 'diff [options] <a> <b>', summary: SUMMARIES.diff, load: async () => (await import('./diff-command.js')).diffCommand() },
  { name: 'verify', term: 'verify [options] <trace...>', summary: SUMMARIES.verify, load: async () => (await import('./verify-command.js')).verifyCommand() },
  { name: 'test', term: 'test [options] [names...]', summary: SUMMARIES.test, load: async () => (await import('./test-command.js')).testCommand() },
];

/** The subcommand this command line runs (`vmtrace help X` shows X's help), if any. */
function wanted(argv: string[]): string | undefined {
  const [first, second] = argv.slice(2);
  return first === 'help' ? second : first;
}

async function main(argv: string[]): Promise<number> {
  const program = new Command('vmtrace')
    .description('Record every vCPU exit of a tiny KVM guest, replay it without KVM, inspect and diff traces.')
    .version(VERSION)
    .exitOverride()
    .configureOutput({ outputError: (str, write) => write(`vmtrace: ${str.replace(/^error: /, '')}`) })
    .showHelpAfterError('(run with --help for usage)')
    .configureHelp({ subcommandTerm: (cmd) => COMMANDS.find((c) => c.name === cmd.name())?.term ?? cmd.name() });
  const run = wanted(argv);
  for (const c of COMMANDS) {
    // Only the command that runs is loaded; the others are listed by name and summary.
    const cmd = c.name === run ? await c.load() : new Command(c.name).description(c.summary);
    program.addCommand(cmd.exitOverride());
  }
  try {
    await program.parseAsync(argv);
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : EXIT_USAGE;
    return reportError(e);
  }
  const sub = program.commands.find((c) => c.getOptionValue('exitCode') !== undefined);
  return (sub?.getOptionValue('exitCode') as number | undefined) ?? 0;
}

async function reportError(e: unknown): Promise<number> {
  // a message may quote the trace or the image (a corrupt field, a name): control characters escaped
  const message = safeLines(e instanceof Error ? e.message : String(e));
  process.stderr.write(`vmtrace: ${message}\n`);
  // The command that threw has loaded these modules already.
  const [{ TraceError }, { KvmUnavailableError }] = await Promise.all([import('../trace/reader.js'), import('../record/kvm.js')]);
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
