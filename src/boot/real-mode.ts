// The initial vCPU state of a real-mode guest, computed once here: the recorder applies it to
// KVM and stores what KVM reports back; the replayer starts from that stored state.
import { REG_NAMES, type Regs, type Segment, type Sregs } from '../cpu-state.js';

export interface RealModeEntry {
  cs: number;
  ip: number;
  /** Initial SP (SS is 0). 0 as in the classic demo: the first push lands at 0000:FFFE. */
  sp: number;
}

/** A real-mode segment as the CPU caches it after `mov sreg`: base = selector * 16, 64 KiB limit. */
export function realModeSegment(selector: number, code: boolean): Segment {
  return {
    base: BigInt(selector) << 4n,
    limit: 0xffff,
    selector,
    type: code ? 0xb : 0x3, // execute/read or read/write, accessed
    present: 1,
    dpl: 0,
    db: 0,
    s: 1,
    l: 0,
    g: 0,
    avl: 0,
    unusable: 0,
  };
}

function systemSegment(type: number): Segment {
  return { ...realModeSegment(0, false), type, s: 0 };
}

export function realModeState(entry: RealModeEntry, current: Sregs): { regs: Regs; sregs: Sregs } {
  const regs = Object.fromEntries(REG_NAMES.map((n) => [n, 0n])) as Regs;
  regs.rip = BigInt(entry.ip);
  regs.rsp = BigInt(entry.sp);
  regs.rflags = 0x2n; // bit 1 is reserved and always set
  const data = realModeSegment(0, false);
  const sregs: Sregs = {
    ...current, // cr8 and apic_base stay as KVM has them
    cs: realModeSegment(entry.cs, true),
    ds: data,
    es: data,
    fs: data,
    gs: data,
    ss: data,
    tr: systemSegment(0x3), // 16-bit busy TSS, as after reset
    ldt: systemSegment(0x2),
    gdt: { base: 0n, limit: 0xffff },
    idt: { base: 0n, limit: 0xffff },
    cr0: 0x60000010n, // reset value: CD, NW, ET
    cr2: 0n,
    cr3: 0n,
    cr4: 0n,
    efer: 0n,
  };
  return { regs, sregs };
}
