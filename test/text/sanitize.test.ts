// Trace strings reach the terminal with their control characters escaped (src/text/sanitize.ts):
// the function itself, and every text view of a crafted trace whose strings hold escape
// sequences. --json stays raw-valued, the guest's console stays raw.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

import { oneLine, safeLines } from '../../src/text/sanitize.js';
import { regsToBytes } from '../../src/cpu-state.js';
import { sregsToBytes } from '../../src/kvm-structs.js';
import type { EndReason } from '../../src/trace/format.js';
import { readTrace } from '../../src/trace/reader.js';
import { TraceWriter } from '../../src/trace/writer.js';
import { vmtrace } from '../support/cli.js';
import { ROOT } from '../support/record.js';

describe('oneLine / safeLines', () => {
  it('escapes C0 (newline and tab included), DEL and C1 controls as \\xNN, and bidi/line-separator controls as \\u{…}', () => {
    expect(oneLine('plain text, ünïcode µs ≠ →')).toBe('plain text, ünïcode µs ≠ →');
    expect(oneLine('\x1b[31mred\x1b[0m')).toBe('\\x1b[31mred\\x1b[0m');
    expect(oneLine('a\nb\tc\rd\x00e\x07f\x7fg\x9bh\x85')).toBe('a\\x0ab\\x09c\\x0dd\\x00e\\x07f\\x7fg\\x9bh\\x85');
    expect(oneLine('x\u202ey\u2028z\u2066')).toBe('x\\u{202e}y\\u{2028}z\\u{2066}');
    expect(oneLine('back\\slash')).toBe('back\\slash');
  });

  it('safeLines keeps the line breaks of a report and escapes the rest', () => {
    expect(safeLines('one\x1b]0;title\x07\ntwo\r\n')).toBe('one\\x1b]0;title\\x07\ntwo\\x0d\n');
  });
});

const EVIL = '\x1b[2J\x1b]0;pwned\x07\r\nFAKE\x9b31m';
const ESCAPED = '\\x1b[2J\\x1b]0;pwned\\x07\\x0d\\x0aFAKE\\x9b31m';
/** Control characters a terminal acts on (what must never be printed from a trace). */
const RAW = /[\x00-\x08\x0b-\x1f\x7f-\x9f]/;

describe('trace strings in vmtrace output', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vmtrace-sanitize-'));
  const src = join(ROOT, 'traces', 'tiny_kernel.vmtrace');
  const t = await readTrace(src);
  const h = t.header;
  /** tiny_kernel's golden with escape sequences in its strings, ending as `endReason` says. */
  const craft = async (name: string, endReason: EndReason, records = t.records) => {
    const file = join(dir, name);
    const w = new TraceWriter(file);
    w.writeHeader({
      ...h,
      guest: { ...h.guest, name: `tiny${EVIL}.bin` },
      host: { ...h.host, cpuModel: `cpu${EVIL}`, kernel: `6.18${EVIL}` },
      ...(h.cpu ? { cpu: { ...h.cpu, name: `vmtrace-1${EVIL}` } } : {}),
      ...(h.hostModel ? { hostModel: { ...h.hostModel, flags: { ...h.hostModel.flags, [`bsf.4${EVIL}`]: 'c=0 p=?' } } } : {}),
    });
    for (const rec of records) {
      w.writeRecord({
        kind: rec.kind, reason: rec.reason, timeNs: rec.timeNs, runNs: rec.runNs, regsBytes: rec.regsBytes,
        sregsBytes: rec.sregsChanged ? sregsToBytes(rec.sregs) : undefined,
        io: rec.io && { port: rec.io.port, size: rec.io.size, out: rec.io.direction === 'out', count: rec.io.count, data: rec.io.data },
        mmio: rec.mmio, detail: rec.detail,
      });
    }
    const f = t.footer!;
    await w.finish({ endReason, message: `guest halted${EVIL}`, regsBytes: regsToBytes(f.regs), sregsBytes: sregsToBytes(f.sregs), status: f.status });
    return file;
  };
  const evil = await craft('evil.vmtrace', t.footer!.endReason);

  it('inspect: the summary escapes the guest name, host facts, CPU model, host-model keys and the footer message', () => {
    const r = vmtrace(['inspect', evil]);
    expect(r.status).toBe(0);
    expect(r.stdout).not.toMatch(RAW);
    expect(r.stdout).toContain(`Guest      tiny${ESCAPED}.bin`);
    expect(r.stdout).toContain(`cpu${ESCAPED}`);
    expect(r.stdout).toContain(`6.18${ESCAPED}`);
    expect(r.stdout).toContain(`guest halted${ESCAPED}`);
    if (h.hostModel) expect(r.stdout).toContain(`bsf.4${ESCAPED}`);
  });

  it('inspect --json keeps the values raw (JSON escapes them)', () => {
    const j = JSON.parse(vmtrace(['inspect', '--json', evil]).stdout);
    expect(j.trace.guest.name).toBe(`tiny${EVIL}.bin`);
    expect(j.end.message).toBe(`guest halted${EVIL}`);
  });

  it('inspect --exits and --console: the listing has nothing raw; the console is the guest\'s bytes, raw', () => {
    expect(vmtrace(['inspect', '--exits', evil]).stdout).not.toMatch(RAW);
    expect(vmtrace(['inspect', '--console', evil]).stdout).toBe('Hello,world\n');
  });

  it('diff: the differing header and footer values are escaped', () => {
    const r = vmtrace(['diff', '--exact', src, evil]);
    expect(r.status).toBe(1);
    expect(r.stdout).not.toMatch(RAW);
    expect(r.stdout).toContain(ESCAPED);
  });

  it('replay: the verdict carries the footer message escaped', async () => {
    // a recording stopped by --max-exits: replay's verdict quotes the footer message
    const stopped = await craft('stopped.vmtrace', 'max-exits', t.records.slice(0, -1));
    const r = vmtrace(['replay', '-q', stopped]);
    expect(r.status).toBe(0);
    expect(r.stderr).not.toMatch(RAW);
    expect(r.stderr).toContain(`(max-exits: guest halted${ESCAPED})`);
    const j = JSON.parse(vmtrace(['replay', '--json', stopped]).stdout);
    expect(j.note).toContain(`guest halted${EVIL}`);
  });
});
