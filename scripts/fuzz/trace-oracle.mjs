// The oracle of the trace fuzzer (npm run fuzz, docs/fuzzing.md): reads a mutated trace M of an
// original O through every reader path (verify, openTrace().records(), batches(), the
// TraceScanner) and decides whether the reader's answer is acceptable.
//
//   TraceError from every path                 -> "corrupt" (fine)
//   any other exception                        -> "crash"
//   complete (footer) and M == O byte for byte -> "identical"; complete and M != O -> "accepted"
//   truncated, M a byte prefix of O, records = O's first k -> "truncated"; otherwise "accepted"
//     (except a change inside the incomplete tail the reader reports: nothing can check it, so
//     that is "truncated" too, counted as "tail-changed"; --strict-truncation makes it "accepted")
//   the paths disagree, or verify's counts do not match the records read -> "disagree"
//   a TraceError whose message is not one line `<file>: byte offset <N>: <what>` -> "bad-error"
// (hangs are caught outside: scripts/fuzz/trace-pool.mjs runs this in a worker with a watchdog.)
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

/**
 * The reader library from `root`/dist. `verify(file)` is `verifyTrace` from dist/trace/verify.js
 * when it exists (the format-2.0 API: throws TraceError, else returns {complete, truncatedAt?,
 * records, exits}), else the same contract built from readTrace (the only place that knows).
 */
export async function loadLib(root) {
  const reader = await import(pathToFileURL(join(root, 'dist', 'trace', 'reader.js')).href);
  let verify;
  let verifyName;
  const verifyPath = join(root, 'dist', 'trace', 'verify.js');
  if (existsSync(verifyPath)) {
    const mod = await import(pathToFileURL(verifyPath).href);
    if (typeof mod.verifyTrace === 'function') {
      verify = mod.verifyTrace;
      verifyName = 'verifyTrace (dist/trace/verify.js)';
    }
  }
  if (!verify) {
    verify = async (file) => {
      const t = await reader.readTrace(file);
      let exits = 0;
      for (const r of t.records) if (r.kind === 'exit') exits++;
      const complete = t.footer !== undefined && !t.truncated;
      return { complete, ...(complete ? {} : { truncatedAt: t.truncatedAt }), records: t.records.length, exits };
    };
    verifyName = 'readTrace fallback (dist/trace/verify.js has no verifyTrace yet)';
  }
  return {
    openTrace: reader.openTrace,
    readTrace: reader.readTrace,
    TraceError: reader.TraceError,
    hasScanner: typeof reader.TraceScanner === 'function',
    verify,
    verifyName,
  };
}

// ---- record fingerprints --------------------------------------------------------------------
// Every path is reduced to one 32-bit hash per record (all fields a reader hands out), so paths
// compare with each other and with the original's records cheaply.

let H = 0;
const word = (v) => {
  H = Math.imul(H ^ (v >>> 0), 0x9e3779b1);
  H ^= H >>> 15;
};
const num = (n) => {
  if (Number.isInteger(n) && n >= 0 && n < 0x100000000) word(n);
  else if (Number.isInteger(n) && n >= 0 && n <= Number.MAX_SAFE_INTEGER) {
    word(0xfeedf00d);
    word(n % 0x100000000);
    word(Math.floor(n / 0x100000000));
  } else str(`#${String(n)}`);
};
const str = (s) => {
  word(s.length);
  for (let i = 0; i < s.length; i++) word(s.charCodeAt(i));
};
const bytes = (b, at = 0, n = b.length - at) => {
  word(n);
  const end = at + n;
  let i = at;
  for (; i + 4 <= end; i += 4) word(b[i] | (b[i + 1] << 8) | (b[i + 2] << 16) | (b[i + 3] << 24));
  for (; i < end; i++) word(b[i]);
};
const value = (v) => {
  if (v === undefined) word(0xdead0001);
  else if (v === null) word(0xdead0002);
  else if (typeof v === 'number') num(v);
  else if (typeof v === 'bigint') str(`n${v.toString(16)}`);
  else if (typeof v === 'string') str(v);
  else if (typeof v === 'boolean') word(v ? 0xdead0003 : 0xdead0004);
  else if (v instanceof Uint8Array) bytes(v);
  else if (Array.isArray(v)) {
    word(v.length);
    for (const x of v) value(x);
  } else if (typeof v === 'object') {
    const keys = Object.keys(v).sort();
    word(keys.length);
    for (const k of keys) {
      str(k);
      value(v[k]);
    }
  } else str(String(v));
};

