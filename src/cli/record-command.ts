import { closeSync, constants, fstatSync, openSync, readSync, statSync } from 'node:fs';
import { Command, Option } from 'commander';

import { planA64Boot, type A64BootPlan } from '../arch/aarch64/boot.js';
import { a64RecordExitCode, recordA64 } from '../arch/aarch64/record/recorder.js';
import type { ArchName } from '../arch/index.js';
import { CPU_MODEL_NAME, CpuModelError, loadCpuModelFile } from '../boot/cpu-model.js';
import { MAX_MEM, type BootPlan } from '../boot/profiles.js';
import { ImageError } from '../image/errors.js';
import { detectImage, readImageFile } from '../image/load.js';
import { DeviceSpecError, parseDeviceList, parseDeviceSpec, resolveDevices, type DeviceSpec } from '../record/devices/catalog.js';
import { StdoutSink } from '../record/devices/console.js';
import { KvmUnavailableError } from '../record/kvm.js';
import { GuestMemoryError } from '../record/machine.js';
import { OutputError } from '../record/output.js';
import { defaultTraceName, prepareBoot, record, recordExitCode, summarize, type CpuOption } from '../record/recorder.js';
import { DEFAULT_STALL_MS } from '../record/vcpu-loop.js';
import type { BootMode } from '../trace/format.js';
import { refuseOutputIsInput } from './files.js';
import { parseCount, parseEntry, parseInteger, parsePort, parseSeconds, parseSize, quote, UsageError } from './parse.js';
import { Progress } from './progress.js';
import { handleStopSignals, stopOnStdoutClosed, type StopFlag } from './signals.js';
import { SUMMARIES } from './summaries.js';

const HELP_AFTER = `
The image is a flat binary, an ELF32/ELF64 executable or a multiboot (v1) kernel; --mode auto
(the default) boots ELF64 in long mode, ELF32 and multiboot kernels in 32-bit protected mode, and
anything else as a flat binary in real mode, exactly like the classic tiny KVM demo (loaded at
--load, default 0, started at --entry CS:IP, default 0000:<load>). In protected and long mode
vmtrace builds a flat GDT, a TSS and (long mode) identity-mapped page tables; multiboot kernels get
EAX=0x2BADB002 and EBX -> a multiboot information block (memory map: docs/guests.md).
Every vCPU exit is written to the trace with full registers (docs/trace-format.md).
AArch64 guests (--arch aarch64, or an AArch64 ELF; recording needs an arm64 host with /dev/kvm)
boot at EL1 on QEMU virt's map: RAM at 0x40000000, a PL011 UART at 0x09000000, an exit-status
register at 0x09100000, PSCI SYSTEM_OFF ends the run (docs/arm64.md).

Devices (docs/devices.md), default set: console@0xf1 debugcon@0xe9 uart16550@0x3f8 input@0xf2
isa-debug-exit@0xf4 acpi-poweroff@0x604.
  console         OUT prints a byte, IN reads the next --input byte (0 when exhausted)
  debugcon        Bochs/QEMU port 0xe9: OUT prints, IN reads 0xe9
  uart16550       COM1: THR prints, LSR says the transmitter is empty, RBR reads --input
  input           IN base: next --input byte; IN base+1: 1 while bytes remain
  isa-debug-exit  a write of v ends the run with status (v << 1) | 1 (the exit code)
  acpi-poweroff   writing 0x2000 (SLP_EN) powers off: the run ends, exit code 0
Unclaimed ports and MMIO addresses read as all ones and ignore writes (--strict: an error).

CPU (--cpu, docs/exit-semantics.md "The virtual CPU"): the guest sees a fixed virtual CPU,
"${CPU_MODEL_NAME}": the host's vendor string, family 15 model 6, brand "vmtrace virtual CPU", the
x86-64 baseline features plus CX16, LAHF, SYSCALL, NX and LM, 36-bit physical addresses, no
hypervisor leaves. Its CPUID is the same on every host of a vendor, so traces compare across hosts.
  builtin         that model (the default)
  host            whatever this host's KVM supports, passed through (traces then differ per host)
  FILE.json       {"name": "...", "entries": [{"function": "0x1", "index": 0, "flags": 0,
                  "eax": ..., "ebx": ..., "ecx": ..., "edx": ...}, ...]} given to KVM as they are
The trace header stores the entries given to KVM (boot.cpuid) and the choice (cpu).

The trace is written to <output>.<pid>.partial next to the output and renamed over it when
complete (also after Ctrl-C, --timeout or an error the footer records); if vmtrace itself is
killed (SIGKILL) the .partial file stays, readable up to its last complete record.
When the guest makes no exit for 5 s, one line on stderr says so (it may be spinning without
I/O); the run goes on until Ctrl-C, --timeout or the guest ends it.

Exit codes:
  0    the guest halted (HLT) or powered off
  1    the guest ended abnormally (triple fault, KVM entry failure or internal error, --strict)
  2    bad usage or input (missing, malformed or oversized image, bad option value, an output
       that cannot be written or that is one of the inputs, guest RAM that cannot be allocated)
  3    KVM is not available here (no /dev/kvm, no permission, addon not built)
  4    a limit stopped the run (--max-exits, --timeout); the trace is complete
  130  stopped by Ctrl-C (SIGINT); the trace is complete up to that point
  143  stopped by SIGTERM, 129 by SIGHUP (likewise complete); a second signal exits at once
  N    the guest wrote v to isa-debug-exit: N = ((v << 1) | 1) & 0xff

Examples:
  vmtrace record guests/tiny_kernel.bin
  echo -n 'hi' | vmtrace record guests/echo.bin --input -
  vmtrace record guests/tiny_kernel.bin --step -o /tmp/tiny-step.vmtrace
  vmtrace record guests/grp_misc.bin --cpu host
  vmtrace record guests/sieve-64.elf
  vmtrace record --mode protected guests/crc32-32.elf --devices debugcon,exit --strict
  vmtrace record kernel.bin --mode protected --load 0x100000 --entry 0x100000`;

