// `vmtrace inspect --exits --disasm` for aarch64 traces: the instruction that made each record,
// read from the trace header's initial memory (the image and what else was placed in RAM) rather
// than from a replay. Guests run with the MMU off from their image, where their MMIO and HVC
// instructions are, so the PC is the physical address of the word; code the guest writes at run
// time (self-modifying, loaded) is not in the header and would need the replay.
import type { TraceHeader } from '../trace/format.js';
import { EXIT } from '../trace/exit-reasons.js';
import type { CollectedDisassembly, DisasmExitRow, DisasmStop, ExitInsn } from './disasm-exits.js';
import { exitRows, matches, type ExitFilter, type ExitRow, type FilteredFields } from './exits.js';
import { openTrace } from '../trace/reader.js';
import { regValue } from '../arch/index.js';
import { hx } from './util.js';

/** A64 text of the instruction `word` at `pc`. */
export type A64Disassembler = (word: number, pc: bigint) => string;

/** The little-endian instruction word at `address` in the header's initial memory, or undefined. */
export function initialWordAt(header: TraceHeader, address: bigint): number | undefined {
  for (const blob of header.initialMemory) {
    const at = address - BigInt(blob.address);
    if (at < 0n || at + 4n > BigInt(blob.bytes.length)) continue;
    const b = blob.bytes;
    const i = Number(at);
    return (b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24)) >>> 0;
  }
  return undefined;
}

/**
 * Where the instruction a record shows is: a step record the one it stepped (where the previous
 * step record, or the boot state, left pc: an MMIO exit inside a step comes before the step's
 * record and moves pc already); an exit the one that made it — KVM completes MMIO and HVC before the
 * registers are read, so 4 bytes before pc. An exit KVM could not complete (ARM_NISV, a failed
 * entry, an internal error) leaves pc on the instruction.
 */
export function a64InsnAddress(kind: ExitRow['kind'], reason: number, pc: bigint, stepStart: bigint): bigint {
  if (kind === 'step') return stepStart;
  if (reason === EXIT.ARM_NISV || reason === EXIT.FAIL_ENTRY || reason === EXIT.INTERNAL_ERROR) return pc;
  return pc - 4n;
}

/** The instruction at `address`, or why there is none (outside the initial memory). */
function insnAt(header: TraceHeader, address: bigint, disassemble: A64Disassembler): ExitInsn | string {
  const word = initialWordAt(header, address);
  if (word === undefined) return `${hx(address)} is outside the trace's initial memory`;
  const bytes = [0, 8, 16, 24].map((s) => ((word >>> s) & 0xff).toString(16).padStart(2, '0')).join('');
  return { at: hx(address), bytes, text: disassemble(word, address) };
}

/** The fields a filter looks at, back from a row's strings. */
function filtered(r: ExitRow): FilteredFields {
  return {
    reason: r.reasonCode,
    ...(r.io ? { io: { port: Number(r.io.port) } } : {}),
    ...(r.mmio ? { mmio: { address: Number(r.mmio.address), length: r.mmio.length } } : {}),
  };
}

/**
 * exitRows of an aarch64 trace with `changes` and, where the instruction is in the initial
 * memory, `insn`. `onMissing` is called once, at the first row without an instruction.
 */
export async function* a64DisasmExitRows(
  file: string,
  disassemble: A64Disassembler,
  filter: ExitFilter = {},
  onMissing?: (stop: DisasmStop) => void,
): AsyncGenerator<DisasmExitRow, void, undefined> {
  const trace = await openTrace(file);
  await trace.close();
  const header = trace.header;
  let stepStart = regValue(header.boot.regs, 'pc');
  let told = false;
  let left = filter.limit ?? Infinity;
  if (left <= 0) return;
  // every row up to `to`, filtered here: a step's instruction is where the step before it left pc, shown or not
  for await (const r of exitRows(file, { to: filter.to }, { changes: true })) {
    const pc = BigInt(r.pc!);
    const address = a64InsnAddress(r.kind, r.reasonCode, pc, stepStart);
    if (r.kind === 'step') stepStart = pc;
    if (!matches(filter, filtered(r), r.index)) continue;
    const row = r as DisasmExitRow;
    const insn = insnAt(header, address, disassemble);
    if (typeof insn !== 'string') row.insn = insn;
    else if (!told) {
      told = true;
      onMissing?.({ index: row.index, why: insn });
    }
    yield row;
    if (--left <= 0) return;
  }
}

/** The one stderr line about the first record without an instruction. */
export function describeA64Missing(stop: DisasmStop): string {
  return (
    `vmtrace: --disasm: record #${stop.index} (and any other whose instruction is outside the image) is listed without its instruction: ` +
    `${stop.why}; code placed in memory at run time would need the replay`
  );
}

/**
 * The first `count` records' instructions, for the HTML report's exit table. `missing`: the
 * first of them without one (there is no replay to stop: later records may have theirs).
 */
export async function collectA64Disassembly(file: string, count: number, disassemble: A64Disassembler): Promise<CollectedDisassembly & { missing: DisasmStop | undefined }> {
  const insns = new Map<number, ExitInsn>();
  let missing: DisasmStop | undefined;
  for await (const row of a64DisasmExitRows(file, disassemble, { to: count - 1 }, (m) => (missing = m))) if (row.insn) insns.set(row.index, row.insn);
  return { at: (index) => insns.get(index), stop: undefined, missing };
}
