// Architectural constants shared by the decoder, the executors and the machine state.
//
// The modules on the hot path (flags, machine, memory, blocks, the executors' helpers) import
// this one as a namespace and keep local copies (`const { CF, ZF } = K`): V8 folds a module's
// own constants into optimised code but loads and checks an imported binding at every use,
// which made the flag producers, conditions and memory accessors inlined into a compiled block
// 1.35x slower (bench-32's inner CRC loop: 345 -> 465 M instructions/s).
// This module imports nothing, so the copies are taken after it has run.

// ---- RFLAGS bits
export const CF = 0x0001;
export const PF = 0x0004;
export const AF = 0x0010;
export const ZF = 0x0040;
export const SF = 0x0080;
export const TF = 0x0100;
export const IF = 0x0200;
export const DF = 0x0400;
export const OF = 0x0800;
export const IOPL = 0x3000;
export const NT = 0x4000;
export const RF = 0x10000;
export const VM = 0x20000;
export const AC = 0x40000;
export const VIF = 0x80000;
export const VIP = 0x100000;
export const ID = 0x200000;
/** The six arithmetic status flags. */
export const ARITH = CF | PF | AF | ZF | SF | OF;
/** Bit 1 of RFLAGS reads as 1. */
export const FLAGS_FIXED1 = 0x2;
/** Every RFLAGS bit that exists (all others read as 0). */
export const FLAGS_DEFINED = ARITH | TF | IF | DF | IOPL | NT | RF | VM | AC | VIF | VIP | ID;

// ---- segment registers, in instruction-encoding order (sreg field of ModRM), then TR and LDTR
export const ES = 0;
export const CS = 1;
export const SS = 2;
export const DS = 3;
export const FS = 4;
export const GS = 5;
export const TR = 6;
export const LDTR = 7;
export const SEG_COUNT = 8;

// ---- general registers, in instruction-encoding order
export const EAX = 0;
export const ECX = 1;
export const EDX = 2;
export const EBX = 3;
export const ESP = 4;
export const EBP = 5;
export const ESI = 6;
export const EDI = 7;
/** Register slot that always reads 0 (used for absent base/index in effective addresses). */
export const ZERO_REG = 16;
export const REG_SLOTS = 17;

/*
 * Register file layout: one ArrayBuffer with 17 slots of 8 bytes (16 GPRs + the zero slot).
 * Slot n holds the 64-bit register n as two little-endian 32-bit halves, so the same buffer is
 * viewed as Int32Array (low half of reg n at index 2n, high half at 2n+1), Uint16Array (reg n's
 * low word at 4n) and Uint8Array (low byte at 8n, bits 15:8 at 8n+1).
 */
export const r32i = (n: number): number => n * 2;
export const r16i = (n: number): number => n * 4;
/** Index in the byte view of 8-bit register number n (no REX: 0-3 = AL..BL, 4-7 = AH..BH). */
export const r8i = (n: number): number => (n < 4 ? n * 8 : (n - 4) * 8 + 1);

export const I_EAX = 0;
export const I_ECX = 2;
export const I_EDX = 4;
export const I_EBX = 6;
export const I_ESP = 8;
export const I_EBP = 10;
export const I_ESI = 12;
export const I_EDI = 14;
export const I_AX = 0;
export const I_CX = 4;
export const I_DX = 8;
export const I_BX = 12;
export const I_SP = 16;
export const I_BP = 20;
export const I_SI = 24;
export const I_DI = 28;
export const I_AL = 0;
export const I_CL = 8;
export const I_DL = 16;
export const I_BL = 24;
export const I_AH = 1;

// ---- exception vectors
export const VEC_DE = 0;
export const VEC_DB = 1;
export const VEC_NMI = 2;
export const VEC_BP = 3;
export const VEC_OF = 4;
export const VEC_BR = 5;
export const VEC_UD = 6;
export const VEC_NM = 7;
export const VEC_DF = 8;
export const VEC_TS = 10;
export const VEC_NP = 11;
export const VEC_SS = 12;
export const VEC_GP = 13;
export const VEC_PF = 14;
export const VEC_MF = 16;
export const VEC_AC = 17;

