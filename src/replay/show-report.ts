// The machine state at one record, as `vmtrace show` and `vmtrace replay --to` print it: built
// from a DebugTarget positioned there, as plain JSON data (schema "vmtrace-show/1", documented
// in docs/cli.md) and as text. Every 64-bit value is a `0x…` string.
import { REG_NAMES, SEGMENT_NAMES, type Regs, type Segment, type SegmentName } from '../cpu-state.js';
import type { TraceRecord } from '../trace/format.js';
import { bytesAscii, bytesHex, describePayload, hx } from '../inspect/util.js';
import { oneLine } from '../text/sanitize.js';
import type { DebugTarget } from './debug-target.js';
import type { DisassembledAt } from './x86/index.js';

export const SHOW_SCHEMA = 'vmtrace-show/1';

/** A `--mem ADDR:LEN` request: guest-linear (through paging) unless `physical`. */
export interface MemRequest {
  address: number;
  length: number;
  physical: boolean;
}

/** What the report is built from: a target at the record, and how to read physical memory. */
export interface ShowSource {
  trace: string;
  /** Records in the trace. */
  records: number;
  record: TraceRecord;
  target: Pick<DebugTarget, 'position' | 'mode' | 'regs' | 'sregs' | 'msr' | 'readLinear' | 'disassemble'>;
  /** The instructions executed last, oldest first (the current one excluded). */
  history: DisassembledAt[];
  /** Guest-physical RAM; null where there is none (MMIO). */
  readPhysical: (address: number, length: number) => Uint8Array | null;
  memory: MemRequest[];
}

export interface InsnJson {
  at: string;
  bytes: string;
  text: string;
}

export interface MemRangeJson {
  address: string;
  length: number;
  /** Hex of the bytes; null where nothing is mapped (no translation, or MMIO). */
  bytes: string | null;
}

export interface ShowJson {
  schema: typeof SHOW_SCHEMA;
  trace: string;
  /** Always true here; false in the object `show` prints when replay diverged before the record. */
  reached: true;
  record: {
    index: number;
    of: number;
    kind: TraceRecord['kind'];
    reason: string;
    offset: number;
    payload: string;
    io?: { port: number; size: number; direction: 'in' | 'out'; count: number; data: string };
    mmio?: { address: string; length: number; write: boolean; data: string };
  };
  position: { instructions: number; records: number };
  mode: DebugTarget['mode'];
  /** 64 in long mode (also compatibility mode), else 32: the register names the text shows. */
  width: 64 | 32;
  regs: Record<(typeof REG_NAMES)[number], string>;
  rflags: { flags: string[]; iopl: number };
  segments: Record<SegmentName, { selector: string; base: string; limit: string; type: number; description: string; present: number; dpl: number; db: number; s: number; l: number; g: number; avl: number; unusable: number }>;
  gdtr: { base: string; limit: string };
  idtr: { base: string; limit: string };
  control: { cr0: string; cr2: string; cr3: string; cr4: string; cr8: string; efer: string; apic_base: string };
  controlFlags: { cr0: string[]; cr4: string[]; efer: string[] };
  msrs: Record<string, string>;
  code: { before: InsnJson[]; at: InsnJson[] };
  memory: Array<{ address: string; length: number; space: 'linear' | 'physical'; ranges: MemRangeJson[] }>;
}

/** Bit names, lowest bit first; bits without a name are not shown. */
type BitNames = ReadonlyArray<readonly [bit: number, name: string]>;

