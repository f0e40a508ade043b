import { Command } from 'commander';

import { oneLine } from '../text/sanitize.js';
import { TraceError } from '../trace/reader.js';
import { verifyTrace, type VerifyResult } from '../trace/verify.js';
import { SUMMARIES } from './summaries.js';

const HELP_AFTER = `
Reads each trace end to end and checks what the format lets a reader check, without replaying
it: the magic bytes, every header field, the guest image against its sha256, the checksums
of every frame (format 2: every byte of the file is covered), every record, consecutive
sequence numbers, and the footer's record and exit counts. A trace is one of:

  valid      complete: it ends with its footer
  truncated  valid up to where the file ends (a recording killed before its footer); every
             record before the cut is readable
  corrupt    a byte changed, frames missing, repeated or out of order, bad fields: the line
             names the file, the byte offset and what is wrong

1.x traces have no checksums: their structure is checked, a changed byte may go unnoticed.
To check what the guest did against the interpreter, use vmtrace replay.

Exit codes: 0 every trace valid, 1 some trace truncated (none corrupt), 2 some trace corrupt
or unreadable, or bad usage.

Examples:
  vmtrace verify run.vmtrace
  vmtrace verify traces/*.vmtrace --json`;

interface Flags {
  json: boolean;
}

function line(r: VerifyResult): string {
  const what = `${r.records} records (${r.exits} exits), ${r.bytes} bytes, format ${r.format}${r.checksums ? '' : ' (no checksums)'}`;
  if (r.complete) return `${oneLine(r.file)}: valid: ${what}, ended: ${oneLine(String(r.endReason))}`;
  const at = r.truncatedAt === undefined ? 'at a frame boundary' : `at byte offset ${r.truncatedAt}`;
  return `${oneLine(r.file)}: truncated ${at}: ${what} readable, no footer`;
}

export function verifyCommand(): Command {
  return new Command('verify')
    .description(SUMMARIES.verify)
    .argument('<trace...>', 'trace files')
    .option('--json', 'print one JSON object per trace (NDJSON; docs/cli.md)', false)
    .addHelpText('after', HELP_AFTER)
    .action(async (files: string[], flags: Flags, cmd: Command) => {
      let code = 0;
      for (const file of files) {
        try {
          const r = await verifyTrace(file);
          process.stdout.write(flags.json ? JSON.stringify({ schema: 'vmtrace-verify/1', status: r.complete ? 'valid' : 'truncated', ...r }) + '\n' : line(r) + '\n');
          if (!r.complete) code = Math.max(code, 1);
        } catch (e) {
          if (!(e instanceof TraceError)) throw e;
          if (flags.json) process.stdout.write(JSON.stringify({ schema: 'vmtrace-verify/1', status: 'corrupt', file, offset: e.offset, problem: e.problem }) + '\n');
          else process.stderr.write(`vmtrace: ${oneLine(e.message)}\n`);
          code = 2;
        }
      }
      cmd.setOptionValue('exitCode', code);
    });
}
