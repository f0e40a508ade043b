// Byte layouts of struct kvm_regs and struct kvm_sregs (x86 KVM ABI, little-endian). Traces
// store registers in exactly these layouts, so the recorder copies what KVM wrote into kvm_run
// and any reader decodes them here, with or without the native addon.
import {
  CONTROL_NAMES,
  SEGMENT_NAMES,
  type DescriptorTable,
  type Segment,
  type Sregs,
} from './cpu-state.js';

export { regsFromBytes, regsToBytes, REGS_BYTES } from './cpu-state.js';

const SEGMENT_BYTES = 24;
const DTABLE_BYTES = 16;
const DTABLES_AT = SEGMENT_NAMES.length * SEGMENT_BYTES; // 192
const CONTROLS_AT = DTABLES_AT + 2 * DTABLE_BYTES; // 224
const INTERRUPT_BITMAP_AT = CONTROLS_AT + CONTROL_NAMES.length * 8; // 280
export const SREGS_BYTES = INTERRUPT_BITMAP_AT + 4 * 8; // 312

function readSegment(v: DataView, at: number): Segment {
  return {
    base: v.getBigUint64(at, true),
    limit: v.getUint32(at + 8, true),
    selector: v.getUint16(at + 12, true),
    type: v.getUint8(at + 14),
    present: v.getUint8(at + 15),
    dpl: v.getUint8(at + 16),
    db: v.getUint8(at + 17),
    s: v.getUint8(at + 18),
    l: v.getUint8(at + 19),
    g: v.getUint8(at + 20),
    avl: v.getUint8(at + 21),
    unusable: v.getUint8(at + 22),
  };
}

function writeSegment(v: DataView, at: number, s: Segment): void {
  v.setBigUint64(at, s.base, true);
  v.setUint32(at + 8, s.limit, true);
  v.setUint16(at + 12, s.selector, true);
  const bytes = [s.type, s.present, s.dpl, s.db, s.s, s.l, s.g, s.avl, s.unusable];
  bytes.forEach((b, i) => v.setUint8(at + 14 + i, b));
}

function readDtable(v: DataView, at: number): DescriptorTable {
  return { base: v.getBigUint64(at, true), limit: v.getUint16(at + 8, true) };
}

export function sregsFromBytes(bytes: Uint8Array): Sregs {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = {} as Sregs;
  SEGMENT_NAMES.forEach((name, i) => {
    out[name] = readSegment(v, i * SEGMENT_BYTES);
  });
  out.gdt = readDtable(v, DTABLES_AT);
  out.idt = readDtable(v, DTABLES_AT + DTABLE_BYTES);
  CONTROL_NAMES.forEach((name, i) => {
    out[name] = v.getBigUint64(CONTROLS_AT + i * 8, true);
  });
  return out;
}

/** Encodes sregs; the interrupt bitmap (pending external interrupts) is written as zero. */
export function sregsToBytes(sregs: Sregs): Uint8Array {
  const bytes = new Uint8Array(SREGS_BYTES);
  const v = new DataView(bytes.buffer);
  SEGMENT_NAMES.forEach((name, i) => writeSegment(v, i * SEGMENT_BYTES, sregs[name]));
  for (const [i, t] of [sregs.gdt, sregs.idt].entries()) {
    v.setBigUint64(DTABLES_AT + i * DTABLE_BYTES, t.base, true);
    v.setUint16(DTABLES_AT + i * DTABLE_BYTES + 8, t.limit, true);
  }
  CONTROL_NAMES.forEach((name, i) => v.setBigUint64(CONTROLS_AT + i * 8, sregs[name], true));
  return bytes;
}