/** Hashes of sregs objects (readers share one object between records until they change). */
const sregsHashes = new WeakMap();
function sregsHash(s) {
  if (s === null || typeof s !== 'object') return 0;
  let h = sregsHashes.get(s);
  if (h === undefined) {
    const saved = H;
    H = 0x12345678;
    value(s);
    h = H >>> 0;
    H = saved;
    sregsHashes.set(s, h);
  }
  return h;
}

function finish() {
  return H >>> 0;
}

/** A TraceRecord (records(), batches()). */
export function hashRecord(r) {
  H = 0x811c9dc5;
  str(r.kind);
  num(r.seq);
  num(r.reason);
  num(r.timeNs);
  num(r.runNs);
  num(r.offset);
  bytes(r.regsBytes);
  word(sregsHash(r.sregs));
  word(r.sregsChanged ? 1 : 0);
  if (r.io) {
    word(0x10);
    num(r.io.port);
    num(r.io.size);
    str(r.io.direction);
    num(r.io.count);
    bytes(r.io.data);
  }
  if (r.mmio) {
    word(0x20);
    num(r.mmio.address);
    num(r.mmio.length);
    word(r.mmio.write ? 1 : 0);
    bytes(r.mmio.data);
  }
  if (r.detail !== undefined) {
    word(0x30);
    value(r.detail);
  }
  return finish();
}

/** The record a TraceScanner stands on, as the TraceRecord it makes of it (a copy of its fields). */
export function hashScanner(s) {
  return hashRecord(s.record());
}

const bigintAsHex = (_k, v) => (typeof v === 'bigint' ? `0x${v.toString(16)}` : v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v);
export function footerKey(f) {
  return f === undefined ? 'none' : JSON.stringify(f, bigintAsHex);
}

// ---- the reader paths -----------------------------------------------------------------------

/** `hash` false: only read (the file is known to be corrupt: every path must say so). */
async function viaRecords(lib, file, which, hash = true) {
  const t = await lib.openTrace(file);
  try {
    const hashes = [];
    const offsets = [];
    let exits = 0;
    if (which === 'records') {
      for await (const r of t.records()) {
        if (hash) {
          hashes.push(hashRecord(r));
          offsets.push(r.offset);
        }
        if (r.kind === 'exit') exits++;
      }
    } else {
      for await (const batch of t.batches()) {
        for (const r of batch) {
          if (hash) {
            hashes.push(hashRecord(r));
            offsets.push(r.offset);
          }
          if (r.kind === 'exit') exits++;
        }
      }
    }
    return { hashes, offsets, exits, footer: t.footer, footerKey: footerKey(t.footer), truncated: t.truncated, truncatedAt: t.truncatedAt };
  } finally {
    await t.close();
  }
}

async function viaScanner(lib, file, hash = true) {
  const t = await lib.openTrace(file);
  try {
    const s = t.scan();
    const hashes = [];
    const offsets = [];
    let exits = 0;
    do {
      while (s.next()) {
        if (hash) {
          hashes.push(hashScanner(s));
          offsets.push(s.offset);
        }
        if (s.kind === 'exit') exits++;
      }
    } while (await s.read());
    return { hashes, offsets, exits, footer: t.footer, footerKey: footerKey(t.footer), truncated: t.truncated, truncatedAt: t.truncatedAt };
  } finally {
    await t.close();
  }
}

/** Runs one path; {ok, value} or {ok: false, trace: bool, error}. */
async function attempt(lib, fn) {
  try {
    return { ok: true, value: await fn() };
  } catch (e) {
    const trace = e instanceof lib.TraceError || (e instanceof Error && e.name === 'TraceError');
    return { ok: false, trace, error: e };
  }
}

