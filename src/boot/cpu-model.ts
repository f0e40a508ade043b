// The guest's CPUID: vmtrace's fixed virtual CPU ("builtin", the default), or a model read from
// a JSON file. Pure: the recorder passes in what KVM supports (KVM_GET_SUPPORTED_CPUID) and gives
// the result to KVM_SET_CPUID2. docs/exit-semantics.md, "The virtual CPU", documents every leaf.
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';

import type { CpuidEntry } from '../cpu-state.js';

/** Version tag of the builtin model: bump it whenever a single bit of builtinCpuModel() changes. */
export const CPU_MODEL_NAME = 'vmtrace-1';

/** The brand string of leaves 0x8000_0002..4 (NUL-padded to 48 bytes). */
export const CPU_BRAND = `vmtrace virtual CPU (${CPU_MODEL_NAME})`;

/** KVM_CPUID_FLAG_SIGNIFCANT_INDEX: the entry applies only to ECX = index. */
const SIGNIFICANT_INDEX = 1;

/** KVM_MAX_CPUID_ENTRIES: the most entries KVM_SET_CPUID2 takes. */
const MAX_ENTRIES = 256;

/** Highest basic and extended leaves of the builtin model. */
export const MAX_BASIC_LEAF = 0x7;
export const MAX_EXTENDED_LEAF = 0x80000008;

/** Family 15, model 6, stepping 1 (QEMU's "kvm64"): CPUID.1:EAX and, AMD-style, CPUID.8000_0001h:EAX. */
export const CPU_SIGNATURE = 0x00000f61;

/** CPUID.8000_0008h:EAX: 36-bit physical addresses (the minimum of every x86-64 CPU), 48-bit linear. */
export const ADDRESS_SIZES = (48 << 8) | 36;

const bit = (n: number): number => (1 << n) >>> 0;

/** CPUID.1:EDX of the model (what each bit means and why it is set: docs/exit-semantics.md). */
export const LEAF1_EDX = {
  fpu: bit(0),
  pse: bit(3),
  tsc: bit(4),
  msr: bit(5),
  pae: bit(6),
  cx8: bit(8),
  apic: bit(9),
  pge: bit(13),
  cmov: bit(15),
  pat: bit(16),
  clflush: bit(19),
  mmx: bit(23),
  fxsr: bit(24),
  sse: bit(25),
  sse2: bit(26),
} as const;

/** CPUID.1:ECX of the model. */
export const LEAF1_ECX = { cx16: bit(13) } as const;

/** CPUID.8000_0001h:ECX of the model. */
export const EXT1_ECX = { lahfLm: bit(0) } as const;

/** CPUID.8000_0001h:EDX of the model (AMD-style CPUs also mirror the leaf-1 bits below). */
export const EXT1_EDX = { syscall: bit(11), nx: bit(20), lm: bit(29) } as const;

/**
 * The CPUID.1:EDX bits AMD repeats in CPUID.8000_0001h:EDX (0-9, 12-17, 23, 24); the other
 * positions mean something else there (bit 11 SYSCALL, 20 NX, 25 FFXSR, 26 Page1GB, ...).
 */
const AMD_MIRRORED = 0x0183f3ff;

const or = (o: Record<string, number>): number => Object.values(o).reduce((a, b) => (a | b) >>> 0, 0);

/** Which vendor's CPUID layout the model follows; the vendor string itself is the host's. */
export type VendorStyle = 'amd' | 'intel';

/** AuthenticAMD and HygonGenuine lay out CPUID as AMD does; everything else as Intel does. */
export function vendorStyle(leaf0: Pick<CpuidEntry, 'ebx' | 'ecx' | 'edx'> | undefined): VendorStyle {
  if (!leaf0) return 'intel';
  const s = vendorString(leaf0);
  return s === 'AuthenticAMD' || s === 'HygonGenuine' ? 'amd' : 'intel';
}

/** The 12-character vendor string of a leaf-0 entry (EBX, EDX, ECX). */
export function vendorString(leaf0: Pick<CpuidEntry, 'ebx' | 'ecx' | 'edx'>): string {
  const b = Buffer.alloc(12);
  b.writeUInt32LE(leaf0.ebx >>> 0, 0);
  b.writeUInt32LE(leaf0.edx >>> 0, 4);
  b.writeUInt32LE(leaf0.ecx >>> 0, 8);
  return b.toString('latin1');
}

