// Snapshots of the interpreter: every piece of state that decides what the guest does next, so
// that restoring one and running on repeats the original run exactly (reverse execution,
// seeking in a replay: src/replay/session.ts).
//
// Machine fields are captured by name from a table: MACHINE_STATE says how each one is copied,
// MACHINE_NOT_CAPTURED why the others need not be (views, caches rebuilt after a restore,
// configuration, per-run debugger state). test/replay/snapshot.test.ts checks that together
// they name every field a Machine has, so a new field cannot be forgotten.
//
// RAM is copied in 4 KiB pages, copy-on-write: memory.ts marks the pages written since the last
// snapshot, a snapshot copies only those (and shares every other page's copy with the snapshot
// before it), and a restore writes back only the pages whose contents differ from the
// snapshot's. A snapshot is plain data (numbers, strings, booleans, null, Uint8Array, arrays
// and objects), so it can be stored with msgpack as it is; snapshotToPlain/snapshotFromPlain
// add the delta form that stores only the pages changed since another snapshot.

import type { Machine } from './machine.js';
import { RAM_PAGE, type RamRegionState } from './memory.js';

/** What a snapshot is made of: msgpack- and structured-clone-able values. */
export type Plain = number | boolean | string | null | Uint8Array | Plain[] | { [key: string]: Plain };

export const SNAPSHOT_VERSION = 1;

export interface CpuSnapshot {
  version: typeof SNAPSHOT_VERSION;
  /** Steps executed when it was taken (Cpu.instructions). */
  instructions: number;
  /** Machine fields by name (MACHINE_STATE): typed arrays as their bytes, bigints as decimal strings. */
  machine: Record<string, Plain>;
  /** The lazy-flags state (FLAGS_STATE). */
  flags: Record<string, number>;
  /** RAM, one entry per region in address order. */
  ram: RamSnapshot[];
}

export interface RamSnapshot {
  base: number;
  size: number;
  /**
   * The region's 4 KiB pages (the last one may be shorter). A page not written between two
   * snapshots is the same Uint8Array object in both; the arrays are never modified.
   */
  pages: Uint8Array[];
}

/** How a captured field is copied. */
type Rule =
  /** number, boolean, string or null */
  | 'value'
  /** bigint, as a decimal string */
  | 'bigint'
  /** typed array: its bytes, written back in place (other views share its buffer) */
  | 'typed'
  /** array of plain objects kept by identity elsewhere (segment attributes): assigned in place */
  | 'objects'
  /** array of numbers or plain objects: contents replaced */
  | 'list'
  /** plain object or null: replaced by a copy */
  | 'object'
  /** Map<number, bigint>: [index, decimal string] pairs */
  | 'msrs';

/** Machine fields a snapshot captures, and how. */
export const MACHINE_STATE: Readonly<Record<string, Rule>> = {
  // registers
  r32: 'typed', eip: 'value', ripHi: 'value', flagsHi: 'value', qh: 'value',
  // segments and system state
  sel: 'typed', segBase: 'typed', segBaseHi: 'typed', segBase64: 'typed', segLimit: 'typed',
  segMaxR: 'typed', segMaxW: 'typed', segMin: 'typed', segDownMaxR: 'typed', segDownMaxW: 'typed',
  segAttr: 'objects',
  cr0: 'value', cr0Hi: 'value', cr2: 'bigint', cr3: 'bigint', cr4: 'value', cr4Hi: 'value', cr8: 'bigint',
  efer: 'value', apicBase: 'bigint',
  gdtBase: 'value', gdtBaseHi: 'value', gdtLimit: 'value', idtBase: 'value', idtBaseHi: 'value', idtLimit: 'value',
  msrs: 'msrs', fpuCw: 'value', fpuSw: 'value', fpuTw: 'value', dr: 'list',
  // derived mode (copied rather than recomputed: exactly what the run had)
  pe: 'value', pg: 'value', lma: 'value', cpl: 'value', bits: 'value', stack32: 'value', stackMode: 'value',
  csMax: 'value', ipMask: 'value', pagingMode: 'value', permOk: 'typed',
  // per-instruction state, undefined-flag tracking, interrupt shadows and pending traps
  undef: 'value', undefSeq: 'value', recordedTaken: 'value',
  setterSeq: 'typed', setterCls: 'typed', setterSize: 'typed', setterMask: 'typed', setterPos: 'value',
  afSeq: 'value', afClsSize: 'value', lastUndefUse: 'object', lastUnknownUse: 'object', savedUndef: 'list',
  stop: 'value', startEsp: 'value', startEspHi: 'value', rfSeq: 'value', noTrap: 'value', pendingTrap: 'value',
  shutdownReason: 'value',
  // counters and the history ring (divergence reports after a restore are the same)
  seq: 'value', uncounted: 'value', histLin: 'typed', histAt: 'typed', histHi: 'typed', csTag: 'value',
};

