import { readFileSync } from 'node:fs';
import { Command, Option } from 'commander';

import { CPU_MODEL_NAME, CpuModelError, loadCpuModelFile } from '../boot/cpu-model.js';
import type { BootPlan } from '../boot/profiles.js';
import { ImageError } from '../image/errors.js';
import { detectImage } from '../image/load.js';
import { DeviceSpecError, resolveDevices, type DeviceSpec } from '../record/devices/catalog.js';
import { defaultTraceName, prepareBoot, record, recordExitCode, summarize, type CpuOption } from '../record/recorder.js';
import type { BootMode } from '../trace/format.js';
import { parseEntry, parseInteger, parseSize, UsageError } from './parse.js';

const HELP_AFTER = `
The image is a flat binary, an ELF32/ELF64 executable or a multiboot (v1) kernel; --mode auto
(the default) boots ELF64 in long mode, ELF32 and multiboot kernels in 32-bit protected mode, and
anything else as a flat binary in real mode, exactly like the classic tiny KVM demo (loaded at
--load, default 0, started at --entry CS:IP, default 0000:<load>). In protected and long mode
vmtrace builds a flat GDT, a TSS and (long mode) identity-mapped page tables; multiboot kernels get
EAX=0x2BADB002 and EBX -> a multiboot information block (memory map: docs/guests.md).
Every vCPU exit is written to the trace with full registers (docs/trace-format.md).

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

Exit codes:
  0    the guest halted (HLT) or powered off
  1    the guest ended abnormally (triple fault, KVM entry failure or internal error, --strict)
  2    bad usage or input (missing or malformed image, bad option value)
  3    KVM is not available here (no /dev/kvm, no permission, addon not built)
  4    a limit stopped the run (--max-exits, --timeout); the trace is complete
  130  stopped by Ctrl-C; the trace is complete up to that point
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
  quiet: boolean;
  cpu: string;
}

const collect = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value];

export function recordCommand(): Command {
  return new Command('record')
    .description('run a guest image under KVM and write every vCPU exit to a trace')
    .argument('<image>', 'guest image: flat binary, ELF32/ELF64 or multiboot kernel (e.g. guests/tiny_kernel.bin)')
    .option('-o, --output <file>', 'trace file to write (default: <image name>.vmtrace in the current directory)')
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
    .option('--cpu <model>', `the guest's CPUID: builtin (vmtrace's fixed virtual CPU, ${CPU_MODEL_NAME}), host (this KVM's, passed through) or a JSON model file`, 'builtin')
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

/** Loads the image and plans the boot; image problems become usage errors (exit 2). */
function bootPlan(imagePath: string, image: Uint8Array, flags: Flags): BootPlan {
  const imageName = imagePath.split('/').pop()!;
  try {
    const detected = detectImage(image, imageName);
    const mode = flags.mode === 'auto' ? detected.mode : (flags.mode as BootMode);
    let entry: { cs: number; ip: number } | number | undefined;
    if (flags.entry !== undefined) entry = mode === 'real' ? parseEntry(flags.entry) : parseInteger(flags.entry, '--entry');
    return prepareBoot({
      image,
      imageName,
      mode,
      memBytes: flags.mem === undefined ? undefined : parseSize(flags.mem, '--mem'),
      load: flags.load === undefined ? undefined : parseInteger(flags.load, '--load'),
      entry,
      entrySymbol: flags.entrySymbol,
    });
  } catch (e) {
    // Messages name the file as the user gave it; the trace header keeps its base name.
    if (e instanceof ImageError) throw new UsageError(`${imagePath}: ${e.problem}`);
    throw e;
  }
}

function devices(flags: Flags): DeviceSpec[] {
  try {
    return resolveDevices({
      devices: flags.devices,
      add: flags.device,
      remove: flags.without,
      consolePort: flags.consolePort === undefined ? undefined : parseInteger(flags.consolePort, '--console-port'),
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

async function runRecord(imagePath: string, flags: Flags): Promise<number> {
  const image = readInput('image', imagePath);
  if (image.length === 0) throw new UsageError(`image ${imagePath} is empty`);
  const boot = bootPlan(imagePath, image, flags);
  const deviceSpecs = devices(flags);
  const cpu = cpuOption(flags.cpu);
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
      boot,
      input: flags.input ? readInput('--input', flags.input) : new Uint8Array(0),
      devices: deviceSpecs,
      strict: flags.strict,
      maxExits: flags.maxExits ? parseInteger(flags.maxExits, '--max-exits') : Infinity,
      timeoutMs: flags.timeout ? Number(flags.timeout) * 1000 : Infinity,
      singleStep: flags.step,
      quiet: flags.quiet,
      signal,
      cpu,
    });
    if (result.cpuMissing.length) {
      process.stderr.write(`vmtrace: this host's KVM lacks ${result.cpuMissing.join(', ')} of the builtin CPU model: the guest ran without them, so this trace's CPUID differs from other hosts'\n`);
    }
    process.stderr.write(`vmtrace: ${result.message}\n`);
    process.stderr.write(`vmtrace: ${summarize(result, flags.step)} -> ${result.output}\n`);
    return recordExitCode(result);
  } catch (e) {
    if (e instanceof ImageError) throw new UsageError(e.message);
    throw e;
  } finally {
    process.off('SIGINT', onSigint);
  }
}