/** The brand string as the four registers of leaves 0x8000_0002..4. */
function brandLeaves(): CpuidEntry[] {
  const bytes = Buffer.alloc(48);
  bytes.write(CPU_BRAND, 'latin1');
  const out: CpuidEntry[] = [];
  for (let i = 0; i < 3; i++) {
    const r = (k: number) => bytes.readUInt32LE(i * 16 + k * 4);
    out.push(entry(0x80000002 + i, { eax: r(0), ebx: r(1), ecx: r(2), edx: r(3) }));
  }
  return out;
}

function entry(fn: number, regs: Partial<Pick<CpuidEntry, 'eax' | 'ebx' | 'ecx' | 'edx'>> = {}, index?: number): CpuidEntry {
  return {
    function: fn >>> 0,
    index: index ?? 0,
    flags: index === undefined ? 0 : SIGNIFICANT_INDEX,
    eax: (regs.eax ?? 0) >>> 0,
    ebx: (regs.ebx ?? 0) >>> 0,
    ecx: (regs.ecx ?? 0) >>> 0,
    edx: (regs.edx ?? 0) >>> 0,
  };
}

/** Which registers of a leaf are feature masks (ANDed with what KVM supports); others are values. */
const FEATURE_REGS: Record<number, Array<'eax' | 'ebx' | 'ecx' | 'edx'>> = {
  0x1: ['ecx', 'edx'],
  0x7: ['ebx', 'ecx', 'edx'],
  0x80000001: ['ecx', 'edx'],
};

/** Names of the model's feature bits, for saying which ones a host lacks. */
const FEATURE_NAMES: Record<string, Record<string, number>> = {
  '0x1.ecx': LEAF1_ECX,
  '0x1.edx': LEAF1_EDX,
  '0x80000001.ecx': EXT1_ECX,
  '0x80000001.edx': { ...EXT1_EDX, ...mirroredNames() },
};

function mirroredNames(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(LEAF1_EDX)) if (v & AMD_MIRRORED) out[`${k} (8000_0001h mirror)`] = v;
  return out;
}

/** The model before it meets a host: the entries for `vendor` (leaf 0's three vendor registers). */
export function cpuModelEntries(vendor: Pick<CpuidEntry, 'ebx' | 'ecx' | 'edx'>): CpuidEntry[] {
  const style = vendorStyle(vendor);
  const amd = style === 'amd';
  const l1edx = or(LEAF1_EDX);
  return [
    entry(0x0, { eax: MAX_BASIC_LEAF, ebx: vendor.ebx, ecx: vendor.ecx, edx: vendor.edx }),
    // EBX: CLFLUSH line size 8 × 8 = 64 bytes (bits 15:8); brand index, logical count and APIC ID 0.
    entry(0x1, { eax: CPU_SIGNATURE, ebx: 8 << 8, ecx: or(LEAF1_ECX), edx: l1edx }),
    // Intel: AL = 1 (one call), no descriptors. AMD: reserved.
    entry(0x2, { eax: amd ? 0 : 1 }),
    entry(0x3),
    entry(0x4, {}, 0),
    entry(0x5),
    entry(0x6),
    entry(0x7, {}, 0),
    entry(0x80000000, amd ? { eax: MAX_EXTENDED_LEAF, ebx: vendor.ebx, ecx: vendor.ecx, edx: vendor.edx } : { eax: MAX_EXTENDED_LEAF }),
    entry(0x80000001, {
      eax: amd ? CPU_SIGNATURE : 0,
      ecx: or(EXT1_ECX),
      edx: (or(EXT1_EDX) | (amd ? l1edx & AMD_MIRRORED : 0)) >>> 0,
    }),
    ...brandLeaves(),
    entry(0x80000005),
    entry(0x80000006),
    entry(0x80000007),
    entry(0x80000008, { eax: ADDRESS_SIZES }),
  ];
}

