// The random differential generator (npm run fuzz:diff, docs/replay.md "Random differential
// testing"): a deterministic, seeded stream of real-mode integer instructions, as a flat guest
// image that `vmtrace record` boots like guests/tiny_kernel.bin (loaded at 0, CS base 0, IP 0,
// real mode, 1 MiB of RAM).
//
// Raw on purpose: nothing is done to hide architecturally undefined flags. MUL, DIV, BSF, shifts,
// BT*, AAM/AAD, DAS, logic ops, … are followed by whatever the stream draws next, including the
// flag consumers (Jcc, SETcc, CMOVcc, ADC/SBB, RCL/RCR, CMC, PUSHF, LAHF, DAS), so a replay that
// does not reproduce the host's undefined flags diverges.
//
// Memory map of the guest (all inside the default 1 MiB):
//   0x00000-0x0ffff  code (CS = 0; the image, never written: no operand can reach it)
//   0x10000-0x1ffff  DS = ES = 0x1000: scratch data, every memory operand lands here …
//   0x20000-0x2ffff  SS = 0x2000: stack (SP starts at 0x8000) and [bp+…] operands
//   0x30000-0x3ffff  FS = GS = 0x3000: scratch for fs:/gs: overrides
// Memory operands are either direct [disp16] with disp16 <= 0xfff0, or [base+disp8] right after a
// `mov base, imm` that the same item emits, so an access never wraps past 0xffff (#GP/#SS in real
// mode). SP is never an operand of a random instruction; the generator tracks the stack depth so
// pushes and pops stay balanced around SP = 0x8000. DIV/IDIV items set their divisor and the
// dividend's high half so the quotient always fits (no #DE). POPF only loads CF PF AF ZF SF DF OF.
//
// Left out because KVM's real-mode emulator on the recording hosts (kvm_pvm) ends the run with an
// emulation failure on them (docs/replay.md): DAA, AAA, AAS, BOUND, nested ENTER. Also left out:
// x87/MMX/SSE (not implemented by the interpreter), undocumented opcodes (SALC, SAL /6, 16-bit
// BSWAP), F3 0F BC/BD (TZCNT/LZCNT: the silicon runs them whatever CPUID says), segment loads,
// far control transfers, CPUID/RDTSC (host-dependent by design).

/** Port the periodic `out` uses: unclaimed by the default devices, so the write is only recorded. */
export const FUZZ_PORT = 0x80;
export const DATA_SEG = 0x1000;
export const STACK_SEG = 0x2000;
export const EXTRA_SEG = 0x3000;
export const STACK_TOP = 0x8000;
/** Code must stay inside CS's 64 KiB. */
const CODE_LIMIT = 0xff00;

/** sfc32 seeded through splitmix32: fast, deterministic, good enough. */
export function makeRng(seed) {
  let s = seed >>> 0;
  const split = () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
  let a = split(), b = split(), c = split(), d = split();
  const u32 = () => {
    const t = (((a + b) >>> 0) + d) >>> 0;
    d = (d + 1) >>> 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) >>> 0;
    c = ((c << 21) | (c >>> 11)) >>> 0;
    c = (c + t) >>> 0;
    return t >>> 0;
  };
  for (let i = 0; i < 12; i++) u32();
  const rng = {
    u32,
    /** Integer in [0, n). */
    int: (n) => Math.floor((u32() / 4294967296) * n),
    /** Integer in [lo, hi]. */
    range: (lo, hi) => lo + Math.floor((u32() / 4294967296) * (hi - lo + 1)),
    pick: (xs) => xs[Math.floor((u32() / 4294967296) * xs.length)],
    chance: (p) => u32() / 4294967296 < p,
    /** A value of `bits` bits, biased towards boundary values (0, 1, -1, sign bit, …). */
    value(bits) {
      const mask = bits === 32 ? 0xffffffff : (1 << bits) - 1;
      const top = bits === 32 ? 0x80000000 : 1 << (bits - 1);
      switch (rng.int(10)) {
        case 0: return rng.pick([0, 1, 2, mask, mask - 1, top, top - 1, top + 1, 0x0f, 0x10]) & mask;
        case 1: return rng.int(16) & mask;
        case 2: return (mask - rng.int(16)) & mask;
        case 3: return ((top + rng.range(-8, 8)) & mask) >>> 0;
        default: return (u32() & mask) >>> 0;
      }
    },
  };
  return rng;
}

// ---- encoding helpers ------------------------------------------------------------------------