/** Machine fields a snapshot leaves out, and why. */
export const MACHINE_NOT_CAPTURED: Readonly<Record<string, string>> = {
  r16: 'a view of r32', r8: 'a view of r32',
  fl: 'captured separately (FLAGS_STATE)',
  mem: 'RAM is captured page by page', icache: 'decode cache: entries are checked against RAM after a restore',
  blocks: 'compiled blocks: checked against RAM after a restore (blocks.ts)', epoch: 'change counter for compiled blocks (bumped by the restore\'s TLB flush)',
  tlbTag: 'TLB: flushed on restore', tlbPhys: 'TLB: flushed on restore', tlbPerm: 'TLB: flushed on restore',
  fetchLo: 'page memo: flushed on restore', fetchHi: 'page memo: flushed on restore', fetchDelta: 'page memo: flushed on restore',
  rdLo: 'page memo: flushed on restore', rdHi: 'page memo: flushed on restore', rdDelta: 'page memo: flushed on restore',
  wrLo: 'page memo: flushed on restore', wrHi: 'page memo: flushed on restore', wrDelta: 'page memo: flushed on restore',
  flagModel: 'configuration (trace header)', undefProbe: 'hook of the owner', recordedState: 'hook of the owner',
  stepJoin: 'configuration (trace header)', sink: 'configuration', cpuidEntries: 'configuration', vendor: 'configuration',
  guestIntel: 'configuration (CPUID)', features: 'configuration (CPUID)',
  scratch: 'decoder scratch', fetchBuf: 'decoder scratch',
  debugOn: 'debugger setting', breakpoints: 'debugger setting', watches: 'debugger setting', watching: 'debugger setting',
  watchLo: 'debugger setting', watchHi: 'debugger setting', bpSkipSeq: 'debugger setting (cleared on restore)',
  bpHit: 'reset by every run()', watchHit: 'reset by every run()', watchSeq: 'reset by every run()',
  runStart: 'reset by every run()', extSeq: 'reset by every run()',
  sregsWritten: 'change tracking of the owner: set by a restore',
  histPending: 'history entries of compiled blocks: written into the ring before a capture, dropped by a restore',
};

/** LazyFlags fields a snapshot captures (all numbers); `onUndefUse` is the machine's hook. */
export const FLAGS_STATE = ['bits', 'pending', 'op', 'dst', 'src', 'res', 'size', 'cin', 'lo', 'lox', 'rh', 'undef'] as const;

type Fields = Record<string, unknown>;
type Typed = Int8Array | Uint8Array | Int16Array | Uint16Array | Int32Array | Uint32Array | Float64Array;

function bytesOf(t: Typed): Uint8Array {
  return new Uint8Array(t.buffer, t.byteOffset, t.byteLength);
}

function copyPlain<T>(v: T): T {
  return v === null ? v : structuredClone(v);
}

function captureField(rule: Rule, v: unknown): Plain {
  switch (rule) {
    case 'value': return v as Plain;
    case 'bigint': return (v as bigint).toString();
    case 'typed': return bytesOf(v as Typed).slice();
    case 'objects': case 'list': case 'object': return copyPlain(v as Plain);
    case 'msrs': return [...(v as Map<number, bigint>)].map(([k, x]) => [k, x.toString()]);
  }
}