const RFLAGS_BITS: BitNames = [
  [0, 'CF'], [2, 'PF'], [4, 'AF'], [6, 'ZF'], [7, 'SF'], [8, 'TF'], [9, 'IF'], [10, 'DF'], [11, 'OF'],
  [14, 'NT'], [16, 'RF'], [17, 'VM'], [18, 'AC'], [19, 'VIF'], [20, 'VIP'], [21, 'ID'],
];
const CR0_BITS: BitNames = [[0, 'PE'], [1, 'MP'], [2, 'EM'], [3, 'TS'], [4, 'ET'], [5, 'NE'], [16, 'WP'], [18, 'AM'], [29, 'NW'], [30, 'CD'], [31, 'PG']];
const CR4_BITS: BitNames = [
  [0, 'VME'], [1, 'PVI'], [2, 'TSD'], [3, 'DE'], [4, 'PSE'], [5, 'PAE'], [6, 'MCE'], [7, 'PGE'], [8, 'PCE'], [9, 'OSFXSR'],
  [10, 'OSXMMEXCPT'], [11, 'UMIP'], [12, 'LA57'], [13, 'VMXE'], [14, 'SMXE'], [16, 'FSGSBASE'], [17, 'PCIDE'], [18, 'OSXSAVE'],
  [20, 'SMEP'], [21, 'SMAP'], [22, 'PKE'], [23, 'CET'],
];
const EFER_BITS: BitNames = [[0, 'SCE'], [8, 'LME'], [10, 'LMA'], [11, 'NXE'], [12, 'SVME'], [14, 'FFXSR']];

function bitNames(value: bigint, names: BitNames): string[] {
  return names.filter(([bit]) => (value >> BigInt(bit)) & 1n).map(([, name]) => name);
}

/** MSRs outside kvm_sregs a debugger wants to see (when the interpreter models them). */
const MSRS: ReadonlyArray<readonly [index: number, name: string]> = [
  [0xc0000100, 'fs_base'],
  [0xc0000101, 'gs_base'],
  [0xc0000102, 'kernel_gs_base'],
];

const SYSTEM_TYPES: Record<number, string> = {
  1: '16-bit TSS (available)',
  2: 'LDT',
  3: '16-bit TSS (busy)',
  9: 'TSS (available)',
  11: 'TSS (busy)',
};

/** The descriptor type in words: `code, readable, accessed`, `data, writable`, `LDT`. */
export function segmentType(s: Segment): string {
  if (s.unusable) return 'unusable';
  if (!s.s) return SYSTEM_TYPES[s.type] ?? `system type ${s.type}`;
  const t = s.type;
  const words = t & 8 ? ['code', ...(t & 4 ? ['conforming'] : []), ...(t & 2 ? ['readable'] : [])] : ['data', ...(t & 4 ? ['expand-down'] : []), ...(t & 2 ? ['writable'] : [])];
  if (t & 1) words.push('accessed');
  return words.join(', ');
}

function insnJson(d: DisassembledAt): InsnJson {
  return { at: d.at, bytes: bytesHex(d.bytes), text: d.text };
}

const PAGE = 4096;
/** Instructions shown before RIP (executed) and from RIP on. */
const CODE_BEFORE = 6;
const CODE_AT = 6;
const TWO47 = 2 ** 47;

/** A linear address as shown: 48-bit addresses of the upper half in their canonical 64-bit form. */
function linearHex(address: number, physical: boolean): string {
  return !physical && address >= TWO47 ? hx(BigInt(address) | 0xffff000000000000n) : hx(address);
}

/** The request's bytes in pieces that are all mapped or all unmapped (split at page boundaries). */
function readRanges(req: MemRequest, read: (address: number, length: number) => Uint8Array | null): MemRangeJson[] {
  const out: MemRangeJson[] = [];
  let at = req.address;
  const end = req.address + req.length;
  while (at < end) {
    const n = Math.min(end - at, PAGE - (at % PAGE));
    const bytes = read(at, n);
    const last = out[out.length - 1];
    if (last && (last.bytes === null) === (bytes === null)) {
      last.length += n;
      if (bytes && last.bytes !== null) last.bytes += bytesHex(bytes);
    } else out.push({ address: linearHex(at, req.physical), length: n, bytes: bytes ? bytesHex(bytes) : null });
    at += n;
  }
  return out;
}

