// Where the AArch64 guest lives: the QEMU `virt` board's addresses, so that guests written for
// QEMU run unchanged (RAM at 1 GiB, the PL011 UART at 0x09000000).
export const RAM_BASE = 0x4000_0000;
export const DEFAULT_RAM_BYTES = 16 << 20;
export const PL011_BASE = 0x0900_0000;
/** vmtrace's exit-status register (a 32-bit write ends the run with that status): free in virt's map. */
export const EXIT_DEVICE_BASE = 0x0910_0000;
/** SCTLR_EL1 as the boot state gives it: the RES1 bits, MMU and caches off. */
export const SCTLR_RESET = 0x30d0_0800n;

/** PSCI 0.2 function ids the VMM and the interpreter care about (SMC32 calling convention). */
export const PSCI = { VERSION: 0x8400_0000, SYSTEM_OFF: 0x8400_0008, SYSTEM_RESET: 0x8400_0009 } as const;
/** kvm_run.system_event.type. */
export const SYSTEM_EVENT = { SHUTDOWN: 1, RESET: 2, CRASH: 3 } as const;
