// The interpreter's public types and the objects executors throw to leave an instruction early.

export interface A64Ram { base: number; bytes: Uint8Array }

export type A64Stop =
  | { kind: 'budget' }
  | { kind: 'mmio'; address: number; length: number; write: boolean; data: Uint8Array; isv: boolean }
  | { kind: 'hvc'; imm: number }
  | { kind: 'smc'; imm: number }
  | { kind: 'wfi' }
  | { kind: 'unsupported'; pc: bigint; word: number; message: string };

/** A synchronous exception to take to EL1 (ESR = ec:IL:iss). `next`: ELR is the next instruction (SVC). */
export class A64Fault {
  constructor(readonly ec: number, readonly iss: number, readonly far: bigint | null = null, readonly next = false) {}
}

/** Valid instruction or register this interpreter does not implement: nothing changed. */
export class A64Unsupported {
  constructor(readonly message: string) {}
}

/** A physical access outside RAM: the instruction stops before retiring. */
export class A64MmioStop {
  constructor(readonly stop: A64Stop & { kind: 'mmio' }) {}
}

export const EC = {
  UNKNOWN: 0x00, FP_ACCESS: 0x07, ILLEGAL_STATE: 0x0e, SVC: 0x15, IABT_LOWER: 0x20, IABT_SAME: 0x21,
  PC_ALIGN: 0x22, DABT_LOWER: 0x24, DABT_SAME: 0x25, SP_ALIGN: 0x26, BRK: 0x3c,
} as const;

/** Fault status codes (DFSC/IFSC); translation/access/permission/walk-external add the level. */
export const FSC = {
  ADDRESS_SIZE: 0x00, TRANSLATION: 0x04, ACCESS_FLAG: 0x08, PERMISSION: 0x0c, EXTERNAL: 0x10, WALK_EXTERNAL: 0x14,
  ALIGNMENT: 0x21,
} as const;

/** Constant identification registers (a Cortex-A57 r1p0 as QEMU's `-cpu cortex-a57` and KVM vCPU 0 report). */
export const MIDR_EL1 = 0x411f_d070n;
export const MPIDR_EL1 = 0x8000_0000n;
export const CTR_EL0 = 0x8444_c004n;

/** Indexes into `sys`, in A64_SYSREG_NAMES order. */
export const SR = {
  ELR: 0, SPSR: 1, SCTLR: 2, TCR: 3, TTBR0: 4, TTBR1: 5, MAIR: 6, VBAR: 7, ESR: 8, FAR: 9, CPACR: 10, TPIDR1: 11, TPIDR0: 12,
} as const;

/** Memory access flags. */
export const MEM_ALIGN = 1; // must be aligned whatever the memory type (exclusives, acquire/release)
export const MEM_NOISV = 2; // KVM could not decode it from ESR (writeback, pairs, exclusives)