export function showReport(src: ShowSource): ShowJson {
  const t = src.target;
  const regs = t.regs();
  const sregs = t.sregs();
  const rec = src.record;
  const longMode = ((sregs.efer >> 10n) & 1n) === 1n;
  const msrs: Record<string, string> = {};
  for (const [index, name] of MSRS) {
    const v = t.msr(index);
    if (v !== undefined) msrs[name] = hx(v);
  }
  const memory = src.memory.map((m) => {
    const read = m.physical ? src.readPhysical : (a: number, n: number) => t.readLinear(a, n);
    return { address: linearHex(m.address, m.physical), length: m.length, space: m.physical ? ('physical' as const) : ('linear' as const), ranges: readRanges(m, read) };
  });
  return {
    schema: SHOW_SCHEMA,
    trace: src.trace,
    reached: true,
    record: {
      index: rec.seq,
      of: src.records,
      kind: rec.kind,
      reason: rec.reasonName,
      offset: rec.offset,
      payload: describePayload(rec),
      ...(rec.io ? { io: { ...rec.io, data: bytesHex(rec.io.data) } } : {}),
      ...(rec.mmio ? { mmio: { ...rec.mmio, address: hx(rec.mmio.address), data: bytesHex(rec.mmio.data) } } : {}),
    },
    position: { instructions: t.position.instructions, records: t.position.records },
    mode: t.mode,
    width: longMode ? 64 : 32,
    regs: Object.fromEntries(REG_NAMES.map((n) => [n, hx(regs[n])])) as ShowJson['regs'],
    rflags: { flags: bitNames(regs.rflags, RFLAGS_BITS), iopl: Number((regs.rflags >> 12n) & 3n) },
    segments: Object.fromEntries(SEGMENT_NAMES.map((n) => [n, segmentJson(sregs[n])])) as ShowJson['segments'],
    gdtr: { base: hx(sregs.gdt.base), limit: hx(sregs.gdt.limit) },
    idtr: { base: hx(sregs.idt.base), limit: hx(sregs.idt.limit) },
    control: { cr0: hx(sregs.cr0), cr2: hx(sregs.cr2), cr3: hx(sregs.cr3), cr4: hx(sregs.cr4), cr8: hx(sregs.cr8), efer: hx(sregs.efer), apic_base: hx(sregs.apic_base) },
    controlFlags: { cr0: bitNames(sregs.cr0, CR0_BITS), cr4: bitNames(sregs.cr4, CR4_BITS), efer: bitNames(sregs.efer, EFER_BITS) },
    msrs,
    code: { before: src.history.slice(-CODE_BEFORE).map(insnJson), at: t.disassemble(CODE_AT).map(insnJson) },
    memory,
  };
}

function segmentJson(s: Segment): ShowJson['segments'][SegmentName] {
  return { selector: hx(s.selector), base: hx(s.base), limit: hx(s.limit), type: s.type, description: segmentType(s), present: s.present, dpl: s.dpl, db: s.db, s: s.s, l: s.l, g: s.g, avl: s.avl, unusable: s.unusable };
}

// ---------------------------------------------------------------------------------- text

const pad = (v: string, width: number): string => `0x${v.slice(2).padStart(width, '0')}`;

const REGS32: ReadonlyArray<readonly [shown: string, reg: keyof Regs]> = [
  ['eax', 'rax'], ['ebx', 'rbx'], ['ecx', 'rcx'], ['edx', 'rdx'], ['esi', 'rsi'], ['edi', 'rdi'], ['ebp', 'rbp'], ['esp', 'rsp'],
];

function registerLines(r: ShowJson): string[] {
  const names = [...r.rflags.flags, ...(r.rflags.iopl ? [`IOPL=${r.rflags.iopl}`] : [])];
  const flags = names.length ? ` [${names.join(' ')}]` : '';
  if (r.width === 64) {
    const names = REG_NAMES.filter((n) => n !== 'rip' && n !== 'rflags');
    const cells = names.map((n) => `${n.padStart(3)} ${pad(r.regs[n], 16)}`);
    const lines: string[] = [];
    for (let i = 0; i < cells.length; i += 4) lines.push(`  ${cells.slice(i, i + 4).join('  ')}`);
    lines.push(`  rip ${pad(r.regs.rip, 16)}  rflags ${pad(r.regs.rflags, 8)}${flags}`);
    return lines;
  }
  const low = (v: string) => pad(hx(BigInt(v) & 0xffffffffn), 8);
  const cells = REGS32.map(([shown, reg]) => `${shown} ${low(r.regs[reg])}`);
  return [`  ${cells.slice(0, 4).join('  ')}`, `  ${cells.slice(4).join('  ')}`, `  eip ${low(r.regs.rip)}  eflags ${low(r.regs.rflags)}${flags}`];
}

