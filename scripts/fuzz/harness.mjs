// The random differential harness (npm run fuzz:diff; docs/replay.md "Random differential
// testing"): per seed, generate a guest (generate.mjs), record it under KVM plainly and with
// --step, replay both traces in the interpreter and classify the outcome. Shared by
// scripts/fuzz-diff.mjs (which passes the library from dist/) and test/replay/fuzz-diff.test.ts
// (which passes it from src/).
import { mkdirSync, writeFileSync, copyFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

import { formatListing, generateGuest, listingAt } from './generate.mjs';

export const MODES = ['plain', 'step'];

/** Acceptance of the issue: plain >= 99% matched (the rest naming the undefined-flag instruction), --step 100%. */
export const THRESHOLDS = { plain: 0.99, step: 1 };

const sink = { put() {}, flush() {} };

/** `0000:01a3` (CS:IP of the history / reports) -> the generated instruction there. */
function generatedAt(listing, at) {
  const m = /^([0-9a-f]+):([0-9a-f]+)$/i.exec(at ?? '');
  if (!m) return undefined;
  const l = listingAt(listing, parseInt(m[1], 16) * 16 + parseInt(m[2], 16));
  return l && { offset: l.offset, bytes: Buffer.from(l.bytes).toString('hex'), text: l.text, cls: l.cls };
}

/**
 * Records and replays one generated guest in one mode. `lib` = {record, replayTrace,
 * formatDivergence, readTrace}. Returns {mode, status: 'match' | 'diverged' | 'record-failure',
 * executed, records, adopted, recordMs, replayMs, divergence?, named?, report?, failure?}.
 */
export async function runMode(lib, guest, mode, trace) {
  const t0 = performance.now();
  const rec = await lib.record({
    image: guest.image,
    imageName: `fuzz-${guest.seed}.bin`,
    output: trace,
    memBytes: 1 << 20,
    loadAddress: 0,
    entry: { cs: 0, ip: 0 },
    input: new Uint8Array(0),
    maxExits: 1_000_000,
    timeoutMs: 120_000,
    singleStep: mode === 'step',
    quiet: true,
    console: sink,
  });
  const recordMs = performance.now() - t0;
  const out = { mode, status: 'match', executed: 0, records: rec.records, adopted: 0, recordMs, replayMs: 0 };
  if (rec.endReason !== 'hlt') {
    // KVM could not run the guest to its HLT (an emulation failure, a fault, …): a generator bug
    // to fix (it must only draw instructions KVM's real mode runs), counted on its own.
    let rip;
    try {
      const t = await lib.readTrace(trace);
      rip = t.footer ? Number(t.footer.regs.rip) : undefined;
    } catch {
      // the message says enough
    }
    const at = rip === undefined ? undefined : listingAt(guest.listing, rip);
    out.status = 'record-failure';
    out.failure = {
      endReason: rec.endReason,
      message: rec.message,
      rip,
      at: at && { offset: at.offset, bytes: Buffer.from(at.bytes).toString('hex'), text: at.text, cls: at.cls },
    };
    return out;
  }
  const t1 = performance.now();
  const r = await lib.replayTrace(trace, { maxInstructions: 50_000_000 });
  out.replayMs = performance.now() - t1;
  out.executed = r.instructions;
  out.adopted = r.undefinedFlags?.adopted ?? 0;
  out.adoptedFirst = r.undefinedFlags?.first;
  if (r.ok) return out;
  const d = r.divergence;
  const last = d.history.at(-1);
  out.status = 'diverged';
  out.named = Boolean(d.undefinedUse);
  out.divergence = {
    kind: d.kind,
    index: d.index,
    message: d.message,
    fields: d.fields,
    registers: d.registers,
    undefinedUse: d.undefinedUse,
    lastExecuted: last && { at: last.at, text: last.text, generated: generatedAt(guest.listing, last.at) },
  };
  out.report = lib.formatDivergence(r, trace);
  return out;
}

/** The instruction that --step record `first.index` is the step of: its address and text. */
async function stepInstruction(lib, trace, first, listing) {
  try {
    const t = await lib.readTrace(trace);
    const before = first.index > 0 ? t.records[first.index - 1]?.regs : t.header.boot.regs;
    const rip = before ? Number(before.rip) : undefined;
    const l = rip === undefined ? undefined : listingAt(listing, rip);
    return { index: first.index, flags: first.flags, rip, text: l?.text, cls: l?.cls };
  } catch {
    return { index: first.index, flags: first.flags };
  }
}

/**
 * One seed: generate, then for each mode record + replay. With `keepDir`, a seed whose run did
 * not match in some mode leaves `<keepDir>/seed-<n>/`: the guest image, its listing, the traces
 * and the reports.
 */
export async function runSeed(lib, { seed, insns, modes = MODES, workDir, keepDir }) {
  const t0 = performance.now();
  const g = generateGuest({ seed, insns });
  const guest = { seed, ...g };
  const result = { seed, generated: g.instructions, bytes: g.image.length, modes: {} };
  const traces = {};
  for (const mode of modes) {
    traces[mode] = join(workDir, `fuzz-${seed}.${mode}.vmtrace`);
    result.modes[mode] = await runMode(lib, guest, mode, traces[mode]);
  }
  const plain = result.modes.plain;
  const step = result.modes.step;
  if (plain?.status === 'diverged' && step?.status === 'match') {
    // Cross-check the name with ground truth: the --step recording of the same guest has the
    // host's flags after every instruction, and its replay reports the first instruction after
    // which flags left undefined differed from the interpreter's. The plain divergence follows
    // from that difference or a later one; if the report named another instruction, say so.
    plain.stepFirstDifference = step.adoptedFirst ? await stepInstruction(lib, traces.step, step.adoptedFirst, g.listing) : null;
    const u = plain.divergence.undefinedUse;
    const f = plain.stepFirstDifference;
    plain.namedIsFirstDifference = Boolean(u && f && f.rip !== undefined && parseInt(u.setAt, 16) === f.rip);
  }
  result.ms = performance.now() - t0;
  const bad = modes.filter((m) => result.modes[m].status !== 'match');
  if (keepDir && bad.length) {
    const dir = join(keepDir, `seed-${seed}`);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, `fuzz-${seed}.bin`), g.image);
    writeFileSync(join(dir, `fuzz-${seed}.lst`), formatListing(g.listing));
    for (const m of modes) {
      try {
        copyFileSync(traces[m], join(dir, `fuzz-${seed}.${m}.vmtrace`));
      } catch {
        // no trace (record threw)
      }
      writeFileSync(join(dir, `${m}.json`), JSON.stringify(result.modes[m], null, 2) + '\n');
      if (result.modes[m].report) writeFileSync(join(dir, `${m}.report.txt`), result.modes[m].report + '\n');
    }
    result.kept = dir;
  }
  for (const m of modes) rmSync(traces[m], { force: true });
  return result;
}

