// vmtrace show TRACE N (and vmtrace replay TRACE --to N): the machine state right after record
// N, reached from the nearest snapshot of the trace's snapshot index (src/replay/snapshot-index.ts).
import { Command } from 'commander';

import { traceArch } from '../inspect/exits.js';
import type { Divergence, ReplayResult } from '../replay/engine.js';
import { formatDivergence, toJson } from '../replay/report.js';
import { formatShow, SHOW_SCHEMA, showReport, type MemRequest } from '../replay/show-report.js';
import { RecordOutOfRange, stateAtRecord, type StateAtRecord } from '../replay/snapshot-index.js';
import { oneLine } from '../text/sanitize.js';
import { parseCount, parseInteger, parseSize, quote, UsageError } from './parse.js';
import { Progress } from './progress.js';
import { SUMMARIES } from './summaries.js';

const HELP_AFTER = `
Prints the machine state right after record N matched (its registers are the record's): where
that is (record N of M, instructions executed, the record's exit and payload), the registers
(64-bit names in long mode, 32-bit otherwise; RFLAGS decoded), the segment registers with
their descriptor caches, CR0/CR2/CR3/CR4/CR8, EFER, GDTR/IDTR, the instructions before RIP (as
executed) and from RIP on, and with --mem a hex dump of guest memory.

The state is found through a snapshot index of the trace, built by a first pass that replays
the whole trace once (progress on stderr for long ones) and saved next to the trace as
TRACE.vmtidx, or under $XDG_CACHE_HOME/vmtrace (~/.cache/vmtrace) when that directory is not
writable; --index FILE puts it elsewhere. Later runs replay at most a few thousand records
from the nearest snapshot. An index that does not belong to the trace (it changed, or another
vmtrace made it) or is damaged is rebuilt, saying so on stderr (docs/replay.md, "Snapshot
index").

Exit codes:
  0  the state was printed
  1  replay diverged before record N: the divergence report is printed instead
  2  bad usage (N past the last record, a bad --mem), or an unreadable trace
  3  replay stopped before record N at a nondeterministic instruction (RDTSC, …) that an exit
     trace does not record

Examples:
  vmtrace show traces/tiny_kernel.vmtrace 5
  vmtrace show traces/hello-64.vmtrace 12 --mem 0x100000:64
  vmtrace show --json traces/grp_alu.step.vmtrace 300 | jq .regs.rax
  vmtrace replay traces/bench-64.vmtrace --to 20 --mem 0x100000:0x40 --phys`;

export interface ShowFlags {
  json: boolean;
  mem: string[];
  phys: boolean;
  index?: string;
  maxInstructions?: string;
}

export const collectMem = (v: string, prev: string[]): string[] => [...prev, v];

const MAX_MEM = 1 << 20;
const TWO48 = 2 ** 48;

/**
 * `ADDR:LEN`: ADDR an integer (hex with 0x, or decimal; a 64-bit canonical address in the upper
 * half, 0xffff8…, is accepted and taken as its 48-bit linear form), LEN a size up to 1 MiB.
 */
export function parseMem(text: string, physical: boolean): MemRequest & { shown: string } {
  const m = /^([^:]+):([^:]+)$/.exec(text.trim());
  if (!m) throw new UsageError(`--mem: ${quote(text)} is not ADDR:LEN (examples: 0x7c00:64, 0x100000:4K)`);
  const length = parseSize(m[2]!, '--mem LEN', { max: MAX_MEM, maxReason: 'a dump is for reading' });
  const a = m[1]!.trim().toLowerCase();
  let address: number;
  if (/^0x[0-9a-f]{14,16}$/.test(a) && !physical && BigInt(a) >= 2n ** 53n) {
    const v = BigInt(a);
    if (v >> 47n !== 0x1ffffn) throw new UsageError(`--mem: ${quote(m[1]!)} is not a canonical linear address (bits 63:47 must be all equal)`);
    address = Number(v & (2n ** 48n - 1n));
  } else {
    address = parseInteger(m[1]!, '--mem ADDR', { hex: true, expected: 'an address (hex with 0x, or decimal)' });
  }
  if (address + length > (physical ? Number.MAX_SAFE_INTEGER : TWO48)) throw new UsageError(`--mem: ${quote(text)} runs past the end of the address space`);
  return { address, length, physical, shown: m[1]!.trim() };
}