const R16 = ['ax', 'cx', 'dx', 'bx', 'sp', 'bp', 'si', 'di'];
const R32 = R16.map((r) => 'e' + r);
const R8 = ['al', 'cl', 'dl', 'bl', 'ah', 'ch', 'dh', 'bh'];
const CC = ['o', 'no', 'b', 'ae', 'e', 'ne', 'be', 'a', 's', 'ns', 'p', 'np', 'l', 'ge', 'le', 'g'];
const ALU = ['add', 'or', 'adc', 'sbb', 'and', 'sub', 'xor', 'cmp'];
const SHIFT = ['rol', 'ror', 'rcl', 'rcr', 'shl', 'shr', null, 'sar'];
const hex = (v, w = 0) => '0x' + (v >>> 0).toString(16).padStart(w, '0');
const le = (v, n) => Array.from({ length: n }, (_, i) => (v >>> (8 * i)) & 0xff);
const regName = (w, r) => (w === 8 ? R8 : w === 16 ? R16 : R32)[r];
/** Operand-size prefix for width w (16-bit default in real mode). */
const osz = (w) => (w === 32 ? [0x66] : []);
const ptr = (w) => (w === 8 ? 'byte' : w === 16 ? 'word' : 'dword');
/** General registers a random instruction may write (not SP). */
const WREGS = [0, 1, 2, 3, 5, 6, 7];

/**
 * An operand in ModRM's r/m: a register, or memory. Returns {pre: setup items, modrm bits (mod,
 * rm, disp bytes), prefix bytes (0x67, segment override), text}. `size` is the access size in
 * bytes (must fit before 0x10000).
 */
function rmOperand(rng, w, { allowMem = true, allowReg = true, dest = false, size = w / 8 } = {}) {
  if (allowReg && (!allowMem || rng.chance(0.55))) {
    const r = dest || w !== 8 ? rng.pick(w === 8 ? [0, 1, 2, 3, 4, 5, 6, 7] : WREGS) : rng.int(8);
    return { pre: [], mod: 3, rm: r, disp: [], prefix: [], text: regName(w, r) };
  }
  return memOperand(rng, w, size);
}

function memOperand(rng, w, size = w / 8, avoid = []) {
  const segs = [
    { p: [], t: '' },
    { p: [0x26], t: 'es:' },
    { p: [0x36], t: 'ss:' },
    { p: [0x64], t: 'fs:' },
    { p: [0x65], t: 'gs:' },
  ];
  const seg = rng.chance(0.8) ? segs[0] : rng.pick(segs.slice(1));
  const kind = rng.int(10);
  const maxOff = 0x10000 - size - 1;
  if (kind < 4) {
    // direct [disp16]
    const off = rng.chance(0.5) ? rng.range(0, 0x3ff) : rng.range(0, Math.min(maxOff, 0xfff0));
    return { pre: [], mod: 0, rm: 6, disp: le(off, 2), prefix: seg.p, text: `${ptr(w)} ${seg.t}[${hex(off)}]` };
  }
  if (kind < 8) {
    // mov base, imm16 ; [base+disp8]
    const bases = [
      { r: 3, rm: 7, n: 'bx' },
      { r: 6, rm: 4, n: 'si' },
      { r: 7, rm: 5, n: 'di' },
      { r: 5, rm: 6, n: 'bp' },
    ];
    const b = rng.pick(bases);
    const base = rng.range(0x100, 0xfe00);
    const d = rng.range(-128, 127);
    const pre = [item([0xb8 + b.r, ...le(base, 2)], `mov ${b.n}, ${hex(base)}`)];
    return { pre, mod: 1, rm: b.rm, disp: [d & 0xff], prefix: seg.p, text: `${ptr(w)} ${seg.t}[${b.n}${d < 0 ? '-' : '+'}${hex(Math.abs(d))}]` };
  }
  // 32-bit addressing: mov e<base>, imm ; [e<base> + e<index>*scale + disp8] with index set too
  const base = rng.pick([0, 1, 2, 3, 6, 7].filter((r) => !avoid.includes(r)));
  const index = rng.pick([0, 1, 2, 3, 5, 6, 7].filter((r) => r !== base && !avoid.includes(r)));
  const scale = rng.int(4);
  const idxVal = rng.range(0, 0x40);
  const d = rng.range(-128, 127);
  const baseVal = rng.range(0x200, 0xfd00 - (idxVal << scale));
  const pre = [
    item([0x66, 0xb8 + base, ...le(baseVal, 4)], `mov ${R32[base]}, ${hex(baseVal)}`),
    item([0x66, 0xb8 + index, ...le(idxVal, 4)], `mov ${R32[index]}, ${hex(idxVal)}`),
  ];
  const sib = (scale << 6) | (index << 3) | base;
  return {
    pre, mod: 1, rm: 4, disp: [sib, d & 0xff], prefix: [0x67, ...seg.p],
    text: `${ptr(w)} ${seg.t}[${R32[base]}+${R32[index]}*${1 << scale}${d < 0 ? '-' : '+'}${hex(Math.abs(d))}]`,
  };
}