function restoreField(m: Fields, name: string, rule: Rule, v: Plain): void {
  const cur = m[name];
  switch (rule) {
    case 'value': m[name] = v; return;
    case 'bigint': m[name] = BigInt(v as string); return;
    case 'typed': {
      const dst = bytesOf(cur as Typed);
      const src = v as Uint8Array;
      if (src.length !== dst.length) throw new Error(`snapshot: field ${name} has ${src.length} bytes, the interpreter ${dst.length}`);
      dst.set(src);
      return;
    }
    case 'objects': {
      const dst = cur as object[];
      (v as Plain[]).forEach((o, k) => Object.assign(dst[k]!, o));
      return;
    }
    case 'list': (cur as unknown[]).splice(0, Infinity, ...copyPlain(v as Plain[])); return;
    case 'object': m[name] = copyPlain(v); return;
    case 'msrs': {
      const map = cur as Map<number, bigint>;
      map.clear();
      for (const [k, x] of v as Array<[number, string]>) map.set(k, BigInt(x));
      return;
    }
  }
}

export function takeSnapshot(m: Machine): CpuSnapshot {
  m.flushHistory();
  const f = m as unknown as Fields;
  const machine: Record<string, Plain> = {};
  for (const [name, rule] of Object.entries(MACHINE_STATE)) machine[name] = captureField(rule, f[name]);
  const fl = m.fl as unknown as Record<string, number>;
  const flags: Record<string, number> = {};
  for (const name of FLAGS_STATE) flags[name] = fl[name]!;
  return { version: SNAPSHOT_VERSION, instructions: m.instructions, machine, flags, ram: m.mem.ram.map(captureRegion) };
}

export function restoreSnapshot(m: Machine, s: CpuSnapshot): void {
  const regions = m.mem.ram;
  if (s.ram.length !== regions.length || s.ram.some((r, k) => r.base !== regions[k]!.base || r.size !== regions[k]!.bytes.length)) {
    throw new Error('snapshot: its RAM layout is not this interpreter\'s (a snapshot of another trace?)');
  }
  const f = m as unknown as Fields;
  for (const [name, rule] of Object.entries(MACHINE_STATE)) restoreField(f, name, rule, s.machine[name]!);
  m.histPending.clear();
  const fl = m.fl as unknown as Record<string, number>;
  for (const name of FLAGS_STATE) fl[name] = s.flags[name]!;
  s.ram.forEach((r, k) => restoreRegion(regions[k]!, r));
  // translations and remembered pages belong to the state left behind
  m.flushTlb();
  m.sregsWritten = true;
  m.icache.gen++;
  m.bpSkipSeq = -1;
}

// ------------------------------------------------------------------ RAM pages

const zeroPages = new Map<number, Uint8Array>();

/** The shared all-zero page of `len` bytes (most of a guest's RAM, at first). */
function zeroPage(len: number): Uint8Array {
  let z = zeroPages.get(len);
  if (z === undefined) zeroPages.set(len, (z = new Uint8Array(len)));
  return z;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.length).equals(Buffer.from(b.buffer, b.byteOffset, b.length));
}

function captureRegion(r: RamRegionState): RamSnapshot {
  const { bytes, dirty, pages } = r;
  for (let p = 0; p < pages.length; p++) {
    const was = pages[p];
    if (dirty[p] === 0 && was !== undefined) continue;
    dirty[p] = 0;
    const now = bytes.subarray(p * RAM_PAGE, Math.min(bytes.length, (p + 1) * RAM_PAGE));
    // written back to what it was: keep sharing the copy
    if (was !== undefined && sameBytes(was, now)) continue;
    const zero = zeroPage(now.length);
    pages[p] = sameBytes(now, zero) ? zero : now.slice();
  }
  return { base: r.base, size: bytes.length, pages: pages.slice() as Uint8Array[] };
}