function findEntry(entries: readonly CpuidEntry[], fn: number, index: number): CpuidEntry | undefined {
  return entries.find((e) => e.function >>> 0 === fn && ((e.flags & SIGNIFICANT_INDEX) === 0 || e.index >>> 0 === index));
}

/**
 * KVM_GET_SUPPORTED_CPUID as vCPU 0 should see it. Some KVMs (kvm_pvm) fill in the APIC ID of
 * the host CPU the ioctl ran on (CPUID.1:EBX[31:24], the x2APIC ID in EDX of leaves 0xB and
 * 0x1F, CPUID.8000_001Eh:EAX), so passing the table through unchanged would make the guest's
 * CPUID depend on where the recorder happened to be scheduled. A VMM sets those to the vCPU's
 * own ID, as QEMU does; ours is 0.
 */
export function supportedForVcpu0(supported: readonly CpuidEntry[]): CpuidEntry[] {
  return supported.map((e) => {
    const fn = e.function >>> 0;
    if (fn === 0x1) return { ...e, ebx: (e.ebx & 0x00ffffff) >>> 0 };
    if (fn === 0xb || fn === 0x1f) return { ...e, edx: 0 };
    if (fn === 0x8000001e) return { ...e, eax: 0 };
    return { ...e };
  });
}

export interface CpuModel {
  /** The model's name: CPU_MODEL_NAME for the builtin one. */
  name: string;
  /** The CPUID entries to give the vCPU (KVM_SET_CPUID2). */
  entries: CpuidEntry[];
  /** Model features the host's KVM does not support, dropped from `entries` (names). */
  missing: string[];
}

/**
 * vmtrace's virtual CPU for a host whose KVM supports `hostSupported` (KVM_GET_SUPPORTED_CPUID):
 * the fixed model with the host's vendor string, its feature bits ANDed with what KVM supports
 * (the physical address width is the smaller of the two). On every host whose KVM supports the
 * whole model — any x86-64 KVM host we know of — the entries depend only on the vendor.
 */
export function builtinCpuModel(hostSupported: readonly CpuidEntry[]): CpuModel {
  const leaf0 = findEntry(hostSupported, 0, 0);
  // No leaf 0 at all would be a very odd KVM: the Intel-style model, vendor string unset.
  const vendor = leaf0 ?? { ebx: 0, ecx: 0, edx: 0 };
  const missing: string[] = [];
  const entries = cpuModelEntries(vendor).map((e) => {
    const out = { ...e };
    const regs = FEATURE_REGS[e.function];
    if (regs) {
      const host = findEntry(hostSupported, e.function, e.index);
      for (const r of regs) {
        const kept = (out[r] & (host?.[r] ?? 0)) >>> 0;
        const lost = (out[r] & ~kept) >>> 0;
        if (lost) missing.push(...featureNames(e.function, r, lost));
        out[r] = kept;
      }
    }
    if (e.function === 0x80000008) {
      const host = findEntry(hostSupported, e.function, 0);
      const phys = host && (host.eax & 0xff) !== 0 ? Math.min(host.eax & 0xff, e.eax & 0xff) : e.eax & 0xff;
      if (phys !== (e.eax & 0xff)) missing.push(`${e.eax & 0xff}-bit physical addresses (KVM: ${phys})`);
      out.eax = ((e.eax & ~0xff) | phys) >>> 0;
    }
    return out;
  });
  return { name: CPU_MODEL_NAME, entries, missing };
}

function featureNames(fn: number, reg: string, lost: number): string[] {
  const names = FEATURE_NAMES[`0x${fn.toString(16)}.${reg}`] ?? {};
  const out: string[] = [];
  for (let b = 0; b < 32; b++) {
    const m = bit(b);
    if (!(lost & m)) continue;
    const name = Object.entries(names).find(([, v]) => v === m)?.[0];
    out.push(name ?? `CPUID.0x${fn.toString(16)}:${reg.toUpperCase()}[${b}]`);
  }
  return out;
}

// ---- model files (--cpu FILE.json) ------------------------------------------------------------

/** A model file that cannot be used: the message names the file and the bad field. */
export class CpuModelError extends Error {
  override name = 'CpuModelError';
}

const ENTRY_FIELDS = ['function', 'index', 'flags', 'eax', 'ebx', 'ecx', 'edx'] as const;

