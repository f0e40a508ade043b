// --html: a self-contained report, rendered in a real headless Chromium. The page's inline
// script marks <body data-ok="1"> and adds #render-ok once everything is drawn; an error marks
// data-error. The test skips (visibly) only when no Chromium binary exists.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { collectDisassembly } from '../../src/inspect/disasm-exits.js';
import { HTML_DETAIL_RECORDS, HtmlReportSink, type HtmlModel } from '../../src/inspect/html.js';
import { scanTrace } from '../../src/inspect/summary.js';
import { readTrace } from '../../src/trace/reader.js';
import { rewriteTrace } from '../support/rewrite.js';
import { ROOT, synth, tempDir } from './helpers.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

function findChromium(): string | undefined {
  for (const bin of ['chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable']) {
    const r = spawnSync('sh', ['-c', `command -v ${bin}`], { encoding: 'utf8' });
    if (r.status === 0 && r.stdout.trim()) return r.stdout.trim();
  }
  return undefined;
}
const CHROMIUM = findChromium();
const SKIP_REASON = 'no chromium binary (install: apt-get install -y chromium)';
if (!CHROMIUM) console.warn(`html.test.ts: SKIPPING the headless-Chromium checks: ${SKIP_REASON}`);

function chromium(args: string[]): { stdout: string; stderr: string; status: number | null } {
  const profile = tempDir('vmtrace-chromium-');
  try {
    const r = spawnSync(
      CHROMIUM!,
      [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        `--user-data-dir=${profile.dir}`,
        '--virtual-time-budget=5000',
        ...args,
      ],
      { encoding: 'utf8', timeout: 90_000, maxBuffer: 64 << 20 },
    );
    return { stdout: r.stdout, stderr: r.stderr, status: r.status };
  } finally {
    profile.cleanup();
  }
}

async function report(name: string, opts: Parameters<typeof synth>[1]): Promise<string> {
  const file = await synth(tmp.path(`${name}.vmtrace`), opts);
  const out = tmp.path(`${name}.html`);
  await scanTrace(file, [new HtmlReportSink(out, file)]);
  return out;
}

/** A report of a golden (or a copy of one), with the exit table's instruction columns when `disasm`. */
async function goldenReport(name: string, file: string, disasm: boolean): Promise<{ html: string; model: HtmlModel }> {
  const out = tmp.path(`${name}.html`);
  const sink = new HtmlReportSink(out, file, { disasm: disasm ? await collectDisassembly(file, HTML_DETAIL_RECORDS) : undefined });
  await scanTrace(file, [sink]);
  return { html: out, model: sink.model! };
}
const TINY = join(ROOT, 'traces', 'tiny_kernel.vmtrace');