function segmentLines(r: ShowJson): string[] {
  const w = r.width === 64 ? 16 : 8;
  return SEGMENT_NAMES.map((n) => {
    const s = r.segments[n];
    const bits = (['present', 'dpl', 'db', 's', 'l', 'g', 'avl'] as const).map((k) => `${k === 'present' ? 'p' : k}=${s[k]}`).join(' ');
    return `  ${n.padEnd(3)} ${pad(s.selector, 4)}  base ${pad(s.base, w)}  limit ${pad(s.limit, 8)}  type ${s.type.toString(16)} (${s.description})  ${bits}`;
  });
}

function systemLines(r: ShowJson): string[] {
  const c = r.control;
  const f = (names: string[]) => (names.length ? ` [${names.join(' ')}]` : '');
  const lines = [
    `  cr0 ${pad(c.cr0, 8)}${f(r.controlFlags.cr0)}  cr4 ${pad(c.cr4, 8)}${f(r.controlFlags.cr4)}  efer ${pad(c.efer, 4)}${f(r.controlFlags.efer)}`,
    `  cr2 ${c.cr2}  cr3 ${c.cr3}  cr8 ${c.cr8}  apic_base ${c.apic_base}`,
    `  gdtr base ${r.gdtr.base} limit ${r.gdtr.limit}  idtr base ${r.idtr.base} limit ${r.idtr.limit}`,
  ];
  const msrs = Object.entries(r.msrs).filter(([, v]) => v !== '0x0');
  if (msrs.length) lines.push(`  ${msrs.map(([k, v]) => `${k} ${v}`).join('  ')}`);
  return lines;
}

function codeLines(r: ShowJson): string[] {
  const w = Math.max(0, ...[...r.code.before, ...r.code.at].map((i) => i.bytes.length));
  const line = (mark: string, i: InsnJson) => `${mark}${i.at}  ${i.bytes.padEnd(w)}  ${i.text}`;
  return [...r.code.before.map((i) => line('    ', i)), ...r.code.at.map((i, k) => line(k === 0 ? ' => ' : '    ', i))];
}

function memoryLines(m: ShowJson['memory'][number]): string[] {
  const lines = [`memory (${m.space} ${m.address}, ${m.length} bytes):`];
  // 16 bytes a line, aligned; unmapped bytes as `--`
  const canonical = BigInt(m.address);
  // (arithmetic on the 48-bit form: exact in a double)
  const start = Number(canonical >= 2n ** 63n ? canonical & 0xffffffffffffn : canonical);
  const bytes: Array<number | null> = [];
  for (const r of m.ranges) {
    if (r.bytes === null) for (let i = 0; i < r.length; i++) bytes.push(null);
    else for (let i = 0; i < r.length; i++) bytes.push(parseInt(r.bytes.slice(2 * i, 2 * i + 2), 16));
  }
  const first = start - (start % 16);
  const wide = start + m.length > 2 ** 32;
  for (let row = first; row < start + m.length; row += 16) {
    const cells: string[] = [];
    let ascii = '';
    for (let a = row; a < row + 16; a++) {
      const b = a >= start && a < start + m.length ? bytes[a - start] : undefined;
      cells.push(b === undefined ? '  ' : b === null ? '--' : b.toString(16).padStart(2, '0'));
      ascii += b === undefined || b === null ? ' ' : bytesAscii(Uint8Array.of(b));
      if (a === row + 7) cells.push('');
    }
    lines.push(`  ${pad(linearHex(row, m.space === 'physical'), wide ? 16 : 8)}  ${cells.join(' ')}  |${ascii}|`);
  }
  return lines;
}

/** The report as text: position, registers, segments, system registers, code, memory. */
export function formatShow(r: ShowJson): string {
  const rec = r.record;
  const lines = [
    `record ${rec.index} of ${rec.of} (${rec.kind === 'step' ? 'step' : 'exit'} ${oneLine(rec.payload)}, byte offset ${rec.offset}) after ${r.position.instructions} instructions, mode ${r.mode}`,
    'registers:',
    ...registerLines(r),
    'segments:',
    ...segmentLines(r),
    'system:',
    ...systemLines(r),
    'code:',
    ...codeLines(r),
    ...r.memory.flatMap(memoryLines),
  ];
  return lines.join('\n');
}