/** One generated instruction: bytes, a text for listings, its stack effect. */
function item(bytes, text, stack = 0) {
  return { bytes: bytes.flat(Infinity), text, stack };
}

/** Encodes `prefixes opcode… modrm` for operand `op`, with setup items first. */
function withRm(op, w, opcode, reg, tail, text, stack = 0) {
  return [...op.pre, item([op.prefix, osz(w), opcode, (op.mod << 6) | (reg << 3) | op.rm, op.disp, tail ?? []], text, stack)];
}

// ---- the instruction classes -----------------------------------------------------------------

const width = (rng, allow8 = true) => (allow8 ? rng.pick([8, 16, 16, 32, 32]) : rng.pick([16, 32, 32]));
const imm = (rng, w) => rng.value(w);

/** Each generator returns a list of items. `ctx.depth` is the stack depth in bytes. */
const CLASSES = {
  alu(rng) {
    const w = width(rng);
    const opi = rng.int(8);
    const name = ALU[opi];
    const s = w === 8 ? 0 : 1;
    switch (rng.int(5)) {
      case 0: { // r/m, r
        const op = rmOperand(rng, w, { dest: true });
        const r = rng.int(8);
        return withRm(op, w, (opi << 3) | s, r, [], `${name} ${op.text}, ${regName(w, r)}`);
      }
      case 1: { // r, r/m
        const op = rmOperand(rng, w);
        const r = w === 8 ? rng.int(8) : rng.pick(WREGS);
        return withRm(op, w, (opi << 3) | 2 | s, r, [], `${name} ${regName(w, r)}, ${op.text}`);
      }
      case 2: { // acc, imm
        const v = imm(rng, w);
        return [item([osz(w), (opi << 3) | 4 | s, le(v, w / 8)], `${name} ${regName(w, 0)}, ${hex(v)}`)];
      }
      case 3: { // 80/81 /op imm
        const op = rmOperand(rng, w, { dest: true });
        const v = imm(rng, w);
        return withRm(op, w, 0x80 | s, opi, le(v, w / 8), `${name} ${op.text}, ${hex(v)}`);
      }
      default: { // 83 /op imm8 (sign-extended)
        const ww = w === 8 ? 16 : w;
        const op = rmOperand(rng, ww, { dest: true });
        const v = imm(rng, 8);
        return withRm(op, ww, 0x83, opi, [v], `${name} ${op.text}, ${hex(v)}`);
      }
    }
  },
  test(rng) {
    const w = width(rng);
    const s = w === 8 ? 0 : 1;
    switch (rng.int(3)) {
      case 0: {
        const op = rmOperand(rng, w);
        const r = rng.int(8);
        return withRm(op, w, 0x84 | s, r, [], `test ${op.text}, ${regName(w, r)}`);
      }
      case 1: {
        const v = imm(rng, w);
        return [item([osz(w), 0xa8 | s, le(v, w / 8)], `test ${regName(w, 0)}, ${hex(v)}`)];
      }
      default: {
        const op = rmOperand(rng, w);
        const v = imm(rng, w);
        return withRm(op, w, 0xf6 | s, 0, le(v, w / 8), `test ${op.text}, ${hex(v)}`);
      }
    }
  },
  incdec(rng) {
    const w = width(rng);
    const dec = rng.int(2);
    const name = dec ? 'dec' : 'inc';
    if (w !== 8 && rng.chance(0.4)) {
      const r = rng.pick(WREGS);
      return [item([osz(w), 0x40 + 8 * dec + r], `${name} ${regName(w, r)}`)];
    }
    const op = rmOperand(rng, w, { dest: true });
    return withRm(op, w, w === 8 ? 0xfe : 0xff, dec, [], `${name} ${op.text}`);
  },
  negnot(rng) {
    const w = width(rng);
    const n = rng.int(2);
    const op = rmOperand(rng, w, { dest: true });
    return withRm(op, w, w === 8 ? 0xf6 : 0xf7, 2 + n, [], `${n ? 'neg' : 'not'} ${op.text}`);
  },
  mul(rng) {
    const w = width(rng);
    switch (rng.int(4)) {
      case 0:
      case 1: { // mul/imul r/m (one operand)
        const i = rng.int(2);
        const op = rmOperand(rng, w);
        return withRm(op, w, w === 8 ? 0xf6 : 0xf7, 4 + i, [], `${i ? 'imul' : 'mul'} ${op.text}`);
      }
      case 2: { // imul r, r/m
        const ww = w === 8 ? 16 : w;
        const op = rmOperand(rng, ww);
        const r = rng.pick(WREGS);
        return withRm(op, ww, [0x0f, 0xaf], r, [], `imul ${regName(ww, r)}, ${op.text}`);
      }
      default: { // imul r, r/m, imm8/imm
        const ww = w === 8 ? 16 : w;
        const op = rmOperand(rng, ww);
        const r = rng.pick(WREGS);
        if (rng.chance(0.5)) {
          const v = imm(rng, 8);
          return withRm(op, ww, 0x6b, r, [v], `imul ${regName(ww, r)}, ${op.text}, ${hex(v)}`);
        }
        const v = imm(rng, ww);
        return withRm(op, ww, 0x69, r, le(v, ww / 8), `imul ${regName(ww, r)}, ${op.text}, ${hex(v)}`);
      }
    }
  },
  div(rng) {
    // Quotient always fits: the divisor is set to d, the dividend's high half to h with |h| small
    // enough (unsigned: h < d; signed: |d| >= 4, h in [-m, m-1], m = floor(|d|/2) - 1; or the
    // high half is the sign extension of the low half and |d| >= 2). The low half is whatever the
    // register holds.
    const w = width(rng);
    const signed = rng.chance(0.5);
    const mask = w === 32 ? 0xffffffff : (1 << w) - 1;
    let d;
    let h;
    let signExt = false;
    if (!signed) {
      d = rng.chance(0.3) ? rng.range(1, 16) : rng.range(1, mask);
      h = rng.chance(0.5) ? 0 : rng.range(0, Math.min(d - 1, mask));
    } else {
      const mag = rng.chance(0.3) ? rng.range(4, 40) : rng.range(4, w === 32 ? 0x7fffffff : (1 << (w - 1)) - 1);
      d = (rng.chance(0.5) ? -mag : mag);
      const m = Math.floor(mag / 2) - 1;
      if (rng.chance(0.3)) signExt = true;
      else h = rng.range(-m, m - 1);
    }
    const items = [];
    const hiReg = w === 8 ? 4 /* ah */ : 2; /* dx/edx */
    // divisor: a register (not the dividend's) or memory
    let op;
    if (rng.chance(0.6)) {
      const r = w === 8 ? rng.pick([1, 2, 3, 5, 7]) : rng.pick([1, 3, 5, 6, 7]);
      items.push(item([osz(w), w === 8 ? 0xb0 + r : 0xb8 + r, le(d, w / 8)], `mov ${regName(w, r)}, ${hex(d & mask)}`));
      op = { pre: [], mod: 3, rm: r, disp: [], prefix: [], text: regName(w, r) };
    } else {
      op = memOperand(rng, w, w / 8, [0, 2]); // the base/index registers must survive `mov dx/ah, h`
      items.push(...op.pre);
      op = { ...op, pre: [] };
      items.push(item([op.prefix, osz(w), w === 8 ? 0xc6 : 0xc7, (op.mod << 6) | op.rm, op.disp, le(d, w / 8)], `mov ${op.text}, ${hex(d & mask)}`));
    }
    if (signExt) {
      if (w === 8) items.push(item([0x98], 'cbw'));
      else items.push(item([osz(w), 0x99], w === 16 ? 'cwd' : 'cdq'));
    } else {
      items.push(item([osz(w), w === 8 ? 0xb0 + hiReg : 0xb8 + hiReg, le(h, w / 8)], `mov ${regName(w, hiReg)}, ${hex(h & mask)}`));
    }
    items.push(...withRm(op, w, w === 8 ? 0xf6 : 0xf7, signed ? 7 : 6, [], `${signed ? 'idiv' : 'div'} ${op.text}`));
    return items;
  },
  shift(rng) {
    const w = width(rng);
    let k = rng.int(8);
    if (k === 6) k = 4;
    const name = SHIFT[k];
    const s = w === 8 ? 0 : 1;
    const op = rmOperand(rng, w, { dest: true });
    switch (rng.int(3)) {
      case 0:
        return withRm(op, w, 0xd0 | s, k, [], `${name} ${op.text}, 1`);
      case 1: {
        const c = rng.chance(0.9) ? rng.range(0, 31) : rng.range(32, 255);
        return withRm(op, w, 0xc0 | s, k, [c], `${name} ${op.text}, ${c}`);
      }
      default: {
        const items = [];
        if (rng.chance(0.7)) {
          const c = rng.chance(0.9) ? rng.range(0, 31) : rng.range(32, 255);
          items.push(item([0xb1, c], `mov cl, ${c}`));
        }
        return [...items, ...withRm(op, w, 0xd2 | s, k, [], `${name} ${op.text}, cl`)];
      }
    }
  },
  shxd(rng) {
    const w = rng.pick([16, 32]);
    const right = rng.int(2);
    const op = rmOperand(rng, w, { dest: true });
    const r = rng.int(8);
    const name = right ? 'shrd' : 'shld';
    if (rng.chance(0.5)) {
      const c = rng.chance(0.9) ? rng.range(0, 31) : rng.range(32, 255);
      return withRm(op, w, [0x0f, right ? 0xac : 0xa4], r, [c], `${name} ${op.text}, ${regName(w, r)}, ${c}`);
    }
    const items = [];
    if (r !== 1 && rng.chance(0.7)) {
      const c = rng.chance(0.9) ? rng.range(0, 31) : rng.range(32, 255);
      items.push(item([0xb1, c], `mov cl, ${c}`));
    }
    return [...items, ...withRm(op, w, [0x0f, right ? 0xad : 0xa5], r, [], `${name} ${op.text}, ${regName(w, r)}, cl`)];
  },
  bt(rng) {
    const w = rng.pick([16, 32]);
    const k = rng.int(4);
    const name = ['bt', 'bts', 'btr', 'btc'][k];
    if (rng.chance(0.5)) {
      // bt r/m, imm8: memory allowed (the offset stays inside the operand)
      const op = rmOperand(rng, w, { dest: true });
      const b = rng.chance(0.85) ? rng.range(0, w - 1) : rng.range(0, 255);
      return withRm(op, w, [0x0f, 0xba], 4 + k, [b], `${name} ${op.text}, ${b}`);
    }
    // bt r, r: register destination only (a register bit offset into memory reaches anywhere)
    const dst = rng.pick(WREGS);
    const src = rng.int(8);
    const op = { pre: [], mod: 3, rm: dst, disp: [], prefix: [], text: regName(w, dst) };
    return withRm(op, w, [0x0f, [0xa3, 0xab, 0xb3, 0xbb][k]], src, [], `${name} ${regName(w, dst)}, ${regName(w, src)}`);
  },
  bsf(rng) {
    const w = rng.pick([16, 32]);
    const rev = rng.int(2);
    const items = [];
    let op = rmOperand(rng, w);
    if (rng.chance(0.25)) {
      // a zero source: ZF set, destination unchanged (AMD documents it; Intel leaves it undefined)
      if (op.mod === 3) items.push(item([osz(w), 0xb8 + op.rm, le(0, w / 8)], `mov ${regName(w, op.rm)}, 0`));
      else {
        items.push(...op.pre);
        op = { ...op, pre: [] };
        items.push(item([op.prefix, osz(w), 0xc7, (op.mod << 6) | op.rm, op.disp, le(0, w / 8)], `mov ${op.text}, 0`));
      }
    }
    const r = rng.pick(WREGS);
    return [...items, ...withRm(op, w, [0x0f, rev ? 0xbd : 0xbc], r, [], `${rev ? 'bsr' : 'bsf'} ${regName(w, r)}, ${op.text}`)];
  },
  bcd(rng) {
    switch (rng.int(4)) {
      case 0: return [item([0x2f], 'das')];
      case 1: {
        const b = rng.chance(0.6) ? 10 : rng.range(1, 255);
        return [item([0xd4, b], `aam ${b}`)];
      }
      case 2: {
        const b = rng.chance(0.6) ? 10 : rng.range(0, 255);
        return [item([0xd5, b], `aad ${b}`)];
      }
      default: return [item([0x2f], 'das')];
    }
  },
  setcc(rng) {
    const cc = rng.int(16);
    const op = rmOperand(rng, 8, { dest: true });
    return withRm(op, 16, [0x0f, 0x90 + cc], 0, [], `set${CC[cc]} ${op.text}`);
  },
  cmovcc(rng) {
    const w = rng.pick([16, 32]);
    const cc = rng.int(16);
    const op = rmOperand(rng, w);
    const r = rng.pick(WREGS);
    return withRm(op, w, [0x0f, 0x40 + cc], r, [], `cmov${CC[cc]} ${regName(w, r)}, ${op.text}`);
  },
  flagops(rng) {
    return [rng.pick([item([0xf8], 'clc'), item([0xf9], 'stc'), item([0xf5], 'cmc'), item([0xf5], 'cmc'), item([0xfc], 'cld'), item([0xfd], 'std'), item([0x9f], 'lahf'), item([0x9e], 'sahf')])];
  },
  popf(rng) {
    // push imm ; popf: loads only CF PF AF ZF SF DF OF (bit 1 always set)
    const v = (rng.u32() & 0xcd5) | 2;
    if (rng.chance(0.5)) return [item([0x68, le(v, 2)], `push ${hex(v)}`, 2), item([0x9d], 'popf', -2)];
    return [item([0x66, 0x68, le(v, 4)], `push dword ${hex(v)}`, 4), item([0x66, 0x9d], 'popfd', -4)];
  },
  pushf(rng) {
    return rng.chance(0.6) ? [item([0x9c], 'pushf', 2)] : [item([0x66, 0x9c], 'pushfd', 4)];
  },
  xchg(rng) {
    const w = width(rng);
    if (w !== 8 && rng.chance(0.3)) {
      const r = rng.pick([1, 2, 3, 5, 6, 7]);
      return [item([osz(w), 0x90 + r], `xchg ${regName(w, 0)}, ${regName(w, r)}`)];
    }
    const op = rmOperand(rng, w, { dest: true });
    const r = w === 8 ? rng.int(8) : rng.pick(WREGS);
    return withRm(op, w, w === 8 ? 0x86 : 0x87, r, [], `xchg ${op.text}, ${regName(w, r)}`);
  },
  movx(rng) {
    const w = rng.pick([16, 32]);
    const sx = rng.int(2);
    const srcw = w === 32 && rng.chance(0.5) ? 16 : 8;
    const op = rmOperand(rng, srcw);
    const r = rng.pick(WREGS);
    const opc = (sx ? 0xbe : 0xb6) + (srcw === 16 ? 1 : 0);
    return withRm(op, w, [0x0f, opc], r, [], `${sx ? 'movsx' : 'movzx'} ${regName(w, r)}, ${op.text}`);
  },
  mov(rng) {
    const w = width(rng);
    switch (rng.int(3)) {
      case 0: {
        const r = w === 8 ? rng.int(8) : rng.pick(WREGS);
        const v = imm(rng, w);
        return [item([osz(w), w === 8 ? 0xb0 + r : 0xb8 + r, le(v, w / 8)], `mov ${regName(w, r)}, ${hex(v)}`)];
      }
      case 1: {
        const op = rmOperand(rng, w, { dest: true });
        const r = rng.int(8);
        return withRm(op, w, w === 8 ? 0x88 : 0x89, r, [], `mov ${op.text}, ${regName(w, r)}`);
      }
      default: {
        const op = rmOperand(rng, w);
        const r = w === 8 ? rng.int(8) : rng.pick(WREGS);
        return withRm(op, w, w === 8 ? 0x8a : 0x8b, r, [], `mov ${regName(w, r)}, ${op.text}`);
      }
    }
  },
  lea(rng) {
    // lea computes an address without touching memory: any registers, any displacement
    const w = rng.pick([16, 32]);
    const r = rng.pick(WREGS);
    if (rng.chance(0.6)) {
      const mod = rng.int(3);
      const rm = rng.int(8);
      const disp = mod === 0 ? (rm === 6 ? le(rng.u32(), 2) : []) : mod === 1 ? [rng.int(256)] : le(rng.u32(), 2);
      return [item([osz(w), 0x8d, (mod << 6) | (r << 3) | rm, disp], `lea ${regName(w, r)}, [16-bit mod ${mod} rm ${rm}]`)];
    }
    const base = rng.pick([0, 1, 2, 3, 5, 6, 7]);
    const index = rng.pick([0, 1, 2, 3, 5, 6, 7]);
    const scale = rng.int(4);
    const d = rng.u32();
    return [item([osz(w), 0x67, 0x8d, (2 << 6) | (r << 3) | 4, (scale << 6) | (index << 3) | base, le(d, 4)], `lea ${regName(w, r)}, [${R32[base]}+${R32[index]}*${1 << scale}+${hex(d)}]`)];
  },
  push(rng) {
    const w = rng.pick([16, 16, 32]);
    const n = w / 8;
    switch (rng.int(3)) {
      case 0: {
        const r = rng.int(8);
        return [item([osz(w), 0x50 + r], `push ${regName(w, r)}`, n)];
      }
      case 1:
        if (rng.chance(0.5)) {
          const v = rng.int(256);
          return [item([osz(w), 0x6a, v], `push ${ptr(w)} ${hex(v)}`, n)];
        } else {
          const v = imm(rng, w);
          return [item([osz(w), 0x68, le(v, n)], `push ${ptr(w)} ${hex(v)}`, n)];
        }
      default: {
        const op = memOperand(rng, w);
        return withRm(op, w, 0xff, 6, [], `push ${op.text}`, n);
      }
    }
  },
  pop(rng, ctx) {
    // pops what is there, in sizes that keep the depth >= 0
    const w = ctx.depth >= 4 && rng.chance(0.35) ? 32 : 16;
    const n = w / 8;
    if (rng.chance(0.75)) {
      const r = rng.pick(WREGS);
      return [item([osz(w), 0x58 + r], `pop ${regName(w, r)}`, -n)];
    }
    const op = memOperand(rng, w);
    return withRm(op, w, 0x8f, 0, [], `pop ${op.text}`, -n);
  },
  conv(rng) {
    return [rng.pick([item([0x98], 'cbw'), item([0x99], 'cwd'), item([0x66, 0x98], 'cwde'), item([0x66, 0x99], 'cdq')])];
  },
  bswap(rng) {
    const r = rng.pick(WREGS);
    return [item([0x66, 0x0f, 0xc8 + r], `bswap ${R32[r]}`)];
  },
  xadd(rng) {
    const w = width(rng);
    const op = rmOperand(rng, w, { dest: true });
    const r = w === 8 ? rng.int(8) : rng.pick(WREGS);
    return withRm(op, w, [0x0f, w === 8 ? 0xc0 : 0xc1], r, [], `xadd ${op.text}, ${regName(w, r)}`);
  },
  cmpxchg(rng) {
    const w = width(rng);
    const op = rmOperand(rng, w, { dest: true });
    const r = w === 8 ? rng.int(8) : rng.pick(WREGS);
    return withRm(op, w, [0x0f, w === 8 ? 0xb0 : 0xb1], r, [], `cmpxchg ${op.text}, ${regName(w, r)}`);
  },
  string(rng) {
    // mov si, … ; mov di, … ; mov cx, n ; [rep] movs/cmps/stos/lods/scas — inside the segments
    // whichever way DF points (random: cld/std or what popf/earlier items left)
    const w = width(rng);
    const n = w / 8;
    const count = rng.range(0, 12);
    const lo = 0x100 + count * n + 8;
    const hi = 0xff00 - count * n - 8;
    const si = rng.range(lo, hi);
    const di = rng.range(lo, hi);
    const items = [];
    if (rng.chance(0.3)) items.push(rng.chance(0.5) ? item([0xfc], 'cld') : item([0xfd], 'std'));
    const ops = [
      { o: 0xa4, n: 'movs' }, { o: 0xa6, n: 'cmps' }, { o: 0xaa, n: 'stos' }, { o: 0xac, n: 'lods' }, { o: 0xae, n: 'scas' },
    ];
    const op = rng.pick(ops);
    items.push(item([0xbe, le(si, 2)], `mov si, ${hex(si)}`));
    items.push(item([0xbf, le(di, 2)], `mov di, ${hex(di)}`));
    const rep = rng.int(3); // 0 none, 1 rep/repe, 2 repne
    if (rep) items.push(item([0xb9, le(count, 2)], `mov cx, ${count}`));
    const repP = rep === 0 ? [] : op.o === 0xa6 || op.o === 0xae ? [rep === 1 ? 0xf3 : 0xf2] : [0xf3];
    const repT = rep === 0 ? '' : op.o === 0xa6 || op.o === 0xae ? (rep === 1 ? 'repe ' : 'repne ') : 'rep ';
    const sfx = w === 8 ? 'b' : w === 16 ? 'w' : 'd';
    items.push(item([repP, osz(w), op.o + (w === 8 ? 0 : 1)], `${repT}${op.n}${sfx}`));
    return items;
  },
};