/** A uint32 from a JSON number or a hex string ("0x1f"); undefined when it is neither. */
function u32(v: unknown): number | undefined {
  let n: number;
  if (typeof v === 'number') n = v;
  else if (typeof v === 'string' && /^0x[0-9a-f]{1,8}$/i.test(v.trim())) n = parseInt(v.trim().slice(2), 16);
  else if (typeof v === 'string' && /^[0-9]{1,10}$/.test(v.trim())) n = Number(v.trim());
  else return undefined;
  return Number.isInteger(n) && n >= 0 && n <= 0xffffffff ? n : undefined;
}

function show(v: unknown): string {
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 40 ? `${s.slice(0, 37)}...` : s;
}

/**
 * Validates a parsed model file (`{name?, entries: [{function, index, flags, eax, ebx, ecx,
 * edx}]}`; numbers or hex strings; index, flags and the registers default to 0). `file` names
 * it in errors. The name defaults to the file's base name.
 */
export function parseCpuModel(json: unknown, file: string): { name: string; entries: CpuidEntry[] } {
  const fail = (what: string): never => {
    throw new CpuModelError(`${file}: ${what}`);
  };
  if (typeof json !== 'object' || json === null || Array.isArray(json)) fail(`expected a JSON object {name?, entries: [...]}, got ${show(json)}`);
  const o = json as Record<string, unknown>;
  for (const k of Object.keys(o)) if (k !== 'name' && k !== 'entries') fail(`unknown field '${k}' (a model has 'name' and 'entries')`);
  if (o.name !== undefined && (typeof o.name !== 'string' || o.name.trim() === '')) fail(`name: expected a non-empty string, got ${show(o.name)}`);
  if (!Array.isArray(o.entries)) fail(`entries: expected an array of CPUID entries, got ${o.entries === undefined ? 'nothing' : show(o.entries)}`);
  const list = o.entries as unknown[];
  if (list.length === 0) fail('entries: the list is empty (a model needs at least leaf 0)');
  if (list.length > MAX_ENTRIES) fail(`entries: ${list.length} entries, KVM takes at most ${MAX_ENTRIES}`);
  const seen = new Map<string, number>();
  const entries = list.map((raw, i) => {
    const at = `entries[${i}]`;
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail(`${at}: expected an object {function, index, flags, eax, ebx, ecx, edx}, got ${show(raw)}`);
    const r = raw as Record<string, unknown>;
    for (const k of Object.keys(r)) if (!(ENTRY_FIELDS as readonly string[]).includes(k)) fail(`${at}: unknown field '${k}' (fields: ${ENTRY_FIELDS.join(', ')})`);
    if (r.function === undefined) fail(`${at}.function: missing (the CPUID leaf, e.g. "0x80000001")`);
    const e = {} as CpuidEntry;
    for (const k of ENTRY_FIELDS) {
      const v = r[k] ?? 0;
      const n = u32(v);
      if (n === undefined) fail(`${at}.${k}: expected a 32-bit unsigned number or hex string ("0x1f"), got ${show(v)}`);
      e[k] = n!;
    }
    if ((e.flags & ~7) !== 0) fail(`${at}.flags: KVM knows bits 0-2 only (bit 0: significant index), got ${show(r.flags)}`);
    const key = `${e.function}/${e.flags & SIGNIFICANT_INDEX ? e.index : '*'}`;
    const prev = seen.get(key);
    if (prev !== undefined) fail(`${at}: leaf 0x${e.function.toString(16)} index ${e.index} repeats entries[${prev}]`);
    seen.set(key, i);
    return e;
  });
  return { name: typeof o.name === 'string' ? o.name.trim() : basename(file), entries };
}

/** Reads and validates a `--cpu FILE.json` model; throws CpuModelError naming the file. */
export function loadCpuModelFile(path: string): { name: string; entries: CpuidEntry[] } {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new CpuModelError(`${path}: ${code === 'ENOENT' ? 'no such file' : `cannot read (${code ?? (e as Error).message})`}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new CpuModelError(`${path}: not valid JSON (${(e as Error).message})`);
  }
  return parseCpuModel(json, path);
}
