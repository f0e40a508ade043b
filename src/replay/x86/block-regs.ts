// Registers in JavaScript locals inside a compiled block (blocks.ts): V8 keeps locals in
// machine registers, where every r32[...] access is a load or store of the register file.
//
// A 32-bit register slot (an r32 index: the low or high half of a 64-bit register) is cached
// when every template of the block reaches it as r32[<number>] and none through r16/r8 (whose
// bytes alias it). Templates that only compute (registers, flags, the undefined-flag
// bookkeeping) run on the locals. Everything else — memory accesses (they may fault or reach a
// device), executors and helpers given the machine — runs on the register file: the block
// stores the locals it changed before it (`spill`) and reloads the slots it may have written
// after it, and stores them before every return to the run loop. So the register file is
// exact wherever anything but the block itself can look at it.

/** Machine members a template may use and still run on locals: they neither touch registers nor throw. */
export const REGISTER_FREE: ReadonlySet<string> = new Set(['undefFlags', 'undefAF', 'flagsBefore', 'qh', 'sel', 'eip', 'ripHi']);

/** Machine members that may throw or reach memory and devices, but write no register. */
const NO_REGISTER_WRITES = new Set([...REGISTER_FREE, 'read8', 'read16', 'read32', 'readQ', 'write8', 'write16', 'write32', 'writeQ', 'fault', 'jumpRel', 'jump64']);

/** Whether `code` uses only machine members of `allowed` (and does not pass the machine on). */
export function usesOnly(code: string, allowed: ReadonlySet<string>): boolean {
  for (const m of code.matchAll(/\bc\.([A-Za-z_$][\w$]*)/g)) if (!allowed.has(m[1]!)) return false;
  return !/(^|[^.\w$])c\b(?!\s*\.)/.test(code);
}

/** Whether template `code` can run on locals (see the top of the file). */
export function onLocals(code: string): boolean {
  return !/\bthrow\b/.test(code) && usesOnly(code, REGISTER_FREE);
}

/** Whether template `code`, run on the register file, may write registers other than through its own r32[N] = ... */
export function writesOtherRegisters(code: string): boolean {
  return !usesOnly(code, NO_REGISTER_WRITES);
}

/** Slots the block can cache, given all its templates' code (executors it calls reach registers through the machine only). */
export function cacheableSlots(codes: readonly string[]): Set<number> {
  const used = new Set<number>();
  const aliased = new Set<number>();
  for (const code of codes) {
    for (const m of code.matchAll(/\b(r32|r16|r8)\[([^\]]*)\]/g)) {
      if (!/^\d+$/.test(m[2]!)) return new Set(); // a computed index may be any register
      const x = Number(m[2]);
      if (m[1] === 'r32') used.add(x);
      else aliased.add(m[1] === 'r16' ? x >> 1 : x >> 2);
    }
  }
  for (const x of aliased) used.delete(x);
  // compound assignments and ++/-- are not rewritten: such slots stay in the register file
  for (const code of codes) {
    for (const m of code.matchAll(/\br32\[(\d+)\]\s*(?:\+\+|--|(?:[-+*/%&|^]|<<|>>>?|\*\*)=)|(?:\+\+|--)\s*r32\[(\d+)\]/g)) {
      used.delete(Number(m[1] ?? m[2]));
    }
  }
  return used;
}

const ACCESS = /\br32\[(\d+)\](\s*=(?!=))?/g;

/** End of the expression starting at `from`: the first `,` `)` `;` or `}` outside brackets. */
function expressionEnd(s: string, from: number): number {
  let depth = 0;
  for (let p = from; p < s.length; p++) {
    const ch = s[p];
    if (ch === '(' || ch === '[' || ch === '{') depth++;
    else if (depth === 0 && (ch === ',' || ch === ')' || ch === ';' || ch === '}')) return p;
    else if (ch === ')' || ch === ']' || ch === '}') depth--;
  }
  return s.length;
}

/**
 * `code` with the cached slots as locals R<slot> (a write truncated to int32 as the Int32Array
 * store does), and the slots it writes.
 */
export function localize(code: string, slots: ReadonlySet<number>): { code: string; writes: Set<number> } {
  const writes = new Set<number>();
  let out = '';
  let pos = 0;
  for (;;) {
    ACCESS.lastIndex = pos;
    const m = ACCESS.exec(code);
    if (m === null) return { code: out + code.slice(pos), writes };
    const x = Number(m[1]);
    out += code.slice(pos, m.index);
    pos = m.index + m[0].length;
    if (!slots.has(x)) {
      out += m[0];
      continue;
    }
    if (m[2] === undefined) {
      out += `R${x}`;
      continue;
    }
    // the value may itself read registers: localize it first
    const end = expressionEnd(code, pos);
    const value = localize(code.slice(pos, end), slots);
    for (const w of value.writes) writes.add(w);
    writes.add(x);
    out += `R${x} = (${value.code}) | 0`;
    pos = end;
  }
}

/** Slots of `slots` that code running on the register file writes (r32[N] = ...). */
export function writtenSlots(code: string, slots: ReadonlySet<number>): Set<number> {
  const out = new Set<number>();
  for (const m of code.matchAll(ACCESS)) if (m[2] !== undefined && slots.has(Number(m[1]))) out.add(Number(m[1]));
  return out;
}

/** Statements storing the locals of `dirty` into the register file. */
export function spill(dirty: Iterable<number>): string {
  return [...dirty].map((x) => `r32[${x}] = R${x};`).join(' ');
}

/** Statements loading the locals of `slots` from the register file. */
export function reload(slots: Iterable<number>): string {
  return [...slots].map((x) => `R${x} = r32[${x}];`).join(' ');
}