interface Flags {
  output?: string;
  arch?: string;
  mode: string;
  mem?: string;
  load?: string;
  entry?: string;
  entrySymbol?: string;
  input?: string;
  devices?: string;
  device?: string[];
  without?: string[];
  consolePort?: string;
  strict: boolean;
  maxExits?: string;
  timeout?: string;
  step: boolean;
  timestamps: boolean;
  quiet: boolean;
  cpu: string;
}

const collect = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value];

export function recordCommand(): Command {
  return new Command('record')
    .description(SUMMARIES.record)
    .argument('<image>', 'guest image: flat binary, ELF32/ELF64 or multiboot kernel (e.g. guests/tiny_kernel.bin)')
    .option('-o, --output <file>', 'trace file to write (default: <image name>.vmtrace in the current directory)')
    .addOption(new Option('--arch <arch>', "the guest's architecture (default: an ELF image's e_machine, else this host's)").choices(['x86_64', 'aarch64']))
    .addOption(new Option('--mode <mode>', 'CPU mode at entry').choices(['auto', 'real', 'protected', 'long']).default('auto'))
    .option('-m, --mem <size>', 'guest RAM at physical 0, K/M/G suffixes (default: 1M in real mode, 16M otherwise, more if the image needs it)')
    .option('--load <addr>', 'flat images: guest-physical load address (default: 0 in real mode, 0x100000 otherwise)')
    .option('--entry <addr>', 'entry point: CS:IP in hex in real mode (default 0000:<load>), a linear address otherwise (default: the image\'s)')
    .option('--entry-symbol <name>', 'ELF images: start at this .symtab symbol')
    .option('-i, --input <file>', "bytes the guest reads from the console, UART and input ports ('-' for stdin)")
    .option('--devices <list>', 'the devices to attach, comma-separated NAME[@PORT] (or none); default: the set below')
    .option('--device <name@port>', 'attach NAME at PORT, or move it there (repeatable)', collect)
    .option('--without <name>', 'do not attach NAME (repeatable)', collect)
    .option('--console-port <port>', 'the console device\'s port (same as --device console@PORT)')
    .option('--strict', 'an access to an unclaimed port or MMIO address ends the run with an error', false)
    .option('--max-exits <n>', 'stop after this many exits (records)')
    .option('--timeout <seconds>', 'stop after this much wall time')
    .addOption(new Option('--step', 'single-step: one record per instruction, registers after it').default(false))
    .option('--no-timestamps', 'store no host times (goldens: smaller, and the same on every run); readers show 0')
    .option('--cpu <model>', `the guest's CPUID: builtin (vmtrace's fixed virtual CPU, ${CPU_MODEL_NAME}), host (this KVM's, passed through) or a JSON model file`, 'builtin')
    .option('-q, --quiet', 'do not print the guest console to stdout', false)
    .addHelpText('after', HELP_AFTER)
    .action(async (imagePath: string, flags: Flags, cmd: Command) => {
      cmd.setOptionValue('exitCode', await runRecord(imagePath, flags));
    });
}

/** --input bytes are stored in the trace header (options.input): more than this is refused. */
const MAX_INPUT_BYTES = 64 << 20;