/** Totals over seeds, per mode, and the acceptance verdict. */
export function summarize(results, { modes = MODES, insns, seedBase, ms }) {
  const s = { tool: 'vmtrace fuzz:diff', schema: 1, seeds: results.length, seedBase, insns, generated: 0, modes: {}, acceptance: { ok: true }, ms: Math.round(ms ?? 0), failures: [] };
  for (const r of results) s.generated += r.generated;
  for (const mode of modes) {
    const m = { run: 0, matched: 0, diverged: 0, named: 0, unnamed: 0, recordFailures: 0, executed: 0, records: 0, adoptedRecords: 0, recordMs: 0, replayMs: 0 };
    for (const r of results) {
      const x = r.modes[mode];
      if (!x) continue;
      m.run++;
      m.executed += x.executed;
      m.records += x.records;
      m.adoptedRecords += x.adopted;
      m.recordMs += x.recordMs;
      m.replayMs += x.replayMs;
      if (x.status === 'match') m.matched++;
      else if (x.status === 'record-failure') m.recordFailures++;
      else {
        m.diverged++;
        if (x.named) m.named++;
        else m.unnamed++;
      }
      if (x.status !== 'match') {
        s.failures.push({
          seed: r.seed,
          mode,
          status: x.status,
          ...(x.divergence && {
            kind: x.divergence.kind,
            index: x.divergence.index,
            message: x.divergence.message,
            undefinedUse: x.divergence.undefinedUse ?? null,
            lastExecuted: x.divergence.lastExecuted ?? null,
            ...(x.stepFirstDifference !== undefined && { stepFirstDifference: x.stepFirstDifference, namedIsFirstDifference: x.namedIsFirstDifference }),
          }),
          ...(x.failure && { endReason: x.failure.endReason, message: x.failure.message, at: x.failure.at ?? null }),
          ...(r.kept && { kept: r.kept }),
        });
      }
    }
    m.recordMs = Math.round(m.recordMs);
    m.replayMs = Math.round(m.replayMs);
    const ratio = m.run ? m.matched / m.run : 0;
    // Plain: >= 99% of the seeds match and every remaining one is a divergence naming the
    // undefined-flag instruction (a record failure or an unnamed divergence fails it).
    // Step: every seed matches.
    const ok = mode === 'plain' ? ratio >= THRESHOLDS.plain && m.unnamed === 0 && m.recordFailures === 0 : m.matched === m.run;
    m.matchedRatio = Number(ratio.toFixed(4));
    m.threshold = THRESHOLDS[mode];
    m.ok = ok;
    s.modes[mode] = m;
    if (!ok) s.acceptance.ok = false;
  }
  s.acceptance.plain = s.modes.plain ? s.modes.plain.ok : null;
  s.acceptance.step = s.modes.step ? s.modes.step.ok : null;
  return s;
}

