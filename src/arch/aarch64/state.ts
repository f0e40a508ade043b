// AArch64 vCPU state as vmtrace exchanges it between KVM, the trace and the interpreter. A trace
// record's registers are the 35 values below as little-endian u64 (280 bytes), its system
// registers the 13 after them (104 bytes, stored only when they change, as x86 sregs are). Both
// stack pointers are general registers here: C code moves SP_EL1 on every call, and a banked
// copy in the system block would make that block change on nearly every exit.
export const A64_REG_NAMES = [
  'x0', 'x1', 'x2', 'x3', 'x4', 'x5', 'x6', 'x7', 'x8', 'x9', 'x10', 'x11', 'x12', 'x13', 'x14', 'x15',
  'x16', 'x17', 'x18', 'x19', 'x20', 'x21', 'x22', 'x23', 'x24', 'x25', 'x26', 'x27', 'x28', 'x29', 'x30',
  'sp_el0', 'sp_el1', 'pc', 'pstate',
] as const;
export type A64RegName = (typeof A64_REG_NAMES)[number];
export type A64Regs = Record<A64RegName, bigint>;
export const A64_REGS_BYTES = A64_REG_NAMES.length * 8;
/** Word indexes (u64) of the registers code outside the interpreter names. */
export const A64_REG = { sp_el0: 31, sp_el1: 32, pc: 33, pstate: 34 } as const;

export const A64_SYSREG_NAMES = [
  'elr_el1', 'spsr_el1', 'sctlr_el1', 'tcr_el1', 'ttbr0_el1', 'ttbr1_el1', 'mair_el1', 'vbar_el1',
  'esr_el1', 'far_el1', 'cpacr_el1', 'tpidr_el1', 'tpidr_el0',
] as const;
export type A64SysregName = (typeof A64_SYSREG_NAMES)[number];
export type A64Sysregs = Record<A64SysregName, bigint>;
export const A64_SYSREGS_BYTES = A64_SYSREG_NAMES.length * 8;

/**
 * (op0, op1, CRn, CRm, op2) of each system register: what MRS/MSR encode and what KVM's
 * ARM64_SYS_REG() one-reg id is made of. elr_el1 and spsr_el1 are KVM core registers
 * (KVM_REG_ARM_CORE elr_el1, spsr[EL1]); their encodings here are the MRS/MSR ones.
 */
export const A64_SYSREG_ENCODING: Record<A64SysregName, readonly [number, number, number, number, number]> = {
  elr_el1: [3, 0, 4, 0, 1],
  spsr_el1: [3, 0, 4, 0, 0],
  sctlr_el1: [3, 0, 1, 0, 0],
  tcr_el1: [3, 0, 2, 0, 2],
  ttbr0_el1: [3, 0, 2, 0, 0],
  ttbr1_el1: [3, 0, 2, 0, 1],
  mair_el1: [3, 0, 10, 2, 0],
  vbar_el1: [3, 0, 12, 0, 0],
  esr_el1: [3, 0, 5, 2, 0],
  far_el1: [3, 0, 6, 0, 0],
  cpacr_el1: [3, 0, 1, 0, 2],
  tpidr_el1: [3, 0, 13, 0, 4],
  tpidr_el0: [3, 3, 13, 0, 2],
};

function fromBytes<N extends string>(names: readonly N[], bytes: Uint8Array): Record<N, bigint> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = {} as Record<N, bigint>;
  names.forEach((name, i) => (out[name] = view.getBigUint64(i * 8, true)));
  return out;
}

function toBytes<N extends string>(names: readonly N[], values: Record<N, bigint>): Uint8Array {
  const bytes = new Uint8Array(names.length * 8);
  const view = new DataView(bytes.buffer);
  names.forEach((name, i) => view.setBigUint64(i * 8, values[name], true));
  return bytes;
}

export const a64RegsFromBytes = (b: Uint8Array): A64Regs => fromBytes(A64_REG_NAMES, b);
export const a64RegsToBytes = (r: A64Regs): Uint8Array => toBytes(A64_REG_NAMES, r);
export const a64SysregsFromBytes = (b: Uint8Array): A64Sysregs => fromBytes(A64_SYSREG_NAMES, b);
export const a64SysregsToBytes = (s: A64Sysregs): Uint8Array => toBytes(A64_SYSREG_NAMES, s);

/** PSTATE bits. */
export const PSTATE = { N: 1n << 31n, Z: 1n << 30n, C: 1n << 29n, V: 1n << 28n, D: 1n << 9n, A: 1n << 8n, I: 1n << 7n, F: 1n << 6n } as const;
/** What KVM_ARM_VCPU_INIT leaves: EL1h (SP_EL1), D, A, I and F masked. */
export const PSTATE_RESET = 0x3c5n;