/** Reads --input (a file, a pipe, or '-' for stdin) up to MAX_INPUT_BYTES. */
function readInput(path: string): Uint8Array {
  const what = path === '-' ? '--input - (stdin)' : `--input ${path}`;
  let fd: number;
  try {
    fd = path === '-' ? 0 : openSync(path, constants.O_RDONLY);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UsageError(`${what}: ${code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied (EACCES)' : (e as Error).message}`);
  }
  try {
    if (fstatSync(fd).isDirectory()) throw new UsageError(`${what}: is a directory; give a file of input bytes (or - for stdin)`);
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const chunk = Buffer.allocUnsafe(1 << 16);
      let n: number;
      try {
        n = readSync(fd, chunk, 0, chunk.length, null);
      } catch (e) {
        // A non-blocking stdin with nothing yet: wait a little and read again.
        if ((e as NodeJS.ErrnoException).code === 'EAGAIN') {
          Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
          continue;
        }
        throw new UsageError(`${what}: cannot be read: ${(e as Error).message}`);
      }
      if (n === 0) break;
      total += n;
      if (total > MAX_INPUT_BYTES) {
        throw new UsageError(`${what}: more than ${MAX_INPUT_BYTES >> 20} MiB of input (the trace header stores it all): give a smaller file, not an endless device`);
      }
      chunks.push(chunk.subarray(0, n));
    }
    return Buffer.concat(chunks, total);
  } finally {
    if (path !== '-') closeSync(fd);
  }
}

/** The image file: a regular file within the size limit (problems are usage errors, exit 2). */
function readImage(path: string): Uint8Array {
  try {
    return readImageFile(path);
  } catch (e) {
    if (e instanceof ImageError) throw new UsageError(`image ${path}: ${e.problem}`);
    throw e;
  }
}

/** The numeric options, all checked before anything runs. */
interface Numbers {
  mem?: number;
  load?: number;
  consolePort?: number;
  maxExits: number;
  timeoutMs: number;
}

function numbers(flags: Flags): Numbers {
  return {
    ...(flags.mem !== undefined
      ? { mem: parseSize(flags.mem, '--mem', { min: 4096, max: MAX_MEM, multipleOf: 4096, maxReason: 'guest RAM lies below the 32-bit MMIO hole' }) }
      : {}),
    ...(flags.load !== undefined ? { load: parseInteger(flags.load, '--load', { max: 0xffffffff, hex: true, expected: 'a guest-physical address from 0 to 0xffffffff (hex with 0x, or decimal)' }) } : {}),
    ...(flags.consolePort !== undefined ? { consolePort: parsePort(flags.consolePort, '--console-port') } : {}),
    maxExits: flags.maxExits !== undefined ? parseCount(flags.maxExits, '--max-exits') : Infinity,
    timeoutMs: flags.timeout !== undefined ? parseSeconds(flags.timeout, '--timeout') : Infinity,
  };
}

/** --entry outside real mode: a linear address the mode can hold. */
function linearEntry(text: string, mode: BootMode): number {
  if (mode === 'protected') return parseInteger(text, '--entry', { max: 0xffffffff, hex: true, expected: 'a linear address from 0 to 0xffffffff in protected mode (example: 0x100000)' });
  return parseInteger(text, '--entry', { hex: true, expected: 'a linear address below 2^53 in long mode (example: 0x100000)' });
}

/** Loads the image and plans the boot; image problems become usage errors (exit 2). */
function bootPlan(imagePath: string, image: Uint8Array, flags: Flags, n: Numbers): BootPlan {
  const imageName = imagePath.split('/').pop()!;
  try {
    const detected = detectImage(image, imageName);
    const mode = flags.mode === 'auto' ? detected.mode : (flags.mode as BootMode);
    let entry: { cs: number; ip: number } | number | undefined;
    if (flags.entry !== undefined) entry = mode === 'real' ? parseEntry(flags.entry) : linearEntry(flags.entry, mode);
    return prepareBoot({
      image,
      imageName,
      mode,
      memBytes: n.mem,
      load: n.load,
      entry,
      entrySymbol: flags.entrySymbol,
    });
  } catch (e) {
    // Messages name the file as the user gave it; the trace header keeps its base name.
    if (e instanceof ImageError) throw new UsageError(`${imagePath}: ${e.problem}`);
    throw e;
  }
}

