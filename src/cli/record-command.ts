import { readFileSync } from 'node:fs';
import { Command, Option } from 'commander';

import { KvmUnavailableError } from '../record/kvm.js';
import { defaultTraceName, record, RECORD_EXIT_CODES, summarize } from '../record/recorder.js';
import { parseEntry, parseInteger, parseSize, UsageError } from './parse.js';

const HELP_AFTER = `
The guest is a flat binary loaded at --load (default 0) and started in real mode at --entry
(default CS=0, IP=load address), exactly like the classic tiny KVM demo. Its console is port
0xf1: OUT prints a byte to stdout, IN reads the next byte of --input (0 when exhausted).
Every vCPU exit is written to the trace with full registers (docs/trace-format.md).

Exit codes:
  0    the guest halted (HLT)
  1    the guest ended abnormally (triple fault, KVM entry failure or internal error)
  2    bad usage or input (missing image, bad option value)
  3    KVM is not available here (no /dev/kvm, no permission, addon not built)
  4    a limit stopped the run (--max-exits, --timeout); the trace is complete
  130  stopped by Ctrl-C; the trace is complete up to that point

Examples:
  vmtrace record guests/tiny_kernel.bin
  echo -n 'hi' | vmtrace record guests/echo.bin --input -
  vmtrace record guests/tiny_kernel.bin --step -o /tmp/tiny-step.vmtrace`;

interface Flags {
  output?: string;
  mem: string;
  load: string;
  entry?: string;
  input?: string;
  consolePort: string;
  maxExits?: string;
  timeout?: string;
  step: boolean;
  quiet: boolean;
}

export function recordCommand(): Command {
  return new Command('record')
    .description('run a guest image under KVM and write every vCPU exit to a trace')
    .argument('<image>', 'flat binary guest image (e.g. guests/tiny_kernel.bin)')
    .option('-o, --output <file>', 'trace file to write (default: <image name>.vmtrace in the current directory)')
    .option('-m, --mem <size>', 'guest RAM at physical 0 (K/M/G suffixes)', '1M')
    .option('--load <addr>', 'guest-physical address to load the image at', '0')
    .option('--entry <cs:ip>', 'real-mode entry point, hex (default: 0000:<load address>)')
    .option('-i, --input <file>', "bytes the guest reads with IN from the console port ('-' for stdin)")
    .option('--console-port <port>', 'console IO port', '0xf1')
    .option('--max-exits <n>', 'stop after this many exits (records)')
    .option('--timeout <seconds>', 'stop after this much wall time')
    .addOption(new Option('--step', 'single-step: one record per instruction, registers after it').default(false))
    .option('-q, --quiet', 'do not print the guest console to stdout', false)
    .addHelpText('after', HELP_AFTER)
    .action(async (imagePath: string, flags: Flags, cmd: Command) => {
      cmd.setOptionValue('exitCode', await runRecord(imagePath, flags));
    });
}

function readInput(what: string, path: string): Uint8Array {
  try {
    return readFileSync(path === '-' ? 0 : path);
  } catch (e) {
    throw new UsageError(`${what} ${path}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
  }
}

async function runRecord(imagePath: string, flags: Flags): Promise<number> {
  const image = readInput('image', imagePath);
  if (image.length === 0) throw new UsageError(`image ${imagePath} is empty`);
  const loadAddress = parseInteger(flags.load, '--load');
  const entry = flags.entry ? parseEntry(flags.entry) : { cs: 0, ip: loadAddress };
  if (!flags.entry && loadAddress > 0xffff) throw new UsageError('--load above 0xffff needs an explicit --entry CS:IP');
  const signal = { stop: false };
  const onSigint = () => {
    if (signal.stop) process.exit(130); // a second Ctrl-C does not wait
    signal.stop = true;
  };
  process.on('SIGINT', onSigint);
  try {
    const result = await record({
      image,
      imageName: imagePath.split('/').pop()!,
      output: flags.output ?? defaultTraceName(imagePath),
      memBytes: parseSize(flags.mem, '--mem'),
      loadAddress,
      entry,
      input: flags.input ? readInput('--input', flags.input) : new Uint8Array(0),
      consolePort: parseInteger(flags.consolePort, '--console-port'),
      maxExits: flags.maxExits ? parseInteger(flags.maxExits, '--max-exits') : Infinity,
      timeoutMs: flags.timeout ? Number(flags.timeout) * 1000 : Infinity,
      singleStep: flags.step,
      quiet: flags.quiet,
      signal,
    });
    const code = RECORD_EXIT_CODES[result.endReason];
    process.stderr.write(`vmtrace: ${result.message}\n`);
    process.stderr.write(`vmtrace: ${summarize(result)} -> ${result.output}\n`);
    return code;
  } catch (e) {
    if (e instanceof RangeError) throw new UsageError(e.message);
    if (e instanceof KvmUnavailableError) throw e;
    throw e;
  } finally {
    process.off('SIGINT', onSigint);
  }
}
