// Mutators of the trace fuzzer (npm run fuzz, docs/fuzzing.md). Pure functions of (run seed,
// case index, seed traces): every case is reproducible with `--replay SEED:INDEX` given the
// same seed traces. Shared by the reader fuzzer (scripts/fuzz/trace-worker.mjs) and the CLI
// fuzzer (scripts/fuzz/trace-cli.mjs).

/**
 * sfc32 seeded through splitmix32 from (run seed, case index). `int(n)` is uniform in [0, n).
 */
export function caseRng(seed, index) {
  let x = (seed >>> 0) ^ Math.imul(index >>> 0, 0x9e3779b1) ^ Math.imul(Math.floor(index / 0x100000000) >>> 0, 0x85ebca77);
  const split = () => {
    x = (x + 0x9e3779b9) | 0;
    let z = x;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  };
  let a = split();
  let b = split();
  let c = split();
  let d = split();
  const u32 = () => {
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return t >>> 0;
  };
  for (let i = 0; i < 12; i++) u32();
  const int = (n) => (n <= 0 ? 0 : Math.floor((u32() / 0x100000000) * n));
  return {
    u32,
    int,
    /** Uniform in [lo, hi] (inclusive). */
    range: (lo, hi) => lo + int(hi - lo + 1),
    chance: (p) => u32() / 0x100000000 < p,
    pick: (list) => list[int(list.length)],
    bytes(n) {
      const out = Buffer.alloc(n);
      for (let i = 0; i < n; i++) out[i] = u32() & 0xff;
      return out;
    },
  };
}

/** A fresh random 32-bit run seed (printed, so a run can be repeated). */
export function randomSeed() {
  return (Math.floor(Math.random() * 0x100000000) ^ (Date.now() & 0xffffffff)) >>> 0;
}

export const OPS = [
  'bitflip',
  'setbyte',
  'insert',
  'delete',
  'truncate',
  'dup',
  'remove',
  'swap',
  'overwrite',
  'splice',
  'append',
];

const hex = (n) => `0x${n.toString(16).padStart(2, '0')}`;
const sample = (b) => (b.length <= 8 ? b.toString('hex') : `${b.subarray(0, 8).toString('hex')}…`);

/**
 * An offset into `len` bytes: usually uniform, sometimes a value boundary of the seed (a record,
 * the header, the footer) or next to one, where a format has its framing.
 */
function offsetIn(rng, len, seed, allowEnd = false) {
  const n = allowEnd ? len + 1 : len;
  if (n <= 0) return 0;
  if (seed.boundaries.length && rng.chance(0.35)) {
    const b = rng.pick(seed.boundaries) + (rng.chance(0.5) ? 0 : rng.range(-4, 4));
    return Math.min(Math.max(b, 0), n - 1);
  }
  return rng.int(n);
}

/** A length for a range at `at` of a `len`-byte buffer: mostly short, sometimes long. */
function lengthAt(rng, len, at) {
  const room = len - at;
  if (room <= 0) return 0;
  const r = rng.u32() % 10;
  const max = r < 5 ? 16 : r < 8 ? 512 : Math.max(1, Math.floor(len / 2));
  return rng.range(1, Math.min(max, room));
}

/** A range [at, at+n) of `b`: either arbitrary or whole values (between two boundaries). */
function rangeIn(rng, b, seed) {
  const inBounds = seed.boundaries.filter((x) => x < b.length);
  if (inBounds.length >= 2 && rng.chance(0.35)) {
    const i = rng.int(inBounds.length - 1);
    const j = Math.min(inBounds.length - 1, i + rng.range(1, 4));
    const at = inBounds[i];
    const end = j > i ? inBounds[j] : b.length;
    if (end > at) return { at, n: end - at };
  }
  const at = b.length ? rng.int(b.length) : 0;
  return { at, n: lengthAt(rng, b.length, at) };
}