describe('HTML report', () => {
  it('is one self-contained file: no external resources', async () => {
    const html = readFileSync(await report('self', { exits: 300 }), 'utf8');
    expect(html.startsWith('<!doctype html>')).toBe(true);
    expect(html).not.toMatch(/<link\b|<img\b|<iframe\b|@import|url\(|\bsrc=/i);
    expect(html).not.toMatch(/https?:\/\//);
    expect(html).toContain('<script type="application/json" id="vmtrace-data">');
    // The embedded data cannot close its script element early.
    const data = html.slice(html.indexOf('id="vmtrace-data">'), html.indexOf('</script>'));
    expect(data).not.toContain('</');
  });

  it.skipIf(!CHROMIUM)(
    `renders in headless Chromium without script errors and shows the data${CHROMIUM ? '' : ` — SKIPPED: ${SKIP_REASON}`}`,
    async () => {
      const file = await report('render', { exits: 3000 });
      const r = chromium(['--dump-dom', `file://${file}`]);
      expect(r.status, r.stderr).toBe(0);
      const dom = r.stdout;
      expect(dom).toMatch(/<body[^>]*data-ok="1"/);
      expect(dom).not.toMatch(/<body[^>]*data-error/);
      expect(dom).not.toMatch(/<p class="error">Report error/);
      expect(dom).toContain('id="render-ok"');
      expect(dom).toContain('rendered 3001 records');
      // Summary cards, status badge, bar charts, statistics, console and exit table were built by the script.
      expect(dom).toMatch(/id="status-badge"[^>]*>complete · hlt</);
      expect(dom).toContain('3,001');
      expect(dom).toMatch(/data-key="0xf1:out"/);
      expect(dom).toMatch(/data-key="0x100000:write"/);
      expect(dom).toMatch(/data-key="HLT"/);
      // The console text, as the guest wrote it (OUTs to 0xf1), HTML-escaped in <pre id="console">.
      const { records } = await readTrace(file.replace(/\.html$/, '.vmtrace'));
      const text = Buffer.concat(records.filter((x) => x.io?.port === 0xf1 && x.io.direction === 'out').map((x) => x.io!.data)).toString('latin1');
      const escaped = text.slice(0, 80).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
      expect(dom).toContain(`<pre id="console" class="console">${escaped}`);
      expect((dom.match(/<tr>/g) ?? []).length).toBeGreaterThan(500); // 500 exit rows + statistics rows
      expect(dom).toContain('the first 500 of 3,001');
    },
    120_000,
  );

  it.skipIf(!CHROMIUM)(
    `renders a truncated trace with a visible TRUNCATED badge, and takes a screenshot${CHROMIUM ? '' : ` — SKIPPED: ${SKIP_REASON}`}`,
    async () => {
      const file = await report('trunc', { exits: 50, truncate: true });
      const dom = chromium(['--dump-dom', `file://${file}`]).stdout;
      expect(dom).toMatch(/<body[^>]*data-ok="1"/);
      expect(dom).toMatch(/id="status-badge"[^>]*>TRUNCATED</);
      const png = tmp.path('trunc.png');
      const shot = chromium(['--window-size=1280,1600', `--screenshot=${png}`, `file://${file}`]);
      expect(shot.status, shot.stderr).toBe(0);
      const bytes = readFileSync(png);
      expect(bytes.subarray(1, 4).toString('latin1')).toBe('PNG');
      expect(bytes.length).toBeGreaterThan(20_000); // a drawn page, not a blank one
    },
    120_000,
  );
  it('keeps the changed registers per detail row, and with disassembly the executed instruction', async () => {
    const { model } = await goldenReport('tiny-disasm', TINY, true);
    expect(model.disasm).toEqual({ shown: true, stop: null });
    expect(model.detail).toHaveLength(13);
    expect(model.detail[0]!.slice(9)).toEqual(['rax 0x0→0x48', ['0000:0002', 'e6f1', 'out 0xf1, al']]);
    expect(model.detail[3]![9]).toBe('');
    expect(model.detail[12]!.slice(9)).toEqual(['', ['0000:0030', 'f4', 'hlt']]);
    const plain = (await goldenReport('tiny-plain', TINY, false)).model;
    expect(plain.disasm).toEqual({ shown: false, stop: null });
    expect(plain.detail.map((d) => d[9])).toEqual(model.detail.map((d) => d[9]));
    expect(plain.detail.every((d) => d[10] === null)).toBe(true);
  });

  it.skipIf(!CHROMIUM)(
    `shows the instruction and changed-register columns in the exit table${CHROMIUM ? '' : ` — SKIPPED: ${SKIP_REASON}`}`,
    async () => {
      const dom = chromium(['--dump-dom', `file://${(await goldenReport('tiny-dom', TINY, true)).html}`]).stdout;
      expect(dom).toMatch(/<body[^>]*data-ok="1"/);
      expect(dom).toMatch(/<th>rip<\/th><th>insn at<\/th><th>bytes<\/th><th>instruction<\/th><th>changed<\/th>/);
      const rows = [...dom.matchAll(/<tr><td class="n">(\d+)<\/td>.*?<\/tr>/g)].map((m) => m[0]);
      expect(rows).toHaveLength(13);
      expect(rows[0]).toMatch(/<td class="m">0x4<\/td><td class="m">0000:0002<\/td><td class="m">e6f1<\/td><td class="m">out 0xf1, al<\/td><td class="m">rax 0x0→0x48<\/td><\/tr>$/);
      expect(rows[12]).toMatch(/<td class="m">0000:0030<\/td><td class="m">f4<\/td><td class="m">hlt<\/td><td class="m"><\/td><\/tr>$/);

      const plain = chromium(['--dump-dom', `file://${(await goldenReport('tiny-dom-plain', TINY, false)).html}`]).stdout;
      expect(plain).toMatch(/<th>rip<\/th><th>changed<\/th>/);
      expect(plain).not.toContain('insn at');
      expect(plain).toMatch(/<td class="m">0x4<\/td><td class="m">rax 0x0→0x48<\/td><\/tr>/);

      // past a divergence: the rows stay, without an instruction, and the table says why
      const bad = tmp.path('tiny-diverges.vmtrace');
      await rewriteTrace(TINY, bad, (rec, m) => {
        if (rec.seq === 4) m.ioData![0] = 0x21;
      });
      const { html, model } = await goldenReport('tiny-diverges', bad, true);
      expect(model.disasm.stop).toMatchObject({ index: 4 });
      const div = chromium(['--dump-dom', `file://${html}`]).stdout;
      expect(div).toMatch(/<body[^>]*data-ok="1"/);
      expect(div).toMatch(/id="exits-info">13 records · no disassembly from record #4 on: replay diverged \(payload\)/);
      const divRows = [...div.matchAll(/<tr><td class="n">(\d+)<\/td>.*?<\/tr>/g)].map((m) => m[0]);
      expect(divRows[3]).toContain('<td class="m">out 0xf1, al</td>');
      expect(divRows[4]).toMatch(/<td class="m"><\/td><td class="m"><\/td><td class="m"><\/td><td class="m">rax 0x6c→0x6f<\/td><\/tr>$/);
    },
    120_000,
  );
});
