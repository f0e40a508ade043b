// Which RFLAGS bits are architecturally undefined at each record of a trace: what `vmtrace diff`
// needs to tell a host-dependent flag difference (BSF/BSR, MUL/IMUL, BT*, shifts, AAx/DAA … leave
// some flags undefined, and CPUs differ in what they put there) from a behaviour difference.
//
// The masks come from replaying the trace in the interpreter (src/replay/engine.ts): at every
// matched record, the flag bits some instruction left undefined and nothing has written since
// (Cpu.undefinedFlagsNow, with the replay not adopting the recorded values, which would count
// as a write).
// Where the trace cannot be replayed (past a divergence, an unsupported instruction, an
// unreadable guest) nothing is known: the mask is 0 and every flag difference is behaviour.
import { replayTrace } from '../replay/engine.js';
import { flagNames } from '../replay/x86/index.js';

/** RFLAGS bits undefined at record `index` (0: none, or not known). */
export type UndefinedFlagsAt = (index: number) => number | Promise<number>;

/**
 * Undefined-flag masks of one trace, stored as change points (index, mask): masks change rarely,
 * so a long trace costs a few entries, not one per record.
 */
export class UndefinedFlagMasks {
  private readonly starts: number[] = [];
  private readonly masks: number[] = [];
  /** Records the replay matched (masks beyond are unknown: 0). */
  matched = 0;
  /** Why replay stopped early (divergence, error), when it did. */
  stoppedBy: string | undefined;

  /** Notes the mask at record `index` (called in record order). */
  add(index: number, mask: number): void {
    const last = this.masks.length ? this.masks[this.masks.length - 1]! : 0;
    if (mask !== last) {
      this.starts.push(index);
      this.masks.push(mask);
    }
    this.matched = index + 1;
  }

  /** The mask at record `index`; 0 beyond the records the replay matched. */
  at(index: number): number {
    if (index >= this.matched || index < 0) return 0;
    let lo = 0;
    let hi = this.starts.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (this.starts[mid]! <= index) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found < 0 ? 0 : this.masks[found]!;
  }

  /** Every record with a nonzero mask (for tests and small traces). */
  toMap(): Map<number, number> {
    const out = new Map<number, number>();
    for (let i = 0; i < this.starts.length; i++) {
      if (!this.masks[i]) continue;
      const end = i + 1 < this.starts.length ? this.starts[i + 1]! : this.matched;
      for (let j = this.starts[i]!; j < end; j++) out.set(j, this.masks[i]!);
    }
    return out;
  }
}

/**
 * Replays `file` and returns the undefined-flag mask of each record. Never throws: a trace that
 * cannot be replayed gives the masks of the records before the problem (0 after it).
 */
export async function undefinedFlagMasks(file: string): Promise<UndefinedFlagMasks> {
  const masks = new UndefinedFlagMasks();
  try {
    // Not adopting the recorded values of undefined flags keeps them undefined until the guest
    // writes them (adopting would define them at the first record).
    const r = await replayTrace(file, { adoptUndefinedFlags: false, onMatched: (index, mask) => masks.add(index, mask) });
    if (r.divergence) masks.stoppedBy = `replay diverged at record #${r.divergence.index} (${r.divergence.kind})`;
  } catch (e) {
    masks.stoppedBy = `replay failed: ${(e as Error).message}`;
  }
  return masks;
}

/**
 * An UndefinedFlagsAt that replays `file` the first time it is asked (most diffs never ask: only a
 * record whose RFLAGS differ does), then answers from the masks.
 */
export function replayedUndefinedFlags(file: string): UndefinedFlagsAt {
  let masks: Promise<UndefinedFlagMasks> | undefined;
  return async (index) => (await (masks ??= undefinedFlagMasks(file))).at(index);
}

/** `CF/ZF`: the flags in `mask`, named as replay names them. */
export function flagBitNames(mask: number): string {
  return flagNames(mask) || `0x${mask.toString(16)}`;
}