const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/** What is wrong with a TraceError's message (undefined: nothing). */
export function badErrorMessage(e, file, length) {
  const msg = String(e?.message ?? '');
  if (msg.includes('\n') || msg.includes('\r')) return `message is not one line: ${JSON.stringify(msg)}`;
  if (CONTROL.test(msg)) return `message holds control characters: ${JSON.stringify(msg)}`;
  const m = /^(.*): byte offset (\d+): (.+)$/.exec(msg);
  if (!m) return `message is not '<file>: byte offset <N>: <what>': ${JSON.stringify(msg)}`;
  if (m[1] !== file) return `message names ${JSON.stringify(m[1])}, not the file ${JSON.stringify(file)}`;
  if (Number(m[2]) > length) return `byte offset ${m[2]} is past the end of the ${length}-byte file: ${JSON.stringify(msg)}`;
  return undefined;
}

const describeOutcome = (name, o) =>
  o.ok
    ? `${name}: ${describeResult(o.value)}`
    : `${name}: ${o.trace ? 'TraceError' : `${o.error?.name ?? 'throw'} (NOT a TraceError)`}: ${String(o.error?.message ?? o.error)}`;

function describeResult(v) {
  if (v && Array.isArray(v.hashes)) {
    return `${v.hashes.length} records (${v.exits} exits), ${v.footer ? `complete (footer: ${v.footer.endReason ?? '?'})` : `truncated${v.truncated ? '' : ' (?)'}`}, truncatedAt ${v.truncatedAt}`;
  }
  return JSON.stringify(v);
}

/** First byte where a and b differ (the shorter length when one is a prefix of the other). */
export function firstDifference(a, b) {
  const n = Math.min(a.length, b.length);
  let i = 0;
  for (const step = 4096; i + step <= n && a.subarray(i, i + step).equals(b.subarray(i, i + step)); i += step);
  for (; i < n; i++) if (a[i] !== b[i]) return i;
  return n;
}

/** Which part of the original `seed` byte offset `at` is in (for reports). */
export function regionOf(seed, at) {
  if (at < 8) return 'magic';
  if (at >= seed.bytes.length) return 'past the end';
  if (seed.footerOffset !== undefined && at >= seed.footerOffset) return 'footer';
  const offs = seed.recordOffsets;
  if (!offs.length || at < offs[0]) return 'header';
  let lo = 0;
  let hi = offs.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (offs[mid] <= at) lo = mid;
    else hi = mid - 1;
  }
  return `record #${lo}`;
}

/** Coarse region (for the summary): magic, header, records, footer, past the end. */
export const coarse = (region) => (region.startsWith('record') ? 'records' : region);

/**
 * Reads a seed trace through every path: it must be valid and complete. Returns the seed as the
 * mutators and the oracle use it: {path, name, bytes, format, records, exits, hashes,
 * recordOffsets, footerOffset, footerKey, status, boundaries}.
 */
export async function prepareSeed(lib, path, name = path) {
  const { readFile } = await import('node:fs/promises');
  const bytes = await readFile(path);
  const v = await lib.verify(path);
  if (!v.complete) throw new Error('the seed is not complete (no footer): use complete traces as seeds');
  const r = await viaRecords(lib, path, 'records');
  const t = await lib.openTrace(path);
  const format = t.header.format;
  await t.close();
  const footerOffset = typeof r.footer?.offset === 'number' ? r.footer.offset : undefined;
  const boundaries = [...new Set([8, ...r.offsets, ...frameBoundaries(bytes), ...(footerOffset !== undefined ? [footerOffset] : []), bytes.length])]
    .filter((x) => x <= bytes.length)
    .sort((a, b) => a - b);
  return {
    path,
    name,
    bytes,
    format: `${format.major}.${format.minor}`,
    records: r.hashes.length,
    exits: r.exits,
    hashes: r.hashes,
    recordOffsets: r.offsets,
    footerOffset,
    footerKey: r.footerKey,
    status: r.footer?.status,
    boundaries,
  };
}

