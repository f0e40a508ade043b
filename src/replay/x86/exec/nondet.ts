// Instructions whose results the interpreter cannot compute: the time-stamp counter (RDTSC,
// RDTSCP, RDMSR of IA32_TSC in msr.ts) and the hardware random number generator (RDRAND,
// RDSEED). Their results come from the recording (Machine.recorded: the registers of a --step
// trace's record for this step); without one run() stops before the instruction with
// `nondeterministic` (docs/replay.md). RDPID reads IA32_TSC_AUX and is computed here.
//
// Feature gating follows the guest CPUID as elsewhere (cpuid.ts): RDTSCP, RDRAND, RDSEED and
// RDPID raise #UD without their CPUID bit; RDTSC (CPUID.1:EDX.TSC) is never gated, as on
// hardware, but CR4.TSD makes it (and RDTSCP) #GP(0) at CPL > 0.

import * as K from '../constants.js';
import { REP_F3, type Insn } from '../insn.js';
import type { Machine } from '../machine.js';
import { MSR_TSC_AUX, readMsr } from '../msr.js';
import type { Exec } from '../opdef.js';
import type { Regs } from '../../../cpu-state.js';

// (local copies of the constants: constants.ts says why)
const { CF, CR4_TSD, I_EAX, I_ECX, I_EDX, VEC_GP, VEC_UD } = K;

const GPR: Array<keyof Regs> = ['rax', 'rcx', 'rdx', 'rbx', 'rsp', 'rbp', 'rsi', 'rdi', 'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15'];

/** OF SF ZF AF PF CF: what RDRAND/RDSEED write (CF = valid, the others cleared). */
const RNG_FLAGS = 0x8d5;

function tscAllowed(c: Machine): void {
  if ((c.cr4 & CR4_TSD) !== 0 && c.cpl > 0) c.fault(VEC_GP);
}

/** EDX:EAX from the recording, zero-extended (as KVM's emulator and 64-bit hardware write them). */
function setEdxEax(c: Machine, r: Regs): void {
  c.r32[I_EAX] = Number(r.rax & 0xffffffffn);
  c.r32[I_EAX + 1] = 0;
  c.r32[I_EDX] = Number(r.rdx & 0xffffffffn);
  c.r32[I_EDX + 1] = 0;
}

/** 0F 31 RDTSC */
export const rdtsc: Exec = (c) => {
  tscAllowed(c);
  setEdxEax(c, c.recorded('RDTSC'));
};

/** 0F 01 F9 RDTSCP: EDX:EAX = TSC (recorded), ECX = IA32_TSC_AUX[31:0]. */
export function rdtscp(c: Machine): void {
  if (!c.features.rdtscp) c.fault(VEC_UD);
  tscAllowed(c);
  const r = c.recorded('RDTSCP');
  setEdxEax(c, r);
  c.r32[I_ECX] = Number(readMsr(c, MSR_TSC_AUX) & 0xffffffffn);
  c.r32[I_ECX + 1] = 0;
}

/** Writes `v` to GPR `reg` with operand size `osz` (16: merge, 32: zero-extend, 64: full). */
function writeGpr(c: Machine, reg: number, osz: number, v: bigint): void {
  const r32 = c.r32;
  if (osz === 2) {
    c.r16[reg * 4] = Number(v & 0xffffn);
    return;
  }
  r32[reg * 2] = Number(v & 0xffffffffn);
  r32[reg * 2 + 1] = osz === 8 ? Number((v >> 32n) & 0xffffffffn) : 0;
}

/** RDRAND/RDSEED r16/32/64: the value and CF from the recording; OF SF ZF AF PF cleared. */
function rng(c: Machine, i: Insn, name: 'RDRAND' | 'RDSEED'): void {
  const r = c.recorded(name);
  writeGpr(c, i.rm, i.osz, r[GPR[i.rm]!] as bigint);
  c.fl.assign(RNG_FLAGS, Number(r.rflags) & CF);
}

/** 0F C7 /6 (mod = 3) RDRAND */
export const rdrand: Exec = (c, i) => {
  if (!c.features.rdrand) c.fault(VEC_UD);
  rng(c, i, 'RDRAND');
};

/** 0F C7 /7 (mod = 3): RDSEED; with F3, RDPID (IA32_TSC_AUX: 64-bit register in 64-bit mode, else 32-bit). */
export const rdseedRdpid: Exec = (c, i) => {
  if (i.rep === REP_F3) {
    if (!c.features.rdpid) c.fault(VEC_UD);
    const aux = readMsr(c, MSR_TSC_AUX);
    writeGpr(c, i.rm, c.bits === 64 ? 8 : 4, aux);
    return;
  }
  if (!c.features.rdseed) c.fault(VEC_UD);
  rng(c, i, 'RDSEED');
};