/** Applies one random mutation to `b` (a Buffer); returns {bytes, desc}. */
function mutateOnce(rng, b, seed, seeds, op) {
  const L = b.length;
  switch (op) {
    case 'bitflip': {
      if (!L) return { bytes: b, desc: 'bitflip (empty file: no-op)' };
      const at = offsetIn(rng, L, seed);
      const bit = rng.int(8);
      const out = Buffer.from(b);
      out[at] ^= 1 << bit;
      return { bytes: out, desc: `bitflip @${at} bit ${bit} (${hex(b[at])}->${hex(out[at])})` };
    }
    case 'setbyte': {
      if (!L) return { bytes: b, desc: 'setbyte (empty file: no-op)' };
      const at = offsetIn(rng, L, seed);
      const r = rng.int(3);
      const v = r === 0 ? 0x00 : r === 1 ? 0xff : rng.int(256);
      const out = Buffer.from(b);
      out[at] = v;
      return { bytes: out, desc: `setbyte @${at} ${hex(b[at])}->${hex(v)}` };
    }
    case 'insert': {
      const at = offsetIn(rng, L, seed, true);
      const n = rng.chance(0.8) ? rng.range(1, 8) : rng.range(9, 64);
      const r = rng.int(4);
      const ins = r === 0 ? Buffer.alloc(n, 0) : r === 1 ? Buffer.alloc(n, 0xff) : rng.bytes(n);
      return { bytes: Buffer.concat([b.subarray(0, at), ins, b.subarray(at)]), desc: `insert @${at} ${n} bytes ${sample(ins)}` };
    }
    case 'delete': {
      if (!L) return { bytes: b, desc: 'delete (empty file: no-op)' };
      const at = offsetIn(rng, L, seed);
      const n = Math.min(L - at, rng.chance(0.8) ? rng.range(1, 8) : rng.range(9, 64));
      return { bytes: Buffer.concat([b.subarray(0, at), b.subarray(at + n)]), desc: `delete [${at},+${n})` };
    }
    case 'truncate': {
      const len = offsetIn(rng, L, seed);
      return { bytes: b.subarray(0, len), desc: `truncate to ${len} bytes (of ${L})` };
    }
    case 'dup': {
      const { at, n } = rangeIn(rng, b, seed);
      const piece = b.subarray(at, at + n);
      const to = rng.chance(0.7) ? at + n : offsetIn(rng, L, seed, true);
      return { bytes: Buffer.concat([b.subarray(0, to), piece, b.subarray(to)]), desc: `dup [${at},+${n}) -> insert @${to}` };
    }
    case 'remove': {
      const { at, n } = rangeIn(rng, b, seed);
      return { bytes: Buffer.concat([b.subarray(0, at), b.subarray(at + n)]), desc: `remove [${at},+${n})` };
    }
    case 'swap': {
      const r1 = rangeIn(rng, b, seed);
      let r2 = rangeIn(rng, b, seed);
      if (rng.chance(0.5)) r2 = { at: r2.at, n: Math.min(r1.n, L - r2.at) };
      let [x, y] = r1.at <= r2.at ? [r1, r2] : [r2, r1];
      if (x.at + x.n > y.at) {
        // overlapping: shorten the first to end where the second starts
        x = { at: x.at, n: y.at - x.at };
      }
      if (x.n <= 0 || y.n <= 0) return { bytes: b, desc: `swap (degenerate ranges: no-op)` };
      const bytes = Buffer.concat([
        b.subarray(0, x.at),
        b.subarray(y.at, y.at + y.n),
        b.subarray(x.at + x.n, y.at),
        b.subarray(x.at, x.at + x.n),
        b.subarray(y.at + y.n),
      ]);
      return { bytes, desc: `swap [${x.at},+${x.n}) <-> [${y.at},+${y.n})` };
    }
    case 'overwrite': {
      const { at, n } = rangeIn(rng, b, seed);
      if (!n) return { bytes: b, desc: 'overwrite (empty range: no-op)' };
      const to = rng.int(L - n + 1);
      const out = Buffer.from(b);
      b.copy(out, to, at, at + n);
      return { bytes: out, desc: `overwrite @${to} with a copy of [${at},+${n})` };
    }
    case 'splice': {
      const otherNo = rng.int(seeds.length);
      const other = seeds[otherNo];
      const { at, n } = rangeIn(rng, other.bytes, other);
      const piece = other.bytes.subarray(at, at + n);
      const to = offsetIn(rng, L, seed, true);
      if (rng.chance(0.5)) {
        return { bytes: Buffer.concat([b.subarray(0, to), piece, b.subarray(to)]), desc: `splice seed #${otherNo} [${at},+${n}) -> insert @${to}` };
      }
      const out = Buffer.from(b);
      piece.copy(out, to, 0, Math.min(n, L - to));
      const grown = to + n > L ? Buffer.concat([out, piece.subarray(L - to)]) : out;
      return { bytes: grown, desc: `splice seed #${otherNo} [${at},+${n}) -> overwrite @${to}` };
    }
    case 'append': {
      if (L && rng.chance(0.4)) {
        const { at, n } = rangeIn(rng, b, seed);
        return { bytes: Buffer.concat([b, b.subarray(at, at + n)]), desc: `append a copy of [${at},+${n})` };
      }
      const n = rng.chance(0.8) ? rng.range(1, 16) : rng.range(17, 256);
      const g = rng.chance(0.2) ? Buffer.alloc(n, 0) : rng.bytes(n);
      return { bytes: Buffer.concat([b, g]), desc: `append ${n} bytes ${sample(g)}` };
    }
    default:
      throw new Error(`unknown mutator ${op}`);
  }
}

/**
 * Case `index` of run `runSeed`: a seed trace (uniform) and 1 mutation (sometimes 2-4 stacked).
 * `seeds`: [{bytes: Buffer, boundaries: number[]}]. Returns {seedNo, ops, desc, bytes}.
 * `ops` restricts the mutators (names of OPS).
 */
export function makeCase(seeds, runSeed, index, ops = OPS) {
  const rng = caseRng(runSeed, index);
  const seedNo = rng.int(seeds.length);
  const seed = seeds[seedNo];
  let bytes = seed.bytes;
  const count = rng.chance(0.85) ? 1 : rng.range(2, 4);
  const used = [];
  const descs = [];
  for (let i = 0; i < count; i++) {
    const op = rng.pick(ops);
    const m = mutateOnce(rng, bytes, seed, seeds, op);
    bytes = m.bytes;
    used.push(op);
    descs.push(m.desc);
  }
  return { seedNo, ops: used, desc: descs.join('; '), bytes };
}

/** Case `cut:SEED:LEN` of the every-offset sweep: the seed cut to its first LEN bytes. */
export function makeCut(seeds, seedNo, len) {
  const seed = seeds[seedNo];
  return { seedNo, ops: ['truncate'], desc: `truncate to ${len} bytes (of ${seed.bytes.length}; sweep)`, bytes: seed.bytes.subarray(0, len) };
}

/** The case an id names: a number (random case) or 'cut:SEEDNO:LEN'. */
export function caseFor(seeds, runSeed, id, ops) {
  if (typeof id === 'string') {
    const m = /^cut:(\d+):(\d+)$/.exec(id);
    if (!m) throw new Error(`bad case id ${id}`);
    return makeCut(seeds, Number(m[1]), Number(m[2]));
  }
  return makeCase(seeds, runSeed, id, ops);
}
