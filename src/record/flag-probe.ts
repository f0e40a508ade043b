// Probing how this host computes architecturally undefined flags: the probe program
// (flag-probe-program.ts) runs once under KVM in the guest's boot mode — natively or through
// KVM's emulator, whichever the host uses for that mode, so it measures what the guest will
// see — and once in the interpreter; the fitted rules go into the trace header
// (hostModel.flags) for replay to follow.

import { loadMemory } from '../boot/memory.js';
import type { BootPlan } from '../boot/profiles.js';
import { Cpu, type ExitSink } from '../replay/x86/index.js';
import { EXIT, exitReasonName } from '../trace/exit-reasons.js';
import { guestIsIntel } from '../replay/x86/cpuid.js';
import type { Regs, Sregs } from '../cpu-state.js';
import type { BootMode, CpuidEntry } from '../trace/format.js';
import { UNDEF_CLASS_NAMES, type UndefClassName } from '../replay/x86/flag-model.js';
import { fitFlagModel, probeProgram, type ObservedCase, type ProbeProgram } from './flag-probe-program.js';
import type { Machine } from './machine.js';
import { probeVm, runProbe } from './probe-vm.js';

/** The probe runs in a fraction of a second; this bounds a runaway one. */
const TIMEOUT_MS = 5000;

const noDevices: ExitSink = {
  ioIn: () => { throw new Error('the flag probe does no IO'); },
  ioOut: () => { throw new Error('the flag probe does no IO'); },
  mmioRead: () => { throw new Error('the flag probe does no MMIO'); },
  mmioWrite: () => { throw new Error('the flag probe does no MMIO'); },
};

const cache = new Map<string, Record<string, string>>();

/** The host's undefined-flag model for guests booting in `mode` (cached per process). */
export function probeFlagModel(mode: BootMode): Record<string, string> {
  const key = mode;
  const hit = cache.get(key);
  if (hit) return hit;
  // a class KVM cannot run in this mode (DAA/AAA/AAS under kvm_pvm's emulator) is left out:
  // replay keeps its built-in guess, and a guest using it cannot be recorded here anyway
  const skip = new Set<UndefClassName>();
  for (;;) {
    const prog = probeProgram(mode, skip);
    const { plan, machine } = probeVm('flag-probe', prog.code, mode, prog.load);
    const host = runOnKvm(machine, prog);
    if (typeof host === 'number') {
      const failed = [...prog.cases].reverse().find((c) => c.at <= host - prog.load);
      const name = failed && UNDEF_CLASS_NAMES[failed.cls]!;
      if (!name || skip.has(name)) throw new Error(`flag probe: KVM could not emulate the probe at 0x${host.toString(16)}`);
      skip.add(name);
      continue;
    }
    const model = fitFlagModel(interpretProbe(prog, plan, machine.boot.regs, machine.boot.sregs, machine.cpuid).observed, host);
    cache.set(key, model);
    return model;
  }
}

/** RFLAGS after each case, as KVM ran them; or the RIP where KVM failed to emulate. */
function runOnKvm(m: Machine, prog: ProbeProgram): number[] | number {
  return runProbe('flag probe', m, { timeoutMs: TIMEOUT_MS }, (reason) => {
    if (reason === EXIT.HLT) return resultsIn(m.ram[0]!.bytes, prog);
    if (reason === EXIT.INTERNAL_ERROR) return Number(m.vcpu.getRegs().rip);
    if (reason !== EXIT.INTR) throw new Error(`flag probe: unexpected ${exitReasonName(reason)} exit (this host cannot run the ${prog.mode}-mode probe)`);
    return undefined;
  });
}

/**
 * The probe in the interpreter, from the boot state `regs`/`sregs` of `plan`: what the
 * executors saw in each case, and the RFLAGS the interpreter itself stored.
 */
export function interpretProbe(prog: ProbeProgram, plan: BootPlan, regs: Regs, sregs: Sregs, cpuid: CpuidEntry[]): { observed: ObservedCase[]; flags: number[] } {
  const ram = plan.memory.map((r) => ({ base: r.base, bytes: new Uint8Array(r.size) }));
  loadMemory(ram, plan.blobs);
  const cpu = new Cpu({ ram, sink: noDevices, cpuid, vendor: guestIsIntel(cpuid) ? 'intel' : 'amd' });
  cpu.setState(regs, sregs);
  const base = prog.mode === 'real' ? 0 : prog.results;
  const observed: ObservedCase[] = [];
  cpu.observeUndefinedFlags((cls, mask, ctx) => {
    const index = (Number(cpu.getRegs().rdi & 0xffffffffn) - base) / prog.stride;
    observed.push({ index, cls, mask, ctx: { ...ctx } });
  });
  for (let n = 0; ; n++) {
    const r = cpu.run(1 << 20);
    if (r.kind === 'hlt') break;
    if (r.kind !== 'limit' || n > 8) throw new Error(`flag probe: the interpreter stopped with ${r.kind} (${JSON.stringify(r)})`);
  }
  return { observed, flags: resultsIn(ram[0]!.bytes, prog) };
}

/** The RFLAGS the probe stored, one per case. */
function resultsIn(ram: Uint8Array, prog: ProbeProgram): number[] {
  const view = new DataView(ram.buffer, ram.byteOffset, ram.byteLength);
  return prog.cases.map((_, k) => view.getUint16(prog.results + k * prog.stride, true));
}
