// KVM exit reason codes (include/uapi/linux/kvm.h). They are kernel ABI, so traces store the
// code and any reader can name it without the native addon.
export const EXIT = {
  UNKNOWN: 0,
  EXCEPTION: 1,
  IO: 2,
  HYPERCALL: 3,
  DEBUG: 4,
  HLT: 5,
  MMIO: 6,
  IRQ_WINDOW_OPEN: 7,
  SHUTDOWN: 8,
  FAIL_ENTRY: 9,
  INTR: 10,
  SET_TPR: 11,
  TPR_ACCESS: 12,
  NMI: 16,
  INTERNAL_ERROR: 17,
  SYSTEM_EVENT: 24,
  ARM_NISV: 28,
  X86_RDMSR: 29,
  X86_WRMSR: 30,
  X86_BUS_LOCK: 33,
  NOTIFY: 37,
} as const;

const NAMES = new Map<number, string>(Object.entries(EXIT).map(([name, code]) => [code, name]));

/** `IO`, `HLT`, … or `EXIT_<code>` for a code this version does not know. */
export function exitReasonName(code: number): string {
  return NAMES.get(code) ?? `EXIT_${code}`;
}

/** KVM_EXIT_INTERNAL_ERROR sub-errors. */
export const INTERNAL_ERROR_NAMES: Record<number, string> = {
  1: 'EMULATION',
  2: 'SIMUL_EX',
  3: 'DELIVERY_EV',
  4: 'UNEXPECTED_EXIT_REASON',
};
