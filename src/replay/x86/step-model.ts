// Single-step granularity of the recording host (trace header hostModel.step, probed by
// src/record/step-probe.ts; docs/exit-semantics.md, "Single-step"). Under
// KVM_GUESTDBG_SINGLESTEP some instructions end no step of their own: they and the next
// instruction are one DEBUG exit. The trace names them; here each name is matched against
// decoded instructions, and a matching instruction asks the run loop to run the next one in the
// same step (STOP_EXTEND, as IRETQ in 64-bit mode does).

import { IF, STOP_EXTEND } from './constants.js';
import { P_OPSIZE, REP_F3, REP_NONE, type Insn } from './insn.js';
import type { Exec } from './opdef.js';

export type StepJoinName =
  | 'endbr32' | 'endbr64' | 'nop' | 'nop-66' | 'pause' | 'nop-hint' | 'prefetch' | 'mov-ss' | 'pop-ss' | 'sti' | 'fwait'
  | 'rdrand' | 'rdseed';

export interface StepJoinCandidate {
  name: StepJoinName;
  /** What it is (docs). */
  what: string;
  /** The probe's encoding of it (the same bytes in 16-, 32- and 64-bit code unless legacyOnly). */
  bytes: number[];
  /** Instructions the probe runs before it (state it needs). */
  setup: number[];
  /** Invalid in 64-bit mode (not probed there). */
  legacyOnly?: boolean;
  /** Does a decoded instruction belong to this candidate? */
  match(i: Insn): boolean;
  /** Joins only when the flags before it are such (STI: only when IF was clear). */
  when?: 'if-clear';
}

/**
 * The candidates the recorder probes, by their stable names. Hint NOPs: 0F 19–0F 1F other than
 * ENDBR (the probe uses the multi-byte NOP 0F 1F /0); prefetches: 0F 18 /0–3 and 0F 0D.
 */
export const STEP_JOIN_CANDIDATES: readonly StepJoinCandidate[] = [
  { name: 'endbr32', what: 'ENDBR32 (F3 0F 1E FB)', bytes: [0xf3, 0x0f, 0x1e, 0xfb], setup: [], match: (i) => isEndbr(i, 3) },
  { name: 'endbr64', what: 'ENDBR64 (F3 0F 1E FA)', bytes: [0xf3, 0x0f, 0x1e, 0xfa], setup: [], match: (i) => isEndbr(i, 2) },
  { name: 'nop', what: 'NOP (90)', bytes: [0x90], setup: [], match: (i) => i.op === 0x90 && i.rep === REP_NONE && (i.rex & 1) === 0 && (i.pfx & P_OPSIZE) === 0 },
  { name: 'nop-66', what: 'NOP with an operand-size prefix (66 90)', bytes: [0x66, 0x90], setup: [], match: (i) => i.op === 0x90 && i.rep === REP_NONE && (i.rex & 1) === 0 && (i.pfx & P_OPSIZE) !== 0 },
  { name: 'pause', what: 'PAUSE (F3 90)', bytes: [0xf3, 0x90], setup: [], match: (i) => i.op === 0x90 && i.rep === REP_F3 && (i.rex & 1) === 0 },
  {
    name: 'nop-hint',
    what: 'hint NOPs 0F 19–0F 1F but ENDBR (probed: 0F 1F 40 00, nop [eAX+0] / [bx+si+0])',
    bytes: [0x0f, 0x1f, 0x40, 0x00],
    setup: [],
    match: (i) => i.op >= 0x119 && i.op <= 0x11f && !isEndbr(i, 3) && !isEndbr(i, 2),
  },
  {
    name: 'prefetch',
    what: 'PREFETCHh 0F 18 /0–3 and PREFETCH/W 0F 0D (probed: 0F 18 48 00, prefetcht0 [eAX+0] / [bx+si+0])',
    bytes: [0x0f, 0x18, 0x48, 0x00],
    setup: [],
    match: (i) => i.op === 0x118 || i.op === 0x10d,
  },
  // MOV SS / POP SS inhibit debug traps (and interrupts) until the next instruction completed
  { name: 'mov-ss', what: 'MOV SS, r/m16 (8E /2; probed: mov ax, ss; mov ss, ax)', bytes: [0x8e, 0xd0], setup: [0x8c, 0xd0], match: (i) => i.op === 0x8e && i.reg === 2 },
  { name: 'pop-ss', what: 'POP SS (17; probed: push ss; pop ss; not in 64-bit mode)', bytes: [0x17], setup: [0x16], legacyOnly: true, match: (i) => i.op === 0x17 },
  // STI with IF clear opens an interrupt shadow for one instruction
  { name: 'sti', what: 'STI with IF clear (FB; probed: cli; sti)', bytes: [0xfb], setup: [0xfa], match: (i) => i.op === 0xfb, when: 'if-clear' },
  { name: 'fwait', what: 'WAIT/FWAIT (9B) with no x87 exception pending', bytes: [0x9b], setup: [], match: (i) => i.op === 0x9b },
  // run by the hardware in 64-bit mode on kvm_pvm, whatever the guest CPUID says
  { name: 'rdrand', what: 'RDRAND r (0F C7 /6; probed: rdrand eAX)', bytes: [0x0f, 0xc7, 0xf0], setup: [], match: (i) => i.op === 0x1c7 && i.mod === 3 && (i.reg & 7) === 6 },
  { name: 'rdseed', what: 'RDSEED r (0F C7 /7 without F3; probed: rdseed eAX)', bytes: [0x0f, 0xc7, 0xf8], setup: [], match: (i) => i.op === 0x1c7 && i.mod === 3 && (i.reg & 7) === 7 && i.rep !== REP_F3 },
];

function isEndbr(i: Insn, rm: number): boolean {
  return i.op === 0x11e && i.rep === REP_F3 && i.mod === 3 && i.reg === 7 && i.rm === rm;
}

/**
 * The step-join test for the names in a trace (unknown names are ignored: a newer recorder may
 * probe more): returns whether a decoded instruction joins the next one, and how. Null when no
 * name is given (every instruction is its own step).
 */
export function stepJoinMatcher(names: readonly string[] | undefined): ((i: Insn) => StepJoinCandidate | undefined) | null {
  const active = STEP_JOIN_CANDIDATES.filter((c) => names?.includes(c.name));
  if (active.length === 0) return null;
  return (i) => active.find((c) => c.match(i));
}

const joined = new WeakMap<Exec, Exec>();
const joinedIfClear = new WeakMap<Exec, Exec>();

/** `x` followed by a request to run the next instruction in the same step. */
export function joinExec(x: Exec, c: StepJoinCandidate): Exec {
  const map = c.when === 'if-clear' ? joinedIfClear : joined;
  let j = map.get(x);
  if (j === undefined) {
    j = c.when === 'if-clear'
      ? (m, i) => {
          const before = m.fl.bits & IF;
          x(m, i);
          if (before === 0) m.stop |= STOP_EXTEND;
        }
      : (m, i) => {
          x(m, i);
          m.stop |= STOP_EXTEND;
        };
    map.set(x, j);
  }
  return j;
}
