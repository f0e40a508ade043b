// A throwaway VM for the host probes (flag-probe.ts, step-probe.ts): `code` booted in `mode`
// with the same boot profile a guest image gets, so a probe sees what a guest would.
import { planBoot, type BootPlan } from '../boot/profiles.js';
import { loadImage } from '../image/load.js';
import type { BootMode } from '../trace/format.js';
import { createMachine, type Machine } from './machine.js';

export function probePlan(name: string, code: Uint8Array, mode: BootMode, load: number): BootPlan {
  const image = loadImage(code, name, { mode, load, entry: mode === 'real' ? { cs: 0, ip: load } : load });
  return planBoot({ mode, image });
}

export function probeVm(name: string, code: Uint8Array, mode: BootMode, load: number): { plan: BootPlan; machine: Machine } {
  const plan = probePlan(name, code, mode, load);
  return { plan, machine: createMachine({ memory: plan.memory, initialMemory: plan.blobs, bootState: plan.state }) };
}
