// What a KVM host can run, and the one line that says so when a guest stops because of it.
// Measured on kvm_pvm (docs/guests.md): real mode, 32-bit protected mode without paging, and long
// mode (set up by the VMM, or enabled by the guest itself) run; a guest that turns on 32-bit or
// PAE paging outside long mode ends with SHUTDOWN right at its `mov …, %cr0`.
import type { RegName, Regs, Sregs } from '../cpu-state.js';
import { CR4, EFER } from './profiles.js';

/** Hosts known not to run paging outside long mode. */
const NO_LEGACY_PAGING = ['kvm_pvm'];
const LEGACY_PREFIXES = new Set([0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65, 0x66, 0x67, 0xf0, 0xf2, 0xf3]);
const CR0_PG = 0x80000000n;
/** General registers by their x86 encoding (ModRM.rm, REX.B extending it). */
const BY_ENCODING: RegName[] = ['rax', 'rcx', 'rdx', 'rbx', 'rsp', 'rbp', 'rsi', 'rdi', 'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15'];

/**
 * The value a `mov reg, %cr0` at the start of `code` writes (0F 22 /0 with a register operand,
 * after prefixes), or undefined when `code` starts with another instruction.
 */
export function movToCr0Value(code: Uint8Array, regs: Regs, longMode: boolean): bigint | undefined {
  let i = 0;
  let rexB = 0;
  while (i < code.length && LEGACY_PREFIXES.has(code[i]!)) i++;
  if (longMode && i < code.length && (code[i]! & 0xf0) === 0x40) rexB = code[i++]! & 1;
  if (code[i] !== 0x0f || code[i + 1] !== 0x22) return undefined;
  const modrm = code[i + 2];
  if (modrm === undefined || modrm >> 6 !== 3 || ((modrm >> 3) & 7) !== 0) return undefined;
  return regs[BY_ENCODING[(modrm & 7) | (rexB << 3)]!];
}

/**
 * Explains a SHUTDOWN at an instruction that turns on paging outside long mode, on a host known
 * not to run it; undefined when it looks like an ordinary triple fault. `code` holds the bytes at
 * CS:RIP (up to 15).
 */
export function shutdownExplanation(regs: Regs, sregs: Sregs, code: Uint8Array, kvmModule: string): string | undefined {
  const host = kvmModule.split(',').find((m) => NO_LEGACY_PAGING.includes(m));
  if (!host || sregs.efer & EFER.LME) return undefined;
  const value = movToCr0Value(code, regs, sregs.cs.l === 1);
  if (value === undefined || !(value & CR0_PG)) return undefined;
  const kind = sregs.cr4 & CR4.PAE ? 'PAE' : '32-bit';
  return `guest shut down enabling ${kind} paging (mov to CR0 with PG=1 at RIP 0x${regs.rip.toString(16)}), which this host's KVM (${host}) cannot run; paging works in long mode (--mode long)`;
}