function restoreRegion(r: RamRegionState, s: RamSnapshot): void {
  const { bytes, dirty, pages } = r;
  for (let p = 0; p < pages.length; p++) {
    const want = s.pages[p]!;
    if (dirty[p] !== 0 || pages[p] !== want) {
      bytes.set(want, p * RAM_PAGE);
      pages[p] = want;
      dirty[p] = 0;
    }
  }
}

// ------------------------------------------------------------------ storage form

/**
 * The snapshot as plain data to store (msgpack). With `base`, an earlier snapshot of the same
 * run, pages that are the same as base's are null: only the pages changed since are stored
 * (snapshotFromPlain needs the same base back).
 */
export function snapshotToPlain(s: CpuSnapshot, base?: CpuSnapshot): Plain {
  const ram = s.ram.map((r, k): Plain => ({
    base: r.base,
    size: r.size,
    pages: r.pages.map((pg, p) => (base !== undefined && base.ram[k]?.pages[p] === pg ? null : pg)),
  }));
  return { version: s.version, instructions: s.instructions, machine: s.machine, flags: s.flags, delta: base !== undefined, ram };
}

/** The pages (region index, page index) that differ between two snapshots of one run. */
export function changedPages(a: CpuSnapshot, b: CpuSnapshot): Array<{ region: number; page: number }> {
  const out: Array<{ region: number; page: number }> = [];
  b.ram.forEach((r, k) => r.pages.forEach((pg, p) => {
    if (a.ram[k]?.pages[p] !== pg) out.push({ region: k, page: p });
  }));
  return out;
}

/** A snapshot back from snapshotToPlain's form (`base`: the snapshot a delta was made against). */
export function snapshotFromPlain(v: Plain, base?: CpuSnapshot): CpuSnapshot {
  const bad = (what: string): never => {
    throw new Error(`snapshot: ${what} (not a vmtrace interpreter snapshot of version ${SNAPSHOT_VERSION}, or a damaged one)`);
  };
  const o = isObject(v) ? v : bad('not an object');
  if (o.version !== SNAPSHOT_VERSION) bad(`version ${String(o.version)}`);
  if (typeof o.instructions !== 'number') bad('no instruction count');
  const machine = isObject(o.machine) ? o.machine : bad('no machine state');
  for (const name of Object.keys(MACHINE_STATE)) if (!(name in machine)) bad(`machine field ${name} missing`);
  const flags = isObject(o.flags) ? o.flags : bad('no flags state');
  for (const name of FLAGS_STATE) if (typeof flags[name] !== 'number') bad(`flags field ${name} missing`);
  if (o.delta === true && base === undefined) bad('a delta snapshot needs the snapshot it was made against');
  const ramList = Array.isArray(o.ram) ? o.ram : bad('no RAM');
  const ram = ramList.map((x, k): RamSnapshot => {
    const r = isObject(x) ? x : bad(`RAM region ${k} is not an object`);
    const size = typeof r.size === 'number' ? r.size : bad(`RAM region ${k} has no size`);
    const list = Array.isArray(r.pages) ? r.pages : bad(`RAM region ${k} has no pages`);
    if (list.length !== Math.ceil(size / RAM_PAGE)) bad(`RAM region ${k} has ${list.length} pages for ${size} bytes`);
    const pages = list.map((pg, p) => {
      const page = pg === null ? base?.ram[k]?.pages[p] : pg;
      if (!(page instanceof Uint8Array)) return bad(`page ${p} of RAM region ${k} is missing`);
      if (page.length !== Math.min(RAM_PAGE, size - p * RAM_PAGE)) bad(`page ${p} of RAM region ${k} has ${page.length} bytes`);
      return page;
    });
    return { base: typeof r.base === 'number' ? r.base : bad(`RAM region ${k} has no base`), size, pages };
  });
  return { version: SNAPSHOT_VERSION, instructions: o.instructions as number, machine, flags: flags as Record<string, number>, ram };
}

function isObject(v: Plain | undefined): v is { [key: string]: Plain } {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
}