/** The device set; a bad --devices / --device value is refused naming that option. */
function devices(flags: Flags, n: Numbers): DeviceSpec[] {
  const check = (option: string, value: string, parse: (v: string) => unknown, form: string) => {
    try {
      parse(value);
    } catch (e) {
      // An unknown name says so plainly (and lists the names); a bad port names the option.
      if (e instanceof DeviceSpecError && e.message.startsWith('unknown device')) throw new UsageError(e.message);
      if (e instanceof DeviceSpecError) throw new UsageError(`${option} ${quote(value)}: ${e.message.replace(/^device '[^']*': /, '')}; expected ${form}`);
      throw e;
    }
  };
  if (flags.devices !== undefined) check('--devices', flags.devices, parseDeviceList, 'a comma-separated list of NAME[@PORT], or none');
  for (const d of flags.device ?? []) check('--device', d, parseDeviceSpec, 'NAME@PORT (example: uart16550@0x2f8)');
  try {
    return resolveDevices({
      devices: flags.devices,
      add: flags.device,
      remove: flags.without,
      consolePort: n.consolePort,
    });
  } catch (e) {
    if (e instanceof DeviceSpecError) throw new UsageError(e.message);
    throw e;
  }
}

/** --cpu: builtin, host, or a model file (problems with it are usage errors). */
function cpuOption(value: string): CpuOption {
  if (value === 'builtin' || value === 'host') return value;
  if (value === '') throw new UsageError("--cpu: expected builtin, host or a JSON model file");
  try {
    return { path: value, ...loadCpuModelFile(value) };
  } catch (e) {
    if (e instanceof CpuModelError) throw new UsageError(`--cpu ${e.message}`);
    throw e;
  }
}

/** VMTRACE_STALL_SECONDS: seconds without an exit before the watchdog line (0: never); default 5. */
function stallMs(): number | undefined {
  const v = process.env.VMTRACE_STALL_SECONDS;
  if (v === undefined || v === '') return DEFAULT_STALL_MS;
  if (v.trim() === '0') return undefined;
  return parseSeconds(v, 'VMTRACE_STALL_SECONDS');
}

function secondsText(ms: number): string {
  const s = ms / 1000;
  return `${s >= 10 ? Math.round(s) : Number(s.toFixed(1))} s`;
}

/** The architecture this host's KVM runs. */
function hostArch(): ArchName | undefined {
  return process.arch === 'arm64' ? 'aarch64' : process.arch === 'x64' ? 'x86_64' : undefined;
}

/** --arch, else an ELF's e_machine (EM_AARCH64 = 183), else the host's. */
function guestArch(flags: Flags, image: Uint8Array, imagePath: string): ArchName {
  if (flags.arch !== undefined) return flags.arch as ArchName;
  try {
    if (detectImage(image, imagePath).arch === 'aarch64') return 'aarch64';
  } catch {
    // a malformed image is reported when it is loaded
  }
  return hostArch() ?? 'x86_64';
}

/** The aarch64 boot plan: only --mem and --entry apply (the board is QEMU virt's). */
function a64BootPlan(imagePath: string, image: Uint8Array, flags: Flags, n: Numbers): A64BootPlan {
  const x86Only: Array<[string, unknown]> = [
    ['--mode', flags.mode !== 'auto' ? flags.mode : undefined],
    ['--load', flags.load],
    ['--entry-symbol', flags.entrySymbol],
    ['--devices', flags.devices],
    ['--device', flags.device],
    ['--without', flags.without],
    ['--console-port', flags.consolePort],
    ['--cpu', flags.cpu !== 'builtin' ? flags.cpu : undefined],
  ];
  const given = x86Only.find(([, v]) => v !== undefined);
  if (given) throw new UsageError(`${given[0]} applies to x86 guests; an aarch64 guest gets RAM at 0x40000000, a PL011 UART at 0x09000000 and the exit register at 0x09100000 (docs/arm64.md)`);
  try {
    return planA64Boot({
      image,
      imageName: imagePath.split('/').pop()!,
      ...(n.mem !== undefined ? { memBytes: n.mem } : {}),
      ...(flags.entry !== undefined ? { entry: parseInteger(flags.entry, '--entry', { hex: true, expected: 'a physical address (example: 0x40000000)' }) } : {}),
    });
  } catch (e) {
    if (e instanceof ImageError) throw new UsageError(`${imagePath}: ${e.problem}`);
    throw e;
  }
}