/** How often each class is drawn (relative weights). */
export const MIX = {
  alu: 14, test: 3, incdec: 4, negnot: 3, mul: 6, div: 4, shift: 10, shxd: 4, bt: 5, bsf: 5, bcd: 3,
  setcc: 4, cmovcc: 4, jcc: 5, flagops: 4, popf: 2, pushf: 2, xchg: 3, movx: 3, mov: 6, lea: 2,
  push: 3, pop: 3, conv: 2, bswap: 1, xadd: 2, cmpxchg: 2, string: 3,
};

/** Classes a Jcc may skip over: no stack effect. */
const SKIPPABLE = Object.keys(MIX).filter((k) => !['jcc', 'push', 'pop', 'pushf', 'string', 'popf'].includes(k));

function pickClass(rng, weights) {
  const total = weights.reduce((s, [, w]) => s + w, 0);
  let x = rng.int(total);
  for (const [k, w] of weights) {
    if (x < w) return k;
    x -= w;
  }
  return weights[0][0];
}

const OUT_EVERY = 50;
const MAX_DEPTH = 0x400;

/**
 * Generates the guest for `seed`: `insns` random instructions (setup instructions that an item
 * needs — a divisor, a base register — count among them) after a fixed preamble, an
 * `out 0x80, eax` about every 50 instructions and at the end, then `hlt`.
 *
 * Returns { image: Uint8Array, listing: [{offset, bytes, text, cls}], instructions (generated, in
 * the body), classes: {name: count} }.
 */
