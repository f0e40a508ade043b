// What the trace header records about how this host behaves where the architecture leaves
// room (docs/exit-semantics.md, "Host-dependent behaviour"): probed once per host
// configuration (probe-cache.ts).
import type { BootMode, HostModel } from '../trace/format.js';
import { probeFlagModel } from './flag-probe.js';
import { cachedProbe } from './probe-cache.js';
import { probeStepModel } from './step-probe.js';

/**
 * The host model for a recording booting in `mode`. A probe that cannot run here leaves its
 * part empty (replay then keeps its built-in guesses) and says why through `warn`.
 * `step` (which instructions share their single step with the next, step-probe.ts) is probed
 * only for `--step` recordings (`singleStep`); plain recordings never single-step, so theirs is
 * `{joins: []}`, which replay of an exit trace does not depend on.
 */
export function probeHostModel(mode: BootMode, warn: (message: string) => void, singleStep = false): HostModel {
  let flags: Record<string, string> = {};
  try {
    flags = cachedProbe(`flags:${mode}`, () => probeFlagModel(mode));
  } catch (e) {
    warn(`undefined-flag probe failed, replay will use its built-in flag values: ${(e as Error).message}`);
  }
  let joins: string[] = [];
  if (singleStep) {
    try {
      joins = cachedProbe(`step:${mode}`, () => probeStepModel(mode).model.joins);
    } catch (e) {
      warn(`single-step probe failed, replay will count every instruction as its own step: ${(e as Error).message}`);
    }
  }
  return { flags, step: { joins } };
}