/** Exceptions that push an error code in protected/long mode. */
export function hasErrorCode(vector: number): boolean {
  return vector === VEC_DF || (vector >= VEC_TS && vector <= VEC_PF) || vector === VEC_AC || vector === 21;
}

// ---- memory access kinds: segment checks (linear) and page permission checks (phys)
export const ACC_READ = 0;
export const ACC_WRITE = 1;
export const ACC_EXEC = 2;
/** implicit supervisor-mode accesses (descriptor tables, TSS, interrupt stack frames at CPL 3) */
export const ACC_SREAD = 3;
export const ACC_SWRITE = 4;

// ---- CR0 bits
export const CR0_PE = 0x1;
export const CR0_MP = 0x2;
export const CR0_EM = 0x4;
export const CR0_TS = 0x8;
export const CR0_ET = 0x10;
export const CR0_NE = 0x20;
export const CR0_WP = 0x10000;
export const CR0_AM = 0x40000;
export const CR0_NW = 0x20000000;
export const CR0_CD = 0x40000000;
export const CR0_PG = 0x80000000;

// ---- CR4 bits
export const CR4_VME = 0x1;
export const CR4_PVI = 0x2;
export const CR4_TSD = 0x4;
export const CR4_DE = 0x8;
export const CR4_PSE = 0x10;
export const CR4_PAE = 0x20;
export const CR4_MCE = 0x40;
export const CR4_PGE = 0x80;
export const CR4_PCE = 0x100;
export const CR4_OSFXSR = 0x200;
export const CR4_OSXMMEXCPT = 0x400;
export const CR4_UMIP = 0x800;
export const CR4_LA57 = 0x1000;
export const CR4_FSGSBASE = 0x10000;
export const CR4_PCIDE = 0x20000;
export const CR4_OSXSAVE = 0x40000;
export const CR4_SMEP = 0x100000;
export const CR4_SMAP = 0x200000;

// ---- EFER bits
export const EFER_SCE = 0x1;
export const EFER_LME = 0x100;
export const EFER_LMA = 0x400;
export const EFER_NXE = 0x800;

/** Reasons an instruction asks run() to stop after it (bit mask). */
export const STOP_IO = 1;
export const STOP_MMIO = 2;
export const STOP_HLT = 4;
export const STOP_SHUTDOWN = 8;
/** not a stop: the next instruction belongs to this step (run() extends the step and goes on) */
export const STOP_EXTEND = 16;

/** Parity flag lookup: PARITY[b] = PF if b has an even number of set bits. */
export const PARITY = new Uint8Array(256);
for (let b = 0; b < 256; b++) {
  let n = 0;
  for (let k = 0; k < 8; k++) n += (b >> k) & 1;
  PARITY[b] = n & 1 ? 0 : PF;
}

export const TWO32 = 4294967296;
/** 2^47: canonical 64-bit addresses are the integers in [-2^47, 2^47) (as signed doubles). */
export const CANON = 140737488355328;
/** 2^48: linear addresses in long mode are kept as unsigned 48-bit numbers. */
export const TWO48 = 281474976710656;

/** Truncate v to an unsigned value of `size` bytes (1, 2 or 4). */
export function trunc(v: number, size: number): number {
  return size === 1 ? v & 0xff : size === 2 ? v & 0xffff : v >>> 0;
}

/** Sign-extend the low `size` bytes of v to a JS int32. */
export function sext(v: number, size: number): number {
  return size === 1 ? (v << 24) >> 24 : size === 2 ? (v << 16) >> 16 : v | 0;
}

export function hex2(b: number): string {
  return b.toString(16).padStart(2, '0');
}
