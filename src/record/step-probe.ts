// Probing how this host single-steps (docs/exit-semantics.md, "Single-step"): under
// KVM_GUESTDBG_SINGLESTEP every instruction normally ends with its own DEBUG exit, but some
// end none, so that they and the next instruction are one step (measured on kvm_pvm: ENDBR32/
// ENDBR64). A tiny guest runs each candidate below followed by a marker instruction, in the
// guest's boot mode, single-stepped through KVM; a candidate whose step did not end between it
// and the marker "joins" the next instruction. The names go into the trace header
// (hostModel.step.joins) and the interpreter follows them (src/replay/x86/step-model.ts).

import { DEFAULT_FLAT_LOAD } from '../image/load.js';
import { STEP_JOIN_CANDIDATES, type StepJoinName } from '../replay/x86/step-model.js';
import { EXIT, exitReasonName } from '../trace/exit-reasons.js';
import type { BootMode, StepModel } from '../trace/format.js';
import { KVM_GUESTDBG } from './kvm.js';
import type { Machine } from './machine.js';
import { probeVm, runProbe } from './probe-vm.js';

/** At most this many KVM_RUNs (the probe needs ~3 per candidate) and this long. */
const MAX_RUNS = 400;
const TIMEOUT_MS = 2000;
/** Port the probe writes to when done (any port: nothing is attached, the IO exit ends it). */
const DONE_PORT = 0x80;

/** `mov al, 1`: the marker after each candidate (two bytes, the same in every mode). */
const MARKER = [0xb0, 0x01];


export interface StepProbeProgram {
  mode: BootMode;
  load: number;
  code: Uint8Array;
  /** per candidate: offsets (in `code`) of its setup, of the candidate and of the marker behind it */
  cases: Array<{ name: StepJoinName; start: number; at: number; marker: number }>;
}

/** The probe program for `mode`: each candidate's setup, the candidate, the marker; then OUT. */
export function stepProbeProgram(mode: BootMode, skip: ReadonlySet<StepJoinName> = new Set()): StepProbeProgram {
  const bits = mode === 'real' ? 16 : mode === 'protected' ? 32 : 64;
  const out: number[] = [];
  const cases: StepProbeProgram['cases'] = [];
  if (mode === 'real') out.push(0xbc, 0x00, 0x80); // mov sp, 0x8000 (pop-ss pushes)
  for (const c of STEP_JOIN_CANDIDATES) {
    if (c.legacyOnly && bits === 64) continue;
    if (skip.has(c.name)) continue;
    const start = out.length;
    out.push(...c.setup);
    const at = out.length;
    out.push(...c.bytes);
    cases.push({ name: c.name, start, at, marker: out.length });
    out.push(...MARKER);
  }
  out.push(0xe6, DONE_PORT); // out DONE_PORT, al
  return { mode, load: DEFAULT_FLAT_LOAD[mode], code: Uint8Array.from(out), cases };
}

/**
 * The names of the candidates whose single step on this host also runs the next instruction,
 * from the RIPs (offsets into the program) at which steps ended.
 */
export function joinsFromStepEnds(prog: StepProbeProgram, ends: ReadonlySet<number>): string[] {
  const joins: string[] = [];
  for (const c of prog.cases) {
    // the step before the candidate must have ended at it, else the probe says nothing about it
    if (!ends.has(c.at)) throw new Error(`step probe: no step ended before ${c.name} (offset ${c.at}); step ends: ${[...ends].join(',')}`);
    if (!ends.has(c.marker)) joins.push(c.name);
  }
  return joins;
}

/** What the probe found: the joins, and the candidates KVM could not run in this mode. */
export interface StepProbeResult {
  model: StepModel;
  /** candidates left out because KVM failed on them (e.g. FWAIT: emulation failure on kvm_pvm) */
  unrunnable: StepJoinName[];
  ms: number;
}

const cache = new Map<BootMode, StepProbeResult>();

/** How this host single-steps guests booting in `mode` (cached per process). */
export function probeStepModel(mode: BootMode): StepProbeResult {
  const hit = cache.get(mode);
  if (hit) return hit;
  const started = performance.now();
  const skip = new Set<StepJoinName>();
  for (;;) {
    const prog = stepProbeProgram(mode, skip);
    const { machine } = probeVm('step-probe', prog.code, mode, prog.load);
    const failed: StepJoinName[] = [];
    const ends = stepEnds(machine, prog, failed);
    if (typeof ends === 'string') {
      // a candidate KVM cannot run here: a guest using it cannot be recorded here either
      if (skip.has(ends as StepJoinName)) throw new Error(`step probe: KVM failed on ${ends} twice`);
      skip.add(ends as StepJoinName);
      continue;
    }
    const runnable = { ...prog, cases: prog.cases.filter((c) => !failed.includes(c.name)) };
    const result = { model: { joins: joinsFromStepEnds(runnable, ends) }, unrunnable: [...skip, ...failed], ms: performance.now() - started };
    cache.set(mode, result);
    return result;
  }
}

/**
 * Runs the probe single-stepped: the program offsets of RIP at every DEBUG exit, or the name of
 * the candidate that faulted (a triple fault: no IDT). Candidates KVM cannot emulate are skipped
 * and added to `unrunnable`.
 */
function stepEnds(m: Machine, prog: StepProbeProgram, unrunnable: StepJoinName[]): Set<number> | string {
  const ends = new Set<number>([0]);
  m.vcpu.setGuestDebug(KVM_GUESTDBG.ENABLE | KVM_GUESTDBG.SINGLESTEP);
  try {
    return runProbe('step probe', m, { timeoutMs: TIMEOUT_MS, maxRuns: MAX_RUNS }, (reason, slot, ring) => {
      const rip = Number(m.vcpu.getRegs().rip) - prog.load;
      if (reason === EXIT.DEBUG) {
        ends.add(rip);
        return undefined;
      }
      if (reason === EXIT.IO && ring.ioPort(slot) === DONE_PORT) return ends;
      if (reason === EXIT.INTERNAL_ERROR || reason === EXIT.SHUTDOWN) {
        const c = prog.cases.find((k) => rip >= k.start && rip < k.marker + MARKER.length);
        if (!c) throw new Error(`step probe: ${exitReasonName(reason)} at offset ${rip}, before the first candidate`);
        if (reason === EXIT.SHUTDOWN) return c.name; // the VM is gone: probe again without it
        // an emulation failure: skip the candidate and go on in this VM (cheaper than a new one)
        unrunnable.push(c.name);
        const regs = m.vcpu.getRegs();
        const next = c.marker + MARKER.length;
        m.vcpu.setRegs({ ...regs, rip: BigInt(prog.load + next) });
        ends.add(next);
        return undefined;
      }
      if (reason !== EXIT.INTR) throw new Error(`step probe: unexpected ${exitReasonName(reason)} exit at offset ${rip}`);
      return undefined;
    });
  } finally {
    m.vcpu.setGuestDebug(0);
  }
}
