// Trace format 3.0 (readers take 1.x and 2.x too): the in-memory shapes a reader hands out and the
// on-disk (msgpack) shapes the writer produces. docs/trace-format.md is the specification; keep
// the two in step.
import type { ArchName } from '../arch/index.js';
import type { CpuidEntry, Regs, Sregs } from '../cpu-state.js';

export const MAGIC = 'vmtrace';
/** The file's first 8 bytes: MAGIC as a msgpack fixstr, so the whole file is a msgpack stream. */
export const MAGIC_BYTES = Uint8Array.from([0xa7, ...Buffer.from(MAGIC, 'ascii')]);
/**
 * What the writer produces: 3.0 frames records in checksummed, compressed chunks of columns
 * (src/trace/frame.ts, src/trace/chunk.ts).
 */
export const FORMAT_MAJOR = 3;
/** 3.1 added `arch` to the header (absent: x86_64), and with it aarch64 traces. */
export const FORMAT_MINOR = 1;
/** The writer can still produce 2.0 (a msgpack map per record), for older readers and comparisons. */
export const LEGACY_FORMAT_MAJOR = 2;
/** Readers also take 1.x traces (records as plain top-level values, no checksums). */
export const OLDEST_READABLE_MAJOR = 1;

/** Largest header (it embeds the guest image and boot memory) and largest record a reader accepts. */
export const MAX_HEADER_BYTES = 1 << 30;
export const MAX_RECORD_BYTES = 16 << 20;

export interface HostFacts {
  kernel: string;
  kvmApiVersion: number;
  /** kvm_intel, kvm_amd, kvm_pvm, … as /proc/modules or /sys/module shows. */
  kvmModule: string;
  cpuVendor: string;
  cpuModel: string;
  /** Whether KVM_CAP_SYNC_REGS supplied the registers (informational). */
  syncRegs: boolean;
}

export type { CpuidEntry } from '../cpu-state.js';

export interface MemoryRegion {
  base: number;
  size: number;
  kind: 'ram';
}

/** Bytes placed into guest memory before the first instruction (the image, boot tables). */
export interface MemoryBlob {
  address: number;
  bytes: Uint8Array;
  what: string;
}

export interface DeviceInfo {
  name: string;
  kind: 'port' | 'mmio';
  base: number;
  length: number;
}

/** The x86 mode the VMM set up. */
export type BootMode = 'real' | 'protected' | 'long';
/** aarch64 guests start at EL1 with the MMU off. */
export type A64BootMode = 'el1';

/** Which CPUID the guest was given (docs/exit-semantics.md, "The virtual CPU"). */
export interface CpuChoice {
  /** 'builtin': vmtrace's fixed model; 'host': KVM's supported CPUID passed through; 'file': a JSON model. */
  source: 'builtin' | 'host' | 'file';
  /** The model's name (builtin: its version tag; file: the model's own name or the file name). */
  name: string;
}

/**
 * How the recording host behaves where the x86 architecture leaves room, probed when the trace
 * was recorded (docs/exit-semantics.md, "Host-dependent behaviour"). Replay follows it.
 */
export interface HostModel {
  /** Undefined-flag rules, per instruction class and operand size (src/replay/x86/flag-model.ts). */
  flags: Record<string, string>;
  /** Single-step behaviour (src/replay/x86/step-model.ts). */
  step: StepModel;
}

export interface StepModel {
  /** Instructions whose single step also runs the instruction after them (e.g. endbr64). */
  joins: string[];
}

/**
 * Registers in the header, records and footer are typed as x86's Regs/Sregs; in an aarch64
 * trace they are A64Regs/A64Sysregs (src/arch/aarch64/state.ts). `registerLayout(header.arch)`
 * (src/arch/index.ts) is how architecture-neutral code names and decodes them.
 */
export interface TraceHeader {
  format: { major: number; minor: number };
  /** 'x86_64' in traces before 3.1. */
  arch: ArchName;
  tool: { name: string; version: string };
  createdAt: string;
  host: HostFacts;
  guest: { name: string; image: Uint8Array; sha256: string; loadAddress: number };
  memory: MemoryRegion[];
  /** Everything written into RAM before the run, the image included (3.0 files store it once: `image: true`). */
  initialMemory: MemoryBlob[];
  boot: { mode: BootMode | A64BootMode; regs: Regs; sregs: Sregs; cpuid: CpuidEntry[] };
  /** Absent in traces of format 1.0 (guest given the host's CPUID). */
  cpu?: CpuChoice;
  /** Absent in traces of format 1.0 (replay then assumes nothing about undefined flags). */
  hostModel?: HostModel;
  devices: DeviceInfo[];
  /** The options the recording used, as given on the command line (after defaults). */
  options: Record<string, unknown>;
  semantics: {
    /** 'completed': registers are read after KVM finished the exiting instruction. */
    registers: 'completed';
    /** True for --step traces: one record per instruction. */
    singleStep: boolean;
  };
}

export type Direction = 'in' | 'out';

export interface IoPayload {
  port: number;
  size: number;
  direction: Direction;
  count: number;
  /** size*count bytes: written by the guest (out) or answered by the VMM (in). */
  data: Uint8Array;
}

export interface MmioPayload {
  address: number;
  length: number;
  write: boolean;
  /** length bytes: written by the guest, or answered by the VMM for a read. */
  data: Uint8Array;
}

/** Exit-specific facts that are not IO/MMIO (internal error sub-code, entry failure, …). */
export type ExitDetail = Record<string, number | string | number[]>;

export type RecordKind = 'exit' | 'step';

export interface TraceRecord {
  kind: RecordKind;
  seq: number;
  reason: number;
  reasonName: string;
  /** Nanoseconds since the recording started, at the exit (0 in traces recorded with --no-timestamps). */
  timeNs: number;
  /** Nanoseconds spent inside KVM_RUN (entry to exit); 0 without timestamps. */
  runNs: number;
  /** Raw kvm_regs bytes; `regs` decodes them. */
  regsBytes: Uint8Array;
  readonly regs: Regs;
  /** Full sregs (the file stores them only when they change). */
  sregs: Sregs;
  /** True when the file stored sregs on this record (they changed). */
  sregsChanged: boolean;
  io?: IoPayload;
  mmio?: MmioPayload;
  detail?: ExitDetail;
  /** Byte offset of the record in the file; in 3.0, where its frame starts (records are compressed). */
  offset: number;
}

export type EndReason =
  | 'hlt'
  | 'shutdown'
  | 'fail-entry'
  | 'internal-error'
  | 'unexpected-exit'
  | 'max-exits'
  | 'timeout'
  | 'interrupted'
  | 'guest-exit'
  | 'error';

export interface TraceFooter {
  endReason: EndReason;
  message: string;
  exits: number;
  records: number;
  regs: Regs;
  sregs: Sregs;
  /** Set when the guest asked for an exit status (e.g. an isa-debug-exit device). */
  status?: number;
  offset: number;
}

/** On-disk record keys (short: a trace holds millions of records). */
export const K = {
  kind: 'k',
  seq: 'n',
  reason: 'r',
  time: 't',
  run: 'd',
  regs: 'g',
  regsMask: 'gm',
  sregs: 's',
  io: 'io',
  mmio: 'mm',
  detail: 'x',
} as const;

export const KIND_CODE: Record<RecordKind | 'end', string> = { exit: 'x', step: 's', end: 'end' };