async function runRecord(imagePath: string, flags: Flags): Promise<number> {
  // A signal while the options and files are checked (caught by src/cli.ts until the handlers
  // below take over) already asks for a clean stop: the run then ends before the guest's first
  // instruction, with a complete trace.
  const signal: StopFlag = { stop: false };
  // Every option value first: a typo fails before anything is read or run.
  const n = numbers(flags);
  const deviceSpecs = devices(flags, n);
  const stall = stallMs();
  const output = flags.output ?? defaultTraceName(imagePath);
  if (output === '') throw new UsageError('-o: empty file name; give the trace file to write');
  const cpuFile = flags.cpu !== 'builtin' && flags.cpu !== 'host' ? flags.cpu : undefined;
  refuseOutputIsInput({ what: '-o', path: output }, [
    { what: 'image', path: imagePath },
    { what: '--input file', path: flags.input },
    { what: '--cpu model file', path: cpuFile },
  ]);
  const image = readImage(imagePath);
  const arch = guestArch(flags, image, imagePath);
  const a64Boot = arch === 'aarch64' ? a64BootPlan(imagePath, image, flags, n) : undefined;
  const boot = a64Boot ? undefined : bootPlan(imagePath, image, flags, n);
  const cpu = a64Boot ? 'builtin' : cpuOption(flags.cpu);
  if (arch !== hostArch()) {
    const needs = arch === 'aarch64' ? 'an arm64 host' : 'an x86-64 host';
    throw new KvmUnavailableError(`recording ${arch} guests needs ${needs} with /dev/kvm (this host is ${process.arch}); \`vmtrace replay\` works anywhere`);
  }
  const input = flags.input !== undefined ? readInput(flags.input) : new Uint8Array(0);
  let partialNote = '';
  let partialPath = output;
  // a status line on a terminal's stderr while the guest runs (src/cli/progress.ts, docs/cli.md)
  const progress = new Progress(`recording ${imagePath.split('/').pop()}`, { bytesVerb: 'written' });
  let sizeAt = -Infinity;
  let size = 0;
  const removeSignalHandlers = handleStopSignals(signal, (name) => {
    progress.stop();
    return `second ${name}: exiting at once, without the footer${partialNote}`;
  });
  const removeStdoutHook = stopOnStdoutClosed(signal);
  const removeHandlers = () => {
    removeSignalHandlers();
    removeStdoutHook();
  };
  try {
    const common = {
      image,
      imageName: imagePath.split('/').pop()!,
      output,
      input,
      strict: flags.strict,
      maxExits: n.maxExits,
      timeoutMs: n.timeoutMs,
      singleStep: flags.step,
      timestamps: flags.timestamps,
      quiet: flags.quiet,
      signal,
      console: new StdoutSink(!flags.quiet, (bytes) => progress.console(bytes)),
      ...(progress.enabled
        ? {
            onProgress: (records: number) => {
              const now = performance.now();
              if (now - sizeAt >= 250) {
                sizeAt = now;
                size = fileSize(partialPath) ?? size;
              }
              progress.update({ records, ...(flags.step ? {} : { exits: records }), bytes: size });
            },
          }
        : {}),
      ...(stall !== undefined
        ? {
            stallMs: stall,
            onStall: () => {
              const what = Number.isFinite(n.timeoutMs)
                ? `--timeout stops it at ${secondsText(n.timeoutMs)}, Ctrl-C sooner (the trace is complete either way)`
                : 'Ctrl-C stops it with a complete trace, --timeout bounds the run';
              progress.clear();
              process.stderr.write(`vmtrace: no exit from the guest for ${secondsText(stall)} (it may be spinning without I/O); ${what}\n`);
            },
          }
        : {}),
      onOutput: (partial: string) => {
        partialPath = partial;
        partialNote = partial === output ? '' : `: what was recorded is in ${partial}`;
      },
    };
    const a64 = a64Boot ? await recordA64({ ...common, boot: a64Boot }) : undefined;
    const result = a64 ?? (await record({ ...common, boot, devices: deviceSpecs, cpu }));
    progress.stop();
    if (result.cpuMissing.length) {
      process.stderr.write(`vmtrace: this host's KVM lacks ${result.cpuMissing.join(', ')} of the builtin CPU model: the guest ran without them, so this trace's CPUID differs from other hosts'\n`);
    }
    process.stderr.write(`vmtrace: ${result.message}\n`);
    process.stderr.write(`vmtrace: ${summarize(result, flags.step)} -> ${result.output}\n`);
    return a64 ? a64RecordExitCode(a64) : recordExitCode(result);
  } catch (e) {
    if (e instanceof ImageError) throw new UsageError(e.message);
    if (e instanceof OutputError) throw new UsageError(`${e.message}; choose another -o`);
    if (e instanceof GuestMemoryError) throw new UsageError(e.message);
    throw e;
  } finally {
    progress.stop();
    removeHandlers();
  }
}

/** Size of a file, or undefined (not there yet, or gone). */
function fileSize(path: string): number | undefined {
  try {
    return statSync(path).size;
  } catch {
    return undefined;
  }
}
