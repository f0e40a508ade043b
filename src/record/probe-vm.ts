// A throwaway VM for the host probes (flag-probe.ts, step-probe.ts): `code` booted in `mode`
// with the same boot profile a guest image gets, so a probe sees what a guest would, and run
// until the probe says it is done, bounded in time so that it never hangs.
import { KICK_MS } from './loop-ticker.js';
import { planBoot, type BootPlan } from '../boot/profiles.js';
import { loadImage } from '../image/load.js';
import type { BootMode } from '../trace/format.js';
import { ExitRing } from './exit-ring.js';
import { createMachine, type Machine } from './machine.js';

const EINTR = 4;

export function probePlan(name: string, code: Uint8Array, mode: BootMode, load: number): BootPlan {
  const image = loadImage(code, name, { mode, load, entry: mode === 'real' ? { cs: 0, ip: load } : load });
  return planBoot({ mode, image });
}

export function probeVm(name: string, code: Uint8Array, mode: BootMode, load: number): { plan: BootPlan; machine: Machine } {
  const plan = probePlan(name, code, mode, load);
  return { plan, machine: createMachine({ memory: plan.memory, initialMemory: plan.blobs, bootState: plan.state }) };
}

/**
 * KVM_RUN the probe one exit at a time, handing each exit (but the kick timer's) to `onExit`
 * until it returns a result; throws after `timeoutMs` or `maxRuns` exits, or on a KVM_RUN error.
 */
export function runProbe<T>(name: string, m: Machine, limits: { timeoutMs: number; maxRuns?: number }, onExit: (reason: number, slot: number, ring: ExitRing) => T | undefined): T {
  const ring = new ExitRing(m.vcpu.exitRing(), m.addon.runLayout);
  const deadline = Date.now() + limits.timeoutMs;
  const maxRuns = limits.maxRuns ?? Infinity;
  m.vcpu.startKickTimer(KICK_MS);
  try {
    for (let runs = 0; ; runs++) {
      if (runs > maxRuns || Date.now() > deadline) throw new Error(`${name}: the probe did not finish (${runs} KVM_RUNs, ${limits.timeoutMs} ms)`);
      const slot = m.vcpu.runBatch(1, false) - 1;
      const err = ring.err(slot);
      if (err === EINTR) continue;
      if (err !== 0) throw new Error(`${name}: KVM_RUN failed (errno ${err})`);
      const result = onExit(ring.exitReason(slot), slot, ring);
      if (result !== undefined) return result;
    }
  } finally {
    m.vcpu.stopKickTimer();
  }
}