export function generateGuest({ seed, insns = 2000, mix = MIX }) {
  const rng = makeRng(seed);
  const weights = Object.entries(mix).filter(([, w]) => w > 0);
  const skipWeights = weights.filter(([k]) => SKIPPABLE.includes(k));
  const listing = [];
  const classes = {};
  let offset = 0;
  const emit = (it, cls) => {
    listing.push({ offset, bytes: it.bytes, text: it.text, cls });
    offset += it.bytes.length;
  };
  // preamble: segments, stack, random registers and flags
  const pre = [
    item([0xb8, le(DATA_SEG, 2)], `mov ax, ${hex(DATA_SEG)}`),
    item([0x8e, 0xd8], 'mov ds, ax'),
    item([0x8e, 0xc0], 'mov es, ax'),
    item([0xb8, le(EXTRA_SEG, 2)], `mov ax, ${hex(EXTRA_SEG)}`),
    item([0x8e, 0xe0], 'mov fs, ax'),
    item([0x8e, 0xe8], 'mov gs, ax'),
    item([0xb8, le(STACK_SEG, 2)], `mov ax, ${hex(STACK_SEG)}`),
    item([0x8e, 0xd0], 'mov ss, ax'),
    item([0x66, 0xbc, le(STACK_TOP, 4)], `mov esp, ${hex(STACK_TOP)}`),
  ];
  for (const r of WREGS) {
    const v = rng.value(32);
    pre.push(item([0x66, 0xb8 + r, le(v, 4)], `mov ${R32[r]}, ${hex(v)}`));
  }
  const fl = (rng.u32() & 0xcd5) | 2;
  pre.push(item([0x68, le(fl, 2)], `push ${hex(fl)}`), item([0x9d], 'popf'));
  for (const it of pre) emit(it, 'preamble');

  let depth = 0;
  let count = 0;
  let sinceOut = 0;
  const out = () => {
    emit(item([0x66, 0xe7, FUZZ_PORT], `out ${hex(FUZZ_PORT)}, eax`), 'out');
    sinceOut = 0;
  };
  const drawItems = (w) => {
    for (;;) {
      const cls = pickClass(rng, w);
      if (cls === 'pop' && depth < 2) continue;
      if ((cls === 'push' || cls === 'pushf') && depth > MAX_DEPTH) continue;
      if (cls === 'jcc') return { cls };
      return { cls, items: CLASSES[cls](rng, { depth }) };
    }
  };
  while (count < insns) {
    const { cls, items } = drawItems(weights);
    let its = items;
    if (cls === 'jcc') {
      // jcc forward over 1–3 whole items that have no stack effect (or jmp short, sometimes)
      const skipped = [];
      const k = rng.range(1, 3);
      let len = 0;
      for (let i = 0; i < k; i++) {
        const d = drawItems(skipWeights);
        const n = d.items.reduce((s, x) => s + x.bytes.length, 0);
        if (len + n > 127) break; // rel8
        skipped.push(...d.items.map((x) => ({ ...x, cls: d.cls })));
        len += n;
      }
      const cc = rng.int(17);
      const j = cc === 16 ? item([0xeb, len], `jmp short +${len}`) : item([0x70 + cc, len], `j${CC[cc]} short +${len}`);
      its = [{ ...j, cls: 'jcc' }, ...skipped];
    } else {
      its = items.map((x) => ({ ...x, cls }));
    }
    for (const it of its) {
      emit(it, it.cls);
      depth += it.stack;
      count++;
      classes[it.cls] = (classes[it.cls] ?? 0) + 1;
      sinceOut++;
    }
    if (sinceOut >= OUT_EVERY) out();
    if (offset > CODE_LIMIT) throw new Error(`fuzz guest of seed ${seed}: ${count} instructions do not fit in 64 KiB of code; use fewer --insns`);
  }
  out();
  emit(item([0xf4], 'hlt'), 'end');
  const image = new Uint8Array(offset);
  for (const l of listing) image.set(l.bytes, l.offset);
  return { image, listing, instructions: count, classes };
}

/** The listing entry at IP (CS base 0), or undefined. */
export function listingAt(listing, ip) {
  let lo = 0;
  let hi = listing.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const l = listing[mid];
    if (ip < l.offset) hi = mid - 1;
    else if (ip >= l.offset + l.bytes.length) lo = mid + 1;
    else return l;
  }
  return undefined;
}

/** A listing as text, one instruction a line: `offset  bytes  text  (class)`. */
export function formatListing(listing) {
  return listing
    .map((l) => `${l.offset.toString(16).padStart(4, '0')}  ${Buffer.from(l.bytes).toString('hex').padEnd(24)}  ${l.text.padEnd(40)} ${l.cls}`)
    .join('\n') + '\n';
}