/**
 * Evaluates mutated bytes `m` of seed `seed`, written to `file`. `alt` picks the third path:
 * batches() (even) or the scanner (odd). Returns {status, problem?, region?, info?, paths}
 * where status is one of corrupt, truncated, identical, crash, accepted, disagree, bad-error.
 */
export async function evaluate(lib, seed, m, file, alt = 0, detail = false, strictTruncation = false) {
  await writeFile(file, m);
  const third = alt % 2 === 0 || !lib.hasScanner ? 'batches' : 'scan';
  const verified = await attempt(lib, () => lib.verify(file));
  // When verify calls the file corrupt the other paths need not fingerprint records (faster).
  const hash = verified.ok || !verified.trace;
  const outcomes = [
    ['verify', verified],
    ['records', await attempt(lib, () => viaRecords(lib, file, 'records', hash))],
    [third, await attempt(lib, () => (third === 'scan' ? viaScanner(lib, file, hash) : viaRecords(lib, file, 'batches', hash)))],
  ];
  const identical = m.length === seed.bytes.length && m.equals(seed.bytes);
  const isPrefix = m.length < seed.bytes.length && seed.bytes.subarray(0, m.length).equals(m);
  const diffAt = firstDifference(m, seed.bytes);
  const region = regionOf(seed, diffAt);
  const ok = (status) => status === 'corrupt' || status === 'truncated' || status === 'identical';
  const out = (status, problem, extra = {}) => ({
    status,
    problem,
    region,
    diffAt,
    identical,
    isPrefix,
    ...(detail || !ok(status) ? { paths: outcomes.map(([name, o]) => describeOutcome(name, o)) } : {}),
    ...extra,
  });

  // (b) anything but a TraceError is a crash
  for (const [name, o] of outcomes) {
    if (!o.ok && !o.trace) {
      return out('crash', `${name} threw ${o.error?.name ?? typeof o.error}: ${o.error?.message ?? String(o.error)}`, { stack: o.error?.stack });
    }
  }
  // every TraceError is worded as documented
  for (const [name, o] of outcomes) {
    if (!o.ok) {
      const bad = badErrorMessage(o.error, file, m.length);
      if (bad) return out('bad-error', `${name}: ${bad}`);
    }
  }
  const failed = outcomes.filter(([, o]) => !o.ok).map(([n]) => n);
  if (failed.length && failed.length !== outcomes.length) {
    return out('disagree', `${failed.join(', ')} reported corruption, ${outcomes.filter(([, o]) => o.ok).map(([n]) => n).join(', ')} accepted the file`);
  }
  if (failed.length) {
    const [, rec] = outcomes[1];
    const [, other] = outcomes[2];
    if (rec.error.message !== other.error.message) {
      return out('disagree', `records() and ${third} report different errors: ${JSON.stringify(rec.error.message)} vs ${JSON.stringify(other.error.message)}`);
    }
    if (identical) return out('disagree', 'the unmodified original was reported as corrupt');
    // a clean cut past the header should read as truncated (docs: readable up to its last record)
    const info = isPrefix && seed.recordOffsets.length && m.length > seed.recordOffsets[0] ? 'cut-rejected' : undefined;
    return out('corrupt', undefined, { info, error: rec.error.message });
  }

  // (d)/(e) accepted: the paths must agree with each other …
  const v = outcomes[0][1].value;
  const r = outcomes[1][1].value;
  const s = outcomes[2][1].value;
  if (!v || typeof v.complete !== 'boolean' || typeof v.records !== 'number' || typeof v.exits !== 'number') {
    return out('disagree', `verify returned ${JSON.stringify(v)}, not {complete, truncatedAt?, records, exits}`);
  }
  if (r.hashes.length !== s.hashes.length || r.hashes.some((h, i) => h !== s.hashes[i])) {
    const i = r.hashes.findIndex((h, k) => h !== s.hashes[k]);
    return out('disagree', `records() and ${third} hand out different records (${r.hashes.length} vs ${s.hashes.length}, first difference at #${i < 0 ? Math.min(r.hashes.length, s.hashes.length) : i})`);
  }
  if (r.footerKey !== s.footerKey || r.truncated !== s.truncated || r.truncatedAt !== s.truncatedAt) {
    return out('disagree', `records() and ${third} see different endings: ${r.footerKey.slice(0, 80)} truncated=${r.truncated}@${r.truncatedAt} vs ${s.footerKey.slice(0, 80)} truncated=${s.truncated}@${s.truncatedAt}`);
  }
  if (r.footer !== undefined && r.truncated) return out('disagree', 'openTrace reports a footer and truncated at once');
  const complete = r.footer !== undefined && !r.truncated;
  if (v.complete !== complete || v.records !== r.hashes.length || v.exits !== r.exits) {
    return out('disagree', `verify says ${JSON.stringify(v)}, the records path read ${r.hashes.length} records (${r.exits} exits), ${complete ? 'complete' : 'truncated'}`);
  }
  if (!complete && v.truncatedAt !== undefined && v.truncatedAt !== r.truncatedAt) {
    return out('disagree', `verify says truncatedAt ${v.truncatedAt}, openTrace says ${r.truncatedAt}`);
  }
  if (r.truncatedAt !== undefined && (typeof r.truncatedAt !== 'number' || r.truncatedAt < 0 || r.truncatedAt > m.length)) {
    return out('disagree', `truncatedAt ${r.truncatedAt} is not an offset inside the ${m.length}-byte file`);
  }
  // … and with the original.
  if (complete) {
    if (!identical) {
      return out('accepted', `accepted as a complete trace, but it differs from the original from byte ${diffAt} (${region}) on (${m.length} vs ${seed.bytes.length} bytes)`);
    }
    if (r.footerKey !== seed.footerKey || r.hashes.length !== seed.hashes.length || r.hashes.some((h, i) => h !== seed.hashes[i])) {
      return out('disagree', 'the unmodified original reads differently from its first reading');
    }
    return out('identical');
  }
  const k = r.hashes.length;
  if (k > seed.hashes.length || r.hashes.some((h, i) => h !== seed.hashes[i])) {
    const i = r.hashes.findIndex((h, j) => h !== seed.hashes[j]);
    return out('accepted', `accepted as truncated, but its ${k} records are not the original's first ${k} (first difference at #${i < 0 ? seed.hashes.length : i})`);
  }
  if (isPrefix) return out('truncated');
  // Not a byte prefix. The reader vouches for the bytes before the incomplete tail it reports
  // (truncatedAt; all of them without one): those must be the original's. The tail itself (an
  // incomplete frame/value) has no checksum yet, so a change inside it cannot be told from a cut.
  const vouched = r.truncatedAt ?? m.length;
  if (diffAt < vouched || vouched >= seed.bytes.length) {
    return out('accepted', `accepted as truncated (${k} records, incomplete tail at ${r.truncatedAt}), but it is not a clean cut of the original: it differs from byte ${diffAt} (${region}) on, before the tail (${m.length} vs ${seed.bytes.length} bytes)`);
  }
  return out(strictTruncation ? 'accepted' : 'truncated', strictTruncation ? `accepted as truncated, but the incomplete tail from ${r.truncatedAt} on is not the original's bytes (first difference at ${diffAt})` : undefined, { info: 'tail-changed' });
}

/**
 * Value boundaries of a format-2 file (frame heads: docs/trace-format.md, "Frames"), for the
 * mutators to aim at. Tolerant: whatever does not look like a frame ends the walk.
 */
export function frameBoundaries(b) {
  const out = [];
  let p = 8;
  while (p + 32 <= b.length && b[p] === 0x96 && b[p + 1] === 0xa1 && b[p + 27] === 0xc6) {
    out.push(p, p + 3, p + 12, p + 17, p + 22, p + 27, p + 32);
    p += 32 + b.readUInt32BE(p + 28);
  }
  if (out.length) out.push(p);
  return out;
}
