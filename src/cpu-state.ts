// Architectural vCPU state as vmtrace exchanges it between KVM, the trace and the interpreter.
// Field names and order follow struct kvm_regs / kvm_sregs so that the native layer can copy
// bytes without translation; 64-bit quantities are bigints (exchange only, never a hot path).

export const REG_NAMES = [
  'rax', 'rbx', 'rcx', 'rdx', 'rsi', 'rdi', 'rsp', 'rbp',
  'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15',
  'rip', 'rflags',
] as const;
export type RegName = (typeof REG_NAMES)[number];
export type Regs = Record<RegName, bigint>;

/** Bytes of struct kvm_regs: 18 little-endian u64 in REG_NAMES order. */
export const REGS_BYTES = REG_NAMES.length * 8;

export interface Segment {
  base: bigint;
  limit: number;
  selector: number;
  type: number;
  present: number;
  dpl: number;
  db: number;
  s: number;
  l: number;
  g: number;
  avl: number;
  unusable: number;
}

export interface DescriptorTable {
  base: bigint;
  limit: number;
}

export const SEGMENT_NAMES = ['cs', 'ds', 'es', 'fs', 'gs', 'ss', 'tr', 'ldt'] as const;
export type SegmentName = (typeof SEGMENT_NAMES)[number];
export const CONTROL_NAMES = ['cr0', 'cr2', 'cr3', 'cr4', 'cr8', 'efer', 'apic_base'] as const;
export type ControlName = (typeof CONTROL_NAMES)[number];

export type Sregs = Record<SegmentName, Segment> &
  Record<ControlName, bigint> & { gdt: DescriptorTable; idt: DescriptorTable };

/** One CPUID entry as KVM reports it (struct kvm_cpuid_entry2). */
export interface CpuidEntry {
  function: number;
  index: number;
  /** KVM_CPUID_FLAG_SIGNIFCANT_INDEX (1): `index` must match ECX. */
  flags: number;
  eax: number;
  ebx: number;
  ecx: number;
  edx: number;
}

export function regsFromBytes(bytes: Uint8Array): Regs {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const regs = {} as Regs;
  REG_NAMES.forEach((name, i) => {
    regs[name] = view.getBigUint64(i * 8, true);
  });
  return regs;
}

export function regsToBytes(regs: Regs): Uint8Array {
  const bytes = new Uint8Array(REGS_BYTES);
  const view = new DataView(bytes.buffer);
  REG_NAMES.forEach((name, i) => view.setBigUint64(i * 8, regs[name], true));
  return bytes;
}

/** Names of the registers whose values differ, in REG_NAMES order. */
export function diffRegs(a: Regs, b: Regs): RegName[] {
  return REG_NAMES.filter((n) => a[n] !== b[n]);
}

/** Dotted paths (`cs.base`, `cr0`, `gdt.limit`) of the sregs fields that differ. */
export function diffSregs(a: Sregs, b: Sregs): string[] {
  const out: string[] = [];
  for (const seg of SEGMENT_NAMES) {
    for (const k of Object.keys(a[seg]) as (keyof Segment)[]) {
      if (a[seg][k] !== b[seg][k]) out.push(`${seg}.${k}`);
    }
  }
  for (const t of ['gdt', 'idt'] as const) {
    if (a[t].base !== b[t].base) out.push(`${t}.base`);
    if (a[t].limit !== b[t].limit) out.push(`${t}.limit`);
  }
  for (const c of CONTROL_NAMES) if (a[c] !== b[c]) out.push(c);
  return out;
}

export function hex(v: bigint | number, width = 0): string {
  return '0x' + v.toString(16).padStart(width, '0');
}