/** The human table. */
export function formatSummary(s) {
  const lines = [];
  const pct = (a, b) => (b ? `${((100 * a) / b).toFixed(1)}%` : '—');
  lines.push(`seeds ${s.seedBase}..${s.seedBase + s.seeds - 1} (${s.seeds}) × ${s.insns} generated real-mode instructions (${s.generated} in all), raw: undefined flags not sanitised`);
  lines.push('');
  lines.push(`${'mode'.padEnd(6)} ${'matched'.padStart(12)} ${'diverged'.padStart(9)} ${'named'.padStart(6)} ${'unnamed'.padStart(8)} ${'rec-fail'.padStart(9)} ${'executed'.padStart(10)} ${'records'.padStart(9)} ${'adopted'.padStart(8)} ${'record s'.padStart(9)} ${'replay s'.padStart(9)}  verdict`);
  for (const [mode, m] of Object.entries(s.modes)) {
    const verdict = m.ok ? 'ok' : 'FAIL';
    const need = mode === 'plain' ? `(needs >= ${m.threshold * 100}%, rest named)` : '(needs 100%)';
    lines.push(
      `${mode.padEnd(6)} ${`${m.matched}/${m.run} ${pct(m.matched, m.run)}`.padStart(12)} ${String(m.diverged).padStart(9)} ${String(m.named).padStart(6)} ${String(m.unnamed).padStart(8)} ${String(m.recordFailures).padStart(9)} ${String(m.executed).padStart(10)} ${String(m.records).padStart(9)} ${String(m.adoptedRecords).padStart(8)} ${(m.recordMs / 1000).toFixed(1).padStart(9)} ${(m.replayMs / 1000).toFixed(1).padStart(9)}  ${verdict} ${need}`,
    );
  }
  lines.push('');
  lines.push('named/unnamed: divergences whose report does / does not name the instruction that left a flag undefined; executed: instructions replayed; adopted: records where flags left undefined differed and were taken from the recording');
  if (s.failures.length) {
    lines.push('');
    lines.push('failures:');
    for (const f of s.failures.slice(0, 40)) {
      if (f.status === 'record-failure') {
        lines.push(`  seed ${f.seed} ${f.mode}: record failure (${f.endReason}): ${f.message}${f.at ? ` at ${f.at.offset.toString(16)}: ${f.at.text}` : ''}`);
        continue;
      }
      const u = f.undefinedUse;
      const cause = u ? `named: ${u.flags} left undefined by ${u.setBy} at ${u.setAt}, read at ${u.usedAt}` : 'NO undefined-flag instruction named';
      const gen = f.lastExecuted?.generated;
      lines.push(`  seed ${f.seed} ${f.mode}: ${f.kind} at record #${f.index}; ${cause}${gen ? `; last executed ${gen.text} (${gen.cls})` : ''}`);
      lines.push(`      ${f.message}`);
      const sf = f.stepFirstDifference;
      if (sf) {
        const where = sf.rip !== undefined ? `${sf.rip.toString(16)}: ${sf.text ?? '?'}` : '?';
        lines.push(`      --step recording: first undefined-flag difference ${sf.flags} after ${where} (step #${sf.index})${f.namedIsFirstDifference ? ' = the named instruction' : ' — NOT the instruction named'}`);
      }
    }
    if (s.failures.length > 40) lines.push(`  … and ${s.failures.length - 40} more (--json has them all)`);
  }
  lines.push('');
  lines.push(`${s.acceptance.ok ? 'acceptance met' : 'acceptance NOT met'} in ${(s.ms / 1000).toFixed(1)} s`);
  return lines.join('\n');
}
