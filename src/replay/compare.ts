// Comparing what the interpreter did with what a trace recorded: one list of field differences,
// used by the replay engine and its divergence report.
import { diffSregs, hex, REG_NAMES, type Regs, type Sregs } from '../cpu-state.js';
import type { TraceRecord } from '../trace/format.js';

export interface FieldDiff {
  field: string;
  expected: string;
  actual: string;
}

/** An exit as the interpreter produced it. */
export interface ActualExit {
  reason: string;
  io?: { port: number; size: number; direction: 'in' | 'out'; count: number; data: Uint8Array };
  mmio?: { address: number; length: number; write: boolean; data: Uint8Array };
}

const bytesHex = (b: Uint8Array): string => Buffer.from(b).toString('hex') || '(none)';

/** Reason and payload differences between a recorded exit and the interpreter's. */
export function diffPayload(expected: TraceRecord, actual: ActualExit): FieldDiff[] {
  const out: FieldDiff[] = [];
  const push = (field: string, e: unknown, a: unknown) => {
    if (e !== a) out.push({ field, expected: String(e), actual: String(a) });
  };
  push('reason', expected.reasonName, actual.reason);
  if (out.length) return out;
  if (expected.io && actual.io) {
    const e = expected.io;
    const a = actual.io;
    push('io.port', hex(e.port), hex(a.port));
    push('io.direction', e.direction, a.direction);
    push('io.size', e.size, a.size);
    push('io.count', e.count, a.count);
    // IN data is what the trace fed the guest; only OUT data is the guest's own.
    if (e.direction === 'out') push('io.data', bytesHex(e.data), bytesHex(a.data));
  }
  if (expected.mmio && actual.mmio) {
    const e = expected.mmio;
    const a = actual.mmio;
    push('mmio.address', hex(e.address), hex(a.address));
    push('mmio.write', e.write, a.write);
    push('mmio.length', e.length, a.length);
    if (e.write) push('mmio.data', bytesHex(e.data), bytesHex(a.data));
  }
  return out;
}

/**
 * Register differences. `ignoreFlags` masks RFLAGS bits the last instruction left
 * architecturally undefined (vendors differ there; see docs/replay.md).
 */
export function diffRegisters(expected: Regs, actual: Regs, ignoreFlags = 0n): FieldDiff[] {
  const out: FieldDiff[] = [];
  for (const name of REG_NAMES) {
    let e = expected[name];
    let a = actual[name];
    if (name === 'rflags') {
      e &= ~ignoreFlags;
      a &= ~ignoreFlags;
    }
    if (e !== a) out.push({ field: name, expected: hex(expected[name]), actual: hex(actual[name]) });
  }
  return out;
}

/** struct kvm_regs as 32-bit words (36), and which of them is RFLAGS' low half. */
export const REG_WORDS = REG_NAMES.length * 2;
export const RFLAGS_WORD = REG_NAMES.indexOf('rflags') * 2;

export function diffSegments(expected: Sregs, actual: Sregs): FieldDiff[] {
  return diffSregs(expected, actual).map((path) => {
    const get = (s: Sregs) => path.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown>)[k], s);
    const show = (v: unknown) => (typeof v === 'bigint' ? hex(v) : String(v));
    return { field: path, expected: show(get(expected)), actual: show(get(actual)) };
  });
}