export function showCommand(): Command {
  return new Command('show')
    .description(SUMMARIES.show)
    .argument('<trace>', 'a trace written by `vmtrace record`')
    .argument('<n>', 'record index (0 = the first record)')
    .option('--json', 'print the state as one JSON object on stdout (schema vmtrace-show/1, docs/cli.md)', false)
    .option('--mem <addr:len>', 'also dump guest memory: linear address (through paging), length up to 1M; repeatable', collectMem, [])
    .option('--phys', '--mem addresses are guest-physical', false)
    .option('--index <file>', 'the snapshot index to use (and build) instead of TRACE.vmtidx')
    .option('--max-instructions <n>', "replay's instruction budget, as for vmtrace replay (the index is built with it)")
    .addHelpText('after', HELP_AFTER)
    .action(async (file: string, n: string, flags: ShowFlags, cmd: Command) => {
      cmd.setOptionValue('exitCode', await runShow(file, parseInteger(n, 'N', { expected: 'a record index ≥ 0 (decimal, or hex with 0x)' }), flags));
    });
}

/** `show N` and `replay --to N`: prints the state after record `n`; returns the exit code. */
export async function runShow(file: string, n: number, flags: ShowFlags): Promise<number> {
  const memory = flags.mem.map((m) => parseMem(m, flags.phys));
  const maxInstructions = flags.maxInstructions === undefined ? undefined : parseCount(flags.maxInstructions, '--max-instructions');
  if (flags.phys && !memory.length) throw new UsageError('--phys: give the range to dump with --mem ADDR:LEN');
  // the state comes from the x86 interpreter's replay
  const arch = await traceArch(file);
  if (arch !== 'x86_64') throw new UsageError(`the machine state of ${arch} traces cannot be shown yet (${file}); vmtrace inspect --exits lists their records' registers`);
  const progress = new Progress(`indexing ${file.split('/').pop()}`, { enabled: flags.json ? false : undefined, bytesVerb: 'read' });
  let state;
  try {
    state = await stateAtRecord(file, n, {
      index: flags.index,
      ...(maxInstructions === undefined ? {} : { session: { maxInstructions } }),
      note: (line) => {
        progress.clear();
        process.stderr.write(`vmtrace: ${oneLine(line)}\n`);
      },
      ...(progress.enabled ? { onProgress: (p) => progress.update({ records: p.records, exits: p.exits, bytes: p.offset }) } : {}),
    });
  } catch (e) {
    if (e instanceof RecordOutOfRange) throw new UsageError(e.message);
    throw e;
  } finally {
    progress.stop();
  }
  try {
    if (state.stop) return notReached(file, n, state.stop, state);
    const report = showReport({ trace: file, records: state.records, record: state.record, target: state.session, history: state.history, readPhysical: state.readPhysical, memory });
    process.stdout.write(flags.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatShow(report)}\n`);
    return 0;
  } finally {
    await state.close();
  }

  /** Replay diverged (or met a nondeterministic instruction) before record n: the report, exit 1 (3). */
  function notReached(file: string, n: number, d: Divergence, state: StateAtRecord): number {
    const at = state.session.position;
    const result: ReplayResult = {
      ok: false,
      matched: at.records,
      exits: state.record.kind === 'exit' ? at.records : 0,
      instructions: at.instructions,
      singleStep: state.session.header.semantics.singleStep,
      recordedEnd: undefined,
      truncated: false,
      undefinedFlags: { adopted: 0 },
      divergence: d,
    };
    const nondeterministic = d.kind === 'nondeterministic';
    if (flags.json) {
      const { divergence } = toJson(result, file) as { divergence: unknown };
      process.stdout.write(`${JSON.stringify({ schema: SHOW_SCHEMA, trace: file, reached: false, record: { index: n, of: state.records }, position: at, divergence }, null, 2)}\n`);
    } else if (!nondeterministic) process.stderr.write(`${formatDivergence(result, file)}\n`);
    process.stderr.write(`vmtrace: record ${n} not reached: replay ${nondeterministic ? 'stopped' : 'diverged'} at record #${d.index}: ${oneLine(d.message)}\n`);
    return nondeterministic ? 3 : 1;
  }
}
