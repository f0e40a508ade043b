// Human and JSON forms of a replay result (docs/replay.md documents the JSON shape).
import type { FieldDiff } from './compare.js';
import type { ReplayResult } from './engine.js';
import { oneLine } from '../text/sanitize.js';

function table(rows: FieldDiff[], indent: string): string[] {
  const w = Math.max(5, ...rows.map((r) => r.field.length));
  const we = Math.max(8, ...rows.map((r) => r.expected.length));
  return [
    `${indent}${'field'.padEnd(w)}  ${'expected'.padEnd(we)}  actual`,
    ...rows.map((r) => `${indent}${r.field.padEnd(w)}  ${r.expected.padEnd(we)}  ${r.actual}`),
  ];
}

/** The one-line verdict printed last (stderr); its trace strings (the footer message, …) escaped. */
export function summaryLine(r: ReplayResult): string {
  return oneLine(verdict(r));
}

function verdict(r: ReplayResult): string {
  const what = r.singleStep
    ? `all ${r.matched} instructions matched (${r.exits} exits), registers compared after every instruction`
    : `all ${r.exits} exits matched (${r.instructions} instructions replayed)`;
  const u = r.undefinedFlags;
  const adopted = u.adopted ? `; at ${u.adopted} record(s), from #${u.first!.index} (${u.first!.flags}), flags left undefined differed and were taken from the recording (host-dependent)` : '';
  if (r.ok) return `${what}${adopted}${r.note ? `; ${r.note}` : ''}`;
  const d = r.divergence!;
  if (d.kind === 'nondeterministic') return `STOPPED at ${r.singleStep ? 'instruction' : 'exit'} #${d.index} after ${r.matched} matching records: ${d.message}`;
  return `DIVERGED at ${r.singleStep ? 'instruction' : 'exit'} #${d.index} after ${r.matched} matching records: ${d.message}`;
}

export function formatDivergence(r: ReplayResult, file: string): string {
  const d = r.divergence;
  if (!d) return '';
  const lines = [`divergence (${d.kind}) at record #${d.index}, byte offset ${d.offset} of ${file}`, `  ${d.message}`];
  if (d.fields.length) lines.push(...table(d.fields, '  '));
  if (d.registers.length) lines.push('  registers that differ:', ...table(d.registers, '    '));
  if (d.history.length) {
    lines.push(`  last ${d.history.length} instructions executed (oldest first):`);
    for (const h of d.history) lines.push(`    ${h.at}  ${Buffer.from(h.bytes).toString('hex').padEnd(20)}  ${h.text}`);
  }
  return lines.map(oneLine).join('\n');
}

/** The --json object: ReplayResult with instruction bytes as hex strings. */
export function toJson(r: ReplayResult, file: string): unknown {
  return {
    trace: file,
    ...r,
    divergence: r.divergence && {
      ...r.divergence,
      history: r.divergence.history.map((h) => ({ at: h.at, bytes: Buffer.from(h.bytes).toString('hex'), text: h.text })),
    },
  };
}
